//! Parameters by name. The optimizer state, checkpoints and parity tests key tensors by their
//! module path (`blocks.0.attention.query.weight`), which, unlike burn's random `ParamId`s,
//! is the same in every run and every process.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::error::{ModelError, Result};

/// Path bookkeeping shared by the visitor and the mapper.
#[derive(Default)]
struct Path(Vec<String>);

impl Path {
    fn enter(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    fn exit(&mut self) {
        self.0.pop();
    }
    fn joined(&self) -> String {
        self.0.join(".")
    }
}

/// Calls `f(path, tensor)` for every float parameter of `module`, in a fixed order.
pub fn for_each_param<M: Module>(module: &M, mut f: impl FnMut(&str, TensorRef<'_>)) {
    struct Visitor<'a, F> {
        path: Path,
        f: &'a mut F,
    }
    impl<F: FnMut(&str, TensorRef<'_>)> ModuleVisitor for Visitor<'_, F> {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let value = param.val();
            (self.f)(&self.path.joined(), TensorRef::new(&value));
        }
    }
    let mut visitor = Visitor {
        path: Path::default(),
        f: &mut f,
    };
    module.visit(&mut visitor);
}

/// A parameter (or gradient) seen through its rank-erased flat view.
pub struct TensorRef<'a> {
    flat: Tensor<1>,
    shape: Vec<usize>,
    _borrow: std::marker::PhantomData<&'a ()>,
}

impl TensorRef<'_> {
    fn new<const D: usize>(tensor: &Tensor<D>) -> Self {
        let shape = tensor.dims().to_vec();
        let count: usize = shape.iter().product();
        Self {
            flat: tensor.clone().reshape([count]),
            shape,
            _borrow: std::marker::PhantomData,
        }
    }

    /// The tensor flattened to one dimension (a cheap view on the device).
    pub fn flat(&self) -> Tensor<1> {
        self.flat.clone()
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, copied to the host.
    pub fn to_data(&self) -> TensorData {
        self.flat.to_data().convert::<f32>()
    }
}

/// Every float parameter's value by path, on the host (f32).
pub fn named_values<M: Module>(module: &M) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut out = BTreeMap::new();
    for_each_param(module, |path, tensor| {
        let values = tensor.to_data().try_to_vec::<f32>().unwrap_or_default();
        out.insert(path.to_string(), (tensor.shape().to_vec(), values));
    });
    out
}

/// Every parameter's gradient by path, flattened, on the device and outside the graph;
/// parameters without a gradient (frozen, or unused by the loss) are absent.
pub fn gradients_by_path<M: Module>(
    module: &M,
    gradients: &burn::tensor::Gradients,
) -> BTreeMap<String, Tensor<1>> {
    struct Visitor<'a> {
        path: Path,
        gradients: &'a burn::tensor::Gradients,
        out: BTreeMap<String, Tensor<1>>,
    }
    impl ModuleVisitor for Visitor<'_> {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.exit();
        }
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = param.val().grad(self.gradients) {
                let count: usize = grad.dims().iter().product();
                self.out.insert(self.path.joined(), grad.reshape([count]));
            }
        }
    }
    let mut visitor = Visitor {
        path: Path::default(),
        gradients,
        out: BTreeMap::new(),
    };
    module.visit(&mut visitor);
    visitor.out
}

/// [`gradients_by_path`] copied to the host (f32), for tests and diagnostics.
pub fn named_gradients<M: Module>(
    module: &M,
    gradients: &burn::tensor::Gradients,
) -> BTreeMap<String, Vec<f32>> {
    gradients_by_path(module, gradients)
        .into_iter()
        .map(|(path, grad)| {
            let values = grad
                .to_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .unwrap_or_default();
            (path, values)
        })
        .collect()
}

/// Replaces every float parameter by `update(path, shape, flat value) → new flat value`; parameters
/// keep their ids and their require-grad setting. An error from `update` stops at the first
/// failing path (the module is returned unchanged only in the sense that the error is reported;
/// callers treat it as fatal).
pub fn map_params<M: Module>(
    module: M,
    mut update: impl FnMut(&str, &[usize], Tensor<1>) -> Result<Option<Tensor<1>>>,
) -> Result<M> {
    struct Mapper<'a, F> {
        path: Path,
        update: &'a mut F,
        error: Option<ModelError>,
    }
    impl<F: FnMut(&str, &[usize], Tensor<1>) -> Result<Option<Tensor<1>>>> ModuleMapper
        for Mapper<'_, F>
    {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.path.enter(name);
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.path.exit();
        }
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if self.error.is_some() {
                return param;
            }
            let (id, tensor, mapper) = param.consume();
            let shape = tensor.dims();
            let require_grad = tensor.is_require_grad();
            let autodiff = tensor.is_autodiff();
            let count: usize = shape.iter().product();
            let inner = tensor.clone().inner().reshape([count]);
            let replaced = match (self.update)(&self.path.joined(), &shape, inner) {
                Ok(Some(flat)) => {
                    let mut value = flat.reshape(shape);
                    if autodiff {
                        value = value.autodiff();
                    }
                    if autodiff && require_grad {
                        value = value.require_grad();
                    }
                    value
                }
                Ok(None) => tensor,
                Err(error) => {
                    self.error = Some(error);
                    tensor
                }
            };
            Param::from_mapped_value(id, replaced, mapper)
        }
    }
    let mut mapper = Mapper {
        path: Path::default(),
        update: &mut update,
        error: None,
    };
    let module = module.map(&mut mapper);
    match mapper.error {
        Some(error) => Err(error),
        None => Ok(module),
    }
}

/// Gives every float parameter a fresh autodiff graph node (same values, ids and require-grad
/// setting), so this module shares no graph node with the module it was cloned from.
///
/// Why: a clone shares its parameters' autodiff nodes with the original. burn-autodiff merges
/// graphs that share a node, and its graph locator takes the global lock and a graph's lock in
/// opposite orders in `register` and `backward`; two threads training clones of one model (for
/// example several preference runs from one SFT model) can therefore deadlock. Training on
/// fresh nodes keeps each run's graph its own.
pub fn with_fresh_graph_nodes<M: Module>(module: M) -> M {
    struct Fresh;
    impl ModuleMapper for Fresh {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            // `detach` keeps the values and the require-grad flag on a new, parentless node.
            param.map(|tensor| tensor.detach())
        }
    }
    module.map(&mut Fresh)
}
