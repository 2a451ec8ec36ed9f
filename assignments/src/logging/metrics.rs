//! The course's number formatting: metric values (`BaseLogger.format_metrics`), epoch lines
//! (`TrainableModule.fit`) and Python's `str()` of configuration values.

use std::fmt;
use std::time::Duration;

/// Formats one metric value as the course prints it (course: `labs/npfl138/trainable_module.py`).
///
/// Values with `0 < |v| < 2e-4` use Python's `.2e` (`1.00e-05`, at least two exponent digits and
/// an explicit sign), everything else Python's `.4f` (`0.5340`, `123456.7890`); NaN and the
/// infinities print as `nan`, `inf` and `-inf`. Rounding is that of Python: the exact binary
/// value rounded to nearest, ties to even.
pub fn format_metric(v: f64) -> String {
    let mut out = String::new();
    push_metric(&mut out, v);
    out
}

/// Appends [`format_metric`]`(v)` to `out` without an intermediate allocation.
pub(crate) fn push_metric(out: &mut String, v: f64) {
    use fmt::Write;
    if v.is_nan() {
        out.push_str("nan");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else if v != 0.0 && v.abs() < 2e-4 {
        // Rust prints `1.00e-5`; Python pads the exponent to two digits with a sign.
        let start = out.len();
        write!(out, "{v:.2e}").expect("writing to a String cannot fail");
        let e = start
            + out[start..]
                .find('e')
                .expect("`{:e}` output has an exponent");
        let exponent = out[e + 1..].to_owned();
        out.truncate(e + 1);
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(digits) => ('-', digits),
            None => ('+', exponent.as_str()),
        };
        out.push(sign);
        if digits.len() < 2 {
            out.push('0');
        }
        out.push_str(digits);
    } else {
        write!(out, "{v:.4}").expect("writing to a String cannot fail");
    }
}

/// Formats logs as the course does: `name=value` pairs separated by single spaces, in the given
/// order, each value by [`format_metric`]. Empty logs give an empty string.
pub(crate) fn format_metrics(logs: &[(&str, f64)]) -> String {
    let mut out = String::new();
    push_metrics(&mut out, logs);
    out
}

/// Appends [`format_metrics`]`(logs)` to `out`.
pub(crate) fn push_metrics(out: &mut String, logs: &[(&str, f64)]) {
    for (i, (name, value)) in logs.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(name);
        out.push('=');
        push_metric(out, *value);
    }
}

/// One epoch line of `TrainableModule.fit` (course: `labs/npfl138/trainable_module.py`):
/// `Epoch {epoch}/{epochs} {elapsed:.1f}s name=value ...`.
///
/// There is no padding; with empty logs the line ends with a space, as the course's does
/// (it joins three parts with spaces and the last one is empty).
#[derive(Clone, Copy, Debug)]
pub struct EpochLine<'a> {
    /// The 1-based epoch just finished.
    pub epoch: usize,
    /// The total number of epochs (initial epoch plus the epochs to train).
    pub epochs: usize,
    /// Wall-clock time of the epoch, dev evaluation included.
    pub elapsed: Duration,
    /// The logs in insertion order: train entries first, then the `dev:` ones.
    pub logs: &'a [(&'a str, f64)],
}

impl fmt::Display for EpochLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Epoch {}/{} {:.1}s {}",
            self.epoch,
            self.epochs,
            self.elapsed.as_secs_f64(),
            format_metrics(self.logs)
        )
    }
}

/// The `Evaluation {elapsed:.1f}s test:loss=...` line that `evaluate()` prints when it logs
/// (course: `labs/npfl138/trainable_module.py`), with the same formatting rules as [`EpochLine`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct EvaluationLine<'a> {
    /// Wall-clock time of the evaluation.
    pub elapsed: Duration,
    /// The logs, already prefixed (`test:loss`, ...).
    pub logs: &'a [(&'a str, f64)],
}

impl fmt::Display for EvaluationLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Evaluation {:.1}s {}",
            self.elapsed.as_secs_f64(),
            format_metrics(self.logs)
        )
    }
}

/// A configuration value (one command-line argument) as Python holds it.
///
/// `Display` gives Python's `str()`: `True`/`False`, `None`, integers, floats as Python's
/// shortest round-trip `repr` (`0.001`, `1e-05`, `1.0`, `1e+16`, `inf`, `nan`) and strings as is.
/// (No lists: no assignment so far has a `nargs="+"` flag.)
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ConfigValue {
    /// A Python `bool`.
    Bool(bool),
    /// A Python `int`.
    Int(i64),
    /// A Python `float`.
    Float(f64),
    /// A Python `str`.
    Str(String),
    /// Python's `None`.
    None,
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Bool(true) => f.write_str("True"),
            ConfigValue::Bool(false) => f.write_str("False"),
            ConfigValue::Int(i) => write!(f, "{i}"),
            ConfigValue::Float(x) => f.write_str(&python_float_repr(*x)),
            ConfigValue::Str(s) => f.write_str(s),
            ConfigValue::None => f.write_str("None"),
        }
    }
}

impl From<bool> for ConfigValue {
    fn from(v: bool) -> Self {
        ConfigValue::Bool(v)
    }
}

impl From<i64> for ConfigValue {
    fn from(v: i64) -> Self {
        ConfigValue::Int(v)
    }
}

impl From<usize> for ConfigValue {
    fn from(v: usize) -> Self {
        ConfigValue::Int(i64::try_from(v).expect("a usize config value fits in i64"))
    }
}

impl From<f64> for ConfigValue {
    fn from(v: f64) -> Self {
        ConfigValue::Float(v)
    }
}

impl From<&str> for ConfigValue {
    fn from(v: &str) -> Self {
        ConfigValue::Str(v.to_owned())
    }
}

impl From<String> for ConfigValue {
    fn from(v: String) -> Self {
        ConfigValue::Str(v)
    }
}

impl<T: Into<ConfigValue>> From<Option<T>> for ConfigValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(ConfigValue::None, Into::into)
    }
}

/// Python's `repr(float)` (which `str(float)` equals): the shortest digits that round-trip,
/// in fixed notation when the decimal exponent is in `-4 < decpt <= 16`, else in scientific
/// notation with a signed, at least two-digit exponent; fixed notation always has a `.`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let sign = if x.is_sign_negative() { "-" } else { "" };
    if x == 0.0 {
        return format!("{sign}0.0");
    }
    // Rust's `{:e}` gives the shortest round-trip digits. When the exact binary value lies
    // halfway between two shortest candidates, Rust rounds the tie up while Python (David Gay's
    // dtoa) takes the even one: the correctly rounded (ties-to-even) decimal of the same length
    // is Python's answer whenever it round-trips.
    let shortest = format!("{:e}", x.abs());
    let n_digits = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let nearest = format!("{:.*e}", n_digits - 1, x.abs());
    let sci = if nearest.parse::<f64>() == Ok(x.abs()) {
        nearest
    } else {
        shortest
    };
    let (mantissa, exponent) = sci.split_once('e').expect("`{:e}` output has an exponent");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    // Python's decpt: the value is 0.DIGITS * 10^decpt.
    let decpt = exponent + 1;
    let n = digits.len() as i32;
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
        } else if decpt >= n {
            format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
        } else {
            let (int, frac) = digits.split_at(decpt as usize);
            format!("{sign}{int}.{frac}")
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_table() {
        // course: `labs/npfl138/trainable_module.py`, every example it documents
        assert_eq!(format_metric(0.53401), "0.5340");
        assert_eq!(format_metric(0.0), "0.0000");
        assert_eq!(format_metric(2e-4), "0.0002");
        assert_eq!(format_metric(1.99e-4), "1.99e-04");
        assert_eq!(format_metric(1e-5), "1.00e-05");
        assert_eq!(format_metric(-1.5e-4), "-1.50e-04");
        assert_eq!(format_metric(123456.789), "123456.7890");
        assert_eq!(format_metric(f64::NAN), "nan");
        assert_eq!(format_metric(f64::INFINITY), "inf");
        assert_eq!(format_metric(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn python_rounding_and_edges() {
        // Values checked against CPython 3 `f"{v:.4f}"` / `f"{v:.2e}"`.
        assert_eq!(format_metric(-0.0), "-0.0000");
        assert_eq!(format_metric(0.00005), "5.00e-05");
        assert_eq!(format_metric(0.30005), "0.3000"); // binary value is below the tie
        assert_eq!(format_metric(1.00005), "1.0001"); // binary value is above the tie
        assert_eq!(format_metric(0.12345), "0.1235");
        assert_eq!(format_metric(0.7302500009536743), "0.7303"); // f32 0.73025 widened
        assert_eq!(format_metric(1.99999e-4), "2.00e-04");
        assert_eq!(format_metric(5e-324), "4.94e-324");
        assert_eq!(format_metric(1.5e-100), "1.50e-100");
        assert_eq!(format_metric(-2e-4), "-0.0002");
        assert_eq!(format_metric(0.99994), "0.9999");
        assert_eq!(format_metric(0.99999), "1.0000");
        assert_eq!(format_metric(1e20), "100000000000000000000.0000");
    }

    #[test]
    fn epoch_line() {
        let logs = [
            ("loss", 0.31494),
            ("accuracy", 0.91094),
            ("dev:loss", 0.14530),
            ("dev:accuracy", 0.96064),
        ];
        let line = EpochLine {
            epoch: 1,
            epochs: 10,
            elapsed: Duration::from_millis(1730),
            logs: &logs,
        };
        assert_eq!(
            line.to_string(),
            "Epoch 1/10 1.7s loss=0.3149 accuracy=0.9109 dev:loss=0.1453 dev:accuracy=0.9606"
        );
        let empty = EpochLine {
            epoch: 3,
            epochs: 3,
            elapsed: Duration::from_secs_f64(123.44),
            logs: &[],
        };
        assert_eq!(empty.to_string(), "Epoch 3/3 123.4s ");
        let tiny = [("lr", 1e-5), ("loss", f64::NAN)];
        let line = EpochLine {
            epoch: 12,
            epochs: 100,
            elapsed: Duration::ZERO,
            logs: &tiny,
        };
        assert_eq!(line.to_string(), "Epoch 12/100 0.0s lr=1.00e-05 loss=nan");
    }

    #[test]
    fn elapsed_rounds_like_python() {
        // f"{x:.1f}" rounds the exact binary value, ties to even: 0.25 -> 0.2, 0.35 -> 0.3 (0.34999..).
        let at = |s: f64| {
            EpochLine {
                epoch: 1,
                epochs: 1,
                elapsed: Duration::from_secs_f64(s),
                logs: &[],
            }
            .to_string()
        };
        assert_eq!(at(0.25), "Epoch 1/1 0.2s ");
        assert_eq!(at(0.75), "Epoch 1/1 0.8s ");
        assert_eq!(at(1.05), "Epoch 1/1 1.1s "); // Duration stores 1.05 s exactly as 1_050_000_000 ns
        assert_eq!(at(1.04999), "Epoch 1/1 1.0s ");
    }

    #[test]
    fn evaluation_line() {
        let logs = [("test:loss", 0.25), ("test:accuracy", 0.9)];
        let line = EvaluationLine {
            elapsed: Duration::from_millis(400),
            logs: &logs,
        };
        assert_eq!(
            line.to_string(),
            "Evaluation 0.4s test:loss=0.2500 test:accuracy=0.9000"
        );
    }

    #[test]
    fn config_value_is_python_str() {
        assert_eq!(ConfigValue::Bool(false).to_string(), "False");
        assert_eq!(ConfigValue::Bool(true).to_string(), "True");
        assert_eq!(ConfigValue::None.to_string(), "None");
        assert_eq!(ConfigValue::Int(-42).to_string(), "-42");
        assert_eq!(ConfigValue::Str("relu".into()).to_string(), "relu");
        for (x, s) in [
            (0.001, "0.001"),
            (1e-05, "1e-05"),
            (1.0, "1.0"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (1.5e-7, "1.5e-07"),
            (123.456, "123.456"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.2345e16, "1.2345e+16"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.1 + 0.2, "0.30000000000000004"),
            // exact ties between two shortest candidates: Python takes the even digit
            (127305.0 / 131072.0, "0.9712600708007812"),
            (71938.0 / 524288.0, "0.13721084594726562"),
            (2782412975894565.0 / 4.0, "695603243973641.2"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (-0.0, "-0.0"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ] {
            assert_eq!(ConfigValue::Float(x).to_string(), s, "repr({x:?})");
        }
    }
}
