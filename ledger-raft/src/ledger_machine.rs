//! [`LedgerStateMachine`]: the Raft state machine whose applied state is the node's
//! [`ledger_core::Ledger`], held in a [`LedgerSlot`] that a role change swaps.
//!
//! # Format
//!
//! The application data of a Raft entry is a [`Payload`] whose bytes are one
//! [`ledger_core::ReplicatedGroup`] encoded as a stored record of this crate (version byte `1`,
//! then the group's serde form in bincode 2's standard configuration): see
//! [`encode_group`] and [`decode_group`]. `TypeConfig`'s `D` stays [`Payload`], so that the
//! log store, the simulated network and the placeholder [`crate::StateMachine`] (and their
//! tests) are unchanged; the group's encoding is this module's concern alone.
//!
//! The Raft bookkeeping is stored as the placeholder's: [`crate::Keyspace::Machine`] holds
//! `"applied"` (an encoded `Option<LogId>`) and `"membership"` (a `StoredMembership`), and
//! `"ledger_snapshot"` records the current snapshot (see Snapshots, below, for it and for the
//! snapshot data's format). Nothing is written to [`crate::Keyspace::Table`]: the applied state is
//! the ledger's own store.
//!
//! # Applying
//!
//! Entries are applied in log order. A blank entry changes nothing; a membership entry
//! becomes the membership; a group goes to the ledger the slot holds at that moment, through
//! [`ledger_core::Ledger::apply_group`] (a backup checks and stores it; a primary stores the
//! group it proposed next). A group the ledger refuses, or a ledger failure, is a fatal
//! storage error ([`RaftStoreError::Ledger`]): the node's ledger cannot follow the log past
//! it, and openraft stops the node.
//!
//! **Runs without a signature are held here, not in the ledger.** A primary hands a group to
//! consensus before signing it when a reader waits for it or 4,096 transactions are unsigned.
//! The machine keeps such groups (a *pending run*, consecutive seqnos) in memory and hands
//! the whole run to the ledger, in order and under one read lock of the slot, together with
//! the signed group that covers it. So no ledger, primary or backup, ever stores or holds an
//! unsigned run: a primary that stored one would commit it with its clean close and could
//! then not follow a later primary as a backup, and a backup holding one would refuse the
//! later primary's first group. When a group begins at the pending run's first seqno, a later
//! primary has begun its view there (it reopened over a store ending at the last signature):
//! the run will never be signed, and is discarded; its transactions are Invalid once the
//! later view's groups are applied. A reader on a primary that waits for an entry to be
//! written (say `Ledger::latest`) therefore waits for the signature that covers it (the
//! primary signs every `sig_interval`).
//!
//! **A stale primary is demoted before it is handed a later leader's group.** A primary opens
//! only once its node has applied an entry of its own term, so every group it is handed after
//! that is in an entry of its term. A group in an entry of another term comes from a later
//! leader: the role task has not yet reopened the ledger as a backup, and the machine does it
//! itself ([`LedgerSlot::demote`]) before applying the group. Likewise a primary that cannot
//! apply a committed group at all (poisoned because its proposals stopped when its node lost
//! the lead, or handed a group it did not propose) is reopened as a backup, which checks the
//! group itself and stores it if it is sound; only a backup's refusal is fatal.
//!
//! **Re-applying a group the ledger already stored is harmless**: a group whose last seqno is
//! at or below the ledger's newest stored signature is skipped. The ledger's store ends at a
//! signature (runs reach it whole with their signature; recovery cuts a store back to its
//! last commit group), and runs end at signatures, so a group is either wholly stored or
//! wholly not.
//!
//! # Durability rule
//!
//! What the machine records as applied (`"applied"`, with the membership) must never claim
//! more than the ledger's store keeps across a machine crash: openraft re-applies the log only
//! after the recorded point, so a group the store lost below it would be lost for good. The
//! store of a replicated node is written without a sync per group (`Durability::Buffered`:
//! Raft's log, synced before every acknowledgement, is what makes a commit durable), so:
//!
//! * A point may be recorded only where no run is pending: after a signed group, or after a
//!   blank or membership entry (or a skipped group) when nothing is pending.
//! * It is recorded by [`LedgerStateMachine::persist`], which first syncs the ledger's store
//!   ([`ledger_core::Ledger::sync`]), then writes the point. The machine persists at most
//!   every [`PERSIST_INTERVAL`] while it applies, before it builds a snapshot, and after it
//!   installs one (whose groups the leader's log may no longer hold).
//! * The in-memory last applied log id (what openraft is told) runs ahead of the recorded one.
//!   After a restart openraft re-applies the committed entries above the recorded point from
//!   the Raft log: a pending run is rebuilt, groups the ledger still has are skipped (see
//!   above), and groups a crash took from it are checked and stored again.
//!
//! The write of the point itself is unsynced: the ledger is already durable through it, and
//! the backend's batches reach stable storage in order (the next log append syncs it); a lost
//! write only makes openraft re-apply more, which is harmless. `tests/ledger_machine.rs` cuts
//! the power under a backup (a store that keeps only what was synced) and checks that nothing
//! the machine recorded is lost and the rest comes back from the log.
//!
//! # Snapshots
//!
//! A ledger snapshot is the node's ledger through a committed signature transaction, with the
//! Raft bookkeeping of the point it was taken at, so that a follower the leader's log no
//! longer reaches (purged past it) catches up from it instead of from the log.
//!
//! **Where.** A snapshot is taken at the persisted applied log id (see the Durability rule):
//! the last point whose application left no unsigned run held here. There the ledger has
//! stored exactly the groups of the entries up to that log id, ending at its newest durable
//! signature, which is where the snapshot's ledger part ends; every group in a later entry
//! begins after it. [`LedgerStateMachine::get_snapshot_builder`] captures the point (log id,
//! membership, the ledger's newest durable signature); the builder, which openraft runs in a
//! task of its own while entries keep being applied, then reads the ledger through that
//! signature ([`ledger_core::Ledger::replicated_groups`]). A ledger's history through a
//! durable signature never changes, so reading it later reads the same bytes.
//!
//! **The current snapshot** is recorded in [`Keyspace::Machine`] under `"ledger_snapshot"`:
//! its metadata, the signature it ends at and, for an installed one, the length of its data
//! (a stored record, as the bookkeeping), written synced by a build or an install, and only ever replaced by a later
//! one (a build that finishes after a later install leaves the install's). The data is not
//! kept: the ledger is its source. [`LedgerStateMachine::get_current_snapshot`] hands out the
//! metadata with data that is produced from the ledger only as it is read (a
//! [`crate::SnapshotData`] over a stream of the ledger's groups, a page at a time), so
//! openraft's call at every start reads nothing, and sending a snapshot to a follower reads
//! the ledger once, chunk by chunk, after measuring it (below).
//!
//! **Building** reads nothing of the ledger: it records the point (metadata and signature).
//! The data's length, which openraft asks first when it sends a snapshot (a seek from the
//! end), is measured then by producing the data once, one page in memory at a time, and
//! kept in memory for that snapshot id, so later sends of the same snapshot do not measure
//! again (after a restart the first send does). An installed snapshot's length is the
//! received data's, and is recorded.
//!
//! **Installing** ([`LedgerStateMachine::install_ledger_snapshot`], behind openraft's
//! `install_snapshot`):
//!
//! 1. The data is parsed and checked as a whole before anything changes: its format, its
//!    header against the snapshot's metadata, and its groups (following on from seqno 1,
//!    each ending at a signature transaction, the last at the header's signature).
//!    [`RaftStoreError::InvalidSnapshot`] otherwise.
//! 2. A snapshot at or before the last applied log id is already reflected here (the state
//!    at a later log id includes it): nothing changes. openraft never installs one (it
//!    installs only past its committed log id), so this only makes a repeated or late
//!    install harmless.
//! 3. The node's ledger must be a backup: a primary (stale, since this node is a follower) is
//!    demoted first ([`LedgerSlot::demote`]).
//! 4. Each group past what the ledger already stores goes to
//!    [`ledger_core::Ledger::apply_group`], under one read lock of the slot: the backup checks
//!    it exactly as a group from the log (entries re-encoded with the evidence derived here,
//!    the root this node computes, signed by a node the service certificate endorses), so a
//!    forged or damaged snapshot is refused ([`RaftStoreError::SnapshotLedger`] carrying the
//!    ledger's [`ledger_core::Error::GroupRejected`]). Groups the ledger already stores are
//!    skipped: a ledger that stores more than the snapshot covers keeps it.
//! 5. The held run, if any, is dropped (its entries are at or before the snapshot's log id, so
//!    the snapshot covers them), and the last applied log id, the membership, their persisted
//!    copy and the current snapshot record become the snapshot's, in one synced batch.
//!
//! A refused install leaves the Raft bookkeeping as it was. The groups before the refused one
//! that the ledger checked and stored stay: each passed every check and is signed by an
//! endorsed node, and re-applying them later (from the log or another snapshot) skips them;
//! the held run is dropped if any were stored (they may cover it) and kept otherwise. When
//! the first group past the ledger's store is refused, the node is exactly as it was. To
//! openraft a failed install is a fatal storage error: the node stops, and a restart resumes
//! from the persisted point. A role change waits for an install, which holds the slot's read
//! lock throughout.
//!
//! **Format** of a snapshot's data: version byte `1`, then records, each a `u64` big-endian
//! length followed by that many bytes of a stored record of this crate (version byte `1`,
//! then the serde form in bincode 2's standard configuration, as a Raft entry's payload):
//!
//! 1. the header: `last_log_id` (`Option<LogId>`), `membership` (`StoredMembership`), both
//!    equal to the snapshot metadata's, and `signature` (`Option<(u64, u64)>`, the view and
//!    seqno of the signature transaction the ledger part ends at; `None` only for a ledger
//!    without a durable signature, and then no group follows);
//! 2. one record per group, a [`ledger_core::ReplicatedGroup`] in seqno order: the first
//!    begins at seqno 1, each begins right after the one before and ends at a signature
//!    transaction (and holds no other), the last ends at `signature`.
//!
//! Nothing follows the last group.
//!
//! **Memory.** No step holds a snapshot whole. Building and sending produce the data from the
//! ledger a page ([`SNAPSHOT_PAGE_BYTES`] of entries) at a time, each page under a
//! short-lived handle on the slot's ledger, so that a long read never keeps a role change
//! waiting; a received snapshot is written to an anonymous temporary file in the ledger's
//! directory ([`crate::SnapshotData::temp_file_in`]; the system's temporary directory if that
//! fails); installing reads that file twice, record by record
//! (first to check all of it, then to apply its groups), and a record's length is checked
//! against the bytes left before anything is allocated for it. What remains is time: sending
//! a snapshot reads the ledger through its signature once (twice for the first send of a
//! built snapshot, which measures it first).
//!
//! # The slot
//!
//! [`LedgerSlot`] holds the node's current ledger. Applying reads it under its read lock for
//! the whole `apply_group` call, so a swap ([`LedgerSlot::replace`], under the write lock)
//! never closes a ledger in the middle of an apply, and every group goes to the instance that
//! is current when it is applied. Readers take a clone of the `Arc` and let go of the lock; a
//! swap waits (boundedly) for those clones to be dropped, because a ledger can only be closed,
//! and its store reopened, once nothing else holds it.

use std::fmt;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Ledger, LedgerConfig, ReplicatedGroup, TxId};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorVerb, RaftSnapshotBuilder};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Keyspace, WriteOp};
use crate::codec::{decode, encode};
use crate::error::RaftStoreError;
use crate::log_store::{blocking, PurgeFence};
use crate::log_store::{sm_error, snapshot_error};
use crate::snapshot_data::SnapshotData;
use crate::state_machine::{bookkeeping_ops, read_bookkeeping};
use crate::types::{
    Applied, Entry, LogId, Payload, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// How long a demotion waits for readers to let go of the stale primary.
const DEMOTE_WAIT: Duration = Duration::from_secs(10);

/// The longest the machine goes between syncs of the ledger's store while it applies: how
/// far behind the applied point the persisted one may lag (see the
/// [module documentation](self), Durability rule).
pub const PERSIST_INTERVAL: Duration = Duration::from_millis(100);

/// `group` as the bytes of a Raft entry's [`Payload`] (see the [module documentation](self),
/// Format).
///
/// # Errors
///
/// [`RaftStoreError::Encode`] if the encoder fails.
pub fn encode_group(group: &ReplicatedGroup) -> Result<Payload, RaftStoreError> {
    Ok(Payload(encode("replicated group", group)?.into()))
}

/// The group a [`Payload`] made by [`encode_group`] carries.
///
/// # Errors
///
/// [`RaftStoreError::Corruption`] for bytes that are not such a record.
pub fn decode_group(payload: &Payload) -> Result<ReplicatedGroup, RaftStoreError> {
    decode(|| "replicated group".to_string(), &payload.0)
}

/// A ledger's role in the cluster, as the slot holding it records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerRole {
    /// Checks and stores the primary's groups ([`ledger_core::LedgerConfig::backup`]).
    Backup,
    /// Sequences and signs, as the Raft leader of `term`, in view `term + 1`
    /// ([`ledger_core::LedgerConfig::primary`]; see [`crate::replicated`], Roles, for why the
    /// view is the term plus one).
    Primary {
        /// The Raft term it leads.
        term: u64,
    },
}

impl LedgerRole {
    /// The view a primary writes in (`term + 1`).
    pub fn view(&self) -> Option<u64> {
        match self {
            LedgerRole::Backup => None,
            LedgerRole::Primary { term } => Some(term.saturating_add(1)),
        }
    }
}

/// Why [`LedgerSlot::replace`], [`LedgerSlot::demote`] or [`LedgerSlot::take`] did not swap
/// the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    /// The slot's role was no longer the one the caller expected (another swap came first);
    /// nothing was changed.
    #[error("the ledger's role changed to {found:?} meanwhile (expected {expected:?})")]
    Changed {
        /// The role the caller expected (`None`: an empty slot).
        expected: Option<LedgerRole>,
        /// The role found.
        found: Option<LedgerRole>,
    },
    /// Other holders of the current ledger did not let go of it in time; the slot still
    /// holds it.
    #[error("the ledger is still in use after {waited:?}; not closed")]
    Busy {
        /// How long the swap waited.
        waited: Duration,
    },
    /// The new ledger could not be opened; the slot is empty (applies fail with
    /// [`RaftStoreError::LedgerClosed`] until a later replace succeeds).
    #[error("reopening the ledger: {source}")]
    Reopen {
        /// The ledger's error.
        source: ledger_core::Error,
    },
}

/// Opens a node's ledger from a configuration whose role the caller has set (a backup, or a
/// primary of a view). [`LedgerSlot::new`] uses [`Ledger::open`]; another opener decides where
/// the store comes from, say [`Ledger::with_store`] over a fault-injecting store in a test.
/// It must open the same ledger every time: the node's history is in it.
pub type LedgerOpener =
    Arc<dyn Fn(LedgerConfig) -> Result<Ledger, ledger_core::Error> + Send + Sync>;

/// The ledger a slot holds and its role.
struct Held {
    ledger: Arc<Ledger>,
    role: LedgerRole,
}

/// The node's current ledger, swapped when its role changes. See the
/// [module documentation](self), The slot.
pub struct LedgerSlot {
    ledger: RwLock<Option<Held>>,
    /// The node's ledger configuration, without a role: a demotion reopens it as a backup.
    config: LedgerConfig,
    opener: LedgerOpener,
}

impl fmt::Debug for LedgerSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.ledger.read();
        f.debug_struct("LedgerSlot")
            .field("path", &self.config.path())
            .field("role", &held.as_ref().map(|h| h.role))
            .field(
                "last_committed",
                &held.as_ref().map(|h| h.ledger.last_committed()),
            )
            .finish()
    }
}

impl LedgerSlot {
    /// A slot holding `ledger` in `role`; `config` is the node's ledger configuration, which
    /// the slot reopens as a backup when it demotes a stale primary (see
    /// [`LedgerStateMachine`]).
    pub fn new(ledger: Ledger, role: LedgerRole, config: LedgerConfig) -> Arc<Self> {
        Self::with_opener(ledger, role, config, Arc::new(Ledger::open))
    }

    /// As [`LedgerSlot::new`], reopening the ledger with `opener` instead of [`Ledger::open`].
    pub fn with_opener(
        ledger: Ledger,
        role: LedgerRole,
        config: LedgerConfig,
        opener: LedgerOpener,
    ) -> Arc<Self> {
        Arc::new(Self {
            ledger: RwLock::new(Some(Held {
                ledger: Arc::new(ledger),
                role,
            })),
            config,
            opener,
        })
    }

    /// Opens the node's ledger with `config` (the slot's configuration with a role set)
    /// through the slot's opener. Blocks. The slot is not changed: see
    /// [`LedgerSlot::replace`].
    ///
    /// # Errors
    ///
    /// As the opener (by default [`Ledger::open`]).
    pub fn open(&self, config: LedgerConfig) -> Result<Ledger, ledger_core::Error> {
        (self.opener)(config)
    }

    /// The node's ledger configuration (without a role).
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// The current ledger, if the slot holds one. Drop the clone promptly: a role change
    /// waits for every clone before it closes the ledger.
    pub fn current(&self) -> Option<Arc<Ledger>> {
        self.ledger.read().as_ref().map(|h| h.ledger.clone())
    }

    /// The current ledger's role (`None` if the slot is empty).
    pub fn role(&self) -> Option<LedgerRole> {
        self.ledger.read().as_ref().map(|h| h.role)
    }

    /// Runs `f` on the current ledger under the read lock, so that no swap happens during it.
    fn with_current<R>(&self, f: impl FnOnce(&Ledger) -> R) -> Option<R> {
        let guard = self.ledger.read();
        guard.as_ref().map(|h| f(&h.ledger))
    }

    /// If the slot's role is still `expected` (`None`: empty), closes the current ledger and
    /// puts the one `reopen` opens in its place, in `role`, all under the write lock (no
    /// group is applied meanwhile). Blocks: call it off the async runtime (`spawn_blocking`).
    /// A primary is abandoned first ([`Ledger::abandon`]), so that calls blocked on it fail
    /// and let go of it.
    ///
    /// A failure to close cleanly (a poisoned ledger) is logged, not returned: reopening over
    /// the same store is the recovery for it.
    ///
    /// # Errors
    ///
    /// [`SlotError::Changed`] if the role is not `expected` (nothing changed);
    /// [`SlotError::Busy`] if clones of the current ledger are still held after `wait` (the
    /// slot keeps it, abandoned if it was a primary); [`SlotError::Reopen`] if `reopen` fails (the slot is left empty).
    pub fn replace(
        &self,
        expected: Option<LedgerRole>,
        role: LedgerRole,
        wait: Duration,
        reopen: impl FnOnce() -> Result<Ledger, ledger_core::Error>,
    ) -> Result<(), SlotError> {
        let mut guard = self.ledger.write();
        let found = guard.as_ref().map(|h| h.role);
        if found != expected {
            return Err(SlotError::Changed { expected, found });
        }
        if let Some(current) = guard.take() {
            if let LedgerRole::Primary { term } = current.role {
                // A primary being replaced is stale: readers blocked on its unapplied
                // transactions would wait for ever, holding the clones this waits for.
                current.ledger.abandon(&format!(
                    "the primary of term {term} is being reopened as {role:?}"
                ));
            }
            match unwrap_within(current.ledger, wait) {
                Ok(ledger) => close_logged(ledger),
                Err(ledger) => {
                    *guard = Some(Held {
                        ledger,
                        role: current.role,
                    });
                    return Err(SlotError::Busy { waited: wait });
                }
            }
        }
        let ledger = reopen().map_err(|source| SlotError::Reopen { source })?;
        *guard = Some(Held {
            ledger: Arc::new(ledger),
            role,
        });
        Ok(())
    }

    /// If the slot's role is still `expected`, closes the current ledger and reopens it as a
    /// backup. Blocks.
    ///
    /// # Errors
    ///
    /// As [`LedgerSlot::replace`].
    pub fn demote(&self, expected: Option<LedgerRole>, wait: Duration) -> Result<(), SlotError> {
        self.replace(expected, LedgerRole::Backup, wait, || {
            self.open(self.config.clone().backup())
        })
    }

    /// Takes the current ledger out of the slot (for closing it at shutdown); applies fail
    /// with [`RaftStoreError::LedgerClosed`] afterwards. Blocks up to `wait`.
    ///
    /// # Errors
    ///
    /// [`SlotError::Busy`] if clones are still held after `wait` (the slot keeps it).
    pub fn take(&self, wait: Duration) -> Result<Option<Ledger>, SlotError> {
        let mut guard = self.ledger.write();
        let Some(current) = guard.take() else {
            return Ok(None);
        };
        match unwrap_within(current.ledger, wait) {
            Ok(ledger) => Ok(Some(ledger)),
            Err(ledger) => {
                *guard = Some(Held {
                    ledger,
                    role: current.role,
                });
                Err(SlotError::Busy { waited: wait })
            }
        }
    }
}

/// The ledger itself once every other clone is dropped, or the `Arc` back after `wait`.
fn unwrap_within(mut ledger: Arc<Ledger>, wait: Duration) -> Result<Ledger, Arc<Ledger>> {
    let deadline = deadline_after(wait);
    loop {
        match Arc::try_unwrap(ledger) {
            Ok(ledger) => return Ok(ledger),
            Err(shared) if Instant::now() < deadline => {
                ledger = shared;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(shared) => return Err(shared),
        }
    }
}

/// The instant `wait` from now, or about a century from now for a `wait` the clock cannot
/// express (say `Duration::MAX`), instead of overflowing.
pub(crate) fn deadline_after(wait: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(wait)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

fn close_logged(ledger: Ledger) {
    let role = ledger.role();
    if let Err(e) = ledger.close() {
        tracing::warn!(?role, error = %e, "ledger did not close cleanly; reopening recovers it");
    }
}

/// The seqno of the newest signature the ledger has stored (0 before any): every group whose
/// last seqno is at or below it is stored.
fn stored_through(ledger: &Ledger) -> u64 {
    ledger.committed_signature().map_or(0, |tx| tx.seqno())
}

/// The Raft state machine over the node's ledger. See the [module documentation](self).
#[derive(Debug)]
pub struct LedgerStateMachine {
    backend: Arc<dyn Backend>,
    slot: Arc<LedgerSlot>,
    /// The last applied log id (what openraft is told; may run ahead of the persisted one).
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// Groups without a signature committed since the last signed one, not yet handed to the
    /// ledger (then `"applied"` is not advanced).
    run: Option<PendingRun>,
    /// The log id and membership last persisted.
    persisted: (Option<LogId>, StoredMembership),
    /// The ledger's newest durable signature when `persisted` was written (`None`: not known,
    /// as after an open, when the ledger may hold more than the persisted point covers).
    persisted_signature: Option<TxId>,
    /// A newer point than `persisted` with no run held, not yet persisted.
    unpersisted: Option<(Option<LogId>, StoredMembership)>,
    /// When the machine last persisted (or tried to).
    last_persist: Instant,
    /// Held while the current snapshot record is read and replaced (by a builder's task or an
    /// install), so that it only ever moves forward.
    snapshot_record: Arc<Mutex<()>>,
    /// The newest built snapshot's measured data length.
    lengths: Lengths,
    /// The newest log id a recorded snapshot covers.
    fence: PurgeFence,
}

impl LedgerStateMachine {
    /// The state machine over `backend` (its Raft bookkeeping) and the ledger in `slot`,
    /// with the bookkeeping the backend holds.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::Corruption`] for an undecodable record; backend failures.
    pub fn open(backend: Arc<dyn Backend>, slot: Arc<LedgerSlot>) -> Result<Self, RaftStoreError> {
        let (last_applied, membership) = read_bookkeeping(backend.as_ref())?;
        let fence = PurgeFence::new(
            read_snapshot_record(backend.as_ref())?.and_then(|point| point.meta.last_log_id),
        );
        Ok(Self {
            backend,
            slot,
            last_applied,
            membership: membership.clone(),
            run: None,
            persisted: (last_applied, membership),
            persisted_signature: None,
            unpersisted: None,
            last_persist: Instant::now(),
            snapshot_record: Arc::new(Mutex::new(())),
            lengths: Lengths::default(),
            fence,
        })
    }

    /// The fence this machine advances as snapshots are recorded: give it to the node's
    /// [`crate::LogStore::with_purge_fence`], so that the log is never purged past what a
    /// recorded snapshot covers (see [`crate::LogStore`], # Purging).
    pub fn purge_fence(&self) -> PurgeFence {
        self.fence.clone()
    }

    /// The last applied log id (in memory; see the [module documentation](self), Durability
    /// rule).
    pub fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    /// The last applied log id as persisted: where openraft resumes applying after a restart.
    pub fn persisted_applied(&self) -> Option<LogId> {
        self.persisted.0
    }

    /// The slot whose ledger this machine applies to.
    pub fn slot(&self) -> &Arc<LedgerSlot> {
        &self.slot
    }

    /// Records the newest point that may be persisted (no run held there): syncs the ledger's
    /// store, then writes the bookkeeping (see the [module documentation](self), Durability
    /// rule). Nothing to do if there is no new point.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::Ledger`] if the ledger's sync fails; [`RaftStoreError::LedgerClosed`];
    /// backend failures.
    pub fn persist(&mut self) -> Result<(), RaftStoreError> {
        self.last_persist = Instant::now();
        let Some(point) = self.unpersisted.take() else {
            return Ok(());
        };
        let index = point.0.map_or(0, |log_id| log_id.index);
        let signature = self
            .slot
            .with_current(|ledger| ledger.sync().map(|()| ledger.committed_signature()))
            .ok_or(RaftStoreError::LedgerClosed)?
            .map_err(|source| RaftStoreError::Ledger { index, source })?;
        let ops = bookkeeping_ops(&point.0, &point.1)?;
        // Unsynced: the ledger is durable through this point already, and the backend's
        // batches reach stable storage in order (a later log append syncs this one).
        self.backend.write(ops, false)?;
        self.persisted = point;
        self.persisted_signature = signature;
        Ok(())
    }

    /// Applies the group carried by `payload` at `log_id` to the current ledger.
    fn apply_group(&mut self, log_id: LogId, payload: &Payload) -> Result<(), RaftStoreError> {
        let group = decode_group(payload)?;
        let Some(last) = group.last_seqno() else {
            // A primary never proposes an empty group; the ledger would refuse it.
            return Err(RaftStoreError::Ledger {
                index: log_id.index,
                source: ledger_core::Error::GroupRejected {
                    seqno: 0,
                    reason: "a group with entries".into(),
                },
            });
        };
        let first = group.first_seqno().unwrap_or(last);
        let signed = group.signed_at().is_some();
        // A primary opens only once its node has applied an entry of its own term (and so
        // every entry before it), so every group it is handed next is in an entry of its
        // term, proposed by it. A group in an entry of another (later) term is a later
        // leader's: this node's primary is stale (its role task has not reacted yet), and must
        // be a backup to check and store that group.
        let term = log_id.leader_id.term;
        if let Some(role @ LedgerRole::Primary { term: primary_term }) = self.slot.role() {
            if primary_term != term {
                tracing::info!(
                    index = log_id.index,
                    term,
                    primary_term,
                    "a later leader's group reached this node's primary; reopening as a backup"
                );
                match self.slot.demote(Some(role), DEMOTE_WAIT) {
                    // Changed: the role task swapped it meanwhile.
                    Ok(()) | Err(SlotError::Changed { .. }) => {}
                    Err(source) => {
                        return Err(RaftStoreError::Demote {
                            index: log_id.index,
                            source: Box::new(source),
                        })
                    }
                }
            }
        }
        let index = log_id.index;
        let ledger_error = |source| RaftStoreError::Ledger { index, source };
        // A primary that begins a later view restarts at the pending run's first seqno (it
        // reopened over a store ending at the last signature): the run will never be signed,
        // and its transactions become Invalid as the later view is applied.
        if self.run.as_ref().is_some_and(|run| run.first == first) {
            tracing::info!(
                index,
                first,
                "a later view restarts at the pending run; discarded"
            );
            self.run = None;
        }
        if !signed {
            match &mut self.run {
                Some(run) if run.last.checked_add(1) == Some(first) => {
                    run.last = last;
                    run.groups.push(group);
                    return Ok(());
                }
                // Not a continuation: handed to the ledger with the run, which refuses it.
                Some(_) => {}
                None => {
                    let stored = self
                        .slot
                        .with_current(|ledger| last <= stored_through(ledger))
                        .ok_or(RaftStoreError::LedgerClosed)?;
                    if !stored {
                        self.run = Some(PendingRun {
                            first,
                            last,
                            groups: vec![group],
                        });
                    }
                    return Ok(());
                }
            }
        }
        // A signed group (or a group that does not continue the run): the run and the group,
        // in order, under one read lock of the slot.
        let run = self.run.take();
        let groups: Vec<&ReplicatedGroup> = run
            .iter()
            .flat_map(|run| &run.groups)
            .chain([&group])
            .collect();
        let skip = run.is_none();
        let apply = |ledger: &Ledger| -> Result<(), (usize, ledger_core::Error)> {
            if skip && last <= stored_through(ledger) {
                tracing::debug!(index, last, "group already stored; skipped");
                return Ok(());
            }
            for (applied, g) in groups.iter().enumerate() {
                ledger.apply_group(g).map_err(|e| (applied, e))?;
            }
            Ok(())
        };
        let role = self.slot.role();
        match self
            .slot
            .with_current(apply)
            .ok_or(RaftStoreError::LedgerClosed)?
        {
            Ok(()) => Ok(()),
            // A primary that could apply none of it (poisoned when its proposals stopped, or
            // handed groups it did not propose) is stale: reopened as a backup, which checks
            // the groups itself, it stores them if they are sound. Had it applied some, its
            // store would hold groups the backup's tree would have to continue from; that is
            // left fatal.
            Err((0, e)) if matches!(role, Some(LedgerRole::Primary { .. })) => {
                tracing::warn!(index, error = %e, "the primary cannot apply a committed group; reopening as a backup");
                match self.slot.demote(role, DEMOTE_WAIT) {
                    Ok(()) | Err(SlotError::Changed { .. }) => {}
                    Err(source) => {
                        return Err(RaftStoreError::Demote {
                            index,
                            source: Box::new(source),
                        })
                    }
                }
                self.slot
                    .with_current(apply)
                    .ok_or(RaftStoreError::LedgerClosed)?
                    .map_err(|(_, e)| ledger_error(e))
            }
            Err((_, e)) => Err(ledger_error(e)),
        }
    }
}

/// Consecutive groups without a signature, committed by Raft, waiting for the signed group
/// that covers them.
#[derive(Debug)]
struct PendingRun {
    /// The seqno of the run's first entry.
    first: u64,
    /// The seqno of its last entry.
    last: u64,
    groups: Vec<ReplicatedGroup>,
}

/// Most entry bytes a snapshot build reads from the ledger under one handle on it (one call
/// of [`ledger_core::Ledger::replicated_groups`]).
pub const SNAPSHOT_PAGE_BYTES: usize = 4 << 20;

/// The version byte that begins a ledger snapshot's data (see the
/// [module documentation](self), Snapshots).
const SNAPSHOT_FORMAT: u8 = 1;

/// Where the current snapshot is recorded, in [`Keyspace::Machine`].
const SNAPSHOT_RECORD: &[u8] = b"ledger_snapshot";

/// The first record of a snapshot's data.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct SnapshotHeader {
    last_log_id: Option<LogId>,
    membership: StoredMembership,
    /// The view and seqno of the signature transaction the ledger part ends at.
    signature: Option<(u64, u64)>,
}

/// The current snapshot as recorded: its metadata, the signature its ledger part ends at and,
/// where known, the length of its data (the data is streamed from the ledger).
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotRecord {
    meta: SnapshotMeta,
    signature: Option<(u64, u64)>,
    /// The data's length in bytes: known for an installed snapshot, measured when first
    /// needed for a built one.
    len: Option<u64>,
}

/// A record as written before the length was recorded.
#[derive(Debug, Deserialize)]
struct SnapshotRecordWithoutLength {
    meta: SnapshotMeta,
    signature: Option<(u64, u64)>,
}

/// What a snapshot covers: captured by [`LedgerStateMachine::get_snapshot_builder`], read
/// back from the current snapshot record.
#[derive(Clone, Debug)]
struct SnapshotPoint {
    meta: SnapshotMeta,
    signature: Option<TxId>,
    /// The data's length, once measured.
    len: Option<u64>,
}

impl SnapshotPoint {
    fn new(
        last_log_id: Option<LogId>,
        membership: StoredMembership,
        signature: Option<TxId>,
    ) -> Self {
        let at = last_log_id.map_or_else(
            || "none".to_string(),
            |log_id| format!("{}-{}", log_id.leader_id, log_id.index),
        );
        let ends = signature.map_or_else(|| "unsigned".to_string(), |tx| tx.to_string());
        Self {
            meta: SnapshotMeta {
                last_log_id,
                last_membership: membership,
                snapshot_id: format!("{at}-sig-{ends}"),
            },
            signature,
            len: None,
        }
    }

    fn from_record(
        meta: SnapshotMeta,
        signature: Option<(u64, u64)>,
        len: Option<u64>,
    ) -> Result<Self, RaftStoreError> {
        let signature = signature
            .map(|(view, seqno)| TxId::new(view, seqno))
            .transpose()
            .map_err(|e| {
                RaftStoreError::corruption("ledger snapshot record", format!("signature: {e}"))
            })?;
        Ok(Self {
            meta,
            signature,
            len,
        })
    }

    fn signature_pair(&self) -> Option<(u64, u64)> {
        self.signature.map(|tx| (tx.view(), tx.seqno()))
    }

    fn header(&self) -> SnapshotHeader {
        SnapshotHeader {
            last_log_id: self.meta.last_log_id,
            membership: self.meta.last_membership.clone(),
            signature: self.signature_pair(),
        }
    }

    fn record(&self) -> SnapshotRecord {
        SnapshotRecord {
            meta: self.meta.clone(),
            signature: self.signature_pair(),
            len: self.len,
        }
    }

    /// The snapshot of this point, its data streamed from the slot's ledger as it is read
    /// (nothing is read here).
    fn snapshot(self, slot: &Arc<LedgerSlot>, lengths: &Lengths) -> Snapshot<TypeConfig> {
        Snapshot {
            meta: self.meta.clone(),
            snapshot: Box::new(SnapshotData::from_source(Box::new(SnapshotStream::new(
                slot.clone(),
                self,
                lengths.clone(),
            )))),
        }
    }
}

/// The length of the newest snapshot data measured on this node, by snapshot id: a built
/// snapshot's length is measured the first time openraft asks for it (to send it), once.
pub(crate) type Lengths = Arc<Mutex<Option<(String, u64)>>>;

/// A ledger snapshot's data, produced as it is read: the version byte and the header, then the
/// ledger's groups through the signature, read page by page ([`SNAPSHOT_PAGE_BYTES`]) from
/// whichever ledger the slot holds at the time. A ledger's history through a durable signature
/// never changes, so every pass produces the same `len` bytes. Reads and seeks block (they
/// read the ledger); a seek backwards starts again from the beginning (openraft only seeks
/// to the end for the length, back to the start, and then forwards chunk by chunk).
struct SnapshotStream {
    slot: Arc<LedgerSlot>,
    point: SnapshotPoint,
    /// The data's length, once known (measured on the first seek from the end).
    len: Option<u64>,
    lengths: Lengths,
    /// The reader's position in the data.
    pos: u64,
    /// The piece produced last, and how far into it the reader is.
    buf: Vec<u8>,
    at: usize,
    /// Whether the header has been produced.
    started: bool,
    /// The last seqno produced (0 before the first group); `None` once the groups are done.
    after: Option<u64>,
}

impl fmt::Debug for SnapshotStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotStream")
            .field("snapshot_id", &self.point.meta.snapshot_id)
            .field("len", &self.len)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}

impl SnapshotStream {
    fn new(slot: Arc<LedgerSlot>, point: SnapshotPoint, lengths: Lengths) -> Self {
        let len = point.len.or_else(|| {
            lengths
                .lock()
                .as_ref()
                .filter(|(id, _)| *id == point.meta.snapshot_id)
                .map(|(_, len)| *len)
        });
        Self {
            slot,
            point,
            len,
            lengths,
            pos: 0,
            buf: Vec::new(),
            at: 0,
            started: false,
            after: Some(0),
        }
    }

    fn restart(&mut self) {
        self.pos = 0;
        self.buf.clear();
        self.at = 0;
        self.started = false;
        self.after = Some(0);
    }

    /// The data's length: known, or measured by producing the data once (memory: one page),
    /// after which the reader is back where it was.
    fn total(&mut self) -> Result<u64, RaftStoreError> {
        if let Some(len) = self.len {
            return Ok(len);
        }
        let pos = self.pos;
        self.restart();
        let mut len = 0u64;
        while self.refill()? {
            len += self.buf.len() as u64;
        }
        self.len = Some(len);
        *self.lengths.lock() = Some((self.point.meta.snapshot_id.clone(), len));
        tracing::debug!(snapshot_id = %self.point.meta.snapshot_id, len, "snapshot data measured");
        self.restart();
        self.skip_to(pos)?;
        Ok(len)
    }

    /// Moves the reader forwards to `target` (reads there return nothing past the end).
    fn skip_to(&mut self, target: u64) -> Result<(), RaftStoreError> {
        while self.pos < target {
            if self.at == self.buf.len() {
                if self.len.is_some_and(|len| self.pos >= len) || !self.refill()? {
                    self.pos = target;
                    break;
                }
                continue;
            }
            let skip = (self.buf.len() - self.at)
                .min(usize::try_from(target - self.pos).unwrap_or(usize::MAX));
            self.at += skip;
            self.pos += skip as u64;
        }
        Ok(())
    }

    /// Produces the next piece into `buf` (the header, then a page of groups); false once
    /// everything was produced.
    fn refill(&mut self) -> Result<bool, RaftStoreError> {
        self.buf.clear();
        self.at = 0;
        if !self.started {
            self.started = true;
            self.buf.push(SNAPSHOT_FORMAT);
            push_record(
                &mut self.buf,
                &encode("ledger snapshot header", &self.point.header())?,
            );
            return Ok(true);
        }
        let (Some(after), Some(through)) = (self.after, self.point.signature) else {
            return Ok(false);
        };
        let page = {
            let ledger = self.slot.current().ok_or(RaftStoreError::LedgerClosed)?;
            ledger
                .replicated_groups(after, through, SNAPSHOT_PAGE_BYTES)
                .map_err(|source| RaftStoreError::SnapshotLedger {
                    snapshot_id: self.point.meta.snapshot_id.clone(),
                    seqno: after.saturating_add(1),
                    source: Box::new(source),
                })?
        };
        let Some(last) = page.last().and_then(ReplicatedGroup::last_seqno) else {
            self.after = None;
            return Ok(false);
        };
        for group in &page {
            push_record(&mut self.buf, &encode("ledger snapshot group", group)?);
        }
        self.after = Some(last);
        Ok(true)
    }
}

impl std::io::Read for SnapshotStream {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.buf.len() {
            if self.len.is_some_and(|len| self.pos >= len)
                || !self.refill().map_err(std::io::Error::other)?
            {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}

impl std::io::Seek for SnapshotStream {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::End(delta) => self
                .total()
                .map_err(std::io::Error::other)?
                .checked_add_signed(delta),
            std::io::SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
        }
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a seek before the start of the snapshot",
            )
        })?;
        if target < self.pos {
            self.restart();
        }
        self.skip_to(target).map_err(std::io::Error::other)?;
        Ok(target)
    }
}

fn push_record(out: &mut Vec<u8>, record: &[u8]) {
    out.extend_from_slice(&(record.len() as u64).to_be_bytes());
    out.extend_from_slice(record);
}

/// The records of a snapshot's data after the version byte, in order, read from `reader`,
/// with `remaining` bytes of data left: no record is read past the data's end, so a forged
/// length cannot make it allocate more than the data holds.
struct Records<R> {
    snapshot_id: String,
    reader: R,
    remaining: u64,
}

impl<R: Read> Records<R> {
    fn invalid(&self, detail: impl Into<String>) -> RaftStoreError {
        RaftStoreError::InvalidSnapshot {
            snapshot_id: self.snapshot_id.clone(),
            detail: detail.into(),
        }
    }

    /// The next record's bytes, `None` at the end of the data.
    fn next_record(&mut self) -> Option<Result<Vec<u8>, RaftStoreError>> {
        if self.remaining == 0 {
            return None;
        }
        if self.remaining < 8 {
            return Some(Err(self.invalid(format!(
                "a record length of 8 bytes, not {}",
                self.remaining
            ))));
        }
        let mut len = [0u8; 8];
        if let Err(e) = self.reader.read_exact(&mut len) {
            return Some(Err(self.invalid(format!("reading its data: {e}"))));
        }
        self.remaining -= 8;
        let len = u64::from_be_bytes(len);
        let record = usize::try_from(len).ok().filter(|_| len <= self.remaining);
        let Some(record_len) = record else {
            return Some(Err(self.invalid(format!(
                "a record of {len} bytes, with {} left",
                self.remaining
            ))));
        };
        let mut record = vec![0u8; record_len];
        if let Err(e) = self.reader.read_exact(&mut record) {
            return Some(Err(self.invalid(format!("reading its data: {e}"))));
        }
        self.remaining -= len;
        Some(Ok(record))
    }

    fn decode_next<T: serde::de::DeserializeOwned>(
        &mut self,
        what: &'static str,
    ) -> Option<Result<T, RaftStoreError>> {
        let record = match self.next_record()? {
            Ok(record) => record,
            Err(e) => return Some(Err(e)),
        };
        Some(decode(|| what.to_string(), &record).map_err(|e| self.invalid(e.to_string())))
    }
}

impl<R: Read> Iterator for Records<R> {
    type Item = Result<ReplicatedGroup, RaftStoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.decode_next("ledger snapshot group")
    }
}

/// Reads a snapshot's data from its start through its header, checks the header against
/// `meta`, and returns the signature it names and the group records after it.
fn open_records<'d>(
    meta: &SnapshotMeta,
    data: &'d mut SnapshotData,
) -> Result<(Option<TxId>, Records<BufReader<&'d mut SnapshotData>>), RaftStoreError> {
    let invalid = |detail: String| RaftStoreError::InvalidSnapshot {
        snapshot_id: meta.snapshot_id.clone(),
        detail,
    };
    let io = |e: std::io::Error| invalid(format!("reading its data: {e}"));
    let len = data.seek(SeekFrom::End(0)).map_err(io)?;
    data.seek(SeekFrom::Start(0)).map_err(io)?;
    if len == 0 {
        return Err(invalid("empty data".into()));
    }
    let mut reader = BufReader::with_capacity(1 << 20, data);
    let mut version = [0u8; 1];
    reader.read_exact(&mut version).map_err(io)?;
    if version[0] != SNAPSHOT_FORMAT {
        return Err(invalid(format!(
            "format version {}, expected {SNAPSHOT_FORMAT}",
            version[0]
        )));
    }
    let mut records = Records {
        snapshot_id: meta.snapshot_id.clone(),
        reader,
        remaining: len - 1,
    };
    let header: SnapshotHeader = records
        .decode_next("ledger snapshot header")
        .unwrap_or_else(|| Err(invalid("no header".into())))?;
    if header.last_log_id != meta.last_log_id || header.membership != meta.last_membership {
        return Err(invalid(format!(
            "its data holds the state at {:?}, its metadata names {:?}",
            header.last_log_id, meta.last_log_id
        )));
    }
    let signature = header
        .signature
        .map(|(view, seqno)| TxId::new(view, seqno))
        .transpose()
        .map_err(|e| invalid(format!("header signature: {e}")))?;
    Ok((signature, records))
}

/// Checks a snapshot's whole data (see the [module documentation](self), Snapshots:
/// Installing, step 1) without touching the ledger, reading it once from its start; returns
/// the signature it ends at.
fn check_snapshot(
    meta: &SnapshotMeta,
    data: &mut SnapshotData,
) -> Result<Option<TxId>, RaftStoreError> {
    let invalid = |detail: String| RaftStoreError::InvalidSnapshot {
        snapshot_id: meta.snapshot_id.clone(),
        detail,
    };
    let (signature, groups) = open_records(meta, data)?;
    let mut next = 1u64;
    let mut ends_at = None;
    for group in groups {
        let group = group?;
        let (Some(first), Some(last)) = (group.first_seqno(), group.last_seqno()) else {
            return Err(invalid(format!("an empty group after seqno {}", next - 1)));
        };
        if first != next {
            return Err(invalid(format!(
                "a group beginning at seqno {first}, expected {next}"
            )));
        }
        let signed = group
            .signed_at()
            .filter(|tx| tx.seqno() == last)
            .ok_or_else(|| {
                invalid(format!(
                    "the group from seqno {first} ends at seqno {last} without a signature \
                     transaction"
                ))
            })?;
        ends_at = Some(signed);
        next = last
            .checked_add(1)
            .ok_or_else(|| invalid("a group ending at the last seqno".into()))?;
    }
    if ends_at != signature {
        return Err(invalid(format!(
            "groups ending at {ends_at:?}, its header names {signature:?}"
        )));
    }
    Ok(signature)
}

/// Records `point` as the current snapshot unless the one recorded is at the same or a later
/// log id; `extra` (bookkeeping) is written in the same synced batch either way.
fn record_snapshot(
    backend: &dyn Backend,
    lock: &Mutex<()>,
    point: &SnapshotPoint,
    mut extra: Vec<WriteOp>,
) -> Result<(), RaftStoreError> {
    let _held = lock.lock();
    let current = read_snapshot_record(backend)?;
    if current
        .as_ref()
        .is_none_or(|c| c.meta.last_log_id < point.meta.last_log_id)
    {
        extra.push(WriteOp::Put(
            Keyspace::Machine,
            SNAPSHOT_RECORD.to_vec(),
            encode("ledger snapshot record", &point.record())?,
        ));
    }
    if extra.is_empty() {
        return Ok(());
    }
    backend.write(extra, true)
}

fn read_snapshot_record(backend: &dyn Backend) -> Result<Option<SnapshotPoint>, RaftStoreError> {
    let Some(bytes) = backend.get(Keyspace::Machine, SNAPSHOT_RECORD)? else {
        return Ok(None);
    };
    let what = || "ledger snapshot record".to_string();
    let point = match decode::<SnapshotRecord>(what, &bytes) {
        Ok(r) => SnapshotPoint::from_record(r.meta, r.signature, r.len),
        Err(e) => match decode::<SnapshotRecordWithoutLength>(what, &bytes) {
            Ok(r) => SnapshotPoint::from_record(r.meta, r.signature, None),
            Err(_) => Err(e),
        },
    };
    point.map(Some)
}

/// The ledger machine's snapshot builder: the ledger through the signature that was durable
/// at the persisted applied log id when it was made (see the [module documentation](self),
/// Snapshots).
#[derive(Debug)]
pub struct LedgerSnapshotBuilder {
    backend: Arc<dyn Backend>,
    slot: Arc<LedgerSlot>,
    snapshot_record: Arc<Mutex<()>>,
    lengths: Lengths,
    fence: PurgeFence,
    /// `None` if the slot was empty when the builder was made.
    point: Option<SnapshotPoint>,
}

impl LedgerSnapshotBuilder {
    /// Builds the snapshot, records it as the current one (unless a later one is recorded)
    /// and returns it: what openraft's `build_snapshot` does, with this crate's error.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::LedgerClosed`] if the node's ledger was closed;
    /// [`RaftStoreError::SnapshotLedger`] if reading the ledger fails; backend failures.
    pub async fn build(&mut self) -> Result<Snapshot<TypeConfig>, RaftStoreError> {
        let point = self.point.clone().ok_or(RaftStoreError::LedgerClosed)?;
        let (slot, backend, lock) = (
            self.slot.clone(),
            self.backend.clone(),
            self.snapshot_record.clone(),
        );
        let lengths = self.lengths.clone();
        let fence = self.fence.clone();
        blocking(move || {
            record_snapshot(backend.as_ref(), &lock, &point, Vec::new())?;
            fence.advance(point.meta.last_log_id);
            tracing::info!(snapshot_id = %point.meta.snapshot_id, "built a ledger snapshot");
            Ok(point.snapshot(&slot, &lengths))
        })
        .await
    }
}

impl RaftSnapshotBuilder<TypeConfig> for LedgerSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        self.build()
            .await
            .map_err(|e| snapshot_error(None, ErrorVerb::Write, e))
    }
}

/// What an install did.
enum Installed {
    /// The snapshot is at or before the last applied log id: nothing changed.
    AlreadyApplied,
    /// The ledger holds the snapshot's groups.
    Ledger,
}

impl LedgerStateMachine {
    /// Installs a ledger snapshot (see the [module documentation](self), Snapshots:
    /// Installing): what openraft's `install_snapshot` does, with this crate's error.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::InvalidSnapshot`] for data that is not a ledger snapshot of `meta`
    /// (nothing changed); [`RaftStoreError::SnapshotLedger`] if the node's ledger refuses a
    /// group or fails; [`RaftStoreError::Demote`] if a primary could not be reopened as a
    /// backup; [`RaftStoreError::LedgerClosed`]; backend failures. After any of them the
    /// bookkeeping is as it was.
    pub async fn install_ledger_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        data: impl Into<SnapshotData>,
    ) -> Result<(), RaftStoreError> {
        let mut data: SnapshotData = data.into();
        tracing::info!(snapshot_id = %meta.snapshot_id, "installing a ledger snapshot");
        let slot = self.slot.clone();
        let stored_before = slot.with_current(stored_through);
        let owned_meta = meta.clone();
        let last_applied = self.last_applied;
        let installed = blocking(move || {
            let signature = check_snapshot(&owned_meta, &mut data)?;
            let len = data.len().map_err(|e| RaftStoreError::InvalidSnapshot {
                snapshot_id: owned_meta.snapshot_id.clone(),
                detail: format!("reading its data: {e}"),
            })?;
            if owned_meta.last_log_id <= last_applied {
                return Ok((Installed::AlreadyApplied, signature, len));
            }
            let (_, groups) = open_records(&owned_meta, &mut data)?;
            install_groups(&slot, &owned_meta, groups)?;
            Ok((Installed::Ledger, signature, len))
        })
        .await;
        let (signature, len) = match installed {
            Ok((Installed::AlreadyApplied, ..)) => {
                tracing::info!(
                    snapshot_id = %meta.snapshot_id,
                    last_applied = ?self.last_applied,
                    "a snapshot at or before the last applied log id; nothing to install"
                );
                return Ok(());
            }
            Ok((Installed::Ledger, signature, len)) => (signature, len),
            Err(e) => {
                // Groups the ledger stored before a refused one may cover the held run.
                if self.slot.with_current(stored_through) != stored_before {
                    self.run = None;
                }
                return Err(e);
            }
        };
        self.run = None;
        // Recorded under the leader's id for it: rebuilt from this ledger, it is the same data.
        let point = SnapshotPoint {
            meta: meta.clone(),
            signature,
            len: Some(len),
        };
        let bookkeeping = bookkeeping_ops(&meta.last_log_id, &meta.last_membership)?;
        record_snapshot(
            self.backend.as_ref(),
            &self.snapshot_record,
            &point,
            bookkeeping,
        )?;
        self.fence.advance(meta.last_log_id);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.persisted = (self.last_applied, self.membership.clone());
        self.persisted_signature = signature;
        self.unpersisted = None;
        tracing::info!(snapshot_id = %meta.snapshot_id, "installed a ledger snapshot");
        Ok(())
    }

    /// The current snapshot (the last built or installed), its data rebuilt from the ledger,
    /// or `None` if there is none: what openraft's `get_current_snapshot` returns, with this
    /// crate's error. Reads the ledger through the snapshot's signature.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::SnapshotLedger`] if the ledger no longer holds the snapshot's
    /// signature (a store that lost durable groups) or fails;
    /// [`RaftStoreError::LedgerClosed`]; [`RaftStoreError::Corruption`] for an undecodable
    /// record; backend failures.
    pub async fn current_snapshot(&self) -> Result<Option<Snapshot<TypeConfig>>, RaftStoreError> {
        let Some(point) = read_snapshot_record(self.backend.as_ref())? else {
            return Ok(None);
        };
        // Nothing is read until openraft reads the data.
        Ok(Some(point.snapshot(&self.slot, &self.lengths)))
    }
}

/// Step 3 and 4 of installing (see the [module documentation](self), Snapshots): the node's
/// ledger as a backup, then every group past what it stores, checked and stored by it. Blocks.
fn install_groups(
    slot: &LedgerSlot,
    meta: &SnapshotMeta,
    groups: Records<impl Read>,
) -> Result<(), RaftStoreError> {
    let index = meta.last_log_id.map_or(0, |log_id| log_id.index);
    if let Some(role @ LedgerRole::Primary { .. }) = slot.role() {
        tracing::info!(
            snapshot_id = %meta.snapshot_id,
            "installing a snapshot on a primary; reopening it as a backup"
        );
        match slot.demote(Some(role), DEMOTE_WAIT) {
            Ok(()) | Err(SlotError::Changed { .. }) => {}
            Err(source) => {
                return Err(RaftStoreError::Demote {
                    index,
                    source: Box::new(source),
                })
            }
        }
    }
    slot.with_current(|ledger| {
        let mut applied = 0usize;
        for group in groups {
            let group = group?;
            let (first, last) = match (group.first_seqno(), group.last_seqno()) {
                (Some(first), Some(last)) => (first, last),
                // Refused by the check before.
                _ => continue,
            };
            if last <= stored_through(ledger) {
                continue;
            }
            ledger
                .apply_group(&group)
                .map_err(|source| RaftStoreError::SnapshotLedger {
                    snapshot_id: meta.snapshot_id.clone(),
                    seqno: first,
                    source: Box::new(source),
                })?;
            applied += 1;
        }
        tracing::debug!(snapshot_id = %meta.snapshot_id, applied, "snapshot groups stored");
        // Durable before the bookkeeping says they are applied: the leader's log no longer
        // holds them, so nothing could re-apply them after a machine crash.
        ledger
            .sync()
            .map_err(|source| RaftStoreError::SnapshotLedger {
                snapshot_id: meta.snapshot_id.clone(),
                seqno: 0,
                source: Box::new(source),
            })
    })
    .ok_or(RaftStoreError::LedgerClosed)?
}

impl RaftStateMachine<TypeConfig> for LedgerStateMachine {
    type SnapshotBuilder = LedgerSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut replies = Vec::new();
        let mut persist = None;
        for entry in entries {
            let log_id = entry.log_id;
            match &entry.payload {
                EntryPayload::Blank => replies.push(Applied::Blank),
                EntryPayload::Normal(payload) => {
                    self.apply_group(log_id, payload)
                        .map_err(|e| sm_error(ErrorVerb::Write, e))?;
                    replies.push(Applied::Payload {
                        index: log_id.index,
                    });
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(log_id), membership.clone());
                    replies.push(Applied::Membership);
                }
            }
            self.last_applied = Some(log_id);
            if self.run.is_none() {
                persist = Some((self.last_applied, self.membership.clone()));
            }
        }
        if persist.is_some() {
            self.unpersisted = persist;
        }
        if self.last_persist.elapsed() >= PERSIST_INTERVAL {
            self.persist().map_err(|e| sm_error(ErrorVerb::Write, e))?;
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Called between applies. Persisted now, the point is the newest with no run held;
        // the ledger's durable history through the signature recorded with it is exactly the
        // groups of the entries up to it. (Only before the first persist after an open is
        // that signature unknown; the ledger's newest then may cover entries past the point,
        // which an installer's later re-apply skips as stored.)
        if let Err(e) = self.persist() {
            tracing::warn!(error = %e, "could not persist before a snapshot; taken at the last persisted point");
        }
        let (last_log_id, membership) = self.persisted.clone();
        let recorded = self.persisted_signature;
        let point = self.slot.with_current(|ledger| {
            let signature = recorded.or_else(|| ledger.committed_signature());
            SnapshotPoint::new(last_log_id, membership, signature)
        });
        LedgerSnapshotBuilder {
            backend: self.backend.clone(),
            slot: self.slot.clone(),
            snapshot_record: self.snapshot_record.clone(),
            lengths: self.lengths.clone(),
            fence: self.fence.clone(),
            point,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        // Beside the ledger, on the disk sized for it; the system's temporary directory for a
        // ledger without one (in memory).
        let data = SnapshotData::temp_file_in(self.slot.config().path())
            .or_else(|_| SnapshotData::temp_file())
            .map_err(|e| {
                snapshot_error(
                    None,
                    ErrorVerb::Write,
                    RaftStoreError::Task {
                        detail: format!("creating the file a snapshot is received into: {e}"),
                    },
                )
            })?;
        Ok(Box::new(data))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        self.install_ledger_snapshot(meta, *snapshot)
            .await
            .map_err(|e| snapshot_error(Some(meta), ErrorVerb::Write, e))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        self.current_snapshot()
            .await
            .map_err(|e| snapshot_error(None, ErrorVerb::Read, e))
    }
}
