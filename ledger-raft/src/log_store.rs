//! [`LogStore`]: openraft's log and vote storage ([`RaftLogStorage`], [`RaftLogReader`])
//! over a [`Backend`].
//!
//! # Format
//!
//! Log entries live in [`Keyspace::Log`] under their index (`u64` big-endian), each an
//! encoded openraft `Entry` whose own log id must name that index. [`Keyspace::LogMeta`]
//! holds `"vote"`, `"purged"` (the last purged log id) and `"committed"` (the last committed
//! log id openraft reported). See [`crate::RocksBackend`] for the on-disk layout.
//!
//! # Durability
//!
//! | call | batch | synced before it returns / acknowledges |
//! | --- | --- | --- |
//! | `save_vote` | the vote | yes: a vote is never granted, nor acted on, before it is durable |
//! | `append` | all the entries of the call | yes, one sync per call; the `LogFlushed` callback runs after it |
//! | `truncate` | delete the suffix | yes, so that a conflicting suffix cannot come back after a crash and be acknowledged again |
//! | `purge` | `"purged"` and the deletion of the prefix, in one batch | no: losing a purge re-exposes entries that were already applied, which is harmless, and `"purged"` moves with them atomically |
//! | `save_committed` | `"committed"` | no: it may lag after a crash; it only lets a restart re-apply committed entries sooner |
//!
//! So a follower's acknowledgement of `AppendEntries` costs one WAL sync per batch of entries
//! it received (openraft hands a whole batch to one `append`), and a vote one sync.
//!
//! # Reads
//!
//! `try_get_log_entries(range)` returns the entries present in `range` (openraft's own
//! helpers rely on missing ones being skipped). `limited_get_log_entries(start, end)`, which
//! openraft's replication reads, returns the entries from `start` on, consecutive, stopping
//! at the first missing index, and nothing if `start` itself is missing (purged or
//! truncated); never entries from the middle of the range. Replication builds an
//! `AppendEntries` from `prev_log_id = start - 1` and what that read returns, so a read that
//! skipped purged entries would send entries that do not follow `prev_log_id`. That happens
//! in openraft 0.9.25: a leader that steps down keeps its replication tasks until it next
//! leads, and one retrying after a back-off reads a log the node has since purged as a
//! follower. The simulated cluster found it (`tests/sim_cluster.rs`): the receiving node's
//! openraft panicked on a debug assertion (a release build would append past a hole).
//! openraft's documentation asks that this read not return nothing for a non-empty range;
//! its 0.9.25 replication handles nothing as a heartbeat, which is harmless here, where any
//! entries would be wrong.
//!
//! # Recovery
//!
//! Nothing to do on open: the log is what the backend holds. `get_log_state` derives the last
//! log id from the greatest stored index (or, with no entries left, the last purged log id).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError};

use crate::backend::{Backend, Keyspace, WriteOp};
use crate::codec::{decode, encode, key_u64, u64_key};
use crate::error::RaftStoreError;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const VOTE: &[u8] = b"vote";
const PURGED: &[u8] = b"purged";
const COMMITTED: &[u8] = b"committed";

/// openraft's log and vote storage over a [`Backend`]. Cloning gives another handle on the
/// same log (openraft's log reader is such a clone).
#[derive(Clone, Debug)]
pub struct LogStore {
    backend: Arc<dyn Backend>,
}

pub(crate) fn storage_error(
    subject: ErrorSubject<crate::types::NodeId>,
    verb: ErrorVerb,
    err: RaftStoreError,
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(&err)).into()
}

/// A state-machine failure as openraft's storage error.
pub(crate) fn sm_error(verb: ErrorVerb, err: RaftStoreError) -> StorageError {
    storage_error(ErrorSubject::StateMachine, verb, err)
}

/// A snapshot failure as openraft's storage error.
pub(crate) fn snapshot_error(
    meta: Option<&crate::types::SnapshotMeta>,
    verb: ErrorVerb,
    err: RaftStoreError,
) -> StorageError {
    storage_error(
        ErrorSubject::Snapshot(meta.map(|m| m.signature())),
        verb,
        err,
    )
}

fn read_logs(err: RaftStoreError) -> StorageError {
    storage_error(ErrorSubject::Logs, ErrorVerb::Read, err)
}

fn write_logs(err: RaftStoreError) -> StorageError {
    storage_error(ErrorSubject::Logs, ErrorVerb::Write, err)
}

impl LogStore {
    /// The log store over `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend }
    }

    /// The backend (shared with the state machine opened beside it).
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    fn meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &'static [u8],
    ) -> Result<Option<T>, RaftStoreError> {
        self.backend
            .get(Keyspace::LogMeta, key)?
            .map(|bytes| decode(|| String::from_utf8_lossy(key).into_owned(), &bytes))
            .transpose()
    }

    fn put_meta<T: serde::Serialize>(
        &self,
        key: &'static [u8],
        value: &T,
        sync: bool,
    ) -> Result<(), RaftStoreError> {
        let bytes = encode("log metadata", value)?;
        self.backend.write(
            vec![WriteOp::Put(Keyspace::LogMeta, key.to_vec(), bytes)],
            sync,
        )
    }

    fn entries(&self, from: u64, to: Option<u64>) -> Result<Vec<Entry>, RaftStoreError> {
        let to = to.map(u64_key);
        let rows = self.backend.scan(
            Keyspace::Log,
            &u64_key(from),
            to.as_ref().map(|k| k.as_slice()),
            usize::MAX,
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, bytes) in rows {
            let index = key_u64("log index", &key)?;
            let entry: Entry = decode(|| format!("log entry {index}"), &bytes)?;
            if entry.log_id.index != index {
                return Err(RaftStoreError::corruption(
                    format!("log entry {index}"),
                    format!("holds the entry of index {}", entry.log_id.index),
                ));
            }
            out.push(entry);
        }
        Ok(out)
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, RaftStoreError> {
        match self.backend.last(Keyspace::Log)? {
            None => Ok(None),
            Some((key, bytes)) => {
                let index = key_u64("log index", &key)?;
                let entry: Entry = decode(|| format!("log entry {index}"), &bytes)?;
                Ok(Some(entry.log_id))
            }
        }
    }
}

/// `range` as a half-open `[from, to)` of indexes; `to = None` is unbounded.
fn index_range<RB: RangeBounds<u64>>(range: &RB) -> Option<(u64, Option<u64>)> {
    let from = match range.start_bound() {
        Bound::Included(&x) => x,
        Bound::Excluded(&x) => x.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(&x) => x.checked_add(1),
        Bound::Excluded(&x) => Some(x),
        Bound::Unbounded => None,
    };
    Some((from, to))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        match index_range(&range) {
            None => Ok(Vec::new()),
            Some((from, to)) => self.entries(from, to).map_err(read_logs),
        }
    }

    /// The entries from `start` on, consecutive, before `end`; none if `start` is missing.
    /// Why: `src/log_store.rs`, # Reads.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        let mut entries = self.entries(start, Some(end)).map_err(read_logs)?;
        let run = entries
            .iter()
            .zip(start..)
            .take_while(|(entry, index)| entry.log_id.index == *index)
            .count();
        entries.truncate(run);
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.meta(PURGED).map_err(read_logs)?;
        let last_log_id = self.last_entry_log_id().map_err(read_logs)?;
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last_log_id.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote, true)
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.meta(VOTE)
            .map_err(|e| storage_error(ErrorSubject::Vote, ErrorVerb::Read, e))
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta(COMMITTED, &committed, false)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Write, e))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<Option<LogId>> = self
            .meta(COMMITTED)
            .map_err(|e| storage_error(ErrorSubject::Store, ErrorVerb::Read, e))?;
        Ok(committed.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut ops = Vec::new();
        for entry in entries {
            let bytes = encode("log entry", &entry).map_err(write_logs)?;
            ops.push(WriteOp::Put(
                Keyspace::Log,
                u64_key(entry.log_id.index).to_vec(),
                bytes,
            ));
        }
        if ops.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        match self.backend.write(ops, true) {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(err) => {
                let message = err.to_string();
                callback.log_io_completed(Err(std::io::Error::other(message)));
                Err(write_logs(err))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "truncate the raft log from this index");
        self.backend
            .write(
                vec![WriteOp::DeleteRange(
                    Keyspace::Log,
                    u64_key(log_id.index).to_vec(),
                    None,
                )],
                true,
            )
            .map_err(write_logs)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(%log_id, "purge the raft log up to this index");
        let purged = encode("last purged log id", &log_id).map_err(write_logs)?;
        self.backend
            .write(
                vec![
                    WriteOp::Put(Keyspace::LogMeta, PURGED.to_vec(), purged),
                    WriteOp::DeleteRange(
                        Keyspace::Log,
                        u64_key(0).to_vec(),
                        Some(u64_key(log_id.index).to_vec()),
                    ),
                    WriteOp::Delete(Keyspace::Log, u64_key(log_id.index).to_vec()),
                ],
                false,
            )
            .map_err(write_logs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges() {
        assert_eq!(index_range(&(3..7)), Some((3, Some(7))));
        assert_eq!(index_range(&(3..=7)), Some((3, Some(8))));
        assert_eq!(index_range(&(..)), Some((0, None)));
        assert_eq!(index_range(&(5..=u64::MAX)), Some((5, None)));
        let excluded_max = (Bound::Excluded(u64::MAX), Bound::Unbounded);
        assert_eq!(index_range(&excluded_max), None);
    }
}
