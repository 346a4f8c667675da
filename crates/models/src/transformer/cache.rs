//! The keys and values of slots already run, so incremental decoding runs only the new token.

use super::attention::LayerCache;
use crate::error::{ModelError, Result};
use burn::tensor::{Int, Tensor, TensorData};

/// Every block's [`LayerCache`], for `rows` sequences of equal length.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub layers: Vec<LayerCache>,
}

impl KvCache {
    /// Rows and slots cached.
    pub fn dims(&self) -> [usize; 2] {
        self.layers
            .first()
            .map(|layer| {
                let [rows, _, slots, _] = layer.keys.dims();
                [rows, slots]
            })
            .unwrap_or([0, 0])
    }

    /// The cache of the given rows, in that order (beam search keeps the parents of its new
    /// beams; a row may be taken several times).
    pub fn select(&self, rows: &[usize]) -> Result<Self> {
        let [have, _] = self.dims();
        if let Some(&bad) = rows.iter().find(|&&row| row >= have) {
            return Err(ModelError::InvalidConfig(format!(
                "row {bad} is not in a cache of {have} rows"
            )));
        }
        let Some(first) = self.layers.first() else {
            return Ok(self.clone());
        };
        let indices: Vec<i64> = rows.iter().map(|&row| row as i64).collect();
        let indices = Tensor::<1, Int>::from_data(
            TensorData::new(indices, [rows.len()]),
            &first.keys.device(),
        );
        Ok(Self {
            layers: self
                .layers
                .iter()
                .map(|layer| LayerCache {
                    keys: layer.keys.clone().select(0, indices.clone()),
                    values: layer.values.clone().select(0, indices.clone()),
                })
                .collect(),
        })
    }

    /// Checks the cache fits a model of `layers` blocks and a batch of `rows`; returns the
    /// cached slots.
    pub(crate) fn check(&self, layers: usize, rows: usize) -> Result<usize> {
        let [cached_rows, slots] = self.dims();
        if self.layers.len() != layers || cached_rows != rows {
            return Err(ModelError::InvalidConfig(format!(
                "a cache of {} layers × {cached_rows} rows does not fit a model of {layers} layers \
                 and a batch of {rows} rows",
                self.layers.len()
            )));
        }
        Ok(slots)
    }
}
