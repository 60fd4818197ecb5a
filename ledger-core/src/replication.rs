//! Replication: a primary's groups of transactions, handed to a consensus layer, and the
//! backups that check and store them.
//!
//! The engine does not run consensus itself (the `ledger-raft` crate does, on openraft). It
//! offers the two ends a consensus layer needs, following CCF's model in which a primary
//! orders and signs and backups check and store:
//!
//! * A **primary** ([`crate::LedgerConfig::primary`]) sequences, hashes, builds the Merkle tree and
//!   signs exactly as a single node does, but its writer hands each group to a
//!   [`Replicator`] instead of the store. Nothing reaches the primary's store, and nothing is
//!   Committed, until the consensus layer hands the group back through
//!   [`crate::Ledger::apply_group`] once a majority holds it.
//! * A **backup** ([`crate::LedgerConfig::backup`]) refuses every write with [`crate::Error::NotPrimary`].
//!   [`crate::Ledger::apply_group`] checks each group it is given and stores it; it never
//!   re-executes or re-signs.
//!
//! # Format
//!
//! A [`ReplicatedGroup`] is the entries of consecutive transactions, each as stored: the
//! entry bytes, whose header carries the transaction's view, seqno and commit-evidence
//! digest. A group ends at a signature transaction (a *signed* group) or is a run of entries
//! before one. Everything else the store keeps (the collection index, table versions, tree
//! tiles, the signature index) is derived from the entries by whoever stores them.
//!
//! # What a backup checks (`backup.rs`)
//!
//! For each entry, in order: it decodes; its seqno is the next one; its view is the current
//! view or a later one (views strictly ascend, and may skip numbers: a consensus term that
//! produced no transactions); the entry re-encodes from its decoded write set to the same
//! bytes with the commit evidence the backup derives from the shared commit secret (so the
//! header's digest and evidence are right and the encoding is canonical). The backup computes
//! the leaf and pushes it into its own tree. A signature transaction must be last in its
//! group, name its own view and seqno, sign the root of the backup's own tree over every
//! earlier leaf, with a node certificate the service certificate endorses by the path rules
//! receipts are held to, or, when its node signature is empty (COSE-only signing), carry a
//! COSE signature by the service key over that root.
//!
//! A group without a signature cannot be judged until the signature that covers it arrives:
//! the backup checks what it can (decoding, sequence, re-encoding), pushes its leaves and
//! holds it, storing nothing and reporting none of its transactions. The signed group that
//! ends the run checks the whole run, which is then stored at once. A group that fails any
//! check, or does not follow on (empty, or not at the next seqno), is refused with
//! [`crate::Error::GroupRejected`], and the refusal also drops the run held so far: the backup
//! is left exactly where its last stored signature left it (tree, store, statuses), and the
//! run must be given to it again from there. For a consensus layer that applies each
//! committed entry once, in order, a refusal therefore means the committed log and this
//! backup disagree; it stops applying (a restart re-applies the log from the last signed
//! group it recorded as applied).
//!
//! # Reading a committed ledger back as groups
//!
//! [`crate::Ledger::replicated_groups`] reads any ledger's committed history (through a
//! durable signature transaction) as groups of this format, each ending at its signature
//! transaction, in pages of bounded size. A backup whose store ends where they begin checks
//! and stores them exactly as it would a primary's groups, so a consensus layer can bring a
//! lagging node up to date from another node's ledger (a snapshot) instead of from its log:
//! what the backup checks, not where the groups came from, decides what it stores.
//!
//! # Commit and durability
//!
//! [`crate::Ledger::apply_group`] writes the group to the store (a signed group as a commit group)
//! and, for a signed group, waits until the store has it durably (in the store's durability
//! mode) before it marks the group's transactions Committed. The consensus layer calls it for
//! groups a majority holds, in log order, on every node including the primary: so on every
//! node, Committed means held by a majority and stored here, and a transaction of a group
//! never applied (a primary's tail that a new primary discards) never becomes Committed.
//!
//! # Roles change by reopening
//!
//! A ledger's role is fixed when it is opened. A backup that becomes primary is closed and
//! reopened with [`crate::LedgerConfig::primary`] over the same store, in the new view (which must be
//! later than every view in the store); a primary that loses its role is closed and reopened
//! as a backup: its store holds only applied groups, so whatever it had sequenced beyond them
//! is gone, and those ids are Invalid once a later view is applied.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::entry::{self, TxKind};
use crate::{Error, TxId};

/// One transaction's entry, as a primary replicates it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicatedEntry {
    /// The transaction's seqno (also in the entry's header).
    pub seqno: u64,
    /// The entry as stored (SPEC section 2): header with view, seqno and commit-evidence
    /// digest, then the write set. (Serialized as bytes: in bincode the same encoding as a
    /// sequence of `u8`, a length then the bytes, read and written as one slice.)
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for ReplicatedEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedEntry")
            .field("seqno", &self.seqno)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The entries of consecutive transactions, as a primary hands them to consensus: a run
/// ending at a signature transaction, or a run before one (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicatedGroup {
    /// The entries, in seqno order.
    pub entries: Vec<ReplicatedEntry>,
}

impl ReplicatedGroup {
    /// The seqno of the first entry (`None` for an empty group).
    pub fn first_seqno(&self) -> Option<u64> {
        self.entries.first().map(|e| e.seqno)
    }

    /// The seqno of the last entry (`None` for an empty group).
    pub fn last_seqno(&self) -> Option<u64> {
        self.entries.last().map(|e| e.seqno)
    }

    /// The id of the signature transaction that ends the group, if it ends with one.
    pub fn signed_at(&self) -> Option<TxId> {
        let last = self.entries.last()?;
        let decoded = entry::decode(&last.bytes).ok()?;
        (decoded.kind == TxKind::Signature).then_some(decoded.tx_id)
    }

    /// The group's size in entry bytes.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.bytes.len()).sum()
    }
}

/// Where a primary's writer hands each group: the consensus layer's proposal.
///
/// Called from the primary's writer thread, once per group, in seqno order. It should return
/// promptly (queue the group): the pipeline does not hand over the next group until it
/// returns, and appenders wait when the pipeline is full.
pub trait Replicator: Send + Sync + std::fmt::Debug {
    /// Proposes `group` for replication.
    ///
    /// # Errors
    ///
    /// Any error stops the primary ([`Error::Poisoned`], stage `"replicate"`): a proposal
    /// that was not made leaves a gap no later group can fill.
    fn propose(&self, group: ReplicatedGroup) -> Result<(), Error>;
}

/// A ledger's part in replication, fixed when it is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Role {
    /// The single-node engine: it writes its own groups to its store.
    Standalone,
    /// Sequences and signs; its groups are stored once consensus applies them.
    Primary,
    /// Checks and stores the primary's groups; refuses writes.
    Backup,
}

/// How a ledger is opened with respect to replication (see [`crate::LedgerConfig::primary`] and
/// [`crate::LedgerConfig::backup`]).
#[derive(Clone, Debug, Default)]
pub(crate) enum Replication {
    #[default]
    Standalone,
    Primary {
        view: u64,
        replicator: Arc<dyn Replicator>,
    },
    Backup,
}

impl Replication {
    pub(crate) fn role(&self) -> Role {
        match self {
            Replication::Standalone => Role::Standalone,
            Replication::Primary { .. } => Role::Primary,
            Replication::Backup => Role::Backup,
        }
    }
}
