//! The BlazingText hosting contract (closed source; the SageMaker developer
//! guide's "BlazingText" page and the hosting notebooks are the reference).

use super::{Request, Response};
use crate::error::Result;
use crate::fasttext::{BlazingTextRequest, Model, Predictor};
use serde_json::{Map, Value};

pub(crate) struct BtEndpoint<'m> {
    predictor: Predictor<'m>,
}

impl std::fmt::Debug for BtEndpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BtEndpoint")
            .field("supervised", &self.predictor.is_supervised())
            .finish_non_exhaustive()
    }
}

const JSON: &str = "application/json";
const JSONLINES: &str = "application/jsonlines";

impl<'m> BtEndpoint<'m> {
    pub(crate) fn new(model: &'m Model) -> Result<Self> {
        Ok(BtEndpoint {
            predictor: Predictor::new(model)?,
        })
    }

    pub(crate) fn summary(&self) -> String {
        format!(
            "BlazingText ({}): requests application/json {{\"instances\": [...]{}}} and application/jsonlines (batch transform); the response type is the request's; payload limit {} bytes",
            if self.predictor.is_supervised() {
                "text classification"
            } else {
                "word vectors"
            },
            if self.predictor.is_supervised() {
                ", \"configuration\": {\"k\": N}"
            } else {
                ""
            },
            super::BLAZINGTEXT_MAX_PAYLOAD
        )
    }

    pub(crate) fn invoke(&self, req: &Request<'_>) -> Response {
        let media = req
            .content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        // "content-type and accept must be equal … If they differ, the
        // Accept field is ignored": the response has the request's type.
        match media.as_str() {
            JSON => match self.json(req.body) {
                Ok(body) => Response::new(200, JSON, body),
                Err(msg) => Response::text(400, msg),
            },
            JSONLINES => match self.jsonlines(req.body) {
                Ok(body) => Response::new(200, JSONLINES, body),
                Err(msg) => Response::text(400, msg),
            },
            _ => Response::text(
                415,
                format!(
                    "Content type {} is not supported: BlazingText accepts application/json and application/jsonlines",
                    req.content_type.unwrap_or("(none)")
                ),
            ),
        }
    }

    /// `{"instances": [...], "configuration": {"k": N}}` → one object per
    /// instance.
    fn json(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let r = BlazingTextRequest::from_json(body).map_err(|e| e.to_string())?;
        let v = self
            .predictor
            .blazingtext_response(&r.instances, r.k)
            .map_err(|e| e.to_string())?;
        serde_json::to_vec(&v).map_err(|e| e.to_string())
    }

    /// Batch transform: `{"source": "...", "k": N}` per line →
    /// `{"prob": [...], "label": [...]}` per line (word vectors:
    /// `{"source": "word"}` → `{"word": ..., "vector": [...]}`).
    fn jsonlines(&self, body: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(body.len() * 2);
        for (i, line) in body.split(|&b| b == b'\n').enumerate() {
            if line.trim_ascii().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_slice(line)
                .map_err(|e| format!("line {}: not valid JSON: {e}", i + 1))?;
            let source = v
                .get("source")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("line {}: no \"source\" string", i + 1))?;
            let k = match v.get("k") {
                None | Some(Value::Null) => None,
                Some(k) => Some(
                    k.as_i64()
                        .and_then(|k| i32::try_from(k).ok())
                        .ok_or_else(|| format!("line {}: \"k\" must be an integer", i + 1))?,
                ),
            };
            let resp = self
                .predictor
                .blazingtext_response(&[source], k)
                .map_err(|e| e.to_string())?;
            let Some(Value::Object(obj)) = resp.as_array().and_then(|a| a.first()).cloned() else {
                return Err(format!("line {}: no prediction", i + 1));
            };
            // The documented batch output lists "prob" before "label".
            let mut ordered = Map::new();
            for key in ["prob", "label"] {
                if let Some(x) = obj.get(key) {
                    ordered.insert(key.into(), x.clone());
                }
            }
            for (key, x) in obj {
                if !ordered.contains_key(&key) {
                    ordered.insert(key, x);
                }
            }
            serde_json::to_writer(&mut out, &Value::Object(ordered)).map_err(|e| e.to_string())?;
            out.push(b'\n');
        }
        Ok(out)
    }
}
