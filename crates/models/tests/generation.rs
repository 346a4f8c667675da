//! Greedy and beam search, free and constrained to a candidate set.

mod common;

use burn::tensor::Device;
use burn::tensor::{Tensor, TensorData};
use prefopt_models::config::Preset;
use prefopt_models::generate::{GenerateConfig, PrefixTrie, generate, generate_with_soft_tokens};
use prefopt_models::scoring::{ScoreItem, ScoringMode, score};
use prefopt_models::transformer::Transformer;

fn model() -> Transformer {
    Transformer::new(&Preset::Tiny.config(30), 4, &Device::flex()).unwrap()
}

#[test]
fn the_trie_lists_allowed_continuations() {
    let candidates = [vec![5, 6, 2], vec![5, 7, 2], vec![9, 2]];
    let trie = PrefixTrie::new(candidates.iter().map(Vec::as_slice));
    assert_eq!(trie.next_tokens(&[]), vec![5, 9]);
    assert_eq!(trie.next_tokens(&[5]), vec![6, 7]);
    assert_eq!(trie.next_tokens(&[5, 7]), vec![2]);
    assert!(trie.next_tokens(&[5, 7, 2]).is_empty());
    assert!(trie.next_tokens(&[8]).is_empty());
}

#[test]
fn constrained_search_only_spells_candidates_and_scores_match_the_scorer() {
    let model = model();
    let prompt = [1, 10, 11, 12];
    let candidates = vec![
        vec![5, 6, 2],
        vec![5, 7, 2],
        vec![9, 2],
        vec![20, 21, 22, 2],
    ];
    let trie = PrefixTrie::new(candidates.iter().map(Vec::as_slice));
    let scores = score(
        &model,
        &[ScoreItem {
            prompt: &prompt,
            responses: &candidates,
        }],
        ScoringMode::SharedPrefix,
        None,
        0,
    )
    .unwrap();
    let exact: Vec<f64> = scores
        .logps
        .to_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap();
    for beams in [1, 2, 4] {
        let config = GenerateConfig {
            beams,
            max_tokens: 8,
            ..GenerateConfig::default()
        };
        let out = generate(&model, &prompt, &config, Some(&trie), 2, 0).unwrap();
        assert_eq!(out.len(), beams.min(candidates.len()));
        for generated in &out {
            let index = candidates
                .iter()
                .position(|c| *c == generated.tokens)
                .expect("a constrained response is a candidate");
            assert!(generated.finished);
            assert!(
                (generated.logp - exact[index]).abs() < 1e-4,
                "{} vs {}",
                generated.logp,
                exact[index]
            );
        }
        assert!(out.windows(2).all(|w| w[0].logp >= w[1].logp));
        if beams == 4 {
            // Four beams over four candidates is exhaustive: the best is the arg-max.
            let best = exact
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(out[0].tokens, candidates[best]);
        }
    }
}

#[test]
fn free_greedy_decoding_follows_the_arg_max_and_stops() {
    let model = model();
    let config = GenerateConfig {
        beams: 1,
        max_tokens: 5,
        ..GenerateConfig::default()
    };
    let out = generate(&model, &[1, 3, 4], &config, None, 2, 0).unwrap();
    assert_eq!(out.len(), 1);
    let tokens = &out[0].tokens;
    assert!(!tokens.is_empty() && tokens.len() <= 5);
    assert_eq!(out[0].finished, tokens.last() == Some(&2));
    // Beam search returns at most `beams` responses, finished ones first, best first.
    let wide = generate(
        &model,
        &[1, 3, 4],
        &GenerateConfig {
            beams: 3,
            max_tokens: 5,
            ..GenerateConfig::default()
        },
        None,
        2,
        0,
    )
    .unwrap();
    assert!(!wide.is_empty() && wide.len() <= 3);
    assert!(
        wide.windows(2)
            .all(|w| (w[0].finished, w[0].logp) >= (w[1].finished, w[1].logp)
                || w[0].finished && !w[1].finished)
    );
    assert!(generate(&model, &[], &config, None, 2, 0).is_err());
    assert!(
        generate(
            &model,
            &[1],
            &GenerateConfig {
                beams: 0,
                max_tokens: 3,
                ..GenerateConfig::default()
            },
            None,
            2,
            0
        )
        .is_err()
    );
}

#[test]
fn a_trie_outside_the_vocabulary_is_an_error() {
    let candidates = [vec![5, 2], vec![99, 2]];
    let trie = PrefixTrie::new(candidates.iter().map(Vec::as_slice));
    let error = generate(
        &model(),
        &[1, 3],
        &GenerateConfig::default(),
        Some(&trie),
        2,
        0,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("token 99, outside the vocabulary (30)"),
        "{error}"
    );
}

#[test]
fn a_prompt_longer_than_the_position_table_is_an_error() {
    let prompt = vec![3u32; 600];
    let error = generate(&model(), &prompt, &GenerateConfig::default(), None, 2, 0).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("exceeds the model's max_positions (512)"),
        "{error}"
    );
}

#[test]
fn soft_tokens_condition_generation_as_they_condition_scoring() {
    let model = model();
    let d = model.config().d_model;
    let prompt = [1, 10, 11];
    let candidates = vec![vec![5, 6, 2], vec![9, 2], vec![20, 21, 2]];
    let trie = PrefixTrie::new(candidates.iter().map(Vec::as_slice));
    let soft_values: Vec<f32> = (0..2 * d)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 4.0)
        .collect();
    let soft = Tensor::<2>::from_data(TensorData::new(soft_values, [2, d]), &model.device());
    let scores = score(
        &model,
        &[ScoreItem {
            prompt: &prompt,
            responses: &candidates,
        }],
        ScoringMode::SharedPrefix,
        Some(soft.clone().reshape([1, 2, d])),
        0,
    )
    .unwrap();
    let exact: Vec<f64> = scores
        .logps
        .to_data()
        .convert::<f64>()
        .try_to_vec()
        .unwrap();
    let config = GenerateConfig {
        beams: 3,
        max_tokens: 6,
        ..GenerateConfig::default()
    };
    let with =
        generate_with_soft_tokens(&model, &prompt, Some(soft), &config, Some(&trie), 2, 0).unwrap();
    for generated in &with {
        let index = candidates
            .iter()
            .position(|c| *c == generated.tokens)
            .unwrap();
        assert!(
            (generated.logp - exact[index]).abs() < 1e-4,
            "{} vs {}",
            generated.logp,
            exact[index]
        );
    }
    // Without the soft tokens the same candidates score differently.
    let without = generate(&model, &prompt, &config, Some(&trie), 2, 0).unwrap();
    let moved = with
        .iter()
        .zip(&without)
        .any(|(a, b)| a.tokens != b.tokens || (a.logp - b.logp).abs() > 1e-4);
    assert!(moved, "soft tokens changed nothing");
}

/// The KV cache changes how much is recomputed, never the result: cached and uncached search
/// pick the same tokens (and log-probs to float rounding), greedy and beam, free and
/// constrained, on the pretrained architectures (GQA + RoPE, learned positions + fused q/k/v)
/// and on a preset model with soft tokens.
#[test]
fn cached_and_uncached_generation_agree() {
    use burn::tensor::DType;
    use prefopt_models::pretrained::Pretrained;
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
    fn check(
        model: &Transformer,
        prompt: &[u32],
        soft: Option<Tensor<2>>,
        trie: Option<&PrefixTrie>,
    ) {
        for beams in [1, 3] {
            let run = |kv_cache| {
                let config = GenerateConfig {
                    beams,
                    max_tokens: 10,
                    kv_cache,
                };
                generate_with_soft_tokens(model, prompt, soft.clone(), &config, trie, 0, 1).unwrap()
            };
            let (cached, uncached) = (run(true), run(false));
            assert_eq!(cached.len(), uncached.len());
            // Several steps ran (the cache was reordered and extended, not just prefilled).
            let longest = cached.iter().map(|g| g.tokens.len()).max().unwrap_or(0);
            let least = if trie.is_some() { 2 } else { 5 };
            assert!(longest >= least, "only {longest} tokens generated");
            for (a, b) in cached.iter().zip(&uncached) {
                assert_eq!(a.tokens, b.tokens, "beams {beams}");
                assert!((a.logp - b.logp).abs() < 1e-3, "{} vs {}", a.logp, b.logp);
            }
        }
    }
    for name in ["llama-tiny", "gpt2-tiny", "qwen2-tiny"] {
        let pretrained =
            Pretrained::load(&fixtures.join(name), &Device::flex(), DType::F32).unwrap();
        let prompt = pretrained
            .tokenizer
            .encode("This user has watched Iron Meadow")
            .unwrap();
        check(&pretrained.model, &prompt, None, None);
        let candidates = [vec![40, 41, 0], vec![40, 42, 43, 0], vec![50, 0]];
        let trie = PrefixTrie::new(candidates.iter().map(Vec::as_slice));
        check(&pretrained.model, &prompt, None, Some(&trie));
    }
    let preset = model();
    let soft = Tensor::<2>::from_data(
        TensorData::new(
            (0..128)
                .map(|i| (i as f32 * 0.37).sin())
                .collect::<Vec<_>>(),
            [2, 64],
        ),
        &Device::flex(),
    );
    check(&preset, &[1, 3, 4], Some(soft), None);
}
