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
/// pixels to a computation uses this function or [`scale_pixel_fused`], its bits without a divide.
#[inline(always)]
pub fn scale_pixel(pixel: u8) -> f32 {
    f32::from(pixel) / 255.0
}

/// [`scale_pixel`]'s bits without a divide: `fma(x, ZH, x * ZL)` with `ZH + ZL` the float32 pair
/// nearest `1 / 255` (a division by a constant as one multiplication and one fused multiply-add,
/// Brisebarre, Muller and Raina), which gives the division's bits for every one of the 256
/// pixels (`scale_pixel_fused_is_the_division`). A vector divide is dear where loops convert
/// whole images: on the Sapphire Rapids class Xeon (an Emerald Rapids) loading an MLP epoch's
/// 55,000 images took 11 ms with it and 6-9 ms without. Only for code compiled with FMA (inside
/// [`isa::vectorized`] with an instruction set whose [`has_fma`](isa::Isa::has_fma) holds):
/// without it, `mul_add` is a library call.
#[inline(always)]
pub fn scale_pixel_fused(pixel: u8) -> f32 {
    /// The float32 nearest `1 / 255`, and the float32 nearest the rest.
    const ZH: f32 = 1.0 / 255.0;
    const ZL: f32 = (1.0 / 255.0 - ZH as f64) as f32;
    let x = f32::from(pixel);
    x.mul_add(ZH, x * ZL)
}

#[cfg(test)]
mod tests {
    #[test]
    fn scale_pixel_fused_is_the_division() {
        for pixel in 0..=255u8 {
            assert_eq!(
                super::scale_pixel_fused(pixel).to_bits(),
                super::scale_pixel(pixel).to_bits(),
                "pixel {pixel}"
            );
        }
        // Not a multiplication by the nearest reciprocal alone: that rounds 126 pixels apart.
        assert_ne!(
            (3.0f32 * (1.0 / 255.0)).to_bits(),
            super::scale_pixel(3).to_bits()
        );
    }
}
