//! Example rows for [`crate::nn::train`]: a row-major matrix of `u8`
//! pixels or `f32` values, read row by row as `f32` (pixels through [`crate::scale_pixel`], the
//! course's `image.to(torch.float32) / 255`), with a prefetch hint for rows read out of order.

/// The values of a set of examples, row-major (`examples x dim`).
#[derive(Clone, Copy, Debug)]
pub enum Features<'a> {
    /// Bytes turned into `float32` and divided by 255, as the course's `image.to(torch.float32) / 255`.
    U8(&'a [u8]),
    /// Features used as they are.
    F32(&'a [f32]),
}

impl Features<'_> {
    /// The number of values (examples times features per example).
    pub fn len(&self) -> usize {
        match self {
            Features::U8(x) => x.len(),
            Features::F32(x) => x.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`Features`] cut into rows of `dim` values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows<'a> {
    features: Features<'a>,
    dim: usize,
}

impl<'a> Rows<'a> {
    /// Rows of `dim` values; the caller checked that `features` holds whole rows.
    pub(crate) fn new(features: Features<'a>, dim: usize) -> Self {
        debug_assert!(features.len().is_multiple_of(dim));
        Self { features, dim }
    }

    /// Values per row.
    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    /// Row `i`'s values.
    #[inline(always)]
    pub(crate) fn row(&self, i: usize) -> Features<'a> {
        let range = i * self.dim..(i + 1) * self.dim;
        match self.features {
            Features::U8(x) => Features::U8(&x[range]),
            Features::F32(x) => Features::F32(&x[range]),
        }
    }

    /// Asks the CPU to fetch row `i`'s values (a hint; see [`crate::isa::prefetch`]).
    pub(crate) fn prefetch(&self, i: usize) {
        match self.row(i) {
            Features::U8(x) => crate::isa::prefetch(x),
            Features::F32(x) => crate::isa::prefetch(x),
        }
    }

    /// Writes row `i` as `f32` into `out` (`dim` values). Inlined, so that inside
    /// [`crate::isa::vectorized`] the pixel conversion runs at its vector width; with `fused`
    /// (code compiled with FMA, see [`crate::scale_pixel_fused`]) without a divide, the same
    /// bits.
    #[inline(always)]
    pub(crate) fn load(&self, i: usize, out: &mut [f32], fused: bool) {
        match self.row(i) {
            Features::U8(x) if fused => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = crate::scale_pixel_fused(v);
                }
            }
            Features::U8(x) => {
                for (o, &v) in out.iter_mut().zip(x) {
                    *o = crate::scale_pixel(v);
                }
            }
            Features::F32(x) => out.copy_from_slice(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_rows_are_divided_by_255() {
        let pixels: Vec<u8> = (0..=255).collect();
        let rows = Rows::new(Features::U8(&pixels), 128);
        for fused in [false, true] {
            let mut out = vec![0.0; 128];
            rows.load(1, &mut out, fused);
            for (i, v) in out.iter().enumerate() {
                assert_eq!(v.to_bits(), ((128 + i) as f32 / 255.0).to_bits());
            }
        }
    }

    #[test]
    fn f32_rows_are_copied() {
        let values: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let rows = Rows::new(Features::F32(&values), 3);
        let mut out = [0.0; 3];
        rows.load(1, &mut out, true);
        assert_eq!(out, [3.0, 4.0, 5.0]);
    }
}
