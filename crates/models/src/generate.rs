//! Generation: greedy and beam search, free or constrained to a candidate set through a prefix
//! trie over the candidates' token ids (a constrained decoder can only spell a candidate).
//!
//! With the KV cache (the default) the prompt runs once and every step runs only the new token
//! of each beam against the cached keys and values, reordered as beams are kept; without it
//! every step reruns prompt and prefix (the reference the cache is tested against).

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::transformer::{KvCache, PackedBatch, Transformer};

/// A trie over token sequences: which tokens may follow a given prefix.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixTrie {
    children: BTreeMap<u32, PrefixTrie>,
}

impl PrefixTrie {
    /// The trie of a set of sequences (each a candidate response, `eos` included).
    pub fn new<'a>(sequences: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let mut root = Self::default();
        for sequence in sequences {
            let mut node = &mut root;
            for &token in sequence {
                node = node.children.entry(token).or_default();
            }
        }
        root
    }

    /// Tokens allowed after `prefix` (empty when the prefix leaves the trie or completes it).
    pub fn next_tokens(&self, prefix: &[u32]) -> Vec<u32> {
        let mut node = self;
        for token in prefix {
            match node.children.get(token) {
                Some(child) => node = child,
                None => return Vec::new(),
            }
        }
        node.children.keys().copied().collect()
    }
}

/// Search settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenerateConfig {
    /// Beams kept per step; 1 is greedy decoding.
    pub beams: usize,
    /// Longest response, in tokens (`eos` included).
    pub max_tokens: usize,
    /// Reuse the keys and values of earlier slots instead of rerunning them every step.
    pub kv_cache: bool,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            beams: 1,
            max_tokens: 32,
            kv_cache: true,
        }
    }
}

/// One finished (or cut-off) response and its log-prob under the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    pub tokens: Vec<u32>,
    pub logp: f64,
    /// Whether it ended with `eos` (not cut at `max_tokens` or at a dead end of the trie).
    pub finished: bool,
}

/// Log-probs of the next token after each prefix (`rows` prefixes of equal length). Soft
/// tokens (`[S, d]`) lead every row, laid out as the scorer lays them out (positions `0..S`,
/// then the prompt), so generation conditions on them exactly as training scored them.
fn next_token_logps(
    model: &Transformer,
    prompt: &[u32],
    prefixes: &[Vec<u32>],
    soft_tokens: Option<&Tensor<2>>,
    pad: u32,
) -> Result<Vec<Vec<f64>>> {
    let soft = soft_tokens.map_or(0, |t| t.dims()[0]);
    let len = soft + prompt.len() + prefixes[0].len();
    let mut packed = PackedBatch::new(prefixes.len(), len, soft, pad);
    let slots: Vec<usize> = (0..len).collect();
    for (row, prefix) in prefixes.iter().enumerate() {
        for (i, &token) in prompt.iter().chain(prefix).enumerate() {
            packed.put(row, soft + i, token, soft + i);
        }
        for slot in 0..soft {
            packed.positions[row * len + slot] = slot;
        }
        packed.causal(row, &[], &slots);
    }
    let soft_rows = soft_tokens.map(|tokens| {
        let [s, d] = tokens.dims();
        tokens
            .clone()
            .reshape([1, s, d])
            .repeat_dim(0, prefixes.len())
    });
    last_logps(model, model.hidden(&packed, soft_rows)?)
}

/// The next-token log-probs of each live beam, either recomputed from scratch every step or
/// carried forward with a KV cache.
enum Decoder<'a> {
    Uncached {
        model: &'a Transformer,
        prompt: &'a [u32],
        soft_tokens: Option<&'a Tensor<2>>,
        pad: u32,
    },
    Cached {
        model: &'a Transformer,
        cache: KvCache,
        /// Position of the next slot.
        next_position: usize,
        /// Log-probs after each live beam's last slot.
        logps: Vec<Vec<f64>>,
        pad: u32,
    },
}

impl<'a> Decoder<'a> {
    fn new(
        model: &'a Transformer,
        prompt: &'a [u32],
        soft_tokens: Option<&'a Tensor<2>>,
        kv_cache: bool,
        pad: u32,
    ) -> Result<Self> {
        if !kv_cache {
            return Ok(Self::Uncached {
                model,
                prompt,
                soft_tokens,
                pad,
            });
        }
        // Prefill: soft tokens and the prompt, once.
        let soft = soft_tokens.map_or(0, |t| t.dims()[0]);
        let len = soft + prompt.len();
        let mut packed = PackedBatch::new(1, len, soft, pad);
        for (i, &token) in prompt.iter().enumerate() {
            packed.put(0, soft + i, token, soft + i);
        }
        for slot in 0..soft {
            packed.positions[slot] = slot;
        }
        let slots: Vec<usize> = (0..len).collect();
        packed.causal(0, &[], &slots);
        let soft_rows = soft_tokens.map(|tokens| {
            let [s, d] = tokens.dims();
            tokens.clone().reshape([1, s, d])
        });
        let (hidden, cache) = model.hidden_after(&packed, soft_rows, None)?;
        Ok(Self::Cached {
            model,
            cache,
            next_position: len,
            logps: last_logps(model, hidden)?,
            pad,
        })
    }

    /// Log-probs of the next token after each of `prefixes` (the live beams, in order).
    fn logps(&self, prefixes: &[Vec<u32>]) -> Result<Vec<Vec<f64>>> {
        match self {
            Self::Uncached {
                model,
                prompt,
                soft_tokens,
                pad,
            } => next_token_logps(model, prompt, prefixes, *soft_tokens, *pad),
            Self::Cached { logps, .. } => Ok(logps.clone()),
        }
    }

    /// Moves to the new live beams: `parents[i]` is the beam `prefixes[i]` extends by its last
    /// token.
    fn advance(&mut self, prefixes: &[Vec<u32>], parents: &[usize]) -> Result<()> {
        let Self::Cached {
            model,
            cache,
            next_position,
            logps,
            pad,
        } = self
        else {
            return Ok(());
        };
        let rows = prefixes.len();
        let mut packed = PackedBatch::new(rows, 1, 0, *pad);
        for (row, prefix) in prefixes.iter().enumerate() {
            let token = *prefix.last().ok_or_else(|| {
                ModelError::InvalidConfig("a live beam has no token to advance by".into())
            })?;
            packed.put(row, 0, token, *next_position);
        }
        let (hidden, extended) =
            model.hidden_after(&packed, None, Some(&cache.select(parents)?))?;
        *cache = extended;
        *next_position += 1;
        *logps = last_logps(model, hidden)?;
        Ok(())
    }
}

/// Log-probs of the next token after the last slot of every row of `hidden` `[rows, len, d]`.
fn last_logps(model: &Transformer, hidden: Tensor<3>) -> Result<Vec<Vec<f64>>> {
    let [rows, len, d] = hidden.dims();
    let last: Tensor<2> = hidden.narrow(1, len - 1, 1).reshape([rows, d]);
    let logps = log_softmax(model.logits(last), 1);
    let vocab = logps.dims()[1];
    let values: Vec<f64> = logps
        .into_data()
        .convert::<f64>()
        .try_to_vec()
        .map_err(|e| ModelError::device_read("logits", e))?;
    Ok(values.chunks(vocab).map(<[f64]>::to_vec).collect())
}

/// Generates up to `config.beams` responses to `prompt`, best first. With a trie, every
/// response is a path of the trie.
pub fn generate(
    model: &Transformer,
    prompt: &[u32],
    config: &GenerateConfig,
    trie: Option<&PrefixTrie>,
    eos: u32,
    pad: u32,
) -> Result<Vec<Generated>> {
    generate_with_soft_tokens(model, prompt, None, config, trie, eos, pad)
}

/// [`generate`] with soft tokens `[S, d]` before the prompt (a P-RLHF user's embeddings), as
/// [`crate::scoring::score`] places them.
pub fn generate_with_soft_tokens(
    model: &Transformer,
    prompt: &[u32],
    soft_tokens: Option<Tensor<2>>,
    config: &GenerateConfig,
    trie: Option<&PrefixTrie>,
    eos: u32,
    pad: u32,
) -> Result<Vec<Generated>> {
    if config.beams == 0 || config.max_tokens == 0 {
        return Err(ModelError::InvalidConfig(
            "beams and max_tokens must be positive".into(),
        ));
    }
    if prompt.is_empty() {
        return Err(ModelError::InvalidConfig("the prompt has no tokens".into()));
    }
    let mut decoder = Decoder::new(model, prompt, soft_tokens.as_ref(), config.kv_cache, pad)?;
    let mut live: Vec<(Vec<u32>, f64)> = vec![(Vec::new(), 0.0)];
    let mut done: Vec<Generated> = Vec::new();
    for step in 0..config.max_tokens {
        let prefixes: Vec<Vec<u32>> = live.iter().map(|(p, _)| p.clone()).collect();
        let logps = decoder.logps(&prefixes)?;
        // Expansions remember the live beam they extend (the cache row to keep).
        let mut expansions: Vec<(Vec<u32>, f64, usize)> = Vec::new();
        for (parent, ((prefix, score), row)) in live.iter().zip(&logps).enumerate() {
            let allowed: Vec<u32> = match trie {
                Some(trie) => trie.next_tokens(prefix),
                None => (0..row.len() as u32).collect(),
            };
            if allowed.is_empty() {
                done.push(Generated {
                    tokens: prefix.clone(),
                    logp: *score,
                    finished: false,
                });
                continue;
            }
            let mut ranked = allowed
                .iter()
                .map(|&t| {
                    row.get(t as usize).map(|&logp| (t, logp)).ok_or_else(|| {
                        ModelError::InvalidConfig(format!(
                            "the candidate trie holds token {t}, outside the vocabulary ({})",
                            row.len()
                        ))
                    })
                })
                .collect::<Result<Vec<(u32, f64)>>>()?;
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            for (token, logp) in ranked.into_iter().take(config.beams) {
                let mut next = prefix.clone();
                next.push(token);
                expansions.push((next, score + logp, parent));
            }
        }
        expansions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        live.clear();
        let mut parents = Vec::new();
        for (tokens, logp, parent) in expansions {
            if done.iter().filter(|g| g.finished).count() + live.len() >= config.beams {
                break;
            }
            if tokens.last() == Some(&eos) {
                done.push(Generated {
                    tokens,
                    logp,
                    finished: true,
                });
            } else {
                live.push((tokens, logp));
                parents.push(parent);
            }
        }
        if live.is_empty() {
            break;
        }
        if step + 1 < config.max_tokens {
            let prefixes: Vec<Vec<u32>> = live.iter().map(|(p, _)| p.clone()).collect();
            decoder.advance(&prefixes, &parents)?;
        }
    }
    done.extend(live.into_iter().map(|(tokens, logp)| Generated {
        tokens,
        logp,
        finished: false,
    }));
    done.sort_by(|a, b| b.finished.cmp(&a.finished).then(b.logp.total_cmp(&a.logp)));
    done.truncate(config.beams);
    Ok(done)
}
