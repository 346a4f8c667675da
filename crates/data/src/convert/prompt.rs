//! Prompt templates for sequential recommendation, in the style of S-DPO's and LLaRA's prompts.

use crate::error::{DataError, Result};

/// A prompt with placeholders `{history}` (titles of the history, oldest first, joined by ", "),
/// `{candidates}` (candidate titles in prompt order, joined by ", "), `{num_candidates}` and
/// `{num_history}`. Other `{...}` names are rejected when the template is parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    text: String,
}

/// S-DPO's prompt shape (history, then "choose from the following N ...", ending in "Answer: "),
/// worded for any item domain.
pub const DEFAULT_TEMPLATE: &str = "This user has interacted with {history} in the past. \
Predict the next item this user will interact with. \
Choose the answer from the following {num_candidates} titles: {candidates}. Answer: ";

const PLACEHOLDERS: [&str; 4] = ["history", "candidates", "num_candidates", "num_history"];

impl Default for PromptTemplate {
    fn default() -> Self {
        Self {
            text: DEFAULT_TEMPLATE.to_string(),
        }
    }
}

impl PromptTemplate {
    /// Parses a template, checking its placeholders.
    pub fn new(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        let mut rest = text.as_str();
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                DataError::parameter("template", format!("unclosed `{{` in `{text}`"))
            })?;
            let name = &after[..close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(DataError::parameter(
                    "template",
                    format!(
                        "unknown placeholder `{{{name}}}`; known: {}",
                        PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                    ),
                ));
            }
            rest = &after[close + 1..];
        }
        if !text.contains("{candidates}") {
            return Err(DataError::parameter(
                "template",
                "the template must show the candidates: add `{candidates}`",
            ));
        }
        Ok(Self { text })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Fills the placeholders.
    pub fn render(&self, history: &[&str], candidates: &[&str]) -> String {
        self.text
            .replace("{history}", &history.join(", "))
            .replace("{candidates}", &candidates.join(", "))
            .replace("{num_candidates}", &candidates.len().to_string())
            .replace("{num_history}", &history.len().to_string())
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
