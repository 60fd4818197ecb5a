//! A 3-node replicated ledger over the simulated network (`ledger_raft::sim`, no faults but a
//! partition): the Raft leader's ledger is the primary, the others check and store its groups;
//! every node serves the same committed history with receipts that verify against the
//! service certificate; a follower refuses writes naming the leader; an isolated leader is
//! replaced by one in a later view, the old leader's uncommitted tail becomes Invalid
//! everywhere once it catches up; the old leader, stopped and restarted over its directories,
//! catches up with what was written meanwhile; a read blocked on the isolated leader's
//! unapplied tail fails when it is demoted instead of waiting for ever; every node's ledger
//! directory passes the offline audit. With snapshots every 20 entries and the log purged up
//! to them, a follower stopped while the leader purged past its last entry installs a
//! snapshot when it restarts, and serves every entry with receipts that verify.
//!
//! The ledger's pipeline runs on OS threads in real time, so this runs on a multi-thread
//! tokio runtime with the real clock (not the paused clock of `sim_cluster.rs`), with
//! generous deadlines. The test's own blocking calls (the ledger's API blocks) run on the
//! runtime's `block_on` thread, which is not one of its workers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Error, TxId, TxStatus};
use ledger_raft::sim::{EventKind, Router, RpcKind, SimNetwork};
use ledger_raft::{
    found_service, Backend, FoundedService, LedgerRole, ReplicatedLedger, RocksBackend,
};
use openraft::{BasicNode, Config, SnapshotPolicy};

mod common;

use common::{audit_every_node, raft_config, wait_for, DEADLINE};

/// The node whose ledger is the primary, among `nodes`, and its role.
fn primary_among(nodes: &[&ReplicatedLedger]) -> Option<(u64, u64)> {
    nodes.iter().find_map(|n| match n.role() {
        Some(LedgerRole::Primary { term }) => Some((n.id(), term)),
        _ => None,
    })
}

fn committed_everywhere(nodes: &[Arc<ReplicatedLedger>], id: TxId) {
    for node in nodes {
        let status = node.wait_for_commit(id, DEADLINE).unwrap();
        assert_eq!(status, TxStatus::Committed, "{id} on node {}", node.id());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_three_node_ledger_replicates_fails_over_and_audits_clean() {
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "raft ledger", 3).unwrap();
    let cert = service.identity.certificate_pem().to_string();
    let config = Arc::new(raft_config("ledger"));
    let router = Router::new(7, (*config).clone()).unwrap();

    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(Arc::new(start_node(&service, id, &config, &router).await));
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    nodes[0].raft().initialize(members).await.unwrap();

    // A leader, whose ledger becomes the primary.
    let refs: Vec<&ReplicatedLedger> = nodes.iter().map(|n| n.as_ref()).collect();
    let (leader, term) = wait_for("a primary", || primary_among(&refs));
    let primary = nodes[leader as usize - 1].clone();
    let status = primary.cluster_status();
    assert_eq!(status.leader, Some(leader));
    assert_eq!(status.role.and_then(|r| r.view()), Some(term + 1));

    // ~200 entries through the leader.
    let mut written = Vec::new();
    for i in 0..200u32 {
        let collection = if i % 2 == 0 { "even" } else { "odd" };
        let contents = format!("first view, entry {i}").into_bytes();
        let id = primary.append(collection, &contents).unwrap();
        assert_eq!(id.view(), term + 1, "the primary writes in view term + 1");
        written.push((id, collection, contents));
        if i % 40 == 39 {
            // A read of the newest entry waits for it to be written: the primary hands its
            // group over before signing, so unsigned groups go through Raft too.
            let latest = primary
                .ledger()
                .unwrap()
                .latest(collection)
                .unwrap()
                .unwrap();
            assert_eq!(latest.tx_id, id);
        }
    }
    let last = written.last().unwrap().0;
    assert_eq!(
        primary.wait_for_commit(last, DEADLINE).unwrap(),
        TxStatus::Committed
    );
    committed_everywhere(&nodes, last);
    for node in &nodes {
        for (id, collection, contents) in &written {
            assert_eq!(node.status(*id), TxStatus::Committed);
            assert_eq!(&node.entry(collection, *id).unwrap().contents, contents);
            node.receipt(*id).unwrap().verify(&cert).unwrap();
        }
        assert!(node.last_committed().unwrap() >= last);
    }

    // A follower refuses writes and names the leader.
    let follower = nodes.iter().find(|n| n.id() != leader).unwrap();
    match follower.append("even", b"refused") {
        Err(Error::NotPrimary {
            primary: Some(named),
        }) => assert_eq!(named, leader.to_string()),
        other => panic!("a follower's append: {other:?}"),
    }

    // The leader is cut off: what it sequences now never reaches a majority.
    router.isolate(leader);
    let mut tail = Vec::new();
    for i in 0..20u32 {
        match primary.append("odd", format!("lost {i}").as_bytes()) {
            Ok(id) => tail.push(id),
            Err(Error::NotPrimary { .. }) => break,
            Err(e) => panic!("append on the isolated leader: {e}"),
        }
    }
    assert!(!tail.is_empty(), "the isolated leader took no writes");
    // A read of the newest entry on it waits for its tail to be applied, which never happens.
    let blocked = {
        let primary = primary.clone();
        std::thread::spawn(move || primary.latest("odd"))
    };

    // The other two elect a new leader, whose primary writes in a later view.
    let others: Vec<Arc<ReplicatedLedger>> =
        nodes.iter().filter(|n| n.id() != leader).cloned().collect();
    let other_refs: Vec<&ReplicatedLedger> = others.iter().map(|n| n.as_ref()).collect();
    let (new_leader, new_term) = wait_for("a new primary", || primary_among(&other_refs));
    assert!(new_term > term);
    let new_primary = nodes[new_leader as usize - 1].clone();
    let new_view = new_primary.role().and_then(|r| r.view()).unwrap();
    assert!(
        new_view > term + 1,
        "view {new_view} after view {}",
        term + 1
    );
    let mut later = Vec::new();
    for i in 0..100u32 {
        let contents = format!("later view, entry {i}").into_bytes();
        let id = new_primary.append("even", &contents).unwrap();
        assert_eq!(id.view(), new_view);
        later.push((id, "even", contents));
    }
    let last = later.last().unwrap().0;
    committed_everywhere(&others, last);

    // Healed, the old leader follows the new one and catches up.
    router.heal();
    committed_everywhere(&nodes, last);
    wait_for("the old leader to become a backup", || {
        (primary.role() == Some(LedgerRole::Backup)).then_some(())
    });
    // The demotion abandoned the stale primary: the blocked read failed and let go of it.
    let read = blocked.join().unwrap();
    assert!(
        matches!(
            read,
            Err(Error::Poisoned {
                stage: "abandon",
                ..
            })
        ),
        "{read:?}"
    );
    for node in &nodes {
        let status = node.cluster_status();
        assert_eq!(status.leader, Some(new_leader), "node {}", node.id());
        assert!(status.term >= new_term);
        assert!(status.view >= Some(new_view));
        for (id, collection, contents) in written.iter().chain(&later) {
            assert_eq!(node.status(*id), TxStatus::Committed, "{id}");
            assert_eq!(&node.entry(collection, *id).unwrap().contents, contents);
            node.receipt(*id).unwrap().verify(&cert).unwrap();
        }
        for id in &tail {
            assert_eq!(
                node.status(*id),
                TxStatus::Invalid,
                "{id}, sequenced by the isolated leader, on node {}",
                node.id()
            );
        }
    }
    // The old leader restarts: crashed in the simulated network, its node stopped (ledger
    // closed cleanly), more written meanwhile, then started again over the same directories:
    // openraft re-applies from its persisted applied log id, and it catches up.
    drop(primary);
    drop(others);
    drop(refs);
    router.crash(leader).await.unwrap();
    let index = leader as usize - 1;
    let stopped = Arc::try_unwrap(nodes.remove(index)).expect("the only handle");
    stopped.shutdown().await.unwrap();
    let mut more = Vec::new();
    for i in 0..50u32 {
        let contents = format!("while node {leader} was down, entry {i}").into_bytes();
        more.push((new_primary.append("odd", &contents).unwrap(), contents));
    }
    let last = more.last().unwrap().0;
    committed_everywhere(&nodes, last);
    let restarted = start_node(&service, leader, &config, &router).await;
    nodes.insert(index, Arc::new(restarted));
    committed_everywhere(&nodes, last);
    let restarted = &nodes[index];
    assert_eq!(restarted.role(), Some(LedgerRole::Backup));
    for (id, contents) in &more {
        assert_eq!(&restarted.entry("odd", *id).unwrap().contents, contents);
        restarted.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    for (id, collection, contents) in written.iter().chain(&later) {
        assert_eq!(
            &restarted.entry(collection, *id).unwrap().contents,
            contents
        );
    }
    for id in &tail {
        assert_eq!(restarted.status(*id), TxStatus::Invalid);
    }
    assert!(
        router.failures().is_empty(),
        "raft stopped: {:?}",
        router.failures()
    );

    // Closed, every node's ledger directory audits clean.
    drop(new_primary);
    for node in nodes {
        let node = Arc::try_unwrap(node).expect("the only handle");
        node.shutdown().await.unwrap();
    }
    audit_every_node(&service);
    eprintln!("ledger cluster scenario took {:?}", started.elapsed());
}

/// Starts node `id` (from 1) of `service` over its directories, attached to `router`.
async fn start_node(
    service: &FoundedService,
    id: u64,
    config: &Arc<Config>,
    router: &Router,
) -> ReplicatedLedger {
    let founded = &service.nodes[id as usize - 1];
    // A restarted node's previous incarnation may still be releasing its RocksDB lock.
    let backend: Arc<dyn Backend> = wait_for("the raft store", || {
        RocksBackend::open(&founded.raft_dir)
            .ok()
            .map(|b| Arc::new(b) as Arc<dyn Backend>)
    });
    let node = ReplicatedLedger::start(
        id,
        config.clone(),
        SimNetwork::new(router.clone(), id),
        backend.clone(),
        founded
            .ledger_config()
            .sig_interval(Duration::from_millis(5)),
    )
    .await
    .unwrap();
    router.attach(id, node.raft().clone(), backend).unwrap();
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_the_log_no_longer_reaches_catches_up_from_a_snapshot() {
    let started = Instant::now();
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "snapshots", 3).unwrap();
    let cert = service.identity.certificate_pem().to_string();
    // A snapshot every 20 applied entries, and the log purged up to it.
    let config = Arc::new(
        Config {
            snapshot_policy: SnapshotPolicy::LogsSinceLast(20),
            max_in_snapshot_log_to_keep: 0,
            ..raft_config("ledger")
        }
        .validate()
        .unwrap(),
    );
    let router = Router::new(11, (*config).clone()).unwrap();
    let mut nodes = Vec::new();
    for id in 1..=3 {
        nodes.push(start_node(&service, id, &config, &router).await);
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3).map(|id| (id, BasicNode::default())).collect();
    nodes[0].raft().initialize(members).await.unwrap();
    let refs: Vec<&ReplicatedLedger> = nodes.iter().collect();
    let (leader, _) = wait_for("a primary", || primary_among(&refs));
    drop(refs);
    let primary = &nodes[leader as usize - 1];

    let mut written = Vec::new();
    let mut write = |primary: &ReplicatedLedger, count: u32| {
        for _ in 0..count {
            let contents = format!("entry {}", written.len()).into_bytes();
            written.push((primary.append("c", &contents).unwrap(), contents));
        }
        let last = written.last().unwrap().0;
        assert_eq!(
            primary.wait_for_commit(last, DEADLINE).unwrap(),
            TxStatus::Committed
        );
        last
    };
    let last = write(primary, 30);
    for node in &nodes {
        assert_eq!(
            node.wait_for_commit(last, DEADLINE).unwrap(),
            TxStatus::Committed
        );
    }

    // A follower crashes and stops; the others go on until the leader has purged its log
    // past the follower's last entry.
    let lagging = if leader == 3 { 2 } else { 3 };
    let index = lagging as usize - 1;
    let lagging_last = nodes[index]
        .raft()
        .metrics()
        .borrow()
        .last_log_index
        .unwrap();
    router.crash(lagging).await.unwrap();
    nodes.remove(index).shutdown().await.unwrap();
    let primary = nodes.iter().find(|n| n.id() == leader).unwrap();
    let purged = wait_for(
        "the leader to purge its log past the stopped follower",
        || {
            write(primary, 20);
            let purged = primary.raft().metrics().borrow().purged;
            purged.filter(|p| p.index > lagging_last)
        },
    );
    let last = write(primary, 10);

    // Restarted, it cannot be sent the entries it misses: it installs the leader's snapshot.
    let sent_before = router.trace().events.len();
    let restarted = start_node(&service, lagging, &config, &router).await;
    nodes.insert(index, restarted);
    let restarted = &nodes[index];
    assert_eq!(
        restarted.wait_for_commit(last, DEADLINE).unwrap(),
        TxStatus::Committed
    );
    let snapshots_sent = router.trace().events[sent_before..]
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EventKind::Sent { msg, rpc: RpcKind::InstallSnapshot } if msg.to == lagging
            )
        })
        .count();
    assert!(
        snapshots_sent > 0,
        "no install_snapshot sent to node {lagging}"
    );
    let installed = restarted.raft().metrics().borrow().snapshot;
    assert!(
        installed.is_some_and(|s| s.index > lagging_last),
        "snapshot {installed:?}, log purged to {purged}, node {lagging} had {lagging_last}"
    );
    for (id, contents) in &written {
        assert_eq!(restarted.status(*id), TxStatus::Committed, "{id}");
        assert_eq!(&restarted.entry("c", *id).unwrap().contents, contents);
        restarted.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    assert!(
        router.failures().is_empty(),
        "raft stopped: {:?}",
        router.failures()
    );

    for node in nodes {
        node.shutdown().await.unwrap();
    }
    audit_every_node(&service);
    eprintln!(
        "snapshot catch-up scenario took {:?} ({} entries, {snapshots_sent} install_snapshot \
         chunks)",
        started.elapsed(),
        written.len()
    );
}

/// openraft 0.9 restores a node whose stored vote is a committed vote for itself as the
/// leader of that term at once; a ledger node must not: its primary would write in the view
/// it wrote in before the restart. Restarted, a lone node's leader wins a new term first, and
/// its primary writes in a later view; what its last incarnation wrote stays committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_writes_only_after_winning_a_new_term() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "restart", 1).unwrap();
    let cert = service.identity.certificate_pem().to_string();
    let config = Arc::new(raft_config("ledger"));
    let router = Router::new(11, (*config).clone()).unwrap();
    let node = start_node(&service, 1, &config, &router).await;
    let members: BTreeMap<u64, BasicNode> = [(1, BasicNode::default())].into();
    node.raft().initialize(members).await.unwrap();
    let (_, term) = wait_for("a primary", || primary_among(&[&node]));
    let first = node.append("log", b"before the restart").unwrap();
    assert_eq!(first.view(), term + 1);
    assert_eq!(
        node.wait_for_commit(first, DEADLINE).unwrap(),
        TxStatus::Committed
    );
    router.crash(1).await.unwrap();
    node.shutdown().await.unwrap();

    let node = start_node(&service, 1, &config, &router).await;
    let (_, new_term) = wait_for("a primary again", || primary_among(&[&node]));
    assert!(
        new_term > term,
        "the restarted node leads term {new_term}, which it led before the restart"
    );
    let second = node.append("log", b"after the restart").unwrap();
    assert_eq!(second.view(), new_term + 1);
    assert!(second.view() > first.view());
    assert_eq!(
        node.wait_for_commit(second, DEADLINE).unwrap(),
        TxStatus::Committed
    );
    assert_eq!(node.status(first), TxStatus::Committed);
    assert_eq!(
        node.entry("log", first).unwrap().contents,
        b"before the restart"
    );
    node.receipt(first).unwrap().verify(&cert).unwrap();
    router.crash(1).await.unwrap();
    node.shutdown().await.unwrap();
}
