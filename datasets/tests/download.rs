//! The downloader against a real HTTP server on 127.0.0.1: success, and every fault of issue 3.
//! After each failure neither `mnist.npz` nor a partial file is left, and the message tells an
//! offline user what to do.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use datasets::{DatasetError, DownloadEvent, DownloadOptions, MNIST_FILE, Mnist, Sizes, fetch};
use support::server::{self, Server};

fn options() -> DownloadOptions {
    DownloadOptions {
        stall_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(10),
        use_system_proxy: false,
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Started(String),
    Connected(Option<u64>),
    Progress(u64),
    Finished(bool),
}

fn run(
    dir: &Path,
    base_url: &str,
    options: &DownloadOptions,
) -> (Result<std::path::PathBuf, DatasetError>, Vec<Seen>) {
    let mut seen = Vec::new();
    let result = fetch(dir, base_url, MNIST_FILE, options, &mut |event| {
        seen.push(match event {
            DownloadEvent::Started { file, url } => {
                assert_eq!(url, format!("{}/{file}", base_url.trim_end_matches('/')));
                Seen::Started(file.to_string())
            }
            DownloadEvent::Connected { total } => Seen::Connected(total),
            DownloadEvent::Progress { downloaded } => Seen::Progress(downloaded),
            DownloadEvent::Finished { success } => Seen::Finished(success),
            other => panic!("unexpected event {other:?}"),
        })
    });
    (result, seen)
}

/// Fails unless the error is a download error with the offline hint, and the directory is empty.
fn assert_clean_failure(
    result: Result<std::path::PathBuf, DatasetError>,
    dir: &Path,
    expected: &str,
) -> String {
    let err = result.expect_err("the download must fail");
    let message = err.to_string();
    assert!(matches!(err, DatasetError::Download { .. }), "{message}");
    assert!(message.contains(expected), "`{expected}` not in: {message}");
    for hint in [
        "NPFL_CACHE",
        "NPFL_DATASETS_URL",
        "--dataset fashion_mnist",
        "mnist.npz",
    ] {
        assert!(message.contains(hint), "`{hint}` not in: {message}");
    }
    assert!(!message.contains('\n'), "one line: {message}");
    if dir.is_dir() {
        assert_eq!(
            support::listing(dir),
            Vec::<String>::new(),
            "left behind after: {message}"
        );
    }
    message
}

#[test]
fn downloads_validates_and_renames_with_content_length() {
    let body = support::course_npz_bytes();
    let len = body.len() as u64;
    let server = Server::start(vec![server::respond("200 OK", true, body.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let (result, seen) = run(dir.path(), &server.base_url(), &options());
    let path = result.unwrap();
    assert_eq!(path, dir.path().join(MNIST_FILE));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(support::listing(dir.path()), vec![MNIST_FILE.to_string()]);
    assert_eq!(
        server.requests.lock().unwrap().as_slice(),
        ["GET /datasets/mnist.npz HTTP/1.1"]
    );
    assert_eq!(seen.first(), Some(&Seen::Started(MNIST_FILE.to_string())));
    assert_eq!(seen.get(1), Some(&Seen::Connected(Some(len))));
    assert_eq!(seen.get(seen.len() - 2), Some(&Seen::Progress(len)));
    assert_eq!(seen.last(), Some(&Seen::Finished(true)));
    let mnist = Mnist::from_npz(&path, Sizes::default()).unwrap();
    assert_eq!(
        (mnist.train.len(), mnist.dev.len(), mnist.test.len()),
        (5, 3, 4)
    );

    // A second call uses the cached file: no request, no event.
    let (again, seen) = run(dir.path(), &server.base_url(), &options());
    assert_eq!(again.unwrap(), path);
    assert!(seen.is_empty());
    assert_eq!(server.requests.lock().unwrap().len(), 1);
}

#[test]
fn downloads_without_content_length() {
    let body = support::course_npz_bytes();
    let server = Server::start(vec![server::respond("200 OK", false, body.clone())]);
    let dir = tempfile::tempdir().unwrap();
    let (result, seen) = run(dir.path(), &format!("{}/", server.base_url()), &options());
    assert_eq!(std::fs::read(result.unwrap()).unwrap(), body);
    assert_eq!(seen.get(1), Some(&Seen::Connected(None)));
    assert_eq!(seen.last(), Some(&Seen::Finished(true)));
}

#[test]
fn slow_but_steady_download_is_not_cut_by_the_stall_timeout() {
    // 12 pieces 100 ms apart take about 1.2 s in all, three times the 400 ms stall timeout.
    let body = support::course_npz_bytes();
    let server = Server::start(vec![server::trickle(
        body.clone(),
        12,
        Duration::from_millis(100),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let options = DownloadOptions {
        stall_timeout: Duration::from_millis(400),
        ..options()
    };
    let start = Instant::now();
    let (result, _) = run(dir.path(), &server.base_url(), &options);
    assert_eq!(std::fs::read(result.unwrap()).unwrap(), body);
    assert!(start.elapsed() > Duration::from_millis(1000));
}

#[test]
fn http_404() {
    let server = Server::start(vec![server::respond(
        "404 Not Found",
        true,
        b"no such file".to_vec(),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (result, seen) = run(dir.path(), &server.base_url(), &options());
    assert_clean_failure(result, dir.path(), "HTTP 404 Not Found");
    assert_eq!(seen.last(), Some(&Seen::Finished(false)));
}

#[test]
fn connection_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(dir.path(), &server::refused_base_url(), &options());
    let message = assert_clean_failure(result, dir.path(), "cannot download http://127.0.0.1:");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[test]
fn body_cut_short() {
    let body = support::course_npz_bytes();
    let half = body[..body.len() / 2].to_vec();
    let server = Server::start(vec![server::cut_short(body.len(), half)]);
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(dir.path(), &server.base_url(), &options());
    let message = assert_clean_failure(result, dir.path(), "bytes");
    assert!(
        message.contains("broke") || message.contains("cut short"),
        "{message}"
    );
}

#[test]
fn body_cut_short_without_content_length_fails_validation() {
    let body = support::course_npz_bytes();
    let half = body[..body.len() / 2].to_vec();
    let server = Server::start(vec![server::respond("200 OK", false, half)]);
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(dir.path(), &server.base_url(), &options());
    assert_clean_failure(result, dir.path(), "not a valid .npz file");
}

#[test]
fn server_that_stops_sending() {
    let body = support::course_npz_bytes();
    let server = Server::start(vec![server::stall(body, 1000, Duration::from_secs(5))]);
    let dir = tempfile::tempdir().unwrap();
    let options = DownloadOptions {
        stall_timeout: Duration::from_millis(500),
        ..options()
    };
    let start = Instant::now();
    let (result, _) = run(dir.path(), &server.base_url(), &options);
    let elapsed = start.elapsed();
    assert_clean_failure(
        result,
        dir.path(),
        "no data received for 0.5 s after 1000 bytes",
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[test]
fn server_that_never_answers() {
    let server = Server::start(vec![Box::new(|_| {
        std::thread::sleep(Duration::from_secs(5))
    })]);
    let dir = tempfile::tempdir().unwrap();
    let options = DownloadOptions {
        stall_timeout: Duration::from_millis(500),
        ..options()
    };
    let (result, _) = run(dir.path(), &server.base_url(), &options);
    assert_clean_failure(result, dir.path(), "no response within 0.5 s");
}

#[test]
fn corrupt_npz() {
    let body: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let server = Server::start(vec![server::respond("200 OK", true, body)]);
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(dir.path(), &server.base_url(), &options());
    assert_clean_failure(
        result,
        dir.path(),
        "the downloaded file is not a valid dataset",
    );
}

#[test]
fn npz_with_a_wrong_layout() {
    let mut arrays = support::course_arrays();
    arrays.retain(|(name, _)| name != "dev_labels");
    let server = Server::start(vec![server::respond(
        "200 OK",
        true,
        support::npz_bytes(&arrays),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(dir.path(), &server.base_url(), &options());
    assert_clean_failure(result, dir.path(), "missing key `dev_labels`");
}

#[test]
fn missing_cache_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let (result, seen) = run(&missing, &server::refused_base_url(), &options());
    assert_clean_failure(
        result,
        &missing,
        "does not exist (it is not created automatically)",
    );
    // Issue 12: nothing is announced (no "Downloading mnist.npz...") before this error.
    assert_eq!(seen, Vec::new());
    assert!(!missing.exists());
}

#[test]
fn cache_directory_that_is_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let (result, seen) = run(&file, &server::refused_base_url(), &options());
    assert_clean_failure(result, &file, "is not a directory");
    assert_eq!(seen, Vec::new(), "no download is announced");
}

#[test]
fn unwritable_cache_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // root ignores the permission bits: use /proc, which nobody can create files in.
    let target = if std::fs::File::create(locked.join("probe")).is_ok() {
        std::fs::remove_file(locked.join("probe")).unwrap();
        Path::new("/proc").to_path_buf()
    } else {
        locked.clone()
    };
    let (result, seen) = run(&target, &server::refused_base_url(), &options());
    assert_eq!(seen, Vec::new(), "no download is announced");
    let message = assert_clean_failure(
        result,
        Path::new("/nonexistent"),
        "cannot create a temporary file in",
    );
    assert!(message.contains(&target.display().to_string()), "{message}");
    assert!(!target.join(MNIST_FILE).exists());
    if target == locked {
        assert_eq!(support::listing(&locked), Vec::<String>::new());
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn https_uses_the_ring_provider_and_fails_cleanly_on_a_non_tls_server() {
    // Building the rustls client needs the ring provider (reqwest panics without one); the plain
    // HTTP answer to the TLS handshake must then be a clean error.
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}/datasets", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain");
    });
    let dir = tempfile::tempdir().unwrap();
    let (result, _) = run(dir.path(), &base, &options());
    let message = assert_clean_failure(result, dir.path(), "cannot download https://127.0.0.1:");
    assert!(
        message.contains("corrupt message"),
        "a TLS error: {message}"
    );
}
