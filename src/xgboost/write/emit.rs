//! A small document tree and its two encodings, JSON text and XGBoost's
//! UBJSON, written the way XGBoost's own `Json::Dump` writes them.
//!
//! * Object keys are emitted in byte order (XGBoost's `std::map`).
//! * JSON is compact (no whitespace, no trailing newline: 1.6.2 refuses a
//!   model that ends with one). Floats use the shortest text that reads
//!   back to the same f32, in XGBoost's `d.dddE±x` style (`5E-1`, `-0E0`);
//!   a float never loses its exponent, so it stays a float for XGBoost's
//!   reader. Non-finite values are `NaN`, `Infinity`, `-Infinity`.
//! * UBJSON keys are `L` + big-endian i64 length + bytes, strings `S L …`,
//!   containers counted (`[#L n`, no `]`), typed arrays `[$t#L n` + raw
//!   big-endian elements, scalar integers in the smallest of `i I l L` with
//!   XGBoost's exclusive bounds (127 is written as `I`), floats as `d`.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A document value to write.
#[derive(Debug, Clone, PartialEq)]
pub enum W<'a> {
    /// An object (keys sorted when written).
    Obj(Vec<(Cow<'a, str>, W<'a>)>),
    /// A string.
    Str(Cow<'a, str>),
    /// A scalar integer.
    Int(i64),
    /// A scalar f32.
    Float(f32),
    /// A scalar f64 (UBJSON `D`).
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// A generic array of values.
    Arr(Vec<W<'a>>),
    /// A generic array of integers (UBJSON: each with its smallest marker).
    IntArr(Cow<'a, [i64]>),
    /// A generic array of f32 (UBJSON: each a `d` scalar).
    FloatArr(Cow<'a, [f32]>),
    /// A generic array of booleans (JSON `true`/`false`).
    BoolArr(Cow<'a, [bool]>),
    /// Typed `$d`.
    F32s(Cow<'a, [f32]>),
    /// Typed `$D`.
    F64s(Cow<'a, [f64]>),
    /// Typed `$l`.
    I32s(Cow<'a, [i32]>),
    /// Typed `$L`.
    I64s(Cow<'a, [i64]>),
    /// Typed `$U`.
    U8s(Cow<'a, [u8]>),
    /// Typed `$i`.
    I8s(Cow<'a, [i8]>),
    /// Typed `$I`.
    I16s(Cow<'a, [i16]>),
}

impl<'a> W<'a> {
    /// An object from `(key, value)` pairs.
    pub fn obj(pairs: Vec<(&'a str, W<'a>)>) -> W<'a> {
        W::Obj(
            pairs
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        )
    }

    /// A borrowed string.
    pub fn s(s: &'a str) -> W<'a> {
        W::Str(Cow::Borrowed(s))
    }

    /// An owned string.
    pub fn string(s: String) -> W<'a> {
        W::Str(Cow::Owned(s))
    }
}

/// Appends the JSON text of an f32 in XGBoost's style.
pub fn json_f32(out: &mut String, v: f32) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{v:E}");
    }
}

/// The text XGBoost 1.2+ writes for a float parameter (`base_score`): the
/// shortest round-trip form, `5E-1`.
pub fn param_f32(v: f32) -> String {
    let mut s = String::new();
    json_f32(&mut s, v);
    s
}

fn json_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{v:E}");
    }
}

fn json_str(out: &mut String, s: &str) {
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
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_list<T>(out: &mut String, items: &[T], mut f: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        f(out, x);
    }
    out.push(']');
}

fn sorted<'b, 'a>(pairs: &'b [(Cow<'a, str>, W<'a>)]) -> Vec<&'b (Cow<'a, str>, W<'a>)> {
    let mut v: Vec<_> = pairs.iter().collect();
    v.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    v
}

/// Writes `w` as compact JSON text.
pub fn to_json(w: &W<'_>) -> Vec<u8> {
    let mut out = String::new();
    json_value(&mut out, w);
    out.into_bytes()
}

fn json_value(out: &mut String, w: &W<'_>) {
    match w {
        W::Obj(pairs) => {
            out.push('{');
            for (i, (k, v)) in sorted(pairs).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(out, k);
                out.push(':');
                json_value(out, v);
            }
            out.push('}');
        }
        W::Str(s) => json_str(out, s),
        W::Int(i) => {
            let _ = write!(out, "{i}");
        }
        W::Float(f) => json_f32(out, *f),
        W::Double(d) => json_f64(out, *d),
        W::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        W::Arr(items) => json_list(out, items, json_value),
        W::IntArr(v) | W::I64s(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        W::FloatArr(v) | W::F32s(v) => json_list(out, v, |o, x| json_f32(o, *x)),
        W::F64s(v) => json_list(out, v, |o, x| json_f64(o, *x)),
        W::BoolArr(v) => json_list(out, v, |o, x| o.push_str(if *x { "true" } else { "false" })),
        W::I32s(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        W::U8s(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        W::I8s(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
        W::I16s(v) => json_list(out, v, |o, x| {
            let _ = write!(o, "{x}");
        }),
    }
}

/// Writes `w` as XGBoost UBJSON.
pub fn to_ubjson(w: &W<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    ubj_value(&mut out, w);
    out
}

fn ubj_len(out: &mut Vec<u8>, n: usize) {
    out.push(b'L');
    out.extend_from_slice(&(n as i64).to_be_bytes());
}

fn ubj_key(out: &mut Vec<u8>, k: &str) {
    ubj_len(out, k.len());
    out.extend_from_slice(k.as_bytes());
}

/// A scalar integer with XGBoost's marker choice (exclusive bounds).
fn ubj_int(out: &mut Vec<u8>, v: i64) {
    if -128 < v && v < 127 {
        out.push(b'i');
        out.push(v as i8 as u8);
    } else if -32768 < v && v < 32767 {
        out.push(b'I');
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if i64::from(i32::MIN) < v && v < i64::from(i32::MAX) {
        out.push(b'l');
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(b'L');
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn ubj_typed_head(out: &mut Vec<u8>, marker: u8, n: usize) {
    out.extend_from_slice(&[b'[', b'$', marker, b'#']);
    ubj_len(out, n);
}

fn ubj_generic_head(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(b"[#");
    ubj_len(out, n);
}

fn ubj_value(out: &mut Vec<u8>, w: &W<'_>) {
    match w {
        W::Obj(pairs) => {
            out.push(b'{');
            for (k, v) in sorted(pairs) {
                ubj_key(out, k);
                ubj_value(out, v);
            }
            out.push(b'}');
        }
        W::Str(s) => {
            out.push(b'S');
            ubj_key(out, s);
        }
        W::Int(i) => ubj_int(out, *i),
        W::Float(f) => {
            out.push(b'd');
            out.extend_from_slice(&f.to_be_bytes());
        }
        W::Double(d) => {
            out.push(b'D');
            out.extend_from_slice(&d.to_be_bytes());
        }
        W::Bool(b) => out.push(if *b { b'T' } else { b'F' }),
        W::Arr(items) => {
            ubj_generic_head(out, items.len());
            for x in items {
                ubj_value(out, x);
            }
        }
        W::IntArr(v) => {
            ubj_generic_head(out, v.len());
            for x in v.iter() {
                ubj_int(out, *x);
            }
        }
        W::FloatArr(v) => {
            ubj_generic_head(out, v.len());
            for x in v.iter() {
                out.push(b'd');
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        W::BoolArr(v) => {
            ubj_generic_head(out, v.len());
            for x in v.iter() {
                out.push(if *x { b'T' } else { b'F' });
            }
        }
        W::F32s(v) => {
            ubj_typed_head(out, b'd', v.len());
            out.reserve(v.len() * 4);
            for x in v.iter() {
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        W::F64s(v) => {
            ubj_typed_head(out, b'D', v.len());
            for x in v.iter() {
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        W::I32s(v) => {
            ubj_typed_head(out, b'l', v.len());
            out.reserve(v.len() * 4);
            for x in v.iter() {
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        W::I64s(v) => {
            ubj_typed_head(out, b'L', v.len());
            for x in v.iter() {
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
        W::U8s(v) => {
            ubj_typed_head(out, b'U', v.len());
            out.extend_from_slice(v);
        }
        W::I8s(v) => {
            ubj_typed_head(out, b'i', v.len());
            out.extend(v.iter().map(|x| *x as u8));
        }
        W::I16s(v) => {
            ubj_typed_head(out, b'I', v.len());
            for x in v.iter() {
                out.extend_from_slice(&x.to_be_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_in_xgboost_style() {
        let t = |v: f32| param_f32(v);
        assert_eq!(t(0.5), "5E-1");
        assert_eq!(t(0.0), "0E0");
        assert_eq!(t(-0.0), "-0E0");
        assert_eq!(t(75.0), "7.5E1");
        assert_eq!(t(0.05882353), "5.882353E-2");
        assert_eq!(t(1e-45), "1E-45");
        assert_eq!(t(f32::NAN), "NaN");
        assert_eq!(t(f32::NEG_INFINITY), "-Infinity");
        for v in [
            0.1f32,
            0.446868,
            1.1493635,
            -2.3510528e-1,
            f32::MAX,
            f32::MIN_POSITIVE,
        ] {
            assert_eq!(t(v).parse::<f32>().unwrap().to_bits(), v.to_bits());
        }
    }

    #[test]
    fn ubj_scalars_use_exclusive_bounds() {
        let enc = |v: i64| to_ubjson(&W::Int(v));
        assert_eq!(enc(126), vec![b'i', 126]);
        assert_eq!(enc(127)[0], b'I');
        assert_eq!(enc(-127), vec![b'i', 0x81]);
        assert_eq!(enc(-128)[0], b'I');
        assert_eq!(enc(40000)[0], b'l');
        assert_eq!(enc(i64::from(i32::MAX))[0], b'L');
    }

    #[test]
    fn keys_sorted_and_compact() {
        let w = W::obj(vec![
            ("b", W::Int(1)),
            ("a", W::F32s(Cow::Owned(vec![0.5, -1.0]))),
            ("c", W::BoolArr(Cow::Owned(vec![true, false]))),
        ]);
        assert_eq!(
            String::from_utf8(to_json(&w)).unwrap(),
            r#"{"a":[5E-1,-1E0],"b":1,"c":[true,false]}"#
        );
        let u = to_ubjson(&W::obj(vec![("a", W::I32s(Cow::Owned(vec![1])))]));
        assert_eq!(
            u,
            [
                &b"{L"[..],
                &1i64.to_be_bytes(),
                b"a[$l#L",
                &1i64.to_be_bytes(),
                &1i32.to_be_bytes(),
                b"}"
            ]
            .concat()
        );
    }
}
