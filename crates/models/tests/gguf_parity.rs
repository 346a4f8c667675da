//! A real GGUF checkpoint read as `transformers`' own GGUF loader reads it: for every `*.json`
//! under `PREFOPT_GGUF_FIXTURES_DIR` (default `tests/fixtures/gguf`, a copy of the shared
//! fixtures), the model file it names (in the same folder or under `PREFOPT_GGUF_MODELS_DIR`,
//! default `/tmp/smollm2`, where `.ci/run` puts SmolLM2 with `tools/fetch-smollm2.sh`) is loaded and its
//! logits are compared with the reference: the top-10 logits and ids, the strided logits and the
//! next-token log-probs of every position, to 1e-3 absolute. A missing model file is a failure
//! that names it; a fixture is never skipped.
//!
//! Also checked: the tokenizer built from the file's metadata gives the reference ids of every
//! text, greedy decoding gives the reference continuation, and the file's chat template renders
//! the reference conversation text and ids.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};
use prefopt_models::chat::{ChatMessage, ChatTemplate};
use prefopt_models::generate::{GenerateConfig, generate};
use prefopt_models::gguf;
use prefopt_models::pretrained::Pretrained;
use prefopt_models::tokenizer::{Prompt, Tokenizer};
use prefopt_models::transformer::{PackedBatch, Transformer};
use serde::Deserialize;

const TOLERANCE: f64 = 1e-3;

#[derive(Deserialize)]
struct Sequence {
    text: String,
    input_ids: Vec<u32>,
    next_token_logprobs: Vec<f64>,
    top10_ids: Vec<Vec<u32>>,
    top10_logits: Vec<Vec<f64>>,
    strided_logits: Vec<Vec<f64>>,
}

#[derive(Deserialize)]
struct Greedy {
    input_ids: Vec<u32>,
    generated_ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
}

#[derive(Deserialize)]
struct Chat {
    messages: Vec<Message>,
    add_generation_prompt: bool,
    text: String,
    input_ids: Vec<u32>,
}

#[derive(Deserialize)]
struct Fixture {
    gguf_file: String,
    strided_logits_stride: usize,
    sequences: Vec<Sequence>,
    #[serde(default)]
    greedy: Vec<Greedy>,
    chat: Option<Chat>,
}

fn fixtures_dir() -> PathBuf {
    std::env::var_os("PREFOPT_GGUF_FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gguf"))
}

fn models_dir() -> PathBuf {
    std::env::var_os("PREFOPT_GGUF_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/smollm2"))
}

/// Logits `[T][V]` of one sequence run at once, causally.
fn logits(model: &Transformer, ids: &[u32]) -> Vec<Vec<f64>> {
    let len = ids.len();
    let mut packed = PackedBatch::new(1, len, 0, 0);
    for (slot, &id) in ids.iter().enumerate() {
        packed.put(0, slot, id, slot);
    }
    let slots: Vec<usize> = (0..len).collect();
    packed.causal(0, &[], &slots);
    let hidden = model.hidden(&packed, None).unwrap();
    let d = hidden.dims()[2];
    let logits = model.logits(hidden.reshape([len, d]));
    let vocab = logits.dims()[1];
    let values: Vec<f64> = logits.into_data().convert::<f64>().try_to_vec().unwrap();
    values.chunks(vocab).map(<[f64]>::to_vec).collect()
}

fn log_softmax_row(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = row.iter().map(|v| (v - max).exp()).sum();
    row.iter().map(|v| v - max - total.ln()).collect()
}

/// Every mismatch of one fixture (empty when it matches).
fn check(json: &Path) -> Vec<String> {
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(json).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", json.display()));
    let beside = json.with_file_name(&fixture.gguf_file);
    let model_path = if beside.is_file() {
        beside
    } else {
        models_dir().join(&fixture.gguf_file)
    };
    if !model_path.is_file() {
        return vec![format!(
            "{}: the model file {} is missing (looked beside the JSON and in {}; \
             `tools/fetch-smollm2.sh` fetches SmolLM2)",
            json.display(),
            fixture.gguf_file,
            models_dir().display()
        )];
    }
    let pretrained = match gguf::load(&model_path, &Device::flex(), DType::F32) {
        Ok(loaded) => loaded,
        Err(e) => return vec![format!("{}: {e}", model_path.display())],
    };
    let model = &pretrained.model;
    let mut problems = Vec::new();
    for (s, sequence) in fixture.sequences.iter().enumerate() {
        match pretrained.tokenizer.encode(&sequence.text) {
            Ok(ids) if ids == sequence.input_ids => {}
            Ok(ids) => problems.push(format!(
                "{} sequence {s}: the file's tokenizer gives {ids:?}, the reference {:?}",
                json.display(),
                sequence.input_ids
            )),
            Err(e) => problems.push(format!("{} sequence {s}: {e}", json.display())),
        }
        let ours = logits(model, &sequence.input_ids);
        let mut worst: f64 = 0.0;
        for (t, row) in ours.iter().enumerate() {
            for (id, want) in sequence.top10_ids[t].iter().zip(&sequence.top10_logits[t]) {
                worst = worst.max((row[*id as usize] - want).abs());
            }
            for (k, want) in sequence.strided_logits[t].iter().enumerate() {
                worst = worst.max((row[k * fixture.strided_logits_stride] - want).abs());
            }
            if let (Some(next), Some(want)) = (
                sequence.input_ids.get(t + 1),
                sequence.next_token_logprobs.get(t),
            ) {
                worst = worst.max((log_softmax_row(row)[*next as usize] - want).abs());
            }
            let best = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i as u32);
            if best != sequence.top10_ids[t].first().copied() {
                problems.push(format!(
                    "{} sequence {s} position {t}: argmax {best:?}, reference {:?}",
                    json.display(),
                    sequence.top10_ids[t].first()
                ));
            }
        }
        eprintln!(
            "{} sequence {s}: largest difference {worst:.2e}",
            json.display()
        );
        if worst > TOLERANCE {
            problems.push(format!(
                "{} sequence {s}: logits differ by up to {worst:.3e} (tolerance {TOLERANCE})",
                json.display()
            ));
        }
    }
    let special = pretrained.tokenizer.special();
    for (g, case) in fixture.greedy.iter().enumerate() {
        let config = GenerateConfig {
            beams: 1,
            max_tokens: case.generated_ids.len(),
            ..GenerateConfig::default()
        };
        match generate(
            model,
            &case.input_ids,
            &config,
            None,
            special.eos,
            special.pad,
        ) {
            Ok(out) => {
                let ids = out.first().map(|o| o.tokens.clone()).unwrap_or_default();
                if ids != case.generated_ids {
                    problems.push(format!(
                        "{} greedy {g}: generated {ids:?}, the reference {:?}",
                        json.display(),
                        case.generated_ids
                    ));
                }
            }
            Err(e) => problems.push(format!("{} greedy {g}: {e}", json.display())),
        }
    }
    if let Some(chat) = &fixture.chat {
        problems.extend(check_chat(json, &pretrained, chat));
    }
    problems
}

/// The file's chat template renders the reference text, which tokenizes to the reference ids.
fn check_chat(json: &Path, pretrained: &Pretrained, chat: &Chat) -> Vec<String> {
    let Some(template) = &pretrained.chat_template else {
        return vec![format!("{}: the file has no chat template", json.display())];
    };
    let messages: Vec<ChatMessage> = chat
        .messages
        .iter()
        .map(|m| ChatMessage::new(&m.role, &m.content))
        .collect();
    let text = match template.render(&messages, chat.add_generation_prompt) {
        Ok(text) => text,
        Err(e) => return vec![format!("{}: {e}", json.display())],
    };
    let mut problems = Vec::new();
    if text != chat.text {
        problems.push(format!(
            "{}: the chat template renders {text:?}, the reference {:?}",
            json.display(),
            chat.text
        ));
    }
    match pretrained.tokenizer.encode(&text) {
        Ok(ids) if ids == chat.input_ids => {}
        Ok(ids) => problems.push(format!(
            "{}: the chat text tokenizes to {ids:?}, the reference {:?}",
            json.display(),
            chat.input_ids
        )),
        Err(e) => problems.push(format!("{}: {e}", json.display())),
    }
    problems.extend(check_chat_prompt(json, pretrained, template, chat));
    problems
}

/// A conversation of an optional system message and one user turn, with the generation prompt,
/// is what the tokenizer's chat mode encodes as a prompt: it must give the reference ids.
fn check_chat_prompt(
    json: &Path,
    pretrained: &Pretrained,
    template: &ChatTemplate,
    chat: &Chat,
) -> Vec<String> {
    let (system, user) = match chat.messages.as_slice() {
        [user] if user.role == "user" => (None, user),
        [system, user] if system.role == "system" && user.role == "user" => {
            (Some(system.content.as_str()), user)
        }
        _ => return Vec::new(),
    };
    if !chat.add_generation_prompt {
        return Vec::new();
    }
    let prompt = pretrained
        .tokenizer
        .clone()
        .with_chat_template(template.clone(), system)
        .and_then(|t| {
            t.encode_prompt(&Prompt {
                text: &user.content,
                ..Prompt::default()
            })
        });
    match prompt {
        Ok(ids) if ids == chat.input_ids => Vec::new(),
        Ok(ids) => vec![format!(
            "{}: the chat-mode prompt encodes to {ids:?}, the reference {:?}",
            json.display(),
            chat.input_ids
        )],
        Err(e) => vec![format!("{}: chat-mode prompt: {e}", json.display())],
    }
}

#[test]
fn every_gguf_fixture_matches_transformers() {
    let dir = fixtures_dir();
    let mut jsons: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    jsons.sort();
    assert!(!jsons.is_empty(), "no fixture in {}", dir.display());
    let problems: Vec<String> = jsons.iter().flat_map(|j| check(j)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_missing_model_file_fails_and_names_it() {
    let dir = std::env::temp_dir().join(format!("prefopt-gguf-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("absent.json");
    std::fs::write(
        &json,
        r#"{"gguf_file": "no-such-model.Q4_0.gguf", "strided_logits_stride": 1, "sequences": []}"#,
    )
    .unwrap();
    let problems = check(&json);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("no-such-model.Q4_0.gguf"),
        "{}",
        problems[0]
    );
}

/// A GGUF checkpoint written back as a Hugging Face folder loads as the same model: the
/// tokenizer gives the same ids, the logits are identical, the chat template is kept.
#[test]
fn a_gguf_checkpoint_exports_as_a_folder_that_loads_identically() {
    let dir = fixtures_dir();
    let json = dir.join("smollm2-135m-instruct-q4_1.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let model_path = models_dir().join(&fixture.gguf_file);
    assert!(
        model_path.is_file(),
        "{} is missing: run tools/fetch-smollm2.sh",
        model_path.display()
    );
    let device = Device::flex();
    let original = gguf::load(&model_path, &device, DType::F32).unwrap();
    let out = std::env::temp_dir().join(format!("prefopt-gguf-export-{}", std::process::id()));
    prefopt_models::pretrained::save_checkpoint(&original.model, &model_path, &out).unwrap();
    let exported = Pretrained::load(&out, &device, DType::F32).unwrap();
    let sequence = &fixture.sequences[1];
    assert_eq!(
        exported.tokenizer.encode(&sequence.text).unwrap(),
        sequence.input_ids
    );
    assert_eq!(
        logits(&exported.model, &sequence.input_ids),
        logits(&original.model, &sequence.input_ids)
    );
    assert_eq!(exported.chat_template, original.chat_template);
    std::fs::remove_dir_all(&out).unwrap();
}
