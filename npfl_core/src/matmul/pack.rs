//! Packing of `op(A)` row panels and `op(B)` column panels into contiguous, zero-padded buffers,
//! in the order the micro-kernels read them.

/// Width of the B panel holding `valid` columns: the full `nr`, or `narrow` when the columns fit.
#[inline]
pub(crate) fn panel_width(valid: usize, nr: usize, narrow: usize) -> usize {
    if valid <= narrow { narrow } else { nr }
}

/// Packs the `rows x kc` block of `op(A)` at `a` (element `(i, p)` at `a + i * a_rs + p * a_cs`)
/// into `dst` as `ceil(rows / mr)` panels of `kc x mr` (panel `q` at `q * mr * kc`, element
/// `(i, p)` of the panel at `p * mr + i`), padding missing rows with zeros.
///
/// # Safety
/// Every element `(i, p)`, `i < rows`, `p < kc`, of the block is readable.
pub(crate) unsafe fn pack_a(
    dst: &mut [f32],
    a: *const f32,
    a_rs: usize,
    a_cs: usize,
    rows: usize,
    kc: usize,
    mr: usize,
) {
    for (q, panel) in dst
        .chunks_exact_mut(mr * kc)
        .take(rows.div_ceil(mr))
        .enumerate()
    {
        let i0 = q * mr;
        let valid = mr.min(rows - i0);
        let base = a.wrapping_add(i0 * a_rs);
        if valid == mr && a_rs == 1 {
            for (p, out) in panel.chunks_exact_mut(mr).enumerate() {
                // SAFETY: rows i0..i0 + mr of column p are inside the block (valid == mr), and
                // with a_rs == 1 they are contiguous.
                let src = unsafe { std::slice::from_raw_parts(base.add(p * a_cs), mr) };
                out.copy_from_slice(src);
            }
        } else {
            for (p, out) in panel.chunks_exact_mut(mr).enumerate() {
                for (i, x) in out.iter_mut().enumerate() {
                    *x = if i < valid {
                        // SAFETY: i0 + i < rows and p < kc: inside the block.
                        unsafe { *base.add(i * a_rs + p * a_cs) }
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// Packs the `kc x cols` block of `op(B)` at `b` (element `(p, j)` at `b + p * b_rs + j * b_cs`)
/// into `dst` as panels of `nr` columns (panel `q` at `q * nr * kc`, element `(p, j)` at
/// `p * width + j`), the last one `panel_width` wide, padding missing columns with zeros.
///
/// # Safety
/// Every element `(p, j)`, `p < kc`, `j < cols`, of the block is readable.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn pack_b(
    dst: &mut [f32],
    b: *const f32,
    b_rs: usize,
    b_cs: usize,
    kc: usize,
    cols: usize,
    nr: usize,
    narrow: usize,
) {
    let mut j0 = 0;
    while j0 < cols {
        let valid = nr.min(cols - j0);
        let width = panel_width(valid, nr, narrow);
        let panel = &mut dst[(j0 / nr) * nr * kc..][..width * kc];
        let base = b.wrapping_add(j0 * b_cs);
        if valid == width && b_cs == 1 {
            for (p, out) in panel.chunks_exact_mut(width).enumerate() {
                // SAFETY: columns j0..j0 + width of row p are inside the block and contiguous.
                let src = unsafe { std::slice::from_raw_parts(base.add(p * b_rs), width) };
                out.copy_from_slice(src);
            }
        } else if b_rs == 1 {
            // op(B) = B^T: column j of op(B) is contiguous in p; write it down the panel.
            for j in 0..width {
                if j < valid {
                    for p in 0..kc {
                        // SAFETY: p < kc and j0 + j < cols: inside the block.
                        panel[p * width + j] = unsafe { *base.add(p + j * b_cs) };
                    }
                } else {
                    for p in 0..kc {
                        panel[p * width + j] = 0.0;
                    }
                }
            }
        } else {
            for (p, out) in panel.chunks_exact_mut(width).enumerate() {
                for (j, x) in out.iter_mut().enumerate() {
                    *x = if j < valid {
                        // SAFETY: p < kc and j0 + j < cols: inside the block.
                        unsafe { *base.add(p * b_rs + j * b_cs) }
                    } else {
                        0.0
                    };
                }
            }
        }
        j0 += nr;
    }
}
