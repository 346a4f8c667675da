//! Reading and writing the preference schema: round trips, TRL files, part folders, codecs,
//! atomic writes, and every validation error naming file, row and column.

mod common;

use common::scratch;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float32Array, Int32Array, LargeStringArray, ListBuilder, StringArray, StringBuilder,
};
use arrow::record_batch::RecordBatch;
use prefopt_data::parquet_io::{ParquetSink, records_to_batch};
use prefopt_data::validate::Rules;
use prefopt_data::{
    Codec, Columns, DataError, InvalidRows, PreferenceDataset, PreferenceRecord, PreferenceWriter,
    ReadOptions, WriteOptions,
};

fn full_record(i: i64) -> PreferenceRecord {
    PreferenceRecord {
        prompt: format!("prompt {i} with ünïcode"),
        chosen: format!("chosen {i}"),
        rejected: vec![format!("rejected {i}a"), format!("rejected {i}b")],
        user_id: Some(i % 7),
        chosen_item: Some(i),
        rejected_items: Some(vec![i + 100, i + 200]),
        history_items: Some((0..(i % 4)).collect()),
        candidate_items: Some(vec![i + 200, i, i + 100]),
        weight: Some(0.5 + i as f32),
        smoothing: Some(0.1),
        ref_chosen_logp: Some(-1.5 * i as f64),
        ref_rejected_logps: Some(vec![-2.0, -3.25]),
    }
}

/// Writes records without validation (to produce invalid files on purpose).
fn write_unchecked(path: &Path, records: &[PreferenceRecord], columns: Columns) {
    let schema = columns.arrow_schema();
    let batch = records_to_batch(records, schema.clone(), columns).unwrap();
    let mut sink = ParquetSink::create(path, schema, &WriteOptions::default()).unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
}

fn write_batch(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut sink = ParquetSink::create(path, batch.schema(), &WriteOptions::default()).unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
}

#[test]
fn every_column_round_trips_through_every_codec() {
    let dir = scratch("roundtrip");
    let records: Vec<_> = (0..2500).map(full_record).collect();
    for codec in [
        Codec::Snappy,
        Codec::Zstd(3),
        Codec::Gzip(6),
        Codec::Brotli(3),
        Codec::Uncompressed,
    ] {
        let path = dir.join(format!("{codec:?}.parquet"));
        let options = WriteOptions {
            codec,
            batch_rows: 1000,
            row_group_rows: 700,
        };
        let mut writer = PreferenceWriter::create(&path, Columns::all(), &options).unwrap();
        for record in &records {
            writer.write(record.clone()).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), 2500);
        let dataset = PreferenceDataset::open(&path).unwrap();
        assert_eq!(dataset.num_rows().unwrap(), 2500);
        assert_eq!(dataset.columns().unwrap(), Columns::all());
        let read_options = ReadOptions {
            batch_rows: 333,
            ..ReadOptions::default()
        };
        let batches: Vec<_> = dataset
            .reader(read_options)
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            batches.len() >= 8,
            "streamed in batches, got {}",
            batches.len()
        );
        let back: Vec<_> = batches.into_iter().flatten().collect();
        assert_eq!(back, records, "codec {codec:?}");
    }
}

#[test]
fn trl_pairwise_files_read_unchanged() {
    let dir = scratch("trl");
    let path = dir.join("trl.parquet");
    // pyarrow writes large_string; TRL files have extra columns the reader must ignore.
    write_batch(
        &path,
        vec![
            (
                "prompt",
                Arc::new(LargeStringArray::from(vec!["Q1", "Q2"])) as ArrayRef,
            ),
            (
                "chosen",
                Arc::new(LargeStringArray::from(vec!["good", "fine"])),
            ),
            (
                "rejected",
                Arc::new(LargeStringArray::from(vec!["bad", "poor"])),
            ),
            ("score_chosen", Arc::new(Float32Array::from(vec![9.0, 8.0]))),
        ],
    );
    let (records, report) = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap();
    assert_eq!(report.rows_read, 2);
    assert_eq!(records[0].prompt, "Q1");
    assert_eq!(records[1].rejected, vec!["poor".to_string()]);
    assert_eq!(records[1].user_id, None);
}

#[test]
fn folder_of_part_files_reads_in_order_and_skips_markers() {
    let dir = scratch("parts");
    let all: Vec<_> = (0..30).map(full_record).collect();
    // Spark-style names, a Hive partition, and markers that must be ignored.
    write_unchecked(
        &dir.join("part-00000-abc.snappy.parquet"),
        &all[..10],
        Columns::all(),
    );
    std::fs::create_dir_all(dir.join("split=b")).unwrap();
    write_unchecked(
        &dir.join("split=b/part-00001.parquet"),
        &all[20..],
        Columns::all(),
    );
    write_unchecked(
        &dir.join("part-00000-xyz.snappy.parquet"),
        &all[10..20],
        Columns::all(),
    );
    std::fs::write(dir.join("_SUCCESS"), b"").unwrap();
    std::fs::write(dir.join(".part-00000.crc"), b"junk").unwrap();
    let dataset = PreferenceDataset::open(&dir).unwrap();
    assert_eq!(dataset.files().len(), 3);
    let (records, _) = dataset.read_all(ReadOptions::default()).unwrap();
    assert_eq!(records, all);

    let empty = scratch("parts-empty");
    assert!(matches!(
        PreferenceDataset::open(&empty),
        Err(DataError::MissingInput { .. })
    ));
}

#[test]
fn narrow_and_view_types_are_accepted() {
    let dir = scratch("types");
    let path = dir.join("types.parquet");
    let mut rejected = ListBuilder::new(StringBuilder::new());
    rejected.values().append_value("r1");
    rejected.values().append_value("r2");
    rejected.append(true);
    write_batch(
        &path,
        vec![
            ("prompt", Arc::new(StringArray::from(vec!["p"])) as ArrayRef),
            ("chosen", Arc::new(StringArray::from(vec!["c"]))),
            ("rejected", Arc::new(rejected.finish())),
            ("user_id", Arc::new(Int32Array::from(vec![3]))),
        ],
    );
    let (records, _) = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap();
    assert_eq!(records[0].rejected, vec!["r1", "r2"]);
    assert_eq!(records[0].user_id, Some(3));
}

#[test]
fn schema_errors_name_file_and_column() {
    let dir = scratch("schema-errors");
    let missing = dir.join("missing.parquet");
    write_batch(
        &missing,
        vec![
            ("prompt", Arc::new(StringArray::from(vec!["p"])) as ArrayRef),
            ("chosen", Arc::new(StringArray::from(vec!["c"]))),
        ],
    );
    let error = PreferenceDataset::open(&missing)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap_err();
    assert!(matches!(&error, DataError::MissingColumn { column, .. } if column == "rejected"));
    let message = error.to_string();
    assert!(
        message.contains("missing.parquet") && message.contains("`rejected`"),
        "{message}"
    );

    let mistyped = dir.join("mistyped.parquet");
    write_batch(
        &mistyped,
        vec![
            ("prompt", Arc::new(Int32Array::from(vec![1])) as ArrayRef),
            ("chosen", Arc::new(StringArray::from(vec!["c"]))),
            ("rejected", Arc::new(StringArray::from(vec!["r"]))),
        ],
    );
    let error = PreferenceDataset::open(&mistyped)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap_err();
    assert!(
        matches!(&error, DataError::ColumnType { column, found, .. } if column == "prompt" && found == "Int32"),
        "{error}"
    );

    let mistyped_weight = dir.join("weight.parquet");
    write_batch(
        &mistyped_weight,
        vec![
            ("prompt", Arc::new(StringArray::from(vec!["p"])) as ArrayRef),
            ("chosen", Arc::new(StringArray::from(vec!["c"]))),
            ("rejected", Arc::new(StringArray::from(vec!["r"]))),
            ("weight", Arc::new(StringArray::from(vec!["heavy"]))),
        ],
    );
    let error = PreferenceDataset::open(&mistyped_weight)
        .unwrap()
        .columns()
        .unwrap_err();
    assert!(matches!(&error, DataError::ColumnType { column, .. } if column == "weight"));

    let not_parquet = dir.join("text.parquet");
    std::fs::write(&not_parquet, b"prompt,chosen\n").unwrap();
    let error = PreferenceDataset::open(&not_parquet)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap_err();
    assert!(matches!(error, DataError::Parquet { .. }));
}

/// One invalid row among valid ones: the error names file, row and column; skipping counts it.
fn check_bad_row(
    name: &str,
    columns: Columns,
    rules: Rules,
    spoil: impl Fn(&mut PreferenceRecord),
    column: &str,
    reason_part: &str,
) {
    let dir = scratch(&format!("bad-{name}"));
    let path = dir.join(format!("{name}.parquet"));
    let mut records: Vec<_> = (0..6)
        .map(|i| {
            let mut record = full_record(i);
            if !columns.weight {
                record.weight = None;
            }
            if !columns.smoothing {
                record.smoothing = None;
            }
            record
        })
        .collect();
    spoil(&mut records[4]);
    write_unchecked(&path, &records, columns);
    let options = ReadOptions {
        rules,
        batch_rows: 4,
        ..ReadOptions::default()
    };
    let error = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(options)
        .unwrap_err();
    match &error {
        DataError::InvalidRow {
            path: at,
            row,
            column: c,
            reason,
        } => {
            assert_eq!(at, &path);
            assert_eq!(*row, 4, "{error}");
            assert_eq!(c, column, "{error}");
            assert!(reason.contains(reason_part), "{error}");
        }
        other => panic!("{name}: expected an invalid row, got {other}"),
    }
    let skip = ReadOptions {
        invalid_rows: InvalidRows::SkipAndCount,
        ..options
    };
    let (kept, report) = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(skip)
        .unwrap();
    assert_eq!(kept.len(), 5);
    assert_eq!(report.rows_read, 5);
    assert_eq!(report.rows_skipped, 1);
    assert_eq!(report.skipped_by_column[column], 1);
    assert!(kept.iter().all(|r| r.chosen_item != Some(4)));
}

#[test]
fn every_row_rule_is_enforced_with_context() {
    let all = Columns::all();
    check_bad_row(
        "empty-rejected",
        all,
        Rules::default(),
        |r| {
            r.rejected.clear();
            r.rejected_items = Some(vec![]);
            r.ref_rejected_logps = Some(vec![]);
        },
        "rejected",
        "empty",
    );
    check_bad_row(
        "chosen-in-rejected",
        all,
        Rules::default(),
        |r| r.rejected[1] = r.chosen.clone(),
        "rejected",
        "identical",
    );
    check_bad_row(
        "chosen-item-in-rejected",
        all,
        Rules::default(),
        |r| r.rejected_items = Some(vec![r.chosen_item.unwrap(), 1]),
        "rejected_items",
        "chosen item",
    );
    let catalog = Rules {
        num_items: Some(300),
        num_users: Some(7),
    };
    check_bad_row(
        "item-out-of-range",
        all,
        catalog,
        |r| r.history_items = Some(vec![1, 300]),
        "history_items",
        "out of range",
    );
    check_bad_row(
        "negative-item",
        all,
        Rules::default(),
        |r| r.chosen_item = Some(-1),
        "chosen_item",
        "negative",
    );
    check_bad_row(
        "user-out-of-range",
        all,
        catalog,
        |r| r.user_id = Some(7),
        "user_id",
        "out of range",
    );
    check_bad_row(
        "nan-weight",
        all,
        Rules::default(),
        |r| r.weight = Some(f32::NAN),
        "weight",
        "NaN",
    );
    check_bad_row(
        "smoothing-half",
        all,
        Rules::default(),
        |r| r.smoothing = Some(0.5),
        "smoothing",
        "[0, 0.5)",
    );
    check_bad_row(
        "smoothing-negative",
        all,
        Rules::default(),
        |r| r.smoothing = Some(-0.01),
        "smoothing",
        "[0, 0.5)",
    );
    check_bad_row(
        "k-mismatch",
        all,
        Rules::default(),
        |r| r.rejected_items = Some(vec![1]),
        "rejected_items",
        "has 1 ids",
    );
    check_bad_row(
        "nan-ref",
        all,
        Rules::default(),
        |r| r.ref_rejected_logps = Some(vec![0.0, f64::NAN]),
        "ref_rejected_logps",
        "NaN",
    );
    check_bad_row(
        "target-not-candidate",
        all,
        Rules::default(),
        |r| r.candidate_items = Some(vec![1, 2]),
        "candidate_items",
        "not among",
    );
}

#[test]
fn null_required_values_are_errors() {
    let dir = scratch("nulls");
    let path = dir.join("nulls.parquet");
    write_batch(
        &path,
        vec![
            (
                "prompt",
                Arc::new(StringArray::from(vec![Some("p"), None])) as ArrayRef,
            ),
            ("chosen", Arc::new(StringArray::from(vec!["c", "c"]))),
            ("rejected", Arc::new(StringArray::from(vec!["r", "r"]))),
        ],
    );
    let error = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap_err();
    assert!(
        matches!(&error, DataError::InvalidRow { row: 1, column, reason, .. } if column == "prompt" && reason == "null value"),
        "{error}"
    );
}

#[test]
fn writer_refuses_invalid_records_and_writes_atomically() {
    let dir = scratch("atomic");
    let path = dir.join("out.parquet");
    let mut writer =
        PreferenceWriter::create(&path, Columns::all(), &WriteOptions::default()).unwrap();
    writer.write(full_record(1)).unwrap();
    let mut bad = full_record(2);
    bad.smoothing = Some(0.7);
    let error = writer.write(bad).unwrap_err();
    assert!(
        matches!(&error, DataError::InvalidRow { row: 1, column, .. } if column == "smoothing")
    );
    let mut partial = full_record(3);
    partial.weight = None;
    assert!(
        writer.write(partial).is_err(),
        "a record missing a declared column is refused"
    );
    // Until finish, nothing exists at the target path.
    assert!(!path.exists());
    drop(writer);
    assert!(!path.exists(), "an unfinished write leaves no file");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "and no temporary file"
    );

    // An existing file survives an interrupted rewrite untouched.
    let mut writer =
        PreferenceWriter::create(&path, Columns::all(), &WriteOptions::default()).unwrap();
    writer.write(full_record(1)).unwrap();
    writer.finish().unwrap();
    let before = std::fs::read(&path).unwrap();
    let mut writer =
        PreferenceWriter::create(&path, Columns::all(), &WriteOptions::default()).unwrap();
    for i in 0..20_000 {
        writer.write(full_record(i)).unwrap();
    }
    drop(writer);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(
        PreferenceDataset::open(&path).unwrap().num_rows().unwrap(),
        1
    );
}

#[test]
fn item_list_column_of_wrong_type_is_reported() {
    let dir = scratch("list-type");
    let path = dir.join("lists.parquet");
    let mut items = ListBuilder::new(StringBuilder::new());
    items.values().append_value("seven");
    items.append(true);
    write_batch(
        &path,
        vec![
            ("prompt", Arc::new(StringArray::from(vec!["p"])) as ArrayRef),
            ("chosen", Arc::new(StringArray::from(vec!["c"]))),
            ("rejected", Arc::new(StringArray::from(vec!["r"]))),
            ("history_items", Arc::new(items.finish())),
        ],
    );
    let error = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap_err();
    assert!(matches!(&error, DataError::ColumnType { column, .. } if column == "history_items"));
}
