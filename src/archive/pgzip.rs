//! Parallel, deterministic gzip.
//!
//! The input is cut into fixed-size blocks. Each block is deflated on its own
//! (primed with the previous block's last 32 KiB as a preset dictionary, as
//! pigz does) and ends on a byte boundary with a sync flush; the last block
//! finishes the stream. The raw deflate pieces concatenate into one valid
//! deflate stream inside one gzip member, so any gzip reader accepts it.
//!
//! The bytes depend only on the block size, the level and the deflate
//! backend, never on the number of threads: one thread and sixteen give the
//! same file. The header has mtime 0, no file name and OS byte 255 (unknown),
//! so nothing about the machine or the time leaks into the output.
//!
//! We write this by hand because the parallel-gzip crate on crates.io (`gzp`)
//! needs a C zlib-ng build (cmake) for its fast path and its output stability
//! across thread counts is not documented; here it is a tested property.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

/// Input bytes per independently compressed block.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Size of the preset dictionary carried from one block to the next.
const DICT_SIZE: usize = 32 * 1024;

/// gzip header: magic, CM=deflate, FLG=0, MTIME=0, XFL (set per level), OS=255.
fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

struct Job {
    index: u64,
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

fn deflate_block(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    if !dict.is_empty() && level > 0 {
        c.set_dictionary(dict)
            .map_err(|e| io::Error::other(format!("deflate dictionary: {e}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let consumed = c.total_in() as usize;
        if out.capacity() - out.len() < 64 * 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let done_input = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once all input is consumed and zlib left
            // spare room in the output buffer (it would have filled it otherwise).
            Status::Ok | Status::BufError if !last && done_input && out.len() < out.capacity() => {
                break;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A `Write` that gzips what it is given, using `threads` worker threads.
///
/// Call [`ParGzWriter::finish`] to write the trailer and get the inner writer
/// back; dropping it without `finish` leaves an incomplete stream.
pub struct ParGzWriter<W: Write> {
    inner: Option<W>,
    level: u32,
    buf: Vec<u8>,
    prev_tail: Vec<u8>,
    crc: crc32fast::Hasher,
    total_in: u64,
    next_index: u64,
    next_to_write: u64,
    pending: BTreeMap<u64, Vec<u8>>,
    in_flight: usize,
    max_in_flight: usize,
    workers: Vec<thread::JoinHandle<()>>,
    job_tx: Option<mpsc::SyncSender<Job>>,
    result_rx: mpsc::Receiver<(u64, io::Result<Vec<u8>>)>,
    result_tx: Option<mpsc::Sender<(u64, io::Result<Vec<u8>>)>>,
    threads: usize,
}

impl<W: Write> ParGzWriter<W> {
    /// Starts a gzip stream at `level` (0-9) on `threads` threads (1 = inline).
    pub fn new(mut inner: W, level: u32, threads: usize) -> io::Result<Self> {
        let level = level.min(9);
        let threads = threads.max(1);
        inner.write_all(&gzip_header(level))?;
        let (result_tx, result_rx) = mpsc::channel();
        let (job_tx, workers) = if threads > 1 {
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
            let job_rx = std::sync::Arc::new(std::sync::Mutex::new(job_rx));
            let workers = (0..threads)
                .map(|_| {
                    let rx = job_rx.clone();
                    let tx = result_tx.clone();
                    thread::spawn(move || {
                        loop {
                            let job = match rx.lock() {
                                Ok(guard) => guard.recv(),
                                Err(_) => return,
                            };
                            let Ok(job) = job else { return };
                            let out = deflate_block(level, &job.dict, &job.data, job.last);
                            if tx.send((job.index, out)).is_err() {
                                return;
                            }
                        }
                    })
                })
                .collect();
            (Some(job_tx), workers)
        } else {
            (None, Vec::new())
        };
        Ok(ParGzWriter {
            inner: Some(inner),
            level,
            buf: Vec::with_capacity(BLOCK_SIZE),
            prev_tail: Vec::new(),
            crc: crc32fast::Hasher::new(),
            total_in: 0,
            next_index: 0,
            next_to_write: 0,
            pending: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads * 2,
            workers,
            job_tx,
            result_rx,
            result_tx: Some(result_tx),
            threads,
        })
    }

    fn inner_mut(&mut self) -> io::Result<&mut W> {
        self.inner
            .as_mut()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))
    }

    fn write_ready(&mut self) -> io::Result<()> {
        while let Some(block) = self.pending.remove(&self.next_to_write) {
            self.inner_mut()?.write_all(&block)?;
            self.next_to_write += 1;
        }
        Ok(())
    }

    fn receive_one(&mut self) -> io::Result<()> {
        let (index, result) = self
            .result_rx
            .recv()
            .map_err(|_| io::Error::other("gzip worker thread stopped"))?;
        self.in_flight -= 1;
        self.pending.insert(index, result?);
        self.write_ready()
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK_SIZE));
        let dict = std::mem::take(&mut self.prev_tail);
        self.prev_tail = data[data.len().saturating_sub(DICT_SIZE)..].to_vec();
        let index = self.next_index;
        self.next_index += 1;
        if self.threads == 1 {
            let out = deflate_block(self.level, &dict, &data, last)?;
            self.inner_mut()?.write_all(&out)?;
            self.next_to_write += 1;
            return Ok(());
        }
        while self.in_flight >= self.max_in_flight {
            self.receive_one()?;
        }
        let tx = self
            .job_tx
            .as_ref()
            .ok_or_else(|| io::Error::other("gzip workers already stopped"))?;
        tx.send(Job {
            index,
            dict,
            data,
            last,
        })
        .map_err(|_| io::Error::other("gzip worker thread stopped"))?;
        self.in_flight += 1;
        // Write whatever finished meanwhile without blocking.
        while let Ok((i, r)) = self.result_rx.try_recv() {
            self.in_flight -= 1;
            self.pending.insert(i, r?);
        }
        self.write_ready()
    }

    /// Total uncompressed bytes written so far.
    pub fn total_in(&self) -> u64 {
        self.total_in
    }

    /// Compresses what is buffered, writes the gzip trailer and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        while self.in_flight > 0 {
            self.receive_one()?;
        }
        self.write_ready()?;
        let crc = self.crc.clone().finalize();
        let isize = (self.total_in & 0xffff_ffff) as u32;
        let mut inner = self
            .inner
            .take()
            .ok_or_else(|| io::Error::other("gzip stream already finished"))?;
        inner.write_all(&crc.to_le_bytes())?;
        inner.write_all(&isize.to_le_bytes())?;
        self.shutdown();
        Ok(inner)
    }

    fn shutdown(&mut self) {
        self.job_tx = None;
        self.result_tx = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        self.crc.update(data);
        self.total_in += n as u64;
        while !data.is_empty() {
            let room = BLOCK_SIZE - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == BLOCK_SIZE {
                self.submit(false)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Flushing mid-stream would change block boundaries and so the bytes;
        // only the inner writer is flushed.
        self.inner_mut()?.flush()
    }
}

impl<W: Write> Drop for ParGzWriter<W> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    fn sample(n: usize) -> Vec<u8> {
        // Mildly compressible pseudo-random bytes.
        let mut x: u32 = 12345;
        (0..n)
            .map(|i| {
                x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    (i % 251) as u8
                }
            })
            .collect()
    }

    fn gz(data: &[u8], level: u32, threads: usize) -> Vec<u8> {
        let mut w = ParGzWriter::new(Vec::new(), level, threads).unwrap();
        // Odd write sizes to cross block boundaries.
        for chunk in data.chunks(77_777) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn round_trips_and_is_thread_independent() {
        for &n in &[
            0usize,
            1,
            1000,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE + 12345,
        ] {
            let data = sample(n);
            for level in [0, 1, 6, 9] {
                let one = gz(&data, level, 1);
                let mut back = Vec::new();
                GzDecoder::new(&one[..]).read_to_end(&mut back).unwrap();
                assert_eq!(back, data, "n={n} level={level}");
                for threads in [2, 3, 8] {
                    assert_eq!(
                        gz(&data, level, threads),
                        one,
                        "n={n} level={level} t={threads}"
                    );
                }
            }
        }
    }

    #[test]
    fn header_has_no_time_or_name() {
        let out = gz(b"hello", 6, 2);
        assert_eq!(&out[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }
}
