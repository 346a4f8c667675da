//! A host-side batch of token rows: ids, per-token positions and the attention mask. Builders
//! in [`crate::scoring`] and [`crate::generate`] lay responses out in it; the model only reads it.

use crate::error::{ModelError, Result};

/// `rows` sequences of `len` slots each (row-major). The first `soft_tokens` slots of every
/// row are placeholders for caller-supplied embeddings; padding slots attend only to themselves
/// so every softmax row has a finite maximum.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedBatch {
    pub rows: usize,
    pub len: usize,
    pub soft_tokens: usize,
    /// `rows × len` token ids (anything in the soft-token and padding slots).
    pub tokens: Vec<i64>,
    /// `rows × len` position of each slot.
    pub positions: Vec<usize>,
    /// `rows × len × len`: `allowed[r][q][k]` is true when slot `q` may attend to slot `k`.
    pub allowed: Vec<bool>,
}

impl PackedBatch {
    /// An empty batch of `rows × len` slots: token 0 (`pad`), position 0, every slot attending
    /// only to itself.
    pub fn new(rows: usize, len: usize, soft_tokens: usize, pad: u32) -> Self {
        let mut allowed = vec![false; rows * len * len];
        for row in 0..rows {
            for slot in 0..len {
                allowed[(row * len + slot) * len + slot] = true;
            }
        }
        Self {
            rows,
            len,
            soft_tokens,
            tokens: vec![i64::from(pad); rows * len],
            positions: vec![0; rows * len],
            allowed,
        }
    }

    /// Lets slot `query` of `row` attend to slot `key`.
    pub fn allow(&mut self, row: usize, query: usize, key: usize) {
        self.allowed[(row * self.len + query) * self.len + key] = true;
    }

    /// Writes one token and its position.
    pub fn put(&mut self, row: usize, slot: usize, token: u32, position: usize) {
        self.tokens[row * self.len + slot] = i64::from(token);
        self.positions[row * self.len + slot] = position;
    }

    /// Makes `slots` (in order) a causal run in `row`, each also seeing every slot in `context`.
    pub fn causal(&mut self, row: usize, context: &[usize], slots: &[usize]) {
        for (i, &query) in slots.iter().enumerate() {
            for &key in context {
                self.allow(row, query, key);
            }
            for &key in &slots[..=i] {
                self.allow(row, query, key);
            }
        }
    }

    /// Checks that the buffers agree with the dimensions.
    pub fn check(&self) -> Result<()> {
        let slots = self.rows * self.len;
        if self.rows == 0 || self.len == 0 {
            return Err(ModelError::InvalidConfig(
                "an empty batch has nothing to run".into(),
            ));
        }
        if self.tokens.len() != slots
            || self.positions.len() != slots
            || self.allowed.len() != slots * self.len
            || self.soft_tokens >= self.len
        {
            return Err(ModelError::InvalidConfig(format!(
                "packed batch buffers disagree with {} rows × {} slots ({} soft)",
                self.rows, self.len, self.soft_tokens
            )));
        }
        Ok(())
    }
}
