//! Training logs as the course writes them: the log directory name, `logs.txt` and TensorBoard
//! event files, the epoch lines and the progress bar.
//!
//! - `metrics`: the epoch line of `TrainableModule.fit` ([`EpochLine`], [`format_metric`]) and
//!   Python's `str()`/`repr()` of configuration values ([`python_float_repr`]) (spec §4.2);
//! - `logdir`: the log directory name, `format_logdir` and the local timestamp (spec §5.1);
//! - `config`: the `Config ...` line and the JSON that `fit(..., log_config=...)` logs (spec §4.5);
//! - `tensorboard`: [`TrainingLogger`], `logs.txt` and the TensorBoard event files of a log
//!   directory (spec §5.2);
//! - `progress`: the progress bar on stderr and the console verbosity (spec §4.4).
//!
//! [`crate::fit`] puts them together around a training run. What is public here is what the
//! tests and the grader use; the rest is the crate's.

mod config;
mod logdir;
mod metrics;
mod progress;
mod tensorboard;

pub(crate) use config::format_config_as_text;
pub(crate) use logdir::{format_logdir, local_timestamp};
pub(crate) use metrics::{ConfigValue, EvaluationLine, format_metrics};
pub use metrics::{EpochLine, format_metric, python_float_repr};
pub(crate) use progress::{Progress, ProgressConfig};
pub use tensorboard::{TrainingLogger, masked_crc32c};
