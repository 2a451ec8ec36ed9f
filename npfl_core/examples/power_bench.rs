//! The power iteration alone: `cargo run --release -p npfl_core --example power_bench [-- STEPS]`.
//!
//! `STEPS` (default 1,024, the course's largest `--iterations`) steps of
//! [`npfl_core::pca::power_iteration`] on symmetric matrices of 400 to 784 features (784 is MNIST's;
//! its upper triangle is 1.2 MB, more than a 1 MiB L2 cache; the smaller ones fit), with this CPU's
//! widest instruction set. Prints the min and median of 15 rounds and the entries of the triangle
//! read per nanosecond (by the minimum): if it drops from the smaller sizes to 784, the product
//! waits on the L3 cache.

use std::time::Instant;

use ndarray::Array2;
use npfl_core::isa::Isa;
use npfl_core::pca::power_iteration;

fn main() {
    let steps: usize = std::env::args()
        .nth(1)
        .map_or(1024, |s| s.parse().expect("STEPS: a number of steps"));
    println!("{} steps, {}", steps, Isa::detect().name());
    for d in [400usize, 600, 700, 784] {
        let cov = Array2::from_shape_fn((d, d), |(i, j)| {
            let (a, b) = (i.min(j), i.max(j));
            let off = ((a * 7919 + b * 104_729) % 1013) as f32 / 1013.0 * 0.01;
            if i == j { 1.0 + off } else { off }
        });
        let mut times: Vec<f64> = (0..15)
            .map(|_| {
                let start = Instant::now();
                let (s, _) = power_iteration(cov.view(), steps).expect("a nonzero matrix");
                std::hint::black_box(s);
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let entries = (d * (d + 1) / 2 * steps) as f64;
        println!(
            "d = {d:3} (triangle {:4} KiB): min {:6.2} ms, median {:6.2} ms, {:5.1} entries/ns",
            d * (d + 1) / 2 * 4 / 1024,
            times[0],
            times[times.len() / 2],
            entries / (times[0] * 1e6)
        );
    }
}
