//! Goodreads (UCSD Book Graph): interactions as JSON lines (`goodreads_interactions_<genre>.json`,
//! with `user_id`, `book_id`, `rating`, `date_added`) or as the full CSV
//! (`goodreads_interactions.csv`: `user_id,book_id,is_read,rating,is_reviewed`, no time: file
//! order is the chronology), and books as JSON lines (`goodreads_books*.json`: `book_id`, `title`)
//! or CSV with `book_id,title` columns. All may be gzip-compressed.
//!
//! The full CSV numbers books differently from the JSON files; when `book_id_map.csv`
//! (`book_id_csv,book_id`) lies beside the CSV, its ids are translated.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::{field, for_each_pair, parse_field, read_catalog};
use crate::error::{DataError, Result};
use crate::logs::log::{InteractionLog, ItemCatalog, parse_goodreads_date};
use crate::logs::text::{Separator, for_each_json_line, for_each_row, header_index};

pub fn load(input: &Path, items: Option<&Path>) -> Result<InteractionLog> {
    let items = items.ok_or_else(|| DataError::MissingInput {
        path: input.to_path_buf(),
        reason: "the goodreads format needs --items <books JSON lines or CSV> for titles".into(),
    })?;
    let catalog = if is_csv(items) {
        read_catalog(items, Separator::Quoted(b','), Some(("book_id", "title")))?
    } else {
        read_books_json(items)?
    };
    let mut log = InteractionLog::with_catalog(catalog);
    if is_csv(input) {
        read_interactions_csv(input, &mut log)?;
    } else {
        read_interactions_json(input, &mut log)?;
    }
    Ok(log)
}

fn is_csv(path: &Path) -> bool {
    let name = path.to_string_lossy().to_ascii_lowercase();
    name.ends_with(".csv") || name.ends_with(".csv.gz")
}

fn id_text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn read_books_json(path: &Path) -> Result<ItemCatalog> {
    let mut catalog = ItemCatalog::new();
    for_each_json_line(path, |line, value| {
        let id = id_text(&value, "book_id")
            .ok_or_else(|| DataError::parse(path, line, "book_id", "missing"))?;
        let title = value
            .get("title")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or_else(|| value.get("title_without_series").and_then(Value::as_str));
        if let Some(title) = title {
            catalog.insert(&id, title);
        }
        Ok(())
    })?;
    Ok(catalog)
}

fn read_interactions_json(path: &Path, log: &mut InteractionLog) -> Result<()> {
    for_each_json_line(path, |line, value| {
        let user = id_text(&value, "user_id")
            .ok_or_else(|| DataError::parse(path, line, "user_id", "missing"))?;
        let book = id_text(&value, "book_id")
            .ok_or_else(|| DataError::parse(path, line, "book_id", "missing"))?;
        let rating = value
            .get("rating")
            .and_then(Value::as_f64)
            .map(|r| r as f32);
        let date = ["date_added", "date_updated", "read_at"]
            .iter()
            .find_map(|key| {
                value
                    .get(key)
                    .and_then(Value::as_str)
                    .filter(|d| !d.is_empty())
            });
        let time = match date {
            Some(date) => Some(parse_goodreads_date(date).ok_or_else(|| {
                DataError::parse(
                    path,
                    line,
                    "date_added",
                    format!("cannot parse date `{date}`"),
                )
            })?),
            None => None,
        };
        log.push(&user, &book, rating, time);
        Ok(())
    })
}

fn read_interactions_csv(path: &Path, log: &mut InteractionLog) -> Result<()> {
    let map_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join("book_id_map.csv");
    let book_map = if map_path.is_file() {
        Some(read_book_map(&map_path)?)
    } else {
        None
    };
    let columns = std::cell::Cell::new((0, 1, None));
    for_each_row(
        path,
        Separator::Quoted(b','),
        true,
        |names| {
            columns.set((
                header_index(path, names, "user_id")?,
                header_index(path, names, "book_id")?,
                header_index(path, names, "rating").ok(),
            ));
            Ok(())
        },
        |line, fields| {
            let columns = columns.get();
            let user = field(path, line, fields, columns.0, "user_id")?.trim();
            let book = field(path, line, fields, columns.1, "book_id")?.trim();
            let rating = match columns.2 {
                Some(i) => Some(parse_field::<f32>(
                    path,
                    line,
                    "rating",
                    field(path, line, fields, i, "rating")?,
                )?),
                None => None,
            };
            let book = match &book_map {
                Some(map) => match map.get(book) {
                    Some(id) => id.as_str(),
                    None => {
                        log.skip("book id missing from book_id_map.csv");
                        return Ok(());
                    }
                },
                None => book,
            };
            log.push(user, book, rating, None);
            Ok(())
        },
    )
}

fn read_book_map(path: &Path) -> Result<HashMap<String, String>> {
    let mut map = HashMap::new();
    for_each_pair(
        path,
        Separator::Quoted(b','),
        Some(("book_id_csv", "book_id")),
        |_, csv_id, id| {
            map.insert(csv_id.to_string(), id.to_string());
            Ok(())
        },
    )?;
    Ok(map)
}
