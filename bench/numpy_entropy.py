#!/usr/bin/env python3
"""The course's approach to numpy_entropy, written straightforwardly: Python dict counting of the
data lines, then NumPy arrays holding only the probabilities. The baseline of our benchmark.

    python3 bench/numpy_entropy.py --data_path D --model_path M [--reference]

--reference prints repr() of the unrounded values instead of the course's three lines.
"""
import argparse

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--data_path", default="numpy_entropy_data.txt")
parser.add_argument("--model_path", default="numpy_entropy_model.txt")
parser.add_argument("--reference", action="store_true")


def main(args):
    counts = {}
    with open(args.data_path, "r") as data:
        for line in data:
            line = line.rstrip("\n")
            counts[line] = counts.get(line, 0) + 1
    model = {}
    with open(args.model_path, "r") as model_file:
        for line in model_file:
            key, prob = line.rstrip("\n").split("\t")
            model[key] = float(prob)
    p = np.array(list(counts.values()), dtype=np.float64)
    p /= p.sum()
    q = np.array([model.get(key, 0.0) for key in counts], dtype=np.float64)
    with np.errstate(divide="ignore"):
        entropy = -np.sum(p * np.log(p))
        crossentropy = -np.sum(p * np.log(q))
        kl = np.sum(p * np.log(p / q))
    return entropy, crossentropy, kl


if __name__ == "__main__":
    args = parser.parse_args()
    h, ce, kl = main(args)
    if args.reference:
        print(repr(float(h)), repr(float(ce)), repr(float(kl)))
    else:
        print(f"Entropy: {h:.2f} nats")
        print(f"Crossentropy: {ce:.2f} nats")
        print(f"KL divergence: {kl:.2f} nats")
