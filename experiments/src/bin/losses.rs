//! Evaluates every objective of prefopt-objectives on one generated batch (forward and
//! backward) and prints a table: loss, reward accuracy, margin, and the mean gradient on the
//! chosen and rejected log-probs (negative on chosen, positive on rejected means the loss pushes
//! the policy the right way).

use std::process::ExitCode;
use std::time::Instant;

use burn::tensor::{DType, Device};
use clap::Parser;
use prefopt_experiments::synthetic::{SyntheticSpec, generate};
use prefopt_objectives::{LOSS_NAMES, ObjectiveConfig};

/// Evaluate every preference loss on a generated batch of log-probs.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Prompts per batch.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Rejected responses per prompt.
    #[arg(long, default_value_t = 4)]
    negatives: usize,
    /// Mean log-ratio advantage of the chosen responses, in nats.
    #[arg(long, default_value_t = 2.0)]
    signal: f64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Losses to evaluate (names as `ObjectiveConfig::from_name` accepts); all by default.
    #[arg(long, value_delimiter = ',')]
    losses: Vec<String>,
}

fn run(args: &Args) -> Result<(), String> {
    if args.batch == 0 || args.negatives == 0 {
        return Err("--batch and --negatives must be at least 1".into());
    }
    let names: Vec<String> = if args.losses.is_empty() {
        LOSS_NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        args.losses.clone()
    };
    let device = Device::flex().autodiff();
    let spec = SyntheticSpec {
        batch: args.batch,
        negatives: args.negatives,
        signal: args.signal,
        seed: args.seed,
    };
    println!(
        "prefopt losses on a generated batch: B = {}, K = {}, signal = {} nats, seed = {} (flex backend, f64)\n",
        args.batch, args.negatives, args.signal, args.seed
    );
    println!("| loss | value | reward acc. | margin | mean ∂/∂ chosen | mean ∂/∂ rejected | ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for name in names {
        let objective = ObjectiveConfig::from_name(&name)
            .and_then(|c| c.check())
            .map_err(|e| e.to_string())?;
        let batch = generate(&spec, &device, DType::F64);
        let start = Instant::now();
        let output = objective
            .compute(&batch.input)
            .map_err(|e| format!("{name}: {e}"))?;
        let grads = output.loss.backward();
        let mean = |g: Option<Vec<f64>>| g.map_or(0.0, |g| g.iter().sum::<f64>() / g.len() as f64);
        let chosen = mean(
            batch
                .policy_chosen
                .grad(&grads)
                .map(|g| g.into_data().try_into_vec_as::<f64>().unwrap()),
        );
        let rejected = mean(
            batch
                .policy_rejected
                .grad(&grads)
                .map(|g| g.into_data().try_into_vec_as::<f64>().unwrap()),
        );
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        let metrics = output.metrics();
        let get = |key: &str| metrics.get(key).unwrap_or(f64::NAN);
        println!(
            "| {} | {:.5} | {:.3} | {:.4} | {:+.3e} | {:+.3e} | {:.1} |",
            objective.name(),
            get("loss"),
            get("rewards/accuracies"),
            get("rewards/margins"),
            chosen,
            rejected,
            elapsed
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    prefopt_models::allocator::keep_freed_memory();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
