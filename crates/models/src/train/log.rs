//! The JSONL metrics log: one object per update and per evaluation.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::{ModelError, Result};

pub(super) struct JsonLog {
    file: Option<(PathBuf, BufWriter<File>)>,
}

impl JsonLog {
    /// Opens `path` for a run at update `resumed_at`: a fresh run (0) truncates it; a resumed
    /// one keeps the complete lines of updates up to `resumed_at` — those after it, and a line
    /// a kill cut short, are logged again by the resumed run — and appends. `None` logs nothing.
    pub(super) fn open(path: Option<&Path>, resumed_at: usize) -> Result<Self> {
        let file = match path {
            None => None,
            Some(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder).map_err(|e| ModelError::io(folder, e))?;
                }
                if resumed_at > 0 && path.exists() {
                    keep_lines_up_to(path, resumed_at)?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(resumed_at > 0)
                    .truncate(resumed_at == 0)
                    .open(path)
                    .map_err(|e| ModelError::io(path, e))?;
                Some((path.to_path_buf(), BufWriter::new(file)))
            }
        };
        Ok(Self { file })
    }

    fn write(&mut self, value: Value) -> Result<()> {
        if let Some((path, file)) = &mut self.file {
            writeln!(file, "{value}")
                .and_then(|()| file.flush())
                .map_err(|e| ModelError::io(path.as_path(), e))?;
        }
        Ok(())
    }

    pub(super) fn update(
        &mut self,
        step: usize,
        epoch: usize,
        loss: f64,
        lr: f64,
        grad_norm: f64,
        metrics: &BTreeMap<String, f64>,
    ) -> Result<()> {
        let mut object = Map::new();
        object.insert("step".into(), json!(step));
        object.insert("epoch".into(), json!(epoch));
        object.insert("loss".into(), json!(loss));
        object.insert("learning_rate".into(), json!(lr));
        object.insert("grad_norm".into(), json!(grad_norm));
        for (name, value) in metrics {
            object.insert(name.clone(), json!(value));
        }
        self.write(Value::Object(object))
    }

    pub(super) fn evaluation(
        &mut self,
        step: usize,
        metric: f64,
        logged: &[(String, f64)],
    ) -> Result<()> {
        let mut object = Map::new();
        object.insert("step".into(), json!(step));
        object.insert("eval".into(), json!(metric));
        for (name, value) in logged {
            object.insert(format!("eval_{name}"), json!(value));
        }
        self.write(Value::Object(object))
    }
}

/// Rewrites `path` (atomically) with its complete JSON lines whose `step` is at most `step`.
fn keep_lines_up_to(path: &Path, step: usize) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
    let mut kept = String::new();
    // A line without its newline was cut short by the kill.
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let logged_at = serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v.get("step").and_then(Value::as_u64));
        if logged_at.is_some_and(|s| s <= step as u64) {
            kept.push_str(line);
        }
    }
    Ok(prefopt_data::atomic::write(path, kept)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_log_drops_what_came_after_the_checkpoint() {
        let dir = std::env::temp_dir().join(format!("prefopt-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.jsonl");
        std::fs::write(
            &path,
            "{\"step\":1}\n{\"step\":2}\n{\"step\":2,\"eval\":0.5}\n{\"step\":3}\n{\"st",
        )
        .unwrap();
        let mut log = JsonLog::open(Some(&path), 2).unwrap();
        log.evaluation(3, 0.25, &[]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"step\":1}\n{\"step\":2}\n{\"step\":2,\"eval\":0.5}\n{\"eval\":0.25,\"step\":3}\n"
        );
        drop(log);
        JsonLog::open(Some(&path), 0).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
