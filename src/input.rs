//! Reading whole input files with a bound.
//!
//! XGBoost models, request bodies and sample rows are read into memory
//! before they are parsed. A path given on the command line can be a
//! symlink to `/dev/zero`, a FIFO nobody writes, or a sparse file of a
//! terabyte; [`read_model_file`] and [`read_data_file`] refuse what cannot
//! be a model or a request up front and never read more than a documented
//! maximum ([`MAX_MODEL_BYTES`], [`MAX_DATA_BYTES`]), with a clear error.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest model file read whole (XGBoost models in every encoding): 4 GiB.
/// The largest real models are a few hundred MB (a 2000-tree depth-8 model is
/// 58 MB of JSON); parsing takes about twice the file in memory.
pub const MAX_MODEL_BYTES: u64 = 4 << 30;

/// Largest request body, sample or expected-predictions file read whole:
/// 1 GiB (SageMaker's own limits are 6 MB per real-time request and 100 MB
/// per batch-transform record).
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// Human form of a byte count that is a whole number of GiB or MiB ("4 GiB",
/// "512 MiB"), else in bytes.
pub fn human(n: u64) -> String {
    if n >= 1 << 30 && n.is_multiple_of(1 << 30) {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

fn too_large(path: &Path, what: &str, size: Option<u64>, max: u64) -> Error {
    let size = match size {
        Some(s) => format!("is {s} bytes"),
        None => format!("holds more than {max} bytes"),
    };
    Error::Input {
        path: path.to_path_buf(),
        message: format!(
            "{size}; sm-pack reads {what} of at most {} ({max} bytes)",
            human(max)
        ),
        hint: Some("check that this is the file you meant".into()),
    }
}

/// Reads `file` (already opened, `len` bytes claimed) to its end, at most
/// `max` bytes.
fn read_bounded(
    mut file: File,
    path: &Path,
    what: &str,
    len: Option<u64>,
    max: u64,
) -> Result<Vec<u8>> {
    // Reserve what the file claims (never more than the cap); the read below
    // grows the buffer only with bytes actually received.
    let reserve = len.unwrap_or(0).min(max);
    let mut bytes = Vec::with_capacity(usize::try_from(reserve).unwrap_or(0));
    (&mut file)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > max {
        return Err(too_large(path, what, None, max));
    }
    if let Some(l) = len
        && bytes.len() as u64 != l
    {
        return Err(changed(path, l));
    }
    Ok(bytes)
}

/// Reads a model file whole: a regular file (or a symlink to one) of at most
/// `max` bytes. A directory, device, FIFO or socket is refused before
/// anything is read ([`Error::Input`], exit code 2), and so is a file larger
/// than `max`; a file that changes size while it is read gives
/// [`Error::InputChanged`].
///
/// ```
/// let e = sm_pack::input::read_model_file("/dev/zero".as_ref(), sm_pack::input::MAX_MODEL_BYTES)
///     .unwrap_err();
/// assert!(e.to_string().contains("not a regular file"));
/// ```
pub fn read_model_file(path: &Path, max: u64) -> Result<Vec<u8>> {
    read_regular_file(path, max, "model files")
}

/// [`read_model_file`] for any file that must be a regular file (a
/// manifest beside an archive, ...); `what` names such files in the error
/// ("manifests").
pub fn read_regular_file(path: &Path, max: u64, what: &str) -> Result<Vec<u8>> {
    let (file, len) = open_model_file(path)?;
    if len > max {
        return Err(too_large(path, what, Some(len), max));
    }
    match usize::try_from(len) {
        Ok(n) if len >= PARALLEL_READ_MIN_BYTES => read_in_pieces(&file, path, n),
        _ => read_bounded(file, path, what, Some(len), max),
    }
}

/// Smallest file [`read_regular_file`] reads with more than one thread.
const PARALLEL_READ_MIN_BYTES: u64 = 4 << 20;

/// Reads the `len` bytes `file` claims in one piece per CPU, each at its
/// offset on its own thread: copying a large model out of the page cache is
/// a good part of the time to inspect it. A file that ends early or goes on
/// past `len` is [`Error::InputChanged`], as with the sequential read.
fn read_in_pieces(file: &File, path: &Path, len: usize) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    // Not zeroed first: every byte is written by the reads below before the
    // length is set (a zero fill costs as much as a quarter of the copy).
    let mut bytes: Vec<u8> = Vec::with_capacity(len);
    advise_huge_pages(&mut bytes);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let piece = len.div_ceil(threads).max(1);
    {
        let spare = &mut bytes.spare_capacity_mut()[..len];
        // Pieces wait in a queue that the started threads and this one empty
        // together: if a thread cannot be started, the others read its piece.
        let queue = std::sync::Mutex::new(spare.chunks_mut(piece).enumerate().collect::<Vec<_>>());
        let failures = std::sync::Mutex::new(Vec::new());
        let read = || {
            loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some((i, buf)) = next else { break };
                if let Err(e) = pread_exact(file, buf, (i * piece) as u64) {
                    failures.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                }
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                let _ = std::thread::Builder::new().spawn_scoped(scope, read);
            }
            read();
        });
        let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = failures.into_iter().next() {
            return Err(match e.kind() {
                std::io::ErrorKind::UnexpectedEof => changed(path, len as u64),
                _ => Error::io("read", path, e),
            });
        }
    }
    // SAFETY: every piece of the first `len` bytes was filled completely by
    // `pread_exact` (any failure returned above), so they are initialised.
    unsafe { bytes.set_len(len) };
    // Nothing may follow: a file that grew since it was measured changed.
    match file.read_at(&mut [0u8; 1], len as u64) {
        Ok(0) => Ok(bytes),
        Ok(_) => Err(changed(path, len as u64)),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Asks the kernel to back the buffer's spare capacity with huge pages
/// where it can (transparent huge pages in `madvise` mode, the common
/// default): filling a 32 MB buffer otherwise takes 8,000 page faults, which
/// cost a fresh process more than the copy itself. Advice only: nothing
/// changes if the kernel declines.
#[cfg(target_os = "linux")]
fn advise_huge_pages(buf: &mut Vec<u8>) {
    const HUGE: usize = 2 << 20;
    let spare = buf.spare_capacity_mut();
    let start = spare.as_mut_ptr() as usize;
    let (Some(first), Some(end)) = (
        start.checked_next_multiple_of(HUGE),
        start.checked_add(spare.len()),
    ) else {
        return;
    };
    let last = end - end % HUGE;
    if last > first {
        // SAFETY: [first, last) lies inside the allocation this function
        // borrows; madvise(MADV_HUGEPAGE) neither reads nor writes it.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &mut Vec<u8>) {}

/// The file no longer has the `len` bytes it had when measured.
fn changed(path: &Path, len: u64) -> Error {
    Error::InputChanged {
        path: path.to_path_buf(),
        expected: len,
    }
}

/// Fills `buf` from `file` at `offset` (`read_exact_at` for memory not yet
/// initialised); a file that ends first gives `UnexpectedEof`.
fn pread_exact(
    file: &File,
    buf: &mut [std::mem::MaybeUninit<u8>],
    mut offset: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        let want = rest.len().min(1 << 30);
        let at = libc::off_t::try_from(offset)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: pread writes at most `want` bytes into `rest`, memory this
        // function borrows exclusively; it does not read it.
        let n = unsafe { libc::pread(file.as_raw_fd(), rest.as_mut_ptr().cast(), want, at) };
        match n {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n if n > 0 => {
                done += n as usize;
                offset += n as u64;
            }
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// Opens a model file for reading: a regular file (or a symlink to one),
/// never a directory, device, FIFO or socket. A FIFO is refused without
/// waiting for a writer. Returns the file and its size.
pub fn open_model_file(path: &Path) -> Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    // Without O_NONBLOCK, opening a FIFO nobody writes would block forever
    // before it could be refused. Regular files ignore the flag.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "is a directory, not a model file"
        } else {
            "is not a regular file (a device, FIFO or socket); models are read from regular files"
        };
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: what.into(),
            hint: Some("pass the model file itself".into()),
        });
    }
    Ok((file, meta.len()))
}

/// Reads a data file whole (a request body, sample rows, expected
/// predictions): a regular file, a FIFO or a socket (`<(…)` works), at most
/// `max` bytes. Directories and devices are refused before anything is read.
pub fn read_data_file(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileTypeExt;
    let file = File::open(path).map_err(|e| Error::io("open", path, e))?;
    let meta = file.metadata().map_err(|e| Error::io("inspect", path, e))?;
    let t = meta.file_type();
    if t.is_dir() || t.is_block_device() || t.is_char_device() {
        let what = if t.is_dir() {
            "is a directory, not a data file"
        } else {
            "is a device, not a data file (use - to read stdin)"
        };
        return Err(Error::Input {
            path: path.to_path_buf(),
            message: what.into(),
            hint: None,
        });
    }
    if meta.is_file() {
        if meta.len() > max {
            return Err(too_large(path, "data files", Some(meta.len()), max));
        }
        read_bounded(file, path, "data files", Some(meta.len()), max)
    } else {
        read_bounded(file, path, "data files", None, max)
    }
}

/// Reads standard input whole, at most `max` bytes.
pub fn read_stdin(max: u64) -> Result<Vec<u8>> {
    let path = Path::new("<stdin>");
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", path, e))?;
    if bytes.len() as u64 > max {
        return Err(too_large(path, "data", None, max));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_read_in_pieces_are_whole_and_exact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.ubj");
        let len = (PARALLEL_READ_MIN_BYTES + 12_345) as usize;
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(read_model_file(&path, MAX_MODEL_BYTES).unwrap(), data);
        let file = File::open(&path).unwrap();
        // The file holds more, or fewer, bytes than were measured: changed.
        for claimed in [len - 1, len + 1] {
            assert!(matches!(
                read_in_pieces(&file, &path, claimed),
                Err(Error::InputChanged { expected, .. }) if expected == claimed as u64
            ));
        }
    }

    #[test]
    fn refuses_devices_directories_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        for p in [Path::new("/dev/zero"), dir.path()] {
            let e = read_model_file(p, MAX_MODEL_BYTES).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
            let e = read_data_file(p, MAX_DATA_BYTES).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{e}");
        }
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // A FIFO nobody writes is refused as a model without blocking.
        let e = read_model_file(&fifo, MAX_MODEL_BYTES).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // As data it is read to its end.
        let f = fifo.clone();
        let w = std::thread::spawn(move || std::fs::write(f, b"1,2\n"));
        assert_eq!(read_data_file(&fifo, MAX_DATA_BYTES).unwrap(), b"1,2\n");
        w.join().unwrap().unwrap();
    }

    #[test]
    fn caps_the_size_before_and_while_reading() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.json");
        std::fs::write(&p, vec![b' '; 100]).unwrap();
        assert_eq!(read_model_file(&p, 100).unwrap().len(), 100);
        let e = read_model_file(&p, 99).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("at most 99 bytes"), "{e}");
        // A sparse file claiming a terabyte is refused without reading it.
        let big = dir.path().join("big.json");
        let f = File::create(&big).unwrap();
        f.set_len(1 << 40).unwrap();
        let e = read_model_file(&big, MAX_MODEL_BYTES).unwrap_err();
        assert!(e.to_string().contains("at most 4 GiB"), "{e}");
        let e = read_data_file(&big, MAX_DATA_BYTES).unwrap_err();
        assert!(e.to_string().contains("at most 1 GiB"), "{e}");
    }
}
