//! Durable bytes for the ledger: a storage trait, a RocksDB backend, a memory backend, group
//! commit, crash recovery and backup.
//!
//! The engine (`ledger-core`) sequences transactions and hands this crate [`Group`]s: the
//! transactions' serialized entries with their digests, the per-collection index rows, versions
//! of keyed tables, Merkle tree [`ledger_merkle::Tile`]s, signature records and private
//! metadata. The store writes each group atomically, serves range and point reads over all of
//! it, and on reopening after a crash yields exactly the state of the last *commit group*:
//! nothing of a partially written group, and nothing written after the last commit group, is
//! ever visible. It knows nothing of what entries, signatures or metadata mean.
//!
//! * [`RocksStore`]: the on-disk store (see the [`rocks`] module for its format, recovery
//!   and durability).
//! * [`MemoryStore`]: the same contract in memory, for tests and ephemeral ledgers.
//!
//! With the `test-util` feature (off by default, for tests only) a hidden `testing` module
//! adds `FaultyStore`, which wraps any store and fails a chosen write or sync, and
//! `overwrite_entry`, which rewrites a stored entry behind the store's back.
//!
//! # Example
//!
//! ```
//! use ledger_store::{EntryRecord, Group, RocksStore, Store, StoreConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let (store, recovery) = RocksStore::open(dir.path(), StoreConfig::default())?;
//! assert_eq!(recovery.committed_seqno, 0);
//!
//! let bytes = b"hello".to_vec();
//! let group = Group {
//!     entries: vec![EntryRecord::new(1, bytes.clone())],
//!     collection_rows: vec![("greetings".into(), 1)],
//!     commit: true,
//!     ..Group::default()
//! };
//! store.write_group(&group)?;
//! assert_eq!(store.entry(1)?, Some(bytes));
//! assert_eq!(store.collection_seqnos("greetings", 1..=10, 100)?, vec![1]);
//! drop(store);
//!
//! // Reopening finds the committed group again.
//! let (store, recovery) = RocksStore::open(dir.path(), StoreConfig::default())?;
//! assert_eq!(recovery.committed_seqno, 1);
//! assert_eq!(recovery.discarded, None);
//! assert_eq!(store.state().last_seqno, 1);
//! # Ok(())
//! # }
//! ```

pub mod config;
pub mod error;
#[cfg(feature = "rocksdb")]
mod keys;
pub mod memory;
mod range;
#[cfg(feature = "rocksdb")]
pub mod rocks;
// Test support that tampers with stores: only with the `test-util` feature, for tests.
#[cfg(feature = "test-util")]
#[doc(hidden)]
pub mod testing;
mod validate;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use config::{Durability, StoreConfig};
pub use error::{RocksErrorKind, StoreError};
pub use memory::MemoryStore;
#[cfg(feature = "rocksdb")]
pub use rocks::RocksStore;

/// A serialized transaction at `seqno`, with the SHA-256 digest of its bytes.
///
/// Only [`EntryRecord::new`] sets the digest, from the bytes, and neither can be changed
/// afterwards: a record's digest always matches its bytes, so the store takes it as given
/// when writing (the engine needs the digest for its Merkle leaf anyway, and the bytes are
/// hashed once). The store keeps the digest beside the bytes and checks it on every read, so
/// bytes damaged at rest are reported as [`StoreError::Corruption`] naming the seqno, never
/// served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRecord {
    /// The transaction's seqno (>= 1).
    pub seqno: u64,
    digest: [u8; 32],
    bytes: Vec<u8>,
}

impl EntryRecord {
    /// An entry whose digest is computed from `bytes`.
    pub fn new(seqno: u64, bytes: Vec<u8>) -> Self {
        Self {
            seqno,
            digest: sha256(&bytes),
            bytes,
        }
    }

    /// An entry whose `digest` the caller has just computed from `bytes` (the RocksDB backend
    /// checking a stored entry).
    #[cfg(feature = "rocksdb")]
    pub(crate) fn hashed(seqno: u64, digest: [u8; 32], bytes: Vec<u8>) -> Self {
        Self {
            seqno,
            digest,
            bytes,
        }
    }

    /// SHA-256 of the bytes.
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The serialized transaction.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The digest and the bytes, taking the record apart.
    pub fn into_parts(self) -> ([u8; 32], Vec<u8>) {
        (self.digest, self.bytes)
    }
}

/// One write to a versioned keyed table: `key` of `table` has `value` as of `seqno`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableWrite {
    /// The table's name.
    pub table: String,
    /// The key within the table.
    pub key: Vec<u8>,
    /// The transaction that wrote it.
    pub seqno: u64,
    /// The new value, or `None` for a removal (a tombstone).
    pub value: Option<Vec<u8>>,
}

/// Everything one atomic write adds to the store.
///
/// Rules checked by [`Store::append_group`] (violations are [`StoreError::InvalidGroup`] and
/// write nothing):
///
/// * `entries` have contiguous seqnos starting at the store's `last_seqno + 1` (each record's
///   digest matches its bytes by construction). They may be empty (a *meta-only* group).
/// * Every seqno in `collection_rows`, `table_writes` and `signatures` lies within the
///   entries' seqnos, or, for a meta-only group, in `1..=last_seqno`.
///
/// A group with `commit = true` is a *commit group*: it makes every seqno up to the store's
/// `last_seqno` after the group the committed prefix, which survives any later crash (in
/// [`Durability::Fsync`] mode once the write returns). Everything written after the last
/// commit group is discarded by recovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Group {
    /// New transactions, contiguous, continuing the store's `last_seqno`.
    pub entries: Vec<EntryRecord>,
    /// `(collection, seqno)` index rows. Names are shared, so that a writer naming the same
    /// collection in many rows allocates it once.
    pub collection_rows: Vec<(Arc<str>, u64)>,
    /// Versions of keyed tables.
    pub table_writes: Vec<TableWrite>,
    /// Merkle tree tiles in their new state (full or partial); each replaces the stored tile
    /// with the same id.
    pub tiles: Vec<ledger_merkle::Tile>,
    /// Opaque signature records by seqno.
    pub signatures: Vec<(u64, Vec<u8>)>,
    /// Private metadata: `Some` puts a value, `None` deletes the key.
    pub meta: Vec<(String, Option<Vec<u8>>)>,
    /// Whether this is a commit group.
    pub commit: bool,
}

/// One version of a table key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableVersion {
    /// The transaction that wrote this version.
    pub seqno: u64,
    /// The value, or `None` if the key was removed at `seqno`.
    pub value: Option<Vec<u8>>,
}

/// The extent of a store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreState {
    /// Seqno of the last entry written (0 for an empty store).
    pub last_seqno: u64,
    /// The last seqno of the committed prefix: `last_seqno` as of the last commit group
    /// appended. Everything above it would be discarded by recovery after a crash.
    pub committed_seqno: u64,
}

/// What opening a store found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The committed prefix the store now holds (equal to its `last_seqno`).
    pub committed_seqno: u64,
    /// Seqnos written after the last commit group and discarded, if any were.
    pub discarded: Option<RangeInclusive<u64>>,
}

/// Identifies an appended group for [`Store::await_commit`]. Tickets grow with append order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupTicket(pub(crate) u64);

impl Group {
    /// Whether the group holds nothing (and is not a commit group).
    pub fn is_empty(&self) -> bool {
        let Group {
            entries,
            collection_rows,
            table_writes,
            tiles,
            signatures,
            meta,
            commit,
        } = self;
        entries.is_empty()
            && collection_rows.is_empty()
            && table_writes.is_empty()
            && tiles.is_empty()
            && signatures.is_empty()
            && meta.is_empty()
            && !commit
    }

    /// Empties the group, keeping its vectors' capacity.
    pub fn clear(&mut self) {
        let Group {
            entries,
            collection_rows,
            table_writes,
            tiles,
            signatures,
            meta,
            commit,
        } = self;
        entries.clear();
        collection_rows.clear();
        table_writes.clear();
        tiles.clear();
        signatures.clear();
        meta.clear();
        *commit = false;
    }
}

impl GroupTicket {
    /// The group's position in this handle's append order (1 for the first group).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Metadata key the store writes into a store restored from a backup
/// ([`RocksStore::restore`]): its presence says "this store's bytes came from a backup".
///
/// It is the one metadata key the store itself writes (every other key belongs to the
/// program above it, which by convention uses its own prefix, e.g. the engine's `core.`).
/// The value is `1`. The store never reads or removes it: the program opening the restored
/// store decides what a restore means for it (the engine begins a new view and a new
/// instance epoch) and deletes the key with a [`Group`] once that is durably recorded.
pub const META_RESTORED: &str = "store.restored";

/// What a backup holds and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupInfo {
    /// The backup (or restored store) directory.
    pub dir: PathBuf,
    /// The last seqno present in the backed-up files.
    pub last_seqno: u64,
    /// The committed prefix a store opened from the backup recovers to.
    pub committed_seqno: u64,
    /// Number of files in the backup.
    pub files: usize,
    /// Total size of those files in bytes.
    pub bytes: u64,
}

/// The storage contract the engine programs against.
///
/// All methods take `&self`: a store is shared between the committing thread and readers.
/// Reads see a consistent state that includes every group whose append has returned.
///
/// # Range reads
///
/// [`Store::entries`], [`Store::collection_seqnos`], [`Store::collection_seqnos_rev`],
/// [`Store::table_history`] and [`Store::signatures`] take the seqnos to read as a
/// `RangeInclusive<u64>` and return at most `limit` items in the stated order. One rule holds
/// for all of them, in every backend:
///
/// * a range with start > end (e.g. `5..=4`), or a `limit` of 0, reads nothing: `Ok` of an
///   empty vector, never an error;
/// * seqno 0 is never an entry (nor an index row, table version or signature), so a range
///   starting at 0 reads the same as one starting at 1, and `0..=0` reads nothing;
/// * a range reaching past the store's last seqno reads what there is (`0..=u64::MAX`
///   reads everything).
///
/// Tree tiles are read through the [`ledger_merkle::TileStore`] supertrait.
pub trait Store: Send + Sync + std::fmt::Debug + ledger_merkle::TileStore {
    /// Appends `group` atomically (all of it or none of it becomes visible, also across a
    /// crash) without waiting for durability. Groups are appended, and reach the log, in
    /// seqno order.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidGroup`] if the group breaks a rule of [`Group`] (nothing is
    /// written); [`StoreError::Poisoned`] if an earlier write failed; [`StoreError::ReadOnly`]
    /// for a read-only handle; any storage failure, which poisons the handle.
    fn append_group(&self, group: &Group) -> Result<GroupTicket, StoreError>;

    /// [`Store::append_group`] for a caller that no longer needs the group's contents: a
    /// backend that keeps parts of them in memory takes them instead of copying them. Once the
    /// group is appended it is left empty ([`Group::is_empty`], with its vectors' capacity, to
    /// be filled again) and the byte buffers of its entries are pushed onto `spare`, for the
    /// caller to encode into again: an appending program then allocates nothing per group or
    /// per entry in the steady state. The default borrows, then empties the group.
    ///
    /// # Errors
    ///
    /// As [`Store::append_group`]; the group is left as it was and nothing is pushed onto
    /// `spare`.
    fn append_group_owned(
        &self,
        group: &mut Group,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<GroupTicket, StoreError> {
        let ticket = self.append_group(group)?;
        spare.extend(group.entries.drain(..).map(|e| e.into_parts().1));
        group.clear();
        Ok(ticket)
    }

    /// Completes the commit of an appended group: in [`Durability::Fsync`] mode returns once
    /// a WAL sync covering `ticket` has finished (one sync serves every group appended before
    /// it began, so concurrent committers share it); otherwise returns at once.
    ///
    /// # Errors
    ///
    /// The sync's failure, which poisons the handle; [`StoreError::Poisoned`] if the handle
    /// already is.
    fn await_commit(&self, ticket: GroupTicket) -> Result<(), StoreError>;

    /// Appends `group` and, if it is a commit group, awaits its commit
    /// ([`Store::append_group`] then [`Store::await_commit`]).
    ///
    /// # Errors
    ///
    /// As [`Store::append_group`] and [`Store::await_commit`].
    fn write_group(&self, group: &Group) -> Result<(), StoreError> {
        let ticket = self.append_group(group)?;
        if group.commit {
            self.await_commit(ticket)?;
        }
        Ok(())
    }

    /// The store's current extent.
    fn state(&self) -> StoreState;

    /// The entry at `seqno`, or `None` if `seqno` is 0 or beyond `last_seqno`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corruption`] naming the seqno if the entry is missing or its digest does
    /// not match; storage failures.
    fn entry(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// [`Store::entry`] with the entry's SHA-256 digest, computed from the bytes read (see
    /// [`Store::entry_records`]).
    ///
    /// # Errors
    ///
    /// As [`Store::entry`].
    fn entry_record(&self, seqno: u64) -> Result<Option<EntryRecord>, StoreError> {
        Ok(self
            .entry(seqno)?
            .map(|bytes| EntryRecord::new(seqno, bytes)))
    }

    /// Entries with seqnos in `seqnos`, ascending, at most `limit` (see the rule for range
    /// reads above).
    ///
    /// # Errors
    ///
    /// As [`Store::entry`].
    fn entries(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// [`Store::entries`] with each entry's SHA-256 digest, computed from the bytes read (never
    /// taken from storage unchecked): for readers that need the digest, so that the bytes are
    /// hashed once. The default implementation hashes what [`Store::entries`] returns; a store
    /// that already hashes on read to check its stored digest returns that hash.
    ///
    /// # Errors
    ///
    /// As [`Store::entry`].
    fn entry_records(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<EntryRecord>, StoreError> {
        Ok(self
            .entries(seqnos, limit)?
            .into_iter()
            .map(|(seqno, bytes)| EntryRecord::new(seqno, bytes))
            .collect())
    }

    /// Seqnos indexed under `collection` within `seqnos`, ascending, at most `limit`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn collection_seqnos(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError>;

    /// Seqnos indexed under `collection` within `seqnos`, descending (latest first), at most
    /// `limit`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn collection_seqnos_rev(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError>;

    /// Names of collections that have index rows, sorted, starting after `after`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, StoreError>;

    /// The newest version of `key` in `table` with seqno `<= as_of` (which may be a
    /// tombstone), or `None` if there is none.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn table_get(
        &self,
        table: &str,
        key: &[u8],
        as_of: u64,
    ) -> Result<Option<TableVersion>, StoreError>;

    /// Versions of `key` in `table` with seqnos in `seqnos`, ascending, at most `limit`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn table_history(
        &self,
        table: &str,
        key: &[u8],
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<TableVersion>, StoreError>;

    /// Live keys of `table` as of `as_of` (their newest version `<= as_of` is not a tombstone),
    /// in key order, starting after `after_key`, each with that version.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn table_scan(
        &self,
        table: &str,
        as_of: u64,
        after_key: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, TableVersion)>, StoreError>;

    /// The signature record at `seqno`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn signature(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The first signature record with seqno `> seqno`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn signature_after(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// The last signature record with seqno `<= seqno`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn signature_at_or_before(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError>;

    /// Signature records with seqnos in `seqnos`, ascending, at most `limit`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn signatures(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;

    /// The metadata value under `key`.
    ///
    /// # Errors
    ///
    /// Storage failures and corruption.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Makes everything appended so far durable, in any durability mode.
    ///
    /// # Errors
    ///
    /// The sync's failure, which poisons the handle; [`StoreError::Poisoned`].
    fn sync(&self) -> Result<(), StoreError>;

    /// Writes an online, consistent backup of the store into `dir`, which must not exist or
    /// be empty. A store restored from it recovers to [`BackupInfo::committed_seqno`].
    ///
    /// # Errors
    ///
    /// [`StoreError::TargetNotEmpty`]; [`StoreError::Unsupported`] for a store with no files;
    /// storage and file-system failures.
    fn backup(&self, dir: &Path) -> Result<BackupInfo, StoreError>;
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes).into()
}
