//! Replication in the engine, without consensus: what it costs a primary to hand its groups
//! over, and how fast a backup checks and stores them.
//!
//! Run: `cargo bench -p ledger-benches --bench replication` (`cargo test --benches` runs it
//! once with small sizes). In memory, 64-byte entries, a signature every 5,000 transactions
//! or millisecond (the defaults). Consensus is a channel and a thread that applies each group
//! to the primary as soon as it is proposed (what a one-node Raft would do, minus its log).
//!
//! * `replication_append/standalone` and `/primary`: 200,000 appends from four threads into
//!   a new in-memory ledger, committed (flush): a standalone ledger against a replicated
//!   primary whose groups go through the `Replicator` and come back by `apply_group`;
//! * `replication_backup_apply`: a new backup (a copy of the genesis store) given all the
//!   groups one such primary produced, one `apply_group` call per group: the rate at which a
//!   backup can follow (it re-derives every entry's evidence and leaf, builds its own tree
//!   and verifies each signature, on the calling thread).
//!
//! The ratios are printed after the groups: the backup's rate against the primary's, and the
//! primary's against the standalone ledger's.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger_core::testing::{ChannelReplicator, MemoryService};
use ledger_core::LedgerConfig;
use ledger_core::{Ledger, ReplicatedGroup};

fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn transactions() -> u64 {
    if measuring() {
        200_000
    } else {
        2_000
    }
}

const THREADS: usize = 4;
const CONTENTS: [u8; 64] = [0xab; 64];

fn founded() -> &'static MemoryService {
    static FOUNDED: OnceLock<MemoryService> = OnceLock::new();
    FOUNDED.get_or_init(|| MemoryService::found(2).expect("founding the service"))
}

/// Appends `transactions()` entries to a new replicated primary, applying its groups as
/// they come; returns the time from the first append to the flush's return, and the groups.
fn run_primary() -> (Duration, Vec<ReplicatedGroup>) {
    let (replicator, rx) = ChannelReplicator::new();
    let (primary, _) = founded()
        .open(0, LedgerConfig::new("").primary(2, replicator))
        .expect("primary");
    let primary = Arc::new(primary);
    let stop = Arc::new(AtomicBool::new(false));
    let applier = {
        let primary = primary.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut groups = Vec::new();
            loop {
                match rx.recv_timeout(Duration::from_millis(5)) {
                    Ok(group) => {
                        primary.apply_group(&group).expect("apply");
                        groups.push(group);
                    }
                    Err(_) if stop.load(Ordering::Acquire) => return groups,
                    Err(_) => {}
                }
            }
        })
    };
    let start = Instant::now();
    ledger_benches::floors::append_from_threads(&primary, THREADS, transactions(), &CONTENTS);
    primary.flush().expect("flush");
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Release);
    let groups = applier.join().expect("applier");
    Arc::try_unwrap(primary)
        .expect("sole owner")
        .close()
        .expect("close");
    (elapsed, groups)
}

fn run_standalone() -> Duration {
    let ledger = Arc::new(Ledger::in_memory().expect("ledger"));
    let start = Instant::now();
    ledger_benches::floors::append_from_threads(&ledger, THREADS, transactions(), &CONTENTS);
    ledger.flush().expect("flush");
    start.elapsed()
}

fn backup() -> Ledger {
    founded()
        .open(1, LedgerConfig::new("").backup())
        .expect("backup")
        .0
}

fn per_second(d: Duration, n: u64) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let n = transactions();
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut group = c.benchmark_group("replication_append");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("standalone", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let d = run_standalone();
                times[0].push(d);
                total += d;
            }
            total
        })
    });
    let mut groups = Vec::new();
    group.bench_function("primary", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (d, g) = run_primary();
                times[1].push(d);
                total += d;
                groups = g;
            }
            total
        })
    });
    group.finish();

    let mut group = c.benchmark_group("replication_backup_apply");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let backup = backup();
                let start = Instant::now();
                for g in &groups {
                    backup.apply_group(g).expect("apply");
                }
                let d = start.elapsed();
                times[2].push(d);
                total += d;
                backup.close().expect("close");
            }
            total
        })
    });
    group.finish();

    let [standalone, primary, backup] = times.map(median);
    println!(
        "replication: standalone {:.0}/s, primary {:.0}/s ({:.2}x standalone), backup apply \
         {:.0}/s ({:.2}x the primary), {} groups of {} transactions (medians)",
        per_second(standalone, n),
        per_second(primary, n),
        standalone.as_secs_f64() / primary.as_secs_f64(),
        per_second(backup, n),
        primary.as_secs_f64() / backup.as_secs_f64(),
        groups.len(),
        n
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
