//! Integration tests of the `Ledger` API: writes, reads, status, commit, receipts, reopen,

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! crash recovery with a view change, concurrency and input validation.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::{Error, Ledger, LedgerConfig, Transaction, TxId, TxStatus};

const WAIT: Duration = Duration::from_secs(30);

fn open(dir: &std::path::Path) -> Ledger {
    Ledger::open(LedgerConfig::new(dir.join("ledger"))).unwrap()
}

#[test]
fn append_read_and_commit_in_memory() {
    let ledger = Ledger::in_memory().unwrap();
    let a = ledger.append("audit", b"one").unwrap();
    let b = ledger.append("audit", b"two").unwrap();
    let c = ledger.append("other", b"three").unwrap();
    assert!(a < b && b < c);
    assert_eq!(b.seqno(), a.seqno() + 1);
    assert_eq!(ledger.entry("audit", a).unwrap().contents, b"one");
    assert_eq!(ledger.latest("audit").unwrap().unwrap().tx_id, b);
    assert_eq!(ledger.latest("other").unwrap().unwrap().contents, b"three");
    assert!(ledger.latest("nobody").unwrap().is_none());
    assert!(matches!(
        ledger.entry("other", a),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(
        ledger.wait_for_commit(c, WAIT).unwrap(),
        TxStatus::Committed
    );
    assert_eq!(ledger.status(a), TxStatus::Committed);
    let receipt = ledger.receipt(a).unwrap();
    receipt.verify(&ledger.service_certificate_pem()).unwrap();
}

#[test]
fn statuses_of_unknown_and_future_ids() {
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .sig_interval(Duration::from_secs(3600))
            .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap()),
    )
    .unwrap();
    let a = ledger.append("c", b"x").unwrap();
    assert_eq!(ledger.status(a), TxStatus::Pending);
    assert!(matches!(
        ledger.receipt(a),
        Err(Error::NotCommitted {
            status: TxStatus::Pending,
            ..
        })
    ));
    let future = TxId::new(1, a.seqno() + 100).unwrap();
    assert_eq!(ledger.status(future), TxStatus::Unknown);
    let other_view = TxId::new(2, a.seqno()).unwrap();
    assert_eq!(ledger.status(other_view), TxStatus::Unknown);
    // A timeout leaves it pending only if nothing signs; wait_for_commit asks for a signature.
    assert_eq!(
        ledger.wait_for_commit(a, WAIT).unwrap(),
        TxStatus::Committed
    );
    assert_eq!(
        ledger
            .wait_for_commit(future, Duration::from_millis(1))
            .unwrap(),
        TxStatus::Unknown
    );
}

#[test]
fn transactions_and_tables() {
    let ledger = Ledger::in_memory().unwrap();
    let mut tx = Transaction::new();
    tx.append("a", b"in a")
        .append("b", b"in b")
        .put("t", b"k", b"v1")
        .claims_digest([9; 32]);
    let first = ledger.submit(tx).unwrap();
    let mut tx = Transaction::new();
    tx.put("t", b"k", b"v2").put("t", b"other", b"x");
    let second = ledger.submit(tx).unwrap();
    let mut tx = Transaction::new();
    tx.remove("t", b"k");
    let third = ledger.submit(tx).unwrap();

    assert_eq!(ledger.entry("a", first).unwrap().contents, b"in a");
    assert_eq!(ledger.entry("b", first).unwrap().contents, b"in b");
    assert_eq!(ledger.table_get("t", b"k").unwrap(), None);
    assert_eq!(
        ledger.table_get("t", b"other").unwrap().as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!(
        ledger.table_get_at("t", b"k", first).unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        ledger.table_get_at("t", b"k", second).unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(ledger.table_get_at("t", b"k", third).unwrap(), None);
    let versions: Vec<_> = ledger
        .table_history("t", b"k")
        .map(|v| v.map(|v| (v.tx_id, v.value)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        vec![
            (first, Some(b"v1".to_vec())),
            (second, Some(b"v2".to_vec())),
            (third, None)
        ]
    );
    ledger.flush().unwrap();
    // The claims digest is bound into the receipt's leaf.
    let receipt = ledger.receipt(first).unwrap();
    assert!(receipt.to_json().contains(&hex::encode([9u8; 32])));
    receipt.verify(&ledger.service_certificate_pem()).unwrap();
}

#[test]
fn invalid_input_is_rejected_with_the_rule() {
    let ledger = Ledger::in_memory_with(LedgerConfig::new("").max_entry_size(1024)).unwrap();
    let long = "x".repeat(256);
    for (collection, contents) in [
        ("", &b"x"[..]),
        (long.as_str(), &b"x"[..]),
        ("gov.members", &b"x"[..]),
        ("internal.nodes", &b"x"[..]),
        ("bad\nname", &b"x"[..]),
        ("ok", &[0u8; 1025][..]),
    ] {
        let err = ledger.append(collection, contents).unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{collection:?}: {err}"
        );
    }
    let err = ledger.append("ok", &[0u8; 1025]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                what: "entry contents",
                problem: ledger_core::Problem::TooLarge {
                    size: 1025,
                    limit: 1024
                }
            }
        ),
        "{err}"
    );
    let mut tx = Transaction::new();
    tx.put("gov.constitution", b"k", b"v");
    assert!(matches!(ledger.submit(tx), Err(Error::InvalidInput { .. })));
    let mut tx = Transaction::new();
    tx.append("a", b"1").append("a", b"2");
    assert!(matches!(ledger.submit(tx), Err(Error::InvalidInput { .. })));
    assert!(matches!(
        ledger.submit(Transaction::new()),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        ledger.entry("", TxId::new(1, 1).unwrap()),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        ledger.entry("a", TxId::new(1, 999).unwrap()),
        Err(Error::NotFound { .. })
    ));
    assert!(Ledger::in_memory_with(LedgerConfig::new("").max_entry_size(0)).is_err());
    assert!(Ledger::in_memory_with(LedgerConfig::new("").max_entry_size(64 << 20)).is_err());
    // Nothing was recorded by the rejected calls.
    let ok = ledger.append("ok", b"fine").unwrap();
    assert_eq!(ledger.latest("ok").unwrap().unwrap().tx_id, ok);
}

#[test]
fn paging_and_iteration() {
    let ledger = Ledger::in_memory().unwrap();
    let mut ids = Vec::new();
    for i in 0..250u32 {
        ids.push(ledger.append("c", &i.to_be_bytes()).unwrap());
        if i % 3 == 0 {
            ledger.append("noise", b"n").unwrap();
        }
    }
    let mut cursor = None;
    let mut seen = Vec::new();
    loop {
        let page = ledger.entries_page("c", .., cursor.as_ref(), 32).unwrap();
        assert!(page.entries.len() <= 32);
        seen.extend(page.entries.iter().map(|e| e.tx_id));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let ranged: Vec<_> = ledger
        .entries("c", ids[10]..ids[20])
        .map(|e| e.unwrap().tx_id)
        .collect();
    assert_eq!(ranged, ids[10..20].to_vec());
    let all: Vec<_> = ledger
        .entries("c", ..)
        .map(|e| e.unwrap().contents)
        .collect();
    assert_eq!(all.len(), 250);
    assert_eq!(all[249], 249u32.to_be_bytes());
    let bad = ledger_core::Cursor::from_string("zz");
    assert!(matches!(
        ledger.entries_page("c", .., Some(&bad), 5),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        ledger.entries_page("c", .., None, 0),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn concurrent_appenders_lose_and_duplicate_nothing() {
    let ledger = Arc::new(Ledger::in_memory().unwrap());
    let threads = 8;
    let per = 2_000;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        let contents = format!("{t}:{i}");
                        (
                            ledger
                                .append(&format!("c{}", t % 3), contents.as_bytes())
                                .unwrap(),
                            contents,
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = BTreeMap::new();
    for (t, h) in handles.into_iter().enumerate() {
        for (id, contents) in h.join().unwrap() {
            assert!(
                all.insert(id.seqno(), (t, id, contents)).is_none(),
                "duplicate seqno"
            );
        }
    }
    assert_eq!(all.len(), threads * per);
    ledger.flush().unwrap();
    for (t, id, contents) in all.values() {
        assert_eq!(ledger.status(*id), TxStatus::Committed);
        assert_eq!(
            ledger.entry(&format!("c{}", t % 3), *id).unwrap().contents,
            contents.as_bytes()
        );
    }
    // Every seqno up to the last user transaction is accounted for: user transactions, or
    // the genesis and signature transactions, each committed with a verifying receipt.
    let first = 1;
    let last = *all.keys().last().unwrap();
    let users: HashSet<u64> = all.keys().copied().collect();
    let mut signatures = 0;
    for s in first..=last {
        if !users.contains(&s) {
            signatures += 1;
            let id = TxId::new(1, s).unwrap();
            assert_eq!(ledger.status(id), TxStatus::Committed);
            ledger
                .receipt(id)
                .unwrap()
                .verify(&ledger.service_certificate_pem())
                .unwrap();
        }
    }
    assert!(signatures >= 1);
}

/// Appenders finish preparing out of seqno order and wait for room often (a sequencing
/// window of 8), signatures fall every 7 transactions, and some appenders wait for commits
/// as they go: every seqno is still taken once, in order, and committed.
#[test]
fn appenders_finishing_out_of_order_under_back_pressure() {
    let ledger = Arc::new(
        Ledger::in_memory_with(
            LedgerConfig::new("")
                .max_pending(8)
                .sig_tx_interval(NonZeroU64::new(7).unwrap()),
        )
        .unwrap(),
    );
    let threads = 6;
    let per = 600;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || {
                (0..per)
                    .map(|i| {
                        // Contents of different sizes, so that preparing takes different
                        // times and appenders overtake each other.
                        let contents = vec![t as u8; 1 + (i * 977 + t * 131) % 20_000];
                        let id = if i % 3 == 0 {
                            let mut tx = Transaction::new();
                            tx.append(&format!("c{t}"), &contents).put(
                                "last",
                                &[t as u8],
                                &i.to_be_bytes(),
                            );
                            ledger.submit(tx).unwrap()
                        } else {
                            ledger.append(&format!("c{t}"), &contents).unwrap()
                        };
                        if t % 2 == 0 && i % 100 == 99 {
                            assert_eq!(
                                ledger.wait_for_commit(id, Duration::from_secs(10)).unwrap(),
                                TxStatus::Committed
                            );
                        }
                        (id, contents)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = BTreeMap::new();
    for (t, h) in handles.into_iter().enumerate() {
        for (id, contents) in h.join().unwrap() {
            assert!(all.insert(id.seqno(), (t, id, contents)).is_none());
        }
    }
    ledger.flush().unwrap();
    for (t, id, contents) in all.values() {
        assert_eq!(ledger.status(*id), TxStatus::Committed);
        assert_eq!(
            &ledger.entry(&format!("c{t}"), *id).unwrap().contents,
            contents
        );
    }
    let last = *all.keys().last().unwrap();
    let mut signatures = 0;
    for s in 1..=last {
        if !all.contains_key(&s) {
            signatures += 1;
            let id = TxId::new(1, s).unwrap();
            assert_eq!(ledger.status(id), TxStatus::Committed, "{id}");
            ledger
                .receipt(id)
                .unwrap()
                .verify(&ledger.service_certificate_pem())
                .unwrap();
        }
    }
    // About one signature per 7 transactions, and none lost or doubled.
    assert!(signatures * 8 >= all.len(), "{signatures} signatures");
    for t in 0..threads {
        let last_put = (0..per).rev().find(|i| i % 3 == 0).unwrap();
        assert_eq!(
            ledger.table_get("last", &[t as u8]).unwrap(),
            Some(last_put.to_be_bytes().to_vec())
        );
    }
}

#[test]
fn receipts_survive_reopen_and_data_persists() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, cert) = {
        let ledger = open(dir.path());
        let ids: Vec<_> = (0..500u32)
            .map(|i| {
                ledger
                    .append(if i % 2 == 0 { "even" } else { "odd" }, &i.to_be_bytes())
                    .unwrap()
            })
            .collect();
        ledger.flush().unwrap();
        let before = ledger.receipt(ids[7]).unwrap().to_json();
        let cert = ledger.service_certificate_pem();
        ledger.close().unwrap();
        (
            ids.into_iter()
                .map(|id| (id, before.clone()))
                .collect::<Vec<_>>(),
            cert,
        )
    };
    let ledger = open(dir.path());
    assert_eq!(ledger.service_certificate_pem(), cert, "identity persists");
    for (i, (id, _)) in ids.iter().enumerate() {
        assert_eq!(ledger.status(*id), TxStatus::Committed);
        let collection = if i % 2 == 0 { "even" } else { "odd" };
        assert_eq!(
            ledger.entry(collection, *id).unwrap().contents,
            (i as u32).to_be_bytes()
        );
        ledger.receipt(*id).unwrap().verify(&cert).unwrap();
    }
    assert_eq!(
        ledger.receipt(ids[7].0).unwrap().to_json(),
        ids[7].1,
        "same receipt after reopen"
    );
    // New writes continue the sequence in the same view.
    let next = ledger.append("even", b"after").unwrap();
    assert_eq!(next.view(), 1);
    assert!(next.seqno() > ids.last().unwrap().0.seqno());
    assert_eq!(
        ledger.wait_for_commit(next, WAIT).unwrap(),
        TxStatus::Committed
    );
}

#[test]
fn consistency_between_signatures() {
    let ledger = Ledger::in_memory().unwrap();
    let mut sigs = Vec::new();
    for round in 0..4u32 {
        for i in 0..50u32 {
            ledger
                .append("c", &(round * 100 + i).to_be_bytes())
                .unwrap();
        }
        ledger.flush().unwrap();
        // The newest signature is the last transaction recorded.
        let (_, next) = (0, ledger.append("marker", b"m").unwrap());
        let sig = TxId::new(1, next.seqno() - 1).unwrap();
        sigs.push(sig);
    }
    ledger.flush().unwrap();
    for a in 0..sigs.len() {
        for b in a..sigs.len() {
            let proof = ledger.consistency_proof(sigs[a], sigs[b]).unwrap();
            proof.verify().unwrap();
            let mut bad = proof.clone();
            bad.from_root[0] ^= 1;
            assert!(bad.verify().is_err());
        }
    }
    assert!(ledger.consistency_proof(sigs[2], sigs[1]).is_err());
    let not_sig = TxId::new(1, sigs[0].seqno() + 1).unwrap();
    assert!(ledger.consistency_proof(sigs[0], not_sig).is_err());
}

#[test]
fn commit_future_resolves_without_a_runtime() {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let ledger = Ledger::in_memory().unwrap();
    let id = ledger.append("c", b"x").unwrap();
    let flag = Arc::new(Flag(false.into()));
    let waker = Waker::from(Arc::clone(&flag));
    let mut cx = Context::from_waker(&waker);
    let mut fut = Box::pin(ledger.commit_future(id));
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(status) => {
                assert_eq!(status.unwrap(), TxStatus::Committed);
                break;
            }
            Poll::Pending => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "future never resolved"
                );
                while !flag.0.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                    assert!(std::time::Instant::now() < deadline, "never woken");
                }
            }
        }
    }
}

/// Child role for the crash test: appends with signing effectively disabled, makes sure the
/// entries reached the store (buffered), prints the ids and aborts without closing.
fn crash_child(dir: &str) {
    let ledger = Ledger::open(
        LedgerConfig::new(dir)
            .sig_interval(Duration::from_secs(3600))
            .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap()),
    )
    .unwrap();
    let committed = ledger.append("c", b"committed").unwrap();
    ledger.flush().unwrap();
    println!("COMMITTED {committed}");
    let mut pending = Vec::new();
    for i in 0..20u32 {
        pending.push(ledger.append("c", &i.to_be_bytes()).unwrap());
    }
    // `latest` waits until everything recorded is in the store (written, not yet signed).
    assert_eq!(
        ledger.latest("c").unwrap().unwrap().tx_id,
        *pending.last().unwrap()
    );
    for id in &pending {
        println!("PENDING {id}");
    }
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::process::abort();
}

#[test]
fn crash_discards_the_uncommitted_tail_and_starts_a_new_view() {
    if let Ok(dir) = std::env::var("LEDGER_CRASH_CHILD") {
        crash_child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_discards_the_uncommitted_tail_and_starts_a_new_view",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LEDGER_CRASH_CHILD", &path)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child must die by abort");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let committed: TxId = stdout
        .lines()
        .find_map(|l| l.split("COMMITTED ").nth(1))
        .unwrap_or_else(|| {
            panic!(
                "child did not report; stdout {stdout}; stderr {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .parse()
        .unwrap();
    let pending: Vec<TxId> = stdout
        .lines()
        .filter_map(|l| l.split("PENDING ").nth(1))
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(pending.len(), 20, "child output: {stdout}");

    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    assert_eq!(ledger.status(committed), TxStatus::Committed);
    assert_eq!(ledger.entry("c", committed).unwrap().contents, b"committed");
    for id in &pending {
        assert_eq!(ledger.status(*id), TxStatus::Invalid, "{id}");
        assert!(ledger.entry("c", *id).is_err());
        assert!(matches!(
            ledger.receipt(*id),
            Err(Error::NotCommitted {
                status: TxStatus::Invalid,
                ..
            })
        ));
    }
    let next = ledger.append("c", b"new view").unwrap();
    assert_eq!(next.view(), 2);
    assert_eq!(
        ledger.wait_for_commit(next, WAIT).unwrap(),
        TxStatus::Committed
    );
    ledger
        .receipt(next)
        .unwrap()
        .verify(&ledger.service_certificate_pem())
        .unwrap();
    ledger
        .receipt(committed)
        .unwrap()
        .verify(&ledger.service_certificate_pem())
        .unwrap();
    // The new view began with a signature at the first discarded seqno.
    let first_new = TxId::new(2, pending[0].seqno()).unwrap();
    assert_eq!(ledger.status(first_new), TxStatus::Committed);
    assert_eq!(ledger.latest("c").unwrap().unwrap().tx_id, next);
}

/// A signer standing in for an HSM: the key lives behind the trait, and it counts its use.
#[derive(Debug)]
struct CountingSigner {
    inner: ledger_core::NodeIdentity,
    calls: std::sync::atomic::AtomicUsize,
}

impl ledger_core::NodeSigner for CountingSigner {
    fn sign_root(&self, root: &[u8; 32]) -> Result<Vec<u8>, Error> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.sign_root(root)
    }
    fn certificate_pem(&self) -> &str {
        self.inner.certificate_pem()
    }
    fn node_id(&self) -> &str {
        self.inner.node_id()
    }
}

#[test]
fn external_signer_signs_roots_and_is_recorded() {
    use ledger_core::{NodeIdentity, NodeSigner, ServiceIdentity};
    let service = ServiceIdentity::generate("hsm service").unwrap();
    let hsm = Arc::new(CountingSigner {
        inner: NodeIdentity::generate(&service, "hsm node").unwrap(),
        calls: 0.into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let config = LedgerConfig::new(dir.path().join("l"))
        .service_identity(service.clone())
        .node_signer(hsm.clone());
    let ledger = Ledger::open(config).unwrap();
    assert_eq!(ledger.node_id(), hsm.node_id());
    assert_eq!(ledger.service_certificate_pem(), service.certificate_pem());
    let id = ledger.append("c", b"x").unwrap();
    ledger.flush().unwrap();
    let receipt = ledger.receipt(id).unwrap();
    receipt.verify(service.certificate_pem()).unwrap();
    assert!(receipt.to_json().contains(hsm.node_id()));
    assert!(hsm.calls.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    assert_eq!(
        ledger
            .table_get("internal.nodes", hsm.node_id().as_bytes())
            .unwrap()
            .as_deref(),
        Some(hsm.certificate_pem().as_bytes())
    );
    ledger.close().unwrap();

    // A signer whose certificate another service issued is refused, and nothing changes.
    let stranger = ServiceIdentity::generate("other").unwrap();
    let foreign = Arc::new(NodeIdentity::generate(&stranger, "foreign").unwrap());
    let err =
        Ledger::open(LedgerConfig::new(dir.path().join("l")).node_signer(foreign)).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    // The ledger was created with its node key outside: no node key was stored, so it
    // reopens only with the signer.
    let err = Ledger::open(LedgerConfig::new(dir.path().join("l"))).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidInput {
                what: "node_signer",
                ..
            }
        ),
        "{err}"
    );
    let reopened = Ledger::open(LedgerConfig::new(dir.path().join("l")).node_signer(hsm)).unwrap();
    reopened
        .receipt(id)
        .unwrap()
        .verify(service.certificate_pem())
        .unwrap();
}

#[test]
fn genesis_and_signature_transactions_have_receipts() {
    let ledger = Ledger::in_memory().unwrap();
    ledger.append("c", b"x").unwrap();
    ledger.flush().unwrap();
    let genesis = TxId::new(1, 1).unwrap();
    let first_sig = TxId::new(1, 2).unwrap();
    let cert = ledger.service_certificate_pem();
    for id in [genesis, first_sig] {
        assert_eq!(ledger.status(id), TxStatus::Committed);
        ledger.receipt(id).unwrap().verify(&cert).unwrap();
    }
    assert_eq!(
        ledger
            .table_get("internal.service", b"cert")
            .unwrap()
            .as_deref(),
        Some(cert.as_bytes())
    );
}

/// A ledger that signs only when asked (by count or time it never would in a test).
fn quiet_ledger() -> Ledger {
    Ledger::in_memory_with(
        LedgerConfig::new("")
            .sig_interval(Duration::from_secs(3600))
            .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap_or(NonZeroU64::MIN)),
    )
    .unwrap()
}

/// The seqno the next transaction would get, read without writing anything.
fn next_seqno(ledger: &Ledger, view: u64) -> u64 {
    (1..)
        .map(|s| TxId::new(view, s).unwrap())
        .find(|id| ledger.status(*id) == TxStatus::Unknown)
        .map_or(0, TxId::seqno)
}

/// Waiting on a signature transaction (always Pending until a later signature covers it),
/// or on anything already covered, never makes the ledger sign: a caller allowed only to
/// read statuses cannot grow the ledger.
#[test]
fn waiting_on_a_signature_transaction_writes_nothing() {
    let ledger = quiet_ledger();
    let id = ledger.append("audit", b"one").unwrap();
    assert_eq!(
        ledger.wait_for_commit(id, Duration::from_secs(10)).unwrap(),
        TxStatus::Committed
    );
    let signature = TxId::new(id.view(), id.seqno() + 1).unwrap();
    assert_eq!(ledger.status(signature), TxStatus::Pending);
    let before = next_seqno(&ledger, id.view());
    for _ in 0..20 {
        let status = ledger
            .wait_for_commit(signature, Duration::from_millis(5))
            .unwrap();
        assert_eq!(status, TxStatus::Pending);
        assert_eq!(
            ledger
                .wait_for_commit(id, Duration::from_millis(5))
                .unwrap(),
            TxStatus::Committed
        );
        ledger.flush().unwrap();
    }
    let status = futures_lite_poll(&ledger, signature);
    assert_eq!(status, None, "the future stays pending");
    assert_eq!(
        next_seqno(&ledger, id.view()),
        before,
        "no transaction was written"
    );
}

/// Polls `ledger.commit_future(tx)` a few times with a no-op waker.
fn futures_lite_poll(ledger: &Ledger, tx: TxId) -> Option<TxStatus> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(ledger.commit_future(tx));
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..5 {
        if let Poll::Ready(status) = future.as_mut().poll(&mut cx) {
            return Some(status.unwrap());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

/// Durations at the extremes neither panic nor misbehave.
#[test]
fn extreme_durations_do_not_panic() {
    let ledger = quiet_ledger();
    let id = ledger.append("audit", b"one").unwrap();
    assert_eq!(
        ledger.wait_for_commit(id, Duration::MAX).unwrap(),
        TxStatus::Committed
    );
    let unknown = TxId::new(id.view(), id.seqno() + 100).unwrap();
    assert_eq!(
        ledger.wait_for_commit(unknown, Duration::MAX).unwrap(),
        TxStatus::Unknown
    );
    // A zero wait still asks for a signature, so the writer may commit `next` before the
    // status is read back: either answer is correct, a panic or an error is not.
    let next = ledger.append("audit", b"two").unwrap();
    let status = ledger.wait_for_commit(next, Duration::ZERO).unwrap();
    assert!(
        matches!(status, TxStatus::Pending | TxStatus::Committed),
        "{status:?}"
    );
    let config = LedgerConfig::new("")
        .sig_interval(Duration::MAX)
        .sig_tx_interval(NonZeroU64::MAX);
    let slow = Ledger::in_memory_with(config).unwrap();
    let id = slow.append("audit", b"three").unwrap();
    assert_eq!(
        slow.wait_for_commit(id, Duration::from_secs(30)).unwrap(),
        TxStatus::Committed
    );
    slow.close().unwrap();
}
