//! Reader for XGBoost's UBJSON dialect (1.6+).
//!
//! The dialect (`src/common/json.cc` upstream):
//! * every multi-byte number is big-endian;
//! * object keys carry no `S` marker: `L` + i64 length + UTF-8 bytes;
//!   strings are `S` `L` i64 length + bytes. XGBoost reads only `L`
//!   lengths; other length markers are accepted here but reported
//!   ([`UbjFacts::non_l_lengths`]);
//! * objects are `{` … `}` (no `$`/`#` optimisation);
//! * arrays are `[` … `]`, or counted `[` `#` `L` n + n values with no `]`,
//!   or typed `[` `$` t `#` `L` n + n raw big-endian elements with no `]`,
//!   `t` ∈ {`d` f32, `D` f64, `i` i8, `U` u8, `I` i16, `l` i32, `L` i64};
//! * scalars `i U I l L d D T F Z C S`; `H` (high precision) and `N` (no-op)
//!   are rejected like XGBoost does.
//!
//! Every count is checked against the bytes that remain before anything is
//! allocated, and nesting is capped at [`MAX_DEPTH`].

use super::doc::{BYTES_PER_NODE, Key, Node, Packed, PackedData, Value, node_budget, try_pack};

/// Maximum nesting depth of arrays/objects.
pub const MAX_DEPTH: usize = 128;

/// A decoding error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset.
    pub offset: u64,
    /// What went wrong.
    pub message: String,
    /// True when the input ended early.
    pub truncated: bool,
}

/// Facts about the encoding noticed while reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UbjFacts {
    /// Typed-array element markers seen (sorted, unique).
    pub typed_markers: String,
    /// Scalar value markers seen (sorted, unique).
    pub scalar_markers: String,
    /// Some key/string/count length used a marker other than `L`.
    pub non_l_lengths: bool,
    /// Offset just after the top-level value.
    pub end: u64,
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
    typed: [bool; 128],
    scalars: [bool; 128],
    non_l: bool,
    /// Nodes still allowed ([`node_budget`]).
    nodes_left: usize,
    /// Entries of the objects being read (innermost last).
    entries: Vec<(Key, Node)>,
    /// Whether a large array of containers may be read on several threads
    /// (the top-level reader; never the readers of those threads).
    parallel: bool,
}

/// Fewest bytes a counted array of containers must span to be read on
/// several threads.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

type R<T> = Result<T, DecodeError>;

/// Decodes one UBJSON value from `bytes`.
pub fn parse(bytes: &[u8]) -> R<(Node, UbjFacts)> {
    let mut r = Reader {
        b: bytes,
        p: 0,
        typed: [false; 128],
        scalars: [false; 128],
        non_l: false,
        nodes_left: node_budget(bytes.len()),
        entries: Vec::new(),
        parallel: true,
    };
    let node = r.value(0)?;
    let set = |flags: &[bool; 128]| -> String {
        flags
            .iter()
            .enumerate()
            .filter(|(_, f)| **f)
            .map(|(i, _)| char::from(i as u8))
            .collect()
    };
    let facts = UbjFacts {
        typed_markers: set(&r.typed),
        scalar_markers: set(&r.scalars),
        non_l_lengths: r.non_l,
        end: r.p as u64,
    };
    Ok((node, facts))
}

fn marker_name(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    }
}

impl<'a> Reader<'a> {
    fn err<T>(&self, at: usize, msg: impl Into<String>) -> R<T> {
        Err(DecodeError {
            offset: at as u64,
            message: msg.into(),
            truncated: false,
        })
    }

    fn remaining(&self) -> usize {
        self.b.len().saturating_sub(self.p)
    }

    fn take(&mut self, n: usize, what: &str) -> R<&'a [u8]> {
        match self
            .p
            .checked_add(n)
            .and_then(|end| self.b.get(self.p..end))
        {
            Some(s) => {
                self.p += n;
                Ok(s)
            }
            None => Err(DecodeError {
                offset: self.p as u64,
                message: format!(
                    "input ends inside {what}: {n} bytes needed, {} remain",
                    self.remaining()
                ),
                truncated: true,
            }),
        }
    }

    fn byte(&mut self, what: &str) -> R<u8> {
        Ok(self.take(1, what)?[0])
    }

    fn arr<const N: usize>(&mut self, what: &str) -> R<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// Reads an integer of the given marker.
    fn int_of(&mut self, marker: u8, what: &str) -> R<Option<i64>> {
        Ok(Some(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.arr::<1>(what)?)),
            b'U' => i64::from(u8::from_be_bytes(self.arr::<1>(what)?)),
            b'I' => i64::from(i16::from_be_bytes(self.arr::<2>(what)?)),
            b'l' => i64::from(i32::from_be_bytes(self.arr::<4>(what)?)),
            b'L' => i64::from_be_bytes(self.arr::<8>(what)?),
            _ => return Ok(None),
        }))
    }

    /// A length: marker + integer, non-negative and within what remains
    /// (each unit needing at least `unit` bytes).
    fn length(&mut self, what: &str, unit: usize) -> R<usize> {
        let at = self.p;
        let m = self.byte(what)?;
        if m != b'L' {
            self.non_l = true;
        }
        let Some(n) = self.int_of(m, what)? else {
            return self.err(
                at,
                format!(
                    "expected a length marker for {what}, found {}",
                    marker_name(m)
                ),
            );
        };
        let Ok(n) = usize::try_from(n) else {
            return self.err(at, format!("negative length {n} for {what}"));
        };
        let need = n.checked_mul(unit.max(1));
        if need.is_none_or(|need| need > self.remaining()) {
            return Err(DecodeError {
                offset: at as u64,
                message: format!(
                    "{what} declares {n} elements ({} bytes at least) but only {} bytes remain",
                    need.map(|x| x.to_string())
                        .unwrap_or_else(|| "more than 2^64".into()),
                    self.remaining()
                ),
                truncated: true,
            });
        }
        Ok(n)
    }

    fn str_body(&mut self, what: &str) -> R<String> {
        self.str_ref(what).map(str::to_owned)
    }

    fn str_ref(&mut self, what: &str) -> R<&'a str> {
        let n = self.length(what, 1)?;
        let at = self.p;
        let raw = self.take(n, what)?;
        self.utf8(raw, at, what)
    }

    fn utf8(&self, raw: &'a [u8], at: usize, what: &str) -> R<&'a str> {
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s),
            Err(e) => self.err(at + e.valid_up_to(), format!("{what} is not valid UTF-8")),
        }
    }

    /// An object key: a known one is matched on its bytes (no UTF-8 check
    /// needed), any other is checked and owned.
    fn key(&mut self) -> R<Key> {
        let what = "an object key";
        let n = self.length(what, 1)?;
        let at = self.p;
        let raw = self.take(n, what)?;
        match super::doc::known_key(raw) {
            Some(k) => Ok(Key::Borrowed(k)),
            None => Ok(Key::Owned(self.utf8(raw, at, what)?.to_owned())),
        }
    }

    fn value(&mut self, depth: usize) -> R<Node> {
        let at = self.p;
        let m = self.byte("a value marker")?;
        self.value_of(m, at, depth)
    }

    fn value_of(&mut self, m: u8, at: usize, depth: usize) -> R<Node> {
        if m < 128 && m != b'{' && m != b'[' {
            self.scalars[m as usize] = true;
        }
        let value = match m {
            b'{' => self.object(at, depth)?,
            b'[' => self.array(at, depth)?,
            b'S' => Value::Str(self.str_body("a string")?),
            b'i' | b'U' | b'I' | b'l' | b'L' => {
                Value::Int(self.int_of(m, "an integer")?.unwrap_or(0))
            }
            b'd' => Value::Float(f32::from_be_bytes(self.arr::<4>("an f32")?)),
            b'D' => Value::Double(f64::from_be_bytes(self.arr::<8>("an f64")?)),
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'Z' => Value::Null,
            b'C' => Value::Str(char::from(self.byte("a char")?).to_string()),
            b'H' => {
                return self.err(
                    at,
                    "high-precision numbers ('H') are not supported by XGBoost",
                );
            }
            b'N' => return self.err(at, "no-op markers ('N') are not supported by XGBoost"),
            b'}' | b']' => {
                return self.err(
                    at,
                    format!("unexpected {} where a value was expected", marker_name(m)),
                );
            }
            _ => {
                return self.err(
                    at,
                    format!("unknown UBJSON value marker {}", marker_name(m)),
                );
            }
        };
        Ok(Node {
            at: at as u64,
            value,
        })
    }

    /// Takes `n` nodes from the budget.
    fn spend(&mut self, at: usize, n: usize) -> R<()> {
        match self.nodes_left.checked_sub(n) {
            Some(left) => {
                self.nodes_left = left;
                Ok(())
            }
            None => self.err(
                at,
                format!(
                    "more values than a {}-byte XGBoost model can hold (one per {BYTES_PER_NODE} bytes)",
                    self.b.len()
                ),
            ),
        }
    }

    fn enter(&self, at: usize, depth: usize) -> R<usize> {
        if depth >= MAX_DEPTH {
            return self.err(at, format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        Ok(depth + 1)
    }

    fn object(&mut self, at: usize, depth: usize) -> R<Value> {
        let depth = self.enter(at, depth)?;
        // The entries collect on the shared stack and move into one
        // exactly sized vector at the end.
        let base = self.entries.len();
        loop {
            let kat = self.p;
            match self.b.get(self.p) {
                None => {
                    return Err(DecodeError {
                        offset: self.p as u64,
                        message: format!("input ends inside the object that starts at byte {at}"),
                        truncated: true,
                    });
                }
                Some(b'}') => {
                    self.p += 1;
                    return Ok(Value::Object(self.entries.drain(base..).collect()));
                }
                Some(b'#' | b'$') if self.entries.len() == base && kat == at + 1 => {
                    return self.err(
                        kat,
                        "counted/typed objects ('{#', '{$') are not part of XGBoost's UBJSON",
                    );
                }
                Some(_) => {}
            }
            // A key: length marker + bytes (no 'S').
            let key = match self.key() {
                Ok(k) => k,
                Err(e)
                    if !e.truncated
                        && e.offset == kat as u64
                        && e.message.starts_with("expected a length") =>
                {
                    let c = self.b.get(kat).copied().unwrap_or(0);
                    return self.err(
                        kat,
                        format!(
                            "expected an object key (length marker 'L') or '}}', found {}",
                            marker_name(c)
                        ),
                    );
                }
                Err(e) => return Err(e),
            };
            self.spend(kat, 2)?;
            let v = self.value(depth)?;
            self.entries.push((key, v));
        }
    }

    fn array(&mut self, at: usize, depth: usize) -> R<Value> {
        let depth = self.enter(at, depth)?;
        match self.b.get(self.p) {
            Some(b'$') => {
                self.p += 1;
                let tat = self.p;
                let t = self.byte("a typed-array element marker")?;
                let size = match t {
                    b'i' | b'U' => 1,
                    b'I' => 2,
                    b'l' | b'd' => 4,
                    b'L' | b'D' => 8,
                    _ => {
                        return self.err(
                            tat,
                            format!(
                                "typed arrays of {} are not supported by XGBoost (only d D i U I l L)",
                                marker_name(t)
                            ),
                        );
                    }
                };
                self.typed[t as usize] = true;
                let hat = self.p;
                if self.byte("a typed-array count")? != b'#' {
                    return self.err(hat, "a typed array must be followed by '#' and a count");
                }
                let n = self.length("a typed array", size)?;
                let data_at = self.p;
                let raw = self.take(n * size, "a typed array")?;
                let data = decode_typed(t, raw);
                Ok(Value::Typed(Packed {
                    data,
                    marker: Some(t),
                    stride: size as u8,
                    data_at: data_at as u64,
                }))
            }
            Some(b'#') => {
                self.p += 1;
                let n = self.length("a counted array", 1)?;
                if let Some(items) = self.counted_in_parallel(n, depth) {
                    return Ok(try_pack(items));
                }
                let mut items = Vec::with_capacity(n.min(self.remaining()).min(self.nodes_left));
                for _ in 0..n {
                    self.spend(self.p, 1)?;
                    items.push(self.value(depth)?);
                }
                Ok(try_pack(items))
            }
            _ => {
                let mut items = Vec::new();
                loop {
                    let vat = self.p;
                    let m = self.byte("an array")?;
                    if m == b']' {
                        return Ok(try_pack(items));
                    }
                    self.spend(vat, 1)?;
                    items.push(self.value_of(m, vat, depth)?);
                }
            }
        }
    }
}

/// Reading a large counted array of containers (a model's `trees`) on
/// several threads. UBJSON gives no element sizes, so the split is guessed
/// and then proved: the array's bytes are cut into runs at the first
/// occurrence, past evenly spaced points, of the bytes the first element
/// starts with (XGBoost writes every tree with the same first key). Each
/// run is read by its own reader that sees only the input up to the end of
/// its run and may use only its share of the node budget; the guess holds
/// when every run reads whole elements ending exactly where the next run
/// starts and together they make the declared count. Then the elements,
/// read from their true offsets by the same code, are those one pass gives.
/// Otherwise (a guess inside an element, any error, a run out of budget)
/// everything read is dropped and the array is read on one thread, which
/// reports exactly what it always did. The runs cover disjoint bytes and
/// split the node budget, so memory stays within the one-thread bounds.
impl Reader<'_> {
    fn counted_in_parallel(&mut self, n: usize, depth: usize) -> Option<Vec<Node>> {
        let start = self.p;
        let first = *self.b.get(start)?;
        let runs = super::runs_for(n);
        if !self.parallel
            || runs <= 1
            || !matches!(first, b'{' | b'[')
            || self.remaining() < 2 * PARALLEL_MIN_BYTES
        {
            return None;
        }
        let needle = self.b.get(start..start + 16)?;
        let span = self.remaining();
        let mut cuts = vec![start];
        for r in 1..runs {
            let from = (start + span / runs * r).max(cuts[cuts.len() - 1] + 1);
            let found = self.b.get(from..).and_then(|rest| {
                rest.windows(needle.len())
                    .position(|w| w[0] == needle[0] && w == needle)
            });
            if let Some(at) = found {
                cuts.push(from + at);
            }
        }
        if cuts.len() < 2 {
            return None;
        }
        let budget = self.nodes_left / cuts.len();
        let ends: Vec<Option<usize>> = cuts[1..].iter().copied().map(Some).chain([None]).collect();
        let whole = self.b;
        let work: Vec<(usize, Option<usize>)> = cuts.iter().copied().zip(ends).collect();
        let results = super::par_each(work, |(from, end)| {
            let mut r = Reader {
                b: whole.get(..end.unwrap_or(whole.len()))?,
                p: from,
                typed: [false; 128],
                scalars: [false; 128],
                non_l: false,
                nodes_left: budget,
                entries: Vec::new(),
                parallel: false,
            };
            let mut items = Vec::new();
            // A run ends where the next begins; the last one where its
            // elements stop (at most `n` in all).
            while items.len() < n
                && match end {
                    Some(e) => r.p < e,
                    None => r.b.get(r.p) == Some(&first),
                }
            {
                r.spend(r.p, 1).ok()?;
                items.push(r.value(depth).ok()?);
            }
            // A run that stopped short of the next one's start was cut
            // inside an element.
            (end.is_none_or(|e| r.p == e)).then_some((items, r))
        });

        let results: Vec<(Vec<Node>, Reader<'_>)> = results.into_iter().collect::<Option<_>>()?;
        if results.iter().map(|(part, _)| part.len()).sum::<usize>() != n {
            return None;
        }
        let mut items = Vec::with_capacity(n);
        let mut used = 0;
        for (part, r) in results {
            items.extend(part);
            used += budget - r.nodes_left;
            for (mine, theirs) in self.typed.iter_mut().zip(r.typed) {
                *mine |= theirs;
            }
            for (mine, theirs) in self.scalars.iter_mut().zip(r.scalars) {
                *mine |= theirs;
            }
            self.non_l |= r.non_l;
            self.p = r.p;
        }
        self.nodes_left -= used;
        Some(items)
    }
}

fn decode_typed(t: u8, raw: &[u8]) -> PackedData {
    // Fixed-size chunks (not `chunks_exact(n)`) so that the byte swaps are
    // vectorised; `raw` holds a whole number of elements.
    match t {
        b'i' => PackedData::I8(raw.iter().map(|&x| x as i8).collect()),
        b'U' => PackedData::U8(raw.to_vec()),
        b'I' => PackedData::I16(
            raw.as_chunks()
                .0
                .iter()
                .map(|c| i16::from_be_bytes(*c))
                .collect(),
        ),
        b'l' => PackedData::I32(
            raw.as_chunks()
                .0
                .iter()
                .map(|c| i32::from_be_bytes(*c))
                .collect(),
        ),
        b'L' => PackedData::I64(
            raw.as_chunks()
                .0
                .iter()
                .map(|c| i64::from_be_bytes(*c))
                .collect(),
        ),
        b'd' => PackedData::F32(
            raw.as_chunks()
                .0
                .iter()
                .map(|c| f32::from_be_bytes(*c))
                .collect(),
        ),
        _ => PackedData::F64(
            raw.as_chunks()
                .0
                .iter()
                .map(|c| f64::from_be_bytes(*c))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Vec<u8> {
        let mut v = vec![b'L'];
        v.extend_from_slice(&(k.len() as i64).to_be_bytes());
        v.extend_from_slice(k.as_bytes());
        v
    }

    #[test]
    fn typed_and_counted() {
        let mut b = vec![b'{'];
        b.extend(key("a"));
        b.extend([b'[', b'$', b'l', b'#', b'L']);
        b.extend(2i64.to_be_bytes());
        b.extend(1i32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.extend(key("b"));
        b.extend([b'[', b'#', b'L']);
        b.extend(2i64.to_be_bytes());
        b.extend([b'i', 3, b'I', 0, 127]);
        b.push(b'}');
        let (n, f) = parse(&b).unwrap();
        assert_eq!(f.typed_markers, "l");
        match n.value.get("a").map(|n| &n.value) {
            Some(Value::Typed(p)) => assert_eq!(p.data, PackedData::I32(vec![1, -1])),
            other => panic!("{other:?}"),
        }
        match n.value.get("b").map(|n| &n.value) {
            Some(Value::Typed(p)) => assert_eq!(p.data, PackedData::I32(vec![3, 127])),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absurd_count_rejected_before_alloc() {
        let mut b = vec![b'[', b'$', b'd', b'#', b'L'];
        b.extend(i64::MAX.to_be_bytes());
        let e = parse(&b).unwrap_err();
        assert!(e.truncated);
        assert_eq!(e.offset, 4);
    }

    #[test]
    fn depth_capped() {
        let b = vec![b'['; 10_000];
        assert!(parse(&b).unwrap_err().message.contains("nesting"));
    }
}
