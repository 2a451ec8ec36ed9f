//! The lecture's two example scripts, `labs/01/example_pytorch.py` and
//! `labs/01/example_pytorch_tensorboard.py`: the course's MLP
//! `Sequential(Flatten(), Linear(784, hidden), ReLU(), Linear(hidden, 10))` trained on MNIST with
//! Adam, then evaluated on the test set.
//!
//! Both print `The following model has been created: ` and the model as PyTorch prints a
//! `Sequential`, the epoch lines, and `Evaluation {elapsed}s test:loss=... test:accuracy=...`.
//! The TensorBoard one also logs to `logs/example_pytorch_tensorboard-{timestamp}-{config}`:
//! the `Config epoch=0 ...` line (stdout, `logs.txt`, TensorBoard text `config`), `graph.txt`
//! (its `# Sequential Module` section: the traced TorchScript sections are torch's own and are
//! not written), the epoch and evaluation lines in `logs.txt` and the `train/`, `dev/` and `test/`
//! TensorBoard scalars. The TensorBoard graph (`add_graph`) is not written.
//!
//! The recipe is `mnist_layers_activations --hidden_layers=1 --activation=relu` without
//! `--recodex`, so the initial weights and batch orders are torch's own streams
//! ([`crate::mnist_layers_activations::trainer`]).

use std::fmt;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser};
use npfl_core::nn::{Activation, Logs, MlpConfig};

use crate::cli::{Stdout, int_flag};
use crate::common::{CommonArgs, require_examples};
use crate::fit::{FitReporter, LogdirSpec};
use crate::logging::{ConfigValue, format_metrics};
use crate::mnist_layers_activations::{self as mla, examples};

/// Which of the two scripts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// `example_pytorch.py`: no log directory.
    Plain,
    /// `example_pytorch_tensorboard.py`: a log directory, the config and the graph logged.
    TensorBoard,
}

impl Script {
    /// The script's (and binary's) name.
    pub fn name(self) -> &'static str {
        match self {
            Script::Plain => "example_pytorch",
            Script::TensorBoard => "example_pytorch_tensorboard",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Script::Plain => {
                "The lecture's example: train an MLP on MNIST and evaluate it on the test set"
            }
            Script::TensorBoard => {
                "The lecture's example with logs: train an MLP on MNIST, evaluate it on the test set, \
                 log to logs/ (logs.txt, graph.txt, TensorBoard)"
            }
        }
    }
}

/// The scripts' flags (same names and defaults), plus `--dataset`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "example_pytorch",
    rename_all = "snake_case",
    infer_long_args = true
)]
pub struct Args {
    /// Batch size.
    #[arg(
        long,
        default_value_t = 50,
        allow_negative_numbers = true,
        value_parser = int_flag(1, u64::MAX, "a positive integer"),
    )]
    pub batch_size: u64,
    /// Number of epochs.
    #[arg(
        long,
        default_value_t = 10,
        allow_negative_numbers = true,
        value_parser = int_flag(0, u64::MAX, "a non-negative integer"),
    )]
    pub epochs: u64,
    /// Size of the hidden layer.
    #[arg(
        long,
        default_value_t = 100,
        allow_negative_numbers = true,
        value_parser = int_flag(1, u64::MAX, "a positive integer"),
    )]
    pub hidden_layer_size: u64,
    /// `--seed`, `--threads` and `--dataset` (the scripts have no `--recodex`), and the kernel.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl AsMut<CommonArgs> for Args {
    fn as_mut(&mut self) -> &mut CommonArgs {
        &mut self.common
    }
}

/// `args.seed`, `args.threads`, ... as in the course's flat `argparse` namespace.
impl Args {
    /// Parses the process's arguments for `script` (its name in `--help` and in usage errors;
    /// a bad flag is clap's usage error, exit code 2) and applies the environment
    /// ([`CommonArgs::apply_env`]).
    ///
    /// # Errors
    /// A bad `NPFL_KERNEL`.
    pub fn parse_for(script: Script) -> anyhow::Result<Self> {
        let matches = Args::command()
            .name(script.name())
            .bin_name(script.name())
            .about(script.about())
            .get_matches();
        let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        args.common.apply_env()?;
        Ok(args)
    }

    /// `vars(args)`: the scripts' five arguments, plus `dataset` when it is not the default `mnist`
    /// (so that runs on other data get other directories), for the log directory's name and the
    /// `Config` line.
    pub(crate) fn config(&self) -> Vec<(&'static str, ConfigValue)> {
        let mut config = vec![
            ("batch_size", ConfigValue::Int(self.batch_size as i64)),
            ("epochs", ConfigValue::Int(self.epochs as i64)),
            (
                "hidden_layer_size",
                ConfigValue::Int(self.hidden_layer_size as i64),
            ),
        ];
        config.extend(self.common.config());
        config.extend(self.common.dataset_config());
        config
    }

    /// The same training as `mnist_layers_activations` with these flags, one ReLU hidden layer
    /// and no `--recodex` (`startup(seed, threads)`).
    pub fn recipe(&self) -> mla::Args {
        mla::Args {
            activation: Activation::Relu,
            batch_size: self.batch_size,
            epochs: self.epochs,
            hidden_layer_size: self.hidden_layer_size,
            hidden_layers: 1,
            recodex: false,
            common: self.common.clone(),
        }
    }
}

/// PyTorch's `repr` of the course's MLP as a `torch.nn.Sequential`: `Flatten`, then per hidden
/// layer a `Linear` and the activation module (`ReLU()`, `Tanh()`, `Sigmoid()`; none for `none`),
/// then the output `Linear`, numbered from 0 and indented by two spaces.
///
/// ```
/// use assignments::example_pytorch::sequential_repr;
/// use npfl_core::nn::{Activation, MlpConfig};
/// let config = MlpConfig { inputs: 784, hidden_layers: 0, hidden_layer_size: 100, outputs: 10,
///                          activation: Activation::None };
/// assert_eq!(sequential_repr(&config), "Sequential(\n  (0): Flatten(start_dim=1, end_dim=-1)\n  \
///     (1): Linear(in_features=784, out_features=10, bias=True)\n)");
/// ```
pub fn sequential_repr(config: &MlpConfig) -> String {
    let mut modules = vec!["Flatten(start_dim=1, end_dim=-1)".to_owned()];
    let linear =
        |i: usize, o: usize| format!("Linear(in_features={i}, out_features={o}, bias=True)");
    let mut inputs = config.inputs;
    for _ in 0..config.hidden_layers {
        modules.push(linear(inputs, config.hidden_layer_size));
        match config.activation {
            Activation::None => {}
            Activation::Relu => modules.push("ReLU()".to_owned()),
            Activation::Tanh => modules.push("Tanh()".to_owned()),
            Activation::Sigmoid => modules.push("Sigmoid()".to_owned()),
        }
        inputs = config.hidden_layer_size;
    }
    modules.push(linear(inputs, config.outputs));
    let mut out = "Sequential(\n".to_owned();
    for (i, module) in modules.iter().enumerate() {
        out.push_str(&format!("  ({i}): {module}\n"));
    }
    out.push(')');
    out
}

/// What the course's `FileSystemLogger.log_graph` writes into `graph.txt` before the TorchScript
/// sections: `# Sequential Module`, the model's `repr` and a blank line.
pub fn graph_txt(config: &MlpConfig) -> String {
    format!("# Sequential Module\n{}\n\n", sequential_repr(config))
}

/// What a run returns: the test set's logs. Its `Display` is their entries
/// (`test:loss=0.2500 test:accuracy=0.9000`), already printed on the `Evaluation` line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report(pub Logs);

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Logs { loss, accuracy } = self.0;
        f.write_str(&format_metrics(&[
            ("test:loss", f64::from(loss)),
            ("test:accuracy", f64::from(accuracy)),
        ]))
    }
}

/// Runs `script` with `args` as the course's script does, printing to `out`.
///
/// # Errors
/// Bad `NPFL_PROGRESS*` values, a log directory that cannot be created, loading the data (or an
/// empty split), a forced kernel this CPU cannot run, writing stdout or the logs.
pub fn run(script: Script, args: &Args, out: &mut Stdout) -> anyhow::Result<Report> {
    let config = args.config();
    let logdir = (script == Script::TensorBoard).then_some(LogdirSpec {
        name: script.name(),
        config: &config,
    });
    let mut reporter = FitReporter::from_env(out, logdir)?;
    // Dataset(mnist.train), Dataset(mnist.dev), Dataset(mnist.test): TransformedDatasets, which
    // NPFL_DATASET_LIMIT caps.
    let mnist = args.common.load_transformed()?;
    require_examples(&[
        ("train", &mnist.train),
        ("dev", &mnist.dev),
        ("test", &mnist.test),
    ])?;
    let train = examples(&mnist.train).context("the train split")?;
    let dev = examples(&mnist.dev).context("the dev split")?;
    let test = examples(&mnist.test).context("the test split")?;
    let mut trainer = mla::trainer(&args.recipe(), train.dim())?;
    let model = trainer.model().config();
    reporter.print(&format!(
        "The following model has been created: {}",
        sequential_repr(&model)
    ))?;
    let epochs = args.epochs as usize;
    let graph = graph_txt(&model);
    let graph = (script == Script::TensorBoard).then_some(graph.as_str());
    if script == Script::TensorBoard {
        reporter.log_config(&config, trainer.epoch())?;
    }
    reporter.fit(epochs, graph, |on_batch, on_epoch| {
        Ok(trainer.fit(&train, Some(&dev), epochs, on_batch, on_epoch)?)
    })?;
    let step = trainer.epoch();
    let logs = reporter.evaluate("test", step, |on_batch| {
        Ok(trainer.evaluate(&test, on_batch)?)
    })?;
    Ok(Report(logs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_the_course_ones() {
        let args = Args::try_parse_from(["x"]).unwrap();
        assert_eq!(
            (
                args.batch_size,
                args.epochs,
                args.hidden_layer_size,
                args.common.seed,
                args.common.threads
            ),
            (50, 10, 100, 42, 1)
        );
        assert_eq!(args.common.dataset, datasets::DatasetSource::Mnist);
        assert!(Args::try_parse_from(["x", "--activation=relu"]).is_err());
        assert!(Args::try_parse_from(["x", "--recodex"]).is_err());
        let args = Args::try_parse_from(["x", "--hidden=20", "--batch_size=+7"]).unwrap();
        assert_eq!((args.hidden_layer_size, args.batch_size), (20, 7));
        let recipe = args.recipe();
        assert_eq!(
            (recipe.hidden_layers, recipe.activation, recipe.recodex),
            (1, Activation::Relu, false)
        );
    }

    #[test]
    fn config_line_and_logdir_are_the_course_ones() {
        let args = Args::try_parse_from(["x"]).unwrap();
        assert_eq!(
            crate::logging::format_config_as_text(&args.config(), 0),
            "Config epoch=0 batch_size=50 epochs=10 hidden_layer_size=100 seed=42 threads=1"
        );
        let dir = crate::logging::format_logdir(
            "logs/{file-}{timestamp}{-config}",
            Some(Script::TensorBoard.name()),
            &args.config(),
            "20261127_091632",
        )
        .unwrap();
        let sep = std::path::MAIN_SEPARATOR;
        assert_eq!(
            dir,
            format!(
                "logs{sep}example_pytorch_tensorboard-20261127_091632-bs=50,e=10,hls=100,s=42,t=1"
            )
        );
    }

    #[test]
    fn the_model_as_pytorch_prints_it() {
        let config = MlpConfig {
            inputs: 784,
            hidden_layers: 1,
            hidden_layer_size: 100,
            outputs: 10,
            activation: Activation::Relu,
        };
        // print(torch.nn.Sequential(Flatten(), Linear(784, 100), ReLU(), Linear(100, 10)))
        assert_eq!(
            sequential_repr(&config),
            "Sequential(\n  (0): Flatten(start_dim=1, end_dim=-1)\n  (1): Linear(in_features=784, out_features=100, bias=True)\n  (2): ReLU()\n  (3): Linear(in_features=100, out_features=10, bias=True)\n)"
        );
        let deeper = MlpConfig {
            hidden_layers: 2,
            activation: Activation::Tanh,
            hidden_layer_size: 8,
            ..config
        };
        assert_eq!(
            sequential_repr(&deeper),
            "Sequential(\n  (0): Flatten(start_dim=1, end_dim=-1)\n  (1): Linear(in_features=784, out_features=8, bias=True)\n  (2): Tanh()\n  (3): Linear(in_features=8, out_features=8, bias=True)\n  (4): Tanh()\n  (5): Linear(in_features=8, out_features=10, bias=True)\n)"
        );
        assert!(graph_txt(&config).starts_with("# Sequential Module\nSequential(\n"));
        assert!(graph_txt(&config).ends_with(")\n\n"));
    }
}
