//! `numpy_entropy` (`tasks/numpy_entropy.md`): ReCodEx tests 1 and 2 on the course's files,
//! the course's examples 3 and 4, and hidden tests 3 and 4 on data "analogous to data_3/data_4 but
//! generated with a different random seed", made on the fly by [`crate::numpy_entropy_cases`] with
//! a fresh seed, their expected output computed by our reference `assignments::numpy_entropy::run`.

use std::path::Path;
use std::time::Duration;

use super::{Case, CaseFile, CaseOptions, DataPaths, FileSource, POINTS, require_file};
use crate::compare::Rule;
use crate::error::CheckError;
use crate::numpy_entropy_cases::{CaseSpec, HIDDEN_CASES, generate};

/// A published case of the course: the set number, whether it is a ReCodEx test (or only an
/// example), and the expected stdout, verbatim from `tasks/numpy_entropy.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The set: `numpy_entropy_{data,model}_N.txt`.
    pub set: usize,
    /// A ReCodEx test (with points) rather than an example.
    pub test: bool,
    /// The expected stdout.
    pub expected: &'static str,
}

/// The course's published outputs (course: `tasks/numpy_entropy.md`).
pub const PUBLISHED: [Published; 4] = [
    Published {
        set: 1,
        test: true,
        expected: "Entropy: 0.96 nats\nCrossentropy: 0.99 nats\nKL divergence: 0.03 nats\n",
    },
    Published {
        set: 2,
        test: true,
        expected: "Entropy: 0.96 nats\nCrossentropy: inf nats\nKL divergence: inf nats\n",
    },
    Published {
        set: 3,
        test: false,
        expected: "Entropy: 4.15 nats\nCrossentropy: 4.23 nats\nKL divergence: 0.08 nats\n",
    },
    Published {
        set: 4,
        test: false,
        expected: "Entropy: 4.99 nats\nCrossentropy: 5.03 nats\nKL divergence: 0.04 nats\n",
    },
];

/// The course's repository folder holding the public files (`labs/01/` of ufal/npfl138).
pub const COURSE_URL: &str = "https://raw.githubusercontent.com/ufal/npfl138/master/labs/01";

/// Downloads the course's files that are missing in `dir` (created if needed) from `base_url`,
/// each checked to read as the course's data or model file before it is renamed into place;
/// `on_download` hears of each download before it starts.
///
/// # Errors
/// [`CheckError::Download`] naming the file, the URL and the reason; nothing half-written stays.
pub fn fetch_course_files(
    dir: &Path,
    base_url: &str,
    on_download: &mut dyn FnMut(&str, &str),
) -> Result<(), CheckError> {
    std::fs::create_dir_all(dir).map_err(CheckError::io(dir))?;
    let options = datasets::DownloadOptions::default();
    for set in 1..=PUBLISHED.len() {
        let (data, model) = file_names(set);
        for (name, is_model) in [(data, false), (model, true)] {
            let check = |path: &Path| {
                let parsed = if is_model {
                    npfl_core::distribution::ModelDistribution::from_path(path).map(drop)
                } else {
                    npfl_core::distribution::DataDistribution::from_path(path).map(drop)
                };
                parsed.map_err(|e| format!("not the course's file: {e}"))
            };
            datasets::fetch_checked(dir, base_url, &name, &options, &check, &mut |event| {
                if let datasets::DownloadEvent::Started { file, url } = event {
                    on_download(file, url);
                }
            })
            .map_err(|e| CheckError::Download(e.to_string()))?;
        }
    }
    Ok(())
}

/// ReCodEx's tests: 1, 2 (published) and the hidden 3, 4.
const TESTS: f64 = 4.0;

/// Time limit: ReCodEx's minimum; our reference takes milliseconds.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The course's file names for set `n`.
pub fn file_names(n: usize) -> (String, String) {
    (
        format!("numpy_entropy_data_{n}.txt"),
        format!("numpy_entropy_model_{n}.txt"),
    )
}

/// The arguments of a case on the given files (the course's command line).
pub fn args(data: &str, model: &str) -> Vec<String> {
    ["--data_path", data, "--model_path", model]
        .map(str::to_owned)
        .to_vec()
}

/// The published cases, on the course's files in `course` (skipped where they are missing).
pub fn published_cases(course: &Path) -> Vec<Case> {
    PUBLISHED
        .iter()
        .map(|p| {
            let (data, model) = file_names(p.set);
            let case = Case {
                name: format!("{}_{}", if p.test { "test" } else { "example" }, p.set),
                description: format!(
                    "the course's {} {} (tasks/numpy_entropy.md)",
                    if p.test { "test" } else { "example" },
                    p.set
                ),
                args: args(&data, &model),
                files: [&data, &model]
                    .map(|name| CaseFile {
                        name: name.clone(),
                        source: FileSource::Copy(course.join(name)),
                    })
                    .to_vec(),
                expected: p.expected.to_owned(),
                rule: Rule::Numbers,
                points: if p.test { POINTS / TESTS } else { 0.0 },
                timeout: TIMEOUT,
                note: None,
                skip: None,
            };
            match require_file(&course.join(&data)).or_else(|| require_file(&course.join(&model))) {
                Some(reason) => case.skipped(reason),
                None => case,
            }
        })
        .collect()
}

/// Our hidden cases with `seed` and `seed + 1` in the shapes of the course's sets 3 and 4.
pub fn hidden_specs(seed: u32) -> [CaseSpec; 2] {
    let [mut a, mut b] = HIDDEN_CASES;
    a.seed = seed;
    b.seed = seed.wrapping_add(1);
    [a, b]
}

/// Runs our reference implementation on the given file contents.
///
/// # Errors
/// [`CheckError::Reference`] when it fails (it should not on generated data).
pub fn reference_output(case: &str, data: &str, model: &str) -> Result<String, CheckError> {
    let dir = tempfile::tempdir().map_err(CheckError::io(std::env::temp_dir()))?;
    let (d, m) = (dir.path().join("data.txt"), dir.path().join("model.txt"));
    std::fs::write(&d, data).map_err(CheckError::io(&d))?;
    std::fs::write(&m, model).map_err(CheckError::io(&m))?;
    let args = assignments::numpy_entropy::Args {
        data_path: d,
        model_path: m,
        recodex: false,
    };
    assignments::numpy_entropy::run(&args)
        .map(|r| r.to_string())
        .map_err(|e| CheckError::Reference {
            case: case.to_owned(),
            message: format!("{e:#}"),
        })
}

/// A fresh seed: from the clock and the process id (the generator's stream is what matters, not
/// the seed's quality).
pub fn fresh_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    let mixed = mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mixed >> 32) as u32
}

/// The hidden cases generated with `seed` (ReCodEx's tests 3 and 4).
///
/// # Errors
/// Our reference failing on the generated data.
pub fn hidden_cases(seed: u32) -> Result<Vec<Case>, CheckError> {
    hidden_specs(seed)
        .iter()
        .zip([3, 4])
        .map(|(spec, set)| {
            let case = generate(spec);
            let name = format!("hidden_{set}");
            let expected = reference_output(&name, &case.data, &case.model)?;
            let (data, model) = (
                format!("numpy_entropy_data_hidden_{set}.txt"),
                format!("numpy_entropy_model_hidden_{set}.txt"),
            );
            Ok(Case {
                description: format!(
                    "hidden test {set}: data like the course's set {set}, generated with seed {} ({} lines, {} outcomes)",
                    spec.seed, spec.lines, spec.data_outcomes
                ),
                args: args(&data, &model),
                files: vec![
                    CaseFile {
                        name: data,
                        source: FileSource::Text(case.data),
                    },
                    CaseFile {
                        name: model,
                        source: FileSource::Text(case.model),
                    },
                ],
                expected,
                rule: Rule::Numbers,
                points: POINTS / TESTS,
                timeout: TIMEOUT,
                note: Some(format!("seed {}", spec.seed)),
                skip: None,
                name,
            })
        })
        .collect()
}

/// All cases: the course's tests 1, 2, examples 3, 4, and hidden tests 3, 4.
///
/// # Errors
/// Our reference failing on the generated data.
pub fn cases(paths: &DataPaths, options: CaseOptions) -> Result<Vec<Case>, CheckError> {
    let mut cases = published_cases(&paths.course);
    cases.extend(hidden_cases(options.seed.unwrap_or_else(fresh_seed))?);
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_add_up_to_the_course_s_two() {
        let cases = cases(
            &DataPaths {
                course: "/nonexistent".into(),
                ..DataPaths::from_env()
            },
            CaseOptions { seed: Some(7) },
        )
        .unwrap();
        let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "test_1",
                "test_2",
                "example_3",
                "example_4",
                "hidden_3",
                "hidden_4"
            ]
        );
        assert_eq!(cases.iter().map(|c| c.points).sum::<f64>(), POINTS);
        assert!(cases[..4].iter().all(|c| {
            c.skip
                .as_deref()
                .is_some_and(|r| r.contains("/nonexistent"))
        }));
        assert!(cases[4..].iter().all(|c| c.skip.is_none()));
    }

    #[test]
    fn hidden_cases_are_reproducible_from_their_seed() {
        let a = hidden_cases(12345).unwrap();
        assert_eq!(a, hidden_cases(12345).unwrap());
        assert_ne!(a[0].files, hidden_cases(12346).unwrap()[0].files);
        assert!(a[0].expected.starts_with("Entropy: "), "{}", a[0].expected);
        assert_eq!(a[0].expected.lines().count(), 3);
        assert_ne!(fresh_seed(), 0);
    }
}
