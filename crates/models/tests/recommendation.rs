//! End to end on generated sequential-recommendation data: a `tiny` item-token model trained
//! with SFT and then S-DPO ranks held-out users' targets first more often than the SFT model.
//!
//! The candidate sets are drawn by popularity (α = 0.5), so popularity alone rarely picks the
//! target: the user's taste, visible in the history, decides. SFT runs two epochs; S-DPO then
//! runs two epochs with every other candidate as a rejected response (K = 19). At this scale a
//! longer SFT alone also reaches and passes the S-DPO model (6 SFT epochs: 0.300 on the same
//! held-out set), so this checks that preference training with the shared-prefix scorer and
//! cached reference moves the ranking the right way, not the paper's claim over a converged
//! SFT model; the experiments of `reproduce` compare the methods at equal budgets.

mod common;

use burn::module::Module;
use burn::tensor::Device;
use prefopt_data::PreferenceRecord;
use prefopt_data::convert::{CandidateSampling, ConvertConfig, convert};
use prefopt_data::progress::NoProgress;
use prefopt_data::synthetic::SequentialSpec;
use prefopt_eval::ranking::RankingMetrics;
use prefopt_models::config::Preset;
use prefopt_models::ranking::candidate_scores;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{EncodedExample, ItemTokenizer, Tokenizer};
use prefopt_models::train::{PreferenceTask, SftTask, TrainConfig, reference_logps, train};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;

use common::{Scratch, encode, read_split};

/// HitRatio@1 over the candidate sets (ties against the target), scored by `model`.
fn hit_ratio_at_1(model: &Transformer, examples: &[EncodedExample], pad: u32) -> f64 {
    let scores = candidate_scores(model, examples, 64, pad, 2).unwrap();
    let targets: Vec<usize> = examples
        .iter()
        .map(|e| e.candidates.as_ref().unwrap().target)
        .collect();
    let hits = RankingMetrics::new(&scores, &targets).unwrap().hit_ratio(1);
    hits.iter().sum::<f64>() / hits.len() as f64
}

#[test]
fn sdpo_after_sft_improves_hit_ratio_on_held_out_users() {
    let spec = SequentialSpec {
        users: 500,
        items: 100,
        dim: 2,
        taste_strength: 10.0,
        drift: 0.3,
        zipf_exponent: 1.0,
        pool: 40,
        min_length: 8,
        max_length: 24,
        seed: 0,
        ..SequentialSpec::default()
    };
    let data = spec.generate().unwrap();
    let scratch = Scratch::new("recommendation");
    let config = ConvertConfig {
        negatives: 19,
        candidate_sampling: CandidateSampling::Popularity { alpha: 0.5 },
        ..ConvertConfig::default()
    };
    convert(&data.log, &config, scratch.path(), &mut NoProgress).unwrap();
    let tokenizer = ItemTokenizer::new(spec.items).unwrap();
    let pad = tokenizer.special().pad;
    // Users 0..400 train; every example of users 400.. is held out.
    let held_out = |r: &PreferenceRecord| r.user_id.unwrap() >= 400;
    let train_records: Vec<_> = read_split(scratch.path(), "train")
        .into_iter()
        .filter(|r| !held_out(r))
        .collect();
    let test_records: Vec<_> = ["train", "valid", "test"]
        .iter()
        .flat_map(|split| read_split(scratch.path(), split))
        .filter(held_out)
        .collect();
    let train_examples = encode(&tokenizer, &train_records);
    let test_examples = encode(&tokenizer, &test_records);
    eprintln!(
        "train {} held out {}",
        train_examples.len(),
        test_examples.len()
    );

    let device = Device::flex().autodiff();
    let model_config = Preset::Tiny.config(tokenizer.vocab_size());
    let description = serde_json::to_string(&model_config).unwrap();
    let model = Transformer::new(&model_config, 3, &device).unwrap();
    let sft_config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        lr: 5e-3,
        seed: 1,
        ..TrainConfig::default()
    };
    let sft_task = SftTask {
        examples: &train_examples,
        pad,
    };
    let sft = train(model, &sft_task, &sft_config, &description, None).unwrap();
    let sft_model = sft.last;
    let sft_hit = hit_ratio_at_1(&sft_model.valid(), &test_examples, pad);

    let reference = reference_logps(
        &sft_model.valid(),
        &train_examples,
        64,
        ScoringMode::SharedPrefix,
        pad,
        2,
    )
    .unwrap();
    let objective = ObjectiveConfig::from_name("sdpo")
        .unwrap()
        .with_beta(1.0)
        .check()
        .unwrap();
    let sdpo_task = PreferenceTask::new(&train_examples, objective.as_ref(), Some(&reference), pad);
    let sdpo_config = TrainConfig {
        epochs: 2,
        batch_size: 32,
        lr: 1e-3,
        seed: 2,
        ..TrainConfig::default()
    };
    let sdpo = train(
        sft_model.clone(),
        &sdpo_task,
        &sdpo_config,
        &description,
        None,
    )
    .unwrap();
    let sdpo_hit = hit_ratio_at_1(&sdpo.last.valid(), &test_examples, pad);
    eprintln!(
        "HitRatio@1 of held-out users: SFT {sft_hit:.3}, S-DPO {sdpo_hit:.3} ({} examples)",
        test_examples.len()
    );
    // Measured here: 0.123 → 0.206 on 1285 examples; the margin asked is half of that gain
    // (about 50 examples), well outside run-to-run numeric noise across CPUs.
    assert!(
        sdpo_hit >= sft_hit + 0.04,
        "S-DPO {sdpo_hit:.3} does not beat SFT {sft_hit:.3} by 0.04"
    );
    assert!(
        sft_hit > 0.08,
        "SFT learned something beyond chance (0.05): {sft_hit:.3}"
    );
}
