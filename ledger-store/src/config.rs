//! Configuration of a [`crate::RocksStore`].
//!
//! # Durability
//!
//! [`Durability`] says when written groups reach stable storage. Every group is appended to
//! RocksDB's write-ahead log (WAL) as one `WriteBatch` written *without* the `sync` flag, so
//! it survives a crash of the process (the bytes are in the operating system) but not
//! necessarily a crash of the machine. What differs is what a commit group waits for:
//!
//! | mode | commit group (`commit = true`) | buffered group | survives |
//! | --- | --- | --- | --- |
//! | [`Durability::Fsync`] | returns after one WAL sync that covers it and every group appended before it, shared with concurrent committers | returns after the append | process and machine crashes, up to the last returned commit group |
//! | [`Durability::Buffered`] | returns after the append | returns after the append | process crashes; a machine crash may lose recent groups |
//!
//! [`crate::Store::sync`] syncs the WAL in either mode.

use std::num::NonZeroUsize;

/// When commit groups become durable. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// Sync the WAL before a commit group's write returns (one sync shared by every group
    /// appended before it started). The default.
    #[default]
    Fsync,
    /// Never sync on commit; groups reach the disk when the operating system writes them back,
    /// or on [`crate::Store::sync`] or a clean close.
    Buffered,
}

const MIB: usize = 1024 * 1024;

/// Options for [`crate::RocksStore::open`], set with builder-style methods.
///
/// ```
/// use ledger_store::{Durability, StoreConfig};
/// let config = StoreConfig::default()
///     .durability(Durability::Buffered)
///     .block_cache_bytes(std::num::NonZeroUsize::new(32 << 20).unwrap_or(std::num::NonZeroUsize::MIN));
/// assert_eq!(config.get_durability(), Durability::Buffered);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    durability: Durability,
    create_if_missing: bool,
    block_cache_bytes: NonZeroUsize,
    memtable_bytes: NonZeroUsize,
    flush_on_close: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            durability: Durability::Fsync,
            create_if_missing: true,
            block_cache_bytes: nonzero(64 * MIB),
            memtable_bytes: nonzero(64 * MIB),
            flush_on_close: true,
        }
    }
}

fn nonzero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

impl StoreConfig {
    /// When commit groups become durable. Default = [`Durability::Fsync`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Whether opening a missing or empty directory creates a new store there; when off, such
    /// an open fails with [`crate::StoreError::Missing`]. Default = `true`.
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Capacity of the block cache shared by every column family. Index and filter blocks
    /// are charged to it too, so the memory an open store holds does not grow with the ledger.
    /// Default = 64 MiB.
    pub fn block_cache_bytes(mut self, bytes: NonZeroUsize) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    /// Size of one memtable of the large column families (entries, collection index, tables,
    /// tiles). At most four memtables per column family exist at once, and the total over all
    /// column families is capped at four times this value. Values below 1 MiB are raised to
    /// 1 MiB. Default = 64 MiB.
    pub fn memtable_bytes(mut self, bytes: NonZeroUsize) -> Self {
        self.memtable_bytes = bytes;
        self
    }

    /// Whether closing (dropping) the store flushes its memtables to table files, so that the
    /// next open has no WAL to replay. Default = `true`.
    pub fn flush_on_close(mut self, flush: bool) -> Self {
        self.flush_on_close = flush;
        self
    }

    /// The configured durability.
    pub fn get_durability(&self) -> Durability {
        self.durability
    }

    /// Whether a missing store is created.
    pub fn get_create_if_missing(&self) -> bool {
        self.create_if_missing
    }

    /// The configured block cache capacity in bytes.
    pub fn get_block_cache_bytes(&self) -> usize {
        self.block_cache_bytes.get()
    }

    /// The configured memtable size in bytes (at least 1 MiB).
    pub fn get_memtable_bytes(&self) -> usize {
        self.memtable_bytes.get().max(MIB)
    }

    /// Whether closing flushes memtables.
    pub fn get_flush_on_close(&self) -> bool {
        self.flush_on_close
    }
}
