//! `mnist_layers_activations`: trains the course's MLP and prints one line per epoch,
//! `Epoch 1/10 1.7s loss=... accuracy=... dev:loss=... dev:accuracy=...`, with a progress bar on
//! stderr and the log directory `logs/mnist_layers_activations-{timestamp}-{config}` (`logs.txt`,
//! TensorBoard `train/` and `dev/`), as the course's `TrainableModule.fit` does.
//! Environment: `NPFL_KERNEL=scalar|avx2|avx512|auto` forces a matmul kernel; `NPFL_PROGRESS`,
//! `NPFL_PROGRESS_EACH`, `NPFL_PROGRESS_FIRST` as in the course; the dataset variables of `--dataset`.

use std::process::ExitCode;

use assignments::cli::{self, Stdout};
use assignments::common::{kernel_from_env, require_examples};
use assignments::fit::FitReporter;
use assignments::logging::{
    Progress, ProgressConfig, TrainingLogger, format_logdir, local_timestamp,
};
use assignments::mnist_layers_activations::{Args, train};
use clap::Parser;

fn main() -> ExitCode {
    cli::main("mnist_layers_activations", run)
}

fn run(out: &mut Stdout) -> anyhow::Result<()> {
    let args = Args::parse();
    let kernel = kernel_from_env()?;
    let progress = Progress::new(ProgressConfig::from_env()?);
    let logdir = format_logdir(
        "logs/{file-}{timestamp}{-config}",
        Some("mnist_layers_activations"),
        &args.config(),
        &local_timestamp(),
    )?;
    let logger = TrainingLogger::new(logdir.into());
    // The course wraps train and dev in TransformedDatasets, which NPFL_DATASET_LIMIT caps.
    let mnist = args.data.load_transformed()?;
    require_examples(&[("train", &mnist.train), ("dev", &mnist.dev)])?;
    let mut reporter = FitReporter::new(out, progress, Some(logger));
    reporter.fit(args.epochs as usize, None, |on_batch, on_epoch| {
        train(&args, &mnist, kernel, on_batch, on_epoch)
    })?;
    Ok(())
}
