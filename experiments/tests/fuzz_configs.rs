//! Corrupted TOML configs (every file of `experiments/configs/` broken by
//! `prefopt_data::corrupt`): reading one answers with an error naming the file, never a panic.
//! `PREFOPT_FUZZ_CASES` sets the byte-level cases per file (default 500),
//! `PREFOPT_FUZZ_TEXT_CASES` the text-level ones (NaN, ±inf, overflowing numbers; default 500).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use prefopt_data::corrupt::Corruptor;
use prefopt_experiments::config::ExperimentConfig;

#[test]
fn corrupted_configs_are_errors_naming_the_file() {
    let cases = std::env::var("PREFOPT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500usize);
    let dir = std::env::temp_dir().join(format!("prefopt-fuzz-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let configs = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let mut files: Vec<_> = std::fs::read_dir(&configs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for source in &files {
        let valid = std::fs::read(source).unwrap();
        let name = source.file_name().unwrap().to_string_lossy().into_owned();
        let path = dir.join(&name);
        let mut corruptor = Corruptor::new(name.len() as u64);
        let mut accepted = 0;
        let text_cases = std::env::var("PREFOPT_FUZZ_TEXT_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500usize);
        for case in 0..cases + text_cases {
            let bytes = if case < cases {
                corruptor.bytes(&valid)
            } else {
                corruptor.text(&valid)
            };
            std::fs::write(&path, &bytes).unwrap();
            match catch_unwind(AssertUnwindSafe(|| ExperimentConfig::from_file(&path))) {
                Ok(Ok(_)) => accepted += 1,
                Ok(Err(e)) => {
                    let message = e.to_string();
                    assert!(message.contains(&name), "{name}, case {case}: {message}");
                }
                Err(_) => panic!("{name}, case {case}: reading the config panicked"),
            }
        }
        eprintln!(
            "{name}: {cases} + {text_cases} (text-level) corrupted configs, {accepted} still \
             read, none panicked"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
