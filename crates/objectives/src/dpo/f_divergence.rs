//! f-divergence score maps of f-DPO (TRL's `f_divergence_type`): each log-ratio `l` becomes a
//! score `φ(l)` before the score-based losses see it.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::numerics::{exp_limit, log_sigmoid};

/// Which divergence regularises the policy (TRL 1.16 `f_divergence_type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FDivergenceType {
    /// φ(l) = l: standard DPO.
    #[default]
    ReverseKl,
    /// φ(l) = 1 − e^(−l).
    ForwardKl,
    /// φ(l) = log 2 + log σ(l).
    JsDivergence,
    /// φ(l) = (exp(min((α−1)·l, C)) − 1)/(α−1) with α = `f_alpha_divergence_coef`.
    AlphaDivergence,
}

impl FDivergenceType {
    /// TRL's name of the divergence.
    pub fn name(self) -> &'static str {
        match self {
            Self::ReverseKl => "reverse_kl",
            Self::ForwardKl => "forward_kl",
            Self::JsDivergence => "js_divergence",
            Self::AlphaDivergence => "alpha_divergence",
        }
    }

    /// Maps log-ratios to scores. Exponents are clamped at the dtype's overflow limit (TRL
    /// returns ±inf there; the values agree wherever TRL is finite).
    pub fn score<const D: usize>(self, logratio: Tensor<D>, alpha_coef: f64) -> Tensor<D> {
        let limit = exp_limit(logratio.dtype());
        match self {
            Self::ReverseKl => logratio,
            Self::ForwardKl => logratio.neg().clamp_max(limit).exp().neg().add_scalar(1.0),
            Self::JsDivergence => log_sigmoid(logratio).add_scalar(std::f64::consts::LN_2),
            Self::AlphaDivergence => {
                let a = alpha_coef - 1.0;
                if a.abs() < 1e-6 {
                    logratio
                } else {
                    // TRL clamps at 80 in float32/bfloat16 and 11 in float16.
                    let clamp = if limit < 80.0 { limit } else { 80.0 };
                    logratio
                        .mul_scalar(a)
                        .clamp_max(clamp)
                        .exp()
                        .sub_scalar(1.0)
                        .mul_scalar(1.0 / a)
                }
            }
        }
    }
}
