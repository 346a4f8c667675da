//! Golden test: the `prlhf/user_model_*` and `lore/*` cases under `PREFOPT_GOLDEN_DIR`
//! (default: the repository's copy of `shared/golden`, in the objectives crate) recomputed here
//! and compared with the values the official code produced: user embeddings and the gradients
//! of their sum (burn, f64, autodiff), LoRe's nll, regularizer, loss and gradients (ndarray).
//! Every failing case is listed by file and id.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device, Tensor, TensorData};
use ndarray::{Array1, Array2};
use prefopt_user_models::lore::{LoreObjective, Reduction, Regularizer, UserComparisons};
use prefopt_user_models::prlhf::{UserModel, UserModelConfig, UserModelKind};
use serde_json::Value;

const RELATIVE: f64 = 1e-6;
const ABSOLUTE: f64 = 1e-12;

fn golden_dir() -> PathBuf {
    std::env::var_os("PREFOPT_GOLDEN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../objectives/tests/golden"))
}

fn flatten(value: &Value, out: &mut Vec<f64>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap()),
        other => panic!("not a number: {other}"),
    }
}

fn numbers(value: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    flatten(value, &mut out);
    out
}

fn matrix(value: &Value) -> Array2<f64> {
    let rows = value.as_array().expect("a matrix");
    let columns = rows
        .first()
        .and_then(|r| r.as_array())
        .map_or(0, |r| r.len());
    Array2::from_shape_vec((rows.len(), columns), numbers(value)).unwrap()
}

fn compare(what: &str, got: &[f64], expected: &[f64], problems: &mut Vec<String>) {
    if got.len() != expected.len() {
        problems.push(format!(
            "{what}: {} values, expected {}",
            got.len(),
            expected.len()
        ));
        return;
    }
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        if (g - e).abs() > ABSOLUTE.max(RELATIVE * e.abs()) {
            problems.push(format!("{what}[{i}]: {g} != expected {e}"));
            return;
        }
    }
}

fn user_model_case(case: &Value) -> Vec<String> {
    let (params, inputs, outputs) = (&case["params"], &case["inputs"], &case["outputs"]);
    let device = Device::flex().autodiff();
    let tensor = |value: &Value| {
        let m = matrix(value);
        let shape = [m.nrows(), m.ncols()];
        Tensor::<2>::from_data(
            TensorData::new(m.into_raw_vec_and_offset().0, shape),
            (&device, DType::F64),
        )
        .require_grad()
    };
    let n_users = params["n_users"].as_u64().unwrap() as usize;
    let n_tokens = params["n_user_tokens"].as_u64().unwrap() as usize;
    let ids: Vec<usize> = numbers(&inputs["user_ids"])
        .iter()
        .map(|&u| u as usize)
        .collect();
    let (kind, table, logits) = match params["user_model"].as_str().unwrap() {
        "individual" => (
            UserModelKind::Individual {
                add_generic_user: params["add_generic_user"].as_bool().unwrap(),
            },
            tensor(&inputs["embedding_table"]),
            None,
        ),
        "cluster" => (
            UserModelKind::Cluster {
                n_clusters: params["n_clusters"].as_u64().unwrap() as usize,
            },
            tensor(&inputs["cluster_embedding_table"]),
            Some(tensor(&inputs["user_weight_table"])),
        ),
        other => return vec![format!("unknown user model {other}")],
    };
    let config = UserModelConfig {
        kind,
        n_users,
        n_tokens,
        dim: table.dims()[1],
    };
    let model = match UserModel::from_tables(&config, table.clone(), logits.clone()) {
        Ok(model) => model,
        Err(error) => return vec![error.to_string()],
    };
    let embeddings = match model.embeddings(&ids) {
        Ok(e) => e,
        Err(error) => return vec![error.to_string()],
    };
    let host = |t: Tensor<2>| t.into_data().convert::<f64>().try_to_vec::<f64>().unwrap();
    let mut problems = Vec::new();
    let values = embeddings
        .clone()
        .into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .unwrap();
    compare(
        "user_embeddings",
        &values,
        &numbers(&outputs["user_embeddings"]),
        &mut problems,
    );
    let grads = embeddings.sum().backward();
    let table_grad = model
        .table
        .val()
        .grad(&grads)
        .map(|g| host(Tensor::from_inner(g)));
    let table_key = match kind {
        UserModelKind::Individual { .. } => "grad_sum_wrt_embedding_table",
        UserModelKind::Cluster { .. } => "grad_sum_wrt_cluster_embedding_table",
    };
    compare(
        table_key,
        &table_grad.unwrap_or_default(),
        &numbers(&outputs[table_key]),
        &mut problems,
    );
    if let Some(logits) = &model.user_logits {
        let grad = logits
            .val()
            .grad(&grads)
            .map(|g| host(Tensor::from_inner(g)));
        compare(
            "grad_sum_wrt_user_weight_table",
            &grad.unwrap_or_default(),
            &numbers(&outputs["grad_sum_wrt_user_weight_table"]),
            &mut problems,
        );
    }
    problems
}

fn lore_case(case: &Value) -> Vec<String> {
    let (params, inputs, outputs) = (&case["params"], &case["inputs"], &case["outputs"]);
    let per_user: Vec<Array2<f64>> = inputs["user_feature_diffs"]
        .as_array()
        .unwrap()
        .iter()
        .map(matrix)
        .collect();
    let data = match UserComparisons::new(per_user) {
        Ok(data) => data,
        Err(error) => return vec![error.to_string()],
    };
    let reference = || Array1::from(numbers(&inputs["V_sft"]));
    let broadcast = || numbers(&params["v_sft_shape"]).len() == 2;
    let variant = params["variant"].as_str().unwrap();
    let (objective, v, w) = match variant {
        "LoRe.forward" => (
            LoreObjective {
                reduction: Reduction::PerUserSum,
                regularizer: Regularizer::L2 {
                    alpha: params["alpha"].as_f64().unwrap(),
                    reference: reference(),
                    broadcast_parity: broadcast(),
                },
            },
            matrix(&inputs["V"]),
            matrix(&inputs["W"]),
        ),
        "LoRe_regularized.forward" => (
            LoreObjective {
                reduction: Reduction::PairMean,
                regularizer: Regularizer::Cosine {
                    alpha: params["alpha_curr"].as_f64().unwrap(),
                    reference: reference(),
                },
            },
            matrix(&inputs["V"]),
            matrix(&inputs["W"]),
        ),
        "PersonalizeBatch.forward" => (
            LoreObjective::default(),
            matrix(&inputs["V"]),
            matrix(&inputs["w"]),
        ),
        other => return vec![format!("unknown LoRe variant {other}")],
    };
    let loss = match objective.evaluate(&data, v.view(), w.view()) {
        Ok(loss) => loss,
        Err(error) => return vec![error.to_string()],
    };
    let flat = |a: &Array2<f64>| a.iter().copied().collect::<Vec<_>>();
    let mut problems = Vec::new();
    let mut check = |key: &str, got: Vec<f64>| {
        if !outputs[key].is_null() {
            compare(key, &got, &numbers(&outputs[key]), &mut problems);
        } else {
            problems.push(format!("the case has no output {key}"));
        }
    };
    check("nll", vec![loss.nll]);
    match variant {
        "LoRe.forward" => {
            check("reg", vec![loss.reg]);
            check("loss", vec![loss.loss]);
            check("grad_W", flat(&loss.grad_w));
            check("grad_V", flat(&loss.grad_v));
        }
        "LoRe_regularized.forward" => {
            let alpha_curr = params["alpha_curr"].as_f64().unwrap();
            // The reference reports the unscaled cosine term and trains W on the nll alone.
            check("reg", vec![loss.reg / alpha_curr]);
            check("loss_v_step", vec![loss.loss]);
            check("grad_V_of_loss_v_step", flat(&loss.grad_v));
            let nll_only = LoreObjective {
                reduction: Reduction::PairMean,
                regularizer: Regularizer::None,
            };
            let w_step = nll_only.evaluate(&data, v.view(), w.view()).unwrap();
            check("grad_W_of_nll", flat(&w_step.grad_w));
        }
        _ => check("grad_w", flat(&loss.grad_w)),
    }
    problems
}

#[test]
fn user_model_and_lore_cases_match_the_official_code() {
    let dir = golden_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read golden directory {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let (mut checked, mut failures) = (0, Vec::new());
    for file in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap())
            .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", file.display()));
        for case in doc["cases"].as_array().cloned().unwrap_or_default() {
            let loss = case["loss"].as_str().unwrap_or("");
            let problems = if loss.starts_with("prlhf/user_model_") {
                user_model_case(&case)
            } else if loss.starts_with("lore/") {
                lore_case(&case)
            } else {
                continue;
            };
            checked += 1;
            if !problems.is_empty() {
                failures.push(format!(
                    "{} {}: {}",
                    file.file_name().unwrap().to_string_lossy(),
                    case["id"].as_str().unwrap_or("?"),
                    problems.join("; ")
                ));
            }
        }
    }
    assert!(
        checked >= 8,
        "only {checked} user-model/LoRe cases under {}",
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
