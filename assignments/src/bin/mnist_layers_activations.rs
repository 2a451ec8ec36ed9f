//! `mnist_layers_activations`: the course's `labs/01/mnist_layers_activations.py` (see
//! [`assignments::mnist_layers_activations`]).
use assignments::common::parse_args;
use assignments::mnist_layers_activations::{NAME, run};

fn main() -> std::process::ExitCode {
    assignments::cli::main(NAME, |out| run(&parse_args()?, out).map(drop))
}
