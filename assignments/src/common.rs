//! Options shared by the MNIST binaries: `--dataset`, `--seed`, `--threads`, `--recodex`.
//!
//! [`DatasetArgs`] is the `--dataset` option. Loading reads the environment here, at the edge
//! (the `datasets` library takes everything as parameters):
//! - `NPFL_CACHE`: directory of the downloaded `mnist.npz` (the course's variable; default: the
//!   working directory, which is not created automatically);
//! - `NPFL_DATASETS_URL`: our own variable, replaces the course's base URL (mirrors, tests);
//! - `NPFL138_FASHION_MNIST_DIR`: our own variable, replaces `/usr/share/datasets/fashion-mnist`.

use std::path::PathBuf;

use anyhow::Context;
use datasets::{DatasetSource, DownloadEvent, DownloadOptions, Mnist, Sizes};
use indicatif::{ProgressBar, ProgressStyle};

/// The `--dataset` option of the MNIST binaries.
#[derive(clap::Args, Debug, Clone)]
#[command(rename_all = "snake_case")]
pub struct DatasetArgs {
    /// mnist | fashion_mnist | path to an .npz in the course's layout
    #[arg(long, default_value = "mnist")]
    pub dataset: DatasetSource,
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

impl DatasetArgs {
    /// Loads the chosen dataset with the settings of the environment ([`DataSettings::from_env`]).
    pub fn load(&self, sizes: Sizes) -> anyhow::Result<Mnist> {
        self.load_with(sizes, &DataSettings::from_env())
    }

    /// Loads the chosen dataset: `mnist` from the cache, downloading it (with `Downloading
    /// mnist.npz...` and a byte progress bar on stderr) when absent; `fashion_mnist` from the IDX
    /// files; otherwise the given `.npz`.
    pub fn load_with(&self, sizes: Sizes, settings: &DataSettings) -> anyhow::Result<Mnist> {
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
                Mnist::from_npz(&path, sizes).with_context(|| {
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
            DatasetSource::FashionMnist => Mnist::from_idx_dir(&settings.fashion_mnist_dir, sizes)
                .with_context(|| {
                    format!(
                        "loading Fashion-MNIST from {} (Debian: apt-get install dataset-fashion-mnist; \
                         or set NPFL138_FASHION_MNIST_DIR)",
                        settings.fashion_mnist_dir.display()
                    )
                }),
            DatasetSource::Npz(path) => Ok(Mnist::from_npz(path, sizes)?),
        }
    }
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
            DownloadEvent::Started { file, .. } => eprintln!("Downloading {file}..."),
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
