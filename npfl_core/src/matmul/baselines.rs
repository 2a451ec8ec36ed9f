//! The other crates' matrix products and a thread CPU clock for the `matmul_bench` example
//! (`bench` feature): safe wrappers over their raw-pointer entry points, checked like
//! [`Matmul::gemm`](super::Matmul::gemm), so that the benchmark itself has no `unsafe`.

use super::{MatMut, MatRef, MatmulError, Op, product_shape};

/// A checked `C = op(A) op(B)`: the sizes and the signed strides the crates' entry points take.
struct Call {
    m: usize,
    k: usize,
    n: usize,
    /// `(row, column)` strides of `op(A)` and `op(B)`.
    a: (isize, isize),
    b: (isize, isize),
    c_rs: isize,
}

impl Call {
    fn new(a: &MatRef, op_a: Op, b: &MatRef, op_b: Op, c: &MatMut) -> Result<Call, MatmulError> {
        let (m, k, n) = product_shape("baseline gemm", a, op_a, b, op_b, c)?;
        let signed = |(rs, cs): (usize, usize)| (rs as isize, cs as isize);
        Ok(Call {
            m,
            k,
            n,
            a: signed(a.op_strides(op_a)),
            b: signed(b.op_strides(op_b)),
            c_rs: c.row_stride() as isize,
        })
    }
}

/// `C = op(A) op(B)` by the `matrixmultiply` crate's `sgemm`, on the calling thread.
///
/// # Errors
/// [`MatmulError::ShapeMismatch`] when the shapes do not fit.
pub fn matrixmultiply_sgemm(
    a: MatRef,
    op_a: Op,
    b: MatRef,
    op_b: Op,
    mut c: MatMut,
) -> Result<(), MatmulError> {
    let Call {
        m,
        k,
        n,
        a: (ars, acs),
        b: (brs, bcs),
        c_rs,
    } = Call::new(&a, op_a, &b, op_b, &c)?;
    // SAFETY: the views were validated at construction: op(A) (m x k) and op(B) (k x n) are
    // readable with these strides, C (m x n, row stride c_rs, unit column stride) is writable
    // and exclusively borrowed, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            ars,
            acs,
            b.as_ptr(),
            brs,
            bcs,
            0.0,
            c.as_mut_ptr(),
            c_rs,
            1,
        );
    }
    Ok(())
}

/// `C = op(A) op(B)` by the `gemm` crate, on the calling thread.
///
/// # Errors
/// [`MatmulError::ShapeMismatch`] when the shapes do not fit.
pub fn gemm_crate_sgemm(
    a: MatRef,
    op_a: Op,
    b: MatRef,
    op_b: Op,
    mut c: MatMut,
) -> Result<(), MatmulError> {
    let Call {
        m,
        k,
        n,
        a: (ars, acs),
        b: (brs, bcs),
        c_rs,
    } = Call::new(&a, op_a, &b, op_b, &c)?;
    // SAFETY: as in `matrixmultiply_sgemm`; `gemm` takes (column stride, row stride) pairs and,
    // with `read_dst` false, computes dst = beta * lhs * rhs without reading dst.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs,
            false,
            a.as_ptr(),
            acs,
            ars,
            b.as_ptr(),
            bcs,
            brs,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

/// Seconds the calling thread has spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`): time slices the
/// scheduler gives to other processes do not count.
///
/// # Panics
/// If the clock cannot be read (it exists on every Linux).
pub fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec, the only memory clock_gettime touches.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matmul::Matmul;

    #[test]
    fn baselines_compute_the_product() {
        let a: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect(); // 3 x 4
        let b: Vec<f32> = (0..8).map(|i| 1.0 - i as f32 * 0.25).collect(); // 4 x 2 (or 2 x 4)
        for op_b in [Op::N, Op::T] {
            let (br, bc) = if op_b == Op::N { (4, 2) } else { (2, 4) };
            let mut expected = vec![0.0f32; 6];
            Matmul::new(1)
                .gemm(
                    1.0,
                    MatRef::new(&a, 3, 4).unwrap(),
                    Op::N,
                    MatRef::new(&b, br, bc).unwrap(),
                    op_b,
                    0.0,
                    MatMut::new(&mut expected, 3, 2).unwrap(),
                )
                .unwrap();
            for f in [matrixmultiply_sgemm, gemm_crate_sgemm] {
                let mut c = vec![f32::NAN; 6];
                let (av, bv) = (
                    MatRef::new(&a, 3, 4).unwrap(),
                    MatRef::new(&b, br, bc).unwrap(),
                );
                f(av, Op::N, bv, op_b, MatMut::new(&mut c, 3, 2).unwrap()).unwrap();
                for (x, y) in c.iter().zip(&expected) {
                    assert!((x - y).abs() < 1e-5, "{c:?} vs {expected:?}");
                }
                let mut wrong = vec![0.0f32; 4];
                let (av, bv) = (
                    MatRef::new(&a, 3, 4).unwrap(),
                    MatRef::new(&b, br, bc).unwrap(),
                );
                let e = f(av, Op::N, bv, op_b, MatMut::new(&mut wrong, 2, 2).unwrap());
                assert!(matches!(e, Err(MatmulError::ShapeMismatch { .. })));
            }
        }
        let t = thread_cpu_seconds();
        assert!(t > 0.0 && thread_cpu_seconds() >= t);
    }
}
