//! The two DPO options that read per-token log-probs: WPO weighting and LD-DPO's length
//! desensitisation (`docs/methods/trl.md` §4).

use burn::tensor::Tensor;

use crate::error::{ObjectiveError, Result};
use crate::input::{PreferenceLogps, TokenLogps};
use crate::numerics::{host_tensor, mask_to_host};

fn tokens<'a>(
    objective: &str,
    input: &'a PreferenceLogps,
    why: &'static str,
) -> Result<&'a TokenLogps> {
    input
        .tokens
        .as_ref()
        .ok_or_else(|| ObjectiveError::MissingInput {
            objective: objective.to_string(),
            input: "per-token log-probs",
            why,
        })
}

/// WPO's detached pair weights `w_c,i · w_r,ik`, `[B, K]`, with
/// `w = exp(Σ_t (lp_t − log Σ_v p_v²) / max(L, 1))` over each completion's tokens.
pub(crate) fn wpo_weights(objective: &str, input: &PreferenceLogps) -> Result<Tensor<2>> {
    let why = "WPO weights each sequence by its mean token log-prob minus log Σ p²";
    let tokens = tokens(objective, input, why)?;
    let (Some(chosen_sq), Some(rejected_sq)) = (
        &tokens.chosen_log_sum_sq_probs,
        &tokens.rejected_log_sum_sq_probs,
    ) else {
        return Err(ObjectiveError::MissingInput {
            objective: objective.to_string(),
            input: "per-token log Σ p² (log_sum_sq_probs)",
            why,
        });
    };
    let [batch, negatives, _] = tokens.rejected.dims();
    let chosen_mask = tokens.chosen_mask.clone();
    let chosen_weight_mask = chosen_mask.clone().float().cast(tokens.chosen.dtype());
    let chosen_diff = (tokens.chosen.clone().detach() - chosen_sq.clone().detach())
        .mask_fill(chosen_mask.bool_not(), 0.0);
    let chosen = (chosen_diff.sum_dim(1) / chosen_weight_mask.sum_dim(1).clamp_min(1.0)).exp();
    let rejected_mask = tokens.rejected_mask.clone();
    let rejected_weight_mask = rejected_mask.clone().float().cast(tokens.rejected.dtype());
    let rejected_diff = (tokens.rejected.clone().detach() - rejected_sq.clone().detach())
        .mask_fill(rejected_mask.bool_not(), 0.0);
    let rejected = (rejected_diff.sum_dim(2) / rejected_weight_mask.sum_dim(2).clamp_min(1.0))
        .exp()
        .reshape([batch, negatives]);
    Ok(chosen.repeat_dim(1, negatives) * rejected)
}

/// LD-DPO policy log-probs per pair, `[B, K]` each: tokens up to `min(L_c, L_rk)` count fully,
/// later ones by `alpha`. Gradients flow to the token log-probs.
pub(crate) fn ld_logps(
    objective: &str,
    input: &PreferenceLogps,
    alpha: f64,
) -> Result<(Tensor<2>, Tensor<2>)> {
    let tokens = tokens(
        objective,
        input,
        "LD-DPO down-weights the tokens past the shorter completion",
    )?;
    let [batch, chosen_len] = tokens.chosen.dims();
    let [_, negatives, rejected_len] = tokens.rejected.dims();
    let chosen_valid = mask_to_host(&tokens.chosen_mask);
    let rejected_valid = mask_to_host(&tokens.rejected_mask);
    let chosen_count: Vec<usize> = chosen_valid
        .chunks(chosen_len)
        .map(|r| r.iter().filter(|&&v| v).count())
        .collect();
    let rejected_count: Vec<usize> = rejected_valid
        .chunks(rejected_len.max(1))
        .map(|r| r.iter().filter(|&&v| v).count())
        .collect();
    let weight = |valid: bool, position: usize, shared: usize| match (valid, position < shared) {
        (false, _) => 0.0,
        (true, true) => 1.0,
        (true, false) => alpha,
    };
    let mut chosen_weights = Vec::with_capacity(batch * negatives * chosen_len);
    let mut rejected_weights = Vec::with_capacity(batch * negatives * rejected_len);
    for i in 0..batch {
        for k in 0..negatives {
            let shared = chosen_count[i].min(rejected_count[i * negatives + k]);
            for t in 0..chosen_len {
                chosen_weights.push(weight(chosen_valid[i * chosen_len + t], t, shared));
            }
            for t in 0..rejected_len {
                rejected_weights.push(weight(
                    rejected_valid[(i * negatives + k) * rejected_len + t],
                    t,
                    shared,
                ));
            }
        }
    }
    let chosen_tokens = tokens
        .chosen
        .clone()
        .mask_fill(tokens.chosen_mask.clone().bool_not(), 0.0);
    let rejected_tokens = tokens
        .rejected
        .clone()
        .mask_fill(tokens.rejected_mask.clone().bool_not(), 0.0);
    let chosen_weights = host_tensor(
        chosen_weights,
        [batch, negatives, chosen_len],
        &rejected_tokens,
    );
    let rejected_weights = host_tensor(
        rejected_weights,
        [batch, negatives, rejected_len],
        &rejected_tokens,
    );
    let chosen = (chosen_tokens
        .reshape([batch, 1, chosen_len])
        .repeat_dim(1, negatives)
        * chosen_weights)
        .sum_dim(2)
        .reshape([batch, negatives]);
    let rejected = (rejected_tokens * rejected_weights)
        .sum_dim(2)
        .reshape([batch, negatives]);
    Ok((chosen, rejected))
}
