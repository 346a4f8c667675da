//! Where a command keeps the checkpoints of its training runs, and whether it continues from
//! them (`--resume`).
//!
//! Layout under the command's `--out`: `checkpoints/config.toml` (the config the command was
//! started with; a resumed command must be given the same one) and a folder per run holding
//! the trainer's `checkpoint.safetensors` and `best.safetensors` while the run trains, and
//! `finished.cbor` (the run's results) once it is done, when the caller keeps results there
//! (CBOR rather than JSON: it keeps NaN and ±inf, which results such as an interval over one
//! seed hold, and JSON cannot).
//! Every file is written atomically, so a kill at any point leaves files a resumed command
//! can trust.

use std::path::{Path, PathBuf};

use prefopt_models::train::TrainConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::common::logs::file_stem;
use crate::error::{ExperimentError, Result};

/// The checkpoints of one command's runs.
#[derive(Clone, Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    resume: bool,
}

const FINISHED: &str = "finished.cbor";
/// Updates between checkpoints of a run that neither evaluates nor sets `checkpoint_every`.
pub const DEFAULT_EVERY: usize = 100;
const TRAINER_FILES: [&str; 2] = ["checkpoint.safetensors", "best.safetensors"];

impl Checkpoints {
    /// Checkpoints in `out/checkpoints` for a command run with `config` (its TOML): a fresh
    /// command (`resume` false) clears what an earlier command left there; a resumed one must
    /// have the same config as the command it continues.
    pub fn open(out: &Path, config_toml: &str, resume: bool) -> Result<Self> {
        crate::common::output::remove_stale_temporaries(out)?;
        let dir = out.join("checkpoints");
        let recorded = dir.join("config.toml");
        if resume && recorded.exists() {
            let before = std::fs::read_to_string(&recorded)
                .map_err(|e| ExperimentError::io(&recorded, e))?;
            if before != config_toml {
                return Err(ExperimentError::Invalid(format!(
                    "--resume: the run in {} was started with another config ({}); give the \
                     same config and options, or run without --resume to start over",
                    out.display(),
                    recorded.display()
                )));
            }
        } else {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| ExperimentError::io(&dir, e))?;
            }
            prefopt_data::atomic::write(&recorded, config_toml)?;
        }
        Ok(Self { dir, resume })
    }

    /// The folder of run `name`.
    pub fn run_dir(&self, name: &str) -> PathBuf {
        self.dir.join(file_stem(name))
    }

    /// `config` with run `name`'s checkpoints: written at every evaluation (every
    /// [`DEFAULT_EVERY`] updates for a run without evaluations) unless the config sets
    /// `checkpoint_every`, continued from when the command resumes. A `checkpoint_dir`
    /// (and `resume`) the config sets itself are kept.
    pub fn apply(checkpoints: Option<&Self>, config: &TrainConfig, name: &str) -> TrainConfig {
        match checkpoints {
            None => config.clone(),
            Some(checkpoints) => TrainConfig {
                checkpoint_dir: Some(
                    config
                        .checkpoint_dir
                        .clone()
                        .unwrap_or_else(|| checkpoints.run_dir(name)),
                ),
                checkpoint_every: config
                    .checkpoint_every
                    .or(config.eval_every)
                    .or(Some(DEFAULT_EVERY)),
                resume: config.resume || checkpoints.resume,
                ..config.clone()
            },
        }
    }

    /// The results a finished run `name` kept with [`Self::finish`], when the command resumes.
    pub fn finished<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let path = self.run_dir(name).join(FINISHED);
        if !self.resume || !path.exists() {
            return Ok(None);
        }
        read_cbor(&path).map(Some)
    }

    /// Ends a command that completed: every run's trainer checkpoints are deleted (its models
    /// are in the output folder), the config and the finished records stay.
    pub fn complete(self) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            remove_trainer_files(&entry.path())?;
        }
        Ok(())
    }

    /// Keeps run `name`'s results beside its checkpoints (a stage whose model later runs
    /// need: SFT).
    pub fn keep<T: Serialize>(&self, name: &str, results: &T) -> Result<()> {
        write_cbor(&self.run_dir(name).join(FINISHED), results)
    }

    /// Keeps run `name`'s results and deletes its trainer checkpoints (a finished run is not
    /// trained again, and a language model's checkpoints take gigabytes).
    pub fn finish<T: Serialize>(&self, name: &str, results: &T) -> Result<()> {
        self.keep(name, results)?;
        remove_trainer_files(&self.run_dir(name))
    }
}

/// Deletes a run folder's trainer checkpoints (its other files stay).
fn remove_trainer_files(run_dir: &Path) -> Result<()> {
    for file in TRAINER_FILES {
        let path = run_dir.join(file);
        if path.is_file() {
            std::fs::remove_file(&path).map_err(|e| ExperimentError::io(&path, e))?;
        }
    }
    Ok(())
}

/// Writes `value` to `path` as CBOR, atomically.
pub fn write_cbor<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes)
        .map_err(|e| ExperimentError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(prefopt_data::atomic::write(path, bytes)?)
}

/// Reads a value [`write_cbor`] wrote.
pub fn read_cbor<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| ExperimentError::io(path, e))?;
    ciborium::from_reader(bytes.as_slice())
        .map_err(|e| ExperimentError::Invalid(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_command_keeps_finished_runs_and_refuses_another_config() {
        let out = std::env::temp_dir().join(format!("prefopt-checkpoints-{}", std::process::id()));
        let fresh = Checkpoints::open(&out, "seed = 1\n", false).unwrap();
        let trainer = Checkpoints::apply(
            Some(&fresh),
            &TrainConfig {
                eval_every: Some(3),
                ..TrainConfig::default()
            },
            "DPO K=1",
        );
        assert_eq!(trainer.checkpoint_every, Some(3));
        assert!(!trainer.resume);
        let dir = trainer.checkpoint_dir.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("checkpoint.safetensors"), b"weights").unwrap();
        fresh.finish("DPO K=1", &vec![0.5, f64::NAN]).unwrap();
        assert!(!dir.join("checkpoint.safetensors").exists());
        assert_eq!(fresh.finished::<Vec<f64>>("DPO K=1").unwrap(), None);

        let resumed = Checkpoints::open(&out, "seed = 1\n", true).unwrap();
        let kept = resumed.finished::<Vec<f64>>("DPO K=1").unwrap().unwrap();
        assert_eq!(kept[0], 0.5);
        assert!(kept[1].is_nan(), "NaN survives");
        assert_eq!(resumed.finished::<Vec<f64>>("S-DPO").unwrap(), None);
        let other = Checkpoints::open(&out, "seed = 2\n", true).unwrap_err();
        assert!(other.to_string().contains("another config"), "{other}");

        Checkpoints::open(&out, "seed = 2\n", false).unwrap();
        assert!(!dir.exists(), "a fresh command starts over");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
