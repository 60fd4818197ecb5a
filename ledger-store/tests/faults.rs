//! Fault injection: fail the Nth write or sync, assert that the handle is poisoned (writes
//! refused, reads still served) and that reopening recovers to the last durable state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroU64;

use common::{make_group, verify_prefix, Tree};
use ledger_store::testing::{Fault, FaultyStore};
use ledger_store::{Durability, MemoryStore, RocksStore, Store, StoreConfig, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config() -> StoreConfig {
    StoreConfig::default().durability(Durability::Fsync)
}

fn nth(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

/// Appends groups of the test schedule until one fails; returns the last seqno whose commit
/// returned and the error.
fn append_until_failure<S: Store>(store: &S, tree: &mut Tree) -> (u64, StoreError) {
    let mut committed = store.state().committed_seqno;
    let mut last = store.state().last_seqno;
    for _ in 0..1000 {
        let (n, commit) = common::schedule(last);
        match store.write_group(&make_group(tree, last, n, commit)) {
            Ok(()) => {
                last += n;
                if commit {
                    committed = last;
                }
            }
            Err(e) => return (committed, e),
        }
    }
    panic!("no fault fired");
}

fn assert_poisoned<S: Store>(store: &S, tree: &mut Tree) {
    let last = store.state().last_seqno;
    let g = make_group(tree, last, 1, true);
    assert!(matches!(
        store.write_group(&g),
        Err(StoreError::Poisoned { .. })
    ));
    assert!(matches!(store.sync(), Err(StoreError::Poisoned { .. })));
    // Reads continue.
    assert_eq!(store.entries(1..=3, 10).unwrap().len() as u64, last.min(3));
}

#[test]
fn failed_writes_and_syncs_poison_and_reopen_recovers() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let root = tempfile::tempdir().unwrap();
    let mut tree = Tree::default();
    for case in 0..12 {
        let dir = root.path().join(format!("case-{case}"));
        let (store, _) = RocksStore::open(&dir, config()).unwrap();
        let store = FaultyStore::new(store);
        let fault = if case % 3 == 0 {
            Fault::NoSpace
        } else {
            Fault::Io
        };
        let n = nth(rng.gen_range(1..40));
        let on_sync = case % 2 == 1;
        if on_sync {
            store.fail_sync(n, fault);
        } else {
            store.fail_write(n, fault);
        }
        let (committed, err) = append_until_failure(&store, &mut tree);
        match (fault, &err) {
            (Fault::NoSpace, StoreError::NoSpace { .. }) | (Fault::Io, StoreError::Io { .. }) => {}
            other => panic!("unexpected error {other:?}"),
        }
        assert!(store.is_poisoned());
        assert_poisoned(&store, &mut tree);
        let before = store.state();
        drop(store.into_inner());
        let (store, recovery) = RocksStore::open(&dir, config()).unwrap();
        // A failed write never reached the store; a failed sync's group did and may survive.
        if on_sync {
            assert!(recovery.committed_seqno >= committed);
            assert!(recovery.committed_seqno <= before.committed_seqno);
        } else {
            assert_eq!(recovery.committed_seqno, committed);
        }
        verify_prefix(&store, recovery.committed_seqno, &mut tree).unwrap();
        // The reopened store accepts writes again.
        let last = store.state().last_seqno;
        store
            .write_group(&make_group(&mut tree, last, 3, true))
            .unwrap();
        assert_eq!(store.state().committed_seqno, last + 3);
    }
}

#[test]
fn memory_store_faults_poison_and_simulated_crash_recovers() {
    let mut tree = Tree::default();
    let store = FaultyStore::new(MemoryStore::new());
    store.fail_sync(nth(5), Fault::Io);
    let (committed, err) = append_until_failure(&store, &mut tree);
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert_poisoned(&store, &mut tree);
    let memory = store.into_inner();
    let recovery = memory.simulate_crash();
    assert!(recovery.committed_seqno >= committed);
    verify_prefix(&memory, recovery.committed_seqno, &mut tree).unwrap();
}

#[test]
fn read_only_handles_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut tree = Tree::default();
    {
        let (store, _) = RocksStore::open(dir.path(), config()).unwrap();
        common::append_schedule(&store, &mut tree, 200);
        store.sync().unwrap();
    }
    let ro = RocksStore::open_read_only(dir.path()).unwrap();
    let state = ro.state();
    assert!(state.last_seqno >= 200);
    assert!(matches!(
        ro.write_group(&make_group(&mut tree, state.last_seqno, 1, true)),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(ro.sync(), Err(StoreError::ReadOnly)));
    // No recovery ran: the uncommitted tail (if any) is still visible, the prefix is intact.
    assert_eq!(
        ro.entries(state.committed_seqno + 1..=u64::MAX, usize::MAX)
            .unwrap()
            .len() as u64,
        state.last_seqno - state.committed_seqno
    );
    drop(ro);
    let (rw, recovery) = RocksStore::open(dir.path(), config()).unwrap();
    assert_eq!(recovery.committed_seqno, state.committed_seqno);
    verify_prefix(&rw, state.committed_seqno, &mut tree).unwrap();
    drop(rw);
    let _ro = RocksStore::open_read_only(dir.path()).unwrap();
    // A read-write handle cannot be opened twice, but read-only handles can coexist.
    let (rw, _) = RocksStore::open(dir.path(), config()).unwrap();
    assert!(matches!(
        RocksStore::open(dir.path(), config()),
        Err(StoreError::Locked { .. })
    ));
    drop(rw);
}
