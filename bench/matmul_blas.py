#!/usr/bin/env python3
"""Our matmul against the tuned BLAS libraries this machine has, side by side in one run.

    cargo build --release -p npfl_core --features bench --example matmul_bench
    python3 bench/matmul_blas.py [--rounds 5] [--only M]

For each of the issue's shapes, each round runs our benchmark binary on that shape
(`matmul_bench --shape M K N OPS --ours-only --samples S`: ours and the FMA peak, S samples back to
back after a warm-up one, as many as NumPy's and PyTorch's) and then times the same product in NumPy
(OpenBLAS) and, when installed, PyTorch (MKL on x86), all single-threaded. Rounds alternate the programs, so a noisy neighbour on the
shared machine hits them alike. Prints one line per shape,

    M K N ours=<median> openblas=<median> mkl=<median> peak=<median>

(GFLOP/s, 2 M N K flops per call, thread CPU time as our binary measures it), then a `#` line
with the minimum-time and median GFLOP/s of each and the medians as a share of the peak, and one
with ours over the best BLAS per round (each by its best sample of the round; the median and the
range over the rounds), the ratio least moved by the load of a shared machine.

The covariance shape multiplies X^T by a copy of X: NumPy would otherwise notice X^T X and
call syrk, which computes one triangle (our `gram` does the same; the binary reports it).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

# One thread everywhere, before NumPy and PyTorch load their BLAS.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
# Some machines here set OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) for old OpenBLAS builds; they pin
# a current OpenBLAS to an older kernel (e.g. Haswell's AVX2 on an AVX-512 CPU). Benchmark the
# kernel OpenBLAS picks itself; the kernel is printed (threadpoolctl) when available.
CORETYPE = os.environ.pop("OPENBLAS_CORETYPE", None)
os.environ.pop("OPENBLAS_L2_SIZE", None)

import numpy as np  # noqa: E402

try:
    import torch  # noqa: E402

    torch.set_num_threads(1)
except ImportError:
    torch = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "target", "release", "examples", "matmul_bench")

# (M, K, N, ops): op(A) is M x K, op(B) is K x N, stored as the MLP and PCA store them.
SHAPES = [
    (50, 784, 100, "NN"),
    (784, 50, 100, "TN"),
    (50, 100, 100, "NN"),
    (50, 100, 10, "NN"),
    (784, 55000, 784, "TN"),
    (1024, 1024, 1024, "NN"),
]


def operands(m, k, n, ops):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (k, m) if ops[0] == "T" else (m, k)).astype(np.float32)
    if k == 55000:
        b = a.copy()
    else:
        b = rng.uniform(-1, 1, (n, k) if ops[1] == "T" else (k, n)).astype(np.float32)
    return a, b


def timed(fn, flops, calls, samples):
    """GFLOP/s of each sample (thread CPU time), after one warm-up sample."""
    out = []
    for s in range(samples + 1):
        t = time.thread_time()
        for _ in range(calls):
            fn()
        dt = time.thread_time() - t
        if s > 0:
            out.append(flops * calls / dt / 1e9)
    return out


def ours(m, k, n, ops, samples):
    """(ours samples min/median, peak median) from one run of our benchmark binary."""
    cmd = [BENCH, "--shape", str(m), str(k), str(n), ops, "--ours-only", "--samples", str(samples)]
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    for line in text.splitlines():
        if line.startswith("#   custom"):
            words = line.split()
            o = words[words.index("ours") + 1].split("/")
            p = words[words.index("peak") + 1].split("/")
            return float(o[0]), float(o[1]), float(p[1])
    sys.exit(f"error: no result line in the output of {' '.join(cmd)}:\n{text}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", type=int, help="keep the shapes whose M is this")
    args = ap.parse_args()
    if not os.path.exists(BENCH):
        sys.exit(f"error: {BENCH} not found: cargo build --release -p npfl_core --features bench --example matmul_bench")
    cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    blas = cfg.get("Build Dependencies", {}).get("blas", {})
    try:
        from threadpoolctl import threadpool_info

        kernels = ", ".join(f"{i['internal_api']} {i.get('architecture', '?')}" for i in threadpool_info())
    except ImportError:
        kernels = "kernels unknown: pip install threadpoolctl"
    print(f"# NumPy {np.__version__} ({blas.get('name', '?')} {blas.get('version', '')}); "
          f"PyTorch {torch.__version__ if torch else 'not installed'}"
          f"{' (MKL)' if torch and torch.backends.mkl.is_available() else ''}; single thread; "
          f"{kernels}; OPENBLAS_CORETYPE={CORETYPE or 'unset'} unset for this run")
    for m, k, n, ops in SHAPES:
        if args.only is not None and m != args.only:
            continue
        a, b = operands(m, k, n, ops)
        at = a.T if ops[0] == "T" else a
        bt = b.T if ops[1] == "T" else b
        c = np.empty((m, n), np.float32)
        flops = 2.0 * m * n * k
        calls = max(1, int(np.ceil(5e-3 * 100e9 / flops)))
        samples = 3 if flops > 1e10 else 9
        res = {"ours_min": [], "ours": [], "peak": [], "openblas": [], "mkl": []}
        if torch is not None:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            ta = ta.t() if ops[0] == "T" else ta
            tb = tb.t() if ops[1] == "T" else tb
            tc = torch.empty(m, n)
        # Per round: ours over the best BLAS, each by its best sample of the round. The round's
        # programs run within seconds of each other, so the ratio survives the slow swings of a
        # shared machine's load better than the whole run's minima do.
        paired = []
        for _ in range(args.rounds):
            omin, omed, pmed = ours(m, k, n, ops, samples)
            res["ours_min"].append(omin)
            res["ours"].append(omed)
            res["peak"].append(pmed)
            blas = timed(lambda: np.matmul(at, bt, out=c), flops, calls, samples)
            res["openblas"] += blas
            round_best = max(blas)
            if torch is not None:
                mkl = timed(lambda: torch.mm(ta, tb, out=tc), flops, calls, samples)
                res["mkl"] += mkl
                round_best = max(round_best, max(mkl))
            paired.append(omin / round_best)
        med = {key: statistics.median(v) if v else float("nan") for key, v in res.items()}
        best = {key: max(v) if v else float("nan") for key, v in res.items()}
        best["ours"] = best.pop("ours_min")
        print(f"{m} {k} {n} ours={med['ours']:.1f} openblas={med['openblas']:.1f} "
              f"mkl={med['mkl']:.1f} peak={med['peak']:.1f}")
        share = "  ".join(f"{key} {100 * med[key] / med['peak']:.0f}%"
                          for key in ("ours", "openblas", "mkl"))
        print(f"#   {ops} {args.rounds} rounds, GFLOP/s at min time / median: "
              f"ours {best['ours']:.1f}/{med['ours']:.1f}  "
              f"openblas {best['openblas']:.1f}/{med['openblas']:.1f}  "
              f"mkl {best['mkl']:.1f}/{med['mkl']:.1f}  peak median {med['peak']:.1f}; "
              f"median/peak: {share}", flush=True)
        print(f"#   ours / best BLAS, each by its best sample of a round: median {statistics.median(paired):.2f}x, "
              f"rounds {min(paired):.2f}-{max(paired):.2f}x", flush=True)


if __name__ == "__main__":
    main()
