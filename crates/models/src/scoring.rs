//! Sequence log-probs of several responses to one prompt.
//!
//! [`ScoringMode::SharedPrefix`] packs `[prompt | r0 | r1 | … | rK]` into one row: each response
//! attends to the prompt and causally to itself, never to another response, and its positions
//! restart right after the prompt, so every response sees exactly what it would see alone. The
//! prompt is run once instead of K+1 times. Prompts and responses are padded to the batch's
//! longest so that the rows share one [`PrefixBlocks`] layout, which lets attention compute only
//! the scores the mask keeps. [`ScoringMode::Naive`] repeats the prompt for every
//! response (as TRL and the papers' code do) and is kept as the reference the shared path is
//! tested against.
//!
//! In both modes the vocabulary projection runs only at the positions that predict a response
//! token, so the two paths do the same math per scored token and differ only in how many
//! prompt tokens go through the transformer.

use burn::tensor::{Bool, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::pool::run_in_order;
use crate::tokenizer::EncodedExample;
use crate::transformer::{PackedBatch, PrefixBlocks, Transformer};

/// How K+1 responses of one prompt are laid out for the forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoringMode {
    /// One row per prompt, responses side by side behind a block mask.
    #[default]
    SharedPrefix,
    /// One row per (prompt, response), the prompt repeated.
    Naive,
}

/// A prompt and the responses to score against it.
#[derive(Clone, Copy, Debug)]
pub struct ScoreItem<'a> {
    pub prompt: &'a [u32],
    pub responses: &'a [Vec<u32>],
}

impl<'a> ScoreItem<'a> {
    /// Every response of an encoded example (chosen first, then the rejected ones).
    pub fn of(example: &'a EncodedExample) -> Self {
        Self {
            prompt: &example.prompt,
            responses: &example.responses,
        }
    }
}

/// The items of the examples `indices` (every response of each), or an error naming the
/// first index past the end: the batch of a training step.
pub fn items_of<'a>(
    examples: &'a [EncodedExample],
    indices: &[usize],
) -> Result<Vec<ScoreItem<'a>>> {
    indices
        .iter()
        .map(|&i| {
            examples
                .get(i)
                .map(ScoreItem::of)
                .ok_or_else(|| ModelError::example(i, "no such example"))
        })
        .collect()
}

/// Per-chunk soft tokens: given the positions (into `items`) of one chunk, the `[chunk, T, d]`
/// embeddings to place before its prompts, or `None`.
pub type ChunkSoftTokens<'f> = &'f (dyn Fn(&[usize]) -> Result<Option<Tensor<3>>> + Sync);

/// Sequence log-probs of every item's responses on the host, `batch_size` items per forward
/// pass: the one loop behind candidate ranking, reference log-probs and the experiments'
/// evaluation. Returns, per item, one log-prob per response in order.
///
/// Up to `threads` chunks are scored at once (forward passes without autodiff are independent,
/// and each chunk is the same forward pass whichever thread runs it, so the values do not
/// depend on `threads`): on a CPU the elementwise kernels of one forward pass use one core.
pub fn score_in_chunks(
    model: &Transformer,
    items: &[ScoreItem<'_>],
    batch_size: usize,
    mode: ScoringMode,
    soft_tokens: Option<ChunkSoftTokens<'_>>,
    pad: u32,
    threads: usize,
) -> Result<Vec<Vec<f64>>> {
    let positions: Vec<usize> = (0..items.len()).collect();
    let chunks: Vec<&[usize]> = positions.chunks(batch_size.max(1)).collect();
    let chunk_scores = |index: usize| -> Result<Vec<Vec<f64>>> {
        let chunk = chunks[index];
        let chunk_items = &items[chunk[0]..chunk[0] + chunk.len()];
        let soft = match soft_tokens {
            Some(soft_tokens) => soft_tokens(chunk)?,
            None => None,
        };
        let scores = score(model, chunk_items, mode, soft, pad)?;
        let values: Vec<f64> = scores
            .logps
            .to_data()
            .convert::<f64>()
            .try_to_vec()
            .map_err(|e| ModelError::device_read("log-probs", e))?;
        Ok(chunk_items
            .iter()
            .enumerate()
            .map(|(row, item)| {
                let start = row * scores.responses;
                values[start..start + item.responses.len()].to_vec()
            })
            .collect())
    };
    let mut out = Vec::with_capacity(items.len());
    for result in run_in_order(chunks.len(), threads, chunk_scores) {
        match result {
            Some(rows) => out.extend(rows?),
            // Only chunks after a failed one are skipped, and the failure comes first.
            None => break,
        }
    }
    Ok(out)
}

/// Log-probs of `B` prompts × up to `R` responses (ragged R is padded and masked).
#[derive(Clone, Debug)]
pub struct Scores {
    /// `[B, R]` sum of response-token log-probs; 0 where the response is absent.
    pub logps: Tensor<2>,
    /// `[B, R, L]` per-token log-probs, 0 on padding.
    pub token_logps: Tensor<3>,
    /// `[B, R, L]` true on real response tokens.
    pub token_mask: Tensor<3, Bool>,
    /// `[B, R]` true where the response exists.
    pub present: Tensor<2, Bool>,
    /// Response lengths in tokens, `B × R`, row-major (0 = absent).
    pub lengths: Vec<usize>,
    pub batch: usize,
    pub responses: usize,
}

impl Scores {
    /// `[B, R]` response lengths as floats (length-normalised losses).
    pub fn lengths_tensor(&self) -> Tensor<2> {
        let values: Vec<f32> = self.lengths.iter().map(|&l| l as f32).collect();
        Tensor::from_data(
            TensorData::new(values, [self.batch, self.responses]),
            (&self.logps.device(), self.logps.dtype()),
        )
    }
}

/// Where each scored token comes from: the flat slot whose hidden state predicts it, the token,
/// and its cell in the `[B, R, L]` grid.
struct ScoringPlan {
    packed: PackedBatch,
    /// Flat `row * len + slot` of the predicting hidden state, one per scored token.
    predictor: Vec<i64>,
    target: Vec<i64>,
    /// Grid cell (`(b * R + r) * L + t`) → index into the scored tokens, or `M` for padding.
    grid: Vec<i64>,
    /// Row of the packed batch each row of the soft tokens goes to (naive rows repeat them).
    soft_rows: Vec<i64>,
}

/// Scores every response of every item. `soft_tokens` (`[B, S, d]`, optional) are prepended to
/// each prompt as embeddings and shift its positions by `S`.
pub fn score(
    model: &Transformer,
    items: &[ScoreItem<'_>],
    mode: ScoringMode,
    soft_tokens: Option<Tensor<3>>,
    pad: u32,
) -> Result<Scores> {
    let soft = soft_tokens.as_ref().map_or(0, |t| t.dims()[1]);
    let dims = check_items(items)?;
    let plan = match mode {
        ScoringMode::SharedPrefix => shared_plan(items, dims, soft, pad),
        ScoringMode::Naive => naive_plan(items, dims, soft, pad),
    };
    let max = model.config().max_positions;
    if let Some(&position) = plan.packed.positions.iter().max()
        && position >= max
    {
        let index = longest_item(items);
        return Err(ModelError::SequenceTooLong {
            index,
            tokens: position + 1,
            max,
        });
    }
    let soft_tokens = match soft_tokens {
        Some(tokens) if mode == ScoringMode::Naive => {
            let rows = int_tensor(&plan.soft_rows, [plan.soft_rows.len()], model);
            Some(tokens.select(0, rows))
        }
        other => other,
    };
    let hidden = model.hidden(&plan.packed, soft_tokens)?;
    let [rows, len, d_model] = hidden.dims();
    let scored = plan.predictor.len();
    let predicting = hidden
        .reshape([rows * len, d_model])
        .select(0, int_tensor(&plan.predictor, [scored], model));
    let token_logps = token_log_probs(model, predicting, &plan.target);
    // One zero appended so padding cells of the grid select an exact 0 (and get no gradient).
    let zero = token_logps.clone().narrow(0, 0, 1).zeros_like();
    let with_zero = Tensor::cat(vec![token_logps, zero], 0);
    let [b, r, l] = [dims.batch, dims.responses, dims.tokens];
    let grid = with_zero
        .select(0, int_tensor(&plan.grid, [b * r * l], model))
        .reshape([b, r, l]);
    let mask_values: Vec<bool> = plan.grid.iter().map(|&i| (i as usize) < scored).collect();
    let token_mask =
        Tensor::<3, Bool>::from_data(TensorData::new(mask_values, [b, r, l]), &model.device());
    let lengths: Vec<usize> = items
        .iter()
        .flat_map(|item| (0..r).map(|k| item.responses.get(k).map_or(0, Vec::len)))
        .collect();
    let present = Tensor::<2, Bool>::from_data(
        TensorData::new(lengths.iter().map(|&n| n > 0).collect::<Vec<_>>(), [b, r]),
        &model.device(),
    );
    Ok(Scores {
        logps: grid.clone().sum_dim(2).reshape([b, r]),
        token_logps: grid,
        token_mask,
        present,
        lengths,
        batch: b,
        responses: r,
    })
}

/// Largest vocabulary-logit block computed at once, in elements (16 MiB of f32).
///
/// Why chunk: the logits of every scored position at once are `[positions × vocabulary]` (84 MB
/// at W2's 2,560 × 8,192), and log-softmax and its backward allocate several tensors of that
/// size. Above glibc's largest mmap threshold (32 MiB) each one is a fresh mapping whose pages
/// are faulted in and zeroed again on every step; blocks of at most 16 MiB are reused from the
/// heap. Rows are independent, so the values do not depend on the chunking.
const LOGIT_BLOCK_ELEMENTS: usize = 4 << 20;

/// `log p(target | hidden)` for each row of `hidden: [n, d]`, the vocabulary projection and
/// log-softmax computed over blocks of rows.
fn token_log_probs(model: &Transformer, hidden: Tensor<2>, targets: &[i64]) -> Tensor<1> {
    let [n, _] = hidden.dims();
    let block = (LOGIT_BLOCK_ELEMENTS / model.config().vocab_size.max(1)).max(1);
    let pieces: Vec<Tensor<1>> = (0..n)
        .step_by(block)
        .map(|start| {
            let rows = block.min(n - start);
            let logits = model.logits(hidden.clone().narrow(0, start, rows));
            let target = int_tensor(&targets[start..start + rows], [rows, 1], model);
            gathered_log_softmax(logits, target).reshape([rows])
        })
        .collect();
    Tensor::cat(pieces, 0)
}

/// `log_softmax(logits, 1).gather(1, target)` without the full-size log-softmax: the target's
/// shifted logit minus the row's log-sum-exp. The same values (the same subtraction, done on
/// the gathered entries only), with two passes over `[rows × vocabulary]` fewer forward and
/// backward: no log-softmax output to write, and no full-size gradient of it to reduce.
fn gathered_log_softmax(logits: Tensor<2>, target: Tensor<2, Int>) -> Tensor<2> {
    let max = logits.clone().detach().max_dim(1);
    let shifted = logits - max;
    let log_sum_exp = shifted.clone().exp().sum_dim(1).log();
    shifted.gather(1, target) - log_sum_exp
}

#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    responses: usize,
    tokens: usize,
}

fn check_items(items: &[ScoreItem<'_>]) -> Result<Dims> {
    if items.is_empty() {
        return Err(ModelError::InvalidConfig(
            "nothing to score: the batch is empty".into(),
        ));
    }
    let mut responses = 0;
    let mut tokens = 0;
    for (index, item) in items.iter().enumerate() {
        if item.prompt.is_empty() {
            return Err(ModelError::example(index, "the prompt has no tokens"));
        }
        if item.responses.is_empty() {
            return Err(ModelError::example(index, "there is no response to score"));
        }
        if let Some(k) = item.responses.iter().position(Vec::is_empty) {
            return Err(ModelError::example(
                index,
                format!("response {k} has no tokens"),
            ));
        }
        responses = responses.max(item.responses.len());
        tokens = tokens.max(item.responses.iter().map(Vec::len).max().unwrap_or(0));
    }
    Ok(Dims {
        batch: items.len(),
        responses,
        tokens,
    })
}

fn longest_item(items: &[ScoreItem<'_>]) -> usize {
    (0..items.len())
        .max_by_key(|&i| {
            items[i].prompt.len() + items[i].responses.iter().map(Vec::len).max().unwrap_or(0)
        })
        .unwrap_or(0)
}

/// Writes soft-token and prompt slots `0..soft+prompt` of `row` (causal among themselves).
fn put_prompt(packed: &mut PackedBatch, row: usize, soft: usize, prompt: &[u32]) -> Vec<usize> {
    let slots: Vec<usize> = (0..soft + prompt.len()).collect();
    for (i, &token) in prompt.iter().enumerate() {
        packed.put(row, soft + i, token, soft + i);
    }
    for slot in 0..soft {
        packed.positions[row * packed.len + slot] = slot;
    }
    packed.causal(row, &[], &slots);
    slots
}

/// Records the scored tokens of one response placed at `slots` of `row`.
#[allow(clippy::too_many_arguments)]
fn plan_response(
    plan: &mut Vec<(i64, i64, usize)>,
    packed: &PackedBatch,
    row: usize,
    last_prompt_slot: usize,
    slots: &[usize],
    response: &[u32],
    cell: usize,
    tokens: usize,
) {
    for (t, &token) in response.iter().enumerate() {
        let predictor = if t == 0 {
            last_prompt_slot
        } else {
            slots[t - 1]
        };
        plan.push((
            (row * packed.len + predictor) as i64,
            i64::from(token),
            cell * tokens + t,
        ));
    }
}

fn finish(
    packed: PackedBatch,
    scored: Vec<(i64, i64, usize)>,
    dims: Dims,
    soft_rows: Vec<i64>,
) -> ScoringPlan {
    let m = scored.len() as i64;
    let mut grid = vec![m; dims.batch * dims.responses * dims.tokens];
    let mut predictor = Vec::with_capacity(scored.len());
    let mut target = Vec::with_capacity(scored.len());
    for (index, (p, t, cell)) in scored.into_iter().enumerate() {
        predictor.push(p);
        target.push(t);
        grid[cell] = index as i64;
    }
    ScoringPlan {
        packed,
        predictor,
        target,
        grid,
        soft_rows,
    }
}

/// One row per item: the soft tokens and prompt in the prefix (padded to the longest), then
/// one block of `dims.tokens` slots per response (padded likewise), so attention can skip
/// every score between blocks ([`PrefixBlocks`]).
fn shared_plan(items: &[ScoreItem<'_>], dims: Dims, soft: usize, pad: u32) -> ScoringPlan {
    let layout = PrefixBlocks {
        prefix: items
            .iter()
            .map(|item| soft + item.prompt.len())
            .max()
            .unwrap_or(0),
        blocks: dims.responses,
        block_len: dims.tokens,
    };
    let mut packed = PackedBatch::with_blocks(items.len(), layout, soft, pad);
    let mut scored = Vec::new();
    for (row, item) in items.iter().enumerate() {
        let context = put_prompt(&mut packed, row, soft, item.prompt);
        let start_position = context.len();
        for (r, response) in item.responses.iter().enumerate() {
            let first = layout.prefix + r * layout.block_len;
            let slots: Vec<usize> = (first..first + response.len()).collect();
            for (t, (&slot, &token)) in slots.iter().zip(response).enumerate() {
                packed.put(row, slot, token, start_position + t);
            }
            packed.causal(row, &context, &slots);
            plan_response(
                &mut scored,
                &packed,
                row,
                start_position - 1,
                &slots,
                response,
                row * dims.responses + r,
                dims.tokens,
            );
        }
    }
    finish(packed, scored, dims, Vec::new())
}

fn naive_plan(items: &[ScoreItem<'_>], dims: Dims, soft: usize, pad: u32) -> ScoringPlan {
    let rows: Vec<(usize, usize)> = items
        .iter()
        .enumerate()
        .flat_map(|(b, item)| (0..item.responses.len()).map(move |r| (b, r)))
        .collect();
    let len = items
        .iter()
        .map(|item| {
            soft + item.prompt.len() + item.responses.iter().map(Vec::len).max().unwrap_or(0)
        })
        .max()
        .unwrap_or(0);
    let mut packed = PackedBatch::new(rows.len(), len, soft, pad);
    let mut scored = Vec::new();
    for (row, &(b, r)) in rows.iter().enumerate() {
        let item = &items[b];
        let response = &item.responses[r];
        let context = put_prompt(&mut packed, row, soft, item.prompt);
        let start = context.len();
        let slots: Vec<usize> = (start..start + response.len()).collect();
        for (&slot, &token) in slots.iter().zip(response) {
            packed.put(row, slot, token, slot);
        }
        packed.causal(row, &context, &slots);
        plan_response(
            &mut scored,
            &packed,
            row,
            start - 1,
            &slots,
            response,
            b * dims.responses + r,
            dims.tokens,
        );
    }
    let soft_rows = rows.iter().map(|&(b, _)| b as i64).collect();
    finish(packed, scored, dims, soft_rows)
}

fn int_tensor<const D: usize>(
    values: &[i64],
    shape: [usize; D],
    model: &Transformer,
) -> Tensor<D, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &model.device())
}
