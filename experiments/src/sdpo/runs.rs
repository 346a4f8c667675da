//! The runs of the S-DPO table: the score-only baselines, the preference jobs in S-DPO's
//! protocol, and the results held by role.

use prefopt_objectives::ObjectiveConfig;

use crate::config::{PreferenceConfig, RejectedStrategy};
use crate::error::{ExperimentError, Result};
use crate::rec::Evaluation;
use crate::rec::table::{Job, Outcome, Stage, TableContext};

/// β of every row of the main table (the S-DPO and DynamicPO scripts' value).
const BETA: f64 = 1.0;

/// A preference run of the table, by what it stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    Dpo,
    /// S-DPO with `negatives` negatives at `beta`; `main` rows are in the main table, the
    /// others only in the β sweep.
    Sdpo {
        negatives: usize,
        beta: f64,
        main: bool,
    },
    Dmpo,
    DmpoOfficial,
    DynamicPo,
    Lipo,
}

/// Every evaluated run of the table, by role.
pub struct SdpoRuns {
    pub popularity: Outcome,
    pub item_knn: Outcome,
    pub sft: Outcome,
    /// DPO, which is also S-DPO with K = 1.
    pub dpo: Outcome,
    /// S-DPO at each K > 1 of the grid (β = 1), in grid order.
    pub sdpo: Vec<(usize, Outcome)>,
    pub dmpo: Outcome,
    pub dmpo_official: Outcome,
    pub dynamicpo: Outcome,
    pub lipo: Outcome,
    /// S-DPO's β sweep at K = `beta_negatives`: a setting of the main table is not rerun.
    pub beta_sweep: Vec<(f64, Outcome)>,
    /// HR@1 against K: the grid's K, DPO at K = 1.
    pub by_negatives: Vec<(usize, Outcome)>,
}

impl SdpoRuns {
    /// The rows of the main table, in order.
    pub fn main_rows(&self) -> Vec<&Outcome> {
        let mut rows = vec![&self.popularity, &self.item_knn, &self.sft, &self.dpo];
        rows.extend(self.sdpo.iter().map(|(_, o)| o));
        rows.extend([&self.dmpo, &self.dmpo_official, &self.dynamicpo, &self.lipo]);
        rows
    }

    /// The S-DPO row of the claims: the smallest K > 1 of the grid.
    pub fn main_sdpo(&self) -> Option<&Outcome> {
        self.sdpo.first().map(|(_, o)| o)
    }
}

fn preference(
    base: &PreferenceConfig,
    loss: &str,
    beta: f64,
    negatives: usize,
) -> Result<PreferenceConfig> {
    Ok(PreferenceConfig {
        objective: ObjectiveConfig::from_name(loss)?.with_beta(beta),
        negatives,
        rejected: vec![RejectedStrategy::Random],
        ..base.clone()
    })
}

/// Scores every test candidate by `score(history, item)` (the score-only baselines).
fn baseline(
    context: &TableContext<'_>,
    method: &str,
    settings: &str,
    score: impl Fn(&[i64], i64) -> f64,
) -> Result<Outcome> {
    let records = &context.pipeline.dataset.test;
    let scores: Vec<Vec<f64>> = records
        .iter()
        .map(|r| {
            let history = r.history_items.as_deref().unwrap_or(&[]);
            r.candidate_items
                .iter()
                .flatten()
                .map(|&c| score(history, c))
                .collect()
        })
        .collect();
    Ok(Outcome {
        method: method.into(),
        settings: settings.into(),
        stage: Stage::ScoreOnly,
        run: None,
        evaluation: Evaluation::from_scores(&scores, records)?,
    })
}

/// The preference jobs: DPO, S-DPO at each K > 1, the comparisons at `comparison_negatives`,
/// then the β sweep's settings that the main table does not have.
fn plan(context: &TableContext<'_>) -> Result<Vec<(Role, Job)>> {
    let grid = &context.pipeline.config.sdpo;
    let base = &context.pipeline.config.preference;
    let mut jobs = vec![(
        Role::Dpo,
        Job::new("DPO", "K=1, β=1", preference(base, "dpo", BETA, 1)?),
    )];
    for &k in grid.negatives.iter().filter(|&&k| k > 1) {
        // K = 1 is the DPO row: S-DPO with one negative is DPO's loss (docs/methods/rec.md §2(a)).
        let role = Role::Sdpo {
            negatives: k,
            beta: BETA,
            main: true,
        };
        let job = Job::new(
            "S-DPO",
            &format!("K={k}, β=1"),
            preference(base, "sdpo", BETA, k)?,
        );
        jobs.push((role, job));
    }
    let k = grid.comparison_negatives;
    for (role, method, loss) in [
        (Role::Dmpo, "DMPO", "dmpo"),
        (
            Role::DmpoOfficial,
            "DMPO (official pairwise)",
            "dmpo/official_pairwise",
        ),
        (Role::DynamicPo, "DynamicPO", "dynamicpo/dynamic_beta"),
        (Role::Lipo, "LiPO-λ", "lipo/lambda"),
    ] {
        let settings = if role == Role::Lipo {
            format!("K={k}, β=1, labels: item-kNN order")
        } else {
            format!("K={k}, β=1")
        };
        jobs.push((
            role,
            Job::new(method, &settings, preference(base, loss, BETA, k)?),
        ));
    }
    let k = grid.beta_negatives;
    for &beta in &grid.betas {
        let planned = jobs.iter().any(|(role, _)| {
            matches!(role, Role::Sdpo { negatives, beta: b, .. } if *negatives == k && *b == beta)
        });
        if !planned {
            let role = Role::Sdpo {
                negatives: k,
                beta,
                main: false,
            };
            let job = Job::new(
                "S-DPO",
                &format!("K={k}, β={beta}"),
                preference(base, "sdpo", beta, k)?,
            );
            jobs.push((role, job));
        }
    }
    Ok(jobs)
}

/// Runs the baselines and every preference job of the table.
pub fn run_table(context: &TableContext<'_>) -> Result<SdpoRuns> {
    let pipeline = context.pipeline;
    let grid = &pipeline.config.sdpo;
    let popularity = pipeline.dataset.popularity();
    let popularity_row = baseline(context, "Popularity", "train counts", |_, item| {
        popularity[item as usize] as f64
    })?;
    let item_knn = baseline(
        context,
        "Item-kNN",
        "conventional recommender",
        |h, item| pipeline.oracle.score(h, item),
    )?;
    let (roles, jobs): (Vec<Role>, Vec<Job>) = plan(context)?.into_iter().unzip();
    let finished: Vec<(Role, Outcome)> = roles.into_iter().zip(context.run_all(&jobs)?).collect();
    let one = |wanted: Role| {
        finished
            .iter()
            .find(|(role, _)| *role == wanted)
            .map(|(_, o)| o.clone())
            .ok_or_else(|| ExperimentError::Invalid(format!("the S-DPO table ran no {wanted:?}")))
    };
    let sdpo_at = |k: usize, beta: f64| {
        finished.iter().find_map(|(role, o)| match role {
            Role::Sdpo {
                negatives, beta: b, ..
            } if *negatives == k && *b == beta => Some(o.clone()),
            _ => None,
        })
    };
    let sdpo: Vec<(usize, Outcome)> = finished
        .iter()
        .filter_map(|(role, o)| match role {
            Role::Sdpo {
                negatives,
                main: true,
                ..
            } => Some((*negatives, o.clone())),
            _ => None,
        })
        .collect();
    let dpo = one(Role::Dpo)?;
    let by_negatives = grid
        .negatives
        .iter()
        .filter_map(|&k| {
            if k == 1 {
                Some((k, dpo.clone()))
            } else {
                sdpo_at(k, BETA).map(|o| (k, o))
            }
        })
        .collect();
    let beta_sweep = grid
        .betas
        .iter()
        .filter_map(|&beta| sdpo_at(grid.beta_negatives, beta).map(|o| (beta, o)))
        .collect();
    Ok(SdpoRuns {
        popularity: popularity_row,
        item_knn,
        sft: context.sft_outcome(),
        dpo,
        sdpo,
        dmpo: one(Role::Dmpo)?,
        dmpo_official: one(Role::DmpoOfficial)?,
        dynamicpo: one(Role::DynamicPo)?,
        lipo: one(Role::Lipo)?,
        beta_sweep,
        by_negatives,
    })
}
