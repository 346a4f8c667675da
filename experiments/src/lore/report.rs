//! The LoRe section: accuracy per method for seen and unseen users, the paper's claims,
//! basis recovery and re-ranking (generated data only), and accuracy against shots and rank.

use std::collections::BTreeMap;

use ndarray::{Array1, Array2};
use prefopt_data::synthetic::BasisRewardSpec;
use prefopt_eval::ranking::RankingMetrics;
use prefopt_eval::stats::{mean_ci, paired_test};
use prefopt_user_models::lore::{LoreModel, fit_new_user, principal_angles};

use super::data::{LoreData, Truth};
use super::fit::{Accuracies, LoreRuns, Method};
use super::settings::LoreSettings;
use crate::common::claims::claim_from_values;
use crate::common::mean;
use crate::common::plots::{Series, line_plot};
use crate::error::Result;
use crate::personal::PersonalContext;
use crate::report::{Claim, Plot, Row, Section, Table};

fn shot_column(k: usize) -> String {
    format!("unseen acc @{k}")
}

/// The section of the LoRe experiment.
pub fn section(
    context: &PersonalContext<'_>,
    settings: &LoreSettings,
    data: &LoreData,
    runs: &LoreRuns,
) -> Result<Section> {
    let mut paragraphs = vec![protocol(settings, data, runs)];
    let mut extra_tables = Vec::new();
    if let Some(truth) = &data.truth {
        extra_tables.push(angles(runs, truth)?);
        extra_tables.push(reranking(runs, truth, data, settings)?);
        paragraphs.push(
            "Re-ranking: every response of a prompt is a candidate; a user's learned reward \
             φ·V·π_u orders them and HR@1 / NDCG@3 are taken against the user's true best \
             response (its mixture of the true bases). Unseen users use their weights from the \
             largest shot count."
                .into(),
        );
    }
    Ok(Section {
        heading: "LoRe: low-rank reward factorization (arXiv 2504.14439)".into(),
        paragraphs,
        table: table(settings, runs)?,
        extra_tables,
        claims: claims(settings, runs)?,
        plots: plots(context, runs)?,
    })
}

fn protocol(settings: &LoreSettings, data: &LoreData, runs: &LoreRuns) -> String {
    format!(
        "Data: `{}` ({} seen and {} unseen users, {} features). \
         Seen users train the basis and their weights jointly (Adam, lr {}, {} steps, \
         `docs/methods/personal.md` §3a); each unseen user's simplex weights are fitted from k of \
         its train pairs with the basis frozen, solved to a duality gap of 1e-7, averaged over \
         {} draws. Accuracies are per user, then averaged over users (95% t intervals over \
         users); Δ is paired over seen users.",
        data.dir.display(),
        data.split.seen.len(),
        data.split.unseen.len(),
        runs.features,
        settings.lr,
        settings.steps,
        settings.trials
    )
}

/// Seen-user accuracy (held-out and train) and unseen-user accuracy at each shot count; Δ is
/// paired against the shared reward on seen users.
fn table(settings: &LoreSettings, runs: &LoreRuns) -> Result<Table> {
    let mut columns = vec!["seen acc".to_string(), "seen train acc".to_string()];
    columns.extend(settings.shots.iter().map(|&k| shot_column(k)));
    let baseline = runs.find(Method::Shared).map(|r| &r.seen);
    let mut rows = Vec::new();
    for r in &runs.rows {
        let mut metrics = BTreeMap::new();
        metrics.insert("seen acc".to_string(), mean_ci(&r.seen)?);
        metrics.insert("seen train acc".to_string(), mean_ci(&r.seen_train)?);
        for (&k, values) in &r.unseen {
            metrics.insert(shot_column(k), mean_ci(values)?);
        }
        let versus_baseline = match baseline {
            Some(b) if r.method != Method::Shared => Some(paired_test(&r.seen, b)?),
            _ => None,
        };
        rows.push(Row {
            method: r.method.name().into(),
            settings: r.settings.clone(),
            metrics,
            values: BTreeMap::new(),
            versus_baseline,
        });
    }
    Ok(Table {
        id: "lore".into(),
        title: "LoRe: accuracy on held-out pairs, seen users and unseen users after k shots".into(),
        columns,
        baseline: "shared BT (rank 1)".into(),
        compared: "seen acc".into(),
        rows,
    })
}

/// The paper's claims: LoRe at the shot rank against the shared reward and the per-user
/// rewards, and unseen users' accuracy against shots.
fn claims(settings: &LoreSettings, runs: &LoreRuns) -> Result<Vec<Claim>> {
    let shot_rank = runs.shot_rank;
    let lore_main = runs.find(Method::LowRank(shot_rank));
    let shared = runs.find(Method::Shared);
    let independent = runs.find(Method::PerUser);
    let (first_k, last_k) = (
        *settings.shots.first().expect("checked"),
        *settings.shots.last().expect("checked"),
    );
    let mut claims = Vec::new();
    if let (Some(lore), Some(shared)) = (lore_main, shared) {
        claims.push(claim_from_values(
            "a low-rank model beats one shared reward when users disagree (seen users)",
            &lore.seen,
            &shared.seen,
            &format!("LoRe rank {shot_rank}"),
            "shared BT",
            "per-user accuracy",
            false,
        )?);
        claims.push(claim_from_values(
            "unseen users' accuracy rises with the number of shots (basis frozen)",
            &lore.unseen[&last_k],
            &lore.unseen[&first_k],
            &format!("{last_k} shots"),
            &format!("{first_k} shots"),
            "per-user accuracy",
            false,
        )?);
        claims.push(claim_from_values(
            "after a few dozen shots, unseen users beat the shared reward",
            &lore.unseen[&last_k],
            &shared.unseen[&last_k],
            &format!("LoRe @{last_k}"),
            "shared BT",
            "per-user accuracy",
            false,
        )?);
    }
    if let (Some(lore), Some(independent)) = (lore_main, independent) {
        let few = settings
            .shots
            .iter()
            .copied()
            .find(|&k| k >= 5)
            .unwrap_or(first_k);
        claims.push(claim_from_values(
            &format!("per-user models from scratch are poor at few shots ({few})"),
            &lore.unseen[&few],
            &independent.unseen[&few],
            &format!("LoRe @{few}"),
            "per-user @same shots",
            "per-user accuracy",
            false,
        )?);
    }
    Ok(claims)
}

/// Principal angles between each rank's learned basis and the true one.
fn angles(runs: &LoreRuns, truth: &Truth) -> Result<Table> {
    let mut angle_rows = Vec::new();
    for (&rank, model) in &runs.models {
        let angles = principal_angles(model.basis.view(), truth.basis.view())?;
        let covered: Vec<f64> = angles
            .iter()
            .take(rank.min(truth.basis.ncols()))
            .copied()
            .collect();
        angle_rows.push(Row {
            method: "LoRe".into(),
            settings: format!("rank {rank}"),
            metrics: BTreeMap::new(),
            values: BTreeMap::from([
                (
                    "largest angle (rad)".to_string(),
                    covered.iter().fold(0.0, |a: f64, &b| a.max(b)),
                ),
                ("mean angle (rad)".to_string(), mean(&covered)),
            ]),
            versus_baseline: None,
        });
    }
    Ok(Table {
        id: "lore_angles".into(),
        title: format!(
            "Principal angles between the learned basis and the true one ({} bases; over \
             min(rank, {}) directions)",
            truth.basis.ncols(),
            truth.basis.ncols()
        ),
        columns: vec!["largest angle (rad)".into(), "mean angle (rad)".into()],
        baseline: "–".into(),
        compared: String::new(),
        rows: angle_rows,
    })
}

/// Unseen-user accuracy against shots (the shared reward, the per-user rewards, LoRe at the
/// shot rank and at rank 2) and seen-user accuracy against rank.
fn plots(context: &PersonalContext<'_>, runs: &LoreRuns) -> Result<Vec<Plot>> {
    let shown = |r: &&Accuracies| match r.method {
        Method::LowRank(rank) => rank == runs.shot_rank || rank == 2,
        Method::Shared | Method::PerUser => true,
    };
    let series: Vec<Series> = runs
        .rows
        .iter()
        .filter(shown)
        .map(|r| Series {
            name: format!("{} ({})", r.method.name(), r.settings),
            points: r.unseen.iter().map(|(&k, v)| (k as f64, mean(v))).collect(),
        })
        .collect();
    let file = "lore_shots.svg".to_string();
    line_plot(
        &context.out.join(&file),
        "Unseen users: held-out accuracy vs shots",
        "shots",
        "accuracy",
        &series,
    )?;
    let rank_series = vec![Series {
        name: "seen users".into(),
        points: runs
            .rows
            .iter()
            .filter_map(|r| Some((r.method.rank()? as f64, mean(&r.seen))))
            .collect(),
    }];
    let rank_file = "lore_rank.svg".to_string();
    line_plot(
        &context.out.join(&rank_file),
        "Seen users: held-out accuracy vs rank",
        "rank",
        "accuracy",
        &rank_series,
    )?;
    Ok(vec![
        Plot {
            file,
            caption: "unseen users: accuracy vs shots".into(),
        },
        Plot {
            file: rank_file,
            caption: "seen users: accuracy vs rank".into(),
        },
    ])
}

/// Personalized ranking: each user's learned reward orders the responses of sampled prompts;
/// the target is the response the user's true reward ranks first. Rows: the shared reward and
/// LoRe at the shot rank, for seen and unseen users.
fn reranking(
    runs: &LoreRuns,
    truth: &Truth,
    data: &LoreData,
    settings: &LoreSettings,
) -> Result<Table> {
    let last_k = *settings.shots.last().expect("checked");
    let split = &data.split;
    let mut rows = Vec::new();
    let candidates: Vec<(String, &LoreModel)> = [1, runs.shot_rank]
        .iter()
        .filter_map(|r| {
            runs.models.get(r).map(|m| {
                (
                    if *r == 1 {
                        "shared BT".to_string()
                    } else {
                        format!("LoRe rank {r}")
                    },
                    m,
                )
            })
        })
        .collect();
    for (name, model) in candidates {
        let rank = model.basis.ncols();
        let weights = model.user_weights();
        let mut groups: Vec<(&str, Vec<f64>, Vec<f64>)> = Vec::new();
        for (group, users) in [("seen", &split.seen), ("unseen", &split.unseen)] {
            let (mut hits, mut ndcgs) = (Vec::new(), Vec::new());
            for (i, &u) in users.iter().enumerate() {
                let pi = if rank == 1 {
                    Array1::ones(1)
                } else if group == "seen" {
                    weights.row(i).to_owned()
                } else {
                    let shots = split.shots(&data.train, u, last_k, 0);
                    fit_new_user(model.basis.view(), shots.view(), 1e-7, 200_000)?.weights
                };
                let (hit, ndcg) = user_ranking(model, &pi, truth, u)?;
                hits.push(hit);
                ndcgs.push(ndcg);
            }
            groups.push((group, hits, ndcgs));
        }
        for (group, hits, ndcgs) in groups {
            rows.push(Row {
                method: name.clone(),
                settings: format!("{group} users"),
                metrics: BTreeMap::from([
                    ("HR@1".to_string(), mean_ci(&hits)?),
                    ("NDCG@3".to_string(), mean_ci(&ndcgs)?),
                ]),
                values: BTreeMap::new(),
                versus_baseline: None,
            });
        }
    }
    Ok(Table {
        id: "lore_rerank".into(),
        title: format!(
            "Personalized re-ranking of each prompt's {} responses by the user's \
             learned reward (target: the user's true best response)",
            truth.responses_per_prompt
        ),
        columns: vec!["HR@1".into(), "NDCG@3".into()],
        baseline: "–".into(),
        compared: "–".into(),
        rows,
    })
}

/// Mean HR@1 and NDCG@3 of one user's learned reward (weights `pi`) over every fourth prompt.
fn user_ranking(
    model: &LoreModel,
    pi: &Array1<f64>,
    truth: &Truth,
    user: i64,
) -> Result<(f64, f64)> {
    let per_prompt = truth.responses_per_prompt;
    let prompts = truth.data.response_features.len() / per_prompt;
    let features = |p: usize| {
        Array2::from_shape_fn((per_prompt, truth.basis.nrows()), |(k, f)| {
            truth.data.response_features[p * per_prompt + k][f]
        })
    };
    let alpha = &truth.data.user_mixtures[user as usize];
    let (mut scores, mut targets) = (Vec::new(), Vec::new());
    for p in (0..prompts).step_by(4) {
        let phi = features(p);
        let learned = model.rewards(phi.view(), pi.view())?;
        let true_rewards: Vec<f64> = (0..per_prompt)
            .map(|k| {
                BasisRewardSpec::reward(
                    &truth.data.basis_weights,
                    alpha,
                    &truth.data.response_features[p * per_prompt + k],
                )
            })
            .collect();
        let best = (0..per_prompt)
            .max_by(|&a, &b| true_rewards[a].total_cmp(&true_rewards[b]))
            .expect("responses per prompt ≥ 2");
        scores.push(learned.to_vec());
        targets.push(best);
    }
    let metrics = RankingMetrics::new(&scores, &targets)?;
    Ok((mean(&metrics.hit_ratio(1)), mean(&metrics.ndcg(3))))
}
