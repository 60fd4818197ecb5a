//! Merkle tree tiles read back from the store, for proofs over leaves the in-memory tree has
//! pruned (receipts and consistency proofs of old transactions), and a bounded cache of them.
//!
//! Only full tiles above the bottom row are cached ([`TileCache`]): a full tile never changes
//! (the tree prunes only tiles that were full when handed to the store, and a running ledger
//! never rewrites a leaf it has written), and every proof over a pruned leaf walks through
//! the same few upper tiles, so caching them leaves one tile read per proof (the leaf's own
//! bottom tile) at any ledger length. Bottom tiles are not cached: one is shared by only 256
//! leaves, and under uniform access they would only push the upper tiles out. The cache holds
//! at most [`TILE_CACHE_LEN`] tiles (each at most 510 hashes, about 16 KiB), so its memory
//! does not grow with the ledger.

use ledger_merkle::{Tile, TileId, TileStore, TileStoreError};
use parking_lot::Mutex;

/// Most tiles [`TileCache`] holds: every upper tile of a ledger of 2^26 (67 million)
/// transactions, 16 MiB at most.
pub(crate) const TILE_CACHE_LEN: usize = 1024;

/// Full upper tiles read from the store, least recently used evicted first.
#[derive(Debug)]
pub(crate) struct TileCache(Mutex<lru::LruCache<TileId, Tile>>);

impl TileCache {
    pub(crate) fn new() -> Self {
        Self(Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(TILE_CACHE_LEN).unwrap_or(std::num::NonZeroUsize::MIN),
        )))
    }
}

/// The store (any [`TileStore`]: the engine's [`ledger_store::Store`]) read through `cache`
/// when one is given.
pub(crate) struct StoreTiles<'a, S: ?Sized> {
    store: &'a S,
    cache: Option<&'a TileCache>,
}

impl<'a, S: TileStore + ?Sized> StoreTiles<'a, S> {
    /// Reads go to the store, nothing is cached (opening a tree reads each tile once).
    pub(crate) fn uncached(store: &'a S) -> Self {
        Self { store, cache: None }
    }

    /// Upper tiles come from `cache` when there, and are kept in it when read.
    pub(crate) fn cached(store: &'a S, cache: &'a TileCache) -> Self {
        Self {
            store,
            cache: Some(cache),
        }
    }
}

impl<S: TileStore + ?Sized> TileStore for StoreTiles<'_, S> {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        let Some(cache) = self.cache.filter(|_| id.row > 0) else {
            return self.store.load_tile(id);
        };
        if let Some(tile) = cache.0.lock().get(&id) {
            return Ok(Some(tile.clone()));
        }
        let tile = self.store.load_tile(id)?;
        if let Some(tile) = tile.as_ref().filter(|t| t.is_full() && t.id() == id) {
            cache.0.lock().put(id, tile.clone());
        }
        Ok(tile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_merkle::{CcfSha256, MemoryTileStore, MerkleTree};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Tiles in memory, reads counted.
    #[derive(Default)]
    struct Counting {
        inner: MemoryTileStore,
        reads: AtomicUsize,
    }

    impl TileStore for Counting {
        fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            self.inner.load_tile(id)
        }
    }

    /// Proofs over pruned leaves of a 2^17-leaf tree (pruned up to its last leaf: the first
    /// upper tile and the bottom tiles under it and after it, but for the last, are out of
    /// memory): the same as from the whole tree, and through the cache the upper tile is read
    /// once in all, the bottom tile once per proof.
    #[test]
    fn upper_tiles_are_read_once() {
        let size: u64 = 1 << 17;
        let mut full = MerkleTree::<CcfSha256>::new();
        let mut pruned = MerkleTree::<CcfSha256>::new();
        for i in 0..size {
            let mut leaf = [0u8; 32];
            leaf[..8].copy_from_slice(&i.to_be_bytes());
            full.push(leaf);
            pruned.push(leaf);
        }
        let mut store = Counting::default();
        for tile in pruned.take_dirty_tiles() {
            store.inner.put(tile);
        }
        pruned.prune(size - 1);
        let cache = TileCache::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let proofs = 300;
        let reads = |store: &Counting| store.reads.load(Ordering::Relaxed);
        let before = reads(&store);
        for _ in 0..proofs {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let index = state % (size - 256);
            let proof = pruned
                .inclusion_proof_with(&StoreTiles::cached(&store, &cache), index, size)
                .unwrap();
            assert_eq!(proof, full.inclusion_proof(index, size).unwrap());
        }
        assert_eq!(reads(&store) - before, proofs + 1);
        let before = reads(&store);
        for index in [5, 70_000] {
            pruned
                .inclusion_proof_with(&StoreTiles::uncached(&store), index, size)
                .unwrap();
        }
        // Uncached: leaf 5 needs its bottom tile and the pruned upper tile, leaf 70,000 its
        // bottom tile only (its upper tile, the frontier's, is in memory).
        assert_eq!(reads(&store) - before, 3);
    }
}
