//! A submission as the course's ReCodEx takes it (labs/faq.md, "ReCodEx"): at most
//! [`MAX_FILES`] files and [`MAX_BYTES`] in all, exactly one `.py` file with a line starting with
//! `def main(`. That file is imported as `__recodex__` by [`DRIVER`], its `parser` parses the
//! test's arguments and `main(args)` runs; the value it returns is what the test checks.

use std::path::{Path, PathBuf};

/// ReCodEx's limit on the number of files of a submission.
pub const MAX_FILES: usize = 20;

/// ReCodEx's limit on a submission's total size, in bytes.
pub const MAX_BYTES: u64 = 20 << 20;

/// The Python driver that imports the submission as ReCodEx does (`src/recodex/driver.py`).
pub const DRIVER: &str = include_str!("recodex/driver.py");

/// The driver's exit code for a submission of the wrong shape (no `parser`, no `main`).
pub const DRIVER_SHAPE_EXIT: i32 = 3;

/// A submission that fits ReCodEx's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The folder holding the files (for a single file, its folder).
    pub root: PathBuf,
    /// The files, relative to [`Submission::root`], sorted.
    pub files: Vec<PathBuf>,
    /// The one `.py` file with `def main(`, relative to the root.
    pub main: PathBuf,
    /// Total size in bytes.
    pub bytes: u64,
}

/// Why a submission is rejected before anything runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmissionError {
    /// The path does not exist or cannot be read.
    #[error("{path}: {message}")]
    Unreadable {
        /// The path.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// More than [`MAX_FILES`] files.
    #[error("{path}: {count} files; ReCodEx accepts at most {MAX_FILES}")]
    TooManyFiles {
        /// The submission.
        path: String,
        /// How many files it has.
        count: usize,
    },
    /// More than [`MAX_BYTES`] in all.
    #[error("{path}: {bytes} bytes; ReCodEx accepts at most {MAX_BYTES} (20 MiB) in all")]
    TooLarge {
        /// The submission.
        path: String,
        /// Its total size.
        bytes: u64,
    },
    /// No `.py` file with a line starting with `def main(`.
    #[error(
        "{path}: no .py file has a line starting with `def main(`; ReCodEx runs that file's main(args)"
    )]
    NoMain {
        /// The submission.
        path: String,
    },
    /// Several `.py` files with `def main(`.
    #[error("{path}: {} files have a line starting with `def main(` ({}); ReCodEx needs exactly one", files.len(), files.join(", "))]
    SeveralMains {
        /// The submission.
        path: String,
        /// The files.
        files: Vec<String>,
    },
}

fn unreadable(path: &Path) -> impl FnOnce(std::io::Error) -> SubmissionError + '_ {
    move |e| SubmissionError::Unreadable {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Every file under `dir`, relative to `base`, skipping `__pycache__` folders.
fn walk(base: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), SubmissionError> {
    for entry in std::fs::read_dir(dir).map_err(unreadable(dir))? {
        let path = entry.map_err(unreadable(dir))?.path();
        let meta = std::fs::symlink_metadata(&path).map_err(unreadable(&path))?;
        if meta.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                walk(base, &path, files)?;
            }
        } else {
            files.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

impl Submission {
    /// Reads the submission at `path`: a `.py` file, or a folder of files.
    ///
    /// # Errors
    /// A [`SubmissionError`] saying which of ReCodEx's rules it breaks.
    pub fn open(path: &Path) -> Result<Submission, SubmissionError> {
        let meta = std::fs::metadata(path).map_err(unreadable(path))?;
        let (root, mut files) = if meta.is_dir() {
            let mut files = Vec::new();
            walk(path, path, &mut files)?;
            (path.to_path_buf(), files)
        } else {
            let root = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_path_buf();
            (
                root,
                vec![PathBuf::from(path.file_name().unwrap_or_default())],
            )
        };
        files.sort();
        let shown = path.display().to_string();
        if files.len() > MAX_FILES {
            return Err(SubmissionError::TooManyFiles {
                path: shown,
                count: files.len(),
            });
        }
        let mut bytes = 0;
        let mut mains = Vec::new();
        for file in &files {
            let full = root.join(file);
            let meta = std::fs::symlink_metadata(&full).map_err(unreadable(&full))?;
            bytes += meta.len();
            if bytes > MAX_BYTES {
                // Counted over all files below; no need to read more.
                continue;
            }
            if file.extension().is_some_and(|e| e == "py") && meta.is_file() {
                let text = std::fs::read(&full).map_err(unreadable(&full))?;
                if text
                    .split(|&b| b == b'\n')
                    .any(|l| l.starts_with(b"def main("))
                {
                    mains.push(file.clone());
                }
            }
        }
        if bytes > MAX_BYTES {
            return Err(SubmissionError::TooLarge { path: shown, bytes });
        }
        match mains.len() {
            0 => Err(SubmissionError::NoMain { path: shown }),
            1 => Ok(Submission {
                root,
                files,
                main: mains.remove(0),
                bytes,
            }),
            _ => Err(SubmissionError::SeveralMains {
                path: shown,
                files: mains.iter().map(|f| f.display().to_string()).collect(),
            }),
        }
    }

    /// Copies the files into `dir` (the case's working directory), keeping their folders.
    ///
    /// # Errors
    /// Reading or writing a file fails.
    pub fn copy_into(&self, dir: &Path) -> std::io::Result<()> {
        for file in &self.files {
            let dest = dir.join(file);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(self.root.join(file), dest)?;
        }
        Ok(())
    }

    /// The newest modification time of its files (for `grade`'s rerun rule).
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        self.files
            .iter()
            .filter_map(|f| std::fs::metadata(self.root.join(f)).ok()?.modified().ok())
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recodex_rules() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.py"), "import x\ndef main(args):\n    return 1\n").unwrap();
        std::fs::write(d.join("helper.py"), "def helper():\n    pass\n").unwrap();
        let s = Submission::open(d).unwrap();
        assert_eq!(s.main, PathBuf::from("a.py"));
        assert_eq!(s.files.len(), 2);
        let single = Submission::open(&d.join("a.py")).unwrap();
        assert_eq!((single.files.len(), single.root.as_path()), (1, d));

        std::fs::write(d.join("b.py"), "def main(args):\n    pass\n").unwrap();
        assert!(matches!(
            Submission::open(d),
            Err(SubmissionError::SeveralMains { files, .. }) if files == ["a.py", "b.py"]
        ));
        std::fs::remove_file(d.join("b.py")).unwrap();
        // Indented or commented `def main(` does not count.
        std::fs::write(
            d.join("a.py"),
            "class A:\n    def main(self):\n        pass\n",
        )
        .unwrap();
        assert!(matches!(
            Submission::open(d),
            Err(SubmissionError::NoMain { .. })
        ));
        assert!(matches!(
            Submission::open(&d.join("missing.py")),
            Err(SubmissionError::Unreadable { .. })
        ));
    }
}
