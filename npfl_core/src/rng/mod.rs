//! Bit-exact reproductions of the two random generators the course's scripts draw from, side by
//! side: NumPy's legacy `RandomState` ([`numpy`], `pca_first`'s example choice) and PyTorch's CPU
//! generator ([`torch`], the MLP's initial weights and batch orders). Both are MT19937 seeded by
//! `init_genrand`; they differ in how they turn its outputs into values.

pub mod numpy;
pub mod torch;
