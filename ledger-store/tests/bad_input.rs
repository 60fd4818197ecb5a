//! Bad input: directories that are not ledgers, incompatible format versions, missing column
//! families, restores into non-empty directories, and backups that do not verify. Each must
//! fail with a clear error and leave the disk as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::{make_group, verify_prefix, Tree};
use ledger_store::{Durability, RocksStore, Store, StoreConfig, StoreError};

fn config() -> StoreConfig {
    StoreConfig::default().durability(Durability::Buffered)
}

/// Every file under `dir` with its size, modification time and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime, Vec<u8>)> {
    let mut out = BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(snapshot(&e.path()));
        } else {
            out.insert(
                e.path(),
                (m.len(), m.modified().unwrap(), fs::read(e.path()).unwrap()),
            );
        }
    }
    out
}

fn ledger_with(dir: &Path, n: u64) {
    let (store, _) = RocksStore::open(dir, config()).unwrap();
    store
        .write_group(&make_group(&mut Tree::default(), 0, n, true))
        .unwrap();
}

#[test]
fn a_directory_of_other_files_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let before = snapshot(dir.path());
    match RocksStore::open(dir.path(), config()) {
        Err(StoreError::NotALedger { path, reason }) => {
            assert_eq!(path, dir.path());
            assert!(reason.contains("CURRENT"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        RocksStore::open_read_only(dir.path()),
        Err(StoreError::NotALedger { .. })
    ));
    assert_eq!(snapshot(dir.path()), before);
    // A plain file is not a ledger either.
    let file = dir.path().join("notes.txt");
    assert!(matches!(
        RocksStore::open(&file, config()),
        Err(StoreError::NotALedger { .. })
    ));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn another_rocksdb_database_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        db.put(b"k", b"v").unwrap();
    }
    let before = snapshot(dir.path());
    match RocksStore::open(dir.path(), config()) {
        Err(StoreError::NotALedger { reason, .. }) => {
            assert!(reason.contains("column famil"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before);
}

fn rewrite_with_raw_rocksdb(dir: &Path, f: impl FnOnce(&rocksdb::DB)) {
    let mut opts = rocksdb::Options::default();
    opts.create_if_missing(false);
    let cfs = rocksdb::DB::list_cf(&opts, dir).unwrap();
    let mut db = rocksdb::DB::open_cf(&opts, dir, &cfs).unwrap();
    f(&db);
    db.flush().unwrap();
    let _ = &mut db;
}

#[test]
fn an_unknown_format_version_is_refused_without_changes() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with(dir.path(), 10);
    rewrite_with_raw_rocksdb(dir.path(), |db| {
        let cf = db.cf_handle("store").unwrap();
        db.put_cf(cf, b"format", 7u32.to_be_bytes()).unwrap();
    });
    let before = snapshot(dir.path());
    match RocksStore::open(dir.path(), config()) {
        Err(StoreError::IncompatibleFormat { found, supported }) => {
            assert_eq!((found, supported), (7, ledger_store::rocks::FORMAT_VERSION));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        RocksStore::open_read_only(dir.path()),
        Err(StoreError::IncompatibleFormat { found: 7, .. })
    ));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_missing_column_family_is_corruption_and_never_created() {
    let dir = tempfile::tempdir().unwrap();
    ledger_with(dir.path(), 10);
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let mut db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
        db.drop_cf("tiles").unwrap();
    }
    let before = snapshot(dir.path());
    match RocksStore::open(dir.path(), config()) {
        Err(StoreError::Corruption { what, .. }) => assert_eq!(what, "column family tiles"),
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn missing_store_without_create_if_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nothing");
    assert!(matches!(
        RocksStore::open(&path, config().create_if_missing(false)),
        Err(StoreError::Missing { .. })
    ));
    assert!(!path.exists());
    assert!(matches!(
        RocksStore::open_read_only(&path),
        Err(StoreError::Missing { .. })
    ));
}

#[test]
fn backup_and_restore_round_trip_while_writing() {
    let root = tempfile::tempdir().unwrap();
    let src = root.path().join("src");
    let mut tree = Tree::default();
    let (store, _) = RocksStore::open(&src, config()).unwrap();
    let mut last = 0;
    while last < 800 {
        let (n, commit) = common::schedule(last);
        store
            .write_group(&make_group(&mut tree, last, n, commit))
            .unwrap();
        last += n;
    }
    let info = std::thread::scope(|s| {
        // Keep writing from another thread while the backup runs.
        let writer = s.spawn(|| {
            let mut tree = Tree::default();
            let mut last = store.state().last_seqno;
            for _ in 0..50 {
                let (n, commit) = common::schedule(last);
                store
                    .write_group(&make_group(&mut tree, last, n, commit))
                    .unwrap();
                last += n;
            }
        });
        let info = store.backup(&root.path().join("backup")).unwrap();
        writer.join().unwrap();
        info
    });
    assert!(info.files > 0 && info.bytes > 0);
    assert!(info.committed_seqno <= info.last_seqno);
    drop(store);

    // Restore into a non-empty directory: refused, nothing changed.
    let busy = root.path().join("busy");
    fs::create_dir(&busy).unwrap();
    fs::write(busy.join("keep"), b"x").unwrap();
    let before = snapshot(&busy);
    assert!(matches!(
        RocksStore::restore(root.path().join("backup"), &busy),
        Err(StoreError::TargetNotEmpty { .. })
    ));
    assert_eq!(snapshot(&busy), before);

    // A good restore, then open: exactly the backed-up committed prefix.
    let target = root.path().join("restored");
    let restored = RocksStore::restore(root.path().join("backup"), &target).unwrap();
    assert_eq!(restored.committed_seqno, info.committed_seqno);
    let (store, recovery) = RocksStore::open(&target, config()).unwrap();
    assert_eq!(recovery.committed_seqno, info.committed_seqno);
    verify_prefix(&store, info.committed_seqno, &mut tree).unwrap();
    // The restored store says that its bytes came from a backup; the original does not.
    assert_eq!(
        store.meta(ledger_store::META_RESTORED).unwrap(),
        Some(b"1".to_vec())
    );
    drop(store);
    let (original, _) = RocksStore::open(&src, config()).unwrap();
    assert_eq!(original.meta(ledger_store::META_RESTORED).unwrap(), None);
    drop(original);

    // Backups into a non-empty directory are refused too.
    let (store, _) = RocksStore::open(&src, config()).unwrap();
    assert!(matches!(
        store.backup(&busy),
        Err(StoreError::TargetNotEmpty { .. })
    ));
    drop(store);

    // A damaged backup file is caught, and the partial restore is removed.
    let backup = root.path().join("backup");
    let victim = fs::read_dir(&backup)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(&victim).unwrap();
    bytes[10] ^= 0xFF;
    fs::write(&victim, bytes).unwrap();
    let target2 = root.path().join("restored-2");
    match RocksStore::restore(&backup, &target2) {
        Err(StoreError::Corruption { what, .. }) => assert!(what.starts_with("backup file")),
        other => panic!("{other:?}"),
    }
    assert!(!target2.exists());

    // A directory that is not a backup.
    assert!(matches!(
        RocksStore::restore(&busy, root.path().join("restored-3")),
        Err(StoreError::NotALedger { .. })
    ));
    assert!(!root.path().join("restored-3").exists());
}

#[test]
fn memory_store_backup_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    let s = ledger_store::MemoryStore::new();
    assert!(matches!(
        s.backup(dir.path()),
        Err(StoreError::Unsupported { .. })
    ));
}

#[test]
fn read_only_open_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = RocksStore::open(dir.path(), config().flush_on_close(false)).unwrap();
        common::append_schedule(&store, &mut Tree::default(), 300);
        store.sync().unwrap();
    }
    let before = snapshot(dir.path());
    {
        let ro = RocksStore::open_read_only(dir.path()).unwrap();
        assert!(ro.state().last_seqno >= 300);
        assert!(ro.entries(1..=300, 300).unwrap().len() == 300);
    }
    assert_eq!(snapshot(dir.path()), before);
}
