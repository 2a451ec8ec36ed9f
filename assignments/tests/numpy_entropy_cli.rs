//! The `numpy_entropy` binary as a student runs it: flags, output, and every kind of bad input
//! giving one line on stderr that names the file (and line) and a non-zero exit code.

use std::path::Path;
use std::process::{Command, Output};

fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_numpy_entropy"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs numpy_entropy")
}

/// Runs on a data and a model file with the given contents; returns (exit code, stdout, stderr).
fn run_files(data: &[u8], model: &[u8]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.txt"), data).unwrap();
    std::fs::write(dir.path().join("m.txt"), model).unwrap();
    let out = run_in(dir.path(), &["--data_path", "d.txt", "--model_path=m.txt"]);
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn assert_one_line_error(data: &[u8], model: &[u8], expected: &str) {
    let (code, stdout, stderr) = run_files(data, model);
    assert_eq!(code, 1, "stderr: {stderr}");
    assert_eq!(stdout, "", "nothing on stdout");
    assert_eq!(stderr, format!("numpy_entropy: error: {expected}\n"));
}

#[test]
fn prints_the_three_lines_with_both_flag_spellings() {
    let (code, stdout, _) = run_files(b"A\nBB\nA\nA\nBB\nCCC\nA\n", b"BB\t0.4\nA\t0.5\nD\t0.1\n");
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "Entropy: 0.96 nats\nCrossentropy: inf nats\nKL divergence: inf nats\n"
    );
}

#[test]
fn default_paths_are_the_courses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("numpy_entropy_data.txt"), "A\n").unwrap();
    std::fs::write(dir.path().join("numpy_entropy_model.txt"), "A\t1\n").unwrap();
    let out = run_in(dir.path(), &["--recodex"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        // NumPy prints -0.00 here too: -np.sum([1.0 * log(1.0)]) is -0.0.
        "Entropy: -0.00 nats\nCrossentropy: -0.00 nats\nKL divergence: 0.00 nats\n"
    );
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["--data_path", "nope.txt"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("numpy_entropy: error: nope.txt: No such file or directory"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn unreadable_file() {
    // A directory cannot be read as a file, even by root.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("d.txt")).unwrap();
    let out = run_in(dir.path(), &["--data_path", "d.txt"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("numpy_entropy: error: d.txt: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
}

#[test]
fn empty_data_file() {
    assert_one_line_error(
        b"",
        b"A\t1\n",
        "d.txt: the data file is empty: it needs at least one line",
    );
}

#[test]
fn model_line_without_tab() {
    assert_one_line_error(
        b"A\n",
        b"A\t0.5\nB 0.5\n",
        "m.txt:2: expected `outcome<TAB>probability`, found no tab",
    );
}

#[test]
fn probability_not_a_number() {
    assert_one_line_error(
        b"A\n",
        b"A\tabc\n",
        "m.txt:1: probability \"abc\" is not a number",
    );
}

#[test]
fn probability_negative() {
    assert_one_line_error(
        b"A\n",
        b"A\t-0.5\n",
        "m.txt:1: probability \"-0.5\" is negative",
    );
}

#[test]
fn probability_nan() {
    assert_one_line_error(b"A\n", b"A\tNaN\n", "m.txt:1: probability \"NaN\" is NaN");
}

#[test]
fn probability_above_one() {
    assert_one_line_error(
        b"A\n",
        b"A\t1.01\n",
        "m.txt:1: probability \"1.01\" is above 1",
    );
}

#[test]
fn duplicate_model_key() {
    assert_one_line_error(
        b"A\n",
        b"A\t0.5\nB\t0.25\nA\t0.25\n",
        "m.txt:3: outcome \"A\" was already given on line 1",
    );
}

#[test]
fn invalid_utf8_in_data_and_model() {
    assert_one_line_error(
        b"A\n\xc3\x28\n",
        b"A\t1\n",
        "d.txt:2: the line is not valid UTF-8",
    );
    assert_one_line_error(
        b"A\n",
        b"A\t1\n\xff\t0\n",
        "m.txt:2: the line is not valid UTF-8",
    );
}

#[test]
fn bad_flags_exit_with_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["--data-path", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--data_path"),
        "suggests the course's spelling: {stderr}"
    );
}
