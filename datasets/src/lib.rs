//! MNIST-shaped datasets as the course's Python package provides them: the course's `mnist.npz`
//! (downloaded into `NPFL_CACHE` or the working directory), any `.npz` in that layout, and the
//! classic gzip IDX files (Fashion-MNIST from Debian's `dataset-fashion-mnist`).
//!
//! The library never reads environment variables and never prints: the cache directory, the base
//! URL and a progress callback are parameters (see [`download`]); the binaries read `NPFL_CACHE`
//! and `NPFL_DATASETS_URL` and draw the progress bar.
//!
//! ```no_run
//! use datasets::{Mnist, Sizes};
//! let mnist = Mnist::from_npz("mnist.npz".as_ref(), Sizes { train: Some(5000), ..Sizes::default() })?;
//! assert_eq!(mnist.train.images.ncols(), datasets::H * datasets::W * datasets::C);
//! # Ok::<(), datasets::DatasetError>(())
//! ```

pub mod download;
mod error;
pub mod idx;
mod images;
mod mnist;
mod npz;

pub use download::{
    DEFAULT_BASE_URL, DownloadEvent, DownloadOptions, MNIST_FILE, fetch, fetch_checked,
};
pub use error::DatasetError;
pub use images::Images;
pub use mnist::{
    C, DATASET_LIMIT_VAR, DatasetSource, H, ImageChunk, LABELS, Mnist, OnChunk, Sizes, Split, W,
};
