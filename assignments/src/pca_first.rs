//! `pca_first`: covariance of MNIST examples, power iteration, explained variance.
