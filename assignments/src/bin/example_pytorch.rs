//! `example_pytorch`: the lecture's `labs/01/example_pytorch.py` (see [`assignments::example_pytorch`]).

use assignments::example_pytorch::{Args, Script, run};

fn main() -> std::process::ExitCode {
    assignments::cli::main(Script::Plain.name(), |out| {
        run(Script::Plain, &Args::parse_for(Script::Plain), out)
    })
}
