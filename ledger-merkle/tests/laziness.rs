//! Every stored interior node is hashed exactly once, and only when something needs it.

mod common;

use std::cell::Cell;

use common::{leaves, mth};
use ledger_merkle::{CcfSha256, Digest, MemoryTileStore, MerkleTree, TreeHasher};

thread_local! {
    static HASHES: Cell<u64> = const { Cell::new(0) };
}

/// `CcfSha256` that counts its interior hashes (per thread, so tests may run in parallel).
struct Counting;

impl TreeHasher for Counting {
    fn hash_children(left: &Digest, right: &Digest) -> Digest {
        HASHES.with(|h| h.set(h.get() + 1));
        CcfSha256::hash_children(left, right)
    }

    fn empty_root() -> Digest {
        CcfSha256::empty_root()
    }
}

fn hashes() -> u64 {
    HASHES.with(Cell::get)
}

/// Complete interior nodes of a tree of `n` leaves.
fn interior(n: u64) -> u64 {
    n - u64::from(n.count_ones())
}

/// Hashes that fold the peaks of `n` into its root.
fn bag(n: u64) -> u64 {
    u64::from(n.count_ones().saturating_sub(1))
}

#[test]
fn push_hashes_nothing_and_sealing_hashes_each_node_once() {
    let d = leaves(1, 100_000);
    let mut t = MerkleTree::<Counting>::new();
    let start = hashes();
    let mut expected = 0;
    for (i, chunk) in d.chunks(777).enumerate() {
        for l in chunk {
            t.push(*l);
        }
        assert_eq!(hashes() - start, expected, "push hashed something");
        if i % 3 == 0 {
            let n = t.len();
            let root = t.root();
            // New complete nodes plus the bag of the new size, nothing recomputed.
            expected = interior(n)
                + (0..=i)
                    .step_by(3)
                    .map(|j| bag(((j as u64 + 1) * 777).min(d.len() as u64)))
                    .sum::<u64>();
            assert_eq!(hashes() - start, expected, "after root at {n}");
            // A second root and any proof at the current size are pure lookups.
            assert_eq!(t.root(), root);
            for m in (0..n).step_by(997) {
                assert!(t.inclusion_proof(m, n).is_ok());
                assert!(t.consistency_proof(m + 1, n).is_ok());
            }
            assert_eq!(t.root_at(n).ok(), Some(root));
            assert_eq!(hashes() - start, expected, "queries at {n} rehashed");
        }
    }
}

#[test]
fn first_query_after_push_seals_once_through_a_shared_reference() {
    let d = leaves(2, 5000);
    let mut t = MerkleTree::<Counting>::new();
    for l in &d {
        t.push(*l);
    }
    let start = hashes();
    let shared = &t;
    let proof = shared.inclusion_proof(4321, 5000);
    assert!(proof.is_ok());
    assert_eq!(hashes() - start, interior(5000) + bag(5000));
    for m in 0..5000 {
        assert!(shared.inclusion_proof(m, 5000).is_ok());
    }
    assert_eq!(hashes() - start, interior(5000) + bag(5000));
    // A root at an older size folds that size's peaks and nothing else.
    let before = hashes();
    assert_eq!(
        shared.root_at(4097).ok(),
        Some(mth::<CcfSha256>(&d[..4097]))
    );
    assert_eq!(hashes() - before, bag(4097));
}

#[test]
fn take_dirty_tiles_and_reopen_do_not_rehash_history() {
    let d = leaves(3, 70_000);
    let mut t = MerkleTree::<Counting>::new();
    for l in &d {
        t.push(*l);
    }
    let start = hashes();
    let mut store = MemoryTileStore::new();
    for tile in t.take_dirty_tiles() {
        store.put(tile);
    }
    assert_eq!(hashes() - start, interior(70_000) + bag(70_000));
    let before = hashes();
    let reopened = MerkleTree::<Counting>::open(&store, 70_000);
    assert!(reopened.is_ok());
    // Reopening folds the bags of the size and hashes nothing else.
    assert_eq!(hashes() - before, bag(70_000));
}
