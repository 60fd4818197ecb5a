//! Damage tests: flip, truncate or extend the bytes of the store's files (table files, WAL,
//! MANIFEST, CURRENT, OPTIONS) at seeded positions, reopen, and require either a typed error
//! or exactly a committed prefix of what was written: never a panic, never wrong data.
//!
//! Each case runs under a deadline, so that an open that never returns fails the test instead
//! of hanging it: RocksDB's WAL reader loops forever on one kind of WAL damage, which the
//! store must catch before RocksDB replays the log (`a_recyclable_record_in_the_wal_is_corruption`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::{boundaries, verify_prefix, Tree};
use ledger_store::{Durability, RocksStore, Store, StoreConfig, StoreError};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn config() -> StoreConfig {
    StoreConfig::default().durability(Durability::Buffered)
}

/// Builds a store whose older groups are in table files and newer ones only in the WAL.
fn build(dir: &Path) -> u64 {
    let mut tree = Tree::default();
    let (store, _) = RocksStore::open(dir, config()).unwrap();
    common::append_schedule(&store, &mut tree, 1500);
    drop(store); // flushes to table files
    let (store, _) = RocksStore::open(dir, config().flush_on_close(false)).unwrap();
    let committed = common::append_schedule(&store, &mut tree, 2600);
    store.sync().unwrap();
    drop(store); // leaves the newest groups in the WAL
    committed
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Flip(u64),
    Truncate(u64),
    AppendGarbage(u64),
}

fn apply(path: &Path, damage: Damage, rng: &mut ChaCha8Rng) {
    let mut bytes = fs::read(path).unwrap();
    match damage {
        Damage::Flip(pos) => bytes[pos as usize] ^= 1 << rng.gen_range(0..8),
        Damage::Truncate(len) => bytes.truncate(len as usize),
        Damage::AppendGarbage(n) => bytes.extend((0..n).map(|_| rng.gen::<u8>())),
    }
    fs::write(path, bytes).unwrap();
}

/// Which outcome a damaged store produced.
#[derive(Debug, Default)]
struct Tally {
    intact: usize,
    shorter_prefix: usize,
    open_error: BTreeMap<String, usize>,
    read_error: usize,
    /// The open or the reads never returned (within [`CASE_TIMEOUT`]).
    hung: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.intact += other.intact;
        self.shorter_prefix += other.shorter_prefix;
        for (k, v) in other.open_error {
            *self.open_error.entry(k).or_default() += v;
        }
        self.read_error += other.read_error;
        self.hung += other.hung;
    }
}

/// Longest a damaged copy may take to open and verify before it counts as hung.
const CASE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn kind(e: &StoreError) -> String {
    match e {
        StoreError::Corruption { .. } => "corruption".into(),
        StoreError::Rocks { kind, .. } => format!("rocks-{kind:?}"),
        other => panic!("untyped or unexpected error for a damaged store: {other:?}"),
    }
}

/// The damage of case `round` of a file of `len` bytes: flips, truncations and garbage
/// appended, in turn.
fn pick_damage(round: u64, len: u64, rng: &mut ChaCha8Rng) -> Damage {
    match round % 4 {
        0 | 1 => Damage::Flip(rng.gen_range(0..len)),
        2 => Damage::Truncate(rng.gen_range(0..len)),
        _ => Damage::AppendGarbage(rng.gen_range(1..200)),
    }
}

/// Copies `pristine` to `dir`, applies `damage` to its file `name`, and checks the copy on a
/// thread of its own so that a hang fails the test instead of stalling it. Returns the
/// outcome (and removes the copy), or `None` if the check has not returned within `timeout`
/// (the copy stays; the stuck thread holds only it).
fn run_case(
    pristine: &Path,
    dir: &Path,
    name: &str,
    damage: Damage,
    rng: &mut ChaCha8Rng,
    full_committed: u64,
    timeout: std::time::Duration,
) -> Option<Tally> {
    copy_dir(pristine, dir);
    apply(&dir.join(name), damage, rng);
    let (done, outcome) = std::sync::mpsc::channel();
    let case_dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let mut tree = Tree::default();
        let mut local = Tally::default();
        check_damaged(&case_dir, full_committed, &mut tree, &mut local);
        let _ = done.send(local);
    });
    match outcome.recv_timeout(timeout) {
        Ok(local) => {
            fs::remove_dir_all(dir).unwrap();
            Some(local)
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
        Err(e) => panic!("{} ({name}, {damage:?}) failed: {e}", dir.display()),
    }
}

/// Opens the damaged copy and checks the outcome; returns a description for the tally.
fn check_damaged(dir: &Path, full_committed: u64, tree: &mut Tree, tally: &mut Tally) {
    let (store, recovery) = match RocksStore::open(dir, config()) {
        Ok(x) => x,
        Err(e) => {
            *tally.open_error.entry(kind(&e)).or_default() += 1;
            return;
        }
    };
    let committed = recovery.committed_seqno;
    assert!(
        committed <= full_committed,
        "recovered to {committed}, beyond the {full_committed} ever committed"
    );
    assert!(
        boundaries(committed).contains(&committed),
        "recovered to {committed}, which is not the end of a commit group"
    );
    match verify_prefix(&store, committed, tree) {
        Ok(()) if committed == full_committed => tally.intact += 1,
        Ok(()) => tally.shorter_prefix += 1,
        Err(e) => {
            kind(&e);
            assert!(
                e.is_corruption() || matches!(e, StoreError::Rocks { .. }),
                "{e:?}"
            );
            tally.read_error += 1;
        }
    }
}

#[test]
fn damaged_files_give_typed_errors_or_a_committed_prefix() {
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    let full = build(&pristine);
    // The pristine copy is intact.
    {
        let (store, rec) = RocksStore::open_read_only(&pristine)
            .map(|s| {
                let c = s.state().committed_seqno;
                (s, c)
            })
            .unwrap();
        assert_eq!(rec, full);
        drop(store);
    }
    let mut files: Vec<(String, u64)> = fs::read_dir(&pristine)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .filter(|(name, len)| *len > 0 && !name.starts_with("LOG") && name != "LOCK")
        .collect();
    files.sort();
    let kinds = |prefix: &str| files.iter().filter(|(n, _)| n.contains(prefix)).count();
    assert!(kinds(".sst") >= 3, "{files:?}");
    assert!(kinds(".log") >= 1, "{files:?}");
    assert!(kinds("MANIFEST") >= 1, "{files:?}");

    let mut rng = ChaCha8Rng::seed_from_u64(0xda3a6e);
    let mut per_file: BTreeMap<String, Tally> = BTreeMap::new();
    let mut cases = 0;
    for (name, len) in &files {
        let rounds =
            if name.ends_with(".sst") || name.ends_with(".log") || name.starts_with("MANIFEST") {
                14
            } else {
                4
            };
        for round in 0..rounds {
            let damage = pick_damage(round, *len, &mut rng);
            let dir = root.path().join(format!("case-{cases}"));
            let tally = per_file.entry(name.clone()).or_default();
            match run_case(&pristine, &dir, name, damage, &mut rng, full, CASE_TIMEOUT) {
                Some(local) => tally.add(local),
                None => tally.hung += 1,
            }
            cases += 1;
        }
    }
    for (name, tally) in &per_file {
        eprintln!("{name}: {tally:?}");
    }
    assert!(cases >= 60, "{cases} cases");
    for (name, tally) in &per_file {
        assert!(
            tally.hung == 0,
            "opening a copy with a damaged {name} hung: {tally:?}"
        );
    }
    // Damage in table files and the MANIFEST must have been noticed at least sometimes.
    let noticed = per_file
        .iter()
        .filter(|(n, _)| n.ends_with(".sst") || n.starts_with("MANIFEST"))
        .map(|(_, t)| t.open_error.values().sum::<usize>() + t.read_error)
        .sum::<usize>();
    assert!(noticed > 0);
}

#[test]
fn entry_digest_mismatch_is_reported_with_its_seqno() {
    // Write an entry through RocksDB directly with a wrong digest, as if bytes had rotted
    // beneath the checksums, and read it through the store.
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = RocksStore::open(dir.path(), config()).unwrap();
        let mut tree = Tree::default();
        common::append_schedule(&store, &mut tree, 50);
        let state = store.state();
        assert!(state.committed_seqno >= 1);
    }
    let committed = {
        let s = RocksStore::open_read_only(dir.path()).unwrap();
        s.state().committed_seqno
    };
    let victim = committed.min(7);
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
        let cf = db.cf_handle("entries").unwrap();
        let mut value = db.get_cf(cf, victim.to_be_bytes()).unwrap().unwrap();
        let last = value.len() - 1;
        value[last] ^= 0x40;
        db.put_cf(cf, victim.to_be_bytes(), value).unwrap();
        db.flush_cf(cf).unwrap();
    }
    let (store, _) = RocksStore::open(dir.path(), config()).unwrap();
    let expect_corrupt = |r: Result<_, StoreError>| match r {
        Err(StoreError::Corruption { what, .. }) => assert_eq!(what, format!("entry {victim}")),
        other => panic!("expected corruption of entry {victim}, got {other:?}"),
    };
    expect_corrupt(store.entry(victim).map(|_| ()));
    expect_corrupt(store.entries(1..=u64::MAX, usize::MAX).map(|_| ()));
    expect_corrupt(store.verify_entries().map(|_| ()));
    assert!(store.entry(victim + 1).unwrap().is_some());
}

#[test]
fn a_deleted_entry_is_reported_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = RocksStore::open(dir.path(), config()).unwrap();
        common::append_schedule(&store, &mut Tree::default(), 50);
    }
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(false);
        let cfs = rocksdb::DB::list_cf(&opts, dir.path()).unwrap();
        let db = rocksdb::DB::open_cf(&opts, dir.path(), &cfs).unwrap();
        let cf = db.cf_handle("entries").unwrap();
        db.delete_cf(cf, 3u64.to_be_bytes()).unwrap();
    }
    let (store, _) = RocksStore::open(dir.path(), config()).unwrap();
    match store.entries(1..=10, 10) {
        Err(StoreError::Corruption { what, .. }) => assert_eq!(what, "entry 3"),
        other => panic!("{other:?}"),
    }
    assert!(store.entry(3).unwrap_err().is_corruption());
}

/// Many seeded damages of the WAL alone (`LEDGER_WAL_STRESS_CASES`, default 300), each opened
/// under a deadline; keeps a copy of any case that hangs in the temp directory and fails.
/// `cargo test -p ledger-store --test damage -- --ignored wal_damage_stress --nocapture`.
#[test]
#[ignore = "stress run of WAL damage: minutes"]
fn wal_damage_stress() {
    let root = tempfile::tempdir().unwrap();
    let pristine = root.path().join("pristine");
    let full = build(&pristine);
    let wal: Vec<(String, u64)> = fs::read_dir(&pristine)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .filter(|(_, len)| *len > 0)
        .collect();
    assert!(!wal.is_empty());
    let cases: u64 = std::env::var("LEDGER_WAL_STRESS_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rng = ChaCha8Rng::seed_from_u64(0x3a1);
    let mut tally = Tally::default();
    for case in 0..cases {
        let (name, len) = &wal[rng.gen_range(0..wal.len())];
        let damage = pick_damage(case, *len, &mut rng);
        let dir = root.path().join(format!("case-{case}"));
        let timeout = std::time::Duration::from_secs(10);
        match run_case(&pristine, &dir, name, damage, &mut rng, full, timeout) {
            Some(local) => tally.add(local),
            None => {
                let keep = std::env::temp_dir().join(format!("wal-hang-{case}"));
                let _ = fs::remove_dir_all(&keep);
                copy_dir(&pristine, &keep.join("pristine"));
                copy_dir(&dir, &keep.join("damaged"));
                eprintln!(
                    "case {case}: {name} {damage:?} hung; copies kept in {}",
                    keep.display()
                );
                tally.hung += 1;
            }
        }
    }
    eprintln!("{cases} WAL damages: {tally:?}");
    assert_eq!(tally.hung, 0, "{tally:?}");
}

/// Garbage after the last record of the WAL whose first header has a recyclable record type
/// (the store never writes recyclable logs): RocksDB's reader would loop forever on it
/// (`log::Reader::ReadPhysicalRecord` returns `kBadRecord` without consuming the header). The
/// store reports it as corruption of that log instead, for read-write and read-only opens.
#[test]
fn a_recyclable_record_in_the_wal_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = RocksStore::open(dir.path(), config().flush_on_close(false)).unwrap();
        let mut tree = Tree::default();
        common::append_schedule(&store, &mut tree, 40);
        store.sync().unwrap();
    }
    let log = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log") && p.metadata().unwrap().len() > 0)
        .unwrap();
    let mut bytes = fs::read(&log).unwrap();
    assert!(
        bytes.len() % (32 * 1024) < 32 * 1024 - 16,
        "the tail block has room"
    );
    // Checksum, length 7, type 5 (recyclable full), then seven payload bytes.
    bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44, 7, 0, 5, 1, 2, 3, 4, 5, 6, 7]);
    fs::write(&log, bytes).unwrap();

    let (done, outcome) = std::sync::mpsc::channel();
    let path = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let read_write = RocksStore::open(&path, config()).map(|_| ());
        let read_only = RocksStore::open_read_only(&path).map(|_| ());
        let _ = done.send((read_write, read_only));
    });
    let (read_write, read_only) = outcome
        .recv_timeout(CASE_TIMEOUT)
        .expect("opening a store whose WAL holds a recyclable record hung");
    for result in [read_write, read_only] {
        match result {
            Err(StoreError::Corruption { what, .. }) => {
                assert!(what.contains("write-ahead log"), "{what}")
            }
            other => panic!("expected corruption of the write-ahead log, got {other:?}"),
        }
    }
}

/// A MANIFEST cut short can lose every column family but `default`: the store must still
/// report a damaged store (corruption), never "not a ledger". Tries every fifth length.
#[test]
fn a_manifest_that_lost_the_column_families_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let pristine = dir.path().join("pristine");
    {
        let (store, _) = RocksStore::open(&pristine, config()).unwrap();
        let mut tree = Tree::default();
        common::append_schedule(&store, &mut tree, 20);
    }
    let manifest = fs::read_dir(&pristine)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("MANIFEST-"))
        .unwrap();
    let len = fs::metadata(pristine.join(&manifest)).unwrap().len();
    let mut lost_families = 0;
    for cut in (0..len).step_by(5) {
        let case = dir.path().join(format!("cut-{cut}"));
        copy_dir(&pristine, &case);
        let mut bytes = fs::read(case.join(&manifest)).unwrap();
        bytes.truncate(cut as usize);
        fs::write(case.join(&manifest), bytes).unwrap();
        match RocksStore::open(&case, config()) {
            Err(StoreError::Corruption { what, .. }) if what == "MANIFEST" => lost_families += 1,
            Err(StoreError::Corruption { .. } | StoreError::Rocks { .. }) | Ok(_) => {}
            Err(other) => panic!("a MANIFEST cut at {cut} of {len} bytes gives {other:?}"),
        }
        fs::remove_dir_all(&case).unwrap();
    }
    assert!(
        lost_families > 0,
        "no cut of {len} bytes lost the column families"
    );
}
