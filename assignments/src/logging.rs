//! Training logs as the course writes them: the log directory name, `logs.txt` and TensorBoard event files.
//!
//! - [`format_metric`], [`EpochLine`]: the epoch line of `TrainableModule.fit` (spec §4.2);
//! - [`format_logdir`], [`ConfigValue`], [`local_timestamp`]: the log directory name (spec §5.1);
//! - [`TrainingLogger`]: `logs.txt` and the TensorBoard event files of a log directory (spec §5.2);
//! - [`format_config_as_text`], [`format_config_as_json`]: the `Config ...` line and the JSON
//!   that `fit(..., log_config=...)` logs (spec §4.5);
//! - [`Progress`], [`ProgressConfig`]: the progress bar on stderr and the console verbosity (spec §4.4).
//!
//! A training loop uses them like the course's `TrainableModule.fit`:
//!
//! ```no_run
//! use std::time::Instant;
//! use assignments::logging::*;
//!
//! # fn main() -> anyhow::Result<()> {
//! let (epochs, batches, dev_batches) = (10, 1100, 100);
//! let config = [("batch_size", ConfigValue::Int(50)), ("seed", ConfigValue::Int(42))];
//! let mut progress = Progress::new(ProgressConfig::from_env()?); // the binary reads the env
//! let logdir = format_logdir(
//!     "logs/{file-}{timestamp}{-config}",
//!     Some("mnist_layers_activations"),
//!     &config,
//!     &local_timestamp(),
//! )?;
//! let mut logger = TrainingLogger::new(logdir.into()); // creates nothing yet
//! for epoch in 1..=epochs {
//!     let start = Instant::now();
//!     progress.start_epoch(epoch, epochs, batches);
//!     let (mut loss, mut accuracy) = (0.0, 0.0);
//!     for _ in 0..batches {
//!         // ... train one batch, update the running loss and accuracy ...
//!         progress.batch_done(&[("loss", loss), ("accuracy", accuracy)]);
//!     }
//!     progress.finish();
//!     progress.start_evaluation(dev_batches);
//!     let (mut dev_loss, mut dev_accuracy) = (0.0, 0.0);
//!     for _ in 0..dev_batches {
//!         // ... evaluate one batch ...
//!         progress.batch_done(&[("dev:loss", dev_loss), ("dev:accuracy", dev_accuracy)]);
//!     }
//!     progress.finish(); // the bar is erased before the line is printed
//!     let logs = [("loss", loss), ("accuracy", accuracy), ("dev:loss", dev_loss), ("dev:accuracy", dev_accuracy)];
//!     let line = EpochLine { epoch, epochs, elapsed: start.elapsed(), logs: &logs }.to_string();
//!     if progress.print_epoch_lines() {
//!         println!("{line}");
//!     }
//!     logger.log_epoch(&line, epoch, &logs)?; // logs.txt, train/ and dev/ event files
//! }
//! # Ok(())
//! # }
//! ```

mod config;
mod logdir;
mod metrics;
mod progress;
mod tensorboard;

pub use config::{format_config_as_json, format_config_as_text};
pub use logdir::{
    CONFIG_MAX_CHARS, LogdirError, abbreviate_key, format_config, format_logdir, local_timestamp,
    sanitize_path,
};
pub use metrics::{
    ConfigValue, EpochLine, EvaluationLine, format_metric, format_metrics, push_metric,
    push_metrics, python_float_repr, python_str_repr,
};
pub use progress::{
    CarriageReturnTerm, Progress, ProgressConfig, ProgressConfigError, RefreshBudget,
};
pub use tensorboard::{
    EventWriter, TrainingLogger, file_version_event, hostname, masked_crc32c, scalar_event,
    text_event, tfrecord,
};
