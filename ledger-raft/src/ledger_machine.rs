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
//! `"applied"` (an encoded `Option<LogId>`) and `"membership"` (a `StoredMembership`).
//! Nothing is written to [`crate::Keyspace::Table`]: the applied state is the ledger's own store.
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
//! The `"applied"` log id is persisted only where no run is pending: after a signed group, or
//! after a blank or membership entry (or a skipped group) when nothing is pending. The
//! in-memory last applied log id (what openraft is told) runs ahead of it. After a restart
//! openraft re-applies the committed entries above the persisted point from the Raft log: the
//! pending run is rebuilt, and the groups the ledger stored meanwhile are skipped (see
//! above). The membership is persisted with the log id, as of the same point.
//!
//! The write of `"applied"` is unsynced, as the placeholder's: the backend's batches reach
//! stable storage in order, and a lost write only makes openraft re-apply more, which is
//! harmless. The ledger's store syncs each signed group before its transactions become
//! Committed ([`ledger_core::Ledger::apply_group`]).
//!
//! # Snapshots: not implemented
//!
//! A ledger snapshot (the ledger store at a committed signature) is a later step.
//! [`LedgerSnapshotBuilder::build_snapshot`] and [`LedgerStateMachine::install_snapshot`]
//! return [`RaftStoreError::SnapshotsNotImplemented`] (a fatal storage error to openraft), and
//! [`LedgerStateMachine::get_current_snapshot`] reports none. A cluster of ledger machines must
//! run with `SnapshotPolicy::Never` and never purge its logs, so that no snapshot is built and
//! every lagging follower is caught up from the log;
//! [`ReplicatedLedger::start`](crate::ReplicatedLedger::start) refuses any other policy.
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
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Ledger, LedgerConfig, ReplicatedGroup};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorVerb, RaftSnapshotBuilder};
use parking_lot::RwLock;

use crate::backend::Backend;
use crate::codec::{decode, encode};
use crate::error::RaftStoreError;
use crate::log_store::{sm_error, snapshot_error};
use crate::state_machine::{bookkeeping_ops, read_bookkeeping};
use crate::types::{
    Applied, Entry, LogId, Payload, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

/// How long a demotion waits for readers to let go of the stale primary.
const DEMOTE_WAIT: Duration = Duration::from_secs(10);

/// `group` as the bytes of a Raft entry's [`Payload`] (see the [module documentation](self),
/// Format).
///
/// # Errors
///
/// [`RaftStoreError::Encode`] if the encoder fails.
pub fn encode_group(group: &ReplicatedGroup) -> Result<Payload, RaftStoreError> {
    Ok(Payload(encode("replicated group", group)?))
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
    // A signature commits what precedes it: the newest committed transaction is the one just
    // before the newest durable signature.
    ledger
        .last_committed()
        .map_or(0, |tx| tx.seqno().saturating_add(1))
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
        Ok(Self {
            backend,
            slot,
            last_applied,
            membership: membership.clone(),
            run: None,
            persisted: (last_applied, membership),
        })
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

/// The ledger machine's snapshot builder: ledger snapshots are not implemented (see the
/// [module documentation](self)), so building one fails.
#[derive(Debug)]
pub struct LedgerSnapshotBuilder {
    last_applied: Option<LogId>,
}

impl RaftSnapshotBuilder<TypeConfig> for LedgerSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        tracing::error!(last_applied = ?self.last_applied, "ledger snapshots are not implemented");
        Err(snapshot_error(
            None,
            ErrorVerb::Write,
            RaftStoreError::SnapshotsNotImplemented { operation: "build" },
        ))
    }
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
        if let Some(point) = persist {
            let ops =
                bookkeeping_ops(&point.0, &point.1).map_err(|e| sm_error(ErrorVerb::Write, e))?;
            // Unsynced: see the module documentation, Durability rule.
            self.backend
                .write(ops, false)
                .map_err(|e| sm_error(ErrorVerb::Write, e))?;
            self.persisted = point;
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        LedgerSnapshotBuilder {
            last_applied: self.last_applied,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Err(snapshot_error(
            None,
            ErrorVerb::Write,
            RaftStoreError::SnapshotsNotImplemented {
                operation: "install",
            },
        ))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        Err(snapshot_error(
            Some(meta),
            ErrorVerb::Write,
            RaftStoreError::SnapshotsNotImplemented {
                operation: "install",
            },
        ))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(None)
    }
}
