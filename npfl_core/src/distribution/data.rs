//! [`DataDistribution`]: the empirical distribution of a data file.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use super::hash::{FxBuild, ShortKey};
use super::lines::for_each_line;
use super::{DistributionError, open};

/// The empirical distribution of a data file: counts of each distinct line, in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct DataDistribution {
    /// Outcomes of at most 16 bytes, packed into words, each with its first-seen index and its
    /// count beside it, so that counting a known outcome touches one bucket (no pointer chase, no
    /// memcmp, no separate count array). Their entries in `counts` are filled in when reading ends.
    short: HashMap<ShortKey, (usize, u64), FxBuild>,
    /// Longer outcomes, counted in `counts`.
    long: HashMap<Box<[u8]>, usize, FxBuild>,
    outcomes: Vec<String>,
    counts: Vec<u64>,
    total: u64,
}

impl DataDistribution {
    /// Reads a data file (see the module docs for the line rules).
    ///
    /// # Errors
    /// An unreadable file, an empty file or a line that is not UTF-8.
    pub fn from_path(path: &Path) -> Result<Self, DistributionError> {
        Self::from_reader(open(path)?, path)
    }

    /// Reads data lines from `reader`; `path` names the source in errors.
    ///
    /// # Errors
    /// A read error, no lines at all, or a line that is not UTF-8.
    pub fn from_reader<R: Read>(
        reader: R,
        path: impl AsRef<Path>,
    ) -> Result<Self, DistributionError> {
        let path = path.as_ref();
        let mut dist = DataDistribution::default();
        for_each_line(reader, |line, line_no| dist.add(line, line_no, path), path)?;
        if dist.total == 0 {
            return Err(DistributionError::EmptyData {
                path: path.to_path_buf(),
            });
        }
        for &(index, count) in dist.short.values() {
            dist.counts[index] = count;
        }
        Ok(dist)
    }

    #[inline(always)]
    fn add(&mut self, line: &[u8], line_no: u64, path: &Path) -> Result<(), DistributionError> {
        self.total += 1;
        let short = ShortKey::new(line);
        let known = match &short {
            Some(key) => match self.short.get_mut(key) {
                Some((_, count)) => {
                    *count += 1;
                    true
                }
                None => false,
            },
            None => match self.long.get(line) {
                Some(&i) => {
                    self.counts[i] += 1;
                    true
                }
                None => false,
            },
        };
        if known {
            return Ok(());
        }
        self.add_new(line, short, line_no, path)
    }

    /// A first occurrence: only a new outcome needs checking, a known one equals an outcome
    /// already checked.
    #[cold]
    fn add_new(
        &mut self,
        line: &[u8],
        short: Option<ShortKey>,
        line_no: u64,
        path: &Path,
    ) -> Result<(), DistributionError> {
        let key = std::str::from_utf8(line).map_err(|_| DistributionError::InvalidUtf8 {
            path: path.to_path_buf(),
            line: line_no,
        })?;
        let index = self.outcomes.len();
        match short {
            Some(key) => {
                self.short.insert(key, (index, 1));
                // Filled in from the table when reading ends.
                self.counts.push(0);
            }
            None => {
                self.long.insert(line.into(), index);
                self.counts.push(1);
            }
        }
        self.outcomes.push(key.to_owned());
        Ok(())
    }

    /// The distinct outcomes in first-seen order.
    pub fn outcomes(&self) -> impl ExactSizeIterator<Item = &str> {
        self.outcomes.iter().map(String::as_str)
    }

    /// How often each outcome occurred, aligned with [`outcomes`](Self::outcomes).
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of data points (lines).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// `count / total` for each outcome, aligned with [`outcomes`](Self::outcomes).
    pub fn probabilities(&self) -> Vec<f64> {
        let total = self.total as f64;
        self.counts.iter().map(|&c| c as f64 / total).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// Ten million lines streamed from a generator that never holds them: only the distinct
    /// outcomes are kept.
    #[test]
    fn ten_million_lines_stream() {
        struct Lines {
            next: u64,
            end: u64,
            pending: Vec<u8>,
        }
        impl Read for Lines {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                while self.pending.len() < buf.len() && self.next < self.end {
                    let line = format!("key{:05}\n", self.next % 1000);
                    self.pending.extend_from_slice(line.as_bytes());
                    self.next += 1;
                }
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                Ok(n)
            }
        }
        let lines = Lines {
            next: 0,
            end: 10_000_000,
            pending: Vec::new(),
        };
        let d = DataDistribution::from_reader(lines, "generated").unwrap();
        assert_eq!(d.total(), 10_000_000);
        assert_eq!(d.counts().len(), 1000);
        assert!(d.counts().iter().all(|&c| c == 10_000));
    }

    #[test]
    fn data_counts_in_first_seen_order() {
        let d = DataDistribution::from_reader("b\na\nb\nc\nb\n".as_bytes(), "d").unwrap();
        assert_eq!(d.outcomes().collect::<Vec<_>>(), ["b", "a", "c"]);
        assert_eq!(d.counts(), [3, 1, 1]);
        assert_eq!(d.total(), 5);
    }

    #[test]
    fn short_and_long_outcomes_counted_together() {
        // Short outcomes are counted in their table, long ones (over 16 bytes) in `counts`
        // directly; both end up aligned with the first-seen order. Enough distinct outcomes to
        // make the table grow several times.
        let long = "a line of more than sixteen bytes";
        let mut text = String::new();
        let mut want = std::collections::HashMap::new();
        for i in 0..3000u32 {
            let key = match i % 3 {
                0 => format!("{}", i % 700),
                1 => format!("{long} {}", i % 50),
                _ => String::new(),
            };
            text.push_str(&key);
            text.push('\n');
            *want.entry(key).or_insert(0u64) += 1;
        }
        let d = DataDistribution::from_reader(text.as_bytes(), "d").unwrap();
        assert_eq!(d.total(), 3000);
        assert_eq!(d.outcomes().len(), want.len());
        for (outcome, &count) in d.outcomes().zip(d.counts()) {
            assert_eq!(want[outcome], count, "{outcome:?}");
        }
        assert_eq!(d.outcomes().next(), Some("0"));
        assert_eq!(d.outcomes().nth(1), Some(&*format!("{long} 1")));
        assert_eq!(d.outcomes().nth(2), Some(""));
    }

    #[test]
    fn data_errors_name_file_and_line() {
        let e = DataDistribution::from_reader("".as_bytes(), "d.txt").unwrap_err();
        assert_eq!(
            e.to_string(),
            "d.txt: the data file is empty: it needs at least one line"
        );
        let e = DataDistribution::from_reader(&b"ok\nok\n\xff\xfe\n"[..], "d.txt").unwrap_err();
        assert_eq!(e.to_string(), "d.txt:3: the line is not valid UTF-8");
    }
}
