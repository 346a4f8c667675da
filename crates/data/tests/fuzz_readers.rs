//! Corrupted inputs for every reader of this crate: each case breaks a valid file (bytes
//! truncated, flipped, overwritten with extreme integers, garbage inserted; JSON values
//! replaced by other types, extreme numbers, enormous strings, deep nests) and the reader must
//! answer with an error that names the file — never a panic.
//!
//! `PREFOPT_FUZZ_CASES` sets the cases per reader (default 2,000, what `cargo test` runs);
//! the long run of docs/reliability.md uses 100,000.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use common::scratch;
use prefopt_data::corrupt::Corruptor;
use prefopt_data::synthetic::StatedStyleSpec;
use prefopt_data::trl::{Format, TrlDataset};
use prefopt_data::{PreferenceDataset, ReadOptions};

fn cases() -> usize {
    std::env::var("PREFOPT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// What a reader made of one input.
#[derive(PartialEq)]
enum Outcome {
    Read,
    Error,
    /// The Parquet decoder panicked inside and the reader turned it into an error.
    DecoderPanic,
}

/// Runs `read` on `path` after writing `bytes` there: a panic fails the test with the case,
/// an error must name the file.
fn check(
    path: &Path,
    bytes: &[u8],
    case: usize,
    read: &dyn Fn(&Path) -> Result<usize, String>,
) -> Outcome {
    std::fs::write(path, bytes).unwrap();
    match catch_unwind(AssertUnwindSafe(|| read(path))) {
        Ok(Ok(_)) => Outcome::Read,
        Ok(Err(message)) => {
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(
                message.contains(name.as_ref()),
                "case {case}: the error does not name the file: {message}"
            );
            if message.contains("corrupt Parquet file") {
                Outcome::DecoderPanic
            } else {
                Outcome::Error
            }
        }
        Err(_) => {
            let kept = path.with_extension(format!("panic-{case}"));
            std::fs::copy(path, &kept).unwrap();
            panic!(
                "case {case}: the reader panicked (input kept in {})",
                kept.display()
            );
        }
    }
}

/// Runs every case of one reader and prints what became of them.
fn fuzz(
    name: &str,
    valid: &[u8],
    file: &Path,
    mutate: &mut dyn FnMut(&mut Corruptor, &[u8]) -> Vec<u8>,
    read: &dyn Fn(&Path) -> Result<usize, String>,
) {
    assert!(
        check(file, valid, usize::MAX, read) == Outcome::Read,
        "{name}: the valid input reads"
    );
    let mut corruptor = Corruptor::new(name.len() as u64);
    let (mut accepted, mut caught) = (0, 0);
    let total = cases();
    for case in 0..total {
        let bytes = mutate(&mut corruptor, valid);
        match check(file, &bytes, case, read) {
            Outcome::Read => accepted += 1,
            Outcome::DecoderPanic => caught += 1,
            Outcome::Error => {}
        }
    }
    eprintln!(
        "{name}: {total} corrupted inputs, {accepted} still read, {caught} decoder panics \
         turned into errors, none escaped"
    );
}

fn trl_read(path: &Path) -> Result<usize, String> {
    TrlDataset::read(path, "train")
        .map(|d| d.rows.len())
        .map_err(|e| e.to_string())
}

#[test]
fn trl_json_lines_survive_corrupted_rows_and_bytes() {
    let dir = scratch("fuzz-trl-jsonl");
    let rows = [
        serde_json::json!({"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                           "chosen": [{"role": "assistant", "content": "Hello."}],
                           "rejected": [[{"role": "assistant", "content": "No."}], [{"role": "assistant", "content": "Go."}]],
                           "user_id": 3, "weight": 0.5, "smoothing": 0.1,
                           "ref_chosen_logp": -1.0, "ref_rejected_logps": [-2.0, -3.0]}),
        serde_json::json!({"prompt": [{"role": "user", "content": "2+2?"}],
                           "chosen": [{"role": "assistant", "content": "4"}],
                           "rejected": [[{"role": "assistant", "content": "5"}], [{"role": "assistant", "content": "6"}]]}),
    ];
    let valid: Vec<u8> = rows
        .iter()
        .map(|r| format!("{r}\n"))
        .collect::<String>()
        .into_bytes();
    let file = dir.join("rows.jsonl");
    let mut structured = 0usize;
    fuzz(
        "trl-jsonl",
        &valid,
        &file,
        &mut |c, bytes| {
            structured += 1;
            if structured.is_multiple_of(2) {
                c.bytes(bytes)
            } else {
                rows.iter()
                    .map(|r| format!("{}\n", c.json(r)))
                    .collect::<String>()
                    .into_bytes()
            }
        },
        &trl_read,
    );
}

/// The bytes of a small conversational TRL split (K = 2) as the generator writes it in `dir`.
fn trl_parquet(dir: &Path) -> Vec<u8> {
    StatedStyleSpec {
        train_rows: 6,
        test_rows: 2,
        negatives: 2,
        format: Format::Conversational,
        ..StatedStyleSpec::default()
    }
    .write(dir)
    .unwrap();
    std::fs::read(dir.join("data/train-00000-of-00001.parquet")).unwrap()
}

#[test]
fn trl_parquet_survives_corrupted_bytes() {
    let dir = scratch("fuzz-trl-parquet");
    let valid = trl_parquet(&dir);
    let file = dir.join("train.parquet");
    fuzz(
        "trl-parquet",
        &valid,
        &file,
        &mut |c, b| c.bytes(b),
        &trl_read,
    );
}

#[test]
fn preference_parquet_survives_corrupted_bytes() {
    let dir = scratch("fuzz-preference-parquet");
    let source =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/rec-small/test.parquet");
    let valid = std::fs::read(&source).unwrap();
    let file = dir.join("test.parquet");
    fuzz(
        "preference-parquet",
        &valid,
        &file,
        &mut |c, b| c.bytes(b),
        &|path| {
            PreferenceDataset::open(path)
                .and_then(|d| d.read_all(ReadOptions::default()))
                .map(|(records, _)| records.len())
                .map_err(|e| e.to_string())
        },
    );
}

/// The first corrupted inputs on which the `parquet` crate panicked inside (found by the
/// fuzz runs above, regenerated here from their seeds): each is now an error naming the file.
#[test]
fn inputs_that_made_the_parquet_decoder_panic_are_errors() {
    let dir = scratch("fuzz-regressions");
    let corrupted = |name: &str, valid: &[u8], case: usize| -> Vec<u8> {
        let mut corruptor = Corruptor::new(name.len() as u64);
        let mut bytes = Vec::new();
        for _ in 0..=case {
            bytes = corruptor.bytes(valid);
        }
        bytes
    };
    let preference = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/rec-small/test.parquet"),
    )
    .unwrap();
    let file = dir.join("test.parquet");
    std::fs::write(&file, corrupted("preference-parquet", &preference, 7667)).unwrap();
    let error = PreferenceDataset::open(&file)
        .and_then(|d| d.read_all(ReadOptions::default()))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("test.parquet: corrupt Parquet file"),
        "{error}"
    );

    let trl = trl_parquet(&dir.join("style"));
    let file = dir.join("train.parquet");
    std::fs::write(&file, corrupted("trl-parquet", &trl, 9798)).unwrap();
    let error = trl_read(&file).unwrap_err();
    assert!(
        error.contains("train.parquet: corrupt Parquet file"),
        "{error}"
    );
}
