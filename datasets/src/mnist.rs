//! The dataset types: [`Mnist`] with its three [`Split`]s, [`Sizes`] and [`DatasetSource`].

use std::fmt;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView4, s};

use crate::{DatasetError, Images};

/// Number of image channels.
pub const C: usize = 1;
/// Image height in pixels.
pub const H: usize = 28;
/// Image width in pixels.
pub const W: usize = 28;
/// Number of classes; labels are `0..LABELS`.
pub const LABELS: usize = 10;

/// One split of the dataset: `images` is N x 784 (row-major, one image per row, pixel (y, x) at
/// column `28 * y + x`), `labels` holds N class indices in `0..10`.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// N x (C * H * W) uint8 pixels, in standard (row-major) layout.
    pub images: Array2<u8>,
    /// N labels in `0..LABELS`.
    pub labels: Array1<u8>,
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// `true` when the split has no examples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The images as N x 1 x 28 x 28, the layout the course's loader gives (no copy).
    ///
    /// # Panics
    /// If `images` was replaced by an array that is not N x 784 in standard layout (the loaders
    /// always produce that layout).
    pub fn images_nchw(&self) -> ArrayView4<'_, u8> {
        self.images
            .view()
            .into_shape_with_order((self.images.nrows(), C, H, W))
            .expect("Split::images must be N x 784 in standard layout")
    }

    /// A split without examples.
    pub(crate) fn empty() -> Split {
        Split {
            images: Array2::zeros((0, H * W * C)),
            labels: Array1::zeros(0),
        }
    }

    /// Keeps the first `n` examples (all of them when `n` is `None` or at least `len()`), as the
    /// course's `sizes={split: n}` does.
    pub(crate) fn truncated(self, n: Option<usize>) -> Split {
        match n {
            Some(n) if n < self.len() => Split {
                images: self.images.slice(s![..n, ..]).to_owned(),
                labels: self.labels.slice(s![..n]).to_owned(),
            },
            _ => self,
        }
    }
}

/// MNIST-shaped data: train, dev and test splits (the course's MNIST has 55,000 / 5,000 / 10,000).
#[derive(Clone, Debug, PartialEq)]
pub struct Mnist {
    /// Training split.
    pub train: Split,
    /// Development (validation) split.
    pub dev: Split,
    /// Test split.
    pub test: Split,
}

/// Optional per-split size limits, like the course's `MNIST(sizes={"train": 5000})`: a split keeps
/// its first n examples. `None` keeps the whole split; a split limited to 0 is not even read (its
/// npz arrays are not inflated, the t10k files not opened), so its data cannot fail the load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Limit of the train split.
    pub train: Option<usize>,
    /// Limit of the dev split.
    pub dev: Option<usize>,
    /// Limit of the test split.
    pub test: Option<usize>,
}

/// The environment variable with which the course caps every `TransformedDataset` (course: `labs/npfl138/transformed_dataset.py`).
pub const DATASET_LIMIT_VAR: &str = "NPFL_DATASET_LIMIT";

impl Sizes {
    /// The same limit for all three splits.
    pub fn all(limit: Option<usize>) -> Sizes {
        Sizes {
            train: limit,
            dev: limit,
            test: limit,
        }
    }

    /// The course's `NPFL_DATASET_LIMIT` ([`DATASET_LIMIT_VAR`]) given its value (`None` when
    /// unset): as `npfl138.TransformedDataset` reads it, a value that is all decimal digits
    /// (Python's `str.isdecimal()`, here ASCII digits) limits every split to its first `limit`
    /// examples, so `"0"` empties them; anything else (empty, signed, spaced, `"1e3"`) is
    /// ignored. A limit too large for `usize` limits nothing.
    pub fn from_dataset_limit(value: Option<&str>) -> Sizes {
        Sizes::all(value.and_then(parse_dataset_limit))
    }
}

fn parse_dataset_limit(value: &str) -> Option<usize> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // All digits: only an overflow can fail, and a limit above every length is no limit.
    value.parse::<usize>().ok()
}

/// One chunk of training images from [`Mnist::train_image_chunks_from_npz`] or
/// [`Mnist::train_image_chunks_from_idx_dir`].
#[derive(Clone, Copy, Debug)]
pub struct ImageChunk<'a> {
    /// Training images in the file (the same in every chunk).
    pub total: usize,
    /// The index of the chunk's first image.
    pub first: usize,
    /// The chunk's images, row-major, 784 bytes each.
    pub pixels: &'a [u8],
}

impl ImageChunk<'_> {
    /// Images in the chunk.
    pub fn len(&self) -> usize {
        self.pixels.len() / (C * H * W)
    }

    /// Whether the chunk holds no image (never, for a chunk that was handed out).
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// What receives the chunks: [`ControlFlow::Break`] stops the reading (the rest of the file is
/// then neither read nor checked).
pub type OnChunk<'f> = dyn FnMut(ImageChunk<'_>) -> ControlFlow<()> + 'f;

/// How [`read_chunks`] ended.
pub(crate) enum Chunked {
    /// Every image was read and handed out.
    All,
    /// The receiver stopped the reading.
    Stopped,
    /// The input ended first, after `read` bytes of images.
    Short { read: usize },
}

/// Reads `total` images from `reader` in chunks of `chunk_rows` (the last one shorter) into one
/// buffer and hands each to `on_chunk` (the readers of
/// [`Mnist::train_image_chunks_from_npz`] and [`Mnist::train_image_chunks_from_idx_dir`]).
pub(crate) fn read_chunks(
    reader: &mut dyn std::io::Read,
    total: usize,
    chunk_rows: usize,
    on_chunk: &mut OnChunk<'_>,
) -> std::io::Result<Chunked> {
    let row = C * H * W;
    let mut buf = vec![0u8; chunk_rows.min(total) * row];
    for first in (0..total).step_by(chunk_rows) {
        let buf = &mut buf[..chunk_rows.min(total - first) * row];
        let got = crate::idx::read_up_to(reader, buf)?;
        if got < buf.len() {
            return Ok(Chunked::Short {
                read: first * row + got,
            });
        }
        let chunk = ImageChunk {
            total,
            first,
            pixels: buf,
        };
        if on_chunk(chunk).is_break() {
            return Ok(Chunked::Stopped);
        }
    }
    Ok(Chunked::All)
}

impl Mnist {
    /// Reads an `.npz` in the course's layout (`{train,dev,test}_{images,labels}`, images uint8
    /// (N, 28, 28, 1), labels integers in 0..10), compressed (`np.savez_compressed`) or not.
    /// Each problem is reported naming the file and the key.
    pub fn from_npz(path: &Path, sizes: Sizes) -> Result<Mnist, DatasetError> {
        crate::npz::read_mnist_npz(path, sizes)
    }

    /// Reads the four classic gzip IDX files from `dir` (`train-images-idx3-ubyte.gz`,
    /// `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz`;
    /// uncompressed files without `.gz` are accepted too) and splits them like the course's MNIST:
    /// the last 5,000 training examples form dev, the rest train (55,000 of 60,000), t10k is test.
    pub fn from_idx_dir(dir: &Path, sizes: Sizes) -> Result<Mnist, DatasetError> {
        crate::idx::read_mnist_idx_dir(dir, sizes)
    }

    /// The training split's images of an `.npz` in the course's layout, handed to `on_chunk` in
    /// chunks of `chunk_rows` images (the last one shorter) as they are inflated, in one buffer
    /// that is reused: what [`Mnist::train_images_from_npz`] reads, with the same checks (the
    /// labels and their count first, then the images' header, the data's length and its CRC),
    /// without holding the images. Returns the number of training images.
    ///
    /// # Errors
    /// As [`Mnist::train_images_from_npz`]; an error found after chunks were handed out (a
    /// truncated or corrupt member) comes after them.
    ///
    /// # Panics
    /// If `chunk_rows` is zero.
    pub fn train_image_chunks_from_npz(
        path: &Path,
        chunk_rows: usize,
        on_chunk: &mut OnChunk<'_>,
    ) -> Result<usize, DatasetError> {
        assert!(chunk_rows > 0, "chunks of at least one image");
        crate::npz::train_image_chunks_npz(path, chunk_rows, on_chunk)
    }

    /// [`Mnist::train_image_chunks_from_npz`] for the IDX files of `dir`: the first 55,000 of the
    /// 60,000 training images, with the checks of [`Mnist::train_images_from_idx_dir`] (the rest
    /// of the file is read and checked after the last chunk).
    ///
    /// # Errors
    /// As [`Mnist::train_images_from_idx_dir`].
    ///
    /// # Panics
    /// If `chunk_rows` is zero.
    pub fn train_image_chunks_from_idx_dir(
        dir: &Path,
        chunk_rows: usize,
        on_chunk: &mut OnChunk<'_>,
    ) -> Result<usize, DatasetError> {
        assert!(chunk_rows > 0, "chunks of at least one image");
        crate::idx::train_image_chunks_idx_dir(dir, chunk_rows, on_chunk)
    }

    /// Reads only the training split's images from the IDX files of `dir`: what
    /// [`Mnist::from_idx_dir`] gives as `train.images` (the first 55,000 of 60,000), with the
    /// same checks of the training files (the labels are read, t10k is not opened), read into
    /// [`Images`], whose pages the inflater fills directly.
    pub fn train_images_from_idx_dir(dir: &Path) -> Result<Images, DatasetError> {
        crate::idx::read_train_images_idx_dir(dir)
    }

    /// Reads only the training split's images from an `.npz` in the course's layout: what
    /// [`Mnist::from_npz`] gives as `train.images`, with the same checks of the keys and the
    /// training labels (dev and test are not inflated), read into [`Images`]' pages.
    pub fn train_images_from_npz(path: &Path) -> Result<Images, DatasetError> {
        crate::npz::read_train_images_npz(path)
    }

    /// Applies the size limits to the three splits.
    pub(crate) fn truncated(self, sizes: Sizes) -> Mnist {
        Mnist {
            train: self.train.truncated(sizes.train),
            dev: self.dev.truncated(sizes.dev),
            test: self.test.truncated(sizes.test),
        }
    }
}

/// Where the MNIST binaries take their data from (`--dataset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatasetSource {
    /// The course's `mnist.npz`: from the cache directory, downloaded when absent.
    Mnist,
    /// Fashion-MNIST from the gzip IDX files of Debian's `dataset-fashion-mnist` package.
    FashionMnist,
    /// An `.npz` file in the course's layout.
    Npz(PathBuf),
}

impl DatasetSource {
    /// Where Debian's `dataset-fashion-mnist` package puts its files.
    pub const FASHION_MNIST_DIR: &'static str = "/usr/share/datasets/fashion-mnist";
}

impl DatasetSource {
    /// For a path that is probably a misspelt dataset name (`fashion-mnist`, `Fashion_MNIST`,
    /// `fasion_mnist`, `mnist.npz`...), the name meant: `mnist` or `fashion_mnist`. Compares
    /// lowercase letters and digits only, allowing two edits; `None` for the named sources and
    /// for anything else.
    pub fn suggestion(&self) -> Option<&'static str> {
        let DatasetSource::Npz(path) = self else {
            return None;
        };
        let text = path.to_string_lossy();
        let text = text.strip_suffix(".npz").unwrap_or(&text);
        let key: Vec<char> = text
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        ["fashion_mnist", "mnist"]
            .into_iter()
            .map(|name| {
                let target: Vec<char> = name.chars().filter(char::is_ascii_alphanumeric).collect();
                (edit_distance(&key, &target), name)
            })
            .filter(|&(distance, _)| distance <= 2)
            .min()
            .map(|(_, name)| name)
    }
}

/// Levenshtein distance of two short strings.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

impl FromStr for DatasetSource {
    type Err = String;

    /// `mnist`, `fashion_mnist`, or anything else (non-empty) as a path to an `.npz`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mnist" => Ok(DatasetSource::Mnist),
            "fashion_mnist" => Ok(DatasetSource::FashionMnist),
            "" => Err("expected mnist, fashion_mnist or a path to an .npz file".to_string()),
            path => Ok(DatasetSource::Npz(PathBuf::from(path))),
        }
    }
}

impl fmt::Display for DatasetSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetSource::Mnist => f.write_str("mnist"),
            DatasetSource::FashionMnist => f.write_str("fashion_mnist"),
            DatasetSource::Npz(path) => write!(f, "{}", path.display()),
        }
    }
}
