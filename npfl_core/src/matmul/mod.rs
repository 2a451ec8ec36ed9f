//! `C = alpha * op(A) * op(B) + beta * C` on row-major `f32` matrices, BLIS-style with SIMD micro-kernels.
//!
//! The structure follows BLIS (and the `matrixmultiply` crate): the driver in `driver.rs` splits
//! the product into `NC`-column, `KC`-deep and `MC`-row blocks (`MC` and `NC` from the machine's
//! cache sizes at run time, [`Blocking`]; `KC` fixed), packs panels of `op(A)` (`MR` rows)
//! and `op(B)` (`NR` columns) into buffers owned by [`Matmul`], and hands each `MR x NR` tile of `C`
//! to a register micro-kernel:
//!
//! * `scalar.rs`: portable Rust, the reference and test oracle (4 x 8 tile; `f32::mul_add`,
//!   compiled for the FMA unit when the CPU has one, else emulated exactly);
//! * `avx2.rs`: AVX2 + FMA (6 x 16 tile, 12 `ymm` accumulators);
//! * `avx512.rs`: AVX-512F (14 x 32 tile, 28 `zmm` accumulators; and the column tails, the last
//!   1-16 columns past the full panels or a product that narrow, with the rows as vector lanes:
//!   `column_tail` where op(A) has unit row stride, `column_tail_rows` (up to 10 columns) through
//!   16 x 8 or 16 x 4 register transposes where it has unit k stride);
//! * `neon.rs`: aarch64 NEON (8 x 8 tile), compiled only on aarch64.
//!
//! Beside the GEMM: `gram_u8.rs`, the exact integer Gram matrix of `u8` rows ([`Matmul::gram_u8`],
//! AVX-512 VNNI or AVX-VNNI), and `symv.rs`, the power iteration's product of a symmetric matrix
//! (its upper triangle) and a vector ([`crate::pca::power_iteration`]).
//!
//! The kernel is chosen once, at run time, by [`Kernel::detect`] (the CPU's [`crate::isa::Isa`]);
//! nothing depends on `-C target-cpu`. When the other output dimension is at most 256, `op(A)`
//! (either layout: the kernels take both strides) and a row-major `op(B)` are read in place
//! instead of packed; a partial last row panel is shifted up to overlap the previous one, and a
//! partial last column panel is loaded under a mask. So the MLP's `X W` packs nothing, `X^T dH`
//! packs only the small `dH`, and `dH W^T` packs `W^T` with 8 x 8 AVX transposes.
//!
//! Threads split the output `C` into disjoint stripes only (never the `K` dimension), and the
//! `K` blocking depends only on the shape, so every element is computed by the same sequence of
//! floating-point operations whatever the thread count: results are bitwise identical for every
//! `threads`. They are also bitwise identical for every kernel, so a training run prints the same
//! digits on every CPU: every kernel computes each element of `C` in one accumulator starting at
//! zero, one fused multiply-add (a single rounding) per `p` in increasing order within each
//! `kc`-deep block (`kc` depends only on `k`, the same for every kernel), then stores
//! `alpha * acc` (first block with `beta == 0`) or `fma(acc, alpha, beta' * C)` (`beta' = beta`
//! for the first block, 1 for the others). Products under 2^23 flops
//! (`2 m n k`) run on the calling thread; larger ones spawn scoped threads for the call, the
//! only allocation a warmed-up `Matmul` makes.
//!
//! ```
//! use npfl_core::matmul::{MatMut, MatRef, Matmul, Op};
//! let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 x 3
//! let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]; // 3 x 2
//! let mut c = [0.0; 4];
//! let mut mm = Matmul::new(1);
//! mm.gemm(
//!     1.0,
//!     MatRef::new(&a, 2, 3)?,
//!     Op::N,
//!     MatRef::new(&b, 3, 2)?,
//!     Op::N,
//!     0.0,
//!     MatMut::new(&mut c, 2, 2)?,
//! )?;
//! assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
//! # Ok::<(), npfl_core::matmul::MatmulError>(())
//! ```

/// Adam's update loop with AVX-512 intrinsics (`nn::adam` runs it).
pub(crate) mod adam_avx512;
/// The `matrixmultiply` and `gemm` crates' products and a thread CPU clock, wrapped safely for
/// the `matmul_bench` example: compiled only with the `bench` feature, not public API.
#[cfg(feature = "bench")]
pub mod baselines;
mod blocking;
mod driver;
mod gram_u8;
pub(crate) mod isa;
mod kernel;
mod pack;
/// The FMA-peak loops the `matmul_bench` example compares the kernels with: a benchmark helper,
/// compiled only with the `bench` feature (and for the unit tests), not public API.
#[cfg(any(test, feature = "bench"))]
pub mod peak;
mod scalar;
pub(crate) mod symv;
mod view;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;

use std::time::{Duration, Instant};

pub use blocking::{Blocking, CacheSizes};
#[cfg(test)]
pub(crate) use gram_u8::sum_in_parts;
pub use gram_u8::{GramU8, GramU8Sum};
pub use kernel::Kernel;
pub use view::{MatMut, MatRef};

use driver::{PackBuffers, Problem};

/// Whether an operand enters the product as is or transposed: `op(X) = X` or `X^T`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `op(X) = X`.
    N,
    /// `op(X) = X^T`.
    T,
}

/// Errors of the matmul module: bad views, mismatched shapes, unknown or unavailable kernels.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MatmulError {
    /// The slice is too short for the requested rows, columns and row stride.
    #[error(
        "matrix view {rows}x{cols} with row stride {row_stride} needs {needed} elements, the slice has {len}"
    )]
    DataTooShort {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Distance between the starts of consecutive rows, in elements.
        row_stride: usize,
        /// Elements the view needs.
        needed: usize,
        /// Elements the slice has.
        len: usize,
    },
    /// The row stride is smaller than the number of columns, so rows would overlap.
    #[error("matrix view row stride {row_stride} is smaller than its {cols} columns")]
    StrideTooSmall {
        /// Columns of the view.
        cols: usize,
        /// The offending row stride.
        row_stride: usize,
    },
    /// An ndarray view whose columns are not contiguous (column stride other than 1) or
    /// whose row stride is negative.
    #[error(
        "ndarray view with strides ({row_stride}, {col_stride}) is not row-major with unit column stride"
    )]
    UnsupportedLayout {
        /// The view's row stride.
        row_stride: isize,
        /// The view's column stride.
        col_stride: isize,
    },
    /// The shapes of `op(A)`, `op(B)` and `C` do not fit together.
    #[error("{op}: shapes do not fit: op(A) is {a:?}, op(B) is {b:?}, C is {c:?}")]
    ShapeMismatch {
        /// The operation (`gemm` or `gram`).
        op: &'static str,
        /// Shape (rows, cols) of `op(A)`.
        a: (usize, usize),
        /// Shape (rows, cols) of `op(B)`.
        b: (usize, usize),
        /// Shape (rows, cols) of `C`.
        c: (usize, usize),
    },
    /// A row index of [`Matmul::gram_u8`] points past the end of the matrix.
    #[error("row {row} is out of range for a matrix of {rows} rows")]
    RowOutOfRange {
        /// The offending row index.
        row: usize,
        /// Rows of the matrix.
        rows: usize,
    },
    /// A kernel name other than `scalar`, `avx2`, `avx512`, `neon` or `auto`.
    #[error("unknown matmul kernel {0:?}: expected scalar, avx2, avx512, neon or auto")]
    UnknownKernel(String),
    /// The kernel was forced with [`Matmul::with_kernel`] but this CPU cannot run it.
    #[error("matmul kernel {0} is not supported by this CPU")]
    KernelUnavailable(Kernel),
}

/// `(m, k, n)` of `C = op(A) op(B)`, or [`MatmulError::ShapeMismatch`] naming `op`.
fn product_shape(
    op: &'static str,
    a: &MatRef,
    op_a: Op,
    b: &MatRef,
    op_b: Op,
    c: &MatMut,
) -> Result<(usize, usize, usize), MatmulError> {
    let (m, ka) = a.op_shape(op_a);
    let (kb, n) = b.op_shape(op_b);
    if ka != kb || c.rows() != m || c.cols() != n {
        return Err(MatmulError::ShapeMismatch {
            op,
            a: (m, ka),
            b: (kb, n),
            c: (c.rows(), c.cols()),
        });
    }
    Ok((m, ka, n))
}

/// Owns the kernel choice, the thread count and the packing buffers: no allocation per call after warm-up.
///
/// [`Matmul::gemm`] takes `&mut self` because it packs into these buffers; keep one `Matmul`
/// per model (or per thread of the caller) and reuse it.
#[derive(Debug)]
pub struct Matmul {
    kernel: Kernel,
    blocking: Blocking,
    threads: usize,
    pack_buffers: Vec<PackBuffers>,
    /// Wall time spent in `gemm` and `gram` so far (a profile: two clock reads per call).
    busy: Duration,
}

impl Matmul {
    /// A multiplier using [`Kernel::detect`] and `threads` threads (0 is treated as 1).
    pub fn new(threads: usize) -> Self {
        Self::with_kernel(Kernel::detect(), threads)
    }

    /// A multiplier forced to use `kernel` (0 threads are treated as 1).
    ///
    /// If this CPU cannot run `kernel`, every [`Matmul::gemm`] / [`Matmul::gram`] call returns
    /// [`MatmulError::KernelUnavailable`]; nothing unsupported is ever executed.
    pub fn with_kernel(kernel: Kernel, threads: usize) -> Self {
        let threads = threads.max(1);
        Matmul {
            kernel,
            blocking: Blocking::detect(kernel),
            threads,
            pack_buffers: (0..threads).map(|_| PackBuffers::default()).collect(),
            busy: Duration::ZERO,
        }
    }

    /// The same multiplier with other cache blocks (for benchmarks and tests: the default,
    /// [`Blocking::detect`], follows this machine's caches). The results do not change.
    pub fn with_blocking(mut self, blocking: Blocking) -> Self {
        self.blocking = blocking;
        self
    }

    /// A new multiplier of this one's kernel and cache blocks on `threads` threads (its own
    /// buffers and busy time): the same results.
    pub fn with_threads(&self, threads: usize) -> Matmul {
        Matmul::with_kernel(self.kernel, threads).with_blocking(self.blocking)
    }

    /// The micro-kernel this multiplier uses.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// The cache blocks this multiplier uses.
    pub fn blocking(&self) -> Blocking {
        self.blocking
    }

    /// The number of threads (at least 1).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Wall time this multiplier has spent in [`Matmul::gemm`] and [`Matmul::gram`] (for profiles:
    /// subtract two readings to time a stretch of work).
    pub fn busy(&self) -> Duration {
        self.busy
    }

    /// C = alpha * op(A) * op(B) + beta * C  (beta == 0 overwrites C, NaNs in C ignored, as BLAS does)
    ///
    /// `op(A)` is `m x k`, `op(B)` is `k x n`, `C` is `m x n`. With `alpha == 0` or `k == 0`
    /// the product is not evaluated and `C = beta * C`.
    ///
    /// # Errors
    /// [`MatmulError::ShapeMismatch`] when the shapes do not fit,
    /// [`MatmulError::KernelUnavailable`] when the forced kernel cannot run on this CPU.
    #[allow(clippy::too_many_arguments)] // the BLAS signature, grouped into views
    pub fn gemm(
        &mut self,
        alpha: f32,
        a: MatRef,
        op_a: Op,
        b: MatRef,
        op_b: Op,
        beta: f32,
        mut c: MatMut,
    ) -> Result<(), MatmulError> {
        let (m, ka, n) = product_shape("gemm", &a, op_a, &b, op_b, &c)?;
        self.check_kernel()?;
        let (a_rs, a_cs) = a.op_strides(op_a);
        let (b_rs, b_cs) = b.op_strides(op_b);
        let problem = Problem {
            m,
            n,
            k: ka,
            alpha,
            beta,
            a: a.as_ptr(),
            a_rs,
            a_cs,
            b: b.as_ptr(),
            b_rs,
            b_cs,
            c: c.as_mut_ptr(),
            c_rs: c.row_stride(),
            upper: false,
        };
        let start = Instant::now();
        // SAFETY: the views were validated at construction (every element (i, j) with i < rows,
        // j < cols lies inside its slice), the shapes were checked above so that op(A), op(B)
        // and C are m x k, k x n and m x n with the strides given, C is exclusively borrowed
        // for the call, and `check_kernel` confirmed that the CPU supports the kernel.
        unsafe { driver::run(self.kernel, self.blocking, &mut self.pack_buffers, &problem) };
        self.busy += start.elapsed();
        Ok(())
    }

    /// C = alpha * A^T A (+ beta C), C symmetric n x n; may compute one triangle and mirror it.
    ///
    /// `A` is `k x n`. Only the upper triangle of `C` is computed (and read, when `beta != 0`);
    /// it is then copied into the lower triangle, so the input `C` is taken to be symmetric.
    ///
    /// # Errors
    /// [`MatmulError::ShapeMismatch`] when `C` is not `n x n`,
    /// [`MatmulError::KernelUnavailable`] when the forced kernel cannot run on this CPU.
    pub fn gram(
        &mut self,
        alpha: f32,
        a: MatRef,
        beta: f32,
        mut c: MatMut,
    ) -> Result<(), MatmulError> {
        let (k, n) = (a.rows(), a.cols());
        if c.rows() != n || c.cols() != n {
            return Err(MatmulError::ShapeMismatch {
                op: "gram",
                a: (n, k),
                b: (k, n),
                c: (c.rows(), c.cols()),
            });
        }
        self.check_kernel()?;
        let (a_rs, a_cs) = a.op_strides(Op::T);
        let (b_rs, b_cs) = a.op_strides(Op::N);
        let problem = Problem {
            m: n,
            n,
            k,
            alpha,
            beta,
            a: a.as_ptr(),
            a_rs,
            a_cs,
            b: a.as_ptr(),
            b_rs,
            b_cs,
            c: c.as_mut_ptr(),
            c_rs: c.row_stride(),
            upper: true,
        };
        let start = Instant::now();
        // SAFETY: as in `gemm`: validated views, op(A) = A^T is n x k and op(B) = A is k x n,
        // C is an exclusively borrowed n x n view, and the kernel is supported.
        unsafe { driver::run(self.kernel, self.blocking, &mut self.pack_buffers, &problem) };
        c.mirror_upper();
        self.busy += start.elapsed();
        Ok(())
    }

    /// The exact Gram matrix `X^T X` and the column sums of rows `rows` (any order, repeats
    /// counted) of the row-major `u8` matrix `pixels` (`dim` values a row), in integer
    /// arithmetic: AVX-512 VNNI where this multiplier's kernel is AVX-512 and the CPU has it,
    /// AVX-VNNI (256-bit) where the kernel is AVX-512 or AVX2 and the CPU has that, else the
    /// float32 [`Matmul::gram`] of its kernel in blocks small enough to be exact. Exact, so the same on every CPU and for every thread count.
    ///
    /// # Errors
    /// [`MatmulError::RowOutOfRange`] for a row index past the end of `pixels`,
    /// [`MatmulError::KernelUnavailable`] when the forced kernel cannot run on this CPU.
    pub fn gram_u8(
        &mut self,
        pixels: &[u8],
        dim: usize,
        rows: &[usize],
    ) -> Result<GramU8, MatmulError> {
        self.check_kernel()?;
        let start = Instant::now();
        let gram = gram_u8::gram_u8(self, pixels, dim, rows);
        self.busy += start.elapsed();
        gram
    }

    /// An empty [`GramU8Sum`] for rows of `dim` values: [`Matmul::gram_u8`] over rows that arrive
    /// in parts, with the same result (computed by this multiplier's kernel and threads).
    ///
    /// ```
    /// use npfl_core::matmul::Matmul;
    /// let mut mm = Matmul::new(1);
    /// let pixels = [1u8, 2, 3, 4, 5, 6];
    /// let mut sum = mm.gram_u8_sum(2).unwrap();
    /// sum.add(&pixels[..4], &[0, 1]).unwrap();
    /// sum.add(&pixels[4..], &[0]).unwrap();
    /// assert_eq!(sum.finish(), mm.gram_u8(&pixels, 2, &[0, 1, 2]).unwrap());
    /// ```
    ///
    /// # Errors
    /// [`MatmulError::KernelUnavailable`] when the forced kernel cannot run on this CPU.
    pub fn gram_u8_sum(&self, dim: usize) -> Result<GramU8Sum, MatmulError> {
        self.check_kernel()?;
        Ok(GramU8Sum::new(self, dim))
    }

    fn check_kernel(&self) -> Result<(), MatmulError> {
        if self.kernel.is_available() {
            Ok(())
        } else {
            Err(MatmulError::KernelUnavailable(self.kernel))
        }
    }
}
