//! The RocksDB backend: [`RocksStore`].
//!
//! # Format
//!
//! A store is one RocksDB database directory with these column families (`default` exists
//! and stays empty). Integers are big-endian; `esc(s)` is the order-preserving escaping of the
//! bytes of `s`: every `0x00` becomes `0x00 0xFF`, and `0x00 0x01` terminates the string.
//!
//! | column family | key | value |
//! | --- | --- | --- |
//! | `entries` | seqno `u64` | SHA-256 digest of the entry (32 bytes) ‖ entry bytes |
//! | `collections` | `esc(collection)` ‖ seqno `u64` | empty |
//! | `tables` | `esc(table)` ‖ `esc(key)` ‖ seqno `u64` | `0x01` ‖ value, or `0x00` for a tombstone |
//! | `tiles` | row `u8` ‖ index `u64` | [`ledger_merkle::Tile::encode`] |
//! | `signatures` | seqno `u64` | the signature record |
//! | `meta` | UTF-8 key | the value |
//! | `store` | `"format"` | format version `u32` (currently [`FORMAT_VERSION`]) |
//! | `store` | `"state"` | `last_seqno` `u64` ‖ `committed_seqno` `u64` |
//! | `pending` | group number `u64` | undo record of a group written after the last commit group |
//!
//! An undo record is a version byte (`1`) followed by tagged items: `0x01` collection name,
//! `0x02` table name and key, `0x03` tile id (row `u8` ‖ index `u64`), `0x04` restore
//! (column family code `u8` ‖ key ‖ present `u8` ‖ prior value if present); names, keys and
//! values are a `u32` length followed by the bytes. Column family codes: `2` collections,
//! `3` tables, `4` signatures, `5` meta.
//!
//! The `meta` column family belongs to the program above the store, except for one key the
//! store writes itself: [`crate::META_RESTORED`] (`store.restored`, value `1`), put by
//! [`RocksStore::restore`] into the store it restores, meaning "this store's bytes came from
//! a backup". The store never reads it; the program deletes it once it has acted on it.
//!
//! Every group is one `WriteBatch` that also rewrites `state`. A group that is not a commit
//! group also adds its undo record: the collections and table keys it gave rows above the
//! committed seqno, the tiles it wrote, and the prior values of the metadata keys it changed
//! (and of any row at or below the committed seqno, which only a group without entries can
//! write). A commit group deletes all undo records. The `format` marker is written, with an
//! empty `state`, by the synced batch that completes the creation of a store.
//!
//! # Recovery
//!
//! RocksDB replays its WAL on open and never exposes part of a `WriteBatch`, so after a crash
//! the store holds some prefix of the groups appended, and `state` describes exactly that
//! prefix. Opening then discards what follows the last commit group, in one synced batch:
//!
//! * entries and signatures with seqnos above `committed_seqno` (two range deletions);
//! * for each collection and table key named by an undo record, its rows above
//!   `committed_seqno` (one range deletion each);
//! * each tile named by an undo record is replaced by
//!   [`ledger_merkle::Tile::truncated`]`(committed_seqno + 1)` (or deleted);
//! * each restore item puts back the oldest recorded prior value;
//! * the undo records are deleted and `state` becomes `(committed, committed)`.
//!
//! The work is proportional to what the discarded groups touched, not to the store's size.
//! [`Recovery::discarded`] reports the seqnos dropped.
//!
//! Before opening for writing, [`RocksStore::open`] checks, without writing anything, that the
//! directory is empty (then a store is created), or holds a RocksDB database with every column
//! family above and a supported `format` marker. Missing column families are reported as
//! [`StoreError::Corruption`]; they are never created in an existing store. Opening also
//! checks that the last key of `entries` equals `state`'s `last_seqno`.
//!
//! Damaged files are caught by RocksDB's block and record checksums (reported as
//! [`StoreError::Corruption`]); a damaged WAL tail is dropped at the first bad record
//! (point-in-time recovery), after which the rules above apply to what survives. One kind of
//! WAL damage would make RocksDB's replay loop forever (a record of a recyclable type, which
//! the store never writes); every open walks the WAL files for it first and reports it as
//! [`StoreError::Corruption`] (see `wal.rs`). Every entry read is checked against its stored
//! digest, and ranges of entries must be gap-free.
//!
//! # Durability
//!
//! Groups are written to the WAL with `sync = false`. In [`Durability::Fsync`] mode a commit
//! group returns after `FlushWAL(sync = true)` covering it, run by one leader for all
//! committers waiting at that moment (see `commit.rs`); a machine crash can then lose only
//! groups whose write had not returned, or non-commit groups, which recovery discards anyway.
//! In [`Durability::Buffered`] mode nothing is synced except by [`Store::sync`]. Closing the
//! store flushes memtables (unless [`StoreConfig::flush_on_close`] is off) so that the next
//! open replays no WAL. A failed write or sync poisons the handle: later writes fail with
//! [`StoreError::Poisoned`], while reads keep working.

mod backup;
mod commit;
mod wal;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use ledger_merkle::{Tile, TileId, TileStore, TileStoreError};
use parking_lot::{Mutex, RwLock};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType,
    DBRawIteratorWithThreadMode, DBRecoveryMode, DBWithThreadMode, FlushOptions, Options,
    ReadOptions, SingleThreaded, WriteBatch, WriteOptions,
};

use crate::keys::{self, Cf, PendingRecord, Restore};
use crate::range::ReadRange;
use crate::{
    validate, BackupInfo, Durability, EntryRecord, Group, GroupTicket, Recovery, Store,
    StoreConfig, StoreError, StoreState, TableVersion,
};
use commit::SyncCoordinator;

/// The on-disk format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

type Db = DBWithThreadMode<SingleThreaded>;
type RawIter<'a> = DBRawIteratorWithThreadMode<'a, Db>;

const CF_ENTRIES: &str = "entries";
const CF_COLLECTIONS: &str = "collections";
const CF_TABLES: &str = "tables";
const CF_TILES: &str = "tiles";
const CF_SIGNATURES: &str = "signatures";
const CF_META: &str = "meta";
const CF_STORE: &str = "store";
const CF_PENDING: &str = "pending";

/// Every column family of the format, in creation order.
const COLUMN_FAMILIES: [&str; 8] = [
    CF_ENTRIES,
    CF_COLLECTIONS,
    CF_TABLES,
    CF_TILES,
    CF_SIGNATURES,
    CF_META,
    CF_STORE,
    CF_PENDING,
];

const KEY_FORMAT: &[u8] = b"format";
const KEY_STATE: &[u8] = b"state";

/// A key above every 8- or 9-byte key: the open upper end of seqno- and tile-keyed ranges.
const END: [u8; 9] = [0xFF; 9];

const MIB: usize = 1024 * 1024;

fn cf_name(cf: Cf) -> &'static str {
    match cf {
        Cf::Collections => CF_COLLECTIONS,
        Cf::Tables => CF_TABLES,
        Cf::Signatures => CF_SIGNATURES,
        Cf::Meta => CF_META,
    }
}

/// The writer's view of the store, guarded by the writer lock.
#[derive(Debug, Default)]
struct Writer {
    last_seqno: u64,
    committed_seqno: u64,
    /// Undo records `first_pending..next_pending` exist in the `pending` column family.
    first_pending: u64,
    next_pending: u64,
    /// Ticket of the last group appended.
    ticket: u64,
}

/// A ledger store in a RocksDB database directory. See the [module documentation](self) for
/// the format, recovery and durability.
///
/// Dropping the store flushes its memtables (see [`StoreConfig::flush_on_close`]);
/// [`RocksStore::close`] does the same and reports failures.
pub struct RocksStore {
    db: Db,
    path: PathBuf,
    durability: Durability,
    read_only: bool,
    flush_on_close: bool,
    writer: Mutex<Writer>,
    state: RwLock<StoreState>,
    sync: SyncCoordinator,
    poison: Mutex<Option<String>>,
    closed: AtomicBool,
}

impl fmt::Debug for RocksStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksStore")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .field("read_only", &self.read_only)
            .field("state", &*self.state.read())
            .field("poisoned", &self.poison.lock().is_some())
            .finish()
    }
}

/// What [`probe`] found at a path.
enum Probe {
    /// Nothing there, or an empty directory.
    Empty,
    /// A store whose creation did not finish: every column family exists, all are empty.
    Unfinished,
    /// A store of the supported format.
    Ledger,
}

fn db_options(config: &StoreConfig, create: bool) -> Options {
    let mut o = Options::default();
    o.create_if_missing(create);
    o.create_missing_column_families(create);
    o.set_paranoid_checks(true);
    o.set_atomic_flush(true);
    o.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    o.set_max_background_jobs(2);
    o.set_max_open_files(1024);
    o.set_keep_log_file_num(4);
    o.set_max_log_file_size(8 * MIB);
    o.set_db_write_buffer_size(4 * config.get_memtable_bytes());
    o.set_max_total_wal_size(8 * config.get_memtable_bytes() as u64);
    o.set_skip_stats_update_on_db_open(true);
    o.set_bytes_per_sync(MIB as u64);
    o.set_stats_dump_period_sec(0);
    o
}

/// The table options of every column family, with `cache` as the block cache.
///
/// Indexes are partitioned (two-level, 4 KiB partitions) and kept in the block cache with
/// high priority, the top level pinned: a point lookup then reads one small index partition
/// and one data block whatever the store's size, and the memory the indexes take is bounded by
/// the cache. With whole-file indexes (about 120 KiB per 64 MiB file) a store of tens of
/// gigabytes has more index than a 64 MiB cache holds, and every lookup read a whole index
/// block again. No filter: every key is sequential in its column family, so a file's key range
/// already rules out the files that cannot hold a key.
///
/// Public so that benchmarks open the same files the way the store does (a raw RocksDB peer
/// reading the store's own keys).
pub fn table_options(cache: &Cache) -> BlockBasedOptions {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    table.set_block_size(16 * 1024);
    table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_metadata_block_size(4096);
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_pin_top_level_index_and_filter(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    table
}

fn cf_options(config: &StoreConfig, cache: &Cache, name: &str) -> Options {
    let table = table_options(cache);
    let mut o = Options::default();
    o.set_block_based_table_factory(&table);
    o.set_compression_type(DBCompressionType::None);
    let big = matches!(name, CF_ENTRIES | CF_COLLECTIONS | CF_TABLES | CF_TILES);
    o.set_write_buffer_size(if big {
        config.get_memtable_bytes()
    } else {
        (config.get_memtable_bytes() / 16).max(MIB)
    });
    o.set_max_write_buffer_number(4);
    o.set_target_file_size_base(64 * MIB as u64);
    o.set_max_bytes_for_level_base(512 * MIB as u64);
    o.set_level_compaction_dynamic_level_bytes(true);
    o
}

fn descriptors(config: &StoreConfig, cache: &Cache) -> Vec<ColumnFamilyDescriptor> {
    COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, cf_options(config, cache, name)))
        .collect()
}

fn io_at(op: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::io(format!("{op} {}", path.display()), e)
}

/// Classifies `path` without writing anything to it.
fn probe(path: &Path, config: &StoreConfig) -> Result<Probe, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::Empty),
        Err(e) => return Err(io_at("inspecting", path, e)),
    };
    let not_a_ledger = |reason: &str| StoreError::NotALedger {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if !meta.is_dir() {
        return Err(not_a_ledger("it is not a directory"));
    }
    let mut names = std::fs::read_dir(path).map_err(|e| io_at("listing", path, e))?;
    if names.next().is_none() {
        return Ok(Probe::Empty);
    }
    if !path.join("CURRENT").is_file() {
        return Err(not_a_ledger(
            "it holds no RocksDB database (no CURRENT file)",
        ));
    }
    let listed = Db::list_cf(&Options::default(), path).map_err(StoreError::from_rocks)?;
    let ours = COLUMN_FAMILIES
        .iter()
        .filter(|cf| listed.iter().any(|l| l == *cf))
        .count();
    if ours == 0 {
        // A damaged MANIFEST can lose every column family but `default`; the OPTIONS files
        // RocksDB writes beside it still name them, and tell a damaged store from a
        // database that never was one.
        if options_name_store_families(path) {
            return Err(StoreError::corruption(
                "MANIFEST",
                "the database lists none of the ledger's column families, which its OPTIONS \
                 file names",
            ));
        }
        return Err(not_a_ledger(
            "it is a RocksDB database without the ledger's column families",
        ));
    }
    if let Some(missing) = COLUMN_FAMILIES
        .iter()
        .find(|cf| !listed.iter().any(|l| l == *cf))
    {
        return Err(StoreError::corruption(
            format!("column family {missing}"),
            "missing from the database",
        ));
    }
    // RocksDB replays the WAL on every open; some damage there would make it loop forever.
    wal::check_logs(path)?;
    // Read the marker through a read-only open, which writes nothing.
    let cache = Cache::new_lru_cache(8 * MIB);
    let db = Db::open_cf_descriptors_read_only(
        &db_options(config, false),
        path,
        descriptors(config, &cache),
        false,
    )
    .map_err(|e| StoreError::from_rocks_at(e, path))?;
    let store_cf = cf_handle(&db, CF_STORE)?;
    let marker = db
        .get_cf(store_cf, KEY_FORMAT)
        .map_err(StoreError::from_rocks)?;
    match marker {
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| {
                    StoreError::corruption("format marker", format!("{} bytes", bytes.len()))
                })?;
            if found != FORMAT_VERSION {
                return Err(StoreError::IncompatibleFormat {
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            if let Some(extra) = listed
                .iter()
                .find(|l| *l != "default" && !COLUMN_FAMILIES.contains(&l.as_str()))
            {
                return Err(StoreError::corruption(
                    format!("column family {extra}"),
                    "not part of the ledger format",
                ));
            }
            Ok(Probe::Ledger)
        }
        None => {
            for cf in COLUMN_FAMILIES {
                let mut it = db.raw_iterator_cf(cf_handle(&db, cf)?);
                it.seek_to_first();
                it.status().map_err(StoreError::from_rocks)?;
                if it.valid() {
                    return Err(not_a_ledger("it has no ledger format marker"));
                }
            }
            Ok(Probe::Unfinished)
        }
    }
}

/// Whether an `OPTIONS-*` file in `path` has a section for every column family of the store.
fn options_name_store_families(path: &Path) -> bool {
    let Ok(names) = std::fs::read_dir(path) else {
        return false;
    };
    names.filter_map(Result::ok).any(|e| {
        e.file_name().to_string_lossy().starts_with("OPTIONS-")
            && std::fs::read_to_string(e.path()).is_ok_and(|text| {
                COLUMN_FAMILIES
                    .iter()
                    .all(|cf| text.contains(&format!("[CFOptions \"{cf}\"]")))
            })
    })
}

fn cf_handle<'a>(db: &'a Db, name: &str) -> Result<&'a ColumnFamily, StoreError> {
    db.cf_handle(name).ok_or_else(|| {
        StoreError::corruption(format!("column family {name}"), "missing from the database")
    })
}

fn state_bytes(last: u64, committed: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&last.to_be_bytes());
    out[8..].copy_from_slice(&committed.to_be_bytes());
    out
}

fn decode_entry(seqno: u64, value: &[u8]) -> Result<Vec<u8>, StoreError> {
    checked_entry(seqno, value).map(|(_, bytes)| bytes.to_vec())
}

/// The digest and bytes of a stored entry value, after checking the bytes against the
/// digest stored before them.
fn checked_entry(seqno: u64, value: &[u8]) -> Result<([u8; 32], &[u8]), StoreError> {
    let what = || format!("entry {seqno}");
    let (digest, bytes) = value
        .split_first_chunk::<32>()
        .ok_or_else(|| StoreError::corruption(what(), "value shorter than its digest"))?;
    if crate::sha256(bytes) != *digest {
        return Err(StoreError::corruption(
            what(),
            "bytes do not match the stored digest",
        ));
    }
    Ok((*digest, bytes))
}

/// Writes what makes an empty database an empty store (the state `0, 0` and the format
/// marker), synced: the last step of creating a store.
fn write_format(db: &Db) -> Result<(), StoreError> {
    let mut batch = WriteBatch::default();
    let store_cf = cf_handle(db, CF_STORE)?;
    batch.put_cf(store_cf, KEY_STATE, state_bytes(0, 0));
    batch.put_cf(store_cf, KEY_FORMAT, FORMAT_VERSION.to_be_bytes());
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    db.write_opt(batch, &wo).map_err(StoreError::from_rocks)?;
    db.flush_wal(true).map_err(StoreError::from_rocks)
}

/// Creates a new, empty store at `path` so that a crash at any moment leaves either no store
/// or a complete one: RocksDB builds it in a sibling directory (`.NAME.creating`, removed
/// first if an earlier attempt left it), the format marker is written and synced, and only
/// then is the directory renamed into place (replacing `path` if it is an empty directory).
fn create_atomically(path: &Path, config: &StoreConfig) -> Result<(), StoreError> {
    let io = |op: &'static str| {
        move |source: std::io::Error| StoreError::Io {
            op: op.to_owned(),
            source,
        }
    };
    let name = path
        .file_name()
        .ok_or_else(|| StoreError::NotALedger {
            path: path.to_path_buf(),
            reason: "the path has no final component to create".into(),
        })?
        .to_string_lossy()
        .into_owned();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io("create the parent directory"))?;
    let staging = parent.join(format!(".{name}.creating"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io("remove an unfinished creation"))?;
    }
    {
        let cache = Cache::new_lru_cache(config.get_block_cache_bytes());
        let db = Db::open_cf_descriptors(
            &db_options(config, true),
            &staging,
            descriptors(config, &cache),
        )
        .map_err(|e| StoreError::from_rocks_at(e, &staging))?;
        write_format(&db)?;
    }
    std::fs::rename(&staging, path).map_err(io("move the new store into place"))?;
    if let Ok(dir) = std::fs::File::open(&parent) {
        dir.sync_all().map_err(io("sync the parent directory"))?;
    }
    Ok(())
}

impl RocksStore {
    /// Opens (or, if the directory is missing or empty and
    /// [`StoreConfig::create_if_missing`] allows, creates) the store at `path`, running
    /// recovery (see the [module documentation](self)).
    ///
    /// # Errors
    ///
    /// [`StoreError::NotALedger`], [`StoreError::IncompatibleFormat`] and
    /// [`StoreError::Missing`] before anything on disk is changed;
    /// [`StoreError::Corruption`] for a damaged store (including a missing column family);
    /// [`StoreError::Locked`] if another handle has it open; storage failures.
    pub fn open(
        path: impl AsRef<Path>,
        config: StoreConfig,
    ) -> Result<(RocksStore, Recovery), StoreError> {
        let path = path.as_ref();
        let probed = probe(path, &config)?;
        let create = match probed {
            Probe::Empty if !config.get_create_if_missing() => {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Probe::Empty => true,
            Probe::Unfinished | Probe::Ledger => false,
        };
        if create {
            create_atomically(path, &config)?;
            return Self::open(path, config);
        }
        let cache = Cache::new_lru_cache(config.get_block_cache_bytes());
        let db = Db::open_cf_descriptors(
            &db_options(&config, false),
            path,
            descriptors(&config, &cache),
        )
        .map_err(|e| StoreError::from_rocks_at(e, path))?;
        if matches!(probed, Probe::Unfinished) {
            write_format(&db)?;
        }
        let store = Self::from_db(db, path, &config, false)?;
        let recovery = store.recover()?;
        Ok((store, recovery))
    }

    /// Opens the store at `path` for reading only, e.g. for an offline audit: nothing is
    /// written and no recovery runs, so [`Store::state`] may show a `last_seqno` above
    /// `committed_seqno` (the tail a read-write open would discard), and reads see that tail.
    /// Writes fail with [`StoreError::ReadOnly`].
    ///
    /// # Errors
    ///
    /// As [`RocksStore::open`]; [`StoreError::Missing`] if there is no store.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<RocksStore, StoreError> {
        let path = path.as_ref();
        let config = StoreConfig::default().block_cache_bytes(
            std::num::NonZeroUsize::new(16 * MIB).unwrap_or(std::num::NonZeroUsize::MIN),
        );
        match probe(path, &config)? {
            Probe::Ledger => {}
            Probe::Empty | Probe::Unfinished => {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                })
            }
        }
        let cache = Cache::new_lru_cache(config.get_block_cache_bytes());
        let db = Db::open_cf_descriptors_read_only(
            &db_options(&config, false),
            path,
            descriptors(&config, &cache),
            false,
        )
        .map_err(|e| StoreError::from_rocks_at(e, path))?;
        Self::from_db(db, path, &config, true)
    }

    fn from_db(
        db: Db,
        path: &Path,
        config: &StoreConfig,
        read_only: bool,
    ) -> Result<RocksStore, StoreError> {
        for cf in COLUMN_FAMILIES {
            cf_handle(&db, cf)?;
        }
        let store = RocksStore {
            db,
            path: path.to_path_buf(),
            durability: config.get_durability(),
            read_only,
            flush_on_close: config.get_flush_on_close(),
            writer: Mutex::new(Writer::default()),
            state: RwLock::new(StoreState::default()),
            sync: SyncCoordinator::default(),
            poison: Mutex::new(None),
            closed: AtomicBool::new(false),
        };
        let (last, committed) = store.read_state()?;
        {
            let mut w = store.writer.lock();
            w.last_seqno = last;
            w.committed_seqno = committed;
        }
        *store.state.write() = StoreState {
            last_seqno: last,
            committed_seqno: committed,
        };
        Ok(store)
    }

    /// Reads and checks the `state` record against the entries present.
    fn read_state(&self) -> Result<(u64, u64), StoreError> {
        let bytes = self
            .db
            .get_cf(self.cf(CF_STORE)?, KEY_STATE)?
            .ok_or_else(|| StoreError::corruption("state record", "missing"))?;
        let arr = <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| {
            StoreError::corruption("state record", format!("{} bytes", bytes.len()))
        })?;
        let last = keys::decode_seqno(&arr[..8]).unwrap_or(0);
        let committed = keys::decode_seqno(&arr[8..]).unwrap_or(0);
        if committed > last {
            return Err(StoreError::corruption(
                "state record",
                format!("committed seqno {committed} is above last seqno {last}"),
            ));
        }
        let mut it = self.db.raw_iterator_cf(self.cf(CF_ENTRIES)?);
        it.seek_to_last();
        it.status()?;
        let found = match it.key() {
            Some(k) => keys::decode_seqno(k)
                .ok_or_else(|| StoreError::corruption("entries", "a key is not a seqno"))?,
            None => 0,
        };
        if found != last {
            return Err(StoreError::corruption(
                "state record",
                format!("last seqno is {last} but the last entry stored is {found}"),
            ));
        }
        Ok((last, committed))
    }

    /// Discards everything written after the last commit group (see the module docs).
    fn recover(&self) -> Result<Recovery, StoreError> {
        let mut w = self.writer.lock();
        let (last, committed) = (w.last_seqno, w.committed_seqno);
        let mut records = Vec::new();
        let mut pending_keys = Vec::new();
        {
            let mut it = self.db.raw_iterator_cf(self.cf(CF_PENDING)?);
            it.seek_to_first();
            while let Some((k, v)) = it.item() {
                let rec = PendingRecord::decode(v).ok_or_else(|| {
                    StoreError::corruption("pending undo record", "cannot be decoded")
                })?;
                records.push(rec);
                pending_keys.push(k.to_vec());
                it.next();
            }
            it.status()?;
        }
        if last == committed && records.is_empty() {
            return Ok(Recovery {
                committed_seqno: committed,
                discarded: None,
            });
        }
        let above = committed.saturating_add(1);
        let mut batch = WriteBatch::default();
        if last > committed {
            batch.delete_range_cf(self.cf(CF_ENTRIES)?, &keys::seqno_key(above)[..], &END[..]);
            batch.delete_range_cf(
                self.cf(CF_SIGNATURES)?,
                &keys::seqno_key(above)[..],
                &END[..],
            );
        }
        let mut collections = BTreeSet::new();
        let mut table_keys = BTreeSet::new();
        let mut tiles = BTreeSet::new();
        let mut restores: BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>> = BTreeMap::new();
        for rec in records {
            collections.extend(rec.collections);
            table_keys.extend(rec.table_keys);
            tiles.extend(rec.tiles);
            for Restore { cf, key, prior } in rec.restores {
                restores.entry((cf, key)).or_insert(prior);
            }
        }
        let coll_cf = self.cf(CF_COLLECTIONS)?;
        for c in &collections {
            let prefix = keys::name_prefix(c);
            batch.delete_range_cf(
                coll_cf,
                keys::collection_key(c, above),
                keys::prefix_end(&prefix),
            );
        }
        let tables_cf = self.cf(CF_TABLES)?;
        for (t, k) in &table_keys {
            let prefix = keys::table_key_prefix(t, k);
            batch.delete_range_cf(
                tables_cf,
                keys::table_row_key(t, k, above),
                keys::prefix_end(&prefix),
            );
        }
        let tiles_cf = self.cf(CF_TILES)?;
        for id in tiles {
            match self.read_tile(id)?.and_then(|t| t.truncated(above)) {
                Some(t) => batch.put_cf(tiles_cf, keys::tile_key(id), t.encode()),
                None => batch.delete_cf(tiles_cf, keys::tile_key(id)),
            }
        }
        for ((cf, key), prior) in restores {
            let handle = self.cf(cf_name(cf))?;
            match prior {
                Some(v) => batch.put_cf(handle, key, v),
                None => batch.delete_cf(handle, key),
            }
        }
        let pending_cf = self.cf(CF_PENDING)?;
        for k in pending_keys {
            batch.delete_cf(pending_cf, k);
        }
        batch.put_cf(
            self.cf(CF_STORE)?,
            KEY_STATE,
            state_bytes(committed, committed),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        w.last_seqno = committed;
        *self.state.write() = StoreState {
            last_seqno: committed,
            committed_seqno: committed,
        };
        let discarded = (last > committed).then_some(above..=last);
        if let Some(d) = &discarded {
            tracing::info!(path = %self.path.display(), ?d, "discarded uncommitted tail");
        }
        Ok(Recovery {
            committed_seqno: committed,
            discarded,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured durability.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether a failed write or sync has poisoned this handle.
    pub fn is_poisoned(&self) -> bool {
        self.poison.lock().is_some()
    }

    /// Flushes memtables to table files and closes the store.
    ///
    /// # Errors
    ///
    /// The flush's failure (the store is closed regardless; reopening recovers).
    pub fn close(self) -> Result<(), StoreError> {
        self.closed.store(true, Ordering::SeqCst);
        if self.read_only || !self.flush_on_close || self.is_poisoned() {
            return Ok(());
        }
        self.flush_all()
    }

    fn flush_all(&self) -> Result<(), StoreError> {
        let handles = COLUMN_FAMILIES
            .iter()
            .map(|cf| self.cf(cf))
            .collect::<Result<Vec<_>, _>>()?;
        let mut fo = FlushOptions::default();
        fo.set_wait(true);
        self.db.flush_cfs_opt(&handles, &fo)?;
        Ok(())
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        cf_handle(&self.db, name)
    }

    fn check_writable(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if let Some(cause) = &*self.poison.lock() {
            return Err(StoreError::Poisoned {
                cause: cause.clone(),
            });
        }
        Ok(())
    }

    fn poison_with(&self, err: &StoreError) {
        let mut p = self.poison.lock();
        if p.is_none() {
            tracing::error!(path = %self.path.display(), error = %err, "store poisoned");
            *p = Some(err.to_string());
        }
    }

    fn iter(
        &self,
        cf: &str,
        lower: Option<Vec<u8>>,
        upper: Option<Vec<u8>>,
    ) -> Result<RawIter<'_>, StoreError> {
        let mut ro = ReadOptions::default();
        if let Some(l) = lower {
            ro.set_iterate_lower_bound(l);
        }
        if let Some(u) = upper {
            ro.set_iterate_upper_bound(u);
        }
        Ok(self.db.raw_iterator_cf_opt(self.cf(cf)?, ro))
    }

    fn read_tile(&self, id: TileId) -> Result<Option<Tile>, StoreError> {
        let Some(bytes) = self
            .db
            .get_pinned_cf(self.cf(CF_TILES)?, keys::tile_key(id))?
        else {
            return Ok(None);
        };
        Tile::decode(id, &bytes).map(Some).map_err(|e| {
            StoreError::corruption(
                format!("tile row {} index {}", id.row, id.index),
                e.to_string(),
            )
        })
    }

    /// The undo record of a non-commit group (reads prior values of keys it may overwrite at
    /// or below the committed seqno).
    fn pending_record(&self, group: &Group, committed: u64) -> Result<PendingRecord, StoreError> {
        let mut rec = PendingRecord::default();
        let mut seen_restore = BTreeSet::new();
        let mut restore = |cf: Cf, key: Vec<u8>| -> Result<(), StoreError> {
            if seen_restore.insert((cf, key.clone())) {
                let prior = self.db.get_cf(self.cf(cf_name(cf))?, &key)?;
                rec.restores.push(Restore { cf, key, prior });
            }
            Ok(())
        };
        let mut collections = BTreeSet::new();
        for (c, s) in &group.collection_rows {
            if *s > committed {
                collections.insert(&**c);
            } else {
                restore(Cf::Collections, keys::collection_key(c, *s))?;
            }
        }
        let mut table_keys = BTreeSet::new();
        for w in &group.table_writes {
            if w.seqno > committed {
                table_keys.insert((w.table.as_str(), w.key.as_slice()));
            } else {
                restore(Cf::Tables, keys::table_row_key(&w.table, &w.key, w.seqno))?;
            }
        }
        for (s, _) in &group.signatures {
            if *s <= committed {
                restore(Cf::Signatures, keys::seqno_key(*s).to_vec())?;
            }
        }
        for (k, _) in &group.meta {
            restore(Cf::Meta, k.as_bytes().to_vec())?;
        }
        rec.collections = collections.into_iter().map(str::to_string).collect();
        rec.table_keys = table_keys
            .into_iter()
            .map(|(t, k)| (t.to_string(), k.to_vec()))
            .collect();
        let mut tiles: Vec<TileId> = group.tiles.iter().map(Tile::id).collect();
        tiles.sort();
        tiles.dedup();
        rec.tiles = tiles;
        Ok(rec)
    }

    /// The rows of `group` as a batch (everything but the bookkeeping).
    fn group_batch(&self, group: &Group) -> Result<WriteBatch, StoreError> {
        let size: usize = group
            .entries
            .iter()
            .map(|e| e.bytes().len() + 64)
            .sum::<usize>()
            + group.collection_rows.len() * 48
            + group
                .table_writes
                .iter()
                .map(|w| w.key.len() + w.value.as_ref().map_or(0, Vec::len) + 48)
                .sum::<usize>()
            + group.tiles.len() * (TILE_BYTES_MAX + 24)
            + 64;
        let mut batch = WriteBatch::with_capacity_bytes(size);
        let entries_cf = self.cf(CF_ENTRIES)?;
        let mut value = Vec::new();
        for e in &group.entries {
            value.clear();
            value.extend_from_slice(e.digest());
            value.extend_from_slice(e.bytes());
            batch.put_cf(entries_cf, keys::seqno_key(e.seqno), &value);
        }
        // Keys and values are assembled in reused buffers: this runs for every row.
        let mut key = Vec::new();
        let coll_cf = self.cf(CF_COLLECTIONS)?;
        for (c, s) in &group.collection_rows {
            key.clear();
            keys::escape_into(&mut key, c.as_bytes());
            key.extend_from_slice(&keys::seqno_key(*s));
            batch.put_cf(coll_cf, &key, []);
        }
        let tables_cf = self.cf(CF_TABLES)?;
        for w in &group.table_writes {
            key.clear();
            keys::escape_into(&mut key, w.table.as_bytes());
            keys::escape_into(&mut key, &w.key);
            key.extend_from_slice(&keys::seqno_key(w.seqno));
            value.clear();
            match &w.value {
                Some(v) => {
                    value.push(keys::TABLE_VALUE);
                    value.extend_from_slice(v);
                }
                None => value.push(keys::TABLE_TOMBSTONE),
            }
            batch.put_cf(tables_cf, &key, &value);
        }
        let tiles_cf = self.cf(CF_TILES)?;
        for t in &group.tiles {
            batch.put_cf(tiles_cf, keys::tile_key(t.id()), t.encode());
        }
        let sig_cf = self.cf(CF_SIGNATURES)?;
        for (s, sig) in &group.signatures {
            batch.put_cf(sig_cf, keys::seqno_key(*s), sig);
        }
        let meta_cf = self.cf(CF_META)?;
        for (k, v) in &group.meta {
            match v {
                Some(v) => batch.put_cf(meta_cf, k.as_bytes(), v),
                None => batch.delete_cf(meta_cf, k.as_bytes()),
            }
        }
        Ok(batch)
    }

    fn wal_sync(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true).map_err(StoreError::from_rocks)
    }

    fn sync_through(&self, ticket: u64) -> Result<(), StoreError> {
        self.sync.sync_through(ticket, || {
            self.wal_sync().inspect_err(|e| self.poison_with(e))
        })
    }

    /// The stored value of entry `seqno` (digest ‖ bytes), unchecked; for
    /// [`crate::testing::overwrite_entry`].
    #[cfg(feature = "test-util")]
    pub(crate) fn raw_entry_value(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_ENTRIES)?, keys::seqno_key(seqno))?)
    }

    /// Replaces the stored value of entry `seqno` (digest ‖ bytes) in one synced write,
    /// bypassing every check; for [`crate::testing::overwrite_entry`].
    #[cfg(feature = "test-util")]
    pub(crate) fn put_raw_entry_value(&self, seqno: u64, value: &[u8]) -> Result<(), StoreError> {
        self.check_writable()?;
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(CF_ENTRIES)?, keys::seqno_key(seqno), value);
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch, &wo)?;
        Ok(())
    }

    /// Reads and verifies every entry `1..=last_seqno` (digests and contiguity).
    ///
    /// # Errors
    ///
    /// [`StoreError::Corruption`] naming the first bad entry; storage failures.
    pub fn verify_entries(&self) -> Result<u64, StoreError> {
        let last = self.state().last_seqno;
        let mut from = 1;
        while from <= last {
            let page = self.entries(from..=last, 4096)?;
            match page.last() {
                Some((s, _)) => from = s + 1,
                None => break,
            }
        }
        Ok(last)
    }
}

/// Size of an encoded full tile.
const TILE_BYTES_MAX: usize = 2 + 511 * 32;

impl Drop for RocksStore {
    fn drop(&mut self) {
        if self.closed.load(Ordering::SeqCst)
            || self.read_only
            || !self.flush_on_close
            || self.is_poisoned()
        {
            return;
        }
        if let Err(e) = self.flush_all() {
            tracing::warn!(path = %self.path.display(), error = %e, "flush on close failed");
        }
    }
}

impl TileStore for RocksStore {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        Ok(self.read_tile(id)?)
    }
}

impl RocksStore {
    /// The entry at `seqno` turned into a `T` by `read` (which checks its digest); `None`
    /// beyond the store's last seqno.
    fn read_entry<T>(
        &self,
        seqno: u64,
        read: impl FnOnce(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let last = self.state().last_seqno;
        if seqno == 0 || seqno > last {
            return Ok(None);
        }
        match self
            .db
            .get_pinned_cf(self.cf(CF_ENTRIES)?, keys::seqno_key(seqno))?
        {
            Some(v) => read(&v).map(Some),
            None => Err(StoreError::corruption(
                format!("entry {seqno}"),
                format!("missing, although the store's last seqno is {last}"),
            )),
        }
    }

    /// The gap-free run of entries from the start of `seqnos`, each stored value turned into
    /// a `T` by `read` (which checks its digest).
    fn entry_range<T>(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
        read: impl Fn(u64, &[u8]) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let Some(ReadRange {
            first: from,
            last: to,
            limit,
        }) = ReadRange::within(seqnos, limit, self.state().last_seqno)
        else {
            return Ok(out);
        };
        let upper = to.checked_add(1).map(|u| keys::seqno_key(u).to_vec());
        let mut it = self.iter(CF_ENTRIES, Some(keys::seqno_key(from).to_vec()), upper)?;
        it.seek(keys::seqno_key(from));
        let mut expected = from;
        while out.len() < limit && expected <= to {
            let Some((k, v)) = it.item() else { break };
            let seqno = keys::decode_seqno(k)
                .ok_or_else(|| StoreError::corruption("entries", "a key is not a seqno"))?;
            if seqno != expected {
                break;
            }
            out.push(read(seqno, v)?);
            expected += 1;
            it.next();
        }
        it.status()?;
        if out.len() < limit && expected <= to {
            return Err(StoreError::corruption(
                format!("entry {expected}"),
                format!(
                    "missing, although the store's last seqno is {}",
                    self.state().last_seqno.max(to)
                ),
            ));
        }
        Ok(out)
    }

    /// Up to `limit` seqnos of `collection`'s index rows in `seqnos` (and at most the store's
    /// last seqno), ascending or, with `reverse`, descending.
    fn collection_rows(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<u64>, StoreError> {
        let mut out = Vec::new();
        let Some(ReadRange {
            first: from,
            last: to,
            limit,
        }) = ReadRange::within(seqnos, limit, self.state().last_seqno)
        else {
            return Ok(out);
        };
        let prefix = keys::name_prefix(collection);
        let mut it = self.iter(
            CF_COLLECTIONS,
            Some(keys::collection_key(collection, from)),
            Some(keys::prefix_end(&prefix)),
        )?;
        if reverse {
            it.seek_for_prev(keys::collection_key(collection, to));
        } else {
            it.seek(keys::collection_key(collection, from));
        }
        while let Some(k) = it.key() {
            let s = row_seqno(k, prefix.len(), "collection index")?;
            if s < from || s > to || out.len() >= limit {
                break;
            }
            out.push(s);
            if reverse {
                it.prev();
            } else {
                it.next();
            }
        }
        it.status()?;
        Ok(out)
    }
}

impl Store for RocksStore {
    fn append_group(&self, group: &Group) -> Result<GroupTicket, StoreError> {
        self.check_writable()?;
        validate::check_self(group)?;
        let mut batch = self.group_batch(group)?;
        let mut w = self.writer.lock();
        self.check_writable()?;
        let (_, _, new_last) = validate::check_against(group, w.last_seqno)?;
        let pending_cf = self.cf(CF_PENDING)?;
        let committed = if group.commit {
            for id in w.first_pending..w.next_pending {
                batch.delete_cf(pending_cf, keys::seqno_key(id));
            }
            new_last
        } else {
            let rec = self.pending_record(group, w.committed_seqno)?;
            if !rec.is_empty() {
                batch.put_cf(pending_cf, keys::seqno_key(w.next_pending), rec.encode());
                w.next_pending += 1;
            }
            w.committed_seqno
        };
        batch.put_cf(
            self.cf(CF_STORE)?,
            KEY_STATE,
            state_bytes(new_last, committed),
        );
        let mut wo = WriteOptions::default();
        wo.set_sync(false);
        if let Err(e) = self.db.write_opt(batch, &wo) {
            let err = StoreError::from_rocks(e);
            self.poison_with(&err);
            return Err(err);
        }
        if group.commit {
            w.first_pending = w.next_pending;
        }
        w.last_seqno = new_last;
        w.committed_seqno = committed;
        w.ticket += 1;
        let ticket = w.ticket;
        *self.state.write() = StoreState {
            last_seqno: new_last,
            committed_seqno: committed,
        };
        self.sync.appended(ticket);
        Ok(GroupTicket(ticket))
    }

    fn await_commit(&self, ticket: GroupTicket) -> Result<(), StoreError> {
        match self.durability {
            Durability::Fsync => self.sync_through(ticket.0),
            Durability::Buffered => Ok(()),
        }
    }

    fn state(&self) -> StoreState {
        *self.state.read()
    }

    fn entry(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_entry(seqno, |value| decode_entry(seqno, value))
    }

    fn entry_record(&self, seqno: u64) -> Result<Option<EntryRecord>, StoreError> {
        self.read_entry(seqno, |value| {
            checked_entry(seqno, value)
                .map(|(digest, bytes)| EntryRecord::hashed(seqno, digest, bytes.to_vec()))
        })
    }

    fn entries(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        self.entry_range(seqnos, limit, |seqno, value| {
            decode_entry(seqno, value).map(|bytes| (seqno, bytes))
        })
    }

    fn entry_records(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<EntryRecord>, StoreError> {
        self.entry_range(seqnos, limit, |seqno, value| {
            checked_entry(seqno, value)
                .map(|(digest, bytes)| EntryRecord::hashed(seqno, digest, bytes.to_vec()))
        })
    }

    fn collection_seqnos(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.collection_rows(collection, seqnos, limit, false)
    }

    fn collection_seqnos_rev(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.collection_rows(collection, seqnos, limit, true)
    }

    fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let mut it = self.iter(CF_COLLECTIONS, None, None)?;
        match after {
            Some(a) => it.seek(keys::prefix_end(&keys::name_prefix(a))),
            None => it.seek_to_first(),
        }
        while out.len() < limit {
            let Some(k) = it.key() else { break };
            let (name, _) = keys::split_name_seqno(k)
                .ok_or_else(|| StoreError::corruption("collection index", "undecodable key"))?;
            let name = String::from_utf8(name)
                .map_err(|_| StoreError::corruption("collection index", "a name is not UTF-8"))?;
            it.seek(keys::prefix_end(&keys::name_prefix(&name)));
            out.push(name);
        }
        it.status()?;
        Ok(out)
    }

    fn table_get(
        &self,
        table: &str,
        key: &[u8],
        as_of: u64,
    ) -> Result<Option<TableVersion>, StoreError> {
        let prefix = keys::table_key_prefix(table, key);
        let mut it = self.iter(
            CF_TABLES,
            Some(prefix.clone()),
            Some(keys::prefix_end(&prefix)),
        )?;
        it.seek_for_prev(keys::table_row_key(table, key, as_of));
        let found = match it.item() {
            Some((k, v)) => Some(table_version(k, v, prefix.len())?),
            None => None,
        };
        it.status()?;
        Ok(found)
    }

    fn table_history(
        &self,
        table: &str,
        key: &[u8],
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<TableVersion>, StoreError> {
        let mut out = Vec::new();
        let Some(ReadRange {
            first: from,
            last: to,
            limit,
        }) = ReadRange::new(seqnos, limit)
        else {
            return Ok(out);
        };
        let prefix = keys::table_key_prefix(table, key);
        let mut it = self.iter(
            CF_TABLES,
            Some(prefix.clone()),
            Some(keys::prefix_end(&prefix)),
        )?;
        it.seek(keys::table_row_key(table, key, from));
        while let Some((k, v)) = it.item() {
            let version = table_version(k, v, prefix.len())?;
            if version.seqno > to || out.len() >= limit {
                break;
            }
            out.push(version);
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    fn table_scan(
        &self,
        table: &str,
        as_of: u64,
        after_key: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, TableVersion)>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let table_prefix = keys::name_prefix(table);
        let mut it = self.iter(
            CF_TABLES,
            Some(table_prefix.clone()),
            Some(keys::prefix_end(&table_prefix)),
        )?;
        match after_key {
            Some(k) => it.seek(keys::prefix_end(&keys::table_key_prefix(table, k))),
            None => it.seek(&table_prefix),
        }
        while out.len() < limit {
            let Some(k) = it.key() else { break };
            let (key, _) = keys::split_table_suffix(&k[table_prefix.len()..]).ok_or_else(|| {
                StoreError::corruption(format!("table {table}"), "undecodable key")
            })?;
            let key_prefix = keys::table_key_prefix(table, &key);
            it.seek_for_prev(keys::table_row_key(table, &key, as_of));
            if let Some((k, v)) = it.item() {
                if k.starts_with(&key_prefix) {
                    let version = table_version(k, v, key_prefix.len())?;
                    if version.value.is_some() {
                        out.push((key.clone(), version));
                    }
                }
            }
            it.seek(keys::prefix_end(&key_prefix));
        }
        it.status()?;
        Ok(out)
    }

    fn signature(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get_cf(self.cf(CF_SIGNATURES)?, keys::seqno_key(seqno))?)
    }

    fn signature_after(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let Some(start) = seqno.checked_add(1) else {
            return Ok(None);
        };
        Ok(self.signatures(start..=u64::MAX, 1)?.pop())
    }

    fn signature_at_or_before(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        let mut it = self.iter(CF_SIGNATURES, None, None)?;
        it.seek_for_prev(keys::seqno_key(seqno));
        let found = match it.item() {
            Some((k, v)) => Some((sig_seqno(k)?, v.to_vec())),
            None => None,
        };
        it.status()?;
        Ok(found)
    }

    fn signatures(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        let Some(ReadRange {
            first: from,
            last: to,
            limit,
        }) = ReadRange::new(seqnos, limit)
        else {
            return Ok(out);
        };
        let mut it = self.iter(CF_SIGNATURES, Some(keys::seqno_key(from).to_vec()), None)?;
        it.seek(keys::seqno_key(from));
        while let Some((k, v)) = it.item() {
            let s = sig_seqno(k)?;
            if s > to || out.len() >= limit {
                break;
            }
            out.push((s, v.to_vec()));
            it.next();
        }
        it.status()?;
        Ok(out)
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(CF_META)?, key.as_bytes())?)
    }

    fn sync(&self) -> Result<(), StoreError> {
        self.check_writable()?;
        self.sync_through(self.sync.last_appended())
    }

    fn backup(&self, dir: &Path) -> Result<BackupInfo, StoreError> {
        backup::backup(self, dir)
    }
}

fn row_seqno(key: &[u8], prefix_len: usize, what: &str) -> Result<u64, StoreError> {
    key.get(prefix_len..)
        .and_then(keys::decode_seqno)
        .ok_or_else(|| StoreError::corruption(what, "undecodable key"))
}

fn sig_seqno(key: &[u8]) -> Result<u64, StoreError> {
    keys::decode_seqno(key).ok_or_else(|| StoreError::corruption("signatures", "undecodable key"))
}

fn table_version(key: &[u8], value: &[u8], prefix_len: usize) -> Result<TableVersion, StoreError> {
    let seqno = row_seqno(key, prefix_len, "table version")?;
    let value = keys::decode_table_value(value).ok_or_else(|| {
        StoreError::corruption(
            format!("table version at seqno {seqno}"),
            "unknown value tag",
        )
    })?;
    Ok(TableVersion { seqno, value })
}
