//! The packing pipeline: validate a model, write the archive and its
//! sidecars atomically.

use crate::archive::{
    ArchiveRecord, Member, PackOptions, stage_archive_streaming, stage_archive_with_sink,
};
use crate::error::{Error, Result};
use crate::manifest::{
    Manifest, SourceRecord, Target, UploadRecord, ValidationRecord, merge_sha256sums, sha256sums,
};
use crate::output::{StagedFile, check_destination};
use crate::report::{Finding, Findings, Severity};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Which SageMaker built-in container family an archive is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Family {
    /// The XGBoost algorithm container: one root file `xgboost-model`.
    Xgboost,
    /// BlazingText hosting of fastText models: one root file `model.bin`.
    Blazingtext,
}

impl Family {
    /// The archive member name the container expects.
    pub fn member_name(self) -> &'static str {
        match self {
            Family::Xgboost => "xgboost-model",
            Family::Blazingtext => "model.bin",
        }
    }

    /// Lower-case name used in manifests and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Xgboost => "xgboost",
            Family::Blazingtext => "blazingtext",
        }
    }
}

/// What a format reader found out about a model file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Examination {
    /// Format-specific summary (encoding, shapes, ...), recorded in the manifest.
    pub summary: Option<serde_json::Value>,
    /// Everything the checks noticed.
    pub findings: Vec<Finding>,
}

/// A request to pack one model.
#[derive(Debug, Clone)]
pub struct PackJob {
    /// Container family.
    pub family: Family,
    /// The model file.
    pub model: PathBuf,
    /// Where to write the archive; sidecars go beside it.
    pub output: PathBuf,
    /// Container tag to judge against, when given. XGBoost: the model is
    /// converted for it when the tag would not load it as given (see
    /// [`crate::xgboost::convert::prepare_for_pack`]).
    pub container: Option<String>,
    /// XGBoost: pack the file as given even when the container's verdict is
    /// not *loads* (the outcome then reports a failed container check).
    pub no_convert: bool,
    /// Check the packed model's predictions on a sample before anything is
    /// written: XGBoost [`crate::xgboost::predict::run_sample_gate`], fastText
    /// [`crate::fasttext::sample::run_sample_gate`].
    pub sample: Option<crate::xgboost::predict::SampleGate>,
    /// Archive options.
    pub options: PackOptions,
    /// fastText validation options (e.g. allowing quantized models).
    pub fasttext: crate::fasttext::Options,
    /// Write (or merge into) `SHA256SUMS` beside the archive (default true).
    /// [`crate::batch`] turns it off and writes one combined file itself.
    pub sha256sums: bool,
}

impl PackJob {
    /// A job with default options (entry mtime from `SOURCE_DATE_EPOCH` when set).
    pub fn new(
        family: Family,
        model: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Result<Self> {
        Ok(PackJob {
            family,
            model: model.into(),
            output: output.into(),
            container: None,
            no_convert: false,
            sample: None,
            options: PackOptions::from_env()?,
            fasttext: crate::fasttext::Options::default(),
            sha256sums: true,
        })
    }
}

/// Paths of everything a successful pack wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WrittenFiles {
    /// The archive.
    pub archive: PathBuf,
    /// `<archive>.manifest.json`.
    pub manifest: PathBuf,
    /// `SHA256SUMS` beside the archive (left to the caller when
    /// [`PackJob::sha256sums`] is false).
    pub sha256sums: PathBuf,
}

/// Result of a pack job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackOutcome {
    /// True when the archive was written; false when validation refused the model.
    pub packed: bool,
    /// The manifest (also written beside the archive when packed).
    pub manifest: Option<Manifest>,
    /// Files written (when packed).
    pub files: Option<WrittenFiles>,
    /// Validation findings.
    pub findings: Vec<Finding>,
    /// Model summary.
    pub model: Option<serde_json::Value>,
    /// XGBoost: the container judged and what was done about it
    /// (conversion), when the family has containers.
    pub container: Option<crate::xgboost::convert::ContainerCheck>,
}

impl PackOutcome {
    /// The process exit code: 0 when packed and the container check (if
    /// any) passed, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let failed = self.container.as_ref().is_some_and(|c| c.failed);
        if self.packed && !failed { 0 } else { 1 }
    }
}

/// Sidecar paths for an archive path.
pub fn sidecar_paths(archive: &Path) -> (PathBuf, PathBuf) {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.tar.gz".into());
    let manifest = archive.with_file_name(format!("{name}.manifest.json"));
    let sums = archive.with_file_name("SHA256SUMS");
    (manifest, sums)
}

/// Minimal check used until a family has a full reader: the file must be a
/// readable, non-empty regular file.
fn basic_examination(path: &Path) -> Result<Examination> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    let mut findings = Vec::new();
    if meta.is_file() && meta.len() == 0 {
        findings.push(
            Finding::error("input.empty", "the model file is empty (0 bytes)")
                .with_hint("check that training finished and the file was copied completely"),
        );
    }
    Ok(Examination {
        summary: None,
        findings,
    })
}

/// Runs the family's validator on a model file.
pub fn examine(family: Family, path: &Path) -> Result<Examination> {
    match family {
        Family::Xgboost => crate::xgboost::examine_file(path),
        Family::Blazingtext => crate::fasttext::examine_file(path),
    }
    .or_else(|e| match e {
        Error::Usage { .. } => basic_examination(path),
        other => Err(other),
    })
}

/// Test suite only: `SM_PACK_TEST_REPLACE_MODEL=<file>` renames that file
/// over the XGBoost model after it was validated and before it is packed,
/// as another process replacing the file would (`tests/robustness_faults.rs`;
/// documented in SECURITY.md). Without the variable nothing happens.
fn test_hook_replace_model(model: &Path) {
    if let Some(with) = std::env::var_os("SM_PACK_TEST_REPLACE_MODEL") {
        let _ = std::fs::rename(with, model);
    }
}

fn verdict(findings: &[Finding]) -> &'static str {
    match findings.max_severity() {
        Some(Severity::Error) => "fail",
        Some(Severity::Warning) => "pass-with-warnings",
        _ => "pass",
    }
}

/// Validates the model and, when it has no error findings, writes the
/// archive, `<archive>.manifest.json` and `SHA256SUMS` atomically.
///
/// ```no_run
/// use sm_pack::pack::{pack, Family, PackJob};
/// let job = PackJob::new(Family::Xgboost, "model.json", "model.tar.gz")?;
/// let outcome = pack(&job)?;
/// assert!(outcome.packed);
/// # Ok::<(), sm_pack::Error>(())
/// ```
pub fn pack(job: &PackJob) -> Result<PackOutcome> {
    pack_with(job, None)
}

/// Publishes an archive somewhere besides the local folder while it is
/// packed (the S3 upload of feature `s3`, `crate::s3::ArchiveUpload`,
/// implements it). [`pack_with`] calls `begin` before the archive is
/// written and tees every compressed byte into the sink it returns, calls
/// `publish_archive` once the archive is complete and validated (its record
/// goes into the manifest), `publish_sidecars` with the final manifest, and
/// `abort` when the run fails or validation refuses the model.
pub trait Publisher {
    /// The archive `archive_name` is about to be written from a model of
    /// `input_size` bytes. Returns a sink for the compressed bytes when the
    /// publisher streams them.
    fn begin(
        &mut self,
        archive_name: &str,
        input_size: u64,
    ) -> Result<Option<&mut (dyn std::io::Write + Send)>>;
    /// The archive is complete and validated (not yet renamed into place).
    fn publish_archive(&mut self, record: &ArchiveRecord) -> Result<UploadRecord>;
    /// The final manifest (with the upload record), after the archive.
    fn publish_sidecars(&mut self, manifest_json: &str) -> Result<()>;
    /// The run failed or was refused: undo what can be undone. Returns the
    /// publisher's own error when it caused the failure.
    fn abort(&mut self) -> Option<Error>;
}

/// Like [`pack`], and hands the archive to `publisher` as it is written
/// (e.g. an S3 upload); the local outputs are committed only after the
/// publisher succeeded, and the manifest records where the archive went.
pub fn pack_with(job: &PackJob, publisher: Option<&mut dyn Publisher>) -> Result<PackOutcome> {
    let Some(p) = publisher else {
        return pack_inner(job, None);
    };
    match pack_inner(job, Some(&mut *p)) {
        Ok(outcome) if !outcome.packed => {
            p.abort();
            Ok(outcome)
        }
        Ok(outcome) => Ok(outcome),
        Err(e) => Err(p.abort().unwrap_or(e)),
    }
}

fn pack_inner(job: &PackJob, mut publisher: Option<&mut dyn Publisher>) -> Result<PackOutcome> {
    let (manifest_path, sums_path) = sidecar_paths(&job.output);
    let overwrite = job.options.overwrite;
    // Input problems first, then output conflicts, before any real work.
    let m = std::fs::symlink_metadata(&job.model).map_err(|e| Error::io("read", &job.model, e))?;
    for p in [&job.output, &manifest_path] {
        check_destination(p, overwrite)?;
    }
    // SHA256SUMS may list other archives in the same folder: it is merged, not replaced.
    if job.sha256sums {
        check_destination(&sums_path, true)?;
    }
    // Refuse symlinks before reading anything.
    if !job.options.follow_symlinks && m.file_type().is_symlink() {
        {
            return Err(Error::Input {
                path: job.model.clone(),
                message: "is a symbolic link; archives hold regular files only".into(),
                hint: Some(
                    "pass --follow-symlinks to store the bytes of the file it points to".into(),
                ),
            });
        }
    }
    // Models are regular files: a directory, device, FIFO or socket is
    // refused before anything is read (opening a FIFO nobody writes would
    // block, a device would never end).
    crate::input::open_model_file(&job.model)?;

    let member = Member::new(&job.model, job.family.member_name());
    let refused = |exam: Examination| PackOutcome {
        packed: false,
        manifest: None,
        files: None,
        findings: exam.findings,
        model: exam.summary,
        container: None,
    };
    // XGBoost: the container check and the conversion, if one is made.
    let mut prep: Option<crate::xgboost::convert::PackPrep> = None;
    let mut sample = None;
    let archive_name = job
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.tar.gz".into());
    let sink = match publisher.as_mut() {
        Some(p) => {
            let len = std::fs::metadata(&job.model).map(|m| m.len()).unwrap_or(0);
            p.begin(&archive_name, len)?
        }
        None => None,
    };
    let (exam, staged) = match job.family {
        // fastText models are large: validate the bytes while they are packed
        // (one read), and drop the staged archive if validation fails.
        Family::Blazingtext => {
            let len = std::fs::metadata(&job.model)
                .map_err(|e| Error::io("read", &job.model, e))?
                .len();
            let mut validator =
                crate::fasttext::Validator::with_len(&job.fasttext, len).source(&job.model);
            // With a sample gate, the same bytes also build the model in memory.
            let mut pipe = match &job.sample {
                Some(_) => Some(crate::fasttext::sample::ModelPipe::new(len)?),
                None => None,
            };
            let staged = match pipe.as_mut() {
                Some(pipe) => {
                    let mut tee = crate::fasttext::sample::Tee {
                        a: &mut validator,
                        b: pipe,
                    };
                    stage_archive_streaming(
                        std::slice::from_ref(&member),
                        &job.output,
                        &job.options,
                        sink,
                        Some(&mut tee),
                    )?
                }
                None => stage_archive_streaming(
                    std::slice::from_ref(&member),
                    &job.output,
                    &job.options,
                    sink,
                    Some(&mut validator),
                )?,
            };
            let inspection = validator.finish()?;
            let mut exam = Examination {
                summary: Some(inspection.summary_json()),
                findings: inspection.findings,
            };
            if exam.findings.has_errors() {
                return Ok(refused(exam));
            }
            if let (Some(gate), Some(pipe)) = (&job.sample, pipe) {
                let model = pipe.finish()?;
                let s = crate::fasttext::sample::run_sample_gate(gate, &model)?;
                exam.findings.push(s.finding.clone());
                if !s.passed() {
                    return Ok(refused(exam));
                }
                sample = Some(s.record);
            }
            (exam, staged)
        }
        Family::Xgboost => {
            // One read: validation, the container check, the conversion and
            // the sample gate all see these bytes, and the archive writer's
            // digest of the member proves it packed the same bytes.
            let bytes = crate::input::read_model_file(&job.model, crate::input::MAX_MODEL_BYTES)?;
            let mut exam = crate::xgboost::examine_bytes(&bytes)?;
            if exam.findings.has_errors() {
                return Ok(refused(exam));
            }
            let p = crate::xgboost::convert::prepare_for_pack_bytes(
                &bytes,
                job.container.as_deref(),
                job.no_convert,
            )?;
            exam.findings.extend(p.findings.iter().cloned());
            if p.refusal.is_some() {
                let mut o = refused(exam);
                o.container = Some(p.check);
                return Ok(o);
            }
            // The sample gate evaluates the bytes that are packed.
            if let Some(gate) = &job.sample {
                let packed: &[u8] = match &p.conversion {
                    Some(c) => &c.bytes,
                    None => &bytes,
                };
                let s = crate::xgboost::predict::run_sample_gate(
                    gate,
                    packed,
                    job.container.as_deref(),
                )?;
                exam.findings.push(s.finding.clone());
                if !s.passed() {
                    let mut o = refused(exam);
                    o.container = Some(p.check);
                    return Ok(o);
                }
                sample = Some(s.record);
            }
            // A converted model is packed from a temporary copy of its bytes.
            // It is registered for removal if the process must end at once.
            let converted = match &p.conversion {
                Some(c) => {
                    let (mut t, registered) = crate::output::Registration::create(
                        || {
                            tempfile::NamedTempFile::new().map_err(|e| {
                                Error::io("create a temporary file in", std::env::temp_dir(), e)
                            })
                        },
                        |t: &tempfile::NamedTempFile| t.path(),
                    )?;
                    std::io::Write::write_all(&mut t, &c.bytes)
                        .map_err(|e| Error::io("write", t.path().to_path_buf(), e))?;
                    exam.summary = Some(c.summary_json());
                    Some((t, registered))
                }
                None => None,
            };
            let (member, validated) = match (&converted, &p.conversion) {
                (Some((t, _)), Some(c)) => (
                    Member::new(t.path(), job.family.member_name()),
                    crate::hash::sha256_hex(&c.bytes),
                ),
                _ => (member.clone(), p.original_sha256.clone()),
            };
            test_hook_replace_model(&job.model);
            let staged = stage_archive_with_sink(
                std::slice::from_ref(&member),
                &job.output,
                &job.options,
                sink,
            )?;
            // The writer hashed the member's bytes as it packed them.
            let packed = staged
                .record
                .members
                .first()
                .map(|m| m.sha256.clone())
                .unwrap_or_default();
            if packed != validated {
                return Err(Error::InputReplaced {
                    path: match &converted {
                        Some((t, _)) => t.path().to_path_buf(),
                        None => job.model.clone(),
                    },
                    validated,
                    packed,
                });
            }
            prep = Some(p);
            (exam, staged)
        }
    };
    let record: &ArchiveRecord = &staged.record;
    let member_rec = record.members.first().cloned();
    let source = SourceRecord {
        name: job
            .model
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        size: member_rec.as_ref().map(|m| m.size).unwrap_or(0),
        sha256: member_rec.map(|m| m.sha256).unwrap_or_default(),
    };
    let mut source = source;
    if let Some(p) = prep.as_ref().filter(|p| p.conversion.is_some()) {
        // The source record is the file as given, not the converted member.
        source.size = p.original_size;
        source.sha256 = p.original_sha256.clone();
    }
    let created = crate::archive::source_date_epoch()?;
    let mut manifest = Manifest::new(
        Target {
            family: job.family.as_str().into(),
            container: job.container.clone(),
        },
        source,
        &archive_name,
        record,
        created,
    );
    manifest.model = exam.summary.clone();
    if let Some(c) = prep.as_ref().and_then(|p| p.conversion.as_ref()) {
        manifest.conversion = Some(c.manifest_record());
    }
    manifest.sample = sample;
    manifest.validation = ValidationRecord {
        verdict: verdict(&exam.findings).into(),
        findings: exam.findings.clone(),
    };
    if let Some(p) = publisher.as_mut() {
        manifest.uploads.push(p.publish_archive(record)?);
    }
    let manifest_json = manifest.to_json();
    let manifest_name = manifest_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest_digest = crate::hash::sha256_hex(manifest_json.as_bytes());
    let ours = [
        (archive_name.as_str(), record.sha256.as_str()),
        (manifest_name.as_str(), manifest_digest.as_str()),
    ];
    let sums_file = match job.sha256sums {
        true => std::fs::read(&sums_path),
        false => Ok(Vec::new()),
    };
    let sums = match sums_file {
        Ok(_) if !job.sha256sums => String::new(),
        Ok(bytes) => {
            merge_sha256sums(&String::from_utf8_lossy(&bytes), &ours).ok_or_else(|| {
                Error::Input {
                    path: sums_path.clone(),
                    message: "exists but is not a SHA256SUMS file in coreutils format".into(),
                    hint: Some("move it away or write the archive to another folder".into()),
                }
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => sha256sums(&ours),
        Err(e) => return Err(Error::io("read", &sums_path, e)),
    };
    let staged_manifest = StagedFile::with_contents(&manifest_path, manifest_json.as_bytes())?;
    let staged_sums = match job.sha256sums {
        true => Some(StagedFile::with_contents(&sums_path, sums.as_bytes())?),
        false => None,
    };
    if let Some(p) = publisher.as_mut() {
        p.publish_sidecars(&manifest_json)?;
    }

    // One output: all flushed before the first rename, and a failure on the
    // manifest or SHA256SUMS takes a new archive back out.
    let archive = staged.file.destination().to_path_buf();
    let manifest_written = staged_manifest.destination().to_path_buf();
    let sums_written = sums_path;
    let mut group = vec![(staged.file, overwrite), (staged_manifest, overwrite)];
    group.extend(staged_sums.map(|s| (s, true)));
    crate::output::commit_all(group)?;
    Ok(PackOutcome {
        packed: true,
        model: exam.summary,
        findings: exam.findings,
        manifest: Some(manifest),
        container: prep.map(|p| p.check),
        files: Some(WrittenFiles {
            archive,
            manifest: manifest_written,
            sha256sums: sums_written,
        }),
    })
}
