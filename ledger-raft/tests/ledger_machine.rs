//! The ledger state machine alone, driven as openraft drives it (no Raft): groups applied to
//! a backup ledger in log order; the applied log id persisted only where no unsigned run is
//! pending; the whole log re-applied over lost bookkeeping without harm; a held run rebuilt
//! after a restart from the persisted point; snapshots refused with a typed error.
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
    LedgerStateMachine, LogId, MemoryBackend, TypeConfig,
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
    let config = service.nodes[1].ledger_config();
    LedgerSlot::new(
        Ledger::open(config.clone().backup()).unwrap(),
        LedgerRole::Backup,
        config,
    )
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

    // Snapshots are refused with the typed error, not faked.
    let mut builder = fresh.get_snapshot_builder().await;
    let err = builder.build_snapshot().await.unwrap_err();
    assert!(err.to_string().contains("not implemented"), "{err}");
    assert!(fresh.get_current_snapshot().await.unwrap().is_none());
    assert!(fresh.begin_receiving_snapshot().await.is_err());

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
    let ledger = slot.current().unwrap();
    for id in &ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
    }
    drop(ledger);
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
    let ledger = slot.current().unwrap();
    for id in &ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
    }
    drop(ledger);
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
    let ledger = slot.current().unwrap();
    for id in &ids {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
    }
    drop(ledger);
    close(&slot);
}
