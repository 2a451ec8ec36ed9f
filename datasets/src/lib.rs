//! MNIST-shaped datasets as the course's Python package provides them: the course's `mnist.npz`
//! (downloaded into `NPFL_CACHE` or the working directory), any `.npz` in that layout, and the
//! classic gzip IDX files (Fashion-MNIST from Debian's `dataset-fashion-mnist`).
