# npfl138-rs recipes. Every recipe is a plain cargo/python call: `.ci/run` uses the same lines,
# so nothing exists only here. Install just with `cargo install just --locked` if you want it.

default: check

# Format check, lints and the whole test suite (what CI runs first).
check: fmt-check lint test

fmt-check:
    cargo fmt --all --check

lint:
    cargo clippy --workspace --all-targets -- -D warnings

# The README's test command.
test:
    cargo test --workspace

# Instructors: regenerate every reference output (hidden-case files and insta snapshots),
# then review with `git diff tests/` and commit.
regenerate *assignment:
    cargo run -p npfl138 -- regenerate {{assignment}}

# Students: check a solution like ReCodEx, e.g. `just check numpy_entropy python3 numpy_entropy.py`.
check assignment *command:
    cargo run --release -p npfl138 -- check {{assignment}} -- {{command}}

# npfl_core for aarch64 under qemu-user: the NEON matmul kernel against the scalar oracle
# (needs `rustup target add aarch64-unknown-linux-gnu` and Debian's gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user; `.ci/run` installs them).
test-aarch64:
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" cargo test -p npfl_core --target aarch64-unknown-linux-gnu

doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# Run one assignment in release mode, e.g. `just run numpy_entropy --data_path d.txt`.
run assignment *args:
    cargo run --release -p assignments --bin {{assignment}} -- {{args}}

# numpy_entropy against a NumPy implementation (needs python3 with numpy).
bench-entropy:
    cargo build --release -p assignments --bin numpy_entropy
    python3 bench/numpy_entropy_bench.py
