//! The on-disk preference schema (docs/data.md, "The schema"): one Parquet row per prompt.
//!
//! Column names are a contract shared with TRL (`prompt`, `chosen`, `rejected`) and with every
//! other prefopt crate; they live here as constants so no other module spells them.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// Item and user identifiers as stored on disk.
pub type ItemId = i64;

pub const PROMPT: &str = "prompt";
pub const CHOSEN: &str = "chosen";
pub const REJECTED: &str = "rejected";
pub const USER_ID: &str = "user_id";
pub const CHOSEN_ITEM: &str = "chosen_item";
pub const REJECTED_ITEMS: &str = "rejected_items";
pub const HISTORY_ITEMS: &str = "history_items";
pub const CANDIDATE_ITEMS: &str = "candidate_items";
pub const WEIGHT: &str = "weight";
pub const SMOOTHING: &str = "smoothing";
pub const REF_CHOSEN_LOGP: &str = "ref_chosen_logp";
pub const REF_REJECTED_LOGPS: &str = "ref_rejected_logps";

/// One preference example: a prompt, its preferred response and K ≥ 1 dispreferred ones, with
/// the optional recommendation, weighting and cached-reference columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PreferenceRecord {
    pub prompt: String,
    pub chosen: String,
    /// K ≥ 1 rejected responses (TRL's pairwise files give exactly one).
    pub rejected: Vec<String>,
    pub user_id: Option<i64>,
    pub chosen_item: Option<ItemId>,
    /// Item ids of `rejected`, same length and order.
    pub rejected_items: Option<Vec<ItemId>>,
    /// The user's history before the target, oldest first.
    pub history_items: Option<Vec<ItemId>>,
    /// The candidate set shown in the prompt (target included), in prompt order.
    pub candidate_items: Option<Vec<ItemId>>,
    pub weight: Option<f32>,
    /// RosePO's per-example smoothing factor, in [0, 0.5).
    pub smoothing: Option<f32>,
    pub ref_chosen_logp: Option<f64>,
    /// Cached reference log-probs of `rejected`, same length and order.
    pub ref_rejected_logps: Option<Vec<f64>>,
}

/// Which optional columns a file carries. `prompt`, `chosen` and `rejected` are always present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Columns {
    pub user_id: bool,
    pub chosen_item: bool,
    pub rejected_items: bool,
    pub history_items: bool,
    pub candidate_items: bool,
    pub weight: bool,
    pub smoothing: bool,
    pub ref_chosen_logp: bool,
    pub ref_rejected_logps: bool,
}

impl Columns {
    /// TRL's pairwise-or-listwise text columns only.
    pub fn text_only() -> Self {
        Self::default()
    }

    /// The columns the recommendation converters write.
    pub fn recommendation() -> Self {
        Self {
            user_id: true,
            chosen_item: true,
            rejected_items: true,
            history_items: true,
            candidate_items: true,
            ..Self::default()
        }
    }

    /// Every optional column.
    pub fn all() -> Self {
        Self {
            user_id: true,
            chosen_item: true,
            rejected_items: true,
            history_items: true,
            candidate_items: true,
            weight: true,
            smoothing: true,
            ref_chosen_logp: true,
            ref_rejected_logps: true,
        }
    }

    /// The optional columns a record fills in.
    pub fn of_record(record: &PreferenceRecord) -> Self {
        Self {
            user_id: record.user_id.is_some(),
            chosen_item: record.chosen_item.is_some(),
            rejected_items: record.rejected_items.is_some(),
            history_items: record.history_items.is_some(),
            candidate_items: record.candidate_items.is_some(),
            weight: record.weight.is_some(),
            smoothing: record.smoothing.is_some(),
            ref_chosen_logp: record.ref_chosen_logp.is_some(),
            ref_rejected_logps: record.ref_rejected_logps.is_some(),
        }
    }

    /// The Arrow schema of a file with these columns, in canonical order.
    pub fn arrow_schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new(PROMPT, DataType::Utf8, false),
            Field::new(CHOSEN, DataType::Utf8, false),
            Field::new(REJECTED, list_of(DataType::Utf8), false),
        ];
        let optional = [
            (self.user_id, USER_ID, DataType::Int64),
            (self.chosen_item, CHOSEN_ITEM, DataType::Int64),
            (
                self.rejected_items,
                REJECTED_ITEMS,
                list_of(DataType::Int64),
            ),
            (self.history_items, HISTORY_ITEMS, list_of(DataType::Int64)),
            (
                self.candidate_items,
                CANDIDATE_ITEMS,
                list_of(DataType::Int64),
            ),
            (self.weight, WEIGHT, DataType::Float32),
            (self.smoothing, SMOOTHING, DataType::Float32),
            (self.ref_chosen_logp, REF_CHOSEN_LOGP, DataType::Float64),
            (
                self.ref_rejected_logps,
                REF_REJECTED_LOGPS,
                list_of(DataType::Float64),
            ),
        ];
        fields.extend(
            optional
                .into_iter()
                .filter(|(present, _, _)| *present)
                .map(|(_, name, data_type)| Field::new(name, data_type, true)),
        );
        Arc::new(Schema::new(fields))
    }
}

/// `list<item: T>` with nullable elements, as pyarrow and Polars write lists.
pub(crate) fn list_of(element: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", element, true)))
}
