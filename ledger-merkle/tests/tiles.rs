//! The persistence seam: dirty tiles, reopening from frontier tiles, pruning with store-backed
//! queries, truncation, and the tile byte format.

mod common;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;

use common::{consistency, leaf, leaves, mth, path};
use ledger_merkle::{
    CcfSha256, Digest, MemoryTileStore, MerkleError, MerkleTree, Rfc6962, Tile, TileId, TileStore,
    TileStoreError, TreeHasher, TILE_HEIGHT, TILE_WIDTH,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x7113),
        ..Config::default()
    }
}

/// A store that counts loads and remembers which tiles were asked for.
#[derive(Default)]
struct CountingStore {
    inner: MemoryTileStore,
    loads: Cell<usize>,
    asked: RefCell<Vec<TileId>>,
}

impl CountingStore {
    fn put_all(&mut self, tiles: Vec<Tile>) {
        for t in tiles {
            self.inner.put(t);
        }
    }
}

impl TileStore for CountingStore {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        self.loads.set(self.loads.get() + 1);
        self.asked.borrow_mut().push(id);
        self.inner.load_tile(id)
    }
}

fn push_range<H: TreeHasher>(t: &mut MerkleTree<H>, seed: u64, from: u64, to: u64) {
    for i in from..to {
        t.push(leaf(seed, i));
    }
}

/// Every proof of `a` equals the store-backed proof of `b` at a sample of sizes.
fn same_answers<H: TreeHasher, S: TileStore>(
    a: &MerkleTree<H>,
    b: &MerkleTree<H>,
    store: &S,
    sizes: &[u64],
) {
    for &n in sizes {
        assert_eq!(a.root_at(n).ok(), b.root_at_with(store, n).ok(), "root {n}");
        for m in (0..n).step_by(((n / 40) as usize).max(1)) {
            assert_eq!(
                a.inclusion_proof(m, n).ok(),
                b.inclusion_proof_with(store, m, n).ok(),
                "inclusion {m} of {n}"
            );
            assert_eq!(
                a.consistency_proof(m + 1, n).ok(),
                b.consistency_proof_with(store, m + 1, n).ok(),
                "consistency {} -> {n}",
                m + 1
            );
        }
    }
}

#[test]
fn dirty_tiles_cover_exactly_what_changed() {
    let mut t = MerkleTree::<CcfSha256>::new();
    assert!(t.take_dirty_tiles().is_empty());
    push_range(&mut t, 1, 0, 300);
    let tiles = t.take_dirty_tiles();
    let ids: Vec<(u8, u64, u64)> = tiles
        .iter()
        .map(|t| (t.id().row, t.id().index, t.width()))
        .collect();
    // Row 0: a full tile and a partial one of 44 leaves; row 1: one bottom node (leaves 0..256).
    assert_eq!(ids, [(0, 0, 256), (0, 1, 44), (1, 0, 1)]);
    assert!(tiles[0].is_full() && !tiles[1].is_full());
    assert!(t.take_dirty_tiles().is_empty(), "nothing changed since");

    push_range(&mut t, 1, 300, 301);
    let ids: Vec<(u8, u64, u64)> = t
        .take_dirty_tiles()
        .iter()
        .map(|t| (t.id().row, t.id().index, t.width()))
        .collect();
    assert_eq!(ids, [(0, 1, 45)], "only the partial frontier tile grew");

    push_range(&mut t, 1, 301, 70_000);
    let tiles = t.take_dirty_tiles();
    let ids: Vec<TileId> = tiles.iter().map(Tile::id).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "(row, index) order");
    assert_eq!(ids.first(), Some(&TileId { row: 0, index: 1 }));
    // 70_000 leaves: row 0 tiles 1..=273, row 1 tiles 0..=1 (273 bottom nodes), row 2 tile 0.
    assert_eq!(ids.len(), 273 + 2 + 1);
    assert_eq!(tiles.last().map(Tile::width), Some(1));
}

#[test]
fn stored_tiles_hold_every_complete_node() {
    let d = leaves(2, 1000);
    let mut t = MerkleTree::<Rfc6962>::new();
    let mut store = MemoryTileStore::new();
    for chunk in d.chunks(77) {
        for l in chunk {
            t.push(*l);
        }
        for tile in t.take_dirty_tiles() {
            store.put(tile);
        }
    }
    // Node (level, index) is the reference root of its leaf range.
    let height = u32::from(TILE_HEIGHT);
    for level in 0..10u32 {
        for index in 0..(1000u64 >> level) {
            let id = TileId {
                row: (level / height) as u8,
                index: index >> (height - level % height),
            };
            let offset = index - (id.index << (height - level % height));
            let tile = store.load_tile(id).ok().flatten();
            let node = tile
                .as_ref()
                .and_then(|t| t.node((level % height) as u8, offset));
            let range = &d[(index << level) as usize..((index + 1) << level) as usize];
            assert_eq!(
                node,
                Some(&mth::<Rfc6962>(range)),
                "node ({level}, {index})"
            );
        }
    }
}

fn checkpointed<H: TreeHasher>(
    seed: u64,
    size: u64,
    chunk: u64,
    store: &mut CountingStore,
) -> MerkleTree<H> {
    let mut t = MerkleTree::<H>::new();
    let mut at = 0;
    while at < size {
        let next = (at + chunk).min(size);
        push_range(&mut t, seed, at, next);
        if next % 3 == 0 {
            // Queries between checkpoints must not disturb the tile bookkeeping.
            let _ = t.root();
        }
        store.put_all(t.take_dirty_tiles());
        at = next;
    }
    t
}

#[test]
fn open_loads_one_frontier_tile_per_row() {
    for size in [0u64, 1, 255, 256, 257, 65_535, 65_536, 65_537, 200_000] {
        let mut store = CountingStore::default();
        let mut a = checkpointed::<CcfSha256>(3, size, 997, &mut store);
        store.loads.set(0);
        store.asked.borrow_mut().clear();
        let mut b = match MerkleTree::<CcfSha256>::open(&store, size) {
            Ok(b) => b,
            Err(e) => panic!("open {size}: {e}"),
        };
        let rows = (64 - size.leading_zeros()).div_ceil(8) as usize;
        assert!(
            store.loads.get() <= rows,
            "size {size}: {} loads",
            store.loads.get()
        );
        // Only frontier tiles: the last tile of each row, and only a partial one.
        for id in store.asked.borrow().iter() {
            let complete = size >> (8 * u32::from(id.row));
            assert_eq!(id.index, complete / TILE_WIDTH, "size {size}: {id:?}");
            assert_ne!(complete % TILE_WIDTH, 0);
        }
        assert_eq!(b.len(), size);
        assert_eq!(b.root(), a.root(), "size {size}");
        assert!(b.nodes_in_memory() < 8 * 2 * TILE_WIDTH);
    }
}

#[test]
fn open_rejects_missing_short_and_misfiled_tiles() {
    let mut store = CountingStore::default();
    let _ = checkpointed::<CcfSha256>(4, 1000, 1000, &mut store);
    // Beyond what was stored: the frontier tile is too short.
    assert!(matches!(
        MerkleTree::<CcfSha256>::open(&store, 1001),
        Err(MerkleError::MissingNode {
            level: 0,
            index: 1000
        })
    ));
    // Absent tile.
    assert!(matches!(
        MerkleTree::<CcfSha256>::open(&store, 1100),
        Err(MerkleError::MissingNode {
            level: 0,
            index: 1024
        })
    ));
    // A stored tile that is longer than needed is cut back.
    assert!(MerkleTree::<CcfSha256>::open(&store, 900).is_ok());

    struct Misfiling(MemoryTileStore);
    impl TileStore for Misfiling {
        fn load_tile(&self, _id: TileId) -> Result<Option<Tile>, TileStoreError> {
            self.0.load_tile(TileId { row: 0, index: 0 })
        }
    }
    let mut inner = MemoryTileStore::new();
    let mut t = MerkleTree::<CcfSha256>::new();
    push_range(&mut t, 4, 0, 300);
    for tile in t.take_dirty_tiles() {
        inner.put(tile);
    }
    assert!(matches!(
        MerkleTree::<CcfSha256>::open(&Misfiling(inner), 300),
        Err(MerkleError::MalformedTile { .. })
    ));

    struct Failing;
    impl TileStore for Failing {
        fn load_tile(&self, _id: TileId) -> Result<Option<Tile>, TileStoreError> {
            Err(TileStoreError("disk on fire".into()))
        }
    }
    assert!(matches!(
        MerkleTree::<CcfSha256>::open(&Failing, 5),
        Err(MerkleError::Store(_))
    ));
    let mut t = MerkleTree::<CcfSha256>::new();
    push_range(&mut t, 4, 0, 600);
    let _ = t.take_dirty_tiles();
    t.prune(600);
    assert!(matches!(
        t.inclusion_proof_with(&Failing, 0, 600),
        Err(MerkleError::Store(_))
    ));
}

#[test]
fn prune_keeps_memory_bounded_and_queries_answerable() {
    let mut store = CountingStore::default();
    let mut t = MerkleTree::<CcfSha256>::new();
    let mut twin = MerkleTree::<CcfSha256>::new();
    let mut peak = 0;
    for round in 0..200u64 {
        push_range(&mut t, 5, round * 1000, (round + 1) * 1000);
        push_range(&mut twin, 5, round * 1000, (round + 1) * 1000);
        store.put_all(t.take_dirty_tiles());
        t.prune(t.len());
        peak = peak.max(t.nodes_in_memory());
    }
    // Frontier tiles only: at most 2 * 256 nodes per row, 3 rows at 200_000 leaves.
    assert!(peak <= 3 * 2 * TILE_WIDTH + 2000, "peak {peak}");
    assert_eq!(t.retained_from(), 199_936);
    assert_eq!(t.root(), twin.root());
    assert!(matches!(
        t.inclusion_proof(5, 100_000),
        Err(MerkleError::MissingNode { level: 0, .. })
    ));
    assert!(matches!(
        t.root_at(1000),
        Err(MerkleError::MissingNode { .. })
    ));
    assert!(matches!(t.leaf(0), Err(MerkleError::MissingNode { .. })));
    same_answers(
        &twin,
        &t,
        &store,
        &[1, 2, 255, 256, 1000, 65_536, 123_457, 200_000],
    );
}

#[test]
fn prune_never_drops_nodes_not_yet_handed_out() {
    let mut t = MerkleTree::<Rfc6962>::new();
    push_range(&mut t, 6, 0, 1000);
    let _ = t.take_dirty_tiles();
    push_range(&mut t, 6, 1000, 3000);
    t.prune(3000);
    // Tiles full at the last hand-out (size 1000) went; leaves from 768 on stay.
    assert_eq!(t.retained_from(), 768);
    let d = leaves(6, 3000);
    let root = mth::<Rfc6962>(&d);
    assert_eq!(t.root(), root);
    assert_eq!(
        t.inclusion_proof(2000, 3000).ok(),
        Some(path::<Rfc6962>(2000, &d))
    );
    assert_eq!(
        t.inclusion_proof(768, 3000).ok(),
        Some(path::<Rfc6962>(768, &d))
    );
    // The newly completed tiles are all still handed out.
    let tiles = t.take_dirty_tiles();
    assert_eq!(
        tiles.first().map(Tile::id),
        Some(TileId { row: 0, index: 3 })
    );
    assert!(tiles
        .iter()
        .all(|t| t.levels()[0].len() as u64 == t.width()));
}

#[test]
fn truncate_refuses_to_cut_into_pruned_tiles() {
    let mut t = MerkleTree::<CcfSha256>::new();
    push_range(&mut t, 7, 0, 1000);
    let _ = t.take_dirty_tiles();
    t.prune(1000);
    let before = t.clone().root();
    assert!(matches!(
        t.truncate(700),
        Err(MerkleError::MissingNode {
            level: 0,
            index: 512
        })
    ));
    assert_eq!(t.len(), 1000);
    assert_eq!(t.root(), before);
    // Within the frontier tile it works.
    assert!(t.truncate(800).is_ok());
    assert_eq!(t.root(), mth::<CcfSha256>(&leaves(7, 800)));
}

/// Simulates the engine: checkpoints, a crash, reopen, and rollback of an uncommitted tail.
fn reopen_case<H: TreeHasher>(seed: u64, n1: u64, chunk: u64, n2: u64, cut: u64) {
    let mut store = CountingStore::default();
    let mut a = checkpointed::<H>(seed, n1, chunk, &mut store);
    let mut b = match MerkleTree::<H>::open(&store, n1) {
        Ok(b) => b,
        Err(e) => panic!("open {n1}: {e}"),
    };
    // Both continue with the same leaves, then roll back part of the new tail and go on.
    for t in [&mut a, &mut b] {
        push_range(t, seed, n1, n1 + n2);
        assert!(t.truncate(n1 + cut.min(n2)).is_ok());
        push_range(t, seed ^ 1, n1 + cut.min(n2), n1 + n2 + 10);
    }
    let dirty_a = a.take_dirty_tiles();
    let dirty_b = b.take_dirty_tiles();
    assert_eq!(dirty_a, dirty_b, "n1 {n1} chunk {chunk} n2 {n2} cut {cut}");
    assert_eq!(a.root(), b.root());
    store.put_all(dirty_b);
    let len = a.len();
    let sizes: Vec<u64> = [1, n1 / 2, n1, n1 + 1, len / 2, len - 1, len]
        .into_iter()
        .filter(|&s| s >= 1 && s <= len)
        .collect();
    same_answers(&a, &b, &store, &sizes);

    // The direct build of the final sequence agrees too.
    let mut direct = MerkleTree::<H>::new();
    push_range(&mut direct, seed, 0, n1 + cut.min(n2));
    push_range(&mut direct, seed ^ 1, n1 + cut.min(n2), n1 + n2 + 10);
    assert_eq!(direct.root(), a.root());
    // And the store, read through the final size, holds the direct build's tiles.
    for tile in direct.take_dirty_tiles() {
        let stored = store.inner.load_tile(tile.id()).ok().flatten();
        assert_eq!(stored.and_then(|s| s.truncated(len)), Some(tile));
    }
}

#[test]
fn reopen_then_push_equals_never_closed_at_tile_edges() {
    for n1 in [1u64, 255, 256, 257, 511, 512, 65_535, 65_536, 65_537] {
        reopen_case::<CcfSha256>(8, n1, 300, 600, 100);
        reopen_case::<Rfc6962>(9, n1, 1 << 20, 1, 0);
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn reopen_then_push_equals_never_closed(
        n1 in 1u64..5000,
        chunk in 1u64..1500,
        n2 in 0u64..3000,
        cut in 0u64..3000,
        seed in any::<u64>(),
    ) {
        reopen_case::<CcfSha256>(seed, n1, chunk, n2, cut);
    }

    #[test]
    fn truncate_then_push_equals_direct_build(
        n1 in 0u64..2000,
        cut in 0u64..2000,
        extra in 0u64..700,
        seal_every in 1u64..400,
        seed in any::<u64>(),
    ) {
        let keep = cut.min(n1);
        let mut t = MerkleTree::<Rfc6962>::new();
        for i in 0..n1 {
            t.push(leaf(seed, i));
            if i % seal_every == 0 {
                let _ = t.root();
            }
        }
        prop_assert!(t.truncate(keep).is_ok());
        let mut d = leaves(seed, keep);
        for i in 0..extra {
            let l = leaf(seed ^ 0xff, i);
            t.push(l);
            d.push(l);
        }
        prop_assert_eq!(t.root(), mth::<Rfc6962>(&d));
        let n = d.len();
        if n > 0 {
            for m in [0, n / 3, n / 2, n - 1] {
                prop_assert_eq!(t.inclusion_proof(m as u64, n as u64).ok(), Some(path::<Rfc6962>(m, &d)));
                prop_assert_eq!(
                    t.consistency_proof(m as u64 + 1, n as u64).ok(),
                    Some(consistency::<Rfc6962>(m + 1, &d))
                );
            }
        }
        let mut direct = MerkleTree::<Rfc6962>::new();
        for l in &d {
            direct.push(*l);
        }
        prop_assert_eq!(direct.root(), t.root());
    }

    #[test]
    fn pruned_store_backed_queries_equal_in_memory_ones(
        n in 1u64..4000,
        chunk in 1u64..1000,
        prune_at in any::<u64>(),
        seed in any::<u64>(),
    ) {
        let mut store = CountingStore::default();
        let full = checkpointed::<CcfSha256>(seed, n, chunk, &mut store);
        let mut pruned = full.clone();
        pruned.prune(prune_at % (n + 1));
        let mut sizes: BTreeSet<u64> = [1, n / 3, n / 2, n].into_iter().filter(|&s| s >= 1).collect();
        sizes.insert(n);
        same_answers(&full, &pruned, &store, &sizes.into_iter().collect::<Vec<_>>());
    }
}

#[test]
fn tile_encoding_round_trips() {
    let mut t = MerkleTree::<CcfSha256>::new();
    push_range(&mut t, 10, 0, 70_000);
    for tile in t.take_dirty_tiles() {
        let bytes = tile.encode();
        let nodes: usize = tile.levels().iter().map(Vec::len).sum();
        assert_eq!(bytes.len(), 2 + 32 * nodes);
        assert_eq!(
            u16::from_be_bytes([bytes[0], bytes[1]]) as u64,
            tile.width()
        );
        let back = Tile::decode(tile.id(), &bytes);
        assert_eq!(back.ok().as_ref(), Some(&tile));
    }
}

#[test]
fn malformed_tiles_are_errors() {
    let id = TileId { row: 0, index: 0 };
    let bad = |bytes: &[u8]| {
        matches!(
            Tile::decode(id, bytes),
            Err(MerkleError::MalformedTile { .. })
        )
    };
    assert!(bad(&[]));
    assert!(bad(&[0]));
    assert!(bad(&[0, 0]), "width 0");
    assert!(bad(&[1, 1]), "width 257");
    assert!(bad(&[0, 1]), "width 1 without its digest");
    let mut one = vec![0, 1];
    one.extend_from_slice(&[7; 32]);
    assert!(Tile::decode(id, &one).is_ok_and(|t| t.width() == 1 && t.node(0, 0) == Some(&[7; 32])));
    let mut long = one.clone();
    long.push(0);
    assert!(bad(&long), "trailing byte");
    let mut two = vec![0, 2];
    two.extend_from_slice(&[1; 64]);
    assert!(bad(&two), "width 2 needs its parent too");
    two.extend_from_slice(&[2; 32]);
    assert!(Tile::decode(id, &two).is_ok_and(|t| t.node(1, 0) == Some(&[2; 32])));

    assert!(Tile::new(id, vec![]).is_err());
    assert!(Tile::new(id, vec![vec![]; 8]).is_err());
    let mut levels = vec![vec![[0u8; 32]; 3]];
    levels.extend((1..8).map(|h| vec![[0u8; 32]; 3 >> h]));
    assert!(Tile::new(id, levels.clone()).is_ok());
    levels[1].push([0; 32]);
    assert!(Tile::new(id, levels).is_err());
}

#[test]
fn truncated_tiles_roll_back_to_an_older_size() {
    let mut t = MerkleTree::<CcfSha256>::new();
    push_range(&mut t, 11, 0, 600);
    let tiles = t.take_dirty_tiles();
    let partial = tiles.iter().find(|t| t.id() == TileId { row: 0, index: 2 });
    let Some(partial) = partial else {
        panic!("no tile (0, 2)");
    };
    assert_eq!(partial.width(), 88);
    let cut = partial.truncated(550);
    assert_eq!(cut.as_ref().map(Tile::width), Some(38));
    assert_eq!(cut.as_ref().map(|c| c.levels()[1].len()), Some(19));
    assert!(partial.truncated(512).is_none());
    let first: Vec<Digest> = leaves(11, 550)[512..].to_vec();
    assert_eq!(cut.map(|c| c.levels()[0].clone()), Some(first));
}

/// Truncation, pruning and reopening at and around the tree's internal storage boundaries
/// (levels are stored in chunks of 8192 nodes) and far from them.
#[test]
fn truncate_prune_and_reopen_across_storage_chunks() {
    let d = leaves(12, 50_000);
    let mut store = CountingStore::default();
    let mut t = checkpointed::<CcfSha256>(12, 40_000, 4096, &mut store);
    for cut in [
        32_768u64, 24_577, 16_385, 16_384, 16_383, 8193, 8192, 8191, 300, 1,
    ] {
        let mut c = t.clone();
        assert!(c.truncate(cut).is_ok(), "truncate {cut}");
        assert_eq!(
            c.root(),
            mth::<CcfSha256>(&d[..cut as usize]),
            "root after cut {cut}"
        );
        for i in cut..cut + 9000 {
            c.push(leaf(12, i));
        }
        let n = cut + 9000;
        assert_eq!(
            c.root(),
            mth::<CcfSha256>(&d[..n as usize]),
            "root after regrowth {n}"
        );
        for m in [0, cut - 1, cut, n / 2, n - 1] {
            assert_eq!(
                c.inclusion_proof(m, n).ok(),
                Some(path::<CcfSha256>(m as usize, &d[..n as usize])),
                "inclusion {m} of {n}"
            );
        }
    }
    let twin = t.clone();
    for bound in [8191u64, 8192, 16_384, 24_000, 40_000] {
        t.prune(bound);
        same_answers(&twin, &t, &store, &[8192, 16_385, 40_000]);
    }
    for size in [8192u64, 8193, 16_384, 24_577, 40_000] {
        let opened = MerkleTree::<CcfSha256>::open(&store, size);
        let root = opened.map(|mut o| o.root()).ok();
        assert_eq!(
            root,
            Some(mth::<CcfSha256>(&d[..size as usize])),
            "open {size}"
        );
    }
}
