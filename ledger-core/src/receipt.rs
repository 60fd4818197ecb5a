//! Receipts (SPEC.md section 6): offline proof that a transaction is covered by a signed root.
//!
//! # Format
//!
//! A receipt is CCF's JSON receipt, accepted unmodified by the official `ccf` and
//! `azure-confidentialledger` Python verifiers:
//!
//! ```json
//! {
//!   "cert": "<node certificate, PEM>",
//!   "node_id": "<64 lowercase hex>",
//!   "leaf_components": {
//!     "write_set_digest": "<64 lowercase hex>",
//!     "commit_evidence": "ce:2.15:<64 lowercase hex>",
//!     "claims_digest": "<64 lowercase hex>"
//!   },
//!   "proof": [{"left": "<64 lowercase hex>"}, {"right": "<64 lowercase hex>"}],
//!   "signature": "<standard base64, padded, of the DER ECDSA signature>",
//!   "service_endorsements": []
//! }
//! ```
//!
//! COSE receipts (RFC 9942 with the CCF profile: the service key's COSE_Sign1 over the root,
//! proofs under header label 396) are [`CoseReceipt`](crate::CoseReceipt); their header labels
//! and byte layouts are specified in the `cose` module's documentation.
//!
//! [`Receipt::to_json`] writes exactly these keys in this order, compactly (no whitespace);
//! `node_id` is left out when the receipt carries none (see below).
//!
//! ## What the reader accepts
//!
//! [`Receipt::from_json`] reads every form CCF and Azure Confidential Ledger serve, and
//! nothing else:
//!
//! * the keys above in snake_case (CCF, ACL api-version 2022-05-13) or camelCase (`nodeId`,
//!   `leafComponents`, `writeSetDigest`, `commitEvidence`, `claimsDigest`,
//!   `serviceEndorsements`, as ACL serves them since 2023), each key in either spelling;
//! * `is_signature_transaction` (`isSignatureTransaction`), which CCF's serialiser and ACL
//!   add, when `false` (a signature transaction's receipt has no leaf components: `true` is
//!   refused);
//! * `node_id` and `service_endorsements` may be absent (the SDK accepts both): no node id
//!   is then checked (it is only a digest of the certificate's key), and no endorsement
//!   stands between the node and the service certificate.
//!
//! It stays strict where it matters: a key outside that set, a key given twice (in one
//! spelling or both), `null` for any member, a proof element with other than exactly one key
//! `left` or `right`, hex that is not 64 lowercase characters, a commit evidence not of the
//! form `ce:{view}.{seqno}:{hex}`, non-canonical base64, an empty signature or certificate,
//! or more than [`MAX_PROOF_LEN`] proof elements are errors.
//!
//! [`ServedReceipt::from_json`] reads, besides a bare receipt, the get-receipt response of
//! ACL's REST API: `{"receipt": {...}, "applicationClaims": [...], "state": "Ready",
//! "transactionId": "2.35"}` (claims, state and id optional; see [`crate::ApplicationClaim`]
//! for the claims).
//!
//! # Verification
//!
//! [`Receipt::verify`] recomputes the leaf from the leaf components, folds the proof (a
//! `left` sibling gives SHA-256(sibling ‖ acc), a `right` one SHA-256(acc ‖ sibling)), checks
//! that `node_id` (when present) is the SHA-256 of the node certificate's public key,
//! validates the certificate path from the node certificate through the endorsements to the
//! service certificate (below), and verifies the ECDSA signature over the root with the node
//! key, on P-256 or P-384 (the curve rule of [`crate::KeyAlgorithm`]).
//! [`ReceiptVerifier`] does the same while parsing the service certificate once and keeping
//! the certificate paths it validated in a bounded cache, for verifying many receipts; its
//! [`ReceiptVerifier::verify_batch`] verifies the receipts sharing a signed root with one
//! signature verification, and it verifies COSE receipts too
//! ([`ReceiptVerifier::verify_cose`], [`ReceiptVerifier::verify_cose_batch`]). Signatures are
//! verified with AWS-LC, with exactly the verdicts of the `p256`/`p384` crates (the source's
//! `curves` module, `# Verification backend`: high-S signatures are accepted, as OpenSSL and
//! CCF accept them).
//! [`Receipt::verify_claims`] and [`ServedReceipt::verify`] also recompute the claims digest
//! from application claims and compare it with the leaf's.
//!
//! ## At what time
//!
//! Every certificate of the path must be valid at the verification time: now for
//! [`Receipt::verify`], a time the caller chooses for [`Receipt::verify_at`] and
//! [`ReceiptVerifier::verify_at`]. A receipt does not say when it was issued, and its
//! signature does not expire, but the certificates do: ACL issues node certificates for about
//! three months, so a receipt kept longer fails [`Receipt::verify`] with
//! [`CertificateRule::Expired`] although nothing about it changed. To check an old receipt,
//! verify it at a time you know independently that it existed, such as when you obtained
//! it. Choosing a time inside the node certificate's validity *because the receipt says so*
//! gives up what the check is for: a node key leaked after its certificate expired could
//! sign new receipts that would then pass. (The `azure-confidentialledger` verifier does not
//! look at validity periods at all; the `ccf` package's `check_cert_chain` checks them at the
//! current time.)
//!
//! # Certificate paths
//!
//! The path is the node certificate, then `service_endorsements` in order (nearest the node
//! first), then the trusted service certificate. It is checked as RFC 5280 section 6.1 asks,
//! for what receipts use; each rule's failure is an [`Error::ReceiptInvalid`] with check
//! `"certificate chain"` and a [`RejectedCertificate`] naming the certificate
//! ([`CertificateRole`]) and the rule ([`CertificateRule`]):
//!
//! * **Every certificate**, the service certificate included: no extension appears twice
//!   ([`CertificateRule::DuplicateExtension`]); basicConstraints and keyUsage decode
//!   ([`CertificateRule::MalformedExtension`]); no critical extension other than
//!   basicConstraints, keyUsage, subjectAltName and the subject and authority key
//!   identifiers ([`CertificateRule::UnknownCriticalExtension`]; non-critical extensions
//!   this verifier does not know are ignored); valid at the verification time, bounds
//!   inclusive ([`CertificateRule::NotYetValid`], [`CertificateRule::Expired`]).
//! * **The node certificate**: its keyUsage, if present, includes `digitalSignature`, since
//!   its key signs the root ([`CertificateRule::NoDigitalSignature`]).
//! * **Each link**, from the node up: the certificate's issuer is the next certificate's
//!   subject ([`CertificateRule::IssuerMismatch`]), its signature algorithm is
//!   ecdsa-with-SHA256, -SHA384 or -SHA512 ([`CertificateRule::UnsupportedAlgorithm`]) and
//!   the next certificate's key, on P-256 or P-384, verifies its signature
//!   ([`CertificateRule::BadSignature`]); these
//!   are the signed certificate's failures.
//! * **Every issuer** (each endorsement and the service certificate): basicConstraints is
//!   present with `CA:TRUE` ([`CertificateRule::NotACa`]; it need not be critical, as in
//!   CCF's service certificates); keyUsage, if present, includes `keyCertSign`
//!   ([`CertificateRule::NoKeyCertSign`]; CCF's service certificates carry none, this
//!   crate's carry `keyCertSign | cRLSign`); a `pathLenConstraint` is at least the number of
//!   endorsements below it that are not self-issued ([`CertificateRule::PathLengthExceeded`]).
//!
//! So a key that was only ever certified as a node (an end entity, `CA:FALSE`) cannot
//! vouch for another key by appearing among the endorsements. Not checked: revocation,
//! name constraints and policies (a critical one is rejected as unknown), extended key
//! usage (receipts define none; a critical one is rejected as unknown), and the service
//! certificate's own signature (it is the trust anchor).
//!
//! [`CertificateRole`]: crate::CertificateRole
//! [`CertificateRule`]: crate::CertificateRule
//! [`CertificateRule::BadSignature`]: crate::CertificateRule::BadSignature
//! [`CertificateRule::DuplicateExtension`]: crate::CertificateRule::DuplicateExtension
//! [`CertificateRule::Expired`]: crate::CertificateRule::Expired
//! [`CertificateRule::IssuerMismatch`]: crate::CertificateRule::IssuerMismatch
//! [`CertificateRule::MalformedExtension`]: crate::CertificateRule::MalformedExtension
//! [`CertificateRule::NoDigitalSignature`]: crate::CertificateRule::NoDigitalSignature
//! [`CertificateRule::NoKeyCertSign`]: crate::CertificateRule::NoKeyCertSign
//! [`CertificateRule::NotACa`]: crate::CertificateRule::NotACa
//! [`CertificateRule::NotYetValid`]: crate::CertificateRule::NotYetValid
//! [`CertificateRule::PathLengthExceeded`]: crate::CertificateRule::PathLengthExceeded
//! [`CertificateRule::UnknownCriticalExtension`]: crate::CertificateRule::UnknownCriticalExtension
//! [`CertificateRule::UnsupportedAlgorithm`]: crate::CertificateRule::UnsupportedAlgorithm
//! [`RejectedCertificate`]: crate::RejectedCertificate
//!
//! # Example
//!
//! ```
//! use ledger_core::{fold_proof, LeafComponents, NodeIdentity, NodeSigner, ProofStep, Receipt};
//! use ledger_core::{ServiceIdentity, NO_CLAIMS};
//!
//! let service = ServiceIdentity::generate("my service")?;
//! let node = NodeIdentity::generate(&service, "node0")?;
//!
//! // A two-leaf tree: leaf 0 is 32 zero bytes (as CCF does), leaf 1 is transaction 1.1,
//! // whose commit evidence the ledger derives from its secret (any nonce will do here).
//! let tx = LeafComponents {
//!     write_set_digest: [7; 32],
//!     commit_evidence: format!("ce:1.1:{}", "5c".repeat(32)),
//!     claims_digest: NO_CLAIMS,
//! };
//! let leaf0 = [0u8; 32];
//! let root = fold_proof(&tx.leaf_hash(), &[ProofStep::Left(leaf0)]);
//! let signature = node.sign_root(&root)?;
//!
//! let receipt = Receipt::build(
//!     node.certificate_pem(),
//!     node.node_id(),
//!     tx,
//!     1,        // leaf index (the seqno)
//!     2,        // tree size the signature covers
//!     &[leaf0], // RFC 9162 audit path
//!     &signature,
//! )?;
//! receipt.verify(service.certificate_pem())?;
//! assert_eq!(Receipt::from_json(&receipt.to_json())?, receipt);
//! # Ok::<(), ledger_core::Error>(())
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use lru::LruCache;
use parking_lot::Mutex;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::claims::{
    application_claims_digest, application_claims_to_json, present, ApplicationClaim, ClaimList,
};
use crate::error::{excerpt, CertificateRole};
use crate::identity::{validate_path, ParsedCert, Violation};
use crate::leaf::{digest_hex, is_lower_hex, parse_digest_hex, LeafComponents};
use crate::{Error, Problem, Result, TxId};

use crate::leaf::Digest;

/// Most proof elements a receipt may carry: a tree of at most 2^64 leaves is at most 64
/// levels deep.
pub const MAX_PROOF_LEN: usize = 64;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One element of an inclusion proof: a sibling digest and the side it sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProofStep {
    /// The sibling is on the left: the parent is SHA-256(sibling ‖ acc).
    Left(Digest),
    /// The sibling is on the right: the parent is SHA-256(acc ‖ sibling).
    Right(Digest),
}

impl ProofStep {
    /// The sibling digest.
    pub fn digest(&self) -> &Digest {
        match self {
            ProofStep::Left(d) | ProofStep::Right(d) => d,
        }
    }

    /// The parent of `acc` and this step's sibling.
    pub fn apply(&self, acc: &Digest) -> Digest {
        let mut hasher = Sha256::new();
        match self {
            ProofStep::Left(sibling) => {
                hasher.update(sibling);
                hasher.update(acc);
            }
            ProofStep::Right(sibling) => {
                hasher.update(acc);
                hasher.update(sibling);
            }
        }
        hasher.finalize().into()
    }
}

/// Folds `proof` over `leaf`, giving the root the proof claims.
pub fn fold_proof(leaf: &Digest, proof: &[ProofStep]) -> Digest {
    proof.iter().fold(*leaf, |acc, step| step.apply(&acc))
}

/// Labels an RFC 9162 audit path (leaf to root, as `MerkleTree::inclusion_proof(index,
/// tree_size)` returns it) with the side of each sibling.
///
/// # Errors
///
/// [`Error::InvalidInput`] if `tree_size` is 0 (`what = "tree size"`, [`Problem::Empty`]),
/// `index >= tree_size` (`"leaf index"`, [`Problem::TooLarge`]) or the path's length is not
/// the one a tree of `tree_size` leaves gives leaf `index` (`"audit path"`,
/// [`Problem::Mismatch`]).
pub fn proof_steps(index: u64, tree_size: u64, path: &[Digest]) -> Result<Vec<ProofStep>> {
    if tree_size == 0 {
        return Err(Error::invalid("tree size", Problem::Empty));
    }
    if index >= tree_size {
        return Err(Error::too_large("leaf index", index, tree_size - 1));
    }
    let wrong_length = || {
        Error::invalid(
            "audit path",
            Problem::Mismatch {
                expected: format!(
                    "{} elements for leaf {index} of a tree of {tree_size} leaves",
                    audit_path_len(index, tree_size)
                ),
                found: format!("{} elements", path.len()),
            },
        )
    };
    // RFC 9162 section 2.1.3.2: `node` is the position of the running hash in its level,
    // `last` the position of that level's last node.
    let mut node = index;
    let mut last = tree_size - 1;
    let mut steps = Vec::with_capacity(path.len());
    for sibling in path {
        if last == 0 {
            return Err(wrong_length());
        }
        if node & 1 == 1 || node == last {
            steps.push(ProofStep::Left(*sibling));
            if node & 1 == 0 {
                // A right-edge node without a sibling at this level is promoted unchanged.
                while node & 1 == 0 && node != 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            steps.push(ProofStep::Right(*sibling));
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(wrong_length());
    }
    Ok(steps)
}

/// The length of the audit path of leaf `index` in a tree of `tree_size` leaves (`index <
/// tree_size`): the walk of [`proof_steps`] without a path.
fn audit_path_len(index: u64, tree_size: u64) -> u64 {
    let mut node = index;
    let mut last = tree_size.saturating_sub(1);
    let mut len = 0;
    while last != 0 {
        if node & 1 == 0 && node == last {
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        }
        node >>= 1;
        last >>= 1;
        len += 1;
    }
    len
}

/// A receipt for one transaction. See the module documentation for its JSON form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The certificate of the node that signed the root, PEM.
    pub cert: Arc<str>,
    /// The signing node's id: lowercase hex SHA-256 of its public key's DER
    /// SubjectPublicKeyInfo. Empty when the receipt carried none (CCF and ACL may leave it
    /// out): verification then checks no node id, and [`Receipt::to_json`] leaves the key
    /// out.
    pub node_id: Arc<str>,
    /// What the transaction's leaf is computed from.
    pub leaf_components: LeafComponents,
    /// The inclusion proof, leaf to root.
    pub proof: Vec<ProofStep>,
    /// The node's DER-encoded ECDSA signature over the root, on the curve of the node
    /// certificate's key (P-256 or P-384).
    pub signature: Arc<[u8]>,
    /// Certificates (PEM) through which the service certificate endorses the node
    /// certificate, nearest the node first; empty when the service signed it directly.
    pub service_endorsements: Vec<String>,
}

impl Receipt {
    /// Assembles a receipt from a signed root's parts and an RFC 9162 audit path for leaf
    /// `index` in the tree of the first `tree_size` leaves (whose root `signature_der`
    /// signs). Nothing is parsed or verified; the strings are copied once. To share the
    /// certificate, node id and signature between many receipts without copying, use
    /// [`Receipt::build_shared`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the path does not fit `index` and `tree_size` (see
    /// [`proof_steps`]).
    pub fn build(
        cert_pem: &str,
        node_id: &str,
        leaf_components: LeafComponents,
        index: u64,
        tree_size: u64,
        path: &[Digest],
        signature_der: &[u8],
    ) -> Result<Self> {
        Self::build_shared(
            Arc::from(cert_pem),
            Arc::from(node_id),
            leaf_components,
            index,
            tree_size,
            path,
            Arc::from(signature_der),
        )
    }

    /// Like [`Receipt::build`], taking shared strings: every receipt under one signature can
    /// point at the same certificate, node id and signature.
    ///
    /// # Errors
    ///
    /// As [`Receipt::build`].
    pub fn build_shared(
        cert_pem: Arc<str>,
        node_id: Arc<str>,
        leaf_components: LeafComponents,
        index: u64,
        tree_size: u64,
        path: &[Digest],
        signature_der: Arc<[u8]>,
    ) -> Result<Self> {
        Ok(Self {
            cert: cert_pem,
            node_id,
            leaf_components,
            proof: proof_steps(index, tree_size, path)?,
            signature: signature_der,
            service_endorsements: Vec::new(),
        })
    }

    /// The transaction this receipt covers, as named by its commit evidence.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the commit evidence is malformed.
    pub fn tx_id(&self) -> Result<TxId> {
        self.leaf_components.tx_id()
    }

    /// The transaction's leaf, recomputed from the leaf components.
    pub fn leaf(&self) -> Digest {
        self.leaf_components.leaf_hash()
    }

    /// The root this receipt claims: the leaf folded with the proof.
    ///
    /// # Errors
    ///
    /// [`Error::ReceiptInvalid`] (check `"proof length"`) if the proof has more than
    /// [`MAX_PROOF_LEN`] elements.
    pub fn root(&self) -> Result<Digest> {
        if self.proof.len() > MAX_PROOF_LEN {
            return Err(Error::receipt(
                "proof length",
                format_args!(
                    "the proof has {} elements, more than the {MAX_PROOF_LEN} of any tree",
                    self.proof.len()
                ),
            ));
        }
        Ok(fold_proof(&self.leaf(), &self.proof))
    }

    /// Verifies this receipt against the service certificate (PEM), now.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `service_certificate_pem` is not a certificate with a P-256
    /// or P-384 key; [`Error::ReceiptInvalid`] naming the check that failed (see the module
    /// docs).
    pub fn verify(&self, service_certificate_pem: &str) -> Result<()> {
        ReceiptVerifier::new(service_certificate_pem)?.verify(self)
    }

    /// Verifies this receipt against the service certificate (PEM) as of time `at`: every
    /// certificate of its path must be valid at `at`. See the module's `# Verification`, `##
    /// At what time`, for choosing `at` for a receipt issued long ago.
    ///
    /// # Errors
    ///
    /// As [`Receipt::verify`].
    pub fn verify_at(&self, service_certificate_pem: &str, at: SystemTime) -> Result<()> {
        ReceiptVerifier::new(service_certificate_pem)?.verify_at(self, at)
    }

    /// Checks that `claims` are this receipt's application claims: their claims digest
    /// ([`crate::application_claims_digest`]) is the leaf's `claims_digest`. This checks the
    /// claims against the receipt only; verify the receipt itself too.
    ///
    /// # Errors
    ///
    /// [`Error::ReceiptInvalid`] with check `"claims digest"` if the digests differ;
    /// [`Error::InvalidInput`] if the claims have no digest (an empty list, an unknown
    /// protocol).
    pub fn verify_claims(&self, claims: &[ApplicationClaim]) -> Result<()> {
        let computed = application_claims_digest(claims)?;
        let expected = &self.leaf_components.claims_digest;
        if computed != *expected {
            return Err(Error::receipt(
                "claims digest",
                format_args!(
                    "the application claims digest to {}, the receipt's claims digest is {}",
                    digest_hex(&computed).as_str(),
                    digest_hex(expected).as_str()
                ),
            ));
        }
        Ok(())
    }

    /// The receipt's JSON (see the module's `# Format`).
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(
            self.cert.len()
                + 400
                + self.proof.len() * 80
                + self
                    .service_endorsements
                    .iter()
                    .map(String::len)
                    .sum::<usize>(),
        );
        out.push_str("{\"cert\":");
        push_json_string(&mut out, &self.cert);
        if !self.node_id.is_empty() {
            out.push_str(",\"node_id\":");
            push_json_string(&mut out, &self.node_id);
        }
        out.push_str(",\"leaf_components\":{\"write_set_digest\":\"");
        out.push_str(digest_hex(&self.leaf_components.write_set_digest).as_str());
        out.push_str("\",\"commit_evidence\":");
        push_json_string(&mut out, &self.leaf_components.commit_evidence);
        out.push_str(",\"claims_digest\":\"");
        out.push_str(digest_hex(&self.leaf_components.claims_digest).as_str());
        out.push_str("\"},\"proof\":[");
        for (i, step) in self.proof.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(match step {
                ProofStep::Left(_) => "{\"left\":\"",
                ProofStep::Right(_) => "{\"right\":\"",
            });
            out.push_str(digest_hex(step.digest()).as_str());
            out.push_str("\"}");
        }
        out.push_str("],\"signature\":\"");
        BASE64.encode_string(&self.signature, &mut out);
        out.push_str("\",\"service_endorsements\":[");
        for (i, endorsement) in self.service_endorsements.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_string(&mut out, endorsement);
        }
        out.push_str("]}");
        out
    }

    /// Parses a receipt's JSON in any form CCF and ACL serve, strictly otherwise (see the
    /// module's `# Format`). Never panics.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with `what = "receipt JSON"` and a [`Problem::Malformed`]
    /// whose reason is the first problem found.
    pub fn from_json(json: &str) -> Result<Self> {
        serde_json::from_str(json).map_err(|e| Error::malformed("receipt JSON", excerpt(json), e))
    }
}

/// Appends `s` as a JSON string literal (RFC 8259 section 7).
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                out.push_str("\\u00");
                out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

impl Serialize for ProofStep {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        let (key, digest) = match self {
            ProofStep::Left(d) => ("left", d),
            ProofStep::Right(d) => ("right", d),
        };
        map.serialize_entry(key, digest_hex(digest).as_str())?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ProofStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "lowercase")]
        enum Side {
            Left,
            Right,
        }

        struct StepVisitor;

        impl<'de> Visitor<'de> for StepVisitor {
            type Value = ProofStep;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an object with exactly one key, "left" or "right""#)
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<ProofStep, A::Error> {
                let side: Side = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("empty proof element"))?;
                let value: Cow<'de, str> = map.next_value()?;
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(
                        "a proof element must have exactly one key",
                    ));
                }
                let digest = parse_digest_hex(&value).ok_or_else(|| {
                    de::Error::custom("a proof digest must be 64 lowercase hex characters")
                })?;
                Ok(match side {
                    Side::Left => ProofStep::Left(digest),
                    Side::Right => ProofStep::Right(digest),
                })
            }
        }

        deserializer.deserialize_map(StepVisitor)
    }
}

impl Serialize for Receipt {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Receipt", 6)?;
        s.serialize_field("cert", &*self.cert)?;
        if self.node_id.is_empty() {
            s.skip_field("node_id")?;
        } else {
            s.serialize_field("node_id", &*self.node_id)?;
        }
        s.serialize_field("leaf_components", &self.leaf_components)?;
        s.serialize_field("proof", &self.proof)?;
        s.serialize_field("signature", &BASE64.encode(&self.signature))?;
        s.serialize_field("service_endorsements", &self.service_endorsements)?;
        s.end()
    }
}

/// A receipt as served: every key in snake_case or camelCase (serde treats the two spellings
/// as one field, so giving both is a duplicate), the optional members absent but never
/// `null`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptWire<'a> {
    #[serde(borrow)]
    cert: Cow<'a, str>,
    #[serde(default, alias = "nodeId", deserialize_with = "present")]
    node_id: Option<String>,
    #[serde(alias = "leafComponents")]
    leaf_components: LeafComponents,
    proof: Vec<ProofStep>,
    #[serde(borrow)]
    signature: Cow<'a, str>,
    #[serde(default, alias = "serviceEndorsements", deserialize_with = "present")]
    service_endorsements: Option<Vec<String>>,
    #[serde(
        default,
        alias = "isSignatureTransaction",
        deserialize_with = "present"
    )]
    is_signature_transaction: Option<bool>,
}

impl<'de> Deserialize<'de> for Receipt {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let wire = ReceiptWire::deserialize(deserializer)?;
        if wire.is_signature_transaction == Some(true) {
            return Err(de::Error::custom(
                "a receipt for a signature transaction (is_signature_transaction: true) has no \
                 leaf components and is not supported",
            ));
        }
        // Absent reads as empty; present, it must be a whole node id.
        if wire
            .node_id
            .as_deref()
            .is_some_and(|id| !is_lower_hex(id, 64))
        {
            return Err(de::Error::custom(
                "node_id must be 64 lowercase hex characters",
            ));
        }
        let node_id = wire.node_id.unwrap_or_default();
        if wire.proof.len() > MAX_PROOF_LEN {
            return Err(de::Error::custom(format!(
                "a proof has at most {MAX_PROOF_LEN} elements"
            )));
        }
        let signature = BASE64
            .decode(wire.signature.as_bytes())
            .map_err(|e| de::Error::custom(format!("signature is not standard base64: {e}")))?;
        if signature.is_empty() {
            return Err(de::Error::custom("signature is empty"));
        }
        if wire.cert.is_empty() {
            return Err(de::Error::custom("cert is empty"));
        }
        Ok(Receipt {
            cert: Arc::from(wire.cert.as_ref()),
            node_id: Arc::from(node_id),
            leaf_components: wire.leaf_components,
            proof: wire.proof,
            signature: Arc::from(signature),
            service_endorsements: wire.service_endorsements.unwrap_or_default(),
        })
    }
}

/// A receipt as Azure Confidential Ledger's REST API serves it: the receipt with what the
/// get-receipt response carries around it. See the module's `# Format`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The transaction's application claims (`applicationClaims`); empty when the response
    /// had none.
    pub application_claims: Vec<ApplicationClaim>,
    /// The transaction the response names (`transactionId`); it is the one the receipt's
    /// commit evidence names.
    pub transaction_id: Option<TxId>,
    /// The response's `state` (`"Ready"` for a receipt).
    pub state: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServedWire {
    receipt: Receipt,
    #[serde(default, rename = "applicationClaims", deserialize_with = "present")]
    application_claims: Option<ClaimList>,
    #[serde(default, deserialize_with = "present")]
    state: Option<String>,
    #[serde(default, rename = "transactionId", deserialize_with = "present")]
    transaction_id: Option<String>,
}

/// The top-level keys of a JSON object, values skipped.
struct TopLevelKeys(Vec<String>);

impl<'de> Deserialize<'de> for TopLevelKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct KeysVisitor;

        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = TopLevelKeys;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<TopLevelKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    map.next_value::<de::IgnoredAny>()?;
                    keys.push(key.into_owned());
                }
                Ok(TopLevelKeys(keys))
            }
        }

        deserializer.deserialize_map(KeysVisitor)
    }
}

impl ServedReceipt {
    /// Parses a get-receipt response (`{"receipt": ..., "applicationClaims": ..., "state":
    /// ..., "transactionId": ...}`) or a bare receipt in any form [`Receipt::from_json`]
    /// reads. A response is recognized by its `receipt` member; it may have no other key but
    /// the three named. Never panics.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with `what = "receipt JSON"` and a [`Problem::Malformed`]
    /// whose reason is the first problem found (in the receipt as [`Receipt::from_json`]
    /// reports it, in the claims as [`crate::application_claims_from_json`] does); with
    /// `what = "transaction id"` and a [`Problem::Mismatch`] if `transactionId` is not the
    /// transaction of the receipt's commit evidence.
    pub fn from_json(json: &str) -> Result<Self> {
        let malformed = |e: serde_json::Error| Error::malformed("receipt JSON", excerpt(json), e);
        let keys: TopLevelKeys = serde_json::from_str(json).map_err(malformed)?;
        if !keys.0.iter().any(|k| k == "receipt") {
            return Ok(Self {
                receipt: Receipt::from_json(json)?,
                application_claims: Vec::new(),
                transaction_id: None,
                state: None,
            });
        }
        let wire: ServedWire = serde_json::from_str(json).map_err(malformed)?;
        let transaction_id = match wire.transaction_id {
            None => None,
            Some(text) => {
                let id: TxId = text.parse()?;
                let named = wire.receipt.tx_id()?;
                if id != named {
                    return Err(Error::invalid(
                        "transaction id",
                        Problem::Mismatch {
                            expected: format!("{named}, the receipt's commit evidence's"),
                            found: id.to_string(),
                        },
                    ));
                }
                Some(id)
            }
        };
        Ok(Self {
            receipt: wire.receipt,
            application_claims: wire.application_claims.map(|c| c.0).unwrap_or_default(),
            transaction_id,
            state: wire.state,
        })
    }

    /// The response's JSON: `{"receipt": <Receipt::to_json>, "applicationClaims": [...],
    /// "state": ..., "transactionId": ...}`, the optional members only when present, compact.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"receipt\":");
        out.push_str(&self.receipt.to_json());
        if !self.application_claims.is_empty() {
            out.push_str(",\"applicationClaims\":");
            out.push_str(&application_claims_to_json(&self.application_claims));
        }
        if let Some(state) = &self.state {
            out.push_str(",\"state\":");
            push_json_string(&mut out, state);
        }
        if let Some(id) = &self.transaction_id {
            out.push_str(",\"transactionId\":");
            push_json_string(&mut out, &id.to_string());
        }
        out.push('}');
        out
    }

    /// Verifies the receipt against the service certificate (PEM) now, and its application
    /// claims, if any, against the receipt's claims digest ([`Receipt::verify_claims`]). With
    /// no claims the claims digest is not looked at, as the SDK's `verify_receipt` does.
    ///
    /// # Errors
    ///
    /// As [`Receipt::verify`] and [`Receipt::verify_claims`].
    pub fn verify(&self, service_certificate_pem: &str) -> Result<()> {
        self.verify_at(service_certificate_pem, SystemTime::now())
    }

    /// [`ServedReceipt::verify`] as of time `at` (see [`Receipt::verify_at`]).
    ///
    /// # Errors
    ///
    /// As [`ServedReceipt::verify`].
    pub fn verify_at(&self, service_certificate_pem: &str, at: SystemTime) -> Result<()> {
        self.verify_with(&ReceiptVerifier::new(service_certificate_pem)?, at)
    }

    /// [`ServedReceipt::verify_at`] with a verifier that already holds the service
    /// certificate.
    ///
    /// # Errors
    ///
    /// As [`ServedReceipt::verify`].
    pub fn verify_with(&self, verifier: &ReceiptVerifier, at: SystemTime) -> Result<()> {
        if !self.application_claims.is_empty() {
            self.receipt.verify_claims(&self.application_claims)?;
        }
        verifier.verify_at(&self.receipt, at)
    }
}

/// How many validated certificate paths a [`ReceiptVerifier`] made with
/// [`ReceiptVerifier::new`] keeps: more than the node certificates of any service's history
/// that receipts are commonly verified from at once (one per node and view).
pub const RECEIPT_VERIFIER_CACHE_LEN: usize = 64;

/// Verifies receipts, JSON and COSE, against one service certificate, parsing it (and its key,
/// for the verification backend) once.
///
/// It keeps the certificate paths it validated in a bounded cache, least recently used
/// first out ([`RECEIPT_VERIFIER_CACHE_LEN`] entries, or the capacity given to
/// [`ReceiptVerifier::with_cache_capacity`]), so that receipts from a ledger whose roots were
/// signed by several nodes across views cost one signature verification each. The key of an
/// entry is the SHA-256 of the receipt's node certificate and service endorsements exactly as
/// given (each length-prefixed): a receipt is served from the cache only when its whole path
/// is the one validated, and a path that failed is not kept. Of the path rules, only the
/// validity periods depend on anything but the path and the service certificate, and they
/// are checked again at the verification time on every call, in the path's order (node,
/// endorsements, service), so a cached path gives the same verdict as a fresh validation.
///
/// `Send + Sync`: share one across threads.
pub struct ReceiptVerifier {
    service: ParsedCert,
    paths: Mutex<LruCache<Digest, Arc<ValidatedPath>>>,
    /// Full path validations done (cache misses that validated), for tests.
    #[cfg(test)]
    validations: std::sync::atomic::AtomicUsize,
    /// Signatures verified by the batch calls, for tests.
    #[cfg(test)]
    batch_signature_checks: std::sync::atomic::AtomicUsize,
}

/// A certificate path that passed every rule of the module's `# Certificate paths` (at some
/// time): the node certificate and the endorsements, nearest the node first.
struct ValidatedPath {
    node: ParsedCert,
    endorsements: Vec<ParsedCert>,
}

impl ValidatedPath {
    /// Checks the path's validity periods at `at`, in the order a fresh validation reports
    /// them: the node, the endorsements, the service.
    fn valid_at(&self, service: &ParsedCert, at: SystemTime) -> Result<()> {
        let rejected = |role, v: Violation| Error::certificate_rejected(role, v.rule, v.detail);
        self.node
            .validity_at(at)
            .map_err(|v| rejected(CertificateRole::Node, v))?;
        for (i, cert) in self.endorsements.iter().enumerate() {
            cert.validity_at(at)
                .map_err(|v| rejected(CertificateRole::Endorsement(i), v))?;
        }
        service
            .validity_at(at)
            .map_err(|v| rejected(CertificateRole::Service, v))
    }
}

/// The cache key of a receipt's certificate path: SHA-256 over the number of endorsements,
/// then the node certificate and each endorsement as given, each preceded by its length.
fn path_key(receipt: &Receipt) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update((receipt.service_endorsements.len() as u64).to_be_bytes());
    for text in std::iter::once(&*receipt.cert)
        .chain(receipt.service_endorsements.iter().map(String::as_str))
    {
        hasher.update((text.len() as u64).to_be_bytes());
        hasher.update(text.as_bytes());
    }
    hasher.finalize().into()
}

/// An [`Error::ReceiptInvalid`] kept to be reported for every receipt of a batch it concerns.
#[derive(Clone)]
pub(crate) struct Failure {
    check: &'static str,
    detail: String,
    rejected: Option<crate::RejectedCertificate>,
}

impl Failure {
    /// The failure of `error`, if it is an [`Error::ReceiptInvalid`] (what the checks shared by
    /// receipts of a batch fail with).
    pub(crate) fn of(error: &Error) -> Option<Self> {
        match error {
            Error::ReceiptInvalid {
                check,
                detail,
                rejected,
            } => Some(Self {
                check,
                detail: detail.clone(),
                rejected: rejected.clone(),
            }),
            _ => None,
        }
    }

    pub(crate) fn error(&self) -> Error {
        Error::ReceiptInvalid {
            check: self.check,
            detail: self.detail.clone(),
            rejected: self.rejected.clone(),
        }
    }
}

impl ReceiptVerifier {
    /// A verifier trusting `service_certificate` (PEM or DER), keeping up to
    /// [`RECEIPT_VERIFIER_CACHE_LEN`] validated certificate paths.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "service certificate"`) if it is not a certificate
    /// with a P-256 or P-384 key (the message names the algorithm or curve found). A PEM
    /// certificate may be followed by whitespace and one NUL byte, as services have served
    /// it, and by nothing else.
    pub fn new(service_certificate: impl AsRef<[u8]>) -> Result<Self> {
        const DEFAULT: NonZeroUsize = match NonZeroUsize::new(RECEIPT_VERIFIER_CACHE_LEN) {
            Some(n) => n,
            None => NonZeroUsize::MIN,
        };
        Self::with_cache_capacity(service_certificate, DEFAULT)
    }

    /// [`ReceiptVerifier::new`], keeping up to `capacity` validated certificate paths.
    ///
    /// # Errors
    ///
    /// As [`ReceiptVerifier::new`].
    pub fn with_cache_capacity(
        service_certificate: impl AsRef<[u8]>,
        capacity: NonZeroUsize,
    ) -> Result<Self> {
        let input = service_certificate.as_ref();
        let service = ParsedCert::parse(input).map_err(|e| {
            let shown = match std::str::from_utf8(input) {
                Ok(text) => excerpt(text.trim_start()),
                Err(_) => format!("{} bytes of DER", input.len()),
            };
            Error::malformed("service certificate", shown, e)
        })?;
        Ok(Self {
            service,
            paths: Mutex::new(LruCache::new(capacity)),
            #[cfg(test)]
            validations: std::sync::atomic::AtomicUsize::new(0),
            #[cfg(test)]
            batch_signature_checks: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// Verifies `receipt` now.
    ///
    /// # Errors
    ///
    /// [`Error::ReceiptInvalid`] naming the check that failed: `"node certificate"` or
    /// `"service endorsement"` (does not parse), `"certificate chain"` (with the
    /// [`RejectedCertificate`](crate::RejectedCertificate) and the rule it broke, see the module's `# Certificate
    /// paths`), `"node id"`, `"proof length"` or `"signature"`.
    pub fn verify(&self, receipt: &Receipt) -> Result<()> {
        self.verify_at(receipt, SystemTime::now())
    }

    /// Verifies `receipt` as of time `at`: every certificate of its path must be valid at
    /// `at`. See the module's `# Verification`, `## At what time`, for choosing `at` for a
    /// receipt issued long ago.
    ///
    /// # Errors
    ///
    /// As [`ReceiptVerifier::verify`].
    pub fn verify_at(&self, receipt: &Receipt, at: SystemTime) -> Result<()> {
        let path = self.endorsed_path(receipt, at)?;
        check_node_id(receipt, &path.node)?;
        let root = receipt.root()?;
        path.node
            .verify_root_signature(&root, &receipt.signature)
            .map_err(|e| Error::receipt("signature", e))
    }

    /// Verifies each of `receipts` as of time `at`, as [`ReceiptVerifier::verify_at`] would,
    /// checking what receipts share once: each distinct certificate path is looked up (and
    /// its validity at `at` checked) once per run of receipts that carry it, and each distinct
    /// signature (by the same node certificate over the same root) is verified once. Each
    /// receipt's own node id and proof are checked on their own, so a forged receipt fails
    /// alone, with the error `verify_at` gives it.
    ///
    /// The result has one entry per receipt, in order; [`ReceiptVerifier::failures`] lists
    /// the indices that failed.
    ///
    /// # Errors
    ///
    /// Each failed entry holds the error [`ReceiptVerifier::verify_at`] gives that receipt.
    pub fn verify_batch(&self, receipts: &[Receipt], at: SystemTime) -> Vec<Result<()>> {
        // The path of the previous receipt, reused while receipts carry the same one.
        let mut last_path: Option<(&Receipt, std::result::Result<Arc<ValidatedPath>, Failure>)> =
            None;
        // Signature verdicts by (validated path, root, signature). The paths are kept alive
        // by `held`, so their addresses are not reused during the batch.
        let mut held: Vec<Arc<ValidatedPath>> = Vec::new();
        let mut signatures: HashMap<(usize, Digest, &[u8]), std::result::Result<(), String>> =
            HashMap::new();
        receipts
            .iter()
            .map(|receipt| {
                let path = match &last_path {
                    Some((previous, verdict)) if same_path(previous, receipt) => verdict.clone(),
                    _ => {
                        let verdict = match self.endorsed_path(receipt, at) {
                            Ok(path) => Ok(path),
                            Err(e) => match Failure::of(&e) {
                                Some(failure) => Err(failure),
                                None => return Err(e),
                            },
                        };
                        last_path = Some((receipt, verdict.clone()));
                        verdict
                    }
                };
                let path = path.map_err(|f| f.error())?;
                check_node_id(receipt, &path.node)?;
                let root = receipt.root()?;
                let key = (Arc::as_ptr(&path) as usize, root, &*receipt.signature);
                let verdict = match signatures.get(&key) {
                    Some(verdict) => verdict.clone(),
                    None => {
                        #[cfg(test)]
                        self.count_batch_signature_check();
                        let verdict = path.node.verify_root_signature(&root, &receipt.signature);
                        signatures.insert(key, verdict.clone());
                        held.push(path);
                        verdict
                    }
                };
                verdict.map_err(|e| Error::receipt("signature", e))
            })
            .collect()
    }

    /// The indices of the failed entries of a [`ReceiptVerifier::verify_batch`] or
    /// [`ReceiptVerifier::verify_cose_batch`] result, with their errors.
    pub fn failures<T>(results: &[Result<T>]) -> Vec<(usize, &Error)> {
        results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn count_batch_signature_check(&self) {
        self.batch_signature_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The trusted service certificate.
    pub(crate) fn service(&self) -> &ParsedCert {
        &self.service
    }

    /// The receipt's certificate path, validated to the service certificate at `at` (see the
    /// module's `# Certificate paths`): from the cache, its validity periods checked at `at`,
    /// or parsed, validated and cached.
    fn endorsed_path(&self, receipt: &Receipt, at: SystemTime) -> Result<Arc<ValidatedPath>> {
        let key = path_key(receipt);
        let cached = self.paths.lock().get(&key).map(Arc::clone);
        if let Some(path) = cached {
            path.valid_at(&self.service, at)?;
            return Ok(path);
        }
        let node = ParsedCert::parse(receipt.cert.as_bytes())
            .map_err(|e| Error::receipt("node certificate", e))?;
        let mut endorsements = Vec::with_capacity(receipt.service_endorsements.len());
        for (i, pem) in receipt.service_endorsements.iter().enumerate() {
            endorsements
                .push(ParsedCert::parse(pem.as_bytes()).map_err(|e| {
                    Error::receipt("service endorsement", format_args!("{i}: {e}"))
                })?);
        }
        validate_path(&node, &endorsements, &self.service, Some(at))
            .map_err(|(role, v)| Error::certificate_rejected(role, v.rule, v.detail))?;
        #[cfg(test)]
        self.validations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = Arc::new(ValidatedPath { node, endorsements });
        self.paths.lock().put(key, Arc::clone(&path));
        Ok(path)
    }
}

/// Whether two receipts carry the same certificate path, by the strings as given.
fn same_path(a: &Receipt, b: &Receipt) -> bool {
    (Arc::ptr_eq(&a.cert, &b.cert) || a.cert == b.cert)
        && a.service_endorsements == b.service_endorsements
}

/// The receipt's node id, when it carries one, is the node certificate's.
fn check_node_id(receipt: &Receipt, node: &ParsedCert) -> Result<()> {
    if !receipt.node_id.is_empty() && *receipt.node_id != *node.node_id {
        return Err(Error::receipt(
            "node id",
            format_args!(
                "node_id {} is not the SHA-256 of the node certificate's public key ({})",
                receipt.node_id, node.node_id
            ),
        ));
    }
    Ok(())
}

impl fmt::Debug for ReceiptVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptVerifier")
            .field(
                "service_subject",
                &self.service.cert.tbs_certificate.subject.to_string(),
            )
            .field("cached_paths", &self.paths.lock().len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Reference RFC 9162 tree with the CCF profile: leaves as given, interior SHA-256(l ‖ r).
    fn mth(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => [0u8; 32],
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                let k = if k == n { n / 2 } else { k };
                let mut h = Sha256::new();
                h.update(mth(&leaves[..k]));
                h.update(mth(&leaves[k..]));
                h.finalize().into()
            }
        }
    }

    fn path(m: usize, leaves: &[Digest]) -> Vec<Digest> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = n.next_power_of_two() / 2;
        let k = if k == n { n / 2 } else { k };
        if m < k {
            let mut p = path(m, &leaves[..k]);
            p.push(mth(&leaves[k..]));
            p
        } else {
            let mut p = path(m - k, &leaves[k..]);
            p.push(mth(&leaves[..k]));
            p
        }
    }

    #[test]
    fn proof_sides_fold_to_the_root_for_every_leaf_of_small_trees() {
        let leaves: Vec<Digest> = (0u32..70)
            .map(|i| Sha256::digest(i.to_be_bytes()).into())
            .collect();
        for n in 1..=leaves.len() {
            let root = mth(&leaves[..n]);
            for m in 0..n {
                let p = path(m, &leaves[..n]);
                let steps = proof_steps(m as u64, n as u64, &p).unwrap();
                assert_eq!(fold_proof(&leaves[m], &steps), root, "leaf {m} of {n}");
                // A path that is one element short or long is rejected.
                if !p.is_empty() {
                    assert!(proof_steps(m as u64, n as u64, &p[1..]).is_err());
                }
                let mut longer = p.clone();
                longer.push([0u8; 32]);
                let err = proof_steps(m as u64, n as u64, &longer).unwrap_err();
                let want = format!("{} elements for leaf {m} of a tree of {n} leaves", p.len());
                let found = format!("{} elements", longer.len());
                assert!(
                    matches!(&err, Error::InvalidInput {
                        what: "audit path",
                        problem: Problem::Mismatch { expected, found: f },
                    } if *expected == want && *f == found),
                    "{err}"
                );
            }
            assert!(matches!(
                proof_steps(n as u64, n as u64, &[]),
                Err(Error::InvalidInput {
                    what: "leaf index",
                    problem: Problem::TooLarge { size, limit },
                }) if size == n as u64 && limit == n as u64 - 1
            ));
        }
        assert!(matches!(
            proof_steps(0, 0, &[]),
            Err(Error::InvalidInput {
                what: "tree size",
                problem: Problem::Empty
            })
        ));
    }

    /// A service, `nodes` node identities under it, and one receipt per node over a
    /// two-leaf tree (leaf 1 is transaction 1.1).
    fn receipts_of_nodes(nodes: usize) -> (crate::ServiceIdentity, Vec<Receipt>) {
        use crate::identity::NodeSigner as _;
        let service = crate::ServiceIdentity::generate("cache test").unwrap();
        let receipts = (0..nodes)
            .map(|i| {
                let node = crate::NodeIdentity::generate(&service, &format!("node{i}")).unwrap();
                let tx = LeafComponents {
                    write_set_digest: [i as u8; 32],
                    commit_evidence: format!("ce:1.1:{}", "5c".repeat(32)),
                    claims_digest: crate::NO_CLAIMS,
                };
                let leaf0 = [0u8; 32];
                let root = fold_proof(&tx.leaf_hash(), &[ProofStep::Left(leaf0)]);
                let signature = node.sign_root(&root).unwrap();
                Receipt::build(
                    node.certificate_pem(),
                    node.node_id(),
                    tx,
                    1,
                    2,
                    &[leaf0],
                    &signature,
                )
                .unwrap()
            })
            .collect();
        (service, receipts)
    }

    fn validations(verifier: &ReceiptVerifier) -> usize {
        verifier
            .validations
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    #[test]
    fn paths_of_several_node_certificates_are_validated_once_each() {
        let (service, receipts) = receipts_of_nodes(3);
        let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
        // Interleaved, as receipts of a ledger signed by several nodes across views come:
        // remembering only the last node certificate would validate a path on every call.
        for round in 0..10 {
            for receipt in &receipts {
                verifier.verify(receipt).unwrap();
            }
            assert_eq!(validations(&verifier), 3, "round {round}");
        }
        // A bounded cache: with room for two paths, cycling through three evicts the least
        // recently used each time, and every receipt still verifies.
        let small = ReceiptVerifier::with_cache_capacity(
            service.certificate_pem(),
            NonZeroUsize::new(2).unwrap(),
        )
        .unwrap();
        for receipt in receipts.iter().cycle().take(9) {
            small.verify(receipt).unwrap();
        }
        assert_eq!(validations(&small), 9);
        assert_eq!(small.paths.lock().len(), 2);
        // Two of the three fit: alternating between them validates nothing more.
        for receipt in receipts[1..].iter().cycle().take(10) {
            small.verify(receipt).unwrap();
        }
        assert_eq!(validations(&small), 9);
        // A path that fails is not kept.
        let mut unendorsed = receipts[0].clone();
        unendorsed.cert = Arc::from(
            crate::NodeIdentity::generate(
                &crate::ServiceIdentity::generate("another service").unwrap(),
                "stranger",
            )
            .unwrap()
            .certificate_pem(),
        );
        for _ in 0..2 {
            assert!(verifier.verify(&unendorsed).is_err());
        }
        assert_eq!(validations(&verifier), 3);
        assert_eq!(verifier.paths.lock().len(), 3);
    }

    #[test]
    fn a_batch_under_one_root_verifies_its_signature_once() {
        use crate::identity::NodeSigner as _;
        let service = crate::ServiceIdentity::generate("batch test").unwrap();
        let node = crate::NodeIdentity::generate(&service, "node0").unwrap();
        let leaves: Vec<LeafComponents> = (0..16u8)
            .map(|i| LeafComponents {
                write_set_digest: [i; 32],
                commit_evidence: format!("ce:1.{}:{}", u32::from(i) + 1, "5c".repeat(32)),
                claims_digest: crate::NO_CLAIMS,
            })
            .collect();
        let hashes: Vec<Digest> = leaves.iter().map(LeafComponents::leaf_hash).collect();
        let root = mth(&hashes);
        let signature: Arc<[u8]> = Arc::from(node.sign_root(&root).unwrap());
        let cert: Arc<str> = Arc::from(node.certificate_pem());
        let node_id: Arc<str> = Arc::from(node.node_id());
        let mut receipts: Vec<Receipt> = leaves
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                Receipt::build_shared(
                    Arc::clone(&cert),
                    Arc::clone(&node_id),
                    leaf.clone(),
                    i as u64,
                    16,
                    &path(i, &hashes),
                    Arc::clone(&signature),
                )
                .unwrap()
            })
            .collect();
        let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
        let checks = |v: &ReceiptVerifier| {
            v.batch_signature_checks
                .load(std::sync::atomic::Ordering::Relaxed)
        };
        let at = SystemTime::now();
        assert!(verifier
            .verify_batch(&receipts, at)
            .iter()
            .all(Result::is_ok));
        assert_eq!(checks(&verifier), 1);
        assert_eq!(validations(&verifier), 1);
        // A tampered proof leads to another root: one more check, for that receipt alone.
        let (ProofStep::Left(d) | ProofStep::Right(d)) = &mut receipts[5].proof[0];
        d[0] ^= 1;
        let results = verifier.verify_batch(&receipts, at);
        assert_eq!(checks(&verifier), 3);
        let failed: Vec<usize> = ReceiptVerifier::failures(&results)
            .iter()
            .map(|(i, _)| *i)
            .collect();
        assert_eq!(failed, [5]);
    }

    #[test]
    fn verifier_and_receipt_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ReceiptVerifier>();
        assert_send_sync::<Receipt>();
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, "a\"b\\c\nd\u{1}e\u{7f}é");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\u0001e\u{7f}é\"");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}e\u{7f}é");
    }
}
