//! Distributions over string outcomes, read the way the course's Python reads them.
//!
//! * [`DataDistribution`]: the empirical distribution of a data file, one data point per line.
//!   The whole line is the outcome; lines end at `\n`, `\r\n` or a lone `\r` (Python's text mode,
//!   universal newlines), any other whitespace is part of the outcome, an empty line is the
//!   outcome `""`. Reading streams: memory grows with the number of distinct outcomes, not lines.
//! * [`ModelDistribution`]: a model file of `outcome<TAB>probability` lines, the probability a
//!   float as Python's `float()` reads it (surrounding whitespace allowed, exponents allowed).
//!
//! ```
//! use npfl_core::distribution::{DataDistribution, ModelDistribution};
//! let data = DataDistribution::from_reader("A\nBB\nA\n".as_bytes(), "data.txt").unwrap();
//! assert_eq!(data.outcomes().collect::<Vec<_>>(), ["A", "BB"]);
//! assert_eq!(data.probabilities(), [2.0 / 3.0, 1.0 / 3.0]);
//! let model = ModelDistribution::from_reader("A\t0.5\nBB\t4.5e-01\n".as_bytes(), "model.txt").unwrap();
//! assert_eq!(model.probability("BB"), Some(0.45));
//! ```

mod data;
mod error;
mod float;
mod hash;
mod lines;
mod model;

pub use data::DataDistribution;
pub use error::DistributionError;
pub use model::ModelDistribution;

use std::fs::File;
use std::path::Path;

/// Opens `path`, naming it in the error.
fn open(path: &Path) -> Result<File, DistributionError> {
    File::open(path).map_err(|source| DistributionError::Io {
        path: path.to_path_buf(),
        source,
    })
}
