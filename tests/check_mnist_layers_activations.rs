//! `npfl138 check mnist_layers_activations`: our binary passes; the same binary with the
//! activation dropped (every run forced to `--activation=none`, a planted "missing activation")
//! passes the two tests without an activation and fails the four with one, with a useful diff.
//!
//! The cases run on `mnist_npm10k.npz` (the stand-in) with our reference's outputs; without it the
//! tests skip, unless `NPFL138_REQUIRE_DATA=1`.

mod support;

use support::{binary, check, have_stand_in, verdicts};

#[test]
fn our_binary_passes() {
    if !have_stand_in("our_binary_passes") {
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
    let expected: Vec<(String, String)> = (1..=6)
        .map(|n| (format!("test_{n}"), "OK".to_owned()))
        .collect();
    assert_eq!(verdicts(&report), expected, "{report}");
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
    if !have_stand_in("a_missing_activation_fails") {
        return;
    }
    let bin = binary("mnist_layers_activations");
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = check(
        "mnist_layers_activations",
        dir.path(),
        &[],
        &["sh", "-c", DROP_ACTIVATION, "sh", bin.to_str().unwrap()],
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
