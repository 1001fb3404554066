//! Format detection by content (never by file name).
//!
//! Order (as XGBoost's own loaders and `reference/xgboost-formats.md` §0):
//! 1. `0x80` — Python pickle (protocol 2+);
//! 2. `binf` — legacy binary with magic (1.1 – 3.0);
//! 3. `bs64` — pre-0.90 base64 model, which no supported XGBoost reads;
//! 4. `CONFIG-offset:` — 1.0 – 1.2 memory snapshot;
//! 5. `{` + optional whitespace + `"` (or `}`) — JSON text;
//! 6. `{` + ASCII letter — UBJSON;
//! 7. a headerless legacy binary (0.90 / 1.0), accepted only when its
//!    structure checks out ([`super::binary::probe`]).
//!
//! Anything else is [`Error::UnrecognizedFormat`] with a description of what
//! the bytes look like.

use super::binary::{Probe, probe};
use crate::error::Error;

/// What the first bytes say the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Python pickle.
    Pickle,
    /// Legacy binary starting with `binf`.
    BinaryWithMagic,
    /// `CONFIG-offset:` snapshot.
    ConfigOffset,
    /// JSON text.
    Json,
    /// UBJSON.
    Ubjson,
    /// Legacy binary without magic (0.90 / 1.0).
    HeaderlessBinary,
}

/// The `CONFIG-offset:` tag.
pub const CONFIG_OFFSET_TAG: &[u8] = b"CONFIG-offset:";

const EXPECTED: &str = "an XGBoost model";

/// Detects the encoding of `bytes`.
pub fn sniff(bytes: &[u8]) -> Result<Kind, Error> {
    if bytes.first() == Some(&0x80) {
        return Ok(Kind::Pickle);
    }
    if bytes.starts_with(b"binf") {
        return Ok(Kind::BinaryWithMagic);
    }
    if bytes.starts_with(b"bs64") {
        return Err(Error::UnrecognizedFormat {
            expected: EXPECTED,
            what: "a base64 legacy XGBoost model (\"bs64\"), a pre-0.90 format that no XGBoost from 0.90 on can load".into(),
            hint: Some("load it with the XGBoost version that wrote it and save it again with save_model(\"model.json\")".into()),
        });
    }
    if bytes.starts_with(CONFIG_OFFSET_TAG) {
        return Ok(Kind::ConfigOffset);
    }
    if bytes.first() == Some(&b'{') {
        let next = bytes[1..]
            .iter()
            .copied()
            .find(|c| !c.is_ascii_whitespace());
        match next {
            Some(b'"') | Some(b'}') => return Ok(Kind::Json),
            Some(c) if c.is_ascii_alphabetic() => return Ok(Kind::Ubjson),
            _ => {}
        }
    }
    if probe(bytes) == Probe::Plausible {
        return Ok(Kind::HeaderlessBinary);
    }
    Err(Error::UnrecognizedFormat {
        expected: EXPECTED,
        what: describe(bytes),
        hint: Some(hint_for(bytes).into()),
    })
}

fn hint_for(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        "if this is a model.tar.gz, extract it first (or run sm-pack verify on the archive)"
    } else if bytes.is_empty() {
        "check that training finished and the file was copied completely"
    } else {
        "save the model with booster.save_model(\"model.json\") or booster.save_model(\"model.ubj\")"
    }
}

/// A short description of what `bytes` look like, for error messages.
pub fn describe(bytes: &[u8]) -> String {
    let n = bytes.len();
    let starts = |m: &[u8]| bytes.starts_with(m);
    if n == 0 {
        return "an empty file (0 bytes)".into();
    }
    if starts(&[0x1f, 0x8b]) {
        return format!("gzip-compressed data ({n} bytes)");
    }
    if bytes.get(257..262) == Some(b"ustar") {
        return format!("a tar archive ({n} bytes)");
    }
    if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        return format!("a zip archive ({n} bytes)");
    }
    if starts(b"\x7fELF") {
        return "an ELF executable or shared library".into();
    }
    if starts(b"MZ") {
        return "a Windows executable".into();
    }
    if starts(b"BZh") {
        return "bzip2-compressed data".into();
    }
    if starts(b"\xfd7zXZ\x00") {
        return "xz-compressed data".into();
    }
    if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return "zstd-compressed data".into();
    }
    if starts(&[0x78, 0x01])
        || starts(&[0x78, 0x5e])
        || starts(&[0x78, 0x9c])
        || starts(&[0x78, 0xda])
    {
        return "zlib-compressed data (a compressed joblib dump?)".into();
    }
    if starts(&[0xba, 0x16, 0x4f, 0x2f]) {
        return "a fastText model (.bin/.ftz); use `sm-pack fasttext`".into();
    }
    if starts(b"\x89HDF") {
        return "an HDF5 file (a Keras/TensorFlow model?)".into();
    }
    if starts(b"PAR1") {
        return "a Parquet file".into();
    }
    if starts(b"\x89PNG") {
        return "a PNG image".into();
    }
    if starts(b"%PDF") {
        return "a PDF document".into();
    }
    if starts(b"tree\n") || starts(b"tree\r\n") {
        return "a LightGBM text model".into();
    }
    if bytes.first() == Some(&b'{') {
        return format!(
            "data starting with '{{' that is neither XGBoost JSON nor UBJSON: {}",
            hex_head(bytes)
        );
    }
    let head = &bytes[..n.min(512)];
    let text = match std::str::from_utf8(head) {
        Ok(s) => Some(s),
        Err(e) if e.valid_up_to() + 4 > head.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).ok()
        }
        Err(_) => None,
    };
    if let Some(t) = text {
        let printable = t
            .chars()
            .filter(|c| !c.is_control() || c.is_whitespace())
            .count();
        if printable * 10 >= t.chars().count() * 9 {
            let first: String = t.chars().take(40).collect();
            let kind = if t.trim_start().starts_with('[') {
                "JSON-like text"
            } else if t.trim_start().starts_with('<') {
                "XML/HTML text"
            } else if t.contains("booster[") {
                "an XGBoost text dump (get_dump/dump_model output), which cannot be loaded"
            } else {
                "text"
            };
            return format!("{kind} starting with {first:?}");
        }
    }
    format!("binary data ({n} bytes) starting with {}", hex_head(bytes))
}

fn hex_head(bytes: &[u8]) -> String {
    let h: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    h.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(sniff(b"\x80\x04").ok(), Some(Kind::Pickle));
        assert_eq!(sniff(b"binf").ok(), Some(Kind::BinaryWithMagic));
        assert_eq!(sniff(b"{\"learner\":{}}").ok(), Some(Kind::Json));
        assert_eq!(sniff(b"{\n  \"a\"").ok(), Some(Kind::Json));
        assert_eq!(sniff(b"{L\x00").ok(), Some(Kind::Ubjson));
        assert!(sniff(b"bs64....").is_err());
        assert!(sniff(b"").is_err());
    }

    #[test]
    fn descriptions() {
        assert!(describe(b"\x1f\x8b\x08").contains("gzip"));
        assert!(describe(b"hello world\n").contains("text"));
        assert!(describe(&[0u8; 3]).contains("binary data"));
    }
}
