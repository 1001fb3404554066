//! The dictionary block: header, entries and prune index
//! (`Dictionary::save/load` in fastText's `src/dictionary.cc`).
//!
//! Entries are kept compactly (one byte arena plus three parallel vectors),
//! so a dictionary costs little more memory than its bytes in the file.

use serde::Serialize;

/// Bytes of the dictionary header: size, nwords, nlabels (i32), ntokens,
/// pruneidx_size (i64).
pub const DICT_HEADER_BYTES: u64 = 28;
/// Fixed bytes of an entry besides its word: NUL, i64 count, i8 type.
pub const ENTRY_FIXED_BYTES: u64 = 10;
/// Bytes of one prune-index pair (i32 bucket, i32 row).
pub const PRUNE_PAIR_BYTES: u64 = 8;
/// The end-of-sentence token fastText adds for every line.
pub const EOS: &[u8] = b"</s>";
/// The default label prefix. It is not stored in the file; fastText uses it
/// only to classify out-of-vocabulary tokens.
pub const LABEL_PREFIX: &[u8] = b"__label__";

/// fastText's word hash: FNV-1a 32 over the bytes **sign-extended** to 32
/// bits (`Dictionary::hash`), so bytes ≥ 0x80 are XORed as `0xFFFFFFxx`.
///
/// ```
/// use sm_pack::fasttext::hash;
/// assert_eq!(hash(b"</s>"), 3617362777);
/// assert_eq!(hash("café".as_bytes()), 1970454601);
/// ```
pub fn hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 2_166_136_261;
    for &b in bytes {
        h ^= (b as i8) as u32;
        h = h.wrapping_mul(16_777_619);
    }
    h
}

/// What kind of entry a dictionary record is (the i8 type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryType {
    /// 0: a word.
    Word,
    /// 1: a label.
    Label,
    /// Any other stored byte (invalid).
    Invalid(i8),
}

impl EntryType {
    /// Decodes the stored byte.
    pub fn from_byte(b: i8) -> Self {
        match b {
            0 => EntryType::Word,
            1 => EntryType::Label,
            other => EntryType::Invalid(other),
        }
    }
}

/// The dictionary header as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DictHeader {
    /// Number of entries (words + labels).
    pub size: i32,
    /// Number of words.
    pub nwords: i32,
    /// Number of labels.
    pub nlabels: i32,
    /// Training tokens seen (informational).
    pub ntokens: i64,
    /// -1: not pruned; 0: pruned, no n-gram rows kept; > 0: number of prune-index pairs.
    pub pruneidx_size: i64,
}

impl DictHeader {
    pub(crate) fn decode(b: &[u8; DICT_HEADER_BYTES as usize]) -> DictHeader {
        let i32_at = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let i64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            i64::from_le_bytes(a)
        };
        DictHeader {
            size: i32_at(0),
            nwords: i32_at(4),
            nlabels: i32_at(8),
            ntokens: i64_at(12),
            pruneidx_size: i64_at(20),
        }
    }

    /// True when the dictionary was pruned by `quantize -cutoff`.
    pub fn is_pruned(&self) -> bool {
        self.pruneidx_size >= 0
    }
}

/// One dictionary entry, borrowed from a [`Dictionary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The word or label bytes as stored (no encoding is guaranteed).
    pub word: &'a [u8],
    /// Its training count.
    pub count: i64,
    /// Word or label.
    pub entry_type: EntryType,
}

/// A dictionary as read from a model: the header, the entries in file order
/// (entry index = word id; label id = entry index − nwords) and the prune
/// index pairs in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dictionary {
    header: Option<DictHeader>,
    arena: Vec<u8>,
    ends: Vec<usize>,
    counts: Vec<i64>,
    types: Vec<i8>,
    pruneidx: Vec<(i32, i32)>,
}

impl Dictionary {
    pub(crate) fn with_header(
        header: DictHeader,
        reserve_entries: usize,
        reserve_pairs: usize,
    ) -> Self {
        Dictionary {
            header: Some(header),
            arena: Vec::new(),
            ends: Vec::with_capacity(reserve_entries),
            counts: Vec::with_capacity(reserve_entries),
            types: Vec::with_capacity(reserve_entries),
            pruneidx: Vec::with_capacity(reserve_pairs),
        }
    }

    pub(crate) fn push(&mut self, word: &[u8], count: i64, entry_type: i8) {
        self.arena.extend_from_slice(word);
        self.ends.push(self.arena.len());
        self.counts.push(count);
        self.types.push(entry_type);
    }

    pub(crate) fn push_pair(&mut self, bucket: i32, row: i32) {
        self.pruneidx.push((bucket, row));
    }

    /// The stored header, once it has been read.
    pub fn header(&self) -> Option<&DictHeader> {
        self.header.as_ref()
    }

    /// Number of entries read.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no entry was read.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of entry `i`.
    pub fn word(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.arena.get(start..end)
    }

    /// Entry `i`.
    pub fn entry(&self, i: usize) -> Option<Entry<'_>> {
        Some(Entry {
            word: self.word(i)?,
            count: *self.counts.get(i)?,
            entry_type: EntryType::from_byte(*self.types.get(i)?),
        })
    }

    /// All entries in file order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        (0..self.len()).filter_map(|i| self.entry(i))
    }

    /// Entries whose type byte says "label", in file order (label id order for
    /// a well-formed model).
    pub fn labels(&self) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.entries().filter(|e| e.entry_type == EntryType::Label)
    }

    /// The prune-index pairs (original bucket, compact row) in file order.
    pub fn pruneidx(&self) -> &[(i32, i32)] {
        &self.pruneidx
    }

    /// Total bytes of all words (without NULs).
    pub fn word_bytes(&self) -> usize {
        self.arena.len()
    }
}
