//! Test support: [`FaultyStore`], a wrapper that fails a chosen write or sync, and
//! [`overwrite_entry`], which tampers with a stored entry behind the store's back.
//!
//! Only with the `test-util` feature, which no production build should turn on: the module is
//! hidden from the documentation and exists for the tests, fuzz targets and benchmarks of the
//! ledger crates.
//!
//! ```
//! use std::num::NonZeroU64;
//! use ledger_store::testing::{Fault, FaultyStore};
//! use ledger_store::{EntryRecord, Group, MemoryStore, Store, StoreError};
//!
//! let store = FaultyStore::new(MemoryStore::new());
//! store.fail_write(NonZeroU64::MIN, Fault::NoSpace); // the next write fails
//! let group = Group { entries: vec![EntryRecord::new(1, b"x".to_vec())], ..Group::default() };
//! assert!(matches!(store.write_group(&group), Err(StoreError::NoSpace { .. })));
//! assert!(matches!(store.write_group(&group), Err(StoreError::Poisoned { .. })));
//! assert_eq!(store.state().last_seqno, 0);
//! ```

use std::num::NonZeroU64;
use std::ops::RangeInclusive;
use std::path::Path;

use ledger_merkle::{Tile, TileId, TileStore, TileStoreError};
use parking_lot::Mutex;

#[cfg(feature = "rocksdb")]
use crate::RocksStore;
use crate::{BackupInfo, Group, GroupTicket, Store, StoreError, StoreState, TableVersion};

/// The error an injected fault produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// An I/O error ([`StoreError::Io`] with kind `Other`).
    Io,
    /// A full disk ([`StoreError::NoSpace`]).
    NoSpace,
}

impl Fault {
    fn error(self, op: &str) -> StoreError {
        match self {
            Fault::Io => StoreError::Io {
                op: format!("{op} (injected fault)"),
                source: std::io::Error::other("injected I/O error"),
            },
            Fault::NoSpace => StoreError::NoSpace {
                detail: format!("{op} (injected fault)"),
            },
        }
    }
}

/// What [`FaultyStore::count`] counts.
#[derive(Clone, Copy, Debug)]
enum Counted {
    Write,
    Sync,
}

#[derive(Debug, Default)]
struct Faults {
    writes: u64,
    syncs: u64,
    fail_write_at: Option<(u64, Fault)>,
    fail_sync_at: Option<(u64, Fault)>,
    poison: Option<String>,
}

/// Wraps a [`Store`] and fails the Nth write or sync on request.
///
/// * A *write* is a call of [`Store::append_group`] (also through [`Store::write_group`]). A
///   failing write reaches the inner store not at all, as when `write(2)` fails.
/// * A *sync* is a call of [`Store::await_commit`] (which [`Store::write_group`] makes for
///   every commit group) or [`Store::sync`]. A failing sync happens after the group was
///   appended to the inner store, as when `fsync(2)` fails: the group may or may not survive
///   a reopen.
///
/// Either failure poisons the wrapper: later writes and syncs fail with
/// [`StoreError::Poisoned`], reads go on. Reopen the inner store (see
/// [`FaultyStore::into_inner`]) to recover. With no fault armed the wrapper is transparent.
/// Reads are passed to the inner store as they are, so its range reads follow the one rule
/// for empty ranges of [`Store`] (the inner store applies it).
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    faults: Mutex<Faults>,
    /// With [`FaultyStore::recording`]: every group appended, and how many of them an
    /// explicit [`Store::sync`] has made durable.
    journal: Option<Mutex<Journal>>,
}

/// What a power cut left: see [`FaultyStore::power_cut`].
#[derive(Debug)]
pub struct PowerCut {
    /// A fresh memory store holding exactly the groups synced before the cut, reopened: any
    /// trailing non-commit groups discarded.
    pub store: crate::MemoryStore,
    /// What that reopen reports.
    pub recovery: crate::Recovery,
    /// The groups `store` holds, to hand to the next [`FaultyStore::recording`].
    pub history: Vec<Group>,
}

/// The groups a recording [`FaultyStore`] has seen, for [`FaultyStore::power_cut`].
#[derive(Debug, Default)]
struct Journal {
    groups: Vec<Group>,
    synced: usize,
}

impl<S: Store> FaultyStore<S> {
    /// Wraps `inner` with no fault armed.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            faults: Mutex::new(Faults::default()),
            journal: None,
        }
    }

    /// Wraps `inner`, whose contents are the groups of `history` (empty for a new store, or
    /// the [`PowerCut::history`] of the cut that left `inner`), and records every group
    /// appended, so that [`FaultyStore::power_cut`] can model a machine crash in
    /// [`crate::Durability::Buffered`] mode: a group is durable only once an explicit
    /// [`Store::sync`] follows it (`await_commit` does not sync), and a power cut loses
    /// everything after the last sync.
    pub fn recording(inner: S, history: Vec<Group>) -> Self {
        let synced = history.len();
        Self {
            journal: Some(Mutex::new(Journal {
                groups: history,
                synced,
            })),
            ..Self::new(inner)
        }
    }

    /// What a power cut now leaves, as a reopen finds it.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] unless the wrapper was made with
    /// [`FaultyStore::recording`]; a failure replaying the groups.
    pub fn power_cut(&self) -> Result<PowerCut, StoreError> {
        let journal = self
            .journal
            .as_ref()
            .ok_or_else(|| StoreError::Unsupported {
                what: "a power cut of a store that does not record its groups".into(),
            })?;
        let journal = journal.lock();
        let synced = journal.groups.get(..journal.synced).unwrap_or_default();
        // A reopen discards what follows the last commit group.
        let kept = synced.iter().rposition(|g| g.commit).map_or(0, |i| i + 1);
        let history = synced.get(..kept).unwrap_or_default().to_vec();
        let store = crate::MemoryStore::new();
        for group in synced {
            let ticket = store.append_group(group)?;
            if group.commit {
                store.await_commit(ticket)?;
            }
        }
        let recovery = store.simulate_crash();
        Ok(PowerCut {
            store,
            recovery,
            history,
        })
    }

    fn record(&self, group: &Group) {
        if let Some(journal) = &self.journal {
            journal.lock().groups.push(group.clone());
        }
    }

    /// Makes the `nth` write from now (1 = the next) fail with `fault`.
    pub fn fail_write(&self, nth: NonZeroU64, fault: Fault) {
        let mut f = self.faults.lock();
        f.fail_write_at = Some((f.writes + nth.get(), fault));
    }

    /// Makes the `nth` sync from now (1 = the next) fail with `fault`.
    pub fn fail_sync(&self, nth: NonZeroU64, fault: Fault) {
        let mut f = self.faults.lock();
        f.fail_sync_at = Some((f.syncs + nth.get(), fault));
    }

    /// Whether an injected fault has poisoned the wrapper.
    pub fn is_poisoned(&self) -> bool {
        self.faults.lock().poison.is_some()
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the store, e.g. to close and reopen it.
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn check(&self) -> Result<(), StoreError> {
        match &self.faults.lock().poison {
            Some(cause) => Err(StoreError::Poisoned {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Counts a write or a sync; returns the injected failure if this one is armed.
    fn count(&self, what: Counted) -> Result<(), StoreError> {
        let mut guard = self.faults.lock();
        let f = &mut *guard;
        if let Some(cause) = &f.poison {
            return Err(StoreError::Poisoned {
                cause: cause.clone(),
            });
        }
        let (count, armed, op) = match what {
            Counted::Write => (&mut f.writes, f.fail_write_at, "write"),
            Counted::Sync => (&mut f.syncs, f.fail_sync_at, "sync"),
        };
        *count += 1;
        let n = *count;
        if let Some((_, fault)) = armed.filter(|(at, _)| *at == n) {
            let err = fault.error(op);
            f.poison = Some(err.to_string());
            return Err(err);
        }
        Ok(())
    }
}

impl<S: Store> TileStore for FaultyStore<S> {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        self.inner.load_tile(id)
    }
}

impl<S: Store> Store for FaultyStore<S> {
    fn append_group(&self, group: &Group) -> Result<GroupTicket, StoreError> {
        self.count(Counted::Write)?;
        self.record(group);
        self.inner.append_group(group)
    }

    fn append_group_owned(
        &self,
        group: &mut Group,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<GroupTicket, StoreError> {
        self.count(Counted::Write)?;
        self.record(group);
        self.inner.append_group_owned(group, spare)
    }

    fn await_commit(&self, ticket: GroupTicket) -> Result<(), StoreError> {
        self.count(Counted::Sync)?;
        self.inner.await_commit(ticket)
    }

    fn state(&self) -> StoreState {
        self.inner.state()
    }

    fn entry(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.entry(seqno)
    }

    fn entries(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.entries(seqnos, limit)
    }

    fn collection_seqnos(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.inner.collection_seqnos(collection, seqnos, limit)
    }

    fn collection_seqnos_rev(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.inner.collection_seqnos_rev(collection, seqnos, limit)
    }

    fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, StoreError> {
        self.inner.collections(after, limit)
    }

    fn table_get(
        &self,
        table: &str,
        key: &[u8],
        as_of: u64,
    ) -> Result<Option<TableVersion>, StoreError> {
        self.inner.table_get(table, key, as_of)
    }

    fn table_history(
        &self,
        table: &str,
        key: &[u8],
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<TableVersion>, StoreError> {
        self.inner.table_history(table, key, seqnos, limit)
    }

    fn table_scan(
        &self,
        table: &str,
        as_of: u64,
        after_key: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, TableVersion)>, StoreError> {
        self.inner.table_scan(table, as_of, after_key, limit)
    }

    fn signature(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.signature(seqno)
    }

    fn signature_after(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.signature_after(seqno)
    }

    fn signature_at_or_before(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        self.inner.signature_at_or_before(seqno)
    }

    fn signatures(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.inner.signatures(seqnos, limit)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(key)
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.count(Counted::Sync)?;
        self.inner.sync()?;
        if let Some(journal) = &self.journal {
            let mut journal = journal.lock();
            journal.synced = journal.groups.len();
        }
        Ok(())
    }

    fn backup(&self, dir: &Path) -> Result<BackupInfo, StoreError> {
        self.check()?;
        self.inner.backup(dir)
    }
}

/// What [`overwrite_entry`] does with the SHA-256 digest the store keeps beside each entry.
#[cfg(feature = "rocksdb")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryDigest {
    /// Keep the stored digest: reads of the entry then fail with
    /// [`StoreError::Corruption`] naming it, as after bit rot on disk.
    Keep,
    /// Store the digest of the new bytes: the store serves them as genuine, as after
    /// deliberate tampering by someone who knows the format. Only checks above the store
    /// (leaves, signed roots) can tell.
    Recompute,
}

/// Replaces the bytes of entry `seqno` in `store` with `bytes`, in one synced write that
/// bypasses every rule of the store (no group, no index rows, nothing else changes). For
/// tamper and audit tests only.
///
/// ```
/// use ledger_store::testing::{overwrite_entry, EntryDigest};
/// use ledger_store::{EntryRecord, Group, RocksStore, Store, StoreConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let (store, _) = RocksStore::open(dir.path(), StoreConfig::default())?;
/// let group = Group {
///     entries: vec![EntryRecord::new(1, b"genuine".to_vec())],
///     commit: true,
///     ..Group::default()
/// };
/// store.write_group(&group)?;
///
/// overwrite_entry(&store, 1, b"forged", EntryDigest::Recompute)?;
/// assert_eq!(store.entry(1)?, Some(b"forged".to_vec()));
/// overwrite_entry(&store, 1, b"rotten", EntryDigest::Keep)?;
/// assert!(store.entry(1).unwrap_err().is_corruption());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
///
/// [`StoreError::ReadOnly`] for a read-only handle, [`StoreError::Poisoned`] for a poisoned
/// one; [`StoreError::Corruption`] if there is no entry `seqno` (or its stored value is
/// shorter than a digest); storage failures.
#[cfg(feature = "rocksdb")]
pub fn overwrite_entry(
    store: &RocksStore,
    seqno: u64,
    bytes: &[u8],
    digest: EntryDigest,
) -> Result<(), StoreError> {
    let what = || format!("entry {seqno}");
    let old = store
        .raw_entry_value(seqno)?
        .ok_or_else(|| StoreError::corruption(what(), "missing, so it cannot be overwritten"))?;
    let kept: [u8; 32] = match digest {
        EntryDigest::Recompute => crate::sha256(bytes),
        EntryDigest::Keep => old
            .get(..32)
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| StoreError::corruption(what(), "value shorter than its digest"))?,
    };
    let mut value = Vec::with_capacity(32 + bytes.len());
    value.extend_from_slice(&kept);
    value.extend_from_slice(bytes);
    store.put_raw_entry_value(seqno, &value)
}
