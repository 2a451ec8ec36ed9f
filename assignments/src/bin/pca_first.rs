//! `pca_first`: the course's `labs/01/pca_first.py` (`NPFL_KERNEL=scalar|avx2|avx512|auto` forces a matmul kernel).
use assignments::pca_first::{Args, run};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("pca_first: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
