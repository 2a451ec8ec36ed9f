//! `numpy_entropy`: entropy, cross-entropy and KL divergence of a data file against a model file.
