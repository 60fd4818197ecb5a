//! Crash cycles on RocksDB in `Buffered` mode, where a machine crash may lose every write that
//! was not synced. Each cycle opens the ledger on the directory the last crash left, hands out
//! a seeded number of ids (waiting for some to be Committed), and crashes; the directory the
//! crash leaves is a copy, taken as described below, and the next cycle opens the copy. Across
//! ten cycles, each test asserts:
//!
//! * no `TxId` is handed out twice;
//! * every open after a crash hands out ids in a view greater than every view used before;
//! * from the next cycle on, every id the copy holds is Committed and every other one Invalid,
//!   including those `wait_for_commit` reported Committed: in `Buffered` mode Committed means
//!   written, not synced, so it need not survive a machine crash;
//! * the final ledger audits clean, with exactly one new view per crash.
//!
//! Cycle 0, and a seeded fifth of the others, end in a clean close that reaches the disk: a
//! ledger that lost the view change and running marker of its next open would reopen as
//! cleanly closed, in the same view, and hand out that open's ids again.
//!
//! # Two crashes
//!
//! A copy of a file cannot tell synced bytes from unsynced ones. The store writes each group
//! to RocksDB's WAL with `sync = false`, and RocksDB passes it to the OS at once (no manual WAL
//! flush), so unsynced groups sit in the page cache, and copying a file reads them. A copy of
//! the directory is therefore what a crash that keeps every write leaves, and what a power cut
//! leaves only if taken when nothing unsynced has been written. Each test models one:
//!
//! * [`power_cuts_lose_every_unsynced_write`]: the store is wrapped ([`SnapshotOnSync`]) so
//!   that every `Store::sync`, with writes held off, copies the directory as soon as the sync
//!   returns, and so does opening it (every write of `RocksStore::open` is synced). In
//!   `Buffered` mode nothing else makes a write durable (`await_commit` returns at once), so
//!   the last copy is exactly what a power cut keeps for certain, and every later write is
//!   lost. `Ledger::open` has no hook at the sync, so the ledger is opened the way it opens
//!   it: `RocksStore::open` with the same `StoreConfig`, then `Ledger::with_store`. Without
//!   the sync of the view history in `Ledger::start` this test fails (a later cycle hands out
//!   the ids of a lost one again).
//! * [`process_crashes_keep_every_written_byte`]: `Ledger::open`, then a copy of the live
//!   directory; what the ledger writes after the copy is lost. This is a killed process, or a
//!   power cut after the OS happened to write back everything. The copy holds written but
//!   unsynced data, which this model keeps by definition. It must not race the writer thread:
//!   when `Ledger::open` returns after an unclean stop, the writer may still be writing the
//!   signature that begins the new view (`Ledger::start` does not wait for it, and neither
//!   does `Ledger::flush`, which waits only for transactions other than signatures, and the
//!   recovered store already ends with one). So each cycle first appends one transaction and
//!   waits for it to commit: its signature follows the new view's, and once it is written
//!   nothing is left unsigned, so the writer is idle during the copy. This test cannot see
//!   the sync in `Ledger::start`: a crash that keeps every write loses nothing it protects.
//!
//! RocksDB's own background work (memtable flushes, compactions) may write at any moment; see
//! [`copy_quiet`].
//!
//! # Not covered
//!
//! * Power cuts that keep some of the unsynced writes. RocksDB's point-in-time WAL recovery
//!   then keeps a prefix of the groups written after the sync; these tests produce the two
//!   ends only (none, all).
//! * Whether syncs reach stable storage: the copy trusts that `flush_wal(true)` and RocksDB's
//!   syncs of its own files and directory entries do what they claim, and a file whose
//!   directory entry was never synced is in the copy all the same.
//! * Torn or reordered pages within a file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ledger_core::{audit_path, AuditOptions, Durability, Ledger, LedgerConfig, TxId, TxStatus};
use ledger_merkle::{Tile, TileId, TileStore, TileStoreError};
use ledger_store::{
    BackupInfo, Group, GroupTicket, RocksStore, Store, StoreConfig, StoreError, StoreState,
    TableVersion,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CYCLES: usize = 10;
const WAIT: Duration = Duration::from_secs(30);

/// `Buffered` durability, and signatures only when asked for (by `wait_for_commit` or a
/// close), so that a seed hands out the same ids on every run.
fn config(path: &Path) -> LedgerConfig {
    LedgerConfig::new(path)
        .durability(Durability::Buffered)
        .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap())
        .sig_interval(Duration::from_secs(3600))
}

/// What a crash leaves of the ledger directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crash {
    /// What was synced: the copy taken at the last `Store::sync`.
    PowerCut,
    /// Everything written: a copy of the live directory.
    ProcessCrash,
}

#[test]
fn power_cuts_lose_every_unsynced_write() {
    run(Crash::PowerCut, 0x0b0f_fe2e_d0c5);
}

#[test]
fn process_crashes_keep_every_written_byte() {
    run(Crash::ProcessCrash, 0x0b0f_fe2e_d0c6);
}

/// The ids handed out so far, and what each must report from the next crash on.
#[derive(Default)]
struct History {
    /// The cycle that handed out each id.
    handed_out: BTreeMap<TxId, usize>,
    /// Committed if the copy the next cycle opens holds it, Invalid if a crash lost it.
    expected: BTreeMap<TxId, TxStatus>,
    /// The view each cycle's ids are in.
    views: Vec<u64>,
}

impl History {
    fn hand_out(&mut self, cycle: usize, id: TxId, after_crash: bool) {
        if let Some(earlier) = self.handed_out.insert(id, cycle) {
            panic!(
                "cycle {cycle} handed out {id}, which cycle {earlier} handed out before: one id \
                 now names two transactions"
            );
        }
        match self.views.get(cycle) {
            Some(view) => assert_eq!(id.view(), *view, "cycle {cycle} changed view"),
            None => {
                if let Some(&before) = self.views.iter().max() {
                    if after_crash {
                        assert!(
                            id.view() > before,
                            "cycle {cycle} reopened after a crash in view {}, not after view \
                             {before}",
                            id.view()
                        );
                    } else {
                        assert!(
                            id.view() >= before,
                            "cycle {cycle} went back to an old view"
                        );
                    }
                }
                self.views.push(id.view());
            }
        }
    }

    fn check(&self, ledger: &Ledger, when: &str) {
        for (id, want) in &self.expected {
            let found = ledger.status(*id);
            assert_eq!(
                found, *want,
                "{when}: {id}, handed out in cycle {}, is {found:?}",
                self.handed_out[id]
            );
        }
    }
}

fn run(crash: Crash, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let root = tempfile::tempdir().unwrap();
    let mut disk = root.path().join("disk-0");
    let mut history = History::default();
    let mut previous_clean = false;
    let mut crashes = 0;
    let mut lost_committed = 0;
    let mut snapshots = 0;
    for cycle in 0..CYCLES {
        let next = root.path().join(format!("disk-{}", cycle + 1));
        let clean = cycle == 0 || rng.gen_ratio(1, 5);
        let after_crash = cycle > 0 && !previous_clean;
        let (ledger, store) = match crash {
            Crash::PowerCut => {
                let store_config = StoreConfig::default().durability(Durability::Buffered);
                let (inner, recovery) = RocksStore::open(&disk, store_config).unwrap();
                let store = Arc::new(SnapshotOnSync::new(inner, &disk, &next));
                let ledger = Ledger::with_store(
                    Arc::clone(&store) as Arc<dyn Store>,
                    &recovery,
                    &config(&disk),
                )
                .unwrap_or_else(|e| panic!("cycle {cycle}: open failed: {e}"));
                (ledger, Some(store))
            }
            Crash::ProcessCrash => {
                let ledger = Ledger::open(config(&disk))
                    .unwrap_or_else(|e| panic!("cycle {cycle}: open failed: {e}"));
                (ledger, None)
            }
        };
        // (id, whether the directory the next cycle opens holds it)
        let mut mine = Vec::new();
        if crash == Crash::ProcessCrash {
            // Once this commits, the writer has written the new view's signature and has
            // nothing left to write: see the module documentation.
            let id = ledger.append("power", b"before the copy").unwrap();
            assert_eq!(
                ledger.wait_for_commit(id, WAIT).unwrap(),
                TxStatus::Committed
            );
            history.hand_out(cycle, id, after_crash);
            mine.push((id, true));
            copy_quiet(&disk, &next);
        }
        for _ in 0..rng.gen_range(1..=20) {
            let id = ledger.append("power", &rng.gen::<[u8; 8]>()).unwrap();
            history.hand_out(cycle, id, after_crash);
            if rng.gen_ratio(1, 4) {
                assert_eq!(
                    ledger.wait_for_commit(id, WAIT).unwrap(),
                    TxStatus::Committed
                );
                if !clean {
                    lost_committed += 1;
                }
            }
            mine.push((id, clean));
        }
        history.check(&ledger, &format!("cycle {cycle}"));
        if clean {
            ledger.close().unwrap();
            match &store {
                // The OS writes everything back.
                Some(store) => store.sync().unwrap(),
                None => copy_quiet(&disk, &next),
            }
        } else {
            // The crash: what the ledger writes while it stops reaches `disk`, which is never
            // opened again.
            drop(ledger);
            crashes += 1;
        }
        if let Some(store) = store {
            snapshots += store.snapshots.load(Ordering::Relaxed);
        }
        std::fs::remove_dir_all(&disk).unwrap();
        history.expected.extend(mine.into_iter().map(|(id, kept)| {
            let status = if kept {
                TxStatus::Committed
            } else {
                TxStatus::Invalid
            };
            (id, status)
        }));
        disk = next;
        previous_clean = clean;
    }
    let ledger = Ledger::open(config(&disk)).unwrap();
    history.check(&ledger, "final open");
    ledger.close().unwrap();
    let report = audit_path(&disk, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "final audit: {:?}", report.finding);
    assert_eq!(
        report.views.len(),
        1 + crashes,
        "each crash begins exactly one view: {:?}",
        report.views
    );
    assert!(lost_committed > 0, "no Committed transaction was lost");
    eprintln!(
        "{crash:?}: {CYCLES} cycles, {crashes} crashes, {snapshots} snapshots at syncs, {} ids, \
         {lost_committed} Committed ones lost; final ledger of {} transactions in views {:?}",
        history.handed_out.len(),
        report.last_seqno,
        report.views
    );
}

/// Copies the directory `from` to `to` (replacing `to`), without RocksDB's info logs, again
/// until nothing in `from` changed while it was copied. RocksDB's background jobs write at any
/// moment, but its files only grow or appear and disappear under new names (`CURRENT` is
/// replaced by a rename), so when every name, length and modification time is the same after
/// the copy as before it, the copy holds one state of the directory.
fn copy_quiet(from: &Path, to: &Path) {
    for _ in 0..1000 {
        // A file deleted while listed or copied fails that attempt.
        if let Ok(before) = listing(from) {
            if to.exists() {
                std::fs::remove_dir_all(to).unwrap();
            }
            if copy_dir(from, to).is_ok() && listing(from).is_ok_and(|after| after == before) {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("{} did not stop changing", from.display());
}

fn is_info_log(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("LOG"))
}

fn listing(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, (u64, SystemTime)>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            files.extend(listing(&path)?);
        } else if !is_info_log(&path) {
            files.insert(path, (meta.len(), meta.modified()?));
        }
    }
    Ok(files)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (path, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &target)?;
        } else if !is_info_log(&path) {
            std::fs::copy(&path, &target)?;
        }
    }
    Ok(())
}

/// A `Buffered` RocksDB store that copies its directory to `to` when wrapped and right after
/// every [`Store::sync`], with writes held off in between: the last copy is what a power cut
/// leaves, whatever was written since.
#[derive(Debug)]
struct SnapshotOnSync {
    inner: RocksStore,
    from: PathBuf,
    to: PathBuf,
    /// Held by every write, and by a sync until its copy is taken.
    writes: Mutex<()>,
    snapshots: AtomicUsize,
}

impl SnapshotOnSync {
    fn new(inner: RocksStore, from: &Path, to: &Path) -> Self {
        let store = Self {
            inner,
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            writes: Mutex::new(()),
            snapshots: AtomicUsize::new(0),
        };
        store.snapshot();
        store
    }

    fn snapshot(&self) {
        copy_quiet(&self.from, &self.to);
        self.snapshots.fetch_add(1, Ordering::Relaxed);
    }
}

impl TileStore for SnapshotOnSync {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        self.inner.load_tile(id)
    }
}

impl Store for SnapshotOnSync {
    fn append_group(&self, group: &Group) -> Result<GroupTicket, StoreError> {
        let _writes = self.writes.lock().unwrap();
        self.inner.append_group(group)
    }

    fn append_group_owned(
        &self,
        group: &mut Group,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<GroupTicket, StoreError> {
        let _writes = self.writes.lock().unwrap();
        self.inner.append_group_owned(group, spare)
    }

    /// Makes nothing durable in `Buffered` mode.
    fn await_commit(&self, ticket: GroupTicket) -> Result<(), StoreError> {
        self.inner.await_commit(ticket)
    }

    fn sync(&self) -> Result<(), StoreError> {
        let _writes = self.writes.lock().unwrap();
        self.inner.sync()?;
        self.snapshot();
        Ok(())
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

    fn backup(&self, dir: &Path) -> Result<BackupInfo, StoreError> {
        self.inner.backup(dir)
    }
}
