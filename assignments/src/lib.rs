//! The NPFL138 assignments: one module per assignment with its `Args` (the course's flags),
//! a `run` function returning a report, and a `Display` that prints the course's exact lines.
//! The binaries in `src/bin` are thin wrappers around these.

pub mod cli;
pub mod common;
pub mod example_pytorch;
pub mod fit;
pub mod logging;
pub mod mnist_layers_activations;
pub mod numpy_entropy;
pub mod pca_first;
