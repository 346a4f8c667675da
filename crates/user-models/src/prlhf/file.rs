//! Saving and loading a [`UserModel`] as safetensors: the embedding table (and the cluster
//! model's user logits) in the tables' float type, the config as JSON metadata, so a trained
//! user model travels with its policy checkpoint.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::tensor::Dtype;

use super::user_model::{UserModel, UserModelConfig};
use crate::error::{Result, UserModelError};
use crate::tensor_file::{self, Matrix, TensorFile};

const CONFIG_KEY: &str = "user_model_config";

fn host_values(tensor: Tensor<2>) -> Result<Vec<f64>> {
    tensor
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .map_err(|e| UserModelError::InvalidInput(format!("reading a user-model table: {e:?}")))
}

impl UserModel {
    /// Writes the tables (f64 when the model was cast to f64, else f32) and the config,
    /// atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let table = self.table.val();
        let dtype = if table.dtype() == DType::F64 {
            Dtype::F64
        } else {
            Dtype::F32
        };
        let [rows, columns] = table.dims();
        let table_values = host_values(table)?;
        let logits = match &self.user_logits {
            Some(logits) => {
                let logits = logits.val();
                Some((logits.dims(), host_values(logits)?))
            }
            None => None,
        };
        let mut matrices = vec![Matrix {
            name: "table",
            rows,
            columns,
            values: &table_values,
            dtype,
        }];
        if let Some(([rows, columns], values)) = &logits {
            matrices.push(Matrix {
                name: "user_logits",
                rows: *rows,
                columns: *columns,
                values,
                dtype,
            });
        }
        let config = serde_json::to_string(&self.config)
            .map_err(|e| UserModelError::InvalidConfig(format!("user-model config: {e}")))?;
        tensor_file::write(
            path,
            &matrices,
            HashMap::from([(CONFIG_KEY.to_string(), config)]),
        )
    }

    /// Reads a model written by [`UserModel::save`] onto `device` (as f32). A file of another
    /// kind, or tables that disagree with the stored config, is an error naming the file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let file = TensorFile::read(path)?;
        let config: UserModelConfig = file
            .metadata()?
            .get(CONFIG_KEY)
            .ok_or_else(|| file.error(format!("no `{CONFIG_KEY}` metadata: not a user model")))
            .and_then(|text| {
                serde_json::from_str(text)
                    .map_err(|e| file.error(format!("`{CONFIG_KEY}` metadata: {e}")))
            })?;
        let tensor = |name: &str| -> Result<Tensor<2>> {
            let (rows, columns, values) = file.matrix(name)?;
            let values: Vec<f32> = values.into_iter().map(|v| v as f32).collect();
            Ok(Tensor::from_data(
                TensorData::new(values, [rows, columns]),
                device,
            ))
        };
        let logits = if file.has("user_logits") {
            Some(tensor("user_logits")?)
        } else {
            None
        };
        Self::from_tables(&config, tensor("table")?, logits).map_err(|e| file.error(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prlhf::{UserInit, UserModelKind};

    fn values(tensor: Tensor<3>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn both_kinds_round_trip_and_bad_files_are_errors() {
        let device = Device::flex();
        let dir = std::env::temp_dir().join(format!("prefopt-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for kind in [
            UserModelKind::Individual {
                add_generic_user: true,
            },
            UserModelKind::Cluster { n_clusters: 3 },
        ] {
            let config = UserModelConfig {
                kind,
                n_users: 4,
                n_tokens: 2,
                dim: 5,
            };
            let model = UserModel::new(&config, UserInit::Uniform, 9, &device).unwrap();
            let path = dir.join("users.safetensors");
            model.save(&path).unwrap();
            let loaded = UserModel::load(&path, &device).unwrap();
            assert_eq!(loaded.config, config);
            let users = [0, 1, 4, 2];
            assert_eq!(
                values(loaded.embeddings(&users).unwrap()),
                values(model.embeddings(&users).unwrap())
            );
        }
        let path = dir.join("users.safetensors");
        std::fs::write(&path, b"garbage").unwrap();
        let error = UserModel::load(&path, &device).unwrap_err().to_string();
        assert!(error.contains("users.safetensors"), "{error}");
        // A LoRe file is a valid safetensors file but not a user model.
        let lore = crate::lore::LoreModel {
            basis: ndarray::Array2::zeros((3, 2)),
            user_logits: ndarray::Array2::zeros((4, 2)),
        };
        lore.save(&path).unwrap();
        let error = UserModel::load(&path, &device).unwrap_err().to_string();
        assert!(error.contains("not a user model"), "{error}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
