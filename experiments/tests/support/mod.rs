//! Fixtures shared by the end-to-end test files (each includes this module; a file that uses
//! only some of them leaves the rest unused).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The models crate's Llama fixture with a chat template, under `out`.
pub fn chat_checkpoint(out: &Path) -> PathBuf {
    let checkpoint = llama_copy(out);
    write_chat_template(&checkpoint);
    checkpoint
}

/// A copy of the models crate's Llama fixture in `out/llama-tiny`.
pub fn llama_copy(out: &Path) -> PathBuf {
    let checkpoint = out.join("llama-tiny");
    std::fs::create_dir_all(&checkpoint).unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/models/tests/fixtures/hf/llama-tiny");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, checkpoint.join(path.file_name().unwrap())).unwrap();
    }
    checkpoint
}

/// A `tokenizer_config.json` with a small chat template (`<role> content` lines) and `</s>`
/// as end of turn, in `checkpoint`.
pub fn write_chat_template(checkpoint: &Path) {
    std::fs::write(
        checkpoint.join("tokenizer_config.json"),
        serde_json::json!({
            "chat_template": "{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}\
                              {% if add_generation_prompt %}<assistant> {% endif %}",
            "eos_token": "</s>",
        })
        .to_string(),
    )
    .unwrap();
}

/// `prefopt data generate stated-style` with one style (a preference the fixture learns in a
/// few updates) and `extra` arguments.
pub fn generate(out: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let dir = out.join(name);
    let mut args = vec![
        "data",
        "generate",
        "stated-style",
        "--output",
        dir.to_str().unwrap(),
        "--rows",
        "48",
        "--test-rows",
        "24",
        "--styles",
        "capitals",
    ];
    args.extend_from_slice(extra);
    let output = Command::new(env!("CARGO_BIN_EXE_prefopt"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}
