//! The key-value seam under the Raft storage: four keyspaces, atomic batches, and an
//! explicit sync flag per batch.
//!
//! [`LogStore`](crate::LogStore) and [`StateMachine`](crate::StateMachine) are written once
//! against [`Backend`]; [`MemoryBackend`] and [`RocksBackend`](crate::RocksBackend) implement
//! it. A batch is atomic (all of it or none of it is visible, also across a crash); a batch
//! written with `sync = true` returns only once it, and every batch written before it, is on
//! stable storage.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::RaftStoreError;

/// The keyspaces of the Raft storage (one RocksDB column family each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Keyspace {
    /// Raft log entries by index.
    Log,
    /// The log's metadata: vote, last purged log id, committed log id, format.
    LogMeta,
    /// The state machine's metadata: last applied log id, membership, current snapshot.
    Machine,
    /// The state machine's table: applied payloads by log index.
    Table,
}

impl Keyspace {
    /// Every keyspace, in a fixed order.
    pub const ALL: [Keyspace; 4] = [
        Keyspace::Log,
        Keyspace::LogMeta,
        Keyspace::Machine,
        Keyspace::Table,
    ];

    /// The RocksDB column family name.
    pub fn name(self) -> &'static str {
        match self {
            Keyspace::Log => "raft_log",
            Keyspace::LogMeta => "raft_meta",
            Keyspace::Machine => "sm_meta",
            Keyspace::Table => "sm_table",
        }
    }
}

/// A key and its value.
pub type Pair = (Vec<u8>, Vec<u8>);

/// The pairs of one keyspace in memory, by key.
type Space = BTreeMap<Vec<u8>, Vec<u8>>;

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Puts `value` under `key`.
    Put(Keyspace, Vec<u8>, Vec<u8>),
    /// Deletes `key`.
    Delete(Keyspace, Vec<u8>),
    /// Deletes every key `>= from`, and `< to` if `to` is given.
    DeleteRange(Keyspace, Vec<u8>, Option<Vec<u8>>),
}

/// A key-value store with atomic, optionally synced batches.
///
/// All methods take `&self`: the log store, its readers and the state machine share one
/// backend.
pub trait Backend: Send + Sync + fmt::Debug + 'static {
    /// Writes `ops` atomically, in order. With `sync`, returns once the batch and every
    /// batch written before it are on stable storage.
    ///
    /// # Errors
    ///
    /// The backend's failure; nothing of the batch is visible then.
    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), RaftStoreError>;

    /// The value under `key`.
    ///
    /// # Errors
    ///
    /// The backend's failure.
    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, RaftStoreError>;

    /// Pairs with `from <= key` (and `key < to` if `to` is given), ascending, at most
    /// `limit`.
    ///
    /// # Errors
    ///
    /// The backend's failure.
    fn scan(
        &self,
        space: Keyspace,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Pair>, RaftStoreError>;

    /// The pair with the greatest key.
    ///
    /// # Errors
    ///
    /// The backend's failure.
    fn last(&self, space: Keyspace) -> Result<Option<Pair>, RaftStoreError>;

    /// How many batches were written with `sync = true` since the backend was opened: the
    /// number of syncs the storage asked for.
    fn syncs(&self) -> u64;
}

/// The [`Backend`] in memory: for tests and for nodes whose Raft state need not survive the
/// process. `sync` is counted and otherwise a no-op.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    spaces: Mutex<BTreeMap<Keyspace, Space>>,
    syncs: AtomicU64,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> Self {
        Self::default()
    }
}

fn range_bounds<'a>(from: &'a [u8], to: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    (
        Bound::Included(from),
        to.map_or(Bound::Unbounded, Bound::Excluded),
    )
}

impl Backend for MemoryBackend {
    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), RaftStoreError> {
        let mut spaces = self.spaces.lock();
        for op in ops {
            match op {
                WriteOp::Put(space, key, value) => {
                    spaces.entry(space).or_default().insert(key, value);
                }
                WriteOp::Delete(space, key) => {
                    spaces.entry(space).or_default().remove(&key);
                }
                WriteOp::DeleteRange(space, from, to) => {
                    let map = spaces.entry(space).or_default();
                    if to.as_ref().is_some_and(|to| to <= &from) {
                        continue;
                    }
                    let mut tail = map.split_off(&from);
                    if let Some(to) = to {
                        let mut kept = tail.split_off(&to);
                        map.append(&mut kept);
                    }
                    drop(tail);
                }
            }
        }
        if sync {
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, RaftStoreError> {
        Ok(self
            .spaces
            .lock()
            .get(&space)
            .and_then(|map| map.get(key).cloned()))
    }

    fn scan(
        &self,
        space: Keyspace,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Pair>, RaftStoreError> {
        if to.is_some_and(|to| to <= from) {
            return Ok(Vec::new());
        }
        let spaces = self.spaces.lock();
        let Some(map) = spaces.get(&space) else {
            return Ok(Vec::new());
        };
        Ok(map
            .range::<[u8], _>(range_bounds(from, to))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn last(&self, space: Keyspace) -> Result<Option<Pair>, RaftStoreError> {
        Ok(self
            .spaces
            .lock()
            .get(&space)
            .and_then(|map| map.last_key_value())
            .map(|(k, v)| (k.clone(), v.clone())))
    }

    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn put(space: Keyspace, k: u8) -> WriteOp {
        WriteOp::Put(space, vec![k], vec![k, k])
    }

    fn keys(b: &dyn Backend, space: Keyspace) -> Vec<u8> {
        b.scan(space, &[], None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k[0])
            .collect()
    }

    /// The contract every backend keeps; run on each of them.
    pub(crate) fn backend_contract(b: &dyn Backend) {
        let s = Keyspace::Log;
        assert_eq!(b.last(s).unwrap(), None);
        let syncs = b.syncs();
        b.write((1..=9).map(|k| put(s, k)).collect(), false)
            .unwrap();
        assert_eq!(b.syncs(), syncs, "an unsynced batch asks for no sync");
        b.write(vec![put(Keyspace::Table, 5)], true).unwrap();
        assert_eq!(b.syncs(), syncs + 1);
        assert_eq!(keys(b, s), (1..=9).collect::<Vec<_>>());
        assert_eq!(keys(b, Keyspace::Table), vec![5], "keyspaces are separate");
        assert_eq!(b.get(s, &[3]).unwrap(), Some(vec![3, 3]));
        assert_eq!(b.get(s, &[10]).unwrap(), None);
        assert_eq!(b.last(s).unwrap(), Some((vec![9], vec![9, 9])));

        // Scans: half-open, limited, empty when inverted.
        let got: Vec<u8> = b
            .scan(s, &[3], Some(&[6]), usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k[0])
            .collect();
        assert_eq!(got, vec![3, 4, 5]);
        assert_eq!(b.scan(s, &[3], None, 2).unwrap().len(), 2);
        assert!(b.scan(s, &[6], Some(&[3]), 10).unwrap().is_empty());

        // Deletions in one batch, in order.
        b.write(
            vec![
                WriteOp::DeleteRange(s, vec![2], Some(vec![4])),
                WriteOp::DeleteRange(s, vec![8], None),
                WriteOp::Delete(s, vec![5]),
                WriteOp::DeleteRange(s, vec![7], Some(vec![7])),
            ],
            false,
        )
        .unwrap();
        assert_eq!(keys(b, s), vec![1, 4, 6, 7]);
        assert_eq!(b.last(s).unwrap(), Some((vec![7], vec![7, 7])));
    }

    #[test]
    fn memory_backend_keeps_the_contract() {
        backend_contract(&MemoryBackend::new());
    }
}
