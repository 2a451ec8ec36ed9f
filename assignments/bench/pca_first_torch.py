#!/usr/bin/env python3
"""The course's pca_first recipe (labs/01/pca_first.py with its TODOs filled in the obvious way), as
the PyTorch baseline for `assignments/bench/pca_first.sh`.

The course's script reads `mnist.npz`; this one also reads a directory of classic gzip IDX files
(Fashion-MNIST from Debian's dataset-fashion-mnist), split like the course's MNIST: the first 55,000
training images are the train split. Everything after loading is the course's computation, with
`np.random.seed` / `torch.manual_seed` and `torch.set_num_threads` as `npfl138.startup` sets them.
"""
import argparse
import gzip
import os

import numpy as np
import torch

parser = argparse.ArgumentParser()
parser.add_argument("--dataset", default="/usr/share/datasets/fashion-mnist", type=str,
                    help="An .npz in the course's layout, or a directory of gzip IDX files.")
parser.add_argument("--examples", default=256, type=int, help="MNIST examples to use.")
parser.add_argument("--iterations", default=100, type=int, help="Iterations of the power algorithm.")
parser.add_argument("--seed", default=42, type=int, help="Random seed.")
parser.add_argument("--threads", default=1, type=int, help="Maximum number of threads to use.")


def train_images(path: str) -> torch.Tensor:
    if os.path.isdir(path):
        with gzip.open(os.path.join(path, "train-images-idx3-ubyte.gz")) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:55000].copy()
    else:
        with np.load(path) as npz:
            images = np.moveaxis(npz["train_images"], 3, 1)
    return torch.from_numpy(np.ascontiguousarray(images))


def main(args: argparse.Namespace) -> tuple[float, float]:
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        torch.set_num_interop_threads(args.threads)

    images = train_images(args.dataset)
    data_indices = np.random.choice(len(images), size=args.examples, replace=False)
    data = images[data_indices].to(torch.float32) / 255

    data = torch.reshape(data, [data.shape[0], data.shape[1] * data.shape[2] * data.shape[3]])
    mean = torch.mean(data, dim=0)
    cov = (data - mean).T @ (data - mean) / data.shape[0]
    total_variance = torch.sum(torch.diagonal(cov))
    v = torch.ones(cov.shape[0], dtype=torch.float32)
    for i in range(args.iterations):
        v = cov @ v
        s = torch.linalg.vector_norm(v)
        v = v / s
    explained_variance = s / total_variance
    return total_variance, 100 * explained_variance


if __name__ == "__main__":
    total_variance, explained_variance = main(parser.parse_args())
    print(f"Total variance: {total_variance:.2f}")
    print(f"Explained variance: {explained_variance:.2f}%")
