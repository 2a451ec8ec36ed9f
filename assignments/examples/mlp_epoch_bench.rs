//! Benchmark of one `mnist_layers_activations` epoch (training plus dev evaluation, as the epoch line
//! times it) on data loaded once: `cargo run --release -p assignments --example mlp_epoch_bench --
//! [runs] [course flags...]`, e.g. `-- 7 --dataset=fashion_mnist --hidden_layers=1 --activation=relu`.
//! Prints every run's time in ms, then min and median; `NPFL_KERNEL` forces a matmul kernel.

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
    let mut times = Vec::new();
    for _ in 0..runs {
        let logs = train(&args, &mnist, &mut |_| {}, &mut |_| {})?;
        let ms = logs[0].elapsed.as_secs_f64() * 1e3;
        println!(
            "{ms:.1} ms  dev:accuracy={:.4}",
            logs[0].dev.map_or(f32::NAN, |d| d.accuracy)
        );
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "kernel={} runs={runs} min={:.1} ms median={:.1} ms",
        args.common.kernel,
        times[0],
        times[times.len() / 2]
    );
    Ok(())
}
