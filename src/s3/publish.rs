//! Publishing an archive and its sidecars to S3: while packing
//! ([`ArchiveUpload`] as a [`Publisher`]) or for an archive already on disk
//! ([`upload_archive_file`]).

use super::client::{S3Client, S3Settings, Sse, sdk_error};
use super::error::{Result, UploadError};
use super::object::{
    Method, ObjectWriter, Target, TestHooks, archive_size_bound, digest_tag, part_size_for,
    put_single,
};
use super::scrub::scrub;
use super::uri::{S3Uri, base_name, check_key, object_uri, sidecar_keys};
use crate::archive::ArchiveRecord;
use crate::manifest::{DigestOnObject, UploadRecord, merge_sha256sums, sha256sums};
use crate::output::StagedFile;
use crate::pack::{Publisher, sidecar_paths};
use crate::report::Finding;
use aws_sdk_s3::types::ChecksumMode;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How to transfer (the where and as whom is in [`S3Settings`]).
#[derive(Debug, Clone, Default)]
pub struct TransferOptions {
    /// Part size of multipart uploads (at least 5 MiB); grown automatically
    /// when the object would need more than 10,000 parts. Default 8 MiB.
    pub part_size: Option<u64>,
    /// Parts in flight at once (default 4).
    pub concurrency: Option<usize>,
    /// Replace an existing object with different content.
    pub force: bool,
    /// Set to true (e.g. from a signal handler) to stop; the multipart upload
    /// is then aborted and the run fails with [`UploadError::Interrupted`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Called with the bytes of an existing archive sent so far
    /// ([`upload_archive_file`]; for a progress bar).
    pub progress: Option<crate::archive::Progress>,
    /// Fault injection for the test suite.
    #[doc(hidden)]
    pub hooks: TestHooks,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectStatus {
    /// Sent and verified.
    Uploaded,
    /// The same bytes (same SHA-256) were already there; nothing was sent.
    AlreadyUploaded,
}

/// One uploaded (or already present) object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectReport {
    /// What happened.
    pub status: ObjectStatus,
    /// Where it is, with version id, ETag and S3's SHA-256 checksum.
    #[serde(flatten)]
    pub record: UploadRecord,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the object's bytes (as in `SHA256SUMS`).
    pub sha256: String,
    /// How it was sent.
    pub method: Method,
}

/// Everything an upload did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadReport {
    /// Endpoint used ("AWS S3" for the default).
    pub endpoint: String,
    /// Region requests were signed for.
    pub region: String,
    /// The archive.
    pub archive: ObjectReport,
    /// Manifest and `SHA256SUMS`, in that order (empty when the archive had no manifest beside it).
    pub sidecars: Vec<ObjectReport>,
    /// Warnings about the uploaded objects (e.g. `s3.digest_tag_skipped`:
    /// the store refused the digest tag). They never fail the upload.
    pub findings: Vec<Finding>,
}

/// What `--dry-run` prints: where everything would go, computed without
/// contacting anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadPlan {
    /// The archive's destination.
    pub archive: String,
    /// The manifest's destination.
    pub manifest: String,
    /// `SHA256SUMS`' destination.
    pub sha256sums: String,
    /// Single PUT or multipart (with the most parts it could take).
    pub method: Method,
    /// Upper bound of the archive size the plan is for.
    pub size_bound: u64,
    /// Endpoint ("AWS S3" for the default).
    pub endpoint: String,
    /// Region, when the options or the environment name one.
    pub region: Option<String>,
    /// Profile, when the options or the environment name one.
    pub profile: Option<String>,
    /// Path-style addressing.
    pub path_style: bool,
    /// Server-side encryption.
    pub sse: Option<Sse>,
    /// Expected bucket owner.
    pub expected_bucket_owner: Option<String>,
    /// Whether an existing different object would be replaced.
    pub replace_existing: bool,
}

/// Plans an upload of an archive named `archive_name` of at most `size_bound`
/// bytes, reading only options and environment variables.
pub fn plan(
    dest: &S3Uri,
    archive_name: &str,
    size_bound: u64,
    settings: &S3Settings,
    opts: &TransferOptions,
) -> Result<UploadPlan> {
    let key = dest.object_key(archive_name);
    check_key(&dest.bucket, &key)?;
    let (manifest_key, sums_key) = sidecar_keys(&key);
    let part_size = part_size_for(size_bound, opts.part_size)?;
    let method = if size_bound <= part_size {
        Method::SinglePut
    } else {
        Method::Multipart {
            parts: size_bound.div_ceil(part_size),
            part_size,
        }
    };
    Ok(UploadPlan {
        archive: object_uri(&dest.bucket, &key),
        manifest: object_uri(&dest.bucket, &manifest_key),
        sha256sums: object_uri(&dest.bucket, &sums_key),
        method,
        size_bound,
        endpoint: settings.endpoint_description(),
        region: settings.region_hint(),
        profile: settings.profile_hint(),
        path_style: settings.path_style,
        sse: settings.sse.clone(),
        expected_bucket_owner: settings.expected_bucket_owner.clone(),
        replace_existing: opts.force,
    })
}

/// An object found at the destination before uploading.
#[derive(Debug, Clone)]
struct Remote {
    size: u64,
    etag: Option<String>,
    version_id: Option<String>,
    checksum_sha256: Option<String>,
    /// Its SHA-256 hex, from its metadata, its `sha256` tag or the manifest beside it.
    sha256: Option<String>,
    /// Where the object itself carries that digest (`None` when it came from
    /// the manifest, or is unknown).
    digest_on_object: DigestOnObject,
}

enum Existing {
    /// Nothing at the key.
    Absent,
    /// HEAD was refused (403: no s3:ListBucket, so S3 cannot say "missing").
    Unknown,
    Present(Remote),
}

/// Largest manifest read back when looking up an existing object's digest.
const MAX_REMOTE_MANIFEST: i64 = 16 << 20;

async fn probe(client: &S3Client, bucket: &str, key: &str, is_archive: bool) -> Result<Existing> {
    let owner = client.settings().expected_bucket_owner.clone();
    let uri = object_uri(bucket, key);
    let head = client
        .sdk()
        .head_object()
        .bucket(bucket)
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .set_expected_bucket_owner(owner.clone())
        .send()
        .await;
    let head = match head {
        Ok(h) => h,
        Err(e) => {
            let e = sdk_error(client.endpoint(), "HeadObject", &uri, e);
            return match &e {
                UploadError::Request {
                    status: Some(404), ..
                } => Ok(Existing::Absent),
                UploadError::Request {
                    status: Some(403),
                    code,
                    ..
                } if code.as_deref() == Some("AccessDenied") => Ok(Existing::Unknown),
                _ => Err(e),
            };
        }
    };
    let mut remote = Remote {
        size: u64::try_from(head.content_length().unwrap_or(0)).unwrap_or(0),
        etag: head.e_tag().map(str::to_string),
        version_id: head.version_id().map(str::to_string),
        checksum_sha256: head.checksum_sha256().map(str::to_string),
        sha256: head
            .metadata()
            .and_then(|m| m.get("sha256"))
            .filter(|v| is_sha256_hex(v))
            .cloned(),
        digest_on_object: DigestOnObject::Metadata,
    };
    if remote.sha256.is_none() && is_archive {
        // A streamed multipart archive carries its digest as a tag.
        remote.sha256 = digest_from_tag(client, bucket, key, remote.version_id.as_deref()).await?;
        remote.digest_on_object = DigestOnObject::Tag;
    }
    if remote.sha256.is_none() && is_archive {
        remote.digest_on_object = DigestOnObject::None;
        remote.sha256 =
            digest_from_remote_manifest(client, bucket, key, remote.etag.as_deref()).await;
    }
    if remote.sha256.is_none() {
        remote.digest_on_object = DigestOnObject::None;
    }
    Ok(Existing::Present(remote))
}

/// The object's `sha256` tag (set after a streamed multipart upload). A
/// refusal (no s3:GetObjectTagging, a store without tagging) means unknown;
/// only a network failure is an error.
async fn digest_from_tag(
    client: &S3Client,
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
) -> Result<Option<String>> {
    let out = client
        .sdk()
        .get_object_tagging()
        .bucket(bucket)
        .key(key)
        .set_version_id(version_id.map(str::to_string))
        .set_expected_bucket_owner(client.settings().expected_bucket_owner.clone())
        .send()
        .await;
    match out {
        Ok(out) => Ok(digest_tag(out.tag_set())
            .filter(|v| is_sha256_hex(v))
            .map(str::to_string)),
        Err(e) => match sdk_error(
            client.endpoint(),
            "GetObjectTagging",
            &object_uri(bucket, key),
            e,
        ) {
            e @ UploadError::Network { .. } => Err(e),
            _ => Ok(None),
        },
    }
}

/// The digest an sm-pack manifest beside the object records for it, when that
/// manifest's upload record names this very object (same key and ETag).
async fn digest_from_remote_manifest(
    client: &S3Client,
    bucket: &str,
    key: &str,
    etag: Option<&str>,
) -> Option<String> {
    let etag = etag?;
    let (manifest_key, _) = sidecar_keys(key);
    let out = client
        .sdk()
        .get_object()
        .bucket(bucket)
        .key(&manifest_key)
        .set_expected_bucket_owner(client.settings().expected_bucket_owner.clone())
        .send()
        .await
        .ok()?;
    if out.content_length().unwrap_or(i64::MAX) > MAX_REMOTE_MANIFEST {
        return None;
    }
    let bytes = out.body.collect().await.ok()?.into_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let digest = v.pointer("/archive/sha256")?.as_str()?;
    let names_it = v.get("uploads")?.as_array()?.iter().any(|u| {
        u.get("bucket").and_then(|b| b.as_str()) == Some(bucket)
            && u.get("key").and_then(|k| k.as_str()) == Some(key)
            && u.get("etag").and_then(|e| e.as_str()) == Some(etag)
    });
    (names_it && is_sha256_hex(digest)).then(|| digest.to_string())
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| c.is_ascii_hexdigit())
}

fn report_existing(
    status: ObjectStatus,
    bucket: &str,
    key: &str,
    r: &Remote,
    sha256: &str,
) -> ObjectReport {
    ObjectReport {
        status,
        record: UploadRecord {
            uri: object_uri(bucket, key),
            bucket: bucket.into(),
            key: key.into(),
            version_id: r.version_id.clone(),
            etag: r.etag.clone(),
            checksum_sha256: r.checksum_sha256.clone(),
            digest_on_object: Some(r.digest_on_object),
        },
        size: r.size,
        sha256: sha256.into(),
        method: Method::None,
    }
}

/// The archive's state inside [`ArchiveUpload`].
enum Stage {
    /// Nothing started.
    Idle,
    /// Streaming into a new object.
    Streaming(Box<ObjectWriter>),
    /// An object is already there; decided once the archive's digest is known.
    Existing(Remote),
    /// Same digest already there (known up front): nothing to send.
    Skipped(Remote),
    /// Done; the report holds the archive.
    Published,
}

/// Uploads a pack's archive to S3 while it is written, then its sidecars.
///
/// Give it to [`crate::pack::pack_with`]; it connects once validation passed
/// ([`S3Client::connect`]), streams the compressed bytes into a multipart
/// upload (or one PUT when small), completes and verifies it once the archive
/// is done, and uploads the final manifest and `SHA256SUMS`. On any failure
/// or interrupt the multipart upload is aborted.
///
/// ```no_run
/// use sm_pack::pack::{pack_with, Family, PackJob};
/// use sm_pack::s3::{ArchiveUpload, S3Settings, S3Uri, TransferOptions};
/// let job = PackJob::new(Family::Xgboost, "model.json", "model.tar.gz")?;
/// let dest = S3Uri::parse("s3://my-bucket/models/churn/")?;
/// let mut upload = ArchiveUpload::new(S3Settings::default(), dest, TransferOptions::default());
/// let outcome = pack_with(&job, Some(&mut upload))?;
/// println!("{:?}", upload.report());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ArchiveUpload {
    settings: S3Settings,
    dest: S3Uri,
    opts: TransferOptions,
    client: Option<Arc<S3Client>>,
    stage: Stage,
    key: String,
    known_sha256: Option<String>,
    archive: Option<ObjectReport>,
    sidecars: Vec<ObjectReport>,
    findings: Vec<Finding>,
    /// Upload (merge) `SHA256SUMS` beside the archive; off for one archive of a batch.
    with_sums: bool,
}

impl std::fmt::Debug for ArchiveUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveUpload")
            .field("dest", &self.dest)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ArchiveUpload {
    /// An upload to `dest` (a prefix or an exact key); nothing is contacted
    /// before the pack calls [`Publisher::begin`].
    pub fn new(settings: S3Settings, dest: S3Uri, opts: TransferOptions) -> Self {
        ArchiveUpload {
            settings,
            dest,
            opts,
            client: None,
            stage: Stage::Idle,
            key: String::new(),
            known_sha256: None,
            archive: None,
            sidecars: Vec::new(),
            findings: Vec::new(),
            with_sums: true,
        }
    }

    /// Uses an already connected client.
    pub fn with_client(mut self, client: Arc<S3Client>) -> Self {
        self.client = Some(client);
        self
    }

    /// What was uploaded, once the archive is published.
    pub fn report(&self) -> Option<UploadReport> {
        let client = self.client.as_ref()?;
        Some(UploadReport {
            endpoint: client.endpoint().into(),
            region: client.region().into(),
            archive: self.archive.clone()?,
            sidecars: self.sidecars.clone(),
            findings: self.findings.clone(),
        })
    }

    fn client(&mut self) -> Result<Arc<S3Client>> {
        if let Some(c) = &self.client {
            return Ok(c.clone());
        }
        let c = Arc::new(S3Client::connect(self.settings.clone())?);
        self.client = Some(c.clone());
        Ok(c)
    }

    fn target(&self, client: &S3Client, key: &str, content_type: &'static str) -> Target {
        let mut t = Target::new(client, &self.dest.bucket, key, content_type);
        t.concurrency = self.opts.concurrency.unwrap_or(t.concurrency).max(1);
        t.cancel = self.opts.cancel.clone();
        t.hooks = self.opts.hooks.clone();
        t
    }

    fn uri(&self) -> String {
        object_uri(&self.dest.bucket, &self.key)
    }

    /// Connects, looks at the destination and, when the archive must be
    /// sent, opens the streaming upload. `known_sha256` is the archive's
    /// digest when it is known up front (an existing file).
    fn start(
        &mut self,
        archive_name: &str,
        size_bound: u64,
        known_sha256: Option<&str>,
    ) -> Result<()> {
        self.key = self.dest.object_key(archive_name);
        check_key(&self.dest.bucket, &self.key)?;
        self.known_sha256 = known_sha256.map(str::to_string);
        let part_size = part_size_for(size_bound, self.opts.part_size)?;
        let client = self.client()?;
        let existing = client.block_on(probe(&client, &self.dest.bucket, &self.key, true))?;
        let mut if_none_match = !self.opts.force;
        match existing {
            // Forced: replace it, unless it is known to hold these very bytes.
            Existing::Present(remote)
                if self.opts.force
                    && (known_sha256.is_none() || known_sha256 != remote.sha256.as_deref()) =>
            {
                if_none_match = false;
            }
            Existing::Present(remote) => {
                match (known_sha256, remote.sha256.as_deref()) {
                    (Some(ours), Some(theirs)) if ours == theirs => {
                        self.stage = Stage::Skipped(remote);
                    }
                    (Some(ours), theirs) => {
                        return Err(UploadError::Exists {
                            uri: self.uri(),
                            detail: differs(ours, theirs),
                        });
                    }
                    // The digest is known once the archive is written; compare then.
                    (None, _) => self.stage = Stage::Existing(remote),
                }
                return Ok(());
            }
            Existing::Absent | Existing::Unknown => {}
        }
        let mut target = self.target(&client, &self.key, "application/gzip");
        target.known_sha256 = self.known_sha256.clone();
        target.if_none_match = if_none_match;
        let writer = ObjectWriter::new(&client, target, part_size)?;
        self.stage = Stage::Streaming(Box::new(writer));
        Ok(())
    }

    fn sink(&mut self) -> Option<&mut (dyn Write + Send)> {
        match &mut self.stage {
            Stage::Streaming(w) => Some(w.as_mut()),
            _ => None,
        }
    }

    /// The archive is complete with this digest and size: finish its upload
    /// (or decide about the object already there).
    fn finish_archive(&mut self, sha256: &str, size: u64) -> Result<UploadRecord> {
        let stage = std::mem::replace(&mut self.stage, Stage::Published);
        let bucket = self.dest.bucket.clone();
        let report = match stage {
            Stage::Streaming(w) => {
                let up = w.finish(sha256, size)?;
                self.findings.extend(up.findings);
                ObjectReport {
                    status: ObjectStatus::Uploaded,
                    record: up.record,
                    size,
                    sha256: sha256.into(),
                    method: up.method,
                }
            }
            Stage::Skipped(r) => report_existing(
                ObjectStatus::AlreadyUploaded,
                &bucket,
                &self.key,
                &r,
                sha256,
            ),
            Stage::Existing(r) => {
                if r.sha256.as_deref() == Some(sha256) {
                    report_existing(
                        ObjectStatus::AlreadyUploaded,
                        &bucket,
                        &self.key,
                        &r,
                        sha256,
                    )
                } else {
                    return Err(UploadError::Exists {
                        uri: self.uri(),
                        detail: differs(sha256, r.sha256.as_deref()),
                    });
                }
            }
            Stage::Idle | Stage::Published => {
                return Err(UploadError::Internal("the archive was not started".into()));
            }
        };
        let record = report.record.clone();
        self.archive = Some(report);
        Ok(record)
    }

    /// Uploads the manifest and `SHA256SUMS` (named for the remote archive)
    /// beside the archive. An identical object already there is left alone.
    fn upload_sidecars(&mut self, manifest_json: &str) -> Result<()> {
        let client = self.client()?;
        let archive_sha = self
            .archive
            .as_ref()
            .map(|a| a.sha256.clone())
            .ok_or_else(|| UploadError::Internal("sidecars before the archive".into()))?;
        let (manifest_key, sums_key) = sidecar_keys(&self.key);
        let manifest_sha = crate::hash::sha256_hex(manifest_json.as_bytes());
        let mut items = vec![(
            manifest_key.clone(),
            "application/json",
            manifest_json.as_bytes().to_vec(),
        )];
        if self.with_sums {
            // SHA256SUMS may list other archives in the folder: merge, as locally.
            let remote_sums = client.block_on(get_small(&client, &self.dest.bucket, &sums_key))?;
            let sums = update_sums(
                &object_uri(&self.dest.bucket, &sums_key),
                remote_sums.as_deref(),
                &[
                    (base_name(&self.key), archive_sha.as_str()),
                    (base_name(&manifest_key), manifest_sha.as_str()),
                ],
            )?;
            items.push((sums_key, "text/plain; charset=utf-8", sums.into_bytes()));
        }
        for (key, content_type, bytes) in items {
            let sha = crate::hash::sha256_hex(&bytes);
            let existing = client.block_on(probe(&client, &self.dest.bucket, &key, false))?;
            if let Existing::Present(r) = &existing
                && r.sha256.as_deref() == Some(sha.as_str())
            {
                let rep = report_existing(
                    ObjectStatus::AlreadyUploaded,
                    &self.dest.bucket,
                    &key,
                    r,
                    &sha,
                );
                self.sidecars.push(rep);
                continue;
            }
            // Sidecars describe the archive just published, so they replace older ones.
            let target = self.target(&client, &key, content_type);
            let size = bytes.len() as u64;
            let up = client
                .block_on(put_single(&target, bytes, &sha))
                .map_err(|e| match e {
                    e @ (UploadError::Request { .. }
                    | UploadError::Network { .. }
                    | UploadError::Verification { .. }) => UploadError::Usage {
                        message: format!(
                            "{e} (the archive {} was uploaded; run the upload again to add its sidecars)",
                            self.uri()
                        ),
                    },
                    other => other,
                })?;
            self.sidecars.push(ObjectReport {
                status: ObjectStatus::Uploaded,
                record: up.record,
                size,
                sha256: sha,
                method: up.method,
            });
        }
        Ok(())
    }

    /// Undoes what can be undone; returns the upload's own error, if it failed.
    fn abort_upload(&mut self) -> Option<UploadError> {
        match std::mem::replace(&mut self.stage, Stage::Published) {
            Stage::Streaming(mut w) => w.abort(),
            _ => None,
        }
    }
}

fn differs(ours: &str, theirs: Option<&str>) -> String {
    match theirs {
        Some(t) => format!("its sha256 is {t}, this archive's is {ours}"),
        None => format!(
            "it has no sha256 metadata, no readable sha256 tag and no sm-pack manifest naming it, so it cannot be shown to equal this archive ({ours})"
        ),
    }
}

impl Publisher for ArchiveUpload {
    fn begin(
        &mut self,
        archive_name: &str,
        input_size: u64,
    ) -> crate::Result<Option<&mut (dyn Write + Send)>> {
        self.start(archive_name, archive_size_bound(input_size), None)?;
        Ok(self.sink())
    }

    fn publish_archive(&mut self, record: &ArchiveRecord) -> crate::Result<UploadRecord> {
        Ok(self.finish_archive(&record.sha256, record.size)?)
    }

    fn publish_sidecars(&mut self, manifest_json: &str) -> crate::Result<()> {
        Ok(self.upload_sidecars(manifest_json)?)
    }

    fn abort(&mut self) -> Option<crate::Error> {
        self.abort_upload().map(Into::into)
    }
}

/// Reads a file into `out`, hashing it and honouring `cancel`. Returns the hex
/// SHA-256 and the byte count.
fn copy_hashing(
    path: &Path,
    out: &mut dyn Write,
    cancel: Option<&AtomicBool>,
    progress: Option<&crate::archive::Progress>,
) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(|e| crate::Error::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(UploadError::Interrupted);
        }
        let got = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(crate::Error::io("read", path, e).into()),
        };
        h.update(&buf[..got]);
        out.write_all(&buf[..got])
            .map_err(|e| UploadError::Internal(format!("stream to S3: {e}")))?;
        n += got as u64;
        if let Some(p) = progress {
            (p.0)(n);
        }
    }
    Ok((hex::encode(h.finalize()), n))
}

/// Hashes a file.
fn hash_file(path: &Path, cancel: Option<&AtomicBool>) -> Result<(String, u64)> {
    copy_hashing(path, &mut std::io::sink(), cancel, None)
}

/// What the sidecars beside a local archive say about it.
struct LocalSidecars {
    manifest: Option<serde_json::Value>,
    sums: Option<String>,
}

fn read_local_sidecars(archive: &Path) -> Result<LocalSidecars> {
    let (manifest_path, sums_path) = sidecar_paths(archive);
    // Regular files of at most 16 MiB, like `verify` reads them: a FIFO
    // named like a sidecar would block, a device never end.
    let read = |p: &Path, what: &str| match crate::input::read_regular_file(
        p,
        crate::verify::MAX_SIDECAR_BYTES,
        what,
    ) {
        Ok(b) => Ok(Some(b)),
        Err(crate::Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(UploadError::from(e)),
    };
    let manifest = match read(&manifest_path, "manifests")? {
        Some(b) => Some(
            serde_json::from_slice(&b).map_err(|e| UploadError::LocalMismatch {
                path: manifest_path.display().to_string(),
                what: "the manifest format",
                detail: format!("not JSON: {e}"),
            })?,
        ),
        None => None,
    };
    let sums = match read(&sums_path, "SHA256SUMS files")? {
        Some(b) => Some(
            String::from_utf8(b).map_err(|e| UploadError::LocalMismatch {
                path: sums_path.display().to_string(),
                what: "the SHA256SUMS format",
                detail: format!("not UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            })?,
        ),
        None => None,
    };
    Ok(LocalSidecars { manifest, sums })
}

/// The digest a `SHA256SUMS` text gives `name`.
fn sums_digest<'a>(sums: &'a str, name: &str) -> Option<&'a str> {
    sums.lines().find_map(|l| {
        let (digest, file) = l.split_once("  ").or_else(|| l.split_once(" *"))?;
        (file == name).then_some(digest.trim())
    })
}

/// `SHA256SUMS` with the entries of `updates` replaced or added, others kept.
fn update_sums(path: &str, sums: Option<&str>, updates: &[(&str, &str)]) -> Result<String> {
    match sums {
        None => Ok(sha256sums(updates)),
        Some(s) => merge_sha256sums(s, updates).ok_or_else(|| UploadError::LocalMismatch {
            path: path.into(),
            what: "the SHA256SUMS format",
            detail:
                "it is not in coreutils format (`<sha256>  <name>` lines), so it is not rewritten"
                    .into(),
        }),
    }
}

/// The text of a small object, `None` when it does not exist.
async fn get_small(client: &S3Client, bucket: &str, key: &str) -> Result<Option<String>> {
    let uri = object_uri(bucket, key);
    let out = client
        .sdk()
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_expected_bucket_owner(client.settings().expected_bucket_owner.clone())
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            let e = sdk_error(client.endpoint(), "GetObject", &uri, e);
            return match e.code() {
                Some("NoSuchKey") | Some("NotFound") => Ok(None),
                _ => Err(e),
            };
        }
    };
    if out.content_length().unwrap_or(0) > MAX_REMOTE_MANIFEST {
        return Err(UploadError::Usage {
            message: format!(
                "{uri} is larger than 16 MiB; it is not a SHA256SUMS file sm-pack can update"
            ),
        });
    }
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| UploadError::Network {
            operation: "GetObject",
            uri: uri.clone(),
            endpoint: client.endpoint().into(),
            message: scrub(&e.to_string()),
        })?
        .into_bytes();
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Uploads an archive already on disk (with the manifest and `SHA256SUMS`
/// beside it) to `dest`, verified the same way as a streamed upload, and
/// records the upload in the local manifest (rewritten atomically, with
/// `SHA256SUMS` updated to its new digest).
///
/// The archive's digest comes from its manifest (or `SHA256SUMS`) and is
/// checked against the bytes while they are sent; a mismatch aborts the
/// upload. Without a manifest the archive is hashed first and uploaded alone.
pub fn upload_archive_file(
    archive: &Path,
    dest: &S3Uri,
    settings: S3Settings,
    opts: TransferOptions,
) -> Result<UploadReport> {
    let up = ArchiveUpload::new(settings, dest.clone(), opts.clone());
    upload_file(archive, up, &opts)
}

/// Uploads one archive of a batch ([`crate::batch`]) with its manifest, like
/// [`upload_archive_file`] but on an already connected client, and without
/// `SHA256SUMS`: it is neither read nor written, locally or at the
/// destination (the batch writes one combined file, see
/// [`upload_sha256sums`]). The local manifest is rewritten only when the
/// upload record it gains is not already in it.
pub fn upload_batch_archive(
    client: Arc<S3Client>,
    archive: &Path,
    dest: &S3Uri,
    opts: TransferOptions,
) -> Result<UploadReport> {
    let mut up = ArchiveUpload::new(client.settings().clone(), dest.clone(), opts.clone())
        .with_client(client);
    up.with_sums = false;
    upload_file(archive, up, &opts)
}

/// Merges `entries` (`(file name, hex SHA-256)`, names relative to the
/// prefix) into the `SHA256SUMS` object under the prefix `dest` and uploads
/// the result, verified; an identical object already there is left alone.
pub fn upload_sha256sums(
    client: Arc<S3Client>,
    dest: &S3Uri,
    entries: &[(&str, &str)],
    opts: TransferOptions,
) -> Result<ObjectReport> {
    let key = dest.object_key("SHA256SUMS");
    check_key(&dest.bucket, &key)?;
    let uri = object_uri(&dest.bucket, &key);
    let remote = client.block_on(get_small(&client, &dest.bucket, &key))?;
    let sums = update_sums(&uri, remote.as_deref(), entries)?;
    let sha = crate::hash::sha256_hex(sums.as_bytes());
    let existing = client.block_on(probe(&client, &dest.bucket, &key, false))?;
    if let Existing::Present(r) = &existing
        && r.sha256.as_deref() == Some(sha.as_str())
    {
        return Ok(report_existing(
            ObjectStatus::AlreadyUploaded,
            &dest.bucket,
            &key,
            r,
            &sha,
        ));
    }
    let up = ArchiveUpload::new(client.settings().clone(), dest.clone(), opts)
        .with_client(client.clone());
    let target = up.target(&client, &key, "text/plain; charset=utf-8");
    let size = sums.len() as u64;
    let put = client.block_on(put_single(&target, sums.into_bytes(), &sha))?;
    Ok(ObjectReport {
        status: ObjectStatus::Uploaded,
        record: put.record,
        size,
        sha256: sha,
        method: put.method,
    })
}

fn upload_file(
    archive: &Path,
    mut up: ArchiveUpload,
    opts: &TransferOptions,
) -> Result<UploadReport> {
    let meta = std::fs::metadata(archive).map_err(|e| crate::Error::io("read", archive, e))?;
    if !meta.is_file() {
        return Err(crate::Error::Input {
            path: archive.to_path_buf(),
            message: "is not a regular file".into(),
            hint: Some("pass the model.tar.gz to upload".into()),
        }
        .into());
    }
    let size = meta.len();
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.tar.gz".into());
    let mut local = read_local_sidecars(archive)?;
    if !up.with_sums {
        local.sums = None;
    }
    let mismatch = |what: &'static str, detail: String| UploadError::LocalMismatch {
        path: archive.display().to_string(),
        what,
        detail,
    };
    let from_manifest = match &local.manifest {
        Some(m) => {
            let d = m.pointer("/archive/sha256").and_then(|v| v.as_str());
            let s = m.pointer("/archive/size").and_then(|v| v.as_u64());
            if s.is_some_and(|s| s != size) {
                return Err(mismatch(
                    "its manifest",
                    format!(
                        "the file has {size} bytes, the manifest says {}",
                        s.unwrap_or(0)
                    ),
                ));
            }
            d.filter(|d| is_sha256_hex(d)).map(str::to_string)
        }
        None => None,
    };
    let from_sums = local
        .sums
        .as_deref()
        .and_then(|s| sums_digest(s, &name))
        .map(str::to_string);
    let expected = match (from_manifest, from_sums) {
        (Some(m), Some(s)) if m != s => {
            return Err(mismatch(
                "SHA256SUMS",
                format!("the manifest says sha256 {m}, SHA256SUMS says {s}"),
            ));
        }
        (Some(m), _) => m,
        (None, Some(s)) => s,
        (None, None) => hash_file(archive, opts.cancel.as_deref())?.0,
    };

    up.start(&name, size, Some(&expected))?;
    if let Some(sink) = up.sink() {
        let sent = copy_hashing(
            archive,
            sink,
            opts.cancel.as_deref(),
            opts.progress.as_ref(),
        );
        let failed = match sent {
            Ok((digest, n)) if digest == expected && n == size => None,
            Ok((digest, n)) => Some(mismatch(
                "its manifest",
                format!(
                    "read {n} bytes with sha256 {digest}, expected {size} bytes with sha256 {expected}; nothing was uploaded"
                ),
            )),
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            return Err(up.abort_upload().unwrap_or(e));
        }
    }
    let record = up.finish_archive(&expected, size)?;

    if let Some(mut manifest) = local.manifest {
        let (manifest_path, sums_path) = sidecar_paths(archive);
        // Record this upload (replacing an earlier record of the same object).
        let rec =
            serde_json::to_value(&record).map_err(|e| UploadError::Internal(e.to_string()))?;
        match manifest.get_mut("uploads").and_then(|u| u.as_array_mut()) {
            Some(list) => {
                list.retain(|u| u.get("uri").and_then(|v| v.as_str()) != Some(record.uri.as_str()));
                list.push(rec);
            }
            None => {
                if let Some(obj) = manifest.as_object_mut() {
                    obj.insert("uploads".into(), serde_json::Value::Array(vec![rec]));
                }
            }
        }
        let mut json = serde_json::to_string_pretty(&manifest)
            .map_err(|e| UploadError::Internal(e.to_string()))?;
        json.push('\n');
        let manifest_name = manifest_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest_sha = crate::hash::sha256_hex(json.as_bytes());
        if !up.with_sums {
            // One archive of a batch: the manifest only, and only when it changed.
            let unchanged = std::fs::read(&manifest_path).is_ok_and(|old| old == json.as_bytes());
            let staged = match unchanged {
                true => None,
                false => Some(StagedFile::with_contents(&manifest_path, json.as_bytes())?),
            };
            up.upload_sidecars(&json)?;
            if let Some(s) = staged {
                s.commit(true)?;
            }
            return up
                .report()
                .ok_or_else(|| UploadError::Internal("no report after the upload".into()));
        }
        let sums = update_sums(
            &sums_path.display().to_string(),
            local.sums.as_deref(),
            &[
                (name.as_str(), expected.as_str()),
                (manifest_name.as_str(), manifest_sha.as_str()),
            ],
        )?;
        let staged_manifest = StagedFile::with_contents(&manifest_path, json.as_bytes())?;
        let staged_sums = StagedFile::with_contents(&sums_path, sums.as_bytes())?;
        up.upload_sidecars(&json)?;
        crate::output::commit_all(vec![(staged_manifest, true), (staged_sums, true)])?;
    }
    up.report()
        .ok_or_else(|| UploadError::Internal("no report after the upload".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lookup_and_update() {
        let s = "aa  model.tar.gz\nbb  model.tar.gz.manifest.json\ncc  other\n";
        assert_eq!(sums_digest(s, "model.tar.gz"), Some("aa"));
        assert_eq!(sums_digest(s, "missing"), None);
        let a = "a".repeat(64);
        let c = "c".repeat(64);
        let d = "d".repeat(64);
        let s = format!("{a}  model.tar.gz\n{c}  other\n");
        let u = update_sums("SHA256SUMS", Some(&s), &[("model.tar.gz", &d)]).unwrap();
        assert_eq!(u, format!("{d}  model.tar.gz\n{c}  other\n"));
        assert_eq!(
            update_sums("x", None, &[("b", "2"), ("a", "1")]).unwrap(),
            "1  a\n2  b\n"
        );
        assert!(update_sums("x", Some("not sums\n"), &[("a", "1")]).is_err());
    }

    #[test]
    fn plans_without_contacting_anything() {
        let dest = S3Uri::parse("s3://bucket/models/").unwrap();
        let p = plan(
            &dest,
            "model.tar.gz",
            100 << 20,
            &S3Settings::default(),
            &TransferOptions::default(),
        )
        .unwrap();
        assert_eq!(p.archive, "s3://bucket/models/model.tar.gz");
        assert_eq!(p.manifest, "s3://bucket/models/model.tar.gz.manifest.json");
        assert_eq!(p.sha256sums, "s3://bucket/models/SHA256SUMS");
        assert_eq!(
            p.method,
            Method::Multipart {
                parts: 13,
                part_size: 8 << 20
            }
        );
    }
}
