//! `pca_first`: covariance of MNIST examples, power iteration, explained variance.
//!
//! The course's `labs/01/pca_first.py`: `--examples` training images chosen as
//! `np.random.seed(seed); np.random.choice(len(train), examples, replace=False)`
//! ([`npfl_core::rng::numpy`]), scaled by `/ 255`, then the covariance, its trace and `--iterations`
//! power-iteration steps ([`npfl_core::pca`]). Prints
//!
//! ```text
//! Total variance: 53.12
//! Explained variance: 9.64%
//! ```
//!
//! Where the course's script crashes or prints `nan` (`--examples` above the training split,
//! `--examples 0`, `--iterations 0`, identical examples), [`run`] returns an error that says why.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::mpsc;

use anyhow::bail;
use clap::Parser;
use datasets::ImageChunk;
use npfl_core::matmul::{GramU8, Matmul, MatmulError};
use npfl_core::pca::first_component_of_gram;
use npfl_core::rng::numpy::{NumpyRngError, RandomState};

use crate::cli::int_flag;
use crate::common::CommonArgs;

/// The course's flags for `pca_first.py`, plus the shared `--dataset`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "pca_first",
    rename_all = "snake_case",
    infer_long_args = true,
    version
)]
#[command(
    about = "PCA of MNIST examples: total variance and the variance explained by the first component"
)]
// The course's own words for this script's `--seed` and `--threads`.
#[command(mut_arg("seed", |a| a.help("Random seed (NumPy's legacy `np.random.seed`, 0 to 2^32 - 1)")))]
#[command(mut_arg("threads", |a| a.help(
    "Maximum number of threads to use; 0 or negative means all cores. The result does not depend on it"
)))]
pub struct Args {
    /// MNIST examples to use.
    #[arg(
        long,
        default_value_t = 256,
        allow_negative_numbers = true,
        value_parser = int_flag(0, usize::MAX, "a positive integer"),
    )]
    pub examples: usize,
    /// Iterations of the power algorithm.
    #[arg(
        long,
        default_value_t = 100,
        allow_negative_numbers = true,
        value_parser = int_flag(0, usize::MAX, "a positive integer"),
    )]
    pub iterations: usize,
    /// Evaluation in ReCodEx (accepted for compatibility; the result does not depend on it).
    #[arg(long)]
    pub recodex: bool,
    /// `--seed`, `--threads`, `--dataset` and the kernel.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl AsMut<CommonArgs> for Args {
    fn as_mut(&mut self) -> &mut CommonArgs {
        &mut self.common
    }
}

/// `args.seed`, `args.threads`, ... as in the course's flat `argparse` namespace.
/// The two numbers the course prints.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Report {
    /// `trace(cov)`.
    pub total_variance: f32,
    /// `100 * s / total_variance`, in `f32` as the course's `100 * explained_variance`.
    pub explained_variance: f32,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Python formats the f32 value through its exact double: so does `{:.2}` on f32.
        writeln!(f, "Total variance: {:.2}", self.total_variance)?;
        write!(f, "Explained variance: {:.2}%", self.explained_variance)
    }
}

/// Loads the data, selects the examples as NumPy does and runs the course's PCA.
///
/// # Errors
/// Bad flags (`--examples 0`, `--iterations 0`, `--examples` above the training split), data that
/// cannot be loaded, and covariances whose explained variance is undefined (identical examples).
pub fn run(args: &Args) -> anyhow::Result<Report> {
    if args.examples == 0 {
        bail!("--examples must be at least 1: the covariance of zero examples is undefined");
    }
    if args.iterations == 0 {
        bail!(
            "--iterations must be at least 1: with no power-iteration step the eigenvalue estimate is never computed \
             (the course's script fails with NameError)"
        );
    }
    let mut matmul = args.common.matmul();
    let gram = chosen_gram(args, &matmul)?;
    let pc = first_component_of_gram(&gram, args.iterations, &mut matmul)?;
    Ok(Report {
        total_variance: pc.total_variance,
        explained_variance: 100.0 * pc.explained_variance(),
    })
}

/// Images per chunk of the training images (one thread): the Gram matrix's packed block, so that
/// the chunk is still in the L2 cache when it is packed.
const GRAM_CHUNK_ROWS: usize = 512;

/// Images per chunk with more threads: the chunks are handed to the threads summing the Gram matrix
/// while the next one is inflated, and fewer, larger hand-overs cost less.
const PIPELINE_CHUNK_ROWS: usize = 4096;

/// The exact Gram matrix of the chosen training images, summed as they are inflated: the images are
/// not kept. The sums are exact, so the result is that of all chosen rows at once, whatever the
/// chunks and the threads. With one thread each chunk's chosen rows are added while the chunk is in
/// cache; with more, one thread inflates (into a copy per chunk) while the others add the previous
/// chunk.
fn chosen_gram(args: &Args, matmul: &Matmul) -> anyhow::Result<GramU8> {
    let dim = datasets::H * datasets::W * datasets::C;
    let mut chosen: Option<Vec<usize>> = None;
    // The chosen rows of a chunk, numbered within it; the choice is made at the first chunk, which
    // says how many training images there are.
    let mut rows_of = |chunk: &ImageChunk<'_>| -> anyhow::Result<Vec<usize>> {
        let chosen = match &mut chosen {
            Some(chosen) => chosen,
            None => chosen.insert(choose(args, chunk.total)?),
        };
        let end = chunk.first + chunk.len();
        Ok(chosen[chosen.partition_point(|&i| i < chunk.first)..]
            .iter()
            .take_while(|&&i| i < end)
            .map(|&i| i - chunk.first)
            .collect())
    };
    let mut failure: Option<anyhow::Error> = None;
    let (total, gram) = if matmul.threads() == 1 {
        let mut gram = matmul.gram_u8_sum(dim)?;
        let total = args
            .common
            .train_image_chunks(GRAM_CHUNK_ROWS, &mut |chunk| {
                let added = rows_of(&chunk).and_then(|rows| Ok(gram.add(chunk.pixels, &rows)?));
                match added {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) => {
                        failure = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })?;
        (total, gram)
    } else {
        // The other threads add.
        let mut gram = matmul.with_threads(matmul.threads() - 1).gram_u8_sum(dim)?;
        let (total, added) = std::thread::scope(|s| {
            // At most one chunk waiting while one is added; their buffers come back for reuse.
            let (to_add, chunks) = mpsc::sync_channel::<(Vec<u8>, Vec<usize>)>(1);
            let (give_back, returned) = mpsc::channel::<Vec<u8>>();
            let gram = &mut gram;
            let adding = s.spawn(move || -> Result<(), MatmulError> {
                for (pixels, rows) in chunks {
                    gram.add(&pixels, &rows)?;
                    // The reader may have finished: then the buffer is simply dropped.
                    let _ = give_back.send(pixels);
                }
                Ok(())
            });
            let total = args
                .common
                .train_image_chunks(PIPELINE_CHUNK_ROWS, &mut |chunk| {
                    let rows = match rows_of(&chunk) {
                        Ok(rows) => rows,
                        Err(e) => {
                            failure = Some(e);
                            return ControlFlow::Break(());
                        }
                    };
                    let mut pixels = returned.try_recv().unwrap_or_default();
                    pixels.clear();
                    pixels.extend_from_slice(chunk.pixels);
                    // A closed channel: the adding thread failed (its error is reported below).
                    match to_add.send((pixels, rows)) {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(_) => ControlFlow::Break(()),
                    }
                });
            drop(to_add);
            let added = adding.join().expect("the Gram matrix's thread panicked");
            (total, added)
        });
        added?;
        (total?, gram)
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if chosen.is_none() {
        // No chunk: no training image, and the choice's own error.
        choose(args, total)?;
    }
    Ok(gram.finish())
}

/// The course's `np.random.choice(len(train), examples, replace=False)`, sorted (the order does not
/// change the exact sums).
fn choose(args: &Args, population: usize) -> anyhow::Result<Vec<usize>> {
    let mut indices = RandomState::new(args.common.seed)
        .choice_without_replacement(population, args.examples)
        .map_err(|e| match e {
            NumpyRngError::SampleLargerThanPopulation { sample, population } => anyhow::anyhow!(
                "--examples {sample} is larger than the training split ({population} images): \
                 cannot take a larger sample than population when replace=False"
            ),
            e => anyhow::Error::new(e),
        })?;
    indices.sort_unstable();
    Ok(indices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_prints_the_course_lines() {
        let r = Report {
            total_variance: 53.1234,
            explained_variance: 9.6449,
        };
        assert_eq!(
            r.to_string(),
            "Total variance: 53.12\nExplained variance: 9.64%"
        );
    }

    #[test]
    fn flags_and_defaults() {
        let a = Args::try_parse_from(["pca_first"]).unwrap();
        assert_eq!(
            (
                a.examples,
                a.iterations,
                a.common.seed,
                a.common.threads,
                a.recodex
            ),
            (256, 100, 42, 1, false)
        );
        let a = Args::try_parse_from([
            "pca_first",
            "--recodex",
            "--examples=1024",
            "--iterations",
            "64",
            "--threads=-1",
        ])
        .unwrap();
        assert_eq!(
            (a.examples, a.iterations, a.common.threads, a.recodex),
            (1024, 64, -1, true)
        );
        assert!(Args::try_parse_from(["pca_first", "--examples=-3"]).is_err());
        assert!(Args::try_parse_from(["pca_first", "--seed=4294967296"]).is_err());
    }

    #[test]
    fn zero_examples_and_iterations_are_rejected_before_loading() {
        let mut a =
            Args::try_parse_from(["pca_first", "--examples=0", "--dataset=/nonexistent.npz"])
                .unwrap();
        let e = run(&a).unwrap_err().to_string();
        assert!(e.contains("--examples must be at least 1"), "{e}");
        a.examples = 5;
        a.iterations = 0;
        let e = run(&a).unwrap_err().to_string();
        assert!(e.contains("--iterations must be at least 1"), "{e}");
    }
}
