//! A preference task a pretrained LM learns quickly: short factual questions whose prompt
//! states the answer style the user wants (capital letters, lowercase, one word, a polite
//! opening). The chosen completion is the answer in that style, the rejected ones the same
//! answer in other styles, so the only signal is whether the model follows the stated
//! preference. Written in TRL's layout (a Hugging Face dataset folder), as standard,
//! conversational or unpaired rows.
//!
//! Facts are drawn from names × counts × things; the test split uses names the training split
//! never shows, so held-out accuracy measures the style preference, not memorised answers.

use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};

use crate::error::{DataError, Result};
use crate::trl::{
    Extras, Format, Message, PairedRow, Role, RowOrigin, Text, TrlRows, UnpairedRow, write_parquet,
};

const NAMES: [&str; 24] = [
    "Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Keiko",
    "Luca", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wes", "Yara",
];
const THINGS: [&str; 10] = [
    "cats", "books", "bikes", "lamps", "apples", "chairs", "kites", "plants", "maps", "drums",
];
const COUNTS: [&str; 9] = [
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
];

/// How the user asks the answer to be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Capitals,
    Lowercase,
    OneWord,
    Polite,
}

impl Style {
    pub const ALL: [Style; 4] = [
        Style::Capitals,
        Style::Lowercase,
        Style::OneWord,
        Style::Polite,
    ];

    fn instruction(self) -> &'static str {
        match self {
            Self::Capitals => "Please answer in capital letters.",
            Self::Lowercase => "Please answer in lowercase letters only.",
            Self::OneWord => "Please answer with a single word.",
            Self::Polite => "Please open your answer politely.",
        }
    }

    fn render(self, sentence: &str, word: &str) -> String {
        match self {
            Self::Capitals => sentence.to_uppercase(),
            Self::Lowercase => sentence.to_lowercase(),
            Self::OneWord => {
                let mut chars = word.chars();
                chars.next().map_or_else(String::new, |c| {
                    c.to_uppercase().chain(chars).collect::<String>() + "."
                })
            }
            Self::Polite => format!("Thank you for asking! {sentence}"),
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct StatedStyleSpec {
    pub train_rows: usize,
    pub test_rows: usize,
    /// Rejected completions per row (1–3: the other styles).
    pub negatives: usize,
    pub format: Format,
    /// Write KTO's unpaired rows (the chosen completion desirable, each rejected one not).
    pub unpaired: bool,
    /// The styles users ask for (a style always asked makes the preference unconditional).
    pub styles: Vec<Style>,
    /// Personalised rows: this many users, user `u` (1, 2, …) always wanting style
    /// `styles[(u − 1) % styles.len()]`, which the prompt no longer states, and rejecting the
    /// other users' styles; rows carry `user_id` (P-DPO).
    pub users: Option<usize>,
    pub seed: u64,
}

impl Default for StatedStyleSpec {
    fn default() -> Self {
        Self {
            train_rows: 512,
            test_rows: 128,
            negatives: 1,
            format: Format::Conversational,
            unpaired: false,
            styles: Style::ALL.to_vec(),
            users: None,
            seed: 0,
        }
    }
}

fn text(format: Format, role: Role, content: String) -> Text {
    match format {
        Format::Standard => Text::Plain(content),
        Format::Conversational => Text::Conversation(vec![Message { role, content }]),
    }
}

impl StatedStyleSpec {
    fn check(&self) -> Result<()> {
        if !(1..=3).contains(&self.negatives) {
            return Err(DataError::parameter(
                "negatives",
                format!("{} is outside 1..=3 (the other styles)", self.negatives),
            ));
        }
        if self.users.is_some() && self.negatives >= self.styles.len() {
            return Err(DataError::parameter(
                "negatives",
                format!(
                    "personalised rows reject other users' styles: {} negatives need more than \
                     {} styles",
                    self.negatives,
                    self.styles.len()
                ),
            ));
        }
        if self.users == Some(0) {
            return Err(DataError::parameter(
                "users",
                "personalised rows need at least one user",
            ));
        }
        if self.styles.is_empty() || self.train_rows == 0 || self.test_rows == 0 {
            return Err(DataError::parameter(
                "styles",
                "needs at least one style and rows in both splits",
            ));
        }
        Ok(())
    }

    /// One split's pairs; `names` are the people its facts are about.
    fn pairs(
        &self,
        rows: usize,
        names: &[&str],
        split: &Path,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Vec<PairedRow> {
        (0..rows)
            .map(|row| {
                let name = names[rng.random_range(0..names.len())];
                let thing = THINGS[rng.random_range(0..THINGS.len())];
                let count = COUNTS[rng.random_range(0..COUNTS.len())];
                let user = self.users.map(|n| rng.random_range(1..=n.max(1)));
                let style = match user {
                    Some(u) => self.styles[(u - 1) % self.styles.len()],
                    None => self.styles[rng.random_range(0..self.styles.len())],
                };
                let instruction = if user.is_some() {
                    ""
                } else {
                    style.instruction()
                };
                let question = format!("How many {thing} does {name} have?");
                let sentence = format!("{name} has {count} {thing}.");
                let prompt = match self.format {
                    Format::Standard => {
                        format!("Question: {question} {instruction}")
                            .trim_end()
                            .to_string()
                            + "\nAnswer:"
                    }
                    Format::Conversational => {
                        format!("{question} {instruction}").trim_end().to_string()
                    }
                };
                let lead = if self.format == Format::Standard {
                    " "
                } else {
                    ""
                };
                // Personalised rows reject other users' styles only, so that nothing but the
                // user tells which completion is preferred.
                let pool: &[Style] = if user.is_some() {
                    &self.styles
                } else {
                    &Style::ALL
                };
                let mut others: Vec<Style> = pool.iter().copied().filter(|s| *s != style).collect();
                others.shuffle(rng);
                let completion = |s: Style| {
                    text(
                        self.format,
                        Role::Assistant,
                        format!("{lead}{}", s.render(&sentence, count)),
                    )
                };
                PairedRow {
                    origin: RowOrigin {
                        file: split.to_path_buf(),
                        row: row as u64,
                    },
                    prompt: text(self.format, Role::User, prompt),
                    chosen: completion(style),
                    rejected: others[..self.negatives]
                        .iter()
                        .map(|&s| completion(s))
                        .collect(),
                    implicit_prompt: false,
                    extras: Extras {
                        user_id: user.map(|u| u as i64),
                        ..Extras::default()
                    },
                }
            })
            .collect()
    }

    /// Writes `dir/data/train-00000-of-00001.parquet` and `dir/data/test-00000-of-00001.parquet`;
    /// returns the row counts.
    pub fn write(&self, dir: &Path) -> Result<(usize, usize)> {
        self.check()?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(self.seed);
        let (train_names, test_names) = NAMES.split_at(NAMES.len() * 3 / 4);
        let mut counts = Vec::new();
        for (split, rows, names) in [
            ("train", self.train_rows, train_names),
            ("test", self.test_rows, test_names),
        ] {
            let path = dir
                .join("data")
                .join(format!("{split}-00000-of-00001.parquet"));
            let pairs = self.pairs(rows, names, &path, &mut rng);
            let rows = if self.unpaired {
                TrlRows::Unpaired(
                    pairs
                        .into_iter()
                        .flat_map(|p| {
                            let chosen = UnpairedRow {
                                origin: p.origin.clone(),
                                prompt: p.prompt.clone(),
                                completion: p.chosen,
                                label: true,
                                extras: p.extras.clone(),
                            };
                            let rejected = p.rejected.into_iter().map(move |r| UnpairedRow {
                                origin: p.origin.clone(),
                                prompt: p.prompt.clone(),
                                completion: r,
                                label: false,
                                extras: p.extras.clone(),
                            });
                            std::iter::once(chosen).chain(rejected)
                        })
                        .collect(),
                )
            } else {
                TrlRows::Paired(pairs)
            };
            counts.push(rows.len());
            write_parquet(&rows, self.format, &path)?;
        }
        Ok((counts[0], counts[1]))
    }
}
