//! [`ReplicatedLedger`]: one node of a replicated ledger: its [`Raft`], its ledger (in a
//! [`LedgerSlot`] applied to by a [`LedgerStateMachine`]), and the task that keeps the
//! ledger's role in step with the node's Raft role. [`found_service`] founds a cluster.
//!
//! # Roles
//!
//! A node starts with its ledger opened as a backup ([`LedgerConfig::backup`]). A role task
//! follows the node's Raft metrics (on every change, and every [`ROLE_TICK`]):
//!
//! * When the node is the Raft leader of term `T` and its state machine has applied an entry
//!   of term `T` (the blank entry a new leader appends first, and so everything before it,
//!   including every group of earlier primaries that Raft commits), the ledger is closed and
//!   reopened as `LedgerConfig::primary(T + 1, replicator)`. **The view is the term plus
//!   one**: view 1 is the genesis ledger's view, made before Raft existed, and the first
//!   Raft term is 1, so `T + 1` is later than every view in the store, as a primary's view
//!   must be, and (with `single-term-leader`) no two primaries ever share a view. A node
//!   re-elected in a later term reopens again in that term's view: its earlier proposals may
//!   have been truncated meanwhile.
//! * When the node is no longer the leader of the term its primary was opened for, the
//!   ledger is closed and reopened as a backup. Its store holds only applied groups; what it
//!   sequenced beyond them is gone, and those transactions become Invalid once a later view
//!   is applied.
//!
//! A swap happens under the slot's write lock ([`LedgerSlot::replace`]), so no group is
//! applied to a ledger that is being closed, and only from the role the task saw: the state
//! machine itself demotes a primary that is handed a later leader's group before the role
//! task notices (see [`crate::ledger_machine`]), and the slot records the role of the ledger
//! it holds ([`LedgerSlot::role`], [`ReplicatedLedger::role`]).
//!
//! # Restarts
//!
//! A node restarted after leading term `T` does not lead `T` again: openraft 0.9 would
//! restore it as that term's leader at once (its stored vote is a committed vote for
//! itself), and its primary would write in view `T + 1` again, handing out anew the ids its
//! last incarnation handed out but never got into the Raft log. At start the node rewrites such
//! a vote as an uncommitted vote for itself in the same term (what a candidate holds), so it
//! still votes for nobody else in `T` and leads again only by winning a later term, whose view
//! is new. `tests/ledger_cluster.rs` restarts a lone leader: without this it never became a
//! primary again (its ledger, rightly, refuses to reopen in a view its store holds).
//!
//! # Where the ledger is opened
//!
//! [`ReplicatedLedger::start`] opens the node's ledger with [`Ledger::open`] at start and at
//! every role change; [`ReplicatedLedger::start_with`] takes a [`LedgerOpener`]
//! ([`NodeOptions::opener`]) instead, say over a fault-injecting store (`tests/ledger_schedules.rs` fails a
//! follower's ledger disk this way).
//!
//! # Proposals
//!
//! The primary's writer thread calls [`Replicator::propose`] (sync) for each group in order.
//! The replicator encodes it ([`crate::encode_group`]) and hands it to `Raft::client_write_ff`
//! on that thread (the call only queues the request for RaftCore, and openraft appends
//! entries in the order it receives them), with no task in between: a hand-off to a tokio
//! task cost a thread wake-up on every commit's path. It submits only while the node is still
//! the leader of the primary's term; at the first failure, or once the node is not that
//! leader, it stops, and that proposal and every later one fail (poisoning the primary, which
//! is harmless: it is about to be reopened as a backup) rather than leaving a gap in the log.
//!
//! # Reads and writes
//!
//! [`ReplicatedLedger::append`] and [`ReplicatedLedger::submit`] go to the ledger when it is
//! the primary, and otherwise fail with [`ledger_core::Error::NotPrimary`] naming the Raft
//! leader (its node id in decimal) when it is known. Reads go to the current ledger. These
//! methods block (the ledger's calls do): call them from a thread of your own or
//! `spawn_blocking`, not from an async task.
//!
//! # Consistency of reads
//!
//! * **Each node serves what it has applied.** A backup's entries, pages, tables and receipts
//!   are its committed prefix: every group it stored was committed by Raft (held by a
//!   majority) and checked by it. Reads on different nodes may be at different points; on one
//!   node they only move forward (a role change reopens the same store).
//! * **Status.** [`ReplicatedLedger::status`] on a node says Committed once that node has
//!   applied the signed group covering the transaction; Committed is final (held by a
//!   majority, never undone). Pending is only ever reported by the primary that sequenced the
//!   transaction; Unknown by a node that has not applied that far; Invalid once a later view
//!   has replaced the seqno (the primary lost the lead before its group was committed).
//! * **Reads on the primary wait for its own writes.** Reads that name the newest state
//!   ([`ReplicatedLedger::latest`], [`ReplicatedLedger::table_get`],
//!   [`ReplicatedLedger::collections`]) and reads of a transaction it sequenced wait until
//!   consensus has applied it (so nothing uncommitted is ever read back); if the primary
//!   loses the lead meanwhile they fail.
//! * **Read-your-writes on any node:** append on the primary, then
//!   [`ReplicatedLedger::wait_for_commit`] the returned id on the node you will read from
//!   (it waits for that node to apply it); its reads then include the write and everything
//!   committed before it. A client that knows a TxId (from any node) gets a read at least
//!   that fresh the same way.
//! * **No reads at the leader's latest without a round trip:** a node never asks the others
//!   before answering, so a partitioned node answers from its own, possibly old, state (with
//!   receipts that still verify: everything it serves was committed).
//!
//! # Known gaps
//!
//! * Membership is the founding nodes': adding a node (with its own endorsed identity and a
//!   copy of the ledger) is not covered yet, nor is retiring one.
//! * Sending a snapshot reads the node's ledger through the snapshot's signature (twice for
//!   the first send of a built one, which measures it); nothing holds it whole (see
//!   [`crate::ledger_machine`], Snapshots).
//! * A stale primary is abandoned when its node reopens it ([`ledger_core::Ledger::abandon`]):
//!   reads blocked on its unapplied writes fail with `Error::Poisoned` rather than waiting
//!   for ever. A clone held elsewhere (say by a caller of [`ReplicatedLedger::ledger`] that
//!   keeps it) still delays the reopen; the role task retries, and a demotion by the state
//!   machine fails as a fatal storage error after 10 s.
//! * The fence between a primary's proposals and a later term is a check of the metrics
//!   before each submission, not an atomic "append only in term T" (openraft 0.9 has none): a
//!   node that loses and regains leadership between the check and the submission could
//!   propose a group after a truncated one; the primary then refuses it at apply and the node
//!   stops (fatal storage error) instead of storing anything wrong.

use std::fmt;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::governance::Genesis;
use ledger_core::{
    ConsistencyProof, CoseConsistencyReceipt, CoseReceipt, Cursor, Durability,
    Entry as LedgerEntry, KeyHistoryPage, Ledger, LedgerConfig, NodeIdentity, Page, Receipt,
    ReplicatedGroup, Replicator, Role, ServiceIdentity, Transaction, TxId, TxStatus,
};
use openraft::network::RaftNetworkFactory;
use openraft::storage::RaftLogStorage;
use openraft::{Raft, RaftMetrics, ServerState};

use crate::backend::Backend;
use crate::error::RaftStoreError;
use crate::ledger_machine::{
    deadline_after, encode_group, LedgerOpener, LedgerRole, LedgerSlot, LedgerStateMachine,
    SlotError,
};
use crate::log_store::LogStore;
use crate::types::{LogId, NodeId, StorageError, TypeConfig, Vote};

/// How often the role task re-checks the node's role without a metrics change.
pub const ROLE_TICK: Duration = Duration::from_millis(50);

/// How long a role change waits for readers to let go of the old ledger.
const SWAP_WAIT: Duration = Duration::from_secs(10);

/// The longest single wait [`ReplicatedLedger::wait_for_commit`] makes on one ledger
/// instance before it looks at the slot again (the ledger may be swapped meanwhile).
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// Why a replicated node could not be started, founded or shut down.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The node's ledger failed (opening, closing).
    #[error("ledger: {0}")]
    Ledger(#[from] ledger_core::Error),
    /// The Raft storage failed.
    #[error("raft storage: {0}")]
    Storage(#[from] RaftStoreError),
    /// openraft refused to start, or failed.
    #[error("raft: {detail}")]
    Raft {
        /// openraft's message.
        detail: String,
    },
    /// The ledger slot could not be swapped or emptied.
    #[error("ledger slot: {0}")]
    Slot(#[from] SlotError),
    /// A file operation while founding a service failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A blocking task of the node panicked or was cancelled.
    #[error("node task: {detail}")]
    Task {
        /// The join error's message.
        detail: String,
    },
}

/// A node's view of the cluster ([`ReplicatedLedger::cluster_status`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// This node.
    pub node: NodeId,
    /// The Raft leader this node knows of.
    pub leader: Option<NodeId>,
    /// This node's current Raft term.
    pub term: u64,
    /// This node's ledger role (`None` while its ledger is closed).
    pub role: Option<LedgerRole>,
    /// The view of this node's ledger's newest committed transaction.
    pub view: Option<u64>,
    /// This node's newest committed transaction.
    pub last_committed: Option<TxId>,
    /// The last Raft log id this node's state machine applied.
    pub last_applied: Option<LogId>,
}

/// The primary's [`Replicator`]: hands each group to Raft from the writer's own thread, and
/// records the last seqno handed over.
struct RaftReplicator {
    id: NodeId,
    raft: Raft<TypeConfig>,
    /// The Raft term this primary leads.
    term: u64,
    proposed: Arc<AtomicU64>,
    /// Set once a proposal failed: nothing more will be proposed by this primary.
    stopped: Arc<AtomicBool>,
}

impl fmt::Debug for RaftReplicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RaftReplicator")
            .field("id", &self.id)
            .field("term", &self.term)
            .field("proposed", &self.proposed.load(Ordering::Relaxed))
            .field("stopped", &self.stopped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RaftReplicator {
    fn stop(&self, why: &str) -> ledger_core::Error {
        tracing::info!(node = self.id, term = self.term, why, "proposals stop");
        self.stopped.store(true, Ordering::Release);
        ledger_core::Error::Closed
    }
}

impl Replicator for RaftReplicator {
    fn propose(&self, group: ReplicatedGroup) -> Result<(), ledger_core::Error> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(ledger_core::Error::Closed);
        }
        let leads_term = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.state == ServerState::Leader && m.current_term == self.term
        };
        if !leads_term {
            return Err(self.stop("no longer the leader of the term"));
        }
        let payload = encode_group(&group).map_err(|e| {
            tracing::error!(node = self.id, error = %e, "cannot encode a group");
            self.stop("a group could not be encoded")
        })?;
        // `client_write_ff` only puts the request on RaftCore's unbounded channel: one poll
        // completes it unless RaftCore has stopped (then it waits for the stop's reason).
        // Fire and forget: the outcome reaches this node as an apply (committed) or as a term
        // change (not committed); the response itself is not needed.
        let write = std::pin::pin!(self.raft.client_write_ff(payload));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::future::Future::poll(write, &mut cx) {
            std::task::Poll::Ready(Ok(_response)) => {}
            std::task::Poll::Ready(Err(e)) => {
                tracing::warn!(node = self.id, error = %e, "raft stopped");
                return Err(self.stop("raft stopped"));
            }
            std::task::Poll::Pending => return Err(self.stop("raft stopped")),
        }
        if let Some(last) = group.last_seqno() {
            // One primary's groups come in order, and a node has one primary at a time.
            self.proposed.store(last, Ordering::Release);
        }
        Ok(())
    }
}

/// How a node runs ([`ReplicatedLedger::start_with`]). `Default` = [`NodeOptions::new`].
#[derive(Clone)]
#[non_exhaustive]
pub struct NodeOptions {
    opener: LedgerOpener,
    simulated: bool,
}

impl fmt::Debug for NodeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeOptions")
            .field("simulated", &self.simulated)
            .finish_non_exhaustive()
    }
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeOptions {
    /// The ledger opened with [`Ledger::open`]; blocking work on tokio's blocking pool.
    pub fn new() -> Self {
        Self {
            opener: Arc::new(Ledger::open),
            simulated: false,
        }
    }

    /// Opens the node's ledger (at start and at every role change) with `opener` instead of
    /// [`Ledger::open`]: over a store of the caller's choosing, such as a fault-injecting one.
    pub fn opener(mut self, opener: LedgerOpener) -> Self {
        self.opener = opener;
        self
    }

    /// For deterministic simulations on a current-thread tokio runtime with a paused clock:
    /// the node's blocking work (opening, reopening and closing its ledger) runs on the
    /// runtime's own thread instead of tokio's blocking pool, so the paused clock cannot move
    /// while it runs, and a ledger reopened as the primary has handed everything it sequenced
    /// at open to Raft before the runtime goes on. Never on a runtime that serves anything
    /// else: the thread is blocked meanwhile. See `tests/ledger_sim.rs`.
    pub fn simulated(mut self, simulated: bool) -> Self {
        self.simulated = simulated;
        self
    }
}

/// What the handle and its role task share.
struct Node {
    id: NodeId,
    raft: Raft<TypeConfig>,
    slot: Arc<LedgerSlot>,
    stopping: AtomicBool,
    /// The last seqno the current primary handed to Raft (0 when none, reset when a
    /// primary opens).
    proposed: Arc<AtomicU64>,
    /// Whether the current primary's proposals have stopped (reset when a primary opens).
    proposals_stopped: Arc<AtomicBool>,
    /// [`NodeOptions::simulated`].
    simulated: bool,
}

impl Node {
    fn metrics(&self) -> RaftMetrics<NodeId, openraft::BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// The role the metrics call for, or `None` to leave it as it is (a new leader that has
    /// not applied an entry of its term yet).
    fn wanted(&self, m: &RaftMetrics<NodeId, openraft::BasicNode>) -> Option<LedgerRole> {
        if m.state == ServerState::Leader && m.current_leader == Some(self.id) {
            let applied_term = m.last_applied.map(|l| l.leader_id.term);
            return (applied_term == Some(m.current_term)).then_some(LedgerRole::Primary {
                term: m.current_term,
            });
        }
        Some(LedgerRole::Backup)
    }

    /// Brings the ledger's role in line with the metrics. Blocks (closes and opens ledgers).
    fn reconcile(self: &Arc<Self>) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let m = self.metrics();
        let Some(wanted) = self.wanted(&m) else {
            return;
        };
        let current = self.slot.role();
        if current == Some(wanted) {
            return;
        }
        let result = match wanted {
            LedgerRole::Backup => self.slot.demote(current, SWAP_WAIT),
            LedgerRole::Primary { term } => {
                self.proposed.store(0, Ordering::Release);
                self.proposals_stopped.store(false, Ordering::Release);
                let replicator = Arc::new(RaftReplicator {
                    id: self.id,
                    raft: self.raft.clone(),
                    term,
                    proposed: self.proposed.clone(),
                    stopped: self.proposals_stopped.clone(),
                });
                let config = self
                    .slot
                    .config()
                    .clone()
                    .primary(term.saturating_add(1), replicator);
                let result = self
                    .slot
                    .replace(current, wanted, SWAP_WAIT, || self.slot.open(config));
                if result.is_ok() && self.simulated {
                    // What the primary sequenced at open reaches Raft before the runtime goes
                    // on.
                    let head = self.slot.current().map_or(0, |l| l.last_sequenced());
                    self.wait_proposed(head, SWAP_WAIT);
                }
                result
            }
        };
        match result {
            Ok(()) => {
                tracing::info!(node = self.id, from = ?current, to = ?wanted, "ledger role changed");
            }
            Err(SlotError::Changed { found, .. }) => {
                // The state machine demoted a stale primary meanwhile: look again next tick.
                tracing::debug!(node = self.id, ?found, "ledger role changed meanwhile");
            }
            Err(SlotError::Busy { .. }) => {
                tracing::warn!(node = self.id, to = ?wanted, "ledger busy; role change retried");
            }
            Err(e) => {
                // The slot is empty: fall back to a backup, the role that needs nothing of
                // the cluster. Retried on the next tick if this fails too.
                tracing::error!(node = self.id, to = ?wanted, error = %e, "role change failed");
                if let Err(e) = self.slot.demote(None, SWAP_WAIT) {
                    tracing::error!(node = self.id, error = %e, "reopening as a backup failed");
                }
            }
        }
    }

    /// Waits (blocking, in real time) up to `timeout` for the primary to have handed
    /// `seqno` to Raft; returns whether it has (false at once once its proposals stopped).
    fn wait_proposed(&self, seqno: u64, timeout: Duration) -> bool {
        let deadline = deadline_after(timeout);
        while self.proposed.load(Ordering::Acquire) < seqno {
            if self.proposals_stopped.load(Ordering::Acquire) || Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        true
    }

    fn leader_hint(&self) -> Option<String> {
        self.metrics().current_leader.map(|id| id.to_string())
    }
}

/// Makes a node that stopped as the leader of a term start as a candidate of that term
/// instead: openraft 0.9 restores a node whose stored vote is a committed vote for itself as
/// the leader of that term at once, and this node's primary would then write in the view of
/// a term it led before, handing out again the ids its last incarnation handed out but never
/// proposed. The uncommitted vote for itself still keeps it from voting for another node in
/// that term (all Raft's safety needs of a vote); it only gives up the shortcut back to the
/// lead, so the node is a follower until it or another node wins a later term.
async fn forget_leadership(log: &mut LogStore, id: NodeId) -> Result<(), ReplicaError> {
    let raft = |e: StorageError| ReplicaError::Raft {
        detail: e.to_string(),
    };
    let vote = log.read_vote().await.map_err(raft)?;
    if let Some(vote) = vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(id)) {
        let term = vote.leader_id().get_term();
        tracing::info!(
            node = id,
            term,
            "restarting as a candidate of the term this node led"
        );
        log.save_vote(&Vote::new(term, id)).await.map_err(raft)?;
    }
    Ok(())
}

/// Follows the node's metrics and reconciles its ledger role until the Raft stops.
async fn role_task(node: Arc<Node>) {
    let mut metrics = node.raft.metrics();
    loop {
        if node.stopping.load(Ordering::Acquire) {
            return;
        }
        if node.simulated {
            node.reconcile();
        } else {
            let reconciling = node.clone();
            if tokio::task::spawn_blocking(move || reconciling.reconcile())
                .await
                .is_err()
            {
                tracing::error!(node = node.id, "role reconciliation panicked");
            }
        }
        // A change or a tick: reconcile again. An error: the Raft stopped.
        if let Ok(Err(_)) = tokio::time::timeout(ROLE_TICK, metrics.changed()).await {
            return;
        }
    }
}

/// One node of a replicated ledger. See the [module documentation](self).
pub struct ReplicatedLedger {
    node: Arc<Node>,
    /// `None` once [`ReplicatedLedger::shutdown`] has awaited it.
    role_task: Option<tokio::task::JoinHandle<()>>,
}

impl fmt::Debug for ReplicatedLedger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplicatedLedger")
            .field("node", &self.node.id)
            .field("slot", &self.node.slot)
            .finish()
    }
}

impl ReplicatedLedger {
    /// Starts node `id`: opens its ledger (`ledger_config`, as a backup), its Raft storage
    /// over `raft_backend`, and its Raft with `raft_config` over `network`, and spawns its role
    /// task on the current tokio runtime. The cluster still has to be initialized
    /// (`raft().initialize(..)`) once, on one node. The ledger is written with
    /// [`Durability::Buffered`] whatever `ledger_config` says: the Raft log makes commits
    /// durable (see [`crate::ledger_machine`], Durability rule).
    ///
    /// Any `raft_config.snapshot_policy` works: a snapshot is the ledger through a committed
    /// signature (see [`crate::ledger_machine`], Snapshots), and a follower the leader's log no
    /// longer reaches installs it.
    ///
    /// # Errors
    ///
    /// Ledger, storage and openraft failures.
    pub async fn start<N>(
        id: NodeId,
        raft_config: Arc<openraft::Config>,
        network: N,
        raft_backend: Arc<dyn Backend>,
        ledger_config: LedgerConfig,
    ) -> Result<Self, ReplicaError>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        Self::start_with(
            id,
            raft_config,
            network,
            raft_backend,
            ledger_config,
            NodeOptions::new(),
        )
        .await
    }

    /// As [`ReplicatedLedger::start`], with `options`: another way to open the node's
    /// ledger ([`NodeOptions::opener`]), or a node for a deterministic simulation
    /// ([`NodeOptions::simulated`]).
    ///
    /// # Errors
    ///
    /// As [`ReplicatedLedger::start`]; the opener's failure.
    pub async fn start_with<N>(
        id: NodeId,
        raft_config: Arc<openraft::Config>,
        network: N,
        raft_backend: Arc<dyn Backend>,
        ledger_config: LedgerConfig,
        options: NodeOptions,
    ) -> Result<Self, ReplicaError>
    where
        N: RaftNetworkFactory<TypeConfig>,
    {
        // Raft's log makes a commit durable; the state machine syncs the ledger's store
        // before it records how far it applied (crate::ledger_machine, Durability rule).
        let ledger_config = ledger_config.durability(Durability::Buffered);
        let backup = ledger_config.clone().backup();
        let NodeOptions { opener, simulated } = options;
        let open = opener.clone();
        let ledger = blocking(simulated, move || open(backup)).await??;
        let slot = LedgerSlot::with_opener(ledger, LedgerRole::Backup, ledger_config, opener);
        let machine = LedgerStateMachine::open(raft_backend.clone(), slot.clone())?;
        let mut log = LogStore::new(raft_backend).with_purge_fence(machine.purge_fence());
        forget_leadership(&mut log, id).await?;
        let raft = Raft::new(id, raft_config, network, log, machine)
            .await
            .map_err(|e| ReplicaError::Raft {
                detail: e.to_string(),
            })?;
        let node = Arc::new(Node {
            id,
            raft,
            slot,
            stopping: AtomicBool::new(false),
            proposed: Arc::new(AtomicU64::new(0)),
            proposals_stopped: Arc::new(AtomicBool::new(false)),
            simulated,
        });
        let role_task = tokio::spawn(role_task(node.clone()));
        Ok(Self {
            node,
            role_task: Some(role_task),
        })
    }

    /// The last seqno this node's primary has handed to Raft (0 if it has none yet, or this
    /// node is not the primary).
    pub fn proposed_through(&self) -> u64 {
        self.node.proposed.load(Ordering::Acquire)
    }

    /// Waits (blocking the calling thread, in real time) up to `timeout` for this node's
    /// primary to have handed `seqno` to Raft; returns whether it has (false as soon as its
    /// proposals have stopped: it lost the lead). A simulation calls it after each write, so
    /// that the write reaches Raft before its runtime goes on.
    pub fn wait_proposed(&self, seqno: u64, timeout: Duration) -> bool {
        self.node.wait_proposed(seqno, timeout)
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.node.id
    }

    /// This node's Raft (to initialize the cluster, change membership, read metrics).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.node.raft
    }

    /// This node's ledger role (`None` while its ledger is closed).
    pub fn role(&self) -> Option<LedgerRole> {
        self.node.slot.role()
    }

    /// The node's current ledger, for the calls this handle does not wrap. Drop it promptly:
    /// a role change waits for it (up to 10 s, under the slot's write lock, so applying waits
    /// too). Reads that wait for the ledger to have written an entry (say [`Ledger::latest`]
    /// or [`Ledger::table_get`]) wait, on a primary, until consensus applies the entry's
    /// signed group; if the primary loses the lead first they fail, as it is abandoned.
    ///
    /// # Errors
    ///
    /// [`ledger_core::Error::Closed`] if the node's ledger is closed.
    pub fn ledger(&self) -> Result<Arc<Ledger>, ledger_core::Error> {
        self.node.slot.current().ok_or(ledger_core::Error::Closed)
    }

    /// The current ledger if it is the primary; otherwise `NotPrimary` naming the leader.
    fn primary(&self) -> Result<Arc<Ledger>, ledger_core::Error> {
        let ledger = self.ledger()?;
        if ledger.role() == Role::Primary {
            return Ok(ledger);
        }
        Err(ledger_core::Error::NotPrimary {
            primary: self.node.leader_hint(),
        })
    }

    /// Appends `contents` to `collection` on this node if it is the primary.
    ///
    /// # Errors
    ///
    /// [`ledger_core::Error::NotPrimary`] with the Raft leader's id (when known) on any other
    /// node; as [`Ledger::append`].
    pub fn append(&self, collection: &str, contents: &[u8]) -> Result<TxId, ledger_core::Error> {
        self.primary()?.append(collection, contents)
    }

    /// Submits `tx` on this node if it is the primary.
    ///
    /// # Errors
    ///
    /// As [`ReplicatedLedger::append`] and [`Ledger::submit`].
    pub fn submit(&self, tx: Transaction) -> Result<TxId, ledger_core::Error> {
        self.primary()?.submit(tx)
    }

    /// The status of `tx` on this node.
    pub fn status(&self, tx: TxId) -> TxStatus {
        self.ledger().map_or(TxStatus::Unknown, |l| l.status(tx))
    }

    /// The entry of `tx` in `collection`, as this node stores it.
    ///
    /// # Errors
    ///
    /// As [`Ledger::entry`]; [`ledger_core::Error::Closed`] if the ledger is closed.
    pub fn entry(&self, collection: &str, tx: TxId) -> Result<LedgerEntry, ledger_core::Error> {
        self.ledger()?.entry(collection, tx)
    }

    /// A receipt for committed `tx` from this node.
    ///
    /// # Errors
    ///
    /// As [`Ledger::receipt`]; [`ledger_core::Error::Closed`] if the ledger is closed.
    pub fn receipt(&self, tx: TxId) -> Result<Receipt, ledger_core::Error> {
        self.ledger()?.receipt(tx)
    }

    /// The newest entry of `collection` on this node. On the primary it includes this
    /// node's own pending writes and waits for them to be applied by consensus (so a client
    /// reads its writes); if the primary loses the lead meanwhile the wait fails.
    ///
    /// # Errors
    ///
    /// As [`Ledger::latest`]; [`ledger_core::Error::Poisoned`] if this node's primary was
    /// abandoned at a role change during the wait; [`ledger_core::Error::Closed`] if the
    /// ledger is closed.
    pub fn latest(&self, collection: &str) -> Result<Option<LedgerEntry>, ledger_core::Error> {
        self.ledger()?.latest(collection)
    }

    /// A page of the entries of `collection` in `range`, as this node stores them.
    ///
    /// # Errors
    ///
    /// As [`Ledger::entries_page`]; [`ledger_core::Error::Closed`] if the ledger is closed.
    pub fn entries_page(
        &self,
        collection: &str,
        range: impl RangeBounds<TxId>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, ledger_core::Error> {
        self.ledger()?
            .entries_page(collection, range, cursor, limit)
    }

    /// Collection names after `after`, at most `limit`, on this node.
    ///
    /// # Errors
    ///
    /// As [`Ledger::collections`] and [`ReplicatedLedger::latest`] (it waits alike).
    pub fn collections(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, ledger_core::Error> {
        self.ledger()?.collections(after, limit)
    }

    /// The current value of `key` in `table` on this node (on the primary, after its own
    /// pending writes, as [`ReplicatedLedger::latest`]).
    ///
    /// # Errors
    ///
    /// As [`Ledger::table_get`] and [`ReplicatedLedger::latest`].
    pub fn table_get(
        &self,
        table: &str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, ledger_core::Error> {
        self.ledger()?.table_get(table, key)
    }

    /// The value of `key` in `table` as of transaction `at`, on this node.
    ///
    /// # Errors
    ///
    /// As [`Ledger::table_get_at`]; [`ledger_core::Error::Closed`] if the ledger is closed.
    pub fn table_get_at(
        &self,
        table: &str,
        key: &[u8],
        at: TxId,
    ) -> Result<Option<Vec<u8>>, ledger_core::Error> {
        self.ledger()?.table_get_at(table, key, at)
    }

    /// A page of the history of `key` in `table`, on this node.
    ///
    /// # Errors
    ///
    /// As [`Ledger::table_history_page`]; [`ledger_core::Error::Closed`] if the ledger is
    /// closed.
    pub fn table_history_page(
        &self,
        table: &str,
        key: &[u8],
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<KeyHistoryPage, ledger_core::Error> {
        self.ledger()?.table_history_page(table, key, cursor, limit)
    }

    /// A COSE receipt for committed `tx` from this node.
    ///
    /// # Errors
    ///
    /// As [`Ledger::cose_receipt`]; [`ledger_core::Error::Closed`] if the ledger is closed.
    pub fn cose_receipt(&self, tx: TxId) -> Result<CoseReceipt, ledger_core::Error> {
        self.ledger()?.cose_receipt(tx)
    }

    /// A proof that the tree signed at signature transaction `to` extends the one signed at
    /// `from`, from this node.
    ///
    /// # Errors
    ///
    /// As [`Ledger::consistency_proof`]; [`ledger_core::Error::Closed`] if the ledger is
    /// closed.
    pub fn consistency_proof(
        &self,
        from: TxId,
        to: TxId,
    ) -> Result<ConsistencyProof, ledger_core::Error> {
        self.ledger()?.consistency_proof(from, to)
    }

    /// The COSE form of [`ReplicatedLedger::consistency_proof`].
    ///
    /// # Errors
    ///
    /// As [`Ledger::cose_consistency_receipt`]; [`ledger_core::Error::Closed`] if the ledger
    /// is closed.
    pub fn cose_consistency_receipt(
        &self,
        from: TxId,
        to: TxId,
    ) -> Result<CoseConsistencyReceipt, ledger_core::Error> {
        self.ledger()?.cose_consistency_receipt(from, to)
    }

    /// This node's newest committed transaction.
    pub fn last_committed(&self) -> Option<TxId> {
        self.ledger().ok().and_then(|l| l.last_committed())
    }

    /// Waits up to `timeout` for `tx` to become Committed or Invalid on this node, and returns
    /// its status then. Unlike [`Ledger::wait_for_commit`], an id this node does not know yet
    /// (its group not applied here) is waited for too, and the wait follows role changes.
    ///
    /// # Errors
    ///
    /// As [`Ledger::wait_for_commit`].
    pub fn wait_for_commit(
        &self,
        tx: TxId,
        timeout: Duration,
    ) -> Result<TxStatus, ledger_core::Error> {
        let deadline = deadline_after(timeout);
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let status = match self.node.slot.current() {
                Some(ledger) => ledger.wait_for_commit(tx, remaining.min(WAIT_SLICE))?,
                None => TxStatus::Unknown,
            };
            if matches!(status, TxStatus::Committed | TxStatus::Invalid) || remaining.is_zero() {
                return Ok(status);
            }
            if status == TxStatus::Unknown {
                // Unknown returns at once: poll, gently.
                std::thread::sleep(Duration::from_millis(5).min(remaining));
            }
        }
    }

    /// The leader, term and this node's role, view and last committed transaction.
    pub fn cluster_status(&self) -> ClusterStatus {
        let m = self.node.metrics();
        let last_committed = self.last_committed();
        ClusterStatus {
            node: self.node.id,
            leader: m.current_leader,
            term: m.current_term,
            role: self.role(),
            view: last_committed.map(|tx| tx.view()),
            last_committed,
            last_applied: m.last_applied,
        }
    }

    /// Stops the node: its role task, its Raft, and its ledger (closed cleanly).
    ///
    /// # Errors
    ///
    /// openraft's failure to shut down; [`ReplicaError::Slot`] if the ledger is still held
    /// elsewhere after 10 s; the ledger's close failure.
    pub async fn shutdown(mut self) -> Result<(), ReplicaError> {
        self.node.stopping.store(true, Ordering::Release);
        let raft_result = self.node.raft.shutdown().await;
        if let Some(task) = self.role_task.take() {
            if let Err(e) = task.await {
                tracing::warn!(node = self.node.id, error = %e, "role task ended abnormally");
            }
        }
        let slot = self.node.slot.clone();
        let simulated = self.node.simulated;
        let ledger = blocking(simulated, move || slot.take(SWAP_WAIT)).await??;
        if let Some(ledger) = ledger {
            blocking(simulated, move || ledger.close()).await??;
        }
        raft_result.map_err(|e| ReplicaError::Raft {
            detail: e.to_string(),
        })
    }
}

/// Without [`ReplicatedLedger::shutdown`]: the role task stops within [`ROLE_TICK`] and lets
/// go of the node, whose ledger is then closed by its own `Drop` (on whichever thread drops
/// the last reference). The Raft is not shut down: call `shutdown`, which does it and reports
/// failures.
impl Drop for ReplicatedLedger {
    fn drop(&mut self) {
        self.node.stopping.store(true, Ordering::Release);
    }
}

/// Runs blocking `f` on tokio's blocking pool, or right here for a simulated node.
async fn blocking<T: Send + 'static>(
    simulated: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ReplicaError> {
    if simulated {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ReplicaError::Task {
            detail: e.to_string(),
        })
}

/// One founding node of a service ([`found_service`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FoundedNode {
    /// The node's ledger directory (a copy of the genesis ledger).
    pub ledger_dir: PathBuf,
    /// A directory for the node's Raft storage (empty; [`crate::RocksBackend::open`] creates
    /// the database).
    pub raft_dir: PathBuf,
    /// The node's identity, endorsed by the service identity.
    pub identity: Arc<NodeIdentity>,
}

impl FoundedNode {
    /// The node's ledger configuration: its directory, signing with its node identity. Add
    /// settings (say `sig_interval`) to it before starting the node; the role is set by
    /// [`ReplicatedLedger`].
    pub fn ledger_config(&self) -> LedgerConfig {
        LedgerConfig::new(&self.ledger_dir).node_signer(self.identity.clone())
    }
}

/// A founded service: the service identity and its founding nodes.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FoundedService {
    /// The service identity (its certificate verifies every receipt of the service).
    pub identity: ServiceIdentity,
    /// The founding nodes, in order (node ids are the caller's choice).
    pub nodes: Vec<FoundedNode>,
}

/// Founds a service of `nodes` nodes under `root`: a standalone genesis ledger made with a
/// new service identity named `name` (at `root/genesis`, closed, so signed), copied to
/// `root/node<i>/ledger` for `i` in `1..=nodes`, and one node identity per node, issued by
/// the service key and recorded by the genesis transaction ([`Genesis::node`]), so the ledger
/// names every founding node's certificate before any of them has signed (the transport
/// accepts only such peers: [`crate::transport`]). Each node's Raft directory is
/// `root/node<i>/raft`.
///
/// Every founding node shares the genesis ledger's commit secret (a copy of its store), which
/// is what lets backups re-derive the primary's commit evidence.
///
/// # Errors
///
/// The ledger's failures (identity generation, genesis); [`ReplicaError::Io`] for copying.
pub fn found_service(
    root: &Path,
    name: &str,
    nodes: usize,
) -> Result<FoundedService, ReplicaError> {
    found_service_with(root, name, nodes, Genesis::new())
}

/// [`found_service`] with `genesis` (members, constitution, roles, users) recorded by the
/// genesis transaction too, beside the founding nodes.
///
/// # Errors
///
/// As [`found_service`]; the ledger's refusal of `genesis`.
pub fn found_service_with(
    root: &Path,
    name: &str,
    nodes: usize,
    genesis: Genesis,
) -> Result<FoundedService, ReplicaError> {
    let identity = ServiceIdentity::generate(name)?;
    let identities = (1..=nodes)
        .map(|i| NodeIdentity::generate(&identity, &format!("{name} node {i}")).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let genesis = identities
        .iter()
        .fold(genesis, |g, node| g.node(node.certificate_pem()));
    let genesis_dir = root.join("genesis");
    Ledger::open(
        LedgerConfig::new(&genesis_dir)
            .service_identity(identity.clone())
            .genesis(genesis),
    )?
    .close()?;
    let mut founded = Vec::with_capacity(nodes);
    for (i, node) in identities.into_iter().enumerate() {
        let dir = root.join(format!("node{}", i + 1));
        let ledger_dir = dir.join("ledger");
        copy_dir(&genesis_dir, &ledger_dir)?;
        let raft_dir = dir.join("raft");
        std::fs::create_dir_all(&raft_dir).map_err(|source| ReplicaError::Io {
            operation: "creating",
            path: raft_dir.clone(),
            source,
        })?;
        founded.push(FoundedNode {
            ledger_dir,
            raft_dir,
            identity: node,
        });
    }
    Ok(FoundedService {
        identity,
        nodes: founded,
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), ReplicaError> {
    let io = |operation, path: &Path| {
        let path = path.to_path_buf();
        move |source| ReplicaError::Io {
            operation,
            path,
            source,
        }
    };
    std::fs::create_dir_all(to).map_err(io("creating", to))?;
    for entry in std::fs::read_dir(from).map_err(io("reading", from))? {
        let entry = entry.map_err(io("reading", from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type().map_err(io("reading", &source))?.is_dir() {
            copy_dir(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(io("copying", &source))?;
        }
    }
    Ok(())
}
