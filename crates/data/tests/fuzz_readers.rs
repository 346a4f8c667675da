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
/// an error must name the file (or, for a converter, the input it was given: a log that loads
/// but cannot be converted names its input as a whole).
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
            let folder = path.parent().unwrap().to_string_lossy();
            let converting = format!("converting {folder}");
            assert!(
                message.contains(name.as_ref()) || message.starts_with(&converting),
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
    std::fs::write(file, valid).unwrap();
    if let Err(e) = read(file) {
        panic!("{name}: the valid input does not read: {e}");
    }
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

/// NaN, ±inf, overflowing numbers and repeated keys in TRL JSON lines.
#[test]
fn trl_json_lines_survive_special_numbers_and_repeated_keys() {
    let dir = scratch("fuzz-trl-jsonl-text");
    let valid = concat!(
        r#"{"prompt": "Hi", "chosen": "Hello.", "rejected": ["No.", "Go."], "user_id": 3, "weight": 0.5, "smoothing": 0.1, "ref_chosen_logp": -1.0, "ref_rejected_logps": [-2.0, -3.0]}"#,
        "\n",
        r#"{"prompt": "2+2?", "chosen": "4", "rejected": ["5", "6"], "user_id": 4, "weight": 1.0, "smoothing": 0.2, "ref_chosen_logp": -0.5, "ref_rejected_logps": [-1.5, -2.5]}"#,
        "\n"
    )
    .as_bytes();
    let file = dir.join("rows.jsonl");
    let mut corruptor = Corruptor::new(11);
    let mut accepted = 0;
    for case in 0..text_cases() {
        if check(&file, &corruptor.text(valid), case, &trl_read) == Outcome::Read {
            accepted += 1;
        }
    }
    eprintln!(
        "trl-jsonl text-level: {} corrupted inputs, {accepted} still read, none panicked",
        text_cases()
    );
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

/// One interaction of the fuzzed logs: user, item, rating, time.
type LogRow = (usize, usize, usize, usize);

/// A small log in one of the converters' formats: its files (name, valid bytes) in `dir`.
struct LogCase {
    format: prefopt_data::logs::LogFormat,
    files: Vec<(&'static str, Vec<u8>)>,
}

fn log_cases() -> Vec<LogCase> {
    use prefopt_data::logs::LogFormat;
    // 8 users × 7 interactions over 12 items, increasing timestamps.
    let rows: Vec<LogRow> = (1..=8)
        .flat_map(|u| {
            (0..7).map(move |s| {
                (
                    u,
                    1 + (u * 5 + s * 3) % 12,
                    1 + (u + s) % 5,
                    900 + s * 60 + u,
                )
            })
        })
        .collect();
    let text = |line: &dyn Fn(&LogRow) -> String| -> Vec<u8> {
        rows.iter().map(line).collect::<String>().into_bytes()
    };
    let items = |line: &dyn Fn(usize) -> String| -> Vec<u8> {
        (1..=12).map(line).collect::<String>().into_bytes()
    };
    vec![
        LogCase {
            format: LogFormat::MovieLens100K,
            files: vec![
                (
                    "u.data",
                    text(&|(u, i, r, t)| format!("{u}\t{i}\t{r}\t{t}\n")),
                ),
                (
                    "u.item",
                    items(&|i| format!("{i}|Film {i} (1995)|01-Jan-1995||http://x|0|1\n")),
                ),
            ],
        },
        LogCase {
            format: LogFormat::MovieLens1M,
            files: vec![
                (
                    "ratings.dat",
                    text(&|(u, i, r, t)| format!("{u}::{i}::{r}::{t}\n")),
                ),
                (
                    "movies.dat",
                    items(&|i| format!("{i}::Film {i} (1995)::Comedy|Drama\n")),
                ),
            ],
        },
        LogCase {
            format: LogFormat::MovieLens20M,
            files: vec![
                (
                    "ratings.csv",
                    [
                        b"userId,movieId,rating,timestamp\n".to_vec(),
                        text(&|(u, i, r, t)| format!("{u},{i},{r}.5,{t}\n")),
                    ]
                    .concat(),
                ),
                (
                    "movies.csv",
                    [
                        b"movieId,title,genres\n".to_vec(),
                        items(&|i| format!("{i},\"Film, {i} (1995)\",Comedy\n")),
                    ]
                    .concat(),
                ),
            ],
        },
        LogCase {
            format: LogFormat::Amazon,
            files: vec![
                (
                    "Movies.jsonl",
                    text(&|(u, i, r, t)| {
                        format!(
                            "{{\"reviewerID\": \"A{u}\", \"asin\": \"B{i}\", \"overall\": {r}.0, \"unixReviewTime\": {t}}}\n"
                        )
                    }),
                ),
                (
                    "meta_Movies.jsonl",
                    items(&|i| format!("{{\"asin\": \"B{i}\", \"title\": \"Film {i}\"}}\n")),
                ),
            ],
        },
        LogCase {
            format: LogFormat::LastFm,
            files: vec![
                (
                    "user_artists.dat",
                    [
                        b"userID\tartistID\tweight\n".to_vec(),
                        text(&|(u, i, r, _)| format!("{u}\t{i}\t{}\n", r * 100)),
                    ]
                    .concat(),
                ),
                (
                    "artists.dat",
                    [
                        b"id\tname\turl\tpictureURL\n".to_vec(),
                        items(&|i| format!("{i}\tBand {i}\thttp://x\thttp://y\n")),
                    ]
                    .concat(),
                ),
            ],
        },
        LogCase {
            format: LogFormat::Goodreads,
            files: vec![
                (
                    "goodreads_interactions_x.json",
                    text(&|(u, i, r, t)| {
                        format!(
                            "{{\"user_id\": \"{u:032x}\", \"book_id\": \"{i}\", \"rating\": {r}, \"date_added\": \"Mon Jan {:02} 10:{:02}:00 -0700 2012\"}}\n",
                            1 + (t / 60) % 28,
                            t % 60
                        )
                    }),
                ),
                (
                    "goodreads_books_x.json",
                    items(&|i| format!("{{\"book_id\": \"{i}\", \"title\": \"Book {i}\"}}\n")),
                ),
            ],
        },
        LogCase {
            format: LogFormat::Interactions,
            files: vec![
                ("log.parquet", parquet_log(&rows)),
                (
                    "items.csv",
                    [
                        b"item_id,title\n".to_vec(),
                        items(&|i| format!("{i},Item {i}\n")),
                    ]
                    .concat(),
                ),
            ],
        },
        LogCase {
            format: LogFormat::Interactions,
            files: vec![
                (
                    "log.csv",
                    [
                        b"user_id,item_id,rating,timestamp\n".to_vec(),
                        text(&|(u, i, r, t)| format!("{u},{i},{r},{t}\n")),
                    ]
                    .concat(),
                ),
                (
                    "items.csv",
                    [
                        b"item_id,title\n".to_vec(),
                        items(&|i| format!("{i},Item {i}\n")),
                    ]
                    .concat(),
                ),
            ],
        },
    ]
}

/// `user_id, item_id, rating, timestamp` rows as a Parquet interaction log.
fn parquet_log(rows: &[LogRow]) -> Vec<u8> {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use std::sync::Arc;
    let column = |f: fn(&LogRow) -> usize| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| f(r) as i64),
        ))
    };
    let batch = RecordBatch::try_from_iter([
        ("user_id", column(|r| r.0)),
        ("item_id", column(|r| r.1)),
        ("rating", column(|r| r.2)),
        ("timestamp", column(|r| r.3)),
    ])
    .unwrap();
    let dir = scratch("fuzz-log-parquet-source");
    let path = dir.join("log.parquet");
    let mut sink =
        prefopt_data::parquet_io::ParquetSink::create(&path, batch.schema(), &Default::default())
            .unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
    std::fs::read(&path).unwrap()
}

/// Text-level cases per text reader: `PREFOPT_FUZZ_TEXT_CASES` (default 500).
fn text_cases() -> usize {
    std::env::var("PREFOPT_FUZZ_TEXT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Cases per converter format: `PREFOPT_FUZZ_LOG_CASES` (default 500; each case converts the
/// whole log, about 1.5 ms).
fn log_cases_per_format() -> usize {
    std::env::var("PREFOPT_FUZZ_LOG_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500)
}

/// Every converter format, one of its files corrupted per case, loaded and converted whole.
#[test]
fn interaction_logs_survive_corrupted_files() {
    use prefopt_data::convert::{ConvertConfig, convert_source};
    use prefopt_data::logs::{LogFormat, LogSource};
    use prefopt_data::progress::NoProgress;
    // `PREFOPT_FUZZ_LOG_ONLY=goodreads,interactions` limits a long run to some formats.
    let only = std::env::var("PREFOPT_FUZZ_LOG_ONLY").ok();
    for case in log_cases() {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|f| f == case.format.name()))
        {
            continue;
        }
        let name = format!("{}-{}", case.format.name(), case.files[0].0);
        let dir = scratch(&format!("fuzz-log-{name}"));
        let case_files = &case.files;
        for (file, bytes) in case_files {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        // The folder for the formats that find their files in it, else the two files.
        let source = match case.format {
            LogFormat::Amazon | LogFormat::Goodreads | LogFormat::Interactions => {
                LogSource::new(case.format, dir.join(case.files[0].0))
                    .with_items(dir.join(case.files[1].0))
            }
            _ => LogSource::new(case.format, &*dir),
        };
        let config = ConvertConfig {
            candidates: 5,
            history: 4,
            min_history: 2,
            ..ConvertConfig::default()
        };
        let output = dir.join("out");
        let read = |_: &Path| -> Result<usize, String> {
            convert_source(&source, &config, &output, &mut NoProgress)
                .map(|summary| summary.rows.values().sum::<u64>() as usize)
                .map_err(|e| e.to_string())
        };
        // Each case corrupts one of the format's files in turn, the others whole.
        let valid = convert_source(&source, &config, &output, &mut NoProgress);
        assert!(valid.is_ok(), "{name}: the valid log converts: {valid:?}");
        let mut corruptor = Corruptor::new(name.len() as u64);
        let (total, mut accepted) = (log_cases_per_format(), 0);
        let text_cases = text_cases();
        for case in 0..total + text_cases {
            let (file, valid) = &case_files[case % case_files.len()];
            let path = dir.join(file);
            // Byte-level cases, then text-level ones (NaN, ±inf, overflowing numbers, repeated
            // JSON keys) for the text files.
            let bytes = if case < total || file.ends_with(".parquet") {
                corruptor.bytes(valid)
            } else {
                corruptor.text(valid)
            };
            if check(&path, &bytes, case, &read) == Outcome::Read {
                accepted += 1;
            }
            std::fs::write(&path, valid).unwrap();
        }
        eprintln!(
            "{name}: {total} + {text_cases} (text-level) corrupted inputs over {} files, \
             {accepted} still converted, none panicked",
            case_files.len()
        );
    }
}
