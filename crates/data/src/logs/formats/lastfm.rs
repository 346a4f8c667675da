//! LastFM HetRec 2011 (`hetrec2011-lastfm-2k`): `user_artists.dat` (`userID\tartistID\tweight`)
//! and `artists.dat` (`id\tname\turl\tpictureURL`), tab-separated with headers.
//!
//! `user_artists.dat` has no time: the file order is the chronology, and `weight` (the listening
//! count) is the rating `--min-rating` thresholds.

use std::path::Path;

use super::{field, file_in, parse_rating, read_catalog, sibling};
use crate::error::Result;
use crate::logs::log::InteractionLog;
use crate::logs::text::{Separator, for_each_row, header_index};

pub fn load(input: &Path, items: Option<&Path>) -> Result<InteractionLog> {
    let listens = file_in(input, "user_artists.dat")?;
    let artists = sibling(input, items, "artists.dat")?;
    let catalog = read_catalog(&artists, Separator::Plain(b'\t'), Some(("id", "name")))?;
    let mut log = InteractionLog::with_catalog(catalog);
    let columns = std::cell::Cell::new([0, 1, 2]);
    for_each_row(
        &listens,
        Separator::Plain(b'\t'),
        true,
        |names| {
            columns.set([
                header_index(&listens, names, "userID")?,
                header_index(&listens, names, "artistID")?,
                header_index(&listens, names, "weight")?,
            ]);
            Ok(())
        },
        |line, fields| {
            let columns = columns.get();
            let user = field(&listens, line, fields, columns[0], "userID")?.trim();
            let artist = field(&listens, line, fields, columns[1], "artistID")?.trim();
            let weight = parse_rating(
                &listens,
                line,
                "weight",
                field(&listens, line, fields, columns[2], "weight")?,
            )?;
            log.push(user, artist, Some(weight), None);
            Ok(())
        },
    )?;
    Ok(log)
}
