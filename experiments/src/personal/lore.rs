//! The LoRe experiment (`docs/methods/personal.md` §3): low-rank reward factorization against one
//! shared Bradley–Terry reward (rank 1) and independent per-user rewards, for seen users
//! (held-out pairs) and for unseen users fitted from k shots with the basis frozen; recovery of
//! the true basis (principal angles); and personalized re-ranking of each prompt's responses.
//!
//! The data are comparisons with response features in `chosen_features` / `rejected_features`
//! columns: generated users who are Dirichlet mixtures of basis rewards (the default, written
//! to the output folder and read back), or any folder of real data in the same layout.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayView2};
use prefopt_data::WriteOptions;
use prefopt_data::synthetic::{BasisRewardData, BasisRewardSpec};
use prefopt_data::vectors::{CHOSEN_FEATURES, REJECTED_FEATURES, read_vectors};
use prefopt_eval::ranking::RankingMetrics;
use prefopt_eval::stats::mean_ci;
use prefopt_user_models::lore::{
    JointFit, LoreModel, fit_independent_reward, fit_new_user, principal_angles,
};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::{Deserialize, Serialize};

use super::PersonalContext;
use crate::error::{ExperimentError, Result};
use crate::report::plots::{Series, line_plot};
use crate::report::{Plot, Row, Section, Table};
use crate::tables::{claim_from_values, mean};

/// Settings of the LoRe experiment (`[lore]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoreSettings {
    /// A folder with `train.parquet` and `test.parquet` carrying `user_id`,
    /// `chosen_features` and `rejected_features`; without it, data are generated.
    pub data: Option<PathBuf>,
    /// Generated data: users, true bases, feature width, pairs per user, held-out share,
    /// Dirichlet concentration of the mixtures, Bradley–Terry scale.
    pub users: usize,
    pub bases: usize,
    pub feature_dim: usize,
    pub pairs_per_user: usize,
    pub test_fraction: f64,
    pub concentration: f64,
    pub scale: f64,
    /// Share of users held out of the joint fit (fitted few-shot instead).
    pub unseen_fraction: f64,
    /// Ranks of the joint fit (rank 1 is the shared Bradley–Terry model).
    pub ranks: Vec<usize>,
    /// Shots of the unseen users' fits.
    pub shots: Vec<usize>,
    /// Draws of the shots per unseen user and shot count (averaged).
    pub trials: usize,
    /// Adam steps and learning rate of the joint fit (the official 1000 and 0.5).
    pub steps: usize,
    pub lr: f64,
    /// L2 penalty of the per-user baseline (few shots are often separable).
    pub independent_l2: f64,
}

impl Default for LoreSettings {
    fn default() -> Self {
        Self {
            data: None,
            users: 150,
            bases: 3,
            feature_dim: 8,
            pairs_per_user: 100,
            test_fraction: 0.3,
            concentration: 0.3,
            scale: 3.0,
            unseen_fraction: 0.3,
            ranks: vec![1, 2, 3, 4, 6],
            shots: vec![1, 2, 5, 10, 20, 40],
            trials: 3,
            steps: 1000,
            lr: 0.5,
            independent_l2: 0.1,
        }
    }
}

impl LoreSettings {
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(ExperimentError::Invalid(format!("lore.{what}")));
        if self.ranks.is_empty() || self.ranks.contains(&0) {
            return bad("ranks must list ranks ≥ 1");
        }
        if self.shots.is_empty() || self.shots.contains(&0) || self.trials == 0 {
            return bad("shots must list counts ≥ 1 and trials must be ≥ 1");
        }
        if !(0.0..1.0).contains(&self.unseen_fraction) || self.unseen_fraction == 0.0 {
            return bad("unseen_fraction must lie in (0, 1)");
        }
        if self.steps == 0 || !super::positive(self.lr) || !super::positive(self.independent_l2) {
            return bad("steps, lr and independent_l2 must be positive");
        }
        Ok(())
    }
}

/// Feature differences `chosen − rejected` of each user, by user id.
type PerUser = BTreeMap<i64, Array2<f64>>;

/// Reads one split's comparisons (`user_id`, `chosen_features`, `rejected_features`).
pub fn read_comparisons(path: &Path) -> Result<PerUser> {
    let table = read_vectors(path, Some("user_id"), &[CHOSEN_FEATURES, REJECTED_FEATURES])?;
    let (chosen, rejected) = (&table.columns[0], &table.columns[1]);
    if chosen.width != rejected.width {
        return Err(ExperimentError::Invalid(format!(
            "{}: chosen features have {} values, rejected {}",
            path.display(),
            chosen.width,
            rejected.width
        )));
    }
    let mut rows: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for (row, &user) in table.ids.unwrap_or_default().iter().enumerate() {
        let entry = rows.entry(user).or_default();
        entry.extend(
            chosen
                .row(row)
                .iter()
                .zip(rejected.row(row))
                .map(|(c, r)| c - r),
        );
    }
    let width = chosen.width;
    Ok(rows
        .into_iter()
        .map(|(user, values)| {
            let pairs = values.len() / width.max(1);
            (
                user,
                Array2::from_shape_vec((pairs, width), values).expect("whole rows"),
            )
        })
        .collect())
}

/// The true structure of generated data (absent for real data).
struct Truth {
    /// `F × B*`.
    basis: Array2<f64>,
    data: BasisRewardData,
    /// Responses per prompt (the candidates of the re-ranking).
    responses_per_prompt: usize,
}

fn load(
    context: &PersonalContext<'_>,
    settings: &LoreSettings,
) -> Result<(PerUser, PerUser, Option<Truth>, PathBuf)> {
    match &settings.data {
        Some(dir) => Ok((
            read_comparisons(&dir.join("train.parquet"))?,
            read_comparisons(&dir.join("test.parquet"))?,
            None,
            dir.clone(),
        )),
        None => {
            let spec = BasisRewardSpec {
                users: settings.users,
                bases: settings.bases,
                feature_dim: settings.feature_dim,
                prompts: 200,
                responses_per_prompt: 6,
                pairs_per_user: settings.pairs_per_user,
                concentration: settings.concentration,
                scale: settings.scale,
                test_fraction: settings.test_fraction,
                seed: context.config.seed,
            };
            let data = spec.generate()?;
            let dir = context.out.join("data").join("lore");
            data.write(&dir, &WriteOptions::default())?;
            let basis = Array2::from_shape_fn((spec.feature_dim, spec.bases), |(f, b)| {
                data.basis_weights[b][f]
            });
            Ok((
                read_comparisons(&dir.join("train.parquet"))?,
                read_comparisons(&dir.join("test.parquet"))?,
                Some(Truth {
                    basis,
                    data,
                    responses_per_prompt: spec.responses_per_prompt,
                }),
                dir,
            ))
        }
    }
}

/// Accuracies of one method: per seen user, and per unseen user at each shot count.
struct MethodResult {
    method: String,
    settings: String,
    seen: Vec<f64>,
    seen_train: Vec<f64>,
    /// `shots → per unseen user`.
    unseen: BTreeMap<usize, Vec<f64>>,
}

fn accuracy_of(margins: Array1<f64>) -> f64 {
    margins.iter().filter(|&&m| m > 0.0).count() as f64 / margins.len().max(1) as f64
}

pub fn run(context: &PersonalContext<'_>) -> Result<Section> {
    let settings = &context.config.lore;
    settings.check()?;
    let (train, test, truth, data_dir) = load(context, settings)?;
    let users: Vec<i64> = train
        .keys()
        .copied()
        .filter(|u| test.get(u).is_some_and(|x| x.nrows() > 0))
        .collect();
    if users.len() < 4 {
        return Err(ExperimentError::Invalid(format!(
            "{}: LoRe needs at least 4 users with train and test pairs, found {}",
            data_dir.display(),
            users.len()
        )));
    }
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(context.config.seed);
    let mut shuffled = users.clone();
    shuffled.shuffle(&mut rng);
    let unseen_count = ((users.len() as f64 * settings.unseen_fraction).round() as usize)
        .clamp(2, users.len() - 2);
    let (unseen, seen) = shuffled.split_at(unseen_count);
    let (mut seen, mut unseen) = (seen.to_vec(), unseen.to_vec());
    seen.sort_unstable();
    unseen.sort_unstable();
    let seen_data = prefopt_user_models::lore::UserComparisons::new(
        seen.iter().map(|u| train[u].clone()).collect(),
    )?;
    let features = seen_data.features();
    // The shots each unseen user draws (per trial), the same for every method.
    let draws: BTreeMap<(i64, usize, usize), Vec<usize>> = unseen
        .iter()
        .flat_map(|&u| {
            settings
                .shots
                .iter()
                .flat_map(move |&k| (0..settings.trials).map(move |t| (u, k, t)))
        })
        .map(|(u, k, t)| {
            let pool: Vec<usize> = (0..train[&u].nrows()).collect();
            let picked: Vec<usize> = pool.sample(&mut rng, k.min(pool.len())).copied().collect();
            ((u, k, t), picked)
        })
        .collect();
    let shots_of = |u: i64, picked: &[usize]| train[&u].select(ndarray::Axis(0), picked);

    let mut results = Vec::new();
    let mut models: BTreeMap<usize, LoreModel> = BTreeMap::new();
    for &rank in &settings.ranks {
        let fit = JointFit {
            steps: settings.steps,
            lr: settings.lr,
            seed: context.config.seed,
            ..JointFit::new(rank)
        };
        let model = fit.fit(&seen_data)?;
        let weights = model.user_weights();
        let seen_acc: Vec<f64> = seen
            .iter()
            .enumerate()
            .map(|(i, u)| model.accuracy(test[u].view(), weights.row(i)))
            .collect();
        let seen_train: Vec<f64> = seen
            .iter()
            .enumerate()
            .map(|(i, u)| model.accuracy(train[u].view(), weights.row(i)))
            .collect();
        let mut unseen_acc = BTreeMap::new();
        for &k in &settings.shots {
            let per_user = unseen
                .iter()
                .map(|&u| {
                    if rank == 1 {
                        // One shared reward: nothing to adapt (the official code fits no
                        // few-shot weights at rank ≤ 1).
                        return Ok(model.accuracy(test[&u].view(), Array1::ones(1).view()));
                    }
                    let mut total = 0.0;
                    for t in 0..settings.trials {
                        let shots = shots_of(u, &draws[&(u, k, t)]);
                        let fit = fit_new_user(model.basis.view(), shots.view(), 1e-7, 200_000)?;
                        total += model.accuracy(test[&u].view(), fit.weights.view());
                    }
                    Ok(total / settings.trials as f64)
                })
                .collect::<Result<Vec<f64>>>()?;
            unseen_acc.insert(k, per_user);
        }
        eprintln!(
            "  LoRe rank {rank:<2} seen {:.3}, unseen @{} shots {:.3}",
            mean(&seen_acc),
            settings.shots.last().copied().unwrap_or(0),
            unseen_acc.values().last().map_or(f64::NAN, |v| mean(v))
        );
        results.push(MethodResult {
            method: if rank == 1 {
                "shared BT".into()
            } else {
                "LoRe".into()
            },
            settings: format!("rank {rank}"),
            seen: seen_acc,
            seen_train,
            unseen: unseen_acc,
        });
        models.insert(rank, model);
    }

    // Independent per-user rewards: seen users on their own train pairs, unseen on their shots.
    let independent =
        |x: ArrayView2<'_, f64>| fit_independent_reward(x, settings.independent_l2, 1e-8, 200);
    let mut per_user = MethodResult {
        method: "per-user rewards".into(),
        settings: format!("L2 {}", settings.independent_l2),
        seen: Vec::new(),
        seen_train: Vec::new(),
        unseen: BTreeMap::new(),
    };
    for u in &seen {
        let fit = independent(train[u].view())?;
        per_user.seen.push(accuracy_of(test[u].dot(&fit.theta)));
        per_user
            .seen_train
            .push(accuracy_of(train[u].dot(&fit.theta)));
    }
    for &k in &settings.shots {
        let accuracies = unseen
            .iter()
            .map(|&u| {
                let mut total = 0.0;
                for t in 0..settings.trials {
                    let fit = independent(shots_of(u, &draws[&(u, k, t)]).view())?;
                    total += accuracy_of(test[&u].dot(&fit.theta));
                }
                Ok(total / settings.trials as f64)
            })
            .collect::<Result<Vec<f64>>>()?;
        per_user.unseen.insert(k, accuracies);
    }
    results.push(per_user);

    let shot_rank = if settings.ranks.contains(&settings.bases) {
        settings.bases
    } else {
        *settings.ranks.iter().max().expect("ranks are checked")
    };
    let section = report(
        context,
        settings,
        &results,
        shot_rank,
        &models,
        truth.as_ref(),
        &seen,
        &unseen,
        &draws,
        &train,
        (seen.len(), unseen.len(), features, data_dir),
    )?;
    Ok(section)
}

#[allow(clippy::too_many_arguments)]
fn report(
    context: &PersonalContext<'_>,
    settings: &LoreSettings,
    results: &[MethodResult],
    shot_rank: usize,
    models: &BTreeMap<usize, LoreModel>,
    truth: Option<&Truth>,
    seen: &[i64],
    unseen: &[i64],
    draws: &BTreeMap<(i64, usize, usize), Vec<usize>>,
    train: &PerUser,
    (n_seen, n_unseen, features, data_dir): (usize, usize, usize, PathBuf),
) -> Result<Section> {
    let shot_column = |k: usize| format!("unseen acc @{k}");
    let mut columns = vec!["seen acc".to_string(), "seen train acc".to_string()];
    columns.extend(settings.shots.iter().map(|&k| shot_column(k)));
    let baseline = results
        .iter()
        .find(|r| r.method == "shared BT")
        .map(|r| r.seen.clone());
    let mut rows = Vec::new();
    for r in results {
        let mut metrics = BTreeMap::new();
        metrics.insert("seen acc".to_string(), mean_ci(&r.seen)?);
        metrics.insert("seen train acc".to_string(), mean_ci(&r.seen_train)?);
        for (&k, values) in &r.unseen {
            metrics.insert(shot_column(k), mean_ci(values)?);
        }
        let versus_baseline = match (&baseline, r.method.as_str()) {
            (Some(b), m) if m != "shared BT" => Some(prefopt_eval::stats::paired_test(&r.seen, b)?),
            _ => None,
        };
        rows.push(Row {
            method: r.method.clone(),
            settings: r.settings.clone(),
            metrics,
            values: BTreeMap::new(),
            versus_baseline,
        });
    }
    let table = Table {
        id: "lore".into(),
        title: "LoRe: accuracy on held-out pairs, seen users and unseen users after k shots".into(),
        columns,
        baseline: "shared BT (rank 1)".into(),
        compared: "seen acc".into(),
        rows,
    };

    let by_settings = |method: &str, settings_text: &str| {
        results
            .iter()
            .find(|r| r.method == method && r.settings == settings_text)
    };
    let lore_main = by_settings("LoRe", &format!("rank {shot_rank}"));
    let shared = by_settings("shared BT", "rank 1");
    let independent = results.iter().find(|r| r.method == "per-user rewards");
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

    let mut extra_tables = Vec::new();
    let mut paragraphs = vec![format!(
        "Data: `{}` ({n_seen} seen and {n_unseen} unseen users, {features} features). \
         Seen users train the basis and their weights jointly (Adam, lr {}, {} steps, \
         `docs/methods/personal.md` §3a); each unseen user's simplex weights are fitted from k of \
         its train pairs with the basis frozen, solved to a duality gap of 1e-7, averaged over \
         {} draws. Accuracies are per user, then averaged over users (95% t intervals over \
         users); Δ is paired over seen users.",
        data_dir.display(),
        settings.lr,
        settings.steps,
        settings.trials
    )];
    if let Some(truth) = truth {
        let mut angle_rows = Vec::new();
        for (&rank, model) in models {
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
        extra_tables.push(Table {
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
        });
        extra_tables.push(reranking(
            models, shot_rank, truth, seen, unseen, draws, train, settings,
        )?);
        paragraphs.push(
            "Re-ranking: every response of a prompt is a candidate; a user's learned reward \
             φ·V·π_u orders them and HR@1 / NDCG@3 are taken against the user's true best \
             response (its mixture of the true bases). Unseen users use their weights from the \
             largest shot count."
                .into(),
        );
    }

    let mut series = Vec::new();
    for r in results.iter().filter(|r| {
        r.method != "LoRe" || r.settings == format!("rank {shot_rank}") || r.settings == "rank 2"
    }) {
        series.push(Series {
            name: format!("{} ({})", r.method, r.settings),
            points: r.unseen.iter().map(|(&k, v)| (k as f64, mean(v))).collect(),
        });
    }
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
        points: results
            .iter()
            .filter_map(|r| {
                let rank: f64 = r.settings.strip_prefix("rank ")?.parse().ok()?;
                Some((rank, mean(&r.seen)))
            })
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
    Ok(Section {
        heading: "LoRe: low-rank reward factorization (arXiv 2504.14439)".into(),
        paragraphs,
        table,
        extra_tables,
        claims,
        plots: vec![
            Plot {
                file,
                caption: "unseen users: accuracy vs shots".into(),
            },
            Plot {
                file: rank_file,
                caption: "seen users: accuracy vs rank".into(),
            },
        ],
    })
}

/// Personalized ranking: each user's learned reward orders the responses of sampled prompts;
/// the target is the response the user's true reward ranks first.
#[allow(clippy::too_many_arguments)]
fn reranking(
    models: &BTreeMap<usize, LoreModel>,
    shot_rank: usize,
    truth: &Truth,
    seen: &[i64],
    unseen: &[i64],
    draws: &BTreeMap<(i64, usize, usize), Vec<usize>>,
    train: &PerUser,
    settings: &LoreSettings,
) -> Result<Table> {
    let per_prompt = truth.responses_per_prompt;
    let prompts = truth.data.response_features.len() / per_prompt;
    let features = |p: usize| {
        Array2::from_shape_fn((per_prompt, truth.basis.nrows()), |(k, f)| {
            truth.data.response_features[p * per_prompt + k][f]
        })
    };
    let last_k = *settings.shots.last().expect("checked");
    let mut rows = Vec::new();
    let candidates: Vec<(String, &LoreModel)> = [1, shot_rank]
        .iter()
        .filter_map(|r| {
            models.get(r).map(|m| {
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
        for (group, users) in [("seen", seen), ("unseen", unseen)] {
            let (mut hits, mut ndcgs) = (Vec::new(), Vec::new());
            for (i, &u) in users.iter().enumerate() {
                let pi = if rank == 1 {
                    Array1::ones(1)
                } else if group == "seen" {
                    weights.row(i).to_owned()
                } else {
                    let shots = train[&u].select(ndarray::Axis(0), &draws[&(u, last_k, 0)]);
                    fit_new_user(model.basis.view(), shots.view(), 1e-7, 200_000)?.weights
                };
                let alpha = &truth.data.user_mixtures[u as usize];
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
                hits.push(mean(&metrics.hit_ratio(1)));
                ndcgs.push(mean(&metrics.ndcg(3)));
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
            "Personalized re-ranking of each prompt's {per_prompt} responses by the user's \
             learned reward (target: the user's true best response)"
        ),
        columns: vec!["HR@1".into(), "NDCG@3".into()],
        baseline: "–".into(),
        compared: "–".into(),
        rows,
    })
}
