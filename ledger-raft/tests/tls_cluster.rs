//! A 3-node replicated ledger whose Raft RPCs go over real TCP on loopback with mutual TLS
//! (`ledger_raft::transport`): the nodes authenticate each other by the node certificates the
//! genesis recorded; entries commit on every node with receipts that verify; a node whose
//! certificate another service issued, and one the service issued but the ledger does not
//! record, are refused in the handshake (their vote with a higher term deposes nobody); a
//! follower stopped and restarted on the same address is reached again on its own and catches
//! up; every node's store audits clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::{NodeIdentity, ServiceIdentity, TxId, TxStatus};
use ledger_raft::{
    found_service, Backend, FoundedService, LedgerRole, PeerTrust, RaftServer, ReplicatedLedger,
    RocksBackend, TlsNetwork, TransportConfig, Vote,
};
use openraft::error::RPCError;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use openraft::{BasicNode, Config};
use tokio::sync::oneshot;

mod common;

use common::{audit_every_node, raft_config, wait_for, DEADLINE};

/// A running node: its replicated ledger and the listener serving its peers.
struct Running {
    node: Arc<ReplicatedLedger>,
    stop_server: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

async fn start(
    service: &FoundedService,
    id: u64,
    addr: SocketAddr,
    config: &Arc<Config>,
) -> (Running, SocketAddr) {
    let founded = &service.nodes[id as usize - 1];
    let trust = Arc::new(
        PeerTrust::new(
            service.identity.certificate_pem(),
            std::iter::empty::<&[u8]>(),
        )
        .unwrap(),
    );
    // The listener is bound before the node starts, so its address is known first (and a
    // restarted node binds the address it had).
    let server = wait_for("the raft address", || {
        RaftServer::bind(
            addr,
            &founded.identity,
            trust.clone(),
            TransportConfig::default(),
        )
        .ok()
    });
    let local = server.local_addr();
    let network =
        TlsNetwork::new(&founded.identity, trust.clone(), TransportConfig::default()).unwrap();
    let backend: Arc<dyn Backend> = wait_for("the raft store", || {
        RocksBackend::open(&founded.raft_dir)
            .ok()
            .map(|b| Arc::new(b) as Arc<dyn Backend>)
    });
    let node = ReplicatedLedger::start(
        id,
        config.clone(),
        network,
        backend,
        founded
            .ledger_config()
            .sig_interval(Duration::from_millis(5)),
    )
    .await
    .unwrap();
    // The genesis recorded every founding node: the ledger names the peers.
    let trusted = trust.record_ledger_nodes(&node.ledger().unwrap()).unwrap();
    assert!(trusted >= 3, "{trusted} trusted nodes");
    let (stop_server, stopped) = oneshot::channel();
    let raft = node.raft().clone();
    let server = tokio::spawn(async move {
        server
            .run(raft, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (
        Running {
            node: Arc::new(node),
            stop_server,
            server,
        },
        local,
    )
}

async fn stop(running: Running) {
    let _ = running.stop_server.send(());
    running.server.await.unwrap();
    let node = Arc::into_inner(running.node).expect("the only handle");
    node.shutdown().await.unwrap();
}

fn primary(nodes: &[&Running]) -> Option<(u64, u64)> {
    nodes.iter().find_map(|r| match r.node.role() {
        Some(LedgerRole::Primary { term }) => Some((r.node.id(), term)),
        _ => None,
    })
}

fn append_some(node: &ReplicatedLedger, from: u32, count: u32) -> Vec<(TxId, Vec<u8>)> {
    (from..from + count)
        .map(|i| {
            let contents = format!("entry {i}").into_bytes();
            (node.append("tls", &contents).unwrap(), contents)
        })
        .collect()
}

/// Sends a vote request with a far later term to `addr` as `identity`; returns the RPC's
/// outcome. The sender trusts the cluster's nodes, so only the server's refusal can stop it.
async fn vote_as(
    identity: &NodeIdentity,
    cluster: &FoundedService,
    addr: SocketAddr,
) -> Result<(), String> {
    let trust = Arc::new(
        PeerTrust::new(
            cluster.identity.certificate_pem(),
            cluster.nodes.iter().map(|n| n.identity.certificate_der()),
        )
        .unwrap(),
    );
    let mut network = TlsNetwork::new(identity, trust, TransportConfig::default()).unwrap();
    let mut connection = network
        .new_client(1, &BasicNode::new(addr.to_string()))
        .await;
    connection
        .vote(
            VoteRequest::new(Vote::new(1_000, 99), None),
            RPCOption::new(Duration::from_secs(5)),
        )
        .await
        .map(drop)
        .map_err(|e| match e {
            RPCError::Unreachable(u) => format!("unreachable: {u}"),
            RPCError::Network(n) => format!("network: {n}"),
            other => panic!("the vote reached a Raft: {other}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_over_mutual_tls_commit_refuse_strangers_and_reconnect() {
    let root = tempfile::tempdir().unwrap();
    let service = found_service(root.path(), "tls cluster", 3).unwrap();
    let cert = service.identity.certificate_pem().to_string();
    let config = Arc::new(raft_config("tls"));
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();

    let mut nodes: Vec<Option<Running>> = Vec::new();
    let mut addrs = Vec::new();
    for id in 1..=3 {
        let (running, addr) = start(&service, id, loopback, &config).await;
        nodes.push(Some(running));
        addrs.push(addr);
    }
    let members: BTreeMap<u64, BasicNode> = (1..=3)
        .map(|id| (id, BasicNode::new(addrs[id as usize - 1].to_string())))
        .collect();
    nodes[0]
        .as_ref()
        .unwrap()
        .node
        .raft()
        .initialize(members)
        .await
        .unwrap();

    let all = |nodes: &[Option<Running>]| -> Vec<Arc<ReplicatedLedger>> {
        nodes.iter().flatten().map(|r| r.node.clone()).collect()
    };
    let (leader, term) = wait_for("a primary", || {
        primary(&nodes.iter().flatten().collect::<Vec<_>>())
    });
    let leader_node = nodes[leader as usize - 1].as_ref().unwrap().node.clone();
    let mut written = append_some(&leader_node, 0, 100);
    let last = written.last().unwrap().0;
    for node in all(&nodes) {
        assert_eq!(
            node.wait_for_commit(last, DEADLINE).unwrap(),
            TxStatus::Committed,
            "node {}",
            node.id()
        );
    }

    // Strangers are refused in the handshake: a node of another service, and a node the
    // service endorsed but the ledger does not record. Their votes, at a far later term,
    // would otherwise depose the leader.
    let other = ServiceIdentity::generate("another service").unwrap();
    let stranger = NodeIdentity::generate(&other, "stranger").unwrap();
    let unrecorded = NodeIdentity::generate(&service.identity, "unrecorded").unwrap();
    for (who, identity) in [
        ("another service's node", &stranger),
        ("an unrecorded node", &unrecorded),
    ] {
        for addr in &addrs {
            let outcome = vote_as(identity, &service, *addr).await;
            assert!(outcome.is_err(), "{who} reached {addr}");
        }
    }
    let metrics = leader_node.raft().metrics().borrow().clone();
    assert_eq!(
        metrics.current_term, term,
        "a refused vote changed the term"
    );
    assert_eq!(metrics.current_leader, Some(leader));

    // A follower stops; the others go on; it restarts on the same address and is reached
    // again without being told.
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let stopped = nodes[follower as usize - 1].take().unwrap();
    stop(stopped).await;
    written.extend(append_some(&leader_node, 100, 50));
    let last = written.last().unwrap().0;
    assert_eq!(
        leader_node.wait_for_commit(last, DEADLINE).unwrap(),
        TxStatus::Committed
    );
    let (restarted, addr) = start(&service, follower, addrs[follower as usize - 1], &config).await;
    assert_eq!(addr, addrs[follower as usize - 1]);
    nodes[follower as usize - 1] = Some(restarted);
    for node in all(&nodes) {
        assert_eq!(
            node.wait_for_commit(last, DEADLINE).unwrap(),
            TxStatus::Committed,
            "node {}",
            node.id()
        );
        for (id, contents) in &written {
            assert_eq!(&node.entry("tls", *id).unwrap().contents, contents);
            node.receipt(*id).unwrap().verify(&cert).unwrap();
        }
    }

    drop(leader_node);
    for running in nodes.into_iter().flatten() {
        stop(running).await;
    }
    audit_every_node(&service);
}
