//! The fits LoRe is compared with, each scored per user: the joint low-rank fit at every
//! rank (rank 1 is one shared Bradley–Terry reward) and independent per-user rewards.

use std::collections::BTreeMap;

use ndarray::{Array1, ArrayView2};
use prefopt_user_models::lore::{
    JointFit, LoreModel, UserComparisons, fit_independent_reward, fit_new_user,
};

use super::data::{PerUser, UserSplit};
use super::settings::LoreSettings;
use crate::common::mean;
use crate::error::Result;

/// Which reward model a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The joint fit at rank 1: one reward shared by all users.
    Shared,
    /// The joint fit at a rank ≥ 2.
    LowRank(usize),
    /// One reward per user, fitted on that user's pairs only.
    PerUser,
}

impl Method {
    pub fn of_rank(rank: usize) -> Self {
        if rank == 1 {
            Self::Shared
        } else {
            Self::LowRank(rank)
        }
    }

    /// The rank of a joint fit.
    pub fn rank(self) -> Option<usize> {
        match self {
            Self::Shared => Some(1),
            Self::LowRank(rank) => Some(rank),
            Self::PerUser => None,
        }
    }

    /// The method column of the tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Shared => "shared BT",
            Self::LowRank(_) => "LoRe",
            Self::PerUser => "per-user rewards",
        }
    }
}

/// Accuracies of one method: per seen user, and per unseen user at each shot count.
pub struct Accuracies {
    pub method: Method,
    pub settings: String,
    pub seen: Vec<f64>,
    pub seen_train: Vec<f64>,
    /// `shots → per unseen user`.
    pub unseen: BTreeMap<usize, Vec<f64>>,
}

/// Every row of the table and the joint models behind them.
pub struct LoreRuns {
    /// The joint fits in `ranks` order, then the per-user rewards.
    pub rows: Vec<Accuracies>,
    /// The joint model of each rank.
    pub models: BTreeMap<usize, LoreModel>,
    /// The rank of the claims and of re-ranking: the true number of bases when it is among
    /// the ranks, else the largest rank.
    pub shot_rank: usize,
    /// Features per response.
    pub features: usize,
}

impl LoreRuns {
    /// The first row of `method`.
    pub fn find(&self, method: Method) -> Option<&Accuracies> {
        self.rows.iter().find(|r| r.method == method)
    }
}

fn accuracy_of(margins: Array1<f64>) -> f64 {
    margins.iter().filter(|&&m| m > 0.0).count() as f64 / margins.len().max(1) as f64
}

/// Fits every rank jointly on the seen users, then the per-user baseline.
pub fn fit_all(
    train: &PerUser,
    test: &PerUser,
    split: &UserSplit,
    settings: &LoreSettings,
    seed: u64,
) -> Result<LoreRuns> {
    let seen_data = UserComparisons::new(split.seen.iter().map(|u| train[u].clone()).collect())?;
    let mut rows = Vec::new();
    let mut models = BTreeMap::new();
    for &rank in &settings.ranks {
        let fit = JointFit {
            steps: settings.steps,
            lr: settings.lr,
            seed,
            ..JointFit::new(rank)
        };
        let model = fit.fit(&seen_data)?;
        rows.push(joint_accuracies(
            &model, rank, train, test, split, settings,
        )?);
        models.insert(rank, model);
    }
    rows.push(per_user_accuracies(train, test, split, settings)?);
    let shot_rank = if settings.ranks.contains(&settings.bases) {
        settings.bases
    } else {
        *settings.ranks.iter().max().expect("ranks are checked")
    };
    Ok(LoreRuns {
        rows,
        models,
        shot_rank,
        features: seen_data.features(),
    })
}

/// A joint model's accuracy for seen users (their fitted weights) and unseen users (weights
/// fitted from each draw of shots with the basis frozen, averaged over trials).
fn joint_accuracies(
    model: &LoreModel,
    rank: usize,
    train: &PerUser,
    test: &PerUser,
    split: &UserSplit,
    settings: &LoreSettings,
) -> Result<Accuracies> {
    let weights = model.user_weights();
    let seen_acc: Vec<f64> = split
        .seen
        .iter()
        .enumerate()
        .map(|(i, u)| model.accuracy(test[u].view(), weights.row(i)))
        .collect();
    let seen_train: Vec<f64> = split
        .seen
        .iter()
        .enumerate()
        .map(|(i, u)| model.accuracy(train[u].view(), weights.row(i)))
        .collect();
    let mut unseen_acc = BTreeMap::new();
    for &k in &settings.shots {
        let per_user = split
            .unseen
            .iter()
            .map(|&u| {
                if rank == 1 {
                    // One shared reward: nothing to adapt (the official code fits no
                    // few-shot weights at rank ≤ 1).
                    return Ok(model.accuracy(test[&u].view(), Array1::ones(1).view()));
                }
                let mut total = 0.0;
                for t in 0..settings.trials {
                    let shots = split.shots(train, u, k, t);
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
    Ok(Accuracies {
        method: Method::of_rank(rank),
        settings: format!("rank {rank}"),
        seen: seen_acc,
        seen_train,
        unseen: unseen_acc,
    })
}

/// Independent per-user rewards: seen users on their own train pairs, unseen on their shots.
fn per_user_accuracies(
    train: &PerUser,
    test: &PerUser,
    split: &UserSplit,
    settings: &LoreSettings,
) -> Result<Accuracies> {
    let independent =
        |x: ArrayView2<'_, f64>| fit_independent_reward(x, settings.independent_l2, 1e-8, 200);
    let mut per_user = Accuracies {
        method: Method::PerUser,
        settings: format!("L2 {}", settings.independent_l2),
        seen: Vec::new(),
        seen_train: Vec::new(),
        unseen: BTreeMap::new(),
    };
    for u in &split.seen {
        let fit = independent(train[u].view())?;
        per_user.seen.push(accuracy_of(test[u].dot(&fit.theta)));
        per_user
            .seen_train
            .push(accuracy_of(train[u].dot(&fit.theta)));
    }
    for &k in &settings.shots {
        let accuracies = split
            .unseen
            .iter()
            .map(|&u| {
                let mut total = 0.0;
                for t in 0..settings.trials {
                    let fit = independent(split.shots(train, u, k, t).view())?;
                    total += accuracy_of(test[&u].dot(&fit.theta));
                }
                Ok(total / settings.trials as f64)
            })
            .collect::<Result<Vec<f64>>>()?;
        per_user.unseen.insert(k, accuracies);
    }
    Ok(per_user)
}
