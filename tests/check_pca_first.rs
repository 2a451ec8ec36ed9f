//! `npfl138 check pca_first`: our binary and a NumPy solution pass; a planted wrong covariance
//! divisor (N - 1) fails with the first difference side by side.
//!
//! The cases run on the course's `mnist.npz` when present, else on `mnist_npm10k.npz` (the stand-in,
//! `$NPFL138_SHARED_DATA` or `../shared/data`) with our reference's outputs; without either the
//! tests skip, unless `NPFL138_REQUIRE_DATA=1`. The checker is run without `NPFL_CACHE` from a
//! folder without `mnist.npz`, so these tests always use the stand-in.

mod support;

use std::path::Path;

use support::{FIXTURES, binary, check, have_stand_in, python_with_numpy, verdicts};

fn all(verdict: &str) -> Vec<(String, String)> {
    (1..=3)
        .map(|n| (format!("test_{n}"), verdict.to_owned()))
        .collect()
}

#[test]
fn our_binary_passes() {
    if !have_stand_in("our_binary_passes") {
        return;
    }
    let bin = binary("pca_first");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check("pca_first", dir.path(), &[], &[bin.to_str().unwrap()]);
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
    if !have_stand_in(test) {
        return;
    }
    let Some(python) = python_with_numpy(test) else {
        return;
    };
    let fixtures = Path::new(FIXTURES);
    let (code, report) = check("pca_first", fixtures, &[], &[&python, "pca_first.py"]);
    assert_eq!(verdicts(&report), all("OK"), "{report}");
    assert_eq!(code, 0, "{report}");

    let (code, report) = check(
        "pca_first",
        fixtures,
        &[],
        &[&python, "pca_first.py", "--planted_bug", "n_minus_1"],
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
    if !have_stand_in("the_course_s_mnist_gets_the_course_s_outputs") {
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
