//! An in-process simulated network for testing clusters of [`openraft::Raft`] nodes over this
//! crate's storage.
//!
//! A [`Router`] holds every node of a cluster in one process and carries their RPCs
//! (`append_entries`, `vote`, `install_snapshot`) by calling the target's [`Raft`] handle
//! directly. [`SimNetwork`] is the [`RaftNetworkFactory`] each node is built with, and
//! [`SimConnection`] the [`RaftNetwork`] it hands out.
//!
//! # What is simulated
//!
//! * **Loss, delay, duplication** ([`Faults`]): each request is dropped with a probability
//!   (the caller sees a network error after the drawn delay, as a timeout would look), delayed
//!   by a duration drawn from a range (so messages on a link overtake each other), and
//!   duplicated with a probability: the copy is delivered a second time, later, on its own,
//!   and its reply is discarded; the caller gets one reply. A reply is lost with the same
//!   probability as a request (the target applied the request; the caller sees a network
//!   error). A sent request is delivered even if the caller stopped waiting for it (openraft
//!   drops an RPC that outlasts its timeout).
//! * **Partitions** ([`Router::partition`], [`Router::isolate`], [`Router::heal`]): nodes are
//!   split into groups; a request or a reply between groups is dropped, and the caller sees
//!   openraft's [`Unreachable`] (which makes openraft back off).
//! * **Crash and restart** ([`Router::crash`], [`Router::restart`]): the node's [`Raft`] is
//!   shut down and its storage is kept. A memory node keeps its [`MemoryBackend`] (everything
//!   written to it survives, including unsynced writes), as does a node over any other
//!   backend the test keeps a handle to ([`NodeStorage::Shared`]); a RocksDB node closes its
//!   database and reopens it from its directory. A request to a crashed node is [`Unreachable`].
//!
//! Requests in flight when a node crashes are still delivered to the target if it runs. A
//! crashed incarnation sends and hears nothing more, as a crashed process would: tasks of a
//! shut-down [`Raft`] can outlive `Raft::shutdown` for a moment (a replication task in the
//! middle of an RPC or a back-off), so the router drops every request from an incarnation that
//! is no longer running, and every reply to one ([`DropReason::SenderDown`]).
//!
//! # The trace
//!
//! The router records every event ([`TraceEvent`]): each RPC sent (with its link and its
//! sequence number on that link), dropped (and why), delayed, duplicated, delivered, its reply
//! lost; fault settings, partitions, heals, crashes, restarts, each (term, leader) pair seen
//! (in a node's metrics or in an `append_entries` on the wire), and a node whose Raft stopped
//! by itself. [`Trace`] prints one event per line. A failing test prints its
//! seed and the trace; [`seed_from_env`] lets a test rerun with `LEDGER_SIM_SEED=<seed>`.
//!
//! # Determinism
//!
//! Every random choice the simulation makes comes from the seed:
//!
//! * each link `from -> to` has its own `ChaCha8Rng` derived from the seed and the link, and
//!   the `n`-th request on a link always gets the same fate (lost or not, its delay, duplicated
//!   or not, its copy's delay, its reply lost or not);
//! * each node incarnation's election timeout is drawn from the seed, the node id and the
//!   restart count, and openraft's own random election timeout is pinned to it
//!   (`election_timeout_max = election_timeout_min + 1`), so openraft draws nothing that
//!   matters from its thread-local RNG.
//!
//! Run the cluster in a current-thread tokio runtime with a paused clock
//! (`#[tokio::test(start_paused = true)]`, or `Builder::new_current_thread().start_paused(true)`,
//! which need tokio's `test-util` feature): then time only moves when every task waits, the
//! delays and timeouts fire in simulated time, and a run takes a fraction of the wall-clock
//! time it simulates.
//!
//! Under those conditions the same seed gives the same trace, event for event and at the same
//! simulated times: `tests/sim_cluster.rs` checks it for a 3-node schedule of 15 steps, and
//! 12 seeds of 3- and 5-node schedules of 25 steps each gave identical traces over 4 runs in
//! one process and across two processes, as did 3 runs of a RocksDB schedule; a failing seed
//! found in a 3,000-seed sweep failed again at the same event when rerun alone. That is what
//! makes `LEDGER_SIM_SEED=<seed>` replay a failure. It is a measured property, not a
//! guaranteed one:
//!
//! * openraft's core loop chooses between ready inputs with `futures::select!`, whose fairness
//!   draws from a per-thread random seed that cannot be fixed from outside. On a
//!   current-thread runtime with a paused clock the inputs have so far never been ready
//!   together in a way that changed the outcome, but nothing rules it out.
//! * A multi-threaded runtime or a clock that is not paused breaks it. RocksDB nodes keep it:
//!   RocksDB calls are synchronous and do not move the paused clock.
//!
//! Ledger nodes ([`crate::ReplicatedLedger`]) keep it only when started with
//! [`crate::NodeOptions::simulated`] and driven from the runtime's thread, each write handed
//! to Raft before the clock moves (`tests/ledger_sim.rs`); otherwise their ledgers' threads
//! race the clock (`tests/ledger_schedules.rs` runs them so, in real time).
//!
//! What holds regardless: the fate of the `n`-th request on each link and each node
//! incarnation's election timeout depend only on the seed, and so do a test's own draws from
//! it (its schedule may still depend on what the cluster did, e.g. which node leads).
//!
//! # Errors
//!
//! Operations on the router return [`SimError`]; the network answers openraft with
//! [`Unreachable`] (target crashed, or in another partition) or [`NetworkError`] (request or
//! reply lost), each with a [`SimError::Dropped`] as its source. No public function panics.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    Fatal, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Config, RaftNetwork, RaftNetworkFactory, ServerState};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{Backend, MemoryBackend};
use crate::error::RaftStoreError;
use crate::rocks::RocksBackend;
use crate::state_machine::StateMachine;
use crate::types::{NodeId, TypeConfig};

/// An openraft node of this crate's type configuration.
pub type Raft = openraft::Raft<TypeConfig>;

/// The environment variable [`seed_from_env`] reads: `LEDGER_SIM_SEED=<u64>` reruns a test
/// with that seed.
pub const SEED_ENV: &str = "LEDGER_SIM_SEED";

/// The seeds a test should run: the one in [`SEED_ENV`] if set, else `defaults`.
///
/// # Errors
///
/// [`SimError::BadSeed`] if the variable is set but is not a `u64` (decimal, or hexadecimal
/// with `0x`).
pub fn seed_from_env(defaults: &[u64]) -> Result<Vec<u64>, SimError> {
    match std::env::var(SEED_ENV) {
        Ok(value) => {
            let trimmed = value.trim();
            let parsed = match trimmed.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => trimmed.parse(),
            };
            parsed
                .map(|seed| vec![seed])
                .map_err(|_| SimError::BadSeed { value })
        }
        Err(std::env::VarError::NotPresent) => Ok(defaults.to_vec()),
        Err(std::env::VarError::NotUnicode(value)) => Err(SimError::BadSeed {
            value: value.to_string_lossy().into_owned(),
        }),
    }
}

/// Why the simulation refused an operation or dropped a message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// No node with this id was added to the router.
    #[error("node {0} is not in the simulated cluster")]
    UnknownNode(NodeId),
    /// A node with this id was already added.
    #[error("node {0} is already in the simulated cluster")]
    DuplicateNode(NodeId),
    /// The node is crashed (not running).
    #[error("node {0} is down")]
    NodeDown(NodeId),
    /// The node was started outside the router ([`Router::attach`]): only its owner can
    /// restart it.
    #[error("node {0} was attached, not started by the router")]
    Attached(NodeId),
    /// The node is running, so it cannot be restarted.
    #[error("node {0} is running")]
    NodeRunning(NodeId),
    /// The node's storage could not be opened or read.
    #[error("node {node}: storage: {source}")]
    Storage {
        /// The node.
        node: NodeId,
        /// The storage failure.
        source: RaftStoreError,
    },
    /// openraft refused to start the node.
    #[error("node {node}: raft: {source}")]
    Raft {
        /// The node.
        node: NodeId,
        /// openraft's error.
        source: Box<Fatal<NodeId>>,
    },
    /// The node's Raft task failed while shutting down.
    #[error("node {node}: shutdown: {detail}")]
    Shutdown {
        /// The node.
        node: NodeId,
        /// The join error's message.
        detail: String,
    },
    /// The openraft configuration is invalid.
    #[error("invalid raft config: {detail}")]
    Config {
        /// openraft's message.
        detail: String,
    },
    /// Called outside a tokio runtime (nodes run as tokio tasks).
    #[error("the simulated cluster must be driven from inside a tokio runtime")]
    NoRuntime,
    /// [`SEED_ENV`] is set to something that is not a `u64`.
    #[error("{SEED_ENV}={value:?} is not a u64 seed")]
    BadSeed {
        /// The variable's value.
        value: String,
    },
    /// The network dropped a message (the source of openraft's [`Unreachable`] or
    /// [`NetworkError`]).
    #[error("{msg} dropped: {reason}")]
    Dropped {
        /// The message.
        msg: MsgId,
        /// Why.
        reason: DropReason,
    },
}

/// A probability in thousandths; values above 1,000 mean 1,000 (always).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PerMille(u16);

impl PerMille {
    /// Never.
    pub const NEVER: PerMille = PerMille(0);

    /// `value` thousandths, at most 1,000.
    pub fn new(value: u16) -> Self {
        PerMille(value.min(1000))
    }

    /// The value in thousandths, `0..=1000`.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Whether a uniform draw from `0..1000` falls below it.
    fn hit(self, roll: u16) -> bool {
        roll < self.0
    }
}

/// The message faults in force. `Default` = none: nothing lost, duplicated or delayed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    loss: PerMille,
    duplicate: PerMille,
    delay_min: Duration,
    delay_max: Duration,
}

impl Faults {
    /// No faults (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Each request, and each reply, is lost with probability `loss`.
    pub fn with_loss(mut self, loss: PerMille) -> Self {
        self.loss = loss;
        self
    }

    /// Each delivered request is delivered a second time with probability `duplicate`.
    pub fn with_duplicates(mut self, duplicate: PerMille) -> Self {
        self.duplicate = duplicate;
        self
    }

    /// Each request is delayed by a uniform draw from `a..=b` (whole milliseconds; the bounds
    /// are taken in either order).
    pub fn with_delay(mut self, a: Duration, b: Duration) -> Self {
        self.delay_min = a.min(b);
        self.delay_max = a.max(b);
        self
    }

    /// The loss probability.
    pub fn loss(&self) -> PerMille {
        self.loss
    }

    /// The duplication probability.
    pub fn duplicate(&self) -> PerMille {
        self.duplicate
    }

    /// The delay range, `(min, max)`.
    pub fn delay(&self) -> (Duration, Duration) {
        (self.delay_min, self.delay_max)
    }

    fn draw_delay(&self, rng: &mut ChaCha8Rng) -> Duration {
        // Always one draw, whatever the range, so a link's stream of draws is the same for
        // every fault setting.
        let lo = millis(self.delay_min);
        let hi = millis(self.delay_max).max(lo);
        let span = hi - lo;
        let roll: u64 = rng.gen();
        Duration::from_millis(lo + roll % span.saturating_add(1).max(1))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// One RPC on one link: the `seq`-th request (from 0) `from` sent to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId {
    /// The sender.
    pub from: NodeId,
    /// The target.
    pub to: NodeId,
    /// The request's number on the link `from -> to`.
    pub seq: u64,
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}#{}", self.from, self.to, self.seq)
    }
}

/// Which RPC a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RpcKind {
    /// `append_entries` (also heartbeats).
    AppendEntries {
        /// The index of the log id the entries follow (`prev_log_id`), if any.
        prev: Option<u64>,
        /// The index of the first entry, if any.
        first: Option<u64>,
        /// Entries in the request.
        entries: usize,
    },
    /// `vote`.
    Vote,
    /// `install_snapshot` (one chunk).
    InstallSnapshot,
}

/// Why a message was not delivered or its reply not returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Lost by the loss probability.
    Loss,
    /// Sender and target are in different partitions.
    Partition,
    /// The target is crashed.
    Down,
    /// The sender is crashed: a task of a crashed incarnation that outlived its shutdown
    /// sent, or a reply came back after the crash. A crashed process sends and hears
    /// nothing, so the router drops these.
    SenderDown,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Loss => "lost",
            DropReason::Partition => "partitioned",
            DropReason::Down => "target down",
            DropReason::SenderDown => "sender down",
        })
    }
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A request was sent.
    Sent {
        /// The message.
        msg: MsgId,
        /// Its RPC.
        rpc: RpcKind,
    },
    /// A request will arrive after `by`.
    Delayed {
        /// The message.
        msg: MsgId,
        /// The delay.
        by: Duration,
    },
    /// A request was not delivered.
    Dropped {
        /// The message.
        msg: MsgId,
        /// Why.
        reason: DropReason,
    },
    /// A request will be delivered twice; the copy after `copy_after`.
    Duplicated {
        /// The message.
        msg: MsgId,
        /// When the copy arrives, from the send.
        copy_after: Duration,
    },
    /// A request (`copy` = its duplicate) reached its target's Raft.
    Delivered {
        /// The message.
        msg: MsgId,
        /// Whether this was the duplicate copy.
        copy: bool,
    },
    /// The target handled a request but its reply did not reach the caller.
    ReplyLost {
        /// The message.
        msg: MsgId,
        /// Why.
        reason: DropReason,
    },
    /// Message faults changed.
    FaultsSet(Faults),
    /// The cluster was split into these groups.
    Partitioned(Vec<BTreeSet<NodeId>>),
    /// Every partition was healed.
    Healed,
    /// A node was added and started.
    Started(NodeId),
    /// A node crashed (its Raft was shut down).
    Crashed(NodeId),
    /// A crashed node restarted over its kept storage.
    Restarted(NodeId),
    /// A node reported itself leader of a term.
    Leader {
        /// The node.
        node: NodeId,
        /// Its term.
        term: u64,
    },
    /// A running node's Raft stopped by itself (a fatal error or a panic in its core).
    Failed {
        /// The node.
        node: NodeId,
        /// openraft's error.
        error: String,
    },
    /// A note from the test (writes, checks).
    Note(String),
}

/// One event, at its simulated time since the router was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// Time since the router was made (tokio's clock, so simulated under a paused clock).
    pub at: Duration,
    /// What happened.
    pub kind: EventKind,
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>8}ms ", self.at.as_millis())?;
        match &self.kind {
            EventKind::Sent { msg, rpc } => match rpc {
                RpcKind::AppendEntries {
                    prev,
                    first,
                    entries,
                } => {
                    write!(f, "sent {msg} append_entries(prev ")?;
                    match prev {
                        Some(index) => write!(f, "{index}")?,
                        None => write!(f, "-")?,
                    }
                    match first {
                        Some(first) => write!(f, ", {entries} from {first})"),
                        None => write!(f, ", none)"),
                    }
                }
                RpcKind::Vote => write!(f, "sent {msg} vote"),
                RpcKind::InstallSnapshot => write!(f, "sent {msg} install_snapshot"),
            },
            EventKind::Delayed { msg, by } => write!(f, "delay {msg} {}ms", by.as_millis()),
            EventKind::Dropped { msg, reason } => write!(f, "drop {msg} ({reason})"),
            EventKind::Duplicated { msg, copy_after } => {
                write!(f, "dup {msg} copy at +{}ms", copy_after.as_millis())
            }
            EventKind::Delivered { msg, copy } => {
                write!(f, "deliver {msg}{}", if *copy { " (copy)" } else { "" })
            }
            EventKind::ReplyLost { msg, reason } => write!(f, "reply lost {msg} ({reason})"),
            EventKind::FaultsSet(faults) => write!(
                f,
                "faults loss={}‰ dup={}‰ delay={}..={}ms",
                faults.loss.get(),
                faults.duplicate.get(),
                faults.delay_min.as_millis(),
                faults.delay_max.as_millis()
            ),
            EventKind::Partitioned(groups) => write!(f, "partition {groups:?}"),
            EventKind::Healed => write!(f, "heal"),
            EventKind::Started(node) => write!(f, "start {node}"),
            EventKind::Crashed(node) => write!(f, "crash {node}"),
            EventKind::Restarted(node) => write!(f, "restart {node}"),
            EventKind::Leader { node, term } => write!(f, "leader {node} term {term}"),
            EventKind::Failed { node, error } => write!(f, "FAILED {node}: {error}"),
            EventKind::Note(note) => write!(f, "note {note}"),
        }
    }
}

/// A copy of the router's event trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The seed of the run.
    pub seed: u64,
    /// Every event, in the order recorded.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// The events that are not about single messages: faults, partitions, heals, starts,
    /// crashes, restarts and notes (the schedule a test drives).
    pub fn schedule(&self) -> Vec<&EventKind> {
        self.events
            .iter()
            .map(|e| &e.kind)
            .filter(|k| {
                matches!(
                    k,
                    EventKind::FaultsSet(_)
                        | EventKind::Partitioned(_)
                        | EventKind::Healed
                        | EventKind::Started(_)
                        | EventKind::Crashed(_)
                        | EventKind::Restarted(_)
                        | EventKind::Note(_)
                )
            })
            .collect()
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "simulation trace, seed {} (rerun with {SEED_ENV}={}), {} events:",
            self.seed,
            self.seed,
            self.events.len()
        )?;
        for event in &self.events {
            writeln!(f, "{event}")?;
        }
        Ok(())
    }
}

/// Where a node keeps its storage across crashes.
#[derive(Clone, Debug)]
pub enum NodeStorage {
    /// A memory backend, kept by this handle across crashes.
    Memory(Arc<MemoryBackend>),
    /// Any backend, kept by this handle across crashes (e.g. a wrapper that observes the
    /// writes of a memory backend).
    Shared(Arc<dyn Backend>),
    /// A RocksDB database in this directory, closed on crash and reopened on restart.
    Rocks(PathBuf),
}

impl NodeStorage {
    /// A new, empty memory backend.
    pub fn memory() -> Self {
        NodeStorage::Memory(Arc::new(MemoryBackend::new()))
    }

    fn open(&self) -> Result<Arc<dyn Backend>, RaftStoreError> {
        Ok(match self {
            NodeStorage::Memory(backend) => backend.clone(),
            NodeStorage::Shared(backend) => backend.clone(),
            NodeStorage::Rocks(dir) => Arc::new(RocksBackend::open(dir)?),
        })
    }
}

struct Slot {
    /// `None` for a node started outside the router ([`Router::attach`]).
    storage: Option<NodeStorage>,
    raft: Option<Raft>,
    /// The running incarnation's backend (none while crashed, so a RocksDB database closes).
    backend: Option<Arc<dyn Backend>>,
    incarnation: u64,
}

struct Link {
    rng: ChaCha8Rng,
    next_seq: u64,
}

struct Inner {
    seed: u64,
    start: tokio::time::Instant,
    config: Config,
    faults: Faults,
    /// Each node's partition group; none: no partition.
    groups: Option<BTreeMap<NodeId, usize>>,
    nodes: BTreeMap<NodeId, Slot>,
    links: BTreeMap<(NodeId, NodeId), Link>,
    trace: Vec<TraceEvent>,
    leaders: BTreeMap<u64, BTreeSet<NodeId>>,
    failures: Vec<(NodeId, String)>,
}

impl Inner {
    fn record(&mut self, kind: EventKind) {
        let at = self.start.elapsed();
        self.trace.push(TraceEvent { at, kind });
    }

    fn leader_seen(&mut self, term: u64, node: NodeId) {
        if self.leaders.entry(term).or_default().insert(node) {
            self.record(EventKind::Leader { node, term });
        }
    }

    fn connected(&self, a: NodeId, b: NodeId) -> bool {
        match &self.groups {
            None => true,
            Some(groups) => groups.get(&a) == groups.get(&b),
        }
    }

    /// Whether `incarnation` of node `id` is the one running (always, for a sender the
    /// router does not run).
    fn sender_up(&self, id: NodeId, incarnation: Option<u64>) -> bool {
        match incarnation {
            None => true,
            Some(incarnation) => self
                .nodes
                .get(&id)
                .is_some_and(|slot| slot.incarnation == incarnation && slot.raft.is_some()),
        }
    }

    /// Why a message `from -> to` cannot pass now, if it cannot.
    fn blocked(&self, from: NodeId, to: NodeId) -> Option<DropReason> {
        let running = self.nodes.get(&to).is_some_and(|slot| slot.raft.is_some());
        if !running {
            Some(DropReason::Down)
        } else if !self.connected(from, to) {
            Some(DropReason::Partition)
        } else {
            None
        }
    }
}

fn in_runtime() -> Result<(), SimError> {
    tokio::runtime::Handle::try_current()
        .map(drop)
        .map_err(|_| SimError::NoRuntime)
}

/// A fixed stream of draws from a seed and some words.
fn derived_rng(seed: u64, words: &[u64]) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_be_bytes());
    let mut mixed = 0x9e37_79b9_7f4a_7c15_u64;
    for word in words {
        mixed = (mixed ^ word)
            .wrapping_mul(0xbf58_476d_1ce4_e5b9)
            .rotate_left(31);
    }
    key[8..16].copy_from_slice(&mixed.to_be_bytes());
    key[16..24].copy_from_slice(&(words.len() as u64).to_be_bytes());
    ChaCha8Rng::from_seed(key)
}

/// What the network decided for one request, drawn from its link's stream.
struct Fate {
    msg: MsgId,
    lost: bool,
    delay: Duration,
    duplicate: Option<Duration>,
    reply_lost: bool,
}

/// A request on the wire.
#[derive(Clone)]
enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

impl Request {
    fn kind(&self) -> RpcKind {
        match self {
            Request::Append(rpc) => RpcKind::AppendEntries {
                prev: rpc.prev_log_id.map(|id| id.index),
                first: rpc.entries.first().map(|e| e.log_id.index),
                entries: rpc.entries.len(),
            },
            Request::Vote(_) => RpcKind::Vote,
            Request::Snapshot(_) => RpcKind::InstallSnapshot,
        }
    }
}

/// The target's answer.
enum Reply {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
}

impl Reply {
    /// Whether the target's Raft had stopped (a crash racing the delivery).
    fn target_stopped(&self) -> bool {
        matches!(
            self,
            Reply::Append(Err(RaftError::Fatal(_)))
                | Reply::Vote(Err(RaftError::Fatal(_)))
                | Reply::Snapshot(Err(RaftError::Fatal(_)))
        )
    }
}

async fn deliver(raft: Raft, request: Request) -> Reply {
    match request {
        Request::Append(rpc) => Reply::Append(raft.append_entries(rpc).await),
        Request::Vote(rpc) => Reply::Vote(raft.vote(rpc).await),
        Request::Snapshot(rpc) => Reply::Snapshot(raft.install_snapshot(rpc).await),
    }
}

/// Why the network gave no reply.
struct Refusal {
    msg: MsgId,
    reason: DropReason,
}

impl Refusal {
    /// A lost message looks like a network error (a timeout); a partition or a crashed target
    /// is unreachable, which makes openraft back off.
    fn into_rpc<E: std::error::Error>(self) -> RPCError<NodeId, BasicNode, E> {
        let err = SimError::Dropped {
            msg: self.msg,
            reason: self.reason,
        };
        match self.reason {
            DropReason::Loss => RPCError::Network(NetworkError::new(&err)),
            DropReason::Partition | DropReason::Down | DropReason::SenderDown => {
                RPCError::Unreachable(Unreachable::new(&err))
            }
        }
    }
}

/// The simulated network of one cluster: every node, the faults in force, the trace. Cheap to
/// clone (a shared handle). See the [module documentation](self).
#[derive(Clone)]
pub struct Router {
    inner: Arc<Mutex<Inner>>,
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner.lock();
        let nodes: BTreeMap<NodeId, bool> = inner
            .nodes
            .iter()
            .map(|(id, slot)| (*id, slot.raft.is_some()))
            .collect();
        f.debug_struct("Router")
            .field("seed", &inner.seed)
            .field("faults", &inner.faults)
            .field("groups", &inner.groups)
            .field("running", &nodes)
            .field("events", &inner.trace.len())
            .finish()
    }
}

impl Router {
    /// A router with no nodes and no faults. Every node gets `config`, except its election
    /// timeout, drawn from `seed` per node and restart within
    /// `config.election_timeout_min..config.election_timeout_max`.
    ///
    /// Call it inside the tokio runtime the cluster runs in (its clock starts the trace).
    ///
    /// # Errors
    ///
    /// [`SimError::Config`] if openraft rejects `config`.
    pub fn new(seed: u64, config: Config) -> Result<Self, SimError> {
        let config = config.validate().map_err(|e| SimError::Config {
            detail: e.to_string(),
        })?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                seed,
                start: tokio::time::Instant::now(),
                config,
                faults: Faults::none(),
                groups: None,
                nodes: BTreeMap::new(),
                links: BTreeMap::new(),
                trace: Vec::new(),
                leaders: BTreeMap::new(),
                failures: Vec::new(),
            })),
        })
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.inner.lock().seed
    }

    /// Adds node `id` over `storage` and starts it.
    ///
    /// # Errors
    ///
    /// [`SimError::NoRuntime`] outside a tokio runtime; [`SimError::DuplicateNode`]; storage
    /// and openraft failures as [`Router::restart`].
    pub async fn add_node(&self, id: NodeId, storage: NodeStorage) -> Result<Raft, SimError> {
        in_runtime()?;
        {
            let mut inner = self.inner.lock();
            if inner.nodes.contains_key(&id) {
                return Err(SimError::DuplicateNode(id));
            }
            inner.nodes.insert(
                id,
                Slot {
                    storage: Some(storage),
                    raft: None,
                    backend: None,
                    incarnation: 0,
                },
            );
            inner.record(EventKind::Started(id));
        }
        self.start(id).await
    }

    /// Adds node `id`, started outside the router over a state machine of the caller's (e.g.
    /// a [`crate::ReplicatedLedger`] over the ledger state machine), built with
    /// [`SimNetwork::new`]`(router, id)`: the router carries RPCs to and from it, partitions,
    /// isolates and crashes it (shuts its Raft down), and watches its metrics, like any node.
    /// It cannot be restarted by the router ([`SimError::Attached`]): its owner restarts it
    /// and attaches the new incarnation under the same id, once the router has crashed the
    /// old one ([`Router::crash`]). `backend` is its Raft storage, returned by
    /// [`Router::backend`].
    ///
    /// Its requests are never fenced off as a crashed incarnation's (its network has no
    /// incarnation); after [`Router::crash`], requests to it are [`Unreachable`].
    ///
    /// # Errors
    ///
    /// [`SimError::NoRuntime`] outside a tokio runtime; [`SimError::DuplicateNode`] if a node
    /// with this id is running, or was started by the router.
    pub fn attach(
        &self,
        id: NodeId,
        raft: Raft,
        backend: Arc<dyn Backend>,
    ) -> Result<(), SimError> {
        in_runtime()?;
        let incarnation = {
            let mut inner = self.inner.lock();
            match inner.nodes.get_mut(&id) {
                // A new incarnation of an attached node the router crashed.
                Some(slot) if slot.storage.is_none() && slot.raft.is_none() => {
                    slot.raft = Some(raft.clone());
                    slot.backend = Some(backend);
                    slot.incarnation += 1;
                    let incarnation = slot.incarnation;
                    inner.record(EventKind::Restarted(id));
                    incarnation
                }
                Some(_) => return Err(SimError::DuplicateNode(id)),
                None => {
                    inner.nodes.insert(
                        id,
                        Slot {
                            storage: None,
                            raft: Some(raft.clone()),
                            backend: Some(backend),
                            incarnation: 0,
                        },
                    );
                    inner.record(EventKind::Started(id));
                    0
                }
            }
        };
        self.watch_metrics(id, incarnation, raft);
        Ok(())
    }

    /// The ids of every node added, running or not.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.inner.lock().nodes.keys().copied().collect()
    }

    /// Node `id`'s Raft, if it is running.
    pub fn raft(&self, id: NodeId) -> Option<Raft> {
        self.inner
            .lock()
            .nodes
            .get(&id)
            .and_then(|slot| slot.raft.clone())
    }

    /// Whether node `id` is running.
    pub fn is_running(&self, id: NodeId) -> bool {
        self.raft(id).is_some()
    }

    /// Sets the message faults.
    pub fn set_faults(&self, faults: Faults) {
        let mut inner = self.inner.lock();
        inner.faults = faults;
        inner.record(EventKind::FaultsSet(faults));
    }

    /// Splits the cluster into `groups`; a node named in no group is alone in a group of its
    /// own, and a node named twice belongs to the last group naming it.
    pub fn partition(&self, groups: &[Vec<NodeId>]) {
        let mut inner = self.inner.lock();
        let mut map = BTreeMap::new();
        for (index, group) in groups.iter().enumerate() {
            for node in group {
                map.insert(*node, index);
            }
        }
        let mut next = groups.len();
        let ids: Vec<NodeId> = inner.nodes.keys().copied().collect();
        for id in ids {
            map.entry(id).or_insert_with(|| {
                next += 1;
                next
            });
        }
        let mut listed: BTreeMap<usize, BTreeSet<NodeId>> = BTreeMap::new();
        for (node, group) in &map {
            listed.entry(*group).or_default().insert(*node);
        }
        inner.groups = Some(map);
        inner.record(EventKind::Partitioned(listed.into_values().collect()));
    }

    /// Cuts node `id` off from every other node.
    pub fn isolate(&self, id: NodeId) {
        let others: Vec<NodeId> = self.node_ids().into_iter().filter(|n| *n != id).collect();
        self.partition(&[vec![id], others]);
    }

    /// Heals every partition.
    pub fn heal(&self) {
        let mut inner = self.inner.lock();
        inner.groups = None;
        inner.record(EventKind::Healed);
    }

    /// Records a note in the trace (a test's writes and checks).
    pub fn note(&self, note: impl Into<String>) {
        self.inner.lock().record(EventKind::Note(note.into()));
    }

    /// Crashes node `id`: shuts its Raft down and keeps its storage (a RocksDB database is
    /// closed once the Raft's tasks let go of it).
    ///
    /// # Errors
    ///
    /// [`SimError::NoRuntime`] outside a tokio runtime; [`SimError::UnknownNode`],
    /// [`SimError::NodeDown`] if it is not running,
    /// [`SimError::Shutdown`] if its Raft task had failed.
    pub async fn crash(&self, id: NodeId) -> Result<(), SimError> {
        in_runtime()?;
        let raft = {
            let mut inner = self.inner.lock();
            let slot = inner.nodes.get_mut(&id).ok_or(SimError::UnknownNode(id))?;
            let raft = slot.raft.take().ok_or(SimError::NodeDown(id))?;
            slot.backend = None;
            inner.record(EventKind::Crashed(id));
            raft
        };
        raft.shutdown().await.map_err(|e| SimError::Shutdown {
            node: id,
            detail: e.to_string(),
        })
    }

    /// Restarts crashed node `id` over its kept storage.
    ///
    /// # Errors
    ///
    /// [`SimError::NoRuntime`] outside a tokio runtime; [`SimError::UnknownNode`],
    /// [`SimError::NodeRunning`]; [`SimError::Storage`] if the
    /// storage cannot be reopened (a RocksDB database still held by the crashed incarnation's
    /// tasks is retried for up to one simulated second); [`SimError::Raft`] if openraft refuses
    /// to start over it.
    pub async fn restart(&self, id: NodeId) -> Result<Raft, SimError> {
        in_runtime()?;
        {
            let mut inner = self.inner.lock();
            let slot = inner.nodes.get_mut(&id).ok_or(SimError::UnknownNode(id))?;
            if slot.raft.is_some() {
                return Err(SimError::NodeRunning(id));
            }
            if slot.storage.is_none() {
                return Err(SimError::Attached(id));
            }
            slot.incarnation += 1;
            inner.record(EventKind::Restarted(id));
        }
        self.start(id).await
    }

    async fn start(&self, id: NodeId) -> Result<Raft, SimError> {
        let (storage, config, incarnation) = {
            let inner = self.inner.lock();
            let slot = inner.nodes.get(&id).ok_or(SimError::UnknownNode(id))?;
            let mut rng = derived_rng(inner.seed, &[1, id, slot.incarnation]);
            let mut config = inner.config.clone();
            let lo = config.election_timeout_min;
            let hi = config.election_timeout_max.max(lo + 1);
            config.election_timeout_min = rng.gen_range(lo..hi);
            config.election_timeout_max = config.election_timeout_min + 1;
            let storage = slot.storage.clone().ok_or(SimError::Attached(id))?;
            (storage, config, slot.incarnation)
        };
        let mut attempts = 0;
        let backend = loop {
            match storage.open() {
                Ok(backend) => break backend,
                // The crashed incarnation's tasks may still hold the database for a moment.
                Err(_) if attempts < 100 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(source) => return Err(SimError::Storage { node: id, source }),
            }
        };
        let (log, state_machine) = crate::open(backend.clone())
            .map_err(|source| SimError::Storage { node: id, source })?;
        let network = SimNetwork {
            router: self.clone(),
            from: id,
            incarnation: Some(incarnation),
        };
        let raft = Raft::new(id, Arc::new(config), network, log, state_machine)
            .await
            .map_err(|source| SimError::Raft {
                node: id,
                source: Box::new(source),
            })?;
        {
            let mut inner = self.inner.lock();
            if let Some(slot) = inner.nodes.get_mut(&id) {
                slot.raft = Some(raft.clone());
                slot.backend = Some(backend);
            }
        }
        self.watch_metrics(id, incarnation, raft.clone());
        Ok(raft)
    }

    /// Records every (term, node) a node reports itself leader of, and a stop the router did
    /// not cause, until its Raft stops.
    fn watch_metrics(&self, id: NodeId, incarnation: u64, raft: Raft) {
        let router = self.clone();
        let mut metrics = raft.metrics();
        drop(raft);
        tokio::spawn(async move {
            loop {
                let (leader_term, failure) = {
                    let m = metrics.borrow_and_update();
                    (
                        (m.state == ServerState::Leader).then_some(m.current_term),
                        m.running_state.as_ref().err().map(|e| e.to_string()),
                    )
                };
                {
                    let mut inner = router.inner.lock();
                    // Whether this incarnation is the one running (not crashed by the router).
                    let current = inner
                        .nodes
                        .get(&id)
                        .is_some_and(|slot| slot.incarnation == incarnation && slot.raft.is_some());
                    if let (true, Some(term)) = (current, leader_term) {
                        inner.leader_seen(term, id);
                    }
                    if let (true, Some(error)) = (current, failure) {
                        inner.failures.push((id, error.clone()));
                        inner.record(EventKind::Failed { node: id, error });
                        break;
                    }
                }
                if metrics.changed().await.is_err() {
                    let mut inner = router.inner.lock();
                    let current = inner
                        .nodes
                        .get(&id)
                        .is_some_and(|slot| slot.incarnation == incarnation && slot.raft.is_some());
                    if current {
                        let error = "raft core stopped (panicked?)".to_string();
                        inner.failures.push((id, error.clone()));
                        inner.record(EventKind::Failed { node: id, error });
                    }
                    break;
                }
            }
        });
    }

    /// Every running node whose Raft stopped without the router crashing it, with openraft's
    /// error: a storage failure, or a panic in openraft (an invariant it checks failed).
    pub fn failures(&self) -> Vec<(NodeId, String)> {
        self.inner.lock().failures.clone()
    }

    /// Every term in which some node was seen leading, with the nodes that were. Raft (with
    /// `single-term-leader`) allows one per term. Seen in two places: every `append_entries`
    /// request sent (only a leader sends one, under its committed vote, which names it and its
    /// term), and each node's metrics reporting it leader (sampled: a leadership shorter than
    /// one metrics update that sent nothing may be missed).
    pub fn leaders_by_term(&self) -> BTreeMap<u64, BTreeSet<NodeId>> {
        self.inner.lock().leaders.clone()
    }

    /// Node `id`'s storage backend: the running incarnation's, or a crashed node's kept
    /// backend (memory, shared); none for a crashed RocksDB node.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownNode`]; [`SimError::NodeDown`] for a crashed RocksDB node.
    pub fn backend(&self, id: NodeId) -> Result<Arc<dyn Backend>, SimError> {
        let inner = self.inner.lock();
        let slot = inner.nodes.get(&id).ok_or(SimError::UnknownNode(id))?;
        if let Some(backend) = &slot.backend {
            return Ok(backend.clone());
        }
        match &slot.storage {
            Some(NodeStorage::Memory(backend)) => Ok(backend.clone()),
            Some(NodeStorage::Shared(backend)) => Ok(backend.clone()),
            Some(NodeStorage::Rocks(_)) | None => Err(SimError::NodeDown(id)),
        }
    }

    /// Node `id`'s applied state as stored: its last applied log id and every applied payload
    /// by log index.
    ///
    /// # Errors
    ///
    /// As [`Router::backend`]; [`SimError::Storage`] if the state cannot be read.
    pub fn applied(&self, id: NodeId) -> Result<AppliedState, SimError> {
        let backend = self.backend(id)?;
        let storage = |source| SimError::Storage { node: id, source };
        let machine = StateMachine::open(backend).map_err(storage)?;
        Ok(AppliedState {
            last_applied: machine.last_applied(),
            payloads: machine.payloads().map_err(storage)?,
        })
    }

    /// A copy of the trace so far.
    pub fn trace(&self) -> Trace {
        let inner = self.inner.lock();
        Trace {
            seed: inner.seed,
            events: inner.trace.clone(),
        }
    }

    /// Shuts every running node down (storage kept, as a crash).
    ///
    /// # Errors
    ///
    /// The first [`SimError::Shutdown`]; every node is shut down regardless.
    pub async fn shutdown(&self) -> Result<(), SimError> {
        let mut first = Ok(());
        for id in self.node_ids() {
            if self.is_running(id) {
                let result = self.crash(id).await;
                if first.is_ok() {
                    first = result;
                }
            }
        }
        first
    }

    /// Draws request `msg`'s fate and records it; `Err` if it is not sent at all.
    fn send(
        &self,
        from: (NodeId, Option<u64>),
        to: NodeId,
        request: &Request,
    ) -> Result<Fate, Refusal> {
        let (from, incarnation) = from;
        let mut inner = self.inner.lock();
        let rpc = request.kind();
        if let Request::Append(append) = request {
            // Only a leader sends append_entries, under its committed vote (a crashed
            // incarnation's too: it led that term).
            if append.vote.is_committed() {
                if let Some(leader) = append.vote.leader_id().voted_for() {
                    inner.leader_seen(append.vote.leader_id().get_term(), leader);
                }
            }
        }
        let seed = inner.seed;
        let faults = inner.faults;
        let link = inner.links.entry((from, to)).or_insert_with(|| Link {
            rng: derived_rng(seed, &[2, from, to]),
            next_seq: 0,
        });
        let msg = MsgId {
            from,
            to,
            seq: link.next_seq,
        };
        link.next_seq += 1;
        // A fixed number of draws per request, whatever the faults, so the n-th request on
        // a link always meets the same draws.
        let lost = faults.loss.hit(link.rng.gen_range(0..1000));
        let delay = faults.draw_delay(&mut link.rng);
        let duplicated = faults.duplicate.hit(link.rng.gen_range(0..1000));
        let copy_delay = delay + faults.draw_delay(&mut link.rng) + Duration::from_millis(1);
        let reply_lost = faults.loss.hit(link.rng.gen_range(0..1000));
        inner.record(EventKind::Sent { msg, rpc });
        let blocked = if inner.sender_up(from, incarnation) {
            inner.blocked(from, to)
        } else {
            Some(DropReason::SenderDown)
        };
        if let Some(reason) = blocked {
            inner.record(EventKind::Dropped { msg, reason });
            return Err(Refusal { msg, reason });
        }
        if !delay.is_zero() {
            inner.record(EventKind::Delayed { msg, by: delay });
        }
        Ok(Fate {
            msg,
            lost,
            delay,
            duplicate: duplicated.then_some(copy_delay),
            reply_lost,
        })
    }

    /// The target's Raft if the message may arrive now; records a drop otherwise.
    fn arrive(&self, msg: MsgId, copy: bool) -> Result<Raft, Refusal> {
        let mut inner = self.inner.lock();
        if let Some(reason) = inner.blocked(msg.from, msg.to) {
            inner.record(EventKind::Dropped { msg, reason });
            return Err(Refusal { msg, reason });
        }
        let raft = inner
            .nodes
            .get(&msg.to)
            .and_then(|slot| slot.raft.clone())
            .ok_or(Refusal {
                msg,
                reason: DropReason::Down,
            })?;
        inner.record(EventKind::Delivered { msg, copy });
        Ok(raft)
    }

    /// Carries `request` from `from` to `to` under the faults in force.
    async fn transmit(
        &self,
        (from, incarnation): (NodeId, Option<u64>),
        to: NodeId,
        request: Request,
    ) -> Result<Reply, Refusal> {
        let fate = self.send((from, incarnation), to, &request)?;
        let msg = fate.msg;
        if let Some(copy_after) = fate.duplicate {
            self.inner
                .lock()
                .record(EventKind::Duplicated { msg, copy_after });
            let router = self.clone();
            let copy = request.clone();
            tokio::spawn(async move {
                tokio::time::sleep(copy_after).await;
                if let Ok(raft) = router.arrive(msg, true) {
                    // The copy's reply goes nowhere.
                    let _ = deliver(raft, copy).await;
                }
            });
        }
        // The flight runs in a task of its own: a request that was sent is delivered even if
        // the caller stops waiting (openraft times RPCs out), as on a real network.
        let router = self.clone();
        let flight = tokio::spawn(async move { router.fly(fate, incarnation, request).await });
        flight.await.unwrap_or(Err(Refusal {
            msg,
            reason: DropReason::Loss,
        }))
    }

    /// A sent request's flight: its delay, loss, delivery and the way back.
    async fn fly(
        &self,
        fate: Fate,
        incarnation: Option<u64>,
        request: Request,
    ) -> Result<Reply, Refusal> {
        let msg = fate.msg;
        // Undelayed requests go at once: a zero-length tokio sleep still waits for the
        // timer's next tick (a millisecond) in real time.
        if !fate.delay.is_zero() {
            tokio::time::sleep(fate.delay).await;
        }
        if fate.lost {
            self.inner.lock().record(EventKind::Dropped {
                msg,
                reason: DropReason::Loss,
            });
            return Err(Refusal {
                msg,
                reason: DropReason::Loss,
            });
        }
        let raft = self.arrive(msg, false)?;
        let reply = deliver(raft, request).await;
        let mut inner = self.inner.lock();
        let reason = if reply.target_stopped() {
            Some(DropReason::Down)
        } else if !inner.sender_up(msg.from, incarnation) {
            Some(DropReason::SenderDown)
        } else if !inner.connected(msg.from, msg.to) {
            Some(DropReason::Partition)
        } else if fate.reply_lost {
            Some(DropReason::Loss)
        } else {
            None
        };
        match reason {
            None => Ok(reply),
            Some(reason) => {
                inner.record(EventKind::ReplyLost { msg, reason });
                Err(Refusal { msg, reason })
            }
        }
    }
}

/// A node's applied state as stored (see [`Router::applied`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppliedState {
    /// The last applied log id.
    pub last_applied: Option<crate::types::LogId>,
    /// Every applied payload, by log index, in index order.
    pub payloads: Vec<(u64, Vec<u8>)>,
}

/// The [`RaftNetworkFactory`] of one node: connections from it through its [`Router`].
#[derive(Clone, Debug)]
pub struct SimNetwork {
    router: Router,
    from: NodeId,
    /// The sender's incarnation, for nodes the router runs: requests from an incarnation that
    /// is no longer running are dropped.
    incarnation: Option<u64>,
}

impl SimNetwork {
    /// Node `from`'s network through `router`. [`Router::add_node`] makes it; build one only
    /// to send as a node the router does not run (e.g. a test's client): its requests are
    /// never fenced off as a crashed sender's.
    pub fn new(router: Router, from: NodeId) -> Self {
        Self {
            router,
            from,
            incarnation: None,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for SimNetwork {
    type Network = SimConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> SimConnection {
        SimConnection {
            router: self.router.clone(),
            from: self.from,
            incarnation: self.incarnation,
            to: target,
        }
    }
}

/// One node's connection to another through the [`Router`] (its [`RaftNetwork`]).
///
/// # Errors
///
/// Each RPC fails with [`RPCError::Unreachable`] when the target is crashed or in another
/// partition (when sent, on arrival, or when its reply would cross back) or the sender's
/// incarnation is crashed, with
/// [`RPCError::Network`] when the request or its reply is lost, and with
/// [`RPCError::RemoteError`] when the target's Raft answers with an error. The source of the
/// first two is a [`SimError::Dropped`].
#[derive(Clone, Debug)]
pub struct SimConnection {
    router: Router,
    from: NodeId,
    incarnation: Option<u64>,
    to: NodeId,
}

impl SimConnection {
    fn mismatch<E: std::error::Error>(&self) -> RPCError<NodeId, BasicNode, E> {
        // Unreachable by construction: each request kind gets its own reply kind.
        let err = SimError::Dropped {
            msg: MsgId {
                from: self.from,
                to: self.to,
                seq: u64::MAX,
            },
            reason: DropReason::Loss,
        };
        RPCError::Network(NetworkError::new(&err))
    }
}

impl RaftNetwork<TypeConfig> for SimConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .router
            .transmit((self.from, self.incarnation), self.to, Request::Append(rpc))
            .await
        {
            Ok(Reply::Append(Ok(resp))) => Ok(resp),
            Ok(Reply::Append(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.to, e))),
            Ok(_) => Err(self.mismatch()),
            Err(refusal) => Err(refusal.into_rpc()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .router
            .transmit(
                (self.from, self.incarnation),
                self.to,
                Request::Snapshot(rpc),
            )
            .await
        {
            Ok(Reply::Snapshot(Ok(resp))) => Ok(resp),
            Ok(Reply::Snapshot(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.to, e))),
            Ok(_) => Err(self.mismatch()),
            Err(refusal) => Err(refusal.into_rpc()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .router
            .transmit((self.from, self.incarnation), self.to, Request::Vote(rpc))
            .await
        {
            Ok(Reply::Vote(Ok(resp))) => Ok(resp),
            Ok(Reply::Vote(Err(e))) => Err(RPCError::RemoteError(RemoteError::new(self.to, e))),
            Ok(_) => Err(self.mismatch()),
            Err(refusal) => Err(refusal.into_rpc()),
        }
    }
}
