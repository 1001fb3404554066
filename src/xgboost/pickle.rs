//! A Python pickle opcode walker that never executes anything.
//!
//! It simulates the pickle machine's stack with inert values: globals are
//! recorded by name (never imported), `REDUCE`/`NEWOBJ`/`BUILD` build
//! placeholder objects, and only two calls are interpreted because XGBoost
//! needs them to carry bytes through protocol 2:
//! `_codecs.encode(<str>, 'latin1')` and `bytearray(<bytes>)`.
//!
//! From the result it finds the pickled object's class (`xgboost.core
//! Booster`, a scikit-learn wrapper such as `xgboost.sklearn XGBClassifier`,
//! or another object holding a Booster) and the Booster's `handle` payload
//! (`BINBYTES`, `SHORT_BINBYTES`, `BINBYTES8`, `BYTEARRAY8`, or a protocol-2
//! latin-1 string).
//!
//! Resources: every opcode adds at most one value to an arena, so memory is
//! linear in the input; lengths are checked against the bytes that remain;
//! nothing recurses.

use super::ir::{PickleInfo, PickleObject, PicklePayloadOp};
use crate::error::{Error, Result};
use crate::report::{Finding, Location};
use std::borrow::Cow;
use std::collections::HashMap;

const FORMAT: &str = "Python pickle";

/// A handle into the simulated object arena.
type Id = usize;

#[derive(Debug, Clone, Copy, PartialEq)]
enum PV {
    /// A `str` (UTF-8 bytes at `input[off..off+len]`), or an escaped text
    /// string decoded into the blob arena.
    Str(Id),
    /// A `bytes`/`bytearray` blob.
    Bytes(Id),
    Int(i64),
    None,
    Bool,
    Float,
    /// A reference to an arena object.
    Obj(Id),
    Other,
}

#[derive(Debug)]
enum Blob<'a> {
    Borrowed(&'a [u8], u64, PicklePayloadOp),
    Owned(Vec<u8>, u64, PicklePayloadOp),
}

#[derive(Debug)]
enum Obj {
    Global {
        module: String,
        name: String,
    },
    Instance {
        class: Option<Id>,
        state: Option<PV>,
    },
    Seq(Vec<PV>),
    Dict(Vec<(PV, PV)>),
}

struct Machine<'a> {
    b: &'a [u8],
    p: usize,
    stack: Vec<PV>,
    marks: Vec<usize>,
    memo: HashMap<u64, PV>,
    objs: Vec<Obj>,
    blobs: Vec<Blob<'a>>,
    strs: Vec<Cow<'a, str>>,
    protocol: u8,
    globals: Vec<(String, String)>,
}

/// What the walker found.
#[derive(Debug)]
pub struct Unpickled<'a> {
    /// Class, protocol, payload facts.
    pub info: PickleInfo,
    /// The model bytes.
    pub payload: Cow<'a, [u8]>,
    /// Findings about the pickle itself (wrapper class, unexpected globals).
    pub findings: Vec<Finding>,
}

fn invalid(code: &str, msg: impl Into<String>, at: usize) -> Error {
    Error::InvalidModel {
        format: FORMAT.into(),
        finding: Box::new(Finding::error(code, msg).at(Location::Offset(at as u64))),
    }
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        match self.p.checked_add(n).and_then(|e| self.b.get(self.p..e)) {
            Some(s) => {
                self.p += n;
                Ok(s)
            }
            None => Err(invalid(
                "xgb.pickle.truncated",
                format!(
                    "the pickle ends inside {what}: {n} bytes needed at byte {}, {} remain",
                    self.p,
                    self.b.len().saturating_sub(self.p)
                ),
                self.p,
            )),
        }
    }

    fn uint(&mut self, n: usize, what: &str) -> Result<u64> {
        let s = self.take(n, what)?;
        let mut v = 0u64;
        for (i, &c) in s.iter().enumerate() {
            v |= u64::from(c) << (8 * i);
        }
        Ok(v)
    }

    fn line(&mut self, what: &str) -> Result<&'a [u8]> {
        let rest = self.b.get(self.p..).unwrap_or_default();
        match rest.iter().position(|&c| c == b'\n') {
            Some(i) => {
                let s = &rest[..i];
                self.p += i + 1;
                Ok(s)
            }
            None => Err(invalid(
                "xgb.pickle.truncated",
                format!("the pickle ends inside {what} (no newline)"),
                self.p,
            )),
        }
    }

    fn sized(&mut self, len: u64, what: &str) -> Result<&'a [u8]> {
        let remain = self.b.len().saturating_sub(self.p);
        match usize::try_from(len) {
            Ok(n) if n <= remain => self.take(n, what),
            _ => Err(invalid(
                "xgb.length_exceeds_input",
                format!("{what} declares {len} bytes but only {remain} remain"),
                self.p,
            )),
        }
    }

    fn pop(&mut self, at: usize) -> Result<PV> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(invalid(
                "xgb.pickle.malformed",
                "pickle stack underflow",
                at,
            ));
        }
        self.stack
            .pop()
            .ok_or_else(|| invalid("xgb.pickle.malformed", "pickle stack underflow", at))
    }

    fn pop_mark(&mut self, at: usize) -> Result<Vec<PV>> {
        let Some(m) = self.marks.pop() else {
            return Err(invalid(
                "xgb.pickle.malformed",
                "pickle MARK expected but not found",
                at,
            ));
        };
        if m > self.stack.len() {
            return Err(invalid(
                "xgb.pickle.malformed",
                "pickle stack corrupted",
                at,
            ));
        }
        Ok(self.stack.split_off(m))
    }

    fn new_obj(&mut self, o: Obj) -> PV {
        self.objs.push(o);
        PV::Obj(self.objs.len() - 1)
    }

    fn new_str(&mut self, s: Cow<'a, str>) -> PV {
        self.strs.push(s);
        PV::Str(self.strs.len() - 1)
    }

    fn utf8(&mut self, raw: &'a [u8], at: usize) -> Result<PV> {
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(self.new_str(Cow::Borrowed(s))),
            Err(e) => Err(invalid(
                "xgb.invalid_utf8",
                "a pickled str is not valid UTF-8",
                at + e.valid_up_to(),
            )),
        }
    }

    fn blob(&mut self, raw: &'a [u8], at: usize, op: PicklePayloadOp) -> PV {
        self.blobs.push(Blob::Borrowed(raw, at as u64, op));
        PV::Bytes(self.blobs.len() - 1)
    }

    fn str_of(&self, v: PV) -> Option<&str> {
        match v {
            PV::Str(i) => self.strs.get(i).map(|s| s.as_ref()),
            _ => None,
        }
    }

    fn global_of(&self, v: PV) -> Option<(&str, &str)> {
        match v {
            PV::Obj(i) => match self.objs.get(i) {
                Some(Obj::Global { module, name }) => Some((module, name)),
                _ => None,
            },
            _ => None,
        }
    }

    fn push_global(&mut self, module: String, name: String) {
        self.globals.push((module.clone(), name.clone()));
        let v = self.new_obj(Obj::Global { module, name });
        self.stack.push(v);
    }

    /// `callable(*args)` without executing anything.
    fn reduce(&mut self, callable: PV, args: PV) -> PV {
        let arg_items: Vec<PV> = match args {
            PV::Obj(i) => match self.objs.get(i) {
                Some(Obj::Seq(items)) => items.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let g = self
            .global_of(callable)
            .map(|(m, n)| (m.to_string(), n.to_string()));
        match g.as_ref().map(|(m, n)| (m.as_str(), n.as_str())) {
            Some(("_codecs", "encode")) | Some(("codecs", "encode")) => {
                if let (Some(&s), enc) = (arg_items.first(), arg_items.get(1))
                    && let Some(v) = self.latin1(s, enc.copied())
                {
                    return v;
                }
                PV::Other
            }
            Some(("__builtin__" | "builtins", "bytearray" | "bytes")) => match arg_items.first() {
                Some(&PV::Bytes(i)) => PV::Bytes(i),
                Some(&s @ PV::Str(_)) => self
                    .latin1(s, arg_items.get(1).copied())
                    .unwrap_or(PV::Other),
                None => {
                    self.blobs
                        .push(Blob::Owned(Vec::new(), 0, PicklePayloadOp::Latin1String));
                    PV::Bytes(self.blobs.len() - 1)
                }
                _ => PV::Other,
            },
            Some(("copyreg" | "copy_reg", "_reconstructor")) => {
                let class = match arg_items.first() {
                    Some(&PV::Obj(i)) => Some(i),
                    _ => None,
                };
                self.new_obj(Obj::Instance { class, state: None })
            }
            _ => {
                let class = match callable {
                    PV::Obj(i) => Some(i),
                    _ => None,
                };
                self.new_obj(Obj::Instance { class, state: None })
            }
        }
    }

    /// `_codecs.encode(s, 'latin1')`: each char of `s` must be ≤ U+00FF.
    fn latin1(&mut self, s: PV, enc: Option<PV>) -> Option<PV> {
        let enc_ok = match enc {
            None => true,
            Some(e) => matches!(
                self.str_of(e).map(|e| e.to_ascii_lowercase().replace(['-', '_'], "")),
                Some(ref e) if e == "latin1" || e == "iso88591"
            ),
        };
        if !enc_ok {
            return None;
        }
        let text = self.str_of(s)?;
        let mut out = Vec::with_capacity(text.len());
        for ch in text.chars() {
            out.push(u8::try_from(u32::from(ch)).ok()?);
        }
        self.blobs
            .push(Blob::Owned(out, 0, PicklePayloadOp::Latin1String));
        Some(PV::Bytes(self.blobs.len() - 1))
    }

    fn run(&mut self) -> Result<PV> {
        loop {
            let at = self.p;
            let Some(&op) = self.b.get(self.p) else {
                return Err(invalid(
                    "xgb.pickle.truncated",
                    "the pickle ends without a STOP opcode",
                    self.p,
                ));
            };
            self.p += 1;
            match op {
                b'.' => return self.pop(at),
                0x80 => {
                    self.protocol = self.uint(1, "PROTO")? as u8;
                }
                0x95 => {
                    self.uint(8, "FRAME")?;
                }
                b'(' => {
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop(at)?;
                    }
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let v = self.pop(at)?;
                    self.stack.push(v);
                    self.stack.push(v);
                }
                // Numbers and constants.
                b'J' => {
                    let v = self.uint(4, "BININT")? as u32 as i32;
                    self.stack.push(PV::Int(i64::from(v)));
                }
                b'K' => {
                    let v = self.uint(1, "BININT1")?;
                    self.stack.push(PV::Int(v as i64));
                }
                b'M' => {
                    let v = self.uint(2, "BININT2")?;
                    self.stack.push(PV::Int(v as i64));
                }
                b'I' | b'L' => {
                    let l = self.line("INT/LONG")?;
                    let t = std::str::from_utf8(l).unwrap_or("").trim_end_matches('L');
                    self.stack.push(match t {
                        "00" => PV::Bool,
                        "01" => PV::Bool,
                        _ => t.parse::<i64>().map(PV::Int).unwrap_or(PV::Other),
                    });
                }
                b'F' => {
                    self.line("FLOAT")?;
                    self.stack.push(PV::Float);
                }
                b'G' => {
                    self.take(8, "BINFLOAT")?;
                    self.stack.push(PV::Float);
                }
                0x8a => {
                    let n = self.uint(1, "LONG1")?;
                    self.sized(n, "LONG1")?;
                    self.stack.push(PV::Other);
                }
                0x8b => {
                    let n = self.uint(4, "LONG4")? as u32 as i32;
                    let n = u64::try_from(n).map_err(|_| {
                        invalid("xgb.pickle.malformed", "negative LONG4 length", at)
                    })?;
                    self.sized(n, "LONG4")?;
                    self.stack.push(PV::Other);
                }
                b'N' => self.stack.push(PV::None),
                0x88 | 0x89 => self.stack.push(PV::Bool),
                // Strings.
                b'X' => {
                    let n = self.uint(4, "BINUNICODE")?;
                    let d = self.p;
                    let raw = self.sized(n, "BINUNICODE")?;
                    let v = self.utf8(raw, d)?;
                    self.stack.push(v);
                }
                0x8c => {
                    let n = self.uint(1, "SHORT_BINUNICODE")?;
                    let d = self.p;
                    let raw = self.sized(n, "SHORT_BINUNICODE")?;
                    let v = self.utf8(raw, d)?;
                    self.stack.push(v);
                }
                0x8d => {
                    let n = self.uint(8, "BINUNICODE8")?;
                    let d = self.p;
                    let raw = self.sized(n, "BINUNICODE8")?;
                    let v = self.utf8(raw, d)?;
                    self.stack.push(v);
                }
                b'V' => {
                    let l = self.line("UNICODE")?;
                    let s = raw_unicode_escape(l);
                    let v = self.new_str(Cow::Owned(s));
                    self.stack.push(v);
                }
                b'S' => {
                    // Protocol 0 byte string repr: treat as an opaque value.
                    self.line("STRING")?;
                    self.stack.push(PV::Other);
                }
                b'T' => {
                    let n = self.uint(4, "BINSTRING")? as u32 as i32;
                    let n = u64::try_from(n).map_err(|_| {
                        invalid("xgb.pickle.malformed", "negative BINSTRING length", at)
                    })?;
                    self.sized(n, "BINSTRING")?;
                    self.stack.push(PV::Other);
                }
                b'U' => {
                    let n = self.uint(1, "SHORT_BINSTRING")?;
                    self.sized(n, "SHORT_BINSTRING")?;
                    self.stack.push(PV::Other);
                }
                // Bytes.
                b'B' => {
                    let n = self.uint(4, "BINBYTES")?;
                    let d = self.p;
                    let raw = self.sized(n, "BINBYTES")?;
                    let v = self.blob(raw, d, PicklePayloadOp::Binbytes);
                    self.stack.push(v);
                }
                b'C' => {
                    let n = self.uint(1, "SHORT_BINBYTES")?;
                    let d = self.p;
                    let raw = self.sized(n, "SHORT_BINBYTES")?;
                    let v = self.blob(raw, d, PicklePayloadOp::ShortBinbytes);
                    self.stack.push(v);
                }
                0x8e => {
                    let n = self.uint(8, "BINBYTES8")?;
                    let d = self.p;
                    let raw = self.sized(n, "BINBYTES8")?;
                    let v = self.blob(raw, d, PicklePayloadOp::Binbytes8);
                    self.stack.push(v);
                }
                0x96 => {
                    let n = self.uint(8, "BYTEARRAY8")?;
                    let d = self.p;
                    let raw = self.sized(n, "BYTEARRAY8")?;
                    let v = self.blob(raw, d, PicklePayloadOp::Bytearray8);
                    self.stack.push(v);
                }
                0x97 => {
                    return Err(invalid(
                        "xgb.pickle.out_of_band",
                        "the pickle uses out-of-band buffers (NEXT_BUFFER); the data is not in the file",
                        at,
                    ));
                }
                0x98 => {}
                // Containers.
                b')' => {
                    let v = self.new_obj(Obj::Seq(Vec::new()));
                    self.stack.push(v);
                }
                b']' => {
                    let v = self.new_obj(Obj::Seq(Vec::new()));
                    self.stack.push(v);
                }
                b'}' => {
                    let v = self.new_obj(Obj::Dict(Vec::new()));
                    self.stack.push(v);
                }
                0x8f => {
                    let v = self.new_obj(Obj::Seq(Vec::new()));
                    self.stack.push(v);
                }
                b't' | b'l' | 0x91 => {
                    let items = self.pop_mark(at)?;
                    let v = self.new_obj(Obj::Seq(items));
                    self.stack.push(v);
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                    let v = self.new_obj(Obj::Dict(pairs));
                    self.stack.push(v);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    let v = self.new_obj(Obj::Seq(items));
                    self.stack.push(v);
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let l = self.pop(at)?;
                    self.extend_seq(l, vec![v]);
                    self.stack.push(l);
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark(at)?;
                    let l = self.pop(at)?;
                    self.extend_seq(l, items);
                    self.stack.push(l);
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let d = self.pop(at)?;
                    self.extend_dict(d, vec![(k, v)]);
                    self.stack.push(d);
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let d = self.pop(at)?;
                    let pairs = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                    self.extend_dict(d, pairs);
                    self.stack.push(d);
                }
                // Memo.
                b'p' => {
                    let l = self.line("PUT")?;
                    let i = parse_index(l, at)?;
                    self.put(i, at)?;
                }
                b'q' => {
                    let i = self.uint(1, "BINPUT")?;
                    self.put(i, at)?;
                }
                b'r' => {
                    let i = self.uint(4, "LONG_BINPUT")?;
                    self.put(i, at)?;
                }
                0x94 => {
                    let i = self.memo.len() as u64;
                    self.put(i, at)?;
                }
                b'g' => {
                    let l = self.line("GET")?;
                    let i = parse_index(l, at)?;
                    self.get(i, at)?;
                }
                b'h' => {
                    let i = self.uint(1, "BINGET")?;
                    self.get(i, at)?;
                }
                b'j' => {
                    let i = self.uint(4, "LONG_BINGET")?;
                    self.get(i, at)?;
                }
                // Globals and object construction.
                b'c' => {
                    let m = self.line("GLOBAL module")?;
                    let n = self.line("GLOBAL name")?;
                    let m = String::from_utf8_lossy(m).into_owned();
                    let n = String::from_utf8_lossy(n).into_owned();
                    self.push_global(m, n);
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (Some(m), Some(n)) = (self.str_of(module), self.str_of(name)) else {
                        return Err(invalid(
                            "xgb.pickle.malformed",
                            "STACK_GLOBAL needs two strings",
                            at,
                        ));
                    };
                    let (m, n) = (m.to_string(), n.to_string());
                    self.push_global(m, n);
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    let v = self.reduce(callable, args);
                    self.stack.push(v);
                }
                0x81 => {
                    let _args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let class = match cls {
                        PV::Obj(i) => Some(i),
                        _ => None,
                    };
                    let v = self.new_obj(Obj::Instance { class, state: None });
                    self.stack.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop(at)?;
                    let _args = self.pop(at)?;
                    let cls = self.pop(at)?;
                    let class = match cls {
                        PV::Obj(i) => Some(i),
                        _ => None,
                    };
                    let v = self.new_obj(Obj::Instance { class, state: None });
                    self.stack.push(v);
                }
                b'i' => {
                    let m = self.line("INST module")?;
                    let n = self.line("INST name")?;
                    self.pop_mark(at)?;
                    let m = String::from_utf8_lossy(m).into_owned();
                    let n = String::from_utf8_lossy(n).into_owned();
                    self.globals.push((m.clone(), n.clone()));
                    self.objs.push(Obj::Global { module: m, name: n });
                    let class = Some(self.objs.len() - 1);
                    let v = self.new_obj(Obj::Instance { class, state: None });
                    self.stack.push(v);
                }
                b'o' => {
                    let items = self.pop_mark(at)?;
                    let class = match items.first() {
                        Some(&PV::Obj(i)) => Some(i),
                        _ => None,
                    };
                    let v = self.new_obj(Obj::Instance { class, state: None });
                    self.stack.push(v);
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let inst = self.pop(at)?;
                    if let PV::Obj(i) = inst
                        && let Some(Obj::Instance { state: s, .. }) = self.objs.get_mut(i)
                    {
                        *s = Some(state);
                    }
                    self.stack.push(inst);
                }
                b'P' => {
                    self.line("PERSID")?;
                    self.stack.push(PV::Other);
                }
                b'Q' => {
                    self.pop(at)?;
                    self.stack.push(PV::Other);
                }
                0x82 => {
                    self.uint(1, "EXT1")?;
                    self.stack.push(PV::Other);
                }
                0x83 => {
                    self.uint(2, "EXT2")?;
                    self.stack.push(PV::Other);
                }
                0x84 => {
                    self.uint(4, "EXT4")?;
                    self.stack.push(PV::Other);
                }
                other => {
                    return Err(invalid(
                        "xgb.pickle.malformed",
                        format!("unknown pickle opcode 0x{other:02x}"),
                        at,
                    ));
                }
            }
        }
    }

    fn put(&mut self, i: u64, at: usize) -> Result<()> {
        let top =
            self.stack.last().copied().ok_or_else(|| {
                invalid("xgb.pickle.malformed", "memo PUT with an empty stack", at)
            })?;
        self.memo.insert(i, top);
        Ok(())
    }

    fn get(&mut self, i: u64, at: usize) -> Result<()> {
        let v = self.memo.get(&i).copied().ok_or_else(|| {
            invalid(
                "xgb.pickle.malformed",
                format!("memo GET of unknown entry {i}"),
                at,
            )
        })?;
        self.stack.push(v);
        Ok(())
    }

    fn extend_seq(&mut self, l: PV, items: Vec<PV>) {
        if let PV::Obj(i) = l
            && let Some(Obj::Seq(v)) = self.objs.get_mut(i)
        {
            v.extend(items);
        }
    }

    fn extend_dict(&mut self, d: PV, pairs: Vec<(PV, PV)>) {
        if let PV::Obj(i) = d
            && let Some(Obj::Dict(v)) = self.objs.get_mut(i)
        {
            v.extend(pairs);
        }
    }

    fn dict_get(&self, d: PV, key: &str) -> Option<PV> {
        let PV::Obj(i) = d else { return None };
        match self.objs.get(i)? {
            Obj::Dict(pairs) => pairs
                .iter()
                .rev()
                .find(|(k, _)| self.str_of(*k) == Some(key))
                .map(|(_, v)| *v),
            // (state, slotstate) tuples.
            Obj::Seq(items) => items.first().and_then(|&s| self.dict_get(s, key)),
            _ => None,
        }
    }

    fn class_of(&self, v: PV) -> Option<(String, String)> {
        let PV::Obj(i) = v else { return None };
        match self.objs.get(i)? {
            Obj::Instance { class: Some(c), .. } => match self.objs.get(*c)? {
                Obj::Global { module, name } => Some((module.clone(), name.clone())),
                _ => None,
            },
            _ => None,
        }
    }

    fn state_of(&self, v: PV) -> Option<PV> {
        let PV::Obj(i) = v else { return None };
        match self.objs.get(i)? {
            Obj::Instance { state, .. } => *state,
            _ => None,
        }
    }

    fn strings_of(&self, v: PV) -> Option<Vec<String>> {
        let PV::Obj(i) = v else { return None };
        match self.objs.get(i)? {
            Obj::Seq(items) => items
                .iter()
                .map(|&s| self.str_of(s).map(String::from))
                .collect(),
            _ => None,
        }
    }
}

fn parse_index(l: &[u8], at: usize) -> Result<u64> {
    std::str::from_utf8(l)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .ok_or_else(|| invalid("xgb.pickle.malformed", "invalid memo index", at))
}

/// Decodes Python's raw-unicode-escape (protocol 0 `UNICODE` lines).
fn raw_unicode_escape(l: &[u8]) -> String {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        let c = l[i];
        if c == b'\\' && matches!(l.get(i + 1), Some(b'u' | b'U')) {
            let n = if l[i + 1] == b'u' { 4 } else { 8 };
            if let Some(h) = l.get(i + 2..i + 2 + n)
                && let Some(ch) = std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
            {
                out.push(ch);
                i += 2 + n;
                continue;
            }
        }
        out.push(char::from(c));
        i += 1;
    }
    out
}

/// Module prefixes whose globals are expected in an XGBoost pickle.
const EXPECTED_MODULES: &[&str] = &[
    "xgboost",
    "builtins",
    "__builtin__",
    "_codecs",
    "codecs",
    "copyreg",
    "copy_reg",
    "numpy",
    "sklearn",
    "collections",
    "pandas",
];

/// Globals that execute code when the container unpickles the file.
const DANGEROUS: &[(&str, &str)] = &[
    ("os", ""),
    ("posix", ""),
    ("nt", ""),
    ("subprocess", ""),
    ("sys", ""),
    ("socket", ""),
    ("shutil", ""),
    ("pty", ""),
    ("importlib", ""),
    ("runpy", ""),
    ("marshal", ""),
    ("pickle", ""),
    ("_pickle", ""),
    ("code", ""),
    ("commands", ""),
    ("webbrowser", ""),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("builtins", "compile"),
    ("builtins", "__import__"),
    ("builtins", "getattr"),
    ("builtins", "open"),
    ("builtins", "setattr"),
    ("__builtin__", "eval"),
    ("__builtin__", "execfile"),
    ("__builtin__", "__import__"),
    ("__builtin__", "getattr"),
    ("__builtin__", "open"),
];

fn root_module(m: &str) -> &str {
    m.split('.').next().unwrap_or(m)
}

/// Walks a pickle (which must start with `0x80`, or be a protocol 0/1
/// pickle) and returns the XGBoost model bytes it carries.
pub fn walk(bytes: &[u8]) -> Result<Unpickled<'_>> {
    let mut m = Machine {
        b: bytes,
        p: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        objs: Vec::new(),
        blobs: Vec::new(),
        strs: Vec::new(),
        protocol: 0,
        globals: Vec::new(),
    };
    let root = m.run()?;
    let end = m.p;
    let mut findings = Vec::new();

    // Globals a container would import while unpickling.
    let mut dangerous = Vec::new();
    let mut unexpected = Vec::new();
    for (module, name) in &m.globals {
        let rm = root_module(module);
        if DANGEROUS
            .iter()
            .any(|(dm, dn)| *dm == rm && (dn.is_empty() || *dn == name))
        {
            dangerous.push(format!("{module}.{name}"));
        } else if !EXPECTED_MODULES.contains(&rm) {
            unexpected.push(format!("{module}.{name}"));
        }
    }
    dangerous.dedup();
    unexpected.dedup();
    if !dangerous.is_empty() {
        findings.push(
            Finding::error(
                "xgb.pickle.dangerous_global",
                format!(
                    "the pickle calls {} when unpickled; the SageMaker container unpickles every model file, so this would run on the endpoint",
                    dangerous.join(", ")
                ),
            )
            .with_hint("do not deploy this file; export the model with booster.save_model(\"xgboost-model\")")
            .at(Location::Offset(0)),
        );
    }
    if !unexpected.is_empty() {
        findings.push(
            Finding::warning(
                "xgb.pickle.unexpected_global",
                format!(
                    "the pickle references {} (not part of an XGBoost model); unpickling imports it",
                    unexpected.join(", ")
                ),
            )
            .at(Location::Offset(0)),
        );
    }
    if end < bytes.len() {
        findings.push(
            Finding::warning(
                "xgb.trailing_bytes",
                format!(
                    "{} bytes after the pickle's STOP opcode are ignored",
                    bytes.len() - end
                ),
            )
            .at(Location::Offset(end as u64)),
        );
    }

    let Some((module, class)) = m.class_of(root) else {
        let what = match root {
            PV::Obj(i) => match m.objs.get(i) {
                Some(Obj::Dict(_)) => "a dict",
                Some(Obj::Seq(_)) => "a list or tuple",
                _ => "an object of unknown class",
            },
            PV::Str(_) => "a str",
            PV::Bytes(_) => "a bytes object",
            PV::Int(_) => "an int",
            _ => "a plain value",
        };
        return Err(Error::UnrecognizedFormat {
            expected: "an XGBoost model",
            what: format!("a Python pickle (protocol {}) of {what}", m.protocol),
            hint: Some("save the model with booster.save_model(\"xgboost-model\")".into()),
        });
    };
    let is_booster = |mo: &str, cl: &str| root_module(mo) == "xgboost" && cl == "Booster";
    // Find the Booster instance: the root, the wrapper's `_Booster`, or any Booster in the graph.
    let mut booster: Option<PV> = None;
    let mut handle: Option<PV> = None;
    let object = if is_booster(&module, &class) {
        booster = Some(root);
        PickleObject::Booster
    } else if root_module(&module) == "xgboost" {
        PickleObject::SklearnWrapper
    } else {
        PickleObject::OtherObject
    };
    if booster.is_none() {
        if let Some(state) = m.state_of(root)
            && let Some(b) = m.dict_get(state, "_Booster")
        {
            match b {
                PV::Bytes(_) => handle = Some(b),
                _ => booster = Some(b),
            }
        }
        if booster.is_none() && handle.is_none() {
            booster = (0..m.objs.len())
                .map(PV::Obj)
                .find(|&v| m.class_of(v).is_some_and(|(mo, cl)| is_booster(&mo, &cl)));
        }
    }
    let mut state_names = None;
    let mut state_types = None;
    if let Some(b) = booster
        && let Some(state) = m.state_of(b)
    {
        handle = handle.or_else(|| m.dict_get(state, "handle"));
        state_names = m
            .dict_get(state, "feature_names")
            .and_then(|v| m.strings_of(v));
        state_types = m
            .dict_get(state, "feature_types")
            .and_then(|v| m.strings_of(v));
    }
    let Some(PV::Bytes(bi)) = handle else {
        if object == PickleObject::OtherObject && booster.is_none() {
            return Err(Error::UnrecognizedFormat {
                expected: "an XGBoost model",
                what: format!("a Python pickle (protocol {}) of {module}.{class}", m.protocol),
                hint: Some("the built-in XGBoost container needs an XGBoost model saved with booster.save_model".into()),
            });
        }
        return Err(invalid(
            "xgb.pickle.no_payload",
            format!(
                "the pickled {module}.{class} holds no Booster model bytes (no 'handle' bytearray)"
            ),
            0,
        ));
    };
    let Some(blob) = m.blobs.get(bi) else {
        return Err(invalid(
            "xgb.pickle.no_payload",
            "internal: missing payload",
            0,
        ));
    };
    let (payload_op, payload_offset) = match blob {
        Blob::Borrowed(_, at, op) => (*op, *at),
        Blob::Owned(_, at, op) => (*op, *at),
    };
    let payload: Cow<'_, [u8]> = match m.blobs.swap_remove(bi) {
        Blob::Borrowed(b, ..) => Cow::Borrowed(b),
        Blob::Owned(b, ..) => Cow::Owned(b),
    };
    match object {
        PickleObject::Booster => findings.push(
            Finding::warning(
                "xgb.pickle.booster",
                format!(
                    "this is a Python pickle (protocol {}) of xgboost.core.Booster; pickles load only in XGBoost versions compatible with the one that wrote them",
                    m.protocol
                ),
            )
            .with_hint("prefer booster.save_model(\"xgboost-model\") (JSON or UBJSON), which every later XGBoost can read"),
        ),
        PickleObject::SklearnWrapper | PickleObject::OtherObject => findings.push(
            Finding::error(
                "xgb.pickle.wrapper",
                format!(
                    "this is a pickled {module}.{class}, not a Booster; the SageMaker XGBoost container cannot load it"
                ),
            )
            .with_hint("export the booster: clf.get_booster().save_model(\"xgboost-model\")"),
        ),
    }
    let payload_len = payload.len() as u64;
    Ok(Unpickled {
        info: PickleInfo {
            protocol: m.protocol,
            module,
            class,
            object,
            payload_op,
            payload_offset,
            payload_len,
            state_feature_names: state_names,
            state_feature_types: state_types,
        },
        payload,
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol-4 pickle of `Booster` with a BINBYTES handle, built by hand.
    fn booster_pickle(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x80, 4];
        for s in ["xgboost.core", "Booster"] {
            b.push(0x8c);
            b.push(s.len() as u8);
            b.extend_from_slice(s.as_bytes());
        }
        b.push(0x93); // STACK_GLOBAL
        b.push(b')');
        b.push(0x81); // NEWOBJ
        b.push(b'}');
        b.push(0x8c);
        b.push(6);
        b.extend_from_slice(b"handle");
        b.push(b'B');
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(payload);
        b.push(b's');
        b.push(b'b');
        b.push(b'.');
        b
    }

    #[test]
    fn finds_binbytes_handle() {
        let p = booster_pickle(b"{L\x00");
        let u = walk(&p).unwrap();
        assert_eq!(u.info.class, "Booster");
        assert_eq!(u.info.protocol, 4);
        assert_eq!(u.info.payload_op, PicklePayloadOp::Binbytes);
        assert_eq!(&*u.payload, b"{L\x00");
    }

    #[test]
    fn truncations_never_panic() {
        let p = booster_pickle(&[7u8; 40]);
        for n in 0..p.len() {
            let _ = walk(&p[..n]);
        }
    }

    #[test]
    fn dangerous_global_is_flagged_not_run() {
        let b = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.".to_vec();
        assert!(walk(&b).is_err());
    }
}
