//! Entropy, cross-entropy and KL divergence of an empirical data distribution against a model.
