//! Element-wise loops compiled for the matmul kernel's instruction set, and a prefetch hint.
//!
//! Outside this module no code may be `unsafe`, so it cannot call a `#[target_feature]` function
//! itself; [`vectorized`] does that call. Loops that `f` inlines (mark them `#[inline(always)]`)
//! are then auto-vectorised with `zmm`/`ymm` registers instead of the SSE2 baseline. Mark the
//! closure itself `#[inline(always)]` too: LLVM does not inline a large closure into the
//! target-feature function by itself, and the loops then run at the baseline width. Results are
//! bitwise the same as the baseline's: Rust never contracts `a * b + c` into a fused multiply-add,
//! and IEEE addition, multiplication, division, square root and conversions round identically at
//! every vector width.

use super::Kernel;

/// Runs `f` inside a function compiled for `kernel`'s instruction set when this CPU has it, and
/// plainly otherwise.
#[inline]
pub fn vectorized<R>(kernel: Kernel, f: impl FnOnce() -> R) -> R {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
            // SAFETY: the CPU supports AVX-512F (checked on the line above, cached by std), the
            // only requirement of calling a function compiled with that target feature.
            unsafe { with_avx512(f) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma
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

    #[test]
    fn every_kernel_gives_the_baseline_bits() {
        let base: Vec<f32> = (0..1000).map(|i| i as f32 * 0.37).collect();
        let mut expected = base.clone();
        work(&mut expected);
        for kernel in Kernel::available() {
            let mut got = base.clone();
            vectorized(kernel, || work(&mut got));
            assert_eq!(got, expected, "{kernel}");
        }
    }

    #[test]
    fn prefetch_is_only_a_hint() {
        let bytes: Vec<u8> = (0..=255).collect();
        let floats: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        // Empty, one element, unaligned starts and ends, whole buffers.
        prefetch::<u8>(&[]);
        prefetch(&bytes[..1]);
        prefetch(&bytes[3..200]);
        prefetch(&bytes);
        prefetch(&floats[1..999]);
        prefetch(&floats);
        assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
        assert_eq!(floats[999], 999.0);
    }
}
