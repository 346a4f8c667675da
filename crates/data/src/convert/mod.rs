//! Interaction logs to sequential-recommendation preference data, as the recommendation papers
//! build it (docs/methods/rec.md §1): per-user chronological sequences; the last `history` items before
//! each target as the history; a candidate set of the target plus sampled negatives, shuffled;
//! `K` of those negatives as the rejected responses; a prompt from a template; item ids alongside.
//!
//! Output folder: `train.parquet`, `valid.parquet`, `test.parquet` (preference schema with the
//! recommendation columns), `items.parquet` (`item_id`, `source_id`, `title`, `popularity`: the
//! training interaction count) and `users.parquet` (`user_id`, `source_id`). Every file is
//! written atomically.

mod catalog_files;
mod prompt;
mod sequences;
mod split;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rand::RngExt;

pub use catalog_files::{ItemTable, read_items};
pub use prompt::{DEFAULT_TEMPLATE, PromptTemplate};
pub use sequences::{UserSequence, user_sequences};
pub use split::{Part, Split, SplitPlan};

use crate::error::{DataError, Result};
use crate::logs::{InteractionLog, ItemCatalog, LogSource};
use crate::parquet_io::{PreferenceWriter, WriteOptions};
use crate::progress::Progress;
use crate::samplers::{
    DebiasingScope, InCandidateSampler, NegativeSampler, PopularityDebiasingSampler,
    PopularitySampler, SampleRequest, SampleRng, UniformSampler, example_rng, popularity_weights,
};
use crate::schema::{Columns, ItemId, PreferenceRecord};
use crate::validate::Rules;

/// How the negatives of a candidate set are drawn from the catalog.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CandidateSampling {
    /// Uniformly (LLaRA, S-DPO).
    Uniform,
    /// ∝ (training count + 1)^alpha, with an alias table.
    Popularity { alpha: f64 },
}

/// How the K rejected items are chosen among the candidate negatives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RejectedSampling {
    /// Uniformly (DPO/S-DPO with random in-candidate negatives).
    InCandidate,
    /// ∝ (training count + 1)^alpha among the candidates (RosePO's popularity-aware negatives).
    PopularityDebiasing { alpha: f64 },
}

/// What seeds each example's random stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeding {
    /// `(seed, example index)`: every example gets its own candidates (our default).
    PerExample,
    /// `(seed, target item)`: examples with the same target share candidates, as S-DPO's
    /// `lastfm_data.py` does.
    PerTarget,
}

/// Title rewriting applied to the catalog before prompts are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleStyle {
    AsIs,
    /// LLaRA's MovieLens clean-up: no year, trailing article moved to the front.
    MovieLensClean,
}

/// Every knob of the conversion; `Default` gives the papers' protocol.
#[derive(Debug, Clone)]
pub struct ConvertConfig {
    /// History length: the last `history` items before the target (default 10).
    pub history: usize,
    /// Targets with fewer earlier interactions are not examples (default 3, as LLaRA/S-DPO).
    pub min_history: usize,
    /// Candidate-set size, target included (default 20).
    pub candidates: usize,
    /// Rejected items per row, K (default 1; at most `candidates - 1`).
    pub negatives: usize,
    /// Only interactions rated at least this count (default: all do).
    pub min_rating: Option<f32>,
    pub split: Split,
    pub template: PromptTemplate,
    pub seed: u64,
    pub candidate_sampling: CandidateSampling,
    pub rejected_sampling: RejectedSampling,
    pub seeding: Seeding,
    pub titles: TitleStyle,
    pub write: WriteOptions,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        Self {
            history: 10,
            min_history: 3,
            candidates: 20,
            negatives: 1,
            min_rating: None,
            split: Split::LeaveLastOut,
            template: PromptTemplate::default(),
            seed: 0,
            candidate_sampling: CandidateSampling::Uniform,
            rejected_sampling: RejectedSampling::InCandidate,
            seeding: Seeding::PerExample,
            titles: TitleStyle::AsIs,
            write: WriteOptions::default(),
        }
    }
}

impl ConvertConfig {
    /// Checks the values against each other.
    pub fn check(&self) -> Result<()> {
        if self.history == 0 {
            return Err(DataError::parameter("history", "must be ≥ 1"));
        }
        if self.candidates < 2 {
            return Err(DataError::parameter(
                "candidates",
                format!(
                    "{}: a candidate set needs the target and at least one negative",
                    self.candidates
                ),
            ));
        }
        if self.negatives == 0 || self.negatives >= self.candidates {
            return Err(DataError::parameter(
                "negatives",
                format!(
                    "K = {} must be in 1..={} (candidates - 1)",
                    self.negatives,
                    self.candidates - 1
                ),
            ));
        }
        if let Some(r) = self.min_rating
            && !r.is_finite()
        {
            return Err(DataError::parameter(
                "min_rating",
                format!("{r} is not finite"),
            ));
        }
        for alpha in [
            match self.candidate_sampling {
                CandidateSampling::Popularity { alpha } => alpha,
                CandidateSampling::Uniform => 1.0,
            },
            match self.rejected_sampling {
                RejectedSampling::PopularityDebiasing { alpha } => alpha,
                RejectedSampling::InCandidate => 1.0,
            },
        ] {
            if !(alpha.is_finite() && alpha >= 0.0) {
                return Err(DataError::parameter(
                    "alpha",
                    format!("{alpha} must be ≥ 0"),
                ));
            }
        }
        self.split.check()
    }
}

/// What a conversion produced and dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConvertSummary {
    pub rows: BTreeMap<&'static str, u64>,
    /// Users with at least one example.
    pub users: u64,
    pub items: u64,
    /// Interactions (after the rating filter) the sequences were built from.
    pub interactions: u64,
    /// Rows not used, by reason (loading and conversion).
    pub skipped: BTreeMap<String, u64>,
    pub notes: Vec<String>,
}

/// Loads `source` and converts it: a log that loads but cannot be converted (a catalog too
/// small for the candidate set, no examples) is an error that names the input.
pub fn convert_source(
    source: &LogSource,
    config: &ConvertConfig,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<ConvertSummary> {
    progress.stage("reading interactions", None);
    let log = source.load()?;
    progress.finish_stage();
    convert(&log, config, output, progress).map_err(|e| match e {
        // Writing the output names its own file.
        DataError::Io { .. } | DataError::Parquet { .. } | DataError::Arrow { .. } => e,
        other => DataError::Conversion {
            input: source.describe(),
            source: Box::new(other),
        },
    })
}

/// Converts `log` and writes the output folder (see the module docs).
pub fn convert(
    log: &InteractionLog,
    config: &ConvertConfig,
    output: &Path,
    progress: &mut dyn Progress,
) -> Result<ConvertSummary> {
    config.check()?;
    let mut summary = ConvertSummary {
        skipped: log.skipped.clone(),
        notes: log.notes.clone(),
        ..ConvertSummary::default()
    };
    let mut catalog = log.catalog.clone();
    if config.titles == TitleStyle::MovieLensClean {
        catalog.map_titles(crate::logs::clean_movielens_title);
    }
    if catalog.len() < config.candidates {
        return Err(DataError::parameter(
            "candidates",
            format!(
                "{} candidates requested but the catalog has {} items",
                config.candidates,
                catalog.len()
            ),
        ));
    }
    summary.items = catalog.len() as u64;

    progress.stage("ordering interactions", None);
    let sequences = user_sequences(log, config.min_rating, &mut summary.skipped);
    summary.interactions = sequences.iter().map(|s| s.len() as u64).sum();
    let plan = SplitPlan::new(config.split, config.min_history, &sequences);
    let popularity = training_popularity(&sequences, &plan, catalog.len());
    progress.finish_stage();

    let builder = ExampleBuilder::new(config, &catalog, &popularity)?;
    let mut writers = BTreeMap::new();
    for part in Part::ALL {
        let writer = PreferenceWriter::create(
            &output.join(format!("{}.parquet", part.name())),
            Columns::recommendation(),
            &config.write,
        )?
        .with_rules(Rules {
            num_items: Some(catalog.len() as i64),
            num_users: Some(log.num_users() as i64),
        });
        writers.insert(part, writer);
    }

    progress.stage("building examples", Some(sequences.len() as u64));
    let mut example_index = 0u64;
    for sequence in &sequences {
        let mut produced = false;
        for position in 0..sequence.len() {
            let Some(part) = plan.part(sequence, position) else {
                continue;
            };
            let index = example_index;
            example_index += 1;
            match builder.build(sequence, position, index)? {
                Some(record) => {
                    writers.get_mut(&part).expect("all parts").write(record)?;
                    produced = true;
                }
                None => {
                    *summary
                        .skipped
                        .entry("too few eligible items for the candidate set".into())
                        .or_default() += 1;
                }
            }
        }
        summary.users += u64::from(produced);
        progress.advance(1);
    }
    progress.finish_stage();

    progress.stage("writing files", None);
    for (part, writer) in writers {
        summary.rows.insert(part.name(), writer.finish()?);
    }
    catalog_files::write_items(
        &output.join("items.parquet"),
        &catalog,
        &popularity,
        &config.write,
    )?;
    catalog_files::write_users(&output.join("users.parquet"), log, &config.write)?;
    progress.finish_stage();
    Ok(summary)
}

/// Interaction counts per item over what training may see.
fn training_popularity(sequences: &[UserSequence], plan: &SplitPlan, num_items: usize) -> Vec<u64> {
    let mut counts = vec![0u64; num_items];
    for sequence in sequences {
        for (position, &item) in sequence.items.iter().enumerate() {
            if plan.visible_in_training(sequence, position) {
                counts[item as usize] += 1;
            }
        }
    }
    counts
}

/// Builds one example's record; holds the samplers and title lookups.
struct ExampleBuilder<'a> {
    config: &'a ConvertConfig,
    catalog: &'a ItemCatalog,
    candidate_sampler: Box<dyn NegativeSampler + 'a>,
    rejected_sampler: Box<dyn NegativeSampler + 'a>,
    /// Items sharing a title with another item: never a negative for each other, since two equal
    /// texts cannot be preferred over one another.
    same_title: HashMap<u32, Vec<ItemId>>,
}

impl<'a> ExampleBuilder<'a> {
    fn new(
        config: &'a ConvertConfig,
        catalog: &'a ItemCatalog,
        popularity: &[u64],
    ) -> Result<Self> {
        let candidate_sampler: Box<dyn NegativeSampler> = match config.candidate_sampling {
            CandidateSampling::Uniform => Box::new(UniformSampler::new(catalog.len())),
            CandidateSampling::Popularity { alpha } => {
                Box::new(PopularitySampler::from_counts(popularity, alpha, 1.0)?)
            }
        };
        let rejected_sampler: Box<dyn NegativeSampler> = match config.rejected_sampling {
            RejectedSampling::InCandidate => Box::new(InCandidateSampler),
            RejectedSampling::PopularityDebiasing { alpha } => {
                Box::new(PopularityDebiasingSampler::new(
                    popularity_weights(popularity, alpha, 1.0)?,
                    DebiasingScope::Candidates,
                )?)
            }
        };
        let mut by_title: HashMap<&str, Vec<ItemId>> = HashMap::new();
        for (item, title) in catalog.titles().iter().enumerate() {
            by_title
                .entry(title.as_str())
                .or_default()
                .push(item as ItemId);
        }
        let mut same_title = HashMap::new();
        for items in by_title.into_values().filter(|items| items.len() > 1) {
            for &item in &items {
                same_title.insert(item as u32, items.clone());
            }
        }
        Ok(Self {
            config,
            catalog,
            candidate_sampler,
            rejected_sampler,
            same_title,
        })
    }

    fn rng(&self, target: u32, index: u64) -> SampleRng {
        match self.config.seeding {
            Seeding::PerExample => example_rng(self.config.seed, index),
            Seeding::PerTarget => example_rng(self.config.seed, u64::from(target)),
        }
    }

    /// `None` when the catalog minus the user's items has too few items for a candidate set.
    fn build(
        &self,
        sequence: &UserSequence,
        position: usize,
        index: u64,
    ) -> Result<Option<PreferenceRecord>> {
        let target = sequence.items[position];
        let start = position.saturating_sub(self.config.history);
        let history: Vec<ItemId> = sequence.items[start..position]
            .iter()
            .map(|&i| ItemId::from(i))
            .collect();
        // Negatives avoid everything the user has interacted with so far, and the target's
        // namesakes.
        let mut excluded: Vec<ItemId> = sequence.items[..position]
            .iter()
            .map(|&i| ItemId::from(i))
            .collect();
        if let Some(namesakes) = self.same_title.get(&target) {
            excluded.extend(namesakes);
        }
        let mut rng = self.rng(target, index);
        let request =
            SampleRequest::new(ItemId::from(target), &excluded, self.config.candidates - 1);
        let negatives = match self.candidate_sampler.sample(&request, &mut rng) {
            Ok(negatives) => negatives,
            Err(DataError::NotEnoughItems { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        let mut candidates = negatives.clone();
        candidates.push(ItemId::from(target));
        for i in (1..candidates.len()).rev() {
            let j = rng.random_range(0..=i);
            candidates.swap(i, j);
        }
        // The negatives already avoid the user's items: no history to exclude a second time.
        let rejected_request = SampleRequest::new(ItemId::from(target), &[], self.config.negatives)
            .with_candidates(&negatives);
        let rejected = self.rejected_sampler.sample(&rejected_request, &mut rng)?;
        let title = |item: ItemId| self.catalog.title(item as u32);
        let history_titles: Vec<&str> = history.iter().map(|&i| title(i)).collect();
        let candidate_titles: Vec<&str> = candidates.iter().map(|&i| title(i)).collect();
        Ok(Some(PreferenceRecord {
            prompt: self
                .config
                .template
                .render(&history_titles, &candidate_titles),
            chosen: title(ItemId::from(target)).to_string(),
            rejected: rejected.iter().map(|&i| title(i).to_string()).collect(),
            user_id: Some(i64::from(sequence.user)),
            chosen_item: Some(ItemId::from(target)),
            rejected_items: Some(rejected),
            history_items: Some(history),
            candidate_items: Some(candidates),
            ..PreferenceRecord::default()
        }))
    }
}
