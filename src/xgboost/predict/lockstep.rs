//! The lockstep walk: every row of a block descends one tree together, one
//! level per step, with no data-dependent branch.
//!
//! Two layouts of a tree:
//!
//! * **preorder** (every tree): the forest's `Node` array. A step from node
//!   `i` goes to `i + 1` (the left child, next in preorder) or to the node's
//!   `right`. A leaf's `right` is itself and its feature is the block's
//!   always-missing padding column with the default unset, so a walk of
//!   fixed length stays on the leaf (see `compile_tree`);
//! * **heap** (shallow trees, see [`Heaps`]): a complete binary tree of the
//!   tree's depth, where node h's children are 2h + 1 and 2h + 2, so a step
//!   needs no child pointer and the top levels fit in SIMD registers.
//!
//! Three kernels walk them and compute the same leaves and sums, bit for bit
//! (tested): portable safe Rust, AVX2 (8 rows per instruction) and AVX-512
//! (16), which fetch nodes and feature values with gathers (and permutes for
//! a heap's top levels). [`Kernel::Auto`] picks the widest the CPU has.
//!
//! In every layout and kernel a step goes left when `x < threshold`, or
//! when `x` is missing (NaN) and the node's default is left.

use super::{DEFAULT_LEFT, FEAT_MASK, LEAF, Node};

/// Which instructions walk the trees (the result is the same for all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Kernel {
    /// The widest the CPU supports: AVX-512, then AVX2, then portable.
    #[default]
    Auto,
    /// Safe Rust, one row at a time in the inner loop (any CPU).
    Portable,
    /// x86-64 AVX2 gathers, 8 rows per instruction.
    Avx2,
    /// x86-64 AVX-512F gathers and permutes, 16 rows per instruction.
    Avx512,
}

impl Kernel {
    /// Whether this CPU can run the kernel (`Auto` and `Portable` always).
    pub fn is_available(self) -> bool {
        match self {
            Kernel::Auto | Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Kernel::Avx2 | Kernel::Avx512 => false,
        }
    }

    /// The kernels this CPU runs, from the portable one to the widest
    /// (`Auto` aside).
    pub fn available() -> impl Iterator<Item = Kernel> {
        [Kernel::Portable, Kernel::Avx2, Kernel::Avx512]
            .into_iter()
            .filter(|k| k.is_available())
    }

    /// The kernel `Auto` stands for on this CPU.
    pub fn best() -> Kernel {
        Kernel::available().last().unwrap_or(Kernel::Portable)
    }

    /// The kernel's name as the CLI and benchmarks print it.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::Auto => "auto",
            Kernel::Portable => "portable",
            Kernel::Avx2 => "avx2",
            Kernel::Avx512 => "avx512",
        }
    }
}

/// Rows of a block, as the walks read them: column by column (row `r`'s
/// feature `c` at `buf[c × rows + r]`), `rows` (a power of two, at least
/// 16) to a column, `cols + 1` columns, the last one all NaN (the missing
/// value every absent feature reads). Rows past the real ones hold stale
/// values; their walks are not used.
pub(super) struct Block<'a> {
    pub buf: &'a [f32],
    pub rows: usize,
    pub cols: usize,
}

impl Block<'_> {
    /// Row `r`'s value at feature `feat` (the padding column past `cols`).
    fn x(&self, r: usize, feat: u32) -> f32 {
        self.buf[(feat as usize).min(self.cols) * self.rows + r]
    }

    /// Whether the SIMD kernels may read `n` rows rounded up to whole
    /// vectors of `lanes`, and every column of them.
    fn holds(&self, n: usize, lanes: usize) -> bool {
        self.rows.is_power_of_two()
            && n.next_multiple_of(lanes) <= self.rows
            && (self.cols + 1)
                .checked_mul(self.rows)
                .is_some_and(|len| len <= self.buf.len())
    }
}

/// The kernel that will walk a forest of `nodes` preorder nodes over blocks
/// of `cells` values: the one asked for when the CPU has it and the SIMD
/// gathers' offsets fit an `i32` (`3 × nodes` words, `cells` values);
/// otherwise the portable one.
pub(super) fn usable(kernel: Kernel, nodes: usize, cells: usize) -> Kernel {
    let fits =
        nodes.checked_mul(3).is_some_and(|n| n <= i32::MAX as usize) && cells <= i32::MAX as usize;
    match kernel {
        Kernel::Avx512 | Kernel::Avx2 if fits && kernel.is_available() => kernel,
        _ => Kernel::Portable,
    }
}

/// Runs `$call` once per group of up to eight vectors of `$lanes` rows
/// covering rows `0..$rows`, with `$first` the group's first row, as
/// `$f::<N>(args)` for the group's `N` vectors (the SIMD walks keep a
/// group's vectors in flight together so that their gathers overlap).
macro_rules! in_groups {
    ($rows:expr, $lanes:expr, |$first:ident| $f:ident($($arg:expr),* $(,)?)) => {{
        let rows = $rows;
        let mut $first = 0;
        while $first < rows {
            let n = (rows - $first).div_ceil($lanes).min(8);
            match n {
                8 => $f::<8>($($arg),*),
                7 => $f::<7>($($arg),*),
                6 => $f::<6>($($arg),*),
                5 => $f::<5>($($arg),*),
                4 => $f::<4>($($arg),*),
                3 => $f::<3>($($arg),*),
                2 => $f::<2>($($arg),*),
                _ => $f::<1>($($arg),*),
            }
            $first += n * $lanes;
        }
    }};
}
#[cfg(target_arch = "x86_64")]
pub(super) use in_groups;

/// What a walk does with the leaf each row reaches.
pub(super) enum Sink<'a> {
    /// Stores the leaf's preorder index.
    Leaf(&'a mut [u32]),
    /// Adds the leaf's value (times the tree's weight: `f32(v × w)`) to the
    /// row's running sum.
    Sum {
        acc: &'a mut [f32],
        weight: Option<f32>,
    },
}

impl Sink<'_> {
    /// How many rows it takes.
    pub(super) fn rows(&self) -> usize {
        match self {
            Sink::Leaf(i) => i.len(),
            Sink::Sum { acc, .. } => acc.len(),
        }
    }
}

// ---------------------------------------------------------------------------
// Preorder layout

/// Walks `depth` levels of the tree at `root` for every row of the block,
/// leaving each row's leaf in `idx` (one entry per row).
///
/// `kernel` must come from [`usable`] for these `nodes` and this block's
/// size, and every node index reachable from `root` must be in `nodes`
/// (which `compile_tree` guarantees).
pub(super) fn walk(
    kernel: Kernel,
    nodes: &[Node],
    root: u32,
    depth: u32,
    block: &Block<'_>,
    idx: &mut [u32],
) {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if block.holds(idx.len(), 16) => {
            // SAFETY: the CPU has AVX-512F and offsets fit i32 (`usable`);
            // the block holds whole vectors of rows (checked); every node
            // reachable from `root` is in `nodes` (compile_tree).
            unsafe { super::avx512::walk(nodes, root, depth, block, idx) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if block.holds(idx.len(), 8) => {
            // SAFETY: as above, for AVX2.
            unsafe { super::avx2::walk(nodes, root, depth, block, idx) }
        }
        _ => portable(nodes, root, depth, block, idx),
    }
}

fn portable(nodes: &[Node], root: u32, depth: u32, block: &Block<'_>, idx: &mut [u32]) {
    idx.fill(root);
    for _ in 0..depth {
        for (r, i) in idx.iter_mut().enumerate() {
            let n = &nodes[*i as usize];
            let v = block.x(r, n.flags & FEAT_MASK);
            let dl = n.flags & DEFAULT_LEFT != 0;
            let left = (v < n.value) | (v.is_nan() & dl);
            // Arithmetic select: a branch here would be mispredicted half
            // the time.
            let m = u32::from(left).wrapping_neg();
            *i = ((*i + 1) & m) | (n.right & !m);
        }
    }
}

// ---------------------------------------------------------------------------
// Heap layout
//
// A tree of depth D ≤ 10 that is not too sparse is also laid out as a
// complete binary tree of depth D in heap order. A leaf above the last level
// becomes a pass-through node (feature: the always-missing padding column,
// default left) over copies of itself. After D steps the walk is at heap
// position 2^D − 1 + b, and bottom slot b holds the leaf reached (its
// preorder index and its value), the leaf the preorder walk reaches.

/// The deepest tree given a heap layout (2^10 − 1 nodes and 2^10 leaves).
const MAX_HEAP_DEPTH: u32 = 10;

/// Memory for heap layouts per forest; trees beyond it walk in preorder.
const MAX_HEAP_BYTES: usize = 256 << 20;

/// Nodes of a heap's top levels the SIMD walks load at once (levels 0 – 4);
/// the node array is padded so that the last tree's load stays inside it.
pub(super) const HEAP_TOP: usize = 64;

/// One heap node: the split's flags and threshold (8 bytes).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(super) struct HeapNode {
    pub flags: u32,
    pub value: f32,
}

const PASS_THROUGH: HeapNode = HeapNode {
    flags: DEFAULT_LEFT | FEAT_MASK,
    value: f32::NAN,
};

/// Where one tree's heap lives in [`Heaps`].
#[derive(Debug, Clone, Copy)]
pub(super) struct Heap {
    /// Levels (2^depth − 1 nodes, 2^depth bottom slots).
    pub depth: u32,
    /// Index of its first node in `Heaps::nodes`.
    pub nodes: u32,
    /// Index of its first bottom slot in `Heaps::leaf_index` / `leaf_value`.
    pub leaves: u32,
}

/// The heap layouts of a forest's trees (those that have one).
#[derive(Debug, Clone, Default)]
pub(super) struct Heaps {
    /// Every heap's nodes, then [`HEAP_TOP`] pass-through nodes; all
    /// offsets below `i32::MAX`.
    pub nodes: Vec<HeapNode>,
    pub leaf_index: Vec<u32>,
    pub leaf_value: Vec<f32>,
    trees: Vec<Option<Heap>>,
}

/// One tree's heap, as the kernels read it.
pub(super) struct HeapView<'a> {
    /// The tree's 2^depth − 1 nodes, then at least [`HEAP_TOP`] more.
    pub nodes: &'a [HeapNode],
    /// Per bottom slot (2^depth of them): the leaf's preorder index.
    pub leaf_index: &'a [u32],
    /// Per bottom slot: the leaf's value.
    pub leaf_value: &'a [f32],
    pub depth: u32,
}

impl Heaps {
    /// Lays out the next tree (`count` preorder nodes from `root`, deepest
    /// leaf `depth` steps down) as a heap when it is shallow and not too
    /// sparse (2^depth ≤ 8 × count + 64, so the heap's 12 bytes per bottom
    /// slot stay within about 8 times the tree's 12-byte preorder nodes).
    pub(super) fn push(&mut self, nodes: &[Node], root: u32, depth: u32, count: usize) {
        let heap = self.lay_out(nodes, root, depth, count);
        self.trees.push(heap);
    }

    /// Records that the next tree has no heap layout.
    pub(super) fn push_none(&mut self) {
        self.trees.push(None);
    }

    fn lay_out(&mut self, nodes: &[Node], root: u32, depth: u32, count: usize) -> Option<Heap> {
        if depth > MAX_HEAP_DEPTH || (1usize << depth) > count.saturating_mul(8) + 64 {
            return None;
        }
        let inner = (1usize << depth) - 1;
        let (n0, l0) = (self.nodes.len(), self.leaf_index.len());
        // 8 bytes per node, 8 per bottom slot (index and value).
        if (n0 + inner + l0 + inner + 1) * 8 > MAX_HEAP_BYTES {
            return None;
        }
        let heap = Heap {
            depth,
            nodes: u32::try_from(n0).ok()?,
            leaves: u32::try_from(l0).ok()?,
        };
        // Heap positions and leaf slots are i32 gather offsets.
        i32::try_from(n0 + inner + HEAP_TOP).ok()?;
        i32::try_from(l0 + inner + 1).ok()?;
        self.nodes.resize(n0 + inner, PASS_THROUGH);
        self.leaf_index.resize(l0 + inner + 1, root);
        self.leaf_value.resize(l0 + inner + 1, 0.0);
        // (preorder index, heap position, level)
        let mut stack = vec![(root as usize, 0usize, 0u32)];
        while let Some((p, h, level)) = stack.pop() {
            let Some(node) = nodes.get(p) else {
                return self.undo(n0, l0);
            };
            let leaf = node.flags & LEAF != 0;
            if level == depth {
                if !leaf {
                    // Deeper than `depth`: not the tree it was said to be.
                    return self.undo(n0, l0);
                }
                self.leaf_index[l0 + h - inner] = p as u32;
                self.leaf_value[l0 + h - inner] = node.value;
                continue;
            }
            let (l, r) = if leaf {
                (p, p)
            } else {
                self.nodes[n0 + h] = HeapNode {
                    flags: node.flags,
                    value: node.value,
                };
                (p + 1, node.right as usize)
            };
            stack.push((r, 2 * h + 2, level + 1));
            stack.push((l, 2 * h + 1, level + 1));
        }
        Some(heap)
    }

    fn undo(&mut self, n0: usize, l0: usize) -> Option<Heap> {
        self.nodes.truncate(n0);
        self.leaf_index.truncate(l0);
        self.leaf_value.truncate(l0);
        None
    }

    /// Pads the node array for the SIMD walks' loads of a tree's top
    /// levels (call once, after the last tree).
    pub(super) fn finish(&mut self) {
        self.nodes.extend([PASS_THROUGH; HEAP_TOP]);
    }

    /// The heap of tree `t`, if it has one.
    pub(super) fn of(&self, t: usize) -> Option<HeapView<'_>> {
        self.view(self.heap(t)?)
    }

    /// Where the heap of tree `t` lies, if it has one.
    pub(super) fn heap(&self, t: usize) -> Option<Heap> {
        self.trees.get(t).copied().flatten()
    }

    /// The arrays of one heap.
    fn view(&self, h: Heap) -> Option<HeapView<'_>> {
        let inner = (1usize << h.depth) - 1;
        let (n, l) = (h.nodes as usize, h.leaves as usize);
        Some(HeapView {
            nodes: self.nodes.get(n..n + inner + HEAP_TOP)?,
            leaf_index: self.leaf_index.get(l..l + inner + 1)?,
            leaf_value: self.leaf_value.get(l..l + inner + 1)?,
            depth: h.depth,
        })
    }
}

/// Walks a tree's heap for every row of the block (as many as `sink` has)
/// and hands each row's leaf to `sink`. `kernel` must come from [`usable`].
pub(super) fn walk_heap(kernel: Kernel, heap: &HeapView<'_>, block: &Block<'_>, sink: Sink<'_>) {
    let rows = sink.rows();
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 if block.holds(rows, 16) => {
            // SAFETY: the CPU has AVX-512F and offsets fit i32 (`usable`);
            // the block holds whole vectors of rows (checked);
            // the view's slices have the lengths `HeapView` documents
            // (`Heaps::of` slices them), which bound every heap position and
            // bottom slot a walk of `depth` steps reaches.
            unsafe { super::avx512::walk_heap(heap, block, sink) }
        }
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 if block.holds(rows, 8) => {
            // SAFETY: as above, for AVX2.
            unsafe { super::avx2::walk_heap(heap, block, sink) }
        }
        _ => portable_heap(heap, block, sink),
    }
}

fn portable_heap(heap: &HeapView<'_>, block: &Block<'_>, mut sink: Sink<'_>) {
    // Rows step in lockstep, as in the preorder walk (one row at a time is
    // a chain of dependent loads).
    let mut at = [0usize; 64];
    let rows = sink.rows();
    for first in (0..rows).step_by(at.len()) {
        let n = (rows - first).min(at.len());
        let at = &mut at[..n];
        at.fill(0);
        for _ in 0..heap.depth {
            for (r, h) in at.iter_mut().enumerate() {
                let node = &heap.nodes[*h];
                let v = block.x(first + r, node.flags & FEAT_MASK);
                let dl = node.flags & DEFAULT_LEFT != 0;
                let left = (v < node.value) | (v.is_nan() & dl);
                *h = 2 * *h + 2 - usize::from(left);
            }
        }
        let inner = (1usize << heap.depth) - 1;
        let slots = at.iter().map(|h| h - inner);
        match &mut sink {
            Sink::Leaf(idx) => {
                for (i, b) in idx[first..first + n].iter_mut().zip(slots) {
                    *i = heap.leaf_index[b];
                }
            }
            Sink::Sum { acc, weight } => {
                for (a, b) in acc[first..first + n].iter_mut().zip(slots) {
                    let v = heap.leaf_value[b];
                    *a += match *weight {
                        Some(w) => v * w,
                        None => v,
                    };
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// One row, many trees
//
// A batch of a few rows cannot fill SIMD lanes, and one row walking one tree
// at a time is a chain of dependent loads that mostly miss the cache (a
// large model's trees do not fit in it). Walking up to `TREES_AT_ONCE`
// trees together for the same row lets those loads overlap.

/// Trees walked together for one row.
pub(super) const TREES_AT_ONCE: usize = 64;

/// The leaf values row `row` reaches in each of the heaps `trees` (at most
/// [`TREES_AT_ONCE`], all from `heaps`), into `values`. `row` holds the
/// row's `cols` values and then its always-missing padding column.
pub(super) fn heaps_for_row(
    kernel: Kernel,
    heaps: &Heaps,
    trees: &[Heap],
    row: &[f32],
    cols: usize,
    values: &mut [f32],
) {
    let trees = &trees[..trees.len().min(TREES_AT_ONCE).min(values.len())];
    #[cfg(target_arch = "x86_64")]
    if kernel == Kernel::Avx512 && row.len() > cols && !trees.is_empty() {
        // SAFETY: the CPU has AVX-512F and AVX2 (`usable`); the row holds
        // its padding column (checked); the heaps are `heaps`' own, whose
        // offsets fit i32 (`Heaps::lay_out`).
        unsafe { super::avx512::heaps_for_row(heaps, trees, row, cols, values) };
        return;
    }
    let _ = kernel;
    // Portable: 16 trees at a time (measured faster than 64 here).
    for (trees, values) in trees.chunks(16).zip(values.chunks_mut(16)) {
        let mut at = [0usize; 16];
        let views: [Option<HeapView<'_>>; 16] =
            std::array::from_fn(|i| trees.get(i).and_then(|&h| heaps.view(h)));
        let views = || views.iter().flatten();
        let depth = views().map(|t| t.depth).max().unwrap_or(0);
        for level in 0..depth {
            for (h, tree) in at.iter_mut().zip(views()) {
                if level < tree.depth {
                    let node = &tree.nodes[*h];
                    let feat = ((node.flags & FEAT_MASK) as usize).min(cols);
                    let v = row[feat];
                    let dl = node.flags & DEFAULT_LEFT != 0;
                    let left = (v < node.value) | (v.is_nan() & dl);
                    *h = 2 * *h + 2 - usize::from(left);
                }
            }
        }
        for ((value, h), tree) in values.iter_mut().zip(at).zip(views()) {
            *value = tree.leaf_value[h - ((1usize << tree.depth) - 1)];
        }
    }
}
