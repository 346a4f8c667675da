//! TRL's preference formats read unchanged from JSON Lines and Parquet (single files and Hub
//! dataset folders), this project's extension columns, the implicit prompt, and bad rows
//! refused with the file, row and column named.

mod common;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, LargeStringArray, StringArray};
use arrow::record_batch::RecordBatch;
use common::scratch;
use prefopt_data::parquet_io::{ParquetSink, WriteOptions};
use prefopt_data::synthetic::StatedStyleSpec;
use prefopt_data::trl::{
    Extras, Format, Message, PairedRow, Role, RowOrigin, Text, TrlDataset, TrlRows, write_parquet,
};
use serde_json::json;

fn jsonl(path: &Path, rows: &[serde_json::Value]) {
    let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(path, text).unwrap();
}

fn user(content: &str) -> serde_json::Value {
    json!({"role": "user", "content": content})
}

fn assistant(content: &str) -> serde_json::Value {
    json!({"role": "assistant", "content": content})
}

fn paired(dataset: &TrlDataset) -> &[PairedRow] {
    match &dataset.rows {
        TrlRows::Paired(rows) => rows,
        TrlRows::Unpaired(_) => panic!("expected paired rows"),
    }
}

fn message(role: Role, content: &str) -> Message {
    Message {
        role,
        content: content.into(),
    }
}

#[test]
fn standard_conversational_and_unpaired_rows_read_from_json_lines() {
    let dir = scratch("trl-jsonl");
    let standard = dir.join("standard.jsonl");
    jsonl(
        &standard,
        &[
            json!({"prompt": "The sky is", "chosen": " blue.", "rejected": " green.", "score": 3}),
            json!({"prompt": "Water is", "chosen": " wet.", "rejected": " dry."}),
        ],
    );
    let data = TrlDataset::read(&standard, "train").unwrap();
    assert_eq!(data.format, Format::Standard);
    let rows = paired(&data);
    assert_eq!(rows[1].prompt, Text::Plain("Water is".into()));
    assert_eq!(rows[1].rejected, vec![Text::Plain(" dry.".into())]);
    assert_eq!(
        rows[1].origin,
        RowOrigin {
            file: standard.clone(),
            row: 1
        }
    );

    let conversational = dir.join("conversational.jsonl");
    jsonl(
        &conversational,
        &[json!({
            "prompt": [{"role": "system", "content": "Be brief."}, user("Hi")],
            "chosen": [assistant("Hello.")],
            "rejected": [assistant("Go away.")],
        })],
    );
    let data = TrlDataset::read(&conversational, "train").unwrap();
    assert_eq!(data.format, Format::Conversational);
    let row = &paired(&data)[0];
    assert_eq!(
        row.prompt,
        Text::Conversation(vec![
            message(Role::System, "Be brief."),
            message(Role::User, "Hi")
        ])
    );
    assert_eq!(
        row.rejected,
        vec![Text::Conversation(vec![message(
            Role::Assistant,
            "Go away."
        )])]
    );

    let unpaired = dir.join("unpaired.jsonl");
    jsonl(
        &unpaired,
        &[
            json!({"prompt": [user("Hi")], "completion": [assistant("Hello.")], "label": true}),
            json!({"prompt": [user("Hi")], "completion": [assistant("No.")], "label": false, "ref_logp": -3.5}),
        ],
    );
    let data = TrlDataset::read(&unpaired, "train").unwrap();
    let TrlRows::Unpaired(rows) = &data.rows else {
        panic!("expected unpaired rows")
    };
    assert_eq!(
        (rows[0].label, rows[1].label, rows[1].extras.ref_chosen_logp),
        (true, false, Some(-3.5))
    );
}

#[test]
fn implicit_prompts_are_the_shared_beginning_as_trl_extracts_it() {
    let dir = scratch("trl-implicit");
    let path = dir.join("implicit.jsonl");
    jsonl(
        &path,
        &[json!({"chosen": "Human: hi Assistant: hello", "rejected": "Human: hi Assistant: bye"})],
    );
    let data = TrlDataset::read(&path, "train").unwrap();
    let row = &paired(&data)[0];
    assert!(row.implicit_prompt);
    assert_eq!(row.prompt, Text::Plain("Human: hi Assistant:".into()));
    assert_eq!(row.chosen, Text::Plain(" hello".into()));
    assert_eq!(row.rejected, vec![Text::Plain(" bye".into())]);

    let conversational = dir.join("implicit-chat.jsonl");
    jsonl(
        &conversational,
        &[
            json!({"chosen": [user("Hi"), assistant("Hello.")], "rejected": [user("Hi"), assistant("No.")]}),
        ],
    );
    let data = TrlDataset::read(&conversational, "train").unwrap();
    let row = &paired(&data)[0];
    assert_eq!(
        row.prompt,
        Text::Conversation(vec![message(Role::User, "Hi")])
    );
    assert_eq!(
        row.chosen,
        Text::Conversation(vec![message(Role::Assistant, "Hello.")])
    );
}

#[test]
fn k_rejected_and_the_extension_columns_are_read() {
    let dir = scratch("trl-extensions");
    let path = dir.join("k.jsonl");
    jsonl(
        &path,
        &[json!({
            "prompt": [user("Pick one")],
            "chosen": [assistant("A")],
            "rejected": [[assistant("B")], [assistant("C")], [assistant("D")]],
            "user_id": 7, "weight": 0.5, "smoothing": 0.1,
            "ref_chosen_logp": -1.0, "ref_rejected_logps": [-2.0, -3.0, -4.0],
        })],
    );
    let data = TrlDataset::read(&path, "train").unwrap();
    let row = &paired(&data)[0];
    assert_eq!(row.rejected.len(), 3);
    assert_eq!(
        row.extras,
        Extras {
            user_id: Some(7),
            weight: Some(0.5),
            smoothing: Some(0.1),
            ref_chosen_logp: Some(-1.0),
            ref_rejected_logps: Some(vec![-2.0, -3.0, -4.0]),
        }
    );
    let strings = dir.join("k-strings.jsonl");
    jsonl(
        &strings,
        &[json!({"prompt": "Q", "chosen": " a", "rejected": [" b", " c"]})],
    );
    let data = TrlDataset::read(&strings, "train").unwrap();
    assert_eq!(
        paired(&data)[0].rejected,
        vec![Text::Plain(" b".into()), Text::Plain(" c".into())]
    );
}

#[test]
fn parquet_files_and_hub_dataset_folders_read_like_json_lines() {
    let dir = scratch("trl-parquet");
    // What `datasets` writes for a conversational split, two part files in the Hub layout.
    let spec = StatedStyleSpec {
        train_rows: 20,
        test_rows: 6,
        negatives: 2,
        ..StatedStyleSpec::default()
    };
    assert_eq!(spec.write(&dir).unwrap(), (20, 6));
    let train = TrlDataset::read(&*dir, "train").unwrap();
    assert_eq!(train.format, Format::Conversational);
    assert_eq!(paired(&train).len(), 20);
    assert!(paired(&train).iter().all(|r| r.rejected.len() == 2));
    let test = TrlDataset::read(&*dir, "test").unwrap();
    assert_eq!(test.rows.len(), 6);
    // A written split reads back identically.
    let copy = dir.join("copy/data/train-00000-of-00002.parquet");
    write_parquet(&train.rows, train.format, &copy).unwrap();
    let second = dir.join("copy/data/train-00001-of-00002.parquet");
    write_parquet(&test.rows, test.format, &second).unwrap();
    let both = TrlDataset::read(dir.join("copy"), "train").unwrap();
    assert_eq!(both.files, vec![copy.clone(), second]);
    assert_eq!(both.rows.len(), 26);
    let first_part = TrlDataset::read(&copy, "ignored").unwrap();
    let strip = |rows: &[PairedRow]| -> Vec<(Text, Text, Vec<Text>)> {
        rows.iter()
            .map(|r| (r.prompt.clone(), r.chosen.clone(), r.rejected.clone()))
            .collect()
    };
    assert_eq!(strip(paired(&first_part)), strip(paired(&train)));
    // pyarrow writes large_string; Polars string views: both are strings.
    let standard = dir.join("standard.parquet");
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "prompt",
            Arc::new(LargeStringArray::from(vec!["The sky is"])),
        ),
        ("chosen", Arc::new(StringArray::from(vec![" blue."]))),
        ("rejected", Arc::new(StringArray::from(vec![" green."]))),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut sink =
        ParquetSink::create(&standard, batch.schema(), &WriteOptions::default()).unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
    let data = TrlDataset::read(&standard, "train").unwrap();
    assert_eq!(paired(&data)[0].chosen, Text::Plain(" blue.".into()));
}

#[test]
fn a_missing_split_names_what_was_looked_for() {
    let dir = scratch("trl-missing-split");
    StatedStyleSpec {
        train_rows: 2,
        test_rows: 2,
        ..StatedStyleSpec::default()
    }
    .write(&dir)
    .unwrap();
    let error = TrlDataset::read(&*dir, "validation")
        .unwrap_err()
        .to_string();
    assert!(error.contains("no `validation` split"), "{error}");
    assert!(error.contains("data/validation-*.parquet"), "{error}");
}

/// Each bad row is refused with its file, row and column.
#[test]
fn bad_rows_are_errors_naming_the_file_row_and_column() {
    let dir = scratch("trl-bad");
    let good = json!({"prompt": [user("Hi")], "chosen": [assistant("Yes.")], "rejected": [assistant("No.")]});
    let cases = [
        (
            json!({"prompt": "Hi", "chosen": " yes", "rejected": " no"}),
            "row 1, column `row`: this row is standard paired",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": [], "rejected": [assistant("No.")]}),
            "row 1, column `chosen`: an empty list of messages",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": [assistant("  ")], "rejected": [assistant("No.")]}),
            "row 1, column `chosen`: message 0 has empty content",
        ),
        (
            json!({"prompt": [{"role": "narrator", "content": "Hi"}], "chosen": [assistant("Yes.")], "rejected": [assistant("No.")]}),
            "row 1, column `prompt`: message 0 has the unknown role `narrator`",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": "Yes.", "rejected": [assistant("No.")]}),
            "row 1, column `rejected`: is conversational but the row's other texts are standard",
        ),
        (
            json!({"question": "Hi", "answer": "Yes."}),
            "row 1, column `row`: fits no TRL preference format",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": [assistant("Yes.")], "completion": [assistant("No.")], "label": true}),
            "holds both paired (chosen/rejected) and unpaired (completion/label) columns",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": [assistant("Yes.")], "rejected": [assistant("No.")], "ref_chosen_logp": -1.0, "ref_rejected_logps": [-1.0, -2.0]}),
            "column `ref_rejected_logps`: 2 values for 1 rejected completions",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": [assistant("Yes.")], "rejected": [assistant("No.")], "smoothing": 0.9}),
            "column `smoothing`: 0.9 is outside [0, 0.5]",
        ),
        (
            json!({"prompt": [user("Hi")], "chosen": [assistant("Yes.")]}),
            "column `rejected`: missing (or null)",
        ),
    ];
    for (i, (bad, expected)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("bad-{i}.jsonl"));
        jsonl(&path, &[good.clone(), bad]);
        let error = TrlDataset::read(&path, "train").unwrap_err().to_string();
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains(expected), "case {i}: {error}");
    }
    let unpaired = dir.join("unpaired-label.jsonl");
    jsonl(
        &unpaired,
        &[json!({"prompt": "Hi", "completion": " yes", "label": 1})],
    );
    let error = TrlDataset::read(&unpaired, "train")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("row 0, column `label`: expected a boolean"),
        "{error}"
    );
    let no_prompt = dir.join("unpaired-no-prompt.jsonl");
    jsonl(&no_prompt, &[json!({"completion": " yes", "label": true})]);
    let error = TrlDataset::read(&no_prompt, "train")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("unpaired rows (completion/label) need a prompt"),
        "{error}"
    );
    let not_json = dir.join("broken.jsonl");
    std::fs::write(
        &not_json,
        "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{oops\n",
    )
    .unwrap();
    let error = TrlDataset::read(&not_json, "train")
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 2"), "{error}");
}

#[test]
fn a_held_out_sample_is_seeded_and_disjoint() {
    let dir = scratch("trl-hold-out");
    StatedStyleSpec {
        train_rows: 40,
        test_rows: 2,
        ..StatedStyleSpec::default()
    }
    .write(&dir)
    .unwrap();
    let read = || TrlDataset::read(&*dir, "train").unwrap();
    let (mut a, mut b) = (read(), read());
    let (held_a, held_b) = (a.hold_out(10, 3), b.hold_out(10, 3));
    assert_eq!(held_a, held_b);
    assert_eq!((a.rows.len(), held_a.rows.len()), (30, 10));
    let rows = |d: &TrlDataset| -> Vec<u64> { paired(d).iter().map(|r| r.origin.row).collect() };
    let kept = rows(&a);
    assert!(rows(&held_a).iter().all(|r| !kept.contains(r)));
    assert!(kept.windows(2).all(|w| w[0] < w[1]), "file order is kept");
}
