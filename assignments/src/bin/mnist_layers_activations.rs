//! `mnist_layers_activations`: trains the course's MLP and prints one line per epoch,
//! `Epoch 1/10 1.7s loss=... accuracy=... dev:loss=... dev:accuracy=...`, with a progress bar on
//! stderr and the log directory `logs/mnist_layers_activations-{timestamp}-{config}` (`logs.txt`,
//! TensorBoard `train/` and `dev/`), as the course's `TrainableModule.fit` does.
//! Environment: `NPFL_KERNEL=scalar|avx2|avx512|auto` forces a matmul kernel; `NPFL_PROGRESS`,
//! `NPFL_PROGRESS_EACH`, `NPFL_PROGRESS_FIRST` as in the course; the dataset variables of `--dataset`.

use std::io::Write;

use assignments::logging::{
    EpochLine, Progress, ProgressConfig, TrainingLogger, format_logdir, local_timestamp,
};
use assignments::mnist_layers_activations::{Args, train};
use clap::Parser;
use datasets::Sizes;
use npfl_core::matmul::Kernel;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kernel = match std::env::var("NPFL_KERNEL") {
        Ok(name) if !name.is_empty() => Some(
            name.parse::<Kernel>()
                .map_err(|e| anyhow::anyhow!("NPFL_KERNEL: {e}"))?,
        ),
        _ => None,
    };
    let mut progress = Progress::new(ProgressConfig::from_env()?);
    let print_lines = progress.print_epoch_lines();
    let logdir = format_logdir(
        "logs/{file-}{timestamp}{-config}",
        Some("mnist_layers_activations"),
        &args.config(),
        &local_timestamp(),
    )?;
    let mut logger = TrainingLogger::new(logdir.into());
    let mnist = args.data.load(Sizes::default())?;
    let epochs = args.epochs as usize;
    let mut stdout = std::io::stdout().lock();
    let mut failed: Option<anyhow::Error> = None;
    train(
        &args,
        &mnist,
        kernel,
        &mut |event| {
            if event.batch == 1 {
                match event.epoch {
                    Some(epoch) => progress.start_epoch(epoch, epochs, event.batches),
                    None => progress.start_evaluation(event.batches),
                }
            }
            let (loss, accuracy) = (f64::from(event.logs.loss), f64::from(event.logs.accuracy));
            match event.epoch {
                Some(_) => progress.batch_done(&[("loss", loss), ("accuracy", accuracy)]),
                None => progress.batch_done(&[("dev:loss", loss), ("dev:accuracy", accuracy)]),
            }
            if event.batch == event.batches {
                progress.finish();
            }
        },
        &mut |logs| {
            if failed.is_some() {
                return;
            }
            let entries = logs.entries();
            let line = EpochLine {
                epoch: logs.epoch,
                epochs,
                elapsed: logs.elapsed,
                logs: &entries,
            }
            .to_string();
            if print_lines && let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush())
            {
                failed = Some(anyhow::Error::new(e).context("writing to stdout"));
                return;
            }
            if let Err(e) = logger.log_epoch(&line, logs.epoch, &entries) {
                failed = Some(
                    anyhow::Error::new(e)
                        .context(format!("writing the logs in {}", logger.logdir().display())),
                );
            }
        },
    )?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
