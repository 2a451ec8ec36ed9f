//! What every binary shares: one-line errors, a quiet exit when stdout is closed, and the value
//! parsers of the numeric flags.
//!
//! A binary is
//!
//! ```no_run
//! use std::io::Write;
//! fn main() -> std::process::ExitCode {
//!     assignments::cli::main("numpy_entropy", |out| {
//!         writeln!(out, "Entropy: 0.96 nats")?;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! - An error is printed as one line, `NAME: error: message: cause: cause`, whatever
//!   `RUST_BACKTRACE` says, and the exit code is 1. clap's usage errors (bad flags) are clap's own:
//!   several lines and exit code 2.
//! - Output goes through [`Stdout`] (locked). When the reader has gone away (`| head -1`), the
//!   binary stops quietly with exit code 0 instead of panicking as `println!` does.

use std::fmt::Display;
use std::io::{self, Write};
use std::process::ExitCode;

/// The binary's stdout, locked, remembering whether the reader has closed the pipe.
#[derive(Debug)]
pub struct Stdout {
    inner: io::StdoutLock<'static>,
    closed: bool,
}

impl Stdout {
    /// Locks the process's stdout.
    pub fn new() -> Self {
        Stdout {
            inner: io::stdout().lock(),
            closed: false,
        }
    }

    /// Whether a write failed because the reader closed the pipe (`BrokenPipe`).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Remembers a closed pipe; names stdout in every error (`writing to stdout: No space left...`).
    fn note<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        result.map_err(|e| {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed = true;
            }
            io::Error::new(e.kind(), format!("writing to stdout: {e}"))
        })
    }
}

impl Default for Stdout {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.inner.write(buf);
        self.note(result)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let result = self.inner.write_all(buf);
        self.note(result)
    }

    fn flush(&mut self) -> io::Result<()> {
        let result = self.inner.flush();
        self.note(result)
    }
}

/// Runs a binary's `body` with its stdout and turns the outcome into the exit code: 0 on success
/// and when stdout was closed by its reader (nothing is printed then), otherwise 1 after the error
/// on one line of stderr ([`error_line`]). Parse the flags inside `body` with clap's `parse`, so
/// that usage errors keep clap's format and exit code 2.
pub fn main(name: &str, body: impl FnOnce(&mut Stdout) -> anyhow::Result<()>) -> ExitCode {
    let mut out = Stdout::new();
    let result = body(&mut out).and_then(|()| Ok(out.flush()?));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if out.is_closed() => ExitCode::SUCCESS,
        Err(e) => {
            // A closed or broken stderr leaves nothing to tell: ignore that error too.
            let _ = writeln!(io::stderr().lock(), "{}", error_line(name, &e));
            ExitCode::FAILURE
        }
    }
}

/// Ends the process at once because stdout has been closed by its reader: exit code 0, nothing
/// printed. For loops (training) that cannot return early from a callback; flush what must be
/// kept (logs) first.
pub fn exit_stdout_closed() -> ! {
    std::process::exit(0)
}

/// `NAME: error: message: cause: cause` on one line: anyhow's alternate form (the context chain
/// joined by `: `, never a backtrace), with any line breaks inside a message folded into spaces.
pub fn error_line(name: &str, error: &anyhow::Error) -> String {
    let message = format!("{error:#}");
    let message = message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    format!("{name}: error: {message}")
}

/// Python's `int(text)`, which argparse's `type=int` calls: optional surrounding whitespace, an
/// optional sign, ASCII digits with single underscores between them. `None` for anything else,
/// and for values beyond `i128`.
fn python_int(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let well_formed = !digits.is_empty()
        && digits
            .split('_')
            .all(|group| !group.is_empty() && group.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed {
        return None;
    }
    let magnitude: i128 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// A clap value parser for an integer flag (argparse `type=int`) that must lie in `min..=max`.
/// Every rejected value gets the same explanation, `must be {expected}`, plus the bound when an
/// integer is merely too large: `invalid value '-5' for '--examples <EXAMPLES>': must be a
/// positive integer`, not Rust's "invalid digit found in string".
pub fn int_flag<T>(
    min: T,
    max: T,
    expected: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<i128> + Copy + Display + Send + Sync + 'static,
    i128: TryFrom<T>,
{
    let bound = |b: T, fallback| i128::try_from(b).unwrap_or(fallback);
    let (low, high) = (bound(min, i128::MIN), bound(max, i128::MAX));
    move |text| {
        let rejected = || format!("must be {expected}");
        let value = python_int(text).ok_or_else(rejected)?;
        if value > high {
            let max = max.to_string();
            return Err(if expected.contains(&max) {
                rejected()
            } else {
                format!("must be {expected} (at most {max})")
            });
        }
        if value < low {
            return Err(rejected());
        }
        T::try_from(value).map_err(|_| rejected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_is_argparse_type_int() {
        for (text, value) in [
            ("5", Some(5)),
            (" 5\n", Some(5)),
            ("+5", Some(5)),
            ("-5", Some(-5)),
            ("007", Some(7)),
            ("1_000", Some(1000)),
            ("1__000", None),
            ("_1", None),
            ("1_", None),
            ("", None),
            ("-", None),
            ("1.5", None),
            ("1e3", None),
            ("0x10", None),
            ("many", None),
            ("- 5", None),
        ] {
            assert_eq!(python_int(text), value, "{text:?}");
        }
    }

    #[test]
    fn int_flag_messages() {
        let positive = int_flag(0usize, usize::MAX, "a positive integer");
        assert_eq!(positive("256"), Ok(256));
        assert_eq!(
            positive("0"),
            Ok(0),
            "zero is run's one-line error, exit code 1"
        );
        assert_eq!(positive("-5"), Err("must be a positive integer".into()));
        assert_eq!(positive("many"), Err("must be a positive integer".into()));
        assert_eq!(
            positive("99999999999999999999999"),
            Err(format!(
                "must be a positive integer (at most {})",
                usize::MAX
            ))
        );
        use crate::common::{SEED_EXPECTED, Seed};
        let seed = int_flag(0, Seed::MAX, SEED_EXPECTED);
        assert_eq!(seed("4294967295"), Ok(4_294_967_295));
        assert_eq!(seed("4294967296"), Err(format!("must be {SEED_EXPECTED}")));
        assert!(seed("-1").unwrap_err().contains("2**32 - 1"));
        let threads = int_flag(i64::MIN, i64::MAX, "an integer");
        assert_eq!(threads("-1"), Ok(-1));
    }

    #[test]
    fn errors_are_one_line_with_their_causes() {
        let e = anyhow::Error::new(io::Error::other("No such file or directory"))
            .context("cannot read x.npz")
            .context("loading\nthe data");
        assert_eq!(
            error_line("prog", &e),
            "prog: error: loading the data: cannot read x.npz: No such file or directory"
        );
    }
}
