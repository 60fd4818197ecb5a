//! COSE receipts from the engine (issue 13): every committed transaction has one in the
//! default signing mode, after reopening too, and transactions committed before COSE signing
//! was turned on get one through the next COSE-signed root. JSON-only mode writes signature
//! transactions exactly as before.

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
