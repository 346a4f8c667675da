//! The safetensors files both user models save to: named matrices (f32 or f64) plus string
//! metadata, written to a temporary file and renamed into place so an interrupted save never
//! leaves a truncated model behind; errors name the file and the tensor.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Result, UserModelError};

/// A matrix to write: name, shape and values, stored as f32 or f64.
pub(crate) struct Matrix<'a> {
    pub name: &'a str,
    pub rows: usize,
    pub columns: usize,
    pub values: &'a [f64],
    pub dtype: Dtype,
}

fn file_error(path: &Path, reason: impl Into<String>) -> UserModelError {
    UserModelError::File {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> UserModelError {
    UserModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `matrices` and `metadata` to `path` atomically (temporary file, fsync, rename).
pub(crate) fn write(
    path: &Path,
    matrices: &[Matrix<'_>],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let buffers: Vec<Vec<u8>> = matrices
        .iter()
        .map(|m| match m.dtype {
            Dtype::F32 => m
                .values
                .iter()
                .flat_map(|&v| (v as f32).to_le_bytes())
                .collect(),
            _ => m.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
        .collect();
    let views = matrices
        .iter()
        .zip(&buffers)
        .map(|(m, bytes)| {
            let dtype = if m.dtype == Dtype::F32 {
                Dtype::F32
            } else {
                Dtype::F64
            };
            TensorView::new(dtype, vec![m.rows, m.columns], bytes)
                .map(|view| (m.name.to_string(), view))
                .map_err(|e| file_error(path, format!("tensor `{}`: {e}", m.name)))
        })
        .collect::<Result<Vec<_>>>()?;
    let serialized = safetensors::serialize(views, Some(metadata))
        .map_err(|e| file_error(path, e.to_string()))?;
    let temporary = temporary_path(path);
    let written = std::fs::File::create(&temporary).and_then(|mut file| {
        file.write_all(&serialized)?;
        file.sync_all()
    });
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(io_error(path, source));
    }
    std::fs::rename(&temporary, path).map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        io_error(path, source)
    })
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// A safetensors file read into memory.
pub(crate) struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
        SafeTensors::deserialize(&bytes).map_err(|e| file_error(path, e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
        })
    }

    pub fn error(&self, reason: impl Into<String>) -> UserModelError {
        file_error(&self.path, reason)
    }

    /// The string metadata of the header (empty when there is none).
    pub fn metadata(&self) -> Result<HashMap<String, String>> {
        let (_, metadata) = SafeTensors::read_metadata(&self.bytes)
            .map_err(|e| self.error(format!("header: {e}")))?;
        Ok(metadata.metadata().clone().unwrap_or_default())
    }

    pub fn has(&self, name: &str) -> bool {
        SafeTensors::deserialize(&self.bytes).is_ok_and(|f| f.tensor(name).is_ok())
    }

    /// Matrix `name` as `(rows, columns, values)`; f32 and f64 are read, anything else is an
    /// error naming the tensor.
    pub fn matrix(&self, name: &str) -> Result<(usize, usize, Vec<f64>)> {
        let file = SafeTensors::deserialize(&self.bytes).map_err(|e| self.error(e.to_string()))?;
        let view = file
            .tensor(name)
            .map_err(|_| self.error(format!("tensor `{name}` is missing")))?;
        let &[rows, columns] = view.shape() else {
            return Err(self.error(format!(
                "tensor `{name}` must be a matrix, found shape {:?}",
                view.shape()
            )));
        };
        let values: Vec<f64> = match view.dtype() {
            Dtype::F64 => view
                .data()
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
                .collect(),
            other => {
                return Err(
                    self.error(format!("tensor `{name}` is {other:?}; f32 or f64 expected"))
                );
            }
        };
        Ok((rows, columns, values))
    }
}
