//! `verify`: judge an existing `model.tar.gz` the way SageMaker will.
//!
//! [`verify_archive`] reads the archive with the safe streaming reader
//! ([`crate::archive::reader`]; nothing is extracted), then
//!
//! 1. simulates the chosen container's model discovery on the member list
//!    exactly (`formats/containers.toml`: listing order, regular files only,
//!    dotfile filter by version, ensemble on by default, 0.90-1's unfiltered
//!    first entry) and says which files it would load and how;
//! 2. validates each loaded file with the XGBoost reader (from the bytes the
//!    reader captured) or, for BlazingText, validates `model.bin` with the
//!    fastText push validator while it streams past (any size);
//! 3. gives the container [`Verdict`] for the chosen tag and for every other
//!    tag;
//! 4. checks `<archive>.manifest.json` and `SHA256SUMS` beside the archive
//!    (or given explicitly): every digest and size.
//!
//! Everything found is a [`Finding`] with a stable code (`formats/verify.md`);
//! the report's exit code is 1 when any has error severity.
//!
//! [`inspect_archive`] only lists the members (sizes, modes, digests, what
//! each is: root files are read as XGBoost models when they are one) and
//! the reader's findings.

use crate::archive::reader::{
    self, ArchiveListing, ArchiveMember, CapturePolicy, Compression, MemberKind, MemberVisitor,
    ReadOptions,
};
use crate::container::{BlazingText, Container, ContainerTable, Reason, Sniffed, Verdict};
use crate::error::{Error, Result};
use crate::report::{Finding, Findings, Location, Severity};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Which container to judge against.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A SageMaker XGBoost tag (`None`: the newest).
    Xgboost(Option<String>),
    /// BlazingText hosting.
    Blazingtext,
}

/// Where a sidecar comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sidecar {
    /// Beside the archive, when present.
    Auto,
    /// This file (must exist).
    Path(PathBuf),
    /// Do not check.
    Skip,
}

/// Options of [`verify_archive`].
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Container to judge against.
    pub target: Target,
    /// `<archive>.manifest.json`.
    pub manifest: Sidecar,
    /// `SHA256SUMS`.
    pub sums: Sidecar,
    /// Reader settings (capture caps, member limit).
    pub read: ReadOptions,
    /// Simulate `SAGEMAKER_INFERENCE_ENSEMBLE`: `None` = the tag's default
    /// (on for 1.2-2 and later), `Some(false)` = off.
    pub ensemble: Option<bool>,
    /// fastText validation options (BlazingText).
    pub fasttext: crate::fasttext::Options,
    /// Called with the archive bytes read so far (for a progress bar).
    pub progress: Option<crate::archive::Progress>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            target: Target::Xgboost(None),
            manifest: Sidecar::Auto,
            sums: Sidecar::Auto,
            read: ReadOptions::default(),
            ensemble: None,
            fasttext: crate::fasttext::Options::default(),
            progress: None,
        }
    }
}

/// Stable finding codes of the container simulation and the sidecar checks
/// (the reader's are in [`crate::archive::reader::codes`]).
pub mod codes {
    /// The container would find no model file (error).
    pub const NO_MODEL: &str = "container.no_model";
    /// A file the container loads is not an XGBoost model (error).
    pub const NOT_A_MODEL: &str = "container.not_a_model";
    /// A file the container loads is an invalid model (error).
    pub const INVALID_MODEL: &str = "container.invalid_model";
    /// A non-model file loaded as an ensemble member (error).
    pub const EXTRA_FILE_LOADED: &str = "container.extra_file_loaded";
    /// Several models loaded and averaged as an ensemble (error).
    pub const ENSEMBLE: &str = "container.ensemble";
    /// Which file is loaded depends on listdir order (error unless all are the same).
    pub const ORDER_DEPENDENT: &str = "container.order_dependent";
    /// A dotfile the tag does not skip is loaded (error).
    pub const DOTFILE_LOADED: &str = "container.dotfile_loaded";
    /// A dotfile the tag skips (info).
    pub const DOTFILE_SKIPPED: &str = "container.dotfile_skipped";
    /// Files in subfolders are never loaded (info).
    pub const SUBFOLDER_IGNORED: &str = "container.subfolder_ignored";
    /// 0.90-1 may pick a directory as the model (error).
    pub const DIRECTORY_PICKED: &str = "container.directory_picked";
    /// A root entry that is not a regular file (info).
    pub const NOT_A_FILE: &str = "container.not_a_file";
    /// SageMaker cannot extract the archive (error).
    pub const EXTRACTION: &str = "container.extraction";
    /// A loaded file is too large to validate in memory (warning).
    pub const TOO_LARGE_TO_VALIDATE: &str = "container.too_large_to_validate";
    /// A loaded file's bytes were not validated (sparse, not kept) (warning).
    pub const NOT_VALIDATED: &str = "container.not_validated";
    /// The overall verdict for the chosen container (error unless "loads").
    pub const VERDICT: &str = "container.verdict";
    /// BlazingText: no `model.bin` at the root (error).
    pub const BT_NO_MODEL_BIN: &str = "blazingtext.no_model_bin";
    /// BlazingText: `model.bin` is not a valid fastText model (error).
    pub const BT_INVALID_MODEL: &str = "blazingtext.invalid_model";
    /// BlazingText: other files next to `model.bin` (warning).
    pub const BT_EXTRA_FILES: &str = "blazingtext.extra_files";
    /// No manifest / SHA256SUMS beside the archive (info).
    pub const MANIFEST_ABSENT: &str = "manifest.absent";
    /// The manifest cannot be read (error).
    pub const MANIFEST_UNREADABLE: &str = "manifest.unreadable";
    /// The archive's size or digest differs from the manifest (error).
    pub const MANIFEST_ARCHIVE: &str = "manifest.archive_mismatch";
    /// The tar stream's size or digest differs from the manifest (error).
    pub const MANIFEST_TAR: &str = "manifest.tar_mismatch";
    /// A member listed in the manifest is missing from the archive (error).
    pub const MANIFEST_MEMBER_MISSING: &str = "manifest.member_missing";
    /// A member is in the archive but not in the manifest (error).
    pub const MANIFEST_MEMBER_EXTRA: &str = "manifest.member_extra";
    /// A member's size, digest or mode differs from the manifest (error).
    pub const MANIFEST_MEMBER: &str = "manifest.member_mismatch";
    /// The manifest names another archive file (warning).
    pub const MANIFEST_NAME: &str = "manifest.archive_name";
    /// `SHA256SUMS` cannot be read (error).
    pub const SUMS_UNREADABLE: &str = "sums.unreadable";
    /// `SHA256SUMS` has no line for the archive (error).
    pub const SUMS_MISSING: &str = "sums.missing";
    /// A digest in `SHA256SUMS` differs (error).
    pub const SUMS_MISMATCH: &str = "sums.mismatch";
}

// ---------------------------------------------------------------------------
// Report types

/// What a root entry of the extracted model folder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootKind {
    /// `os.path.isfile` holds (a regular file, or a link to one).
    File,
    /// A directory (explicit or implied by deeper members).
    Directory,
    /// Anything else (dangling link, device, FIFO).
    Other,
}

/// One entry of `/opt/ml/model` after extraction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootEntry {
    /// File name.
    pub name: String,
    /// What it is.
    pub kind: RootKind,
    /// Index of the member whose bytes it holds (files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<usize>,
    /// How it came to be (e.g. "symlink to xgboost-model").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
}

/// What the container does with the model folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// The container (`3.2-0` or `blazingtext`).
    pub container: String,
    /// Its rule, in words.
    pub rule: String,
    /// Entries of the folder, in archive order (listdir order is
    /// filesystem-dependent).
    pub root: Vec<RootEntry>,
    /// Entries it loads, when that does not depend on listing order.
    pub loads: Vec<String>,
    /// When it loads one entry and which one depends on listdir order: the
    /// candidates.
    pub one_of: Vec<String>,
    /// Entries it skips, with why.
    pub skipped: Vec<(String, String)>,
    /// The ensemble is simulated on.
    pub ensemble: bool,
}

/// What the checks found about one file the container loads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCheck {
    /// Root entry name.
    pub name: String,
    /// First bytes, as sniffed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Sniffed>,
    /// The model reader ran on the whole file.
    pub validated: bool,
    /// The reader's summary (format-specific).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
    /// One-line description for reports.
    pub description: String,
    /// Verdict of the chosen container for this file alone.
    pub verdict: Verdict,
}

/// The verdict of one tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagVerdict {
    /// The tag.
    pub tag: String,
    /// Its verdict for the archive.
    pub verdict: Verdict,
}

/// Result of checking one sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SidecarCheck {
    /// The file checked.
    pub path: PathBuf,
    /// What was compared.
    pub checked: Vec<String>,
    /// True when everything matched.
    pub ok: bool,
}

/// Everything [`verify_archive`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// The archive.
    pub archive: PathBuf,
    /// `xgboost` or `blazingtext`.
    pub family: &'static str,
    /// The container judged against (tag, or `blazingtext`).
    pub container: String,
    /// Pinned xgboost / Python of that tag (XGBoost only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// The reader's listing (members, digests, reader findings).
    pub listing: ArchiveListing,
    /// The discovery simulation.
    pub discovery: Discovery,
    /// Each file the container loads (or may load).
    pub models: Vec<ModelCheck>,
    /// The verdict of the chosen container.
    pub verdict: Verdict,
    /// The verdict of every XGBoost tag (XGBoost only), oldest → newest.
    pub verdicts: Vec<TagVerdict>,
    /// Manifest check, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<SidecarCheck>,
    /// SHA256SUMS check, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sums: Option<SidecarCheck>,
    /// A command that rebuilds the archive properly, when sm-pack can name one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<String>,
    /// Every finding: the reader's, the simulation's, the models', the sidecars'.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// True when any finding has error severity.
    pub fn has_errors(&self) -> bool {
        self.findings.has_errors()
    }

    /// 0 clean (warnings allowed), 1 error findings.
    pub fn exit_code(&self) -> i32 {
        if self.has_errors() { 1 } else { 0 }
    }

    /// The report without its findings, as text lines (the CLI colours and
    /// prints the findings itself).
    pub fn human_lines(&self) -> Vec<String> {
        let mut o = Vec::new();
        let target = match &self.pinned {
            Some(p) => format!("SageMaker XGBoost {} ({p})", self.container),
            None => "SageMaker BlazingText".to_string(),
        };
        o.push(format!("verify {} for {target}", self.archive.display()));
        o.extend(self.listing.human_lines());
        o.push(format!(
            "container {}: {}",
            self.discovery.container, self.discovery.rule
        ));
        let names = |v: &[String]| {
            let mut s = v
                .iter()
                .take(NAMES_SHOWN)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if v.len() > NAMES_SHOWN {
                s.push_str(&format!(", ... ({} in all)", v.len()));
            }
            s
        };
        if !self.discovery.loads.is_empty() {
            o.push(format!("  loads:    {}", names(&self.discovery.loads)));
        }
        if !self.discovery.one_of.is_empty() {
            o.push(format!(
                "  loads ONE of (listdir order decides): {}",
                names(&self.discovery.one_of)
            ));
        }
        if self.discovery.loads.is_empty() && self.discovery.one_of.is_empty() {
            o.push("  loads:    nothing (no model file found)".into());
        }
        for (name, why) in self.discovery.skipped.iter().take(NAMES_SHOWN) {
            o.push(format!("  skips:    {name} ({why})"));
        }
        if self.discovery.skipped.len() > NAMES_SHOWN {
            o.push(format!(
                "  skips:    ... ({} in all)",
                self.discovery.skipped.len()
            ));
        }
        for m in self.models.iter().take(NAMES_SHOWN) {
            o.push(format!(
                "  {}: {} -> {}",
                m.name,
                m.description,
                m.verdict.label()
            ));
        }
        if self.models.len() > NAMES_SHOWN {
            o.push(format!("  ... ({} files judged in all)", self.models.len()));
        }
        o.push(format!("verdict {}: {}", self.container, self.verdict));
        if !self.verdicts.is_empty() {
            let line: Vec<String> = self
                .verdicts
                .iter()
                .map(|t| format!("{} {}", t.tag, t.verdict.label()))
                .collect();
            o.push(format!("all tags: {}", line.join(" | ")));
        }
        for (what, s) in [("manifest", &self.manifest), ("SHA256SUMS", &self.sums)] {
            if let Some(s) = s {
                o.push(format!(
                    "{what} {}: {} ({})",
                    s.path.display(),
                    if s.ok { "matches" } else { "DIFFERS" },
                    s.checked.join(", ")
                ));
            }
        }
        o
    }
}

// ---------------------------------------------------------------------------
// inspect

/// Lists an archive's members (sizes, modes, digests, what each is) and the
/// reader's findings, without keeping any member bytes.
pub fn inspect_archive(path: &Path) -> Result<ArchiveListing> {
    // Root files are kept (within the default caps) so that an XGBoost model
    // is named as one, not as "JSON text"; their bytes are dropped after.
    let opts = ReadOptions {
        capture: CapturePolicy::RootFiles,
        ..ReadOptions::default()
    };
    let mut listing = reader::read_archive_file(path, &opts)?;
    for m in &mut listing.members {
        if let Some((bytes, true)) = m.captured() {
            m.model = describe_model(bytes);
        }
        m.data = None;
    }
    Ok(listing)
}

/// "XGBoost model (JSON), saved by xgboost 1.7.4": how verify and inspect
/// name a root file the XGBoost reader read.
fn model_headline(s: &crate::xgboost::Summary) -> String {
    format!(
        "XGBoost model ({}), saved by xgboost {}",
        s.container, s.producer.version
    )
}

/// What the XGBoost reader makes of a whole file: `None` when it is not an
/// XGBoost model at all (the sniffed description stands then).
fn describe_model(bytes: &[u8]) -> Option<String> {
    match crate::xgboost::inspect_bytes(bytes) {
        Ok(i) => {
            let s = &i.summary;
            let mut what = format!("{}: {}", model_headline(s), s.objective);
            match (&s.trees, &s.linear) {
                (Some(t), _) => {
                    what.push_str(&format!(
                        ", {} tree{}",
                        t.num_trees,
                        if t.num_trees == 1 { "" } else { "s" }
                    ));
                    if t.dart {
                        what.push_str(" (DART)");
                    }
                }
                (None, Some(_)) => what.push_str(", linear booster"),
                (None, None) => {}
            }
            if s.findings.errors > 0 {
                what.push_str(&format!(
                    "; {} validation error{} (sm-pack verify lists them)",
                    s.findings.errors,
                    if s.findings.errors == 1 { "" } else { "s" }
                ));
            }
            Some(what)
        }
        Err(Error::UnrecognizedFormat { .. }) => None,
        Err(Error::InvalidModel { format, finding }) => Some(format!(
            "invalid XGBoost model ({format}): {}",
            finding.message
        )),
        Err(e) => Some(format!("unreadable XGBoost model: {e}")),
    }
}

/// Names listed per line of the text report (the JSON report has all).
pub const NAMES_SHOWN: usize = 20;

/// Members listed in the text reports (the JSON report has all of them).
pub const MEMBERS_SHOWN: usize = 200;

/// What a member is, in a few words.
pub fn describe_member(m: &ArchiveMember) -> String {
    match m.kind {
        MemberKind::File => {
            let what = match (&m.model, m.content) {
                (Some(model), _) => model.clone(),
                (None, Some(c)) => c.describe(),
                (None, None) => "file".into(),
            };
            if m.sparse {
                format!("GNU sparse file; {what}")
            } else {
                what
            }
        }
        MemberKind::Directory => "directory".into(),
        MemberKind::Symlink => format!(
            "symbolic link to {}",
            m.link_target.as_deref().unwrap_or("?")
        ),
        MemberKind::Hardlink => format!("hard link to {}", m.link_target.as_deref().unwrap_or("?")),
        other => format!("{} entry", other.label()),
    }
}

impl ArchiveListing {
    /// The listing as text lines (archive facts and members, no findings).
    pub fn human_lines(&self) -> Vec<String> {
        let mut o = Vec::new();
        let comp = match &self.compression {
            Compression::Gzip { members, double } => {
                let mut s = format!(
                    "gzip ({members} member{})",
                    if *members == 1 { "" } else { "s" }
                );
                if *double {
                    s.push_str(", compressed twice");
                }
                s
            }
            Compression::None => "not compressed (plain tar)".into(),
            Compression::Other { what } => format!("not a tar.gz ({what})"),
        };
        o.push(format!(
            "archive {} bytes, {comp}, sha256 {}",
            self.size, self.sha256
        ));
        o.push(format!(
            "tar     {} bytes, sha256 {}{}",
            self.tar_size,
            self.tar_sha256,
            if self.end_marker {
                ""
            } else {
                ", no end marker"
            }
        ));
        o.push(format!("members ({}):", self.members.len()));
        for m in self.members.iter().take(MEMBERS_SHOWN) {
            let digest = m.sha256.as_deref().unwrap_or("(incomplete)");
            o.push(format!(
                "  {:<8} {} {:>12}  {}  sha256 {}  {}",
                m.kind.label(),
                m.mode_octal(),
                m.size,
                if m.name.chars().any(char::is_control) {
                    format!("{:?}", m.name)
                } else {
                    m.name.clone()
                },
                digest,
                describe_member(m)
            ));
        }
        if self.members.len() > MEMBERS_SHOWN {
            o.push(format!(
                "  ... and {} more (the JSON report lists every member)",
                self.members.len() - MEMBERS_SHOWN
            ));
        }
        o
    }

    /// The listing and the reader's findings as text.
    pub fn human_summary(&self) -> String {
        let mut o = self.human_lines();
        if self.findings.is_empty() {
            o.push("no findings".into());
        } else {
            o.push("findings:".into());
            for f in &self.findings {
                o.push(format!("  {f}"));
            }
        }
        let mut s = o.join("\n");
        s.push('\n');
        s
    }
}

// ---------------------------------------------------------------------------
// verify

/// Streams root-level `model.bin` members through the fastText validator.
struct FastTextVisitor {
    options: crate::fasttext::Options,
    current: Option<crate::fasttext::Validator>,
    /// Member index → outcome (the last `model.bin` is the one extraction keeps).
    results: BTreeMap<usize, std::result::Result<crate::fasttext::Inspection, String>>,
    model_file: String,
}

impl MemberVisitor for FastTextVisitor {
    fn begin(&mut self, m: &ArchiveMember) -> bool {
        if m.kind == MemberKind::File && m.is_root_level() && m.path == self.model_file {
            self.current = Some(crate::fasttext::Validator::with_len(&self.options, m.size));
            true
        } else {
            false
        }
    }

    fn data(&mut self, _m: &ArchiveMember, chunk: &[u8]) {
        if let Some(v) = self.current.as_mut()
            && !v.has_failed()
        {
            v.feed(chunk);
        }
    }

    fn end(&mut self, m: &ArchiveMember, complete: bool) {
        let Some(v) = self.current.take() else {
            return;
        };
        let outcome = if !complete {
            Err("the archive ends inside it".to_string())
        } else if v.has_failed() {
            // Stopped feeding after the fatal problem: finish on what was fed.
            v.finish().map_err(|e| e.to_string())
        } else {
            v.finish().map_err(|e| e.to_string())
        };
        self.results.insert(m.index, outcome);
    }
}

/// Verifies an archive (see the module docs).
///
/// ```no_run
/// use sm_pack::verify::{verify_archive, Target, VerifyOptions};
/// let opts = VerifyOptions {
///     target: Target::Xgboost(Some("1.7-1".into())),
///     ..VerifyOptions::default()
/// };
/// let report = verify_archive("model.tar.gz".as_ref(), &opts)?;
/// println!("{}", report.verdict);
/// std::process::exit(report.exit_code());
/// # Ok::<(), sm_pack::Error>(())
/// ```
pub fn verify_archive(path: &Path, opts: &VerifyOptions) -> Result<VerifyReport> {
    let table = ContainerTable::builtin()?;
    let container: Option<&Container> = match &opts.target {
        Target::Xgboost(Some(tag)) => Some(table.require(tag)?),
        Target::Xgboost(None) => Some(table.newest_xgboost()),
        Target::Blazingtext => None,
    };
    // Explicit sidecars must exist before any work.
    for s in [&opts.manifest, &opts.sums] {
        if let Sidecar::Path(p) = s {
            std::fs::metadata(p).map_err(|e| Error::io("read", p, e))?;
        }
    }

    let (listing, ft_results) = match container {
        Some(_) => {
            let mut read = opts.read.clone();
            if read.capture == CapturePolicy::None {
                read.capture = CapturePolicy::RootFiles;
            }
            let listing = match &opts.progress {
                Some(p) => reader::read_archive_file_progress(path, &read, None, &p.0)?,
                None => reader::read_archive_file(path, &read)?,
            };
            (listing, BTreeMap::new())
        }
        None => {
            let mut v = FastTextVisitor {
                options: opts.fasttext.clone(),
                current: None,
                results: BTreeMap::new(),
                model_file: table.blazingtext.model_file.clone(),
            };
            let read = ReadOptions {
                capture: CapturePolicy::None,
                ..opts.read.clone()
            };
            let l = match &opts.progress {
                Some(p) => reader::read_archive_file_progress(path, &read, Some(&mut v), &p.0)?,
                None => reader::read_archive_file_with(path, &read, &mut v)?,
            };
            (l, v.results)
        }
    };

    let mut findings = listing.findings.clone();
    let root = root_entries(&listing);
    let archive_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.tar.gz".into());
    let extraction = extraction_verdict(&listing);

    let (family, container_name, pinned, discovery, models, verdict, verdicts, rebuild);
    match container {
        Some(c) => {
            let mut cache = ModelCache::default();
            let ensemble = opts.ensemble;
            let (d, ms, v) = judge_xgboost(c, &listing, &root, ensemble, &mut cache, &extraction);
            let mut all = Vec::new();
            for other in table.containers() {
                let (_, _, ov) =
                    judge_xgboost(other, &listing, &root, ensemble, &mut cache, &extraction);
                all.push(TagVerdict {
                    tag: other.tag.clone(),
                    verdict: ov,
                });
            }
            findings.extend(cache.findings_for(&d));
            findings.extend(discovery_findings(c, &listing, &root, &d));
            let rb = rebuild_command(&listing, &archive_name, Some(c));
            findings.extend(verdict_findings(
                &c.tag,
                Some(&format!("xgboost {}", c.xgboost_text)),
                &v,
                &all,
                rb.as_deref(),
            ));
            family = "xgboost";
            container_name = c.tag.clone();
            pinned = Some(format!(
                "xgboost {}, Python {}.{}",
                c.xgboost_text, c.python.major, c.python.minor
            ));
            discovery = d;
            models = ms;
            verdict = v;
            verdicts = all;
            rebuild = rb;
        }
        None => {
            let bt = &table.blazingtext;
            let (d, ms, v, fs) = judge_blazingtext(bt, &listing, &root, &ft_results, &extraction);
            findings.extend(fs);
            let rb = rebuild_command(&listing, &archive_name, None);
            findings.extend(verdict_findings(
                "blazingtext",
                None,
                &v,
                &[],
                rb.as_deref(),
            ));
            family = "blazingtext";
            container_name = "blazingtext".into();
            pinned = None;
            discovery = d;
            models = ms;
            verdict = v;
            verdicts = Vec::new();
            rebuild = rb;
        }
    }

    // Layout problems: point at the command that rebuilds the archive.
    let mut listing = listing;
    if let Some(cmd) = &rebuild {
        for f in findings.iter_mut().chain(listing.findings.iter_mut()) {
            if f.severity >= Severity::Warning
                && f.hint
                    .as_deref()
                    .is_some_and(|h| h.starts_with("rebuild the archive with sm-pack"))
            {
                f.hint = Some(format!("rebuild the archive properly: `{cmd}`"));
            } else if f.severity >= Severity::Warning
                && let Some(h) = f
                    .hint
                    .as_deref()
                    .and_then(|h| h.strip_suffix(" or rebuild with sm-pack"))
            {
                f.hint = Some(format!("{h} or rebuild the archive properly: `{cmd}`"));
            } else if f.code == reader::codes::WRAPPING_FOLDER {
                f.hint = Some(format!("put the model at the root of the archive: `{cmd}`"));
            }
        }
    }

    // Offer the rebuild command only when rebuilding fixes something.
    let rebuild = rebuild.filter(|_| findings.iter().any(is_layout_problem));

    let manifest = check_manifest(path, &archive_name, &listing, &opts.manifest, &mut findings)?;
    let sums = check_sums(path, &archive_name, &listing, &opts.sums, &mut findings)?;
    for f in findings.iter_mut() {
        if f.hint.is_none() && f.severity >= Severity::Warning {
            f.hint = sidecar_hint(&f.code);
        }
    }

    Ok(VerifyReport {
        archive: path.to_path_buf(),
        family,
        container: container_name,
        pinned,
        listing,
        discovery,
        models,
        verdict,
        verdicts,
        manifest,
        sums,
        rebuild,
        findings,
    })
}

// ---------------------------------------------------------------------------
// The model folder after extraction

fn is_safe(m: &ArchiveMember) -> bool {
    !m.path.is_empty() && !m.name.starts_with('/') && !m.path.split('/').any(|c| c == "..")
}

/// The entries of `/opt/ml/model` after extraction, in archive order.
pub fn root_entries(listing: &ArchiveListing) -> Vec<RootEntry> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<String, RootEntry> = BTreeMap::new();
    let members = &listing.members;
    // Last regular file at each path (extraction keeps the last), and every
    // folder path, for resolving links without rescanning the list.
    let mut files: std::collections::HashMap<&str, &ArchiveMember> = Default::default();
    let mut folders: std::collections::HashSet<&str> = Default::default();
    for m in members {
        if m.kind == MemberKind::File {
            files.insert(m.path.as_str(), m);
        } else if m.kind == MemberKind::Directory {
            folders.insert(m.path.as_str());
        }
        let p = m.path.as_str();
        folders.extend(p.match_indices('/').map(|(i, _)| &p[..i]));
    }
    let find_file = |path: &str| -> Option<&ArchiveMember> { files.get(path).copied() };
    for m in members.iter().filter(|m| is_safe(m)) {
        let first = m.path.split('/').next().unwrap_or_default().to_string();
        let entry = if m.path.contains('/') {
            RootEntry {
                name: first.clone(),
                kind: RootKind::Directory,
                member: None,
                via: None,
            }
        } else {
            match m.kind {
                MemberKind::File => RootEntry {
                    name: first.clone(),
                    kind: RootKind::File,
                    member: Some(m.index),
                    via: None,
                },
                MemberKind::Directory => RootEntry {
                    name: first.clone(),
                    kind: RootKind::Directory,
                    member: None,
                    via: None,
                },
                MemberKind::Hardlink | MemberKind::Symlink => {
                    let target = m.link_target.clone().unwrap_or_default();
                    // Hard link targets are archive paths; symlink targets
                    // are relative to the link's folder (the root here).
                    let resolved = if target.starts_with('/') {
                        None
                    } else {
                        Some(
                            target
                                .split('/')
                                .filter(|c| !c.is_empty() && *c != ".")
                                .collect::<Vec<_>>()
                                .join("/"),
                        )
                    };
                    let how = if m.kind == MemberKind::Symlink {
                        "symlink"
                    } else {
                        "hard link"
                    };
                    match resolved.as_deref().and_then(find_file) {
                        Some(t) => RootEntry {
                            name: first.clone(),
                            kind: RootKind::File,
                            member: Some(t.index),
                            via: Some(format!("{how} to {target}")),
                        },
                        None => {
                            let is_dir = resolved.as_deref().is_some_and(|r| folders.contains(r));
                            RootEntry {
                                name: first.clone(),
                                kind: if is_dir {
                                    RootKind::Directory
                                } else {
                                    RootKind::Other
                                },
                                member: None,
                                via: Some(format!("{how} to {target}")),
                            }
                        }
                    }
                }
                _ => RootEntry {
                    name: first.clone(),
                    kind: RootKind::Other,
                    member: None,
                    via: Some(format!("{} entry", m.kind.label())),
                },
            }
        };
        if !map.contains_key(&first) {
            order.push(first.clone());
        }
        // Extraction: a directory stays a directory; a later file replaces an earlier file.
        let keep_dir = map
            .get(&first)
            .is_some_and(|e| e.kind == RootKind::Directory);
        if !keep_dir || entry.kind == RootKind::Directory {
            map.insert(first, entry);
        }
    }
    order.into_iter().filter_map(|n| map.remove(&n)).collect()
}

/// Findings that stop SageMaker from extracting the archive at all, as a verdict.
fn extraction_verdict(listing: &ArchiveListing) -> Verdict {
    use reader::codes as rc;
    let fatal = [
        rc::EMPTY,
        rc::NOT_GZIP,
        rc::DOUBLE_GZIP,
        rc::NOT_TAR,
        rc::TRUNCATED,
        rc::GZIP_CORRUPT,
        rc::BAD_CHECKSUM,
        rc::HEADER_TOO_LARGE,
        rc::BAD_PAX,
        rc::TOO_MANY_MEMBERS,
        rc::SYMLINK,
    ];
    let unclear = [
        rc::ABSOLUTE_PATH,
        rc::DOTDOT,
        rc::HARDLINK,
        rc::SPECIAL,
        rc::SPARSE,
        rc::EMPTY_NAME,
        rc::NUL_IN_NAME,
        rc::NAME_TOO_LONG,
        rc::DUPLICATE,
        rc::FILE_AND_DIR,
        rc::GZIP_TRAILING,
    ];
    let mut v = Verdict::loads();
    for f in &listing.findings {
        let member = match &f.location {
            Some(Location::Member(m)) => Some(m.clone()),
            _ => None,
        };
        let reason = Reason {
            code: codes::EXTRACTION.into(),
            message: format!(
                "SageMaker extracts the archive before the container starts: {}",
                f.message
            ),
            member,
        };
        if f.severity == Severity::Error && fatal.contains(&f.code.as_str()) {
            v = v.combine(Verdict::fails(reason));
        } else if f.severity == Severity::Error && unclear.contains(&f.code.as_str()) {
            v = v.combine(Verdict::undetermined(Reason {
                message: format!("how SageMaker extracts this is not verified: {}", f.message),
                ..reason
            }));
        }
    }
    v
}

// ---------------------------------------------------------------------------
// XGBoost

/// Per-member model checks, computed once for all tags.
#[derive(Default)]
struct ModelCache {
    parsed: BTreeMap<usize, Parsed>,
}

enum Parsed {
    /// The reader ran on the whole file.
    Model(Box<crate::xgboost::Inspection>),
    /// The file is not an XGBoost model.
    NotAModel(String),
    /// The file is an XGBoost model but invalid.
    Invalid(String),
    /// Not all bytes were captured: only the sniffed prefix is known.
    Partial,
}

impl ModelCache {
    fn get(&mut self, m: &ArchiveMember) -> &Parsed {
        self.parsed
            .entry(m.index)
            .or_insert_with(|| match m.captured() {
                Some((bytes, true)) => match crate::xgboost::inspect_bytes(bytes) {
                    Ok(i) => Parsed::Model(Box::new(i)),
                    Err(Error::UnrecognizedFormat { what, .. }) => Parsed::NotAModel(what),
                    Err(Error::InvalidModel { format, finding }) => {
                        Parsed::Invalid(format!("{format}: {}", finding.message))
                    }
                    Err(e) => Parsed::Invalid(e.to_string()),
                },
                _ => Parsed::Partial,
            })
    }

    /// The model reader's own findings for the files a discovery loads.
    fn findings_for(&self, d: &Discovery) -> Vec<Finding> {
        let mut out = Vec::new();
        // A set, not `Vec::contains`: an ensemble of 100 000 root files
        // would make that quadratic.
        let picked: HashSet<&str> = d
            .loads
            .iter()
            .chain(&d.one_of)
            .map(String::as_str)
            .collect();
        for e in d.root.iter().filter(|e| picked.contains(e.name.as_str())) {
            if let Some(Parsed::Model(i)) = e.member.and_then(|m| self.parsed.get(&m)) {
                for f in &i.findings {
                    let mut f = f.clone();
                    f.message = format!("{}: {}", e.name, f.message);
                    out.push(f);
                }
            }
        }
        out
    }
}

/// The verdict for one root entry picked by the container.
fn judge_entry(
    c: &Container,
    e: &RootEntry,
    listing: &ArchiveListing,
    cache: &mut ModelCache,
) -> (Verdict, ModelCheck) {
    let reason = |code: &str, message: String| Reason {
        code: code.into(),
        message,
        member: Some(e.name.clone()),
    };
    let mut check = ModelCheck {
        name: e.name.clone(),
        content: None,
        validated: false,
        summary: None,
        description: String::new(),
        verdict: Verdict::loads(),
    };
    let verdict = match (e.kind, e.member.and_then(|i| listing.members.get(i))) {
        (RootKind::Directory, _) => {
            check.description = "directory".into();
            Verdict::fails(reason(
                codes::DIRECTORY_PICKED,
                format!(
                    "{} is a directory: pickle.load(open(path)) raises IsADirectoryError and Booster.load_model fails",
                    e.name
                ),
            ))
        }
        (RootKind::File, Some(m)) => {
            check.content = m.content;
            let tag_reason_pickle = match m.content {
                Some(Sniffed::Pickle { protocol }) => {
                    c.pickle_protocol_reason(protocol, Some(&e.name))
                }
                _ => None,
            };
            match cache.get(m) {
                Parsed::Model(i) => {
                    check.validated = true;
                    check.summary = Some(i.summary_json());
                    check.description = model_headline(&i.summary);
                    let errors: Vec<&Finding> = i
                        .findings
                        .iter()
                        .filter(|f| f.severity == Severity::Error)
                        .collect();
                    let file = m.captured().map(|(b, _)| b);
                    let mut v = c.judge_model_file(&i.model, file, Some(&e.name));
                    if !errors.is_empty() {
                        v = v.combine(Verdict::fails(reason(
                            codes::INVALID_MODEL,
                            format!(
                                "the model has {} validation error(s), e.g. [{}] {}",
                                errors.len(),
                                errors[0].code,
                                errors[0].message
                            ),
                        )));
                    }
                    v
                }
                Parsed::NotAModel(what) => {
                    check.description = format!("not an XGBoost model: {what}");
                    Verdict::fails(reason(
                        codes::NOT_A_MODEL,
                        format!(
                            "{} is not an XGBoost model ({what}): pickle.load and Booster.load_model both fail on it",
                            e.name
                        ),
                    ))
                }
                Parsed::Invalid(msg) => {
                    check.description = format!("invalid XGBoost model: {msg}");
                    Verdict::fails(reason(
                        codes::INVALID_MODEL,
                        format!("{} is not a valid XGBoost model: {msg}", e.name),
                    ))
                }
                Parsed::Partial => {
                    let sniffed = m.content.unwrap_or(Sniffed::Unknown);
                    check.description = format!("{} (not validated)", sniffed.describe());
                    let by_encoding = sniffed
                        .encoding()
                        .map(|enc| c.judge_encoding(enc, Some(&e.name)));
                    let mut v = match by_encoding {
                        Some(v) if !v.is_loads() => v,
                        _ => Verdict::undetermined(if m.sparse || m.data.is_none() {
                            reason(
                                codes::NOT_VALIDATED,
                                if m.sparse {
                                    format!(
                                        "{} is a GNU sparse file; its bytes were not validated",
                                        e.name
                                    )
                                } else {
                                    format!(
                                        "the bytes of {} were not kept, so the model was not validated",
                                        e.name
                                    )
                                },
                            )
                        } else {
                            reason(
                                codes::TOO_LARGE_TO_VALIDATE,
                                format!(
                                    "{} ({} bytes) is larger than the {} bytes verify keeps in memory, so the model was not validated",
                                    e.name,
                                    m.size,
                                    listing_capture_hint(m)
                                ),
                            )
                        }),
                    };
                    if let Some(r) = tag_reason_pickle {
                        v = v.combine(Verdict::fails(r));
                    }
                    v
                }
            }
        }
        _ => {
            check.description = e.via.clone().unwrap_or_else(|| "not a regular file".into());
            Verdict::fails(reason(
                codes::NOT_A_FILE,
                format!("{} is not a regular file ({})", e.name, check.description),
            ))
        }
    };
    check.verdict = verdict.clone();
    (verdict, check)
}

fn listing_capture_hint(m: &ArchiveMember) -> u64 {
    m.data.as_ref().map(|d| d.len() as u64).unwrap_or(0)
}

fn is_dot(name: &str) -> bool {
    name.starts_with('.')
}

/// Applies a tag's discovery rules to the root entries.
fn discover(c: &Container, root: &[RootEntry], ensemble: Option<bool>) -> Discovery {
    use crate::container::Discovery as D;
    let ensemble = c.ensemble_supported && ensemble.unwrap_or(c.ensemble_default);
    let mut skipped = Vec::new();
    let candidates: Vec<&RootEntry> = match c.discovery {
        D::FirstEntry => root.iter().collect(),
        D::FirstFile | D::AllFiles => root
            .iter()
            .filter(|e| {
                if e.kind != RootKind::File {
                    let why = match e.kind {
                        RootKind::Directory => {
                            "a folder: isfile() is false, its files are never loaded"
                        }
                        _ => "not a regular file",
                    };
                    skipped.push((e.name.clone(), why.to_string()));
                    false
                } else if c.skip_dotfiles && is_dot(&e.name) {
                    skipped.push((e.name.clone(), "dotfile, skipped by this tag".to_string()));
                    false
                } else {
                    true
                }
            })
            .collect(),
    };
    let names: Vec<String> = candidates.iter().map(|e| e.name.clone()).collect();
    let (loads, one_of) = match (c.discovery, names.len()) {
        (_, 0) => (Vec::new(), Vec::new()),
        (_, 1) => (names, Vec::new()),
        (D::AllFiles, _) if ensemble => (names, Vec::new()),
        _ => (Vec::new(), names),
    };
    let mut rule = c.discovery_summary();
    if c.ensemble_supported && !ensemble {
        rule.push_str(" (simulated with the ensemble off)");
    }
    Discovery {
        container: c.tag.clone(),
        rule,
        root: root.to_vec(),
        loads,
        one_of,
        skipped,
        ensemble,
    }
}

fn same_bytes(listing: &ArchiveListing, root: &[RootEntry], names: &[String]) -> bool {
    let by_name: std::collections::HashMap<&str, &RootEntry> =
        root.iter().map(|e| (e.name.as_str(), e)).collect();
    let digests: Vec<Option<&str>> = names
        .iter()
        .map(|n| {
            by_name
                .get(n.as_str())
                .and_then(|e| e.member)
                .and_then(|i| listing.members.get(i))
                .and_then(|m| m.sha256.as_deref())
        })
        .collect();
    digests.iter().all(|d| d.is_some() && *d == digests[0])
}

fn judge_xgboost(
    c: &Container,
    listing: &ArchiveListing,
    root: &[RootEntry],
    ensemble: Option<bool>,
    cache: &mut ModelCache,
    extraction: &Verdict,
) -> (Discovery, Vec<ModelCheck>, Verdict) {
    let d = discover(c, root, ensemble);
    let mut verdict = extraction.clone();
    let mut checks = Vec::new();
    let by_name: std::collections::HashMap<&str, &RootEntry> =
        root.iter().map(|e| (e.name.as_str(), e)).collect();
    let entry = |n: &String| by_name.get(n.as_str()).copied();
    if d.loads.is_empty() && d.one_of.is_empty() {
        let mut msg = format!(
            "{} finds no model file at the root of the archive and fails ({})",
            c.tag, c.no_model_error
        );
        if root.iter().any(|e| e.kind == RootKind::Directory) {
            msg.push_str("; files inside folders are never loaded");
        }
        verdict = verdict.combine(Verdict::fails(Reason::new(codes::NO_MODEL, msg)));
        return (d, checks, verdict);
    }
    if !d.loads.is_empty() {
        let n = d.loads.len();
        let mut all_models = true;
        for name in &d.loads {
            let Some(e) = entry(name) else { continue };
            let (mut v, check) = judge_entry(c, e, listing, cache);
            let not_model = v
                .reasons()
                .iter()
                .any(|r| r.code == codes::NOT_A_MODEL || r.code == codes::NOT_A_FILE);
            all_models &= !not_model && !matches!(v, Verdict::FailsToLoad { .. });
            if n > 1 && not_model {
                v = Verdict::fails(
                    Reason::new(
                        codes::EXTRA_FILE_LOADED,
                        format!(
                            "{} loads every regular file at the root as an ensemble member (ensemble is on by default), so it tries to load {name} as a model and the endpoint fails to start",
                            c.tag
                        ),
                    )
                    .member(name.clone()),
                )
                .combine(v);
            }
            if is_dot(name) && !matches!(v, Verdict::Loads { .. }) {
                v = v.combine(Verdict::fails(
                    Reason::new(
                        codes::DOTFILE_LOADED,
                        format!(
                            "{} does not skip dotfiles, so it loads {name} as a model",
                            c.tag
                        ),
                    )
                    .member(name.clone()),
                ));
            }
            verdict = verdict.combine(v);
            checks.push(check);
        }
        if n > 1 && all_models && verdict.is_loads() {
            if same_bytes(listing, root, &d.loads) {
                verdict = verdict.note(Reason::new(
                    codes::ENSEMBLE,
                    format!("{n} identical copies are loaded as an ensemble; averaging identical models changes nothing"),
                ));
            } else {
                verdict = verdict.combine(Verdict::mispredicts(Reason::new(
                    codes::ENSEMBLE,
                    format!(
                        "{} loads {n} models ({}) as an ensemble and serves their average (majority vote for multi:softmax/binary:hinge), not the output of any one of them",
                        c.tag,
                        d.loads.join(", ")
                    ),
                )));
            }
        }
    } else {
        // One of several, by listdir order.
        let mut per: Vec<Verdict> = Vec::new();
        for name in &d.one_of {
            let Some(e) = entry(name) else { continue };
            let (mut v, check) = judge_entry(c, e, listing, cache);
            if is_dot(name) && !v.is_loads() {
                v = v.combine(Verdict::fails(
                    Reason::new(
                        codes::DOTFILE_LOADED,
                        format!(
                            "{} does not skip dotfiles and may pick {name} as the model",
                            c.tag
                        ),
                    )
                    .member(name.clone()),
                ));
            }
            per.push(v);
            checks.push(check);
        }
        let all_load = per.iter().all(Verdict::is_loads);
        let prefix = format!(
            "{} loads only ONE of {} ({}); which one depends on the filesystem's listdir order",
            c.tag,
            d.one_of.len(),
            d.one_of.join(", ")
        );
        if all_load && same_bytes(listing, root, &d.one_of) {
            verdict = verdict.note(Reason::new(
                codes::ORDER_DEPENDENT,
                format!("{prefix}; they are identical"),
            ));
        } else if all_load {
            verdict = verdict.combine(Verdict::mispredicts(Reason::new(
                codes::ORDER_DEPENDENT,
                format!("{prefix}; they are different models, so which predictions are served is left to chance"),
            )));
        } else {
            let mut worst = Verdict::loads();
            for v in per {
                worst = worst.combine(v);
            }
            verdict = verdict.combine(Verdict::fails(Reason::new(
                codes::ORDER_DEPENDENT,
                format!("{prefix}; if it picks the wrong one, loading fails"),
            )));
            verdict = verdict.combine(worst);
        }
    }
    (d, checks, verdict)
}

/// Informational findings about what the container skips.
fn discovery_findings(
    c: &Container,
    listing: &ArchiveListing,
    root: &[RootEntry],
    d: &Discovery,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let wrapped = listing
        .findings
        .iter()
        .any(|f| f.code == reader::codes::WRAPPING_FOLDER);
    let by_name: std::collections::HashMap<&str, &RootEntry> =
        root.iter().map(|e| (e.name.as_str(), e)).collect();
    for (name, why) in &d.skipped {
        let e = by_name.get(name.as_str()).copied();
        match e.map(|e| e.kind) {
            Some(RootKind::Directory) if !wrapped && name != "__MACOSX" => out.push(
                Finding::info(
                    codes::SUBFOLDER_IGNORED,
                    format!("{} never loads files inside the folder {name}/", c.tag),
                )
                .at(Location::Member(name.clone())),
            ),
            Some(RootKind::File) => out.push(
                Finding::info(
                    codes::DOTFILE_SKIPPED,
                    format!(
                        "{} skips the dotfile {name} (with a warning in its log)",
                        c.tag
                    ),
                )
                .at(Location::Member(name.clone())),
            ),
            Some(RootKind::Other) => out.push(
                Finding::info(codes::NOT_A_FILE, format!("{} skips {name}: {why}", c.tag))
                    .at(Location::Member(name.clone())),
            ),
            _ => {}
        }
    }
    out
}

/// What to do about a manifest / SHA256SUMS finding.
fn sidecar_hint(code: &str) -> Option<String> {
    let differs = "the archive is not the one its sidecars describe: it was changed after packing, or the sidecars come from another build. Fetch the archive and its sidecars again from the same place, or re-pack the model with sm-pack, which writes all three together (`sm-pack xgboost <model> -o model.tar.gz`)";
    match code {
        codes::MANIFEST_ARCHIVE
        | codes::MANIFEST_TAR
        | codes::MANIFEST_MEMBER
        | codes::MANIFEST_MEMBER_MISSING
        | codes::MANIFEST_MEMBER_EXTRA
        | codes::SUMS_MISMATCH
        | codes::SUMS_MISSING => Some(differs.into()),
        codes::MANIFEST_UNREADABLE => Some(
            "pass the manifest sm-pack wrote with this archive (`--manifest <archive>.manifest.json`), or `--no-sidecars` to skip the check".into(),
        ),
        codes::SUMS_UNREADABLE => Some(
            "pass a file in `sha256sum` format (`<64 hex digits>  <file name>` per line) with `--sums`, or `--no-sidecars` to skip the check".into(),
        ),
        codes::MANIFEST_NAME => Some(
            "renaming the archive is fine if that was intended; otherwise pass the manifest written with this archive (`--manifest`)".into(),
        ),
        _ => None,
    }
}

fn hint_for(code: &str, rebuild: Option<&str>) -> Option<String> {
    let rb = rebuild.map(|c| format!("`{c}`"));
    let rebuild_or = |alt: &str| rb.clone().unwrap_or_else(|| alt.to_string());
    match code {
        codes::NO_MODEL | codes::DIRECTORY_PICKED => Some(format!(
            "put exactly one model file, xgboost-model, at the root of the archive: {}",
            rebuild_or("`sm-pack xgboost <model file> -o model.tar.gz`")
        )),
        codes::EXTRA_FILE_LOADED | codes::ENSEMBLE | codes::ORDER_DEPENDENT | codes::DOTFILE_LOADED => Some(format!(
            "keep only the model at the root (sidecars belong beside model.tar.gz, not inside): {}",
            rebuild_or("`sm-pack xgboost <model file> -o model.tar.gz`")
        )),
        codes::NOT_A_MODEL | codes::NOT_A_FILE => Some(format!(
            "the archive's root must hold only the model: {}",
            rebuild_or("`sm-pack xgboost <model file> -o model.tar.gz`")
        )),
        codes::EXTRACTION => Some(format!(
            "rebuild the archive: {}",
            rebuild_or("`sm-pack xgboost <model file> -o model.tar.gz`")
        )),
        codes::BT_NO_MODEL_BIN => Some(format!(
            "BlazingText loads model.bin from the archive root: {}",
            rebuild_or("`sm-pack fasttext <model.bin> -o model.tar.gz`")
        )),
        codes::TOO_LARGE_TO_VALIDATE => {
            Some("raise the limit with --capture-limit (MiB), or validate the model file itself with `sm-pack inspect <model file>`".into())
        }
        codes::BT_INVALID_MODEL => Some(
            "model.bin is damaged or not a fastText model BlazingText reads (see the ft.*/bt.* findings): take it again from the training job's output and pack it with `sm-pack fasttext model.bin -o model.tar.gz`, which validates it first".into(),
        ),
        codes::NOT_VALIDATED => Some(format!(
            "validate the model file itself with `sm-pack inspect <model file>`, and store it as a plain file: {}",
            rebuild_or("`sm-pack xgboost <model file> -o model.tar.gz`")
        )),
        _ => None,
    }
}

/// Turns the chosen tag's verdict into findings.
fn verdict_findings(
    tag: &str,
    pinned: Option<&str>,
    v: &Verdict,
    all: &[TagVerdict],
    rebuild: Option<&str>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let working: Vec<&str> = all
        .iter()
        .filter(|t| t.verdict.is_loads())
        .map(|t| t.tag.as_str())
        .collect();
    // A gate must not pass what it could not check: "undetermined" fails the
    // run like `inspect --container` does (exit 1), with the reason and a way out.
    let sev = match v {
        Verdict::Loads { .. } => Severity::Info,
        _ => Severity::Error,
    };
    for r in v.reasons() {
        // Extraction reasons repeat reader findings already reported.
        if r.code == codes::EXTRACTION {
            continue;
        }
        let mut f = Finding::new(r.code.clone(), sev, r.message.clone());
        if let Some(m) = &r.member {
            f = f.at(Location::Member(m.clone()));
        }
        let hint = hint_for(&r.code, rebuild).or_else(|| {
            if r.code.starts_with("container.")
                && r.code != crate::container::MORE_REASONS
                && sev == Severity::Error
            {
                Some(if working.is_empty() {
                    "re-save the model with the xgboost version the container pins (booster.save_model(\"model.json\")) and pack it with sm-pack".to_string()
                } else {
                    format!(
                        "re-save the model with the xgboost {tag} runs{}, or target a tag that loads it as is: {}",
                        pinned.map(|p| format!(" ({p})")).unwrap_or_default(),
                        working.join(", ")
                    )
                })
            } else {
                None
            }
        });
        if let Some(h) = hint {
            f = f.with_hint(h);
        }
        out.push(f);
    }
    let summary = match v {
        Verdict::Loads { .. } => None,
        Verdict::Undetermined { .. } => Some(Finding::error(
            codes::VERDICT,
            format!(
                "sm-pack cannot tell whether {tag} loads this archive (see the findings above), so it does not pass it"
            ),
        )),
        Verdict::FailsToLoad { .. } => Some(Finding::error(
            codes::VERDICT,
            format!("{tag} would fail to load this archive: the endpoint would not come up"),
        )),
        Verdict::LoadsButMispredicts { .. } => Some(Finding::error(
            codes::VERDICT,
            format!(
                "{tag} would load this archive but predict different numbers than the model as saved"
            ),
        )),
    };
    out.extend(summary);
    out
}

// ---------------------------------------------------------------------------
// BlazingText

type FtResults = BTreeMap<usize, std::result::Result<crate::fasttext::Inspection, String>>;

fn judge_blazingtext(
    bt: &BlazingText,
    listing: &ArchiveListing,
    root: &[RootEntry],
    results: &FtResults,
    extraction: &Verdict,
) -> (Discovery, Vec<ModelCheck>, Verdict, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut verdict = extraction.clone();
    let mut checks = Vec::new();
    let entry = root.iter().find(|e| e.name == bt.model_file);
    let mut skipped = Vec::new();
    for e in root.iter().filter(|e| e.name != bt.model_file) {
        skipped.push((e.name.clone(), "not model.bin".to_string()));
    }
    let loads = entry.map(|e| vec![e.name.clone()]).unwrap_or_default();
    match entry {
        None => {
            let others: Vec<&str> = root
                .iter()
                .filter(|e| {
                    e.member
                        .and_then(|i| listing.members.get(i))
                        .is_some_and(|m| matches!(m.content, Some(Sniffed::FastText { .. })))
                })
                .map(|e| e.name.as_str())
                .collect();
            let mut msg = format!(
                "there is no {} at the root of the archive; BlazingText hosting loads that file",
                bt.model_file
            );
            if !others.is_empty() {
                msg.push_str(&format!(
                    " (the fastText model here is named {})",
                    others.join(", ")
                ));
            }
            verdict = verdict.combine(Verdict::fails(Reason::new(codes::BT_NO_MODEL_BIN, msg)));
        }
        Some(e) => {
            let member = e.member.and_then(|i| listing.members.get(i));
            let mut check = ModelCheck {
                name: e.name.clone(),
                content: member.and_then(|m| m.content),
                validated: false,
                summary: None,
                description: String::new(),
                verdict: Verdict::loads(),
            };
            let v = match (e.kind, member) {
                (RootKind::File, Some(m)) => match results.get(&m.index) {
                    Some(Ok(i)) => {
                        check.validated = true;
                        check.summary = Some(i.summary_json());
                        check.description = format!(
                            "fastText model ({} bytes{})",
                            i.file_size,
                            if i.is_quantized() { ", quantized" } else { "" }
                        );
                        for f in &i.findings {
                            let mut f = f.clone();
                            f.message = format!("{}: {}", bt.model_file, f.message);
                            findings.push(f);
                        }
                        let errors = i
                            .findings
                            .iter()
                            .filter(|f| f.severity == Severity::Error)
                            .count();
                        if errors > 0 {
                            Verdict::fails(
                                Reason::new(
                                    codes::BT_INVALID_MODEL,
                                    format!(
                                        "{} has {errors} validation error(s) (see the findings)",
                                        bt.model_file
                                    ),
                                )
                                .member(bt.model_file.clone()),
                            )
                        } else {
                            Verdict::loads()
                        }
                    }
                    Some(Err(msg)) => {
                        check.description = format!("not a valid fastText model: {msg}");
                        Verdict::fails(
                            Reason::new(
                                codes::BT_INVALID_MODEL,
                                format!("{} is not a valid fastText model: {msg}", bt.model_file),
                            )
                            .member(bt.model_file.clone()),
                        )
                    }
                    None => {
                        check.description = "not read".into();
                        Verdict::undetermined(
                            Reason::new(
                                codes::BT_INVALID_MODEL,
                                format!("{} was not validated", bt.model_file),
                            )
                            .member(bt.model_file.clone()),
                        )
                    }
                },
                _ => {
                    check.description =
                        e.via.clone().unwrap_or_else(|| "not a regular file".into());
                    Verdict::fails(
                        Reason::new(
                            codes::NOT_A_FILE,
                            format!(
                                "{} is not a regular file ({})",
                                bt.model_file, check.description
                            ),
                        )
                        .member(bt.model_file.clone()),
                    )
                }
            };
            check.verdict = v.clone();
            checks.push(check);
            verdict = verdict.combine(v);
        }
    }
    let extra: Vec<&str> = root
        .iter()
        .filter(|e| e.name != bt.model_file)
        .map(|e| e.name.as_str())
        .collect();
    if !extra.is_empty() && entry.is_some() {
        findings.push(
            Finding::warning(
                codes::BT_EXTRA_FILES,
                format!(
                    "the archive holds more than {} ({}); how BlazingText treats other files is undocumented",
                    bt.model_file,
                    extra.join(", ")
                ),
            )
            .with_hint("ship model.bin alone: `sm-pack fasttext <model.bin> -o model.tar.gz`"),
        );
    }
    let d = Discovery {
        container: "blazingtext".into(),
        rule: bt.discovery.clone(),
        root: root.to_vec(),
        loads,
        one_of: Vec::new(),
        skipped,
        ensemble: false,
    };
    (d, checks, verdict, findings)
}

// ---------------------------------------------------------------------------
// Rebuild command

/// A warning or error that repacking the model with sm-pack fixes.
fn is_layout_problem(f: &Finding) -> bool {
    f.severity >= Severity::Warning
        && (f.code.starts_with("archive.")
            || f.code.starts_with("member.")
            || [
                codes::NO_MODEL,
                codes::EXTRA_FILE_LOADED,
                codes::ENSEMBLE,
                codes::ORDER_DEPENDENT,
                codes::DOTFILE_LOADED,
                codes::NOT_A_FILE,
                codes::DIRECTORY_PICKED,
                codes::BT_NO_MODEL_BIN,
                codes::BT_EXTRA_FILES,
            ]
            .contains(&f.code.as_str()))
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The command that rebuilds the archive with the model at the root, when
/// the archive holds exactly one plausible model.
fn rebuild_command(
    listing: &ArchiveListing,
    archive_name: &str,
    container: Option<&Container>,
) -> Option<String> {
    let wanted = |m: &&ArchiveMember| {
        m.kind == MemberKind::File
            && m.sha256.is_some()
            && match (container, m.content) {
                (Some(_), Some(s)) => s.encoding().is_some() || matches!(s, Sniffed::Pickle { .. }),
                (None, Some(Sniffed::FastText { .. })) => true,
                _ => false,
            }
            && !m.basename().starts_with("._")
            && m.path.split('/').next() != Some("__MACOSX")
            // GNU tar refuses to extract these.
            && !m.name.split('/').any(|c| c == "..")
    };
    // A damaged archive makes tar exit non-zero, so the `&&` below would
    // never run: rebuild from the original model file instead.
    let damaged = listing.findings.iter().any(|f| {
        f.severity == Severity::Error
            && [
                reader::codes::BAD_CHECKSUM,
                reader::codes::BAD_HEADER,
                reader::codes::GZIP_CORRUPT,
                reader::codes::TRUNCATED,
            ]
            .contains(&f.code.as_str())
    });
    if damaged {
        return None;
    }
    let models: Vec<&ArchiveMember> = listing.members.iter().filter(wanted).collect();
    // Prefer the conventional name; otherwise there must be only one candidate.
    let conventional = if container.is_some() {
        "xgboost-model"
    } else {
        "model.bin"
    };
    let pick = models
        .iter()
        .rev()
        .find(|m| m.basename() == conventional)
        .or_else(|| (models.len() == 1).then(|| &models[0]))?;
    // Naming a member that is also a folder would extract what is inside.
    let prefix = format!("{}/", pick.path);
    let no_recursion = if listing.members.iter().any(|m| m.path.starts_with(&prefix)) {
        " --no-recursion"
    } else {
        ""
    };
    let extract = match listing.compression {
        Compression::None => format!("tar{no_recursion} -xf"),
        _ => format!("tar{no_recursion} -xzf"),
    };
    let member = shell_quote(&pick.name);
    // GNU tar strips the leading `/` of absolute names when it extracts.
    let extracted = shell_quote(pick.name.trim_start_matches('/'));
    let archive = shell_quote(archive_name);
    let pack = match container {
        Some(c) => format!(
            "sm-pack xgboost {extracted} --container {} -o {archive} --force",
            c.tag
        ),
        None => format!("sm-pack fasttext {extracted} -o {archive} --force"),
    };
    if matches!(listing.compression, Compression::Gzip { double: true, .. }) {
        return Some(format!(
            "gunzip -c {archive} | tar{no_recursion} -xz {member} && {pack}"
        ));
    }
    // Non-zero bytes after the gzip stream make `tar -xzf` exit 2: feed tar
    // the gzip stream alone.
    let garbage_at = listing.findings.iter().find_map(|f| {
        match (
            f.code == reader::codes::GZIP_TRAILING && f.severity == Severity::Error,
            &f.location,
        ) {
            (true, Some(Location::Offset(at))) => Some(*at),
            _ => None,
        }
    });
    if let Some(at) = garbage_at {
        return Some(format!(
            "head -c {at} {archive} | tar{no_recursion} -xz {member} && {pack}"
        ));
    }
    Some(format!("{extract} {archive} {member} && {pack}"))
}

// ---------------------------------------------------------------------------
// Sidecars

/// Largest sidecar (`<archive>.manifest.json`, `SHA256SUMS`) verify reads:
/// 16 MiB. sm-pack's manifests are a few kilobytes; a larger file is refused
/// with a finding instead of being held in memory.
pub const MAX_SIDECAR_BYTES: u64 = 16 << 20;

/// Most findings of one code the sidecar checks list; the rest are counted
/// in one more finding.
pub const SIDECAR_FINDINGS_PER_CODE: usize = 20;

/// A sidecar's bytes, or why they were not read.
enum SidecarBytes {
    Read(Vec<u8>),
    Absent,
    /// Too large, or not a regular file (a FIFO would block the read).
    Refused(String),
}

/// Reads a sidecar with the size cap. An auto-discovered sidecar must be a
/// regular file: it is opened without blocking and checked before reading.
fn read_sidecar(p: &Path, explicit: bool) -> Result<SidecarBytes> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    if !explicit {
        o.custom_flags(libc::O_NONBLOCK);
    }
    let file = match o.open(p) {
        Ok(f) => f,
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(SidecarBytes::Absent);
        }
        Err(e) => return Err(Error::io("read", p, e)),
    };
    let meta = file.metadata().map_err(|e| Error::io("read", p, e))?;
    if meta.is_dir() || (!explicit && !meta.is_file()) {
        return Ok(SidecarBytes::Refused(format!(
            "{} is not a regular file",
            p.display()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_SIDECAR_BYTES) as usize + 1);
    file.take(MAX_SIDECAR_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", p, e))?;
    if bytes.len() as u64 > MAX_SIDECAR_BYTES {
        return Ok(SidecarBytes::Refused(format!(
            "{} is larger than the {} MiB sm-pack reads of a sidecar",
            p.display(),
            MAX_SIDECAR_BYTES >> 20
        )));
    }
    Ok(SidecarBytes::Read(bytes))
}

/// Pushes `f` unless [`SIDECAR_FINDINGS_PER_CODE`] findings with its code
/// were already pushed since `before`; counts the ones left out in `dropped`.
fn push_capped(
    findings: &mut Vec<Finding>,
    before: usize,
    dropped: &mut BTreeMap<String, usize>,
    f: Finding,
) {
    let n = findings[before..]
        .iter()
        .filter(|g| g.code == f.code)
        .count();
    if n < SIDECAR_FINDINGS_PER_CODE {
        findings.push(f);
    } else {
        *dropped.entry(f.code).or_default() += 1;
    }
}

/// One finding per code with findings left out by [`push_capped`].
fn summarize_dropped(findings: &mut Vec<Finding>, dropped: BTreeMap<String, usize>) {
    for (code, n) in dropped {
        findings.push(Finding::error(
            &code,
            format!("… and {n} more {code} finding(s) like the ones above"),
        ));
    }
}

fn sidecar_path(path: &Path, which: &Sidecar, default_name: &str) -> Option<(PathBuf, bool)> {
    match which {
        Sidecar::Skip => None,
        Sidecar::Path(p) => Some((p.clone(), true)),
        Sidecar::Auto => Some((path.with_file_name(default_name), false)),
    }
}

fn check_manifest(
    path: &Path,
    archive_name: &str,
    listing: &ArchiveListing,
    which: &Sidecar,
    findings: &mut Vec<Finding>,
) -> Result<Option<SidecarCheck>> {
    let Some((mpath, explicit)) =
        sidecar_path(path, which, &format!("{archive_name}.manifest.json"))
    else {
        return Ok(None);
    };
    let text = match read_sidecar(&mpath, explicit)? {
        SidecarBytes::Read(t) => t,
        SidecarBytes::Absent => {
            findings.push(Finding::info(
                codes::MANIFEST_ABSENT,
                format!(
                    "no {} beside the archive; member digests not checked against a manifest",
                    mpath.display()
                ),
            ));
            return Ok(None);
        }
        SidecarBytes::Refused(why) => {
            findings.push(Finding::error(codes::MANIFEST_UNREADABLE, why));
            return Ok(Some(SidecarCheck {
                path: mpath,
                checked: Vec::new(),
                ok: false,
            }));
        }
    };
    let before = findings.len();
    let mut checked = Vec::new();
    let loc = |name: &str| Location::Member(name.to_string());
    let doc: serde_json::Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => {
            findings.push(Finding::error(
                codes::MANIFEST_UNREADABLE,
                format!("{} is not valid JSON: {e}", mpath.display()),
            ));
            return Ok(Some(SidecarCheck {
                path: mpath,
                checked,
                ok: false,
            }));
        }
    };
    if doc["schema"].as_str() != Some(crate::manifest::MANIFEST_SCHEMA) {
        findings.push(Finding::error(
            codes::MANIFEST_UNREADABLE,
            format!(
                "{} is not an sm-pack manifest (schema {:?}, expected {:?})",
                mpath.display(),
                doc["schema"],
                crate::manifest::MANIFEST_SCHEMA
            ),
        ));
        return Ok(Some(SidecarCheck {
            path: mpath,
            checked,
            ok: false,
        }));
    }
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    let mismatch = |findings: &mut Vec<Finding>,
                    dropped: &mut BTreeMap<String, usize>,
                    code: &str,
                    what: &str,
                    want: &serde_json::Value,
                    got: String,
                    at: Option<Location>| {
        let mut f = Finding::error(
            code,
            format!("{what} differs from the manifest: manifest says {want}, archive has {got}"),
        )
        .with_hint(
            "the archive or the manifest was changed after packing; re-download or rebuild both",
        );
        if let Some(l) = at {
            f = f.at(l);
        }
        push_capped(findings, before, dropped, f);
    };
    // The archive file.
    let a = &doc["archive"];
    if let Some(n) = a["name"].as_str()
        && n != archive_name
    {
        findings.push(Finding::warning(
            codes::MANIFEST_NAME,
            format!("the manifest describes {n:?}, not {archive_name:?}"),
        ));
    }
    if a["size"].as_u64() != Some(listing.size) {
        mismatch(
            findings,
            &mut dropped,
            codes::MANIFEST_ARCHIVE,
            "the archive size",
            &a["size"],
            listing.size.to_string(),
            None,
        );
    }
    if a["sha256"].as_str() != Some(listing.sha256.as_str()) {
        mismatch(
            findings,
            &mut dropped,
            codes::MANIFEST_ARCHIVE,
            "the archive SHA-256",
            &a["sha256"],
            listing.sha256.clone(),
            None,
        );
    }
    checked.push("archive size and sha256".to_string());
    let t = &doc["tar"];
    if !t.is_null() {
        if t["size"].as_u64() != Some(listing.tar_size) {
            mismatch(
                findings,
                &mut dropped,
                codes::MANIFEST_TAR,
                "the tar stream size",
                &t["size"],
                listing.tar_size.to_string(),
                None,
            );
        }
        if t["sha256"].as_str() != Some(listing.tar_sha256.as_str()) {
            mismatch(
                findings,
                &mut dropped,
                codes::MANIFEST_TAR,
                "the tar stream SHA-256",
                &t["sha256"],
                listing.tar_sha256.clone(),
                None,
            );
        }
        checked.push("tar size and sha256".to_string());
    }
    // Members, by name: one lookup table each way, so a manifest listing a
    // million names costs a million lookups, not a million scans. The last
    // member of a name is the one extraction leaves.
    let listed: Vec<&serde_json::Value> = doc["members"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let by_name: HashMap<&str, &ArchiveMember> = listing
        .members
        .iter()
        .map(|m| (m.name.as_str(), m))
        .collect();
    let listed_names: HashSet<&str> = listed.iter().filter_map(|lm| lm["name"].as_str()).collect();
    for lm in &listed {
        let Some(name) = lm["name"].as_str() else {
            push_capped(
                findings,
                before,
                &mut dropped,
                Finding::error(codes::MANIFEST_UNREADABLE, "a manifest member has no name"),
            );
            continue;
        };
        let Some(m) = by_name.get(name) else {
            push_capped(
                findings,
                before,
                &mut dropped,
                Finding::error(
                    codes::MANIFEST_MEMBER_MISSING,
                    format!("the manifest lists {name:?} but the archive has no such member"),
                )
                .at(loc(name)),
            );
            continue;
        };
        if lm["size"].as_u64() != Some(m.size) {
            mismatch(
                findings,
                &mut dropped,
                codes::MANIFEST_MEMBER,
                &format!("the size of {name:?}"),
                &lm["size"],
                m.size.to_string(),
                Some(loc(name)),
            );
        }
        if lm["sha256"].as_str() != m.sha256.as_deref() {
            mismatch(
                findings,
                &mut dropped,
                codes::MANIFEST_MEMBER,
                &format!("the SHA-256 of {name:?}"),
                &lm["sha256"],
                m.sha256.clone().unwrap_or_else(|| "(incomplete)".into()),
                Some(loc(name)),
            );
        }
        if let Some(mode) = lm["mode"].as_str()
            && u32::from_str_radix(mode, 8).ok() != Some(m.mode & 0o7777)
        {
            mismatch(
                findings,
                &mut dropped,
                codes::MANIFEST_MEMBER,
                &format!("the mode of {name:?}"),
                &lm["mode"],
                m.mode_octal(),
                Some(loc(name)),
            );
        }
    }
    for m in &listing.members {
        if !listed_names.contains(m.name.as_str()) {
            push_capped(
                findings,
                before,
                &mut dropped,
                Finding::error(
                    codes::MANIFEST_MEMBER_EXTRA,
                    format!(
                        "the archive holds {:?}, which the manifest does not list",
                        m.name
                    ),
                )
                .at(loc(&m.name)),
            );
        }
    }
    summarize_dropped(findings, dropped);
    checked.push(format!("{} member(s)", listed.len()));
    let ok = !findings[before..]
        .iter()
        .any(|f| f.severity == Severity::Error);
    Ok(Some(SidecarCheck {
        path: mpath,
        checked,
        ok,
    }))
}

fn check_sums(
    path: &Path,
    archive_name: &str,
    listing: &ArchiveListing,
    which: &Sidecar,
    findings: &mut Vec<Finding>,
) -> Result<Option<SidecarCheck>> {
    let Some((spath, explicit)) = sidecar_path(path, which, "SHA256SUMS") else {
        return Ok(None);
    };
    let text = match read_sidecar(&spath, explicit)? {
        SidecarBytes::Read(t) => String::from_utf8_lossy(&t).into_owned(),
        SidecarBytes::Absent => {
            findings.push(Finding::info(
                codes::MANIFEST_ABSENT,
                format!(
                    "no {} beside the archive; the archive digest is not checked against one",
                    spath.display()
                ),
            ));
            return Ok(None);
        }
        SidecarBytes::Refused(why) => {
            findings.push(Finding::error(codes::SUMS_UNREADABLE, why));
            return Ok(Some(SidecarCheck {
                path: spath,
                checked: Vec::new(),
                ok: false,
            }));
        }
    };
    let before = findings.len();
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    let mut entries: Vec<(String, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = line.split_at_checked(64).and_then(|(d, rest)| {
            let name = rest
                .strip_prefix("  ")
                .or_else(|| rest.strip_prefix(" *"))?;
            d.bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then(|| (name.to_string(), d.to_ascii_lowercase()))
        });
        match parsed {
            Some(e) => entries.push(e),
            None => push_capped(
                findings,
                before,
                &mut dropped,
                Finding::error(
                    codes::SUMS_UNREADABLE,
                    format!(
                        "line {} of {} is not in `sha256sum` format",
                        i + 1,
                        spath.display()
                    ),
                ),
            ),
        }
    }
    summarize_dropped(findings, dropped);
    let mut checked = Vec::new();
    match entries.iter().rev().find(|(n, _)| n == archive_name) {
        Some((_, d)) if *d == listing.sha256 => checked.push(archive_name.to_string()),
        Some((_, d)) => {
            checked.push(archive_name.to_string());
            findings.push(
                Finding::error(
                    codes::SUMS_MISMATCH,
                    format!(
                        "{} gives {archive_name} the SHA-256 {d}, but the file's is {}",
                        spath.display(),
                        listing.sha256
                    ),
                )
                .with_hint(
                    "the archive was changed or damaged after packing; re-download or rebuild it",
                ),
            );
        }
        None => findings.push(Finding::error(
            codes::SUMS_MISSING,
            format!("{} has no line for {archive_name}", spath.display()),
        )),
    }
    // The manifest, when it is listed and present.
    let manifest_name = format!("{archive_name}.manifest.json");
    if let Some((_, d)) = entries.iter().rev().find(|(n, _)| *n == manifest_name) {
        let mpath = spath.with_file_name(&manifest_name);
        if let Ok(SidecarBytes::Read(bytes)) = read_sidecar(&mpath, false) {
            checked.push(manifest_name.clone());
            let got = crate::hash::sha256_hex(&bytes);
            if got != *d {
                findings.push(Finding::error(
                    codes::SUMS_MISMATCH,
                    format!(
                        "{} gives {manifest_name} the SHA-256 {d}, but the file's is {got}",
                        spath.display()
                    ),
                ));
            }
        }
    }
    let ok = !findings[before..]
        .iter()
        .any(|f| f.severity == Severity::Error);
    Ok(Some(SidecarCheck {
        path: spath,
        checked,
        ok,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("model/xgboost-model"), "model/xgboost-model");
        assert_eq!(shell_quote("my model"), "'my model'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
