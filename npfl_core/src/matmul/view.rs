//! Validated row-major views: every element `(i, j)` with `i < rows`, `j < cols` lies at
//! `i * row_stride + j` inside the borrowed memory. The views hold a pointer rather than a slice
//! so that an ndarray view with gaps between its rows never has its gaps turned into a slice.

use std::fmt;
use std::marker::PhantomData;

use ndarray::{ArrayBase, Data, DataMut, Ix2};

use super::{MatmulError, Op};

/// Elements a `rows x cols` view with `row_stride` spans, or an error.
fn check(rows: usize, cols: usize, row_stride: usize, len: usize) -> Result<(), MatmulError> {
    if row_stride < cols {
        return Err(MatmulError::StrideTooSmall { cols, row_stride });
    }
    let needed = if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1)
            .checked_mul(row_stride)
            .and_then(|x| x.checked_add(cols))
            .unwrap_or(usize::MAX)
    };
    if needed > len {
        return Err(MatmulError::DataTooShort {
            rows,
            cols,
            row_stride,
            needed,
            len,
        });
    }
    Ok(())
}

/// Row stride of an ndarray view with unit column stride, or an error.
fn array_row_stride(rows: usize, cols: usize, strides: &[isize]) -> Result<usize, MatmulError> {
    let (rs, cs) = (strides[0], strides[1]);
    let col_ok = cols <= 1 || cs == 1;
    let row_ok = rows <= 1 || rs >= 0;
    if !col_ok || !row_ok {
        return Err(MatmulError::UnsupportedLayout {
            row_stride: rs,
            col_stride: cs,
        });
    }
    if rows <= 1 { Ok(cols) } else { Ok(rs as usize) }
}

/// A read-only row-major `f32` matrix view: `rows x cols`, rows `row_stride` elements apart.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    ptr: *const f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _data: PhantomData<&'a [f32]>,
}

// SAFETY: a MatRef is a shared borrow of f32 data (like `&'a [f32]`, which is Send and Sync);
// it only ever reads through its pointer.
unsafe impl Send for MatRef<'_> {}
// SAFETY: see Send above.
unsafe impl Sync for MatRef<'_> {}

impl fmt::Debug for MatRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatRef")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("row_stride", &self.row_stride)
            .finish()
    }
}

impl<'a> MatRef<'a> {
    /// A contiguous `rows x cols` view (`row_stride = cols`).
    ///
    /// # Errors
    /// [`MatmulError::DataTooShort`] when `data` has fewer than `rows * cols` elements.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self, MatmulError> {
        Self::strided(data, rows, cols, cols)
    }

    /// A `rows x cols` view whose rows start `row_stride` elements apart.
    ///
    /// # Errors
    /// [`MatmulError::StrideTooSmall`] when `row_stride < cols`,
    /// [`MatmulError::DataTooShort`] when `data` does not hold the last row.
    pub fn strided(
        data: &'a [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
    ) -> Result<Self, MatmulError> {
        check(rows, cols, row_stride, data.len())?;
        Ok(MatRef {
            ptr: data.as_ptr(),
            rows,
            cols,
            row_stride,
            _data: PhantomData,
        })
    }

    /// A view of an ndarray matrix (owned or a view) with unit column stride.
    ///
    /// # Errors
    /// [`MatmulError::UnsupportedLayout`] when the column stride is not 1 or the row stride is negative.
    pub fn from_array<S: Data<Elem = f32>>(a: &'a ArrayBase<S, Ix2>) -> Result<Self, MatmulError> {
        let (rows, cols) = a.dim();
        let row_stride = array_row_stride(rows, cols, a.strides())?;
        // The pointer stays valid for 'a: `a` is borrowed for 'a, and ndarray guarantees every
        // element (i, j) at `ptr + i * row_stride + j` is a valid, initialised f32.
        Ok(MatRef {
            ptr: a.as_ptr(),
            rows,
            cols,
            row_stride,
            _data: PhantomData,
        })
    }

    /// Rows of the view.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the view.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between the starts of consecutive rows, in elements.
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// Element `(i, j)`, or `None` outside the view.
    pub fn get(&self, i: usize, j: usize) -> Option<f32> {
        if i < self.rows && j < self.cols {
            // SAFETY: (i, j) is inside the validated view, so the offset is in bounds of the
            // borrowed memory, which is not mutated while this shared borrow lives.
            Some(unsafe { *self.ptr.add(i * self.row_stride + j) })
        } else {
            None
        }
    }

    /// Shape of `op(self)`.
    pub(crate) fn op_shape(&self, op: Op) -> (usize, usize) {
        match op {
            Op::N => (self.rows, self.cols),
            Op::T => (self.cols, self.rows),
        }
    }

    /// Strides `(rs, cs)` of `op(self)`: element `(i, j)` of `op(self)` is at `i * rs + j * cs`.
    pub(crate) fn op_strides(&self, op: Op) -> (usize, usize) {
        match op {
            Op::N => (self.row_stride, 1),
            Op::T => (1, self.row_stride),
        }
    }

    pub(crate) fn as_ptr(&self) -> *const f32 {
        self.ptr
    }
}

/// A mutable row-major `f32` matrix view: `rows x cols`, rows `row_stride` elements apart.
pub struct MatMut<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    row_stride: usize,
    _data: PhantomData<&'a mut [f32]>,
}

// SAFETY: a MatMut is an exclusive borrow of f32 data (like `&'a mut [f32]`, Send and Sync).
unsafe impl Send for MatMut<'_> {}
// SAFETY: see Send above; `&MatMut` only allows reads.
unsafe impl Sync for MatMut<'_> {}

impl fmt::Debug for MatMut<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatMut")
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("row_stride", &self.row_stride)
            .finish()
    }
}

impl<'a> MatMut<'a> {
    /// A contiguous `rows x cols` view (`row_stride = cols`).
    ///
    /// # Errors
    /// [`MatmulError::DataTooShort`] when `data` has fewer than `rows * cols` elements.
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Result<Self, MatmulError> {
        Self::strided(data, rows, cols, cols)
    }

    /// A `rows x cols` view whose rows start `row_stride` elements apart.
    ///
    /// # Errors
    /// [`MatmulError::StrideTooSmall`] when `row_stride < cols`,
    /// [`MatmulError::DataTooShort`] when `data` does not hold the last row.
    pub fn strided(
        data: &'a mut [f32],
        rows: usize,
        cols: usize,
        row_stride: usize,
    ) -> Result<Self, MatmulError> {
        check(rows, cols, row_stride, data.len())?;
        Ok(MatMut {
            ptr: data.as_mut_ptr(),
            rows,
            cols,
            row_stride,
            _data: PhantomData,
        })
    }

    /// A view of a mutable ndarray matrix (owned or a view) with unit column stride.
    ///
    /// # Errors
    /// [`MatmulError::UnsupportedLayout`] when the column stride is not 1 or the row stride is negative.
    pub fn from_array<S: DataMut<Elem = f32>>(
        a: &'a mut ArrayBase<S, Ix2>,
    ) -> Result<Self, MatmulError> {
        let (rows, cols) = a.dim();
        let row_stride = array_row_stride(rows, cols, a.strides())?;
        // Exclusive for 'a: `a` is mutably borrowed for 'a. `as_mut_ptr` makes a shared
        // array unique first, so writes never reach another array.
        let ptr = a.as_mut_ptr();
        Ok(MatMut {
            ptr,
            rows,
            cols,
            row_stride,
            _data: PhantomData,
        })
    }

    /// Rows of the view.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns of the view.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between the starts of consecutive rows, in elements.
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// A read-only view of the same elements.
    pub fn as_ref(&self) -> MatRef<'_> {
        MatRef {
            ptr: self.ptr,
            rows: self.rows,
            cols: self.cols,
            row_stride: self.row_stride,
            _data: PhantomData,
        }
    }

    /// A shorter-lived mutable view of the same elements, so one `MatMut` can serve several calls.
    pub fn reborrow(&mut self) -> MatMut<'_> {
        MatMut {
            ptr: self.ptr,
            rows: self.rows,
            cols: self.cols,
            row_stride: self.row_stride,
            _data: PhantomData,
        }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut f32 {
        self.ptr
    }

    /// Copies the strict upper triangle into the lower one (square views only).
    pub(crate) fn mirror_upper(&mut self) {
        let n = self.rows.min(self.cols);
        for i in 0..n {
            for j in 0..i {
                // SAFETY: i, j < n <= rows, cols, so both offsets are inside the validated
                // view, which is exclusively borrowed; the two elements differ (j < i).
                unsafe {
                    *self.ptr.add(i * self.row_stride + j) = *self.ptr.add(j * self.row_stride + i)
                };
            }
        }
    }
}
