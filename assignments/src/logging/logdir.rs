//! The log directory name: the course's `format_logdir` (course: `labs/npfl138/format_logdir_impl.py`) and the local timestamp.

use std::collections::HashMap;

use super::metrics::ConfigValue;

/// The longest `{config}` placeholder the course allows, in characters.
pub(crate) const CONFIG_MAX_CHARS: usize = 200;

/// Why [`format_logdir`] refused a template or a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LogdirError {
    /// The config would exceed 200 characters even with every value cut to 5 characters
    /// (the course's `ValueError`).
    #[error("Signature is too long to fit even with maximum truncation.")]
    SignatureTooLong,
    /// The template names a placeholder that does not exist (the course's `KeyError`).
    #[error("unknown placeholder {{{name}}} in log directory template {template:?}")]
    UnknownPlaceholder {
        /// The placeholder name, without braces.
        name: String,
        /// The whole template.
        template: String,
    },
    /// The template is not a valid `str.format` template, or uses a feature (conversion,
    /// format spec, attribute or index) that log directory templates do not support.
    #[error("invalid log directory template {template:?}: {reason}")]
    InvalidTemplate {
        /// The whole template.
        template: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The same configuration key was given twice.
    #[error("configuration key {0:?} given more than once")]
    DuplicateKey(String),
}

/// The course's key abbreviation, `re.sub("(.)[^-_]*[-_]?", r"\1", key)`: each segment
/// (separated by `-` or `_`) contributes its first character and the separators are dropped,
/// so `hidden_layer_size` gives `hls`, `__x` gives `_x` and `a--b` gives `a-`.
pub(crate) fn abbreviate_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let is_sep = |c: char| c == '-' || c == '_';
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        out.push(chars[i]);
        if chars[i] == '\n' {
            // `.` does not match a newline: re.sub copies it and retries at the next character.
            i += 1;
            continue;
        }
        i += 1;
        while i < chars.len() && !is_sep(chars[i]) {
            i += 1;
        }
        if i < chars.len() {
            i += 1;
        }
    }
    out
}

/// Replaces each of `< > : " / \ | ? *` and the control characters U+0000 to U+001F with `_`
/// (the course's `sanitize_path`).
pub(crate) fn sanitize_path(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' | '*' | '\0'..='\x1f' => '_',
            c => c,
        })
        .collect()
}

/// The `{config}` placeholder: `key=value` pairs sorted by the original key names
/// (case-sensitive), keys abbreviated, values as Python's `str()`, comma-joined, and at most
/// [`CONFIG_MAX_CHARS`] characters long, the longest values shortened in the middle with `...`.
pub(crate) fn format_config(config: &[(&str, ConfigValue)]) -> Result<String, LogdirError> {
    let mut sorted: Vec<&(&str, ConfigValue)> = config.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(LogdirError::DuplicateKey(w[0].0.to_owned()));
    }
    let items: Vec<(String, Vec<char>)> = sorted
        .iter()
        .map(|(k, v)| (abbreviate_key(k), v.to_string().chars().collect()))
        .collect();
    if items.is_empty() {
        return Ok(String::new());
    }
    let total = |limit: usize| -> usize {
        items
            .iter()
            .map(|(k, v)| k.chars().count() + 1 + v.len().min(limit) + 1)
            .sum::<usize>()
            - 1
    };
    if total(5) > CONFIG_MAX_CHARS {
        return Err(LogdirError::SignatureTooLong);
    }
    let mut limit = items.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    while total(limit) > CONFIG_MAX_CHARS {
        limit -= 1; // stops at 5 at the latest, checked above
    }
    let mut out = String::new();
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        if v.len() <= limit {
            out.extend(v.iter());
        } else {
            // Python: v[:limit // 2 - 1] + "..." + v[-limit // 2 + 2:], exactly `limit` characters.
            let head = limit / 2 - 1;
            let tail = limit.div_ceil(2) - 2;
            out.extend(&v[..head]);
            out.push_str("...");
            out.extend(&v[v.len() - tail..]);
        }
    }
    Ok(out)
}

/// Placeholder values in Python dict order (insertion order, re-assignment keeps the position).
#[derive(Default)]
struct Placeholders {
    order: Vec<String>,
    values: HashMap<String, String>,
}

impl Placeholders {
    fn set(&mut self, key: String, value: String) {
        if !self.values.contains_key(&key) {
            self.order.push(key.clone());
        }
        self.values.insert(key, value);
    }
}

/// The course's `format_logdir(template, **config)` (course: `labs/npfl138/format_logdir_impl.py`).
///
/// `file` is the calling script's base name without extension (`None` behaves like Jupyter: an
/// empty `{file}`), `timestamp` usually [`local_timestamp`]. The placeholders are `{config}`,
/// `{file}`, `{timestamp}` and every configuration key under its full name, each also as
/// `{key-}`, `{key_}`, `{-key}` and `{_key}` (empty when the value is empty). All values are
/// sanitised ([`sanitize_path`]), `{{` and `}}` are literal braces, and finally both `/` and `\`
/// become the OS path separator.
pub(crate) fn format_logdir(
    template: &str,
    file: Option<&str>,
    config: &[(&str, ConfigValue)],
    timestamp: &str,
) -> Result<String, LogdirError> {
    let config_string = format_config(config)?;

    let mut kw = Placeholders::default();
    for (key, value) in config {
        kw.set((*key).to_owned(), value.to_string());
    }
    kw.set("config".to_owned(), config_string);
    kw.set("file".to_owned(), file.unwrap_or("").to_owned());
    kw.set("timestamp".to_owned(), timestamp.to_owned());

    for key in kw.order.clone() {
        let value = sanitize_path(&kw.values[&key]);
        kw.set(key.clone(), value.clone());
        for sep in ['-', '_'] {
            let (after, before) = if value.is_empty() {
                (String::new(), String::new())
            } else {
                (format!("{value}{sep}"), format!("{sep}{value}"))
            };
            kw.set(format!("{key}{sep}"), after);
            kw.set(format!("{sep}{key}"), before);
        }
    }

    let filled = fill_template(template, &kw.values)?;
    Ok(filled
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' {
                std::path::MAIN_SEPARATOR
            } else {
                c
            }
        })
        .collect())
}

/// Python's `template.format(**values)` restricted to plain `{name}` fields and `{{`/`}}`.
fn fill_template(template: &str, values: &HashMap<String, String>) -> Result<String, LogdirError> {
    let invalid = |reason| LogdirError::InvalidTemplate {
        template: template.to_owned(),
        reason,
    };
    let mut out = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') => return Err(invalid("nested braces are not supported")),
                        Some(c) => name.push(c),
                        None => return Err(invalid("expected '}' before end of string")),
                    }
                }
                if name.contains(['!', ':', '.', '[']) {
                    return Err(invalid(
                        "conversions, format specs, attributes and indices are not supported",
                    ));
                }
                match values.get(&name) {
                    Some(value) => out.push_str(value),
                    None => {
                        return Err(LogdirError::UnknownPlaceholder {
                            name,
                            template: template.to_owned(),
                        });
                    }
                }
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(invalid("single '}' encountered in format string")),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// The current local time as `YYYYMMDD_HHMMSS` (Python's
/// `datetime.now().strftime("%Y%m%d_%H%M%S")`). The time zone comes from `TZ` or the system
/// configuration (`/etc/localtime`); if it cannot be determined, UTC is used.
pub(crate) fn local_timestamp() -> String {
    timestamp_in(std::time::SystemTime::now(), jiff::tz::TimeZone::system())
}

/// `YYYYMMDD_HHMMSS` of `time` in the time zone `tz`.
fn timestamp_in(time: std::time::SystemTime, tz: jiff::tz::TimeZone) -> String {
    let time = jiff::Timestamp::try_from(time).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    time.to_zoned_datetime(tz)
        .strftime("%Y%m%d_%H%M%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &str = "20261127_091632";

    fn sep(s: &str) -> String {
        s.replace('/', std::path::MAIN_SEPARATOR_STR)
    }

    fn mnist_defaults() -> Vec<(&'static str, ConfigValue)> {
        // argparse order of mnist_layers_activations.py
        vec![
            ("activation", ConfigValue::Str("none".into())),
            ("batch_size", ConfigValue::Int(50)),
            ("epochs", ConfigValue::Int(10)),
            ("hidden_layer_size", ConfigValue::Int(100)),
            ("hidden_layers", ConfigValue::Int(1)),
            ("recodex", ConfigValue::Bool(false)),
            ("seed", ConfigValue::Int(42)),
            ("threads", ConfigValue::Int(1)),
        ]
    }

    #[test]
    fn spec_verified_outputs() {
        let t = "logs/{file-}{timestamp}{-config}";
        let f = Some("mnist_layers_activations");
        assert_eq!(
            format_logdir(t, f, &mnist_defaults(), TS).unwrap(),
            sep(
                "logs/mnist_layers_activations-20261127_091632-a=none,bs=50,e=10,hls=100,hl=1,r=False,s=42,t=1"
            )
        );
        assert_eq!(
            format_logdir(t, f, &[], TS).unwrap(),
            sep("logs/mnist_layers_activations-20261127_091632")
        );
        assert_eq!(
            format_logdir(t, None, &[("a", ConfigValue::Int(1))], TS).unwrap(),
            sep("logs/20261127_091632-a=1")
        );
        let example = [
            ("batch_size", ConfigValue::Int(50)),
            ("epochs", ConfigValue::Int(10)),
            ("hidden_layer_size", ConfigValue::Int(100)),
            ("seed", ConfigValue::Int(42)),
            ("threads", ConfigValue::Int(1)),
        ];
        assert_eq!(
            format_config(&example).unwrap(),
            "bs=50,e=10,hls=100,s=42,t=1"
        );
    }

    #[test]
    fn abbreviation() {
        assert_eq!(abbreviate_key("hidden_layer_size"), "hls");
        assert_eq!(abbreviate_key("batch_size"), "bs");
        assert_eq!(abbreviate_key("epochs"), "e");
        assert_eq!(abbreviate_key("Learning_Rate"), "LR");
        assert_eq!(abbreviate_key("__x"), "_x");
        assert_eq!(abbreviate_key("a--b"), "a-");
        assert_eq!(abbreviate_key("learning-rate_decay"), "lrd");
        assert_eq!(abbreviate_key("x_"), "x");
        assert_eq!(abbreviate_key(""), "");
        assert_eq!(abbreviate_key("\nab_c"), "\nac");
    }

    #[test]
    fn sorting_is_case_sensitive_by_full_name() {
        let config = [
            ("b_x", ConfigValue::Int(1)),
            ("a_z", ConfigValue::Int(2)),
            ("Zeta", ConfigValue::Int(3)),
            ("a", ConfigValue::Int(4)),
        ];
        assert_eq!(format_config(&config).unwrap(), "Z=3,a=4,az=2,bx=1");
    }

    #[test]
    fn values_are_python_str() {
        let config = [
            ("learning_rate", ConfigValue::Float(0.001)),
            ("decay", ConfigValue::Float(1e-5)),
            ("model", ConfigValue::None),
            ("flag", ConfigValue::Bool(true)),
            ("ratio", ConfigValue::Float(1.0)),
        ];
        assert_eq!(
            format_config(&config).unwrap(),
            "d=1e-05,f=True,lr=0.001,m=None,r=1.0"
        );
    }

    #[test]
    fn truncation_spec_example() {
        // course: `labs/npfl138/format_logdir_impl.py`: a 300-character value next to dropout=0.5 and hidden_layers=[300, 300]
        // is cut to 178 characters.
        let long = "x".repeat(300);
        let config = [
            ("dropout", ConfigValue::Float(0.5)),
            // str() of the list [300, 300]
            ("hidden_layers", ConfigValue::Str("[300, 300]".into())),
            ("name", ConfigValue::Str(long)),
        ];
        let s = format_config(&config).unwrap();
        assert_eq!(s.chars().count(), 200);
        let cut = s.strip_prefix("d=0.5,hl=[300, 300],n=").unwrap();
        assert_eq!(cut.chars().count(), 178);
        assert_eq!(cut, format!("{}...{}", "x".repeat(88), "x".repeat(87)));
    }

    #[test]
    fn truncation_keeps_head_and_tail() {
        // One 250-character value "0123456789" * 25 alone: limit 198, head 98, tail 97.
        let digits: String = "0123456789".repeat(25);
        let s = format_config(&[("v", ConfigValue::Str(digits.clone()))]).unwrap();
        let value = s.strip_prefix("v=").unwrap();
        assert_eq!(value.chars().count(), 198);
        assert_eq!(
            value,
            format!("{}...{}", &digits[..98], &digits[250 - 97..])
        );
        // Expected values from the course's code run under CPython.
        // 20 keys abbreviating to "k", 20 * (1 + 1 + L + 1) - 1 <= 200 gives the odd limit L = 7.
        let keys: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
        let config: Vec<(&str, ConfigValue)> = keys
            .iter()
            .map(|k| (k.as_str(), ConfigValue::Str("abcdefghij".into())))
            .collect();
        let s = format_config(&config).unwrap();
        assert_eq!(s, vec!["k=ab...ij"; 20].join(","));
        // keys "k0", "k1": the even limit L = 6 keeps 2 + 1 characters.
        let keys: Vec<String> = (0..20).map(|i| format!("k_{i:02}")).collect();
        let config: Vec<(&str, ConfigValue)> = keys
            .iter()
            .map(|k| (k.as_str(), ConfigValue::Str("abcdefghijkl".into())))
            .collect();
        let s = format_config(&config).unwrap();
        assert_eq!(s.chars().count(), 199);
        assert!(s.starts_with("k0=ab...l,k0=ab...l,"), "{s}");
    }

    #[test]
    fn signature_too_long() {
        let keys: Vec<String> = (0..30).map(|i| format!("key{i:02}")).collect();
        let config: Vec<(&str, ConfigValue)> = keys
            .iter()
            .map(|k| (k.as_str(), ConfigValue::Str("long value".into())))
            .collect();
        let err = format_config(&config).unwrap_err();
        assert_eq!(err, LogdirError::SignatureTooLong);
        assert_eq!(
            err.to_string(),
            "Signature is too long to fit even with maximum truncation."
        );
        assert_eq!(
            format_logdir("{config}", None, &config, TS).unwrap_err(),
            LogdirError::SignatureTooLong
        );
    }

    #[test]
    fn sanitising() {
        let config = [(
            "path",
            ConfigValue::Str("a<b>c:d\"e/f\\g|h?i*j\tk\x1fl m,n\x7f".into()),
        )];
        assert_eq!(
            format_logdir("logs/{config}", None, &config, TS).unwrap(),
            sep("logs/p=a_b_c_d_e_f_g_h_i_j_k_l m,n\x7f")
        );
        // user placeholders are sanitised too, the template itself is not
        assert_eq!(
            format_logdir(
                "a\\b/{path}",
                None,
                &[("path", ConfigValue::Str("x/y".into()))],
                TS
            )
            .unwrap(),
            sep("a/b/x_y")
        );
    }

    #[test]
    fn variants_and_user_placeholders() {
        let config = [
            ("seed", ConfigValue::Int(7)),
            ("name", ConfigValue::Str(String::new())),
        ];
        let f = |t: &str| format_logdir(t, Some("run"), &config, TS).unwrap();
        assert_eq!(f("{file-}{timestamp_}{seed}"), "run-20261127_091632_7");
        assert_eq!(f("{file_}x{-seed}{_seed}{seed-}"), "run_x-7_77-");
        assert_eq!(f("x{-name}{_name}{name-}{name_}{name}y"), "xy");
        assert_eq!(
            format_logdir("{file-}{timestamp}", None, &[], TS).unwrap(),
            TS
        );
        assert_eq!(format_logdir("{-config}x", None, &[], TS).unwrap(), "x");
        assert_eq!(f("{{literal}}"), "{literal}");
    }

    #[test]
    fn template_errors() {
        let e = format_logdir("logs/{nope}", None, &[], TS).unwrap_err();
        assert_eq!(
            e,
            LogdirError::UnknownPlaceholder {
                name: "nope".into(),
                template: "logs/{nope}".into()
            }
        );
        assert!(e.to_string().contains("{nope}"));
        assert!(matches!(
            format_logdir("{}", None, &[], TS),
            Err(LogdirError::UnknownPlaceholder { .. })
        ));
        for bad in ["logs/{file", "logs/}", "{file:>5}", "{file!r}", "{a{b}}"] {
            assert!(
                matches!(
                    format_logdir(bad, None, &[], TS),
                    Err(LogdirError::InvalidTemplate { .. })
                ),
                "{bad}"
            );
        }
        let dup = [("a", ConfigValue::Int(1)), ("a", ConfigValue::Int(2))];
        assert_eq!(
            format_logdir("x", None, &dup, TS).unwrap_err(),
            LogdirError::DuplicateKey("a".into())
        );
    }

    #[test]
    fn timestamp_in_zones() {
        use std::time::{Duration, UNIX_EPOCH};
        // 2026-11-27 09:16:32 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_795_770_992);
        assert_eq!(timestamp_in(t, jiff::tz::TimeZone::UTC), "20261127_091632");
        let prague = jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(timestamp_in(t, prague.clone()), "20261127_101632");
        // summer time: 2026-07-01 00:00:05 UTC is 02:00:05 in Prague
        let summer = UNIX_EPOCH + Duration::from_secs(1_782_864_005);
        assert_eq!(timestamp_in(summer, prague), "20260701_020005");
        // sub-second parts are truncated, as strftime does
        assert_eq!(
            timestamp_in(t + Duration::from_millis(999), jiff::tz::TimeZone::UTC),
            "20261127_091632"
        );
    }

    #[test]
    fn timestamp_shape() {
        let ts = local_timestamp();
        assert_eq!(ts.len(), 15, "{ts}");
        assert!(
            ts.chars()
                .enumerate()
                .all(|(i, c)| if i == 8 { c == '_' } else { c.is_ascii_digit() }),
            "{ts}"
        );
    }
}
