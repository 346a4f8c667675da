//! `prefopt`: the workspace's command-line front end.
//!
//! ```text
//! prefopt data convert --format movielens-100k --input ml-100k/ --output data/ml100k
//! prefopt data inspect data/ml100k/train.parquet
//! prefopt data generate sequential --output datasets/synthetic-rec
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use prefopt_experiments::data_cli::{ConvertArgs, GenerateArgs, InspectArgs};

/// Preference optimization for recommendation and personalized alignment.
#[derive(Parser, Debug)]
#[command(name = "prefopt", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build, inspect and generate preference datasets.
    #[command(subcommand)]
    Data(DataCommand),
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Convert an interaction log to train/valid/test preference Parquet files.
    Convert(Box<ConvertArgs>),
    /// Print a dataset's schema, row count and statistics, validating every row.
    Inspect(InspectArgs),
    /// Write a synthetic dataset with known ground truth.
    Generate(GenerateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Data(DataCommand::Convert(args)) => args.run(),
        Command::Data(DataCommand::Inspect(args)) => args.run(),
        Command::Data(DataCommand::Generate(args)) => args.run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
