//! Packing of `op(A)` row panels and `op(B)` column panels into contiguous, zero-padded buffers,
//! in the order the micro-kernels read them.

use super::Kernel;

/// Width of the B panel holding `valid` columns: the full `nr`, or `narrow` when the columns fit.
#[inline]
pub(crate) fn panel_width(valid: usize, nr: usize, narrow: usize) -> usize {
    if valid <= narrow { narrow } else { nr }
}

/// The vector extensions the packing routine was compiled with (and may use).
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
enum Simd {
    None,
    Avx2,
    Avx512,
}

/// `pack_a_impl` / `pack_b_impl` compiled for the kernel's instruction set, so the copies use
/// its widest moves (the generic build is limited to 16-byte SSE moves).
macro_rules! dispatch {
    ($name:ident, $imp:ident, ($($arg:ident: $ty:ty),*)) => {
        /// Runs the packing routine of the same name (see `*_impl`) compiled for `kernel`'s ISA.
        ///
        /// # Safety
        /// As the `*_impl` routine; `kernel` is supported by this CPU.
        #[allow(clippy::too_many_arguments)]
        pub(crate) unsafe fn $name(kernel: Kernel, $($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    // SAFETY: forwarded contract; AVX-512F is enabled here (and implies AVX2).
                    unsafe { $imp(Simd::Avx512, $($arg),*) }
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    // SAFETY: forwarded contract; AVX2 is enabled here.
                    unsafe { $imp(Simd::Avx2, $($arg),*) }
                }
                match kernel {
                    // SAFETY: forwarded contract; the caller checked the CPU supports the kernel.
                    Kernel::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    Kernel::Avx2Fma => return unsafe { avx2($($arg),*) },
                    _ => {}
                }
            }
            let _ = kernel;
            // SAFETY: forwarded contract; no vector extension is claimed.
            unsafe { $imp(Simd::None, $($arg),*) }
        }
    };
}

dispatch!(pack_a, pack_a_impl, (dst: &mut [f32], a: *const f32, a_rs: usize, a_cs: usize, rows: usize, kc: usize, mr: usize, a_ks: usize));
dispatch!(pack_b, pack_b_impl, (dst: &mut [f32], b: *const f32, b_rs: usize, b_cs: usize, kc: usize, cols: usize, nr: usize, narrow: usize));

/// Packs the `rows x kc` block of `op(A)` at `a` (element `(i, p)` at `a + i * a_rs + p * a_cs`)
/// into `dst` as `ceil(rows / mr)` panels of `kc` steps `a_ks >= mr` elements apart (panel `q` at
/// `q * a_ks * kc`, element `(i, p)` of the panel at `p * a_ks + i`), padding missing rows with
/// zeros; the `a_ks - mr` elements after each step's rows are left as they are or zeroed.
///
/// # Safety
/// Every element `(i, p)`, `i < rows`, `p < kc`, of the block is readable; `a_ks >= mr`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_a_impl(
    simd: Simd,
    dst: &mut [f32],
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    rows: usize,
    kc: usize,
    mr: usize,
    a_ks: usize,
) {
    debug_assert!(a_ks >= mr);
    // Column-major op(A) (a_rs == 1): copy the full panels row by row of the source, reading
    // each source row sequentially (far better for the hardware prefetcher than one panel at
    // a time, which strides down all kc rows per panel).
    let full = if a_rs == 1 { rows / mr } else { 0 };
    if full > 0 {
        // SAFETY: for p < kc, the full * mr elements at a + p * a_cs are rows 0..full * mr of
        // column p of the block, contiguous because a_rs == 1.
        unsafe {
            copy_runs_rowwise(
                simd,
                &mut dst[..full * a_ks * kc],
                a,
                a_cs,
                mr,
                a_ks,
                full,
                kc,
                PREFETCH_ROWS,
            )
        };
    }
    for (q, panel) in dst
        .chunks_exact_mut(a_ks * kc)
        .take(rows.div_ceil(mr))
        .enumerate()
        .skip(full)
    {
        let i0 = q * mr;
        let valid = mr.min(rows - i0);
        let base = a.wrapping_add(i0 * a_rs);
        if valid == mr && a_cs == 1 && a_rs != 1 {
            // Row-major op(A): a transpose (the NN products' A panels).
            // SAFETY: the mr rows of the panel hold kc elements each; with `Simd::Avx512` this
            // code was compiled for (and runs on) AVX-512F.
            unsafe { pack_rows(simd, panel, base, a_rs, kc, mr, a_ks) };
        } else if valid == mr && a_rs == 1 {
            // SAFETY: rows i0..i0 + mr of each column p < kc are inside the block (valid == mr),
            // and with a_rs == 1 they are contiguous.
            unsafe { copy_runs(panel, base, a_cs, mr, a_ks) };
        } else if a_cs == 1 {
            // A partial panel of row-major op(A): zeros, then the valid rows down the panel.
            panel.fill(0.0);
            for i in 0..valid {
                // SAFETY: row i0 + i < rows holds kc elements of the block, contiguous.
                let row = unsafe { std::slice::from_raw_parts(base.add(i * a_rs), kc) };
                for (x, &v) in panel[i..].iter_mut().step_by(a_ks).zip(row) {
                    *x = v;
                }
            }
        } else {
            for (p, out) in panel.chunks_exact_mut(a_ks).enumerate() {
                for (i, x) in out.iter_mut().enumerate() {
                    *x = if i < valid {
                        // SAFETY: i0 + i < rows and p < kc: inside the block.
                        unsafe { *base.add(i * a_rs + p * a_cs) }
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// Fills `panel` with runs of `w` contiguous elements `ks >= w` apart, run `p` read at
/// `src + p * stride`; the run length is fixed at compile time for the tile sizes, so each run is
/// a few vector moves rather than a `memcpy` call.
///
/// # Safety
/// For every run `p < panel.len() / ks`, `w` elements at `src + p * stride` are readable.
#[inline(always)]
unsafe fn copy_runs(panel: &mut [f32], src: *const f32, stride: usize, w: usize, ks: usize) {
    /// # Safety
    /// As `copy_runs`, with `W == w`.
    #[inline(always)]
    unsafe fn go<const W: usize>(panel: &mut [f32], src: *const f32, stride: usize, ks: usize) {
        for (p, out) in panel.chunks_exact_mut(ks).enumerate() {
            // SAFETY: the run p holds W readable elements; [f32; W] has f32's alignment.
            let run = unsafe { src.add(p * stride).cast::<[f32; W]>().read() };
            out[..W].copy_from_slice(&run);
        }
    }
    // SAFETY: forwarded contract, W == w in each arm.
    unsafe {
        match w {
            4 => go::<4>(panel, src, stride, ks),
            6 => go::<6>(panel, src, stride, ks),
            8 => go::<8>(panel, src, stride, ks),
            12 => go::<12>(panel, src, stride, ks),
            14 => go::<14>(panel, src, stride, ks),
            16 => go::<16>(panel, src, stride, ks),
            32 => go::<32>(panel, src, stride, ks),
            _ => {
                for (p, out) in panel.chunks_exact_mut(ks).enumerate() {
                    out[..w].copy_from_slice(std::slice::from_raw_parts(src.add(p * stride), w));
                }
            }
        }
    }
}

/// How many source rows ahead the packing of column-major `op(A)` prefetches: its `mc`-row
/// blocks read only a part of each source row (196 of the 784 floats of a row of `X` in the
/// covariance), a strided pattern the hardware prefetchers follow late. Only rows inside the
/// block are prefetched. (Row-major `op(B)` blocks read whole rows, which the hardware follows
/// well: the same prefetch there made AVX2 1024^3 2 to 7% slower.)
const PREFETCH_ROWS: usize = 8;

/// Asks for the cache line holding `p` (a hint: never faults, whatever the address).
#[inline(always)]
fn prefetch(p: *const f32) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` only hints the cache; it reads nothing architecturally and never
    // faults, so any address is allowed; SSE is part of x86-64.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Fills `panels` consecutive panels of `kc` runs of `w` elements, `ks >= w` apart, in `dst` from
/// the rows of a source whose row `p` (at `src + p * stride`) holds the panels' row `p` side by
/// side: `panels * w` elements. With `ahead > 0`, the row `ahead` rows further down is prefetched
/// while row `p` is copied. The AVX-512 build writes runs 16 apart as whole aligned lines
/// ([`super::avx512::copy_run16`]).
///
/// # Safety
/// For `p < kc`, `panels * w` elements at `src + p * stride` are readable; `dst` holds
/// `panels * kc * ks` elements; `simd` is the build's.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn copy_runs_rowwise(
    simd: Simd,
    dst: &mut [f32],
    src: *const f32,
    stride: usize,
    w: usize,
    ks: usize,
    panels: usize,
    kc: usize,
    ahead: usize,
) {
    /// # Safety
    /// As `copy_runs_rowwise`, with `W == w`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    unsafe fn go<const W: usize>(
        simd: Simd,
        dst: &mut [f32],
        src: *const f32,
        stride: usize,
        ks: usize,
        panels: usize,
        kc: usize,
        ahead: usize,
    ) {
        // Runs 16 apart with AVX-512: each one whole aligned line.
        #[cfg(target_arch = "x86_64")]
        let whole_lines = simd == Simd::Avx512 && ks == 16 && W <= 16;
        #[cfg(not(target_arch = "x86_64"))]
        let _ = simd;
        for p in 0..kc {
            let row = src.wrapping_add(p * stride);
            if ahead > 0 && p + ahead < kc {
                let next = row.wrapping_add(ahead * stride);
                for off in (0..panels * W).step_by(16) {
                    prefetch(next.wrapping_add(off));
                }
            }
            for q in 0..panels {
                let out = &mut dst[(q * kc + p) * ks..][..ks];
                #[cfg(target_arch = "x86_64")]
                if whole_lines {
                    // SAFETY: q * W + W <= panels * w elements of row p are readable, `out`
                    // holds ks == 16 elements; `Simd::Avx512` means this code was compiled for
                    // (and runs on) AVX-512F.
                    unsafe { super::avx512::copy_run16::<W>(out, row.add(q * W)) };
                    continue;
                }
                // SAFETY: q * W + W <= panels * w elements of row p are readable.
                let run = unsafe { row.add(q * W).cast::<[f32; W]>().read() };
                out[..W].copy_from_slice(&run);
            }
        }
    }
    // SAFETY: forwarded contract, W == w in each arm.
    unsafe {
        match w {
            4 => go::<4>(simd, dst, src, stride, ks, panels, kc, ahead),
            6 => go::<6>(simd, dst, src, stride, ks, panels, kc, ahead),
            8 => go::<8>(simd, dst, src, stride, ks, panels, kc, ahead),
            10 => go::<10>(simd, dst, src, stride, ks, panels, kc, ahead),
            12 => go::<12>(simd, dst, src, stride, ks, panels, kc, ahead),
            14 => go::<14>(simd, dst, src, stride, ks, panels, kc, ahead),
            16 => go::<16>(simd, dst, src, stride, ks, panels, kc, ahead),
            32 => go::<32>(simd, dst, src, stride, ks, panels, kc, ahead),
            _ => {
                for p in 0..kc {
                    for q in 0..panels {
                        let run = std::slice::from_raw_parts(src.add(p * stride + q * w), w);
                        dst[(q * kc + p) * ks..][..w].copy_from_slice(run);
                    }
                }
            }
        }
    }
}

/// Transposes `w` rows (a multiple of 8) of `kc` elements, row `j` at `base + j * stride`, into
/// `panel` (`panel[p * w + j]`) with 8 x 8 AVX transposes: the B^T pack of `dH W^T`.
///
/// # Safety
/// Rows `0..w` of `kc` elements at `base + j * stride` are readable; `panel` holds `kc * w`
/// elements; the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn transpose_rows_avx2(
    panel: &mut [f32],
    base: *const f32,
    stride: usize,
    kc: usize,
    w: usize,
) {
    use std::arch::x86_64::{
        __m256, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
        _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };
    let kc8 = kc / 8 * 8;
    let panel = &mut panel[..kc * w];
    for jb in (0..w).step_by(8) {
        let rows: [*const f32; 8] = std::array::from_fn(|j| base.wrapping_add((jb + j) * stride));
        for pb in (0..kc8).step_by(8) {
            // SAFETY: pb + 8 <= kc elements of each of the 8 rows are readable.
            let r: [__m256; 8] =
                std::array::from_fn(|j| unsafe { _mm256_loadu_ps(rows[j].add(pb)) });
            let (t0, t1) = (
                _mm256_unpacklo_ps(r[0], r[1]),
                _mm256_unpackhi_ps(r[0], r[1]),
            );
            let (t2, t3) = (
                _mm256_unpacklo_ps(r[2], r[3]),
                _mm256_unpackhi_ps(r[2], r[3]),
            );
            let (t4, t5) = (
                _mm256_unpacklo_ps(r[4], r[5]),
                _mm256_unpackhi_ps(r[4], r[5]),
            );
            let (t6, t7) = (
                _mm256_unpacklo_ps(r[6], r[7]),
                _mm256_unpackhi_ps(r[6], r[7]),
            );
            let (s0, s1) = (
                _mm256_shuffle_ps::<0x44>(t0, t2),
                _mm256_shuffle_ps::<0xEE>(t0, t2),
            );
            let (s2, s3) = (
                _mm256_shuffle_ps::<0x44>(t1, t3),
                _mm256_shuffle_ps::<0xEE>(t1, t3),
            );
            let (s4, s5) = (
                _mm256_shuffle_ps::<0x44>(t4, t6),
                _mm256_shuffle_ps::<0xEE>(t4, t6),
            );
            let (s6, s7) = (
                _mm256_shuffle_ps::<0x44>(t5, t7),
                _mm256_shuffle_ps::<0xEE>(t5, t7),
            );
            // Column p of the 8 x 8 block, for p = 0..8.
            let cols = [
                _mm256_permute2f128_ps::<0x20>(s0, s4),
                _mm256_permute2f128_ps::<0x20>(s1, s5),
                _mm256_permute2f128_ps::<0x20>(s2, s6),
                _mm256_permute2f128_ps::<0x20>(s3, s7),
                _mm256_permute2f128_ps::<0x31>(s0, s4),
                _mm256_permute2f128_ps::<0x31>(s1, s5),
                _mm256_permute2f128_ps::<0x31>(s2, s6),
                _mm256_permute2f128_ps::<0x31>(s3, s7),
            ];
            for (p, &v) in cols.iter().enumerate() {
                let out = &mut panel[(pb + p) * w + jb..][..8];
                // SAFETY: `out` holds exactly 8 floats.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), v) };
            }
        }
        for p in kc8..kc {
            for (j, row) in rows.iter().enumerate() {
                // SAFETY: p < kc elements of each row are readable.
                panel[p * w + jb + j] = unsafe { *row.add(p) };
            }
        }
    }
}

/// Packs `mr` full rows of a row-major block (row `i` at `base + i * a_rs`, `kc` elements each)
/// into `panel` transposed (element `(i, p)` at `p * ks + i`, `ks >= mr`), with the row count
/// fixed at compile time so the loop unrolls; up to 16 rows 16 k steps at a time in registers in
/// the AVX-512 build ([`super::avx512::pack_rows`]).
///
/// # Safety
/// Rows `0..mr` of `kc` elements at `base + i * a_rs` are readable; `panel` holds `kc * ks`
/// elements; `simd` is the build's.
#[inline(always)]
unsafe fn pack_rows(
    simd: Simd,
    panel: &mut [f32],
    base: *const f32,
    a_rs: usize,
    kc: usize,
    mr: usize,
    ks: usize,
) {
    /// # Safety
    /// As `pack_rows`, with `MR == mr`.
    #[inline(always)]
    unsafe fn go<const MR: usize>(
        simd: Simd,
        panel: &mut [f32],
        base: *const f32,
        a_rs: usize,
        kc: usize,
        ks: usize,
    ) {
        #[cfg(target_arch = "x86_64")]
        if simd == Simd::Avx512 && MR <= 16 {
            // SAFETY: forwarded contract; `Simd::Avx512` means this code was compiled for (and
            // runs on) AVX-512F.
            return unsafe { super::avx512::pack_rows::<MR>(panel, base, a_rs, kc, ks) };
        }
        let _ = simd;
        let rows: [*const f32; MR] = std::array::from_fn(|i| base.wrapping_add(i * a_rs));
        for (p, out) in panel.chunks_exact_mut(ks).take(kc).enumerate() {
            for (x, row) in out.iter_mut().zip(rows.iter()) {
                // SAFETY: p < kc, and each row holds kc readable elements.
                *x = unsafe { *row.add(p) };
            }
        }
    }
    // SAFETY: forwarded contract, MR == mr in each arm.
    unsafe {
        match mr {
            4 => go::<4>(simd, panel, base, a_rs, kc, ks),
            6 => go::<6>(simd, panel, base, a_rs, kc, ks),
            8 => go::<8>(simd, panel, base, a_rs, kc, ks),
            10 => go::<10>(simd, panel, base, a_rs, kc, ks),
            12 => go::<12>(simd, panel, base, a_rs, kc, ks),
            14 => go::<14>(simd, panel, base, a_rs, kc, ks),
            16 => go::<16>(simd, panel, base, a_rs, kc, ks),
            32 => go::<32>(simd, panel, base, a_rs, kc, ks),
            _ => {
                for (p, out) in panel.chunks_exact_mut(ks).take(kc).enumerate() {
                    for (i, x) in out[..mr].iter_mut().enumerate() {
                        *x = *base.add(i * a_rs + p);
                    }
                }
            }
        }
    }
}

/// Packs the `kc x cols` block of `op(B)` at `b` (element `(p, j)` at `b + p * b_rs + j * b_cs`)
/// into `dst` as panels of `nr` columns (panel `q` at `q * nr * kc`, element `(p, j)` at
/// `p * width + j`), the last one `panel_width` wide, padding missing columns with zeros.
///
/// # Safety
/// Every element `(p, j)`, `p < kc`, `j < cols`, of the block is readable.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn pack_b_impl(
    simd: Simd,
    dst: &mut [f32],
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
    kc: usize,
    cols: usize,
    nr: usize,
    narrow: usize,
) {
    // Row-major op(B): copy the full panels row by row of the source (see `pack_a`).
    let full = if b_cs == 1 && cols / nr > 0 && nr > narrow {
        cols / nr
    } else {
        0
    };
    if full > 0 {
        // SAFETY: for p < kc, the full * nr elements at b + p * b_rs are columns 0..full * nr
        // of row p of the block, contiguous because b_cs == 1.
        unsafe {
            copy_runs_rowwise(
                simd,
                &mut dst[..full * nr * kc],
                b,
                b_rs,
                nr,
                nr,
                full,
                kc,
                0,
            )
        };
    }
    let mut j0 = full * nr;
    while j0 < cols {
        let valid = nr.min(cols - j0);
        let width = panel_width(valid, nr, narrow);
        let panel = &mut dst[(j0 / nr) * nr * kc..][..width * kc];
        let base = b.wrapping_add(j0 * b_cs);
        if valid == width && b_cs == 1 {
            // SAFETY: columns j0..j0 + width of each row p < kc are inside the block and contiguous.
            unsafe { copy_runs(panel, base, b_rs, width, width) };
        } else if b_cs == 1 {
            // A partial last panel of row-major op(B): copy the valid columns, zero the rest.
            for (p, out) in panel.chunks_exact_mut(width).enumerate() {
                // SAFETY: columns j0..j0 + valid of row p are inside the block and contiguous.
                let src = unsafe { std::slice::from_raw_parts(base.add(p * b_rs), valid) };
                out[..valid].copy_from_slice(src);
                out[valid..].fill(0.0);
            }
        } else if b_rs == 1 && valid == width {
            // op(B) = B^T: full columns of op(B) are contiguous rows of B; transpose them.
            #[cfg(target_arch = "x86_64")]
            if simd != Simd::None && width.is_multiple_of(8) {
                // SAFETY: the width columns of the panel hold kc elements each; `simd` is set
                // only by the AVX2 / AVX-512 builds, so the CPU has AVX2.
                unsafe { transpose_rows_avx2(panel, base, b_cs, kc, width) };
                j0 += nr;
                continue;
            }
            // SAFETY: the width columns of the panel hold kc elements each.
            unsafe { pack_rows(simd, panel, base, b_cs, kc, width, width) };
        } else if b_rs == 1 {
            // op(B) = B^T: column j of op(B) is contiguous in p; write it down the panel.
            for j in 0..width {
                if j < valid {
                    for p in 0..kc {
                        // SAFETY: p < kc and j0 + j < cols: inside the block.
                        panel[p * width + j] = unsafe { *base.add(p + j * b_cs) };
                    }
                } else {
                    for p in 0..kc {
                        panel[p * width + j] = 0.0;
                    }
                }
            }
        } else {
            for (p, out) in panel.chunks_exact_mut(width).enumerate() {
                for (j, x) in out.iter_mut().enumerate() {
                    *x = if j < valid {
                        // SAFETY: p < kc and j0 + j < cols: inside the block.
                        unsafe { *base.add(p * b_rs + j * b_cs) }
                    } else {
                        0.0
                    };
                }
            }
        }
        j0 += nr;
    }
}
