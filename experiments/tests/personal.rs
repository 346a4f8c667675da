//! The personalization experiments recover the structure their generators plant: P-DPO serves
//! both user groups where vanilla DPO follows the majority, and LoRe at the true rank beats one
//! shared reward for seen and unseen users.

use std::path::PathBuf;

use prefopt_experiments::ExperimentConfig;
use prefopt_experiments::personal::PersonalContext;
use prefopt_experiments::report::Section;
use prefopt_experiments::{lore, prlhf, rpo};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prefopt-personal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn metric(section: &Section, method: &str, settings: &str, column: &str) -> f64 {
    section
        .table
        .rows
        .iter()
        .find(|r| r.method == method && r.settings.starts_with(settings))
        .and_then(|r| r.metrics.get(column))
        .unwrap_or_else(|| panic!("no {column} for {method} {settings}"))
        .mean
}

#[test]
fn pdpo_serves_the_minority_group_that_dpo_overrides() {
    let out = scratch("prlhf");
    let mut config = ExperimentConfig::default();
    // The default data (40 users, 30% preferring short responses, 30 train pairs each).
    config.prlhf.alphas = vec![1.0];
    config.prlhf.user_tokens = vec![1];
    config.prlhf.clusters = 0;
    config.prlhf.generation_prompts = 2;
    config.prlhf.generation_users = 1;
    config.prlhf.max_tokens = 4;
    let section = prlhf::run(&PersonalContext {
        config: &config,
        out: &out,
    })
    .unwrap();
    let dpo_short = metric(&section, "DPO", "β", "acc short group");
    let pdpo_short = metric(&section, "P-DPO individual", "α 1", "acc short group");
    let pdpo_long = metric(&section, "P-DPO individual", "α 1", "acc long group");
    eprintln!(
        "short group: DPO {dpo_short:.3}, P-DPO {pdpo_short:.3}; long group: P-DPO {pdpo_long:.3}"
    );
    assert!(dpo_short < 0.5, "DPO follows the majority: {dpo_short}");
    assert!(
        pdpo_short > 0.6 && pdpo_short > dpo_short + 0.2,
        "P-DPO short {pdpo_short}"
    );
    assert!(pdpo_long > 0.6, "P-DPO long {pdpo_long}");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn lore_at_the_true_rank_beats_one_shared_reward_for_seen_and_unseen_users() {
    let out = scratch("lore");
    let mut config = ExperimentConfig::default();
    config.lore.users = 60;
    config.lore.ranks = vec![1, 3];
    config.lore.shots = vec![2, 30];
    config.lore.trials = 2;
    config.lore.steps = 500;
    let section = lore::run(&PersonalContext {
        config: &config,
        out: &out,
    })
    .unwrap();
    let shared = metric(&section, "shared BT", "rank 1", "seen acc");
    let low_rank = metric(&section, "LoRe", "rank 3", "seen acc");
    let unseen_few = metric(&section, "LoRe", "rank 3", "unseen acc @2");
    let unseen_many = metric(&section, "LoRe", "rank 3", "unseen acc @30");
    eprintln!(
        "seen: shared {shared:.3}, LoRe {low_rank:.3}; unseen: 2 shots {unseen_few:.3}, 30 shots {unseen_many:.3}"
    );
    assert!(low_rank > shared + 0.1 && low_rank > 0.85);
    assert!(unseen_many > unseen_few && unseen_many > 0.85);
    let angles = &section.extra_tables[0];
    let largest = angles.rows[1].values["largest angle (rad)"];
    assert!(largest < 0.2, "rank-3 basis vs the true one: {largest} rad");
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn rpo_runs_on_policy_embeddings_and_its_diagonal_weight_shrinks_with_the_batch() {
    let out = scratch("rpo");
    let mut config = ExperimentConfig::default();
    config.rpo.families = 4;
    config.rpo.prompts_per_family = 6;
    config.rpo.pairs_per_prompt = 2;
    config.rpo.temperatures = vec![0.5];
    config.rpo.batch_sizes = vec![];
    config.rpo.train.epochs = 1;
    config.rpo.embeddings = rpo::EmbeddingSource::Policy;
    let section = rpo::run(&PersonalContext {
        config: &config,
        out: &out,
    })
    .unwrap();
    for method in [
        "DPO",
        "RPO paired",
        "RPO uniform",
        "RPO diagonal",
        "RPO unpaired",
    ] {
        let accuracy = metric(&section, method, "", "held-out acc");
        assert!((0.0..=1.0).contains(&accuracy), "{method}: {accuracy}");
    }
    // With the policy's mean hidden states as embeddings, w_ii still falls as B grows.
    let shrink = section
        .claims
        .iter()
        .find(|c| c.statement.contains("effective β"))
        .unwrap();
    assert_eq!(
        shrink.verdict,
        prefopt_experiments::report::Verdict::Holds,
        "{}",
        shrink.evidence
    );
    std::fs::remove_dir_all(&out).unwrap();
}
