//! The RosePO ablations: rejected-sampling strategies, bias mitigations and personalized
//! smoothing from a preference oracle, on a converted dataset (`docs/reproducing.md`).

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, table_main};

/// Reproduces the RosePO ablations (docs/methods/rec.md §5) and writes a report to --out.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TableArgs,
}

fn main() -> ExitCode {
    prefopt_models::allocator::keep_freed_memory();
    let cli = Cli::parse();
    table_main(&cli.args, &[TableId::Rosepo], "RosePO ablations")
}
