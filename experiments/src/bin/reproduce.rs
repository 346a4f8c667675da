//! Every table on small defaults, in one report: the recommendation papers on the generated
//! dataset in `datasets/rec-small`, then P-RLHF, LoRe and RPO on their generated data (the
//! CPU by default). `results.md` has the tables, the papers' claims checked with 95% intervals
//! and SVG plots; beside it CSV, JSON, the config and training logs.
//!
//! `--track llm --model <HF folder or .gguf> --data <converted folder>` runs the recommendation
//! tables with a pretrained language model that reads titles instead (docs/reproducing.md);
//! `--seeds N` runs everything once per seed and reports over seeds.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use prefopt_experiments::llm_track;
use prefopt_experiments::runner::{TableArgs, TableId, command_line, finish, run_seeds};

/// Reproduces the S-DPO/DMPO/DynamicPO table, the RosePO ablations and the P-RLHF, LoRe and
/// RPO experiments in one report.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TableArgs,
    /// `items`: every table with the item-token model on generated data; `llm`: the
    /// recommendation tables with a pretrained LLM (`--model`) on a converted real log.
    #[arg(long, value_enum, default_value_t = Track::Items)]
    track: Track,
    /// The pretrained checkpoint: a Hugging Face folder or a `.gguf` file (required by
    /// `--track llm`; on the items track it replaces the config's model).
    #[arg(long)]
    model: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Track {
    Items,
    Llm,
}

const ITEM_TABLES: [TableId; 5] = [
    TableId::Sdpo,
    TableId::Rosepo,
    TableId::Prlhf,
    TableId::Lore,
    TableId::Rpo,
];

fn main() -> ExitCode {
    prefopt_models::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let (which, title): (&[TableId], &str) = match cli.track {
        Track::Items => (
            &ITEM_TABLES,
            "prefopt: reproduction of the recommendation and personalization tables",
        ),
        Track::Llm => (
            &llm_track::TABLES,
            "prefopt: the recommendation tables with a pretrained language model",
        ),
    };
    let config = match cli.track {
        Track::Items => cli.args.config().map(|mut config| {
            if let Some(model) = &cli.model {
                config.model.checkpoint = Some(model.clone());
            }
            config
        }),
        Track::Llm => llm_track::config(cli.args.config.as_deref(), cli.model.as_deref())
            .and_then(|config| cli.args.with_overrides(config)),
    };
    finish(config.and_then(|config| {
        run_seeds(
            config,
            &cli.args.out,
            which,
            title,
            &command_line(),
            cli.args.seeds,
            cli.args.resume,
        )
    }))
}
