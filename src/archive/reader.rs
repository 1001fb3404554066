//! Safe streaming reader for existing `model.tar.gz` archives (`verify`,
//! `inspect`).
//!
//! Reads a `.tar.gz` (or a plain tar, which is reported) from any [`Read`]
//! without extracting anything: nothing is ever written to disk. Memory is
//! bounded: one 512-byte header at a time, GNU long names and pax records up
//! to [`ReadOptions::max_extension_bytes`] each and
//! [`ReadOptions::max_extension_total`] in all, the member list up to
//! [`ReadOptions::max_members`], and member bytes only where asked
//! ([`CapturePolicy`], at most [`ReadOptions::capture_limit`] per member and
//! [`ReadOptions::capture_total_limit`] in all). Every member's bytes stream
//! through SHA-256; a [`MemberVisitor`] receives them chunk by chunk (for
//! validating a multi-GB fastText model while it streams past).
//!
//! What it reports ([`codes`], `formats/verify.md`): unsafe names (absolute,
//! `..`, empty, NUL, over 255 bytes), links, devices, duplicates, pax xattr
//! records, macOS metadata, a wrapping top-level folder, `./` prefixes,
//! non-gzip or double-gzip input, multiple gzip members, trailing data after
//! the tar end marker or after the gzip stream, truncation, bad header
//! checksums and GNU sparse entries.
//!
//! ## What comes from the `tar` and `flate2` crates, and what is hand-rolled
//!
//! - gzip: `flate2::bufread::GzDecoder`, one decoder per gzip member over a
//!   shared `BufRead`, so the reader sees exactly where each member ends and
//!   can tell a second member (accepted by tar; noted) from trailing garbage.
//!   `MultiGzDecoder` would hide both.
//! - header fields: names (ustar prefix + name), link names and owner names
//!   come from `tar::Header`. Numbers (size, mode, ids, mtime; octal or
//!   base-256) are read by hand because `tar` rejects blank numeric fields,
//!   which GNU tar and Python read as 0.
//! - the walk over the stream is hand-rolled because `tar::Archive` gets
//!   three things wrong for an inspector: it buffers GNU long names and pax
//!   headers whole, whatever their size (`read_all`), so a hostile archive can
//!   make it allocate gigabytes; its errors carry no offsets and it stops at
//!   the first bad checksum without saying where; and it stops at the first
//!   zero block, so it cannot see a missing end marker or data hidden after it.
//! - pax records are parsed by hand because `tar::PaxExtensions` splits on
//!   `\n`, but pax records are length-prefixed and their values may contain
//!   newlines (a record with one is reported as malformed by the crate).
//! - the header checksum is checked by hand because GNU tar and Python also
//!   accept the historical signed-byte sum, which `tar` rejects.

use super::MAX_COMPONENT_BYTES;
use crate::container::{Sniffed, sniff};
use crate::error::{Error, Result};
use crate::report::{Finding, Location, Severity};
use flate2::bufread::GzDecoder;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::path::Path;
use std::rc::Rc;

/// Tar block size.
pub const BLOCK: usize = 512;
/// Default [`ReadOptions::capture_limit`]: 256 MiB per member.
pub const DEFAULT_CAPTURE_LIMIT: u64 = 256 << 20;
/// Default [`ReadOptions::capture_total_limit`]: 512 MiB in all.
pub const DEFAULT_CAPTURE_TOTAL_LIMIT: u64 = 512 << 20;
/// Default [`ReadOptions::max_members`].
pub const DEFAULT_MAX_MEMBERS: usize = 100_000;
/// Default [`ReadOptions::max_extension_bytes`]: 1 MiB for one GNU long name
/// or one pax header.
pub const DEFAULT_MAX_EXTENSION_BYTES: u64 = 1 << 20;
/// Default [`ReadOptions::max_extension_total`]: 16 MiB of GNU long names,
/// long links and pax headers over the whole archive.
pub const DEFAULT_MAX_EXTENSION_TOTAL: u64 = 16 << 20;
/// Longest member name or link target kept, in bytes. A longer one (no
/// extractor can create it: PATH_MAX is 4096) is kept as its first
/// `MAX_NAME_KEPT` bytes followed by `…[<length> bytes, sha256 <16 hex>]`, so
/// distinct names stay distinct without a megabyte-long name being copied
/// into every finding and report line that mentions it. The checks on names
/// (length, NUL, `..`, absolute) see the whole stored name.
pub const MAX_NAME_KEPT: usize = 4096;
/// Size of the buffers member bytes stream through.
pub const CHUNK_SIZE: usize = 64 << 10;
/// Bytes of each file given to [`sniff`] for [`ArchiveMember::content`].
const SNIFF_BYTES: usize = 4096;
/// Most gzip member offsets remembered (the count is always exact).
const MAX_RECORDED_GZIP_MEMBERS: usize = 64;
/// Longest pax value kept in [`PaxRecord::value`].
const MAX_PAX_VALUE_SHOWN: usize = 256;
/// Most pax records kept in [`ArchiveMember::pax`]; a global header's
/// records apply to every later member, so keeping them all would copy a
/// megabyte of records into each of 100 000 members.
pub const MAX_PAX_RECORDS_KEPT: usize = 64;
/// Most pax keys named in one `member.pax_xattr` or `archive.pax_global`
/// finding.
const MAX_XATTR_KEYS_SHOWN: usize = 20;

/// Stable finding codes of the archive reader (`formats/verify.md`).
pub mod codes {
    /// The input is empty (error).
    pub const EMPTY: &str = "archive.empty";
    /// Not gzip: a plain tar (error, still listed) or another format (error).
    pub const NOT_GZIP: &str = "archive.not_gzip";
    /// The gzip data decompresses to more gzip data (error, inner layer listed).
    pub const DOUBLE_GZIP: &str = "archive.double_gzip";
    /// The decompressed data is not a tar archive (error).
    pub const NOT_TAR: &str = "archive.not_tar";
    /// More than one gzip member (concatenated gzip; tar accepts it) (info).
    pub const GZIP_MEMBERS: &str = "archive.gzip_members";
    /// Bytes after the last gzip member that are not another member (error;
    /// warning when they are all zero).
    pub const GZIP_TRAILING: &str = "archive.gzip_trailing";
    /// Corrupt compressed data or CRC mismatch (error).
    pub const GZIP_CORRUPT: &str = "archive.gzip_corrupt";
    /// The archive ends early (error).
    pub const TRUNCATED: &str = "archive.truncated";
    /// A header's checksum does not match (error; reading stops).
    pub const BAD_CHECKSUM: &str = "archive.bad_checksum";
    /// A header field that cannot be read (error for the size, warning otherwise).
    pub const BAD_HEADER: &str = "archive.bad_header";
    /// A GNU long name or pax header beyond the cap (error).
    pub const HEADER_TOO_LARGE: &str = "archive.header_too_large";
    /// Malformed pax records (error).
    pub const BAD_PAX: &str = "archive.bad_pax";
    /// A pax global header (info).
    pub const PAX_GLOBAL: &str = "archive.pax_global";
    /// End-of-archive marker missing or incomplete (warning / info).
    pub const END_MARKER: &str = "archive.end_marker";
    /// Non-zero data after the end-of-archive marker (warning).
    pub const TRAILING_DATA: &str = "archive.trailing_data";
    /// More members than the reader lists (error).
    pub const TOO_MANY_MEMBERS: &str = "archive.too_many_members";
    /// No members at all (error).
    pub const NO_MEMBERS: &str = "archive.no_members";
    /// Every member sits under one top-level folder (error).
    pub const WRAPPING_FOLDER: &str = "archive.wrapping_folder";
    /// Absolute member name (error).
    pub const ABSOLUTE_PATH: &str = "member.absolute_path";
    /// `..` component (error).
    pub const DOTDOT: &str = "member.dotdot";
    /// Empty name (error).
    pub const EMPTY_NAME: &str = "member.empty_name";
    /// NUL byte in a name (error).
    pub const NUL_IN_NAME: &str = "member.nul_in_name";
    /// A component over 255 bytes (error).
    pub const NAME_TOO_LONG: &str = "member.name_too_long";
    /// Control characters or backslashes in a name (warning).
    pub const ODD_NAME: &str = "member.odd_name";
    /// `./` prefixes (info).
    pub const DOT_SLASH: &str = "member.dot_slash";
    /// Symbolic link (error).
    pub const SYMLINK: &str = "member.symlink";
    /// Hard link (error).
    pub const HARDLINK: &str = "member.hardlink";
    /// Character/block device or FIFO (error).
    pub const SPECIAL: &str = "member.special";
    /// GNU sparse file (error).
    pub const SPARSE: &str = "member.sparse";
    /// Unknown entry type (warning).
    pub const UNKNOWN_TYPE: &str = "member.unknown_type";
    /// A link, device or directory entry with a non-zero size (warning).
    pub const NONZERO_SIZE: &str = "member.nonzero_size";
    /// The same path twice (error).
    pub const DUPLICATE: &str = "member.duplicate";
    /// A path that is both a file and a directory (error).
    pub const FILE_AND_DIR: &str = "member.file_and_dir";
    /// pax extended-attribute records (warning).
    pub const PAX_XATTR: &str = "member.pax_xattr";
    /// AppleDouble `._*` file (warning).
    pub const APPLEDOUBLE: &str = "member.appledouble";
    /// `.DS_Store` (warning).
    pub const DS_STORE: &str = "member.ds_store";
    /// `__MACOSX/` folder (warning).
    pub const MACOSX: &str = "member.macosx";
}

// ---------------------------------------------------------------------------
// Options and results

/// Which members' bytes are kept in memory (up to the caps).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapturePolicy {
    /// Keep nothing (digests only).
    None,
    /// Regular files at the archive root: the files a container could load.
    RootFiles,
    /// Every regular file.
    All,
    /// Regular files with these normalized paths.
    Paths(Vec<String>),
}

/// Reader settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Which members' bytes to keep.
    pub capture: CapturePolicy,
    /// Most bytes kept of one member; the rest is only hashed.
    pub capture_limit: u64,
    /// Most bytes kept over all members.
    pub capture_total_limit: u64,
    /// Most members listed; reading stops after that.
    pub max_members: usize,
    /// Largest GNU long name / long link / pax header read.
    pub max_extension_bytes: u64,
    /// Most bytes of GNU long names, long links and pax headers read over
    /// the whole archive. They stay in memory with the member list, and a
    /// megabyte-long name compresses to a kilobyte, so without this cap a
    /// small archive could claim gigabytes.
    pub max_extension_total: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            capture: CapturePolicy::RootFiles,
            capture_limit: DEFAULT_CAPTURE_LIMIT,
            capture_total_limit: DEFAULT_CAPTURE_TOTAL_LIMIT,
            max_members: DEFAULT_MAX_MEMBERS,
            max_extension_bytes: DEFAULT_MAX_EXTENSION_BYTES,
            max_extension_total: DEFAULT_MAX_EXTENSION_TOTAL,
        }
    }
}

/// Receives members' bytes as they stream past (never more than
/// [`CHUNK_SIZE`] at a time); nothing is buffered for it.
pub trait MemberVisitor {
    /// Called before a member's data; return true to receive its bytes.
    fn begin(&mut self, member: &ArchiveMember) -> bool;
    /// The next chunk of the member's bytes.
    fn data(&mut self, member: &ArchiveMember, chunk: &[u8]);
    /// After the data; `complete` is false when the archive ended inside it.
    /// `member.sha256` is set when complete.
    fn end(&mut self, member: &ArchiveMember, complete: bool);
}

/// What kind of entry a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MemberKind {
    /// Regular file (including contiguous files and GNU sparse files).
    File,
    /// Directory.
    Directory,
    /// Symbolic link.
    Symlink,
    /// Hard link.
    Hardlink,
    /// Character device.
    CharDevice,
    /// Block device.
    BlockDevice,
    /// Named pipe.
    Fifo,
    /// Any other type flag (volume label, multi-volume continuation, ...).
    Other,
}

impl MemberKind {
    /// One word for listings.
    pub fn label(self) -> &'static str {
        match self {
            MemberKind::File => "file",
            MemberKind::Directory => "dir",
            MemberKind::Symlink => "symlink",
            MemberKind::Hardlink => "hardlink",
            MemberKind::CharDevice => "chardev",
            MemberKind::BlockDevice => "blockdev",
            MemberKind::Fifo => "fifo",
            MemberKind::Other => "other",
        }
    }
}

/// One pax record seen for a member (or a global header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaxRecord {
    /// Keyword (lossy UTF-8).
    pub key: String,
    /// Value (lossy UTF-8, cut at 256 bytes).
    pub value: String,
    /// Length of the value in bytes.
    pub len: usize,
}

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveMember {
    /// Position in the archive (0-based).
    pub index: usize,
    /// The name as stored (pax `path`, else GNU long name, else the header),
    /// lossy UTF-8.
    pub name: String,
    /// The stored name's bytes in hex, only when they are not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_hex: Option<String>,
    /// Where it lands under the extraction folder: `./` prefixes, empty and
    /// `.` components and a trailing `/` removed.
    pub path: String,
    /// Entry type.
    pub kind: MemberKind,
    /// The raw type flag byte, as a character.
    pub type_flag: char,
    /// Size in bytes (the real size for sparse files).
    pub size: u64,
    /// Permission bits (serialized as an octal string, `"0644"`).
    #[serde(serialize_with = "serialize_mode")]
    pub mode: u32,
    /// Owner id.
    pub uid: u64,
    /// Group id.
    pub gid: u64,
    /// Owner name.
    pub uname: String,
    /// Group name.
    pub gname: String,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Link target for symlinks and hard links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<String>,
    /// Header format: `gnu`, `ustar`, `pax` or `v7`.
    pub format: &'static str,
    /// GNU sparse entry.
    pub sparse: bool,
    /// pax records that applied to it (global ones included), at most
    /// [`MAX_PAX_RECORDS_KEPT`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pax: Vec<PaxRecord>,
    /// SHA-256 of the bytes stored for it (absent when the archive ended
    /// inside them).
    pub sha256: Option<String>,
    /// What its first bytes look like (regular files with data only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Sniffed>,
    /// What sm-pack's model reader made of it, when it was read as a model
    /// (`verify::inspect_archive` does so for root files), e.g. "XGBoost
    /// model (JSON), saved by xgboost 1.7.4: binary:logistic, 100 trees".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Offset of its first header (GNU long name or pax header included) in
    /// the tar stream.
    pub header_offset: u64,
    /// Offset of its data in the tar stream.
    pub data_offset: u64,
    /// Bytes kept in memory ([`ArchiveMember::captured`]), if any.
    #[serde(skip)]
    pub data: Option<Vec<u8>>,
}

impl ArchiveMember {
    /// The kept bytes and whether they are the whole member.
    pub fn captured(&self) -> Option<(&[u8], bool)> {
        self.data
            .as_deref()
            .map(|d| (d, d.len() as u64 == self.size && self.sha256.is_some()))
    }

    /// True for a member directly at the root of the extraction folder.
    pub fn is_root_level(&self) -> bool {
        !self.path.is_empty() && !self.path.contains('/') && !self.name.starts_with('/')
    }

    /// The mode as an octal string (`0644`).
    pub fn mode_octal(&self) -> String {
        format!("{:04o}", self.mode)
    }

    /// The final path component.
    pub fn basename(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

fn serialize_mode<S: serde::Serializer>(mode: &u32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{mode:04o}"))
}

/// How the archive bytes were compressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Compression {
    /// gzip.
    Gzip {
        /// Number of gzip members (1 normally).
        members: u32,
        /// The gzip data held another gzip stream (decoded too).
        double: bool,
    },
    /// Not compressed: a plain tar.
    None,
    /// Another format, not read.
    Other {
        /// What it looks like (`bzip2`, `xz`, `zstd`, `zip`, ...).
        what: String,
    },
}

/// Everything the reader found out about an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveListing {
    /// Compression.
    pub compression: Compression,
    /// Size of the input in bytes.
    pub size: u64,
    /// SHA-256 of the input.
    pub sha256: String,
    /// Bytes of decompressed (tar) data read.
    pub tar_size: u64,
    /// SHA-256 of the decompressed (tar) data.
    pub tar_sha256: String,
    /// True when the two-zero-block end marker was found.
    pub end_marker: bool,
    /// True when every member was read to its end.
    pub complete: bool,
    /// Members in archive order.
    pub members: Vec<ArchiveMember>,
    /// Everything noticed, in the order it was noticed.
    pub findings: Vec<Finding>,
}

impl ArchiveListing {
    /// Total bytes held in members' captures.
    pub fn captured_bytes(&self) -> u64 {
        self.members
            .iter()
            .filter_map(|m| m.data.as_ref())
            .map(|d| d.len() as u64)
            .sum()
    }

    /// The member at a normalized path (the last one, as extraction keeps it).
    pub fn member(&self, path: &str) -> Option<&ArchiveMember> {
        self.members.iter().rev().find(|m| m.path == path)
    }

    /// Findings with a given code.
    pub fn findings_with(&self, code: &str) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.code == code)
    }
}

// ---------------------------------------------------------------------------
// Entry points

/// Opens an archive file: a regular file or a pipe (`<(curl …)`), never a
/// device, whose endless bytes (`/dev/zero` behind a symlink) would keep the
/// reader busy forever.
fn open_archive(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::FileTypeExt;
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let t = file
        .metadata()
        .map_err(|e| Error::io("inspect", path, e))?
        .file_type();
    if t.is_char_device() || t.is_block_device() || t.is_dir() {
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: if t.is_dir() {
                "is a directory, not an archive".into()
            } else {
                "is a device, not an archive file".into()
            },
            hint: Some("pass the model.tar.gz file itself".into()),
        });
    }
    Ok(file)
}

/// Reads an archive file (see the module docs).
pub fn read_archive_file(path: &Path, options: &ReadOptions) -> Result<ArchiveListing> {
    let file = open_archive(path)?;
    read_inner(file, options, None, path)
}

/// Reads an archive file, passing members' bytes to `visitor`.
pub fn read_archive_file_with(
    path: &Path,
    options: &ReadOptions,
    visitor: &mut dyn MemberVisitor,
) -> Result<ArchiveListing> {
    let file = open_archive(path)?;
    read_inner(file, options, Some(visitor), path)
}

/// [`read_archive_file`] / [`read_archive_file_with`] reporting the
/// compressed bytes read so far to `progress` (for a progress bar).
pub fn read_archive_file_progress(
    path: &Path,
    options: &ReadOptions,
    visitor: Option<&mut dyn MemberVisitor>,
    progress: &super::ProgressFn,
) -> Result<ArchiveListing> {
    let file = open_archive(path)?;
    let counted = ProgressCounted {
        inner: file,
        read: 0,
        progress,
    };
    read_inner(counted, options, visitor, path)
}

/// Counts the bytes read through it for a progress callback.
struct ProgressCounted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a super::ProgressFn,
}

impl<R: Read> Read for ProgressCounted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.progress)(self.read);
        Ok(n)
    }
}

/// Reads an archive from any reader. `Err` only for I/O errors of `input`
/// itself; everything wrong with the bytes is a finding.
pub fn read_archive<R: Read>(input: R, options: &ReadOptions) -> Result<ArchiveListing> {
    read_inner(input, options, None, Path::new("(stream)"))
}

/// [`read_archive`] with a [`MemberVisitor`].
pub fn read_archive_with<R: Read>(
    input: R,
    options: &ReadOptions,
    visitor: &mut dyn MemberVisitor,
) -> Result<ArchiveListing> {
    read_inner(input, options, Some(visitor), Path::new("(stream)"))
}

// ---------------------------------------------------------------------------
// Input plumbing

#[derive(Default)]
struct TapState {
    count: u64,
    sha: Sha256,
    io_error: Option<io::Error>,
}

/// The raw input: counts, hashes and remembers an I/O error of the source,
/// so decoding errors can be told from failures to read the file.
struct Tap<R> {
    inner: Rc<RefCell<R>>,
    state: Rc<RefCell<TapState>>,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let r = self.inner.borrow_mut().read(buf);
            match r {
                Ok(n) => {
                    let mut s = self.state.borrow_mut();
                    s.count += n as u64;
                    s.sha.update(&buf[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let copy = io::Error::new(e.kind(), e.to_string());
                    self.state.borrow_mut().io_error = Some(e);
                    return Err(copy);
                }
            }
        }
    }
}

/// Counts bytes handed to a gzip layer, for offsets.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GzFailure {
    Truncated,
    Corrupt,
}

#[derive(Debug, Default)]
struct GzStats {
    members: u32,
    member_offsets: Vec<u64>,
    /// (offset, length, any non-zero byte)
    trailing: Option<(u64, u64, bool)>,
    error: Option<(GzFailure, u64, String)>,
}

type DynRead<'a> = Box<dyn Read + 'a>;

enum GzState<'a> {
    Idle(BufReader<Counted<DynRead<'a>>>),
    Member(Box<GzDecoder<BufReader<Counted<DynRead<'a>>>>>),
    Done,
    Failed,
}

/// One gzip layer: decodes member after member and records where each
/// starts, trailing bytes after the last, and how decoding failed.
struct GzLayer<'a> {
    state: GzState<'a>,
    count: Rc<Cell<u64>>,
    stats: Rc<RefCell<GzStats>>,
}

impl<'a> GzLayer<'a> {
    fn new(inner: DynRead<'a>, stats: Rc<RefCell<GzStats>>) -> Self {
        let count = Rc::new(Cell::new(0));
        let counted = Counted {
            inner,
            count: count.clone(),
        };
        GzLayer {
            state: GzState::Idle(BufReader::with_capacity(CHUNK_SIZE, counted)),
            count,
            stats,
        }
    }

    fn fail(&mut self, kind: GzFailure, at: u64, e: &io::Error) {
        let mut s = self.stats.borrow_mut();
        if s.error.is_none() {
            s.error = Some((kind, at, e.to_string()));
        }
        self.state = GzState::Failed;
    }
}

impl Read for GzLayer<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, GzState::Done) {
                GzState::Member(mut d) => match d.read(buf) {
                    Ok(0) => self.state = GzState::Idle(d.into_inner()),
                    Ok(n) => {
                        self.state = GzState::Member(d);
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                        self.state = GzState::Member(d);
                    }
                    Err(e) => {
                        let at = self.count.get() - d.get_ref().buffer().len() as u64;
                        let kind = if e.kind() == io::ErrorKind::UnexpectedEof {
                            GzFailure::Truncated
                        } else {
                            GzFailure::Corrupt
                        };
                        self.fail(kind, at, &e);
                        return Err(e);
                    }
                },
                GzState::Idle(mut br) => {
                    let (starts_member, at, empty) = match br.fill_buf() {
                        Ok(b) => (
                            b.first() == Some(&0x1f) && b.get(1).is_none_or(|x| *x == 0x8b),
                            self.count.get() - b.len() as u64,
                            b.is_empty(),
                        ),
                        Err(e) => {
                            let at = self.count.get();
                            self.fail(GzFailure::Corrupt, at, &e);
                            return Err(e);
                        }
                    };
                    if empty {
                        self.state = GzState::Done;
                        return Ok(0);
                    }
                    if starts_member {
                        let mut s = self.stats.borrow_mut();
                        s.members += 1;
                        if s.member_offsets.len() < MAX_RECORDED_GZIP_MEMBERS {
                            s.member_offsets.push(at);
                        }
                        drop(s);
                        self.state = GzState::Member(Box::new(GzDecoder::new(br)));
                        continue;
                    }
                    // Not another member: trailing bytes. Read them to the end.
                    let (mut len, mut nonzero) = (0u64, false);
                    loop {
                        let n = match br.fill_buf() {
                            Ok([]) => break,
                            Ok(b) => {
                                nonzero |= b.iter().any(|x| *x != 0);
                                b.len()
                            }
                            Err(e) => {
                                let at = self.count.get();
                                self.fail(GzFailure::Corrupt, at, &e);
                                return Err(e);
                            }
                        };
                        len += n as u64;
                        br.consume(n);
                    }
                    self.stats.borrow_mut().trailing = Some((at, len, nonzero));
                    self.state = GzState::Done;
                    return Ok(0);
                }
                GzState::Done => return Ok(0),
                GzState::Failed => {
                    self.state = GzState::Failed;
                    return Err(io::Error::other("the gzip stream failed earlier"));
                }
            }
        }
    }
}

/// The decompressed tar stream: position and SHA-256.
struct TarStream<'a> {
    inner: DynRead<'a>,
    pos: u64,
    sha: Sha256,
}

impl TarStream<'_> {
    /// Reads until `buf` is full or the stream ends; returns the bytes read.
    fn read_full(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.sha.update(&buf[..got]);
                    self.pos += got as u64;
                    return Err(e);
                }
            }
        }
        self.sha.update(&buf[..got]);
        self.pos += got as u64;
        Ok(got)
    }
}

fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut v[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    v.truncate(got);
    Ok(v)
}

/// What the first bytes of the input are.
fn classify(prefix: &[u8]) -> Option<&'static str> {
    if prefix.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if prefix.starts_with(b"BZh") {
        Some("bzip2")
    } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
        Some("zip")
    } else if prefix.starts_with(b"7z\xbc\xaf\x27\x1c") {
        Some("7z")
    } else if prefix.starts_with(&[0x1f, 0x9d]) {
        Some("compress (.Z)")
    } else if prefix.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
        Some("lz4")
    } else if looks_like_tar(prefix) {
        Some("tar")
    } else {
        None
    }
}

fn checksum_ok(block: &[u8]) -> bool {
    if block.len() < BLOCK {
        return false;
    }
    let stored = match parse_octal(&block[148..156]) {
        Some(v) => v,
        None => return false,
    };
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in block[..BLOCK].iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// A partial first block that carries the ustar magic (a cut tar, not foreign data).
fn looks_like_partial_tar(b: &[u8]) -> bool {
    b.len() > 257 && b[257..b.len().min(262)] == b"ustar"[..b.len().min(262) - 257]
}

fn looks_like_tar(block: &[u8]) -> bool {
    block.len() >= BLOCK
        && block.iter().any(|b| *b != 0)
        && (checksum_ok(block) || &block[257..262] == b"ustar")
}

/// Octal field, as GNU tar reads it: leading spaces, digits, then NUL or space.
fn parse_octal(field: &[u8]) -> Option<u64> {
    let s: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| *b != 0 && *b != b' ')
        .collect();
    if s.is_empty() {
        return Some(0);
    }
    let text = std::str::from_utf8(&s).ok()?;
    u64::from_str_radix(text, 8).ok()
}

// ---------------------------------------------------------------------------
// pax

/// One raw pax record: key and value bytes.
type PaxPair = (Vec<u8>, Vec<u8>);

/// The records of every pax global header so far, indexed so that each
/// member's lookups cost O(1) however many records there are.
#[derive(Debug, Clone, Default)]
struct GlobalPax {
    records: Vec<PaxPair>,
    /// Index in `records` of the last record of each key.
    index: std::collections::HashMap<Vec<u8>, usize>,
    /// Extended-attribute keys, each once, in order of first appearance.
    xattr_keys: Vec<Vec<u8>>,
    /// Some key starts with `GNU.sparse.`.
    sparse: bool,
}

impl GlobalPax {
    fn extend(&mut self, records: Vec<PaxPair>) {
        for (k, v) in records {
            let i = self.records.len();
            if self.index.insert(k.clone(), i).is_none() && is_xattr_key(&k) {
                self.xattr_keys.push(k.clone());
            }
            self.sparse |= k.starts_with(b"GNU.sparse.");
            self.records.push((k, v));
        }
    }

    fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.index.get(key).map(|&i| self.records[i].1.as_slice())
    }
}

/// Parses pax records (`"<len> <key>=<value>\n"`, length-prefixed, values
/// may hold newlines). Returns the records and whether all bytes parsed.
fn parse_pax(data: &[u8]) -> (Vec<PaxPair>, bool) {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let Some(sp) = rest.iter().position(|b| *b == b' ') else {
            return (out, false);
        };
        let Some(len) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            return (out, false);
        };
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return (out, false);
        }
        let kv = &rest[sp + 1..len - 1];
        let Some(eq) = kv.iter().position(|b| *b == b'=') else {
            return (out, false);
        };
        out.push((kv[..eq].to_vec(), kv[eq + 1..].to_vec()));
        rest = &rest[len..];
    }
    (out, true)
}

/// The pax records applying to a member, for [`ArchiveMember::pax`]: the
/// global ones its own records do not override, then its own (the last of
/// each key), at most [`MAX_PAX_RECORDS_KEPT`] of them.
fn applied_pax(
    global: &GlobalPax,
    local: &[PaxPair],
    local_index: &std::collections::HashMap<&[u8], usize>,
) -> Vec<PaxRecord> {
    let mut out = Vec::new();
    // Bounded scan: a global header can repeat one overridden key
    // 100 000 times.
    for (k, v) in global
        .records
        .iter()
        .take(MAX_PAX_RECORDS_KEPT + local.len())
    {
        if out.len() == MAX_PAX_RECORDS_KEPT {
            return out;
        }
        if !local_index.contains_key(k.as_slice()) {
            out.push(pax_record(k, v));
        }
    }
    for (i, (k, v)) in local.iter().enumerate() {
        if out.len() == MAX_PAX_RECORDS_KEPT {
            break;
        }
        if local_index.get(k.as_slice()) == Some(&i) {
            out.push(pax_record(k, v));
        }
    }
    out
}

/// The extended-attribute keys applying to a member (at most
/// [`MAX_XATTR_KEYS_SHOWN`]) and how many more there are.
fn applied_xattrs(
    global: &GlobalPax,
    local: &[PaxPair],
    local_index: &std::collections::HashMap<&[u8], usize>,
) -> (Vec<String>, usize) {
    let mut keys = Vec::new();
    // Counted, not scanned: a global header may carry 100 000 attributes.
    let overridden = local_index
        .keys()
        .filter(|k| is_xattr_key(k) && global.index.contains_key(**k))
        .count();
    let mut total = global.xattr_keys.len() - overridden;
    for k in &global.xattr_keys {
        if keys.len() == MAX_XATTR_KEYS_SHOWN {
            break;
        }
        if !local_index.contains_key(k.as_slice()) {
            keys.push(lossy(k));
        }
    }
    for (i, (k, _)) in local.iter().enumerate() {
        if is_xattr_key(k) && local_index.get(k.as_slice()) == Some(&i) {
            total += 1;
            if keys.len() < MAX_XATTR_KEYS_SHOWN {
                keys.push(lossy(k));
            }
        }
    }
    let more = total - keys.len();
    (keys, more)
}

fn pax_record(key: &[u8], value: &[u8]) -> PaxRecord {
    let shown = &value[..value.len().min(MAX_PAX_VALUE_SHOWN)];
    PaxRecord {
        key: String::from_utf8_lossy(key).into_owned(),
        value: String::from_utf8_lossy(shown).into_owned(),
        len: value.len(),
    }
}

fn is_xattr_key(key: &[u8]) -> bool {
    key.starts_with(b"SCHILY.xattr.") || key.starts_with(b"LIBARCHIVE.xattr.")
}

// ---------------------------------------------------------------------------
// Names

/// Where a name lands under the extraction folder.
fn normalize(name: &str) -> String {
    name.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// A name as kept in [`ArchiveMember`] (see [`MAX_NAME_KEPT`]).
fn kept_name(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if raw.len() <= MAX_NAME_KEPT {
        return std::borrow::Cow::Borrowed(raw);
    }
    let digest = hex::encode(Sha256::digest(raw));
    let mut v = raw[..MAX_NAME_KEPT].to_vec();
    v.extend_from_slice(format!("…[{} bytes, sha256 {}]", raw.len(), &digest[..16]).as_bytes());
    std::borrow::Cow::Owned(v)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn trim_nul(b: &[u8]) -> &[u8] {
    match b.iter().position(|x| *x == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

// ---------------------------------------------------------------------------
// The walk

#[derive(Default)]
struct Pending {
    first_offset: Option<u64>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<PaxPair>>,
}

enum Stop {
    /// End marker (`true` = both zero blocks) seen; trailing data follows.
    End(bool),
    /// The stream ended at a block boundary without an end marker.
    Eof,
    /// Reading stopped (bad header, truncation, limit); the rest is skipped.
    Abandoned,
    /// The decoder or the input failed.
    StreamError,
}

struct Walker<'o, 'v> {
    opts: &'o ReadOptions,
    visitor: Option<&'v mut dyn MemberVisitor>,
    members: Vec<ArchiveMember>,
    findings: Vec<Finding>,
    captured_total: u64,
    /// Bytes of extension headers read so far (against `max_extension_total`).
    extension_total: u64,
    global_pax: Rc<GlobalPax>,
    dot_slash: usize,
    complete: bool,
}

fn off(o: u64) -> Location {
    Location::Offset(o)
}

fn mem(m: &ArchiveMember) -> Location {
    Location::Member(m.name.clone())
}

impl Walker<'_, '_> {
    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// Reads an extension header's data (GNU long name/link, pax), keeping
    /// at most the cap. Returns None when reading should stop.
    fn read_extension(
        &mut self,
        tar: &mut TarStream<'_>,
        size: u64,
        what: &str,
        at: u64,
    ) -> io::Result<Option<Vec<u8>>> {
        let keep = size.min(self.opts.max_extension_bytes) as usize;
        let total = self.extension_total.saturating_add(keep as u64);
        if total > self.opts.max_extension_total {
            self.push(
                Finding::error(
                    codes::HEADER_TOO_LARGE,
                    format!(
                        "the archive's GNU long names, long links and pax headers add up to more than the {} bytes sm-pack reads; no SageMaker model archive needs that many",
                        self.opts.max_extension_total
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(off(at)),
            );
            return Ok(None);
        }
        self.extension_total = total;
        let mut data = vec![0u8; keep];
        let got = tar.read_full(&mut data)?;
        if got < keep {
            self.truncated(tar.pos, &format!("inside a {what}"));
            return Ok(None);
        }
        if size > self.opts.max_extension_bytes {
            self.push(
                Finding::error(
                    codes::HEADER_TOO_LARGE,
                    format!(
                        "a {what} of {size} bytes is larger than the {} bytes sm-pack reads; no SageMaker model archive needs one",
                        self.opts.max_extension_bytes
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(off(at)),
            );
            return Ok(None);
        }
        if !self.skip(tar, padding(size))? {
            self.truncated(tar.pos, &format!("inside the padding of a {what}"));
            return Ok(None);
        }
        Ok(Some(data))
    }

    /// Skips `n` bytes (hashing them); false when the stream ended first.
    fn skip(&mut self, tar: &mut TarStream<'_>, mut n: u64) -> io::Result<bool> {
        let mut buf = [0u8; BLOCK * 8];
        while n > 0 {
            let want = (n as usize).min(buf.len());
            let got = tar.read_full(&mut buf[..want])?;
            if got < want {
                return Ok(false);
            }
            n -= got as u64;
        }
        Ok(true)
    }

    fn truncated(&mut self, at: u64, what: &str) {
        self.complete = false;
        self.push(
            Finding::error(
                codes::TRUNCATED,
                format!("the archive is truncated: the tar data ends {what} at byte {at} of the uncompressed stream"),
            )
            .with_hint("the file was cut short (interrupted download or copy?); fetch or rebuild it")
            .at(off(at)),
        );
    }

    fn wants_capture(&self, m: &ArchiveMember) -> bool {
        if m.kind != MemberKind::File || m.sparse {
            return false;
        }
        match &self.opts.capture {
            CapturePolicy::None => false,
            CapturePolicy::RootFiles => m.is_root_level(),
            CapturePolicy::All => true,
            CapturePolicy::Paths(p) => p.contains(&m.path),
        }
    }

    /// Streams a member's stored bytes through SHA-256, the capture and the
    /// visitor. Returns false when the stream ended inside them.
    fn stream_data(
        &mut self,
        tar: &mut TarStream<'_>,
        m: &mut ArchiveMember,
        stored: u64,
    ) -> io::Result<bool> {
        let capture = self.wants_capture(m);
        let budget = if capture {
            self.opts.capture_limit.min(
                self.opts
                    .capture_total_limit
                    .saturating_sub(self.captured_total),
            )
        } else {
            0
        };
        let mut kept: Option<Vec<u8>> = capture.then(|| {
            // Allocate as data arrives; never more than the member or the budget.
            Vec::with_capacity(stored.min(budget).min(CHUNK_SIZE as u64) as usize)
        });
        let visit = match self.visitor.as_deref_mut() {
            Some(v) => v.begin(m),
            None => false,
        };
        let mut sha = Sha256::new();
        let mut buf = vec![0u8; CHUNK_SIZE];
        let mut left = stored;
        let mut complete = true;
        while left > 0 {
            let want = (left as usize).min(buf.len());
            let got = match tar.read_full(&mut buf[..want]) {
                Ok(g) => g,
                Err(e) => {
                    if visit && let Some(v) = self.visitor.as_deref_mut() {
                        v.end(m, false);
                    }
                    m.data = kept;
                    return Err(e);
                }
            };
            let chunk = &buf[..got];
            if left == stored && !m.sparse {
                m.content = Some(sniff(&chunk[..chunk.len().min(SNIFF_BYTES)]));
            }
            sha.update(chunk);
            if let Some(k) = kept.as_mut() {
                let room = budget.saturating_sub(k.len() as u64) as usize;
                k.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            if visit && let Some(v) = self.visitor.as_deref_mut() {
                v.data(m, chunk);
            }
            left -= got as u64;
            if got < want {
                complete = false;
                break;
            }
        }
        if complete {
            m.sha256 = Some(hex::encode(sha.finalize()));
        }
        if stored == 0 && !m.sparse {
            m.content = Some(Sniffed::Empty);
        }
        if let Some(k) = &kept {
            self.captured_total += k.len() as u64;
        }
        m.data = kept;
        if visit && let Some(v) = self.visitor.as_deref_mut() {
            v.end(m, complete);
        }
        Ok(complete)
    }

    fn walk(&mut self, tar: &mut TarStream<'_>) -> io::Result<Stop> {
        let mut pending = Pending::default();
        let mut block = [0u8; BLOCK];
        loop {
            let at = tar.pos;
            let got = tar.read_full(&mut block)?;
            if got == 0 {
                if pending.first_offset.is_some() {
                    self.truncated(
                        at,
                        "after an extension header, before the member it describes",
                    );
                    return Ok(Stop::Abandoned);
                }
                return Ok(Stop::Eof);
            }
            if got < BLOCK {
                if at == 0 && !looks_like_partial_tar(&block[..got]) {
                    self.push(
                        Finding::error(
                            codes::NOT_TAR,
                            format!("the data is not a tar archive ({got} bytes, shorter than one tar header)"),
                        )
                        .with_hint(NOT_TAR_HINT)
                        .at(off(0)),
                    );
                } else {
                    self.truncated(tar.pos, "inside a header");
                }
                return Ok(Stop::Abandoned);
            }
            if block.iter().all(|b| *b == 0) {
                if pending.first_offset.is_some() {
                    self.truncated(
                        at,
                        "after an extension header, before the member it describes",
                    );
                    return Ok(Stop::Abandoned);
                }
                let mut second = [0u8; BLOCK];
                let got2 = tar.read_full(&mut second)?;
                if got2 == BLOCK && second.iter().all(|b| *b == 0) {
                    return Ok(Stop::End(true));
                }
                self.push(
                    Finding::info(
                        codes::END_MARKER,
                        format!("the end-of-archive marker is a single zero block at byte {at} (tar writes two); extractors stop there"),
                    )
                    .at(off(at)),
                );
                if second[..got2].iter().any(|b| *b != 0) {
                    self.trailing_after_end(tar, at + BLOCK as u64, &second[..got2])?;
                    return Ok(Stop::End(false));
                }
                return Ok(Stop::End(false));
            }
            if !checksum_ok(&block) {
                if self.members.is_empty() && pending.first_offset.is_none() {
                    self.push(
                        Finding::error(
                            codes::NOT_TAR,
                            "the data is not a tar archive (its first block is not a valid tar header)",
                        )
                        .with_hint(NOT_TAR_HINT)
                        .at(off(at)),
                    );
                } else {
                    self.push(
                        Finding::error(
                            codes::BAD_CHECKSUM,
                            format!("the tar header at byte {at} has a bad checksum; nothing after it can be trusted"),
                        )
                        .with_hint(REBUILD_HINT)
                        .at(off(at)),
                    );
                }
                return Ok(Stop::Abandoned);
            }
            let mut header = tar::Header::new_old();
            header.as_mut_bytes().copy_from_slice(&block);
            let type_flag = block[156];
            let first_offset = *pending.first_offset.get_or_insert(at);
            let header_size = match parse_num(&block[124..136]) {
                Some(s) => s,
                None => {
                    self.push(
                        Finding::error(
                            codes::BAD_HEADER,
                            format!("the size field of the tar header at byte {at} is unreadable"),
                        )
                        .at(off(at)),
                    );
                    return Ok(Stop::Abandoned);
                }
            };
            match type_flag {
                b'L' | b'K' => {
                    let what = if type_flag == b'L' {
                        "GNU long name"
                    } else {
                        "GNU long link name"
                    };
                    let Some(data) = self.read_extension(tar, header_size, what, at)? else {
                        return Ok(Stop::Abandoned);
                    };
                    let v = trim_nul(&data).to_vec();
                    if type_flag == b'L' {
                        pending.long_name = Some(v);
                    } else {
                        pending.long_link = Some(v);
                    }
                    continue;
                }
                b'x' | b'g' => {
                    let Some(data) = self.read_extension(tar, header_size, "pax header", at)?
                    else {
                        return Ok(Stop::Abandoned);
                    };
                    let (records, ok) = parse_pax(&data);
                    if !ok {
                        self.push(
                            Finding::error(
                                codes::BAD_PAX,
                                format!("the pax header at byte {at} has malformed records"),
                            )
                            .at(off(at)),
                        );
                    }
                    if type_flag == b'g' {
                        let mut keys: Vec<String> = records
                            .iter()
                            .take(MAX_XATTR_KEYS_SHOWN)
                            .map(|(k, _)| lossy(k))
                            .collect();
                        if records.len() > keys.len() {
                            keys.push(format!("… and {} more", records.len() - keys.len()));
                        }
                        self.push(
                            Finding::info(
                                codes::PAX_GLOBAL,
                                format!(
                                    "a pax global header at byte {at} applies to every later member (keys: {})",
                                    keys.join(", ")
                                ),
                            )
                            .at(off(at)),
                        );
                        if records.iter().any(|(k, _)| is_xattr_key(k)) {
                            self.push(
                                Finding::warning(
                                    codes::PAX_XATTR,
                                    "the pax global header carries extended attributes",
                                )
                                .with_hint(XATTR_HINT)
                                .at(off(at)),
                            );
                        }
                        Rc::make_mut(&mut self.global_pax).extend(records);
                        pending.first_offset = None;
                    } else {
                        pending.pax.get_or_insert_with(Vec::new).extend(records);
                    }
                    continue;
                }
                _ => {}
            }
            if self.members.len() >= self.opts.max_members {
                self.push(
                    Finding::error(
                        codes::TOO_MANY_MEMBERS,
                        format!(
                            "the archive has more than {} members; sm-pack stops listing there",
                            self.opts.max_members
                        ),
                    )
                    .at(off(at)),
                );
                return Ok(Stop::Abandoned);
            }
            let pending_now = std::mem::take(&mut pending);
            if !self.member(
                tar,
                &header,
                &block,
                type_flag,
                header_size,
                first_offset,
                pending_now,
            )? {
                return Ok(Stop::Abandoned);
            }
        }
    }

    /// Reads one member (its header is `block`); false when reading must stop.
    #[allow(clippy::too_many_arguments)]
    fn member(
        &mut self,
        tar: &mut TarStream<'_>,
        header: &tar::Header,
        block: &[u8; BLOCK],
        type_flag: u8,
        header_size: u64,
        first_offset: u64,
        pending: Pending,
    ) -> io::Result<bool> {
        let at = tar.pos - BLOCK as u64;
        // The records that apply: the member's own (the last of each key
        // wins) over the global ones. Lookups are hashed on both sides: a
        // header may hold ~170 000 records and apply to 100 000 members.
        let global = Rc::clone(&self.global_pax);
        let local: Vec<PaxPair> = pending.pax.unwrap_or_default();
        let mut local_index: std::collections::HashMap<&[u8], usize> =
            std::collections::HashMap::with_capacity(local.len());
        for (i, (k, _)) in local.iter().enumerate() {
            local_index.insert(k.as_slice(), i);
        }
        let pax_get = |key: &[u8]| -> Option<&[u8]> {
            match local_index.get(key) {
                Some(&i) => Some(local[i].1.as_slice()),
                None => global.get(key),
            }
        };
        let pax_num = |key: &[u8]| -> Option<i64> {
            pax_get(key).and_then(|v| {
                let s = std::str::from_utf8(v).ok()?;
                s.split('.').next()?.trim().parse::<i64>().ok()
            })
        };

        let format = if !local.is_empty() || !global.records.is_empty() {
            "pax"
        } else if header.as_gnu().is_some() {
            "gnu"
        } else if header.as_ustar().is_some() {
            "ustar"
        } else {
            "v7"
        };
        let sparse_pax = global.sparse || local.iter().any(|(k, _)| k.starts_with(b"GNU.sparse."));
        let name_bytes: Vec<u8> = if let Some(n) = pax_get(b"GNU.sparse.name") {
            n.to_vec()
        } else if let Some(p) = pax_get(b"path") {
            p.to_vec()
        } else if let Some(n) = pending.long_name {
            n
        } else {
            header.path_bytes().into_owned()
        };
        let link_bytes: Option<Vec<u8>> = if let Some(p) = pax_get(b"linkpath") {
            Some(p.to_vec())
        } else if let Some(l) = pending.long_link {
            Some(l)
        } else {
            header.link_name_bytes().map(|c| c.into_owned())
        };
        let mut kind = match type_flag {
            b'0' | b'7' | b'S' => MemberKind::File,
            0 if name_bytes.ends_with(b"/") => MemberKind::Directory,
            0 => MemberKind::File,
            b'1' => MemberKind::Hardlink,
            b'2' => MemberKind::Symlink,
            b'3' => MemberKind::CharDevice,
            b'4' => MemberKind::BlockDevice,
            b'5' | b'D' => MemberKind::Directory,
            b'6' => MemberKind::Fifo,
            _ => MemberKind::Other,
        };
        if kind == MemberKind::File && type_flag == b'0' && name_bytes.ends_with(b"/") {
            // Some old writers mark directories only by the trailing slash.
            kind = MemberKind::Directory;
        }
        let sparse = type_flag == b'S' || sparse_pax;

        // Stored size: pax `size` overrides the header (as GNU tar and Python do).
        let stored = match pax_get(b"size") {
            Some(v) => match std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            {
                Some(s) => s,
                None => {
                    self.push(
                        Finding::error(
                            codes::BAD_HEADER,
                            format!(
                                "the pax size record of the member at byte {at} is not a number"
                            ),
                        )
                        .at(off(at)),
                    );
                    return Ok(false);
                }
            },
            None => header_size,
        };

        // Numbers are read by hand: `tar::Header` rejects blank fields, which
        // GNU tar and Python read as 0.
        let mode = parse_num(&block[100..108]).map_or_else(
            || {
                warn_field(self, at, "mode");
                0
            },
            |v| (v & 0o7777_7777) as u32,
        );
        let uid = match pax_num(b"uid") {
            Some(v) => v.max(0) as u64,
            None => parse_num(&block[108..116]).unwrap_or_else(|| {
                warn_field(self, at, "uid");
                0
            }),
        };
        let gid = match pax_num(b"gid") {
            Some(v) => v.max(0) as u64,
            None => parse_num(&block[116..124]).unwrap_or_else(|| {
                warn_field(self, at, "gid");
                0
            }),
        };
        let mtime = match pax_num(b"mtime") {
            Some(v) => v,
            None => match parse_num(&block[136..148]) {
                Some(v) => i64::try_from(v).unwrap_or(i64::MAX),
                None => {
                    warn_field(self, at, "mtime");
                    0
                }
            },
        };
        let uname = pax_get(b"uname")
            .map(lossy)
            .or_else(|| header.username_bytes().map(lossy))
            .unwrap_or_default();
        let gname = pax_get(b"gname")
            .map(lossy)
            .or_else(|| header.groupname_bytes().map(lossy))
            .unwrap_or_default();

        // Old GNU sparse: extension headers follow, and the real size is in the header.
        let mut size = stored;
        if type_flag == b'S' {
            let mut extended = block[482] != 0;
            if let Some(real) = parse_num(&block[483..495]) {
                size = real;
            }
            while extended {
                let mut ext = [0u8; BLOCK];
                let got = tar.read_full(&mut ext)?;
                if got < BLOCK {
                    self.truncated(tar.pos, "inside a GNU sparse map");
                    return Ok(false);
                }
                extended = ext[504] != 0;
            }
        } else if sparse_pax
            && let Some(real) = pax_num(b"GNU.sparse.realsize").or(pax_num(b"GNU.sparse.size"))
        {
            size = real.max(0) as u64;
        }

        let kept = kept_name(&name_bytes);
        let name = lossy(&kept);
        let name_hex = std::str::from_utf8(&name_bytes)
            .is_err()
            .then(|| hex::encode(&kept));
        let mut m = ArchiveMember {
            index: self.members.len(),
            path: normalize(&name),
            name,
            name_hex,
            kind,
            type_flag: char::from(type_flag),
            size,
            mode,
            uid,
            gid,
            uname,
            gname,
            mtime,
            link_target: link_bytes.as_deref().map(|l| lossy(&kept_name(l))),
            format,
            sparse,
            pax: applied_pax(&global, &local, &local_index),
            sha256: None,
            content: None,
            model: None,
            header_offset: first_offset,
            data_offset: tar.pos,
            data: None,
        };
        let xattrs = applied_xattrs(&global, &local, &local_index);
        self.member_findings(&m, &name_bytes, xattrs);

        // Which entries have data blocks: regular files, sparse files (the
        // stored chunks) and unknown types. Like Python's tarfile, links,
        // directories and devices never do; a non-zero size on one of them
        // is reported, because tools disagree there.
        let has_data = matches!(kind, MemberKind::File | MemberKind::Other);
        if !has_data && stored > 0 {
            self.push(
                Finding::warning(
                    codes::NONZERO_SIZE,
                    format!(
                        "the {} entry {:?} declares {stored} bytes of data; tar tools disagree on whether data follows",
                        kind.label(),
                        m.name
                    ),
                )
                .at(mem(&m)),
            );
            m.size = 0;
        }
        if has_data {
            let complete = match self.stream_data(tar, &mut m, stored) {
                Ok(c) => c,
                Err(e) => {
                    self.complete = false;
                    self.members.push(m);
                    return Err(e);
                }
            };
            if !complete {
                let what = format!("inside the data of {:?}", m.name);
                self.truncated(tar.pos, &what);
                self.members.push(m);
                return Ok(false);
            }
            if !self.skip(tar, padding(stored))? {
                let what = format!("inside the padding after {:?}", m.name);
                self.truncated(tar.pos, &what);
                self.members.push(m);
                return Ok(false);
            }
        } else {
            m.sha256 = Some(hex::encode(Sha256::digest(b"")));
        }
        self.members.push(m);
        Ok(true)
    }

    fn member_findings(&mut self, m: &ArchiveMember, raw: &[u8], xattrs: (Vec<String>, usize)) {
        let loc = mem(m);
        if raw.is_empty() {
            self.push(
                Finding::error(
                    codes::EMPTY_NAME,
                    format!("member #{} has an empty name", m.index),
                )
                .with_hint(REBUILD_HINT)
                .at(off(m.header_offset)),
            );
        }
        if raw.contains(&0) {
            self.push(
                Finding::error(
                    codes::NUL_IN_NAME,
                    format!("the name {:?} contains a NUL byte", m.name),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            );
        }
        if raw.starts_with(b"/") {
            self.push(
                Finding::error(
                    codes::ABSOLUTE_PATH,
                    format!("{:?} is an absolute path: extractors either refuse it or write outside the model folder", m.name),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            );
        }
        if raw.split(|b| *b == b'/').any(|c| c == b"..") {
            self.push(
                Finding::error(
                    codes::DOTDOT,
                    format!(
                        "{:?} contains '..': it points outside the model folder",
                        m.name
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            );
        }
        if raw
            .split(|b| *b == b'/')
            .any(|c| c.len() > MAX_COMPONENT_BYTES)
        {
            self.push(
                Finding::error(
                    codes::NAME_TOO_LONG,
                    format!(
                        "{:.60}... has a path component longer than {MAX_COMPONENT_BYTES} bytes, which SageMaker refuses",
                        m.name
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            );
        }
        if raw.iter().any(|b| (*b < 0x20 && *b != 0) || *b == 0x7f) || raw.contains(&b'\\') {
            self.push(
                Finding::warning(
                    codes::ODD_NAME,
                    format!(
                        "the name {:?} contains control characters or backslashes",
                        m.name
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            );
        }
        if m.name.starts_with("./") {
            self.dot_slash += 1;
        }
        match m.kind {
            MemberKind::Symlink => self.push(
                Finding::error(
                    codes::SYMLINK,
                    format!(
                        "{:?} is a symbolic link (to {:?}); SageMaker fails to extract archives with links (\"Failed to extract model data archive\")",
                        m.name,
                        m.link_target.as_deref().unwrap_or("")
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            ),
            MemberKind::Hardlink => self.push(
                Finding::error(
                    codes::HARDLINK,
                    format!(
                        "{:?} is a hard link (to {:?}); store the file itself",
                        m.name,
                        m.link_target.as_deref().unwrap_or("")
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            ),
            MemberKind::CharDevice | MemberKind::BlockDevice | MemberKind::Fifo => self.push(
                Finding::error(
                    codes::SPECIAL,
                    format!("{:?} is a {} entry; model archives hold regular files only", m.name, m.kind.label()),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            ),
            MemberKind::Other => self.push(
                Finding::warning(
                    codes::UNKNOWN_TYPE,
                    format!("{:?} has the unknown tar entry type {:?}", m.name, m.type_flag),
                )
                .with_hint(REBUILD_HINT)
                .at(loc.clone()),
            ),
            _ => {}
        }
        if m.sparse {
            self.push(
                Finding::error(
                    codes::SPARSE,
                    format!("{:?} is a GNU sparse file; not every extractor rebuilds those", m.name),
                )
                .with_hint("create the archive without --sparse (or with sm-pack, which never writes sparse entries)")
                .at(loc.clone()),
            );
        }
        let (xattrs, more) = xattrs;
        if !xattrs.is_empty() {
            self.push(
                Finding::warning(
                    codes::PAX_XATTR,
                    format!(
                        "{:?} carries extended-attribute pax records ({}{})",
                        m.name,
                        xattrs.join(", "),
                        if more > 0 {
                            format!(", … and {more} more")
                        } else {
                            String::new()
                        }
                    ),
                )
                .with_hint(XATTR_HINT)
                .at(loc.clone()),
            );
        }
        let base = m.basename();
        if base.starts_with("._") {
            self.push(
                Finding::warning(
                    codes::APPLEDOUBLE,
                    format!("{:?} is a macOS AppleDouble metadata file", m.name),
                )
                .with_hint(MAC_HINT)
                .at(loc.clone()),
            );
        } else if base == ".DS_Store" {
            self.push(
                Finding::warning(
                    codes::DS_STORE,
                    format!("{:?} is a macOS Finder file", m.name),
                )
                .with_hint(MAC_HINT)
                .at(loc.clone()),
            );
        }
        if m.path.split('/').next() == Some("__MACOSX")
            && !self.findings.iter().any(|f| f.code == codes::MACOSX)
        {
            self.push(
                Finding::warning(
                    codes::MACOSX,
                    "the archive contains a __MACOSX/ folder (macOS metadata)",
                )
                .with_hint(MAC_HINT)
                .at(loc),
            );
        }
    }

    /// Reports data after the end marker; `first` is already read.
    fn trailing_after_end(
        &mut self,
        tar: &mut TarStream<'_>,
        start: u64,
        first: &[u8],
    ) -> io::Result<()> {
        let mut first_nonzero: Option<u64> =
            first.iter().position(|b| *b != 0).map(|p| start + p as u64);
        let mut hidden: Option<String> = None;
        if first.len() == BLOCK && looks_like_tar(first) && checksum_ok(first) {
            hidden = Some(lossy(trim_nul(&first[..100])));
        }
        let mut total = first.len() as u64;
        let mut block = [0u8; BLOCK];
        loop {
            let block_at = tar.pos;
            let got = tar.read_full(&mut block)?;
            if got == 0 {
                break;
            }
            total += got as u64;
            if first_nonzero.is_none()
                && let Some(p) = block[..got].iter().position(|b| *b != 0)
            {
                first_nonzero = Some(block_at + p as u64);
                if got == BLOCK && checksum_ok(&block) {
                    hidden = Some(lossy(trim_nul(&block[..100])));
                }
            }
        }
        if let Some(at) = first_nonzero {
            let mut msg = format!(
                "{total} bytes follow the end-of-archive marker and some are not zero (from byte {at}); extractors ignore them"
            );
            if let Some(h) = hidden {
                msg.push_str(&format!(
                    ", including what looks like a member named {h:?} that will never be extracted"
                ));
            }
            self.push(
                Finding::warning(codes::TRAILING_DATA, msg)
                    .with_hint(REBUILD_HINT)
                    .at(off(at)),
            );
        }
        Ok(())
    }
}

/// Reads a numeric header field (octal or base-256), as `tar` does.
fn parse_num(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        Some(v)
    } else {
        parse_octal(field)
    }
}

fn warn_field(w: &mut Walker<'_, '_>, at: u64, field: &str) {
    w.push(
        Finding::warning(
            codes::BAD_HEADER,
            format!("the {field} field of the tar header at byte {at} is unreadable"),
        )
        .at(off(at)),
    );
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

const REBUILD_HINT: &str = "rebuild the archive with sm-pack: `sm-pack xgboost <model> -o model.tar.gz` (XGBoost) or `sm-pack fasttext <model.bin> -o model.tar.gz` (BlazingText)";
const NOT_TAR_HINT: &str = "a gzip-compressed single file (model.gz) is not a model.tar.gz; build one with `sm-pack xgboost <model> -o model.tar.gz` or `sm-pack fasttext <model.bin> -o model.tar.gz`";
const XATTR_HINT: &str = "macOS bsdtar adds these; create the archive with `COPYFILE_DISABLE=1 tar --no-xattrs --no-mac-metadata ...` or with sm-pack, which writes none";
const MAC_HINT: &str = "macOS metadata; create the archive with `COPYFILE_DISABLE=1 tar ...` or with sm-pack, which stores only the model file";

// ---------------------------------------------------------------------------
// Driver

fn read_inner<R: Read>(
    input: R,
    opts: &ReadOptions,
    visitor: Option<&mut dyn MemberVisitor>,
    source: &Path,
) -> Result<ArchiveListing> {
    let raw = Rc::new(RefCell::new(input));
    let tap_state = Rc::new(RefCell::new(TapState::default()));
    let mut tap = Tap {
        inner: raw.clone(),
        state: tap_state.clone(),
    };
    let io_err = |state: &Rc<RefCell<TapState>>| -> Option<Error> {
        state
            .borrow_mut()
            .io_error
            .take()
            .map(|e| Error::io("read", source, e))
    };

    let mut findings: Vec<Finding> = Vec::new();
    let prefix = match read_prefix(&mut tap, BLOCK) {
        Ok(p) => p,
        Err(_) => {
            return Err(io_err(&tap_state)
                .unwrap_or_else(|| Error::io("read", source, io::Error::other("read failed"))));
        }
    };
    let mut walker = Walker {
        opts,
        visitor,
        members: Vec::new(),
        findings: Vec::new(),
        captured_total: 0,
        extension_total: 0,
        global_pax: Rc::new(GlobalPax::default()),
        dot_slash: 0,
        complete: true,
    };
    let outer_stats = Rc::new(RefCell::new(GzStats::default()));
    let inner_stats = Rc::new(RefCell::new(GzStats::default()));
    let mut compression;
    let mut tar_stream: Option<TarStream<'_>> = None;
    let kind = classify(&prefix);
    let prefix_source: DynRead<'_> = Box::new(Cursor::new(prefix.clone()).chain(Tap {
        inner: raw.clone(),
        state: tap_state.clone(),
    }));
    match kind {
        _ if prefix.is_empty() => {
            compression = Compression::Other {
                what: "empty".into(),
            };
            findings.push(
                Finding::error(codes::EMPTY, "the archive is empty (0 bytes)").with_hint(
                    "the file was never written or was cut to nothing (failed upload or copy?); fetch or rebuild it",
                ),
            );
        }
        Some("gzip") => {
            compression = Compression::Gzip {
                members: 0,
                double: false,
            };
            let mut outer: DynRead<'_> = Box::new(GzLayer::new(prefix_source, outer_stats.clone()));
            match read_prefix(&mut outer, BLOCK) {
                Ok(p2) => {
                    let rest: DynRead<'_> = Box::new(Cursor::new(p2.clone()).chain(outer));
                    if p2.starts_with(&[0x1f, 0x8b]) {
                        findings.push(
                            Finding::error(
                                codes::DOUBLE_GZIP,
                                "the archive is gzip-compressed twice (a .tar.gz inside gzip); SageMaker decompresses once and finds no tar",
                            )
                            .with_hint("decompress one layer (`gunzip -c model.tar.gz > inner.tar.gz`) or rebuild with sm-pack")
                            .at(off(0)),
                        );
                        compression = Compression::Gzip {
                            members: 0,
                            double: true,
                        };
                        let inner: DynRead<'_> = Box::new(GzLayer::new(rest, inner_stats.clone()));
                        tar_stream = Some(TarStream {
                            inner,
                            pos: 0,
                            sha: Sha256::new(),
                        });
                    } else {
                        tar_stream = Some(TarStream {
                            inner: rest,
                            pos: 0,
                            sha: Sha256::new(),
                        });
                    }
                }
                Err(_) => {
                    if let Some(e) = io_err(&tap_state) {
                        return Err(e);
                    }
                }
            }
        }
        Some("tar") => {
            compression = Compression::None;
            findings.push(
                Finding::error(
                    codes::NOT_GZIP,
                    "the archive is a plain (uncompressed) tar; SageMaker model data must be a gzip-compressed tar",
                )
                .with_hint("compress it (`gzip -n model.tar`) or rebuild with sm-pack")
                .at(off(0)),
            );
            tar_stream = Some(TarStream {
                inner: prefix_source,
                pos: 0,
                sha: Sha256::new(),
            });
        }
        other => {
            let what = other.unwrap_or("unknown data").to_string();
            findings.push(
                Finding::error(
                    codes::NOT_GZIP,
                    format!("the archive is not gzip-compressed tar data (it looks like {what})"),
                )
                .with_hint(REBUILD_HINT)
                .at(off(0)),
            );
            compression = Compression::Other { what };
        }
    }
    // The tap used for the prefix is done with; later reads go through the chains.
    drop(tap);

    let mut end_marker = false;
    let (mut tar_size, mut tar_sha) = (0u64, hex::encode(Sha256::digest(b"")));
    if let Some(mut tar) = tar_stream.take() {
        walker.findings = std::mem::take(&mut findings);
        let stop = match walker.walk(&mut tar) {
            Ok(s) => s,
            Err(_) => Stop::StreamError,
        };
        if let Some(e) = io_err(&tap_state) {
            return Err(e);
        }
        match stop {
            Stop::End(both) => {
                end_marker = both;
                // Data after the marker: zeros are normal (tar pads to 10 KiB records).
                let pos = tar.pos;
                if walker.trailing_after_end(&mut tar, pos, &[]).is_err()
                    && let Some(e) = io_err(&tap_state)
                {
                    return Err(e);
                }
            }
            Stop::Eof => {
                walker.push(
                    Finding::warning(
                        codes::END_MARKER,
                        format!(
                            "the tar data ends at byte {} without the end-of-archive marker (two zero blocks); it may have been cut at a member boundary",
                            tar.pos
                        ),
                    )
                    .with_hint(REBUILD_HINT)
                    .at(off(tar.pos)),
                );
            }
            Stop::Abandoned => {
                walker.complete = false;
                // Drain (hash) the rest so gzip problems further on are seen too.
                let mut sink = [0u8; CHUNK_SIZE];
                while let Ok(n) = tar.read_full(&mut sink) {
                    if n == 0 {
                        break;
                    }
                }
                if let Some(e) = io_err(&tap_state) {
                    return Err(e);
                }
            }
            Stop::StreamError => walker.complete = false,
        }
        tar_size = tar.pos;
        tar_sha = hex::encode(tar.sha.finalize());
        findings = std::mem::take(&mut walker.findings);
    }

    // Read whatever the decoders left (after a decoding error, or for
    // non-tar input) so the archive digest covers the whole file.
    {
        let mut rest = Tap {
            inner: raw.clone(),
            state: tap_state.clone(),
        };
        if io::copy(&mut rest, &mut io::sink()).is_err()
            && let Some(e) = io_err(&tap_state)
        {
            return Err(e);
        }
    }

    // gzip-level findings, outer layer first.
    for (layer, stats) in [("", &outer_stats), ("inner ", &inner_stats)] {
        let s = stats.borrow();
        if let Compression::Gzip { members, .. } = &mut compression
            && layer.is_empty()
        {
            *members = s.members;
        }
        if s.members > 1 {
            findings.push(
                Finding::info(
                    codes::GZIP_MEMBERS,
                    format!(
                        "the {layer}gzip data is {} concatenated gzip members (starting at bytes {}); tar and Python read them as one stream",
                        s.members,
                        s.member_offsets
                            .iter()
                            .map(u64::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .at(off(s.member_offsets.get(1).copied().unwrap_or(0))),
            );
        }
        if let Some((kind, at, msg)) = &s.error {
            let f = match kind {
                GzFailure::Truncated => Finding::error(
                    codes::TRUNCATED,
                    format!("the archive is truncated: the {layer}gzip stream ends before it is complete (at byte {at})"),
                )
                .with_hint("the file was cut short (interrupted download or copy?); fetch or rebuild it"),
                GzFailure::Corrupt => Finding::error(
                    codes::GZIP_CORRUPT,
                    format!("the {layer}gzip data is corrupt near byte {at}: {msg}"),
                )
                .with_hint("the file is damaged; fetch or rebuild it"),
            };
            findings.push(f.at(off(*at)));
        }
        if let Some((at, len, nonzero)) = s.trailing {
            let f = if nonzero {
                Finding::error(
                    codes::GZIP_TRAILING,
                    format!(
                        "{len} bytes that are not gzip data follow the {layer}gzip stream (from byte {at}); GNU tar fails on them (\"trailing garbage ignored\", exit status 2)"
                    ),
                )
            } else {
                Finding::warning(
                    codes::GZIP_TRAILING,
                    format!(
                        "{len} zero bytes follow the {layer}gzip stream (from byte {at}); tar accepts them, `gzip -t` complains"
                    ),
                )
            };
            findings.push(f.with_hint(REBUILD_HINT).at(off(at)));
        }
    }

    let mut members = std::mem::take(&mut walker.members);
    let complete = walker.complete && !matches!(compression, Compression::Other { .. });
    if walker.dot_slash > 0 {
        findings.push(Finding::info(
            codes::DOT_SLASH,
            format!(
                "{} member name(s) start with './' (as `tar -C dir .` writes them); they extract to the same place without it",
                walker.dot_slash
            ),
        ));
    }
    archive_findings(&mut members, &mut findings, opts);
    let (size, sha) = {
        let s = std::mem::take(&mut *tap_state.borrow_mut());
        (s.count, hex::encode(s.sha.finalize()))
    };
    Ok(ArchiveListing {
        compression,
        size,
        sha256: sha,
        tar_size,
        tar_sha256: tar_sha,
        end_marker,
        complete,
        members,
        findings,
    })
}

/// Findings about the member set: duplicates, file/directory clashes, a
/// wrapping folder, no members at all.
fn archive_findings(members: &mut [ArchiveMember], findings: &mut Vec<Finding>, _o: &ReadOptions) {
    let has_tar = !findings
        .iter()
        .any(|f| f.code == codes::NOT_TAR || f.code == codes::EMPTY)
        && !findings
            .iter()
            .any(|f| f.code == codes::NOT_GZIP && f.message.contains("looks like"));
    if members.is_empty() {
        if has_tar {
            findings.push(
                Finding::error(codes::NO_MEMBERS, "the archive has no members")
                    .with_hint(REBUILD_HINT),
            );
        }
        return;
    }
    // Duplicates (same landing path) and file/directory clashes.
    let mut by_path: Vec<(&str, usize)> = members
        .iter()
        .filter(|m| !m.path.is_empty())
        .map(|m| (m.path.as_str(), m.index))
        .collect();
    by_path.sort();
    let mut reported: Vec<String> = Vec::new();
    for w in by_path.windows(2) {
        let (a, b) = (&members[w[0].1], &members[w[1].1]);
        if a.path == b.path
            && !(a.kind == MemberKind::Directory && b.kind == MemberKind::Directory)
            && !reported.contains(&a.path)
        {
            reported.push(a.path.clone());
            findings.push(
                Finding::error(
                    codes::DUPLICATE,
                    format!(
                        "{:?} appears more than once (members #{} and #{}); extraction keeps only the last",
                        a.path, a.index, b.index
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(Location::Member(b.name.clone())),
            );
        }
    }
    let dirs_implied: std::collections::BTreeSet<&str> = members
        .iter()
        .flat_map(|m| {
            let p = m.path.as_str();
            p.match_indices('/').map(move |(i, _)| &p[..i])
        })
        .collect();
    for m in members.iter() {
        if m.kind != MemberKind::Directory && dirs_implied.contains(m.path.as_str()) {
            findings.push(
                Finding::error(
                    codes::FILE_AND_DIR,
                    format!(
                        "{:?} is both a {} and a folder of other members",
                        m.path,
                        m.kind.label()
                    ),
                )
                .with_hint(REBUILD_HINT)
                .at(Location::Member(m.name.clone())),
            );
        }
    }
    // A wrapping folder: nothing at the root but one folder holding everything
    // (ignoring macOS metadata).
    let relevant: Vec<&ArchiveMember> = members
        .iter()
        .filter(|m| {
            !m.path.is_empty()
                && m.path.split('/').next() != Some("__MACOSX")
                && !m.basename().starts_with("._")
                && m.basename() != ".DS_Store"
        })
        .collect();
    let tops: std::collections::BTreeSet<&str> = relevant
        .iter()
        .filter_map(|m| m.path.split('/').next())
        .collect();
    let root_non_dir = relevant
        .iter()
        .any(|m| m.is_root_level() && m.kind != MemberKind::Directory);
    if tops.len() == 1
        && !root_non_dir
        && let Some(top) = tops.iter().next()
    {
        let inside: Vec<&&ArchiveMember> = relevant
            .iter()
            .filter(|m| m.path.contains('/') && m.kind != MemberKind::Directory)
            .collect();
        if !inside.is_empty() {
            let example = inside
                .iter()
                .map(|m| m.path.as_str())
                .next()
                .unwrap_or_default()
                .to_string();
            findings.push(
                Finding::error(
                    codes::WRAPPING_FOLDER,
                    format!(
                        "every member sits inside the folder {top:?}/ (e.g. {example:?}); the container looks for the model at the root of the archive and finds none"
                    ),
                )
                .with_hint(format!(
                    "put the model file at the root: `sm-pack xgboost {example} -o model.tar.gz` (or `sm-pack fasttext {example} -o model.tar.gz`), or `tar -czf model.tar.gz -C {top} .`"
                ))
                .at(Location::Member(top.to_string())),
            );
        }
    }
}

impl ArchiveListing {
    /// Highest severity among the reader's findings.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size: u64) -> [u8; BLOCK] {
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..name.len().min(100)]
            .copy_from_slice(&name.as_bytes()[..name.len().min(100)]);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::new(kind));
        h.set_cksum();
        *h.as_bytes()
    }

    fn tar_of(entries: &[(&str, u8, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (name, kind, data) in entries {
            v.extend_from_slice(&header(name, *kind, data.len() as u64));
            v.extend_from_slice(data);
            v.resize(v.len() + padding(data.len() as u64) as usize, 0);
        }
        v.resize(v.len() + 2 * BLOCK, 0);
        v
    }

    fn gz(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).expect("gzip");
        e.finish().expect("gzip")
    }

    fn codes_of(l: &ArchiveListing) -> Vec<&str> {
        l.findings.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn clean_archive() {
        let bytes = gz(&tar_of(&[("xgboost-model", b'0', b"hello")]));
        let l = read_archive(&bytes[..], &ReadOptions::default()).expect("read");
        assert!(l.findings.is_empty(), "{:?}", l.findings);
        assert_eq!(l.members.len(), 1);
        let m = &l.members[0];
        assert_eq!(m.path, "xgboost-model");
        assert_eq!(
            m.sha256.as_deref(),
            Some(crate::hash::sha256_hex(b"hello").as_str())
        );
        assert_eq!(m.captured(), Some((&b"hello"[..], true)));
        assert!(l.end_marker && l.complete);
        assert_eq!(l.size, bytes.len() as u64);
        assert_eq!(l.sha256, crate::hash::sha256_hex(&bytes));
        assert_eq!(
            l.compression,
            Compression::Gzip {
                members: 1,
                double: false
            }
        );
    }

    #[test]
    fn pax_records_may_hold_newlines() {
        let rec = b"29 path=dir/a\nb with newline\n";
        let (r, ok) = parse_pax(rec);
        assert!(ok);
        assert_eq!(r[0].1, b"dir/a\nb with newline");
        assert!(
            tar::PaxExtensions::new(rec).any(|e| e.is_err()),
            "tar's parser splits on newlines"
        );
        let (_, ok) = parse_pax(b"99 path=x\n");
        assert!(!ok);
    }

    #[test]
    fn signed_checksums_are_accepted() {
        let mut h = header("caf\u{e9}", b'0', 0);
        // Recompute the checksum the historical signed way.
        let mut signed: i64 = 0;
        for (i, b) in h.iter().enumerate() {
            signed += if (148..156).contains(&i) {
                32
            } else {
                i64::from(*b as i8)
            };
        }
        let s = format!("{signed:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        assert!(checksum_ok(&h));
    }

    #[test]
    fn captures_respect_the_caps() {
        let data = vec![7u8; 10_000];
        let bytes = gz(&tar_of(&[("a", b'0', &data), ("b", b'0', &data)]));
        let opts = ReadOptions {
            capture_limit: 4096,
            capture_total_limit: 6000,
            ..ReadOptions::default()
        };
        let l = read_archive(&bytes[..], &opts).expect("read");
        assert_eq!(l.members[0].data.as_ref().map(Vec::len), Some(4096));
        assert_eq!(l.members[1].data.as_ref().map(Vec::len), Some(6000 - 4096));
        assert_eq!(l.captured_bytes(), 6000);
        assert!(!l.members[0].captured().expect("captured").1);
    }

    #[test]
    fn huge_long_names_are_not_buffered() {
        let mut t = Vec::new();
        t.extend_from_slice(&header("././@LongLink", b'L', 5 << 20));
        t.resize(t.len() + (5 << 20), b'a');
        t.extend_from_slice(&header("x", b'0', 0));
        t.resize(t.len() + 2 * BLOCK, 0);
        let l = read_archive(&gz(&t)[..], &ReadOptions::default()).expect("read");
        assert!(
            codes_of(&l).contains(&codes::HEADER_TOO_LARGE),
            "{:?}",
            l.findings
        );
    }

    #[test]
    fn every_gzip_problem_is_named() {
        let t = tar_of(&[("xgboost-model", b'0', b"x")]);
        // Two members.
        let mut two = gz(&t[..BLOCK * 2]);
        two.extend_from_slice(&gz(&t[BLOCK * 2..]));
        let l = read_archive(&two[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::GZIP_MEMBERS]);
        // Garbage after.
        let mut g = gz(&t);
        g.extend_from_slice(b"garbage");
        let l = read_archive(&g[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::GZIP_TRAILING]);
        // Truncated.
        let g = gz(&t);
        let l = read_archive(&g[..g.len() - 12], &ReadOptions::default()).expect("read");
        assert!(codes_of(&l).contains(&codes::TRUNCATED), "{:?}", l.findings);
        assert_eq!(l.size, g.len() as u64 - 12);
        // Double.
        let l = read_archive(&gz(&gz(&t))[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::DOUBLE_GZIP]);
        assert_eq!(l.members.len(), 1);
        // Plain tar.
        let l = read_archive(&t[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::NOT_GZIP]);
        assert_eq!(l.members.len(), 1);
        // Not an archive.
        let l = read_archive(&b"BZh91AY&SY"[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::NOT_GZIP]);
        // gzip of a non-tar.
        let l = read_archive(&gz(b"{\"learner\": {}}")[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::NOT_TAR]);
        let l = read_archive(&b""[..], &ReadOptions::default()).expect("read");
        assert_eq!(codes_of(&l), [codes::EMPTY]);
    }

    #[test]
    fn io_errors_are_errors_not_findings() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0).min(100);
                buf[..n].fill(0x1f);
                self.0 -= n;
                Ok(n)
            }
        }
        let bytes = gz(&tar_of(&[("xgboost-model", b'0', &vec![1u8; 100_000])]));
        let cut = bytes.len() / 2;
        let r = Cursor::new(bytes[..cut].to_vec()).chain(Broken(0));
        let e = read_archive(r, &ReadOptions::default()).expect_err("io error");
        assert!(e.to_string().contains("disk on fire"), "{e}");
        assert_eq!(e.exit_code(), 2);
    }
}
