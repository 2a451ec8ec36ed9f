//! `numpy_entropy`: the course's `labs/01/numpy_entropy.py` (see [`assignments::numpy_entropy`]).
use std::io::Write;

use assignments::numpy_entropy::{Args, run};
use clap::Parser;

fn main() -> std::process::ExitCode {
    assignments::cli::main("numpy_entropy", |out| {
        Ok(write!(out, "{}", run(&Args::parse())?)?)
    })
}
