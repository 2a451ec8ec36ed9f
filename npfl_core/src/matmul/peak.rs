//! A register-only FMA loop that measures the machine's floating-point peak for a kernel's ISA,
//! the ceiling the benchmark compares the micro-kernels with.

use super::kernel::{Tile, run_tile};
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
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => {
            // SAFETY: NEON availability was checked above.
            let sum = unsafe { arm::neon(iterations) };
            Ok(((iterations * arm::CHAINS as u64 * 4 * 2) as f64, sum))
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

/// Runs the micro-kernel of `kernel` `calls` times on one full tile whose packed A and B panels
/// (`kc` deep, the kernel's blocking depth) and C tile stay in L1, accumulating into C
/// (beta = 1), and returns the flops done and a value depending on C. Timed, it gives the
/// kernel's own ceiling: what it reaches with no packing, no cache misses and no edges, which
/// bounds what any product can reach with it.
///
/// # Errors
/// [`MatmulError::KernelUnavailable`] when this CPU cannot run `kernel`.
pub fn tile_loop(kernel: Kernel, calls: u64) -> Result<(f64, f32), MatmulError> {
    if !kernel.is_available() {
        return Err(MatmulError::KernelUnavailable(kernel));
    }
    let g = kernel.geometry();
    // Small values, so that C stays finite however long the loop runs.
    let a: Vec<f32> = (0..g.mr * g.kc).map(|i| (i % 7) as f32 * 1e-6).collect();
    let b: Vec<f32> = (0..g.kc * g.nr).map(|i| (i % 5) as f32 * 1e-6).collect();
    let mut c = vec![0.0f32; g.mr * g.nr];
    let tile = Tile {
        kc: g.kc,
        a: a.as_ptr(),
        a_rs: 1,
        a_ks: g.mr,
        b: b.as_ptr(),
        b_ks: g.nr,
        b_cols: g.nr,
        c: c.as_mut_ptr(),
        c_rs: g.nr,
        skip: 0,
        mr: g.mr,
        nr: g.nr,
        alpha: 1.0,
        beta: 1.0,
        pf: std::ptr::null(),
        pf_lines: 0,
        list: std::ptr::null(),
        list_len: 0,
    };
    for _ in 0..calls {
        // SAFETY: `a` is a packed mr x kc panel (a_rs = 1, a_ks = mr), `b` a packed kc x nr panel
        // (b_ks = b_cols = nr = the full width), `c` a writable and readable mr x nr tile with row
        // stride nr; all three outlive the loop, and the CPU supports `kernel` (checked above).
        unsafe { run_tile(kernel, std::hint::black_box(&tile), g.mr, g.nr) };
    }
    let flops = calls as f64 * (2 * g.mr * g.nr * g.kc) as f64;
    Ok((flops, c.iter().sum()))
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

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::{vaddvq_f32, vdupq_n_f32, vfmaq_f32};

    /// Cores with four 128-bit FMA pipes (Neoverse V2) need 16 chains to cover a 4-cycle
    /// latency; aarch64 has 32 vector registers.
    pub(super) const CHAINS: usize = 16;

    #[target_feature(enable = "neon")]
    pub(super) fn neon(iterations: u64) -> f32 {
        let mut acc = [vdupq_n_f32(1.0); CHAINS];
        let x = vdupq_n_f32(0.999_999);
        let y = vdupq_n_f32(1e-7);
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                // y + a * x, fused.
                *a = vfmaq_f32(y, *a, x);
            }
        }
        acc.iter().map(|&a| vaddvq_f32(a)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fma_loop_counts_its_flops() {
        for kernel in Kernel::available() {
            let (flops, sum) = fma_loop(kernel, 1000).unwrap();
            let (lanes, chains) = match kernel {
                Kernel::Avx512 => (16, CHAINS),
                Kernel::Avx2Fma => (8, CHAINS),
                Kernel::Neon => (4, 16),
                Kernel::Scalar => (1, CHAINS),
            };
            assert_eq!(flops, (1000 * chains * lanes * 2) as f64, "{kernel}");
            assert!(sum.is_finite() && sum > 0.0, "{kernel}: {sum}");
        }
    }

    #[test]
    fn tile_loop_computes_the_product() {
        for kernel in Kernel::available() {
            let g = kernel.geometry();
            let (flops, sum) = tile_loop(kernel, 3).unwrap();
            assert_eq!(flops, 3.0 * (2 * g.mr * g.nr * g.kc) as f64, "{kernel}");
            // C = 3 A B with the same panel values: the sum of all elements, in f64.
            let mut want = 0.0f64;
            for i in 0..g.mr {
                for j in 0..g.nr {
                    for p in 0..g.kc {
                        let a = ((i + p * g.mr) % 7) as f64 * 1e-6;
                        let b = ((j + p * g.nr) % 5) as f64 * 1e-6;
                        want += 3.0 * a * b;
                    }
                }
            }
            let rel = (sum as f64 - want).abs() / want;
            assert!(rel < 1e-4, "{kernel}: {sum} vs {want}");
        }
    }
}
