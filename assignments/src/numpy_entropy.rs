//! `numpy_entropy`: entropy, cross-entropy and KL divergence of a data file against a model file.
//!
//! The course's `labs/01/numpy_entropy.py`: the data file holds one data point per line, the
//! model file `outcome<TAB>probability` lines; the three measures are printed in nats with two
//! decimals, `inf` when a data outcome is missing from the model.

use std::fmt;
use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;
use npfl_core::distribution::{DataDistribution, ModelDistribution};
use npfl_core::information::InformationMeasures;

/// The course's flags for `numpy_entropy`.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "numpy_entropy",
    about = "Entropy, cross-entropy and KL divergence of a data file against a model file (NPFL138 lab 01)",
    rename_all = "snake_case",
    infer_long_args = true
)]
pub struct Args {
    /// Data file: one data point per line (the whole line is the outcome)
    #[arg(long, default_value = "numpy_entropy_data.txt")]
    pub data_path: PathBuf,
    /// Model file: `outcome<TAB>probability` per line
    #[arg(long, default_value = "numpy_entropy_model.txt")]
    pub model_path: PathBuf,
    /// Accepted for compatibility with the course (ReCodEx mode); has no effect here
    #[arg(long)]
    pub recodex: bool,
}

/// What `numpy_entropy` prints: its `Display` is the course's three lines.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report(pub InformationMeasures);

/// Reads both files and computes the three measures.
///
/// # Errors
/// Any problem with either file, with the file (and line) named.
pub fn run(args: &Args) -> Result<Report> {
    let data = DataDistribution::from_path(&args.data_path)?;
    let model = ModelDistribution::from_path(&args.model_path)?;
    Ok(Report(InformationMeasures::of(&data, &model)))
}

/// Python's `f"{x:.2f}"`: Rust rounds the exact binary value like Python; only NaN differs.
fn py_2f(x: f64) -> String {
    if x.is_nan() {
        "nan".to_owned()
    } else {
        format!("{x:.2}")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        writeln!(f, "Entropy: {} nats", py_2f(m.entropy))?;
        writeln!(f, "Crossentropy: {} nats", py_2f(m.cross_entropy))?;
        writeln!(f, "KL divergence: {} nats", py_2f(m.kl_divergence))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_course_lines() {
        let r = Report(InformationMeasures {
            entropy: 0.9556998911,
            cross_entropy: f64::INFINITY,
            kl_divergence: -1e-17,
        });
        assert_eq!(
            r.to_string(),
            "Entropy: 0.96 nats\nCrossentropy: inf nats\nKL divergence: -0.00 nats\n"
        );
        assert_eq!(py_2f(f64::NAN), "nan");
        assert_eq!(py_2f(0.125), "0.12");
        assert_eq!(py_2f(0.135), "0.14");
    }
}
