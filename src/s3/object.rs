//! Streaming upload of one object: a `Write` sink that cuts the stream into
//! parts, a task that uploads them concurrently with per-part SHA-256, and
//! the completion and read-back checks.
//!
//! Memory is bounded: the part being filled, one full part being handed
//! over, [`QUEUED_PARTS`] parts waiting in the channel and `concurrency`
//! parts in flight, so at most `concurrency + 4` parts. When S3 is slower
//! than the producer, the producer blocks (back-pressure) instead of
//! buffering more.

use super::client::{S3Client, Sse, sdk_error};
use super::error::{Result, UploadError};
use super::uri::object_uri;
use crate::manifest::{DigestOnObject, UploadRecord};
use crate::report::Finding;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
    Tag, Tagging,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

const MIB: u64 = 1 << 20;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// S3's largest part.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * MIB;
/// S3's most parts per upload.
pub const MAX_PARTS: u64 = 10_000;
/// Part size used unless the object needs bigger parts or the caller asks otherwise.
pub const DEFAULT_PART_SIZE: u64 = 8 * MIB;
/// Parts uploaded at the same time by default.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Full parts that may wait for an upload slot before the producer blocks.
pub const QUEUED_PARTS: usize = 2;

/// Test-only fault injection (not part of the CLI; the test suite sets it
/// through hidden environment variables of the binary).
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct TestHooks {
    /// Send a wrong SHA-256 with this part number (S3 must reject it).
    pub corrupt_part: Option<u32>,
    /// Wait this long before sending each part.
    pub part_delay: Option<Duration>,
}

/// How the object was (or will be) sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Method {
    /// One PutObject with a full-object SHA-256.
    SinglePut,
    /// A multipart upload with a SHA-256 per part.
    Multipart {
        /// Number of parts.
        parts: u64,
        /// Size of every part but the last.
        part_size: u64,
    },
    /// Nothing was sent (the same object was already there).
    None,
}

/// An upper bound of the `.tar.gz` size for a model of `input_size` bytes:
/// gzip of incompressible data adds a few bytes per block, tar adds headers.
pub fn archive_size_bound(input_size: u64) -> u64 {
    input_size
        .saturating_add(input_size / 64)
        .saturating_add(MIB)
}

/// The part size for an object of at most `size_bound` bytes: `requested`
/// (default [`DEFAULT_PART_SIZE`]) or, when that would need more than
/// [`MAX_PARTS`] parts, the smallest whole number of MiB that fits.
pub fn part_size_for(size_bound: u64, requested: Option<u64>) -> Result<u64> {
    let base = requested.unwrap_or(DEFAULT_PART_SIZE);
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&base) {
        return Err(UploadError::Usage {
            message: format!("part size {base} is outside S3's limits (5 MiB to 5 GiB per part)"),
        });
    }
    let needed = size_bound.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB;
    let size = base.max(needed);
    if size > MAX_PART_SIZE {
        return Err(UploadError::Usage {
            message: format!(
                "an object of up to {size_bound} bytes does not fit in S3's 10,000 parts of at most 5 GiB"
            ),
        });
    }
    Ok(size)
}

/// Base64 of a raw SHA-256 digest, as S3's `x-amz-checksum-sha256` wants it.
pub(crate) fn b64_digest(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// S3's composite checksum of a multipart object: base64 of the SHA-256 of
/// the parts' raw SHA-256 digests, then `-N`.
pub fn composite_sha256(part_digests: &[[u8; 32]]) -> String {
    let mut h = Sha256::new();
    for d in part_digests {
        h.update(d);
    }
    format!("{}-{}", B64.encode(h.finalize()), part_digests.len())
}

/// Everything a request for the object needs, shared with the upload task.
pub(crate) struct Target {
    pub client: aws_sdk_s3::Client,
    pub endpoint: String,
    pub bucket: String,
    pub key: String,
    pub content_type: &'static str,
    /// Hex SHA-256 known before the upload starts (stored as metadata at create).
    pub known_sha256: Option<String>,
    /// Send `If-None-Match: *` (refuse to replace an object that appeared meanwhile).
    pub if_none_match: bool,
    pub expected_bucket_owner: Option<String>,
    pub sse: Option<Sse>,
    pub concurrency: usize,
    pub cancel: Option<Arc<AtomicBool>>,
    pub hooks: TestHooks,
}

impl Target {
    pub(crate) fn new(
        client: &S3Client,
        bucket: &str,
        key: &str,
        content_type: &'static str,
    ) -> Self {
        Target {
            client: client.sdk().clone(),
            endpoint: client.endpoint().to_string(),
            bucket: bucket.into(),
            key: key.into(),
            content_type,
            known_sha256: None,
            if_none_match: false,
            expected_bucket_owner: client.settings().expected_bucket_owner.clone(),
            sse: client.settings().sse.clone(),
            concurrency: DEFAULT_CONCURRENCY,
            cancel: None,
            hooks: TestHooks::default(),
        }
    }

    pub(crate) fn uri(&self) -> String {
        object_uri(&self.bucket, &self.key)
    }

    fn err<E>(
        &self,
        op: &'static str,
        e: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> UploadError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_error(&self.endpoint, op, &self.uri(), e)
    }

    fn sse_kind(&self) -> Option<ServerSideEncryption> {
        match &self.sse {
            Some(Sse::Aes256) => Some(ServerSideEncryption::Aes256),
            Some(Sse::Kms { .. }) => Some(ServerSideEncryption::AwsKms),
            None => None,
        }
    }

    fn kms_key(&self) -> Option<String> {
        match &self.sse {
            Some(Sse::Kms { key_id }) => key_id.clone(),
            _ => None,
        }
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// One part on its way to S3.
struct Part {
    number: u32,
    data: Vec<u8>,
}

/// A part S3 accepted.
#[derive(Debug, Clone)]
struct PartDone {
    number: u32,
    etag: String,
    checksum: String,
    digest: [u8; 32],
}

/// An open multipart upload with its accepted parts (sorted).
struct Multipart {
    upload_id: String,
    parts: Vec<PartDone>,
}

/// What a finished upload reports.
#[derive(Debug, Clone)]
pub(crate) struct Uploaded {
    pub record: UploadRecord,
    pub method: Method,
    /// Warnings about the object (e.g. the digest tag was refused).
    pub findings: Vec<Finding>,
}

/// The tag that carries the digest of an object without `sha256` metadata.
pub(crate) const DIGEST_TAG: &str = "sha256";

/// The value of the [`DIGEST_TAG`] among an object's tags.
pub(crate) fn digest_tag(tags: &[aws_sdk_s3::types::Tag]) -> Option<&str> {
    tags.iter()
        .find(|t| t.key() == DIGEST_TAG)
        .map(|t| t.value())
}
/// Finding code: the store refused the digest tag (the object is uploaded and verified).
pub const TAG_SKIPPED: &str = "s3.digest_tag_skipped";
/// Finding code: the digest tag was set but could not be read back.
pub const TAG_UNVERIFIED: &str = "s3.digest_tag_unverified";

/// The object exactly as it must be after the upload.
struct Expectation<'a> {
    size: u64,
    sha256_hex: &'a str,
    checksum: String,
    etag: Option<String>,
    version_id: Option<String>,
    metadata: bool,
}

/// A `Write` that uploads what is written as one S3 object (see the module docs).
pub(crate) struct ObjectWriter {
    target: Arc<Target>,
    rt: tokio::runtime::Handle,
    part_size: usize,
    buf: Vec<u8>,
    parts_sent: u32,
    tx: Option<mpsc::Sender<Part>>,
    task: Option<JoinHandle<Result<Option<Multipart>>>>,
    stop: Arc<AtomicBool>,
    done: bool,
}

impl ObjectWriter {
    /// Starts the upload task; nothing is sent until a full part is there.
    pub(crate) fn new(client: &S3Client, target: Target, part_size: u64) -> Result<Self> {
        let part_size = usize::try_from(part_size).map_err(|_| UploadError::Usage {
            message: "part size too large for this machine".into(),
        })?;
        let target = Arc::new(target);
        let (tx, rx) = mpsc::channel(QUEUED_PARTS);
        let stop = Arc::new(AtomicBool::new(false));
        let rt = client.handle();
        let task = rt.spawn(run_parts(target.clone(), rx, stop.clone()));
        Ok(ObjectWriter {
            target,
            rt,
            part_size,
            buf: Vec::new(),
            parts_sent: 0,
            tx: Some(tx),
            task: Some(task),
            stop,
            done: false,
        })
    }

    fn send(&mut self, data: Vec<u8>) -> io::Result<()> {
        let number = self.parts_sent + 1;
        let tx = self
            .tx
            .as_ref()
            .ok_or_else(|| io::Error::other("the upload is closed"))?;
        tx.blocking_send(Part { number, data })
            .map_err(|_| io::Error::other("the S3 upload stopped"))?;
        self.parts_sent = number;
        Ok(())
    }

    /// Waits for the task, returning its result (an internal error if it panicked).
    fn join(&mut self) -> Result<Option<Multipart>> {
        self.tx = None;
        match self.task.take() {
            Some(t) => self
                .rt
                .block_on(t)
                .map_err(|e| UploadError::Internal(format!("upload task failed: {e}")))?,
            None => Ok(None),
        }
    }

    /// Stops the upload and aborts its multipart upload. Returns the
    /// upload's own failure when there was one (other than being stopped).
    pub(crate) fn abort(&mut self) -> Option<UploadError> {
        if self.done {
            return None;
        }
        self.done = true;
        self.stop.store(true, Ordering::SeqCst);
        match self.join() {
            Ok(None) => None,
            Ok(Some(mpu)) => {
                let t = self.target.clone();
                let err = self
                    .rt
                    .block_on(abort_upload(&t, &mpu.upload_id, UploadError::Stopped));
                (!err.is_stopped()).then_some(err)
            }
            Err(e) if e.is_stopped() => None,
            Err(e) => Some(e),
        }
    }

    /// Sends the rest, completes the upload and checks the object with HEAD.
    /// `sha256_hex` and `size` describe the whole stream as the producer saw it.
    pub(crate) fn finish(mut self, sha256_hex: &str, size: u64) -> Result<Uploaded> {
        let tail = std::mem::take(&mut self.buf);
        if self.parts_sent == 0 {
            self.join()?;
            self.done = true;
            if tail.len() as u64 != size {
                return Err(UploadError::Internal(format!(
                    "buffered {} bytes for a {size}-byte object",
                    tail.len()
                )));
            }
            let t = self.target.clone();
            return self.rt.block_on(put_single(&t, tail, sha256_hex));
        }
        if let Err(e) = self.send(tail) {
            return Err(self.abort().unwrap_or(UploadError::Internal(e.to_string())));
        }
        let mpu = match self.join() {
            Ok(Some(m)) => m,
            Ok(None) => {
                self.done = true;
                return Err(UploadError::Internal(
                    "parts were sent but no upload ran".into(),
                ));
            }
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        };
        self.done = true;
        let t = self.target.clone();
        let part_size = self.part_size as u64;
        self.rt
            .block_on(complete(&t, mpu, sha256_hex, size, part_size))
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.buf.len() == self.part_size {
                // More data follows a full part, so it is not the last one.
                if u64::from(self.parts_sent) + 1 >= MAX_PARTS {
                    self.stop.store(true, Ordering::SeqCst);
                    return Err(io::Error::other(format!(
                        "the object outgrew S3's 10,000 parts of {} bytes",
                        self.part_size
                    )));
                }
                let full = std::mem::replace(&mut self.buf, Vec::with_capacity(self.part_size));
                self.send(full)?;
            }
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(self.part_size);
            }
            let n = (self.part_size - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        // Never leave a multipart upload behind, whatever path dropped us.
        let _ = self.abort();
    }
}

/// Resolves when the user cancels or the writer stops the upload.
async fn stopped(t: &Target, stop: &AtomicBool) -> UploadError {
    loop {
        if t.cancelled() {
            return UploadError::Interrupted;
        }
        if stop.load(Ordering::Relaxed) {
            return UploadError::Stopped;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn joined(r: std::result::Result<Result<PartDone>, tokio::task::JoinError>) -> Result<PartDone> {
    r.map_err(|e| UploadError::Internal(format!("part upload task failed: {e}")))?
}

/// The upload task: waits for the first full part, then creates the
/// multipart upload and uploads parts as they come, `concurrency` at a time.
async fn run_parts(
    t: Arc<Target>,
    mut rx: mpsc::Receiver<Part>,
    stop: Arc<AtomicBool>,
) -> Result<Option<Multipart>> {
    let first = tokio::select! {
        p = rx.recv() => p,
        e = stopped(&t, &stop) => return Err(e),
    };
    let Some(first) = first else {
        return Ok(None);
    };
    let upload_id = create(&t).await?;
    let mut set = JoinSet::new();
    match pump(&t, &mut rx, &stop, &mut set, &upload_id, first).await {
        Ok(parts) => Ok(Some(Multipart { upload_id, parts })),
        Err(e) => {
            // Unblock the producer first, then stop what is in flight, then abort.
            drop(rx);
            set.abort_all();
            while set.join_next().await.is_some() {}
            Err(abort_upload(&t, &upload_id, e).await)
        }
    }
}

async fn pump(
    t: &Arc<Target>,
    rx: &mut mpsc::Receiver<Part>,
    stop: &AtomicBool,
    set: &mut JoinSet<Result<PartDone>>,
    upload_id: &str,
    first: Part,
) -> Result<Vec<PartDone>> {
    let mut done = Vec::new();
    let mut next = Some(first);
    let limit = t.concurrency.max(1);
    loop {
        // Take a part only when a slot is free, so waiting parts stay in the
        // bounded channel and the producer feels the back-pressure.
        while set.len() >= limit {
            tokio::select! {
                biased;
                e = stopped(t, stop) => return Err(e),
                Some(r) = set.join_next() => done.push(joined(r)?),
            }
        }
        let part = match next.take() {
            Some(p) => p,
            None => tokio::select! {
                biased;
                e = stopped(t, stop) => return Err(e),
                Some(r) = set.join_next(), if !set.is_empty() => {
                    done.push(joined(r)?);
                    continue;
                }
                p = rx.recv() => match p {
                    Some(p) => p,
                    None => break,
                },
            },
        };
        set.spawn(upload_part(t.clone(), upload_id.to_string(), part));
    }
    while !set.is_empty() {
        tokio::select! {
            biased;
            e = stopped(t, stop) => return Err(e),
            Some(r) = set.join_next() => done.push(joined(r)?),
        }
    }
    done.sort_by_key(|p| p.number);
    Ok(done)
}

async fn create(t: &Target) -> Result<String> {
    let mut req = t
        .client
        .create_multipart_upload()
        .bucket(&t.bucket)
        .key(&t.key)
        .content_type(t.content_type)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .set_server_side_encryption(t.sse_kind())
        .set_ssekms_key_id(t.kms_key());
    if let Some(sha) = &t.known_sha256 {
        req = req.metadata("sha256", sha);
    }
    let out = req
        .send()
        .await
        .map_err(|e| t.err("CreateMultipartUpload", e))?;
    out.upload_id()
        .map(str::to_string)
        .ok_or_else(|| UploadError::Internal("CreateMultipartUpload returned no upload id".into()))
}

async fn upload_part(t: Arc<Target>, upload_id: String, part: Part) -> Result<PartDone> {
    if let Some(d) = t.hooks.part_delay {
        tokio::time::sleep(d).await;
    }
    let digest: [u8; 32] = Sha256::digest(&part.data).into();
    let checksum = b64_digest(&digest);
    let sent = if t.hooks.corrupt_part == Some(part.number) {
        b64_digest(&Sha256::digest(
            b"sm-pack test hook: corrupted part checksum",
        ))
    } else {
        checksum.clone()
    };
    let len = part.data.len();
    let out = t
        .client
        .upload_part()
        .bucket(&t.bucket)
        .key(&t.key)
        .upload_id(&upload_id)
        .part_number(i32::try_from(part.number).unwrap_or(i32::MAX))
        .content_length(i64::try_from(len).unwrap_or(i64::MAX))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&sent)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .body(ByteStream::from(part.data))
        // The SHA-256 header above is checked by S3 and covered by the
        // signature; hashing the payload a second time for SigV4 adds nothing.
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| t.err("UploadPart", e))?;
    if let Some(echo) = out.checksum_sha256()
        && echo != checksum
    {
        return Err(UploadError::Verification {
            uri: t.uri(),
            detail: format!(
                "S3 stored part {} with SHA-256 {echo}, the part's is {checksum}",
                part.number
            ),
        });
    }
    let etag = out.e_tag().map(str::to_string).ok_or_else(|| {
        UploadError::Internal(format!("UploadPart {} returned no ETag", part.number))
    })?;
    Ok(PartDone {
        number: part.number,
        etag,
        checksum,
        digest,
    })
}

/// Aborts a multipart upload, retrying for a while (the network may be back
/// soon). Returns `cause`, or [`UploadError::AbortFailed`] wrapping it.
async fn abort_upload(t: &Target, upload_id: &str, cause: UploadError) -> UploadError {
    let mut delay = Duration::from_millis(500);
    let mut last = String::new();
    for attempt in 0..4 {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
        let r = t
            .client
            .abort_multipart_upload()
            .bucket(&t.bucket)
            .key(&t.key)
            .upload_id(upload_id)
            .set_expected_bucket_owner(t.expected_bucket_owner.clone())
            .send()
            .await;
        match r {
            Ok(_) => return cause,
            Err(e) => {
                let e = t.err("AbortMultipartUpload", e);
                if e.code() == Some("NoSuchUpload") {
                    return cause;
                }
                last = e.to_string();
            }
        }
    }
    UploadError::AbortFailed {
        error: Box::new(cause),
        bucket: t.bucket.clone(),
        key: t.key.clone(),
        upload_id: upload_id.into(),
        abort_error: last,
    }
}

async fn complete(
    t: &Target,
    mpu: Multipart,
    sha256_hex: &str,
    size: u64,
    part_size: u64,
) -> Result<Uploaded> {
    match complete_inner(t, &mpu, sha256_hex, size).await {
        Ok((record, findings)) => Ok(Uploaded {
            record,
            method: Method::Multipart {
                parts: mpu.parts.len() as u64,
                part_size,
            },
            findings,
        }),
        Err((e, Some(version))) => Err(discard(t, version, e).await),
        Err((e, None)) => Err(abort_upload(t, &mpu.upload_id, e).await),
    }
}

/// After a verification failure: removes the object this upload created, when
/// `If-None-Match` proved nothing was at the key before (so nothing of anyone
/// else's is lost). Returns `cause`, noting what happened to the object.
async fn discard(t: &Target, version_id: Option<String>, cause: UploadError) -> UploadError {
    let UploadError::Verification { uri, detail } = cause else {
        return cause;
    };
    if !t.if_none_match {
        return UploadError::Verification {
            uri,
            detail: format!("{detail}; the object was left in place: do not use it"),
        };
    }
    let r = t
        .client
        .delete_object()
        .bucket(&t.bucket)
        .key(&t.key)
        .set_version_id(version_id)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .send()
        .await;
    let note = match r {
        Ok(_) => "the object was deleted".to_string(),
        Err(e) => format!(
            "deleting the object failed too ({}): do not use it",
            t.err("DeleteObject", e)
        ),
    };
    UploadError::Verification {
        uri,
        detail: format!("{detail}; {note}"),
    }
}

/// Completes and verifies (and tags, see [`tag_digest`]); the flag in the
/// error says whether Complete succeeded.
async fn complete_inner(
    t: &Target,
    mpu: &Multipart,
    sha256_hex: &str,
    size: u64,
) -> std::result::Result<(UploadRecord, Vec<Finding>), (UploadError, Option<Option<String>>)> {
    if let Some(known) = &t.known_sha256
        && known != sha256_hex
    {
        return Err((
            UploadError::Verification {
                uri: t.uri(),
                detail: format!(
                    "the bytes sent have SHA-256 {sha256_hex}, not {known} as announced; nothing was stored"
                ),
            },
            None,
        ));
    }
    if t.cancelled() {
        return Err((UploadError::Interrupted, None));
    }
    let digests: Vec<[u8; 32]> = mpu.parts.iter().map(|p| p.digest).collect();
    let composite = composite_sha256(&digests);
    let parts: Vec<CompletedPart> = mpu
        .parts
        .iter()
        .map(|p| {
            CompletedPart::builder()
                .part_number(i32::try_from(p.number).unwrap_or(i32::MAX))
                .e_tag(&p.etag)
                .checksum_sha256(&p.checksum)
                .build()
        })
        .collect();
    let mut req = t
        .client
        .complete_multipart_upload()
        .bucket(&t.bucket)
        .key(&t.key)
        .upload_id(&mpu.upload_id)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        );
    if t.if_none_match {
        req = req.if_none_match("*");
    }
    let out = req
        .send()
        .await
        .map_err(|e| (t.err("CompleteMultipartUpload", e), None))?;
    let version = out.version_id().map(str::to_string);
    if let Some(c) = out.checksum_sha256()
        && c != composite
    {
        return Err((
            UploadError::Verification {
                uri: t.uri(),
                detail: format!(
                    "S3 reports the composite SHA-256 {c}, the parts sent give {composite}"
                ),
            },
            Some(version),
        ));
    }
    let expect = Expectation {
        size,
        sha256_hex,
        checksum: composite,
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        metadata: t.known_sha256.is_some(),
    };
    let mut record = verify(t, &expect)
        .await
        .map_err(|e| (e, Some(version.clone())))?;
    let mut findings = Vec::new();
    if t.known_sha256.is_none() {
        // Streamed: the digest exists only now, too late for metadata.
        let (on_object, finding) = tag_digest(t, record.version_id.as_deref(), sha256_hex)
            .await
            .map_err(|e| (e, Some(version)))?;
        record.digest_on_object = Some(on_object);
        findings.extend(finding);
    }
    Ok((record, findings))
}

/// Binds a streamed multipart object to its digest after the fact: sets the
/// tag `sha256=<hex>` on the version just written (PutObjectTagging changes
/// neither the data nor the version) and reads it back. A store or policy
/// that refuses tagging gives a warning, not a failure: the object was
/// verified already. A tag that reads back different is a verification error.
async fn tag_digest(
    t: &Target,
    version_id: Option<&str>,
    sha256_hex: &str,
) -> Result<(DigestOnObject, Option<Finding>)> {
    let tag = Tag::builder()
        .key(DIGEST_TAG)
        .value(sha256_hex)
        .build()
        .map_err(|e| UploadError::Internal(format!("tag: {e}")))?;
    let tagging = Tagging::builder()
        .tag_set(tag)
        .build()
        .map_err(|e| UploadError::Internal(format!("tagging: {e}")))?;
    // The object was created by this upload without tags, so this tag set
    // replaces nothing.
    let put = t
        .client
        .put_object_tagging()
        .bucket(&t.bucket)
        .key(&t.key)
        .set_version_id(version_id.map(str::to_string))
        .tagging(tagging)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .send()
        .await;
    if let Err(e) = put {
        let e = t.err("PutObjectTagging", e);
        let mut f = Finding::warning(
            TAG_SKIPPED,
            format!(
                "{} is uploaded and verified, but carries no SHA-256 of its own: the tag \
                 {DIGEST_TAG}={sha256_hex} was not set ({})",
                t.uri(),
                refusal(&e)
            ),
        );
        f.hint = Some(
            "allow s3:PutObjectTagging (and s3:GetObjectTagging) on the objects, so that a \
             streamed archive carries its digest and a later run recognises it without the \
             manifest beside it; until then the manifest records the digest"
                .into(),
        );
        return Ok((DigestOnObject::None, Some(f)));
    }
    let got = t
        .client
        .get_object_tagging()
        .bucket(&t.bucket)
        .key(&t.key)
        .set_version_id(version_id.map(str::to_string))
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .send()
        .await;
    let got = match got {
        Ok(g) => g,
        Err(e) => {
            let e = t.err("GetObjectTagging", e);
            let mut f = Finding::warning(
                TAG_UNVERIFIED,
                format!(
                    "the tag {DIGEST_TAG}={sha256_hex} was set on {} but could not be read \
                     back ({})",
                    t.uri(),
                    refusal(&e)
                ),
            );
            f.hint = Some(
                "allow s3:GetObjectTagging on the objects (the existing-object lookup of a \
                 later run needs it too)"
                    .into(),
            );
            return Ok((DigestOnObject::Tag, Some(f)));
        }
    };
    match digest_tag(got.tag_set()) {
        Some(v) if v == sha256_hex => Ok((DigestOnObject::Tag, None)),
        Some(v) => Err(UploadError::Verification {
            uri: t.uri(),
            detail: format!("the {DIGEST_TAG} tag reads back as {v}, expected {sha256_hex}"),
        }),
        None => Err(UploadError::Verification {
            uri: t.uri(),
            detail: format!(
                "S3 accepted the tag {DIGEST_TAG}={sha256_hex} but it does not read back"
            ),
        }),
    }
}

/// What S3 said when it refused a request, for a finding's message.
fn refusal(e: &UploadError) -> String {
    match e {
        UploadError::Request {
            operation, message, ..
        } => format!("{operation}: {message}"),
        other => other.to_string(),
    }
}

/// One PutObject with the full-object SHA-256 and the hex digest as metadata.
pub(crate) async fn put_single(t: &Target, data: Vec<u8>, sha256_hex: &str) -> Result<Uploaded> {
    let raw: [u8; 32] = Sha256::digest(&data).into();
    if hex::encode(raw) != sha256_hex {
        return Err(UploadError::Internal(
            "the buffered object does not hash to the archive's SHA-256".into(),
        ));
    }
    if t.cancelled() {
        return Err(UploadError::Interrupted);
    }
    let checksum = b64_digest(&raw);
    let size = data.len() as u64;
    let sent = if t.hooks.corrupt_part == Some(1) {
        b64_digest(&Sha256::digest(
            b"sm-pack test hook: corrupted object checksum",
        ))
    } else {
        checksum.clone()
    };
    let mut req = t
        .client
        .put_object()
        .bucket(&t.bucket)
        .key(&t.key)
        .content_type(t.content_type)
        .content_length(i64::try_from(size).unwrap_or(i64::MAX))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(&sent)
        .metadata("sha256", sha256_hex)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .set_server_side_encryption(t.sse_kind())
        .set_ssekms_key_id(t.kms_key())
        .body(ByteStream::from(data));
    if t.if_none_match {
        req = req.if_none_match("*");
    }
    let out = req
        .customize()
        .disable_payload_signing()
        .send()
        .await
        .map_err(|e| t.err("PutObject", e))?;
    let expect = Expectation {
        size,
        sha256_hex,
        checksum,
        etag: out.e_tag().map(str::to_string),
        version_id: out.version_id().map(str::to_string),
        metadata: true,
    };
    match verify(t, &expect).await {
        Ok(record) => Ok(Uploaded {
            record,
            method: Method::SinglePut,
            findings: Vec::new(),
        }),
        Err(e) => Err(discard(t, expect.version_id.clone(), e).await),
    }
}

fn strip_quotes(etag: &str) -> &str {
    etag.trim_matches('"')
}

/// Reads the object back with HEAD (checksum mode on) and compares size,
/// SHA-256 checksum, ETag and the `sha256` metadata with what was sent.
async fn verify(t: &Target, e: &Expectation<'_>) -> Result<UploadRecord> {
    let head = t
        .client
        .head_object()
        .bucket(&t.bucket)
        .key(&t.key)
        .set_version_id(e.version_id.clone())
        .checksum_mode(ChecksumMode::Enabled)
        .set_expected_bucket_owner(t.expected_bucket_owner.clone())
        .send()
        .await
        .map_err(|err| t.err("HeadObject", err))?;
    let mut problems = Vec::new();
    let len = head.content_length().unwrap_or(-1);
    if u64::try_from(len).ok() != Some(e.size) {
        problems.push(format!("size is {len}, {} were sent", e.size));
    }
    match head.checksum_sha256() {
        Some(c) if c == e.checksum => {}
        Some(c) => problems.push(format!("SHA-256 checksum is {c}, expected {}", e.checksum)),
        None => problems.push(format!(
            "S3 returned no SHA-256 checksum (expected {})",
            e.checksum
        )),
    }
    if let (Some(sent), Some(got)) = (&e.etag, head.e_tag())
        && strip_quotes(sent) != strip_quotes(got)
    {
        problems.push(format!("ETag is {got}, the upload returned {sent}"));
    }
    let meta = head.metadata().and_then(|m| m.get("sha256"));
    match meta {
        Some(m) if m != e.sha256_hex => {
            problems.push(format!("sha256 metadata is {m}, expected {}", e.sha256_hex))
        }
        None if e.metadata => problems.push("the sha256 metadata is missing".into()),
        _ => {}
    }
    if !problems.is_empty() {
        return Err(UploadError::Verification {
            uri: t.uri(),
            detail: problems.join("; "),
        });
    }
    Ok(UploadRecord {
        uri: t.uri(),
        bucket: t.bucket.clone(),
        key: t.key.clone(),
        version_id: head
            .version_id()
            .map(str::to_string)
            .or_else(|| e.version_id.clone()),
        etag: head.e_tag().map(str::to_string).or_else(|| e.etag.clone()),
        checksum_sha256: Some(e.checksum.clone()),
        digest_on_object: Some(if e.metadata {
            DigestOnObject::Metadata
        } else {
            DigestOnObject::None
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        assert_eq!(part_size_for(1, None).unwrap(), DEFAULT_PART_SIZE);
        assert_eq!(part_size_for(12 * MIB, Some(5 * MIB)).unwrap(), 5 * MIB);
        // 800 GiB needs more than 8 MiB per part to stay within 10,000 parts.
        let big = 800 * 1024 * MIB;
        let p = part_size_for(big, None).unwrap();
        assert!(p.is_multiple_of(MIB) && big.div_ceil(p) <= MAX_PARTS, "{p}");
        assert!(part_size_for(1, Some(MIB)).is_err());
        assert!(part_size_for(1, Some(6 * 1024 * MIB)).is_err());
        assert!(part_size_for(u64::MAX / 2, None).is_err());
        assert!(archive_size_bound(1000) > 1000);
    }

    #[test]
    fn composite_matches_s3_definition() {
        let a: [u8; 32] = Sha256::digest(b"a").into();
        let b: [u8; 32] = Sha256::digest(b"b").into();
        let mut cat = Vec::new();
        cat.extend_from_slice(&a);
        cat.extend_from_slice(&b);
        let want = format!("{}-2", B64.encode(Sha256::digest(&cat)));
        assert_eq!(composite_sha256(&[a, b]), want);
    }
}
