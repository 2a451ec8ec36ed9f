//! Reading the classic IDX files of MNIST and Fashion-MNIST, gzip-compressed (`.gz`, flate2) or not.
//!
//! Images: big-endian u32 magic `0x00000803`, count, rows (28), columns (28), then count * 784
//! bytes. Labels: magic `0x00000801`, count, then count bytes in `0..10`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use ndarray::{Array1, Array2};

use crate::mnist::{Chunked, read_chunks};
use crate::mnist::{H, LABELS, W};
use crate::{DatasetError, Images, Mnist, OnChunk, Sizes, Split};

/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// The number of training examples the course's split moves to dev (60,000 = 55,000 + 5,000).
pub const DEV_SIZE: usize = 5000;

/// Reads an IDX images file (gzip when the name ends in `.gz`) as N x 784 uint8 rows.
pub fn read_images(path: &Path) -> Result<Array2<u8>, DatasetError> {
    let mut reader = open(path)?;
    let (n, len) = read_images_header(&mut reader, path)?;
    let data = read_payload(&mut reader, path, len, "pixel")?;
    Ok(Array2::from_shape_vec((n, H * W), data).expect("n * 784 bytes form an N x 784 array"))
}

/// Reads an IDX images file as [`read_images`] does (the same checks and errors), into
/// [`Images`]: anonymous pages allocated for the announced size, which the inflater fills
/// directly (no growing vector, no zeroing pass, huge pages where Linux gives them).
pub fn read_images_paged(path: &Path) -> Result<Images, DatasetError> {
    let mut reader = open(path)?;
    let (n, len) = read_images_header(&mut reader, path)?;
    // A header can announce more than the file could ever hold: the mapping is only reserved
    // until written, and a size the system refuses is the header's error.
    let mut images = Images::zeroed(n).map_err(|_| too_many(path, len, "pixel"))?;
    let buf = images.bytes_mut();
    let got = read_up_to(&mut reader, buf).map_err(|e| bad_idx(path, io_reason(&e)))?;
    check_payload_end(&mut reader, path, got, buf.len(), "pixel")?;
    Ok(images)
}

/// Reads an images header (magic, count, 28 x 28) and returns the count and the pixel bytes.
fn read_images_header(reader: &mut dyn Read, path: &Path) -> Result<(usize, usize), DatasetError> {
    let header = read_header(reader, path, IMAGES_MAGIC, "images", 3)?;
    let (n, rows, cols) = (header[1] as usize, header[2] as usize, header[3] as usize);
    if (rows, cols) != (H, W) {
        return Err(bad_idx(
            path,
            format!("images of {rows}x{cols} pixels where {H}x{W} is required"),
        ));
    }
    let len = n
        .checked_mul(H * W)
        .ok_or_else(|| bad_idx(path, format!("{n} images, too many")))?;
    Ok((n, len))
}

fn bad_idx(path: &Path, reason: String) -> DatasetError {
    DatasetError::BadIdx {
        path: path.to_path_buf(),
        reason,
    }
}

fn too_many(path: &Path, len: usize, what: &str) -> DatasetError {
    bad_idx(
        path,
        format!("header announces {len} {what} bytes, too many"),
    )
}

/// Reads an IDX labels file (gzip when the name ends in `.gz`); every label must be in `0..10`.
pub fn read_labels(path: &Path) -> Result<Array1<u8>, DatasetError> {
    let mut reader = open(path)?;
    let header = read_header(&mut reader, path, LABELS_MAGIC, "labels", 1)?;
    let data = read_payload(&mut reader, path, header[1] as usize, "label")?;
    if let Some(i) = data.iter().position(|&v| v as usize >= LABELS) {
        return Err(bad_idx(
            path,
            format!("label {} at index {i} is outside 0-{}", data[i], LABELS - 1),
        ));
    }
    Ok(Array1::from(data))
}

/// Reads the images and labels of one IDX pair and checks that their counts agree.
pub fn read_pair(images: &Path, labels: &Path) -> Result<Split, DatasetError> {
    let images_array = read_images(images)?;
    let labels_array = read_labels(labels)?;
    check_counts(images_array.nrows(), images, labels_array.len(), labels)?;
    Ok(Split {
        images: images_array,
        labels: labels_array,
    })
}

fn check_counts(
    n_images: usize,
    images: &Path,
    n_labels: usize,
    labels: &Path,
) -> Result<(), DatasetError> {
    if n_images == n_labels {
        return Ok(());
    }
    Err(bad_idx(
        labels,
        format!(
            "{n_labels} labels for the {n_images} images of {}",
            images.display()
        ),
    ))
}

/// The number of training examples of a training file of `n`, after the dev split's 5,000.
fn train_size(dir: &Path, n: usize) -> Result<usize, DatasetError> {
    n.checked_sub(DEV_SIZE).ok_or_else(|| {
        bad_idx(
            &dir.join("train-labels-idx1-ubyte.gz"),
            format!("{n} training examples, fewer than the {DEV_SIZE} the dev split takes"),
        )
    })
}

/// The training split's images of [`read_mnist_idx_dir`], read into [`Images`]
/// ([`read_images_paged`]); the labels are read and checked as there, the t10k files not opened.
pub(crate) fn read_train_images_idx_dir(dir: &Path) -> Result<Images, DatasetError> {
    let images_path = find(dir, "train-images-idx3-ubyte");
    let labels_path = find(dir, "train-labels-idx1-ubyte");
    let mut images = read_images_paged(&images_path)?;
    let labels = read_labels(&labels_path)?;
    check_counts(images.len(), &images_path, labels.len(), &labels_path)?;
    images.truncate(train_size(dir, images.len())?);
    Ok(images)
}

pub(crate) fn read_mnist_idx_dir(dir: &Path, sizes: Sizes) -> Result<Mnist, DatasetError> {
    let train_all = read_pair(
        &find(dir, "train-images-idx3-ubyte"),
        &find(dir, "train-labels-idx1-ubyte"),
    )?;
    // A split limited to nothing is not read (dev lives in the training files, which are).
    let test = if sizes.test == Some(0) {
        Split::empty()
    } else {
        read_pair(
            &find(dir, "t10k-images-idx3-ubyte"),
            &find(dir, "t10k-labels-idx1-ubyte"),
        )?
    };
    let n_train = train_size(dir, train_all.len())?;
    // Split the buffers in place: only the 5,000 dev examples are copied, and not even they when
    // the dev split is limited to nothing.
    let skip_dev = sizes.dev == Some(0);
    let (mut images, _) = train_all.images.into_raw_vec_and_offset();
    let dev_images = if skip_dev {
        images.truncate(n_train * H * W);
        Vec::new()
    } else {
        images.split_off(n_train * H * W)
    };
    let mut labels = train_all.labels.to_vec();
    let mut dev_labels = labels.split_off(n_train);
    if skip_dev {
        dev_labels.clear();
    }
    let rows = |v: Vec<u8>| {
        let n = v.len() / (H * W);
        Array2::from_shape_vec((n, H * W), v).expect("whole images")
    };
    let train = Split {
        images: rows(images),
        labels: Array1::from(labels),
    };
    let dev = Split {
        images: rows(dev_images),
        labels: Array1::from(dev_labels),
    };
    Ok(Mnist { train, dev, test }.truncated(sizes))
}

/// [`crate::Mnist::train_image_chunks_from_idx_dir`]: the images' header, the labels, then the
/// training images in chunks, then the dev images read and the end of the file checked.
pub(crate) fn train_image_chunks_idx_dir(
    dir: &Path,
    chunk_rows: usize,
    on_chunk: &mut OnChunk<'_>,
) -> Result<usize, DatasetError> {
    let images_path = find(dir, "train-images-idx3-ubyte");
    let labels_path = find(dir, "train-labels-idx1-ubyte");
    let mut reader = open(&images_path)?;
    let (n, len) = read_images_header(&mut reader, &images_path)?;
    let labels = read_labels(&labels_path)?;
    check_counts(n, &images_path, labels.len(), &labels_path)?;
    let train = train_size(dir, n)?;
    let reason = |e: std::io::Error| bad_idx(&images_path, io_reason(&e));
    let got = match read_chunks(&mut reader, train, chunk_rows, on_chunk).map_err(reason)? {
        Chunked::All => train * H * W,
        Chunked::Stopped => return Ok(train),
        Chunked::Short { read } => {
            return check_payload_end(&mut reader, &images_path, read, len, "pixel")
                .map(|()| train);
        }
    };
    // The dev images are read for the length and the end of the file, and dropped.
    let rest = (len - got) as u64;
    let dev = std::io::copy(&mut (&mut reader).take(rest), &mut std::io::sink()).map_err(reason)?;
    check_payload_end(&mut reader, &images_path, got + dev as usize, len, "pixel")?;
    Ok(train)
}

/// `dir/<base>.gz`, or `dir/<base>` when only the uncompressed file exists.
fn find(dir: &Path, base: &str) -> PathBuf {
    let gz = dir.join(format!("{base}.gz"));
    let plain = dir.join(base);
    if !gz.exists() && plain.exists() {
        plain
    } else {
        gz
    }
}

fn open(path: &Path) -> Result<Box<dyn Read>, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = BufReader::with_capacity(1 << 18, file);
    if path.extension().is_some_and(|e| e == "gz") {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

fn io_reason(e: &std::io::Error) -> String {
    format!("cannot read (corrupt gzip data?): {e}")
}

/// Reads and checks the magic number, then `dims` big-endian u32 dimensions. Returns
/// `[magic, dims...]`.
fn read_header(
    reader: &mut dyn Read,
    path: &Path,
    magic: u32,
    what: &str,
    dims: usize,
) -> Result<Vec<u32>, DatasetError> {
    let bad = |reason: String| bad_idx(path, reason);
    let mut bytes = vec![0u8; 4 * (1 + dims)];
    let got = read_up_to(reader, &mut bytes).map_err(|e| bad(io_reason(&e)))?;
    if got >= 4 {
        let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if found != magic {
            return Err(bad(format!(
                "magic number {found:#010x} where {magic:#010x} (an IDX {what} file of uint8) is required"
            )));
        }
    }
    if got < bytes.len() {
        return Err(bad(format!(
            "truncated header: {got} bytes where {} are required",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn read_payload(
    reader: &mut dyn Read,
    path: &Path,
    len: usize,
    what: &str,
) -> Result<Vec<u8>, DatasetError> {
    let mut data = Vec::new();
    data.try_reserve_exact(len)
        .map_err(|_| too_many(path, len, what))?;
    reader
        .take(len as u64)
        .read_to_end(&mut data)
        .map_err(|e| bad_idx(path, io_reason(&e)))?;
    check_payload_end(reader, path, data.len(), len, what)?;
    Ok(data)
}

/// After `got` of the `len` payload bytes the header announced: an error when the data was
/// truncated or continues past them.
fn check_payload_end(
    reader: &mut dyn Read,
    path: &Path,
    got: usize,
    len: usize,
    what: &str,
) -> Result<(), DatasetError> {
    if got < len {
        return Err(bad_idx(
            path,
            format!("truncated data: {got} {what} bytes where the header announces {len}"),
        ));
    }
    let mut extra = [0u8; 1];
    if read_up_to(reader, &mut extra).map_err(|e| bad_idx(path, io_reason(&e)))? != 0 {
        return Err(bad_idx(
            path,
            format!("data continues after the {len} {what} bytes the header announces"),
        ));
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the number of bytes read.
pub(crate) fn read_up_to(reader: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match reader.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}
