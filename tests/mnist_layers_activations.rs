//! Grader suite for `mnist_layers_activations`: the quality table of issue 6 (one epoch, seed 42, the
//! course's defaults otherwise) on `mnist_npm10k.npz` and on Fashion-MNIST, snapshots of the course's
//! ReCodEx-mode epoch lines (time masked) with the scalar kernel, whose results are the same on every
//! x86-64 CPU, and thread-count independence on real data.
//!
//! Data: `../shared/data/mnist_npm10k.npz` (or `$NPFL138_SHARED_DATA`), Fashion-MNIST in
//! `/usr/share/datasets/fashion-mnist` (or `$NPFL138_FASHION_MNIST_DIR`). Missing data skips a test with
//! a message on stderr, unless `NPFL138_REQUIRE_DATA=1`.

use std::path::PathBuf;

use assignments::logging::EpochLine;
use assignments::mnist_layers_activations::{Args, dev_results, train};
use clap::Parser;
use datasets::{Mnist, Sizes};
use npfl_core::matmul::Kernel;
use npfl_core::nn::EpochLogs;

fn require_data() -> bool {
    std::env::var("NPFL138_REQUIRE_DATA").is_ok_and(|v| v == "1")
}

/// Loads the data, or returns `None` (after saying why) when it is absent and not required.
fn load(test: &str, which: &str) -> Option<Mnist> {
    let (path, result) = match which {
        "npm10k" => {
            let dir = std::env::var_os("NPFL138_SHARED_DATA").map_or_else(
                || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")),
                PathBuf::from,
            );
            let path = dir.join("mnist_npm10k.npz");
            if !path.exists() {
                (path, None)
            } else {
                let r = Mnist::from_npz(&path, Sizes::default());
                (path, Some(r))
            }
        }
        _ => {
            let dir = std::env::var_os("NPFL138_FASHION_MNIST_DIR").map_or_else(
                || PathBuf::from("/usr/share/datasets/fashion-mnist"),
                PathBuf::from,
            );
            if !dir.join("train-images-idx3-ubyte.gz").exists() {
                (dir, None)
            } else {
                let r = Mnist::from_idx_dir(&dir, Sizes::default());
                (dir, Some(r))
            }
        }
    };
    match result {
        Some(r) => Some(r.unwrap_or_else(|e| panic!("{}: {e}", path.display()))),
        None if require_data() => panic!(
            "{test}: {} is missing and NPFL138_REQUIRE_DATA=1",
            path.display()
        ),
        None => {
            eprintln!("skipping {test}: {} is missing", path.display());
            None
        }
    }
}

const CONFIGS: [(u64, &str); 6] = [
    (0, "none"),
    (1, "none"),
    (1, "relu"),
    (1, "tanh"),
    (1, "sigmoid"),
    (3, "relu"),
];

fn args(hidden_layers: u64, activation: &str, extra: &[&str]) -> Args {
    let mut argv = vec![
        "mnist_layers_activations".to_string(),
        "--epochs=1".into(),
        format!("--hidden_layers={hidden_layers}"),
        format!("--activation={activation}"),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    Args::try_parse_from(argv).unwrap()
}

fn run(args: &Args, mnist: &Mnist, kernel: Option<Kernel>) -> Vec<EpochLogs> {
    train(args, mnist, kernel, &mut |_| {}, &mut |_| {}).unwrap()
}

fn line(logs: &EpochLogs, epochs: usize) -> String {
    let entries = logs.entries();
    EpochLine {
        epoch: logs.epoch,
        epochs,
        elapsed: logs.elapsed,
        logs: &entries,
    }
    .to_string()
}

fn check_quality(test: &str, which: &str, minimum: [f64; 6]) {
    let Some(mnist) = load(test, which) else {
        return;
    };
    let mut report = Vec::new();
    for ((hidden_layers, activation), min) in CONFIGS.into_iter().zip(minimum) {
        let logs = run(&args(hidden_layers, activation, &[]), &mnist, None);
        let dev = dev_results(logs.last().unwrap());
        assert_eq!(
            dev.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            ["dev:loss", "dev:accuracy"]
        );
        let accuracy = dev[1].1;
        report.push(format!(
            "{hidden_layers} {activation}: {}",
            line(&logs[0], 1)
        ));
        assert!(
            accuracy >= min,
            "{which} {hidden_layers} {activation}: dev accuracy {accuracy} < {min}\n{}",
            report.join("\n")
        );
    }
    eprintln!("{}", report.join("\n"));
}

#[test]
fn quality_mnist_npm10k() {
    check_quality(
        "quality_mnist_npm10k",
        "npm10k",
        [0.83, 0.89, 0.89, 0.89, 0.84, 0.89],
    );
}

#[test]
fn quality_fashion_mnist() {
    check_quality(
        "quality_fashion_mnist",
        "fashion",
        [0.815, 0.83, 0.84, 0.845, 0.83, 0.845],
    );
}

/// The course's six ReCodEx tests (`--recodex --epochs=1`) on `mnist_npm10k.npz` with the scalar
/// kernel: the epoch lines with the time masked.
#[test]
fn recodex_lines_mnist_npm10k() {
    let Some(mnist) = load("recodex_lines_mnist_npm10k", "npm10k") else {
        return;
    };
    let mut lines = Vec::new();
    for (hidden_layers, activation) in CONFIGS {
        let logs = run(
            &args(hidden_layers, activation, &["--recodex"]),
            &mnist,
            Some(Kernel::Scalar),
        );
        lines.push(format!(
            "--recodex --epochs=1 --hidden_layers={hidden_layers} --activation={activation}\n{}",
            line(&logs[0], 1)
        ));
    }
    insta::with_settings!({filters => vec![(r" \d+\.\d+s ", " [TIME]s ")]}, {
        insta::assert_snapshot!(lines.join("\n"));
    });
}

/// Three epochs without `--recodex` (global stream), scalar kernel.
#[test]
fn three_epochs_mnist_npm10k() {
    let Some(mnist) = load("three_epochs_mnist_npm10k", "npm10k") else {
        return;
    };
    let mut args = args(1, "relu", &[]);
    args.epochs = 3;
    let logs = run(&args, &mnist, Some(Kernel::Scalar));
    let lines: Vec<String> = logs.iter().map(|l| line(l, 3)).collect();
    insta::with_settings!({filters => vec![(r" \d+\.\d+s ", " [TIME]s ")]}, {
        insta::assert_snapshot!(lines.join("\n"));
    });
}

#[test]
fn threads_do_not_change_results() {
    let Some(mnist) = load("threads_do_not_change_results", "npm10k") else {
        return;
    };
    for kernel in [None, Some(Kernel::Scalar)] {
        let one = run(&args(3, "tanh", &["--threads=1"]), &mnist, kernel);
        let two = run(&args(3, "tanh", &["--threads=2"]), &mnist, kernel);
        assert_eq!(one[0].train, two[0].train, "{kernel:?}");
        assert_eq!(one[0].dev, two[0].dev, "{kernel:?}");
    }
}
