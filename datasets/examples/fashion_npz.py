#!/usr/bin/env python3
"""Companion of load_bench.rs.

  fashion_npz.py write OUT.npz [IDX_DIR]  writes Fashion-MNIST in the course's layout (55,000 /
                                          5,000 / 10,000, images (N, 28, 28, 1) uint8, labels
                                          uint8) with np.savez_compressed, as the course's mnist.npz;
  fashion_npz.py load IN.npz              prints the seconds one np.load of all six arrays takes.
"""
import gzip
import sys
import time

import numpy as np


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def write(out, idx_dir):
    images = idx(f"{idx_dir}/train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)
    labels = idx(f"{idx_dir}/train-labels-idx1-ubyte.gz", 8)
    test_images = idx(f"{idx_dir}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1)
    test_labels = idx(f"{idx_dir}/t10k-labels-idx1-ubyte.gz", 8)
    np.savez_compressed(
        out,
        train_images=images[:55000], train_labels=labels[:55000],
        dev_images=images[55000:], dev_labels=labels[55000:],
        test_images=test_images, test_labels=test_labels,
    )


def load(path):
    start = time.perf_counter()
    with np.load(path) as data:
        arrays = {key: data[key] for key in data.files}
    elapsed = time.perf_counter() - start
    assert arrays["train_images"].shape == (55000, 28, 28, 1)
    print(f"{elapsed:.6f}")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "/usr/share/datasets/fashion-mnist")
    elif sys.argv[1] == "load":
        load(sys.argv[2])
    else:
        sys.exit(__doc__)
