//! PCA of MNIST-like data: covariance, total variance and the first principal component by power iteration.
//!
//! This is the course's `pca_first` recipe:
//!
//! 1. `data = images[indices] / 255`;
//! 2. `mean` = the per-feature mean over the examples;
//! 3. `cov = (data - mean)^T (data - mean) / N` (divisor `N`);
//! 4. `total_variance = trace(cov)`;
//! 5. power iteration from a vector of ones: `v = cov v; s = ||v||; v = v / s`, `iterations` times,
//!    in `f32` as the course computes it;
//! 6. explained variance = `s / total_variance`.
//!
//! For images ([`first_component_of_images`]) the mean and covariance are exact: pixels are
//! integers, so the pixel sums and the Gram matrix `sum p_i p_j` are computed in integer
//! arithmetic ([`Matmul::gram_u8`], AVX-512 VNNI or AVX-VNNI where the CPU has them) and each entry of `cov` is
//! the exact value rounded once to `f32`. The course's torch rounds its `f32` partial sums along
//! the way; the printed digits are the same (tested on the course's published outputs). The
//! result is the same on every CPU, for every thread count and in any order of the examples.
//!
//! For `f32` data ([`first_component`]) step 3 runs in `f32` on [`Matmul::gram`]: the centred
//! rows are formed in blocks of [`BLOCK_ROWS`] and accumulated into `cov` (`beta = 1` after the
//! first block), so the centred `N x d` matrix is never materialised; the mean's sums are
//! accumulated in `f64` and rounded once. The power iteration's `cov v` reads the upper triangle
//! of `cov` only (see [`power_iteration`]); the trace and the norm are accumulated in `f64` and
//! rounded once to `f32`.
//!
//! ```
//! use ndarray::array;
//! use npfl_core::matmul::Matmul;
//! use npfl_core::pca::first_component;
//!
//! // Two features, the second one constant: all variance lies along the first axis.
//! let data = array![[0.0f32, 1.0], [2.0, 1.0], [4.0, 1.0]];
//! let pc = first_component(data.view(), 10, &mut Matmul::new(1)).unwrap();
//! assert!((pc.total_variance - 8.0 / 3.0).abs() < 1e-6);
//! assert!((pc.explained_variance() - 1.0).abs() < 1e-6);
//! ```

use ndarray::{Array1, Array2, ArrayView2};

use crate::isa::Isa;
use crate::matmul::symv::SymmetricPanels;
use crate::matmul::{GramU8, MatMut, MatRef, Matmul, MatmulError};

/// Rows of centred data formed and multiplied at a time (a 784-feature block is 3.2 MB).
pub const BLOCK_ROWS: usize = 1024;

/// Errors of the PCA computation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcaError {
    /// No example was selected: the mean and the covariance are undefined.
    #[error("no examples: the mean and covariance of zero examples are undefined")]
    NoExamples,
    /// The examples have no features.
    #[error("the examples have no features")]
    NoFeatures,
    /// Zero power-iteration steps: the eigenvalue estimate `s` is never computed.
    #[error("zero power-iteration steps: the eigenvalue estimate is never computed")]
    NoIterations,
    /// An example index points past the end of the image array.
    #[error("example index {index} is out of range for {len} images")]
    IndexOutOfRange {
        /// The offending index.
        index: usize,
        /// Number of images available.
        len: usize,
    },
    /// Every covariance entry is zero (e.g. one example, or identical examples): the explained
    /// variance `s / total_variance` would be `0 / 0`.
    #[error(
        "the covariance matrix of the {examples} examples is all zeros (a single example, or identical ones): the explained variance would be 0 / 0"
    )]
    ZeroCovariance {
        /// Number of examples used.
        examples: usize,
    },
    /// `cov v` became the zero vector, so `v / ||v||` is undefined: the start vector of ones
    /// (or an iterate) is orthogonal to every direction of nonzero variance.
    #[error(
        "power iteration collapsed at step {step}: cov * v is the zero vector (the start vector of ones is orthogonal to the data's variance)"
    )]
    PowerIterationCollapsed {
        /// The 1-based step at which `||cov v|| == 0`.
        step: usize,
    },
    /// The matrix multiplication rejected its operands (an internal shape bug).
    #[error(transparent)]
    Matmul(#[from] MatmulError),
}

/// The result of the `pca_first` recipe.
#[derive(Clone, Debug)]
pub struct FirstComponent {
    /// Per-feature mean of the examples.
    pub mean: Array1<f32>,
    /// `(data - mean)^T (data - mean) / N`, symmetric `d x d`.
    pub covariance: Array2<f32>,
    /// `trace(covariance)`.
    pub total_variance: f32,
    /// The last `s = ||cov v||` of the power iteration: the estimate of the largest eigenvalue.
    pub eigenvalue: f32,
    /// The last normalised iterate `v`: the estimate of the first principal component.
    pub vector: Array1<f32>,
}

impl FirstComponent {
    /// `eigenvalue / total_variance` in `f32`, as the course computes `s / total_variance`
    /// (a fraction; the course prints `100 *` this).
    #[must_use]
    pub fn explained_variance(&self) -> f32 {
        self.eigenvalue / self.total_variance
    }
}

/// The course's `pca_first` on `u8` images: rows `indices` of `images` (repeats counted; the
/// order does not matter) scaled by `/ 255`, with the exact mean and covariance (see the module
/// docs), then the power iteration.
///
/// # Errors
/// [`PcaError::NoExamples`], [`PcaError::NoFeatures`], [`PcaError::NoIterations`],
/// [`PcaError::IndexOutOfRange`], [`PcaError::ZeroCovariance`], [`PcaError::PowerIterationCollapsed`].
pub fn first_component_of_images(
    images: ArrayView2<'_, u8>,
    indices: &[usize],
    iterations: usize,
    matmul: &mut Matmul,
) -> Result<FirstComponent, PcaError> {
    if let Some(&index) = indices.iter().find(|&&i| i >= images.nrows()) {
        return Err(PcaError::IndexOutOfRange {
            index,
            len: images.nrows(),
        });
    }
    let images = images.as_standard_layout();
    let pixels = images.as_slice().expect("standard layout is contiguous");
    let gram = matmul.gram_u8(pixels, images.ncols(), indices)?;
    first_component_of_gram(&gram, iterations, matmul)
}

/// [`first_component_of_images`] from the images' exact Gram matrix and pixel sums, summed as the
/// images arrived ([`Matmul::gram_u8_sum`]): the same result without holding the images.
///
/// # Errors
/// [`PcaError::NoExamples`], [`PcaError::NoFeatures`], [`PcaError::NoIterations`],
/// [`PcaError::ZeroCovariance`], [`PcaError::PowerIterationCollapsed`].
pub fn first_component_of_gram(
    gram: &GramU8,
    iterations: usize,
    matmul: &mut Matmul,
) -> Result<FirstComponent, PcaError> {
    compute(&Examples::Gram(gram), iterations, matmul)
}

/// The course's `pca_first` steps on `f32` data (`N x d`, one example per row).
///
/// # Errors
/// [`PcaError::NoExamples`], [`PcaError::NoFeatures`], [`PcaError::NoIterations`],
/// [`PcaError::ZeroCovariance`], [`PcaError::PowerIterationCollapsed`].
pub fn first_component(
    data: ArrayView2<'_, f32>,
    iterations: usize,
    matmul: &mut Matmul,
) -> Result<FirstComponent, PcaError> {
    let data = data.as_standard_layout();
    let examples = Examples::Values {
        values: data.as_slice().expect("standard layout is contiguous"),
        rows: data.nrows(),
        dim: data.ncols(),
    };
    compute(&examples, iterations, matmul)
}

/// Power iteration from a vector of ones on a symmetric `cov`: `iterations` times
/// `v = cov v; s = ||v||; v = v / s`. Returns `(s, v)`.
///
/// Only the upper triangle of `cov` (with the diagonal) is read: `cov v` is computed from it in
/// `f32`, each stored entry `c_ij` (`i < j`) multiplied by `v_j` into row `i`'s dot product and by
/// `v_i` into row `j`'s result. For a 784-feature covariance that is 1.2 MB read per step instead of
/// 2.4 MB, and most of it stays in a 1 MiB L2 cache from one step to the next. The order of the
/// additions is fixed (the steps alternate between two orders), so the result is the same on
/// every CPU and for every instruction set.
///
/// # Errors
/// [`PcaError::NoIterations`], [`PcaError::NoFeatures`] for an empty matrix,
/// [`PcaError::PowerIterationCollapsed`] when `cov v` is the zero vector.
///
/// # Panics
/// If `cov` is not square.
pub fn power_iteration(
    cov: ArrayView2<'_, f32>,
    iterations: usize,
) -> Result<(f32, Array1<f32>), PcaError> {
    power_iteration_on(Isa::detect(), cov, iterations)
}

/// [`power_iteration`] with its products compiled for `isa` (the PCA passes its matmul kernel's, so
/// that `NPFL_KERNEL` decides the whole computation; the bits are the same for every one). Odd
/// steps take the rows' groups from the first, even steps from the last, so that each step starts
/// on the part of the triangle the previous one read last, still in the L2 cache.
fn power_iteration_on(
    isa: Isa,
    cov: ArrayView2<'_, f32>,
    iterations: usize,
) -> Result<(f32, Array1<f32>), PcaError> {
    let d = cov.nrows();
    assert_eq!(d, cov.ncols(), "power_iteration needs a square matrix");
    if d == 0 {
        return Err(PcaError::NoFeatures);
    }
    if iterations == 0 {
        return Err(PcaError::NoIterations);
    }
    let cov = cov.as_standard_layout();
    let mut panels = SymmetricPanels::new(cov.as_slice().expect("standard layout"), d);
    let mut v = vec![1.0f32; d];
    let mut w = vec![0.0f32; d];
    let mut s = 0.0f32;
    for step in 1..=iterations {
        panels.product(isa, &v, &mut w, step % 2 == 0);
        s = norm(&w);
        if s == 0.0 {
            return Err(PcaError::PowerIterationCollapsed { step });
        }
        for (vi, &wi) in v.iter_mut().zip(&w) {
            *vi = wi / s;
        }
    }
    Ok((s, Array1::from(v)))
}

/// `sqrt(sum x^2)`, accumulated in `f64` and rounded once to `f32`.
fn norm(x: &[f32]) -> f32 {
    x.iter()
        .map(|&a| f64::from(a) * f64::from(a))
        .sum::<f64>()
        .sqrt() as f32
}

/// The examples of [`compute`].
enum Examples<'a> {
    /// Images, as their exact Gram matrix and pixel sums.
    Gram(&'a GramU8),
    /// The `rows` rows of a row-major `f32` matrix.
    Values {
        values: &'a [f32],
        rows: usize,
        dim: usize,
    },
}

impl Examples<'_> {
    /// `(examples, features)`.
    fn shape(&self) -> (usize, usize) {
        match *self {
            Examples::Gram(gram) => (gram.rows(), gram.dim()),
            Examples::Values { rows, dim, .. } => (rows, dim),
        }
    }
}

/// Examples for which `(255 N)^2` fits an `i64` with room to spare.
const SMALL_N: usize = 10_000_000;

/// The mean and covariance of images from their exact integer Gram matrix and pixel sums
/// ([`Matmul::gram_u8`]): with `S` the pixel sums and `G` the Gram matrix of `N` examples,
/// `cov_ij = (N G_ij - S_i S_j) / (N^2 255^2)`, the numerator an exact integer, rounded once
/// to `f64` and once to `f32`. This is the covariance of `x = p / 255` that the course computes
/// in `f32` (centre, product, divide), without the rounding of the `f32` partial sums.
fn exact_covariance(gram: &GramU8, (n, d): (usize, usize)) -> (Vec<f32>, Vec<f32>) {
    let sums = gram.sums();
    let mean = sums
        .iter()
        .map(|&s| (s as f64 / 255.0 / n as f64) as f32)
        .collect();
    let scale = (n as f64) * (n as f64) * 255.0 * 255.0;
    let entry = |g: u64, si: u64, sj: u64| {
        // In 64 bits while it cannot overflow: n G and S_i S_j are at most (255 n)^2.
        let numerator = if n <= SMALL_N {
            ((g * n as u64) as i64 - (si * sj) as i64) as f64
        } else {
            (i128::from(g) * n as i128 - i128::from(si) * i128::from(sj)) as f64
        };
        (numerator / scale) as f32
    };
    // The upper triangle row by row, then its mirror image (the same values: the Gram matrix is
    // symmetric and `entry` symmetric in `si`, `sj`).
    let mut cov = vec![0.0f32; d * d];
    for (i, (row, &si)) in gram.gram().chunks_exact(d).zip(sums).enumerate() {
        for (j, (&g, &sj)) in row.iter().zip(sums).enumerate().skip(i) {
            cov[i * d + j] = entry(g, si, sj);
        }
    }
    for i in 0..d {
        for j in 0..i {
            cov[i * d + j] = cov[j * d + i];
        }
    }
    (mean, cov)
}

/// The mean and covariance of `f32` examples (`n` rows of `d` values) as the course computes
/// them: the mean's sums in `f64` rounded once, the centred rows formed in blocks of
/// [`BLOCK_ROWS`], `cov = sum over the blocks of (X_b - mean)^T (X_b - mean)` ([`Matmul::gram`]),
/// then `/ N` in `f32`.
fn f32_covariance(
    values: &[f32],
    (n, d): (usize, usize),
    matmul: &mut Matmul,
) -> Result<(Vec<f32>, Vec<f32>), PcaError> {
    let mut sums = vec![0.0f64; d];
    for row in values.chunks_exact(d) {
        for (s, &x) in sums.iter_mut().zip(row) {
            *s += f64::from(x);
        }
    }
    let mean: Vec<f32> = sums.iter().map(|&s| (s / n as f64) as f32).collect();
    let block = BLOCK_ROWS.min(n);
    let mut tile = vec![0.0f32; block * d];
    let mut cov = vec![0.0f32; d * d];
    for (b, rows) in values.chunks(block * d).enumerate() {
        let tile = &mut tile[..rows.len()];
        for (out, row) in tile.chunks_exact_mut(d).zip(rows.chunks_exact(d)) {
            for ((o, &x), &m) in out.iter_mut().zip(row).zip(&mean) {
                *o = x - m;
            }
        }
        let beta = if b == 0 { 0.0 } else { 1.0 };
        matmul.gram(
            1.0,
            MatRef::new(tile, rows.len() / d, d)?,
            beta,
            MatMut::new(&mut cov, d, d)?,
        )?;
    }
    let n_f32 = n as f32;
    for c in &mut cov {
        *c /= n_f32;
    }
    Ok((mean, cov))
}

fn compute(
    examples: &Examples<'_>,
    iterations: usize,
    matmul: &mut Matmul,
) -> Result<FirstComponent, PcaError> {
    let (n, d) = examples.shape();
    if n == 0 {
        return Err(PcaError::NoExamples);
    }
    if d == 0 {
        return Err(PcaError::NoFeatures);
    }
    if iterations == 0 {
        return Err(PcaError::NoIterations);
    }
    let (mean, cov) = match *examples {
        Examples::Gram(gram) => exact_covariance(gram, (n, d)),
        Examples::Values { values, .. } => f32_covariance(values, (n, d), matmul)?,
    };
    if cov.iter().all(|&c| c == 0.0) {
        return Err(PcaError::ZeroCovariance { examples: n });
    }
    let total_variance = (0..d).map(|i| f64::from(cov[i * d + i])).sum::<f64>() as f32;
    let covariance = Array2::from_shape_vec((d, d), cov).expect("d * d entries");
    let (eigenvalue, vector) =
        power_iteration_on(matmul.kernel().isa(), covariance.view(), iterations)?;
    Ok(FirstComponent {
        mean: Array1::from(mean),
        covariance,
        total_variance,
        eigenvalue,
        vector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::Kernel;
    use approx::assert_abs_diff_eq;
    use ndarray::{Array, array};

    fn mm() -> Matmul {
        Matmul::new(1)
    }

    #[test]
    fn diagonal_covariance_gives_largest_entry() {
        let cov = Array2::from_diag(&array![1.0f32, 5.0, 2.0]);
        let (s, v) = power_iteration(cov.view(), 200).unwrap();
        assert_abs_diff_eq!(s, 5.0, epsilon = 1e-5);
        assert_abs_diff_eq!(v, array![0.0, 1.0, 0.0], epsilon = 1e-5);
    }

    #[test]
    fn one_step_is_normalised_row_sums() {
        // From ones, one step gives v = cov 1 / ||cov 1||.
        let cov = array![[2.0f32, 1.0], [1.0, 3.0]];
        let (s, v) = power_iteration(cov.view(), 1).unwrap();
        let expected_s = (9.0f32 + 16.0).sqrt();
        assert_abs_diff_eq!(s, expected_s, epsilon = 1e-6);
        assert_abs_diff_eq!(v, array![3.0 / 5.0, 4.0 / 5.0], epsilon = 1e-6);
    }

    #[test]
    fn covariance_mean_and_trace_by_hand() {
        let data = array![[1.0f32, 2.0], [3.0, 6.0], [5.0, 4.0], [7.0, 0.0]];
        let pc = first_component(data.view(), 50, &mut mm()).unwrap();
        assert_abs_diff_eq!(pc.mean, array![4.0, 3.0], epsilon = 1e-6);
        // centred: [-3,-1], [-1,3], [1,1], [3,-3]; divisor N = 4
        let expected = array![[5.0f32, -2.0], [-2.0, 5.0]];
        assert_abs_diff_eq!(pc.covariance, expected, epsilon = 1e-6);
        assert_abs_diff_eq!(pc.total_variance, 10.0, epsilon = 1e-6);
        // eigenvalues 7 and 3; the start vector (1, 1) is the eigenvector of 3, so the
        // iteration stays there: exactly what the course's recipe computes.
        assert_abs_diff_eq!(pc.eigenvalue, 3.0, epsilon = 1e-5);
    }

    #[test]
    fn blocks_match_a_single_product() {
        // More rows than one block, with a ragged last block.
        let n = BLOCK_ROWS * 2 + 37;
        let d = 9;
        let data = Array::from_shape_fn((n, d), |(i, j)| {
            ((i * 7 + j * 13) % 17) as f32 / 17.0 + (j as f32)
        });
        let pc = first_component(data.view(), 100, &mut mm()).unwrap();
        let data64 = data.mapv(f64::from);
        let mean64 = data64.mean_axis(ndarray::Axis(0)).unwrap();
        let centred = &data64 - &mean64;
        let cov64 = centred.t().dot(&centred) / n as f64;
        assert_abs_diff_eq!(pc.covariance.mapv(f64::from), cov64, epsilon = 1e-5);
        assert_abs_diff_eq!(
            f64::from(pc.total_variance),
            cov64.diag().sum(),
            epsilon = 1e-5
        );
    }

    #[test]
    fn images_are_divided_by_255_and_gathered_in_order() {
        let images = array![[0u8, 255], [255, 0], [51, 102]];
        let pc = first_component_of_images(images.view(), &[2, 0], 5, &mut mm()).unwrap();
        let expected_mean = [
            (51.0f32 / 255.0 + 0.0) / 2.0,
            (102.0f32 / 255.0 + 1.0) / 2.0,
        ];
        assert_abs_diff_eq!(pc.mean[0], expected_mean[0], epsilon = 1e-7);
        assert_abs_diff_eq!(pc.mean[1], expected_mean[1], epsilon = 1e-7);
    }

    /// Every covariance entry of images is the exact value rounded to `f32` (checked against
    /// rationals in `i128`: the `f32` nearest `num / den` has `|x - num/den| <= ulp/2`), and the
    /// same for every kernel, thread count and order of the examples.
    #[test]
    fn image_covariance_is_exact() {
        let (n, d) = (301, 37);
        let pixels: Vec<u8> = (0..n * d)
            .map(|i| ((i * 7919 + i / 13) % 256) as u8)
            .collect();
        let images = Array::from_shape_vec((n, d), pixels.clone()).unwrap();
        let indices: Vec<usize> = (0..n).rev().filter(|i| i % 7 != 3).chain([5, 5]).collect();
        let m = indices.len() as i128;
        let pc = first_component_of_images(images.view(), &indices, 3, &mut mm()).unwrap();
        let x = |r: usize, i: usize| i128::from(pixels[r * d + i]);
        for i in 0..d {
            let si: i128 = indices.iter().map(|&r| x(r, i)).sum();
            for j in 0..d {
                let sj: i128 = indices.iter().map(|&r| x(r, j)).sum();
                let g: i128 = indices.iter().map(|&r| x(r, i) * x(r, j)).sum();
                // cov = num / den exactly; |c - num/den| <= ulp(c)/2 <=> |c den - num| <= den ulp / 2.
                let (num, den) = (m * g - si * sj, m * m * 255 * 255);
                let c = pc.covariance[[i, j]];
                let ulp = f64::from(f32::from_bits(c.abs().to_bits() + 1) - c.abs());
                let err = (f64::from(c) * den as f64 - num as f64).abs();
                assert!(
                    err <= 0.5001 * ulp * den as f64,
                    "({i}, {j}): {c} vs {num}/{den}"
                );
            }
        }
        for kernel in Kernel::available() {
            for threads in [1, 2] {
                let mut other = Matmul::with_kernel(kernel, threads);
                let mut shuffled = indices.clone();
                shuffled.rotate_left(17);
                let again = first_component_of_images(images.view(), &shuffled, 3, &mut other);
                let again = again.unwrap();
                assert_eq!(again.covariance, pc.covariance, "{kernel:?} {threads}");
                assert_eq!(again.eigenvalue.to_bits(), pc.eigenvalue.to_bits());
                // The same from the Gram matrix summed over three parts of the images.
                let bounds = [0, 100, 101, n];
                let sum = crate::matmul::sum_in_parts(&other, &pixels, d, &shuffled, &bounds);
                let parts = first_component_of_gram(&sum, 3, &mut other).unwrap();
                assert_eq!(parts.covariance, pc.covariance, "{kernel:?} {threads}");
                assert_eq!(parts.mean, pc.mean);
                assert_eq!(parts.total_variance.to_bits(), pc.total_variance.to_bits());
                assert_eq!(parts.eigenvalue.to_bits(), pc.eigenvalue.to_bits());
                assert_eq!(parts.vector, pc.vector);
            }
        }
    }

    #[test]
    fn errors() {
        let images = array![[1u8, 2], [1, 2], [3, 4]];
        let e = |r: Result<FirstComponent, PcaError>| r.unwrap_err();
        assert!(matches!(
            e(first_component_of_images(images.view(), &[], 5, &mut mm())),
            PcaError::NoExamples
        ));
        assert!(matches!(
            e(first_component_of_images(
                images.view(),
                &[0, 2],
                0,
                &mut mm()
            )),
            PcaError::NoIterations
        ));
        assert!(matches!(
            e(first_component_of_images(
                images.view(),
                &[0, 3],
                5,
                &mut mm()
            )),
            PcaError::IndexOutOfRange { index: 3, len: 3 }
        ));
        let err = e(first_component_of_images(
            images.view(),
            &[0, 1],
            5,
            &mut mm(),
        ));
        assert!(matches!(err, PcaError::ZeroCovariance { examples: 2 }));
        assert!(err.to_string().contains("all zeros"));
        assert!(matches!(
            e(first_component_of_images(images.view(), &[2], 5, &mut mm())),
            PcaError::ZeroCovariance { examples: 1 }
        ));
        // Variance only along (1, -1), orthogonal to the start vector of ones.
        let data = array![[0.0f32, 1.0], [1.0, 0.0]];
        assert!(matches!(
            e(first_component(data.view(), 5, &mut mm())),
            PcaError::PowerIterationCollapsed { step: 1 }
        ));
        let empty = Array2::<f32>::zeros((3, 0));
        assert!(matches!(
            e(first_component(empty.view(), 5, &mut mm())),
            PcaError::NoFeatures
        ));
    }

    #[test]
    fn thread_count_does_not_change_the_result() {
        let n = 3000;
        let d = 40;
        let data = Array::from_shape_fn((n, d), |(i, j)| ((i * 31 + j * 7) % 23) as f32 / 23.0);
        let one = first_component(data.view(), 30, &mut Matmul::new(1)).unwrap();
        let two = first_component(data.view(), 30, &mut Matmul::new(2)).unwrap();
        assert_eq!(one.covariance, two.covariance);
        assert_eq!(one.eigenvalue.to_bits(), two.eigenvalue.to_bits());
    }
}
