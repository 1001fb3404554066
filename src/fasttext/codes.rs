//! Stable finding codes of the fastText validator.
//!
//! A code is never reused for another meaning. `formats/fasttext.md` lists
//! each with its severity and what triggers it.

/// Version other than 11 or 12 (error; > 12 stops parsing).
pub const VERSION: &str = "ft.header.version";
/// Version 11: a supervised model's `maxn` is forced to 0 (info).
pub const VERSION_11: &str = "ft.header.version11";
/// Loss outside 1..=4 (error).
pub const ARGS_LOSS: &str = "ft.args.loss";
/// Model outside 1..=3 (error).
pub const ARGS_MODEL: &str = "ft.args.model";
/// dim ≤ 0 (error).
pub const ARGS_DIM: &str = "ft.args.dim";
/// minn > maxn while maxn > 0 (error).
pub const ARGS_MINN_MAXN: &str = "ft.args.minn_maxn";
/// bucket < 0, or bucket = 0 with subwords or word n-grams (error).
pub const ARGS_BUCKET: &str = "ft.args.bucket";
/// bucket > 0 but no feature can ever hash into a bucket (info).
pub const ARGS_UNUSED_BUCKETS: &str = "ft.args.unused_buckets";
/// Dictionary header: negative size/nwords/nlabels or size ≠ nwords + nlabels (error).
pub const DICT_SIZE: &str = "ft.dict.size";
/// Dictionary with no entries: fastText divides by zero on lookup (error).
pub const DICT_EMPTY: &str = "ft.dict.empty";
/// ntokens < 0 (warning).
pub const DICT_NTOKENS: &str = "ft.dict.ntokens";
/// Entry with a negative count (error).
pub const DICT_COUNT: &str = "ft.dict.count";
/// Entry type byte other than 0 (word) or 1 (label) (error).
pub const DICT_TYPE: &str = "ft.dict.type";
/// A label stored before a word (error).
pub const DICT_LABEL_BEFORE_WORD: &str = "ft.dict.label_before_word";
/// Entries by type byte disagree with the header's nwords/nlabels (error).
pub const DICT_TYPE_TOTALS: &str = "ft.dict.type_totals";
/// A word with no NUL within the word-length cap (error, stops parsing).
pub const DICT_UNTERMINATED: &str = "ft.dict.unterminated";
/// Counts not in descending order within words or labels (warning).
pub const DICT_UNSORTED: &str = "ft.dict.unsorted";
/// The same bytes stored twice (warning).
pub const DICT_DUPLICATE: &str = "ft.dict.duplicate";
/// Empty entry or one containing a token separator byte (warning).
pub const DICT_WHITESPACE: &str = "ft.dict.whitespace";
/// Entry bytes that are not UTF-8 (warning).
pub const DICT_UTF8: &str = "ft.dict.utf8";
/// Supervised model without labels (error).
pub const LABELS_MISSING: &str = "ft.labels.missing";
/// Word-vector (cbow/skipgram) model with labels (error).
pub const LABELS_UNEXPECTED: &str = "ft.labels.unexpected";
/// Labels without the `__label__` prefix (info when none has it, warning when mixed).
pub const LABELS_PREFIX: &str = "ft.labels.prefix";
/// pruneidx_size < −1 (error).
pub const PRUNEIDX_SIZE: &str = "ft.pruneidx.size";
/// Pruned dictionary in a non-quantized model: fastText refuses it (error).
pub const PRUNEIDX_UNQUANTIZED: &str = "ft.pruneidx.unquantized";
/// Prune-index bucket outside [0, bucket) or row outside [0, pruneidx_size) (error).
pub const PRUNEIDX_RANGE: &str = "ft.pruneidx.range";
/// The same bucket listed twice (error), or two buckets sharing a row (warning).
pub const PRUNEIDX_DUPLICATE: &str = "ft.pruneidx.duplicate";
/// A bool byte (quant, qout, qnorm) other than 0 or 1 (error).
pub const FLAG: &str = "ft.flag.invalid";
/// qout = 1 on a non-quantized model: ignored by fastText (warning).
pub const FLAG_QOUT_IGNORED: &str = "ft.flag.qout_ignored";
/// Quantized cbow/skipgram model: fastText never writes one (error).
pub const QUANT_UNSUPERVISED: &str = "ft.quant.unsupervised";
/// Matrix with negative rows or columns (error, stops parsing).
pub const MATRIX_NEGATIVE: &str = "ft.matrix.negative";
/// Matrix rows differ from what args and dictionary imply (error).
pub const MATRIX_ROWS: &str = "ft.matrix.rows";
/// Matrix columns differ from dim (error).
pub const MATRIX_COLS: &str = "ft.matrix.cols";
/// Quantized matrix codesize ≠ rows × nsubq, or negative (error).
pub const QUANT_CODESIZE: &str = "ft.quant.codesize";
/// Product-quantizer fields inconsistent (dim, nsubq, dsub, lastdsub) (error).
pub const PQ_FIELDS: &str = "ft.pq.fields";
/// Norm quantizer not 1/1/1/1 (error).
pub const PQ_NORM: &str = "ft.pq.norm";
/// NaN weights (error; fastText throws "Encountered NaN." on predict).
pub const WEIGHTS_NAN: &str = "ft.weights.nan";
/// ±Inf weights (error; predictions become NaN).
pub const WEIGHTS_INF: &str = "ft.weights.inf";
/// The file ends before the model does (error, stops parsing).
pub const TRUNCATED: &str = "ft.truncated";
/// Bytes after the end of the output matrix (error).
pub const TRAILING: &str = "ft.trailing";
/// Quantized model for BlazingText: error unless allowed, then a warning.
pub const BT_QUANTIZED: &str = "bt.quantized";
/// Word-vector model: what the BlazingText endpoint will do with it (info).
pub const BT_WORD2VEC: &str = "bt.word2vec";
