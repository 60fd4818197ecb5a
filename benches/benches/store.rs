#![allow(missing_docs, clippy::expect_used)]
//! `ledger-store`: group-commit append throughput, collection range reads, and reopen time and
//! memory of large stores.
//!
//! Run: `cargo bench -p ledger-benches --bench store` (`-- <filter>` runs one group). The first
//! run builds 1-million- and 10-million-transaction stores under
//! `/var/tmp/ledger-store-bench/` (several minutes, outside every timing) and later runs reuse
//! them; delete that directory to rebuild. Set `LEDGER_STORE_BENCH_DIR` to use another place.
//!
//! Groups, all with `Throughput::Elements` counting transactions:
//!
//! * `store_append/threads=T size=S`: commit groups of 1,000 transactions with S-byte entries,
//!   each with its collection index row, the Merkle tiles the tree would write and a signature
//!   record, appended in fsync mode by T writer threads. Writers take turns appending (as the
//!   engine's committer does) and then wait for the shared WAL sync. The groups are built before
//!   the timer starts; the store lives in a fresh directory for each benchmark and keeps growing
//!   across iterations.
//! * `store_read/...`: on the 1M store, `collection_seqnos` pages of 1,000 (ascending and
//!   descending), those seqnos' entries by `entry`, and `entries` ranges of 1,000.
//! * `store_reopen/n=..`: `RocksStore::open` of a cleanly closed store of n transactions
//!   (recovery included, closing excluded). Before the timing, a fresh child process (this
//!   binary again) prints its resident set size (`VmRSS`) before opening the store, after
//!   opening it, and after reading every entry through it.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger_benches::rss_kib;
use ledger_merkle::{Tile, TileId, TILE_HEIGHT};
use ledger_store::{Durability, EntryRecord, Group, RocksStore, Store, StoreConfig};

/// Transactions per group.
const GROUP: u64 = 1000;
/// Collections the transactions are spread over (round robin).
const COLLECTIONS: u64 = 10;

/// The collection of transaction `seqno`: names are shared, as the engine shares them.
fn collection(seqno: u64) -> Arc<str> {
    static NAMES: OnceLock<Vec<Arc<str>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| (0..COLLECTIONS).map(|i| format!("c{i}").into()).collect());
    Arc::clone(&names[(seqno % COLLECTIONS) as usize])
}

/// Tiles, with synthetic digests of the right shape, that change when the tree grows from
/// `old` to `new` leaves.
fn tiles_between(old: u64, new: u64) -> Vec<Tile> {
    TileId::changed_between(old, new)
        .filter_map(|id| {
            let w = id.width_at(new);
            let levels = (0..TILE_HEIGHT)
                .map(|h| vec![[h ^ id.row; 32]; (w >> h) as usize])
                .collect();
            Tile::new(id, levels).ok()
        })
        .collect()
}

/// The commit group of transactions `last + 1 ..= last + GROUP` with `size`-byte entries.
fn make_group(last: u64, size: usize) -> Group {
    let mut g = Group {
        commit: true,
        ..Group::default()
    };
    g.entries.reserve(GROUP as usize);
    g.collection_rows.reserve(GROUP as usize);
    for s in last + 1..=last + GROUP {
        let mut bytes = vec![(s % 251) as u8; size];
        bytes[..8].copy_from_slice(&s.to_be_bytes());
        g.entries.push(EntryRecord::new(s, bytes));
        g.collection_rows.push((collection(s), s));
    }
    g.tiles = tiles_between(last + 1, last + GROUP + 1);
    g.signatures.push((last + GROUP, vec![0x30; 72]));
    g
}

fn bench_root() -> PathBuf {
    std::env::var_os("LEDGER_STORE_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ledger-store-bench"))
}

fn fsync() -> StoreConfig {
    StoreConfig::default().durability(Durability::Fsync)
}

fn append(c: &mut Criterion) {
    maybe_run_rss_probe();
    let mut group = c.benchmark_group("store_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(GROUP));
    std::fs::create_dir_all(bench_root()).ok();
    for size in [64usize, 1024] {
        for threads in [1usize, 4] {
            let dir = tempfile::tempdir_in(bench_root()).expect("temp dir");
            let (store, _) = RocksStore::open(dir.path(), fsync()).expect("open");
            group.bench_function(format!("threads={threads} size={size}"), |b| {
                b.iter_custom(|iters| {
                    let last = store.state().last_seqno;
                    let groups: Vec<Group> = (0..iters)
                        .map(|i| make_group(last + i * GROUP, size))
                        .collect();
                    let next = Mutex::new(0usize);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| loop {
                                // Take a turn appending, then wait for the shared sync.
                                let ticket = {
                                    let mut n = next.lock().expect("lock");
                                    let Some(g) = groups.get(*n) else { break };
                                    *n += 1;
                                    store.append_group(g).expect("append")
                                };
                                store.await_commit(ticket).expect("commit");
                            });
                        }
                    });
                    let elapsed = start.elapsed();
                    drop(groups);
                    elapsed
                });
            });
            drop(store);
        }
    }
    group.finish();
}

/// A cleanly closed store of `n` transactions (64-byte entries), built on first use.
fn cached_store(n: u64) -> PathBuf {
    let dir = bench_root().join(format!("n={n}"));
    let done = dir.join("BENCH-COMPLETE");
    if done.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    eprintln!(
        "building a store of {n} transactions in {} ...",
        dir.display()
    );
    let started = Instant::now();
    let (store, _) = RocksStore::open(&dir, fsync()).expect("open");
    let mut last = 0;
    while last < n {
        store.write_group(&make_group(last, 64)).expect("append");
        last += GROUP;
    }
    store.close().expect("close");
    std::fs::write(&done, b"").expect("marker");
    eprintln!("built in {:?}", started.elapsed());
    dir
}

fn read_everything(store: &RocksStore) -> u64 {
    let last = store.state().last_seqno;
    let mut from = 1;
    let mut bytes = 0u64;
    while from <= last {
        let page = store.entries(from..=last, 10_000).expect("entries");
        let Some((s, _)) = page.last() else { break };
        from = s + 1;
        bytes += page.iter().map(|(_, b)| b.len() as u64).sum::<u64>();
    }
    bytes
}

/// Environment variable that makes this binary a memory probe (see [`report_memory`]).
const RSS_PROBE_ENV: &str = "LEDGER_STORE_BENCH_RSS_PROBE";

/// In a probe child: opens the store named by [`RSS_PROBE_ENV`], reads every entry, prints
/// the resident set sizes and exits. Measured in a fresh process, because the allocator of a
/// process that has run other benchmarks keeps freed memory and hides growth.
fn maybe_run_rss_probe() {
    let Some(path) = std::env::var_os(RSS_PROBE_ENV) else {
        return;
    };
    let before = rss_kib();
    let (store, _) = RocksStore::open(Path::new(&path), fsync()).expect("open");
    let opened = rss_kib();
    let started = Instant::now();
    let bytes = read_everything(&store);
    let read = rss_kib();
    println!(
        "VmRSS {before} KiB before open, {opened} KiB open (+{}), {read} KiB after reading \
         all {} entries (+{} over open; {bytes} entry bytes in {:?})",
        opened.saturating_sub(before),
        store.state().last_seqno,
        read.saturating_sub(opened),
        started.elapsed()
    );
    std::process::exit(0);
}

/// Prints the memory a freshly started process holds with the store at `path` open, before
/// and after reading through all of it.
fn report_memory(path: &Path, n: u64) {
    let out = std::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--bench", "no-such-benchmark"])
        .env(RSS_PROBE_ENV, path)
        .output()
        .expect("probe");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap_or("probe failed");
    eprintln!("store_reopen/n={n}: {line}");
}

fn reopen(c: &mut Criterion) {
    let mut group = c.benchmark_group("store_reopen");
    group.sample_size(10);
    for n in [1_000_000u64, 10_000_000] {
        let path = cached_store(n);
        report_memory(&path, n);
        group.bench_function(format!("n={n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    let (store, recovery) = RocksStore::open(&path, fsync()).expect("open");
                    total += start.elapsed();
                    black_box(recovery);
                    drop(store);
                }
                total
            });
        });
    }
    group.finish();
}

fn read(c: &mut Criterion) {
    let path = cached_store(1_000_000);
    let (store, _) = RocksStore::open(&path, fsync()).expect("open");
    let last = store.state().last_seqno;
    let mut group = c.benchmark_group("store_read");
    group.throughput(Throughput::Elements(1000));
    let mut from = 1;
    group.bench_function("collection_seqnos n=1000", |b| {
        b.iter(|| {
            let page = store
                .collection_seqnos("c3", from..=u64::MAX, 1000)
                .expect("read");
            from = if page.len() < 1000 { 1 } else { page[999] + 1 };
            black_box(page)
        })
    });
    let mut to = u64::MAX;
    group.bench_function("collection_seqnos_rev n=1000", |b| {
        b.iter(|| {
            let page = store
                .collection_seqnos_rev("c7", 0..=to, 1000)
                .expect("read");
            to = if page.len() < 1000 {
                u64::MAX
            } else {
                page[999] - 1
            };
            black_box(page)
        })
    });
    let mut from = 1;
    group.bench_function("collection_entries n=1000", |b| {
        b.iter(|| {
            let page = store
                .collection_seqnos("c5", from..=u64::MAX, 1000)
                .expect("read");
            from = if page.len() < 1000 { 1 } else { page[999] + 1 };
            for s in page {
                black_box(store.entry(s).expect("entry"));
            }
        })
    });
    let mut from = 1;
    group.bench_function("entries n=1000", |b| {
        b.iter(|| {
            let page = store.entries(from..=last, 1000).expect("read");
            from = if page.len() < 1000 { 1 } else { from + 1000 };
            black_box(page)
        })
    });
    group.finish();
}

criterion_group!(benches, append, read, reopen);
criterion_main!(benches);
