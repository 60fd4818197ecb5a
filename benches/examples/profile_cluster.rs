//! Where a replicated commit's time goes: a 3-node `ReplicatedLedger` (RocksDB ledgers and
//! Raft logs, fsync, the simulated network without faults) takes one client's appends, each
//! waited for until Committed on the primary, and each node's Raft storage is timed.
//!
//! `profile_cluster throughput N [BATCHES]` instead appends N entries from four threads (BATCHES
//! times, default 1) and prints each batch's committed rate (a workload for `perf record`),
//! each node's Raft log syncs and its longest Raft store write (a write that holds a node's
//! Raft for longer than the election timeout makes its followers call an election). If an
//! append fails, the simulated network's trace around the first vote request is printed.
//! With `RAFT_MEM` set in the environment the Raft logs are kept in memory instead of RocksDB
//! (what the Raft log's store costs; not durable), and with `SNAPSHOT_EVERY=N` each node
//! snapshots every N applied entries and keeps N entries of log behind its snapshot.
//!
//! `profile_cluster [COMMITS]` (default 300) prints, as medians over the commits, the time from
//! the append to: the primary's Raft log write of the group (start and end: the write syncs),
//! the first follower's log write (start and end), the primary's state machine recording the
//! applied log id (the ledger has stored and synced the group by then), and the client seeing
//! the commit.
//!
//! ```sh
//! cargo run --release -p ledger-benches --example profile_cluster
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Durability, TxStatus};
use ledger_raft::sim::{Router, SimNetwork};
use ledger_raft::{
    found_service, Backend, Keyspace, LedgerRole, Pair, RaftStoreError, ReplicatedLedger,
    RocksBackend, WriteOp,
};
use openraft::{BasicNode, Config, SnapshotPolicy};
use parking_lot::Mutex;

/// One write to a node's Raft storage.
#[derive(Clone, Copy, Debug)]
struct Write {
    node: u64,
    /// The keyspace of its first op.
    space: Keyspace,
    sync: bool,
    start: Instant,
    end: Instant,
}

/// A backend that records when each write starts and ends.
#[derive(Debug)]
struct Timed {
    node: u64,
    inner: Arc<dyn Backend>,
    writes: Arc<Mutex<Vec<Write>>>,
}

impl Backend for Timed {
    fn write(&self, ops: Vec<WriteOp>, sync: bool) -> Result<(), RaftStoreError> {
        let space = match ops.first() {
            Some(WriteOp::Put(s, ..) | WriteOp::Delete(s, _) | WriteOp::DeleteRange(s, ..)) => *s,
            None => Keyspace::Table,
        };
        let start = Instant::now();
        let result = self.inner.write(ops, sync);
        self.writes.lock().push(Write {
            node: self.node,
            space,
            sync,
            start,
            end: Instant::now(),
        });
        result
    }
    fn get(&self, space: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, RaftStoreError> {
        self.inner.get(space, key)
    }
    fn scan(
        &self,
        space: Keyspace,
        from: &[u8],
        to: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<Pair>, RaftStoreError> {
        self.inner.scan(space, from, to, limit)
    }
    fn last(&self, space: Keyspace) -> Result<Option<Pair>, RaftStoreError> {
        self.inner.last(space)
    }
    fn syncs(&self) -> u64 {
        self.inner.syncs()
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `throughput N`: N appends from four threads instead, for a profiler.
    let (throughput, batches) = match args.as_slice() {
        [mode, n] if mode == "throughput" => (Some(n.parse::<u64>()?), 1),
        [mode, n, b] if mode == "throughput" => (Some(n.parse::<u64>()?), b.parse::<u32>()?),
        _ => (None, 1),
    };
    let commits: usize = match (throughput, args.first()) {
        (None, Some(n)) => n.parse()?,
        _ => 300,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let root = tempfile::tempdir()?;
    let service = found_service(root.path(), "profile cluster", 3)?;
    let config = Arc::new(
        Config {
            cluster_name: "profile".to_string(),
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            snapshot_policy: match std::env::var("SNAPSHOT_EVERY")
                .ok()
                .and_then(|n| n.parse().ok())
            {
                Some(n) => SnapshotPolicy::LogsSinceLast(n),
                None => SnapshotPolicy::Never,
            },
            max_in_snapshot_log_to_keep: std::env::var("SNAPSHOT_EVERY")
                .ok()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1000),
            ..Config::default()
        }
        .validate()?,
    );
    let router = Router::new(1, (*config).clone())?;
    let writes = Arc::new(Mutex::new(Vec::new()));
    let nodes: Vec<ReplicatedLedger> = runtime.block_on(async {
        let mut nodes = Vec::new();
        for (i, founded) in service.nodes.iter().enumerate() {
            let id = i as u64 + 1;
            let backend: Arc<dyn Backend> = Arc::new(Timed {
                node: id,
                inner: if std::env::var_os("RAFT_MEM").is_some() {
                    Arc::new(ledger_raft::MemoryBackend::new())
                } else {
                    Arc::new(RocksBackend::open(&founded.raft_dir)?)
                },
                writes: writes.clone(),
            });
            let node = ReplicatedLedger::start(
                id,
                config.clone(),
                SimNetwork::new(router.clone(), id),
                backend.clone(),
                founded.ledger_config().durability(Durability::Fsync),
            )
            .await?;
            router.attach(id, node.raft().clone(), backend)?;
            nodes.push(node);
        }
        let members: BTreeMap<u64, BasicNode> =
            (1..=3).map(|id| (id, BasicNode::default())).collect();
        nodes[0].raft().initialize(members).await?;
        Ok::<_, Box<dyn std::error::Error>>(nodes)
    })?;
    let primary = loop {
        if let Some(p) = nodes
            .iter()
            .find(|n| matches!(n.role(), Some(LedgerRole::Primary { .. })))
        {
            break p;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let leader = primary.id();
    // Warm up.
    for _ in 0..50 {
        let id = primary.append("profile", &[0xab; 64])?;
        primary.wait_for_commit(id, Duration::from_secs(10))?;
    }

    for _ in 0..batches {
        let Some(n) = throughput else { break };
        writes.lock().clear();
        let start = Instant::now();
        let last = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut last = None;
                        for _ in 0..n / 4 {
                            match primary.append("profile", &[0xab; 64]) {
                                Ok(id) => last = Some(id),
                                Err(e) => {
                                    eprintln!(
                                        "append: {e}; leaders by term: {:?}",
                                        router.leaders_by_term()
                                    );
                                    let events = router.trace().events;
                                    let vote = events.iter().position(|ev| {
                                        matches!(
                                            ev.kind,
                                            ledger_raft::sim::EventKind::Sent {
                                                rpc: ledger_raft::sim::RpcKind::Vote,
                                                ..
                                            }
                                        )
                                    });
                                    if let Some(vote) = vote {
                                        let at = events[vote].at;
                                        for ev in events.iter().filter(|ev| {
                                            ev.at + Duration::from_millis(700) >= at
                                                && ev.at <= at + Duration::from_millis(20)
                                        }) {
                                            eprintln!("{ev}");
                                        }
                                    }
                                    break;
                                }
                            }
                        }
                        last
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().ok().flatten())
                .max_by_key(|id| id.seqno())
        });
        let last = last.ok_or("no append succeeded")?;
        let appended = start.elapsed();
        let status = primary.wait_for_commit(last, Duration::from_secs(60))?;
        let elapsed = start.elapsed();
        if status != TxStatus::Committed {
            return Err(format!("{last} is {status:?}").into());
        }
        let w = std::mem::take(&mut *writes.lock());
        let log_syncs = |node: u64| {
            w.iter()
                .filter(|w| w.node == node && w.space == Keyspace::Log && w.sync)
                .count()
        };
        let busy: Duration = w
            .iter()
            .filter(|w| w.node == leader && w.space == Keyspace::Log)
            .map(|w| w.end - w.start)
            .sum();
        let longest = |node: u64| {
            w.iter()
                .filter(|w| w.node == node)
                .map(|w| w.end - w.start)
                .max()
                .unwrap_or_default()
        };
        println!(
            "{n} appends from 4 threads committed in {elapsed:.2?}: {:.0}/s (appends returned after {appended:.2?}); Raft log syncs by node: {:?}; the primary's log writes took {busy:.2?} in all; longest Raft store write by node: {:?}",
            n as f64 / elapsed.as_secs_f64(),
            (1..=3).map(log_syncs).collect::<Vec<_>>(),
            (1..=3).map(longest).collect::<Vec<_>>(),
        );
    }
    if throughput.is_some() {
        runtime.block_on(async {
            for node in nodes {
                let _ = node.shutdown().await;
            }
        });
        return Ok(());
    }

    let mut stages: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    for _ in 0..commits {
        writes.lock().clear();
        let start = Instant::now();
        let id = primary.append("profile", &[0xab; 64])?;
        let status = primary.wait_for_commit(id, Duration::from_secs(10))?;
        let seen = start.elapsed();
        assert_eq!(status, TxStatus::Committed);
        let w = writes.lock().clone();
        // The primary's write of this group, then the first follower write after it (a
        // follower may still be writing the previous group when this one is appended).
        let Some(own) = w
            .iter()
            .find(|w| w.space == Keyspace::Log && w.sync && w.node == leader)
            .copied()
        else {
            continue;
        };
        let Some(follower) = w
            .iter()
            .find(|w| {
                w.space == Keyspace::Log && w.sync && w.node != leader && w.start >= own.start
            })
            .copied()
        else {
            continue;
        };
        let applied = w
            .iter()
            .find(|w| w.node == leader && w.space == Keyspace::Machine && w.start > own.end);
        stages
            .entry("1 primary log write begins")
            .or_default()
            .push(own.start - start);
        stages
            .entry("2 primary log write synced")
            .or_default()
            .push(own.end - start);
        stages
            .entry("3 follower log write begins")
            .or_default()
            .push(follower.start - start);
        stages
            .entry("4 follower log write synced")
            .or_default()
            .push(follower.end - start);
        if let Some(applied) = applied {
            stages
                .entry("5 primary records the group applied")
                .or_default()
                .push(applied.end - start);
        }
        stages
            .entry("  primary log write (duration)")
            .or_default()
            .push(own.end - own.start);
        stages
            .entry("  follower log write (duration)")
            .or_default()
            .push(follower.end - follower.start);
        stages
            .entry("6 client sees Committed")
            .or_default()
            .push(seen);
    }
    println!("{commits} commits, one client, 3 nodes; medians from the append:");
    for (stage, times) in stages {
        println!(
            "  {stage:<40} {:>10.1?} ({} samples)",
            median(times.clone()),
            times.len()
        );
    }
    runtime.block_on(async {
        for node in nodes {
            let _ = node.shutdown().await;
        }
    });
    Ok(())
}
