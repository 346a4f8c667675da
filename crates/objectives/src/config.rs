//! One serde-(de)serialisable enum naming every objective and its parameters, so an experiment
//! config swaps losses by editing one line, and a parser for loss names (TRL's `loss_type`
//! strings, and this crate's canonical `<family>/<variant>` names).

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cpo::{CpoConfig, CpoLossType};
use crate::dpo::{DpoConfig, DpoLossType, KForm};
use crate::error::{ObjectiveError, Result};
use crate::kto::{KtoConfig, KtoLossType};
use crate::objective::Objective;
use crate::orpo::OrpoConfig;
use crate::personal::lipo::LipoConfig;
use crate::personal::pdpo::PdpoConfig;
use crate::personal::rpo::{RpoConfig, RpoVariant};
use crate::rec::dmpo::{DmpoConfig, DmpoOfficialConfig};
use crate::rec::dynamicpo::DynamicBetaConfig;
use crate::rec::rosepo::{CdpoConfig, RosepoConfig};
use crate::rec::sdpo::SdpoConfig;

/// Every objective of the crate with its hyper-parameters.
///
/// In TOML: `loss = "dpo"` selects the variant and the other keys are its fields, e.g.
/// `{ loss = "dpo", loss_type = ["sigmoid", "sft"], loss_weights = [1.0, 0.5], beta = 0.1 }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "loss", rename_all = "snake_case")]
pub enum ObjectiveConfig {
    /// TRL `DPOTrainer` losses.
    Dpo(DpoConfig),
    /// TRL `CPOTrainer` losses (CPO, SimPO, AlphaPO).
    Cpo(CpoConfig),
    /// TRL `ORPOTrainer`.
    Orpo(OrpoConfig),
    /// TRL `KTOTrainer`.
    Kto(KtoConfig),
    /// Label-smoothed conservative DPO.
    Cdpo(CdpoConfig),
    /// S-DPO.
    Sdpo(SdpoConfig),
    /// DMPO, the paper's form.
    Dmpo(DmpoConfig),
    /// DMPO, the official code's pairwise loss.
    DmpoOfficialPairwise(DmpoOfficialConfig),
    /// DynamicPO's dynamic-β hard-negative loss.
    DynamicpoDynamicBeta(DynamicBetaConfig),
    /// RosePO.
    Rosepo(RosepoConfig),
    /// RPO.
    Rpo(RpoConfig),
    /// P-DPO.
    Pdpo(PdpoConfig),
    /// LiPO-λ.
    Lipo(LipoConfig),
}

/// One name per objective (and per TRL DPO loss type), each parsed by
/// [`ObjectiveConfig::from_name`] to its default configuration: the sweep the demo and the W1
/// benchmark run.
pub const LOSS_NAMES: [&str; 31] = [
    "sigmoid",
    "hinge",
    "ipo",
    "exo_pair",
    "nca_pair",
    "robust",
    "bco_pair",
    "sppo_hard",
    "aot",
    "aot_unpaired",
    "apo_zero",
    "apo_down",
    "discopop",
    "sft",
    "sigmoid_norm",
    "sigmoid+bco_pair+sft",
    "cdpo",
    "cpo",
    "simpo",
    "alphapo",
    "orpo",
    "kto",
    "apo_zero_unpaired",
    "sdpo",
    "dmpo",
    "dmpo/official_pairwise",
    "dynamicpo/dynamic_beta",
    "rosepo",
    "rpo/paired",
    "pdpo",
    "lipo",
];

const KNOWN_NAMES: &str = "TRL loss types (sigmoid, hinge, ipo, exo_pair, nca_pair, robust, bco_pair, sppo_hard, aot, aot_unpaired, apo_zero, apo_down, discopop, sft, sigmoid_norm, joined with `+` or `,` for combinations), dpo/<type>, cpo, cpo/cpo_sigmoid, cpo/cpo_hinge, cpo/cpo_ipo, simpo, alphapo, orpo, kto, apo_zero_unpaired, cdpo, sdpo, dmpo, dmpo/official_pairwise, dmpo/dynamicpo, dynamicpo/dynamic_beta, rosepo, rpo/paired, rpo/unpaired, rpo/diagonal, pdpo/<type>, lipo, lipo/lambda";

impl ObjectiveConfig {
    /// Validates the hyper-parameters and builds the objective.
    pub fn check(&self) -> Result<Box<dyn Objective>> {
        Ok(match self {
            Self::Dpo(c) => Box::new(c.check()?),
            Self::Cpo(c) => Box::new(c.check()?),
            Self::Orpo(c) => Box::new(c.check()?),
            Self::Kto(c) => Box::new(c.check()?),
            Self::Cdpo(c) => Box::new(c.check()?),
            Self::Sdpo(c) => Box::new(c.check()?),
            Self::Dmpo(c) => Box::new(c.check()?),
            Self::DmpoOfficialPairwise(c) => Box::new(c.check()?),
            Self::DynamicpoDynamicBeta(c) => Box::new(c.check()?),
            Self::Rosepo(c) => Box::new(c.check()?),
            Self::Rpo(c) => Box::new(c.check()?),
            Self::Pdpo(c) => Box::new(c.check()?),
            Self::Lipo(c) => Box::new(c.check()?),
        })
    }

    /// The default configuration of a named loss. Accepts TRL's `loss_type` names (several
    /// joined with `+` or `,` make an MPO combination with weights 1) and canonical names.
    pub fn from_name(name: &str) -> Result<Self> {
        let trimmed = name.trim();
        let lower = trimmed.to_ascii_lowercase();
        let unknown = || ObjectiveError::UnknownLoss {
            name: trimmed.to_string(),
            known: KNOWN_NAMES.to_string(),
        };
        let dpo_types = |list: &str| -> Option<Vec<DpoLossType>> {
            list.split(['+', ','])
                .map(|t| DpoLossType::from_name(t.trim()))
                .collect()
        };
        let cpo = |loss_type| CpoConfig {
            loss_type,
            ..CpoConfig::default()
        };
        let rpo = |variant| RpoConfig {
            variant,
            ..RpoConfig::default()
        };
        Ok(match lower.as_str() {
            "dpo" => Self::Dpo(DpoConfig::default()),
            "cpo" | "cpo/cpo_sigmoid" | "cpo/sigmoid" => Self::Cpo(cpo(CpoLossType::Sigmoid)),
            "cpo/cpo_hinge" | "cpo/hinge" => Self::Cpo(cpo(CpoLossType::Hinge)),
            "cpo/cpo_ipo" | "cpo/ipo" => Self::Cpo(cpo(CpoLossType::Ipo)),
            "simpo" | "cpo/simpo" => Self::Cpo(CpoConfig::simpo(2.0, 0.5)),
            "alphapo" | "cpo/alphapo" => Self::Cpo(CpoConfig::alphapo(2.5, 1.0, 0.25)),
            "orpo" => Self::Orpo(OrpoConfig::default()),
            "kto" | "kto/kto" => Self::Kto(KtoConfig::default()),
            "apo_zero_unpaired" | "kto/apo_zero_unpaired" => Self::Kto(KtoConfig {
                loss_type: KtoLossType::ApoZeroUnpaired,
                ..KtoConfig::default()
            }),
            "cdpo" => Self::Cdpo(CdpoConfig::default()),
            "sdpo" | "s-dpo" => Self::Sdpo(SdpoConfig::default()),
            "dmpo" | "dmpo/dynamicpo" => Self::Dmpo(DmpoConfig::default()),
            "dmpo/official_pairwise" | "dmpo_official_pairwise" => {
                Self::DmpoOfficialPairwise(DmpoOfficialConfig::default())
            }
            "dynamicpo" | "dynamicpo/dynamic_beta" => {
                Self::DynamicpoDynamicBeta(DynamicBetaConfig::default())
            }
            "rosepo" => Self::Rosepo(RosepoConfig::default()),
            "rpo" | "rpo/paired" => Self::Rpo(rpo(RpoVariant::Paired)),
            "rpo/unpaired" => Self::Rpo(rpo(RpoVariant::Unpaired)),
            "rpo/diagonal" => Self::Rpo(rpo(RpoVariant::Diagonal)),
            "lipo" | "lipo/lambda" | "lipo-lambda" => Self::Lipo(LipoConfig::default()),
            other => {
                if let Some(inner) = other
                    .strip_prefix("pdpo/")
                    .or((other == "pdpo").then_some("sigmoid"))
                {
                    let loss_type = DpoLossType::from_name(inner).ok_or_else(unknown)?;
                    return Ok(Self::Pdpo(PdpoConfig {
                        loss_type,
                        ..PdpoConfig::default()
                    }));
                }
                let list = other.strip_prefix("dpo/").unwrap_or(other);
                let loss_type = dpo_types(list).ok_or_else(unknown)?;
                let label_smoothing = if loss_type.contains(&DpoLossType::ExoPair) {
                    1e-3
                } else {
                    0.0
                };
                Self::Dpo(DpoConfig {
                    loss_type,
                    label_smoothing,
                    ..DpoConfig::default()
                })
            }
        })
    }

    /// The canonical name of the configured objective.
    pub fn name(&self) -> String {
        match self {
            Self::Dpo(c) => c.name(),
            Self::Cpo(c) => c.name(),
            Self::Orpo(_) => "orpo".into(),
            Self::Kto(c) => c.name(),
            Self::Cdpo(_) => "cdpo".into(),
            Self::Sdpo(_) => "sdpo".into(),
            Self::Dmpo(_) => "dmpo".into(),
            Self::DmpoOfficialPairwise(_) => "dmpo/official_pairwise".into(),
            Self::DynamicpoDynamicBeta(_) => "dynamicpo/dynamic_beta".into(),
            Self::Rosepo(_) => "rosepo".into(),
            Self::Rpo(c) => c.name(),
            Self::Pdpo(c) => c.name(),
            Self::Lipo(_) => "lipo/lambda".into(),
        }
    }

    /// The same objective with β replaced (for β sweeps).
    pub fn with_beta(mut self, beta: f64) -> Self {
        match &mut self {
            Self::Dpo(c) => c.beta = beta,
            Self::Cpo(c) => c.beta = beta,
            Self::Orpo(c) => c.beta = beta,
            Self::Kto(c) => c.beta = beta,
            Self::Cdpo(c) => c.beta = beta,
            Self::Sdpo(c) => c.beta = beta,
            Self::Dmpo(c) => c.beta = beta,
            Self::DmpoOfficialPairwise(c) => c.beta = beta,
            Self::DynamicpoDynamicBeta(c) => c.beta = beta,
            Self::Rosepo(c) => c.beta = beta,
            Self::Rpo(c) => c.beta = beta,
            Self::Pdpo(c) => c.beta = beta,
            Self::Lipo(c) => c.beta = beta,
        }
        self
    }

    /// Selects the listwise K-negative form where the objective has one.
    pub fn listwise(mut self) -> Self {
        match &mut self {
            Self::Dpo(c) => c.k_form = KForm::Listwise,
            Self::Cpo(c) => c.k_form = KForm::Listwise,
            _ => {}
        }
        self
    }
}

impl FromStr for ObjectiveConfig {
    type Err = ObjectiveError;

    fn from_str(name: &str) -> Result<Self> {
        Self::from_name(name)
    }
}
