//! Every metric against values computed by hand, edge cases included.

use prefopt_eval::EvalError;
use prefopt_eval::bias::{gini, popularity_bias};
use prefopt_eval::generation::{AnswerKind, GenerationSummary, score_answer};
use prefopt_eval::preference::reward_summary;
use prefopt_eval::ranking::{
    RankingMetrics, hit_at, mean_ndcg_at_k, ndcg_at, recall_at, reciprocal_rank, target_rank,
};
use prefopt_eval::stats::{mean_ci, paired_test};

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
}

#[test]
fn ranks_are_pessimistic_about_ties_and_nan() {
    assert_eq!(target_rank(&[0.3, 0.5, 0.1], 0, 0), Ok(2));
    assert_eq!(target_rank(&[0.3, 0.5, 0.1], 1, 0), Ok(1));
    assert_eq!(target_rank(&[1.0, 1.0, 1.0], 1, 0), Ok(3), "all ties: last");
    assert_eq!(
        target_rank(&[0.2, f64::NAN, 0.1], 0, 0),
        Ok(2),
        "NaN ranks above"
    );
    assert_eq!(
        target_rank(&[f64::NAN, 0.1], 0, 0),
        Ok(2),
        "a NaN target ranks last"
    );
    assert_eq!(
        target_rank(&[], 0, 7),
        Err(EvalError::EmptyCandidates { example: 7 })
    );
    assert_eq!(
        target_rank(&[0.1, 0.2], 2, 3).unwrap_err().to_string(),
        "example 3: target index 2 is outside the 2 candidates"
    );
}

#[test]
fn hit_ratio_ndcg_mrr_and_recall() {
    assert_eq!(
        (hit_at(1, 1), hit_at(2, 1), hit_at(5, 5), hit_at(6, 5)),
        (1.0, 0.0, 1.0, 0.0)
    );
    close(ndcg_at(1, 5), 1.0);
    close(ndcg_at(2, 5), 1.0 / 3f64.log2());
    close(ndcg_at(3, 5), 0.5);
    close(ndcg_at(6, 5), 0.0);
    close(reciprocal_rank(4), 0.25);
    let metrics = RankingMetrics::new(
        &[
            vec![0.9, 0.1, 0.2],
            vec![0.4, 0.4, 0.7],
            vec![0.1, 0.2, 0.3, 0.4],
        ],
        &[0, 0, 0],
    )
    .unwrap();
    assert_eq!(metrics.ranks, vec![1, 3, 4]);
    assert_eq!(metrics.hit_ratio(1), vec![1.0, 0.0, 0.0], "no hit is 0");
    assert_eq!(metrics.hit_ratio(3), vec![1.0, 1.0, 0.0]);
    let mrr: f64 = metrics.reciprocal_ranks().iter().sum::<f64>() / 3.0;
    close(mrr, (1.0 + 1.0 / 3.0 + 0.25) / 3.0);
    let ndcg = metrics.ndcg(3);
    close(ndcg[1], 0.5);
    close(ndcg[2], 0.0);
    close(
        recall_at(&[0.9, 0.8, 0.1, 0.5], &[0, 2], 2, 0).unwrap(),
        0.5,
    );
    close(
        recall_at(&[0.9, 0.8, 0.1, 0.5], &[0], 2, 0).unwrap(),
        hit_at(1, 2),
    );
    assert!(recall_at(&[0.9], &[], 2, 0).is_err());
    assert!(matches!(
        RankingMetrics::new(&[vec![0.1]], &[0, 0]),
        Err(EvalError::LengthMismatch { .. })
    ));
    assert!(matches!(
        RankingMetrics::new(&[vec![0.1], vec![]], &[0, 0]),
        Err(EvalError::EmptyCandidates { example: 1 })
    ));
}

#[test]
fn the_w4_kernel_equals_the_per_example_metric() {
    let scores = [0.9f32, 0.1, 0.2, 0.4, 0.4, 0.7];
    close(mean_ndcg_at_k(&scores, 3, &[0, 0], 10).unwrap(), 0.75);
    close(mean_ndcg_at_k(&scores, 3, &[0, 0], 2).unwrap(), 0.5);
    close(
        mean_ndcg_at_k(&scores, 3, &[2, 2], 10).unwrap(),
        (1.0 / 3f64.log2() + 1.0) / 2.0,
    );
    assert!(mean_ndcg_at_k(&scores, 3, &[0], 10).is_err());
    assert!(mean_ndcg_at_k(&scores, 3, &[0, 5], 10).is_err());
    assert!(mean_ndcg_at_k(&[], 0, &[], 10).is_err());
}

#[test]
fn generated_answers_follow_both_conventions() {
    let candidates = ["Alien", "Heat", "Up"];
    let catalog = ["Alien", "Heat", "Up", "Titanic"];
    let outcome = |answer| score_answer(answer, &candidates, 1, &catalog, 0).unwrap();
    let valid = outcome("Heat");
    assert_eq!(
        (valid.kind, valid.hit, valid.hit_lowercase),
        (AnswerKind::Valid, true, true)
    );
    assert_eq!(outcome("Heat and Up").kind, AnswerKind::MultiCandidate);
    assert_eq!(outcome("Titanic").kind, AnswerKind::NoCandidateInCatalog);
    let lower = outcome("  heat ");
    assert_eq!(
        lower.kind,
        AnswerKind::NotInCatalog,
        "S-DPO matching is case-sensitive"
    );
    assert!(!lower.hit && lower.valid_lowercase && lower.hit_lowercase);
    let wrong = outcome("Alien");
    assert!(wrong.kind == AnswerKind::Valid && !wrong.hit && !wrong.hit_lowercase);

    let summary = GenerationSummary::new(&[
        outcome("Heat"),
        outcome("Heat and Up"),
        outcome("Titanic"),
        outcome("  heat "),
    ])
    .unwrap();
    close(summary.hit_ratio_at_1, 0.25);
    close(summary.valid_ratio, 0.25);
    close(summary.hit_ratio_at_1_given_valid, 1.0);
    close(summary.no_candidate_rate, 0.5);
    close(summary.not_in_catalog_rate, 0.25);
    close(summary.multi_candidate_rate, 0.25);
    assert!(GenerationSummary::new(&[]).is_err());
    assert!(score_answer("x", &[], 0, &catalog, 4).is_err());
}

#[test]
fn popularity_bias_by_hand() {
    let popularity = [10, 5, 1, 0, 4];
    let bias = popularity_bias(&popularity, &[0, 0, 1, 4], &[2, 3]).unwrap();
    close(bias.mean_popularity, 7.25);
    close(bias.relative_popularity, 7.25 / 4.0);
    close(bias.target_mean_popularity, 0.5);
    close(bias.head_share, 0.5);
    close(bias.gini, 0.5);
    close(bias.coverage, 0.6);
    close(gini(&[3, 3, 3]), 0.0);
    close(gini(&[0, 0, 0, 8]), 0.75);
    close(gini(&[0, 0]), 0.0);
    assert!(popularity_bias(&popularity, &[], &[]).is_err());
    assert!(popularity_bias(&popularity, &[5], &[]).is_err());
}

#[test]
fn rewards_accuracy_and_margins() {
    let summary = reward_summary(&[1.0, 0.0], &[vec![0.5, 2.0], vec![0.0]]).unwrap();
    close(summary.accuracy, 1.0 / 3.0);
    close(summary.mean_margin, (0.5 - 1.0 + 0.0) / 3.0);
    assert_eq!(
        summary.per_example_accuracy,
        vec![0.5, 0.0],
        "a tie is not a win"
    );
    assert!(reward_summary(&[1.0], &[vec![]]).is_err());
    assert!(reward_summary(&[1.0], &[]).is_err());
}

#[test]
fn confidence_intervals_and_paired_tests() {
    let ci = mean_ci(&[1.0, 2.0, 3.0, 4.0]).unwrap();
    close(ci.mean, 2.5);
    let std_error = (5.0f64 / 3.0).sqrt() / 2.0;
    close(ci.std_error, std_error);
    // t quantile 0.975 with 3 degrees of freedom: 3.182446305284263.
    assert!((ci.high - (2.5 + 3.182446305284263 * std_error)).abs() < 1e-9);
    assert!((ci.low - (2.5 - 3.182446305284263 * std_error)).abs() < 1e-9);
    let single = mean_ci(&[0.3]).unwrap();
    assert!(single.low.is_nan() && single.mean == 0.3);
    assert!(mean_ci(&[]).is_err());

    let test = paired_test(&[1.0, 1.0, 1.0, 0.0], &[0.0, 1.0, 0.0, 0.0]).unwrap();
    close(test.difference.mean, 0.5);
    close(test.t, 3f64.sqrt());
    // Closed form of Student's t CDF with 3 degrees of freedom at √3.
    assert!(
        (test.p_value - 0.18169011381620925).abs() < 1e-9,
        "{}",
        test.p_value
    );
    let same = paired_test(&[1.0, 0.0], &[1.0, 0.0]).unwrap();
    assert_eq!((same.t, same.p_value), (0.0, 1.0));
    assert!(paired_test(&[1.0], &[0.0]).is_err());
    assert!(paired_test(&[1.0, 2.0], &[0.0]).is_err());
}
