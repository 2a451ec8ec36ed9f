//! `pca_first`: the course's `labs/01/pca_first.py` (see [`assignments::pca_first`]).
use std::io::Write;

use assignments::common::parse_args;
use assignments::pca_first::run;

fn main() -> std::process::ExitCode {
    assignments::cli::main("pca_first", |out| {
        Ok(writeln!(out, "{}", run(&parse_args()?)?)?)
    })
}
