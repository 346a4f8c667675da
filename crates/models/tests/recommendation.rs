//! End to end on generated sequential-recommendation data: a `tiny` item-token model trained
//! with SFT and then S-DPO ranks held-out users' targets first more often than the SFT model.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::Device;
use prefopt_data::{PreferenceDataset, ReadOptions};
use prefopt_models::config::Preset;
use prefopt_models::ranking::hit_ratio_at_1;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{EncodedExample, ItemTokenizer, Tokenizer, encode_record};
use prefopt_models::train::{PreferenceTask, SftTask, TrainConfig, reference_logps, train};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;

fn dataset(split: &str) -> Vec<prefopt_data::PreferenceRecord> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/synthetic-rec")
        .join(format!("{split}.parquet"));
    PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap()
        .0
}

fn encode(
    tokenizer: &ItemTokenizer,
    records: &[prefopt_data::PreferenceRecord],
) -> Vec<EncodedExample> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| encode_record(tokenizer, r, i).unwrap())
        .collect()
}

#[test]
#[ignore = "work in progress: the S-DPO-over-SFT margin is being calibrated"]
fn sdpo_after_sft_improves_hit_ratio_on_held_out_users() {
    let tokenizer = ItemTokenizer::new(500).unwrap();
    let pad = tokenizer.special().pad;
    // Users 0..240 train; the test targets of users 240.. are held out entirely.
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let held_out = |r: &prefopt_data::PreferenceRecord| r.user_id.unwrap() >= 200;
    let train_records: Vec<_> = dataset("train")
        .into_iter()
        .filter(|r| !held_out(r))
        .collect();
    let mut test_records: Vec<_> = dataset("test").into_iter().filter(held_out).collect();
    test_records.extend(dataset("valid").into_iter().filter(held_out));
    let train_examples = encode(&tokenizer, &train_records);
    let test_examples = encode(&tokenizer, &test_records);
    eprintln!(
        "train {} test {}",
        train_examples.len(),
        test_examples.len()
    );

    let device = Device::flex().autodiff();
    let config = Preset::Tiny.config(tokenizer.vocab_size());
    let description = serde_json::to_string(&config).unwrap();
    let model = Transformer::new(&config, 3, &device).unwrap();
    let sft_config = TrainConfig {
        epochs: env("SE", 2.0) as usize,
        batch_size: 32,
        lr: env("SLR", 3e-3),
        seed: 1,
        ..TrainConfig::default()
    };
    let sft_task = SftTask {
        examples: &train_examples,
        pad,
    };
    let sft = train(model, &sft_task, &sft_config, &description, None).unwrap();
    let sft_model = sft.last;
    let sft_hit = hit_ratio_at_1(&sft_model.valid(), &test_examples, 64, pad).unwrap();

    let reference = reference_logps(
        &sft_model.valid(),
        &train_examples,
        64,
        ScoringMode::SharedPrefix,
        pad,
    )
    .unwrap();
    let objective = ObjectiveConfig::from_name("sdpo")
        .unwrap()
        .with_beta(env("BETA", 1.0))
        .check()
        .unwrap();
    let dpo_task = PreferenceTask {
        examples: &train_examples,
        objective: objective.as_ref(),
        reference: Some(&reference),
        mode: ScoringMode::SharedPrefix,
        pad,
    };
    let dpo_config = TrainConfig {
        epochs: env("DE", 1.0) as usize,
        batch_size: 32,
        lr: env("DLR", 1e-3),
        seed: 2,
        ..TrainConfig::default()
    };
    let dpo = train(
        sft_model.clone(),
        &dpo_task,
        &dpo_config,
        &description,
        None,
    )
    .unwrap();
    let dpo_hit = hit_ratio_at_1(&dpo.last.valid(), &test_examples, 64, pad).unwrap();
    eprintln!(
        "HitRatio@1 SFT {sft_hit:.3}  S-DPO {dpo_hit:.3}  sft losses {:?} dpo losses {:?}",
        (sft.losses.first(), sft.losses.last()),
        (dpo.losses.first(), dpo.losses.last())
    );
    assert!(dpo_hit > sft_hit, "S-DPO {dpo_hit} vs SFT {sft_hit}");
}
