#![allow(missing_docs, clippy::expect_used)]

//! Entries per second through the server on loopback against the embedded engine, in the
//! same run and on the same kind of ledger (RocksDB, fsync at every signature, 64-byte
//! entries).
//!
//! * `server_append/embedded threads=N`: N threads call `Ledger::append`.
//! * `server_append/embedded-session threads=N`: N threads do through the library what the
//!   server does per request: a user session's `submit` (a role check) of a transaction
//!   that appends the entry, puts its claims record and binds its claims digest.
//! * `server_append/https clients=N`: N HTTPS clients (each its own keep-alive TLS
//!   connection, a client certificate of an Administrator) send `POST /app/transactions`;
//!   an entry counts when its 200 arrives. The server's work per entry is larger than
//!   `append`'s: a role check, a fresh secret, the application-claims digest and a table
//!   write beside the entry.
//!
//! Each iteration writes a batch and then flushes the ledger, so every counted entry is
//! committed and durable. `cargo bench -p ledger-server --bench server_throughput`.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ledger_core::{
    application_claims_digest, ApplicationClaim, Ledger, LedgerConfig, LedgerEntryClaim,
    Transaction,
};
use ledger_server::{certificate_user_id, Server, ServerConfig};

const BATCH: usize = 2_000;
const CONTENTS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn ledger(dir: &std::path::Path) -> Arc<Ledger> {
    Arc::new(
        Ledger::open(LedgerConfig::new(dir.join("ledger")).sig_interval(Duration::from_millis(1)))
            .expect("a ledger"),
    )
}

fn embedded(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_append");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    for threads in [1usize, 4, 16] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ledger = ledger(dir.path());
        group.bench_function(
            BenchmarkId::new("embedded", format!("threads={threads}")),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for _ in 0..threads {
                                let ledger = &ledger;
                                s.spawn(move || {
                                    for _ in 0..BATCH / threads {
                                        ledger
                                            .append("bench", CONTENTS.as_bytes())
                                            .expect("append");
                                    }
                                });
                            }
                        });
                        ledger.flush().expect("flush");
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ledger = ledger(dir.path());
    ledger
        .governance()
        .set_user("bench-user", "Administrator")
        .expect("a user");
    for threads in [1usize, 4, 16] {
        group.bench_function(
            BenchmarkId::new("embedded-session", format!("threads={threads}")),
            |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        std::thread::scope(|s| {
                            for _ in 0..threads {
                                let ledger = &ledger;
                                s.spawn(move || {
                                    let session = ledger.session("bench-user").expect("a session");
                                    for _ in 0..BATCH / threads {
                                        session.submit(claims_transaction()).expect("submit");
                                    }
                                });
                            }
                        });
                        ledger.flush().expect("flush");
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    group.finish();
}

/// The transaction the server records for one entry (`src/claims.rs`, `# Format`).
fn claims_transaction() -> Transaction {
    let mut secret = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut secret);
    let claim = ApplicationClaim::LedgerEntry(LedgerEntryClaim::new("bench", CONTENTS, secret));
    let digest = application_claims_digest(&[claim]).expect("a digest");
    let record = format!(
        r#"{{"collectionId":"bench","secretKey":"{}"}}"#,
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret)
    );
    let mut tx = Transaction::new();
    tx.append("bench", CONTENTS.as_bytes())
        .put("acl.claims", b"entry", record.as_bytes())
        .claims_digest(digest);
    tx
}

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().ok();
        }
    }
}

fn https(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ledger = ledger(dir.path());
    let user = rcgen::generate_simple_self_signed(vec!["bench".to_owned()]).expect("a cert");
    ledger
        .governance()
        .set_user(&certificate_user_id(user.cert.der()), "Administrator")
        .expect("a user");
    let identity = format!("{}{}", user.cert.pem(), user.key_pair.serialize_pem());
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".parse().expect("an address");
    config.max_concurrent_requests = NonZeroUsize::new(64).expect("non-zero");
    let server = Server::bind(Arc::clone(&ledger), config).expect("the server binds");
    let service_pem = server.service_certificate_pem();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = Running {
        addr: server.local_addr(),
        stop: Some(stop),
        thread: Some(std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime
                .block_on(server.run(async {
                    stopped.await.ok();
                }))
                .expect("the server runs");
        })),
    };
    let url = format!(
        "https://127.0.0.1:{}/app/transactions?api-version=2022-05-13&collectionId=bench",
        running.addr.port()
    );
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let client = || {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(service_pem.as_bytes()).expect("the service cert"),
            )
            .identity(reqwest::Identity::from_pem(identity.as_bytes()).expect("an identity"))
            .http1_only()
            .pool_max_idle_per_host(1)
            .build()
            .expect("a client")
    };
    let body = serde_json::json!({ "contents": CONTENTS }).to_string();

    let mut group = c.benchmark_group("server_append");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    for n in [1usize, 4, 16] {
        let pool: Vec<reqwest::Client> = (0..n).map(|_| client()).collect();
        group.bench_function(BenchmarkId::new("https", format!("clients={n}")), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    clients.block_on(async {
                        let mut tasks = Vec::with_capacity(n);
                        for client in &pool {
                            let (client, url, body) = (client.clone(), url.clone(), body.clone());
                            tasks.push(tokio::spawn(async move {
                                for _ in 0..BATCH / n {
                                    let response = client
                                        .post(&url)
                                        .header("content-type", "application/json")
                                        .body(body.clone())
                                        .send()
                                        .await
                                        .expect("a response");
                                    assert_eq!(response.status(), 200);
                                    response.bytes().await.expect("a body");
                                }
                            }));
                        }
                        for task in tasks {
                            task.await.expect("a client task");
                        }
                    });
                    ledger.flush().expect("flush");
                    total += start.elapsed();
                }
                total
            });
        });
    }
    group.finish();
    drop(running);
}

criterion_group!(benches, embedded, https);
criterion_main!(benches);
