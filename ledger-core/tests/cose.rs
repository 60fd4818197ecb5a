//! COSE receipts over a real CCF-profile tree (the 300-leaf tree of `tests/interop/fixture.rs`,
//! its roots signed with the service key): every receipt verifies and round-trips, every
//! single changed byte is refused, tampered fields fail the check that names them, and
//! consistency receipts link every two signed sizes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "interop/fixture.rs"]
mod fixture;

use fixture::{cose_claims, signature_tx, CoseFixture, Fixture, SIGNED_SIZES};
use ledger_core::testing;
use ledger_core::{CoseConsistencyReceipt, CoseInclusionProof, CoseReceipt, Error, ProofStep};
use ledger_core::{CwtClaims, ServiceIdentity, ServiceSigner, TxId};
use ledger_merkle::Digest;
use std::sync::OnceLock;

fn fixture() -> &'static (Fixture, CoseFixture) {
    static FIXTURE: OnceLock<(Fixture, CoseFixture)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let f = Fixture::new();
        let cose = f.cose();
        (f, cose)
    })
}

fn check_of(e: &Error) -> &'static str {
    match e {
        Error::ReceiptInvalid { check, .. } => check,
        other => panic!("not a verification failure: {other}"),
    }
}

#[test]
fn every_receipt_verifies_round_trips_and_names_its_transaction() {
    let (f, cose) = fixture();
    let pem = f.service.certificate_pem();
    assert!(cose.receipts.len() > 50);
    for (name, r) in &cose.receipts {
        let v = r.verify(pem).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lc = r.leaf_components();
        assert_eq!(v.tx_id, lc.tx_id().unwrap(), "{name}");
        assert_eq!(v.claims_digest, lc.claims_digest, "{name}");
        assert_eq!(v.transactions, vec![(v.tx_id, v.claims_digest)]);
        assert_eq!(v.signature_tx, r.signature_tx());
        assert_eq!(v.root, f.tree.root_at(v.signature_tx.seqno()).unwrap());
        assert_eq!(v.claims, cose_claims());
        assert_eq!(v, r.verify(f.service.certificate_der()).unwrap());
        assert_eq!(
            v,
            r.verify_with_key(f.service.verifying_key().as_p256().unwrap())
                .unwrap()
        );
        let back = CoseReceipt::from_slice(&r.to_vec()).unwrap();
        assert_eq!(&back, r, "{name}");
        assert_eq!(back.to_vec(), r.to_vec());
    }
    for (name, r) in &cose.multi {
        let v = r.verify(pem).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.transactions.len(), r.inclusion_proofs().len());
        assert_eq!(CoseReceipt::from_slice(r.as_bytes()).unwrap(), *r);
    }
    // Against another service.
    let foreign = ServiceIdentity::generate("Interop Test Service").unwrap();
    for (_, r) in cose.receipts.iter().step_by(9) {
        let e = r.verify(foreign.certificate_pem()).unwrap_err();
        assert_eq!(check_of(&e), "key id");
    }
}

#[test]
fn signed_roots_verify_with_the_service_key_only() {
    let (f, cose) = fixture();
    assert_eq!(cose.signed_roots.len(), SIGNED_SIZES.len());
    for (size, signed) in &cose.signed_roots {
        let root = f.tree.root_at(*size).unwrap();
        let (tx, claims) = testing::cose_verify_signed_root(
            signed,
            f.service.verifying_key().as_p256().unwrap(),
            &root,
        )
        .unwrap();
        assert_eq!((tx, claims), (signature_tx(*size), cose_claims()));
        let other_root = f.tree.root_at(size - 1).unwrap();
        let e = testing::cose_verify_signed_root(
            signed,
            f.service.verifying_key().as_p256().unwrap(),
            &other_root,
        )
        .unwrap_err();
        assert_eq!(check_of(&e), "signature");
        // A signed root is not a receipt, nor the reverse.
        assert!(CoseReceipt::from_slice(signed).is_err());
        let receipt = &cose.receipts[0].1;
        assert!(testing::cose_receipt(
            receipt.as_bytes(),
            receipt.leaf_components(),
            receipt.path()
        )
        .is_err());
    }
}

/// Flips each byte of `bytes` with each mask; `accepts` must refuse every result.
fn every_flip_refused(name: &str, bytes: &[u8], accepts: impl Fn(&[u8]) -> bool) -> usize {
    let mut tried = 0;
    for i in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= mask;
            assert!(
                !accepts(&tampered),
                "{name}: byte {i} of {} xor {mask:#04x} is accepted",
                bytes.len()
            );
            tried += 1;
        }
    }
    tried
}

#[test]
fn every_single_changed_byte_is_refused() {
    let (f, cose) = fixture();
    let pem = f.service.certificate_pem();
    let mut tried = 0;
    // The first and last receipt under each signed size, and every multi-proof receipt.
    let mut picked: Vec<&(String, CoseReceipt)> = Vec::new();
    for size in SIGNED_SIZES {
        let under: Vec<_> = cose
            .receipts
            .iter()
            .filter(|(_, r)| r.signature_tx().seqno() == size)
            .collect();
        picked.extend(under.first());
        picked.extend(under.last());
    }
    picked.extend(&cose.multi);
    for (name, r) in picked {
        tried += every_flip_refused(name, r.as_bytes(), |b| {
            CoseReceipt::from_slice(b).is_ok_and(|t| t.verify(pem).is_ok())
        });
    }
    for (name, old_size, old_root, r) in cose.consistency.iter().step_by(3) {
        tried += every_flip_refused(name, r.as_bytes(), |b| {
            CoseConsistencyReceipt::from_slice(b)
                .is_ok_and(|t| t.verify(pem, *old_size, old_root).is_ok())
        });
    }
    assert!(tried > 20_000, "{tried}");
}

/// A change to an inclusion proof.
type Edit = Box<dyn Fn(&mut CoseInclusionProof)>;

#[test]
fn tampered_fields_fail_the_check_that_names_them() {
    let (f, cose) = fixture();
    let pem = f.service.certificate_pem();
    let (size, signed) = &cose.signed_roots[2];
    let genuine = f.cose_proof(77, *size);
    let verify = |p: CoseInclusionProof| {
        let r = testing::cose_receipt(signed, &p.leaf_components, &p.path).unwrap();
        let back = CoseReceipt::from_slice(r.as_bytes()).unwrap();
        assert_eq!(back, r);
        back.verify(pem)
    };
    assert!(verify(genuine.clone()).is_ok());
    let edits: Vec<(&str, Edit)> = vec![
        (
            "write set digest",
            Box::new(|p| p.leaf_components.write_set_digest[3] ^= 1),
        ),
        (
            "claims digest",
            Box::new(|p| p.leaf_components.claims_digest[31] ^= 0x80),
        ),
        (
            "commit evidence nonce",
            Box::new(|p| {
                let ce = &mut p.leaf_components.commit_evidence;
                let last = if ce.ends_with('0') { "1" } else { "0" };
                ce.pop();
                ce.push_str(last);
            }),
        ),
        (
            "path side",
            Box::new(|p| {
                p.path[0] = match p.path[0] {
                    ProofStep::Left(d) => ProofStep::Right(d),
                    ProofStep::Right(d) => ProofStep::Left(d),
                }
            }),
        ),
        (
            "path digest",
            Box::new(|p| {
                let (ProofStep::Left(d) | ProofStep::Right(d)) = &mut p.path[1];
                d[0] ^= 1;
            }),
        ),
        (
            "path dropped",
            Box::new(|p| {
                p.path.pop();
            }),
        ),
        (
            "path extended",
            Box::new(|p| p.path.push(ProofStep::Right([9; 32]))),
        ),
        ("path reversed", Box::new(|p| p.path.reverse())),
    ];
    for (what, edit) in edits {
        let mut p = genuine.clone();
        edit(&mut p);
        let e = verify(p).unwrap_err();
        assert_eq!(check_of(&e), "signature", "{what}");
    }
    // The transaction of another view or a later seqno than the signature transaction.
    let mut p = genuine.clone();
    p.leaf_components.commit_evidence = testing::commit_evidence([0x5c; 32], 9, 77);
    assert_eq!(check_of(&verify(p).unwrap_err()), "transaction id");
}

#[test]
fn consistency_receipts_link_every_two_signed_sizes() {
    let (f, cose) = fixture();
    let pem = f.service.certificate_pem();
    let n = SIGNED_SIZES.len();
    assert_eq!(cose.consistency.len(), n * (n - 1) / 2);
    for (name, old_size, old_root, r) in &cose.consistency {
        let v = r
            .verify(pem, *old_size, old_root)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.new_size, r.signature_tx().seqno());
        assert_eq!(v.new_root, f.tree.root_at(v.new_size).unwrap());
        assert_eq!(v.claims, cose_claims());
        assert_eq!(
            CoseConsistencyReceipt::from_slice(r.as_bytes()).unwrap(),
            *r
        );
        let (older, newer) = r.proofs()[0].roots();
        assert_eq!((older, newer), (*old_root, v.new_root));
        // Another trusted root, another old size, another key.
        let other: Digest = f.tree.root_at(old_size + 1).unwrap();
        assert_eq!(
            check_of(&r.verify(pem, *old_size, &other).unwrap_err()),
            "consistency proof"
        );
        if *old_size > 2 {
            let e = r.verify(pem, old_size - 1, old_root).unwrap_err();
            assert_eq!(check_of(&e), "consistency proof", "{name}");
        }
        let foreign = ServiceIdentity::generate("Interop Test Service").unwrap();
        assert_eq!(
            check_of(
                &r.verify(foreign.certificate_pem(), *old_size, old_root)
                    .unwrap_err()
            ),
            "key id"
        );
    }
    // Several consistency proofs in one receipt: each older root finds its own.
    let (size, signed) = cose.signed_roots.last().unwrap();
    let mine: Vec<_> = cose
        .consistency
        .iter()
        .filter(|(_, _, _, r)| r.signature_tx().seqno() == *size)
        .collect();
    let proofs = mine
        .iter()
        .map(|(_, _, _, r)| r.proofs()[0].clone())
        .collect();
    let several = testing::cose_consistency_receipt_with_proofs(signed, proofs).unwrap();
    for (_, old_size, old_root, _) in &mine {
        several.verify(pem, *old_size, old_root).unwrap();
    }
}

/// A service signer whose signatures are not what it claims.
#[derive(Debug)]
struct LyingSigner {
    service: ServiceIdentity,
    other: ServiceIdentity,
    garbage: bool,
}

impl ServiceSigner for LyingSigner {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        if self.garbage {
            Ok(vec![0x30, 0x02, 0x05, 0x00])
        } else {
            self.other.sign_digest(digest)
        }
    }

    fn certificate_pem(&self) -> &str {
        self.service.certificate_pem()
    }
}

#[test]
fn signing_refuses_a_signer_that_signs_with_another_key_or_not_at_all() {
    let claims = CwtClaims {
        issuer: "i".into(),
        subject: "s".into(),
        issued_at: 0,
    };
    let tx = TxId::new(1, 2).unwrap();
    for garbage in [false, true] {
        let signer = LyingSigner {
            service: ServiceIdentity::generate("service").unwrap(),
            other: ServiceIdentity::generate("other").unwrap(),
            garbage,
        };
        let e = testing::cose_sign_root(&signer, &[1; 32], tx, &claims).unwrap_err();
        assert!(matches!(e, Error::Crypto { .. }), "{e}");
    }
}
