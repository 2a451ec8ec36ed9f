//! The exact Gram matrix of `u8` rows: `G = X^T X` over chosen rows of a row-major `u8` matrix,
//! in integer arithmetic, so every entry is the exact sum whatever the kernel, the thread count or
//! the order of the rows.
//!
//! Pixels are small integers, so their products and sums are exact in 32-bit lanes, and x86's
//! VPDPBUSD (AVX-512 VNNI) multiplies 64 byte pairs and adds them in groups of four into sixteen
//! 32-bit lanes in one instruction: four times the multiply-adds of a float32 FMA at the same
//! issue rate. Its operands are one unsigned and one signed byte, so the rows are packed as
//! `x - 128` (the byte XOR `0x80`, a signed byte) and the vector side is turned back into `x`:
//! each lane sums `(x_i - 128) x_j`, and `G_ij = that + 128 S_j` with the column sums `S`.
//!
//! Layout: the chosen rows are taken four at a time ("quads"); a packed block holds, for each quad
//! `q` and feature `f`, the four flipped bytes of rows `4q .. 4q + 4` at feature `f` as one `u32`,
//! VPDPBUSD's operand layout. A tile of 14 x 32 features broadcasts the `u32` of each of its
//! 14 rows (the signed side, an embedded broadcast) against two 16-lane vectors of its `NR`
//! columns (made unsigned again by one XOR each). Only tiles on or above the diagonal are
//! computed (of 14 x 16 where the diagonal or the last column would leave half of a 14 x 32 tile
//! unused); the lower triangle is mirrored.
//! The column sums `S` come from the packed blocks as well, while they are in cache: a VPDPBUSD
//! of a vector of ones adds each quad's four signed bytes `x - 128` (then `+ 4 * 128` per quad).
//!
//! CPUs with AVX-VNNI but not AVX-512 VNNI (and the AVX2 kernel forced on those with both) run
//! the same instruction on 256-bit vectors, in 6 x 16 tiles.
//!
//! Without VNNI (the scalar kernel forced, or another CPU) the same exact sums come from the float32
//! [`Matmul::gram`] on `x - 128`: products of at most `128^2` summed over [`F32_BLOCK_ROWS`] rows
//! stay integers of at most `2^24`, which `f32` holds exactly whatever the order of the additions;
//! each block's result is folded into 64-bit totals, and
//! `G_ij = T_ij + 128 (S_i + S_j) - 128^2 N`.
//!
//! Range: `|(x_i - 128) x_j| <= 32,640`, so `CHUNK_ROWS` = 65,536 rows fit a 32-bit lane; the
//! lanes are folded into 64-bit totals after each chunk.
//!
//! Rows may also arrive in parts ([`GramU8Sum`]: `pca_first` adds each chunk of images as it is
//! inflated): the running sums, lanes and totals, are kept between the parts, so the result is
//! the one of all the rows at once.

use super::isa::vectorized;
use super::{MatMut, MatRef, Matmul, MatmulError};

/// Rows whose partial sums fit a 32-bit lane (see the module docs); a multiple of the block.
const CHUNK_ROWS: usize = 1 << 16;
/// Rows per float32 Gram in the fallback: `1024 * 128^2 = 2^24`, the largest integer range `f32`
/// holds exactly.
const F32_BLOCK_ROWS: usize = 1024;
/// The exact Gram matrix `G = X^T X` of the chosen rows of a `u8` matrix, with the column sums.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GramU8 {
    dim: usize,
    rows: usize,
    gram: Vec<u64>,
    sums: Vec<u64>,
}

impl GramU8 {
    /// Features (the Gram matrix is `dim x dim`).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows summed over (counted with multiplicity).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// `G[i][j] = sum over the rows of x_i x_j`, row-major `dim x dim`, symmetric.
    pub fn gram(&self) -> &[u64] {
        &self.gram
    }

    /// `S[j] = sum over the rows of x_j`.
    pub fn sums(&self) -> &[u64] {
        &self.sums
    }
}

/// An exact Gram matrix summed over rows given in parts ([`Matmul::gram_u8_sum`]): each
/// [`GramU8Sum::add`] adds the chosen rows of one `u8` matrix (say, a chunk of a file being read),
/// and [`GramU8Sum::finish`] gives the [`GramU8`] of all of them, the same as one
/// [`Matmul::gram_u8`] over every row (the sums are exact, so neither the parts nor the order
/// matter).
pub struct GramU8Sum {
    dim: usize,
    rows: usize,
    state: SumState,
}

enum SumState {
    #[cfg(target_arch = "x86_64")]
    Vnni(vnni::VnniSum),
    F32(F32Sum),
}

impl GramU8Sum {
    /// An empty sum for rows of `dim` values, computed as `mm`'s kernel computes (with its
    /// threads; the float32 fallback with a multiplier of the same settings, its own).
    pub(crate) fn new(mm: &Matmul, dim: usize) -> GramU8Sum {
        #[cfg(target_arch = "x86_64")]
        if let Some(v) = vnni::Vnni::for_kernel(mm.kernel()) {
            return GramU8Sum {
                dim,
                rows: 0,
                state: SumState::Vnni(vnni::VnniSum::new(v, mm.threads(), dim)),
            };
        }
        GramU8Sum {
            dim,
            rows: 0,
            state: SumState::F32(F32Sum::new(mm, dim)),
        }
    }

    /// Features of the rows.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Rows added so far (counted with multiplicity).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds rows `rows` (any order, repeats counted) of the row-major `pixels` (`dim` values a
    /// row).
    ///
    /// # Errors
    /// [`MatmulError::RowOutOfRange`] when a row index points past the end of `pixels` (nothing is
    /// added then).
    pub fn add(&mut self, pixels: &[u8], rows: &[usize]) -> Result<(), MatmulError> {
        let dim = self.dim;
        let available = pixels.len().checked_div(dim).unwrap_or(0);
        if let Some(&row) = rows.iter().find(|&&r| r >= available) {
            return Err(MatmulError::RowOutOfRange {
                row,
                rows: available,
            });
        }
        self.rows += rows.len();
        if dim == 0 || rows.is_empty() {
            return Ok(());
        }
        // The sums are exact, so the order is free: memory order streams the rows.
        let mut order = rows.to_vec();
        order.sort_unstable();
        let x = Rows { pixels, dim };
        match &mut self.state {
            #[cfg(target_arch = "x86_64")]
            SumState::Vnni(v) => v.add(x, &order),
            SumState::F32(f) => f.add(x, &order),
        }
        Ok(())
    }

    /// The Gram matrix and column sums of every row added.
    pub fn finish(self) -> GramU8 {
        let dim = self.dim;
        let mut gram = vec![0u64; dim * dim];
        let sums = match self.state {
            #[cfg(target_arch = "x86_64")]
            SumState::Vnni(v) => v.finish(dim, &mut gram),
            SumState::F32(f) => f.finish(&mut gram),
        };
        for i in 0..dim {
            for j in 0..i {
                gram[i * dim + j] = gram[j * dim + i];
            }
        }
        GramU8 {
            dim,
            rows: self.rows,
            gram,
            sums,
        }
    }
}

/// `G = X^T X` over `rows` of the row-major `pixels` (`dim` bytes a row), split over `threads`.
///
/// # Errors
/// [`MatmulError::RowOutOfRange`] when a row index points past the end of `pixels`.
pub(crate) fn gram_u8(
    mm: &Matmul,
    pixels: &[u8],
    dim: usize,
    rows: &[usize],
) -> Result<GramU8, MatmulError> {
    let mut sum = GramU8Sum::new(mm, dim);
    sum.add(pixels, rows)?;
    Ok(sum.finish())
}

/// The float32 fallback's running sums: `T = sum of (x - 128)^T (x - 128)` (upper triangle, exact
/// in `f64`), the column sums `S` and the row count; `G_ij = T_ij + 128 (S_i + S_j) - 128^2 N`.
/// Rows wait in `tile`, as `x - 128`, until a block of [`F32_BLOCK_ROWS`] is full (or the sum
/// finishes), whatever the parts they came in.
struct F32Sum {
    mm: Matmul,
    dim: usize,
    totals: Vec<f64>,
    sums: Vec<u64>,
    n: usize,
    tile: Vec<f32>,
    waiting: usize,
    c: Vec<f32>,
}

impl F32Sum {
    fn new(mm: &Matmul, dim: usize) -> F32Sum {
        F32Sum {
            mm: mm.with_threads(mm.threads()),
            dim,
            totals: vec![0.0; dim * dim],
            sums: vec![0; dim],
            n: 0,
            tile: Vec::new(),
            waiting: 0,
            c: Vec::new(),
        }
    }

    /// Adds the rows `order`: their column sums now, their products a block at a time.
    fn add(&mut self, x: Rows<'_>, order: &[usize]) {
        let (dim, isa) = (x.dim, self.mm.kernel().isa());
        let sums = vectorized(
            isa,
            #[inline(always)]
            || column_sums(x.pixels, dim, order),
        );
        for (t, s) in self.sums.iter_mut().zip(sums) {
            *t += s;
        }
        self.n += order.len();
        self.tile.resize(F32_BLOCK_ROWS * dim, 0.0);
        let mut rest = order;
        while !rest.is_empty() {
            let (now, later) = rest.split_at((F32_BLOCK_ROWS - self.waiting).min(rest.len()));
            let tile = &mut self.tile[self.waiting * dim..(self.waiting + now.len()) * dim];
            vectorized(
                isa,
                #[inline(always)]
                || {
                    for (out, &r) in tile.chunks_exact_mut(dim).zip(now) {
                        for (o, &p) in out.iter_mut().zip(x.row(r)) {
                            *o = f32::from(p) - 128.0;
                        }
                    }
                },
            );
            self.waiting += now.len();
            rest = later;
            if self.waiting == F32_BLOCK_ROWS {
                self.flush();
            }
        }
    }

    /// The waiting rows' float32 [`Matmul::gram`] (exact: see the module docs), added to the
    /// totals.
    fn flush(&mut self) {
        if self.waiting == 0 {
            return;
        }
        let (dim, isa) = (self.dim, self.mm.kernel().isa());
        self.c.resize(dim * dim, 0.0);
        let tile = &self.tile[..self.waiting * dim];
        self.mm
            .gram(
                1.0,
                MatRef::new(tile, self.waiting, dim).expect("the waiting rows"),
                0.0,
                MatMut::new(&mut self.c, dim, dim).expect("a dim x dim block"),
            )
            .expect("the multiplier's kernel was checked when the sum was made");
        self.waiting = 0;
        let (totals, c) = (&mut self.totals, &self.c);
        // Sums of integers below 2^53: exact in f64, and the f32 -> f64 conversion vectorises.
        vectorized(
            isa,
            #[inline(always)]
            || {
                for i in 0..dim {
                    let upper = i * dim + i..(i + 1) * dim;
                    for (t, &c) in totals[upper.clone()].iter_mut().zip(&c[upper]) {
                        *t += f64::from(c);
                    }
                }
            },
        );
    }

    /// The upper triangle of `gram`; returns the column sums.
    fn finish(mut self, gram: &mut [u64]) -> Vec<u64> {
        self.flush();
        let (dim, n) = (self.dim, self.n as i64);
        let sums = std::mem::take(&mut self.sums);
        for i in 0..dim {
            for j in i..dim {
                let g = self.totals[i * dim + j] as i64 + 128 * (sums[i] + sums[j]) as i64
                    - 128 * 128 * n;
                gram[i * dim + j] = u64::try_from(g).expect("a sum of products of bytes");
            }
        }
        sums
    }
}

/// `S[j]` over `order`, in `u32` partial sums (65,536 rows of 255 cannot overflow them).
#[inline(always)]
fn column_sums(pixels: &[u8], dim: usize, order: &[usize]) -> Vec<u64> {
    let mut total = vec![0u64; dim];
    let mut partial = vec![0u32; dim];
    for chunk in order.chunks(CHUNK_ROWS) {
        partial.fill(0);
        for &r in chunk {
            for (s, &p) in partial.iter_mut().zip(&pixels[r * dim..(r + 1) * dim]) {
                *s += u32::from(p);
            }
        }
        for (t, &s) in total.iter_mut().zip(&partial) {
            *t += u64::from(s);
        }
    }
    total
}

/// The `u8` matrix.
#[derive(Clone, Copy)]
struct Rows<'a> {
    pixels: &'a [u8],
    dim: usize,
}

impl Rows<'_> {
    fn row(&self, r: usize) -> &[u8] {
        &self.pixels[r * self.dim..(r + 1) * self.dim]
    }
}

/// The VPDPBUSD tiles (x86-64 only).
#[cfg(target_arch = "x86_64")]
mod vnni {
    use super::{CHUNK_ROWS, Rows};
    use crate::matmul::isa::{Isa, vectorized};
    use crate::matmul::kernel::Kernel;

    /// Feature rows of an AVX-512 tile (the broadcast side).
    const MR: usize = 14;
    /// Feature columns of an AVX-512 tile: two 16-lane vectors.
    const NR: usize = 32;
    /// Feature rows of an AVX-VNNI (256-bit) tile: 12 accumulators, two vectors, the XOR constant
    /// and a broadcast fill the 16 `ymm` registers.
    const MR_YMM: usize = 6;
    /// Feature columns of an AVX-VNNI tile: two 8-lane vectors.
    const NR_YMM: usize = 16;
    /// Quads (4 rows each) per packed block: 512 rows, 400 KB at 784 features (it stays in L2 while
    /// every tile of the block reads it).
    const BLOCK_QUADS: usize = 128;
    /// The XOR that turns a byte `x` into the signed byte `x - 128` and back.
    const FLIP: u32 = 0x8080_8080;

    /// Which VPDPBUSD tiles run: 512-bit (AVX-512 VNNI) or 256-bit (AVX-VNNI).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(super) enum Vnni {
        Zmm,
        Ymm,
    }

    impl Vnni {
        /// The tiles for `kernel` on this CPU: 512-bit ones for the AVX-512 kernel where the CPU has
        /// AVX-512 VNNI, 256-bit ones for it or the AVX2 kernel where the CPU has AVX-VNNI, else
        /// none (the float32 fallback).
        pub(super) fn for_kernel(kernel: Kernel) -> Option<Vnni> {
            use std::arch::is_x86_feature_detected as has;
            if kernel == Kernel::Avx512 && has!("avx512f") && has!("avx512vnni") {
                return Some(Vnni::Zmm);
            }
            let wide = matches!(kernel, Kernel::Avx512 | Kernel::Avx2Fma);
            if wide && has!("avx2") && has!("avxvnni") {
                return Some(Vnni::Ymm);
            }
            None
        }

        /// `(rows, columns)` of a tile.
        fn tile(self) -> (usize, usize) {
            match self {
                Vnni::Zmm => (MR, NR),
                Vnni::Ymm => (MR_YMM, NR_YMM),
            }
        }

        /// The instruction set the packing is compiled for.
        fn isa(self) -> Isa {
            match self {
                Vnni::Zmm => Isa::Avx512,
                Vnni::Ymm => Isa::Avx2Fma,
            }
        }
    }

    /// The VPDPBUSD tiles' running sums, split over threads by panels of the triangle.
    pub(super) struct VnniSum {
        vnni: Vnni,
        parts: Vec<Part>,
    }

    impl VnniSum {
        /// Empty sums for rows of `dim` features on `threads` threads.
        pub(super) fn new(vnni: Vnni, threads: usize, dim: usize) -> VnniSum {
            let threads = threads.clamp(1, dim.div_ceil(vnni.tile().0).max(1));
            VnniSum {
                vnni,
                parts: (0..threads)
                    .map(|t| Part::new(vnni, dim, t, threads))
                    .collect(),
            }
        }

        /// Adds the rows `order` (sorted, the same dimension).
        pub(super) fn add(&mut self, x: Rows<'_>, order: &[usize]) {
            let vnni = self.vnni;
            if let [part] = &mut self.parts[..] {
                part.add(vnni, x, order);
                return;
            }
            std::thread::scope(|s| {
                for part in &mut self.parts {
                    s.spawn(move || part.add(vnni, x, order));
                }
            });
        }

        /// The upper triangle of `gram`; returns the column sums (from the packed blocks of the
        /// first part).
        pub(super) fn finish(mut self, dim: usize, gram: &mut [u64]) -> Vec<u64> {
            for part in &mut self.parts {
                part.finish();
            }
            let sums: Vec<u64> = self.parts[0].sums[..dim]
                .iter()
                .map(|&s| u64::try_from(s).expect("a sum of bytes"))
                .collect();
            for part in &self.parts {
                part.write_upper(&sums, gram);
            }
            sums
        }
    }

    /// The panels `t, t + threads, ...` of the triangle (interleaved: the panels near the top have
    /// more tiles), with their 64-bit totals of `(x_i - 128) x_j`.
    struct Part {
        /// Rows of a panel (of a tile).
        mr: usize,
        /// Global panel indices, in order.
        panels: Vec<usize>,
        /// `mr` rows per panel, `cols` columns each: the sums since the last fold, and the 64-bit
        /// totals of the folds (empty until the rows pass one chunk).
        acc: Vec<i32>,
        totals: Vec<i64>,
        /// Rows summed in `acc` since the last fold.
        pending: usize,
        cols: usize,
        /// The column sums `S` (the first thread's part only; the packed width of them, the
        /// padding's meaningless), else empty.
        sums: Vec<i64>,
        /// The packed block, its width, one row of zeros, the block's column sums.
        packed: Vec<u32>,
        width: usize,
        zeros: Vec<u8>,
        block_sums: Vec<i32>,
    }

    impl Part {
        fn new(vnni: Vnni, dim: usize, t: usize, threads: usize) -> Part {
            let (mr, nr) = vnni.tile();
            let panels: Vec<usize> = (t..dim.div_ceil(mr)).step_by(threads).collect();
            // Packed width: a tile may read up to mr rows or nr columns past its first feature;
            // the column sums read whole 16-lane vectors.
            let width = dim
                .next_multiple_of(nr)
                .max(dim.next_multiple_of(mr))
                .next_multiple_of(16);
            let cols = dim.next_multiple_of(nr);
            Part {
                mr,
                acc: vec![0i32; panels.len() * mr * cols],
                panels,
                totals: Vec::new(),
                pending: 0,
                cols,
                sums: if t == 0 {
                    vec![0i64; width]
                } else {
                    Vec::new()
                },
                packed: vec![FLIP; BLOCK_QUADS * width],
                width,
                zeros: vec![0u8; dim],
                block_sums: vec![0i32; width],
            }
        }

        /// Adds the rows `order` block by block, folding `acc` into the 64-bit totals before
        /// its lanes could overflow.
        fn add(&mut self, vnni: Vnni, x: Rows<'_>, order: &[usize]) {
            let (dim, width) = (x.dim, self.width);
            for block in order.chunks(4 * BLOCK_QUADS) {
                if self.pending + block.len() > CHUNK_ROWS {
                    self.fold();
                }
                self.pending += block.len();
                let quads = block.len().div_ceil(4);
                let (packed, zeros) = (&mut self.packed, &self.zeros);
                // The byte interleave compiled for the CPU's vectors (it has the tiles' ISA).
                vectorized(
                    vnni.isa(),
                    #[inline(always)]
                    || pack(x, block, zeros, &mut packed[..quads * width], width),
                );
                let block = Block {
                    packed: &self.packed,
                    width,
                    quads,
                };
                if !self.sums.is_empty() {
                    packed_sums(vnni, &block, &mut self.block_sums);
                    // Each packed byte is x - 128, a missing row's included (x = 0).
                    let offset = 4 * 128 * quads as i64;
                    for (s, &b) in self.sums.iter_mut().zip(&self.block_sums) {
                        *s += i64::from(b) + offset;
                    }
                }
                tiles(vnni, &block, &self.panels, dim, &mut self.acc, self.cols);
            }
        }

        /// `totals += acc; acc = 0`.
        fn fold(&mut self) {
            self.totals.resize(self.acc.len(), 0i64);
            for (t, a) in self.totals.iter_mut().zip(&mut self.acc) {
                *t += i64::from(*a);
                *a = 0;
            }
            self.pending = 0;
        }

        /// Folds the last sums where there were folds before (else `acc` holds everything).
        fn finish(&mut self) {
            if !self.totals.is_empty() {
                self.fold();
            }
        }

        /// `G_ij = total_ij + 128 S_j` for `j >= i` in this part's panels.
        fn write_upper(&self, sums: &[u64], gram: &mut [u64]) {
            let dim = sums.len();
            let mr = self.mr;
            for (local, &p) in self.panels.iter().enumerate() {
                for r in 0..mr {
                    let i = p * mr + r;
                    if i >= dim {
                        break;
                    }
                    let at = (local * mr + r) * self.cols;
                    let total = |j: usize| {
                        if self.totals.is_empty() {
                            i64::from(self.acc[at + j])
                        } else {
                            self.totals[at + j]
                        }
                    };
                    for j in i..dim {
                        let g = total(j) + 128 * sums[j] as i64;
                        gram[i * dim + j] = u64::try_from(g).expect("a sum of products of bytes");
                    }
                }
            }
        }
    }

    /// One packed block: `quads` rows of `width` `u32`s.
    struct Block<'a> {
        packed: &'a [u32],
        width: usize,
        quads: usize,
    }

    /// Packs the rows `block` (at most `4 * BLOCK_QUADS`) as flipped byte quads; a missing row of
    /// the last quad is `zeros` (`dim` zero bytes: their products with anything are zero).
    #[inline(always)]
    fn pack(x: Rows<'_>, block: &[usize], zeros: &[u8], packed: &mut [u32], width: usize) {
        for (q, out) in block.chunks(4).zip(packed.chunks_exact_mut(width)) {
            let row = |k: usize| q.get(k).map_or(zeros, |&r| x.row(r));
            let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
            for ((((o, &a), &b), &c), &d) in out.iter_mut().zip(r0).zip(r1).zip(r2).zip(r3) {
                *o = u32::from_le_bytes([a, b, c, d]) ^ FLIP;
            }
        }
    }

    /// `sums[j] = sum over the block's quads of the four signed bytes x - 128 at feature j`, for
    /// the whole packed width (`sums.len() == block.width`, a multiple of 16): one VPDPBUSD of a
    /// vector of ones per 16 (or 8) features and quad.
    fn packed_sums(vnni: Vnni, block: &Block<'_>, sums: &mut [i32]) {
        assert!(sums.len() == block.width && block.width.is_multiple_of(16));
        assert!(block.packed.len() >= block.quads * block.width);
        // SAFETY: `Vnni::for_kernel` found the instructions of this `vnni` on this CPU; the
        // lengths as asserted above.
        unsafe {
            match vnni {
                Vnni::Zmm => sums_vnni(block, sums),
                Vnni::Ymm => sums_vnni_ymm(block, sums),
            }
        }
    }

    /// Every tile of `panels` on or above the diagonal, added into `acc`.
    fn tiles(
        vnni: Vnni,
        block: &Block<'_>,
        panels: &[usize],
        dim: usize,
        acc: &mut [i32],
        cols: usize,
    ) {
        let (mr, nr) = vnni.tile();
        // The step of the tiles' first columns: one vector (the tiles are two) for the 512-bit
        // tiles; the 256-bit ones always take two, since 6 accumulators alone would wait on the
        // instruction's latency (measured: no faster than a tile of two).
        let half = match vnni {
            Vnni::Zmm => nr / 2,
            Vnni::Ymm => nr,
        };
        for (local, &p) in panels.iter().enumerate() {
            let i0 = p * mr;
            let rows = mr.min(dim - i0);
            let c = &mut acc[local * mr * cols..(local + 1) * mr * cols];
            // From the vector of columns that holds the diagonal's first entry; a tile of one
            // vector where a tile of two would have one below the diagonal (the first, when the
            // diagonal starts in the second half) or past the last column.
            let mut j0 = i0 / half * half;
            while j0 < dim {
                let narrow = half < nr && (j0 % nr != 0 || dim - j0 <= half);
                // SAFETY: `Vnni::for_kernel` found the instructions of this `vnni` on this CPU;
                // the block holds `quads` lines of `width >= i0 + mr, j0 + nr` values (the packed
                // width, see `Part::compute`, is a multiple of nr past the last column and of
                // mr past the last row); `c` holds mr rows of `cols >= j0 + nr` values.
                unsafe {
                    match (vnni, narrow) {
                        (Vnni::Zmm, false) => tile_vnni::<2>(block, i0, j0, c, cols, rows),
                        (Vnni::Zmm, true) => tile_vnni::<1>(block, i0, j0, c, cols, rows),
                        (Vnni::Ymm, _) => tile_vnni_ymm::<2>(block, i0, j0, c, cols, rows),
                    }
                }
                j0 += if narrow { half } else { nr };
            }
        }
    }

    /// Defines a VPDPBUSD tile function for one vector width: the tile at features
    /// `i0 .. i0 + $mr` x `j0 .. j0 + NV * $lanes` (`NV` vectors, 1 or 2): `c[i][j0 + j] += sum
    /// over the quads of (x_i - 128) x_j` for the first `rows` rows, in `NV * $mr` accumulators;
    /// per quad `NV` vector loads (flipped back to unsigned) and `$mr` broadcasts (signed).
    macro_rules! vnni_tile {
        (
            $(#[$doc:meta])*
            $name:ident, $features:literal, $mr:expr, $lanes:literal, $vec:ident,
            $setzero:ident, $set1:ident, $loadu:ident, $storeu:ident, $xor:ident, $add:ident,
            $dpbusd:ident
        ) => {
            $(#[$doc])*
            ///
            /// # Safety
            /// The target features are available; `block.packed` holds `block.quads` lines of
            /// `block.width >= max(i0 + $mr, j0 + NV * $lanes)` values; `c` holds `rows <= $mr`
            /// rows of `cols >= j0 + NV * $lanes` values.
            #[target_feature(enable = $features)]
            unsafe fn $name<const NV: usize>(
                block: &Block<'_>,
                i0: usize,
                j0: usize,
                c: &mut [i32],
                cols: usize,
                rows: usize,
            ) {
                use std::arch::x86_64::{
                    $add, $dpbusd, $loadu, $set1, $setzero, $storeu, $vec, $xor,
                };
                const TILE_ROWS: usize = $mr;
                let tile_cols = NV * $lanes;
                assert!(NV == 1 || NV == 2);
                assert!(block.width >= i0 + TILE_ROWS && block.width >= j0 + tile_cols);
                assert!(block.packed.len() >= block.quads * block.width);
                assert!(rows <= TILE_ROWS && c.len() >= (rows.max(1) - 1) * cols + j0 + tile_cols);
                let mut acc = [[$setzero(); NV]; TILE_ROWS];
                let flip = $set1(FLIP as i32);
                let mut line = block.packed.as_ptr();
                for _ in 0..block.quads {
                    // SAFETY: `line` is the start of one of the `quads` lines (asserted above):
                    // columns j0 .. j0 + tile_cols and i0 .. i0 + TILE_ROWS are inside it.
                    unsafe {
                        let mut b = [$setzero(); NV];
                        for (v, b) in b.iter_mut().enumerate() {
                            *b = $xor($loadu(line.add(j0 + v * $lanes).cast::<$vec>()), flip);
                        }
                        for (i, acc_i) in acc.iter_mut().enumerate() {
                            let a = $set1(*line.add(i0 + i) as i32);
                            for (x, &b) in acc_i.iter_mut().zip(&b) {
                                *x = $dpbusd(*x, b, a);
                            }
                        }
                    }
                    line = line.wrapping_add(block.width);
                }
                for (i, acc_i) in acc.iter().enumerate().take(rows) {
                    let row = &mut c[i * cols + j0..][..tile_cols];
                    for (v, &x) in acc_i.iter().enumerate() {
                        // SAFETY: `row` has tile_cols = NV * $lanes values: vector v covers
                        // row[$lanes v .. $lanes (v + 1)].
                        unsafe {
                            let p = row.as_mut_ptr().add($lanes * v).cast::<$vec>();
                            $storeu(p, $add($loadu(p), x));
                        }
                    }
                }
            }
        };
    }

    /// Defines a column-sum function of [`packed_sums`] for one vector width: per quad and
    /// `$lanes` features, `sums += VPDPBUSD(ones, packed)` (the packed bytes are the signed side).
    macro_rules! vnni_sums {
        (
            $(#[$doc:meta])*
            $name:ident, $features:literal, $lanes:literal, $vec:ident, $setzero:ident,
            $set1:ident, $loadu:ident, $storeu:ident, $dpbusd:ident
        ) => {
            $(#[$doc])*
            ///
            /// # Safety
            /// The target features are available; `block.packed` holds `block.quads` lines of
            /// `block.width` values, a multiple of 16; `sums` holds `block.width` values.
            #[target_feature(enable = $features)]
            unsafe fn $name(block: &Block<'_>, sums: &mut [i32]) {
                use std::arch::x86_64::{$dpbusd, $loadu, $set1, $setzero, $storeu, $vec};
                let ones = $set1(0x0101_0101);
                for f in (0..block.width).step_by($lanes) {
                    let mut acc = $setzero();
                    let mut at = block.packed.as_ptr().wrapping_add(f);
                    for _ in 0..block.quads {
                        // SAFETY: `at` is feature f of one of the `quads` lines, f + $lanes <=
                        // width (the contract).
                        acc = $dpbusd(acc, ones, unsafe { $loadu(at.cast::<$vec>()) });
                        at = at.wrapping_add(block.width);
                    }
                    // SAFETY: f + $lanes <= width = sums.len().
                    unsafe { $storeu(sums.as_mut_ptr().add(f).cast::<$vec>(), acc) };
                }
            }
        };
    }

    vnni_sums!(
        /// The column sums with AVX-512 VNNI.
        sums_vnni, "avx512f,avx512vnni", 16, __m512i, _mm512_setzero_si512, _mm512_set1_epi32,
        _mm512_loadu_si512, _mm512_storeu_si512, _mm512_dpbusd_epi32
    );

    vnni_sums!(
        /// The column sums with AVX-VNNI.
        sums_vnni_ymm, "avx2,avxvnni", 8, __m256i, _mm256_setzero_si256, _mm256_set1_epi32,
        _mm256_loadu_si256, _mm256_storeu_si256, _mm256_dpbusd_avx_epi32
    );

    vnni_tile!(
        /// The AVX-512 VNNI tile: 14 x 32, 28 `zmm` accumulators (the broadcasts fold into the
        /// instructions).
        tile_vnni, "avx512f,avx512vnni", MR, 16, __m512i,
        _mm512_setzero_si512, _mm512_set1_epi32, _mm512_loadu_si512, _mm512_storeu_si512,
        _mm512_xor_si512, _mm512_add_epi32, _mm512_dpbusd_epi32
    );

    vnni_tile!(
        /// The 256-bit AVX-VNNI tile (for CPUs without AVX-512 VNNI): 6 x 16, 12 accumulators;
        /// with two vectors, the XOR constant and a broadcast they fill the 16 `ymm` registers.
        tile_vnni_ymm, "avx2,avxvnni", MR_YMM, 8, __m256i,
        _mm256_setzero_si256, _mm256_set1_epi32, _mm256_loadu_si256, _mm256_storeu_si256,
        _mm256_xor_si256, _mm256_add_epi32, _mm256_dpbusd_avx_epi32
    );
}

/// The [`GramU8Sum`] of `rows` of `pixels` added part by part, the parts being the rows
/// `bounds[i]..bounds[i + 1]`, each handed over as a matrix of its own (tests of the sums in parts).
#[cfg(test)]
pub(crate) fn sum_in_parts(
    mm: &Matmul,
    pixels: &[u8],
    dim: usize,
    rows: &[usize],
    bounds: &[usize],
) -> GramU8 {
    let mut sum = mm.gram_u8_sum(dim).unwrap();
    for w in bounds.windows(2) {
        let (first, end) = (w[0], w[1]);
        let local: Vec<usize> = rows
            .iter()
            .filter(|&&r| (first..end).contains(&r))
            .map(|&r| r - first)
            .collect();
        sum.add(&pixels[first * dim..end * dim], &local).unwrap();
    }
    sum.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::Kernel;

    /// `G` and `S` by the definition, in `u64`.
    fn naive(pixels: &[u8], dim: usize, rows: &[usize]) -> (Vec<u64>, Vec<u64>) {
        let mut g = vec![0u64; dim * dim];
        let mut s = vec![0u64; dim];
        for &r in rows {
            let x = &pixels[r * dim..(r + 1) * dim];
            for i in 0..dim {
                s[i] += u64::from(x[i]);
                for j in 0..dim {
                    g[i * dim + j] += u64::from(x[i]) * u64::from(x[j]);
                }
            }
        }
        (g, s)
    }

    fn pixels(n: usize, dim: usize, seed: u64) -> Vec<u8> {
        let mut state = seed;
        (0..n * dim)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                // Mostly the extremes, which stress the range, and some zeros.
                match (state >> 60) as u8 {
                    0..=5 => 255,
                    6..=8 => 0,
                    v => (state >> 33) as u8 ^ v,
                }
            })
            .collect()
    }

    #[test]
    fn every_kernel_and_thread_count_is_exact() {
        // Shapes around the tile sizes, a partial last quad, repeated and unsorted rows.
        for &(n, dim) in &[
            (1, 1),
            (5, 13),
            (9, 14),
            (37, 33),
            (1030, 45),
            (600, 100),
            (9, 784),
        ] {
            let x = pixels(n, dim, (n * 31 + dim) as u64);
            let rows: Vec<usize> = (0..n).rev().chain([0, n / 2, n / 2]).collect();
            let (g, s) = naive(&x, dim, &rows);
            for kernel in Kernel::available() {
                for threads in [1, 2, 3] {
                    let mm = Matmul::with_kernel(kernel, threads);
                    let got = gram_u8(&mm, &x, dim, &rows).unwrap();
                    assert_eq!(got.sums(), &s[..], "{kernel:?} {threads} {n}x{dim}");
                    assert_eq!(got.gram(), &g[..], "{kernel:?} {threads} {n}x{dim}");
                    assert_eq!((got.dim(), got.rows()), (dim, rows.len()));
                }
            }
        }
    }

    #[test]
    fn sums_in_parts_are_the_sum_of_all_rows() {
        // Parts of a matrix (each with its own row numbers, some rows twice, a partial quad in
        // each), on every kernel and thread count.
        let (n, dim) = (1100, 45);
        let x = pixels(n, dim, 7);
        let rows: Vec<usize> = (0..n).chain([3, 3, 1099]).collect();
        let (g, s) = naive(&x, dim, &rows);
        for kernel in Kernel::available() {
            for threads in [1, 2, 3] {
                let mm = Matmul::with_kernel(kernel, threads);
                let bounds = [0, 1, 514, 515, 1030, 1100];
                let got = sum_in_parts(&mm, &x, dim, &rows, &bounds);
                assert_eq!(got.rows(), rows.len());
                assert_eq!(got.sums(), &s[..], "{kernel:?} {threads}");
                assert_eq!(got.gram(), &g[..], "{kernel:?} {threads}");
            }
        }
        // A row out of range adds nothing.
        let mm = Matmul::new(1);
        let mut sum = mm.gram_u8_sum(dim).unwrap();
        sum.add(&x[..dim], &[0]).unwrap();
        assert_eq!(
            sum.add(&x[..dim], &[0, 1]),
            Err(MatmulError::RowOutOfRange { row: 1, rows: 1 })
        );
        assert_eq!(sum.rows(), 1);
        assert_eq!(sum.finish(), gram_u8(&mm, &x, dim, &[0]).unwrap());
    }

    #[test]
    fn more_rows_than_a_32_bit_chunk_holds() {
        // 70,000 rows of 255 next to rows of 0: the signed partial sums pass 2^31 in one lane
        // unless folded into 64 bits every CHUNK_ROWS rows.
        let dim = 3;
        let x: Vec<u8> = (0..70_000)
            .flat_map(|r| [255, 0, if r % 2 == 0 { 255 } else { 1 }])
            .collect();
        let rows: Vec<usize> = (0..70_000).collect();
        let (g, s) = naive(&x, dim, &rows);
        for kernel in Kernel::available() {
            let mm = Matmul::with_kernel(kernel, 1);
            let got = gram_u8(&mm, &x, dim, &rows).unwrap();
            assert_eq!((got.gram(), got.sums()), (&g[..], &s[..]), "{kernel:?}");
            // In parts of 30,000 rows: the fold happens inside the second part.
            let parts = sum_in_parts(&mm, &x, dim, &rows, &[0, 30_000, 60_000, 70_000]);
            assert_eq!(parts, got, "{kernel:?}");
        }
    }

    #[test]
    fn rows_out_of_range_and_empty_inputs() {
        let x = [1u8, 2, 3, 4, 5, 6];
        assert_eq!(
            gram_u8(&Matmul::new(1), &x, 3, &[0, 2]),
            Err(MatmulError::RowOutOfRange { row: 2, rows: 2 })
        );
        let empty = gram_u8(&Matmul::new(1), &x, 3, &[]).unwrap();
        assert_eq!(
            (empty.gram(), empty.sums()),
            (&[0u64; 9][..], &[0u64; 3][..])
        );
    }
}
