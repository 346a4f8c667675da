//! The `prefopt data ...` commands: argument parsing (clap) and terminal output around
//! `prefopt-data`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use prefopt_data::convert::{
    CandidateSampling, ConvertConfig, ConvertSummary, PromptTemplate, RejectedSampling, Seeding,
    Split, TitleStyle, convert, convert_source,
};
use prefopt_data::inspect::summarize;
use prefopt_data::logs::{LogFormat, LogSource};
use prefopt_data::progress::Progress;
use prefopt_data::synthetic::{
    BasisRewardSpec, ConflictingSpec, SequentialSpec, StatedStyleSpec, Style,
};
use prefopt_data::trl::Format;
use prefopt_data::{Codec, InvalidRows, PreferenceDataset, ReadOptions, WriteOptions};

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub struct BarProgress {
    bar: Option<ProgressBar>,
}

impl BarProgress {
    pub fn new() -> Self {
        Self { bar: None }
    }
}

impl Default for BarProgress {
    fn default() -> Self {
        Self::new()
    }
}

impl Progress for BarProgress {
    fn stage(&mut self, name: &str, total: Option<u64>) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(
                ProgressStyle::with_template(
                    "{msg:>22} [{bar:40}] {human_pos}/{human_len} ({eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner(),
        };
        bar.set_message(name.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self, units: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(units);
        }
    }

    fn finish_stage(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    #[value(name = "movielens-100k")]
    MovieLens100K,
    #[value(name = "movielens-1m")]
    MovieLens1M,
    #[value(name = "movielens-20m")]
    MovieLens20M,
    Amazon,
    Lastfm,
    Goodreads,
    Interactions,
}

impl From<FormatArg> for LogFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::MovieLens100K => Self::MovieLens100K,
            FormatArg::MovieLens1M => Self::MovieLens1M,
            FormatArg::MovieLens20M => Self::MovieLens20M,
            FormatArg::Amazon => Self::Amazon,
            FormatArg::Lastfm => Self::LastFm,
            FormatArg::Goodreads => Self::Goodreads,
            FormatArg::Interactions => Self::Interactions,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    /// Uniform over the catalog (LLaRA, S-DPO).
    Uniform,
    /// ∝ (training count + 1)^alpha.
    Popularity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RejectedArg {
    /// Uniform among the candidate negatives.
    InCandidate,
    /// ∝ (training count + 1)^alpha among the candidate negatives (RosePO).
    Popularity,
}

/// `prefopt data convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Log format.
    #[arg(long, value_enum)]
    pub format: FormatArg,
    /// The interactions file, or the dataset's folder (MovieLens, LastFM).
    #[arg(long)]
    pub input: PathBuf,
    /// The item table (titles); MovieLens and LastFM find theirs beside the input.
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Output folder for train/valid/test/items/users .parquet.
    #[arg(long)]
    pub output: PathBuf,
    /// Rejected items per row (K).
    #[arg(long, default_value_t = 1)]
    pub negatives: usize,
    /// Candidate-set size, target included.
    #[arg(long, default_value_t = 20)]
    pub candidates: usize,
    /// History length (last N items before the target).
    #[arg(long, default_value_t = 10)]
    pub history: usize,
    /// Targets with fewer earlier interactions are not examples.
    #[arg(long, default_value_t = 3)]
    pub min_history: usize,
    /// Only interactions rated at least this count as positives.
    #[arg(long)]
    pub min_rating: Option<f32>,
    /// leave-last-out, chronological (8:1:1), or chronological:TRAIN:VALID.
    #[arg(long, default_value = "leave-last-out")]
    pub split: String,
    /// How candidate negatives are drawn.
    #[arg(long, value_enum, default_value_t = SamplerArg::Uniform)]
    pub sampler: SamplerArg,
    /// How the K rejected items are chosen among the candidates.
    #[arg(long, value_enum, default_value_t = RejectedArg::InCandidate)]
    pub rejected: RejectedArg,
    /// Popularity exponent of the popularity samplers.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    /// Seed candidates by target item (S-DPO's parity mode) instead of by example.
    #[arg(long)]
    pub seed_by_target: bool,
    /// Prompt template with {history}, {candidates}, {num_candidates}, {num_history}.
    #[arg(long)]
    pub template: Option<String>,
    /// Read the prompt template from a file.
    #[arg(long, conflicts_with = "template")]
    pub template_file: Option<PathBuf>,
    /// LLaRA's MovieLens titles: no year, trailing article moved to the front.
    #[arg(long)]
    pub clean_titles: bool,
    /// Column names of the generic `interactions` format.
    #[arg(long, default_value = "user_id")]
    pub user_column: String,
    #[arg(long, default_value = "item_id")]
    pub item_column: String,
    #[arg(long, default_value = "rating")]
    pub rating_column: String,
    #[arg(long, default_value = "timestamp")]
    pub time_column: String,
    #[arg(long, default_value = "title")]
    pub title_column: String,
    /// Parquet codec: snappy, zstd[:L], gzip[:L], brotli[:L], none.
    #[arg(long, default_value = "snappy")]
    pub codec: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ConvertArgs {
    fn config(&self) -> Result<ConvertConfig, String> {
        let template = match (&self.template, &self.template_file) {
            (Some(text), _) => PromptTemplate::new(text.clone()),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                PromptTemplate::new(text)
            }
            (None, None) => Ok(PromptTemplate::default()),
        }
        .map_err(|e| e.to_string())?;
        let config = ConvertConfig {
            history: self.history,
            min_history: self.min_history,
            candidates: self.candidates,
            negatives: self.negatives,
            min_rating: self.min_rating,
            split: self.split.parse::<Split>().map_err(|e| e.to_string())?,
            template,
            seed: self.seed,
            candidate_sampling: match self.sampler {
                SamplerArg::Uniform => CandidateSampling::Uniform,
                SamplerArg::Popularity => CandidateSampling::Popularity { alpha: self.alpha },
            },
            rejected_sampling: match self.rejected {
                RejectedArg::InCandidate => RejectedSampling::InCandidate,
                RejectedArg::Popularity => {
                    RejectedSampling::PopularityDebiasing { alpha: self.alpha }
                }
            },
            seeding: if self.seed_by_target {
                Seeding::PerTarget
            } else {
                Seeding::PerExample
            },
            titles: if self.clean_titles {
                TitleStyle::MovieLensClean
            } else {
                TitleStyle::AsIs
            },
            write: WriteOptions {
                codec: self.codec.parse::<Codec>().map_err(|e| e.to_string())?,
                ..WriteOptions::default()
            },
        };
        config.check().map_err(|e| e.to_string())?;
        Ok(config)
    }

    pub fn run(&self) -> Result<(), String> {
        let config = self.config()?;
        let mut source = LogSource::new(self.format.into(), &self.input);
        source.items = self.items.clone();
        source.columns.user = self.user_column.clone();
        source.columns.item = self.item_column.clone();
        source.columns.rating = self.rating_column.clone();
        source.columns.timestamp = self.time_column.clone();
        source.columns.title = self.title_column.clone();
        source.columns.item_id = self.item_column.clone();
        let summary = convert_source(&source, &config, &self.output, &mut BarProgress::new())
            .map_err(|e| e.to_string())?;
        print_summary(&summary, &self.output);
        Ok(())
    }
}

fn print_summary(summary: &ConvertSummary, output: &std::path::Path) {
    println!("wrote {}", output.display());
    for (part, rows) in &summary.rows {
        println!("  {part:<5} {rows:>10} rows");
    }
    println!("  users {:>10} (with at least one example)", summary.users);
    println!("  items {:>10}", summary.items);
    println!("  interactions used {}", summary.interactions);
    if summary.skipped.is_empty() {
        println!("  skipped: none");
    } else {
        println!("  skipped:");
        for (reason, count) in &summary.skipped {
            println!("    {count:>10}  {reason}");
        }
    }
    for note in &summary.notes {
        println!("  note: {note}");
    }
}

/// `prefopt data inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A Parquet file or a folder of part files.
    pub path: PathBuf,
    /// Count invalid rows instead of stopping at the first.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Check item ids against a catalog of this size.
    #[arg(long)]
    pub num_items: Option<i64>,
}

impl InspectArgs {
    pub fn run(&self) -> Result<(), String> {
        let dataset = PreferenceDataset::open(&self.path).map_err(|e| e.to_string())?;
        let mut options = ReadOptions::default();
        options.rules.num_items = self.num_items;
        if self.skip_invalid {
            options.invalid_rows = InvalidRows::SkipAndCount;
        }
        let summary =
            summarize(&dataset, options, &mut BarProgress::new()).map_err(|e| e.to_string())?;
        println!("{}", self.path.display());
        println!("{summary}");
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GeneratorArg {
    /// Sequential recommendation (Zipf catalog, drifting latent tastes), converted like real logs.
    Sequential,
    /// Two user groups preferring short vs long responses (P-RLHF).
    Conflicting,
    /// Users as Dirichlet mixtures of basis rewards (LoRe).
    BasisRewards,
    /// Questions whose prompt states the answer style wanted, in TRL's layout (text
    /// preference training; `docs/text.md`).
    StatedStyle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextFormatArg {
    Standard,
    Conversational,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StyleArg {
    Capitals,
    Lowercase,
    OneWord,
    Polite,
}

/// `prefopt data generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(value_enum)]
    pub kind: GeneratorArg,
    #[arg(long)]
    pub output: PathBuf,
    /// Users (stated-style: personalised rows, each user always wanting one style that the
    /// prompt does not state; rows carry `user_id`).
    #[arg(long)]
    pub users: Option<usize>,
    /// Catalog size (sequential).
    #[arg(long)]
    pub items: Option<usize>,
    /// Rejected items per row (sequential).
    #[arg(long, default_value_t = 1)]
    pub negatives: usize,
    /// Latent dimension of item vectors and tastes (sequential).
    #[arg(long)]
    pub dim: Option<usize>,
    /// Inverse temperature of the taste term: higher makes the next item more predictable
    /// from the history (sequential).
    #[arg(long)]
    pub taste_strength: Option<f64>,
    /// How far a taste moves toward each consumed item, 0..1 (sequential).
    #[arg(long)]
    pub drift: Option<f64>,
    /// Items drawn by popularity per step, among which taste decides (sequential).
    #[arg(long)]
    pub pool: Option<usize>,
    /// Shortest and longest user sequence (sequential).
    #[arg(long)]
    pub min_length: Option<usize>,
    #[arg(long)]
    pub max_length: Option<usize>,
    /// How candidate negatives are drawn (sequential).
    #[arg(long, value_enum, default_value_t = SamplerArg::Uniform)]
    pub sampler: SamplerArg,
    /// Popularity exponent of `--sampler popularity`.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value = "zstd")]
    pub codec: String,
    /// Training and test rows (stated-style).
    #[arg(long)]
    pub rows: Option<usize>,
    #[arg(long)]
    pub test_rows: Option<usize>,
    /// Strings or chat messages (stated-style).
    #[arg(long, value_enum, default_value_t = TextFormatArg::Conversational)]
    pub text_format: TextFormatArg,
    /// KTO's unpaired rows instead of pairs (stated-style).
    #[arg(long)]
    pub unpaired: bool,
    /// The styles prompts ask for, comma-separated (stated-style; default: all four).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub styles: Vec<StyleArg>,
}

impl GenerateArgs {
    fn report(&self, train: usize, test: usize) {
        println!(
            "wrote {}: {train} train, {test} test rows",
            self.output.display()
        );
    }

    pub fn run(&self) -> Result<(), String> {
        let write = WriteOptions {
            codec: self.codec.parse::<Codec>().map_err(|e| e.to_string())?,
            ..WriteOptions::default()
        };
        match self.kind {
            GeneratorArg::Sequential => {
                let mut spec = SequentialSpec {
                    seed: self.seed,
                    ..SequentialSpec::default()
                };
                spec.users = self.users.unwrap_or(spec.users);
                spec.items = self.items.unwrap_or(spec.items);
                spec.dim = self.dim.unwrap_or(spec.dim);
                spec.taste_strength = self.taste_strength.unwrap_or(spec.taste_strength);
                spec.drift = self.drift.unwrap_or(spec.drift);
                spec.pool = self.pool.unwrap_or(spec.pool);
                spec.min_length = self.min_length.unwrap_or(spec.min_length);
                spec.max_length = self.max_length.unwrap_or(spec.max_length);
                let data = spec.generate().map_err(|e| e.to_string())?;
                let config = ConvertConfig {
                    negatives: self.negatives,
                    candidate_sampling: match self.sampler {
                        SamplerArg::Uniform => CandidateSampling::Uniform,
                        SamplerArg::Popularity => {
                            CandidateSampling::Popularity { alpha: self.alpha }
                        }
                    },
                    seed: self.seed,
                    write,
                    ..ConvertConfig::default()
                };
                let summary = convert(&data.log, &config, &self.output, &mut BarProgress::new())
                    .map_err(|e| e.to_string())?;
                print_summary(&summary, &self.output);
            }
            GeneratorArg::Conflicting => {
                let mut spec = ConflictingSpec {
                    seed: self.seed,
                    ..ConflictingSpec::default()
                };
                spec.users = self.users.unwrap_or(spec.users);
                let data = spec.generate().map_err(|e| e.to_string())?;
                data.write(&self.output, &write)
                    .map_err(|e| e.to_string())?;
                self.report(data.train.len(), data.test.len());
            }
            GeneratorArg::StatedStyle => {
                let mut spec = StatedStyleSpec {
                    seed: self.seed,
                    negatives: self.negatives,
                    unpaired: self.unpaired,
                    format: match self.text_format {
                        TextFormatArg::Standard => Format::Standard,
                        TextFormatArg::Conversational => Format::Conversational,
                    },
                    ..StatedStyleSpec::default()
                };
                spec.users = self.users;
                spec.train_rows = self.rows.unwrap_or(spec.train_rows);
                spec.test_rows = self.test_rows.unwrap_or(spec.test_rows);
                if !self.styles.is_empty() {
                    spec.styles = self
                        .styles
                        .iter()
                        .map(|s| match s {
                            StyleArg::Capitals => Style::Capitals,
                            StyleArg::Lowercase => Style::Lowercase,
                            StyleArg::OneWord => Style::OneWord,
                            StyleArg::Polite => Style::Polite,
                        })
                        .collect();
                }
                let (train, test) = spec.write(&self.output).map_err(|e| e.to_string())?;
                self.report(train, test);
            }
            GeneratorArg::BasisRewards => {
                let mut spec = BasisRewardSpec {
                    seed: self.seed,
                    ..BasisRewardSpec::default()
                };
                spec.users = self.users.unwrap_or(spec.users);
                let data = spec.generate().map_err(|e| e.to_string())?;
                data.write(&self.output, &write)
                    .map_err(|e| e.to_string())?;
                self.report(data.train.len(), data.test.len());
            }
        }
        Ok(())
    }
}
