//! Tiles: the unit in which tree nodes are persisted.
//!
//! A tree's perfect-subtree nodes are addressed by `(level, index)`: the node at level `l`,
//! index `i` is the root of the perfect subtree over leaves `[i << l, (i + 1) << l)`. Level 0
//! holds the leaf hashes. Such a node is *complete* at tree size `n` when `(i + 1) << l <= n`,
//! and a complete node never changes while the tree only grows.
//!
//! Nodes are grouped into tiles of height [`TILE_HEIGHT`] (8 levels) and width [`TILE_WIDTH`]
//! (256 bottom nodes). Tile `(row r, index k)` holds the complete nodes of levels
//! `8r .. 8r + 8` that lie above bottom nodes `256k .. 256k + 256` of level `8r`. The tile's
//! own root (level `8r + 8`) is not stored in it: it is a bottom node of row `r + 1`.
//!
//! A tile is *partial* while fewer than 256 of its bottom nodes are complete; it then holds
//! only its complete nodes. Partial tiles are rewritten as the tree grows; full tiles never
//! change again. Loading a node from a tile costs no hashing.
//!
//! # Format
//!
//! [`Tile::encode`] writes, in this order: a `u16` big-endian width `w` (1..=256, the number of
//! complete bottom nodes), then the `w` bottom digests, then `w >> 1` digests of the next
//! level, and so on up to height 7 (`w >> 7` digests). Every digest is 32 bytes. Nothing else
//! is stored: the id is the key under which a store keeps the bytes.

use serde::{Deserialize, Serialize};

use crate::{Digest, MerkleError, TileStoreError};

/// Number of tree levels held by one tile.
pub const TILE_HEIGHT: u8 = 8;
/// Number of bottom nodes in a full tile (`2^TILE_HEIGHT`).
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// Position of a tile: its row (tree levels `8 * row .. 8 * row + 8`) and its index within the
/// row (bottom nodes `256 * index .. 256 * index + 256`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TileId {
    /// Tile row; tree level of the tile's bottom nodes is `8 * row`.
    pub row: u8,
    /// Index of the tile within its row.
    pub index: u64,
}

impl TileId {
    /// Tree level of this tile's bottom nodes.
    pub fn bottom_level(self) -> u8 {
        self.row.saturating_mul(TILE_HEIGHT)
    }

    /// Number of bottom nodes of this tile that are complete in a tree of `tree_size` leaves
    /// (0 ..= 256).
    pub fn width_at(self, tree_size: u64) -> u64 {
        let level = u32::from(self.bottom_level());
        let complete = if level >= 64 { 0 } else { tree_size >> level };
        let start = self.index.saturating_mul(TILE_WIDTH);
        complete.saturating_sub(start).min(TILE_WIDTH)
    }

    /// The tiles that change when a tree grows from `old` to `new` leaves: those holding a
    /// node complete at `new` but not at `old`, row by row and in index order. Nothing if
    /// `new <= old`.
    pub fn changed_between(old: u64, new: u64) -> impl Iterator<Item = TileId> {
        (0..64 / TILE_HEIGHT).flat_map(move |row| {
            let level = u32::from(row) * u32::from(TILE_HEIGHT);
            let (before, now) = (old >> level, new >> level);
            let height = u32::from(TILE_HEIGHT);
            let indexes = (now > before)
                .then(|| (before >> height)..=((now - 1) >> height))
                .into_iter()
                .flatten();
            indexes.map(move |index| TileId { row, index })
        })
    }
}

/// The complete nodes of one tile, level by level, bottom first.
///
/// Invariant: `levels.len() == TILE_HEIGHT`, `levels[0].len()` is in `1..=256` and
/// `levels[h].len() == levels[0].len() >> h`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    id: TileId,
    levels: Vec<Vec<Digest>>,
}

impl Tile {
    /// Builds a tile from its levels, bottom first.
    ///
    /// # Errors
    ///
    /// [`MerkleError::MalformedTile`] unless `levels` has exactly [`TILE_HEIGHT`] rows, the
    /// bottom row has 1 to 256 digests and each higher row has half (rounded down) as many as
    /// the row below it.
    pub fn new(id: TileId, levels: Vec<Vec<Digest>>) -> Result<Self, MerkleError> {
        let malformed = |reason: String| MerkleError::MalformedTile { id, reason };
        if levels.len() != usize::from(TILE_HEIGHT) {
            return Err(malformed(format!(
                "{} levels, expected {TILE_HEIGHT}",
                levels.len()
            )));
        }
        let width = levels[0].len();
        if width == 0 || width as u64 > TILE_WIDTH {
            return Err(malformed(format!("width {width} is not in 1..=256")));
        }
        for (h, row) in levels.iter().enumerate() {
            if row.len() != width >> h {
                return Err(malformed(format!(
                    "level {h} has {} nodes, expected {}",
                    row.len(),
                    width >> h
                )));
            }
        }
        Ok(Self { id, levels })
    }

    /// The tile's position.
    pub fn id(&self) -> TileId {
        self.id
    }

    /// Number of complete bottom nodes (1..=256).
    pub fn width(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Whether all 256 bottom nodes are complete; a full tile never changes again.
    pub fn is_full(&self) -> bool {
        self.width() == TILE_WIDTH
    }

    /// The tile's levels, bottom first (see the type's invariant).
    pub fn levels(&self) -> &[Vec<Digest>] {
        &self.levels
    }

    /// Consumes the tile, returning its levels, bottom first.
    pub fn into_levels(self) -> Vec<Vec<Digest>> {
        self.levels
    }

    /// Builds a tile from levels the caller guarantees satisfy the type's invariant (the tree
    /// slices them out of its own complete levels).
    pub(crate) fn from_parts(id: TileId, levels: Vec<Vec<Digest>>) -> Self {
        debug_assert!(
            Self::new(id, levels.clone()).is_ok(),
            "tile {id:?} violates the tile invariant"
        );
        Self { id, levels }
    }

    /// The node at `height` (0..8) above the bottom, `offset` nodes from the tile's left
    /// edge at that height, if it is complete.
    pub fn node(&self, height: u8, offset: u64) -> Option<&Digest> {
        let row = self.levels.get(usize::from(height))?;
        row.get(usize::try_from(offset).ok()?)
    }

    /// The same tile as it was when the tree had `tree_size` leaves, or `None` if none of its
    /// nodes was complete then. Used to roll a stored partial tile back after truncation.
    pub fn truncated(&self, tree_size: u64) -> Option<Tile> {
        let width = self.id.width_at(tree_size).min(self.width());
        if width == 0 {
            return None;
        }
        let levels = self
            .levels
            .iter()
            .enumerate()
            .map(|(h, row)| row[..(width as usize) >> h].to_vec())
            .collect();
        Some(Tile {
            id: self.id,
            levels,
        })
    }

    /// Encodes the tile in the format described in the module documentation.
    pub fn encode(&self) -> Vec<u8> {
        let nodes: usize = self.levels.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(2 + nodes * 32);
        out.extend_from_slice(&(self.levels[0].len() as u16).to_be_bytes());
        for row in &self.levels {
            for digest in row {
                out.extend_from_slice(digest);
            }
        }
        out
    }

    /// Decodes bytes written by [`Tile::encode`] for the tile at `id`.
    ///
    /// # Errors
    ///
    /// [`MerkleError::MalformedTile`] if the width is out of range or the length does not
    /// match the width.
    pub fn decode(id: TileId, bytes: &[u8]) -> Result<Self, MerkleError> {
        let malformed = |reason: String| MerkleError::MalformedTile { id, reason };
        let (head, body) = bytes
            .split_first_chunk::<2>()
            .ok_or_else(|| malformed(format!("{} bytes is too short", bytes.len())))?;
        let width = usize::from(u16::from_be_bytes(*head));
        if width == 0 || width as u64 > TILE_WIDTH {
            return Err(malformed(format!("width {width} is not in 1..=256")));
        }
        let counts: Vec<usize> = (0..TILE_HEIGHT).map(|h| width >> h).collect();
        let expected: usize = counts.iter().sum::<usize>() * 32;
        if body.len() != expected {
            return Err(malformed(format!(
                "{} body bytes, expected {expected} for width {width}",
                body.len()
            )));
        }
        let mut chunks = body.chunks_exact(32).map(|c| {
            let mut d = [0u8; 32];
            d.copy_from_slice(c);
            d
        });
        let levels = counts
            .iter()
            .map(|&n| chunks.by_ref().take(n).collect())
            .collect();
        Self::new(id, levels)
    }
}

/// Read access to persisted tiles: the seam through which a durable store backs a
/// [`crate::MerkleTree`] whose older nodes are no longer held in memory.
pub trait TileStore {
    /// Loads the tile at `id` in its latest stored state, or `None` if nothing is stored there.
    ///
    /// # Errors
    ///
    /// Any failure of the underlying storage, boxed into [`TileStoreError`].
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError>;
}

/// An in-memory [`TileStore`]: the reference implementation of the seam, and what tests and
/// ephemeral ledgers use.
#[derive(Clone, Debug, Default)]
pub struct MemoryTileStore {
    tiles: std::collections::BTreeMap<TileId, Tile>,
}

impl MemoryTileStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `tile`, replacing any earlier state of the same tile.
    pub fn put(&mut self, tile: Tile) {
        self.tiles.insert(tile.id(), tile);
    }

    /// Number of tiles held.
    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    /// Whether the store holds no tile.
    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }
}

impl TileStore for MemoryTileStore {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        Ok(self.tiles.get(&id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the definition: a tile changes when its width grows.
    #[test]
    fn changed_between_lists_the_tiles_whose_width_grows() {
        let sizes = [
            0u64, 1, 2, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537, 200_000,
        ];
        for &old in &sizes {
            for &new in &sizes {
                let listed: Vec<TileId> = TileId::changed_between(old, new).collect();
                let mut expected = Vec::new();
                for row in 0..3u8 {
                    for index in 0..(new >> (8 * u32::from(row))) / TILE_WIDTH + 2 {
                        let id = TileId { row, index };
                        if id.width_at(new) > id.width_at(old) {
                            expected.push(id);
                        }
                    }
                }
                assert_eq!(listed, expected, "{old} -> {new}");
            }
        }
    }
}
