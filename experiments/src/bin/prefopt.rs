//! `prefopt`: the workspace's command-line front end.
//!
//! ```text
//! prefopt data convert --format movielens-100k --input ml-100k/ --output data/ml100k
//! prefopt data inspect data/ml100k/train.parquet
//! prefopt data generate sequential --output datasets/synthetic-rec
//! prefopt train --config experiments/configs/sdpo.toml --out runs/sdpo
//! prefopt eval  --config experiments/configs/sdpo.toml --checkpoint runs/sdpo/policy.safetensors --out runs/sdpo-eval
//! prefopt score --config experiments/configs/sdpo.toml --checkpoint runs/sdpo/policy.safetensors --output scores.csv
//! ```

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use prefopt_experiments::data_cli::{ConvertArgs, GenerateArgs, InspectArgs};
use prefopt_experiments::pipeline_cli::{EvalArgs, ScoreArgs, TrainArgs};

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
    /// SFT, then the preference stage of a TOML config (item data), or any loss on a TRL-format
    /// text dataset (`[data] train`); saves the models and a report.
    Train(Box<TrainArgs>),
    /// Evaluate a saved model on the test split (ranking, generation, popularity bias).
    Eval(Box<EvalArgs>),
    /// Write every candidate's log-prob under a saved model to a CSV file.
    Score(Box<ScoreArgs>),
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Convert an interaction log to train/valid/test preference Parquet files.
    Convert(Box<ConvertArgs>),
    /// Print a dataset's schema, row count and statistics, validating every row.
    Inspect(InspectArgs),
    /// Write a synthetic dataset with known ground truth.
    Generate(Box<GenerateArgs>),
}

fn main() -> ExitCode {
    prefopt_models::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Data(DataCommand::Convert(args)) => args.run(),
        Command::Data(DataCommand::Inspect(args)) => args.run(),
        Command::Data(DataCommand::Generate(args)) => args.run(),
        Command::Train(args) => args.run().map_err(|e| e.to_string()),
        Command::Eval(args) => args.run().map_err(|e| e.to_string()),
        Command::Score(args) => args.run().map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
