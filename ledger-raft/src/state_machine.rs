//! [`StateMachine`]: this slice's Raft state machine ([`RaftStateMachine`],
//! [`RaftSnapshotBuilder`]) over a [`Backend`].
//!
//! Its applied state is minimal but real: the last applied log id, the last applied
//! membership, and a table of the [`Payload`] bytes applied, by the log index that carried
//! them. It exists so that the log store and the snapshot path run against openraft's own
//! test suite and a real cluster now; the next slice replaces it with the ledger state
//! machine (the crate documentation says how).
//!
//! # Format
//!
//! [`Keyspace::Machine`] holds `"applied"` (an encoded `Option<LogId>`), `"membership"` (a
//! `StoredMembership`) and `"snapshot"` (the current snapshot: a sequence number, its
//! `SnapshotMeta` and its data). [`Keyspace::Table`] holds each payload under its log index
//! (`u64` big-endian), as raw bytes. Snapshot data is one record of [`crate::codec`]: the
//! last applied log id, the membership, and every `(index, payload)` row in index order.
//!
//! # Durability
//!
//! `apply` writes one unsynced batch per call (rows, `"applied"`, `"membership"`). That is
//! safe because the backend's batches reach stable storage in order (one WAL), so:
//!
//! * every later synced batch (a log append, a vote, a snapshot) makes the applied state
//!   durable too, and a crash can only lose applies of entries the log still holds: the log
//!   is purged only up to a snapshot's last log id, and a snapshot is written synced, after
//!   the applies it covers;
//! * after a restart openraft re-applies committed entries above the recovered `"applied"`
//!   from the log (immediately up to the saved committed log id, the rest once a leader
//!   reports commit).
//!
//! `build_snapshot` and `install_snapshot` write synced batches. Installing replaces the
//! table, `"applied"`, `"membership"` and `"snapshot"` in one batch.
//!
//! # Concurrency
//!
//! openraft builds a snapshot in a task of its own while entries keep being applied. The
//! builder captures the last applied log id and membership when it is made and reads the
//! table rows at or below that index when it builds. Those rows never change once applied:
//! a row holds the payload of a committed entry, which is the same on every node, and an
//! installed snapshot (which only ever moves the state forward) holds the same rows below
//! its own index.

use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorVerb, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Keyspace, WriteOp};
use crate::codec::{decode, encode, key_u64, u64_key};
use crate::error::RaftStoreError;
use crate::log_store::{sm_error, snapshot_error};
use crate::snapshot_data::SnapshotData;
use crate::types::{
    Applied, Entry, LogId, Payload, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};

const APPLIED: &[u8] = b"applied";
const MEMBERSHIP: &[u8] = b"membership";

/// The Raft bookkeeping a state machine keeps in [`Keyspace::Machine`] (this one and the
/// ledger's alike): the last applied log id and the membership, as stored.
///
/// # Errors
///
/// [`RaftStoreError::Corruption`] for an undecodable record; backend failures.
pub(crate) fn read_bookkeeping(
    backend: &dyn Backend,
) -> Result<(Option<LogId>, StoredMembership), RaftStoreError> {
    let last_applied: Option<LogId> = match backend.get(Keyspace::Machine, APPLIED)? {
        Some(bytes) => decode(|| "last applied log id".to_string(), &bytes)?,
        None => None,
    };
    let membership = match backend.get(Keyspace::Machine, MEMBERSHIP)? {
        Some(bytes) => decode(|| "membership".to_string(), &bytes)?,
        None => StoredMembership::default(),
    };
    Ok((last_applied, membership))
}

/// The writes that store `last_applied` and `membership` (see [`read_bookkeeping`]).
///
/// # Errors
///
/// [`RaftStoreError`] if a value does not encode.
pub(crate) fn bookkeeping_ops(
    last_applied: &Option<LogId>,
    membership: &StoredMembership,
) -> Result<Vec<WriteOp>, RaftStoreError> {
    Ok(vec![
        WriteOp::Put(
            Keyspace::Machine,
            APPLIED.to_vec(),
            encode("last applied log id", last_applied)?,
        ),
        WriteOp::Put(
            Keyspace::Machine,
            MEMBERSHIP.to_vec(),
            encode("membership", membership)?,
        ),
    ])
}
const SNAPSHOT: &[u8] = b"snapshot";

/// What a snapshot's data holds: the whole applied state.
#[derive(Debug, Serialize, Deserialize)]
struct SnapshotBody {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    rows: Vec<(u64, Vec<u8>)>,
}

/// The current snapshot, as stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    /// 1 for the first snapshot this store built or installed, then one more each time.
    seq: u64,
    meta: SnapshotMeta,
    data: Vec<u8>,
}

fn stored_snapshot(backend: &dyn Backend) -> Result<Option<StoredSnapshot>, RaftStoreError> {
    backend
        .get(Keyspace::Machine, SNAPSHOT)?
        .map(|bytes| decode(|| "snapshot record".to_string(), &bytes))
        .transpose()
}

/// Rows of the table with index in `from..=to`.
fn table_rows(
    backend: &dyn Backend,
    from: u64,
    to: u64,
) -> Result<Vec<(u64, Vec<u8>)>, RaftStoreError> {
    if from > to {
        return Ok(Vec::new());
    }
    let end = to.checked_add(1).map(u64_key);
    backend
        .scan(
            Keyspace::Table,
            &u64_key(from),
            end.as_ref().map(|k| k.as_slice()),
            usize::MAX,
        )?
        .into_iter()
        .map(|(key, value)| Ok((key_u64("table row", &key)?, value)))
        .collect()
}

/// This slice's state machine. Its format, durability and concurrency rules are in the documentation of `state_machine.rs` (a private module).
#[derive(Debug)]
pub struct StateMachine {
    backend: Arc<dyn Backend>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl StateMachine {
    /// The state machine over `backend`, with the applied state the backend holds.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::Corruption`] for an undecodable record; backend failures.
    pub fn open(backend: Arc<dyn Backend>) -> Result<Self, RaftStoreError> {
        let (last_applied, membership) = read_bookkeeping(backend.as_ref())?;
        Ok(Self {
            backend,
            last_applied,
            membership,
        })
    }

    /// The state machine of an empty backend.
    pub(crate) fn from_empty(backend: Arc<dyn Backend>) -> Self {
        Self {
            backend,
            last_applied: None,
            membership: StoredMembership::default(),
        }
    }

    /// The last applied log id.
    pub fn last_applied(&self) -> Option<LogId> {
        self.last_applied
    }

    /// The payload applied at log index `index`, if a payload was.
    ///
    /// # Errors
    ///
    /// Backend failures.
    pub fn payload(&self, index: u64) -> Result<Option<Vec<u8>>, RaftStoreError> {
        self.backend.get(Keyspace::Table, &u64_key(index))
    }

    /// Every applied payload with its log index, in index order.
    ///
    /// # Errors
    ///
    /// Backend failures; [`RaftStoreError::Corruption`] for a malformed key.
    pub fn payloads(&self) -> Result<Vec<(u64, Vec<u8>)>, RaftStoreError> {
        table_rows(self.backend.as_ref(), 0, u64::MAX)
    }

    fn applied_ops(&self) -> Result<Vec<WriteOp>, RaftStoreError> {
        bookkeeping_ops(&self.last_applied, &self.membership)
    }
}

/// Builds a snapshot of the state a [`StateMachine`] had when the builder was made.
#[derive(Debug)]
pub struct SnapshotBuilder {
    backend: Arc<dyn Backend>,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let backend = self.backend.as_ref();
        let rows = match self.last_applied {
            Some(log_id) => table_rows(backend, 0, log_id.index),
            None => Ok(Vec::new()),
        }
        .map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let body = SnapshotBody {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            rows,
        };
        let data = encode("snapshot data", &body).map_err(|e| sm_error(ErrorVerb::Read, e))?;
        let seq = stored_snapshot(backend)
            .map_err(|e| snapshot_error(None, ErrorVerb::Read, e))?
            .map_or(1, |s| s.seq + 1);
        let snapshot_id = match self.last_applied {
            Some(log_id) => format!("{}-{}-{seq}", log_id.leader_id, log_id.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let record = StoredSnapshot {
            seq,
            meta: meta.clone(),
            data,
        };
        let bytes = encode("snapshot record", &record)
            .map_err(|e| snapshot_error(Some(&meta), ErrorVerb::Write, e))?;
        backend
            .write(
                vec![WriteOp::Put(Keyspace::Machine, SNAPSHOT.to_vec(), bytes)],
                true,
            )
            .map_err(|e| snapshot_error(Some(&meta), ErrorVerb::Write, e))?;
        tracing::debug!(snapshot_id = %meta.snapshot_id, rows = body.rows.len(), "built a snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(SnapshotData::from_bytes(record.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut ops = Vec::new();
        let mut replies = Vec::new();
        for entry in entries {
            let log_id = entry.log_id;
            match entry.payload {
                EntryPayload::Blank => replies.push(Applied::Blank),
                EntryPayload::Normal(Payload(bytes)) => {
                    ops.push(WriteOp::Put(
                        Keyspace::Table,
                        u64_key(log_id.index).to_vec(),
                        bytes.to_vec(),
                    ));
                    replies.push(Applied::Payload {
                        index: log_id.index,
                    });
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(log_id), membership);
                    replies.push(Applied::Membership);
                }
            }
            self.last_applied = Some(log_id);
        }
        if replies.is_empty() {
            return Ok(replies);
        }
        ops.extend(
            self.applied_ops()
                .map_err(|e| sm_error(ErrorVerb::Write, e))?,
        );
        self.backend
            .write(ops, false)
            .map_err(|e| sm_error(ErrorVerb::Write, e))?;
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            backend: self.backend.clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::new(SnapshotData::from_bytes(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        mut snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        let read_err = |e| snapshot_error(Some(meta), ErrorVerb::Read, e);
        let data = snapshot.read_all().map_err(|e| {
            read_err(RaftStoreError::InvalidSnapshot {
                snapshot_id: meta.snapshot_id.clone(),
                detail: format!("reading its data: {e}"),
            })
        })?;
        let write_err = |e| snapshot_error(Some(meta), ErrorVerb::Write, e);
        let body: SnapshotBody =
            decode(|| format!("snapshot {}", meta.snapshot_id), &data).map_err(read_err)?;
        if body.last_applied != meta.last_log_id || body.membership != meta.last_membership {
            return Err(read_err(RaftStoreError::corruption(
                format!("snapshot {}", meta.snapshot_id),
                "its data does not hold the state its metadata names",
            )));
        }
        let seq = stored_snapshot(self.backend.as_ref())
            .map_err(read_err)?
            .map_or(1, |s| s.seq + 1);

        let mut ops = vec![WriteOp::DeleteRange(
            Keyspace::Table,
            u64_key(0).to_vec(),
            None,
        )];
        for (index, bytes) in body.rows {
            ops.push(WriteOp::Put(
                Keyspace::Table,
                u64_key(index).to_vec(),
                bytes,
            ));
        }
        let record = StoredSnapshot {
            seq,
            meta: meta.clone(),
            data,
        };
        ops.push(WriteOp::Put(
            Keyspace::Machine,
            SNAPSHOT.to_vec(),
            encode("snapshot record", &record).map_err(write_err)?,
        ));
        let previous = (self.last_applied, self.membership.clone());
        self.last_applied = body.last_applied;
        self.membership = body.membership;
        let result = self
            .applied_ops()
            .and_then(|applied| {
                ops.extend(applied);
                self.backend.write(ops, true)
            })
            .map_err(write_err);
        if result.is_err() {
            (self.last_applied, self.membership) = previous;
        }
        result
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let stored = stored_snapshot(self.backend.as_ref())
            .map_err(|e| snapshot_error(None, ErrorVerb::Read, e))?;
        Ok(stored.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(SnapshotData::from_bytes(s.data)),
        }))
    }
}
