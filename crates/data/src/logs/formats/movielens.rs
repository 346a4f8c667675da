//! MovieLens 100K, 1M and 20M as GroupLens distributes them.

use std::path::Path;

use super::{field, file_in, parse_field, parse_rating, read_catalog, sibling};
use crate::error::Result;
use crate::logs::log::{InteractionLog, ItemCatalog};
use crate::logs::text::{Separator, for_each_row, header_index};

/// `u.data` (`user \t item \t rating \t timestamp`) with `u.item` (`id|title|date|...`, latin-1).
pub fn load_100k(input: &Path, items: Option<&Path>) -> Result<InteractionLog> {
    let ratings = file_in(input, "u.data")?;
    let items = sibling(input, items, "u.item")?;
    let catalog = read_catalog(&items, Separator::Plain(b'|'), None)?;
    read_ratings(&ratings, Separator::Plain(b'\t'), false, catalog)
}

/// `ratings.dat` (`UserID::MovieID::Rating::Timestamp`) with `movies.dat` (`id::title::genres`).
pub fn load_1m(input: &Path, items: Option<&Path>) -> Result<InteractionLog> {
    let ratings = file_in(input, "ratings.dat")?;
    let items = sibling(input, items, "movies.dat")?;
    let catalog = read_catalog(&items, Separator::DoubleColon, None)?;
    read_ratings(&ratings, Separator::DoubleColon, false, catalog)
}

/// `ratings.csv` (`userId,movieId,rating,timestamp`) with `movies.csv` (`movieId,title,genres`,
/// titles quoted when they hold commas).
pub fn load_20m(input: &Path, items: Option<&Path>) -> Result<InteractionLog> {
    let ratings = file_in(input, "ratings.csv")?;
    let items = sibling(input, items, "movies.csv")?;
    let catalog = read_catalog(&items, Separator::Quoted(b','), Some(("movieId", "title")))?;
    read_ratings(&ratings, Separator::Quoted(b','), true, catalog)
}

fn read_ratings(
    path: &Path,
    separator: Separator,
    header: bool,
    catalog: ItemCatalog,
) -> Result<InteractionLog> {
    let mut log = InteractionLog::with_catalog(catalog);
    let columns = std::cell::Cell::new([0, 1, 2, 3]);
    for_each_row(
        path,
        separator,
        header,
        |names| {
            columns.set([
                header_index(path, names, "userId")?,
                header_index(path, names, "movieId")?,
                header_index(path, names, "rating")?,
                header_index(path, names, "timestamp")?,
            ]);
            Ok(())
        },
        |line, fields| {
            let columns = columns.get();
            let user = field(path, line, fields, columns[0], "user id")?.trim();
            let item = field(path, line, fields, columns[1], "movie id")?.trim();
            let rating = parse_rating(
                path,
                line,
                "rating",
                field(path, line, fields, columns[2], "rating")?,
            )?;
            let time: i64 = parse_field(
                path,
                line,
                "timestamp",
                field(path, line, fields, columns[3], "timestamp")?,
            )?;
            log.push(user, item, Some(rating), Some(time));
            Ok(())
        },
    )?;
    Ok(log)
}

/// LLaRA's MovieLens title clean-up: drop the trailing `(year)` and move a trailing article back
/// to the front (`"Usual Suspects, The (1995)"` becomes `"The Usual Suspects"`).
pub fn clean_title(title: &str) -> String {
    let mut title = title.trim();
    if let Some(open) = title.rfind(" (")
        && title.ends_with(')')
        && title[open + 2..title.len() - 1]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '–')
    {
        title = title[..open].trim_end();
    }
    for article in [
        "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Das", "Der", "Die", "El",
    ] {
        let suffix = format!(", {article}");
        if let Some(stem) = title.strip_suffix(&suffix) {
            let joiner = if article.ends_with('\'') { "" } else { " " };
            return format!("{article}{joiner}{stem}");
        }
    }
    title.to_string()
}

#[cfg(test)]
mod tests {
    use super::clean_title;

    #[test]
    fn titles_lose_year_and_regain_article() {
        assert_eq!(
            clean_title("Usual Suspects, The (1995)"),
            "The Usual Suspects"
        );
        assert_eq!(clean_title("Toy Story (1995)"), "Toy Story");
        assert_eq!(
            clean_title("Crow: City of Angels, The (1996)"),
            "The Crow: City of Angels"
        );
        assert_eq!(clean_title("Big Night (1996)"), "Big Night");
        assert_eq!(
            clean_title("Things to Do in Denver when You're Dead (1995)"),
            "Things to Do in Denver when You're Dead"
        );
        assert_eq!(clean_title("M*A*S*H (TV Series)"), "M*A*S*H (TV Series)");
    }
}
