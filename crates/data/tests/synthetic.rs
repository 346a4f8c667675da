//! The synthetic generators produce what their ground truth says: popularity follows the Zipf
//! weights, tastes shape choices, groups disagree on length, mixtures drive Bradley–Terry labels.

mod common;

use common::scratch;

use prefopt_data::convert::{ConvertConfig, convert};
use prefopt_data::progress::NoProgress;
use prefopt_data::synthetic::{BasisRewardSpec, ConflictingSpec, SequentialSpec};
use prefopt_data::{PreferenceDataset, ReadOptions, WriteOptions};

/// Spearman-free check: mean count of the top decile vs the bottom decile by weight.
fn decile_ratio(weights: &[f64], counts: &[u64]) -> f64 {
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| weights[b].total_cmp(&weights[a]));
    let tenth = weights.len() / 10;
    let mean =
        |ids: &[usize]| ids.iter().map(|&i| counts[i] as f64).sum::<f64>() / ids.len() as f64;
    mean(&order[..tenth]) / mean(&order[order.len() - tenth..]).max(1e-9)
}

#[test]
fn sequential_popularity_and_taste_are_visible_in_the_log() {
    let spec = SequentialSpec {
        users: 300,
        items: 400,
        seed: 11,
        ..SequentialSpec::default()
    };
    let data = spec.generate().unwrap();
    assert_eq!(data.log.num_users(), 300);
    let mut counts = vec![0u64; spec.items];
    for interaction in &data.log.interactions {
        counts[interaction.item as usize] += 1;
    }
    assert!(
        decile_ratio(&data.popularity_weights, &counts) > 5.0,
        "Zipf popularity shows"
    );
    // Taste: consumed items align with the user's final taste more than random items do.
    let d = spec.dim;
    let (mut consumed, mut n) = (0.0, 0.0);
    for interaction in &data.log.interactions {
        let u = interaction.user as usize;
        let i = interaction.item as usize;
        let taste = &data.final_tastes[u * d..(u + 1) * d];
        let item = &data.item_vectors[i * d..(i + 1) * d];
        consumed += taste.iter().zip(item).map(|(a, b)| a * b).sum::<f64>();
        n += 1.0;
    }
    assert!(consumed / n > 0.2, "mean alignment {}", consumed / n);
    // No user consumes an item twice; same seed, same data.
    let again = spec.generate().unwrap();
    assert_eq!(again.log.interactions, data.log.interactions);
    let titles: std::collections::HashSet<_> = data.log.catalog.titles().iter().collect();
    assert_eq!(titles.len(), spec.items, "titles are unique");

    let out = scratch("sequential");
    let summary = convert(&data.log, &ConvertConfig::default(), &out, &mut NoProgress).unwrap();
    assert_eq!(summary.rows["test"], 300);
    let (records, _) = PreferenceDataset::open(out.join("test.parquet"))
        .unwrap()
        .read_all(ReadOptions::default())
        .unwrap();
    assert_eq!(records[0].candidate_items.as_ref().unwrap().len(), 20);
}

#[test]
fn conflicting_groups_prefer_opposite_lengths() {
    let spec = ConflictingSpec {
        users: 60,
        label_noise: 0.1,
        seed: 5,
        ..ConflictingSpec::default()
    };
    let data = spec.generate().unwrap();
    let mut agree = [0u32; 2];
    let mut total = [0u32; 2];
    for record in data.train.iter().chain(&data.test) {
        let user = record.user_id.unwrap() as usize;
        let group = usize::from(data.prefers_short[user]);
        let chosen_shorter =
            record.chosen.split(' ').count() < record.rejected[0].split(' ').count();
        agree[group] += u32::from(chosen_shorter == data.prefers_short[user]);
        total[group] += 1;
    }
    for group in 0..2 {
        let rate = f64::from(agree[group]) / f64::from(total[group]);
        assert!((rate - 0.9).abs() < 0.05, "group {group}: {rate}");
    }
    assert_eq!(data.test.len(), 60 * 4);
    let out = scratch("conflicting");
    data.write(&out, &WriteOptions::default()).unwrap();
    let dataset = PreferenceDataset::open(out.join("train.parquet")).unwrap();
    assert_eq!(dataset.num_rows().unwrap(), data.train.len() as u64);
    assert!(
        ConflictingSpec {
            short_words: (5, 30),
            ..spec
        }
        .generate()
        .is_err()
    );
}

#[test]
fn basis_reward_labels_follow_bradley_terry() {
    let spec = BasisRewardSpec {
        users: 80,
        pairs_per_user: 50,
        scale: 3.0,
        seed: 9,
        ..BasisRewardSpec::default()
    };
    let data = spec.generate().unwrap();
    for mixture in &data.user_mixtures {
        assert!((mixture.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(mixture.iter().all(|&a| a >= 0.0));
    }
    // Labels agree with the true reward's sign far more than chance, and the mean BT probability
    // of the observed labels matches their empirical agreement.
    let index = |text: &str| -> usize {
        let id = text.trim_start_matches('[').split(']').next().unwrap();
        let (p, k) = id.split_once('.').unwrap();
        p.parse::<usize>().unwrap() * spec.responses_per_prompt + k.parse::<usize>().unwrap()
    };
    let (mut agree, mut expected, mut n) = (0.0, 0.0, 0.0);
    for record in data.train.iter().chain(&data.test) {
        let alpha = &data.user_mixtures[record.user_id.unwrap() as usize];
        let reward = |i: usize| {
            BasisRewardSpec::reward(&data.basis_weights, alpha, &data.response_features[i])
        };
        let margin = reward(index(&record.chosen)) - reward(index(&record.rejected[0]));
        let p_correct = 1.0 / (1.0 + (-spec.scale * margin.abs()).exp());
        agree += f64::from(u8::from(margin > 0.0));
        expected += p_correct;
        n += 1.0;
    }
    let (agree, expected) = (agree / n, expected / n);
    assert!(agree > 0.75, "agreement {agree}");
    assert!(
        (agree - expected).abs() < 0.03,
        "empirical {agree} vs Bradley–Terry {expected}"
    );
    let out = scratch("basis");
    data.write(&out, &WriteOptions::default()).unwrap();
    for file in ["train", "test", "users", "bases", "responses"] {
        assert!(out.join(format!("{file}.parquet")).is_file());
    }
}
