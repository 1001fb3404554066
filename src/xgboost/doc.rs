//! The document tree shared by the JSON and UBJSON readers.
//!
//! XGBoost's JSON and UBJSON encodings carry the same document. Both readers
//! build a [`Node`] tree; arrays of homogeneous scalars are stored packed
//! ([`Value::Typed`]) so that a 2000-tree model does not cost one heap node
//! per number. The packing keeps the distinctions XGBoost makes: integers vs
//! floats (never mixed into one packed array), f32 vs f64, booleans, and for
//! UBJSON whether the array was a typed array and with which element marker.

use serde::Serialize;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};

/// Input bytes per document node the JSON and UBJSON readers allow: each
/// element of a generic array costs one node, each object entry two (its key
/// is a string too). XGBoost writes numbers as packed arrays, so a real model
/// uses a small fraction of this budget; a document built to be nothing but
/// nodes (`[ZZZ…]` in UBJSON, `[[],[],…]` in JSON: 64 bytes of tree per
/// input byte) is refused before its tree outgrows ~32 × its size.
pub const BYTES_PER_NODE: usize = 4;

/// The node budget of a document of `len` bytes (see [`BYTES_PER_NODE`]).
pub fn node_budget(len: usize) -> usize {
    len / BYTES_PER_NODE + 512
}

/// A value with the byte offset where it starts in the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Byte offset of the value's first byte.
    pub at: u64,
    /// The value.
    pub value: Value,
}

/// A document value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null` / UBJSON `Z`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (JSON number without `.`, `e`, `E`; UBJSON `i U I l L`).
    Int(i64),
    /// A float read as f32 (JSON number with `.`/`e`/`E`, `NaN`, `Infinity`; UBJSON `d`).
    Float(f32),
    /// A UBJSON `D` (f64) scalar.
    Double(f64),
    /// A string.
    Str(String),
    /// A generic array.
    Array(Vec<Node>),
    /// An array of homogeneous scalars, packed.
    Typed(Packed),
    /// An object; keys in input order (duplicates kept; the last one wins).
    Object(Vec<(Key, Node)>),
}

/// An object key. The keys XGBoost writes are borrowed from a static list:
/// a 2000-tree model has some 30,000 of them, and one allocation each was a
/// visible part of reading it. Any other key is owned.
pub type Key = std::borrow::Cow<'static, str>;

/// The [`Key`] for `k`.
pub fn key(k: &str) -> Key {
    match known_key(k.as_bytes()) {
        Some(known) => Key::Borrowed(known),
        None => Key::Owned(k.to_owned()),
    }
}

/// [`key`] for a key already owned (no copy when it is not a known one).
pub fn key_owned(k: String) -> Key {
    match known_key(k.as_bytes()) {
        Some(known) => Key::Borrowed(known),
        None => Key::Owned(k),
    }
}

/// Longest known key + 1.
const KEY_LENGTHS: usize = 32;

/// The known keys by length: a lookup compares the few keys of the right
/// length (first byte first) instead of searching the whole list with
/// string comparisons, which was a visible part of reading a large UBJSON
/// model (some 40,000 keys).
static KEYS_BY_LENGTH: std::sync::LazyLock<Vec<Vec<&'static str>>> =
    std::sync::LazyLock::new(|| {
        let mut by_len = vec![Vec::new(); KEY_LENGTHS];
        for k in KNOWN_KEYS {
            if let Some(slot) = by_len.get_mut(k.len()) {
                slot.push(*k);
            }
        }
        by_len
    });

/// The known key spelled by `k`, if any (bytes, so that a reader can skip
/// the UTF-8 check for the keys it knows).
pub fn known_key(k: &[u8]) -> Option<&'static str> {
    let first = k.first()?;
    KEYS_BY_LENGTH
        .get(k.len())?
        .iter()
        .copied()
        .find(|c| c.as_bytes().first() == Some(first) && c.as_bytes() == k)
}

/// Keys of XGBoost model documents (learner, boosters, trees, objectives,
/// configurations), sorted.
static KNOWN_KEYS: &[&str] = &[
    "Learner",
    "attributes",
    "base_score",
    "base_weights",
    "boost_from_average",
    "categories",
    "categories_nodes",
    "categories_segments",
    "categories_sizes",
    "cats",
    "default_left",
    "feature_names",
    "feature_types",
    "gbtree_model_param",
    "gradient_booster",
    "id",
    "iteration_indptr",
    "learner",
    "learner_model_param",
    "left_children",
    "loss_changes",
    "model",
    "name",
    "num_class",
    "num_deleted",
    "num_feature",
    "num_nodes",
    "num_parallel_tree",
    "num_target",
    "num_trees",
    "objective",
    "parents",
    "reg_loss_param",
    "right_children",
    "scale_pos_weight",
    "size_leaf_vector",
    "split_conditions",
    "split_indices",
    "split_type",
    "sum_hessian",
    "tree_info",
    "tree_param",
    "trees",
    "version",
    "weight_drop",
];

/// A packed array of homogeneous scalars.
#[derive(Debug, Clone, PartialEq)]
pub struct Packed {
    /// The elements.
    pub data: PackedData,
    /// The UBJSON typed-array element marker (`d D i U I l L`), or `None`
    /// for a generic array that was packed by the reader.
    pub marker: Option<u8>,
    /// Element size in the input for typed arrays (0 for generic arrays).
    pub stride: u8,
    /// Offset of the first element's data (typed arrays).
    pub data_at: u64,
}

/// Packed elements.
#[derive(Debug, Clone, PartialEq)]
pub enum PackedData {
    /// Booleans (JSON `true`/`false`).
    Bool(Vec<bool>),
    /// `$U`.
    U8(Vec<u8>),
    /// `$i`.
    I8(Vec<i8>),
    /// `$I`.
    I16(Vec<i16>),
    /// `$l`, or generic integers that all fit in i32.
    I32(Vec<i32>),
    /// `$L`, or generic integers.
    I64(Vec<i64>),
    /// `$d`, or generic floats.
    F32(Vec<f32>),
    /// `$D`, or generic UBJSON `D` floats.
    F64(Vec<f64>),
}

impl PackedData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            PackedData::Bool(v) => v.len(),
            PackedData::U8(v) => v.len(),
            PackedData::I8(v) => v.len(),
            PackedData::I16(v) => v.len(),
            PackedData::I32(v) => v.len(),
            PackedData::I64(v) => v.len(),
            PackedData::F32(v) => v.len(),
            PackedData::F64(v) => v.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for integer element types (not bool, not float).
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            PackedData::U8(_)
                | PackedData::I8(_)
                | PackedData::I16(_)
                | PackedData::I32(_)
                | PackedData::I64(_)
        )
    }

    /// True for float element types.
    pub fn is_float(&self) -> bool {
        matches!(self, PackedData::F32(_) | PackedData::F64(_))
    }

    /// Element `i` as an integer (integers and bools only).
    pub fn int_at(&self, i: usize) -> Option<i64> {
        match self {
            PackedData::Bool(v) => v.get(i).map(|&b| i64::from(b)),
            PackedData::U8(v) => v.get(i).map(|&x| i64::from(x)),
            PackedData::I8(v) => v.get(i).map(|&x| i64::from(x)),
            PackedData::I16(v) => v.get(i).map(|&x| i64::from(x)),
            PackedData::I32(v) => v.get(i).map(|&x| i64::from(x)),
            PackedData::I64(v) => v.get(i).copied(),
            PackedData::F32(_) | PackedData::F64(_) => None,
        }
    }

    /// A short name of the element type for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            PackedData::Bool(_) => "booleans",
            PackedData::U8(_) => "u8 integers",
            PackedData::I8(_) => "i8 integers",
            PackedData::I16(_) => "i16 integers",
            PackedData::I32(_) => "i32 integers",
            PackedData::I64(_) => "i64 integers",
            PackedData::F32(_) => "f32 floats",
            PackedData::F64(_) => "f64 floats",
        }
    }
}

impl Value {
    /// A short name of the value's type for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) | Value::Double(_) => "a float",
            Value::Str(_) => "a string",
            Value::Array(_) | Value::Typed(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// The object entry for `key` (the last one when duplicated, as in XGBoost).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Value::Object(entries) => entries.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Removes and returns the object entry for `key` (the last one when duplicated).
    pub fn take(&mut self, key: &str) -> Option<Node> {
        match self {
            Value::Object(entries) => {
                let i = entries.iter().rposition(|(k, _)| k == key)?;
                Some(entries.swap_remove(i).1)
            }
            _ => None,
        }
    }

    /// The string, when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Number of elements of an array (generic or packed).
    pub fn array_len(&self) -> Option<usize> {
        match self {
            Value::Array(a) => Some(a.len()),
            Value::Typed(p) => Some(p.data.len()),
            _ => None,
        }
    }

    /// Converts to a `serde_json::Value` (non-finite floats become strings
    /// `"NaN"`, `"Infinity"`, `"-Infinity"`, which JSON cannot hold).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn float_json<S: Serializer>(s: S, v: f64) -> Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(v)
    } else if v.is_nan() {
        s.serialize_str("NaN")
    } else if v > 0.0 {
        s.serialize_str("Infinity")
    } else {
        s.serialize_str("-Infinity")
    }
}

struct F32(f32);
impl Serialize for F32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Shortest text of the f32, then as f64, so 0.1f32 prints as 0.1.
        let v: f64 = format!("{}", self.0).parse().unwrap_or(f64::NAN);
        float_json(
            s,
            if self.0.is_finite() {
                v
            } else {
                f64::from(self.0)
            },
        )
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) => F32(*f).serialize(s),
            Value::Double(d) => float_json(s, *d),
            Value::Str(t) => s.serialize_str(t),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for n in a {
                    seq.serialize_element(&n.value)?;
                }
                seq.end()
            }
            Value::Typed(p) => p.data.serialize(s),
            Value::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, &v.value)?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl Serialize for PackedData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        match self {
            PackedData::Bool(v) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            PackedData::U8(v) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            PackedData::I8(v) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            PackedData::I16(v) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            PackedData::I32(v) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            PackedData::I64(v) => v.iter().try_for_each(|x| seq.serialize_element(x))?,
            PackedData::F32(v) => v.iter().try_for_each(|x| seq.serialize_element(&F32(*x)))?,
            PackedData::F64(v) => v.iter().try_for_each(|x| seq.serialize_element(&F64(*x)))?,
        }
        seq.end()
    }
}

struct F64(f64);
impl Serialize for F64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        float_json(s, self.0)
    }
}

/// Packs generic array elements into a [`Packed`] array when they are all
/// scalars of one kind (ints, f32 floats, f64 floats or bools).
/// Returns the nodes unchanged otherwise.
pub(crate) fn try_pack(items: Vec<Node>) -> Value {
    let Some(first) = items.first() else {
        return Value::Array(items);
    };
    let packed = match &first.value {
        Value::Int(_) => {
            let mut small = true;
            for n in &items {
                match n.value {
                    Value::Int(i) => small &= i32::try_from(i).is_ok(),
                    _ => return Value::Array(items),
                }
            }
            if small {
                PackedData::I32(
                    items
                        .iter()
                        .map(|n| match n.value {
                            Value::Int(i) => i32::try_from(i).unwrap_or_default(),
                            _ => 0,
                        })
                        .collect(),
                )
            } else {
                PackedData::I64(
                    items
                        .iter()
                        .map(|n| match n.value {
                            Value::Int(i) => i,
                            _ => 0,
                        })
                        .collect(),
                )
            }
        }
        Value::Float(_) => {
            if !items.iter().all(|n| matches!(n.value, Value::Float(_))) {
                return Value::Array(items);
            }
            PackedData::F32(
                items
                    .iter()
                    .map(|n| match n.value {
                        Value::Float(f) => f,
                        _ => 0.0,
                    })
                    .collect(),
            )
        }
        Value::Double(_) => {
            if !items.iter().all(|n| matches!(n.value, Value::Double(_))) {
                return Value::Array(items);
            }
            PackedData::F64(
                items
                    .iter()
                    .map(|n| match n.value {
                        Value::Double(f) => f,
                        _ => 0.0,
                    })
                    .collect(),
            )
        }
        Value::Bool(_) => {
            if !items.iter().all(|n| matches!(n.value, Value::Bool(_))) {
                return Value::Array(items);
            }
            PackedData::Bool(
                items
                    .iter()
                    .map(|n| matches!(n.value, Value::Bool(true)))
                    .collect(),
            )
        }
        _ => return Value::Array(items),
    };
    Value::Typed(Packed {
        data: packed,
        marker: None,
        stride: 0,
        data_at: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_are_sorted_and_borrowed() {
        assert!(
            KNOWN_KEYS.windows(2).all(|w| w[0] < w[1]),
            "KNOWN_KEYS must stay sorted"
        );
        for k in KNOWN_KEYS {
            assert!(
                k.len() < KEY_LENGTHS,
                "{k} is longer than KEY_LENGTHS allows"
            );
            assert!(matches!(key(k), Key::Borrowed(b) if b == *k), "{k}");
        }
        assert!(matches!(key(""), Key::Owned(ref k) if k.is_empty()));
        assert!(matches!(key("split_conditionz"), Key::Owned(_)));
        assert!(matches!(key_owned("trees".to_string()), Key::Borrowed(_)));
        assert!(matches!(key("something_else"), Key::Owned(ref k) if k == "something_else"));
    }
}
