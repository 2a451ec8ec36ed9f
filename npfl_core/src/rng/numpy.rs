//! NumPy's legacy `RandomState` (MT19937) sampling: `np.random.seed` + `np.random.choice(n, k, replace=False)`.
//!
//! The course's `pca_first.py` selects its examples with the legacy global generator:
//! `np.random.seed(seed); np.random.choice(55000, examples, replace=False)`. This module
//! reproduces that draw exactly (same indices, same order):
//!
//! 1. `np.random.seed(s)` for an integer `0 <= s < 2^32` is MT19937's standard `init_genrand(s)`
//!    (numpy `_mt19937.pyx` `_legacy_seeding` → `mt19937_seed`), which is [`rand_mt::Mt::new`].
//! 2. `choice(n, k, replace=False)` without `p` is `permutation(n)[:k]` (numpy `mtrand.pyx`),
//!    i.e. `arange(n)` shuffled by the legacy Fisher–Yates from the **end**
//!    (`RandomState._shuffle_raw`: for `i` in `n-1 ..= 1`, swap `i` with `random_interval(i)`).
//! 3. `random_interval(max)` (numpy `distributions.c`) is masked rejection: the smallest all-ones mask
//!    covering `max`, 32-bit draws (64-bit, high word first, when `max >= 2^32`) ANDed with it, values
//!    above `max` rejected.
//!
//! ```
//! use npfl_core::rng::numpy::RandomState;
//! let mut rng = RandomState::new(42);
//! let idx = rng.choice_without_replacement(55_000, 4).unwrap();
//! assert_eq!(idx, [34191, 23679, 44684, 11335]);
//! ```

use rand_mt::Mt;

/// Errors of [`RandomState::choice_without_replacement`], worded as NumPy words them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumpyRngError {
    /// `k > n`: NumPy raises the same `ValueError`.
    #[error(
        "cannot take a larger sample than population when replace=False: {sample} samples from a population of {population}"
    )]
    SampleLargerThanPopulation {
        /// Requested sample size `k`.
        sample: usize,
        /// Population size `n`.
        population: usize,
    },
}

/// NumPy's legacy `RandomState` with an integer seed: the MT19937 stream plus the legacy
/// algorithms built on it (`random_interval`, `shuffle`, `permutation`, `choice` without replacement).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RandomState {
    mt: Mt,
}

impl RandomState {
    /// `np.random.seed(seed)` / `np.random.RandomState(seed)` for an integer seed (`init_genrand`).
    #[must_use]
    pub fn new(seed: u32) -> Self {
        Self { mt: Mt::new(seed) }
    }

    /// The next raw 32-bit MT19937 output (`RandomState(s)._bit_generator.random_raw()`).
    pub fn next_u32(&mut self) -> u32 {
        self.mt.next_u32()
    }

    /// A uniform integer in `0..=max` by NumPy's masked rejection (`random_interval` in
    /// `numpy/random/src/distributions/distributions.c`). `max == 0` consumes no draw.
    pub fn random_interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        mask |= mask >> 1;
        mask |= mask >> 2;
        mask |= mask >> 4;
        mask |= mask >> 8;
        mask |= mask >> 16;
        mask |= mask >> 32;
        if max <= u64::from(u32::MAX) {
            // Both fit in 32 bits; the truncating casts are exact.
            let (max, mask) = (max as u32, mask as u32);
            loop {
                let v = self.mt.next_u32() & mask;
                if v <= max {
                    return u64::from(v);
                }
            }
        } else {
            loop {
                // `Mt::next_u64` is `(first << 32) | second`, as NumPy's `mt19937_next64`.
                let v = self.mt.next_u64() & mask;
                if v <= max {
                    return v;
                }
            }
        }
    }

    /// The legacy in-place 1-D `shuffle`: Fisher–Yates from the last position down to 1.
    pub fn shuffle<T>(&mut self, values: &mut [T]) {
        for i in (1..values.len()).rev() {
            // `i` fits in u64 and the drawn `j <= i` fits back in usize.
            let j = self.random_interval(i as u64) as usize;
            values.swap(i, j);
        }
    }

    /// `np.random.permutation(n)`: `0..n` shuffled by [`RandomState::shuffle`].
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut values: Vec<usize> = (0..n).collect();
        self.shuffle(&mut values);
        values
    }

    /// `np.random.choice(n, k, replace=False)`: the first `k` entries of [`RandomState::permutation`]`(n)`,
    /// in that order. Like NumPy, it shuffles all `n` even when `k` is smaller (so the generator ends
    /// in NumPy's state), and `k == 0` still consumes the draws.
    ///
    /// # Errors
    /// [`NumpyRngError::SampleLargerThanPopulation`] when `k > n` (NumPy raises `ValueError`); the
    /// generator is then left untouched.
    pub fn choice_without_replacement(
        &mut self,
        n: usize,
        k: usize,
    ) -> Result<Vec<usize>, NumpyRngError> {
        if k > n {
            return Err(NumpyRngError::SampleLargerThanPopulation {
                sample: k,
                population: n,
            });
        }
        let mut values = self.permutation(n);
        values.truncate(k);
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same 64-bit polynomial hash as the Python that produced the expected values:
    /// `x = (x * 1000003 + v) % 2**64` over the indices in order.
    fn poly_hash(values: &[usize]) -> u64 {
        values.iter().fold(0u64, |h, &v| {
            h.wrapping_mul(1_000_003).wrapping_add(v as u64)
        })
    }

    #[test]
    fn raw_outputs_match_numpy() {
        // python3 -c "import numpy as np; print(np.random.RandomState(42)._bit_generator.random_raw(3))"
        let mut rng = RandomState::new(42);
        let raw: Vec<u32> = (0..3).map(|_| rng.next_u32()).collect();
        assert_eq!(raw, [1608637542, 3421126067, 4083286876]);
    }

    #[test]
    fn golden_seed_42_over_55000() {
        // The course's default draw (course: `labs/01/pca_first.py`): seed 42, 55,000 training images.
        let mut rng = RandomState::new(42);
        let idx = rng.choice_without_replacement(55_000, 10).unwrap();
        assert_eq!(
            idx,
            [
                34191, 23679, 44684, 11335, 22691, 32404, 53452, 50289, 586, 23900
            ]
        );
    }

    /// Expected values made with numpy 2.4.6:
    /// ```text
    /// python3 -c '
    /// import numpy as np
    /// def h(a):
    ///     x = 0
    ///     for v in a.tolist(): x = (x * 1000003 + int(v)) % 2**64
    ///     return x
    /// for s, n, k in [(42,55000,10), ...]:
    ///     np.random.seed(s); a = np.random.choice(n, k, replace=False); print(s, n, k, a[:12].tolist(), h(a))'
    /// ```
    #[test]
    fn choice_matches_numpy_for_other_seeds_and_sizes() {
        #[rustfmt::skip]
        let cases: &[(u32, usize, usize, &[usize], u64)] = &[
            (42, 55000, 10, &[34191, 23679, 44684, 11335, 22691, 32404, 53452, 50289, 586, 23900], 3696211169958196003),
            (42, 55000, 1024, &[34191, 23679, 44684, 11335, 22691, 32404, 53452, 50289, 586, 23900, 17791, 4212], 12586926058128003668),
            (42, 55000, 55000, &[34191, 23679, 44684, 11335, 22691, 32404, 53452, 50289, 586, 23900, 17791, 4212], 3181463169858181462),
            (42, 8000, 8000, &[2215, 2582, 1662, 3027, 4343, 2680, 1765, 1123, 4054, 3761, 1535, 2944], 6118733112641073550),
            (0, 10, 10, &[2, 8, 4, 9, 1, 6, 7, 3, 0, 5], 16182459811727773009),
            (1, 1000, 7, &[507, 818, 452, 368, 242, 929, 262], 4125274510346443704),
            (7, 1048579, 5, &[983479, 993910, 704221, 857278, 823622], 1950856269678404382),
            (123, 8000, 16, &[5676, 617, 415, 7687, 6708, 6864, 6664, 6905, 3390, 6725, 5757, 4714], 12894853131142320679),
            (4294967295, 100, 20, &[92, 36, 80, 77, 31, 6, 69, 20, 21, 81, 29, 48], 3570333223092614844),
            (3, 1, 1, &[0], 0),
            (5, 2, 2, &[0, 1], 1),
        ];
        for &(seed, n, k, head, hash) in cases {
            let idx = RandomState::new(seed)
                .choice_without_replacement(n, k)
                .unwrap();
            assert_eq!(idx.len(), k);
            assert_eq!(&idx[..head.len()], head, "seed {seed}, n {n}, k {k}");
            assert_eq!(poly_hash(&idx), hash, "seed {seed}, n {n}, k {k}");
        }
    }

    #[test]
    fn generator_state_after_choice_matches_numpy() {
        // np.random.seed(42); np.random.choice(55000, K, replace=False)
        // print(np.random.mtrand._rand._bit_generator.random_raw(2))   # K = 256 and K = 0 alike
        for k in [256, 0] {
            let mut rng = RandomState::new(42);
            rng.choice_without_replacement(55_000, k).unwrap();
            assert_eq!(
                [rng.next_u32(), rng.next_u32()],
                [1536484494, 881661390],
                "k = {k}"
            );
        }
    }

    #[test]
    fn random_interval_64_bit_path() {
        // Emulated from NumPy's raw stream (random_interval is not exposed in Python):
        // rs = np.random.RandomState(9); bg = rs._bit_generator; mx = 2**33 + 5; mask = 2**34 - 1
        // three times: repeat hi, lo = bg.random_raw(2); v = ((hi << 32) | lo) & mask until v <= mx
        // then bg.random_raw(1) -> 3773382528
        let mut rng = RandomState::new(9);
        let got: Vec<u64> = (0..3).map(|_| rng.random_interval((1 << 33) + 5)).collect();
        assert_eq!(got, [4352184897, 1700316789, 5650926556]);
        assert_eq!(rng.next_u32(), 3773382528);
    }

    #[test]
    fn random_interval_zero_consumes_nothing() {
        let mut a = RandomState::new(1);
        assert_eq!(a.random_interval(0), 0);
        assert_eq!(a, RandomState::new(1));
    }

    #[test]
    fn empty_population_and_too_large_samples() {
        assert_eq!(
            RandomState::new(42).choice_without_replacement(0, 0),
            Ok(vec![])
        );
        let mut rng = RandomState::new(42);
        let err = rng.choice_without_replacement(10, 11).unwrap_err();
        assert_eq!(
            err,
            NumpyRngError::SampleLargerThanPopulation {
                sample: 11,
                population: 10
            }
        );
        assert!(err.to_string().contains("larger sample than population"));
        assert_eq!(
            rng,
            RandomState::new(42),
            "a rejected call leaves the generator untouched"
        );
    }

    #[test]
    fn permutation_is_a_permutation() {
        for n in [1, 2, 3, 17, 1000] {
            let mut p = RandomState::new(n as u32).permutation(n);
            p.sort_unstable();
            assert_eq!(p, (0..n).collect::<Vec<_>>());
        }
    }
}
