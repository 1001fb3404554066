//! Atomic outputs: write to a temporary file beside the destination, rename
//! into place only when everything succeeded.
//!
//! A [`StagedFile`] that is dropped without [`StagedFile::commit`] removes its
//! temporary file, so an error or a cancellation leaves nothing behind.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A file being written, not yet visible at its destination.
#[derive(Debug)]
pub struct StagedFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
}

/// The folder a destination lives in ("." for a bare file name).
fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Fails with [`Error::OutputExists`] when `dest` exists and `overwrite` is false,
/// and with a clear error when `dest` is a directory. Call it before doing
/// expensive work so the user learns early.
pub fn check_destination(dest: &Path, overwrite: bool) -> Result<()> {
    match std::fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => Err(Error::Input {
            path: dest.to_path_buf(),
            message: "is a directory; the output must be a file path".into(),
            hint: Some("give a file name such as model.tar.gz with -o".into()),
        }),
        Ok(_) if !overwrite => Err(Error::OutputExists {
            path: dest.to_path_buf(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = parent_dir(dest);
            if dir.is_dir() {
                Ok(())
            } else {
                Err(Error::Input {
                    path: dir.to_path_buf(),
                    message: "output folder does not exist".into(),
                    hint: Some("create it first, or choose another path with -o".into()),
                })
            }
        }
        Err(e) => Err(Error::io("inspect", dest, e)),
    }
}

impl StagedFile {
    /// Creates a hidden temporary file in the destination's folder.
    pub fn new(dest: impl Into<PathBuf>) -> Result<Self> {
        let dest = dest.into();
        let dir = parent_dir(&dest);
        let base = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{base}."))
            .suffix(".sm-pack-tmp")
            // Like any new file: 0666 less the umask (tempfile's default is 0600).
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(|e| Error::io("create a temporary file in", dir, e))?;
        Ok(StagedFile { temp, dest })
    }

    /// Creates a staged file holding `bytes`.
    pub fn with_contents(dest: impl Into<PathBuf>, bytes: &[u8]) -> Result<Self> {
        let mut s = Self::new(dest)?;
        let path = s.temp.path().to_path_buf();
        s.temp
            .write_all(bytes)
            .map_err(|e| Error::io("write", path, e))?;
        Ok(s)
    }

    /// A second handle on the temporary file, for writing.
    pub fn file(&self) -> Result<File> {
        self.temp
            .as_file()
            .try_clone()
            .map_err(|e| Error::io("open", self.temp.path(), e))
    }

    /// Where the file will appear on commit.
    pub fn destination(&self) -> &Path {
        &self.dest
    }

    /// Path of the temporary file (for error messages).
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Flushes to disk and renames into place. With `overwrite` false the
    /// rename refuses to replace an existing file, even one created after
    /// [`check_destination`] ran.
    pub fn commit(self, overwrite: bool) -> Result<PathBuf> {
        let StagedFile { temp, dest } = self;
        temp.as_file()
            .sync_all()
            .map_err(|e| Error::io("flush", temp.path(), e))?;
        let persisted = if overwrite {
            temp.persist(&dest)
        } else {
            temp.persist_noclobber(&dest)
        };
        match persisted {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::OutputExists { path: dest });
            }
            Err(e) => return Err(Error::io("rename into place", dest, e.error)),
        }
        // Make the rename itself durable; failure here is not worth failing the run.
        if let Ok(d) = File::open(parent_dir(&dest)) {
            let _ = d.sync_all();
        }
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_stage_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        {
            let _s = StagedFile::with_contents(&dest, b"x").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn noclobber_refuses_existing() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.bin");
        std::fs::write(&dest, b"old").unwrap();
        assert!(matches!(
            check_destination(&dest, false),
            Err(Error::OutputExists { .. })
        ));
        let s = StagedFile::with_contents(&dest, b"new").unwrap();
        assert!(matches!(s.commit(false), Err(Error::OutputExists { .. })));
        assert_eq!(std::fs::read(&dest).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let s = StagedFile::with_contents(&dest, b"new").unwrap();
        s.commit(true).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"new");
    }
}
