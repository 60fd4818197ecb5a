//! Scale: what append, receipt generation and a point read cost as the ledger grows, and the
//! resident memory of the process at each size.
//!
//! Run: `cargo bench -p ledger-benches --bench scale` (a few minutes at the default sizes on
//! two cores; `cargo test --benches` runs it once with two tiny sizes). Not a criterion benchmark: one
//! ledger per backend is grown through the sizes in turn, and each figure is measured at its
//! size, in the same process. Settings, all optional:
//!
//! * `LEDGER_SCALE_SIZES`: comma-separated ledger sizes in transactions (default
//!   `100000,1000000,10000000`);
//! * `LEDGER_SCALE_BACKENDS`: `rocksdb`, `memory` or both, comma-separated (default both,
//!   RocksDB first, so that its memory figures are not those of a process that held an
//!   in-memory ledger);
//! * `LEDGER_SCALE_DIR`: where the RocksDB ledger is made (default the system's temporary
//!   directory); it is deleted at the end.
//!
//! The ledger is written through `Ledger::append` from four threads (64-byte entries, one
//! collection, the default configuration: fsync durability, a signature every 5,000
//! transactions or millisecond), then `flush`ed. At each size, once the process is idle again
//! (the store's flushes and compactions after the burst done; the time waited is printed):
//!
//! * **append**: three further batches of 50,000 appends from four threads, each followed by
//!   `flush` (so committed throughput); the median batch, per transaction;
//! * **receipt**: `Ledger::receipt` for 2,000 transactions drawn uniformly from the whole
//!   ledger (a seeded reservoir sample kept while writing, of constant size); median of
//!   chunks of 100, per receipt;
//! * **read uniform**: `Ledger::entry` for 20,000 transactions drawn the same way, each read
//!   once (so on RocksDB nearly every read of a large ledger misses the block cache); median of
//!   chunks of 1,000, per read;
//! * **read hot**: `Ledger::entry` 20,000 times over 2,000 of those transactions, after one
//!   untimed pass (a working set that fits the block cache at every size): what the lookup
//!   itself costs as the ledger grows;
//! * **RSS**: `VmRSS` of `/proc/self/status`, and for RocksDB the size of the store's files;
//! * for RocksDB, **raw get**: the `rocksdb` crate opened read-only on the same directory
//!   (with the store's block cache size and table options; opened after the RSS reading and
//!   closed before the next size) doing `get_pinned_cf` of the same entries' keys, hot and
//!   uniform, in chunks alternating with the ledger's: the cost of the same read without the
//!   engine, at the same size and under the same conditions.
//!
//! `LEDGER_SCALE_BLOCK_CACHE_MIB` sets the RocksDB ledger's block cache (default: the
//! store's default, 64 MiB), to see how much of a slope is block-cache misses.
//!
//! A table of the figures is printed to stdout, with each cost's slope: its value at the
//! largest size divided by its value at the smallest.

use ledger_benches::rss_kib;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Ledger, LedgerConfig, TxId};
use ledger_store::{RocksStore, StoreConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const THREADS: usize = 4;
const COLLECTION: &str = "scale";
const CONTENTS: [u8; 64] = [0xab; 64];

/// How much one run measures.
struct Plan {
    sizes: Vec<u64>,
    backends: Vec<String>,
    dir: PathBuf,
    batch: u64,
    batches: usize,
    receipts: usize,
    reads: usize,
    sample: usize,
    /// Transactions in the hot set (read again and again).
    hot: usize,
    /// Block cache of the RocksDB ledger and its raw peer.
    block_cache: usize,
}

impl Plan {
    fn from_env() -> Plan {
        let measuring = std::env::args().any(|a| a == "--bench");
        let sizes = match std::env::var("LEDGER_SCALE_SIZES") {
            Ok(text) if measuring => text
                .split(',')
                .map(|s| {
                    s.trim()
                        .parse()
                        .unwrap_or_else(|e| panic!("LEDGER_SCALE_SIZES: {s:?}: {e}"))
                })
                .collect(),
            _ if measuring => vec![100_000, 1_000_000, 10_000_000],
            _ => vec![1_000, 3_000],
        };
        let backends = std::env::var("LEDGER_SCALE_BACKENDS")
            .unwrap_or_else(|_| "rocksdb,memory".to_owned())
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect();
        let block_cache = std::env::var("LEDGER_SCALE_BLOCK_CACHE_MIB")
            .ok()
            .map(|m| {
                m.parse::<usize>()
                    .unwrap_or_else(|e| panic!("LEDGER_SCALE_BLOCK_CACHE_MIB: {m:?}: {e}"))
                    << 20
            })
            .unwrap_or(64 << 20);
        let dir = std::env::var_os("LEDGER_SCALE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        if measuring {
            Plan {
                sizes,
                backends,
                dir,
                batch: 50_000,
                batches: 3,
                receipts: 2_000,
                reads: 20_000,
                sample: 20_000,
                hot: 2_000,
                block_cache,
            }
        } else {
            Plan {
                sizes,
                backends,
                dir,
                batch: 200,
                batches: 2,
                receipts: 20,
                reads: 200,
                sample: 200,
                hot: 50,
                block_cache,
            }
        }
    }
}

/// A uniform sample of fixed size of the ids one thread appended (algorithm R), seeded.
struct Reservoir {
    ids: Vec<TxId>,
    capacity: usize,
    seen: u64,
    rng: ChaCha8Rng,
}

impl Reservoir {
    fn new(capacity: usize, seed: u64) -> Reservoir {
        Reservoir {
            ids: Vec::with_capacity(capacity),
            capacity,
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    fn offer(&mut self, id: TxId) {
        self.seen += 1;
        if self.ids.len() < self.capacity {
            self.ids.push(id);
        } else {
            let slot = self.rng.gen_range(0..self.seen);
            if let Some(kept) = self.ids.get_mut(slot as usize) {
                *kept = id;
            }
        }
    }
}

/// Appends `n` transactions from [`THREADS`] threads (each its share), offering every id to
/// that thread's reservoir, then flushes. Returns the time taken.
fn append(ledger: &Arc<Ledger>, n: u64, reservoirs: &mut [Reservoir]) -> Duration {
    let start = Instant::now();
    std::thread::scope(|s| {
        for (t, reservoir) in reservoirs.iter_mut().enumerate() {
            let ledger = Arc::clone(ledger);
            let share = n / THREADS as u64 + u64::from((t as u64) < n % THREADS as u64);
            s.spawn(move || {
                for _ in 0..share {
                    match ledger.append(COLLECTION, &CONTENTS) {
                        Ok(id) => reservoir.offer(id),
                        Err(e) => panic!("append: {e}"),
                    }
                }
            });
        }
    });
    if let Err(e) = ledger.flush() {
        panic!("flush: {e}");
    }
    start.elapsed()
}

/// The ids sampled so far, over the whole ledger (each thread appended an equal share, so
/// the union of the reservoirs is uniform), shuffled by a seeded generator.
fn sample(reservoirs: &[Reservoir], seed: u64) -> Vec<TxId> {
    let mut ids: Vec<TxId> = reservoirs.iter().flat_map(|r| r.ids.clone()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..ids.len()).rev() {
        ids.swap(i, rng.gen_range(0..=i));
    }
    ids
}

/// The median over chunks of `chunk` calls of `op` (cycling through `ids`, `total` calls in
/// all) of the time per call.
fn median_per_call(ids: &[TxId], total: usize, chunk: usize, mut op: impl FnMut(TxId)) -> Duration {
    let mut times = Vec::new();
    let mut next = ids.iter().copied().cycle();
    let mut done = 0;
    while done < total {
        let n = chunk.min(total - done);
        let start = Instant::now();
        for id in next.by_ref().take(n) {
            op(id);
        }
        times.push(start.elapsed() / n as u32);
        done += n;
    }
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// [`median_per_call`] of `a` and of `b` over the same chunks, run alternately (`a` first in
/// even chunks, `b` first in odd ones), so that both see the same background and caches.
fn paired(
    ids: &[TxId],
    total: usize,
    chunk: usize,
    a: impl Fn(TxId),
    b: Option<impl Fn(TxId)>,
) -> (Duration, Option<Duration>) {
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    let time = |f: &dyn Fn(TxId), ids: &[TxId]| {
        let start = Instant::now();
        ids.iter().copied().for_each(f);
        start.elapsed() / ids.len().max(1) as u32
    };
    let mut done = 0;
    let mut k = 0;
    while done < total {
        let n = chunk.min(total - done);
        let from = done % ids.len().max(1);
        let these: Vec<TxId> = ids.iter().copied().cycle().skip(from).take(n).collect();
        let b_first = k % 2 == 1;
        if let (true, Some(b)) = (b_first, &b) {
            tb.push(time(b, &these));
        }
        ta.push(time(&a, &these));
        if let (false, Some(b)) = (b_first, &b) {
            tb.push(time(b, &these));
        }
        done += n;
        k += 1;
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v.get(v.len() / 2).copied()
    };
    (median(ta).unwrap_or_default(), median(tb))
}

/// CPU time this process has used (all threads), from `/proc/self/stat`, in clock ticks.
fn cpu_ticks() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start at ") ".
            let rest = s.get(s.rfind(')')? + 2..)?.to_owned();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// Waits (at most ten minutes) until this process is idle: below 5% of one core over half a
/// second, i.e. the store's flushes and compactions after a burst of appends have finished,
/// so that what follows measures the ledger at its size and not its background work. Returns
/// the time waited.
fn settle() -> Duration {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(600) {
        let before = cpu_ticks();
        std::thread::sleep(Duration::from_millis(500));
        // Clock ticks are 1/100 s: at most 2 ticks in 0.5 s is under 5%.
        if cpu_ticks().saturating_sub(before) <= 2 {
            break;
        }
    }
    start.elapsed()
}

/// Total size of the files under `dir`.
fn disk_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// One size's figures.
struct Row {
    size: u64,
    append: Duration,
    receipt: Duration,
    read_hot: Duration,
    raw_hot: Option<Duration>,
    read_uniform: Duration,
    raw_uniform: Option<Duration>,
    rss_kib: u64,
    disk: Option<u64>,
}

/// RocksDB opened read-only on the ledger's store, with the store's table options.
fn open_raw(path: &Path, cache_bytes: usize) -> rocksdb::DB {
    let cache = rocksdb::Cache::new_lru_cache(cache_bytes);
    let descriptors = || {
        let names = rocksdb::DB::list_cf(&rocksdb::Options::default(), path)
            .unwrap_or_else(|e| panic!("list column families: {e}"));
        names
            .into_iter()
            .map(|name| {
                let table = ledger_store::rocks::table_options(&cache);
                let mut o = rocksdb::Options::default();
                o.set_block_based_table_factory(&table);
                rocksdb::ColumnFamilyDescriptor::new(name, o)
            })
            .collect::<Vec<_>>()
    };
    // The ledger keeps compacting while this opens: a table file named by the MANIFEST it
    // read can be gone by the time it is opened. Try again then.
    let mut attempt = 0;
    loop {
        match rocksdb::DB::open_cf_descriptors_read_only(
            &rocksdb::Options::default(),
            path,
            descriptors(),
            false,
        ) {
            Ok(db) => return db,
            Err(e) if attempt < 20 => {
                attempt += 1;
                eprintln!("raw open failed ({e}); trying again");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("open read-only: {e}"),
        }
    }
}

fn run_backend(plan: &Plan, backend: &str) -> Vec<Row> {
    let dir = tempfile::Builder::new()
        .prefix("ledger-scale-")
        .tempdir_in(&plan.dir)
        .unwrap_or_else(|e| panic!("temp dir in {}: {e}", plan.dir.display()));
    let store_dir = dir.path().join("ledger");
    let ledger = Arc::new(match backend {
        "memory" => Ledger::in_memory().unwrap_or_else(|e| panic!("in-memory ledger: {e}")),
        "rocksdb" => {
            let cache = std::num::NonZeroUsize::new(plan.block_cache)
                .unwrap_or(std::num::NonZeroUsize::MIN);
            let (store, recovery) =
                RocksStore::open(&store_dir, StoreConfig::default().block_cache_bytes(cache))
                    .unwrap_or_else(|e| panic!("open {}: {e}", store_dir.display()));
            Ledger::with_store(Arc::new(store), &recovery, &LedgerConfig::new(&store_dir))
                .unwrap_or_else(|e| panic!("ledger on {}: {e}", store_dir.display()))
        }
        other => panic!("LEDGER_SCALE_BACKENDS: unknown backend {other:?}"),
    });
    let mut reservoirs: Vec<Reservoir> = (0..THREADS)
        .map(|t| Reservoir::new(plan.sample / THREADS, 0x5ca1e + t as u64))
        .collect();
    let mut written = 0u64;
    let mut rows = Vec::new();
    for &size in &plan.sizes {
        if size > written {
            let took = append(&ledger, size - written, &mut reservoirs);
            eprintln!(
                "scale {backend}: grew to {size} transactions (+{} in {took:.1?})",
                size - written
            );
            written = size;
        }
        let waited = settle();
        let mut batches: Vec<Duration> = (0..plan.batches)
            .map(|_| append(&ledger, plan.batch, &mut reservoirs) / plan.batch as u32)
            .collect();
        let waited_again = settle();
        eprintln!(
            "scale {backend}: at {size}, waited {waited:.1?} and {waited_again:.1?} for the \
             background work to finish"
        );
        written += plan.batch * plan.batches as u64;
        batches.sort();
        let ids = sample(&reservoirs, size);
        let hot = &ids[..plan.hot.min(ids.len())];
        let receipt = median_per_call(&ids, plan.receipts, 100, |id| {
            if let Err(e) = ledger.receipt(id) {
                panic!("receipt {id}: {e}");
            }
        });
        let rss_kib = rss_kib();
        let read = |id: TxId| match ledger.entry(COLLECTION, id) {
            Ok(entry) => assert_eq!(entry.contents, CONTENTS),
            Err(e) => panic!("entry {id}: {e}"),
        };
        let raw_db = (backend == "rocksdb").then(|| open_raw(&store_dir, plan.block_cache));
        let raw_get = raw_db.as_ref().map(|db| {
            let entries = db
                .cf_handle("entries")
                .unwrap_or_else(|| panic!("no entries column family"));
            move |id: TxId| match db.get_pinned_cf(entries, id.seqno().to_be_bytes()) {
                // The stored value is the entry's digest and bytes: longer than the contents.
                Ok(Some(v)) => assert!(v.len() > CONTENTS.len()),
                other => panic!("raw get {id}: {:?}", other.map(|v| v.map(|v| v.len()))),
            }
        });
        let (read_uniform, raw_uniform) = paired(&ids, plan.reads, 1_000, read, raw_get);
        for &id in hot {
            read(id);
            if let Some(get) = raw_get {
                get(id);
            }
        }
        let (read_hot, raw_hot) = paired(hot, plan.reads, 1_000, read, raw_get);
        drop(raw_db);
        rows.push(Row {
            size,
            append: batches[batches.len() / 2],
            receipt,
            read_hot,
            raw_hot,
            read_uniform,
            raw_uniform,
            rss_kib,
            disk: (backend == "rocksdb").then(|| disk_bytes(&store_dir)),
        });
    }
    match Arc::try_unwrap(ledger) {
        Ok(ledger) => {
            if let Err(e) = ledger.close() {
                panic!("close: {e}");
            }
        }
        Err(_) => panic!("the ledger is still shared"),
    }
    rows
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn print_table(backend: &str, rows: &[Row]) {
    println!(
        "\nscale backend={backend} (append: 4 threads, 64-byte entries, committed; times per \
         transaction, receipt or read; hot: the same 2,000 transactions read again and again; \
         uniform: 20,000 transactions over the whole ledger, each read once; slope: largest \
         size over smallest)"
    );
    println!(
        "| transactions | append µs | append tx/s | receipt µs | read hot µs | raw get hot µs \
         | read uniform µs | raw get uniform µs | RSS MiB | store MiB |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let opt =
        |d: Option<Duration>| d.map_or_else(|| "-".to_owned(), |d| format!("{:.2}", micros(d)));
    for r in rows {
        println!(
            "| {} | {:.2} | {:.0} | {:.1} | {:.2} | {} | {:.2} | {} | {:.0} | {} |",
            r.size,
            micros(r.append),
            1.0 / r.append.as_secs_f64().max(1e-12),
            micros(r.receipt),
            micros(r.read_hot),
            opt(r.raw_hot),
            micros(r.read_uniform),
            opt(r.raw_uniform),
            r.rss_kib as f64 / 1024.0,
            r.disk.map_or_else(
                || "-".to_owned(),
                |b| format!("{:.0}", b as f64 / 1048576.0)
            ),
        );
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        if rows.len() > 1 {
            let slope = |a: Duration, b: Duration| {
                format!("{:.2}x", b.as_secs_f64() / a.as_secs_f64().max(1e-12))
            };
            let opt_slope = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
                (Some(a), Some(b)) => slope(a, b),
                _ => "-".to_owned(),
            };
            println!(
                "| slope {}/{} | {} | | {} | {} | {} | {} | {} | {:.2}x | |",
                last.size,
                first.size,
                slope(first.append, last.append),
                slope(first.receipt, last.receipt),
                slope(first.read_hot, last.read_hot),
                opt_slope(first.raw_hot, last.raw_hot),
                slope(first.read_uniform, last.read_uniform),
                opt_slope(first.raw_uniform, last.raw_uniform),
                last.rss_kib as f64 / first.rss_kib.max(1) as f64,
            );
        }
    }
}

fn main() {
    let plan = Plan::from_env();
    if !std::env::args().any(|a| a == "--bench") {
        println!("scale: smoke run at tiny sizes, not a measurement");
    }
    for backend in &plan.backends {
        let rows = run_backend(&plan, backend);
        print_table(backend, &rows);
    }
}
