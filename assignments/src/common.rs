//! The flags the MNIST assignments share (`--seed`, `--threads`, `--dataset`) and the
//! `NPFL_KERNEL` override, in one [`CommonArgs`] that each assignment's `Args` flattens; loading
//! the chosen dataset.
//!
//! `--recodex` is not here: `example_pytorch.py` has no such flag, so `pca_first` and
//! `mnist_layers_activations` declare their own (in the course's position, before `--seed`).
//!
//! The environment is read here, at the edge (the `datasets` library takes everything as
//! parameters):
//! - `NPFL_KERNEL`: forces a matmul kernel ([`CommonArgs::apply_env`], the only place it is read);
//! - `NPFL_CACHE`: directory of the downloaded `mnist.npz` (the course's variable; default: the
//!   working directory, which is not created automatically);
//! - `NPFL_DATASETS_URL`: our own variable, replaces the course's base URL (mirrors, tests);
//! - `NPFL138_FASHION_MNIST_DIR`: our own variable, replaces `/usr/share/datasets/fashion-mnist`;
//! - `NPFL_DATASET_LIMIT`: the course's cap on every `TransformedDataset`
//!   ([`CommonArgs::load_transformed`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use datasets::{
    DatasetError, DatasetSource, DownloadEvent, DownloadOptions, Mnist, OnChunk, Sizes,
};
use indicatif::{ProgressBar, ProgressStyle};
use npfl_core::matmul::{Kernel, Matmul};

use crate::cli::int_flag;
use crate::logging::ConfigValue;

/// The seed of every assignment: the course's `startup` seeds NumPy with it, which takes 0 to
/// 2**32 - 1 only (torch and Python's `random` would take more).
pub type Seed = u32;

/// What `--seed` must be, in its error message.
pub(crate) const SEED_EXPECTED: &str = "an integer from 0 to 4294967295 = 2**32 - 1 (the course seeds NumPy, which takes no other seed)";

/// Parses the process's arguments into an assignment's `Args` (a bad flag is clap's usage error,
/// exit code 2) and applies the environment to its [`CommonArgs`] ([`CommonArgs::apply_env`]).
///
/// # Errors
/// A bad `NPFL_KERNEL`.
pub fn parse_args<A: clap::Parser + AsMut<CommonArgs>>() -> anyhow::Result<A> {
    let mut args = A::parse();
    args.as_mut().apply_env()?;
    Ok(args)
}

/// `--seed`, `--threads`, `--dataset` and the `NPFL_KERNEL` override, flattened into the `Args` of
/// `pca_first`, `mnist_layers_activations` and the example scripts (in this order, after the
/// assignment's own flags, as in the course's scripts).
#[derive(clap::Args, Debug, Clone)]
#[command(rename_all = "snake_case")]
pub struct CommonArgs {
    /// Random seed (0 to 2^32 - 1, the seeds NumPy takes in the course's `startup`).
    #[arg(
        long,
        default_value_t = 42,
        allow_negative_numbers = true,
        value_parser = int_flag(0, Seed::MAX, SEED_EXPECTED),
    )]
    pub seed: Seed,
    /// Maximum number of threads to use (0 or negative: all cores).
    #[arg(
        long,
        default_value_t = 1,
        allow_negative_numbers = true,
        value_parser = int_flag(i64::MIN, i64::MAX, "an integer")
    )]
    pub threads: i64,
    /// mnist | fashion_mnist | path to an .npz in the course's layout
    #[arg(long, default_value = "mnist")]
    pub dataset: DatasetSource,
    /// The matmul kernel: the fastest this CPU runs, unless `NPFL_KERNEL` names another
    /// ([`CommonArgs::apply_env`]; not a flag).
    #[arg(skip = Kernel::detect())]
    pub kernel: Kernel,
}

impl CommonArgs {
    /// Applies `NPFL_KERNEL` (`scalar`, `avx2`, `avx512`, `neon`, `auto`; unset or empty: keep
    /// [`CommonArgs::kernel`]). The binaries call it right after parsing their flags.
    ///
    /// # Errors
    /// An unknown kernel name (a one-line error, exit code 1: it is not a flag).
    pub fn apply_env(&mut self) -> anyhow::Result<()> {
        match std::env::var("NPFL_KERNEL") {
            Ok(name) if !name.is_empty() => {
                self.kernel = name
                    .parse()
                    .map_err(|e| anyhow::anyhow!("NPFL_KERNEL: {e}"))?;
            }
            _ => {}
        }
        Ok(())
    }

    /// The threads to use: `--threads`, or every core when it is 0 or negative (the course's
    /// `startup`).
    pub fn threads(&self) -> usize {
        match usize::try_from(self.threads) {
            Ok(t) if t > 0 => t,
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The matrix multiplier: [`CommonArgs::kernel`] on [`CommonArgs::threads`] threads.
    pub fn matmul(&self) -> Matmul {
        Matmul::with_kernel(self.kernel, self.threads())
    }

    /// `seed` and `threads` as `vars(args)` holds them, for a log directory's name.
    pub(crate) fn config(&self) -> [(&'static str, ConfigValue); 2] {
        [
            ("seed", ConfigValue::Int(i64::from(self.seed))),
            ("threads", ConfigValue::Int(self.threads)),
        ]
    }

    /// `dataset` when it is not the default `mnist`, so that runs on other data get other log
    /// directories.
    pub(crate) fn dataset_config(&self) -> Option<(&'static str, ConfigValue)> {
        (self.dataset != DatasetSource::Mnist)
            .then(|| ("dataset", ConfigValue::Str(self.dataset.to_string())))
    }
}

/// Where the data comes from: the values of the environment variables, or set by a test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataSettings {
    /// Directory holding (or receiving) `mnist.npz`.
    pub cache_dir: PathBuf,
    /// Base URL of the dataset server.
    pub base_url: String,
    /// Directory with the Fashion-MNIST gzip IDX files.
    pub fashion_mnist_dir: PathBuf,
    /// Network settings of the download.
    pub download: DownloadOptions,
}

impl DataSettings {
    /// Reads `NPFL_CACHE`, `NPFL_DATASETS_URL` and `NPFL138_FASHION_MNIST_DIR` (empty means unset).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        DataSettings {
            cache_dir: var("NPFL_CACHE").map_or_else(|| PathBuf::from("."), PathBuf::from),
            base_url: var("NPFL_DATASETS_URL")
                .unwrap_or_else(|| datasets::DEFAULT_BASE_URL.to_string()),
            fashion_mnist_dir: var("NPFL138_FASHION_MNIST_DIR").map_or_else(
                || PathBuf::from(DatasetSource::FASHION_MNIST_DIR),
                PathBuf::from,
            ),
            download: DownloadOptions::default(),
        }
    }
}

impl CommonArgs {
    /// Loads the chosen dataset with the settings of the environment ([`DataSettings::from_env`]).
    pub fn load(&self, sizes: Sizes) -> anyhow::Result<Mnist> {
        self.load_with(sizes, &DataSettings::from_env())
    }

    /// Loads the chosen dataset: `mnist` from the cache, downloading it (with `Downloading
    /// mnist.npz...` and a byte progress bar on stderr) when absent; `fashion_mnist` from the IDX
    /// files; otherwise the given `.npz`.
    pub fn load_with(&self, sizes: Sizes, settings: &DataSettings) -> anyhow::Result<Mnist> {
        self.read_source(
            settings,
            |npz| Mnist::from_npz(npz, sizes),
            |dir| Mnist::from_idx_dir(dir, sizes),
        )
    }

    /// Reads the training split's images of the chosen dataset (what `pca_first` uses), with the
    /// settings of the environment, in chunks of `chunk_rows` handed to `on_chunk` as they are
    /// inflated, from the IDX files or the `.npz`, without holding them (the same checks and errors
    /// as [`CommonArgs::load_with`]). Returns the number of training images.
    pub fn train_image_chunks(
        &self,
        chunk_rows: usize,
        on_chunk: &mut OnChunk<'_>,
    ) -> anyhow::Result<usize> {
        self.train_image_chunks_with(&DataSettings::from_env(), chunk_rows, on_chunk)
    }

    /// [`CommonArgs::train_image_chunks`] with the given settings.
    pub fn train_image_chunks_with(
        &self,
        settings: &DataSettings,
        chunk_rows: usize,
        on_chunk: &mut OnChunk<'_>,
    ) -> anyhow::Result<usize> {
        // One of the two readers runs; both are handed the receiver.
        let on_chunk = std::cell::RefCell::new(on_chunk);
        self.read_source(
            settings,
            |npz| Mnist::train_image_chunks_from_npz(npz, chunk_rows, &mut **on_chunk.borrow_mut()),
            |dir| {
                Mnist::train_image_chunks_from_idx_dir(
                    dir,
                    chunk_rows,
                    &mut **on_chunk.borrow_mut(),
                )
            },
        )
    }

    /// Finds the chosen dataset (downloading `mnist` when it is not cached) and reads it with
    /// `npz` (an `.npz` file) or `idx` (the Fashion-MNIST directory), each error with the context
    /// the user needs.
    fn read_source<T>(
        &self,
        settings: &DataSettings,
        npz: impl FnOnce(&Path) -> Result<T, DatasetError>,
        idx: impl FnOnce(&Path) -> Result<T, DatasetError>,
    ) -> anyhow::Result<T> {
        match &self.dataset {
            DatasetSource::Mnist => {
                let cached = settings.cache_dir.join(datasets::MNIST_FILE);
                let was_cached = cached.exists();
                let path = datasets::fetch(
                    &settings.cache_dir,
                    &settings.base_url,
                    datasets::MNIST_FILE,
                    &settings.download,
                    &mut StderrProgress::default().callback(),
                )?;
                npz(&path).with_context(|| {
                    if was_cached {
                        format!(
                            "the cached {} is unusable; delete it to download it again",
                            path.display()
                        )
                    } else {
                        format!("loading {}", path.display())
                    }
                })
            }
            DatasetSource::FashionMnist => idx(&settings.fashion_mnist_dir).with_context(|| {
                format!(
                    "loading Fashion-MNIST from {} (Debian: apt-get install dataset-fashion-mnist; \
                     or set NPFL138_FASHION_MNIST_DIR)",
                    settings.fashion_mnist_dir.display()
                )
            }),
            DatasetSource::Npz(path) => {
                if matches!(path.try_exists(), Ok(false)) {
                    let hint = match self.dataset.suggestion() {
                        Some(name) => format!("; did you mean --dataset={name}?"),
                        None => String::new(),
                    };
                    bail!(
                        "--dataset {}: no such file (--dataset takes mnist, fashion_mnist or the path \
                         of an .npz file in the course's layout){hint}",
                        path.display()
                    );
                }
                Ok(npz(path)?)
            }
        }
    }

    /// Loads the chosen dataset as the course's `TransformedDataset`s see it: every split limited
    /// by `NPFL_DATASET_LIMIT` when that is all digits ([`Sizes::from_dataset_limit`]).
    pub fn load_transformed(&self) -> anyhow::Result<Mnist> {
        let limit = std::env::var(datasets::DATASET_LIMIT_VAR).ok();
        self.load(Sizes::from_dataset_limit(limit.as_deref()))
    }
}

/// Fails when one of the named splits has no examples (an `NPFL_DATASET_LIMIT` of 0, an empty
/// split in an `.npz`), naming the split and the limit.
///
/// # Errors
/// The first empty split.
pub fn require_examples(splits: &[(&str, &datasets::Split)]) -> anyhow::Result<()> {
    for (name, split) in splits {
        if split.is_empty() {
            let limit = std::env::var(datasets::DATASET_LIMIT_VAR)
                .map(|v| format!(" ({}={v})", datasets::DATASET_LIMIT_VAR))
                .unwrap_or_default();
            bail!("the {name} split has no examples{limit}");
        }
    }
    Ok(())
}

/// Prints `Downloading <file>...` and draws an indicatif byte bar on stderr (hidden when stderr is
/// not a terminal).
#[derive(Default)]
struct StderrProgress {
    bar: Option<ProgressBar>,
}

impl StderrProgress {
    fn callback(mut self) -> impl FnMut(DownloadEvent<'_>) {
        move |event| self.on_event(event)
    }

    fn on_event(&mut self, event: DownloadEvent<'_>) {
        match event {
            DownloadEvent::Started { file, .. } => {
                // A closed stderr is no reason to stop (eprintln! would panic).
                let _ = writeln!(std::io::stderr(), "Downloading {file}...");
            }
            DownloadEvent::Connected { total } => {
                let bar = match total {
                    Some(total) => ProgressBar::new(total).with_style(
                        ProgressStyle::with_template(
                            "{percent:>3}%|{wide_bar}| {binary_bytes}/{binary_total_bytes} [{elapsed}<{eta}, {binary_bytes_per_sec}]",
                        )
                        .expect("a valid template"),
                    ),
                    None => ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template("{spinner} {binary_bytes} [{elapsed}, {binary_bytes_per_sec}]")
                            .expect("a valid template"),
                    ),
                };
                self.bar = Some(bar);
            }
            DownloadEvent::Progress { downloaded } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(downloaded);
                }
            }
            DownloadEvent::Finished { success } => {
                if let Some(bar) = self.bar.take() {
                    if success {
                        bar.finish();
                    } else {
                        bar.abandon();
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::path::Path;

    #[derive(Parser, Debug)]
    #[command(rename_all = "snake_case")]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    const FIXTURE: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../datasets/tests/fixtures/course_layout_compressed.npz"
    );

    fn settings(cache_dir: &Path) -> DataSettings {
        let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = refused.local_addr().unwrap();
        drop(refused);
        DataSettings {
            cache_dir: cache_dir.to_path_buf(),
            base_url: format!("http://{addr}/datasets"),
            fashion_mnist_dir: cache_dir.join("no-fashion-here"),
            download: DownloadOptions {
                use_system_proxy: false,
                ..DownloadOptions::default()
            },
        }
    }

    fn args(argv: &[&str]) -> CommonArgs {
        Cli::try_parse_from(std::iter::once("prog").chain(argv.iter().copied()))
            .unwrap()
            .common
    }

    #[test]
    fn parses_the_dataset_flag() {
        assert_eq!(args(&[]).dataset, DatasetSource::Mnist);
        assert_eq!(
            args(&["--dataset=fashion_mnist"]).dataset,
            DatasetSource::FashionMnist
        );
        assert_eq!(
            args(&["--dataset", "some/file.npz"]).dataset,
            DatasetSource::Npz("some/file.npz".into())
        );
        assert!(Cli::try_parse_from(["prog", "--dataset="]).is_err());
    }

    #[test]
    fn loads_an_npz_path_with_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let sizes = Sizes {
            train: Some(2),
            ..Sizes::default()
        };
        let mnist = args(&["--dataset", FIXTURE])
            .load_with(sizes, &settings(dir.path()))
            .unwrap();
        assert_eq!(
            (mnist.train.len(), mnist.dev.len(), mnist.test.len()),
            (2, 3, 4)
        );
    }

    #[test]
    fn mnist_uses_the_cached_file_without_the_network() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(FIXTURE, dir.path().join("mnist.npz")).unwrap();
        let mnist = args(&[])
            .load_with(Sizes::default(), &settings(dir.path()))
            .unwrap();
        assert_eq!(mnist.test.len(), 4);
    }

    #[test]
    fn unusable_cached_file_says_to_delete_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mnist.npz"), b"broken").unwrap();
        let err = args(&[])
            .load_with(Sizes::default(), &settings(dir.path()))
            .unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("delete it to download it again"),
            "{message}"
        );
        assert!(message.contains("is not a valid .npz file"), "{message}");
    }

    #[test]
    fn offline_download_failure_tells_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let err = args(&[])
            .load_with(Sizes::default(), &settings(dir.path()))
            .unwrap_err();
        let message = format!("{err:#}");
        for hint in ["NPFL_CACHE", "NPFL_DATASETS_URL", "--dataset fashion_mnist"] {
            assert!(message.contains(hint), "{message}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    /// Serves `body` once on 127.0.0.1 (with or without Content-Length); returns the base URL.
    fn serve_once(body: Vec<u8>, content_length: bool) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/datasets", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let mut head = "HTTP/1.1 200 OK\r\nConnection: close\r\n".to_string();
            if content_length {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        });
        base
    }

    #[test]
    fn mnist_downloads_into_the_cache_with_and_without_content_length() {
        // Drives the stderr progress (message, bar or spinner) through a real download.
        for content_length in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let settings = DataSettings {
                base_url: serve_once(std::fs::read(FIXTURE).unwrap(), content_length),
                ..settings(dir.path())
            };
            let mnist = args(&[]).load_with(Sizes::default(), &settings).unwrap();
            assert_eq!(mnist.dev.len(), 3);
            assert_eq!(
                std::fs::read(dir.path().join("mnist.npz")).unwrap(),
                std::fs::read(FIXTURE).unwrap()
            );
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn missing_fashion_mnist_names_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let err = args(&["--dataset", "fashion_mnist"])
            .load_with(Sizes::default(), &settings(dir.path()))
            .unwrap_err();
        let message = format!("{err:#}");
        assert!(
            message.contains("apt-get install dataset-fashion-mnist"),
            "{message}"
        );
        assert!(message.contains("train-images-idx3-ubyte.gz"), "{message}");
    }
}
