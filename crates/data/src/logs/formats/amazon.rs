//! Amazon reviews (McAuley lab), JSON lines, gzip-compressed or not.
//!
//! Two generations are recognised line by line:
//! - 2014/2018: `reviewerID`, `asin`, `overall`, `unixReviewTime` (seconds); metadata `asin`,
//!   `title`;
//! - 2023: `user_id`, `parent_asin` (the product, shared by its variants), `rating`, `timestamp`
//!   (milliseconds); metadata `parent_asin`, `title`.
//!
//! Products whose metadata has no title cannot be shown in a prompt: they stay out of the catalog,
//! and their reviews are skipped and counted.

use std::path::Path;

use serde_json::Value;

use crate::error::{DataError, Result};
use crate::logs::log::{InteractionLog, ItemCatalog};
use crate::logs::text::for_each_json_line;

use super::finite_rating;

pub fn load(input: &Path, items: Option<&Path>) -> Result<InteractionLog> {
    let items = items.ok_or_else(|| DataError::MissingInput {
        path: input.to_path_buf(),
        reason: "the amazon format needs --items <metadata JSON lines> for product titles".into(),
    })?;
    if input.is_dir() {
        return Err(DataError::MissingInput {
            path: input.to_path_buf(),
            reason: "the amazon format takes the reviews file itself, not a folder".into(),
        });
    }
    let mut catalog = ItemCatalog::new();
    let mut untitled = 0u64;
    for_each_json_line(items, |line, value| {
        let id = text(&value, &["parent_asin", "asin"]).ok_or_else(|| {
            DataError::parse(
                items,
                line,
                "asin",
                "neither `parent_asin` nor `asin` is present",
            )
        })?;
        match text(&value, &["title"])
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            Some(title) => {
                catalog.insert(id, title);
            }
            None => untitled += 1,
        }
        Ok(())
    })?;
    let mut log = InteractionLog::with_catalog(catalog);
    for_each_json_line(input, |line, value| {
        let user = text(&value, &["user_id", "reviewerID"]).ok_or_else(|| {
            DataError::parse(
                input,
                line,
                "user",
                "neither `user_id` nor `reviewerID` is present",
            )
        })?;
        let item = text(&value, &["parent_asin", "asin"]).ok_or_else(|| {
            DataError::parse(
                input,
                line,
                "asin",
                "neither `parent_asin` nor `asin` is present",
            )
        })?;
        let rating = number(&value, &["rating", "overall"])
            .map(|r| finite_rating(input, line, "rating", r as f32))
            .transpose()?;
        let time = number(&value, &["timestamp", "unixReviewTime"]).map(|t| t as i64);
        if time.is_none() {
            return Err(DataError::parse(
                input,
                line,
                "timestamp",
                "neither `timestamp` nor `unixReviewTime` is present",
            ));
        }
        log.push(user, item, rating, time);
        Ok(())
    })?;
    if untitled > 0 {
        log.notes.push(format!(
            "{untitled} products have no title in the metadata and were left out of the catalog"
        ));
    }
    Ok(log)
}

fn text<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|key| value.get(key)?.as_str())
}

fn number(value: &Value, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|key| {
        let v = value.get(key)?;
        v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())
    })
}
