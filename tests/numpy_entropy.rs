//! Grader suite for `numpy_entropy`, ReCodEx style.
//!
//! * The course's published cases 1-4 (`numpy_entropy_{data,model,expected}_N.txt`) must give the
//!   expected output byte for byte. They live outside the repository, in `NPFL138_COURSE_DATA`
//!   (default `../shared/data/course`); where absent the tests say so and skip, unless
//!   `NPFL138_REQUIRE_DATA=1` (CI) turns the skip into a failure.
//!   The expected outputs are the checker's (`npfl138::cases::numpy_entropy::PUBLISHED`), so the
//!   grader suite and `npfl138 check` cannot disagree.
//! * Our hidden cases (shapes of the course's sets 3 and 4, other seeds) are committed under
//!   `tests/data/numpy_entropy/` together with insta snapshots of the output; a test checks the
//!   generator still makes exactly the committed files (`NPFL138_REGENERATE=1` rewrites them).
//! * Edge cases: unicode keys, keys with spaces, CRLF files, model keys absent from the data.

use std::path::{Path, PathBuf};

use assignments::numpy_entropy::{Args, run};
use npfl138::cases::DataPaths;
use npfl138::cases::numpy_entropy::{PUBLISHED, file_names};
use npfl138::numpy_entropy_cases::{HIDDEN_CASES, generate};

/// The course's folder, found as the `npfl138` checker finds it ([`DataPaths::from_env`]).
fn course_dir() -> Option<PathBuf> {
    let dir = DataPaths::from_env().course;
    if dir.join("numpy_entropy_data_1.txt").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "the course's numpy_entropy files are not in {} (set NPFL138_COURSE_DATA)",
        dir.display()
    );
    crate::support::missing("the course's numpy_entropy cases", msg);
    None
}

fn output(data: &Path, model: &Path) -> String {
    let args = Args {
        data_path: data.to_path_buf(),
        model_path: model.to_path_buf(),
        recodex: false,
    };
    run(&args).expect("numpy_entropy runs").to_string()
}

/// The course's published case on set `n`: the output the checker expects (`PUBLISHED`, verbatim
/// from the course), which must also be the course's expected file byte for byte.
fn course_case(n: usize) {
    let Some(dir) = course_dir() else { return };
    let published = PUBLISHED
        .iter()
        .find(|p| p.set == n)
        .expect("a published set");
    let (data, model) = file_names(n);
    let got = output(&dir.join(data), &dir.join(model));
    assert_eq!(got, published.expected, "course case {n}");
    let expected =
        std::fs::read_to_string(dir.join(format!("numpy_entropy_expected_{n}.txt"))).unwrap();
    assert_eq!(got, expected, "course case {n}: the course's expected file");
}

#[test]
fn numpy_entropy_1() {
    course_case(1);
}

#[test]
fn numpy_entropy_2() {
    course_case(2);
}

#[test]
fn numpy_entropy_3() {
    course_case(3);
}

#[test]
fn numpy_entropy_4() {
    course_case(4);
}

/// Unrounded values of the course's straightforward NumPy implementation (`bench/numpy_entropy.py
/// --reference`): ours agree to the last bit, since we sum pairwise in NumPy's order.
#[test]
fn course_cases_agree_with_numpy_to_the_last_bit() {
    let Some(dir) = course_dir() else { return };
    let numpy = [
        (
            1,
            0.9556998911125343,
            0.9868221827117337,
            0.031122291599199485,
        ),
        (2, 0.9556998911125343, f64::INFINITY, f64::INFINITY),
        (3, 4.151109427125894, 4.232500793852844, 0.08139136672694962),
        (4, 4.987111700846121, 5.030029498064042, 0.04291779721792137),
    ];
    for (n, h, ce, kl) in numpy {
        let args = Args {
            data_path: dir.join(format!("numpy_entropy_data_{n}.txt")),
            model_path: dir.join(format!("numpy_entropy_model_{n}.txt")),
            recodex: false,
        };
        let m = run(&args).unwrap().0;
        assert_eq!(
            (m.entropy, m.cross_entropy, m.kl_divergence),
            (h, ce, kl),
            "set {n}"
        );
    }
}

fn hidden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/numpy_entropy")
}

#[test]
fn hidden_case_files_are_what_the_generator_makes() {
    let regenerate = std::env::var("NPFL138_REGENERATE").is_ok_and(|v| v == "1");
    for spec in &HIDDEN_CASES {
        let case = generate(spec);
        for (kind, text) in [("data", &case.data), ("model", &case.model)] {
            let path = hidden_dir().join(format!("{}_{kind}.txt", spec.name));
            if regenerate {
                std::fs::write(&path, text).unwrap();
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == *text,
                "{} differs from the generator's output: run NPFL138_REGENERATE=1 cargo test --test numpy_entropy",
                path.display()
            );
        }
    }
}

/// Our hidden case `hidden_3`, straight from the generator (so that a regeneration never reads a
/// stale committed file; `hidden_case_files_are_what_the_generator_makes` checks those).
#[test]
fn hidden_3() {
    let case = generate(&HIDDEN_CASES[0]);
    insta::assert_snapshot!(output_of(case.data.as_bytes(), case.model.as_bytes()));
}

#[test]
fn hidden_4() {
    let case = generate(&HIDDEN_CASES[1]);
    insta::assert_snapshot!(output_of(case.data.as_bytes(), case.model.as_bytes()));
}

/// `npfl138 check numpy_entropy --seed 20261127` runs exactly our committed hidden cases, with the
/// committed (snapshotted) outputs as its expectation.
#[test]
fn the_checker_s_hidden_cases_with_our_seed_are_the_committed_ones() {
    use npfl138::cases::FileSource;
    let cases = npfl138::cases::numpy_entropy::hidden_cases(HIDDEN_CASES[0].seed).unwrap();
    let d = hidden_dir();
    for (case, spec) in cases.iter().zip(&HIDDEN_CASES) {
        let texts: Vec<&str> = case
            .files
            .iter()
            .map(|f| match &f.source {
                FileSource::Text(t) => t.as_str(),
                FileSource::Copy(p) => panic!("{} is generated, not copied", p.display()),
            })
            .collect();
        let committed = [
            std::fs::read_to_string(d.join(format!("{}_data.txt", spec.name))).unwrap(),
            std::fs::read_to_string(d.join(format!("{}_model.txt", spec.name))).unwrap(),
        ];
        assert!(
            texts == committed,
            "{}: files differ from {}",
            case.name,
            spec.name
        );
        let snapshot = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(
            format!("tests/snapshots/grader__numpy_entropy__{}.snap", spec.name),
        ))
        .unwrap();
        let body = snapshot.splitn(3, "---\n").nth(2).unwrap();
        assert_eq!(case.expected, body, "{}", case.name);
    }
}

/// Writes `data` and `model` to a fresh temporary directory and runs on them.
fn output_of(data: &[u8], model: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (d, m) = (dir.path().join("data.txt"), dir.path().join("model.txt"));
    std::fs::write(&d, data).unwrap();
    std::fs::write(&m, model).unwrap();
    output(&d, &m)
}

#[test]
fn edge_unicode_keys() {
    // The model equals the data distribution: KL is 0.
    insta::assert_snapshot!(
        output_of("žluť\nкот\n猫\nžluť\n🐈\n".as_bytes(), "žluť\t0.4\nкот\t0.2\n猫\t0.2\n🐈\t0.2\n".as_bytes()),
        @r"
    Entropy: 1.33 nats
    Crossentropy: 1.33 nats
    KL divergence: 0.00 nats
    "
    );
}

#[test]
fn edge_keys_with_spaces_are_distinct_from_trimmed_keys() {
    // " A", "A" and "A " are three outcomes; the model knows only "A" and " A".
    insta::assert_snapshot!(
        output_of(b"A\n A\nA \nA\n", b"A\t0.5\n A\t0.5\n"),
        @r"
    Entropy: 1.04 nats
    Crossentropy: inf nats
    KL divergence: inf nats
    "
    );
    insta::assert_snapshot!(
        output_of(b"A\n A\nA\n", b"A\t0.5\n A\t0.5\n"),
        @r"
    Entropy: 0.64 nats
    Crossentropy: 0.69 nats
    KL divergence: 0.06 nats
    "
    );
}

#[test]
fn edge_crlf_files_read_like_lf_files() {
    let lf = output_of(b"A\nBB\nA\nA\nBB\nCCC\nA\n", b"BB\t0.4\nA\t0.5\nCCC\t0.1\n");
    let crlf = output_of(
        b"A\r\nBB\r\nA\r\nA\r\nBB\r\nCCC\r\nA\r\n",
        b"BB\t0.4\r\nA\t0.5\r\nCCC\t0.1\r\n",
    );
    assert_eq!(lf, crlf);
    insta::assert_snapshot!(crlf, @r"
    Entropy: 0.96 nats
    Crossentropy: 0.99 nats
    KL divergence: 0.03 nats
    ");
}

#[test]
fn edge_model_keys_absent_from_the_data_are_ignored() {
    // Over the union of keys 0 * ln 0 would give NaN; only the data support counts.
    insta::assert_snapshot!(
        output_of(b"A\nB\n", b"A\t0.25\nB\t0.25\nC\t0.5\nD\t0\n"),
        @r"
    Entropy: 0.69 nats
    Crossentropy: 1.39 nats
    KL divergence: 0.69 nats
    "
    );
}

#[test]
fn edge_empty_lines_are_the_empty_outcome() {
    insta::assert_snapshot!(
        output_of(b"\nA\n\n", b"\t0.5\nA\t0.5\n"),
        @r"
    Entropy: 0.64 nats
    Crossentropy: 0.69 nats
    KL divergence: 0.06 nats
    "
    );
}
