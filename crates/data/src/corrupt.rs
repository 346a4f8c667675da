//! Seeded corruptions of valid inputs, for the fuzz tests of every reader in the workspace:
//! each case takes a valid file's bytes and breaks them the way disks, downloads and careless
//! writers do, so a reader can be checked to answer with an error (never a panic, a hang or an
//! unbounded allocation).

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

/// Values that break length and offset fields.
const EXTREMES: [u64; 8] = [
    0,
    1,
    0x7f,
    0xffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 7,
    1 << 40,
];

/// Produces corrupted copies of one valid input.
pub struct Corruptor {
    rng: Xoshiro256PlusPlus,
}

impl Corruptor {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// One corrupted copy of `valid`: truncated, bytes flipped, a field overwritten with an
    /// extreme little-endian integer, garbage inserted, a region repeated, or several of these.
    pub fn bytes(&mut self, valid: &[u8]) -> Vec<u8> {
        let mut out = valid.to_vec();
        let rounds = self.rng.random_range(1..=3);
        for _ in 0..rounds {
            if out.is_empty() {
                out.push(self.rng.random());
                continue;
            }
            match self.rng.random_range(0..6) {
                0 => {
                    let keep = self.rng.random_range(0..out.len());
                    out.truncate(keep);
                }
                1 => {
                    for _ in 0..self.rng.random_range(1..=8) {
                        let at = self.rng.random_range(0..out.len());
                        out[at] ^= 1 << self.rng.random_range(0..8);
                    }
                }
                2 => {
                    let value = EXTREMES[self.rng.random_range(0..EXTREMES.len())];
                    let width = [1usize, 2, 4, 8][self.rng.random_range(0..4)];
                    let at = self.rng.random_range(0..out.len());
                    for (i, byte) in value.to_le_bytes().iter().take(width).enumerate() {
                        if let Some(slot) = out.get_mut(at + i) {
                            *slot = *byte;
                        }
                    }
                }
                3 => {
                    let at = self.rng.random_range(0..=out.len());
                    let garbage: Vec<u8> = (0..self.rng.random_range(1..64))
                        .map(|_| self.rng.random())
                        .collect();
                    out.splice(at..at, garbage);
                }
                4 => {
                    let start = self.rng.random_range(0..out.len());
                    let end = (start + self.rng.random_range(1..256)).min(out.len());
                    let region = out[start..end].to_vec();
                    let at = self.rng.random_range(0..=out.len());
                    out.splice(at..at, region);
                }
                _ => {
                    let at = self.rng.random_range(0..out.len());
                    out[at] = self.rng.random();
                }
            }
        }
        out
    }

    /// One corrupted copy of a text file (CSV, TSV, JSON lines, TOML): a number replaced by
    /// NaN, ±inf, an overflowing or an empty value, or a JSON key repeated with another value
    /// (`{"a": 1, "a": "x"}`) — what byte-level corruption rarely produces.
    pub fn text(&mut self, valid: &[u8]) -> Vec<u8> {
        const SPECIAL: [&[u8]; 10] = [
            b"NaN",
            b"nan",
            b"inf",
            b"-inf",
            b"Infinity",
            b"-Infinity",
            b"1e999",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"",
        ];
        let mut out = valid.to_vec();
        for _ in 0..self.rng.random_range(1..=3) {
            if self.rng.random_range(0..3) == 0
                && let Some(repeated) = self.repeat_json_key(&out)
            {
                out = repeated;
                continue;
            }
            // A run of digits (with its sign and point) somewhere after a random position.
            let from = self.rng.random_range(0..=out.len());
            let Some(start) = out[from..]
                .iter()
                .position(u8::is_ascii_digit)
                .map(|i| i + from)
            else {
                continue;
            };
            let start = if start > 0 && out[start - 1] == b'-' {
                start - 1
            } else {
                start
            };
            let end = out[start + 1..]
                .iter()
                .position(|b| !(b.is_ascii_digit() || *b == b'.' || *b == b'e'))
                .map_or(out.len(), |i| i + start + 1);
            let special = SPECIAL[self.rng.random_range(0..SPECIAL.len())];
            out.splice(start..end, special.iter().copied());
        }
        out
    }

    /// `valid` with one `"key": value` of a JSON object repeated right after itself with
    /// another value, when it has one.
    fn repeat_json_key(&mut self, valid: &[u8]) -> Option<Vec<u8>> {
        let from = self.rng.random_range(0..=valid.len());
        let open = valid[from..]
            .windows(2)
            .position(|w| w == b"{\"" || w == b",\"" || w == b", " || w == b"{ ")?
            + from
            + 1;
        let key_start = valid[open..].iter().position(|&b| b == b'"')? + open;
        let key_end = valid[key_start + 1..].iter().position(|&b| b == b'"')? + key_start + 2;
        // A key is a string followed (after spaces) by a colon.
        let after = valid[key_end..].iter().find(|&&b| b != b' ')?;
        if *after != b':' {
            return None;
        }
        let mut out = valid[..key_start].to_vec();
        out.extend_from_slice(&valid[key_start..key_end]);
        out.extend_from_slice(b": \"duplicate\", ");
        out.extend_from_slice(&valid[key_start..]);
        Some(out)
    }

    /// One corrupted copy of a JSON value: a value somewhere in it replaced by another type,
    /// an extreme number, an empty or an enormous string, a deep nest, or a key removed.
    pub fn json(&mut self, valid: &serde_json::Value) -> serde_json::Value {
        let mut out = valid.clone();
        let rounds = self.rng.random_range(1..=2);
        for _ in 0..rounds {
            let replacement = self.json_value();
            let remove = self.rng.random_range(0..4) == 0;
            self.replace_somewhere(&mut out, replacement, remove);
        }
        out
    }

    /// Walks down a random path of `value` and replaces (or removes) what it ends on.
    fn replace_somewhere(
        &mut self,
        value: &mut serde_json::Value,
        replacement: serde_json::Value,
        remove: bool,
    ) {
        let descend = self.rng.random_range(0..3) > 0;
        match value {
            serde_json::Value::Object(map) if !map.is_empty() && descend => {
                let keys: Vec<String> = map.keys().cloned().collect();
                let key = keys[self.rng.random_range(0..keys.len())].clone();
                if remove && self.rng.random_range(0..2) == 0 {
                    map.remove(&key);
                } else if let Some(inner) = map.get_mut(&key) {
                    self.replace_somewhere(inner, replacement, remove);
                }
            }
            serde_json::Value::Array(items) if !items.is_empty() && descend => {
                let at = self.rng.random_range(0..items.len());
                self.replace_somewhere(&mut items[at], replacement, remove);
            }
            _ => *value = replacement,
        }
    }

    fn json_value(&mut self) -> serde_json::Value {
        use serde_json::{Value, json};
        match self.rng.random_range(0..10) {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(-1),
            3 => json!(1e308),
            4 => json!(u64::MAX),
            5 => json!(""),
            6 => Value::String("x".repeat(self.rng.random_range(1..200_000))),
            7 => json!([]),
            8 => {
                let mut nested = json!(1);
                for _ in 0..self.rng.random_range(1..200) {
                    nested = json!([nested]);
                }
                nested
            }
            _ => json!({"role": "narrator", "content": 3}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_corruptions_put_special_numbers_and_repeated_keys_in_place() {
        let valid = br#"{"user": 12, "rating": 4.5}"#;
        let mut corruptor = Corruptor::new(3);
        let outputs: Vec<String> = (0..200)
            .map(|_| String::from_utf8(corruptor.text(valid)).unwrap())
            .collect();
        assert!(
            outputs
                .iter()
                .any(|o| o.contains("NaN") || o.contains("inf"))
        );
        assert!(
            outputs
                .iter()
                .any(|o| o.matches("\"rating\"").count() == 2 || o.matches("\"user\"").count() == 2),
            "{outputs:?}"
        );
        let csv = b"1,2,5,100\n";
        assert_ne!(Corruptor::new(1).text(csv), csv.to_vec());
    }
}
