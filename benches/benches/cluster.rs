//! A 3-node replicated ledger (`ledger_raft::ReplicatedLedger` over the in-process simulated
//! network, no faults, real time) beside one node alone, in the same run.
//!
//! Run: `cargo bench -p ledger-benches --bench cluster` (`cargo test --benches` runs it once
//! with small sizes). Every node is a RocksDB ledger in fsync mode, with its Raft log in a
//! RocksDB database of its own, in one process on this machine's cores: every node hashes,
//! checks and stores every transaction.
//!
//! * `cluster_append/nodes=1` and `/nodes=3`: batches of appends (64-byte entries, four
//!   threads) through the primary, each batch timed until its last transaction is Committed
//!   on the primary (held by a majority, durable there);
//! * `cluster_commit_latency/nodes=1` and `/nodes=3`: one client, append then
//!   `wait_for_commit` on the primary; p50 and p99 are printed with the cost of one 4 KiB
//!   write and fsync on the same disk, and the syncs of each node's Raft log per commit.
//!
//! The ratios (cluster throughput over single-node throughput, latencies) are printed after
//! the groups.

#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ledger_core::{Durability, Ledger, LedgerConfig, TxId, TxStatus};
use ledger_raft::sim::{Router, SimNetwork};
use ledger_raft::{found_service, Backend, LedgerRole, ReplicatedLedger, RocksBackend};
use openraft::{BasicNode, Config, SnapshotPolicy};

fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn batch() -> u64 {
    if measuring() {
        20_000
    } else {
        400
    }
}

const THREADS: usize = 4;
const CONTENTS: [u8; 64] = [0xab; 64];
const DEADLINE: Duration = Duration::from_secs(60);

/// Where appends go: a single ledger or a cluster's primary.
trait Target: Sync {
    fn append(&self, contents: &[u8]) -> TxId;
    fn wait(&self, id: TxId);
}

impl Target for Ledger {
    fn append(&self, contents: &[u8]) -> TxId {
        Ledger::append(self, "bench", contents).expect("append")
    }
    fn wait(&self, id: TxId) {
        assert_eq!(
            self.wait_for_commit(id, DEADLINE).expect("wait"),
            TxStatus::Committed
        );
    }
}

impl Target for ReplicatedLedger {
    fn append(&self, contents: &[u8]) -> TxId {
        ReplicatedLedger::append(self, "bench", contents).expect("append")
    }
    fn wait(&self, id: TxId) {
        assert_eq!(
            self.wait_for_commit(id, DEADLINE).expect("wait"),
            TxStatus::Committed
        );
    }
}

/// Appends `n` entries from `THREADS` threads and waits until the last one commits.
fn append_batch(target: &dyn Target, n: u64) -> Duration {
    let start = Instant::now();
    let last = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut last = None;
                    for _ in 0..n / THREADS as u64 {
                        last = Some(target.append(&CONTENTS));
                    }
                    last
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().expect("appender"))
            .max_by_key(|id| id.seqno())
    });
    if let Some(last) = last {
        target.wait(last);
    }
    start.elapsed()
}

fn latency(target: &dyn Target) -> Duration {
    let start = Instant::now();
    let id = target.append(&CONTENTS);
    target.wait(id);
    start.elapsed()
}

/// A 3-node cluster and the node whose ledger is the primary.
struct Cluster {
    nodes: Vec<Arc<ReplicatedLedger>>,
    /// Each node's Raft log and vote storage, whose syncs are counted.
    backends: Vec<Arc<dyn Backend>>,
    primary: Arc<ReplicatedLedger>,
    _root: tempfile::TempDir,
}

fn start_cluster(runtime: &tokio::runtime::Runtime) -> Cluster {
    let root = tempfile::tempdir().expect("tempdir");
    let service = found_service(root.path(), "bench cluster", 3).expect("found");
    let config = Arc::new(
        Config {
            cluster_name: "bench".to_string(),
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: SnapshotPolicy::Never,
            ..Config::default()
        }
        .validate()
        .expect("config"),
    );
    let router = Router::new(1, (*config).clone()).expect("router");
    let mut backends = Vec::new();
    let nodes: Vec<Arc<ReplicatedLedger>> = runtime.block_on(async {
        let mut nodes = Vec::new();
        for (i, founded) in service.nodes.iter().enumerate() {
            let id = i as u64 + 1;
            let backend: Arc<dyn Backend> =
                Arc::new(RocksBackend::open(&founded.raft_dir).expect("raft store"));
            let node = ReplicatedLedger::start(
                id,
                config.clone(),
                SimNetwork::new(router.clone(), id),
                backend.clone(),
                founded.ledger_config().durability(Durability::Fsync),
            )
            .await
            .expect("node");
            router
                .attach(id, node.raft().clone(), backend.clone())
                .expect("attach");
            backends.push(backend);
            nodes.push(Arc::new(node));
        }
        let members: BTreeMap<u64, BasicNode> =
            (1..=3).map(|id| (id, BasicNode::default())).collect();
        nodes[0]
            .raft()
            .initialize(members)
            .await
            .expect("initialize");
        nodes
    });
    let deadline = Instant::now() + DEADLINE;
    let primary = loop {
        if let Some(p) = nodes
            .iter()
            .find(|n| matches!(n.role(), Some(LedgerRole::Primary { .. })))
        {
            break p.clone();
        }
        assert!(Instant::now() < deadline, "no primary");
        std::thread::sleep(Duration::from_millis(10));
    };
    Cluster {
        nodes,
        backends,
        primary,
        _root: root,
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let single_dir = tempfile::tempdir().expect("tempdir");
    let single = Ledger::open(
        LedgerConfig::new(single_dir.path().join("ledger")).durability(Durability::Fsync),
    )
    .expect("single");
    let cluster = start_cluster(&runtime);
    let n = batch();

    let mut batches: [Vec<Duration>; 2] = Default::default();
    let mut group = c.benchmark_group("cluster_append");
    group.sample_size(10);
    group.throughput(Throughput::Elements(n));
    let targets: [(&str, &dyn Target); 2] = [("1", &single), ("3", cluster.primary.as_ref())];
    for (i, (nodes, target)) in targets.iter().enumerate() {
        group.bench_function(format!("nodes={nodes}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = append_batch(*target, n);
                    batches[i].push(d);
                    total += d;
                }
                total
            })
        });
    }
    group.finish();

    let mut latencies: [Vec<Duration>; 2] = Default::default();
    let syncs_before: Vec<u64> = cluster.backends.iter().map(|b| b.syncs()).collect();
    let mut group = c.benchmark_group("cluster_commit_latency");
    group.sample_size(if measuring() { 50 } else { 10 });
    for (i, (nodes, target)) in targets.iter().enumerate().rev() {
        group.bench_function(format!("nodes={nodes}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let d = latency(*target);
                    latencies[i].push(d);
                    total += d;
                }
                total
            })
        });
    }
    group.finish();
    // The 3-node latency runs first (`rev` above), so these syncs are its commits' alone:
    // one append and one signature per commit, and nothing else written meanwhile.
    let syncs: Vec<u64> = cluster
        .backends
        .iter()
        .zip(&syncs_before)
        .map(|(b, before)| b.syncs() - before)
        .collect();

    // Every node ends with what the primary committed.
    let last = cluster.primary.last_committed().expect("committed");
    for node in &cluster.nodes {
        assert_eq!(
            node.wait_for_commit(last, DEADLINE).expect("wait"),
            TxStatus::Committed
        );
    }
    let [one, three] = batches.map(median);
    for l in &mut latencies {
        l.sort();
    }
    println!(
        "cluster: appends committed, 64-byte entries, {THREADS} threads, batches of {n} \
         (medians): 1 node {:.0}/s, 3 nodes {:.0}/s ({:.0}% of one node)",
        n as f64 / one.as_secs_f64(),
        n as f64 / three.as_secs_f64(),
        100.0 * one.as_secs_f64() / three.as_secs_f64()
    );
    println!(
        "cluster: commit latency, 1 node p50 {:?} p99 {:?}; 3 nodes p50 {:?} p99 {:?}; one 4 KiB \
         write+fsync on this disk: p50 {:?}",
        ledger_benches::percentile(&latencies[0], 0.5),
        ledger_benches::percentile(&latencies[0], 0.99),
        ledger_benches::percentile(&latencies[1], 0.5),
        ledger_benches::percentile(&latencies[1], 0.99),
        ledger_benches::fsync_cost(single_dir.path())
    );
    let commits = latencies[1].len().max(1) as f64;
    println!(
        "cluster: Raft log syncs per commit (one client, one signed group per commit), by node: \
         {}; each node's ledger store syncs at most every 100 ms as it applies",
        syncs
            .iter()
            .map(|s| format!("{:.2}", *s as f64 / commits))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let Cluster {
        nodes,
        backends,
        primary,
        _root,
    } = cluster;
    drop(backends);
    drop(primary);
    runtime.block_on(async {
        for node in nodes {
            if let Ok(node) = Arc::try_unwrap(node) {
                let _ = node.shutdown().await;
            }
        }
    });
    single.close().expect("close");
}

criterion_group!(benches, bench);
criterion_main!(benches);
