//! The AVX-512F micro-kernel: a 12 x 32 tile in 24 `zmm` accumulators (12 x 16 for a narrow
//! last panel); each k step loads `NV` vectors of B and broadcasts 12 values of A.
//! Partial tiles are stored with masked loads and stores, which never touch masked-off lanes.

use std::arch::x86_64::{
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
    _mm512_set1_ps, _mm512_setzero_ps,
};

use super::kernel::Tile;

/// Rows of the tile.
pub(crate) const MR: usize = 12;
/// Lanes of one vector.
const L: usize = 16;

/// The AVX-512F micro-kernel for a B panel of `NV * 16` columns.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with `MR = 12` and `width = NV * 16`; AVX-512F is available.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile<const NV: usize>(t: &Tile) {
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the contract makes b[0..NV * 16] readable at each of the kc steps.
            *x = unsafe { _mm512_loadu_ps(b.add(v * L)) };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: the contract makes a[0..MR] readable at each of the kc steps.
            let ai = _mm512_set1_ps(unsafe { *a.add(i) });
            for (x, &bj) in row.iter_mut().zip(bv.iter()) {
                *x = _mm512_fmadd_ps(ai, bj, *x);
            }
        }
        // wrapping_add: after the last step the pointers may point past the panel; never read.
        a = a.wrapping_add(t.a_ks);
        b = b.wrapping_add(t.b_ks);
    }
    let alpha = _mm512_set1_ps(t.alpha);
    let beta = _mm512_set1_ps(t.beta);
    for (i, row) in acc.iter().enumerate().take(t.mr) {
        for (v, &x) in row.iter().enumerate() {
            let cols = t.nr.saturating_sub(v * L).min(L);
            if cols == 0 {
                break;
            }
            let mask = if cols == L {
                u16::MAX
            } else {
                (1u16 << cols) - 1
            };
            let c = t.c.wrapping_add(i * t.c_rs + v * L);
            // SAFETY: the mask enables only columns v * 16 + j < nr of row i < mr, which the
            // contract makes writable (readable when beta != 0); masked-off lanes are not
            // accessed (AVX-512 masked memory operations suppress their faults).
            unsafe {
                let r = if t.beta == 0.0 {
                    _mm512_mul_ps(x, alpha)
                } else {
                    _mm512_fmadd_ps(
                        x,
                        alpha,
                        _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, c), beta),
                    )
                };
                _mm512_mask_storeu_ps(c, mask, r);
            }
        }
    }
}
