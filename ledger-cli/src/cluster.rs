//! `ledger cluster init`, `ledger cluster status`, and `ledger serve` of a cluster node: a
//! replicated ledger (`ledger_raft`) whose nodes are separate processes talking Raft over
//! mutual TLS (`ledger_raft::transport`), each answering the ACL REST API
//! (`ledger_server`), forwarding writes to the primary.
//!
//! # Layout
//!
//! `ledger cluster init DIR --nodes N --listen-base ADDR:PORT --admin-cert PEM` writes:
//!
//! ```text
//! DIR/
//!   service.pem        the service certificate: clients' trust anchor, receipts' verifier
//!   node1/ .. nodeN/   one node directory each, a ledger directory (`dir.rs`) plus:
//!     ledger.json      `listen` = the node's REST address; `cluster` = the key below
//!     store/           the node's ledger (a copy of the genesis ledger at init)
//!     raft/            the node's Raft log, vote and state-machine records (RocksDB)
//!     node.identity    the node's key and certificate (ledger-core's identity format; 0600)
//!     service.pem      the service certificate again, so a node directory is self-contained
//! ```
//!
//! Node `i` answers REST on `PORT + i - 1` and Raft on `PORT + N + i - 1` (so a 3-node
//! cluster from `127.0.0.1:8443` serves REST on 8443..8445 and Raft on 8446..8448). The
//! `cluster` key of `ledger.json`:
//!
//! | key | meaning |
//! | --- | --- |
//! | `node` | this node's Raft id (`i`) |
//! | `raft` | this node's Raft address |
//! | `nodes` | every node: `{"node", "rest", "raft"}` |
//! | `snapshotEvery` | a snapshot after this many applied entries (default 10,000) |
//! | `logKeptBehindSnapshot` | log entries kept behind a snapshot (default 1,000) |
//!
//! The genesis transaction records every node's certificate (so peers accept each other),
//! the `--admin-cert` user as an `Administrator`, and each `--member` key as a member of the
//! consortium (`ledger gov` then governs the running cluster).
//!
//! # Start
//!
//! `ledger serve DIR/node<i>` opens the node's ledger as a backup, its Raft over the
//! transport, and its REST server. Node 1 initializes the cluster's membership on its first
//! start (an initialized Raft ignores this); a majority of nodes running elects a primary.
//! On SIGTERM or Ctrl-C a node stops serving and closes its ledger; after SIGKILL its next
//! start recovers its store and Raft log and catches up from its peers.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use ledger_core::governance::{Genesis, MemberPublicKey};
use ledger_core::{Error, Ledger, LedgerConfig, NodeIdentity, TxId, TxStatus};
use ledger_raft::{
    found_service_with, Backend, LedgerRole, PeerTrust, RaftServer, ReplicatedLedger, RocksBackend,
    TlsNetwork, TransportConfig,
};
use ledger_server::{Forwarding, LedgerSource, NodeStatus, Server, ServerConfig};
use openraft::{BasicNode, SnapshotPolicy};
use serde::{Deserialize, Serialize};

use crate::dir::{require_empty, write_settings_file, LedgerDir, Settings, STORE_DIR};
use crate::output;
use crate::serve::stop_signal;
use crate::user_id::{certificate_der, certificate_user_id};
use crate::Outcome;

/// The node identity file inside a node directory.
const IDENTITY_FILE: &str = "node.identity";
/// The service certificate file.
const SERVICE_CERT_FILE: &str = "service.pem";
/// The Raft directory inside a node directory.
const RAFT_DIR: &str = "raft";
/// The `ledger.json` key of a node's cluster settings.
const CLUSTER_KEY: &str = "cluster";
/// The most nodes `cluster init` makes.
const MAX_NODES: usize = 15;

/// One node of the cluster as every node's settings list it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Peer {
    /// Raft id.
    node: u64,
    /// REST address.
    rest: SocketAddr,
    /// Raft address.
    raft: SocketAddr,
}

/// The `cluster` key of a node's `ledger.json` (see the module's `# Layout`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClusterSettings {
    node: u64,
    raft: SocketAddr,
    nodes: Vec<Peer>,
    #[serde(default = "default_snapshot_every")]
    snapshot_every: u64,
    #[serde(default = "default_log_kept")]
    log_kept_behind_snapshot: u64,
}

fn default_snapshot_every() -> u64 {
    10_000
}

fn default_log_kept() -> u64 {
    1_000
}

impl ClusterSettings {
    /// The cluster settings of a ledger directory, if it is a cluster node's.
    pub(crate) fn of(settings: &Settings) -> anyhow::Result<Option<Self>> {
        settings
            .other
            .get(CLUSTER_KEY)
            .map(|v| {
                serde_json::from_value(v.clone())
                    .context("the \"cluster\" settings of ledger.json are malformed")
            })
            .transpose()
    }
}

/// Arguments of `ledger cluster init`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// The directory to create the nodes' directories in (must not exist or be empty).
    dir: PathBuf,
    /// How many nodes (1 to 15; an odd number tolerates the most failures for its size).
    #[arg(long, value_name = "N")]
    nodes: usize,
    /// Node 1's REST address; node i answers on PORT+i-1, and Raft on PORT+N+i-1.
    #[arg(long, value_name = "ADDR:PORT")]
    listen_base: SocketAddr,
    /// The certificate (PEM or DER) of the user who is an Administrator from genesis.
    #[arg(long, value_name = "PEM")]
    admin_cert: PathBuf,
    /// A member's public key (PEM; Ed25519 or P-256), a member of the consortium from
    /// genesis (Accepted until it acknowledges with `ledger gov ack`). Repeat for several;
    /// with members the cluster is governed by their proposals and ballots.
    #[arg(long = "member", value_name = "PEM")]
    members: Vec<PathBuf>,
    /// The service's name (in its certificate).
    #[arg(long, default_value = "ledger")]
    service_name: String,
    /// A snapshot after this many applied entries; a node the log no longer reaches installs
    /// the newest snapshot.
    #[arg(long, default_value_t = default_snapshot_every(), value_name = "ENTRIES")]
    snapshot_every: u64,
    /// Log entries kept behind a snapshot.
    #[arg(long, default_value_t = default_log_kept(), value_name = "ENTRIES")]
    log_kept_behind_snapshot: u64,
}

/// Arguments of `ledger cluster status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Any node's REST address.
    addr: SocketAddr,
    /// The service certificate (PEM), to authenticate the nodes.
    #[arg(long, value_name = "PEM")]
    cert: PathBuf,
}

/// `ledger cluster` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ClusterCommand {
    /// Found a cluster: a service identity, N node directories with their keys and
    /// addresses, and a genesis that makes --admin-cert an Administrator.
    #[command(after_help = "\
Examples:
  ledger cluster init ./cluster --nodes 3 --listen-base 127.0.0.1:8443 --admin-cert admin.pem
  ledger serve ./cluster/node1 & ledger serve ./cluster/node2 & ledger serve ./cluster/node3 &
Node i answers the REST API on PORT+i-1 and talks Raft on PORT+N+i-1. DIR/service.pem is the
clients' trust anchor and verifies every receipt.")]
    Init(InitArgs),
    /// Show the primary, the view, and each node's last committed transaction.
    #[command(after_help = "\
Examples:
  ledger cluster status 127.0.0.1:8443 --cert ./cluster/service.pem
  ledger cluster status 127.0.0.1:8443 --cert ./cluster/service.pem --json
Asks the node at ADDR:PORT for the cluster's nodes, then each node for its status; a node that
does not answer is listed as unreachable.")]
    Status(StatusArgs),
}

/// Runs a `ledger cluster` subcommand.
pub(crate) fn run(command: ClusterCommand, json: bool) -> anyhow::Result<Outcome> {
    match command {
        ClusterCommand::Init(args) => init(args, json),
        ClusterCommand::Status(args) => status(args, json),
    }
}

fn port(base: SocketAddr, offset: usize) -> anyhow::Result<SocketAddr> {
    let port = usize::from(base.port()) + offset;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .with_context(|| format!("port {port} is out of range: choose a lower --listen-base"))?;
    Ok(SocketAddr::new(base.ip(), port))
}

fn init(args: InitArgs, json: bool) -> anyhow::Result<Outcome> {
    let n = args.nodes;
    if n == 0 || n > MAX_NODES {
        bail!("--nodes must be between 1 and {MAX_NODES}, not {n}");
    }
    if args.listen_base.port() == 0 {
        bail!("--listen-base needs a port: node i listens on PORT+i-1");
    }
    if args.snapshot_every == 0 {
        bail!("--snapshot-every must be at least 1");
    }
    let admin = std::fs::read(&args.admin_cert)
        .with_context(|| format!("cannot read {}", args.admin_cert.display()))?;
    let admin = certificate_der(&admin)
        .with_context(|| format!("{} is not a certificate", args.admin_cert.display()))?;
    let admin_id = certificate_user_id(&admin);
    require_empty(&args.dir)?;
    let peers = (1..=n)
        .map(|i| {
            Ok(Peer {
                node: i as u64,
                rest: port(args.listen_base, i - 1)?,
                raft: port(args.listen_base, n + i - 1)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let mut genesis = Genesis::new().user(admin_id.clone(), "Administrator");
    for path in &args.members {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let key = MemberPublicKey::from_pem(&pem)
            .with_context(|| format!("{} is not a member public key", path.display()))?;
        genesis = genesis.member(key);
    }
    let founded = found_service_with(&args.dir, &args.service_name, n, genesis)
        .context("founding the service")?;
    let service_pem = founded.identity.certificate_pem().to_owned();
    write_file(
        &args.dir.join(SERVICE_CERT_FILE),
        service_pem.as_bytes(),
        false,
    )?;
    for (peer, node) in peers.iter().zip(&founded.nodes) {
        let node_dir = args.dir.join(format!("node{}", peer.node));
        let store = node_dir.join(STORE_DIR);
        std::fs::rename(&node.ledger_dir, &store)
            .with_context(|| format!("cannot move the ledger to {}", store.display()))?;
        let identity = node.identity.to_bytes().context("encoding the node key")?;
        write_file(&node_dir.join(IDENTITY_FILE), &identity, true)?;
        write_file(
            &node_dir.join(SERVICE_CERT_FILE),
            service_pem.as_bytes(),
            false,
        )?;
        let cluster = ClusterSettings {
            node: peer.node,
            raft: peer.raft,
            nodes: peers.clone(),
            snapshot_every: args.snapshot_every,
            log_kept_behind_snapshot: args.log_kept_behind_snapshot,
        };
        let mut settings = Settings::new(args.service_name.clone(), peer.rest);
        settings.other.insert(
            CLUSTER_KEY.to_owned(),
            serde_json::to_value(&cluster).context("encoding the cluster settings")?,
        );
        write_settings_file(&node_dir, &settings)?;
    }
    let genesis = args.dir.join("genesis");
    std::fs::remove_dir_all(&genesis)
        .with_context(|| format!("cannot remove {}", genesis.display()))?;
    if json {
        output::print_json(&serde_json::json!({
            "dir": args.dir.display().to_string(),
            "serviceCertificate": args.dir.join(SERVICE_CERT_FILE).display().to_string(),
            "administrator": admin_id,
            "nodes": peers.iter().map(|p| serde_json::json!({
                "node": p.node,
                "dir": args.dir.join(format!("node{}", p.node)).display().to_string(),
                "rest": p.rest.to_string(),
                "raft": p.raft.to_string(),
            })).collect::<Vec<_>>(),
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "founded service {:?} with {n} nodes in {} (administrator {admin_id})",
            args.service_name,
            args.dir.display()
        )?;
        for p in &peers {
            writeln!(
                out,
                "  node{}: REST https://{}, Raft {}",
                p.node, p.rest, p.raft
            )?;
        }
        writeln!(
            out,
            "start each with `ledger serve {}/node<i>`",
            args.dir.display()
        )?;
    }
    Ok(Outcome::Success)
}

/// Writes a new file and syncs it; `secret` files are readable by their owner only.
fn write_file(path: &Path, bytes: &[u8], secret: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A cluster node as the REST server's [`LedgerSource`].
struct NodeSource(Arc<ReplicatedLedger>);

impl LedgerSource for NodeSource {
    fn ledger(&self) -> Result<Arc<Ledger>, Error> {
        self.0.ledger()
    }

    fn status(&self) -> NodeStatus {
        let s = self.0.cluster_status();
        let role = match s.role {
            Some(LedgerRole::Primary { .. }) => "Primary",
            Some(LedgerRole::Backup) => "Backup",
            _ => "Closed",
        };
        NodeStatus::new(
            s.node.to_string(),
            role,
            s.leader.map(|l| l.to_string()),
            Some(s.term),
            s.last_committed,
        )
    }

    fn wait_for_commit(&self, tx: TxId, timeout: Duration) -> Result<TxStatus, Error> {
        self.0.wait_for_commit(tx, timeout)
    }
}

/// `ledger serve` of a cluster node directory (see the module's `# Start`).
pub(crate) fn serve_node(
    dir: &LedgerDir,
    cluster: ClusterSettings,
    rest_listen: SocketAddr,
    tls_names: Vec<String>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let root = dir.root();
    let identity = std::fs::read(root.join(IDENTITY_FILE))
        .with_context(|| format!("cannot read {}", root.join(IDENTITY_FILE).display()))?;
    let identity = Arc::new(
        NodeIdentity::from_bytes(&identity)
            .with_context(|| format!("{} is damaged", root.join(IDENTITY_FILE).display()))?,
    );
    let service_pem = std::fs::read_to_string(root.join(SERVICE_CERT_FILE))
        .with_context(|| format!("cannot read {}", root.join(SERVICE_CERT_FILE).display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the node's runtime")?;
    runtime.block_on(run_node(
        dir,
        cluster,
        identity,
        service_pem,
        rest_listen,
        tls_names,
        json,
    ))?;
    Ok(Outcome::Success)
}

async fn run_node(
    dir: &LedgerDir,
    cluster: ClusterSettings,
    identity: Arc<NodeIdentity>,
    service_pem: String,
    rest_listen: SocketAddr,
    tls_names: Vec<String>,
    json: bool,
) -> anyhow::Result<()> {
    let id = cluster.node;
    let trust = Arc::new(
        PeerTrust::new(&service_pem, std::iter::empty::<&[u8]>())
            .context("the service certificate")?,
    );
    let raft_server = RaftServer::bind(
        cluster.raft,
        &identity,
        trust.clone(),
        TransportConfig::default(),
    )
    .with_context(|| format!("cannot listen for Raft on {}", cluster.raft))?;
    let network = TlsNetwork::new(&identity, trust.clone(), TransportConfig::default())
        .context("the Raft transport")?;
    let raft_dir = dir.root().join(RAFT_DIR);
    let backend: Arc<dyn Backend> = Arc::new(
        RocksBackend::open(&raft_dir)
            .with_context(|| format!("cannot open the Raft store {}", raft_dir.display()))?,
    );
    let raft_config = openraft::Config {
        cluster_name: dir.settings().service_name.clone(),
        heartbeat_interval: 100,
        election_timeout_min: 500,
        election_timeout_max: 1000,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(cluster.snapshot_every),
        max_in_snapshot_log_to_keep: cluster.log_kept_behind_snapshot,
        ..openraft::Config::default()
    }
    .validate()
    .context("the Raft settings")?;
    let ledger_config = LedgerConfig::new(dir.store_path()).node_signer(identity.clone() as Arc<_>);
    let node = ReplicatedLedger::start(id, Arc::new(raft_config), network, backend, ledger_config)
        .await
        .with_context(|| format!("cannot start node {id}"))?;
    let node = Arc::new(node);
    let ledger = node.ledger().context("the node's ledger")?;
    trust
        .record_ledger_nodes(&ledger)
        .context("reading the recorded nodes")?;
    drop(ledger);

    let (stop_raft, raft_stopped) = tokio::sync::oneshot::channel::<()>();
    let raft = node.raft().clone();
    let raft_task = tokio::spawn(async move {
        raft_server
            .run(raft, async {
                let _ = raft_stopped.await;
            })
            .await
    });
    if id == 1 {
        let members: BTreeMap<u64, BasicNode> = cluster
            .nodes
            .iter()
            .map(|p| (p.node, BasicNode::new(p.raft.to_string())))
            .collect();
        match node.raft().initialize(members).await {
            Ok(()) => tracing::info!("cluster membership initialized"),
            // Initialized before: the normal case on every later start.
            Err(openraft::error::RaftError::APIError(
                openraft::error::InitializeError::NotAllowed(_),
            )) => {}
            Err(e) => bail!("initializing the cluster: {e}"),
        }
    }

    let peers: BTreeMap<String, SocketAddr> = cluster
        .nodes
        .iter()
        .map(|p| (p.node.to_string(), p.rest))
        .collect();
    let mut config = ServerConfig::default();
    config.listen = rest_listen;
    config.tls_dns_names = tls_names;
    let forwarding = Forwarding::new(&identity, &service_pem, peers, config.request_timeout)
        .context("forwarding to the primary")?;
    let source: Arc<dyn LedgerSource> = Arc::new(NodeSource(node.clone()));
    let server = Server::bind_source(source, Some(forwarding), config)
        .with_context(|| format!("cannot serve on {rest_listen}"))?;
    let addr = server.local_addr();
    if json {
        output::print_json(&serde_json::json!({
            "node": id,
            "listen": addr.to_string(),
            "url": format!("https://{addr}"),
            "raft": cluster.raft.to_string(),
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "serving node {id} of {} on https://{addr} (Raft on {}); stop with Ctrl-C or SIGTERM",
            dir.root().display(),
            cluster.raft
        )
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    }
    let served = server.run(stop_signal()).await;
    let _ = stop_raft.send(());
    match raft_task.await {
        Ok(result) => result.context("the Raft listener failed")?,
        Err(e) => bail!("the Raft listener task failed: {e}"),
    }
    served.context("the server stopped with an error")?;
    let node = Arc::into_inner(node).context("the node is still held after its server stopped")?;
    node.shutdown().await.context("stopping the node")?;
    Ok(())
}

/// A node's answer in `cluster status`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeReport {
    node: String,
    address: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<NodeStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn status(args: StatusArgs, json: bool) -> anyhow::Result<Outcome> {
    let pem = std::fs::read(&args.cert)
        .with_context(|| format!("cannot read {}", args.cert.display()))?;
    let anchor = reqwest::Certificate::from_pem(&pem)
        .with_context(|| format!("{} is not a PEM certificate", args.cert.display()))?;
    let client = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(anchor)
        .timeout(Duration::from_secs(3))
        .build()
        .context("building the HTTPS client")?;
    let network: serde_json::Value = client
        .get(format!("https://{}/node/network", args.addr))
        .send()
        .and_then(reqwest::blocking::Response::error_for_status)
        .and_then(|r| r.json())
        .with_context(|| format!("asking {} for the cluster's nodes", args.addr))?;
    let mut nodes: Vec<(String, String)> = network["nodes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| {
                    Some((
                        n["node"].as_str()?.to_owned(),
                        n["address"].as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    if nodes.is_empty() {
        nodes.push((String::new(), args.addr.to_string()));
    }
    let reports: Vec<NodeReport> = nodes
        .into_iter()
        .map(|(node, address)| {
            let answer = client
                .get(format!("https://{address}/node/status"))
                .send()
                .and_then(reqwest::blocking::Response::error_for_status)
                .and_then(|r| r.json::<NodeStatus>());
            match answer {
                Ok(status) => NodeReport {
                    node: status.node.clone(),
                    address,
                    reachable: true,
                    status: Some(status),
                    error: None,
                },
                Err(e) => NodeReport {
                    node,
                    address,
                    reachable: false,
                    status: None,
                    error: Some(e.to_string()),
                },
            }
        })
        .collect();
    let primary = reports
        .iter()
        .filter_map(|r| r.status.as_ref())
        .find(|s| s.role == "Primary");
    let view = primary.and_then(|p| p.term).map(|t| t + 1);
    if json {
        output::print_json(&serde_json::json!({
            "primary": primary.map(|p| p.node.clone()),
            "view": view,
            "nodes": reports,
        }))?;
    } else {
        let mut out = std::io::stdout().lock();
        match (primary, view) {
            (Some(p), Some(view)) => writeln!(out, "primary: node {} (view {view})", p.node)?,
            _ => writeln!(out, "primary: none now (an election may be under way)")?,
        }
        for r in &reports {
            match &r.status {
                Some(s) => writeln!(
                    out,
                    "node {} at {}: {}, last committed {}",
                    r.node,
                    r.address,
                    s.role,
                    s.last_committed
                        .map_or_else(|| "none".to_owned(), |t| t.to_string())
                )?,
                None => writeln!(
                    out,
                    "node {} at {}: unreachable ({})",
                    r.node,
                    r.address,
                    r.error.as_deref().unwrap_or("")
                )?,
            }
        }
    }
    Ok(Outcome::Success)
}
