#!/usr/bin/env bash
# End-to-end benchmark of the course's largest pca_first case, --examples=55000 --iterations=1024, on
# Fashion-MNIST (the full-size stand-in for MNIST), one thread, data loading included:
#   rust         the release binary with the detected SIMD kernel
#   rust-avx2    the same binary forced onto the AVX2+FMA kernel (NPFL_KERNEL=avx2), if the CPU has it
#   rust-scalar  the same binary forced onto the scalar matmul kernel (NPFL_KERNEL=scalar)
#   rust-npz     the release binary on the npz the NumPy recipe reads (the same input for both)
#   numpy        the NumPy float32 recipe (tests/fixtures/pca_first.py) on the same images as an npz
#   torch        the course's PyTorch recipe (assignments/bench/pca_first_torch.py), if torch imports
# Usage (from the workspace root): assignments/bench/pca_first.sh [RUNS]   (needs hyperfine)
# Prints wall-clock min and median and the mean CPU time (user + sys) per command; the CPU time is the
# steadier number on a shared machine. The JSON goes to target/bench-pca_first.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-10}"
fashion="${NPFL138_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
cargo build --release -q -p assignments --bin pca_first
bin=target/release/pca_first
flags="--examples=55000 --iterations=1024 --threads=1 --dataset=fashion_mnist"
cmds=(-n rust "$bin $flags")
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    cmds+=(-n rust-avx2 "env NPFL_KERNEL=avx2 $bin $flags")
fi
cmds+=(-n rust-scalar "env NPFL_KERNEL=scalar $bin $flags")
# The NumPy float32 recipe (tests/fixtures/pca_first.py) reads mnist.npz from its working directory:
# the same Fashion-MNIST written in the course's npz layout.
if python3 -c "import numpy" 2>/dev/null; then
    npzdir=$(mktemp -d)
    trap 'rm -rf "$npzdir"' EXIT
    python3 datasets/examples/fashion_npz.py write "$npzdir/mnist.npz" "$fashion" >/dev/null
    cmds+=(-n rust-npz "$bin ${flags/--dataset=fashion_mnist/--dataset=$npzdir/mnist.npz}")
    cmds+=(-n numpy "sh -c 'cd $npzdir && OPENBLAS_NUM_THREADS=1 exec env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 $PWD/tests/fixtures/pca_first.py --examples=55000 --iterations=1024'")
fi
if python3 -c "import torch" 2>/dev/null; then
    cmds+=(-n torch "python3 assignments/bench/pca_first_torch.py --dataset=$fashion --examples=55000 --iterations=1024 --threads=1")
else
    echo "torch does not import: running without the PyTorch baseline" >&2
fi
for kernel in auto avx2 scalar; do
    echo "NPFL_KERNEL=$kernel: $(NPFL_KERNEL=$kernel $bin $flags 2>&1 | tr '\n' ' ')"
done
lscpu | grep 'Model name'
uptime
hyperfine -N --warmup 1 --runs "$runs" --export-json target/bench-pca_first.json "${cmds[@]}"
python3 - <<'PY'
import json
for r in json.load(open("target/bench-pca_first.json"))["results"]:
    cpu = r["user"] + r["system"]
    print(f"{r['command']:12s} wall min {r['min']:.3f} s  median {r['median']:.3f} s  "
          f"| CPU (user+sys, mean) {cpu:.3f} s  (runs {len(r['times'])})")
PY
