//! Adam's update loop with AVX-512 intrinsics, for the steps that divide by the bias correction
//! with the fused division (`nn::adam`: most steps of the default `beta2`). Here because it uses
//! intrinsics; `nn::adam` decides when it runs and keeps the portable loop, the oracle.
//!
//! Per group of 16 parameters it does exactly the portable `update_with::<DIV_FUSED>` operations
//! (each a float32 operation rounded once, no contraction) and writes the tiny-`exp_avg` mask
//! straight from a comparison's mask register (the portable loop builds it with a horizontal OR
//! of 16 lanes, about ten vector instructions).
//!
//! The square root and the division each occupy the divider for many cycles (on a Sapphire /
//! Emerald Rapids core about 12 and 10 per 16 values), which bounds the loop while the other
//! ports idle. [`RootSplit`] lets a share of the vectors take the square root without the
//! divider ([`sqrt_without_divider`]): the same bits (proved below and tested against the
//! instruction), about 15 instructions on the ports the rest of the loop uses.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::isa::Isa;
use crate::nn::adam::Scalars;
#[cfg(target_arch = "x86_64")]
use crate::nn::adam::TINY_MAGNITUDES;

/// Values per vector.
const LANES: usize = 16;

/// Which vectors of Adam's AVX-512 loop take their square root without the divider
/// ([`Adam::with_root_split`](crate::nn::Adam::with_root_split)): the same bits every way, only
/// the speed differs, by CPU (the divider's cost against the other ports').
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RootSplit {
    /// Every square root on the divider (`vsqrtps`).
    Divider,
    /// Every other vector's square root without the divider.
    Alternate,
    /// Every square root without the divider.
    Emulated,
}

/// Whether [`update_fused`] runs for `isa` on this CPU: AVX-512, which the CPU has.
pub(crate) fn runs(isa: Isa) -> bool {
    isa == Isa::Avx512 && isa.is_available()
}

/// Updates the parameters of the first `params.len() / 16` whole groups (the caller does the
/// rest) and returns how many it updated: none unless it [`runs`] for `isa`.
/// With `tiny`, group `i`'s mask of tiny `exp_avg` goes to `tiny[i]`.
///
/// # Panics
/// If the lengths differ or `tiny` has fewer entries than whole groups.
#[allow(clippy::too_many_arguments)] // the update's four vectors, its masks and its choices
pub(crate) fn update_fused(
    isa: Isa,
    split: RootSplit,
    step: &Scalars,
    params: &mut [f32],
    grads: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    tiny: Option<&mut [u32]>,
) -> usize {
    let n = params.len();
    assert!(grads.len() == n && exp_avg.len() == n && exp_avg_sq.len() == n);
    let groups = n / LANES;
    #[cfg(target_arch = "x86_64")]
    if runs(isa) {
        let (p, g, m, v) = (
            params.as_mut_ptr(),
            grads.as_ptr(),
            exp_avg.as_mut_ptr(),
            exp_avg_sq.as_mut_ptr(),
        );
        let t = match tiny {
            Some(t) => {
                assert!(t.len() >= groups, "a mask per group");
                t.as_mut_ptr()
            }
            None => std::ptr::null_mut(),
        };
        let loop_for = match (t.is_null(), split) {
            (false, RootSplit::Divider) => run::<true, false, false>,
            (false, RootSplit::Alternate) => run::<true, false, true>,
            (false, RootSplit::Emulated) => run::<true, true, true>,
            (true, RootSplit::Divider) => run::<false, false, false>,
            (true, RootSplit::Alternate) => run::<false, false, true>,
            (true, RootSplit::Emulated) => run::<false, true, true>,
        };
        // SAFETY: the CPU has AVX-512F (`runs` checked it); `p`, `g`, `m`, `v` hold `16 groups`
        // values each (asserted) and `t`, when not null, `groups` masks (asserted).
        unsafe { loop_for(step, p, g, m, v, t, groups) };
        return groups * LANES;
    }
    let _ = (isa, split, step, tiny, groups);
    0
}

/// The loop: groups in pairs, the first taking its square root without the divider when `EMU_A`,
/// the second when `EMU_B`; a last odd group on the divider.
///
/// # Safety
/// AVX-512F is available; `p`, `g`, `m`, `v` point to `16 groups` values; with `MARK`, `t` to
/// `groups` masks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn run<const MARK: bool, const EMU_A: bool, const EMU_B: bool>(
    step: &Scalars,
    p: *mut f32,
    g: *const f32,
    m: *mut f32,
    v: *mut f32,
    t: *mut u32,
    groups: usize,
) {
    let k = Vectors::new(step);
    let mut i = 0;
    while i + 2 <= groups {
        // SAFETY: groups i and i + 1 are in range (the contract).
        unsafe {
            group::<MARK, EMU_A>(&k, p, g, m, v, t, i);
            group::<MARK, EMU_B>(&k, p, g, m, v, t, i + 1);
        }
        i += 2;
    }
    if i < groups {
        // SAFETY: group i is in range (the contract).
        unsafe { group::<MARK, false>(&k, p, g, m, v, t, i) };
    }
}

/// The constants broadcast to vectors.
#[cfg(target_arch = "x86_64")]
struct Vectors {
    w1: __m512,
    one_minus_w1: __m512,
    small_weight: bool,
    b2: __m512,
    w2: __m512,
    zh: __m512,
    zl: __m512,
    eps: __m512,
    neg_step: __m512,
}

#[cfg(target_arch = "x86_64")]
impl Vectors {
    #[target_feature(enable = "avx512f")]
    fn new(s: &Scalars) -> Vectors {
        Vectors {
            w1: _mm512_set1_ps(s.w1),
            // As the portable lerp rounds it.
            one_minus_w1: _mm512_set1_ps(1.0 - s.w1),
            small_weight: s.small_weight,
            b2: _mm512_set1_ps(s.b2),
            w2: _mm512_set1_ps(s.w2),
            zh: _mm512_set1_ps(s.zh),
            zl: _mm512_set1_ps(s.zl),
            eps: _mm512_set1_ps(s.eps),
            neg_step: _mm512_set1_ps(s.neg_step),
        }
    }
}

/// Group `i`'s update (the portable `update_with::<DIV_FUSED>`, operation for operation).
///
/// # Safety
/// AVX-512F is available; the pointers hold group `i` (and with `MARK`, `t` its mask).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn group<const MARK: bool, const EMU: bool>(
    k: &Vectors,
    p: *mut f32,
    g: *const f32,
    m: *mut f32,
    v: *mut f32,
    t: *mut u32,
    i: usize,
) {
    let o = i * LANES;
    // SAFETY: group i's 16 values of each vector and its mask are in range (the contract).
    unsafe {
        let gv = _mm512_loadu_ps(g.add(o));
        let mv = _mm512_loadu_ps(m.add(o));
        let vv = _mm512_loadu_ps(v.add(o));
        let diff = _mm512_sub_ps(gv, mv);
        // at::lerp: m + w1 (g - m), or g - (g - m)(1 - w1).
        let m_new = if k.small_weight {
            _mm512_add_ps(mv, _mm512_mul_ps(k.w1, diff))
        } else {
            _mm512_sub_ps(gv, _mm512_mul_ps(diff, k.one_minus_w1))
        };
        // v b2 + (w2 g) g.
        let v_new = _mm512_add_ps(
            _mm512_mul_ps(vv, k.b2),
            _mm512_mul_ps(_mm512_mul_ps(k.w2, gv), gv),
        );
        let root = if EMU {
            sqrt_without_divider(v_new)
        } else {
            _mm512_sqrt_ps(v_new)
        };
        // fused_div: fma(x, zh, x zl), except x itself where x is zero, infinite or NaN.
        let q = _mm512_fmadd_ps(root, k.zh, _mm512_mul_ps(root, k.zl));
        let finite_nonzero = _mm512_mask_cmp_ps_mask::<_CMP_NEQ_OQ>(
            _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(root, _mm512_setzero_ps()),
            abs(root),
            _mm512_set1_ps(f32::INFINITY),
        );
        let scaled = _mm512_mask_mov_ps(root, finite_nonzero, q);
        let denom = _mm512_add_ps(scaled, k.eps);
        let change = _mm512_div_ps(_mm512_mul_ps(k.neg_step, m_new), denom);
        let p_new = _mm512_add_ps(_mm512_loadu_ps(p.add(o)), change);
        _mm512_storeu_ps(p.add(o), p_new);
        _mm512_storeu_ps(m.add(o), m_new);
        _mm512_storeu_ps(v.add(o), v_new);
        if MARK {
            // is_tiny: (bits & 0x7fff_ffff) - 1 < TINY_MAGNITUDES, unsigned.
            let magnitude = _mm512_castps_si512(abs(m_new));
            let tiny = _mm512_cmplt_epu32_mask(
                _mm512_sub_epi32(magnitude, _mm512_set1_epi32(1)),
                _mm512_set1_epi32(TINY_MAGNITUDES as i32),
            );
            *t.add(i) = u32::from(tiny);
        }
    }
}

/// `|x|`, the sign bit cleared.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn abs(x: __m512) -> __m512 {
    _mm512_castsi512_ps(_mm512_and_si512(
        _mm512_castps_si512(x),
        _mm512_set1_epi32(0x7fff_ffff),
    ))
}

/// The smallest input [`sqrt_without_divider`] computes itself: 2^-80.
#[cfg(target_arch = "x86_64")]
const SQRT_LOWEST: f32 = f32::from_bits(0x1780_0000);

/// `sqrt(x)` rounded to float32, the square root instruction's bits, without the divider.
///
/// For `2^-80 <= x < inf`: `y = rsqrt14(x)` (relative error below 2^-14, the instruction's
/// documented bound), `s0 = x y`, `s1 = s0 + (y / 2)(x - s0^2)` (one Newton step on the square
/// root itself, whose error is second order: `|s1 - sqrt(x)|` is within half an ulp plus 2^-27
/// relative, under 0.6 ulp), so the rounded root is `s1`, its successor `s+` or its predecessor
/// `s-`. It is `s+` exactly when `sqrt(x)` lies above the midpoint of `s1` and `s+`, that is when
/// `x - s1 s+ > u^2 / 4` (`u = s+ - s1`); `x` and `s1 s+` are both multiples of `u^2` (`x` is at
/// least `s1^2 / 2`, so its ulp is at least `u^2`), so this is `x - s1 s+ > 0`, the sign of one
/// fused multiply-add, which rounding keeps (and which cannot underflow to zero: non-zero
/// multiples of `u^2` are at least 2^-126 for `x >= 2^-80`). Likewise it is `s-` exactly when
/// `x - s1 s- <= 0` (the midpoint itself is impossible: `x = s1 s-` puts `sqrt(x)`, their
/// geometric mean, below it). Smaller `x`, zero, infinity and NaN take the instruction.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
pub(crate) fn sqrt_without_divider(x: __m512) -> __m512 {
    let regular = _mm512_mask_cmp_ps_mask::<_CMP_LT_OQ>(
        _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x, _mm512_set1_ps(SQRT_LOWEST)),
        x,
        _mm512_set1_ps(f32::INFINITY),
    );
    let y = _mm512_rsqrt14_ps(x);
    let s0 = _mm512_mul_ps(x, y);
    let half_y = _mm512_mul_ps(y, _mm512_set1_ps(0.5));
    let s1 = _mm512_fmadd_ps(half_y, _mm512_fnmadd_ps(s0, s0, x), s0);
    let bits = _mm512_castps_si512(s1);
    let one = _mm512_set1_epi32(1);
    let above = _mm512_castsi512_ps(_mm512_add_epi32(bits, one));
    let below = _mm512_castsi512_ps(_mm512_sub_epi32(bits, one));
    let zero = _mm512_setzero_ps();
    let up = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_fnmadd_ps(s1, above, x), zero);
    let down = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_fnmadd_ps(s1, below, x), zero);
    let root = _mm512_mask_mov_ps(_mm512_mask_mov_ps(s1, up, above), down, below);
    if regular == 0xffff {
        root
    } else {
        _mm512_mask_sqrt_ps(root, !regular, x)
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// [`sqrt_without_divider`] against the instruction on `bits`, 16 at a time.
    fn check_roots(bits: impl Iterator<Item = u32>) -> usize {
        #[target_feature(enable = "avx512f")]
        fn compare(x: &[f32; LANES]) -> Option<(f32, f32, f32)> {
            // SAFETY: `x` holds 16 values; the outputs are 16-value arrays.
            let (ours, theirs) = unsafe {
                let v = _mm512_loadu_ps(x.as_ptr());
                let mut ours = [0.0f32; LANES];
                let mut theirs = [0.0f32; LANES];
                _mm512_storeu_ps(ours.as_mut_ptr(), sqrt_without_divider(v));
                _mm512_storeu_ps(theirs.as_mut_ptr(), _mm512_sqrt_ps(v));
                (ours, theirs)
            };
            (0..LANES)
                .find(|&l| ours[l].to_bits() != theirs[l].to_bits())
                .map(|l| (x[l], ours[l], theirs[l]))
        }
        let mut lanes = [0.0f32; LANES];
        let mut filled = 0;
        let mut checked = 0;
        for b in bits {
            lanes[filled] = f32::from_bits(b);
            filled += 1;
            if filled == LANES {
                // SAFETY: the caller checked the CPU for AVX-512F.
                if let Some((x, ours, theirs)) = unsafe { compare(&lanes) } {
                    panic!("sqrt({x:e}) = {ours:e} without the divider, {theirs:e} with it");
                }
                filled = 0;
                checked += LANES;
            }
        }
        checked
    }

    #[test]
    fn square_root_without_the_divider_is_the_instruction() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            return;
        }
        // Every float in [1, 4): every significand with both exponent parities (the estimate's
        // table and the Newton step depend on nothing else in the regular range).
        assert_eq!(check_roots(0x3f80_0000..0x4080_0000), 1 << 24);
        // Every 61st float of the whole non-negative range, and the ends of the regular range,
        // the ones below it, zero, the largest, infinity and NaN.
        let sparse = (0..0x7f80_0000u32 / 61).map(|i| i * 61);
        assert!(check_roots(sparse) > 30_000_000);
        let lowest = SQRT_LOWEST.to_bits();
        let ends = [
            0,
            1,
            lowest - 1,
            lowest,
            lowest + 1,
            0x7f7f_ffff,
            0x7f80_0000,
            0x7fc0_0000,
        ];
        assert_eq!(check_roots(ends.into_iter().cycle().take(64)), 64);
    }
}
