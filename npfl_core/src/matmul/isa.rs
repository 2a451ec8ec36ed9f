//! The CPU's vector instruction sets: run-time detection, element-wise loops compiled for one of
//! them, and a prefetch hint. Re-exported as [`crate::isa`]; the code lives under `matmul` because
//! calling a `#[target_feature]` function and the prefetch intrinsic are `unsafe`, and all of the
//! crate's `unsafe` lives in the matmul module.
//!
//! Outside this module no code may be `unsafe`, so it cannot call a `#[target_feature]` function
//! itself; [`vectorized`] does that call. Loops that `f` inlines (mark them `#[inline(always)]`)
//! are then auto-vectorised with `zmm`/`ymm` registers instead of the SSE2 baseline. Mark the
//! closure itself `#[inline(always)]` too: LLVM does not inline a large closure into the
//! target-feature function by itself, and the loops then run at the baseline width. Results are
//! bitwise the same as the baseline's: Rust never contracts `a * b + c` into a fused multiply-add,
//! and IEEE addition, multiplication, division, square root and conversions round identically at
//! every vector width.

use std::fmt;

/// A vector instruction set the crate compiles code for. [`Isa::detect`] picks the widest one
/// this CPU runs; each matmul [`Kernel`](crate::matmul::Kernel) is written for one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// No extension beyond the target's baseline (SSE2 on x86-64).
    Baseline,
    /// x86-64 AVX2 + FMA, 256-bit vectors.
    Avx2Fma,
    /// x86-64 AVX-512F, 512-bit vectors.
    Avx512,
    /// aarch64 NEON, 128-bit vectors (available only on aarch64).
    Neon,
}

impl Isa {
    /// Every instruction set, narrowest (the baseline) first.
    pub const ALL: [Isa; 4] = [Isa::Baseline, Isa::Avx2Fma, Isa::Avx512, Isa::Neon];

    /// The widest instruction set this CPU supports: AVX-512F, then AVX2+FMA (x86-64), NEON
    /// (aarch64), else the baseline. Depends only on the CPU (std caches the feature detection).
    pub fn detect() -> Isa {
        *Self::available().last().unwrap_or(&Isa::Baseline)
    }

    /// Every instruction set this CPU supports, the baseline first.
    pub fn available() -> Vec<Isa> {
        Self::ALL.into_iter().filter(|i| i.is_available()).collect()
    }

    /// Whether this CPU supports the instruction set.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether code compiled for this instruction set (inside [`vectorized`]) has a fused
    /// multiply-add instruction: every one but the baseline, where `f32::mul_add` is a library
    /// call.
    pub fn has_fma(self) -> bool {
        self != Isa::Baseline
    }

    /// A short lower-case name: `baseline`, `avx2`, `avx512`, `neon`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2Fma => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Runs `f` inside a function compiled for `isa` when this CPU has it, and plainly otherwise.
#[inline]
pub fn vectorized<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
            // SAFETY: the CPU supports AVX-512F (checked on the line above, cached by std), the
            // only requirement of calling a function compiled with that target feature.
            unsafe { with_avx512(f) }
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma") =>
        {
            // SAFETY: the CPU supports AVX2 and FMA (checked on the lines above).
            unsafe { with_avx2(f) }
        }
        _ => f(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Asks the CPU to bring `data` into its caches ahead of use, one request per 64-byte line. A
/// hint: it never faults, changes no value and may be ignored; a no-op off x86-64. For rows
/// that will be read soon in an order the hardware prefetchers cannot guess.
#[inline]
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let bytes = std::mem::size_of_val(data);
        let p = data.as_ptr().cast::<i8>();
        let line = |off: usize| {
            // SAFETY: a prefetch is only a hint: it reads no value, never faults and writes
            // nothing; the address is inside `data` (off < bytes); SSE is part of x86-64.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(p.add(off)) }
        };
        for off in (0..bytes).step_by(64) {
            line(off);
        }
        if bytes > 0 {
            // The last line, when `data` does not start on a line boundary.
            line(bytes - 1);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[inline(always)]
    fn work(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = (*v * 1.5 + 0.25).sqrt() / 3.0;
        }
    }

    /// Only the baseline lacks FMA (the fused division and pixel scaling rely on it).
    #[test]
    fn only_the_baseline_lacks_fma() {
        for isa in Isa::ALL {
            assert_eq!(isa.has_fma(), isa != Isa::Baseline, "{isa}");
        }
    }

    #[test]
    fn every_isa_gives_the_baseline_bits() {
        let base: Vec<f32> = (0..1000).map(|i| i as f32 * 0.37).collect();
        let mut expected = base.clone();
        work(&mut expected);
        for isa in Isa::available() {
            let mut got = base.clone();
            vectorized(isa, || work(&mut got));
            assert_eq!(got, expected, "{isa}");
        }
    }
}
