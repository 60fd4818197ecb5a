//! A real cluster: three `ledger serve` processes on loopback, founded by `ledger cluster
//! init`, under load from reqwest clients (one per node) and the official
//! `azure-confidentialledger` SDK (`tests/cluster_sdk_client.py`), while:
//!
//! - the primary is SIGKILLed and restarted 20 times;
//! - a follower is SIGKILLed while it installs a snapshot (the cluster snapshots every 40 log
//!   entries and keeps 8 behind, so a follower that was down for a while gets a snapshot;
//!   the node logs `installing a ledger snapshot` at `RUST_LOG=ledger_raft=info`, and the test
//!   kills it on that line, trying again if the node had already logged the install's end).
//!
//! Then: every transaction a client saw Committed is served by every node with the same
//! contents and a receipt that verifies against `DIR/service.pem` (claims included); no
//! transaction id names two contents; a write sent to a follower is answered by the primary
//! (`x-ledger-node`); a client certificate cannot pose as a forwarding node; the nodes stop
//! on SIGTERM and each node's store passes `ledger audit`.
//!
//! Under `CI=true` a missing SDK fails the test; elsewhere the SDK client is skipped with a
//! notice. `LEDGER_PYTHON` names another interpreter (default `python3`). Node logs are kept
//! in the cluster directory and their tails printed on failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ledger_core::{ApplicationClaim, ReceiptVerifier, ServedReceipt, TxId};
use ledger_server::NodeStatus;
use serde_json::Value;

const NODES: usize = 3;

/// The tests of this file run one at a time: each runs a cluster whose elections assume the
/// machine's cores are not taken by another cluster's load.
static SERIAL: Mutex<()> = Mutex::new(());
const PRIMARY_KILLS: usize = 20;
const API: &str = "api-version=2022-05-13";
const INSTALL_STARTED: &str = "installing a ledger snapshot";
const INSTALL_ENDED: &str = "installed a ledger snapshot";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn python() -> String {
    std::env::var("LEDGER_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether the pinned SDK imports; under CI its absence is a failure.
fn sdk_available() -> bool {
    let probe = Command::new(python())
        .args([
            "-c",
            "import azure.confidentialledger; from importlib.metadata import version; \
             assert version('azure-confidentialledger') == '1.1.1'",
        ])
        .output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    assert!(
        ok || !in_ci(),
        "azure-confidentialledger 1.1.1 is not installed for {} (run .ci/setup.sh)",
        python()
    );
    if !ok {
        eprintln!("SKIPPED the SDK client: azure-confidentialledger 1.1.1 is not installed");
    }
    ok
}

/// A base port with `2 * NODES` free consecutive ports after it. The start is drawn from the
/// process id and a per-process counter, so the tests of one run (which run in parallel)
/// take disjoint ranges, and parallel runs rarely collide.
fn free_ports() -> u16 {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let call = CALLS.fetch_add(1, Ordering::Relaxed);
    let span = 2 * NODES as u32;
    let mut base = 20_000 + (std::process::id() % 500 * 64 + call * 16) % 40_000;
    for _ in 0..200 {
        let free = (0..span).all(|i| TcpListener::bind(("127.0.0.1", (base + i) as u16)).is_ok());
        if free {
            return base as u16;
        }
        base = if base > 60_000 {
            20_000 + call * 16
        } else {
            base + 97 * 16
        };
    }
    panic!("no {span} consecutive free ports on 127.0.0.1");
}

/// One node process, restartable; its stderr (the node's log) is appended to `node<i>.log`
/// and sent line by line to whoever listens.
struct Node {
    id: usize,
    dir: PathBuf,
    rest: SocketAddr,
    log: PathBuf,
    child: Option<Child>,
    lines: Option<mpsc::Receiver<String>>,
}

impl Node {
    fn start(&mut self) {
        assert!(self.child.is_none(), "node {} is running", self.id);
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .arg("serve")
            .arg(&self.dir)
            .env("RUST_LOG", "warn,ledger_raft=info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, receive) = mpsc::channel();
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        writeln!(log, "=== start (pid {})", child.id()).unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(log, "{line}");
                let _ = send.send(line);
            }
        });
        self.child = Some(child);
        self.lines = Some(receive);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("a running node");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} ignored SIGTERM",
                self.id
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.rest)
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client trusting only the service certificate, presenting the admin's certificate.
fn https_client(
    service_pem: &str,
    identity_pem: &str,
    timeout: Duration,
) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(service_pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(identity_pem.as_bytes()).unwrap())
        .timeout(timeout)
        .build()
        .unwrap()
}

fn node_status(client: &reqwest::blocking::Client, url: &str) -> Option<NodeStatus> {
    client
        .get(format!("{url}/node/status"))
        .send()
        .ok()?
        .error_for_status()
        .ok()?
        .json()
        .ok()
}

/// A transaction a client saw Committed.
#[derive(Clone, Debug)]
struct Committed {
    tx: TxId,
    collection: String,
    contents: String,
    seen_on: String,
}

/// Appends to node `start` (moving on to the next node when one fails) and records what the
/// node it talks to reports Committed, until `stop`.
fn rest_client(
    k: usize,
    urls: Vec<String>,
    client: reqwest::blocking::Client,
    stop: Arc<AtomicBool>,
    committed: Arc<Mutex<Vec<Committed>>>,
) {
    let collection = format!("rest-{k}");
    let mut current = k % urls.len();
    let mut n = 0_u64;
    while !stop.load(Ordering::Relaxed) {
        let url = &urls[current];
        let contents = format!("client {k} entry {n}");
        n += 1;
        let created = client
            .post(format!(
                "{url}/app/transactions?{API}&collectionId={collection}"
            ))
            .json(&serde_json::json!({ "contents": contents }))
            .send();
        let tx: TxId = match created {
            Ok(r) if r.status() == 200 => r
                .headers()
                .get("x-ms-ccf-transaction-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .expect("a created entry names its transaction"),
            _ => {
                current = (current + 1) % urls.len();
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut done = false;
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            let state = client
                .get(format!("{url}/app/transactions/{tx}/status?{API}"))
                .send()
                .ok()
                .filter(|r| r.status() == 200)
                .and_then(|r| r.json::<Value>().ok());
            if state.as_ref().is_some_and(|s| s["state"] == "Committed") {
                committed.lock().unwrap().push(Committed {
                    tx,
                    collection: collection.clone(),
                    contents: contents.clone(),
                    seen_on: url.clone(),
                });
                done = true;
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        if !done {
            current = (current + 1) % urls.len();
        }
    }
}

struct Cluster {
    nodes: Vec<Node>,
    client: reqwest::blocking::Client,
}

impl Cluster {
    /// Starts the `NODES` node processes of the cluster `cluster init` wrote to `dir` from
    /// port `base`, with a status client presenting `identity`.
    fn start(dir: &Path, base: u16, service_pem: &str, identity: &str) -> Cluster {
        let mut cluster = Cluster {
            nodes: (1..=NODES)
                .map(|i| Node {
                    id: i,
                    dir: dir.join(format!("node{i}")),
                    rest: SocketAddr::from(([127, 0, 0, 1], base + i as u16 - 1)),
                    log: dir.join(format!("node{i}.log")),
                    child: None,
                    lines: None,
                })
                .collect(),
            client: https_client(service_pem, identity, Duration::from_secs(2)),
        };
        for node in &mut cluster.nodes {
            node.start();
        }
        cluster
    }

    fn statuses(&self) -> Vec<Option<NodeStatus>> {
        self.nodes
            .iter()
            .map(|n| {
                if n.child.is_some() {
                    node_status(&self.client, &n.url())
                } else {
                    None
                }
            })
            .collect()
    }

    /// The primary's index and term once a running node reports itself primary in term
    /// `min_term` or later.
    fn wait_for_primary(&self, min_term: u64, within: Duration) -> (usize, u64) {
        let deadline = Instant::now() + within;
        loop {
            for (i, s) in self.statuses().into_iter().enumerate() {
                if let Some(s) = s {
                    let term = s.term.unwrap_or(0);
                    if s.role == "Primary" && term >= min_term {
                        return (i, term);
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no primary in term {min_term} or later within {within:?}:\n{}",
                self.tails()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn tails(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {} log\n{}", n.id, n.log_tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn committed_len(committed: &Mutex<Vec<Committed>>) -> usize {
    committed.lock().unwrap().len()
}

/// Waits until the clients have recorded `more` commits beyond `from`.
fn wait_for_progress(
    cluster: &Cluster,
    committed: &Mutex<Vec<Committed>>,
    from: usize,
    more: usize,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed_len(committed) < from + more {
        assert!(
            Instant::now() < deadline,
            "the clients committed nothing new for 60 s:\n{}",
            cluster.tails()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills follower `f` during a snapshot install; returns once it was killed between the
/// install's start and end.
fn kill_follower_during_snapshot_install(
    cluster: &mut Cluster,
    committed: &Mutex<Vec<Committed>>,
    f: usize,
) {
    for attempt in 0..8 {
        cluster.nodes[f].kill();
        // Long enough for the primary to snapshot past the follower and purge its log.
        let from = committed_len(committed);
        wait_for_progress(cluster, committed, from, 150 + 100 * attempt);
        cluster.nodes[f].start();
        let lines = cluster.nodes[f].lines.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut started = false;
        while Instant::now() < deadline {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains(INSTALL_STARTED) => {
                    cluster.nodes[f].kill();
                    started = true;
                    break;
                }
                Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        if !started {
            eprintln!(
                "attempt {attempt}: node {} caught up from the log; longer down next",
                f + 1
            );
            continue;
        }
        // Whatever the node logged before it died: had it finished the install already?
        let rest: Vec<String> = lines.iter().collect();
        if rest.iter().any(|l| l.contains(INSTALL_ENDED)) {
            eprintln!("attempt {attempt}: the install had finished before the kill; again");
            continue;
        }
        eprintln!(
            "node {} killed during a snapshot install (attempt {attempt})",
            f + 1
        );
        return;
    }
    panic!(
        "could not kill node {} during a snapshot install in 8 attempts:\n{}",
        f + 1,
        cluster.tails()
    );
}

fn cluster_init(dir: &Path, base: u16, admin_crt: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["cluster", "init"])
        .arg(dir)
        .args(["--nodes", &NODES.to_string()])
        .args(["--listen-base", &format!("127.0.0.1:{base}")])
        .arg("--admin-cert")
        .arg(admin_crt)
        .args([
            "--snapshot-every",
            "40",
            "--log-kept-behind-snapshot",
            "8",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cluster init failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(init["nodes"].as_array().unwrap().len(), NODES, "{init}");
    assert_eq!(init["nodes"][1]["rest"], format!("127.0.0.1:{}", base + 1));
    assert_eq!(
        init["nodes"][0]["raft"],
        format!("127.0.0.1:{}", base + NODES as u16)
    );
}

/// `ledger cluster status --json` from node `via`.
fn cluster_status_json(via: SocketAddr, service_pem: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["cluster", "status", &via.to_string(), "--json", "--cert"])
        .arg(service_pem)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn three_node_processes_keep_every_committed_transaction_through_kills() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let admin = rcgen::generate_simple_self_signed(vec!["admin".to_owned()]).unwrap();
    let admin_crt = tmp.path().join("admin.crt");
    fs::write(&admin_crt, admin.cert.pem()).unwrap();
    let admin_pem = tmp.path().join("admin.pem");
    let identity = format!("{}{}", admin.cert.pem(), admin.key_pair.serialize_pem());
    fs::write(&admin_pem, &identity).unwrap();

    let base = free_ports();
    cluster_init(&dir, base, &admin_crt);
    let service_pem_path = dir.join("service.pem");
    let service_pem = fs::read_to_string(&service_pem_path).unwrap();

    let mut cluster = Cluster::start(&dir, base, &service_pem, &identity);
    let (primary, mut term) = cluster.wait_for_primary(0, Duration::from_secs(60));
    let urls: Vec<String> = cluster.nodes.iter().map(Node::url).collect();

    // `cluster status` names the primary and every node.
    let status = cluster_status_json(cluster.nodes[(primary + 1) % NODES].rest, &service_pem_path);
    assert_eq!(status["primary"], (primary + 1).to_string(), "{status}");
    assert_eq!(status["nodes"].as_array().unwrap().len(), NODES, "{status}");

    // A write sent to a follower is answered by the primary, and says so.
    let writer = https_client(&service_pem, &identity, Duration::from_secs(30));
    let follower = (primary + 1) % NODES;
    let created = writer
        .post(format!("{}/app/transactions?{API}", urls[follower]))
        .json(&serde_json::json!({"contents": "via a follower"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 200);
    assert_eq!(
        created.headers()["x-ledger-node"].to_str().unwrap(),
        (primary + 1).to_string()
    );
    // A client cannot pose as a node forwarding another user's write.
    let forged = writer
        .post(format!("{}/app/transactions?{API}", urls[primary]))
        .header("x-ledger-forwarded-user", "00")
        .json(&serde_json::json!({"contents": "forged"}))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);

    // Load: one reqwest client per node, and the SDK.
    let stop = Arc::new(AtomicBool::new(false));
    let committed: Arc<Mutex<Vec<Committed>>> = Arc::default();
    let clients: Vec<_> = (0..NODES)
        .map(|k| {
            let (urls, stop, committed) = (urls.clone(), stop.clone(), committed.clone());
            let client = https_client(&service_pem, &identity, Duration::from_secs(10));
            thread::spawn(move || rest_client(k, urls, client, stop, committed))
        })
        .collect();
    let stop_file = tmp.path().join("stop");
    let sdk = sdk_available().then(|| {
        // The SDK starts on a follower.
        let mut order = urls.clone();
        order.rotate_left(follower);
        Command::new(python())
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/cluster_sdk_client.py"
            ))
            .env("LEDGER_ENDPOINTS", order.join(","))
            .env("LEDGER_SERVICE_CERT", &service_pem_path)
            .env("LEDGER_ADMIN_PEM", &admin_pem)
            .env("LEDGER_COLLECTION", "sdk")
            .env("LEDGER_STOP_FILE", &stop_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    });
    // Its output read as it comes, so a full pipe never stalls it.
    let sdk = sdk.map(|child| thread::spawn(move || child.wait_with_output().unwrap()));
    wait_for_progress(&cluster, &committed, 0, 20);

    // The primary SIGKILLed and restarted, 20 times; each time a new primary takes over and
    // the clients commit again.
    for round in 0..PRIMARY_KILLS {
        let (primary, primary_term) = cluster.wait_for_primary(term, Duration::from_secs(30));
        cluster.nodes[primary].kill();
        let (next, next_term) = cluster.wait_for_primary(primary_term + 1, Duration::from_secs(30));
        assert_ne!(next, primary);
        cluster.nodes[primary].start();
        term = next_term;
        let from = committed_len(&committed);
        wait_for_progress(&cluster, &committed, from, 5);
        eprintln!(
            "round {round}: node {} killed, node {} primary in term {term}",
            primary + 1,
            next + 1
        );
    }

    // A follower killed during a snapshot install, then restarted to catch up.
    let (primary, _) = cluster.wait_for_primary(term, Duration::from_secs(30));
    let follower = (primary + 1) % NODES;
    kill_follower_during_snapshot_install(&mut cluster, &committed, follower);
    cluster.nodes[follower].start();
    let from = committed_len(&committed);
    wait_for_progress(&cluster, &committed, from, 20);

    // Stop the load.
    stop.store(true, Ordering::Relaxed);
    fs::write(&stop_file, b"stop").unwrap();
    for c in clients {
        c.join().unwrap();
    }
    let mut records = committed.lock().unwrap().clone();
    if let Some(sdk) = sdk {
        let out = sdk.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the SDK client failed: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut done = None;
        for line in stdout.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            if let Some(n) = v["done"].as_u64() {
                done = Some(n);
                continue;
            }
            records.push(Committed {
                tx: v["tx"].as_str().unwrap().parse().unwrap(),
                collection: v["collection"].as_str().unwrap().to_owned(),
                contents: v["contents"].as_str().unwrap().to_owned(),
                seen_on: v["endpoint"].as_str().unwrap().to_owned(),
            });
        }
        let done = done.expect("the SDK client finished");
        assert!(done > 0, "the SDK client committed nothing");
        eprintln!("the SDK client committed {done} entries");
    }
    eprintln!("{} committed entries recorded", records.len());

    // No transaction id names two contents.
    let mut by_tx: BTreeMap<TxId, &Committed> = BTreeMap::new();
    for r in &records {
        if let Some(other) = by_tx.insert(r.tx, r) {
            panic!("{} named two transactions: {other:?} and {r:?}", r.tx);
        }
    }
    let newest = *by_tx.keys().max_by_key(|t| t.seqno()).unwrap();

    // Every node catches up to the newest recorded commit.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let statuses = cluster.statuses();
        let caught_up = statuses.iter().all(|s| {
            s.as_ref()
                .and_then(|s| s.last_committed)
                .is_some_and(|t| t.seqno() >= newest.seqno())
        });
        if caught_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nodes did not catch up to {newest}: {statuses:?}\n{}",
            cluster.tails()
        );
        thread::sleep(Duration::from_millis(100));
    }

    // Every node serves every committed transaction, unchanged, with a verifying receipt.
    let verifier = ReceiptVerifier::new(&service_pem).unwrap();
    let reader = https_client(&service_pem, &identity, Duration::from_secs(30));
    for node in &cluster.nodes {
        let mut receipts = Vec::with_capacity(records.len());
        for r in &records {
            let url = node.url();
            let entry: Value = reader
                .get(format!(
                    "{url}/app/transactions/{}?{API}&collectionId={}",
                    r.tx, r.collection
                ))
                .send()
                .unwrap()
                .json()
                .unwrap();
            assert_eq!(entry["state"], "Ready", "node {}: {r:?}: {entry}", node.id);
            assert_eq!(
                entry["entry"]["contents"], r.contents,
                "node {} serves {} changed (seen Committed on {})",
                node.id, r.tx, r.seen_on
            );
            let body = reader
                .get(format!("{url}/app/transactions/{}/receipt?{API}", r.tx))
                .send()
                .unwrap()
                .text()
                .unwrap();
            let served = ServedReceipt::from_json(&body)
                .unwrap_or_else(|e| panic!("node {}: {r:?}: {e}: {body}", node.id));
            let claimed = served.application_claims.iter().any(|c| {
                matches!(c, ApplicationClaim::LedgerEntry(e)
                    if e.contents == r.contents && e.collection_id == r.collection)
            });
            assert!(
                claimed,
                "node {}: the receipt's claims of {r:?}: {body}",
                node.id
            );
            served
                .receipt
                .verify_claims(&served.application_claims)
                .unwrap();
            receipts.push(served.receipt);
        }
        let results = verifier.verify_batch(&receipts, SystemTime::now());
        let failures = ReceiptVerifier::failures(&results);
        assert!(failures.is_empty(), "node {}: {failures:?}", node.id);
    }

    // SIGTERM, then the offline audit of every node's store.
    for node in &mut cluster.nodes {
        let status = node.stop();
        assert!(
            status.success(),
            "node {} exited with {status}:\n{}",
            node.id,
            node.log_tail()
        );
    }
    for node in &cluster.nodes {
        let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .args(["audit", "--json"])
            .arg(&node.dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the audit of node {} failed: {}{}",
            node.id,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Runs `ledger args...`, expects success, returns stdout as JSON.
fn ledger_json(args: &[&str], stdin: Option<&str>) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ledger"));
    cmd.arg("--json").args(args);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ledger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn members_govern_a_running_cluster_through_any_node() {
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let admin = rcgen::generate_simple_self_signed(vec!["admin".to_owned()]).unwrap();
    let admin_crt = tmp.path().join("admin.crt");
    fs::write(&admin_crt, admin.cert.pem()).unwrap();
    let mut member_args = Vec::new();
    let mut member_keys = Vec::new();
    for i in 0..2 {
        let key = rcgen::KeyPair::generate().unwrap();
        let public = tmp.path().join(format!("member{i}.pub"));
        let private = tmp.path().join(format!("member{i}.key"));
        fs::write(&public, key.public_key_pem()).unwrap();
        fs::write(&private, key.serialize_pem()).unwrap();
        member_args.push("--member".to_owned());
        member_args.push(public.to_str().unwrap().to_owned());
        member_keys.push(private.to_str().unwrap().to_owned());
    }
    let base = free_ports();
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["cluster", "init"])
        .arg(&dir)
        .args([
            "--nodes",
            "3",
            "--listen-base",
            &format!("127.0.0.1:{base}"),
        ])
        .arg("--admin-cert")
        .arg(&admin_crt)
        .args(&member_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let service = dir.join("service.pem");
    let service_pem = fs::read_to_string(&service).unwrap();
    let cert = service.to_str().unwrap();
    let identity = format!("{}{}", admin.cert.pem(), admin.key_pair.serialize_pem());
    let cluster = Cluster::start(&dir, base, &service_pem, &identity);
    let (primary, _) = cluster.wait_for_primary(0, Duration::from_secs(60));
    // Every request goes to a backup, which forwards it to the primary.
    let backup = cluster.nodes[(primary + 1) % 3].rest.to_string();
    let other_backup = cluster.nodes[(primary + 2) % 3].rest.to_string();

    let shown = ledger_json(&["gov", "show", &backup, "--cert", cert], None);
    let members = shown["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{shown}");
    assert!(members.iter().all(|m| m["status"] == "accepted"), "{shown}");
    for (key, node) in member_keys.iter().zip([&backup, &other_backup]) {
        ledger_json(
            &["gov", "ack", node, "--cert", cert, "--member-key", key],
            None,
        );
    }
    let shown = ledger_json(&["gov", "show", &other_backup, "--cert", cert], None);
    assert!(
        shown["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["status"] == "active"),
        "{shown}"
    );

    // A new user, admitted by proposal and ballots, can then read on any node.
    let reader = rcgen::generate_simple_self_signed(vec!["reader".to_owned()]).unwrap();
    let reader_id = ledger_server::certificate_user_id(reader.cert.der());
    let reader_identity = format!("{}{}", reader.cert.pem(), reader.key_pair.serialize_pem());
    let reader_client = https_client(&service_pem, &reader_identity, Duration::from_secs(10));
    let read = |node: &str| {
        reader_client
            .get(format!("https://{node}/app/transactions?{API}"))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(read(&backup), 403);
    let actions = serde_json::json!([
        {"name": "set_user", "args": {"user_id": reader_id.as_str(), "role": "Reader"}}
    ])
    .to_string();
    let proposed = ledger_json(
        &[
            "gov",
            "propose",
            &backup,
            "--cert",
            cert,
            "--member-key",
            &member_keys[0],
            "--actions",
            "-",
        ],
        Some(&actions),
    );
    assert_eq!(proposed["state"], "open", "{proposed}");
    let id = proposed["proposal_id"].as_str().unwrap().to_owned();
    let first = ledger_json(
        &[
            "gov",
            "ballot",
            &other_backup,
            &id,
            "--vote",
            "approve",
            "--cert",
            cert,
            "--member-key",
            &member_keys[0],
        ],
        None,
    );
    assert_eq!(first["state"], "open", "{first}");
    let second = ledger_json(
        &[
            "gov",
            "ballot",
            &backup,
            &id,
            "--vote",
            "approve",
            "--cert",
            cert,
            "--member-key",
            &member_keys[1],
        ],
        None,
    );
    assert_eq!(second["state"], "accepted", "{second}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while read(&other_backup) != 200 {
        assert!(
            Instant::now() < deadline,
            "the new Reader cannot read on a backup"
        );
        thread::sleep(Duration::from_millis(50));
    }
    let shown = ledger_json(&["gov", "show", &other_backup, &id, "--cert", cert], None);
    assert_eq!(shown["state"], "accepted", "{shown}");
    assert_eq!(shown["ballots"].as_object().unwrap().len(), 2, "{shown}");

    // A proposal withdrawn by its proposer; another member's withdrawal is refused.
    let proposed = ledger_json(
        &[
            "gov",
            "propose",
            &backup,
            "--cert",
            cert,
            "--member-key",
            &member_keys[1],
            "--actions",
            "-",
        ],
        Some(
            &serde_json::json!([{"name": "remove_user", "args": {"user_id": reader_id.as_str()}}])
                .to_string(),
        ),
    );
    let id = proposed["proposal_id"].as_str().unwrap().to_owned();
    let refused = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args([
            "gov",
            "withdraw",
            &backup,
            &id,
            "--cert",
            cert,
            "--member-key",
        ])
        .arg(&member_keys[0])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("403"), "{stderr}");
    let withdrawn = ledger_json(
        &[
            "gov",
            "withdraw",
            &other_backup,
            &id,
            "--cert",
            cert,
            "--member-key",
            &member_keys[1],
        ],
        None,
    );
    assert_eq!(withdrawn["state"], "withdrawn", "{withdrawn}");
    assert_eq!(read(&backup), 200);
}
