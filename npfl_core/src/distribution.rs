//! Distributions over string outcomes, read the way the course's Python reads them.
//!
//! * [`DataDistribution`]: the empirical distribution of a data file, one data point per line.
//!   The whole line is the outcome; lines end at `\n`, `\r\n` or a lone `\r` (Python's text mode,
//!   universal newlines), any other whitespace is part of the outcome, an empty line is the
//!   outcome `""`. Reading streams: memory grows with the number of distinct outcomes, not lines.
//! * [`ModelDistribution`]: a model file of `outcome<TAB>probability` lines, the probability a
//!   float as Python's `float()` reads it (surrounding whitespace allowed, exponents allowed).
//!
//! ```
//! use npfl_core::distribution::{DataDistribution, ModelDistribution};
//! let data = DataDistribution::from_reader("A\nBB\nA\n".as_bytes(), "data.txt").unwrap();
//! assert_eq!(data.outcomes().collect::<Vec<_>>(), ["A", "BB"]);
//! assert_eq!(data.probabilities(), [2.0 / 3.0, 1.0 / 3.0]);
//! let model = ModelDistribution::from_reader("A\t0.5\nBB\t4.5e-01\n".as_bytes(), "model.txt").unwrap();
//! assert_eq!(model.probability("BB"), Some(0.45));
//! ```

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// What can go wrong reading a data or model file. Each message is one line naming the file
/// (and the 1-based line where there is one).
#[derive(Debug, thiserror::Error)]
pub enum DistributionError {
    /// The file could not be opened or read.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The data file has no lines, so it defines no distribution.
    #[error("{}: the data file is empty: it needs at least one line", path.display())]
    EmptyData {
        /// The file.
        path: PathBuf,
    },
    /// A line is not valid UTF-8.
    #[error("{}:{line}: the line is not valid UTF-8", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// A model line has no tab between the outcome and its probability.
    #[error("{}:{line}: expected `outcome<TAB>probability`, found no tab", path.display())]
    MissingTab {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
    },
    /// A model probability is not a number in `[0, 1]`.
    #[error("{}:{line}: probability {value:?} {reason}", path.display())]
    BadProbability {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The text that was read.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A model outcome appears twice.
    #[error("{}:{line}: outcome {key:?} was already given on line {first_line}", path.display())]
    DuplicateKey {
        /// The file.
        path: PathBuf,
        /// 1-based line number of the repetition.
        line: u64,
        /// The repeated outcome.
        key: String,
        /// 1-based line number of its first appearance.
        first_line: u64,
    },
}

/// FxHash (rustc's hasher): a few instructions per 8 bytes, far cheaper than SipHash for the
/// short keys counted here. Outcomes come from the user's own files, so flooding is no concern.
#[derive(Default, Clone, Copy)]
struct FxHasher {
    hash: u64,
}

impl FxHasher {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(Self::SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// A line of at most 16 bytes as two little-endian words plus its length (so that `"a"` and
/// `"a\0"` differ).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ShortKey([u64; 2], u8);

impl std::hash::Hash for ShortKey {
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0[0]);
        state.write_u64(self.0[1] ^ (u64::from(self.1) << 56));
    }
}

impl ShortKey {
    #[inline]
    fn new(bytes: &[u8]) -> Option<Self> {
        let n = bytes.len();
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let words = match n {
            // Two overlapping loads, the second shifted so that no byte is counted twice.
            9..=16 => [word(0), word(n - 8) >> (8 * (16 - n))],
            8 => [word(0), 0],
            0..=7 => {
                let mut lo = 0u64;
                for (i, &b) in bytes.iter().enumerate() {
                    lo |= u64::from(b) << (8 * i);
                }
                [lo, 0]
            }
            _ => return None,
        };
        Some(ShortKey(words, n as u8))
    }
}

/// Splits a byte stream into lines with Python's universal-newline rule, calling `f` with each
/// line's bytes (terminator removed) and its 1-based number. Buffers one chunk plus one line.
fn for_each_line<R: Read>(
    mut reader: R,
    mut f: impl FnMut(&[u8], u64) -> Result<(), DistributionError>,
    path: &Path,
) -> Result<u64, DistributionError> {
    const CHUNK: usize = 1 << 20;
    let io_err = |source| DistributionError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut buf = vec![0u8; CHUNK];
    // Bytes of a line that started in an earlier chunk.
    let mut carry: Vec<u8> = Vec::new();
    // The previous chunk ended with '\r': a '\n' starting this chunk belongs to that terminator.
    let mut pending_cr = false;
    let mut line_no = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        let mut chunk = &buf[..n];
        if pending_cr {
            pending_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        let mut start = 0;
        while let Some(offset) = find_eol(&chunk[start..]) {
            let i = start + offset;
            let b = chunk[i];
            line_no += 1;
            if carry.is_empty() {
                f(&chunk[start..i], line_no)?;
            } else {
                carry.extend_from_slice(&chunk[start..i]);
                f(&carry, line_no)?;
                carry.clear();
            }
            let mut end = i;
            if b == b'\r' {
                if i + 1 < chunk.len() {
                    if chunk[i + 1] == b'\n' {
                        end += 1;
                    }
                } else {
                    pending_cr = true;
                }
            }
            start = end + 1;
        }
        carry.extend_from_slice(&chunk[start..]);
    }
    if !carry.is_empty() {
        line_no += 1;
        f(&carry, line_no)?;
    }
    Ok(line_no)
}

/// The index of the first `\n` or `\r` in `bytes`, eight bytes at a time (SWAR).
#[inline]
fn find_eol(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let v = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let (nl, cr) = (v ^ (LO * u64::from(b'\n')), v ^ (LO * u64::from(b'\r')));
        // A zero byte in `nl` or `cr` marks a match; this test has no false positives below
        // the first true one, and trailing_zeros picks the lowest (= first) byte.
        let found = (nl.wrapping_sub(LO) & !nl & HI) | (cr.wrapping_sub(LO) & !cr & HI);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|p| base + p)
}

fn open(path: &Path) -> Result<File, DistributionError> {
    File::open(path).map_err(|source| DistributionError::Io {
        path: path.to_path_buf(),
        source,
    })
}

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

/// Python's `float(text)`: surrounding whitespace is ignored, `_` may separate digits, and
/// `inf`/`nan` spellings are accepted (the caller decides what to make of them).
fn parse_python_float(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if !t.contains('_') {
        return t.parse().ok();
    }
    // An underscore is allowed only between two digits.
    let b = t.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let digit_before = i > 0 && b[i - 1].is_ascii_digit();
            let digit_after = i + 1 < b.len() && b[i + 1].is_ascii_digit();
            if !digit_before || !digit_after {
                return None;
            }
        }
    }
    t.replace('_', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call, to cross chunk boundaries.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn lines(text: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for step in [1, 2, 3, 1 << 20] {
            let mut got = Vec::new();
            for_each_line(
                Trickle { data: text, step },
                |l, _| {
                    got.push(String::from_utf8(l.to_vec()).unwrap());
                    Ok(())
                },
                Path::new("t"),
            )
            .unwrap();
            if step > 1 {
                assert_eq!(got, out, "step {step}");
            }
            out = got;
        }
        out
    }

    #[test]
    fn universal_newlines_like_python_text_mode() {
        assert_eq!(lines(b"A\nBB\nA\n"), ["A", "BB", "A"]);
        assert_eq!(lines(b"A\nBB"), ["A", "BB"]);
        assert_eq!(lines(b"A\r\nBB\r\n"), ["A", "BB"]);
        assert_eq!(lines(b"A\rBB\r"), ["A", "BB"]);
        assert_eq!(lines(b"A\r\r\nB"), ["A", "", "B"]);
        assert_eq!(lines(b"\n\n"), ["", ""]);
        assert_eq!(lines(b" A \t\n"), [" A \t"]);
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn short_keys_pack_bytes_exactly() {
        for n in 0..=16usize {
            let bytes: Vec<u8> = (1..=n as u8).collect();
            let mut expected = [0u8; 16];
            expected[..n].copy_from_slice(&bytes);
            let key = ShortKey::new(&bytes).unwrap();
            let lo = u64::from_le_bytes(expected[..8].try_into().unwrap());
            let hi = u64::from_le_bytes(expected[8..].try_into().unwrap());
            assert_eq!(key, ShortKey([lo, hi], n as u8), "length {n}");
        }
        assert!(ShortKey::new(&[0; 17]).is_none());
        assert_ne!(ShortKey::new(b"a"), ShortKey::new(b"a\0"));
    }

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

    #[test]
    fn python_float_syntax() {
        assert_eq!(
            parse_python_float("4.5815030263525e-05"),
            Some(4.5815030263525e-05)
        );
        assert_eq!(parse_python_float(" 0.25\r"), Some(0.25));
        assert_eq!(parse_python_float("0_5"), Some(5.0));
        assert_eq!(parse_python_float("1__0"), None);
        assert_eq!(parse_python_float("_1"), None);
        assert_eq!(parse_python_float(""), None);
        assert_eq!(parse_python_float("1e"), None);
    }
}
