//! Parity with `transformers`: every checkpoint folder under `PREFOPT_HF_FIXTURES_DIR` (default:
//! the copy of `shared/fixtures/hf` in `tests/fixtures/hf`) loads, its tokenizer gives the ids
//! `transformers` gave, and its logits and next-token log-probs match the `expected.json` values
//! to 1e-4. A folder with `adapter_config.json` is a PEFT LoRA adapter, checked on its base with
//! the adapter active. Every mismatch of every folder is listed before the test fails.

use std::path::{Path, PathBuf};

use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, Device};
use prefopt_models::lora;
use prefopt_models::pretrained::Pretrained;
use prefopt_models::transformer::{PackedBatch, Transformer};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-4;

#[derive(Deserialize)]
struct Expected {
    sequences: Vec<Sequence>,
}

#[derive(Deserialize)]
struct Sequence {
    text: String,
    input_ids: Vec<u32>,
    logits: Vec<Vec<f64>>,
    next_token_logprobs: Vec<f64>,
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("PREFOPT_HF_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf"))
}

/// The base checkpoint of an adapter: `base_model_name_or_path` as given, else the sibling
/// folder of the same name (fixtures record the path they were generated from).
fn adapter_base(adapter: &Path) -> Result<PathBuf, String> {
    let (_, base) = lora::read_peft_config(adapter).map_err(|e| e.to_string())?;
    let base = base.ok_or("adapter_config.json names no base_model_name_or_path")?;
    let given = PathBuf::from(&base);
    if given.join("config.json").is_file() {
        return Ok(given);
    }
    let name = given
        .file_name()
        .ok_or_else(|| format!("base `{base}` has no folder name"))?;
    let sibling = adapter.parent().unwrap_or(adapter).join(name);
    if sibling.join("config.json").is_file() {
        Ok(sibling)
    } else {
        Err(format!(
            "base `{base}` found neither as given nor beside the adapter"
        ))
    }
}

type Rows = Vec<Vec<f64>>;

/// Logits and log-softmax `[T][V]` of one sequence run at once, causally.
fn logits(model: &Transformer, ids: &[u32]) -> Result<(Rows, Rows), String> {
    let len = ids.len();
    let mut packed = PackedBatch::new(1, len, 0, 0);
    for (slot, &id) in ids.iter().enumerate() {
        packed.put(0, slot, id, slot);
    }
    let slots: Vec<usize> = (0..len).collect();
    packed.causal(0, &[], &slots);
    let hidden = model.hidden(&packed, None).map_err(|e| e.to_string())?;
    let d = hidden.dims()[2];
    let logits = model.logits(hidden.reshape([len, d]));
    let vocab = logits.dims()[1];
    let rows = |t: burn::tensor::Tensor<2>| -> Result<Rows, String> {
        let values: Vec<f64> = t
            .into_data()
            .convert::<f64>()
            .try_to_vec()
            .map_err(|e| format!("{e:?}"))?;
        Ok(values.chunks(vocab).map(<[f64]>::to_vec).collect())
    };
    Ok((rows(logits.clone())?, rows(log_softmax(logits, 1))?))
}

fn max_abs_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Every mismatch of one fixture folder (empty when it matches) and the largest logit
/// difference seen.
fn check_fixture(dir: &Path) -> (Vec<String>, f64) {
    match check_fixture_inner(dir) {
        Ok(checked) => checked,
        Err(error) => (vec![format!("cannot check: {error}")], f64::NAN),
    }
}

fn check_fixture_inner(dir: &Path) -> Result<(Vec<String>, f64), String> {
    let device = Device::flex();
    let text = std::fs::read_to_string(dir.join("expected.json")).map_err(|e| e.to_string())?;
    let expected: Expected = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let is_adapter = dir.join("adapter_config.json").is_file();
    let checkpoint = if is_adapter {
        adapter_base(dir)?
    } else {
        dir.to_path_buf()
    };
    let pretrained =
        Pretrained::load(&checkpoint, &device, DType::F32).map_err(|e| e.to_string())?;
    let model = if is_adapter {
        lora::load_peft(pretrained.model, dir)
            .map_err(|e| e.to_string())?
            .0
    } else {
        pretrained.model
    };
    let mut mismatches = Vec::new();
    let mut largest = 0.0_f64;
    for (index, sequence) in expected.sequences.iter().enumerate() {
        let ids = pretrained
            .tokenizer
            .encode(&sequence.text)
            .map_err(|e| e.to_string())?;
        if ids != sequence.input_ids {
            mismatches.push(format!(
                "sequence {index}: tokenizer gives {} ids, transformers {} (first difference at {})",
                ids.len(),
                sequence.input_ids.len(),
                ids.iter()
                    .zip(&sequence.input_ids)
                    .position(|(a, b)| a != b)
                    .unwrap_or(ids.len().min(sequence.input_ids.len()))
            ));
        }
        let (ours, logps) = logits(&model, &sequence.input_ids)?;
        let worst = ours
            .iter()
            .zip(&sequence.logits)
            .map(|(a, b)| max_abs_difference(a, b))
            .fold(0.0, f64::max);
        largest = largest.max(worst);
        if ours.len() != sequence.logits.len() || worst > TOLERANCE {
            mismatches.push(format!(
                "sequence {index}: logits differ by up to {worst:.3e} over {} positions",
                ours.len()
            ));
        }
        let logprobs: Vec<f64> = logps
            .iter()
            .zip(sequence.input_ids.iter().skip(1))
            .map(|(row, &next)| row[next as usize])
            .collect();
        let worst = max_abs_difference(&logprobs, &sequence.next_token_logprobs);
        if logprobs.len() != sequence.next_token_logprobs.len() || worst > TOLERANCE {
            mismatches.push(format!(
                "sequence {index}: next-token log-probs differ by up to {worst:.3e}"
            ));
        }
    }
    Ok((mismatches, largest))
}

#[test]
fn every_fixture_matches_transformers() {
    let root = fixtures_dir();
    let mut folders: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.join("expected.json").is_file())
        .collect();
    folders.sort();
    assert!(
        !folders.is_empty(),
        "no fixture folders under {}",
        root.display()
    );
    let mut failures = Vec::new();
    let mut failing = 0;
    for folder in &folders {
        let (mismatches, largest) = check_fixture(folder);
        let name = folder.file_name().unwrap().to_string_lossy().to_string();
        let verdict = if mismatches.is_empty() {
            "matches"
        } else {
            "MISMATCH"
        };
        eprintln!("{name}: {verdict} (largest logit difference {largest:.2e})");
        failing += usize::from(!mismatches.is_empty());
        failures.extend(mismatches.into_iter().map(|m| format!("{name}: {m}")));
    }
    assert!(
        failures.is_empty(),
        "{failing} of {} fixtures do not match transformers:\n{}",
        folders.len(),
        failures.join("\n")
    );
}
