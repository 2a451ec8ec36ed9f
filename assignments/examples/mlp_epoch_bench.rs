//! Benchmark of one `mnist_layers_activations` epoch (training plus dev evaluation, as the epoch line
//! times it) on data loaded once: `cargo run --release -p assignments --example mlp_epoch_bench --
//! [runs] [course flags...]`, e.g. `-- 7 --dataset=fashion_mnist --hidden_layers=1 --activation=relu`.
//! Prints every run's time in ms with its phases, then min and median, and the epoch's FLOP floor:
//! the flops of its matrix products over the FMA peak of one core (`matmul::peak::fma_loop`,
//! measured here); `NPFL_KERNEL` forces a matmul kernel.

use assignments::mnist_layers_activations::{Args, train};
use clap::Parser;
use datasets::Sizes;

fn main() -> anyhow::Result<()> {
    let mut argv: Vec<String> = std::env::args().collect();
    let runs: usize = if argv.len() > 1 && argv[1].parse::<usize>().is_ok() {
        argv.remove(1).parse()?
    } else {
        5
    };
    let mut args = Args::parse_from(argv);
    args.epochs = 1;
    args.common.apply_env()?;
    let mnist = args.common.load(Sizes::default())?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let mut runs_logs = Vec::new();
    for _ in 0..runs {
        let logs = train(&args, &mnist, &mut |_| {}, &mut |_| {})?;
        let epoch = logs[0];
        let p = epoch.phases;
        println!(
            "{:.1} ms  dev:accuracy={:.4}  (load {:.1}, forward {:.1}, loss {:.1}, backward {:.1}, adam {:.1}, rest {:.1})",
            ms(epoch.elapsed),
            epoch.dev.map_or(f32::NAN, |d| d.accuracy),
            ms(p.load),
            ms(p.forward),
            ms(p.loss),
            ms(p.backward),
            ms(p.adam),
            ms(epoch.elapsed - p.load - p.forward - p.loss - p.backward - p.adam),
        );
        runs_logs.push(epoch);
    }
    runs_logs.sort_by_key(|a| a.elapsed);
    // The products of one epoch: forward (every train and dev example), the weight gradients
    // (every train example) and the input gradients of all but the first layer.
    let (hidden, size) = (args.hidden_layers as usize, args.hidden_layer_size as usize);
    let mut sizes = vec![mnist.train.images.ncols()];
    sizes.extend(std::iter::repeat_n(size, hidden));
    sizes.push(datasets::LABELS);
    let macs: Vec<f64> = sizes.windows(2).map(|w| (w[0] * w[1]) as f64).collect();
    let all: f64 = macs.iter().sum();
    let (train_n, dev_n) = (mnist.train.len() as f64, mnist.dev.len() as f64);
    let flops = 2.0 * (train_n * (2.0 * all + (all - macs[0])) + dev_n * all);
    let peak = peak_gflops(args.common.kernel)?;
    let floor_ms = flops / (peak * 1e9) * 1e3;
    let median = runs_logs[runs_logs.len() / 2];
    let p = median.phases;
    let rest = median.elapsed - p.load - p.forward - p.loss - p.backward - p.adam;
    println!(
        "kernel={} runs={runs} min={:.1} ms median={:.1} ms; the median run's phases: load {:.1}, forward {:.1}, loss {:.1}, backward {:.1}, adam {:.1}, dev evaluation and the rest {:.1} ms",
        args.common.kernel,
        ms(runs_logs[0].elapsed),
        ms(median.elapsed),
        ms(p.load),
        ms(p.forward),
        ms(p.loss),
        ms(p.backward),
        ms(p.adam),
        ms(rest),
    );
    // The products' share of the training phases (the dev evaluation's forward products are in
    // the rest).
    let dev_flops = 2.0 * dev_n * all;
    println!(
        "the median run's training products {:.1} ms at {:.1} GFLOP/s; element-wise work in forward, loss and backward {:.1} ms",
        ms(p.products),
        (flops - dev_flops) / p.products.as_secs_f64() / 1e9,
        ms(p.forward + p.loss + p.backward - p.products),
    );
    println!(
        "products {:.2} GFLOP per epoch; FMA peak {peak:.1} GFLOP/s ({} kernel, one core); FLOP floor {floor_ms:.1} ms; median epoch = {:.2}x the floor",
        flops / 1e9,
        args.common.kernel,
        ms(median.elapsed) / floor_ms,
    );
    Ok(())
}

/// The register-only FMA loop's GFLOP/s for `kernel`: median of 7 runs of about 0.1 s.
fn peak_gflops(kernel: npfl_core::matmul::Kernel) -> anyhow::Result<f64> {
    let mut rates = Vec::new();
    for _ in 0..7 {
        let start = std::time::Instant::now();
        let (flops, sum) = npfl_core::matmul::peak::fma_loop(kernel, 2_000_000)?;
        let seconds = start.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        rates.push(flops / seconds / 1e9);
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[rates.len() / 2])
}
