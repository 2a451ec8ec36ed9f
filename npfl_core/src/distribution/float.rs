//! Python's `float()` syntax for the model file's probabilities.

/// Python's `float(text)`: surrounding whitespace is ignored, `_` may separate digits, and
/// `inf`/`nan` spellings are accepted (the caller decides what to make of them).
pub(super) fn parse_python_float(text: &str) -> Option<f64> {
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
