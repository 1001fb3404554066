//! Deterministic `model.tar.gz` writing (and, later, safe reading).
//!
//! The layout rules are in `formats/archive.md`: members sorted by name,
//! regular files only, mode 0644, uid/gid 0, empty owner names, one fixed
//! mtime (`SOURCE_DATE_EPOCH` or [`DEFAULT_MTIME`]), GNU headers without pax
//! records, gzip header without time or name.

mod huffman;
mod names;
pub mod pgzip;
pub mod reader;
mod writer;

pub use names::{MAX_COMPONENT_BYTES, validate_member_name, validate_member_set};
pub use reader::{
    ArchiveListing, ArchiveMember, CapturePolicy, Compression, MemberKind, MemberVisitor,
    ReadOptions, read_archive, read_archive_file, read_archive_file_progress,
    read_archive_file_with, read_archive_with,
};
pub use writer::{
    ArchiveRecord, DEFAULT_LEVEL, DEFAULT_MTIME, MAX_MTIME, MEMBER_MODE, Member, MemberRecord,
    PackOptions, Progress, ProgressFn, StagedArchive, source_date_epoch, stage_archive,
    stage_archive_streaming, stage_archive_with_sink,
};
