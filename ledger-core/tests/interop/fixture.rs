//! Receipts over a real CCF-profile Merkle tree, shared by `tests/receipts.rs` and
//! `tests/interop.rs` (included with `#[path]`; not a test target of its own).
//!
//! The tree holds `LEAVES` leaves: leaf 0 is 32 zero bytes (as CCF does) and leaf `s` is the
//! SPEC.md section 3 leaf of a transaction at seqno `s` (view 1 up to seqno 149, view 2
//! after), with a write set digest over deterministic entry bytes, commit evidence from a
//! fixed commit secret and, for every fifth transaction, a non-zero claims digest. Roots are
//! signed at several sizes, and receipts are built for a spread of leaves under each.
//!
//! [`Fixture::cose`] signs the same roots with the service key as COSE_Sign1 (the signature
//! transaction of the tree of `size` leaves is `{view}.{size}`) and builds COSE receipts
//! (`tests/cose.rs`, `tests/interop.rs`): inclusion receipts for the same leaves, a few
//! carrying several proofs, and consistency receipts between every two signed sizes.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use ledger_core::testing;
use ledger_core::{proof_steps, Receipt, TxId};
use ledger_core::{CertificateValidity, NodeIdentity, NodeSigner, ServiceIdentity};
use ledger_core::{CoseConsistencyReceipt, CoseInclusionProof, CoseReceipt, CwtClaims};
use ledger_core::{LeafComponents, NO_CLAIMS};
use ledger_merkle::{CcfSha256, Digest, MerkleTree};
use sha2::{Digest as _, Sha256};

/// Leaves in the tree (seqnos 0..LEAVES).
pub(crate) const LEAVES: u64 = 300;

/// Tree sizes at which roots are signed (a signature at seqno s covers leaves 0..s).
pub(crate) const SIGNED_SIZES: [u64; 5] = [2, 17, 128, 129, LEAVES];

/// Everything a test needs: identities, the tree's leaf components and receipts.
pub(crate) struct Fixture {
    pub(crate) service: ServiceIdentity,
    pub(crate) node: NodeIdentity,
    pub(crate) components: Vec<Option<LeafComponents>>,
    pub(crate) tree: MerkleTree<CcfSha256>,
    /// Receipts verified against `service`, with a file name `{view}_{seqno}_at{size}`.
    pub(crate) receipts: Vec<(String, Receipt)>,
}

pub(crate) fn view_of(seqno: u64) -> u64 {
    if seqno < 150 {
        1
    } else {
        2
    }
}

/// The leaf components of seqno `seqno` (>= 1).
pub(crate) fn components_of(secret: [u8; 32], seqno: u64) -> LeafComponents {
    let view = view_of(seqno);
    let entry = format!(
        "entry v{view} s{seqno}: collection=audit contents={}",
        seqno * 31
    );
    let claims_digest = if seqno % 5 == 0 {
        Sha256::digest(format!("claims of {seqno}").as_bytes()).into()
    } else {
        NO_CLAIMS
    };
    LeafComponents {
        write_set_digest: Sha256::digest(entry.as_bytes()).into(),
        commit_evidence: testing::commit_evidence(secret, view, seqno),
        claims_digest,
    }
}

/// The seqnos that get receipts under a root over `size` leaves: the first and last
/// transactions, both sides of every power-of-two boundary, and every 23rd.
pub(crate) fn receipt_seqnos(size: u64) -> Vec<u64> {
    let mut seqnos: Vec<u64> = vec![1, size - 1];
    let mut p = 2;
    while p < size {
        seqnos.push(p - 1);
        seqnos.push(p);
        p *= 2;
    }
    seqnos.extend((1..size).step_by(23));
    seqnos.retain(|&s| s >= 1 && s < size);
    seqnos.sort_unstable();
    seqnos.dedup();
    seqnos
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let service = ServiceIdentity::generate("Interop Test Service").unwrap();
        let node = NodeIdentity::generate(&service, "node0.ledger.test").unwrap();
        Self::with_identities(service, node)
    }

    /// Builds the tree and receipts signed by `node`, which need not be endorsed by
    /// `service` (for negative tests).
    pub(crate) fn with_identities(service: ServiceIdentity, node: NodeIdentity) -> Self {
        let secret = [0x5c; 32];
        let mut tree = MerkleTree::<CcfSha256>::new();
        let mut components = vec![None];
        tree.push([0u8; 32]);
        for seqno in 1..LEAVES {
            let c = components_of(secret, seqno);
            assert_eq!(
                testing::leaf_hash(
                    secret,
                    view_of(seqno),
                    seqno,
                    &c.write_set_digest,
                    &c.claims_digest
                ),
                c.leaf_hash()
            );
            tree.push(c.leaf_hash());
            components.push(Some(c));
        }
        tree.seal();
        let mut receipts = Vec::new();
        for size in SIGNED_SIZES {
            let root = tree.root_at(size).unwrap();
            let signature = node.sign_root(&root).unwrap();
            for seqno in receipt_seqnos(size) {
                let c = components[seqno as usize].clone().unwrap();
                let path = tree.inclusion_proof(seqno, size).unwrap();
                let receipt = Receipt::build(
                    node.certificate_pem(),
                    node.node_id(),
                    c,
                    seqno,
                    size,
                    &path,
                    &signature,
                )
                .unwrap();
                assert_eq!(receipt.root().unwrap(), root, "seqno {seqno} size {size}");
                let name = format!("{}_{seqno}_at{size}", view_of(seqno));
                receipts.push((name, receipt));
            }
        }
        Self {
            service,
            node,
            components,
            tree,
            receipts,
        }
    }

    /// A second service with its own node, signing the same tree: its receipts are valid,
    /// but only against its own service certificate.
    pub(crate) fn foreign() -> Self {
        let service = ServiceIdentity::generate("Interop Test Service").unwrap();
        let node = NodeIdentity::generate(&service, "node0.ledger.test").unwrap();
        Self::with_identities(service, node)
    }

    /// A receipt for `seqno` under a root over `size` leaves, signed by `node`.
    pub(crate) fn receipt_signed_by(&self, node: &NodeIdentity, seqno: u64, size: u64) -> Receipt {
        let root = self.tree.root_at(size).unwrap();
        let signature = node.sign_root(&root).unwrap();
        let path = self.tree.inclusion_proof(seqno, size).unwrap();
        let c = self.components[seqno as usize].clone().unwrap();
        Receipt::build(
            node.certificate_pem(),
            node.node_id(),
            c,
            seqno,
            size,
            &path,
            &signature,
        )
        .unwrap()
    }

    /// Receipts signed by a node of `self.service` whose certificate expired yesterday.
    pub(crate) fn expired_node_receipts(&self) -> Vec<(String, Receipt)> {
        let day = Duration::from_secs(86_400);
        let now = SystemTime::now();
        let validity = CertificateValidity::new(now - 30 * day, now - day).unwrap();
        let node =
            NodeIdentity::generate_with_validity(&self.service, "expired.ledger.test", validity)
                .unwrap();
        [1, 150, LEAVES - 1]
            .into_iter()
            .map(|seqno| {
                let name = format!("{}_{seqno}_at{LEAVES}", view_of(seqno));
                (name, self.receipt_signed_by(&node, seqno, LEAVES))
            })
            .collect()
    }
}

/// Writes `service_cert.pem` and one `{name}.json` per receipt into `dir`.
pub(crate) fn write_receipts(
    dir: &Path,
    service: &ServiceIdentity,
    receipts: &[(String, Receipt)],
) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("service_cert.pem"), service.certificate_pem()).unwrap();
    for (name, receipt) in receipts {
        std::fs::write(dir.join(format!("{name}.json")), receipt.to_json()).unwrap();
    }
}

/// The CWT claims of the fixture's COSE signed roots.
pub(crate) fn cose_claims() -> CwtClaims {
    CwtClaims {
        issuer: "interop.ledger.test".into(),
        subject: "ledger-core interop fixture".into(),
        issued_at: 1_767_225_600,
    }
}

/// The signature transaction that signs the tree of `size` leaves: seqno `size`.
pub(crate) fn signature_tx(size: u64) -> TxId {
    TxId::new(view_of(size), size).unwrap()
}

/// COSE material over a fixture's tree, signed by its service key.
pub(crate) struct CoseFixture {
    /// The service's COSE_Sign1 over the root of each of `SIGNED_SIZES`.
    pub(crate) signed_roots: Vec<(u64, Vec<u8>)>,
    /// One inclusion receipt per (seqno, size) of the JSON receipts, named alike.
    pub(crate) receipts: Vec<(String, CoseReceipt)>,
    /// Receipts carrying several inclusion proofs under one root.
    pub(crate) multi: Vec<(String, CoseReceipt)>,
    /// Consistency receipts between every two signed sizes: (name, old size, old root,
    /// receipt).
    pub(crate) consistency: Vec<(String, u64, Digest, CoseConsistencyReceipt)>,
}

impl Fixture {
    /// The fixture's tree signed with COSE, and COSE receipts over it.
    pub(crate) fn cose(&self) -> CoseFixture {
        let mut signed_roots = Vec::new();
        let mut receipts = Vec::new();
        let mut multi = Vec::new();
        for size in SIGNED_SIZES {
            let root = self.tree.root_at(size).unwrap();
            let signed =
                testing::cose_sign_root(&self.service, &root, signature_tx(size), &cose_claims())
                    .unwrap();
            let proofs: Vec<CoseInclusionProof> = receipt_seqnos(size)
                .into_iter()
                .map(|seqno| self.cose_proof(seqno, size))
                .collect();
            for p in &proofs {
                let seqno = p.leaf_components.tx_id().unwrap().seqno();
                let r = testing::cose_receipt(&signed, &p.leaf_components, &p.path).unwrap();
                let name = format!("{}_{seqno}_at{size}", view_of(seqno));
                receipts.push((name, r));
            }
            // The official verifiers take one claims digest for all of a receipt's proofs.
            let several: Vec<CoseInclusionProof> = proofs
                .iter()
                .filter(|p| p.leaf_components.claims_digest == NO_CLAIMS)
                .take(3)
                .cloned()
                .collect();
            if several.len() > 1 {
                let r = testing::cose_receipt_with_proofs(&signed, several).unwrap();
                multi.push((format!("several_at{size}"), r));
            }
            signed_roots.push((size, signed));
        }
        let mut consistency = Vec::new();
        for (i, &(new_size, ref signed)) in signed_roots.iter().enumerate() {
            let new_root = self.tree.root_at(new_size).unwrap();
            for &(old_size, _) in &signed_roots[..i] {
                let old_root = self.tree.root_at(old_size).unwrap();
                let proof = self.tree.consistency_proof(old_size, new_size).unwrap();
                let r = testing::cose_consistency_receipt(
                    signed, old_size, new_size, &old_root, &new_root, &proof,
                )
                .unwrap();
                consistency.push((format!("{old_size}_to_{new_size}"), old_size, old_root, r));
            }
        }
        CoseFixture {
            signed_roots,
            receipts,
            multi,
            consistency,
        }
    }

    /// The COSE inclusion proof of `seqno` in the tree of `size` leaves.
    pub(crate) fn cose_proof(&self, seqno: u64, size: u64) -> CoseInclusionProof {
        let path = self.tree.inclusion_proof(seqno, size).unwrap();
        CoseInclusionProof {
            leaf_components: self.components[seqno as usize].clone().unwrap(),
            path: proof_steps(seqno, size, &path).unwrap(),
        }
    }
}

/// Writes a COSE fixture for the Python checkers into `dir`: `service_cert.pem`,
/// `inclusion/{name}.cose` with `inclusion/manifest.json` (file, the first proof's claims
/// digest and transaction, the signature transaction) and `consistency/{name}.cose` with
/// `consistency/manifest.json` (file, old size and root, new size).
pub(crate) fn write_cose_receipts(dir: &Path, service: &ServiceIdentity, cose: &CoseFixture) {
    let inclusion = dir.join("inclusion");
    let consistency = dir.join("consistency");
    std::fs::create_dir_all(&inclusion).unwrap();
    std::fs::create_dir_all(&consistency).unwrap();
    std::fs::write(dir.join("service_cert.pem"), service.certificate_pem()).unwrap();
    let mut manifest = Vec::new();
    for (name, r) in cose.receipts.iter().chain(&cose.multi) {
        let file = format!("{name}.cose");
        std::fs::write(inclusion.join(&file), r.as_bytes()).unwrap();
        manifest.push(serde_json::json!({
            "file": file,
            "proofs": r.inclusion_proofs().len(),
            "claims_digest": hex::encode(r.leaf_components().claims_digest),
            "tx_id": r.leaf_components().tx_id().unwrap().to_string(),
            "signature_tx": r.signature_tx().to_string(),
        }));
    }
    std::fs::write(
        inclusion.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    let mut manifest = Vec::new();
    for (name, old_size, old_root, r) in &cose.consistency {
        let file = format!("{name}.cose");
        std::fs::write(consistency.join(&file), r.as_bytes()).unwrap();
        manifest.push(serde_json::json!({
            "file": file,
            "old_size": old_size,
            "old_root": hex::encode(old_root),
            "new_size": r.signature_tx().seqno(),
        }));
    }
    std::fs::write(
        consistency.join("manifest.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}
