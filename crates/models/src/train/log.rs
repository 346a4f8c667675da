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
    /// Opens `path` (truncating it, or appending when a run resumes); `None` logs nothing.
    pub(super) fn open(path: Option<&Path>, append: bool) -> Result<Self> {
        let file = match path {
            None => None,
            Some(path) => {
                if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder).map_err(|e| ModelError::io(folder, e))?;
                }
                let file = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(append)
                    .truncate(!append)
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
