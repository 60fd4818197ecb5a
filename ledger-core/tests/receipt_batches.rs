//! Batch verification (`ReceiptVerifier::verify_batch`, `verify_cose_batch`): a batch of
//! 1,000 receipts under one signed root verifies, and receipts forged inside it fail alone,
//! each with the error single verification gives it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::SystemTime;

use ledger_core::testing;
use ledger_core::{CoseReceipt, CwtClaims, LeafComponents, ProofStep, Receipt, ReceiptVerifier};
use ledger_core::{NodeIdentity, NodeSigner, ServiceIdentity, TxId, NO_CLAIMS};
use ledger_merkle::{CcfSha256, MerkleTree};

const N: u64 = 1_000;

/// Leaves 1..=N of a tree whose leaf 0 is 32 zero bytes (as CCF's is), and the tree.
fn tree() -> (Vec<LeafComponents>, MerkleTree<CcfSha256>) {
    let mut tree = MerkleTree::<CcfSha256>::new();
    tree.push([0u8; 32]);
    let leaves: Vec<LeafComponents> = (1..=N)
        .map(|seqno| LeafComponents {
            write_set_digest: ledger_merkle::Digest::from(<sha2::Sha256 as sha2::Digest>::digest(
                seqno.to_be_bytes(),
            )),
            commit_evidence: testing::commit_evidence([0x5c; 32], 1, seqno),
            claims_digest: NO_CLAIMS,
        })
        .collect();
    for leaf in &leaves {
        tree.push(leaf.leaf_hash());
    }
    (leaves, tree)
}

fn tx(view: u64, seqno: u64) -> TxId {
    format!("{view}.{seqno}").parse().unwrap()
}

fn indices<T>(results: &[ledger_core::Result<T>]) -> Vec<usize> {
    ReceiptVerifier::failures(results)
        .iter()
        .map(|(i, _)| *i)
        .collect()
}

#[test]
fn a_json_batch_of_1000_reports_exactly_the_forged_receipts() {
    let service = ServiceIdentity::generate("batch").unwrap();
    let node = NodeIdentity::generate(&service, "node0").unwrap();
    let (leaves, mut tree) = tree();
    let size = N + 1;
    let root = tree.root();
    let signature: Arc<[u8]> = Arc::from(node.sign_root(&root).unwrap());
    let cert: Arc<str> = Arc::from(node.certificate_pem());
    let node_id: Arc<str> = Arc::from(node.node_id());
    let mut receipts: Vec<Receipt> = leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| {
            let index = i as u64 + 1;
            Receipt::build_shared(
                Arc::clone(&cert),
                Arc::clone(&node_id),
                leaf.clone(),
                index,
                size,
                &tree.inclusion_proof(index, size).unwrap(),
                Arc::clone(&signature),
            )
            .unwrap()
        })
        .collect();
    let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
    let at = SystemTime::now();
    let results = verifier.verify_batch(&receipts, at);
    assert_eq!(results.len(), receipts.len());
    assert!(indices(&results).is_empty());

    // One proof tampered with, one signature replaced by the node's signature over another
    // root (valid DER, wrong root), and one node id that is not the certificate's.
    let (ProofStep::Left(d) | ProofStep::Right(d)) = &mut receipts[17].proof[3];
    d[7] ^= 0x10;
    receipts[600].signature = Arc::from(node.sign_root(&[0x42; 32]).unwrap());
    let results = verifier.verify_batch(&receipts, at);
    assert_eq!(indices(&results), [17, 600]);
    for (i, error) in ReceiptVerifier::failures(&results) {
        assert!(
            matches!(
                error,
                ledger_core::Error::ReceiptInvalid {
                    check: "signature",
                    ..
                }
            ),
            "{i}: {error}"
        );
        let single = verifier.verify_at(&receipts[i], at).unwrap_err();
        assert_eq!(format!("{error:?}"), format!("{single:?}"));
    }
    receipts[999].node_id = Arc::from("ab".repeat(32));
    let results = verifier.verify_batch(&receipts, at);
    assert_eq!(indices(&results), [17, 600, 999]);
    assert!(matches!(
        ReceiptVerifier::failures(&results)[2].1,
        ledger_core::Error::ReceiptInvalid {
            check: "node id",
            ..
        }
    ));

    // A certificate path that fails fails every receipt carrying it, and only those.
    let stranger =
        NodeIdentity::generate(&ServiceIdentity::generate("other").unwrap(), "n").unwrap();
    for receipt in &mut receipts[100..103] {
        receipt.cert = Arc::from(stranger.certificate_pem());
    }
    let results = verifier.verify_batch(&receipts, at);
    assert_eq!(indices(&results), [17, 100, 101, 102, 600, 999]);
    for i in 100..103 {
        let single = verifier.verify_at(&receipts[i], at).unwrap_err();
        assert_eq!(
            format!("{:?}", results[i].as_ref().unwrap_err()),
            format!("{single:?}")
        );
    }
}

#[test]
fn a_cose_batch_of_1000_reports_exactly_the_forged_receipts() {
    let service = ServiceIdentity::generate("batch").unwrap();
    let (leaves, mut tree) = tree();
    let size = N + 1;
    let root = tree.root();
    let claims = CwtClaims {
        issuer: "ledger.example".into(),
        subject: "batch".into(),
        issued_at: 1_700_000_000,
    };
    let signed = testing::cose_sign_root(&service, &root, tx(1, size), &claims).unwrap();
    // The signed root ends with the 64-byte signature `r ‖ s`: its last byte changed.
    let mut forged = signed.clone();
    *forged.last_mut().unwrap() ^= 1;
    let path = |index: u64| -> Vec<ProofStep> {
        ledger_core::proof_steps(index, size, &tree.inclusion_proof(index, size).unwrap()).unwrap()
    };
    let mut receipts: Vec<CoseReceipt> = leaves
        .iter()
        .enumerate()
        .map(|(i, leaf)| {
            let index = i as u64 + 1;
            let signed = if index == 601 { &forged } else { &signed };
            let mut steps = path(index);
            if index == 18 {
                let (ProofStep::Left(d) | ProofStep::Right(d)) = &mut steps[3];
                d[7] ^= 0x10;
            }
            testing::cose_receipt(signed, leaf, &steps).unwrap()
        })
        .collect();
    let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
    let results = verifier.verify_cose_batch(&receipts);
    assert_eq!(results.len(), receipts.len());
    assert_eq!(indices(&results), [17, 600]);
    for (i, result) in results.iter().enumerate() {
        let single = verifier.verify_cose(&receipts[i]);
        assert_eq!(format!("{result:?}"), format!("{single:?}"), "{i}");
        let by_certificate = receipts[i].verify(service.certificate_pem());
        assert_eq!(format!("{result:?}"), format!("{by_certificate:?}"), "{i}");
    }
    let verified = results[0].as_ref().unwrap();
    assert_eq!(verified.tx_id, tx(1, 1));
    assert_eq!(verified.root, root);
    // A receipt under another service key fails on its key id alone.
    let other = ServiceIdentity::generate("other").unwrap();
    let alien = testing::cose_sign_root(&other, &root, tx(1, size), &claims).unwrap();
    receipts[5] = testing::cose_receipt(&alien, &leaves[5], &path(6)).unwrap();
    let results = verifier.verify_cose_batch(&receipts);
    assert_eq!(indices(&results), [5, 17, 600]);
    assert!(matches!(
        ReceiptVerifier::failures(&results)[0].1,
        ledger_core::Error::ReceiptInvalid {
            check: "key id",
            ..
        }
    ));
}

/// COSE roots are ES256: a verifier of a P-384 service says so for each COSE receipt,
/// while its JSON receipts verify.
#[test]
fn a_p384_service_verifier_refuses_cose_receipts_with_a_typed_error() {
    let service = ServiceIdentity::generate_with_algorithm(
        "p384",
        ledger_core::KeyAlgorithm::EcdsaP384,
        ledger_core::CertificateValidity::default(),
    )
    .unwrap();
    let p256 = ServiceIdentity::generate("p256").unwrap();
    let (leaves, mut tree) = tree();
    let root = tree.root();
    let claims = CwtClaims {
        issuer: "i".into(),
        subject: "s".into(),
        issued_at: 1,
    };
    let signed = testing::cose_sign_root(&p256, &root, tx(1, N + 1), &claims).unwrap();
    let steps =
        ledger_core::proof_steps(1, N + 1, &tree.inclusion_proof(1, N + 1).unwrap()).unwrap();
    let receipt = testing::cose_receipt(&signed, &leaves[0], &steps).unwrap();
    let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
    let results = verifier.verify_cose_batch(&[receipt.clone(), receipt.clone()]);
    assert_eq!(indices(&results), [0, 1]);
    for e in [
        results[0].as_ref().unwrap_err(),
        &verifier.verify_cose(&receipt).unwrap_err(),
    ] {
        assert!(
            matches!(
                e,
                ledger_core::Error::InvalidInput {
                    what: "service certificate",
                    ..
                }
            ),
            "{e}"
        );
    }
}
