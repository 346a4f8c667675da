//! Row-level rules of the preference schema, shared by the reader (checks what it reads) and the
//! writer (refuses to write what could not be read back).

use crate::schema::{self, ItemId, PreferenceRecord};

/// What a record is checked against beyond the schema itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    /// Item ids must lie in `0..num_items` when set (otherwise only non-negative).
    pub num_items: Option<i64>,
    /// User ids must lie in `0..num_users` when set (otherwise only non-negative).
    pub num_users: Option<i64>,
}

/// Why one row is invalid: the column at fault and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    pub column: &'static str,
    pub reason: String,
}

impl RowProblem {
    fn new(column: &'static str, reason: impl Into<String>) -> Self {
        Self {
            column,
            reason: reason.into(),
        }
    }
}

/// Checks one record; the first broken rule is reported.
pub fn check_record(record: &PreferenceRecord, rules: &Rules) -> Result<(), RowProblem> {
    let k = record.rejected.len();
    if k == 0 {
        return Err(RowProblem::new(
            schema::REJECTED,
            "empty list: every row needs at least one rejected response",
        ));
    }
    if let Some(position) = record.rejected.iter().position(|r| *r == record.chosen) {
        return Err(RowProblem::new(
            schema::REJECTED,
            format!("rejected[{position}] is identical to `chosen`"),
        ));
    }
    if let Some(user) = record.user_id {
        check_id(schema::USER_ID, user, rules.num_users, "users")?;
    }
    if let Some(chosen) = record.chosen_item {
        check_id(schema::CHOSEN_ITEM, chosen, rules.num_items, "items")?;
    }
    if let Some(items) = &record.rejected_items {
        if items.len() != k {
            return Err(RowProblem::new(
                schema::REJECTED_ITEMS,
                format!("has {} ids but `rejected` has {k} responses", items.len()),
            ));
        }
        check_ids(schema::REJECTED_ITEMS, items, rules.num_items)?;
        if let Some(chosen) = record.chosen_item
            && let Some(position) = items.iter().position(|&item| item == chosen)
        {
            return Err(RowProblem::new(
                schema::REJECTED_ITEMS,
                format!("rejected_items[{position}] = {chosen} is the chosen item"),
            ));
        }
    }
    if let Some(items) = &record.history_items {
        check_ids(schema::HISTORY_ITEMS, items, rules.num_items)?;
    }
    if let Some(items) = &record.candidate_items {
        check_ids(schema::CANDIDATE_ITEMS, items, rules.num_items)?;
        if let Some(chosen) = record.chosen_item
            && !items.contains(&chosen)
        {
            return Err(RowProblem::new(
                schema::CANDIDATE_ITEMS,
                format!("the chosen item {chosen} is not among the candidates"),
            ));
        }
    }
    if let Some(weight) = record.weight
        && !(weight.is_finite() && weight >= 0.0)
    {
        return Err(RowProblem::new(
            schema::WEIGHT,
            format!("{weight} is not a finite non-negative weight"),
        ));
    }
    if let Some(smoothing) = record.smoothing
        && !(0.0..0.5).contains(&smoothing)
    {
        return Err(RowProblem::new(
            schema::SMOOTHING,
            format!("{smoothing} is outside [0, 0.5)"),
        ));
    }
    if let Some(logp) = record.ref_chosen_logp
        && logp.is_nan()
    {
        return Err(RowProblem::new(schema::REF_CHOSEN_LOGP, "NaN log-prob"));
    }
    if let Some(logps) = &record.ref_rejected_logps {
        if logps.len() != k {
            return Err(RowProblem::new(
                schema::REF_REJECTED_LOGPS,
                format!(
                    "has {} values but `rejected` has {k} responses",
                    logps.len()
                ),
            ));
        }
        if let Some(position) = logps.iter().position(|v| v.is_nan()) {
            return Err(RowProblem::new(
                schema::REF_REJECTED_LOGPS,
                format!("ref_rejected_logps[{position}] is NaN"),
            ));
        }
    }
    Ok(())
}

fn check_ids(column: &'static str, ids: &[ItemId], bound: Option<i64>) -> Result<(), RowProblem> {
    for (position, &id) in ids.iter().enumerate() {
        check_id(column, id, bound, "items").map_err(|problem| {
            RowProblem::new(column, format!("[{position}]: {}", problem.reason))
        })?;
    }
    Ok(())
}

fn check_id(
    column: &'static str,
    id: i64,
    bound: Option<i64>,
    what: &str,
) -> Result<(), RowProblem> {
    match bound {
        Some(n) if !(0..n).contains(&id) => Err(RowProblem::new(
            column,
            format!("id {id} is out of range 0..{n} ({n} {what})"),
        )),
        None if id < 0 => Err(RowProblem::new(column, format!("id {id} is negative"))),
        _ => Ok(()),
    }
}
