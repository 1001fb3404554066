//! Parallel, deterministic gzip.
//!
//! The input is cut into fixed-size blocks. Each block is compressed on its
//! own and ends on a byte boundary with a sync flush; the last block finishes
//! the stream. The raw deflate pieces concatenate into one valid deflate
//! stream inside one gzip member, so any gzip reader accepts it.
//!
//! Each block is coded one of two ways, chosen from its own bytes
//! ([`compress_block`]):
//!
//! - **LZ77 + Huffman** (zlib-rs at the requested level, primed with the
//!   previous block's last 32 KiB as a preset dictionary, as pigz does) when
//!   the block has repeated strings: text, JSON, runs of zeros;
//! - **literals only** (the private `huffman` module) when it has none worth
//!   finding, as in float32 weight matrices: same size as LZ77 there, many
//!   times faster.
//!
//! Level 0 stores every block. The bytes depend only on the block size, the
//! level and the coders, never on the number of threads: one thread and
//! sixteen give the same file. The header has mtime 0, no file name and OS
//! byte 255 (unknown), so nothing about the machine or the time leaks into
//! the output.
//!
//! [`compress_stream`] runs the whole pipeline on scoped threads: the caller
//! fills blocks (reading files straight into them), a worker per thread
//! compresses, one thread shows every uncompressed block to an observer (the
//! tar SHA-256) and one writes the compressed blocks in order (the archive
//! SHA-256 and the file). Memory is a fixed number of blocks.
//!
//! We write this by hand because the parallel-gzip crate on crates.io (`gzp`)
//! needs a C zlib-ng build (cmake) for its fast path and its output stability
//! across thread counts is not documented; here it is a tested property.

use super::huffman::{self, Histograms};
use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

/// Sees every uncompressed block, in order, on a thread of its own.
pub type Observer<'a> = &'a mut (dyn FnMut(&[u8]) + Send);

/// Input bytes per independently compressed block.
pub const BLOCK_SIZE: usize = 1 << 20;
/// Size of the preset dictionary carried from one block to the next.
const DICT_SIZE: usize = 32 * 1024;
/// A block whose sampled bytes repeat earlier strings for at least this
/// share (in 1/1024, so 1/16) is LZ77-coded. Float matrices sample at
/// about 0, JSON and text at several hundred; in between, LZ77 gains too
/// little to be worth its time.
const LZ77_MIN_COVERAGE: u32 = 64;

/// gzip header: magic, CM=deflate, FLG=0, MTIME=0, XFL (set per level), OS=255.
fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9 => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// How [`compress_block`] coded a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockCoding {
    /// Level 0: stored, not compressed.
    Stored,
    /// LZ77 matches and Huffman codes (zlib-rs at the level).
    Lz77,
    /// Literals only, Huffman-coded (or stored where that is smaller).
    Literals,
}

/// Which coding a block of `data` gets at `level` (also returns the
/// histograms when they were needed for the choice).
fn choose(level: u32, data: &[u8]) -> (BlockCoding, Option<Histograms>) {
    if level == 0 {
        return (BlockCoding::Stored, None);
    }
    let hists = Histograms::of(data);
    if hists.has_dominant_byte() || huffman::repeat_coverage(data) >= LZ77_MIN_COVERAGE {
        (BlockCoding::Lz77, None)
    } else {
        (BlockCoding::Literals, Some(hists))
    }
}

/// Compresses one block into `out` (appending): raw deflate that ends on a
/// byte boundary, with a sync flush unless `last`, when it ends the stream.
/// `dict` is the input just before `data` (at most 32 KiB are used). The
/// bytes are a function of the arguments alone.
pub fn compress_block(
    level: u32,
    dict: &[u8],
    data: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> io::Result<BlockCoding> {
    let level = level.min(9);
    let (coding, hists) = choose(level, data);
    match (coding, hists) {
        (BlockCoding::Stored, _) => huffman::store(data, last, out),
        (BlockCoding::Literals, Some(h)) => huffman::encode(data, &h, last, out),
        _ => zlib_block(level, dict, data, last, out)?,
    }
    Ok(coding)
}

/// An LZ77 block from zlib-rs. zlib's output may depend on how much output
/// room each call gets (its stored blocks do), so the room is a function of
/// the input length alone, never of a vector's spare capacity.
fn zlib_block(
    level: u32,
    dict: &[u8],
    data: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let mut c = Compress::new(Compression::new(level), false);
    let dict = &dict[dict.len().saturating_sub(DICT_SIZE)..];
    if !dict.is_empty() {
        c.set_dictionary(dict)
            .map_err(|e| io::Error::other(format!("deflate dictionary: {e}")))?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Level 1's fixed codes can spend 9 bits on a byte: room for 1.25x.
    let mut buf = vec![0u8; data.len() + data.len() / 4 + 4096];
    loop {
        let (consumed, written) = (c.total_in() as usize, c.total_out() as usize);
        let status = c
            .compress(&data[consumed..], &mut buf[written..], flush)
            .map_err(|e| io::Error::other(format!("deflate: {e}")))?;
        let written = c.total_out() as usize;
        match status {
            Status::StreamEnd => break,
            // A sync flush is complete once all input is consumed and zlib
            // left room in the output (it would have filled it otherwise).
            Status::Ok | Status::BufError
                if !last && c.total_in() as usize == data.len() && written < buf.len() =>
            {
                break;
            }
            _ if written == buf.len() => buf.resize(buf.len() + 64 * 1024, 0),
            _ => {}
        }
    }
    out.extend_from_slice(&buf[..c.total_out() as usize]);
    Ok(())
}

/// A filled input block; its buffer goes back to the pool when the last
/// holder (worker, observer, next block's dictionary) drops it.
struct Block {
    data: Vec<u8>,
    pool: mpsc::Sender<Vec<u8>>,
}

impl Drop for Block {
    fn drop(&mut self) {
        let _ = self.pool.send(std::mem::take(&mut self.data));
    }
}

struct Job {
    index: u64,
    data: Arc<Block>,
    prev: Option<Arc<Block>>,
    last: bool,
}

struct Done {
    index: u64,
    out: io::Result<Vec<u8>>,
    crc: crc32fast::Hasher,
    /// Held until the block is written, so the block pool also bounds the
    /// compressed blocks waiting for a slow disk or upload.
    _input: Arc<Block>,
}

/// The producer's side of [`compress_stream`]: fill blocks with
/// [`Write::write`] or, without an intermediate copy, [`BlockSink::fill`].
pub struct BlockSink<'a> {
    cur: Vec<u8>,
    filled: usize,
    prev: Option<Arc<Block>>,
    index: u64,
    total: u64,
    pool_tx: mpsc::Sender<Vec<u8>>,
    pool_rx: &'a mpsc::Receiver<Vec<u8>>,
    allocated: usize,
    max_blocks: usize,
    jobs: Option<mpsc::SyncSender<Job>>,
    observer: Option<mpsc::SyncSender<Arc<Block>>>,
}

fn stopped() -> io::Error {
    io::Error::other("gzip pipeline stopped")
}

impl BlockSink<'_> {
    /// Uncompressed bytes taken so far.
    pub fn total_in(&self) -> u64 {
        self.total + self.filled as u64
    }

    fn ensure_buffer(&mut self) -> io::Result<()> {
        if self.cur.len() == BLOCK_SIZE {
            return Ok(());
        }
        let mut buf = match self.pool_rx.try_recv() {
            Ok(b) => b,
            Err(_) if self.allocated < self.max_blocks => {
                self.allocated += 1;
                Vec::new()
            }
            // All blocks are in use: wait for one (this is the back-pressure).
            Err(_) => self.pool_rx.recv().map_err(|_| stopped())?,
        };
        buf.resize(BLOCK_SIZE, 0);
        self.cur = buf;
        self.filled = 0;
        Ok(())
    }

    /// Lets `read` write into the free part of the current block (at most up
    /// to its end) and takes the `n` bytes it reports. Returns `n`.
    pub fn fill(&mut self, read: impl FnOnce(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
        self.ensure_buffer()?;
        let room = &mut self.cur[self.filled..];
        let n = read(room)?.min(BLOCK_SIZE - self.filled);
        self.filled += n;
        if self.filled == BLOCK_SIZE {
            self.dispatch(false)?;
        }
        Ok(n)
    }

    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let mut data = std::mem::take(&mut self.cur);
        data.truncate(self.filled);
        self.total += self.filled as u64;
        self.filled = 0;
        let block = Arc::new(Block {
            data,
            pool: self.pool_tx.clone(),
        });
        if let Some(o) = &self.observer {
            o.send(block.clone()).map_err(|_| stopped())?;
        }
        let job = Job {
            index: self.index,
            data: block.clone(),
            prev: self.prev.replace(block),
            last,
        };
        self.index += 1;
        self.jobs
            .as_ref()
            .ok_or_else(stopped)?
            .send(job)
            .map_err(|_| stopped())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.ensure_buffer()?;
        self.dispatch(true)?;
        self.prev = None;
        self.jobs = None;
        self.observer = None;
        Ok(())
    }
}

impl Write for BlockSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.fill(|room| {
            let n = room.len().min(buf.len());
            room[..n].copy_from_slice(&buf[..n]);
            Ok(n)
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        // Flushing mid-stream would move block boundaries and so the bytes.
        Ok(())
    }
}

/// Gzips everything `produce` writes into the [`BlockSink`] it is given and
/// writes the gzip stream to `out`, on `threads` compression threads plus
/// one that shows each uncompressed block, in order, to `observer` and one
/// that writes to `out`. Returns what `produce` returned and `out`.
///
/// An error from `out` wins over the error `produce` then sees ("gzip
/// pipeline stopped"); otherwise `produce`'s error is returned.
pub fn compress_stream<W, R>(
    mut out: W,
    level: u32,
    threads: usize,
    observer: Option<Observer<'_>>,
    produce: impl FnOnce(&mut BlockSink<'_>) -> io::Result<R>,
) -> io::Result<(R, W)>
where
    W: Write + Send,
{
    let level = level.min(9);
    let threads = threads.max(1);
    out.write_all(&gzip_header(level))?;
    let (pool_tx, pool_rx) = mpsc::channel::<Vec<u8>>();
    // Blocks alive at once: one being filled, the previous one (dictionary),
    // a queue and one in work per thread, one being observed.
    let max_blocks = 2 * threads + 4;
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
    let (obs_tx, obs_rx) = mpsc::sync_channel::<Arc<Block>>(threads + 1);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Arc::new(Mutex::new(job_rx));
    thread::scope(|s| {
        for _ in 0..threads {
            let rx = Arc::clone(&job_rx);
            let tx = done_tx.clone();
            s.spawn(move || worker(level, &rx, &tx));
        }
        // Only the workers hold the job queue and the result channel: when
        // they are gone the producer's sends fail instead of blocking.
        drop(job_rx);
        drop(done_tx);
        let observed = observer.map(|f| {
            s.spawn(move || {
                for b in obs_rx {
                    f(&b.data);
                }
            })
        });
        let writer = s.spawn(move || write_in_order(out, done_rx));
        let mut sink = BlockSink {
            cur: Vec::new(),
            filled: 0,
            prev: None,
            index: 0,
            total: 0,
            pool_tx,
            pool_rx: &pool_rx,
            allocated: 0,
            max_blocks,
            jobs: Some(job_tx),
            observer: observed.as_ref().map(|_| obs_tx),
        };
        let produced = produce(&mut sink).and_then(|r| sink.finish().map(|()| r));
        let total = sink.total;
        drop(sink);
        if let Some(h) = observed {
            h.join()
                .map_err(|_| io::Error::other("gzip observer thread panicked"))?;
        }
        let written = writer
            .join()
            .map_err(|_| io::Error::other("gzip writer thread panicked"))?;
        let (mut out, crc) = written?;
        let r = produced?;
        out.write_all(&crc.finalize().to_le_bytes())?;
        out.write_all(&((total & 0xffff_ffff) as u32).to_le_bytes())?;
        Ok((r, out))
    })
}

fn worker(level: u32, jobs: &Mutex<mpsc::Receiver<Job>>, done: &mpsc::Sender<Done>) {
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let Job {
            index,
            data,
            prev,
            last,
        } = job;
        let dict = prev.as_ref().map_or(&[][..], |p| &p.data[..]);
        let mut out = Vec::with_capacity(data.data.len() + data.data.len() / 64 + 4096);
        let res = compress_block(level, dict, &data.data, last, &mut out).map(|_| out);
        drop(prev);
        let mut crc = crc32fast::Hasher::new();
        crc.update(&data.data);
        if done
            .send(Done {
                index,
                out: res,
                crc,
                _input: data,
            })
            .is_err()
        {
            return;
        }
    }
}

/// Writes compressed blocks in index order; returns the writer and the CRC
/// of the uncompressed stream.
fn write_in_order<W: Write>(
    mut out: W,
    done: mpsc::Receiver<Done>,
) -> io::Result<(W, crc32fast::Hasher)> {
    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    let mut crc = crc32fast::Hasher::new();
    for d in done {
        pending.insert(d.index, d);
        while let Some(d) = pending.remove(&next) {
            out.write_all(&d.out?)?;
            crc.combine(&d.crc);
            next += 1;
        }
    }
    if !pending.is_empty() {
        return Err(stopped());
    }
    Ok((out, crc))
}

/// A block for [`ParGzWriter`]'s workers.
struct WriterJob {
    index: u64,
    dict: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

fn block_vec(level: u32, dict: &[u8], data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    compress_block(level, dict, data, last, &mut out)?;
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
    job_tx: Option<mpsc::SyncSender<WriterJob>>,
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
            let (job_tx, job_rx) = mpsc::sync_channel::<WriterJob>(threads);
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
                            let out = block_vec(level, &job.dict, &job.data, job.last);
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
            let out = block_vec(self.level, &dict, &data, last)?;
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
        tx.send(WriterJob {
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

    /// Float32 weights like an untrained fastText row (uniform in
    /// ±1/dim), then JSON-like text, then zeros: every coding in one stream.
    fn mixed(n_floats: usize) -> Vec<u8> {
        let mut x: u64 = 99;
        let mut v: Vec<u8> = (0..n_floats)
            .flat_map(|_| {
                x = x
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * 0.01).to_le_bytes()
            })
            .collect();
        v.extend(
            br#"{"split_conditions": [0.5, 1.25, -3.0], "left_children": [1, 3, -1]}, "#
                .repeat(20_000),
        );
        v.extend(std::iter::repeat_n(0u8, 1_500_000));
        v
    }

    fn streamed(data: &[u8], level: u32, threads: usize) -> (Vec<u8>, Vec<u8>) {
        let mut seen = Vec::new();
        let mut observe = |b: &[u8]| seen.extend_from_slice(b);
        let ((), out) = compress_stream(Vec::new(), level, threads, Some(&mut observe), |sink| {
            // Mixed write sizes, and reads straight into the blocks.
            let (a, b) = data.split_at(data.len() / 3);
            for c in a.chunks(77_777) {
                sink.write_all(c)?;
            }
            let mut rest = b;
            while !rest.is_empty() {
                let n = sink.fill(|room| {
                    let n = room.len().min(rest.len()).min(300_000);
                    room[..n].copy_from_slice(&rest[..n]);
                    Ok(n)
                })?;
                rest = &rest[n..];
            }
            Ok(())
        })
        .unwrap();
        (out, seen)
    }

    #[test]
    fn pipeline_matches_writer_and_thread_counts() {
        let data = mixed(700_000);
        for level in [0, 1, 6, 9] {
            let reference = gz(&data, level, 1);
            let mut back = Vec::new();
            GzDecoder::new(&reference[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "level {level} round trip");
            for threads in [1, 2, 3] {
                let (out, seen) = streamed(&data, level, threads);
                assert!(out == reference, "level {level}, {threads} threads");
                assert!(seen == data, "observer sees every byte in order");
            }
        }
        let (empty, _) = streamed(&[], 6, 2);
        assert_eq!(empty, gz(&[], 6, 1));
    }

    #[test]
    fn blocks_are_coded_by_content() {
        let data = mixed(262_144);
        let (floats, rest) = data.split_at(BLOCK_SIZE);
        let mut out = Vec::new();
        assert_eq!(
            compress_block(6, &[], floats, false, &mut out).unwrap(),
            BlockCoding::Literals
        );
        assert!(
            out.len() < floats.len() * 95 / 100,
            "floats shrink: {}",
            out.len()
        );
        for level in [1, 6, 9] {
            assert_eq!(
                compress_block(level, floats, &rest[..BLOCK_SIZE], false, &mut out).unwrap(),
                BlockCoding::Lz77
            );
            assert_eq!(
                compress_block(level, &[], &[0; 4096], true, &mut out).unwrap(),
                BlockCoding::Lz77
            );
        }
        assert_eq!(
            compress_block(0, &[], floats, true, &mut out).unwrap(),
            BlockCoding::Stored
        );
    }

    /// Fails every write after the first `ok` bytes.
    struct Broken {
        ok: usize,
    }

    impl Write for Broken {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if buf.len() > self.ok {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.ok -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_and_producer_errors_stop_the_pipeline() {
        let data = mixed(2_000_000);
        // The writer's error is reported, not the producer's "stopped".
        let e = compress_stream(Broken { ok: 100_000 }, 6, 2, None, |sink| {
            sink.write_all(&data)
        })
        .err()
        .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{e}");
        // A producer error ends the run with that error.
        let e = compress_stream(Vec::new(), 6, 2, None, |sink| -> io::Result<()> {
            sink.write_all(&data[..3_000_000])?;
            Err(io::Error::new(io::ErrorKind::InvalidData, "input changed"))
        })
        .err()
        .unwrap();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
    }

    #[test]
    fn header_has_no_time_or_name() {
        let out = gz(b"hello", 6, 2);
        assert_eq!(&out[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    }
}
