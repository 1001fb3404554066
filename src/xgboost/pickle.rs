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
//! Resources: stack values are 8 bytes and arena objects 16 bytes; every
//! opcode adds at most one of each (container storage is allocated only
//! when something is put in it), strings and byte strings are referenced by
//! id and never copied, except that a latin-1 conversion is done at most once
//! per string. Memory is therefore linear in the input (a few tens of bytes
//! per input byte at worst); every length is checked against the bytes that
//! remain; nothing recurses.

use super::ir::{PickleInfo, PickleObject, PicklePayloadOp};
use crate::error::{Error, Result};
use crate::report::{Finding, Location};
use std::borrow::Cow;
use std::collections::HashMap;

const FORMAT: &str = "Python pickle";

/// An index into one of the machine's arenas.
type Id = u32;
const NONE: Id = u32::MAX;

/// A simulated Python value (8 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
enum PV {
    /// A `str`: index into `strs`.
    Str(Id),
    /// A `bytes`/`bytearray`: index into `blobs`.
    Bytes(Id),
    /// An object in the arena.
    Obj(Id),
    /// `None`.
    None,
    /// Anything else (numbers, booleans, opaque results).
    Other,
}

/// Arena objects (16 bytes).
#[derive(Debug, Clone, Copy)]
enum Obj {
    /// A global `module.name`: both indices into `strs`.
    Global { module: Id, name: Id },
    /// An instance of `class` (an arena id, or NONE) with its `BUILD` state.
    Instance { class: Id, state: PV },
    /// A list/tuple/set: index into `seqs`, NONE while empty.
    Seq(Id),
    /// A dict: index into `dicts`, NONE while empty.
    Dict(Id),
}

#[derive(Debug)]
enum Blob<'a> {
    Borrowed(&'a [u8], usize, PicklePayloadOp),
    Owned(Vec<u8>),
}

struct Machine<'a> {
    b: &'a [u8],
    p: usize,
    stack: Vec<PV>,
    marks: Vec<usize>,
    memo: Vec<PV>,
    sparse_memo: HashMap<u64, PV>,
    objs: Vec<Obj>,
    seqs: Vec<Vec<PV>>,
    dicts: Vec<Vec<(PV, PV)>>,
    blobs: Vec<Blob<'a>>,
    strs: Vec<Cow<'a, str>>,
    latin1_done: HashMap<Id, Id>,
    protocol: u8,
    globals: Vec<(Id, Id)>,
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

fn id(n: usize, at: usize) -> Result<Id> {
    Id::try_from(n).ok().filter(|&i| i != NONE).ok_or_else(|| {
        invalid(
            "xgb.pickle.too_large",
            "the pickle holds more than 2^32 values",
            at,
        )
    })
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
                format!(
                    "{what} declares {len} bytes but only {remain} remain: the pickle is truncated or corrupt"
                ),
                self.p,
            )),
        }
    }

    fn push(&mut self, v: PV) {
        self.stack.push(v);
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

    fn new_obj(&mut self, o: Obj, at: usize) -> Result<PV> {
        let i = id(self.objs.len(), at)?;
        self.objs.push(o);
        Ok(PV::Obj(i))
    }

    fn new_seq(&mut self, items: Vec<PV>, at: usize) -> Result<PV> {
        let slot = if items.is_empty() {
            NONE
        } else {
            let s = id(self.seqs.len(), at)?;
            self.seqs.push(items);
            s
        };
        self.new_obj(Obj::Seq(slot), at)
    }

    fn new_dict(&mut self, pairs: Vec<(PV, PV)>, at: usize) -> Result<PV> {
        let slot = if pairs.is_empty() {
            NONE
        } else {
            let s = id(self.dicts.len(), at)?;
            self.dicts.push(pairs);
            s
        };
        self.new_obj(Obj::Dict(slot), at)
    }

    fn new_str(&mut self, s: Cow<'a, str>, at: usize) -> Result<Id> {
        let i = id(self.strs.len(), at)?;
        self.strs.push(s);
        Ok(i)
    }

    fn utf8(&mut self, raw: &'a [u8], at: usize) -> Result<PV> {
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(PV::Str(self.new_str(Cow::Borrowed(s), at)?)),
            Err(e) => Err(invalid(
                "xgb.invalid_utf8",
                "a pickled str is not valid UTF-8",
                at + e.valid_up_to(),
            )),
        }
    }

    fn text(&mut self, raw: &'a [u8], at: usize) -> Result<Id> {
        let s = match std::str::from_utf8(raw) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(String::from_utf8_lossy(raw).into_owned()),
        };
        self.new_str(s, at)
    }

    fn blob(&mut self, raw: &'a [u8], data_at: usize, op: PicklePayloadOp) -> Result<PV> {
        let i = id(self.blobs.len(), data_at)?;
        self.blobs.push(Blob::Borrowed(raw, data_at, op));
        Ok(PV::Bytes(i))
    }

    fn str_of(&self, v: PV) -> Option<&str> {
        match v {
            PV::Str(i) => self.strs.get(i as usize).map(|s| s.as_ref()),
            _ => None,
        }
    }

    fn str_id(&self, i: Id) -> &str {
        self.strs.get(i as usize).map(|s| s.as_ref()).unwrap_or("")
    }

    fn obj(&self, v: PV) -> Option<Obj> {
        match v {
            PV::Obj(i) => self.objs.get(i as usize).copied(),
            _ => None,
        }
    }

    fn global_of(&self, v: PV) -> Option<(&str, &str)> {
        match self.obj(v)? {
            Obj::Global { module, name } => Some((self.str_id(module), self.str_id(name))),
            _ => None,
        }
    }

    fn seq_items(&self, v: PV) -> &[PV] {
        match self.obj(v) {
            Some(Obj::Seq(slot)) if slot != NONE => self
                .seqs
                .get(slot as usize)
                .map(|s| s.as_slice())
                .unwrap_or(&[]),
            _ => &[],
        }
    }

    fn push_global(&mut self, module: Id, name: Id, at: usize) -> Result<()> {
        self.globals.push((module, name));
        let v = self.new_obj(Obj::Global { module, name }, at)?;
        self.push(v);
        Ok(())
    }

    /// `callable(*args)` without executing anything.
    fn reduce(&mut self, callable: PV, args: PV, at: usize) -> Result<PV> {
        let (a0, a1) = {
            let items = self.seq_items(args);
            (items.first().copied(), items.get(1).copied())
        };
        let g = self.global_of(callable).map(|(m, n)| {
            (
                m == "_codecs" || m == "codecs",
                m == "__builtin__" || m == "builtins",
                n == "encode",
                n == "bytearray" || n == "bytes",
                m == "copyreg" || m == "copy_reg",
                n == "_reconstructor",
            )
        });
        match g {
            Some((true, _, true, _, _, _)) => {
                if let Some(s) = a0
                    && let Some(v) = self.latin1(s, a1, at)?
                {
                    return Ok(v);
                }
                Ok(PV::Other)
            }
            Some((_, true, _, true, _, _)) => match a0 {
                Some(PV::Bytes(i)) => Ok(PV::Bytes(i)),
                Some(s @ PV::Str(_)) => Ok(self.latin1(s, a1, at)?.unwrap_or(PV::Other)),
                None => {
                    let i = id(self.blobs.len(), at)?;
                    self.blobs.push(Blob::Owned(Vec::new()));
                    Ok(PV::Bytes(i))
                }
                _ => Ok(PV::Other),
            },
            Some((_, _, _, _, true, true)) => {
                let class = match a0 {
                    Some(PV::Obj(i)) => i,
                    _ => NONE,
                };
                self.new_obj(
                    Obj::Instance {
                        class,
                        state: PV::None,
                    },
                    at,
                )
            }
            _ => {
                let class = match callable {
                    PV::Obj(i) => i,
                    _ => NONE,
                };
                self.new_obj(
                    Obj::Instance {
                        class,
                        state: PV::None,
                    },
                    at,
                )
            }
        }
    }

    /// `_codecs.encode(s, 'latin1')`: each char of `s` must be ≤ U+00FF.
    /// Done at most once per string.
    fn latin1(&mut self, s: PV, enc: Option<PV>, at: usize) -> Result<Option<PV>> {
        let enc_ok = match enc {
            None => true,
            Some(e) => matches!(
                self.str_of(e).map(|e| e.to_ascii_lowercase().replace(['-', '_'], "")),
                Some(ref e) if e == "latin1" || e == "iso88591"
            ),
        };
        let PV::Str(sid) = s else { return Ok(None) };
        if !enc_ok {
            return Ok(None);
        }
        if let Some(&b) = self.latin1_done.get(&sid) {
            return Ok(Some(PV::Bytes(b)));
        }
        let text = self.str_id(sid);
        let mut out = Vec::with_capacity(text.len());
        for ch in text.chars() {
            match u8::try_from(u32::from(ch)) {
                Ok(c) => out.push(c),
                Err(_) => return Ok(None),
            }
        }
        let i = id(self.blobs.len(), at)?;
        self.blobs.push(Blob::Owned(out));
        self.latin1_done.insert(sid, i);
        Ok(Some(PV::Bytes(i)))
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
                b'(' => self.marks.push(self.stack.len()),
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
                    self.push(v);
                    self.push(v);
                }
                // Numbers and constants: opaque.
                b'J' => {
                    self.take(4, "BININT")?;
                    self.push(PV::Other);
                }
                b'K' => {
                    self.take(1, "BININT1")?;
                    self.push(PV::Other);
                }
                b'M' => {
                    self.take(2, "BININT2")?;
                    self.push(PV::Other);
                }
                b'I' | b'L' | b'F' => {
                    self.line("INT/LONG/FLOAT")?;
                    self.push(PV::Other);
                }
                b'G' => {
                    self.take(8, "BINFLOAT")?;
                    self.push(PV::Other);
                }
                0x8a => {
                    let n = self.uint(1, "LONG1")?;
                    self.sized(n, "LONG1")?;
                    self.push(PV::Other);
                }
                0x8b => {
                    let n = self.uint(4, "LONG4")? as u32 as i32;
                    let n = u64::try_from(n).map_err(|_| {
                        invalid("xgb.pickle.malformed", "negative LONG4 length", at)
                    })?;
                    self.sized(n, "LONG4")?;
                    self.push(PV::Other);
                }
                b'N' => self.push(PV::None),
                0x88 | 0x89 => self.push(PV::Other),
                // Strings.
                b'X' | 0x8c | 0x8d => {
                    let (w, name) = match op {
                        b'X' => (4, "BINUNICODE"),
                        0x8c => (1, "SHORT_BINUNICODE"),
                        _ => (8, "BINUNICODE8"),
                    };
                    let n = self.uint(w, name)?;
                    let d = self.p;
                    let raw = self.sized(n, name)?;
                    let v = self.utf8(raw, d)?;
                    self.push(v);
                }
                b'V' => {
                    let l = self.line("UNICODE")?;
                    let s = raw_unicode_escape(l);
                    let i = self.new_str(Cow::Owned(s), at)?;
                    self.push(PV::Str(i));
                }
                b'S' => {
                    // Protocol 0 byte-string repr: opaque.
                    self.line("STRING")?;
                    self.push(PV::Other);
                }
                b'T' => {
                    let n = self.uint(4, "BINSTRING")? as u32 as i32;
                    let n = u64::try_from(n).map_err(|_| {
                        invalid("xgb.pickle.malformed", "negative BINSTRING length", at)
                    })?;
                    self.sized(n, "BINSTRING")?;
                    self.push(PV::Other);
                }
                b'U' => {
                    let n = self.uint(1, "SHORT_BINSTRING")?;
                    self.sized(n, "SHORT_BINSTRING")?;
                    self.push(PV::Other);
                }
                // Bytes.
                b'B' | b'C' | 0x8e | 0x96 => {
                    let (w, name, kind) = match op {
                        b'B' => (4, "BINBYTES", PicklePayloadOp::Binbytes),
                        b'C' => (1, "SHORT_BINBYTES", PicklePayloadOp::ShortBinbytes),
                        0x8e => (8, "BINBYTES8", PicklePayloadOp::Binbytes8),
                        _ => (8, "BYTEARRAY8", PicklePayloadOp::Bytearray8),
                    };
                    let n = self.uint(w, name)?;
                    let d = self.p;
                    let raw = self.sized(n, name)?;
                    let v = self.blob(raw, d, kind)?;
                    self.push(v);
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
                b')' | b']' | 0x8f => {
                    let v = self.new_seq(Vec::new(), at)?;
                    self.push(v);
                }
                b'}' => {
                    let v = self.new_dict(Vec::new(), at)?;
                    self.push(v);
                }
                b't' | b'l' | 0x91 => {
                    let items = self.pop_mark(at)?;
                    let v = self.new_seq(items, at)?;
                    self.push(v);
                }
                b'd' => {
                    let items = self.pop_mark(at)?;
                    let pairs = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                    let v = self.new_dict(pairs, at)?;
                    self.push(v);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop(at)?);
                    }
                    items.reverse();
                    let v = self.new_seq(items, at)?;
                    self.push(v);
                }
                b'a' => {
                    let v = self.pop(at)?;
                    let l = self.pop(at)?;
                    self.extend_seq(l, vec![v], at)?;
                    self.push(l);
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark(at)?;
                    let l = self.pop(at)?;
                    self.extend_seq(l, items, at)?;
                    self.push(l);
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    let d = self.pop(at)?;
                    self.extend_dict(d, vec![(k, v)], at)?;
                    self.push(d);
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    let d = self.pop(at)?;
                    let pairs = items.chunks_exact(2).map(|c| (c[0], c[1])).collect();
                    self.extend_dict(d, pairs, at)?;
                    self.push(d);
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
                    let i = (self.memo.len() + self.sparse_memo.len()) as u64;
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
                    let m = self.text(m, at)?;
                    let n = self.text(n, at)?;
                    self.push_global(m, n, at)?;
                }
                0x93 => {
                    let name = self.pop(at)?;
                    let module = self.pop(at)?;
                    let (PV::Str(m), PV::Str(n)) = (module, name) else {
                        return Err(invalid(
                            "xgb.pickle.malformed",
                            "STACK_GLOBAL needs two strings",
                            at,
                        ));
                    };
                    self.push_global(m, n, at)?;
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let callable = self.pop(at)?;
                    let v = self.reduce(callable, args, at)?;
                    self.push(v);
                }
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop(at)?; // kwargs
                    }
                    self.pop(at)?; // args
                    let cls = self.pop(at)?;
                    let class = match cls {
                        PV::Obj(i) => i,
                        _ => NONE,
                    };
                    let v = self.new_obj(
                        Obj::Instance {
                            class,
                            state: PV::None,
                        },
                        at,
                    )?;
                    self.push(v);
                }
                b'i' => {
                    let m = self.line("INST module")?;
                    let n = self.line("INST name")?;
                    self.pop_mark(at)?;
                    let m = self.text(m, at)?;
                    let n = self.text(n, at)?;
                    self.globals.push((m, n));
                    let PV::Obj(class) = self.new_obj(Obj::Global { module: m, name: n }, at)?
                    else {
                        return Err(invalid("xgb.pickle.malformed", "internal error", at));
                    };
                    let v = self.new_obj(
                        Obj::Instance {
                            class,
                            state: PV::None,
                        },
                        at,
                    )?;
                    self.push(v);
                }
                b'o' => {
                    let items = self.pop_mark(at)?;
                    let class = match items.first() {
                        Some(&PV::Obj(i)) => i,
                        _ => NONE,
                    };
                    let v = self.new_obj(
                        Obj::Instance {
                            class,
                            state: PV::None,
                        },
                        at,
                    )?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop(at)?;
                    let inst = self.pop(at)?;
                    if let PV::Obj(i) = inst
                        && let Some(Obj::Instance { state: s, .. }) = self.objs.get_mut(i as usize)
                    {
                        *s = state;
                    }
                    self.push(inst);
                }
                b'P' => {
                    self.line("PERSID")?;
                    self.push(PV::Other);
                }
                b'Q' => {
                    self.pop(at)?;
                    self.push(PV::Other);
                }
                0x82..=0x84 => {
                    let w = [1, 2, 4][usize::from(op - 0x82)];
                    self.uint(w, "EXT")?;
                    self.push(PV::Other);
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
        match usize::try_from(i) {
            Ok(i) if i < self.memo.len() => self.memo[i] = top,
            Ok(i) if i == self.memo.len() => self.memo.push(top),
            _ => {
                self.sparse_memo.insert(i, top);
            }
        }
        Ok(())
    }

    fn get(&mut self, i: u64, at: usize) -> Result<()> {
        let v = usize::try_from(i)
            .ok()
            .and_then(|x| self.memo.get(x).copied())
            .or_else(|| self.sparse_memo.get(&i).copied())
            .ok_or_else(|| {
                invalid(
                    "xgb.pickle.malformed",
                    format!("memo GET of unknown entry {i}"),
                    at,
                )
            })?;
        self.push(v);
        Ok(())
    }

    fn extend_seq(&mut self, l: PV, items: Vec<PV>, at: usize) -> Result<()> {
        let PV::Obj(o) = l else { return Ok(()) };
        let Some(Obj::Seq(slot)) = self.objs.get(o as usize).copied() else {
            return Ok(());
        };
        if slot == NONE {
            if items.is_empty() {
                return Ok(());
            }
            let s = id(self.seqs.len(), at)?;
            self.seqs.push(items);
            self.objs[o as usize] = Obj::Seq(s);
        } else if let Some(v) = self.seqs.get_mut(slot as usize) {
            v.extend(items);
        }
        Ok(())
    }

    fn extend_dict(&mut self, d: PV, pairs: Vec<(PV, PV)>, at: usize) -> Result<()> {
        let PV::Obj(o) = d else { return Ok(()) };
        let Some(Obj::Dict(slot)) = self.objs.get(o as usize).copied() else {
            return Ok(());
        };
        if slot == NONE {
            if pairs.is_empty() {
                return Ok(());
            }
            let s = id(self.dicts.len(), at)?;
            self.dicts.push(pairs);
            self.objs[o as usize] = Obj::Dict(s);
        } else if let Some(v) = self.dicts.get_mut(slot as usize) {
            v.extend(pairs);
        }
        Ok(())
    }

    fn dict_get(&self, d: PV, key: &str) -> Option<PV> {
        match self.obj(d)? {
            Obj::Dict(slot) if slot != NONE => self
                .dicts
                .get(slot as usize)?
                .iter()
                .rev()
                .find(|(k, _)| self.str_of(*k) == Some(key))
                .map(|(_, v)| *v),
            // (state, slotstate) tuples: look in the first element (one level only).
            Obj::Seq(_) => {
                let first = *self.seq_items(d).first()?;
                match self.obj(first)? {
                    Obj::Dict(_) => self.dict_get(first, key),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn class_of(&self, v: PV) -> Option<(String, String)> {
        match self.obj(v)? {
            Obj::Instance { class, .. } if class != NONE => {
                let (m, n) = self.global_of(PV::Obj(class))?;
                Some((m.to_string(), n.to_string()))
            }
            _ => None,
        }
    }

    fn state_of(&self, v: PV) -> Option<PV> {
        match self.obj(v)? {
            Obj::Instance { state, .. } if state != PV::None => Some(state),
            _ => None,
        }
    }

    fn strings_of(&self, v: PV) -> Option<Vec<String>> {
        match self.obj(v)? {
            Obj::Seq(_) => self
                .seq_items(v)
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
        memo: Vec::new(),
        sparse_memo: HashMap::new(),
        objs: Vec::new(),
        seqs: Vec::new(),
        dicts: Vec::new(),
        blobs: Vec::new(),
        strs: Vec::new(),
        latin1_done: HashMap::new(),
        protocol: 0,
        globals: Vec::new(),
    };
    let root = m.run()?;
    let end = m.p;
    let mut findings = Vec::new();

    // Globals a container would import while unpickling.
    let mut dangerous: Vec<String> = Vec::new();
    let mut unexpected: Vec<String> = Vec::new();
    for &(module, name) in &m.globals {
        let (module, name) = (m.str_id(module), m.str_id(name));
        let rm = root_module(module);
        let full = format!("{module}.{name}");
        if DANGEROUS
            .iter()
            .any(|(dm, dn)| *dm == rm && (dn.is_empty() || *dn == name))
        {
            if !dangerous.contains(&full) {
                dangerous.push(full);
            }
        } else if !EXPECTED_MODULES.contains(&rm)
            && !unexpected.contains(&full)
            && unexpected.len() < 16
        {
            unexpected.push(full);
        }
    }
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
    let danger_note = if dangerous.is_empty() {
        String::new()
    } else {
        format!("; it calls {} when unpickled", dangerous.join(", "))
    };

    let Some((module, class)) = m.class_of(root) else {
        let what = match (root, m.obj(root)) {
            (_, Some(Obj::Dict(_))) => "a dict",
            (_, Some(Obj::Seq(_))) => "a list or tuple",
            (_, Some(_)) => "an object of unknown class",
            (PV::Str(_), _) => "a str",
            (PV::Bytes(_), _) => "a bytes object",
            _ => "a plain value",
        };
        return Err(Error::UnrecognizedFormat {
            expected: "an XGBoost model",
            what: format!(
                "a Python pickle (protocol {}) of {what}{danger_note}",
                m.protocol
            ),
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
                .filter_map(|i| Id::try_from(i).ok().map(PV::Obj))
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
                what: format!(
                    "a Python pickle (protocol {}) of {module}.{class}{danger_note}",
                    m.protocol
                ),
                hint: Some(
                    "the built-in XGBoost container needs an XGBoost model saved with booster.save_model"
                        .into(),
                ),
            });
        }
        return Err(invalid(
            "xgb.pickle.no_payload",
            format!(
                "the pickled {module}.{class} holds no Booster model bytes (no 'handle' bytearray){danger_note}"
            ),
            0,
        ));
    };
    let bi = bi as usize;
    if bi >= m.blobs.len() {
        return Err(invalid(
            "xgb.pickle.no_payload",
            "internal: missing payload",
            0,
        ));
    }
    let (payload, payload_op, payload_offset): (Cow<'_, [u8]>, _, u64) =
        match m.blobs.swap_remove(bi) {
            Blob::Borrowed(b, at, op) => (Cow::Borrowed(b), op, at as u64),
            Blob::Owned(b) => (Cow::Owned(b), PicklePayloadOp::Latin1String, 0),
        };
    // For latin-1 payloads, point at the str that held the bytes when known.
    let payload_offset = if payload_op == PicklePayloadOp::Latin1String {
        0
    } else {
        payload_offset
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
