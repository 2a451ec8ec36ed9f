//! Runs a solution's command in a directory with a time limit, as ReCodEx does.
//!
//! The command gets no stdin; stdout and stderr are captured. On Unix the process becomes the
//! leader of a new process group, and on timeout the whole group is killed (`kill -KILL -<pgid>`),
//! so a `sh -c 'sleep 100'` or a Python solution's worker processes cannot outlive the check.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::CheckError;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Exited with this code (0 = success).
    Exited(i32),
    /// Killed by a signal it did not handle (e.g. a segmentation fault).
    Signalled,
    /// Killed by us after the time limit.
    TimedOut,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Run {
    /// How it ended.
    pub termination: Termination,
    /// Everything printed to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything printed to stderr (lossy UTF-8).
    pub stderr: String,
    /// Wall-clock time until it ended or was killed.
    pub elapsed: Duration,
}

/// A command to run: the program and its arguments, and environment variables to set or remove.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    /// The program (a path or a name looked up in `PATH`).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Environment variables to set.
    pub env: Vec<(String, String)>,
    /// Environment variables to remove.
    pub env_remove: Vec<String>,
}

fn reader(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error (e.g. the pipe closed by a killed process) ends the capture.
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

#[cfg(unix)]
fn new_process_group(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
}

#[cfg(not(unix))]
fn new_process_group(_cmd: &mut Command) {}

/// Kills the child and (on Unix) its whole process group.
fn kill_all(child: &mut Child) {
    #[cfg(unix)]
    {
        // The child leads its own group (pgid == pid): `kill -KILL -<pid>` reaches grandchildren.
        let group = format!("-{}", child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let _ = child.kill();
}

fn termination(status: ExitStatus) -> Termination {
    status
        .code()
        .map_or(Termination::Signalled, Termination::Exited)
}

/// Runs `inv` in `dir`, killing it (and its process group) after `timeout`.
///
/// # Errors
/// [`CheckError::Spawn`] when the program cannot be started, [`CheckError::Wait`] when waiting fails.
pub fn run(inv: &Invocation, dir: &Path, timeout: Duration) -> Result<Run, CheckError> {
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in &inv.env_remove {
        cmd.env_remove(name);
    }
    for (name, value) in &inv.env {
        cmd.env(name, value);
    }
    new_process_group(&mut cmd);
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|source| CheckError::Spawn {
        program: inv.program.display().to_string(),
        source,
    })?;
    let out = reader(child.stdout.take().expect("stdout is piped"));
    let err = reader(child.stderr.take().expect("stderr is piped"));
    let wait_error = |source| CheckError::Wait {
        program: inv.program.display().to_string(),
        source,
    };
    let termination = loop {
        if let Some(status) = child.try_wait().map_err(wait_error)? {
            break termination(status);
        }
        if start.elapsed() >= timeout {
            kill_all(&mut child);
            child.wait().map_err(wait_error)?;
            break Termination::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    if termination != Termination::TimedOut {
        // Grandchildren that still hold the pipes open would block the readers: end them too.
        kill_all(&mut child);
    }
    let text = |h: JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Ok(Run {
        termination,
        stdout: text(out),
        stderr: text(err),
        elapsed,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Invocation {
        Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), script.into()],
            ..Invocation::default()
        }
    }

    #[test]
    fn captures_output_and_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let r = run(
            &sh("echo out; echo err >&2; exit 3"),
            dir.path(),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.termination, Termination::Exited(3));
        assert_eq!((r.stdout.as_str(), r.stderr.as_str()), ("out\n", "err\n"));
    }

    #[test]
    fn kills_the_process_group_on_timeout() {
        let dir = tempfile::tempdir().unwrap();
        // The grandchild `sleep` keeps stdout open: without the group kill the readers would block.
        let r = run(
            &sh("echo started; sleep 30 & sleep 30; wait"),
            dir.path(),
            Duration::from_millis(300),
        )
        .unwrap();
        assert_eq!(r.termination, Termination::TimedOut);
        assert_eq!(r.stdout, "started\n");
        assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
    }

    #[test]
    fn runs_in_the_directory_with_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), "hello").unwrap();
        let mut inv = sh("cat f.txt; echo \" $X ${HOME:-none}\"");
        inv.env.push(("X".into(), "x".into()));
        inv.env_remove.push("HOME".into());
        let r = run(&inv, dir.path(), Duration::from_secs(10)).unwrap();
        assert_eq!(r.stdout, "hello x none\n");
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let inv = Invocation {
            program: "/nonexistent/solution".into(),
            ..Invocation::default()
        };
        let e = run(&inv, dir.path(), Duration::from_secs(1)).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/solution"), "{e}");
    }
}
