//! The gzip IDX reader and the 55,000 / 5,000 / 10,000-style split, on files the tests write.

mod support;

use std::path::{Path, PathBuf};

use datasets::idx::{DEV_SIZE, read_images, read_images_paged, read_labels};
use datasets::{DatasetError, Mnist, Sizes};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn idx_error(name: &str, bytes: &[u8], images: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    let err = if images {
        // The paged reader ([`Mnist::train_images_from_idx_dir`]'s) fails alike.
        let paged = read_images_paged(&path).unwrap_err().to_string();
        let err = read_images(&path).unwrap_err();
        assert_eq!(paged, err.to_string());
        err
    } else {
        read_labels(&path).unwrap_err()
    };
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(!message.contains('\n'), "{message}");
    message
}

#[test]
fn splits_train_into_train_and_the_last_5000_as_dev() {
    let dir = tempfile::tempdir().unwrap();
    support::write_idx_dir(dir.path(), DEV_SIZE + 7, 6);
    let mnist = Mnist::from_idx_dir(dir.path(), Sizes::default()).unwrap();
    assert_eq!(
        (mnist.train.len(), mnist.dev.len(), mnist.test.len()),
        (7, DEV_SIZE, 6)
    );
    for (split, first, offset) in [
        (&mnist.train, 0, 0),
        (&mnist.dev, 7, 0),
        (&mnist.test, 0, 200),
    ] {
        assert_eq!(split.images.nrows(), split.len());
        for (row, i) in [(0, first), (split.len() - 1, first + split.len() - 1)] {
            assert_eq!(split.labels[row], support::label(offset, i));
            for (y, x) in [(0, 0), (13, 17), (27, 27)] {
                assert_eq!(
                    split.images[[row, 28 * y + x]],
                    support::pixel(offset, i, y, x)
                );
                assert_eq!(
                    split.images_nchw()[[row, 0, y, x]],
                    support::pixel(offset, i, y, x)
                );
            }
        }
    }
    let cut = Mnist::from_idx_dir(
        dir.path(),
        Sizes {
            train: Some(3),
            dev: Some(2),
            test: None,
        },
    )
    .unwrap();
    assert_eq!((cut.train.len(), cut.dev.len(), cut.test.len()), (3, 2, 6));
    assert_eq!(cut.dev.labels, mnist.dev.labels.slice(ndarray::s![..2]));
}

#[test]
fn uncompressed_files_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "train-images-idx3-ubyte",
        &support::idx_images(DEV_SIZE + 2, 0),
    );
    write(
        dir.path(),
        "train-labels-idx1-ubyte",
        &support::idx_labels(DEV_SIZE + 2, 0),
    );
    write(
        dir.path(),
        "t10k-images-idx3-ubyte",
        &support::idx_images(3, 200),
    );
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte",
        &support::idx_labels(3, 200),
    );
    let mnist = Mnist::from_idx_dir(dir.path(), Sizes::default()).unwrap();
    assert_eq!(
        (mnist.train.len(), mnist.dev.len(), mnist.test.len()),
        (2, DEV_SIZE, 3)
    );
    assert_eq!(mnist.test.labels.to_vec(), vec![0, 1, 2]);
    let images = Mnist::train_images_from_idx_dir(dir.path()).unwrap();
    assert_eq!(images.view(), mnist.train.images);
    let (n, pixels) = support::chunked(dir.path(), false, 1).unwrap();
    assert_eq!(
        (n, &pixels[..]),
        (2, mnist.train.images.as_slice().unwrap())
    );
}

#[test]
fn too_few_training_examples() {
    let dir = tempfile::tempdir().unwrap();
    support::write_idx_dir(dir.path(), 10, 2);
    let message = Mnist::from_idx_dir(dir.path(), Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("10 training examples, fewer than the 5000 the dev split takes"),
        "{message}"
    );
}

#[test]
fn missing_directory_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let err = Mnist::from_idx_dir(&dir.path().join("nowhere"), Sizes::default()).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }));
    assert!(
        err.to_string()
            .contains("nowhere/train-images-idx3-ubyte.gz"),
        "{err}"
    );
}

#[test]
fn wrong_magic() {
    let labels = support::gzip(&support::idx_labels(3, 0));
    let message = idx_error("train-images-idx3-ubyte.gz", &labels, true);
    assert!(
        message.contains(
            "magic number 0x00000801 where 0x00000803 (an IDX images file of uint8) is required"
        ),
        "{message}"
    );
    let images = support::gzip(&support::idx_images(3, 0));
    let message = idx_error("train-labels-idx1-ubyte.gz", &images, false);
    assert!(
        message.contains("magic number 0x00000803 where 0x00000801"),
        "{message}"
    );
}

#[test]
fn wrong_image_size() {
    let mut bytes = support::idx_images(1, 0);
    bytes[11] = 32; // rows
    bytes.extend(std::iter::repeat_n(0, 4 * 28));
    let message = idx_error("x.gz", &support::gzip(&bytes), true);
    assert!(
        message.contains("images of 32x28 pixels where 28x28 is required"),
        "{message}"
    );
}

#[test]
fn truncated_data_and_header() {
    let bytes = support::idx_images(3, 0);
    let message = idx_error("x.gz", &support::gzip(&bytes[..bytes.len() - 100]), true);
    assert!(
        message.contains("truncated data: 2252 pixel bytes where the header announces 2352"),
        "{message}"
    );
    let message = idx_error("x.gz", &support::gzip(&bytes[..10]), true);
    assert!(
        message.contains("truncated header: 10 bytes where 16 are required"),
        "{message}"
    );
    let labels = support::idx_labels(5, 0);
    let message = idx_error("y.gz", &support::gzip(&labels[..11]), false);
    assert!(
        message.contains("truncated data: 3 label bytes where the header announces 5"),
        "{message}"
    );
}

#[test]
fn truncated_gzip_stream() {
    let gz = support::gzip(&support::idx_images(3, 0));
    let message = idx_error("x.gz", &gz[..gz.len() / 2], true);
    assert!(
        message.contains("truncated") || message.contains("cannot read"),
        "{message}"
    );
}

#[test]
fn corrupt_gzip() {
    let message = idx_error("x.gz", b"\x1f\x8bnot really gzip data at all", true);
    assert!(
        message.contains("cannot read (corrupt gzip data?)"),
        "{message}"
    );
}

#[test]
fn trailing_data() {
    let mut bytes = support::idx_labels(3, 0);
    bytes.push(1);
    let message = idx_error("y.gz", &support::gzip(&bytes), false);
    assert!(
        message.contains("data continues after the 3 label bytes the header announces"),
        "{message}"
    );
}

#[test]
fn label_out_of_range() {
    let mut bytes = support::idx_labels(3, 0);
    bytes[9] = 10;
    let message = idx_error("y.gz", &support::gzip(&bytes), false);
    assert!(
        message.contains("label 10 at index 1 is outside 0-9"),
        "{message}"
    );
}

#[test]
fn counts_of_images_and_labels_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    support::write_idx_dir(dir.path(), DEV_SIZE, 4);
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &support::gzip(&support::idx_labels(3, 0)),
    );
    let message = Mnist::from_idx_dir(dir.path(), Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("t10k-labels-idx1-ubyte.gz: 3 labels for the 4 images of"),
        "{message}"
    );
}

/// A test split limited to 0 is not read: the t10k files may be missing or corrupt.
#[test]
fn a_test_split_limited_to_nothing_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    support::write_idx_dir(dir.path(), DEV_SIZE + 3, 2);
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), b"not gzip").unwrap();
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let sizes = Sizes {
        train: None,
        dev: Some(0),
        test: Some(0),
    };
    let mnist = Mnist::from_idx_dir(dir.path(), sizes).unwrap();
    assert_eq!(
        (mnist.train.len(), mnist.dev.len(), mnist.test.len()),
        (3, 0, 0)
    );
    // The dev split, not copied when limited to nothing, leaves the training split as it is.
    let with_dev = Sizes { dev: None, ..sizes };
    let full = Mnist::from_idx_dir(dir.path(), with_dev).unwrap();
    assert_eq!(full.dev.len(), DEV_SIZE);
    assert_eq!(full.train, mnist.train);
    assert_eq!(mnist.dev.labels.len(), 0);
    assert!(Mnist::from_idx_dir(dir.path(), Sizes::default()).is_err());
}

/// The training images alone, into pages: the same rows as `Mnist::from_idx_dir`'s train split,
/// with t10k neither needed nor opened, and the same checks of the training files.
#[test]
fn train_images_alone_are_the_train_split() {
    let dir = tempfile::tempdir().unwrap();
    support::write_idx_dir(dir.path(), DEV_SIZE + 9, 2);
    let mnist = Mnist::from_idx_dir(dir.path(), Sizes::default()).unwrap();
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), b"not gzip").unwrap();
    let images = Mnist::train_images_from_idx_dir(dir.path()).unwrap();
    assert_eq!(images.len(), 9);
    assert_eq!(images.view(), mnist.train.images);
    for rows in [1, 4, 9, 100] {
        let (n, pixels) = support::chunked(dir.path(), false, rows).unwrap();
        assert_eq!(
            (n, &pixels[..]),
            (9, mnist.train.images.as_slice().unwrap())
        );
    }
    let all = read_images_paged(&dir.path().join("train-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(
        all.view(),
        read_images(&dir.path().join("train-images-idx3-ubyte.gz")).unwrap()
    );

    // Fewer labels than images, then fewer examples than dev takes.
    write(
        dir.path(),
        "train-labels-idx1-ubyte.gz",
        &support::gzip(&support::idx_labels(DEV_SIZE + 8, 0)),
    );
    let message = Mnist::train_images_from_idx_dir(dir.path())
        .unwrap_err()
        .to_string();
    let chunked = support::chunked(dir.path(), false, 4).unwrap_err();
    assert_eq!(chunked.to_string(), message);
    assert!(
        message.contains(&format!(
            "train-labels-idx1-ubyte.gz: {} labels for the {} images of",
            DEV_SIZE + 8,
            DEV_SIZE + 9
        )),
        "{message}"
    );
    let small = tempfile::tempdir().unwrap();
    support::write_idx_dir(small.path(), 10, 1);
    let message = Mnist::train_images_from_idx_dir(small.path())
        .unwrap_err()
        .to_string();
    let chunked = support::chunked(small.path(), false, 4).unwrap_err();
    assert_eq!(chunked.to_string(), message);
    assert!(
        message.contains("10 training examples, fewer than the 5000 the dev split takes"),
        "{message}"
    );
    let message = Mnist::train_images_from_idx_dir(&dir.path().join("nowhere"))
        .unwrap_err()
        .to_string();
    let chunked = support::chunked(&dir.path().join("nowhere"), false, 4).unwrap_err();
    assert_eq!(chunked.to_string(), message);
    assert!(
        message.contains("nowhere/train-images-idx3-ubyte.gz"),
        "{message}"
    );
}

/// A header announcing 4,294,967,295 images (3.4 TB): an error either way, whether the system
/// refuses the mapping ("too many") or the data ends first ("truncated").
#[test]
fn a_header_announcing_terabytes() {
    let mut bytes = support::idx_images(1, 0);
    bytes[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    let message = idx_error("x.gz", &support::gzip(&bytes), true);
    assert!(
        message.contains("too many") || message.contains("truncated data: 784 pixel bytes"),
        "{message}"
    );
}

/// The chunk reader (pca_first's) on a training images file that ends early in the training
/// images, ends early in the dev images, or goes on past them: the paged reader's errors, after
/// the chunks it could hand out; and a receiver that stops gets no more chunks.
#[test]
fn chunks_check_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    support::write_idx_dir(dir.path(), DEV_SIZE + 6, 1);
    let full = support::idx_images(DEV_SIZE + 6, 0);
    let header = 16;
    for (name, bytes) in [
        ("in train", full[..header + 3 * 784 + 5].to_vec()),
        ("in dev", full[..full.len() - 10].to_vec()),
        ("past the end", [&full[..], &[7u8; 3][..]].concat()),
    ] {
        write(
            dir.path(),
            "train-images-idx3-ubyte.gz",
            &support::gzip(&bytes),
        );
        let paged = Mnist::train_images_from_idx_dir(dir.path()).unwrap_err();
        let chunked = support::chunked(dir.path(), false, 2).unwrap_err();
        assert_eq!(chunked.to_string(), paged.to_string(), "{name}");
    }
    write(
        dir.path(),
        "train-images-idx3-ubyte.gz",
        &support::gzip(&full),
    );
    let mut seen = Vec::new();
    let n = Mnist::train_image_chunks_from_idx_dir(dir.path(), 4, &mut |c| {
        seen.push((c.first, c.len(), c.total));
        std::ops::ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!((n, seen), (6, vec![(0, 4, 6)]));
}
