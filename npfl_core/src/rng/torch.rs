//! PyTorch's CPU random streams, reproduced bit for bit: the generator behind `torch.manual_seed`,
//! `Tensor.uniform_` on `float32`, `torch.randperm` and `Tensor.random_` on `int64`. The order in
//! which the course's `mnist_layers_activations` draws from them is [`crate::nn::CourseRng`].
//!
//! Sources (PyTorch 2.x): `aten/src/ATen/core/MT19937RNGEngine.h` (seeding), `CPUGeneratorImpl.cpp`
//! (`random`, `random64`), `core/TransformationHelper.h` (`uniform_real`, `uniform_int`),
//! `native/TensorFactories.cpp` (`randperm_cpu`).

use rand_mt::Mt;

/// Which build of torch's CPU kernels is reproduced. torch compiles its element-wise kernels once per
/// instruction set and the AVX2/AVX-512 builds fuse `x * (to - from) + from` into one multiply-add,
/// which changes the last bit of some `uniform_` values (verified against torch 2.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuCapability {
    /// `ATEN_CPU_CAPABILITY=default`, what the course's ReCodEx mode forces: no fused multiply-add.
    Default,
    /// The AVX2 or AVX-512 build torch picks by itself on a current x86-64 CPU: fused multiply-add.
    Fma,
}

/// A `torch.Generator` on the CPU: a standard MT19937 seeded by `init_genrand`.
#[derive(Clone, Debug)]
pub struct TorchGenerator {
    mt: Mt,
}

impl TorchGenerator {
    /// `torch.Generator().manual_seed(seed)`: MT19937 `init_genrand` with the low 32 bits of `seed`
    /// (torch's `mt19937(uint64_t seed)` keeps `seed & 0xffffffff`).
    pub fn new(seed: u64) -> Self {
        Self {
            mt: Mt::new(seed as u32),
        }
    }

    /// One 32-bit output (`CPUGeneratorImpl::random`).
    pub fn random(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// One 64-bit value from two outputs, the first one high (`CPUGeneratorImpl::random64`).
    pub fn random64(&mut self) -> u64 {
        let hi = u64::from(self.mt.next_u32());
        let lo = u64::from(self.mt.next_u32());
        (hi << 32) | lo
    }

    /// `torch.empty((), dtype=torch.int64).random_(generator=g).item()`: `random64() % 2^63`.
    pub fn random_int64(&mut self) -> i64 {
        (self.random64() % (1u64 << 63)) as i64
    }

    /// `tensor.uniform_(from, to)` on a contiguous `float32` tensor, element by element in memory order:
    /// `x = (random() & (2^24 - 1)) * 2^-24`, then `x * (to - from) + from` in `float32`
    /// with `from` and `to` rounded to `float32` first, the multiply-add fused or not as `capability` says.
    pub fn uniform_f32(&mut self, out: &mut [f32], from: f64, to: f64, capability: CpuCapability) {
        let from = from as f32;
        let to = to as f32;
        let range = to - from;
        for value in out {
            let x = (self.random() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0);
            *value = match capability {
                CpuCapability::Default => x * range + from,
                CpuCapability::Fma => x.mul_add(range, from),
            };
        }
    }

    /// `torch.randperm(n, generator=g)` on the CPU (the branch for `n < u32::MAX / 20`): fill with `0..n`,
    /// then for `i` in `0..n-1` swap positions `i` and `i + random() % (n - i)`.
    ///
    /// # Panics
    /// If `n >= u32::MAX / 20`, where torch switches to another algorithm.
    pub fn randperm(&mut self, n: usize, out: &mut Vec<u32>) {
        assert!(
            (n as u64) < u64::from(u32::MAX / 20),
            "randperm: n = {n} needs torch's large-n algorithm, which is not reproduced"
        );
        out.clear();
        out.extend(0..n as u32);
        for i in 0..n.saturating_sub(1) {
            let z = self.random() as usize % (n - i);
            out.swap(i, i + z);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_reference_outputs() {
        // std::mt19937(5489): the 10000th output is 4123659995 (C++ standard, [rand.predef]).
        let mut g = TorchGenerator::new(5489);
        let mut last = 0;
        for _ in 0..10000 {
            last = g.random();
        }
        assert_eq!(last, 4_123_659_995);
        // numpy RandomState(42) raw outputs (same init_genrand seeding).
        let mut g = TorchGenerator::new(42);
        assert_eq!(
            [g.random(), g.random(), g.random()],
            [1608637542, 3421126067, 4083286876]
        );
    }

    #[test]
    fn seeds_keep_low_32_bits() {
        let mut a = TorchGenerator::new(42 + (7u64 << 32));
        let mut b = TorchGenerator::new(42);
        assert_eq!(a.random64(), b.random64());
    }

    #[test]
    fn random64_is_high_then_low() {
        let mut a = TorchGenerator::new(1);
        let mut b = TorchGenerator::new(1);
        let (hi, lo) = (b.random(), b.random());
        assert_eq!(a.random64(), (u64::from(hi) << 32) | u64::from(lo));
        let v = TorchGenerator::new(3).random_int64();
        assert!(v >= 0);
    }

    #[test]
    fn uniform_uses_low_24_bits() {
        let mut a = TorchGenerator::new(7);
        let mut b = TorchGenerator::new(7);
        let mut out = [0.0f32; 5];
        a.uniform_f32(&mut out, 0.0, 1.0, CpuCapability::Default);
        for v in out {
            let r = b.random() & 0xff_ffff;
            assert_eq!(v, r as f32 / 16_777_216.0);
            assert!((0.0..1.0).contains(&v));
        }
    }

    #[test]
    fn randperm_is_a_permutation_and_forward_fisher_yates() {
        let mut g = TorchGenerator::new(42);
        let mut p = Vec::new();
        g.randperm(1000, &mut p);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<u32>>());
        // By hand for n = 3.
        let mut g = TorchGenerator::new(9);
        let mut h = TorchGenerator::new(9);
        g.randperm(3, &mut p);
        let mut e = vec![0u32, 1, 2];
        let z0 = h.random() as usize % 3;
        e.swap(0, z0);
        let z1 = h.random() as usize % 2;
        e.swap(1, 1 + z1);
        assert_eq!(p, e);
        g.randperm(0, &mut p);
        assert!(p.is_empty());
        g.randperm(1, &mut p);
        assert_eq!(p, [0]);
    }
}
