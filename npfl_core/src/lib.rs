//! The numerical core of npfl138-rs: information measures over empirical distributions,
//! NumPy-compatible sampling, PCA by power iteration, a small MLP trained with Adam, and the
//! BLAS-free SIMD `f32` matrix multiplication that all heavy work runs on.
//!
//! Library code returns errors and never prints; the binaries in `assignments` do the talking.

pub mod distribution;
pub mod information;
#[allow(unsafe_code)]
pub mod matmul;
pub mod nn;
pub mod numpy_rng;
pub mod pca;
