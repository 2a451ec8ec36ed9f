//! Every kernel gives bitwise the same products and training runs, so `--recodex` (and every other
//! run) prints the same digits on every CPU: the products of every available kernel (scalar, AVX2,
//! AVX-512 on x86-64; scalar and NEON on aarch64, which CI runs under qemu) against the scalar
//! kernel's, bit for bit, on the MLP's shapes and awkward ones, every transpose combination,
//! alpha/beta, strided views, one and two threads; and short MLP trainings with Adam, compared by
//! their parameters' bits and their logs.

use ndarray::Array1;
use ndarray_rand::RandomExt;
use ndarray_rand::rand::{SeedableRng, rngs::SmallRng};
use ndarray_rand::rand_distr::Uniform;
use npfl_core::matmul::{Blocking, CacheSizes, Kernel, MatMut, MatRef, Matmul, Op};
use npfl_core::nn::{
    Activation, AdamConfig, CourseRng, Examples, Features, Mlp, MlpConfig, Trainer,
};
use npfl_core::rng::torch::{CpuCapability, TorchGenerator};

/// `len` deterministic values uniform in [-1, 1) (random low bits, so products round in the
/// last place).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let uniform = Uniform::new(-1.0f32, 1.0).expect("a valid range");
    Array1::random_using(len, uniform, &mut SmallRng::seed_from_u64(seed)).to_vec()
}

/// Every kernel this CPU runs besides the scalar one; the others are reported as skipped.
fn simd_kernels() -> Vec<Kernel> {
    for k in [Kernel::Avx2Fma, Kernel::Avx512, Kernel::Neon] {
        if !k.is_available() {
            eprintln!("skipping {k}: not supported by this CPU");
        }
    }
    Kernel::available()
        .into_iter()
        .filter(|&k| k != Kernel::Scalar)
        .collect()
}

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// The index and both values of the first element whose bits differ.
fn first_difference(got: &[f32], want: &[f32]) -> Option<(usize, f32, f32)> {
    got.iter()
        .zip(want)
        .position(|(g, w)| g.to_bits() != w.to_bits())
        .map(|i| (i, got[i], want[i]))
}

/// `C = alpha op(A) op(B) + beta C` with `mm`; op(A) is m x k, op(B) k x n, every matrix stored
/// with `pad` extra elements per row, all three filled from `seed`.
fn product(
    mut mm: Matmul,
    (m, k, n): (usize, usize, usize),
    (op_a, op_b): (Op, Op),
    (alpha, beta): (f32, f32),
    pad: usize,
    seed: u64,
) -> Vec<f32> {
    let (ar, ac) = if op_a == Op::N { (m, k) } else { (k, m) };
    let (br, bc) = if op_b == Op::N { (k, n) } else { (n, k) };
    let a = values(ar * (ac + pad), seed);
    let b = values(br * (bc + pad), seed + 1);
    let mut c = values(m * (n + pad), seed + 2);
    mm.gemm(
        alpha,
        MatRef::strided(&a, ar, ac, ac + pad).unwrap(),
        op_a,
        MatRef::strided(&b, br, bc, bc + pad).unwrap(),
        op_b,
        beta,
        MatMut::strided(&mut c, m, n, n + pad).unwrap(),
    )
    .unwrap();
    c
}

/// `C = alpha A^T A + beta C` with `mm` through `gram`; A is k x n, C starts from `c0`.
fn gram(
    mut mm: Matmul,
    a: &[f32],
    (k, n): (usize, usize),
    (alpha, beta): (f32, f32),
    c0: &[f32],
) -> Vec<f32> {
    let mut c = c0.to_vec();
    mm.gram(
        alpha,
        MatRef::new(a, k, n).unwrap(),
        beta,
        MatMut::new(&mut c, n, n).unwrap(),
    )
    .unwrap();
    c
}

const OPS: [(Op, Op); 4] = [
    (Op::N, Op::N),
    (Op::N, Op::T),
    (Op::T, Op::N),
    (Op::T, Op::T),
];

/// (alpha, beta): the MLP's two, and general ones (beta == 1 is also every later k block).
const ALPHA_BETA: [(f32, f32); 4] = [(1.0, 0.0), (1.0, 1.0), (0.75, -1.5), (-1.3, 0.3)];

/// The MLP's products (batch 50, 784 inputs, 100 hidden units, 10 classes; forward `X W`,
/// weight gradient `X^T dZ`, input gradient `dZ W^T`, and a short last batch of 10 rows),
/// then sizes around every tile height and width (4, 6, 8, 10, 14, 16, 32), k across one or more
/// 256-deep blocks, 1 to 16 columns past the last 32-column panel or in all (the AVX-512 column
/// tails, also with more than 64 rows and k in three blocks), and shapes wide enough (> 256) that the driver
/// packs instead of reading in place.
fn shapes() -> Vec<(usize, usize, usize)> {
    vec![
        (50, 784, 100),
        (784, 50, 100),
        (50, 100, 784),
        (50, 100, 100),
        (100, 50, 100),
        (50, 100, 10),
        (100, 50, 10),
        (50, 10, 100),
        (10, 784, 100),
        (1, 1, 1),
        (3, 5, 7),
        (7, 3, 33),
        (13, 257, 17),
        (15, 300, 31),
        (29, 513, 9),
        (33, 64, 65),
        (41, 2, 47),
        (61, 130, 15),
        (270, 37, 290),
        (70, 300, 98),
        (17, 520, 35),
        (64, 33, 67),
        (300, 260, 23),
        (23, 260, 300),
        (37, 45, 38),
        (40, 70, 44),
    ]
}

#[test]
fn every_kernel_gives_the_scalar_bits_for_every_product() {
    let kernels = simd_kernels();
    for (s, &shape) in shapes().iter().enumerate() {
        let (m, k, n) = shape;
        let big = m * n * k > 1_000_000;
        for (o, &ops) in OPS.iter().enumerate() {
            for (ab, &alpha_beta) in ALPHA_BETA.iter().enumerate() {
                // The big shapes with two (alpha, beta) per layout, all of them in turn.
                if big && ab % 2 != o % 2 {
                    continue;
                }
                let pad = (s + o + ab) % 3;
                let seed = (s * 100 + o * 10 + ab) as u64;
                let want = product(
                    Matmul::with_kernel(Kernel::Scalar, 1),
                    shape,
                    ops,
                    alpha_beta,
                    pad,
                    seed,
                );
                for &kernel in &kernels {
                    for threads in [1, 2] {
                        let mm = Matmul::with_kernel(kernel, threads);
                        let got = product(mm, shape, ops, alpha_beta, pad, seed);
                        assert!(
                            bits(&got) == bits(&want),
                            "{kernel}, {threads} threads: {m}x{k}x{n} {ops:?} (alpha, beta) = \
                             {alpha_beta:?} pad {pad}: first difference (index, got, scalar) \
                             {:?}",
                            first_difference(&got, &want)
                        );
                    }
                }
            }
        }
    }
}

/// `C = alpha op(A) op(B) + beta C` with `mm` where op(A) is mostly zeros (+0 and -0): half of
/// its k steps zero in every row, and more in groups of 7 rows (images' background pixels), so
/// that the AVX-512 tiles leave steps out ([`Matmul`] documents it); with `specials`, op(B) has an
/// infinity and a NaN in rows where op(A) is zero (whose products are NaN, not zero).
fn sparse_product(
    mm: &mut Matmul,
    (m, k, n): (usize, usize, usize),
    (op_a, op_b): (Op, Op),
    (alpha, beta): (f32, f32),
    specials: bool,
    seed: u64,
) -> Vec<f32> {
    let hash = |a: usize, b: usize| {
        let x = (a as u64 ^ seed).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (b as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 40
    };
    let zero = |i: usize, p: usize| {
        if hash(p, 1) % 2 == 0 || hash(i / 7, p) % 3 == 0 {
            Some(if hash(i, p) % 5 == 0 { -0.0 } else { 0.0 })
        } else {
            None
        }
    };
    let (ar, ac) = if op_a == Op::N { (m, k) } else { (k, m) };
    let (br, bc) = if op_b == Op::N { (k, n) } else { (n, k) };
    let mut a = values(ar * ac, seed);
    for i in 0..m {
        for p in 0..k {
            if let Some(z) = zero(i, p) {
                a[if op_a == Op::N { i * k + p } else { p * m + i }] = z;
            }
        }
    }
    let mut b = values(br * bc, seed + 1);
    if specials {
        // Two rows of op(B) where every row of op(A) is zero (hash(p, 1) even).
        let rows: Vec<usize> = (0..k).filter(|&p| hash(p, 1) % 2 == 0).take(2).collect();
        for (&p, special) in rows.iter().zip([f32::INFINITY, f32::NAN]) {
            let j = p % n;
            b[if op_b == Op::N { p * n + j } else { j * k + p }] = special;
        }
    }
    let mut c = values(m * n, seed + 2);
    mm.gemm(
        alpha,
        MatRef::new(&a, ar, ac).unwrap(),
        op_a,
        MatRef::new(&b, br, bc).unwrap(),
        op_b,
        beta,
        MatMut::new(&mut c, m, n).unwrap(),
    )
    .unwrap();
    c
}

/// The steps the AVX-512 tiles leave out where op(A) is zero change no bit: sparse products of
/// the MLP's shapes and others (op(A) read in place, row- or column-major), with infinities and
/// NaNs in op(B), the same calls again (whose looking for zeros depends on the calls before),
/// against the scalar kernel.
#[test]
fn left_out_zero_steps_keep_the_scalar_bits() {
    let kernels = simd_kernels();
    let shapes = [
        (50, 784, 100),
        (784, 50, 100),
        (10, 784, 100),
        (50, 100, 100),
        (141, 300, 64),
        (300, 129, 96),
        (23, 260, 200),
    ];
    for (s, &shape) in shapes.iter().enumerate() {
        for (o, &ops) in OPS.iter().enumerate() {
            for (ab, &alpha_beta) in ALPHA_BETA.iter().enumerate().take(2) {
                for specials in [false, true] {
                    let seed = (s * 100 + o * 10 + ab) as u64;
                    let want = sparse_product(
                        &mut Matmul::with_kernel(Kernel::Scalar, 1),
                        shape,
                        ops,
                        alpha_beta,
                        specials,
                        seed,
                    );
                    if specials {
                        assert!(want.iter().any(|x| x.is_nan()), "{shape:?}: no NaN to keep");
                    }
                    for &kernel in &kernels {
                        for threads in [1, 2] {
                            let mut mm = Matmul::with_kernel(kernel, threads);
                            for call in 0..3 {
                                let got =
                                    sparse_product(&mut mm, shape, ops, alpha_beta, specials, seed);
                                assert!(
                                    bits(&got) == bits(&want),
                                    "{kernel}, {threads} threads, call {call}: {shape:?} {ops:?} \
                                     {alpha_beta:?} specials {specials}: first difference \
                                     (index, got, scalar) {:?}",
                                    first_difference(&got, &want)
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A sum that every step makes +0 but the steps left out would leave at -0: one step's product
/// underflows to -0 (1e-30 times -1e-30), and the zero steps after it (+0 products) turn the sum
/// into +0; the tiles list only steps 1 and 3 (the even rows are non-zero at step 1). They compute
/// again with every step.
#[test]
fn a_negative_zero_sum_is_computed_with_every_step() {
    let (m, k, n) = (50, 100, 64);
    let mut a = vec![0.0f32; m * k];
    for i in 0..m {
        a[i * k + 3] = 1e-30;
        a[i * k + 1] = if i % 2 == 0 { 0.5 } else { 0.0 };
    }
    let mut b = vec![0.25f32; k * n];
    for j in 0..n {
        b[3 * n + j] = -1e-30;
    }
    let run = |kernel: Kernel| {
        let mut c = vec![7.0f32; m * n];
        Matmul::with_kernel(kernel, 1)
            .gemm(
                1.0,
                MatRef::new(&a, m, k).unwrap(),
                Op::N,
                MatRef::new(&b, k, n).unwrap(),
                Op::N,
                0.0,
                MatMut::new(&mut c, m, n).unwrap(),
            )
            .unwrap();
        c
    };
    let want = run(Kernel::Scalar);
    // Odd rows: +0 (the -0 of step 3, then +0 products); even rows: 0.125.
    assert_eq!(want[n].to_bits(), 0, "the scalar kernel's +0");
    assert_eq!(want[0], 0.125);
    for kernel in simd_kernels() {
        let got = run(kernel);
        assert!(
            bits(&got) == bits(&want),
            "{kernel}: first difference (index, got, scalar) {:?}",
            first_difference(&got, &want)
        );
    }
}

#[test]
fn every_kernel_gives_the_scalar_bits_for_gram() {
    let kernels = simd_kernels();
    for (k, n) in [(50, 784), (1024, 100), (7, 9), (300, 33), (513, 70)] {
        for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0)] {
            let a = values(k * n, (k + n) as u64);
            let sym = values(n * n, 7);
            let mut c0 = vec![0.0f32; n * n];
            for i in 0..n {
                for j in 0..n {
                    c0[i * n + j] = sym[i.min(j) * n + i.max(j)];
                }
            }
            let run = |kernel: Kernel, threads: usize| {
                gram(
                    Matmul::with_kernel(kernel, threads),
                    &a,
                    (k, n),
                    (alpha, beta),
                    &c0,
                )
            };
            let want = run(Kernel::Scalar, 1);
            for &kernel in &kernels {
                for threads in [1, 2] {
                    let got = run(kernel, threads);
                    assert!(
                        bits(&got) == bits(&want),
                        "{kernel}, {threads} threads: gram {k}x{n} alpha {alpha} beta {beta}: \
                         first difference {:?}",
                        first_difference(&got, &want)
                    );
                }
            }
        }
    }
}

/// The cache blocks follow the machine's caches, so they differ between CPUs: they must not
/// change a bit. Every kernel, products and gram, with blocks of one tile, a few tiles, the
/// blocking of a 256 KiB, 1 MiB and 2 MiB L2, and a huge one, against the scalar kernel with the
/// default blocking.
#[test]
fn cache_blocking_does_not_change_the_bits() {
    let blockings = |kernel: Kernel| {
        let tiles = [(1, 1), (3, 2), (200, 200)].map(|(m, n)| {
            // Whole tiles of any kernel (the driver rounds down to its own).
            Blocking {
                mc: m * 14,
                nc: n * 32,
            }
        });
        let mut all = tiles.to_vec();
        for l2 in [256 << 10, 1 << 20, 2 << 20] {
            all.push(Blocking::for_caches(
                kernel,
                CacheSizes { l1d: 32 << 10, l2 },
            ));
        }
        all
    };
    let mut kernels = simd_kernels();
    kernels.push(Kernel::Scalar);
    // Every kernel with every blocking, on 1 and 2 threads.
    let configs: Vec<(Kernel, Blocking, usize)> = kernels
        .iter()
        .flat_map(|&kernel| blockings(kernel).into_iter().map(move |b| (kernel, b)))
        .flat_map(|(kernel, blocking)| [1, 2].map(|threads| (kernel, blocking, threads)))
        .collect();
    for (s, &(m, k, n)) in [
        (300, 260, 290),
        (270, 37, 290),
        (70, 300, 98),
        (17, 520, 35),
        (64, 33, 67),
        (50, 784, 100),
        (61, 530, 47),
    ]
    .iter()
    .enumerate()
    {
        for (o, &ops) in OPS.iter().enumerate() {
            let seed = (s * 10 + o) as u64;
            let case = |mm| product(mm, (m, k, n), ops, (0.75, -1.5), 1, seed);
            let want = case(Matmul::with_kernel(Kernel::Scalar, 1));
            for &(kernel, blocking, threads) in &configs {
                let c = case(Matmul::with_kernel(kernel, threads).with_blocking(blocking));
                assert!(
                    bits(&c) == bits(&want),
                    "{kernel}, {blocking:?}, {threads} threads: {m}x{k}x{n} {ops:?}: \
                     first difference {:?}",
                    first_difference(&c, &want)
                );
            }
        }
    }
    let (k, n) = (600, 333);
    let (a, c0) = (values(k * n, 3), vec![0.0f32; n * n]);
    let case = |mm| gram(mm, &a, (k, n), (1.0, 0.0), &c0);
    let want = case(Matmul::with_kernel(Kernel::Scalar, 1));
    for &(kernel, blocking, threads) in &configs {
        let got = case(Matmul::with_kernel(kernel, threads).with_blocking(blocking));
        assert!(
            bits(&got) == bits(&want),
            "{kernel}, {blocking:?}, {threads} threads: gram {k}x{n}: first difference {:?}",
            first_difference(&got, &want)
        );
    }
}

/// MNIST-shaped synthetic data: `n` images of 784 `u8` pixels, a noisy class-dependent stripe
/// pattern, labels 0..10.
fn images(n: usize, seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut g = TorchGenerator::new(seed);
    let mut noise = vec![0.0f32; n * 784];
    g.uniform_f32(&mut noise, 0.0, 1.0, CpuCapability::Default);
    let mut pixels = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (g.random() % 10) as usize;
        labels.push(label as u8);
        for p in 0..784 {
            let (row, col) = (p / 28, p % 28);
            let on = (row + label * 3) % 10 < 3 || (col * (label + 1)) % 28 < 4;
            let base = if on { 110.0 } else { 40.0 };
            pixels.push((base + 130.0 * noise[i * 784 + p]) as u8);
        }
    }
    (pixels, labels)
}

/// The course's MLP (784 inputs, hidden layers of 100, 10 classes) and trainer (seed 42, ReCodEx
/// mode, batches of 50, Adam's defaults), multiplying with `matmul`.
fn course_trainer(matmul: Matmul, activation: Activation, hidden_layers: usize) -> Trainer {
    let config = MlpConfig {
        inputs: 784,
        hidden_layers,
        hidden_layer_size: 100,
        outputs: 10,
        activation,
    };
    let mut rng = CourseRng::new(42, true);
    let model = Mlp::new(config, &mut rng).unwrap();
    Trainer::new(model, AdamConfig::default(), matmul, rng, 50).unwrap()
}

/// One epoch over `train` (batches of 50, a short last one) and an evaluation on `dev`, as
/// `mnist_layers_activations --recodex` trains; returns the parameters' and Adam's moments' bits
/// and the epoch's logs, printed as the binary prints them.
fn train_run(
    kernel: Kernel,
    activation: Activation,
    hidden_layers: usize,
    train: &Examples,
    dev: &Examples,
) -> (Vec<u32>, Vec<u32>, Vec<u32>, String) {
    let mut trainer = course_trainer(Matmul::with_kernel(kernel, 1), activation, hidden_layers);
    let logs = trainer
        .fit(train, Some(dev), 1, &mut |_| {}, &mut |_| {})
        .unwrap()
        .unwrap();
    let dev_logs = logs.dev.unwrap();
    let line = format!(
        "loss={:.4} accuracy={:.4} dev:loss={:.4} dev:accuracy={:.4} (loss bits {:#x} {:#x})",
        logs.train.loss,
        logs.train.accuracy,
        dev_logs.loss,
        dev_logs.accuracy,
        logs.train.loss.to_bits(),
        dev_logs.loss.to_bits()
    );
    (
        bits(trainer.model().params()),
        bits(&trainer.adam().exp_avg()),
        bits(trainer.adam().exp_avg_sq()),
        line,
    )
}

#[test]
fn every_kernel_trains_bit_identically() {
    let kernels = simd_kernels();
    let (x, y) = images(1010, 3);
    let (dx, dy) = images(230, 4);
    let train = Examples::new(Features::U8(&x), &y, 784).unwrap();
    let dev = Examples::new(Features::U8(&dx), &dy, 784).unwrap();
    // The six `--recodex` configurations of the course's tests.
    for (activation, hidden_layers) in [
        (Activation::None, 0),
        (Activation::None, 1),
        (Activation::Relu, 1),
        (Activation::Tanh, 1),
        (Activation::Sigmoid, 1),
        (Activation::Relu, 3),
    ] {
        let want = train_run(Kernel::Scalar, activation, hidden_layers, &train, &dev);
        eprintln!("{activation} x {hidden_layers}: {}", want.3);
        for &kernel in &kernels {
            let got = train_run(kernel, activation, hidden_layers, &train, &dev);
            let what = format!("{kernel}, {activation} x {hidden_layers}");
            assert_eq!(got.3, want.3, "{what}: logs");
            assert!(got.0 == want.0, "{what}: parameters differ");
            assert!(got.1 == want.1, "{what}: Adam's exp_avg differs");
            assert!(got.2 == want.2, "{what}: Adam's exp_avg_sq differs");
        }
    }
}

/// `n` images where most pixels are zero, 300 carry a pattern of the label, and 150 are lit in
/// one image each: their weights' gradients are zero for hundreds of steps at a time, so that
/// Adam's moments decay into the tiny range and its parameters are parked, and unparked when
/// the image comes round again.
fn sparse_images(n: usize) -> (Vec<u8>, Vec<u8>) {
    let hash = |a: usize, b: usize| {
        let x = (a as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ (b as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        (x ^ (x >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 40
    };
    let mut pixels = vec![0u8; n * 784];
    let labels: Vec<u8> = (0..n).map(|i| (hash(i, 7) % 10) as u8).collect();
    for (i, image) in pixels.chunks_exact_mut(784).enumerate() {
        let label = usize::from(labels[i]);
        for (p, x) in image.iter_mut().enumerate().skip(200).take(300) {
            let on = (p + label * 17) % 40 < 12;
            *x = (if on { 150 } else { 20 } + hash(i, p) % 100) as u8;
        }
    }
    for p in 600..750 {
        pixels[(p * 263 % n) * 784 + p] = 200;
    }
    (pixels, labels)
}

#[test]
fn parking_trains_bit_identically() {
    let (x, y) = sparse_images(40_000);
    let (dx, dy) = sparse_images(500);
    let train = Examples::new(Features::U8(&x), &y, 784).unwrap();
    let dev = Examples::new(Features::U8(&dx), &dy, 784).unwrap();
    let run = |parking: bool| {
        let mut trainer = course_trainer(Matmul::new(1), Activation::Relu, 1)
            .map_adam(|adam| adam.with_parking(parking));
        let mut parked = Vec::new();
        let mut lines = Vec::new();
        for _ in 0..2 {
            let logs = trainer
                .fit(&train, Some(&dev), 1, &mut |_| {}, &mut |_| {})
                .unwrap()
                .unwrap();
            parked.push(trainer.adam().parked());
            lines.push(format!(
                "{:#x} {:#x}",
                logs.train.loss.to_bits(),
                logs.dev.unwrap().loss.to_bits()
            ));
        }
        let state = (
            bits(trainer.model().params()),
            bits(&trainer.adam().exp_avg()),
            bits(trainer.adam().exp_avg_sq()),
            lines,
        );
        (state, parked)
    };
    let (with, parked) = run(true);
    let (without, none) = run(false);
    assert_eq!(none, [0, 0]);
    assert!(
        parked.iter().all(|&n| n > 100),
        "parked after each epoch: {parked:?}"
    );
    assert!(
        with.3 == without.3,
        "losses {:?} against {:?}",
        with.3,
        without.3
    );
    assert!(with == without, "the parameters or moments differ");
}
