//! The `replicated_group` target: a backup fed a primary's groups with altered, garbage,
//! repeated and out-of-order groups among them.
//!
//! A primary (in memory, view 2, founded with the backup from one genesis store by
//! `MemoryStore::copy`) records the fuzzed transactions and signs every few of them; its
//! groups are collected as consensus would carry them. The backup is then given them in
//! order, and before each genuine group the fuzzed mutants of it: bytes flipped, entries
//! dropped, swapped, cut or replaced by arbitrary bytes, the group itself repeated or a later
//! one first, and groups made of arbitrary bytes. The model:
//!
//! * a mutant that differs from the genuine group is refused with `Error::GroupRejected`
//!   (never another error, never a panic) and changes nothing the backup reports; a refusal
//!   also drops the unsigned groups the backup held, so the driver gives it those again;
//! * mutants of a group without a signature are not tried: such a group is held unchecked
//!   until its signature arrives (`ledger-core/tests/replication.rs` covers that path);
//! * the genuine groups always apply, and at the end the backup reports every transaction
//!   Committed with the primary's contents, its receipts verify against the service
//!   certificate and its store passes the audit.

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ledger_core::testing::{ChannelReplicator, MemoryService};
use ledger_core::{
    audit_store, AuditOptions, Error, Ledger, LedgerConfig, ReplicatedEntry, ReplicatedGroup, TxId,
    TxStatus,
};

/// One service for every input (key generation is the slow part): node 0 is the primary,
/// node 1 the backup.
fn founded() -> &'static MemoryService {
    static FOUNDED: OnceLock<MemoryService> = OnceLock::new();
    FOUNDED.get_or_init(|| {
        MemoryService::found(2).unwrap_or_else(|e| panic!("founding the service: {e}"))
    })
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// `(collection, contents)` of each transaction.
    txs: Vec<(bool, Vec<u8>)>,
    /// The primary signs after every `1 + sign_every % 8` transactions.
    sign_every: u8,
    mutants: Vec<Mutant>,
}

/// A group to try before the genuine group `group` (taken modulo the groups there are).
#[derive(Arbitrary, Debug)]
struct Mutant {
    group: u8,
    change: Change,
}

#[derive(Arbitrary, Debug)]
enum Change {
    Flip {
        entry: u8,
        at: u16,
        bit: u8,
    },
    Drop {
        entry: u8,
    },
    Swap {
        a: u8,
        b: u8,
    },
    Cut {
        keep: u8,
    },
    Replace {
        entry: u8,
        bytes: Vec<u8>,
    },
    Renumber {
        entry: u8,
        seqno: u64,
    },
    /// The same group again, after it applied (tried after the genuine one).
    Repeat,
    /// The next group first.
    Later,
    /// A group of arbitrary entries.
    Garbage {
        entries: Vec<(u64, Vec<u8>)>,
    },
}

impl Change {
    /// The mutant of `groups[i]`, or `None` where this change does not apply.
    fn apply(&self, groups: &[ReplicatedGroup], i: usize) -> Option<ReplicatedGroup> {
        let mut g = groups[i].clone();
        let n = g.entries.len();
        let pick = |k: u8| usize::from(k) % n.max(1);
        match self {
            Change::Flip { entry, at, bit } => {
                let bytes = &mut g.entries.get_mut(pick(*entry))?.bytes;
                let at = usize::from(*at) % bytes.len().max(1);
                *bytes.get_mut(at)? ^= 1 << (bit % 8);
            }
            Change::Drop { entry } => {
                g.entries.remove(pick(*entry));
            }
            Change::Swap { a, b } => g.entries.swap(pick(*a), pick(*b)),
            Change::Cut { keep } => g.entries.truncate(usize::from(*keep) % n.max(1)),
            Change::Replace { entry, bytes } => {
                g.entries.get_mut(pick(*entry))?.bytes = bytes.clone();
            }
            Change::Renumber { entry, seqno } => g.entries.get_mut(pick(*entry))?.seqno = *seqno,
            Change::Repeat => return None,
            Change::Later => return groups.get(i + 1).cloned(),
            Change::Garbage { entries } => {
                g.entries = entries
                    .iter()
                    .map(|(seqno, bytes)| ReplicatedEntry {
                        seqno: *seqno,
                        bytes: bytes.clone(),
                    })
                    .collect();
            }
        }
        Some(g)
    }
}

/// Runs one input (see the module documentation).
pub fn replicated_group(data: &[u8]) {
    let Ok(mut input) = Input::arbitrary(&mut Unstructured::new(data)) else {
        return;
    };
    input.txs.truncate(40);
    input.mutants.truncate(24);
    let founded = founded();
    let (groups, written) = primary_groups(founded, &input);
    if groups.is_empty() {
        return;
    }
    let (backup, store) = founded
        .open(1, LedgerConfig::new("").backup())
        .unwrap_or_else(|e| panic!("open the backup: {e}"));
    // Groups given since the last signed group applied: a refusal drops them.
    let mut run_start = 0;
    for i in 0..groups.len() {
        let signed = groups[i].signed_at().is_some();
        for mutant in &input.mutants {
            if usize::from(mutant.group) % groups.len() != i {
                continue;
            }
            let Some(altered) = mutant.change.apply(&groups, i) else {
                continue;
            };
            let garbage = matches!(mutant.change, Change::Garbage { .. });
            if altered == groups[i] || (!signed && !garbage) {
                continue;
            }
            let before = backup.last_committed();
            let what = format!("{:?} of group {i}", mutant.change);
            match backup.apply_group(&altered) {
                // A mutant without a signature that follows on is held, as any such group
                // is; an empty group (refused) then drops it again.
                Ok(()) => {
                    assert!(
                        altered.signed_at().is_none(),
                        "{what}: accepted with a signature"
                    );
                    refused(&backup, &ReplicatedGroup::default(), "an empty group");
                }
                other => refused_result(&backup, other, &what),
            }
            assert_eq!(backup.last_committed(), before, "{what} changed the backup");
            for group in &groups[run_start..i] {
                backup
                    .apply_group(group)
                    .unwrap_or_else(|e| panic!("group given again after a refusal: {e}"));
            }
        }
        backup
            .apply_group(&groups[i])
            .unwrap_or_else(|e| panic!("genuine group {i}: {e}"));
        if signed {
            run_start = i + 1;
        }
        for mutant in &input.mutants {
            if usize::from(mutant.group) % groups.len() == i
                && matches!(mutant.change, Change::Repeat)
            {
                refused(&backup, &groups[i], "a repeated group");
                for group in &groups[run_start..=i] {
                    backup
                        .apply_group(group)
                        .unwrap_or_else(|e| panic!("group given again after a refusal: {e}"));
                }
            }
        }
    }
    let cert = founded.identity.certificate_pem();
    for (id, collection, contents) in &written {
        assert_eq!(
            backup.status(*id),
            TxStatus::Committed,
            "{id} on the backup"
        );
        let entry = backup
            .entry(collection, *id)
            .unwrap_or_else(|e| panic!("read {id} on the backup: {e}"));
        assert_eq!(&entry.contents, contents, "contents of {id}");
        let receipt = backup
            .receipt(*id)
            .unwrap_or_else(|e| panic!("receipt of {id}: {e}"));
        receipt
            .verify(cert)
            .unwrap_or_else(|e| panic!("the backup's receipt of {id}: {e}"));
    }
    backup
        .close()
        .unwrap_or_else(|e| panic!("close the backup: {e}"));
    let options = AuditOptions::default()
        .service_certificate(cert)
        .unwrap_or_else(|e| panic!("audit options: {e}"));
    let report = audit_store(&*store, &options).unwrap_or_else(|e| panic!("audit: {e}"));
    assert!(report.is_clean(), "the backup's store: {report:?}");
}

/// A refusal that leaves the backup's committed state as it was.
fn refused(backup: &Ledger, group: &ReplicatedGroup, what: &str) {
    let before = backup.last_committed();
    refused_result(backup, backup.apply_group(group), what);
    assert_eq!(backup.last_committed(), before, "{what} changed the backup");
}

fn refused_result(_backup: &Ledger, result: Result<(), Error>, what: &str) {
    match result {
        Err(Error::GroupRejected { .. }) => {}
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

/// A transaction the primary recorded: its id, collection and contents.
type Written = (TxId, &'static str, Vec<u8>);

/// The primary's groups for `input`'s transactions, and what it wrote.
fn primary_groups(founded: &MemoryService, input: &Input) -> (Vec<ReplicatedGroup>, Vec<Written>) {
    let (replicator, rx) = ChannelReplicator::new();
    let every = std::num::NonZeroU64::MIN.saturating_add(u64::from(input.sign_every % 8));
    let (primary, _) = founded
        .open(
            0,
            LedgerConfig::new("")
                .sig_tx_interval(every)
                .sig_interval(Duration::from_secs(3600))
                .primary(2, replicator),
        )
        .unwrap_or_else(|e| panic!("open the primary: {e}"));
    let mut groups = Vec::new();
    let mut written = Vec::new();
    let apply = |groups: &mut Vec<ReplicatedGroup>| {
        while let Ok(group) = rx.try_recv() {
            primary
                .apply_group(&group)
                .unwrap_or_else(|e| panic!("the primary's own group: {e}"));
            groups.push(group);
        }
    };
    for (second, contents) in &input.txs {
        let collection = if *second { "b" } else { "a" };
        let contents: Vec<u8> = contents.iter().take(64).copied().collect();
        let id = primary
            .append(collection, &contents)
            .unwrap_or_else(|e| panic!("append: {e}"));
        written.push((id, collection, contents));
    }
    // Sign everything, then apply until the last transaction is committed (the writer
    // proposes on its own thread, so the groups arrive as it hands them over).
    if let Some((last, _, _)) = written.last() {
        let _ = primary.wait_for_commit(*last, Duration::ZERO);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while primary.status(*last) != TxStatus::Committed {
            apply(&mut groups);
            assert!(
                std::time::Instant::now() < deadline,
                "the primary never committed"
            );
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    apply(&mut groups);
    primary
        .close()
        .unwrap_or_else(|e| panic!("close the primary: {e}"));
    (groups, written)
}
