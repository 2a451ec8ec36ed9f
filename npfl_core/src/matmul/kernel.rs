//! The micro-kernel choice: run-time detection, names, tile geometry and the single dispatch point.

use std::fmt;
use std::str::FromStr;

use super::MatmulError;

/// A register micro-kernel. [`Kernel::detect`] picks the fastest one this CPU runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Portable Rust, no SIMD intrinsics: the reference the others are tested against.
    Scalar,
    /// x86-64 AVX2 + FMA, 256-bit vectors.
    Avx2Fma,
    /// x86-64 AVX-512F, 512-bit vectors.
    Avx512,
    /// aarch64 NEON, 128-bit vectors (available only on aarch64).
    Neon,
}

impl Kernel {
    /// The fastest kernel this CPU supports: AVX-512F, then AVX2+FMA (x86-64), NEON (aarch64),
    /// else scalar. Depends only on the CPU (std caches the feature detection).
    pub fn detect() -> Kernel {
        *Self::available().last().unwrap_or(&Kernel::Scalar)
    }

    /// Every kernel this CPU supports, slowest (scalar) first.
    pub fn available() -> Vec<Kernel> {
        [
            Kernel::Scalar,
            Kernel::Avx2Fma,
            Kernel::Avx512,
            Kernel::Neon,
        ]
        .into_iter()
        .filter(|k| k.is_available())
        .collect()
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "aarch64")]
            Kernel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The kernel's name as [`FromStr`] accepts it: `scalar`, `avx2`, `avx512`, `neon`.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Scalar => "scalar",
            Kernel::Avx2Fma => "avx2",
            Kernel::Avx512 => "avx512",
            Kernel::Neon => "neon",
        }
    }

    /// Tile geometry and blocking of the kernel.
    pub(crate) fn geometry(self) -> Geometry {
        match self {
            Kernel::Scalar => Geometry {
                mr: 4,
                nr: 8,
                nr_narrow: 8,
                kc: 256,
                mc: 64,
                nc: 2048,
            },
            Kernel::Avx2Fma => Geometry {
                mr: 6,
                nr: 16,
                nr_narrow: 8,
                kc: 256,
                mc: 120,
                nc: 2048,
            },
            Kernel::Avx512 => Geometry {
                mr: 12,
                nr: 32,
                nr_narrow: 16,
                kc: 256,
                mc: 192,
                nc: 2048,
            },
            Kernel::Neon => Geometry {
                mr: 8,
                nr: 8,
                nr_narrow: 8,
                kc: 256,
                mc: 128,
                nc: 2048,
            },
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Kernel {
    type Err = MatmulError;

    /// `scalar`, `avx2`, `avx512`, `neon`, or `auto` for [`Kernel::detect`] (case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" => Ok(Kernel::Scalar),
            "avx2" | "avx2fma" | "avx2_fma" => Ok(Kernel::Avx2Fma),
            "avx512" | "avx512f" => Ok(Kernel::Avx512),
            "neon" => Ok(Kernel::Neon),
            "auto" => Ok(Kernel::detect()),
            _ => Err(MatmulError::UnknownKernel(s.to_string())),
        }
    }
}

/// Micro-tile and cache-block sizes of a kernel (see BLIS): `mr x nr` tiles (`nr_narrow` for a
/// last panel that fits), `kc`-deep, `mc`-row and `nc`-column blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub mr: usize,
    pub nr: usize,
    pub nr_narrow: usize,
    pub kc: usize,
    pub mc: usize,
    pub nc: usize,
}

/// One micro-kernel call: `C[0..mr, 0..nr] = alpha * sum_p a_p b_p^T + beta * C` (beta == 0:
/// C is not read).
///
/// Contract (upheld by the driver): for `p < kc`, `i < MR`, `a + p * a_ks + i` is readable; for
/// `p < kc`, `j < width`, `b + p * b_ks + j` is readable; for `i < mr`, `j < nr`,
/// `c + i * c_rs + j` is writable (and readable unless beta == 0); `mr <= MR`, `nr <= width`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tile {
    pub kc: usize,
    pub a: *const f32,
    pub a_ks: usize,
    pub b: *const f32,
    pub b_ks: usize,
    pub c: *mut f32,
    pub c_rs: usize,
    pub mr: usize,
    pub nr: usize,
    pub alpha: f32,
    pub beta: f32,
}

/// Runs the micro-kernel of `kernel` on `t`, whose B panel is `width` columns wide
/// (`geometry().nr` or `geometry().nr_narrow`).
///
/// # Safety
/// `t` satisfies the [`Tile`] contract for `MR = geometry().mr` and `width`, and the CPU supports `kernel`.
#[inline]
pub(crate) unsafe fn run_tile(kernel: Kernel, t: &Tile, width: usize) {
    match kernel {
        Kernel::Scalar => {
            // SAFETY: forwarded contract; the scalar kernel needs no CPU feature.
            unsafe { super::scalar::tile(t) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => {
            // SAFETY: forwarded contract; the caller checked AVX2 and FMA are available.
            unsafe {
                if width == 16 {
                    super::avx2::tile::<2>(t)
                } else {
                    super::avx2::tile::<1>(t)
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            // SAFETY: forwarded contract; the caller checked AVX-512F is available.
            unsafe {
                if width == 32 {
                    super::avx512::tile::<2>(t)
                } else {
                    super::avx512::tile::<1>(t)
                }
            }
        }
        #[cfg(target_arch = "aarch64")]
        Kernel::Neon => {
            // SAFETY: forwarded contract; NEON is available (checked by the caller).
            unsafe { super::neon::tile(t) }
        }
        #[allow(unreachable_patterns)]
        _ => unreachable!("kernel {kernel} is not compiled for this architecture"),
    }
}
