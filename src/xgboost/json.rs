//! JSON text reader for XGBoost documents.
//!
//! Follows XGBoost's `JsonReader` where it differs from strict JSON:
//! the bare tokens `NaN`, `Infinity` and `-Infinity` are numbers; a number is
//! a float iff its text contains `.`, `e` or `E`, and floats are parsed to
//! the nearest f32 (XGBoost's `Number` is f32 — parsing as f64 would flip
//! histogram splits whose threshold equals a data value). Integers are i64.
//!
//! Arrays of homogeneous numbers or booleans are packed while parsing
//! ([`crate::xgboost::doc::Packed`]). Nesting is capped at [`MAX_DEPTH`].
//! Errors carry the byte offset, line and column and the JSON path reached.

use super::doc::{
    BYTES_PER_NODE, Key, Node, Packed, PackedData, Value, key_owned, node_budget, try_pack,
};

/// Maximum nesting depth of arrays/objects (XGBoost documents use ≤ 8;
/// snapshot configs a few more).
pub const MAX_DEPTH: usize = 128;

/// A syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Byte offset.
    pub offset: u64,
    /// JSON path of the value being parsed.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// Facts the reader noticed about the text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextFacts {
    /// Some float had more than 9 significant digits (1.0.x `%.18e` style).
    pub long_floats: bool,
    /// Offset just after the top-level value and trailing whitespace.
    pub end: u64,
    /// The text contained newlines/indentation (pretty-printed).
    pub pretty: bool,
}

enum Seg {
    Key(usize, usize),
    Index(usize),
}

struct Parser<'a> {
    b: &'a [u8],
    p: usize,
    path: Vec<Seg>,
    facts: TextFacts,
    /// Nodes still allowed ([`node_budget`]).
    nodes_left: usize,
}

type R<T> = Result<T, SyntaxError>;

/// Parses one JSON value from `bytes` (which may have trailing data; the
/// end of the value is in [`TextFacts::end`]).
pub fn parse(bytes: &[u8]) -> R<(Node, TextFacts)> {
    let mut p = Parser {
        b: bytes,
        p: 0,
        path: Vec::new(),
        facts: TextFacts::default(),
        nodes_left: node_budget(bytes.len()),
    };
    p.ws();
    let node = p.value(0)?;
    p.ws();
    p.facts.end = p.p as u64;
    Ok((node, p.facts))
}

/// Powers of ten exactly representable in f64.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// `mant × 10^exp` rounded to the nearest f32, when it can be done exactly
/// and fast; `None` sends the caller to the general parser.
///
/// Clinger's fast path gives the correctly rounded f64 (mantissa ≤ 2^53 and
/// |exp| ≤ 22 are exact in f64, one rounding). Narrowing that f64 to f32
/// rounds the same way as the exact decimal would, unless the f64 is itself
/// an f32 rounding midpoint (an f64-representable midpoint strictly between
/// the decimal and its nearest f64 would contradict the nearest-f64
/// rounding); midpoints, subnormals and overflow take the slow path.
fn fast_f32(mant: u64, exp: i32) -> Option<f32> {
    if mant > (1u64 << 53) || !(-22..=22).contains(&exp) {
        return None;
    }
    if mant == 0 {
        return Some(0.0);
    }
    let m = mant as f64;
    let r = if exp >= 0 {
        m * POW10[exp as usize]
    } else {
        m / POW10[(-exp) as usize]
    };
    if !(f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX)).contains(&r) {
        return None;
    }
    if r.to_bits() & ((1u64 << 29) - 1) == 1u64 << 28 {
        return None;
    }
    Some(r as f32)
}

impl<'a> Parser<'a> {
    fn path_string(&self) -> String {
        let mut s = String::from("$");
        for seg in &self.path {
            match seg {
                Seg::Key(a, b) => {
                    s.push('.');
                    s.push_str(&String::from_utf8_lossy(
                        self.b.get(*a..*b).unwrap_or_default(),
                    ));
                }
                Seg::Index(i) => {
                    s.push_str(&format!("[{i}]"));
                }
            }
        }
        s
    }

    fn err<T>(&self, msg: impl Into<String>) -> R<T> {
        self.err_at(self.p, msg)
    }

    fn err_at<T>(&self, at: usize, msg: impl Into<String>) -> R<T> {
        let at = at.min(self.b.len());
        let head = self.b.get(..at).unwrap_or_default();
        let line = head.iter().filter(|&&c| c == b'\n').count() + 1;
        let col = at
            - head
                .iter()
                .rposition(|&c| c == b'\n')
                .map(|i| i + 1)
                .unwrap_or(0)
            + 1;
        Err(SyntaxError {
            offset: at as u64,
            path: self.path_string(),
            message: format!("{} (line {line}, column {col})", msg.into()),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.p).copied()
    }

    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.p) {
            match c {
                b' ' | b'\t' | b'\r' => self.p += 1,
                b'\n' => {
                    self.facts.pretty = true;
                    self.p += 1
                }
                _ => break,
            }
        }
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(c) if c.is_ascii_graphic() => format!("'{}'", c as char),
            Some(c) => format!("byte 0x{c:02x}"),
        }
    }

    fn value(&mut self, depth: usize) -> R<Node> {
        let at = self.p as u64;
        let value = match self.peek() {
            Some(b'{') => self.object(depth)?,
            Some(b'[') => self.array(depth)?,
            Some(b'"') => Value::Str(self.string()?),
            Some(b't') => {
                self.literal(b"true")?;
                Value::Bool(true)
            }
            Some(b'f') => {
                self.literal(b"false")?;
                Value::Bool(false)
            }
            Some(b'n') => {
                self.literal(b"null")?;
                Value::Null
            }
            Some(b'-' | b'0'..=b'9' | b'N' | b'I') => self.number()?,
            _ => {
                return self.err(format!(
                    "expected a JSON value, found {}",
                    self.describe_here()
                ));
            }
        };
        Ok(Node { at, value })
    }

    fn literal(&mut self, lit: &[u8]) -> R<()> {
        if self.b.get(self.p..self.p + lit.len()) == Some(lit) {
            self.p += lit.len();
            Ok(())
        } else {
            self.err(format!(
                "expected '{}', found {}",
                String::from_utf8_lossy(lit),
                self.describe_here()
            ))
        }
    }

    /// Takes `n` nodes from the budget.
    fn spend(&mut self, n: usize) -> R<()> {
        match self.nodes_left.checked_sub(n) {
            Some(left) => {
                self.nodes_left = left;
                Ok(())
            }
            None => self.err(format!(
                "more values than a {}-byte XGBoost model can hold (one per {BYTES_PER_NODE} bytes)",
                self.b.len()
            )),
        }
    }

    fn enter(&self, depth: usize) -> R<usize> {
        if depth >= MAX_DEPTH {
            return self.err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(depth + 1)
    }

    fn object(&mut self, depth: usize) -> R<Value> {
        let depth = self.enter(depth)?;
        self.p += 1; // {
        let mut entries: Vec<(Key, Node)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.p += 1;
            return Ok(Value::Object(entries));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.err(format!(
                    "expected an object key string, found {}",
                    self.describe_here()
                ));
            }
            let kstart = self.p + 1;
            let key = self.string()?;
            let kend = self.p.saturating_sub(1);
            self.ws();
            if self.peek() != Some(b':') {
                return self.err(format!(
                    "expected ':' after an object key, found {}",
                    self.describe_here()
                ));
            }
            self.p += 1;
            self.ws();
            self.path.push(Seg::Key(kstart, kend));
            self.spend(2)?;
            let v = self.value(depth)?;
            self.path.pop();
            entries.push((key_owned(key), v));
            self.ws();
            match self.peek() {
                Some(b',') => self.p += 1,
                Some(b'}') => {
                    self.p += 1;
                    return Ok(Value::Object(entries));
                }
                _ => {
                    return self.err(format!(
                        "expected ',' or '}}' in an object, found {}",
                        self.describe_here()
                    ));
                }
            }
        }
    }

    fn array(&mut self, depth: usize) -> R<Value> {
        let depth = self.enter(depth)?;
        self.p += 1; // [
        self.ws();
        if self.peek() == Some(b']') {
            self.p += 1;
            return Ok(Value::Array(Vec::new()));
        }
        // Fast path: arrays of numbers or booleans are packed as they are read.
        match self.peek() {
            Some(b'-' | b'0'..=b'9' | b'N' | b'I') => {
                if let Some(v) = self.number_array()? {
                    return Ok(v);
                }
            }
            Some(b't' | b'f') => {
                if let Some(v) = self.bool_array()? {
                    return Ok(v);
                }
            }
            _ => {}
        }
        self.generic_array(depth, Vec::new())
    }

    /// Continues an array generically, with `items` already read.
    fn generic_array(&mut self, depth: usize, mut items: Vec<Node>) -> R<Value> {
        self.spend(items.len())?;
        loop {
            self.ws();
            self.path.push(Seg::Index(items.len()));
            self.spend(1)?;
            let v = self.value(depth)?;
            self.path.pop();
            items.push(v);
            self.ws();
            match self.peek() {
                Some(b',') => self.p += 1,
                Some(b']') => {
                    self.p += 1;
                    return Ok(try_pack(items));
                }
                _ => {
                    return self.err(format!(
                        "expected ',' or ']' in an array, found {}",
                        self.describe_here()
                    ));
                }
            }
        }
    }

    /// Reads an array whose first element is a number. Returns `None` after
    /// rewinding when the elements are not all numbers of one kind.
    fn number_array(&mut self) -> R<Option<Value>> {
        let start = self.p;
        let mut ints: Vec<i64> = Vec::new();
        let mut floats: Vec<f32> = Vec::new();
        let mut is_float: Option<bool> = None;
        loop {
            self.ws();
            match self.peek() {
                Some(b'-' | b'0'..=b'9' | b'N' | b'I') => {}
                _ => {
                    self.p = start;
                    return Ok(None);
                }
            }
            let Ok(v) = self.number() else {
                // Let the generic path report the error with a precise path.
                self.p = start;
                return Ok(None);
            };
            match (v, is_float) {
                (Value::Int(i), None | Some(false)) => {
                    is_float = Some(false);
                    ints.push(i);
                }
                (Value::Float(f), None | Some(true)) => {
                    is_float = Some(true);
                    floats.push(f);
                }
                _ => {
                    self.p = start;
                    return Ok(None);
                }
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.p += 1,
                Some(b']') => {
                    self.p += 1;
                    break;
                }
                _ => {
                    // Let the generic path report the error with a precise path.
                    self.p = start;
                    return Ok(None);
                }
            }
        }
        let data = if is_float == Some(true) {
            PackedData::F32(floats)
        } else if ints.iter().all(|&i| i32::try_from(i).is_ok()) {
            PackedData::I32(
                ints.into_iter()
                    .map(|i| i32::try_from(i).unwrap_or_default())
                    .collect(),
            )
        } else {
            PackedData::I64(ints)
        };
        Ok(Some(Value::Typed(Packed {
            data,
            marker: None,
            stride: 0,
            data_at: start as u64,
        })))
    }

    fn bool_array(&mut self) -> R<Option<Value>> {
        let start = self.p;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.b.get(self.p..self.p + 4) == Some(b"true") {
                self.p += 4;
                out.push(true);
            } else if self.b.get(self.p..self.p + 5) == Some(b"false") {
                self.p += 5;
                out.push(false);
            } else {
                self.p = start;
                return Ok(None);
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.p += 1,
                Some(b']') => {
                    self.p += 1;
                    break;
                }
                _ => {
                    self.p = start;
                    return Ok(None);
                }
            }
        }
        Ok(Some(Value::Typed(Packed {
            data: PackedData::Bool(out),
            marker: None,
            stride: 0,
            data_at: start as u64,
        })))
    }

    fn number(&mut self) -> R<Value> {
        let start = self.p;
        let b = self.b;
        let mut i = self.p;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        match b.get(i) {
            Some(b'N') => {
                if b.get(i..i + 3) == Some(b"NaN") {
                    self.p = i + 3;
                    return Ok(Value::Float(f32::NAN));
                }
                return self.err_at(i, "invalid number (expected NaN)");
            }
            Some(b'I') => {
                if b.get(i..i + 8) == Some(b"Infinity") {
                    self.p = i + 8;
                    return Ok(Value::Float(if neg {
                        f32::NEG_INFINITY
                    } else {
                        f32::INFINITY
                    }));
                }
                return self.err_at(i, "invalid number (expected Infinity)");
            }
            _ => {}
        }
        let int_start = i;
        let mut mant: u64 = 0;
        let mut overflow = false;
        while let Some(&c) = b.get(i) {
            if c.is_ascii_digit() {
                match mant
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(c - b'0')))
                {
                    Some(m) => mant = m,
                    None => overflow = true,
                }
                i += 1;
            } else {
                break;
            }
        }
        if i == int_start {
            return self.err_at(i, "invalid number: expected a digit");
        }
        let mut is_float = false;
        let mut digits = i - int_start;
        let mut frac_digits: i32 = 0;
        if b.get(i) == Some(&b'.') {
            is_float = true;
            i += 1;
            let fs = i;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                match mant
                    .checked_mul(10)
                    .and_then(|m| m.checked_add(u64::from(c - b'0')))
                {
                    Some(m) => mant = m,
                    None => overflow = true,
                }
                frac_digits = frac_digits.saturating_add(1);
                i += 1;
            }
            if i == fs {
                return self.err_at(i, "invalid number: expected a digit after '.'");
            }
            digits += i - fs;
        }
        let mut exp: i32 = 0;
        if matches!(b.get(i), Some(b'e' | b'E')) {
            is_float = true;
            i += 1;
            let eneg = b.get(i) == Some(&b'-');
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let es = i;
            while let Some(&c) = b.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                exp = exp.saturating_mul(10).saturating_add(i32::from(c - b'0'));
                i += 1;
            }
            if i == es {
                return self.err_at(i, "invalid number: expected exponent digits");
            }
            if eneg {
                exp = -exp;
            }
        }
        self.p = i;
        if !is_float {
            if overflow || frac_digits > 0 {
                return self.err_at(start, "integer does not fit in 64 bits");
            }
            let v = if neg {
                if mant > (i64::MAX as u64) + 1 {
                    return self.err_at(start, "integer does not fit in 64 bits");
                }
                (mant as i128).wrapping_neg() as i64
            } else {
                match i64::try_from(mant) {
                    Ok(v) => v,
                    Err(_) => return self.err_at(start, "integer does not fit in 64 bits"),
                }
            };
            return Ok(Value::Int(v));
        }
        if digits > 9 {
            self.facts.long_floats = true;
        }
        if !overflow && let Some(f) = fast_f32(mant, exp.saturating_sub(frac_digits)) {
            return Ok(Value::Float(if neg { -f } else { f }));
        }
        let text = std::str::from_utf8(b.get(start..i).unwrap_or_default()).unwrap_or("");
        match text.parse::<f32>() {
            Ok(f) => Ok(Value::Float(f)),
            Err(_) => self.err_at(start, format!("invalid number {text:?}")),
        }
    }

    fn string(&mut self) -> R<String> {
        // self.p is at the opening quote.
        let start = self.p + 1;
        let b = self.b;
        let mut i = start;
        // Fast path: no escapes.
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => {
                    let raw = b.get(start..i).unwrap_or_default();
                    let s = match std::str::from_utf8(raw) {
                        Ok(s) => s.to_owned(),
                        Err(e) => {
                            return self
                                .err_at(start + e.valid_up_to(), "string is not valid UTF-8");
                        }
                    };
                    self.p = i + 1;
                    return Ok(s);
                }
                b'\\' => break,
                c if c < 0x20 => return self.err_at(i, "control character inside a string"),
                _ => i += 1,
            }
        }
        if i >= b.len() {
            return self.err_at(start.saturating_sub(1), "unterminated string");
        }
        // Slow path with escapes.
        let mut out: Vec<u8> = b.get(start..i).unwrap_or_default().to_vec();
        loop {
            let Some(&c) = b.get(i) else {
                return self.err_at(start.saturating_sub(1), "unterminated string");
            };
            match c {
                b'"' => {
                    i += 1;
                    break;
                }
                b'\\' => {
                    let Some(&e) = b.get(i + 1) else {
                        return self.err_at(i, "unterminated escape");
                    };
                    i += 2;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hi = self.hex4(i)?;
                            i += 4;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if b.get(i..i + 2) != Some(b"\\u") {
                                    return self
                                        .err_at(i, "unpaired UTF-16 surrogate in \\u escape");
                                }
                                let lo = self.hex4(i + 2)?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self
                                        .err_at(i, "invalid UTF-16 low surrogate in \\u escape");
                                }
                                i += 6;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            let Some(ch) = char::from_u32(cp) else {
                                return self.err_at(i, "invalid \\u escape (lone surrogate)");
                            };
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            return self.err_at(i - 1, format!("invalid escape '\\{}'", e as char));
                        }
                    }
                }
                c if c < 0x20 => return self.err_at(i, "control character inside a string"),
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        match String::from_utf8(out) {
            Ok(s) => {
                self.p = i;
                Ok(s)
            }
            Err(_) => self.err_at(start, "string is not valid UTF-8"),
        }
    }

    fn hex4(&self, at: usize) -> R<u32> {
        let Some(h) = self.b.get(at..at + 4) else {
            return self.err_at(at, "truncated \\u escape");
        };
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err_at(at, "invalid hex digit in \\u escape"),
            };
            v = v * 16 + u32::from(d);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Value {
        parse(s.as_bytes())
            .map(|(n, _)| n.value)
            .unwrap_or(Value::Null)
    }

    #[test]
    fn numbers() {
        assert_eq!(p("1"), Value::Int(1));
        assert_eq!(p("-0E0"), Value::Float(-0.0));
        assert_eq!(p("NaN").type_name(), "a float");
        assert_eq!(p("-Infinity"), Value::Float(f32::NEG_INFINITY));
        assert_eq!(p("1.00443870544433594e+02"), Value::Float(100.44387));
        match p("[1, 2.5]") {
            Value::Array(a) => assert_eq!(a.len(), 2),
            other => panic!("{other:?}"),
        }
        match p("[1,2,3]") {
            Value::Typed(t) => assert_eq!(t.data, PackedData::I32(vec![1, 2, 3])),
            other => panic!("{other:?}"),
        }
        match p("[true,false]") {
            Value::Typed(t) => assert_eq!(t.data, PackedData::Bool(vec![true, false])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn f32_not_f64() {
        // 0.1 rounded straight to f32, not via f64.
        assert_eq!(
            p("1.00000005960464477539e0"),
            Value::Float("1.00000005960464477539".parse::<f32>().unwrap())
        );
    }

    #[test]
    fn fast_float_path_rounds_like_the_exact_parser() {
        // Deterministic LCG over mantissas of 1–17 digits and exponents -50..40,
        // in XGBoost's `d.dddE±x` style and plain decimal style.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 11
        };
        for _ in 0..200_000 {
            let digits = 1 + (next() % 17) as u32;
            let mant = next() % 10u64.pow(digits);
            let e = (next() % 90) as i32 - 50;
            let ms = mant.to_string();
            let text = if ms.len() > 1 {
                format!("{}.{}E{e}", &ms[..1], &ms[1..])
            } else {
                format!("{ms}E{e}")
            };
            for t in [text.clone(), format!("-{text}")] {
                let want: f32 = t.parse().unwrap();
                match p(&t) {
                    Value::Float(got) => assert_eq!(got.to_bits(), want.to_bits(), "{t}"),
                    other => panic!("{t}: {other:?}"),
                }
            }
        }
        // Exact f32 midpoints must round half to even.
        for t in [
            "1.6777217E7",
            "3.3554434E7",
            "1.6777219E7",
            "0.0",
            "-0.0",
            "1e-45",
            "3.4028236e38",
        ] {
            let want: f32 = t.parse().unwrap();
            match p(t) {
                Value::Float(got) => assert_eq!(got.to_bits(), want.to_bits(), "{t}"),
                other => panic!("{t}: {other:?}"),
            }
        }
    }

    #[test]
    fn errors() {
        let e = parse(b"{\"a\": [1, x]}").unwrap_err();
        assert_eq!(e.path, "$.a[1]");
        assert!(parse(b"\"\xff\"").is_err());
        let deep = "[".repeat(1000);
        assert!(
            parse(deep.as_bytes())
                .unwrap_err()
                .message
                .contains("nesting")
        );
        assert!(parse(b"99999999999999999999").is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(p(r#""a\u00e9\ud83d\ude00\n""#), Value::Str("aé😀\n".into()));
    }
}
