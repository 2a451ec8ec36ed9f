//! Single-thread GFLOP/s of `npfl_core::matmul` against the `matrixmultiply` and `gemm` crates,
//! side by side in one run, on the shapes MLP training and PCA use, plus the FMA peak.
//!
//! `cargo run --release -p npfl_core --features bench --example matmul_bench [-- --quick] [--samples N] [--ours-only] [--only M] [--shape M K N [NN|NT|TN|TT]] [--blocking MC,NC] [--ceiling]`
//!
//! Prints one line per shape, `M K N ours=<median> matrixmultiply=<median> gemm=<median> peak=<median>`
//! (GFLOP/s, `2 M N K` flops per call), followed by a `#` line with the min and median of each.
//! `--samples N` sets the number of samples (after one warm-up sample); `--ours-only` skips the two
//! crates (their columns read NaN), so that our samples run back to back, as
//! `bench/matmul_blas.py` times NumPy's and PyTorch's.
//! `NPFL_KERNEL=scalar|avx2|avx512|auto` forces our kernel.
//!
//! The baselines are called through `npfl_core::matmul::baselines`, safe wrappers over their
//! raw-pointer entry points (the crate's `unsafe` stays in `npfl_core::matmul`).

use ndarray::Array1;
use ndarray_rand::RandomExt;
use ndarray_rand::rand::{SeedableRng, rngs::SmallRng};
use ndarray_rand::rand_distr::Uniform;
use npfl_core::matmul::baselines::{gemm_crate_sgemm, matrixmultiply_sgemm, thread_cpu_seconds};
use npfl_core::matmul::{
    Blocking, CacheSizes, Kernel, MatMut, MatRef, Matmul, MatmulError, Op, peak,
};

/// A stopwatch of the time this thread spent on a CPU (`CLOCK_THREAD_CPUTIME_ID`), so that
/// time slices the scheduler gives to other processes on a loaded machine do not count.
struct Clock {
    start: f64,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            start: thread_cpu_seconds(),
        }
    }

    fn seconds(&self) -> f64 {
        thread_cpu_seconds() - self.start
    }
}

/// `len` deterministic values uniform in [-1, 1) (random low bits, so products round in the
/// last place).
fn values(len: usize, seed: u64) -> Vec<f32> {
    let uniform = Uniform::new(-1.0f32, 1.0).expect("a valid range");
    Array1::random_using(len, uniform, &mut SmallRng::seed_from_u64(seed)).to_vec()
}

/// One benchmark shape: op(A) is m x k, op(B) is k x n, stored as the MLP / PCA store them.
struct Shape {
    name: &'static str,
    m: usize,
    k: usize,
    n: usize,
    op_a: Op,
    op_b: Op,
}

/// Row-major storage of an operand of logical shape (rows, cols) under `op`.
fn stored(rows: usize, cols: usize, op: Op) -> (usize, usize) {
    if op == Op::N {
        (rows, cols)
    } else {
        (cols, rows)
    }
}

/// GFLOP/s at the minimum time (the least disturbed sample) and at the median time.
struct Stats {
    min: f64,
    median: f64,
}

/// The signature of the two crates' products in `matmul::baselines`.
type Sgemm = fn(MatRef, Op, MatRef, Op, MatMut) -> Result<(), MatmulError>;

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    Stats {
        min: v[v.len() - 1],
        median: v[v.len() / 2],
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let ours_only = std::env::args().any(|a| a == "--ours-only");
    let samples_arg: Option<usize> = std::env::args()
        .skip_while(|a| a != "--samples")
        .nth(1)
        .map(|s| s.parse().expect("--samples N: a number of samples"));
    // `--only M` keeps the shapes whose M is M.
    let only: Option<usize> = std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .and_then(|s| s.parse().ok());
    let kernel: Kernel = match std::env::var("NPFL_KERNEL") {
        Ok(s) => s.parse().unwrap_or_else(|e| {
            eprintln!("error: NPFL_KERNEL: {e}");
            std::process::exit(1)
        }),
        Err(_) => Kernel::detect(),
    };
    let args: Vec<String> = std::env::args().collect();
    let mut mm = Matmul::with_kernel(kernel, 1);
    // `--blocking MC,NC` replaces the cache blocks detected from this machine's caches.
    if let Some(i) = args.iter().position(|a| a == "--blocking") {
        let v: Vec<usize> = args[i + 1]
            .split(',')
            .map(|s| s.parse().expect("--blocking MC,NC"))
            .collect();
        mm = mm.with_blocking(Blocking { mc: v[0], nc: v[1] });
    }
    eprintln!(
        "# kernel {kernel}, {:?} (caches {:?})",
        mm.blocking(),
        CacheSizes::detect()
    );
    // `--shape M K N` benchmarks one extra NN shape instead of the list.
    let custom: Option<Vec<usize>> = args.iter().position(|a| a == "--shape").map(|i| {
        args[i + 1..i + 4]
            .iter()
            .map(|s| s.parse().expect("--shape M K N"))
            .collect()
    });
    let mut shapes = vec![
        Shape {
            name: "forward X W",
            m: 50,
            k: 784,
            n: 100,
            op_a: Op::N,
            op_b: Op::N,
        },
        Shape {
            name: "weight gradient X^T dH",
            m: 784,
            k: 50,
            n: 100,
            op_a: Op::T,
            op_b: Op::N,
        },
        Shape {
            name: "hidden layer",
            m: 50,
            k: 100,
            n: 100,
            op_a: Op::N,
            op_b: Op::N,
        },
        Shape {
            name: "output layer",
            m: 50,
            k: 100,
            n: 10,
            op_a: Op::N,
            op_b: Op::N,
        },
        Shape {
            name: "input gradient dH W^T",
            m: 50,
            k: 100,
            n: 784,
            op_a: Op::N,
            op_b: Op::T,
        },
        Shape {
            name: "covariance X^T X",
            m: 784,
            k: 55000,
            n: 784,
            op_a: Op::T,
            op_b: Op::N,
        },
        Shape {
            name: "square",
            m: 1024,
            k: 1024,
            n: 1024,
            op_a: Op::N,
            op_b: Op::N,
        },
    ];
    if let Some(v) = custom {
        // An optional fourth word such as `TN` gives op_a and op_b.
        let pos = args.iter().position(|a| a == "--shape").unwrap_or(0);
        let ops = args.get(pos + 4).map_or("NN", |s| s.as_str()).as_bytes();
        let op = |i: usize| {
            if ops.get(i) == Some(&b'T') {
                Op::T
            } else {
                Op::N
            }
        };
        shapes = vec![Shape {
            name: "custom",
            m: v[0],
            k: v[1],
            n: v[2],
            op_a: op(0),
            op_b: op(1),
        }];
    }
    let peak_fma = |iters: u64| {
        let t = Clock::start();
        let (flops, sink) = peak::fma_loop(kernel, iters).expect("kernel checked");
        std::hint::black_box(sink);
        flops / t.seconds() / 1e9
    };
    println!(
        "# kernel={kernel} single thread; GFLOP/s = 2 M N K / time; {}",
        cpu_name()
    );
    if args.iter().any(|a| a == "--ceiling")
        || (only.is_none() && !args.contains(&"--shape".into()))
    {
        // The micro-kernel on one tile whose packed panels and C stay in L1, against the peak
        // loop in the same sample: the most any product can reach with this kernel.
        let (mut tile, mut peaks, mut ratios) = (vec![], vec![], vec![]);
        for sample in 0..=31 {
            let t = Clock::start();
            let (flops, sink) = peak::tile_loop(kernel, 20_000).expect("kernel checked");
            std::hint::black_box(sink);
            let g_tile = flops / t.seconds() / 1e9;
            let g_peak = peak_fma(2_000_000);
            if sample > 0 {
                tile.push(g_tile);
                peaks.push(g_peak);
                ratios.push(100.0 * g_tile / g_peak);
            }
        }
        let (t, p, r) = (stats(tile), stats(peaks), stats(ratios));
        println!(
            "# ceiling: micro-kernel on L1-resident packed panels and C, GFLOP/s at min/median time: {:.1}/{:.1}  peak {:.1}/{:.1}  kernel/peak {:.0}%/{:.0}%  (31 samples)",
            t.min, t.median, p.min, p.median, r.min, r.median
        );
    }
    for s in shapes.iter().filter(|s| only.is_none_or(|m| s.m == m)) {
        let (ar, ac) = stored(s.m, s.k, s.op_a);
        let (br, bc) = stored(s.k, s.n, s.op_b);
        let a = values(ar * ac, 1);
        // The covariance multiplies X^T by a copy of X, as `bench/matmul_blas.py` gives the BLAS
        // libraries (NumPy would call syrk on X^T X itself): with X itself, packing op(A) finds
        // the rows packing op(B) has just read still in cache, worth 1-2% (the `gram` row below
        // is the product of X with itself).
        let b_own;
        let b: &[f32] = if s.k == 55000 {
            b_own = a.clone();
            &b_own
        } else {
            b_own = values(br * bc, 2);
            &b_own
        };
        let mut c = vec![0.0f32; s.m * s.n];
        let flops = 2.0 * (s.m * s.n * s.k) as f64;
        // Calls per sample: at least ~5 ms of work; samples: enough for a stable median.
        let calls = ((5e-3 * 100e9 / flops).ceil() as usize).max(1);
        let samples = if let Some(n) = samples_arg {
            n.max(1)
        } else if quick {
            3
        } else if flops > 1e10 {
            5
        } else if flops > 1e9 {
            15
        } else {
            31
        };
        let (mut ours, mut mmul, mut gemm_c, mut peaks) = (vec![], vec![], vec![], vec![]);
        // ours / peak of the same sample: robust to the load other processes put on the machine.
        let mut ratios = vec![];
        for sample in 0..=samples {
            let t = Clock::start();
            for _ in 0..calls {
                let av = MatRef::new(&a, ar, ac).unwrap();
                let bv = MatRef::new(b, br, bc).unwrap();
                mm.gemm(
                    1.0,
                    av,
                    s.op_a,
                    bv,
                    s.op_b,
                    0.0,
                    MatMut::new(&mut c, s.m, s.n).unwrap(),
                )
                .unwrap();
            }
            let g_ours = flops * calls as f64 / t.seconds() / 1e9;
            // One crate's GFLOP/s over the same calls; NaN, not run, with --ours-only (so that
            // our samples follow each other, as the BLAS script times NumPy's).
            let mut crate_gflops = |sgemm: Sgemm| {
                if ours_only {
                    return f64::NAN;
                }
                let t = Clock::start();
                for _ in 0..calls {
                    let (av, bv) = (
                        MatRef::new(&a, ar, ac).unwrap(),
                        MatRef::new(b, br, bc).unwrap(),
                    );
                    let cv = MatMut::new(&mut c, s.m, s.n).unwrap();
                    sgemm(av, s.op_a, bv, s.op_b, cv).unwrap();
                }
                flops * calls as f64 / t.seconds() / 1e9
            };
            let g_mm = crate_gflops(matrixmultiply_sgemm);
            let g_gemm = crate_gflops(gemm_crate_sgemm);
            let g_peak = peak_fma(2_000_000);
            if sample > 0 {
                // Sample 0 warms up caches, buffers and the CPU clock.
                ours.push(g_ours);
                mmul.push(g_mm);
                gemm_c.push(g_gemm);
                peaks.push(g_peak);
                ratios.push(100.0 * g_ours / g_peak);
            }
        }
        let (o, x, g, p, r) = (
            stats(ours),
            stats(mmul),
            stats(gemm_c),
            stats(peaks),
            stats(ratios),
        );
        println!(
            "{} {} {} ours={:.1} matrixmultiply={:.1} gemm={:.1} peak={:.1}",
            s.m, s.k, s.n, o.median, x.median, g.median, p.median
        );
        println!(
            "#   {} ({:?}{:?}), GFLOP/s at min/median time: ours {:.1}/{:.1}  matrixmultiply {:.1}/{:.1}  gemm {:.1}/{:.1}  peak {:.1}/{:.1}  ours/peak {:.0}%/{:.0}%  ({} samples of {} calls)",
            s.name,
            s.op_a,
            s.op_b,
            o.min,
            o.median,
            x.min,
            x.median,
            g.min,
            g.median,
            p.min,
            p.median,
            r.min,
            r.median,
            samples,
            calls
        );
        if s.k == 55000 {
            // The covariance as PCA computes it: one triangle with `gram`, same flop count.
            let mut v = vec![];
            for sample in 0..=samples {
                let t = Clock::start();
                let av = MatRef::new(&a, ar, ac).unwrap();
                mm.gram(1.0, av, 0.0, MatMut::new(&mut c, s.m, s.n).unwrap())
                    .unwrap();
                if sample > 0 {
                    v.push(flops / t.seconds() / 1e9);
                }
            }
            let v = stats(v);
            println!(
                "#   gram (one triangle, counted as the full 2 M N K), GFLOP/s at min/median time: ours {:.1}/{:.1}",
                v.min, v.median
            );
        }
    }
}

fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}
