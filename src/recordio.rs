//! `application/x-recordio-protobuf` bodies: SageMaker's `Record` protobuf
//! messages in MXNet RecordIO framing, as the SageMaker Python SDK writes
//! them (`write_numpy_to_dense_tensor`, `write_spmatrix_to_sparse_tensor`)
//! and as the XGBoost container reads requests (ML-IO's
//! `RecordIOProtobufReader`, then one DMatrix row per record) and writes
//! selectable-output responses. Used by `serve`, and by `predict` and the
//! packing gate's sample for the same request bodies.
//!
//! Framing: each record is the magic `0xced7230a` (u32, little-endian), a
//! u32 whose low 29 bits are the payload length (the top 3 bits flag a
//! record split across several; the SDK never writes those), the payload,
//! and zero padding to a multiple of 4 bytes.

use std::collections::HashMap;

/// RecordIO's record magic.
const MAGIC: u32 = 0xced7_230a;

/// True when `body` starts like RecordIO (its first record's magic).
pub(crate) fn starts_with_magic(body: &[u8]) -> bool {
    body.starts_with(&MAGIC.to_le_bytes())
}

/// `aialgs.data.Float32Tensor` (also the layout of the 64-bit and int32
/// tensors, with their own element type).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Float32Tensor {
    #[prost(float, repeated, tag = "1")]
    pub values: Vec<f32>,
    #[prost(uint64, repeated, tag = "2")]
    pub keys: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub shape: Vec<u64>,
}

/// `aialgs.data.Float64Tensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Float64Tensor {
    #[prost(double, repeated, tag = "1")]
    pub values: Vec<f64>,
    #[prost(uint64, repeated, tag = "2")]
    pub keys: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub shape: Vec<u64>,
}

/// `aialgs.data.Int32Tensor`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Int32Tensor {
    #[prost(int32, repeated, tag = "1")]
    pub values: Vec<i32>,
    #[prost(uint64, repeated, tag = "2")]
    pub keys: Vec<u64>,
    #[prost(uint64, repeated, tag = "3")]
    pub shape: Vec<u64>,
}

/// `aialgs.data.Bytes`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Bytes {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub value: Vec<Vec<u8>>,
    #[prost(string, optional, tag = "2")]
    pub content_type: Option<String>,
}

/// `aialgs.data.Value`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Value {
    #[prost(oneof = "Kind", tags = "2, 3, 7, 9")]
    pub kind: Option<Kind>,
}

/// The `value` oneof of [`Value`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub(crate) enum Kind {
    #[prost(message, tag = "2")]
    Float32Tensor(Float32Tensor),
    #[prost(message, tag = "3")]
    Float64Tensor(Float64Tensor),
    #[prost(message, tag = "7")]
    Int32Tensor(Int32Tensor),
    #[prost(message, tag = "9")]
    Bytes(Bytes),
}

/// `aialgs.data.Record` as read from a request (labels and the string
/// fields are read and ignored, as the container ignores them).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Record {
    #[prost(map = "string, message", tag = "1")]
    pub features: HashMap<String, Value>,
    #[prost(map = "string, message", tag = "2")]
    pub label: HashMap<String, Value>,
    #[prost(string, optional, tag = "3")]
    pub uid: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub metadata: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub configuration: Option<String>,
}

/// One `label` map entry; a repeated field of these is the wire form of
/// the map, in the order written (the container fills the map in the
/// order of its selectable keys).
#[derive(Clone, PartialEq, prost::Message)]
struct LabelEntry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Value>,
}

/// A `Record` with labels only, as the container writes predictions.
#[derive(Clone, PartialEq, prost::Message)]
struct LabelRecord {
    #[prost(message, repeated, tag = "2")]
    label: Vec<LabelEntry>,
}

/// The rows a request body holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rows {
    /// Every record a dense `values` tensor of `cols` elements.
    Dense {
        values: Vec<f32>,
        rows: usize,
        cols: usize,
    },
    /// Every record a sparse `values` vector of shape `[cols]`:
    /// `(row, column, value)` entries in record order.
    Sparse {
        entries: Vec<(usize, usize, f64)>,
        rows: usize,
        cols: usize,
    },
}

/// The element type of a record's tensor (ML-IO fixes it from the first
/// record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    Float32,
    Float64,
    Int32,
}

impl Dtype {
    fn name(self) -> &'static str {
        match self {
            Dtype::Float32 => "float32",
            Dtype::Float64 => "float64",
            Dtype::Int32 => "int32",
        }
    }
}

/// The RecordIO payloads of `body`, with the offset of each record.
fn payloads(body: &[u8]) -> Result<Vec<(usize, &[u8])>, String> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p < body.len() {
        let header = body.get(p..p + 8).ok_or_else(|| {
            format!(
                "the body ends inside the RecordIO header of record {} at byte {p} ({} bytes left, 8 needed)",
                out.len() + 1,
                body.len() - p
            )
        })?;
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (magic, lrecord) = (word(0), word(4));
        if magic != MAGIC {
            return Err(format!(
                "record {} at byte {p} does not start with the RecordIO magic 0xced7230a (found 0x{magic:08x}); is the body RecordIO-protobuf?",
                out.len() + 1
            ));
        }
        if lrecord >> 29 != 0 {
            return Err(format!(
                "record {} at byte {p} is one part of a split record (flag {}); sm-pack reads whole records only, as the SageMaker SDK writes them",
                out.len() + 1,
                lrecord >> 29
            ));
        }
        let len = (lrecord & ((1 << 29) - 1)) as usize;
        let start = p + 8;
        let data = body.get(start..start + len).ok_or_else(|| {
            format!(
                "record {} at byte {p} declares {len} bytes but only {} follow",
                out.len() + 1,
                body.len() - start
            )
        })?;
        out.push((p, data));
        // Zero padding to a multiple of 4; the last record's may be cut.
        p = (start + len).next_multiple_of(4).min(body.len());
    }
    Ok(out)
}

/// Reads the rows of a request body the way the container does: one row per
/// record from its `values` feature; the first record decides dense or
/// sparse, the element type and the width, and every other record must
/// agree (ML-IO's schema). Labels and other features are ignored.
pub(crate) fn read_rows(body: &[u8]) -> Result<Rows, String> {
    let records = payloads(body)?;
    // (dtype, sparse, dense length or sparse width) of the first record.
    let mut schema: Option<(Dtype, bool, usize)> = None;
    let mut dense: Vec<f32> = Vec::new();
    let mut sparse: Vec<(usize, usize, f64)> = Vec::new();
    for (r, (at, data)) in records.iter().enumerate() {
        let n = r + 1;
        let record = <Record as prost::Message>::decode(*data)
            .map_err(|e| format!("record {n} at byte {at} is not a protobuf Record: {e}"))?;
        let Some(value) = record.features.get("values") else {
            let mut names: Vec<&str> = record.features.keys().map(String::as_str).collect();
            names.sort_unstable();
            return Err(format!(
                "record {n} at byte {at} has no feature named \"values\" (features: {names:?}); the container reads the features from \"values\""
            ));
        };
        let (dtype, values, keys, shape): (Dtype, Vec<f64>, &[u64], &[u64]) = match &value.kind {
            Some(Kind::Float32Tensor(t)) => (
                Dtype::Float32,
                t.values.iter().map(|&v| f64::from(v)).collect(),
                &t.keys,
                &t.shape,
            ),
            Some(Kind::Float64Tensor(t)) => (Dtype::Float64, t.values.clone(), &t.keys, &t.shape),
            Some(Kind::Int32Tensor(t)) => (
                Dtype::Int32,
                t.values.iter().map(|&v| f64::from(v)).collect(),
                &t.keys,
                &t.shape,
            ),
            Some(Kind::Bytes(_)) => {
                return Err(format!(
                    "record {n} at byte {at}: feature \"values\" holds bytes, not a tensor"
                ));
            }
            None => {
                return Err(format!(
                    "record {n} at byte {at}: feature \"values\" holds no tensor"
                ));
            }
        };
        // The SDK writes a sparse row without values as its shape alone.
        let is_sparse = !keys.is_empty() || (values.is_empty() && matches!(shape, [c] if *c > 0));
        let width = if is_sparse {
            match shape {
                [cols] => usize::try_from(*cols)
                    .map_err(|_| format!("record {n} at byte {at}: shape [{cols}] is too large"))?,
                [] => {
                    return Err(format!(
                        "record {n} at byte {at}: a sparse tensor (keys given) needs its shape (the number of columns)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "record {n} at byte {at}: shape {shape:?} has {} dimensions; each record is one row, a vector",
                        shape.len()
                    ));
                }
            }
        } else {
            if !(shape.is_empty() || shape == [values.len() as u64]) {
                return Err(format!(
                    "record {n} at byte {at}: a dense tensor of {} values with shape {shape:?}; each record is one row, a vector",
                    values.len()
                ));
            }
            values.len()
        };
        match schema {
            None => schema = Some((dtype, is_sparse, width)),
            Some((d, s, w)) => {
                if d != dtype || s != is_sparse {
                    return Err(format!(
                        "record {n} at byte {at} holds a {} {} tensor but record 1 a {} {} one; every record must have the same kind",
                        if is_sparse { "sparse" } else { "dense" },
                        dtype.name(),
                        if s { "sparse" } else { "dense" },
                        d.name()
                    ));
                }
                if w != width {
                    return Err(format!(
                        "record {n} at byte {at} is {width} columns wide but record 1 is {w}; every record must have the same width"
                    ));
                }
            }
        }
        if is_sparse {
            if keys.len() != values.len() {
                return Err(format!(
                    "record {n} at byte {at}: {} keys for {} values",
                    keys.len(),
                    values.len()
                ));
            }
            for (&k, &v) in keys.iter().zip(&values) {
                let col = usize::try_from(k)
                    .ok()
                    .filter(|&c| c < width)
                    .ok_or_else(|| {
                        format!("record {n} at byte {at}: key {k} is outside the shape [{width}]")
                    })?;
                sparse.push((r, col, v));
            }
        } else {
            // float64 and int32 elements are narrowed as the DMatrix stores them.
            dense.extend(values.iter().map(|&v| v as f32));
        }
    }
    let rows = records.len();
    Ok(match schema {
        Some((_, true, cols)) => Rows::Sparse {
            entries: sparse,
            rows,
            cols,
        },
        Some((_, false, cols)) => Rows::Dense {
            values: dense,
            rows,
            cols,
        },
        None => Rows::Dense {
            values: Vec::new(),
            rows: 0,
            cols: 0,
        },
    })
}

/// The container's selectable-output encoding: one record per prediction,
/// each selected key a float32 tensor under `label`. The container never
/// empties its record buffer, so the payload of record k is the
/// serialisations of records 1 … k one after the other (a protobuf parser
/// reads that as record k: later map entries replace earlier ones); this
/// writes the same bytes.
///
/// The size grows with the square of the rows (~27 MB for 1,000 rows of
/// two keys); a response over [`MAX_RESPONSE_BYTES`] is refused with a
/// message instead of built.
pub(crate) fn encode_predictions(predictions: &[Vec<(&str, Vec<f32>)>]) -> Result<Vec<u8>, String> {
    let records: Vec<LabelRecord> = predictions.iter().map(|item| label_record(item)).collect();
    let mut total: u64 = 0;
    let mut cumulative_len: u64 = 0;
    for r in &records {
        cumulative_len += prost::Message::encoded_len(r) as u64;
        total += 8 + cumulative_len.next_multiple_of(4);
    }
    if total > MAX_RESPONSE_BYTES {
        return Err(format!(
            "the container's application/x-recordio-protobuf response to {} rows would be {total} bytes: each record repeats every earlier one, so the size grows with the square of the rows; sm-pack does not build responses over {MAX_RESPONSE_BYTES} bytes (SageMaker's real-time responses stop at 6 MB); send fewer rows per request",
            records.len()
        ));
    }
    let mut cumulative: Vec<u8> = Vec::new();
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for record in &records {
        prost::Message::encode_raw(record, &mut cumulative);
        write_record(&mut out, &cumulative);
    }
    Ok(out)
}

/// Largest selectable RecordIO-protobuf response built (32 MiB, ~1,100
/// rows of two keys; SageMaker's real-time responses stop at 6 MB).
pub(crate) const MAX_RESPONSE_BYTES: u64 = 32 << 20;

fn label_record(item: &[(&str, Vec<f32>)]) -> LabelRecord {
    LabelRecord {
        label: item
            .iter()
            .map(|(key, values)| LabelEntry {
                key: key.to_string(),
                value: Some(Value {
                    kind: Some(Kind::Float32Tensor(Float32Tensor {
                        values: values.clone(),
                        keys: Vec::new(),
                        shape: Vec::new(),
                    })),
                }),
            })
            .collect(),
    }
}

/// Appends one framed RecordIO record.
fn write_record(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&MAGIC.to_le_bytes());
    // Payloads are bounded by MAX_RESPONSE_BYTES, far below 2^29 bytes.
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out.resize(out.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payloads: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            write_record(&mut out, p);
        }
        out
    }

    fn dense(values: &[f32]) -> Vec<u8> {
        let mut r = Record::default();
        r.features.insert(
            "values".into(),
            Value {
                kind: Some(Kind::Float32Tensor(Float32Tensor {
                    values: values.to_vec(),
                    keys: vec![],
                    shape: vec![],
                })),
            },
        );
        prost::Message::encode_to_vec(&r)
    }

    #[test]
    fn dense_records_are_rows() {
        let body = frame(&[dense(&[1.0, 2.5, f32::NAN]), dense(&[0.0, -1.0, 3.0])]);
        match read_rows(&body).unwrap() {
            Rows::Dense { values, rows, cols } => {
                assert_eq!((rows, cols), (2, 3));
                assert_eq!(values[..2], [1.0, 2.5]);
                assert!(values[2].is_nan());
                assert_eq!(values[3..], [0.0, -1.0, 3.0]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sparse_row_without_values_is_an_empty_row() {
        let sparse = |keys: &[u64], values: &[f32]| {
            let mut r = Record::default();
            r.features.insert(
                "values".into(),
                Value {
                    kind: Some(Kind::Float32Tensor(Float32Tensor {
                        values: values.to_vec(),
                        keys: keys.to_vec(),
                        shape: vec![3],
                    })),
                },
            );
            prost::Message::encode_to_vec(&r)
        };
        for body in [
            frame(&[sparse(&[], &[]), sparse(&[0, 2], &[1.0, 2.0])]),
            frame(&[sparse(&[0, 2], &[1.0, 2.0]), sparse(&[], &[])]),
        ] {
            match read_rows(&body).unwrap() {
                Rows::Sparse {
                    entries,
                    rows,
                    cols,
                } => {
                    assert_eq!((rows, cols, entries.len()), (2, 3, 2));
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn bad_bodies_say_what_and_where() {
        let ragged = frame(&[dense(&[1.0, 2.0]), dense(&[1.0])]);
        let e = read_rows(&ragged).unwrap_err();
        assert!(
            e.contains("record 2 at byte 32 is 1 columns wide but record 1 is 2"),
            "{e}"
        );
        let e = read_rows(b"1,2,3\n4,5,6\n").unwrap_err();
        assert!(e.contains("record 1 at byte 0 does not start with the RecordIO magic 0xced7230a (found 0x2c322c31)"), "{e}");
        let e = read_rows(b"1,2,3\n").unwrap_err();
        assert!(
            e.contains("ends inside the RecordIO header of record 1 at byte 0 (6 bytes left"),
            "{e}"
        );
        let mut cut = frame(&[dense(&[1.0, 2.0])]);
        cut.truncate(10);
        let e = read_rows(&cut).unwrap_err();
        assert!(e.contains("declares"), "{e}");
        let junk = frame(&[vec![0xff, 0xff, 0xff]]);
        let e = read_rows(&junk).unwrap_err();
        assert!(e.contains("is not a protobuf Record"), "{e}");
        let mut r = Record::default();
        r.features.insert("x".into(), Value { kind: None });
        let e = read_rows(&frame(&[prost::Message::encode_to_vec(&r)])).unwrap_err();
        assert!(
            e.contains("no feature named \"values\" (features: [\"x\"])"),
            "{e}"
        );
    }

    #[test]
    fn cumulative_payloads_parse_as_each_record() {
        let preds = vec![
            vec![
                ("predicted_label", vec![1.0]),
                ("probabilities", vec![0.25, 0.75]),
            ],
            vec![
                ("predicted_label", vec![0.0]),
                ("probabilities", vec![0.5, 0.5]),
            ],
        ];
        let body = encode_predictions(&preds).unwrap();
        let records = payloads(&body).unwrap();
        assert_eq!(records.len(), 2);
        // Record 2's payload holds record 1's bytes first.
        assert!(records[1].1.starts_with(records[0].1));
        // The size is computed before anything is built.
        let many: Vec<_> = (0..2000).map(|_| preds[0].clone()).collect();
        let e = encode_predictions(&many).unwrap_err();
        assert!(e.contains("response to 2000 rows would be"), "{e}");
        for (i, (_, data)) in records.iter().enumerate() {
            let r = <Record as prost::Message>::decode(*data).unwrap();
            for (key, want) in &preds[i] {
                match r.label.get(*key).and_then(|v| v.kind.as_ref()) {
                    Some(Kind::Float32Tensor(t)) => assert_eq!(&t.values, want),
                    other => panic!("{key}: {other:?}"),
                }
            }
        }
    }
}
