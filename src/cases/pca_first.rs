//! `pca_first` (`tasks/pca_first.md`): the course's three ReCodEx tests, verbatim (course: `tasks/pca_first.md`).
//!
//! They need MNIST, provided as the course does: `mnist.npz` in the working directory. With the
//! course's `mnist.npz` (found in `$NPFL_CACHE` or the current directory) the course's outputs
//! apply; otherwise the cases run on `mnist_npm10k.npz` placed as `mnist.npz`, with our reference's
//! outputs ([`STAND_IN_EXPECTED`]: `tests/expected/pca_first_stand_in_N.txt`, rewritten by
//! `npfl138 regenerate`), where tests 2 and 3 use all 8,000 of its training images instead of
//! 8,192 and 55,000.

use std::time::Duration;

use super::{Case, DataPaths, POINTS, mnist_case, split_args};
use crate::compare::Rule;

/// The course's tests: arguments and expected stdout, verbatim.
pub const PUBLISHED: [(&str, &str); 3] = [
    (
        "--recodex --examples=1024 --iterations=64",
        "Total variance: 53.12\nExplained variance: 9.64%\n",
    ),
    (
        "--recodex --examples=8192 --iterations=128",
        "Total variance: 53.05\nExplained variance: 9.89%\n",
    ),
    (
        "--recodex --examples=55000 --iterations=1024",
        "Total variance: 52.74\nExplained variance: 9.71%\n",
    ),
];

/// The arguments of each test on the stand-in, which has 8,000 training images.
pub const STAND_IN_ARGS: [Option<&str>; 3] = [
    None,
    Some("--recodex --examples=8000 --iterations=128"),
    Some("--recodex --examples=8000 --iterations=1024"),
];

/// Time limits: the course's Python needs seconds for 55,000 examples (a 55,000 x 784 covariance).
pub const TIMEOUTS: [Duration; 3] = [
    Duration::from_secs(10),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// The published tests as cases (without their data).
pub fn published_cases() -> Vec<Case> {
    PUBLISHED
        .iter()
        .zip(TIMEOUTS)
        .enumerate()
        .map(|(i, ((args, expected), timeout))| Case {
            name: format!("test_{}", i + 1),
            description: format!("the course's test {} (tasks/pca_first.md)", i + 1),
            args: split_args(args),
            files: Vec::new(),
            expected: (*expected).to_owned(),
            rule: Rule::Numbers,
            points: POINTS / PUBLISHED.len() as f64,
            timeout,
            note: None,
            skip: None,
        })
        .collect()
}

/// The cases with their MNIST data (the course's, the stand-in, or skipped).
pub fn cases(paths: &DataPaths) -> Vec<Case> {
    published_cases()
        .into_iter()
        .zip(STAND_IN_ARGS)
        .enumerate()
        .map(|(i, (case, stand_in_args))| {
            mnist_case(paths, case, stand_in_args, |_| {
                Ok(STAND_IN_EXPECTED[i].to_owned())
            })
        })
        .collect()
}

/// Our reference's outputs on the stand-in for the tests run with [`STAND_IN_ARGS`], compiled in:
/// plain files that the grader suite compares with our reference (`tests/expected/`, rewritten by
/// `npfl138 regenerate`).
pub const STAND_IN_EXPECTED: [&str; 3] = [
    include_str!("../../tests/expected/pca_first_stand_in_1.txt"),
    include_str!("../../tests/expected/pca_first_stand_in_2.txt"),
    include_str!("../../tests/expected/pca_first_stand_in_3.txt"),
];

/// The arguments of test `n` (1-based) on the stand-in.
pub fn stand_in_args(n: usize) -> &'static str {
    STAND_IN_ARGS[n - 1].unwrap_or(PUBLISHED[n - 1].0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_in_outputs_are_two_result_lines() {
        for (n, expected) in STAND_IN_EXPECTED.iter().enumerate() {
            let lines: Vec<&str> = expected.lines().collect();
            assert_eq!(lines.len(), 2, "test {}: {expected}", n + 1);
            assert!(lines[0].starts_with("Total variance: "), "{expected}");
            assert!(lines[1].starts_with("Explained variance: "), "{expected}");
            assert!(stand_in_args(n + 1).starts_with("--recodex --examples="));
        }
    }
}
