//! Where a dataset's rows live: one Parquet file, or a folder of part files as Spark,
//! DataFusion, Polars and HF `datasets` write them.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// The Parquet files of `path`, in a stable order.
///
/// A folder is searched recursively (Hive-style `key=value/` partitions included) for files ending
/// in `.parquet`, `.parq` or `.pq`; names starting with `_` or `.` (`_SUCCESS`, `_metadata`,
/// `.crc` files, our own temporary files) are skipped. An empty folder is an error.
pub fn parquet_files(path: &Path) -> Result<Vec<PathBuf>> {
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if metadata.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    collect(path, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(DataError::MissingInput {
            path: path.to_path_buf(),
            reason: "folder holds no Parquet part files (*.parquet, *.parq, *.pq)".into(),
        });
    }
    Ok(files)
}

fn collect(folder: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(folder).map_err(|e| DataError::io(folder, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(folder, e))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('_') || name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| DataError::io(&path, e))?;
        if kind.is_dir() {
            collect(&path, files)?;
        } else if is_parquet_name(&name) {
            files.push(path);
        }
    }
    Ok(())
}

fn is_parquet_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".parquet", ".parq", ".pq"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}
