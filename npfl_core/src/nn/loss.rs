//! Softmax cross-entropy on logits with class targets, averaged over the batch
//! (`torch.nn.CrossEntropyLoss()`), its gradient, and the argmax accuracy count.

use super::NnError;
use super::exp::exp;

/// What one batch of logits scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchLoss {
    /// The mean over the rows of `-log softmax(logits)[label]`, in `float32`.
    pub mean_loss: f32,
    /// Rows whose first maximal logit is at the label (torch's `argmax`: NaN counts as maximal).
    pub correct: usize,
}

/// Index of the first maximal value (a NaN wins, as in torch's `argmax`).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (j, &v) in row.iter().enumerate().skip(1) {
        let b = row[best];
        if b.is_nan() {
            break;
        }
        if v > b || v.is_nan() {
            best = j;
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
    // Under the CPU's widest instruction set, so `exp`'s fused multiply-adds are instructions (the
    // bits are the same either way).
    let (total, correct) = crate::isa::vectorized(
        crate::isa::Isa::detect(),
        #[inline(always)]
        || {
            let mut total = 0.0f32;
            let mut correct = 0;
            for (i, (row, &label)) in logits.chunks_exact(classes).zip(labels).enumerate() {
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

    #[test]
    fn argmax_takes_the_first_maximum_and_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[1.0, f32::NAN, 3.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 5.0]), 0);
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
