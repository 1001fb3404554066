//! Literal-only ("Huffman-only") deflate blocks, and the test that picks
//! them.
//!
//! Model weights stored as float32 (fastText matrices, most neural network
//! checkpoints) have almost no repeated byte strings: LZ77 match finding is
//! most of a deflate encoder's time and finds next to nothing there. What
//! gzip gains on such data comes from Huffman-coding the skewed byte
//! distribution (sign and exponent bytes take few values). This module codes
//! every byte as a literal with a dynamic Huffman code, several times faster
//! than zlib's own `Z_HUFFMAN_ONLY` strategy and slightly smaller (fewer code
//! tables); the result is ordinary deflate that every inflater reads.
//!
//! A block is cut into 64 KiB chunks; adjacent chunks whose byte
//! distributions are alike share one code (one deflate block), so a
//! stationary float matrix pays for one code table per megabyte while a
//! block that mixes a vocabulary and a matrix gets a code for each part. A
//! segment that would not shrink is written as stored blocks. Every decision
//! is integer arithmetic on the bytes alone, so the output is the same on
//! every machine.

/// Bytes per histogram chunk; segments are made of whole chunks.
const CHUNK: usize = 64 * 1024;
/// Longest literal/length code deflate allows.
const MAX_BITS: usize = 15;
/// Longest code-length code deflate allows.
const MAX_CL_BITS: usize = 7;
/// Literal/length symbols used: the 256 byte values and end-of-block.
const NLIT: usize = 257;
const EOB: usize = 256;
/// Order in which code-length code lengths are sent (RFC 1951, 3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];
/// Estimated cost of one more code table (1200 bits), in 1/256 bits: two
/// chunks share a code unless separate codes save more than this.
const TABLE_COST: u64 = 1200 * 256;
/// Largest stored block.
const MAX_STORED: usize = 65_535;
/// Sampled windows and their length for [`repeat_coverage`].
const SAMPLE_WINDOWS: usize = 8;
const SAMPLE_LEN: usize = 4096;

/// Per-chunk byte histograms of a block.
pub(crate) struct Histograms {
    chunks: Vec<[u32; 256]>,
}

impl Histograms {
    /// Counts the bytes of `data`, per 64 KiB chunk.
    pub(crate) fn of(data: &[u8]) -> Self {
        Histograms {
            chunks: data.chunks(CHUNK).map(histogram).collect(),
        }
    }

    /// True when one byte value makes up at least half of some chunk: runs
    /// are then likely, and LZ77 codes them far below Huffman's floor of one
    /// bit per byte.
    pub(crate) fn has_dominant_byte(&self) -> bool {
        self.chunks.iter().any(|h| {
            let total: u64 = h.iter().map(|&f| u64::from(f)).sum();
            h.iter().any(|&f| u64::from(f) * 2 >= total && total > 0)
        })
    }
}

/// Share of sampled bytes, in 1/1024, that repeat a string of 4 or more
/// bytes seen shortly before: eight 4 KiB windows spread over the block,
/// each searched greedily with a one-entry-per-hash table. Float matrices
/// score about 0, text and JSON several hundred.
pub(crate) fn repeat_coverage(block: &[u8]) -> u32 {
    let mut covered = 0usize;
    let mut sampled = 0usize;
    let mut table = [0u16; 4096];
    for k in 0..SAMPLE_WINDOWS {
        let off = block.len() / SAMPLE_WINDOWS * k;
        let Some(w) = block.get(off..(off + SAMPLE_LEN).min(block.len())) else {
            continue;
        };
        if w.len() < 8 {
            continue;
        }
        sampled += w.len();
        table.iter_mut().for_each(|t| *t = 0);
        let mut p = 0usize;
        while let Some(q) = w.get(p..p + 4) {
            let word = u32::from_le_bytes([q[0], q[1], q[2], q[3]]);
            let h = (word.wrapping_mul(0x9E37_79B1) >> 20) as usize;
            let cand = usize::from(table[h]);
            // Positions are stored plus one (0 = empty); windows are 4 KiB.
            table[h] = (p + 1) as u16;
            if cand != 0 && w[cand - 1..cand + 3] == *q {
                let c = cand - 1;
                let mut len = 4;
                while p + len < w.len() && len < 258 && w[c + len] == w[p + len] {
                    len += 1;
                }
                covered += len;
                p += len;
            } else {
                p += 1;
            }
        }
    }
    (covered * 1024).checked_div(sampled).unwrap_or(0) as u32
}

/// Byte histogram, with four interleaved tables so that a run of one byte
/// value does not serialise on one counter.
fn histogram(data: &[u8]) -> [u32; 256] {
    let mut t = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        t[0][q[0] as usize] += 1;
        t[1][q[1] as usize] += 1;
        t[2][q[2] as usize] += 1;
        t[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        t[0][b as usize] += 1;
    }
    let mut h = [0u32; 256];
    for (i, v) in h.iter_mut().enumerate() {
        *v = t[0][i] + t[1][i] + t[2][i] + t[3][i];
    }
    h
}

/// `LOG2_FRAC[m]` = round(256 * log2(1 + m/256)), computed at compile time
/// with integers only (repeated squaring), so no floating-point library is
/// involved in any decision that shapes the output.
const LOG2_FRAC: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut m = 0;
    while m < 256 {
        // y = 1 + m/256 in Q32.
        let mut y: u64 = (256 + m as u64) << 24;
        let mut frac: u64 = 0;
        let mut bit = 0;
        while bit < 16 {
            y = ((y as u128 * y as u128) >> 32) as u64;
            frac <<= 1;
            if y >= 2u64 << 32 {
                y >>= 1;
                frac |= 1;
            }
            bit += 1;
        }
        // frac = log2(y) in Q16; round to Q8.
        t[m] = ((frac + 128) >> 8) as u16;
        m += 1;
    }
    t
};

/// log2(x) in 1/256 bits, for x >= 1.
fn log2_fixed(x: u64) -> u64 {
    let e = 63 - u64::from(x.leading_zeros());
    let m = if e >= 8 {
        (x >> (e - 8)) & 0xff
    } else {
        (x << (8 - e)) & 0xff
    };
    e * 256 + u64::from(LOG2_FRAC[m as usize])
}

/// Bits, in 1/256 bits, an ideal code would spend on a histogram.
fn entropy_cost(h: &[u32; 256]) -> u64 {
    let total: u64 = h.iter().map(|&f| u64::from(f)).sum();
    if total == 0 {
        return 0;
    }
    let lt = log2_fixed(total);
    h.iter()
        .filter(|&&f| f > 0)
        .map(|&f| u64::from(f) * (lt - log2_fixed(u64::from(f))))
        .sum()
}

/// Optimal prefix-code lengths for `freqs`, limited to `max_bits`; symbols
/// of frequency 0 get length 0. At least two symbols always get a code
/// (decoders reject a code-length code of one symbol), the missing one taken
/// from the lowest unused symbols. The code is always complete.
fn code_lengths(freqs: &[u32], max_bits: usize, lens: &mut [u8]) {
    lens.iter_mut().for_each(|l| *l = 0);
    // (frequency, symbol), sorted by frequency then symbol: deterministic.
    let mut syms: Vec<(u32, u16)> = freqs
        .iter()
        .enumerate()
        .filter(|&(_, &f)| f > 0)
        .map(|(s, &f)| (f, s as u16))
        .collect();
    let mut s = 0;
    while syms.len() < 2 && s < freqs.len() {
        if freqs[s] == 0 {
            syms.push((1, s as u16));
        }
        s += 1;
    }
    syms.sort_unstable();
    let n = syms.len();
    if n < 2 {
        // An alphabet of one symbol; deflate's alphabets are larger.
        if let Some(&(_, s)) = syms.first() {
            lens[usize::from(s)] = 1;
        }
        return;
    }
    // Minimum-redundancy code lengths computed in place (Moffat and
    // Katajainen, 1995): a[i] becomes the length of the i-th least frequent
    // symbol. Phase 1 builds the tree's parent pointers, phase 2 turns them
    // into internal node depths, phase 3 into leaf depths.
    let mut a: Vec<u32> = syms.iter().map(|&(f, _)| f).collect();
    a[0] += a[1];
    let (mut root, mut leaf) = (0usize, 2usize);
    for next in 1..n - 1 {
        if leaf >= n || a[root] < a[leaf] {
            a[next] = a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] = a[leaf];
            leaf += 1;
        }
        if leaf >= n || (root < next && a[root] < a[leaf]) {
            a[next] += a[root];
            a[root] = next as u32;
            root += 1;
        } else {
            a[next] += a[leaf];
            leaf += 1;
        }
    }
    a[n - 2] = 0;
    for next in (0..n - 2).rev() {
        a[next] = a[a[next] as usize] + 1;
    }
    let (mut avail, mut used, mut depth) = (1usize, 0usize, 0u32);
    let mut root = n - 1; // one past the next internal node to look at
    let mut next = n; // one past the next leaf to assign
    while avail > 0 {
        while root > 0 && a[root - 1] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used {
            next -= 1;
            a[next] = depth;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }
    // Count codes per length, folding longer ones into max_bits, then restore
    // the Kraft equality by moving codes from the deepest shorter length one
    // level down. Each round removes one unit of excess and one max-length
    // code; the excess is always below the number of max-length codes.
    let mut count = [0u32; 32];
    for &l in &a {
        count[(l as usize).min(max_bits)] += 1;
    }
    let full = 1u64 << max_bits;
    let mut kraft: u64 = (1..=max_bits)
        .map(|l| u64::from(count[l]) << (max_bits - l))
        .sum();
    while kraft > full {
        count[max_bits] -= 1;
        if let Some(l) = (1..max_bits).rev().find(|&l| count[l] > 0) {
            count[l] -= 1;
            count[l + 1] += 2;
        }
        kraft -= 1;
    }
    // The longest codes go to the least frequent symbols.
    let mut i = 0;
    for l in (1..=max_bits).rev() {
        for _ in 0..count[l] {
            lens[usize::from(syms[i].1)] = l as u8;
            i += 1;
        }
    }
}

/// Canonical codes for `lens` (RFC 1951, 3.2.2), bit-reversed because
/// deflate sends Huffman codes most-significant bit first inside its
/// least-significant-bit-first stream.
fn canonical_codes(lens: &[u8], codes: &mut [u16]) {
    let mut count = [0u16; 16];
    for &l in lens {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u16; 16];
    let mut code = 0u16;
    for bits in 1..16 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    for (s, &l) in lens.iter().enumerate() {
        if l > 0 {
            let c = next[usize::from(l)];
            codes[s] = (u32::from(c).reverse_bits() >> (32 - u32::from(l))) as u16;
            next[usize::from(l)] += 1;
        }
    }
}

/// Run-length codes for code lengths, as zlib forms them: (symbol, extra).
fn rle_lengths(lens: &[u8], out: &mut Vec<(u8, u8)>) {
    let mut i = 0;
    while i < lens.len() {
        let v = lens[i];
        let mut run = 1;
        while i + run < lens.len() && lens[i + run] == v {
            run += 1;
        }
        i += run;
        let mut r = run;
        if v == 0 {
            while r >= 11 {
                let k = r.min(138);
                out.push((18, (k - 11) as u8));
                r -= k;
            }
            if r >= 3 {
                out.push((17, (r - 3) as u8));
                r = 0;
            }
        } else {
            out.push((v, 0));
            r -= 1;
            while r >= 3 {
                let k = r.min(6);
                out.push((16, (k - 3) as u8));
                r -= k;
            }
        }
        for _ in 0..r {
            out.push((v, 0));
        }
    }
}

/// Little-endian bit writer (deflate's bit order).
struct Bits<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits<'_> {
    /// Appends the low `len` bits of `v` (`len` <= 32).
    fn put(&mut self, v: u32, len: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += len;
        if self.n >= 32 {
            self.out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.n -= 32;
        }
    }

    /// Pads with zero bits to a byte boundary and writes what is pending.
    fn align(&mut self) {
        while self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n = self.n.saturating_sub(8);
        }
        self.acc = 0;
    }
}

/// A dynamic-Huffman block: its header and the code for its bytes.
struct Plan {
    lit_lens: [u8; NLIT],
    lit_codes: [u16; NLIT],
    /// Header fields after the three block-type bits: (value, bit count).
    header: Vec<(u32, u32)>,
    /// Size of the whole block in bits.
    bits: u64,
}

fn plan(h: &[u32; 256]) -> Plan {
    let mut freqs = [0u32; NLIT];
    freqs[..256].copy_from_slice(h);
    freqs[EOB] = 1;
    let mut lit_lens = [0u8; NLIT];
    code_lengths(&freqs, MAX_BITS, &mut lit_lens);
    let mut lit_codes = [0u16; NLIT];
    canonical_codes(&lit_lens, &mut lit_codes);
    // Two one-bit distance codes, never used: what zlib sends in a
    // literal-only block, and a complete code that every decoder accepts.
    let dist_lens = [1u8, 1];
    let mut rle = Vec::with_capacity(64);
    rle_lengths(&lit_lens, &mut rle);
    rle_lengths(&dist_lens, &mut rle);
    let mut cl_freqs = [0u32; 19];
    for &(s, _) in &rle {
        cl_freqs[usize::from(s)] += 1;
    }
    let mut cl_lens = [0u8; 19];
    code_lengths(&cl_freqs, MAX_CL_BITS, &mut cl_lens);
    let mut cl_codes = [0u16; 19];
    canonical_codes(&cl_lens, &mut cl_codes);
    let ncl = CL_ORDER
        .iter()
        .rposition(|&s| cl_lens[s] > 0)
        .map_or(4, |p| (p + 1).max(4));
    let mut header = Vec::with_capacity(rle.len() * 2 + 24);
    header.push(((NLIT - 257) as u32, 5)); // HLIT
    header.push(((dist_lens.len() - 1) as u32, 5)); // HDIST
    header.push(((ncl - 4) as u32, 4)); // HCLEN
    for &s in &CL_ORDER[..ncl] {
        header.push((u32::from(cl_lens[s]), 3));
    }
    for &(s, x) in &rle {
        let s = usize::from(s);
        header.push((u32::from(cl_codes[s]), u32::from(cl_lens[s])));
        let extra = match s {
            16 => 2,
            17 => 3,
            18 => 7,
            _ => 0,
        };
        if extra > 0 {
            header.push((u32::from(x), extra));
        }
    }
    let body: u64 = h
        .iter()
        .zip(&lit_lens)
        .map(|(&f, &l)| u64::from(f) * u64::from(l))
        .sum();
    let bits = 3
        + header.iter().map(|&(_, n)| u64::from(n)).sum::<u64>()
        + body
        + u64::from(lit_lens[EOB]);
    Plan {
        lit_lens,
        lit_codes,
        header,
        bits,
    }
}

/// Writes `data` as stored blocks, the last one final when `last`. Empty
/// `data` gives one empty stored block (a zlib sync-flush marker when not
/// final).
fn stored(w: &mut Bits<'_>, data: &[u8], last: bool) {
    let n = data.len().div_ceil(MAX_STORED).max(1);
    for k in 0..n {
        let p = &data[(k * MAX_STORED).min(data.len())..((k + 1) * MAX_STORED).min(data.len())];
        w.put(u32::from(last && k + 1 == n), 3);
        w.align();
        let len = p.len() as u16;
        w.out.extend_from_slice(&len.to_le_bytes());
        w.out.extend_from_slice(&(!len).to_le_bytes());
        w.out.extend_from_slice(p);
    }
}

/// Writes one dynamic-Huffman block coding `data`.
fn dynamic(w: &mut Bits<'_>, p: &Plan, data: &[u8], last: bool) {
    w.put(u32::from(last) | (2 << 1), 3);
    for &(v, n) in &p.header {
        w.put(v, n);
    }
    let mut table = [0u32; 256];
    for (b, t) in table.iter_mut().enumerate() {
        *t = u32::from(p.lit_codes[b]) | (u32::from(p.lit_lens[b]) << 16);
    }
    // The hot loop: three codes (at most 45 bits) go into a 64-bit
    // accumulator holding fewer than 8 bits, then every whole byte is
    // stored with one unaligned 8-byte write into space reserved up front.
    let out = &mut *w.out;
    let (mut acc, mut n) = (w.acc, w.n);
    let start = out.len();
    out.resize(start + (p.bits as usize).div_ceil(8) + 16, 0);
    let mut pos = start;
    let flush = |acc: &mut u64, n: &mut u32, pos: &mut usize, out: &mut Vec<u8>| {
        out[*pos..*pos + 8].copy_from_slice(&acc.to_le_bytes());
        let bytes = *n >> 3;
        *pos += bytes as usize;
        *acc = acc.checked_shr(bytes * 8).unwrap_or(0);
        *n &= 7;
    };
    flush(&mut acc, &mut n, &mut pos, out);
    let mut triples = data.chunks_exact(3);
    for t in &mut triples {
        for &b in t {
            let e = table[usize::from(b)];
            acc |= u64::from(e & 0xffff) << n;
            n += e >> 16;
        }
        flush(&mut acc, &mut n, &mut pos, out);
    }
    for &b in triples.remainder() {
        let e = table[usize::from(b)];
        acc |= u64::from(e & 0xffff) << n;
        n += e >> 16;
    }
    acc |= u64::from(p.lit_codes[EOB]) << n;
    n += u32::from(p.lit_lens[EOB]);
    flush(&mut acc, &mut n, &mut pos, out);
    out.truncate(pos);
    w.acc = acc;
    w.n = n;
}

/// Appends `data` to `out` as stored (uncompressed) deflate blocks of at
/// most 65,535 bytes, ending like [`encode`]'s output.
pub(crate) fn store(data: &[u8], last: bool, out: &mut Vec<u8>) {
    let mut w = Bits { out, acc: 0, n: 0 };
    stored(&mut w, data, last);
    if !last && !data.is_empty() {
        stored(&mut w, &[], false);
    }
}

/// Appends `data` to `out` as literal-only deflate blocks (`hists` must be
/// [`Histograms::of`] the same bytes). The output ends on a byte boundary:
/// with the final block when `last`, otherwise with an empty stored block
/// (zlib's sync flush), so consecutive pieces form one deflate stream.
pub(crate) fn encode(data: &[u8], hists: &Histograms, last: bool, out: &mut Vec<u8>) {
    let mut w = Bits { out, acc: 0, n: 0 };
    let Some(first) = hists.chunks.first() else {
        if last {
            // An empty final block with the fixed code: just end-of-block.
            w.put(1 | (1 << 1), 3);
            w.put(0, 7);
            w.align();
        } else {
            stored(&mut w, &[], false);
        }
        return;
    };
    // Greedy left-to-right merge of alike chunks into segments.
    let costs: Vec<u64> = hists.chunks.iter().map(entropy_cost).collect();
    let mut segments: Vec<(usize, usize, [u32; 256])> = Vec::new();
    let (mut start, mut cur, mut cur_cost) = (0usize, *first, costs[0]);
    for (i, (h, &c)) in hists.chunks.iter().zip(&costs).enumerate().skip(1) {
        let mut merged = cur;
        for (m, &x) in merged.iter_mut().zip(h.iter()) {
            *m += x;
        }
        let mc = entropy_cost(&merged);
        if mc <= cur_cost + c + TABLE_COST {
            cur = merged;
            cur_cost = mc;
        } else {
            segments.push((start, i, cur));
            start = i;
            cur = *h;
            cur_cost = c;
        }
    }
    segments.push((start, hists.chunks.len(), cur));
    let nseg = segments.len();
    for (k, (a, b, h)) in segments.into_iter().enumerate() {
        let bytes = &data[a * CHUNK..(b * CHUNK).min(data.len())];
        let fin = last && k + 1 == nseg;
        let p = plan(&h);
        let stored_bits = (bytes.len() as u64 + 5 * bytes.len().div_ceil(MAX_STORED) as u64) * 8;
        if p.bits >= stored_bits {
            stored(&mut w, bytes, fin);
        } else {
            dynamic(&mut w, &p, bytes, fin);
        }
    }
    if last {
        w.align();
    } else {
        stored(&mut w, &[], false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::DeflateDecoder;
    use std::io::Read;

    fn inflate(raw: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        DeflateDecoder::new(raw).read_to_end(&mut back).unwrap();
        back
    }

    fn round_trip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(data, &Histograms::of(data), true, &mut out);
        assert_eq!(inflate(&out), data, "{} bytes", data.len());
        out
    }

    fn lcg(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x >> 33
        }
    }

    #[test]
    fn log_table_matches_floating_point() {
        for (m, &got) in LOG2_FRAC.iter().enumerate() {
            let want = (256.0 * (1.0 + m as f64 / 256.0).log2()).round() as i64;
            assert!((i64::from(got) - want).abs() <= 1, "m={m}");
        }
        assert_eq!(log2_fixed(1), 0);
        assert_eq!(log2_fixed(1 << 20), 20 * 256);
    }

    #[test]
    fn code_lengths_are_complete_and_limited() {
        // Fibonacci frequencies force unlimited lengths far beyond 15 bits.
        let mut fib = vec![1u32, 1];
        while fib.len() < 30 {
            let n = fib[fib.len() - 1] + fib[fib.len() - 2];
            fib.push(n);
        }
        let mut freqs = [0u32; NLIT];
        freqs[..30].copy_from_slice(&fib);
        for (max, alphabet) in [(15usize, &freqs[..]), (7, &freqs[..19])] {
            let mut lens = vec![0u8; alphabet.len()];
            code_lengths(alphabet, max, &mut lens);
            assert!(lens.iter().all(|&l| usize::from(l) <= max));
            let kraft: u64 = lens
                .iter()
                .filter(|&&l| l > 0)
                .map(|&l| 1u64 << (max - usize::from(l)))
                .sum();
            assert_eq!(kraft, 1 << max, "complete code, max {max}");
            // More frequent symbols never get longer codes.
            for i in 0..alphabet.len() {
                for j in 0..alphabet.len() {
                    if alphabet[i] > alphabet[j] && alphabet[j] > 0 {
                        assert!(lens[i] <= lens[j]);
                    }
                }
            }
        }
        // One used symbol still gets a two-symbol code.
        let mut lens = [0u8; 19];
        let mut one = [0u32; 19];
        one[8] = 259;
        code_lengths(&one, 7, &mut lens);
        assert_eq!(lens.iter().filter(|&&l| l == 1).count(), 2);
    }

    #[test]
    fn round_trips_awkward_inputs() {
        let mut r = lcg(7);
        round_trip(&[]);
        round_trip(&[42]);
        round_trip(&[0; 100_000]);
        round_trip(&(0..=255u8).collect::<Vec<_>>());
        // Uniform random bytes: stored blocks (nothing to gain).
        let random: Vec<u8> = (0..300_000).map(|_| r() as u8).collect();
        let out = round_trip(&random);
        assert!(out.len() <= random.len() + 5 * (random.len() / MAX_STORED + 2));
        // Geometric distribution: codes beyond 15 bits before limiting.
        let skew: Vec<u8> = (0..200_000)
            .map(|_| (r() | 1 << 40).trailing_zeros().min(39) as u8)
            .collect();
        round_trip(&skew);
        // Float32 weights, then text: two codes in one block.
        let floats: Vec<u8> = (0..131_072)
            .flat_map(|_| ((r() as f32 / 2e9 - 1.0) * 0.01).to_le_bytes())
            .collect();
        let text = b"the quick brown fox ".repeat(13_108);
        let mixed = [&floats[..], &text[..]].concat();
        let apart = round_trip(&floats).len() + round_trip(&text).len();
        let out = round_trip(&mixed);
        // Each part gets its own code: no worse than coding them apart.
        assert!(out.len() <= apart + 16, "{} vs {apart}", out.len());
        // Lengths that end on and just past chunk and stored-block limits.
        for n in [
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            MAX_STORED,
            MAX_STORED + 1,
            3 * CHUNK + 7,
        ] {
            round_trip(&random[..n]);
            round_trip(&skew[..n]);
        }
    }

    #[test]
    fn random_distributions_round_trip() {
        // Many shapes of byte distribution and length, each piece decoded on
        // its own and the pieces together as one stream.
        let mut r = lcg(2024);
        let mut stream = Vec::new();
        let mut all = Vec::new();
        for case in 0..150 {
            let len = (r() % 150_000) as usize + (case % 3) * CHUNK;
            let alphabet = 1 + (r() % 256) as u32;
            let skew = (r() % 24) as u32;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    let x = (r() % u64::from(alphabet)) as u32;
                    // Squaring-like skew toward small values.
                    (x >> (skew % 8)).min(255) as u8 ^ ((skew as u8) << 3)
                })
                .collect();
            round_trip(&data);
            encode(&data, &Histograms::of(&data), false, &mut stream);
            all.extend_from_slice(&data);
        }
        encode(&[], &Histograms::of(&[]), true, &mut stream);
        assert!(inflate(&stream) == all);
    }

    #[test]
    fn pieces_concatenate_into_one_stream() {
        let mut r = lcg(11);
        let data: Vec<u8> = (0..500_000).map(|_| (r() % 17) as u8).collect();
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = data.chunks(123_457).collect();
        for (i, p) in pieces.iter().enumerate() {
            encode(p, &Histograms::of(p), i + 1 == pieces.len(), &mut out);
        }
        assert_eq!(inflate(&out), data);
        // A sync-flushed piece ends with the empty stored block marker.
        let mut one = Vec::new();
        encode(pieces[0], &Histograms::of(pieces[0]), false, &mut one);
        assert_eq!(&one[one.len() - 4..], &[0, 0, 0xff, 0xff]);
    }

    #[test]
    fn floats_shrink_and_text_repeats_are_seen() {
        let mut r = lcg(3);
        let floats: Vec<u8> = (0..262_144)
            .flat_map(|_| ((r() as f32 / 2e9 - 1.0) * 0.01).to_le_bytes())
            .collect();
        let out = round_trip(&floats);
        assert!(out.len() < floats.len() * 95 / 100, "{}", out.len());
        assert!(repeat_coverage(&floats) < 16);
        assert!(!Histograms::of(&floats).has_dominant_byte());
        let text = br#"{"split_indices": [1, 4, 7], "default_left": [0, 1, 0]} "#.repeat(20_000);
        assert!(repeat_coverage(&text) > 512);
        assert!(Histograms::of(&[0u8; 70_000]).has_dominant_byte());
    }
}
