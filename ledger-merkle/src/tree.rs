//! [`MerkleTree`]: an append-only tree of leaf hashes with lazily computed interior nodes.
//!
//! # Representation
//!
//! Level `l` holds the nodes `(l, i)`, each the root of the perfect subtree over leaves
//! `[i << l, (i + 1) << l)`, from index `start` on (nodes left of `start` have been pruned or
//! were never loaded), in fixed-size chunks so that appending never copies stored nodes and
//! pruning frees whole chunks. Only *complete* nodes are stored: a node is
//! complete at size `n` when `(i + 1) << l <= n`, and it then never changes while the tree
//! grows. Proofs are index arithmetic plus lookups. The nodes of RFC 9162's tree over `n` leaves
//! that are not complete (the right edge of a tree whose size is not a power of two) are
//! "bags": right folds of the *peaks* of `n`, the complete node `(l, (n >> l) - 1)` for every set
//! bit `l` of `n`.
//!
//! # Laziness
//!
//! [`MerkleTree::push`] only appends the leaf. Interior nodes are computed when something needs
//! them: [`MerkleTree::root`], [`MerkleTree::seal`], [`MerkleTree::take_dirty_tiles`], or the
//! first proof or historical root asked for after a push. Sealing hashes every node that became
//! complete since the previous seal, level by level, each exactly once, and caches the bags of
//! the current size (`popcount(len) - 1` hashes) so the current root and every proof at the
//! current size are pure lookups. Roots and proofs at an older size fold that size's peaks
//! again (at most 63 hashes): no stored node is ever recomputed.
//!
//! Queries take `&self`. The lazily filled state sits behind a [`std::sync::RwLock`] that
//! `&mut self` methods reach without locking; a query takes the read lock, and only the first
//! query after a push takes the write lock, once, to seal.
//!
//! # Bounds
//!
//! Sizes and indices are `u64`. Every request is checked against [`MerkleTree::len`]: a size
//! above it is [`MerkleError::SizeOutOfRange`], a leaf index not below its size is
//! [`MerkleError::IndexOutOfRange`], a consistency request with `size1 == 0` or
//! `size1 > size2` is [`MerkleError::InvalidConsistencySizes`]. The empty tree's root is the
//! profile's [`TreeHasher::empty_root`]. Nothing panics on caller input.
//!
//! # The tile seam
//!
//! Nodes are persisted in [`Tile`]s (see [`crate::tile`]). [`MerkleTree::take_dirty_tiles`]
//! seals the tree and hands out every tile whose set of complete nodes changed since the
//! previous call (the *clean size*); a store that writes them all has every complete node of
//! the tree at that size. Invariants:
//!
//! * A tile is full exactly when its rightmost bottom node is complete, and a full tile never
//!   changes. Only the last tile of each row (the *frontier* tile) can be partial; it holds
//!   every peak of the tree's size that lies in its row.
//! * [`MerkleTree::prune`] drops only nodes of tiles that were already full at the clean size
//!   (so they were handed out) and lie entirely before the given leaf. Frontier tiles, and so
//!   the peaks needed to keep appending, always stay in memory.
//! * [`MerkleTree::open`] rebuilds the tree of a given size from the frontier tile of each row
//!   alone (at most one load per 8 levels, no hashing of stored nodes) and sets the clean size
//!   to that size, so it continues exactly as the tree that handed those tiles out would.
//! * [`MerkleTree::truncate`] lowers the clean size too, so the frontier tiles rewritten after
//!   a rollback are handed out again. It refuses to cut into a tile no longer held in memory.
//! * The `*_with` queries read nodes missing from memory from a [`TileStore`]; the plain ones
//!   report them as [`MerkleError::MissingNode`].

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use crate::proof::{bit_len, consistency_proof_len, inclusion_proof_len};
use crate::tile::{Tile, TileId, TileStore, TILE_HEIGHT};
use crate::{Digest, MerkleError, TreeHasher};

/// An append-only Merkle tree over leaf hashes, with the RFC 9162 shape and the hashing
/// profile `H`. See the [module documentation](self) for the representation and invariants.
pub struct MerkleTree<H: TreeHasher> {
    /// Number of leaves.
    len: u64,
    /// Size at which every tile was last handed out (or loaded); see `take_dirty_tiles`.
    clean_size: u64,
    /// The stored nodes, filled lazily by `Nodes::seal`.
    nodes: RwLock<Nodes>,
    hasher: PhantomData<fn() -> H>,
}

/// A stored node, aligned so that it never straddles two cache lines: a proof in a large tree
/// is a series of cache misses, one per level, and a straddling node would cost two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(32))]
struct Node(Digest);

/// Nodes per storage chunk of a level (256 KiB). A level grows chunk by chunk, so appending
/// never copies stored nodes (a growing `Vec` would copy and re-fault its whole buffer at every
/// doubling), and pruning releases whole chunks.
const CHUNK_BITS: u32 = 13;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: u64 = CHUNK as u64 - 1;

/// The nodes held in memory for one level.
///
/// Slot `k` of the level (node index `base + k`) is `chunks[k / CHUNK][k % CHUNK]`; every
/// chunk but the last holds exactly `CHUNK` nodes. Nodes below `start` (`base <= start`) may
/// still occupy slots of the first chunk but count as dropped. `base` is even, so the two
/// children of a node never lie in different chunks.
#[derive(Clone, Debug, Default)]
struct Level {
    start: u64,
    base: u64,
    chunks: Vec<Vec<Node>>,
}

impl Level {
    /// An empty level whose first node will be `start`.
    fn empty_at(start: u64) -> Self {
        Self {
            start,
            base: start,
            chunks: Vec::new(),
        }
    }

    fn end(&self) -> u64 {
        match self.chunks.last() {
            Some(last) => {
                self.base + ((self.chunks.len() as u64 - 1) << CHUNK_BITS) + last.len() as u64
            }
            None => self.base,
        }
    }

    /// Number of nodes held.
    fn held(&self) -> u64 {
        self.end() - self.start
    }

    #[inline]
    fn get(&self, index: u64) -> Option<&Digest> {
        if index < self.start {
            return None;
        }
        let slot = index - self.base;
        let chunk = self.chunks.get(usize::try_from(slot >> CHUNK_BITS).ok()?)?;
        chunk.get((slot & CHUNK_MASK) as usize).map(|n| &n.0)
    }

    fn last(&self) -> Option<&Digest> {
        self.chunks.last().and_then(|c| c.last()).map(|n| &n.0)
    }

    fn push(&mut self, node: Node) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => {
                if last.len() == last.capacity() {
                    // Only a level's first chunk grows by doubling (small trees stay small).
                    let want = (2 * last.len()).clamp(8, CHUNK);
                    last.reserve_exact(want - last.len());
                }
                last.push(node);
            }
            _ => {
                let mut chunk = Vec::with_capacity(if self.chunks.is_empty() { 8 } else { CHUNK });
                chunk.push(node);
                self.chunks.push(chunk);
            }
        }
    }

    /// The held nodes `first .. first + count` as contiguous runs, in order. All of them must
    /// be held; runs split only at chunk boundaries, which are even indices.
    fn runs(&self, first: u64, count: u64) -> impl Iterator<Item = &[Node]> {
        debug_assert!(first >= self.start && first + count <= self.end());
        let mut slot = first - self.base;
        let mut left = count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let chunk = &self.chunks[(slot >> CHUNK_BITS) as usize];
            let from = (slot & CHUNK_MASK) as usize;
            let take = (chunk.len() - from).min(left as usize);
            slot += take as u64;
            left -= take as u64;
            Some(&chunk[from..from + take])
        })
    }

    fn truncate(&mut self, end: u64) {
        let keep = end.saturating_sub(self.base);
        let full = (keep >> CHUNK_BITS) as usize;
        let rest = (keep & CHUNK_MASK) as usize;
        if rest == 0 {
            self.chunks.truncate(full);
        } else {
            self.chunks.truncate(full + 1);
            if let Some(last) = self.chunks.last_mut() {
                last.truncate(rest);
            }
        }
    }

    /// Drops the nodes below `start`, releasing every chunk that lies entirely below it.
    fn drop_before(&mut self, start: u64) {
        if start <= self.start {
            return;
        }
        self.start = start.min(self.end());
        let whole = ((self.start - self.base) >> CHUNK_BITS) as usize;
        let whole = whole.min(self.chunks.len().saturating_sub(1));
        if whole > 0 {
            self.chunks.drain(..whole);
            self.base += (whole as u64) << CHUNK_BITS;
        }
    }
}

/// Everything that lazily filled queries may write.
///
/// Invariant: level `l` never holds a node that is not complete at the tree's size, and every
/// node whose parent is not yet computed is held (so sealing always finds its inputs).
#[derive(Clone, Debug, Default)]
struct Nodes {
    /// `levels[0]` holds the leaves.
    levels: Vec<Level>,
    /// `Some(n)`: every level holds all nodes complete at `n`, and `bags` is for `n`.
    sealed: Option<u64>,
    /// `bags[k]`: right fold of the `k + 1` lowest peaks of the sealed size; the last one is
    /// the root.
    bags: Vec<Digest>,
}

impl Nodes {
    fn seal<H: TreeHasher>(&mut self, len: u64) {
        if self.sealed == Some(len) {
            return;
        }
        let height = bit_len(len) as usize;
        if self.levels.len() < height {
            self.levels.resize_with(height, Level::default);
        }
        for l in 1..height {
            let (below, above) = self.levels.split_at_mut(l);
            let (Some(child), Some(level)) = (below.last(), above.first_mut()) else {
                break;
            };
            let first = level.end();
            let target = len >> l;
            if first >= target {
                continue;
            }
            for run in child.runs(2 * first, 2 * (target - first)) {
                for pair in run.chunks_exact(2) {
                    level.push(Node(H::hash_children(&pair[0].0, &pair[1].0)));
                }
            }
        }
        self.bags.clear();
        let mut acc: Option<Digest> = None;
        for (l, level) in self.levels.iter().enumerate().take(height) {
            if (len >> l) & 1 == 1 {
                if let Some(peak) = level.last() {
                    let bag = match acc {
                        None => *peak,
                        Some(right) => H::hash_children(peak, &right),
                    };
                    self.bags.push(bag);
                    acc = Some(bag);
                }
            }
        }
        self.sealed = Some(len);
    }

    /// The root over the peaks of `size` below `level`, when `size` is the sealed size.
    fn cached_bag(&self, size: u64, level: u32) -> Option<Digest> {
        if self.sealed != Some(size) {
            return None;
        }
        let below = size & low_mask(level);
        let count = below.count_ones() as usize;
        count.checked_sub(1).and_then(|k| self.bags.get(k)).copied()
    }
}

/// `x >> s`, 0 when `s >= 64`.
fn shr(x: u64, s: u32) -> u64 {
    x.checked_shr(s).unwrap_or(0)
}

/// The bits of `x` below bit `level` are `x & low_mask(level)`.
fn low_mask(level: u32) -> u64 {
    1u64.checked_shl(level).map_or(u64::MAX, |b| b - 1)
}

/// First node at `level` of the frontier tile of its row for a tree of `size` leaves: every
/// node of that level left of it lies in a tile that is full at `size`.
fn frontier_start(level: u32, size: u64) -> u64 {
    let height = u32::from(TILE_HEIGHT);
    let next_row = (level / height + 1) * height;
    shr(size, next_row) << (height - level % height)
}

/// Where query nodes come from: memory only, or memory then a tile store.
trait NodeSource {
    fn node(&self, level: u32, index: u64) -> Result<Digest, MerkleError>;
}

struct Memory<'a> {
    nodes: &'a Nodes,
}

impl NodeSource for Memory<'_> {
    #[inline]
    fn node(&self, level: u32, index: u64) -> Result<Digest, MerkleError> {
        self.nodes
            .levels
            .get(level as usize)
            .and_then(|l| l.get(index))
            .copied()
            .ok_or(MerkleError::MissingNode {
                level: level as u8,
                index,
            })
    }
}

struct Stored<'a, S> {
    memory: Memory<'a>,
    store: &'a S,
    /// Tiles loaded for the current query.
    tiles: RefCell<Vec<Tile>>,
}

impl<S: TileStore> NodeSource for Stored<'_, S> {
    fn node(&self, level: u32, index: u64) -> Result<Digest, MerkleError> {
        if let Ok(digest) = self.memory.node(level, index) {
            return Ok(digest);
        }
        let missing = MerkleError::MissingNode {
            level: level as u8,
            index,
        };
        let height = u32::from(TILE_HEIGHT);
        let h = level % height;
        let id = TileId {
            row: (level / height) as u8,
            index: index >> (height - h),
        };
        let offset = index - (id.index << (height - h));
        let mut tiles = self.tiles.borrow_mut();
        if !tiles.iter().any(|t| t.id() == id) {
            let tile = self.store.load_tile(id)?.ok_or(missing)?;
            if tile.id() != id {
                return Err(MerkleError::MalformedTile {
                    id,
                    reason: format!("the store returned tile {:?}", tile.id()),
                });
            }
            tiles.push(tile);
        }
        tiles
            .iter()
            .find(|t| t.id() == id)
            .and_then(|t| t.node(h as u8, offset))
            .copied()
            .ok_or(MerkleError::MissingNode {
                level: level as u8,
                index,
            })
    }
}

impl<H: TreeHasher> MerkleTree<H> {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            len: 0,
            clean_size: 0,
            nodes: RwLock::new(Nodes::default()),
            hasher: PhantomData,
        }
    }

    /// Appends one leaf hash. O(1) amortized: no hashing happens here.
    pub fn push(&mut self, leaf_hash: Digest) {
        let nodes = self.nodes.get_mut().unwrap_or_else(PoisonError::into_inner);
        if nodes.levels.is_empty() {
            nodes.levels.push(Level::default());
        }
        if let Some(leaves) = nodes.levels.first_mut() {
            leaves.push(Node(leaf_hash));
        }
        self.len += 1;
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Computes every interior node that is complete but not yet hashed, and the bags of the
    /// current size. Idempotent; [`MerkleTree::root`] and the queries call it as needed.
    pub fn seal(&mut self) {
        let len = self.len;
        self.nodes
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .seal::<H>(len);
    }

    /// The root over all leaves (the profile's empty root for an empty tree).
    pub fn root(&mut self) -> Digest {
        self.seal();
        let nodes = self.nodes.get_mut().unwrap_or_else(PoisonError::into_inner);
        nodes.bags.last().copied().unwrap_or_else(H::empty_root)
    }

    /// The leaf hash at `index`.
    ///
    /// # Errors
    ///
    /// [`MerkleError::IndexOutOfRange`] if `index >= len()`; [`MerkleError::MissingNode`] if
    /// the leaf was pruned from memory.
    pub fn leaf(&self, index: u64) -> Result<Digest, MerkleError> {
        if index >= self.len {
            return Err(MerkleError::IndexOutOfRange {
                index,
                size: self.len,
            });
        }
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        Memory { nodes: &nodes }.node(0, index)
    }

    /// The root of the tree formed by the first `size` leaves.
    ///
    /// # Errors
    ///
    /// [`MerkleError::SizeOutOfRange`] if `size > len()`; [`MerkleError::MissingNode`] if a
    /// node it needs was pruned (use [`MerkleTree::root_at_with`]).
    pub fn root_at(&self, size: u64) -> Result<Digest, MerkleError> {
        let nodes = self.sealed();
        root_at_in::<H, _>(&nodes, &Memory { nodes: &nodes }, size, self.len)
    }

    /// The inclusion proof (RFC 9162 audit path, leaf to root) of leaf `index` in the tree of
    /// the first `size` leaves.
    ///
    /// # Errors
    ///
    /// [`MerkleError::SizeOutOfRange`] if `size > len()`, [`MerkleError::IndexOutOfRange`] if
    /// `index >= size`, [`MerkleError::MissingNode`] if a node it needs was pruned (use
    /// [`MerkleTree::inclusion_proof_with`]).
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Digest>, MerkleError> {
        let nodes = self.sealed();
        inclusion_in::<H, _>(&nodes, &Memory { nodes: &nodes }, index, size, self.len)
    }

    /// The consistency proof (RFC 9162 section 2.1.4) from the tree of the first `size1`
    /// leaves to the tree of the first `size2` leaves; empty when the sizes are equal.
    ///
    /// # Errors
    ///
    /// [`MerkleError::InvalidConsistencySizes`] if `size1 == 0` or `size1 > size2`,
    /// [`MerkleError::SizeOutOfRange`] if `size2 > len()`, [`MerkleError::MissingNode`] if a
    /// node it needs was pruned (use [`MerkleTree::consistency_proof_with`]).
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Digest>, MerkleError> {
        let nodes = self.sealed();
        consistency_in::<H, _>(&nodes, &Memory { nodes: &nodes }, size1, size2, self.len)
    }

    /// [`MerkleTree::root_at`], reading nodes no longer in memory from `store`.
    ///
    /// # Errors
    ///
    /// As [`MerkleTree::root_at`]; [`MerkleError::MissingNode`] only if the store lacks the
    /// node too; [`MerkleError::Store`] or [`MerkleError::MalformedTile`] if loading fails.
    pub fn root_at_with<S: TileStore>(&self, store: &S, size: u64) -> Result<Digest, MerkleError> {
        let nodes = self.sealed();
        root_at_in::<H, _>(&nodes, &stored(&nodes, store), size, self.len)
    }

    /// [`MerkleTree::inclusion_proof`], reading nodes no longer in memory from `store`.
    ///
    /// # Errors
    ///
    /// As [`MerkleTree::inclusion_proof`]; [`MerkleError::MissingNode`] only if the store
    /// lacks the node too; [`MerkleError::Store`] or [`MerkleError::MalformedTile`] if loading
    /// fails.
    pub fn inclusion_proof_with<S: TileStore>(
        &self,
        store: &S,
        index: u64,
        size: u64,
    ) -> Result<Vec<Digest>, MerkleError> {
        let nodes = self.sealed();
        inclusion_in::<H, _>(&nodes, &stored(&nodes, store), index, size, self.len)
    }

    /// [`MerkleTree::consistency_proof`], reading nodes no longer in memory from `store`.
    ///
    /// # Errors
    ///
    /// As [`MerkleTree::consistency_proof`]; [`MerkleError::MissingNode`] only if the store
    /// lacks the node too; [`MerkleError::Store`] or [`MerkleError::MalformedTile`] if loading
    /// fails.
    pub fn consistency_proof_with<S: TileStore>(
        &self,
        store: &S,
        size1: u64,
        size2: u64,
    ) -> Result<Vec<Digest>, MerkleError> {
        let nodes = self.sealed();
        consistency_in::<H, _>(&nodes, &stored(&nodes, store), size1, size2, self.len)
    }

    /// Drops every leaf from `size` on (the rollback of an uncommitted tail). The tree is then
    /// exactly the tree built from the first `size` leaves; tiles it changes afterwards are
    /// handed out again by [`MerkleTree::take_dirty_tiles`].
    ///
    /// # Errors
    ///
    /// [`MerkleError::SizeOutOfRange`] if `size > len()`; [`MerkleError::MissingNode`] if the
    /// frontier of `size` lies in a tile already pruned from memory (or not loaded by
    /// [`MerkleTree::open`]); the tree is then unchanged.
    pub fn truncate(&mut self, size: u64) -> Result<(), MerkleError> {
        if size > self.len {
            return Err(MerkleError::SizeOutOfRange {
                size,
                len: self.len,
            });
        }
        if size == self.len {
            return Ok(());
        }
        let nodes = self.nodes.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (l, level) in nodes.levels.iter().enumerate() {
            let needed = frontier_start(l as u32, size);
            if level.start > needed {
                return Err(MerkleError::MissingNode {
                    level: l as u8,
                    index: needed,
                });
            }
        }
        for (l, level) in nodes.levels.iter_mut().enumerate() {
            level.truncate(shr(size, l as u32));
        }
        nodes.sealed = None;
        self.len = size;
        self.clean_size = self.clean_size.min(size);
        Ok(())
    }

    /// Seals the tree and returns every tile whose complete nodes changed since the previous
    /// call (or since [`MerkleTree::open`]), full or partial, in `(row, index)` order. Storing
    /// them all makes the store hold every complete node of the tree at its current size.
    pub fn take_dirty_tiles(&mut self) -> Vec<Tile> {
        self.seal();
        let len = self.len;
        let clean = self.clean_size;
        let nodes = self.nodes.get_mut().unwrap_or_else(PoisonError::into_inner);
        let height = u32::from(TILE_HEIGHT);
        let tiles = TileId::changed_between(clean, len)
            .map(|id| {
                let bottom = u32::from(id.bottom_level());
                let width = id.width_at(len);
                let levels = (0..height)
                    .map(|h| {
                        let count = width >> h;
                        match nodes.levels.get((bottom + h) as usize) {
                            Some(level) if count > 0 => {
                                let runs = level.runs(id.index << (height - h), count);
                                runs.flatten().map(|n| n.0).collect()
                            }
                            _ => Vec::new(),
                        }
                    })
                    .collect();
                Tile::from_parts(id, levels)
            })
            .collect();
        self.clean_size = len;
        tiles
    }

    /// Drops from memory the nodes of every tile that lies entirely before leaf `before_leaf`
    /// and was already full when [`MerkleTree::take_dirty_tiles`] last ran (so it was handed
    /// out). Frontier tiles stay, so pushing, sealing and proofs over retained nodes go on
    /// working; queries needing dropped nodes go through the `*_with` methods.
    pub fn prune(&mut self, before_leaf: u64) {
        let bound = before_leaf.min(self.clean_size);
        let nodes = self.nodes.get_mut().unwrap_or_else(PoisonError::into_inner);
        for (l, level) in nodes.levels.iter_mut().enumerate() {
            level.drop_before(frontier_start(l as u32, bound));
        }
    }

    /// Number of nodes (leaves included) held in memory: what [`MerkleTree::prune`] bounds.
    pub fn nodes_in_memory(&self) -> u64 {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        nodes.levels.iter().map(Level::held).sum()
    }

    /// The first leaf index still held in memory (`len()` if none is).
    pub fn retained_from(&self) -> u64 {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        nodes.levels.first().map_or(self.len, |l| l.start)
    }

    /// Reopens the tree of `size` leaves from `store`, loading only the frontier tile of each
    /// row (at most one per 8 levels) and hashing nothing but the bags of `size` (fewer than
    /// 64 hashes). The reopened tree behaves as the tree that handed the stored tiles out did
    /// at `size`, including which tiles [`MerkleTree::take_dirty_tiles`] returns next.
    ///
    /// A stored tile with more nodes than `size` allows (left over from a longer tree that was
    /// truncated) is cut back to `size`.
    ///
    /// # Errors
    ///
    /// [`MerkleError::MissingNode`] if a frontier tile is absent or has fewer nodes than `size`
    /// requires; [`MerkleError::MalformedTile`] if the store returns a tile of another id;
    /// [`MerkleError::Store`] if loading fails.
    pub fn open<S: TileStore>(store: &S, size: u64) -> Result<Self, MerkleError> {
        let height = u32::from(TILE_HEIGHT);
        let levels_len = bit_len(size);
        let mut levels: Vec<Level> = (0..levels_len)
            .map(|l| Level::empty_at(frontier_start(l, size)))
            .collect();
        for row in 0..levels_len.div_ceil(height) {
            let bottom = row * height;
            let complete = size >> bottom;
            let width = complete & ((1 << height) - 1);
            if width == 0 {
                continue;
            }
            let id = TileId {
                row: row as u8,
                index: complete >> height,
            };
            let first_missing = MerkleError::MissingNode {
                level: bottom as u8,
                index: id.index << height,
            };
            let tile = store.load_tile(id)?.ok_or(first_missing)?;
            if tile.id() != id {
                return Err(MerkleError::MalformedTile {
                    id,
                    reason: format!("the store returned tile {:?}", tile.id()),
                });
            }
            let tile = match tile.truncated(size) {
                Some(t) if t.width() == width => t,
                _ => {
                    return Err(MerkleError::MissingNode {
                        level: bottom as u8,
                        index: (id.index << height) + tile.width(),
                    })
                }
            };
            for (h, nodes) in tile.into_levels().into_iter().enumerate() {
                if let Some(level) = levels.get_mut(bottom as usize + h) {
                    for node in nodes {
                        level.push(Node(node));
                    }
                }
            }
        }
        let mut nodes = Nodes {
            levels,
            sealed: None,
            bags: Vec::new(),
        };
        nodes.seal::<H>(size);
        Ok(Self {
            len: size,
            clean_size: size,
            nodes: RwLock::new(nodes),
            hasher: PhantomData,
        })
    }

    /// A read guard on nodes sealed for the current size, sealing first if needed.
    fn sealed(&self) -> RwLockReadGuard<'_, Nodes> {
        {
            let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
            if nodes.sealed == Some(self.len) {
                return nodes;
            }
        }
        self.nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .seal::<H>(self.len);
        self.nodes.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stored<'a, S>(nodes: &'a Nodes, store: &'a S) -> Stored<'a, S> {
    Stored {
        memory: Memory { nodes },
        store,
        tiles: RefCell::new(Vec::new()),
    }
}

/// Right fold of the peaks of `size` below `level`, `None` if there are none.
fn bag<H: TreeHasher, S: NodeSource>(
    nodes: &Nodes,
    src: &S,
    size: u64,
    level: u32,
) -> Result<Option<Digest>, MerkleError> {
    if let Some(cached) = nodes.cached_bag(size, level) {
        return Ok(Some(cached));
    }
    let mut acc: Option<Digest> = None;
    for l in 0..level.min(u64::BITS) {
        let count = size >> l;
        if count & 1 == 1 {
            let peak = src.node(l, count - 1)?;
            acc = Some(match acc {
                None => peak,
                Some(right) => H::hash_children(&peak, &right),
            });
        }
    }
    Ok(acc)
}

fn root_at_in<H: TreeHasher, S: NodeSource>(
    nodes: &Nodes,
    src: &S,
    size: u64,
    len: u64,
) -> Result<Digest, MerkleError> {
    if size > len {
        return Err(MerkleError::SizeOutOfRange { size, len });
    }
    Ok(bag::<H, S>(nodes, src, size, u64::BITS)?.unwrap_or_else(H::empty_root))
}

fn inclusion_in<H: TreeHasher, S: NodeSource>(
    nodes: &Nodes,
    src: &S,
    index: u64,
    size: u64,
    len: u64,
) -> Result<Vec<Digest>, MerkleError> {
    if size > len {
        return Err(MerkleError::SizeOutOfRange { size, len });
    }
    let mut proof = Vec::with_capacity(inclusion_proof_len(index, size)?);
    append_path::<H, S>(nodes, src, 0, index, size, &mut proof)?;
    Ok(proof)
}

fn consistency_in<H: TreeHasher, S: NodeSource>(
    nodes: &Nodes,
    src: &S,
    size1: u64,
    size2: u64,
    len: u64,
) -> Result<Vec<Digest>, MerkleError> {
    let expected = consistency_proof_len(size1, size2)?;
    if size2 > len {
        return Err(MerkleError::SizeOutOfRange { size: size2, len });
    }
    let mut proof = Vec::with_capacity(expected);
    if size1 == size2 {
        return Ok(proof);
    }
    // The largest perfect subtree ending at size1, then its audit path in the tree of size2.
    let level = size1.trailing_zeros();
    let index = (size1 >> level) - 1;
    if index != 0 {
        proof.push(src.node(level, index)?);
    }
    append_path::<H, S>(nodes, src, level, index, size2, &mut proof)?;
    Ok(proof)
}

/// Appends the audit path of node `(level, index)` in the tree of `size` leaves, bottom up.
///
/// The *fork* is the ancestor of the node at which its path from the root parts from the path
/// to position `size` (the first position past the tree). The fork's subtree is complete, so
/// every sibling below it is a stored node; right of the fork, leaves `[fork end, size)` form
/// one bag of peaks; left of it, the complete subtrees covering `[0, fork start)` follow,
/// lowest first.
///
/// Requires `index < size >> level`.
fn append_path<H: TreeHasher, S: NodeSource>(
    nodes: &Nodes,
    src: &S,
    level: u32,
    index: u64,
    size: u64,
    out: &mut Vec<Digest>,
) -> Result<(), MerkleError> {
    let inner = bit_len(index ^ (size >> level)) - 1;
    // The siblings below the fork are most of the path and, in a large tree, mostly cache
    // misses: keep this loop small so the loads overlap.
    for step in 0..inner {
        let (l, i) = (level + step, (index >> step) ^ 1);
        if let Some(digest) = nodes.levels.get(l as usize).and_then(|lv| lv.get(i)) {
            // Copies straight from the node into the proof, with no stack temporary whose
            // stores would wait for the load too.
            out.extend_from_slice(std::slice::from_ref(digest));
        } else {
            out.push(lookup_elsewhere(src, l, i)?);
        }
    }
    let fork_level = level + inner;
    if size & low_mask(fork_level) != 0 {
        if let Some(right) = bag::<H, S>(nodes, src, size, fork_level)? {
            out.push(right);
        }
    }
    // The complete subtrees left of the fork: one per set bit of `begin` above the fork.
    let begin = (index >> inner) << fork_level;
    let mut left = shr(begin, fork_level + 1) << (fork_level + 1);
    while left != 0 {
        let l = left.trailing_zeros();
        out.push(lookup(nodes, src, l, (begin >> l) - 1)?);
        left &= left - 1;
    }
    Ok(())
}

/// Node `(level, index)` from memory, or from `src` when memory does not hold it.
#[inline(always)]
fn lookup<S: NodeSource>(
    nodes: &Nodes,
    src: &S,
    level: u32,
    index: u64,
) -> Result<Digest, MerkleError> {
    match nodes.levels.get(level as usize).and_then(|l| l.get(index)) {
        Some(digest) => Ok(*digest),
        None => lookup_elsewhere(src, level, index),
    }
}

#[cold]
#[inline(never)]
fn lookup_elsewhere<S: NodeSource>(src: &S, level: u32, index: u64) -> Result<Digest, MerkleError> {
    src.node(level, index)
}

impl<H: TreeHasher> Default for MerkleTree<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H: TreeHasher> Clone for MerkleTree<H> {
    fn clone(&self) -> Self {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        Self {
            len: self.len,
            clean_size: self.clean_size,
            nodes: RwLock::new(nodes.clone()),
            hasher: PhantomData,
        }
    }
}

impl<H: TreeHasher> fmt::Debug for MerkleTree<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes = self.nodes.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MerkleTree")
            .field("hasher", &std::any::type_name::<H>())
            .field("len", &self.len)
            .field("clean_size", &self.clean_size)
            .field("sealed", &nodes.sealed)
            .field(
                "retained_from",
                &nodes.levels.first().map_or(self.len, |l| l.start),
            )
            .finish_non_exhaustive()
    }
}
