//! The TensorBoard logger end to end: lazy creation, logs.txt, the event files read back by an
//! independent decoder here and, when python3 has the `tensorboard` package, by TensorBoard's
//! own reader through `tests/tensorboard_check.py`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use assignments::logging::{EpochLine, TrainingLogger, masked_crc32c};

const CHECKER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/tensorboard_check.py");

/// One decoded scalar: (tag, step, value).
type Scalar = (String, i64, f32);

fn read_varint(data: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let b = data[*pos];
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// Splits a protobuf message into (field, wire type, payload bytes or fixed value bytes).
fn fields(data: &[u8]) -> Vec<(u64, u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let key = read_varint(data, &mut pos);
        let (field, wire) = (key >> 3, key & 7);
        let payload = match wire {
            0 => read_varint(data, &mut pos).to_le_bytes().to_vec(),
            1 => {
                pos += 8;
                data[pos - 8..pos].to_vec()
            }
            2 => {
                let len = read_varint(data, &mut pos) as usize;
                pos += len;
                data[pos - len..pos].to_vec()
            }
            5 => {
                pos += 4;
                data[pos - 4..pos].to_vec()
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((field, wire, payload));
    }
    out
}

/// Reads an event file independently of the writer: checks the framing and both CRCs of every
/// record, that the first event is `file_version = "brain.Event:2"`, and returns the scalars.
fn read_event_file(path: &Path) -> Vec<Scalar> {
    let data = fs::read(path).unwrap();
    let mut pos = 0;
    let mut records = Vec::new();
    while pos < data.len() {
        let len_bytes = &data[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(data[pos + 8..pos + 12].try_into().unwrap());
        assert_eq!(
            len_crc,
            masked_crc32c(len_bytes),
            "{}: length CRC",
            path.display()
        );
        let payload = &data[pos + 12..pos + 12 + len];
        let crc = u32::from_le_bytes(data[pos + 12 + len..pos + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked_crc32c(payload), "{}: data CRC", path.display());
        records.push(payload.to_vec());
        pos += 16 + len;
    }
    assert_eq!(pos, data.len());
    let first = fields(&records[0]);
    assert!(first.iter().any(
        |(f, w, p)| (*f, *w) == (1, 1) && f64::from_le_bytes(p[..].try_into().unwrap()) > 1.7e9
    ));
    assert!(
        first
            .iter()
            .any(|(f, w, p)| (*f, *w) == (3, 2) && p == b"brain.Event:2"),
        "{first:?}"
    );
    let mut scalars = Vec::new();
    for record in &records[1..] {
        let event = fields(record);
        let step = event
            .iter()
            .find(|(f, _, _)| *f == 2)
            .map_or(0, |(_, _, p)| i64::from_le_bytes(p[..].try_into().unwrap()));
        let wall_time = event
            .iter()
            .find(|(f, w, _)| (*f, *w) == (1, 1))
            .expect("wall_time");
        assert!(f64::from_le_bytes(wall_time.2[..].try_into().unwrap()) > 1.7e9);
        let summary = &event
            .iter()
            .find(|(f, w, _)| (*f, *w) == (5, 2))
            .expect("summary")
            .2;
        for (field, _, value) in fields(summary) {
            assert_eq!(field, 1);
            let value = fields(&value);
            let tag = String::from_utf8(value.iter().find(|(f, _, _)| *f == 1).unwrap().2.clone())
                .unwrap();
            let simple = value
                .iter()
                .find(|(f, w, _)| (*f, *w) == (2, 5))
                .expect("simple_value");
            scalars.push((
                tag,
                step,
                f32::from_le_bytes(simple.2[..].try_into().unwrap()),
            ));
        }
    }
    scalars
}

fn event_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Logs `epochs` epochs of made-up metrics the way the training loop does; returns the lines.
fn log_run(logger: &mut TrainingLogger, epochs: usize, offset: f64) -> Vec<String> {
    let mut lines = Vec::new();
    for epoch in 1..=epochs {
        let e = epoch as f64;
        let logs = [
            ("loss", (0.5 / e + offset) as f32 as f64),
            ("accuracy", (0.8 + 0.01 * e) as f32 as f64),
            ("dev:loss", if epoch == 2 { 1.5e-5 } else { 0.3 / e }),
            ("dev:accuracy", 0.73025f32 as f64), // an f64 tie at the 4th decimal
        ];
        let line = EpochLine {
            epoch,
            epochs,
            elapsed: Duration::from_millis(1234),
            logs: &logs,
        }
        .to_string();
        logger.log_epoch(&line, epoch, &logs).unwrap();
        lines.push(line);
    }
    lines
}

#[test]
fn lazy_creation_lines_and_event_files() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("logs").join("run-a=1");
    let mut logger = TrainingLogger::new(logdir.clone());
    assert!(
        !tmp.path().join("logs").exists(),
        "nothing may exist before the first log call"
    );

    let lines = log_run(&mut logger, 3, 0.0);
    assert_eq!(
        lines[1],
        "Epoch 2/3 1.2s loss=0.2500 accuracy=0.8200 dev:loss=1.50e-05 dev:accuracy=0.7303"
    );
    let text = fs::read_to_string(logdir.join("logs.txt")).unwrap();
    assert_eq!(
        text,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    );

    let mut entries: Vec<String> = fs::read_dir(&logdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    entries.sort();
    assert_eq!(entries, ["dev", "logs.txt", "train"]);

    let names: Vec<(String, PathBuf)> = logger
        .event_files()
        .map(|(n, p)| (n.to_owned(), p.to_owned()))
        .collect();
    assert_eq!(
        names.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["train", "dev"]
    );
    let pid = std::process::id().to_string();
    for (writer, path) in &names {
        assert_eq!(
            event_files(&logdir.join(writer)),
            std::slice::from_ref(path)
        );
        let name = path.file_name().unwrap().to_str().unwrap();
        let parts: Vec<&str> = name
            .strip_prefix("events.out.tfevents.")
            .unwrap()
            .split('.')
            .collect();
        assert_eq!(parts[0].len(), 10);
        assert!(parts[0].bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(parts[parts.len() - 2], pid);
        assert!(parts[parts.len() - 1].parse::<u64>().is_ok());
    }
    // train counter < dev counter: the train writer is created first
    let uid = |p: &Path| {
        p.extension()
            .unwrap()
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(uid(&names[0].1) < uid(&names[1].1));

    let train = read_event_file(&names[0].1);
    let dev = read_event_file(&names[1].1);
    let expect_train: Vec<Scalar> = (1..=3)
        .flat_map(|i| {
            [
                ("loss".to_owned(), i as i64, (0.5 / i as f64) as f32),
                (
                    "accuracy".to_owned(),
                    i as i64,
                    (0.8 + 0.01 * i as f64) as f32,
                ),
            ]
        })
        .collect();
    assert_eq!(train, expect_train);
    let expect_dev: Vec<Scalar> = (1..=3)
        .flat_map(|i| {
            let loss = if i == 2 { 1.5e-5 } else { 0.3 / i as f64 };
            [
                ("loss".to_owned(), i as i64, loss as f32),
                ("accuracy".to_owned(), i as i64, 0.73025f32),
            ]
        })
        .collect();
    assert_eq!(dev, expect_dev);

    run_checker(&logdir, 3, Expect::Pass);
    let stdout = tmp.path().join("stdout.txt");
    let printed: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(&stdout, format!("some other output\n{printed}")).unwrap();
    run_checker_with(
        &logdir,
        &[
            format!("--stdout={}", stdout.display()),
            "--labels=loss,accuracy,dev:loss,dev:accuracy".into(),
        ],
        Expect::Pass,
    );
    run_checker_with(
        &logdir,
        &["--labels=loss,accuracy".into()],
        Expect::Fail("labels"),
    );
    fs::write(&stdout, printed.replacen("1.2s", "1.3s", 1)).unwrap();
    run_checker_with(
        &logdir,
        &[format!("--stdout={}", stdout.display())],
        Expect::Fail("stdout lines"),
    );
}

#[test]
fn reusing_a_logdir_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("run");
    let first = log_run(&mut TrainingLogger::new(logdir.clone()), 2, 0.0);
    let second = log_run(&mut TrainingLogger::new(logdir.clone()), 2, 0.125);
    let text = fs::read_to_string(logdir.join("logs.txt")).unwrap();
    assert_eq!(
        text,
        first
            .iter()
            .chain(&second)
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    assert_eq!(event_files(&logdir.join("train")).len(), 2);
    assert_eq!(event_files(&logdir.join("dev")).len(), 2);
    run_checker(&logdir, 4, Expect::Pass);
}

#[test]
fn other_writers_and_evaluation_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("run");
    let mut logger = TrainingLogger::new(logdir.clone());
    logger
        .log_epoch(
            "Epoch 1/1 0.5s loss=0.2500 lr=1.00e-04",
            1,
            &[("loss", 0.25), ("lr", 1e-4)],
        )
        .unwrap();
    logger.log_line("Evaluation 0.1s test:loss=0.1250").unwrap();
    logger.log_scalars(1, &[("test:loss", 0.125)]).unwrap();
    let test = event_files(&logdir.join("test"));
    assert_eq!(
        read_event_file(&test[0]),
        [("loss".to_owned(), 1, 0.125f32)]
    );
    assert_eq!(
        read_event_file(&event_files(&logdir.join("train"))[0]),
        [
            ("loss".to_owned(), 1, 0.25f32),
            ("lr".to_owned(), 1, 1e-4f32)
        ]
    );
    run_checker(&logdir, 1, Expect::Pass);
}

#[test]
fn checker_detects_mismatches() {
    let tmp = tempfile::tempdir().unwrap();
    let logdir = tmp.path().join("run");
    let lines = log_run(&mut TrainingLogger::new(logdir.clone()), 2, 0.0);
    // a value off by one unit of the 4th decimal in logs.txt must be caught
    let tampered: String = lines
        .iter()
        .map(|l| format!("{}\n", l.replace("accuracy=0.8200", "accuracy=0.8201")))
        .collect();
    assert_ne!(
        tampered,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>()
    );
    fs::write(logdir.join("logs.txt"), tampered).unwrap();
    run_checker(&logdir, 2, Expect::Fail("accuracy at step 2"));
    // and a corrupted record (TensorBoard drops it: the CRC no longer matches)
    fs::write(
        logdir.join("logs.txt"),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    let dev = &event_files(&logdir.join("dev"))[0];
    let mut bytes = fs::read(dev).unwrap();
    let n = bytes.len();
    bytes[n - 6] ^= 0x01; // inside the last value (dev:accuracy at step 2)
    fs::write(dev, bytes).unwrap();
    run_checker(&logdir, 2, Expect::Fail("sequence"));
}

#[test]
fn errors_name_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    fs::write(&blocker, "not a directory").unwrap();
    let logdir = blocker.join("run");
    let mut logger = TrainingLogger::new(logdir.clone());
    let err = logger.log_epoch("Epoch 1/1 0.0s ", 1, &[]).unwrap_err();
    assert!(
        err.to_string().contains(&*logdir.to_string_lossy()),
        "{err}"
    );
}

enum Expect {
    Pass,
    Fail(&'static str),
}

fn run_checker(logdir: &Path, epochs: usize, expect: Expect) {
    run_checker_with(logdir, &[format!("--epochs={epochs}")], expect);
}

/// The Python interpreter: `NPFL138_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("NPFL138_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn run_checker_with(logdir: &Path, args: &[String], expect: Expect) {
    let required = std::env::var("NPFL138_REQUIRE_TENSORBOARD").is_ok_and(|v| v == "1");
    let available = Command::new(python())
        .args([
            "-c",
            "import tensorboard.backend.event_processing.event_accumulator",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            !required,
            "NPFL138_REQUIRE_TENSORBOARD=1 but python3 cannot import tensorboard"
        );
        eprintln!(
            "skipping the TensorBoard reader check: python3 with the `tensorboard` package is missing"
        );
        return;
    }
    let out = Command::new(python())
        .arg(CHECKER)
        .arg(logdir)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match expect {
        Expect::Pass => assert!(out.status.success(), "checker failed:\n{stdout}\n{stderr}"),
        Expect::Fail(needle) => {
            assert_eq!(
                out.status.code(),
                Some(1),
                "checker should fail:\n{stdout}\n{stderr}"
            );
            assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
        }
    }
}
