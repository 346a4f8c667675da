//! Helpers shared by the integration tests: turning JSON arrays into tensors and comparing
//! tensors with the golden tolerances.

#![allow(dead_code)]

use burn::tensor::{Bool, DType, Device, Tensor, TensorData};
use serde_json::Value;

/// Flattens a (possibly nested, possibly ragged) JSON array: values row-major and the shape of
/// the rectangular prefix (ragged rows are padded with 0 to the longest row).
pub fn flatten(value: &Value) -> (Vec<usize>, Vec<f64>) {
    match value {
        Value::Array(rows) if rows.first().is_some_and(Value::is_array) => {
            let parts: Vec<(Vec<usize>, Vec<f64>)> = rows.iter().map(flatten).collect();
            let inner = parts
                .iter()
                .map(|(s, _)| s.clone())
                .max_by_key(|s| s.iter().product::<usize>())
                .unwrap_or_default();
            let mut out = Vec::new();
            for (shape, values) in &parts {
                let padded = pad_to(shape, values, &inner);
                out.extend(padded);
            }
            let mut shape = vec![rows.len()];
            shape.extend(inner);
            (shape, out)
        }
        Value::Array(items) => (vec![items.len()], items.iter().map(as_f64).collect()),
        other => (vec![], vec![as_f64(other)]),
    }
}

fn pad_to(shape: &[usize], values: &[f64], target: &[usize]) -> Vec<f64> {
    if shape == target {
        return values.to_vec();
    }
    match target.len() {
        1 => {
            let mut v = values.to_vec();
            v.resize(target[0], 0.0);
            v
        }
        _ => {
            let inner_target: usize = target[1..].iter().product();
            let inner_have: usize = shape[1..].iter().product::<usize>().max(1);
            let mut out = Vec::new();
            for row in 0..target[0] {
                if row < shape[0] {
                    let chunk = &values[row * inner_have..(row + 1) * inner_have];
                    out.extend(pad_to(&shape[1..], chunk, &target[1..]));
                } else {
                    out.extend(std::iter::repeat_n(0.0, inner_target));
                }
            }
            out
        }
    }
}

/// Ragged rows `[B][len]` (or `[B][K][len]`) as a padded row-major matrix with a validity mask.
pub fn ragged(value: &Value) -> (Vec<usize>, Vec<f64>, Vec<bool>) {
    fn lengths(value: &Value, out: &mut Vec<usize>, depth: usize, leaf_depth: usize) {
        if depth == leaf_depth {
            out.push(value.as_array().map_or(0, Vec::len));
        } else {
            for v in value.as_array().into_iter().flatten() {
                lengths(v, out, depth + 1, leaf_depth);
            }
        }
    }
    let (shape, values) = flatten(value);
    let leaf_depth = shape.len() - 1;
    let mut row_lengths = Vec::new();
    lengths(value, &mut row_lengths, 0, leaf_depth);
    let width = *shape.last().unwrap();
    let mask = row_lengths
        .iter()
        .flat_map(|&len| (0..width).map(move |t| t < len))
        .collect();
    (shape, values, mask)
}

pub fn as_f64(value: &Value) -> f64 {
    match value {
        Value::Bool(b) => f64::from(u8::from(*b)),
        other => other.as_f64().unwrap_or(f64::NAN),
    }
}

pub fn tensor<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}

pub fn mask<const D: usize>(
    values: Vec<bool>,
    shape: [usize; D],
    device: &Device,
) -> Tensor<D, Bool> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn host<const D: usize>(x: &Tensor<D>) -> Vec<f64> {
    x.clone().into_data().try_into_vec_as::<f64>().unwrap()
}

/// Relative tolerance with an absolute floor, as `golden/FORMAT.md` states.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub relative: f64,
    pub absolute: f64,
}

pub const F64_TOLERANCE: Tolerance = Tolerance {
    relative: 1e-6,
    absolute: 1e-12,
};
pub const F32_TOLERANCE: Tolerance = Tolerance {
    relative: 1e-4,
    absolute: 1e-6,
};

/// `None` when every value agrees, else a description of the worst mismatch.
pub fn compare(got: &[f64], expected: &[f64], tolerance: Tolerance) -> Option<String> {
    if got.len() != expected.len() {
        return Some(format!(
            "length {} != expected {}",
            got.len(),
            expected.len()
        ));
    }
    let mut worst: Option<(usize, f64)> = None;
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        let excess = (g - e).abs() - (tolerance.absolute + tolerance.relative * e.abs());
        if (excess > 0.0 || excess.is_nan())
            && worst.is_none_or(|(_, w)| excess > w || excess.is_nan())
        {
            worst = Some((i, excess));
        }
    }
    worst.map(|(i, _)| {
        format!(
            "entry {i}: got {} expected {} (|diff| {:.3e})",
            got[i],
            expected[i],
            (got[i] - expected[i]).abs()
        )
    })
}

use prefopt_objectives::cpo::{CpoConfig, CpoLossType};
use prefopt_objectives::dpo::{ALL_DPO_LOSS_TYPES, DpoConfig, DpoLossType, FDivergenceType, KForm};
use prefopt_objectives::kto::{KtoConfig, KtoLossType};
use prefopt_objectives::personal::lipo::{LipoConfig, LipoReduction, ListSizeScale};
use prefopt_objectives::personal::pdpo::PdpoConfig;
use prefopt_objectives::personal::rpo::{RpoConfig, RpoVariant};
use prefopt_objectives::rec::dmpo::{DmpoConfig, DmpoOfficialConfig};
use prefopt_objectives::rec::dynamicpo::DynamicBetaConfig;
use prefopt_objectives::rec::rosepo::{CdpoConfig, RosepoConfig};
use prefopt_objectives::rec::sdpo::SdpoConfig;
use prefopt_objectives::{KlLogps, ObjectiveConfig, PreferenceLogps, PromptLogps, TokenLogps};

/// Every objective of the crate, with its main options, as the tests sweep them.
pub fn catalogue() -> Vec<ObjectiveConfig> {
    let mut all = Vec::new();
    for loss_type in ALL_DPO_LOSS_TYPES {
        let label_smoothing = match loss_type {
            DpoLossType::ExoPair => 0.1,
            DpoLossType::Robust | DpoLossType::Aot | DpoLossType::AotUnpaired => 0.2,
            _ => 0.0,
        };
        all.push(ObjectiveConfig::Dpo(DpoConfig {
            label_smoothing,
            ..DpoConfig::new(loss_type)
        }));
        if loss_type.has_listwise_form() {
            all.push(ObjectiveConfig::Dpo(DpoConfig {
                label_smoothing,
                k_form: KForm::Listwise,
                ..DpoConfig::new(loss_type)
            }));
        }
    }
    for f_divergence_type in [
        FDivergenceType::ForwardKl,
        FDivergenceType::JsDivergence,
        FDivergenceType::AlphaDivergence,
    ] {
        for loss_type in [DpoLossType::Sigmoid, DpoLossType::Ipo] {
            all.push(ObjectiveConfig::Dpo(DpoConfig {
                f_divergence_type,
                ..DpoConfig::new(loss_type)
            }));
        }
    }
    all.push(ObjectiveConfig::Dpo(DpoConfig {
        loss_type: vec![DpoLossType::Sigmoid, DpoLossType::BcoPair, DpoLossType::Sft],
        loss_weights: Some(vec![0.8, 0.2, 1.0]),
        ..DpoConfig::default()
    }));
    all.push(ObjectiveConfig::Dpo(DpoConfig {
        use_weighting: true,
        ..DpoConfig::default()
    }));
    all.push(ObjectiveConfig::Dpo(DpoConfig {
        reference_free: true,
        ..DpoConfig::default()
    }));
    for loss_type in [CpoLossType::Sigmoid, CpoLossType::Hinge, CpoLossType::Ipo] {
        all.push(ObjectiveConfig::Cpo(CpoConfig {
            loss_type,
            ..CpoConfig::default()
        }));
    }
    all.push(ObjectiveConfig::Cpo(CpoConfig::simpo(2.0, 0.5)));
    all.push(ObjectiveConfig::Cpo(CpoConfig {
        k_form: KForm::Listwise,
        ..CpoConfig::simpo(2.0, 0.5)
    }));
    all.push(ObjectiveConfig::Cpo(CpoConfig::alphapo(2.5, 1.0, 0.25)));
    all.push(ObjectiveConfig::Orpo(Default::default()));
    all.push(ObjectiveConfig::Kto(KtoConfig::default()));
    all.push(ObjectiveConfig::Kto(KtoConfig {
        loss_type: KtoLossType::ApoZeroUnpaired,
        ..KtoConfig::default()
    }));
    all.push(ObjectiveConfig::Cdpo(CdpoConfig::default()));
    all.push(ObjectiveConfig::Sdpo(SdpoConfig::default()));
    all.push(ObjectiveConfig::Dmpo(DmpoConfig::default()));
    all.push(ObjectiveConfig::DmpoOfficialPairwise(
        DmpoOfficialConfig::default(),
    ));
    all.push(ObjectiveConfig::DynamicpoDynamicBeta(
        DynamicBetaConfig::default(),
    ));
    all.push(ObjectiveConfig::Rosepo(RosepoConfig::default()));
    for variant in [
        RpoVariant::Paired,
        RpoVariant::Unpaired,
        RpoVariant::Diagonal,
    ] {
        all.push(ObjectiveConfig::Rpo(RpoConfig {
            variant,
            ..RpoConfig::default()
        }));
    }
    all.push(ObjectiveConfig::Pdpo(PdpoConfig::default()));
    all.push(ObjectiveConfig::Pdpo(PdpoConfig {
        loss_type: DpoLossType::Ipo,
        ..PdpoConfig::default()
    }));
    all.push(ObjectiveConfig::Lipo(LipoConfig::default()));
    all.push(ObjectiveConfig::Lipo(LipoConfig {
        list_size_scale: ListSizeScale::PaddedWidth,
        reduction: LipoReduction::Paper,
        ..LipoConfig::default()
    }));
    all
}

/// A short label for a config in test messages.
pub fn label(config: &ObjectiveConfig) -> String {
    format!(
        "{} {}",
        config.name(),
        serde_json::to_string(config).unwrap()
    )
}

/// Values that define a synthetic batch, kept on the host so tests can perturb them.
#[derive(Clone, Debug)]
pub struct BatchValues {
    pub batch: usize,
    pub negatives: usize,
    pub policy_chosen: Vec<f64>,
    pub policy_rejected: Vec<f64>,
    pub reference_chosen: Vec<f64>,
    pub reference_rejected: Vec<f64>,
    pub chosen_lengths: Vec<f64>,
    pub rejected_lengths: Vec<f64>,
    pub mask: Option<Vec<bool>>,
    pub smoothing: Vec<f64>,
    pub embeddings: Vec<f64>,
    pub user_ids: Vec<u64>,
    pub token_width: usize,
    pub chosen_tokens: Vec<f64>,
    pub rejected_tokens: Vec<f64>,
    pub chosen_sq: Vec<f64>,
    pub rejected_sq: Vec<f64>,
}

/// A small deterministic generator (SplitMix64), so tests do not depend on a RNG crate.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}

pub const EMBEDDING_DIM: usize = 4;

impl BatchValues {
    /// A random batch; `ragged` masks some negatives; `scale` multiplies the log-probs.
    pub fn random(seed: u64, batch: usize, negatives: usize, ragged: bool) -> Self {
        let mut rng = SplitMix(seed);
        let width = 6;
        let lengths = |n: usize, rng: &mut SplitMix| -> Vec<f64> {
            (0..n)
                .map(|_| (1.0 + (rng.next_f64() * width as f64).floor()).min(width as f64))
                .collect()
        };
        let chosen_lengths = lengths(batch, &mut rng);
        let rejected_lengths = lengths(batch * negatives, &mut rng);
        let tokens = |lens: &[f64], rng: &mut SplitMix| -> Vec<f64> {
            lens.iter()
                .flat_map(|&l| {
                    (0..width)
                        .map(|t| {
                            if (t as f64) < l {
                                rng.uniform(-3.0, -0.05)
                            } else {
                                0.0
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let chosen_tokens = tokens(&chosen_lengths, &mut rng);
        let rejected_tokens = tokens(&rejected_lengths, &mut rng);
        let sums = |t: &[f64]| -> Vec<f64> { t.chunks(width).map(|c| c.iter().sum()).collect() };
        let policy_chosen = sums(&chosen_tokens);
        let policy_rejected = sums(&rejected_tokens);
        let around = |base: &[f64], rng: &mut SplitMix| -> Vec<f64> {
            base.iter().map(|b| b + rng.uniform(-2.0, 2.0)).collect()
        };
        let reference_chosen = around(&policy_chosen, &mut rng);
        let reference_rejected = around(&policy_rejected, &mut rng);
        let chosen_sq: Vec<f64> = chosen_tokens
            .iter()
            .map(|t| t + rng.uniform(-1.0, 0.0))
            .collect();
        let rejected_sq: Vec<f64> = rejected_tokens
            .iter()
            .map(|t| t + rng.uniform(-1.0, 0.0))
            .collect();
        let mask = ragged.then(|| {
            (0..batch * negatives)
                .map(|i| i % negatives == 0 || rng.next_f64() > 0.35)
                .collect()
        });
        Self {
            batch,
            negatives,
            policy_chosen,
            policy_rejected,
            reference_chosen,
            reference_rejected,
            chosen_lengths,
            rejected_lengths,
            mask,
            smoothing: (0..batch * negatives)
                .map(|_| rng.uniform(0.0, 0.4))
                .collect(),
            embeddings: (0..batch * EMBEDDING_DIM)
                .map(|_| rng.uniform(-1.0, 1.0))
                .collect(),
            user_ids: (0..batch).map(|i| (i % 3) as u64).collect(),
            token_width: width,
            chosen_tokens,
            rejected_tokens,
            chosen_sq,
            rejected_sq,
        }
    }

    /// The batch as tensors; `policy` gives the leaves for the policy log-probs.
    pub fn input(
        &self,
        device: &Device,
        dtype: DType,
        policy: (Tensor<1>, Tensor<2>),
    ) -> PreferenceLogps {
        let (b, k, w) = (self.batch, self.negatives, self.token_width);
        let token_mask = |lens: &[f64]| -> Vec<bool> {
            lens.iter()
                .flat_map(|&l| (0..w).map(move |t| (t as f64) < l))
                .collect()
        };
        let mut input = PreferenceLogps::new(policy.0.clone(), policy.1)
            .with_reference(
                tensor(self.reference_chosen.clone(), [b], device, dtype),
                tensor(self.reference_rejected.clone(), [b, k], device, dtype),
            )
            .with_lengths(
                tensor(self.chosen_lengths.clone(), [b], device, dtype),
                tensor(self.rejected_lengths.clone(), [b, k], device, dtype),
            )
            .with_smoothing(tensor(self.smoothing.clone(), [b, k], device, dtype))
            .with_prompt_embeddings(tensor(
                self.embeddings.clone(),
                [b, EMBEDDING_DIM],
                device,
                dtype,
            ))
            .with_user_ids(self.user_ids.clone())
            .with_tokens(TokenLogps {
                chosen: tensor(self.chosen_tokens.clone(), [b, w], device, dtype),
                chosen_mask: mask(token_mask(&self.chosen_lengths), [b, w], device),
                rejected: tensor(self.rejected_tokens.clone(), [b, k, w], device, dtype),
                rejected_mask: mask(token_mask(&self.rejected_lengths), [b, k, w], device),
                chosen_log_sum_sq_probs: Some(tensor(
                    self.chosen_sq.clone(),
                    [b, w],
                    device,
                    dtype,
                )),
                rejected_log_sum_sq_probs: Some(tensor(
                    self.rejected_sq.clone(),
                    [b, k, w],
                    device,
                    dtype,
                )),
            })
            .with_chosen_prompt(PromptLogps {
                sum: tensor(
                    self.chosen_lengths.iter().map(|l| -2.0 * l).collect(),
                    [b],
                    device,
                    dtype,
                ),
                count: tensor(self.chosen_lengths.clone(), [b], device, dtype),
            })
            .with_kl(KlLogps {
                policy: tensor(
                    self.policy_chosen.iter().rev().copied().collect(),
                    [b],
                    device,
                    dtype,
                ),
                reference: tensor(self.reference_chosen.clone(), [b], device, dtype),
            });
        if let Some(m) = &self.mask {
            input = input.with_rejected_mask(mask(m.clone(), [b, k], device));
        }
        input
    }

    /// Policy leaves on `device` (requiring gradients when it records them).
    pub fn policy_leaves(&self, device: &Device, dtype: DType) -> (Tensor<1>, Tensor<2>) {
        let chosen = tensor(self.policy_chosen.clone(), [self.batch], device, dtype);
        let rejected = tensor(
            self.policy_rejected.clone(),
            [self.batch, self.negatives],
            device,
            dtype,
        );
        if device.is_autodiff() {
            (chosen.require_grad(), rejected.require_grad())
        } else {
            (chosen, rejected)
        }
    }
}

/// The gradient of a leaf, or zeros when the loss does not depend on it.
pub fn gradient<const D: usize>(leaf: &Tensor<D>, grads: &burn::tensor::Gradients) -> Vec<f64> {
    leaf.grad(grads)
        .map_or_else(|| vec![0.0; leaf.dims().iter().product()], |g| host(&g))
}

impl BatchValues {}
