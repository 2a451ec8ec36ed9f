//! Softmax cross-entropy on logits with class targets, averaged over the batch
//! (`torch.nn.CrossEntropyLoss()`), its gradient, and the argmax accuracy count.

use super::NnError;
use super::exp::{exp, exp_core, needs_care};

/// What one batch of logits scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchLoss {
    /// The mean over the rows of `-log softmax(logits)[label]`, in `float32`.
    pub mean_loss: f32,
    /// Rows whose first maximal logit is at the label (torch's `argmax`: NaN counts as maximal).
    pub correct: usize,
}

/// Rows per group of the vectorised pass (one per lane of a 512-bit vector).
const LANES: usize = 16;
/// Classes up to which rows go through the vectorised pass (its transposed group on the stack).
const GROUP_CLASSES: usize = 32;

/// Index of the first maximal value, or of the first NaN when there is one (torch's `argmax`).
fn argmax(row: &[f32]) -> usize {
    // The best value stays in a register (reloading `row[best]` made a chain of loads).
    let mut best = 0;
    let mut top = f32::NEG_INFINITY;
    for (j, &v) in row.iter().enumerate() {
        if v.is_nan() {
            return j;
        }
        if v > top || j == 0 {
            best = j;
            top = v;
        }
    }
    best
}

/// Softmax cross-entropy of `logits` (`rows x classes`, row-major) against `labels`, numerically stable
/// (`log-sum-exp` after subtracting the row maximum). When `grad` is given, it receives
/// `d mean_loss / d logits = (softmax(logits) - onehot(label)) / rows`. The exponentials are
/// [`exp`], glibc's `expf` with FMA on every CPU; the logarithm is the C library's
/// `logf` (glibc's FMA and SSE2 builds agree on all 2^32 inputs), which only the reported loss uses.
///
/// # Errors
/// [`NnError::Shape`] on inconsistent lengths or zero rows, [`NnError::Label`] for a label `>= classes`.
pub fn softmax_cross_entropy(
    logits: &[f32],
    classes: usize,
    labels: &[u8],
    mut grad: Option<&mut [f32]>,
) -> Result<BatchLoss, NnError> {
    let rows = labels.len();
    if rows == 0 || classes == 0 || logits.len() != rows * classes {
        return Err(NnError::Shape(format!(
            "softmax_cross_entropy: {} logits for {rows} labels x {classes} classes",
            logits.len()
        )));
    }
    if let Some(g) = grad.as_deref()
        && g.len() != logits.len()
    {
        return Err(NnError::Shape(format!(
            "softmax_cross_entropy: gradient of length {} for {} logits",
            g.len(),
            logits.len()
        )));
    }
    if let Some(&label) = labels.iter().find(|&&l| usize::from(l) >= classes) {
        return Err(NnError::Label {
            label: usize::from(label),
            classes,
        });
    }
    let scale = 1.0 / rows as f32;
    // Under the CPU's widest instruction set, so that `exp`'s fused multiply-adds are instructions
    // and the groups of rows below run in vector lanes (the bits are the same either way).
    let (total, correct) = crate::isa::vectorized(
        crate::isa::Isa::detect(),
        #[inline(always)]
        || {
            let mut total = 0.0f32;
            let mut correct = 0;
            // Groups of LANES rows with a row in each lane (the same operations per row, in the
            // same order), then the rest one row at a time; the loss's sum over the rows in order.
            let grouped = if classes <= GROUP_CLASSES {
                rows - rows % LANES
            } else {
                0
            };
            let mut t = [[0.0f32; LANES]; GROUP_CLASSES];
            for first in (0..grouped).step_by(LANES) {
                let group = &logits[first * classes..(first + LANES) * classes];
                let t = &mut t[..classes];
                for (l, row) in group.chunks_exact(classes).enumerate() {
                    for (tc, &z) in t.iter_mut().zip(row) {
                        tc[l] = z;
                    }
                }
                let mut max = [f32::NEG_INFINITY; LANES];
                for tc in t.iter() {
                    for (m, &z) in max.iter_mut().zip(tc) {
                        *m = m.max(z);
                    }
                }
                // argmax: the first NaN, else the first value equal to the maximum (NaNs aside),
                // found from the last class back so that the first one is kept.
                let (mut first_max, mut first_nan) = ([usize::MAX; LANES], [usize::MAX; LANES]);
                for (c, tc) in t.iter().enumerate().rev() {
                    for l in 0..LANES {
                        if tc[l] == max[l] {
                            first_max[l] = c;
                        }
                        if tc[l].is_nan() {
                            first_nan[l] = c;
                        }
                    }
                }
                // The exponentials without exp's special cases (a vector loop), then the lanes
                // that need them (|x| >= 88, infinities, NaNs: rare) again through exp.
                let mut care = false;
                for tc in t.iter_mut() {
                    for (z, &m) in tc.iter_mut().zip(&max) {
                        let x = *z - m;
                        care |= needs_care(x);
                        *z = exp_core(x);
                    }
                }
                if care {
                    for (c, tc) in t.iter_mut().enumerate() {
                        for (l, (z, &m)) in tc.iter_mut().zip(&max).enumerate() {
                            *z = exp(group[l * classes + c] - m);
                        }
                    }
                }
                let mut sum = [0.0f32; LANES];
                for tc in t.iter() {
                    for (s, &z) in sum.iter_mut().zip(tc) {
                        *s += z;
                    }
                }
                if let Some(g) = grad.as_deref_mut() {
                    let inv = sum.map(|s| 1.0 / s);
                    let g = &mut g[first * classes..(first + LANES) * classes];
                    for (l, (row, &label)) in g
                        .chunks_exact_mut(classes)
                        .zip(&labels[first..])
                        .enumerate()
                    {
                        for (gj, tc) in row.iter_mut().zip(t.iter()) {
                            *gj = tc[l] * inv[l] * scale;
                        }
                        row[usize::from(label)] -= scale;
                    }
                }
                for (l, (row, &label)) in group
                    .chunks_exact(classes)
                    .zip(&labels[first..])
                    .enumerate()
                {
                    let label = usize::from(label);
                    total += sum[l].ln() - (row[label] - max[l]);
                    let argmax = if first_nan[l] == usize::MAX {
                        first_max[l]
                    } else {
                        first_nan[l]
                    };
                    if argmax == label {
                        correct += 1;
                    }
                }
            }
            for (i, (row, &label)) in logits
                .chunks_exact(classes)
                .zip(labels)
                .enumerate()
                .skip(grouped)
            {
                let label = usize::from(label);
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0f32;
                if let Some(g) = grad.as_deref_mut() {
                    // Each exponential once: kept in the gradient row, then summed in order and
                    // scaled there.
                    let g = &mut g[i * classes..(i + 1) * classes];
                    for (gj, &z) in g.iter_mut().zip(row) {
                        *gj = exp(z - max);
                    }
                    for &gj in g.iter() {
                        sum += gj;
                    }
                    let inv = 1.0 / sum;
                    for gj in g.iter_mut() {
                        *gj = *gj * inv * scale;
                    }
                    g[label] -= scale;
                } else {
                    for &z in row {
                        sum += exp(z - max);
                    }
                }
                total += sum.ln() - (row[label] - max);
                if argmax(row) == label {
                    correct += 1;
                }
            }
            (total, correct)
        },
    );
    Ok(BatchLoss {
        mean_loss: total / rows as f32,
        correct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss_f64(logits: &[f64], classes: usize, labels: &[u8]) -> f64 {
        let rows = labels.len();
        let mut total = 0.0;
        for (row, &l) in logits.chunks(classes).zip(labels) {
            let lse = row.iter().map(|z| z.exp()).sum::<f64>().ln();
            total += lse - row[l as usize];
        }
        total / rows as f64
    }

    #[test]
    fn matches_a_hand_computed_value() {
        // log(e^1 + e^2 + e^3) - 3 = 0.40760596
        let out = softmax_cross_entropy(&[1.0, 2.0, 3.0], 3, &[2], None).unwrap();
        assert!((out.mean_loss - 0.407_605_96).abs() < 1e-6);
        assert_eq!(out.correct, 1);
        // Large logits do not overflow.
        let out = softmax_cross_entropy(&[1000.0, 0.0, -1000.0, 5.0], 2, &[1, 0], None).unwrap();
        // Row losses: 1000 and 5 + 1000 (+ ln(1 + e^-1005)).
        assert_eq!(out.mean_loss, 1002.5);
        assert_eq!(out.correct, 0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let classes = 4;
        let labels = [0u8, 3, 1];
        let logits: Vec<f32> = (0..12)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.37)
            .collect();
        let mut grad = vec![0.0; 12];
        softmax_cross_entropy(&logits, classes, &labels, Some(&mut grad)).unwrap();
        let base: Vec<f64> = logits.iter().map(|&v| v as f64).collect();
        for k in 0..12 {
            let h = 1e-5;
            let mut plus = base.clone();
            plus[k] += h;
            let mut minus = base.clone();
            minus[k] -= h;
            let numeric = (loss_f64(&plus, classes, &labels) - loss_f64(&minus, classes, &labels))
                / (2.0 * h);
            assert!(
                (numeric - grad[k] as f64).abs() < 1e-6,
                "logit {k}: {numeric} vs {}",
                grad[k]
            );
        }
        let f32_loss = softmax_cross_entropy(&logits, classes, &labels, None)
            .unwrap()
            .mean_loss;
        assert!((f32_loss as f64 - loss_f64(&base, classes, &labels)).abs() < 1e-6);
    }

    /// The groups of rows in vector lanes give each row's bits as the row alone (which takes the
    /// one-row path): gradients, the loss summed in order, and the argmax with ties, infinities,
    /// signed zeros and NaNs.
    #[test]
    fn grouped_rows_match_single_rows() {
        // A NaN's sign and payload depend on the instructions (Rust does not fix them): any NaN.
        let bits = |v: f32| if v.is_nan() { u32::MAX } else { v.to_bits() };
        let specials = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
            3.0,
            -63.099_37,
        ];
        for classes in [1, 2, 10, 32, 33] {
            for rows in [1, 15, 16, 17, 50] {
                let mut seed = (classes * 1000 + rows) as u64;
                let mut next = || {
                    seed = seed
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    seed >> 33
                };
                let logits: Vec<f32> = (0..rows * classes)
                    .map(|_| match next() % 16 {
                        0 => specials[(next() % 7) as usize],
                        1 => 3.0, // ties
                        _ => (next() % 2000) as f32 / 100.0 - 10.0,
                    })
                    .collect();
                let labels: Vec<u8> = (0..rows).map(|_| (next() % classes as u64) as u8).collect();
                let mut grad = vec![0.0f32; rows * classes];
                let all =
                    softmax_cross_entropy(&logits, classes, &labels, Some(&mut grad)).unwrap();
                let plain = softmax_cross_entropy(&logits, classes, &labels, None).unwrap();
                let (mut total, mut correct) = (0.0f32, 0);
                for r in 0..rows {
                    let row = &logits[r * classes..(r + 1) * classes];
                    let mut g = vec![0.0f32; classes];
                    let one =
                        softmax_cross_entropy(row, classes, &labels[r..=r], Some(&mut g)).unwrap();
                    // One row: its gradient is scaled by 1 instead of 1 / rows; compare unscaled
                    // where that is exact (rows a power of two), else the loss and argmax only.
                    if rows.is_power_of_two() || rows == 1 {
                        let scaled: Vec<u32> = g
                            .iter()
                            .map(|&v| bits(if rows == 1 { v } else { v / rows as f32 }))
                            .collect();
                        let ours: Vec<u32> = grad[r * classes..(r + 1) * classes]
                            .iter()
                            .map(|&v| bits(v))
                            .collect();
                        assert_eq!(ours, scaled, "classes {classes} rows {rows} row {r}");
                    }
                    total += one.mean_loss;
                    correct += one.correct;
                    assert_eq!(
                        one.correct,
                        usize::from(argmax(row) == usize::from(labels[r])),
                        "{row:?}"
                    );
                }
                let mean = total / rows as f32;
                for out in [all, plain] {
                    assert_eq!(out.correct, correct, "classes {classes} rows {rows}");
                    assert_eq!(
                        bits(out.mean_loss),
                        bits(mean),
                        "classes {classes} rows {rows}: {} vs {mean}",
                        out.mean_loss
                    );
                }
            }
        }
    }

    #[test]
    fn argmax_takes_the_first_maximum_and_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[1.0, f32::NAN, 3.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 5.0]), 0);
        assert_eq!(argmax(&[5.0, 6.0, f32::NAN, 7.0]), 2);
        assert_eq!(argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY]), 0);
        assert_eq!(argmax(&[-0.0, 0.0]), 0);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(
            softmax_cross_entropy(&[0.0; 4], 2, &[0, 2], None),
            Err(NnError::Label {
                label: 2,
                classes: 2
            })
        ));
        assert!(matches!(
            softmax_cross_entropy(&[0.0; 3], 2, &[0, 1], None),
            Err(NnError::Shape(_))
        ));
        assert!(matches!(
            softmax_cross_entropy(&[], 2, &[], None),
            Err(NnError::Shape(_))
        ));
    }
}
