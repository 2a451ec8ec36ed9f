//! `pca_first`: the course's `labs/01/pca_first.py` (`NPFL_KERNEL=scalar|avx2|avx512|auto` forces a matmul kernel).
use std::io::Write;
use std::process::ExitCode;

use assignments::pca_first::{Args, run};
use clap::Parser;

fn main() -> ExitCode {
    assignments::cli::main("pca_first", |out| {
        let report = run(&Args::parse())?;
        writeln!(out, "{report}")?;
        Ok(())
    })
}
