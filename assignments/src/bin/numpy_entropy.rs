//! `numpy_entropy`: see `assignments::numpy_entropy`.
use std::process::ExitCode;

use assignments::numpy_entropy::{Args, run};
use clap::Parser;

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("numpy_entropy: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
