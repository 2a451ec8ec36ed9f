//! Reading an `.npz` in the course's layout with ndarray-npy.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, ArrayViewD, Axis, Ix1};
use ndarray_npy::npy::header::Header;
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpzError, ViewNpyError, ViewNpyExt};
use zip::ZipArchive;

use crate::mnist::{C, H, LABELS, W};
use crate::mnist::{Chunked, read_chunks};
use crate::{DatasetError, Images, Mnist, OnChunk, Sizes, Split};

/// The six keys of the course's `mnist.npz`.
pub(crate) const KEYS: [&str; 6] = [
    "train_images",
    "train_labels",
    "dev_images",
    "dev_labels",
    "test_images",
    "test_labels",
];

pub(crate) fn read_mnist_npz(path: &Path, sizes: Sizes) -> Result<Mnist, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = NpzFile::open(path, BufReader::new(file))?;
    let train = reader.split("train", sizes.train)?;
    let dev = reader.split("dev", sizes.dev)?;
    let test = reader.split("test", sizes.test)?;
    Ok(Mnist { train, dev, test })
}

/// The training images of an npz in the course's layout, read into [`Images`]' pages: the keys,
/// the training labels and their count are checked as [`read_mnist_npz`] checks them (the same
/// errors), dev and test are not read.
pub(crate) fn read_train_images_npz(path: &Path) -> Result<Images, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = NpzFile::open(path, BufReader::new(file))?;
    let images = reader.images_paged("train_images")?;
    let labels = reader.labels("train_labels")?;
    reader.check_counts("train", images.len(), labels.len())?;
    Ok(images)
}

/// [`crate::Mnist::train_image_chunks_from_npz`]: the keys and the training labels, then the
/// training images in chunks (read whole and handed out from memory when stored in Fortran order).
pub(crate) fn train_image_chunks_npz(
    path: &Path,
    chunk_rows: usize,
    on_chunk: &mut OnChunk<'_>,
) -> Result<usize, DatasetError> {
    let file = File::open(path).map_err(|source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = NpzFile::open(path, BufReader::new(file))?;
    let labels = reader.labels("train_labels")?;
    let key = ("train_images", "train", labels.len());
    if let Some(n) = reader.image_chunks(key, chunk_rows, on_chunk)? {
        return Ok(n);
    }
    let images = reader.images_paged("train_images")?;
    reader.check_counts("train", images.len(), labels.len())?;
    let pixels = images.view();
    let mut pixels = pixels.as_slice().expect("images are in standard layout");
    read_chunks(&mut pixels, images.len(), chunk_rows, on_chunk)
        .expect("the images are all in memory");
    Ok(images.len())
}

struct NpzFile<'p, R: Read + Seek> {
    path: &'p Path,
    npz: NpzReader<R>,
}

impl<'p, R: Read + Seek> NpzFile<'p, R> {
    fn open(path: &'p Path, reader: R) -> Result<Self, DatasetError> {
        let mut npz = NpzReader::new(reader).map_err(|e| not_npz(path, e))?;
        let names = npz.names().map_err(|e| not_npz(path, e))?;
        for key in KEYS {
            if !names.iter().any(|n| n == key) {
                return Err(DatasetError::MissingKey {
                    path: path.to_path_buf(),
                    key: key.to_string(),
                    found: names,
                });
            }
        }
        Ok(NpzFile { path, npz })
    }

    fn bad(&self, key: &str, reason: impl Into<String>) -> DatasetError {
        DatasetError::BadArray {
            path: self.path.to_path_buf(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }

    fn read_error(&self, key: &str, e: ReadNpzError, wanted: &str) -> DatasetError {
        let reason = match e {
            ReadNpzError::Npy(ReadNpyError::WrongDescriptor(d)) => {
                format!("dtype {d} where {wanted} is required")
            }
            ReadNpzError::Npy(ReadNpyError::MissingData) => TRUNCATED.to_string(),
            ReadNpzError::Npy(ReadNpyError::ExtraBytes(n)) => extra_bytes(n),
            ReadNpzError::Npy(ReadNpyError::WrongNdim(_, found)) => {
                format!("{found} dimensions where 1 is required")
            }
            other => format!("cannot decode: {other}"),
        };
        self.bad(key, reason)
    }

    fn split(&mut self, name: &str, limit: Option<usize>) -> Result<Split, DatasetError> {
        if limit == Some(0) {
            // Not wanted: not inflated (its keys were checked when the file was opened).
            return Ok(Split::empty());
        }
        let images_key = format!("{name}_images");
        let labels_key = format!("{name}_labels");
        let images = self.images(&images_key)?;
        let labels = self.labels(&labels_key)?;
        self.check_counts(name, images.nrows(), labels.len())?;
        Ok(Split { images, labels }.truncated(limit))
    }

    fn check_counts(&self, split: &str, images: usize, labels: usize) -> Result<(), DatasetError> {
        if images == labels {
            return Ok(());
        }
        Err(self.bad(
            &format!("{split}_labels"),
            format!("{labels} labels for {images} images in `{split}_images`"),
        ))
    }

    /// Like [`NpzFile::images`], into [`Images`]: the member is inflated straight into anonymous
    /// pages of its size (with huge pages where Linux gives them) and its `.npy` header parsed
    /// there (ndarray-npy's `view_npy`); the rows are used in place unless the array is stored
    /// in Fortran order.
    fn images_paged(&mut self, key: &str) -> Result<Images, DatasetError> {
        let decode = |e: &dyn std::fmt::Display| self.bad(key, format!("cannot decode: {e}"));
        let (bytes, len) = self.with_member(key, |member, len| {
            let mut bytes = crate::images::pages(len).map_err(|e| decode(&e))?;
            member
                .read_exact(&mut bytes[..len])
                .map_err(|e| decode(&e))?;
            // Reading on to the end checks the member's CRC.
            if member.read(&mut [0u8; 1]).map_err(|e| decode(&e))? != 0 {
                return Err(decode(&"data past the member's size"));
            }
            Ok((bytes, len))
        })?;
        let view = ArrayViewD::<u8>::view_npy(&bytes[..len]).map_err(|e| {
            let reason = match e {
                ViewNpyError::WrongDescriptor(d) => {
                    format!("dtype {d} where uint8 is required")
                }
                ViewNpyError::MissingBytes(_) => TRUNCATED.to_string(),
                ViewNpyError::ExtraBytes(n) => extra_bytes(n),
                other => format!("cannot decode: {other}"),
            };
            self.bad(key, reason)
        })?;
        self.check_image_shape(key, view.shape())?;
        if !view.is_standard_layout() {
            return Ok(Images::from(image_rows(view.to_owned())));
        }
        let (n, offset) = (
            view.len_of(Axis(0)),
            view.as_ptr() as usize - bytes.as_ptr() as usize,
        );
        Ok(Images::in_pages(bytes, offset, n))
    }

    /// Runs `read` on the member `key` and its size, from a `ZipArchive` of its own (ndarray-npy's
    /// reader hands out arrays, not a member's bytes).
    fn with_member<T>(
        &self,
        key: &str,
        read: impl FnOnce(&mut dyn Read, usize) -> Result<T, DatasetError>,
    ) -> Result<T, DatasetError> {
        let decode = |e: &dyn std::fmt::Display| self.bad(key, format!("cannot decode: {e}"));
        let file = File::open(self.path).map_err(|source| DatasetError::Io {
            path: self.path.to_path_buf(),
            source,
        })?;
        let mut zip = ZipArchive::new(BufReader::with_capacity(1 << 16, file)).map_err(|e| {
            DatasetError::NotNpz {
                path: self.path.to_path_buf(),
                reason: e.to_string(),
            }
        })?;
        // NumPy's lookup (and ndarray-npy's): the name, else the name with `.npy`.
        let index = zip
            .index_for_name(key)
            .or_else(|| zip.index_for_name(&format!("{key}.npy")))
            .expect("the keys were checked when the file was opened");
        let mut member = zip.by_index(index).map_err(|e| decode(&e))?;
        let len = usize::try_from(member.size()).map_err(|e| decode(&e))?;
        read(&mut member, len)
    }

    /// The images of `key` in chunks (see [`crate::Mnist::train_image_chunks_from_npz`]), checked
    /// against `labels` labels of `split`: the header parsed as it arrives, the rows handed out as
    /// they are inflated, then the end of the data and the member's CRC checked. `None` for an
    /// array in Fortran order (its rows are not contiguous), before any chunk.
    fn image_chunks(
        &self,
        (key, split, labels): (&str, &str, usize),
        chunk_rows: usize,
        on_chunk: &mut OnChunk<'_>,
    ) -> Result<Option<usize>, DatasetError> {
        let decode = |e: &dyn std::fmt::Display| self.bad(key, format!("cannot decode: {e}"));
        self.with_member(key, |member, _| {
            let header = Header::from_reader(&mut &mut *member).map_err(|e| decode(&e))?;
            let descr = header.type_descriptor.to_string();
            // ndarray-npy's spellings of uint8.
            if !["'|u1'", "'u1'", "'B'"].contains(&descr.as_str()) {
                return Err(self.bad(key, format!("dtype {descr} where uint8 is required")));
            }
            self.check_image_shape(key, &header.shape)?;
            if header.layout.is_fortran() {
                return Ok(None);
            }
            let n = header.shape[0];
            self.check_counts(split, n, labels)?;
            match read_chunks(member, n, chunk_rows, on_chunk).map_err(|e| decode(&e))? {
                Chunked::All => {}
                Chunked::Stopped => return Ok(Some(n)),
                Chunked::Short { .. } => return Err(self.bad(key, TRUNCATED)),
            }
            // Reading on to the end checks the member's CRC.
            let extra = std::io::copy(member, &mut std::io::sink()).map_err(|e| decode(&e))?;
            if extra > 0 {
                return Err(self.bad(key, extra_bytes(extra as usize)));
            }
            Ok(Some(n))
        })
    }

    fn check_image_shape(&self, key: &str, shape: &[usize]) -> Result<(), DatasetError> {
        if shape.len() != 4 || shape[1..] != [H, W, C] {
            return Err(self.bad(
                key,
                format!("shape {shape:?} where (N, {H}, {W}, {C}) is required"),
            ));
        }
        Ok(())
    }

    fn images(&mut self, key: &str) -> Result<Array2<u8>, DatasetError> {
        let array: ArrayD<u8> = self
            .npz
            .by_name(key)
            .map_err(|e| self.read_error(key, e, "uint8"))?;
        self.check_image_shape(key, array.shape())?;
        Ok(image_rows(array))
    }

    fn labels(&mut self, key: &str) -> Result<Array1<u8>, DatasetError> {
        // The course's labels are uint8; any integer dtype with values in 0..10 is accepted.
        macro_rules! try_dtypes {
            ($($t:ty),*) => {{
                let mut last = None;
                $(
                    if last.is_none() || matches!(last, Some(ReadNpzError::Npy(ReadNpyError::WrongDescriptor(_)))) {
                        match self.npz.by_name::<_, Ix1>(key) {
                            Ok(a) => {
                                let a: Array1<$t> = a;
                                return self.checked_labels(key, a.iter().map(|&v| i128::from(v)));
                            }
                            Err(e) => last = Some(e),
                        }
                    }
                )*
                last.expect("at least one dtype was tried")
            }};
        }
        let e = try_dtypes!(u8, i64, i32, u16, i16, u32, u64, i8);
        Err(self.read_error(key, e, "an integer dtype (uint8)"))
    }

    fn checked_labels(
        &self,
        key: &str,
        values: impl ExactSizeIterator<Item = i128>,
    ) -> Result<Array1<u8>, DatasetError> {
        let mut labels = Vec::with_capacity(values.len());
        for (i, v) in values.enumerate() {
            if !(0..LABELS as i128).contains(&v) {
                return Err(self.bad(
                    key,
                    format!("label {v} at index {i} is outside 0-{}", LABELS - 1),
                ));
            }
            labels.push(v as u8);
        }
        Ok(Array1::from(labels))
    }
}

/// An (N, 28, 28, 1) array (checked) as N x 784 rows in standard layout.
fn image_rows(array: ArrayD<u8>) -> Array2<u8> {
    let n = array.len_of(Axis(0));
    let array = if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned()
    };
    array
        .into_shape_with_order((n, H * W * C))
        .expect("a standard-layout (N, 28, 28, 1) array reshapes to N x 784")
}

const TRUNCATED: &str =
    "truncated array data (the file ends before all the data the header announces)";

fn extra_bytes(n: usize) -> String {
    format!("{n} bytes after the array data the header announces")
}

fn not_npz(path: &Path, e: ReadNpzError) -> DatasetError {
    DatasetError::NotNpz {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
