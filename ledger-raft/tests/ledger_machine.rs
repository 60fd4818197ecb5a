//! The ledger state machine alone, driven as openraft drives it (no Raft): groups applied to
//! a backup ledger in log order; the applied log id persisted only where no unsigned run is
//! pending; the whole log re-applied over lost bookkeeping without harm; a held run rebuilt
//! after a restart from the persisted point; ledger snapshots built on one node and installed
//! on another (which then follows the log), refused when tampered with or malformed (typed
//! errors; the bookkeeping as it was, and nothing stored that does not check), harmless when
//! older than the node's state, taken before a held run and dropping a held run they cover,
//! and demoting a stale primary; a snapshot's data streamed from the ledger as it is read
//! (seeks in any order), and the current snapshot handed out without reading the ledger.
//!
//! The groups come from a primary ledger whose proposals a channel collects, applied back to
//! it as consensus would (see `ledger-core/tests/replication.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU64;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use ledger_core::{Error, Ledger, LedgerConfig, ReplicatedGroup, Replicator, TxId, TxStatus};
use ledger_raft::{
    encode_group, found_service, Backend, Entry, FoundedService, LedgerRole, LedgerSlot,
    LedgerStateMachine, LogId, MemoryBackend, RaftStoreError, SnapshotMeta, TypeConfig,
};
use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, RaftSnapshotBuilder};
use parking_lot::Mutex;

#[derive(Debug)]
struct Proposals(Mutex<Sender<ReplicatedGroup>>);

impl Replicator for Proposals {
    fn propose(&self, group: ReplicatedGroup) -> Result<(), Error> {
        self.0.lock().send(group).map_err(|_| Error::Closed)
    }
}

/// Writes `count` entries on a primary of node 1 in `view`, applies each proposed group back to
/// it as consensus would, and returns the groups in order with the ids written.
fn primary_groups(
    service: &FoundedService,
    count: u32,
    sig_tx_interval: u64,
    view: u64,
) -> (Vec<ReplicatedGroup>, Vec<TxId>) {
    record_on_primary(
        service.nodes[0]
            .ledger_config()
            .sig_tx_interval(NonZeroU64::new(sig_tx_interval).unwrap())
            .sig_interval(Duration::from_secs(3600)),
        view,
        count,
        "entry",
    )
}

/// Opens `config`'s ledger as the primary of `view`, writes `count` entries
/// (`"<prefix> <i>"`), applies each proposed group back to it as consensus would, closes it,
/// and returns the groups in order with the ids written.
fn record_on_primary(
    config: LedgerConfig,
    view: u64,
    count: u32,
    prefix: &str,
) -> (Vec<ReplicatedGroup>, Vec<TxId>) {
    let (tx, rx): (Sender<ReplicatedGroup>, Receiver<ReplicatedGroup>) = channel();
    let replicator = Arc::new(Proposals(Mutex::new(tx)));
    let primary = Arc::new(Ledger::open(config.primary(view, replicator.clone())).unwrap());
    let applier = {
        let primary = primary.clone();
        std::thread::spawn(move || {
            let mut groups = Vec::new();
            while let Ok(group) = rx.recv_timeout(Duration::from_millis(500)) {
                primary.apply_group(&group).unwrap();
                groups.push(group);
            }
            groups
        })
    };
    let ids: Vec<TxId> = (0..count)
        .map(|i| {
            primary
                .append("c", format!("{prefix} {i}").as_bytes())
                .unwrap()
        })
        .collect();
    primary.flush().unwrap();
    drop(replicator);
    let groups = applier.join().unwrap();
    Arc::try_unwrap(primary).unwrap().close().unwrap();
    (groups, ids)
}

fn log_id(index: u64) -> LogId {
    term_log_id(1, index)
}

fn term_log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

/// The Raft log in term 1: a blank entry at index 1, then one entry per group.
fn entries(groups: &[ReplicatedGroup]) -> Vec<Entry> {
    entries_in_term(groups, 1)
}

/// The Raft log in `term`: a blank entry at index 1, then one entry per group.
fn entries_in_term(groups: &[ReplicatedGroup], term: u64) -> Vec<Entry> {
    let mut log = vec![Entry {
        log_id: term_log_id(term, 1),
        payload: EntryPayload::<TypeConfig>::Blank,
    }];
    for (i, group) in groups.iter().enumerate() {
        log.push(Entry {
            log_id: term_log_id(term, i as u64 + 2),
            payload: EntryPayload::Normal(encode_group(group).unwrap()),
        });
    }
    log
}

fn backup(service: &FoundedService) -> Arc<LedgerSlot> {
    backup_of(service, 1)
}

/// A slot holding node `i`'s ledger (from 0) as a backup.
fn backup_of(service: &FoundedService, i: usize) -> Arc<LedgerSlot> {
    let config = service.nodes[i].ledger_config();
    LedgerSlot::new(
        Ledger::open(config.clone().backup()).unwrap(),
        LedgerRole::Backup,
        config,
    )
}

/// Asserts that every id in `ids` is Committed on the ledger `slot` holds.
fn committed_on(slot: &LedgerSlot, ids: &[TxId]) {
    let ledger = slot.current().unwrap();
    for id in ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
    }
}

fn close(slot: &LedgerSlot) {
    slot.take(Duration::from_secs(5))
        .unwrap()
        .unwrap()
        .close()
        .unwrap();
}

#[tokio::test]
async fn groups_apply_in_order_and_reapplying_is_harmless() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    let (groups, ids) = primary_groups(&service, 300, 50, 2);
    assert!(groups.iter().all(|g| g.signed_at().is_some()));
    let log = entries(&groups);
    let last_index = log.len() as u64;

    let slot = backup(&service);
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let mut machine = LedgerStateMachine::open(backend.clone(), slot.clone()).unwrap();
    let replies = machine.apply(log.clone()).await.unwrap();
    assert_eq!(replies.len(), log.len());
    assert_eq!(machine.last_applied(), Some(log_id(last_index)));
    // Persisted at most every PERSIST_INTERVAL while applying, and when asked.
    machine.persist().unwrap();
    assert_eq!(machine.persisted_applied(), Some(log_id(last_index)));
    let ledger = slot.current().unwrap();
    let committed = ledger.last_committed();
    for id in &ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed);
    }
    drop(ledger);

    // The bookkeeping reopens where it was persisted.
    let reopened = LedgerStateMachine::open(backend, slot.clone()).unwrap();
    assert_eq!(reopened.last_applied(), Some(log_id(last_index)));

    // Bookkeeping lost (a fresh backend): openraft would re-apply the whole log. Every group
    // is already stored, so each is skipped and the ledger is unchanged.
    let mut fresh = LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    fresh.apply(log).await.unwrap();
    assert_eq!(fresh.last_applied(), Some(log_id(last_index)));
    assert_eq!(slot.current().unwrap().last_committed(), committed);

    close(&slot);
}

#[tokio::test]
async fn an_unsigned_run_is_not_persisted_as_applied_and_is_rebuilt_after_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    // A primary that signs rarely hands over groups of 4,096 transactions without a signature
    // before the signed one.
    let (groups, ids) = primary_groups(&service, 5000, 100_000, 2);
    let unsigned = groups
        .iter()
        .position(|g| g.signed_at().is_none())
        .expect("an unsigned group");
    let log = entries(&groups);
    // Log index of group g is g + 2.
    let unsigned_index = unsigned as u64 + 2;

    let slot = backup(&service);
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let mut machine = LedgerStateMachine::open(backend.clone(), slot.clone()).unwrap();
    let upto = unsigned_index as usize; // entries[..upto] ends with the unsigned group
    machine.apply(log[..upto].to_vec()).await.unwrap();
    machine.persist().unwrap();
    assert_eq!(machine.last_applied(), Some(log_id(unsigned_index)));
    assert_eq!(
        machine.persisted_applied(),
        Some(log_id(unsigned_index - 1)),
        "the applied log id stays before the held run"
    );
    let held = *ids
        .iter()
        .find(|id| {
            (groups[unsigned].first_seqno().unwrap()..=groups[unsigned].last_seqno().unwrap())
                .contains(&id.seqno())
        })
        .expect("a user entry in the held run");
    assert_eq!(slot.current().unwrap().status(held), TxStatus::Unknown);

    // A restart: the ledger reopens without the held run, the bookkeeping at the persisted
    // point; openraft re-applies from there, and the run is rebuilt and signed.
    close(&slot);
    let slot = backup(&service);
    let mut machine = LedgerStateMachine::open(backend, slot.clone()).unwrap();
    assert_eq!(machine.last_applied(), Some(log_id(unsigned_index - 1)));
    machine.apply(log[upto - 1..].to_vec()).await.unwrap();
    committed_on(&slot, &ids);
    machine.persist().unwrap();
    assert_eq!(machine.persisted_applied(), Some(log_id(log.len() as u64)));
    close(&slot);
}

#[tokio::test]
async fn a_refused_group_is_a_fatal_storage_error() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    let (groups, _) = primary_groups(&service, 100, 50, 2);
    assert!(groups.len() >= 2);
    let slot = backup(&service);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    // The second group first: out of order.
    let log = entries(&groups[1..]);
    let err = machine.apply(log).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("applying the group of log index 2"),
        "{err}"
    );
    assert_eq!(machine.persisted_applied(), None);
    close(&slot);
}

#[tokio::test]
async fn a_later_leaders_group_demotes_a_stale_primary() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    // Node 1 leads term 2 (view 3); its groups reach node 2, whose ledger is still the
    // primary it opened as the leader of term 1 (view 2), its role task not having reacted.
    let (groups, ids) = primary_groups(&service, 100, 50, 3);
    let config = service.nodes[1].ledger_config();
    let (tx, _proposals) = channel();
    let stale = Ledger::open(
        config
            .clone()
            .primary(2, Arc::new(Proposals(Mutex::new(tx)))),
    )
    .unwrap();
    let slot = LedgerSlot::new(stale, LedgerRole::Primary { term: 1 }, config);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    machine.apply(entries_in_term(&groups, 2)).await.unwrap();
    assert_eq!(slot.role(), Some(LedgerRole::Backup));
    committed_on(&slot, &ids);
    close(&slot);
    // Node 2's store records view 2 (opened, never applied) and view 3 beginning at the same
    // seqno; the audit accepts it.
    let options = ledger_core::AuditOptions::default()
        .service_certificate(service.identity.certificate_pem())
        .unwrap();
    let report = ledger_core::audit_path(&service.nodes[1].ledger_dir, &options).unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn a_later_view_restarting_at_a_pending_run_discards_it() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 3).unwrap();
    // Node 1, primary of view 2, hands over an unsigned group before its signed one.
    let (groups, ids) = primary_groups(&service, 5000, 100_000, 2);
    let unsigned = groups
        .iter()
        .position(|g| g.signed_at().is_none())
        .expect("an unsigned group");
    let run_first = groups[unsigned].first_seqno().unwrap();

    // Node 3 applies the signed groups before the run, then (the run lost with node 1)
    // becomes primary of view 3, which begins at the run's first seqno.
    let config3 = service.nodes[2].ledger_config();
    let backup3 = Ledger::open(config3.clone().backup()).unwrap();
    for group in &groups[..unsigned] {
        backup3.apply_group(group).unwrap();
    }
    backup3.close().unwrap();
    let (later, later_ids) = record_on_primary(
        config3.sig_interval(Duration::from_millis(5)),
        3,
        50,
        "view 3, entry",
    );
    assert_eq!(later[0].first_seqno(), Some(run_first));

    // Node 2's log: node 1's groups up to the run (term 1), then node 3's (term 2).
    let slot = backup(&service);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    let mut log = entries(&groups[..=unsigned]);
    let mut index = log.len() as u64;
    for group in &later {
        index += 1;
        log.push(Entry {
            log_id: term_log_id(2, index),
            payload: EntryPayload::Normal(encode_group(group).unwrap()),
        });
    }
    machine.apply(log).await.unwrap();
    machine.persist().unwrap();
    assert_eq!(machine.persisted_applied(), Some(term_log_id(2, index)));
    let ledger = slot.current().unwrap();
    for id in &later_ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
    }
    for id in ids.iter().filter(|id| id.seqno() >= run_first) {
        assert_eq!(
            ledger.status(*id),
            TxStatus::Invalid,
            "{id}, of the discarded run"
        );
    }
    drop(ledger);
    close(&slot);
    let options = ledger_core::AuditOptions::default()
        .service_certificate(service.identity.certificate_pem())
        .unwrap();
    for node in &service.nodes[1..] {
        let report = ledger_core::audit_path(&node.ledger_dir, &options).unwrap();
        assert!(report.is_clean(), "{report:?}");
    }
}

#[tokio::test]
async fn a_primary_that_cannot_apply_a_committed_group_is_reopened_as_a_backup() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    let (groups, ids) = primary_groups(&service, 100, 50, 3);
    // Node 2's primary of term 1 (view 2) whose proposals have stopped: its next proposal
    // fails, which poisons it.
    let config = service.nodes[1].ledger_config();
    let (tx, proposals) = channel::<ReplicatedGroup>();
    let poisoned = Ledger::open(
        config
            .clone()
            .primary(2, Arc::new(Proposals(Mutex::new(tx)))),
    )
    .unwrap();
    drop(proposals);
    let _ = poisoned.append("c", b"never proposed");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // `flush` reports the poisoning once the writer has tried to propose.
    while poisoned.flush().is_ok() {
        assert!(std::time::Instant::now() < deadline, "never poisoned");
        std::thread::sleep(Duration::from_millis(5));
    }
    let slot = LedgerSlot::new(poisoned, LedgerRole::Primary { term: 1 }, config);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    // Entries of its own term, so no demotion by term: the apply fails, and the fallback
    // reopens it as a backup, which checks and stores the groups.
    machine.apply(entries(&groups)).await.unwrap();
    assert_eq!(slot.role(), Some(LedgerRole::Backup));
    committed_on(&slot, &ids);
    close(&slot);
}

/// A snapshot of `machine`'s state (its builder's build) and its data.
async fn snapshot(machine: &mut LedgerStateMachine) -> (SnapshotMeta, Vec<u8>) {
    let snapshot = machine
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let mut data = snapshot.snapshot;
    (snapshot.meta, data.read_all().unwrap())
}

/// The current snapshot's metadata and data, if there is one.
async fn current(machine: &LedgerStateMachine) -> Option<(SnapshotMeta, Vec<u8>)> {
    machine
        .current_snapshot()
        .await
        .unwrap()
        .map(|mut s| (s.meta, s.snapshot.read_all().unwrap()))
}

/// Flips the lowest bit of the byte `offset` bytes into the first occurrence of `needle`.
fn flip_at(bytes: &mut [u8], needle: &[u8], offset: usize) {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in the snapshot");
    bytes[at + offset] ^= 0x01;
}

/// The DER node signature of the signature transaction ending `group`.
fn node_signature(group: &ReplicatedGroup) -> Vec<u8> {
    let last = group.entries.last().unwrap();
    let entry = ledger_core::decode_entry(&last.bytes).unwrap();
    entry.body.signature.unwrap().signature
}

fn audit_clean(service: &FoundedService, i: usize) {
    let options = ledger_core::AuditOptions::default()
        .service_certificate(service.identity.certificate_pem())
        .unwrap();
    let report = ledger_core::audit_path(&service.nodes[i].ledger_dir, &options).unwrap();
    assert!(report.is_clean(), "node {i}: {report:?}");
}

#[tokio::test]
async fn a_snapshot_installs_on_a_fresh_node_which_then_follows_the_log() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 3).unwrap();
    let cert = service.identity.certificate_pem().to_string();
    let (groups, ids) = primary_groups(&service, 300, 50, 2);
    assert!(groups.iter().all(|g| g.signed_at().is_some()));
    let log = entries(&groups);
    // The snapshot covers the log but its last two groups, which then come from the log.
    let split = log.len() - 2;

    let source = backup_of(&service, 1);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), source.clone()).unwrap();
    assert!(current(&machine).await.is_none());
    machine.apply(log[..split].to_vec()).await.unwrap();
    let (meta, data) = snapshot(&mut machine).await;
    assert_eq!(meta.last_log_id, Some(log_id(split as u64)));
    assert_eq!(data[0], 1, "format version");
    let covered = groups[split - 2].signed_at().unwrap();
    assert_eq!(
        source.current().unwrap().committed_signature(),
        Some(covered)
    );
    // The current snapshot is the one built, its data rebuilt from the ledger byte for byte,
    // also once the ledger has gone on.
    machine.apply(log[split..].to_vec()).await.unwrap();
    assert_eq!(current(&machine).await, Some((meta.clone(), data.clone())));

    let target = backup_of(&service, 2);
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let mut fresh = LedgerStateMachine::open(backend.clone(), target.clone()).unwrap();
    fresh
        .install_ledger_snapshot(&meta, data.clone())
        .await
        .unwrap();
    assert_eq!(fresh.last_applied(), meta.last_log_id);
    assert_eq!(fresh.persisted_applied(), meta.last_log_id);
    assert_eq!(
        fresh.applied_state().await.unwrap(),
        (meta.last_log_id, meta.last_membership.clone())
    );
    let ledger = target.current().unwrap();
    assert_eq!(ledger.committed_signature(), Some(covered));
    for id in ids.iter().filter(|id| id.seqno() < covered.seqno()) {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
        let entry = ledger.entry("c", *id).unwrap();
        assert_eq!(
            entry.contents,
            format!("entry {}", ids.iter().position(|i| i == id).unwrap()).into_bytes()
        );
        ledger.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    drop(ledger);
    // The install is persisted, and the node serves the same snapshot from its own ledger.
    let reopened = LedgerStateMachine::open(backend, target.clone()).unwrap();
    assert_eq!(reopened.last_applied(), meta.last_log_id);
    assert_eq!(current(&fresh).await, Some((meta.clone(), data)));

    // The log after the snapshot's point follows on.
    fresh.apply(log[split..].to_vec()).await.unwrap();
    fresh.persist().unwrap();
    assert_eq!(fresh.persisted_applied(), Some(log_id(log.len() as u64)));
    let ledger = target.current().unwrap();
    for id in &ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
        ledger.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    assert_eq!(
        ledger.committed_signature(),
        source.current().unwrap().committed_signature()
    );
    drop(ledger);
    close(&source);
    close(&target);
    audit_clean(&service, 1);
    audit_clean(&service, 2);
}

#[tokio::test]
async fn a_tampered_or_malformed_snapshot_is_refused_and_only_groups_that_check_are_stored() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 4).unwrap();
    let cert = service.identity.certificate_pem().to_string();
    let (groups, ids) = primary_groups(&service, 300, 50, 2);
    assert!(groups.len() >= 4);
    let source = backup_of(&service, 1);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), source.clone()).unwrap();
    machine.apply(entries(&groups)).await.unwrap();
    let (meta, data) = snapshot(&mut machine).await;
    close(&source);

    let target = backup_of(&service, 2);
    let mut fresh =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), target.clone()).unwrap();
    let genesis = target.current().unwrap().committed_signature();
    let as_it_was = |fresh: &LedgerStateMachine, stored: Option<TxId>| {
        assert_eq!(
            fresh.slot().current().unwrap().committed_signature(),
            stored
        );
        assert_eq!(fresh.last_applied(), None);
        assert_eq!(fresh.persisted_applied(), None);
    };
    let refused = |result: Result<(), RaftStoreError>, at: u64, reason_says: &str| match result {
        Err(RaftStoreError::SnapshotLedger { seqno, source, .. }) => {
            assert_eq!(seqno, at);
            match *source {
                Error::GroupRejected { reason, .. } => {
                    assert!(reason.contains(reason_says), "{reason}")
                }
                other => panic!("expected a refused group: {other:?}"),
            }
        }
        other => panic!("expected a refused group: {other:?}"),
    };
    // A new primary signs first, alone, in a group of its own.
    let [opening, first, second, third, ..] = &groups[..] else {
        panic!("{} groups", groups.len())
    };
    assert_eq!(opening.entries.len(), 1);
    assert_eq!(genesis.map(|g| g.seqno() + 1), opening.first_seqno());
    let contains = |group: &ReplicatedGroup, id: TxId| {
        (group.first_seqno().unwrap()..=group.last_seqno().unwrap()).contains(&id.seqno())
    };
    assert!(contains(first, ids[7]));
    let at_first = first.first_seqno().unwrap();

    // The first group's signature changed: it does not verify over the root. Refused, and
    // the node is exactly as it was.
    let mut forged = data.clone();
    let signature = node_signature(opening);
    flip_at(&mut forged, &signature, signature.len() - 1);
    refused(
        fresh.install_ledger_snapshot(&meta, forged).await,
        opening.first_seqno().unwrap(),
        "signature",
    );
    as_it_was(&fresh, genesis);

    // An entry's contents changed: the root its signature signs is not this node's. The
    // group before it, checked and sound, is stored; the bookkeeping does not move.
    let mut forged = data.clone();
    flip_at(&mut forged, b"entry 7", 6);
    refused(
        fresh.install_ledger_snapshot(&meta, forged).await,
        at_first,
        "root",
    );
    as_it_was(&fresh, opening.signed_at());
    assert!(current(&fresh).await.is_none());

    // That group's signature changed: refused, the node as the refusal before left it.
    let mut forged = data.clone();
    let signature = node_signature(first);
    flip_at(&mut forged, &signature, signature.len() - 1);
    refused(
        fresh.install_ledger_snapshot(&meta, forged).await,
        at_first,
        "signature",
    );
    as_it_was(&fresh, opening.signed_at());

    close(&target);
    audit_clean(&service, 2);

    // Not a ledger snapshot of this metadata: refused before the ledger sees any of it (a
    // fresh node, at genesis).
    let target = backup_of(&service, 3);
    let mut fresh =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), target.clone()).unwrap();
    let genesis = target.current().unwrap().committed_signature();
    let invalid = |result: Result<(), RaftStoreError>, says: &str| match result {
        Err(RaftStoreError::InvalidSnapshot { detail, .. }) => {
            assert!(detail.contains(says), "{detail}")
        }
        other => panic!("expected an invalid snapshot ({says}): {other:?}"),
    };
    let mut truncated = data.clone();
    truncated.pop();
    invalid(
        fresh.install_ledger_snapshot(&meta, truncated).await,
        "bytes",
    );
    as_it_was(&fresh, genesis);
    let mut version = data.clone();
    version[0] = 2;
    invalid(
        fresh.install_ledger_snapshot(&meta, version).await,
        "format version 2",
    );
    let other_point = SnapshotMeta {
        last_log_id: Some(log_id(1)),
        ..meta.clone()
    };
    invalid(
        fresh
            .install_ledger_snapshot(&other_point, data.clone())
            .await,
        "metadata",
    );
    invalid(
        fresh.install_ledger_snapshot(&meta, Vec::new()).await,
        "empty",
    );
    as_it_was(&fresh, genesis);

    // A later group's signature changed: the groups before it, each checked and signed by an
    // endorsed node, stay stored; the bookkeeping does not move.
    let mut forged = data.clone();
    let signature = node_signature(third);
    flip_at(&mut forged, &signature, signature.len() - 1);
    refused(
        fresh.install_ledger_snapshot(&meta, forged).await,
        third.first_seqno().unwrap(),
        "signature",
    );
    assert_eq!(
        target.current().unwrap().committed_signature(),
        second.signed_at()
    );
    assert_eq!(fresh.last_applied(), None);
    assert!(current(&fresh).await.is_none());

    // The genuine snapshot installs.
    fresh.install_ledger_snapshot(&meta, data).await.unwrap();
    assert_eq!(fresh.last_applied(), meta.last_log_id);
    let ledger = target.current().unwrap();
    for id in &ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
        ledger.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    drop(ledger);
    close(&target);
    audit_clean(&service, 3);
}

#[tokio::test]
async fn an_older_snapshot_changes_nothing_and_a_ledger_ahead_of_one_is_kept() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    let (groups, _) = primary_groups(&service, 300, 50, 2);
    let log = entries(&groups);
    let split = log.len() - 3;
    let slot = backup(&service);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    machine.apply(log[..split].to_vec()).await.unwrap();
    let (old_meta, old_data) = snapshot(&mut machine).await;
    // A builder made now finishes only after a later snapshot is recorded.
    let mut slow_builder = machine.get_snapshot_builder().await;
    machine.apply(log[split..].to_vec()).await.unwrap();
    let last = Some(log_id(log.len() as u64));
    let committed = slot.current().unwrap().committed_signature();
    assert!(committed > groups[split - 2].signed_at());
    let (new_meta, new_data) = snapshot(&mut machine).await;
    assert_eq!(new_meta.last_log_id, last);
    let slow = slow_builder.build().await.unwrap();
    assert_eq!(slow.meta, old_meta);
    let mut slow_data = slow.snapshot;
    assert_eq!(slow_data.read_all().unwrap(), old_data);
    assert_eq!(
        current(&machine).await,
        Some((new_meta, new_data)),
        "the current snapshot only moves forward"
    );

    // At or before the last applied log id: nothing changes.
    machine
        .install_ledger_snapshot(&old_meta, old_data.clone())
        .await
        .unwrap();
    assert_eq!(machine.last_applied(), last);
    assert_eq!(machine.persisted_applied(), last);
    assert_eq!(slot.current().unwrap().committed_signature(), committed);

    // Bookkeeping behind the ledger (lost): the snapshot's bookkeeping is taken, the ledger,
    // which stores more than the snapshot covers, is kept, and the log after the snapshot's
    // point re-applies over it without harm.
    let mut behind =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    behind
        .install_ledger_snapshot(&old_meta, old_data.clone())
        .await
        .unwrap();
    assert_eq!(behind.last_applied(), old_meta.last_log_id);
    assert_eq!(slot.current().unwrap().committed_signature(), committed);
    assert_eq!(current(&behind).await, Some((old_meta, old_data)));
    behind.apply(log[split..].to_vec()).await.unwrap();
    behind.persist().unwrap();
    assert_eq!(behind.persisted_applied(), last);
    assert_eq!(slot.current().unwrap().committed_signature(), committed);
    close(&slot);
    audit_clean(&service, 1);
}

#[tokio::test]
async fn installing_a_snapshot_demotes_a_stale_primary() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 3).unwrap();
    // Node 1 leads term 2 (view 3); node 3 applied its groups; node 2's ledger is still the
    // primary it opened as the leader of term 1 (view 2).
    let (groups, ids) = primary_groups(&service, 100, 50, 3);
    let source = backup_of(&service, 2);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), source.clone()).unwrap();
    machine.apply(entries_in_term(&groups, 2)).await.unwrap();
    let (meta, data) = snapshot(&mut machine).await;
    close(&source);

    let config = service.nodes[1].ledger_config();
    let (tx, _proposals) = channel();
    let stale = Ledger::open(
        config
            .clone()
            .primary(2, Arc::new(Proposals(Mutex::new(tx)))),
    )
    .unwrap();
    let slot = LedgerSlot::new(stale, LedgerRole::Primary { term: 1 }, config);
    let mut stale_machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), slot.clone()).unwrap();
    stale_machine
        .install_ledger_snapshot(&meta, data)
        .await
        .unwrap();
    assert_eq!(slot.role(), Some(LedgerRole::Backup));
    committed_on(&slot, &ids);
    close(&slot);
    audit_clean(&service, 1);
}

#[tokio::test]
async fn a_snapshot_taken_while_a_run_is_held_ends_before_the_run() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 3).unwrap();
    // A primary that signs rarely hands over an unsigned group before the signed one.
    let (groups, ids) = primary_groups(&service, 5000, 100_000, 2);
    let unsigned = groups
        .iter()
        .position(|g| g.signed_at().is_none())
        .expect("an unsigned group");
    let log = entries(&groups);
    // Log index of group g is g + 2; entries[..upto] ends with the unsigned group.
    let unsigned_index = unsigned as u64 + 2;
    let upto = unsigned_index as usize;

    let source = backup_of(&service, 1);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), source.clone()).unwrap();
    machine.apply(log[..upto].to_vec()).await.unwrap();
    assert_eq!(machine.last_applied(), Some(log_id(unsigned_index)));
    let (meta, data) = snapshot(&mut machine).await;
    assert_eq!(
        meta.last_log_id,
        Some(log_id(unsigned_index - 1)),
        "the snapshot is at the last point without a held run"
    );
    let stored = source.current().unwrap().committed_signature();
    close(&source);

    // Installed on a fresh node, which then applies the log after the snapshot's point: the
    // run, then the signed group that covers it.
    let target = backup_of(&service, 2);
    let mut fresh =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), target.clone()).unwrap();
    fresh.install_ledger_snapshot(&meta, data).await.unwrap();
    assert_eq!(target.current().unwrap().committed_signature(), stored);
    fresh.apply(log[upto - 1..].to_vec()).await.unwrap();
    committed_on(&target, &ids);
    close(&target);
    audit_clean(&service, 2);
}

#[tokio::test]
async fn installing_a_snapshot_drops_a_held_run_it_covers() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 3).unwrap();
    // Node 1 leads term 1 (view 2): an unsigned group, then the signed group covering it.
    let (groups, ids) = primary_groups(&service, 5000, 100_000, 2);
    let unsigned = groups
        .iter()
        .position(|g| g.signed_at().is_none())
        .expect("an unsigned group");
    assert!(groups[unsigned + 1].signed_at().is_some());
    let mut log = entries(&groups);
    // Then node 1 leads term 2 (view 3) and writes more.
    let (later, later_ids) = record_on_primary(
        service.nodes[0]
            .ledger_config()
            .sig_tx_interval(NonZeroU64::new(50).unwrap())
            .sig_interval(Duration::from_secs(3600)),
        3,
        100,
        "view 3, entry",
    );
    let first_term_len = log.len();
    log.push(Entry {
        log_id: term_log_id(2, first_term_len as u64 + 1),
        payload: EntryPayload::Blank,
    });
    for group in &later {
        log.push(Entry {
            log_id: term_log_id(2, log.len() as u64 + 1),
            payload: EntryPayload::Normal(encode_group(group).unwrap()),
        });
    }

    // Node 2 applies the first term and snapshots it (the run's signature included).
    let source = backup_of(&service, 1);
    let mut machine =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), source.clone()).unwrap();
    machine.apply(log[..first_term_len].to_vec()).await.unwrap();
    let (meta, data) = snapshot(&mut machine).await;
    assert_eq!(meta.last_log_id, Some(log_id(first_term_len as u64)));
    close(&source);

    // Node 3 holds the run when the snapshot comes; the snapshot covers it, and the later
    // term's groups follow on from the snapshot.
    let target = backup_of(&service, 2);
    let mut fresh =
        LedgerStateMachine::open(Arc::new(MemoryBackend::new()), target.clone()).unwrap();
    let upto = unsigned + 2;
    fresh.apply(log[..upto].to_vec()).await.unwrap();
    fresh.persist().unwrap();
    assert_eq!(fresh.persisted_applied(), Some(log_id(upto as u64 - 1)));
    fresh.install_ledger_snapshot(&meta, data).await.unwrap();
    fresh.apply(log[first_term_len..].to_vec()).await.unwrap();
    fresh.persist().unwrap();
    assert_eq!(
        fresh.persisted_applied(),
        Some(term_log_id(2, log.len() as u64))
    );
    let ledger = target.current().unwrap();
    for id in ids.iter().chain(&later_ids) {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
    }
    drop(ledger);
    close(&target);
    audit_clean(&service, 2);
}

/// A replicated node's ledger is written without a sync per group (Raft's log makes commits
/// durable): what the machine records as applied must never run ahead of what the ledger's
/// store has synced, or a power cut would lose groups openraft does not apply again. Here a
/// backup's store loses everything unsynced in a power cut: everything up to the persisted
/// point survives, and re-applying the log after it (as openraft does after a restart)
/// brings back the rest.
#[tokio::test]
async fn a_power_cut_loses_nothing_the_machine_recorded_as_applied() {
    use ledger_core::{Durability, NodeIdentity, ServiceIdentity};
    use ledger_store::testing::FaultyStore;
    use ledger_store::{MemoryStore, Recovery, Store};

    let fresh = Recovery {
        committed_seqno: 0,
        discarded: None,
    };
    // A genesis store recorded group by group, so that a power cut can be taken of copies.
    let identity = ServiceIdentity::generate("power cut").unwrap();
    let genesis = Arc::new(FaultyStore::recording(MemoryStore::new(), Vec::new()));
    let store: Arc<dyn Store> = genesis.clone();
    Ledger::with_store(
        store,
        &fresh,
        &LedgerConfig::new("").service_identity(identity.clone()),
    )
    .unwrap()
    .close()
    .unwrap();
    genesis.sync().unwrap();
    let copy = || {
        let cut = genesis.power_cut().unwrap();
        (
            Arc::new(FaultyStore::recording(cut.store, cut.history)),
            cut.recovery,
        )
    };
    let nodes: Vec<Arc<NodeIdentity>> = (1..=2)
        .map(|i| Arc::new(NodeIdentity::generate(&identity, &format!("node {i}")).unwrap()))
        .collect();
    let config = |node: usize| {
        LedgerConfig::new("")
            .node_signer(nodes[node].clone())
            .durability(Durability::Buffered)
    };

    // The primary's groups: 300 entries, a signature every 20.
    let (tx, rx) = channel();
    let replicator = Arc::new(Proposals(Mutex::new(tx)));
    let (store, recovery) = copy();
    let primary = Arc::new(
        Ledger::with_store(
            store,
            &recovery,
            &config(0)
                .sig_tx_interval(NonZeroU64::new(20).unwrap())
                .sig_interval(Duration::from_secs(3600))
                .primary(2, replicator.clone()),
        )
        .unwrap(),
    );
    let applier = {
        let primary = primary.clone();
        std::thread::spawn(move || {
            let mut groups = Vec::new();
            while let Ok(group) = rx.recv_timeout(Duration::from_millis(500)) {
                primary.apply_group(&group).unwrap();
                groups.push(group);
            }
            groups
        })
    };
    let ids: Vec<TxId> = (0..300)
        .map(|i| {
            primary
                .append("c", format!("entry {i}").as_bytes())
                .unwrap()
        })
        .collect();
    primary.flush().unwrap();
    drop(replicator);
    let groups = applier.join().unwrap();
    Arc::try_unwrap(primary).unwrap().close().unwrap();
    let log = entries(&groups);
    // Split after a signed group, about half way.
    let split = (log.len() / 2..log.len())
        .find(|&i| match &log[i - 1].payload {
            EntryPayload::Normal(payload) => ledger_raft::decode_group(payload)
                .unwrap()
                .signed_at()
                .is_some(),
            _ => false,
        })
        .unwrap();

    // The backup applies the first half and persists, then applies the rest.
    let (disk, recovery) = copy();
    let store: Arc<dyn Store> = disk.clone();
    let slot = LedgerSlot::new(
        Ledger::with_store(store, &recovery, &config(1).backup()).unwrap(),
        LedgerRole::Backup,
        config(1),
    );
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let mut machine = LedgerStateMachine::open(backend.clone(), slot.clone()).unwrap();
    machine.apply(log[..split].to_vec()).await.unwrap();
    machine.persist().unwrap();
    let persisted = machine.persisted_applied();
    assert_eq!(persisted, Some(log_id(split as u64)));
    machine.apply(log[split..].to_vec()).await.unwrap();
    let all = slot.current().unwrap();
    for id in &ids {
        assert_eq!(all.status(*id), TxStatus::Committed, "{id} before the cut");
    }
    drop(all);

    // The power cut: the store keeps what was synced; the bookkeeping (in memory here, every
    // write of it kept) says how far the machine got.
    let cut = disk.power_cut().unwrap();
    drop(machine);
    drop(slot);
    let store: Arc<dyn Store> = Arc::new(cut.store);
    let slot = LedgerSlot::new(
        Ledger::with_store(store, &cut.recovery, &config(1).backup()).unwrap(),
        LedgerRole::Backup,
        config(1),
    );
    let mut machine = LedgerStateMachine::open(backend, slot.clone()).unwrap();
    assert_eq!(machine.last_applied(), persisted);
    let ledger = slot.current().unwrap();
    let lost = ids
        .iter()
        .filter(|id| ledger.status(**id) != TxStatus::Committed)
        .count();
    // Everything the persisted point covers survived (the entries of the first half).
    let covered = groups[..split - 1]
        .iter()
        .flat_map(|g| &g.entries)
        .map(|e| e.seqno)
        .max()
        .unwrap();
    for id in ids.iter().filter(|id| id.seqno() < covered) {
        assert_eq!(
            ledger.status(*id),
            TxStatus::Committed,
            "{id} after the cut"
        );
    }
    assert!(lost > 0, "the cut lost nothing: the test proves nothing");
    drop(ledger);

    // openraft applies the log after the persisted point again: everything is back.
    let from = persisted.unwrap().index as usize;
    machine.apply(log[from..].to_vec()).await.unwrap();
    let ledger = slot.current().unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
        assert_eq!(
            ledger.entry("c", *id).unwrap().contents,
            format!("entry {i}").into_bytes()
        );
    }
}

/// A snapshot's data is produced from the ledger as openraft reads it, not held: read back in
/// chunks in reverse order (each seek backwards starts the stream again) it is the data read
/// whole. Building reads nothing of the ledger (its length is measured on the first seek from
/// the end, when openraft sends it), nor does handing out the current snapshot (openraft asks
/// for it at every start): with the ledger closed both still succeed, and only reading the
/// data fails. A record written before lengths were recorded still reads.
#[tokio::test]
async fn a_snapshot_streams_from_the_ledger_and_the_current_one_is_read_only_when_sent() {
    use std::io::{Read, Seek, SeekFrom};

    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "machine", 2).unwrap();
    let (groups, _) = primary_groups(&service, 400, 50, 2);
    let slot = backup(&service);
    let backend = Arc::new(MemoryBackend::new());
    let mut machine = LedgerStateMachine::open(backend.clone(), slot.clone()).unwrap();
    machine.apply(entries(&groups)).await.unwrap();
    let (meta, data) = snapshot(&mut machine).await;
    assert!(data.len() > 20_000, "{} bytes", data.len());
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Record {
        meta: SnapshotMeta,
        signature: Option<(u64, u64)>,
        len: Option<u64>,
    }
    let config = bincode::config::standard();
    let record_bytes = || {
        backend
            .get(ledger_raft::Keyspace::Machine, b"ledger_snapshot")
            .unwrap()
            .unwrap()
    };
    let (record, _): (Record, usize) =
        bincode::serde::decode_from_slice(&record_bytes()[1..], config).unwrap();
    assert_eq!(record.len, None, "a build measures nothing");

    let mut streamed = machine.current_snapshot().await.unwrap().unwrap();
    assert_eq!(streamed.meta, meta);
    let stream = &mut streamed.snapshot;
    assert_eq!(stream.seek(SeekFrom::End(0)).unwrap(), data.len() as u64);
    let chunk = 4_000;
    let mut offsets: Vec<usize> = (0..data.len()).step_by(chunk).collect();
    offsets.reverse();
    for offset in offsets {
        stream.seek(SeekFrom::Start(offset as u64)).unwrap();
        let want = &data[offset..(offset + chunk).min(data.len())];
        let mut got = vec![0u8; want.len()];
        stream.read_exact(&mut got).unwrap();
        assert_eq!(got, want, "at {offset}");
    }
    let mut past = [0u8; 8];
    stream
        .seek(SeekFrom::Start(data.len() as u64 + 10))
        .unwrap();
    assert_eq!(stream.read(&mut past).unwrap(), 0);

    let put_record = |bytes: Vec<u8>| {
        let op = ledger_raft::WriteOp::Put(
            ledger_raft::Keyspace::Machine,
            b"ledger_snapshot".to_vec(),
            bytes,
        );
        backend.write(vec![op], false).unwrap();
    };

    // The record as an earlier version wrote it (no length field).
    let bytes = record_bytes();
    let mut old = vec![1u8];
    old.extend(bincode::serde::encode_to_vec((&record.meta, record.signature), config).unwrap());
    put_record(old);
    assert_eq!(current(&machine).await, Some((meta.clone(), data.clone())));

    // Nothing is read until the data is.
    let mut builder = machine.get_snapshot_builder().await;
    put_record(bytes);
    close(&slot);
    let mut unread = machine.current_snapshot().await.unwrap().unwrap();
    assert_eq!(unread.meta, meta);
    assert!(unread.snapshot.read_all().is_err());
    let mut built = builder.build().await.unwrap();
    assert_eq!(built.meta, meta);
    assert!(built.snapshot.len().is_err());
}
