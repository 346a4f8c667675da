//! Corrupted Hugging Face checkpoint folders and PEFT adapters (the Llama fixture with one
//! file at a time broken by `prefopt_data::corrupt`: `config.json` and `tokenizer.json` as
//! JSON values and as bytes, `model.safetensors` and the adapter's files as bytes; a sharded
//! checkpoint's `model.safetensors.index.json` and one shard): loading
//! answers with an error naming the folder or file, never a panic. `PREFOPT_FUZZ_CASES` sets
//! the cases per file (default 200: a load reads the whole fixture).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};
use prefopt_data::corrupt::Corruptor;
use prefopt_models::lora::load_peft;
use prefopt_models::pretrained::Pretrained;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

fn cases() -> usize {
    std::env::var("PREFOPT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

/// Breaks `file` of `folder` `cases()` times (restoring it after each) and runs `load`.
/// `PREFOPT_FUZZ_FILES=<name>,…` limits a long run to some files.
fn fuzz_file(folder: &Path, file: &str, as_json: bool, load: &dyn Fn() -> Result<(), String>) {
    if std::env::var("PREFOPT_FUZZ_FILES").is_ok_and(|only| !only.split(',').any(|f| f == file)) {
        return;
    }
    let path = folder.join(file);
    let valid = std::fs::read(&path).unwrap();
    let json: Option<serde_json::Value> = as_json.then(|| serde_json::from_slice(&valid).unwrap());
    let mut corruptor = Corruptor::new(file.len() as u64);
    let (mut accepted, total) = (0, cases());
    for case in 0..total {
        let bytes = match &json {
            Some(value) if case % 2 == 0 => serde_json::to_vec(&corruptor.json(value)).unwrap(),
            _ => corruptor.bytes(&valid),
        };
        std::fs::write(&path, &bytes).unwrap();
        match catch_unwind(AssertUnwindSafe(load)) {
            Ok(Ok(())) => accepted += 1,
            Ok(Err(message)) => assert!(
                message.contains(&folder.display().to_string()) || message.contains(file),
                "{file}, case {case}: the error names neither the folder nor the file: {message}"
            ),
            Err(_) => {
                let kept = folder.with_extension(format!("panic-{case}"));
                std::fs::write(&kept, &bytes).unwrap();
                panic!(
                    "{file}, case {case}: loading panicked (input kept in {})",
                    kept.display()
                );
            }
        }
    }
    std::fs::write(&path, &valid).unwrap();
    eprintln!("{file}: {total} corrupted files, {accepted} still loaded, none panicked");
}

#[test]
fn corrupted_checkpoint_files_are_errors() {
    let dir = std::env::temp_dir().join(format!("prefopt-fuzz-checkpoint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let folder = dir.join("llama-tiny");
    copy_folder(&fixture("llama-tiny"), &folder);
    let load = || {
        Pretrained::load(&folder, &Device::flex(), DType::F32)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(load(), Ok(()));
    fuzz_file(&folder, "config.json", true, &load);
    fuzz_file(&folder, "tokenizer.json", true, &load);
    fuzz_file(&folder, "model.safetensors", false, &load);

    // A sharded checkpoint: the index (JSON values and bytes) and one of its shards.
    let sharded = dir.join("llama-tiny-sharded");
    copy_folder(&fixture("llama-tiny-sharded"), &sharded);
    let load_sharded = || {
        Pretrained::load(&sharded, &Device::flex(), DType::F32)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(load_sharded(), Ok(()));
    fuzz_file(
        &sharded,
        "model.safetensors.index.json",
        true,
        &load_sharded,
    );
    fuzz_file(
        &sharded,
        "model-00003-of-00007.safetensors",
        false,
        &load_sharded,
    );

    let adapter = dir.join("llama-tiny-lora");
    copy_folder(&fixture("llama-tiny-lora"), &adapter);
    let base = Pretrained::load(&fixture("llama-tiny"), &Device::flex(), DType::F32)
        .unwrap()
        .model;
    let load_adapter = || {
        load_peft(base.clone(), &adapter)
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(load_adapter(), Ok(()));
    fuzz_file(&adapter, "adapter_config.json", true, &load_adapter);
    fuzz_file(&adapter, "adapter_model.safetensors", false, &load_adapter);
    std::fs::remove_dir_all(&dir).unwrap();
}
