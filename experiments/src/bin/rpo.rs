//! The RPO experiment: DPO vs RPO paired, uniform, unpaired and diagonal over τ and batch
//! sizes on prompt families, and the effective-β shrinkage (`docs/reproducing.md`).

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces RPO's comparisons on generated prompt families (docs/methods/personal.md §1) and writes a report to --out.
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
        &[TableId::Rpo],
        "RPO: relative preference optimization",
    )
}
