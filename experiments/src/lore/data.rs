//! LoRe's comparisons (feature differences per user), the generated truth, and the split into
//! seen and unseen users with their few-shot draws.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;
use prefopt_data::WriteOptions;
use prefopt_data::synthetic::{BasisRewardData, BasisRewardSpec};
use prefopt_data::vectors::{CHOSEN_FEATURES, REJECTED_FEATURES, read_vectors};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::{IndexedRandom, SliceRandom};

use super::settings::LoreSettings;
use crate::error::{ExperimentError, Result};
use crate::personal::PersonalContext;

/// Feature differences `chosen − rejected` of each user, by user id.
pub type PerUser = BTreeMap<i64, Array2<f64>>;

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
                Array2::from_shape_vec((pairs, width), values)
                    .expect("every user's values are whole rows of `width`"),
            )
        })
        .collect())
}

/// The true structure of generated data (absent for real data).
pub struct Truth {
    /// `F × B*`.
    pub basis: Array2<f64>,
    pub data: BasisRewardData,
    /// Responses per prompt (the candidates of the re-ranking).
    pub responses_per_prompt: usize,
}

/// The comparisons of `settings.data`, or generated ones (with their truth) written to
/// `<out>/data/lore` and read back.
pub fn load(
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

/// Everything the fits and the report read.
pub struct LoreData {
    pub train: PerUser,
    pub test: PerUser,
    /// The generated truth (`None` for real data).
    pub truth: Option<Truth>,
    pub dir: PathBuf,
    pub split: UserSplit,
}

impl LoreData {
    /// Loads (or generates) the comparisons and splits the users.
    pub fn prepare(context: &PersonalContext<'_>, settings: &LoreSettings) -> Result<Self> {
        let (train, test, truth, dir) = load(context, settings)?;
        let split = UserSplit::draw(&train, &test, settings, context.config.seed, &dir)?;
        Ok(Self {
            train,
            test,
            truth,
            dir,
            split,
        })
    }
}

/// Seen and unseen users and the shots each unseen user draws.
pub struct UserSplit {
    pub seen: Vec<i64>,
    pub unseen: Vec<i64>,
    /// `(user, shots, trial) →` the user's train rows drawn, the same for every method.
    pub draws: BTreeMap<(i64, usize, usize), Vec<usize>>,
}

impl UserSplit {
    /// Holds out `unseen_fraction` of the users with train and test pairs (at least 2, at
    /// most all but 2) and draws every unseen user's shots, from one seeded generator.
    pub fn draw(
        train: &PerUser,
        test: &PerUser,
        settings: &LoreSettings,
        seed: u64,
        data_dir: &Path,
    ) -> Result<Self> {
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
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut shuffled = users.clone();
        shuffled.shuffle(&mut rng);
        let unseen_count = ((users.len() as f64 * settings.unseen_fraction).round() as usize)
            .clamp(2, users.len() - 2);
        let (unseen, seen) = shuffled.split_at(unseen_count);
        let (mut seen, mut unseen) = (seen.to_vec(), unseen.to_vec());
        seen.sort_unstable();
        unseen.sort_unstable();
        let draws = unseen
            .iter()
            .flat_map(|&u| {
                settings
                    .shots
                    .iter()
                    .flat_map(move |&k| (0..settings.trials).map(move |t| (u, k, t)))
            })
            .map(|(u, k, t)| {
                let pool: Vec<usize> = (0..train[&u].nrows()).collect();
                let picked: Vec<usize> =
                    pool.sample(&mut rng, k.min(pool.len())).copied().collect();
                ((u, k, t), picked)
            })
            .collect();
        Ok(Self {
            seen,
            unseen,
            draws,
        })
    }

    /// The train pairs of `user`'s draw `(shots, trial)`.
    pub fn shots(&self, train: &PerUser, user: i64, shots: usize, trial: usize) -> Array2<f64> {
        train[&user].select(ndarray::Axis(0), &self.draws[&(user, shots, trial)])
    }
}
