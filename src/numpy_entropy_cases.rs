//! ReCodEx-style hidden cases for `numpy_entropy`: data and model files "analogous to the
//! course's sets 3 and 4, generated with a different random seed".
//!
//! The course's set 3 has 1,000 data lines of 5-letter lowercase strings over 97 distinct values
//! and a 100-entry model (3 model outcomes absent from the data); set 4 has 10,000 lines of
//! 8-letter strings over 200 values and a 200-entry model. [`generate`] makes files of the same
//! shape from an MT19937 stream (a fixed, documented algorithm, so the files never change with a
//! crate update): model weights are exponential draws normalised to 1, the data is sampled from
//! a perturbed model restricted to the data outcomes, each data outcome at least once, and small
//! probabilities are written in Python's `repr` form with an exponent (`4.58e-05`) like the course's.

use assignments::logging::python_float_repr;
use rand_mt::Mt;

/// The shape of a generated case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseSpec {
    /// A name for reports and file names, e.g. `hidden_3`.
    pub name: &'static str,
    /// The MT19937 seed.
    pub seed: u32,
    /// Length of each outcome string (lowercase ASCII letters).
    pub key_len: usize,
    /// Distinct outcomes in the data (all listed in the model).
    pub data_outcomes: usize,
    /// Model outcomes that never occur in the data.
    pub model_only_outcomes: usize,
    /// Data lines.
    pub lines: usize,
}

/// Our hidden cases: the shapes of the course's sets 3 and 4 with seeds of our own.
pub const HIDDEN_CASES: [CaseSpec; 2] = [
    CaseSpec {
        name: "hidden_3",
        seed: 20_261_127,
        key_len: 5,
        data_outcomes: 97,
        model_only_outcomes: 3,
        lines: 1000,
    },
    CaseSpec {
        name: "hidden_4",
        seed: 20_261_128,
        key_len: 8,
        data_outcomes: 200,
        model_only_outcomes: 0,
        lines: 10_000,
    },
];

/// A generated case: the contents of its data and model files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedCase {
    /// The data file, one outcome per line, `\n`-terminated.
    pub data: String,
    /// The model file, `outcome<TAB>probability` per line, `\n`-terminated.
    pub model: String,
}

/// A uniform draw in `[0, 1)` with 32 random bits.
fn uniform(rng: &mut Mt) -> f64 {
    f64::from(rng.next_u32()) / 4_294_967_296.0
}

/// A uniform index in `0..n` (n > 0) by rejection, without modulo bias.
fn index(rng: &mut Mt, n: usize) -> usize {
    let n = n as u64;
    let zone = (1u64 << 32) - (1u64 << 32) % n;
    loop {
        let v = u64::from(rng.next_u32());
        if v < zone {
            return (v % n) as usize;
        }
    }
}

/// Generates the files of `spec`, always the same for the same spec.
pub fn generate(spec: &CaseSpec) -> GeneratedCase {
    let mut rng = Mt::new(spec.seed);
    let total = spec.data_outcomes + spec.model_only_outcomes;
    let mut keys: Vec<String> = Vec::with_capacity(total);
    while keys.len() < total {
        let key: String = (0..spec.key_len)
            .map(|_| char::from(b'a' + index(&mut rng, 26) as u8))
            .collect();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    // Model: exponential weights, normalised.
    let weights: Vec<f64> = (0..total)
        .map(|_| -(1.0 - uniform(&mut rng)).ln())
        .collect();
    let sum: f64 = weights.iter().sum();
    let model_p: Vec<f64> = weights.iter().map(|w| w / sum).collect();
    // Data: the model over the data outcomes, each weight perturbed by a factor in [0.5, 1.5).
    let data_w: Vec<f64> = model_p[..spec.data_outcomes]
        .iter()
        .map(|p| p * (0.5 + uniform(&mut rng)))
        .collect();
    let data_sum: f64 = data_w.iter().sum();
    let mut cumulative = Vec::with_capacity(data_w.len());
    let mut acc = 0.0;
    for w in &data_w {
        acc += w / data_sum;
        cumulative.push(acc);
    }
    let mut lines: Vec<usize> = (0..spec.data_outcomes).collect();
    while lines.len() < spec.lines {
        let u = uniform(&mut rng);
        let i = cumulative.partition_point(|&c| c <= u);
        lines.push(i.min(spec.data_outcomes - 1));
    }
    // Shuffle the lines (Fisher-Yates) so the guaranteed first occurrences are spread out.
    for i in (1..lines.len()).rev() {
        let j = index(&mut rng, i + 1);
        lines.swap(i, j);
    }
    let mut data = String::with_capacity(spec.lines * (spec.key_len + 1));
    for &i in &lines {
        data.push_str(&keys[i]);
        data.push('\n');
    }
    // Model lines in a shuffled order too.
    let mut order: Vec<usize> = (0..total).collect();
    for i in (1..order.len()).rev() {
        let j = index(&mut rng, i + 1);
        order.swap(i, j);
    }
    let mut model = String::new();
    for &i in &order {
        model.push_str(&keys[i]);
        model.push('\t');
        model.push_str(&python_float_repr(model_p[i]));
        model.push('\n');
    }
    GeneratedCase { data, model }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_cases_have_the_course_shapes() {
        for spec in &HIDDEN_CASES {
            let case = generate(spec);
            let lines: Vec<&str> = case.data.lines().collect();
            assert_eq!(lines.len(), spec.lines);
            let mut distinct = lines.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), spec.data_outcomes);
            let model: Vec<(&str, f64)> = case
                .model
                .lines()
                .map(|l| {
                    let (k, v) = l.split_once('\t').unwrap();
                    (k, v.parse().unwrap())
                })
                .collect();
            assert_eq!(model.len(), spec.data_outcomes + spec.model_only_outcomes);
            let absent = model.iter().filter(|(k, _)| !distinct.contains(k)).count();
            assert_eq!(absent, spec.model_only_outcomes);
            let sum: f64 = model.iter().map(|(_, p)| p).sum();
            assert!((sum - 1.0).abs() < 1e-9);
            assert!(distinct.iter().all(|k| k.len() == spec.key_len));
            assert_eq!(generate(spec), case, "deterministic");
        }
    }
}
