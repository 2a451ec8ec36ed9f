//! The npz reader on NumPy-written fixtures (tests/fixtures/make_fixtures.py) and on files the
//! tests write with ndarray-npy, one per kind of bad input.

mod support;

use std::path::Path;

use datasets::{C, DatasetError, DatasetSource, H, LABELS, Mnist, Sizes, W};
use ndarray::{Array1, Array2, Array3, ArrayD};

/// `Mnist::from_npz`, checked against `Mnist::train_images_from_npz` (pca_first's reader): the
/// same training images.
fn load(path: &Path) -> Mnist {
    let mnist = Mnist::from_npz(path, Sizes::default()).unwrap();
    let images = Mnist::train_images_from_npz(path).unwrap();
    assert_eq!(images.view(), mnist.train.images);
    // And the same images in chunks (pca_first's reader), of any size.
    for rows in [1, 2, 5, 1000] {
        let (n, pixels) = support::chunked(path, true, rows).unwrap();
        assert_eq!(n, mnist.train.len());
        assert_eq!(pixels, mnist.train.images.as_slice().unwrap());
    }
    mnist
}

fn check_values(mnist: &Mnist) {
    for (split, n, offset) in [
        (&mnist.train, 5, 0),
        (&mnist.dev, 3, 100),
        (&mnist.test, 4, 200),
    ] {
        assert_eq!(split.len(), n);
        assert_eq!(split.images.dim(), (n, 784));
        assert!(split.images.is_standard_layout());
        let nchw = split.images_nchw();
        assert_eq!(nchw.dim(), (n, C, H, W));
        for i in 0..n {
            assert_eq!(split.labels[i], support::label(offset, i));
            for y in 0..H {
                for x in 0..W {
                    let p = support::pixel(offset, i, y, x);
                    assert_eq!(split.images[[i, 28 * y + x]], p);
                    assert_eq!(nchw[[i, 0, y, x]], p);
                }
            }
        }
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn error_of(arrays: &[(String, ArrayD<u8>)]) -> (String, DatasetError) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad.npz", &support::npz_bytes(arrays));
    let err = Mnist::from_npz(&path, Sizes::default()).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(!message.contains('\n'), "{message}");
    // pca_first's reader of the training images fails alike, unless the problem is in dev or
    // test, which it does not read.
    let paged = Mnist::train_images_from_npz(&path);
    let chunked = support::chunked(&path, true, 2);
    if message.contains(": key `dev_") || message.contains(": key `test_") {
        assert!(paged.is_ok(), "{message}");
        assert!(chunked.is_ok(), "{message}");
    } else {
        assert_eq!(paged.unwrap_err().to_string(), message);
        assert_eq!(chunked.unwrap_err().to_string(), message);
    }
    (message, err)
}

fn replace(name: &str, array: ArrayD<u8>) -> Vec<(String, ArrayD<u8>)> {
    let mut arrays = support::course_arrays();
    arrays.iter_mut().find(|(n, _)| n == name).unwrap().1 = array;
    arrays
}

#[test]
fn reads_numpy_savez_compressed() {
    check_values(&load(&support::fixture("course_layout_compressed.npz")));
}

#[test]
fn reads_numpy_savez_with_int64_labels_and_fortran_order() {
    check_values(&load(&support::fixture("course_layout_int64_fortran.npz")));
}

#[test]
fn reads_what_ndarray_npy_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ok.npz", &support::course_npz_bytes());
    check_values(&load(&path));
}

#[test]
fn sizes_keep_the_first_examples() {
    let path = support::fixture("course_layout_compressed.npz");
    let full = Mnist::from_npz(&path, Sizes::default()).unwrap();
    let sizes = Sizes {
        train: Some(2),
        dev: None,
        test: Some(100),
    };
    let cut = Mnist::from_npz(&path, sizes).unwrap();
    assert_eq!((cut.train.len(), cut.dev.len(), cut.test.len()), (2, 3, 4));
    assert_eq!(
        cut.train.images,
        full.train.images.slice(ndarray::s![..2, ..])
    );
    assert_eq!(cut.train.labels, full.train.labels.slice(ndarray::s![..2]));
    assert_eq!(cut.dev, full.dev);
    assert_eq!(cut.test, full.test);
    let empty = Mnist::from_npz(
        &path,
        Sizes {
            dev: Some(0),
            ..Sizes::default()
        },
    )
    .unwrap();
    assert!(empty.dev.is_empty());
    assert_eq!(empty.dev.images.dim(), (0, 784));
    assert_eq!(empty.dev.images_nchw().dim(), (0, 1, 28, 28));
}

#[test]
fn wrong_image_dtype_names_the_key_and_dtype() {
    let path = support::fixture("float_images.npz");
    let message = Mnist::from_npz(&path, Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(
        message
            .contains("float_images.npz: key `train_images`: dtype '<f4' where uint8 is required"),
        "{message}"
    );
}

#[test]
fn missing_key_lists_what_is_there() {
    let mut arrays = support::course_arrays();
    arrays.retain(|(n, _)| n != "test_images");
    let (message, err) = error_of(&arrays);
    assert!(matches!(err, DatasetError::MissingKey { ref key, .. } if key == "test_images"));
    assert!(message.contains("missing key `test_images`"), "{message}");
    assert!(
        message.contains("found: train_images, train_labels, dev_images, dev_labels, test_labels"),
        "{message}"
    );
}

#[test]
fn wrong_image_shape() {
    let (message, _) = error_of(&replace(
        "dev_images",
        Array3::<u8>::zeros((3, 28, 28)).into_dyn(),
    ));
    assert!(
        message.contains("key `dev_images`: shape [3, 28, 28] where (N, 28, 28, 1) is required"),
        "{message}"
    );
    let (message, _) = error_of(&replace(
        "dev_images",
        ArrayD::<u8>::zeros(vec![3, 28, 28, 3]),
    ));
    assert!(
        message.contains("key `dev_images`: shape [3, 28, 28, 3]"),
        "{message}"
    );
}

#[test]
fn wrong_label_shape() {
    let (message, _) = error_of(&replace(
        "train_labels",
        Array2::<u8>::zeros((5, 1)).into_dyn(),
    ));
    assert!(
        message.contains("key `train_labels`: 2 dimensions where 1 is required"),
        "{message}"
    );
}

#[test]
fn label_out_of_range() {
    let labels = Array1::from(vec![0u8, 1, 2, LABELS as u8]).into_dyn();
    let (message, _) = error_of(&replace("test_labels", labels));
    assert!(
        message.contains("key `test_labels`: label 10 at index 3 is outside 0-9"),
        "{message}"
    );
}

#[test]
fn negative_label_in_a_signed_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let mut npz =
        ndarray_npy::NpzWriter::new(std::fs::File::create(dir.path().join("neg.npz")).unwrap());
    for (name, array) in support::course_arrays() {
        if name == "dev_labels" {
            npz.add_array(name.as_str(), &Array1::from(vec![1i64, -1, 2]))
                .unwrap();
        } else {
            npz.add_array(name.as_str(), &array).unwrap();
        }
    }
    npz.finish().unwrap();
    let message = Mnist::from_npz(&dir.path().join("neg.npz"), Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("key `dev_labels`: label -1 at index 1 is outside 0-9"),
        "{message}"
    );
}

#[test]
fn float_labels_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut npz =
        ndarray_npy::NpzWriter::new(std::fs::File::create(dir.path().join("f.npz")).unwrap());
    for (name, array) in support::course_arrays() {
        if name == "dev_labels" {
            npz.add_array(name.as_str(), &Array1::from(vec![1f32, 0., 2.]))
                .unwrap();
        } else {
            npz.add_array(name.as_str(), &array).unwrap();
        }
    }
    npz.finish().unwrap();
    let message = Mnist::from_npz(&dir.path().join("f.npz"), Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(
        message
            .contains("key `dev_labels`: dtype '<f4' where an integer dtype (uint8) is required"),
        "{message}"
    );
}

#[test]
fn image_and_label_counts_must_agree() {
    let (message, _) = error_of(&replace("train_labels", Array1::<u8>::zeros(4).into_dyn()));
    assert!(
        message.contains("key `train_labels`: 4 labels for 5 images in `train_images`"),
        "{message}"
    );
}

#[test]
fn truncated_npz() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(support::fixture("course_layout_compressed.npz")).unwrap();
    let path = write(dir.path(), "cut.npz", &bytes[..bytes.len() / 2]);
    for err in [
        Mnist::from_npz(&path, Sizes::default()).unwrap_err(),
        Mnist::train_images_from_npz(&path).unwrap_err(),
        support::chunked(&path, true, 2).unwrap_err(),
    ] {
        assert!(matches!(err, DatasetError::NotNpz { .. }), "{err}");
        assert!(
            err.to_string().contains("cut.npz is not a valid .npz file"),
            "{err}"
        );
    }
}

#[test]
fn corrupt_member_data_names_the_key() {
    // An uncompressed npz with a byte flipped inside `train_images`: the zip CRC check fails.
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(support::fixture("course_layout_int64_fortran.npz")).unwrap();
    let at = bytes
        .windows(12)
        .position(|w| w == b"train_images")
        .unwrap()
        + 400;
    bytes[at] ^= 0xff;
    let path = write(dir.path(), "flipped.npz", &bytes);
    for message in [
        Mnist::from_npz(&path, Sizes::default())
            .unwrap_err()
            .to_string(),
        Mnist::train_images_from_npz(&path).unwrap_err().to_string(),
        support::chunked(&path, true, 2).unwrap_err().to_string(),
    ] {
        assert!(
            message.contains("flipped.npz: key `train_images`: cannot decode"),
            "{message}"
        );
    }
}

#[test]
fn not_a_zip_and_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "text.npz", b"hello, this is not a zip file");
    let message = Mnist::from_npz(&path, Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("text.npz is not a valid .npz file"),
        "{message}"
    );
    let missing = dir.path().join("missing.npz");
    let err = Mnist::from_npz(&missing, Sizes::default()).unwrap_err();
    assert!(matches!(err, DatasetError::Io { .. }));
    // The cause is the error's source (printed by `{:#}` in the binaries), not repeated here.
    assert_eq!(
        err.to_string(),
        format!("cannot read {}", missing.display())
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn dataset_source_parses_and_prints() {
    assert_eq!("mnist".parse::<DatasetSource>(), Ok(DatasetSource::Mnist));
    assert_eq!(
        "fashion_mnist".parse::<DatasetSource>(),
        Ok(DatasetSource::FashionMnist)
    );
    assert_eq!(
        "data/my.npz".parse::<DatasetSource>(),
        Ok(DatasetSource::Npz("data/my.npz".into()))
    );
    assert!("".parse::<DatasetSource>().is_err());
    for s in ["mnist", "fashion_mnist", "data/my.npz"] {
        assert_eq!(s.parse::<DatasetSource>().unwrap().to_string(), s);
    }
}

/// A split limited to 0 is not read: a bad test array does not fail a load that leaves it out
/// (pca_first uses only the training images), and still fails one that wants it.
#[test]
fn splits_limited_to_nothing_are_not_read() {
    let bad = replace(
        "test_images",
        Array2::<u8>::zeros((4, 7)).into_dyn(), // not (N, 28, 28, 1)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bad_test.npz", &support::npz_bytes(&bad));
    let only_train = Sizes {
        train: None,
        dev: Some(0),
        test: Some(0),
    };
    let mnist = Mnist::from_npz(&path, only_train).unwrap();
    assert_eq!(mnist.train.len(), 5);
    assert!(mnist.dev.is_empty() && mnist.test.is_empty());
    assert_eq!(mnist.test.images.dim(), (0, 784));
    let message = Mnist::from_npz(&path, Sizes::default())
        .unwrap_err()
        .to_string();
    assert!(message.contains("test_images"), "{message}");
}

/// A member whose `.npy` data ends early, or runs past what its header announces: the same
/// error from both readers of the training images.
#[test]
fn truncated_and_overlong_image_data() {
    use ndarray_npy::WriteNpyExt;
    use std::io::Write;
    let (images, _) = support::split_arrays(5, 0);
    let mut npy = Vec::new();
    images.write_npy(&mut npy).unwrap();
    for (name, data, expected) in [
        (
            "short.npz",
            &npy[..npy.len() - 10],
            "key `train_images`: truncated array data",
        ),
        (
            "long.npz",
            &[&npy[..], &[0u8; 3][..]].concat()[..],
            "key `train_images`: 3 bytes after the array data",
        ),
    ] {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (key, array) in support::course_arrays() {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            zip.start_file(format!("{key}.npy"), options).unwrap();
            if key == "train_images" {
                zip.write_all(data).unwrap();
            } else {
                array.write_npy(&mut zip).unwrap();
            }
        }
        let bytes = zip.finish().unwrap().into_inner();
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), name, &bytes);
        let message = Mnist::from_npz(&path, Sizes::default())
            .unwrap_err()
            .to_string();
        assert!(message.contains(expected), "{message}");
        let paged = Mnist::train_images_from_npz(&path).unwrap_err().to_string();
        assert_eq!(paged, message);
        let chunked = support::chunked(&path, true, 2).unwrap_err().to_string();
        assert_eq!(chunked, message);
    }
}

/// The receiver can stop the reading: no chunk after it, and the count all the same.
#[test]
fn chunks_stop_when_asked() {
    let path = support::fixture("course_layout_compressed.npz");
    let mut seen = Vec::new();
    let n = Mnist::train_image_chunks_from_npz(&path, 2, &mut |c| {
        seen.push((c.first, c.len(), c.total));
        std::ops::ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!((n, seen), (5, vec![(0, 2, 5)]));
}
