//! Adam's update alone, on the MLP's parameter count: `cargo run --release -p npfl_core --example
//! adam_bench [-- STEPS]`.
//!
//! 79,510 parameters (784-100-10), 10 steps with every gradient non-zero, then 1,510 warm-up steps
//! in which every 67th (then every 7th) gradient is exactly zero, so that those parameters' `exp_avg`
//! decays into the tiny range and the subnormals, scattered as a dead unit's weights are; then
//! `STEPS` (1,100, one epoch's batches) timed steps. Prints the time per configuration (min and
//! median of 5 rounds) and how many `exp_avg` values were tiny, for every instruction set this CPU
//! has (the vector width the update loop is compiled for) and both forms of the division by the
//! bias correction (`*` marks the one `Division::fastest` picks here; at most steps Adam replaces
//! both by its fused division, exact for that step's bias correction, so the two rows differ only at
//! the others), with the default
//! `TinyMoments::Timed` (with AVX-512, `*` marks the `RootSplit` Adam's trial picked in the last
//! round); with AVX-512, each `RootSplit` forced, in alternating rounds; then, for this CPU's instruction set and
//! division, each way of treating tiny moments forced, with parking (the default: parameters whose
//! gradient stays zero leave the vectorised loop once their `exp_avg` is tiny,
//! `Adam::with_parking`) and without.

use std::time::Instant;

use npfl_core::isa::Isa;
use npfl_core::nn::{Adam, AdamConfig, Division, RootSplit, TinyMoments};

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .map_or(1100, |s| s.parse().expect("STEPS: a number of steps"));
    let n = 79_510usize;
    for isa in Isa::available().into_iter().rev() {
        for division in [Division::Float32, Division::Reciprocal] {
            bench(isa, division, TinyMoments::Timed, n, steps);
        }
        divider_bound(isa, n, steps);
    }
    if Isa::Avx512.is_available() {
        splits(n, steps);
    }
    let isa = Isa::detect();
    for parking in [true, false] {
        for tiny in [TinyMoments::SetAside, TinyMoments::InPass] {
            bench_parking(isa, Division::fastest(isa), tiny, parking, n, steps);
        }
    }
}

/// The AVX-512 loop with each [`RootSplit`] forced, in alternating rounds (7; a noisy machine
/// slows some rounds, not one split): the update with no zero gradients after 100 warm-up steps.
fn splits(n: usize, steps: usize) {
    let all = [
        RootSplit::Divider,
        RootSplit::Alternate,
        RootSplit::Emulated,
    ];
    let g: Vec<f32> = (0..n)
        .map(|i| ((i * 104_729) % 1000) as f32 * 1e-4 - 0.05)
        .collect();
    let mut times = [const { Vec::new() }; 3];
    for _ in 0..7 {
        for (split, times) in all.iter().zip(&mut times) {
            let mut p: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
                .collect();
            let mut adam = Adam::new(AdamConfig::default(), n)
                .with_isa(Isa::Avx512)
                .with_root_split(*split);
            for _ in 0..100 {
                adam.step(&mut p, &g);
            }
            let start = Instant::now();
            for _ in 0..steps {
                adam.step(&mut p, &g);
            }
            times.push(start.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(&p);
        }
    }
    for (split, times) in all.iter().zip(&mut times) {
        times.sort_by(f64::total_cmp);
        println!(
            "avx512 {split:?} root split, alternating rounds: {n} parameters, no zero gradients; {steps} steps min {:.1} ms median {:.1} ms",
            times[0], times[3]
        );
    }
}

/// The square root and the division every parameter needs for torch's bits, alone: `y / sqrt(x)`
/// over the same number of values, compiled for `isa`, as a bound on the update loop.
fn divider_bound(isa: Isa, n: usize, steps: usize) {
    let mut x: Vec<f32> = (0..n).map(|i| 1.0 + (i % 100) as f32).collect();
    let y: Vec<f32> = (0..n).map(|i| 2.0 + (i % 7) as f32).collect();
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..steps {
            npfl_core::isa::vectorized(
                isa,
                #[inline(always)]
                || {
                    for (x, &y) in x.iter_mut().zip(&y) {
                        // Back to about its old value, so the next step divides alike.
                        *x += (y / x.sqrt()) * 0.0;
                    }
                },
            );
        }
        times.push(start.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(&x);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{isa}: a square root and a division alone, {n} values x {steps}: min {:.1} ms median {:.1} ms",
        times[0], times[2]
    );
}

fn bench(isa: Isa, division: Division, tiny_moments: TinyMoments, n: usize, steps: usize) {
    bench_parking(isa, division, tiny_moments, true, n, steps);
}

fn bench_parking(
    isa: Isa,
    division: Division,
    tiny_moments: TinyMoments,
    parking: bool,
    n: usize,
    steps: usize,
) {
    for stride in [0usize, 67, 7] {
        let gradient = |i: usize| ((i * 104_729) % 1000) as f32 * 1e-4 - 0.05;
        let g0: Vec<f32> = (0..n).map(gradient).collect();
        let g: Vec<f32> = (0..n)
            .map(|i| {
                if stride > 0 && i % stride == 0 {
                    0.0
                } else {
                    gradient(i)
                }
            })
            .collect();
        let mut times = Vec::new();
        let (mut tiny, mut parked, mut picked_split) = (0, 0, None);
        for _ in 0..5 {
            let mut p: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 * 1e-3 - 0.5)
                .collect();
            let mut adam = Adam::new(AdamConfig::default(), n)
                .with_isa(isa)
                .with_division(division)
                .with_tiny_moments(tiny_moments)
                .with_parking(parking);
            for _ in 0..10 {
                adam.step(&mut p, &g0);
            }
            for _ in 0..1510 {
                adam.step(&mut p, &g);
            }
            tiny = adam
                .exp_avg()
                .iter()
                .filter(|m| m.abs() < 7.9e-31 && **m != 0.0)
                .count();
            parked = adam.parked();
            picked_split = Some(adam.root_split());
            let start = Instant::now();
            for _ in 0..steps {
                adam.step(&mut p, &g);
            }
            times.push(start.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(&p);
        }
        times.sort_by(f64::total_cmp);
        let zero = if stride == 0 {
            "no zero gradients".to_string()
        } else {
            format!("every {stride}th gradient zero")
        };
        let picked = if Division::fastest(isa) == division {
            "*"
        } else {
            " "
        };
        let parking = if parking { "" } else { ", no parking" };
        // The root split Adam's trial picked in the last round.
        let split = match (isa, picked_split) {
            (Isa::Avx512, Some(picked)) => format!(" {picked:?}*"),
            _ => String::new(),
        };
        println!(
            "{isa} {division:?}{picked}{split} {tiny_moments:?}{parking}: {n} parameters, {zero}: {tiny} tiny exp_avg ({parked} parked); {steps} steps min {:.1} ms median {:.1} ms",
            times[0], times[2]
        );
    }
}
