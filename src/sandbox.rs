//! The solution's side of the grader's sandbox: `npfl138 __sandbox [OPTIONS] -- PROGRAM ARGS...`.
//!
//! [`crate::runner`] starts this trampoline (our own binary) instead of the solution. It restricts
//! itself and then `exec`s the solution, which inherits every restriction:
//!
//! 1. `PR_SET_PDEATHSIG`: killed when the checker's supervising thread dies;
//! 2. `--no-network`: a new, empty network namespace (only a loopback device that is down), or,
//!    where namespaces are not allowed, Landlock's TCP rules (step 4);
//! 3. resource limits: `RLIMIT_FSIZE` (the file-size limit, which also caps what can be written to
//!    the captured stdout and stderr), no core dumps;
//! 4. Landlock: writes only beneath the `--write` paths (the case's directory, the result file,
//!    `/dev/null`), no TCP bind or connect with `--no-network`, no signals or abstract UNIX
//!    sockets reaching outside the sandbox;
//! 5. as root, every capability dropped (bounding set included), so a solution cannot undo the
//!    above, mount, load modules or change the machine.
//!
//! What applies depends on the kernel and on the user: `runner::Sandbox::probe` reports it once (the report's
//! `limits:` header), and a case requests only what the probe found, so a request that fails
//! afterwards is an error of the checker, printed with [`SETUP_ERROR`] and exit code
//! [`SETUP_EXIT`].
//!
//! Everything here is safe Rust: the namespaces, limits and capabilities are set by the trampoline
//! on itself before `exec`, not between `fork` and `exec`.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use landlock::{
    ABI, Access, AccessFs, AccessNet, LandlockStatus, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, path_beneath_rules,
};
use nix::sched::{CloneFlags, unshare};
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::Signal;

/// The trampoline's subcommand (hidden from `--help`).
pub const SUBCOMMAND: &str = "__sandbox";

/// The prefix of the trampoline's own error line on stderr.
pub const SETUP_ERROR: &str = "npfl138 sandbox: ";

/// How the trampoline's error line starts when the program itself cannot be started.
pub const EXEC_FAILED: &str = "cannot exec: ";

/// The trampoline's exit code when it could not set itself up or start the program.
pub const SETUP_EXIT: i32 = 125;

/// What the trampoline is asked to apply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Cut the network off.
    pub no_network: bool,
    /// Files and directories that may be written (beneath); all else is read-only where
    /// Landlock applies.
    pub writable: Vec<PathBuf>,
    /// The largest file the solution may write, in bytes (`RLIMIT_FSIZE`).
    pub file_size: Option<u64>,
    /// Only report what applies (`--probe`), then exit 0 without running anything.
    pub probe: bool,
}

impl Request {
    /// The trampoline's arguments for this request (after [`SUBCOMMAND`], before `--`).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args = Vec::new();
        if self.no_network {
            args.push("--no-network".into());
        }
        for path in &self.writable {
            args.push("--write".into());
            args.push(path.clone().into_os_string());
        }
        if let Some(bytes) = self.file_size {
            args.push(format!("--file-size={bytes}").into());
        }
        if self.probe {
            args.push("--probe".into());
        }
        args
    }

    /// Parses [`Request::to_args`] followed by `-- PROGRAM ARGS...`.
    fn parse(mut args: impl Iterator<Item = OsString>) -> Result<(Request, Vec<OsString>), String> {
        let mut request = Request::default();
        while let Some(arg) = args.next() {
            let text = arg.to_string_lossy();
            match text.as_ref() {
                "--" => return Ok((request, args.collect())),
                "--no-network" => request.no_network = true,
                "--probe" => request.probe = true,
                "--write" => request
                    .writable
                    .push(args.next().ok_or("--write needs a path")?.into()),
                _ => match text.strip_prefix("--file-size=") {
                    Some(n) => {
                        request.file_size =
                            Some(n.parse().map_err(|e| format!("--file-size={n}: {e}"))?);
                    }
                    None => return Err(format!("unknown argument `{text}`")),
                },
            }
        }
        if request.probe {
            Ok((request, Vec::new()))
        } else {
            Err("no `-- PROGRAM` given".into())
        }
    }
}

/// How the network was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Not cut off.
    Open,
    /// An empty network namespace (as root).
    Netns,
    /// An empty network namespace inside a new user namespace (unprivileged).
    UserNetns,
    /// Landlock denies TCP bind and connect; other protocols stay open.
    LandlockTcp,
}

/// What the trampoline applied to itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// How the network was cut off.
    pub network: Network,
    /// The Landlock ABI in force (0: none), which decides what the ruleset covers: writes
    /// confined (1+), TCP (4+), signals and abstract sockets scoped (6+).
    pub landlock_abi: u8,
    /// Why Landlock does not apply, when it does not.
    pub landlock_missing: Option<String>,
    /// Whether the capabilities were dropped (the solution started as root).
    pub capabilities_dropped: bool,
}

impl fmt::Display for Applied {
    /// `network=netns landlock=7 caps=dropped`: the probe's line, parsed back by [`Applied::parse`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let network = match self.network {
            Network::Open => "open",
            Network::Netns => "netns",
            Network::UserNetns => "user_netns",
            Network::LandlockTcp => "landlock_tcp",
        };
        write!(
            f,
            "network={network} landlock={} caps={}",
            self.landlock_abi,
            if self.capabilities_dropped {
                "dropped"
            } else {
                "kept"
            }
        )?;
        if let Some(why) = &self.landlock_missing {
            write!(f, " landlock_missing={why}")?;
        }
        Ok(())
    }
}

impl Applied {
    /// Parses the probe's line ([`Applied`]'s `Display`).
    pub fn parse(line: &str) -> Option<Applied> {
        let line = line.trim();
        let (fields, missing) = match line.split_once(" landlock_missing=") {
            Some((f, m)) => (f, Some(m.to_owned())),
            None => (line, None),
        };
        let mut network = None;
        let mut abi = None;
        let mut caps = None;
        for field in fields.split_whitespace() {
            match field.split_once('=')? {
                ("network", "open") => network = Some(Network::Open),
                ("network", "netns") => network = Some(Network::Netns),
                ("network", "user_netns") => network = Some(Network::UserNetns),
                ("network", "landlock_tcp") => network = Some(Network::LandlockTcp),
                ("landlock", n) => abi = n.parse().ok(),
                ("caps", c) => caps = Some(c == "dropped"),
                _ => return None,
            }
        }
        Some(Applied {
            network: network?,
            landlock_abi: abi?,
            landlock_missing: missing,
            capabilities_dropped: caps?,
        })
    }
}

fn abi_number(abi: ABI) -> u8 {
    // ABI is a C-like enum numbered like the kernel's versions (Unsupported = 0).
    [
        ABI::V1,
        ABI::V2,
        ABI::V3,
        ABI::V4,
        ABI::V5,
        ABI::V6,
        ABI::V7,
        ABI::V8,
        ABI::V9,
        ABI::V10,
    ]
    .iter()
    .filter(|v| **v <= abi)
    .count() as u8
}

/// A new network namespace: as root directly, else inside a new user namespace that maps the user
/// to itself (where the kernel allows unprivileged user namespaces).
fn isolate_network() -> Option<Network> {
    if unshare(CloneFlags::CLONE_NEWNET).is_ok() {
        return Some(Network::Netns);
    }
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET).ok()?;
    // Keep the same ids inside, so that files stay the user's own.
    std::fs::write("/proc/self/setgroups", "deny").ok()?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1")).ok()?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1")).ok()?;
    Some(Network::UserNetns)
}

/// Landlock: writes only beneath `writable`; with `no_tcp`, no TCP bind or connect; signals and
/// abstract UNIX sockets scoped to the sandbox. Returns the ABI in force (0: not enforced).
fn confine(writable: &[PathBuf], no_tcp: bool) -> Result<u8, String> {
    let abi = ABI::V6;
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_write(abi))
        .map_err(|e| e.to_string())?
        .scope(Scope::from_all(abi))
        .map_err(|e| e.to_string())?;
    if no_tcp {
        ruleset = ruleset
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| e.to_string())?;
    }
    let mut paths: Vec<PathBuf> = writable.to_vec();
    // Writing to the null device is no write at all.
    paths.push("/dev/null".into());
    let status = ruleset
        .create()
        .map_err(|e| e.to_string())?
        .add_rules(path_beneath_rules(&paths, AccessFs::from_write(abi)))
        .map_err(|e| e.to_string())?
        .restrict_self()
        .map_err(|e| e.to_string())?;
    Ok(match (status.ruleset, status.landlock) {
        (RulesetStatus::NotEnforced, _) => 0,
        (_, LandlockStatus::Available { effective_abi, .. }) => abi_number(effective_abi.min(abi)),
        _ => 0,
    })
}

/// Drops every capability, the bounding set first, so that the program `exec`ed next (even as
/// uid 0) starts with none.
fn drop_capabilities() -> Result<(), String> {
    use caps::CapSet;
    for set in [
        CapSet::Bounding,
        CapSet::Ambient,
        CapSet::Inheritable,
        CapSet::Effective,
        CapSet::Permitted,
    ] {
        caps::clear(None, set).map_err(|e| format!("dropping the {set:?} capabilities: {e}"))?;
    }
    Ok(())
}

/// Applies `request` to this process.
fn apply(request: &Request) -> Result<Applied, String> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("pdeathsig: {e}"))?;
    let mut network = Network::Open;
    if let Some(n) = request.no_network.then(isolate_network).flatten() {
        network = n;
    }
    if let Some(bytes) = request.file_size {
        setrlimit(Resource::RLIMIT_FSIZE, bytes, bytes)
            .map_err(|e| format!("RLIMIT_FSIZE: {e}"))?;
    }
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    let no_tcp = request.no_network && network == Network::Open;
    let (landlock_abi, landlock_missing) = match confine(&request.writable, no_tcp) {
        Ok(0) => (0, Some("not supported by this kernel".to_owned())),
        Ok(abi) => (abi, None),
        Err(e) => (0, Some(e)),
    };
    if no_tcp && landlock_abi >= 4 {
        network = Network::LandlockTcp;
    }
    let root = nix::unistd::geteuid().is_root();
    if root {
        drop_capabilities()?;
    }
    Ok(Applied {
        network,
        landlock_abi,
        landlock_missing,
        capabilities_dropped: root,
    })
}

/// The trampoline's `main`: applies the request and `exec`s the program (or, with `--probe`,
/// prints what applied). Returns the exit code only when it cannot go on.
pub fn main(args: impl Iterator<Item = OsString>) -> i32 {
    let fail = |message: String| {
        eprintln!("{SETUP_ERROR}{message}");
        SETUP_EXIT
    };
    let (request, command) = match Request::parse(args) {
        Ok(parsed) => parsed,
        Err(e) => return fail(e),
    };
    let applied = match apply(&request) {
        Ok(applied) => applied,
        Err(e) => return fail(e),
    };
    if request.probe {
        println!("{applied}");
        return 0;
    }
    let Some((program, args)) = command.split_first() else {
        return fail("no program given".into());
    };
    let error = Command::new(program).args(args).exec();
    fail(format!("{EXEC_FAILED}{error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_probe_lines_round_trip() {
        let request = Request {
            no_network: true,
            writable: vec!["/tmp/case".into(), "/tmp/result.json".into()],
            file_size: Some(1 << 20),
            probe: false,
        };
        let mut args = request.to_args();
        args.extend(["--".into(), "python3".into(), "x.py".into()]);
        let (parsed, command) = Request::parse(args.into_iter()).unwrap();
        assert_eq!(parsed, request);
        assert_eq!(command, ["python3", "x.py"]);
        assert!(Request::parse(["--bogus".into()].into_iter()).is_err());
        assert!(Request::parse(std::iter::empty()).is_err());

        for applied in [
            Applied {
                network: Network::Netns,
                landlock_abi: 7,
                landlock_missing: None,
                capabilities_dropped: true,
            },
            Applied {
                network: Network::Open,
                landlock_abi: 0,
                landlock_missing: Some("not supported by this kernel".into()),
                capabilities_dropped: false,
            },
        ] {
            assert_eq!(Applied::parse(&applied.to_string()), Some(applied));
        }
        assert_eq!(abi_number(ABI::V1), 1);
        assert_eq!(abi_number(ABI::V6), 6);
    }
}
