//! `npfl138 grade` on a folder of eight numpy_entropy submissions (correct, wrong, crashing,
//! hanging, a memory hog, no `parser`, two `def main(`, a single correct file), then `--shard`
//! halves merged by `npfl138 gradebook`, which must equal the unsharded gradebook, and the rerun
//! rule (a result newer than the submission is reused).

use std::path::Path;

use crate::support::{FIXTURES, python_with_numpy};

fn npfl138(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let out = crate::support::npfl138()
        .current_dir(cwd)
        .args(args)
        .env_remove("NPFL_CACHE")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Eight submissions in `dir`.
fn make_submissions(dir: &Path) {
    let template = std::fs::read_to_string(Path::new(FIXTURES).join("numpy_entropy.py")).unwrap();
    let returned = "return float(entropy), float(crossentropy), float(kl_divergence)";
    assert!(template.contains(returned));
    let folder = |name: &str, files: &[(&str, String)]| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (file, text) in files {
            std::fs::write(d.join(file), text).unwrap();
        }
    };
    folder("alice", &[("numpy_entropy.py", template.clone())]);
    folder(
        "bob_wrong",
        &[(
            "numpy_entropy.py",
            template.replace(
                returned,
                "return float(entropy) + 1, float(crossentropy), float(kl_divergence)",
            ),
        )],
    );
    folder(
        "carol_crash",
        &[(
            "numpy_entropy.py",
            template.replace(returned, "return 1 / 0"),
        )],
    );
    folder(
        "dave_hang",
        &[(
            "numpy_entropy.py",
            template.replace(returned, "import time; time.sleep(600)"),
        )],
    );
    folder(
        "erin_memory",
        &[(
            "numpy_entropy.py",
            template.replace(returned, "hog = b'x' * (3 << 30); return len(hog)"),
        )],
    );
    folder(
        "frank_no_parser",
        &[(
            "numpy_entropy.py",
            template
                .replace(
                    "parser = argparse.ArgumentParser()",
                    "p = argparse.ArgumentParser()",
                )
                .replace("parser.add_argument", "p.add_argument"),
        )],
    );
    folder(
        "grace_two_mains",
        &[
            ("numpy_entropy.py", template.clone()),
            ("other.py", "def main(args):\n    pass\n".to_owned()),
        ],
    );
    std::fs::write(dir.join("heidi.py"), &template).unwrap();
}

/// The time limit must let a 3 GB allocation pass the 1.5 GB limit first on a loaded machine
/// (erin), and keeps dave's hangs short.
const GRADE: [&str; 6] = [
    "--seed",
    "7",
    "--time-limit",
    "6",
    "--course-data",
    "/nonexistent",
];

#[test]
fn grade_a_folder_then_shards_merge_to_the_same_gradebook() {
    let Some(_) = python_with_numpy("grade_a_folder_then_shards_merge_to_the_same_gradebook")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let subs = work.path().join("submissions");
    make_submissions(&subs);
    let all = work.path().join("all");
    let mut args = vec![
        "grade",
        "numpy_entropy",
        "submissions",
        "-j",
        "2",
        "--out",
        "all",
    ];
    args.extend(GRADE);
    let (code, stdout, stderr) = npfl138(work.path(), &args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let csv = std::fs::read_to_string(all.join("gradebook.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "submission,test_1,test_2,example_3,example_4,hidden_3,hidden_4,total,max,status,verdicts"
    );
    // The course's files are absent (--course-data /nonexistent): their cases are SKIPPED, so even
    // a correct submission is INCOMPLETE with the hidden cases' 1.00 point.
    let expect = [
        ("alice", "1.00", "INCOMPLETE", "hidden_3=OK hidden_4=OK"),
        (
            "bob_wrong",
            "0.00",
            "FAILED",
            "hidden_3=WRONG hidden_4=WRONG",
        ),
        (
            "carol_crash",
            "0.00",
            "FAILED",
            "hidden_3=CRASH hidden_4=CRASH",
        ),
        (
            "dave_hang",
            "0.00",
            "FAILED",
            "hidden_3=TIMEOUT hidden_4=TIMEOUT",
        ),
        (
            "erin_memory",
            "0.00",
            "FAILED",
            "hidden_3=MEMORY hidden_4=MEMORY",
        ),
        (
            "frank_no_parser",
            "0.00",
            "FAILED",
            "hidden_3=CRASH hidden_4=CRASH",
        ),
        ("grace_two_mains", "0.00", "REJECTED", ""),
        ("heidi.py", "1.00", "INCOMPLETE", "hidden_3=OK hidden_4=OK"),
    ];
    assert_eq!(rows.len(), 1 + expect.len(), "{csv}");
    for (row, (name, total, status, verdicts)) in rows[1..].iter().zip(expect) {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!(fields[0], name, "{csv}");
        assert_eq!(fields[7], total, "{row}");
        assert_eq!(fields[9], status, "{row}");
        assert!(fields[10].ends_with(verdicts), "{row}");
    }
    let alice: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(all.join("alice.json")).unwrap()).unwrap();
    assert_eq!(alice["cases"][4]["verdict"], "OK");
    assert!(alice["cases"][4]["peak_memory_bytes"].as_u64().unwrap() > 0);
    let grace: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(all.join("grace_two_mains.json")).unwrap())
            .unwrap();
    assert!(
        grace["rejected"].as_str().unwrap().contains("def main("),
        "{grace}"
    );

    // Two shards into two folders, merged: the same gradebook.
    for (shard, out) in [("1/2", "s1"), ("2/2", "s2")] {
        let mut args = vec![
            "grade",
            "numpy_entropy",
            "submissions",
            "--shard",
            shard,
            "--out",
            out,
        ];
        args.extend(GRADE);
        let (code, stdout, stderr) = npfl138(work.path(), &args);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
    }
    let mut merge = vec!["gradebook".to_owned()];
    for out in ["s1", "s2"] {
        for e in std::fs::read_dir(work.path().join(out)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "json") {
                merge.push(p.display().to_string());
            }
        }
    }
    assert_eq!(merge.len(), 9, "{merge:?}");
    let merge: Vec<&str> = merge.iter().map(String::as_str).collect();
    let (code, merged, stderr) = npfl138(work.path(), &merge);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(merged, csv);

    // A rerun reuses the results newer than the submissions (dave would take 2 x 6 s again).
    let start = std::time::Instant::now();
    let (code, stdout, _) = npfl138(work.path(), &args_for_rerun());
    assert_eq!(code, 0, "{stdout}");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(all.join("gradebook.csv")).unwrap(),
        csv
    );
}

fn args_for_rerun() -> Vec<&'static str> {
    let mut args = vec!["grade", "numpy_entropy", "submissions", "--out", "all"];
    args.extend(GRADE);
    args
}

#[test]
fn grade_bad_input() {
    let work = tempfile::tempdir().unwrap();
    let (code, _, stderr) = npfl138(work.path(), &["grade", "numpy_entropy", "missing"]);
    assert_eq!(code, 2);
    assert!(stderr.starts_with("npfl138: error: missing"), "{stderr}");
    let (code, _, stderr) = npfl138(
        work.path(),
        &["grade", "numpy_entropy", ".", "--shard", "3/2"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("not a shard like 1/4"), "{stderr}");
    std::fs::write(work.path().join("x.json"), "{}").unwrap();
    let (code, _, stderr) = npfl138(work.path(), &["gradebook", "x.json"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not an npfl138 result"), "{stderr}");
}
