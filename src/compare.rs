//! How a solution's stdout is compared with the expected output.
//!
//! Both texts are split into lines (trailing whitespace of each line and trailing empty lines are
//! ignored) and each line into whitespace-separated tokens, so `Epoch  1/10` (the course's
//! hand-aligned examples) equals `Epoch 1/10`. Tokens are compared one by one:
//!
//! * a number (`0.96`, `-0.00`, `inf`, `1.00e-05`, also as `name=value` or with a `%` suffix) is
//!   compared **at the printed precision** of the expected token: `|got - expected|` may be at most
//!   half a unit of its last printed digit (`0.96` accepts `[0.955, 0.965]`, so a solution printing
//!   more digits passes and one that truncates instead of rounding fails). `inf` and `nan` must be
//!   `inf` and `nan`;
//! * under [`Rule::EpochLines`] each metric may also differ by the rule's absolute tolerance (the
//!   course warns that "results may be slightly different, depending on your CPU type"), and the
//!   elapsed time (`1.7s`, or `[TIME]s` in our masked snapshots) is ignored: any `<number>s` token
//!   matches;
//! * anything else must be equal.

use std::fmt;

/// The comparison rule of a case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    /// Result lines (`Entropy: 0.96 nats`, `Total variance: 53.12`): numbers at the printed precision.
    Numbers,
    /// Epoch lines (`Epoch 1/1 1.1s loss=0.5340 ...`): the time ignored, each metric within
    /// `tolerance` (absolute) or the printed precision, whichever is larger.
    EpochLines {
        /// Allowed absolute difference of each metric.
        tolerance: f64,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Numbers => write!(f, "numbers at the printed precision"),
            Rule::EpochLines { tolerance } => {
                write!(
                    f,
                    "epoch lines: time ignored, each metric within {tolerance}"
                )
            }
        }
    }
}

/// The first difference between the expected and the actual output.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// 1-based line number.
    pub line: usize,
    /// The expected line (`None`: the solution printed more lines than expected).
    pub expected: Option<String>,
    /// The solution's line (`None`: the solution printed fewer lines).
    pub got: Option<String>,
    /// What differs, e.g. `Crossentropy: 0.99 vs 1.43 (allowed difference 0.005)`.
    pub reason: String,
}

fn lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// Compares `got` with `expected` under `rule`; `Err` holds the first difference.
pub fn compare(expected: &str, got: &str, rule: Rule) -> Result<(), Difference> {
    let (exp, got) = (lines(expected), lines(got));
    for i in 0..exp.len().max(got.len()) {
        let (e, g) = (exp.get(i).copied(), got.get(i).copied());
        let reason = match (e, g) {
            (Some(e), Some(g)) => match compare_line(e, g, rule) {
                Ok(()) => continue,
                Err(reason) => reason,
            },
            (Some(_), None) => "missing line".to_owned(),
            (None, Some(_)) => "unexpected extra line".to_owned(),
            (None, None) => unreachable!("i is below one of the lengths"),
        };
        return Err(Difference {
            line: i + 1,
            expected: e.map(str::to_owned),
            got: g.map(str::to_owned),
            reason,
        });
    }
    Ok(())
}

fn compare_line(expected: &str, got: &str, rule: Rule) -> Result<(), String> {
    let (exp, got): (Vec<&str>, Vec<&str>) = (
        expected.split_whitespace().collect(),
        got.split_whitespace().collect(),
    );
    if exp.len() != got.len() {
        return Err(format!(
            "{} words expected, {} printed",
            exp.len(),
            got.len()
        ));
    }
    for (e, g) in exp.iter().zip(&got) {
        compare_token(e, g, rule)?;
    }
    Ok(())
}

/// A masked time in an expected epoch line (insta snapshots of our reference filter times so).
pub const MASKED_TIME: &str = "[TIME]s";

fn is_time(token: &str) -> bool {
    token
        .strip_suffix('s')
        .is_some_and(|n| !n.is_empty() && n.parse::<f64>().is_ok_and(f64::is_finite))
}

fn compare_token(expected: &str, got: &str, rule: Rule) -> Result<(), String> {
    if expected == got {
        return Ok(());
    }
    let tolerance = match rule {
        Rule::Numbers => 0.0,
        Rule::EpochLines { tolerance } => {
            if is_time(expected) || expected == MASKED_TIME {
                return if is_time(got) {
                    Ok(())
                } else {
                    Err(format!("`{got}` is not an elapsed time like `{expected}`"))
                };
            }
            tolerance
        }
    };
    let mismatch = || format!("`{got}` instead of `{expected}`");
    // `name=value`: the names must agree, the values are compared as numbers.
    let (label, e, g) = match (expected.rsplit_once('='), got.rsplit_once('=')) {
        (Some((en, ev)), Some((gn, gv))) if en == gn => (format!("{en} "), ev, gv),
        (Some(_), _) | (_, Some(_)) => return Err(mismatch()),
        (None, None) => (String::new(), expected, got),
    };
    // A trailing `%` (or `:`) is part of the format, not of the number.
    let (e, g) = match (e.strip_suffix('%'), g.strip_suffix('%')) {
        (Some(e), Some(g)) => (e, g),
        (None, None) => (e, g),
        _ => return Err(mismatch()),
    };
    let Some((ev, half_unit)) = parse_printed(e) else {
        return Err(mismatch());
    };
    let Some((gv, _)) = parse_printed(g) else {
        return Err(mismatch());
    };
    if ev.is_nan() || gv.is_nan() || ev.is_infinite() || gv.is_infinite() {
        return if ev.is_nan() && gv.is_nan() || ev == gv {
            Ok(())
        } else {
            Err(format!("{label}{g} instead of {e}"))
        };
    }
    // The relative slack absorbs the binary representation of the decimal bounds.
    let allowed = half_unit.max(tolerance);
    if (gv - ev).abs() <= allowed * (1.0 + 1e-9) {
        Ok(())
    } else {
        Err(format!(
            "{label}{g} instead of {e} (difference {}, allowed {})",
            short(gv - ev),
            short(allowed)
        ))
    }
}

/// What a ReCodEx `main` must return, read off a case's expected stdout.
#[derive(Debug, Clone, PartialEq)]
pub enum Returns {
    /// A tuple of numbers: the numbers of the result lines, in order (`numpy_entropy`,
    /// `pca_first`, whose `Explained variance: 9.64%` is returned as 9.64).
    Sequence(Vec<ExpectedValue>),
    /// A dictionary: the `dev:` metrics of the last epoch line (`mnist_layers_activations`).
    Mapping(Vec<ExpectedValue>),
}

/// One expected returned value.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedValue {
    /// Its name: the result line's label (`Entropy`) or the dictionary key (`dev:loss`).
    pub label: String,
    /// The expected number as printed (`0.96`, `inf`): its precision is the allowed difference.
    pub token: String,
}

impl Returns {
    /// The returned values that the course's template promises for an output like `expected`.
    pub fn from_expected(expected: &str, rule: Rule) -> Returns {
        match rule {
            Rule::Numbers => Returns::Sequence(
                lines(expected)
                    .iter()
                    .flat_map(|line| {
                        let label = line
                            .split_once(':')
                            .map_or(*line, |(l, _)| l)
                            .trim()
                            .to_owned();
                        line.split_whitespace()
                            .map(|t| t.strip_suffix('%').unwrap_or(t))
                            .filter(|t| parse_printed(t).is_some())
                            .map(move |t| ExpectedValue {
                                label: label.clone(),
                                token: t.to_owned(),
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            ),
            Rule::EpochLines { .. } => Returns::Mapping(
                lines(expected)
                    .last()
                    .map(|line| {
                        line.split_whitespace()
                            .filter_map(|t| t.split_once('='))
                            .filter(|(name, _)| name.starts_with("dev:"))
                            .map(|(name, value)| ExpectedValue {
                                label: name.to_owned(),
                                token: value.to_owned(),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
        }
    }

    /// Compares what `main` returned (the driver's JSON) with the expected values; `Err` says
    /// what differs first.
    pub fn compare(&self, got: &serde_json::Value, rule: Rule) -> Result<(), String> {
        let tolerance = match rule {
            Rule::Numbers => 0.0,
            Rule::EpochLines { tolerance } => tolerance,
        };
        let names = |values: &[ExpectedValue]| {
            values
                .iter()
                .map(|v| v.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if got.is_null() {
            return Err(
                "main returned None: ReCodEx checks the value main returns, not what it prints"
                    .to_owned(),
            );
        }
        match self {
            Returns::Sequence(expected) => {
                let values: Vec<&serde_json::Value> = match got {
                    serde_json::Value::Array(items) => items.iter().collect(),
                    one => vec![one],
                };
                if values.len() != expected.len() {
                    return Err(format!(
                        "main returned {} value(s), expected {} ({})",
                        values.len(),
                        expected.len(),
                        names(expected)
                    ));
                }
                for (e, g) in expected.iter().zip(values) {
                    compare_returned_number(e, g, tolerance)?;
                }
                Ok(())
            }
            Returns::Mapping(expected) => {
                let serde_json::Value::Object(map) = got else {
                    return Err(format!(
                        "main returned {}, expected a dictionary with {}",
                        abbreviate(&got.to_string(), 60),
                        names(expected)
                    ));
                };
                for e in expected {
                    let g = map
                        .get(&e.label)
                        .ok_or_else(|| format!("the returned dictionary has no `{}`", e.label))?;
                    compare_returned_number(e, g, tolerance)?;
                }
                Ok(())
            }
        }
    }
}

/// A returned number (or the driver's "nan", "inf", "-inf") against an expected printed token.
fn compare_returned_number(
    expected: &ExpectedValue,
    got: &serde_json::Value,
    tolerance: f64,
) -> Result<(), String> {
    let value = match got {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.parse::<f64>().ok(),
        serde_json::Value::Array(one) if one.len() == 1 => one[0].as_f64(),
        _ => None,
    };
    let Some(value) = value else {
        return Err(format!(
            "{}: main returned {}, not a number",
            expected.label,
            abbreviate(&got.to_string(), 60)
        ));
    };
    let (ev, half_unit) = parse_printed(&expected.token).expect("expected tokens are numbers");
    let shown = format!("{value}");
    if ev.is_nan() || value.is_nan() || ev.is_infinite() || value.is_infinite() {
        return if ev.is_nan() && value.is_nan() || ev == value {
            Ok(())
        } else {
            Err(format!(
                "{}: main returned {shown} instead of {}",
                expected.label, expected.token
            ))
        };
    }
    let allowed = half_unit.max(tolerance);
    if (value - ev).abs() <= allowed * (1.0 + 1e-9) {
        Ok(())
    } else {
        Err(format!(
            "{}: main returned {shown} instead of {} (difference {}, allowed {})",
            expected.label,
            expected.token,
            short(value - ev),
            short(allowed)
        ))
    }
}

/// At most `max` bytes of `text` (on a character boundary), with `…` and the full length when cut:
/// a report never echoes a solution's megabyte-long line.
pub fn abbreviate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

fn short(x: f64) -> String {
    let s = format!("{:.6}", x.abs());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "0" {
        format!("{:.1e}", x.abs())
    } else {
        s.to_owned()
    }
}

/// Parses a printed number and returns it with half a unit of its last printed digit
/// (`0.96` -> 0.005, `1.00e-05` -> 5e-8, `53` -> 0.5).
fn parse_printed(token: &str) -> Option<(f64, f64)> {
    let value: f64 = token.parse().ok()?;
    let lower = token.to_ascii_lowercase();
    let (mantissa, exponent) = match lower.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (lower.as_str(), 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len());
    let decimals = i32::try_from(decimals).ok()?;
    Some((value, 0.5 * 10f64.powi(exponent - decimals)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NE: &str = "Entropy: 0.96 nats\nCrossentropy: 0.99 nats\nKL divergence: 0.03 nats\n";

    #[test]
    fn numbers_at_the_printed_precision() {
        assert_eq!(compare(NE, NE, Rule::Numbers), Ok(()));
        let more = "Entropy: 0.9557 nats\nCrossentropy: 0.98682 nats\nKL divergence: 0.031 nats";
        assert_eq!(compare(NE, more, Rule::Numbers), Ok(()));
        let truncated = "Entropy: 0.95 nats\nCrossentropy: 0.99 nats\nKL divergence: 0.03 nats\n";
        let d = compare(NE, truncated, Rule::Numbers).unwrap_err();
        assert_eq!(d.line, 1);
        assert_eq!(
            d.reason,
            "0.95 instead of 0.96 (difference 0.01, allowed 0.005)"
        );
        assert_eq!(
            compare(
                "Explained variance: 9.64%",
                "Explained variance: 9.64",
                Rule::Numbers
            )
            .unwrap_err()
            .reason,
            "`9.64` instead of `9.64%`"
        );
        assert_eq!(
            compare(
                "KL divergence: 0.00 nats",
                "KL divergence: -0.00 nats",
                Rule::Numbers
            ),
            Ok(())
        );
    }

    #[test]
    fn infinities_and_words_are_exact() {
        let inf = "Crossentropy: inf nats";
        assert_eq!(compare(inf, inf, Rule::Numbers), Ok(()));
        assert!(compare(inf, "Crossentropy: 1e308 nats", Rule::Numbers).is_err());
        assert!(compare(inf, "Crossentropy: nan nats", Rule::Numbers).is_err());
        assert!(compare(inf, "Cross-entropy: inf nats", Rule::Numbers).is_err());
        assert!(compare(inf, "Crossentropy: inf", Rule::Numbers).is_err());
    }

    #[test]
    fn missing_extra_and_blank_lines() {
        let d = compare(NE, "Entropy: 0.96 nats\n", Rule::Numbers).unwrap_err();
        assert_eq!(
            (d.line, d.got, d.reason.as_str()),
            (2, None, "missing line")
        );
        let d = compare(NE, &format!("{NE}debug\n"), Rule::Numbers).unwrap_err();
        assert_eq!((d.line, d.expected), (4, None));
        assert_eq!(
            compare(NE, &format!("{}  \n\n\n", NE.trim_end()), Rule::Numbers),
            Ok(())
        );
    }

    #[test]
    fn epoch_lines_ignore_time_and_allow_the_tolerance() {
        let rule = Rule::EpochLines { tolerance: 0.005 };
        let e = "Epoch 1/1 1.1s loss=0.5340 accuracy=0.8632 dev:loss=0.2762 dev:accuracy=0.9278";
        let g = "Epoch 1/1 13.7s loss=0.5371 accuracy=0.8631 dev:loss=0.2762 dev:accuracy=0.9280";
        assert_eq!(compare(e, g, rule), Ok(()));
        assert_eq!(
            compare(e, g, Rule::Numbers).unwrap_err().reason,
            "`13.7s` instead of `1.1s`"
        );
        let wrong =
            "Epoch 1/1 1.1s loss=0.3149 accuracy=0.9109 dev:loss=0.1453 dev:accuracy=0.9606";
        assert_eq!(
            compare(e, wrong, rule).unwrap_err().reason,
            "loss 0.3149 instead of 0.5340 (difference 0.2191, allowed 0.005)"
        );
        let renamed =
            "Epoch 1/1 1.1s train_loss=0.5340 accuracy=0.8632 dev:loss=0.2762 dev:accuracy=0.9278";
        assert!(compare(e, renamed, rule).is_err());
        assert_eq!(
            compare(
                "Epoch  1/10 1.1s loss=0.5374",
                "Epoch 1/10 0.3s loss=0.5374",
                rule
            ),
            Ok(())
        );
        assert!(
            compare(
                e,
                "Epoch 1/1 fast loss=0.5340 accuracy=0.8632 dev:loss=0.2762 dev:accuracy=0.9278",
                rule
            )
            .is_err()
        );
    }

    #[test]
    fn returned_values_against_the_expected_output() {
        let r = Returns::from_expected(NE, Rule::Numbers);
        let Returns::Sequence(values) = &r else {
            panic!("{r:?}")
        };
        assert_eq!(values.len(), 3);
        assert_eq!(
            (values[2].label.as_str(), values[2].token.as_str()),
            ("KL divergence", "0.03")
        );
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(
            r.compare(&json("[0.9557, 0.9868, 0.031]"), Rule::Numbers),
            Ok(())
        );
        let e = r
            .compare(&json("[0.9557, 1.43, 0.031]"), Rule::Numbers)
            .unwrap_err();
        assert!(
            e.starts_with("Crossentropy: main returned 1.43 instead of 0.99"),
            "{e}"
        );
        assert!(
            r.compare(&json("null"), Rule::Numbers)
                .unwrap_err()
                .contains("None")
        );
        assert!(
            r.compare(&json("[1, 2]"), Rule::Numbers)
                .unwrap_err()
                .contains("2 value(s), expected 3")
        );
        let inf = Returns::from_expected("Crossentropy: inf nats", Rule::Numbers);
        assert_eq!(inf.compare(&json("[\"inf\"]"), Rule::Numbers), Ok(()));
        assert!(inf.compare(&json("[1e308]"), Rule::Numbers).is_err());
        let pca = Returns::from_expected(
            "Total variance: 53.12\nExplained variance: 9.64%\n",
            Rule::Numbers,
        );
        assert_eq!(
            pca.compare(&json("[53.1234, 9.6412]"), Rule::Numbers),
            Ok(())
        );

        let rule = Rule::EpochLines { tolerance: 0.005 };
        let m = Returns::from_expected(
            "Epoch 1/1 1.1s loss=0.5340 accuracy=0.8632 dev:loss=0.2762 dev:accuracy=0.9278",
            rule,
        );
        assert_eq!(
            m.compare(
                &json(r#"{"dev:loss": 0.2771, "dev:accuracy": 0.9280}"#),
                rule
            ),
            Ok(())
        );
        assert!(
            m.compare(&json(r#"{"dev:loss": 0.2771}"#), rule)
                .unwrap_err()
                .contains("dev:accuracy")
        );
        assert!(
            m.compare(&json("[0.27, 0.93]"), rule)
                .unwrap_err()
                .contains("dictionary")
        );
        assert_eq!(abbreviate("ab", 5), "ab");
        assert_eq!(abbreviate(&"é".repeat(10), 5), "éé… (20 bytes in all)");
    }

    #[test]
    fn printed_precision() {
        assert_eq!(parse_printed("0.96"), Some((0.96, 0.005)));
        assert_eq!(parse_printed("53"), Some((53.0, 0.5)));
        let (v, h) = parse_printed("1.00e-05").unwrap();
        assert_eq!(v, 1e-5);
        assert!((h - 5e-8).abs() < 1e-20);
        assert!(parse_printed("nats").is_none());
    }
}
