//! `npfl138 check mnist_layers_activations`: our binary passes; the same binary with the
//! activation dropped (every run forced to `--activation=none`, a planted "missing activation")
//! passes the two tests without an activation and fails the four with one, with a useful diff.
//!
//! The course's six tests run on the course's `mnist.npz` (`../shared/data/mnist.npz`) against the
//! published lines; the planted bug runs on `mnist_npm10k.npz` (the stand-in, given to the checker
//! as the only file of its shared folder) with our reference's outputs. Missing data skips a test,
//! unless `NPFL138_REQUIRE_DATA=1`.

use crate::support::{binary, check, check_with, course_mnist, stand_in_only, verdicts};

/// The six tests, each OK.
fn all_ok() -> Vec<(String, String)> {
    (1..=6)
        .map(|n| (format!("test_{n}"), "OK".to_owned()))
        .collect()
}

#[test]
fn our_binary_passes_the_course_s_tests_on_the_course_s_mnist() {
    if course_mnist("our_binary_passes_the_course_s_tests_on_the_course_s_mnist").is_none() {
        return;
    }
    let bin = binary("mnist_layers_activations");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check(
        "mnist_layers_activations",
        dir.path(),
        &[],
        &[bin.to_str().unwrap()],
    );
    assert_eq!(verdicts(&report), all_ok(), "{report}");
    assert!(!report.contains("stand-in"), "{report}");
    assert_eq!(code, 0, "{report}");
}

#[test]
fn our_binary_passes() {
    let Some(shared) = stand_in_only("our_binary_passes") else {
        return;
    };
    let bin = binary("mnist_layers_activations");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check_with(
        "mnist_layers_activations",
        dir.path(),
        &[],
        &[bin.to_str().unwrap()],
        &[("NPFL138_SHARED_DATA", shared.path())],
    );
    assert_eq!(verdicts(&report), all_ok(), "{report}");
    assert_eq!(code, 0, "{report}");
}

/// Rewrites `--activation=X` to `--activation=none`, then runs the binary given as `$1`.
const DROP_ACTIVATION: &str = r#"bin=$1; shift; n=$#
while [ "$n" -gt 0 ]; do
  a=$1; shift
  case $a in --activation=*) a=--activation=none ;; esac
  set -- "$@" "$a"; n=$((n - 1))
done
exec "$bin" "$@""#;

#[test]
fn a_missing_activation_fails() {
    let Some(shared) = stand_in_only("a_missing_activation_fails") else {
        return;
    };
    let bin = binary("mnist_layers_activations");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check_with(
        "mnist_layers_activations",
        dir.path(),
        &[],
        &["sh", "-c", DROP_ACTIVATION, "sh", bin.to_str().unwrap()],
        &[("NPFL138_SHARED_DATA", shared.path())],
    );
    assert_eq!(code, 1, "{report}");
    let got: Vec<String> = verdicts(&report).into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        got,
        ["OK", "OK", "WRONG", "WRONG", "WRONG", "WRONG"],
        "{report}"
    );
    let detail: Vec<&str> = report
        .split("test_3     WRONG")
        .nth(1)
        .unwrap()
        .lines()
        .skip(1)
        .take(3)
        .collect();
    assert!(
        detail[0].starts_with("    first difference, line 1: loss ")
            && detail[0].ends_with("allowed 0.005)"),
        "{report}"
    );
    assert!(detail[1].trim_end().ends_with("| got"), "{report}");
    assert!(
        detail[2].starts_with("    Epoch 1/1 [TIME]s loss=0.6807 accuracy=0.8206 dev:loss=0.3707 dev:accuracy=0.8980 | Epoch 1/1 "),
        "{report}"
    );
}
