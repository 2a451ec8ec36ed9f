//! Runs a solution's command in a directory with a time limit, as ReCodEx does.
//!
//! The command gets no stdin; stdout and stderr go to anonymous temporary files (not pipes, so a
//! leftover grandchild holding them open can never block the checker). On Unix the process becomes
//! the leader of a new process group, and when it ends or times out the whole group is killed
//! (`kill -KILL -- -<pgid>`, procps' `kill`), so a `sh -c 'sleep 100'` or a Python solution's worker
//! processes cannot outlive the check. Without a `kill` program only the process itself is killed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
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

/// An anonymous temporary file for one output stream, and a handle for the child.
fn capture() -> Result<(File, Stdio), CheckError> {
    let file = tempfile::tempfile().map_err(CheckError::io(std::env::temp_dir()))?;
    let for_child = file
        .try_clone()
        .map_err(CheckError::io(std::env::temp_dir()))?;
    Ok((file, Stdio::from(for_child)))
}

/// Everything written to `file` (lossy UTF-8).
fn contents(mut file: File) -> String {
    let mut buf = Vec::new();
    // An unreadable capture reads as empty: the verdict then shows the missing output.
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut buf));
    String::from_utf8_lossy(&buf).into_owned()
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
    let (out, out_child) = capture()?;
    let (err, err_child) = capture()?;
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out_child)
        .stderr(err_child);
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
        // Background processes the solution left behind end with it.
        kill_all(&mut child);
    }
    drop(cmd);
    Ok(Run {
        termination,
        stdout: contents(out),
        stderr: contents(err),
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
        // A background grandchild that would write a file later: the group kill ends it.
        let script = "echo started; (sleep 1; echo late > late.txt) & sleep 30";
        let r = run(&sh(script), dir.path(), Duration::from_millis(300)).unwrap();
        assert_eq!(r.termination, Termination::TimedOut);
        assert_eq!(r.stdout, "started\n");
        assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            !dir.path().join("late.txt").exists(),
            "the grandchild survived"
        );
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
