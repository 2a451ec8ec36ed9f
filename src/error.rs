//! The checker's error type.

use std::path::PathBuf;

/// What can go wrong while preparing or running the checks (a failing solution is not an error:
/// it is a [`crate::check::Verdict`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// An assignment name the checker does not know.
    #[error("unknown assignment `{0}` (known: numpy_entropy, pca_first, mnist_layers_activations)")]
    UnknownAssignment(String),
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The solution's program could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program as given.
        program: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Waiting for the solution failed.
    #[error("waiting for `{program}` failed: {source}")]
    Wait {
        /// The program as given.
        program: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The sandbox could not be set up (a problem of the checker or of the machine).
    #[error("the sandbox: {0}")]
    Sandbox(String),
    /// Downloading the course's files failed.
    #[error("{0}")]
    Download(String),
    /// The checker was interrupted (Ctrl-C, SIGTERM); the running solution was killed.
    #[error("interrupted")]
    Interrupted,
    /// A submission breaks ReCodEx's rules.
    #[error(transparent)]
    Submission(#[from] crate::submission::SubmissionError),
    /// Our reference implementation failed on a case (a bug on our side, not the student's).
    #[error("the reference implementation failed on {case}: {message}")]
    Reference {
        /// The case.
        case: String,
        /// The reference's error chain.
        message: String,
    },
}

impl CheckError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> CheckError {
        let path = path.into();
        move |source| CheckError::Io { path, source }
    }
}
