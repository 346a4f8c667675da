//! The per-pair formulas of TRL 1.16's DPO `loss_type`s (`docs/methods/trl.md` §1), and the listwise
//! K-negative forms of §9 for the types that have a natural one.

use burn::tensor::{Bool, Tensor};
use serde::{Deserialize, Serialize};

use crate::numerics::{bounded, host_mask, log_sigmoid, masked_logsumexp, sigmoid, softplus};

/// One DPO loss type, named as TRL names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DpoLossType {
    /// −log σ(β·d): DPO.
    Sigmoid,
    /// relu(1 − β·d): SLiC.
    Hinge,
    /// (s_c/L_c − s_r/L_r − 1/(2β))²: IPO with length-normalised scores.
    Ipo,
    /// EXO's reverse-KL between the model's and the smoothed target preference.
    ExoPair,
    /// NCA: −log σ(β·lc) − ½ log σ(−β·lc) − ½ log σ(−β·lr).
    NcaPair,
    /// Robust DPO with label noise ε.
    Robust,
    /// BCO without the running-mean shift.
    BcoPair,
    /// SPPO with hard win probabilities.
    SppoHard,
    /// AOT: stochastic dominance by sorting margins across the batch.
    Aot,
    /// AOT on chosen and rejected log-ratios sorted separately.
    AotUnpaired,
    /// APO-zero.
    ApoZero,
    /// APO-down.
    ApoDown,
    /// DiscoPOP's log-ratio modulated loss.
    Discopop,
    /// The chosen token-mean NLL over the batch.
    Sft,
    /// −log σ(β·(s_c/L_c − s_r/L_r)).
    SigmoidNorm,
}

/// All loss types, in TRL's order.
pub const ALL_DPO_LOSS_TYPES: [DpoLossType; 15] = [
    DpoLossType::Sigmoid,
    DpoLossType::Hinge,
    DpoLossType::Ipo,
    DpoLossType::ExoPair,
    DpoLossType::NcaPair,
    DpoLossType::Robust,
    DpoLossType::BcoPair,
    DpoLossType::SppoHard,
    DpoLossType::Aot,
    DpoLossType::AotUnpaired,
    DpoLossType::ApoZero,
    DpoLossType::ApoDown,
    DpoLossType::Discopop,
    DpoLossType::Sft,
    DpoLossType::SigmoidNorm,
];

impl DpoLossType {
    /// TRL's `loss_type` string.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sigmoid => "sigmoid",
            Self::Hinge => "hinge",
            Self::Ipo => "ipo",
            Self::ExoPair => "exo_pair",
            Self::NcaPair => "nca_pair",
            Self::Robust => "robust",
            Self::BcoPair => "bco_pair",
            Self::SppoHard => "sppo_hard",
            Self::Aot => "aot",
            Self::AotUnpaired => "aot_unpaired",
            Self::ApoZero => "apo_zero",
            Self::ApoDown => "apo_down",
            Self::Discopop => "discopop",
            Self::Sft => "sft",
            Self::SigmoidNorm => "sigmoid_norm",
        }
    }

    /// Parses TRL's `loss_type` string.
    pub fn from_name(name: &str) -> Option<Self> {
        ALL_DPO_LOSS_TYPES.into_iter().find(|t| t.name() == name)
    }

    /// Loss types TRL allows with a non-default f-divergence.
    pub fn accepts_f_divergence(self) -> bool {
        matches!(
            self,
            Self::Sigmoid
                | Self::SigmoidNorm
                | Self::Hinge
                | Self::Ipo
                | Self::ExoPair
                | Self::Robust
                | Self::Discopop
                | Self::Sft
        )
    }

    /// Loss types with a listwise K-negative form (`docs/methods/trl.md` §9).
    pub fn has_listwise_form(self) -> bool {
        matches!(
            self,
            Self::Sigmoid | Self::SigmoidNorm | Self::ExoPair | Self::NcaPair
        )
    }

    /// Loss types whose value couples the examples of a batch.
    pub fn couples_batch(self) -> bool {
        matches!(self, Self::Aot | Self::AotUnpaired | Self::Sft)
    }

    /// Loss types that read `label_smoothing`.
    pub fn reads_label_smoothing(self) -> bool {
        matches!(
            self,
            Self::ExoPair | Self::Robust | Self::Aot | Self::AotUnpaired
        )
    }

    /// Loss types that divide scores by completion lengths.
    pub fn needs_lengths(self) -> bool {
        matches!(self, Self::Ipo | Self::SigmoidNorm | Self::Sft)
    }
}

/// Everything a per-pair formula may read, all `[B, K]`.
pub(crate) struct PairTerms {
    pub beta: f64,
    pub label_smoothing: f64,
    pub discopop_tau: f64,
    /// Log-ratios `lc`, `lr` (never passed through φ).
    pub chosen_logratio: Tensor<2>,
    pub rejected_logratio: Tensor<2>,
    /// Scores `s_c = φ(lc)`, `s_r = φ(lr)`.
    pub chosen_score: Tensor<2>,
    pub rejected_score: Tensor<2>,
    /// Lengths clamped at 1, present when a length-normalised type is requested.
    pub chosen_length: Option<Tensor<2>>,
    pub rejected_length: Option<Tensor<2>>,
}

impl PairTerms {
    fn margin(&self) -> Tensor<2> {
        self.chosen_score.clone() - self.rejected_score.clone()
    }

    fn normalised_margin(&self) -> Tensor<2> {
        let chosen = self
            .chosen_length
            .clone()
            .expect("lengths checked at configuration");
        let rejected = self
            .rejected_length
            .clone()
            .expect("lengths checked at configuration");
        self.chosen_score.clone() / chosen - self.rejected_score.clone() / rejected
    }
}

/// `−(1−ε)·log σ(x) − ε·log σ(−x)`: the label-smoothed logistic loss (cDPO, robust's numerator
/// with the opposite sign of ε, AOT).
pub(crate) fn smoothed_logistic<const D: usize>(x: Tensor<D>, epsilon: f64) -> Tensor<D> {
    let positive = log_sigmoid(x.clone()).mul_scalar(-(1.0 - epsilon));
    if epsilon == 0.0 {
        positive
    } else {
        positive - log_sigmoid(x.neg()).mul_scalar(epsilon)
    }
}

/// The per-pair loss `ℓ_ik` of a loss type that is defined per pair.
pub(crate) fn pair_loss(loss_type: DpoLossType, t: &PairTerms) -> Tensor<2> {
    let beta = t.beta;
    let eps = t.label_smoothing;
    match loss_type {
        DpoLossType::Sigmoid => log_sigmoid(t.margin().mul_scalar(beta)).neg(),
        DpoLossType::Hinge => t.margin().mul_scalar(-beta).add_scalar(1.0).clamp_min(0.0),
        DpoLossType::Ipo => {
            bounded(t.normalised_margin().sub_scalar(1.0 / (2.0 * beta))).powi_scalar(2)
        }
        DpoLossType::ExoPair => {
            let z = t.margin().mul_scalar(beta);
            let q = sigmoid(z.clone());
            let agree = log_sigmoid(z.clone()).sub_scalar((1.0 - eps).ln());
            let disagree = log_sigmoid(z.neg()).sub_scalar(eps.ln());
            q.clone() * agree + q.neg().add_scalar(1.0) * disagree
        }
        DpoLossType::NcaPair => {
            let lc = t.chosen_logratio.clone().mul_scalar(beta);
            let lr = t.rejected_logratio.clone().mul_scalar(beta);
            log_sigmoid(lc.clone()).neg()
                - log_sigmoid(lc.neg()).mul_scalar(0.5)
                - log_sigmoid(lr.neg()).mul_scalar(0.5)
        }
        DpoLossType::Robust => {
            let z = t.margin().mul_scalar(beta);
            (log_sigmoid(z.clone()).mul_scalar(-(1.0 - eps)) + log_sigmoid(z.neg()).mul_scalar(eps))
                .mul_scalar(1.0 / (1.0 - 2.0 * eps))
        }
        DpoLossType::BcoPair => {
            log_sigmoid(t.chosen_logratio.clone().mul_scalar(beta)).neg()
                - log_sigmoid(t.rejected_logratio.clone().mul_scalar(-beta))
        }
        DpoLossType::SppoHard => {
            let half_inverse = 1.0 / (2.0 * beta);
            t.chosen_logratio
                .clone()
                .sub_scalar(half_inverse)
                .powi_scalar(2)
                + t.rejected_logratio
                    .clone()
                    .add_scalar(half_inverse)
                    .powi_scalar(2)
        }
        DpoLossType::ApoZero => {
            sigmoid(t.chosen_logratio.clone().mul_scalar(beta))
                .neg()
                .add_scalar(1.0)
                + sigmoid(t.rejected_logratio.clone().mul_scalar(beta))
        }
        DpoLossType::ApoDown => {
            let lc = t.chosen_logratio.clone();
            sigmoid(lc.clone().mul_scalar(beta)).add_scalar(1.0)
                - sigmoid((lc - t.rejected_logratio.clone()).mul_scalar(beta))
        }
        DpoLossType::Discopop => {
            let rho = t.margin().mul_scalar(beta);
            let logistic = sigmoid(rho.clone().mul_scalar(1.0 / (-t.discopop_tau)))
                * log_sigmoid(rho.clone()).neg();
            // m·exp(−ρ) = exp(log σ(ρ/τ) − ρ): the same value, without 0·∞ when ρ ≪ 0.
            let exponential =
                (log_sigmoid(rho.clone().mul_scalar(1.0 / t.discopop_tau)) - rho).exp();
            logistic + exponential
        }
        DpoLossType::SigmoidNorm => log_sigmoid(t.normalised_margin().mul_scalar(beta)).neg(),
        DpoLossType::Aot | DpoLossType::AotUnpaired | DpoLossType::Sft => {
            unreachable!("batch-coupled loss types are computed by the caller")
        }
    }
}

/// The listwise form over all K negatives of a prompt, `[B]` (`docs/methods/trl.md` §9). Equals
/// [`pair_loss`] at K = 1.
pub(crate) fn listwise_loss(
    loss_type: DpoLossType,
    t: &PairTerms,
    mask: Option<&Tensor<2, Bool>>,
) -> Tensor<1> {
    let beta = t.beta;
    let [batch, negatives] = t.chosen_score.dims();
    match loss_type {
        // S-DPO / Plackett–Luce top-1: softplus(LSE_k β·(s_k − s_c)).
        DpoLossType::Sigmoid => softplus(masked_logsumexp(t.margin().mul_scalar(-beta), mask)),
        DpoLossType::SigmoidNorm => softplus(masked_logsumexp(
            t.normalised_margin().mul_scalar(-beta),
            mask,
        )),
        DpoLossType::ExoPair => {
            // KL(softmax(β·s) ‖ target) over the K+1 responses, target (1−ε) on the chosen and
            // ε/K_i on each valid negative.
            let eps = t.label_smoothing;
            let chosen = t
                .chosen_score
                .clone()
                .slice([0..batch, 0..1])
                .mul_scalar(beta);
            let logits = Tensor::cat(vec![chosen, t.rejected_score.clone().mul_scalar(beta)], 1);
            let full_mask = mask.map(|m| {
                let chosen_slot = host_mask(vec![true; batch], [batch, 1], &t.chosen_score);
                Tensor::cat(vec![chosen_slot, m.clone()], 1)
            });
            let log_z = masked_logsumexp(logits.clone(), full_mask.as_ref());
            let log_p = logits - log_z.reshape([batch, 1]).repeat_dim(1, negatives + 1);
            let counts = match mask {
                Some(m) => m.clone().float().cast(log_p.dtype()).sum_dim(1),
                None => log_p
                    .zeros_like()
                    .slice([0..batch, 0..1])
                    .add_scalar(negatives as f64),
            };
            let chosen_log_target = (1.0 - eps).ln();
            let negative_log_target = counts
                .log()
                .neg()
                .add_scalar(eps.ln())
                .repeat_dim(1, negatives);
            let log_target = Tensor::cat(
                vec![
                    log_p
                        .zeros_like()
                        .slice([0..batch, 0..1])
                        .add_scalar(chosen_log_target),
                    negative_log_target,
                ],
                1,
            );
            let terms = log_p.clone().exp() * (log_p - log_target);
            let terms = match &full_mask {
                Some(m) => terms.mask_fill(m.clone().bool_not(), 0.0),
                None => terms,
            };
            terms.sum_dim(1).reshape([batch])
        }
        // NCA-K: −log σ(β·lc) − 1/(K+1)·Σ over all K+1 responses of log σ(−β·l).
        DpoLossType::NcaPair => {
            let lc = t
                .chosen_logratio
                .clone()
                .slice([0..batch, 0..1])
                .reshape([batch])
                .mul_scalar(beta);
            let negatives_term = log_sigmoid(t.rejected_logratio.clone().mul_scalar(-beta));
            let (negative_sum, counts) = match mask {
                Some(m) => {
                    let weight = m.clone().float().cast(lc.dtype());
                    (
                        (negatives_term * weight.clone())
                            .sum_dim(1)
                            .reshape([batch]),
                        weight.sum_dim(1).reshape([batch]),
                    )
                }
                None => (
                    negatives_term.sum_dim(1).reshape([batch]),
                    lc.zeros_like().add_scalar(negatives as f64),
                ),
            };
            let all = log_sigmoid(lc.clone().neg()) + negative_sum;
            log_sigmoid(lc).neg() - all / counts.add_scalar(1.0)
        }
        _ => unreachable!("listwise forms are checked at configuration"),
    }
}
