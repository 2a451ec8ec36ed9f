//! A register-only FMA loop that measures the machine's floating-point peak for a kernel's ISA,
//! the ceiling the benchmark compares the micro-kernels with.

use super::{Kernel, MatmulError};

/// Independent accumulators: enough to cover the FMA latency times the FMA ports.
const CHAINS: usize = 12;

/// Runs `iterations` steps of `CHAINS` independent vector FMAs on registers only, in the ISA of
/// `kernel`, and returns the number of floating-point operations done (2 per lane per FMA) plus a
/// value depending on every result, so the loop cannot be optimised away. Time it to get the peak.
///
/// # Errors
/// [`MatmulError::KernelUnavailable`] when this CPU cannot run `kernel`.
pub fn fma_loop(kernel: Kernel, iterations: u64) -> Result<(f64, f32), MatmulError> {
    if !kernel.is_available() {
        return Err(MatmulError::KernelUnavailable(kernel));
    }
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            // SAFETY: AVX-512F availability was checked above.
            let sum = unsafe { x86::avx512(iterations) };
            Ok(((iterations * CHAINS as u64 * 16 * 2) as f64, sum))
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => {
            // SAFETY: AVX2 and FMA availability was checked above.
            let sum = unsafe { x86::avx2(iterations) };
            Ok(((iterations * CHAINS as u64 * 8 * 2) as f64, sum))
        }
        _ => {
            let mut acc = [1.0f32; CHAINS];
            for _ in 0..iterations {
                for x in acc.iter_mut() {
                    *x = std::hint::black_box(*x) * 0.999_999 + 1e-7;
                }
            }
            Ok(((iterations * CHAINS as u64 * 2) as f64, acc.iter().sum()))
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) fn avx512(iterations: u64) -> f32 {
        let mut acc = [_mm512_set1_ps(1.0); CHAINS];
        let x = _mm512_set1_ps(0.999_999);
        let y = _mm512_set1_ps(1e-7);
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) fn avx2(iterations: u64) -> f32 {
        let mut acc = [_mm256_set1_ps(1.0); CHAINS];
        let x = _mm256_set1_ps(0.999_999);
        let y = _mm256_set1_ps(1e-7);
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        let mut out = [0.0f32; 8];
        let s = acc
            .iter()
            .fold(_mm256_setzero_ps(), |s, &a| _mm256_add_ps(s, a));
        // SAFETY: `out` holds exactly 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }
}
