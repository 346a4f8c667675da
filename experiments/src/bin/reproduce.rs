//! Every table of the recommendation papers on small defaults (the generated dataset in
//! `datasets/rec-small`, the CPU), in one report: `results.md` with tables, the papers' claims
//! checked with 95% intervals, and SVG plots; plus CSV, JSON, the config and training logs.

use std::process::ExitCode;

use clap::Parser;
use prefopt_experiments::runner::{TableArgs, TableId, command_line, run_tables};

/// Reproduces the S-DPO/DMPO/DynamicPO table and the RosePO ablations in one report.
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
            &[TableId::Sdpo, TableId::Rosepo],
            "prefopt: reproduction of the recommendation tables",
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
