#!/usr/bin/env python3
"""PyTorch baselines for BENCHMARKS-mlp.md: one epoch of mnist_layers_activations
(--hidden_layers=1 --activation=relu, batch 50, Adam, CrossEntropyLoss) on the 55,000 Fashion-MNIST
training images plus the dev evaluation on the last 5,000, one thread.

- "loop": the course's pipeline without the npfl138 package: DataLoader over a dataset whose items are
  converted with `.to(torch.float32) / 255`, shuffle=True, and a TrainableModule.fit-like loop (running
  mean loss, running accuracy, dev evaluation under no_grad);
- "bare": the same model and optimiser on pre-converted tensors indexed by `torch.randperm` batches.

Usage: python3 torch_mlp_epoch.py [runs] [dir]   (dir: Fashion-MNIST gzip IDX files)
"""
import gzip
import os
import sys
import time

import numpy as np
import torch


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def model():
    torch.manual_seed(42)
    m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    for layer in m:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    return m, torch.optim.Adam(m.parameters()), torch.nn.CrossEntropyLoss()


class Dataset(torch.utils.data.Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i].to(torch.float32) / 255, self.labels[i]


def loop_epoch(train, dev):
    m, opt, loss_fn = model()
    train_loader = torch.utils.data.DataLoader(train, batch_size=50, shuffle=True)
    dev_loader = torch.utils.data.DataLoader(dev, batch_size=50)
    start = time.perf_counter()
    m.train()
    total, count, correct, seen = torch.tensor(0.0), torch.tensor(0.0), 0, 0
    for x, y in train_loader:
        logits = m(x)
        loss = loss_fn(logits, y)
        loss.backward()
        with torch.no_grad():
            opt.step()
            opt.zero_grad()
            total += loss
            count += 1
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    train_logs = (total / count).item(), correct / seen
    m.eval()
    with torch.no_grad():
        total, count, correct, seen = torch.tensor(0.0), torch.tensor(0.0), 0, 0
        for x, y in dev_loader:
            logits = m(x)
            total += loss_fn(logits, y)
            count += 1
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    elapsed = time.perf_counter() - start
    return elapsed, train_logs, ((total / count).item(), correct / seen)


def bare_epoch(x, y, dx, dy):
    m, opt, loss_fn = model()
    start = time.perf_counter()
    perm = torch.randperm(len(y))
    for i in range(0, len(y), 50):
        b = perm[i:i + 50]
        loss = loss_fn(m(x[b]), y[b])
        loss.backward()
        opt.step()
        opt.zero_grad()
    with torch.no_grad():
        correct = sum((m(dx[i:i + 50]).argmax(1) == dy[i:i + 50]).sum().item() for i in range(0, len(dy), 50))
    return time.perf_counter() - start, correct / len(dy)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    d = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("NPFL138_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
    torch.set_num_threads(1)
    images = idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 1, 28, 28)
    labels = idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    train, dev = Dataset(images[:55000], labels[:55000]), Dataset(images[55000:], labels[55000:])
    x = torch.from_numpy(images[:55000].copy()).to(torch.float32) / 255
    y = torch.from_numpy(labels[:55000].astype(np.int64))
    dx = torch.from_numpy(images[55000:].copy()).to(torch.float32) / 255
    dy = torch.from_numpy(labels[55000:].astype(np.int64))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, capability {torch.backends.cpu.get_cpu_capability()}")
    for name, fn in [("loop", lambda: loop_epoch(train, dev)), ("bare", lambda: bare_epoch(x, y, dx, dy))]:
        times = []
        for _ in range(runs):
            result = fn()
            times.append(result[0] * 1e3)
            print(f"{name}: {result[0] * 1e3:.1f} ms {result[1:]}", flush=True)
        times.sort()
        print(f"{name}: runs={runs} min={times[0]:.1f} ms median={times[len(times) // 2]:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
