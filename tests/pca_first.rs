//! Grader suite for `pca_first` (the course's `tasks/pca_first.md` tests).
//!
//! - `course_*`: the three published commands with the published outputs, exactly (PyTorch
//!   running the course's recipe prints them too: `tests/fixtures/torch_pca_first_recodex.txt`),
//!   on the course's MNIST: `$NPFL_CACHE/mnist.npz` when `NPFL_CACHE` is set and holds one, else `mnist.npz` in the
//!   shared data folder (`../shared/data/mnist.npz` beside the project, or `$NPFL138_SHARED_DATA`).
//!   Missing, they skip with a message, or fail under `NPFL138_REQUIRE_DATA=1` (as CI runs them).
//! - `npm10k_*`, `fashion_*`: the same three commands on `../shared/data/mnist_npm10k.npz`
//!   (8,000 training images, so `--examples 8192` and `--examples 55000` are clamped to 8000) and on
//!   Fashion-MNIST (55,000 training images, like MNIST), snapshotted, and each checked against an
//!   independent `f64` computation (ndarray covariance, `f64` power iteration for the same steps and
//!   run to convergence, i.e. the top eigenvalue) at the printed precision.
//! - `error_*`: the inputs the course's script crashes on or prints `nan` for.

use std::path::{Path, PathBuf};

use assignments::pca_first::{Args, Report, run};
use clap::Parser;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use npfl_core::rng::numpy::RandomState;

/// PyTorch's output for the course's three tests, recorded by `tests/fixtures/record_pca_first.py`.
const TORCH: &str = include_str!("fixtures/torch_pca_first_recodex.txt");

/// The course's commands: (examples, iterations).
const COURSE_CASES: [(usize, usize); 3] = [(1024, 64), (8192, 128), (55000, 1024)];

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn shared_data() -> PathBuf {
    env_path("NPFL138_SHARED_DATA")
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

fn fashion_dir() -> PathBuf {
    env_path("NPFL138_FASHION_MNIST_DIR")
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"))
}

/// `true` when `path` exists; otherwise prints `skipping <name>: ...` and returns `false`, or
/// panics when `NPFL138_REQUIRE_DATA=1`.
fn have(name: &str, path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    crate::support::missing(name, format!("{} not found", path.display()));
    false
}

/// `pca_first --recodex --examples=E --iterations=I --dataset=D`, parsed as the binary parses it.
fn args(dataset: &str, examples: usize, iterations: usize) -> Args {
    Args::try_parse_from([
        "pca_first".to_string(),
        "--recodex".to_string(),
        format!("--examples={examples}"),
        format!("--iterations={iterations}"),
        format!("--dataset={dataset}"),
    ])
    .expect("valid flags")
}

/// The course's computation in `f64`, independent of the crate's `f32` path (ndarray's own
/// matrix product, no blocking): returns (total variance, 100 * explained variance after
/// `iterations` steps, 100 * explained variance of the converged power iteration).
fn f64_reference(
    images: ArrayView2<'_, u8>,
    indices: &[usize],
    iterations: usize,
) -> (f64, f64, f64) {
    let d = images.ncols();
    let x = Array2::from_shape_fn((indices.len(), d), |(r, c)| {
        f64::from(images[[indices[r], c]]) / 255.0
    });
    let centred = &x - &x.mean_axis(Axis(0)).expect("examples");
    let cov = centred.t().dot(&centred) / indices.len() as f64;
    let total = cov.diag().sum();
    let mut v = Array1::<f64>::ones(d);
    let (mut s, mut at_iterations) = (0.0, 0.0);
    for step in 1..=100_000 {
        let previous = s;
        v = cov.dot(&v);
        s = v.dot(&v).sqrt();
        v /= s;
        if step == iterations {
            at_iterations = s;
        }
        if step >= iterations && (s - previous).abs() <= 1e-14 * s {
            break;
        }
    }
    (total, 100.0 * at_iterations / total, 100.0 * s / total)
}

/// Runs one command and checks the printed numbers against the `f64` reference.
fn run_and_check(
    dataset: &str,
    train: ArrayView2<'_, u8>,
    examples: usize,
    iterations: usize,
) -> String {
    let report: Report = run(&args(dataset, examples, iterations)).expect("pca_first runs");
    let indices = RandomState::new(42)
        .choice_without_replacement(train.nrows(), examples)
        .unwrap();
    let (total, explained, converged) = f64_reference(train, &indices, iterations);
    let out = report.to_string();
    let expected = format!("Total variance: {total:.2}\nExplained variance: {explained:.2}%");
    assert_eq!(
        out, expected,
        "f32 run vs f64 reference ({total}, {explained})"
    );
    // The course's iteration counts reach the top eigenvalue at the printed precision.
    assert_eq!(
        format!("{explained:.2}"),
        format!("{converged:.2}"),
        "{iterations} steps have not converged"
    );
    // The f32 values themselves are close to the f64 ones, not just equal after rounding.
    assert!((f64::from(report.total_variance) - total).abs() < 1e-3 * total);
    assert!((f64::from(report.explained_variance) - explained).abs() < 1e-3 * explained);
    out
}

// ---- The course's mnist.npz: the published outputs ------------------------------------------

/// The course's `mnist.npz`: `$NPFL_CACHE/mnist.npz` if there is one, else the shared data folder's
/// (`npfl138::cases::DataPaths`: `../shared/data` or `$NPFL138_SHARED_DATA`). `None` after saying
/// why (a failure under `NPFL138_REQUIRE_DATA=1`).
fn course_mnist(test: &str) -> Option<PathBuf> {
    let cached = env_path("NPFL_CACHE")
        .map(|dir| dir.join("mnist.npz"))
        .filter(|p| p.is_file());
    let path = cached.unwrap_or_else(|| {
        npfl138::cases::DataPaths::from_env()
            .shared
            .join("mnist.npz")
    });
    have(test, &path).then_some(path)
}

fn course_case(case: usize, expected: &str) {
    let (examples, iterations) = COURSE_CASES[case - 1];
    // The course's command and output as the checker has them (tasks/pca_first.md, verbatim).
    let (published_args, published) = npfl138::cases::pca_first::PUBLISHED[case - 1];
    assert_eq!(
        published_args,
        format!("--recodex --examples={examples} --iterations={iterations}")
    );
    assert_eq!(published, format!("{expected}\n"));
    // PyTorch running the course's recipe on this project's CI machine printed the same
    // (tests/fixtures/record_pca_first.py).
    let torch: Vec<&str> = TORCH
        .lines()
        .skip_while(|l| *l != format!("$ {published_args}"))
        .skip(1)
        .take_while(|l| !l.starts_with('#') && !l.starts_with('$'))
        .collect();
    assert_eq!(torch.join("\n"), expected, "PyTorch's recorded output");
    let Some(path) = course_mnist(&format!("pca_first course_{case}")) else {
        return;
    };
    let mnist =
        datasets::Mnist::from_npz(&path, datasets::Sizes::default()).expect("mnist.npz loads");
    assert_eq!(
        mnist.train.images.nrows(),
        55_000,
        "{}: not the course's MNIST",
        path.display()
    );
    let out = run_and_check(
        path.to_str().expect("UTF-8 path"),
        mnist.train.images.view(),
        examples,
        iterations,
    );
    // Exact: the published output digit for digit.
    assert_eq!(out, expected);
}

#[test]
fn course_1() {
    course_case(1, "Total variance: 53.12\nExplained variance: 9.64%");
}

#[test]
fn course_2() {
    course_case(2, "Total variance: 53.05\nExplained variance: 9.89%");
}

#[test]
fn course_3() {
    course_case(3, "Total variance: 52.74\nExplained variance: 9.71%");
}

// ---- mnist_npm10k.npz: 8,000 real MNIST training digits ----------------------------------------

fn npm10k_case(case: usize) {
    let path = shared_data().join("mnist_npm10k.npz");
    if !have(&format!("pca_first npm10k_{case}"), &path) {
        return;
    }
    let mnist = datasets::Mnist::from_npz(&path, datasets::Sizes::default())
        .expect("mnist_npm10k.npz loads");
    let train = mnist.train.images.view();
    let (examples, iterations) = COURSE_CASES[case - 1];
    // The split holds 8,000 images: the course's --examples 8192 and 55000 are clamped to it.
    let examples = examples.min(train.nrows());
    let out = run_and_check(
        path.to_str().expect("UTF-8 path"),
        train,
        examples,
        iterations,
    );
    // The checker runs its stand-in case with these arguments and expects this file.
    assert_eq!(
        npfl138::cases::pca_first::stand_in_args(case),
        format!("--recodex --examples={examples} --iterations={iterations}")
    );
    crate::support::expected_file(&format!("pca_first_stand_in_{case}.txt"), &out);
}

#[test]
fn npm10k_1() {
    npm10k_case(1);
}

#[test]
fn npm10k_2() {
    npm10k_case(2);
}

#[test]
fn npm10k_3() {
    npm10k_case(3);
}

// ---- Fashion-MNIST: the full-size stand-in for MNIST --------------------------------------------

fn fashion_case(case: usize) {
    let dir = fashion_dir();
    if !have(
        &format!("pca_first fashion_{case}"),
        &dir.join("train-images-idx3-ubyte.gz"),
    ) {
        return;
    }
    let mnist = datasets::Mnist::from_idx_dir(&dir, datasets::Sizes::default())
        .expect("Fashion-MNIST loads");
    let train = mnist.train.images.view();
    let (examples, iterations) = COURSE_CASES[case - 1];
    let out = run_and_check("fashion_mnist", train, examples, iterations);
    let command = format!(
        "pca_first --recodex --examples={examples} --iterations={iterations} --dataset=fashion_mnist"
    );
    insta::assert_snapshot!(format!("fashion_{case}"), out, &command);
}

#[test]
fn fashion_1() {
    fashion_case(1);
}

#[test]
fn fashion_2() {
    fashion_case(2);
}

#[test]
fn fashion_3() {
    fashion_case(3);
}

// ---- Errors ------------------------------------------------------------------------------------

fn npm10k_or_skip(name: &str) -> Option<String> {
    let path = shared_data().join("mnist_npm10k.npz");
    have(name, &path).then(|| path.to_str().expect("UTF-8 path").to_string())
}

fn error_of(args: &Args) -> String {
    format!("{:#}", run(args).expect_err("pca_first must fail"))
}

#[test]
fn error_examples_above_the_train_split() {
    let Some(npz) = npm10k_or_skip("pca_first error_examples_above_the_train_split") else {
        return;
    };
    let e = error_of(&args(&npz, 8001, 10));
    assert!(
        e.contains("--examples 8001 is larger than the training split (8000 images)"),
        "{e}"
    );
}

#[test]
fn error_zero_examples() {
    let e = error_of(&args("/nonexistent/never_loaded.npz", 0, 10));
    assert!(e.contains("--examples must be at least 1"), "{e}");
}

#[test]
fn error_zero_iterations() {
    let e = error_of(&args("/nonexistent/never_loaded.npz", 10, 0));
    assert!(e.contains("--iterations must be at least 1"), "{e}");
}

#[test]
fn error_all_zero_covariance() {
    // One example has zero covariance: the course would print `nan%`.
    let Some(npz) = npm10k_or_skip("pca_first error_all_zero_covariance") else {
        return;
    };
    let e = error_of(&args(&npz, 1, 10));
    assert!(e.contains("all zeros"), "{e}");
}

/// The images are summed as they are inflated, in chunks handed to other threads with
/// `--threads` above 1: the same report for every thread count, and the same errors (the choice
/// made at the first chunk, a file that breaks off after some chunks were added).
#[test]
fn threads_give_the_same_report_and_errors() {
    let Some(npz) = npm10k_or_skip("pca_first threads_give_the_same_report_and_errors") else {
        return;
    };
    let with_threads = |dataset: &str, examples: usize, threads: i64| {
        let mut a = args(dataset, examples, 64);
        a.common.threads = threads;
        a
    };
    let one = run(&with_threads(&npz, 8000, 1)).unwrap();
    for threads in [2, 3] {
        let more = run(&with_threads(&npz, 8000, threads)).unwrap();
        assert_eq!(
            (
                more.total_variance.to_bits(),
                more.explained_variance.to_bits()
            ),
            (
                one.total_variance.to_bits(),
                one.explained_variance.to_bits()
            ),
            "--threads={threads}"
        );
        let e = error_of(&with_threads(&npz, 8001, threads));
        assert!(
            e.contains("--examples 8001 is larger than the training split"),
            "{e}"
        );
    }
    // A byte flipped inside the training images (the zip directory intact): chunks are read and
    // added before the inflater or the CRC check fails.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(&npz).unwrap();
    let member = bytes
        .windows(12)
        .position(|w| w == b"train_images")
        .unwrap();
    bytes[member + 200_000] ^= 0x55;
    let flipped = dir.path().join("flipped.npz");
    std::fs::write(&flipped, &bytes).unwrap();
    let flipped = flipped.to_str().unwrap();
    let errors: Vec<String> = [1, 2]
        .into_iter()
        .map(|threads| error_of(&with_threads(flipped, 1000, threads)))
        .collect();
    assert!(
        errors[0].contains("flipped.npz: key `train_images`"),
        "{}",
        errors[0]
    );
    assert_eq!(errors[0], errors[1]);
}

#[test]
fn error_missing_file_names_it() {
    let e = error_of(&args("/nonexistent/mnist_missing.npz", 10, 10));
    assert!(e.contains("/nonexistent/mnist_missing.npz"), "{e}");
}

// ---- The binary: exit codes and one-line errors ------------------------------------------------

fn run_binary(bin: &Path, flags: &[&str]) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(bin)
        .args(flags)
        .output()
        .expect("the binary starts");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[test]
fn binary_errors_are_one_line_with_exit_code_1() {
    let bin = crate::support::binary("pca_first");
    for (flags, message) in [
        (
            &["--examples=0"][..],
            "error: --examples must be at least 1",
        ),
        (
            &["--iterations=0"][..],
            "error: --iterations must be at least 1",
        ),
        (&["--dataset=/nonexistent/x.npz"][..], "/nonexistent/x.npz"),
    ] {
        let (code, stdout, stderr) = run_binary(&bin, flags);
        assert_eq!(code, Some(1), "{flags:?}: {stderr}");
        assert_eq!(stdout, "", "{flags:?}");
        assert_eq!(stderr.lines().count(), 1, "{flags:?}: {stderr}");
        assert!(stderr.contains(message), "{flags:?}: {stderr}");
    }
    let (code, _, stderr) = run_binary(&bin, &["--examples=many"]);
    assert_eq!(
        code,
        Some(2),
        "bad flag values are clap's usage errors: {stderr}"
    );
}

#[test]
fn binary_prints_the_two_lines() {
    let bin = crate::support::binary("pca_first");
    let Some(npz) = npm10k_or_skip("pca_first binary_prints_the_two_lines") else {
        return;
    };
    let (code, stdout, stderr) = run_binary(
        &bin,
        &[
            "--examples=1024",
            "--iterations=64",
            &format!("--dataset={npz}"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stdout,
        "Total variance: 52.68\nExplained variance: 10.38%\n"
    );
    let (_, _, stderr) = run_binary(&bin, &["--examples=8001", &format!("--dataset={npz}")]);
    assert!(
        stderr.contains("--examples 8001 is larger than the training split (8000 images)"),
        "{stderr}"
    );
}

// ---- Threads and kernels -----------------------------------------------------------------------

#[test]
fn threads_do_not_change_the_result() {
    let Some(npz) = npm10k_or_skip("pca_first threads_do_not_change_the_result") else {
        return;
    };
    let mut a = args(&npz, 8000, 128);
    let one = run(&a).expect("pca_first runs");
    for threads in [2, 3, 0] {
        a.common.threads = threads;
        // Bitwise: the matmul's results do not depend on the thread count.
        assert_eq!(run(&a).expect("pca_first runs"), one, "--threads={threads}");
    }
}

/// Every kernel (the VNNI tiles, the AVX-VNNI ones, the exact float32 blocks) computes the same
/// exact covariance, so the float32 results themselves are equal, not only the printed digits.
#[test]
fn every_kernel_gives_the_same_bits() {
    let Some(npz) = npm10k_or_skip("pca_first every_kernel_gives_the_same_bits") else {
        return;
    };
    let mut a = args(&npz, 1024, 64);
    let mut outputs = Vec::new();
    for kernel in npfl_core::matmul::Kernel::available() {
        a.common.kernel = kernel;
        outputs.push((kernel, run(&a).expect("pca_first runs")));
    }
    for (kernel, out) in &outputs {
        let bits = |r: &Report| (r.total_variance.to_bits(), r.explained_variance.to_bits());
        assert_eq!(
            bits(out),
            bits(&outputs[0].1),
            "{kernel} vs {}",
            outputs[0].0
        );
    }
}
