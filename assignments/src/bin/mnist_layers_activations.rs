//! `mnist_layers_activations`: trains the course's MLP and prints one line per epoch,
//! `Epoch 1/10 1.7s loss=... accuracy=... dev:loss=... dev:accuracy=...`, with a progress bar on
//! stderr and the log directory `logs/mnist_layers_activations-{timestamp}-{config}` (`logs.txt`,
//! TensorBoard `train/` and `dev/`), as the course's `TrainableModule.fit` does.
//! Environment: `NPFL_KERNEL=scalar|avx2|avx512|auto` forces a matmul kernel; `NPFL_PROGRESS`,
//! `NPFL_PROGRESS_EACH`, `NPFL_PROGRESS_FIRST` as in the course; the dataset variables of `--dataset`.

use std::io::Write;
use std::process::ExitCode;

use assignments::cli::{self, Stdout};
use assignments::logging::{
    EpochLine, Progress, ProgressConfig, TrainingLogger, format_logdir, local_timestamp,
};
use assignments::mnist_layers_activations::{Args, train};
use clap::Parser;
use npfl_core::matmul::Kernel;

fn main() -> ExitCode {
    cli::main("mnist_layers_activations", run)
}

fn run(out: &mut Stdout) -> anyhow::Result<()> {
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
    // The course wraps train and dev in TransformedDatasets, which NPFL_DATASET_LIMIT caps.
    let mnist = args.data.load_transformed()?;
    for (name, split) in [("train", &mnist.train), ("dev", &mnist.dev)] {
        if split.is_empty() {
            let limit = std::env::var(datasets::DATASET_LIMIT_VAR)
                .map(|v| format!(" ({}={v})", datasets::DATASET_LIMIT_VAR))
                .unwrap_or_default();
            anyhow::bail!("the {name} split has no examples{limit}");
        }
    }
    let epochs = args.epochs as usize;
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
            let written = if print_lines {
                writeln!(out, "{line}").and_then(|()| out.flush())
            } else {
                Ok(())
            };
            let logged = logger.log_epoch(&line, logs.epoch, &entries);
            if out.is_closed() {
                // `| head -1`: nobody reads the epoch lines any more. This epoch is in logs.txt;
                // stop quietly, as training cannot be cut short from here.
                cli::exit_stdout_closed();
            }
            if let Err(e) = written {
                failed = Some(anyhow::Error::new(e));
                return;
            }
            if let Err(e) = logged {
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
