//! Many models at once: pack a batch of models into one folder, for a
//! SageMaker multi-model endpoint or a fleet of CI jobs.
//!
//! [`plan`] turns the inputs (model files, folders of models, globs the
//! shell did not expand) into a list of models with unique archive names
//! ([`name_for`], [`sanitize_name`]); two inputs that map to the same name
//! are refused before any work. [`run`] packs every model exactly as
//! [`crate::pack::pack`] would (the archives and manifests are
//! byte-identical to single runs with the same output file name) into
//! `<out_dir>/<name>.tar.gz` and `<name>.tar.gz.manifest.json`, on a bounded
//! pool of worker threads, and writes one combined `SHA256SUMS` and an index
//! (`index.json`, schema [`INDEX_SCHEMA`]) beside them. With the `s3`
//! feature it also uploads each archive and its manifest as soon as it is
//! written, skipping objects that already hold the same bytes.
//!
//! A rerun redoes only what is missing or changed: a model whose manifest
//! beside its archive records the same source digest and the same options,
//! and whose archive still has the digest the manifest records, is reported
//! as [`Status::Unchanged`] and not rewritten. The rules are in
//! `formats/batch.md`.
//!
//! Memory: the plan holds one path and one name per model; results are
//! streamed to the index and `SHA256SUMS` in plan order through a reorder
//! window of a few entries per worker, so nothing grows with the size of
//! the archives, and only one small record per model (its name and two
//! digests, for `SHA256SUMS`) stays until the end.
//!
//! ```no_run
//! use sm_pack::batch::{plan, run, BatchJob};
//! use sm_pack::pack::Family;
//! let mut job = BatchJob::new(Family::Xgboost, vec!["models/".into()], "dist")?;
//! job.container = Some("1.7-1".into());
//! job.keep_going = true;
//! let planned = plan(&job)?;
//! let outcome = run(&job, &planned, &mut |entry| println!("{} {:?}", entry.name, entry.status))?;
//! std::process::exit(outcome.summary.exit_code);
//! # Ok::<(), sm_pack::Error>(())
//! ```

use crate::archive::PackOptions;
use crate::error::{Error, Result};
use crate::manifest::{COMPRESSION_BACKEND, MANIFEST_SCHEMA, Tool, rfc3339_utc};
use crate::output::StagedFile;
use crate::pack::{Family, PackJob, pack_with, sidecar_paths};
use crate::report::{Finding, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Schema identifier of `index.json`.
pub const INDEX_SCHEMA: &str = "sm-pack.batch-index/v1";
/// File name of the index in the output folder.
pub const INDEX_FILE: &str = "index.json";
/// File name of the combined checksums in the output folder.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// Lock file that keeps two batches from writing into one folder at once.
pub const LOCK_FILE: &str = ".sm-pack-batch.lock";
/// Longest archive name (without `.tar.gz`), in bytes. Longer names are cut
/// and end in `-` and 8 hex digits of the SHA-256 of the full name, so that
/// `<name>.tar.gz.manifest.json` and its temporary file stay within the 255
/// bytes most file systems allow per file name.
pub const MAX_NAME_BYTES: usize = 200;
/// Extensions [`name_for`] removes from a model file's name (compared
/// without regard to case).
pub const MODEL_EXTENSIONS: &[&str] = &[
    "json", "ubj", "ubjson", "bin", "model", "pkl", "pickle", "ftz", "xgb",
];
/// Default number of archives uploaded at the same time.
pub const DEFAULT_UPLOAD_JOBS: usize = 8;

/// Largest manifest read back when deciding whether a model is unchanged.
const MAX_MANIFEST_BYTES: u64 = 16 << 20;
/// Bytes read from a file in a folder to decide whether it is a model.
const SNIFF_BYTES: usize = 64 << 10;
/// Results kept for in-order output, per worker.
const WINDOW_PER_WORKER: usize = 4;

/// Where and how a batch uploads (feature `s3`).
#[cfg(feature = "s3")]
#[derive(Debug, Clone)]
pub struct BatchUpload {
    /// The prefix (`s3://bucket/prefix/`, ending in `/`): each archive goes to
    /// `<prefix><name>.tar.gz`, its manifest beside it, and one merged
    /// `SHA256SUMS` to `<prefix>SHA256SUMS`.
    pub dest: crate::s3::S3Uri,
    /// Connection settings.
    pub settings: crate::s3::S3Settings,
    /// Transfer options of each archive (part size, parts in flight, force, cancel).
    pub transfer: crate::s3::TransferOptions,
    /// Archives uploaded at the same time (0 = [`DEFAULT_UPLOAD_JOBS`]).
    pub jobs: usize,
}

/// A request to pack many models.
#[derive(Debug, Clone)]
pub struct BatchJob {
    /// Container family of every model.
    pub family: Family,
    /// Model files, folders (their model files) and glob patterns.
    pub inputs: Vec<PathBuf>,
    /// Take model files in subfolders of folder inputs too.
    pub recursive: bool,
    /// The output folder (created when missing).
    pub out_dir: PathBuf,
    /// Container tag to judge (and for XGBoost convert) every model for.
    pub container: Option<String>,
    /// XGBoost: never convert; a model the tag would not load fails.
    pub no_convert: bool,
    /// Archive options. `threads` is the total number of compression
    /// threads (0 = one per CPU), shared among the packs that run at once;
    /// `overwrite` lets the batch replace files it did not write.
    pub options: PackOptions,
    /// fastText validation options.
    pub fasttext: crate::fasttext::Options,
    /// Models packed at the same time (0 = one per CPU).
    pub jobs: usize,
    /// Finish the batch after a model fails, instead of stopping.
    pub keep_going: bool,
    /// Upload each archive after it is written.
    #[cfg(feature = "s3")]
    pub upload: Option<BatchUpload>,
}

impl BatchJob {
    /// A job with default options (entry mtime from `SOURCE_DATE_EPOCH` when set).
    pub fn new(family: Family, inputs: Vec<PathBuf>, out_dir: impl Into<PathBuf>) -> Result<Self> {
        Ok(BatchJob {
            family,
            inputs,
            recursive: false,
            out_dir: out_dir.into(),
            container: None,
            no_convert: false,
            options: PackOptions::from_env()?,
            fasttext: crate::fasttext::Options::default(),
            jobs: 0,
            keep_going: false,
            #[cfg(feature = "s3")]
            upload: None,
        })
    }

    fn cancelled(&self) -> bool {
        self.options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// One model of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedModel {
    /// Archive name without `.tar.gz` (the multi-model endpoint's
    /// `TargetModel` is `<name>.tar.gz`).
    pub name: String,
    /// The model file.
    pub source: PathBuf,
    /// `<name>.tar.gz`.
    pub archive: String,
}

/// A file found in a folder that is not taken as a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The file.
    pub path: String,
    /// Why it is not a model.
    pub reason: String,
}

/// What [`plan`] found: the models in archive-name order, and the files in
/// the input folders that are not models of the family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The models, sorted by archive name.
    pub models: Vec<PlannedModel>,
    /// Files (and subfolders) of folder inputs that were passed over.
    pub skipped: Vec<Skipped>,
}

/// Removes a model extension ([`MODEL_EXTENSIONS`]) from a file name.
fn strip_model_extension(file: &str) -> &str {
    match file.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty() && MODEL_EXTENSIONS.iter().any(|m| m.eq_ignore_ascii_case(ext)) =>
        {
            stem
        }
        _ => file,
    }
}

/// Makes `raw` an archive name that S3 keys, file systems and the
/// multi-model endpoint's `TargetModel` all accept as is: only ASCII letters,
/// digits, `.`, `_` and `-` are kept, every run of other characters becomes
/// one `_`, leading `.` and `-` are removed (no hidden files, nothing that
/// reads as a command-line option), and a name longer than
/// [`MAX_NAME_BYTES`] is cut and given a digest suffix. `None` when nothing
/// is left.
///
/// ```
/// use sm_pack::batch::sanitize_name;
/// assert_eq!(sanitize_name("churn eu (v2)").as_deref(), Some("churn_eu_v2_"));
/// assert_eq!(sanitize_name("Kunde-Ä.1").as_deref(), Some("Kunde-_.1"));
/// assert_eq!(sanitize_name(".hidden").as_deref(), Some("hidden"));
/// assert_eq!(sanitize_name("--"), None);
/// ```
pub fn sanitize_name(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut replaced = false;
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            replaced = false;
        } else if !replaced {
            out.push('_');
            replaced = true;
        }
    }
    let mut name = out.trim_start_matches(['.', '-']).to_string();
    if name.is_empty() {
        return None;
    }
    if name.len() > MAX_NAME_BYTES {
        let digest = crate::hash::sha256_hex(raw.as_bytes());
        name.truncate(MAX_NAME_BYTES - 9);
        name.push('-');
        name.push_str(&digest[..8]);
    }
    Some(name)
}

/// The archive name for a model at `relative` below its base folder: the
/// model extension of the file name is removed, folders are joined with
/// `-`, and the result is [`sanitize_name`]d.
///
/// ```
/// use sm_pack::batch::name_for;
/// use std::path::Path;
/// assert_eq!(name_for(Path::new("churn-eu.json")).as_deref(), Some("churn-eu"));
/// assert_eq!(name_for(Path::new("eu/xgboost-model")).as_deref(), Some("eu-xgboost-model"));
/// assert_eq!(name_for(Path::new("model.v2")).as_deref(), Some("model.v2"));
/// ```
pub fn name_for(relative: &Path) -> Option<String> {
    let mut parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    let last = parts.pop()?;
    parts.push(strip_model_extension(&last).to_string());
    sanitize_name(&parts.join("-"))
}

/// Whether the first bytes of a file in a folder make it a model of the
/// family; `Err` says what it is instead.
fn sniff_model(family: Family, path: &Path) -> std::result::Result<(), String> {
    let mut head = Vec::with_capacity(4096);
    let read =
        std::fs::File::open(path).and_then(|f| f.take(SNIFF_BYTES as u64).read_to_end(&mut head));
    if read.is_err() {
        // Taken, so that packing reports why it cannot be read.
        return Ok(());
    }
    match family {
        Family::Xgboost => match crate::xgboost::sniff::sniff(&head) {
            Ok(crate::xgboost::sniff::Kind::Json) => {
                // XGBoost writes "learner" as the first key, and so does
                // anything that re-serialises the document in order or sorted.
                let body = head[1..]
                    .iter()
                    .position(|c| !c.is_ascii_whitespace())
                    .map(|i| &head[1 + i..])
                    .unwrap_or_default();
                if body.starts_with(b"\"learner\"") {
                    Ok(())
                } else {
                    Err("JSON that is not an XGBoost model (no \"learner\" object)".into())
                }
            }
            Ok(_) => Ok(()),
            Err(_) => Err(format!(
                "not an XGBoost model: {}",
                crate::xgboost::sniff::describe(&head)
            )),
        },
        Family::Blazingtext => {
            if head.starts_with(&crate::fasttext::MAGIC.to_le_bytes()) {
                Ok(())
            } else if head.is_empty() {
                Err("not a fastText model: an empty file".into())
            } else {
                Err("not a fastText model (no fastText magic number)".into())
            }
        }
    }
}

struct Candidate {
    source: PathBuf,
    relative: PathBuf,
}

fn is_glob(path: &Path) -> bool {
    path.to_string_lossy().contains(['*', '?', '['])
}

/// The leading folders of a glob pattern that hold no wildcard.
fn glob_base(pattern: &Path) -> PathBuf {
    let mut base = PathBuf::new();
    for c in pattern.components() {
        if c.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        base.push(c);
    }
    base
}

fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base).unwrap_or(path).to_path_buf()
}

struct Walker<'a> {
    job: &'a BatchJob,
    out_dir: Option<PathBuf>,
    found: Vec<Candidate>,
    skipped: Vec<Skipped>,
}

impl Walker<'_> {
    fn skip(&mut self, path: &Path, reason: &str) {
        self.skipped.push(Skipped {
            path: path.to_string_lossy().into_owned(),
            reason: reason.into(),
        });
    }

    fn folder(&mut self, dir: &Path, base: &Path) -> Result<()> {
        let read = |e| Error::io("read the folder", dir, e);
        let mut entries = Vec::new();
        for e in std::fs::read_dir(dir).map_err(read)? {
            entries.push(e.map_err(read)?);
        }
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if e.file_name().as_encoded_bytes().first() == Some(&b'.') {
                continue;
            }
            let path = e.path();
            let ft = e
                .file_type()
                .map_err(|err| Error::io("inspect", &path, err))?;
            if ft.is_dir() {
                let canon = std::fs::canonicalize(&path).ok();
                if canon.is_some() && canon == self.out_dir {
                    continue;
                }
                if self.job.recursive {
                    self.folder(&path, base)?;
                } else {
                    self.skip(
                        &path,
                        "a folder (pass --recursive to take the models in it)",
                    );
                }
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(m) => m,
                Err(_) => {
                    self.skip(&path, "a broken symbolic link");
                    continue;
                }
            };
            if meta.is_dir() {
                self.skip(&path, "a symbolic link to a folder (not followed)");
            } else if !meta.is_file() {
                self.skip(&path, "not a regular file");
            } else {
                match sniff_model(self.job.family, &path) {
                    Ok(()) => self.found.push(Candidate {
                        relative: relative_to(&path, base),
                        source: path,
                    }),
                    Err(reason) => self.skip(&path, &reason),
                }
            }
        }
        Ok(())
    }

    fn glob(&mut self, pattern: &Path) -> Result<()> {
        let text = pattern.to_str().ok_or_else(|| Error::Usage {
            message: format!("{}: a pattern must be UTF-8", pattern.display()),
        })?;
        let opts = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: true,
            require_literal_leading_dot: true,
        };
        let paths = glob::glob_with(text, opts).map_err(|e| Error::Usage {
            message: format!("{text}: not a valid pattern ({e})"),
        })?;
        let base = glob_base(pattern);
        let mut matched = 0usize;
        for p in paths {
            let p = p.map_err(|e| {
                let path = e.path().to_path_buf();
                Error::io("read", path, e.into())
            })?;
            matched += 1;
            let meta = std::fs::metadata(&p).map_err(|e| Error::io("read", &p, e))?;
            if meta.is_dir() {
                self.folder(&p, &base)?;
            } else {
                self.found.push(Candidate {
                    relative: relative_to(&p, &base),
                    source: p,
                });
            }
        }
        if matched == 0 {
            return Err(Error::Usage {
                message: format!("no file matches {text}"),
            });
        }
        Ok(())
    }
}

/// Resolves the inputs of `job` into models with unique archive names.
///
/// A file is taken as given (and fails later if it is not a valid model); a
/// folder contributes the files whose first bytes are a model of the family
/// (hidden files are ignored, other files are listed in [`Plan::skipped`]);
/// a path that does not exist and holds `*`, `?` or `[` is a glob pattern
/// (`*` does not cross `/`, `**` does). The name of each model comes from
/// [`name_for`] of its path below its base: the file's own folder for a
/// file, the folder for a folder input, the fixed leading folders for a
/// glob. Two models whose names are equal regardless of letter case are an
/// [`Error::Usage`] naming both inputs, before any work.
pub fn plan(job: &BatchJob) -> Result<Plan> {
    if job.inputs.is_empty() {
        return Err(Error::Usage {
            message: "no models given".into(),
        });
    }
    let mut w = Walker {
        job,
        out_dir: std::fs::canonicalize(&job.out_dir).ok(),
        found: Vec::new(),
        skipped: Vec::new(),
    };
    for input in &job.inputs {
        match std::fs::metadata(input) {
            Ok(m) if m.is_dir() => w.folder(input, input)?,
            Ok(_) => w.found.push(Candidate {
                source: input.clone(),
                relative: PathBuf::from(input.file_name().unwrap_or(input.as_os_str())),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && is_glob(input) => {
                w.glob(input)?
            }
            Err(e) => return Err(Error::io("read", input, e)),
        }
    }
    let Walker { found, skipped, .. } = w;

    // The same file named twice (a file and its folder, overlapping globs) is one model.
    let mut seen = HashSet::new();
    let mut models: Vec<PlannedModel> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    for c in found {
        let identity = match (c.source.parent(), c.source.file_name()) {
            (Some(dir), Some(file)) => {
                let dir = if dir.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    dir
                };
                std::fs::canonicalize(dir)
                    .map(|d| d.join(file))
                    .unwrap_or_else(|_| c.source.clone())
            }
            _ => c.source.clone(),
        };
        if !seen.insert(identity) {
            continue;
        }
        let Some(name) = name_for(&c.relative) else {
            problems.push(format!(
                "{}: no archive name can be made from its file name (it has no letter, digit, '.', '_' or '-' left); rename it",
                c.source.display()
            ));
            continue;
        };
        let key = name.to_ascii_lowercase();
        if let Some(&first) = by_key.get(&key) {
            let other: &PlannedModel = &models[first];
            problems.push(format!(
                "{} and {} both map to the archive name {}.tar.gz{}",
                other.source.display(),
                c.source.display(),
                name,
                if other.name != name {
                    format!(
                        " (as {}.tar.gz; names must differ in more than letter case)",
                        other.name
                    )
                } else {
                    String::new()
                }
            ));
            continue;
        }
        by_key.insert(key, models.len());
        models.push(PlannedModel {
            archive: format!("{name}.tar.gz"),
            name,
            source: c.source,
        });
    }
    if !problems.is_empty() {
        let n = problems.len();
        let mut message = format!(
            "{n} name collision{} refused before packing anything:",
            if n == 1 { "" } else { "s" }
        );
        for p in problems.iter().take(20) {
            message.push_str("\n  ");
            message.push_str(p);
        }
        if n > 20 {
            message.push_str(&format!("\n  … and {} more", n - 20));
        }
        message.push_str(
            "\nrename the files, or pass their parent folder with --recursive so that names include the subfolder",
        );
        return Err(Error::Usage { message });
    }
    if models.is_empty() {
        let mut message = format!(
            "no {} models found in {}",
            match job.family {
                Family::Xgboost => "XGBoost",
                Family::Blazingtext => "fastText",
            },
            job.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !skipped.is_empty() {
            message.push_str(&format!(
                " ({} files passed over, e.g. {}: {})",
                skipped.len(),
                skipped[0].path,
                skipped[0].reason
            ));
        }
        return Err(Error::Usage { message });
    }
    models.sort_by(|a, b| a.archive.cmp(&b.archive));
    Ok(Plan { models, skipped })
}

/// What happened to one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Status {
    /// Packed (new, or redone because something changed: see [`ModelEntry::reason`]).
    Packed,
    /// Its archive and manifest were already there for the same source and
    /// options; nothing was rewritten.
    Unchanged,
    /// The model failed validation or the container check (exit code 1);
    /// nothing of it is left in the output folder.
    Failed,
    /// An I/O, upload or usage error (exit code 2); see [`ModelEntry::message`].
    Error,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
    /// Not started: the batch stopped at an earlier failure (no `keep_going`)
    /// or was interrupted.
    NotRun,
}

/// The archive of a model, in the output folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDigest {
    /// File name in the output folder.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// The model file as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceDigest {
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256.
    pub sha256: String,
}

/// The conversion applied for the container, in short (the manifest has the
/// full record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversionSummary {
    /// What the file as given is, e.g. `UBJSON model (xgboost 3.2.0)`.
    pub from: String,
    /// What was packed, e.g. `JSON as xgboost 1.3 writes it`.
    pub to: String,
}

/// Where a model's archive went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadEntry {
    /// `uploaded`, or `already-uploaded` (the same SHA-256 was at the key; nothing was sent).
    pub status: String,
    /// `s3://bucket/key` of the archive.
    pub uri: String,
    /// ETag of the archive object.
    pub etag: Option<String>,
    /// Version id, when the bucket is versioned.
    pub version_id: Option<String>,
    /// S3's SHA-256 checksum of the archive object.
    pub checksum_sha256: Option<String>,
    /// The manifest beside it: `uploaded` or `already-uploaded`.
    pub manifest: Option<String>,
}

/// One model's result, as listed in `index.json` and the `--json` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelEntry {
    /// Archive name without `.tar.gz`.
    pub name: String,
    /// The model file.
    pub source: String,
    /// What happened.
    pub status: Status,
    /// Why a model was packed rather than left unchanged (`new`, `source
    /// changed`, ...), or why it did not run.
    pub reason: Option<String>,
    /// 0 packed or unchanged, 1 failed, 2 error, 130 interrupted (0 for not-run).
    pub exit_code: i32,
    /// The archive (present for packed and unchanged models).
    pub archive: Option<FileDigest>,
    /// `<archive>.manifest.json` (its digest after any upload record was added).
    pub manifest: Option<FileDigest>,
    /// The model file as given.
    pub source_digest: Option<SourceDigest>,
    /// The archive member (`xgboost-model` or `model.bin`).
    pub member: Option<FileDigest>,
    /// Validation verdict: `pass`, `pass-with-warnings` or `fail`.
    pub verdict: Option<String>,
    /// Container tag judged against.
    pub container: Option<String>,
    /// The conversion made for the container, if any.
    pub conversion: Option<ConversionSummary>,
    /// Warnings and errors (info findings are in the manifest only).
    pub findings: Vec<Finding>,
    /// What went wrong (failed, error, interrupted).
    pub message: Option<String>,
    /// What to do about it.
    pub hint: Option<String>,
    /// A failed model's archive and manifest from an earlier run were removed.
    pub removed_stale: bool,
    /// The upload, when one was asked for and succeeded.
    pub upload: Option<UploadEntry>,
}

impl ModelEntry {
    fn new(m: &PlannedModel) -> Self {
        ModelEntry {
            name: m.name.clone(),
            source: m.source.to_string_lossy().into_owned(),
            status: Status::NotRun,
            reason: None,
            exit_code: 0,
            archive: None,
            manifest: None,
            source_digest: None,
            member: None,
            verdict: None,
            container: None,
            conversion: None,
            findings: Vec::new(),
            message: None,
            hint: None,
            removed_stale: false,
            upload: None,
        }
    }

    fn error(mut self, e: &Error) -> Self {
        self.status = match e {
            Error::Interrupted => Status::Interrupted,
            e if e.is_validation_failure() => Status::Failed,
            _ => Status::Error,
        };
        self.exit_code = match e {
            Error::Interrupted => 130,
            e => e.exit_code(),
        };
        self.message = Some(error_text(e));
        self.hint = e.hint().map(str::to_string);
        self
    }

    /// True for packed and unchanged models (their archive is valid and listed).
    pub fn is_ok(&self) -> bool {
        matches!(self.status, Status::Packed | Status::Unchanged)
    }

    /// Fills the digests and verdict from a manifest document.
    fn fill_from_manifest(&mut self, doc: &Value, archive_file: &str) {
        let s = |p: &str| doc.pointer(p).and_then(Value::as_str).map(str::to_string);
        let n = |p: &str| doc.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        self.archive = Some(FileDigest {
            file: archive_file.into(),
            size: n("/archive/size"),
            sha256: s("/archive/sha256").unwrap_or_default(),
        });
        self.source_digest = Some(SourceDigest {
            size: n("/source/size"),
            sha256: s("/source/sha256").unwrap_or_default(),
        });
        self.member = Some(FileDigest {
            file: s("/members/0/name").unwrap_or_default(),
            size: n("/members/0/size"),
            sha256: s("/members/0/sha256").unwrap_or_default(),
        });
        self.verdict = s("/validation/verdict");
        self.container = s("/target/container");
        self.conversion = doc.get("conversion").filter(|c| !c.is_null()).map(|c| {
            let from = c.pointer("/from/encoding").and_then(Value::as_str);
            let producer = c.pointer("/from/producer").and_then(Value::as_str);
            ConversionSummary {
                from: match (from, producer) {
                    (Some(f), Some(p)) => format!("{f} (xgboost {p})"),
                    (Some(f), None) => f.to_string(),
                    _ => "the model as given".into(),
                },
                to: c
                    .pointer("/to/description")
                    .and_then(Value::as_str)
                    .unwrap_or("converted")
                    .to_string(),
            }
        });
        self.findings = doc
            .pointer("/validation/findings")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(finding_from_json)
                    .filter(|f| f.severity != Severity::Info)
                    .collect()
            })
            .unwrap_or_default();
    }
}

fn finding_from_json(v: &Value) -> Option<Finding> {
    let severity = match v.get("severity")?.as_str()? {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    };
    let mut f = Finding::new(
        v.get("code")?.as_str()?,
        severity,
        v.get("message")?.as_str()?,
    );
    f.hint = v.get("hint").and_then(Value::as_str).map(str::to_string);
    Some(f)
}

/// An error and its causes on one line (library errors include their source).
fn error_text(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let t = c.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cause = c.source();
    }
    out
}

/// Counts over a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Models in the plan.
    pub models: usize,
    /// Packed (new or redone).
    pub packed: usize,
    /// Left as they were.
    pub unchanged: usize,
    /// Failed validation or the container check.
    pub failed: usize,
    /// I/O, upload or usage errors.
    pub errors: usize,
    /// Interrupted.
    pub interrupted: usize,
    /// Not started.
    pub not_run: usize,
    /// Packed or unchanged models whose archive holds a converted model.
    pub converted: usize,
    /// Archives sent to S3.
    pub uploaded: usize,
    /// Archives already at their key with the same SHA-256 (nothing sent).
    pub already_uploaded: usize,
    /// Files in the input folders that are not models.
    pub skipped_files: usize,
    /// Leftover temporary files of an interrupted run that were removed.
    pub removed_temp_files: usize,
    /// 0 every model packed or unchanged, 1 a model failed validation, 2 an
    /// I/O, upload or usage error, 130 interrupted.
    pub exit_code: i32,
    /// Every model ran (none interrupted or left out).
    pub complete: bool,
}

impl Summary {
    fn count(&mut self, e: &ModelEntry) {
        match e.status {
            Status::Packed => self.packed += 1,
            Status::Unchanged => self.unchanged += 1,
            Status::Failed => self.failed += 1,
            Status::Error => self.errors += 1,
            Status::Interrupted => self.interrupted += 1,
            Status::NotRun => self.not_run += 1,
        }
        if e.is_ok() && e.conversion.is_some() {
            self.converted += 1;
        }
        match e.upload.as_ref().map(|u| u.status.as_str()) {
            Some("uploaded") => self.uploaded += 1,
            Some(_) => self.already_uploaded += 1,
            None => {}
        }
    }

    fn finish(&mut self, extra_error: bool, cancelled: bool) {
        self.exit_code = if self.interrupted > 0 || cancelled {
            130
        } else if self.errors > 0 || extra_error {
            2
        } else if self.failed > 0 {
            1
        } else {
            0
        };
        self.complete = self.interrupted == 0 && self.not_run == 0;
    }
}

/// What a batch did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    /// Counts and the exit code.
    pub summary: Summary,
    /// `index.json`.
    pub index: PathBuf,
    /// `SHA256SUMS`.
    pub sha256sums: PathBuf,
    /// The `SHA256SUMS` object merged at the upload prefix, when anything was uploaded.
    pub remote_sha256sums: Option<UploadEntry>,
    /// Errors of the batch itself that did not stop it (e.g. the remote
    /// `SHA256SUMS` could not be updated); they make the exit code 2.
    pub errors: Vec<String>,
}

/// A held `flock` on the output folder's lock file.
struct DirLock {
    _file: std::fs::File,
}

fn lock_dir(dir: &Path) -> Result<DirLock> {
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io("create", &path, e))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        // Some network file systems have no flock: go on without the lock there.
        if matches!(
            err.raw_os_error(),
            Some(libc::ENOLCK) | Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
        ) {
            return Ok(DirLock { _file: file });
        }
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Err(Error::Usage {
                message: format!(
                    "another sm-pack batch is writing to {} (it holds {}); wait for it to finish",
                    dir.display(),
                    LOCK_FILE
                ),
            });
        }
        return Err(Error::io("lock", &path, err));
    }
    Ok(DirLock { _file: file })
}

/// Removes temporary files an interrupted run left for the outputs of this plan.
fn remove_leftovers(dir: &Path, plan: &Plan) -> Result<usize> {
    let mut ours: HashSet<String> = HashSet::with_capacity(plan.models.len() * 2 + 2);
    for m in &plan.models {
        ours.insert(format!("{}.manifest.json", m.archive));
        ours.insert(m.archive.clone());
    }
    ours.insert(SUMS_FILE.into());
    ours.insert(INDEX_FILE.into());
    let mut removed = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io("read the folder", dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // StagedFile names: ".<destination>.<6 random characters>.sm-pack-tmp".
        let Some(inner) = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".sm-pack-tmp"))
        else {
            continue;
        };
        let Some((dest, _random)) = inner.rsplit_once('.') else {
            continue;
        };
        if ours.contains(dest) && e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(e.path()).map_err(|err| Error::io("remove", e.path(), err))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// The archive names an earlier `index.json` and `SHA256SUMS` in the folder
/// list (evidence that an earlier sm-pack run wrote them).
fn earlier_names(dir: &Path) -> HashSet<String> {
    let mut names = old_index_names(dir);
    if let Ok(text) = std::fs::read_to_string(dir.join(SUMS_FILE)) {
        for l in text.lines() {
            if let Some(name) = l
                .split_at_checked(64)
                .and_then(|(_, rest)| rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")))
            {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// The archive names an earlier `index.json` in the folder lists.
fn old_index_names(dir: &Path) -> HashSet<String> {
    #[derive(Deserialize)]
    struct OldArchive {
        file: String,
    }
    #[derive(Deserialize)]
    struct OldEntry {
        archive: Option<OldArchive>,
    }
    #[derive(Deserialize)]
    struct OldIndex {
        schema: String,
        models: Vec<OldEntry>,
    }
    let Ok(f) = std::fs::File::open(dir.join(INDEX_FILE)) else {
        return HashSet::new();
    };
    match serde_json::from_reader::<_, OldIndex>(std::io::BufReader::new(f)) {
        Ok(i) if i.schema == INDEX_SCHEMA => i
            .models
            .into_iter()
            .filter_map(|m| m.archive.map(|a| a.file))
            .collect(),
        _ => HashSet::new(),
    }
}

/// Refuses an `index.json` or `SHA256SUMS` in the folder that sm-pack would
/// not rewrite (not an sm-pack batch index; not in coreutils format).
fn check_folder_files(dir: &Path, force: bool) -> Result<()> {
    let index = dir.join(INDEX_FILE);
    if let Ok(f) = std::fs::File::open(&index) {
        let mut head = Vec::new();
        let _ = f.take(4096).read_to_end(&mut head);
        let text = String::from_utf8_lossy(&head);
        if !force && !text.contains(&format!("\"schema\": \"{INDEX_SCHEMA}\"")) {
            return Err(Error::Input {
                path: index,
                message: "exists and is not an sm-pack batch index".into(),
                hint: Some("move it away, choose another --out-dir, or pass --force".into()),
            });
        }
    }
    let sums = dir.join(SUMS_FILE);
    match std::fs::read(&sums) {
        Ok(bytes) => {
            if crate::manifest::merge_sha256sums(&String::from_utf8_lossy(&bytes), &[]).is_none() {
                return Err(Error::Input {
                    path: sums,
                    message: "exists but is not a SHA256SUMS file in coreutils format".into(),
                    hint: Some("move it away or choose another --out-dir".into()),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("read", &sums, e)),
    }
    Ok(())
}

/// SHA-256 and size of a file, honouring the cancel flag.
fn hash_file(path: &Path, cancel: Option<&AtomicBool>) -> Result<(String, u64)> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut n = 0u64;
    loop {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(Error::Interrupted);
        }
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => {
                h.update(&buf[..got]);
                n += got as u64;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io("read", path, e)),
        }
    }
    Ok((hex::encode(h.finalize()), n))
}

/// A manifest beside an archive, when it is one sm-pack wrote for that archive.
fn read_our_manifest(path: &Path, archive_file: &str) -> Option<Value> {
    let f = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    f.take(MAX_MANIFEST_BYTES).read_to_end(&mut bytes).ok()?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    let schema = doc.get("schema")?.as_str()?;
    let name = doc.pointer("/archive/name")?.as_str()?;
    (schema == MANIFEST_SCHEMA && name == archive_file).then_some(doc)
}

enum Previous {
    /// Nothing there.
    New,
    /// Same source and options, archive intact.
    Unchanged(Value),
    /// It must be packed, for this reason; `ours` when files of an earlier
    /// run are there (removed if the model now fails validation).
    Redo { why: String, ours: bool },
    /// A file at an output path that no sm-pack batch wrote.
    Foreign(PathBuf),
}

fn exists(path: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspect", path, e)),
    }
}

#[cfg(feature = "s3")]
struct Uploader {
    client: std::sync::Arc<crate::s3::S3Client>,
    dest: crate::s3::S3Uri,
    transfer: crate::s3::TransferOptions,
}

/// A counting semaphore for the CPU-bound part of each model.
struct Permits {
    free: Mutex<usize>,
    cv: Condvar,
}

impl Permits {
    fn acquire(&self) -> PermitGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.cv.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        PermitGuard { permits: self }
    }
}

struct PermitGuard<'a> {
    permits: &'a Permits,
}

impl Drop for PermitGuard<'_> {
    fn drop(&mut self) {
        let mut free = self.permits.free.lock().unwrap_or_else(|p| p.into_inner());
        *free += 1;
        self.permits.cv.notify_one();
    }
}

/// What every worker shares.
struct Worker<'a> {
    job: &'a BatchJob,
    out_dir: &'a Path,
    pack_threads: usize,
    created: Option<String>,
    permits: Permits,
    earlier: OnceLock<HashSet<String>>,
    #[cfg(feature = "s3")]
    uploader: Option<Uploader>,
}

impl Worker<'_> {
    fn listed_earlier(&self, archive: &str) -> bool {
        self.earlier
            .get_or_init(|| earlier_names(self.out_dir))
            .contains(archive)
    }

    /// Why a manifest's recorded options differ from this batch's, if they do.
    fn options_differ(&self, doc: &Value) -> Option<String> {
        let s = |p: &str| doc.pointer(p).and_then(Value::as_str);
        let n = |p: &str| doc.pointer(p).and_then(Value::as_u64);
        let job = self.job;
        let version = Tool::default().version;
        if s("/tool/version") != Some(version.as_str()) {
            return Some(format!(
                "written by sm-pack {}",
                s("/tool/version").unwrap_or("(unknown version)")
            ));
        }
        if s("/target/family") != Some(job.family.as_str()) {
            return Some("container family changed".into());
        }
        let container = s("/target/container");
        if container != job.container.as_deref() {
            return Some(format!(
                "container changed ({} -> {})",
                container.unwrap_or("none"),
                job.container.as_deref().unwrap_or("none")
            ));
        }
        if n("/compression/level") != Some(u64::from(job.options.level)) {
            return Some("gzip level changed".into());
        }
        if n("/compression/block_size") != Some(crate::archive::pgzip::BLOCK_SIZE as u64)
            || s("/compression/backend") != Some(COMPRESSION_BACKEND)
        {
            return Some("compression changed".into());
        }
        if n("/tar/mtime") != Some(job.options.mtime) || s("/created") != self.created.as_deref() {
            return Some("SOURCE_DATE_EPOCH changed".into());
        }
        let members = doc.get("members").and_then(Value::as_array);
        if members.map(Vec::len) != Some(1)
            || s("/members/0/name") != Some(job.family.member_name())
        {
            return Some("archive layout changed".into());
        }
        if job.no_convert && doc.get("conversion").is_some_and(|c| !c.is_null()) {
            return Some("--no-convert, and the archive holds a converted model".into());
        }
        if s("/validation/verdict") == Some("fail") {
            return Some("the manifest records a failed validation".into());
        }
        let quantized = doc
            .pointer("/validation/findings")
            .and_then(Value::as_array)
            .is_some_and(|l| {
                l.iter().any(|f| {
                    f.get("code").and_then(Value::as_str)
                        == Some(crate::fasttext::codes::BT_QUANTIZED)
                })
            });
        if quantized && !job.fasttext.allow_quantized {
            return Some("quantized model, and no --allow-quantized".into());
        }
        None
    }

    fn previous(&self, m: &PlannedModel, archive: &Path, manifest: &Path) -> Result<Previous> {
        let has_archive = exists(archive)?;
        let has_manifest = exists(manifest)?;
        if !has_archive && !has_manifest {
            return Ok(Previous::New);
        }
        let doc = match has_manifest {
            true => read_our_manifest(manifest, &m.archive),
            false => None,
        };
        if doc.is_none() && !self.job.options.overwrite && !self.listed_earlier(&m.archive) {
            let path = if has_archive { archive } else { manifest };
            return Ok(Previous::Foreign(path.to_path_buf()));
        }
        let ours = doc.is_some() || self.listed_earlier(&m.archive);
        let redo = |why: &str| {
            Ok(Previous::Redo {
                why: why.into(),
                ours,
            })
        };
        let Some(doc) = doc else {
            return redo(match has_manifest {
                true => "manifest unreadable",
                false => "manifest missing",
            });
        };
        if !has_archive {
            return redo("archive missing");
        }
        if let Some(why) = self.options_differ(&doc) {
            return redo(&why);
        }
        let link = std::fs::symlink_metadata(&m.source)
            .map_err(|e| Error::io("read", &m.source, e))?
            .file_type()
            .is_symlink();
        if link && !self.job.options.follow_symlinks {
            return redo("the source is a symbolic link");
        }
        let cancel = self.job.options.cancel.as_deref();
        let (sha, size) = hash_file(&m.source, cancel)?;
        let recorded = |p: &str| doc.pointer(p).and_then(Value::as_str);
        if recorded("/source/sha256") != Some(sha.as_str())
            || doc.pointer("/source/size").and_then(Value::as_u64) != Some(size)
        {
            return redo("source changed");
        }
        let (sha, size) = hash_file(archive, cancel)?;
        if recorded("/archive/sha256") != Some(sha.as_str())
            || doc.pointer("/archive/size").and_then(Value::as_u64) != Some(size)
        {
            return redo("archive does not match its manifest");
        }
        Ok(Previous::Unchanged(doc))
    }

    /// Removes a model's archive and manifest (they are ours: [`Worker::previous`] said so).
    fn remove_outputs(archive: &Path, manifest: &Path) -> bool {
        let mut removed = false;
        for p in [archive, manifest] {
            if std::fs::remove_file(p).is_ok() {
                removed = true;
            }
        }
        removed
    }

    /// Validates and packs one model (the CPU-bound part).
    fn pack_one(&self, m: &PlannedModel, archive: &Path, manifest: &Path) -> ModelEntry {
        let mut entry = ModelEntry::new(m);
        // Files of an earlier run are there (ours to remove if the model now fails).
        let mut stale = false;
        let previous = match self.previous(m, archive, manifest) {
            Ok(p) => p,
            Err(e) => return entry.error(&e),
        };
        match previous {
            Previous::Unchanged(doc) => {
                entry.status = Status::Unchanged;
                entry.fill_from_manifest(&doc, &m.archive);
                return entry;
            }
            Previous::Foreign(path) => {
                let mut e = entry.error(&Error::OutputExists { path });
                e.message = Some(format!(
                    "{} (no sm-pack manifest or batch index says sm-pack wrote it)",
                    e.message.unwrap_or_default()
                ));
                e.hint = Some("move it away, or pass --force to replace it".into());
                return e;
            }
            Previous::New => entry.reason = Some("new".into()),
            Previous::Redo { why, ours } => {
                entry.reason = Some(why);
                stale = ours;
            }
        }
        let job = self.job;
        let mut pj = match PackJob::new(job.family, &m.source, archive) {
            Ok(j) => j,
            Err(e) => return entry.error(&e),
        };
        pj.container = job.container.clone();
        pj.no_convert = job.no_convert;
        pj.fasttext = job.fasttext.clone();
        pj.options = job.options.clone();
        pj.options.threads = self.pack_threads;
        pj.options.overwrite = true;
        pj.options.progress = None;
        pj.sha256sums = false;
        match pack_with(&pj, None) {
            Ok(o) if o.packed && o.exit_code() == 0 => {
                entry.status = Status::Packed;
                match o.manifest.as_ref().map(serde_json::to_value) {
                    Some(Ok(doc)) => entry.fill_from_manifest(&doc, &m.archive),
                    _ => {
                        return entry.error(&Error::Usage {
                            message: "internal error: no manifest after packing".into(),
                        });
                    }
                }
            }
            Ok(o) => {
                // Refused, or packed as given under --no-convert for a tag
                // that would not load it: nothing of this model stays.
                let removed = (stale || o.packed) && Self::remove_outputs(archive, manifest);
                entry.removed_stale = removed && stale;
                entry.status = Status::Failed;
                entry.exit_code = 1;
                entry.findings = o
                    .findings
                    .iter()
                    .filter(|f| f.severity != Severity::Info)
                    .cloned()
                    .collect();
                entry.container = job.container.clone();
                entry.message = Some(match &o.container {
                    Some(c) if c.failed => c.message.clone(),
                    _ => "validation found errors; not packed".into(),
                });
            }
            Err(e) => {
                entry = entry.error(&e);
                if e.is_validation_failure() && stale {
                    entry.removed_stale = Self::remove_outputs(archive, manifest);
                }
            }
        }
        entry
    }

    #[cfg(feature = "s3")]
    fn upload_one(&self, entry: &mut ModelEntry, archive: &Path) {
        let Some(up) = &self.uploader else { return };
        let status = |s: crate::s3::ObjectStatus| match s {
            crate::s3::ObjectStatus::Uploaded => "uploaded".to_string(),
            crate::s3::ObjectStatus::AlreadyUploaded => "already-uploaded".to_string(),
        };
        match crate::s3::upload_batch_archive(
            up.client.clone(),
            archive,
            &up.dest,
            up.transfer.clone(),
        ) {
            Ok(r) => {
                entry.upload = Some(UploadEntry {
                    status: status(r.archive.status),
                    uri: r.archive.record.uri.clone(),
                    etag: r.archive.record.etag.clone(),
                    version_id: r.archive.record.version_id.clone(),
                    checksum_sha256: r.archive.record.checksum_sha256.clone(),
                    manifest: r.sidecars.first().map(|s| status(s.status)),
                });
            }
            Err(e) => {
                entry.exit_code = e.exit_code();
                entry.status = match entry.exit_code {
                    130 => Status::Interrupted,
                    _ => Status::Error,
                };
                entry.message = Some(format!("upload: {}", error_text(&e)));
                entry.hint = None;
            }
        }
    }

    /// Everything for one model: pack (under a CPU permit), upload, digests.
    fn process(&self, m: &PlannedModel) -> ModelEntry {
        if self.job.cancelled() {
            let mut e = ModelEntry::new(m);
            e.status = Status::Interrupted;
            e.exit_code = 130;
            e.message = Some("interrupted before it started".into());
            return e;
        }
        let archive = self.out_dir.join(&m.archive);
        let (manifest, _) = sidecar_paths(&archive);
        let mut entry = {
            let _permit = self.permits.acquire();
            self.pack_one(m, &archive, &manifest)
        };
        if !entry.is_ok() {
            return entry;
        }
        #[cfg(feature = "s3")]
        self.upload_one(&mut entry, &archive);
        // The manifest's digest as it is now (an upload adds its record).
        match hash_file(&manifest, None) {
            Ok((sha256, size)) => {
                entry.manifest = Some(FileDigest {
                    file: format!("{}.manifest.json", m.archive),
                    size,
                    sha256,
                });
            }
            Err(e) => {
                let upload = entry.upload.take();
                entry = entry.error(&e);
                entry.upload = upload;
            }
        }
        entry
    }
}

/// The streamed `index.json`.
struct IndexWriter {
    staged: StagedFile,
    out: BufWriter<std::fs::File>,
    first: bool,
}

fn indent(json: &str, by: &str) -> String {
    json.lines()
        .map(|l| format!("{by}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl IndexWriter {
    fn new(dir: &Path, job: &BatchJob, plan: &Plan) -> Result<Self> {
        let staged = StagedFile::new(dir.join(INDEX_FILE))?;
        let out = BufWriter::new(staged.file()?);
        let mut w = IndexWriter {
            staged,
            out,
            first: true,
        };
        #[cfg(feature = "s3")]
        let upload = job.upload.as_ref().map(|u| u.dest.to_string());
        #[cfg(not(feature = "s3"))]
        let upload: Option<String> = None;
        let options = serde_json::json!({
            "container": job.container,
            "no_convert": job.no_convert,
            "level": job.options.level,
            "mtime": job.options.mtime,
            "follow_symlinks": job.options.follow_symlinks,
            "allow_quantized": job.fasttext.allow_quantized,
            "recursive": job.recursive,
            "keep_going": job.keep_going,
            "upload": upload,
        });
        let head = format!(
            "{{\n  \"schema\": \"{INDEX_SCHEMA}\",\n  \"tool\": {},\n  \"family\": {},\n  \"inputs\": {},\n  \"options\": {},\n  \"skipped\": {},\n  \"models\": [",
            serde_json::to_string(&Tool::default()).unwrap_or_default(),
            serde_json::to_string(&job.family).unwrap_or_default(),
            serde_json::to_string(
                &job.inputs
                    .iter()
                    .map(|p| p.to_string_lossy())
                    .collect::<Vec<_>>()
            )
            .unwrap_or_default(),
            indent(
                &serde_json::to_string_pretty(&options).unwrap_or_default(),
                "  "
            )
            .trim_start(),
            indent(
                &serde_json::to_string_pretty(&plan.skipped).unwrap_or_default(),
                "  "
            )
            .trim_start(),
        );
        w.write(head.as_bytes())?;
        Ok(w)
    }

    fn write(&mut self, b: &[u8]) -> Result<()> {
        let path = self.staged.temp_path().to_path_buf();
        self.out
            .write_all(b)
            .map_err(|e| Error::io("write", path, e))
    }

    fn entry(&mut self, e: &ModelEntry) -> Result<()> {
        let json = serde_json::to_string_pretty(e).unwrap_or_else(|_| "{}".into());
        let sep = if self.first { "\n" } else { ",\n" };
        self.first = false;
        let text = format!("{sep}{}", indent(&json, "    "));
        self.write(text.as_bytes())
    }

    fn finish(mut self, summary: &Summary, outcome_extra: &Value) -> Result<PathBuf> {
        let mut tail = String::from(if self.first { "],\n" } else { "\n  ],\n" });
        if let Some(obj) = outcome_extra.as_object() {
            for (k, v) in obj {
                tail.push_str(&format!(
                    "  \"{k}\": {},\n",
                    indent(&serde_json::to_string_pretty(v).unwrap_or_default(), "  ").trim_start()
                ));
            }
        }
        tail.push_str(&format!(
            "  \"summary\": {}\n}}\n",
            indent(
                &serde_json::to_string_pretty(summary).unwrap_or_default(),
                "  "
            )
            .trim_start()
        ));
        self.write(tail.as_bytes())?;
        let path = self.staged.temp_path().to_path_buf();
        self.out.flush().map_err(|e| Error::io("write", path, e))?;
        drop(self.out);
        self.staged.commit(true)
    }
}

/// The streamed `SHA256SUMS`: lines of this batch in plan order, then the
/// lines of an earlier file for other files that still exist.
struct SumsWriter {
    staged: StagedFile,
    out: BufWriter<std::fs::File>,
}

impl SumsWriter {
    fn new(dir: &Path) -> Result<Self> {
        let staged = StagedFile::new(dir.join(SUMS_FILE))?;
        let out = BufWriter::new(staged.file()?);
        Ok(SumsWriter { staged, out })
    }

    fn line(&mut self, digest: &str, name: &str) -> Result<()> {
        let path = self.staged.temp_path().to_path_buf();
        writeln!(self.out, "{digest}  {name}").map_err(|e| Error::io("write", path, e))
    }

    fn finish(mut self, dir: &Path, written: &HashSet<String>) -> Result<PathBuf> {
        let old = dir.join(SUMS_FILE);
        if let Ok(text) = std::fs::read_to_string(&old) {
            for l in text.lines() {
                let Some((digest, rest)) = l.split_at_checked(64) else {
                    continue;
                };
                let Some(name) = rest.strip_prefix("  ").or_else(|| rest.strip_prefix(" *")) else {
                    continue;
                };
                if !written.contains(name) && dir.join(name).is_file() {
                    self.line(&digest.to_ascii_lowercase(), name)?;
                }
            }
        }
        let path = self.staged.temp_path().to_path_buf();
        self.out.flush().map_err(|e| Error::io("write", path, e))?;
        drop(self.out);
        self.staged.commit(true)
    }
}

#[derive(Default)]
struct Sched {
    next: usize,
    emitted: usize,
    in_flight: usize,
    done: BTreeMap<usize, ModelEntry>,
    stop: bool,
}

/// Packs every model of `plan` into `job.out_dir` and calls `on_model` with
/// each result, in plan order, as soon as it and all models before it are
/// done. Per-model problems are results ([`Status::Failed`],
/// [`Status::Error`]); the `Err` of this function is for the batch itself
/// (the output folder cannot be created or locked, `index.json` cannot be
/// written, S3 credentials are missing), and nothing is packed when it
/// comes before the first model.
///
/// Without `keep_going` the batch stops handing out models after the first
/// failure; models already running finish and are listed, later ones are
/// [`Status::NotRun`]. `index.json` and `SHA256SUMS` are written in every
/// case, interrupted runs included.
pub fn run(job: &BatchJob, plan: &Plan, on_model: &mut dyn FnMut(&ModelEntry)) -> Result<Outcome> {
    let out_dir = job.out_dir.as_path();
    std::fs::create_dir_all(out_dir).map_err(|e| Error::io("create the folder", out_dir, e))?;
    let _lock = lock_dir(out_dir)?;
    check_folder_files(out_dir, job.options.overwrite)?;
    let removed_temp = remove_leftovers(out_dir, plan)?;
    let created = crate::archive::source_date_epoch()?.map(rfc3339_utc);

    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let pack_jobs = match job.jobs {
        0 => cores,
        n => n,
    }
    .min(plan.models.len())
    .max(1);
    let total_threads = match job.options.threads {
        0 => cores,
        n => n,
    };
    let pack_threads = (total_threads / pack_jobs).max(1);

    #[cfg(feature = "s3")]
    let (uploader, upload_jobs) = match &job.upload {
        Some(u) => {
            if !u.dest.is_prefix() {
                return Err(Error::Usage {
                    message: format!(
                        "--upload {}: a batch uploads to a prefix; end it with '/'",
                        u.dest
                    ),
                });
            }
            for m in &plan.models {
                let key = u.dest.object_key(&format!("{}.manifest.json", m.archive));
                if key.len() > 1024 {
                    return Err(Error::Usage {
                        message: format!(
                            "s3://{}/{key} would be longer than the 1024 bytes S3 allows for a key; use a shorter prefix or name",
                            u.dest.bucket
                        ),
                    });
                }
            }
            let client = crate::s3::S3Client::connect(u.settings.clone()).map_err(Error::from)?;
            let up = Uploader {
                client: std::sync::Arc::new(client),
                dest: u.dest.clone(),
                transfer: u.transfer.clone(),
            };
            let jobs = match u.jobs {
                0 => DEFAULT_UPLOAD_JOBS,
                n => n,
            };
            (Some(up), jobs)
        }
        None => (None, 0),
    };
    #[cfg(not(feature = "s3"))]
    let upload_jobs = 0usize;

    let workers = (pack_jobs + upload_jobs).min(plan.models.len()).max(1);
    let window = workers * WINDOW_PER_WORKER;
    let worker = Worker {
        job,
        out_dir,
        pack_threads,
        created,
        permits: Permits {
            free: Mutex::new(pack_jobs),
            cv: Condvar::new(),
        },
        earlier: OnceLock::new(),
        #[cfg(feature = "s3")]
        uploader,
    };

    let mut index = IndexWriter::new(out_dir, job, plan)?;
    let mut sums = SumsWriter::new(out_dir)?;
    let mut summary = Summary {
        models: plan.models.len(),
        skipped_files: plan.skipped.len(),
        removed_temp_files: removed_temp,
        ..Summary::default()
    };
    let mut written: HashSet<String> = HashSet::new();
    let mut remote: Vec<(String, String)> = Vec::new();
    let n = plan.models.len();
    let sched = Mutex::new(Sched::default());
    let cv = Condvar::new();
    let lock = || sched.lock().unwrap_or_else(|p| p.into_inner());

    let mut emit = |e: ModelEntry| -> Result<()> {
        index.entry(&e)?;
        // Packed and unchanged models, and those whose upload failed: the local files are valid.
        if let (Some(a), Some(m)) = (&e.archive, &e.manifest) {
            sums.line(&a.sha256, &a.file)?;
            sums.line(&m.sha256, &m.file)?;
            written.insert(a.file.clone());
            written.insert(m.file.clone());
            if e.upload.is_some() {
                remote.push((a.file.clone(), a.sha256.clone()));
                remote.push((m.file.clone(), m.sha256.clone()));
            }
        }
        summary.count(&e);
        on_model(&e);
        Ok(())
    };

    let emitted: Result<()> = std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut s = lock();
                        loop {
                            if s.stop || s.next >= n {
                                return;
                            }
                            if s.next < s.emitted + window {
                                break;
                            }
                            s = cv.wait(s).unwrap_or_else(|p| p.into_inner());
                        }
                        s.next += 1;
                        s.in_flight += 1;
                        s.next - 1
                    };
                    let entry = worker.process(&plan.models[i]);
                    let mut s = lock();
                    if entry.status == Status::Interrupted
                        || (!job.keep_going
                            && matches!(entry.status, Status::Failed | Status::Error))
                    {
                        s.stop = true;
                    }
                    s.done.insert(i, entry);
                    s.in_flight -= 1;
                    cv.notify_all();
                }
            });
        }
        let mut result = Ok(());
        let mut s = lock();
        loop {
            loop {
                let next = s.emitted;
                let Some(e) = s.done.remove(&next) else { break };
                s.emitted += 1;
                drop(s);
                cv.notify_all();
                if result.is_ok() {
                    result = emit(e);
                    if result.is_err() {
                        lock().stop = true;
                        cv.notify_all();
                    }
                }
                s = lock();
            }
            if s.in_flight == 0 && (s.stop || s.next >= n) && !s.done.contains_key(&s.emitted) {
                break;
            }
            if job.cancelled() && !s.stop {
                s.stop = true;
                cv.notify_all();
            }
            s = cv
                .wait_timeout(s, Duration::from_millis(200))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        let start = s.next;
        drop(s);
        result?;
        for m in plan.models.iter().skip(start) {
            let mut e = ModelEntry::new(m);
            e.reason = Some(if job.cancelled() {
                "interrupted".into()
            } else {
                "stopped at an earlier failure (pass --keep-going to finish the batch)".into()
            });
            emit(e)?;
        }
        Ok(())
    });
    emitted?;

    #[cfg_attr(not(feature = "s3"), allow(unused_mut))]
    let mut errors: Vec<String> = Vec::new();
    #[cfg_attr(not(feature = "s3"), allow(unused_mut))]
    let mut remote_sums = None;
    #[cfg(feature = "s3")]
    if let Some(up) = &worker.uploader
        && !remote.is_empty()
        && !job.cancelled()
    {
        let entries: Vec<(&str, &str)> = remote
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        match crate::s3::upload_sha256sums(
            up.client.clone(),
            &up.dest,
            &entries,
            up.transfer.clone(),
        ) {
            Ok(r) => {
                remote_sums = Some(UploadEntry {
                    status: match r.status {
                        crate::s3::ObjectStatus::Uploaded => "uploaded".into(),
                        crate::s3::ObjectStatus::AlreadyUploaded => "already-uploaded".into(),
                    },
                    uri: r.record.uri.clone(),
                    etag: r.record.etag.clone(),
                    version_id: r.record.version_id.clone(),
                    checksum_sha256: r.record.checksum_sha256.clone(),
                    manifest: None,
                })
            }
            Err(e) => errors.push(format!("SHA256SUMS at the prefix: {}", error_text(&e))),
        }
    }
    drop(remote);
    summary.finish(!errors.is_empty(), job.cancelled());
    let sums_path = sums.finish(out_dir, &written)?;
    let extra = serde_json::json!({
        "remote_sha256sums": remote_sums,
        "errors": errors,
    });
    let index_path = index.finish(&summary, &extra)?;
    Ok(Outcome {
        summary,
        index: index_path,
        sha256sums: sums_path,
        remote_sha256sums: remote_sums,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_safe_characters() {
        assert_eq!(sanitize_name("a b").as_deref(), Some("a_b"));
        assert_eq!(sanitize_name("a  //  b").as_deref(), Some("a_b"));
        assert_eq!(sanitize_name("ü").as_deref(), Some("_"));
        assert_eq!(sanitize_name("-rf").as_deref(), Some("rf"));
        assert_eq!(sanitize_name("..").as_deref(), None);
        assert_eq!(sanitize_name("").as_deref(), None);
        let long = "x".repeat(500);
        let cut = sanitize_name(&long).unwrap_or_default();
        assert_eq!(cut.len(), MAX_NAME_BYTES);
        assert!(cut.starts_with(&"x".repeat(MAX_NAME_BYTES - 9)));
        assert_ne!(sanitize_name(&"x".repeat(501)), Some(cut));
    }

    #[test]
    fn names_from_paths() {
        let n = |p: &str| name_for(Path::new(p));
        assert_eq!(n("churn.JSON").as_deref(), Some("churn"));
        assert_eq!(n("churn.ubj").as_deref(), Some("churn"));
        assert_eq!(n("langid.ftz").as_deref(), Some("langid"));
        assert_eq!(n("xgboost-model").as_deref(), Some("xgboost-model"));
        assert_eq!(n("logistic.p4.pkl").as_deref(), Some("logistic.p4"));
        assert_eq!(n(".json").as_deref(), Some("json"));
        assert_eq!(n("eu/west 1/m.json").as_deref(), Some("eu-west_1-m"));
        assert_eq!(n("a.tar.gz").as_deref(), Some("a.tar.gz"));
    }

    #[test]
    fn glob_bases() {
        assert_eq!(
            glob_base(Path::new("models/*.json")),
            PathBuf::from("models")
        );
        assert_eq!(glob_base(Path::new("a/b/*/x")), PathBuf::from("a/b"));
        assert_eq!(glob_base(Path::new("*.ubj")), PathBuf::new());
    }
}
