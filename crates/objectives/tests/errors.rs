//! Bad configurations and bad batches get typed errors with clear messages, never a panic.

mod common;

use burn::tensor::{DType, Device};
use common::{BatchValues, catalogue, label, mask, tensor};
use prefopt_objectives::dpo::{DpoConfig, DpoLossType, FDivergenceType, KForm};
use prefopt_objectives::personal::rpo::{RpoConfig, RpoVariant};
use prefopt_objectives::rec::rosepo::{CdpoConfig, RosepoConfig};
use prefopt_objectives::{ObjectiveConfig, ObjectiveError, PreferenceLogps};

#[test]
fn non_positive_or_nan_beta_is_rejected_by_every_objective() {
    for config in catalogue() {
        for beta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            match config.clone().with_beta(beta).check() {
                Err(ObjectiveError::InvalidParameter { name: "beta", .. }) => {}
                other => panic!(
                    "{}: beta = {beta} gave {:?}",
                    label(&config),
                    other.map(|o| o.name())
                ),
            }
        }
    }
}

#[test]
fn label_smoothing_outside_its_range_is_rejected() {
    let bad = [
        ObjectiveConfig::Cdpo(CdpoConfig {
            label_smoothing: 0.6,
            ..CdpoConfig::default()
        }),
        ObjectiveConfig::Cdpo(CdpoConfig {
            label_smoothing: -0.1,
            ..CdpoConfig::default()
        }),
        ObjectiveConfig::Dpo(DpoConfig {
            label_smoothing: 0.5,
            ..DpoConfig::new(DpoLossType::Robust)
        }),
        ObjectiveConfig::Dpo(DpoConfig {
            label_smoothing: 0.0,
            ..DpoConfig::new(DpoLossType::ExoPair)
        }),
        ObjectiveConfig::Dpo(DpoConfig {
            label_smoothing: 1.0,
            ..DpoConfig::new(DpoLossType::ExoPair)
        }),
    ];
    for config in bad {
        let error = config.check().expect_err(&label(&config));
        assert!(
            matches!(
                error,
                ObjectiveError::InvalidParameter {
                    name: "label_smoothing",
                    ..
                }
            ),
            "{error}"
        );
        assert!(error.to_string().contains("label_smoothing"), "{error}");
    }
}

#[test]
fn incompatible_options_are_rejected() {
    let unsupported = [
        DpoConfig {
            f_divergence_type: FDivergenceType::ForwardKl,
            ..DpoConfig::new(DpoLossType::BcoPair)
        },
        DpoConfig {
            k_form: KForm::Listwise,
            ..DpoConfig::new(DpoLossType::Hinge)
        },
        DpoConfig {
            use_weighting: true,
            ..DpoConfig::new(DpoLossType::Aot)
        },
    ];
    for config in unsupported {
        assert!(
            matches!(config.check(), Err(ObjectiveError::Unsupported { .. })),
            "{config:?}"
        );
    }
    let weights = DpoConfig {
        loss_type: vec![DpoLossType::Sigmoid, DpoLossType::Sft],
        loss_weights: Some(vec![1.0]),
        ..DpoConfig::default()
    };
    assert!(matches!(
        weights.check(),
        Err(ObjectiveError::InvalidParameter {
            name: "loss_weights",
            ..
        })
    ));
    assert!(matches!(
        ObjectiveConfig::from_name("sigmoid_typo"),
        Err(ObjectiveError::UnknownLoss { .. })
    ));
}

fn batch(values: &BatchValues) -> PreferenceLogps {
    let device = Device::flex().autodiff();
    values.input(
        &device,
        DType::F64,
        values.policy_leaves(&device, DType::F64),
    )
}

#[test]
fn bad_batches_get_typed_errors() {
    let device = Device::flex();
    let objective = ObjectiveConfig::from_name("sigmoid")
        .unwrap()
        .check()
        .unwrap();
    let values = BatchValues::random(1, 3, 2, false);

    // K = 0 negatives.
    let empty = PreferenceLogps::new(
        tensor(vec![-1.0; 3], [3], &device, DType::F64),
        tensor(vec![], [3, 0], &device, DType::F64),
    );
    assert!(matches!(
        objective.compute(&empty),
        Err(ObjectiveError::Shape {
            input: "policy_rejected",
            ..
        })
    ));

    // Mismatched shapes.
    let mut wrong = batch(&values);
    wrong.reference_chosen = Some(tensor(vec![0.0; 4], [4], &device, DType::F64));
    let error = objective.compute(&wrong).unwrap_err();
    assert!(
        matches!(
            error,
            ObjectiveError::Shape {
                input: "reference_chosen",
                ..
            }
        ),
        "{error}"
    );

    // NaN inputs name the input and the position.
    let mut nan = values.clone();
    nan.policy_rejected[3] = f64::NAN;
    let error = objective.compute(&batch(&nan)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "input `policy_rejected` is invalid at row 1, column 1: value NaN is not finite"
    );

    // A prompt without any valid negative.
    let mut no_negative = batch(&values);
    no_negative.rejected_mask = Some(mask(
        vec![true, true, false, false, true, false],
        [3, 2],
        &device,
    ));
    assert!(matches!(
        objective.compute(&no_negative),
        Err(ObjectiveError::InvalidValue {
            input: "rejected_mask",
            ..
        })
    ));

    // A loss that needs the reference, without one.
    let mut no_reference = batch(&values);
    no_reference.reference_chosen = None;
    no_reference.reference_rejected = None;
    assert!(matches!(
        objective.compute(&no_reference),
        Err(ObjectiveError::MissingInput { .. })
    ));

    // RosePO's smoothing must lie in [0, 0.5].
    let mut smoothing = values.clone();
    smoothing.smoothing[2] = 0.7;
    let rosepo = ObjectiveConfig::Rosepo(RosepoConfig::default())
        .check()
        .unwrap();
    assert!(matches!(
        rosepo.compute(&batch(&smoothing)),
        Err(ObjectiveError::InvalidValue {
            input: "smoothing",
            ..
        })
    ));

    // RPO's diagonal variant needs two prompts.
    let single = BatchValues::random(2, 1, 1, false);
    let diagonal = ObjectiveConfig::Rpo(RpoConfig {
        variant: RpoVariant::Diagonal,
        ..RpoConfig::default()
    })
    .check()
    .unwrap();
    assert!(matches!(
        diagonal.compute(&batch(&single)),
        Err(ObjectiveError::InvalidValue { .. })
    ));

    // Per-token losses without tokens.
    let mut no_tokens = batch(&values);
    no_tokens.tokens = None;
    let ld = ObjectiveConfig::Dpo(DpoConfig {
        ld_alpha: Some(0.5),
        ..DpoConfig::default()
    })
    .check()
    .unwrap();
    assert!(matches!(
        ld.compute(&no_tokens),
        Err(ObjectiveError::MissingInput { .. })
    ));
}

#[test]
fn every_config_round_trips_through_serde_and_names_parse() {
    for config in catalogue() {
        let json = serde_json::to_string(&config).unwrap();
        let back: ObjectiveConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, config, "{json}");
    }
    let parsed: ObjectiveConfig =
        serde_json::from_str(r#"{"loss": "dpo", "loss_type": "ipo", "beta": 0.5}"#).unwrap();
    assert_eq!(
        parsed,
        ObjectiveConfig::Dpo(DpoConfig {
            beta: 0.5,
            ..DpoConfig::new(DpoLossType::Ipo)
        })
    );
    let error =
        serde_json::from_str::<ObjectiveConfig>(r#"{"loss": "dpo", "betta": 0.5}"#).unwrap_err();
    assert!(error.to_string().contains("betta"), "{error}");
    // Every canonical name, plus the aliases and combinations users write.
    let aliases = [
        "sigmoid,sft",
        "dpo/sigmoid+bco_pair+sft",
        "dpo/ipo",
        "cpo/cpo_hinge",
        "cpo/cpo_ipo",
        "kto/kto",
        "rpo/unpaired",
        "rpo/diagonal",
        "pdpo/ipo",
        "lipo/lambda",
        "dmpo/dynamicpo",
    ];
    for name in prefopt_objectives::LOSS_NAMES.iter().chain(&aliases) {
        let config = ObjectiveConfig::from_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        config.check().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
