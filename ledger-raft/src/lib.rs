//! The ledger replicated on [openraft](https://docs.rs/openraft/0.9) 0.9: storage for the Raft
//! log and the vote (checked by openraft's own storage test suite), the ledger as the Raft
//! state machine, and a replicated ledger node.
//!
//! What is here:
//!
//! * [`ReplicatedLedger`] ([`replicated`]): one node of a replicated ledger: its Raft, its
//!   `ledger_core::Ledger` (the primary on the Raft leader, a backup elsewhere), the task that
//!   reopens the ledger in the right role as leadership changes, reads and writes;
//!   [`found_service`] founds a cluster (one genesis ledger copied to every node, one node
//!   identity each, endorsed by the service identity).
//! * [`LedgerStateMachine`] ([`ledger_machine`]): openraft's `RaftStateMachine` whose applied
//!   state is the node's ledger, held in a [`LedgerSlot`] that role changes swap; it applies
//!   the primary's groups ([`ledger_core::ReplicatedGroup`], carried in [`Payload`] by
//!   [`encode_group`]), and builds and installs ledger snapshots (the ledger through a
//!   committed signature, checked group by group by the installing node's backup).
//! * [`TypeConfig`]: the openraft type configuration (`u64` node ids, [`openraft::BasicNode`],
//!   [`Payload`] requests, [`Applied`] responses, snapshots as [`SnapshotData`]: in memory, in
//!   a temporary file, or streamed from the ledger; tokio).
//! * [`LogStore`]: openraft's `RaftLogStorage` and `RaftLogReader` (the log and the vote).
//! * [`StateMachine`] and [`SnapshotBuilder`]: the first slice's state machine over opaque
//!   payloads (last applied log id, membership, a table of applied payloads, snapshot build
//!   and install of that state). It stays as the state machine the log store, the simulated
//!   network and openraft's suite are tested with, independent of the ledger.
//! * [`Backend`]: the key-value seam both are written against, with [`MemoryBackend`] and the
//!   durable [`RocksBackend`]; [`open_memory`], [`open_rocks`] and [`open`] make a pair.
//! * [`transport`]: Raft between processes: [`TlsNetwork`] sends RPCs as HTTP/1.1 over
//!   mutual TLS to a peer's [`RaftServer`]; both ends accept only node certificates the
//!   service endorses and the ledger records ([`PeerTrust`]; [`found_service`] records the
//!   founding nodes in the genesis). `tests/tls_cluster.rs` runs a cluster over loopback.
//! * [`sim`]: an in-process simulated network (seeded loss, delay, duplication, partitions,
//!   crash and restart, an event trace) for testing clusters of these nodes; nodes over the
//!   ledger state machine join it with [`sim::Router::attach`]. `tests/sim_cluster.rs` runs
//!   seeded fault schedules over the opaque state machine under tokio's paused clock (a seed
//!   replays event for event); `tests/ledger_schedules.rs` runs seeded schedules over ledger
//!   nodes of 3 and 5 (partitions, an isolated primary still written to, loss and
//!   reordering, crashes, a follower's ledger disk failing) with clients whose history is
//!   checked, in real time: the ledger's pipeline runs on OS threads, so a seed replays the
//!   schedule there, not the interleaving. `tests/ledger_sim.rs` runs ledger nodes
//!   deterministically ([`NodeOptions::simulated`]: their blocking work on the runtime's
//!   thread; the client on it too, each write handed to Raft as a signed group of its own
//!   before the clock moves) under tokio's paused clock, and checks that a seeded schedule of
//!   partitions, an isolated primary, loss and crashes gives the same trace twice, event for
//!   event and at the same simulated times.
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
//! The cost would be a second write-ahead log synced per commit; it is not synced per commit.
//! Per batch of entries a node receives, the Raft log syncs once before acknowledging
//! ([`LogStore`], # Durability: vote and log are durable before any acknowledgement): that is
//! what makes a commit durable, on a majority. The ledger store of a replicated node is
//! written with `Durability::Buffered` ([`ReplicatedLedger`] sets it), and the state machine
//! syncs it at most every [`ledger_machine::PERSIST_INTERVAL`] (100 ms), just before it
//! records how far it has applied; after a machine crash openraft re-applies the log from that
//! point, and whatever the ledger lost is applied again ([`ledger_machine`], Durability rule).
//! So a commit costs one fsync per node, plus one ledger sync per node per 100 ms of applying.
//! Measured (`cargo bench -p ledger-benches --bench cluster`, one client committing one signed
//! group at a time on a 3-node cluster): 1.00 Raft log sync per commit on each node. With the
//! ledger store synced per signed group as well (two fsyncs per node per commit), commit p50
//! was 1.72 and 1.86 ms in two runs; with this rule 1.34 and 1.76 ms in runs alternated with
//! them (`profile_cluster`, below, puts the difference after the follower's sync: 620-900 µs
//! from it to the commit before, 240-350 µs after).
//!
//! What two stores cost in throughput: every node writes each entry twice (its Raft log, then
//! its ledger store), and on one machine's cores a 3-node cluster spends 8.8-9.0 µs of CPU per
//! committed transaction against 2.1 µs for one node alone (4.2x); with the Raft logs in
//! memory instead (`profile_cluster`'s `RAFT_MEM`, not durable) the cluster ran 16% faster.
//! A cluster at a third of one node's throughput on the same cores would need each node to
//! write an entry's bytes once.
//!
//! # The ledger on Raft
//!
//! This follows CCF's model: a primary orders and signs, backups check and store; the engine's
//! side is `ledger-core`'s `replication.rs` (roles, the replicated group) and `backup.rs` (what
//! a backup checks).
//!
//! * **Entries.** The Raft leader's ledger is the primary. Its pipeline runs as on a single
//!   node, but its writer hands each group to a `Replicator`, which passes it to
//!   `Raft::client_write_ff` in order: one Raft entry per [`ledger_core::ReplicatedGroup`],
//!   bincoded in the entry's [`Payload`] ([`encode_group`]). `TypeConfig`'s `D` stays
//!   [`Payload`] rather than becoming the group type, so that the log store, its on-disk
//!   format, the simulated network and the first slice's state machine, all tested against
//!   opaque payloads, are unchanged; the ledger machine alone decodes payloads as groups, and a
//!   payload that is not a group is a corruption error there.
//! * **Views are terms plus one.** View 1 is the genesis ledger's, made before Raft existed;
//!   the leader of term `T` writes in view `T + 1` (`single-term-leader`: one leader per term,
//!   so one primary per view). It reopens its ledger as the primary only once it has applied
//!   an entry of term `T`, so every group of earlier primaries that Raft commits is applied
//!   first. Views skip numbers for terms that elected no primary.
//! * **Commit.** A transaction is Committed on a node once the signed group covering it has
//!   been committed by Raft (held by a majority) and applied there (stored and synced by the
//!   ledger). The state machine holds runs of unsigned groups itself until their signature's
//!   group comes; a primary's groups that Raft never commits are never applied, and once a
//!   later primary's view is applied those transactions are Invalid on every node.
//! * **Raft bookkeeping** (last applied log id, membership) is in the Raft store, persisted
//!   only where no unsigned run is pending, so a restart re-applies the run from the Raft log;
//!   groups the ledger already stored are skipped ([`ledger_machine`], Durability rule).
//! * **Snapshots** are taken at that persisted point: the ledger through its newest durable
//!   signature there, with the membership and log id ([`ledger_machine`], Snapshots, gives the
//!   format). Installing one demotes a stale primary, drops a held run, and gives the ledger
//!   (a backup) every group past what it stores, which it checks as it would the log's.
//!
//! Known gaps ([`replicated`] and [`ledger_machine`] say more):
//!
//! 1. **Sending a snapshot reads the ledger.** No step holds a snapshot in memory and
//!    building one reads nothing (its data is streamed from the ledger when sent, received
//!    into a temporary file, and installed record by record), but each send reads the ledger
//!    through the snapshot's signature (the first send of a built snapshot twice: once to
//!    measure it).
//! 2. **Membership.** Only the founding nodes: adding a node (its endorsed identity, a copy of
//!    the ledger) or retiring one is not covered.
//! 3. The founding nodes share the genesis ledger's commit secret (a copy of its store);
//!    governed node admission is a later issue.

mod backend;
mod codec;
mod error;
pub mod ledger_machine;
mod log_store;
pub mod replicated;
mod rocks;
pub mod sim;
mod snapshot_data;
mod state_machine;
pub mod transport;
mod types;

use std::path::Path;
use std::sync::Arc;

pub use backend::{Backend, Keyspace, MemoryBackend, Pair, WriteOp};
pub use error::RaftStoreError;
pub use ledger_machine::{
    decode_group, encode_group, LedgerOpener, LedgerRole, LedgerSlot, LedgerSnapshotBuilder,
    LedgerStateMachine, SlotError, SNAPSHOT_PAGE_BYTES,
};
pub use log_store::{LogStore, PurgeFence, REPLICATION_BATCH_BYTES, TAIL_BYTES};
pub use replicated::{
    found_service, found_service_with, ClusterStatus, FoundedNode, FoundedService, NodeOptions,
    ReplicaError, ReplicatedLedger,
};
pub use rocks::{RocksBackend, FORMAT_VERSION};
pub use snapshot_data::{SnapshotData, SnapshotSource};
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use transport::{
    client_tls_config, PeerTrust, RaftServer, TlsConnection, TlsNetwork, TransportConfig,
    TransportError,
};
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
