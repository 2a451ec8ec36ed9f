//! `example_pytorch`: the lecture's `labs/01/example_pytorch.py` (see [`assignments::example_pytorch`]).
use assignments::example_pytorch::{Args, Script, run};

fn main() -> std::process::ExitCode {
    let script = Script::Plain;
    assignments::cli::main(script.name(), |out| {
        run(script, &Args::parse_for(script)?, out).map(drop)
    })
}
