//! Rows of a Parquet or JSON Lines file as JSON objects, so that one parser checks both: a
//! Parquet `list<struct<role, content>>` column and a JSON list of message objects read the same.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::parquet_io::decoder;
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde_json::{Map, Number, Value};

use super::files::is_parquet;
use crate::error::{DataError, Result};

/// One row: its index in the file (from 0) and its columns.
pub(super) type JsonRow = (u64, Map<String, Value>);

/// Every row of `path`, in file order.
pub(super) fn read_rows(path: &Path) -> Result<Vec<JsonRow>> {
    if is_parquet(path) {
        parquet_rows(path)
    } else {
        json_lines(path)
    }
}

fn json_lines(path: &Path) -> Result<Vec<JsonRow>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut rows = Vec::new();
    for (line, text) in BufReader::new(file).lines().enumerate() {
        let text = text.map_err(|e| DataError::io(path, e))?;
        if text.trim().is_empty() {
            continue;
        }
        let number = line as u64 + 1;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(object)) => rows.push((rows.len() as u64, object)),
            Ok(other) => {
                return Err(DataError::parse(
                    path,
                    number,
                    "row",
                    format!("expected a JSON object, found {}", kind(&other)),
                ));
            }
            Err(e) => return Err(DataError::parse(path, number, "row", e.to_string())),
        }
    }
    Ok(rows)
}

fn parquet_rows(path: &Path) -> Result<Vec<JsonRow>> {
    let reader = decoder::batches(path, decoder::open(path)?)?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch?;
        let schema = batch.schema();
        let first = rows.len() as u64;
        let mut objects = vec![Map::new(); batch.num_rows()];
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            for (i, object) in objects.iter_mut().enumerate() {
                let value = json_value(column.as_ref(), i).map_err(|reason| {
                    DataError::invalid_row(path, first + i as u64, field.name(), reason)
                })?;
                object.insert(field.name().clone(), value);
            }
        }
        rows.extend(
            objects
                .into_iter()
                .enumerate()
                .map(|(i, o)| (first + i as u64, o)),
        );
    }
    Ok(rows)
}

/// The JSON value of `array[index]`: strings, numbers, booleans, lists and structs, as
/// `datasets` writes them. Other types (binary, dates) are not preference data.
fn json_value(array: &dyn Array, index: usize) -> std::result::Result<Value, String> {
    if array.is_null(index) {
        return Ok(Value::Null);
    }
    let data_type = array.data_type();
    Ok(match data_type {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(index)),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(index).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(index).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(index).to_string()),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let cast = cast(array, index, &DataType::Int64)?;
            Value::from(cast.as_primitive::<Int64Type>().value(0))
        }
        DataType::UInt64 => Value::from(
            array
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .value(index),
        ),
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let cast = cast(array, index, &DataType::Float64)?;
            let value = cast.as_primitive::<Float64Type>().value(0);
            Number::from_f64(value).map_or(Value::Null, Value::Number)
        }
        DataType::List(_) => list(array.as_list::<i32>().value(index).as_ref())?,
        DataType::LargeList(_) => list(array.as_list::<i64>().value(index).as_ref())?,
        DataType::FixedSizeList(_, _) => list(array.as_fixed_size_list().value(index).as_ref())?,
        DataType::Struct(fields) => {
            let columns = array.as_struct();
            let mut object = Map::new();
            for (field, column) in fields.iter().zip(columns.columns()) {
                object.insert(field.name().clone(), json_value(column.as_ref(), index)?);
            }
            Value::Object(object)
        }
        DataType::Dictionary(_, _) => {
            let cast = cast(array, index, &DataType::Utf8)?;
            json_value(cast.as_ref(), 0)?
        }
        other => return Err(format!("unsupported type {other}")),
    })
}

fn list(values: &dyn Array) -> std::result::Result<Value, String> {
    (0..values.len())
        .map(|i| json_value(values, i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Value::Array)
}

fn cast(
    array: &dyn Array,
    index: usize,
    to: &DataType,
) -> std::result::Result<arrow::array::ArrayRef, String> {
    arrow::compute::cast(&array.slice(index, 1), to).map_err(|e| e.to_string())
}

/// A JSON value's kind, for error messages.
pub(super) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
