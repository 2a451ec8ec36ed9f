//! The course's use of torch's random streams (`mnist_layers_activations.py` after
//! `npfl138.startup`): the order of the draws ([`CourseRng`]) and the Keras-style Xavier-uniform
//! initialisation ([`xavier_uniform`], [`xavier_bound`]). The generator itself is
//! [`crate::rng::torch`]; the draws follow `torch/nn/init.py` and
//! `torch/utils/data/{dataloader,sampler}.py`.

use crate::rng::torch::{CpuCapability, TorchGenerator};

/// The bound of torch's `xavier_uniform_` with gain 1, computed as torch does:
/// `sqrt(3) * sqrt(2 / (fan_in + fan_out))` (mathematically `sqrt(6 / (fan_in + fan_out))`).
pub fn xavier_bound(fan_in: usize, fan_out: usize) -> f64 {
    let std = (2.0 / (fan_in + fan_out) as f64).sqrt();
    3.0f64.sqrt() * std
}

/// `torch.nn.init.xavier_uniform_(w)` with gain 1 for a weight of shape `[fan_out, fan_in]`, drawn
/// from `g` in row-major order: `a = sqrt(3) * sqrt(2 / (fan_in + fan_out))` in `float64`, then
/// `uniform_(-a, a)`.
pub fn xavier_uniform(
    g: &mut TorchGenerator,
    weight: &mut [f32],
    fan_in: usize,
    fan_out: usize,
    capability: CpuCapability,
) {
    let a = xavier_bound(fan_in, fan_out);
    g.uniform_f32(weight, -a, a, capability);
}

/// The random streams of the course's `mnist_layers_activations.py` after `npfl138.startup(seed, recodex)`
/// (course: `labs/npfl138/startup_impl.py`).
///
/// - Without `recodex`, everything draws from one global generator seeded with `seed`: each initialiser
///   in layer order; then every epoch the train `DataLoader` iterator draws a 64-bit base seed, the
///   `RandomSampler` draws an `int64` seed for a fresh generator that runs `randperm`; every dev
///   iteration draws one more 64-bit base seed.
/// - With `recodex`, every initialiser call gets a fresh generator seeded with `seed` (so same-shaped
///   layers start equal), and each `DataLoader` has its own generator seeded with `seed`: the train one
///   draws a base seed and then runs `randperm` on the same generator each epoch, twice (the sampler's
///   trailing `randperm(n)[:num_samples % n]` consumes a whole permutation's draws).
///
/// The initial weights follow torch's [`CpuCapability::Default`] kernels in ReCodEx mode (which forces
/// them) and its [`CpuCapability::Fma`] ones otherwise (what torch picks on an AVX2 or AVX-512 CPU).
#[derive(Clone, Debug)]
pub struct CourseRng {
    seed: u64,
    recodex: bool,
    capability: CpuCapability,
    global: TorchGenerator,
    train_loader: TorchGenerator,
    dev_loader: TorchGenerator,
    scratch: TorchGenerator,
}

impl CourseRng {
    /// The state right after `startup(seed, recodex=recodex)`.
    pub fn new(seed: u64, recodex: bool) -> Self {
        Self {
            seed,
            recodex,
            capability: if recodex {
                CpuCapability::Default
            } else {
                CpuCapability::Fma
            },
            global: TorchGenerator::new(seed),
            train_loader: TorchGenerator::new(seed),
            dev_loader: TorchGenerator::new(seed),
            scratch: TorchGenerator::new(seed),
        }
    }

    /// Whether this is ReCodEx mode.
    pub fn recodex(&self) -> bool {
        self.recodex
    }

    /// The torch kernel build whose rounding the initialisers reproduce.
    pub fn capability(&self) -> CpuCapability {
        self.capability
    }

    /// Reproduce another kernel build's rounding instead (e.g. a torch without AVX2 outside ReCodEx mode).
    pub fn with_capability(mut self, capability: CpuCapability) -> Self {
        self.capability = capability;
        self
    }

    /// The seed given to `startup`.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The generator one initialiser call draws from: a fresh one seeded with `seed` in ReCodEx mode,
    /// the global one otherwise.
    pub fn initializer(&mut self) -> &mut TorchGenerator {
        if self.recodex {
            self.scratch = TorchGenerator::new(self.seed);
            &mut self.scratch
        } else {
            &mut self.global
        }
    }

    /// `torch.nn.init.xavier_uniform_` on a `[fan_out, fan_in]` weight, from [`CourseRng::initializer`]
    /// with this stream's [`CpuCapability`].
    pub fn xavier_uniform(&mut self, weight: &mut [f32], fan_in: usize, fan_out: usize) {
        let capability = self.capability;
        xavier_uniform(self.initializer(), weight, fan_in, fan_out, capability);
    }

    /// The order of the next epoch's shuffled train examples, as one iteration of
    /// `DataLoader(train, shuffle=True)` produces it, written into `order` (reusing its allocation).
    pub fn train_epoch_order(&mut self, n: usize, order: &mut Vec<u32>) {
        if self.recodex {
            self.train_loader.random_int64(); // _BaseDataLoaderIter._base_seed
            self.train_loader.randperm(n, order);
            // RandomSampler.__iter__ then runs `randperm(n)[:num_samples % n]`, an empty slice of a
            // full permutation that still consumes n - 1 outputs when the loader is exhausted.
            for _ in 1..n {
                self.train_loader.random();
            }
        } else {
            self.global.random_int64(); // _BaseDataLoaderIter._base_seed
            let seed = self.global.random_int64(); // RandomSampler.__iter__
            TorchGenerator::new(seed as u64).randperm(n, order);
        }
    }

    /// The draw of one iteration of the (unshuffled) dev `DataLoader`: its 64-bit base seed.
    pub fn dev_iteration(&mut self) {
        if self.recodex {
            self.dev_loader.random_int64();
        } else {
            self.global.random_int64();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xavier_bounds_match_the_spec_table() {
        for (fi, fo, b) in [
            (784, 100, 0.082385),
            (100, 100, 0.173205),
            (100, 10, 0.233550),
            (784, 10, 0.086929),
        ] {
            assert!((xavier_bound(fi, fo) - b).abs() < 1e-6, "{fi}x{fo}");
        }
    }

    #[test]
    fn recodex_initializers_restart_the_stream() {
        let mut rng = CourseRng::new(42, true);
        let mut a = vec![0.0; 100];
        let mut b = vec![0.0; 100];
        rng.xavier_uniform(&mut a, 100, 100);
        rng.xavier_uniform(&mut b, 100, 100);
        assert_eq!(a, b);
        let mut rng = CourseRng::new(42, false);
        rng.xavier_uniform(&mut a, 100, 100);
        rng.xavier_uniform(&mut b, 100, 100);
        assert_ne!(a, b);
    }
}
