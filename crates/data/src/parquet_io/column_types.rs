//! Which Arrow types each schema column accepts, and the one type it is cast to before reading.
//!
//! Writers differ (pyarrow writes `large_string`, Polars `string_view` and `large_list`, Spark
//! `int32` for small ids), so every column accepts its whole type family and is normalised with
//! Arrow's cast kernel; a value of the wrong family (a number where text belongs) is an error, not
//! a silent conversion.

use arrow::datatypes::DataType;

use crate::schema::{self, list_of};

/// The type family of one column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    /// `rejected`: one string (TRL pairwise) or a list of strings.
    TextOrTextList,
    Int,
    IntList,
    Float32,
    Float64,
    Float64List,
}

/// The schema's columns with their kinds, required ones first.
pub const COLUMNS: [(&str, ColumnKind, bool); 12] = [
    (schema::PROMPT, ColumnKind::Text, true),
    (schema::CHOSEN, ColumnKind::Text, true),
    (schema::REJECTED, ColumnKind::TextOrTextList, true),
    (schema::USER_ID, ColumnKind::Int, false),
    (schema::CHOSEN_ITEM, ColumnKind::Int, false),
    (schema::REJECTED_ITEMS, ColumnKind::IntList, false),
    (schema::HISTORY_ITEMS, ColumnKind::IntList, false),
    (schema::CANDIDATE_ITEMS, ColumnKind::IntList, false),
    (schema::WEIGHT, ColumnKind::Float32, false),
    (schema::SMOOTHING, ColumnKind::Float32, false),
    (schema::REF_CHOSEN_LOGP, ColumnKind::Float64, false),
    (schema::REF_REJECTED_LOGPS, ColumnKind::Float64List, false),
];

impl ColumnKind {
    /// A description of the accepted types, for error messages.
    pub fn expected(self) -> &'static str {
        match self {
            Self::Text => "a string type (utf8, large_utf8, utf8_view, dictionary of strings)",
            Self::TextOrTextList => "a string type or a list of strings",
            Self::Int => "an integer type",
            Self::IntList => "a list of integers",
            Self::Float32 | Self::Float64 => "a floating-point type",
            Self::Float64List => "a list of floating-point values",
        }
    }

    /// The type `found` is cast to, or `None` when this column does not accept it.
    pub fn target(self, found: &DataType) -> Option<DataType> {
        match self {
            Self::Text => is_text(found).then_some(DataType::Utf8),
            Self::TextOrTextList => {
                if is_text(found) {
                    Some(DataType::Utf8)
                } else {
                    list_element(found)
                        .filter(|e| is_text(e))
                        .map(|_| list_of(DataType::Utf8))
                }
            }
            Self::Int => found.is_integer().then_some(DataType::Int64),
            Self::IntList => list_element(found)
                .filter(|e| e.is_integer())
                .map(|_| list_of(DataType::Int64)),
            Self::Float32 => found.is_floating().then_some(DataType::Float32),
            Self::Float64 => found.is_floating().then_some(DataType::Float64),
            Self::Float64List => list_element(found)
                .filter(|e| e.is_floating())
                .map(|_| list_of(DataType::Float64)),
        }
    }
}

fn is_text(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, values) => is_text(values),
        _ => false,
    }
}

fn list_element(data_type: &DataType) -> Option<&DataType> {
    match data_type {
        DataType::List(field)
        | DataType::LargeList(field)
        | DataType::ListView(field)
        | DataType::LargeListView(field)
        | DataType::FixedSizeList(field, _) => Some(field.data_type()),
        _ => None,
    }
}
