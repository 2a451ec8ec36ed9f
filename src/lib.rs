//! The grader side of npfl138-rs: the definitions of the course's test cases and of our own
//! ReCodEx-style hidden cases ([`cases`]), how outputs are compared ([`compare`]), and how a
//! solution in any language is run and judged ([`runner`], [`check`]). The grader suite in
//! `tests/` and the `npfl138` binary share these definitions, so the two cannot disagree.
//!
//! ```no_run
//! use npfl138::cases::{self, CaseOptions, DataPaths};
//! use npfl138::check::{check_case, invocation};
//!
//! let paths = DataPaths::from_env();
//! let solution = invocation(&["python3".into(), "numpy_entropy.py".into()], &std::env::current_dir()?);
//! for case in cases::cases("numpy_entropy", &paths, CaseOptions::default())? {
//!     println!("{}", check_case(&case, &solution, None)?);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cases;
pub mod check;
pub mod compare;
pub mod error;
pub mod numpy_entropy_cases;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod submission;

pub use error::CheckError;
