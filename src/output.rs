//! Atomic outputs: write to a temporary file beside the destination, rename
//! into place only when everything succeeded.
//!
//! A [`StagedFile`] that is dropped without [`StagedFile::commit`] removes its
//! temporary file, so an error or a cancellation leaves nothing behind.
//!
//! Every temporary file is also listed in a process-wide registry while it
//! exists, so a process that must end at once (a second Ctrl-C, when
//! destructors will not run) can still remove them:
//! [`remove_temporary_files`].

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Temporary files that exist now (staged outputs, converted models).
static TEMPORARY: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic elsewhere while the lock was held leaves the list usable.
    TEMPORARY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps a temporary file's path in the registry while it lives.
#[derive(Debug)]
pub(crate) struct Registration(PathBuf);

impl Registration {
    /// Creates a temporary file with `create` and registers its path, under
    /// the registry's lock, so [`remove_temporary_files`] either sees the
    /// file or runs before it exists.
    pub(crate) fn create<T>(
        create: impl FnOnce() -> Result<T>,
        path: impl Fn(&T) -> &Path,
    ) -> Result<(T, Registration)> {
        let mut list = registry();
        let t = create()?;
        let p = path(&t).to_path_buf();
        list.push(p.clone());
        Ok((t, Registration(p)))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut list = registry();
        if let Some(i) = list.iter().rposition(|p| *p == self.0) {
            list.swap_remove(i);
        }
    }
}

/// Removes every temporary file sm-pack has created and not yet renamed
/// into place or removed, and returns how many it removed. For a process
/// that is about to end without running destructors (the CLI calls it when
/// a second SIGINT/SIGTERM arrives during cleanup). The registry stays
/// locked until the process exits, so no new temporary file appears after
/// it ran; call it only right before `std::process::exit`.
pub fn remove_temporary_files() -> usize {
    let list = registry();
    let removed = list
        .iter()
        .filter(|p| std::fs::remove_file(p).is_ok())
        .count();
    // Keep the lock: a thread creating a file now waits until the exit.
    std::mem::forget(list);
    removed
}

/// A file being written, not yet visible at its destination.
#[derive(Debug)]
pub struct StagedFile {
    temp: tempfile::NamedTempFile,
    dest: PathBuf,
    _registered: Registration,
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
        let (temp, registered) = Registration::create(
            || {
                tempfile::Builder::new()
                    .prefix(&format!(".{base}."))
                    .suffix(".sm-pack-tmp")
                    // Like any new file: 0666 less the umask (tempfile's default is 0600).
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                    .tempfile_in(dir)
                    .map_err(|e| Error::io("create a temporary file in", dir, e))
            },
            |t: &tempfile::NamedTempFile| t.path(),
        )?;
        Ok(StagedFile {
            temp,
            dest,
            _registered: registered,
        })
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

    /// Flushes the temporary file's bytes to disk (done again, cheaply, by
    /// [`StagedFile::commit`]).
    pub fn sync(&self) -> Result<()> {
        self.temp
            .as_file()
            .sync_all()
            .map_err(|e| Error::io("flush", self.temp.path(), e))
    }

    /// Flushes to disk and renames into place. With `overwrite` false the
    /// rename refuses to replace an existing file, even one created after
    /// [`check_destination`] ran.
    pub fn commit(self, overwrite: bool) -> Result<PathBuf> {
        // The registration ends after the rename (when `_registered` drops).
        let StagedFile {
            temp,
            dest,
            _registered,
        } = self;
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

/// Commits files that belong together (an archive, its manifest, its
/// `SHA256SUMS`) as one output, in the order given, each with its own
/// `overwrite` flag. Every file is flushed to disk before the first rename,
/// so a late "disk full" leaves nothing in place; if a rename still fails,
/// the files this call already renamed to where nothing was before are
/// removed again, so an archive never appears without its manifest. (A file
/// that replaced an older one stays: the older one is gone.)
pub fn commit_all(files: Vec<(StagedFile, bool)>) -> Result<Vec<PathBuf>> {
    for (f, _) in &files {
        f.sync()?;
    }
    let mut done: Vec<(PathBuf, bool)> = Vec::with_capacity(files.len());
    for (f, overwrite) in files {
        // Without overwrite the rename itself guarantees nothing was there.
        let created = !overwrite || std::fs::symlink_metadata(f.destination()).is_err();
        match f.commit(overwrite) {
            Ok(p) => done.push((p, created)),
            Err(e) => {
                for (p, created) in done.iter().rev() {
                    if *created {
                        let _ = std::fs::remove_file(p);
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(done.into_iter().map(|(p, _)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_commit_that_fails_leaves_none_of_its_new_files() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            dir.path().join("model.tar.gz"),
            dir.path().join("model.tar.gz.manifest.json"),
            dir.path().join("SHA256SUMS"),
        );
        // SHA256SUMS already exists and is replaced; the manifest appears
        // (from elsewhere) after staging, so its no-clobber rename fails.
        std::fs::write(&c, b"old sums").unwrap();
        let staged = vec![
            (StagedFile::with_contents(&a, b"archive").unwrap(), false),
            (StagedFile::with_contents(&c, b"new sums").unwrap(), true),
            (StagedFile::with_contents(&b, b"manifest").unwrap(), false),
        ];
        std::fs::write(&b, b"someone else's").unwrap();
        let err = commit_all(staged).unwrap_err();
        assert!(
            matches!(err, Error::OutputExists { ref path } if path == &b),
            "{err}"
        );
        assert!(
            !a.exists(),
            "the archive must not stay without its manifest"
        );
        assert_eq!(std::fs::read(&b).unwrap(), b"someone else's");
        // Replaced before the failure: cannot be undone, and is the new file.
        assert_eq!(std::fs::read(&c).unwrap(), b"new sums");
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["SHA256SUMS", "model.tar.gz.manifest.json"],
            "no temporary files"
        );

        // All good: every file in place, in order.
        std::fs::remove_file(&b).unwrap();
        let staged = vec![
            (StagedFile::with_contents(&a, b"archive").unwrap(), false),
            (StagedFile::with_contents(&b, b"manifest").unwrap(), false),
        ];
        assert_eq!(commit_all(staged).unwrap(), [a.clone(), b.clone()]);
        assert_eq!(std::fs::read(&a).unwrap(), b"archive");
    }

    #[test]
    fn temporary_files_are_registered_while_they_exist() {
        let dir = tempfile::tempdir().unwrap();
        let listed = |p: &Path| registry().iter().any(|q| q == p);
        let a = StagedFile::with_contents(dir.path().join("a"), b"x").unwrap();
        let b = StagedFile::with_contents(dir.path().join("b"), b"y").unwrap();
        let (pa, pb) = (a.temp_path().to_path_buf(), b.temp_path().to_path_buf());
        assert!(listed(&pa) && listed(&pb));
        drop(a);
        assert!(!listed(&pa) && listed(&pb));
        b.commit(false).unwrap();
        assert!(!listed(&pb));
        assert!(dir.path().join("b").exists());
    }

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
