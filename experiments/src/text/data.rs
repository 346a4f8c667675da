//! A TRL-format dataset's train and evaluation splits as tokens for one checkpoint.

use burn::tensor::{DType, Device};
use prefopt_data::trl::{Format, PairedRow, TrlDataset, TrlRows, UnpairedRow};
use prefopt_models::chat::ChatTemplate;
use prefopt_models::pretrained::Pretrained;
use prefopt_models::tokenizer::{
    EncodedExample, TextTokenizer, Tokenizer, TrlEncoder, UnpairedExample,
};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;

use crate::config::{ExperimentConfig, RowSample};
use crate::error::{ExperimentError, Result};

/// The rows of one split in tokens: pairs (chosen + K rejected) or unpaired completions.
#[derive(Clone, Debug)]
pub enum TextData {
    Paired(Vec<EncodedExample>),
    Unpaired(Vec<UnpairedExample>),
}

impl TextData {
    pub fn len(&self) -> usize {
        match self {
            Self::Paired(e) => e.len(),
            Self::Unpaired(e) => e.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Mean prompt and completion lengths in tokens.
    pub fn mean_lengths(&self) -> (f64, f64) {
        let (prompts, completions): (Vec<f64>, Vec<f64>) = match self {
            Self::Paired(e) => e
                .iter()
                .map(|e| {
                    let lengths: Vec<f64> = e.responses.iter().map(|r| r.len() as f64).collect();
                    (e.prompt.len() as f64, crate::common::mean(&lengths))
                })
                .unzip(),
            Self::Unpaired(e) => e
                .iter()
                .map(|e| (e.prompt.len() as f64, e.completion.len() as f64))
                .unzip(),
        };
        (
            crate::common::mean(&prompts),
            crate::common::mean(&completions),
        )
    }
}

/// A checkpoint and a TRL dataset's splits, encoded for it.
pub struct TextPipeline {
    pub config: ExperimentConfig,
    pub tokenizer: TextTokenizer,
    pub template: Option<ChatTemplate>,
    /// The checkpoint's weights on the training device.
    pub base: Transformer,
    pub device: Device,
    pub format: Format,
    /// Whether the dataset's rows were paired (they are unpaired for KTO when they were).
    pub paired_rows: bool,
    pub train: TextData,
    pub eval: TextData,
    /// Rows whose prompt alone filled `text.max_length` (dropped, as TRL drops them).
    pub dropped: usize,
}

/// Whether the objective trains on unpaired rows (TRL's KTO trainer).
pub fn is_unpaired_objective(objective: &ObjectiveConfig) -> bool {
    matches!(objective, ObjectiveConfig::Kto(_))
}

/// Keeps at most `max` rows, the first or a seeded sample.
fn limit(dataset: &mut TrlDataset, max: Option<usize>, sample: RowSample, seed: u64) {
    let Some(max) = max.filter(|&m| m < dataset.rows.len()) else {
        return;
    };
    match sample {
        RowSample::First => {
            let drop = dataset.rows.len() - max;
            dataset.hold_out_last(drop);
        }
        RowSample::Random => *dataset = dataset.hold_out(max, seed),
    }
}

/// TRL's `unpair_preference_dataset`: every chosen completion a desirable row, every rejected
/// one an undesirable row, with the same prompt and columns.
fn unpair(rows: Vec<PairedRow>) -> Vec<UnpairedRow> {
    let mut desirable = Vec::with_capacity(rows.len());
    let mut undesirable = Vec::with_capacity(rows.len());
    for row in rows {
        let extras = prefopt_data::trl::Extras {
            ref_chosen_logp: None,
            ref_rejected_logps: None,
            ..row.extras.clone()
        };
        for rejected in row.rejected {
            undesirable.push(UnpairedRow {
                origin: row.origin.clone(),
                prompt: row.prompt.clone(),
                completion: rejected,
                label: false,
                extras: extras.clone(),
            });
        }
        desirable.push(UnpairedRow {
            origin: row.origin,
            prompt: row.prompt,
            completion: row.chosen,
            label: true,
            extras,
        });
    }
    // TRL's batched map lays the chosen rows of a batch before its rejected ones; over the
    // whole dataset, desirable rows first, as `datasets` maps them in one batch.
    desirable.extend(undesirable);
    desirable
}

/// `encoded`, counting it in `dropped` when there is none.
fn counted<T>(encoded: Option<T>, dropped: &std::cell::Cell<usize>) -> Option<T> {
    if encoded.is_none() {
        dropped.set(dropped.get() + 1);
    }
    encoded
}

/// KTO's rows in one seeded shuffled order. TRL pairs each row with its neighbour's completion
/// for the KL estimate and then requires sequential sampling, so that a batch's mismatched
/// completions are the batch's own; shuffling once here (TRL on a pre-shuffled dataset) keeps
/// that and mixes desirable and undesirable rows in every batch.
fn shuffled_if_unpaired(data: TextData, seed: u64) -> TextData {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    match data {
        TextData::Unpaired(mut rows) => {
            rows.shuffle(&mut rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed));
            TextData::Unpaired(rows)
        }
        paired => paired,
    }
}

impl TextPipeline {
    pub fn load(config: ExperimentConfig) -> Result<Self> {
        config.check()?;
        let train_path = config.data.train.clone().ok_or_else(|| {
            ExperimentError::Invalid("the text pipeline needs `[data] train`".into())
        })?;
        let checkpoint = config.model.checkpoint.clone().ok_or_else(|| {
            ExperimentError::Invalid(
                "the text pipeline trains a pretrained checkpoint: set `model = \"<Hugging Face \
                 folder or .gguf file>\"`"
                    .into(),
            )
        })?;
        let settings = &config.text;
        let mut train = TrlDataset::read(&train_path, &settings.train_split)?;
        let mut eval = match &config.data.eval {
            Some(path) => TrlDataset::read(path, &settings.eval_split)?,
            None => {
                let count = ((train.rows.len() as f64) * settings.eval_fraction).round() as usize;
                if count == 0 || count == train.rows.len() {
                    return Err(ExperimentError::Invalid(format!(
                        "{}: {} rows cannot be split into training and evaluation rows by \
                         text.eval_fraction {}; name an evaluation split with `[data] eval`",
                        train_path.display(),
                        train.rows.len(),
                        settings.eval_fraction
                    )));
                }
                train.hold_out(count, config.data.sample_seed)
            }
        };
        if eval.format != train.format || eval.rows.kind() != train.rows.kind() {
            return Err(ExperimentError::Invalid(format!(
                "the evaluation split is {} {}, the training split {} {}",
                eval.format.name(),
                eval.rows.kind(),
                train.format.name(),
                train.rows.kind()
            )));
        }
        let sample_seed = config.data.sample_seed;
        limit(
            &mut train,
            config.data.max_train,
            config.data.sample,
            sample_seed,
        );
        limit(
            &mut eval,
            config.data.max_valid,
            config.data.sample,
            sample_seed ^ 1,
        );
        let device = config.device_choice()?.device()?.autodiff();
        let loaded = Pretrained::load(&checkpoint, &device, DType::F32)?;
        let template = loaded.chat_template.filter(|_| config.model.chat_template);
        let encoder = TrlEncoder {
            tokenizer: &loaded.tokenizer,
            template: template.as_ref(),
            truncation: settings.truncation(),
        };
        let unpaired = is_unpaired_objective(&config.preference.objective);
        let paired_rows = matches!(train.rows, TrlRows::Paired(_));
        let dropped = std::cell::Cell::new(0usize);
        let encode = |dataset: TrlDataset| -> Result<TextData> {
            Ok(match (dataset.rows, unpaired) {
                (TrlRows::Paired(rows), false) => {
                    let mut examples = Vec::with_capacity(rows.len());
                    for row in &rows {
                        examples.extend(counted(encoder.paired(row)?, &dropped));
                    }
                    TextData::Paired(examples)
                }
                (TrlRows::Paired(rows), true) => {
                    let mut examples = Vec::new();
                    for row in &unpair(rows) {
                        examples.extend(counted(encoder.unpaired(row)?, &dropped));
                    }
                    TextData::Unpaired(examples)
                }
                (TrlRows::Unpaired(rows), true) => {
                    let mut examples = Vec::with_capacity(rows.len());
                    for row in &rows {
                        if row.extras.weight.is_some() {
                            return Err(ExperimentError::Invalid(format!(
                                "{}: column `weight`: KTO weighs desirable and undesirable \
                                 rows by preference.objective's desirable_weight and \
                                 undesirable_weight, not per row",
                                row.origin
                            )));
                        }
                        examples.extend(counted(encoder.unpaired(row)?, &dropped));
                    }
                    TextData::Unpaired(examples)
                }
                (TrlRows::Unpaired(rows), false) => {
                    let origin = rows.first().map(|r| r.origin.to_string());
                    return Err(ExperimentError::Invalid(format!(
                        "{}: unpaired rows (prompt/completion/label) train only KTO-family \
                         losses (`kto`, `apo_zero_unpaired`); `{}` needs chosen/rejected pairs",
                        origin.unwrap_or_default(),
                        config.preference.objective.name()
                    )));
                }
            })
        };
        let format = train.format;
        let train = shuffled_if_unpaired(encode(train)?, config.seed);
        let eval = encode(eval)?;
        let dropped = dropped.get();
        if train.is_empty() || eval.is_empty() {
            return Err(ExperimentError::Invalid(format!(
                "no {} row is left: text.max_length {:?} leaves no completion token after the \
                 prompts",
                if train.is_empty() {
                    "training"
                } else {
                    "evaluation"
                },
                settings.max_length
            )));
        }
        if loaded.tokenizer.vocab_size() > loaded.model.config.vocab_size {
            return Err(ExperimentError::Invalid(format!(
                "{}: the tokenizer has {} tokens, the model's embedding {}",
                checkpoint.display(),
                loaded.tokenizer.vocab_size(),
                loaded.model.config.vocab_size
            )));
        }
        Ok(Self {
            config,
            tokenizer: loaded.tokenizer,
            template,
            base: loaded.model,
            device,
            format,
            paired_rows,
            train,
            eval,
            dropped,
        })
    }

    pub fn pad(&self) -> u32 {
        self.tokenizer.special().pad
    }

    /// The data in words, for reports.
    pub fn describe_data(&self) -> String {
        let (prompt, completion) = self.train.mean_lengths();
        let kind = match (&self.train, self.paired_rows) {
            (TextData::Paired(_), _) => "pairs (prompt, chosen, rejected)",
            (TextData::Unpaired(_), true) => "unpaired completions (from pairs)",
            (TextData::Unpaired(_), false) => "unpaired completions",
        };
        let dropped = if self.dropped > 0 {
            format!(
                "; {} rows dropped: their prompt alone fills text.max_length",
                self.dropped
            )
        } else {
            String::new()
        };
        format!(
            "{} {kind}: {} train / {} eval; prompts {prompt:.0} tokens, completions \
             {completion:.1} tokens on average{dropped}",
            self.format.name(),
            self.train.len(),
            self.eval.len()
        )
    }
}
