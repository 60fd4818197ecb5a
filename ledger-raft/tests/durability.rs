//! What the Raft storage keeps across a reopen, what it syncs and when, and the state
//! machine's payload table through apply, snapshot build and install.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use ledger_raft::{Applied, Backend, Entry, LogId, LogStore, MemoryBackend, Payload, StateMachine};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{
    CommittedLeaderId, EntryPayload, Membership, RaftLogReader, RaftSnapshotBuilder, Vote,
};

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn payload(term: u64, index: u64, bytes: &[u8]) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Payload(bytes.to_vec().into())),
    }
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

fn membership(term: u64, index: u64, voters: &[u64]) -> Entry {
    let set: BTreeSet<u64> = voters.iter().copied().collect();
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![set], None)),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Appends `entries` in one call and waits for the flush callback.
async fn append(log: &mut LogStore, entries: Vec<Entry>) {
    log.blocking_append(entries).await.unwrap();
}

async fn indexes(log: &mut LogStore) -> Vec<u64> {
    log.try_get_log_entries(..)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect()
}

#[test]
fn vote_log_and_applied_state_survive_reopen_in_rocksdb() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let (mut log, mut sm) = ledger_raft::open_rocks(dir.path()).unwrap();
        log.save_vote(&Vote::new(3, 1)).await.unwrap();
        append(
            &mut log,
            vec![
                membership(3, 1, &[1, 2, 3]),
                payload(3, 2, b"a"),
                payload(3, 3, b"b"),
                payload(3, 4, b"c"),
            ],
        )
        .await;
        log.truncate(log_id(3, 4)).await.unwrap();
        log.save_committed(Some(log_id(3, 3))).await.unwrap();
        let entries = log.try_get_log_entries(1..4).await.unwrap();
        let replies = sm.apply(entries).await.unwrap();
        assert_eq!(
            replies,
            vec![
                Applied::Membership,
                Applied::Payload { index: 2 },
                Applied::Payload { index: 3 }
            ]
        );
    });
    drop(rt);

    let rt = runtime();
    rt.block_on(async {
        let (mut log, mut sm) = ledger_raft::open_rocks(dir.path()).unwrap();
        assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(3, 1)));
        assert_eq!(
            indexes(&mut log).await,
            vec![1, 2, 3],
            "the truncation held"
        );
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_log_id, Some(log_id(3, 3)));
        assert_eq!(state.last_purged_log_id, None);
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(3, 3)));

        let (applied, members) = sm.applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(3, 3)));
        assert_eq!(members.log_id(), &Some(log_id(3, 1)));
        assert_eq!(
            sm.payloads().unwrap(),
            vec![(2, b"a".to_vec()), (3, b"b".to_vec())]
        );
        assert_eq!(sm.payload(3).unwrap(), Some(b"b".to_vec()));
        assert_eq!(
            sm.payload(1).unwrap(),
            None,
            "a membership entry has no row"
        );

        // Purge, then reopen: the purged log id stands in for the missing entries.
        log.purge(log_id(3, 3)).await.unwrap();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(3, 3)));
        assert_eq!(state.last_log_id, Some(log_id(3, 3)));
        assert!(indexes(&mut log).await.is_empty());
    });
}

#[test]
fn vote_append_and_truncate_each_sync_once_purge_apply_and_committed_do_not() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let (mut log, mut sm) = ledger_raft::open(backend.clone()).unwrap();
    runtime().block_on(async {
        let mut expect = 0;
        log.save_vote(&Vote::new(1, 1)).await.unwrap();
        expect += 1;
        assert_eq!(backend.syncs(), expect, "save_vote syncs");

        let batch: Vec<Entry> = (1..=50).map(|i| payload(1, i, &[i as u8])).collect();
        append(&mut log, batch).await;
        expect += 1;
        assert_eq!(
            backend.syncs(),
            expect,
            "one sync for a whole batch of entries"
        );

        log.truncate(log_id(1, 40)).await.unwrap();
        expect += 1;
        assert_eq!(backend.syncs(), expect, "truncate syncs");

        let entries = log.try_get_log_entries(1..=39).await.unwrap();
        assert_eq!(sm.apply(entries).await.unwrap().len(), 39);
        log.save_committed(Some(log_id(1, 39))).await.unwrap();
        log.purge(log_id(1, 10)).await.unwrap();
        assert_eq!(
            backend.syncs(),
            expect,
            "apply, save_committed and purge do not sync"
        );
        assert_eq!(indexes(&mut log).await, (11..=39).collect::<Vec<_>>());

        sm.get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        expect += 1;
        assert_eq!(backend.syncs(), expect, "a built snapshot is synced");
    });
}

/// A follower that installs a leader's snapshot ends with the leader's table as of the
/// snapshot, and keeps applying from there; rows applied after the builder was made are not
/// in the snapshot.
#[test]
fn snapshot_carries_the_payload_table_to_a_follower() {
    let rt = runtime();
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let (_log_l, mut sm_l) = ledger_raft::open_rocks(leader_dir.path()).unwrap();
        sm_l.apply(vec![
            membership(1, 1, &[1, 2]),
            payload(1, 2, b"first"),
            payload(1, 3, b"second"),
        ])
        .await
        .unwrap();
        let mut builder = sm_l.get_snapshot_builder().await;
        // Applied after the builder captured its point: must not enter the snapshot.
        sm_l.apply(vec![payload(1, 4, b"later")]).await.unwrap();
        let snapshot = builder.build_snapshot().await.unwrap();
        assert_eq!(snapshot.meta.last_log_id, Some(log_id(1, 3)));

        {
            let (_log_f, mut sm_f) = ledger_raft::open_rocks(follower_dir.path()).unwrap();
            // The follower had applied an older, different-looking table: install replaces it.
            sm_f.apply(vec![payload(1, 1, b"stale")]).await.unwrap();
            let mut incoming = sm_f.begin_receiving_snapshot().await.unwrap();
            *incoming = *snapshot.snapshot;
            sm_f.install_snapshot(&snapshot.meta, incoming)
                .await
                .unwrap();
            assert_eq!(
                sm_f.payloads().unwrap(),
                vec![(2, b"first".to_vec()), (3, b"second".to_vec())]
            );
        }

        // Installed state is durable: reopen and continue applying.
        let (_log_f, mut sm_f) = ledger_raft::open_rocks(follower_dir.path()).unwrap();
        assert_eq!(sm_f.last_applied(), Some(log_id(1, 3)));
        let current = sm_f.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snapshot.meta);
        sm_f.apply(vec![payload(1, 4, b"later")]).await.unwrap();
        assert_eq!(sm_f.payloads().unwrap(), sm_l.payloads().unwrap());
    });
}

#[test]
fn a_snapshot_whose_data_contradicts_its_metadata_is_refused() {
    runtime().block_on(async {
        let (_log_l, mut sm_l) = ledger_raft::open_memory();
        sm_l.apply(vec![membership(1, 1, &[1]), payload(1, 2, b"x")])
            .await
            .unwrap();
        let snapshot = sm_l
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();

        let (_log_f, mut sm_f) = ledger_raft::open_memory();
        let mut meta = snapshot.meta.clone();
        meta.last_log_id = Some(log_id(1, 9));
        let err = sm_f
            .install_snapshot(&meta, snapshot.snapshot)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not hold"), "{err}");
        assert_eq!(sm_f.last_applied(), None, "nothing was installed");
        assert!(sm_f.payloads().unwrap().is_empty());
    });
}

#[test]
fn a_log_entry_stored_under_the_wrong_index_is_corruption() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let (mut log, _sm) = ledger_raft::open(backend.clone()).unwrap();
    runtime().block_on(async {
        append(&mut log, vec![payload(1, 1, b"a"), payload(1, 2, b"b")]).await;
        // Move entry 2's bytes under key 1, behind the store's back.
        let bytes = backend
            .get(ledger_raft::Keyspace::Log, &2u64.to_be_bytes())
            .unwrap()
            .unwrap();
        backend
            .write(
                vec![ledger_raft::WriteOp::Put(
                    ledger_raft::Keyspace::Log,
                    1u64.to_be_bytes().to_vec(),
                    bytes,
                )],
                false,
            )
            .unwrap();
        // The handle that appended serves these entries from its in-memory tail; a reopened
        // one reads the store.
        assert_eq!(log.try_get_log_entries(1..=2).await.unwrap().len(), 2);
        let (mut reopened, _sm) = ledger_raft::open(backend.clone()).unwrap();
        let err = reopened.try_get_log_entries(1..=2).await.unwrap_err();
        assert!(err.to_string().contains("log entry 1"), "{err}");
    });
}

#[test]
fn state_machine_reports_what_it_applied() {
    let (_log, sm) = ledger_raft::open_memory();
    let sm: StateMachine = sm;
    assert_eq!(sm.last_applied(), None);
    assert!(sm.payloads().unwrap().is_empty());
}

/// Replication's reads (`limited_get_log_entries`) start at their start or return nothing:
/// never entries from the middle of the range, which would not follow the `prev_log_id` an
/// `AppendEntries` is built with. `try_get_log_entries` still skips missing entries.
#[test]
fn replication_reads_never_skip_purged_entries() {
    let rt = runtime();
    rt.block_on(async {
        let (mut log, _sm) = ledger_raft::open_memory();
        let entries = (1..=10).map(|i| payload(1, i, b"x")).collect();
        append(&mut log, entries).await;
        log.purge(log_id(1, 5)).await.unwrap();
        let read = |log: &mut LogStore, start, end| {
            let mut log = log.clone();
            async move {
                log.limited_get_log_entries(start, end)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| e.log_id.index)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(read(&mut log, 3, 9).await, Vec::<u64>::new());
        assert_eq!(read(&mut log, 6, 9).await, vec![6, 7, 8]);
        assert_eq!(read(&mut log, 9, 20).await, vec![9, 10]);
        assert_eq!(read(&mut log, 11, 20).await, Vec::<u64>::new());
        let skipped: Vec<u64> = log
            .try_get_log_entries(3..9)
            .await
            .unwrap()
            .iter()
            .map(|e| e.log_id.index)
            .collect();
        assert_eq!(skipped, vec![6, 7, 8]);
    });
}

/// The log's in-memory tail (`src/log_store.rs`, # Reads) answers every read as the store
/// does: seeded runs of appends (one entry or several, payloads of random sizes, blanks),
/// truncations and purges, each followed by reads of random ranges through the handle that
/// wrote and through a handle with no tail. Even seeds: small payloads and a tail small
/// enough to drop entries often; odd seeds: some payloads of 400 KB, so that replication
/// reads stop at `REPLICATION_BATCH_BYTES`, in a tail of 3 MiB.
#[test]
fn the_logs_in_memory_tail_reads_as_the_store_does() {
    use rand::{Rng, SeedableRng};
    for seed in 0..16u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
        let big = seed % 2 == 1;
        let tail = if big { 3 << 20 } else { 1_000 };
        let mut log = LogStore::with_tail_bytes(backend.clone(), tail);
        let mut store = LogStore::with_tail_bytes(backend.clone(), 0);
        let (mut last, mut purged) = (0u64, 0u64);
        let mut saw_full_batch = false;
        runtime().block_on(async {
            for step in 0..300 {
                match rng.gen_range(0..10) {
                    0..=5 => {
                        let n = rng.gen_range(1..4);
                        let entries = (last + 1..=last + n)
                            .map(|index| {
                                if rng.gen_bool(0.2) {
                                    blank(1, index)
                                } else {
                                    let size = if big && rng.gen_bool(0.3) {
                                        400_000
                                    } else {
                                        rng.gen_range(0..300)
                                    };
                                    payload(1, index, &vec![index as u8; size])
                                }
                            })
                            .collect();
                        append(&mut log, entries).await;
                        last += n;
                    }
                    6 if last > purged => {
                        let at = rng.gen_range(purged + 1..=last);
                        log.truncate(log_id(1, at)).await.unwrap();
                        last = at - 1;
                    }
                    7 if last > purged => {
                        let at = rng.gen_range(purged + 1..=last);
                        log.purge(log_id(1, at)).await.unwrap();
                        purged = at;
                    }
                    _ => {}
                }
                for _ in 0..4 {
                    let from = rng.gen_range(0..last + 3);
                    let to = rng.gen_range(from..last + 4);
                    assert_eq!(
                        log.try_get_log_entries(from..to).await.unwrap(),
                        store.try_get_log_entries(from..to).await.unwrap(),
                        "seed {seed} step {step}: {from}..{to}"
                    );
                    let batch = log.limited_get_log_entries(from, to).await.unwrap();
                    assert_eq!(
                        batch,
                        store.limited_get_log_entries(from, to).await.unwrap(),
                        "seed {seed} step {step}: limited {from}..{to}"
                    );
                    let bytes: usize = batch
                        .iter()
                        .map(|e| match &e.payload {
                            EntryPayload::Normal(p) => p.0.len() + 64,
                            _ => 64,
                        })
                        .sum();
                    assert!(
                        batch.len() <= 1 || bytes <= ledger_raft::REPLICATION_BATCH_BYTES,
                        "seed {seed} step {step}: {} entries, {bytes} bytes",
                        batch.len()
                    );
                    if big && batch.len() > 1 {
                        saw_full_batch |= bytes + 400_064 > ledger_raft::REPLICATION_BATCH_BYTES;
                    }
                }
                assert_eq!(
                    log.get_log_state()
                        .await
                        .unwrap()
                        .last_log_id
                        .map(|l| l.index),
                    (last > 0).then_some(last),
                );
            }
        });
        assert!(
            !big || saw_full_batch,
            "seed {seed}: no read reached the limit"
        );
    }
}

/// A log store with a purge fence purges no further than the fence (the newest log id a
/// recorded snapshot covers) and records that as its purge point, so that a restart never
/// finds the log purged past the current snapshot; a purge at or before the recorded point
/// changes nothing. Without a snapshot recorded, nothing is purged.
#[test]
fn a_purge_stops_at_the_snapshot_fence() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let fence = ledger_raft::PurgeFence::new(None);
    let mut log = LogStore::new(backend.clone()).with_purge_fence(fence.clone());
    runtime().block_on(async {
        append(&mut log, (1..=10).map(|i| payload(1, i, b"x")).collect()).await;
        log.purge(log_id(1, 8)).await.unwrap();
        assert_eq!(indexes(&mut log).await, (1..=10).collect::<Vec<_>>());
        assert_eq!(log.get_log_state().await.unwrap().last_purged_log_id, None);

        fence.advance(Some(log_id(1, 5)));
        log.purge(log_id(1, 8)).await.unwrap();
        assert_eq!(indexes(&mut log).await, (6..=10).collect::<Vec<_>>());
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)));

        // Reopened (as at a restart), the purge point is the fence's, not the one asked for.
        let (mut reopened, _sm) = ledger_raft::open(backend.clone()).unwrap();
        let state = reopened.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)));
        assert_eq!(state.last_log_id, Some(log_id(1, 10)));

        fence.advance(Some(log_id(1, 9)));
        fence.advance(Some(log_id(1, 3)));
        assert_eq!(
            fence.get(),
            Some(log_id(1, 9)),
            "a fence only moves forward"
        );
        log.purge(log_id(1, 8)).await.unwrap();
        assert_eq!(indexes(&mut log).await, vec![9, 10]);
        log.purge(log_id(1, 7)).await.unwrap();
        assert_eq!(
            log.get_log_state().await.unwrap().last_purged_log_id,
            Some(log_id(1, 8))
        );
    });
}
