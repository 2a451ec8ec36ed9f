//! The matmul against a naive f64 triple loop, ndarray's `dot` and the scalar kernel: every
//! available kernel, awkward sizes, all transpose combinations, alpha/beta, strided views,
//! thread-count determinism and the error paths.

use ndarray::{Array1, Array2, s};
use ndarray_rand::RandomExt;
use ndarray_rand::rand::{SeedableRng, rngs::SmallRng};
use ndarray_rand::rand_distr::Uniform;
use npfl_core::matmul::{Kernel, MatMut, MatRef, Matmul, MatmulError, Op};
use proptest::prelude::*;

/// `len` deterministic values uniform in [-1, 1) (random low bits, so products round in the
/// last place).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let uniform = Uniform::new(-1.0f32, 1.0).expect("a valid range");
    Array1::random_using(len, uniform, &mut SmallRng::seed_from_u64(seed)).to_vec()
}

/// A deterministic matrix of `shape` with values uniform in [-1, 1).
fn matrix(shape: (usize, usize), seed: u64) -> Array2<f32> {
    let uniform = Uniform::new(-1.0f32, 1.0).expect("a valid range");
    Array2::random_using(shape, uniform, &mut SmallRng::seed_from_u64(seed))
}

/// Every kernel this CPU runs; the others are reported as skipped.
fn kernels() -> Vec<Kernel> {
    for k in [Kernel::Avx2Fma, Kernel::Avx512, Kernel::Neon] {
        if !k.is_available() {
            eprintln!("skipping {k}: not supported by this CPU");
        }
    }
    Kernel::available()
}

/// A test problem: op(A) is m x k, op(B) is k x n, stored with extra row padding `pad`.
struct Case {
    m: usize,
    k: usize,
    n: usize,
    op_a: Op,
    op_b: Op,
    pad: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl Case {
    fn new(m: usize, k: usize, n: usize, op_a: Op, op_b: Op, pad: usize, seed: u64) -> Case {
        let (ar, ac) = if op_a == Op::N { (m, k) } else { (k, m) };
        let (br, bc) = if op_b == Op::N { (k, n) } else { (n, k) };
        Case {
            m,
            k,
            n,
            op_a,
            op_b,
            pad,
            a: values(ar * (ac + pad), seed),
            b: values(br * (bc + pad), seed + 1),
            c: values(m * (n + pad), seed + 2),
        }
    }

    fn a_shape(&self) -> (usize, usize) {
        if self.op_a == Op::N {
            (self.m, self.k)
        } else {
            (self.k, self.m)
        }
    }

    fn b_shape(&self) -> (usize, usize) {
        if self.op_b == Op::N {
            (self.k, self.n)
        } else {
            (self.n, self.k)
        }
    }

    fn op_a(&self, i: usize, p: usize) -> f32 {
        let (_, ac) = self.a_shape();
        let rs = ac + self.pad;
        if self.op_a == Op::N {
            self.a[i * rs + p]
        } else {
            self.a[p * rs + i]
        }
    }

    fn op_b(&self, p: usize, j: usize) -> f32 {
        let (_, bc) = self.b_shape();
        let rs = bc + self.pad;
        if self.op_b == Op::N {
            self.b[p * rs + j]
        } else {
            self.b[j * rs + p]
        }
    }

    /// Runs the product with `mm`, returning the new C (padding included).
    fn run(&self, mm: &mut Matmul, alpha: f32, beta: f32) -> Vec<f32> {
        let mut c = self.c.clone();
        let (ar, ac) = self.a_shape();
        let (br, bc) = self.b_shape();
        let a = MatRef::strided(&self.a, ar, ac, ac + self.pad).unwrap();
        let b = MatRef::strided(&self.b, br, bc, bc + self.pad).unwrap();
        let cv = MatMut::strided(&mut c, self.m, self.n, self.n + self.pad).unwrap();
        mm.gemm(alpha, a, self.op_a, b, self.op_b, beta, cv)
            .unwrap();
        c
    }

    /// Checks `got` against the f64 triple loop within a bound proportional to k * eps.
    fn check(&self, got: &[f32], alpha: f32, beta: f32, what: &str) {
        let rs = self.n + self.pad;
        for i in 0..self.m {
            for j in 0..self.n {
                let (mut dot, mut mag) = (0.0f64, 0.0f64);
                for p in 0..self.k {
                    let x = self.op_a(i, p) as f64 * self.op_b(p, j) as f64;
                    dot += x;
                    mag += x.abs();
                }
                let c0 = self.c[i * rs + j] as f64;
                let want = alpha as f64 * dot + if beta == 0.0 { 0.0 } else { beta as f64 * c0 };
                let scale = alpha.abs() as f64 * mag + (beta.abs() as f64 * c0.abs());
                let tol = (self.k as f64 + 4.0) * 1.2e-7 * scale + 1e-30;
                let g = got[i * rs + j] as f64;
                assert!(
                    (g - want).abs() <= tol,
                    "{what}: m={} k={} n={} {:?}{:?} pad={} alpha={alpha} beta={beta}: C[{i},{j}] = {g}, want {want} (tol {tol})",
                    self.m,
                    self.k,
                    self.n,
                    self.op_a,
                    self.op_b,
                    self.pad,
                );
            }
            for j in self.n..rs {
                assert_eq!(
                    got[i * rs + j].to_bits(),
                    self.c[i * rs + j].to_bits(),
                    "{what}: padding of C changed"
                );
            }
        }
    }
}

const OPS: [(Op, Op); 4] = [
    (Op::N, Op::N),
    (Op::N, Op::T),
    (Op::T, Op::N),
    (Op::T, Op::T),
];

/// Shapes (m, k, n): the awkward sizes, the MLP and PCA-like shapes, and ones that reach the
/// packed paths (> 256 rows or columns) and several k, m and n blocks.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut v = Vec::new();
    for s in [0, 1, 7, 15, 16, 17, 63, 65, 100] {
        v.push((s, s, s));
    }
    for (m, k, n) in [
        (1, 17, 65),
        (65, 1, 7),
        (7, 100, 1),
        (17, 0, 15),
        (50, 784, 100),
        (784, 50, 100),
        (50, 100, 100),
        (50, 100, 10),
        (50, 100, 784),
        (100, 50, 784),
        (784, 17, 63),
        (300, 65, 300),
        (63, 600, 17),
        (3, 5, 2100),
    ] {
        v.push((m, k, n));
    }
    v
}

#[test]
fn every_kernel_matches_the_triple_loop() {
    for kernel in kernels() {
        let mut mm = Matmul::with_kernel(kernel, 1);
        for (t, &(m, k, n)) in shapes().iter().enumerate() {
            for (o, &(op_a, op_b)) in OPS.iter().enumerate() {
                let case = Case::new(m, k, n, op_a, op_b, 0, (t * 4 + o) as u64);
                let got = case.run(&mut mm, 1.0, 0.0);
                case.check(&got, 1.0, 0.0, kernel.name());
            }
        }
    }
}

#[test]
fn alpha_beta_and_strided_views() {
    for kernel in kernels() {
        let mut mm = Matmul::with_kernel(kernel, 1);
        for &(m, k, n) in &[(7, 9, 5), (17, 33, 40), (65, 300, 33), (13, 5, 300)] {
            for &(op_a, op_b) in &OPS {
                for &(alpha, beta) in &[
                    (1.0, 1.0),
                    (-0.5, 2.0),
                    (2.0, -1.0),
                    (0.0, 0.5),
                    (0.0, 0.0),
                    (0.25, 0.0),
                ] {
                    for pad in [0, 3] {
                        let case = Case::new(m, k, n, op_a, op_b, pad, (m * 31 + k) as u64);
                        let got = case.run(&mut mm, alpha, beta);
                        case.check(&got, alpha, beta, kernel.name());
                    }
                }
            }
        }
    }
}

#[test]
fn beta_zero_ignores_nans_in_c() {
    for kernel in kernels() {
        let mut mm = Matmul::with_kernel(kernel, 1);
        for &(m, k, n) in &[(5, 3, 7), (13, 0, 17), (40, 20, 40)] {
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let mut c = vec![f32::NAN; m * n];
            let cv = MatMut::new(&mut c, m, n).unwrap();
            mm.gemm(
                1.0,
                MatRef::new(&a, m, k).unwrap(),
                Op::N,
                MatRef::new(&b, k, n).unwrap(),
                Op::N,
                0.0,
                cv,
            )
            .unwrap();
            assert!(
                c.iter().all(|x| x.is_finite()),
                "{kernel}: NaN survived beta = 0"
            );
        }
    }
}

#[test]
fn every_kernel_matches_ndarray_dot_and_scalar() {
    let mut scalar = Matmul::with_kernel(Kernel::Scalar, 1);
    let mut shapes: Vec<(usize, usize, usize)> = [0, 1, 7, 15, 16, 17, 63, 65, 100, 784]
        .iter()
        .map(|&s| (s, s, s))
        .collect();
    shapes.extend([
        (50, 784, 100),
        (784, 50, 100),
        (50, 100, 100),
        (50, 100, 10),
        (50, 100, 784),
        (100, 784, 65),
    ]);
    for kernel in kernels() {
        let mut mm = Matmul::with_kernel(kernel, 1);
        for (t, &(m, k, n)) in shapes.iter().enumerate() {
            for &(op_a, op_b) in &OPS {
                // Stored operands: A is m x k or k x m, B is k x n or n x k.
                let a_dim = if op_a == Op::N { (m, k) } else { (k, m) };
                let b_dim = if op_b == Op::N { (k, n) } else { (n, k) };
                let a = matrix(a_dim, 2 * t as u64);
                let b = matrix(b_dim, 2 * t as u64 + 1);
                let (opa, opb) = (
                    if op_a == Op::N { a.view() } else { a.t() },
                    if op_b == Op::N { b.view() } else { b.t() },
                );
                let want = opa.dot(&opb);
                let mut c = Array2::<f32>::zeros((m, n));
                let mut c_scalar = Array2::<f32>::zeros((m, n));
                let (av, bv) = (
                    MatRef::from_array(&a).unwrap(),
                    MatRef::from_array(&b).unwrap(),
                );
                mm.gemm(
                    1.0,
                    av,
                    op_a,
                    bv,
                    op_b,
                    0.0,
                    MatMut::from_array(&mut c).unwrap(),
                )
                .unwrap();
                scalar
                    .gemm(
                        1.0,
                        av,
                        op_a,
                        bv,
                        op_b,
                        0.0,
                        MatMut::from_array(&mut c_scalar).unwrap(),
                    )
                    .unwrap();
                // Entries are sums of k products of values in [-1, 1): allow k * eps-sized error.
                let tol = 2e-6 * (k as f32 + 1.0);
                for ((x, y), z) in c.iter().zip(want.iter()).zip(c_scalar.iter()) {
                    assert!(
                        (x - y).abs() <= tol,
                        "{kernel} vs dot: {x} vs {y} at {m}x{k}x{n} {op_a:?}{op_b:?}"
                    );
                    assert!(
                        (x - z).abs() <= tol,
                        "{kernel} vs scalar: {x} vs {z} at {m}x{k}x{n} {op_a:?}{op_b:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn ndarray_subviews_work() {
    let big = matrix((40, 50), 3);
    let a = big.slice(s![3..20, 5..30]); // 17 x 25, row stride 50
    let b = big.slice(s![10..35, 1..12]); // 25 x 11
    let want = a.dot(&b);
    let mut out = Array2::<f32>::from_elem((20, 30), 7.0);
    let mut cview = out.slice_mut(s![2..19, 4..15]);
    let mut mm = Matmul::new(1);
    mm.gemm(
        1.0,
        MatRef::from_array(&a).unwrap(),
        Op::N,
        MatRef::from_array(&b).unwrap(),
        Op::N,
        0.0,
        MatMut::from_array(&mut cview).unwrap(),
    )
    .unwrap();
    for ((i, j), &x) in out.indexed_iter() {
        if (2..19).contains(&i) && (4..15).contains(&j) {
            assert!((x - want[[i - 2, j - 4]]).abs() < 1e-4);
        } else {
            assert_eq!(x, 7.0, "element ({i}, {j}) outside the view was written");
        }
    }
    let t = big.t();
    assert!(matches!(
        MatRef::from_array(&t),
        Err(MatmulError::UnsupportedLayout { .. })
    ));
}

#[test]
fn results_are_bitwise_identical_for_every_thread_count() {
    for kernel in kernels() {
        for &(m, k, n) in &[
            (784, 300, 100),
            (100, 300, 784),
            (50, 784, 100),
            (300, 600, 290),
            // Narrow enough for the AVX-512 column tails with one thread, split over the threads'
            // tiles with more.
            (3000, 200, 10),
        ] {
            for &(op_a, op_b) in &OPS {
                let case = Case::new(m, k, n, op_a, op_b, 1, 5);
                let one = case.run(&mut Matmul::with_kernel(kernel, 1), 0.5, 0.5);
                for threads in [2, 3] {
                    let got = case.run(&mut Matmul::with_kernel(kernel, threads), 0.5, 0.5);
                    assert!(
                        one.iter()
                            .zip(&got)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{kernel}: {threads} threads differ from 1 at {m}x{k}x{n} {op_a:?}{op_b:?}"
                    );
                }
            }
        }
    }
}

/// The tile height is chosen from the row count (AVX-512: 10 rows for 50, 14 for 56); a row's
/// result must not depend on it, nor on the rows around it.
#[test]
fn rows_do_not_depend_on_the_row_count() {
    for kernel in kernels() {
        for &(op_a, op_b) in &OPS {
            for &(k, n) in &[(784, 100), (100, 10), (300, 784)] {
                let big = Case::new(56, k, n, op_a, op_b, 0, 9);
                let all = big.run(&mut Matmul::with_kernel(kernel, 1), 1.0, 0.0);
                for m in [50, 20, 10, 7] {
                    // The first m rows of op(A) (a block of rows, or of columns when transposed).
                    let a: Vec<f32> = if op_a == Op::N {
                        big.a[..m * k].to_vec()
                    } else {
                        big.a
                            .chunks(56)
                            .flat_map(|row| &row[..m])
                            .copied()
                            .collect()
                    };
                    let (ar, ac) = if op_a == Op::N { (m, k) } else { (k, m) };
                    let (br, bc) = big.b_shape();
                    let mut c = vec![0.0f32; m * n];
                    Matmul::with_kernel(kernel, 1)
                        .gemm(
                            1.0,
                            MatRef::new(&a, ar, ac).unwrap(),
                            op_a,
                            MatRef::new(&big.b, br, bc).unwrap(),
                            op_b,
                            0.0,
                            MatMut::new(&mut c, m, n).unwrap(),
                        )
                        .unwrap();
                    assert!(
                        c.iter()
                            .zip(&all[..m * n])
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{kernel}: {m} of 56 rows differ, {k}x{n} {op_a:?}{op_b:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn gram_matches_gemm_and_is_symmetric() {
    for kernel in kernels() {
        for &(k, n) in &[
            (0, 5),
            (1, 1),
            (7, 3),
            (100, 17),
            (65, 100),
            (600, 300),
            (50, 784),
        ] {
            let a = values(k * n, 11);
            let c0 = {
                // A symmetric starting C.
                let r = values(n * n, 12);
                let mut c = vec![0.0; n * n];
                for i in 0..n {
                    for j in 0..n {
                        c[i * n + j] = r[i.min(j) * n + i.max(j)];
                    }
                }
                c
            };
            let av = MatRef::new(&a, k, n).unwrap();
            let mut want = c0.clone();
            let mut mm = Matmul::with_kernel(kernel, 1);
            mm.gemm(
                0.5,
                av,
                Op::T,
                av,
                Op::N,
                2.0,
                MatMut::new(&mut want, n, n).unwrap(),
            )
            .unwrap();
            let mut first = None;
            for threads in [1, 2, 3] {
                let mut got = c0.clone();
                let mut mm = Matmul::with_kernel(kernel, threads);
                mm.gram(0.5, av, 2.0, MatMut::new(&mut got, n, n).unwrap())
                    .unwrap();
                for i in 0..n {
                    for j in 0..n {
                        let (g, w) = (got[i * n + j], want[i * n + j]);
                        assert_eq!(
                            g.to_bits(),
                            got[j * n + i].to_bits(),
                            "{kernel}: gram not symmetric"
                        );
                        assert!(
                            (g - w).abs() <= 1e-6 * (k as f32 + 4.0) * (1.0 + w.abs()),
                            "{kernel}: gram {g} vs gemm {w}"
                        );
                    }
                }
                let first = first.get_or_insert_with(|| got.clone());
                assert!(
                    first
                        .iter()
                        .zip(&got)
                        .all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{kernel}: gram differs with {threads} threads"
                );
            }
        }
    }
}

#[test]
fn errors_are_reported() {
    let data = vec![0.0f32; 12];
    let mut out = vec![0.0f32; 12];
    assert!(matches!(
        MatRef::new(&data, 4, 4),
        Err(MatmulError::DataTooShort {
            needed: 16,
            len: 12,
            ..
        })
    ));
    assert!(matches!(
        MatRef::strided(&data, 2, 5, 4),
        Err(MatmulError::StrideTooSmall { .. })
    ));
    assert!(MatRef::strided(&data, 2, 5, 7).is_ok());
    assert!(MatRef::new(&[], 0, 5).is_ok());
    let a = MatRef::new(&data, 3, 4).unwrap();
    let mut mm = Matmul::new(1);
    let err = mm
        .gemm(
            1.0,
            a,
            Op::N,
            a,
            Op::N,
            0.0,
            MatMut::new(&mut out, 3, 4).unwrap(),
        )
        .unwrap_err();
    assert_eq!(
        err,
        MatmulError::ShapeMismatch {
            op: "gemm",
            a: (3, 4),
            b: (3, 4),
            c: (3, 4)
        }
    );
    assert!(err.to_string().contains("op(A) is (3, 4)"));
    assert!(
        mm.gemm(
            1.0,
            a,
            Op::N,
            a,
            Op::T,
            0.0,
            MatMut::new(&mut out, 3, 3).unwrap()
        )
        .is_ok()
    );
    assert!(
        mm.gram(1.0, a, 0.0, MatMut::new(&mut out, 3, 3).unwrap())
            .is_err()
    );
    assert!(
        mm.gram(1.0, a, 0.0, MatMut::new(&mut out, 3, 4).unwrap())
            .is_err()
    );
    assert!(matches!(
        "sse".parse::<Kernel>(),
        Err(MatmulError::UnknownKernel(_))
    ));
    assert_eq!("scalar".parse::<Kernel>().unwrap(), Kernel::Scalar);
    assert_eq!("AVX512".parse::<Kernel>().unwrap(), Kernel::Avx512);
    assert_eq!("avx2".parse::<Kernel>().unwrap(), Kernel::Avx2Fma);
    assert_eq!("auto".parse::<Kernel>().unwrap(), Kernel::detect());
    for k in [
        Kernel::Scalar,
        Kernel::Avx2Fma,
        Kernel::Avx512,
        Kernel::Neon,
    ] {
        assert_eq!(k.name().parse::<Kernel>().unwrap(), k);
        if !k.is_available() {
            let mut mm = Matmul::with_kernel(k, 1);
            let r = mm.gemm(
                1.0,
                a,
                Op::N,
                a,
                Op::T,
                0.0,
                MatMut::new(&mut out, 3, 3).unwrap(),
            );
            assert_eq!(r, Err(MatmulError::KernelUnavailable(k)));
        }
    }
    assert_eq!(Matmul::new(0).threads(), 1);
    assert_eq!(Matmul::new(0).kernel(), Kernel::detect());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_shapes_match_the_triple_loop(
        m in 0usize..80, k in 0usize..80, n in 0usize..80, ops in 0usize..4, pad in 0usize..3,
        seed in 0u64..1000, threads in 1usize..4,
    ) {
        let (op_a, op_b) = OPS[ops];
        let case = Case::new(m, k, n, op_a, op_b, pad, seed);
        for kernel in Kernel::available() {
            let mut mm = Matmul::with_kernel(kernel, threads);
            let got = case.run(&mut mm, 0.75, -0.5);
            case.check(&got, 0.75, -0.5, kernel.name());
        }
    }
}
