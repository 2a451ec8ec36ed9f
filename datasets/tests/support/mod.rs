//! Helpers shared by the integration tests: fixture writers (npz, gzip IDX), the real-data
//! locations, and a raw HTTP server on 127.0.0.1.
#![allow(dead_code)]

pub mod server;

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use ndarray::{Array1, Array4};
use ndarray_npy::NpzWriter;

/// Pixel (i, y, x) of a split with offset `o`: the formula of `fixtures/make_fixtures.py`.
pub fn pixel(offset: usize, i: usize, y: usize, x: usize) -> u8 {
    ((offset + 7 * i + 28 * y + x) % 256) as u8
}

/// Label i of a split with offset `o`.
pub fn label(offset: usize, i: usize) -> u8 {
    ((offset + i) % 10) as u8
}

/// (N, 28, 28, 1) images and N labels following the fixture formula.
pub fn split_arrays(n: usize, offset: usize) -> (Array4<u8>, Array1<u8>) {
    let images = Array4::from_shape_fn((n, 28, 28, 1), |(i, y, x, _)| pixel(offset, i, y, x));
    let labels = Array1::from_shape_fn(n, |i| label(offset, i));
    (images, labels)
}

/// The six arrays of the course's layout (5 / 3 / 4 examples, as the NumPy fixtures).
pub fn course_arrays() -> Vec<(String, ndarray::ArrayD<u8>)> {
    let mut arrays = Vec::new();
    for (name, n, offset) in [("train", 5, 0), ("dev", 3, 100), ("test", 4, 200)] {
        let (images, labels) = split_arrays(n, offset);
        arrays.push((format!("{name}_images"), images.into_dyn()));
        arrays.push((format!("{name}_labels"), labels.into_dyn()));
    }
    arrays
}

/// An npz (compressed) holding the given arrays, as bytes.
pub fn npz_bytes(arrays: &[(String, ndarray::ArrayD<u8>)]) -> Vec<u8> {
    let mut npz = NpzWriter::new_compressed(Cursor::new(Vec::new()));
    for (name, array) in arrays {
        npz.add_array(name.as_str(), array).unwrap();
    }
    npz.finish().unwrap().into_inner()
}

/// A valid npz in the course's layout, as bytes.
pub fn course_npz_bytes() -> Vec<u8> {
    npz_bytes(&course_arrays())
}

/// Gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The bytes of an IDX images file of `n` 28x28 images (the fixture formula).
pub fn idx_images(n: usize, offset: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + n * 784);
    for word in [0x0803u32, n as u32, 28, 28] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    for i in 0..n {
        for y in 0..28 {
            for x in 0..28 {
                out.push(pixel(offset, i, y, x));
            }
        }
    }
    out
}

/// The bytes of an IDX labels file of `n` labels (the fixture formula).
pub fn idx_labels(n: usize, offset: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + n);
    for word in [0x0801u32, n as u32] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out.extend((0..n).map(|i| label(offset, i)));
    out
}

/// Writes the four gzip IDX files of an MNIST-like dataset into `dir`.
pub fn write_idx_dir(dir: &Path, n_train: usize, n_test: usize) {
    let files = [
        ("train-images-idx3-ubyte.gz", idx_images(n_train, 0)),
        ("train-labels-idx1-ubyte.gz", idx_labels(n_train, 0)),
        ("t10k-images-idx3-ubyte.gz", idx_images(n_test, 200)),
        ("t10k-labels-idx1-ubyte.gz", idx_labels(n_test, 200)),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.join(name), gzip(&bytes)).unwrap();
    }
}

/// The folder of committed fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `../shared/data` (or `NPFL138_SHARED_DATA`).
pub fn shared_data() -> PathBuf {
    std::env::var_os("NPFL138_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")))
}

/// `/usr/share/datasets/fashion-mnist` (or `NPFL138_FASHION_MNIST_DIR`).
pub fn fashion_mnist_dir() -> PathBuf {
    std::env::var_os("NPFL138_FASHION_MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist"))
}

/// Returns `true` when `path` exists. Otherwise prints `skipping <test>: <path> is missing` and
/// returns `false`, or panics when `NPFL138_REQUIRE_DATA=1`.
pub fn require(test: &str, path: &Path) -> bool {
    if path.exists() {
        return true;
    }
    if std::env::var("NPFL138_REQUIRE_DATA").is_ok_and(|v| v == "1") {
        panic!(
            "{test}: {} is missing and NPFL138_REQUIRE_DATA=1",
            path.display()
        );
    }
    eprintln!("skipping {test}: {} is missing", path.display());
    false
}

/// The names of the entries of `dir`, sorted.
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The training images of `Mnist::train_image_chunks_from_npz` (`npz`) or
/// `Mnist::train_image_chunks_from_idx_dir`, in chunks of `rows`, concatenated; each chunk is
/// checked (where it starts, its size, the total it announces) and the count returned.
pub fn chunked(
    path: &Path,
    npz: bool,
    rows: usize,
) -> Result<(usize, Vec<u8>), datasets::DatasetError> {
    let mut all = Vec::new();
    let mut total = None;
    let mut on_chunk = |c: datasets::ImageChunk<'_>| {
        assert_eq!(c.first * 784, all.len());
        assert!(!c.is_empty() && c.len() <= rows && c.pixels.len() == c.len() * 784);
        assert_eq!(*total.get_or_insert(c.total), c.total);
        all.extend_from_slice(c.pixels);
        std::ops::ControlFlow::Continue(())
    };
    let n = if npz {
        datasets::Mnist::train_image_chunks_from_npz(path, rows, &mut on_chunk)?
    } else {
        datasets::Mnist::train_image_chunks_from_idx_dir(path, rows, &mut on_chunk)?
    };
    assert_eq!(all.len(), n * 784);
    assert!(total.is_none_or(|t| t == n));
    Ok((n, all))
}
