//! The micro-kernel choice: run-time detection, names, tile geometry and the single dispatch point.

use std::fmt;
use std::str::FromStr;

use super::MatmulError;
use super::isa::Isa;

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
    /// The fastest kernel this CPU supports: the one for [`Isa::detect`] (AVX-512F, then AVX2+FMA
    /// on x86-64, NEON on aarch64, else scalar).
    pub fn detect() -> Kernel {
        Kernel::for_isa(Isa::detect())
    }

    /// Every kernel this CPU supports, slowest (scalar) first.
    pub fn available() -> Vec<Kernel> {
        Isa::available().into_iter().map(Kernel::for_isa).collect()
    }

    /// Whether this CPU can run the kernel.
    pub fn is_available(self) -> bool {
        self.isa().is_available()
    }

    /// The instruction set the kernel is written for.
    pub fn isa(self) -> Isa {
        match self {
            Kernel::Scalar => Isa::Baseline,
            Kernel::Avx2Fma => Isa::Avx2Fma,
            Kernel::Avx512 => Isa::Avx512,
            Kernel::Neon => Isa::Neon,
        }
    }

    /// The kernel written for `isa`.
    pub fn for_isa(isa: Isa) -> Kernel {
        match isa {
            Isa::Baseline => Kernel::Scalar,
            Isa::Avx2Fma => Kernel::Avx2Fma,
            Isa::Avx512 => Kernel::Avx512,
            Isa::Neon => Kernel::Neon,
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

    /// Tile geometry and `k` blocking of the kernel. `kc` is [`KC`] for every kernel: the `k`
    /// blocking decides where the partial sums are rounded into `C`, so it must not depend on the
    /// kernel (nor on anything but `k`) for the results to be the same on every CPU. The other
    /// two block sizes come from the machine's caches ([`super::Blocking`]).
    pub(crate) fn geometry(self) -> Geometry {
        match self {
            Kernel::Scalar => Geometry {
                mr: 4,
                packed_a_ks: 4,
                nr: 8,
                nr_narrow: 8,
                kc: KC,
                masked_b: false,
            },
            Kernel::Avx2Fma => Geometry {
                mr: 6,
                packed_a_ks: 6,
                nr: 16,
                nr_narrow: 8,
                kc: KC,
                masked_b: true,
            },
            Kernel::Avx512 => Geometry {
                mr: 14,
                packed_a_ks: 16,
                nr: 32,
                nr_narrow: 16,
                kc: KC,
                masked_b: true,
            },
            Kernel::Neon => Geometry {
                mr: 8,
                packed_a_ks: 8,
                nr: 8,
                nr_narrow: 8,
                kc: KC,
                masked_b: false,
            },
        }
    }

    /// The geometry for a product whose `op(A)` has `m` rows. AVX-512 has two tile heights: 14
    /// rows, and 10 where 10-row panels cover `m` with clearly less padding (`m = 50`, the MLP's
    /// batch: 5 panels of 10 rather than 4 of 14 computing 56 rows). Results do not depend on the
    /// height: every element is the same sequence of fused multiply-adds over k.
    pub(crate) fn geometry_for(self, m: usize) -> Geometry {
        let g = self.geometry();
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx512 {
            use super::avx512::{MR, MR_SHORT};
            let pad = |mr: usize| m.div_ceil(mr) * mr;
            // The short tile does a little less work per broadcast: only for a 5% saving.
            if pad(MR_SHORT) * 20 < pad(MR) * 19 {
                return Geometry { mr: MR_SHORT, ..g };
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = m;
        g
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

/// The largest `kc` (depth of one block of `k`), shared by every kernel.
const KC: usize = 256;

/// Micro-tile sizes and `k` blocking of a kernel (see BLIS): `mr x nr` tiles (`nr_narrow` for a
/// last panel that fits), `kc`-deep blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub mr: usize,
    /// Elements between the k steps of a packed A panel (at least the tallest tile's `mr`): 16
    /// for AVX-512, so that each step's rows are one aligned line (a whole-vector store when
    /// packing, one line per step for the tile's broadcasts).
    pub packed_a_ks: usize,
    pub nr: usize,
    pub nr_narrow: usize,
    pub kc: usize,
    /// The kernel can load B under a mask of `Tile::b_cols` columns, so a partial last panel of
    /// row-major op(B) can be read in place instead of packed.
    pub masked_b: bool,
}

/// One micro-kernel call: `C[0..mr, 0..nr] = alpha * sum_p a_p b_p^T + beta * C` (beta == 0:
/// C is not read).
///
/// Element `(i, p)` of the A panel is at `a + i * a_rs + p * a_ks`: `a_rs == 1` for packed panels
/// and column-major `op(A)` read in place, `a_ks == 1` for row-major `op(A)` read in place.
///
/// Rows `0..skip` of the tile are computed but not stored: a last row panel of op(A) read in
/// place is shifted up to end at the matrix's last row, and the rows it shares with the panel
/// before are left alone.
///
/// Contract (upheld by the driver): for `p < kc`, `i < MR`, `a + i * a_rs + p * a_ks` is readable; for
/// `p < kc`, `j < b_cols`, `b + p * b_ks + j` is readable (`b_cols == width` unless the kernel
/// has `masked_b`); for `skip <= i < mr`, `j < nr`, `c + i * c_rs + j` is writable (and
/// readable unless beta == 0); `mr <= MR`, `nr <= b_cols <= width`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tile {
    pub kc: usize,
    pub a: *const f32,
    pub a_rs: usize,
    pub a_ks: usize,
    pub b: *const f32,
    pub b_ks: usize,
    pub b_cols: usize,
    pub c: *mut f32,
    pub c_rs: usize,
    pub skip: usize,
    pub mr: usize,
    pub nr: usize,
    pub alpha: f32,
    pub beta: f32,
    /// `pf_lines` consecutive cache lines from `pf` for the AVX-512 kernel to ask L2 for during
    /// its k loop, one every 8 k steps: the source of the next block of op(B) to pack.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub pf: *const f32,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub pf_lines: usize,
    /// When not null, `list_len` ascending k steps (offsets below `kc`) for the AVX-512 kernel to
    /// run instead of all `kc`: the driver leaves out steps whose A values are all zero, and hands
    /// the list only to tiles whose B rows there are finite, so each left-out product is a zero.
    /// Round to nearest, a zero added to a sum leaves it as it is, except that it may turn a `-0`
    /// into `+0`; and a fused multiply-add of a non-zero product gives the same result whatever
    /// the sign of a zero sum.
    /// So both ways give the same bits wherever the sum comes out as anything but `-0` (which
    /// takes a product below 2^-150 in magnitude, rounded to `-0`); a tile with a `-0` among its
    /// stored sums is computed again with every step. Other kernels run every step.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub list: *const u32,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub list_len: usize,
}

/// `x`, through an empty `asm!` block: the compiler cannot see how the result relates to other
/// values, so it keeps separate row offsets in registers instead of re-deriving them serially.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn opaque(mut x: usize) -> usize {
    // SAFETY: the assembly is empty: it reads and writes nothing but the register holding x.
    unsafe {
        std::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags))
    };
    x
}

/// Runs the micro-kernel of `kernel` on `t`, whose A panel is `height` rows high
/// (`geometry_for(m).mr`) and whose B panel is `width` columns wide (`geometry().nr` or
/// `geometry().nr_narrow`).
///
/// # Safety
/// `t` satisfies the [`Tile`] contract for `MR = height` and `width`, `height` is the `mr` of a
/// geometry of `kernel`, and the CPU supports `kernel`.
#[inline]
pub(crate) unsafe fn run_tile(kernel: Kernel, t: &Tile, height: usize, width: usize) {
    debug_assert!(
        t.skip <= t.mr && t.mr <= height && t.nr <= t.b_cols && t.b_cols <= width,
        "tile contract: {t:?}, height {height}, width {width}"
    );
    match kernel {
        Kernel::Scalar => {
            // The same results either way; with an FMA unit, `mul_add` is one instruction.
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: forwarded contract; the CPU supports FMA (checked on the line above).
                return unsafe { super::scalar::tile_fma(t) };
            }
            // SAFETY: forwarded contract; the scalar kernel needs no CPU feature.
            unsafe { super::scalar::tile(t) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2Fma => {
            // SAFETY: forwarded contract; the caller checked AVX2 and FMA are available.
            unsafe {
                use super::avx2::tile;
                match (width == 16, t.a_rs == 1, t.b_cols < width) {
                    (true, true, false) => tile::<2, false, false>(t),
                    (true, false, false) => tile::<2, true, false>(t),
                    (false, true, false) => tile::<1, false, false>(t),
                    (false, false, false) => tile::<1, true, false>(t),
                    (true, true, true) => tile::<2, false, true>(t),
                    (true, false, true) => tile::<2, true, true>(t),
                    (false, true, true) => tile::<1, false, true>(t),
                    (false, false, true) => tile::<1, true, true>(t),
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => {
            // SAFETY: forwarded contract; the caller checked AVX-512F is available; height is
            // one of the two AVX-512 tile heights.
            unsafe {
                use super::avx512::{MR, MR_SHORT, MR_TAIL};
                if t.mr - t.skip <= MR_TAIL {
                    // A last panel of at most MR_TAIL stored rows: only those rows computed (the
                    // same fused multiply-adds per element, fewer rows of them). The 4-row tile
                    // reads MR_TAIL rows, so it starts at most MR_TAIL rows above the panel's end
                    // (rows `first..first + MR_TAIL` of the panel, readable by the contract): a
                    // panel read in place is shifted up to end at op(A)'s last row, and rows past
                    // it are not there to read.
                    let first = t.mr.saturating_sub(MR_TAIL).min(t.skip);
                    let tail = Tile {
                        a: t.a.wrapping_add(first * t.a_rs),
                        c: t.c.wrapping_add(first * t.c_rs),
                        skip: t.skip - first,
                        mr: t.mr - first,
                        list: std::ptr::null(),
                        list_len: 0,
                        ..*t
                    };
                    avx512_tile::<MR_TAIL, { MR_TAIL / 2 }>(&tail, width)
                } else if height == MR_SHORT {
                    avx512_tile::<MR_SHORT, { MR_SHORT / 2 }>(t, width)
                } else {
                    avx512_tile::<MR, { MR / 2 }>(t, width)
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

/// The AVX-512 micro-kernel variant for `t` with `MR` rows.
///
/// # Safety
/// As [`run_tile`] with `height == MR == 2 * G`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn avx512_tile<const MR: usize, const G: usize>(t: &Tile, width: usize) {
    use super::avx512::tile;
    // SAFETY: forwarded contract; the unmasked variants (last parameter false) run only when
    // b_cols == width (the contract gives b_cols <= width).
    unsafe {
        match (width == 32, t.a_rs == 1, t.b_cols < width) {
            // Only the packed panels of the large products carry lines to prefetch.
            (true, true, false) if t.pf_lines > 0 => tile::<MR, G, 2, false, false, true, false>(t),
            // Only full-width panels of A read in place carry a list of steps.
            (true, true, false) if !t.list.is_null() => {
                tile::<MR, G, 2, false, false, false, true>(t)
            }
            (true, false, false) if !t.list.is_null() => {
                tile::<MR, G, 2, true, false, false, true>(t)
            }
            (true, true, false) => tile::<MR, G, 2, false, false, false, false>(t),
            (true, false, false) => tile::<MR, G, 2, true, false, false, false>(t),
            (false, true, false) => tile::<MR, G, 1, false, false, false, false>(t),
            (false, false, false) => tile::<MR, G, 1, true, false, false, false>(t),
            (true, true, true) => tile::<MR, G, 2, false, true, false, false>(t),
            (true, false, true) => tile::<MR, G, 2, true, true, false, false>(t),
            (false, true, true) => tile::<MR, G, 1, false, true, false, false>(t),
            (false, false, true) => tile::<MR, G, 1, true, true, false, false>(t),
        }
    }
}
