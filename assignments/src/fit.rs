//! What the course's `TrainableModule` shows and logs around a training run (course: `labs/npfl138/trainable_module.py`, `labs/npfl138/loggers/`, `labs/01/example_pytorch_tensorboard.py`):
//! the progress bars on stderr, the epoch lines on stdout and in the log directory, and in the
//! example scripts the `Config ...` line, `graph.txt` and the `Evaluation ...` line of
//! `evaluate(test)`. The numbers come from `npfl_core::nn::Trainer`; this is only their console
//! and log side, shared by `mnist_layers_activations`, `example_pytorch` and
//! `example_pytorch_tensorboard`: `FitReporter::from_env` sets it all up (the `NPFL_PROGRESS*`
//! variables, the log directory's name, a check that it can be created).

use std::cell::RefCell;
use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use npfl_core::nn::{BatchEvent, EpochLogs, Logs};

use crate::cli::{self, Stdout};
use crate::logging::{
    ConfigValue, EpochLine, EvaluationLine, Progress, ProgressConfig, TrainingLogger,
    format_logdir, local_timestamp,
};

/// The course's log directory template (`TrainableModule.configure(logdir=...)` in the scripts).
const LOGDIR_TEMPLATE: &str = "logs/{file-}{timestamp}{-config}";

/// A run's log directory, `logs/{name}-{timestamp}-{config}` as the course's `format_logdir`
/// names it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogdirSpec<'a> {
    /// The script's name (`{file}`).
    pub name: &'a str,
    /// `vars(args)` (`{config}`).
    pub config: &'a [(&'a str, ConfigValue)],
}

/// The batch callback a training run reports to.
pub(crate) type OnBatch<'a> = dyn FnMut(&BatchEvent) + 'a;
/// The epoch callback a training run reports to.
pub(crate) type OnEpoch<'a> = dyn FnMut(&EpochLogs) + 'a;

/// The console (stdout and the stderr bar) and the optional log directory of one training run.
///
/// A closed stdout (`| head -1`) ends the process quietly (exit code 0) after the line that
/// found it closed has been logged, as training cannot be cut short from a callback.
pub(crate) struct FitReporter<'o> {
    out: &'o mut Stdout,
    progress: Progress,
    logger: Option<TrainingLogger>,
}

impl std::fmt::Debug for FitReporter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FitReporter")
            .field("progress", &self.progress)
            .field("logger", &self.logger)
            .finish_non_exhaustive()
    }
}

/// Writes `line` to stdout when `print` and logs it through `log`; a closed stdout then ends
/// the process quietly. Returns the first error.
fn emit(
    out: &mut Stdout,
    print: bool,
    line: &str,
    log: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let written = if print {
        writeln!(out, "{line}").and_then(|()| out.flush())
    } else {
        Ok(())
    };
    let logged = log();
    if out.is_closed() {
        cli::exit_stdout_closed();
    }
    written?;
    logged
}

fn logdir_context(logger: &TrainingLogger) -> String {
    format!("writing the logs in {}", logger.logdir().display())
}

impl<'o> FitReporter<'o> {
    /// Reports to `out` and a progress bar on stderr configured by `NPFL_PROGRESS`,
    /// `NPFL_PROGRESS_EACH` and `NPFL_PROGRESS_FIRST` (whose verbosity also decides whether lines
    /// are printed), and logs to the log directory `logdir` names, if any (the course's
    /// `configure(logdir=...)`, timestamped now). The directory is not created yet (the first log
    /// call does that, as in the course), but its nearest existing ancestor is checked now, so
    /// that a run that could not log fails before training, not after the first epoch.
    ///
    /// # Errors
    /// A bad `NPFL_PROGRESS*` value; a log directory that cannot be created.
    pub fn from_env(out: &'o mut Stdout, logdir: Option<LogdirSpec<'_>>) -> anyhow::Result<Self> {
        let progress = Progress::new(ProgressConfig::from_env()?);
        let logger = match logdir {
            Some(LogdirSpec { name, config }) => {
                let dir = format_logdir(LOGDIR_TEMPLATE, Some(name), config, &local_timestamp())?;
                let logger = TrainingLogger::new(dir.into());
                let context = logdir_context(&logger);
                logger.check_creatable().context(context)?;
                Some(logger)
            }
            None => None,
        };
        Ok(FitReporter {
            out,
            progress,
            logger,
        })
    }

    /// Prints `text` and a newline to stdout, whatever the verbosity (the scripts' own `print`).
    ///
    /// # Errors
    /// Writing stdout.
    pub(crate) fn print(&mut self, text: &str) -> anyhow::Result<()> {
        writeln!(self.out, "{text}")?;
        Ok(())
    }

    /// `fit(..., log_config=config)` before the first epoch: `Config epoch={epoch} k=v ...` on
    /// stdout (verbosity at least 1), then in `logs.txt` and as the TensorBoard text `config`.
    ///
    /// # Errors
    /// Writing stdout or the logs.
    pub(crate) fn log_config(
        &mut self,
        config: &[(&str, ConfigValue)],
        epoch: usize,
    ) -> anyhow::Result<()> {
        let line = crate::logging::format_config_as_text(config, epoch);
        let print = self.progress.print_epoch_lines();
        let logger = &mut self.logger;
        emit(self.out, print, &line, || match logger {
            Some(logger) => {
                let context = logdir_context(logger);
                logger.log_config(config, epoch).context(context)
            }
            None => Ok(()),
        })
    }

    /// Runs a training of `epochs` epochs: `run` gets the batch and epoch callbacks to call (as
    /// `npfl_core::nn::Trainer::fit` does). Every batch moves the bar (train batches show
    /// `loss`/`accuracy`, evaluation batches `dev:loss`/`dev:accuracy`); every epoch prints its line
    /// (verbosity at least 1) and logs it. With `graph`, the course's `log_graph=True`: after the
    /// first training batch `graph` is written to the log directory's `graph.txt`
    /// (`graph.{epoch}.txt` when training starts later than epoch 1).
    ///
    /// # Errors
    /// `run`'s errors, then the first error writing stdout or the logs.
    pub(crate) fn fit<T>(
        &mut self,
        epochs: usize,
        graph: Option<&str>,
        run: impl FnOnce(&mut OnBatch<'_>, &mut OnEpoch<'_>) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let print = self.progress.print_epoch_lines();
        let progress = &mut self.progress;
        let out = &mut *self.out;
        let logger = RefCell::new(&mut self.logger);
        let failed: RefCell<Option<anyhow::Error>> = RefCell::new(None);
        let mut graph = graph;
        let dev_names = metric_names("dev");
        let result = run(
            &mut |event| {
                on_batch(progress, event, epochs, &dev_names);
                if let (Some(contents), Some(epoch)) = (graph, event.epoch) {
                    graph = None;
                    if let Some(logger) = logger.borrow_mut().as_mut() {
                        let context = logdir_context(logger);
                        if let Err(e) = logger.write_graph_txt(contents, epoch - 1) {
                            failed
                                .borrow_mut()
                                .get_or_insert(anyhow::Error::new(e).context(context));
                        }
                    }
                }
            },
            &mut |logs| {
                if failed.borrow().is_some() {
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
                let emitted = emit(out, print, &line, || match logger.borrow_mut().as_mut() {
                    Some(logger) => {
                        let context = logdir_context(logger);
                        logger
                            .log_epoch(&line, logs.epoch, &entries)
                            .context(context)
                    }
                    None => Ok(()),
                });
                if let Err(e) = emitted {
                    *failed.borrow_mut() = Some(e);
                }
            },
        )?;
        match failed.into_inner() {
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    /// `evaluate(data, name)` with logging: `run` evaluates, calling the batch callback (the bar,
    /// described `Evaluation`, shows `{name}:loss`/`{name}:accuracy`); then
    /// `Evaluation {elapsed}s {name}:loss=... {name}:accuracy=...` is printed (verbosity at least
    /// 1), appended to `logs.txt`, and the scalars go to the TensorBoard writer `name` at `step`
    /// (the epochs trained so far). Returns the logs.
    ///
    /// # Errors
    /// `run`'s errors, writing stdout or the logs.
    pub(crate) fn evaluate(
        &mut self,
        name: &str,
        step: usize,
        run: impl FnOnce(&mut OnBatch<'_>) -> anyhow::Result<Logs>,
    ) -> anyhow::Result<Logs> {
        let start = Instant::now();
        let progress = &mut self.progress;
        let names = metric_names(name);
        let logs = run(&mut |event| on_batch(progress, event, 0, &names))?;
        let elapsed = start.elapsed();
        let entries = [
            (names[0].as_str(), f64::from(logs.loss)),
            (names[1].as_str(), f64::from(logs.accuracy)),
        ];
        let line = EvaluationLine {
            elapsed,
            logs: &entries,
        }
        .to_string();
        let print = self.progress.print_epoch_lines();
        let logger = &mut self.logger;
        emit(self.out, print, &line, || match logger {
            Some(logger) => {
                let context = logdir_context(logger);
                logger
                    .log_line(&line)
                    .and_then(|()| logger.log_scalars(step as i64, &entries))
                    .context(context)
            }
            None => Ok(()),
        })?;
        Ok(logs)
    }
}

/// `{name}:loss` and `{name}:accuracy`.
fn metric_names(name: &str) -> [String; 2] {
    [format!("{name}:loss"), format!("{name}:accuracy")]
}

/// Moves the bar for one batch: a new bar at the first batch of a phase (`Epoch e/total` or
/// `Evaluation`), the running logs (evaluation ones named `eval_names`), erased after the last
/// batch.
fn on_batch(progress: &mut Progress, event: &BatchEvent, epochs: usize, eval_names: &[String; 2]) {
    if !progress.is_visible() {
        return;
    }
    if event.batch == 1 {
        match event.epoch {
            Some(epoch) => progress.start_epoch(epoch, epochs, event.batches),
            None => progress.start_evaluation(event.batches),
        }
    }
    let (loss, accuracy) = (f64::from(event.logs.loss), f64::from(event.logs.accuracy));
    match event.epoch {
        Some(_) => progress.batch_done(&[("loss", loss), ("accuracy", accuracy)]),
        None => progress.batch_done(&[(&eval_names[0], loss), (&eval_names[1], accuracy)]),
    }
    if event.batch == event.batches {
        progress.finish();
    }
}
