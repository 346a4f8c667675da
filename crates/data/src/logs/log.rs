//! An interaction log in memory: users and items interned to dense ids, one compact row per
//! interaction, and the item catalog with titles.

use std::collections::{BTreeMap, HashMap};

/// The item catalog: dense ids `0..len`, the ids of the source files, and titles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemCatalog {
    source_ids: Vec<String>,
    titles: Vec<String>,
    index: HashMap<String, u32>,
}

impl ItemCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an item; a source id seen before keeps its first title and dense id.
    pub fn insert(&mut self, source_id: &str, title: &str) -> u32 {
        if let Some(&id) = self.index.get(source_id) {
            return id;
        }
        let id = self.titles.len() as u32;
        self.index.insert(source_id.to_string(), id);
        self.source_ids.push(source_id.to_string());
        self.titles.push(title.to_string());
        id
    }

    pub fn get(&self, source_id: &str) -> Option<u32> {
        self.index.get(source_id).copied()
    }

    pub fn len(&self) -> usize {
        self.titles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.titles.is_empty()
    }

    pub fn title(&self, id: u32) -> &str {
        &self.titles[id as usize]
    }

    pub fn titles(&self) -> &[String] {
        &self.titles
    }

    pub fn source_id(&self, id: u32) -> &str {
        &self.source_ids[id as usize]
    }

    /// Rewrites every title (e.g. MovieLens clean-up); ids are unchanged.
    pub fn map_titles(&mut self, mut f: impl FnMut(&str) -> String) {
        for title in &mut self.titles {
            *title = f(title);
        }
    }
}

/// One interaction, with dense ids.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub user: u32,
    pub item: u32,
    /// NaN when the source has no rating.
    pub rating: f32,
    /// Seconds (or the source's unit); `i64::MIN` when the source has no time, in which case the
    /// file order (`order`) is the chronology.
    pub timestamp: i64,
    /// Position in the input, the tie-breaker of equal timestamps.
    pub order: u64,
}

/// A whole interaction log with its catalog and what was skipped while loading it.
#[derive(Debug, Clone, Default)]
pub struct InteractionLog {
    pub catalog: ItemCatalog,
    user_ids: Vec<String>,
    user_index: HashMap<String, u32>,
    pub interactions: Vec<Interaction>,
    /// Rows not loaded, by reason (e.g. "item not in the item table").
    pub skipped: BTreeMap<String, u64>,
    /// Remarks for the conversion summary (e.g. items left out of the catalog).
    pub notes: Vec<String>,
    /// Whether unknown items join the catalog (no item table) or are skipped.
    grow_catalog: bool,
}

impl InteractionLog {
    /// A log whose interactions must refer to `catalog`'s items.
    pub fn with_catalog(catalog: ItemCatalog) -> Self {
        Self {
            catalog,
            ..Self::default()
        }
    }

    /// A log without an item table: every item seen is added, titled `item <source id>`.
    pub fn without_catalog() -> Self {
        Self {
            grow_catalog: true,
            ..Self::default()
        }
    }

    pub fn num_users(&self) -> usize {
        self.user_ids.len()
    }

    pub fn user_source_id(&self, user: u32) -> &str {
        &self.user_ids[user as usize]
    }

    /// Counts a row that was not loaded.
    pub fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }

    /// Adds one interaction by source ids; returns false (and counts it) when the item is unknown.
    pub fn push(
        &mut self,
        user: &str,
        item: &str,
        rating: Option<f32>,
        timestamp: Option<i64>,
    ) -> bool {
        let item = match self.catalog.get(item) {
            Some(id) => id,
            None if self.grow_catalog => self.catalog.insert(item, &format!("item {item}")),
            None => {
                self.skip("item not in the item table");
                return false;
            }
        };
        let user = match self.user_index.get(user) {
            Some(&id) => id,
            None => {
                let id = self.user_ids.len() as u32;
                self.user_index.insert(user.to_string(), id);
                self.user_ids.push(user.to_string());
                id
            }
        };
        let order = self.interactions.len() as u64;
        self.interactions.push(Interaction {
            user,
            item,
            rating: rating.unwrap_or(f32::NAN),
            timestamp: timestamp.unwrap_or(i64::MIN),
            order,
        });
        true
    }
}

/// Parses Goodreads' `Fri Aug 25 13:55:02 -0700 2017` into Unix seconds.
pub fn parse_goodreads_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, month, day, time, zone, year] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let day: i64 = day.parse().ok()?;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    let sign = match zone.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zone: i64 = zone.get(1..)?.parse().ok()?;
    // Out-of-range fields are not a date (and would overflow the arithmetic below).
    let valid = (1..=31).contains(&day)
        && (-1_000_000..=1_000_000).contains(&year)
        && (0..=23).contains(&h)
        && (0..=59).contains(&m)
        && (0..=60).contains(&s)
        && (0..=1_400).contains(&zone);
    if !valid {
        return None;
    }
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodreads_dates_are_unix_seconds() {
        // 2017-08-25 20:55:02 UTC.
        assert_eq!(
            parse_goodreads_date("Fri Aug 25 13:55:02 -0700 2017"),
            Some(1_503_694_502)
        );
        assert_eq!(
            parse_goodreads_date("Thu Jan 01 00:00:00 +0000 1970"),
            Some(0)
        );
        assert_eq!(parse_goodreads_date(""), None);
        assert_eq!(parse_goodreads_date("yesterday"), None);
        // Found by the converters' fuzz test: fields this large overflowed the arithmetic.
        for absurd in [
            "Mon Jan 9223372036854775807 10:00:00 -0700 2012",
            "Mon Jan 01 10:00:00 -0700 9223372036854775807",
            "Mon Jan 01 99999999999:00:00 -0700 2012",
            "Mon Jan 01 10:00:00 -99999999999999 2012",
        ] {
            assert_eq!(parse_goodreads_date(absurd), None, "{absurd}");
        }
    }

    #[test]
    fn unknown_items_are_skipped_and_counted() {
        let mut catalog = ItemCatalog::new();
        catalog.insert("a", "Alpha");
        let mut log = InteractionLog::with_catalog(catalog);
        assert!(log.push("u1", "a", None, Some(5)));
        assert!(!log.push("u1", "zzz", None, Some(6)));
        assert_eq!(log.interactions.len(), 1);
        assert_eq!(log.skipped["item not in the item table"], 1);
    }
}
