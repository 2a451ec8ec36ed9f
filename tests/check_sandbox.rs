//! `npfl138 check` against hostile solutions, each a real process run through the real runner:
//! every one gets its verdict, and nothing it starts or writes outlives the check (no process, no
//! temporary directory, no file outside the case's directory). Then ReCodEx's submission mode:
//! the 20 files / 20 MB rule, exactly one `def main(`, the `parser`, the returned value.
//!
//! Where the machine does not give an isolation (no PID or network namespace, no Landlock), the
//! report's `limits:` header says so, and the test checks that the header says so instead of the
//! refusal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{FIXTURES, python_with_numpy, verdicts};

/// A checker run: its own scratch `TMPDIR` (checked empty afterwards) and the command line.
struct Checker {
    tmp: tempfile::TempDir,
    cwd: tempfile::TempDir,
}

impl Checker {
    fn new() -> Checker {
        Checker {
            tmp: tempfile::tempdir().unwrap(),
            cwd: tempfile::tempdir().unwrap(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = crate::support::npfl138();
        cmd.current_dir(self.cwd.path())
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .env_remove("NPFL_CACHE")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `npfl138 ARGS` and returns its output, after checking that its temporary files are gone.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("npfl138 runs");
        self.assert_clean();
        out
    }

    fn assert_clean(&self) {
        let left: Vec<PathBuf> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The report's `limits:` line.
fn limits_line(report: &str) -> &str {
    report
        .lines()
        .find(|l| l.starts_with("limits: "))
        .unwrap_or_else(|| panic!("no limits line in {report}"))
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = text(&cmdline).replace('\0', " ");
            cmdline.contains(marker).then_some(cmdline)
        })
        .collect()
}

/// One case of numpy_entropy with the solution `sh -c SCRIPT` (the case's arguments follow).
fn check_sh(checker: &Checker, extra: &[&str], script: &str) -> (i32, String) {
    let mut args = vec![
        "check",
        "numpy_entropy",
        "--case",
        "hidden_3",
        "--seed",
        "7",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script, "sh"]);
    let out = checker.run(&args);
    (
        out.status.code().unwrap(),
        text(&out.stdout) + &text(&out.stderr),
    )
}

fn verdict(report: &str) -> String {
    verdicts(report)
        .first()
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no verdict in {report}"))
}

#[test]
fn a_memory_hog_gets_memory() {
    let c = Checker::new();
    // 3 GB really touched (a bytes object of 3 GB is written in full).
    let (code, report) = check_sh(
        &c,
        &[],
        "python3 -c 'b = b\"x\" * (3 << 30); print(len(b))'",
    );
    assert_eq!(verdict(&report), "MEMORY", "{report}");
    assert_eq!(code, 1, "{report}");
    assert!(report.contains("more than 1.5 GiB of memory"), "{report}");
    // A lower limit is honoured too.
    let (_, report) = check_sh(
        &c,
        &["--memory-limit", "100M"],
        "python3 -c 'b = b\"x\" * (300 << 20); print(len(b))'",
    );
    assert_eq!(verdict(&report), "MEMORY", "{report}");
}

/// Runs the checker on `script` and returns (report, the checker's own peak resident memory in
/// KiB, read from its /proc/<pid>/status while it runs).
fn checker_peak(c: &Checker, script: &str) -> (String, u64) {
    let child = c
        .command(&[
            "check",
            "numpy_entropy",
            "--case",
            "hidden_3",
            "--seed",
            "7",
            "--",
            "sh",
            "-c",
            script,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let reader = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !reader.is_finished() {
        if let Some(kb) = std::fs::read_to_string(&status).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        }) {
            peak = peak.max(kb);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = reader.join().unwrap();
    c.assert_clean();
    (text(&out.stdout) + &text(&out.stderr), peak)
}

#[test]
fn floods_of_output_get_output_and_stay_small() {
    let c = Checker::new();
    // 1 GB of lines.
    let (report, peak_kib) = checker_peak(&c, "yes 'Entropy: 0.96 nats' | head -c 1000000000");
    assert_eq!(verdict(&report), "OUTPUT", "{report}");
    assert!(
        peak_kib > 0 && peak_kib < 100 * 1024,
        "checker peak {peak_kib} KiB"
    );
    // 200 MB without a newline: the report echoes a few hundred bytes at most.
    let (report, peak_kib) = checker_peak(&c, "head -c 200000000 /dev/zero | tr '\\0' 'x'");
    assert_eq!(verdict(&report), "OUTPUT", "{report}");
    assert!(peak_kib < 100 * 1024, "checker peak {peak_kib} KiB");
    assert!(report.len() < 4000, "{} bytes of report", report.len());
    // Just under the limit is fine (and compared): a wrong answer, not an output verdict.
    let (_, report) = check_sh(
        &c,
        &["--output-limit", "1M"],
        "head -c 500000 /dev/zero | tr '\\0' 'x'",
    );
    assert_eq!(verdict(&report), "WRONG", "{report}");
    assert!(
        report.contains("bytes in all)"),
        "the long line is abbreviated: {report}"
    );
}

#[test]
fn a_sleeper_gets_timeout_and_escapees_die() {
    let c = Checker::new();
    let marker = format!("npfl138sleeper{}", std::process::id());
    // A plain sleeper, a setsid'ed child and a double-forked grandchild, each marked.
    let script = format!(
        "setsid bash -c 'exec -a {marker}a sleep 300' & (bash -c 'exec -a {marker}b sleep 300' &) ; echo 'Entropy: 4.1 nats'; exec bash -c 'exec -a {marker}c sleep 300'"
    );
    let start = Instant::now();
    let (code, report) = check_sh(&c, &["--time-limit", "1"], &script);
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(verdict(&report), "TIMEOUT", "{report}");
    assert_eq!(code, 1);
    assert!(report.contains("time limit of 1.00s"), "{report}");
    // The partial output is shown.
    assert!(
        report.contains("    last stdout line before: Entropy: 4.1 nats"),
        "{report}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(processes_with(&marker), Vec::<String>::new(), "{report}");

    // The same escapees from a solution that exits at once (a normal exit, not a timeout).
    let script = format!(
        "setsid bash -c 'exec -a {marker}d sleep 300' & (bash -c 'exec -a {marker}e sleep 300' &) ; sleep 0.3; echo done"
    );
    let (_, report) = check_sh(&c, &[], &script);
    assert_eq!(verdict(&report), "WRONG", "{report}");
    std::thread::sleep(Duration::from_millis(300));
    let left = processes_with(&marker);
    if limits_line(&report).contains("(pid namespace)") {
        assert_eq!(left, Vec::<String>::new(), "{report}");
    } else {
        // Without a PID namespace a setsid'ed process is still tracked by its parent.
        eprintln!("no PID namespace here: {left:?}");
    }
}

#[test]
fn interrupting_the_checker_kills_the_solution_and_removes_its_directory() {
    for signal in ["INT", "TERM"] {
        let c = Checker::new();
        let marker = format!("npfl138interrupt{signal}{}", std::process::id());
        let child = c
            .command(&[
                "check",
                "numpy_entropy",
                "--case",
                "hidden_3",
                "--seed",
                "7",
                "--",
                "bash",
                "-c",
                // Spelt so that the checker's own command line does not contain the marker.
                &format!(
                    "m=npfl138interrupt; exec -a ${{m}}{signal}{} sleep 300",
                    std::process::id()
                ),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while processes_with(&marker).is_empty() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the solution never started"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            std::fs::read_dir(c.tmp.path()).unwrap().count() > 0,
            "no case directory while running"
        );
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        if status.is_err() {
            // No `kill` program: signal through /proc-free means is not worth a dependency here.
            nix_free_kill(child.id(), signal);
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("interrupted"),
            "{}",
            text(&out.stderr)
        );
        assert_eq!(processes_with(&marker), Vec::<String>::new());
        c.assert_clean();
    }
}

/// Sends a signal with Python when there is no `kill` program.
fn nix_free_kill(pid: u32, signal: &str) {
    let status = Command::new("python3")
        .args([
            "-c",
            &format!("import os, signal; os.kill({pid}, signal.SIG{signal})"),
        ])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn the_network_is_off() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = Checker::new();
    let script = format!(
        "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=5); print(\"connected\")'"
    );
    let (_, report) = check_sh(&c, &[], &script);
    let limits = limits_line(&report);
    if limits.contains("network off") || limits.contains("TCP off") {
        assert_eq!(verdict(&report), "CRASH", "{report}");
        assert!(
            report.contains("Network is unreachable")
                || report.contains("Permission denied")
                || report.contains("refused"),
            "{report}"
        );
    } else {
        assert!(limits.contains("network OPEN"), "{limits}");
    }
    // --allow-network lets it through.
    let (_, report) = check_sh(&c, &["--allow-network"], &script);
    assert_eq!(verdict(&report), "WRONG", "{report}");
    assert!(report.contains("| connected"), "{report}");
}

#[test]
fn writes_outside_the_case_directory_are_refused() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("written.txt");
    let c = Checker::new();
    let script = format!(
        "echo inside > inside.txt && cat inside.txt && echo x > {}",
        target.display()
    );
    let (_, report) = check_sh(&c, &[], &script);
    if limits_line(&report).contains("writes confined") {
        assert!(!target.exists(), "{report}");
        assert_eq!(verdict(&report), "CRASH", "{report}");
        assert!(report.contains("Permission denied"), "{report}");
    } else {
        assert!(
            limits_line(&report).contains("writes NOT confined"),
            "{report}"
        );
    }
}

#[test]
fn a_fork_bomb_gets_processes() {
    let c = Checker::new();
    let marker = format!("npfl138fork{}", std::process::id());
    let script = format!(
        "python3 -c 'import os, time\nfor i in range(500):\n    if os.fork() == 0:\n        os.execlp(\"sh\", \"{marker}\", \"-c\", \"sleep 60\")\ntime.sleep(60)'"
    );
    let (code, report) = check_sh(&c, &[], &script);
    assert_eq!(verdict(&report), "PROCESSES", "{report}");
    assert_eq!(code, 1);
    assert!(report.contains("more than 64 processes"), "{report}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(processes_with(&marker), Vec::<String>::new());
}

#[test]
fn nan_and_inf_are_compared_as_such() {
    let c = Checker::new();
    let (_, report) = check_sh(
        &c,
        &[],
        "printf 'Entropy: nan nats\\nCrossentropy: inf nats\\nKL divergence: inf nats\\n'",
    );
    assert_eq!(verdict(&report), "WRONG", "{report}");
    assert!(report.contains("nan instead of"), "{report}");
}

#[test]
fn strict_refuses_missing_isolation_or_runs() {
    let c = Checker::new();
    let out = c.run(&[
        "check",
        "numpy_entropy",
        "--case",
        "hidden_3",
        "--seed",
        "7",
        "--strict",
        "--",
        "true",
    ]);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    if out.status.code() == Some(2) {
        assert!(stderr.starts_with("npfl138: error: --strict: "), "{stderr}");
    } else {
        let limits = limits_line(&stdout);
        assert!(
            limits.contains("(pid namespace)") && limits.contains("writes confined"),
            "{limits}"
        );
    }
}

// ReCodEx's submission mode.

/// Writes `files` (name, contents) into a fresh folder.
fn submission(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        std::fs::write(dir.path().join(name), contents).unwrap();
    }
    dir
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(Path::new(FIXTURES).join(name)).unwrap()
}

fn check_submission(c: &Checker, assignment: &str, path: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["check", assignment];
    args.push(path.to_str().unwrap());
    args.extend_from_slice(extra);
    let out = c.run(&args);
    (
        out.status.code().unwrap(),
        text(&out.stdout) + &text(&out.stderr),
    )
}

#[test]
fn a_numpy_submission_passes_in_recodex_mode() {
    let Some(_) = python_with_numpy("a_numpy_submission_passes_in_recodex_mode") else {
        return;
    };
    let c = Checker::new();
    let dir = submission(&[("numpy_entropy.py", fixture("numpy_entropy.py"))]);
    let (_, report) = check_submission(&c, "numpy_entropy", dir.path(), &["--seed", "7"]);
    let v = verdicts(&report);
    assert!(
        v.iter().all(|(_, w)| w == "OK" || w == "SKIPPED"),
        "{report}"
    );
    assert!(v.iter().filter(|(_, w)| w == "OK").count() >= 2, "{report}");
    assert!(report.contains("imported as __recodex__"), "{report}");
    // The single file works the same.
    let (_, report) = check_submission(
        &c,
        "numpy_entropy",
        &dir.path().join("numpy_entropy.py"),
        &["--seed", "7", "--case", "hidden_4"],
    );
    assert_eq!(verdict(&report), "OK", "{report}");
}

#[test]
fn a_numpy_pca_first_submission_passes_in_recodex_mode() {
    let Some(_) = python_with_numpy("a_numpy_pca_first_submission_passes_in_recodex_mode") else {
        return;
    };
    if !crate::support::have_stand_in("a_numpy_pca_first_submission_passes_in_recodex_mode") {
        return;
    }
    let c = Checker::new();
    let dir = submission(&[("pca_first.py", fixture("pca_first.py"))]);
    let (code, report) = check_submission(&c, "pca_first", dir.path(), &[]);
    assert_eq!(
        verdicts(&report).iter().filter(|(_, w)| w == "OK").count(),
        3,
        "{report}"
    );
    assert_eq!(code, 0, "{report}");
}

/// Checks a one-file numpy_entropy submission holding `contents` on hidden test 3.
fn check_on_hidden_3(c: &Checker, contents: &str) -> (i32, String) {
    let dir = submission(&[("numpy_entropy.py", contents.to_owned())]);
    check_submission(
        c,
        "numpy_entropy",
        dir.path(),
        &["--seed", "7", "--case", "hidden_3"],
    )
}

#[test]
fn returned_values_are_what_is_checked() {
    let Some(_) = python_with_numpy("returned_values_are_what_is_checked") else {
        return;
    };
    let c = Checker::new();
    let template = fixture("numpy_entropy.py");
    // Prints the right numbers but returns a wrong one: WRONG, naming the value.
    let wrong = template.replace(
        "return float(entropy), float(crossentropy), float(kl_divergence)",
        "print(f\"Entropy: {entropy:.2f} nats\")\n    return float(entropy) * 2, float(crossentropy), float(kl_divergence)",
    );
    assert_ne!(wrong, template);
    let (code, report) = check_on_hidden_3(&c, &wrong);
    assert_eq!(verdict(&report), "WRONG", "{report}");
    assert_eq!(code, 1);
    assert!(report.contains("Entropy: main returned"), "{report}");
    assert!(
        report.contains("    it printed (not compared): Entropy: 4.13 nats"),
        "{report}"
    );

    // All the logic under `__main__`: main exists but returns nothing.
    let main_only = "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--data_path')\nparser.add_argument('--model_path')\n\ndef main(args):\n    pass\n\nif __name__ == '__main__':\n    print('Entropy: 0.96 nats')\n";
    let (_, report) = check_on_hidden_3(&c, main_only);
    assert_eq!(verdict(&report), "WRONG", "{report}");
    assert!(report.contains("main returned None"), "{report}");

    // No `parser` at module level (it is made under `__main__`).
    let no_parser = "import argparse\n\ndef main(args):\n    return 1, 2, 3\n\nif __name__ == '__main__':\n    parser = argparse.ArgumentParser()\n    main(parser.parse_args())\n";
    let (_, report) = check_on_hidden_3(&c, no_parser);
    assert_eq!(verdict(&report), "CRASH", "{report}");
    assert!(
        report.contains("npfl138 recodex: numpy_entropy.py has no module-level `parser`"),
        "{report}"
    );
}

#[test]
fn submissions_breaking_recodex_rules_are_rejected() {
    let c = Checker::new();
    let main = "def main(args):\n    return 0\n".to_owned();
    let two = submission(&[("a.py", main.clone()), ("b.py", main.clone())]);
    let (code, report) = check_submission(&c, "numpy_entropy", two.path(), &["--seed", "7"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("submission rejected: ")
            && report.contains("2 files have a line starting with `def main(` (a.py, b.py)"),
        "{report}"
    );
    assert!(report.trim_end().ends_with("REJECTED"), "{report}");

    let none = submission(&[("a.py", "print(1)\n".to_owned())]);
    let (code, report) = check_submission(&c, "numpy_entropy", none.path(), &["--seed", "7"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("no .py file has a line starting with `def main(`"),
        "{report}"
    );

    let many: Vec<(String, String)> = (0..21)
        .map(|i| (format!("f{i}.txt"), "x".to_owned()))
        .collect();
    let many: Vec<(&str, String)> = many.iter().map(|(n, t)| (n.as_str(), t.clone())).collect();
    let dir = submission(&many);
    std::fs::write(dir.path().join("f0.py"), &main).unwrap();
    let (code, report) = check_submission(&c, "numpy_entropy", dir.path(), &["--seed", "7"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("22 files; ReCodEx accepts at most 20"),
        "{report}"
    );

    let big = submission(&[
        ("a.py", main.clone()),
        ("weights.bin", "x".repeat(25 << 20)),
    ]);
    let (code, report) = check_submission(&c, "numpy_entropy", big.path(), &["--seed", "7"]);
    assert_eq!(code, 1, "{report}");
    assert!(
        report.contains("ReCodEx accepts at most 20971520 (20 MiB) in all"),
        "{report}"
    );
}

#[test]
fn json_and_junit_results() {
    let c = Checker::new();
    let json_path = c.cwd.path().join("result.json");
    let junit_path = c.cwd.path().join("junit.xml");
    let out = c.run(&[
        "check",
        "numpy_entropy",
        "--seed",
        "7",
        "--case",
        "hidden_3",
        "--case",
        "hidden_4",
        "--json",
        json_path.to_str().unwrap(),
        "--junit",
        junit_path.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "echo 'Entropy: 9.99 nats'",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(json["status"], "FAILED");
    assert_eq!(json["seed"], 7);
    assert_eq!(json["cases"].as_array().unwrap().len(), 2);
    assert_eq!(json["cases"][0]["verdict"], "WRONG");
    assert!(
        json["limits"]["description"]
            .as_str()
            .unwrap()
            .starts_with("limits: ")
    );
    assert!(json["cases"][0]["peak_memory_bytes"].is_u64());
    let junit = std::fs::read_to_string(&junit_path).unwrap();
    assert!(
        junit.contains("<testsuite name=\"npfl138 check numpy_entropy\""),
        "{junit}"
    );
    assert!(
        junit.contains("<failure") && junit.contains("type=\"WRONG\""),
        "{junit}"
    );

    // `--json -`: the JSON alone on stdout, the text report on stderr.
    let out = c.run(&[
        "check",
        "numpy_entropy",
        "--seed",
        "7",
        "--case",
        "hidden_3",
        "--json",
        "-",
        "--",
        "true",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["cases"][0]["name"], "hidden_3");
    assert!(text(&out.stderr).contains("hidden_3   WRONG"));

    let out = c.run(&["check", "numpy_entropy", "--case", "nope", "--", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--case nope: numpy_entropy has no such case"));
}

#[test]
fn an_unprivileged_checker_still_kills_escapees() {
    // As a normal user there is no PID namespace: the checker adopts orphans (a child subreaper)
    // and tracks the tree from /proc. Run it as `nobody` through setpriv (only root can).
    if !nix_is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        crate::support::missing(
            "an_unprivileged_checker_still_kills_escapees",
            "running the checker as another user needs root and setpriv",
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut perms = std::fs::metadata(tmp.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
    std::fs::set_permissions(tmp.path(), perms).unwrap();
    let marker = format!("npfl138nobody{}", std::process::id());
    for (script, expected) in [
        (
            format!(
                "m={marker}; setsid bash -c \"exec -a ${{m}}a sleep 300\" & (bash -c \"exec -a ${{m}}b sleep 300\" &) ; sleep 0.2; echo done"
            ),
            "WRONG",
        ),
        (
            format!(
                "m={marker}; setsid bash -c \"exec -a ${{m}}c sleep 300\" & (bash -c \"exec -a ${{m}}d sleep 300\" &) ; sleep 300"
            ),
            "TIMEOUT",
        ),
    ] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_npfl138"))
            .args([
                "check",
                "numpy_entropy",
                "--seed",
                "7",
                "--case",
                "hidden_3",
                "--time-limit",
                "1",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .current_dir(tmp.path())
            .env("TMPDIR", tmp.path())
            .env_remove("NPFL_CACHE")
            .env("NPFL_DATASETS_URL", crate::support::NO_DOWNLOADS)
            .env("NPFL138_COURSE_URL", crate::support::NO_DOWNLOADS)
            .output()
            .unwrap();
        let report = text(&out.stdout) + &text(&out.stderr);
        assert!(
            limits_line(&report).contains("(tracked from /proc, orphans adopted)"),
            "{report}"
        );
        assert_eq!(verdict(&report), expected, "{report}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(processes_with(&marker), Vec::<String>::new(), "{report}");
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}
