//! Python values as the containers print them: `str()` (CSV bodies) and
//! `json.dumps` (JSON bodies), and Python's `float()`/`int()` parsing of
//! request fields.

use crate::xgboost::predict::push_python_float_repr;

/// A Python value the XGBoost container puts in a response.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PyVal {
    /// `int`.
    Int(i64),
    /// `float` (a float32 prediction widened, or a float64 computed from one).
    Float(f64),
    /// `list`.
    List(Vec<PyVal>),
}

impl PyVal {
    /// `str(value)`: `1`, `0.5`, `nan`, `[0, 1]`, `[0.25, 0.75]`.
    pub(crate) fn py_str(&self, out: &mut String) {
        match self {
            PyVal::Int(i) => out.push_str(&i.to_string()),
            PyVal::Float(f) => push_python_float_repr(out, *f),
            PyVal::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.py_str(out);
                }
                out.push(']');
            }
        }
    }

    /// `json.dumps(value)`: like `str` with `NaN`, `Infinity`, `-Infinity`.
    pub(crate) fn json(&self, out: &mut String) {
        match self {
            PyVal::Float(f) => json_float(*f, out),
            PyVal::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.json(out);
                }
                out.push(']');
            }
            PyVal::Int(_) => self.py_str(out),
        }
    }
}

/// `json.dumps` of a float.
pub(crate) fn json_float(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        push_python_float_repr(out, f);
    }
}

/// `json.dumps` of a string (ASCII-only output, `ensure_ascii=True`).
pub(crate) fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (' '..='~').contains(&c) => out.push(c),
            c => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `str.isspace` (what `float()` and `int()` strip): Unicode
/// White_Space plus the ASCII separators U+001C – U+001F.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Checks Python's underscore rule (only between two digits) and returns
/// the text without underscores.
fn without_underscores(t: &str) -> Option<std::borrow::Cow<'_, str>> {
    if !t.contains('_') {
        return Some(std::borrow::Cow::Borrowed(t));
    }
    let b = t.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        if c == b'_'
            && !(i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            return None;
        }
    }
    Some(std::borrow::Cow::Owned(t.replace('_', "")))
}

/// Python's `float(s)` (what numpy's `astype(float)` does to a string):
/// surrounding whitespace, a sign, `nan`/`inf`/`infinity` in any case,
/// digits with single underscores between them; `None` when Python
/// raises `ValueError`.
pub(crate) fn py_float(s: &str) -> Option<f64> {
    // Printable ASCII at both ends: nothing to trim (the common case).
    let plain = |b: Option<&u8>| b.is_some_and(|&b| b > b' ' && b < 0x7f);
    let t = if plain(s.as_bytes().first()) && plain(s.as_bytes().last()) {
        s
    } else {
        s.trim_matches(is_py_space)
    };
    let b = t.as_bytes();
    if b.is_empty() {
        return None;
    }
    // Rust's grammar is Python's (sign, digits, '.', exponent, inf/infinity/
    // nan in any case) except for underscores, which Rust never accepts.
    if b.iter()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
    {
        return t.parse().ok();
    }
    let clean = without_underscores(t)?;
    let body = clean.trim_start_matches(['+', '-']);
    // Words only as a whole ("in_f" was refused above; "nan" needs no digits).
    if body
        .bytes()
        .any(|c| c.is_ascii_alphabetic() && !matches!(c, b'e' | b'E'))
        && !matches!(
            body.to_ascii_lowercase().as_str(),
            "nan" | "inf" | "infinity"
        )
    {
        return None;
    }
    clean.parse().ok()
}

/// Python's `int(s)`: whitespace, a sign, decimal digits with single
/// underscores between them. `None` when Python raises (or the value does
/// not fit in i64, where numpy's cast to int64 raises).
pub(crate) fn py_int(s: &str) -> Option<i64> {
    let t = s.trim_matches(is_py_space);
    let clean = without_underscores(t)?;
    let digits = clean.strip_prefix(['+', '-']).unwrap_or(&clean);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    clean.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &PyVal) -> String {
        let mut o = String::new();
        v.py_str(&mut o);
        o
    }

    fn j(v: &PyVal) -> String {
        let mut o = String::new();
        v.json(&mut o);
        o
    }

    #[test]
    fn python_str_and_json() {
        let v = PyVal::List(vec![
            PyVal::Float(f64::from(0.25f32)),
            PyVal::Float(f64::NAN),
            PyVal::Int(1),
        ]);
        assert_eq!(s(&v), "[0.25, nan, 1]");
        assert_eq!(j(&v), "[0.25, NaN, 1]");
        assert_eq!(
            s(&PyVal::Float(1.0 - f64::from(0.1f32))),
            "0.8999999985098839"
        );
        assert_eq!(j(&PyVal::Float(f64::NEG_INFINITY)), "-Infinity");
        let mut o = String::new();
        json_str("a\"é\n😀", &mut o);
        assert_eq!(o, "\"a\\\"\\u00e9\\n\\ud83d\\ude00\"");
    }

    #[test]
    fn floats_parse_like_python() {
        for (text, want) in [
            ("1", Some(1.0)),
            (" 2.5 ", Some(2.5)),
            ("\t-3e2\r", Some(-300.0)),
            ("+.5", Some(0.5)),
            ("1.", Some(1.0)),
            ("1_000.5", Some(1000.5)),
            ("\u{a0}1", Some(1.0)),
            ("\u{1f}1", Some(1.0)),
            ("InFinity", Some(f64::INFINITY)),
            ("-inf", Some(f64::NEG_INFINITY)),
            ("1e", None),
            (".", None),
            ("_1", None),
            ("1__0", None),
            ("1_", None),
            ("0x10", None),
            ("1d5", None),
            ("in_f", None),
            ("", None),
            ("1 2", None),
            ("\"1\"", None),
        ] {
            let got = py_float(text);
            assert_eq!(got.is_some(), want.is_some(), "{text:?}");
            if let (Some(g), Some(w)) = (got, want) {
                assert_eq!(g, w, "{text:?}");
            }
        }
        assert!(py_float("NaN").is_some_and(f64::is_nan));
        assert!(py_float("-nan").is_some_and(f64::is_nan));
    }

    #[test]
    fn ints_parse_like_python() {
        assert_eq!(py_int(" 12 "), Some(12));
        assert_eq!(py_int("+3"), Some(3));
        assert_eq!(py_int("-1"), Some(-1));
        assert_eq!(py_int("1_0"), Some(10));
        assert_eq!(py_int("1.0"), None);
        assert_eq!(py_int(""), None);
        assert_eq!(py_int("99999999999999999999"), None);
    }
}
