//! Every table of the recommendation papers on small defaults (the generated dataset in
//! `datasets/rec-small`, the CPU), in one report: `results.md` with tables, the papers' claims
//! checked with 95% intervals, and SVG plots; plus CSV, JSON, the config and training logs.

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces the S-DPO/DMPO/DynamicPO table and the RosePO ablations in one report.
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
        &[TableId::Sdpo, TableId::Rosepo],
        "prefopt: reproduction of the recommendation tables",
    )
}
