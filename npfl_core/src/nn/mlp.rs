//! The course's model: `Flatten`, `hidden_layers` x (`Linear(prev, hidden_layer_size)`, activation),
//! `Linear(prev, outputs)` giving logits, with Keras-style initialisation (Xavier-uniform weights, zero
//! biases), and its forward and backward passes on preallocated buffers.
//!
//! Weights are stored `[in, out]` row-major (`V = W^T` of torch's `[out, in]` weight `W`), so `Linear` is
//! `Z = A V + b`: the forward product then reads `V` in place, without packing, which makes it twice
//! as fast as with torch's layout. Every product runs on [`Matmul::gemm`] with [`Op::T`] flags instead
//! of explicit transposes:
//!
//! ```text
//! forward   Z_l  = A_{l-1} V_l + 1 b_l^T          gemm(A, N, V, N), C prefilled with the bias, beta = 1
//! backward  dV_l = A_{l-1}^T dZ_l                 gemm(A, T, dZ, N)
//!           db_l = column sums of dZ_l
//!           dA_{l-1} = dZ_l V_l^T                 gemm(dZ, N, V, T), skipped for the input layer
//! ```

use std::ops::Range;

use super::{Activation, CourseRng, NnError};
use crate::matmul::{MatMut, MatRef, Matmul, Op};

/// The shape of the course's MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlpConfig {
    /// Input features (784 for MNIST).
    pub inputs: usize,
    /// Hidden layers (zero allowed: then the model is one `Linear`).
    pub hidden_layers: usize,
    /// Units of every hidden layer.
    pub hidden_layer_size: usize,
    /// Output logits (10 for MNIST).
    pub outputs: usize,
    /// The activation after every hidden layer.
    pub activation: Activation,
}

/// Where one `Linear` lives inside the flat parameter vector.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LayerInfo {
    fan_in: usize,
    fan_out: usize,
    weight: Range<usize>,
    bias: Range<usize>,
}

/// The MLP's parameters, flat in torch's `model.parameters()` order: `V_0, b_0, V_1, b_1, ...`, each
/// weight stored `[in, out]` (the transpose of torch's).
#[derive(Clone, Debug)]
pub struct Mlp {
    config: MlpConfig,
    layers: Vec<LayerInfo>,
    params: Vec<f32>,
}

impl Mlp {
    /// A model initialised as the course's: for every `Linear` in order, `xavier_uniform_` on the
    /// `[out, in]` torch weight ([`CourseRng::xavier_uniform`], stored transposed) and zero bias.
    ///
    /// # Errors
    /// [`NnError::Shape`] if a size is zero.
    pub fn new(config: MlpConfig, rng: &mut CourseRng) -> Result<Self, NnError> {
        let mut model = Self::zeros(config)?;
        let mut torch_weight = Vec::new();
        for layer in &model.layers {
            torch_weight.resize(layer.weight.len(), 0.0);
            rng.xavier_uniform(&mut torch_weight, layer.fan_in, layer.fan_out);
            let v = &mut model.params[layer.weight.clone()];
            for (o, row) in torch_weight.chunks_exact(layer.fan_in).enumerate() {
                for (i, &w) in row.iter().enumerate() {
                    v[i * layer.fan_out + o] = w;
                }
            }
        }
        Ok(model)
    }

    /// A model with the given flat parameters (`V_0, b_0, V_1, b_1, ...`, weights `[in, out]`).
    ///
    /// # Errors
    /// [`NnError::Shape`] if a size is zero or `params` has the wrong length.
    pub fn with_params(config: MlpConfig, params: Vec<f32>) -> Result<Self, NnError> {
        let mut model = Self::zeros(config)?;
        if params.len() != model.params.len() {
            return Err(NnError::Shape(format!(
                "the model has {} parameters, {} were given",
                model.params.len(),
                params.len()
            )));
        }
        model.params = params;
        Ok(model)
    }

    fn zeros(config: MlpConfig) -> Result<Self, NnError> {
        if config.inputs == 0
            || config.outputs == 0
            || (config.hidden_layers > 0 && config.hidden_layer_size == 0)
        {
            return Err(NnError::Shape(format!(
                "every layer needs at least one unit: {config:?}"
            )));
        }
        let mut layers = Vec::with_capacity(config.hidden_layers + 1);
        let mut offset = 0;
        let mut fan_in = config.inputs;
        for l in 0..=config.hidden_layers {
            let fan_out = if l < config.hidden_layers {
                config.hidden_layer_size
            } else {
                config.outputs
            };
            let weight = offset..offset + fan_in * fan_out;
            let bias = weight.end..weight.end + fan_out;
            offset = bias.end;
            layers.push(LayerInfo {
                fan_in,
                fan_out,
                weight,
                bias,
            });
            fan_in = fan_out;
        }
        Ok(Self {
            config,
            layers,
            params: vec![0.0; offset],
        })
    }

    /// The shape it was built with.
    pub fn config(&self) -> MlpConfig {
        self.config
    }

    /// The number of `Linear` layers (`hidden_layers + 1`).
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// `(in_features, out_features)` of layer `l`.
    ///
    /// # Panics
    /// If `l >= num_layers()`.
    pub fn layer_shape(&self, l: usize) -> (usize, usize) {
        (self.layers[l].fan_in, self.layers[l].fan_out)
    }

    /// All parameters, `V_0, b_0, V_1, b_1, ...` (weights `[in, out]`).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// All parameters, mutable (for the optimiser).
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// The weight of layer `l` as stored, `[in, out]` row-major (torch's weight transposed).
    ///
    /// # Panics
    /// If `l >= num_layers()`.
    pub fn weight(&self, l: usize) -> &[f32] {
        &self.params[self.layers[l].weight.clone()]
    }

    /// The weight of layer `l` in torch's `[out, in]` row-major layout (a transposed copy).
    ///
    /// # Panics
    /// If `l >= num_layers()`.
    pub fn torch_weight(&self, l: usize) -> Vec<f32> {
        let layer = &self.layers[l];
        let v = self.weight(l);
        let mut w = vec![0.0; v.len()];
        for (i, row) in v.chunks_exact(layer.fan_out).enumerate() {
            for (o, &x) in row.iter().enumerate() {
                w[o * layer.fan_in + i] = x;
            }
        }
        w
    }

    /// The bias of layer `l`.
    ///
    /// # Panics
    /// If `l >= num_layers()`.
    pub fn bias(&self, l: usize) -> &[f32] {
        &self.params[self.layers[l].bias.clone()]
    }

    /// Buffers for batches of up to `max_rows` examples.
    pub fn batch_buffers(&self, max_rows: usize) -> BatchBuffers {
        let widest = self
            .layers
            .iter()
            .map(|l| l.fan_in.max(l.fan_out))
            .max()
            .unwrap_or(0);
        BatchBuffers {
            max_rows,
            inputs: self.config.inputs,
            input: vec![0.0; max_rows * self.config.inputs],
            outputs: self
                .layers
                .iter()
                .map(|l| vec![0.0; max_rows * l.fan_out])
                .collect(),
            delta: [vec![0.0; max_rows * widest], vec![0.0; max_rows * widest]],
            grads: vec![0.0; self.params.len()],
        }
    }

    fn check_rows(&self, ws: &BatchBuffers, rows: usize) -> Result<(), NnError> {
        if rows == 0
            || rows > ws.max_rows
            || ws.inputs != self.config.inputs
            || ws.grads.len() != self.params.len()
        {
            return Err(NnError::Shape(format!(
                "{rows} rows for batch buffers of {} rows and {} inputs built for another model or size",
                ws.max_rows, ws.inputs
            )));
        }
        Ok(())
    }

    /// Forward pass of the first `rows` rows of `ws.input()`; the logits land in `ws.logits(rows)`.
    ///
    /// # Errors
    /// [`NnError::Shape`] if `rows` is zero or exceeds the batch buffers, [`NnError::Matmul`] from the products.
    pub fn forward(
        &self,
        mm: &mut Matmul,
        ws: &mut BatchBuffers,
        rows: usize,
    ) -> Result<(), NnError> {
        self.check_rows(ws, rows)?;
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, rest) = ws.outputs.split_at_mut(l);
            let input: &[f32] = if l == 0 { &ws.input } else { &before[l - 1] };
            let out = &mut rest[0][..rows * layer.fan_out];
            let bias = &self.params[layer.bias.clone()];
            for row in out.chunks_exact_mut(layer.fan_out) {
                row.copy_from_slice(bias);
            }
            mm.gemm(
                1.0,
                MatRef::new(&input[..rows * layer.fan_in], rows, layer.fan_in)?,
                Op::N,
                MatRef::new(
                    &self.params[layer.weight.clone()],
                    layer.fan_in,
                    layer.fan_out,
                )?,
                Op::N,
                1.0,
                MatMut::new(out, rows, layer.fan_out)?,
            )?;
            if l < last {
                let activation = self.config.activation;
                // Compiled for the kernel's vectors (tanh and sigmoid are polynomials without
                // library calls): the same operations on every element at every width, so the
                // same bits.
                crate::isa::vectorized(
                    mm.kernel().isa(),
                    #[inline(always)]
                    || activation.forward_in_place(out),
                );
            }
        }
        Ok(())
    }

    /// Backward pass after [`Mlp::forward`] of the same `rows`: `ws.logits_grad_mut(rows)` must hold
    /// `d loss / d logits`; the parameter gradients land in `ws.grads()` (same layout as [`Mlp::params`]).
    /// The gradient with respect to the input is not computed.
    ///
    /// # Errors
    /// As [`Mlp::forward`].
    pub fn backward(
        &self,
        mm: &mut Matmul,
        ws: &mut BatchBuffers,
        rows: usize,
    ) -> Result<(), NnError> {
        self.check_rows(ws, rows)?;
        // The gradient of layer l's output alternates between the two delta buffers; the logits'
        // gradient sits in delta[(num_layers - 1) % 2].
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let (d0, d1) = ws.delta.split_at_mut(1);
            let (dz, da_prev) = if l % 2 == 0 {
                (&d0[0], &mut d1[0])
            } else {
                (&d1[0], &mut d0[0])
            };
            let dz = &dz[..rows * layer.fan_out];
            let input: &[f32] = if l == 0 {
                &ws.input
            } else {
                &ws.outputs[l - 1]
            };
            let input = &input[..rows * layer.fan_in];
            let (weight_grad, bias_grad) =
                ws.grads[layer.weight.start..layer.bias.end].split_at_mut(layer.weight.len());
            mm.gemm(
                1.0,
                MatRef::new(input, rows, layer.fan_in)?,
                Op::T,
                MatRef::new(dz, rows, layer.fan_out)?,
                Op::N,
                0.0,
                MatMut::new(weight_grad, layer.fan_in, layer.fan_out)?,
            )?;
            bias_grad.copy_from_slice(&dz[..layer.fan_out]);
            for row in dz.chunks_exact(layer.fan_out).skip(1) {
                for (b, &g) in bias_grad.iter_mut().zip(row) {
                    *b += g;
                }
            }
            if l > 0 {
                let da = &mut da_prev[..rows * layer.fan_in];
                mm.gemm(
                    1.0,
                    MatRef::new(dz, rows, layer.fan_out)?,
                    Op::N,
                    MatRef::new(
                        &self.params[layer.weight.clone()],
                        layer.fan_in,
                        layer.fan_out,
                    )?,
                    Op::T,
                    0.0,
                    MatMut::new(da, rows, layer.fan_in)?,
                )?;
                let activation = self.config.activation;
                crate::isa::vectorized(
                    mm.kernel().isa(),
                    #[inline(always)]
                    || activation.backward_in_place(input, da),
                );
            }
        }
        Ok(())
    }
}

/// Preallocated activations and gradients for batches of up to `max_rows` examples.
#[derive(Clone, Debug)]
pub struct BatchBuffers {
    max_rows: usize,
    inputs: usize,
    input: Vec<f32>,
    outputs: Vec<Vec<f32>>,
    delta: [Vec<f32>; 2],
    grads: Vec<f32>,
}

impl BatchBuffers {
    /// The largest batch it holds.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// The input batch, `max_rows x inputs` row-major; fill the first `rows` rows before a forward pass.
    pub fn input_mut(&mut self) -> &mut [f32] {
        &mut self.input
    }

    /// The logits of the last forward pass of `rows` rows.
    pub fn logits(&self, rows: usize) -> &[f32] {
        let out = self.outputs.last().expect("a model has at least one layer");
        &out[..rows * (out.len() / self.max_rows.max(1))]
    }

    /// The logits (read) and the buffer for their gradient (write), for `rows` rows.
    pub fn logits_and_grad_mut(&mut self, rows: usize) -> (&[f32], &mut [f32]) {
        let last = self.outputs.len() - 1;
        let out = &self.outputs[last];
        let classes = out.len() / self.max_rows.max(1);
        (
            &out[..rows * classes],
            &mut self.delta[last % 2][..rows * classes],
        )
    }

    /// The parameter gradients of the last backward pass (layout of [`Mlp::params`]).
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{softmax_cross_entropy, xavier_bound, xavier_uniform};
    use crate::rng::torch::{CpuCapability, TorchGenerator};

    fn config(hidden_layers: usize, activation: Activation) -> MlpConfig {
        MlpConfig {
            inputs: 5,
            hidden_layers,
            hidden_layer_size: 4,
            outputs: 3,
            activation,
        }
    }

    /// The loss of `params` on `x`, in f64 with naive loops: the oracle of the gradient check.
    fn loss_f64(cfg: MlpConfig, params: &[f64], x: &[f64], labels: &[u8]) -> f64 {
        let rows = labels.len();
        let mut a: Vec<f64> = x.to_vec();
        let mut fan_in = cfg.inputs;
        let mut offset = 0;
        for l in 0..=cfg.hidden_layers {
            let fan_out = if l < cfg.hidden_layers {
                cfg.hidden_layer_size
            } else {
                cfg.outputs
            };
            let w = &params[offset..offset + fan_in * fan_out];
            let b = &params[offset + fan_in * fan_out..offset + fan_in * fan_out + fan_out];
            offset += fan_in * fan_out + fan_out;
            let mut z = vec![0.0; rows * fan_out];
            for r in 0..rows {
                for o in 0..fan_out {
                    let mut s = b[o];
                    for i in 0..fan_in {
                        s += a[r * fan_in + i] * w[i * fan_out + o];
                    }
                    z[r * fan_out + o] = if l == cfg.hidden_layers {
                        s
                    } else {
                        match cfg.activation {
                            Activation::None => s,
                            Activation::Relu => s.max(0.0),
                            Activation::Tanh => s.tanh(),
                            Activation::Sigmoid => 1.0 / (1.0 + (-s).exp()),
                        }
                    };
                }
            }
            a = z;
            fan_in = fan_out;
        }
        let mut total = 0.0;
        for (row, &l) in a.chunks(cfg.outputs).zip(labels) {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + row.iter().map(|z| (z - max).exp()).sum::<f64>().ln();
            total += lse - row[l as usize];
        }
        total / rows as f64
    }

    #[test]
    fn gradients_match_finite_differences_for_every_activation_and_depth() {
        let rows = 6;
        let labels = [0u8, 2, 1, 1, 0, 2];
        for hidden_layers in [0, 1, 2] {
            for activation in Activation::ALL {
                let cfg = config(hidden_layers, activation);
                let mut rng = CourseRng::new(7, false);
                let mut model = Mlp::new(cfg, &mut rng).unwrap();
                // Non-zero biases too, so that every parameter matters.
                let mut g = TorchGenerator::new(3);
                let mut noise = vec![0.0; model.params().len()];
                g.uniform_f32(&mut noise, -0.3, 0.3, CpuCapability::Default);
                for (p, n) in model.params_mut().iter_mut().zip(&noise) {
                    *p += n;
                }
                let mut x = vec![0.0f32; rows * cfg.inputs];
                g.uniform_f32(&mut x, -1.0, 1.0, CpuCapability::Default);

                let mut mm = Matmul::new(1);
                let mut ws = model.batch_buffers(rows);
                ws.input_mut()[..x.len()].copy_from_slice(&x);
                model.forward(&mut mm, &mut ws, rows).unwrap();
                let (logits, grad) = ws.logits_and_grad_mut(rows);
                softmax_cross_entropy(logits, cfg.outputs, &labels, Some(grad)).unwrap();
                model.backward(&mut mm, &mut ws, rows).unwrap();

                let p64: Vec<f64> = model.params().iter().map(|&v| v as f64).collect();
                let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                for k in 0..p64.len() {
                    let h = 1e-6;
                    let mut plus = p64.clone();
                    plus[k] += h;
                    let mut minus = p64.clone();
                    minus[k] -= h;
                    let numeric = (loss_f64(cfg, &plus, &x64, &labels)
                        - loss_f64(cfg, &minus, &x64, &labels))
                        / (2.0 * h);
                    let analytic = ws.grads()[k] as f64;
                    assert!(
                        (numeric - analytic).abs() < 1e-4 * (1.0 + numeric.abs()),
                        "{hidden_layers} x {activation}: parameter {k}: numeric {numeric} analytic {analytic}"
                    );
                }
            }
        }
    }

    #[test]
    fn initialisation_is_keras_xavier_with_zero_biases() {
        let cfg = MlpConfig {
            inputs: 784,
            hidden_layers: 3,
            hidden_layer_size: 100,
            outputs: 10,
            activation: Activation::Relu,
        };
        for recodex in [false, true] {
            let model = Mlp::new(cfg, &mut CourseRng::new(42, recodex)).unwrap();
            assert_eq!(
                model.params().len(),
                784 * 100 + 100 + 2 * (100 * 100 + 100) + 100 * 10 + 10
            );
            for l in 0..model.num_layers() {
                let (fan_in, fan_out) = model.layer_shape(l);
                let bound = xavier_bound(fan_in, fan_out) as f32;
                assert!(model.weight(l).iter().all(|w| w.abs() <= bound));
                let max = model.weight(l).iter().fold(0.0f32, |m, w| m.max(w.abs()));
                assert!(max > 0.9 * bound, "layer {l}: {max} vs {bound}");
                assert!(model.bias(l).iter().all(|&b| b == 0.0));
            }
            // ReCodEx mode: the two 100x100 layers start equal; otherwise they differ.
            assert_eq!(model.weight(1) == model.weight(2), recodex);
        }
        // The first weights come from the first outputs of the stream.
        let model = Mlp::new(cfg, &mut CourseRng::new(42, true)).unwrap();
        let first_draws = |fan_in: usize, fan_out: usize| {
            let mut w = vec![0.0f32; fan_in * fan_out];
            let mut g = TorchGenerator::new(42);
            xavier_uniform(&mut g, &mut w, fan_in, fan_out, CpuCapability::Default);
            w
        };
        let expected = first_draws(784, 100);
        assert_eq!(model.torch_weight(0), expected);
        assert_eq!(model.weight(0)[1], expected[784]);
        assert_eq!(model.torch_weight(3), first_draws(100, 10));
    }

    #[test]
    fn rejects_bad_shapes() {
        let mut cfg = config(1, Activation::Relu);
        cfg.hidden_layer_size = 0;
        assert!(Mlp::new(cfg, &mut CourseRng::new(1, false)).is_err());
        cfg.hidden_layers = 0;
        assert!(Mlp::new(cfg, &mut CourseRng::new(1, false)).is_ok());
        assert!(Mlp::with_params(config(1, Activation::Relu), vec![0.0; 3]).is_err());
        let model = Mlp::new(config(1, Activation::Relu), &mut CourseRng::new(1, false)).unwrap();
        let mut ws = model.batch_buffers(4);
        let mut mm = Matmul::new(1);
        assert!(model.forward(&mut mm, &mut ws, 5).is_err());
        assert!(model.forward(&mut mm, &mut ws, 0).is_err());
        assert!(model.forward(&mut mm, &mut ws, 4).is_ok());
    }
}
