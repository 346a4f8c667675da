//! Pretrained checkpoints beyond logit parity: LoRA adapters (PEFT round trip, merge, frozen
//! base, reference without adapters), the trainers and resume on a loaded checkpoint, and the
//! loader's errors on broken folders.

mod common;

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::{DType, Device, Tensor};
use prefopt_models::lora::{self, LoraConfig};
use prefopt_models::params::named_values;
use prefopt_models::pretrained::Pretrained;
use prefopt_models::scoring::ScoringMode;
use prefopt_models::tokenizer::{EncodedExample, Prompt, Response, TextTokenizer, Tokenizer};
use prefopt_models::train::{PreferenceTask, SftTask, TrainConfig, reference_logps, train};
use prefopt_models::transformer::{PackedBatch, Transformer};
use prefopt_objectives::ObjectiveConfig;

use common::Scratch;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hf")
        .join(name)
}

fn load(name: &str, device: &Device) -> Pretrained {
    Pretrained::load(&fixture(name), device, DType::F32).unwrap()
}

/// Logits of one causal sequence, flattened.
fn logits(model: &Transformer, ids: &[u32]) -> Vec<f32> {
    let mut packed = PackedBatch::new(1, ids.len(), 0, 0);
    for (slot, &id) in ids.iter().enumerate() {
        packed.put(0, slot, id, slot);
    }
    let slots: Vec<usize> = (0..ids.len()).collect();
    packed.causal(0, &[], &slots);
    let hidden = model.hidden(&packed, None).unwrap();
    let d = hidden.dims()[2];
    model
        .logits(hidden.reshape([ids.len(), d]))
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const IDS: [u32; 12] = [5, 17, 42, 99, 3, 250, 7, 64, 12, 300, 8, 1];

#[test]
fn a_merged_adapter_is_base_plus_scaled_ba() {
    let device = Device::flex();
    let base = load("llama-tiny", &device).model;
    let (adapted, config) = lora::load_peft(base.clone(), &fixture("llama-tiny-lora")).unwrap();
    assert_eq!((config.rank, config.alpha, config.scale()), (4, 8.0, 2.0));
    let merged = lora::merge(adapted.clone());
    let base_values = named_values(&base);
    let adapted_values = named_values(&adapted);
    let merged_values = named_values(&merged);
    assert_eq!(
        merged.num_params(),
        base.num_params(),
        "no adapter left after merging"
    );
    let mut checked = 0;
    for (path, (shape, merged_w)) in &merged_values {
        let base_w = &base_values[path].1;
        let Some(prefix) = path.strip_suffix(".linear.weight") else {
            assert_eq!(
                merged_w, base_w,
                "{path} is not adapted and must not change"
            );
            continue;
        };
        let a = adapted_values.get(&format!("{prefix}.lora.Some.a.weight"));
        let a = a.or(adapted_values.get(&format!("{prefix}.lora.a.weight")));
        let Some((a_shape, a)) = a else {
            assert_eq!(merged_w, base_w, "{path} has no adapter");
            continue;
        };
        let b_key = [".lora.Some.b.weight", ".lora.b.weight"]
            .iter()
            .map(|s| format!("{prefix}{s}"))
            .find(|k| adapted_values.contains_key(k))
            .unwrap();
        let b = &adapted_values[&b_key].1;
        let (d_in, rank, d_out) = (shape[0], a_shape[1], shape[1]);
        for i in 0..d_in {
            for o in 0..d_out {
                let delta: f32 = (0..rank).map(|r| a[i * rank + r] * b[r * d_out + o]).sum();
                let expected = base_w[i * d_out + o] + 2.0 * delta;
                let got = merged_w[i * d_out + o];
                assert!(
                    (expected - got).abs() < 1e-5,
                    "{path}[{i},{o}]: {got} vs {expected}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "q_proj and v_proj of two blocks");
    let with_adapter = logits(&adapted, &IDS);
    assert!(max_difference(&logits(&merged, &IDS), &with_adapter) < 1e-4);
    // The reference model: the same base with adapters off, equal to the base itself.
    let reference = adapted.without_adapters();
    assert_eq!(
        max_difference(&logits(&reference, &IDS), &logits(&base, &IDS)),
        0.0
    );
    assert!(max_difference(&with_adapter, &logits(&base, &IDS)) > 1e-2);
}

#[test]
fn adapters_round_trip_through_peft_files() {
    let device = Device::flex();
    // The fixture's adapter, saved again, gives back PEFT's own tensors.
    let base = load("llama-tiny", &device).model;
    let (adapted, config) = lora::load_peft(base.clone(), &fixture("llama-tiny-lora")).unwrap();
    let scratch = Scratch::new("peft-round-trip");
    lora::save_peft(&adapted, &config, "llama-tiny", scratch.path()).unwrap();
    let read = |dir: &Path| {
        let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
        let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut out: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec(), view.data().to_vec()))
            .collect();
        out.sort();
        out
    };
    assert_eq!(read(scratch.path()), read(&fixture("llama-tiny-lora")));
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(scratch.path().join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["r"], 4);
    assert_eq!(written["peft_type"], "LORA");

    // A fresh GPT-2 adapter (fused c_attn by default), changed, saved and loaded back.
    let gpt2 = load("gpt2-tiny", &device).model;
    let config = LoraConfig {
        rank: 2,
        alpha: 4.0,
        seed: 3,
        ..LoraConfig::default()
    };
    let mut adapted = lora::attach(gpt2.clone(), &config).unwrap();
    assert_eq!(lora::trainable_params(&adapted), 2 * (64 * 2 + 2 * 192));
    for named in adapted.projections_mut() {
        if let Some(adapter) = named.projection.lora.as_mut() {
            let b = adapter.b.weight.val();
            let filled = Tensor::<2>::ones(b.dims(), &b.device()).mul_scalar(0.05);
            adapter.b.weight = adapter.b.weight.clone().map(|_| filled);
        }
    }
    let gpt2_dir = scratch.path().join("gpt2");
    lora::save_peft(&adapted, &config, "gpt2-tiny", &gpt2_dir).unwrap();
    let names: Vec<String> = read(&gpt2_dir)
        .into_iter()
        .map(|(n, s, _)| format!("{n} {s:?}"))
        .collect();
    assert!(names.contains(
        &"base_model.model.transformer.h.1.attn.c_attn.lora_A.weight [2, 64]".to_string()
    ));
    assert!(names.contains(
        &"base_model.model.transformer.h.1.attn.c_attn.lora_B.weight [192, 2]".to_string()
    ));
    let (loaded, _) = lora::load_peft(gpt2.clone(), &gpt2_dir).unwrap();
    assert_eq!(
        max_difference(&logits(&loaded, &IDS), &logits(&adapted, &IDS)),
        0.0
    );
    assert!(max_difference(&logits(&loaded, &IDS), &logits(&gpt2, &IDS)) > 1e-3);
}

#[test]
fn bad_adapters_are_errors_naming_the_problem() {
    let device = Device::flex();
    let base = load("llama-tiny", &device).model;
    let scratch = Scratch::new("bad-adapters");
    let copy = |edit: &dyn Fn(&mut serde_json::Value)| {
        let dir = scratch.path().join(format!("a{}", rand_name()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(
            fixture("llama-tiny-lora").join("adapter_model.safetensors"),
            dir.join("adapter_model.safetensors"),
        )
        .unwrap();
        let mut config: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(fixture("llama-tiny-lora").join("adapter_config.json"))
                .unwrap(),
        )
        .unwrap();
        edit(&mut config);
        std::fs::write(dir.join("adapter_config.json"), config.to_string()).unwrap();
        dir
    };
    let error = |dir: PathBuf| lora::load_peft(base.clone(), &dir).unwrap_err().to_string();
    let (adapted, config) = lora::load_peft(base.clone(), &fixture("llama-tiny-lora")).unwrap();
    let twice = lora::attach(adapted.clone(), &config)
        .unwrap_err()
        .to_string();
    assert!(
        twice.contains("already has LoRA adapters: merge them"),
        "{twice}"
    );
    // `restart` is the supported way on: merged weights, fresh zero-B adapters on top.
    let restarted = lora::restart(adapted.clone(), &config).unwrap();
    assert!(restarted.has_adapters() && !restarted.without_adapters().has_adapters());
    assert!(
        max_difference(&logits(&restarted, &IDS), &logits(&adapted, &IDS)) < 1e-4,
        "fresh adapters start at zero, so the restarted model computes the merged one"
    );
    let dora = copy(&|c| c["use_dora"] = true.into());
    assert!(error(dora).contains("`use_dora` (DoRA) is not supported"));
    let more_targets =
        copy(&|c| c["target_modules"] = serde_json::json!(["q_proj", "v_proj", "k_proj"]));
    assert!(error(more_targets).contains("no tensor for adapter weight"));
    let fewer_targets = copy(&|c| c["target_modules"] = serde_json::json!(["q_proj"]));
    assert!(error(fewer_targets).contains("matches no adapter of the config"));
    let wrong_rank = copy(&|c| c["r"] = 8.into());
    assert!(error(wrong_rank).contains("Shape mismatch"));
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A few text preference examples in the fixture tokenizer's ids.
fn examples(tokenizer: &TextTokenizer) -> Vec<EncodedExample> {
    let prompts = [
        "This user has watched Iron Meadow. Recommend one title.",
        "This user has watched Songs for a Cold Planet. Recommend one title.",
        "This user has watched The Last Cartographer. Recommend one title.",
        "This user has watched The Quiet Engine. Recommend one title.",
    ];
    let titles = ["The Quiet Engine", "Iron Meadow", "Songs for a Cold Planet"];
    prompts
        .iter()
        .enumerate()
        .map(|(i, prompt)| {
            let prompt = tokenizer
                .encode_prompt(&Prompt {
                    text: prompt,
                    ..Prompt::default()
                })
                .unwrap();
            let responses = (0..3)
                .map(|k| {
                    let text = titles[(i + k) % 3];
                    tokenizer
                        .encode_response(&Response { text, item: None })
                        .unwrap()
                })
                .collect();
            EncodedExample::new(prompt, responses)
        })
        .collect()
}

#[test]
fn lora_preference_training_on_a_checkpoint_moves_only_the_adapters_and_resumes() {
    let device = Device::flex().autodiff();
    let pretrained = load("qwen2-tiny", &device);
    let examples = examples(&pretrained.tokenizer);
    let pad = pretrained.tokenizer.special().pad;
    let model = lora::attach(
        pretrained.model,
        &LoraConfig {
            rank: 4,
            alpha: 8.0,
            seed: 1,
            ..LoraConfig::default()
        },
    )
    .unwrap();
    // The reference is the base with adapters off, scored once without a graph.
    let reference = reference_logps(
        &model.without_adapters().valid(),
        &examples,
        4,
        ScoringMode::SharedPrefix,
        pad,
        1,
    )
    .unwrap();
    let objective = ObjectiveConfig::from_name("sdpo").unwrap().check().unwrap();
    let task = PreferenceTask::new(&examples, objective.as_ref(), Some(&reference), pad);
    let run = |dir: &Scratch, stop_after: Option<usize>, resume: bool| {
        let config = TrainConfig {
            epochs: 4,
            batch_size: 2,
            lr: 5e-3,
            seed: 2,
            checkpoint_dir: Some(dir.path().to_path_buf()),
            checkpoint_every: Some(1),
            stop_after,
            resume,
            ..TrainConfig::default()
        };
        train(model.clone(), &task, &config, "qwen2-tiny + lora", None).unwrap()
    };
    let whole_dir = Scratch::new("lora-whole");
    let whole = run(&whole_dir, None, false);
    assert_eq!(whole.state.step, 8);
    assert!(
        whole.losses.last().unwrap() < whole.losses.first().unwrap(),
        "S-DPO loss falls: {:?}",
        whole.losses
    );
    let before = named_values(&model);
    let after = named_values(&whole.last);
    let mut adapters_moved = 0;
    for (path, (_, values)) in &after {
        if path.contains(".lora.") {
            adapters_moved += usize::from(values != &before[path].1);
        } else {
            assert_eq!(values, &before[path].1, "frozen {path} changed");
        }
    }
    assert!(
        adapters_moved >= 4,
        "the B factors of both blocks' q/v adapters train"
    );

    let killed_dir = Scratch::new("lora-killed");
    run(&killed_dir, Some(3), false);
    let resumed = run(&killed_dir, None, true);
    assert_eq!(whole.losses, resumed.losses);
    let resumed_values = named_values(&resumed.last);
    for (path, (_, values)) in &after {
        assert_eq!(
            values, &resumed_values[path].1,
            "{path} differs after resume"
        );
    }
}

#[test]
fn full_fine_tuning_of_a_checkpoint_stays_available() {
    let device = Device::flex().autodiff();
    let pretrained = load("gpt2-tiny", &device);
    let examples = examples(&pretrained.tokenizer);
    let task = SftTask {
        examples: &examples,
        pad: pretrained.tokenizer.special().pad,
    };
    let config = TrainConfig {
        epochs: 3,
        batch_size: 4,
        lr: 3e-3,
        ..TrainConfig::default()
    };
    let outcome = train(pretrained.model.clone(), &task, &config, "gpt2-tiny", None).unwrap();
    assert!(outcome.losses.last().unwrap() < outcome.losses.first().unwrap());
    let before = named_values(&pretrained.model);
    let after = named_values(&outcome.last);
    assert_ne!(
        before["token_embedding.weight"].1,
        after["token_embedding.weight"].1
    );
}

/// A copy of a fixture folder to break.
fn copy_fixture(name: &str, to: &Path) -> PathBuf {
    let dir = to.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn broken_checkpoints_are_errors_naming_the_file_and_tensor() {
    let device = Device::flex();
    let scratch = Scratch::new("broken-checkpoints");
    let error = |dir: &Path| {
        Pretrained::load(dir, &device, DType::F32)
            .unwrap_err()
            .to_string()
    };

    let sharded = copy_fixture("llama-tiny-sharded", scratch.path());
    std::fs::remove_file(sharded.join("model-00004-of-00007.safetensors")).unwrap();
    let message = error(&sharded);
    assert!(message.contains("shard model-00004-of-00007.safetensors listed in model.safetensors.index.json is missing"), "{message}");

    let resized = copy_fixture("llama-tiny", &scratch.path().join("resized"));
    let config = std::fs::read_to_string(resized.join("config.json")).unwrap();
    std::fs::write(
        resized.join("config.json"),
        config.replace("\"intermediate_size\": 96", "\"intermediate_size\": 100"),
    )
    .unwrap();
    let message = error(&resized);
    assert!(
        message.contains(
            "model.safetensors: tensor `model.layers.0.mlp.down_proj.weight` has shape [96, 64]"
        ),
        "{message}"
    );

    let tied = copy_fixture("llama-tiny", &scratch.path().join("tied"));
    std::fs::write(
        tied.join("config.json"),
        config.replace(
            "\"tie_word_embeddings\": false",
            "\"tie_word_embeddings\": true",
        ),
    )
    .unwrap();
    // A tied model ignores a stored head (GPT-2 uploads carry one), so this loads...
    assert!(Pretrained::load(&tied, &device, DType::F32).is_ok());
    // ...but an untied one without its head is an error naming the weight.
    let headless = copy_fixture("qwen2-tiny", &scratch.path().join("headless"));
    let qwen = std::fs::read_to_string(headless.join("config.json")).unwrap();
    std::fs::write(
        headless.join("config.json"),
        qwen.replace(
            "\"tie_word_embeddings\": true",
            "\"tie_word_embeddings\": false",
        ),
    )
    .unwrap();
    let message = error(&headless);
    assert!(
        message.contains("no file holds the weight for `lm_head.weight`"),
        "{message}"
    );

    let mistral = copy_fixture("llama-tiny", &scratch.path().join("mistral"));
    std::fs::write(
        mistral.join("config.json"),
        config
            .replace("LlamaForCausalLM", "MistralForCausalLM")
            .replace("\"llama\"", "\"mistral\""),
    )
    .unwrap();
    assert!(error(&mistral).contains("unsupported architecture MistralForCausalLM"));

    let empty = scratch.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(
        fixture("llama-tiny").join("config.json"),
        empty.join("config.json"),
    )
    .unwrap();
    assert!(error(&empty).contains("no model.safetensors or model.safetensors.index.json"));
}

#[test]
fn shared_prefix_scoring_equals_naive_scoring_on_loaded_checkpoints() {
    use prefopt_models::scoring::{ScoreItem, score};
    let device = Device::flex();
    for name in ["llama-tiny", "gpt2-tiny", "qwen2-tiny"] {
        let model = load(name, &device).model;
        let prompt: Vec<u32> = (0..30).map(|t| 2 + (t * 11) % 380).collect();
        let responses: Vec<Vec<u32>> = (0..4)
            .map(|k| {
                (0..3 + k)
                    .map(|t| 2 + (k * 41 + t * 5) as u32 % 380)
                    .collect()
            })
            .collect();
        let items = [ScoreItem {
            prompt: &prompt,
            responses: &responses,
        }];
        let shared = score(&model, &items, ScoringMode::SharedPrefix, None, 1).unwrap();
        let naive = score(&model, &items, ScoringMode::Naive, None, 1).unwrap();
        let read =
            |t: Tensor<2>| -> Vec<f32> { t.into_data().convert::<f32>().try_to_vec().unwrap() };
        let (a, b) = (read(shared.logps), read(naive.logps));
        assert!(max_difference(&a, &b) < 1e-4, "{name}: {a:?} vs {b:?}");
    }
}

/// A half-precision file (written here from the f32 fixture) loads as the f16-rounded weights.
#[test]
fn f16_checkpoints_load_as_their_rounded_weights() {
    use burn::tensor::f16;
    use safetensors::tensor::{Dtype, TensorView};
    let scratch = Scratch::new("f16-checkpoint");
    let dir = copy_fixture("llama-tiny", scratch.path());
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let converted: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let halves: Vec<u8> = view
                .data()
                .chunks(4)
                .flat_map(|b| {
                    let value = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                    f16::from_f32(value).to_le_bytes()
                })
                .collect();
            (name, view.shape().to_vec(), halves)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = converted
        .iter()
        .map(|(name, shape, data)| {
            (
                name.clone(),
                TensorView::new(Dtype::F16, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    std::fs::write(
        dir.join("config.json"),
        config.replace("\"float32\"", "\"float16\""),
    )
    .unwrap();

    let device = Device::flex();
    let half = Pretrained::load(&dir, &device, DType::F32).unwrap().model;
    let full = load("llama-tiny", &device).model;
    let (half, full) = (named_values(&half), named_values(&full));
    assert_eq!(half.len(), full.len());
    for (path, (shape, values)) in &full {
        let rounded: Vec<f32> = values.iter().map(|&v| f16::from_f32(v).to_f32()).collect();
        assert_eq!(&half[path].0, shape);
        assert_eq!(half[path].1, rounded, "{path}");
    }
}

/// A merged LoRA model written as a Hugging Face checkpoint loads back (here, and by the same
/// key names `transformers` reads) with the adapted model's logits; every family round trips
/// with its original key set.
#[test]
fn merged_models_export_as_hugging_face_checkpoints() {
    use prefopt_models::pretrained::save_checkpoint;
    let device = Device::flex();
    let scratch = Scratch::new("export");
    let base = load("llama-tiny", &device).model;
    let (adapted, _) = lora::load_peft(base, &fixture("llama-tiny-lora")).unwrap();
    let refused = save_checkpoint(&adapted, &fixture("llama-tiny"), scratch.path());
    assert!(refused.unwrap_err().to_string().contains("merge them"));
    let merged_dir = scratch.path().join("llama-merged");
    save_checkpoint(
        &lora::merge(adapted.clone()),
        &fixture("llama-tiny"),
        &merged_dir,
    )
    .unwrap();
    let reloaded = Pretrained::load(&merged_dir, &device, DType::F32).unwrap();
    assert!(max_difference(&logits(&reloaded.model, &IDS), &logits(&adapted, &IDS)) < 1e-5);

    let keys = |dir: &Path| {
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let mut names: Vec<(String, Vec<usize>)> = safetensors::SafeTensors::deserialize(&bytes)
            .unwrap()
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec()))
            .collect();
        names.sort();
        names
    };
    for name in ["llama-tiny", "qwen2-tiny", "gpt2-tiny"] {
        let original = load(name, &device).model;
        let dir = scratch.path().join(name);
        save_checkpoint(&original, &fixture(name), &dir).unwrap();
        assert_eq!(
            keys(&dir),
            keys(&fixture(name)),
            "{name}: key names and shapes"
        );
        let back = Pretrained::load(&dir, &device, DType::F32).unwrap().model;
        assert_eq!(named_values(&back), named_values(&original), "{name}");
    }
}

/// Shapes the fixtures do not cover (one key/value head, an explicit `head_dim` wider than
/// `hidden_size / heads`, Llama 3 rope scaling; an untied Qwen2 stored as bf16): a model of
/// each config, written as a checkpoint and loaded back, has the same weights and logits.
#[test]
fn other_llama_and_qwen2_shapes_load_back_exactly() {
    use prefopt_models::pretrained::{read_config, save_checkpoint};
    let device = Device::flex();
    let scratch = Scratch::new("other-shapes");
    let llama3 = r#"{"architectures": ["LlamaForCausalLM"], "hidden_size": 48,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 16,
        "num_hidden_layers": 2, "intermediate_size": 80, "vocab_size": 384,
        "max_position_embeddings": 1024, "rms_norm_eps": 1e-5, "tie_word_embeddings": false,
        "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 1, "dtype": "float32",
        "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
            "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64}}"#;
    let qwen2 = r#"{"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,
        "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
        "intermediate_size": 128, "vocab_size": 384, "max_position_embeddings": 512,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": false, "use_sliding_window": false,
        "bos_token_id": 0, "eos_token_id": 0, "dtype": "bfloat16",
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0}}"#;
    for (name, text) in [("llama3", llama3), ("qwen2-untied", qwen2)] {
        let source = scratch.path().join(format!("{name}-source"));
        std::fs::create_dir_all(&source).unwrap();
        std::fs::write(source.join("config.json"), text).unwrap();
        std::fs::copy(
            fixture("llama-tiny").join("tokenizer.json"),
            source.join("tokenizer.json"),
        )
        .unwrap();
        let config = read_config(&source).unwrap();
        let model = Transformer::new(&config.transformer, 7, &device).unwrap();
        let written = scratch.path().join(name);
        save_checkpoint(&model, &source, &written).unwrap();
        let loaded = Pretrained::load(&written, &device, DType::F32).unwrap();
        if name == "llama3" {
            let c = &loaded.model.config;
            assert_eq!(
                (c.kv_heads(), c.head_dim(), c.heads * c.head_dim()),
                (1, 16, 64)
            );
        }
        assert_eq!(named_values(&loaded.model), named_values(&model), "{name}");
        // Written as f32: the bf16 source's rotary rounding is not inherited.
        let expected = if name == "qwen2-untied" {
            let mut f32_config = config.transformer.clone();
            if let prefopt_models::config::PositionEncoding::Rope { precision, .. } =
                &mut f32_config.positions
            {
                *precision = prefopt_models::config::RopeFrequencyPrecision::F32;
            }
            assert_eq!(loaded.model.config, f32_config);
            logits(&loaded.model, &IDS)
        } else {
            logits(&model, &IDS)
        };
        assert_eq!(max_difference(&logits(&loaded.model, &IDS), &expected), 0.0);
    }
}

/// GPT-2 split into shards with an index (and its keys without the `transformer.` prefix, as
/// the original OpenAI upload stores them) loads the same weights as the single file.
#[test]
fn a_sharded_unprefixed_gpt2_loads_like_the_single_file() {
    use safetensors::tensor::TensorView;
    let scratch = Scratch::new("sharded-gpt2");
    let dir = copy_fixture("gpt2-tiny", scratch.path());
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    std::fs::remove_file(dir.join("model.safetensors")).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut entries: Vec<(String, TensorView<'_>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name.trim_start_matches("transformer.").to_string(), view))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut weight_map = serde_json::Map::new();
    let shards = 3;
    let per_shard = entries.len().div_ceil(shards);
    for (index, chunk) in entries.chunks(per_shard).enumerate() {
        let file = format!("model-{:05}-of-{shards:05}.safetensors", index + 1);
        for (name, _) in chunk {
            weight_map.insert(name.clone(), file.clone().into());
        }
        safetensors::serialize_to_file(chunk.to_vec(), None, &dir.join(&file)).unwrap();
    }
    std::fs::write(
        dir.join("model.safetensors.index.json"),
        serde_json::json!({ "metadata": {}, "weight_map": weight_map }).to_string(),
    )
    .unwrap();
    let device = Device::flex();
    let sharded = Pretrained::load(&dir, &device, DType::F32).unwrap().model;
    let single = load("gpt2-tiny", &device).model;
    assert_eq!(named_values(&sharded), named_values(&single));
    assert_eq!(
        max_difference(&logits(&sharded, &IDS), &logits(&single, &IDS)),
        0.0
    );
}
