//! Saving and loading a fitted [`LoreModel`] as safetensors (`basis`, `user_logits`, f64).

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use safetensors::tensor::Dtype;

use super::fit::LoreModel;
use crate::error::Result;
use crate::tensor_file::{self, Matrix, TensorFile};

impl LoreModel {
    /// Writes `basis` (`F × B`) and `user_logits` (`users × B`) as f64 tensors, atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        fn matrix<'a>(name: &'a str, array: &'a Array2<f64>) -> Matrix<'a> {
            Matrix {
                name,
                rows: array.nrows(),
                columns: array.ncols(),
                values: array
                    .as_slice()
                    .expect("standard-layout arrays are contiguous"),
                dtype: Dtype::F64,
            }
        }
        let basis = self.basis.as_standard_layout().into_owned();
        let logits = self.user_logits.as_standard_layout().into_owned();
        tensor_file::write(
            path,
            &[matrix("basis", &basis), matrix("user_logits", &logits)],
            HashMap::from([("format".to_string(), "prefopt-lore".to_string())]),
        )
    }

    /// Reads a model written by [`LoreModel::save`]; the two tensors must agree on the rank.
    pub fn load(path: &Path) -> Result<Self> {
        let file = TensorFile::read(path)?;
        let read = |name: &str| -> Result<Array2<f64>> {
            let (rows, columns, values) = file.matrix(name)?;
            Array2::from_shape_vec((rows, columns), values)
                .map_err(|e| file.error(format!("tensor `{name}`: {e}")))
        };
        let (basis, user_logits) = (read("basis")?, read("user_logits")?);
        if basis.ncols() != user_logits.ncols() {
            return Err(file.error(format!(
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
    use crate::error::UserModelError;
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
