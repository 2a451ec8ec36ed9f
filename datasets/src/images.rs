//! [`Images`]: N x 784 uint8 image rows read straight into anonymous pages of their own.

use ndarray::{Array2, ArrayView2};

use crate::mnist::{C, H, W};

/// N x 784 uint8 images, one per row (the layout of [`Split::images`](crate::Split::images)),
/// in memory the loader allocated for them: for the readers of the training images
/// ([`Mnist::train_images_from_idx_dir`](crate::Mnist::train_images_from_idx_dir),
/// [`Mnist::train_images_from_npz`](crate::Mnist::train_images_from_npz)) an anonymous mapping
/// that asks Linux for transparent huge pages (`madvise(MADV_HUGEPAGE)`), so that the inflater
/// writes 43-47 MB of pixels through 2 MiB pages instead of faulting in 11,500 pages of 4 KiB;
/// otherwise (an `.npz` stored in Fortran order, an empty set, [`From`]) an ordinary array.
///
/// ```
/// use datasets::Images;
/// let images = Images::from(ndarray::Array2::<u8>::zeros((3, 784)));
/// assert_eq!((images.len(), images.view().ncols()), (3, 784));
/// ```
#[derive(Debug)]
pub struct Images {
    storage: Storage,
    /// Where the first image starts in the storage (an `.npy` header precedes it in pages).
    offset: usize,
    rows: usize,
}

#[derive(Debug)]
enum Storage {
    Pages(memmap2::MmapMut),
    Array(Array2<u8>),
}

const PIXELS: usize = C * H * W;

impl Images {
    /// `rows` images of zeros in anonymous pages (an ordinary empty array for 0 rows).
    ///
    /// # Errors
    /// When the system refuses the mapping (a size beyond what it will commit).
    pub(crate) fn zeroed(rows: usize) -> std::io::Result<Images> {
        let len = rows.checked_mul(PIXELS).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, "size overflows usize")
        })?;
        if len == 0 {
            return Ok(Images::from(Array2::zeros((0, PIXELS))));
        }
        Ok(Images::in_pages(pages(len)?, 0, rows))
    }

    /// `rows` images at byte `offset` of `pages` (filled by the reader).
    ///
    /// # Panics
    /// If the pages do not hold them.
    pub(crate) fn in_pages(pages: memmap2::MmapMut, offset: usize, rows: usize) -> Images {
        assert!(
            offset + rows * PIXELS <= pages.len(),
            "the pages hold the images"
        );
        Images {
            storage: Storage::Pages(pages),
            offset,
            rows,
        }
    }

    /// The images' bytes, to be filled by the reader.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let len = self.rows * PIXELS;
        match &mut self.storage {
            Storage::Pages(pages) => &mut pages[self.offset..self.offset + len],
            Storage::Array(array) => array
                .as_slice_mut()
                .expect("Images arrays are in standard layout"),
        }
    }

    /// Keeps the first `rows` images (all of them when there are fewer); the memory stays.
    pub(crate) fn truncate(&mut self, rows: usize) {
        self.rows = self.rows.min(rows);
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// `true` when there are no images.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The images as an N x 784 array view in standard (row-major) layout.
    pub fn view(&self) -> ArrayView2<'_, u8> {
        match &self.storage {
            Storage::Pages(pages) => ArrayView2::from_shape(
                (self.rows, PIXELS),
                &pages[self.offset..self.offset + self.rows * PIXELS],
            )
            .expect("the mapping holds rows * 784 bytes"),
            Storage::Array(array) => array.slice(ndarray::s![..self.rows, ..]),
        }
    }
}

impl From<Array2<u8>> for Images {
    /// Takes an N x 784 array as it is (made standard-layout if it is not).
    ///
    /// # Panics
    /// If the array does not have 784 columns.
    fn from(array: Array2<u8>) -> Images {
        assert_eq!(array.ncols(), PIXELS, "images have {PIXELS} pixels");
        let array = if array.is_standard_layout() {
            array
        } else {
            array.as_standard_layout().into_owned()
        };
        Images {
            rows: array.nrows(),
            offset: 0,
            storage: Storage::Array(array),
        }
    }
}

/// `len` zero bytes (at least one) in anonymous pages that ask Linux for transparent huge pages.
///
/// # Errors
/// When the system refuses the mapping.
pub(crate) fn pages(len: usize) -> std::io::Result<memmap2::MmapMut> {
    let pages = memmap2::MmapMut::map_anon(len.max(1))?;
    // Only a speed question: without transparent huge pages (not Linux, or disabled) the
    // mapping still works, in small pages.
    #[cfg(target_os = "linux")]
    let _ = pages.advise(memmap2::Advice::HugePage);
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_pages_can_be_written_viewed_and_truncated() {
        let mut images = Images::zeroed(5).unwrap();
        assert!(matches!(images.storage, Storage::Pages(_)));
        assert_eq!(images.view(), Array2::<u8>::zeros((5, PIXELS)));
        for (i, b) in images.bytes_mut().iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        images.truncate(3);
        assert_eq!(images.len(), 3);
        let expected = Array2::from_shape_fn((3, PIXELS), |(r, c)| ((r * PIXELS + c) % 251) as u8);
        assert_eq!(images.view(), expected);
        images.truncate(10);
        assert_eq!(images.len(), 3);

        // Images after a header.
        let mut bytes = pages(100 + 2 * PIXELS).unwrap();
        bytes[100..].fill(7);
        let images = Images::in_pages(bytes, 100, 2);
        assert_eq!(images.view(), Array2::from_elem((2, PIXELS), 7u8));
    }

    #[test]
    fn empty_and_array_backed() {
        let images = Images::zeroed(0).unwrap();
        assert!(images.is_empty());
        assert_eq!(images.view().dim(), (0, PIXELS));
        let array = Array2::from_shape_fn((PIXELS, 4), |(r, c)| (r + c) as u8).reversed_axes();
        let mut images = Images::from(array.clone());
        assert_eq!(images.view(), array);
        images.truncate(1);
        assert_eq!(images.view(), array.slice(ndarray::s![..1, ..]));
    }

    #[test]
    fn a_size_the_system_refuses_is_an_error() {
        assert!(Images::zeroed(usize::MAX / PIXELS + 1).is_err());
        assert!(Images::zeroed(usize::MAX / PIXELS).is_err());
    }
}
