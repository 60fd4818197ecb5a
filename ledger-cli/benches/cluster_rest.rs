#![allow(missing_docs, clippy::expect_used, clippy::unwrap_used)]

//! Entries per second and commit latency through the REST API on loopback: a 3-node cluster
//! of `ledger serve` processes (`ledger cluster init`) beside one `ledger serve` alone, in
//! the same run, with the same clients.
//!
//! * `rest_commit/1 node`: one standalone node (`ledger init`, RocksDB, its default settings).
//! * `rest_commit/3 nodes, to the primary`: every client writes to the primary.
//! * `rest_commit/3 nodes, spread`: the clients write to all three nodes; a follower
//!   forwards to the primary and answers once it has applied the write itself.
//!
//! A client does what the Azure SDK's `begin_create_ledger_entry` does: `POST
//! /app/transactions` (64-byte contents), then `GET .../status` until `Committed` (every
//! millisecond). An iteration is `BATCH` such writes split over `CLIENTS` clients, each on
//! its own keep-alive TLS connection; an entry counts once it is Committed. The commit
//! latency (POST sent to Committed seen) of every write is kept, and p50/p99 printed per
//! configuration after its measurements.
//!
//! `cargo bench -p ledger-cli --bench cluster_rest` (the `ledger` binary of the bench
//! profile).

use std::io::BufRead as _;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::Value;

const BATCH: usize = 256;
const CLIENTS: usize = 16;
const API: &str = "api-version=2022-05-13";
const CONTENTS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn ledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the ledger binary runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Node processes, killed when dropped.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A base port with `n` free consecutive ports.
fn free_ports(n: u16) -> u16 {
    let mut base = 30_000 + (std::process::id() % 1_000) as u16 * 16;
    loop {
        if (0..n).all(|i| TcpListener::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
        base = if base > 60_000 { 30_000 } else { base + 53 };
    }
}

struct Target {
    processes: Processes,
    /// The URLs the clients write to, client `k` to `urls[k % len]`.
    urls: Vec<String>,
    client: reqwest::blocking::Client,
}

fn client(service_pem: &str, identity_pem: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(service_pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(identity_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(CLIENTS)
        .build()
        .unwrap()
}

fn one_node(root: &Path, admin_crt: &Path, identity: &str) -> Target {
    let dir = root.join("single");
    run_ok(ledger().arg("init").arg(&dir));
    run_ok(
        ledger()
            .args(["users", "set"])
            .arg(&dir)
            .arg("--cert")
            .arg(admin_crt)
            .args(["--role", "Administrator"]),
    );
    let service_pem = run_ok(ledger().arg("service-cert").arg(&dir));
    let mut child = ledger()
        .arg("serve")
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started: Value = serde_json::from_str(&first).unwrap();
    Target {
        processes: Processes(vec![child]),
        urls: vec![started["url"].as_str().unwrap().to_owned()],
        client: client(&service_pem, identity),
    }
}

fn three_nodes(root: &Path, admin_crt: &Path, identity: &str, spread: bool) -> Target {
    let dir = root.join(if spread { "spread" } else { "primary" });
    let base = free_ports(6);
    run_ok(
        ledger()
            .args(["cluster", "init"])
            .arg(&dir)
            .args([
                "--nodes",
                "3",
                "--listen-base",
                &format!("127.0.0.1:{base}"),
            ])
            .arg("--admin-cert")
            .arg(admin_crt),
    );
    let service_pem = std::fs::read_to_string(dir.join("service.pem")).unwrap();
    let processes = Processes(
        (1..=3)
            .map(|i| {
                ledger()
                    .arg("serve")
                    .arg(dir.join(format!("node{i}")))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect(),
    );
    let client = client(&service_pem, identity);
    let urls: Vec<String> = (0..3)
        .map(|i| format!("https://{}", SocketAddr::from(([127, 0, 0, 1], base + i))))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let primary = loop {
        let primary = urls.iter().find(|url| {
            client
                .get(format!("{url}/node/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|s| s["role"] == "Primary")
        });
        if let Some(p) = primary {
            break p.clone();
        }
        assert!(Instant::now() < deadline, "the cluster elected no primary");
        std::thread::sleep(Duration::from_millis(50));
    };
    Target {
        processes,
        urls: if spread { urls } else { vec![primary] },
        client,
    }
}

/// One write, then status polls until Committed; its latency.
fn write(client: &reqwest::blocking::Client, url: &str) -> Duration {
    let start = Instant::now();
    let created = client
        .post(format!("{url}/app/transactions?{API}"))
        .json(&serde_json::json!({ "contents": CONTENTS }))
        .send()
        .expect("POST answered");
    assert_eq!(created.status(), 200, "{:?}", created.text());
    let tx = created.headers()["x-ms-ccf-transaction-id"]
        .to_str()
        .unwrap()
        .to_owned();
    loop {
        let state: Value = client
            .get(format!("{url}/app/transactions/{tx}/status?{API}"))
            .send()
            .expect("GET answered")
            .json()
            .expect("a status");
        if state["state"] == "Committed" {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn rest_commit(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let admin = rcgen::generate_simple_self_signed(vec!["admin".to_owned()]).unwrap();
    let admin_crt = tmp.path().join("admin.crt");
    std::fs::write(&admin_crt, admin.cert.pem()).unwrap();
    let identity = format!("{}{}", admin.cert.pem(), admin.key_pair.serialize_pem());

    let mut group = c.benchmark_group("rest_commit");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    type Make<'a> = Box<dyn Fn() -> Target + 'a>;
    let configs: [(&str, Make<'_>); 3] = [
        (
            "1 node",
            Box::new(|| one_node(tmp.path(), &admin_crt, &identity)),
        ),
        (
            "3 nodes, to the primary",
            Box::new(|| three_nodes(tmp.path(), &admin_crt, &identity, false)),
        ),
        (
            "3 nodes, spread",
            Box::new(|| three_nodes(tmp.path(), &admin_crt, &identity, true)),
        ),
    ];
    let mut report = Vec::new();
    for (name, make) in configs {
        let target = make();
        // Warm the connections and the nodes.
        for url in &target.urls {
            write(&target.client, url);
        }
        let latencies = Mutex::new(Vec::new());
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    std::thread::scope(|s| {
                        for k in 0..CLIENTS {
                            let (target, latencies) = (&target, &latencies);
                            s.spawn(move || {
                                let url = &target.urls[k % target.urls.len()];
                                let mut mine = Vec::with_capacity(BATCH / CLIENTS);
                                for _ in 0..BATCH / CLIENTS {
                                    mine.push(write(&target.client, url));
                                }
                                latencies.lock().unwrap().extend(mine);
                            });
                        }
                    });
                }
                start.elapsed()
            });
        });
        let mut latencies = latencies.into_inner().unwrap();
        latencies.sort();
        report.push(format!(
            "rest_commit/{name}: commit latency p50 {:.2} ms, p99 {:.2} ms over {} writes",
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.len()
        ));
        drop(target.processes);
    }
    group.finish();
    for line in report {
        println!("{line}");
    }
}

criterion_group!(benches, rest_commit);
criterion_main!(benches);
