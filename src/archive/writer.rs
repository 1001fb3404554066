//! The deterministic, streaming `model.tar.gz` writer.
//!
//! One pass over each input: file bytes are read straight into the
//! compressor's 1 MiB blocks (member SHA-256 and the validator tap on the
//! way), the tar SHA-256 runs on its own thread, blocks are compressed on
//! every core, and the archive SHA-256 and the file write run on another
//! thread. Nothing is read twice and memory does not grow with the input
//! size.

use super::names::validate_member_set;
use super::pgzip::{BLOCK_SIZE, BlockSink, compress_stream};
use crate::error::{Error, Result};
use crate::hash::HashingWriter;
use crate::output::StagedFile;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Entry mtime used when `SOURCE_DATE_EPOCH` is not set: 1980-01-01T00:00:00Z.
/// Not 0, because some tools treat a zero timestamp as "missing".
pub const DEFAULT_MTIME: u64 = 315_532_800;
/// Latest entry mtime: the largest value the 11 octal digits of a tar
/// header's mtime field hold (2242-03-16T12:56:31Z). Later times would need
/// GNU's base-256 encoding, which GNU tar itself refuses beyond its `time_t`.
pub const MAX_MTIME: u64 = 0o777_7777_7777;
/// Permission bits of every member.
pub const MEMBER_MODE: u32 = 0o644;
/// Default gzip level.
pub const DEFAULT_LEVEL: u32 = 6;

/// One file to store: where to read it and what to call it in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The file to read.
    pub source: PathBuf,
    /// Its name in the archive (relative, `/`-separated).
    pub name: String,
}

impl Member {
    /// A member read from `source`, stored as `name`.
    pub fn new(source: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Member {
            source: source.into(),
            name: name.into(),
        }
    }
}

/// Called with the number of input bytes consumed so far.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// A [`ProgressFn`] in option structs that derive `Debug` (verify, upload).
#[derive(Clone)]
pub struct Progress(pub ProgressFn);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// How to write an archive.
#[derive(Clone)]
pub struct PackOptions {
    /// mtime of every entry, in seconds since the epoch.
    pub mtime: u64,
    /// gzip level 0-9.
    pub level: u32,
    /// Compression threads (0 = one per CPU).
    pub threads: usize,
    /// Store the bytes a symlinked input points to instead of refusing it.
    pub follow_symlinks: bool,
    /// Replace existing outputs.
    pub overwrite: bool,
    /// Set to true (e.g. from a signal handler) to stop; the run then fails
    /// with [`Error::Interrupted`] and leaves nothing behind.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Progress callback.
    pub progress: Option<ProgressFn>,
}

impl std::fmt::Debug for PackOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackOptions")
            .field("mtime", &self.mtime)
            .field("level", &self.level)
            .field("threads", &self.threads)
            .field("follow_symlinks", &self.follow_symlinks)
            .field("overwrite", &self.overwrite)
            .finish_non_exhaustive()
    }
}

impl Default for PackOptions {
    fn default() -> Self {
        PackOptions {
            mtime: DEFAULT_MTIME,
            level: DEFAULT_LEVEL,
            threads: 0,
            follow_symlinks: false,
            overwrite: false,
            cancel: None,
            progress: None,
        }
    }
}

/// Reads `SOURCE_DATE_EPOCH`: `Ok(None)` when unset or empty, an error when it
/// is not an integer number of seconds from 0 to [`MAX_MTIME`].
pub fn source_date_epoch() -> Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(t) if t <= MAX_MTIME => Ok(Some(t)),
            _ => Err(Error::Usage {
                message: format!(
                    "SOURCE_DATE_EPOCH must be an integer number of seconds from 0 to \
                     {MAX_MTIME} (what a tar header holds), got {v:?}"
                ),
            }),
        },
        Err(_) => Ok(None),
    }
}

impl PackOptions {
    /// Defaults, with the entry mtime taken from `SOURCE_DATE_EPOCH` when set.
    pub fn from_env() -> Result<Self> {
        let mut o = PackOptions::default();
        if let Some(t) = source_date_epoch()? {
            o.mtime = t;
        }
        Ok(o)
    }

    fn effective_threads(&self) -> usize {
        if self.threads == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.threads
        }
    }
}

/// What was stored for one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberRecord {
    /// Name in the archive.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits, as an octal string like `"0644"`.
    pub mode: String,
    /// SHA-256 of the member's bytes.
    pub sha256: String,
}

/// Digests and sizes of a written archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveRecord {
    /// Members in archive order.
    pub members: Vec<MemberRecord>,
    /// SHA-256 of the uncompressed tar stream (the content identity).
    pub tar_sha256: String,
    /// Size of the uncompressed tar stream.
    pub tar_size: u64,
    /// SHA-256 of the `.tar.gz` file (the transport identity).
    pub sha256: String,
    /// Size of the `.tar.gz` file.
    pub size: u64,
    /// gzip level used.
    pub level: u32,
    /// Uncompressed bytes per independently deflated block.
    pub block_size: usize,
    /// Entry mtime used.
    pub mtime: u64,
}

/// An archive written to a temporary file, ready to be renamed into place.
#[derive(Debug)]
pub struct StagedArchive {
    /// Digests and sizes.
    pub record: ArchiveRecord,
    /// The temporary file.
    pub file: StagedFile,
}

/// Opens an input, refusing anything but a regular file (and symlinks unless allowed).
fn open_input(path: &Path, follow_symlinks: bool) -> Result<(File, u64)> {
    let lmeta = std::fs::symlink_metadata(path).map_err(|e| Error::io("read", path, e))?;
    if lmeta.file_type().is_symlink() && !follow_symlinks {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: "is a symbolic link; archives hold regular files only".into(),
            hint: Some("pass --follow-symlinks to store the bytes of the file it points to".into()),
        });
    }
    // O_NONBLOCK: opening a FIFO (given, or swapped in after the check
    // above) must not wait for a writer; it is refused just below. Reads of a
    // regular file ignore the flag.
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Error::io("open", path, e))?
    };
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "is a directory"
        } else {
            "is not a regular file (device, FIFO or socket)"
        };
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: format!("{what}; archives hold regular files only"),
            hint: Some("pass the model file itself".into()),
        });
    }
    // Refuse a swap between the check above and the open (a race that would
    // smuggle a symlink past the check).
    if !lmeta.file_type().is_symlink() && (lmeta.dev() != meta.dev() || lmeta.ino() != meta.ino()) {
        return Err(Error::InputChanged {
            path: path.to_path_buf(),
            expected: lmeta.len(),
        });
    }
    Ok((file, meta.len()))
}

/// Writes the compressed stream to the file and, when given, to a second
/// sink (e.g. an S3 multipart stream) in the same pass.
struct Tee<'a> {
    file: BufWriter<File>,
    extra: Option<&'a mut (dyn Write + Send)>,
    /// Set when `extra` failed, to tell an upload error from a disk error.
    extra_failed: Arc<AtomicBool>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all(buf)?;
        if let Some(x) = self.extra.as_mut()
            && let Err(e) = x.write_all(buf)
        {
            self.extra_failed.store(true, Ordering::Relaxed);
            return Err(e);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if let Some(x) = self.extra.as_mut()
            && let Err(e) = x.flush()
        {
            self.extra_failed.store(true, Ordering::Relaxed);
            return Err(e);
        }
        Ok(())
    }
}

/// The tar header block(s) of a member: a GNU header, preceded by a
/// `././@LongLink` entry when the name needs one (the tar crate's rules).
fn tar_header(name: &str, size: u64, mtime: u64) -> io::Result<Vec<u8>> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(MEMBER_MODE);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(mtime);
    let mut b = tar::Builder::new(Vec::with_capacity(1024));
    b.mode(tar::HeaderMode::Deterministic);
    // With no data the builder writes the header blocks and nothing else.
    b.append_data(&mut header, name, io::empty())?;
    Ok(std::mem::take(b.get_mut()))
}

/// Zero bytes for tar padding and the end-of-archive marker.
const ZEROS: [u8; 1024] = [0; 1024];

/// What the producer noticed about the inputs, kept apart from the
/// pipeline's I/O errors so the caller reports the cause, not the symptom.
struct InputState<'a, 't> {
    failure: Option<Error>,
    cancel: Option<&'a AtomicBool>,
    progress: Option<&'a ProgressFn>,
    consumed: u64,
    tap: Option<&'a mut (dyn Write + Send + 't)>,
}

impl InputState<'_, '_> {
    fn fail(&mut self, e: Error) -> io::Error {
        self.failure = Some(e);
        io::Error::other("input failed")
    }

    /// Streams exactly `size` bytes of `file` into the sink (reading straight
    /// into its blocks), hashing them and showing them to the tap. Returns
    /// the member's SHA-256.
    fn copy_member(
        &mut self,
        sink: &mut BlockSink<'_>,
        file: &mut File,
        path: &Path,
        size: u64,
    ) -> io::Result<String> {
        let mut hasher = Sha256::new();
        let mut remaining = size;
        while remaining > 0 {
            if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(self.fail(Error::Interrupted));
            }
            let mut read_err = None;
            let n = sink.fill(|room| {
                let want = room
                    .len()
                    .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                loop {
                    match file.read(&mut room[..want]) {
                        Ok(n) => {
                            hasher.update(&room[..n]);
                            if let Some(t) = self.tap.as_mut()
                                && let Err(e) = t.write_all(&room[..n])
                            {
                                read_err = Some(Error::io("validate", path, e));
                                return Ok(0);
                            }
                            return Ok(n);
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            read_err = Some(Error::io("read", path, e));
                            return Ok(0);
                        }
                    }
                }
            })?;
            if let Some(e) = read_err {
                return Err(self.fail(e));
            }
            if n == 0 {
                return Err(self.fail(Error::InputChanged {
                    path: path.to_path_buf(),
                    expected: size,
                }));
            }
            remaining -= n as u64;
            self.consumed += n as u64;
            if let Some(p) = self.progress {
                p(self.consumed);
            }
        }
        // The file must end exactly where its size said it would.
        let mut probe = [0u8; 1];
        match file.read(&mut probe) {
            Ok(0) => {}
            Ok(_) => {
                return Err(self.fail(Error::InputChanged {
                    path: path.to_path_buf(),
                    expected: size,
                }));
            }
            Err(e) => return Err(self.fail(Error::io("read", path, e))),
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// Writes `members` (sorted by name) as a deterministic `.tar.gz` into a
/// temporary file beside `dest`. Call [`StagedArchive`]'s `file.commit()` to
/// publish it; dropping it removes the temporary file.
pub fn stage_archive(members: &[Member], dest: &Path, opts: &PackOptions) -> Result<StagedArchive> {
    stage_archive_with_sink(members, dest, opts, None)
}

/// Like [`stage_archive`], and also writes every compressed byte to `extra`
/// as it is produced (the S3 upload consumes the same stream). An error from
/// `extra` stops the run with [`Error::Io`] (op "stream to"); the sink can
/// keep its own detailed error for the caller.
pub fn stage_archive_with_sink(
    members: &[Member],
    dest: &Path,
    opts: &PackOptions,
    extra: Option<&mut (dyn Write + Send)>,
) -> Result<StagedArchive> {
    stage_archive_streaming(members, dest, opts, extra, None)
}

/// The general form: `extra` receives every compressed byte, `tap` every
/// member byte (in archive order) as it is read, so a streaming validator can
/// check a model in the same pass that packs it.
pub fn stage_archive_streaming(
    members: &[Member],
    dest: &Path,
    opts: &PackOptions,
    extra: Option<&mut (dyn Write + Send)>,
    tap: Option<&mut (dyn Write + Send)>,
) -> Result<StagedArchive> {
    validate_member_set(members.iter().map(|m| m.name.as_str()))?;
    if opts.mtime > MAX_MTIME {
        return Err(Error::Usage {
            message: format!(
                "entry mtime {} is beyond what a tar header holds (at most {MAX_MTIME})",
                opts.mtime
            ),
        });
    }
    let mut sorted: Vec<&Member> = members.iter().collect();
    sorted.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));

    // Open every input first, so a missing or refused input fails before any output exists.
    let mut opened = Vec::with_capacity(sorted.len());
    for m in &sorted {
        let (file, size) = open_input(&m.source, opts.follow_symlinks)?;
        opened.push((*m, file, size));
    }

    let staged = StagedFile::new(dest)?;
    let temp_path = staged.temp_path().to_path_buf();
    let level = opts.level.min(9);
    let extra_failed = Arc::new(AtomicBool::new(false));
    let tee = Tee {
        file: BufWriter::with_capacity(1 << 20, staged.file()?),
        extra,
        extra_failed: Arc::clone(&extra_failed),
    };
    // The tar SHA-256 runs on its own thread, fed every uncompressed block.
    let mut tar_hash = (Sha256::new(), 0u64);
    let mut observe = |b: &[u8]| {
        tar_hash.0.update(b);
        tar_hash.1 += b.len() as u64;
    };
    let mut state = InputState {
        failure: None,
        cancel: opts.cancel.as_deref(),
        progress: opts.progress.as_ref(),
        consumed: 0,
        tap,
    };
    let mtime = opts.mtime;
    let result = compress_stream(
        HashingWriter::new(tee),
        level,
        opts.effective_threads(),
        Some(&mut observe),
        |sink| {
            let mut records = Vec::with_capacity(opened.len());
            for (m, mut file, size) in opened {
                sink.write_all(&tar_header(&m.name, size, mtime)?)?;
                let sha256 = state.copy_member(sink, &mut file, &m.source, size)?;
                let pad = (512 - (size % 512) as usize) % 512;
                sink.write_all(&ZEROS[..pad])?;
                records.push(MemberRecord {
                    name: m.name.clone(),
                    size,
                    mode: format!("{MEMBER_MODE:04o}"),
                    sha256,
                });
            }
            if state.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(state.fail(Error::Interrupted));
            }
            // End of archive: two zero blocks.
            sink.write_all(&ZEROS)?;
            Ok(records)
        },
    );
    if let Some(f) = state.failure.take() {
        return Err(f);
    }
    let stream_err = |e: io::Error| {
        if extra_failed.load(Ordering::Relaxed) {
            Error::io("stream to", "the upload", e)
        } else {
            Error::io("write", &temp_path, e)
        }
    };
    let (records, hashed_file) = result.map_err(stream_err)?;
    let (tar_sha, tar_size) = tar_hash;
    let tar_sha256 = hex::encode(tar_sha.finalize());
    let (mut tee, sha256, size) = hashed_file.finish();
    tee.flush().map_err(|e| {
        if extra_failed.load(Ordering::Relaxed) {
            Error::io("stream to", "the upload", e)
        } else {
            Error::io("write", dest, e)
        }
    })?;

    Ok(StagedArchive {
        record: ArchiveRecord {
            members: records,
            tar_sha256,
            tar_size,
            sha256,
            size,
            level,
            block_size: BLOCK_SIZE,
            mtime: opts.mtime,
        },
        file: staged,
    })
}
