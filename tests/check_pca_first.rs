//! `npfl138 check pca_first`: our binary and a NumPy solution pass; a planted wrong covariance
//! divisor (N - 1) fails with the first difference side by side.
//!
//! The course's cases run on the course's `mnist.npz` (`../shared/data/mnist.npz`) with the
//! published outputs; the stand-in tests give the checker a shared folder holding only
//! `mnist_npm10k.npz`, so that it uses the stand-in with our reference's outputs. Missing data skips
//! a test, unless `NPFL138_REQUIRE_DATA=1`.

use std::path::Path;

use crate::support::{
    FIXTURES, binary, check, check_with, course_mnist, python_with_numpy, stand_in_only, verdicts,
};

fn all(verdict: &str) -> Vec<(String, String)> {
    (1..=3)
        .map(|n| (format!("test_{n}"), verdict.to_owned()))
        .collect()
}

#[test]
fn our_binary_passes_the_course_s_tests_on_the_course_s_mnist() {
    if course_mnist("our_binary_passes_the_course_s_tests").is_none() {
        return;
    }
    let bin = binary("pca_first");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check("pca_first", dir.path(), &[], &[bin.to_str().unwrap()]);
    assert_eq!(verdicts(&report), all("OK"), "{report}");
    assert_eq!(code, 0, "{report}");
    assert!(!report.contains("stand-in"), "{report}");
    assert!(
        report.contains("--recodex --examples=55000 --iterations=1024"),
        "{report}"
    );
}

/// Checks the fixture submission `file` with `python` on the course's tests in ReCodEx mode (from
/// an empty folder: the checker finds the course's MNIST beside the project) and expects 3 OK.
fn passes_in_recodex_mode(file: &str, python: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = Path::new(FIXTURES).join(file);
    let out = crate::support::npfl138()
        .current_dir(dir.path())
        .args(["check", "pca_first", fixture.to_str().unwrap()])
        .args(["--python", python])
        .args(extra)
        .env_remove("NPFL_CACHE")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(verdicts(&report), all("OK"), "{report}");
    assert_eq!(out.status.code(), Some(0), "{report}");
}

#[test]
fn a_numpy_submission_passes_the_course_s_tests_in_recodex_mode() {
    let test = "a_numpy_submission_passes_the_course_s_tests_in_recodex_mode";
    if course_mnist(test).is_none() {
        return;
    }
    if let Some(python) = python_with_numpy(test) {
        passes_in_recodex_mode("pca_first.py", &python, &[]);
    }
}

#[test]
fn a_pytorch_submission_passes_the_course_s_tests_in_recodex_mode() {
    let test = "a_pytorch_submission_passes_the_course_s_tests_in_recodex_mode";
    if course_mnist(test).is_none() {
        return;
    }
    if let Some(python) = crate::support::python_with_torch(test) {
        // A generous time limit: importing torch on a loaded two-core machine takes seconds.
        passes_in_recodex_mode("pca_first_torch.py", &python, &["--time-limit", "120"]);
    }
}

#[test]
fn our_binary_passes() {
    let Some(shared) = stand_in_only("our_binary_passes") else {
        return;
    };
    let bin = binary("pca_first");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check_with(
        "pca_first",
        dir.path(),
        &[],
        &[bin.to_str().unwrap()],
        &[("NPFL138_SHARED_DATA", shared.path())],
    );
    assert_eq!(verdicts(&report), all("OK"), "{report}");
    assert_eq!(code, 0, "{report}");
    assert!(report.contains("mnist_npm10k.npz stand-in"), "{report}");
    assert!(
        report
            .trim_end()
            .ends_with("pca_first: 2.00/2.00 points; 3 OK: PASSED"),
        "{report}"
    );
}

#[test]
fn a_numpy_solution_passes_and_a_wrong_divisor_fails() {
    let test = "a_numpy_solution_passes_and_a_wrong_divisor_fails";
    let Some(shared) = stand_in_only(test) else {
        return;
    };
    let env = [("NPFL138_SHARED_DATA", shared.path())];
    let Some(python) = python_with_numpy(test) else {
        return;
    };
    let fixtures = Path::new(FIXTURES);
    let (code, report) = check_with("pca_first", fixtures, &[], &[&python, "pca_first.py"], &env);
    assert_eq!(verdicts(&report), all("OK"), "{report}");
    assert_eq!(code, 0, "{report}");

    let (code, report) = check_with(
        "pca_first",
        fixtures,
        &[],
        &[&python, "pca_first.py", "--planted_bug", "n_minus_1"],
        &env,
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(verdicts(&report), all("WRONG"), "{report}");
    // 1024 examples: 52.68 * 1024 / 1023 = 52.73.
    let detail: Vec<&str> = report
        .split("test_1     WRONG")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take(3)
        .collect();
    assert_eq!(
        detail,
        [
            "    first difference, line 1: 52.73 instead of 52.68 (difference 0.05, allowed 0.005)",
            "    expected              | got",
            "    Total variance: 52.68 | Total variance: 52.73",
        ],
        "{report}"
    );
}

/// `--mnist FILE` is taken as the course's `mnist.npz`: the course's published outputs apply (here
/// the stand-in poses as it, so our binary's numbers differ, and 8,192 or 55,000 examples do not exist).
#[test]
fn the_course_s_mnist_gets_the_course_s_outputs() {
    if !crate::support::have_stand_in("the_course_s_mnist_gets_the_course_s_outputs") {
        return;
    }
    let npz = npfl138::cases::DataPaths::from_env()
        .shared
        .join("mnist_npm10k.npz");
    let bin = binary("pca_first");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check(
        "pca_first",
        dir.path(),
        &["--mnist", npz.to_str().unwrap()],
        &[bin.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{report}");
    let got: Vec<String> = verdicts(&report).into_iter().map(|(_, v)| v).collect();
    assert_eq!(got, ["WRONG", "CRASH", "CRASH"], "{report}");
    assert!(!report.contains("stand-in"), "{report}");
    assert!(
        report.contains("--recodex --examples=55000 --iterations=1024"),
        "{report}"
    );
    assert!(
        report.contains("    Total variance: 53.12 | Total variance: 52.68"),
        "{report}"
    );
    assert!(
        report.contains("--examples 55000 is larger than the training split (8000 images)"),
        "{report}"
    );
}
