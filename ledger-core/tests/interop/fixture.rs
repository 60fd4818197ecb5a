//! Receipts over a real CCF-profile Merkle tree, shared by `tests/receipts.rs` and
//! `tests/interop.rs` (included with `#[path]`; not a test target of its own).
//!
//! The tree holds `LEAVES` leaves: leaf 0 is 32 zero bytes (as CCF does) and leaf `s` is the
//! SPEC.md section 3 leaf of a transaction at seqno `s` (view 1 up to seqno 149, view 2
//! after), with a write set digest over deterministic entry bytes, commit evidence from a
//! fixed commit secret and, for every fifth transaction, a non-zero claims digest. Roots are
//! signed at several sizes, and receipts are built for a spread of leaves under each.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use ledger_core::testing;
use ledger_core::Receipt;
use ledger_core::{CertificateValidity, NodeIdentity, NodeSigner, ServiceIdentity};
use ledger_core::{LeafComponents, NO_CLAIMS};
use ledger_merkle::{CcfSha256, MerkleTree};
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

fn view_of(seqno: u64) -> u64 {
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
