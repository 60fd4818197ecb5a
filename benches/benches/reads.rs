#![allow(missing_docs, clippy::expect_used)]
//! The engine's read paths beside RocksDB's own get and iterator over the same keys in the
//! same database files, in one run.
//!
//! Run: `cargo bench -p ledger-benches --bench reads` (`-- <filter>` runs some groups).
//!
//! # The ledger read
//!
//! One ledger of `N` user transactions (200,000 when measuring, 2,000 in CI's smoke run),
//! written through `Ledger::submit` from two threads with the default settings (so a
//! signature transaction every 5,000). Transaction `i` appends 64 bytes to collection
//! `c{i % 8}` and puts a 16-byte value under key `k{i % (N / 64)}` of table `t`, so each key
//! has 64 versions. Every benchmark walks the same seeded permutation of the transactions;
//! the ledger and its peer start at the same place, so they read the same keys in the same
//! order.
//!
//! # Groups
//!
//! `reads_<op>/backend=<b> side=<s>`, with `b` one of `memory` (an in-memory ledger built
//! the same way), `rocksdb-warm` (the store reopened with the default 64 MiB block cache,
//! every key read once before timing) and `rocksdb-cold` (reopened with a 1 MiB block cache,
//! and before every 256 timed reads the operating system's page cache of every table file is
//! dropped with `posix_fadvise(POSIX_FADV_DONTNEED)`, untimed: each read of a new block goes
//! to the disk), and `s` either `ledger` or `raw`. `raw` is the `rocksdb` crate (the version
//! the store links) opened read-only on the ledger's own directory with the store's block
//! cache size and table options, reading the store's key layout (see `ledger_store::rocks`):
//!
//! | op | ledger | raw RocksDB |
//! | --- | --- | --- |
//! | `entry` | `Ledger::entry(collection, tx)` | `get_pinned_cf(entries, seqno)` |
//! | `latest` | `Ledger::latest(collection)` | `seek_for_prev` in `collections`, then the entry's get |
//! | `entries_page` | `Ledger::entries_page(collection, tx.., None, 100)` | 101 index rows by iterator, 100 gets |
//! | `entries_iter` | the first 1,000 of `Ledger::entries(collection, tx..)` | 1,000 index rows by iterator, 1,000 gets |
//! | `table_get` | `Ledger::table_get(t, key)` | `seek_for_prev` in `tables` |
//! | `table_get_at` | `Ledger::table_get_at(t, key, tx)` | `seek_for_prev` in `tables` at `tx`'s seqno |
//! | `table_history` | every version by `Ledger::table_history(t, key)` | iterator over the key's versions |
//!
//! Throughput counts entries or versions read. After each group a line prints the medians of
//! both sides and their ratio (`ledger/raw`, time per operation; the goal for a point read is
//! at most 2.0, i.e. at least half raw RocksDB's rate) and, in memory, the rate per second.
//! The raw side gets borrowed (pinned) values and builds its keys without checking them;
//! the ledger returns owned, digest-checked and decoded entries.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hint::black_box;
use std::num::{NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use ledger_core::{Ledger, LedgerConfig, Transaction, TxId};
use ledger_store::{RocksStore, StoreConfig};
use rand::seq::SliceRandom as _;
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use rocksdb::{Cache, ColumnFamilyDescriptor, Options, DB};

/// Whether criterion runs for measurement (`cargo bench`) rather than as a smoke test
/// (`cargo test --benches`), where sizes shrink so the run stays short.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

const COLLECTIONS: u64 = 8;
const TABLE: &str = "t";
const VERSIONS_PER_KEY: u64 = 64;
const CONTENTS: usize = 64;
const PAGE: usize = 100;
const SCAN: usize = 1000;
/// Timed reads between two drops of the page cache in the cold cases.
const COLD_CHUNK: u64 = 256;
const WARM_CACHE: usize = 64 << 20;
const COLD_CACHE: usize = 1 << 20;

fn transactions() -> u64 {
    if measuring() {
        200_000
    } else {
        2_000
    }
}

fn keys() -> u64 {
    (transactions() / VERSIONS_PER_KEY).max(1)
}

/// The collection transaction `i` appends to (names made once, outside every timing).
fn collection_of(i: u64) -> &'static str {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    let names = NAMES.get_or_init(|| (0..COLLECTIONS).map(|c| format!("c{c}")).collect());
    &names[(i % COLLECTIONS) as usize]
}

/// The table key transaction `i` writes.
fn key_of(i: u64) -> &'static [u8] {
    static KEYS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| (0..keys()).map(|k| format!("k{k}").into_bytes()).collect());
    &keys[(i % keys.len() as u64) as usize]
}

fn contents_of(i: u64) -> Vec<u8> {
    i.to_be_bytes().repeat(CONTENTS / 8)
}

/// Writes the transactions (see the module docs) from two threads; `ids[i]` is transaction
/// `i`'s id.
fn fill(ledger: &Ledger) -> Vec<TxId> {
    let n = transactions();
    let threads = 2u64;
    let mut ids = vec![None; n as usize];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads as usize)
                        .map(|i| {
                            let mut tx = Transaction::new();
                            tx.append(collection_of(i), &contents_of(i)).put(
                                TABLE,
                                key_of(i),
                                &i.to_be_bytes().repeat(2),
                            );
                            (i, ledger.submit(tx).expect("submit"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, id) in h.join().expect("writer thread") {
                ids[i as usize] = Some(id);
            }
        }
    });
    ledger.flush().expect("flush");
    ids.into_iter().map(|id| id.expect("every id")).collect()
}

/// The order in which every benchmark visits the transactions.
fn probe_order() -> Vec<u64> {
    let mut order: Vec<u64> = (0..transactions()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(14));
    order
}

/// `esc(bytes)` of the store's key layout: `0x00` becomes `0x00 0xFF`, `0x00 0x01` ends it.
fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

/// RocksDB opened read-only on a ledger store's directory, reading its layout directly.
struct Raw {
    db: DB,
}

impl Raw {
    /// Opens `path` read-only with the store's table options and a block cache of
    /// `cache_bytes`.
    fn open(path: &Path, cache_bytes: usize) -> Raw {
        let cache = Cache::new_lru_cache(cache_bytes);
        let names = DB::list_cf(&Options::default(), path).expect("list column families");
        let descriptors = names.iter().map(|name| {
            let table = ledger_store::rocks::table_options(&cache);
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            ColumnFamilyDescriptor::new(name, o)
        });
        let db = DB::open_cf_descriptors_read_only(&Options::default(), path, descriptors, false)
            .expect("open read-only");
        Raw { db }
    }

    fn cf(&self, name: &str) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(name).expect("column family")
    }

    /// Length of the stored value of entry `seqno` (digest and bytes).
    fn entry(&self, seqno: u64) -> usize {
        self.db
            .get_pinned_cf(self.cf("entries"), seqno.to_be_bytes())
            .expect("get")
            .expect("entry present")
            .len()
    }

    /// The newest seqno indexed under `collection`, and its entry's length.
    fn latest(&self, collection: &str) -> usize {
        let mut prefix = Vec::with_capacity(collection.len() + 10);
        escape_into(&mut prefix, collection.as_bytes());
        let mut key = prefix.clone();
        key.extend_from_slice(&u64::MAX.to_be_bytes());
        let mut it = self.db.raw_iterator_cf(self.cf("collections"));
        it.seek_for_prev(&key);
        let k = it.key().filter(|k| k.starts_with(&prefix)).expect("a row");
        let seqno = u64::from_be_bytes(k[prefix.len()..].try_into().expect("seqno"));
        self.entry(seqno)
    }

    /// Reads `rows` index rows of `collection` from `from` on and the entries of the first
    /// `entries` of them; returns the bytes read.
    fn collection_scan(&self, collection: &str, from: u64, rows: usize, entries: usize) -> usize {
        let mut prefix = Vec::with_capacity(collection.len() + 10);
        escape_into(&mut prefix, collection.as_bytes());
        let mut key = prefix.clone();
        key.extend_from_slice(&from.to_be_bytes());
        let mut seqnos = Vec::with_capacity(rows);
        let mut it = self.db.raw_iterator_cf(self.cf("collections"));
        it.seek(&key);
        while let Some(k) = it.key() {
            if seqnos.len() == rows || !k.starts_with(&prefix) {
                break;
            }
            seqnos.push(u64::from_be_bytes(
                k[prefix.len()..].try_into().expect("seqno"),
            ));
            it.next();
        }
        seqnos.iter().take(entries).map(|&s| self.entry(s)).sum()
    }

    fn table_prefix(table: &str, key: &[u8]) -> Vec<u8> {
        let mut prefix = Vec::with_capacity(table.len() + key.len() + 14);
        escape_into(&mut prefix, table.as_bytes());
        escape_into(&mut prefix, key);
        prefix
    }

    /// The newest version of `key` at or below `as_of`: its value's length (0 for none).
    fn table_get(&self, table: &str, key: &[u8], as_of: u64) -> usize {
        let prefix = Self::table_prefix(table, key);
        let mut row = prefix.clone();
        row.extend_from_slice(&as_of.to_be_bytes());
        let mut it = self.db.raw_iterator_cf(self.cf("tables"));
        it.seek_for_prev(&row);
        match it.item() {
            Some((k, v)) if k.starts_with(&prefix) => v.len(),
            _ => 0,
        }
    }

    /// Every version of `key`: how many there are.
    fn table_history(&self, table: &str, key: &[u8]) -> usize {
        let prefix = Self::table_prefix(table, key);
        let mut it = self.db.raw_iterator_cf(self.cf("tables"));
        it.seek(&prefix);
        let mut versions = 0;
        while let Some((k, v)) = it.item() {
            if !k.starts_with(&prefix) {
                break;
            }
            black_box(v);
            versions += 1;
            it.next();
        }
        versions
    }
}

/// Drops the operating system's cached pages of every table file under `dir`.
fn drop_page_cache(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("list store") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "sst") {
            let file = std::fs::File::open(&path).expect("open table file");
            rustix::fs::fadvise(&file, 0, None::<NonZeroU64>, rustix::fs::Advice::DontNeed)
                .expect("fadvise");
        }
    }
}

/// Per-iteration times of every call of a benchmark's routine, by benchmark id; the last
/// `sample_size` calls of each are criterion's measured samples.
#[derive(Default)]
struct Samples(RefCell<HashMap<String, Vec<f64>>>);

impl Samples {
    fn record(&self, id: &str, iters: u64, elapsed: Duration) {
        self.0
            .borrow_mut()
            .entry(id.to_owned())
            .or_default()
            .push(elapsed.as_nanos() as f64 / iters.max(1) as f64);
    }

    /// The median per-iteration time in ns over the last `n` samples of `id`.
    fn median(&self, id: &str, n: usize) -> Option<f64> {
        let map = self.0.borrow();
        let all = map.get(id)?;
        let mut last: Vec<f64> = all[all.len().saturating_sub(n)..].to_vec();
        last.sort_by(f64::total_cmp);
        last.get(last.len() / 2).copied()
    }
}

/// What a case reads: the cache state it runs in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CacheState {
    Warm,
    Cold,
}

/// One operation measured on one backend: `run(probe)` reads for the probe's transaction and
/// returns something to keep the read alive.
struct Case<'a> {
    backend: &'static str,
    side: &'static str,
    cache: CacheState,
    store_dir: Option<&'a Path>,
    run: Box<dyn FnMut(u64) -> usize + 'a>,
}

/// Runs the cases of one operation in one group, then prints the ledger/raw ratios.
fn run_group(
    c: &mut Criterion,
    op: &str,
    elements: u64,
    order: &[u64],
    samples: &Samples,
    cases: Vec<Case<'_>>,
) {
    let name = format!("reads_{op}");
    let mut group: BenchmarkGroup<'_, WallTime> = c.benchmark_group(&name);
    group.throughput(Throughput::Elements(elements));
    let sample_size = if measuring() { 20 } else { 10 };
    group.sample_size(sample_size);
    group.warm_up_time(Duration::from_millis(if measuring() { 500 } else { 50 }));
    group.measurement_time(Duration::from_secs(if measuring() { 3 } else { 1 }));
    let mut ids = Vec::new();
    for mut case in cases {
        let id = format!("backend={} side={}", case.backend, case.side);
        let full = format!("{name}/{id}");
        let mut pos = 0usize;
        group.bench_function(&id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = match case.cache {
                        CacheState::Warm => left,
                        CacheState::Cold => left.min(COLD_CHUNK),
                    };
                    if let (CacheState::Cold, Some(dir)) = (case.cache, case.store_dir) {
                        drop_page_cache(dir);
                    }
                    let start = Instant::now();
                    for _ in 0..chunk {
                        black_box((case.run)(order[pos]));
                        pos = (pos + 1) % order.len();
                    }
                    total += start.elapsed();
                    left -= chunk;
                }
                samples.record(&full, iters, total);
                total
            })
        });
        ids.push((case.backend, case.side, full));
    }
    group.finish();
    for (backend, side, full) in &ids {
        if *side != "ledger" {
            continue;
        }
        let Some(ours) = samples.median(full, sample_size) else {
            continue;
        };
        let per_sec = 1e9 / ours;
        let raw = ids
            .iter()
            .find(|(b, s, _)| b == backend && *s == "raw")
            .and_then(|(_, _, f)| samples.median(f, sample_size));
        // A smoke run times one unoptimised call of each: its figures mean nothing.
        let note = if measuring() {
            ""
        } else {
            " [smoke run: one call each, not a measurement]"
        };
        match raw {
            Some(raw) => println!(
                "{name} backend={backend}: ledger {ours:.0} ns, raw {raw:.0} ns per operation; \
                 ledger/raw {:.2} (ledger at {:.0}% of raw's rate){note}",
                ours / raw,
                100.0 * raw / ours
            ),
            None => println!(
                "{name} backend={backend}: ledger {ours:.0} ns per operation, {per_sec:.0} \
                 operations/s on one thread{note}"
            ),
        }
    }
}

/// The ledger under test and the ids of its transactions.
struct Fixture {
    dir: tempfile::TempDir,
    ids: Vec<TxId>,
    memory: Ledger,
    memory_ids: Vec<TxId>,
}

impl Fixture {
    fn store_dir(&self) -> PathBuf {
        self.dir.path().join("ledger")
    }

    fn build() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let started = Instant::now();
        let ledger = Ledger::open(LedgerConfig::new(dir.path().join("ledger"))).expect("open");
        let ids = fill(&ledger);
        ledger.close().expect("close");
        let memory = Ledger::in_memory().expect("in-memory ledger");
        let memory_ids = fill(&memory);
        eprintln!(
            "reads: built two ledgers of {} transactions in {:?}",
            transactions(),
            started.elapsed()
        );
        Fixture {
            dir,
            ids,
            memory,
            memory_ids,
        }
    }

    /// The RocksDB ledger reopened with a block cache of `cache_bytes`, and the raw peer
    /// opened read-only on the same directory with the same cache size.
    fn open_rocks(&self, cache_bytes: usize) -> (Ledger, Raw) {
        let path = self.store_dir();
        let cache = NonZeroUsize::new(cache_bytes).expect("non-zero cache");
        let (store, recovery) =
            RocksStore::open(&path, StoreConfig::default().block_cache_bytes(cache))
                .expect("reopen store");
        let ledger = Ledger::with_store(Arc::new(store), &recovery, &LedgerConfig::new(&path))
            .expect("reopen ledger");
        let raw = Raw::open(&path, cache_bytes);
        (ledger, raw)
    }
}

/// The ledger side's cases of every operation, for `ledger` with transaction ids `ids`.
struct LedgerOps<'a> {
    ledger: &'a Ledger,
    ids: &'a [TxId],
}

impl<'a> LedgerOps<'a> {
    fn case(
        &self,
        op: &str,
        backend: &'static str,
        cache: CacheState,
        store_dir: Option<&'a Path>,
    ) -> Case<'a> {
        let (ledger, ids) = (self.ledger, self.ids);
        let run: Box<dyn FnMut(u64) -> usize + 'a> = match op {
            "entry" => Box::new(move |i| {
                let e = ledger
                    .entry(collection_of(i), ids[i as usize])
                    .expect("entry");
                e.contents.len()
            }),
            "latest" => Box::new(move |i| {
                ledger
                    .latest(collection_of(i))
                    .expect("latest")
                    .expect("an entry")
                    .contents
                    .len()
            }),
            "entries_page" => Box::new(move |i| {
                let page = ledger
                    .entries_page(collection_of(i), ids[i as usize].., None, PAGE)
                    .expect("page");
                page.entries.iter().map(|e| e.contents.len()).sum()
            }),
            "entries_iter" => Box::new(move |i| {
                ledger
                    .entries(collection_of(i), ids[i as usize]..)
                    .take(SCAN)
                    .map(|e| e.expect("entry").contents.len())
                    .sum()
            }),
            "table_get" => Box::new(move |i| {
                ledger
                    .table_get(TABLE, key_of(i))
                    .expect("get")
                    .expect("value")
                    .len()
            }),
            "table_get_at" => Box::new(move |i| {
                ledger
                    .table_get_at(TABLE, key_of(i), ids[i as usize])
                    .expect("get at")
                    .expect("value")
                    .len()
            }),
            "table_history" => Box::new(move |i| {
                ledger
                    .table_history(TABLE, key_of(i))
                    .map(|v| v.expect("version").value.map_or(0, |v| v.len()))
                    .sum()
            }),
            other => panic!("no such operation {other}"),
        };
        Case {
            backend,
            side: "ledger",
            cache,
            store_dir,
            run,
        }
    }
}

/// The raw side's case of `op` on `raw`, for the transactions `ids` of the same store.
fn raw_case<'a>(
    raw: &'a Raw,
    ids: &'a [TxId],
    op: &str,
    backend: &'static str,
    cache: CacheState,
    store_dir: Option<&'a Path>,
) -> Case<'a> {
    let run: Box<dyn FnMut(u64) -> usize + 'a> = match op {
        "entry" => Box::new(move |i| raw.entry(ids[i as usize].seqno())),
        "latest" => Box::new(move |i| raw.latest(collection_of(i))),
        "entries_page" => Box::new(move |i| {
            raw.collection_scan(collection_of(i), ids[i as usize].seqno(), PAGE + 1, PAGE)
        }),
        "entries_iter" => Box::new(move |i| {
            raw.collection_scan(collection_of(i), ids[i as usize].seqno(), SCAN, SCAN)
        }),
        "table_get" => Box::new(move |i| raw.table_get(TABLE, key_of(i), u64::MAX)),
        "table_get_at" => {
            Box::new(move |i| raw.table_get(TABLE, key_of(i), ids[i as usize].seqno()))
        }
        "table_history" => Box::new(move |i| raw.table_history(TABLE, key_of(i))),
        other => panic!("no such operation {other}"),
    };
    Case {
        backend,
        side: "raw",
        cache,
        store_dir,
        run,
    }
}

/// Entries or versions one operation reads.
fn elements(op: &str) -> u64 {
    match op {
        "entries_page" => PAGE as u64,
        "entries_iter" => SCAN as u64,
        "table_history" => VERSIONS_PER_KEY,
        _ => 1,
    }
}

const OPS: [&str; 7] = [
    "entry",
    "latest",
    "entries_page",
    "entries_iter",
    "table_get",
    "table_get_at",
    "table_history",
];
/// Operations also measured with a cold cache.
const COLD_OPS: [&str; 3] = ["entry", "entries_page", "table_get"];

fn reads(c: &mut Criterion) {
    let fixture = Fixture::build();
    let order = probe_order();
    let samples = Samples::default();
    let store_dir = fixture.store_dir();
    let memory = LedgerOps {
        ledger: &fixture.memory,
        ids: &fixture.memory_ids,
    };
    {
        let (warm_ledger, warm_raw) = fixture.open_rocks(WARM_CACHE);
        // Read every key once on both sides, so that the block caches hold what they can.
        for &i in &order {
            let id = fixture.ids[i as usize];
            warm_ledger.entry(collection_of(i), id).expect("entry");
            warm_raw.entry(id.seqno());
            warm_raw.table_get(TABLE, key_of(i), u64::MAX);
        }
        let warm = LedgerOps {
            ledger: &warm_ledger,
            ids: &fixture.ids,
        };
        for op in OPS {
            let cases = vec![
                memory.case(op, "memory", CacheState::Warm, None),
                warm.case(op, "rocksdb-warm", CacheState::Warm, None),
                raw_case(
                    &warm_raw,
                    &fixture.ids,
                    op,
                    "rocksdb-warm",
                    CacheState::Warm,
                    None,
                ),
            ];
            run_group(c, op, elements(op), &order, &samples, cases);
        }
    }
    let (cold_ledger, cold_raw) = fixture.open_rocks(COLD_CACHE);
    let cold = LedgerOps {
        ledger: &cold_ledger,
        ids: &fixture.ids,
    };
    for op in COLD_OPS {
        let cases = vec![
            cold.case(op, "rocksdb-cold", CacheState::Cold, Some(&store_dir)),
            raw_case(
                &cold_raw,
                &fixture.ids,
                op,
                "rocksdb-cold",
                CacheState::Cold,
                Some(&store_dir),
            ),
        ];
        run_group(
            c,
            &format!("{op}_cold"),
            elements(op),
            &order,
            &samples,
            cases,
        );
    }
}

criterion_group!(benches, reads);
criterion_main!(benches);
