//! The portable micro-kernel: plain Rust on a 4 x 8 tile, the reference the SIMD kernels are
//! tested against. Multiply and add are separate roundings (no `mul_add`, which is a slow
//! library call on CPUs without FMA).

use super::kernel::Tile;

/// Rows of the scalar tile.
pub(crate) const MR: usize = 4;
/// Columns of the scalar tile.
pub(crate) const NR: usize = 8;

/// The scalar micro-kernel.
///
/// # Safety
/// `t` satisfies the [`Tile`] contract with `MR = 4` and `width = 8`.
pub(crate) unsafe fn tile(t: &Tile) {
    let mut acc = [[0.0f32; NR]; MR];
    let (mut a, mut b) = (t.a, t.b);
    for _ in 0..t.kc {
        // SAFETY: the contract makes A(i, p), i < MR, and b[0..NR] readable at each of the kc steps.
        let (av, bv): ([f32; MR], [f32; NR]) = unsafe {
            (
                std::array::from_fn(|i| *a.add(i * t.a_rs)),
                *b.cast::<[f32; NR]>(),
            )
        };
        for (row, &ai) in acc.iter_mut().zip(av.iter()) {
            for (x, &bj) in row.iter_mut().zip(bv.iter()) {
                *x += ai * bj;
            }
        }
        // wrapping_add: after the last step the pointers may point past the panel; never read.
        a = a.wrapping_add(t.a_ks);
        b = b.wrapping_add(t.b_ks);
    }
    for (i, row) in acc.iter().enumerate().take(t.mr).skip(t.skip) {
        for (j, &x) in row.iter().enumerate().take(t.nr) {
            // SAFETY: i < mr and j < nr, so the contract makes this element writable (and
            // readable when beta != 0).
            unsafe {
                let c = t.c.add(i * t.c_rs + j);
                *c = if t.beta == 0.0 {
                    t.alpha * x
                } else {
                    t.alpha * x + t.beta * *c
                };
            }
        }
    }
}
