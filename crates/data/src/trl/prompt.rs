//! The implicit prompt of a preference row without a `prompt` column: the beginning that the
//! chosen and rejected completions share, cut as TRL's `extract_prompt` cuts it.
//!
//! TRL walks the two sequences (characters of a string, messages of a conversation) to the
//! first position where they differ; for strings, a space just before that position goes with
//! the completions. When one sequence is a prefix of the other, TRL's loop ends on the last
//! position of the shorter one, which then becomes the completions' only element; that is kept
//! here. One deviation: TRL reads the "space before" at index −1 (Python's last character) when
//! the very first characters differ; here the prompt is then simply empty.
//!
//! With K rejected completions (this project's extension) the prompt is the shortest of the K
//! pairwise cuts, which every completion shares.

use super::Message;

/// TRL's cut of one pair: the length of the shared prompt, in elements.
fn cut<T: PartialEq>(chosen: &[T], rejected: &[T], is_space: impl Fn(&T) -> bool) -> usize {
    let shorter = chosen.len().min(rejected.len());
    match (0..shorter).find(|&i| chosen[i] != rejected[i]) {
        Some(i) if i > 0 && is_space(&chosen[i - 1]) => i - 1,
        Some(i) => i,
        None => shorter.saturating_sub(1),
    }
}

/// Splits string completions into `(prompt, chosen, rejected)`.
pub fn extract_text_prompt(chosen: &str, rejected: &[String]) -> (String, String, Vec<String>) {
    let chosen_chars: Vec<char> = chosen.chars().collect();
    let length = rejected
        .iter()
        .map(|r| {
            let r: Vec<char> = r.chars().collect();
            cut(&chosen_chars, &r, |c| *c == ' ')
        })
        .min()
        .unwrap_or(0);
    let split = |text: &str| -> (String, String) {
        let at = text
            .char_indices()
            .nth(length)
            .map_or(text.len(), |(b, _)| b);
        (text[..at].to_string(), text[at..].to_string())
    };
    let (prompt, chosen) = split(chosen);
    let rejected = rejected.iter().map(|r| split(r).1).collect();
    (prompt, chosen, rejected)
}

/// Splits conversations into `(prompt, chosen, rejected)` messages.
pub fn extract_conversation_prompt(
    chosen: &[Message],
    rejected: &[Vec<Message>],
) -> (Vec<Message>, Vec<Message>, Vec<Vec<Message>>) {
    let length = rejected
        .iter()
        .map(|r| cut(chosen, r, |_| false))
        .min()
        .unwrap_or(0);
    (
        chosen[..length].to_vec(),
        chosen[length..].to_vec(),
        rejected.iter().map(|r| r[length..].to_vec()).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trl::Role;

    #[test]
    fn strings_are_cut_before_the_space_that_precedes_the_difference() {
        let (prompt, chosen, rejected) =
            extract_text_prompt("The sky is blue.", &["The sky is green.".to_string()]);
        assert_eq!(prompt, "The sky is");
        assert_eq!(chosen, " blue.");
        assert_eq!(rejected, vec![" green."]);
    }

    #[test]
    fn several_rejected_share_the_shortest_cut_and_multibyte_text_is_split_on_characters() {
        let (prompt, chosen, rejected) = extract_text_prompt(
            "Été: chaud",
            &["Été: froid".to_string(), "Été- x".to_string()],
        );
        assert_eq!(prompt, "Été");
        assert_eq!(chosen, ": chaud");
        assert_eq!(rejected, vec![": froid", "- x"]);
    }

    #[test]
    fn a_prefix_keeps_its_last_character_as_the_completion_as_trl_does() {
        let (prompt, chosen, rejected) = extract_text_prompt("abc", &["abcd".to_string()]);
        assert_eq!((prompt.as_str(), chosen.as_str()), ("ab", "c"));
        assert_eq!(rejected, vec!["cd"]);
    }

    #[test]
    fn conversations_are_cut_at_the_first_differing_message() {
        let m = |role, content: &str| Message {
            role,
            content: content.into(),
        };
        let chosen = vec![m(Role::User, "hi"), m(Role::Assistant, "hello")];
        let rejected = vec![vec![m(Role::User, "hi"), m(Role::Assistant, "go away")]];
        let (prompt, chosen, rejected) = extract_conversation_prompt(&chosen, &rejected);
        assert_eq!(prompt, vec![m(Role::User, "hi")]);
        assert_eq!(chosen, vec![m(Role::Assistant, "hello")]);
        assert_eq!(rejected[0], vec![m(Role::Assistant, "go away")]);
    }
}
