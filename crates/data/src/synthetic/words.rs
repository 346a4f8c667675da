//! Made-up but pronounceable words, so that titles and responses tokenize into real sub-words
//! and share pieces the way natural titles do.

use rand::{Rng, RngExt};

const ONSETS: [&str; 16] = [
    "b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st", "tr",
];
const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ea"];
const CODAS: [&str; 8] = ["", "n", "r", "s", "l", "m", "nd", "st"];

/// A vocabulary of `size` distinct words of 1–3 syllables.
pub fn vocabulary(size: usize, rng: &mut dyn Rng) -> Vec<String> {
    let mut words = Vec::with_capacity(size);
    let mut seen = std::collections::HashSet::with_capacity(size);
    while words.len() < size {
        let syllables = rng.random_range(1..=3);
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[rng.random_range(0..ONSETS.len())]);
            word.push_str(VOWELS[rng.random_range(0..VOWELS.len())]);
            word.push_str(CODAS[rng.random_range(0..CODAS.len())]);
        }
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// `count` words of `vocabulary`, capitalised, as a title.
pub fn title(vocabulary: &[String], count: usize, rng: &mut dyn Rng) -> String {
    (0..count)
        .map(|_| {
            let word = &vocabulary[rng.random_range(0..vocabulary.len())];
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
