//! Issue 12's newcomer papercuts, each through the real binaries: one-line errors whatever
//! `RUST_BACKTRACE` says, a quiet exit when stdout is closed (`| head -1`), clear messages for bad
//! numbers and misspelt dataset names, no download announced before a cache error, a forced
//! progress bar drawn with `\r` off a terminal, and `NPFL_DATASET_LIMIT`. Plus the justfile: it
//! loads (no recipe defined twice) and every `just` recipe the README names exists.
//!
//! The MNIST binaries run on the tiny course-layout fixture of `datasets` (train 5, dev 3, test 4),
//! in a temporary directory (they write `logs/` there), and never touch the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const NUMPY_ENTROPY: &str = env!("CARGO_BIN_EXE_numpy_entropy");
const PCA_FIRST: &str = env!("CARGO_BIN_EXE_pca_first");
const MNIST_LAYERS_ACTIVATIONS: &str = env!("CARGO_BIN_EXE_mnist_layers_activations");
const EXAMPLE_PYTORCH_TENSORBOARD: &str = env!("CARGO_BIN_EXE_example_pytorch_tensorboard");

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../datasets/tests/fixtures/course_layout_compressed.npz"
);
const ENTROPY_DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/numpy_entropy/hidden_3_data.txt"
);
const ENTROPY_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/numpy_entropy/hidden_3_model.txt"
);

/// The variables that change what the binaries do, removed so that the caller's environment
/// cannot change a test; `RUST_BACKTRACE` is set, as a developer's shell may have it.
fn command(bin: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir).env("RUST_BACKTRACE", "1");
    for var in [
        "NPFL_CACHE",
        "NPFL_DATASETS_URL",
        "NPFL_DATASET_LIMIT",
        "NPFL_PROGRESS",
        "NPFL_PROGRESS_EACH",
        "NPFL_PROGRESS_FIRST",
        "NPFL_KERNEL",
    ] {
        cmd.env_remove(var);
    }
    // Never the course's server: a port on which nothing listens.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/datasets", refused.local_addr().unwrap());
    drop(refused);
    cmd.env("NPFL_DATASETS_URL", url);
    cmd
}

fn run(bin: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out: Output = command(bin, dir)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("the binary starts");
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn name(bin: &str) -> &str {
    Path::new(bin).file_name().unwrap().to_str().unwrap()
}

fn dataset_flag() -> String {
    format!("--dataset={FIXTURE}")
}

/// Exit code 1, nothing on stdout, and exactly `NAME: error: ...` on one line of stderr.
fn assert_one_line_error(bin: &str, (code, stdout, stderr): (i32, String, String)) -> String {
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.ends_with('\n'), "{stderr:?}");
    let prefix = format!("{}: error: ", name(bin));
    assert!(stderr.starts_with(&prefix), "{stderr}");
    for noise in ["Caused by", "Stack backtrace", "panicked", "Error:"] {
        assert!(!stderr.contains(noise), "{noise}: {stderr}");
    }
    stderr
}

#[test]
fn errors_are_one_line_with_their_causes_even_with_rust_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stderr = assert_one_line_error(
        MNIST_LAYERS_ACTIVATIONS,
        run(
            MNIST_LAYERS_ACTIVATIONS,
            d,
            &["--dataset=/nonexistent/x.npz"],
            &[],
        ),
    );
    assert!(
        stderr.contains("/nonexistent/x.npz: no such file"),
        "{stderr}"
    );
    // A cause chain joined by ": " (the npz is not a zip archive).
    std::fs::write(d.join("broken.npz"), b"not a zip").unwrap();
    let stderr = assert_one_line_error(
        MNIST_LAYERS_ACTIVATIONS,
        run(MNIST_LAYERS_ACTIVATIONS, d, &["--dataset=broken.npz"], &[]),
    );
    assert!(
        stderr.contains("broken.npz is not a valid .npz file: "),
        "{stderr}"
    );
    assert_one_line_error(PCA_FIRST, run(PCA_FIRST, d, &["--dataset=broken.npz"], &[]));
    let stderr = assert_one_line_error(
        NUMPY_ENTROPY,
        run(NUMPY_ENTROPY, d, &["--data_path=/nonexistent/d.txt"], &[]),
    );
    assert!(stderr.contains("/nonexistent/d.txt"), "{stderr}");
    // An environment variable's bad value, found after the flags were parsed.
    assert_one_line_error(
        MNIST_LAYERS_ACTIVATIONS,
        run(
            MNIST_LAYERS_ACTIVATIONS,
            d,
            &[&dataset_flag()],
            &[("NPFL_PROGRESS", "two")],
        ),
    );
}

#[test]
fn a_log_directory_that_cannot_be_created_fails_before_training() {
    // `logs` is a file, so no log directory can be made below it (whoever runs the test: root
    // may write in a read-only directory, but not below a file).
    for bin in [MNIST_LAYERS_ACTIVATIONS, EXAMPLE_PYTORCH_TENSORBOARD] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("logs"), b"").unwrap();
        let stderr = assert_one_line_error(
            bin,
            run(bin, dir.path(), &[&dataset_flag(), "--epochs=1"], &[]),
        );
        let expected = format!("writing the logs in logs/{}-", name(bin));
        assert!(stderr.contains(&expected), "{stderr}");
        assert!(
            stderr.ends_with(": logs: Not a directory (os error 20)\n"),
            "{stderr}"
        );
        // The check leaves nothing behind, and a run that can log creates only `logs/`.
        std::fs::remove_file(dir.path().join("logs")).unwrap();
        let (code, stdout, stderr) = run(bin, dir.path(), &[&dataset_flag(), "--epochs=1"], &[]);
        assert_eq!(code, 0, "{stderr}");
        assert!(stdout.contains("Epoch 1/1 "), "{stdout}");
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(entries, ["logs"]);
    }
}

#[test]
fn a_bad_npfl_kernel_is_a_one_line_error_in_every_binary_that_multiplies() {
    let dir = tempfile::tempdir().unwrap();
    for bin in [
        PCA_FIRST,
        MNIST_LAYERS_ACTIVATIONS,
        EXAMPLE_PYTORCH_TENSORBOARD,
    ] {
        let stderr = assert_one_line_error(
            bin,
            run(
                bin,
                dir.path(),
                &[&dataset_flag()],
                &[("NPFL_KERNEL", "bogus")],
            ),
        );
        assert!(
            stderr.contains("error: NPFL_KERNEL: unknown matmul kernel \"bogus\""),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Runs `bin` with its stdout on a pipe whose reader is already closed.
fn run_with_closed_stdout(bin: &str, dir: &Path, args: &[&str]) -> (i32, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = command(bin, dir)
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn a_closed_stdout_ends_every_binary_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = format!("--data_path={ENTROPY_DATA}");
    let model = format!("--model_path={ENTROPY_MODEL}");
    let dataset = dataset_flag();
    for (bin, args) in [
        (NUMPY_ENTROPY, vec![data.as_str(), model.as_str()]),
        (PCA_FIRST, vec![dataset.as_str(), "--examples=5"]),
        (
            MNIST_LAYERS_ACTIVATIONS,
            vec![dataset.as_str(), "--epochs=3", "--batch_size=2"],
        ),
    ] {
        let (code, stderr) = run_with_closed_stdout(bin, d, &args);
        assert_eq!((code, stderr.as_str()), (0, ""), "{}", name(bin));
    }
    // Training stopped at the first line nobody could read; that epoch is still in logs.txt.
    let logs: Vec<PathBuf> = std::fs::read_dir(d.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let text = std::fs::read_to_string(logs[0].join("logs.txt")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("Epoch 1/3 "), "{text}");
}

#[test]
fn a_full_disk_on_stdout_is_a_one_line_error_not_a_quiet_exit() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipping: no /dev/full");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = command(NUMPY_ENTROPY, dir.path())
        .args([
            format!("--data_path={ENTROPY_DATA}"),
            format!("--model_path={ENTROPY_MODEL}"),
        ])
        .stdout(full)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("numpy_entropy: error: writing to stdout: No space left on device"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// clap's usage error: exit code 2, the message on stderr, nothing on stdout.
fn assert_usage_error(bin: &str, args: &[&str], expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(bin, dir.path(), args, &[]);
    assert_eq!(code, 2, "{args:?}: {stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("invalid digit"), "{args:?}: {stderr}");
    assert!(!stderr.contains("too large to fit"), "{args:?}: {stderr}");
}

#[test]
fn bad_numbers_get_clear_usage_errors() {
    const SEED: &str = "must be an integer from 0 to 4294967295 = 2**32 - 1";
    for (bin, args, expected) in [
        (
            PCA_FIRST,
            &["--examples=-5"][..],
            "'-5' for '--examples <EXAMPLES>': must be a positive integer",
        ),
        (
            PCA_FIRST,
            &["--examples", "-5"],
            "must be a positive integer",
        ),
        (
            PCA_FIRST,
            &["--examples=many"],
            "must be a positive integer",
        ),
        (
            PCA_FIRST,
            &["--iterations=-1"],
            "must be a positive integer",
        ),
        (
            PCA_FIRST,
            &["--examples=99999999999999999999999"],
            "(at most ",
        ),
        (PCA_FIRST, &["--seed=-1"], SEED),
        (PCA_FIRST, &["--seed=4294967296"], SEED),
        (PCA_FIRST, &["--threads=all"], "must be an integer"),
        (MNIST_LAYERS_ACTIVATIONS, &["--seed=-1"], SEED),
        (MNIST_LAYERS_ACTIVATIONS, &["--seed=4294967296"], SEED),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--seed", "18446744073709551616"],
            SEED,
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--batch_size=0"],
            "must be a positive integer",
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--batch_size=-50"],
            "must be a positive integer",
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--hidden_layer_size=0"],
            "must be a positive integer",
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--hidden_layers=-1"],
            "must be a non-negative integer",
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--epochs=-1"],
            "must be a non-negative integer",
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--epochs=1.5"],
            "must be a non-negative integer",
        ),
        (
            MNIST_LAYERS_ACTIVATIONS,
            &["--threads=x"],
            "must be an integer",
        ),
    ] {
        assert_usage_error(bin, args, expected);
    }
}

#[test]
fn the_largest_seed_numpy_takes_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dataset_flag();
    let (code, stdout, stderr) = run(
        MNIST_LAYERS_ACTIVATIONS,
        dir.path(),
        &[
            &dataset,
            "--seed=4294967295",
            "--epochs=1",
            "--batch_size=5",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("Epoch 1/1 "), "{stdout}");
    let (code, stdout, stderr) = run(
        PCA_FIRST,
        dir.path(),
        &[
            &dataset,
            "--seed=4294967295",
            "--examples=5",
            "--iterations=+3",
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("Total variance: "), "{stdout}");
}

#[test]
fn misspelt_dataset_names_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    for (bin, given, meant) in [
        (MNIST_LAYERS_ACTIVATIONS, "fashion-mnist", "fashion_mnist"),
        (PCA_FIRST, "Fashion_MNIST", "fashion_mnist"),
        (PCA_FIRST, "minst", "mnist"),
    ] {
        let flag = format!("--dataset={given}");
        let stderr = assert_one_line_error(bin, run(bin, dir.path(), &[&flag], &[]));
        assert!(
            stderr.contains(&format!("did you mean --dataset={meant}?")),
            "{stderr}"
        );
    }
}

#[test]
fn an_unusable_cache_is_reported_before_any_download_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-cache");
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    for (cache, expected) in [
        (&missing, "does not exist (it is not created automatically)"),
        (&file, "is not a directory"),
    ] {
        for bin in [PCA_FIRST, MNIST_LAYERS_ACTIVATIONS] {
            let stderr = assert_one_line_error(
                bin,
                run(
                    bin,
                    dir.path(),
                    &[],
                    &[("NPFL_CACHE", cache.to_str().unwrap())],
                ),
            );
            assert!(!stderr.contains("Downloading"), "{stderr}");
            assert!(stderr.contains(expected), "{stderr}");
        }
    }
}

/// The bar frames of a forced bar on a pipe: stderr split at `\r`, blank erasures left out.
fn bar_frames(stderr: &str) -> Vec<&str> {
    stderr
        .split('\r')
        .map(str::trim_end)
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn a_forced_bar_off_a_terminal_redraws_with_carriage_returns() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(
        MNIST_LAYERS_ACTIVATIONS,
        dir.path(),
        &[&dataset_flag(), "--epochs=2", "--batch_size=2"],
        &[("NPFL_PROGRESS", "3"), ("NPFL_PROGRESS_EACH", "1")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(!stderr.contains('\x1b'), "no escape codes: {stderr:?}");
    assert!(!stderr.contains('\n'), "no new lines: {stderr:?}");
    assert!(stderr.starts_with("\rEpoch 1/2 :   0%|"), "{stderr:?}");
    // Per epoch: 0/3, 1/3, 2/3, 3/3 of training (5 examples), 0/2, 1/2, 2/2 of dev (3).
    let frames = bar_frames(&stderr);
    assert_eq!(frames.len(), 14, "{frames:#?}");
    assert!(frames[3].contains("| 3/3 ["), "{frames:#?}");
    assert!(frames[6].starts_with("Evaluation dev:loss="), "{frames:#?}");
    // Each bar is erased as tqdm erases it (leave=False): \r, spaces, \r.
    assert!(stderr.ends_with(" \r"), "{stderr:?}");
    assert_eq!(stderr.matches(" \r\r").count(), 3, "{stderr:?}");
}

#[test]
fn npfl_dataset_limit_caps_the_transformed_datasets_like_the_course() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dataset_flag();
    let bars = |limit: Option<&str>| {
        let mut env = vec![("NPFL_PROGRESS", "3"), ("NPFL_PROGRESS_EACH", "1")];
        if let Some(limit) = limit {
            env.push(("NPFL_DATASET_LIMIT", limit));
        }
        let (code, stdout, stderr) = run(
            MNIST_LAYERS_ACTIVATIONS,
            dir.path(),
            &[&dataset, "--epochs=1", "--batch_size=1"],
            &env,
        );
        assert_eq!(code, 0, "{limit:?}: {stderr}");
        assert_eq!(stdout.lines().count(), 1, "{stdout}");
        let last = |prefix: &str| {
            bar_frames(&stderr)
                .into_iter()
                .rfind(|f| f.starts_with(prefix))
                .map(|f| {
                    f.split("| ")
                        .nth(1)
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_owned()
                })
                .unwrap()
        };
        (last("Epoch"), last("Evaluation"), stdout)
    };
    let (train, dev, full) = bars(None);
    assert_eq!((train.as_str(), dev.as_str()), ("5/5", "3/3"));
    let (train, dev, limited) = bars(Some("2"));
    assert_eq!(
        (train.as_str(), dev.as_str()),
        ("2/2", "2/2"),
        "train and dev are capped"
    );
    assert_ne!(full, limited);
    // Values that are not all digits are ignored, as str.isdecimal() rejects them.
    for ignored in ["", "-1", " 2", "2.0", "two"] {
        let (train, dev, _) = bars(Some(ignored));
        assert_eq!(
            (train.as_str(), dev.as_str()),
            ("5/5", "3/3"),
            "{ignored:?}"
        );
    }
    // "0" empties the datasets: a one-line error that names the variable.
    let stderr = assert_one_line_error(
        MNIST_LAYERS_ACTIVATIONS,
        run(
            MNIST_LAYERS_ACTIVATIONS,
            dir.path(),
            &[&dataset, "--epochs=1"],
            &[("NPFL_DATASET_LIMIT", "0")],
        ),
    );
    assert!(stderr.contains("NPFL_DATASET_LIMIT=0"), "{stderr}");
    // pca_first samples MNIST's train split directly, not through a TransformedDataset: no limit.
    let (code, stdout, stderr) = run(
        PCA_FIRST,
        dir.path(),
        &[&dataset, "--examples=5"],
        &[("NPFL_DATASET_LIMIT", "2")],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("Total variance: "), "{stdout}");
}

/// The names of the recipes the justfile defines, in order (duplicates kept).
fn just_recipes(justfile: &str) -> Vec<String> {
    justfile
        .lines()
        .filter(|line| {
            line.starts_with(|c: char| c.is_ascii_lowercase())
                && !line.contains(":=")
                && line.contains(':')
        })
        .map(|line| line.split([':', ' ']).next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_justfile_defines_each_recipe_once_and_every_one_the_readme_names() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let justfile = std::fs::read_to_string(root.join("justfile")).unwrap();
    let recipes = just_recipes(&justfile);
    let mut unique = recipes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        recipes.len(),
        "a recipe is defined twice: {recipes:?}"
    );
    for expected in ["verify", "check", "run", "regenerate", "test-aarch64"] {
        assert!(
            recipes.iter().any(|r| r == expected),
            "{expected}: {recipes:?}"
        );
    }
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let named: Vec<&str> = readme
        .match_indices("just ")
        .filter(|(i, _)| readme[..*i].ends_with('`'))
        .filter_map(|(i, _)| readme[i + 5..].split([' ', '`', '\n']).next())
        .filter(|name| !name.starts_with('-'))
        .collect();
    assert!(!named.is_empty(), "the README names recipes");
    for recipe in named {
        assert!(
            recipes.iter().any(|r| r == recipe),
            "README names `just {recipe}`, which the justfile lacks: {recipes:?}"
        );
    }
}
