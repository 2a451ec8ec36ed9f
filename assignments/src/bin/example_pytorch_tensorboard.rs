//! `example_pytorch_tensorboard`: the lecture's `labs/01/example_pytorch_tensorboard.py` (see [`assignments::example_pytorch`]).

use assignments::example_pytorch::{Args, Script, run};

fn main() -> std::process::ExitCode {
    assignments::cli::main(Script::TensorBoard.name(), |out| {
        run(
            Script::TensorBoard,
            &Args::parse_for(Script::TensorBoard),
            out,
        )
    })
}
