//! The errors of reading a data or model file.

use std::io;
use std::path::PathBuf;

/// What can go wrong reading a data or model file. Each message is one line naming the file
/// (and the 1-based line where there is one).
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The file could not be opened or read.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The data file has no lines, so it defines no distribution.
    #[error("{}: the data file is empty: it needs at least one line", path.display())]
    EmptyData {
        /// The file.
        path: PathBuf,
    },
    /// A line is not valid UTF-8.
    #[error("{}:{line}: the line is not valid UTF-8", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// A model line has no tab between the outcome and its probability.
    #[error("{}:{line}: expected `outcome<TAB>probability`, found no tab", path.display())]
    MissingTab {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// A model probability is not a number in `[0, 1]`.
    #[error("{}:{line}: probability {value:?} {reason}", path.display())]
    BadProbability {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The text that was read.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A model outcome appears twice.
    #[error("{}:{line}: outcome {key:?} was already given on line {first_line}", path.display())]
    DuplicateKey {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the repetition.
        line: u64,
        /// The repeated outcome.
        key: String,
        /// 1-based line number of its first appearance.
        first_line: u64,
    },
}
