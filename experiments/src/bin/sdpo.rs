//! The S-DPO table: SFT vs DPO vs S-DPO (several K) vs DMPO (paper, official) vs DynamicPO vs
//! LiPO-λ, and S-DPO's β sweep, on a converted dataset (`docs/reproducing.md`).

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces the S-DPO table (docs/methods/rec.md §2–4) and writes a report to --out.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TableArgs,
}

fn main() -> ExitCode {
    prefopt_models::allocator::keep_freed_memory();
    let cli = Cli::parse();
    table_main(&cli.args, &[TableId::Sdpo], "S-DPO table")
}
