//! Replication in the engine: a primary's groups applied to backups, which check them, store
//! them and serve the same committed history; backups refusing altered groups; a failover to
//! a later view that leaves the old primary's unapplied tail Invalid everywhere; a committed
//! ledger read back as groups (`Ledger::replicated_groups`) that a backup at genesis accepts.
//!
//! Consensus is played by the test: a channel for the primary's proposals and a thread that
//! applies each group to every node in order (what `ledger-raft` does once a majority holds a
//! group).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use ledger_core::testing::ChannelReplicator;
use ledger_core::{
    audit_path, AuditOptions, Error, Ledger, LedgerConfig, NodeIdentity, ReplicatedGroup, Role,
    ServiceIdentity, Transaction, TxId, TxStatus,
};

const WAIT: Duration = Duration::from_secs(30);

fn proposals() -> (Arc<ChannelReplicator>, Receiver<ReplicatedGroup>) {
    ChannelReplicator::new()
}

/// A founded service: a genesis store copied to every node, one node identity each.
struct Service {
    identity: ServiceIdentity,
    dirs: Vec<PathBuf>,
    nodes: Vec<Arc<NodeIdentity>>,
    _root: tempfile::TempDir,
}

impl Service {
    fn found(n: usize) -> Service {
        let root = tempfile::tempdir().unwrap();
        let identity = ServiceIdentity::generate("replicated service").unwrap();
        let genesis = root.path().join("genesis");
        Ledger::open(LedgerConfig::new(&genesis).service_identity(identity.clone()))
            .unwrap()
            .close()
            .unwrap();
        let mut dirs = Vec::new();
        let mut nodes = Vec::new();
        for i in 1..=n {
            let dir = root.path().join(format!("node{i}"));
            copy_dir(&genesis, &dir);
            dirs.push(dir);
            nodes.push(Arc::new(
                NodeIdentity::generate(&identity, &format!("node {i}")).unwrap(),
            ));
        }
        Service {
            identity,
            dirs,
            nodes,
            _root: root,
        }
    }

    fn config(&self, i: usize) -> LedgerConfig {
        LedgerConfig::new(&self.dirs[i])
            .node_signer(self.nodes[i].clone())
            .sig_tx_interval(std::num::NonZeroU64::new(50).unwrap())
    }

    /// A primary that signs only when flushed (or every 100,000 transactions).
    fn rarely_signing_primary(
        &self,
        i: usize,
        view: u64,
        replicator: Arc<ChannelReplicator>,
    ) -> Arc<Ledger> {
        Arc::new(
            Ledger::open(
                self.config(i)
                    .sig_tx_interval(std::num::NonZeroU64::new(100_000).unwrap())
                    .sig_interval(Duration::from_secs(3600))
                    .primary(view, replicator),
            )
            .unwrap(),
        )
    }

    fn primary(&self, i: usize, view: u64, replicator: Arc<ChannelReplicator>) -> Arc<Ledger> {
        Arc::new(Ledger::open(self.config(i).primary(view, replicator)).unwrap())
    }

    fn backup(&self, i: usize) -> Arc<Ledger> {
        Arc::new(Ledger::open(self.config(i).backup()).unwrap())
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Applies every group proposed to every node, in order, until told to stop.
struct Applier {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Vec<ReplicatedGroup>>,
}

impl Applier {
    /// Stops once nothing more is proposed, and returns the groups applied (the thread's
    /// handles on the nodes are dropped).
    fn finish(self) -> Vec<ReplicatedGroup> {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap()
    }
}

fn apply_all(rx: Receiver<ReplicatedGroup>, nodes: Vec<Arc<Ledger>>) -> Applier {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut applied = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_millis(10)) {
                Ok(group) => {
                    for node in &nodes {
                        node.apply_group(&group).unwrap();
                    }
                    applied.push(group);
                }
                Err(RecvTimeoutError::Timeout) if !stopping.load(Ordering::Acquire) => {}
                Err(_) => return applied,
            }
        }
    });
    Applier { stop, handle }
}

/// Waits until `node` reports `id` Committed: a backup that has not applied a transaction's
/// group yet does not know it (Unknown), which `wait_for_commit` reports at once.
fn committed_on(node: &Ledger, id: TxId) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match node.wait_for_commit(id, Duration::from_millis(20)).unwrap() {
            TxStatus::Committed => return,
            status if std::time::Instant::now() > deadline => {
                panic!("{id} still {status:?} on {:?}", node.role())
            }
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn close(ledger: Arc<Ledger>) {
    Arc::try_unwrap(ledger)
        .unwrap_or_else(|_| panic!("ledger still shared"))
        .close()
        .unwrap();
}

fn audit_clean(dir: &Path, service: &ServiceIdentity) {
    let options = AuditOptions::default()
        .service_certificate(service.certificate_pem())
        .unwrap();
    let report = audit_path(dir, &options).unwrap();
    assert!(report.is_clean(), "audit of {}: {report:?}", dir.display());
}

#[test]
fn backups_store_and_serve_what_the_primary_commits() {
    let service = Service::found(3);
    let (replicator, rx) = proposals();
    let primary = service.primary(0, 2, replicator.clone());
    assert_eq!(primary.role(), Role::Primary);
    let backups = [service.backup(1), service.backup(2)];
    assert_eq!(backups[0].role(), Role::Backup);
    let applier = apply_all(
        rx,
        vec![primary.clone(), backups[0].clone(), backups[1].clone()],
    );

    let mut written = Vec::new();
    for i in 0..300u32 {
        let collection = if i % 3 == 0 { "a" } else { "b" };
        let contents = format!("entry {i}").into_bytes();
        let id = if i % 10 == 0 {
            let mut tx = Transaction::new();
            tx.append(collection, &contents);
            tx.put("settings", format!("k{}", i % 4).as_bytes(), &contents);
            primary.submit(tx).unwrap()
        } else {
            primary.append(collection, &contents).unwrap()
        };
        assert_eq!(id.view(), 2, "the primary writes in the view it was given");
        written.push((id, collection, contents));
    }
    primary.flush().unwrap();
    let last = written.last().unwrap().0;
    for backup in &backups {
        committed_on(backup, last);
    }

    let cert = primary.service_certificate_pem();
    for (id, collection, contents) in &written {
        assert_eq!(primary.status(*id), TxStatus::Committed);
        for backup in &backups {
            assert_eq!(backup.status(*id), TxStatus::Committed);
            let entry = backup.entry(collection, *id).unwrap();
            assert_eq!(&entry.contents, contents);
            backup.receipt(*id).unwrap().verify(&cert).unwrap();
        }
    }
    for backup in &backups {
        assert_eq!(
            backup.table_get("settings", b"k0").unwrap(),
            primary.table_get("settings", b"k0").unwrap()
        );
        assert_eq!(backup.last_committed(), primary.last_committed());
        // A backup takes no writes, and says so.
        assert!(matches!(
            backup.append("a", b"refused"),
            Err(Error::NotPrimary { primary: None })
        ));
    }

    applier.finish();
    let [b1, b2] = backups;
    close(b1);
    close(b2);
    drop(replicator);
    close(primary);
    for dir in &service.dirs {
        audit_clean(dir, &service.identity);
    }
}

/// Flips one byte of `bytes` at the first place `needle` occurs, plus `offset`.
fn flip_at(bytes: &mut [u8], needle: &[u8], offset: usize) {
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in entry");
    bytes[at + offset] ^= 0x01;
}

fn sig_entry_seqno(group: &ReplicatedGroup) -> u64 {
    group.last_seqno().unwrap()
}

#[test]
fn a_backup_refuses_altered_groups_and_stays_usable() {
    let service = Service::found(2);
    let (replicator, rx) = proposals();
    let primary = service.primary(0, 2, replicator.clone());
    let backup = service.backup(1);
    // Only the primary applies as consensus commits; the backup gets the groups below.
    let applier = apply_all(rx, vec![primary.clone()]);
    let mut ids = Vec::new();
    for i in 0..120u32 {
        ids.push(
            primary
                .append("c", format!("original {i}").as_bytes())
                .unwrap(),
        );
    }
    primary.flush().unwrap();
    let groups = applier.finish();
    drop(replicator);
    let cert = primary.service_certificate_pem();
    close(primary);
    assert!(groups.len() >= 2, "groups: {}", groups.len());
    let refused = |group: &ReplicatedGroup, what: &str| {
        let before = (backup.last_committed(), backup.status(ids[0]));
        match backup.apply_group(group) {
            Err(Error::GroupRejected { seqno, .. }) => {
                assert_eq!(
                    (backup.last_committed(), backup.status(ids[0])),
                    before,
                    "{what}: nothing applied"
                );
                seqno
            }
            other => panic!("{what}: {other:?}"),
        }
    };
    // Contents changed in transit: the first group with a user entry, that entry altered.
    let (g, i) = groups
        .iter()
        .enumerate()
        .find_map(|(g, group)| {
            let i = group
                .entries
                .iter()
                .position(|e| e.bytes.windows(8).any(|w| w == b"original"))?;
            Some((g, i))
        })
        .expect("a user entry");
    for earlier in &groups[..g] {
        backup.apply_group(earlier).unwrap();
    }
    // The entry itself still decodes and re-encodes; its leaf differs, so the root the group's
    // signature names does not recompute.
    let mut altered = groups[g].clone();
    flip_at(&mut altered.entries[i].bytes, b"original", 0);
    let signed_altered = altered
        .signed_at()
        .expect("groups end at signatures here")
        .seqno();
    assert_eq!(refused(&altered, "altered contents"), signed_altered);
    // An entry dropped.
    let mut gap = groups[g].clone();
    gap.entries.remove(0);
    refused(&gap, "a gap");
    // A later group first.
    refused(&groups[g + 1], "out of order");
    // The signature transaction's node signature altered (its last DER byte).
    let signed = g + groups[g..]
        .iter()
        .position(|group| group.signed_at().is_some())
        .expect("a signed group");
    for group in &groups[g..signed] {
        backup.apply_group(group).unwrap();
    }
    let mut forged = groups[signed].clone();
    let sig_entry = forged.entries.last_mut().unwrap();
    let payload = ledger_core::decode_entry(&sig_entry.bytes)
        .unwrap()
        .body
        .signature
        .unwrap();
    let der = payload.signature.clone();
    flip_at(&mut sig_entry.bytes, &der, der.len() - 1);
    assert_eq!(
        refused(&forged, "a forged signature"),
        sig_entry_seqno(&forged)
    );
    // The signature transaction moved off the end of its group.
    let mut reordered = groups[signed].clone();
    if reordered.entries.len() >= 2 {
        let n = reordered.entries.len();
        reordered.entries.swap(n - 2, n - 1);
        refused(&reordered, "signature not last");
    }

    // The genuine groups still apply, and the backup serves them.
    for group in &groups[signed..] {
        backup.apply_group(group).unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(backup.status(*id), TxStatus::Committed);
        assert_eq!(
            backup.entry("c", *id).unwrap().contents,
            format!("original {i}").into_bytes()
        );
        backup.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    // A group applied twice is refused the second time.
    refused(&groups[0], "a replay");
    close(backup);
    audit_clean(&service.dirs[1], &service.identity);
}

#[test]
fn a_failover_begins_a_later_view_and_the_old_tail_is_invalid_everywhere() {
    let service = Service::found(3);
    let (replicator, rx) = proposals();
    let primary = service.primary(0, 2, replicator.clone());
    let b2 = service.backup(1);
    let b3 = service.backup(2);
    // Consensus applies the first groups everywhere, then loses the old primary's tail:
    // groups proposed after the flush never reach a majority.
    let mut committed = Vec::new();
    for i in 0..100u32 {
        committed.push((
            primary.append("c", format!("v2 {i}").as_bytes()).unwrap(),
            format!("v2 {i}"),
        ));
    }
    let flushing = {
        let primary = primary.clone();
        std::thread::spawn(move || primary.flush())
    };
    let mut applied = 0;
    while primary.status(committed.last().unwrap().0) != TxStatus::Committed {
        let group = rx.recv_timeout(WAIT).unwrap();
        for node in [&primary, &b2, &b3] {
            node.apply_group(&group).unwrap();
        }
        applied += 1;
    }
    flushing.join().unwrap().unwrap();
    assert!(applied > 0);
    let mut tail = Vec::new();
    for i in 0..40u32 {
        tail.push(primary.append("c", format!("lost {i}").as_bytes()).unwrap());
    }
    for id in &tail {
        assert_eq!(primary.status(*id), TxStatus::Pending);
    }
    drop(replicator);
    close(primary);
    let lost: Vec<ReplicatedGroup> = rx.try_iter().collect();
    drop(rx);

    // Node 2 becomes primary in view 4 (term 3 elected nobody); node 1 comes back as a
    // backup from its store, which holds only what was applied.
    close(b2);
    let (replicator, rx) = proposals();
    let p2 = service.primary(1, 4, replicator.clone());
    let b1 = service.backup(0);
    let applier = apply_all(rx, vec![p2.clone(), b1.clone(), b3.clone()]);
    let mut later = Vec::new();
    for i in 0..60u32 {
        later.push((
            p2.append("c", format!("v4 {i}").as_bytes()).unwrap(),
            format!("v4 {i}"),
        ));
    }
    p2.flush().unwrap();
    assert!(later.iter().all(|(id, _)| id.view() == 4));
    let last = later.last().unwrap().0;
    let nodes = [&p2, &b1, &b3];
    for node in nodes {
        committed_on(node, last);
        for (id, contents) in committed.iter().chain(&later) {
            assert_eq!(node.status(*id), TxStatus::Committed, "{id}");
            assert_eq!(node.entry("c", *id).unwrap().contents, contents.as_bytes());
        }
        for id in &tail {
            assert_eq!(
                node.status(*id),
                TxStatus::Invalid,
                "{id} on a node after failover"
            );
        }
    }
    // No id names two transactions: every id of the lost tail that a seqno of the new view
    // took is a different id.
    let ids_after: HashMap<u64, TxId> = later.iter().map(|(id, _)| (id.seqno(), *id)).collect();
    for id in &tail {
        if let Some(other) = ids_after.get(&id.seqno()) {
            assert_ne!(other, id);
        }
    }
    // The lost groups no longer apply anywhere.
    for group in &lost {
        assert!(matches!(
            b1.apply_group(group),
            Err(Error::GroupRejected { .. })
        ));
    }
    applier.finish();
    drop(replicator);
    close(b1);
    close(b3);
    close(p2);
    for dir in &service.dirs {
        audit_clean(dir, &service.identity);
    }
}

#[test]
fn a_backup_holds_unsigned_groups_until_a_signature_covers_them() {
    let service = Service::found(2);
    let (replicator, rx) = proposals();
    let primary = service.rarely_signing_primary(0, 2, replicator.clone());
    let backup = service.backup(1);
    let applier = apply_all(rx, vec![primary.clone()]);
    // More transactions than one group takes: the primary hands over a group without a
    // signature before the signed one.
    let mut ids = Vec::new();
    for i in 0..5000u32 {
        ids.push(primary.append("c", format!("held {i}").as_bytes()).unwrap());
    }
    primary.flush().unwrap();
    let groups = applier.finish();
    drop(replicator);
    close(primary);
    let unsigned = groups
        .iter()
        .position(|g| g.signed_at().is_none())
        .expect("an unsigned group");
    let signed = unsigned
        + groups[unsigned..]
            .iter()
            .position(|g| g.signed_at().is_some())
            .expect("its signature");
    for group in &groups[..unsigned] {
        backup.apply_group(group).unwrap();
    }
    let before = backup.last_committed();
    let first_held = groups[unsigned].entries[0].seqno;
    let id = *ids.iter().find(|id| id.seqno() == first_held + 1).unwrap();

    // An altered entry in the unsigned group is accepted for now, but nothing of the group
    // is stored or readable, and the signature that covers it refuses the whole run.
    let mut altered = groups[unsigned].clone();
    flip_at(&mut altered.entries[1].bytes, b"held", 0);
    backup.apply_group(&altered).unwrap();
    assert_eq!(backup.status(id), TxStatus::Unknown);
    assert!(backup.entry("c", id).is_err());
    for group in &groups[unsigned + 1..signed] {
        backup.apply_group(group).unwrap();
    }
    assert!(matches!(
        backup.apply_group(&groups[signed]),
        Err(Error::GroupRejected { .. })
    ));
    assert_eq!(backup.last_committed(), before);

    // The genuine run applies from where the last signature left the backup.
    for group in &groups[unsigned..] {
        backup.apply_group(group).unwrap();
    }
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(backup.status(*id), TxStatus::Committed);
        assert_eq!(
            backup.entry("c", *id).unwrap().contents,
            format!("held {i}").into_bytes()
        );
    }
    close(backup);
    audit_clean(&service.dirs[1], &service.identity);
}

/// A signature transaction's bytes are not covered by the root it signs, so a backup takes it
/// only in the one form the primary writes: each other form below still verifies (or carries
/// nothing a verifier checks) and is refused.
#[test]
fn a_backup_takes_a_signature_transaction_in_one_form_only() {
    use p256::ecdsa::Signature;

    let service = Service::found(2);
    let (replicator, rx) = proposals();
    let primary = service.primary(0, 2, replicator.clone());
    let backup = service.backup(1);
    let applier = apply_all(rx, vec![primary.clone()]);
    for i in 0..60u32 {
        primary
            .append("c", format!("entry {i}").as_bytes())
            .unwrap();
    }
    primary.flush().unwrap();
    let groups = applier.finish();
    drop(replicator);
    close(primary);
    let signed = groups.iter().position(|g| g.signed_at().is_some()).unwrap();
    for group in &groups[..signed] {
        backup.apply_group(group).unwrap();
    }
    let genuine = &groups[signed];
    let last = genuine.entries.len() - 1;
    let entry = ledger_core::decode_entry(&genuine.entries[last].bytes).unwrap();
    let with = |change: &dyn Fn(&mut ledger_core::LedgerEntry)| {
        let mut entry = entry.clone();
        change(&mut entry);
        let mut group = genuine.clone();
        group.entries[last].bytes = ledger_core::testing::encode_ledger_entry(&entry).unwrap();
        assert_ne!(&group, genuine);
        group
    };
    let refused_for = |group: &ReplicatedGroup, expected: &str| match backup.apply_group(group) {
        Err(Error::GroupRejected { reason, .. }) => {
            assert!(
                reason.contains(expected),
                "{reason:?} does not say {expected:?}"
            )
        }
        other => panic!("{expected}: {other:?}"),
    };

    // The node signature with s replaced by n - s: it verifies as well.
    let high_s = with(&|e| {
        let payload = e.body.signature.as_mut().unwrap();
        let sig = Signature::from_der(&payload.signature).unwrap();
        let (r, s) = sig.split_scalars();
        let flipped = Signature::from_scalars(r, -*s).unwrap();
        assert!(
            flipped.normalize_s().is_some(),
            "the engine signs in low-s form"
        );
        payload.signature = flipped.to_der().as_bytes().to_vec();
    });
    refused_for(&high_s, "canonical form");
    // The node certificate with CRLF line endings: it parses to the same certificate.
    let crlf = with(&|e| {
        let payload = e.body.signature.as_mut().unwrap();
        payload.node_cert_pem = payload.node_cert_pem.replace('\n', "\r\n");
    });
    refused_for(&crlf, "canonical PEM");
    // A table write beside the COSE signed root.
    let extra = with(&|e| {
        e.body.writes.push(ledger_core::TableOp {
            table: "t".into(),
            key: b"k".to_vec(),
            value: Some(b"v".to_vec()),
        });
    });
    refused_for(&extra, "nothing else");

    backup.apply_group(genuine).unwrap();
    close(backup);
    audit_clean(&service.dirs[1], &service.identity);
}

/// A primary whose groups consensus will never apply (it lost the lead): a read waiting for
/// its pending write fails once the ledger is abandoned, instead of waiting for ever, and
/// nothing more is recorded on it.
#[test]
fn an_abandoned_primary_wakes_its_blocked_readers() {
    let service = ledger_core::testing::MemoryService::found(1).unwrap();
    let (replicator, proposals) = proposals();
    let (primary, store) = service
        .open(0, LedgerConfig::new("").primary(2, replicator))
        .unwrap();
    let primary = Arc::new(primary);
    let pending = primary.append("log", b"never applied").unwrap();
    let reader = {
        let primary = primary.clone();
        std::thread::spawn(move || primary.latest("log"))
    };
    // The read is waiting for the entry to be written, which only an apply does.
    // (The primary's first groups are its view's own records.)
    while proposals.recv_timeout(WAIT).unwrap().last_seqno() < Some(pending.seqno()) {}
    std::thread::sleep(Duration::from_millis(50));
    assert!(!reader.is_finished(), "the read did not wait for the write");

    primary.abandon("lost the lead");
    let read = reader.join().unwrap();
    assert!(
        matches!(&read, Err(Error::Poisoned { stage: "abandon", cause }) if cause == "lost the lead"),
        "{read:?}"
    );
    assert!(matches!(
        primary.append("log", b"refused"),
        Err(Error::Poisoned { .. })
    ));
    assert_eq!(primary.status(pending), TxStatus::Pending);
    // What its store holds can still be made durable (its node records how far it applied).
    primary.sync().unwrap();
    let before = ledger_store::Store::state(&*store).last_seqno;
    let primary = Arc::try_unwrap(primary).unwrap();
    assert!(matches!(primary.close(), Err(Error::Poisoned { .. })));
    assert_eq!(ledger_store::Store::state(&*store).last_seqno, before);
}

#[test]
fn the_committed_ledger_reads_back_as_groups_a_fresh_backup_accepts() {
    let service = Service::found(3);
    let (replicator, rx) = proposals();
    let primary = service.primary(0, 2, replicator.clone());
    let source = service.backup(1);
    let applier = apply_all(rx, vec![primary.clone(), source.clone()]);
    let mut written = Vec::new();
    for i in 0..300u32 {
        let contents = format!("entry {i}").into_bytes();
        written.push((primary.append("a", &contents).unwrap(), contents));
    }
    primary.flush().unwrap();
    let last = written.last().unwrap().0;
    committed_on(&source, last);
    let applied = applier.finish();
    drop(replicator);
    close(primary);

    let through = source.committed_signature().unwrap();
    assert_eq!(
        through.seqno(),
        last.seqno() + 1,
        "the signature after the last entry"
    );
    assert_eq!(source.last_committed(), Some(last));

    // Every group ends at its signature, they follow on from seqno 1, and past genesis they
    // hold exactly the entries the primary replicated.
    let groups = source.replicated_groups(0, through, usize::MAX).unwrap();
    assert!(groups.len() > 2, "{} groups", groups.len());
    let mut next = 1;
    for group in &groups {
        assert_eq!(group.first_seqno(), Some(next));
        let signed = group.signed_at().expect("every group ends at a signature");
        assert_eq!(signed.seqno(), group.last_seqno().unwrap());
        for entry in &group.entries[..group.entries.len() - 1] {
            let kind = ledger_core::decode_entry(&entry.bytes).unwrap().kind;
            assert_ne!(
                kind,
                ledger_core::TxKind::Signature,
                "seqno {}",
                entry.seqno
            );
        }
        next = group.last_seqno().unwrap() + 1;
    }
    assert_eq!(groups.last().unwrap().signed_at(), Some(through));
    let genesis_end = applied[0].first_seqno().unwrap() - 1;
    let read: Vec<_> = groups
        .iter()
        .flat_map(|g| &g.entries)
        .filter(|e| e.seqno > genesis_end)
        .collect();
    let replicated: Vec<_> = applied.iter().flat_map(|g| &g.entries).collect();
    assert_eq!(read, replicated);

    // Paged: one group per call when asked for one byte, the same groups in all.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = source.replicated_groups(after, through, 1).unwrap();
        if page.is_empty() {
            break;
        }
        assert_eq!(page.len(), 1);
        after = page[0].last_seqno().unwrap();
        paged.extend(page);
    }
    assert_eq!(paged, groups);

    // A backup at genesis checks and stores the groups after its own store's end, and then
    // serves the same committed history.
    let fresh = service.backup(2);
    let fresh_end = fresh.committed_signature().unwrap().seqno();
    assert_eq!(fresh_end, genesis_end);
    let mut after = fresh_end;
    loop {
        let page = source.replicated_groups(after, through, 4096).unwrap();
        let Some(last_group) = page.last() else { break };
        after = last_group.last_seqno().unwrap();
        for group in &page {
            fresh.apply_group(group).unwrap();
        }
    }
    assert_eq!(fresh.committed_signature(), Some(through));
    let cert = service.identity.certificate_pem().to_string();
    for (id, contents) in &written {
        assert_eq!(fresh.status(*id), TxStatus::Committed);
        assert_eq!(&fresh.entry("a", *id).unwrap().contents, contents);
        fresh.receipt(*id).unwrap().verify(&cert).unwrap();
    }

    // Nothing after the end; `through` must be a durable signature transaction of this ledger.
    assert!(source
        .replicated_groups(through.seqno(), through, 1)
        .unwrap()
        .is_empty());
    let refused = |through: TxId| match source.replicated_groups(0, through, 1) {
        Err(Error::InvalidInput { what, .. }) => assert_eq!(what, "signature transaction"),
        other => panic!("{through}: {other:?}"),
    };
    refused(last);
    refused(TxId::new(through.view(), through.seqno() + 1).unwrap());
    refused(TxId::new(through.view() + 1, through.seqno()).unwrap());

    close(fresh);
    close(source);
    for dir in &service.dirs {
        audit_clean(dir, &service.identity);
    }
}
