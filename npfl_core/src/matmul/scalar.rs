//! The portable micro-kernel: plain Rust on a 4 x 8 tile, the reference the SIMD kernels are
//! tested against, bit for bit. It performs exactly their sequence of roundings: each element is
//! one accumulator, starting at zero, updated by a fused multiply-add (`f32::mul_add`, one
//! rounding) for `p = 0, 1, ..., kc - 1` in order; then `alpha * acc` when `beta == 0`, else
//! `fma(acc, alpha, beta * C)`.
//!
//! The fused multiply-add is `f32::mul_add` where there is an FMA unit: always on aarch64, and on
//! x86-64 CPUs with FMA through [`tile_fma`], this same code compiled for it (the driver picks it
//! at run time). Elsewhere it is [`fma_emulated`], exact in `f64` arithmetic: `mul_add` would be a
//! call of the C library's `fmaf` per element (measured 35 times slower than a separate multiply
//! and add here; the emulation about 20 times).

use super::kernel::Tile;

/// Rows of the scalar tile.
pub(crate) const MR: usize = 4;
/// Columns of the scalar tile.
pub(crate) const NR: usize = 8;

/// The scalar micro-kernel; without an FMA unit at compile time, its multiply-adds are emulated.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with `MR = 4` and `width = 8`.
pub(crate) unsafe fn tile(t: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { tile_with::<false>(t) }
}

/// The scalar micro-kernel compiled for an FMA unit: `mul_add` is one instruction. The same
/// results as [`tile`].
///
/// # Safety
/// As [`tile`]; the CPU supports FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
pub(crate) unsafe fn tile_fma(t: &Tile) {
    // SAFETY: forwarded contract.
    unsafe { tile_with::<true>(t) }
}

/// The kernel's code; `HW`: the caller is compiled for an FMA unit.
///
/// # Safety
/// As [`tile`].
#[inline(always)]
unsafe fn tile_with<const HW: bool>(t: &Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        // SAFETY: the contract makes A(i, p), i < MR, and b[0..NR] readable at each of the kc steps.
        let (av, bv): ([f32; MR], [f32; NR]) = unsafe {
            (
                std::array::from_fn(|i| *a.add(i * t.a_rs)),
                *b.cast::<[f32; NR]>(),
            )
        };
        for (row, &ai) in acc.iter_mut().zip(av.iter()) {
            for (x, &bj) in row.iter_mut().zip(bv.iter()) {
                *x = fma::<HW>(ai, bj, *x);
            }
        }
        // wrapping_add: after the last step the pointers may point past the panel; never read.
        a = a.wrapping_add(t.a_ks);
        b = b.wrapping_add(t.b_ks);
    }
    for (i, row) in acc.iter().enumerate().take(t.mr).skip(t.skip) {
        for (j, &x) in row.iter().enumerate().take(t.nr) {
            // SAFETY: i < mr and j < nr, so the contract makes this element writable (and
            // readable when beta != 0).
            unsafe {
                let c = t.c.add(i * t.c_rs + j);
                *c = if t.beta == 0.0 {
                    t.alpha * x
                } else {
                    fma::<HW>(x, t.alpha, t.beta * *c)
                };
            }
        }
    }
}

/// `a * b + c` with a single rounding: `mul_add`, one instruction with `HW` (the caller is
/// compiled for an FMA unit) or a build for one; else [`fma_emulated`].
#[inline(always)]
fn fma<const HW: bool>(a: f32, b: f32, c: f32) -> f32 {
    if HW || cfg!(any(target_arch = "aarch64", target_feature = "fma")) {
        a.mul_add(b, c)
    } else {
        fma_emulated(a, b, c)
    }
}

/// `a * b + c` with a single rounding, bitwise `a.mul_add(b, c)` (what a hardware FMA computes;
/// NaN payloads aside), in `f64` arithmetic that vectorises.
///
/// The product of two `f32` is exact in `f64` (24 + 24 significant bits, exponents in range). The
/// sum is rounded once to `f64`, and its exact error is recovered by Knuth's TwoSum. Rounding the
/// sum to *odd* (when inexact, the neighbour with an odd last bit) and then to `f32` rounds
/// correctly, since `f64` carries more than two extra bits at every `f32` exponent, subnormals
/// included (Boldo and Melquiond, "Emulation of FMA and correctly rounded sums", 2008). Plain
/// round-to-nearest twice would round a sum just off an `f32` midpoint onto it, then wrongly to
/// even.
#[inline(always)]
fn fma_emulated(a: f32, b: f32, c: f32) -> f32 {
    let p = f64::from(a) * f64::from(b);
    let c = f64::from(c);
    let s = p + c;
    // TwoSum: err = (p + c) - s exactly (no overflow: |p| < 2^257, |c| < 2^129).
    let cv = s - p;
    let err = (p - (s - cv)) + (c - cv);
    // Round to odd: an inexact sum keeps its odd neighbour. Truncate toward zero first (one step
    // down in magnitude when the exact value lies below |s|), then set the last bit. err is NaN
    // (so inexact and down are false) exactly when s is infinite or NaN, which then stays; s == 0
    // only when the sum is exact.
    let inexact = err.abs() > 0.0; // false for NaN, unlike `err != 0.0`
    let down = (err < 0.0 && s > 0.0) || (err > 0.0 && s < 0.0);
    let odd = (s.to_bits() - u64::from(down)) | u64::from(inexact);
    f64::from_bits(odd) as f32
}

#[cfg(test)]
mod tests {
    use super::fma_emulated as fma;

    /// A small xorshift generator: the test needs many bit patterns, not a good distribution.
    fn next(state: &mut u64) -> u32 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 32) as u32
    }

    fn check(a: f32, b: f32, c: f32) {
        let want = a.mul_add(b, c);
        let got = fma(a, b, c);
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "fma({a:e}, {b:e}, {c:e}) = {got:e} ({:#x}), mul_add gives {want:e} ({:#x})",
            got.to_bits(),
            want.to_bits()
        );
    }

    #[test]
    fn fma_is_mul_add_bit_for_bit() {
        let special = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::from_bits(1),
            f32::from_bits(0x8000_0001),
            f32::from_bits(0x007f_ffff),
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::EPSILON,
            1.0 + f32::EPSILON,
            1.0 - f32::EPSILON,
            3.0e-20,
            -7.5e19,
        ];
        for &a in &special {
            for &b in &special {
                for &c in &special {
                    check(a, b, c);
                }
            }
        }
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            // Any bit patterns; then values of similar magnitude, where cancellation happens.
            let (a, b, c) = (next(&mut state), next(&mut state), next(&mut state));
            check(f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
            let near = |x: u32| f32::from_bits((x & 0x807f_ffff) | 0x3f00_0000);
            check(near(a), near(b), near(c));
            check(near(a), near(b), -near(c));
        }
    }

    /// Sums just below or above an `f32` midpoint by less than `f64` resolves: where rounding to
    /// `f64` and then to `f32` goes wrong, and rounding to odd must not.
    #[test]
    fn fma_rounds_near_midpoints_correctly() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        // (1 + 2^-23)(1 - 2^-23) = 1 - 2^-46 and (1 + 2^-23)^2 = 1 + 2^-22 + 2^-46: half an ulp
        // of c, off by a little.
        let below = (1.0 + f32::EPSILON, 1.0 - f32::EPSILON);
        let above = (1.0 + f32::EPSILON, 1.0 + f32::EPSILON);
        for _ in 0..20_000 {
            let bits = next(&mut state);
            // Normal c of either sign, odd or even last bit, exponents -100..100.
            let exp = 27 + next(&mut state) % 200;
            let c = f32::from_bits((bits & 0x807f_ffff) | (exp << 23));
            let half_ulp = f32::from_bits((exp - 24) << 23);
            for (x, y) in [below, above] {
                for sign in [1.0f32, -1.0] {
                    check(x * half_ulp * sign, y, c);
                    check(y, x * half_ulp * sign, c);
                }
            }
        }
        // Subnormal results: c subnormal or zero, the product near half of the smallest
        // subnormal (2^-150) from both factors 2^-75 times the pairs above.
        let s75 = f32::from_bits((127 - 75) << 23);
        for bits in 0..2000u32 {
            let c = f32::from_bits(bits * 4099 % 0x0080_0000);
            for (x, y) in [below, above] {
                for sign in [1.0f32, -1.0] {
                    check(x * s75, y * s75 * sign, c);
                    check(x * s75, y * s75 * sign, -c);
                }
            }
        }
    }

    /// The kernel compiled for an FMA unit and the emulating one write the same bits.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn both_builds_of_the_kernel_agree() {
        use super::super::kernel::Tile;
        use super::{MR, NR, tile, tile_fma};
        if !std::arch::is_x86_feature_detected!("fma") {
            return;
        }
        let mut state = 0x1234_5678_9abc_def1u64;
        let value = |state: &mut u64| (next(state) >> 8) as f32 / 8_388_608.0 - 1.0;
        for kc in [1, 2, 7, 64, 255, 256] {
            for (alpha, beta) in [(1.0, 0.0), (1.0, 1.0), (0.7, -1.3), (-2.0, 0.5)] {
                let a: Vec<f32> = (0..MR * kc).map(|_| value(&mut state)).collect();
                let b: Vec<f32> = (0..NR * kc).map(|_| value(&mut state)).collect();
                let c0: Vec<f32> = (0..MR * NR).map(|_| value(&mut state)).collect();
                let run = |fma_unit: bool| {
                    let mut c = c0.clone();
                    let t = Tile {
                        kc,
                        a: a.as_ptr(),
                        a_rs: kc,
                        a_ks: 1,
                        b: b.as_ptr(),
                        b_ks: NR,
                        b_cols: NR,
                        c: c.as_mut_ptr(),
                        c_rs: NR,
                        skip: 1,
                        mr: MR,
                        nr: NR - 1,
                        alpha,
                        beta,
                        pf: std::ptr::null(),
                        pf_lines: 0,
                        list: std::ptr::null(),
                        list_len: 0,
                    };
                    // SAFETY: A is MR x kc (row stride kc), B is kc x NR, C is MR x NR, all
                    // alive and C exclusively borrowed for the call; FMA was checked above.
                    unsafe { if fma_unit { tile_fma(&t) } else { tile(&t) } };
                    c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                };
                assert_eq!(run(true), run(false), "kc={kc} alpha={alpha} beta={beta}");
            }
        }
    }
}
