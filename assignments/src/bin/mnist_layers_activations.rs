//! `mnist_layers_activations`: trains the course's MLP and prints one line per epoch,
//! `Epoch 1/10 1.7s loss=... accuracy=... dev:loss=... dev:accuracy=...`.
//! `NPFL_KERNEL=scalar|avx2|avx512|auto` forces a matmul kernel.

use std::io::Write;

use anyhow::Context;
use assignments::logging::EpochLine;
use assignments::mnist_layers_activations::{Args, train};
use clap::Parser;
use datasets::Sizes;
use npfl_core::matmul::Kernel;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kernel = match std::env::var("NPFL_KERNEL") {
        Ok(name) if !name.is_empty() => Some(name.parse::<Kernel>().context("NPFL_KERNEL")?),
        _ => None,
    };
    let mnist = args.data.load(Sizes::default())?;
    let epochs = args.epochs as usize;
    let mut stdout = std::io::stdout().lock();
    let mut failed = None;
    train(&args, &mnist, kernel, &mut |_| {}, &mut |logs| {
        let entries = logs.entries();
        let line = EpochLine {
            epoch: logs.epoch,
            epochs,
            elapsed: logs.elapsed,
            logs: &entries,
        };
        if failed.is_none()
            && let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush())
        {
            failed = Some(e);
        }
    })?;
    if let Some(e) = failed {
        return Err(e).context("writing to stdout");
    }
    Ok(())
}
