//! Every table on small defaults, in one report: the recommendation papers on the generated
//! dataset in `datasets/rec-small`, then P-RLHF, LoRe and RPO on their generated data (the
//! CPU by default). `results.md` has the tables, the papers' claims checked with 95% intervals
//! and SVG plots; beside it CSV, JSON, the config and training logs.

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces the S-DPO/DMPO/DynamicPO table, the RosePO ablations and the P-RLHF, LoRe and
/// RPO experiments in one report.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TableArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    table_main(
        &cli.args,
        &[
            TableId::Sdpo,
            TableId::Rosepo,
            TableId::Prlhf,
            TableId::Lore,
            TableId::Rpo,
        ],
        "prefopt: reproduction of the recommendation and personalization tables",
    )
}
