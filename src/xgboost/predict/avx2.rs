//! AVX2 walks: 8 rows per instruction (layouts, invariants and the step
//! rule in `lockstep`; word layout of the node arrays in `avx512`).

use super::lockstep::{Block, HEAP_TOP, HeapView, Sink, in_groups};
use super::{DEFAULT_LEFT, FEAT_MASK, Node};
use std::arch::x86_64::*;

const LANES: usize = 8;
/// Heap levels whose nodes are among the first 15, picked from registers by
/// permutes instead of gathered (those below `SCAN_LEVELS` are scanned;
/// `pick` could serve one level more, measured no faster).
const TOP_LEVELS: u32 = 4;
/// Heap levels walked by comparing whole feature columns, node by node.
const SCAN_LEVELS: u32 = 3;

/// Per-block constants of the step.
struct Step {
    buf: *const f32,
    /// log2 of the block's rows per column.
    shift: __m256i,
    feat_mask: __m256i,
    default_left: __m256i,
    cols: __m256i,
}

impl Step {
    #[target_feature(enable = "avx2")]
    fn new(block: &Block<'_>) -> Step {
        Step {
            buf: block.buf.as_ptr(),
            shift: _mm256_set1_epi32(block.rows.trailing_zeros() as i32),
            feat_mask: _mm256_set1_epi32(FEAT_MASK as i32),
            default_left: _mm256_set1_epi32(DEFAULT_LEFT as i32),
            cols: _mm256_set1_epi32(block.cols as i32),
        }
    }

    /// Which lanes go left (all ones) at nodes with these flags and
    /// thresholds.
    ///
    /// # Safety
    /// Every lane of `rows` is a row of the block (below its `rows`).
    #[target_feature(enable = "avx2")]
    unsafe fn left(&self, flags: __m256i, thr: __m256, rows: __m256i) -> __m256i {
        let feat = _mm256_min_epu32(_mm256_and_si256(flags, self.feat_mask), self.cols);
        let at = _mm256_add_epi32(_mm256_sllv_epi32(feat, self.shift), rows);
        // SAFETY: column <= cols, row < rows: inside the block.
        let x = unsafe { _mm256_i32gather_ps::<4>(self.buf, at) };
        let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(x, thr);
        let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x);
        let dl = _mm256_castsi256_ps(_mm256_cmpeq_epi32(
            _mm256_and_si256(flags, self.default_left),
            self.default_left,
        ));
        _mm256_castps_si256(_mm256_or_ps(lt, _mm256_and_ps(nan, dl)))
    }
}

/// Each lane's entry `i` (below 31) of a 32-entry table in four registers,
/// for a walk at `level` (< 5, so `i` < 2^(level + 1) − 1).
#[target_feature(enable = "avx2")]
fn pick(table: &[__m256i; 4], i: __m256i, level: u32) -> __m256i {
    let p = |t| _mm256_permutevar8x32_epi32(t, i);
    // Blends on index bit 3 (then 4), moved to the sign bit.
    let by = |bit: i32, a: __m256i, b: __m256i| {
        let m = _mm256_castsi256_ps(_mm256_sllv_epi32(i, _mm256_set1_epi32(31 - bit)));
        _mm256_castps_si256(_mm256_blendv_ps(
            _mm256_castsi256_ps(a),
            _mm256_castsi256_ps(b),
            m,
        ))
    };
    match level {
        0..=2 => p(table[0]),
        3 => by(3, p(table[0]), p(table[1])),
        _ => by(
            4,
            by(3, p(table[0]), p(table[1])),
            by(3, p(table[2]), p(table[3])),
        ),
    }
}

/// All ones in the lanes of the vector starting at row `first` that are
/// rows below `rows`.
#[target_feature(enable = "avx2")]
fn lanes(rows: usize, first: usize) -> __m256i {
    let n = rows.saturating_sub(first).min(LANES) as i32;
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// The preorder walk (see `lockstep::walk`).
///
/// # Safety
/// The CPU has AVX2; `3 × nodes.len()` and the block's values fit an i32 index; the
/// block holds `idx.len()` rows rounded up to 8; every node reachable from
/// `root` is in `nodes`.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn walk(
    nodes: &[Node],
    root: u32,
    depth: u32,
    block: &Block<'_>,
    idx: &mut [u32],
) {
    let step = Step::new(block);
    // SAFETY: forwarded from the caller.
    unsafe {
        in_groups!(idx.len(), LANES, |first| preorder(
            &step, nodes, root, depth, first, idx
        ));
    }
}

#[target_feature(enable = "avx2")]
unsafe fn preorder<const N: usize>(
    step: &Step,
    nodes: &[Node],
    root: u32,
    depth: u32,
    first: usize,
    out: &mut [u32],
) {
    let words = nodes.as_ptr().cast::<i32>();
    let one = _mm256_set1_epi32(1);
    let rows: [__m256i; N] = std::array::from_fn(|v| {
        _mm256_add_epi32(
            _mm256_set1_epi32((first + v * LANES) as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    });
    let mut idx = [_mm256_set1_epi32(root as i32); N];
    for _ in 0..depth {
        for v in 0..N {
            let i = idx[v];
            let at = _mm256_add_epi32(i, _mm256_add_epi32(i, i));
            // SAFETY: as in the AVX-512 walk.
            unsafe {
                let right = _mm256_i32gather_epi32::<4>(words, at);
                let flags = _mm256_i32gather_epi32::<4>(words.add(1), at);
                let thr = _mm256_i32gather_ps::<4>(words.add(2).cast::<f32>(), at);
                let left = step.left(flags, thr, rows[v]);
                idx[v] = _mm256_blendv_epi8(right, _mm256_add_epi32(i, one), left);
            }
        }
    }
    for (v, &i) in idx.iter().enumerate() {
        let at = first + v * LANES;
        // SAFETY: only lanes below `out.len()` are stored.
        unsafe { _mm256_maskstore_epi32(out.as_mut_ptr().add(at).cast(), lanes(out.len(), at), i) };
    }
}

/// The heap walk (see `lockstep::walk_heap`).
///
/// # Safety
/// The CPU has AVX2; the block's values fit an i32 index; the block holds the sink's
/// rows rounded up to 8; the view's slices have the lengths `HeapView`
/// documents.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn walk_heap(heap: &HeapView<'_>, block: &Block<'_>, mut sink: Sink<'_>) {
    let step = Step::new(block);
    // The first 32 nodes' flags and thresholds, in four registers each.
    let mut flags = [0u32; HEAP_TOP];
    let mut values = [0f32; HEAP_TOP];
    for (k, n) in heap.nodes.iter().take(HEAP_TOP).enumerate() {
        flags[k] = n.flags;
        values[k] = n.value;
    }
    // SAFETY: unaligned loads of 8 values from 32-value arrays.
    let top = unsafe {
        let f = |k: usize| _mm256_loadu_si256(flags[k..].as_ptr().cast());
        let v = |k: usize| _mm256_castps_si256(_mm256_loadu_ps(values[k..].as_ptr()));
        [[f(0), f(8), f(16), f(24)], [v(0), v(8), v(16), v(24)]]
    };
    let rows = sink.rows();
    // SAFETY: forwarded from the caller.
    unsafe {
        in_groups!(rows, LANES, |first| heap_group(
            &step, &top, heap, block, first, &mut sink
        ));
    }
}

#[target_feature(enable = "avx2")]
unsafe fn heap_group<const N: usize>(
    step: &Step,
    top: &[[__m256i; 4]; 2],
    heap: &HeapView<'_>,
    block: &Block<'_>,
    first: usize,
    sink: &mut Sink<'_>,
) {
    let words = heap.nodes.as_ptr().cast::<i32>();
    let two = _mm256_set1_epi32(2);
    let rows: [__m256i; N] = std::array::from_fn(|v| {
        _mm256_add_epi32(
            _mm256_set1_epi32((first + v * LANES) as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    });
    let mut idx = [_mm256_setzero_si256(); N];
    for level in 0..heap.depth {
        if level < SCAN_LEVELS {
            // As in the AVX-512 walk: node by node, whole feature columns.
            let mut left = [_mm256_setzero_si256(); N];
            let nodes = (1usize << level) - 1..(2usize << level) - 1;
            for (c, node) in nodes.clone().zip(&heap.nodes[nodes]) {
                let col = (node.flags & FEAT_MASK).min(block.cols as u32) as usize;
                let column = block.buf[col * block.rows + first..][..N * LANES].as_ptr();
                let thr = _mm256_set1_ps(node.value);
                let dl = node.flags & DEFAULT_LEFT != 0;
                let here = _mm256_set1_epi32(c as i32);
                for v in 0..N {
                    // SAFETY: `column` has N × 8 values (sliced above).
                    let x = unsafe { _mm256_loadu_ps(column.add(v * LANES)) };
                    let mut go = _mm256_cmp_ps::<_CMP_LT_OQ>(x, thr);
                    if dl {
                        go = _mm256_or_ps(go, _mm256_cmp_ps::<_CMP_UNORD_Q>(x, x));
                    }
                    let at = _mm256_cmpeq_epi32(idx[v], here);
                    left[v] =
                        _mm256_or_si256(left[v], _mm256_and_si256(at, _mm256_castps_si256(go)));
                }
            }
            for v in 0..N {
                let right = _mm256_add_epi32(_mm256_add_epi32(idx[v], idx[v]), two);
                idx[v] = _mm256_add_epi32(right, left[v]);
            }
            continue;
        }
        for v in 0..N {
            let i = idx[v];
            let (flags, thr) = if level < TOP_LEVELS {
                (
                    pick(&top[0], i, level),
                    _mm256_castsi256_ps(pick(&top[1], i, level)),
                )
            } else {
                // SAFETY: at a level below `depth` every lane is at a heap
                // position below 2^depth − 1, a node of the view.
                unsafe {
                    // One 8-byte gather per node: {flags, threshold} pairs
                    // of lanes 0 – 3 and 4 – 7, then split.
                    let pairs = words.cast::<i64>();
                    let a = _mm256_i32gather_epi64::<8>(pairs, _mm256_castsi256_si128(i));
                    let b = _mm256_i32gather_epi64::<8>(pairs, _mm256_extracti128_si256::<1>(i));
                    let split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
                    let a = _mm256_permutevar8x32_epi32(a, split);
                    let b = _mm256_permutevar8x32_epi32(b, split);
                    (
                        _mm256_permute2x128_si256::<0x20>(a, b),
                        _mm256_castsi256_ps(_mm256_permute2x128_si256::<0x31>(a, b)),
                    )
                }
            };
            // SAFETY: rows as the caller says.
            let left = unsafe { step.left(flags, thr, rows[v]) };
            // Children of h: 2h + 1 (left) and 2h + 2 (right); `left` is
            // −1 in the lanes going left.
            let right = _mm256_add_epi32(_mm256_add_epi32(i, i), two);
            idx[v] = _mm256_add_epi32(right, left);
        }
    }
    let inner = _mm256_set1_epi32((1i32 << heap.depth) - 1);
    for (v, &i) in idx.iter().enumerate() {
        let at = first + v * LANES;
        let slot = _mm256_sub_epi32(i, inner);
        match sink {
            Sink::Leaf(out) => {
                // SAFETY: slots index `leaf_index`; only lanes below
                // `out.len()` are stored.
                unsafe {
                    let leaf = _mm256_i32gather_epi32::<4>(heap.leaf_index.as_ptr().cast(), slot);
                    _mm256_maskstore_epi32(
                        out.as_mut_ptr().add(at).cast(),
                        lanes(out.len(), at),
                        leaf,
                    );
                }
            }
            Sink::Sum { acc, weight } => {
                let k = lanes(acc.len(), at);
                // SAFETY: slots index `leaf_value`; only lanes below
                // `acc.len()` are loaded and stored.
                unsafe {
                    let mut value = _mm256_i32gather_ps::<4>(heap.leaf_value.as_ptr(), slot);
                    if let Some(w) = weight {
                        value = _mm256_mul_ps(value, _mm256_set1_ps(*w));
                    }
                    let p = acc.as_mut_ptr().add(at);
                    let sum = _mm256_add_ps(_mm256_maskload_ps(p, k), value);
                    _mm256_maskstore_ps(p, k, sum);
                }
            }
        }
    }
}
