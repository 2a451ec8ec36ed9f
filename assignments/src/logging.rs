//! Training logs as the course writes them: the log directory name, `logs.txt` and TensorBoard
//! event files, the epoch lines and the progress bar.
//!
//! - `metrics`: the epoch line of `TrainableModule.fit` ([`EpochLine`], [`format_metric`]) and
//!   Python's `str()`/`repr()` of configuration values ([`python_float_repr`]) (course: `labs/npfl138/trainable_module.py`);
//! - `logdir`: the log directory name, `format_logdir` and the local timestamp (course: `labs/npfl138/format_logdir_impl.py`);
//! - `config`: the `Config ...` line and the JSON that `fit(..., log_config=...)` logs (course: `labs/npfl138/trainable_module.py`);
//! - `tensorboard`: [`TrainingLogger`], `logs.txt` and the TensorBoard event files of a log
//!   directory (course: `labs/npfl138/loggers/`);
//! - `progress`: the progress bar on stderr and the console verbosity (course: `labs/npfl138/progress_logger.py`).
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
