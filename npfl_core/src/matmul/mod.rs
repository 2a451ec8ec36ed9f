//! `C = alpha * op(A) * op(B) + beta * C` on row-major `f32` matrices, BLIS-style with SIMD micro-kernels.
