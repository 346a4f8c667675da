//! The LoRe experiment: low-rank reward factorization vs one shared reward vs per-user rewards,
//! seen and unseen users, ranks, basis recovery and re-ranking (`docs/reproducing.md`).

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces LoRe's seen/unseen-user experiment on generated basis-reward mixtures (docs/methods/personal.md §3) and writes a report to --out.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TableArgs,
}

fn main() -> ExitCode {
    prefopt_models::allocator::keep_freed_memory();
    let cli = Cli::parse();
    table_main(
        &cli.args,
        &[TableId::Lore],
        "LoRe: low-rank reward factorization",
    )
}
