# npfl138-rs recipes. Every recipe is a plain cargo/python call: `.ci/run` uses the same lines,
# so nothing exists only here. Install just with `pip install rust-just` (seconds) or
# `cargo install just --locked`; `just --summary` lists the recipes.

default: verify

# Format check, lints and the whole test suite (what CI runs first).
verify: fmt-check lint test

fmt-check:
    cargo fmt --all --check

lint:
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# The README's test command.
test:
    cargo test --workspace

# Instructors: regenerate every reference output (hidden-case files and insta snapshots),
# then review with `git diff tests/` and commit.
regenerate *assignment:
    cargo run -p npfl138 -- regenerate {{assignment}}

# Students: check a solution like ReCodEx, e.g. `just check numpy_entropy python3 numpy_entropy.py`.
# Runs in the directory you call it from, so relative paths of your solution work.
[no-cd]
[positional-arguments]
check assignment *command:
    a="$1"; shift; cargo run --release --manifest-path '{{justfile_directory()}}/Cargo.toml' -p npfl138 -- check "$a" -- "$@"

# npfl_core for aarch64 under qemu-user: the NEON matmul kernel against the scalar oracle
# (needs `rustup target add aarch64-unknown-linux-gnu` and Debian's gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user; `.ci/run` installs them).
test-aarch64:
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" cargo test -p npfl_core --target aarch64-unknown-linux-gnu

doc:
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# Run one assignment in release mode, e.g. `just run numpy_entropy --data_path d.txt`.
# Runs in the directory you call it from (paths are relative to it; logs/ is written there).
[no-cd]
[positional-arguments]
run assignment *args:
    a="$1"; shift; cargo run --release --manifest-path '{{justfile_directory()}}/Cargo.toml' -p assignments --bin "$a" -- "$@"

# numpy_entropy against a NumPy implementation (needs python3 with numpy).
bench-entropy:
    cargo build --release -p assignments --bin numpy_entropy
    python3 bench/numpy_entropy_bench.py
