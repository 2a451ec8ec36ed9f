#!/bin/sh
# Reproduces the epoch rows of BENCHMARKS.md: one epoch of mnist_layers_activations (training + dev evaluation,
# as the epoch line times it, one thread) on the 55,000 Fashion-MNIST training images.
# Usage: bench/mlp_epoch.sh [runs]   (from the workspace root; Python + torch optional)
set -eu
runs=${1:-7}
cargo build --release -q -p assignments --example mlp_epoch_bench
bin=target/release/examples/mlp_epoch_bench
lscpu | grep 'Model name'
uptime
echo "== headline: --hidden_layers=1 --activation=relu, auto kernel vs NPFL_KERNEL=scalar"
$bin "$runs" --dataset=fashion_mnist --hidden_layers=1 --activation=relu | tail -3
NPFL_KERNEL=scalar $bin 3 --dataset=fashion_mnist --hidden_layers=1 --activation=relu | tail -3 | head -1
echo "== the six configurations of the quality table (auto kernel)"
for cfg in "0 none" "1 none" "1 relu" "1 tanh" "1 sigmoid" "3 relu"; do
    set -- $cfg
    printf '%s %s: ' "$1" "$2"
    $bin "$runs" --dataset=fashion_mnist --hidden_layers="$1" --activation="$2" | tail -3 | tr '\n' ' '
    echo
done
if python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch, one thread: course-style DataLoader loop and bare tensor loop"
    python3 bench/torch_mlp_epoch.py 3 | grep -E 'torch|runs='
fi
uptime
