//! The training loop: exact resume from a checkpoint, accumulation, logs, early stopping.

mod common;

use burn::tensor::Device;
use prefopt_models::config::Preset;
use prefopt_models::params::named_values;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{ItemTokenizer, Tokenizer};
use prefopt_models::train::{
    Evaluation, PreferenceTask, SftTask, TrainConfig, reference_logps, train,
};
use prefopt_models::transformer::Transformer;
use prefopt_objectives::ObjectiveConfig;

use common::{Scratch, encode, fresh_reference, synthetic_rec};

/// 48 examples of the committed generated dataset and a `tiny` model config for them.
struct Fixture {
    examples: Vec<prefopt_models::tokenizer::EncodedExample>,
    config: prefopt_models::config::TransformerConfig,
    device: Device,
    pad: u32,
}

impl Fixture {
    fn new() -> Self {
        let tokenizer = ItemTokenizer::new(500).unwrap();
        let records: Vec<_> = synthetic_rec("train").into_iter().take(48).collect();
        Self {
            examples: encode(&tokenizer, &records),
            config: Preset::Tiny.config(tokenizer.vocab_size()),
            device: Device::flex().autodiff(),
            pad: tokenizer.special().pad,
        }
    }

    /// The same freshly initialised model every time (seed 5).
    fn model(&self) -> Transformer {
        Transformer::new(&self.config, 5, &self.device).unwrap()
    }

    fn sft(&self) -> SftTask<'_> {
        SftTask {
            examples: &self.examples,
            pad: self.pad,
        }
    }
}

#[test]
fn a_killed_run_resumes_to_the_same_weights() {
    let fixture = Fixture::new();
    let (examples, config) = (&fixture.examples, &fixture.config);
    let description = serde_json::to_string(config).unwrap();
    let reference = fresh_reference(config, examples, 5, &Device::flex());
    let objective = ObjectiveConfig::from_name("sdpo").unwrap().check().unwrap();
    let task = PreferenceTask::new(examples, objective.as_ref(), Some(&reference), fixture.pad);
    let run = |dir: &Scratch, stop_after: Option<usize>, resume: bool| {
        let trainer = TrainConfig {
            epochs: 3,
            batch_size: 8,
            grad_accum: 2,
            lr: 2e-3,
            max_grad_norm: Some(0.5),
            seed: 9,
            checkpoint_dir: Some(dir.path().to_path_buf()),
            checkpoint_every: Some(2),
            log: Some(dir.path().join("log.jsonl")),
            stop_after,
            resume,
            ..TrainConfig::default()
        };
        train(fixture.model(), &task, &trainer, &description, None).unwrap()
    };
    let whole_dir = Scratch::new("resume-whole");
    let whole = run(&whole_dir, None, false);
    assert_eq!(
        whole.state.step, 9,
        "48 examples / 16 per update × 3 epochs"
    );

    let killed_dir = Scratch::new("resume-killed");
    let first = run(&killed_dir, Some(5), false);
    assert_eq!(first.state.step, 5);
    // A process killed after logging update 6 (and half of 7) but before its next checkpoint.
    let log_path = killed_dir.path().join("log.jsonl");
    let mut partial = std::fs::read_to_string(&log_path).unwrap();
    partial.push_str("{\"step\":6,\"loss\":1.0}\n{\"step\":7,\"lo");
    std::fs::write(&log_path, partial).unwrap();
    let second = run(&killed_dir, None, true);
    assert_eq!(second.state.step, 9);
    assert_eq!(
        whole.losses, second.losses,
        "same batches, same losses; the resumed outcome holds the whole run's (5 restored)"
    );
    let a = named_values(&whole.last);
    let b = named_values(&second.last);
    assert_eq!(a.len(), b.len());
    for (name, (shape, values)) in &a {
        assert_eq!(&b[name].0, shape);
        assert!(values == &b[name].1, "{name} differs after resume");
    }
    // The log holds every update once: 5 from the first process, 4 appended by the second.
    let log = std::fs::read_to_string(killed_dir.path().join("log.jsonl")).unwrap();
    let steps: Vec<u64> = log
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, (1..=9).collect::<Vec<_>>());
    let whole_log = std::fs::read_to_string(whole_dir.path().join("log.jsonl")).unwrap();
    assert_eq!(
        log, whole_log,
        "the resumed log reads as the uninterrupted one"
    );
    // Weights, moments and the trainer's state with its history: the same bytes.
    let last = |dir: &Scratch| std::fs::read(dir.path().join("checkpoint.safetensors")).unwrap();
    assert!(
        last(&whole_dir) == last(&killed_dir),
        "final checkpoints differ"
    );
    let state =
        prefopt_models::checkpoint::read_state(&killed_dir.path().join("checkpoint.safetensors"))
            .unwrap();
    assert_eq!(state, whole.state);
    assert_eq!(state.losses.len(), 9);
    assert!(
        log.lines()
            .all(|l| l.contains("\"learning_rate\"") && l.contains("grad_norm"))
    );
}

#[test]
fn a_checkpoint_of_another_model_is_refused() {
    let fixture = Fixture::new();
    let task = fixture.sft();
    let dir = Scratch::new("refuse");
    let trainer = TrainConfig {
        batch_size: 16,
        checkpoint_dir: Some(dir.path().to_path_buf()),
        stop_after: Some(1),
        ..TrainConfig::default()
    };
    train(fixture.model(), &task, &trainer, "model A", None).unwrap();
    let resume = TrainConfig {
        resume: true,
        stop_after: None,
        ..trainer
    };
    let error = train(fixture.model(), &task, &resume, "model B", None)
        .err()
        .unwrap();
    assert!(error.to_string().contains("another model"), "{error}");
}

#[test]
fn early_stopping_returns_the_best_evaluated_model() {
    let fixture = Fixture::new();
    let task = fixture.sft();
    let trainer = TrainConfig {
        epochs: 10,
        batch_size: 16,
        eval_every: Some(1),
        patience: Some(2),
        ..TrainConfig::default()
    };
    // A metric that peaks at the third evaluation and then only gets worse.
    let mut calls = 0;
    let mut metric = |_: &Transformer| {
        calls += 1;
        Ok((-((calls as f64) - 3.0).abs()).into())
    };
    let outcome = train(fixture.model(), &task, &trainer, "m", Some(&mut metric)).unwrap();
    assert!(outcome.stopped_early);
    assert_eq!(outcome.state.step, 5, "two evaluations after the best one");
    assert_eq!(outcome.state.best, Some((0.0, 3)));
    assert_ne!(named_values(&outcome.model), named_values(&outcome.last));
}

#[test]
fn sft_lowers_the_loss_and_bad_settings_are_errors() {
    let fixture = Fixture::new();
    let task = fixture.sft();
    let trainer = TrainConfig {
        epochs: 8,
        batch_size: 16,
        lr: 3e-3,
        ..TrainConfig::default()
    };
    let outcome = train(fixture.model(), &task, &trainer, "m", None).unwrap();
    let first = outcome.losses[..3].iter().sum::<f64>();
    let last = outcome.losses[outcome.losses.len() - 3..]
        .iter()
        .sum::<f64>();
    assert!(last < 0.8 * first, "{:?}", outcome.losses);
    for bad in [
        TrainConfig {
            batch_size: 0,
            ..TrainConfig::default()
        },
        TrainConfig {
            lr: -1.0,
            ..TrainConfig::default()
        },
        TrainConfig {
            resume: true,
            ..TrainConfig::default()
        },
    ] {
        assert!(train(fixture.model(), &task, &bad, "m", None).is_err());
    }
}

#[test]
fn reference_log_probs_are_written_to_the_dataset_and_read_back() {
    use prefopt_data::{Columns, PreferenceDataset, PreferenceWriter, ReadOptions, WriteOptions};
    use prefopt_models::train::ReferenceLogps;

    let tokenizer = ItemTokenizer::new(500).unwrap();
    let mut records: Vec<_> = synthetic_rec("train").into_iter().take(20).collect();
    let examples = encode(&tokenizer, &records);
    let config = Preset::Tiny.config(tokenizer.vocab_size());
    let reference_model = Transformer::new(&config, 8, &Device::flex()).unwrap();
    let pad = tokenizer.special().pad;
    let computed = reference_logps(
        &reference_model,
        &examples,
        7,
        ScoringMode::SharedPrefix,
        pad,
        1,
    )
    .unwrap();
    assert!(
        ReferenceLogps::from_examples(&examples).is_none(),
        "the file had no ref columns"
    );
    assert_eq!(computed.0.len(), 20);
    assert!(
        computed
            .0
            .iter()
            .all(|row| row.len() == 4 && row.iter().all(|v| *v < 0.0))
    );
    // Batching does not change the numbers.
    let one_by_one =
        reference_logps(&reference_model, &examples, 1, ScoringMode::Naive, pad, 1).unwrap();
    // Batches scored on threads give the same bits as one after another.
    let on_threads = reference_logps(
        &reference_model,
        &examples,
        7,
        ScoringMode::SharedPrefix,
        pad,
        3,
    )
    .unwrap();
    assert_eq!(computed, on_threads);
    for (a, b) in computed
        .0
        .iter()
        .flatten()
        .zip(one_by_one.0.iter().flatten())
    {
        assert!((a - b).abs() < 1e-4 * a.abs(), "{a} vs {b}");
    }

    computed.attach(&mut records).unwrap();
    let scratch = Scratch::new("reference");
    let path = scratch.path().join("train.parquet");
    let columns = Columns {
        ref_chosen_logp: true,
        ref_rejected_logps: true,
        user_id: true,
        chosen_item: true,
        rejected_items: true,
        history_items: true,
        candidate_items: true,
        ..Columns::default()
    };
    let mut writer = PreferenceWriter::create(&path, columns, &WriteOptions::default()).unwrap();
    for record in records {
        writer.write(record).unwrap();
    }
    writer.finish().unwrap();
    let back = PreferenceDataset::open(&path)
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap()
        .0;
    let cached = ReferenceLogps::from_examples(&encode(&tokenizer, &back)).unwrap();
    for (a, b) in cached.0.iter().flatten().zip(computed.0.iter().flatten()) {
        assert_eq!(a, b, "f64 columns keep the values exactly");
    }
}

#[test]
fn listwise_labels_reach_the_objective() {
    use burn::tensor::Tensor;
    use prefopt_models::train::Task;

    let fixture = Fixture::new();
    let examples = &fixture.examples[..6];
    let model = fixture.model();
    let reference = fresh_reference(&fixture.config, examples, 5, &Device::flex());
    let objective = ObjectiveConfig::from_name("lipo").unwrap().check().unwrap();
    let indices: Vec<usize> = (0..examples.len()).collect();
    // Labels: the chosen first, rejected in decreasing order; then the same lists reversed.
    let graded: Vec<Vec<f64>> = examples
        .iter()
        .map(|e| (0..e.responses.len()).rev().map(|g| g as f64).collect())
        .collect();
    let reversed: Vec<Vec<f64>> = graded
        .iter()
        .map(|row| row.iter().rev().copied().collect())
        .collect();
    let loss_of = |labels: &[Vec<f64>]| {
        let task = PreferenceTask::new(examples, objective.as_ref(), Some(&reference), fixture.pad)
            .with_list_labels(labels);
        let (loss, _): (Tensor<1>, _) = task.loss(&model, &indices).unwrap();
        loss.into_scalar::<f64>()
    };
    let (forward, backward) = (loss_of(&graded), loss_of(&reversed));
    // Without labels the objective uses binary ones (chosen 1, rejected 0).
    let binary: Vec<Vec<f64>> = examples
        .iter()
        .map(|e| {
            (0..e.responses.len())
                .map(|g| f64::from(u8::from(g == 0)))
                .collect()
        })
        .collect();
    let task = PreferenceTask::new(examples, objective.as_ref(), Some(&reference), fixture.pad);
    let (unlabelled, _) = task.loss(&model, &indices).unwrap();
    assert!((unlabelled.into_scalar::<f64>() - loss_of(&binary)).abs() < 1e-6);
    assert!(forward.is_finite() && backward.is_finite());
    assert!(
        (forward - backward).abs() > 1e-9,
        "the labels change the loss: {forward} vs {backward}"
    );
    let short = vec![vec![1.0]; examples.len()];
    let task = PreferenceTask::new(examples, objective.as_ref(), Some(&reference), fixture.pad)
        .with_list_labels(&short);
    assert!(
        task.loss(&model, &indices).is_err(),
        "one label per response"
    );
}

/// Several preference runs from one SFT model train at once in `experiments`. Clones share
/// their parameters' autodiff nodes, which let burn-autodiff's graph locks deadlock before the
/// trainer gave each run fresh nodes; each thread's result must also equal the same run alone.
#[test]
fn clones_of_one_model_train_in_parallel_as_they_do_alone() {
    const RUNS: u64 = 4;
    const ROUNDS: usize = 6;
    let (sender, receiver) = std::sync::mpsc::channel();
    // The work runs on its own thread so that a deadlock fails the test instead of hanging it.
    std::thread::spawn(move || {
        let fixture = Fixture::new();
        let description = serde_json::to_string(&fixture.config).unwrap();
        let task = fixture.sft();
        let base = fixture.model();
        let run = |seed: u64| {
            let trainer = TrainConfig {
                epochs: 1,
                batch_size: 8,
                lr: 2e-3,
                seed,
                ..TrainConfig::default()
            };
            let outcome = train(base.clone(), &task, &trainer, &description, None).unwrap();
            named_values(&outcome.model)
        };
        // The deadlock needed an unlucky interleaving: several rounds make it near certain.
        let rounds: Vec<Vec<_>> = (0..ROUNDS)
            .map(|_| {
                std::thread::scope(|scope| {
                    let handles: Vec<_> = (0..RUNS)
                        .map(|seed| scope.spawn(move || run(seed)))
                        .collect();
                    handles.into_iter().map(|h| h.join().unwrap()).collect()
                })
            })
            .collect();
        let alone: Vec<_> = (0..RUNS).map(run).collect();
        sender.send((rounds, alone)).unwrap();
    });
    let (rounds, alone) = receiver
        .recv_timeout(std::time::Duration::from_secs(600))
        .expect("parallel training finished (a deadlock would never finish)");
    assert_ne!(alone[0], alone[1], "different seeds give different models");
    for parallel in &rounds {
        assert_eq!(parallel.len(), RUNS as usize);
        for (seed, (together, single)) in parallel.iter().zip(&alone).enumerate() {
            assert_eq!(
                together, single,
                "run {seed} in parallel differs from alone"
            );
        }
    }
}

/// A task whose batches have nothing to learn from: a constant loss (`.1`) with no graph.
struct ConstantLoss(usize, f32);

impl prefopt_models::train::Task<Transformer> for ConstantLoss {
    fn len(&self) -> usize {
        self.0
    }

    fn loss(
        &self,
        model: &Transformer,
        _indices: &[usize],
    ) -> prefopt_models::Result<(burn::tensor::Tensor<1>, Vec<(String, f64)>)> {
        Ok((
            burn::tensor::Tensor::<1>::zeros([1], &model.device()).add_scalar(self.1),
            Vec::new(),
        ))
    }
}

#[test]
fn a_constant_loss_adds_no_gradient_instead_of_panicking() {
    let fixture = Fixture::new();
    let model = fixture.model();
    let before = named_values(&model);
    let config = TrainConfig {
        batch_size: 4,
        ..TrainConfig::default()
    };
    let outcome = train(model, &ConstantLoss(12, 0.0), &config, "constant", None).unwrap();
    assert_eq!(outcome.losses, vec![0.0; 3]);
    assert_eq!(
        named_values(&outcome.last),
        before,
        "no gradient, no update"
    );
}

#[test]
fn a_non_finite_loss_is_a_typed_error_naming_the_update() {
    let fixture = Fixture::new();
    let config = TrainConfig {
        batch_size: 4,
        ..TrainConfig::default()
    };
    let result = train(
        fixture.model(),
        &ConstantLoss(12, f32::NAN),
        &config,
        "nan",
        None,
    );
    match result {
        Err(prefopt_models::ModelError::NonFiniteLoss { update, value }) => {
            assert_eq!(update, 0);
            assert!(value.is_nan());
        }
        Err(other) => panic!("expected NonFiniteLoss, got {other}"),
        Ok(_) => panic!("a NaN loss trained"),
    }
}

#[test]
fn an_evaluation_callbacks_error_reaches_the_caller_with_its_source() {
    let fixture = Fixture::new();
    let config = TrainConfig {
        batch_size: 4,
        eval_every: Some(1),
        ..TrainConfig::default()
    };
    let mut evaluator = |_: &Transformer| -> prefopt_models::Result<Evaluation> {
        Err(prefopt_models::ModelError::external(
            "validation metric",
            std::io::Error::other("the validation file vanished"),
        ))
    };
    let error = train(
        fixture.model(),
        &ConstantLoss(12, 0.0),
        &config,
        "callback",
        Some(&mut evaluator),
    )
    .err()
    .expect("the callback's error stops training");
    assert_eq!(
        error.to_string(),
        "validation metric: the validation file vanished"
    );
    let source = std::error::Error::source(&error).expect("the original error is kept");
    assert_eq!(source.to_string(), "the validation file vanished");
}

#[test]
fn micro_batches_on_threads_train_the_same_bits_as_one_after_another() {
    let fixture = Fixture::new();
    let (examples, config) = (&fixture.examples, &fixture.config);
    let reference = fresh_reference(config, examples, 5, &Device::flex());
    let objective = ObjectiveConfig::from_name("sdpo").unwrap().check().unwrap();
    let task = PreferenceTask::new(examples, objective.as_ref(), Some(&reference), fixture.pad);
    let run = |threads: usize, dir: &Scratch| {
        let trainer = TrainConfig {
            epochs: 2,
            batch_size: 4,
            // 5 micro-batches per update: the last wave of 3 threads is short.
            grad_accum: 5,
            micro_batch_threads: threads,
            lr: 2e-3,
            seed: 3,
            log: Some(dir.path().join("log.jsonl")),
            ..TrainConfig::default()
        };
        let outcome = train(fixture.model(), &task, &trainer, "m", None).unwrap();
        let log = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
        (outcome, log)
    };
    let (one, one_log) = run(1, &Scratch::new("threads-1"));
    let (three, three_log) = run(3, &Scratch::new("threads-3"));
    assert_eq!(one.state.step, 6, "48 examples / 20 per update × 2 epochs");
    let bits = |losses: &[f64]| losses.iter().map(|l| l.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&one.losses), bits(&three.losses));
    assert_eq!(named_values(&one.last), named_values(&three.last));
    assert_ne!(named_values(&one.last), named_values(&fixture.model()));
    // Losses, metrics and gradient norms are logged the same, line for line.
    assert_eq!(one_log, three_log);

    let invalid = TrainConfig {
        micro_batch_threads: 0,
        ..TrainConfig::default()
    };
    let Err(error) = train(fixture.model(), &task, &invalid, "m", None) else {
        panic!("0 threads must be refused");
    };
    assert!(error.to_string().contains("micro_batch_threads"), "{error}");
}
