//! The BLIS loops around the micro-kernel, and the split of `C` into per-thread stripes.

use super::Blocking;
use super::kernel::{Geometry, Kernel, Tile, run_tile};
use super::pack::{pack_a, pack_b, panel_width};

/// Operands whose layout already is a packed panel are read in place when the other output
/// dimension is at most this: they are then reused only a few times, so packing would cost
/// more than it saves (the small MLP products).
const DIRECT_MAX: usize = 256;

/// Products below this many flops (`2 m n k`) run on the calling thread only: spawning
/// costs more than it gains.
const PARALLEL_MIN_FLOPS: usize = 1 << 23;

/// `C = alpha * op(A) * op(B) + beta * C` in raw form; `op(A)(i, p) = a[i * a_rs + p * a_cs]`,
/// `op(B)(p, j) = b[p * b_rs + j * b_cs]`, `C(i, j) = c[i * c_rs + j]`.
/// With `upper`, only tiles touching the upper triangle (global `i <= j`) are computed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Problem {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub alpha: f32,
    pub beta: f32,
    pub a: *const f32,
    pub a_rs: usize,
    pub a_cs: usize,
    pub b: *const f32,
    pub b_rs: usize,
    pub b_cs: usize,
    pub c: *mut f32,
    pub c_rs: usize,
    pub upper: bool,
}

/// A stripe of a problem: `diag` is (global column offset) - (global row offset).
#[derive(Clone, Copy, Debug)]
struct Stripe {
    p: Problem,
    diag: isize,
}

// SAFETY: a stripe is handed to exactly one thread; stripes of one call cover disjoint parts of
// C, and A and B are only read while the caller's borrows keep them alive (scoped threads).
unsafe impl Send for Stripe {}

/// Packing buffers of one thread. They only grow, so a warmed-up `Matmul` does not allocate.
#[derive(Debug, Default)]
pub(crate) struct PackBuffers {
    a: Vec<f32>,
    b: Vec<f32>,
    a_edge: Vec<f32>,
    b_edge: Vec<f32>,
    /// The AVX-512 tiles' lists of steps.
    zeros: ZeroSteps,
}

/// A panel's steps are listed for the kernel only when at least `1 / LIST_MIN` of them can be left
/// out: a listed step costs a little more than a step of the plain loop.
const LIST_MIN: usize = 4;

/// Calls of a product shape that do not look for zero steps after one whose lists left out fewer
/// than `1 / (2 LIST_MIN)` of its steps (looking costs a few percent of a small product).
const LOOK_AGAIN: u32 = 15;

/// The AVX-512 tiles' lists of k steps ([`Tile::list`]) for the panels of one block of A read in
/// place, and per product shape whether looking for them has paid lately. Only speed depends on
/// either: a tile gives the same bits with or without its list.
#[derive(Debug, Default)]
struct ZeroSteps {
    /// The listed steps, panel after panel.
    lists: Vec<u32>,
    /// Per panel of the current block: where its list starts in `lists` and how long it is, or
    /// `None` (every step).
    spans: Vec<Option<(usize, usize)>>,
    /// The steps left out of any list of the current block: the rows of op(B) to check.
    union: [u64; 4],
    /// This call's steps so far: left out of the lists, and in all.
    left_out: usize,
    steps: usize,
    /// Per product shape (`m`, `n`, `k` and op(A)'s strides): the calls left before looking again.
    waits: Vec<([usize; 5], u32)>,
}

impl ZeroSteps {
    /// Whether this call of a product of shape `key` looks for zero steps.
    fn look(&mut self, key: [usize; 5]) -> bool {
        self.left_out = 0;
        self.steps = 0;
        match self.waits.iter_mut().find(|(k, _)| *k == key) {
            Some((_, 0)) | None => true,
            Some((_, wait)) => {
                *wait -= 1;
                false
            }
        }
    }

    /// Records how much this call's looking left out.
    fn looked(&mut self, key: [usize; 5]) {
        let wait = if self.left_out * 2 * LIST_MIN < self.steps {
            LOOK_AGAIN
        } else {
            0
        };
        match self.waits.iter_mut().find(|(k, _)| *k == key) {
            Some((_, w)) => *w = wait,
            None => {
                // A few shapes per model; the oldest goes first.
                if self.waits.len() == 16 {
                    self.waits.remove(0);
                }
                self.waits.push((key, wait));
            }
        }
    }

    /// Fills `spans` (and `lists`, `union`) for the `panels` of A of one block: `(a, a_rs, a_ks)` of
    /// each `mr`-row panel, `kcb` steps deep. A step is left out of a panel's list when the panel's
    /// values there are all zero; the products are then zeros where op(B)'s row is finite, which
    /// the caller checks for the rows in `union` before it hands the lists to the tiles of a
    /// panel of op(B) (see [`Tile::list`]).
    ///
    /// # Safety
    /// AVX-512F is available; every panel's `mr x kcb` elements are readable; `mr <= 16`,
    /// `kcb <= 256`; each panel has `a_rs == 1` or `a_ks == 1`.
    #[cfg(target_arch = "x86_64")]
    unsafe fn list(
        &mut self,
        panels: impl Iterator<Item = (*const f32, usize, usize)>,
        mr: usize,
        kcb: usize,
    ) {
        self.spans.clear();
        self.lists.clear();
        self.union = [0; 4];
        for (a, a_rs, a_ks) in panels {
            // SAFETY: forwarded contract.
            let zero = unsafe { super::avx512::zero_steps(a, a_rs, a_ks, mr, kcb) };
            self.steps += kcb;
            let n: usize = zero.iter().map(|w| w.count_ones() as usize).sum();
            if n == 0 || n * LIST_MIN < kcb {
                self.spans.push(None);
                continue;
            }
            let start = self.lists.len();
            // SAFETY: AVX-512F is available (the contract).
            unsafe { super::avx512::kept_steps(&zero, kcb, &mut self.lists) };
            self.spans.push(Some((start, kcb - n)));
            self.left_out += n;
            for (u, z) in self.union.iter_mut().zip(zero) {
                *u |= z;
            }
        }
    }
}

/// A 64-byte aligned slice of `len` elements inside `buf`, growing `buf` when needed.
pub(super) fn aligned(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    const PAD: usize = 16;
    if buf.len() < len + PAD {
        buf.resize(len + PAD, 0.0);
    }
    let off = buf.as_ptr().align_offset(64).min(PAD);
    &mut buf[off..off + len]
}

/// `kc` for depth `k`: the fewest blocks of at most `max`, all of (nearly) equal depth, so no
/// short last block. Depends only on `k`, which keeps results independent of the threads.
fn block_depth(k: usize, max: usize) -> usize {
    let blocks = k.div_ceil(max).max(1);
    k.div_ceil(blocks)
}

/// The source of the next `k` block of op(B) when its rows are whole rows of B (one contiguous
/// region) and it fits in L2 beside the current block, handed to the tiles of the current block a
/// few lines each: the AVX-512 kernel asks L2 for them during its k loop ([`Tile::pf`]), so that
/// packing that block finds them there instead of waiting on memory. (Where the two blocks do not
/// fit, the next would push the current one out of L2: the covariance's 784 columns on Zen 5's
/// 1 MiB, `nc = 1024`.)
struct Ahead {
    next: *const f32,
    left: usize,
    per_tile: usize,
}

impl Ahead {
    /// For the block of op(B) at (`pc`, `jc`) after the current one (`ncb` columns), spread over the
    /// tiles of the current block; `nc` is the blocking's, the columns of a block that fills L2.
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &Problem,
        jc: usize,
        ncb: usize,
        nc: usize,
        pc: usize,
        kc: usize,
        direct_b: bool,
        mr: usize,
        nr: usize,
    ) -> Ahead {
        let whole_rows = p.b_cs == 1 && jc == 0 && ncb == p.b_rs;
        if direct_b || !whole_rows || pc >= p.k || 2 * ncb >= nc {
            return Ahead {
                next: std::ptr::null(),
                left: 0,
                per_tile: 0,
            };
        }
        let lines = (kc.min(p.k - pc) * ncb).div_ceil(16);
        let tiles = p.m.div_ceil(mr) * ncb.div_ceil(nr);
        // A triangle runs about half of the tiles.
        let tiles = if p.upper { tiles.div_ceil(2) } else { tiles };
        Ahead {
            next: p.b.wrapping_add(pc * p.b_rs),
            left: lines,
            per_tile: lines.div_ceil(tiles).min(32),
        }
    }

    /// The next tile's lines: the first and how many.
    fn take(&mut self) -> (*const f32, usize) {
        let n = self.per_tile.min(self.left);
        let first = self.next;
        self.next = self.next.wrapping_add(16 * n);
        self.left -= n;
        (first, n)
    }
}

/// The cache blocks of one call: `mc` rows and `nc` columns, whole tiles.
#[derive(Clone, Copy, Debug)]
struct Blocks {
    mc: usize,
    nc: usize,
}

/// Runs `p` with `kernel` and `blocking` over as many stripes as there are pack_buffers (threads)
/// and work.
///
/// # Safety
/// Every element of op(A) (m x k), op(B) (k x n) and C (m x n) addressed through `p` is valid
/// (C exclusively) for the call, and the CPU supports `kernel`.
pub(crate) unsafe fn run(
    kernel: Kernel,
    blocking: Blocking,
    pack_buffers: &mut [PackBuffers],
    p: &Problem,
) {
    if p.m == 0 || p.n == 0 {
        return;
    }
    if p.k == 0 || p.alpha == 0.0 {
        // SAFETY: forwarded contract on C.
        unsafe { scale_c(p) };
        return;
    }
    let g = kernel.geometry_for(p.m);
    let flops =
        p.m.saturating_mul(p.n)
            .saturating_mul(p.k)
            .saturating_mul(2);
    let threads = if flops < PARALLEL_MIN_FLOPS {
        1
    } else {
        pack_buffers.len()
    };
    #[cfg(target_arch = "x86_64")]
    if let Some((tail, how)) = column_tail(kernel, p, &g, threads == 1) {
        let main = Problem {
            n: p.n - tail,
            ..*p
        };
        // The tail first (the two write different columns, so the order changes no element):
        // measured on Zen 5, the MLP epoch's loss phase takes 1.6 ms, 2.0 with the tail last,
        // and its forward and backward phases 0.3-0.5 ms less (a burst of the tail's narrow
        // stores just before the caller reads C seems to stall those reads).
        // SAFETY: `column_tail` checked AVX-512 (the kernel, which the caller checked), the
        // layout (unit row or k stride of op(A)) and the offsets; the last `tail` columns of
        // op(B) and C are valid by the contract.
        unsafe { run_column_tail(p, &g, tail, how) };
        // SAFETY: forwarded contract; `main` addresses the first n - tail columns of p.
        unsafe { run(kernel, blocking, pack_buffers, &main) };
        return;
    }
    let kc = block_depth(p.k, g.kc);
    // `blocking.mc` counts rows of the kernel's tallest tile; a shorter tile keeps the tile count.
    let blocks = Blocks {
        mc: (blocking.mc / kernel.geometry().mr).max(1) * g.mr,
        nc: (blocking.nc / g.nr).max(1) * g.nr,
    };
    let plan = Plan::new(p, &g, threads);
    if plan.count == 1 {
        // SAFETY: forwarded contract; the single stripe is the whole problem.
        unsafe {
            run_stripe(
                kernel,
                &mut pack_buffers[0],
                &g,
                blocks,
                kc,
                &plan.stripe(p, 0),
            )
        };
        return;
    }
    let (first, rest) = pack_buffers
        .split_first_mut()
        .expect("at least one set of packing buffers");
    std::thread::scope(|s| {
        for (t, ws) in rest.iter_mut().enumerate().take(plan.count - 1) {
            let stripe = plan.stripe(p, t + 1);
            s.spawn(move || {
                // SAFETY: forwarded contract; this stripe's part of C is disjoint from every
                // other stripe's, and the scope outlives no borrow of the caller.
                unsafe { run_stripe(kernel, ws, &g, blocks, kc, &stripe) }
            });
        }
        // SAFETY: as above, for stripe 0 on the calling thread.
        unsafe { run_stripe(kernel, first, &g, blocks, kc, &plan.stripe(p, 0)) };
    });
}

/// How [`run_column_tail`] computes the last columns of a product.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
enum ColumnTail {
    /// [`super::avx512::column_tail`]: op(A) has unit row stride (a column is a vector).
    Columns,
    /// [`super::avx512::column_tail_rows`]: op(A) has unit k stride, transposed in registers.
    Rows,
}

/// The number of last columns of `p` that the AVX-512 column tails compute instead of a narrow
/// panel of tiles, and which one: with the AVX-512 kernel, when the columns past the last full
/// panel are at most [`TAIL_COLS`](super::avx512::TAIL_COLS) (a 14 x 16 tile would compute 16),
/// or the whole product is that narrow (the MLP's output layer, 10 classes: then `whole` must
/// allow it, the tails being one thread's), the offsets of 16 rows of C fit an `i32` and the
/// product is not a triangle; then with the rows as vector lanes, read in place where op(A) has
/// unit row stride and `k` is one block deep (the MLP's weight gradients `X^T dZ`: 96 + 4 columns
/// with 100 hidden units, 10 with 10 classes), else transposed 16 x 8 at a time where op(A) has
/// unit k stride (the forward products `X W`, 50 x 784 x 100; for every `k`: on Zen 5 the
/// transposes cost less than the narrow tiles from `k = 1`) and the columns are at most
/// [`ROWS_TAIL_COLS`](super::avx512::ROWS_TAIL_COLS).
#[cfg(target_arch = "x86_64")]
fn column_tail(
    kernel: Kernel,
    p: &Problem,
    g: &Geometry,
    whole: bool,
) -> Option<(usize, ColumnTail)> {
    use super::avx512::{ROWS_TAIL_COLS, TAIL_COLS};
    let tail = if p.n <= TAIL_COLS && whole {
        p.n
    } else if p.n > g.nr {
        p.n % g.nr
    } else {
        0
    };
    // The tails' gathers and scatters address 16 rows of C from the first one's start.
    let fits = p
        .c_rs
        .checked_mul(15)
        .and_then(|x| x.checked_add(TAIL_COLS))
        .is_some_and(|x| x < i32::MAX as usize);
    if kernel != Kernel::Avx512 || p.upper || !(1..=TAIL_COLS).contains(&tail) || !fits {
        return None;
    }
    if p.a_rs == 1 && p.k <= g.kc {
        Some((tail, ColumnTail::Columns))
    } else if p.a_cs == 1 && tail <= ROWS_TAIL_COLS {
        Some((tail, ColumnTail::Rows))
    } else {
        None
    }
}

/// The last `tail` columns of `p` by the AVX-512 column tail `how`.
///
/// # Safety
/// As [`super::avx512::column_tail`] or [`super::avx512::column_tail_rows`] for those columns:
/// [`column_tail`] returned `(tail, how)` for `p` and `g`, and the caller's contract on `p` holds.
#[cfg(target_arch = "x86_64")]
unsafe fn run_column_tail(p: &Problem, g: &Geometry, tail: usize, how: ColumnTail) {
    use super::avx512::{column_tail, column_tail_rows};
    let first = p.n - tail;
    let kc = block_depth(p.k, g.kc);
    // One arm per column count; `column_tail` keeps about 24 accumulators: `V` vectors of 16
    // rows times the columns.
    macro_rules! dispatch {
        ($($cols:literal => $v:literal),*) => {
            match (how, tail) {
                $(
                    (ColumnTail::Columns, $cols) => column_tail::<$cols, $v>(p, first),
                    (ColumnTail::Rows, $cols) => column_tail_rows::<$cols>(p, first, kc),
                )*
                _ => unreachable!("a column tail of 1 to 16 columns"),
            }
        };
    }
    // SAFETY: forwarded contract; `kc` is the tiles' block depth (> 0 since k > 0).
    unsafe {
        dispatch!(
            1 => 4, 2 => 4, 3 => 4, 4 => 4, 5 => 4, 6 => 4, 7 => 2, 8 => 2, 9 => 2, 10 => 2,
            11 => 2, 12 => 2, 13 => 1, 14 => 1, 15 => 1, 16 => 1
        )
    }
}

/// How C is cut into stripes: by rows (multiples of `mr`) or columns (multiples of `nr`).
struct Plan {
    count: usize,
    by_rows: bool,
    /// Row or column boundaries are `bound(s)` for `s` in `0..=count`.
    unit: usize,
    len: usize,
    per: usize,
    upper: bool,
}

impl Plan {
    fn new(p: &Problem, g: &Geometry, threads: usize) -> Plan {
        let by_rows = !p.upper && p.m >= p.n;
        let (len, unit) = if by_rows { (p.m, g.mr) } else { (p.n, g.nr) };
        let units = len.div_ceil(unit);
        let count = threads.min(units).max(1);
        Plan {
            count,
            by_rows,
            unit,
            len,
            per: units.div_ceil(count),
            upper: p.upper,
        }
    }

    /// Start of stripe `s` (`s == count` gives the end).
    fn bound(&self, s: usize) -> usize {
        if s >= self.count {
            return self.len;
        }
        if self.upper {
            // Equal areas of the upper triangle: column j holds j + 1 elements.
            let x = self.len as f64 * (s as f64 / self.count as f64).sqrt();
            let b = (x / self.unit as f64).round() as usize * self.unit;
            b.min(self.len)
        } else {
            (s * self.per * self.unit).min(self.len)
        }
    }

    fn stripe(&self, p: &Problem, s: usize) -> Stripe {
        let (lo, hi) = (self.bound(s), self.bound(s + 1).max(self.bound(s)));
        let mut q = *p;
        if self.by_rows {
            q.m = hi - lo;
            q.a = p.a.wrapping_add(lo * p.a_rs);
            q.c = p.c.wrapping_add(lo * p.c_rs);
            Stripe {
                p: q,
                diag: -(lo as isize),
            }
        } else {
            q.n = hi - lo;
            q.b = p.b.wrapping_add(lo * p.b_cs);
            q.c = p.c.wrapping_add(lo);
            Stripe {
                p: q,
                diag: lo as isize,
            }
        }
    }
}

/// `C = beta * C` (zeros when beta == 0, ignoring NaNs in C).
///
/// # Safety
/// C (m x n at `p.c`, row stride `p.c_rs`) is valid and exclusively borrowed.
unsafe fn scale_c(p: &Problem) {
    for i in 0..p.m {
        // SAFETY: row i of C holds n valid elements, exclusively borrowed.
        let row = unsafe { std::slice::from_raw_parts_mut(p.c.add(i * p.c_rs), p.n) };
        if p.beta == 0.0 {
            row.fill(0.0);
        } else {
            row.iter_mut().for_each(|x| *x *= p.beta);
        }
    }
}

/// The BLIS loops 5..1 over one stripe, on one thread.
///
/// # Safety
/// As [`run`], for the stripe's (sub)problem.
unsafe fn run_stripe(
    kernel: Kernel,
    ws: &mut PackBuffers,
    g: &Geometry,
    blocks: Blocks,
    kc: usize,
    s: &Stripe,
) {
    let p = &s.p;
    if p.m == 0 || p.n == 0 {
        return;
    }
    let (mr, nr, narrow, pa) = (g.mr, g.nr, g.nr_narrow, g.packed_a_ks);
    // op(A) always has one unit stride, so its full panels can be read in place (the kernel
    // takes both strides); op(B) only when its columns are contiguous.
    let direct_a = p.n <= DIRECT_MAX;
    let direct_b = p.b_cs == 1 && p.m <= DIRECT_MAX;
    // Panels of A read in place (the small products) leave out the steps where they are all zero
    // (the background pixels of the images), with the AVX-512 kernel, while that pays.
    let shape = [p.m, p.n, p.k, p.a_rs, p.a_cs];
    let look = cfg!(target_arch = "x86_64")
        && direct_a
        && kernel == Kernel::Avx512
        && g.mr <= 16
        && ws.zeros.look(shape);
    // Tile (i0, j0..j0 + cols) lies entirely below the diagonal (global i > j).
    let below = |i0: usize, j_last: usize| p.upper && i0 as isize > j_last as isize + s.diag;
    // LOOP 5: split n into nc-column blocks.
    for jc in (0..p.n).step_by(blocks.nc) {
        let ncb = blocks.nc.min(p.n - jc);
        // LOOP 4: split k into kc-deep blocks; the first applies beta, the rest accumulate.
        for pc in (0..p.k).step_by(kc) {
            let kcb = kc.min(p.k - pc);
            let beta = if pc == 0 { p.beta } else { 1.0 };
            let b_blk = p.b.wrapping_add(pc * p.b_rs + jc * p.b_cs);
            let last_j0 = (ncb - 1) / nr * nr;
            let b_packed: *const f32 = if !direct_b {
                let dst = aligned(&mut ws.b, ncb.div_ceil(nr) * nr * kcb);
                // SAFETY: the kcb x ncb block of op(B) at (pc, jc) is inside op(B).
                unsafe { pack_b(kernel, dst, b_blk, p.b_rs, p.b_cs, kcb, ncb, nr, narrow) };
                dst.as_ptr()
            } else if ncb - last_j0 < nr && !g.masked_b {
                // In place, except a partial last panel (its full-width rows would overrun B)
                // when the kernel cannot load B under a mask.
                let dst = aligned(&mut ws.b_edge, nr * kcb);
                let src = b_blk.wrapping_add(last_j0 * p.b_cs);
                // SAFETY: the kcb x (ncb - last_j0) block at (pc, jc + last_j0) is inside op(B).
                unsafe {
                    pack_b(
                        kernel,
                        dst,
                        src,
                        p.b_rs,
                        p.b_cs,
                        kcb,
                        ncb - last_j0,
                        nr,
                        narrow,
                    )
                };
                dst.as_ptr()
            } else {
                std::ptr::null()
            };
            let mut ahead = Ahead::new(p, jc, ncb, blocks.nc, pc + kc, kc, direct_b, mr, nr);
            // LOOP 3: split m into mc-row blocks.
            for ic in (0..p.m).step_by(blocks.mc) {
                if below(ic, jc + ncb - 1) {
                    break;
                }
                let mcb = blocks.mc.min(p.m - ic);
                let a_blk = p.a.wrapping_add(ic * p.a_rs + pc * p.a_cs);
                let last_i0 = (mcb - 1) / mr * mr;
                let a_packed: *const f32 = if !direct_a {
                    let dst = aligned(&mut ws.a, mcb.div_ceil(mr) * pa * kcb);
                    // SAFETY: the mcb x kcb block of op(A) at (ic, pc) is inside op(A); pa >= mr.
                    unsafe { pack_a(kernel, dst, a_blk, p.a_rs, p.a_cs, mcb, kcb, mr, pa) };
                    dst.as_ptr()
                } else if mcb - last_i0 < mr && ic + last_i0 < mr - (mcb - last_i0) {
                    // In place, except a partial last panel that cannot be shifted up (fewer
                    // than mr rows in the stripe).
                    let dst = aligned(&mut ws.a_edge, pa * kcb);
                    let src = a_blk.wrapping_add(last_i0 * p.a_rs);
                    // SAFETY: the (mcb - last_i0) x kcb block at (ic + last_i0, pc) is inside op(A).
                    unsafe { pack_a(kernel, dst, src, p.a_rs, p.a_cs, mcb - last_i0, kcb, mr, pa) };
                    dst.as_ptr()
                } else {
                    std::ptr::null()
                };
                // The mr-row panel of A at i0 as the tiles read it: (a, a_rs, a_ks, skip, row0).
                let a_panel = |i0: usize| {
                    let valid_m = mr.min(mcb - i0);
                    // A partial panel read in place is shifted up by `skip` rows so that it
                    // ends at the last row; the shared rows are computed, not stored.
                    let skip = if direct_a && ic + i0 >= mr - valid_m {
                        mr - valid_m
                    } else {
                        0
                    };
                    let row0 = ic + i0 - skip;
                    let (a, a_rs, a_ks) = if direct_a && (valid_m == mr || skip > 0) {
                        (
                            p.a.wrapping_add(row0 * p.a_rs + pc * p.a_cs),
                            p.a_rs,
                            p.a_cs,
                        )
                    } else if direct_a {
                        (a_packed, 1, pa)
                    } else {
                        (a_packed.wrapping_add(i0 / mr * pa * kcb), 1, pa)
                    };
                    (a, a_rs, a_ks, skip, row0)
                };
                #[cfg(target_arch = "x86_64")]
                if look {
                    let panels = (0..mcb).step_by(mr).map(|i0| {
                        let (a, a_rs, a_ks, _, _) = a_panel(i0);
                        (a, a_rs, a_ks)
                    });
                    // SAFETY: the caller checked AVX-512 (`look`); each panel is mr <= 16 rows of
                    // op(A) read in place (unit row or k stride) or the packed edge panel,
                    // kcb <= kc <= 256 steps.
                    unsafe { ws.zeros.list(panels, mr, kcb) };
                }
                let (lists, spans, union) =
                    (ws.zeros.lists.as_ptr(), &ws.zeros.spans, ws.zeros.union);
                // Whether the tiles of the panel of op(B) at j0 may take their lists: op(B)'s rows
                // left out are finite there (zero times an infinity or a NaN is not zero). Read just
                // before those tiles, the panel is then in L1 for them.
                let lists_for = |j0: usize| {
                    if !look || union == [0; 4] {
                        return look;
                    }
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `look` means AVX-512; the kcb x (ncb - j0) block of op(B) at
                    // (pc, jc + j0) is inside op(B).
                    return unsafe {
                        super::avx512::rows_finite(
                            b_blk.wrapping_add(j0 * p.b_cs),
                            p.b_rs,
                            p.b_cs,
                            nr.min(ncb - j0),
                            &union,
                            kcb,
                        )
                    };
                    #[cfg(not(target_arch = "x86_64"))]
                    {
                        // Never reached: only the AVX-512 kernel looks for zero steps.
                        let _ = j0;
                        false
                    }
                };
                // One micro-tile: the nr-column panel of B at j0 times the mr-row panel of A at i0.
                let tile_at =
                    |j0: usize, i0: usize, listed: bool, pf: *const f32, pf_lines: usize| {
                        let valid_n = nr.min(ncb - j0);
                        let width = panel_width(valid_n, nr, narrow);
                        let (b, b_ks, b_cols) = if direct_b && (valid_n == nr || g.masked_b) {
                            (b_blk.wrapping_add(j0), p.b_rs, valid_n)
                        } else if direct_b {
                            (b_packed, width, width)
                        } else {
                            (b_packed.wrapping_add(j0 * kcb), width, width)
                        };
                        let valid_m = mr.min(mcb - i0);
                        let (a, a_rs, a_ks, skip, row0) = a_panel(i0);
                        let (list, list_len) = match listed.then(|| spans[i0 / mr]).flatten() {
                            Some((start, len)) => (lists.wrapping_add(start), len),
                            None => (std::ptr::null(), 0),
                        };
                        let tile = Tile {
                            kc: kcb,
                            a,
                            a_rs,
                            a_ks,
                            b,
                            b_ks,
                            b_cols,
                            c: p.c.wrapping_add(row0 * p.c_rs + jc + j0),
                            c_rs: p.c_rs,
                            skip,
                            mr: valid_m + skip,
                            nr: valid_n,
                            alpha: p.alpha,
                            beta,
                            pf,
                            pf_lines,
                            list,
                            list_len,
                        };
                        // SAFETY: the A panel is either mr full rows row0..row0 + mr of op(A)
                        // read in place with op(A)'s strides (row0 + mr <= this stripe's m) or
                        // a packed, zero-padded mr x kcb panel; the B panel is b_cols columns
                        // of op(B) in place (b_cs == 1; fewer than width only for masked_b
                        // kernels) or a packed `width`-wide panel; the stored C rows
                        // row0 + skip.. row0 + skip + valid_m and columns jc + j0 + valid_n are
                        // inside this stripe of C; a list holds `list_len` steps below kcb
                        // (`kept_steps` of this block, alive in `ws` until the next block); the
                        // caller checked the kernel.
                        unsafe { run_tile(kernel, &tile, mr, width) };
                    };
                let last_n = |j0: usize| jc + j0 + nr.min(ncb - j0) - 1;
                if direct_a {
                    // LOOP 2: nr-column panels of B (one stays in L1) ...
                    for j0 in (0..ncb).step_by(nr) {
                        let listed = lists_for(j0);
                        // LOOP 1: ... times the mr-row panels of A.
                        for i0 in (0..mcb).step_by(mr) {
                            if below(ic + i0, last_n(j0)) {
                                break;
                            }
                            tile_at(j0, i0, listed, std::ptr::null(), 0);
                        }
                    }
                } else {
                    // Packed A: the loops swapped, so one packed A panel stays in L1 while the
                    // packed B panels stream from L2 (measured 4 to 8% faster on the large
                    // shapes with AVX-512, about 10% with AVX2).
                    for i0 in (0..mcb).step_by(mr) {
                        for j0 in (0..ncb).step_by(nr) {
                            if !below(ic + i0, last_n(j0)) {
                                let (pf, lines) = ahead.take();
                                tile_at(j0, i0, false, pf, lines);
                            }
                        }
                    }
                }
            }
        }
    }
    if look {
        ws.zeros.looked(shape);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::{Ahead, LIST_MIN, LOOK_AGAIN, Problem, ZeroSteps};

    /// A product shape whose looking left out too few steps waits `LOOK_AGAIN` calls, then looks
    /// again; one whose looking paid looks every call; shapes are kept apart.
    #[test]
    fn looking_for_zero_steps_waits_after_it_did_not_pay() {
        let mut z = ZeroSteps::default();
        let (dense, sparse) = ([50, 100, 784, 784, 1], [784, 100, 50, 1, 784]);
        assert!(z.look(dense));
        (z.left_out, z.steps) = (1, 2 * LIST_MIN + 1);
        z.looked(dense);
        assert!(z.look(sparse));
        (z.left_out, z.steps) = (1, 2 * LIST_MIN);
        z.looked(sparse);
        for _ in 0..LOOK_AGAIN {
            assert!(!z.look(dense));
            assert!(z.look(sparse));
            z.looked(sparse);
        }
        assert!(z.look(dense));
    }

    /// The tiles of a block are handed every line of the next block of op(B) once, in order,
    /// when its rows are whole rows of B and it fits in L2 beside the current one; otherwise none.
    #[test]
    fn the_next_block_is_handed_out_line_by_line() {
        let b = vec![0.0f32; 600 * 784];
        let p = Problem {
            m: 784,
            n: 784,
            k: 600,
            alpha: 1.0,
            beta: 0.0,
            a: b.as_ptr(),
            a_rs: 1,
            a_cs: 784,
            b: b.as_ptr(),
            b_rs: 784,
            b_cs: 1,
            c: std::ptr::null_mut(),
            c_rs: 784,
            upper: false,
        };
        let (mr, nr, kc) = (14, 32, 256);
        let tiles = 784usize.div_ceil(mr) * 784usize.div_ceil(nr);
        // The second and the last (shorter: 88 rows) block.
        for (pc, rows) in [(256, 256), (512, 88)] {
            let mut ahead = Ahead::new(&p, 0, 784, 2048, pc, kc, false, mr, nr);
            let mut next = b[pc * 784..].as_ptr();
            let mut lines = 0;
            for _ in 0..tiles {
                let (first, n) = ahead.take();
                if n > 0 {
                    assert_eq!(first, next);
                }
                next = next.wrapping_add(16 * n);
                lines += n;
            }
            assert_eq!(lines, rows * 784 / 16, "block at {pc}");
            assert_eq!(ahead.take().1, 0);
        }
        // No next block; B read in place; columns of a wider B; op(B) = B^T; L2 for 1024 columns
        // (Zen 5).
        for (pc, direct, ncb, b_cs) in [
            (600, false, 784, 1),
            (256, true, 784, 1),
            (256, false, 392, 1),
            (256, false, 784, 784),
        ] {
            let q = Problem { b_cs, ..p };
            assert_eq!(
                Ahead::new(&q, 0, ncb, 2048, pc, kc, direct, mr, nr)
                    .take()
                    .1,
                0
            );
        }
        for nc in [1024, 1568] {
            assert_eq!(
                Ahead::new(&p, 0, 784, nc, 256, kc, false, mr, nr).take().1,
                0
            );
        }
    }

    use crate::matmul::{Kernel, MatMut, MatRef, Matmul, Op};

    /// `values` copied to the end of an anonymous mapping whose next page the process may not
    /// read, so that any read past the last element faults.
    struct Guarded {
        base: *mut libc::c_void,
        len: usize,
        data: *const f32,
        n: usize,
    }

    impl Guarded {
        fn new(values: &[f32]) -> Guarded {
            const PAGE: usize = 4096;
            let bytes = std::mem::size_of_val(values);
            let len = bytes.div_ceil(PAGE) * PAGE + PAGE;
            // SAFETY: an anonymous private mapping of `len` bytes, checked below; the last page
            // is then made inaccessible, and `values` copied to just before it (in the mapping,
            // 4-byte aligned since PAGE and `bytes` are multiples of 4).
            unsafe {
                let base = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                assert_ne!(base, libc::MAP_FAILED, "mmap");
                let guard = base.cast::<u8>().add(len - PAGE);
                assert_eq!(
                    libc::mprotect(guard.cast(), PAGE, libc::PROT_NONE),
                    0,
                    "mprotect"
                );
                let data = guard.sub(bytes).cast::<f32>();
                std::ptr::copy_nonoverlapping(values.as_ptr(), data, values.len());
                Guarded {
                    base,
                    len,
                    data,
                    n: values.len(),
                }
            }
        }

        fn slice(&self) -> &[f32] {
            // SAFETY: `n` initialised floats at `data`, inside the mapping that `self` owns.
            unsafe { std::slice::from_raw_parts(self.data, self.n) }
        }
    }

    impl Drop for Guarded {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`, unmapped once.
            unsafe { libc::munmap(self.base, self.len) };
        }
    }

    /// Products with A, then B, ending right before an unreadable page, in both layouts, read
    /// in place or packed, with last panels of 1-4 rows (the AVX-512 4-row tile) and partial
    /// column panels: no kernel reads past an operand's end (a 4-row tile once started at the
    /// panel's first stored row and read up to 3 rows past op(A)'s last row), and every kernel
    /// gives the scalar kernel's bits.
    #[test]
    fn no_kernel_reads_past_the_operands() {
        let shapes = [
            (31, 64, 9),
            (43, 64, 9),
            (71, 40, 20),
            (1024, 16, 100),
            (31, 64, 300),
            (9, 70, 257),
            (300, 33, 45),
            (50, 37, 100),
            (18, 41, 34),
            (50, 37, 10),
            (70, 45, 12),
            (40, 37, 38),
            (32, 37, 38),
        ];
        for (m, k, n) in shapes {
            for (op_a, op_b, guard_a) in [
                (Op::N, Op::N, true),
                (Op::T, Op::N, true),
                (Op::N, Op::N, false),
                (Op::N, Op::T, false),
            ] {
                let a_values: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 - 6.0).collect();
                let b_values: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.5).collect();
                let guarded = Guarded::new(if guard_a { &a_values } else { &b_values });
                let (a, b) = if guard_a {
                    (guarded.slice(), &b_values[..])
                } else {
                    (&a_values[..], guarded.slice())
                };
                let (a_rows, a_cols) = if op_a == Op::N { (m, k) } else { (k, m) };
                let (b_rows, b_cols) = if op_b == Op::N { (k, n) } else { (n, k) };
                let run = |kernel: Kernel| {
                    let mut c = vec![0.0f32; m * n];
                    Matmul::with_kernel(kernel, 1)
                        .gemm(
                            1.0,
                            MatRef::new(a, a_rows, a_cols).unwrap(),
                            op_a,
                            MatRef::new(b, b_rows, b_cols).unwrap(),
                            op_b,
                            0.0,
                            MatMut::new(&mut c, m, n).unwrap(),
                        )
                        .unwrap();
                    c.iter().map(|x| x.to_bits()).collect::<Vec<u32>>()
                };
                let want = run(Kernel::Scalar);
                for kernel in Kernel::available() {
                    assert!(
                        run(kernel) == want,
                        "{kernel}: {m}x{k}x{n} {op_a:?}{op_b:?}, guard after {}",
                        if guard_a { "A" } else { "B" }
                    );
                }
            }
        }
    }
}
