//! The grader suite: one integration-test binary for the root package (ripgrep's layout), one
//! module per subject. Tests that need data from outside the repository (the course's files and
//! MNIST in `../shared/data`, Debian's Fashion-MNIST, Python with NumPy or PyTorch) skip with a
//! message when it is missing, and fail instead under `NPFL138_REQUIRE_DATA=1` (CI): see
//! [`support`].
//!
//! - `numpy_entropy`, `pca_first`, `mnist_layers_activations`: our reference implementations on the
//!   course's published cases, our hidden cases and edge cases;
//! - `check_*`: `npfl138 check` end to end, hostile solutions, ReCodEx's submission mode, the
//!   course's data downloaded by an installed checker;
//! - `grade`: `npfl138 grade` and `gradebook` on a folder of submissions.

mod check_course_download;
mod check_mnist_layers_activations;
mod check_numpy_entropy;
mod check_pca_first;
mod check_sandbox;
mod grade;
mod mnist_layers_activations;
mod numpy_entropy;
mod pca_first;
mod support;
