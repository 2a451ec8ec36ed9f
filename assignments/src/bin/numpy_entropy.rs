//! `numpy_entropy`: see `assignments::numpy_entropy`.
use std::io::Write;
use std::process::ExitCode;

use assignments::numpy_entropy::{Args, run};
use clap::Parser;

fn main() -> ExitCode {
    assignments::cli::main("numpy_entropy", |out| {
        let report = run(&Args::parse())?;
        write!(out, "{report}")?;
        Ok(())
    })
}
