//! What a loss returns: the scalar to optimise, per-example values, the detached implicit rewards
//! and named extras, with the metric names TRL's dashboards use.

use std::collections::BTreeMap;

use burn::tensor::{Bool, Tensor};

use crate::numerics::{mask_to_host, to_host};

/// A named extra output whose rank depends on the loss.
#[derive(Clone, Debug)]
pub enum Extra {
    /// A `[1]` scalar, e.g. `nll_loss`, `kl`.
    Scalar(Tensor<1>),
    /// A `[B]` vector, e.g. `or_losses`.
    Vector(Tensor<1>),
    /// A `[B, K]` or `[B, N]` matrix, e.g. `dynamic_betas`, `ranks`.
    Matrix(Tensor<2>),
    /// A `[B, N, N]` tensor, e.g. LiPO's `lambda_weights`.
    Cube(Tensor<3>),
}

impl Extra {
    /// The values on the host, flattened row-major, with the shape.
    pub fn to_host(&self) -> (Vec<usize>, Vec<f64>) {
        match self {
            Extra::Scalar(x) | Extra::Vector(x) => (x.dims().to_vec(), to_host(x)),
            Extra::Matrix(x) => (x.dims().to_vec(), to_host(x)),
            Extra::Cube(x) => (x.dims().to_vec(), to_host(x)),
        }
    }
}

/// The result of one loss evaluation.
#[derive(Clone, Debug)]
pub struct LossOutput {
    /// `[1]` the value to minimise (differentiable).
    pub loss: Tensor<1>,
    /// `[B]` per-prompt losses whose mean is `loss`; `None` when the loss couples the batch
    /// (a token mean over the batch, or a sort across it).
    pub per_example_loss: Option<Tensor<1>>,
    /// `[B, K]` per-pair losses for losses defined on (chosen, rejected_k) pairs.
    pub pair_losses: Option<Tensor<2>>,
    /// `[B]` implicit rewards of the chosen responses (detached).
    pub chosen_rewards: Tensor<1>,
    /// `[B, K]` implicit rewards of the rejected responses (detached).
    pub rejected_rewards: Tensor<2>,
    /// `[B, K]` valid negatives, carried over from the input for the metrics.
    pub rejected_mask: Option<Tensor<2, Bool>>,
    /// Loss-specific named outputs.
    pub extras: BTreeMap<&'static str, Extra>,
}

/// Scalar training metrics under TRL's names (`rewards/chosen`, `rewards/margins`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// `(name, value)` in a stable order.
    pub values: Vec<(String, f64)>,
}

impl Metrics {
    /// Looks a metric up by name.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

impl LossOutput {
    /// Reward accuracy (strict `>`, ties count as wrong), margins and means, averaged per pair
    /// over the valid negatives and then over prompts, as TRL reports them at K = 1.
    pub fn metrics(&self) -> Metrics {
        let chosen = to_host(&self.chosen_rewards);
        let rejected = to_host(&self.rejected_rewards);
        let [batch, negatives] = self.rejected_rewards.dims();
        let mask = self.rejected_mask.as_ref().map(mask_to_host);
        let (mut accuracy, mut margin, mut rejected_mean) = (0.0, 0.0, 0.0);
        for (i, &chosen_reward) in chosen.iter().enumerate().take(batch) {
            let (mut acc, mut mar, mut rej, mut count) = (0.0, 0.0, 0.0, 0.0);
            for k in 0..negatives {
                let index = i * negatives + k;
                if mask.as_ref().is_some_and(|m| !m[index]) {
                    continue;
                }
                let r = rejected[index];
                acc += f64::from(u8::from(chosen_reward > r));
                mar += chosen_reward - r;
                rej += r;
                count += 1.0;
            }
            accuracy += acc / count;
            margin += mar / count;
            rejected_mean += rej / count;
        }
        let b = batch as f64;
        let mut values = vec![
            ("loss".to_string(), to_host(&self.loss)[0]),
            ("rewards/chosen".to_string(), chosen.iter().sum::<f64>() / b),
            ("rewards/rejected".to_string(), rejected_mean / b),
            ("rewards/accuracies".to_string(), accuracy / b),
            ("rewards/margins".to_string(), margin / b),
        ];
        for (name, extra) in &self.extras {
            if let Extra::Scalar(x) = extra {
                values.push(((*name).to_string(), to_host(x)[0]));
            }
        }
        Metrics { values }
    }
}
