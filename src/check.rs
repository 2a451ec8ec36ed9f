//! Checking a solution: each case runs in a fresh temporary directory holding the case's files,
//! under the [`Limits`], and gets a [`Verdict`].
//!
//! A solution is either a command in any language ([`Solution::Command`]: the case's arguments are
//! appended and its stdout is compared), or a Python submission run the way ReCodEx runs it
//! ([`Solution::Submission`]: imported as `__recodex__` by [`crate::submission::DRIVER`], and the
//! value `main(args)` returns is compared).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cases::{Case, FileSource};
use crate::compare::{Difference, Returns, abbreviate, compare};
use crate::error::CheckError;
use crate::runner::{Invocation, Limits, Run, Sandbox, Termination, bytes};
use crate::submission::{DRIVER, Submission};

/// How much of a solution's line or stderr a report shows.
pub const SHOWN: usize = 200;

/// What is checked.
#[derive(Debug, Clone)]
pub enum Solution {
    /// A command in any language; each case's arguments are appended, its stdout compared.
    Command(Invocation),
    /// A Python submission, run like ReCodEx: its files are copied into the case's directory,
    /// the driver imports its main file and the returned value is compared.
    Submission {
        /// The submission.
        submission: Submission,
        /// The Python interpreter.
        python: String,
    },
}

impl fmt::Display for Solution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Solution::Command(inv) => {
                write!(f, "{}", inv.program.display())?;
                for arg in &inv.args {
                    write!(f, " {arg}")?;
                }
                Ok(())
            }
            Solution::Submission { submission, python } => write!(
                f,
                "{} ({} file(s), main {}; imported as __recodex__ by {python})",
                submission.root.display(),
                submission.files.len(),
                submission.main.display()
            ),
        }
    }
}

/// The outcome of one case, as ReCodEx reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The output (or the returned value) matches.
    Ok,
    /// The solution exited with 0 but printed something else.
    Wrong(Difference),
    /// The solution exited with 0 but `main` returned something else (submission mode).
    WrongReturn(String),
    /// Killed after the time limit.
    Timeout(Duration),
    /// Killed: the process tree's resident memory went over the limit.
    Memory {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Killed: stdout or stderr went over the limit.
    Output {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Killed: more processes than allowed.
    Processes {
        /// The limit.
        limit: usize,
    },
    /// Non-zero exit code or killed by a signal; the last line the solution wrote to stderr.
    Crash {
        /// The exit code (`None`: killed by a signal).
        code: Option<i32>,
        /// The signal that killed it.
        signal: Option<i32>,
        /// The last non-empty stderr line (abbreviated).
        last_stderr: String,
    },
    /// Not run; why.
    Skipped(String),
}

impl Verdict {
    /// The report's word.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Wrong(_) | Verdict::WrongReturn(_) => "WRONG",
            Verdict::Timeout(_) => "TIMEOUT",
            Verdict::Memory { .. } => "MEMORY",
            Verdict::Output { .. } => "OUTPUT",
            Verdict::Processes { .. } => "PROCESSES",
            Verdict::Crash { .. } => "CRASH",
            Verdict::Skipped(_) => "SKIPPED",
        }
    }

    /// Every word, in the summary's order.
    pub const WORDS: [&'static str; 8] = [
        "OK",
        "WRONG",
        "TIMEOUT",
        "MEMORY",
        "OUTPUT",
        "PROCESSES",
        "CRASH",
        "SKIPPED",
    ];

    /// The detail shown under the case's line (empty for OK).
    pub fn detail(&self) -> String {
        match self {
            Verdict::Ok => String::new(),
            Verdict::Skipped(reason) => reason.clone(),
            Verdict::Timeout(limit) => format!(
                "killed after the time limit of {} (--time-limit to change it)",
                seconds(*limit)
            ),
            Verdict::Memory { limit } => format!(
                "killed: the solution's processes used more than {} of memory (--memory-limit)",
                bytes(*limit)
            ),
            Verdict::Output { limit } => format!(
                "killed: more than {} printed to stdout or stderr (--output-limit)",
                bytes(*limit)
            ),
            Verdict::Processes { limit } => {
                format!("killed: more than {limit} processes at once (--process-limit)")
            }
            Verdict::Crash {
                code,
                signal,
                last_stderr,
            } => {
                let how = match (code, signal) {
                    (Some(code), _) => format!("exit code {code}"),
                    (None, Some(sig)) => format!("killed by signal {sig}"),
                    (None, None) => "killed by a signal".to_owned(),
                };
                if last_stderr.is_empty() {
                    format!("{how}, nothing on stderr")
                } else {
                    format!("{how}; last stderr line: {last_stderr}")
                }
            }
            Verdict::WrongReturn(reason) => reason.clone(),
            Verdict::Wrong(d) => {
                let exp = abbreviate(d.expected.as_deref().unwrap_or("<no line>"), SHOWN);
                let got = abbreviate(d.got.as_deref().unwrap_or("<no line>"), SHOWN);
                let width = exp.chars().count().max("expected".len());
                format!(
                    "first difference, line {}: {}\n{:<width$} | got\n{:<width$} | {}",
                    d.line,
                    abbreviate(&d.reason, SHOWN),
                    "expected",
                    exp,
                    got
                )
            }
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// What happened.
    pub verdict: Verdict,
    /// How long the solution ran (`None` when skipped).
    pub elapsed: Option<Duration>,
    /// The largest resident memory of its processes seen, in bytes.
    pub peak_memory: u64,
    /// The limits applied.
    pub limits: Limits,
    /// The start of its stdout (at most [`SHOWN`] bytes), for the JSON result.
    pub stdout_head: String,
    /// The last line it printed to stdout (abbreviated), shown when it was killed.
    pub stdout_last: String,
    /// Whether stdout or stderr was cut at the output limit.
    pub truncated: bool,
}

impl CaseResult {
    /// The points earned.
    pub fn earned(&self) -> f64 {
        if self.verdict == Verdict::Ok {
            self.case.points
        } else {
            0.0
        }
    }
}

/// Makes a solution command runnable from any directory: each word that names an existing file
/// relative to `cwd` (`numpy_entropy.py`, `./target/release/numpy_entropy`) becomes absolute;
/// other words (`python3`, flags) stay as they are.
///
/// # Panics
/// When `command` is empty.
pub fn invocation(command: &[String], cwd: &Path) -> Invocation {
    assert!(!command.is_empty(), "a solution command is required");
    let resolve = |word: &String| -> String {
        let p = Path::new(word);
        if !p.is_absolute() && cwd.join(p).is_file() {
            cwd.join(p).display().to_string()
        } else {
            word.clone()
        }
    };
    Invocation {
        program: PathBuf::from(resolve(&command[0])),
        args: command[1..].iter().map(resolve).collect(),
        // MNIST comes from the working directory, as the course reads it without NPFL_CACHE.
        env_remove: vec!["NPFL_CACHE".into()],
        env: Vec::new(),
    }
}

fn place_files(case: &Case, dir: &Path) -> Result<(), CheckError> {
    for file in &case.files {
        let dest = dir.join(&file.name);
        match &file.source {
            FileSource::Copy(src) => {
                std::fs::copy(src, &dest).map_err(CheckError::io(src))?;
            }
            FileSource::Text(text) => std::fs::write(&dest, text).map_err(CheckError::io(&dest))?,
        }
    }
    Ok(())
}

/// The last non-empty line of `text`, abbreviated.
fn last_line(text: &str) -> String {
    abbreviate(
        text.lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim_end(),
        SHOWN,
    )
}

/// Runs `solution` on `case` (unless it is to be skipped) under `limits`, whose time limit is
/// the case's own unless `time_limit` is given.
///
/// # Errors
/// Failing to prepare the temporary directory or to start the solution at all, and
/// [`CheckError::Interrupted`] when the checker was interrupted meanwhile.
pub fn check_case(
    case: &Case,
    solution: &Solution,
    sandbox: &Sandbox,
    limits: &Limits,
    time_limit: Option<Duration>,
) -> Result<CaseResult, CheckError> {
    let limits = Limits {
        time: time_limit.unwrap_or(case.timeout),
        ..limits.clone()
    };
    let result = |verdict, run: Option<&Run>| CaseResult {
        case: case.clone(),
        verdict,
        elapsed: run.map(|r| r.elapsed),
        peak_memory: run.map_or(0, |r| r.peak_memory),
        limits: limits.clone(),
        stdout_head: run.map_or_else(String::new, |r| abbreviate(&r.stdout, SHOWN)),
        stdout_last: run.map_or_else(String::new, |r| last_line(&r.stdout)),
        truncated: run.is_some_and(|r| r.truncated),
    };
    if let Some(reason) = &case.skip {
        return Ok(result(Verdict::Skipped(reason.clone()), None));
    }
    // root/ holds the driver and the result file; root/case/ is the working directory.
    let root = tempfile::Builder::new()
        .prefix("npfl138-check-")
        .tempdir()
        .map_err(CheckError::io(std::env::temp_dir()))?;
    let dir = root.path().join("case");
    std::fs::create_dir(&dir).map_err(CheckError::io(&dir))?;
    place_files(case, &dir)?;
    let result_file = root.path().join("result.json");
    let (inv, writable) = match solution {
        Solution::Command(inv) => {
            let mut inv = inv.clone();
            inv.args.extend(case.args.iter().cloned());
            (inv, Vec::new())
        }
        Solution::Submission { submission, python } => {
            submission.copy_into(&dir).map_err(CheckError::io(&dir))?;
            let driver = root.path().join("recodex_driver.py");
            std::fs::write(&driver, DRIVER).map_err(CheckError::io(&driver))?;
            std::fs::write(&result_file, "").map_err(CheckError::io(&result_file))?;
            let mut args = vec![
                driver.display().to_string(),
                dir.join(&submission.main).display().to_string(),
                result_file.display().to_string(),
            ];
            args.extend(case.args.iter().cloned());
            let inv = Invocation {
                program: python.into(),
                args,
                env_remove: vec!["NPFL_CACHE".into()],
                env: vec![("PYTHONDONTWRITEBYTECODE".into(), "1".into())],
            };
            (inv, vec![result_file.clone()])
        }
    };
    let run = sandbox.run(&inv, &dir, &writable, &limits)?;
    let crash = |code, signal| Verdict::Crash {
        code,
        signal,
        last_stderr: last_line(&run.stderr),
    };
    let verdict = match run.termination {
        Termination::Cancelled => return Err(CheckError::Interrupted),
        Termination::TimeLimit => Verdict::Timeout(limits.time),
        Termination::MemoryLimit => Verdict::Memory {
            limit: limits.memory,
        },
        Termination::OutputLimit => Verdict::Output {
            limit: limits.output,
        },
        Termination::ProcessLimit => Verdict::Processes {
            limit: limits.processes,
        },
        Termination::Signalled(sig) => crash(None, Some(sig)),
        Termination::Exited(0) => match solution {
            Solution::Command(_) => match compare(&case.expected, &run.stdout, case.rule) {
                Ok(()) => Verdict::Ok,
                Err(d) => Verdict::Wrong(d),
            },
            Solution::Submission { .. } => returned_verdict(case, &result_file),
        },
        Termination::Exited(code) => crash(Some(code), None),
    };
    Ok(result(verdict, Some(&run)))
}

/// The verdict on what the driver recorded of `main`'s return value.
fn returned_verdict(case: &Case, result_file: &Path) -> Verdict {
    let text = std::fs::read_to_string(result_file).unwrap_or_default();
    let returned = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("returned").cloned());
    let Some(returned) = returned else {
        return Verdict::WrongReturn(
            "main did not return (the process exited with 0 before main finished, e.g. through sys.exit)"
                .to_owned(),
        );
    };
    match Returns::from_expected(&case.expected, case.rule).compare(&returned, case.rule) {
        Ok(()) => Verdict::Ok,
        Err(reason) => Verdict::WrongReturn(abbreviate(&reason, SHOWN)),
    }
}

/// `1.25s`.
pub fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

impl fmt::Display for CaseResult {
    /// `test_1     OK       0.04s   12 MiB  0.50/0.50  --data_path ...`, then detail lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.case;
        write!(
            f,
            "{:<10} {:<9} {:>7} {:>9}  {:.2}/{:.2}  {}",
            c.name,
            self.verdict.word(),
            self.elapsed.map_or_else(|| "-".to_owned(), seconds),
            if self.elapsed.is_some() {
                bytes(self.peak_memory)
            } else {
                "-".to_owned()
            },
            self.earned(),
            c.points,
            c.args.join(" ")
        )?;
        if let Some(note) = &c.note {
            write!(f, "  ({note})")?;
        }
        for line in self.verdict.detail().lines() {
            write!(f, "\n    {line}")?;
        }
        if let (Verdict::WrongReturn(_), Some(first)) = (
            &self.verdict,
            self.stdout_head.lines().find(|l| !l.trim().is_empty()),
        ) {
            // What it printed is shown (ReCodEx checks the returned value, not this).
            write!(f, "\n    it printed (not compared): {first}")?;
        }
        let killed = matches!(
            self.verdict,
            Verdict::Timeout(_)
                | Verdict::Memory { .. }
                | Verdict::Output { .. }
                | Verdict::Processes { .. }
        );
        if killed {
            if self.stdout_last.is_empty() {
                write!(f, "\n    nothing printed to stdout before")?;
            } else {
                write!(f, "\n    last stdout line before: {}", self.stdout_last)?;
            }
        }
        Ok(())
    }
}

/// The overall outcome of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Every case ran and passed.
    Passed,
    /// A case that ran did not pass.
    Failed,
    /// Nothing failed, but some cases did not run: not a pass.
    Incomplete,
    /// The submission breaks ReCodEx's rules; nothing ran.
    Rejected,
}

impl Status {
    /// The exit code of `npfl138 check`: 0 passed, 1 failed or rejected, 3 incomplete (2 is
    /// for errors and bad usage).
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Passed => 0,
            Status::Failed | Status::Rejected => 1,
            Status::Incomplete => 3,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Passed => "PASSED",
            Status::Failed => "FAILED",
            Status::Incomplete => "INCOMPLETE",
            Status::Rejected => "REJECTED",
        })
    }
}

/// The results of all cases of one assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary<'a> {
    /// The assignment.
    pub assignment: &'a str,
    /// Every case's result.
    pub results: &'a [CaseResult],
}

impl Summary<'_> {
    /// Points earned and available.
    pub fn points(&self) -> (f64, f64) {
        self.results.iter().fold((0.0, 0.0), |(earned, total), r| {
            (earned + r.earned(), total + r.case.points)
        })
    }

    /// PASSED only when every case ran and passed; a skipped case makes it INCOMPLETE.
    pub fn status(&self) -> Status {
        let skipped = |r: &&CaseResult| matches!(r.verdict, Verdict::Skipped(_));
        if self
            .results
            .iter()
            .any(|r| !skipped(&r) && r.verdict != Verdict::Ok)
        {
            Status::Failed
        } else if self.results.is_empty() || self.results.iter().any(|r| skipped(&r)) {
            Status::Incomplete
        } else {
            Status::Passed
        }
    }

    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.status() == Status::Passed
    }

    /// How many cases got each verdict word, in [`Verdict::WORDS`] order, leaving out zeros
    /// except OK.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        Verdict::WORDS
            .iter()
            .map(|w| {
                (
                    *w,
                    self.results
                        .iter()
                        .filter(|r| r.verdict.word() == *w)
                        .count(),
                )
            })
            .filter(|(w, n)| *n > 0 || *w == "OK")
            .collect()
    }
}

impl fmt::Display for Summary<'_> {
    /// `numpy_entropy: 1.50/2.00 points; 5 OK, 1 WRONG: FAILED`, and for INCOMPLETE what is
    /// missing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (earned, total) = self.points();
        let counts: Vec<String> = self
            .counts()
            .iter()
            .map(|(w, n)| format!("{n} {w}"))
            .collect();
        let status = self.status();
        write!(
            f,
            "{}: {earned:.2}/{total:.2} points; {}: {status}",
            self.assignment,
            counts.join(", ")
        )?;
        if status == Status::Incomplete {
            write!(
                f,
                " (cases were skipped: provide their data, see above; not a pass)"
            )?;
        }
        Ok(())
    }
}
