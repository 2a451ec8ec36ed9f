//! Eight float32 dot products at a time, in sixteen partial sums each: the inner loop of
//! [`crate::pca::matvec`], here because its AVX-512 form uses intrinsics (`unsafe`).
//!
//! Each partial sum `l` of row `r` is `sum over j of x_r[16 j + l] * y[16 j + l]`, every product
//! rounded to `f32` and then added (a multiplication and an addition, not a fused multiply-add),
//! in increasing `j`. The intrinsics and the portable loop do exactly these operations, so they
//! give the same bits.

use super::isa::{Isa, vectorized};

/// Rows computed together.
pub const ROWS: usize = 8;
/// Partial sums per row.
pub const LANES: usize = 16;

/// The partial sums of `rows[r] . y` over the first `y.len() / 16 * 16` values (the tails are
/// the caller's).
///
/// # Panics
/// If a row is shorter than `y`.
pub fn partial_dots(isa: Isa, rows: [&[f32]; ROWS], y: &[f32]) -> [[f32; LANES]; ROWS] {
    let full = y.len() / LANES * LANES;
    assert!(rows.iter().all(|r| r.len() >= full), "rows shorter than y");
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked on the line above); every row and `y` hold at
        // least `full` values (asserted above).
        return unsafe { partial_dots_avx512(rows, &y[..full]) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2Fma && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked on the line above); the lengths as above.
        return unsafe { partial_dots_avx2(rows, &y[..full]) };
    }
    vectorized(
        isa,
        #[inline(always)]
        || portable(rows, &y[..full]),
    )
}

/// The portable form: the same operations, auto-vectorised for `isa` by [`vectorized`].
#[inline(always)]
fn portable(rows: [&[f32]; ROWS], y: &[f32]) -> [[f32; LANES]; ROWS] {
    let mut acc = [[0.0f32; LANES]; ROWS];
    for (j, y) in y.chunks_exact(LANES).enumerate() {
        for (acc, row) in acc.iter_mut().zip(&rows) {
            let x = &row[j * LANES..(j + 1) * LANES];
            for l in 0..LANES {
                acc[l] += x[l] * y[l];
            }
        }
    }
    acc
}

/// [`portable`] with AVX-512 intrinsics: eight accumulators in registers, one load of `y` and
/// eight row loads per step.
///
/// # Safety
/// AVX-512F is available; every row holds at least `y.len()` values, a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn partial_dots_avx512(rows: [&[f32]; ROWS], y: &[f32]) -> [[f32; LANES]; ROWS] {
    use std::arch::x86_64::{
        _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };
    let mut acc = [_mm512_setzero_ps(); ROWS];
    let ptrs = rows.map(<[f32]>::as_ptr);
    for j in (0..y.len()).step_by(LANES) {
        // SAFETY: j + 16 <= y.len() <= every row's length (the contract).
        unsafe {
            let yv = _mm512_loadu_ps(y.as_ptr().add(j));
            for (a, p) in acc.iter_mut().zip(&ptrs) {
                *a = _mm512_add_ps(*a, _mm512_mul_ps(_mm512_loadu_ps(p.add(j)), yv));
            }
        }
    }
    let mut out = [[0.0f32; LANES]; ROWS];
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds 16 values.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), a) };
    }
    out
}

/// [`portable`] with AVX2 intrinsics: each row's 16 partial sums in two 8-lane vectors.
///
/// # Safety
/// AVX2 is available; every row holds at least `y.len()` values, a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn partial_dots_avx2(rows: [&[f32]; ROWS], y: &[f32]) -> [[f32; LANES]; ROWS] {
    use std::arch::x86_64::{
        _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
    let ptrs = rows.map(<[f32]>::as_ptr);
    for j in (0..y.len()).step_by(LANES) {
        // SAFETY: j + 16 <= y.len() <= every row's length (the contract).
        unsafe {
            let yv = [
                _mm256_loadu_ps(y.as_ptr().add(j)),
                _mm256_loadu_ps(y.as_ptr().add(j + 8)),
            ];
            for (a, p) in acc.iter_mut().zip(&ptrs) {
                for h in 0..2 {
                    let x = _mm256_loadu_ps(p.add(j + 8 * h));
                    a[h] = _mm256_add_ps(a[h], _mm256_mul_ps(x, yv[h]));
                }
            }
        }
    }
    let mut out = [[0.0f32; LANES]; ROWS];
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds 16 values: two halves of 8.
        unsafe {
            _mm256_storeu_ps(o.as_mut_ptr(), a[0]);
            _mm256_storeu_ps(o.as_mut_ptr().add(8), a[1]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_isa_gives_the_same_bits() {
        for n in [0, 5, 16, 40, 784] {
            let data: Vec<f32> = (0..ROWS * n + n)
                .map(|i| ((i * 7919 % 2003) as f32 - 1001.0) * 1.37e-3)
                .collect();
            let (m, y) = data.split_at(ROWS * n);
            let rows: [&[f32]; ROWS] = std::array::from_fn(|r| &m[r * n..(r + 1) * n]);
            let expected = portable(rows, &y[..n / LANES * LANES]);
            for isa in Isa::available() {
                let got = partial_dots(isa, rows, y);
                assert_eq!(
                    got.map(|a| a.map(f32::to_bits)),
                    expected.map(|a| a.map(f32::to_bits)),
                    "{isa} n={n}"
                );
            }
        }
    }
}
