//! One JSON object → one checked row, and a split's rows all of one format.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::json_rows::{kind, read_rows};
use super::prompt::{extract_conversation_prompt, extract_text_prompt};
use super::{
    Extras, Format, Message, PairedRow, Role, RowOrigin, Text, TrlDataset, TrlRows, UnpairedRow,
};
use crate::error::{DataError, Result};

/// The layout one row has; every row of a split must have the first row's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    format: Format,
    paired: bool,
    implicit_prompt: bool,
}

impl Layout {
    fn describe(self) -> String {
        let kind = if self.paired {
            if self.implicit_prompt {
                "paired with an implicit prompt (chosen/rejected)"
            } else {
                "paired (prompt/chosen/rejected)"
            }
        } else {
            "unpaired (prompt/completion/label)"
        };
        format!("{} {kind}", self.format.name())
    }
}

enum Row {
    Paired(PairedRow),
    Unpaired(UnpairedRow),
}

pub(super) fn read_files(files: Vec<PathBuf>) -> Result<TrlDataset> {
    let mut first: Option<(Layout, RowOrigin)> = None;
    let mut paired = Vec::new();
    let mut unpaired = Vec::new();
    for file in &files {
        for (row, object) in read_rows(file)? {
            let origin = RowOrigin {
                file: file.clone(),
                row,
            };
            let (layout, parsed) = parse_row(&object, origin.clone())?;
            match &first {
                None => first = Some((layout, origin)),
                Some((expected, at)) if *expected != layout => {
                    return Err(DataError::invalid_row(
                        file,
                        row,
                        "row",
                        format!(
                            "this row is {}, but {at} is {}: a split holds one format",
                            layout.describe(),
                            expected.describe()
                        ),
                    ));
                }
                Some(_) => {}
            }
            match parsed {
                Row::Paired(r) => paired.push(r),
                Row::Unpaired(r) => unpaired.push(r),
            }
        }
    }
    let Some((layout, _)) = first else {
        return Err(DataError::MissingInput {
            path: files.first().cloned().unwrap_or_default(),
            reason: "the split has no rows".into(),
        });
    };
    Ok(TrlDataset {
        files,
        format: layout.format,
        rows: if layout.paired {
            TrlRows::Paired(paired)
        } else {
            TrlRows::Unpaired(unpaired)
        },
    })
}

/// A row's error: the file, the row, the column.
struct At<'a> {
    file: &'a Path,
    row: u64,
}

impl At<'_> {
    fn error(&self, column: &str, reason: impl Into<String>) -> DataError {
        DataError::invalid_row(self.file, self.row, column, reason)
    }
}

fn present<'a>(object: &'a Map<String, Value>, column: &str) -> Option<&'a Value> {
    object.get(column).filter(|v| !v.is_null())
}

fn parse_row(object: &Map<String, Value>, origin: RowOrigin) -> Result<(Layout, Row)> {
    let at = At {
        file: &origin.file,
        row: origin.row,
    };
    let has = |c: &str| present(object, c).is_some();
    let paired = has("chosen") || has("rejected");
    let unpaired = has("completion") || has("label");
    if paired && unpaired {
        return Err(at.error(
            "row",
            "holds both paired (chosen/rejected) and unpaired (completion/label) columns",
        ));
    }
    if paired {
        parse_paired(object, &at, origin.clone())
    } else if unpaired {
        parse_unpaired(object, &at, origin.clone())
    } else {
        let mut found: Vec<&str> = object.keys().map(String::as_str).collect();
        found.sort_unstable();
        Err(at.error(
            "row",
            format!(
                "fits no TRL preference format (prompt/chosen/rejected, chosen/rejected, or \
                 prompt/completion/label); its non-null columns: {}",
                found
                    .iter()
                    .filter(|c| has(c))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    }
}

fn required<'a>(object: &'a Map<String, Value>, column: &str, at: &At<'_>) -> Result<&'a Value> {
    present(object, column).ok_or_else(|| at.error(column, "missing (or null)"))
}

fn parse_paired(
    object: &Map<String, Value>,
    at: &At<'_>,
    origin: RowOrigin,
) -> Result<(Layout, Row)> {
    let chosen = text(required(object, "chosen", at)?, "chosen", at)?;
    let rejected = rejected_texts(required(object, "rejected", at)?, at)?;
    let format = format_of(&chosen);
    for r in &rejected {
        same_format(format, r, "rejected", at)?;
    }
    let explicit = present(object, "prompt")
        .map(|v| text(v, "prompt", at))
        .transpose()?;
    let implicit_prompt = explicit.is_none();
    let (prompt, chosen, rejected) = match explicit {
        Some(prompt) => {
            same_format(format, &prompt, "prompt", at)?;
            (prompt, chosen, rejected)
        }
        None => implicit(chosen, rejected, at)?,
    };
    let mut extras = extras(object, at)?;
    extras.ref_rejected_logps = present(object, "ref_rejected_logps")
        .map(|v| float_list(v, "ref_rejected_logps", rejected.len(), at))
        .transpose()?;
    extras.ref_chosen_logp = optional_float(object, "ref_chosen_logp", at)?;
    let layout = Layout {
        format,
        paired: true,
        implicit_prompt,
    };
    Ok((
        layout,
        Row::Paired(PairedRow {
            origin,
            prompt,
            chosen,
            rejected,
            implicit_prompt,
            extras,
        }),
    ))
}

fn parse_unpaired(
    object: &Map<String, Value>,
    at: &At<'_>,
    origin: RowOrigin,
) -> Result<(Layout, Row)> {
    let prompt = text(
        present(object, "prompt").ok_or_else(|| {
            at.error(
                "prompt",
                "missing: unpaired rows (completion/label) need a prompt",
            )
        })?,
        "prompt",
        at,
    )?;
    let completion = text(required(object, "completion", at)?, "completion", at)?;
    let format = format_of(&prompt);
    same_format(format, &completion, "completion", at)?;
    let label = match required(object, "label", at)? {
        Value::Bool(b) => *b,
        other => {
            return Err(at.error(
                "label",
                format!(
                    "expected a boolean (desirable or not), found {}",
                    kind(other)
                ),
            ));
        }
    };
    let mut extras = extras(object, at)?;
    extras.ref_chosen_logp = optional_float(object, "ref_logp", at)?;
    Ok((
        Layout {
            format,
            paired: false,
            implicit_prompt: false,
        },
        Row::Unpaired(UnpairedRow {
            origin,
            prompt,
            completion,
            label,
            extras,
        }),
    ))
}

/// Cuts the shared beginning off; `rejected` was checked to have `chosen`'s format.
fn implicit(chosen: Text, rejected: Vec<Text>, at: &At<'_>) -> Result<(Text, Text, Vec<Text>)> {
    let (prompt, chosen, rejected) = match chosen {
        Text::Plain(chosen) => {
            let rejected: Vec<String> = rejected
                .into_iter()
                .filter_map(|r| match r {
                    Text::Plain(s) => Some(s),
                    Text::Conversation(_) => None,
                })
                .collect();
            let (p, c, r) = extract_text_prompt(&chosen, &rejected);
            if c.is_empty() || r.iter().any(String::is_empty) {
                return Err(at.error(
                    "chosen",
                    "no prompt column, and chosen and rejected leave no completion after \
                     their shared beginning",
                ));
            }
            (
                Text::Plain(p),
                Text::Plain(c),
                r.into_iter().map(Text::Plain).collect(),
            )
        }
        Text::Conversation(chosen) => {
            let rejected: Vec<Vec<Message>> = rejected
                .into_iter()
                .filter_map(|r| match r {
                    Text::Conversation(m) => Some(m),
                    Text::Plain(_) => None,
                })
                .collect();
            let (p, c, r) = extract_conversation_prompt(&chosen, &rejected);
            if c.is_empty() || r.iter().any(Vec::is_empty) {
                return Err(at.error(
                    "chosen",
                    "no prompt column, and chosen and rejected leave no message after their \
                     shared beginning",
                ));
            }
            (
                Text::Conversation(p),
                Text::Conversation(c),
                r.into_iter().map(Text::Conversation).collect(),
            )
        }
    };
    let empty = match &prompt {
        Text::Plain(p) => p.is_empty(),
        Text::Conversation(m) => m.is_empty(),
    };
    if empty {
        return Err(at.error(
            "chosen",
            "no prompt column, and chosen and rejected share no beginning to take as the prompt",
        ));
    }
    Ok((prompt, chosen, rejected))
}

fn format_of(text: &Text) -> Format {
    match text {
        Text::Plain(_) => Format::Standard,
        Text::Conversation(_) => Format::Conversational,
    }
}

fn same_format(format: Format, text: &Text, column: &str, at: &At<'_>) -> Result<()> {
    let found = format_of(text);
    if found != format {
        return Err(at.error(
            column,
            format!(
                "is {} but the row's other texts are {}: a row is all strings or all \
                 conversations",
                found.name(),
                format.name()
            ),
        ));
    }
    Ok(())
}

/// A string or a list of messages.
fn text(value: &Value, column: &str, at: &At<'_>) -> Result<Text> {
    match value {
        Value::String(s) if s.is_empty() => Err(at.error(column, "an empty string")),
        Value::String(s) => Ok(Text::Plain(s.clone())),
        Value::Array(messages) => conversation(messages, column, at).map(Text::Conversation),
        other => Err(at.error(
            column,
            format!(
                "expected a string or a list of {{role, content}} messages, found {}",
                kind(other)
            ),
        )),
    }
}

fn conversation(messages: &[Value], column: &str, at: &At<'_>) -> Result<Vec<Message>> {
    if messages.is_empty() {
        return Err(at.error(column, "an empty list of messages"));
    }
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let Value::Object(m) = m else {
                return Err(at.error(
                    column,
                    format!("message {i} is {}, expected {{role, content}}", kind(m)),
                ));
            };
            let role = match m.get("role") {
                Some(Value::String(r)) => Role::parse(r).ok_or_else(|| {
                    at.error(
                        column,
                        format!(
                            "message {i} has the unknown role `{r}` (known: system, user, \
                             assistant, tool)"
                        ),
                    )
                })?,
                _ => return Err(at.error(column, format!("message {i} has no string `role`"))),
            };
            let content = match m.get("content") {
                Some(Value::String(c)) if c.trim().is_empty() => {
                    return Err(at.error(column, format!("message {i} has empty content")));
                }
                Some(Value::String(c)) => c.clone(),
                _ => {
                    return Err(at.error(column, format!("message {i} has no string `content`")));
                }
            };
            Ok(Message { role, content })
        })
        .collect()
}

/// `rejected`: one string, one conversation, a list of strings (K), or a list of
/// conversations (K).
fn rejected_texts(value: &Value, at: &At<'_>) -> Result<Vec<Text>> {
    match value {
        Value::Array(items) if items.is_empty() => Err(at.error(
            "rejected",
            "an empty list: a pair needs a rejected completion",
        )),
        Value::Array(items) if items.iter().all(|i| i.is_string() || i.is_array()) => {
            let texts = items
                .iter()
                .map(|i| text(i, "rejected", at))
                .collect::<Result<Vec<_>>>()?;
            if let Some(first) = texts.first() {
                for t in &texts {
                    same_format(format_of(first), t, "rejected", at)?;
                }
            }
            Ok(texts)
        }
        other => Ok(vec![text(other, "rejected", at)?]),
    }
}

fn extras(object: &Map<String, Value>, at: &At<'_>) -> Result<Extras> {
    let user_id = match present(object, "user_id") {
        None => None,
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
        Some(other) => {
            return Err(at.error(
                "user_id",
                format!("expected an integer, found {}", kind(other)),
            ));
        }
    };
    let weight = optional_float(object, "weight", at)?;
    if let Some(w) = weight.filter(|w| *w < 0.0) {
        return Err(at.error("weight", format!("{w} is negative")));
    }
    let smoothing = optional_float(object, "smoothing", at)?;
    if let Some(s) = smoothing.filter(|s| !(0.0..=0.5).contains(s)) {
        return Err(at.error("smoothing", format!("{s} is outside [0, 0.5]")));
    }
    Ok(Extras {
        user_id,
        weight: weight.map(|w| w as f32),
        smoothing: smoothing.map(|s| s as f32),
        ref_chosen_logp: None,
        ref_rejected_logps: None,
    })
}

fn float(value: &Value, column: &str, at: &At<'_>) -> Result<f64> {
    match value.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(at.error(
            column,
            format!("expected a finite number, found {}", kind(value)),
        )),
    }
}

fn optional_float(object: &Map<String, Value>, column: &str, at: &At<'_>) -> Result<Option<f64>> {
    present(object, column)
        .map(|v| float(v, column, at))
        .transpose()
}

fn float_list(value: &Value, column: &str, expected: usize, at: &At<'_>) -> Result<Vec<f64>> {
    let values = match value {
        Value::Array(items) => items
            .iter()
            .map(|v| float(v, column, at))
            .collect::<Result<Vec<_>>>()?,
        single => vec![float(single, column, at)?],
    };
    if values.len() != expected {
        return Err(at.error(
            column,
            format!(
                "{} values for {expected} rejected completions",
                values.len()
            ),
        ));
    }
    Ok(values)
}
