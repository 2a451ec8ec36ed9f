//! The grader side of npfl138-rs: the definitions of the course's test cases and of our own
//! ReCodEx-style hidden cases ([`cases`]), how outputs are compared ([`compare`]), and how a
//! solution in any language is run and judged under the course's limits ([`runner`], [`sandbox`],
//! [`check`]), how a Python submission is run the way ReCodEx runs it ([`submission`]), and the
//! JSON, JUnit and gradebook results ([`report`]). The grader suite in
//! `tests/` and the `npfl138` binary share these definitions, so the two cannot disagree.
//!
//! ```no_run
//! use std::sync::{Arc, atomic::AtomicBool};
//! use npfl138::cases::{self, CaseOptions, DataPaths};
//! use npfl138::check::{Solution, check_case, invocation};
//! use npfl138::runner::{Limits, Sandbox};
//!
//! // The trampoline is the `npfl138` binary itself (`npfl138 __sandbox`).
//! let sandbox = Sandbox::probe("target/release/npfl138".as_ref(), Arc::new(AtomicBool::new(false)))?;
//! let solution = Solution::Command(invocation(
//!     &["python3".into(), "numpy_entropy.py".into()],
//!     &std::env::current_dir()?,
//! ));
//! for case in cases::cases("numpy_entropy", &DataPaths::from_env(), CaseOptions::default())? {
//!     println!("{}", check_case(&case, &solution, &sandbox, &Limits::default(), None)?);
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
