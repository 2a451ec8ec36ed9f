//! The course's progress bar (`ProgressLogger`, a tqdm subclass; course: `labs/npfl138/progress_logger.py`), drawn with
//! indicatif on stderr.

use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle, TermLike};

use super::metrics::push_metrics;

/// tqdm's default `mininterval`: refresh at most every 0.1 s.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Console verbosity and refresh pacing, as the course reads them from `NPFL_PROGRESS`,
/// `NPFL_PROGRESS_EACH` and `NPFL_PROGRESS_FIRST` (course: `labs/npfl138/progress_logger.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ProgressConfig {
    /// 0 silent (no epoch lines), 1 epoch lines only, 2 also a bar when stderr is a terminal,
    /// 3 (or more) a bar always. Negative values behave as 0.
    pub verbosity: i64,
    /// `NPFL_PROGRESS_EACH`: refresh exactly every N batches instead of at most every 0.1 s.
    pub each: Option<i64>,
    /// `NPFL_PROGRESS_FIRST`: draw only the first K refreshes of all bars of the process
    /// (counting the initial 0% renders); negative means no limit.
    pub first: Option<i64>,
}

impl Default for ProgressConfig {
    /// Verbosity 2 without limits: what the course does when no variable is set.
    fn default() -> Self {
        ProgressConfig {
            verbosity: 2,
            each: None,
            first: None,
        }
    }
}

/// An environment variable that does not hold an integer (Python's `int()` would raise).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {variable}={value:?}: expected an integer")]
pub(crate) struct ProgressConfigError {
    /// The variable's name.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
}

impl ProgressConfig {
    /// Builds the configuration from the three variables' values (`None` = unset), with the
    /// course's defaults: `NPFL_PROGRESS` wins; else either of the other two gives verbosity 3,
    /// or 1 when `NPFL_PROGRESS_FIRST` is 0; else 2.
    pub(crate) fn from_values(
        progress: Option<&str>,
        each: Option<&str>,
        first: Option<&str>,
    ) -> Result<Self, ProgressConfigError> {
        let parse = |variable: &'static str, value: Option<&str>| {
            value
                .map(|v| {
                    v.trim().parse::<i64>().map_err(|_| ProgressConfigError {
                        variable,
                        value: v.to_owned(),
                    })
                })
                .transpose()
        };
        let progress = parse("NPFL_PROGRESS", progress)?;
        let each = parse("NPFL_PROGRESS_EACH", each)?;
        let first = parse("NPFL_PROGRESS_FIRST", first)?;
        let verbosity = match progress {
            Some(v) => v,
            None if first.is_some() || each.is_some() => {
                if first == Some(0) {
                    1
                } else {
                    3
                }
            }
            None => 2,
        };
        Ok(ProgressConfig {
            verbosity,
            each,
            first,
        })
    }

    /// Reads `NPFL_PROGRESS`, `NPFL_PROGRESS_EACH` and `NPFL_PROGRESS_FIRST` (for the binaries,
    /// which are the edge that reads the environment).
    pub(crate) fn from_env() -> Result<Self, ProgressConfigError> {
        let var = |name| std::env::var(name).ok();
        Self::from_values(
            var("NPFL_PROGRESS").as_deref(),
            var("NPFL_PROGRESS_EACH").as_deref(),
            var("NPFL_PROGRESS_FIRST").as_deref(),
        )
    }

    /// Whether epoch lines go to stdout (verbosity at least 1).
    pub(crate) fn print_epoch_lines(&self) -> bool {
        self.verbosity >= 1
    }

    /// Whether a bar is drawn, given whether stderr is a terminal: verbosity 3 or more always,
    /// 2 only on a terminal (tqdm's automatic disable), less never.
    pub(crate) fn show_bar(&self, stderr_is_terminal: bool) -> bool {
        self.verbosity >= 3 || (self.verbosity == 2 && stderr_is_terminal)
    }
}

/// The `NPFL_PROGRESS_FIRST` budget: a count of refreshes that may still be drawn, shared by
/// its clones; negative means unlimited. The course's limit is process-wide: a binary makes one
/// [`Progress`] (which owns the budget) and draws every bar of the process with it.
#[derive(Clone, Debug)]
pub(crate) struct RefreshBudget(Arc<AtomicI64>);

impl RefreshBudget {
    /// A budget of `first` refreshes (`None` or negative: unlimited).
    pub(crate) fn new(first: Option<i64>) -> Self {
        RefreshBudget(Arc::new(AtomicI64::new(first.unwrap_or(-1))))
    }

    /// Takes one refresh: true if it may be drawn.
    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                (left > 0).then(|| left - 1)
            })
            .map_or_else(|left| left < 0, |_| true)
    }
}

/// The bar of one loop (an epoch's training or an evaluation).
struct Bar {
    bar: ProgressBar,
    description: String,
    shown: Arc<Mutex<String>>,
    position: u64,
    last_refresh: Instant,
}

/// The course's progress bar on stderr (course: `labs/npfl138/progress_logger.py`).
///
/// Per loop: [`start_epoch`](Self::start_epoch) (or [`start_evaluation`](Self::start_evaluation)),
/// then [`batch_done`](Self::batch_done) after every batch with the running logs, then
/// [`finish`](Self::finish), which erases the bar; print the epoch line after that. The bar is
/// described as `Epoch e/total` or `Evaluation` followed by the running logs, refreshed at most
/// every 0.1 s (or exactly every `NPFL_PROGRESS_EACH` batches), and only the first
/// `NPFL_PROGRESS_FIRST` refreshes of this display are drawn (its [`RefreshBudget`]; one display
/// per process makes that the course's process-wide limit). When no bar is shown every call
/// returns at once; when a refresh is not due nothing is formatted.
pub(crate) struct Progress {
    config: ProgressConfig,
    visible: bool,
    budget: RefreshBudget,
    target: Option<Arc<dyn Fn() -> ProgressDrawTarget + Send + Sync>>,
    wide: bool,
    bar: Option<Bar>,
    drawn: u64,
}

impl fmt::Debug for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Progress")
            .field("config", &self.config)
            .field("visible", &self.visible)
            .field("drawn", &self.drawn)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A progress display on stderr; the bar is visible as [`ProgressConfig::show_bar`] says for
    /// the real stderr. It draws at most `config.first` refreshes over its lifetime: make one per
    /// process, as the course's limit is process-wide.
    pub(crate) fn new(config: ProgressConfig) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let visible = config.show_bar(terminal);
        // On a terminal indicatif draws with its cursor codes; a bar forced elsewhere (a pipe, a
        // file) is written as tqdm writes it there, with carriage returns only.
        let target: Option<Arc<dyn Fn() -> ProgressDrawTarget + Send + Sync>> = if terminal {
            None
        } else {
            let stderr = CarriageReturnTerm::new(std::io::stderr());
            Some(Arc::new(move || {
                ProgressDrawTarget::term_like(Box::new(stderr.clone()))
            }))
        };
        Progress {
            config,
            visible,
            budget: RefreshBudget::new(config.first),
            target,
            wide: terminal,
            bar: None,
            drawn: 0,
        }
    }

    /// A progress display drawing to `term` (always visible unless the verbosity is below 2)
    /// with the refresh budget `budget` (shared with other displays): for tests. `wide` makes the bar fill the
    /// terminal width (tqdm's `dynamic_ncols` on a terminal); otherwise it is 10 characters, as
    /// tqdm draws it when the width is unknown.
    #[cfg(test)]
    pub(crate) fn with_term<T: TermLike + Clone + 'static>(
        config: ProgressConfig,
        budget: RefreshBudget,
        term: T,
        wide: bool,
    ) -> Self {
        let make = move || ProgressDrawTarget::term_like(Box::new(term.clone()));
        Progress {
            config,
            visible: config.verbosity >= 2,
            budget,
            target: Some(Arc::new(make)),
            wide,
            bar: None,
            drawn: 0,
        }
    }

    /// Whether epoch lines should be printed to stdout (verbosity at least 1).
    pub(crate) fn print_epoch_lines(&self) -> bool {
        self.config.print_epoch_lines()
    }

    /// Whether bars are drawn at all.
    pub(crate) fn is_visible(&self) -> bool {
        self.visible
    }

    /// How many refreshes this display has drawn (initial renders included).
    #[cfg(test)]
    pub(crate) fn refreshes_drawn(&self) -> u64 {
        self.drawn
    }

    /// Starts the bar of epoch `epoch` of `epochs` over `batches` batches, described
    /// `Epoch {epoch}/{epochs}`, and renders it at 0%.
    pub(crate) fn start_epoch(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if self.visible {
            self.start(format!("Epoch {epoch}/{epochs}"), batches);
        }
    }

    /// Starts the bar of an evaluation over `batches` batches, described `Evaluation`.
    pub(crate) fn start_evaluation(&mut self, batches: usize) {
        if self.visible {
            self.start("Evaluation".to_owned(), batches);
        }
    }

    /// Starts a bar with any description (erasing a bar still open) and renders it at 0%.
    pub(crate) fn start(&mut self, description: String, batches: usize) {
        if !self.visible {
            return;
        }
        self.finish();
        let shown = Arc::new(Mutex::new(String::new()));
        let key_text = Arc::clone(&shown);
        let template = if self.wide {
            "{desc}: {pct}%|{wide_bar}| {pos}/{len} [{times}]"
        } else {
            "{desc}: {pct}%|{bar:10}| {pos}/{len} [{times}]"
        };
        let style = ProgressStyle::with_template(template)
            .expect("the template is valid")
            .progress_chars("█▉▊▋▌▍▎▏  ") // tqdm: a blank cell when the fraction is 0
            .with_key("desc", move |_: &ProgressState, w: &mut dyn fmt::Write| {
                let _ = w.write_str(&key_text.lock().expect("not poisoned"));
            })
            .with_key("pct", tqdm_percentage)
            .with_key("times", tqdm_times);
        let target = match &self.target {
            Some(make) => make(),
            None => ProgressDrawTarget::term_like(Box::new(console::Term::stderr())),
        };
        let bar = ProgressBar::with_draw_target(Some(batches as u64), target).with_style(style);
        self.bar = Some(Bar {
            bar,
            description,
            shown,
            position: 0,
            last_refresh: Instant::now(),
        });
        self.refresh(&[]);
    }

    /// Records one finished batch; `logs` are the running logs shown after the description.
    /// Draws only when a refresh is due and the process-wide budget allows it.
    #[inline]
    pub(crate) fn batch_done(&mut self, logs: &[(&str, f64)]) {
        let Some(bar) = self.bar.as_mut() else { return };
        bar.position += 1;
        let due = match self.config.each {
            Some(each) => bar.position.is_multiple_of(each.max(1) as u64),
            None => bar.last_refresh.elapsed() >= MIN_INTERVAL,
        };
        if due {
            self.refresh(logs);
        }
    }

    /// One tqdm refresh: counts against the budget, then redraws with the current logs.
    fn refresh(&mut self, logs: &[(&str, f64)]) {
        let Some(bar) = self.bar.as_mut() else { return };
        bar.last_refresh = Instant::now();
        if !self.budget.take() {
            return;
        }
        self.drawn += 1;
        let mut text = bar.description.clone();
        if !text.is_empty() {
            text.push(' ');
        }
        push_metrics(&mut text, logs);
        *bar.shown.lock().expect("not poisoned") = text;
        let position = bar.position;
        bar.bar.update(|state| state.set_pos(position));
    }

    /// Erases the bar (tqdm's `leave=False`), also when refreshes are no longer drawn.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A bar drawn as tqdm draws it off a terminal, on any writer: every refresh is `\r`, the line,
/// and spaces over what is left of the previous line; erasing (`leave=False`) is `\r`, spaces
/// over the whole line, `\r`. No cursor-movement or line-clearing escape codes, so a log file or
/// a pipe gets plain text (tqdm's `status_printer`).
pub(crate) struct CarriageReturnTerm<W> {
    state: Arc<Mutex<CarriageReturnState<W>>>,
}

struct CarriageReturnState<W> {
    out: W,
    /// What indicatif has written since the last flush: one frame.
    frame: String,
    /// Whether indicatif asked to clear the line since the last flush.
    cleared: bool,
    /// Characters of the line now shown.
    shown: usize,
}

impl<W> Clone for CarriageReturnTerm<W> {
    fn clone(&self) -> Self {
        CarriageReturnTerm {
            state: Arc::clone(&self.state),
        }
    }
}

impl<W> fmt::Debug for CarriageReturnTerm<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarriageReturnTerm").finish_non_exhaustive()
    }
}

impl<W: std::io::Write + Send> CarriageReturnTerm<W> {
    /// Draws on `out`.
    pub(crate) fn new(out: W) -> Self {
        CarriageReturnTerm {
            state: Arc::new(Mutex::new(CarriageReturnState {
                out,
                frame: String::new(),
                cleared: false,
                shown: 0,
            })),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut CarriageReturnState<W>) -> T) -> T {
        f(&mut self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl<W: std::io::Write + Send> TermLike for CarriageReturnTerm<W> {
    fn width(&self) -> u16 {
        // Wide enough that no bar line wraps (indicatif would move the cursor up over a wrapped
        // line); the padding indicatif adds up to this width is trimmed before writing.
        512
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.with(|state| {
            state.frame.push_str(s);
            state.frame.push('\n');
        });
        Ok(())
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        self.with(|state| state.frame.push_str(s));
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.with(|state| state.cleared = true);
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        self.with(|state| {
            let frame = std::mem::take(&mut state.frame);
            let cleared = std::mem::replace(&mut state.cleared, false);
            let line = frame.trim_end_matches(' ');
            let text = if !line.is_empty() {
                let width = line.chars().count();
                let pad = state.shown.saturating_sub(width);
                state.shown = width;
                format!("\r{line}{:pad$}", "")
            } else if cleared && state.shown > 0 {
                let text = format!("\r{:width$}\r", "", width = state.shown);
                state.shown = 0;
                text
            } else {
                return Ok(());
            };
            state.out.write_all(text.as_bytes())?;
            state.out.flush()
        })
    }
}

/// tqdm's `{percentage:3.0f}`: rounded (ties to even), not truncated.
fn tqdm_percentage(state: &ProgressState, w: &mut dyn fmt::Write) {
    let percentage = match state.len() {
        Some(len) if len > 0 => state.pos() as f64 * 100.0 / len as f64,
        _ => 0.0,
    };
    let _ = write!(w, "{percentage:3.0}");
}

/// tqdm's `{elapsed}<{remaining}, {rate}`: `00:01<00:03,  6.53batch/s`.
fn tqdm_times(state: &ProgressState, w: &mut dyn fmt::Write) {
    let clock = |d: Duration| {
        let s = d.as_secs();
        if s >= 3600 {
            format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        } else {
            format!("{:02}:{:02}", s / 60, s % 60)
        }
    };
    let elapsed = state.elapsed();
    let rate = if elapsed.is_zero() || state.pos() == 0 {
        0.0
    } else {
        state.pos() as f64 / elapsed.as_secs_f64()
    };
    let remaining = match state.len() {
        Some(len) if rate > 0.0 => clock(Duration::from_secs_f64(
            len.saturating_sub(state.pos()) as f64 / rate,
        )),
        _ => "?".to_owned(),
    };
    let rate = if rate == 0.0 {
        "?batch/s".to_owned()
    } else if rate >= 1.0 {
        format!("{rate:5.2}batch/s")
    } else {
        format!("{:5.2}s/batch", 1.0 / rate)
    };
    let _ = write!(w, "{}<{remaining}, {rate}", clock(elapsed));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn config_from_values() {
        let c = |p, e, f| ProgressConfig::from_values(p, e, f).unwrap();
        assert_eq!(
            c(None, None, None),
            ProgressConfig {
                verbosity: 2,
                each: None,
                first: None
            }
        );
        assert_eq!(c(Some("0"), None, None).verbosity, 0);
        assert_eq!(
            c(Some(" 3 "), Some("5"), None),
            ProgressConfig {
                verbosity: 3,
                each: Some(5),
                first: None
            }
        );
        assert_eq!(c(Some("1"), Some("5"), Some("2")).verbosity, 1); // NPFL_PROGRESS wins
        assert_eq!(c(None, Some("5"), None).verbosity, 3);
        assert_eq!(
            c(None, None, Some("4")),
            ProgressConfig {
                verbosity: 3,
                each: None,
                first: Some(4)
            }
        );
        assert_eq!(c(None, Some("5"), Some("0")).verbosity, 1);
        assert_eq!(c(None, None, Some("-1")).verbosity, 3);
        let err = ProgressConfig::from_values(Some("two"), None, None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid NPFL_PROGRESS=\"two\": expected an integer"
        );
        assert_eq!(
            ProgressConfig::from_values(None, Some("1.5"), None)
                .unwrap_err()
                .variable,
            "NPFL_PROGRESS_EACH"
        );
    }

    #[test]
    fn levels() {
        let v = |verbosity| ProgressConfig {
            verbosity,
            each: None,
            first: None,
        };
        for (level, lines, bar_tty, bar_pipe) in [
            (-1, false, false, false),
            (0, false, false, false),
            (1, true, false, false),
            (2, true, true, false),
            (3, true, true, true),
            (7, true, true, true),
        ] {
            assert_eq!(v(level).print_epoch_lines(), lines, "{level}");
            assert_eq!(v(level).show_bar(true), bar_tty, "{level}");
            assert_eq!(v(level).show_bar(false), bar_pipe, "{level}");
        }
    }

    #[test]
    fn budget() {
        let b = RefreshBudget::new(Some(2));
        assert!(b.take() && b.take());
        assert!(!b.take() && !b.take());
        let unlimited = RefreshBudget::new(None);
        assert!((0..1000).all(|_| unlimited.take()));
        assert!(!RefreshBudget::new(Some(0)).take());
        assert!(RefreshBudget::new(Some(-5)).take());
    }

    /// A terminal that records what indicatif writes.
    #[derive(Clone, Debug, Default)]
    struct Recorder(Arc<Mutex<Vec<String>>>);

    impl Recorder {
        fn push(&self, s: String) -> io::Result<()> {
            self.0.lock().unwrap().push(s);
            Ok(())
        }
        fn events(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
        /// Whether the line was cleared after the last frame was written.
        fn ends_erased(&self) -> bool {
            let events = self.events();
            let last_clear = events.iter().rposition(|e| e == "clear");
            let last_frame = events
                .iter()
                .rposition(|e| e.starts_with("write:") && !e["write:".len()..].trim().is_empty());
            last_clear > last_frame
        }
        /// The bar lines drawn, in order.
        fn frames(&self) -> Vec<String> {
            self.events()
                .into_iter()
                .filter_map(|e| e.strip_prefix("write:").map(str::to_owned))
                .filter(|s| !s.trim().is_empty())
                .collect()
        }
    }

    impl TermLike for Recorder {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            self.push(format!("up:{n}"))
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            self.push(format!("down:{n}"))
        }
        fn move_cursor_right(&self, n: usize) -> io::Result<()> {
            self.push(format!("right:{n}"))
        }
        fn move_cursor_left(&self, n: usize) -> io::Result<()> {
            self.push(format!("left:{n}"))
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.push(format!("write:{s}"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.push(format!("write:{s}"))
        }
        fn clear_line(&self) -> io::Result<()> {
            self.push("clear".to_owned())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn config(verbosity: i64, each: Option<i64>, first: Option<i64>) -> ProgressConfig {
        ProgressConfig {
            verbosity,
            each,
            first,
        }
    }

    #[test]
    fn each_n_batches_with_descriptions() {
        let term = Recorder::default();
        let mut p = Progress::with_term(
            config(3, Some(2), None),
            RefreshBudget::new(None),
            term.clone(),
            true,
        );
        p.start_epoch(1, 10, 5);
        for i in 1..=5 {
            p.batch_done(&[("loss", 1.0 / i as f64), ("accuracy", 0.5)]);
        }
        p.finish();
        assert_eq!(p.refreshes_drawn(), 3); // 0%, after batch 2, after batch 4
        let frames = term.frames();
        assert_eq!(frames.len(), 3, "{frames:?}");
        assert!(frames[0].starts_with("Epoch 1/10 :   0%|"), "{}", frames[0]);
        assert!(
            frames[0].contains("| 0/5 [00:00<?, ?batch/s]"),
            "{}",
            frames[0]
        );
        assert!(
            frames[1].starts_with("Epoch 1/10 loss=0.5000 accuracy=0.5000:  40%|"),
            "{}",
            frames[1]
        );
        assert!(
            frames[2].starts_with("Epoch 1/10 loss=0.2500 accuracy=0.5000:  80%|"),
            "{}",
            frames[2]
        );
        assert!(frames[2].contains("| 4/5 ["), "{}", frames[2]);
        assert!(
            frames.iter().all(|f| f.chars().count() <= 100),
            "{frames:?}"
        );
        // erased at the end: the last thing written clears the line
        assert!(term.ends_erased(), "{:?}", term.events());

        p.start_evaluation(3);
        for _ in 0..3 {
            p.batch_done(&[("dev:loss", 0.125)]);
        }
        p.finish();
        let frames = term.frames();
        assert!(frames[3].starts_with("Evaluation :   0%|"), "{}", frames[3]);
        assert!(
            frames[4].starts_with("Evaluation dev:loss=0.1250:  67%|"),
            "{}",
            frames[4]
        );
        assert_eq!(frames.len(), 5);
    }

    #[test]
    fn first_k_refreshes_are_shared_and_erasing_still_happens() {
        let term = Recorder::default();
        let budget = RefreshBudget::new(Some(3));
        let mut a = Progress::with_term(
            config(3, Some(1), Some(3)),
            budget.clone(),
            term.clone(),
            true,
        );
        a.start_epoch(1, 2, 4);
        a.batch_done(&[("loss", 1.0)]);
        a.batch_done(&[("loss", 1.0)]);
        a.batch_done(&[("loss", 1.0)]); // budget exhausted: not drawn
        let before = term.frames().len();
        a.finish();
        assert_eq!(before, 3);
        assert!(term.ends_erased(), "{:?}", term.events());
        let mut b = Progress::with_term(config(3, Some(1), Some(3)), budget, term.clone(), false);
        b.start_epoch(2, 2, 4);
        b.batch_done(&[("loss", 1.0)]);
        b.finish();
        assert_eq!(term.frames().len(), 3);
        assert_eq!(a.refreshes_drawn() + b.refreshes_drawn(), 3);
    }

    #[test]
    fn narrow_bar_when_the_width_is_unknown() {
        // course: `labs/npfl138/progress_logger.py`: `Epoch 1/10 loss=1.0000 accuracy=0.5000:  20%|██        | 1/5 [...]`
        let term = Recorder::default();
        let mut p = Progress::with_term(
            config(3, Some(1), None),
            RefreshBudget::new(None),
            term.clone(),
            false,
        );
        p.start_epoch(1, 10, 5);
        p.batch_done(&[("loss", 1.0), ("accuracy", 0.5)]);
        p.finish();
        let frames = term.frames();
        assert!(
            frames[0].starts_with("Epoch 1/10 :   0%|          | 0/5 [00:00<?, ?batch/s]"),
            "{}",
            frames[0]
        );
        assert!(
            frames[1].starts_with(
                "Epoch 1/10 loss=1.0000 accuracy=0.5000:  20%|██        | 1/5 [00:00<00:00, "
            ),
            "{}",
            frames[1]
        );
        assert!(frames[1].ends_with("batch/s]"), "{}", frames[1]);
    }

    #[test]
    fn default_pacing_is_time_based() {
        let term = Recorder::default();
        let mut p = Progress::with_term(
            config(3, None, None),
            RefreshBudget::new(None),
            term.clone(),
            true,
        );
        p.start_epoch(1, 1, 1000);
        for _ in 0..1000 {
            p.batch_done(&[("loss", 1.0)]);
        }
        assert_eq!(
            p.refreshes_drawn(),
            1,
            "a fast loop refreshes only after 0.1 s"
        );
        std::thread::sleep(MIN_INTERVAL);
        p.batch_done(&[("loss", 1.0)]);
        assert_eq!(p.refreshes_drawn(), 2);
        p.finish();
    }

    /// A writer whose bytes a test can read after the terminal has written them.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn off_a_terminal_the_bar_redraws_with_carriage_returns_like_tqdm() {
        let out = Shared::default();
        let mut p = Progress::with_term(
            config(3, Some(1), None),
            RefreshBudget::new(None),
            CarriageReturnTerm::new(out.clone()),
            false,
        );
        p.start_epoch(1, 10, 3);
        p.batch_done(&[("loss", 1.0), ("accuracy", 0.5)]);
        p.batch_done(&[("loss", 0.5), ("accuracy", 0.75)]);
        p.finish();
        p.start_evaluation(1);
        p.batch_done(&[("dev:loss", 0.25)]);
        p.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains('\x1b'), "no escape codes: {text:?}");
        assert!(!text.contains('\n'), "one line, redrawn: {text:?}");
        // Every frame starts with \r; the two bars are each erased with \r, spaces, \r.
        let frames: Vec<&str> = text.split('\r').filter(|f| !f.trim().is_empty()).collect();
        assert_eq!(frames.len(), 5, "{text:?}");
        assert!(
            text.starts_with("\rEpoch 1/10 :   0%|          | 0/3 [00:00<?, ?batch/s]"),
            "{text:?}"
        );
        assert!(
            frames[1].starts_with("Epoch 1/10 loss=1.0000 accuracy=0.5000:  33%|███▎      | 1/3 ["),
            "{text:?}"
        );
        assert!(frames[3].starts_with("Evaluation :   0%|"), "{text:?}");
        // A shorter frame is padded over the longer one before it, as tqdm's status printer does.
        let after_first = text.split('\r').nth(2).unwrap();
        assert!(after_first.chars().count() >= frames[0].trim_end().chars().count());
        let erase = |width: usize| format!("\r{}\r", " ".repeat(width));
        let last_train = frames[2].trim_end().chars().count();
        assert!(text.contains(&erase(last_train)), "{text:?}");
        assert!(
            text.ends_with(&erase(frames[4].trim_end().chars().count())),
            "{text:?}"
        );
    }

    #[test]
    fn hidden_levels_draw_nothing() {
        for verbosity in [0, 1] {
            let term = Recorder::default();
            let mut p = Progress::with_term(
                config(verbosity, Some(1), None),
                RefreshBudget::new(None),
                term.clone(),
                true,
            );
            assert!(!p.is_visible());
            p.start_epoch(1, 1, 3);
            p.batch_done(&[("loss", 1.0)]);
            p.finish();
            assert_eq!(p.refreshes_drawn(), 0);
            assert!(term.events().is_empty());
            assert_eq!(p.print_epoch_lines(), verbosity == 1);
        }
    }
}
