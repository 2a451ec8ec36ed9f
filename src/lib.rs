//! The grader side of npfl138-rs: the definitions of the course's test cases and of our own
//! ReCodEx-style hidden cases, shared by the grader suite in `tests/` and the `npfl138` binary.

pub mod numpy_entropy_cases;
