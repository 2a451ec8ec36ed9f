//! The error type of the crate.

use std::path::{Path, PathBuf};

/// What an offline user can do when the course's `mnist.npz` cannot be downloaded.
pub const OFFLINE_HINT: &str = "without internet access, put the course's mnist.npz into $NPFL_CACHE (or the \
     working directory), set NPFL_DATASETS_URL to a mirror, or use --dataset fashion_mnist";

/// What an offline user can do when the download to `path` fails: [`OFFLINE_HINT`] for the
/// course's `mnist.npz`, else to put the file there by hand (the checker's course files).
fn offline_hint(path: &Path) -> String {
    match path.file_name().and_then(|n| n.to_str()) {
        Some("mnist.npz") | None => OFFLINE_HINT.to_owned(),
        Some(name) => format!(
            "without internet access, put a copy of {name} at {}",
            path.display()
        ),
    }
}

/// Everything that can go wrong while reading or downloading a dataset. Each message names the
/// file (and the npz key when there is one).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// The file or directory cannot be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable zip archive, so not an `.npz`.
    #[error("{} is not a valid .npz file: {reason}", path.display())]
    NotNpz {
        /// The file.
        path: PathBuf,
        /// What the zip reader reported.
        reason: String,
    },
    /// One of the six keys of the course's layout is absent.
    #[error(
        "{}: missing key `{key}` (the course's layout has train_images, train_labels, dev_images, \
         dev_labels, test_images, test_labels; found: {})",
        path.display(),
        if found.is_empty() { "none".to_string() } else { found.join(", ") }
    )]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The missing key.
        key: String,
        /// The keys the file does have.
        found: Vec<String>,
    },
    /// An array of the npz has the wrong dtype, shape or values, or cannot be decoded.
    #[error("{}: key `{key}`: {reason}", path.display())]
    BadArray {
        /// The file.
        path: PathBuf,
        /// The npz key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A gzip IDX file is malformed (magic number, dimensions, truncated data, label range).
    #[error("{}: {reason}", path.display())]
    BadIdx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The download failed; nothing was left at `path`.
    #[error("cannot download {url} to {}: {reason}; {}", path.display(), offline_hint(path))]
    Download {
        /// The URL requested.
        url: String,
        /// The destination that was not created.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offline_hint_names_what_to_do_for_the_file() {
        let failed = |path: &str| DatasetError::Download {
            url: "http://127.0.0.1:1/x".to_owned(),
            path: PathBuf::from(path),
            reason: "refused".to_owned(),
        };
        let mnist = failed("/cache/mnist.npz").to_string();
        assert!(mnist.ends_with(OFFLINE_HINT), "{mnist}");
        let course = failed("/cache/npfl138-course/numpy_entropy_data_1.txt").to_string();
        assert_eq!(
            course,
            "cannot download http://127.0.0.1:1/x to /cache/npfl138-course/numpy_entropy_data_1.txt: \
             refused; without internet access, put a copy of numpy_entropy_data_1.txt at \
             /cache/npfl138-course/numpy_entropy_data_1.txt"
        );
    }
}
