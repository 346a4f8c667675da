//! Writing a split in TRL's layout (what `datasets` writes for the same rows), so generated
//! data and converted data read back with [`super::TrlDataset::read`] and with `datasets`.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Int64Array, ListArray, StringArray, StructArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Fields, Schema};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{Format, Message, Text, TrlRows};
use crate::error::{DataError, Result};
use crate::parquet_io::AtomicFile;

fn message_fields() -> Fields {
    Fields::from(vec![
        Field::new("content", DataType::Utf8, false),
        Field::new("role", DataType::Utf8, false),
    ])
}

/// A list column over `values`, row `i` holding the next `lengths[i]` values.
fn list_of(values: ArrayRef, lengths: &[usize]) -> ArrayRef {
    let field = Arc::new(Field::new("item", values.data_type().clone(), true));
    Arc::new(ListArray::new(
        field,
        OffsetBuffer::from_lengths(lengths.iter().copied()),
        values,
        None,
    ))
}

fn conversations(rows: &[&[Message]]) -> ArrayRef {
    let messages: Vec<&Message> = rows.iter().flat_map(|m| m.iter()).collect();
    let content = StringArray::from_iter_values(messages.iter().map(|m| m.content.as_str()));
    let role = StringArray::from_iter_values(messages.iter().map(|m| m.role.as_str()));
    let values: ArrayRef = Arc::new(StructArray::new(
        message_fields(),
        vec![Arc::new(content), Arc::new(role)],
        None,
    ));
    let lengths: Vec<usize> = rows.iter().map(|m| m.len()).collect();
    list_of(values, &lengths)
}

/// One text per row: strings, or conversations as `list<struct<content, role>>`.
fn texts(rows: &[&Text], format: Format) -> Result<ArrayRef> {
    let mismatch = || DataError::parameter("rows", "a split mixes strings and conversations");
    Ok(match format {
        Format::Standard => Arc::new(StringArray::from_iter_values(
            rows.iter()
                .map(|t| match t {
                    Text::Plain(s) => Ok(s.as_str()),
                    Text::Conversation(_) => Err(mismatch()),
                })
                .collect::<Result<Vec<_>>>()?,
        )),
        Format::Conversational => conversations(
            &rows
                .iter()
                .map(|t| match t {
                    Text::Conversation(m) => Ok(m.as_slice()),
                    Text::Plain(_) => Err(mismatch()),
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    })
}

/// Writes `rows` to `path` (zstd-compressed Parquet, replaced atomically).
pub fn write_parquet(rows: &TrlRows, format: Format, path: &Path) -> Result<()> {
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    let extras: Vec<&super::Extras> = match rows {
        TrlRows::Paired(rows) => {
            let prompts: Vec<&Text> = rows.iter().map(|r| &r.prompt).collect();
            let chosen: Vec<&Text> = rows.iter().map(|r| &r.chosen).collect();
            columns.push(("prompt", texts(&prompts, format)?));
            columns.push(("chosen", texts(&chosen, format)?));
            let rejected: Vec<&Text> = rows.iter().flat_map(|r| r.rejected.iter()).collect();
            let flat = texts(&rejected, format)?;
            if rows.iter().all(|r| r.rejected.len() == 1) {
                columns.push(("rejected", flat));
            } else {
                let lengths: Vec<usize> = rows.iter().map(|r| r.rejected.len()).collect();
                columns.push(("rejected", list_of(flat, &lengths)));
            }
            rows.iter().map(|r| &r.extras).collect()
        }
        TrlRows::Unpaired(rows) => {
            let prompts: Vec<&Text> = rows.iter().map(|r| &r.prompt).collect();
            let completions: Vec<&Text> = rows.iter().map(|r| &r.completion).collect();
            columns.push(("prompt", texts(&prompts, format)?));
            columns.push(("completion", texts(&completions, format)?));
            columns.push((
                "label",
                Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.label).collect::<Vec<_>>(),
                )),
            ));
            rows.iter().map(|r| &r.extras).collect()
        }
    };
    if extras.iter().any(|e| e.user_id.is_some()) {
        columns.push((
            "user_id",
            Arc::new(Int64Array::from(
                extras.iter().map(|e| e.user_id).collect::<Vec<_>>(),
            )),
        ));
    }
    if extras.iter().any(|e| e.weight.is_some()) {
        columns.push((
            "weight",
            Arc::new(Float32Array::from(
                extras.iter().map(|e| e.weight).collect::<Vec<_>>(),
            )),
        ));
    }
    if extras.iter().any(|e| e.smoothing.is_some()) {
        columns.push((
            "smoothing",
            Arc::new(Float32Array::from(
                extras.iter().map(|e| e.smoothing).collect::<Vec<_>>(),
            )),
        ));
    }
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| DataError::arrow(path, e))?;
    let (guard, file) = AtomicFile::create(path)?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|e| DataError::parquet(path, e))?;
    writer
        .write(&batch)
        .map_err(|e| DataError::parquet(path, e))?;
    let file = writer
        .into_inner()
        .map_err(|e| DataError::parquet(path, e))?;
    guard.commit(file)
}
