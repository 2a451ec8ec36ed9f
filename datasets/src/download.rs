//! Downloading a dataset file into a cache directory, as the course's `downloader.py` does.
//!
//! The file is `<cache_dir>/<file>`. An existing file is used as is, without the network.
//! Otherwise `<base_url>/<file>` is fetched (reqwest blocking, rustls with the ring provider) into a
//! temporary `<file>.<random>.partial` in the cache directory, checked to be a valid `.npz` in the
//! course's layout, and only then renamed to `<file>`. After any failure neither the file nor the
//! temporary file exists, and the error says what an offline user can do.
//!
//! The library does not print: the caller receives [`DownloadEvent`]s and draws what it likes.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use crate::{DatasetError, Mnist, Sizes};

/// The course's dataset server (`labs/npfl138/datasets/mnist.py`).
pub const DEFAULT_BASE_URL: &str = "https://ufal.mff.cuni.cz/~straka/courses/npfl138/2526/datasets";
/// The file name of the course's MNIST.
pub const MNIST_FILE: &str = "mnist.npz";

/// Network settings of [`fetch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadOptions {
    /// The download fails when no byte arrives for this long (also the limit for the response
    /// headers). It is not a limit on the whole download. Default 30 s.
    pub stall_timeout: Duration,
    /// Limit for establishing the connection. Default 30 s.
    pub connect_timeout: Duration,
    /// Honour `HTTP(S)_PROXY`/`ALL_PROXY` (reqwest's system proxy support). Default `true`;
    /// tests against 127.0.0.1 turn it off.
    pub use_system_proxy: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            stall_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(30),
            use_system_proxy: true,
        }
    }
}

/// What [`fetch`] reports while it works, so that a binary can print `Downloading mnist.npz...`
/// and draw a byte progress bar. Nothing is reported when the file is already cached, nor when the
/// cache directory cannot hold a download (missing, not a directory, not writable): that error comes
/// before any announcement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadEvent<'a> {
    /// The file is absent and will be downloaded (the course prints `Downloading <file>...`).
    Started {
        /// The file name, e.g. `mnist.npz`.
        file: &'a str,
        /// The full URL.
        url: &'a str,
    },
    /// The server answered with success; `total` is its `Content-Length`, if any.
    Connected {
        /// The announced size in bytes.
        total: Option<u64>,
    },
    /// `downloaded` bytes have been received so far.
    Progress {
        /// Bytes received so far.
        downloaded: u64,
    },
    /// The download ended (always sent after `Started`); `success` is `false` on any error.
    Finished {
        /// Whether the file is now in place.
        success: bool,
    },
}

/// Returns `<cache_dir>/<file>`, downloading `<base_url>/<file>` there first when it does not exist.
///
/// The cache directory is not created (as in the course). The downloaded file must read as a valid
/// `.npz` in the course's layout ([`Mnist::from_npz`]) before it is renamed into place.
pub fn fetch(
    cache_dir: &Path,
    base_url: &str,
    file: &str,
    options: &DownloadOptions,
    on_event: &mut dyn FnMut(DownloadEvent<'_>),
) -> Result<PathBuf, DatasetError> {
    let valid_npz = |path: &Path| {
        Mnist::from_npz(path, Sizes::default())
            .map(drop)
            .map_err(|e| format!("the downloaded file is not a valid dataset: {e}"))
    };
    fetch_checked(cache_dir, base_url, file, options, &valid_npz, on_event)
}

/// [`fetch`] for any file: the download must pass `check` (given the temporary file's path; its
/// `Err` is the reason) before it is renamed into place, with the same atomic-write and clean-up
/// rules.
pub fn fetch_checked(
    cache_dir: &Path,
    base_url: &str,
    file: &str,
    options: &DownloadOptions,
    check: &dyn Fn(&Path) -> Result<(), String>,
    on_event: &mut dyn FnMut(DownloadEvent<'_>),
) -> Result<PathBuf, DatasetError> {
    let dst = cache_dir.join(file);
    if dst.exists() {
        return Ok(dst);
    }
    let url = format!("{}/{file}", base_url.trim_end_matches('/'));
    let failed = |reason| DatasetError::Download {
        url: url.clone(),
        path: dst.clone(),
        reason,
    };
    // The cache directory must be usable before the download is announced: a temporary file in it
    // proves that it exists, is a directory and is writable.
    let tmp = temporary_file(cache_dir, file).map_err(failed)?;
    on_event(DownloadEvent::Started { file, url: &url });
    let result = download(tmp, &url, &dst, options, check, on_event);
    on_event(DownloadEvent::Finished {
        success: result.is_ok(),
    });
    result.map(|()| dst.clone()).map_err(failed)
}

/// Installs rustls' ring crypto provider once per process (reqwest is built without a provider).
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An error means that a provider is already installed, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The error and its sources, joined with `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

fn is_timeout(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
            .is_some_and(reqwest::Error::is_timeout)
}

/// A temporary `<file>.<random>.partial` in `cache_dir`, deleted when dropped (on every error path,
/// and on panics); an error says why the directory cannot hold the download.
fn temporary_file(cache_dir: &Path, file: &str) -> Result<tempfile::NamedTempFile, String> {
    if cache_dir.exists() && !cache_dir.is_dir() {
        return Err(format!(
            "the cache directory {} is not a directory",
            cache_dir.display()
        ));
    }
    if !cache_dir.is_dir() {
        return Err(format!(
            "the cache directory {} does not exist (it is not created automatically)",
            cache_dir.display()
        ));
    }
    let name = Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&format!("{name}."))
        .suffix(".partial")
        .tempfile_in(cache_dir)
        .map_err(|e| {
            format!(
                "cannot create a temporary file in {}: {e}",
                cache_dir.display()
            )
        })
}

fn download(
    tmp: tempfile::NamedTempFile,
    url: &str,
    dst: &Path,
    options: &DownloadOptions,
    check: &dyn Fn(&Path) -> Result<(), String>,
    on_event: &mut dyn FnMut(DownloadEvent<'_>),
) -> Result<(), String> {
    install_crypto_provider();
    // reqwest's blocking timeout applies to each wait separately (the response headers, then each
    // read of the body), so it is a stall timeout, not a limit on the whole download.
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(options.stall_timeout)
        .connect_timeout(options.connect_timeout)
        .user_agent(concat!("npfl138-rs/", env!("CARGO_PKG_VERSION")));
    if !options.use_system_proxy {
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {}", chain(&e)))?;
    let mut response = client.get(url).send().map_err(|e| {
        if e.is_timeout() {
            format!(
                "no response within {} s: {}",
                options.stall_timeout.as_secs_f64(),
                chain(&e)
            )
        } else {
            chain(&e)
        }
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the server answered HTTP {status}"));
    }
    let total = response.content_length();
    on_event(DownloadEvent::Connected { total });

    let mut out = BufWriter::with_capacity(1 << 16, tmp.as_file());
    let mut buf = vec![0u8; 1 << 16];
    let mut downloaded: u64 = 0;
    loop {
        let k = match response.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                return Err(format!(
                    "no data received for {} s after {downloaded} bytes (the server stopped sending)",
                    options.stall_timeout.as_secs_f64()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the connection broke after {downloaded} bytes: {}",
                    chain(&e)
                ));
            }
        };
        out.write_all(&buf[..k])
            .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
        downloaded += k as u64;
        on_event(DownloadEvent::Progress { downloaded });
    }
    if let Some(total) = total
        && downloaded != total
    {
        return Err(format!(
            "the body was cut short: {downloaded} of {total} bytes received"
        ));
    }
    out.flush()
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.path().display()))?;
    drop(out);

    check(tmp.path())?;
    tmp.persist(dst)
        .map_err(|e| format!("cannot rename the downloaded file into place: {}", e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn existing_file_is_used_without_the_network() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(MNIST_FILE), b"anything").unwrap();
        let mut events = 0;
        // An unroutable base URL: any network use would fail.
        let path = fetch(
            dir.path(),
            "http://0.0.0.0:1",
            MNIST_FILE,
            &DownloadOptions::default(),
            &mut |_| events += 1,
        )
        .unwrap();
        assert_eq!(path, dir.path().join(MNIST_FILE));
        assert_eq!(events, 0);
    }
}
