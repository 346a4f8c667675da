//! The RosePO ablations: rejected-sampling strategies, bias mitigations and personalized
//! smoothing from a preference oracle, on a converted dataset (`docs/reproducing.md`).

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, command_line, run_tables};

/// Reproduces the RosePO ablations (methods/rec.md §5) and writes a report to --out.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    args: TableArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = cli.args.config().and_then(|config| {
        run_tables(
            config,
            &cli.args.out,
            &[TableId::Rosepo],
            "RosePO ablations",
            &command_line(),
        )
    });
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
