//! The AVX2 + FMA micro-kernel: a 6 x 16 tile in 12 `ymm` accumulators (6 x 8 for a narrow last
//! panel); each k step loads `NV` vectors of B and broadcasts 6 values of A. Partial tiles are
//! stored with `vmaskmovps`, which never touches masked-off lanes.

use std::arch::x86_64::{
    __m256, __m256i, _mm256_cmpgt_epi32, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps,
    _mm256_maskstore_ps, _mm256_mul_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32,
    _mm256_setzero_ps,
};

use super::kernel::Tile;

/// Rows of the tile.
pub(crate) const MR: usize = 6;
/// Lanes of one vector.
const L: usize = 8;

/// The AVX2 + FMA micro-kernel for a B panel of `NV * 8` columns.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with `MR = 6` and `width = NV * 8`; AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn tile<const NV: usize>(t: &Tile) {
    let mut acc: [[__m256; NV]; MR] = [[_mm256_setzero_ps(); NV]; MR];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        let mut bv = [_mm256_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the contract makes b[0..NV * 8] readable at each of the kc steps.
            *x = unsafe { _mm256_loadu_ps(b.add(v * L)) };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: the contract makes a[0..MR] readable at each of the kc steps.
            let ai = _mm256_set1_ps(unsafe { *a.add(i) });
            for (x, &bj) in row.iter_mut().zip(bv.iter()) {
                *x = _mm256_fmadd_ps(ai, bj, *x);
            }
        }
        // wrapping_add: after the last step the pointers may point past the panel; never read.
        a = a.wrapping_add(t.a_ks);
        b = b.wrapping_add(t.b_ks);
    }
    let alpha = _mm256_set1_ps(t.alpha);
    let beta = _mm256_set1_ps(t.beta);
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (i, row) in acc.iter().enumerate().take(t.mr) {
        for (v, &x) in row.iter().enumerate() {
            let cols = t.nr.saturating_sub(v * L).min(L);
            if cols == 0 {
                break;
            }
            let mask: __m256i = _mm256_cmpgt_epi32(_mm256_set1_epi32(cols as i32), lanes);
            let c = t.c.wrapping_add(i * t.c_rs + v * L);
            // SAFETY: the mask enables only columns v * 8 + j < nr of row i < mr, which the
            // contract makes writable (readable when beta != 0); vmaskmovps does not access
            // masked-off lanes, so they may lie outside C.
            unsafe {
                let r = if t.beta == 0.0 {
                    _mm256_mul_ps(x, alpha)
                } else {
                    _mm256_fmadd_ps(x, alpha, _mm256_mul_ps(_mm256_maskload_ps(c, mask), beta))
                };
                _mm256_maskstore_ps(c, mask, r);
            }
        }
    }
}
