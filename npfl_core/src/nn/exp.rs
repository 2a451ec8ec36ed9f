//! The loss's exponential: glibc's `expf` as its x86-64 FMA build computes it, in Rust, so the
//! gradient's bits do not depend on the CPU or the C library.
//!
//! `f32::exp` calls the C library's `expf`. glibc picks one of two builds of it at load time: with FMA
//! (every CPU this crate tunes for) or SSE2 (a CPU without FMA, or `GLIBC_TUNABLES=glibc.cpu.hwcaps=-FMA`).
//! Over all 2^32 inputs they differ at two: `expf(-63.09937)` (bits `0xc27c65d9`) and
//! `expf(32.59442)` (`0x4202422f`), each one unit in the last place apart, and the first one is an
//! argument the softmax can meet (`z - max` of a row). Other C libraries (musl, macOS) use other
//! polynomials. This is the same algorithm (Szabolcs Nagy's, from Arm's optimized-routines, which
//! glibc and musl ship): `exp(x) = 2^(k/32) * 2^(r/32)` with `k` an integer, `2^(k/32)` from a table of
//! 32 float64 values and `2^(r/32)` a cubic, all in float64 and rounded once to float32 at the end,
//! with a fused multiply-add exactly where glibc's FMA build has one (its disassembly:
//! `vfmadd`/`vfmsub` for `k`, `r` and three of the polynomial's steps). `f64::mul_add` rounds once on
//! every CPU (an instruction under [`crate::isa::vectorized`] where the CPU has FMA, a correctly
//! rounded library call elsewhere), so these bits are glibc-with-FMA's everywhere.
//!
//! Tested: equal to the C library's `expf` on a sample of inputs and the edge cases here, and on
//! every one of the 2^32 inputs but the two above by `expf_matches_glibc_on_every_input` (ignored by
//! default, about a minute in release; `.ci/run` runs it).

/// The bits of `2^(i/32)` in float64 minus `i << 47`, so that adding `k << 47` for any `k` with
/// `k mod 32 = i` gives `2^(k/32)` (glibc's `__exp2f_data.tab`, read from its `libm.so.6`; each is
/// the float64 nearest to `2^(i/32)`, tested).
const TABLE: [u64; 32] = [
    0x3ff0_0000_0000_0000,
    0x3fef_d9b0_d315_8574,
    0x3fef_b558_6cf9_890f,
    0x3fef_9301_d012_5b51,
    0x3fef_72b8_3c7d_517b,
    0x3fef_5487_3168_b9aa,
    0x3fef_387a_6e75_6238,
    0x3fef_1e9d_f51f_dee1,
    0x3fef_06fe_0a31_b715,
    0x3fee_f1a7_373a_a9cb,
    0x3fee_dea6_4c12_3422,
    0x3fee_ce08_6061_892d,
    0x3fee_bfda_d536_2a27,
    0x3fee_b42b_569d_4f82,
    0x3fee_ab07_dd48_5429,
    0x3fee_a47e_b03a_5585,
    0x3fee_a09e_667f_3bcd,
    0x3fee_9f75_e8ec_5f74,
    0x3fee_a114_73eb_0187,
    0x3fee_a589_994c_ce13,
    0x3fee_ace5_422a_a0db,
    0x3fee_b737_b0cd_c5e5,
    0x3fee_c491_82a3_f090,
    0x3fee_d503_b23e_255d,
    0x3fee_e89f_995a_d3ad,
    0x3fee_ff76_f2fb_5e47,
    0x3fef_199b_dd85_529c,
    0x3fef_3720_dcef_9069,
    0x3fef_5818_dcfb_a487,
    0x3fef_7c97_337b_9b5f,
    0x3fef_a4af_a2a4_90da,
    0x3fef_d076_5b6e_4540,
];

/// `32 / ln 2`.
const INV_LN2_N: f64 = f64::from_bits(0x4047_1547_652b_82fe);
/// `1.5 * 2^52`: adding it rounds to an integer, which then sits in the low bits.
const SHIFT: f64 = f64::from_bits(0x4338_0000_0000_0000);
/// The cubic's coefficients for `r` in units of `ln 2 / 32`: `2^(r/32) ~ 1 + C2 r + C1 r^2 + C0 r^3`.
const C0: f64 = f64::from_bits(0x3ebc_6af8_4b91_2394);
const C1: f64 = f64::from_bits(0x3f2e_bfce_50fa_c4f3);
const C2: f64 = f64::from_bits(0x3f96_2e42_ff0c_52d6);

/// Above it `exp` overflows to infinity (`0x1.62e42ep6`, about 88.72).
const OVERFLOW: u32 = 0x42b1_7217;
/// Below it `exp` rounds to zero (`-0x1.9fe368p6`, about -103.97).
const UNDERFLOW: u32 = 0xc2cf_f1b4;
/// Below it (and not below [`UNDERFLOW`]) glibc returns the smallest subnormal
/// (`-0x1.9d1d9ep6`, about -103.28).
const MAY_UNDERFLOW: u32 = 0xc2ce_8ecf;

/// `e^x` in float32, with the bits of glibc's `expf` on a CPU with FMA (see the module docs).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    if needs_care(x) {
        // |x| >= 88, an infinity or a NaN.
        if x == f32::NEG_INFINITY {
            return 0.0;
        }
        if ((x.to_bits() >> 20) & 0x7ff) >= 0x7f8 {
            return x + x;
        }
        if x > f32::from_bits(OVERFLOW) {
            return f32::INFINITY;
        }
        if x < f32::from_bits(UNDERFLOW) {
            return 0.0;
        }
        if x < f32::from_bits(MAY_UNDERFLOW) {
            return f32::from_bits(1);
        }
    }
    exp_core(x)
}

/// Whether `x` is outside the range where [`exp`] is [`exp_core`] for sure: `|x| >= 88`, an
/// infinity or a NaN (an integer comparison that vectorises).
#[inline(always)]
pub(crate) fn needs_care(x: f32) -> bool {
    ((x.to_bits() >> 20) & 0x7ff) >= 0x42a
}

/// [`exp`] without its special cases: equal to it wherever [`needs_care`] is false (and wherever
/// `exp` does not return early), branch-free, so that a loop of it vectorises.
#[inline(always)]
pub(crate) fn exp_core(x: f32) -> f32 {
    let xd = f64::from(x);
    // x * 32 / ln 2 = k + r with k an integer and |r| <= 1/2.
    let shifted = INV_LN2_N.mul_add(xd, SHIFT);
    let ki = shifted.to_bits();
    let kd = shifted - SHIFT;
    let r = INV_LN2_N.mul_add(xd, -kd);
    // s = 2^(k/32): the table's 2^((k mod 32)/32) with k div 32 added to its exponent.
    let s = f64::from_bits(TABLE[(ki % 32) as usize].wrapping_add(ki << 47));
    let z = C0.mul_add(r, C1);
    let r2 = r * r;
    let y = C2.mul_add(r, 1.0);
    let y = z.mul_add(r2, y);
    (y * s) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The inputs where glibc's FMA build (ours) and its SSE2 build differ, with the FMA build's
    /// value and the SSE2 build's.
    const BUILDS_DIFFER: [(u32, u32, u32); 2] = [
        (0xc27c_65d9, 0x11fa_2993, 0x11fa_2992),
        (0x4202_422f, 0x56fc_9f1c, 0x56fc_9f1b),
    ];

    /// Our value at `x` is the C library's, but for the two inputs where glibc's builds differ
    /// (ours is the FMA build's there, whichever the C library picked).
    fn check(x: f32) {
        let ours = exp(x);
        if let Some(&(_, fma, _)) = BUILDS_DIFFER.iter().find(|d| d.0 == x.to_bits()) {
            assert_eq!(ours.to_bits(), fma, "exp({x:e})");
        } else if cfg!(all(
            target_arch = "x86_64",
            target_os = "linux",
            target_env = "gnu"
        )) {
            let libm = x.exp();
            assert_eq!(
                ours.to_bits(),
                libm.to_bits(),
                "exp({x:e}) = {ours:e}, libm {libm:e}"
            );
        } else {
            // Another C library: only within a unit in the last place (or both zero or infinite).
            let libm = x.exp();
            let ulp = (ours.to_bits() as i64 - libm.to_bits() as i64).abs();
            assert!(
                ulp <= 1 || ours == libm || (ours.is_nan() && libm.is_nan()),
                "exp({x:e})"
            );
        }
    }

    #[test]
    fn the_table_holds_each_power_of_two() {
        // Each entry plus `i << 47` is 2^(i/32), as the C library's float64 `exp2` gives it (the
        // nearest float64 to it for all 32: checked with 300-bit arithmetic when they were written).
        for (i, &t) in TABLE.iter().enumerate() {
            let v = f64::from_bits(t.wrapping_add((i as u64) << 47));
            assert_eq!(v, (i as f64 / 32.0).exp2(), "entry {i}");
        }
    }

    #[test]
    fn edge_cases_are_glibc_s() {
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-0.0), 1.0);
        assert_eq!(f32::from_bits(OVERFLOW), 88.722_83);
        assert_eq!(exp(f32::from_bits(OVERFLOW + 1)), f32::INFINITY);
        assert_eq!(f32::from_bits(UNDERFLOW), -103.972_08);
        assert_eq!(f32::from_bits(MAY_UNDERFLOW), -103.278_92);
        for bits in [
            OVERFLOW - 1,
            OVERFLOW,
            OVERFLOW + 1,
            UNDERFLOW - 1,
            UNDERFLOW,
            UNDERFLOW + 1,
            MAY_UNDERFLOW - 1,
            MAY_UNDERFLOW,
            MAY_UNDERFLOW + 1,
            0x42b0_0000, // 88.0, the first |x| of the slow path
            0x42af_ffff,
            0xc2b0_0000,
            0x7f80_0001, // signalling NaN
            0xffc0_0000,
            0x0000_0001,
            0x8000_0001,
            0x3f80_0000,
            0xbf80_0000,
        ] {
            check(f32::from_bits(bits));
        }
        for &(x, _, _) in &BUILDS_DIFFER {
            check(f32::from_bits(x));
        }
    }

    #[test]
    fn matches_the_c_library_on_a_sample() {
        // Every 4093rd bit pattern (a prime stride, so every exponent and many mantissas), and
        // every float in the softmax's usual range [-20, 0] on a finer grid.
        let mut bits = 0u64;
        while bits < 1 << 32 {
            check(f32::from_bits(bits as u32));
            bits += 4093;
        }
        let mut x = -20.0f32;
        while x <= 0.0 {
            check(x);
            x = f32::from_bits(x.to_bits() - 97).min(x + 1e-4);
        }
    }

    /// All 2^32 inputs against the C library's `expf` (glibc on x86-64: the two builds differ only
    /// in [`BUILDS_DIFFER`], so this holds whichever one it picked). About a minute in release.
    #[test]
    #[ignore = "2^32 inputs; run in release by .ci/run"]
    fn expf_matches_glibc_on_every_input() {
        let halves: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2u64)
                .map(|h| {
                    s.spawn(move || {
                        let mut checked = 0u64;
                        for bits in (h << 31)..((h + 1) << 31) {
                            check(f32::from_bits(bits as u32));
                            checked += 1;
                        }
                        checked
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(halves.iter().sum::<u64>(), 1 << 32);
    }
}
