//! The numerical core of npfl138-rs: information measures over empirical distributions,
//! NumPy-compatible sampling, PCA by power iteration, a small MLP trained with Adam, and the
//! BLAS-free SIMD `f32` matrix multiplication that all heavy work runs on.
//!
//! Library code returns errors and never prints; the binaries in `assignments` do the talking.

pub mod distribution;
pub mod information;
/// The CPU's vector instruction sets: [`Isa`](isa::Isa) detection, [`vectorized`](isa::vectorized)
/// loops and the [`prefetch`](isa::prefetch) hint. Implemented in `matmul/isa.rs`, where the
/// crate's `unsafe` lives; this is their public home.
pub mod isa {
    pub use crate::matmul::isa::{Isa, prefetch, vectorized};
}
#[allow(unsafe_code)]
pub mod matmul;
pub mod nn;
pub mod pca;
pub mod rng;
pub mod rows;

/// The course's image transform for one pixel: `float32(pixel) / 255`, a true division (not a
/// multiplication by `1 / 255`, which rounds differently for some pixels). Everything that feeds
/// pixels to a computation uses this one function.
#[inline(always)]
pub fn scale_pixel(pixel: u8) -> f32 {
    f32::from(pixel) / 255.0
}
