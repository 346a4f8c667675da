//! Which files hold a split: a single file as given, or the files of a dataset folder as the
//! Hugging Face Hub lays them out.

use std::path::{Path, PathBuf};

use crate::error::{DataError, Result};

/// File suffixes read as Parquet; everything else in a folder listing is ignored.
const PARQUET: [&str; 3] = [".parquet", ".parq", ".pq"];
/// File suffixes read as JSON Lines (`.json` as `datasets` writes it: one object per line).
const JSON_LINES: [&str; 2] = [".jsonl", ".json"];

pub(super) fn is_parquet(path: &Path) -> bool {
    has_suffix(path, &PARQUET)
}

fn is_json_lines(path: &Path) -> bool {
    has_suffix(path, &JSON_LINES)
}

fn has_suffix(path: &Path, suffixes: &[&str]) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    suffixes.iter().any(|s| name.ends_with(s))
}

/// The files of split `split` under `path`.
///
/// A file is its own split. In a folder, the first of these that matches wins: `data/<split>-*`,
/// `data/<split>.*`, `<split>-*`, `<split>.*` (Parquet or JSON Lines; part files in name
/// order, so `train-00000-of-00002` comes before `train-00001-of-00002`).
pub fn split_files(path: &Path, split: &str) -> Result<Vec<PathBuf>> {
    let metadata = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if metadata.is_file() {
        if !(is_parquet(path) || is_json_lines(path)) {
            return Err(DataError::MissingInput {
                path: path.to_path_buf(),
                reason: "not a Parquet (.parquet) or JSON Lines (.jsonl, .json) file".into(),
            });
        }
        return Ok(vec![path.to_path_buf()]);
    }
    for folder in [path.join("data"), path.to_path_buf()] {
        if !folder.is_dir() {
            continue;
        }
        let mut parts = Vec::new();
        let mut whole = Vec::new();
        for entry in std::fs::read_dir(&folder).map_err(|e| DataError::io(&folder, e))? {
            let file = entry.map_err(|e| DataError::io(&folder, e))?.path();
            if !(is_parquet(&file) || is_json_lines(&file)) || !file.is_file() {
                continue;
            }
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with(&format!("{split}-")) {
                parts.push(file);
            } else if name.split_once('.').is_some_and(|(stem, _)| stem == split) {
                whole.push(file);
            }
        }
        parts.sort();
        whole.sort();
        if !parts.is_empty() {
            return Ok(parts);
        }
        if !whole.is_empty() {
            return Ok(whole);
        }
    }
    Err(DataError::MissingInput {
        path: path.to_path_buf(),
        reason: format!(
            "no `{split}` split: looked for data/{split}-*.parquet, data/{split}.parquet|jsonl, \
             {split}-*.parquet and {split}.parquet|jsonl"
        ),
    })
}
