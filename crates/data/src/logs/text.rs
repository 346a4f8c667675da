//! Reading text files as distributed: gzip-compressed or not, UTF-8 or latin-1 (MovieLens'
//! `u.item` and `movies.dat`), separated by tabs, pipes, commas (quoted CSV) or `::`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{DataError, Result};

/// Opens `path`, decompressing `.gz` files on the fly.
pub fn open_text(path: &Path) -> Result<Box<dyn BufRead>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let gz = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}

/// UTF-8 when the bytes are valid UTF-8, latin-1 (ISO-8859-1) otherwise.
///
/// Latin-1 maps every byte to the code point of the same value, so it never fails; files that are
/// neither (rare) come out with their bytes preserved rather than replaced by U+FFFD.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
    }
}

/// How fields are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// One byte, no quoting (tab- and pipe-separated MovieLens and LastFM files).
    Plain(u8),
    /// One byte with RFC 4180 quoting (`"a, b"`), as in CSV exports.
    Quoted(u8),
    /// MovieLens 1M's two-character `::`.
    DoubleColon,
}

/// Calls `row(line, fields)` for every non-empty line of a delimited file, with 1-based line
/// numbers. With `header`, the first line is passed to `on_header` instead.
pub fn for_each_row(
    path: &Path,
    separator: Separator,
    header: bool,
    mut on_header: impl FnMut(&[Cow<'_, str>]) -> Result<()>,
    mut row: impl FnMut(u64, &[Cow<'_, str>]) -> Result<()>,
) -> Result<()> {
    match separator {
        Separator::Quoted(delimiter) => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .has_headers(false)
                .flexible(true)
                .from_reader(open_text(path)?);
            let mut record = csv::ByteRecord::new();
            let mut first = true;
            loop {
                let more = reader.read_byte_record(&mut record).map_err(|e| {
                    let line = e.position().map_or(0, |p| p.line());
                    DataError::parse(path, line, "record", e.to_string())
                })?;
                if !more {
                    break;
                }
                let line = record.position().map_or(0, |p| p.line());
                let fields: Vec<Cow<'_, str>> = record.iter().map(decode).collect();
                if first && header {
                    on_header(&fields)?;
                } else if !(fields.len() == 1 && fields[0].trim().is_empty()) {
                    row(line, &fields)?;
                }
                first = false;
            }
            Ok(())
        }
        Separator::Plain(_) | Separator::DoubleColon => for_each_line(path, |line, bytes| {
            let text = decode(bytes);
            let fields: Vec<Cow<'_, str>> = match separator {
                Separator::Plain(byte) => text.split(char::from(byte)).map(Cow::Borrowed).collect(),
                _ => text.split("::").map(Cow::Borrowed).collect(),
            };
            if line == 1 && header {
                on_header(&fields)
            } else {
                row(line, &fields)
            }
        }),
    }
}

/// Calls `row(line, value)` for every non-empty line of a JSON-lines file (gzip or not).
pub fn for_each_json_line(
    path: &Path,
    mut row: impl FnMut(u64, serde_json::Value) -> Result<()>,
) -> Result<()> {
    for_each_line(path, |line, buffer| {
        if buffer.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let value: serde_json::Value = serde_json::from_slice(buffer).map_err(|e| {
            let hint = if buffer.first() == Some(&b'{') && buffer.get(1) == Some(&b'\'') {
                " (this looks like a Python dict literal, as in the 2014 Amazon metadata dumps: \
                 convert it to JSON lines first)"
            } else {
                ""
            };
            DataError::parse(path, line, "json", format!("{e}{hint}"))
        })?;
        row(line, value)
    })
}

/// Calls `each(line, bytes)` for every non-empty line (1-based numbers, line ends removed).
fn for_each_line(path: &Path, mut each: impl FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
    let mut reader = open_text(path)?;
    let mut buffer = Vec::with_capacity(1024);
    let mut line = 0u64;
    loop {
        buffer.clear();
        let read = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| DataError::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        line += 1;
        while matches!(buffer.last(), Some(b'\n' | b'\r')) {
            buffer.pop();
        }
        if !buffer.is_empty() {
            each(line, &buffer)?;
        }
    }
}

/// The position of `name` in a header row (exact match first, then case-insensitive).
pub fn header_index(path: &Path, header: &[Cow<'_, str>], name: &str) -> Result<usize> {
    let clean = |s: &str| s.trim().trim_start_matches('\u{feff}').to_string();
    header
        .iter()
        .position(|h| clean(h) == name)
        .or_else(|| {
            header
                .iter()
                .position(|h| clean(h).eq_ignore_ascii_case(name))
        })
        .ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            found: header
                .iter()
                .map(|h| clean(h))
                .collect::<Vec<_>>()
                .join(", "),
        })
}
