//! Adam with PyTorch's defaults and exactly torch's single-tensor update (`torch/optim/adam.py`,
//! `_single_tensor_adam`, no weight decay, no amsgrad), in `float32` with `float64` scalars:
//!
//! ```text
//! m = m + (1 - beta1) * (g - m)                       # exp_avg.lerp_(grad, 1 - beta1)
//! v = v * beta2 + ((1 - beta2) * g) * g                # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
//! denom = sqrt(v) / sqrt(1 - beta2^t) + eps            # (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
//! p = p + (-(lr / (1 - beta1^t)) * m) / denom           # param.addcdiv_(exp_avg, denom, value=-step_size)
//! ```
//! The scalars are computed in `float64` as Python does and rounded to `float32` where torch converts
//! them; no fused multiply-add, as in torch's default CPU capability (ReCodEx mode).

/// Adam's hyperparameters; [`Default`] gives `torch.optim.Adam`'s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (1e-3).
    pub lr: f64,
    /// First-moment decay (0.9).
    pub beta1: f64,
    /// Second-moment decay (0.999).
    pub beta2: f64,
    /// Denominator term (1e-8).
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// Adam's state for one flat parameter vector.
#[derive(Clone, Debug)]
pub struct Adam {
    config: AdamConfig,
    step: u64,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
}

impl Adam {
    /// Zero moments for `params` parameters.
    pub fn new(config: AdamConfig, params: usize) -> Self {
        Self {
            config,
            step: 0,
            exp_avg: vec![0.0; params],
            exp_avg_sq: vec![0.0; params],
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdamConfig {
        self.config
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The first moments (`exp_avg`).
    pub fn exp_avg(&self) -> &[f32] {
        &self.exp_avg
    }

    /// The second moments (`exp_avg_sq`).
    pub fn exp_avg_sq(&self) -> &[f32] {
        &self.exp_avg_sq
    }

    /// One update of `params` with `grads`.
    ///
    /// # Panics
    /// If the lengths differ from the one given to [`Adam::new`].
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        assert_eq!(
            params.len(),
            self.exp_avg.len(),
            "Adam: parameter count changed"
        );
        assert_eq!(
            grads.len(),
            self.exp_avg.len(),
            "Adam: gradient count differs"
        );
        self.step += 1;
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        // torch keeps `step` as a float32 tensor and reads it back as a Python float.
        let t = self.step as f32 as f64;
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        let step_size = lr / bias_correction1;
        let bias_correction2_sqrt = bias_correction2.powf(0.5);

        let w1 = (1.0 - beta1) as f32;
        let b2 = beta2 as f32;
        let w2 = (1.0 - beta2) as f32;
        let bc2 = bias_correction2_sqrt as f32;
        // `x / bc2` in float32 equals `(x as f64 * (1 / bc2 as f64)) as f32` exactly: a quotient of
        // two floats is never a float32 rounding midpoint and stays at least 2^-49 (relative) away from
        // one, while the float64 product is within 2^-52 of it. One divide per element fewer.
        let inv_bc2 = 1.0 / f64::from(bc2);
        let eps = eps as f32;
        let neg_step = (-step_size) as f32;
        let small_weight = w1.abs() < 0.5;
        for (((p, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(self.exp_avg.iter_mut())
            .zip(self.exp_avg_sq.iter_mut())
        {
            // at::lerp: the form depends on |weight| < 0.5.
            *m = if small_weight {
                *m + w1 * (g - *m)
            } else {
                g - (g - *m) * (1.0 - w1)
            };
            *v = *v * b2 + w2 * g * g;
            let denom = div_by_constant(v.sqrt(), inv_bc2) + eps;
            *p += neg_step * *m / denom;
        }
    }
}

/// `x / c` rounded to `float32`, given `inv_c = 1 / (c as f64)` (see [`Adam::step`]).
#[inline(always)]
fn div_by_constant(x: f32, inv_c: f64) -> f32 {
    (f64::from(x) * inv_c) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::TorchGenerator;

    /// The float64-reciprocal division equals float32 division for Adam's divisors and many dividends.
    #[test]
    fn division_by_a_constant_is_exact() {
        let mut g = TorchGenerator::new(11);
        for step in 1..=20_000u32 {
            let c = (1.0 - 0.999f64.powf(f64::from(step))).powf(0.5) as f32;
            let inv = 1.0 / f64::from(c);
            for _ in 0..50 {
                // Random positive float32 bit patterns over the whole exponent range.
                let x = f32::from_bits(g.random() & 0x7fff_ffff);
                let (a, b) = (x / c, div_by_constant(x, inv));
                assert!(
                    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                    "{x} / {c}: {a} vs {b}"
                );
            }
        }
        for c in [1.0f32, 0.031_622_78, 0.5, 0.999_999_9] {
            let inv = 1.0 / f64::from(c);
            for bits in (0..0x7f80_0000u32).step_by(997) {
                let x = f32::from_bits(bits);
                assert_eq!(
                    (x / c).to_bits(),
                    div_by_constant(x, inv).to_bits(),
                    "{x} / {c}"
                );
            }
        }
    }

    /// Two steps computed by hand (in f64, then compared to the float32 result).
    #[test]
    fn two_steps_by_hand() {
        let mut adam = Adam::new(AdamConfig::default(), 3);
        let mut p = [1.0f32, -2.0, 0.5];
        let g1 = [0.1f32, -3.0, 0.0];
        adam.step(&mut p, &g1);
        // Step 1: m = 0.1 g, v = 0.001 g^2, m_hat = g, v_hat = g^2: p -= lr * g / (|g| + eps).
        let expect1 = [
            1.0 - 1e-3 * 0.1 / (0.1 + 1e-8),
            -2.0 + 1e-3 * 3.0 / (3.0 + 1e-8),
            0.5,
        ];
        for (a, e) in p.iter().zip(expect1) {
            assert!((*a as f64 - e).abs() < 1e-7, "{a} vs {e}");
        }
        assert_eq!(adam.steps(), 1);
        let g2 = [0.2f32, 1.0, 0.0];
        adam.step(&mut p, &g2);
        for i in 0..3 {
            let (a, b) = (g1[i] as f64, g2[i] as f64);
            let m = 0.9 * 0.1 * a + 0.1 * b;
            let v = 0.999 * 0.001 * a * a + 0.001 * b * b;
            let m_hat = m / (1.0 - 0.81);
            let v_hat = v / (1.0 - 0.999f64 * 0.999);
            let e = expect1[i] - 1e-3 * m_hat / (v_hat.sqrt() + 1e-8);
            assert!((p[i] as f64 - e).abs() < 1e-7, "param {i}: {} vs {e}", p[i]);
            assert!((adam.exp_avg()[i] as f64 - m).abs() < 1e-7);
            assert!((adam.exp_avg_sq()[i] as f64 - v).abs() < 1e-9);
        }
    }

    #[test]
    fn follows_torch_float32_rounding() {
        // The exact float32 sequence of operations of torch's default-capability kernels.
        let mut adam = Adam::new(AdamConfig::default(), 1);
        let mut p = [0.3f32];
        adam.step(&mut p, &[0.7]);
        let m = 0.0f32 + 0.1f32 * (0.7 - 0.0);
        let v = 0.0f32 * 0.999f32 + 0.001f32 * 0.7 * 0.7;
        let bc2 = (1.0f64 - 0.999f64.powf(1.0)).powf(0.5) as f32;
        let denom = v.sqrt() / bc2 + 1e-8f32;
        let step = (-(1e-3 / (1.0 - 0.9f64.powf(1.0)))) as f32;
        assert_eq!(p[0], 0.3f32 + step * m / denom);
    }
}
