//! The fixed 64-byte header of a fastText model: magic, version and the
//! `Args` block (`Args::save` in fastText's `src/args.cc`).

use serde::{Serialize, Serializer};
use std::fmt;

/// `FASTTEXT_FILEFORMAT_MAGIC_INT32`: the first four bytes of every model,
/// little-endian (`BA 16 4F 2F`).
pub const MAGIC: i32 = 793_712_314;
/// The newest file-format version fastText writes and reads (fastText ≥ 0.2).
pub const VERSION: i32 = 12;
/// The first versioned format (2017-05 to 2017-10): same layout, but a
/// supervised model's `maxn` is forced to 0 on load.
pub const VERSION_11: i32 = 11;
/// Bytes of magic + version.
pub const HEADER_BYTES: u64 = 8;
/// Bytes of the args block (12 × i32 + one f64).
pub const ARGS_BYTES: u64 = 56;
/// Offset of the dictionary: header + args.
pub const DICT_OFFSET: u64 = HEADER_BYTES + ARGS_BYTES;

/// The loss a model was trained with (`enum class loss_name : int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loss {
    /// 1: hierarchical softmax over a Huffman tree of the label counts.
    Hs,
    /// 2: negative sampling.
    Ns,
    /// 3: softmax.
    Softmax,
    /// 4: one-vs-all (independent sigmoids).
    Ova,
    /// Any other stored value; fastText fails with "Unknown loss".
    Unknown(i32),
}

impl Loss {
    /// Decodes the stored i32.
    pub fn from_id(id: i32) -> Self {
        match id {
            1 => Loss::Hs,
            2 => Loss::Ns,
            3 => Loss::Softmax,
            4 => Loss::Ova,
            other => Loss::Unknown(other),
        }
    }

    /// The stored i32.
    pub fn id(self) -> i32 {
        match self {
            Loss::Hs => 1,
            Loss::Ns => 2,
            Loss::Softmax => 3,
            Loss::Ova => 4,
            Loss::Unknown(v) => v,
        }
    }

    /// fastText's name for it (`hs`, `ns`, `softmax`, `ova`), or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Loss::Hs => "hs",
            Loss::Ns => "ns",
            Loss::Softmax => "softmax",
            Loss::Ova => "ova",
            Loss::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loss::Unknown(v) => write!(f, "unknown ({v})"),
            other => f.write_str(other.name()),
        }
    }
}

impl Serialize for Loss {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The model architecture (`enum class model_name : int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelName {
    /// 1: continuous bag of words (word vectors).
    Cbow,
    /// 2: skipgram (word vectors).
    Skipgram,
    /// 3: supervised classifier.
    Supervised,
    /// Any other stored value.
    Unknown(i32),
}

impl ModelName {
    /// Decodes the stored i32.
    pub fn from_id(id: i32) -> Self {
        match id {
            1 => ModelName::Cbow,
            2 => ModelName::Skipgram,
            3 => ModelName::Supervised,
            other => ModelName::Unknown(other),
        }
    }

    /// The stored i32.
    pub fn id(self) -> i32 {
        match self {
            ModelName::Cbow => 1,
            ModelName::Skipgram => 2,
            ModelName::Supervised => 3,
            ModelName::Unknown(v) => v,
        }
    }

    /// fastText's short name (`cbow`, `sg`, `sup`), or `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            ModelName::Cbow => "cbow",
            ModelName::Skipgram => "sg",
            ModelName::Supervised => "sup",
            ModelName::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelName::Unknown(v) => write!(f, "unknown ({v})"),
            other => f.write_str(other.name()),
        }
    }
}

impl Serialize for ModelName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The stored training arguments, in file order. Field names in JSON follow
/// fastText's own spelling (`minCount`, `wordNgrams`, `lrUpdateRate`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Args {
    /// Vector size (`-dim`).
    pub dim: i32,
    /// Context window (training only).
    pub ws: i32,
    /// Epochs (training only).
    pub epoch: i32,
    /// Minimal word count (training only).
    #[serde(rename = "minCount")]
    pub min_count: i32,
    /// Negatives sampled (training only).
    pub neg: i32,
    /// Length of word n-grams; used at prediction time.
    #[serde(rename = "wordNgrams")]
    pub word_ngrams: i32,
    /// Loss function.
    pub loss: Loss,
    /// Model architecture.
    pub model: ModelName,
    /// Number of hash buckets for word and char n-grams (0 = hashing disabled).
    pub bucket: i32,
    /// Minimal char n-gram length.
    pub minn: i32,
    /// Maximal char n-gram length (0 = no subwords). For a version-11
    /// supervised model this is the effective value 0, as fastText forces it.
    pub maxn: i32,
    /// Learning-rate update interval (training only).
    #[serde(rename = "lrUpdateRate")]
    pub lr_update_rate: i32,
    /// Sampling threshold (training only).
    pub t: f64,
}

impl Args {
    /// Decodes the 56-byte args block. `block` must hold exactly [`ARGS_BYTES`] bytes.
    pub(crate) fn decode(block: &[u8; ARGS_BYTES as usize]) -> Args {
        let i = |k: usize| {
            let o = 4 * k;
            i32::from_le_bytes([block[o], block[o + 1], block[o + 2], block[o + 3]])
        };
        let mut t = [0u8; 8];
        t.copy_from_slice(&block[48..56]);
        Args {
            dim: i(0),
            ws: i(1),
            epoch: i(2),
            min_count: i(3),
            neg: i(4),
            word_ngrams: i(5),
            loss: Loss::from_id(i(6)),
            model: ModelName::from_id(i(7)),
            bucket: i(8),
            minn: i(9),
            maxn: i(10),
            lr_update_rate: i(11),
            t: f64::from_le_bytes(t),
        }
    }

    /// True for a supervised classifier (`model == sup`).
    pub fn is_supervised(&self) -> bool {
        self.model == ModelName::Supervised
    }

    /// True when words get char n-gram (subword) features (`maxn > 0`).
    pub fn has_subwords(&self) -> bool {
        self.maxn > 0
    }
}

/// Byte offsets of the args fields, for finding locations.
pub(crate) mod offset {
    use super::HEADER_BYTES;
    pub const DIM: u64 = HEADER_BYTES;
    pub const LOSS: u64 = HEADER_BYTES + 24;
    pub const MODEL: u64 = HEADER_BYTES + 28;
    pub const BUCKET: u64 = HEADER_BYTES + 32;
    pub const MINN: u64 = HEADER_BYTES + 36;
}
