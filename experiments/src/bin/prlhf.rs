//! The P-RLHF experiment: vanilla DPO vs P-DPO (individual and cluster user models) on
//! conflicting preferences; per-group held-out accuracy and generated length (`docs/reproducing.md`).

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces P-RLHF's synthetic conflicting-preference experiment (docs/methods/personal.md §2) and writes a report to --out.
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
        &[TableId::Prlhf],
        "P-RLHF: personalized DPO on conflicting preferences",
    )
}
