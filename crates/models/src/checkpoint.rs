//! Training checkpoints: one safetensors file holding the weights (`model.<path>`), the AdamW
//! moments (`adam.first.<path>`, `adam.second.<path>`) and, in its metadata, the trainer's
//! position (update count, early-stopping state, seed) as JSON. Written to a hidden temporary
//! file and renamed, so a run killed mid-write leaves the previous checkpoint intact.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::Path;

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::optim::{AdamW, Moments};
use crate::params::{for_each_param, map_params};

const FORMAT: &str = "prefopt-checkpoint-2";
/// The earlier layout: the same fields as separate metadata entries (still read).
const FORMAT_1: &str = "prefopt-checkpoint-1";
const METADATA_KEY: &str = "prefopt";

/// Where the trainer stands; everything else it needs is derived from the config and seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer updates done.
    pub step: usize,
    /// The seed that orders every epoch's examples (the RNG state: epoch `e` is shuffled by a
    /// generator seeded from `(seed, e)`, so the position `step` fixes all later draws).
    pub seed: u64,
    /// Best validation metric so far and the update it was measured at.
    pub best: Option<(f64, usize)>,
    /// Evaluations since the best one (early stopping).
    pub evals_without_improvement: usize,
    /// Free-form description of the model (its config as JSON), checked on resume.
    pub model: String,
    /// Mean training loss of every update so far (a resumed run reports the whole run).
    #[serde(default)]
    pub losses: Vec<f64>,
    /// `(update, metric)` of every evaluation so far.
    #[serde(default)]
    pub evaluations: Vec<(usize, f64)>,
}

impl TrainerState {
    /// The position before the first update of a run.
    pub fn start(seed: u64, model: impl Into<String>) -> Self {
        Self {
            step: 0,
            seed,
            best: None,
            evals_without_improvement: 0,
            model: model.into(),
            losses: Vec::new(),
            evaluations: Vec::new(),
        }
    }
}

/// A host copy of one tensor.
struct HostTensor {
    shape: Vec<usize>,
    dtype: Dtype,
    bytes: Vec<u8>,
}

fn host(tensor: Tensor<1>, shape: &[usize]) -> HostTensor {
    let data = tensor.to_data();
    let (dtype, data) = match data.dtype() {
        DType::F64 => (Dtype::F64, data),
        DType::F16 => (Dtype::F16, data),
        DType::BF16 => (Dtype::BF16, data),
        _ => (Dtype::F32, data.convert::<f32>()),
    };
    HostTensor {
        shape: shape.to_vec(),
        dtype,
        bytes: data.as_bytes().to_vec(),
    }
}

/// Writes weights, optimizer and state to `path` atomically.
pub fn save<M: Module>(
    path: &Path,
    model: &M,
    optimizer: &AdamW,
    state: &TrainerState,
) -> Result<()> {
    let mut tensors: BTreeMap<String, HostTensor> = BTreeMap::new();
    for_each_param(model, |name, tensor| {
        let shape = tensor.shape().to_vec();
        tensors.insert(format!("model.{name}"), host(tensor.flat(), &shape));
        if let Some(moments) = optimizer.moments.get(name) {
            tensors.insert(
                format!("adam.first.{name}"),
                host(moments.first.clone(), &shape),
            );
            tensors.insert(
                format!("adam.second.{name}"),
                host(moments.second.clone(), &shape),
            );
        }
    });
    let fail = |reason: String| ModelError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let views = tensors
        .iter()
        .map(|(name, t)| {
            TensorView::new(t.dtype, t.shape.clone(), &t.bytes)
                .map(|view| (name.clone(), view))
                .map_err(|e| fail(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    // One metadata entry holding the fields as a JSON object: safetensors keeps metadata in
    // a `HashMap`, whose order differs from process to process, so several entries would
    // make two saves of the same weights differ in their bytes.
    let fields = BTreeMap::from([
        ("format", FORMAT.to_string()),
        (
            "state",
            serde_json::to_string(state).map_err(|e| fail(e.to_string()))?,
        ),
        ("adam_updates", optimizer.updates.to_string()),
        (
            "adam_config",
            serde_json::to_string(&optimizer.config).map_err(|e| fail(e.to_string()))?,
        ),
    ]);
    let metadata = HashMap::from([(
        METADATA_KEY.to_string(),
        serde_json::to_string(&fields).map_err(|e| fail(e.to_string()))?,
    )]);
    let bytes = safetensors::serialize(views, Some(metadata)).map_err(|e| fail(e.to_string()))?;
    Ok(prefopt_data::atomic::write(path, &bytes)?)
}

/// The checkpoint's metadata fields, checked to be a prefopt checkpoint's.
fn fields(path: &Path, mut metadata: HashMap<String, String>) -> Result<HashMap<String, String>> {
    let fail = |reason: String| ModelError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(fields) = metadata.get(METADATA_KEY) {
        metadata = serde_json::from_str(fields).map_err(|e| fail(format!("metadata: {e}")))?;
    }
    if !matches!(
        metadata.get("format").map(String::as_str),
        Some(FORMAT | FORMAT_1)
    ) {
        return Err(fail(format!(
            "not a prefopt checkpoint (format {FORMAT} expected)"
        )));
    }
    Ok(metadata)
}

fn parse_state(path: &Path, text: &str) -> Result<TrainerState> {
    serde_json::from_str(text).map_err(|e| ModelError::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("state: {e}"),
    })
}

/// The trainer's position stored in a checkpoint, read from its header alone (a resumed
/// caller learns where the run stands without reading the weights).
pub fn read_state(path: &Path) -> Result<TrainerState> {
    let fail = |reason: String| ModelError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let mut file = fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut length = [0u8; 8];
    file.read_exact(&mut length)
        .map_err(|e| ModelError::io(path, e))?;
    let length = u64::from_le_bytes(length);
    if length > 100_000_000 {
        return Err(fail(format!("header of {length} bytes")));
    }
    let mut header = vec![0u8; length as usize];
    file.read_exact(&mut header)
        .map_err(|e| ModelError::io(path, e))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| fail(format!("header: {e}")))?;
    let metadata: HashMap<String, String> = header
        .get("__metadata__")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| fail(format!("metadata: {e}")))?
        .unwrap_or_default();
    let metadata = fields(path, metadata)?;
    let state = metadata
        .get("state")
        .ok_or_else(|| fail("metadata `state` is missing".into()))?;
    parse_state(path, state)
}

/// What [`load`] restores.
pub struct Restored<M> {
    pub model: M,
    pub optimizer: AdamW,
    pub state: TrainerState,
}

/// Reads a checkpoint into `model` (which fixes the architecture; every parameter must be in
/// the file with the same shape) and rebuilds the optimizer's moments on `device`.
pub fn load<M: Module>(path: &Path, model: M, device: &Device) -> Result<Restored<M>> {
    let bytes = fs::read(path).map_err(|e| ModelError::io(path, e))?;
    let fail = |reason: String| ModelError::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| fail(e.to_string()))?;
    let metadata = fields(path, header.metadata().clone().unwrap_or_default())?;
    let field = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| fail(format!("metadata `{key}` is missing")))
    };
    let state = parse_state(path, field("state")?)?;
    let config = serde_json::from_str(field("adam_config")?)
        .map_err(|e| fail(format!("adam_config: {e}")))?;
    let updates: u64 = field("adam_updates")?
        .parse()
        .map_err(|e| fail(format!("adam_updates: {e}")))?;
    let file = SafeTensors::deserialize(&bytes).map_err(|e| fail(e.to_string()))?;
    let read = |name: &str, expected: &[usize], dtype: DType| -> Result<Option<Tensor<1>>> {
        let view = match file.tensor(name) {
            Ok(view) => view,
            Err(_) => return Ok(None),
        };
        if view.shape() != expected {
            return Err(fail(format!(
                "tensor {name} has shape {:?}, the model expects {expected:?}",
                view.shape()
            )));
        }
        let count: usize = expected.iter().product();
        let data = match view.dtype() {
            Dtype::F32 => TensorData::from_bytes_vec(view.data().to_vec(), [count], DType::F32),
            Dtype::F64 => TensorData::from_bytes_vec(view.data().to_vec(), [count], DType::F64),
            Dtype::F16 => TensorData::from_bytes_vec(view.data().to_vec(), [count], DType::F16),
            Dtype::BF16 => TensorData::from_bytes_vec(view.data().to_vec(), [count], DType::BF16),
            other => {
                return Err(fail(format!(
                    "tensor {name} has unsupported dtype {other:?}"
                )));
            }
        };
        Ok(Some(Tensor::<1>::from_data(data, device).cast(dtype)))
    };
    let mut moments = BTreeMap::new();
    let model = map_params(model, |name, shape, value| {
        let dtype = value.dtype();
        let weights = read(&format!("model.{name}"), shape, dtype)?
            .ok_or_else(|| fail(format!("tensor model.{name} is missing")))?;
        let first = read(&format!("adam.first.{name}"), shape, dtype)?;
        let second = read(&format!("adam.second.{name}"), shape, dtype)?;
        if let (Some(first), Some(second)) = (first, second) {
            moments.insert(name.to_string(), Moments { first, second });
        }
        Ok(Some(weights))
    })?;
    let mut optimizer = AdamW::new(config)?;
    optimizer.moments = moments;
    optimizer.updates = updates;
    Ok(Restored {
        model,
        optimizer,
        state,
    })
}
