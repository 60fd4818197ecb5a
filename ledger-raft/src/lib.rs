//! The ledger replicated on [openraft](https://docs.rs/openraft/0.9) 0.9: storage for the Raft
//! log, the vote and a state machine, checked by openraft's own storage test suite.
//!
//! This crate is the first slice of the replicated engine. What is here:
//!
//! * [`TypeConfig`]: the openraft type configuration (`u64` node ids, [`openraft::BasicNode`],
//!   [`Payload`] requests, [`Applied`] responses, snapshots as bytes, tokio).
//! * [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader` (the log and the vote).
//! * [`StateMachine`] and [`SnapshotBuilder`]: openraft's `RaftStateMachine` and
//!   `RaftSnapshotBuilder`, with this slice's minimal applied state (last applied log id,
//!   membership, a table of applied payloads) and snapshot build and install of that state.
//! * [`Backend`]: the key-value seam both are written against, with [`MemoryBackend`] and the
//!   durable [`RocksBackend`]; [`open_memory`], [`open_rocks`] and [`open`] make a pair.
//! * [`sim`]: an in-process simulated network (seeded loss, delay, duplication, partitions,
//!   crash and restart, an event trace) for testing clusters of these nodes.
//!
//! openraft is used with the features `storage-v2` (the `RaftLogStorage`/`RaftStateMachine`
//! traits; without it they cannot be implemented), `serde` (its stored types are encoded with
//! their serde derives) and `single-term-leader` (one leader per term, so a term can be a
//! view). `openraft::testing::Suite` needs no feature in 0.9. The tests run
//! `Suite::test_all` against the memory and the RocksDB pair.
//!
//! # Example
//!
//! ```
//! use openraft::storage::RaftLogStorage;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (mut log, sm) = ledger_raft::open_rocks(dir.path())?;
//! assert_eq!(sm.last_applied(), None);
//!
//! let syncs_before = log.backend().syncs();
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     log.save_vote(&openraft::Vote::new(1, 7)).await?;
//!     assert_eq!(log.read_vote().await?, Some(openraft::Vote::new(1, 7)));
//!     Ok::<_, openraft::StorageError<u64>>(())
//! })?;
//! // The vote was synced before `save_vote` returned.
//! assert_eq!(log.backend().syncs(), syncs_before + 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Storage decision: the Raft log has its own store
//!
//! The Raft log, the vote and the state machine's Raft bookkeeping live in a RocksDB database
//! of their own ([`RocksBackend`], a directory beside the ledger's `store/`), not in the
//! ledger's [`ledger_store::Store`]:
//!
//! * The ledger store is an append-only, audited history whose recovery discards everything
//!   after the last commit group and which has no way to remove a suffix on request. A Raft
//!   log must truncate a conflicting uncommitted suffix on command, purge a prefix after a
//!   snapshot, and keep every acknowledged entry across a crash whether or not a commit group
//!   followed it.
//! * Raft's own records (votes, blank entries of new leaders, membership entries) are not
//!   ledger transactions, and the offline audit of the ledger store must not meet them.
//! * `ledger-core` stays unaware of Raft.
//!
//! The cost is a second write-ahead log. Per batch of entries a node receives, the Raft log
//! syncs once before acknowledging ([`LogStore`], # Durability: vote and log are durable before
//! any acknowledgement); the ledger store syncs again when the ledger state machine writes a
//! committed signature's group. So a signature costs two fsyncs per node where a single
//! node costs one. The next slice measures it; if it matters, the ledger state machine can
//! write its groups with `ledger_store::Durability::Buffered` and rely on the Raft log to
//! re-apply what a machine crash lost (openraft re-applies committed entries above the
//! recovered last applied index on restart), which brings it back to one fsync per batch.
//!
//! # Design for the next slice: the ledger on Raft
//!
//! This follows CCF's model (a primary orders and signs, backups check and store).
//!
//! * **Entries.** The Raft leader is the primary. Its pipeline runs as on a single node
//!   (appenders, committer building the Merkle tree and signing), but the writer stage, instead
//!   of appending a `ledger_store::Group`, proposes it with `Raft::client_write` as one Raft
//!   entry: `D` becomes a *ledger group*, `{ view, first_seqno, entries: Vec<entry bytes>,
//!   signature: Option<signature transaction bytes> }`, every entry already carrying its
//!   `view.seqno` and commit-evidence digest. A group ends at a signature transaction or is a
//!   run of entries before one. Raft indexes and seqnos differ (blank and membership entries
//!   take Raft indexes), so the state machine keeps the last applied seqno beside the last
//!   applied log id, and a snapshot records both.
//! * **Views are terms.** With `single-term-leader` a term has at most one leader, so the
//!   primary uses its Raft term as the view of every transaction it sequences: `view.seqno`
//!   is unique across failovers. A new primary records a signature transaction in its new view
//!   before accepting writes (as a reopened single node does). Views may skip numbers (terms
//!   that elected no leader, or whose leader never sequenced); the view-history rule in
//!   `ledger-core/src/state.rs` ("views ascend by 1") must become "views strictly ascend",
//!   with the audit changed the same way.
//! * **Followers check and store, never re-sign.** Applying a ledger group on a follower
//!   decodes each entry, recomputes its digest and leaf with `EntryLeaf` and the commit
//!   secret, pushes the leaves into its own Merkle tree, and for a signature transaction checks
//!   the root it names against its own root and the signature against the primary's node
//!   certificate recorded in `internal.nodes`. Then it writes the group to its ledger store
//!   with the signature's group as a commit group. A mismatch is a fatal storage error.
//! * **Commit.** A transaction is Committed when a signature transaction covering it has been
//!   applied, i.e. committed by Raft (durable on a majority). Entries in the Raft log but not
//!   applied are Pending; a suffix that a new leader truncates is Invalid on every node, and
//!   the new view's first seqno is where it began.
//! * **Snapshots.** A snapshot is taken at a committed signature: the ledger store's state at
//!   that seqno plus the signature's receipt, so a lagging follower installs it and continues
//!   from the next group without the whole log.
//!
//! What the next slice needs from `ledger-core` (none of it exists yet):
//!
//! 1. On the primary, a pipeline whose writer hands each group to a caller-supplied sink
//!    (the Raft proposal) instead of the store, and a commit notification driven from outside
//!    (Raft's apply) instead of the store's sync.
//! 2. On a follower, `append_signed_group(group)`: take a pre-built, pre-signed group (entries
//!    with their view and seqno, the signature transaction), check it as above, and write it,
//!    without sequencing, evidence generation or signing.
//! 3. Beginning a view at a given number (the term) rather than "previous + 1", and
//!    discarding an uncommitted tail to a given seqno on request (Raft truncation above the
//!    last committed signature).
//! 4. Snapshot export and import of the ledger store at a committed signature.
//!
//! Open questions: whether one commit secret shared by the first nodes (created together at
//! cluster creation) is acceptable before the governed-nodes issue; how a follower learns the
//! primary's node certificate before the first group it signs (a membership entry carrying
//! it, or a governance transaction in genesis naming every founding node).

mod backend;
mod codec;
mod error;
pub mod ledger_machine;
mod log_store;
pub mod replicated;
mod rocks;
pub mod sim;
mod state_machine;
mod types;

use std::path::Path;
use std::sync::Arc;

pub use backend::{Backend, Keyspace, MemoryBackend, Pair, WriteOp};
pub use error::RaftStoreError;
pub use ledger_machine::{
    decode_group, encode_group, LedgerRole, LedgerSlot, LedgerSnapshotBuilder, LedgerStateMachine,
    SlotError,
};
pub use log_store::LogStore;
pub use replicated::{
    found_service, ClusterStatus, FoundedNode, FoundedService, ReplicaError, ReplicatedLedger,
};
pub use rocks::{RocksBackend, FORMAT_VERSION};
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use types::{
    Applied, Entry, LogId, NodeId, Payload, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig, Vote,
};

/// A log store and a state machine sharing `backend`.
///
/// # Errors
///
/// As [`StateMachine::open`].
pub fn open(backend: Arc<dyn Backend>) -> Result<(LogStore, StateMachine), RaftStoreError> {
    let state_machine = StateMachine::open(backend.clone())?;
    Ok((LogStore::new(backend), state_machine))
}

/// A log store and a state machine in memory.
pub fn open_memory() -> (LogStore, StateMachine) {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let state_machine = StateMachine::from_empty(backend.clone());
    (LogStore::new(backend), state_machine)
}

/// A log store and a state machine in the RocksDB database in `dir` (created if missing).
///
/// # Errors
///
/// As [`RocksBackend::open`] and [`StateMachine::open`].
pub fn open_rocks(dir: &Path) -> Result<(LogStore, StateMachine), RaftStoreError> {
    open(Arc::new(RocksBackend::open(dir)?))
}
