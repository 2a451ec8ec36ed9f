//! The power iteration's `w = C v` for a symmetric `C`, read from its upper triangle only: half the
//! bytes of the full matrix (1.2 MB instead of 2.4 MB for 784 features, most of it still in a 1 MiB
//! L2 cache from the step before), each entry loaded once for two products. Here because its
//! AVX-512 and AVX2 forms use intrinsics.
//!
//! Layout: the rows are taken eight at a time ("groups"); group `g` (rows `8g .. 8g + 8`) keeps
//! the columns from `16 floor(8g / 16)` to the padded width, each 16-column block as eight rows of
//! 16 values, with zeros on and below the diagonal (and in the padding). The diagonal is kept
//! apart.
//!
//! The product, for the groups in the given order: for each 16-column block `b` of the group,
//! `acc[r] += x_r[b] * v[b]` (16 partial sums of row `r`'s dot product with `v`) and
//! `y[b] += x_r[b] * v_r` for `r` = 0..8 in order (the transposed half: row `r`'s entries added
//! to the later rows' results), each a multiplication rounded to `f32` and then an addition.
//! After the blocks, row `r`'s partial sums are added as a tree ([`fold_halves`]),
//! `t_r = dot_r + C_rr v_r`, and at the end `w_i = t_i + y_i`. The portable loop and the intrinsics do exactly these operations, so
//! they give the same bits; the two orders of the groups give different bits (the additions into
//! `y` come in another order), each the same for every instruction set.

use super::driver::aligned;
use super::isa::{Isa, vectorized};

/// Rows of a group.
const ROWS: usize = 8;
/// Values of a column block (partial sums of each row's dot product).
const LANES: usize = 16;
/// Values of one column block of a group.
const BLOCK: usize = ROWS * LANES;

/// The upper triangle of a symmetric `d x d` matrix in groups of eight rows (see the module docs).
#[derive(Clone, Debug)]
pub struct SymmetricPanels {
    /// The groups' blocks, one group after the other, from a 64-byte boundary inside (driver's
    /// `aligned`: no load straddles two cache lines).
    store: Vec<f32>,
    /// Where each group starts in the blocks; the last entry is their end.
    starts: Vec<usize>,
    diagonal: Vec<f32>,
    /// Scratch of every product, `d` rounded up to a multiple of 16 values: `v` padded with
    /// zeros, and the sums `y` of the transposed half.
    padded: Vec<f32>,
    y: Vec<f32>,
}

impl SymmetricPanels {
    /// The upper triangle of the row-major `d x d` matrix `c` (its lower triangle is not read).
    ///
    /// # Panics
    /// If `c.len() != d * d`.
    pub fn new(c: &[f32], d: usize) -> Self {
        assert_eq!(c.len(), d * d, "SymmetricPanels: c must be d x d");
        let width = d.div_ceil(LANES) * LANES;
        let groups = d.div_ceil(ROWS);
        let mut starts = Vec::with_capacity(groups + 1);
        let mut len = 0;
        for g in 0..groups {
            starts.push(len);
            len += (width - first_column(g)) * ROWS;
        }
        starts.push(len);
        let mut store = Vec::new();
        let blocks = aligned(&mut store, len);
        for g in 0..groups {
            let c0 = first_column(g);
            let panel = &mut blocks[starts[g]..starts[g + 1]];
            for (b, block) in panel.chunks_exact_mut(BLOCK).enumerate() {
                for (r, values) in block.chunks_exact_mut(LANES).enumerate() {
                    let i = g * ROWS + r;
                    for (l, value) in values.iter_mut().enumerate() {
                        let j = c0 + b * LANES + l;
                        if i < d && j < d && j > i {
                            *value = c[i * d + j];
                        }
                    }
                }
            }
        }
        SymmetricPanels {
            store,
            starts,
            diagonal: (0..d).map(|i| c[i * d + i]).collect(),
            padded: vec![0.0; width],
            y: vec![0.0; width],
        }
    }

    /// `w = C v`, the groups in increasing order or, with `backwards`, decreasing, compiled for `isa`.
    ///
    /// # Panics
    /// If `v` or `w` does not hold `d` values.
    pub fn product(&mut self, isa: Isa, v: &[f32], w: &mut [f32], backwards: bool) {
        let d = self.diagonal.len();
        assert!(
            v.len() == d && w.len() == d,
            "SymmetricPanels: v and w must hold d values"
        );
        let len = self.starts[self.starts.len() - 1];
        let panels = Panels {
            blocks: aligned(&mut self.store, len),
            starts: &self.starts,
            diagonal: &self.diagonal,
        };
        let (padded, y) = (&mut self.padded, &mut self.y);
        padded[..d].copy_from_slice(v);
        y.fill(0.0);
        vectorized(
            isa,
            #[inline(always)]
            || {
                let groups = panels.starts.len() - 1;
                if backwards {
                    for g in (0..groups).rev() {
                        panels.group(isa, g, padded, y, w);
                    }
                } else {
                    for g in 0..groups {
                        panels.group(isa, g, padded, y, w);
                    }
                }
                for (wi, &yi) in w.iter_mut().zip(y.iter()) {
                    *wi += yi;
                }
            },
        );
    }
}

/// The panels as one product reads them.
struct Panels<'a> {
    blocks: &'a [f32],
    starts: &'a [usize],
    diagonal: &'a [f32],
}

impl Panels<'_> {
    /// Group `g`'s blocks against `v` into `y`, and `w_i = dot_i + C_ii v_i` for its rows.
    #[inline(always)]
    fn group(&self, isa: Isa, g: usize, v: &[f32], y: &mut [f32], w: &mut [f32]) {
        let c0 = first_column(g);
        let panel = &self.blocks[self.starts[g]..self.starts[g + 1]];
        let vr: [f32; ROWS] = std::array::from_fn(|r| v.get(g * ROWS + r).copied().unwrap_or(0.0));
        let sums = group_product(isa, panel, &v[c0..], &mut y[c0..], vr);
        for (r, s) in sums.into_iter().enumerate() {
            let i = g * ROWS + r;
            if i < self.diagonal.len() {
                w[i] = s + self.diagonal[i] * v[i];
            }
        }
    }
}

/// The first column group `g` keeps: the 16-column block holding its first row.
fn first_column(g: usize) -> usize {
    g * ROWS / LANES * LANES
}

/// One group's blocks against `v` and into `y` (from the group's first column; see the module
/// docs); returns the rows' dot products (their partial sums added by [`fold_halves`]).
#[inline(always)]
fn group_product(
    isa: Isa,
    panel: &[f32],
    v: &[f32],
    y: &mut [f32],
    vr: [f32; ROWS],
) -> [f32; ROWS] {
    let blocks = panel.len() / BLOCK;
    assert!(v.len() >= blocks * LANES && y.len() >= blocks * LANES);
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 && std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked on the line above); `panel` holds `blocks`
        // blocks of 128 values and `v` and `y` at least `16 blocks` values (asserted above).
        return unsafe { group_avx512(panel.as_ptr(), v.as_ptr(), y.as_mut_ptr(), blocks, vr) };
    }
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx2Fma && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked on the line above); the lengths as above.
        return unsafe { group_avx2(panel.as_ptr(), v.as_ptr(), y.as_mut_ptr(), blocks, vr) };
    }
    let _ = isa;
    let mut acc = [[0.0f32; LANES]; ROWS];
    for ((block, v), y) in panel
        .chunks_exact(BLOCK)
        .zip(v.chunks_exact(LANES))
        .zip(y.chunks_exact_mut(LANES))
    {
        // Fixed-size copies, so that the compiler keeps them in vector registers.
        let v: [f32; LANES] = v.try_into().expect("LANES values");
        let mut yy: [f32; LANES] = (&*y).try_into().expect("LANES values");
        for ((x, a), &vr) in block.chunks_exact(LANES).zip(&mut acc).zip(&vr) {
            let x: &[f32; LANES] = x.try_into().expect("LANES values");
            for l in 0..LANES {
                a[l] += x[l] * v[l];
                yy[l] += x[l] * vr;
            }
        }
        y.copy_from_slice(&yy);
    }
    acc.map(fold_halves)
}

/// The sum of 16 partial sums as a tree: the upper half added to the lower half, four times
/// (`x_l + x_{l+8}`, then `+ x_{l+4}` and so on), which vectors compute for eight rows at once.
#[inline(always)]
fn fold_halves(mut x: [f32; LANES]) -> f32 {
    let mut half = LANES / 2;
    while half > 0 {
        for l in 0..half {
            x[l] += x[l + half];
        }
        half /= 2;
    }
    x[0]
}

/// [`group_product`] with AVX-512 intrinsics: the eight rows' partial sums and the block of `y`
/// in registers.
///
/// # Safety
/// AVX-512F is available; `panel` points to `blocks` blocks of 128 values, `v` and `y` to at
/// least `16 blocks` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn group_avx512(
    panel: *const f32,
    v: *const f32,
    y: *mut f32,
    blocks: usize,
    vr: [f32; ROWS],
) -> [f32; ROWS] {
    use std::arch::x86_64::{
        __m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_shuffle_f32x4, _mm512_shuffle_ps, _mm512_storeu_ps,
    };
    let mut acc = [_mm512_setzero_ps(); ROWS];
    let vr = vr.map(|x| _mm512_set1_ps(x));
    for b in 0..blocks {
        // SAFETY: b < blocks: the block's 128 values and 16 values of `v` and `y` are in range
        // (the contract).
        unsafe {
            let vv = _mm512_loadu_ps(v.add(b * LANES));
            let mut yy = _mm512_loadu_ps(y.add(b * LANES));
            for r in 0..ROWS {
                let x = _mm512_loadu_ps(panel.add(b * BLOCK + r * LANES));
                acc[r] = _mm512_add_ps(acc[r], _mm512_mul_ps(x, vv));
                yy = _mm512_add_ps(yy, _mm512_mul_ps(x, vr[r]));
            }
            _mm512_storeu_ps(y.add(b * LANES), yy);
        }
    }
    // `fold_halves` of each row, eight rows at a time: at each level the halves to add are
    // gathered into two vectors by shuffles, and the rows of two vectors into one.
    let pairs: [__m512; ROWS / 2] = std::array::from_fn(|p| {
        let (a, b) = (acc[2 * p], acc[2 * p + 1]);
        // [a 0..8 | b 0..8] + [a 8..16 | b 8..16]
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x44>(a, b),
            _mm512_shuffle_f32x4::<0xEE>(a, b),
        )
    });
    let quads: [__m512; 2] = std::array::from_fn(|q| {
        let (a, b) = (pairs[2 * q], pairs[2 * q + 1]);
        // Within each row's 8 values, the first 4 plus the last 4: rows 4q .. 4q + 4, 4 each.
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        )
    });
    // Within each 128-bit lane: [row k: 2 values, row k + 4: 2 values].
    let twos = _mm512_add_ps(
        _mm512_shuffle_ps::<0x44>(quads[0], quads[1]),
        _mm512_shuffle_ps::<0xEE>(quads[0], quads[1]),
    );
    // Within each 128-bit lane k: [row k, row k + 4, row k, row k + 4].
    let ones = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(twos, twos),
        _mm512_shuffle_ps::<0xDD>(twos, twos),
    );
    let mut lanes = [0.0f32; LANES];
    // SAFETY: `lanes` holds 16 values.
    unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), ones) };
    std::array::from_fn(|r| lanes[4 * (r % 4) + r / 4])
}

/// [`group_product`] with AVX2 intrinsics. Sixteen 8-lane registers cannot hold eight rows' partial
/// sums, so the rows go in two passes of four (the additions into `y` keep their order: rows 0-3
/// of each block, then rows 4-7).
///
/// # Safety
/// AVX2 is available; `panel` points to `blocks` blocks of 128 values, `v` and `y` to at least
/// `16 blocks` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn group_avx2(
    panel: *const f32,
    v: *const f32,
    y: *mut f32,
    blocks: usize,
    vr: [f32; ROWS],
) -> [f32; ROWS] {
    use std::arch::x86_64::{
        __m256, _mm256_add_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_permute2f128_ps,
        _mm256_set1_ps, _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps,
    };
    const PASS: usize = ROWS / 2;
    // Each row's 16 lanes folded once: lanes l + (l + 8).
    let mut halves = [_mm256_setzero_ps(); ROWS];
    for pass in 0..2 {
        let mut acc = [[_mm256_setzero_ps(); 2]; PASS];
        let vr: [__m256; PASS] = std::array::from_fn(|r| _mm256_set1_ps(vr[pass * PASS + r]));
        for b in 0..blocks {
            // SAFETY: b < blocks: the block's 128 values and 16 values of `v` and `y` are in
            // range (the contract).
            unsafe {
                for h in 0..2 {
                    let at = b * LANES + 8 * h;
                    let vv = _mm256_loadu_ps(v.add(at));
                    let mut yy = _mm256_loadu_ps(y.add(at));
                    for (r, (a, vr)) in acc.iter_mut().zip(&vr).enumerate() {
                        let x = _mm256_loadu_ps(
                            panel.add(b * BLOCK + (pass * PASS + r) * LANES + 8 * h),
                        );
                        a[h] = _mm256_add_ps(a[h], _mm256_mul_ps(x, vv));
                        yy = _mm256_add_ps(yy, _mm256_mul_ps(x, *vr));
                    }
                    _mm256_storeu_ps(y.add(at), yy);
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            halves[pass * PASS + r] = _mm256_add_ps(a[0], a[1]);
        }
    }
    // The other levels of `fold_halves`, eight rows at a time (as in `group_avx512`).
    let pairs: [__m256; ROWS / 2] = std::array::from_fn(|p| {
        let (a, b) = (halves[2 * p], halves[2 * p + 1]);
        // [a 0..4 | b 0..4] + [a 4..8 | b 4..8]
        _mm256_add_ps(
            _mm256_permute2f128_ps::<0x20>(a, b),
            _mm256_permute2f128_ps::<0x31>(a, b),
        )
    });
    // 128-bit lane 0: [row 4q: 2 values, row 4q + 2: 2 values]; lane 1: rows 4q + 1, 4q + 3.
    let twos: [__m256; 2] = std::array::from_fn(|q| {
        let (a, b) = (pairs[2 * q], pairs[2 * q + 1]);
        _mm256_add_ps(
            _mm256_shuffle_ps::<0x44>(a, b),
            _mm256_shuffle_ps::<0xEE>(a, b),
        )
    });
    // Lane 0: rows 0, 2, 4, 6; lane 1: rows 1, 3, 5, 7.
    let ones = _mm256_add_ps(
        _mm256_shuffle_ps::<0x88>(twos[0], twos[1]),
        _mm256_shuffle_ps::<0xDD>(twos[0], twos[1]),
    );
    let mut lanes = [0.0f32; ROWS];
    // SAFETY: `lanes` holds 8 values.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), ones) };
    std::array::from_fn(|r| lanes[4 * (r % 2) + r / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A symmetric `d x d` matrix of uneven values.
    fn symmetric(d: usize) -> Vec<f32> {
        let mut c = vec![0.0f32; d * d];
        for i in 0..d {
            for j in 0..d {
                let (a, b) = (i.min(j), i.max(j));
                c[i * d + j] = ((a * 7919 + b * 104_729) % 1013) as f32 / 1013.0 - 0.37;
            }
        }
        c
    }

    /// The product as the module docs define it, written out from the full matrix.
    fn reference(c: &[f32], d: usize, v: &[f32], backwards: bool) -> Vec<f32> {
        let width = d.div_ceil(LANES) * LANES;
        let at = |i: usize, j: usize| {
            if i < d && j < d && j > i {
                c[i * d + j]
            } else {
                0.0
            }
        };
        let vp = |j: usize| if j < d { v[j] } else { 0.0 };
        let mut y = vec![0.0f32; width];
        let mut t = vec![0.0f32; d];
        let groups: Vec<usize> = if backwards {
            (0..d.div_ceil(ROWS)).rev().collect()
        } else {
            (0..d.div_ceil(ROWS)).collect()
        };
        for g in groups {
            let mut acc = [[0.0f32; LANES]; ROWS];
            for b in (first_column(g)..width).step_by(LANES) {
                for (r, acc) in acc.iter_mut().enumerate() {
                    let i = g * ROWS + r;
                    for l in 0..LANES {
                        acc[l] += at(i, b + l) * vp(b + l);
                        y[b + l] += at(i, b + l) * vp(i);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                let i = g * ROWS + r;
                if i < d {
                    let dot = fold_halves(*acc);
                    t[i] = dot + c[i * d + i] * v[i];
                }
            }
        }
        (0..d).map(|i| y[i] + t[i]).collect()
    }

    fn bits(x: &[f32]) -> Vec<u32> {
        x.iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn every_isa_and_order_gives_the_defined_bits() {
        for d in [1, 2, 7, 8, 9, 15, 16, 17, 24, 40, 100, 784] {
            let c = symmetric(d);
            let v: Vec<f32> = (0..d)
                .map(|k| ((k * 31) % 97) as f32 / 97.0 - 0.2)
                .collect();
            let mut panels = SymmetricPanels::new(&c, d);
            for backwards in [false, true] {
                let want = reference(&c, d, &v, backwards);
                for isa in Isa::available() {
                    let mut w = vec![f32::NAN; d];
                    panels.product(isa, &v, &mut w, backwards);
                    assert_eq!(bits(&w), bits(&want), "d={d} {isa:?} backwards={backwards}");
                }
            }
        }
    }

    #[test]
    fn product_is_c_times_v_from_the_upper_triangle() {
        for d in [1, 3, 16, 33, 784] {
            let mut c = symmetric(d);
            let v: Vec<f32> = (0..d).map(|k| (k % 5) as f32 * 0.5 - 1.0).collect();
            let exact: Vec<f64> = (0..d)
                .map(|i| {
                    (0..d)
                        .map(|j| f64::from(c[i * d + j]) * f64::from(v[j]))
                        .sum()
                })
                .collect();
            // The lower triangle is not read.
            for i in 0..d {
                for j in 0..i {
                    c[i * d + j] = f32::NAN;
                }
            }
            let mut panels = SymmetricPanels::new(&c, d);
            for backwards in [false, true] {
                let mut w = vec![f32::NAN; d];
                panels.product(Isa::detect(), &v, &mut w, backwards);
                for (i, (&wi, &e)) in w.iter().zip(&exact).enumerate() {
                    assert!(
                        (f64::from(wi) - e).abs() < 1e-4 * (1.0 + e.abs()),
                        "d={d} row {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn fold_halves_adds_as_a_tree() {
        // In order this would be ((1e8 + 1) + ...) - 1e8 + 7 = 7 (each 1 lost against 1e8); as a
        // tree, 1e8 - 1e8 comes first and no 1 is lost.
        let mut x = [1.0f32; LANES];
        x[0] = 1e8;
        x[8] = -1e8;
        assert_eq!(fold_halves(x), 14.0);
        assert_eq!(fold_halves([0.5; LANES]), 8.0);
    }
}
