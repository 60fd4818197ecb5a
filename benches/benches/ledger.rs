//! Criterion benchmarks of the ledger engine (`ledger-core`).
//!
//! * `ledger_append/backend=.. threads=.. size=..`: appends of 64-byte and 1 KiB entries from 1
//!   and 4 threads, in memory and on RocksDB in fsync mode, in the default
//!   [`SigningMode::Dual`] (each signature transaction carries the node's signature and a
//!   COSE_Sign1 of the root under the service key). One iteration is a batch of appends
//!   followed by `flush`, so the figure is sustained, committed throughput.
//!   `backend=memory threads=1 size=64 signing=json` and `backend=rocksdb-fsync threads=4
//!   size=64 signing=json` run the same appends in [`SigningMode::Json`] (node signatures
//!   only), beside their dual-signing cases, so the cost of dual signing is their ratio.
//! * `ledger_append/floor=hashing threads=.. size=..`: the hashing floor of the same
//!   transactions on as many threads (the SHA-256 work the format requires, done bare on the
//!   entries of a ledger the engine wrote; see `ledger_benches::floors`), and
//!   `ledger_append/peer=rocksdb-raw threads=.. size=..`: raw RocksDB writing the exact keys
//!   and values of such a ledger in synced batches of one signature interval. After the group,
//!   a `ratio` line per engine case gives its share of the hashing floor (memory) or its time
//!   over the serial floor, raw RocksDB plus hashing (RocksDB).
//! * `ledger_audit/backend=rocksdb n=..`: the offline audit (`audit_path`) of a RocksDB ledger
//!   of 64-byte single appends from 4 threads; a `ratio` line compares its rate with the
//!   in-memory append rate of the same run (`backend=memory threads=4 size=64`).
//! * `ledger_commit_latency/backend=rocksdb-fsync`: a lone client's append + wait_for_commit;
//!   p50/p99 are printed beside criterion's estimate, with the cost of one fsync on the same
//!   disk measured in the same run.
//! * `ledger_receipt/generate` and `ledger_receipt/verify`: receipts for random committed
//!   transactions of a 200,000-transaction ledger, and their offline verification.
//!   `ledger_receipt/cose_generate` and `ledger_receipt/cose_verify`: the same for COSE
//!   receipts of the same ledger (`Ledger::cose_receipt`, `CoseReceipt::verify` against the
//!   service certificate PEM, as `verify` is given it); neither side's figure includes
//!   serialising or parsing the receipt.
//! * `ledger_receipt_verify/curve=..`: for a ledger with P-256 and one with P-384 keys, whose
//!   last 1,000 transactions are signed by one signature, side by side: one bare ECDSA
//!   prehash verification with the engine's backend (`ecdsa_prehash/aws-lc`, the floor),
//!   `ReceiptVerifier::verify_at` of single receipts (`json/single`; the service certificate
//!   parsed once, the node certificate's path cached) and `ReceiptVerifier::verify_batch` of
//!   the 1,000 (`json/batch=1000`, throughput per receipt); for P-256 the same for COSE
//!   receipts (`cose/single`: `ReceiptVerifier::verify_cose`, `cose/batch=1000`:
//!   `verify_cose_batch`). The ratios of the medians are printed after the group.
//!
//! Run: `cargo bench -p ledger-benches --bench ledger`.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use ledger_benches::floors;
use ledger_core::{
    Durability, KeyAlgorithm, Ledger, LedgerConfig, ReceiptVerifier, SigningMode, TxId,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The engine's default signature interval (transactions per signature), which the raw
/// RocksDB peer uses as its batch size.
const SIG_TX_INTERVAL: u64 = 5000;

/// Whether criterion runs for measurement (`cargo bench`) rather than as a smoke test
/// (`cargo test --benches`), where sizes shrink so the run stays short.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

enum Backend {
    Memory,
    RocksFsync,
}

fn open(backend: &Backend, dir: &std::path::Path) -> Ledger {
    open_signing(backend, dir, SigningMode::default())
}

fn open_signing(backend: &Backend, dir: &std::path::Path, signing: SigningMode) -> Ledger {
    let result = match backend {
        Backend::Memory => Ledger::in_memory_with(LedgerConfig::new("").signing_mode(signing)),
        Backend::RocksFsync => Ledger::open(
            LedgerConfig::new(dir.join("ledger"))
                .durability(Durability::Fsync)
                .signing_mode(signing),
        ),
    };
    match result {
        Ok(l) => l,
        Err(e) => panic!("cannot open ledger: {e}"),
    }
}

fn append_batch(ledger: &Arc<Ledger>, threads: usize, n: u64, payload: &[u8]) -> Duration {
    let start = Instant::now();
    floors::append_from_threads(ledger, threads, n, payload);
    if let Err(e) = ledger.flush() {
        panic!("flush failed: {e}");
    }
    start.elapsed()
}

/// Mean time per transaction of each case run so far, by name (criterion reports medians per
/// iteration; these are kept to print the ratios between cases of one run).
static TALLY: std::sync::Mutex<Vec<(String, Duration, u64)>> = std::sync::Mutex::new(Vec::new());

fn tally(name: &str, elapsed: Duration, transactions: u64) {
    let mut tally = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    match tally.iter_mut().find(|(n, _, _)| n == name) {
        Some((_, total, count)) => {
            *total += elapsed;
            *count += transactions;
        }
        None => tally.push((name.to_owned(), elapsed, transactions)),
    }
}

/// Nanoseconds per transaction of case `name`, if it ran.
fn per_tx(name: &str) -> Option<f64> {
    let tally = TALLY.lock().unwrap_or_else(|e| e.into_inner());
    tally
        .iter()
        .find(|(n, _, _)| n == name)
        .filter(|(_, _, count)| *count > 0)
        .map(|(_, total, count)| total.as_nanos() as f64 / *count as f64)
}

fn bench_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(if measuring() { 8 } else { 1 }));
    let batch: u64 = if measuring() { 200_000 } else { 2_000 };
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    // Ledgers generated (untimed) for the floors, by (size, threads).
    let mut generated = std::collections::HashMap::new();
    let mut generate = |size: usize, threads: usize| -> std::path::PathBuf {
        generated
            .entry((size, threads))
            .or_insert_with(|| {
                let dir = scratch.path().join(format!("gen-{size}-{threads}"));
                floors::generate(&dir, batch, size, threads)
            })
            .clone()
    };
    let mut ratios = Vec::new();
    for (backend, name) in [
        (Backend::Memory, "memory"),
        (Backend::RocksFsync, "rocksdb-fsync"),
    ] {
        for threads in [1usize, 4] {
            for size in [64usize, 1024] {
                // The default (dual) under the name these cases always had; two of them also
                // in JSON-only signing, named so.
                let mut modes = vec![(SigningMode::Dual, "")];
                if matches!(
                    (name, threads, size),
                    ("memory", 1, 64) | ("rocksdb-fsync", 4, 64)
                ) {
                    modes.push((SigningMode::Json, " signing=json"));
                }
                let case = format!("backend={name} threads={threads} size={size}");
                for (signing, suffix) in modes {
                    let payload = vec![0xabu8; size];
                    let id = format!("{case}{suffix}");
                    group.throughput(Throughput::Elements(batch));
                    // Each iteration appends `batch` transactions to a new ledger, opened and
                    // closed outside the timing, as the raw RocksDB peer writes into a new
                    // database: every iteration measures the same work, however many
                    // criterion runs (one ledger for all of them would grow by the run's
                    // length, to gigabytes in memory for the fastest cases).
                    group.bench_function(BenchmarkId::from_parameter(&id), |b| {
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| {
                                    let dir = tempfile::tempdir_in(scratch.path())
                                        .unwrap_or_else(|e| panic!("tempdir: {e}"));
                                    let ledger =
                                        Arc::new(open_signing(&backend, dir.path(), signing));
                                    let t = append_batch(&ledger, threads, batch, &payload);
                                    tally(&id, t, batch);
                                    drop(ledger);
                                    t
                                })
                                .sum()
                        })
                    });
                }
                // The hashing floor on as many threads, over the entries of a ledger the
                // engine wrote with the same sizes.
                let floor_id = format!("floor=hashing threads={threads} size={size}");
                if name == "memory" {
                    let mut floor: Option<floors::HashingFloor> = None;
                    group.bench_function(BenchmarkId::from_parameter(&floor_id), |b| {
                        let floor = floor.get_or_insert_with(|| {
                            floors::HashingFloor::from_store(&generate(size, 1))
                        });
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| {
                                    let t = floor.run(threads);
                                    tally(&floor_id, t, floor.len() as u64);
                                    t
                                })
                                .sum()
                        })
                    });
                    ratios.push((case.clone(), floor_id, None));
                } else {
                    // Raw RocksDB writing the engine's keys and values with the same syncs.
                    let peer_id = format!("peer=rocksdb-raw threads={threads} size={size}");
                    let mut peer: Option<floors::RawRocksPeer> = None;
                    group.bench_function(BenchmarkId::from_parameter(&peer_id), |b| {
                        let peer = peer.get_or_insert_with(|| {
                            floors::RawRocksPeer::from_store(
                                &generate(size, threads),
                                SIG_TX_INTERVAL,
                            )
                        });
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| {
                                    let t = peer.run(scratch.path());
                                    tally(&peer_id, t, peer.transactions);
                                    t
                                })
                                .sum()
                        })
                    });
                    ratios.push((case.clone(), floor_id, Some(peer_id)));
                }
            }
        }
    }
    group.finish();
    for (case, floor, peer) in ratios {
        let (Some(engine), Some(floor_ns)) = (per_tx(&case), per_tx(&floor)) else {
            continue;
        };
        match peer.and_then(|p| per_tx(&p)) {
            None => eprintln!(
                "ratio {case}: {engine:.0} ns/tx; hashing floor {floor_ns:.0} ns/tx; \
                 the engine reaches {:.0}% of the floor",
                100.0 * floor_ns / engine
            ),
            Some(raw) => eprintln!(
                "ratio {case}: {engine:.0} ns/tx; serial floor {:.0} ns/tx (raw RocksDB \
                 {raw:.0} + hashing {floor_ns:.0}); engine / serial floor = {:.2}",
                raw + floor_ns,
                engine / (raw + floor_ns)
            ),
        }
    }
}

fn bench_commit_latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let ledger = open(&Backend::RocksFsync, dir.path());
    let mut samples = Vec::new();
    let mut group = c.benchmark_group("ledger_commit_latency");
    group.sample_size(if measuring() { 50 } else { 10 });
    group.bench_function("backend=rocksdb-fsync", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                let id = ledger
                    .append("latency", &[1u8; 64])
                    .unwrap_or_else(|e| panic!("append: {e}"));
                let status = ledger
                    .wait_for_commit(id, Duration::from_secs(10))
                    .unwrap_or_else(|e| panic!("wait: {e}"));
                assert_eq!(status, ledger_core::TxStatus::Committed);
                let took = start.elapsed();
                samples.push(took);
                total += took;
            }
            total
        })
    });
    group.finish();
    samples.sort();
    if !samples.is_empty() {
        println!(
            "ledger_commit_latency: {} samples, p50 {:?}, p99 {:?}; one 4 KiB write+fsync on this disk: p50 {:?}; sig_interval 1 ms",
            samples.len(),
            ledger_benches::percentile(&samples, 0.50),
            ledger_benches::percentile(&samples, 0.99),
            ledger_benches::fsync_cost(dir.path()),
        );
    }
}

fn bench_receipts(c: &mut Criterion) {
    let n: u64 = if measuring() { 200_000 } else { 2_000 };
    let ledger = open(&Backend::Memory, std::path::Path::new(""));
    let mut ids: Vec<TxId> = Vec::with_capacity(n as usize);
    for i in 0..n {
        ids.push(
            ledger
                .append("r", &i.to_be_bytes())
                .unwrap_or_else(|e| panic!("append: {e}")),
        );
    }
    ledger.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    let cert = ledger.service_certificate_pem();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut group = c.benchmark_group("ledger_receipt");
    group.throughput(Throughput::Elements(1));
    group.bench_function(format!("generate/backend=memory n={n}"), |b| {
        b.iter(|| {
            let id = ids[rng.gen_range(0..ids.len())];
            ledger
                .receipt(id)
                .unwrap_or_else(|e| panic!("receipt: {e}"))
        })
    });
    let receipts: Vec<_> = (0..64)
        .map(|i| {
            ledger
                .receipt(ids[i * ids.len() / 64])
                .unwrap_or_else(|e| panic!("receipt: {e}"))
        })
        .collect();
    let mut i = 0;
    group.bench_function("verify", |b| {
        b.iter(|| {
            i = (i + 1) % receipts.len();
            receipts[i]
                .verify(&cert)
                .unwrap_or_else(|e| panic!("verify: {e}"))
        })
    });
    group.bench_function(format!("cose_generate/backend=memory n={n}"), |b| {
        b.iter(|| {
            let id = ids[rng.gen_range(0..ids.len())];
            ledger
                .cose_receipt(id)
                .unwrap_or_else(|e| panic!("COSE receipt: {e}"))
        })
    });
    let cose_receipts: Vec<_> = (0..64)
        .map(|i| {
            ledger
                .cose_receipt(ids[i * ids.len() / 64])
                .unwrap_or_else(|e| panic!("COSE receipt: {e}"))
        })
        .collect();
    let mut i = 0;
    group.bench_function("cose_verify", |b| {
        b.iter(|| {
            i = (i + 1) % cose_receipts.len();
            cose_receipts[i]
                .verify(&cert)
                .unwrap_or_else(|e| panic!("COSE verify: {e}"))
        })
    });
    group.finish();
}

/// Per-iteration times of the samples of one benchmark (criterion's warm-up included), to
/// print ratios of medians after a group.
#[derive(Default)]
struct Samples(Vec<f64>);

impl Samples {
    /// Runs `f` `iters` times, records the mean time per call and returns the total.
    fn record(&mut self, iters: u64, mut f: impl FnMut()) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            f();
        }
        let took = start.elapsed();
        self.0.push(took.as_secs_f64() / iters.max(1) as f64);
        took
    }

    fn median(&self) -> f64 {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

/// An in-memory ledger with `n` transactions appended after its opening ones, all signed by
/// one signature (the signature intervals set far above their number and duration), and
/// their ids.
fn one_root_ledger(algorithm: KeyAlgorithm, n: u32) -> (Ledger, Vec<TxId>) {
    // COSE roots are ES256: a P-384 ledger signs in JSON mode.
    let mode = match algorithm {
        KeyAlgorithm::EcdsaP384 => SigningMode::Json,
        _ => SigningMode::Dual,
    };
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .key_algorithm(algorithm)
            .signing_mode(mode)
            .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap_or(NonZeroU64::MIN))
            .sig_interval(Duration::from_secs(3600)),
    )
    .unwrap_or_else(|e| panic!("in-memory ledger: {e}"));
    ledger.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    let ids = (0..n)
        .map(|i| {
            ledger
                .append("r", &i.to_be_bytes())
                .unwrap_or_else(|e| panic!("append: {e}"))
        })
        .collect();
    ledger.flush().unwrap_or_else(|e| panic!("flush: {e}"));
    (ledger, ids)
}

/// One bare ECDSA prehash verification with the engine's backend (aws-lc-rs, key parsed
/// once), over a 32-byte root: the floor of a receipt's verification.
fn bare_prehash_verifier(algorithm: KeyAlgorithm) -> impl FnMut() {
    use aws_lc_rs::digest::{Digest as LcDigest, SHA256, SHA384};
    use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1};
    use p256::ecdsa::signature::hazmat::PrehashSigner as _;
    use p256::pkcs8::EncodePublicKey as _;
    let mut rng = ChaCha8Rng::seed_from_u64(0xec_d5a);
    let root = [0x42u8; 32];
    let (key, signature, digest) = match algorithm {
        KeyAlgorithm::EcdsaP384 => {
            let key = p384::ecdsa::SigningKey::random(&mut rng);
            let signature: p384::ecdsa::DerSignature = key
                .sign_prehash(&root)
                .unwrap_or_else(|e| panic!("sign: {e}"));
            let spki = key
                .verifying_key()
                .to_public_key_der()
                .unwrap_or_else(|e| panic!("SPKI: {e}"));
            let mut padded = [0u8; 48];
            padded[16..].copy_from_slice(&root);
            (
                ParsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, spki.as_bytes()),
                signature.as_bytes().to_vec(),
                LcDigest::import_less_safe(&padded, &SHA384),
            )
        }
        _ => {
            let key = p256::ecdsa::SigningKey::random(&mut rng);
            let signature: p256::ecdsa::DerSignature = key
                .sign_prehash(&root)
                .unwrap_or_else(|e| panic!("sign: {e}"));
            let spki = key
                .verifying_key()
                .to_public_key_der()
                .unwrap_or_else(|e| panic!("SPKI: {e}"));
            (
                ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, spki.as_bytes()),
                signature.as_bytes().to_vec(),
                LcDigest::import_less_safe(&root, &SHA256),
            )
        }
    };
    let key = key.unwrap_or_else(|e| panic!("aws-lc key: {e}"));
    let digest = digest.unwrap_or_else(|e| panic!("digest: {e}"));
    move || {
        key.verify_digest_sig(std::hint::black_box(&digest), &signature)
            .unwrap_or_else(|e| panic!("bare verify: {e}"))
    }
}

fn bench_receipt_curves(c: &mut Criterion) {
    // 1,000 receipts under one signed root (100 in smoke mode).
    let n: u32 = if measuring() { 1_000 } else { 100 };
    let mut group = c.benchmark_group("ledger_receipt_verify");
    let mut ratios = Vec::new();
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
        let curve = algorithm.curve_name();
        let (ledger, ids) = one_root_ledger(algorithm, n);
        let receipts: Vec<_> = ids
            .iter()
            .map(|&id| {
                ledger
                    .receipt(id)
                    .unwrap_or_else(|e| panic!("receipt {id}: {e}"))
            })
            .collect();
        assert!(
            receipts
                .iter()
                .all(|r| r.signature == receipts[0].signature),
            "the receipts are not all under one signed root"
        );
        let verifier = ReceiptVerifier::new(ledger.service_certificate_pem())
            .unwrap_or_else(|e| panic!("verifier: {e}"));
        let at = std::time::SystemTime::now();

        let mut bare = Samples::default();
        let mut verify_bare = bare_prehash_verifier(algorithm);
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("curve={curve} ecdsa_prehash/aws-lc"), |b| {
            b.iter_custom(|iters| bare.record(iters, &mut verify_bare))
        });
        let mut single = Samples::default();
        let mut i = 0;
        group.bench_function(format!("curve={curve} json/single"), |b| {
            b.iter_custom(|iters| {
                single.record(iters, || {
                    i = (i + 1) % receipts.len();
                    verifier
                        .verify_at(&receipts[i], at)
                        .unwrap_or_else(|e| panic!("verify: {e}"))
                })
            })
        });
        let mut batch = Samples::default();
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_function(format!("curve={curve} json/batch={n}"), |b| {
            b.iter_custom(|iters| {
                batch.record(iters, || {
                    let results = verifier.verify_batch(&receipts, at);
                    assert!(results.iter().all(Result::is_ok), "batch failed");
                })
            })
        });
        ratios.push(format!(
            "curve={curve} json: bare ECDSA prehash {:.1} µs, single receipt {:.1} µs ({:.2}x the \
             bare verification), batch of {n} {:.2} µs per receipt ({:.1}x the single-receipt rate)",
            bare.median() * 1e6,
            single.median() * 1e6,
            single.median() / bare.median(),
            batch.median() / f64::from(n) * 1e6,
            single.median() / (batch.median() / f64::from(n)),
        ));
        if algorithm == KeyAlgorithm::EcdsaP384 {
            continue;
        }
        let cose: Vec<_> = ids
            .iter()
            .map(|&id| {
                ledger
                    .cose_receipt(id)
                    .unwrap_or_else(|e| panic!("COSE receipt {id}: {e}"))
            })
            .collect();
        assert!(
            cose.iter().all(|r| r.signature() == cose[0].signature()),
            "the COSE receipts are not all under one signed root"
        );
        let mut cose_single = Samples::default();
        let mut i = 0;
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("curve={curve} cose/single"), |b| {
            b.iter_custom(|iters| {
                cose_single.record(iters, || {
                    i = (i + 1) % cose.len();
                    verifier
                        .verify_cose(&cose[i])
                        .map(drop)
                        .unwrap_or_else(|e| panic!("COSE verify: {e}"))
                })
            })
        });
        let mut cose_batch = Samples::default();
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_function(format!("curve={curve} cose/batch={n}"), |b| {
            b.iter_custom(|iters| {
                cose_batch.record(iters, || {
                    let results = verifier.verify_cose_batch(&cose);
                    assert!(results.iter().all(Result::is_ok), "COSE batch failed");
                })
            })
        });
        ratios.push(format!(
            "curve={curve} cose: single receipt {:.1} µs ({:.2}x the bare verification), batch \
             of {n} {:.2} µs per receipt ({:.1}x the single-receipt rate)",
            cose_single.median() * 1e6,
            cose_single.median() / bare.median(),
            cose_batch.median() / f64::from(n) * 1e6,
            cose_single.median() / (cose_batch.median() / f64::from(n)),
        ));
    }
    group.finish();
    // A case filtered out leaves its medians NaN: its line says nothing.
    for line in ratios.iter().filter(|line| !line.contains("NaN")) {
        eprintln!("ledger_receipt_verify (medians of criterion's samples): {line}");
    }
}

/// The offline audit of a RocksDB ledger written as `ledger_append` writes it (64-byte entries,
/// 4 threads), beside the in-memory append rate of the same run.
fn bench_audit(c: &mut Criterion) {
    let n: u64 = if measuring() { 1_000_000 } else { 2_000 };
    let scratch = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut path = None;
    let mut group = c.benchmark_group("ledger_audit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(if measuring() { 20 } else { 1 }));
    group.throughput(Throughput::Elements(n));
    let id = format!("backend=rocksdb n={n}");
    group.bench_function(BenchmarkId::from_parameter(&id), |b| {
        let path = path.get_or_insert_with(|| floors::generate(scratch.path(), n, 64, 4));
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let start = Instant::now();
                    let report =
                        ledger_core::audit_path(&*path, &ledger_core::AuditOptions::default())
                            .unwrap_or_else(|e| panic!("audit: {e}"));
                    assert!(report.is_clean(), "{:?}", report.finding);
                    let t = start.elapsed();
                    tally(&id, t, report.entries);
                    t
                })
                .sum()
        })
    });
    group.finish();
    let append = "backend=memory threads=4 size=64";
    if let (Some(audit), Some(append_ns)) = (per_tx(&id), per_tx(append)) {
        eprintln!(
            "ratio audit: {audit:.0} ns/entry; in-memory append ({append}) {append_ns:.0} ns/tx; \
             the audit runs at {:.0}% of the append rate",
            100.0 * append_ns / audit
        );
    }
}

#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::bench_append,
        super::bench_audit,
        super::bench_commit_latency,
        super::bench_receipts,
        super::bench_receipt_curves
    );
}
use group::benches;
criterion_main!(benches);
