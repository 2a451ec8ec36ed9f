//! `mnist_layers_activations` (`tasks/mnist_layers_activations.md`): the course's six ReCodEx
//! tests (`--recodex`, one epoch), verbatim (course: `tasks/mnist_layers_activations.md`), compared as epoch lines: the time is
//! ignored and each metric may differ by [`TOLERANCE`].
//!
//! MNIST is provided as for `pca_first` ([`super::pca_first`]): the course's `mnist.npz`, or
//! `mnist_npm10k.npz` as `mnist.npz` with our reference's outputs ([`STAND_IN_EXPECTED`]).

use std::time::Duration;

use super::{Case, DataPaths, POINTS, mnist_case, split_args};
use crate::compare::Rule;

/// The course's tests: arguments and expected stdout, verbatim.
pub const PUBLISHED: [(&str, &str); 6] = [
    (
        "--recodex --epochs=1 --hidden_layers=0 --activation=none",
        "Epoch 1/1 1.1s loss=0.5340 accuracy=0.8632 dev:loss=0.2762 dev:accuracy=0.9278\n",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=none",
        "Epoch 1/1 1.6s loss=0.3791 accuracy=0.8913 dev:loss=0.2372 dev:accuracy=0.9314\n",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=relu",
        "Epoch 1/1 1.7s loss=0.3149 accuracy=0.9109 dev:loss=0.1453 dev:accuracy=0.9606\n",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=tanh",
        "Epoch 1/1 1.7s loss=0.3333 accuracy=0.9049 dev:loss=0.1613 dev:accuracy=0.9582\n",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=1 --activation=sigmoid",
        "Epoch 1/1 1.7s loss=0.4900 accuracy=0.8782 dev:loss=0.2185 dev:accuracy=0.9390\n",
    ),
    (
        "--recodex --epochs=1 --hidden_layers=3 --activation=relu",
        "Epoch 1/1 2.1s loss=0.2732 accuracy=0.9196 dev:loss=0.1118 dev:accuracy=0.9672\n",
    ),
];

/// Allowed absolute difference of each metric. The course regenerated tests 3 and 6 after
/// restricting ReCodEx mode to AVX, which moved dev:loss by up to 0.0029 (0.1089 -> 0.1118): the
/// same drift across CPUs and library versions must pass, while a wrong activation or a missing
/// layer moves the numbers by 0.02 to 0.2.
pub const TOLERANCE: f64 = 0.005;

/// Time limit: the course's PyTorch needs about 2 s per epoch plus its start-up.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// The published tests as cases (without their data).
pub fn published_cases() -> Vec<Case> {
    PUBLISHED
        .iter()
        .enumerate()
        .map(|(i, (args, expected))| Case {
            name: format!("test_{}", i + 1),
            description: format!(
                "the course's test {} (tasks/mnist_layers_activations.md)",
                i + 1
            ),
            args: split_args(args),
            files: Vec::new(),
            expected: (*expected).to_owned(),
            rule: Rule::EpochLines {
                tolerance: TOLERANCE,
            },
            points: POINTS / PUBLISHED.len() as f64,
            timeout: TIMEOUT,
            note: None,
            skip: None,
        })
        .collect()
}

/// The cases with their MNIST data (the course's, the stand-in, or skipped).
pub fn cases(paths: &DataPaths) -> Vec<Case> {
    published_cases()
        .into_iter()
        .map(|case| mnist_case(paths, case, None, |case| stand_in_expected(&case.args)))
        .collect()
}

/// Our reference's epoch lines on the stand-in, compiled in: each test's arguments followed by its
/// epoch line with the time masked (`tests/expected/mnist_layers_activations_stand_in.txt`, which
/// the grader suite compares with our reference; rewritten by `npfl138 regenerate`).
pub const STAND_IN_EXPECTED: &str =
    include_str!("../../tests/expected/mnist_layers_activations_stand_in.txt");

/// Our reference's epoch line for `args` on the stand-in (its masked time `[TIME]s` is ignored
/// by the epoch-line rule like any time).
fn stand_in_expected(args: &[String]) -> Result<String, String> {
    let command = args.join(" ");
    let mut lines = STAND_IN_EXPECTED.lines();
    lines
        .by_ref()
        .find(|l| *l == command)
        .and_then(|_| lines.next())
        .map(|line| format!("{line}\n"))
        .ok_or_else(|| {
            format!(
                "tests/expected/mnist_layers_activations_stand_in.txt has no line for `{command}`"
            )
        })
}
