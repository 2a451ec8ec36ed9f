//! [`ModelDistribution`]: a model file of `outcome<TAB>probability` lines.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read;
use std::path::Path;

use super::float::parse_python_float;
use super::hash::FxBuild;
use super::lines::for_each_line;
use super::{DistributionError, open};

/// A model distribution: a probability for each listed outcome.
#[derive(Debug, Clone, Default)]
pub struct ModelDistribution {
    probabilities: HashMap<String, (f64, u64), FxBuild>,
}

impl ModelDistribution {
    /// Reads a model file of `outcome<TAB>probability` lines.
    ///
    /// # Errors
    /// An unreadable file, a line without a tab, a probability that is not a number in `[0, 1]`,
    /// a repeated outcome, or a line that is not UTF-8.
    pub fn from_path(path: &Path) -> Result<Self, DistributionError> {
        Self::from_reader(open(path)?, path)
    }

    /// Reads model lines from `reader`; `path` names the source in errors.
    ///
    /// # Errors
    /// As [`from_path`](Self::from_path).
    pub fn from_reader<R: Read>(
        reader: R,
        path: impl AsRef<Path>,
    ) -> Result<Self, DistributionError> {
        let path = path.as_ref();
        let mut model = ModelDistribution::default();
        let mut add = |line: &[u8], line_no: u64| -> Result<(), DistributionError> {
            let text = std::str::from_utf8(line).map_err(|_| DistributionError::InvalidUtf8 {
                path: path.to_path_buf(),
                line: line_no,
            })?;
            let (key, value) =
                text.split_once('\t')
                    .ok_or_else(|| DistributionError::MissingTab {
                        path: path.to_path_buf(),
                        line: line_no,
                    })?;
            let bad = |reason| DistributionError::BadProbability {
                path: path.to_path_buf(),
                line: line_no,
                value: value.to_owned(),
                reason,
            };
            let p = parse_python_float(value).ok_or_else(|| bad("is not a number"))?;
            if p.is_nan() {
                return Err(bad("is NaN"));
            }
            if p < 0.0 {
                return Err(bad("is negative"));
            }
            if p > 1.0 {
                return Err(bad("is above 1"));
            }
            match model.probabilities.entry(key.to_owned()) {
                Entry::Occupied(first) => Err(DistributionError::DuplicateKey {
                    path: path.to_path_buf(),
                    line: line_no,
                    key: key.to_owned(),
                    first_line: first.get().1,
                }),
                Entry::Vacant(slot) => {
                    slot.insert((p, line_no));
                    Ok(())
                }
            }
        };
        for_each_line(reader, &mut add, path)?;
        Ok(model)
    }

    /// The model probability of `outcome`, `None` when the model does not list it.
    pub fn probability(&self, outcome: &str) -> Option<f64> {
        self.probabilities.get(outcome).map(|&(p, _)| p)
    }

    /// The number of listed outcomes.
    pub fn len(&self) -> usize {
        self.probabilities.len()
    }

    /// Whether the model lists no outcome.
    pub fn is_empty(&self) -> bool {
        self.probabilities.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_parsing_and_errors() {
        let m = ModelDistribution::from_reader("a b\t 1e-3 \nc\t0\n".as_bytes(), "m").unwrap();
        assert_eq!(m.probability("a b"), Some(0.001));
        assert_eq!(m.probability("c"), Some(0.0));
        assert_eq!(m.probability("d"), None);
        let err = |text: &str| {
            ModelDistribution::from_reader(text.as_bytes(), "m.txt")
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("a\t0.5\nb 0.5\n"),
            "m.txt:2: expected `outcome<TAB>probability`, found no tab"
        );
        assert_eq!(err("a\tx\n"), "m.txt:1: probability \"x\" is not a number");
        assert_eq!(
            err("a\t0.5\tb\n"),
            "m.txt:1: probability \"0.5\\tb\" is not a number"
        );
        assert_eq!(
            err("a\t-0.1\n"),
            "m.txt:1: probability \"-0.1\" is negative"
        );
        assert_eq!(err("a\tnan\n"), "m.txt:1: probability \"nan\" is NaN");
        assert_eq!(err("a\t1.5\n"), "m.txt:1: probability \"1.5\" is above 1");
        assert_eq!(err("a\tinf\n"), "m.txt:1: probability \"inf\" is above 1");
        assert_eq!(
            err("a\t0.5\nb\t0.2\na\t0.3\n"),
            "m.txt:3: outcome \"a\" was already given on line 1"
        );
    }
}
