#!/usr/bin/env python3
"""numpy_entropy benchmark: our release binary against bench/numpy_entropy.py, side by side.

    cargo build --release -p assignments --bin numpy_entropy
    python3 bench/numpy_entropy_bench.py [--lines 5000000] [--keys 10000] [--runs 7]

Generates (once, cached in /tmp/npfl138-bench) a data file of --lines lines over --keys distinct
8-letter keys and a model over the same keys, checks that both programs print the same three
lines, then runs them alternately --runs times each, reporting wall-clock min and median and the
peak resident memory (GNU time's %M; `apt-get install time` if /usr/bin/time is missing).
"""
import argparse
import shutil
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser()
parser.add_argument("--lines", type=int, default=5_000_000)
parser.add_argument("--keys", type=int, default=10_000)
parser.add_argument("--runs", type=int, default=7)
parser.add_argument("--seed", type=int, default=42)


def generate(args, folder):
    data = folder / f"data_{args.lines}_{args.keys}_{args.seed}.txt"
    model = folder / f"model_{args.keys}_{args.seed}.txt"
    if data.exists() and model.exists():
        return data, model
    rng = np.random.default_rng(args.seed)
    letters = rng.integers(0, 26, size=(args.keys * 2, 8), dtype=np.uint8) + ord("a")
    keys = list(dict.fromkeys(bytes(row).decode() for row in letters))[: args.keys]
    weights = rng.exponential(size=len(keys))
    probs = weights / weights.sum()
    lines = rng.choice(len(keys), size=args.lines, p=probs)
    keys_nl = np.array([k + "\n" for k in keys])
    folder.mkdir(parents=True, exist_ok=True)
    tmp = data.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for start in range(0, args.lines, 1_000_000):
            f.write("".join(keys_nl[lines[start : start + 1_000_000]]))
    tmp.rename(data)
    model_probs = rng.dirichlet(np.ones(len(keys)))
    with open(model, "w") as f:
        f.writelines(f"{k}\t{float(p)!r}\n" for k, p in zip(keys, model_probs))
    return data, model


GNU_TIME = shutil.which("time") and pathlib.Path("/usr/bin/time").exists()


def measure(cmd):
    """Wall time, peak RSS in MiB and stdout of one run. The peak comes from GNU time (Debian
    package `time`): a child's own ru_maxrss would include the memory of this forking parent."""
    with tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=subprocess.PIPE, check=True)
        elapsed = time.perf_counter() - start
        rss = int(rss_file.read().split()[-1]) / 1024 if GNU_TIME else float("nan")
    return elapsed, rss, proc.stdout.decode()


def main(args):
    data, model = generate(args, pathlib.Path("/tmp/npfl138-bench"))
    flags = ["--data_path", str(data), "--model_path", str(model)]
    programs = {
        "ours (release)": [str(ROOT / "target/release/numpy_entropy"), *flags],
        "numpy": [sys.executable, str(ROOT / "bench/numpy_entropy.py"), *flags],
    }
    outputs = {name: measure(cmd)[2] for name, cmd in programs.items()}
    assert len(set(outputs.values())) == 1, outputs
    print(outputs["numpy"], end="")
    results = {name: ([], []) for name in programs}
    for _ in range(args.runs):
        for name, cmd in programs.items():
            elapsed, rss, _ = measure(cmd)
            results[name][0].append(elapsed)
            results[name][1].append(rss)
    print(f"{args.lines} lines, {args.keys} keys, {args.runs} runs each")
    for name, (times, rss) in results.items():
        print(f"{name:15} min {min(times):.3f} s  median {statistics.median(times):.3f} s  peak RSS {max(rss):.1f} MiB")
    ours, numpy = (statistics.median(results[n][0]) for n in programs)
    print(f"speed-up (median): {numpy / ours:.1f}x")


if __name__ == "__main__":
    main(parser.parse_args())
