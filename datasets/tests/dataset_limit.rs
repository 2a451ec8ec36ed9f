//! `NPFL_DATASET_LIMIT` as the course's `TransformedDataset` reads it (course: `labs/npfl138/transformed_dataset.py`): a value of
//! decimal digits keeps the first `limit` examples of every split ("0" empties them); any other
//! value is ignored. The library takes the value as a parameter; the binaries read the variable.

use std::path::Path;

use datasets::{DATASET_LIMIT_VAR, DatasetSource, Mnist, Sizes};

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/course_layout_compressed.npz"
);

fn lengths(mnist: &Mnist) -> (usize, usize, usize) {
    (mnist.train.len(), mnist.dev.len(), mnist.test.len())
}

#[test]
fn the_variable_is_the_courses() {
    assert_eq!(DATASET_LIMIT_VAR, "NPFL_DATASET_LIMIT");
}

#[test]
fn decimal_values_limit_every_split() {
    for (value, limit) in [
        ("2", Some(2)),
        ("0", Some(0)),
        ("007", Some(7)),
        ("18446744073709551615", Some(usize::MAX)),
    ] {
        assert_eq!(
            Sizes::from_dataset_limit(Some(value)),
            Sizes::all(limit),
            "{value:?}"
        );
    }
    // Too large for usize: Python's min(len, limit) is len, so no limit.
    assert_eq!(
        Sizes::from_dataset_limit(Some("99999999999999999999999")),
        Sizes::default()
    );
}

#[test]
fn other_values_are_ignored_as_str_isdecimal_rejects_them() {
    for value in [
        None,
        Some(""),
        Some("-1"),
        Some("+5"),
        Some(" 5"),
        Some("5 "),
        Some("1e3"),
        Some("1_000"),
        Some("2.5"),
        Some("ten"),
    ] {
        assert_eq!(
            Sizes::from_dataset_limit(value),
            Sizes::default(),
            "{value:?}"
        );
    }
}

#[test]
fn a_limit_keeps_the_first_examples_of_each_split() {
    let full = Mnist::from_npz(Path::new(FIXTURE), Sizes::default()).unwrap();
    assert_eq!(lengths(&full), (5, 3, 4));
    let limited =
        Mnist::from_npz(Path::new(FIXTURE), Sizes::from_dataset_limit(Some("2"))).unwrap();
    assert_eq!(lengths(&limited), (2, 2, 2));
    for (part, whole) in [
        (&limited.train, &full.train),
        (&limited.dev, &full.dev),
        (&limited.test, &full.test),
    ] {
        assert_eq!(part.images, whole.images.slice(ndarray::s![..2, ..]));
        assert_eq!(part.labels, whole.labels.slice(ndarray::s![..2]));
    }
    let limited =
        Mnist::from_npz(Path::new(FIXTURE), Sizes::from_dataset_limit(Some("4"))).unwrap();
    assert_eq!(lengths(&limited), (4, 3, 4), "min(len, limit)");
    let empty = Mnist::from_npz(Path::new(FIXTURE), Sizes::from_dataset_limit(Some("0"))).unwrap();
    assert_eq!(lengths(&empty), (0, 0, 0));
}

#[test]
fn misspelt_dataset_names_get_a_suggestion() {
    let suggestion = |s: &str| s.parse::<DatasetSource>().unwrap().suggestion();
    for (given, meant) in [
        ("fashion-mnist", Some("fashion_mnist")),
        ("Fashion_MNIST", Some("fashion_mnist")),
        ("fashionmnist", Some("fashion_mnist")),
        ("fasion_mnist", Some("fashion_mnist")),
        ("fashion_mnist.npz", Some("fashion_mnist")),
        ("MNIST", Some("mnist")),
        ("mnist.npz", Some("mnist")),
        ("minst", Some("mnist")),
        ("mnist", None),
        ("fashion_mnist", None),
        ("data/course.npz", None),
        ("cifar10", None),
    ] {
        assert_eq!(suggestion(given), meant, "{given}");
    }
}
