//! The AVX-512F micro-kernel: a 14 x 32 tile in 28 `zmm` accumulators (14 x 16 for a narrow
//! last panel); each k step loads `NV` vectors of B and broadcasts 14 values of A. The same code
//! with 10 rows serves products whose row count 10-row panels cover with less padding (the
//! MLP's batches of 50 rows: 5 panels of 10 instead of 4 of 14, the last one 8/14 full), and
//! with 4 rows a last panel of at most 4 rows (which a full tile would compute 14 rows for).
//! Partial tiles are stored with masked loads and stores, which never touch masked-off lanes.

use std::arch::x86_64::{
    __m512, _MM_HINT_T0, _MM_HINT_T1, _mm_prefetch, _mm512_castps_si512, _mm512_cmpeq_epi32_mask,
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_mul_ps,
    _mm512_set1_epi32, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

use super::driver::Problem;
use super::kernel::{Tile, opaque};

/// Rows of the tile.
pub(crate) const MR: usize = 14;
/// Rows of the shorter tile (see [`super::kernel::Kernel::geometry_for`]).
pub(crate) const MR_SHORT: usize = 10;
/// Rows of the tile for a last panel of at most this many rows (the rest of a full tile's rows
/// would be computed for nothing).
pub(crate) const MR_TAIL: usize = 4;
/// How many k steps ahead the A panel is prefetched.
const PF: usize = 16;
/// Lanes of one vector.
const L: usize = 16;

/// The epilogue of every AVX-512 path: `alpha x` when `beta == 0` (C is not read), else
/// `alpha x + beta C` as one fused multiply-add on the rounded `beta C`, with `C = old()`. One
/// formula, so that the paths round alike.
#[target_feature(enable = "avx512f")]
#[inline]
fn scaled(x: __m512, alpha: __m512, beta: f32, old: impl FnOnce() -> __m512) -> __m512 {
    if beta == 0.0 {
        _mm512_mul_ps(x, alpha)
    } else {
        _mm512_fmadd_ps(x, alpha, _mm512_mul_ps(old(), _mm512_set1_ps(beta)))
    }
}

/// With `ROWS`, A is read with row stride `t.a_rs` (row-major `op(A)` in place), else with
/// row stride 1 (packed panels, column-major `op(A)`): a compile-time stride keeps the
/// broadcasts at constant offsets.
///
/// The mask of the first `min(cols, 16)` lanes.
#[inline(always)]
fn lane_mask(cols: usize) -> u16 {
    if cols >= L {
        u16::MAX
    } else {
        (1u16 << cols) - 1
    }
}

/// The AVX-512F micro-kernel for an A panel of `MR = 2 * G` rows and a B panel of `NV * 16`
/// columns. With `MASKED`, B is loaded under the mask of `t.b_cols` columns; without, with
/// plain loads of full vectors. With `NEXT_B`, the k loop asks L2 for `t.pf_lines` lines from `t.pf`
/// (a variant of its own: the test would compete with the FMAs for their ports in every tile).
/// With `LIST`, only the `t.list_len` k steps listed at `t.list` run (see [`Tile::list`]); where an
/// accumulator of a stored element then is `-0`, the tile is computed again with every step.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with this `MR` and `width = NV * 16`, and without
/// `MASKED` also `t.b_cols == NV * 16`; `MR == 2 * G`; AVX-512F is available.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile<
    const MR: usize,
    const G: usize,
    const NV: usize,
    const ROWS: bool,
    const MASKED: bool,
    const NEXT_B: bool,
    const LIST: bool,
>(
    t: &Tile,
) {
    debug_assert_eq!(MR, 2 * G);
    let mut acc = [[_mm512_setzero_ps(); NV]; MR];
    // Row i of the A panel is at group pointer g[i / G] plus off[i % G]: a few base pointers
    // and offsets in registers instead of one pointer walked down the rows (a serial chain).
    let rs = if ROWS { t.a_rs } else { 1 };
    // `opaque` hides how the offsets and bases relate, else LLVM folds them back into the chain.
    let off: [usize; G] = std::array::from_fn(|r| if ROWS { opaque(r * rs) } else { r });
    let mut g: [*const f32; 2] = std::array::from_fn(|q| {
        t.a.wrapping_add(if ROWS { opaque(q * G * rs) } else { q * G })
    });
    let mut b = t.b;
    // Ask for the C tile now, so that its rows (often not in cache for large products) arrive
    // while the k loop runs instead of stalling the stores at the end.
    if t.beta != 0.0 {
        for i in 0..t.mr {
            let row = t.c.wrapping_add(i * t.c_rs);
            _mm_prefetch::<_MM_HINT_T0>(row.cast());
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(t.nr - 1).cast());
        }
    }
    // Masked B loads read only the b_cols readable columns; full panels use plain loads.
    let bmask: [u16; NV] = std::array::from_fn(|v| lane_mask(t.b_cols.saturating_sub(v * L)));
    // Row-major op(A) read in place has unit k stride: a constant lets the second step of the
    // unrolled loop use a displacement.
    let a_ks = if ROWS { 1 } else { t.a_ks };
    // One k step at `u` steps past the current pointers.
    let mut step = |g: &[*const f32; 2], b: *const f32, u: usize| {
        let mut bv = [_mm512_setzero_ps(); NV];
        for (v, x) in bv.iter_mut().enumerate() {
            // SAFETY: the contract makes b[0..b_cols] readable at each of the kc steps. MASKED:
            // the mask enables only those lanes (masked-off lanes are not accessed); else the
            // caller guarantees b_cols == NV * 16, so the whole vector is readable.
            *x = unsafe {
                if MASKED {
                    _mm512_maskz_loadu_ps(bmask[v], b.add(u * t.b_ks + v * L))
                } else {
                    _mm512_loadu_ps(b.add(u * t.b_ks + v * L))
                }
            };
        }
        for (i, row) in acc.iter_mut().enumerate() {
            // SAFETY: the contract makes A(i, p) readable for i < MR at each of the kc steps.
            let ai = _mm512_set1_ps(unsafe { *g[i / G].add(u * a_ks + off[i % G]) });
            for (x, &bj) in row.iter_mut().zip(bv.iter()) {
                *x = _mm512_fmadd_ps(ai, bj, *x);
            }
        }
    };
    let (mut pf, mut pf_left) = (t.pf, t.pf_lines);
    if LIST {
        // The listed steps, two at a time, at their offsets from the block's first step.
        let list = t.list;
        for j in 0..t.list_len / 2 {
            // SAFETY: the contract makes list[0..list_len] readable, each entry below kc.
            let (u0, u1) = unsafe { (*list.add(2 * j) as usize, *list.add(2 * j + 1) as usize) };
            step(&g, b, u0);
            step(&g, b, u1);
        }
        if t.list_len % 2 == 1 {
            // SAFETY: as above, for the last entry.
            step(&g, b, unsafe { *list.add(t.list_len - 1) } as usize);
        }
    }
    // Unrolled by two: half the pointer updates and loop tests, which compete with the FMAs
    // for ports 0 and 5.
    for it in 0..if LIST { 0 } else { t.kc / 2 } {
        step(&g, b, 0);
        step(&g, b, 1);
        if NEXT_B && it % 4 == 3 && pf_left > 0 {
            // A line of the next block of op(B), into L2 (a hint, never faults).
            _mm_prefetch::<_MM_HINT_T1>(pf.cast());
            pf = pf.wrapping_add(L);
            pf_left -= 1;
        }
        if !ROWS {
            // The A panel streams from L2: fetch the line PF steps ahead (a hint, never faults).
            _mm_prefetch::<_MM_HINT_T0>(g[0].wrapping_add(PF * a_ks).cast());
        }
        // wrapping_add: after the last step the pointers may point past the panel; never read.
        for q in g.iter_mut() {
            *q = q.wrapping_add(2 * a_ks);
        }
        b = b.wrapping_add(2 * t.b_ks);
    }
    if !LIST && t.kc % 2 == 1 {
        step(&g, b, 0);
    }
    if LIST {
        // A stored sum of -0, where every step's sum may be +0 (see `Tile::list`): computed
        // again with every step. (Masks, not branches, so that `acc` stays in registers.)
        let negative_zero = _mm512_set1_epi32(i32::MIN);
        let mut found = 0u16;
        for (i, row) in acc.iter().enumerate() {
            let stored = if i >= t.skip && i < t.mr { u16::MAX } else { 0 };
            for (v, &x) in row.iter().enumerate() {
                let cols = lane_mask(t.nr.saturating_sub(v * L).min(L));
                found |=
                    _mm512_cmpeq_epi32_mask(_mm512_castps_si512(x), negative_zero) & cols & stored;
            }
        }
        if found != 0 {
            // SAFETY: forwarded contract (the list is not read).
            return unsafe { tile::<MR, G, NV, ROWS, MASKED, NEXT_B, false>(t) };
        }
    }
    let alpha = _mm512_set1_ps(t.alpha);
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
            let mask = lane_mask(cols);
            let c = t.c.wrapping_add(i * t.c_rs + v * L);
            // SAFETY: the mask enables only columns v * 16 + j < nr of row i < mr, which the
            // contract makes writable (readable when beta != 0); masked-off lanes are not
            // accessed (AVX-512 masked memory operations suppress their faults).
            unsafe {
                let r = scaled(x, alpha, t.beta, || _mm512_maskz_loadu_ps(mask, c));
                _mm512_mask_storeu_ps(c, mask, r);
            }
        }
    }
}

/// The steps `p < kc` (at most 256) at which the `rows` (at most 16) values `a + i * a_rs + p * a_ks`
/// of op(A) are all zero: bit `p % 64` of word `p / 64`.
///
/// # Safety
/// AVX-512F is available; `a_rs == 1` or `a_ks == 1`; `rows <= 16`, `kc <= 256`; those elements
/// are readable.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn zero_steps(
    a: *const f32,
    a_rs: usize,
    a_ks: usize,
    rows: usize,
    kc: usize,
) -> [u64; 4] {
    use std::arch::x86_64::{
        _mm512_castps_si512, _mm512_or_si512, _mm512_set1_epi32, _mm512_setzero_si512,
        _mm512_test_epi32_mask,
    };
    debug_assert!(rows <= L && kc <= 4 * 64 && (a_rs == 1 || a_ks == 1));
    // The bits of a float but its sign: zero exactly for +0 and -0.
    let magnitude = _mm512_set1_epi32(0x7fff_ffff);
    let mut zero = [0u64; 4];
    if a_rs == 1 {
        // Each step's values are consecutive: one masked load per step.
        let mask = lane_mask(rows);
        for (w, word) in zero.iter_mut().enumerate() {
            for q in 0..64.min(kc.saturating_sub(64 * w)) {
                let p = 64 * w + q;
                // SAFETY: the mask enables only the rows < rows of step p (the contract).
                let v = unsafe { _mm512_maskz_loadu_ps(mask, a.wrapping_add(p * a_ks)) };
                let all_zero = _mm512_test_epi32_mask(_mm512_castps_si512(v), magnitude) == 0;
                *word |= u64::from(all_zero) << q;
            }
        }
    } else {
        // Each row's steps are consecutive: 16 steps of every row or-ed together.
        for p0 in (0..kc).step_by(L) {
            let mask = lane_mask(kc - p0);
            let mut any = _mm512_setzero_si512();
            for i in 0..rows {
                // SAFETY: the mask enables only steps p0 + l < kc of row i < rows (the contract).
                let v = unsafe { _mm512_maskz_loadu_ps(mask, a.wrapping_add(i * a_rs + p0)) };
                any = _mm512_or_si512(any, _mm512_castps_si512(v));
            }
            let nonzero = _mm512_test_epi32_mask(any, magnitude);
            zero[p0 / 64] |= u64::from(!nonzero & mask) << (p0 % 64);
        }
    }
    zero
}

/// Whether the rows `q < kc` (at most 256) marked in `rows` (bit `q % 64` of word `q / 64`) have
/// only finite values (no infinity, no NaN) among their `n` values `b + q * rs + j * cs`.
///
/// # Safety
/// AVX-512F is available; those values are readable.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn rows_finite(
    b: *const f32,
    rs: usize,
    cs: usize,
    n: usize,
    rows: &[u64; 4],
    kc: usize,
) -> bool {
    use std::arch::x86_64::{
        _mm512_and_si512, _mm512_castps_si512, _mm512_cmpge_epu32_mask, _mm512_max_epu32,
        _mm512_set1_epi32, _mm512_setzero_si512,
    };
    debug_assert!(kc <= 4 * 64);
    if cs != 1 {
        return (0..kc)
            .filter(|&q| rows[q / 64] >> (q % 64) & 1 == 1)
            .all(|q| {
                // SAFETY: the values of row q are readable (the contract).
                (0..n).all(|j| unsafe { *b.add(q * rs + j * cs) }.is_finite())
            });
    }
    // The largest magnitude's bits: infinities and NaNs are the ones from 0x7f80_0000 up.
    let magnitude = _mm512_set1_epi32(0x7fff_ffff);
    let mut max = _mm512_setzero_si512();
    // The marked rows by their bits' positions: no branch per row (the marks are irregular).
    for (w, &word) in rows.iter().enumerate().take(kc.div_ceil(64)) {
        let mut left = word;
        while left != 0 {
            let row = b.wrapping_add((64 * w + left.trailing_zeros() as usize) * rs);
            left &= left - 1;
            for j in (0..n).step_by(L) {
                // SAFETY: the mask enables only values j + l < n of a marked row (the contract).
                let x = unsafe { _mm512_maskz_loadu_ps(lane_mask(n - j), row.wrapping_add(j)) };
                max = _mm512_max_epu32(max, _mm512_and_si512(_mm512_castps_si512(x), magnitude));
            }
        }
    }
    _mm512_cmpge_epu32_mask(max, _mm512_set1_epi32(0x7f80_0000)) == 0
}

/// Appends to `out` the steps `p < kc` (at most 256) whose bit in `left_out` (bit `p % 64` of
/// word `p / 64`) is clear, in order.
#[target_feature(enable = "avx512f")]
pub(crate) fn kept_steps(left_out: &[u64; 4], kc: usize, out: &mut Vec<u32>) {
    use std::arch::x86_64::{
        _mm512_add_epi32, _mm512_mask_compressstoreu_epi32, _mm512_set1_epi32, _mm512_setr_epi32,
    };
    debug_assert!(kc <= 4 * 64);
    out.reserve(kc);
    let mut len = out.len();
    let iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for p0 in (0..kc).step_by(L) {
        let keep = !((left_out[p0 / 64] >> (p0 % 64)) as u16) & lane_mask(kc - p0);
        let steps = _mm512_add_epi32(iota, _mm512_set1_epi32(p0 as i32));
        // SAFETY: `reserve` made room for kc more values past the `len` written (at most
        // p0 of them so far, and at most 16 more here).
        unsafe {
            _mm512_mask_compressstoreu_epi32(out.as_mut_ptr().add(len).cast(), keep, steps);
        }
        len += keep.count_ones() as usize;
    }
    // SAFETY: the first `len` values are initialised (the compressed stores wrote them).
    unsafe { out.set_len(len) };
}

/// Columns of C that the column tails compute at most: a last partial panel of at most this
/// many columns, or a whole product this narrow, has the rows as vector lanes (a 16-wide tile
/// would compute 16 columns, and as many for 10 as for 16).
pub(crate) const TAIL_COLS: usize = 16;

/// Columns that [`column_tail_rows`] computes at most: its broadcasts of B, one per column and
/// k step for one block of 16 rows, outweigh the narrow tiles' padding beyond (Zen 5, 50 x 784 x n
/// NN: 6.5 us for n = 10 both ways, 8.3 against 6.8 for 12, 10.8 against 6.4 for 16; 4.0
/// against 6.8 for 5, 4.8 against 6.0 for 8).
pub(crate) const ROWS_TAIL_COLS: usize = 10;

/// Four columns: C's rows are read and written as 16-byte rows ([`store_rows4`]).
const FOUR: usize = 4;

/// The offsets of 16 consecutive rows of C (`c_rs` apart), in elements: the indices of the
/// column tails' gathers and scatters.
#[target_feature(enable = "avx512f")]
#[inline]
fn row_offsets(c_rs: usize) -> std::arch::x86_64::__m512i {
    use std::arch::x86_64::{_mm512_mullo_epi32, _mm512_set1_epi32, _mm512_setr_epi32};
    _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(c_rs as i32),
    )
}

/// `C[i][j] = alpha * sum_p op(A)(i, p) op(B)(p, j) + beta * C[i][j]` for the `COLS` (at most
/// [`TAIL_COLS`]) columns of a narrow last column panel (or of a product that narrow), with the
/// rows as the vector lanes: per k step `V` vectors of a column of `op(A)` (unit row stride) and
/// `COLS` broadcasts of `op(B)`, `V COLS` fused multiply-adds, against the 14 of a 14 x 16 tile
/// that would compute 16 columns for `COLS`. Every element is the same sequence of fused
/// multiply-adds over `p` from zero, and the same `alpha` / `beta` epilogue, as in [`tile`] (the
/// caller uses it only where `k` is one block deep), so the bits are the same; C is written
/// by [`store_columns`].
///
/// Computes columns `first .. first + COLS` of `p`.
///
/// # Safety
/// AVX-512F is available; `p.a_rs == 1`; for `i < m`, `q < k`, `first <= j < first + COLS`:
/// `a + i + q * a_cs` and `b + q * b_rs + j * b_cs` are readable, `c + i * c_rs + j` is writable
/// (readable unless `beta == 0`); `15 * c_rs + COLS` fits an `i32`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn column_tail<const COLS: usize, const V: usize>(p: &Problem, first: usize) {
    debug_assert!(COLS <= TAIL_COLS && p.a_rs == 1);
    let (m, k, a, a_cs, c_rs) = (p.m, p.k, p.a, p.a_cs, p.c_rs);
    let b = p.b.wrapping_add(first * p.b_cs);
    let c = p.c.wrapping_add(first);
    let alpha = _mm512_set1_ps(p.alpha);
    for i0 in (0..m).step_by(V * L) {
        // Rows past m (a last partial block) are masked off; a vector with none has mask 0.
        let masks: [u16; V] = std::array::from_fn(|v| lane_mask((m - i0).saturating_sub(v * L)));
        let mut acc = [[_mm512_setzero_ps(); V]; COLS];
        for q in 0..k {
            let mut av = [_mm512_setzero_ps(); V];
            for (v, x) in av.iter_mut().enumerate() {
                // SAFETY: the mask enables only rows i0 + 16 v + l < m of column q (the
                // contract); masked-off lanes are not accessed.
                *x = unsafe {
                    _mm512_maskz_loadu_ps(masks[v], a.wrapping_add(i0 + v * L + q * a_cs))
                };
            }
            for (j, row) in acc.iter_mut().enumerate() {
                // SAFETY: q < k and j < COLS (the contract).
                let bj = _mm512_set1_ps(unsafe { *b.add(q * p.b_rs + j * p.b_cs) });
                for (x, &av) in row.iter_mut().zip(av.iter()) {
                    *x = _mm512_fmadd_ps(av, bj, *x);
                }
            }
        }
        for (v, &mask) in masks.iter().enumerate() {
            if mask == 0 {
                break;
            }
            let columns: [__m512; COLS] = std::array::from_fn(|j| acc[j][v]);
            // SAFETY: rows i0 + 16 v + r < m of columns first..first + COLS are writable
            // (readable when beta != 0) by the contract.
            unsafe {
                store_columns(
                    &columns,
                    c.wrapping_add((i0 + v * L) * c_rs),
                    c_rs,
                    mask.count_ones() as usize,
                    alpha,
                    p.beta,
                )
            };
        }
    }
}

/// The tiles' epilogue ([`scaled`]: `alpha x`, or `alpha x + beta C` when `beta != 0`) for
/// `COLS` columns of `rows <= 16` rows of C at `c` (row `r` at `c + r * c_rs`), column `j`
/// of the rows in `columns[j]` (row `r` in lane `r`). Four columns: each row's four values are
/// one 16-byte load and store, through transposes in registers ([`store_rows4`]); more: the 16 x
/// 16 transpose ([`transpose16`]) and one masked load and store per row; fewer: gathers and
/// scatters of the 16 rows of each column.
///
/// # Safety
/// AVX-512F is available; for `r < rows <= 16` and `j < COLS <= 16`, `c + r * c_rs + j` is
/// writable (readable when `beta != 0`); `15 * c_rs + COLS` fits an `i32`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn store_columns<const COLS: usize>(
    columns: &[__m512; COLS],
    c: *mut f32,
    c_rs: usize,
    rows: usize,
    alpha: __m512,
    beta: f32,
) {
    use std::arch::x86_64::{
        _mm512_add_epi32, _mm512_mask_i32gather_ps, _mm512_mask_i32scatter_ps, _mm512_set1_epi32,
    };
    if COLS == FOUR {
        let old = (beta != 0.0).then(|| {
            // SAFETY: rows r < rows of the four columns are readable when beta != 0 (the
            // contract).
            unsafe { load_rows4(c, c_rs, rows) }
        });
        let r: [__m512; FOUR] = std::array::from_fn(|j| {
            let j = j.min(COLS - 1);
            scaled(columns[j], alpha, beta, || old.map_or(columns[j], |o| o[j]))
        });
        // SAFETY: the same rows are writable (the contract).
        unsafe { store_rows4(r, c, c_rs, rows) };
    } else if COLS > FOUR {
        let mut x = [_mm512_setzero_ps(); L];
        x[..COLS].copy_from_slice(columns);
        let mask = lane_mask(COLS);
        for (r, &row) in transpose16(x).iter().enumerate().take(rows) {
            let at = c.wrapping_add(r * c_rs);
            let v = scaled(row, alpha, beta, || {
                // SAFETY: the mask enables only columns j < COLS of row r < rows, readable when
                // beta != 0 (the contract); masked-off lanes are not accessed.
                unsafe { _mm512_maskz_loadu_ps(mask, at) }
            });
            // SAFETY: the same columns are writable (the contract).
            unsafe { _mm512_mask_storeu_ps(at, mask, v) };
        }
    } else {
        let mask = lane_mask(rows);
        let lanes = row_offsets(c_rs);
        for (j, &x) in columns.iter().enumerate() {
            let index = _mm512_add_epi32(lanes, _mm512_set1_epi32(j as i32));
            // SAFETY: the mask enables only rows r < rows of column j < COLS, writable (readable
            // when beta != 0) by the contract, at offsets that fit an i32; masked-off lanes are
            // not accessed.
            unsafe {
                let r = scaled(x, alpha, beta, || {
                    _mm512_mask_i32gather_ps::<4>(
                        _mm512_setzero_ps(),
                        mask,
                        index,
                        c.cast_const().cast(),
                    )
                });
                _mm512_mask_i32scatter_ps::<4>(c.cast(), mask, index, r);
            }
        }
    }
}

/// The 4 x 4 transposes inside each 128-bit lane: lane `q` of output `k` holds element `k` of
/// lane `q` of each input in turn (`out[k][4q + j] = x[j][4q + k]`). Four columns of 16 rows
/// (row `r` in lane `r`) become the rows `4q + k` (four values each) in lane `q` of `out[k]`,
/// and back: the transform is its own inverse.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose_lanes4(x: [__m512; 4]) -> [__m512; 4] {
    use std::arch::x86_64::{
        _mm512_castpd_ps, _mm512_castps_pd, _mm512_unpackhi_pd, _mm512_unpackhi_ps,
        _mm512_unpacklo_pd, _mm512_unpacklo_ps,
    };
    let [x0, x1, x2, x3] = x;
    // Per lane: t0 = elements 0, 1 of x0, x1 interleaved; t1 = elements 2, 3 of x0, x1; t2,
    // t3 the same of x2, x3.
    let (t0, t1) = (
        _mm512_castps_pd(_mm512_unpacklo_ps(x0, x1)),
        _mm512_castps_pd(_mm512_unpackhi_ps(x0, x1)),
    );
    let (t2, t3) = (
        _mm512_castps_pd(_mm512_unpacklo_ps(x2, x3)),
        _mm512_castps_pd(_mm512_unpackhi_ps(x2, x3)),
    );
    [
        _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2)),
        _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2)),
        _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3)),
        _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3)),
    ]
}

/// Stores four columns of 16 rows (`cols[j]` is column `j`, row `r` in lane `r`) as `rows` rows
/// of four contiguous values, row `r` at `c + r * c_rs`: transposed in registers
/// ([`transpose_lanes4`]), then one 16-byte store per row, where a scatter writes its 16 lanes
/// one at a time.
///
/// # Safety
/// AVX-512F is available; for `r < rows <= 16`, the four values at `c + r * c_rs` are writable.
#[target_feature(enable = "avx512f")]
unsafe fn store_rows4(cols: [__m512; 4], c: *mut f32, c_rs: usize, rows: usize) {
    use std::arch::x86_64::{_mm_storeu_ps, _mm512_extractf32x4_ps};
    let by_row = transpose_lanes4(cols);
    for r in 0..rows {
        let x = by_row[r % 4];
        let row = match r / 4 {
            0 => _mm512_extractf32x4_ps::<0>(x),
            1 => _mm512_extractf32x4_ps::<1>(x),
            2 => _mm512_extractf32x4_ps::<2>(x),
            _ => _mm512_extractf32x4_ps::<3>(x),
        };
        // SAFETY: r < rows, whose four values at c + r * c_rs are writable (the contract).
        unsafe { _mm_storeu_ps(c.add(r * c_rs), row) };
    }
}

/// The inverse of [`store_rows4`]: reads `rows` rows of four values (row `r` at `c + r * c_rs`)
/// as four columns of 16 rows, zero in the lanes of rows `rows..16` (which are not read).
///
/// # Safety
/// AVX-512F is available; for `r < rows <= 16`, the four values at `c + r * c_rs` are readable.
#[target_feature(enable = "avx512f")]
unsafe fn load_rows4(c: *const f32, c_rs: usize, rows: usize) -> [__m512; 4] {
    use std::arch::x86_64::{_mm_loadu_ps, _mm_setzero_ps, _mm512_insertf32x4};
    let row = |r: usize| {
        if r < rows {
            // SAFETY: r < rows, whose four values at c + r * c_rs are readable (the contract).
            unsafe { _mm_loadu_ps(c.add(r * c_rs)) }
        } else {
            _mm_setzero_ps()
        }
    };
    let by_row: [__m512; 4] = std::array::from_fn(|k| {
        let x = _mm512_insertf32x4::<0>(_mm512_setzero_ps(), row(k));
        let x = _mm512_insertf32x4::<1>(x, row(4 + k));
        let x = _mm512_insertf32x4::<2>(x, row(8 + k));
        _mm512_insertf32x4::<3>(x, row(12 + k))
    });
    transpose_lanes4(by_row)
}

/// [`column_tail`] for a row-major `op(A)` (unit k stride: the forward product `X W` of a batch),
/// whose columns are not vectors: 16 rows and 8 k steps of A at a time are transposed in
/// registers ([`transpose16x8`], 24 shuffles), then each of the 8 columns meets `COLS`
/// broadcasts of `op(B)`. Two blocks of 16 rows go side by side, so that `2 COLS` chains of
/// dependent fused multiply-adds overlap (one block's four would leave the FMA units waiting on
/// their latency) and each broadcast serves both; whole rows are plain loads (Zen 5 issues masked
/// loads at half the rate). With 5-8 columns the two blocks' accumulators leave room for 4 k steps
/// of A only ([`transpose16x4`]); with 9 or 10, one block. Zen 5: the last 4 columns of 50 x 784 x
/// 36 cost 2.7 us, 4.2 with one block of 16 x 16 transposes; 50 x 784 x 8 4.8 us with two blocks
/// of 4 steps, 6.0 with one of 8. `k` is cut into the driver's blocks of `kc`; each block's sum
/// starts from zero and is combined with C by the tiles' epilogue (`beta` for the first block, 1
/// after, C stored in between), so every element is the same sequence of rounded operations as in
/// [`tile`], and the bits are the same.
///
/// Computes columns `first .. first + COLS` of `p`.
///
/// # Safety
/// AVX-512F is available; `p.a_cs == 1`; `kc > 0`; for `i < m`, `q < k`, `first <= j < first +
/// COLS`: `a + i * a_rs + q` and `b + q * b_rs + j * b_cs` are readable, `c + i * c_rs + j` is
/// writable (readable unless `beta == 0`); `15 * c_rs + COLS` fits an `i32`.
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn column_tail_rows<const COLS: usize>(p: &Problem, first: usize, kc: usize) {
    debug_assert!(COLS <= TAIL_COLS && p.a_cs == 1 && kc > 0);
    // Two blocks of rows where there are more than 16, 8 k steps at a time up to four columns,
    // 4 up to eight (their accumulators fill the registers); 9 or 10 columns in one block (two
    // blocks of 4 steps spill: 50 x 784 x 10 12.8 us against 6.5).
    let mut i0 = 0;
    while i0 < p.m {
        // SAFETY: forwarded contract; i0 < m.
        let blocks = unsafe {
            match (p.m - i0 > L, COLS) {
                (true, ..=FOUR) => rows_pass::<COLS, 2, 8>(p, first, kc, i0),
                (true, ..=8) => rows_pass::<COLS, 2, 4>(p, first, kc, i0),
                _ => rows_pass::<COLS, 1, 8>(p, first, kc, i0),
            }
        };
        i0 += blocks * L;
    }
}

/// Rows `i0 .. min(i0 + 16 G, m)` of [`column_tail_rows`] (returns `G`), in `G` blocks of 16
/// rows, `W` (8 or 4) k steps at a time.
///
/// # Safety
/// As [`column_tail_rows`], and `i0 < m`.
#[target_feature(enable = "avx512f")]
unsafe fn rows_pass<const COLS: usize, const G: usize, const W: usize>(
    p: &Problem,
    first: usize,
    kc: usize,
    i0: usize,
) -> usize {
    // Locals: C is written through raw pointers, so the compiler would reload p's fields.
    let (k, a, a_rs, c_rs) = (p.k, p.a, p.a_rs, p.c_rs);
    let (b_rs, b_cs) = (p.b_rs, p.b_cs);
    let b = p.b.wrapping_add(first * b_cs);
    let c = p.c.wrapping_add(first);
    let alpha = _mm512_set1_ps(p.alpha);
    // Rows of each block; rows past m (a last partial block) are not read, not written.
    let rows: [usize; G] = std::array::from_fn(|g| (p.m - i0).saturating_sub(g * L).min(L));
    for (block, pc) in (0..k).step_by(kc).enumerate() {
        let end = (pc + kc).min(k);
        let mut acc = [[_mm512_setzero_ps(); COLS]; G];
        for q0 in (pc..end).step_by(W) {
            let width = W.min(end - q0);
            let mut columns = [[_mm512_setzero_ps(); 8]; G];
            for (g, x) in columns.iter_mut().enumerate() {
                let at = a.wrapping_add((i0 + g * L) * a_rs + q0);
                // SAFETY: rows i0 + 16 g + r < m (r < rows[g]) of columns q0..q0 + width <= k
                // are readable (the contract).
                *x = unsafe {
                    if W == 8 {
                        transpose16x8(at, a_rs, rows[g], width)
                    } else {
                        let [c0, c1, c2, c3] = transpose16x4(at, a_rs, rows[g], width);
                        let zero = _mm512_setzero_ps();
                        [c0, c1, c2, c3, zero, zero, zero, zero]
                    }
                };
            }
            let bq = b.wrapping_add(q0 * b_rs);
            let mut step = |q: usize| {
                // Column j of every block in turn: one broadcast of B(q, j) for all of them.
                #[allow(clippy::needless_range_loop)]
                for j in 0..COLS {
                    // SAFETY: q0 + q < k and j < COLS (the contract).
                    let bj = _mm512_set1_ps(unsafe { *bq.add(q * b_rs + j * b_cs) });
                    for g in 0..G {
                        acc[g][j] = _mm512_fmadd_ps(columns[g][q], bj, acc[g][j]);
                    }
                }
            };
            if width == W {
                for q in 0..W {
                    step(q);
                }
            } else {
                // The last steps of a block: a loop (a test per step would cost the full
                // steps their unrolling).
                for q in 0..width {
                    step(q);
                }
            }
        }
        // The epilogue: the first block scales C by beta, later ones add to it.
        let beta = if block == 0 { p.beta } else { 1.0 };
        for g in 0..G {
            if rows[g] == 0 {
                break;
            }
            // SAFETY: rows i0 + 16 g + r < m of columns first..first + COLS are writable
            // (readable when beta != 0: the first block with beta != 0, or C just written)
            // by the contract.
            unsafe {
                store_columns(
                    &acc[g],
                    c.wrapping_add((i0 + g * L) * c_rs),
                    c_rs,
                    rows[g],
                    alpha,
                    beta,
                )
            };
        }
    }
    G
}

/// The 16 x 4 block of `rows` rows (`a_rs` apart) and `width` k steps at `a`, transposed: vector
/// `q` holds k step `q` of the 16 rows (row `r` in lane `r`), zeros past `rows` and `width`. Rows
/// `g`, `g + 4`, `g + 8` and `g + 12` share vector `g` (one 16-byte row in each 128-bit lane),
/// then [`transpose_lanes4`]: 8 shuffles and 12 lane inserts per 64 values.
///
/// # Safety
/// AVX-512F is available; `rows <= 16`, `width <= 4`; for `r < rows`, the `width` values at
/// `a + r * a_rs` are readable.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn transpose16x4(a: *const f32, a_rs: usize, rows: usize, width: usize) -> [__m512; 4] {
    use std::arch::x86_64::{_mm_loadu_ps, _mm512_insertf32x4, _mm512_mask_loadu_ps};
    let mut z = [_mm512_setzero_ps(); 4];
    if width == 4 && rows == L {
        // Whole rows: plain 16-byte loads (masked ones issue at half the rate).
        for (g, x) in z.iter_mut().enumerate() {
            // SAFETY: rows g + 4 l < 16 = rows, 4 values each (the contract).
            unsafe {
                *x = _mm512_insertf32x4::<0>(*x, _mm_loadu_ps(a.add(g * a_rs)));
                *x = _mm512_insertf32x4::<1>(*x, _mm_loadu_ps(a.add((g + 4) * a_rs)));
                *x = _mm512_insertf32x4::<2>(*x, _mm_loadu_ps(a.add((g + 8) * a_rs)));
                *x = _mm512_insertf32x4::<3>(*x, _mm_loadu_ps(a.add((g + 12) * a_rs)));
            }
        }
    } else {
        for (g, x) in z.iter_mut().enumerate() {
            for l in 0..4 {
                // Rows past `rows` stay zeros, not loads under an empty mask: those addresses may
                // lie on pages that are not mapped, where a masked load costs a microcode assist.
                if g + 4 * l < rows {
                    // SAFETY: the mask enables only lanes 4 l..4 l + width, the width values of
                    // row g + 4 l < rows (the contract); the lanes before them are not accessed.
                    *x = unsafe {
                        _mm512_mask_loadu_ps(
                            *x,
                            lane_mask(width) << (4 * l),
                            a.wrapping_add((g + 4 * l) * a_rs).wrapping_sub(4 * l),
                        )
                    };
                }
            }
        }
    }
    transpose_lanes4(z)
}

/// The 16 x 8 block of `rows` rows (`a_rs` apart) and `width` k steps at `a`, transposed: vector
/// `q` holds k step `q` of the 16 rows (row `r` in lane `r`), zeros past `rows` and `width`.
/// Rows `r` and `r + 8` share a vector (two half-vector loads), then the 8 x 8 transposes of both
/// halves at once: 24 shuffles, where a 16 x 16 transpose takes 64 for twice the steps.
///
/// # Safety
/// AVX-512F is available; `rows <= 16`, `width <= 8`; for `r < rows`, the `width` values at
/// `a + r * a_rs` are readable.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn transpose16x8(a: *const f32, a_rs: usize, rows: usize, width: usize) -> [__m512; 8] {
    use std::arch::x86_64::{
        _mm256_castps_pd, _mm256_loadu_ps, _mm512_castpd_ps, _mm512_castpd256_pd512,
        _mm512_insertf64x4, _mm512_mask_loadu_ps, _mm512_permutex2var_ps, _mm512_setr_epi32,
    };
    let low = lane_mask(width);
    let high = low << 8;
    // z[i]: row i's steps in lanes 0..8, row i + 8's in lanes 8..16. Rows past `rows` are zeros,
    // not loads under an empty mask: those addresses may lie on pages that are not mapped, where
    // a masked load costs a microcode assist.
    let z: [__m512; 8] = std::array::from_fn(|i| {
        if width == 8 && i + 8 < rows {
            // Both rows whole: two plain 32-byte loads (masked ones issue at half the rate).
            // SAFETY: rows i and i + 8 < rows, 8 values each (the contract).
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(a.add(i * a_rs)),
                    _mm256_loadu_ps(a.add((i + 8) * a_rs)),
                )
            };
            return _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castpd256_pd512(_mm256_castps_pd(x)),
                _mm256_castps_pd(y),
            ));
        }
        let mut x = _mm512_setzero_ps();
        if i < rows {
            // SAFETY: the mask enables only the width values of row i < rows (the contract).
            x = unsafe { _mm512_maskz_loadu_ps(low, a.add(i * a_rs)) };
        }
        if i + 8 < rows {
            // SAFETY: the mask enables only lanes 8..8 + width, the width values of row
            // i + 8 < rows (the contract); the lanes before them are not accessed.
            x = unsafe {
                _mm512_mask_loadu_ps(x, high, a.wrapping_add((i + 8) * a_rs).wrapping_sub(8))
            };
        }
        x
    });
    // u[4 h + s]: per 128-bit lane, step s (then s + 4 in the odd lanes) of rows 4h..4h + 4.
    let u: [__m512; 8] = {
        let [z0, z1, z2, z3, z4, z5, z6, z7] = z;
        let ([u0, u1, u2, u3], [u4, u5, u6, u7]) = (
            transpose_lanes4([z0, z1, z2, z3]),
            transpose_lanes4([z4, z5, z6, z7]),
        );
        [u0, u1, u2, u3, u4, u5, u6, u7]
    };
    // Step q: rows 0..4 (u[q % 4], lane q / 4), rows 4..8 (u[4 + q % 4], same lane), then rows
    // 8..12 and 12..16 from the same vectors' lanes 2 + q / 4.
    let first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    let second = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    std::array::from_fn(|q| {
        let index = if q < 4 { first } else { second };
        _mm512_permutex2var_ps(u[q % 4], index, u[4 + q % 4])
    })
}

/// Packs rows `0..MR` (`MR <= 16`) of `kc` elements at `base + i * a_rs` into `panel`
/// transposed (element `(i, p)` at `p * ks + i`, `ks >= MR`: a row-major `op(A)` panel for the
/// tiles), 16 k steps at a time through [`transpose16`]: each row's cache line is read once, where
/// a scalar transpose reads all `MR` rows' lines at every k step (and rows a power of two apart,
/// such as a 1024-wide matrix's, share L1 sets and evict each other). With `ks == 16` each step
/// is one whole-vector store (the lanes past `MR` zero), else `MR` lanes under a mask. The last
/// `kc % 16` steps one by one.
///
/// # Safety
/// AVX-512F is available; rows `0..MR` of `kc` elements at `base + i * a_rs` are readable;
/// `panel` holds at least `kc * ks` elements and `ks >= MR`.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn pack_rows<const MR: usize>(
    panel: &mut [f32],
    base: *const f32,
    a_rs: usize,
    kc: usize,
    ks: usize,
) {
    debug_assert!(MR <= L && ks >= MR && panel.len() >= kc * ks);
    let mask = if ks == L { u16::MAX } else { lane_mask(MR) };
    let out = panel.as_mut_ptr();
    let full = kc / L;
    for block in 0..full {
        let p0 = block * L;
        let rows: [__m512; L] = std::array::from_fn(|i| {
            if i < MR {
                // SAFETY: row i < MR holds kc >= p0 + 16 readable elements (the contract).
                unsafe { _mm512_loadu_ps(base.add(i * a_rs + p0)) }
            } else {
                _mm512_setzero_ps()
            }
        });
        for (q, &column) in transpose16(rows).iter().enumerate() {
            // SAFETY: the mask writes MR elements (16 when ks == 16) at (p0 + q) * ks, inside
            // the kc * ks of `panel` since p0 + q < kc.
            unsafe { _mm512_mask_storeu_ps(out.add((p0 + q) * ks), mask, column) };
        }
    }
    for p in full * L..kc {
        for i in 0..MR {
            // SAFETY: p < kc and i < MR (the contract).
            panel[p * ks + i] = unsafe { *base.add(i * a_rs + p) };
        }
    }
}

/// Copies `W <= 16` elements at `src` into the 16 of `out` (the lanes past `W` zero) with one
/// load under a mask and one whole-vector store: a packed A panel's step 16 apart is one aligned
/// line, where a 14-element run 14 apart takes two overlapping 8-lane moves, stores that often
/// split across lines.
///
/// # Safety
/// AVX-512F is available; `W` elements at `src` are readable.
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) unsafe fn copy_run16<const W: usize>(out: &mut [f32], src: *const f32) {
    assert!(W <= L && out.len() >= L);
    // SAFETY: the mask reads the W readable elements at `src` (masked-off lanes are not
    // accessed); the store writes 16 elements of `out`, which holds at least 16 (asserted).
    unsafe {
        let run = _mm512_maskz_loadu_ps(lane_mask(W), src);
        _mm512_storeu_ps(out.as_mut_ptr(), run);
    }
}

/// The 16 x 16 transpose of `r` (one row per vector): vector `q` of the result holds element `q`
/// of every row, in row order. Four rounds of 16 shuffles.
#[target_feature(enable = "avx512f")]
#[inline]
fn transpose16(r: [__m512; L]) -> [__m512; L] {
    use std::arch::x86_64::_mm512_shuffle_f32x4;
    // Per group of four rows ([`transpose_lanes4`]): lane l of u[4g + c] is element 4l + c of
    // rows 4g..4g + 4.
    let mut u = [_mm512_setzero_ps(); L];
    for g in 0..4 {
        let x = transpose_lanes4([r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]]);
        u[4 * g..4 * g + 4].copy_from_slice(&x);
    }
    // Lanes of two groups of four rows: v[8h + j] holds elements j and j + 8 of rows
    // 8h..8h + 4, then the same of rows 8h + 4..8h + 8.
    let v: [__m512; L] = std::array::from_fn(|i| {
        let (h, j) = (i / 8, i % 8);
        let (a, b) = (u[8 * h + j % 4], u[8 * h + 4 + j % 4]);
        if j < 4 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xdd>(a, b)
        }
    });
    // The two groups of eight rows: element q of all sixteen.
    std::array::from_fn(|q| {
        let (a, b) = (v[q % 8], v[8 + q % 8]);
        if q < 8 {
            _mm512_shuffle_f32x4::<0x88>(a, b)
        } else {
            _mm512_shuffle_f32x4::<0xdd>(a, b)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The zero steps of panels of both layouts, the finite rows and the kept steps, against
    /// plain loops, for depths around the vector width and the largest block.
    #[test]
    fn zero_steps_finite_rows_and_kept_steps_are_found() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipping: no AVX-512F");
            return;
        }
        let bit = |w: &[u64; 4], q: usize| w[q / 64] >> (q % 64) & 1 == 1;
        for kc in [1, 15, 16, 17, 50, 196, 256] {
            for rows in [1, 4, 10, 14, 16] {
                // Row i, step p at a[i * kc + p] (unit k stride) and t[p * rows + i] (unit row stride).
                let a: Vec<f32> = (0..rows * kc)
                    .map(|x| {
                        let (i, p) = (x / kc, x % kc);
                        match (p * 7 + i * (p % 3)) % 5 {
                            0 => -0.0,
                            1 | 2 => 0.0,
                            _ => (p + 1) as f32 * if p % 2 == 0 { 1.0 } else { -1e-40 },
                        }
                    })
                    .collect();
                let t: Vec<f32> = (0..rows * kc)
                    .map(|x| a[(x % rows) * kc + x / rows])
                    .collect();
                let want: Vec<bool> = (0..kc)
                    .map(|p| (0..rows).all(|i| a[i * kc + p] == 0.0))
                    .collect();
                // SAFETY: AVX-512F is available; both layouts hold rows x kc values.
                let (by_rows, by_steps) = unsafe {
                    (
                        zero_steps(a.as_ptr(), kc, 1, rows, kc),
                        zero_steps(t.as_ptr(), 1, rows, rows, kc),
                    )
                };
                for (p, &want) in want.iter().enumerate() {
                    assert_eq!(
                        bit(&by_rows, p),
                        want,
                        "unit k stride, kc {kc} rows {rows} p {p}"
                    );
                    assert_eq!(
                        bit(&by_steps, p),
                        want,
                        "unit row stride, kc {kc} rows {rows} p {p}"
                    );
                }
                assert!(by_rows[kc.div_ceil(64)..].iter().all(|&w| w == 0));
                let mut kept = vec![7];
                // SAFETY: AVX-512F is available (checked above).
                unsafe { kept_steps(&by_rows, kc, &mut kept) };
                let want_kept: Vec<u32> = (0..kc as u32).filter(|&p| !want[p as usize]).collect();
                assert_eq!(kept[0], 7, "appended");
                assert_eq!(kept[1..], want_kept[..], "kc {kc} rows {rows}");
            }
            // Rows of 37 values (18 apart in the strided view), some with an infinity or a NaN.
            let n = 37;
            let mut b: Vec<f32> = (0..kc * n).map(|x| x as f32 - 100.0).collect();
            for q in (0..kc).filter(|q| q % 3 == 1) {
                b[q * n + (q * 5) % n] = if q % 2 == 0 {
                    f32::NAN
                } else {
                    f32::NEG_INFINITY
                };
            }
            let all = [u64::MAX; 4];
            let some = [0x5555_5555_5555_5555u64; 4];
            for (rows, cs, width) in [(&all, 1, n), (&some, 1, n), (&all, 2, n.div_ceil(2))] {
                let want = (0..kc)
                    .filter(|&q| bit(rows, q))
                    .all(|q| (0..width).all(|j| b[q * n + j * cs].is_finite()));
                // SAFETY: AVX-512F is available; the rows hold n values, `width` of them cs apart.
                let got = unsafe { rows_finite(b.as_ptr(), n, cs, width, rows, kc) };
                assert_eq!(got, want, "kc {kc} cs {cs}");
                // Only the finite rows marked.
                let finite: [u64; 4] = std::array::from_fn(|w| {
                    (0..64)
                        .filter(|&i| {
                            let q = 64 * w + i;
                            q < kc
                                && bit(rows, q)
                                && (0..width).all(|j| b[q * n + j * cs].is_finite())
                        })
                        .fold(0, |m, i| m | 1 << i)
                });
                // SAFETY: as above.
                assert!(unsafe { rows_finite(b.as_ptr(), n, cs, width, &finite, kc) });
            }
        }
    }

    #[test]
    fn transpose16_transposes() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipping: no AVX-512F");
            return;
        }
        let rows: Vec<[f32; L]> = (0..L)
            .map(|i| std::array::from_fn(|j| (100 * i + j) as f32))
            .collect();
        // SAFETY: AVX-512F is available (checked above); the loads read whole 16-float arrays
        // and the stores write them.
        let columns = unsafe { transposed(&rows) };
        for (q, column) in columns.iter().enumerate() {
            for (i, &x) in column.iter().enumerate() {
                assert_eq!(x, (100 * i + q) as f32, "element {i} of column {q}");
            }
        }
    }

    /// [`transpose16x8`] and [`transpose16x4`] of blocks of rows 10 floats apart, whole and cut
    /// to fewer rows and steps: column `q` holds step `q` of each row, zeros past the rows and the
    /// steps.
    #[test]
    fn transpose16x8_and_16x4_transpose() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("skipping: no AVX-512F");
            return;
        }
        let a_rs = 10;
        let a: Vec<f32> = (0..L * a_rs).map(|x| x as f32 + 1.0).collect();
        let cases = [(16, 8), (16, 5), (11, 8), (9, 3), (8, 8), (3, 1)]
            .map(|(rows, width)| (rows, width, 8))
            .into_iter()
            .chain(
                [(16, 4), (16, 3), (13, 4), (5, 2), (1, 4)].map(|(rows, width)| (rows, width, 4)),
            );
        for (rows, width, steps) in cases {
            // SAFETY: AVX-512F is available (checked above); rows < 16 of `width` <= `steps`
            // values each, 10 apart, lie inside `a`; the stores write 16-float arrays.
            let columns: Vec<[f32; L]> = unsafe {
                let t: Vec<__m512> = if steps == 8 {
                    transpose16x8(a.as_ptr(), a_rs, rows, width).to_vec()
                } else {
                    transpose16x4(a.as_ptr(), a_rs, rows, width).to_vec()
                };
                t.iter()
                    .map(|&v| {
                        let mut out = [0.0f32; L];
                        std::arch::x86_64::_mm512_storeu_ps(out.as_mut_ptr(), v);
                        out
                    })
                    .collect()
            };
            for (q, column) in columns.iter().enumerate() {
                for (i, &x) in column.iter().enumerate() {
                    let want = if i < rows && q < width {
                        a[i * a_rs + q]
                    } else {
                        0.0
                    };
                    assert_eq!(
                        x, want,
                        "{rows} x {width} of {steps}: row {i} of column {q}"
                    );
                }
            }
        }
    }

    /// [`transpose16`] of `rows` through memory.
    #[target_feature(enable = "avx512f")]
    unsafe fn transposed(rows: &[[f32; L]]) -> Vec<[f32; L]> {
        use std::arch::x86_64::_mm512_storeu_ps;
        // SAFETY: each row holds 16 floats.
        let r: [__m512; L] = std::array::from_fn(|i| unsafe { _mm512_loadu_ps(rows[i].as_ptr()) });
        transpose16(r)
            .iter()
            .map(|&v| {
                let mut out = [0.0f32; L];
                // SAFETY: `out` holds 16 floats.
                unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
                out
            })
            .collect()
    }
}
