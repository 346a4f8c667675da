//! TRL-format rows laid out as TRL 1.16's `DPOTrainer` and `KTOTrainer` lay them out: the
//! fixture holds the prompt and completion ids TRL's own row preparation gives with
//! SmolLM2-135M-Instruct's tokenizer and chat template (`tools/reference-cases/trl_text.py`);
//! here the same rows are read with `prefopt_data::trl` and encoded with the real GGUF file.
//! Then the length limits, and a template that fails on a row.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};
use prefopt_data::trl::{TrlDataset, TrlRows};
use prefopt_models::chat::ChatTemplate;
use prefopt_models::gguf;
use prefopt_models::tokenizer::{TextTokenizer, TrlEncoder, Truncation};
use serde::Deserialize;

#[derive(Deserialize)]
struct Layouts {
    trl: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    trainer: String,
    row: serde_json::Value,
    prompt_ids: Vec<u32>,
    completion_ids: Vec<Vec<u32>>,
}

fn smollm2() -> PathBuf {
    std::env::var_os("PREFOPT_GGUF_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/smollm2"))
        .join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("prefopt-trl-layout-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A prompt's tokens and its completions' tokens.
type Layout = (Vec<u32>, Vec<Vec<u32>>);

/// `(prompt, completions)` of the one row in `line`, or the error.
fn encode(
    encoder: &TrlEncoder<'_>,
    dir: &Path,
    line: &serde_json::Value,
) -> Result<Option<Layout>, String> {
    let file = dir.join("row.jsonl");
    std::fs::write(&file, format!("{line}\n")).unwrap();
    let dataset = TrlDataset::read(&file, "train").map_err(|e| e.to_string())?;
    match &dataset.rows {
        TrlRows::Paired(rows) => Ok(encoder
            .paired(&rows[0])
            .map_err(|e| e.to_string())?
            .map(|e| (e.prompt, e.responses))),
        TrlRows::Unpaired(rows) => Ok(encoder
            .unpaired(&rows[0])
            .map_err(|e| e.to_string())?
            .map(|e| (e.prompt, vec![e.completion]))),
    }
}

#[test]
fn rows_are_tokenized_as_trl_prepares_them() {
    let path = smollm2();
    assert!(
        path.is_file(),
        "{} is missing: run tools/fetch-smollm2.sh",
        path.display()
    );
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trl/smollm2_layouts.json");
    let layouts: Layouts =
        serde_json::from_str(&std::fs::read_to_string(&fixture).unwrap()).unwrap();
    assert_eq!(layouts.trl, "1.16.0");
    let pretrained = gguf::load(&path, &Device::flex(), DType::F32).unwrap();
    let encoder = TrlEncoder {
        tokenizer: &pretrained.tokenizer,
        template: pretrained.chat_template.as_ref(),
        truncation: Truncation::default(),
    };
    let dir = scratch("smollm2");
    assert_eq!(layouts.cases.len(), 11);
    for (i, case) in layouts.cases.iter().enumerate() {
        let (prompt, completions) = encode(&encoder, &dir, &case.row)
            .unwrap_or_else(|e| panic!("case {i}: {e}"))
            .unwrap();
        assert_eq!(
            prompt, case.prompt_ids,
            "case {i} ({}): prompt",
            case.trainer
        );
        assert_eq!(
            completions, case.completion_ids,
            "case {i} ({}): completions",
            case.trainer
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn fixture_tokenizer() -> TextTokenizer {
    TextTokenizer::from_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf/llama-tiny/tokenizer.json"),
    )
    .unwrap()
}

fn chat_template(source: &str) -> ChatTemplate {
    ChatTemplate {
        source: source.into(),
        bos_token: String::new(),
        eos_token: "</s>".into(),
    }
}

#[test]
fn length_limits_follow_trl_and_a_prompt_that_fills_max_length_drops_the_row() {
    let tokenizer = fixture_tokenizer();
    let dir = scratch("limits");
    let row = serde_json::json!({
        "prompt": "one two three four five six",
        "chosen": " seven eight nine",
        "rejected": " ten",
    });
    let plain = TrlEncoder {
        tokenizer: &tokenizer,
        template: None,
        truncation: Truncation::default(),
    };
    let (prompt, completions) = encode(&plain, &dir, &row).unwrap().unwrap();
    let eos = tokenizer.eos_text().unwrap();
    assert_eq!(
        completions[0].last(),
        tokenizer.encode(&eos).unwrap().last(),
        "completions end with eos"
    );
    // keep_start: prompt + completion keep their first max_length tokens.
    let max_length = prompt.len() + 2;
    let limited = TrlEncoder {
        truncation: Truncation {
            max_length: Some(max_length),
            ..Truncation::default()
        },
        ..plain
    };
    let (short_prompt, short) = encode(&limited, &dir, &row).unwrap().unwrap();
    assert_eq!(short_prompt, prompt);
    assert_eq!(short[0], completions[0][..2]);
    assert_eq!(short[1], completions[1][..completions[1].len().min(2)]);
    let filled = TrlEncoder {
        truncation: Truncation {
            max_length: Some(prompt.len()),
            ..Truncation::default()
        },
        ..plain
    };
    assert_eq!(encode(&filled, &dir, &row).unwrap(), None);
    // TRL 0.x's limits: a prompt's last tokens, a completion's first ones.
    let old = TrlEncoder {
        truncation: Truncation {
            max_prompt_length: Some(3),
            max_completion_length: Some(1),
            max_length: None,
        },
        ..plain
    };
    let (old_prompt, old_completions) = encode(&old, &dir, &row).unwrap().unwrap();
    assert_eq!(old_prompt, prompt[prompt.len() - 3..]);
    assert!(old_completions.iter().all(|c| c.len() == 1));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_conversation_without_a_template_or_with_a_failing_one_is_an_error_naming_the_row() {
    let tokenizer = fixture_tokenizer();
    let dir = scratch("template");
    let row = serde_json::json!({
        "prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}],
        "chosen": [{"role": "assistant", "content": "Hello"}],
        "rejected": [{"role": "assistant", "content": "Bye"}],
    });
    let none = TrlEncoder {
        tokenizer: &tokenizer,
        template: None,
        truncation: Truncation::default(),
    };
    let error = encode(&none, &dir, &row).unwrap_err();
    assert!(
        error.contains("row.jsonl: row 0: a conversational row needs a chat template"),
        "{error}"
    );
    let strict = chat_template(
        "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('system messages are not supported') }}{% endif %}\
         <{{ m.role }}> {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant> {% endif %}",
    );
    let failing = TrlEncoder {
        template: Some(&strict),
        ..none
    };
    let error = encode(&failing, &dir, &row).unwrap_err();
    assert!(
        error.contains("row.jsonl: row 0: prompt: tokenizer: chat template"),
        "{error}"
    );
    assert!(
        error.contains("system messages are not supported"),
        "{error}"
    );
    let plain = chat_template(
        "{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<assistant> {% endif %}",
    );
    let working = TrlEncoder {
        template: Some(&plain),
        ..none
    };
    let (prompt, completions) = encode(&working, &dir, &row).unwrap().unwrap();
    let rendered_prompt = tokenizer.encode("<system> Be kind.\n<user> Hi\n").unwrap();
    assert_eq!(prompt[..rendered_prompt.len()], rendered_prompt[..]);
    assert!(completions.iter().all(|c| !c.is_empty()));
    std::fs::remove_dir_all(&dir).unwrap();
}
