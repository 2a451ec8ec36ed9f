//! Runs a solution's command in a directory under the course's limits, as ReCodEx does, and makes
//! sure that nothing it starts outlives the run.
//!
//! Each run gets its own supervising thread. Where the kernel allows (as root), that thread moves
//! its future children into a new PID namespace, so the solution is the namespace's init: when it
//! exits or is killed, the kernel kills every process it left behind, `setsid` and double forks
//! included. The thread starts our own binary as a trampoline ([`crate::sandbox`]), which cuts the
//! network off, confines writes, sets the file-size limit, drops capabilities and `exec`s the
//! solution. Without a PID namespace (a normal user) the solution leads a new process group, the
//! checker becomes a child subreaper (orphans of a `setsid` or a double fork are adopted by it
//! instead of init), and the tree is tracked from `/proc` at every poll and killed with it; the
//! report's header says which mode applied.
//!
//! The supervisor polls every [`POLL`]: the time limit, the memory the whole process tree
//! allocated (resident anonymous and shared memory, `RssAnon + RssShmem` summed from
//! `/proc/<pid>/status`; mapped library files do not count), the number of processes, and the size of the captured
//! stdout and stderr (anonymous temporary files, never pipes, so a grandchild holding them cannot
//! block the checker). Address-space limits are not used: NumPy and PyTorch reserve far more than
//! they touch. Whatever ends the run, the tree is killed *before* the solution is reaped (its pid
//! cannot be reused in between), by signals sent from here, not by an external `kill` program.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use crate::error::CheckError;
use crate::sandbox::{self, Applied, Network, Request};

/// How often the supervisor looks at the solution.
pub const POLL: Duration = Duration::from_millis(10);

/// The limits of one run. [`Limits::default`] holds the course's ReCodEx numbers where it has them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// Wall-clock time.
    pub time: Duration,
    /// Resident memory of the whole process tree, in bytes.
    pub memory: u64,
    /// What is kept of stdout and of stderr, each, in bytes; more is an output-limit verdict.
    pub output: u64,
    /// The largest file the solution may write, in bytes.
    pub file_size: u64,
    /// The most processes alive at once (threads not counted).
    pub processes: usize,
    /// Whether the solution may use the network.
    pub network: bool,
}

impl Default for Limits {
    /// ReCodEx's 1.5 GB and 10 s (labs/faq.md); 8 MiB of output per stream, 64 MiB files, 64
    /// processes, no network.
    fn default() -> Limits {
        Limits {
            time: Duration::from_secs(10),
            memory: 1536 << 20,
            output: 8 << 20,
            file_size: 64 << 20,
            processes: 64,
            network: false,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// Exited with this code (0 = success).
    Exited(i32),
    /// Killed by this signal, not by us (e.g. a segmentation fault).
    Signalled(i32),
    /// Killed by us after the time limit.
    TimeLimit,
    /// Killed by us: the process tree's resident memory went over the limit.
    MemoryLimit,
    /// Killed by us (or by the file-size limit): stdout or stderr went over the output limit.
    OutputLimit,
    /// Killed by us: more processes than allowed.
    ProcessLimit,
    /// Killed by us because the checker itself was interrupted (Ctrl-C, SIGTERM).
    Cancelled,
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Run {
    /// How it ended.
    pub termination: Termination,
    /// What it printed to stdout, at most [`Limits::output`] bytes (lossy UTF-8).
    pub stdout: String,
    /// What it printed to stderr, at most [`Limits::output`] bytes (lossy UTF-8).
    pub stderr: String,
    /// Whether stdout or stderr was longer than kept.
    pub truncated: bool,
    /// Wall-clock time until it ended or was killed.
    pub elapsed: Duration,
    /// The largest resident memory of the process tree seen at a poll, in bytes.
    pub peak_memory: u64,
    /// The most processes seen alive at once.
    pub peak_processes: usize,
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

/// What isolation this machine gives a run, found once by [`Sandbox::probe`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Isolation {
    /// Each run in its own PID namespace.
    pub pid_namespace: bool,
    /// What the trampoline could apply.
    #[serde(flatten)]
    pub applied: Applied,
}

impl Isolation {
    /// The isolations that a grader expects and this machine does not give, in words.
    pub fn missing(&self, limits: &Limits) -> Vec<String> {
        let mut missing = Vec::new();
        if !self.pid_namespace {
            missing.push(
                "no PID namespace: processes that double-fork between two polls can escape"
                    .to_owned(),
            );
        }
        if !limits.network && self.applied.network == Network::Open {
            missing.push(
                "the network stays open (no network namespace, no Landlock TCP rules)".to_owned(),
            );
        }
        if self.applied.landlock_abi == 0 {
            missing.push(format!(
                "writes are not confined to the case's directory (Landlock: {})",
                self.applied
                    .landlock_missing
                    .as_deref()
                    .unwrap_or("not available")
            ));
        }
        missing
    }

    /// The report's header line, e.g. `limits: time 10 s, memory 1.5 GiB (polled), ...`; `time`
    /// is the time limit when one is set for every case (else each case has its own).
    pub fn describe(&self, limits: &Limits, time: Option<Duration>) -> String {
        let network = if limits.network {
            "network allowed".to_owned()
        } else {
            match self.applied.network {
                Network::Open => "network OPEN (no namespace, no Landlock)".to_owned(),
                Network::Netns => "network off (netns)".to_owned(),
                Network::UserNetns => "network off (user+net namespace)".to_owned(),
                Network::LandlockTcp => {
                    "network: TCP off (landlock), other protocols open".to_owned()
                }
            }
        };
        let writes = if self.applied.landlock_abi > 0 {
            format!(
                "writes confined (landlock ABI {})",
                self.applied.landlock_abi
            )
        } else {
            format!(
                "writes NOT confined (landlock: {})",
                self.applied
                    .landlock_missing
                    .as_deref()
                    .unwrap_or("not available")
            )
        };
        format!(
            "limits: time {}, memory {} (polled), output {} per stream, files {}, {} processes{}, {network}, {writes}{}",
            time.map_or_else(
                || "per case (at least 10 s)".to_owned(),
                |t| format!("{} per case", crate::check::seconds(t))
            ),
            bytes(limits.memory),
            bytes(limits.output),
            bytes(limits.file_size),
            limits.processes,
            if self.pid_namespace {
                " (pid namespace)"
            } else {
                " (tracked from /proc, orphans adopted)"
            },
            if self.applied.capabilities_dropped {
                ", capabilities dropped"
            } else {
                ""
            },
        )
    }
}

/// `1.5 GiB`, `8 MiB`, `512 B`.
pub fn bytes(n: u64) -> String {
    let units = [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in units {
        if n >= size {
            let value = n as f64 / size as f64;
            return if value.fract() == 0.0 {
                format!("{value} {unit}")
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// The runner: our trampoline binary, what isolation it gives, and the checker's interrupt flag.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// Our own binary, started with [`sandbox::SUBCOMMAND`] as the trampoline.
    pub helper: PathBuf,
    /// What isolation applies (from [`Sandbox::probe`]).
    pub isolation: Isolation,
    /// Set when the checker is interrupted: every run kills its solution and returns.
    pub cancel: std::sync::Arc<AtomicBool>,
    /// Without PID namespaces: the trampolines this process started and has not reaped. Any
    /// other child of this process is an orphan of some solution, adopted because this process is
    /// a child subreaper.
    trampolines: Arc<Mutex<BTreeSet<i32>>>,
}

impl Sandbox {
    /// Finds out what isolation this machine gives, by starting the trampoline once with
    /// `--probe` in a new PID namespace (when allowed).
    ///
    /// # Errors
    /// The trampoline cannot be started or does not answer.
    pub fn probe(helper: &Path, cancel: std::sync::Arc<AtomicBool>) -> Result<Sandbox, CheckError> {
        let helper = helper.to_path_buf();
        let probe_error = |message: String| CheckError::Sandbox(message);
        let (pid_namespace, output) = std::thread::scope(|s| {
            s.spawn(|| {
                let pid_namespace = unshare(CloneFlags::CLONE_NEWPID).is_ok();
                let request = Request {
                    no_network: true,
                    writable: vec![std::env::temp_dir()],
                    file_size: Some(1 << 20),
                    probe: true,
                };
                let output = Command::new(&helper)
                    .arg(sandbox::SUBCOMMAND)
                    .args(request.to_args())
                    .stdin(Stdio::null())
                    .output();
                (pid_namespace, output)
            })
            .join()
            .expect("the probe thread does not panic")
        });
        let output =
            output.map_err(|e| probe_error(format!("cannot start {}: {e}", helper.display())))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let applied = Applied::parse(&stdout).ok_or_else(|| {
            probe_error(format!(
                "{} {} answered `{}` {}",
                helper.display(),
                sandbox::SUBCOMMAND,
                stdout.trim(),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        })?;
        if !pid_namespace {
            // Orphans of a solution (setsid, double forks) are then adopted by this process
            // instead of init, so they stay visible and are killed with the solution.
            nix::sys::prctl::set_child_subreaper(true)
                .map_err(|e| probe_error(format!("PR_SET_CHILD_SUBREAPER: {e}")))?;
        }
        Ok(Sandbox {
            helper,
            isolation: Isolation {
                pid_namespace,
                applied,
            },
            cancel,
            trampolines: Arc::default(),
        })
    }

    /// Runs `inv` in `dir` under `limits`; `writable` lists what it may write besides `dir`.
    ///
    /// # Errors
    /// [`CheckError::Spawn`] when the trampoline cannot be started, [`CheckError::Sandbox`] when
    /// it cannot set itself up or start the program, [`CheckError::Wait`] when waiting fails.
    pub fn run(
        &self,
        inv: &Invocation,
        dir: &Path,
        writable: &[PathBuf],
        limits: &Limits,
    ) -> Result<Run, CheckError> {
        std::thread::scope(|s| {
            s.spawn(|| self.supervise(inv, dir, writable, limits))
                .join()
                .expect("the supervisor does not panic")
        })
    }

    fn supervise(
        &self,
        inv: &Invocation,
        dir: &Path,
        writable: &[PathBuf],
        limits: &Limits,
    ) -> Result<Run, CheckError> {
        let iso = &self.isolation;
        // This thread is new: its children (the trampoline, then the solution) go into a fresh
        // PID namespace. The thread lives until the solution is reaped (the trampoline's
        // PR_SET_PDEATHSIG watches it).
        let in_namespace = iso.pid_namespace && unshare(CloneFlags::CLONE_NEWPID).is_ok();
        let (out, out_child) = capture()?;
        let (err, err_child) = capture()?;
        let mut request = Request {
            no_network: !limits.network && iso.applied.network != Network::Open,
            writable: vec![dir.to_path_buf()],
            file_size: Some(limits.file_size.max(limits.output + 1)),
            probe: false,
        };
        request.writable.extend(writable.iter().cloned());
        let mut cmd = Command::new(&self.helper);
        cmd.arg(sandbox::SUBCOMMAND)
            .args(request.to_args())
            .arg("--")
            .arg(&inv.program)
            .args(&inv.args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out_child)
            .stderr(err_child)
            .env("TMPDIR", dir)
            .process_group(0);
        for name in &inv.env_remove {
            cmd.env_remove(name);
        }
        for (name, value) in &inv.env {
            cmd.env(name, value);
        }
        let start = Instant::now();
        // Registered before any other supervisor can take it for an adopted orphan.
        let mut trampolines = self.trampolines.lock().expect("not poisoned");
        let mut child = cmd.spawn().map_err(|source| CheckError::Spawn {
            program: self.helper.display().to_string(),
            source,
        })?;
        trampolines.insert(child.id() as i32);
        drop(trampolines);
        drop(cmd);
        let pid = Pid::from_raw(child.id() as i32);
        let wait_error = |source: std::io::Error| CheckError::Wait {
            program: inv.program.display().to_string(),
            source,
        };
        let mut tree = Tree::new(pid, in_namespace, self.trampolines.clone());
        let mut peak_memory = 0;
        let mut peak_processes = 1;
        let verdict = loop {
            // Has it ended? (WNOWAIT: it stays a zombie, so its pid and group stay ours.)
            let exited = match waitid(
                Id::Pid(pid),
                WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
            ) {
                Ok(WaitStatus::StillAlive) => None,
                Ok(_) => Some(()),
                Err(e) => return Err(wait_error(e.into())),
            };
            let (memory, processes) = tree.sample();
            peak_memory = peak_memory.max(memory);
            peak_processes = peak_processes.max(processes);
            let output = |f: &File| f.metadata().map_or(0, |m| m.len());
            let over_output = output(&out) > limits.output || output(&err) > limits.output;
            if exited.is_some() {
                break if over_output {
                    Some(Termination::OutputLimit)
                } else {
                    None
                };
            }
            let limit = if self.cancel.load(Ordering::SeqCst) {
                Some(Termination::Cancelled)
            } else if over_output {
                Some(Termination::OutputLimit)
            } else if memory > limits.memory {
                Some(Termination::MemoryLimit)
            } else if processes > limits.processes {
                Some(Termination::ProcessLimit)
            } else if start.elapsed() >= limits.time {
                Some(Termination::TimeLimit)
            } else {
                None
            };
            if limit.is_some() {
                break limit;
            }
            std::thread::sleep(POLL);
        };
        // Kill everything before reaping, then reap.
        tree.kill_all();
        let status = child.wait();
        self.trampolines
            .lock()
            .expect("not poisoned")
            .remove(&pid.as_raw());
        let status = status.map_err(wait_error)?;
        let elapsed = start.elapsed();
        tree.kill_all();
        tree.reap_adopted();
        let termination = verdict.unwrap_or_else(|| match (status.code(), status.signal()) {
            (Some(code), _) => Termination::Exited(code),
            // The file-size limit's SIGXFSZ: the output files are the solution's files too.
            (None, Some(sig)) if sig == Signal::SIGXFSZ as i32 => Termination::OutputLimit,
            (None, Some(sig)) => Termination::Signalled(sig),
            (None, None) => Termination::Signalled(0),
        });
        let (stdout, out_truncated) = contents(out, limits.output);
        let (stderr, err_truncated) = contents(err, limits.output);
        if let (Termination::Exited(sandbox::SETUP_EXIT), Some(message)) = (
            termination,
            stderr
                .lines()
                .find_map(|l| l.strip_prefix(sandbox::SETUP_ERROR)),
        ) {
            return Err(match message.strip_prefix(sandbox::EXEC_FAILED) {
                Some(reason) => CheckError::Spawn {
                    program: inv.program.display().to_string(),
                    source: std::io::Error::other(reason.to_owned()),
                },
                None => CheckError::Sandbox(message.to_owned()),
            });
        }
        Ok(Run {
            termination,
            stdout,
            stderr,
            truncated: out_truncated || err_truncated,
            elapsed,
            peak_memory,
            peak_processes,
        })
    }
}

/// An anonymous temporary file for one output stream, and a handle for the child.
fn capture() -> Result<(File, Stdio), CheckError> {
    let file = tempfile::tempfile().map_err(CheckError::io(std::env::temp_dir()))?;
    let for_child = file
        .try_clone()
        .map_err(CheckError::io(std::env::temp_dir()))?;
    Ok((file, Stdio::from(for_child)))
}

/// At most `limit` bytes of `file` (lossy UTF-8), and whether there was more.
fn contents(mut file: File, limit: u64) -> (String, bool) {
    let mut buf = Vec::new();
    // An unreadable capture reads as empty: the verdict then shows the missing output.
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.by_ref().take(limit).read_to_end(&mut buf));
    let truncated = file.metadata().is_ok_and(|m| m.len() > limit);
    (String::from_utf8_lossy(&buf).into_owned(), truncated)
}

/// The solution's processes, as seen in `/proc`.
struct Tree {
    /// The solution (the trampoline's pid, kept by `exec`).
    root: Pid,
    /// The PID namespace's inode, when the solution has its own.
    namespace: Option<u64>,
    /// Without a namespace: every process seen in the tree so far (they are killed at the end
    /// even when their parent is gone).
    seen: BTreeSet<i32>,
    /// The trampolines of all runs: this process's other children are adopted orphans.
    trampolines: Arc<Mutex<BTreeSet<i32>>>,
}

impl Tree {
    fn new(root: Pid, in_namespace: bool, trampolines: Arc<Mutex<BTreeSet<i32>>>) -> Tree {
        let namespace = in_namespace
            .then(|| std::fs::metadata(format!("/proc/{root}/ns/pid")).ok())
            .flatten()
            .map(|m| m.ino());
        Tree {
            root,
            namespace,
            seen: [root.as_raw()].into(),
            trampolines,
        }
    }

    /// Every pid in `/proc`.
    fn all_pids() -> Vec<i32> {
        std::fs::read_dir("/proc").map_or_else(
            |_| Vec::new(),
            |dir| {
                dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            },
        )
    }

    /// The processes of the solution alive now.
    fn members(&mut self) -> Vec<i32> {
        match self.namespace {
            Some(ns) => Tree::all_pids()
                .into_iter()
                .filter(|pid| {
                    std::fs::metadata(format!("/proc/{pid}/ns/pid")).is_ok_and(|m| m.ino() == ns)
                })
                .collect(),
            None => {
                // Descendants of anything seen so far (parents from /proc/<pid>/stat).
                let parents: Vec<(i32, i32)> = Tree::all_pids()
                    .into_iter()
                    .filter_map(|pid| Some((pid, parent(pid)?)))
                    .collect();
                let alive: BTreeSet<i32> = parents.iter().map(|(p, _)| *p).collect();
                self.seen
                    .retain(|p| alive.contains(p) || *p == self.root.as_raw());
                // Orphans adopted by this process (a subreaper): a solution's, whichever run's.
                let me = std::process::id() as i32;
                let trampolines = self.trampolines.lock().expect("not poisoned");
                self.seen.extend(
                    parents
                        .iter()
                        .filter(|(pid, ppid)| *ppid == me && !trampolines.contains(pid))
                        .map(|(pid, _)| *pid),
                );
                drop(trampolines);
                loop {
                    let before = self.seen.len();
                    for (pid, ppid) in &parents {
                        if self.seen.contains(ppid) {
                            self.seen.insert(*pid);
                        }
                    }
                    if self.seen.len() == before {
                        break;
                    }
                }
                self.seen
                    .iter()
                    .copied()
                    .filter(|p| alive.contains(p))
                    .collect()
            }
        }
    }

    /// (resident bytes, processes) of the tree now. Resident memory is what the processes
    /// allocated, `RssAnon + RssShmem` of `/proc/<pid>/status`: shared libraries mapped from files
    /// (PyTorch maps hundreds of megabytes of them, mostly shared with every other process) are
    /// not the solution's memory, as they are not in a ReCodEx memory cgroup that finds them
    /// already in the page cache.
    fn sample(&mut self) -> (u64, usize) {
        let members = self.members();
        let memory = members.iter().filter_map(|pid| allocated(*pid)).sum();
        (memory, members.len())
    }

    /// SIGKILL to the whole tree: the namespace's init (the kernel then kills the rest), or the
    /// process group and every process seen.
    fn kill_all(&mut self) {
        let _ = kill(self.root, Signal::SIGKILL);
        if self.namespace.is_none() {
            let _ = nix::sys::signal::killpg(self.root, Signal::SIGKILL);
            for pid in self.members() {
                if pid != self.root.as_raw() {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
    }
}

impl Tree {
    /// Reaps the adopted orphans that were killed (they are this process's children now), waiting
    /// at most a second for them to die.
    fn reap_adopted(&mut self) {
        if self.namespace.is_some() {
            return;
        }
        let root = self.root.as_raw();
        let mut left: Vec<i32> = self.seen.iter().copied().filter(|p| *p != root).collect();
        let deadline = Instant::now() + Duration::from_secs(1);
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|pid| {
                matches!(
                    nix::sys::wait::waitpid(Pid::from_raw(*pid), Some(WaitPidFlag::WNOHANG)),
                    Ok(WaitStatus::StillAlive)
                )
            });
            if !left.is_empty() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// `RssAnon + RssShmem` of `pid` in bytes, from `/proc/<pid>/status`.
fn allocated(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some((kib("RssAnon:")? + kib("RssShmem:").unwrap_or(0)) * 1024)
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the command's closing paren).
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_read_well() {
        assert_eq!(bytes(1536 << 20), "1.5 GiB");
        assert_eq!(bytes(8 << 20), "8 MiB");
        assert_eq!(bytes(100), "100 B");
    }

    #[test]
    fn allocated_memory_grows_with_an_allocation() {
        let me = std::process::id() as i32;
        let before = allocated(me).unwrap();
        let block = vec![1u8; 64 << 20];
        let after = allocated(me).unwrap();
        assert!(after >= before + (60 << 20), "{before} -> {after}");
        assert_eq!(block.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 << 20);
        assert_eq!(allocated(-5), None);
    }

    #[test]
    fn parents_come_from_proc() {
        let me = std::process::id() as i32;
        assert_eq!(parent(me), Some(nix::unistd::getppid().as_raw()));
        assert_eq!(parent(-5), None);
    }
}
