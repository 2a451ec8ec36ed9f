//! The aarch64 NEON micro-kernel: an 8 x 8 tile in 16 `q` accumulators; each k step loads two
//! vectors of B and broadcasts 8 values of A.
//!
//! Developed on x86-64: CI builds it for aarch64 and runs npfl_core's tests under qemu-user
//! (`just test-aarch64`), which checks results, not speed; it is kept deliberately small and has
//! never been timed on real ARM hardware. The scalar kernel stays the portable truth.

use std::arch::aarch64::{float32x4_t, vdupq_n_f32, vfmaq_f32, vld1q_f32, vst1q_f32};

use super::kernel::Tile;

/// Rows of the tile.
pub(crate) const MR: usize = 8;

/// The NEON micro-kernel for a B panel of 8 columns.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with `MR = 8` and `width = 8`; NEON is available.
#[target_feature(enable = "neon")]
pub(crate) unsafe fn tile(t: &Tile) {
    let mut acc: [[float32x4_t; 2]; MR] = [[vdupq_n_f32(0.0); 2]; MR];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        // SAFETY: the contract makes b[0..8] and A(i, p), i < MR, readable at each of the kc steps.
        let (b0, b1) = unsafe { (vld1q_f32(b), vld1q_f32(b.add(4))) };
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: as above, i < MR.
            let ai = vdupq_n_f32(unsafe { *a.add(i * t.a_rs) });
            row[0] = vfmaq_f32(row[0], ai, b0);
            row[1] = vfmaq_f32(row[1], ai, b1);
        }
        a = a.wrapping_add(t.a_ks);
        b = b.wrapping_add(t.b_ks);
    }
    for (i, row) in acc.iter().enumerate().take(t.mr).skip(t.skip) {
        let mut out = [0.0f32; 8];
        // SAFETY: `out` holds 8 floats, written as two vectors of 4.
        unsafe {
            vst1q_f32(out.as_mut_ptr(), row[0]);
            vst1q_f32(out.as_mut_ptr().add(4), row[1]);
        }
        for (j, &x) in out.iter().enumerate().take(t.nr) {
            // SAFETY: i < mr and j < nr: the contract makes this element writable (readable
            // when beta != 0).
            unsafe {
                let c = t.c.add(i * t.c_rs + j);
                // The C update of the x86 kernels (and the scalar one): `alpha * acc`, or
                // `fma(acc, alpha, beta * C)` (`mul_add` is one `fmadd` on aarch64).
                *c = if t.beta == 0.0 {
                    t.alpha * x
                } else {
                    x.mul_add(t.alpha, t.beta * *c)
                };
            }
        }
    }
}
