//! Prompt templates for sequential recommendation, in the style of S-DPO's and LLaRA's prompts.

use crate::error::{DataError, Result};

/// A prompt with placeholders `{history}` (titles of the history, oldest first, joined by ", "),
/// `{candidates}` (candidate titles in prompt order, joined by ", "), `{num_candidates}` and
/// `{num_history}`. Other `{...}` names are rejected when the template is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    text: String,
    /// The template cut at its placeholders, parsed once so rendering is a single pass.
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    History,
    Candidates,
    NumCandidates,
    NumHistory,
}

/// S-DPO's prompt shape (history, then "choose from the following N ...", ending in "Answer: "),
/// worded for any item domain.
pub const DEFAULT_TEMPLATE: &str = "This user has interacted with {history} in the past. \
Predict the next item this user will interact with. \
Choose the answer from the following {num_candidates} titles: {candidates}. Answer: ";

const PLACEHOLDERS: [&str; 4] = ["history", "candidates", "num_candidates", "num_history"];

impl Default for PromptTemplate {
    fn default() -> Self {
        Self::new(DEFAULT_TEMPLATE).expect("the default template is valid")
    }
}

impl PromptTemplate {
    /// Parses a template, checking its placeholders.
    pub fn new(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        let mut segments = Vec::new();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                DataError::parameter("template", format!("unclosed `{{` in `{text}`"))
            })?;
            if open > 0 {
                segments.push(Segment::Text(rest[..open].to_string()));
            }
            segments.push(match &after[..close] {
                "history" => Segment::History,
                "candidates" => Segment::Candidates,
                "num_candidates" => Segment::NumCandidates,
                "num_history" => Segment::NumHistory,
                name => {
                    return Err(DataError::parameter(
                        "template",
                        format!(
                            "unknown placeholder `{{{name}}}`; known: {}",
                            PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                        ),
                    ));
                }
            });
            rest = &after[close + 1..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Text(rest.to_string()));
        }
        if !segments.contains(&Segment::Candidates) {
            return Err(DataError::parameter(
                "template",
                "the template must show the candidates: add `{candidates}`",
            ));
        }
        Ok(Self { text, segments })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Fills the placeholders.
    pub fn render(&self, history: &[&str], candidates: &[&str]) -> String {
        use std::fmt::Write;
        let joined = |titles: &[&str]| titles.iter().map(|t| t.len() + 2).sum::<usize>();
        let mut out = String::with_capacity(self.text.len() + joined(history) + joined(candidates));
        let join = |out: &mut String, titles: &[&str]| {
            for (i, title) in titles.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(title);
            }
        };
        for segment in &self.segments {
            match segment {
                Segment::Text(text) => out.push_str(text),
                Segment::History => join(&mut out, history),
                Segment::Candidates => join(&mut out, candidates),
                Segment::NumCandidates => {
                    write!(out, "{}", candidates.len()).expect("String write")
                }
                Segment::NumHistory => write!(out, "{}", history.len()).expect("String write"),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_rejects_unknown_placeholders() {
        let template =
            PromptTemplate::new("Seen {history}; pick from {num_candidates}: {candidates}.")
                .unwrap();
        assert_eq!(
            template.render(&["A", "B"], &["C", "D"]),
            "Seen A, B; pick from 2: C, D."
        );
        assert!(PromptTemplate::new("{user} {candidates}").is_err());
        assert!(PromptTemplate::new("{history}").is_err());
        assert!(PromptTemplate::new("{candidates").is_err());
        let default = PromptTemplate::default().render(&["X"], &["Y", "Z"]);
        assert!(default.ends_with("Answer: ") && default.contains("following 2 titles: Y, Z."));
    }
}
