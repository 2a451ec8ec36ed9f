//! NumPy's legacy `RandomState` (MT19937) sampling: `np.random.seed` + `np.random.choice(n, k, replace=False)`.
