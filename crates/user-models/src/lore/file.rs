//! Saving and loading a fitted [`LoreModel`] as safetensors (`basis`, `user_logits`, f64).

use std::path::Path;

use ndarray::Array2;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::fit::LoreModel;
use crate::error::{Result, UserModelError};

impl LoreModel {
    /// Writes `basis` (`F × B`) and `user_logits` (`users × B`) as f64 tensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let fail = |reason: String| UserModelError::File {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = |a: &Array2<f64>| a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let (basis, logits) = (bytes(&self.basis), bytes(&self.user_logits));
        let views = [
            ("basis", &self.basis, &basis),
            ("user_logits", &self.user_logits, &logits),
        ]
        .into_iter()
        .map(|(name, array, data)| {
            TensorView::new(Dtype::F64, array.shape().to_vec(), data)
                .map(|view| (name.to_string(), view))
                .map_err(|e| fail(format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
        let serialized = safetensors::serialize(views, None).map_err(|e| fail(e.to_string()))?;
        std::fs::write(path, serialized).map_err(|source| UserModelError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a model written by [`LoreModel::save`]; the two tensors must agree on the rank.
    pub fn load(path: &Path) -> Result<Self> {
        let fail = |reason: String| UserModelError::File {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|source| UserModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let file = SafeTensors::deserialize(&bytes).map_err(|e| fail(e.to_string()))?;
        let read = |name: &str| -> Result<Array2<f64>> {
            let view = file
                .tensor(name)
                .map_err(|_| fail(format!("tensor `{name}` is missing")))?;
            let (&[rows, columns], Dtype::F64) = (view.shape(), view.dtype()) else {
                return Err(fail(format!(
                    "tensor `{name}` must be a 2-D f64 matrix, found {:?} {:?}",
                    view.dtype(),
                    view.shape()
                )));
            };
            let values = view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect();
            Array2::from_shape_vec((rows, columns), values).map_err(|e| fail(e.to_string()))
        };
        let (basis, user_logits) = (read("basis")?, read("user_logits")?);
        if basis.ncols() != user_logits.ncols() {
            return Err(fail(format!(
                "basis rank {} differs from user-logit rank {}",
                basis.ncols(),
                user_logits.ncols()
            )));
        }
        Ok(Self { basis, user_logits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn save_and_load_round_trip_exactly_and_bad_files_are_errors() {
        let dir = std::env::temp_dir().join(format!("prefopt-lore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let model = LoreModel {
            basis: array![[1.5, -2.0], [0.1, 1e-300], [3.0, 4.0]],
            user_logits: array![[0.25, -0.75]],
        };
        let path = dir.join("lore.safetensors");
        model.save(&path).unwrap();
        let loaded = LoreModel::load(&path).unwrap();
        assert_eq!(loaded.basis, model.basis);
        assert_eq!(loaded.user_logits, model.user_logits);
        std::fs::write(&path, b"not safetensors").unwrap();
        let error = LoreModel::load(&path).unwrap_err().to_string();
        assert!(error.contains("lore.safetensors"), "{error}");
        let missing = LoreModel::load(&dir.join("absent.safetensors")).unwrap_err();
        assert!(matches!(missing, UserModelError::Io { .. }));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
