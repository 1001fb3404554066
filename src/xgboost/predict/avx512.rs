//! AVX-512F walks: 16 rows per instruction (layouts, invariants and the
//! step rule in `lockstep`).
//!
//! Up to eight vectors (a whole 128-row block) walk together so that the
//! gathers' latency overlaps. A preorder `Node` is `#[repr(C)]` {right, flags, value}: word
//! 3i of the node array is node i's `right`, 3i + 1 its flags, 3i + 2 its
//! threshold. A `HeapNode` is {flags, value}: words 2h and 2h + 1.

use super::lockstep::{Block, HEAP_TOP, Heap, HeapView, Heaps, Sink, in_groups};
use super::{DEFAULT_LEFT, FEAT_MASK, Node};
use std::arch::x86_64::*;

const LANES: usize = 16;
/// Heap levels whose nodes are among the first 63, picked from registers by
/// permutes instead of gathered (those below `SCAN_LEVELS` are scanned).
const TOP_LEVELS: u32 = 6;
/// Heap levels walked by comparing whole feature columns, node by node.
const SCAN_LEVELS: u32 = 3;

/// Per-block constants of the step.
struct Step {
    buf: *const f32,
    /// log2 of the block's rows per column.
    shift: __m512i,
    feat_mask: __m512i,
    default_left: __m512i,
    cols: __m512i,
}

impl Step {
    #[target_feature(enable = "avx512f,avx2")]
    fn new(block: &Block<'_>) -> Step {
        Step {
            buf: block.buf.as_ptr(),
            shift: _mm512_set1_epi32(block.rows.trailing_zeros() as i32),
            feat_mask: _mm512_set1_epi32(FEAT_MASK as i32),
            default_left: _mm512_set1_epi32(DEFAULT_LEFT as i32),
            cols: _mm512_set1_epi32(block.cols as i32),
        }
    }

    /// Which lanes go left at nodes with these flags and thresholds.
    ///
    /// # Safety
    /// Every lane of `rows` is a row of the block (below its `rows`).
    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn left(&self, flags: __m512i, thr: __m512, rows: __m512i) -> __mmask16 {
        let feat = _mm512_min_epu32(_mm512_and_si512(flags, self.feat_mask), self.cols);
        let at = _mm512_add_epi32(_mm512_sllv_epi32(feat, self.shift), rows);
        // SAFETY: column <= cols, row < rows: inside the block.
        let x = unsafe { _mm512_castsi512_ps(gather(self.buf.cast(), at)) };
        let lt = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, thr);
        let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
        let dl = _mm512_test_epi32_mask(flags, self.default_left);
        lt | (nan & dl)
    }
}

// Zen 5 runs a gather of 16 elements (or of 8 pairs) much slower than two
// (four) narrower ones: measured 74 k rows/s with 512-bit gathers, 133 k
// with these, on the benchmark model. So the 16 lanes gather in halves.

/// `base[at]` (32-bit words) for 16 lanes.
///
/// # Safety
/// Every `base + at` is readable.
#[target_feature(enable = "avx512f,avx2")]
unsafe fn gather(base: *const i32, at: __m512i) -> __m512i {
    // SAFETY: forwarded.
    unsafe {
        let lo = _mm256_i32gather_epi32::<4>(base, _mm512_castsi512_si256(at));
        let hi = _mm256_i32gather_epi32::<4>(base, _mm512_extracti64x4_epi64::<1>(at));
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }
}

/// `base[at]` (8-byte pairs) for lanes 0 – 7 of `at`.
///
/// # Safety
/// Every `base + at` is readable.
#[target_feature(enable = "avx512f,avx2")]
unsafe fn gather_pairs(base: *const i64, at: __m256i) -> __m512i {
    // SAFETY: forwarded.
    unsafe {
        let lo = _mm256_i32gather_epi64::<8>(base, _mm256_castsi256_si128(at));
        let hi = _mm256_i32gather_epi64::<8>(base, _mm256_extracti128_si256::<1>(at));
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
    }
}

/// The mask of the lanes of vector `v` that are rows `first + 16v ..` below
/// `rows`.
fn lanes(rows: usize, first: usize) -> __mmask16 {
    let n = rows.saturating_sub(first).min(LANES);
    ((1u32 << n) - 1) as __mmask16
}

/// The preorder walk (see `lockstep::walk`).
///
/// # Safety
/// The CPU has AVX-512F; `3 × nodes.len()` and the block's values fit an i32 index;
/// the block holds `idx.len()` rows rounded up to 16; every node reachable
/// from `root` is in `nodes`.
#[target_feature(enable = "avx512f,avx2")]
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

#[target_feature(enable = "avx512f,avx2")]
unsafe fn preorder<const N: usize>(
    step: &Step,
    nodes: &[Node],
    root: u32,
    depth: u32,
    first: usize,
    out: &mut [u32],
) {
    let words = nodes.as_ptr().cast::<i32>();
    let one = _mm512_set1_epi32(1);
    let rows: [__m512i; N] = std::array::from_fn(|v| {
        _mm512_add_epi32(
            _mm512_set1_epi32((first + v * LANES) as i32),
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        )
    });
    let mut idx = [_mm512_set1_epi32(root as i32); N];
    for _ in 0..depth {
        for v in 0..N {
            let i = idx[v];
            let at = _mm512_add_epi32(i, _mm512_add_epi32(i, i));
            // SAFETY: every lane is at a node of the tree (a walk moves only
            // to `i + 1` from a split, its left child, or to `right`), so
            // words 3i .. 3i + 2 are in `nodes`; rows as the caller says.
            unsafe {
                let right = gather(words, at);
                let flags = gather(words.add(1), at);
                let thr = _mm512_castsi512_ps(gather(words.add(2), at));
                let left = step.left(flags, thr, rows[v]);
                idx[v] = _mm512_mask_blend_epi32(left, right, _mm512_add_epi32(i, one));
            }
        }
    }
    for (v, &i) in idx.iter().enumerate() {
        let at = first + v * LANES;
        // SAFETY: only lanes below `out.len()` are stored.
        unsafe {
            _mm512_mask_storeu_epi32(out.as_mut_ptr().add(at).cast(), lanes(out.len(), at), i)
        };
    }
}

/// The heap walk (see `lockstep::walk_heap`).
///
/// # Safety
/// The CPU has AVX-512F; the block's values fit an i32 index; the block holds the
/// sink's rows rounded up to 16; the view's slices have the lengths
/// `HeapView` documents.
#[target_feature(enable = "avx512f,avx2")]
pub(super) unsafe fn walk_heap(heap: &HeapView<'_>, block: &Block<'_>, mut sink: Sink<'_>) {
    let step = Step::new(block);
    // The top six levels' flags and thresholds (63 nodes), in four
    // registers each: the first 64 {flags, threshold} pairs loaded as they
    // are, then split into even (flags) and odd (threshold) words.
    let first = &heap.nodes[..HEAP_TOP];
    let words = first.as_ptr().cast::<i32>();
    // SAFETY: `first` is 64 pairs, 128 words; eight loads of 16.
    let raw: [__m512i; 8] =
        std::array::from_fn(|k| unsafe { _mm512_loadu_si512(words.add(16 * k).cast()) });
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    let split =
        |k: usize, which: __m512i| _mm512_permutex2var_epi32(raw[2 * k], which, raw[2 * k + 1]);
    let top = [
        split(0, even),
        split(1, even),
        split(2, even),
        split(3, even),
        split(0, odd),
        split(1, odd),
        split(2, odd),
        split(3, odd),
    ];
    let rows = sink.rows();
    // SAFETY: forwarded from the caller.
    unsafe {
        in_groups!(rows, LANES, |first| heap_group(
            &step, &top, heap, block, first, &mut sink
        ));
    }
}

#[target_feature(enable = "avx512f,avx2")]
unsafe fn heap_group<const N: usize>(
    step: &Step,
    top: &[__m512i; 8],
    heap: &HeapView<'_>,
    block: &Block<'_>,
    first: usize,
    sink: &mut Sink<'_>,
) {
    let words = heap.nodes.as_ptr().cast::<i32>();
    let one = _mm512_set1_epi32(1);
    let two = _mm512_set1_epi32(2);
    let rows: [__m512i; N] = std::array::from_fn(|v| {
        _mm512_add_epi32(
            _mm512_set1_epi32((first + v * LANES) as i32),
            _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        )
    });
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, one);
    let thirty_two = _mm512_set1_epi32(32);
    let mut idx = [_mm512_setzero_si512(); N];
    for level in 0..heap.depth {
        if level < SCAN_LEVELS {
            // Few nodes at this level: for each, compare the whole column of
            // its feature (contiguous loads, no gather), and keep the
            // answer in the lanes at that node.
            let mut left = [0 as __mmask16; N];
            let nodes = (1usize << level) - 1..(2usize << level) - 1;
            for (c, node) in nodes.clone().zip(&heap.nodes[nodes]) {
                let col = (node.flags & FEAT_MASK).min(block.cols as u32) as usize;
                let column = block.buf[col * block.rows + first..][..N * LANES].as_ptr();
                let thr = _mm512_set1_ps(node.value);
                let dl = node.flags & DEFAULT_LEFT != 0;
                let here = _mm512_set1_epi32(c as i32);
                for v in 0..N {
                    // SAFETY: `column` has N × 16 values (sliced above).
                    let x = unsafe { _mm512_loadu_ps(column.add(v * LANES)) };
                    let mut go = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(x, thr);
                    if dl {
                        go |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(x, x);
                    }
                    left[v] |= _mm512_mask_cmpeq_epi32_mask(go, idx[v], here);
                }
            }
            for v in 0..N {
                let right = _mm512_add_epi32(_mm512_add_epi32(idx[v], idx[v]), two);
                idx[v] = _mm512_mask_sub_epi32(right, left[v], right, one);
            }
            continue;
        }
        for v in 0..N {
            let i = idx[v];
            let (flags, thr) = if level + 1 == TOP_LEVELS {
                // Nodes 31 – 62: index bits 0 – 4 pick from each register
                // pair, bit 5 picks the pair.
                let high = _mm512_test_epi32_mask(i, thirty_two);
                let pick = |t: usize| {
                    _mm512_mask_blend_epi32(
                        high,
                        _mm512_permutex2var_epi32(top[t], i, top[t + 1]),
                        _mm512_permutex2var_epi32(top[t + 2], i, top[t + 3]),
                    )
                };
                (pick(0), _mm512_castsi512_ps(pick(4)))
            } else if level < TOP_LEVELS {
                // Every lane is at a node below 31: index bits 0 – 4 pick
                // it from the register pair.
                (
                    _mm512_permutex2var_epi32(top[0], i, top[1]),
                    _mm512_castsi512_ps(_mm512_permutex2var_epi32(top[4], i, top[5])),
                )
            } else {
                // SAFETY: at a level below `depth` every lane is at a heap
                // position below 2^depth − 1, a node of the view.
                unsafe {
                    // One 8-byte gather per node: {flags, threshold} pairs
                    // of lanes 0 – 7 and 8 – 15, then split.
                    let pairs = words.cast::<i64>();
                    let a = gather_pairs(pairs, _mm512_castsi512_si256(i));
                    let b = gather_pairs(pairs, _mm512_extracti64x4_epi64::<1>(i));
                    (
                        _mm512_permutex2var_epi32(a, even, b),
                        _mm512_castsi512_ps(_mm512_permutex2var_epi32(a, odd, b)),
                    )
                }
            };
            // SAFETY: rows as the caller says.
            let left = unsafe { step.left(flags, thr, rows[v]) };
            // Children of h: 2h + 1 (left) and 2h + 2 (right).
            let right = _mm512_add_epi32(_mm512_add_epi32(i, i), two);
            idx[v] = _mm512_mask_sub_epi32(right, left, right, one);
        }
    }
    let inner = _mm512_set1_epi32((1i32 << heap.depth) - 1);
    for (v, &i) in idx.iter().enumerate() {
        let at = first + v * LANES;
        // Bottom slots 0 ..= 2^depth − 1: inside the leaf arrays.
        let slot = _mm512_sub_epi32(i, inner);
        match sink {
            Sink::Leaf(out) => {
                let k = lanes(out.len(), at);
                // SAFETY: slots index `leaf_index`; only lanes below
                // `out.len()` are stored.
                unsafe {
                    let leaf = gather(heap.leaf_index.as_ptr().cast(), slot);
                    _mm512_mask_storeu_epi32(out.as_mut_ptr().add(at).cast(), k, leaf);
                }
            }
            Sink::Sum { acc, weight } => {
                let k = lanes(acc.len(), at);
                // SAFETY: slots index `leaf_value`; only lanes below
                // `acc.len()` are loaded and stored.
                unsafe {
                    let mut value =
                        _mm512_castsi512_ps(gather(heap.leaf_value.as_ptr().cast(), slot));
                    if let Some(w) = weight {
                        value = _mm512_mul_ps(value, _mm512_set1_ps(*w));
                    }
                    let p = acc.as_mut_ptr().add(at);
                    let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(k, p), value);
                    _mm512_mask_storeu_ps(p, k, sum);
                }
            }
        }
    }
}

/// One row through up to 64 heaps at once, 16 trees per vector (see
/// `lockstep::heaps_for_row`): lane t walks tree t, its nodes gathered at
/// the tree's offset, the row's values gathered by feature.
///
/// # Safety
/// The CPU has AVX-512F and AVX2; `row` holds `cols + 1` values with
/// `cols < i32::MAX`; `trees` is not empty and every entry is a heap of
/// `heaps` (so its nodes and bottom slots lie inside `heaps`' arrays, at
/// offsets that fit i32).
#[target_feature(enable = "avx512f,avx2")]
pub(super) unsafe fn heaps_for_row(
    heaps: &Heaps,
    trees: &[Heap],
    row: &[f32],
    cols: usize,
    values: &mut [f32],
) {
    const V: usize = 4;
    let n = trees.len().min(V * LANES).min(values.len());
    let lane = |k: usize, f: fn(&Heap) -> u32| -> __m512i {
        // Lanes past the last tree repeat the first (their results are
        // not stored).
        let mut v = [0u32; LANES];
        for (i, slot) in v.iter_mut().enumerate() {
            let t = k * LANES + i;
            *slot = f(&trees[if t < n { t } else { 0 }]);
        }
        // SAFETY: a 16-value array, unaligned load.
        unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
    };
    let depth: [__m512i; V] = std::array::from_fn(|k| lane(k, |h| h.depth));
    let node0: [__m512i; V] = std::array::from_fn(|k| lane(k, |h| h.nodes));
    let leaf0: [__m512i; V] = std::array::from_fn(|k| lane(k, |h| h.leaves));
    let vectors = n.div_ceil(LANES);
    let levels = trees[..n].iter().map(|h| h.depth).max().unwrap_or(0);
    let pairs = heaps.nodes.as_ptr().cast::<i64>();
    let x = row.as_ptr().cast::<i32>();
    let feat_mask = _mm512_set1_epi32(FEAT_MASK as i32);
    let default_left = _mm512_set1_epi32(DEFAULT_LEFT as i32);
    let last = _mm512_set1_epi32(cols as i32);
    let one = _mm512_set1_epi32(1);
    let two = _mm512_set1_epi32(2);
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, one);
    let mut h = [_mm512_setzero_si512(); V];
    for level in 0..levels {
        let at_level = _mm512_set1_epi32(level as i32);
        for v in 0..vectors {
            // Lanes whose tree is deeper than this level step; the others
            // stay at their bottom slot and read their root (in bounds).
            let active = _mm512_cmplt_epu32_mask(at_level, depth[v]);
            let at = _mm512_mask_add_epi32(node0[v], active, node0[v], h[v]);
            // SAFETY: an active lane is at a node of its tree (position
            // below 2^depth − 1), an inactive one at its first node's
            // offset (a node of some tree or of the padding that ends the
            // array, even for a one-leaf tree); feature indices are clamped
            // to the padding column `cols`.
            let (flags, thr, xv) = unsafe {
                let a = gather_pairs(pairs, _mm512_castsi512_si256(at));
                let b = gather_pairs(pairs, _mm512_extracti64x4_epi64::<1>(at));
                let flags = _mm512_permutex2var_epi32(a, even, b);
                let thr = _mm512_castsi512_ps(_mm512_permutex2var_epi32(a, odd, b));
                let feat = _mm512_min_epu32(_mm512_and_si512(flags, feat_mask), last);
                (flags, thr, _mm512_castsi512_ps(gather(x, feat)))
            };
            let lt = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(xv, thr);
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(xv, xv);
            let left = lt | (nan & _mm512_test_epi32_mask(flags, default_left));
            let right = _mm512_add_epi32(_mm512_add_epi32(h[v], h[v]), two);
            let next = _mm512_mask_sub_epi32(right, left, right, one);
            h[v] = _mm512_mask_mov_epi32(h[v], active, next);
        }
    }
    for v in 0..vectors {
        // Bottom slot: position − (2^depth − 1), inside the tree's slots.
        let inner = _mm512_sub_epi32(_mm512_sllv_epi32(one, depth[v]), one);
        let slot = _mm512_add_epi32(leaf0[v], _mm512_sub_epi32(h[v], inner));
        let mut out = [0f32; LANES];
        // SAFETY: slots of `heaps`' own trees; a 16-value array store.
        unsafe {
            let leaf = gather(heaps.leaf_value.as_ptr().cast(), slot);
            _mm512_storeu_si512(out.as_mut_ptr().cast(), leaf);
        }
        let start = v * LANES;
        let end = (start + LANES).min(n);
        values[start..end].copy_from_slice(&out[..end - start]);
    }
}
