//! PCA of MNIST-like data: covariance, total variance and the first principal component by power iteration.
