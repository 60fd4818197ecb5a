//! What an audit reports: the first [`Finding`] and what was checked, and the
//! [`EntryCheck`] seam through which checks beyond the structural ones join.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use ledger_store::Store;
use serde::{Deserialize, Serialize};

use crate::entry::LedgerEntry;
use crate::error::Error;
use crate::txid::TxId;

/// What kind of inconsistency a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The store refused to serve a record: an entry whose bytes no longer match the digest
    /// stored beside it, a failed RocksDB checksum, a missing entry, a record that does not
    /// decode at the storage level.
    StoreCorruption,
    /// The entry bytes do not decode (see `entry.rs`).
    Undecodable,
    /// The entry's header names another seqno than its position.
    SeqnoMismatch,
    /// The entry's view is not the one the view history assigns to its seqno, or views go
    /// backwards.
    ViewMismatch,
    /// The view history in the metadata is missing, malformed or impossible.
    ViewHistory,
    /// A view that began after a recovery does not begin with a signature transaction.
    ViewStart,
    /// The leaf recomputed from the entry differs from the stored tree and the next signed
    /// root does not recompute either: the entry is not the one that was signed.
    EntryAltered,
    /// The leaf recomputed from the entry differs from the stored tree and no later signature
    /// can tell whether the entry or the tree is damaged.
    LeafMismatch,
    /// A stored tree tile differs from the tile recomputed from the entries (which the signed
    /// roots confirm, when a signature covers them).
    TileMismatch,
    /// A signed root differs from the root recomputed from the entries.
    RootMismatch,
    /// A signature payload names another view or seqno than its own entry.
    SignatureMismatch,
    /// A signature does not verify with its node certificate's key.
    BadSignature,
    /// A node id is not the hash of its certificate's public key.
    NodeIdMismatch,
    /// A node certificate does not parse, is not issued by the service key, or is outside its
    /// validity period (when [`crate::AuditOptions::certificates_valid_at`] asks).
    CertificateChain,
    /// The service identity is missing or malformed, the genesis record of the service
    /// certificate disagrees with the metadata, or the record was written again later, or
    /// `internal.service` holds a key that is none of the engine's records.
    ServiceIdentity,
    /// The ledger instance record (`internal.service` key `instance`) does not decode, a
    /// version of it does not follow the one before it (a first record with an epoch other
    /// than 1, a later one with another ledger id or an epoch other than the next), or it
    /// was removed.
    LedgerInstance,
    /// A COSE-signed root (table `internal.cose_signatures`) written by a transaction other
    /// than a signature transaction, under another key, or not verifying with the service key
    /// over the root and id of the signature transaction that recorded it.
    CoseSignature,
    /// The signature index disagrees with the signature transactions: a record missing,
    /// different, or at a seqno that holds no signature transaction.
    SignatureIndex,
    /// The collection or table index lacks a row for an append or table write.
    IndexMismatch,
    /// Engine metadata other than the identities and views is missing or malformed.
    Metadata,
    /// The store's committed seqno is not a signature transaction, or a signature lies above
    /// it.
    CommitState,
    /// A root the auditor trusts ([`crate::AuditOptions::require_signed_root`]) is not signed at its
    /// seqno, or the ledger ends before it: the ledger was truncated or rewritten.
    Anchor,
    /// Governance: a member-governed table changed without a signed request while the
    /// ledger had members.
    UnexplainedChange,
    /// Governance: a recorded request is not valid against the state before it (bad
    /// signature, replay, wrong ledger, inactive member, ...), or a transaction records more
    /// than one.
    InvalidRequest,
    /// Governance: a transaction's writes differ from what its request does (for example a
    /// proposal marked accepted without the ballots the rule needs).
    EffectMismatch,
    /// Governance: a direct change breaks a rule (a user given an undefined role, a
    /// measurement that is not an allowed code id).
    InvalidChange,
    /// Governance: a value does not decode as its table's record, or names a table no
    /// governance operation writes.
    MalformedRecord,
    /// A transaction other than a governance one wrote a reserved table or appended to a
    /// reserved collection.
    ReservedWrite,
    /// Reported by an application's [`EntryCheck`].
    Application,
}

/// The first inconsistency an audit found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What is inconsistent.
    pub kind: FindingKind,
    /// The seqno at which it was found; `None` for metadata that belongs to no entry. Seqno 0
    /// is the tree's zero leaf.
    pub seqno: Option<u64>,
    /// The table concerned, if one.
    pub table: Option<String>,
    /// The key concerned (UTF-8, or `0x`-hex), if one.
    pub key: Option<String>,
    /// What the audit expected there.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl Finding {
    /// A finding of `kind` at `seqno`.
    pub fn new(
        kind: FindingKind,
        seqno: Option<u64>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Finding {
            kind,
            seqno,
            table: None,
            key: None,
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The same finding, naming the table and key concerned.
    #[must_use]
    pub fn in_table(mut self, table: &str, key: &[u8]) -> Self {
        self.table = Some(table.to_owned());
        self.key = Some(show_key(key));
        self
    }

    pub(super) fn at(
        kind: FindingKind,
        seqno: u64,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self::new(kind, Some(seqno), expected, found)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seqno {
            Some(s) => write!(f, "{:?} at seqno {s}", self.kind)?,
            None => write!(f, "{:?} in the metadata", self.kind)?,
        }
        if let Some(table) = &self.table {
            write!(f, " in {table}")?;
            if let Some(key) = &self.key {
                write!(f, "[{key}]")?;
            }
        }
        write!(f, ": expected {}; found {}", self.expected, self.found)
    }
}

impl std::error::Error for Finding {}

/// A signature transaction the audit verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedRoot {
    /// The signature transaction.
    pub tx_id: TxId,
    /// The root it signs: the tree over leaves `0..tx_id.seqno()`.
    pub root: [u8; 32],
}

/// What an audit looked at, and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// The store's last seqno when the audit began: every entry up to it was checked (unless
    /// there is a finding).
    pub last_seqno: u64,
    /// The store's committed seqno when the audit began.
    pub committed_seqno: u64,
    /// Entries checked.
    pub entries: u64,
    /// Signature transactions verified.
    pub signatures: u64,
    /// Tree tiles compared with the store's.
    pub tiles: u64,
    /// The most tree nodes the recomputed tree held in memory at once (leaves included):
    /// bounded by a page of leaves plus the tree's frontier, whatever the ledger's length.
    pub peak_tree_nodes: u64,
    /// The view history, `(view, first seqno)`.
    pub views: Vec<(u64, u64)>,
    /// The newest signature verified.
    pub last_signature: Option<SignedRoot>,
    /// Entries after the newest signature, not (yet) covered by any.
    pub unsigned_tail: Option<RangeInclusive<u64>>,
    /// Entries above the store's committed seqno: a crashed writer's tail, which the next
    /// read-write open discards.
    pub uncommitted_tail: Option<RangeInclusive<u64>>,
    /// What the governance replay saw.
    pub governance: GovernanceSummary,
    /// Whether the caller pinned the service certificate
    /// ([`crate::AuditOptions::service_certificate`]); if not, the audit trusted the store's.
    pub service_certificate_pinned: bool,
    /// How long the audit took.
    pub elapsed: Duration,
    /// The first inconsistency, if any.
    pub finding: Option<Finding>,
}

impl AuditReport {
    /// Whether the audit found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.finding.is_none()
    }

    /// The report if the audit found nothing wrong, else the finding.
    ///
    /// # Errors
    ///
    /// The [`Finding`].
    pub fn into_result(self) -> Result<AuditReport, Finding> {
        match self.finding {
            Some(f) => Err(f),
            None => Ok(self),
        }
    }
}

impl AuditReport {
    /// The report of an audit that has not looked at anything yet, of a store whose last and
    /// committed seqnos are as given.
    pub(super) fn new(last_seqno: u64, committed_seqno: u64) -> Self {
        AuditReport {
            last_seqno,
            committed_seqno,
            entries: 0,
            signatures: 0,
            tiles: 0,
            peak_tree_nodes: 0,
            views: Vec::new(),
            last_signature: None,
            unsigned_tail: None,
            uncommitted_tail: (last_seqno > committed_seqno)
                .then(|| committed_seqno + 1..=last_seqno),
            governance: GovernanceSummary::default(),
            service_certificate_pinned: false,
            elapsed: Duration::ZERO,
            finding: None,
        }
    }

    /// The report of an audit that stopped before reading the store.
    #[cfg(feature = "rocksdb")]
    pub(super) fn failed_early(finding: Finding) -> Self {
        AuditReport {
            finding: Some(finding),
            ..AuditReport::new(0, 0)
        }
    }
}

/// What the governance replay saw: counts of the governance transactions and requests it
/// verified.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceSummary {
    /// The ledger's service id, from its genesis.
    pub service_id: Option<String>,
    /// The transaction that gave the ledger its members, if it has any.
    pub consortium_since: Option<TxId>,
    /// Governance transactions replayed.
    pub governance_transactions: u64,
    /// Signed requests verified (acks, proposals, ballots, withdrawals).
    pub requests: u64,
    /// Acknowledgements among them.
    pub acks: u64,
    /// Proposals among them.
    pub proposals: u64,
    /// Ballots among them.
    pub ballots: u64,
    /// Proposals that ended accepted, with their actions applied.
    pub accepted: u64,
    /// Proposals that ended rejected.
    pub rejected: u64,
    /// Proposals withdrawn.
    pub withdrawn: u64,
    /// Proposals accepted whose actions could not apply.
    pub failed: u64,
    /// Governance transactions without a request (genesis, the program's administration,
    /// user managers, node records).
    pub direct_changes: u64,
}

/// A check of entry semantics layered on the structural audit, called for every entry in
/// seqno order after the structural checks of that entry passed.
///
/// The governance replay is one, registered by every entry point; applications with
/// invariants of their own add theirs with [`super::audit_store_with`].
pub trait EntryCheck {
    /// Checks entry `entry` (whose bytes the structural audit accepted).
    ///
    /// # Errors
    ///
    /// `Ok(Err(finding))` reports an inconsistency; `Err(error)` means the check could not
    /// run (e.g. a store read failed) and aborts the audit.
    fn check_entry(
        &mut self,
        store: &dyn Store,
        entry: &LedgerEntry,
    ) -> Result<Result<(), Finding>, Error>;

    /// Called once after the last entry. Default: accepts.
    ///
    /// # Errors
    ///
    /// As [`EntryCheck::check_entry`].
    fn finish(&mut self, store: &dyn Store, last_seqno: u64) -> Result<Result<(), Finding>, Error> {
        let _ = (store, last_seqno);
        Ok(Ok(()))
    }

    /// Adds what the check saw to the report, once the audit ends (with or without a
    /// finding). Default: nothing.
    fn summarize(&self, report: &mut AuditReport) {
        let _ = report;
    }
}

/// A table key as text: UTF-8 where it is, `0x`-hex otherwise.
fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        _ => format!("0x{}", hex::encode(key)),
    }
}
