//! The AVX2 + FMA micro-kernel: a 6 x 16 tile in 12 `ymm` accumulators (6 x 8 for a narrow last
//! panel); each k step loads `NV` vectors of B and broadcasts 6 values of A. Partial tiles are
//! stored with `vmaskmovps`, which never touches masked-off lanes.

use std::arch::x86_64::{
    __m256, __m256i, _mm256_cmpgt_epi32, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps,
    _mm256_maskstore_ps, _mm256_mul_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32,
    _mm256_setzero_ps,
};

use super::kernel::{Tile, opaque};

/// Rows of the tile.
pub(crate) const MR: usize = 6;
/// Lanes of one vector.
const L: usize = 8;

/// With `MASKED`, B is loaded under a mask of `t.b_cols` columns (a partial panel read in
/// place). With `ROWS`, A is read with row stride `t.a_rs` (row-major `op(A)` in place), else with
/// row stride 1 (packed panels, column-major `op(A)`): a compile-time stride keeps the
/// broadcasts at constant offsets.
///
/// The AVX2 + FMA micro-kernel for a B panel of `NV * 8` columns.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with `MR = 6` and `width = NV * 8`; AVX2 and FMA are available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn tile<const NV: usize, const ROWS: bool, const MASKED: bool>(t: &Tile) {
    let mut acc: [[__m256; NV]; MR] = [[_mm256_setzero_ps(); NV]; MR];
    // Row i of the A panel is at group pointer g[i / 3] plus off[i % 3]: a few base pointers
    // and offsets in registers instead of one pointer walked down the rows (a serial chain).
    let rs = if ROWS { t.a_rs } else { 1 };
    // `opaque` hides how the offsets and bases relate, else LLVM folds them back into the chain.
    let off: [usize; 3] = std::array::from_fn(|r| if ROWS { opaque(r * rs) } else { r });
    let mut g: [*const f32; MR / 3] = std::array::from_fn(|q| {
        t.a.wrapping_add(if ROWS { opaque(q * 3 * rs) } else { q * 3 })
    });
    let mut b = t.b;
    // Row-major op(A) read in place has unit k stride: a constant lets the second step of the
    // unrolled loop use a displacement.
    let a_ks = if ROWS { 1 } else { t.a_ks };
    let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let bmask: [__m256i; NV] = std::array::from_fn(|v| {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(t.b_cols.saturating_sub(v * L).min(L) as i32),
            lanes,
        )
    });
    // One k step at `u` steps past the current pointers.
    let mut step = |g: &[*const f32; MR / 3], b: *const f32, u: usize| {
        let mut bv = [_mm256_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            let src = b.wrapping_add(u * t.b_ks + v * L);
            // SAFETY: the contract makes b[0..b_cols] readable at each of the kc steps; with
            // MASKED (b_cols < NV * 8) vmaskmovps reads only the lanes below b_cols.
            *x = unsafe {
                if MASKED {
                    _mm256_maskload_ps(src, bmask[v])
                } else {
                    _mm256_loadu_ps(src)
                }
            };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: the contract makes A(i, p) readable for i < MR at each of the kc steps.
            let ai = _mm256_set1_ps(unsafe { *g[i / 3].add(u * a_ks + off[i % 3]) });
            for (x, &bj) in row.iter_mut().zip(bv.iter()) {
                *x = _mm256_fmadd_ps(ai, bj, *x);
            }
        }
    };
    // Unrolled by two: half the pointer updates and loop tests.
    for _ in 0..t.kc / 2 {
        step(&g, b, 0);
        step(&g, b, 1);
        // wrapping_add: after the last step the pointers may point past the panel; never read.
        for q in g.iter_mut() {
            *q = q.wrapping_add(2 * a_ks);
        }
        b = b.wrapping_add(2 * t.b_ks);
    }
    if t.kc % 2 == 1 {
        step(&g, b, 0);
    }
    let alpha = _mm256_set1_ps(t.alpha);
    let beta = _mm256_set1_ps(t.beta);
    // Constant row indices (a test per row, not a loop starting at `skip`) keep `acc` in
    // registers.
    for (i, row) in acc.iter().enumerate() {
        if i < t.skip || i >= t.mr {
            continue;
        }
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
