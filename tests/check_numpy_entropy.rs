//! `npfl138 check numpy_entropy` end to end: our binary and a NumPy solution pass, a planted bug
//! fails with the first difference side by side, crashing and hanging solutions are reported as
//! CRASH and TIMEOUT without hanging the checker, and missing course data is SKIPPED.
//!
//! The course's files come from `NPFL138_COURSE_DATA` (default `../shared/data/course`); without
//! them the course's cases are expected to be SKIPPED, unless `NPFL138_REQUIRE_DATA=1`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{
    FIXTURES, binary, course_data_dir, python_with_numpy, require_data, verdicts,
};

/// Whether the course's files are there (panics under `NPFL138_REQUIRE_DATA=1` when not).
fn course_data_present(test: &str) -> bool {
    let present = course_data_dir().join("numpy_entropy_data_1.txt").is_file();
    if !present {
        let msg = format!("{} has no numpy_entropy files", course_data_dir().display());
        assert!(!require_data(), "{test}: {msg} and NPFL138_REQUIRE_DATA=1");
        eprintln!("{test}: the course's cases will be SKIPPED: {msg}");
    }
    present
}

/// Runs `npfl138 check numpy_entropy [extra] -- solution` in `cwd`; returns (exit code, stdout).
fn check(cwd: &Path, extra: &[&str], solution: &[&str]) -> (i32, String) {
    crate::support::check("numpy_entropy", cwd, extra, solution)
}

fn expected_verdicts(ran: &str) -> Vec<(String, String)> {
    let course = if course_data_present("check") {
        ran
    } else {
        "SKIPPED"
    };
    ["test_1", "test_2", "example_3", "example_4"]
        .iter()
        .map(|c| (c.to_string(), course.to_owned()))
        .chain(
            ["hidden_3", "hidden_4"]
                .iter()
                .map(|c| (c.to_string(), ran.to_owned())),
        )
        .collect()
}

fn numpy_entropy_binary() -> PathBuf {
    binary("numpy_entropy")
}

#[test]
fn our_binary_passes() {
    let bin = numpy_entropy_binary();
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check(dir.path(), &[], &[bin.to_str().unwrap()]);
    assert_eq!(verdicts(&report), expected_verdicts("OK"), "{report}");
    let last = report.lines().last().unwrap();
    // Without the course's files their cases are skipped: INCOMPLETE (exit 3), never PASSED.
    let (points, status, exit) = if course_data_present("our_binary_passes") {
        ("2.00/2.00", "PASSED", 0)
    } else {
        ("1.00/2.00", "INCOMPLETE", 3)
    };
    assert_eq!(code, exit, "{report}");
    assert!(
        last.starts_with(&format!("numpy_entropy: {points} points")),
        "{last}"
    );
    assert!(last.contains(status), "{last}");
}

#[test]
fn a_numpy_solution_passes() {
    let Some(python) = python_with_numpy("a_numpy_solution_passes") else {
        return;
    };
    // Run from the fixture's folder with a relative path, as a student would.
    let (code, report) = check(Path::new(FIXTURES), &[], &[&python, "numpy_entropy.py"]);
    assert_eq!(verdicts(&report), expected_verdicts("OK"), "{report}");
    let passed = course_data_present("a_numpy_solution_passes");
    assert_eq!(code, if passed { 0 } else { 3 }, "{report}");
}

#[test]
fn a_planted_log2_bug_fails_with_a_side_by_side_diff() {
    let Some(python) = python_with_numpy("a_planted_log2_bug_fails_with_a_side_by_side_diff")
    else {
        return;
    };
    let (code, report) = check(
        Path::new(FIXTURES),
        &["--seed", "20261127"],
        &[&python, "numpy_entropy.py", "--planted_bug", "log2"],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(verdicts(&report), expected_verdicts("WRONG"), "{report}");
    // Seed 20261127 is our committed hidden_3: 4.22 nats = 6.09 bits.
    assert!(report.contains("hidden_3   WRONG  "), "{report}");
    let hidden = report.split("hidden_3   WRONG").nth(1).unwrap();
    let detail: Vec<&str> = hidden.lines().skip(1).take(3).collect();
    assert_eq!(
        detail,
        [
            "    first difference, line 1: 6.09 instead of 4.22 (difference 1.87, allowed 0.005)",
            "    expected           | got",
            "    Entropy: 4.22 nats | Entropy: 6.09 nats",
        ],
        "{report}"
    );
    assert!(
        report.lines().last().unwrap().ends_with("FAILED"),
        "{report}"
    );
}

#[test]
fn crashing_and_hanging_solutions() {
    let dir = tempfile::tempdir().unwrap();
    let crash = "echo 'Entropy: 0.96 nats'; echo 'Traceback (most recent call last):' >&2; echo 'ZeroDivisionError: division by zero' >&2; exit 1";
    let (code, report) = check(dir.path(), &[], &["sh", "-c", crash]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(verdicts(&report), expected_verdicts("CRASH"), "{report}");
    assert!(
        report.contains("    exit code 1; last stderr line: ZeroDivisionError: division by zero"),
        "{report}"
    );

    // A hanging solution whose child also hangs: the whole process group is killed.
    let start = Instant::now();
    let (code, report) = check(
        dir.path(),
        &["--timeout", "0.3"],
        &["sh", "-c", "sleep 60 & sleep 60"],
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(verdicts(&report), expected_verdicts("TIMEOUT"), "{report}");
    assert!(
        report.contains("killed after the time limit of 0.30s"),
        "{report}"
    );
}

#[test]
fn missing_course_data_is_skipped_not_failed() {
    let dir = tempfile::tempdir().unwrap();
    let bin = numpy_entropy_binary();
    let (code, report) = check(
        dir.path(),
        &["--course-data", "/nonexistent/course"],
        &[bin.to_str().unwrap()],
    );
    // Skipped cases are no pass: INCOMPLETE, exit code 3.
    assert_eq!(code, 3, "{report}");
    assert!(
        report
            .lines()
            .last()
            .unwrap()
            .contains("1.00/2.00 points; 2 OK, 4 SKIPPED: INCOMPLETE"),
        "{report}"
    );
    let v = verdicts(&report);
    assert!(v[..4].iter().all(|(_, w)| w == "SKIPPED"), "{report}");
    assert!(v[4..].iter().all(|(_, w)| w == "OK"), "{report}");
    assert!(
        report.contains("    /nonexistent/course/numpy_entropy_data_1.txt is missing"),
        "{report}"
    );
}

#[test]
fn nothing_ran_is_not_a_pass() {
    // No MNIST anywhere: every pca_first case is skipped, and the check does not pass.
    let dir = tempfile::tempdir().unwrap();
    let out = crate::support::npfl138()
        .current_dir(dir.path())
        .args(["check", "pca_first", "--", "true"])
        .env("NPFL138_SHARED_DATA", dir.path())
        .env_remove("NPFL_CACHE")
        .output()
        .unwrap();
    let report = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        report.contains("SKIPPED") && report.contains("needs MNIST"),
        "{report}"
    );
    assert!(
        report.contains("0.00/2.00 points; 0 OK, 3 SKIPPED: INCOMPLETE"),
        "{report}"
    );
}

#[test]
fn list_and_bad_flags() {
    let out = crate::support::npfl138().arg("list").output().unwrap();
    assert!(out.status.success());
    let list = String::from_utf8(out.stdout).unwrap();
    for a in [
        "numpy_entropy (6 cases)",
        "pca_first (3 cases)",
        "mnist_layers_activations (6 cases)",
    ] {
        assert!(list.contains(a), "{list}");
    }
    assert!(
        list.contains("--recodex --examples=1024 --iterations=64"),
        "{list}"
    );
    let out = crate::support::npfl138()
        .args(["check", "numpy_entropyy", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = crate::support::npfl138()
        .args(["check", "numpy_entropy", "--", "/nonexistent/solution"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("npfl138: error: case test_1: cannot run `/nonexistent/solution`")
            || stderr
                .starts_with("npfl138: error: case hidden_3: cannot run `/nonexistent/solution`"),
        "{stderr}"
    );
}
