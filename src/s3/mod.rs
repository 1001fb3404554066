//! Upload to Amazon S3 (cargo feature `s3`), with the official AWS SDK for Rust.
//!
//! The archive is uploaded **while it is packed**: every compressed byte the
//! archive writer produces is also written to an [`ArchiveUpload`] (through
//! [`crate::pack::pack_with`]), which cuts the stream into parts and uploads
//! them concurrently as a multipart upload, with bounded memory and
//! back-pressure. Archives smaller than one part go up in a single PUT.
//!
//! Integrity, end to end:
//! - every part carries its SHA-256 (`x-amz-checksum-sha256`), which S3
//!   recomputes and rejects on mismatch; a single PUT carries the whole
//!   object's SHA-256;
//! - after completing, the object is read back with HEAD (checksum mode on)
//!   and its size, ETag and SHA-256 checksum (S3's composite `<b64>-N` for
//!   multipart, computed locally from the part digests; the full-object
//!   digest for a single PUT) must match; the object's `sha256` metadata,
//!   when set, must equal the digest in `SHA256SUMS`;
//! - an archive streamed as multipart (whose digest exists only after the
//!   last part, too late for metadata) gets the tag `sha256=<hex>` instead,
//!   read back and compared; a store that refuses tagging gives the warning
//!   [`TAG_SKIPPED`], not a failure;
//! - the manifest and `SHA256SUMS` go up beside the archive afterwards, and
//!   the manifest records bucket, key, version id, ETag and checksum.
//!
//! Safety: any failure or interrupt aborts the multipart upload (retried
//! for a few seconds when the network is down; when even that fails the
//! error names the upload id and the command that removes it). Writes use
//! `If-None-Match: *` unless forced, so an object that appears meanwhile is
//! not replaced. An existing object with the same SHA-256 is reported as
//! already uploaded and nothing is sent. Messages never contain credentials
//! or signed URLs ([`scrub`]).
//!
//! Details and options: `formats/s3.md`.

mod client;
mod error;
mod object;
mod publish;
mod scrub;
mod uri;

pub use client::{S3Client, S3Settings, Sse};
pub use error::{Result, UploadError};
#[doc(hidden)]
pub use object::TestHooks;
pub use object::{
    DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE, MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE, Method,
    QUEUED_PARTS, TAG_SKIPPED, TAG_UNVERIFIED, archive_size_bound, composite_sha256, part_size_for,
};
pub use publish::{
    ArchiveUpload, ObjectReport, ObjectStatus, TransferOptions, UploadPlan, UploadReport, plan,
    upload_archive_file, upload_batch_archive, upload_sha256sums,
};
pub use scrub::scrub;
pub use uri::S3Uri;

/// Parses a byte size such as `8388608`, `8MiB`, `8M`, `8mb` or `1GiB`
/// (binary units: K/KiB = 1024, M/MiB = 1024², G/GiB = 1024³).
///
/// ```
/// assert_eq!(sm_pack::s3::parse_size("5MiB"), Ok(5 << 20));
/// assert_eq!(sm_pack::s3::parse_size("1024"), Ok(1024));
/// assert!(sm_pack::s3::parse_size("5 parsecs").is_err());
/// ```
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 8MiB or 8388608)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}
