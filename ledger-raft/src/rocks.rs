//! [`RocksBackend`]: the Raft storage's own RocksDB database.
//!
//! # Format
//!
//! One RocksDB database directory (a node keeps it beside the ledger's store, e.g.
//! `raft/` next to `store/`) with these column families; `default` exists and stays empty.
//! Numbers in keys are `u64` big-endian; values are records of [`crate::codec`] (version
//! byte, then bincode-serde).
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `raft_log` | log index `u64` | the openraft `Entry` |
//! | `raft_meta` | `"format"` | format version `u32` big-endian (currently [`FORMAT_VERSION`]) |
//! | `raft_meta` | `"vote"` | the openraft `Vote` |
//! | `raft_meta` | `"purged"` | the last purged `LogId` |
//! | `raft_meta` | `"committed"` | the last committed `LogId` openraft reported, if any |
//! | `sm_meta` | `"applied"` | the last applied `LogId`, if any |
//! | `sm_meta` | `"membership"` | the last applied `StoredMembership` |
//! | `sm_meta` | `"snapshot"` | the current snapshot: sequence number, `SnapshotMeta`, data |
//! | `sm_table` | log index `u64` | the payload bytes applied at that index |
//!
//! # Recovery
//!
//! RocksDB replays its write-ahead log on open and never exposes part of a `WriteBatch`, so
//! the store holds a prefix of the batches written, and every batch that returned with
//! `sync = true` is in it. Opening an existing directory requires every column family above
//! and a supported `format`; missing column families are never created in an existing
//! database (they are reported as corruption). A database whose creation was interrupted
//! before `format` was written (all column families empty) is completed.
//!
//! # Durability
//!
//! A batch is one `WriteBatch`; `sync = true` sets RocksDB's `WriteOptions::sync`, which
//! fsyncs the write-ahead log after appending the batch. The WAL is sequential, so that sync
//! also covers every unsynced batch written before it (the state machine relies on this; see
//! [`crate::StateMachine`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{
    ColumnFamily, ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch,
    WriteOptions, DB,
};

use crate::backend::{Backend, Keyspace, Pair, WriteOp};
use crate::error::RaftStoreError;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

const FORMAT_KEY: &[u8] = b"format";

/// The [`Backend`] on RocksDB. Its format and durability rules are in the documentation of `rocks.rs` (a private module).
#[derive(Debug)]
pub struct RocksBackend {
    db: DB,
    syncs: AtomicU64,
}

impl RocksBackend {
    /// Opens the Raft store in `dir`, creating it if the directory is missing or empty.
    ///
    /// # Errors
    ///
    /// [`RaftStoreError::IncompatibleFormat`] for another format version;
    /// [`RaftStoreError::Corruption`] for a database missing a column family or its format
    /// marker; RocksDB failures (e.g. the directory is locked by another handle).
    pub fn open(dir: &Path) -> Result<Self, RaftStoreError> {
        let mut opts = Options::default();
        let existing = DB::list_cf(&Options::default(), dir).ok();
        match &existing {
            Some(names) => {
                for space in Keyspace::ALL {
                    if !names.iter().any(|n| n == space.name()) {
                        return Err(RaftStoreError::corruption(
                            format!("column family {}", space.name()),
                            "missing",
                        ));
                    }
                }
            }
            None => {
                opts.create_if_missing(true);
                opts.create_missing_column_families(true);
            }
        }
        let descriptors = Keyspace::ALL
            .iter()
            .map(|space| ColumnFamilyDescriptor::new(space.name(), Options::default()));
        let db = DB::open_cf_descriptors(&opts, dir, descriptors)?;
        let backend = Self {
            db,
            syncs: AtomicU64::new(0),
        };
        backend.check_format()?;
        Ok(backend)
    }

    fn check_format(&self) -> Result<(), RaftStoreError> {
        match self.get(Keyspace::LogMeta, FORMAT_KEY)? {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_slice())
                    .map(u32::from_be_bytes)
                    .map_err(|_| RaftStoreError::corruption("format marker", "not 4 bytes"))?;
                if found != FORMAT_VERSION {
                    return Err(RaftStoreError::IncompatibleFormat {
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
                Ok(())
            }
            None => {
                for space in Keyspace::ALL {
                    if self.last(space)?.is_some() {
                        return Err(RaftStoreError::corruption(
                            "format marker",
                            format!("missing, but {} holds data", space.name()),
                        ));
                    }
                }
                self.write(
                    vec![WriteOp::Put(
                        Keyspace::LogMeta,
                        FORMAT_KEY.to_vec(),
                        FORMAT_VERSION.to_be_bytes().to_vec(),
                    )],
                    true,
                )
            }
        }
    }

    fn cf(&self, space: Keyspace) -> Result<&ColumnFamily, RaftStoreError> {
        self.db.cf_handle(space.name()).ok_or_else(|| {
            RaftStoreError::corruption(format!("column family {}", space.name()), "missing")
        })
    }
}

impl Backend for RocksBackend {
    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), RaftStoreError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                WriteOp::Put(space, key, value) => batch.put_cf(self.cf(space)?, key, value),
                WriteOp::Delete(space, key) => batch.delete_cf(self.cf(space)?, key),
                WriteOp::DeleteRange(space, from, Some(to)) => {
                    if from < to {
                        batch.delete_range_cf(self.cf(space)?, from, to);
                    }
                }
                WriteOp::DeleteRange(space, from, None) => {
                    // No key bounds every key from above, so end the range at the greatest
                    // key there is and delete that key too. Each keyspace has one writer, so
                    // no key can arrive between this read and the batch.
                    if let Some((last, _)) = self.last(space)? {
                        if from <= last {
                            let cf = self.cf(space)?;
                            batch.delete_range_cf(cf, &from, &last);
                            batch.delete_cf(cf, &last);
                        }
                    }
                }
            }
        }
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(batch, &options)?;
        if sync {
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, RaftStoreError> {
        Ok(self.db.get_cf(self.cf(space)?, key)?)
    }

    fn scan(
        &self,
        space: Keyspace,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Pair>, RaftStoreError> {
        let mut out = Vec::new();
        if limit == 0 || to.is_some_and(|to| to <= from) {
            return Ok(out);
        }
        let iter = self.db.iterator_cf(
            self.cf(space)?,
            IteratorMode::From(from, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if to.is_some_and(|to| &*key >= to) {
                break;
            }
            out.push((key.into_vec(), value.into_vec()));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn last(&self, space: Keyspace) -> Result<Option<Pair>, RaftStoreError> {
        match self
            .db
            .iterator_cf(self.cf(space)?, IteratorMode::End)
            .next()
        {
            None => Ok(None),
            Some(item) => {
                let (key, value) = item?;
                Ok(Some((key.into_vec(), value.into_vec())))
            }
        }
    }

    fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rocks_backend_keeps_the_contract_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let backend = RocksBackend::open(dir.path()).unwrap();
            crate::backend::tests::backend_contract(&backend);
        }
        let backend = RocksBackend::open(dir.path()).unwrap();
        assert_eq!(
            backend.get(Keyspace::Log, &[4]).unwrap(),
            Some(vec![4, 4]),
            "written batches are found again"
        );
        assert_eq!(backend.syncs(), 0, "the count is per open handle");
    }

    #[test]
    fn rejects_another_format_version() {
        let dir = tempfile::tempdir().unwrap();
        {
            let backend = RocksBackend::open(dir.path()).unwrap();
            backend
                .write(
                    vec![WriteOp::Put(
                        Keyspace::LogMeta,
                        FORMAT_KEY.to_vec(),
                        2u32.to_be_bytes().to_vec(),
                    )],
                    true,
                )
                .unwrap();
        }
        let err = RocksBackend::open(dir.path()).unwrap_err();
        assert!(
            matches!(
                err,
                RaftStoreError::IncompatibleFormat {
                    found: 2,
                    supported: FORMAT_VERSION
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_second_handle_on_the_same_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = RocksBackend::open(dir.path()).unwrap();
        let err = RocksBackend::open(dir.path()).unwrap_err();
        assert!(matches!(err, RaftStoreError::Backend(_)), "{err}");
    }
}
