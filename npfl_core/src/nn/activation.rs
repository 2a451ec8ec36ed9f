//! Element-wise activations applied in place, and their backward passes expressed through the
//! activation's output (as torch's `threshold_backward`, `tanh_backward` and `sigmoid_backward` do).

use std::fmt;
use std::str::FromStr;

use super::NnError;

/// The hidden-layer activation of the course's `--activation` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Activation {
    /// No activation layer at all.
    #[default]
    None,
    /// `max(x, 0)` (NaN stays NaN).
    Relu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
}

impl Activation {
    /// All four, in the course's order of `choices`.
    pub const ALL: [Activation; 4] = [Self::None, Self::Relu, Self::Tanh, Self::Sigmoid];

    /// The course's spelling: `none`, `relu`, `tanh`, `sigmoid`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Relu => "relu",
            Self::Tanh => "tanh",
            Self::Sigmoid => "sigmoid",
        }
    }

    /// `y = f(x)` element-wise, in place. Inlined, so that a caller inside
    /// [`crate::isa::vectorized`] runs it at that instruction set's width.
    #[inline(always)]
    pub fn forward_in_place(self, x: &mut [f32]) {
        match self {
            Self::None => {}
            Self::Relu => {
                for v in x {
                    // `<` keeps NaN, as torch's relu does.
                    *v = if *v < 0.0 { 0.0 } else { *v };
                }
            }
            Self::Tanh => {
                for v in x {
                    *v = tanh(*v);
                }
            }
            Self::Sigmoid => {
                for v in x {
                    *v = 1.0 / (1.0 + exp(-*v));
                }
            }
        }
    }

    /// `grad <- grad * f'(x)`, with `f'` written through the output `y = f(x)`:
    /// relu `y > 0`, tanh `1 - y^2`, sigmoid `(1 - y) y`.
    ///
    /// # Panics
    /// If the two slices differ in length.
    #[inline(always)]
    pub fn backward_in_place(self, y: &[f32], grad: &mut [f32]) {
        assert_eq!(y.len(), grad.len(), "activation backward: length mismatch");
        match self {
            Self::None => {}
            Self::Relu => {
                for (g, &y) in grad.iter_mut().zip(y) {
                    *g = if y > 0.0 { *g } else { 0.0 };
                }
            }
            Self::Tanh => {
                for (g, &y) in grad.iter_mut().zip(y) {
                    *g *= 1.0 - y * y;
                }
            }
            Self::Sigmoid => {
                for (g, &y) in grad.iter_mut().zip(y) {
                    *g = *g * (1.0 - y) * y;
                }
            }
        }
    }
}

/// `e^x` in `float32` without library calls, so that loops over it vectorise (Cephes `expf`:
/// `x = n ln 2 + r`, a degree-6 polynomial for `e^r`, then `2^n` through the exponent bits; within
/// 2 ulp of the correctly rounded value). Inputs are clamped to `[-87.3, 88.7]`: below, the result is
/// about `1e-38` instead of a subnormal or zero.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' published constants, as printed there
fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // 1.5 * 2^23: adding it rounds to an integer that sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.7);
    let t = x * LOG2E + ROUND;
    let n = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let fx = t - ROUND;
    let r = x - fx * 0.693_359_4 - fx * -2.121_944_4e-4;
    let z = r * r;
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1)
        * z
        + r
        + 1.0;
    // 2^n for n in [-126, 127], then one more factor 2 when n reaches 128 near the upper clamp.
    let half = n >> 1;
    let scale1 = f32::from_bits(((half + 127) as u32) << 23);
    let scale2 = f32::from_bits(((n - half + 127) as u32) << 23);
    p * scale1 * scale2
}

/// `tanh(x)` in `float32` without library calls (Cephes `tanhf`): an odd polynomial below
/// `|x| = 0.625`, `1 - 2 / (e^{2|x|} + 1)` above; within 3 ulp of the correctly rounded value.
#[inline(always)]
#[allow(clippy::excessive_precision)] // Cephes' published constants, as printed there
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let poly = (((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1)
        * z
        - 3.333_328_2e-1;
    // |x z p| < |x|, so the sign is x's; copysign also keeps tanh(-0) = -0.
    let small = (x + x * (z * poly)).copysign(x);
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let large = if x < 0.0 { -large } else { large };
    if a < 0.625 { small } else { large }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| NnError::UnknownActivation(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_course_names() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
            assert_eq!(a.to_string(), a.name());
        }
        let err = "gelu".parse::<Activation>().unwrap_err();
        assert!(err.to_string().contains("gelu"), "{err}");
    }

    /// Distance in units in the last place (for finite values of one sign).
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_and_tanh_are_within_a_few_ulp_of_libm_in_f64() {
        let mut worst = (0, 0, 0);
        let mut x = -87.0f32;
        while x < 88.5 {
            let e = exp(x);
            let want = (x as f64).exp() as f32;
            worst.0 = worst.0.max(ulps(e, want));
            let t = tanh(x / 8.0);
            let want = ((x / 8.0) as f64).tanh() as f32;
            worst.1 = worst.1.max(ulps(t, want));
            let s = 1.0 / (1.0 + exp(-x / 4.0));
            let want = (1.0 / (1.0 + (-(x / 4.0) as f64).exp())) as f32;
            worst.2 = worst.2.max(ulps(s, want));
            x += 0.000_37;
        }
        assert!(
            worst.0 <= 2 && worst.1 <= 3 && worst.2 <= 3,
            "ulps (exp, tanh, sigmoid): {worst:?}"
        );
        for (x, want) in [
            (0.0f32, 0.0f32),
            (-0.0, -0.0),
            (30.0, 1.0),
            (-30.0, -1.0),
            (1e-30, 1e-30),
        ] {
            assert_eq!(tanh(x).to_bits(), want.to_bits(), "tanh({x})");
        }
        assert!(tanh(f32::NAN).is_nan());
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(exp(200.0).is_finite() && exp(200.0) > 1e38);
    }

    #[test]
    fn forward_values() {
        let mut x = [-2.0f32, -0.0, 0.0, 0.5, f32::NAN];
        Activation::Relu.forward_in_place(&mut x);
        assert_eq!(&x[..4], &[0.0, -0.0, 0.0, 0.5]);
        assert!(x[4].is_nan());
        let mut x = [0.0f32, 1.0, -30.0, 100.0];
        Activation::Sigmoid.forward_in_place(&mut x);
        assert_eq!(x[0], 0.5);
        assert!((x[1] - 0.731_058_6).abs() < 1e-7);
        assert!(x[2] > 0.0 && x[2] < 1e-12);
        assert_eq!(x[3], 1.0);
        let mut x = [0.0f32, 0.5, -20.0];
        Activation::Tanh.forward_in_place(&mut x);
        assert_eq!(x[0], 0.0);
        assert!((x[1] - 0.462_117_16).abs() < 1e-7);
        assert_eq!(x[2], -1.0);
    }

    /// Finite differences of `sum(w * f(x))` against `backward_in_place` for every activation.
    #[test]
    fn gradients_match_finite_differences() {
        let xs: Vec<f64> = (0..41).map(|i| -3.0 + 0.15 * i as f64 + 0.0123).collect();
        for act in Activation::ALL {
            let f = |x: f64| -> f64 {
                let mut v = [x as f32];
                act.forward_in_place(&mut v);
                v[0] as f64
            };
            let mut y: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            act.forward_in_place(&mut y);
            let mut g: Vec<f32> = (0..xs.len()).map(|i| 1.0 + 0.01 * i as f32).collect();
            let w = g.clone();
            act.backward_in_place(&y, &mut g);
            for (i, &x) in xs.iter().enumerate() {
                let h = 1e-3;
                let numeric = w[i] as f64 * (f(x + h) - f(x - h)) / (2.0 * h);
                assert!(
                    (numeric - g[i] as f64).abs() < 2e-3,
                    "{act} at {x}: numeric {numeric} analytic {}",
                    g[i]
                );
            }
        }
    }
}
