//! `pca_first` (`tasks/pca_first.md`): the course's three ReCodEx tests, verbatim (spec §2.4).
//!
//! They need MNIST, provided as the course does: `mnist.npz` in the working directory. With the
//! course's `mnist.npz` (found in `$NPFL_CACHE` or the current directory) the course's outputs
//! apply; otherwise the cases run on `mnist_npm10k.npz` placed as `mnist.npz`, with our reference's
//! outputs: the grader suite's snapshots `tests/snapshots/pca_first__npm10k_N.snap` (rewritten by
//! `npfl138 regenerate`), where tests 2 and 3 use all 8,000 of its training images instead of
//! 8,192 and 55,000.

use std::time::Duration;

use super::{Case, DataPaths, POINTS, mnist_case, parse_snapshot, split_args};
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
            mnist_case(paths, case, stand_in_args, |case| {
                stand_in_expected(i + 1, &case.args)
            })
        })
        .collect()
}

/// Our reference's outputs on the stand-in, compiled in: the grader suite's snapshots
/// (`tests/snapshots/pca_first__npm10k_N.snap`, rewritten by `npfl138 regenerate`).
const STAND_IN_SNAPSHOTS: [&str; 3] = [
    include_str!("../../tests/snapshots/pca_first__npm10k_1.snap"),
    include_str!("../../tests/snapshots/pca_first__npm10k_2.snap"),
    include_str!("../../tests/snapshots/pca_first__npm10k_3.snap"),
];

/// Our reference's output for test `n` on the stand-in, which must be for the same arguments
/// (each one appears in the snapshot's `expression:` header; `--recodex` may not).
fn stand_in_expected(n: usize, args: &[String]) -> Result<String, String> {
    stand_in_from(
        &format!("pca_first__npm10k_{n}.snap"),
        STAND_IN_SNAPSHOTS[n - 1],
        args,
    )
}

fn stand_in_from(name: &str, snapshot: &str, args: &[String]) -> Result<String, String> {
    let (body, expression) = parse_snapshot(name, snapshot)?;
    let same = args
        .iter()
        .filter(|a| *a != "--recodex")
        .all(|a| expression.split_whitespace().any(|t| t == a));
    if !same {
        return Err(format!(
            "{name} is for `{expression}`, not `{}`",
            args.join(" ")
        ));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stand_in_outputs_must_be_for_the_same_arguments() {
        let snap = |expression: &str| {
            format!(
                "---\nsource: tests/pca_first.rs\nexpression: {expression}\n---\nTotal variance: 52.68\nExplained variance: 10.27%\n"
            )
        };
        let args = split_args("--recodex --examples=8000 --iterations=128");
        for header in [
            "\"--examples=8000 --iterations=128\"",
            "pca_first --recodex --examples=8000 --iterations=128 --dataset=mnist_npm10k.npz",
        ] {
            assert_eq!(
                stand_in_from("x.snap", &snap(header), &args).unwrap(),
                "Total variance: 52.68\nExplained variance: 10.27%\n"
            );
        }
        let e = stand_in_from(
            "x.snap",
            &snap("pca_first --recodex --examples=8192 --iterations=128"),
            &args,
        )
        .unwrap_err();
        assert!(
            e.contains("not `--recodex --examples=8000 --iterations=128`"),
            "{e}"
        );
        assert!(stand_in_from("x.snap", "no snapshot", &args).is_err());
        // The compiled-in snapshots are for the stand-in arguments.
        for (n, args) in STAND_IN_ARGS.iter().enumerate() {
            let args = split_args(args.unwrap_or(PUBLISHED[n].0));
            assert!(stand_in_expected(n + 1, &args).is_ok(), "test {}", n + 1);
        }
    }
}
