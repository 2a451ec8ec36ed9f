//! Checking a solution: each case runs in a fresh temporary directory holding the case's files,
//! with the case's arguments appended to the solution's command, and gets a [`Verdict`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cases::{Case, FileSource};
use crate::compare::{Difference, compare};
use crate::error::CheckError;
use crate::runner::{self, Invocation, Termination};

/// The outcome of one case, as ReCodEx reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The output matches.
    Ok,
    /// The solution exited with 0 but printed something else.
    Wrong(Difference),
    /// Killed after the time limit.
    Timeout(Duration),
    /// Non-zero exit code or killed by a signal; the last line the solution wrote to stderr.
    Crash {
        /// The exit code (`None`: killed by a signal).
        code: Option<i32>,
        /// The last non-empty stderr line.
        last_stderr: String,
    },
    /// Not run; why.
    Skipped(String),
}

impl Verdict {
    /// The report's word: `OK`, `WRONG`, `TIMEOUT`, `CRASH` or `SKIPPED`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Wrong(_) => "WRONG",
            Verdict::Timeout(_) => "TIMEOUT",
            Verdict::Crash { .. } => "CRASH",
            Verdict::Skipped(_) => "SKIPPED",
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
    /// The time limit applied.
    pub timeout: Duration,
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

/// Runs `solution` on `case` (unless it is to be skipped) with `timeout`, or the case's own limit.
///
/// # Errors
/// Failing to prepare the temporary directory or to start the solution at all.
pub fn check_case(
    case: &Case,
    solution: &Invocation,
    timeout: Option<Duration>,
) -> Result<CaseResult, CheckError> {
    let timeout = timeout.unwrap_or(case.timeout);
    let result = |verdict, elapsed| CaseResult {
        case: case.clone(),
        verdict,
        elapsed,
        timeout,
    };
    if let Some(reason) = &case.skip {
        return Ok(result(Verdict::Skipped(reason.clone()), None));
    }
    let dir = tempfile::Builder::new()
        .prefix("npfl138-check-")
        .tempdir()
        .map_err(CheckError::io(std::env::temp_dir()))?;
    place_files(case, dir.path())?;
    let mut inv = solution.clone();
    inv.args.extend(case.args.iter().cloned());
    let run = runner::run(&inv, dir.path(), timeout)?;
    let verdict = match run.termination {
        Termination::TimedOut => Verdict::Timeout(timeout),
        Termination::Exited(0) => match compare(&case.expected, &run.stdout, case.rule) {
            Ok(()) => Verdict::Ok,
            Err(d) => Verdict::Wrong(d),
        },
        t => Verdict::Crash {
            code: match t {
                Termination::Exited(c) => Some(c),
                _ => None,
            },
            last_stderr: run
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim_end()
                .to_owned(),
        },
    };
    Ok(result(verdict, Some(run.elapsed)))
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

impl fmt::Display for CaseResult {
    /// `test_1     OK       0.04s  0.50/0.50  --data_path ...`, then detail lines for failures.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.case;
        let earned = if self.verdict == Verdict::Ok {
            c.points
        } else {
            0.0
        };
        write!(
            f,
            "{:<10} {:<8} {:>7}  {:.2}/{:.2}  {}",
            c.name,
            self.verdict.word(),
            self.elapsed.map_or_else(|| "-".to_owned(), secs),
            earned,
            c.points,
            c.args.join(" ")
        )?;
        if let Some(note) = &c.note {
            write!(f, "  ({note})")?;
        }
        match &self.verdict {
            Verdict::Ok => Ok(()),
            Verdict::Skipped(reason) => write!(f, "\n    {reason}"),
            Verdict::Timeout(limit) => write!(
                f,
                "\n    killed after the time limit of {} (--timeout to change it)",
                secs(*limit)
            ),
            Verdict::Crash { code, last_stderr } => {
                match code {
                    Some(code) => write!(f, "\n    exit code {code}")?,
                    None => write!(f, "\n    killed by a signal")?,
                }
                if last_stderr.is_empty() {
                    write!(f, ", nothing on stderr")
                } else {
                    write!(f, "; last stderr line: {last_stderr}")
                }
            }
            Verdict::Wrong(d) => {
                let exp = d.expected.as_deref().unwrap_or("<no line>");
                let got = d.got.as_deref().unwrap_or("<no line>");
                let width = exp.chars().count().max("expected".len());
                write!(
                    f,
                    "\n    first difference, line {}: {}\n    {:<width$} | got\n    {:<width$} | {}",
                    d.line, d.reason, "expected", exp, got
                )
            }
        }
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
            let ok = r.verdict == Verdict::Ok;
            (
                earned + if ok { r.case.points } else { 0.0 },
                total + r.case.points,
            )
        })
    }

    /// Whether the check passed: every case that ran is OK, and at least one ran.
    pub fn passed(&self) -> bool {
        let ran: Vec<&CaseResult> = self
            .results
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::Skipped(_)))
            .collect();
        !ran.is_empty() && ran.iter().all(|r| r.verdict == Verdict::Ok)
    }
}

impl fmt::Display for Summary<'_> {
    /// `numpy_entropy: 1.50/2.00 points; 5 OK, 1 WRONG, 0 TIMEOUT, 0 CRASH, 0 SKIPPED: FAILED`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (earned, total) = self.points();
        let count = |word: &&str| {
            self.results
                .iter()
                .filter(|r| r.verdict.word() == *word)
                .count()
        };
        let counts: Vec<String> = ["OK", "WRONG", "TIMEOUT", "CRASH", "SKIPPED"]
            .iter()
            .map(|w| format!("{} {w}", count(w)))
            .collect();
        let status = if self.passed() {
            "PASSED"
        } else if self
            .results
            .iter()
            .all(|r| matches!(r.verdict, Verdict::Skipped(_)))
        {
            "NOTHING RAN"
        } else {
            "FAILED"
        };
        write!(
            f,
            "{}: {earned:.2}/{total:.2} points; {}: {status}",
            self.assignment,
            counts.join(", ")
        )
    }
}
