//! COSE receipts from the engine (issue 13): every committed transaction has one in the
//! default signing mode, after reopening too, and transactions committed before COSE signing
//! was turned on get one through the next COSE-signed root. JSON-only mode writes signature
//! transactions exactly as before; COSE-only mode signs roots with the service key alone and
//! has no JSON receipts. Consistency receipts link two COSE-signed roots.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::{
    audit_ledger, audit_path, AuditOptions, CoseReceipt, Durability, Error, Ledger, LedgerConfig,
    NodeIdentity, ServiceIdentity, SigningMode, Transaction, TxId, TxKind,
};
use ledger_store::{RocksStore, Store, StoreConfig};

fn config(path: &Path) -> LedgerConfig {
    LedgerConfig::new(path)
        .durability(Durability::Fsync)
        .sig_interval(Duration::from_millis(1))
}

fn write_some(ledger: &Ledger, n: u32) -> Vec<TxId> {
    let ids = (0..n)
        .map(|i| {
            let mut tx = Transaction::new();
            tx.append("audit", &i.to_be_bytes());
            if i % 2 == 0 {
                tx.claims_digest([i as u8 + 1; 32]);
            }
            ledger.submit(tx).unwrap()
        })
        .collect();
    ledger.flush().unwrap();
    ids
}

fn check(ledger: &Ledger, id: TxId) -> CoseReceipt {
    let receipt = ledger.cose_receipt(id).unwrap();
    let verified = receipt.verify(ledger.service_certificate_pem()).unwrap();
    assert_eq!(verified.tx_id, id);
    let json = ledger.receipt(id).unwrap();
    assert_eq!(verified.claims_digest, json.leaf_components.claims_digest);
    assert_eq!(CoseReceipt::from_slice(&receipt.to_vec()).unwrap(), receipt);
    receipt
}

#[test]
fn every_committed_transaction_has_a_cose_receipt_after_reopening_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(config(&path)).unwrap();
    let ids = write_some(&ledger, 30);
    for id in &ids {
        check(&ledger, *id);
    }
    // Genesis and signature transactions too.
    check(&ledger, TxId::new(1, 1).unwrap());
    ledger.close().unwrap();
    let ledger = Ledger::open(config(&path)).unwrap();
    for id in ids.iter().step_by(7) {
        check(&ledger, *id);
    }
    let report = audit_ledger(&ledger, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    ledger.close().unwrap();
}

#[test]
fn a_cose_receipt_names_a_root_signed_after_the_transaction() {
    let ledger = Ledger::in_memory().unwrap();
    let first = write_some(&ledger, 3);
    let later = write_some(&ledger, 3);
    let early = check(&ledger, first[0]);
    let late = check(&ledger, later[2]);
    assert!(early.signature_tx().seqno() > first[0].seqno());
    assert!(late.signature_tx().seqno() > later[2].seqno());
    // A pending transaction has none.
    let pending = ledger.append("audit", b"not yet").unwrap();
    if ledger.status(pending) != ledger_core::TxStatus::Committed {
        assert!(matches!(
            ledger.cose_receipt(pending),
            Err(Error::NotCommitted { .. })
        ));
    }
}

#[test]
fn json_mode_writes_signature_transactions_as_before_and_has_no_cose_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(config(&path).signing_mode(SigningMode::Json)).unwrap();
    let before = write_some(&ledger, 10);
    for id in &before {
        assert!(matches!(
            ledger.cose_receipt(*id),
            Err(Error::NotFound { what, .. }) if what == "COSE signed root"
        ));
        ledger
            .receipt(*id)
            .unwrap()
            .verify(&ledger.service_certificate_pem())
            .unwrap();
    }
    ledger.close().unwrap();
    {
        let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
        let last = store.state().last_seqno;
        let mut signatures = 0;
        for (_, bytes) in store.entries(1..=last, 10_000).unwrap() {
            let entry = ledger_core::decode_entry(&bytes).unwrap();
            if entry.kind == TxKind::Signature {
                signatures += 1;
                assert!(entry.body.writes.is_empty(), "{}", entry.tx_id);
            }
        }
        assert!(signatures >= 2);
    }

    // Turned on later: what was committed before gets a receipt through the next COSE root.
    let ledger = Ledger::open(config(&path)).unwrap();
    let after = write_some(&ledger, 2);
    check(&ledger, before[0]);
    check(&ledger, after[1]);
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn dual_mode_needs_the_service_key() {
    #[derive(Debug)]
    struct Held(ServiceIdentity);
    impl ledger_core::ServiceSigner for Held {
        fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
            self.0.sign_digest(digest)
        }
        fn certificate_pem(&self) -> &str {
            self.0.certificate_pem()
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let service = Arc::new(Held(ServiceIdentity::generate("held").unwrap()));
    let node = Arc::new(NodeIdentity::generate(&*service, "node").unwrap());
    let ledger = Ledger::open(
        config(&path)
            .service_signer(service.clone())
            .node_signer(node.clone()),
    )
    .unwrap();
    let ids = write_some(&ledger, 2);
    check(&ledger, ids[1]);
    ledger.close().unwrap();
    match Ledger::open(config(&path).node_signer(node.clone())) {
        Err(Error::InvalidInput { what, .. }) => assert_eq!(what, "service_signer"),
        other => panic!("expected the service key asked for, got {other:?}"),
    }
    let ledger = Ledger::open(
        config(&path)
            .node_signer(node)
            .signing_mode(SigningMode::Json),
    )
    .unwrap();
    check(&ledger, ids[1]);
    ledger.close().unwrap();
}

/// The signature transactions in the store at `path`, decoded.
fn signature_entries(path: &Path) -> Vec<ledger_core::LedgerEntry> {
    let (store, _) = RocksStore::open(path, StoreConfig::default()).unwrap();
    let last = store.state().last_seqno;
    store
        .entries(1..=last, 10_000)
        .unwrap()
        .into_iter()
        .map(|(_, bytes)| ledger_core::decode_entry(&bytes).unwrap())
        .filter(|e| e.kind == TxKind::Signature)
        .collect()
}

#[test]
fn cose_only_mode_signs_roots_with_the_service_key_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(config(&path).signing_mode(SigningMode::CoseOnly)).unwrap();
    let ids = write_some(&ledger, 12);
    let pem = ledger.service_certificate_pem();
    for id in &ids {
        let receipt = ledger.cose_receipt(*id).unwrap();
        let verified = receipt.verify(&pem).unwrap();
        assert_eq!(verified.tx_id, *id);
        match ledger.receipt(*id) {
            Err(Error::NoJsonReceipt { tx, signed_at }) => {
                assert_eq!(tx, *id);
                assert_eq!(signed_at, receipt.signature_tx());
            }
            other => panic!("a JSON receipt in COSE-only mode: {other:?}"),
        }
    }
    ledger.close().unwrap();
    // Every signature transaction of this ledger, the first included, has an empty node
    // signature and a COSE signature.
    let signatures = signature_entries(&path);
    assert!(signatures.len() >= 2);
    for entry in &signatures {
        let payload = entry.body.signature.as_ref().unwrap();
        assert!(payload.signature.is_empty(), "{}", entry.tx_id);
        assert!(!payload.node_cert_pem.is_empty());
        assert_eq!(entry.body.writes.len(), 1, "{}", entry.tx_id);
        assert_eq!(entry.body.writes[0].table, "internal.cose_signatures");
    }
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(report.signatures, signatures.len() as u64);

    // Reopened in dual mode: what COSE-only signed keeps COSE receipts only, what is signed
    // now has both.
    let ledger = Ledger::open(config(&path)).unwrap();
    assert!(matches!(
        ledger.receipt(ids[0]),
        Err(Error::NoJsonReceipt { .. })
    ));
    ledger.cose_receipt(ids[0]).unwrap().verify(&pem).unwrap();
    let after = write_some(&ledger, 3);
    check(&ledger, after[2]);
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn cose_only_mode_needs_a_p256_service_key() {
    let dir = tempfile::tempdir().unwrap();
    let e = Ledger::open(
        config(&dir.path().join("ledger"))
            .key_algorithm(ledger_core::KeyAlgorithm::EcdsaP384)
            .signing_mode(SigningMode::CoseOnly),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { what, .. } if *what == "signing_mode"),
        "{e}"
    );
}

#[test]
fn a_cose_consistency_receipt_links_two_signed_roots() {
    let ledger = Ledger::in_memory().unwrap();
    let pem = ledger.service_certificate_pem();
    let mut signed = Vec::new();
    for round in 0..4 {
        let ids = write_some(&ledger, 5 + round);
        signed.push(ledger.cose_receipt(ids[0]).unwrap().signature_tx());
    }
    for (i, from) in signed.iter().enumerate() {
        for to in &signed[i + 1..] {
            let receipt = ledger.cose_consistency_receipt(*from, *to).unwrap();
            let old = ledger.consistency_proof(*from, *to).unwrap();
            let verified = receipt.verify(&pem, from.seqno(), &old.from_root).unwrap();
            assert_eq!(verified.signature_tx, *to);
            assert_eq!(verified.new_size, to.seqno());
            assert_eq!(verified.new_root, old.to_root);
            let parsed =
                ledger_core::CoseConsistencyReceipt::from_slice(&receipt.to_vec()).unwrap();
            assert_eq!(parsed, receipt);
            // Another old root, or another old size, is refused.
            let mut wrong = old.from_root;
            wrong[0] ^= 1;
            assert!(receipt.verify(&pem, from.seqno(), &wrong).is_err());
            assert!(receipt
                .verify(&pem, from.seqno() + 1, &old.from_root)
                .is_err());
        }
    }
    // Not older, or not a signature transaction.
    let e = ledger
        .cose_consistency_receipt(signed[1], signed[1])
        .unwrap_err();
    assert!(matches!(&e, Error::InvalidInput { .. }), "{e}");
    let e = ledger
        .cose_consistency_receipt(signed[2], signed[1])
        .unwrap_err();
    assert!(matches!(&e, Error::InvalidInput { .. }), "{e}");
    let user = TxId::new(signed[1].view(), signed[1].seqno() - 1).unwrap();
    let e = ledger
        .cose_consistency_receipt(signed[0], user)
        .unwrap_err();
    assert!(matches!(&e, Error::InvalidInput { .. }), "{e}");
}

#[test]
fn a_json_signed_root_gives_no_cose_consistency_receipt() {
    let ledger =
        Ledger::in_memory_with(LedgerConfig::new("").signing_mode(SigningMode::Json)).unwrap();
    let a = write_some(&ledger, 3);
    let b = write_some(&ledger, 3);
    // Each flush ends with a signature transaction right after the last write.
    let sig = |ids: &[TxId]| {
        let last = ids[ids.len() - 1];
        TxId::new(last.view(), last.seqno() + 1).unwrap()
    };
    ledger.consistency_proof(sig(&a), sig(&b)).unwrap();
    let e = ledger
        .cose_consistency_receipt(sig(&a), sig(&b))
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotFound { what, .. } if *what == "COSE signed root"),
        "{e}"
    );
}
