//! Loading time of the 55,000 / 5,000 / 10,000 Fashion-MNIST split: from the gzip IDX files
//! ([`Mnist::from_idx_dir`]), from a compressed npz in the course's layout ([`Mnist::from_npz`]),
//! and `numpy.load` of the same npz (a `python3` subprocess per round, timing only the load); then
//! the 55,000 training images alone, as `pca_first` reads them into huge pages
//! ([`Mnist::train_images_from_idx_dir`], [`Mnist::train_images_from_npz`]) and, for comparison,
//! as [`Mnist::from_idx_dir`] with dev and test limited to 0 gives them (a vector).
//! Rounds interleave the six; min and median are printed.
//!
//! ```text
//! python3 datasets/examples/fashion_npz.py write /tmp/fashion_mnist.npz
//! cargo run --release -p datasets --example load_bench -- /tmp/fashion_mnist.npz [IDX_DIR] [ROUNDS]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use datasets::{Mnist, Sizes};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let npz = PathBuf::from(
        args.next()
            .ok_or("usage: load_bench NPZ [IDX_DIR] [ROUNDS]")?,
    );
    let idx_dir = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "/usr/share/datasets/fashion-mnist".to_string()),
    );
    let rounds: usize = args.next().map_or(Ok(10), |r| r.parse())?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fashion_npz.py");

    // Warm-up (page cache) and a check that both sources hold the same data.
    let from_idx = Mnist::from_idx_dir(&idx_dir, Sizes::default())?;
    let from_npz = Mnist::from_npz(&npz, Sizes::default())?;
    assert!(from_idx == from_npz, "the npz and the IDX files differ");
    assert_eq!(from_idx.train.len(), 55_000);

    let train_only = Sizes {
        train: None,
        dev: Some(0),
        test: Some(0),
    };
    let paged = Mnist::train_images_from_idx_dir(&idx_dir)?;
    assert!(
        Mnist::train_images_from_npz(&npz)?.view() == from_idx.train.images,
        "the paged npz reader differs"
    );
    assert!(
        paged.view() == from_idx.train.images,
        "the paged reader differs"
    );

    let (mut t_idx, mut t_npz, mut t_numpy) = (Vec::new(), Vec::new(), Vec::new());
    let (mut t_paged, mut t_train_vec, mut t_paged_npz) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        let m = Mnist::train_images_from_npz(&npz)?;
        t_paged_npz.push(start.elapsed().as_secs_f64());
        drop(m);

        let start = Instant::now();
        let m = Mnist::train_images_from_idx_dir(&idx_dir)?;
        t_paged.push(start.elapsed().as_secs_f64());
        drop(m);

        let start = Instant::now();
        let m = Mnist::from_idx_dir(&idx_dir, train_only)?;
        t_train_vec.push(start.elapsed().as_secs_f64());
        drop(m);

        let start = Instant::now();
        let m = Mnist::from_idx_dir(&idx_dir, Sizes::default())?;
        t_idx.push(start.elapsed().as_secs_f64());
        drop(m);

        let start = Instant::now();
        let m = Mnist::from_npz(&npz, Sizes::default())?;
        t_npz.push(start.elapsed().as_secs_f64());
        drop(m);

        let out = Command::new("python3")
            .arg(&script)
            .arg("load")
            .arg(&npz)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "numpy baseline failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        t_numpy.push(String::from_utf8(out.stdout)?.trim().parse::<f64>()?);
    }

    println!("{rounds} rounds, seconds per load of 55,000 + 5,000 + 10,000 images");
    println!("{:<48} {:>8} {:>8}", "loader", "min", "median");
    for (name, times) in [
        ("Mnist::from_idx_dir (gzip IDX)", &mut t_idx),
        ("Mnist::from_npz (savez_compressed)", &mut t_npz),
        ("numpy.load, same npz (python3)", &mut t_numpy),
        ("train images only: train_images_from_idx_dir", &mut t_paged),
        ("train images only: train_images_from_npz", &mut t_paged_npz),
        (
            "train images only: from_idx_dir, dev/test 0",
            &mut t_train_vec,
        ),
    ] {
        times.sort_by(f64::total_cmp);
        let median = if times.len() % 2 == 1 {
            times[times.len() / 2]
        } else {
            (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
        };
        println!("{name:<48} {:>8.4} {median:>8.4}", times[0]);
    }
    Ok(())
}
