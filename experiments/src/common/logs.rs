//! Training logs: where a run writes its JSONL log, and the series read back from it.

use std::path::Path;

use prefopt_models::train::TrainConfig;

use super::mean;
use crate::error::{ExperimentError, Result};

/// A file-name-safe version of a run name.
pub fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect::<String>()
        .to_lowercase()
}

/// `config` writing its JSONL log to `<log_dir>/<name>.jsonl` (a fresh file: an old log of
/// the same name is removed), or unchanged without a folder.
pub fn with_log(config: &TrainConfig, log_dir: Option<&Path>, name: &str) -> Result<TrainConfig> {
    let mut config = config.clone();
    if let Some(dir) = log_dir {
        std::fs::create_dir_all(dir).map_err(|e| ExperimentError::io(dir, e))?;
        // The loop starts the file afresh, or keeps what a resumed run's checkpoint covers.
        config.log = Some(dir.join(format!("{}.jsonl", file_stem(name))));
    }
    Ok(config)
}

/// `(step, value)` of a metric in a training log (update lines only).
pub fn log_series(log: &Path, metric: &str) -> Result<Vec<(f64, f64)>> {
    let text = std::fs::read_to_string(log).map_err(|e| ExperimentError::io(log, e))?;
    let mut out = Vec::new();
    for (line_number, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            ExperimentError::Invalid(format!("{}: line {}: {e}", log.display(), line_number + 1))
        })?;
        if let (Some(step), Some(v)) = (
            value.get("step").and_then(serde_json::Value::as_f64),
            value.get(metric).and_then(serde_json::Value::as_f64),
        ) && value.get("eval").is_none()
        {
            out.push((step, v));
        }
    }
    Ok(out)
}

/// Mean of a JSONL log's metric over the last `fraction` of the updates.
pub fn late_metric(log: &Path, metric: &str, fraction: f64) -> Result<f64> {
    let series = log_series(log, metric)?;
    let keep = ((series.len() as f64 * fraction).ceil() as usize).clamp(1, series.len().max(1));
    let tail = &series[series.len().saturating_sub(keep)..];
    Ok(mean(&tail.iter().map(|p| p.1).collect::<Vec<_>>()))
}

/// A moving average over `window` points (for readable loss curves).
pub fn smooth(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    points
        .iter()
        .enumerate()
        .map(|(i, &(x, _))| {
            let from = i.saturating_sub(window - 1);
            let slice = &points[from..=i];
            (
                x,
                slice.iter().map(|p| p.1).sum::<f64>() / slice.len() as f64,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_skip_evaluation_lines_and_smooth_averages_a_window() {
        let dir = std::env::temp_dir().join(format!("prefopt-logs-{}", std::process::id()));
        let config = with_log(&TrainConfig::default(), Some(&dir), "S-DPO K=3, β=1").unwrap();
        let path = config.log.unwrap();
        assert!(path.ends_with("s-dpo_k_3____1.jsonl"), "{}", path.display());
        std::fs::write(
            &path,
            "{\"step\":1,\"loss\":4.0}\n{\"step\":2,\"eval\":true,\"loss\":9.0}\n{\"step\":2,\"loss\":2.0}\n",
        )
        .unwrap();
        let series = log_series(&path, "loss").unwrap();
        assert_eq!(series, vec![(1.0, 4.0), (2.0, 2.0)]);
        assert_eq!(smooth(&series, 2), vec![(1.0, 4.0), (2.0, 3.0)]);
        assert_eq!(late_metric(&path, "loss", 0.5).unwrap(), 2.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
