//! `mnist_layers_activations`: an MLP with N hidden layers and a chosen activation, trained with Adam.
//!
//! The course's `labs/01/mnist_layers_activations.py`: `startup(seed, threads, recodex)`, Keras-style
//! initialisation, `Flatten`, `hidden_layers` x (`Linear(hidden_layer_size)`, activation), `Linear(10)`,
//! Adam with torch's defaults, `CrossEntropyLoss`, accuracy, and `fit(train, dev, epochs)`, with the
//! initial weights and batch orders of torch's own random streams ([`npfl_core::nn::CourseRng`]).
//! [`train`] runs it and reports every epoch through a callback; the binary prints the lines.

use std::fmt;

use anyhow::Context;
use clap::Parser;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use datasets::{Mnist, Split};
use npfl_core::nn::{
    Activation, AdamConfig, BatchEvent, CourseRng, EpochLogs, Examples, Features, Mlp, MlpConfig,
    Trainer,
};

use crate::cli::{Stdout, int_flag};
use crate::common::{CommonArgs, require_examples};
use crate::fit::{FitReporter, LogdirSpec};
use crate::logging::{ConfigValue, format_metrics};

/// The binary's name, which also names its log directories.
pub const NAME: &str = "mnist_layers_activations";

/// The course's flags (same names, defaults and choices), plus `--dataset`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "mnist_layers_activations",
    rename_all = "snake_case",
    infer_long_args = true,
    about = "Train the course's MLP on MNIST with Adam"
)]
pub struct Args {
    /// Activation.
    #[arg(long, default_value = "none", value_parser = activation_parser())]
    pub activation: Activation,
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
    /// Number of layers.
    #[arg(
        long,
        default_value_t = 1,
        allow_negative_numbers = true,
        value_parser = int_flag(0, u64::MAX, "a non-negative integer"),
    )]
    pub hidden_layers: u64,
    /// Evaluation in ReCodEx.
    #[arg(long)]
    pub recodex: bool,
    /// `--seed`, `--threads`, `--dataset` and the kernel.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl AsMut<CommonArgs> for Args {
    fn as_mut(&mut self) -> &mut CommonArgs {
        &mut self.common
    }
}

/// `args.seed`, `args.threads`, ... as in the course's flat `argparse` namespace.
/// `none`, `relu`, `tanh` or `sigmoid`, listed in `--help` and in the error for anything else.
fn activation_parser() -> impl TypedValueParser<Value = Activation> {
    PossibleValuesParser::new(Activation::ALL.map(Activation::name)).map(|name| {
        name.parse::<Activation>()
            .expect("one of Activation::ALL's names")
    })
}

impl Args {
    /// `vars(args)` for `format_logdir`: the course's eight arguments, plus `dataset` when it is not
    /// the default `mnist` (so that runs on other data get other directories).
    pub(crate) fn config(&self) -> Vec<(&'static str, ConfigValue)> {
        let mut config = vec![
            ("activation", ConfigValue::Str(self.activation.to_string())),
            ("batch_size", ConfigValue::Int(self.batch_size as i64)),
            ("epochs", ConfigValue::Int(self.epochs as i64)),
            (
                "hidden_layer_size",
                ConfigValue::Int(self.hidden_layer_size as i64),
            ),
            ("hidden_layers", ConfigValue::Int(self.hidden_layers as i64)),
            ("recodex", ConfigValue::Bool(self.recodex)),
        ];
        config.extend(self.common.config());
        config.extend(self.common.dataset_config());
        config
    }
}

/// The examples of `split`: its `u8` pixels, which the trainer turns into `float32(pixel) / 255`
/// (the course's transform) batch by batch, at the kernel's vector width. Converting the whole
/// split up front instead reads four times the bytes per batch (190 MB more memory, measured
/// 3% slower per epoch); the values are the same either way.
///
/// # Errors
/// Images not stored row-major or labels not contiguous, a wrong shape.
pub fn examples(split: &Split) -> anyhow::Result<Examples<'_>> {
    let pixels = split
        .images
        .as_slice()
        .context("the images are not stored row-major")?;
    let labels = split
        .labels
        .as_slice()
        .context("the labels are not contiguous")?;
    Ok(Examples::new(
        Features::U8(pixels),
        labels,
        split.images.ncols(),
    )?)
}

/// The course's model and optimiser for `inputs` features, after `startup(seed, recodex=recodex)`
/// and Keras-style initialisation: the MLP drawn from torch's streams, Adam with torch's
/// defaults, the matmul of [`CommonArgs::matmul`].
///
/// # Errors
/// A forced kernel this CPU cannot run, a bad shape.
pub fn trainer(args: &Args, inputs: usize) -> anyhow::Result<Trainer> {
    let config = MlpConfig {
        inputs,
        hidden_layers: args.hidden_layers as usize,
        hidden_layer_size: args.hidden_layer_size as usize,
        outputs: datasets::LABELS,
        activation: args.activation,
    };
    let mut rng = CourseRng::new(u64::from(args.common.seed), args.recodex);
    let model = Mlp::new(config, &mut rng)?;
    Ok(Trainer::new(
        model,
        AdamConfig::default(),
        args.common.matmul(),
        rng,
        args.batch_size as usize,
    )?)
}

/// Trains as the course's script does and returns every epoch's logs; `on_batch` sees every train and
/// dev batch (for a progress bar), `on_epoch` every finished epoch (for the epoch line).
/// `kernel`, when given, replaces `args`' kernel.
///
/// # Errors
/// Wrong sizes or labels in the data, or a forced kernel this CPU cannot run.
pub fn train(
    args: &Args,
    mnist: &Mnist,
    on_batch: &mut dyn FnMut(&BatchEvent),
    on_epoch: &mut dyn FnMut(&EpochLogs),
) -> anyhow::Result<Vec<EpochLogs>> {
    let train = examples(&mnist.train).context("the train split")?;
    let dev = examples(&mnist.dev).context("the dev split")?;
    let mut trainer = self::trainer(args, train.dim())?;
    let mut all = Vec::with_capacity(args.epochs as usize);
    trainer.fit(
        &train,
        Some(&dev),
        args.epochs as usize,
        on_batch,
        &mut |logs| {
            on_epoch(logs);
            all.push(*logs);
        },
    )?;
    Ok(all)
}

/// What the course's `main` returns for ReCodEx: the last epoch's `dev:` entries.
pub fn dev_results(last: &EpochLogs) -> Vec<(&'static str, f64)> {
    last.entries()
        .into_iter()
        .filter(|(name, _)| name.starts_with("dev:"))
        .collect()
}

/// What a run returns: every epoch's logs. The epoch lines have been printed as training went;
/// `Display` gives what the course's `main` returns, the last epoch's [`dev_results`]
/// (`dev:loss=0.1453 dev:accuracy=0.9606`, empty after zero epochs), which the binary does not
/// print (neither does the course's script).
#[derive(Clone, Debug, PartialEq)]
pub struct Report(pub Vec<EpochLogs>);

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.last() {
            Some(last) => f.write_str(&format_metrics(&dev_results(last))),
            None => Ok(()),
        }
    }
}

/// Runs the course's script: trains with the epoch lines on `out`, a progress bar on stderr
/// (`NPFL_PROGRESS`, `NPFL_PROGRESS_EACH`, `NPFL_PROGRESS_FIRST`) and the log directory
/// `logs/mnist_layers_activations-{timestamp}-{config}` (`logs.txt`, TensorBoard `train/` and
/// `dev/`), as the course's `TrainableModule.fit` does. The log directory is checked before the
/// data is loaded (and created only by the first epoch's logs, as the course's).
///
/// # Errors
/// Bad `NPFL_PROGRESS*` values, a log directory that cannot be created, loading the data (or an
/// empty train or dev split), writing stdout or the logs.
pub fn run(args: &Args, out: &mut Stdout) -> anyhow::Result<Report> {
    let mut reporter = FitReporter::from_env(
        out,
        Some(LogdirSpec {
            name: NAME,
            config: &args.config(),
        }),
    )?;
    // The course wraps train and dev in TransformedDatasets, which NPFL_DATASET_LIMIT caps.
    let mnist = args.common.load_transformed()?;
    require_examples(&[("train", &mnist.train), ("dev", &mnist.dev)])?;
    let epochs = reporter.fit(args.epochs as usize, None, |on_batch, on_epoch| {
        train(args, &mnist, on_batch, on_epoch)
    })?;
    Ok(Report(epochs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_the_course_ones() {
        let args = Args::try_parse_from(["x"]).unwrap();
        assert_eq!(args.activation, Activation::None);
        assert_eq!(
            (
                args.batch_size,
                args.epochs,
                args.hidden_layer_size,
                args.hidden_layers
            ),
            (50, 10, 100, 1)
        );
        assert_eq!(
            (args.recodex, args.common.seed, args.common.threads),
            (false, 42, 1)
        );
        assert_eq!(args.common.dataset, datasets::DatasetSource::Mnist);
        let args = Args::try_parse_from([
            "x",
            "--activation=relu",
            "--hidden_layers",
            "3",
            "--recodex",
            "--threads=0",
            "--dataset",
            "fashion_mnist",
        ])
        .unwrap();
        assert_eq!(args.activation, Activation::Relu);
        assert_eq!(args.hidden_layers, 3);
        assert!(args.recodex);
        assert!(args.common.threads() >= 1);
        assert!(Args::try_parse_from(["x", "--activation", "gelu"]).is_err());
        assert!(Args::try_parse_from(["x", "--batch_size", "0"]).is_err());
        assert!(Args::try_parse_from(["x", "--hidden-layers", "2"]).is_err());
    }

    #[test]
    fn config_matches_the_course_logdir() {
        let args = Args::try_parse_from(["x"]).unwrap();
        let dir = crate::logging::format_logdir(
            "logs/{file-}{timestamp}{-config}",
            Some("mnist_layers_activations"),
            &args.config(),
            "20261127_091632",
        )
        .unwrap();
        let sep = std::path::MAIN_SEPARATOR;
        assert_eq!(
            dir,
            format!(
                "logs{sep}mnist_layers_activations-20261127_091632-a=none,bs=50,e=10,hls=100,hl=1,r=False,s=42,t=1"
            )
        );
        let args = Args::try_parse_from(["x", "--dataset=fashion_mnist"]).unwrap();
        assert!(
            args.config()
                .iter()
                .any(|(k, v)| *k == "dataset" && v.to_string() == "fashion_mnist")
        );
    }
}
