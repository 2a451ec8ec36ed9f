//! The training loop of the course's `TrainableModule.fit` (course: `labs/npfl138/trainable_module.py`): shuffled train batches
//! (the last one may be short), running train loss = mean of per-batch mean losses and running train
//! accuracy over examples from the pre-update logits, both divided in `float32`; after every epoch the
//! dev loss and accuracy over the whole dev set in batches of the same size. Nothing allocates inside
//! the batch loops, and nothing prints: a per-batch callback lets a binary draw a progress bar.

use std::time::{Duration, Instant};

use super::{Adam, AdamConfig, BatchBuffers, CourseRng, Mlp, NnError, softmax_cross_entropy};
use crate::matmul::Matmul;
use crate::rows::{Features, Rows};

/// Examples with class labels.
#[derive(Clone, Copy, Debug)]
pub struct Examples<'a> {
    rows: Rows<'a>,
    labels: &'a [u8],
}

impl<'a> Examples<'a> {
    /// `labels.len()` examples of `dim` features each.
    ///
    /// # Errors
    /// [`NnError::Shape`] if the features do not hold `labels.len() * dim` values.
    pub fn new(features: Features<'a>, labels: &'a [u8], dim: usize) -> Result<Self, NnError> {
        let len = features.len();
        if len != labels.len() * dim {
            return Err(NnError::Shape(format!(
                "{len} feature values for {} examples of {dim} features",
                labels.len()
            )));
        }
        Ok(Self {
            rows: Rows::new(features, dim),
            labels,
        })
    }

    /// The number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Features per example.
    pub fn dim(&self) -> usize {
        self.rows.dim()
    }

    /// The labels.
    pub fn labels(&self) -> &'a [u8] {
        self.labels
    }

    /// Asks the CPU to fetch example `i`'s features (a hint).
    fn prefetch(&self, i: usize) {
        self.rows.prefetch(i);
    }

    /// Writes example `i`'s features into `out` (`dim` values), inlined (see [`Rows::load`]).
    #[inline(always)]
    fn load(&self, i: usize, out: &mut [f32], fused: bool) {
        self.rows.load(i, out, fused);
    }
}

/// Loss and accuracy of one phase.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Logs {
    /// Mean of the per-batch mean losses (`float32` sum and count, as npfl138's `Mean`).
    pub loss: f32,
    /// Correct predictions over examples seen, divided in `float32` (torchmetrics' micro accuracy).
    pub accuracy: f32,
}

/// Running aggregation of [`Logs`].
#[derive(Clone, Copy, Debug, Default)]
struct Tracker {
    total: f32,
    count: f32,
    correct: u64,
    seen: u64,
}

impl Tracker {
    fn update(&mut self, mean_loss: f32, correct: usize, rows: usize) {
        self.total += mean_loss;
        self.count += 1.0;
        self.correct += correct as u64;
        self.seen += rows as u64;
    }

    fn logs(&self) -> Logs {
        Logs {
            loss: self.total / self.count,
            accuracy: self.correct as f32 / self.seen as f32,
        }
    }
}

/// What a batch callback is told.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchEvent {
    /// `Some(epoch)` (1-based) while training, `None` during evaluation.
    pub epoch: Option<usize>,
    /// Batches finished in this phase.
    pub batch: usize,
    /// Batches in this phase.
    pub batches: usize,
    /// The running logs of this phase so far.
    pub logs: Logs,
}

/// One epoch's results.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochLogs {
    /// The 1-based epoch.
    pub epoch: usize,
    /// The training logs (running over the epoch).
    pub train: Logs,
    /// The dev logs after the epoch, if a dev set was given.
    pub dev: Option<Logs>,
    /// Wall time of the epoch including the dev evaluation.
    pub elapsed: Duration,
    /// Where the training part of that time went.
    pub phases: PhaseTimes,
}

/// Wall time of one training epoch's phases, summed over its batches (a profile of the epoch; the
/// clock is read six times per batch, which costs well under a microsecond).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseTimes {
    /// Gathering the batch's rows (pixels converted to `f32`) and labels.
    pub load: Duration,
    /// The forward pass: products, biases, activations.
    pub forward: Duration,
    /// The part of `forward` and `backward` spent in matrix products ([`Matmul::busy`]).
    pub products: Duration,
    /// Softmax, cross-entropy and its gradient.
    pub loss: Duration,
    /// The backward pass: products, bias sums, activation derivatives.
    pub backward: Duration,
    /// Adam's update of every parameter.
    pub adam: Duration,
}

impl EpochLogs {
    /// The course's `name=value` entries in order: `loss`, `accuracy`, then `dev:loss`, `dev:accuracy`,
    /// widened to `f64` as Python floats are.
    pub fn entries(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![
            ("loss", f64::from(self.train.loss)),
            ("accuracy", f64::from(self.train.accuracy)),
        ];
        if let Some(dev) = self.dev {
            out.push(("dev:loss", f64::from(dev.loss)));
            out.push(("dev:accuracy", f64::from(dev.accuracy)));
        }
        out
    }
}

/// Trains an [`Mlp`] with [`Adam`] and softmax cross-entropy as `TrainableModule.fit` does.
#[derive(Debug)]
pub struct Trainer {
    model: Mlp,
    adam: Adam,
    matmul: Matmul,
    rng: CourseRng,
    ws: BatchBuffers,
    batch_size: usize,
    order: Vec<u32>,
    labels: Vec<u8>,
    epoch: usize,
    phases: PhaseTimes,
}

impl Trainer {
    /// A trainer for batches of `batch_size`, drawing the epochs' orders from `rng`.
    ///
    /// # Errors
    /// [`NnError::Shape`] if `batch_size` is zero.
    pub fn new(
        model: Mlp,
        adam: AdamConfig,
        matmul: Matmul,
        rng: CourseRng,
        batch_size: usize,
    ) -> Result<Self, NnError> {
        if batch_size == 0 {
            return Err(NnError::Shape("the batch size must be positive".into()));
        }
        Ok(Self {
            adam: Adam::new(adam, model.params().len()).with_isa(matmul.kernel().isa()),
            ws: model.batch_buffers(batch_size),
            model,
            matmul,
            rng,
            batch_size,
            order: Vec::new(),
            labels: vec![0; batch_size],
            epoch: 0,
            phases: PhaseTimes::default(),
        })
    }

    /// The model.
    pub fn model(&self) -> &Mlp {
        &self.model
    }

    /// The optimiser.
    pub fn adam(&self) -> &Adam {
        &self.adam
    }

    /// Reconfigures the optimiser with `f` (its choices, such as [`Adam::with_parking`], change
    /// no result).
    pub fn map_adam(mut self, f: impl FnOnce(Adam) -> Adam) -> Self {
        self.adam = f(self.adam);
        // The training steps do not look for parked parameters whose value changed (only the
        // optimiser changes them here); one given by `f` may have parked others.
        self.adam.unpark_all();
        self
    }

    /// Epochs trained so far.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    fn check(&self, data: &Examples) -> Result<(), NnError> {
        if data.dim() != self.model.config().inputs {
            return Err(NnError::Shape(format!(
                "examples have {} features, the model takes {}",
                data.dim(),
                self.model.config().inputs
            )));
        }
        let classes = self.model.config().outputs;
        if let Some(&label) = data.labels().iter().find(|&&l| usize::from(l) >= classes) {
            return Err(NnError::Label {
                label: usize::from(label),
                classes,
            });
        }
        Ok(())
    }

    /// One epoch over `train` in a fresh shuffled order; returns the epoch's running logs.
    ///
    /// # Errors
    /// [`NnError::Shape`] for no examples or the wrong feature count, [`NnError::Label`] for a label
    /// outside the model's classes, [`NnError::Matmul`] from the products.
    pub fn train_epoch(
        &mut self,
        train: &Examples,
        on_batch: &mut dyn FnMut(&BatchEvent),
    ) -> Result<Logs, NnError> {
        self.check(train)?;
        if train.is_empty() {
            return Err(NnError::Shape("no training examples".into()));
        }
        self.epoch += 1;
        self.phases = PhaseTimes::default();
        self.rng.train_epoch_order(train.len(), &mut self.order);
        let dim = train.dim();
        let classes = self.model.config().outputs;
        let batches = train.len().div_ceil(self.batch_size);
        let mut tracker = Tracker::default();
        for (b, indices) in self.order.chunks(self.batch_size).enumerate() {
            let rows = indices.len();
            let input = self.ws.input_mut();
            let labels = &mut self.labels;
            // The next batch's rows are scattered over the data set: ask for them now, so that
            // they arrive while this batch computes.
            let next = ((b + 1) * self.batch_size).min(train.len());
            for &i in &self.order[next..(next + self.batch_size).min(train.len())] {
                train.prefetch(i as usize);
            }
            let t0 = Instant::now();
            let isa = self.matmul.kernel().isa();
            // Pixels scaled without a divide where the code has FMA (the same bits).
            let fused = isa.has_fma();
            crate::isa::vectorized(
                isa,
                // Inlined into the target-feature function, so the pixel conversion runs at the
                // kernel's width (LLVM does not inline this closure by itself).
                #[inline(always)]
                || {
                    for (r, &i) in indices.iter().enumerate() {
                        train.load(i as usize, &mut input[r * dim..(r + 1) * dim], fused);
                        labels[r] = train.labels()[i as usize];
                    }
                },
            );
            let t1 = Instant::now();
            let busy = self.matmul.busy();
            self.model.forward(&mut self.matmul, &mut self.ws, rows)?;
            let t2 = Instant::now();
            let (logits, grad) = self.ws.logits_and_grad_mut(rows);
            let out = softmax_cross_entropy(logits, classes, &self.labels[..rows], Some(grad))?;
            let t3 = Instant::now();
            self.model.backward(&mut self.matmul, &mut self.ws, rows)?;
            let t4 = Instant::now();
            self.adam
                .step_unchanged(self.model.params_mut(), self.ws.grads());
            let t5 = Instant::now();
            self.phases.load += t1 - t0;
            self.phases.forward += t2 - t1;
            self.phases.loss += t3 - t2;
            self.phases.backward += t4 - t3;
            self.phases.adam += t5 - t4;
            self.phases.products += self.matmul.busy() - busy;
            tracker.update(out.mean_loss, out.correct, rows);
            on_batch(&BatchEvent {
                epoch: Some(self.epoch),
                batch: b + 1,
                batches,
                logs: tracker.logs(),
            });
        }
        Ok(tracker.logs())
    }

    /// Loss and accuracy over `data` in batches of the batch size, in order, without training
    /// (one iteration of an unshuffled `DataLoader`, which also draws its base seed).
    ///
    /// # Errors
    /// As [`Trainer::train_epoch`].
    pub fn evaluate(
        &mut self,
        data: &Examples,
        on_batch: &mut dyn FnMut(&BatchEvent),
    ) -> Result<Logs, NnError> {
        self.check(data)?;
        if data.is_empty() {
            return Err(NnError::Shape("no examples to evaluate".into()));
        }
        self.rng.dev_iteration();
        let dim = data.dim();
        let classes = self.model.config().outputs;
        let batches = data.len().div_ceil(self.batch_size);
        let mut tracker = Tracker::default();
        for b in 0..batches {
            let start = b * self.batch_size;
            let rows = self.batch_size.min(data.len() - start);
            let input = self.ws.input_mut();
            let isa = self.matmul.kernel().isa();
            let fused = isa.has_fma();
            crate::isa::vectorized(
                isa,
                // Inlined into the target-feature function, so the pixel conversion runs at the
                // kernel's width (LLVM does not inline this closure by itself).
                #[inline(always)]
                || {
                    for r in 0..rows {
                        data.load(start + r, &mut input[r * dim..(r + 1) * dim], fused);
                    }
                },
            );
            self.model.forward(&mut self.matmul, &mut self.ws, rows)?;
            let out = softmax_cross_entropy(
                self.ws.logits(rows),
                classes,
                &data.labels()[start..start + rows],
                None,
            )?;
            tracker.update(out.mean_loss, out.correct, rows);
            on_batch(&BatchEvent {
                epoch: None,
                batch: b + 1,
                batches,
                logs: tracker.logs(),
            });
        }
        Ok(tracker.logs())
    }

    /// `epochs` epochs of [`Trainer::train_epoch`], each followed by [`Trainer::evaluate`] on `dev`;
    /// `on_epoch` gets each epoch's logs. Returns the last epoch's logs (`None` for zero epochs).
    ///
    /// # Errors
    /// As [`Trainer::train_epoch`].
    pub fn fit(
        &mut self,
        train: &Examples,
        dev: Option<&Examples>,
        epochs: usize,
        on_batch: &mut dyn FnMut(&BatchEvent),
        on_epoch: &mut dyn FnMut(&EpochLogs),
    ) -> Result<Option<EpochLogs>, NnError> {
        let mut last = None;
        for _ in 0..epochs {
            let start = Instant::now();
            let train_logs = self.train_epoch(train, on_batch)?;
            let dev_logs = match dev {
                Some(dev) => Some(self.evaluate(dev, on_batch)?),
                None => None,
            };
            let logs = EpochLogs {
                epoch: self.epoch,
                train: train_logs,
                dev: dev_logs,
                elapsed: start.elapsed(),
                phases: self.phases,
            };
            on_epoch(&logs);
            last = Some(logs);
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::{Activation, MlpConfig};
    use crate::rng::torch::{CpuCapability, TorchGenerator};

    /// Four Gaussian-ish clusters in 2-D, one per class.
    fn clusters(n: usize) -> (Vec<f32>, Vec<u8>) {
        let mut g = TorchGenerator::new(5);
        let mut noise = vec![0.0f32; 2 * n];
        g.uniform_f32(&mut noise, -0.4, 0.4, CpuCapability::Default);
        let centres = [(1.0, 1.0), (-1.0, 1.0), (-1.0, -1.0), (1.0, -1.0)];
        let mut x = Vec::with_capacity(2 * n);
        let mut y = Vec::with_capacity(n);
        for i in 0..n {
            let c = i % 4;
            x.push(centres[c].0 + noise[2 * i]);
            x.push(centres[c].1 + noise[2 * i + 1]);
            y.push(c as u8);
        }
        (x, y)
    }

    fn trainer(
        activation: Activation,
        hidden_layers: usize,
        threads: usize,
        batch_size: usize,
    ) -> Trainer {
        let cfg = MlpConfig {
            inputs: 2,
            hidden_layers,
            hidden_layer_size: 16,
            outputs: 4,
            activation,
        };
        let mut rng = CourseRng::new(42, false);
        let model = Mlp::new(cfg, &mut rng).unwrap();
        let adam = AdamConfig {
            lr: 0.01,
            ..AdamConfig::default()
        };
        Trainer::new(model, adam, Matmul::new(threads), rng, batch_size).unwrap()
    }

    #[test]
    fn a_tiny_problem_reaches_full_training_accuracy() {
        let (x, y) = clusters(203); // 203 = 25 batches of 8 and a short one of 3
        let data = Examples::new(Features::F32(&x), &y, 2).unwrap();
        for activation in Activation::ALL {
            for hidden_layers in [0, 1, 2] {
                let mut t = trainer(activation, hidden_layers, 1, 8);
                let mut batches = 0;
                let mut epochs = Vec::new();
                let last = t
                    .fit(&data, Some(&data), 30, &mut |_| batches += 1, &mut |e| {
                        epochs.push(e.epoch)
                    })
                    .unwrap()
                    .unwrap();
                assert_eq!(batches, 30 * (26 + 26));
                assert_eq!(epochs, (1..=30).collect::<Vec<_>>());
                let dev = last.dev.unwrap();
                assert_eq!(
                    dev.accuracy, 1.0,
                    "{activation} x {hidden_layers}: {last:?}"
                );
                assert!(
                    last.train.loss < 0.3,
                    "{activation} x {hidden_layers}: {last:?}"
                );
            }
        }
    }

    /// The epoch's phase times are measured and lie within the epoch's wall time (so a new epoch
    /// starts them from zero), the products within forward and backward.
    #[test]
    fn phase_times_add_up_within_the_epoch() {
        let (x, y) = clusters(2003);
        let data = Examples::new(Features::F32(&x), &y, 2).unwrap();
        let dev = Examples::new(Features::F32(&x[..80]), &y[..40], 2).unwrap();
        let mut t = trainer(Activation::Relu, 2, 1, 8);
        let mut epochs = Vec::new();
        t.fit(&data, Some(&dev), 2, &mut |_| {}, &mut |e| epochs.push(*e))
            .unwrap();
        for e in &epochs {
            let p = e.phases;
            for (name, d) in [
                ("load", p.load),
                ("forward", p.forward),
                ("loss", p.loss),
                ("backward", p.backward),
                ("adam", p.adam),
                ("products", p.products),
            ] {
                assert!(d > Duration::ZERO, "{name}: {p:?}");
            }
            assert!(
                p.load + p.forward + p.loss + p.backward + p.adam <= e.elapsed,
                "{e:?}"
            );
            assert!(p.products <= p.forward + p.backward, "{p:?}");
        }
        // (Summed over both epochs, the second epoch's phases would exceed its wall time.)
    }

    #[test]
    fn running_logs_are_reported_after_every_batch() {
        let (x, y) = clusters(10);
        let data = Examples::new(Features::F32(&x), &y, 2).unwrap();
        let mut t = trainer(Activation::Relu, 1, 1, 4);
        let mut events = Vec::new();
        let logs = t.train_epoch(&data, &mut |e| events.push(*e)).unwrap();
        // Batches of 4, 4 and 2: an event after each, the last one holding the epoch's logs (how
        // the loss is averaged: the_epoch_loss_is_the_unweighted_mean_of_the_batch_means).
        assert_eq!(events.len(), 3);
        assert_eq!(events[2].logs.loss, logs.loss);
        assert_eq!(events.last().unwrap().logs, logs);
        assert_eq!(events[2].batches, 3);
        assert!(events.iter().all(|e| e.epoch == Some(1)));
        let ev = t.evaluate(&data, &mut |_| {}).unwrap();
        assert!(ev.accuracy >= 0.0 && ev.accuracy <= 1.0);
        let correct = (ev.accuracy * 10.0).round();
        assert_eq!(ev.accuracy, correct / 10.0);
    }

    #[test]
    fn the_epoch_loss_is_the_unweighted_mean_of_the_batch_means() {
        // With a zero learning rate every example keeps its loss, so each batch's mean is a mean
        // of a subset of the examples' losses. Batches of 4, 4 and 2: unweighted, the running
        // means r1, r2, r3 give the batch means r1, 2 r2 - r1 and 3 r3 - 2 r2; weighted by batch
        // size, the last batch's mean would be (10 r3 - 8 r2) / 2 instead.
        let (x, y) = clusters(10);
        let data = Examples::new(Features::F32(&x), &y, 2).unwrap();
        let cfg = MlpConfig {
            inputs: 2,
            hidden_layers: 1,
            hidden_layer_size: 16,
            outputs: 4,
            activation: Activation::Relu,
        };
        let mut rng = CourseRng::new(42, false);
        let model = Mlp::new(cfg, &mut rng).unwrap();
        let frozen = AdamConfig {
            lr: 0.0,
            ..AdamConfig::default()
        };
        let mut t = Trainer::new(model, frozen, Matmul::new(1), rng, 4).unwrap();
        let each: Vec<f64> = (0..10)
            .map(|i| {
                let one = Examples::new(Features::F32(&x[2 * i..2 * i + 2]), &y[i..=i], 2).unwrap();
                f64::from(t.evaluate(&one, &mut |_| {}).unwrap().loss)
            })
            .collect();
        let mut events = Vec::new();
        let logs = t.train_epoch(&data, &mut |e| events.push(*e)).unwrap();
        let r: Vec<f64> = events.iter().map(|e| f64::from(e.logs.loss)).collect();
        assert_eq!(r.len(), 3);
        // Whether `mean` is the mean of `size` of the examples' losses.
        let is_mean_of = |mean: f64, size: usize| {
            (0u32..1 << 10)
                .filter(|m| m.count_ones() as usize == size)
                .any(|m| {
                    let sum: f64 = (0..10).filter(|i| m >> i & 1 == 1).map(|i| each[i]).sum();
                    (sum / size as f64 - mean).abs() < 1e-5
                })
        };
        assert!(is_mean_of(r[0], 4), "first batch {r:?} {each:?}");
        assert!(is_mean_of(2.0 * r[1] - r[0], 4), "second batch {r:?}");
        assert!(is_mean_of(3.0 * r[2] - 2.0 * r[1], 2), "last batch {r:?}");
        // ... and not the mean over examples (which weights the batches by their sizes).
        let weighted = each.iter().sum::<f64>() / 10.0;
        assert!(
            (f64::from(logs.loss) - weighted).abs() > 1e-4,
            "{logs:?} {weighted}"
        );
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        let (x, y) = clusters(300);
        let data = Examples::new(Features::F32(&x), &y, 2).unwrap();
        let mut runs = Vec::new();
        for threads in [1, 2] {
            let mut t = trainer(Activation::Tanh, 2, threads, 32);
            let logs = t
                .fit(&data, Some(&data), 3, &mut |_| {}, &mut |_| {})
                .unwrap()
                .unwrap();
            let bits: Vec<u32> = t.model().params().iter().map(|v| v.to_bits()).collect();
            runs.push((bits, logs.train, logs.dev));
        }
        assert_eq!(runs[0], runs[1]);
    }

    #[test]
    fn rejects_bad_data() {
        let (x, mut y) = clusters(8);
        assert!(Examples::new(Features::F32(&x), &y, 3).is_err());
        y[3] = 4;
        let data = Examples::new(Features::F32(&x), &y, 2).unwrap();
        let mut t = trainer(Activation::Relu, 1, 1, 4);
        assert!(matches!(
            t.train_epoch(&data, &mut |_| {}),
            Err(NnError::Label {
                label: 4,
                classes: 4
            })
        ));
        let empty = Examples::new(Features::F32(&[]), &[], 2).unwrap();
        assert!(t.evaluate(&empty, &mut |_| {}).is_err());
        assert!(
            Trainer::new(
                t.model().clone(),
                AdamConfig::default(),
                Matmul::new(1),
                CourseRng::new(1, false),
                0
            )
            .is_err()
        );
    }
}
