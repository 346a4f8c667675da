//! Per-user chronological sequences from an interaction log.

use std::collections::BTreeMap;

use crate::logs::{Interaction, InteractionLog};

/// One user's interactions in time order (ties keep the file order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSequence {
    pub user: u32,
    pub items: Vec<u32>,
    pub timestamps: Vec<i64>,
    /// Positions in the input file: the chronology's tie-breaker (and the whole chronology of
    /// logs without time).
    pub orders: Vec<u64>,
}

impl UserSequence {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The global time order key of position `i`.
    pub fn key(&self, i: usize) -> (i64, u64) {
        (self.timestamps[i], self.orders[i])
    }
}

/// Groups the log by user (users in dense-id order) and sorts each sequence by
/// `(timestamp, file order)`; interactions below `min_rating` are dropped and counted.
pub fn user_sequences(
    log: &InteractionLog,
    min_rating: Option<f32>,
    skipped: &mut BTreeMap<String, u64>,
) -> Vec<UserSequence> {
    let mut kept: Vec<&Interaction> = Vec::with_capacity(log.interactions.len());
    for interaction in &log.interactions {
        match min_rating {
            Some(_) if interaction.rating.is_nan() => {
                *skipped
                    .entry("no rating to compare with --min-rating".into())
                    .or_default() += 1;
            }
            Some(threshold) if interaction.rating < threshold => {
                *skipped
                    .entry("rating below --min-rating".into())
                    .or_default() += 1;
            }
            _ => kept.push(interaction),
        }
    }
    kept.sort_by_key(|i| (i.user, i.timestamp, i.order));
    let mut sequences: Vec<UserSequence> = Vec::new();
    for interaction in kept {
        match sequences.last_mut() {
            Some(last) if last.user == interaction.user => {
                last.items.push(interaction.item);
                last.timestamps.push(interaction.timestamp);
                last.orders.push(interaction.order);
            }
            _ => sequences.push(UserSequence {
                user: interaction.user,
                items: vec![interaction.item],
                timestamps: vec![interaction.timestamp],
                orders: vec![interaction.order],
            }),
        }
    }
    sequences
}
