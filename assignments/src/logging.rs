//! Training logs as the course writes them: the log directory name, `logs.txt` and TensorBoard event files.
//!
//! - [`format_metric`], [`EpochLine`]: the epoch line of `TrainableModule.fit` (spec §4.2);
//! - [`format_logdir`], [`ConfigValue`], [`local_timestamp`]: the log directory name (spec §5.1);
//! - [`TrainingLogger`]: `logs.txt` and the TensorBoard event files of a log directory (spec §5.2);
//! - [`Progress`], [`ProgressConfig`]: the progress bar on stderr and the console verbosity (spec §4.4).

mod logdir;
mod metrics;
mod progress;
mod tensorboard;

pub use logdir::{
    CONFIG_MAX_CHARS, LogdirError, abbreviate_key, format_config, format_logdir, local_timestamp,
    sanitize_path,
};
pub use metrics::{
    ConfigValue, EpochLine, EvaluationLine, format_metric, format_metrics, push_metric,
    push_metrics, python_float_repr, python_str_repr,
};
pub use progress::{Progress, ProgressConfig, ProgressConfigError, RefreshBudget};
pub use tensorboard::{
    EventWriter, TrainingLogger, file_version_event, hostname, masked_crc32c, scalar_event,
    tfrecord,
};
