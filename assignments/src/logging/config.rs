//! The configuration as `fit(..., log_config=vars(args))` logs it (course: `labs/npfl138/trainable_module.py`): the
//! `Config epoch=0 k=v ...` line (stdout and `logs.txt`) and the pretty-printed JSON of the
//! TensorBoard text summary `config`.

use std::fmt::Write;

use super::metrics::{ConfigValue, python_float_repr};

/// The entries sorted by key, as Python's `sorted(config.items())` orders them (code points).
fn sorted<'a>(config: &'a [(&'a str, ConfigValue)]) -> Vec<&'a (&'a str, ConfigValue)> {
    let mut entries: Vec<_> = config.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// `BaseLogger.format_config_as_text(config, epoch)`: `Config epoch={epoch}` followed by
/// `key=value` for every entry sorted by key, values in Python's `str()` form, joined by spaces.
pub(crate) fn format_config_as_text(config: &[(&str, ConfigValue)], epoch: usize) -> String {
    let mut out = format!("Config epoch={epoch}");
    for (key, value) in sorted(config) {
        write!(out, " {key}={value}").expect("writing to a String cannot fail");
    }
    out
}

/// `BaseLogger.format_config_as_json(config)`: Python's
/// `json.dumps(config, sort_keys=True, ensure_ascii=False, indent=2)`.
pub(crate) fn format_config_as_json(config: &[(&str, ConfigValue)]) -> String {
    let mut out = String::new();
    if config.is_empty() {
        out.push_str("{}");
        return out;
    }
    out.push('{');
    for (i, (key, value)) in sorted(config).into_iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str("  ");
        push_json_string(&mut out, key);
        out.push_str(": ");
        push_json_value(&mut out, value);
    }
    out.push('\n');
    out.push('}');
    out
}

/// One value as `json.dumps` writes it.
fn push_json_value(out: &mut String, value: &ConfigValue) {
    match value {
        ConfigValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        ConfigValue::Int(i) => write!(out, "{i}").expect("writing to a String cannot fail"),
        ConfigValue::Float(x) if x.is_nan() => out.push_str("NaN"),
        ConfigValue::Float(x) if x.is_infinite() => {
            out.push_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        ConfigValue::Float(x) => out.push_str(&python_float_repr(*x)),
        ConfigValue::Str(s) => push_json_string(out, s),
        ConfigValue::None => out.push_str("null"),
    }
}

/// A JSON string as `json.dumps(..., ensure_ascii=False)` writes it: `"` and `\` escaped, the
/// control characters below U+0020 as `\n`, `\r`, `\t`, `\b`, `\f` or `\u00XX`, everything else as is.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                write!(out, "\\u{:04x}", c as u32).expect("writing to a String cannot fail")
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_config() -> Vec<(&'static str, ConfigValue)> {
        vec![
            ("threads", ConfigValue::Int(1)),
            ("seed", ConfigValue::Int(42)),
            ("hidden_layer_size", ConfigValue::Int(100)),
            ("epochs", ConfigValue::Int(10)),
            ("batch_size", ConfigValue::Int(50)),
        ]
    }

    #[test]
    fn the_spec_config_line() {
        assert_eq!(
            format_config_as_text(&example_config(), 0),
            "Config epoch=0 batch_size=50 epochs=10 hidden_layer_size=100 seed=42 threads=1"
        );
        assert_eq!(format_config_as_text(&[], 3), "Config epoch=3");
        let odd = [
            ("b", ConfigValue::Bool(true)),
            ("a", ConfigValue::None),
            ("Z", ConfigValue::Float(1e-5)),
        ];
        assert_eq!(
            format_config_as_text(&odd, 0),
            "Config epoch=0 Z=1e-05 a=None b=True"
        );
    }

    #[test]
    fn json_as_python_dumps_it() {
        // json.dumps({...}, sort_keys=True, ensure_ascii=False, indent=2), printed by Python 3.11.
        assert_eq!(
            format_config_as_json(&example_config()),
            "{\n  \"batch_size\": 50,\n  \"epochs\": 10,\n  \"hidden_layer_size\": 100,\n  \"seed\": 42,\n  \"threads\": 1\n}"
        );
        assert_eq!(format_config_as_json(&[]), "{}");
        let odd = [
            ("f", ConfigValue::Float(0.001)),
            ("i", ConfigValue::Float(f64::NEG_INFINITY)),
            ("n", ConfigValue::Float(f64::NAN)),
            ("s", ConfigValue::from("é\"\\\n\u{1}\u{7f}")),
            ("z", ConfigValue::None),
            ("b", ConfigValue::Bool(false)),
        ];
        assert_eq!(
            format_config_as_json(&odd),
            "{\n  \"b\": false,\n  \"f\": 0.001,\n  \"i\": -Infinity,\n  \"n\": NaN,\n  \"s\": \"é\\\"\\\\\\n\\u0001\u{7f}\",\n  \"z\": null\n}"
        );
    }
}
