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

    /// `y = f(x)` element-wise, in place.
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
                    *v = v.tanh();
                }
            }
            Self::Sigmoid => {
                for v in x {
                    *v = 1.0 / (1.0 + (-*v).exp());
                }
            }
        }
    }

    /// `grad <- grad * f'(x)`, with `f'` written through the output `y = f(x)`:
    /// relu `y > 0`, tanh `1 - y^2`, sigmoid `(1 - y) y`.
    ///
    /// # Panics
    /// If the two slices differ in length.
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
