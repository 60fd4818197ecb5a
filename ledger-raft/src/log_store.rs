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
//! On a multi-thread tokio runtime `append` writes and syncs on tokio's blocking threads and
//! awaits them, so that the sync does not hold a runtime worker: openraft 0.9 awaits the flush
//! before RaftCore goes on either way, but the worker stays free for the other tasks (another
//! node's Raft in the same process, replication, the network). Measured with
//! `profile_cluster` (one client, 3 nodes): the primary's synced log write took 433 µs
//! (median) when it held a worker and 183 µs on a blocking thread; commit p50 went from 1.1
//! to 1.0 ms. On a current-thread runtime (the deterministic simulation) it writes inline.
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
//! That read also stops before the entry that would take the batch past
//! [`REPLICATION_BATCH_BYTES`] (1 MiB of payloads, plus 64 bytes per entry; the first entry
//! is always returned). openraft 0.9
//! bounds an `AppendEntries` only by its number of entries (`max_payload_entries`), and a
//! ledger group can be hundreds of kilobytes: a follower that fell behind was sent tens of
//! megabytes at once, and while its Raft wrote them (hundreds of milliseconds) it heard no
//! heartbeat and called an election, under a load the cluster otherwise kept up with.
//!
//! **The in-memory tail.** A log store keeps the newest entries it stored (up to
//! [`TAIL_BYTES`], 32 MiB counted as payload bytes plus 64 per entry) in memory, shared by its
//! clones, and serves any read that starts inside that tail from it: replication to each
//! follower and the state machine's apply read entries just appended, and would otherwise each
//! read them back from the store and decode them again. Payloads are shared bytes, so a read
//! copies none. The tail is exactly the stored log's suffix because every change to the log
//! goes through a log store of this handle: an append extends it once the batch is written
//! (and restarts it if the batch does not follow its last entry), a truncation drops entries
//! from the cut on, a purge drops entries up to the purge point, and it drops its oldest
//! entries past its size. It starts empty at open, so reads before the first append after a
//! restart go to the store. Two log stores opened separately over one backend would not see
//! each other's writes; a node has one.
//!
//! # Purging
//!
//! openraft 0.9 purges a follower's log up to a snapshot it was sent as soon as it hands the
//! snapshot to the state machine, before the install is done: if the install then fails (say
//! the node's ledger disk fails), the log is purged past anything the state machine holds,
//! and at the next start openraft finds the purge point past its current snapshot and panics
//! (`purge_upto <= snapshot_last_log_id`); the node could never start again. A log store with
//! a [`PurgeFence`] ([`LogStore::with_purge_fence`], which ledger nodes use) therefore purges
//! no further than the newest log id a recorded snapshot covers, and records that as the
//! purge point; what it keeps beyond is only entries openraft no longer reads (keeping them
//! is harmless, as a lost purge is), and a later purge removes them. A purge to or before the
//! recorded point changes nothing.
//!
//! # Recovery
//!
//! The log is what the backend holds, with one repair: `get_log_state` (which openraft calls
//! when it starts) first purges through the fence if entries are stored at or before the
//! fence but none at the fence itself. A purge
//! the fence held during a snapshot install leaves the entries the node had before the
//! snapshot (through some index `L`), and once the install is recorded the node appends the
//! entries after the snapshot's last log id `S > L + 1`: the stored log then has a hole
//! (`L`, `S`] until the next purge. openraft loads the log ids of everything after the last
//! purge point at start and refused to start a node killed in that window ("try to get log
//! at index L+1 but got None"; the cluster test of `ledger-cli` found it). Purging through the
//! recorded snapshot removes the stale entries, and nothing openraft needs: the snapshot
//! covers them. (A log that stores the entry at the fence has no such hole: a leader that
//! built its snapshot keeps the entries behind it that `max_in_snapshot_log_to_keep` asks.) `get_log_state` then derives the last log id from the greatest stored index
//! (or, with no entries left, the last purged log id).

use std::collections::VecDeque;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use parking_lot::Mutex;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader, StorageIOError,
};

use crate::backend::{Backend, Keyspace, WriteOp};
use crate::codec::{decode, encode, key_u64, u64_key};
use crate::error::RaftStoreError;
use crate::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// The most bytes of entries (payloads plus 64 per entry) one `limited_get_log_entries` read
/// returns, so one `AppendEntries` carries, unless its first entry alone is larger. See
/// # Reads.
pub const REPLICATION_BATCH_BYTES: usize = 1 << 20;

const VOTE: &[u8] = b"vote";
const PURGED: &[u8] = b"purged";
const COMMITTED: &[u8] = b"committed";

/// How many bytes of entries (payloads and a fixed allowance for the rest) the in-memory
/// tail of the log keeps (see # Reads).
pub const TAIL_BYTES: usize = 32 << 20;

/// What one entry counts against [`TAIL_BYTES`] besides its payload.
const ENTRY_ALLOWANCE: usize = 64;

/// openraft's log and vote storage over a [`Backend`]. Cloning gives another handle on the
/// same log (openraft's log reader is such a clone), sharing its in-memory tail.
#[derive(Clone, Debug)]
pub struct LogStore {
    backend: Arc<dyn Backend>,
    tail: Arc<Mutex<Tail>>,
    fence: Option<PurgeFence>,
}

/// The newest log id a durable snapshot of the state machine covers, shared by the state
/// machine (which advances it once a snapshot is recorded) and its log store (which purges no
/// further; see the module documentation, # Purging).
#[derive(Clone, Debug, Default)]
pub struct PurgeFence(Arc<Mutex<Option<LogId>>>);

impl PurgeFence {
    /// A fence at `at` (`None`: nothing may be purged yet).
    pub fn new(at: Option<LogId>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }

    /// Moves the fence to `to` if that is later.
    pub fn advance(&self, to: Option<LogId>) {
        let mut at = self.0.lock();
        if to > *at {
            *at = to;
        }
    }

    /// Where the fence is.
    pub fn get(&self) -> Option<LogId> {
        *self.0.lock()
    }
}

/// The newest entries of the log, consecutive, ending at the last one stored (# Reads).
#[derive(Debug)]
struct Tail {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// What `bytes` may reach.
    limit: usize,
}

fn entry_bytes(entry: &Entry) -> usize {
    ENTRY_ALLOWANCE
        + match &entry.payload {
            EntryPayload::Normal(payload) => payload.0.len(),
            EntryPayload::Blank | EntryPayload::Membership(_) => 0,
        }
}

impl Tail {
    /// The index of the first entry held, if any.
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }

    /// Records entries just stored after the last one held (or restarts the tail at them).
    fn extend(&mut self, entries: &[Entry]) {
        for entry in entries {
            let follows = self
                .entries
                .back()
                .is_some_and(|last| last.log_id.index.checked_add(1) == Some(entry.log_id.index));
            if !follows {
                self.entries.clear();
                self.bytes = 0;
            }
            self.bytes += entry_bytes(entry);
            self.entries.push_back(entry.clone());
        }
        while self.bytes > self.limit {
            match self.entries.pop_front() {
                Some(entry) => self.bytes -= entry_bytes(&entry),
                None => break,
            }
        }
    }

    /// Forgets the entries from `index` on (a truncation).
    fn truncate(&mut self, index: u64) {
        while self.entries.back().is_some_and(|e| e.log_id.index >= index) {
            if let Some(entry) = self.entries.pop_back() {
                self.bytes -= entry_bytes(&entry);
            }
        }
    }

    /// Forgets the entries up to `index` (a purge).
    fn purge(&mut self, index: u64) {
        while self
            .entries
            .front()
            .is_some_and(|e| e.log_id.index <= index)
        {
            if let Some(entry) = self.entries.pop_front() {
                self.bytes -= entry_bytes(&entry);
            }
        }
    }

    /// The entries of `from..to` if the tail holds every stored one (`from` at or after its
    /// first entry); `None` if the store must be read.
    fn range(&self, from: u64, to: Option<u64>, max_bytes: usize) -> Option<Vec<Entry>> {
        let first = self.first()?;
        if from < first {
            return None;
        }
        let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut bytes = 0;
        for entry in self.entries.iter().skip(skip) {
            if to.is_some_and(|to| entry.log_id.index >= to) {
                break;
            }
            let size = entry_bytes(entry);
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(entry.clone());
        }
        Some(out)
    }
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

/// Runs `f` (blocking storage work) on tokio's blocking threads, or right here on a
/// current-thread runtime: there the deterministic simulation runs, and a blocking thread
/// would finish at a real time its paused clock does not know.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RaftStoreError> + Send + 'static,
) -> Result<T, RaftStoreError> {
    if tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::CurrentThread
    {
        return f();
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RaftStoreError::Task {
            detail: e.to_string(),
        })?
}

fn read_logs(err: RaftStoreError) -> StorageError {
    storage_error(ErrorSubject::Logs, ErrorVerb::Read, err)
}

fn write_logs(err: RaftStoreError) -> StorageError {
    storage_error(ErrorSubject::Logs, ErrorVerb::Write, err)
}

/// A stored log row's entry, which must name the row's index.
fn decode_row(key: &[u8], bytes: &[u8]) -> Result<Entry, RaftStoreError> {
    let index = key_u64("log index", key)?;
    let entry: Entry = decode(|| format!("log entry {index}"), bytes)?;
    if entry.log_id.index != index {
        return Err(RaftStoreError::corruption(
            format!("log entry {index}"),
            format!("holds the entry of index {}", entry.log_id.index),
        ));
    }
    Ok(entry)
}

impl LogStore {
    /// The log store over `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self::with_tail_bytes(backend, TAIL_BYTES)
    }

    /// The log store over `backend`, its in-memory tail holding up to `tail_bytes` (payload
    /// bytes plus 64 per entry; 0 keeps none, and every read goes to the store).
    pub fn with_tail_bytes(backend: Arc<dyn Backend>, tail_bytes: usize) -> Self {
        Self {
            backend,
            tail: Arc::new(Mutex::new(Tail {
                entries: VecDeque::new(),
                bytes: 0,
                limit: tail_bytes,
            })),
            fence: None,
        }
    }

    /// This log store, purging no further than `fence` (see # Purging).
    pub fn with_purge_fence(mut self, fence: PurgeFence) -> Self {
        self.fence = Some(fence);
        self
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
        if let Some(entries) = self.tail.lock().range(from, to, usize::MAX) {
            return Ok(entries);
        }
        let to = to.map(u64_key);
        let rows = self.backend.scan(
            Keyspace::Log,
            &u64_key(from),
            to.as_ref().map(|k| k.as_slice()),
            usize::MAX,
        )?;
        rows.iter()
            .map(|(key, bytes)| decode_row(key, bytes))
            .collect()
    }

    /// What `limited_get_log_entries` returns (see # Reads): the consecutive entries from
    /// `start` on, before `end`, stopping before the one that would take the encoded total
    /// past [`REPLICATION_BATCH_BYTES`] (the first is always taken), counted as the tail
    /// counts them so that the tail and the store return the same batches.
    fn replication_batch(&self, start: u64, end: u64) -> Result<Vec<Entry>, RaftStoreError> {
        const CHUNK: usize = 16;
        if let Some(entries) = self
            .tail
            .lock()
            .range(start, Some(end), REPLICATION_BATCH_BYTES)
        {
            return Ok(entries);
        }
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next = start;
        while next < end {
            let rows =
                self.backend
                    .scan(Keyspace::Log, &u64_key(next), Some(&u64_key(end)), CHUNK)?;
            let full = rows.len() == CHUNK;
            for (key, value) in rows {
                if key_u64("log index", &key)? != next {
                    return Ok(out);
                }
                let entry = decode_row(&key, &value)?;
                let size = entry_bytes(&entry);
                if !out.is_empty() && bytes + size > REPLICATION_BATCH_BYTES {
                    return Ok(out);
                }
                bytes += size;
                out.push(entry);
                next += 1;
            }
            if !full {
                break;
            }
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
        self.replication_batch(start, end).map_err(read_logs)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.purge_to_fence().map_err(write_logs)?;
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut ops = Vec::with_capacity(entries.len());
        for entry in &entries {
            let bytes = encode("log entry", entry).map_err(write_logs)?;
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
        let backend = self.backend.clone();
        match blocking(move || backend.write(ops, true)).await {
            Ok(()) => {
                self.tail.lock().extend(&entries);
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
            .map_err(write_logs)?;
        self.tail.lock().truncate(log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let log_id = match self.fence.as_ref().map(PurgeFence::get) {
            None => log_id,
            Some(Some(fence)) if fence.index < log_id.index => {
                tracing::debug!(%log_id, %fence, "purge held at the snapshot fence");
                fence
            }
            Some(Some(_)) => log_id,
            Some(None) => {
                tracing::debug!(%log_id, "purge held: no snapshot recorded yet");
                return Ok(());
            }
        };
        self.purge_through(log_id).map_err(write_logs)
    }
}

impl LogStore {
    /// Deletes the entries through `log_id` and records it as the last purged, in one batch,
    /// unless the log is purged that far already.
    fn purge_through(&self, log_id: LogId) -> Result<(), RaftStoreError> {
        let purged: Option<LogId> = self.meta(PURGED)?;
        if purged.is_some_and(|p| p.index >= log_id.index) {
            return Ok(());
        }
        tracing::debug!(%log_id, "purge the raft log up to this index");
        let purged = encode("last purged log id", &log_id)?;
        self.backend.write(
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
        )?;
        self.tail.lock().purge(log_id.index);
        Ok(())
    }

    /// Completes a purge the fence held during a snapshot install, if it left a hole: entries
    /// stored at or before the fence, but none at the fence itself (see # Recovery).
    fn purge_to_fence(&self) -> Result<(), RaftStoreError> {
        let Some(Some(fence)) = self.fence.as_ref().map(PurgeFence::get) else {
            return Ok(());
        };
        let first = self.backend.scan(Keyspace::Log, &u64_key(0), None, 1)?;
        let stale = match first.first() {
            Some((key, _)) => key_u64("log index", key)? <= fence.index,
            None => false,
        };
        if stale
            && self
                .backend
                .get(Keyspace::Log, &u64_key(fence.index))?
                .is_none()
        {
            tracing::info!(%fence, "purging the entries a snapshot install left behind it");
            self.purge_through(fence)?;
        }
        Ok(())
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

    fn blank(term: u64, index: u64) -> Entry {
        Entry {
            log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(term, 1), index),
            payload: EntryPayload::Blank,
        }
    }

    /// The store a node killed after a snapshot install leaves when the fence held the
    /// install's purge: its old entries 1..=5, then the entries after the snapshot's 20.
    #[tokio::test]
    async fn a_purge_held_by_the_fence_is_completed_at_start_so_the_log_has_no_hole() {
        let backend: Arc<dyn Backend> = Arc::new(crate::MemoryBackend::new());
        let rows = (1..=5)
            .map(|i| blank(1, i))
            .chain((21..=23).map(|i| blank(2, i)))
            .map(|e| {
                WriteOp::Put(
                    Keyspace::Log,
                    u64_key(e.log_id.index).to_vec(),
                    encode("e", &e).unwrap(),
                )
            })
            .collect();
        backend.write(rows, true).unwrap();
        let snapshot = blank(2, 20).log_id;

        let mut log =
            LogStore::new(backend.clone()).with_purge_fence(PurgeFence::new(Some(snapshot)));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(snapshot));
        assert_eq!(state.last_log_id, Some(blank(2, 23).log_id));
        // Everything after the purge point is there, consecutive, as openraft loads it.
        let entries = log.try_get_log_entries(..).await.unwrap();
        let indexes: Vec<u64> = entries.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, vec![21, 22, 23]);

        // Without a recorded snapshot nothing is purged.
        let backend: Arc<dyn Backend> = Arc::new(crate::MemoryBackend::new());
        let row = blank(1, 1);
        backend
            .write(
                vec![WriteOp::Put(
                    Keyspace::Log,
                    u64_key(1).to_vec(),
                    encode("e", &row).unwrap(),
                )],
                true,
            )
            .unwrap();
        let mut log = LogStore::new(backend).with_purge_fence(PurgeFence::new(None));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, None);
        assert_eq!(state.last_log_id, Some(row.log_id));
    }
}
