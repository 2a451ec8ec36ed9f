//! Options shared by the MNIST binaries: `--dataset`, `--seed`, `--threads`, `--recodex`.
