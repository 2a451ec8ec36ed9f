//! Training logs as the course writes them: the log directory name, `logs.txt` and TensorBoard event files.
//!
//! - [`format_metric`], [`EpochLine`]: the epoch line of `TrainableModule.fit` (spec §4.2);
//! - [`format_logdir`], [`ConfigValue`], [`local_timestamp`]: the log directory name (spec §5.1);

mod logdir;
mod metrics;

pub use logdir::{
    CONFIG_MAX_CHARS, LogdirError, abbreviate_key, format_config, format_logdir, local_timestamp,
    sanitize_path,
};
pub use metrics::{
    ConfigValue, EpochLine, EvaluationLine, format_metric, format_metrics, push_metric,
    push_metrics, python_float_repr,
};
