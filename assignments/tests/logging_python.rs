//! Cross-checks the Python-compatible number formatting against CPython itself on many values:
//! `format_metric` against `f"{v:.2e}"` / `f"{v:.4f}"` (course: `labs/npfl138/trainable_module.py`), `python_float_repr`
//! against `str(v)`, and `{:.1}` (the epoch time) against `f"{v:.1f}"`.
//! Skipped with a message when python3 is missing.

use std::io::Write;
use std::process::{Command, Stdio};

use assignments::logging::{format_metric, python_float_repr};

/// Deterministic test values: random bit patterns, values around the 2e-4 switch, float32
/// values widened to float64 (what the training loop prints), and decimal near-ties.
fn values() -> Vec<f64> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = vec![
        0.0,
        -0.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        2e-4,
        1.99e-4,
        5e-324,
        f64::MAX,
    ];
    for _ in 0..5_000 {
        let r = next();
        let unit = (r >> 11) as f64 / (1u64 << 53) as f64;
        out.push(f64::from_bits(next()));
        out.push(unit);
        out.push(unit as f32 as f64);
        out.push((unit - 0.5) * 10f64.powi((r % 14) as i32 - 8));
        out.push(((unit * 1e5).round() + 0.5) / 1e5); // ties at the 5th decimal in decimal terms
        out.push(
            (r % 100_000) as f64 / [8.0, 16.0, 20_000.0, 40_000.0, 80_000.0][(r % 5) as usize],
        );
        out.push(unit * 4e-4);
    }
    out
}

#[test]
fn formatting_matches_cpython() {
    let script = r#"
import sys
for line in sys.stdin:
    v = float.fromhex(line.strip())
    m = "nan" if v != v else (f"{v:.2e}" if 0 < abs(v) < 2e-4 else f"{v:.4f}")
    print(m, str(v), f"{v:.1f}", sep="\t")
"#;
    let python = std::env::var("NPFL138_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        eprintln!("skipping formatting_matches_cpython: {python} is missing");
        return;
    };
    let values = values();
    let input: String = values.iter().map(|v| format!("{}\n", hex(*v))).collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), values.len());
    let mut mismatches = Vec::new();
    for (v, line) in values.iter().zip(lines) {
        let expected: Vec<&str> = line.split('\t').collect();
        let tenths = if v.is_nan() {
            "nan".to_owned()
        } else if v.is_infinite() {
            python_float_repr(*v)
        } else {
            format!("{v:.1}")
        };
        let got = [format_metric(*v), python_float_repr(*v), tenths];
        if got.iter().zip(&expected).any(|(g, e)| g != e) {
            mismatches.push(format!("{v:e}: python {expected:?}, rust {got:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches, e.g.\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

/// Python's `float.hex` input form: exact, so both sides format the same binary value.
fn hex(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_owned();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    let bits = v.to_bits();
    let sign = if bits >> 63 == 1 { "-" } else { "" };
    let exponent = ((bits >> 52) & 0x7ff) as i64;
    let mantissa = bits & ((1 << 52) - 1);
    if exponent == 0 {
        format!("{sign}0x0.{mantissa:013x}p-1022")
    } else {
        format!("{sign}0x1.{mantissa:013x}p{}", exponent - 1023)
    }
}
