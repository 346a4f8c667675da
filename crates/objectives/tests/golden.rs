//! Golden test: every case under `PREFOPT_GOLDEN_DIR` (default: the copy of `shared/golden` in
//! `tests/golden/`) is recomputed on the flex backend and compared with the values the reference
//! implementations (TRL 1.16, the papers' official code) produced: loss, per-example losses,
//! rewards, gradients with respect to the policy log-probs, and the named extras the objective
//! exposes. All failing cases are listed, by file and id.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor};
use common::{
    F32_TOLERANCE, F64_TOLERANCE, Tolerance, compare, flatten, host, mask, ragged, tensor,
};
use prefopt_objectives::cpo::{CpoConfig, CpoLossType};
use prefopt_objectives::dpo::{DpoConfig, DpoLossType, FDivergenceType};
use prefopt_objectives::kto::{KtoConfig, KtoLossType, UnpairedLogps};
use prefopt_objectives::orpo::OrpoConfig;
use prefopt_objectives::personal::lipo::{LipoConfig, ListLogps, ListSizeScale};
use prefopt_objectives::personal::pdpo::PdpoConfig;
use prefopt_objectives::personal::rpo::{RpoConfig, RpoVariant};
use prefopt_objectives::rec::dmpo::{DmpoConfig, DmpoOfficialConfig};
use prefopt_objectives::rec::dynamicpo::DynamicBetaConfig;
use prefopt_objectives::rec::sdpo::SdpoConfig;
use prefopt_objectives::{
    Extra, LossOutput, ObjectiveConfig, PreferenceLogps, PromptLogps, TokenLogps,
};
use serde_json::{Map, Value};

/// Families that belong to the user-models crate and its own golden test.
const OTHER_CRATES: [&str; 2] = ["prlhf/user_model_", "lore/"];

fn golden_dir() -> PathBuf {
    std::env::var_os("PREFOPT_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden"))
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read golden directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

#[test]
fn golden_cases_match_the_reference_implementations() {
    let dir = golden_dir();
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    assert!(!files.is_empty(), "no golden files under {}", dir.display());
    let (mut checked, mut skipped) = (0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", file.display()));
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for case in doc["cases"].as_array().cloned().unwrap_or_default() {
            let id = case["id"].as_str().unwrap_or("?").to_string();
            let loss = case["loss"].as_str().unwrap_or("?").to_string();
            if OTHER_CRATES.iter().any(|prefix| loss.starts_with(prefix)) {
                skipped += 1;
                continue;
            }
            checked += 1;
            let problems = match std::panic::catch_unwind(|| run_case(&case)) {
                Ok(Ok(problems)) => problems,
                Ok(Err(error)) => vec![error],
                Err(panic) => vec![format!(
                    "panicked: {:?}",
                    panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or(panic.downcast_ref::<&str>().copied())
                )],
            };
            if !problems.is_empty() {
                failures.push(format!(
                    "{name}: {id} ({loss}):\n    {}",
                    problems.join("\n    ")
                ));
            }
        }
    }
    eprintln!(
        "golden: {checked} cases checked, {skipped} left to prefopt-user-models, {} failing",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing golden cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checked > 0, "no golden case was checked");
}

fn run_case(case: &Value) -> Result<Vec<String>, String> {
    let params = &case["params"];
    let outputs = case["outputs"].as_object().ok_or("case has no outputs")?;
    let float32 = params["compute_dtype"].as_str() == Some("float32");
    let (dtype, tolerance) = if float32 {
        (DType::F32, F32_TOLERANCE)
    } else {
        (DType::F64, F64_TOLERANCE)
    };
    let mut problems = evaluate(case, dtype, outputs, tolerance)?;
    if let Some(Value::Object(reference)) = outputs.get("reference_dtype_outputs") {
        for problem in evaluate(case, DType::F32, reference, F32_TOLERANCE)? {
            problems.push(format!("reference_dtype_outputs: {problem}"));
        }
    }
    Ok(problems)
}

fn f(params: &Value, key: &str, default: f64) -> f64 {
    params[key].as_f64().unwrap_or(default)
}

fn parse<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, String> {
    serde_json::from_value(value.clone()).map_err(|e| format!("params: {e}"))
}

fn config_for(loss: &str, params: &Value) -> Result<ObjectiveConfig, String> {
    let beta = f(params, "beta", 0.1);
    Ok(match loss.split('/').next().unwrap_or("") {
        "dpo" => {
            let loss_type: Vec<DpoLossType> = parse(&params["loss_type"])?;
            let f_divergence_type: FDivergenceType = parse(&params["f_divergence_type"])?;
            ObjectiveConfig::Dpo(DpoConfig {
                loss_type,
                loss_weights: parse(&params["loss_weights"])?,
                beta,
                label_smoothing: f(params, "label_smoothing", 0.0),
                f_divergence_type,
                f_alpha_divergence_coef: f(params, "f_alpha_divergence_coef", 0.5),
                discopop_tau: f(params, "discopop_tau", 0.05),
                use_weighting: params["use_weighting"].as_bool().unwrap_or(false),
                ld_alpha: params["ld_alpha"].as_f64(),
                ..DpoConfig::default()
            })
        }
        "cpo" => {
            let loss_type: CpoLossType = parse(&params["loss_type"])?;
            ObjectiveConfig::Cpo(CpoConfig {
                loss_type,
                beta,
                label_smoothing: f(params, "label_smoothing", 0.0),
                cpo_alpha: f(params, "cpo_alpha", 1.0),
                simpo_gamma: f(params, "simpo_gamma", 0.5),
                alpha: f(params, "alpha", 0.0),
                ..CpoConfig::default()
            })
        }
        "orpo" => ObjectiveConfig::Orpo(OrpoConfig { beta }),
        "sdpo" => ObjectiveConfig::Sdpo(SdpoConfig { beta }),
        "dmpo" if loss == "dmpo/official_pairwise" => {
            ObjectiveConfig::DmpoOfficialPairwise(DmpoOfficialConfig {
                beta,
                ftx_gamma: f(params, "ftx_gamma", 0.0),
            })
        }
        "dmpo" => ObjectiveConfig::Dmpo(DmpoConfig {
            beta,
            reference_free: params["ref_model_enabled"] == Value::Bool(false),
        }),
        "dynamicpo" => ObjectiveConfig::DynamicpoDynamicBeta(DynamicBetaConfig {
            beta,
            reference_free: params["ref_model_enabled"] == Value::Bool(false),
        }),
        "rpo" => ObjectiveConfig::Rpo(RpoConfig {
            variant: parse(&params["variant"]).unwrap_or(RpoVariant::Paired),
            beta,
            distance_temperature: f(params, "distance_temperature", 0.5),
            diagonal_weight: f(params, "diagonal_weight", 0.8),
        }),
        "pdpo" => ObjectiveConfig::Pdpo(PdpoConfig {
            loss_type: parse(&params["loss_type"])?,
            beta,
            alpha: f(params, "alpha", 0.5),
            label_smoothing: f(params, "label_smoothing", 0.0),
        }),
        "lipo" => ObjectiveConfig::Lipo(LipoConfig {
            beta,
            list_size_scale: match params["list_size_scale"].as_str() {
                Some("padded_width") => ListSizeScale::PaddedWidth,
                _ => ListSizeScale::ValidCount,
            },
            ..LipoConfig::default()
        }),
        "kto" => ObjectiveConfig::Kto(KtoConfig {
            loss_type: if loss == "kto/apo_zero_unpaired" {
                KtoLossType::ApoZeroUnpaired
            } else {
                KtoLossType::Kto
            },
            beta,
            desirable_weight: f(params, "desirable_weight", 1.0),
            undesirable_weight: f(params, "undesirable_weight", 1.0),
        }),
        _ => {
            return Err(format!(
                "no objective in prefopt-objectives implements `{loss}`"
            ));
        }
    })
}

/// Named values computed for one case, to be compared with `outputs`.
#[derive(Default)]
struct Computed {
    values: BTreeMap<String, Vec<f64>>,
    /// Keys the reference stores as `null` that this objective also leaves undefined.
    absent: Vec<String>,
}

impl Computed {
    fn put(&mut self, key: &str, values: Vec<f64>) {
        self.values.insert(key.to_string(), values);
    }

    fn put_output(&mut self, out: &LossOutput, expected_per_example_rank: usize) {
        self.put("loss", host(&out.loss));
        match (
            expected_per_example_rank,
            &out.per_example_loss,
            &out.pair_losses,
        ) {
            (2, _, Some(pairs)) => self.put("per_example_loss", host(pairs)),
            (1, Some(per), _) => self.put("per_example_loss", host(per)),
            (_, None, _) => self.absent.push("per_example_loss".into()),
            _ => {}
        }
        self.put("chosen_rewards", host(&out.chosen_rewards));
        self.put("rejected_rewards", host(&out.rejected_rewards));
        for (name, extra) in &out.extras {
            self.put(name, extra.to_host().1);
        }
    }
}

fn evaluate(
    case: &Value,
    dtype: DType,
    expected: &Map<String, Value>,
    tolerance: Tolerance,
) -> Result<Vec<String>, String> {
    let loss = case["loss"].as_str().unwrap_or("");
    let params = &case["params"];
    let inputs = &case["inputs"];
    let config = config_for(loss, params)?;
    let objective = config
        .check()
        .map_err(|e| format!("config rejected: {e}"))?;
    let device = Device::flex().autodiff();
    let mut computed = Computed::default();

    if loss.starts_with("kto/") || loss == "rpo/unpaired" {
        evaluate_unpaired(loss, &config, inputs, &device, dtype, &mut computed)?;
    } else if loss == "lipo/lambda" && params["form"].as_str() == Some("list") {
        let ObjectiveConfig::Lipo(c) = &config else {
            unreachable!()
        };
        let (shape, policy) = flatten(&inputs["policy_logps"]);
        let shape = [shape[0], shape[1]];
        let policy = tensor(policy, shape, &device, dtype).require_grad();
        let list = ListLogps {
            policy: policy.clone(),
            reference: tensor(flatten(&inputs["ref_logps"]).1, shape, &device, dtype),
            labels: tensor(flatten(&inputs["labels"]).1, shape, &device, dtype),
            mask: inputs.get("mask").map(|m| {
                mask(
                    flatten(m).1.iter().map(|v| *v != 0.0).collect(),
                    shape,
                    &device,
                )
            }),
        };
        let (loss_value, per_example, _, extras) = c
            .check()
            .unwrap()
            .compute_list(&list)
            .map_err(|e| e.to_string())?;
        let grads = loss_value.backward();
        computed.put("loss", host(&loss_value));
        computed.put("per_example_loss", host(&per_example));
        for (name, extra) in &extras {
            computed.put(name, extra.to_host().1);
        }
        computed.put(
            "grad_policy_logps",
            host(&policy.grad(&grads).ok_or("no gradient for policy_logps")?),
        );
    } else {
        let batch = paired_batch(case, &device, dtype)?;
        let out = objective.compute(&batch.input).map_err(|e| e.to_string())?;
        let rank = expected
            .get("per_example_loss")
            .map_or(1, |v| flatten(v).0.len());
        computed.put_output(&out, rank);
        let grads = out.loss.backward();
        // A leaf the loss does not depend on has no gradient entry: its gradient is zero.
        let grad = |leaf: &Option<Tensor<1>>| {
            leaf.as_ref().map(|l| {
                l.grad(&grads)
                    .map_or_else(|| vec![0.0; l.dims()[0]], |g| host(&g))
            })
        };
        let grad2 = |leaf: &Option<Tensor<2>>| {
            leaf.as_ref().map(|l| {
                l.grad(&grads)
                    .map_or_else(|| vec![0.0; l.dims().iter().product()], |g| host(&g))
            })
        };
        if let Some(g) = grad(&batch.chosen_leaf) {
            let token_values = batch
                .chosen_token_mask
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(i, _)| g[i / batch.chosen_token_width.max(1)])
                .collect();
            computed.put("grad_policy_chosen_logps", g);
            computed.put("grad_policy_chosen_token_logps", token_values);
        }
        if let Some(g) = grad2(&batch.rejected_leaf) {
            let token_values = batch
                .rejected_token_mask
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(i, _)| g[i / batch.rejected_token_width.max(1)])
                .collect();
            computed.put("grad_policy_rejected_logps", g);
            computed.put("grad_policy_rejected_token_logps", token_values);
        }
        if let Some(tokens) = &batch.token_leaves {
            let valid = |g: Vec<f64>, m: &[bool]| {
                g.into_iter()
                    .zip(m)
                    .filter(|(_, m)| **m)
                    .map(|(g, _)| g)
                    .collect()
            };
            let chosen = tokens.0.grad(&grads).ok_or("no token gradient")?;
            let rejected = tokens.1.grad(&grads).ok_or("no token gradient")?;
            computed.put(
                "grad_policy_chosen_token_logps",
                valid(host(&chosen), &batch.chosen_token_mask),
            );
            computed.put(
                "grad_policy_rejected_token_logps",
                valid(host(&rejected), &batch.rejected_token_mask),
            );
        }
        if let Some((leaf, prompt_mask, width)) = &batch.prompt_leaf {
            let g = host(&leaf.grad(&grads).ok_or("no prompt gradient")?);
            let per_token = prompt_mask
                .iter()
                .enumerate()
                .filter(|(_, m)| **m)
                .map(|(i, _)| g[i / width])
                .collect();
            computed.put("grad_policy_chosen_prompt_token_logps", per_token);
        }
        if let Some(Extra::Matrix(betas)) = out.extras.get("dynamic_betas") {
            let betas = host(betas);
            computed.put(
                "dynamic_betas",
                betas.iter().copied().filter(|b| *b > 0.0).collect(),
            );
            computed.put(
                "selected_negative_logps",
                dynamicpo_selected_logps(&batch.input, &betas, params),
            );
        }
    }
    Ok(compare_all(expected, &computed, tolerance, case))
}

/// DynamicPO's `policy_borderline_logps` diagnostic: in a row with borderline negatives the
/// official code lists the policy log-probs of every negative whose log-ratio equals a borderline
/// one (a lookup by value, so it can hold more entries than there are β values); otherwise the
/// negatives the k-means step selected.
fn dynamicpo_selected_logps(input: &PreferenceLogps, betas: &[f64], params: &Value) -> Vec<f64> {
    let chosen = host(&input.policy_chosen);
    let rejected = host(&input.policy_rejected);
    let logratio = match (
        &input.reference_rejected,
        params["ref_model_enabled"].as_bool(),
    ) {
        (Some(reference), Some(true) | None) => rejected
            .iter()
            .zip(host(reference))
            .map(|(p, r)| p - r)
            .collect(),
        _ => rejected.clone(),
    };
    let negatives = rejected.len() / chosen.len();
    let mut out = Vec::new();
    for (i, &c) in chosen.iter().enumerate() {
        let row = i * negatives..(i + 1) * negatives;
        let borderline: Vec<f64> = row
            .clone()
            .filter(|&j| rejected[j] >= c)
            .map(|j| logratio[j])
            .collect();
        out.extend(row.filter_map(|j| {
            let listed = if borderline.is_empty() {
                betas[j] > 0.0
            } else {
                borderline.contains(&logratio[j])
            };
            listed.then_some(rejected[j])
        }));
    }
    out
}

fn compare_all(
    expected: &Map<String, Value>,
    computed: &Computed,
    tolerance: Tolerance,
    case: &Value,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in expected {
        if key == "note" || key == "reference_dtype_outputs" {
            continue;
        }
        if value.is_null() {
            if computed.values.contains_key(key)
                && !computed.absent.contains(key)
                && key == "per_example_loss"
            {
                problems.push(format!("{key}: the reference leaves it undefined (the loss couples the batch) but prefopt returned values"));
            }
            continue;
        }
        let expected_values: Vec<f64> = if value
            .as_array()
            .is_some_and(|rows| rows.iter().any(Value::is_array))
            && is_ragged(value)
        {
            flatten_ragged(value)
        } else {
            flatten(value).1
        };
        match computed.values.get(key) {
            Some(got) => {
                if let Some(problem) = compare(got, &expected_values, tolerance) {
                    problems.push(format!("{key}: {problem}"));
                }
            }
            None if is_standard(key) => problems.push(format!("{key}: not computed")),
            None => eprintln!(
                "note: {}: extra output `{key}` is not exposed by the objective",
                case["id"]
            ),
        }
    }
    problems
}

fn is_standard(key: &str) -> bool {
    matches!(
        key,
        "loss" | "per_example_loss" | "chosen_rewards" | "rejected_rewards" | "rewards" | "kl"
    ) || key.starts_with("grad_policy")
}

fn is_ragged(value: &Value) -> bool {
    let lens: Vec<usize> = value
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().map_or(0, Vec::len))
        .collect();
    lens.windows(2).any(|w| w[0] != w[1])
}

fn flatten_ragged(value: &Value) -> Vec<f64> {
    match value {
        Value::Array(items) => items.iter().flat_map(flatten_ragged).collect(),
        other => vec![common::as_f64(other)],
    }
}

struct PairedBatch {
    input: PreferenceLogps,
    chosen_leaf: Option<Tensor<1>>,
    rejected_leaf: Option<Tensor<2>>,
    token_leaves: Option<(Tensor<2>, Tensor<3>)>,
    chosen_token_mask: Vec<bool>,
    chosen_token_width: usize,
    rejected_token_mask: Vec<bool>,
    rejected_token_width: usize,
    prompt_leaf: Option<(Tensor<1>, Vec<bool>, usize)>,
}

fn matrix(value: &Value, batch: usize, device: &Device, dtype: DType) -> Tensor<2> {
    let (shape, values) = flatten(value);
    let negatives = if shape.len() == 1 { 1 } else { shape[1] };
    tensor(values, [batch, negatives], device, dtype)
}

fn paired_batch(case: &Value, device: &Device, dtype: DType) -> Result<PairedBatch, String> {
    let inputs = &case["inputs"];
    let params = &case["params"];
    let (shape, chosen) = flatten(&inputs["policy_chosen_logps"]);
    let batch = shape[0];
    let rejected_value = &inputs["policy_rejected_logps"];
    let negatives = {
        let (s, _) = flatten(rejected_value);
        if s.len() == 1 { 1 } else { s[1] }
    };
    let ld = params["ld_alpha"].as_f64().is_some();

    // Per-token inputs: [B][T] for chosen, [B][T] (K = 1) or [B][K][T] for rejected.
    let mut chosen_token_mask = Vec::new();
    let mut rejected_token_mask = Vec::new();
    let (mut chosen_token_width, mut rejected_token_width) = (0, 0);
    let mut tokens = None;
    if let (Some(ct), Some(rt)) = (
        inputs.get("policy_chosen_token_logps"),
        inputs.get("policy_rejected_token_logps"),
    ) {
        let (cs, cv, cm) = ragged(ct);
        let (rs, rv, rm) = ragged(rt);
        chosen_token_width = cs[1];
        rejected_token_width = *rs.last().unwrap();
        let chosen_tokens = tensor(cv, [batch, chosen_token_width], device, dtype);
        let rejected_tokens = tensor(rv, [batch, negatives, rejected_token_width], device, dtype);
        let chosen_tokens = if ld {
            chosen_tokens.require_grad()
        } else {
            chosen_tokens
        };
        let rejected_tokens = if ld {
            rejected_tokens.require_grad()
        } else {
            rejected_tokens
        };
        let sq = |key: &str, shape3: bool| {
            inputs.get(key).map(|v| {
                let (_, values, _) = ragged(v);
                (values, shape3)
            })
        };
        let chosen_sq = sq("policy_chosen_token_log_sum_sq_probs", false)
            .map(|(v, _)| tensor(v, [batch, chosen_token_width], device, dtype));
        let rejected_sq = sq("policy_rejected_token_log_sum_sq_probs", true)
            .map(|(v, _)| tensor(v, [batch, negatives, rejected_token_width], device, dtype));
        tokens = Some(TokenLogps {
            chosen: chosen_tokens,
            chosen_mask: mask(cm.clone(), [batch, chosen_token_width], device),
            rejected: rejected_tokens,
            rejected_mask: mask(rm.clone(), [batch, negatives, rejected_token_width], device),
            chosen_log_sum_sq_probs: chosen_sq,
            rejected_log_sum_sq_probs: rejected_sq,
        });
        chosen_token_mask = cm;
        rejected_token_mask = rm;
    }

    let (policy_chosen, policy_rejected, chosen_leaf, rejected_leaf, token_leaves) =
        match (&tokens, ld) {
            (Some(t), true) => {
                // Sequence log-probs as sums of the token leaves, so every path reaches the tokens.
                let c = t
                    .chosen
                    .clone()
                    .mask_fill(t.chosen_mask.clone().bool_not(), 0.0)
                    .sum_dim(1)
                    .reshape([batch]);
                let r = t
                    .rejected
                    .clone()
                    .mask_fill(t.rejected_mask.clone().bool_not(), 0.0)
                    .sum_dim(2)
                    .reshape([batch, negatives]);
                (
                    c,
                    r,
                    None,
                    None,
                    Some((t.chosen.clone(), t.rejected.clone())),
                )
            }
            _ => {
                let c = tensor(chosen, [batch], device, dtype).require_grad();
                let r = matrix(rejected_value, batch, device, dtype).require_grad();
                (c.clone(), r.clone(), Some(c), Some(r), None)
            }
        };
    let mut input = PreferenceLogps::new(policy_chosen, policy_rejected);
    if let (Some(rc), Some(rr)) = (
        inputs.get("ref_chosen_logps"),
        inputs.get("ref_rejected_logps"),
    ) {
        input = input.with_reference(
            tensor(flatten(rc).1, [batch], device, dtype),
            matrix(rr, batch, device, dtype),
        );
    }
    if let (Some(lc), Some(lr)) = (inputs.get("chosen_lengths"), inputs.get("rejected_lengths")) {
        input = input.with_lengths(
            tensor(flatten(lc).1, [batch], device, dtype),
            matrix(lr, batch, device, dtype),
        );
    }
    if let Some(t) = tokens {
        input = input.with_tokens(t);
    }
    if let Some(e) = inputs.get("prompt_embeddings") {
        let (shape, values) = flatten(e);
        input = input.with_prompt_embeddings(tensor(values, [shape[0], shape[1]], device, dtype));
    }
    if let Some(u) = inputs.get("user_ids") {
        input = input.with_user_ids(flatten(u).1.iter().map(|v| *v as u64).collect());
    }
    let mut prompt_leaf = None;
    if case["loss"] == "orpo" {
        let (sum, count, prompt_mask, width) = match inputs.get("policy_chosen_prompt_token_logps")
        {
            Some(p) => {
                let (shape, values, m) = ragged(p);
                let width = shape[1];
                let sums = values
                    .chunks(width)
                    .zip(m.chunks(width))
                    .map(|(v, m)| v.iter().zip(m).filter(|(_, m)| **m).map(|(v, _)| v).sum())
                    .collect();
                let counts = m
                    .chunks(width)
                    .map(|m| m.iter().filter(|v| **v).count() as f64)
                    .collect();
                (sums, counts, m, width)
            }
            None => (vec![0.0; batch], vec![0.0; batch], vec![], 1),
        };
        let sum = tensor(sum, [batch], device, dtype).require_grad();
        input = input.with_chosen_prompt(PromptLogps {
            sum: sum.clone(),
            count: tensor(count, [batch], device, dtype),
        });
        prompt_leaf = Some((sum, prompt_mask, width));
    }
    Ok(PairedBatch {
        input,
        chosen_leaf,
        rejected_leaf,
        token_leaves,
        chosen_token_mask,
        chosen_token_width,
        rejected_token_mask,
        rejected_token_width,
        prompt_leaf,
    })
}

fn evaluate_unpaired(
    loss: &str,
    config: &ObjectiveConfig,
    inputs: &Value,
    device: &Device,
    dtype: DType,
    computed: &mut Computed,
) -> Result<(), String> {
    if loss == "rpo/unpaired" {
        let ObjectiveConfig::Rpo(c) = config else {
            unreachable!()
        };
        let status: Vec<bool> = inputs["status"]
            .as_array()
            .ok_or("no status")?
            .iter()
            .map(|s| s == "chosen")
            .collect();
        let n = status.len();
        let (chosen_values, rejected_values) = (
            flatten(&inputs["policy_chosen_logps"]).1,
            flatten(&inputs["policy_rejected_logps"]).1,
        );
        let (ref_chosen, ref_rejected) = (
            flatten(&inputs["ref_chosen_logps"]).1,
            flatten(&inputs["ref_rejected_logps"]).1,
        );
        let chosen_leaf = tensor(chosen_values, [ref_chosen.len()], device, dtype).require_grad();
        let rejected_leaf =
            tensor(rejected_values, [ref_rejected.len()], device, dtype).require_grad();
        // Interleave into batch order.
        let (mut ci, mut ri) = (0i64, 0i64);
        let mut order = Vec::with_capacity(n);
        for &is_chosen in &status {
            if is_chosen {
                order.push(ci);
                ci += 1;
            } else {
                order.push(ref_chosen.len() as i64 + ri);
                ri += 1;
            }
        }
        let all = Tensor::cat(vec![chosen_leaf.clone(), rejected_leaf.clone()], 0);
        let index = Tensor::<1, burn::tensor::Int>::from_data(
            burn::tensor::TensorData::new(order.clone(), [n]),
            device,
        );
        let policy = all.select(0, index.clone());
        let reference = Tensor::cat(
            vec![
                tensor(ref_chosen.clone(), [ref_chosen.len()], device, dtype),
                tensor(ref_rejected, [ri as usize], device, dtype),
            ],
            0,
        )
        .select(0, index);
        // Embeddings are optional: without them every pair weighs 1.
        let prompt_embeddings = inputs
            .get("prompt_embeddings")
            .filter(|e| !e.is_null())
            .map(|e| {
                let (shape, values) = flatten(e);
                tensor(values, [shape[0], shape[1]], device, dtype)
            });
        let unpaired = UnpairedLogps {
            policy,
            reference,
            desirable: mask(status.clone(), [n], device),
            prompt_embeddings,
            kl_policy: None,
            kl_reference: None,
        };
        let out = c
            .check()
            .unwrap()
            .compute_unpaired(&unpaired)
            .map_err(|e| e.to_string())?;
        let grads = out.loss.backward();
        computed.put("loss", host(&out.loss));
        let one_side_only = status.iter().all(|s| *s) || status.iter().all(|s| !*s);
        if one_side_only {
            // The official trainer returns one 0 each for the losses and both rewards of a
            // batch with only one side.
            computed.put("per_example_loss", vec![0.0]);
            computed.put("chosen_rewards", vec![0.0]);
            computed.put("rejected_rewards", vec![0.0]);
        } else {
            computed.put("per_example_loss", host(&out.per_example_loss));
            let rewards = host(&out.rewards);
            let side = |chosen: bool| {
                rewards
                    .iter()
                    .zip(&status)
                    .filter(|(_, s)| **s == chosen)
                    .map(|(r, _)| *r)
                    .collect()
            };
            computed.put("chosen_rewards", side(true));
            computed.put("rejected_rewards", side(false));
        }
        // A side with no examples (or a loss that ignores one) has zero gradient.
        let grad = |leaf: &Tensor<1>| {
            leaf.grad(&grads)
                .map_or_else(|| vec![0.0; leaf.dims()[0]], |g| host(&g))
        };
        computed.put("grad_policy_chosen_logps", grad(&chosen_leaf));
        computed.put("grad_policy_rejected_logps", grad(&rejected_leaf));
        return Ok(());
    }
    let ObjectiveConfig::Kto(c) = config else {
        unreachable!()
    };
    let (shape, values) = flatten(&inputs["policy_logps"]);
    let n = shape[0];
    let policy = tensor(values, [n], device, dtype).require_grad();
    let labels: Vec<bool> = flatten(&inputs["label"])
        .1
        .iter()
        .map(|v| *v != 0.0)
        .collect();
    let kl = |key: &str| {
        inputs
            .get(key)
            .map(|v| tensor(flatten(v).1, [n], device, dtype))
    };
    let unpaired = UnpairedLogps {
        policy: policy.clone(),
        reference: tensor(flatten(&inputs["ref_logps"]).1, [n], device, dtype),
        desirable: mask(labels, [n], device),
        prompt_embeddings: None,
        kl_policy: kl("policy_kl_logps"),
        kl_reference: kl("ref_kl_logps"),
    };
    let out = c
        .check()
        .unwrap()
        .compute_unpaired(&unpaired)
        .map_err(|e| e.to_string())?;
    let grads = out.loss.backward();
    computed.put("loss", host(&out.loss));
    computed.put("per_example_loss", host(&out.per_example_loss));
    computed.put("rewards", host(&out.rewards));
    for (name, extra) in &out.extras {
        computed.put(name, extra.to_host().1);
    }
    computed.put(
        "grad_policy_logps",
        host(&policy.grad(&grads).ok_or("no gradient")?),
    );
    Ok(())
}
