//! The library's error type.
//!
//! Errors are for conditions that stop an operation: the file cannot be read,
//! the output cannot be written, the input is not a model at all. Problems a
//! check can report and continue past are [`crate::report::Finding`]s.

use crate::report::Finding;
use std::io;
use std::path::PathBuf;

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an sm-pack operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        /// What was being done ("open", "read", "write", "rename", ...).
        op: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An input file is unusable as given (a symlink, a directory, ...).
    #[error("{}: {message}", path.display())]
    Input {
        /// The input concerned.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
        /// What to do.
        hint: Option<String>,
    },

    /// The output exists and overwriting was not allowed.
    #[error("{} already exists", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },

    /// A name cannot be stored in a SageMaker model archive.
    #[error("invalid archive member name {name:?}: {reason}")]
    InvalidMemberName {
        /// The rejected name.
        name: String,
        /// Why it is rejected.
        reason: String,
    },

    /// The input is not a model of the expected kind at all.
    #[error("not {expected}: {what}")]
    UnrecognizedFormat {
        /// What was expected, e.g. "an XGBoost model".
        expected: &'static str,
        /// What the bytes look like instead.
        what: String,
        /// What to do.
        hint: Option<String>,
    },

    /// The input is a model of the expected kind but cannot be read: truncated,
    /// corrupt, or beyond a documented resource limit.
    #[error("invalid {format} model: {finding}")]
    InvalidModel {
        /// The encoding being read, e.g. "XGBoost UBJSON".
        format: String,
        /// The precise problem, with its location.
        finding: Box<Finding>,
    },

    /// The input changed size while it was being read.
    #[error("{} changed while it was being read (expected {expected} bytes)", path.display())]
    InputChanged {
        /// The input concerned.
        path: PathBuf,
        /// The size it had when it was opened.
        expected: u64,
    },

    /// The input's bytes changed between validation and packing (another
    /// process replaced or rewrote the file): what would be packed is not
    /// what was validated, so nothing was written.
    #[error(
        "{} changed after it was validated (validated sha256 {validated}, read again to pack: {packed}); nothing was written",
        path.display()
    )]
    InputReplaced {
        /// The input concerned.
        path: PathBuf,
        /// SHA-256 of the bytes that were validated.
        validated: String,
        /// SHA-256 of the bytes read to pack.
        packed: String,
    },

    /// The operation was cancelled (Ctrl-C, SIGTERM); nothing was left behind.
    #[error("interrupted; no output was written")]
    Interrupted,

    /// A request the library cannot satisfy as asked (bad option combination, unknown tag, ...).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// True when the error means "the input failed validation" (exit code 1)
    /// rather than a usage, I/O or environment problem (exit code 2).
    pub fn is_validation_failure(&self) -> bool {
        matches!(
            self,
            Error::UnrecognizedFormat { .. } | Error::InvalidModel { .. }
        )
    }

    /// The process exit code this error maps to: 1 validation, 2 everything else.
    pub fn exit_code(&self) -> i32 {
        if self.is_validation_failure() { 1 } else { 2 }
    }

    /// A suggestion for the user, when the error carries one.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Input { hint, .. } | Error::UnrecognizedFormat { hint, .. } => hint.as_deref(),
            Error::InvalidModel { finding, .. } => finding.hint.as_deref(),
            Error::OutputExists { .. } => {
                Some("pass --force to overwrite it, or choose another path with -o")
            }
            Error::Io { source, .. } => io_hint(source.kind()),
            Error::InputChanged { .. } | Error::InputReplaced { .. } => Some(
                "another process is writing or replacing the file; \
                 run again once it is complete",
            ),
            _ => None,
        }
    }
}

/// What to do about a failed I/O call, by its kind (none when the kind says
/// nothing the message does not).
fn io_hint(kind: io::ErrorKind) -> Option<&'static str> {
    use io::ErrorKind as K;
    Some(match kind {
        K::NotFound => "check the path (a relative path starts from the current folder)",
        K::NotADirectory => "a folder in that path is a file: check the path",
        K::PermissionDenied => {
            "check the permissions of the file and its folder, or choose another path"
        }
        K::StorageFull | K::QuotaExceeded => {
            "free space on that disk (or raise the quota), or write the outputs to another folder"
        }
        K::FileTooLarge => {
            "the file size limit was reached (`ulimit -f`, or the file system's largest file): \
             raise it, or write the outputs to another disk"
        }
        K::ReadOnlyFilesystem => {
            "that file system is mounted read-only: write the outputs to a writable folder"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_say_what_to_do_when_the_kind_tells() {
        let e = |kind| Error::io("write", "out/model.tar.gz", io::Error::from(kind));
        for kind in [
            io::ErrorKind::NotFound,
            io::ErrorKind::NotADirectory,
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::StorageFull,
            io::ErrorKind::QuotaExceeded,
            io::ErrorKind::FileTooLarge,
            io::ErrorKind::ReadOnlyFilesystem,
        ] {
            assert!(e(kind).hint().is_some_and(|h| !h.is_empty()), "{kind:?}");
        }
        assert_eq!(e(io::ErrorKind::Other).hint(), None);
        let changed = Error::InputChanged {
            path: "m.bin".into(),
            expected: 3,
        };
        assert!(changed.hint().is_some_and(|h| h.contains("run again")));
    }
}
