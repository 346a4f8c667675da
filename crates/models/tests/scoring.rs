//! Shared-prefix scoring against the naive reference: same log-probs, same gradients.

use burn::tensor::{DType, Device, Tensor, TensorData};
use prefopt_models::config::{PositionEncoding, Preset};
use prefopt_models::params::named_gradients;
use prefopt_models::scoring::{ScoreItem, Scores, ScoringMode, score};
use prefopt_models::transformer::Transformer;

fn f64_model(positions: PositionEncoding, device: &Device) -> Transformer {
    let mut config = Preset::Tiny.config(40);
    config.positions = positions;
    config.max_positions = 64;
    Transformer::new(&config, 11, device)
        .unwrap()
        .cast(DType::F64)
        .unwrap()
}

/// Ragged prompts, ragged response counts and lengths.
fn examples() -> (Vec<Vec<u32>>, Vec<Vec<Vec<u32>>>) {
    let prompts = vec![vec![1, 5, 6, 7, 8], vec![1, 9], vec![1, 30, 31, 32]];
    let responses = vec![
        vec![vec![10, 11, 2], vec![12, 2], vec![13, 14, 15, 16, 2]],
        vec![vec![20, 2], vec![21, 22, 2]],
        vec![vec![33, 2], vec![34, 2], vec![35, 36, 2], vec![37, 2]],
    ];
    (prompts, responses)
}

fn run(model: &Transformer, mode: ScoringMode, soft: Option<Tensor<3>>) -> Scores {
    let (prompts, responses) = examples();
    let items: Vec<ScoreItem<'_>> = prompts
        .iter()
        .zip(&responses)
        .map(|(p, r)| ScoreItem {
            prompt: p,
            responses: r,
        })
        .collect();
    score(model, &items, mode, soft, 0).unwrap()
}

fn host(t: Tensor<2>) -> Vec<f64> {
    t.to_data().convert::<f64>().try_to_vec().unwrap()
}

fn assert_close(a: &[f64], b: &[f64], tolerance: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let scale = x.abs().max(y.abs()).max(1e-3);
        assert!(
            (x - y).abs() <= tolerance * scale,
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn shared_prefix_log_probs_equal_the_naive_ones() {
    let device = Device::flex();
    for positions in [PositionEncoding::default(), PositionEncoding::Learned] {
        let model = f64_model(positions, &device);
        let shared = run(&model, ScoringMode::SharedPrefix, None);
        let naive = run(&model, ScoringMode::Naive, None);
        let a = host(shared.logps.clone());
        assert_close(&a, &host(naive.logps.clone()), 1e-9, "logps");
        assert_eq!(shared.lengths, naive.lengths);
        assert_eq!(shared.lengths, vec![3, 2, 5, 0, 2, 3, 0, 0, 2, 2, 3, 2]);
        // Absent responses score exactly 0; real ones are proper log-probs.
        let absent = [3, 6, 7];
        assert!(absent.iter().all(|&i| a[i] == 0.0));
        assert!(
            a.iter()
                .enumerate()
                .all(|(i, &v)| absent.contains(&i) || v < 0.0)
        );
        // Each response alone (its own forward pass) gives the same number.
        let (prompts, responses) = examples();
        let alone = score(
            &model,
            &[ScoreItem {
                prompt: &prompts[2],
                responses: &responses[2][2..3],
            }],
            ScoringMode::Naive,
            None,
            0,
        )
        .unwrap();
        assert_close(&host(alone.logps), &a[10..11], 1e-9, "alone");
    }
}

#[test]
fn shared_prefix_gradients_equal_the_naive_ones() {
    let device = Device::flex().autodiff();
    let model = f64_model(PositionEncoding::default(), &device);
    let weights = Tensor::<2>::from_data(
        TensorData::new(
            (0..12).map(|i| 0.3 + 0.1 * i as f64).collect::<Vec<_>>(),
            [3, 4],
        ),
        (&device, DType::F64),
    );
    let gradients = |mode| {
        let scores = run(&model, mode, None);
        let loss = (scores.logps * weights.clone()).sum();
        named_gradients(&model, &loss.backward())
    };
    let shared = gradients(ScoringMode::SharedPrefix);
    let naive = gradients(ScoringMode::Naive);
    assert_eq!(
        shared.keys().collect::<Vec<_>>(),
        naive.keys().collect::<Vec<_>>()
    );
    assert!(
        shared.len() > 20,
        "every parameter has a gradient: {}",
        shared.len()
    );
    for (name, a) in &shared {
        let a: Vec<f64> = a.iter().map(|&v| f64::from(v)).collect();
        let b: Vec<f64> = naive[name].iter().map(|&v| f64::from(v)).collect();
        let norm = b.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(diff <= 1e-5 * norm, "{name}: |Δ| {diff} vs |g| {norm}");
    }
}

#[test]
fn soft_tokens_shift_positions_and_receive_gradients() {
    let device = Device::flex().autodiff();
    let model = f64_model(PositionEncoding::default(), &device);
    let values: Vec<f64> = (0..3 * 2 * 64)
        .map(|i| ((i % 17) as f64 - 8.0) * 0.05)
        .collect();
    let soft = Tensor::<3>::from_data(TensorData::new(values, [3, 2, 64]), (&device, DType::F64))
        .require_grad();
    let shared = run(&model, ScoringMode::SharedPrefix, Some(soft.clone()));
    let naive = run(&model, ScoringMode::Naive, Some(soft.clone()));
    let plain = run(&model, ScoringMode::SharedPrefix, None);
    let with_soft = host(shared.logps.clone());
    assert_close(&with_soft, &host(naive.logps.clone()), 1e-9, "soft logps");
    assert!(
        with_soft
            .iter()
            .zip(host(plain.logps))
            .any(|(a, b)| (a - b).abs() > 1e-6),
        "soft tokens change the scores"
    );
    let g_shared = shared.logps.sum().backward();
    let g_naive = naive.logps.sum().backward();
    let a: Vec<f64> = soft
        .grad(&g_shared)
        .unwrap()
        .to_data()
        .try_to_vec()
        .unwrap();
    let b: Vec<f64> = soft.grad(&g_naive).unwrap().to_data().try_to_vec().unwrap();
    assert!(a.iter().any(|v| v.abs() > 1e-8));
    assert_close(&a, &b, 1e-7, "soft-token gradient");
}

#[test]
fn bad_inputs_are_errors_naming_the_example() {
    let device = Device::flex();
    let model = f64_model(PositionEncoding::default(), &device);
    let empty: Vec<Vec<u32>> = vec![vec![3, 2], vec![]];
    let error = score(
        &model,
        &[ScoreItem {
            prompt: &[1],
            responses: &empty,
        }],
        ScoringMode::SharedPrefix,
        None,
        0,
    )
    .unwrap_err();
    assert_eq!(error.to_string(), "example 0: response 1 has no tokens");
    let long = vec![vec![3; 70]];
    let error = score(
        &model,
        &[ScoreItem {
            prompt: &[1],
            responses: &long[..0],
        }],
        ScoringMode::SharedPrefix,
        None,
        0,
    )
    .unwrap_err();
    assert!(error.to_string().contains("no response"), "{error}");
    let error = score(
        &model,
        &[ScoreItem {
            prompt: &[1],
            responses: &long,
        }],
        ScoringMode::Naive,
        None,
        0,
    )
    .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("exceed the model's max_positions (64)"),
        "{error}"
    );
}
