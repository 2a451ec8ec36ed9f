//! An installed `npfl138` whose project folder is gone still finds the course's numpy_entropy
//! files: it downloads them once from the course's repository into the cache (here a real HTTP
//! server on 127.0.0.1 serving the course's files), each checked before it is renamed into place,
//! and later runs use the cache without the network. A failing download leaves nothing behind and
//! the check is INCOMPLETE, never PASSED.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::{binary, verdicts};

/// Serves `files` (name -> contents) at `/<name>` with 404 for anything else, until `count`
/// requests were answered; returns the base URL and the number of requests seen.
fn serve(files: Vec<(String, Vec<u8>)>, count: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let seen_in = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(count) {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            reader.read_line(&mut line).unwrap();
            // Skip the headers.
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            seen_in.fetch_add(1, Ordering::SeqCst);
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let name = path.trim_start_matches('/');
            match files.iter().find(|(n, _)| n == name) {
                Some((_, body)) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(body);
                }
                None => {
                    let _ = stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    (url, seen)
}

/// The course's files, or `None` (skipping unless `NPFL138_REQUIRE_DATA=1`).
fn course_files() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = npfl138::cases::DataPaths::from_env().course;
    let names: Vec<String> = (1..=4)
        .flat_map(|n| {
            [
                format!("numpy_entropy_data_{n}.txt"),
                format!("numpy_entropy_model_{n}.txt"),
            ]
        })
        .collect();
    if !dir.join(&names[0]).is_file() {
        crate::support::missing(
            "the course download tests",
            format!("{} has no course files", dir.display()),
        );
        return None;
    }
    Some(
        names
            .into_iter()
            .map(|n| {
                let body = std::fs::read(dir.join(&n)).unwrap();
                (n, body)
            })
            .collect(),
    )
}

/// `npfl138` as an installed checker runs: no project data beside it (`NPFL138_SHARED_DATA`
/// points nowhere), `NPFL_CACHE` as given, loopback servers reached directly whatever proxy the
/// machine names.
fn installed(cache: &Path) -> std::process::Command {
    let mut cmd = crate::support::npfl138();
    cmd.env("NPFL138_SHARED_DATA", "/nonexistent/shared")
        .env_remove("NPFL138_COURSE_DATA")
        .env("NPFL_CACHE", cache);
    for proxy in ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"] {
        cmd.env_remove(proxy);
    }
    cmd
}

/// `npfl138 check numpy_entropy --seed 7 -- OUR_BINARY` as an installed checker would run it:
/// no project data beside it (`NPFL138_SHARED_DATA` points nowhere), `NPFL_CACHE` as given.
fn check(cache: &Path, url: &str) -> (i32, String, String) {
    let bin: PathBuf = binary("numpy_entropy");
    let out = installed(cache)
        .args(["check", "numpy_entropy", "--seed", "7", "--"])
        .arg(&bin)
        .env("NPFL138_COURSE_URL", url)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn course_files_are_downloaded_once_into_the_cache() {
    let Some(files) = course_files() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    let (url, seen) = serve(files.clone(), 8);
    let (code, report, stderr) = check(cache.path(), &url);
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert!(verdicts(&report).iter().all(|(_, v)| v == "OK"), "{report}");
    assert_eq!(seen.load(Ordering::SeqCst), 8, "{stderr}");
    assert!(
        stderr.contains("npfl138: downloading numpy_entropy_data_1.txt from http://127.0.0.1:"),
        "{stderr}"
    );
    let kept = cache.path().join("npfl138-course");
    for (name, body) in &files {
        assert_eq!(&std::fs::read(kept.join(name)).unwrap(), body, "{name}");
    }
    // Again, with no server at all: the cache is used.
    let (code, report, stderr) = check(cache.path(), "http://127.0.0.1:1");
    assert_eq!(code, 0, "{report}\n{stderr}");
    assert!(!stderr.contains("downloading"), "{stderr}");
}

#[test]
fn a_failing_download_leaves_nothing_and_the_check_is_incomplete() {
    let Some(mut files) = course_files() else {
        return;
    };
    let cache = tempfile::tempdir().unwrap();
    // The server lacks model 2 (404) and serves a broken model 1 (no tab): neither is kept.
    files.retain(|(n, _)| n != "numpy_entropy_model_2.txt");
    for (n, body) in &mut files {
        if n == "numpy_entropy_model_1.txt" {
            *body = b"A 0.5\nB 0.5\n".to_vec();
        }
    }
    let (url, _) = serve(files, 2);
    let (code, report, stderr) = check(cache.path(), &url);
    assert_eq!(code, 3, "{report}\n{stderr}");
    assert!(report.trim_end().contains("INCOMPLETE"), "{report}");
    assert!(
        stderr.contains("npfl138: warning: the course's files are not available: ")
            && stderr.contains("numpy_entropy_model_1.txt"),
        "{stderr}"
    );
    let kept: Vec<String> = std::fs::read_dir(cache.path().join("npfl138-course"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        kept,
        ["numpy_entropy_data_1.txt"],
        "only the good file stays"
    );
}

#[test]
fn the_course_s_mnist_is_downloaded_for_an_installed_checker() {
    // The stand-in's bytes pose as the course's mnist.npz on the server: the point is where the
    // file comes from and that the course's cases then run (not SKIPPED), not their verdict.
    if !crate::support::have_stand_in("the_course_s_mnist_is_downloaded_for_an_installed_checker") {
        return;
    }
    let npz = npfl138::cases::DataPaths::from_env()
        .shared
        .join("mnist_npm10k.npz");
    let body = std::fs::read(&npz).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (url, seen) = serve(vec![("mnist.npz".to_owned(), body.clone())], 1);
    let run = |url: &str| {
        let out = installed(cache.path())
            .args(["check", "pca_first", "--case", "test_1", "--"])
            .arg(binary("pca_first"))
            .env("NPFL_DATASETS_URL", url)
            .output()
            .unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (report, stderr) = run(&url);
    assert_eq!(seen.load(Ordering::SeqCst), 1, "{stderr}");
    assert!(
        stderr.contains("npfl138: downloading mnist.npz from http://127.0.0.1:"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(cache.path().join("mnist.npz")).unwrap(), body);
    let v = verdicts(&report);
    assert_eq!(v.len(), 1, "{report}");
    assert_ne!(v[0].1, "SKIPPED", "{report}");
    // Again without a server: the cached file is used.
    let (report, stderr) = run("http://127.0.0.1:1");
    assert!(!stderr.contains("downloading"), "{stderr}");
    assert_ne!(verdicts(&report)[0].1, "SKIPPED", "{report}");
}

#[test]
fn a_rejected_submission_downloads_nothing() {
    // A submission with no `def main(` runs no case, so an installed checker fetches nothing for
    // it: the server counts every request, and the cache stays empty.
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.py"), "print(1)\n").unwrap();
    let (url, seen) = serve(Vec::new(), 1);
    let out = installed(cache.path())
        .args(["check", "numpy_entropy", "--seed", "7"])
        .arg(dir.path())
        .env("NPFL138_COURSE_URL", &url)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{report}\n{stderr}");
    assert!(report.contains("submission rejected: "), "{report}");
    assert!(report.trim_end().ends_with("REJECTED"), "{report}");
    assert!(!stderr.contains("downloading"), "{stderr}");
    assert_eq!(seen.load(Ordering::SeqCst), 0, "{stderr}");
    assert!(!cache.path().join("npfl138-course").exists());
}
