//! Ledger clusters in a deterministic simulation: 3 and 5 ledger nodes
//! ([`NodeOptions::simulated`]) over the simulated network, on a current-thread tokio runtime
//! with a paused clock, under a seeded schedule of partitions (the primary on either side),
//! the primary isolated while a client still writes to it, message loss, duplication and
//! reordering, crashes and restarts of any node, and a follower's ledger disk failing a
//! write (the node stops, and is restarted on a sound disk). The client is the test itself, on the
//! runtime's thread: each write is handed to Raft before the runtime goes on
//! ([`ReplicatedLedger::wait_proposed`]) as a group of its own, signed at once (the primary
//! never signs by time or count here), so what the ledgers' own threads do never races the
//! simulated clock.
//!
//! Each schedule runs twice from its seed and must give the same event trace, event for
//! event and at the same simulated times; and after it every transaction is Committed with
//! its contents or Invalid alike on every node, no id names two transactions, the client's
//! committed writes are in the order it issued them, receipts verify, and every node's store
//! audits clean. Five-node clusters snapshot every 10 entries and purge behind, so a node
//! that fell behind catches up from a snapshot, deterministically too (the ledger machine
//! builds and installs on the runtime's thread there). `LEDGER_SIM_SEED=<seed>` reruns one
//! seed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use ledger_core::{Error, TxId, TxStatus};
use ledger_raft::sim::{seed_from_env, Faults, PerMille, Router, SimNetwork};
use ledger_raft::{
    found_service, Backend, FoundedService, LedgerRole, MemoryBackend, NodeOptions,
    ReplicatedLedger,
};
use ledger_store::testing::Fault;
use openraft::{BasicNode, Config};

mod common;

use common::{audit_every_node, faulty_opener, Disk};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How long a write may take to reach Raft, in real time (the ledger's own threads).
const PROPOSE_WAIT: Duration = Duration::from_secs(10);

/// Node `id`'s Raft configuration: its election timeout drawn from the seed and pinned
/// (openraft draws nothing that matters from its own generator). In a cluster of `size` 5 or
/// more, a snapshot every 10 applied entries and 5 entries of log kept behind it, so that a
/// node that was down or cut off catches up from a snapshot.
fn node_config(seed: u64, id: u64, size: usize) -> Config {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (id << 32));
    let timeout = rng.gen_range(300..600);
    let (snapshot_policy, max_in_snapshot_log_to_keep) = common::snapshots_for(size);
    Config {
        cluster_name: "ledger sim".to_string(),
        heartbeat_interval: 50,
        election_timeout_min: timeout,
        election_timeout_max: timeout + 1,
        snapshot_policy,
        max_in_snapshot_log_to_keep,
        ..Config::default()
    }
    .validate()
    .unwrap()
}

struct Sim {
    seed: u64,
    disks: Vec<Disk>,
    service: FoundedService,
    router: Router,
    backends: Vec<Arc<MemoryBackend>>,
    nodes: BTreeMap<u64, ReplicatedLedger>,
    _root: tempfile::TempDir,
}

impl Sim {
    async fn found(seed: u64, size: usize) -> Self {
        let root = tempfile::tempdir().unwrap();
        let service = found_service(root.path(), "sim", size).unwrap();
        let router = Router::new(seed, node_config(seed, 0, size)).unwrap();
        let mut sim = Self {
            seed,
            service,
            router,
            backends: (0..size).map(|_| Arc::new(MemoryBackend::new())).collect(),
            disks: (0..size).map(|_| Disk::default()).collect(),
            nodes: BTreeMap::new(),
            _root: root,
        };
        for id in 1..=size as u64 {
            sim.start(id).await;
        }
        let members: BTreeMap<u64, BasicNode> = (1..=size as u64)
            .map(|id| (id, BasicNode::default()))
            .collect();
        sim.nodes[&1].raft().initialize(members).await.unwrap();
        sim
    }

    async fn start(&mut self, id: u64) {
        let backend: Arc<dyn Backend> = self.backends[id as usize - 1].clone();
        let node = ReplicatedLedger::start_with(
            id,
            Arc::new(node_config(self.seed, id, self.backends.len())),
            SimNetwork::new(self.router.clone(), id),
            backend.clone(),
            self.service.nodes[id as usize - 1]
                .ledger_config()
                .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap())
                .sig_interval(Duration::from_secs(3600)),
            NodeOptions::new()
                .simulated(true)
                .opener(faulty_opener(self.disks[id as usize - 1].clone())),
        )
        .await
        .unwrap();
        self.router
            .attach(id, node.raft().clone(), backend)
            .unwrap();
        self.nodes.insert(id, node);
    }

    /// Stops node `id`. A node whose disk failed has stopped its Raft already, and reports
    /// its poisoned ledger on shutdown: noted, as the trace records it.
    async fn stop(&mut self, id: u64) {
        if let Some(node) = self.nodes.remove(&id) {
            let crashed = self.router.crash(id).await;
            if let Err(e) = node.shutdown().await {
                self.router
                    .note(format!("node {id} on shutdown: {e} (crash: {crashed:?})"));
            }
        }
    }

    /// How many times node `id`'s Raft has stopped by itself.
    fn failures(&self, id: u64) -> usize {
        self.router
            .failures()
            .iter()
            .filter(|(node, _)| *node == id)
            .count()
    }

    /// The primary, if any: the lowest id among nodes whose ledger is a primary (a stale one
    /// may not have noticed yet).
    fn primary(&self) -> Option<&ReplicatedLedger> {
        self.nodes
            .values()
            .find(|n| matches!(n.role(), Some(LedgerRole::Primary { .. })))
    }
}

/// What a run leaves to compare: the trace and what the client saw.
#[derive(Debug, PartialEq)]
struct Outcome {
    trace: String,
    appended: Vec<(TxId, Vec<u8>)>,
    statuses: Vec<(TxId, TxStatus)>,
}

/// Makes `primary` sign `id` now (a commit future polled once asks for a signature) and
/// waits until the signed group is handed to Raft: one signed group per write, formed before
/// the simulated clock moves.
fn hand_to_raft(primary: &ReplicatedLedger, id: TxId) -> bool {
    let Ok(ledger) = primary.ledger() else {
        return false;
    };
    {
        let mut asked = std::pin::pin!(ledger.commit_future(id));
        let mut cx = Context::from_waker(Waker::noop());
        let _ = asked.as_mut().poll(&mut cx);
    }
    drop(ledger);
    primary.wait_proposed(id.seqno(), PROPOSE_WAIT)
}

/// One client operation per simulated 50 ms for `span`: an append on the primary (handed
/// to Raft before the clock moves).
async fn client_for(sim: &Sim, span: Duration, op: &mut u64, appended: &mut Vec<(TxId, Vec<u8>)>) {
    let ticks = span.as_millis() / 50;
    for _ in 0..ticks {
        if let Some(primary) = sim.primary() {
            let contents = format!("seed {} op {op}", sim.seed).into_bytes();
            *op += 1;
            match primary.append("c", &contents) {
                Ok(id) => {
                    hand_to_raft(primary, id);
                    appended.push((id, contents));
                }
                Err(Error::Poisoned { .. } | Error::Closed | Error::NotPrimary { .. }) => {}
                Err(e) => panic!("append: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run(seed: u64, size: usize, steps: usize) -> Outcome {
    let mut sim = Sim::found(seed, size).await;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut appended = Vec::new();
    let mut op = 0;
    client_for(&sim, Duration::from_secs(2), &mut op, &mut appended).await;
    for _ in 0..steps {
        let hold = Duration::from_millis(rng.gen_range(300..1500));
        let primary = sim.primary().map(|p| p.id());
        let ids: Vec<u64> = (1..=size as u64).collect();
        match rng.gen_range(0..6) {
            0 => {
                let lead = primary.unwrap_or(1);
                let minority_size = rng.gen_range(1..=(size - 1) / 2);
                let mut minority = Vec::new();
                if rng.gen_bool(0.5) {
                    minority.push(lead);
                }
                let mut others: Vec<u64> = ids.iter().copied().filter(|i| *i != lead).collect();
                while minority.len() < minority_size {
                    minority.push(others.remove(rng.gen_range(0..others.len())));
                }
                let majority: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|i| !minority.contains(i))
                    .collect();
                sim.router
                    .note(format!("partition {minority:?} | {majority:?}"));
                sim.router.partition(&[minority, majority]);
                client_for(&sim, hold, &mut op, &mut appended).await;
                sim.router.heal();
            }
            1 => {
                sim.router.note(format!("isolate the primary {primary:?}"));
                if let Some(p) = primary {
                    sim.router.isolate(p);
                }
                client_for(&sim, hold, &mut op, &mut appended).await;
                sim.router.heal();
            }
            2 => {
                sim.router.set_faults(
                    Faults::none()
                        .with_loss(PerMille::new(rng.gen_range(50..300)))
                        .with_duplicates(PerMille::new(rng.gen_range(0..150)))
                        .with_delay(Duration::ZERO, Duration::from_millis(rng.gen_range(1..30))),
                );
                client_for(&sim, hold, &mut op, &mut appended).await;
                sim.router.set_faults(Faults::none());
            }
            3 => {
                let id = ids[rng.gen_range(0..size)];
                sim.router.note(format!("crash node {id}"));
                sim.stop(id).await;
                client_for(&sim, hold, &mut op, &mut appended).await;
                sim.start(id).await;
            }
            4 => {
                // A follower's ledger disk fails its n-th write from now; the node is then
                // restarted on a sound disk.
                let followers: Vec<u64> = ids
                    .iter()
                    .copied()
                    .filter(|i| Some(*i) != primary)
                    .collect();
                let id = followers[rng.gen_range(0..followers.len())];
                let nth = rng.gen_range(1..=3);
                if let Some(disk) = sim.disks[id as usize - 1].lock().upgrade() {
                    disk.fail_write(NonZeroU64::new(nth).unwrap(), Fault::Io);
                }
                let before = sim.failures(id);
                sim.router
                    .note(format!("node {id}'s ledger disk fails its write #{nth}"));
                client_for(&sim, hold, &mut op, &mut appended).await;
                let failed = sim.failures(id) > before;
                sim.router
                    .note(format!("node {id}'s disk failed: {failed}"));
                sim.stop(id).await;
                sim.start(id).await;
            }
            _ => client_for(&sim, hold, &mut op, &mut appended).await,
        }
    }
    sim.router.heal();
    sim.router.set_faults(Faults::none());
    // Converge: writes until one is Committed on every node.
    let mut marker = None;
    for _ in 0..2000 {
        if let Some(id) = marker {
            if sim
                .nodes
                .values()
                .all(|n| n.status(id) == TxStatus::Committed)
            {
                break;
            }
        } else if let Some(primary) = sim.primary() {
            if let Ok(id) = primary.append("marker", b"converged") {
                if hand_to_raft(primary, id) {
                    marker = Some(id);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Some(id) = marker {
            if sim
                .primary()
                .is_some_and(|p| p.status(id) == TxStatus::Invalid)
            {
                marker = None;
            }
        }
    }
    let marker = marker.expect("a converging write");
    // Every node the same; every append Committed with its contents, or Invalid.
    let cert = sim.service.identity.certificate_pem().to_string();
    let mut statuses = Vec::new();
    let mut seen = BTreeMap::new();
    for (id, contents) in &appended {
        assert!(
            seen.insert(*id, contents.clone()).is_none(),
            "{id} handed out twice"
        );
        let status = sim.nodes[&1].status(*id);
        for node in sim.nodes.values() {
            assert_eq!(node.status(*id), status, "{id} on node {}", node.id());
            match status {
                TxStatus::Committed => {
                    assert_eq!(&node.entry("c", *id).unwrap().contents, contents);
                    node.receipt(*id).unwrap().verify(&cert).unwrap();
                }
                TxStatus::Invalid => {}
                other => panic!("{id} ends {other:?} on node {}", node.id()),
            }
        }
        statuses.push((*id, status));
    }
    assert_eq!(sim.nodes[&1].status(marker), TxStatus::Committed);
    // One order explains the client's history: its writes, issued one after another, are
    // committed in the order it issued them.
    let committed: Vec<u64> = statuses
        .iter()
        .filter(|(_, s)| *s == TxStatus::Committed)
        .map(|(id, _)| id.seqno())
        .collect();
    assert!(
        committed.windows(2).all(|w| w[0] < w[1]),
        "committed out of issue order: {committed:?}"
    );
    for id in 1..=size as u64 {
        sim.stop(id).await;
    }
    audit_every_node(&sim.service);
    Outcome {
        trace: sim.router.trace().to_string(),
        appended,
        statuses,
    }
}

fn replays(size: usize, seeds: &[u64], steps: usize) {
    let mut snapshots_sent = 0;
    for seed in seed_from_env(seeds).unwrap() {
        let once = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap()
                .block_on(run(seed, size, steps))
        };
        let first = once();
        let second = once();
        let committed = first
            .statuses
            .iter()
            .filter(|(_, s)| *s == TxStatus::Committed)
            .count();
        let snapshot_chunks = first
            .trace
            .lines()
            .filter(|l| l.ends_with(" install_snapshot"))
            .count();
        snapshots_sent += snapshot_chunks;
        eprintln!(
            "{size} nodes, seed {seed}: {} appends, {committed} committed, {} trace lines, \
             {snapshot_chunks} install_snapshot chunks; schedule: {}",
            first.appended.len(),
            first.trace.lines().count(),
            first
                .trace
                .lines()
                .filter_map(|l| l.split_once(" note ").map(|(_, n)| n))
                .collect::<Vec<_>>()
                .join("; ")
        );
        if first.trace != second.trace {
            let (a, b): (Vec<&str>, Vec<&str>) = (
                first.trace.lines().collect(),
                second.trace.lines().collect(),
            );
            let at = a
                .iter()
                .zip(&b)
                .position(|(x, y)| x != y)
                .unwrap_or(a.len().min(b.len()));
            panic!(
                "seed {seed} ({size} nodes) did not replay: first difference at trace line {at}:\n  {}\n  {}\ncontext:\n{}",
                a.get(at).unwrap_or(&"<end>"),
                b.get(at).unwrap_or(&"<end>"),
                a[at.saturating_sub(15)..at].join("\n")
            );
        }
        assert_eq!(
            first, second,
            "seed {seed}: the client saw different things"
        );
        assert!(committed > 10, "seed {seed}: too little was committed");
    }
    // Seed 23's node that was down catches up from a snapshot.
    if size >= 5 && std::env::var_os(ledger_raft::sim::SEED_ENV).is_none() {
        assert!(snapshots_sent > 0, "no snapshot was sent");
    }
}

#[test]
fn a_three_node_ledger_schedule_replays_event_for_event() {
    replays(3, &[21, 22], 8);
}

#[test]
fn a_five_node_ledger_schedule_replays_event_for_event() {
    replays(5, &[23], 8);
}
