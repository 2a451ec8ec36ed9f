//! Reading an `.npz` in the course's layout with ndarray-npy.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, Ix1};
use ndarray_npy::{NpzReader, ReadNpyError, ReadNpzError};

use crate::mnist::{C, H, LABELS, W};
use crate::{DatasetError, Mnist, Sizes, Split};

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
            ReadNpzError::Npy(ReadNpyError::MissingData) => {
                "truncated array data (the file ends before all the data the header announces)"
                    .to_string()
            }
            ReadNpzError::Npy(ReadNpyError::ExtraBytes(n)) => {
                format!("{n} bytes after the array data the header announces")
            }
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
        if images.nrows() != labels.len() {
            return Err(self.bad(
                &labels_key,
                format!(
                    "{} labels for {} images in `{images_key}`",
                    labels.len(),
                    images.nrows()
                ),
            ));
        }
        Ok(Split { images, labels }.truncated(limit))
    }

    fn images(&mut self, key: &str) -> Result<Array2<u8>, DatasetError> {
        let array: ArrayD<u8> = self
            .npz
            .by_name(key)
            .map_err(|e| self.read_error(key, e, "uint8"))?;
        let shape = array.shape().to_vec();
        if shape.len() != 4 || shape[1..] != [H, W, C] {
            return Err(self.bad(
                key,
                format!("shape {shape:?} where (N, {H}, {W}, {C}) is required"),
            ));
        }
        let n = shape[0];
        let array = if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        };
        Ok(array
            .into_shape_with_order((n, H * W * C))
            .expect("a standard-layout (N, 28, 28, 1) array reshapes to N x 784"))
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

fn not_npz(path: &Path, e: ReadNpzError) -> DatasetError {
    DatasetError::NotNpz {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}
