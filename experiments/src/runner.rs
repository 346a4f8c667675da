//! What `sdpo`, `rosepo` and `reproduce` share: command-line options, the SFT stage, the tables,
//! and the report in the output folder.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::common::checkpoints::Checkpoints;
use crate::config::ExperimentConfig;
use crate::error::Result;
use crate::rec::table::TableContext;
use crate::rec::{Evaluation, RecPipeline, Run};
use crate::report::{Meta, Report, git_revision};

/// Options of every table binary.
#[derive(Args, Debug, Clone)]
pub struct TableArgs {
    /// TOML config (see `docs/reproducing.md`); without it, the small defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder (results.md/csv/json, config.toml, plots, logs).
    #[arg(long)]
    pub out: PathBuf,
    /// Overrides the config's device: auto, cpu, wgpu or cuda.
    #[arg(long)]
    pub device: Option<String>,
    /// Overrides the config's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Overrides the config's dataset folder.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Runs everything once per seed (the seed, then the next ones), each into
    /// `<out>/seed-<s>/`, and reports every method as mean ± 95% CI over seeds in `<out>`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Continue a killed command in `--out` (same config and options): finished runs keep
    /// their results, an interrupted run continues from its last checkpoint, the rest run.
    #[arg(long)]
    pub resume: bool,
}

impl TableArgs {
    pub fn config(&self) -> Result<ExperimentConfig> {
        let config = match &self.config {
            Some(path) => ExperimentConfig::from_file(path)?,
            None => ExperimentConfig::default(),
        };
        self.with_overrides(config)
    }

    /// `config` with this command line's device, seed and data folder, checked.
    pub fn with_overrides(&self, mut config: ExperimentConfig) -> Result<ExperimentConfig> {
        config.override_run(self.device.as_deref(), self.seed);
        if let Some(data) = &self.data {
            config.data.dir = data.clone();
        }
        config.check()?;
        Ok(config)
    }
}

/// A paper table of this crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableId {
    Sdpo,
    Rosepo,
    Prlhf,
    Lore,
    Rpo,
}

impl TableId {
    /// Whether the table runs on the recommendation pipeline (and its SFT model).
    fn is_recommendation(self) -> bool {
        matches!(self, Self::Sdpo | Self::Rosepo)
    }
}

/// Runs every table in `which` once per seed of `seeds` (from the config's seed on): with one
/// seed, the report of [`run_tables`]; with more, each seed's report in `out/seed-<s>/` and the
/// report over seeds in `out`.
pub fn run_seeds(
    config: ExperimentConfig,
    out: &Path,
    which: &[TableId],
    title: &str,
    command: &str,
    seeds: u64,
    resume: bool,
) -> Result<Report> {
    if seeds <= 1 {
        return run_tables(config, out, which, title, command, resume);
    }
    let start = Instant::now();
    let mut runs = Vec::new();
    for seed in (0..seeds).map(|i| config.seed.wrapping_add(i)) {
        eprintln!("seed {seed} ({} of {seeds})", runs.len() + 1);
        let seed_config = ExperimentConfig {
            seed,
            ..config.clone()
        };
        let dir = out.join(format!("seed-{seed}"));
        runs.push((
            seed,
            run_tables(seed_config, &dir, which, title, command, resume)?,
        ));
    }
    let report = crate::report::seeds::over_seeds(&runs, out, start.elapsed().as_secs_f64())?;
    report.write(out, &config)?;
    eprintln!(
        "wrote {} over {seeds} seeds ({:.1} s)",
        out.join("results.md").display(),
        start.elapsed().as_secs_f64()
    );
    Ok(report)
}

/// Runs every table in `which` (the recommendation tables from one SFT model) and writes the
/// report. Every run is checkpointed in `out/checkpoints`; with `resume`, a killed command
/// continues from there (finished runs and tables keep their results).
pub fn run_tables(
    config: ExperimentConfig,
    out: &Path,
    which: &[TableId],
    title: &str,
    command: &str,
    resume: bool,
) -> Result<Report> {
    let start = Instant::now();
    // Read before training: the checkout may move while a long run trains.
    let revision = git_revision();
    crate::common::output::check_writable(out)?;
    let checkpoints = Checkpoints::open(out, &config.to_toml()?, resume)?;
    let mut sections = Vec::new();
    let (mut data, mut data_rows, mut model) = (Vec::new(), Vec::new(), Vec::new());
    let rec: Vec<TableId> = which
        .iter()
        .copied()
        .filter(|t| t.is_recommendation())
        .collect();
    if !rec.is_empty() {
        let pipeline = RecPipeline::new(config.clone())?;
        // Runs train `workers` at a time, each with its own checkpoints.
        let one_run = crate::common::output::checkpoint_bytes(
            pipeline.model_config.parameter_count(),
            prefopt_models::lora::trainable_params(&pipeline.initial_model()?),
        );
        crate::common::output::check_space(
            out,
            one_run.saturating_mul(config.workers.max(1) as u64 + 1),
            "the checkpoints of the runs training at once (and SFT's)",
        )?;
        sections.extend(run_recommendation_tables(
            &pipeline,
            out,
            &rec,
            &checkpoints,
        )?);
        data.push(config.data.dir.display().to_string());
        data_rows.push(pipeline.describe_data());
        model.push(describe_rec_model(&config, &pipeline));
    }
    let personal = crate::personal::PersonalContext {
        config: &config,
        out,
    };
    for &table in which.iter().filter(|t| !t.is_recommendation()) {
        eprintln!("table: {table:?}");
        let name = format!("table {table:?}");
        let section = match checkpoints.finished(&name)? {
            Some(section) => {
                eprintln!("  finished before (kept)");
                section
            }
            None => {
                let section = match table {
                    TableId::Prlhf => crate::prlhf::run(&personal)?,
                    TableId::Lore => crate::lore::run(&personal)?,
                    _ => crate::rpo::run(&personal)?,
                };
                checkpoints.finish(&name, &section)?;
                section
            }
        };
        sections.push(section);
        let (what, preset) = match table {
            TableId::Prlhf => (
                "P-RLHF: conflicting preferences",
                Some(&config.prlhf.preset),
            ),
            TableId::Lore => ("LoRe: basis-reward mixtures (features)", None),
            _ => ("RPO: prompt families", Some(&config.rpo.preset)),
        };
        data.push(what.to_string());
        if let Some(preset) = preset {
            model.push(format!(
                "{what}: {}",
                crate::personal::text_policy::describe_policy(&config, preset)
            ));
        }
    }
    if which.iter().any(|t| !t.is_recommendation()) {
        data_rows.push("personalization data: see each section".into());
    }
    let report = Report {
        meta: Meta {
            title: title.into(),
            command: command.into(),
            seed: config.seed,
            seeds: Vec::new(),
            git_revision: revision,
            data: data.join("; "),
            data_rows: data_rows.join("; "),
            model: model.join("; "),
            device: format!(
                "{}, {} worker threads on {} cores",
                config.device,
                config.workers,
                std::thread::available_parallelism().map_or(0, |n| n.get())
            ),
            elapsed_seconds: start.elapsed().as_secs_f64(),
        },
        sections,
        eval: None,
    };
    report.write(out, &config)?;
    checkpoints.complete()?;
    eprintln!(
        "wrote {} ({:.1} s)",
        out.join("results.md").display(),
        start.elapsed().as_secs_f64()
    );
    Ok(report)
}

/// The recommendation policy in words for the report header: checkpoint, custom or preset,
/// with its LoRA adapters.
fn describe_rec_model(config: &ExperimentConfig, pipeline: &RecPipeline) -> String {
    let lora = config.lora.as_ref().map_or(String::new(), |l| {
        format!(
            ", LoRA r = {} α = {} on {:?}",
            l.rank, l.alpha, l.target_modules
        )
    });
    match (&config.model.checkpoint, &config.model.transformer) {
        (Some(dir), _) => format!(
            "checkpoint `{}`: d_model {}, {} layers, {} parameters (text tokens{}){lora}",
            dir.display(),
            pipeline.model_config.d_model,
            pipeline.model_config.layers,
            pipeline.model_config.parameter_count(),
            if pipeline.tokenizer.uses_chat_template() {
                ", prompts in its chat template"
            } else {
                ""
            }
        ),
        (None, Some(t)) => format!(
            "custom transformer, {} parameters{lora}",
            t.parameter_count()
        ),
        (None, None) => {
            format!(
                "`{}` preset: d_model {}, {} layers, {} heads, {} parameters (item tokens)",
                config.model.preset,
                pipeline.model_config.d_model,
                pipeline.model_config.layers,
                pipeline.model_config.heads,
                pipeline.model_config.parameter_count()
            ) + &lora
        }
    }
}

/// SFT once on the recommendation data, then every recommendation table from that model.
fn run_recommendation_tables(
    pipeline: &RecPipeline,
    out: &Path,
    which: &[TableId],
    checkpoints: &Checkpoints,
) -> Result<Vec<crate::report::Section>> {
    let data_rows = pipeline.describe_data();
    eprintln!("data: {} ({data_rows})", pipeline.dataset.dir.display());
    eprintln!(
        "model: {} parameters; SFT for {} epochs",
        pipeline.model_config.parameter_count(),
        pipeline.config.sft.epochs
    );
    let mut sft = pipeline.sft(Some(&out.join("logs")), Some(checkpoints))?;
    // A resumed command's SFT did no update again: its run and evaluation are the kept ones.
    let sft_evaluation = match checkpoints.finished::<(Run, Evaluation)>("sft")? {
        Some((run, evaluation)) => {
            sft.run = run;
            evaluation
        }
        None => {
            let evaluation = pipeline.evaluate_test(sft.model())?;
            evaluation.write_answers(
                &out.join("logs")
                    .join(crate::rec::table::answers_file("SFT")),
                &pipeline.dataset.items.titles,
            )?;
            checkpoints.keep("sft", &(&sft.run, &evaluation))?;
            evaluation
        }
    };
    eprintln!(
        "  SFT{:<37} HR@1 {:.3}   ({:.1} s)",
        "",
        sft_evaluation.hit_ratio_at_1(),
        sft.run.seconds
    );
    let context = TableContext {
        pipeline,
        sft: &sft,
        sft_evaluation: &sft_evaluation,
        out,
        verbose: true,
        checkpoints: Some(checkpoints),
    };
    let mut sections = Vec::new();
    for table in which {
        eprintln!("table: {table:?}");
        sections.push(match table {
            TableId::Rosepo => crate::rosepo::run(&context)?,
            _ => crate::sdpo::run(&context)?,
        });
    }
    Ok(sections)
}

/// The command line as typed, for the report.
pub fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            Path::new(&p)
                .file_name()
                .map_or(p.clone(), |n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `main` of a table binary: parse `TableArgs`, run, print an error without a backtrace
/// and exit non-zero on failure.
pub fn table_main(args: &TableArgs, which: &[TableId], title: &str) -> std::process::ExitCode {
    finish(args.config().and_then(|config| {
        run_seeds(
            config,
            &args.out,
            which,
            title,
            &command_line(),
            args.seeds,
            args.resume,
        )
    }))
}

/// Exits zero on success; prints the error without a backtrace and exits non-zero otherwise.
pub fn finish<T>(result: Result<T>) -> std::process::ExitCode {
    match result {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
