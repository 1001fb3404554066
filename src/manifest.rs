//! The sidecar manifest (`model.tar.gz.manifest.json`) and `SHA256SUMS`.
//!
//! Schema: `formats/manifest.md` and `formats/manifest.schema.json`. The
//! manifest is deterministic: fields in a fixed order, no wall-clock time
//! (only `SOURCE_DATE_EPOCH`, when set), no absolute paths.

use crate::archive::ArchiveRecord;
use crate::report::Finding;
use serde::Serialize;

/// Schema identifier written into every manifest.
pub const MANIFEST_SCHEMA: &str = "sm-pack.manifest/v1";

/// The tool that wrote a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    /// Always "sm-pack".
    pub name: String,
    /// Crate version.
    pub version: String,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "sm-pack".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Which SageMaker container the archive is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// `"xgboost"` or `"blazingtext"`.
    pub family: String,
    /// Container tag judged against (e.g. `"1.7-1"`), when known.
    pub container: Option<String>,
}

/// The input model file as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceRecord {
    /// File name (no folder, so the manifest does not depend on the machine).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file as given.
    pub sha256: String,
}

/// Archive file facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveFile {
    /// File name of the archive.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the `.tar.gz` bytes.
    pub sha256: String,
}

/// Uncompressed tar stream facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TarRecord {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the tar bytes.
    pub sha256: String,
    /// Tar header format.
    pub format: String,
    /// Entry mtime.
    pub mtime: u64,
}

/// Compression settings (they determine the `.tar.gz` bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CompressionRecord {
    /// Always "gzip".
    pub format: String,
    /// Level 0-9.
    pub level: u32,
    /// Uncompressed bytes per independently deflated block.
    pub block_size: usize,
    /// Deflate implementation.
    pub backend: String,
}

/// Validation outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationRecord {
    /// `"pass"`, `"pass-with-warnings"` or `"fail"`.
    pub verdict: String,
    /// Every finding.
    pub findings: Vec<Finding>,
}

/// One upload of the archive (filled by the S3 upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadRecord {
    /// `s3://bucket/key`.
    pub uri: String,
    /// Bucket.
    pub bucket: String,
    /// Key.
    pub key: String,
    /// Version id, if the bucket is versioned.
    pub version_id: Option<String>,
    /// ETag as returned.
    pub etag: Option<String>,
    /// S3 checksum as returned (`<b64>` or `<b64>-N` for multipart).
    pub checksum_sha256: Option<String>,
    /// Where the object itself carries its SHA-256 (the digest in
    /// `SHA256SUMS`); absent in manifests written before sm-pack recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_on_object: Option<DigestOnObject>,
}

/// Where an uploaded object carries its own SHA-256 (hex, as in `SHA256SUMS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestOnObject {
    /// The metadata `x-amz-meta-sha256`, set when the object was created.
    Metadata,
    /// The object tag `sha256`, set after a streamed multipart upload completed.
    Tag,
    /// Neither (the store refused the tag): only the manifest beside the
    /// object and its composite checksum bind it to the digest.
    None,
}

/// The sample check made before packing (`--sample`/`--expect`): the model
/// that went into the archive predicted the expected values on the sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRecord {
    /// File name of the sample request body.
    pub input: String,
    /// SHA-256 of the sample file.
    pub input_sha256: String,
    /// `text/csv` or `text/libsvm`.
    pub content_type: String,
    /// File name of the expected predictions.
    pub expected: String,
    /// SHA-256 of the expected-predictions file.
    pub expected_sha256: String,
    /// Rows evaluated.
    pub rows: u64,
    /// Values per row.
    pub columns: u64,
    /// Whose prediction rules were applied, e.g. `container 1.7-1 (xgboost
    /// 1.7.4)` or `xgboost 1.7.4 (the model's producer)`.
    pub semantics: String,
    /// A value passes when `|got − expected| ≤ tolerance × max(1, |expected|)`.
    pub tolerance: f64,
    /// Largest `|got − expected|`.
    pub max_abs_diff: f64,
    /// Largest `|got − expected| / max(1, |expected|)`.
    pub max_rel_diff: f64,
    /// `"pass"` (a sample that fails stops packing: nothing is written).
    pub result: String,
}

/// The manifest document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    /// Always [`MANIFEST_SCHEMA`].
    pub schema: String,
    /// Who wrote it.
    pub tool: Tool,
    /// RFC 3339 time from `SOURCE_DATE_EPOCH`, or null.
    pub created: Option<String>,
    /// Target container.
    pub target: Target,
    /// The input model.
    pub source: SourceRecord,
    /// The archive file.
    pub archive: ArchiveFile,
    /// The tar stream inside it.
    pub tar: TarRecord,
    /// Compression settings.
    pub compression: CompressionRecord,
    /// Members with digests.
    pub members: Vec<crate::archive::MemberRecord>,
    /// Model summary from the format reader (null until a reader ran).
    pub model: Option<serde_json::Value>,
    /// Validation outcome.
    pub validation: ValidationRecord,
    /// Conversion applied before packing, if any.
    pub conversion: Option<serde_json::Value>,
    /// The sample check, when one was asked for (absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleRecord>,
    /// Uploads.
    pub uploads: Vec<UploadRecord>,
}

/// The coders that determine the compressed bytes, for the manifest: LZ77
/// blocks from zlib-rs (through flate2), literal-only blocks from sm-pack's
/// own Huffman coder, chosen per block (formats/archive.md).
pub const COMPRESSION_BACKEND: &str =
    "sm-pack parallel gzip 2: zlib-rs (flate2) LZ77 blocks, sm-pack literal-only blocks";

impl Manifest {
    /// Builds a manifest from an archive record.
    pub fn new(
        target: Target,
        source: SourceRecord,
        archive_name: &str,
        record: &ArchiveRecord,
        created_epoch: Option<u64>,
    ) -> Self {
        Manifest {
            schema: MANIFEST_SCHEMA.into(),
            tool: Tool::default(),
            created: created_epoch.map(rfc3339_utc),
            target,
            source,
            archive: ArchiveFile {
                name: archive_name.into(),
                size: record.size,
                sha256: record.sha256.clone(),
            },
            tar: TarRecord {
                size: record.tar_size,
                sha256: record.tar_sha256.clone(),
                format: "gnu".into(),
                mtime: record.mtime,
            },
            compression: CompressionRecord {
                format: "gzip".into(),
                level: record.level,
                block_size: record.block_size,
                backend: COMPRESSION_BACKEND.into(),
            },
            members: record.members.clone(),
            model: None,
            validation: ValidationRecord {
                verdict: "pass".into(),
                findings: Vec::new(),
            },
            conversion: None,
            sample: None,
            uploads: Vec::new(),
        }
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into());
        s.push('\n');
        s
    }
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil-from-days (Howard Hinnant's algorithm), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if mo <= 2 { y + 1 } else { y };
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z")
}

/// `SHA256SUMS` text in GNU coreutils format (`<hex>  <name>`), sorted by name.
pub fn sha256sums(entries: &[(&str, &str)]) -> String {
    let mut lines: Vec<_> = entries.to_vec();
    lines.sort_by(|a, b| a.0.cmp(b.0));
    lines
        .iter()
        .map(|(name, digest)| format!("{digest}  {name}\n"))
        .collect()
}

/// Merges `entries` into an existing `SHA256SUMS` text: lines for other
/// files are kept, lines for the same names are replaced. Returns `None` when
/// `existing` is not in coreutils format (it is then not ours to rewrite).
pub fn merge_sha256sums(existing: &str, entries: &[(&str, &str)]) -> Option<String> {
    let mut kept: Vec<(String, String)> = Vec::new();
    for line in existing.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let (digest, rest) = line.split_at_checked(64)?;
        if !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let name = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))?;
        if !entries.iter().any(|(n, _)| *n == name) {
            kept.push((name.to_string(), digest.to_ascii_lowercase()));
        }
    }
    let mut all: Vec<(&str, &str)> = kept.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
    all.extend_from_slice(entries);
    Some(sha256sums(&all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(315_532_800), "1980-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn sums_merge() {
        let old = "aa".repeat(32) + "  other.tar.gz\n" + &"bb".repeat(32) + "  model.tar.gz\n";
        let merged = merge_sha256sums(&old, &[("model.tar.gz", "cc")]).unwrap();
        assert_eq!(
            merged,
            format!("cc  model.tar.gz\n{}  other.tar.gz\n", "aa".repeat(32))
        );
        assert!(merge_sha256sums("not a sums file", &[("a", "b")]).is_none());
    }

    #[test]
    fn sums_format() {
        assert_eq!(sha256sums(&[("b", "22"), ("a", "11")]), "11  a\n22  b\n");
    }
}
