//! COSE receipts: the service key's COSE_Sign1 over a Merkle root, and receipts made from it
//! (RFC 9942 "COSE Receipts" with the CCF profile, draft-ietf-scitt-receipts-ccf-profile).
//!
//! A signature transaction can carry, beside the node's signature, a COSE_Sign1 by the
//! *service* key over the root it signs ([`sign_root`]). A receipt is that COSE_Sign1 with
//! the proofs added to its unprotected header: [`CoseReceipt`] carries inclusion proofs (one
//! or more transactions are leaves of the signed tree), [`CoseConsistencyReceipt`] carries
//! consistency proofs (an older signed tree is a prefix of the signed one). Anyone holding
//! the service certificate verifies them offline; the official `ccf` Python package
//! (`ccf.cose.verify_receipt` in 6.x, `ccf.receipt.verify_cose` in 7.x) accepts the
//! inclusion receipts unmodified. Nothing here is hand-encoded: the COSE structures are
//! [`coset`]'s and the CBOR is [`ciborium`]'s.
//!
//! Which signature transactions carry a COSE-signed root is the ledger's
//! [`crate::SigningMode`]: `Dual` (the default: the node's signature and the COSE one),
//! `CoseOnly` (the COSE one alone; the payload's node signature is empty and the ledger serves
//! no JSON receipt for what it covers) or `Json` (none). The signed root is stored in table
//! `internal.cose_signatures` under key `root`, written by the signature transaction itself.
//! [`crate::Ledger::cose_receipt`] serves a transaction's inclusion receipt and
//! [`crate::Ledger::cose_consistency_receipt`] the consistency receipt between two
//! COSE-signed roots.
//!
//! # Format
//!
//! All integers are CBOR integers in their shortest form, every length is definite, and
//! everything this module writes is in RFC 8949 section 4.2.1 deterministic encoding (map
//! keys sorted by their encoded bytes). In CBOR diagnostic notation, a signed root is
//!
//! ```text
//! 18([                                  / COSE_Sign1, tagged (d2 84)                   /
//!   << {                                / protected header, bstr-wrapped               /
//!     1: -7,                            / alg: ES256                                   /
//!     4: h'<64 bytes>',                 / kid: the lowercase hex (ASCII) of SHA-256 of  /
//!                                       /   the service key's DER SubjectPublicKeyInfo /
//!     15: {                             / CWT claims (RFC 9597)                        /
//!       1: "<issuer>",                  / iss                                          /
//!       2: "<subject>",                 / sub                                          /
//!       6: <issued at>                  / iat: seconds since the Unix epoch, uint      /
//!     },
//!     395: 2,                           / vds: CCF_LEDGER_SHA256                       /
//!     "ccf.v1": {"txid": "<view>.<seqno>"}  / the signature transaction itself          /
//!   } >>,
//!   {},                                 / unprotected header: empty                    /
//!   nil,                                / payload: detached (the 32-byte root)          /
//!   h'<r ‖ s, 64 bytes>'                / ES256 signature, raw (not DER)               /
//! ])
//! ```
//!
//! so the protected header's bytes are `a5 01 26 04 58 40 <kid> 0f a3 01 <iss> 02 <sub> 06
//! <iat> 19 01 8b 02 66 "ccf.v1" a1 64 "txid" <txid>`. The signature is ECDSA P-256 over
//! SHA-256 of the RFC 9052 `Sig_structure` `["Signature1", <protected bytes>, h'', <root>]`,
//! made through [`ServiceSigner::sign_digest`] and converted from DER to the fixed 64-byte
//! `r ‖ s` COSE uses. These are the entries CCF's own signatures carry (CCF's
//! `src/node/history.h`, `MerkleTreeHistoryPendingTx::call`: alg, kid, vds, CWT claims `iat`,
//! `iss`, `sub`, and `"ccf.v1"` with the `txid` of the signature transaction), and the order
//! CCF's current encoder writes them in (`src/crypto/cose.cpp`, `sign_ledger`, serialized
//! deterministically). CCF 6.x's QCBOR encoder wrote the same entries in insertion order
//! (`alg, kid, vds, CWT {iat, iss, sub}, "ccf.v1"`): the parsers here accept a protected
//! header in any key order, since the signature covers its bytes as they are.
//!
//! A [`CoseReceipt`] is the signed root with the unprotected header
//!
//! ```text
//! { 396: { -1: [ +<< {                  / vdp: inclusion proofs (a1 19 01 8c a1 20 8n) /
//!     1: [h'<write set digest, 32>',    / the leaf components                          /
//!         "ce:<view>.<seqno>:<hex>",
//!         h'<claims digest, 32>'],
//!     2: [ +[<left: bool>, h'<sibling, 32>'] ]   / the path, leaf to root              /
//! } >> ] } }
//! ```
//!
//! exactly as CCF's `describe_merkle_proof_v1` and `ccf::cose::edit::set_unprotected_header`
//! build it (`a2 01 83 58 20 .. 78 .. 58 20 .. 02 8n [82 f5|f4 58 20 ..]*`). `left` is true
//! when the sibling is the left child: the parent is SHA-256(sibling ‖ acc). Several
//! inclusion proofs may share one receipt; every one must lead to the same root.
//!
//! A [`CoseConsistencyReceipt`] is the signed root with the unprotected header
//!
//! ```text
//! { 396: { -2: [ +<< {                  / vdp: consistency proofs (.. a1 21 8n)         /
//!     1: h'<anchor, 32>',
//!     2: [ +[<left: bool>, h'<sibling, 32>'] ]
//! } >> ] } }
//! ```
//!
//! following section 4 ("CCF Consistency Proofs") of draft-ietf-scitt-receipts-ccf-profile in
//! the working group's text of 21 September 2026 (revision -05 appeared days later; -06 could
//! not be read in full here; the known-answer tests use the working group's samples): the
//! anchor is the root of the subtree covering the last `2^t` transactions of the older tree
//! (`2^t` the largest power of two dividing its size `m`, so the older root itself when `m`
//! is a power of two); the path lists the siblings from the anchor up to the newer root, a
//! left sibling belonging to both trees, a right one to the newer tree only. Folding the
//! anchor with the left siblings gives the older root, with all of them the newer root, which
//! the signature covers. Apart from the tags these are the RFC 9162 consistency proof's
//! digests in its order, the anchor being that proof's first element when `m` is not a power
//! of two: [`CoseConsistencyReceipt`] is built from the RFC 9162 proof the ledger serves.
//! Where the draft leaves a choice, this module takes the strict reading: one consistency
//! proof per receipt when it builds one, and a receipt carries either inclusion or
//! consistency proofs, never both (the draft allows both; both parsers here refuse it).
//!
//! # Parsing
//!
//! [`CoseReceipt::from_slice`] and [`CoseConsistencyReceipt::from_slice`] accept exactly
//! what this module writes, apart from the protected header's key order; everything else is
//! an [`Error::InvalidInput`] (`what` = `"COSE receipt"` or `"COSE consistency receipt"`):
//! more than [`MAX_COSE_RECEIPT_LEN`] bytes or [`MAX_COSE_PROOFS`] proofs or a path over
//! [`MAX_PROOF_LEN`] elements ([`Problem::TooLarge`]); a repeated map
//! key anywhere ([`Problem::Duplicate`]); a tag other than 18 or a missing tag, an `alg`
//! other than ES256 or a `vds` other than 2 ([`Problem::Mismatch`]); and, as
//! [`Problem::Malformed`] naming the place and the rule, CBOR that is not well formed,
//! trailing bytes, indefinite lengths, integers or lengths not in their shortest form, map
//! keys out of deterministic order (outside the protected header), a missing, unknown or
//! ill-typed label or element, a payload that is not nil, a signature that is not 64 bytes, a
//! `kid` that is not 64 lowercase hex characters, a `txid` that is not a canonical `view.seqno`
//! and a commit evidence that is not `ce:{view}.{seqno}:{64 lowercase hex}`. So whatever
//! parses re-encodes to the very same bytes.
//!
//! # Verification
//!
//! [`CoseReceipt::verify`] checks that `kid` is the service key's, recomputes each leaf
//! (SHA-256(write set digest ‖ SHA-256(commit evidence) ‖ claims digest)) and folds its path
//! to a root, requires every proof to reach the same root and every proven transaction to be
//! older than the signature transaction (its seqno below, its view not above), then verifies
//! the ES256 signature with that root as the detached payload. [`CoseConsistencyReceipt::verify`]
//! takes the older tree's size and root, which the verifier must already trust (draft section
//! 7.3): a proof whose anchor and left siblings fold to that root is chosen; its tags must be
//! those of an RFC 9162 proof from that size to the size the signature transaction signs (its
//! seqno, SPEC section 5), which also rules out a non-canonical anchor; the untagged proof must
//! pass `ledger_merkle::verify_consistency`; and the signature must verify over the newer root.
//! The service certificate is used for its key only, as the `ccf` verifiers use a key: its
//! validity period is not checked, so old receipts stay verifiable.
//!
//! To verify many receipts, [`crate::ReceiptVerifier::verify_cose`] keeps the service key
//! parsed, and [`crate::ReceiptVerifier::verify_cose_batch`] verifies the receipts sharing a
//! signed root (protected header, signature and recomputed root) with one signature check.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use ciborium::value::{Integer, Value};
use coset::{
    sig_structure_data, AsCborValue, CoseSign1, CoseSign1Builder, Header, HeaderBuilder,
    ProtectedHeader, SignatureContext, TaggedCborSerializable,
};
use ledger_merkle::{CcfSha256, Side};
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::EncodePublicKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::curves::VerifyKey;
use crate::error::excerpt;
use crate::identity::{node_id_of, ParsedCert, ServiceSigner};
use crate::leaf::{is_lower_hex, parse_commit_evidence, Digest, LeafComponents};
use crate::receipt::{fold_proof, Failure, ProofStep, ReceiptVerifier, MAX_PROOF_LEN};
use crate::{Error, Problem, Result, TxId};

/// Longest COSE receipt [`CoseReceipt::from_slice`] and [`CoseConsistencyReceipt::from_slice`]
/// read: 1 MiB, far above the largest receipt of [`MAX_COSE_PROOFS`] full-length proofs.
pub const MAX_COSE_RECEIPT_LEN: usize = 1 << 20;

/// Most proofs one COSE receipt may carry.
pub const MAX_COSE_PROOFS: usize = 64;

/// The CBOR tag of a COSE_Sign1 (RFC 9052 section 4.2).
const TAG_COSE_SIGN1: u64 = 18;
/// `alg` (RFC 9052): ECDSA P-256 with SHA-256.
const ALG_ES256: i64 = -7;
const LABEL_ALG: i64 = 1;
const LABEL_KID: i64 = 4;
/// CWT claims in a COSE header (RFC 9597).
const LABEL_CWT_CLAIMS: i64 = 15;
/// Verifiable data structure (RFC 9942).
const LABEL_VDS: i64 = 395;
/// Verifiable data structure proofs (RFC 9942).
const LABEL_VDP: i64 = 396;
const LABEL_CCF: &str = "ccf.v1";
const CCF_TXID: &str = "txid";
const CWT_ISS: i64 = 1;
const CWT_SUB: i64 = 2;
const CWT_IAT: i64 = 6;
/// `vds` of the CCF profile: CCF_LEDGER_SHA256.
const VDS_CCF_LEDGER_SHA256: i64 = 2;
const VDP_INCLUSION: i64 = -1;
const VDP_CONSISTENCY: i64 = -2;
/// Keys of an inclusion proof map; a consistency proof map has the anchor at 1.
const PROOF_LEAF: i64 = 1;
const PROOF_PATH: i64 = 2;
const PROOF_ANCHOR: i64 = 1;
/// An ES256 signature in COSE: `r ‖ s`, 32 bytes each.
const ES256_SIGNATURE_LEN: usize = 64;
/// `kid`: 64 lowercase hex characters.
const KID_LEN: usize = 64;

/// The CWT claims (RFC 8392, in the protected header as RFC 9597 puts them) of a signed
/// root: who issued it, about what, and when. The engine supplies them with each signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CwtClaims {
    /// `iss` (claim 1): the issuer, for instance the service's name or URL.
    pub issuer: String,
    /// `sub` (claim 2): the subject, for instance what the ledger records.
    pub subject: String,
    /// `iat` (claim 6): when the root was signed, in seconds since the Unix epoch.
    pub issued_at: u64,
}

/// One inclusion proof of a [`CoseReceipt`]: a transaction's leaf components and the path
/// from its leaf to the signed root.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CoseInclusionProof {
    /// What the transaction's leaf is computed from.
    pub leaf_components: LeafComponents,
    /// The siblings from the leaf to the root, each with its side.
    pub path: Vec<ProofStep>,
}

impl CoseInclusionProof {
    /// The root this proof leads to: the leaf folded with the path.
    pub fn root(&self) -> Digest {
        fold_proof(&self.leaf_components.leaf_hash(), &self.path)
    }
}

/// One consistency proof of a [`CoseConsistencyReceipt`] (see the module's `# Format`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CoseConsistencyProof {
    /// The root of the rightmost perfect subtree of the older tree (the older root itself
    /// when the older tree's size is a power of two).
    pub anchor: Digest,
    /// The siblings from the anchor to the newer root: [`ProofStep::Left`] ones belong to
    /// both trees, [`ProofStep::Right`] ones to the newer tree only.
    pub path: Vec<ProofStep>,
}

impl CoseConsistencyProof {
    /// The older and the newer root the proof leads to: the anchor folded with the left
    /// siblings alone, and with every sibling (the draft's `compute_roots`).
    pub fn roots(&self) -> (Digest, Digest) {
        let mut older = self.anchor;
        let mut newer = self.anchor;
        for step in &self.path {
            if let ProofStep::Left(_) = step {
                older = step.apply(&older);
            }
            newer = step.apply(&newer);
        }
        (older, newer)
    }

    /// Tags the RFC 9162 consistency proof `proof` from the tree of `from_size` leaves with
    /// root `from_root` to the tree of `to_size` leaves with root `to_root`, after checking
    /// it with [`ledger_merkle::verify_consistency`].
    ///
    /// # Errors
    ///
    /// [`Error::Merkle`] if the sizes are not `0 < from_size < to_size` or the proof does not
    /// link the two roots.
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub(crate) fn from_rfc9162(
        from_size: u64,
        to_size: u64,
        from_root: &Digest,
        to_root: &Digest,
        proof: &[Digest],
    ) -> Result<Self> {
        ledger_merkle::verify_consistency::<CcfSha256>(
            from_size, to_size, proof, from_root, to_root,
        )?;
        let sides = ledger_merkle::consistency_path_sides(from_size, to_size)?;
        let (anchor, rest) = match proof.split_first() {
            Some((first, rest)) if !from_size.is_power_of_two() => (*first, rest),
            _ => (*from_root, proof),
        };
        let path = sides
            .zip(rest)
            .map(|(side, d)| match side {
                Side::Left => ProofStep::Left(*d),
                Side::Right => ProofStep::Right(*d),
            })
            .collect();
        Ok(Self { anchor, path })
    }
}

/// What a verified [`CoseReceipt`] proves.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCoseReceipt {
    /// The transaction of the (first) inclusion proof, from its commit evidence.
    pub tx_id: TxId,
    /// Its claims digest.
    pub claims_digest: Digest,
    /// Every transaction proven, with its claims digest, in the order of the proofs (the
    /// first is `tx_id`).
    pub transactions: Vec<(TxId, Digest)>,
    /// The signed root, recomputed from the proofs.
    pub root: Digest,
    /// The signature transaction, from the protected header's `"ccf.v1"` `txid`.
    pub signature_tx: TxId,
    /// The signed CWT claims.
    pub claims: CwtClaims,
}

/// What a verified [`CoseConsistencyReceipt`] proves: the tree of `old_size` leaves with root
/// `old_root` is a prefix of the tree of `new_size` leaves with root `new_root`, which the
/// service signed at `signature_tx`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCoseConsistency {
    /// The older tree's size, as the verifier gave it.
    pub old_size: u64,
    /// The older tree's root, as the verifier gave it.
    pub old_root: Digest,
    /// The newer tree's size: the signature transaction's seqno.
    pub new_size: u64,
    /// The newer, signed root, recomputed from the proof.
    pub new_root: Digest,
    /// The signature transaction, from the protected header's `"ccf.v1"` `txid`.
    pub signature_tx: TxId,
    /// The signed CWT claims.
    pub claims: CwtClaims,
}

/// What the protected header of a signed root says.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RootHeader {
    /// `kid`: lowercase hex SHA-256 of the signing key's SubjectPublicKeyInfo.
    kid: String,
    claims: CwtClaims,
    /// `"ccf.v1"` `txid`: the signature transaction.
    tx_id: TxId,
}

/// A parsed signed root: the protected header's bytes as signed, what they say, and the
/// signature.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SignedRoot {
    protected: Vec<u8>,
    header: RootHeader,
    signature: [u8; ES256_SIGNATURE_LEN],
}

/// Signs `root`, the root of the tree signature transaction `tx_id` signs, with the service
/// key: [`RootSigner::sign`] with a signer made for this one call.
///
/// # Errors
///
/// As [`RootSigner::new`] and [`RootSigner::sign`].
#[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
pub(crate) fn sign_root(
    signer: &dyn ServiceSigner,
    root: &Digest,
    tx_id: TxId,
    claims: &CwtClaims,
) -> Result<Vec<u8>> {
    RootSigner::new(signer)?.sign(signer, root, tx_id, claims)
}

/// The service certificate's key and key id, parsed once for every root a ledger signs.
#[derive(Clone, Debug)]
pub(crate) struct RootSigner {
    /// `kid`: lowercase hex SHA-256 of the service key's SubjectPublicKeyInfo.
    kid: String,
    /// The key that checks each signature the signer returns (the fast backend: this check
    /// runs for every signature transaction, on the committer thread).
    key: VerifyKey,
}

impl RootSigner {
    /// Reads the key and key id of `signer`'s certificate.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "service certificate"`) if the certificate does not
    /// parse or holds no P-256 key.
    pub(crate) fn new(signer: &dyn ServiceSigner) -> Result<Self> {
        let pem = signer.certificate_pem();
        let cert = ParsedCert::parse(pem.as_bytes())
            .map_err(|e| Error::malformed("service certificate", excerpt(pem), e))?;
        es256_key(&cert)?;
        Ok(Self {
            kid: cert.node_id,
            key: cert.verify_key,
        })
    }

    /// Signs `root`, the root of the tree signature transaction `tx_id` signs, with `signer`
    /// (the one this was made from): a tagged COSE_Sign1 with a detached payload and an empty
    /// unprotected header (see the module's `# Format`). The signature is checked against the
    /// service certificate's key before it is returned, so an external signer that answers
    /// with another key, or with garbage, never puts a bad signature in the ledger.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the signer fails, or returns something that is not a DER ECDSA
    /// P-256 signature by the certificate's key.
    pub(crate) fn sign(
        &self,
        signer: &dyn ServiceSigner,
        root: &Digest,
        tx_id: TxId,
        claims: &CwtClaims,
    ) -> Result<Vec<u8>> {
        const SIGNING: &str = "signing a root with the service key (COSE)";
        let cwt = Value::Map(vec![
            (int(CWT_ISS), Value::Text(claims.issuer.clone())),
            (int(CWT_SUB), Value::Text(claims.subject.clone())),
            (
                int(CWT_IAT),
                Value::Integer(Integer::from(claims.issued_at)),
            ),
        ]);
        let ccf = Value::Map(vec![(
            Value::Text(CCF_TXID.to_owned()),
            Value::Text(tx_id.to_string()),
        )]);
        // coset writes alg and kid first, then the other labels in the order given: with these
        // labels that is the deterministic order 1, 4, 15, 395, "ccf.v1".
        let protected = HeaderBuilder::new()
            .algorithm(coset::iana::Algorithm::ES256)
            .key_id(self.kid.as_bytes().to_vec())
            .value(LABEL_CWT_CLAIMS, cwt)
            .value(LABEL_VDS, int(VDS_CCF_LEDGER_SHA256))
            .text_value(LABEL_CCF.to_owned(), ccf)
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .try_create_detached_signature(root, &[], |tbs| -> Result<Vec<u8>> {
                let digest: [u8; 32] = Sha256::digest(tbs).into();
                let der = signer.sign_digest(&digest)?;
                let signature = Signature::from_der(&der).map_err(|e| {
                    Error::crypto(
                        SIGNING,
                        format_args!("the signer returned no DER ECDSA P-256 signature: {e}"),
                    )
                })?;
                self.key.verify_prehash(&digest, &der).map_err(|_| {
                    Error::crypto(
                        SIGNING,
                        "the signer's signature does not verify with the service certificate's key",
                    )
                })?;
                // The low-s form: of the two signatures that verify, the one a backup
                // accepts (see `curves::canonical_signature`).
                Ok(signature
                    .normalize_s()
                    .unwrap_or(signature)
                    .to_bytes()
                    .to_vec())
            })?
            .build();
        sign1
            .to_tagged_vec()
            .map_err(|e| Error::crypto("encoding a COSE signed root", e))
    }
}

/// The P-256 key of a service certificate: COSE roots are signed ES256 only.
///
/// # Errors
///
/// [`Error::InvalidInput`] (`what = "service certificate"`) for a key on another curve.
pub(crate) fn es256_key(cert: &ParsedCert) -> Result<&VerifyingKey> {
    cert.key.as_p256().ok_or_else(|| {
        Error::invalid(
            "service certificate",
            Problem::Mismatch {
                expected: "a P-256 key (COSE roots are signed ES256)".into(),
                found: format!("a key on {}", cert.key.algorithm()),
            },
        )
    })
}

/// Verifies a signed root made by [`sign_root`] against the service key and the root it
/// should sign; returns the signature transaction it names and its CWT claims.
///
/// # Errors
///
/// [`Error::InvalidInput`] (`what = "COSE signed root"`) if it does not parse as
/// [`sign_root`] writes it; [`Error::ReceiptInvalid`] with check `"key id"` or `"signature"`.
#[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
pub(crate) fn verify_signed_root(
    signed_root: &[u8],
    key: &CoseKey,
    root: &Digest,
) -> Result<(TxId, CwtClaims)> {
    let parsed = parse_signed_root(signed_root)?;
    check_key_id(&parsed.header, &key.kid)?;
    verify_signature(&parsed, key, root)?;
    Ok((parsed.header.tx_id, parsed.header.claims))
}

/// Whether a signed root (already verified with [`verify_signed_root`]) carries its
/// signature in low-s form, the form the engine signs in: the other form verifies too, and
/// would give a signature transaction other bytes (see `curves::canonical_signature`).
///
/// # Errors
///
/// As [`verify_signed_root`] for bytes that do not parse.
pub(crate) fn signed_root_is_low_s(signed_root: &[u8]) -> Result<bool> {
    let parsed = parse_signed_root(signed_root)?;
    let signature = Signature::from_slice(&parsed.signature).map_err(|_| {
        Error::receipt(
            "signature",
            "not an ES256 signature: r and s must both be in 1..n",
        )
    })?;
    Ok(signature.normalize_s().is_none())
}

/// A service key as COSE verification uses it: on P-256, parsed once for the verification
/// backend (see the `curves` module), with its `kid`.
#[derive(Clone, Debug)]
pub(crate) struct CoseKey {
    key: VerifyKey,
    /// Lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo, as `kid` carries it.
    kid: String,
}

impl CoseKey {
    /// The key of a service certificate.
    ///
    /// # Errors
    ///
    /// As [`es256_key`].
    pub(crate) fn of_certificate(cert: &ParsedCert) -> Result<Self> {
        es256_key(cert)?;
        Ok(Self {
            key: cert.verify_key.clone(),
            kid: cert.node_id.clone(),
        })
    }

    /// A P-256 key.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the key does not encode or the backend refuses it.
    pub(crate) fn of_p256(key: &VerifyingKey) -> Result<Self> {
        let kid = key_id_of(key)?;
        let key = VerifyKey::new(crate::PublicKey::P256(*key))
            .map_err(|e| Error::crypto("preparing the service key", e))?;
        Ok(Self { key, kid })
    }
}

/// A receipt that transactions are leaves of a tree whose root the service key signed (see
/// the module documentation for its bytes and its checks).
#[derive(Clone, PartialEq, Eq)]
pub struct CoseReceipt {
    /// The receipt's encoding, as written or read.
    bytes: Vec<u8>,
    root: SignedRoot,
    proofs: Vec<CoseInclusionProof>,
}

impl CoseReceipt {
    /// A receipt for one transaction from the signed root of a signature transaction
    /// ([`sign_root`]'s output) and the inclusion proof of the transaction's leaf in the tree
    /// it signs. Nothing is verified.
    ///
    /// # Errors
    ///
    /// As [`CoseReceipt::with_proofs`].
    pub(crate) fn new(
        signed_root: &[u8],
        leaf: &LeafComponents,
        path: &[ProofStep],
    ) -> Result<Self> {
        Self::with_proofs(
            signed_root,
            vec![CoseInclusionProof {
                leaf_components: leaf.clone(),
                path: path.to_vec(),
            }],
        )
    }

    /// A receipt for several transactions under one signed root, one inclusion proof each.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: `what = "COSE signed root"` if `signed_root` does not parse as
    /// [`sign_root`] writes it; `"COSE receipt"` for no proof or more than
    /// [`MAX_COSE_PROOFS`], an empty path or one over [`MAX_PROOF_LEN`] elements, or a commit
    /// evidence that does not parse.
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub(crate) fn with_proofs(signed_root: &[u8], proofs: Vec<CoseInclusionProof>) -> Result<Self> {
        const WHAT: &str = "COSE receipt";
        let root = parse_signed_root(signed_root)?;
        check_proof_count(WHAT, proofs.len())?;
        for (i, p) in proofs.iter().enumerate() {
            check_path_len(WHAT, &format!("inclusion proof {i}"), p.path.len())?;
            parse_commit_evidence(&p.leaf_components.commit_evidence)?;
        }
        let bytes = encode_inclusion_receipt(&root, &proofs)
            .map_err(|e| Error::malformed(WHAT, "encoding", e))?;
        Ok(Self {
            bytes,
            root,
            proofs,
        })
    }

    /// Parses a receipt strictly (see the module's `# Parsing`). Never panics.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with `what = "COSE receipt"` and the [`Problem`] found first:
    /// [`Problem::TooLarge`], [`Problem::Duplicate`], [`Problem::Mismatch`] or
    /// [`Problem::Malformed`] naming the place and the rule broken.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let ctx = Ctx {
            what: "COSE receipt",
        };
        let (root, vdp) = parse_receipt_envelope(ctx, bytes)?;
        let proofs = proof_list(ctx, vdp, VDP_INCLUSION, "inclusion")?
            .into_iter()
            .enumerate()
            .map(|(i, bstr)| parse_inclusion_proof(ctx, &format!("inclusion proof {i}"), &bstr))
            .collect::<Result<Vec<_>>>()?;
        let receipt = Self {
            bytes: bytes.to_vec(),
            root,
            proofs,
        };
        let canonical = encode_inclusion_receipt(&receipt.root, &receipt.proofs)
            .map_err(|e| ctx.malformed("encoding", e))?;
        check_canonical(ctx, &canonical, bytes)?;
        Ok(receipt)
    }

    /// The receipt's bytes (a tagged COSE_Sign1).
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The receipt's bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Verifies the receipt against the service certificate (PEM or DER), whose key must
    /// have signed it (see the module's `# Verification`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "service certificate"`) if the certificate does not
    /// parse or hold a P-256 key; otherwise as [`CoseReceipt::verify_with_key`].
    pub fn verify(&self, service_certificate: impl AsRef<[u8]>) -> Result<VerifiedCoseReceipt> {
        let cert = parse_service_certificate(service_certificate.as_ref())?;
        self.verify_with(&CoseKey::of_certificate(&cert)?)
    }

    /// Verifies the receipt against the service public key.
    ///
    /// # Errors
    ///
    /// [`Error::ReceiptInvalid`] naming the check that failed: `"key id"` (the receipt names
    /// another key), `"transaction id"` (a proven transaction is not older than the signature
    /// transaction), `"proof"` (two proofs lead to different roots) or `"signature"`;
    /// [`Error::Crypto`] if the key does not encode.
    pub fn verify_with_key(&self, service_key: &VerifyingKey) -> Result<VerifiedCoseReceipt> {
        self.verify_with(&CoseKey::of_p256(service_key)?)
    }

    pub(crate) fn verify_with(&self, key: &CoseKey) -> Result<VerifiedCoseReceipt> {
        let (root, verified) = self.check_proofs(key)?;
        verify_signature(&self.root, key, &root)?;
        Ok(verified)
    }

    /// Every check of [`CoseReceipt::verify_with`] but the signature's: the key id, each
    /// proof's transaction and root; returns the root the signature must cover.
    pub(crate) fn check_proofs(&self, key: &CoseKey) -> Result<(Digest, VerifiedCoseReceipt)> {
        let header = &self.root.header;
        check_key_id(header, &key.kid)?;
        let mut transactions = Vec::with_capacity(self.proofs.len());
        let mut root: Option<Digest> = None;
        for (i, p) in self.proofs.iter().enumerate() {
            let tx = parse_commit_evidence(&p.leaf_components.commit_evidence)?;
            check_covered(tx, header.tx_id)?;
            let r = p.root();
            match root {
                None => root = Some(r),
                Some(first) if first != r => {
                    return Err(Error::receipt(
                        "proof",
                        format_args!(
                            "inclusion proof {i} leads to another root than inclusion proof 0"
                        ),
                    ))
                }
                Some(_) => {}
            }
            transactions.push((tx, p.leaf_components.claims_digest));
        }
        let (Some(root), Some(&(tx_id, claims_digest))) = (root, transactions.first()) else {
            return Err(Error::receipt(
                "proof",
                "the receipt carries no inclusion proof",
            ));
        };
        Ok((
            root,
            VerifiedCoseReceipt {
                tx_id,
                claims_digest,
                transactions,
                root,
                signature_tx: header.tx_id,
                claims: header.claims.clone(),
            },
        ))
    }

    /// What the signature covers besides the root: the protected header's bytes and the
    /// signature (receipts sharing these and their root share one signature check).
    pub(crate) fn signed_parts(&self) -> (&[u8], &[u8; 64]) {
        (&self.root.protected, &self.root.signature)
    }

    /// Verifies the signature over `root` (see [`CoseReceipt::check_proofs`]).
    pub(crate) fn verify_root_signature(&self, key: &CoseKey, root: &Digest) -> Result<()> {
        verify_signature(&self.root, key, root)
    }

    /// The leaf components of the (first) inclusion proof.
    pub fn leaf_components(&self) -> &LeafComponents {
        &self.first_proof().leaf_components
    }

    /// The path of the (first) inclusion proof, leaf to root.
    pub fn path(&self) -> &[ProofStep] {
        &self.first_proof().path
    }

    /// Every inclusion proof, in order.
    pub fn inclusion_proofs(&self) -> &[CoseInclusionProof] {
        &self.proofs
    }

    /// The signature transaction named by the protected header (`"ccf.v1"` `txid`).
    pub fn signature_tx(&self) -> TxId {
        self.root.header.tx_id
    }

    /// The signed CWT claims.
    pub fn claims(&self) -> &CwtClaims {
        &self.root.header.claims
    }

    /// The protected header's `kid`: lowercase hex SHA-256 of the signing key's DER
    /// SubjectPublicKeyInfo.
    pub fn key_id(&self) -> &str {
        &self.root.header.kid
    }

    /// The protected header's bytes, as signed.
    pub fn protected_header(&self) -> &[u8] {
        &self.root.protected
    }

    /// The ES256 signature, `r ‖ s`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.root.signature
    }

    fn first_proof(&self) -> &CoseInclusionProof {
        // Construction and parsing both refuse a receipt without a proof.
        &self.proofs[0]
    }
}

impl fmt::Debug for CoseReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoseReceipt")
            .field("signature_tx", &self.root.header.tx_id)
            .field("key_id", &self.root.header.kid)
            .field("claims", &self.root.header.claims)
            .field("inclusion_proofs", &self.proofs)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// A receipt that an older tree is a prefix of a tree whose root the service key signed
/// (see the module documentation for its bytes and its checks).
#[derive(Clone, PartialEq, Eq)]
pub struct CoseConsistencyReceipt {
    bytes: Vec<u8>,
    root: SignedRoot,
    proofs: Vec<CoseConsistencyProof>,
}

impl CoseConsistencyReceipt {
    /// A consistency receipt from the signed root of the signature transaction at seqno
    /// `to_size` ([`sign_root`]'s output) and the RFC 9162 consistency proof from the tree of
    /// `from_size` leaves (root `from_root`) to the tree of `to_size` leaves (root `to_root`),
    /// as `ConsistencyProof` holds it. The proof is checked; the signature is not.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "COSE signed root"`) if `signed_root` does not parse;
    /// [`Error::InvalidInput`] (`what = "consistency proof"`, [`Problem::Mismatch`]) if
    /// `to_size` is not the signature transaction's seqno; [`Error::Merkle`] unless `0 <
    /// from_size < to_size` and the proof links the two roots.
    pub(crate) fn new(
        signed_root: &[u8],
        from_size: u64,
        to_size: u64,
        from_root: &Digest,
        to_root: &Digest,
        proof: &[Digest],
    ) -> Result<Self> {
        let root = parse_signed_root(signed_root)?;
        let signed_size = root.header.tx_id.seqno();
        if to_size != signed_size {
            return Err(Error::invalid(
                "consistency proof",
                Problem::Mismatch {
                    expected: format!(
                        "a proof to tree size {signed_size}, which signature transaction {} \
                         signs",
                        root.header.tx_id
                    ),
                    found: format!("a proof to tree size {to_size}"),
                },
            ));
        }
        let proof =
            CoseConsistencyProof::from_rfc9162(from_size, to_size, from_root, to_root, proof)?;
        Self::from_parts(root, vec![proof])
    }

    /// A consistency receipt carrying `proofs`, already tagged, under one signed root.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`]: `what = "COSE signed root"` if `signed_root` does not parse;
    /// `"COSE consistency receipt"` for no proof or more than [`MAX_COSE_PROOFS`], or an
    /// empty path or one over [`MAX_PROOF_LEN`] elements.
    #[cfg_attr(not(any(test, feature = "test-util")), allow(dead_code))]
    pub(crate) fn with_proofs(
        signed_root: &[u8],
        proofs: Vec<CoseConsistencyProof>,
    ) -> Result<Self> {
        Self::from_parts(parse_signed_root(signed_root)?, proofs)
    }

    fn from_parts(root: SignedRoot, proofs: Vec<CoseConsistencyProof>) -> Result<Self> {
        const WHAT: &str = "COSE consistency receipt";
        check_proof_count(WHAT, proofs.len())?;
        for (i, p) in proofs.iter().enumerate() {
            check_path_len(WHAT, &format!("consistency proof {i}"), p.path.len())?;
        }
        let bytes = encode_consistency_receipt(&root, &proofs)
            .map_err(|e| Error::malformed(WHAT, "encoding", e))?;
        Ok(Self {
            bytes,
            root,
            proofs,
        })
    }

    /// Parses a consistency receipt strictly (see the module's `# Parsing`). Never panics.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with `what = "COSE consistency receipt"`, as
    /// [`CoseReceipt::from_slice`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let ctx = Ctx {
            what: "COSE consistency receipt",
        };
        let (root, vdp) = parse_receipt_envelope(ctx, bytes)?;
        let proofs = proof_list(ctx, vdp, VDP_CONSISTENCY, "consistency")?
            .into_iter()
            .enumerate()
            .map(|(i, bstr)| parse_consistency_proof(ctx, &format!("consistency proof {i}"), &bstr))
            .collect::<Result<Vec<_>>>()?;
        let receipt = Self {
            bytes: bytes.to_vec(),
            root,
            proofs,
        };
        let canonical = encode_consistency_receipt(&receipt.root, &receipt.proofs)
            .map_err(|e| ctx.malformed("encoding", e))?;
        check_canonical(ctx, &canonical, bytes)?;
        Ok(receipt)
    }

    /// The receipt's bytes (a tagged COSE_Sign1).
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The receipt's bytes, borrowed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Verifies that the tree of `old_size` leaves with root `old_root`, which the caller
    /// already trusts (from a verified receipt, say), is a prefix of the tree the service
    /// certificate's key (PEM or DER) signed (see the module's `# Verification`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "service certificate"`) if the certificate does not
    /// parse or hold a P-256 key; otherwise as [`CoseConsistencyReceipt::verify_with_key`].
    pub fn verify(
        &self,
        service_certificate: impl AsRef<[u8]>,
        old_size: u64,
        old_root: &Digest,
    ) -> Result<VerifiedCoseConsistency> {
        let cert = parse_service_certificate(service_certificate.as_ref())?;
        self.verify_with(&CoseKey::of_certificate(&cert)?, old_size, old_root)
    }

    /// Verifies the receipt against the service public key.
    ///
    /// # Errors
    ///
    /// [`Error::ReceiptInvalid`] naming the check that failed: `"key id"`, `"tree size"`
    /// (`old_size` is not in `1..new_size`), `"consistency proof"` (no proof leads from
    /// `old_root`, or its shape is not that of a proof from `old_size` to the signed size) or
    /// `"signature"`; [`Error::Crypto`] if the key does not encode.
    pub fn verify_with_key(
        &self,
        service_key: &VerifyingKey,
        old_size: u64,
        old_root: &Digest,
    ) -> Result<VerifiedCoseConsistency> {
        self.verify_with(&CoseKey::of_p256(service_key)?, old_size, old_root)
    }

    pub(crate) fn verify_with(
        &self,
        key: &CoseKey,
        old_size: u64,
        old_root: &Digest,
    ) -> Result<VerifiedCoseConsistency> {
        let header = &self.root.header;
        check_key_id(header, &key.kid)?;
        let new_size = header.tx_id.seqno();
        if old_size == 0 || old_size >= new_size {
            return Err(Error::receipt(
                "tree size",
                format_args!(
                    "the older tree's size {old_size} is not in 1..{new_size} (the size signed \
                     at {})",
                    header.tx_id
                ),
            ));
        }
        let Some((proof, new_root)) = self.proofs.iter().find_map(|p| {
            let (older, newer) = p.roots();
            (older == *old_root).then_some((p, newer))
        }) else {
            return Err(Error::receipt(
                "consistency proof",
                "no consistency proof leads from the older root",
            ));
        };
        let sides = ledger_merkle::consistency_path_sides(old_size, new_size)
            .map_err(|e| Error::receipt("tree size", e))?;
        let shaped = sides.len() == proof.path.len()
            && sides.zip(&proof.path).all(|(side, step)| {
                matches!(
                    (side, step),
                    (Side::Left, ProofStep::Left(_)) | (Side::Right, ProofStep::Right(_))
                )
            });
        if !shaped {
            return Err(Error::receipt(
                "consistency proof",
                format_args!(
                    "its path is not that of a proof from tree size {old_size} to {new_size}"
                ),
            ));
        }
        let mut untagged = Vec::with_capacity(proof.path.len() + 1);
        if !old_size.is_power_of_two() {
            untagged.push(proof.anchor);
        }
        untagged.extend(proof.path.iter().map(|s| *s.digest()));
        ledger_merkle::verify_consistency::<CcfSha256>(
            old_size, new_size, &untagged, old_root, &new_root,
        )
        .map_err(|e| Error::receipt("consistency proof", e))?;
        verify_signature(&self.root, key, &new_root)?;
        Ok(VerifiedCoseConsistency {
            old_size,
            old_root: *old_root,
            new_size,
            new_root,
            signature_tx: header.tx_id,
            claims: header.claims.clone(),
        })
    }

    /// Every consistency proof, in order.
    pub fn proofs(&self) -> &[CoseConsistencyProof] {
        &self.proofs
    }

    /// The signature transaction named by the protected header (`"ccf.v1"` `txid`); its
    /// seqno is the size of the newer tree.
    pub fn signature_tx(&self) -> TxId {
        self.root.header.tx_id
    }

    /// The signed CWT claims.
    pub fn claims(&self) -> &CwtClaims {
        &self.root.header.claims
    }

    /// The protected header's `kid`.
    pub fn key_id(&self) -> &str {
        &self.root.header.kid
    }

    /// The protected header's bytes, as signed.
    pub fn protected_header(&self) -> &[u8] {
        &self.root.protected
    }

    /// The ES256 signature, `r ‖ s`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.root.signature
    }
}

impl fmt::Debug for CoseConsistencyReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoseConsistencyReceipt")
            .field("signature_tx", &self.root.header.tx_id)
            .field("key_id", &self.root.header.kid)
            .field("claims", &self.root.header.claims)
            .field("proofs", &self.proofs)
            .field("len", &self.bytes.len())
            .finish()
    }
}

// ---- verification of many receipts ----

/// What a COSE receipt's signature covers: its protected header, the signature and the root
/// recomputed from its proofs.
type CoseSigned<'a> = (&'a [u8], &'a [u8; 64], Digest);

impl ReceiptVerifier {
    /// Verifies a COSE receipt against the service certificate's key, parsed once for all
    /// calls: [`CoseReceipt::verify`] without parsing the certificate again. As there, the
    /// certificate is used for its key only (its validity period is not checked).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "service certificate"`) if the service key is not on
    /// P-256 (COSE roots are ES256); otherwise as [`CoseReceipt::verify_with_key`].
    pub fn verify_cose(&self, receipt: &CoseReceipt) -> Result<VerifiedCoseReceipt> {
        receipt.verify_with(&CoseKey::of_certificate(self.service())?)
    }

    /// Verifies each of `receipts` as [`ReceiptVerifier::verify_cose`] would, verifying each
    /// distinct signature (the same protected header and signature over the same recomputed
    /// root) once. Each receipt's key id, transactions and proofs are checked on their own.
    /// One result per receipt, in order.
    ///
    /// # Errors
    ///
    /// Each failed entry holds the error [`ReceiptVerifier::verify_cose`] gives that receipt.
    pub fn verify_cose_batch(&self, receipts: &[CoseReceipt]) -> Vec<Result<VerifiedCoseReceipt>> {
        let Ok(key) = CoseKey::of_certificate(self.service()) else {
            return receipts
                .iter()
                .map(|_| Err(es256_key_error(self.service())))
                .collect();
        };
        let key = &key;
        // Signature verdicts by (protected header, signature, recomputed root).
        let mut signatures: HashMap<CoseSigned<'_>, std::result::Result<(), Failure>> =
            HashMap::new();
        receipts
            .iter()
            .map(|receipt| {
                let (root, verified) = receipt.check_proofs(key)?;
                let (protected, signature) = receipt.signed_parts();
                let verdict = match signatures.get(&(protected, signature, root)) {
                    Some(verdict) => verdict.clone(),
                    None => {
                        #[cfg(test)]
                        self.count_batch_signature_check();
                        let verdict = match receipt.verify_root_signature(key, &root) {
                            Ok(()) => Ok(()),
                            Err(e) => match Failure::of(&e) {
                                Some(failure) => Err(failure),
                                None => return Err(e),
                            },
                        };
                        signatures.insert((protected, signature, root), verdict.clone());
                        verdict
                    }
                };
                verdict.map(|()| verified).map_err(|f| f.error())
            })
            .collect()
    }
}

/// Why `service`'s key cannot verify COSE receipts (see [`es256_key`]).
fn es256_key_error(service: &ParsedCert) -> Error {
    match CoseKey::of_certificate(service) {
        Err(e) => e,
        Ok(_) => Error::crypto("preparing the service key", "the key was refused"),
    }
}

// ---- verification helpers ----

fn parse_service_certificate(input: &[u8]) -> Result<ParsedCert> {
    ParsedCert::parse(input).map_err(|e| {
        let shown = match std::str::from_utf8(input) {
            Ok(text) => excerpt(text.trim_start()),
            Err(_) => format!("{} bytes of DER", input.len()),
        };
        Error::malformed("service certificate", shown, e)
    })
}

/// Lowercase hex SHA-256 of the key's DER SubjectPublicKeyInfo, as `kid` carries it.
fn key_id_of(key: &VerifyingKey) -> Result<String> {
    let spki = key
        .to_public_key_der()
        .map_err(|e| Error::crypto("encoding the service key", e))?;
    Ok(node_id_of(spki.as_bytes()))
}

fn check_key_id(header: &RootHeader, kid: &str) -> Result<()> {
    if header.kid == kid {
        Ok(())
    } else {
        Err(Error::receipt(
            "key id",
            format_args!(
                "the receipt names key {}, the service key is {kid}",
                header.kid
            ),
        ))
    }
}

/// A transaction a signature at `signature_tx` covers is older: its seqno is below, its
/// view not above.
fn check_covered(tx: TxId, signature_tx: TxId) -> Result<()> {
    if tx.seqno() < signature_tx.seqno() && tx.view() <= signature_tx.view() {
        Ok(())
    } else {
        Err(Error::receipt(
            "transaction id",
            format_args!("transaction {tx} is not covered by signature transaction {signature_tx}"),
        ))
    }
}

/// Verifies the ES256 signature of `signed` with `root` as the detached payload.
fn verify_signature(signed: &SignedRoot, key: &CoseKey, root: &Digest) -> Result<()> {
    let protected = ProtectedHeader {
        original_data: Some(signed.protected.clone()),
        header: Header::default(),
    };
    let tbs = sig_structure_data(SignatureContext::CoseSign1, protected, None, &[], root);
    let digest: [u8; 32] = Sha256::digest(&tbs).into();
    let signature = Signature::from_slice(&signed.signature).map_err(|_| {
        Error::receipt(
            "signature",
            "not an ES256 signature: r and s must both be in 1..n",
        )
    })?;
    key.key
        .verify_prehash(&digest, signature.to_der().as_bytes())
        .map_err(|_| {
            Error::receipt(
                "signature",
                "the ES256 signature over the recomputed root does not verify with the service key",
            )
        })
}

// ---- parsing ----

/// The object being parsed, which names the errors.
#[derive(Clone, Copy)]
struct Ctx {
    what: &'static str,
}

impl Ctx {
    fn malformed(self, at: impl Into<String>, reason: impl fmt::Display) -> Error {
        Error::malformed(self.what, at, reason)
    }

    fn mismatch(self, expected: impl Into<String>, found: impl Into<String>) -> Error {
        Error::invalid(
            self.what,
            Problem::Mismatch {
                expected: expected.into(),
                found: found.into(),
            },
        )
    }
}

fn check_proof_count(what: &'static str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::invalid(what, Problem::Empty));
    }
    if n > MAX_COSE_PROOFS {
        return Err(Error::too_large(what, n, MAX_COSE_PROOFS));
    }
    Ok(())
}

fn check_path_len(what: &'static str, at: &str, n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::malformed(what, at, "the path is empty"));
    }
    if n > MAX_PROOF_LEN {
        return Err(Error::too_large(what, n, MAX_PROOF_LEN));
    }
    Ok(())
}

/// Requires `bytes` to be exactly the encoding this module writes for what was parsed from
/// them. Well-formedness and shortest forms are checked before, so what remains is key order.
fn check_canonical(ctx: Ctx, canonical: &[u8], bytes: &[u8]) -> Result<()> {
    if canonical == bytes {
        Ok(())
    } else {
        Err(ctx.malformed(
            "encoding",
            "map keys are not in deterministic order (RFC 8949 section 4.2.1)",
        ))
    }
}

/// Parses a signed root as [`sign_root`] writes it: a receipt envelope whose unprotected
/// header is empty.
fn parse_signed_root(bytes: &[u8]) -> Result<SignedRoot> {
    let ctx = Ctx {
        what: "COSE signed root",
    };
    let (root, unprotected) = parse_envelope(ctx, bytes)?;
    if unprotected != Header::default() {
        return Err(ctx.malformed(
            "unprotected header",
            "a signed root's unprotected header is empty",
        ));
    }
    let canonical =
        encode_sign1(&root, Header::default()).map_err(|e| ctx.malformed("encoding", e))?;
    check_canonical(ctx, &canonical, bytes)?;
    Ok(root)
}

/// Parses the envelope of a receipt and returns its signed root and the value of its only
/// unprotected header parameter, `vdp`.
fn parse_receipt_envelope(ctx: Ctx, bytes: &[u8]) -> Result<(SignedRoot, Value)> {
    let (root, unprotected) = parse_envelope(ctx, bytes)?;
    let Header { rest, .. } = &unprotected;
    let only_rest = Header {
        rest: Vec::new(),
        ..unprotected.clone()
    };
    if only_rest != Header::default() {
        return Err(ctx.malformed(
            "unprotected header",
            "a receipt's unprotected header holds vdp (396) only",
        ));
    }
    match rest.as_slice() {
        [(coset::Label::Int(LABEL_VDP), vdp)] => Ok((root, vdp.clone())),
        [] => Err(ctx.malformed("unprotected header", "vdp (396) is missing")),
        _ => Err(ctx.malformed(
            "unprotected header",
            "a receipt's unprotected header holds vdp (396) only",
        )),
    }
}

/// Parses a tagged COSE_Sign1 with a detached payload and this profile's protected header.
fn parse_envelope(ctx: Ctx, bytes: &[u8]) -> Result<(SignedRoot, Header)> {
    if bytes.len() > MAX_COSE_RECEIPT_LEN {
        return Err(Error::too_large(
            ctx.what,
            bytes.len(),
            MAX_COSE_RECEIPT_LEN,
        ));
    }
    let value = decode_strict(ctx, "COSE_Sign1", bytes)?;
    let inner = match value {
        Value::Tag(TAG_COSE_SIGN1, inner) => *inner,
        Value::Tag(other, _) => {
            return Err(ctx.mismatch("tag 18 (COSE_Sign1)", format!("tag {other}")))
        }
        other => {
            return Err(ctx.mismatch(
                "tag 18 (COSE_Sign1)",
                format!("an untagged {}", kind(&other)),
            ))
        }
    };
    // Read the protected header first, so that its defects are reported as this profile's
    // rules name them rather than as coset's parse errors.
    let header = match &inner {
        Value::Array(items) => match items.first() {
            Some(Value::Bytes(protected)) => Some(parse_protected(ctx, protected)?),
            _ => None,
        },
        _ => None,
    };
    let sign1 = CoseSign1::from_cbor_value(inner).map_err(|e| ctx.malformed("COSE_Sign1", e))?;
    let header = header.ok_or_else(|| ctx.malformed("protected header", "missing"))?;
    if sign1.payload.is_some() {
        return Err(ctx.malformed("payload", "the payload must be nil (detached)"));
    }
    let signature: [u8; ES256_SIGNATURE_LEN] =
        sign1.signature.as_slice().try_into().map_err(|_| {
            ctx.malformed(
                "signature",
                format_args!(
                    "an ES256 signature is {ES256_SIGNATURE_LEN} bytes, not {}",
                    sign1.signature.len()
                ),
            )
        })?;
    let protected = sign1
        .protected
        .original_data
        .ok_or_else(|| ctx.malformed("protected header", "missing"))?;
    Ok((
        SignedRoot {
            protected,
            header,
            signature,
        },
        sign1.unprotected,
    ))
}

/// Parses the protected header: exactly alg, kid, CWT claims, vds and `"ccf.v1"`.
fn parse_protected(ctx: Ctx, bytes: &[u8]) -> Result<RootHeader> {
    const AT: &str = "protected header";
    let value = decode_strict(ctx, AT, bytes)?;
    let [alg, kid, cwt, vds, ccf] = closed_map(
        ctx,
        AT,
        value,
        [
            Key::Int(LABEL_ALG),
            Key::Int(LABEL_KID),
            Key::Int(LABEL_CWT_CLAIMS),
            Key::Int(LABEL_VDS),
            Key::Text(LABEL_CCF),
        ],
    )?;
    match int_of(&alg) {
        Some(a) if a == i128::from(ALG_ES256) => {}
        Some(a) => return Err(ctx.mismatch("alg -7 (ES256)", format!("alg {a}"))),
        None => {
            return Err(ctx.malformed(AT, format_args!("alg (1) is {}, not an int", kind(&alg))))
        }
    }
    let kid = match kid {
        Value::Bytes(b) => String::from_utf8(b)
            .ok()
            .filter(|s| is_lower_hex(s, KID_LEN))
            .ok_or_else(|| {
                ctx.malformed(
                    AT,
                    "kid (4) must be the 64 lowercase hex characters of a SHA-256 digest",
                )
            })?,
        other => {
            return Err(ctx.malformed(
                AT,
                format_args!("kid (4) is {}, not a byte string", kind(&other)),
            ))
        }
    };
    match int_of(&vds) {
        Some(v) if v == i128::from(VDS_CCF_LEDGER_SHA256) => {}
        Some(v) => return Err(ctx.mismatch("vds 2 (CCF_LEDGER_SHA256)", format!("vds {v}"))),
        None => {
            return Err(ctx.malformed(AT, format_args!("vds (395) is {}, not an int", kind(&vds))))
        }
    }
    const CWT_AT: &str = "protected header CWT claims (15)";
    let [iss, sub, iat] = closed_map(
        ctx,
        CWT_AT,
        cwt,
        [Key::Int(CWT_ISS), Key::Int(CWT_SUB), Key::Int(CWT_IAT)],
    )?;
    let text = |v: Value, name: &str| match v {
        Value::Text(s) => Ok(s),
        other => Err(ctx.malformed(
            CWT_AT,
            format_args!("{name} is {}, not a text string", kind(&other)),
        )),
    };
    let issuer = text(iss, "iss (1)")?;
    let subject = text(sub, "sub (2)")?;
    let issued_at = int_of(&iat)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| {
            ctx.malformed(
                CWT_AT,
                "iat (6) must be a non-negative integer of at most 64 bits",
            )
        })?;
    const CCF_AT: &str = "protected header \"ccf.v1\"";
    let [txid] = closed_map(ctx, CCF_AT, ccf, [Key::Text(CCF_TXID)])?;
    let tx_id = match txid {
        Value::Text(s) => s
            .parse::<TxId>()
            .ok()
            .filter(|id| id.to_string() == s)
            .ok_or_else(|| {
                ctx.malformed(
                    CCF_AT,
                    format_args!("txid {:?} is not a canonical \"view.seqno\"", excerpt(&s)),
                )
            })?,
        other => {
            return Err(ctx.malformed(
                CCF_AT,
                format_args!("txid is {}, not a text string", kind(&other)),
            ))
        }
    };
    Ok(RootHeader {
        kid,
        claims: CwtClaims {
            issuer,
            subject,
            issued_at,
        },
        tx_id,
    })
}

/// The byte strings under key `label` of the `vdp` map, which must hold nothing else.
fn proof_list(ctx: Ctx, vdp: Value, label: i64, kind_name: &str) -> Result<Vec<Vec<u8>>> {
    let at = format!("vdp (396) {kind_name} proofs ({label})");
    let [proofs] = closed_map(ctx, "vdp (396)", vdp, [Key::Int(label)])?;
    let Value::Array(items) = proofs else {
        return Err(ctx.malformed(at, format_args!("{}, not an array", kind(&proofs))));
    };
    check_proof_count(ctx.what, items.len())?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Bytes(b) => Ok(b),
            other => Err(ctx.malformed(
                at.clone(),
                format_args!("element {i} is {}, not a bstr-wrapped proof", kind(&other)),
            )),
        })
        .collect()
}

fn parse_inclusion_proof(ctx: Ctx, at: &str, bytes: &[u8]) -> Result<CoseInclusionProof> {
    let value = decode_strict(ctx, at, bytes)?;
    let [leaf, path] = closed_map(ctx, at, value, [Key::Int(PROOF_LEAF), Key::Int(PROOF_PATH)])?;
    let Value::Array(parts) = leaf else {
        return Err(ctx.malformed(
            at,
            format_args!("leaf (1) is {}, not an array", kind(&leaf)),
        ));
    };
    let Ok([wsd, ce, cd]) = <[Value; 3]>::try_from(parts) else {
        return Err(ctx.malformed(at, "leaf (1) must have exactly 3 elements"));
    };
    let write_set_digest = digest_of(ctx, at, "leaf write set digest", wsd)?;
    let commit_evidence = match ce {
        Value::Text(s) => s,
        other => {
            return Err(ctx.malformed(
                at,
                format_args!(
                    "leaf commit evidence is {}, not a text string",
                    kind(&other)
                ),
            ))
        }
    };
    if let Err(e) = parse_commit_evidence(&commit_evidence) {
        return Err(ctx.malformed(at, e));
    }
    let claims_digest = digest_of(ctx, at, "leaf claims digest", cd)?;
    Ok(CoseInclusionProof {
        leaf_components: LeafComponents {
            write_set_digest,
            commit_evidence,
            claims_digest,
        },
        path: parse_path(ctx, at, path)?,
    })
}

fn parse_consistency_proof(ctx: Ctx, at: &str, bytes: &[u8]) -> Result<CoseConsistencyProof> {
    let value = decode_strict(ctx, at, bytes)?;
    let [anchor, path] = closed_map(
        ctx,
        at,
        value,
        [Key::Int(PROOF_ANCHOR), Key::Int(PROOF_PATH)],
    )?;
    Ok(CoseConsistencyProof {
        anchor: digest_of(ctx, at, "anchor (1)", anchor)?,
        path: parse_path(ctx, at, path)?,
    })
}

/// A path: `[+ [left: bool, hash: bstr .size 32]]`.
fn parse_path(ctx: Ctx, at: &str, path: Value) -> Result<Vec<ProofStep>> {
    let Value::Array(elements) = path else {
        return Err(ctx.malformed(
            at,
            format_args!("path (2) is {}, not an array", kind(&path)),
        ));
    };
    check_path_len(ctx.what, at, elements.len())?;
    elements
        .into_iter()
        .enumerate()
        .map(|(i, element)| {
            let bad = || ctx.malformed(at, format_args!("path element {i} is not [bool, bstr]"));
            let Value::Array(pair) = element else {
                return Err(bad());
            };
            let Ok([left, hash]) = <[Value; 2]>::try_from(pair) else {
                return Err(bad());
            };
            let Value::Bool(left) = left else {
                return Err(bad());
            };
            let hash = digest_of(ctx, at, &format!("path element {i} hash"), hash)?;
            Ok(if left {
                ProofStep::Left(hash)
            } else {
                ProofStep::Right(hash)
            })
        })
        .collect()
}

fn digest_of(ctx: Ctx, at: &str, name: &str, v: Value) -> Result<Digest> {
    match v {
        Value::Bytes(b) => <Digest>::try_from(b.as_slice())
            .map_err(|_| ctx.malformed(at, format_args!("{name} is {} bytes, not 32", b.len()))),
        other => Err(ctx.malformed(
            at,
            format_args!("{name} is {}, not a byte string", kind(&other)),
        )),
    }
}

/// A key of a closed map.
#[derive(Clone, Copy)]
enum Key {
    Int(i64),
    Text(&'static str),
}

impl Key {
    fn matches(self, v: &Value) -> bool {
        match (self, v) {
            (Key::Int(k), Value::Integer(i)) => i128::from(*i) == i128::from(k),
            (Key::Text(k), Value::Text(t)) => t == k,
            _ => false,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(k) => write!(f, "{k}"),
            Key::Text(k) => write!(f, "{k:?}"),
        }
    }
}

/// The values of a map that must have exactly the keys `keys` (in any order; duplicates are
/// refused before), in the order of `keys`.
fn closed_map<const N: usize>(
    ctx: Ctx,
    at: &str,
    value: Value,
    keys: [Key; N],
) -> Result<[Value; N]> {
    let Value::Map(entries) = value else {
        return Err(ctx.malformed(at, format_args!("{}, not a map", kind(&value))));
    };
    let mut found: [Option<Value>; N] = std::array::from_fn(|_| None);
    for (k, v) in entries {
        let Some(i) = keys.iter().position(|key| key.matches(&k)) else {
            return Err(ctx.malformed(at, format_args!("unknown key {}", describe(&k))));
        };
        if let Some(slot) = found.get_mut(i) {
            *slot = Some(v);
        }
    }
    let mut out = Vec::with_capacity(N);
    for (key, v) in keys.iter().zip(found) {
        match v {
            Some(v) => out.push(v),
            None => return Err(ctx.malformed(at, format_args!("key {key} is missing"))),
        }
    }
    <[Value; N]>::try_from(out).map_err(|_| ctx.malformed(at, "internal: wrong number of keys"))
}

fn int(i: i64) -> Value {
    Value::Integer(Integer::from(i))
}

fn int_of(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

/// What kind of CBOR item `v` is, for error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tagged item",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "a simple value",
    }
}

/// A map key as error messages show it.
fn describe(k: &Value) -> String {
    match k {
        Value::Integer(i) => i128::from(*i).to_string(),
        Value::Text(t) => format!("{:?}", excerpt(t)),
        other => kind(other).to_owned(),
    }
}

/// Decodes one CBOR item that must fill `bytes`, be well formed, use definite lengths and
/// the shortest form of every integer, length and float (RFC 8949 section 4.2.1, without the
/// key order), and repeat no map key.
fn decode_strict(ctx: Ctx, at: &str, bytes: &[u8]) -> Result<Value> {
    let mut rest = bytes;
    let value: Value = ciborium::de::from_reader(&mut rest)
        .map_err(|e| ctx.malformed(at, format_args!("not well-formed CBOR: {e}")))?;
    if !rest.is_empty() {
        return Err(ctx.malformed(
            at,
            format_args!("{} trailing bytes after the CBOR item", rest.len()),
        ));
    }
    if let Some((offset, what)) = first_not_preferred(bytes) {
        return Err(ctx.malformed(
            at,
            format_args!(
                "{what} at byte {offset}: definite lengths and the shortest form of every \
                 integer and length are required (RFC 8949 section 4.2.1)"
            ),
        ));
    }
    check_unique_keys(ctx, at, &value)?;
    // Every head is in its shortest form, so re-encoding gives the input back; anything
    // else (a bignum tag decoded as an integer, say) is refused here.
    match encode_value(&value) {
        Ok(again) if again == bytes => Ok(value),
        _ => Err(ctx.malformed(at, "not in preferred serialization (RFC 8949 section 4.1)")),
    }
}

/// The first item head of `bytes` that is indefinite-length or not in its shortest form, as
/// (byte offset, description); `None` if every head is preferred or the bytes stop parsing.
fn first_not_preferred(bytes: &[u8]) -> Option<(usize, &'static str)> {
    use ciborium_ll::{Decoder, Encoder, Header as Head};
    let mut decoder = Decoder::from(bytes);
    let mut chunk = [0u8; 256];
    loop {
        let start = decoder.offset();
        if start >= bytes.len() {
            return None;
        }
        let head = decoder.pull().ok()?;
        let head_len = decoder.offset() - start;
        match head {
            Head::Array(None) | Head::Map(None) => {
                return Some((start, "an indefinite-length array or map"))
            }
            Head::Bytes(None) | Head::Text(None) => {
                return Some((start, "an indefinite-length string"))
            }
            Head::Break => return Some((start, "a break code")),
            _ => {}
        }
        let mut preferred = Vec::with_capacity(9);
        Encoder::from(&mut preferred).push(head).ok()?;
        if preferred.len() != head_len {
            return Some((
                start,
                "an integer, length or float not in its shortest form",
            ));
        }
        match head {
            Head::Bytes(Some(len)) => {
                let mut segments = decoder.bytes(Some(len));
                while let Some(mut segment) = segments.pull().ok()? {
                    while segment.pull(&mut chunk).ok()?.is_some() {}
                }
            }
            Head::Text(Some(len)) => {
                let mut segments = decoder.text(Some(len));
                while let Some(mut segment) = segments.pull().ok()? {
                    while segment.pull(&mut chunk).ok()?.is_some() {}
                }
            }
            _ => {}
        }
    }
}

/// Refuses a map, at any depth, that repeats a key.
fn check_unique_keys(ctx: Ctx, at: &str, value: &Value) -> Result<()> {
    match value {
        Value::Map(entries) => {
            let mut seen = BTreeSet::new();
            for (k, v) in entries {
                let key = encode_value(k).map_err(|e| ctx.malformed(at, e))?;
                if !seen.insert(key) {
                    return Err(Error::invalid(
                        ctx.what,
                        Problem::Duplicate {
                            value: format!("map key {} in the {at}", describe(k)),
                        },
                    ));
                }
                check_unique_keys(ctx, at, k)?;
                check_unique_keys(ctx, at, v)?;
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .try_for_each(|item| check_unique_keys(ctx, at, item)),
        Value::Tag(_, inner) => check_unique_keys(ctx, at, inner),
        _ => Ok(()),
    }
}

// ---- encoding ----

fn encode_value(value: &Value) -> std::result::Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

fn step_value(step: &ProofStep) -> Value {
    let (left, digest) = match step {
        ProofStep::Left(d) => (true, d),
        ProofStep::Right(d) => (false, d),
    };
    Value::Array(vec![Value::Bool(left), Value::Bytes(digest.to_vec())])
}

fn path_value(path: &[ProofStep]) -> Value {
    Value::Array(path.iter().map(step_value).collect())
}

fn encode_inclusion_proof(p: &CoseInclusionProof) -> std::result::Result<Vec<u8>, String> {
    let lc = &p.leaf_components;
    let leaf = Value::Array(vec![
        Value::Bytes(lc.write_set_digest.to_vec()),
        Value::Text(lc.commit_evidence.clone()),
        Value::Bytes(lc.claims_digest.to_vec()),
    ]);
    encode_value(&Value::Map(vec![
        (int(PROOF_LEAF), leaf),
        (int(PROOF_PATH), path_value(&p.path)),
    ]))
}

fn encode_consistency_proof(p: &CoseConsistencyProof) -> std::result::Result<Vec<u8>, String> {
    encode_value(&Value::Map(vec![
        (int(PROOF_ANCHOR), Value::Bytes(p.anchor.to_vec())),
        (int(PROOF_PATH), path_value(&p.path)),
    ]))
}

fn encode_sign1(root: &SignedRoot, unprotected: Header) -> std::result::Result<Vec<u8>, String> {
    CoseSign1 {
        protected: ProtectedHeader {
            original_data: Some(root.protected.clone()),
            header: Header::default(),
        },
        unprotected,
        payload: None,
        signature: root.signature.to_vec(),
    }
    .to_tagged_vec()
    .map_err(|e| e.to_string())
}

fn encode_receipt(
    root: &SignedRoot,
    label: i64,
    proofs: Vec<Vec<u8>>,
) -> std::result::Result<Vec<u8>, String> {
    let vdp = Value::Map(vec![(
        int(label),
        Value::Array(proofs.into_iter().map(Value::Bytes).collect()),
    )]);
    encode_sign1(root, HeaderBuilder::new().value(LABEL_VDP, vdp).build())
}

fn encode_inclusion_receipt(
    root: &SignedRoot,
    proofs: &[CoseInclusionProof],
) -> std::result::Result<Vec<u8>, String> {
    let proofs = proofs
        .iter()
        .map(encode_inclusion_proof)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    encode_receipt(root, VDP_INCLUSION, proofs)
}

fn encode_consistency_receipt(
    root: &SignedRoot,
    proofs: &[CoseConsistencyProof],
) -> std::result::Result<Vec<u8>, String> {
    let proofs = proofs
        .iter()
        .map(encode_consistency_proof)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    encode_receipt(root, VDP_CONSISTENCY, proofs)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use ledger_merkle::MerkleTree;

    use super::*;
    use crate::identity::ServiceIdentity;

    fn claims() -> CwtClaims {
        CwtClaims {
            issuer: "ledger.example".into(),
            subject: "audit".into(),
            issued_at: 1_700_000_000,
        }
    }

    fn tx(view: u64, seqno: u64) -> TxId {
        TxId::new(view, seqno).unwrap()
    }

    fn leaf(seqno: u64) -> LeafComponents {
        LeafComponents {
            write_set_digest: Sha256::digest(seqno.to_be_bytes()).into(),
            commit_evidence: format!("ce:1.{seqno}:{}", "5c".repeat(32)),
            claims_digest: if seqno % 2 == 0 {
                [seqno as u8; 32]
            } else {
                [0; 32]
            },
        }
    }

    /// A tree of `n` leaves: leaf 0 is zeros, leaf s is `leaf(s)`.
    fn tree(n: u64) -> MerkleTree<CcfSha256> {
        let mut t = MerkleTree::new();
        t.push([0; 32]);
        for s in 1..n {
            t.push(leaf(s).leaf_hash());
        }
        t
    }

    fn steps(index: u64, size: u64, t: &MerkleTree<CcfSha256>) -> Vec<ProofStep> {
        let path = t.inclusion_proof(index, size).unwrap();
        crate::receipt::proof_steps(index, size, &path).unwrap()
    }

    fn malformed_reason(e: &Error) -> String {
        match e {
            Error::InvalidInput {
                problem: Problem::Malformed { value, reason },
                ..
            } => format!("{value}: {reason}"),
            other => panic!("not a malformed-input error: {other}"),
        }
    }

    /// A COSE_Sign1 built from arbitrary parts, for the parser's negative cases.
    fn sign1(protected: &Value, unprotected: Value, payload: Value, signature: Vec<u8>) -> Vec<u8> {
        let protected = encode_value(protected).unwrap();
        encode_value(&Value::Tag(
            18,
            Box::new(Value::Array(vec![
                Value::Bytes(protected),
                unprotected,
                payload,
                Value::Bytes(signature),
            ])),
        ))
        .unwrap()
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    /// The protected header [`sign_root`] writes, as a value, with `edit` applied.
    fn protected_value(kid: &str, edit: impl FnOnce(&mut Vec<(Value, Value)>)) -> Value {
        let mut entries = vec![
            (int(1), int(-7)),
            (int(4), Value::Bytes(kid.as_bytes().to_vec())),
            (
                int(15),
                Value::Map(vec![
                    (int(1), text("ledger.example")),
                    (int(2), text("audit")),
                    (int(6), Value::Integer(1_700_000_000u64.into())),
                ]),
            ),
            (int(395), int(2)),
            (
                text("ccf.v1"),
                Value::Map(vec![(text("txid"), text("1.3"))]),
            ),
        ];
        edit(&mut entries);
        Value::Map(entries)
    }

    #[test]
    fn signed_root_carries_ccf_s_header_byte_for_byte() {
        let service = ServiceIdentity::generate("cose test").unwrap();
        let root = [0x42; 32];
        let signed = sign_root(&service, &root, tx(2, 15), &claims()).unwrap();
        let kid = key_id_of(service.verifying_key().as_p256().unwrap()).unwrap();
        let mut want = vec![0xa5, 0x01, 0x26, 0x04, 0x58, 0x40];
        want.extend_from_slice(kid.as_bytes());
        want.extend_from_slice(&[0x0f, 0xa3, 0x01, 0x6e]);
        want.extend_from_slice(b"ledger.example");
        want.extend_from_slice(&[0x02, 0x65]);
        want.extend_from_slice(b"audit");
        want.extend_from_slice(&[0x06, 0x1a, 0x65, 0x53, 0xf1, 0x00]);
        want.extend_from_slice(&[0x19, 0x01, 0x8b, 0x02, 0x66]);
        want.extend_from_slice(b"ccf.v1");
        want.extend_from_slice(&[0xa1, 0x64]);
        want.extend_from_slice(b"txid");
        want.push(0x64);
        want.extend_from_slice(b"2.15");
        // d2: tag 18; 84: array of 4; 58 len: the protected bstr.
        assert_eq!(&signed[..3], &[0xd2, 0x84, 0x58]);
        assert_eq!(usize::from(signed[3]), want.len());
        assert_eq!(&signed[4..4 + want.len()], &want[..]);
        // {} (a0), nil (f6), then the 64-byte signature.
        assert_eq!(
            &signed[4 + want.len()..4 + want.len() + 4],
            &[0xa0, 0xf6, 0x58, 0x40]
        );
        assert_eq!(signed.len(), 4 + want.len() + 4 + 64);
        assert_eq!(
            verify_signed_root(
                &signed,
                &CoseKey::of_p256(service.verifying_key().as_p256().unwrap()).unwrap(),
                &root
            )
            .unwrap(),
            (tx(2, 15), claims())
        );
        let other = ServiceIdentity::generate("other").unwrap();
        let e = verify_signed_root(
            &signed,
            &CoseKey::of_p256(other.verifying_key().as_p256().unwrap()).unwrap(),
            &root,
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::ReceiptInvalid {
                    check: "key id",
                    ..
                }
            ),
            "{e}"
        );
        let e = verify_signed_root(
            &signed,
            &CoseKey::of_p256(service.verifying_key().as_p256().unwrap()).unwrap(),
            &[0x43; 32],
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                Error::ReceiptInvalid {
                    check: "signature",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn receipts_verify_round_trip_and_name_what_they_prove() {
        let service = ServiceIdentity::generate("cose test").unwrap();
        let t = tree(7);
        for size in 2..=7u64 {
            let root = t.root_at(size).unwrap();
            let signed = sign_root(&service, &root, tx(1, size), &claims()).unwrap();
            for seqno in 1..size {
                let r = CoseReceipt::new(&signed, &leaf(seqno), &steps(seqno, size, &t)).unwrap();
                let v = r.verify(service.certificate_pem()).unwrap();
                assert_eq!(v.tx_id, tx(1, seqno));
                assert_eq!(v.claims_digest, leaf(seqno).claims_digest);
                assert_eq!(v.root, root);
                assert_eq!(v.signature_tx, tx(1, size));
                assert_eq!(v.claims, claims());
                assert_eq!(v, r.verify(service.certificate_der()).unwrap());
                assert_eq!(
                    v,
                    r.verify_with_key(service.verifying_key().as_p256().unwrap())
                        .unwrap()
                );
                let back = CoseReceipt::from_slice(&r.to_vec()).unwrap();
                assert_eq!(back, r);
                assert_eq!(back.as_bytes(), r.as_bytes());
                assert_eq!(r.leaf_components(), &leaf(seqno));
                assert_eq!(r.path(), &steps(seqno, size, &t)[..]);
                assert_eq!(r.signature_tx(), tx(1, size));
            }
        }
    }

    #[test]
    fn several_inclusion_proofs_must_share_the_root() {
        let service = ServiceIdentity::generate("cose test").unwrap();
        let t = tree(9);
        let root = t.root_at(9).unwrap();
        let signed = sign_root(&service, &root, tx(1, 9), &claims()).unwrap();
        let proofs: Vec<CoseInclusionProof> = [1, 4, 8]
            .into_iter()
            .map(|s| CoseInclusionProof {
                leaf_components: leaf(s),
                path: steps(s, 9, &t),
            })
            .collect();
        let r = CoseReceipt::with_proofs(&signed, proofs.clone()).unwrap();
        let v = r.verify(service.certificate_pem()).unwrap();
        let txs: Vec<TxId> = v.transactions.iter().map(|(t, _)| *t).collect();
        assert_eq!(txs, [tx(1, 1), tx(1, 4), tx(1, 8)]);
        assert_eq!(CoseReceipt::from_slice(r.as_bytes()).unwrap(), r);
        // A proof from a smaller tree leads elsewhere.
        let mut mixed = proofs;
        mixed.push(CoseInclusionProof {
            leaf_components: leaf(2),
            path: steps(2, 8, &t),
        });
        let r = CoseReceipt::with_proofs(&signed, mixed).unwrap();
        let e = r.verify(service.certificate_pem()).unwrap_err();
        assert!(
            matches!(e, Error::ReceiptInvalid { check: "proof", .. }),
            "{e}"
        );
        // A transaction the signature transaction cannot cover.
        let late = CoseReceipt::new(&signed, &leaf(9), &steps(1, 9, &t)).unwrap();
        let e = late.verify(service.certificate_pem()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::ReceiptInvalid {
                    check: "transaction id",
                    ..
                }
            ),
            "{e}"
        );
        assert!(CoseReceipt::with_proofs(&signed, Vec::new()).is_err());
        assert!(CoseReceipt::new(&signed, &leaf(1), &[]).is_err());
    }

    #[test]
    fn the_parser_refuses_every_deviation_with_a_typed_error() {
        let service = ServiceIdentity::generate("cose test").unwrap();
        let t = tree(4);
        let root = t.root_at(3).unwrap();
        let signed = sign_root(&service, &root, tx(1, 3), &claims()).unwrap();
        let r = CoseReceipt::new(&signed, &leaf(1), &steps(1, 3, &t)).unwrap();
        let good = r.to_vec();
        let kid = r.key_id().to_owned();
        let proof_bytes = encode_inclusion_proof(&r.inclusion_proofs()[0]).unwrap();
        let vdp = |proofs: Value| Value::Map(vec![(int(396), Value::Map(vec![(int(-1), proofs)]))]);
        let good_vdp = vdp(Value::Array(vec![Value::Bytes(proof_bytes.clone())]));
        let sig = r.signature().to_vec();
        let build = |p: Value| sign1(&p, good_vdp.clone(), Value::Null, sig.clone());
        // The builder reproduces the genuine receipt, so each case below differs by one thing.
        assert_eq!(build(protected_value(&kid, |_| {})), good);

        let malformed = |bytes: &[u8], needle: &str| {
            let e = CoseReceipt::from_slice(bytes).unwrap_err();
            let reason = malformed_reason(&e);
            assert!(reason.contains(needle), "{needle:?} not in {reason:?}");
        };
        let mut trailing = good.clone();
        trailing.push(0);
        malformed(&trailing, "trailing bytes");
        malformed(&good[..good.len() - 1], "not well-formed CBOR");
        malformed(&[], "not well-formed CBOR");
        // The outer array, indefinite: 9f ... ff.
        let mut indefinite = good.clone();
        indefinite[1] = 0x9f;
        indefinite.push(0xff);
        malformed(&indefinite, "indefinite-length");
        // Tag 18 in a two-byte head (d8 12).
        let mut long_tag = vec![0xd8, 0x12];
        long_tag.extend_from_slice(&good[1..]);
        malformed(&long_tag, "shortest form");

        let mismatch =
            |bytes: &[u8], needle: &str| match CoseReceipt::from_slice(bytes).unwrap_err() {
                Error::InvalidInput {
                    what: "COSE receipt",
                    problem: Problem::Mismatch { expected, found },
                } => assert!(found.contains(needle), "{expected} / {found}"),
                other => panic!("{other}"),
            };
        mismatch(&good[1..], "untagged");
        let mut tag98 = good.clone();
        tag98.splice(0..1, [0xd8, 0x62]);
        mismatch(&tag98, "tag 98");
        mismatch(
            &build(protected_value(&kid, |e| e[0].1 = int(-35))),
            "alg -35",
        );
        mismatch(&build(protected_value(&kid, |e| e[3].1 = int(1))), "vds 1");

        // Duplicate keys, in the protected header and in the proof.
        let dup = build(protected_value(&kid, |e| e.push((int(395), int(2)))));
        assert!(matches!(
            CoseReceipt::from_slice(&dup),
            Err(Error::InvalidInput {
                problem: Problem::Duplicate { .. },
                ..
            })
        ));
        // Missing, unknown and ill-typed protected labels.
        malformed(
            &build(protected_value(&kid, |e| {
                e.remove(1);
            })),
            "key 4 is missing",
        );
        malformed(
            &build(protected_value(&kid, |e| e.push((int(3), int(0))))),
            "unknown key 3",
        );
        malformed(
            &build(protected_value(&kid, |e| {
                e.push((int(2), Value::Array(vec![int(395)])))
            })),
            "unknown key 2",
        );
        malformed(
            &build(protected_value(&kid, |e| {
                e[1].1 = Value::Bytes(kid.to_uppercase().into_bytes())
            })),
            "kid (4)",
        );
        malformed(
            &build(protected_value(&kid, |e| e[1].1 = text(&kid))),
            "kid (4)",
        );
        malformed(
            &build(protected_value(&kid, |e| {
                e[2].1 = Value::Map(vec![(int(1), text("a")), (int(2), text("b"))])
            })),
            "key 6 is missing",
        );
        malformed(
            &build(protected_value(&kid, |e| {
                e[2].1 = Value::Map(vec![
                    (int(1), text("a")),
                    (int(2), text("b")),
                    (int(6), int(-1)),
                ])
            })),
            "iat (6)",
        );
        malformed(
            &build(protected_value(&kid, |e| {
                e[4].1 = Value::Map(vec![(text("txid"), text("01.3"))])
            })),
            "canonical",
        );
        malformed(
            &build(protected_value(&kid, |e| {
                e[4].1 = Value::Map(vec![(text("txid"), text("1.0"))])
            })),
            "canonical",
        );
        // A protected header in CCF 6.x's order (vds before the CWT claims) parses; the
        // signature covers the bytes as they are, so it does not verify here.
        let ccf6 = build(protected_value(&kid, |e| e.swap(2, 3)));
        let parsed = CoseReceipt::from_slice(&ccf6).unwrap();
        assert_eq!(parsed.to_vec(), ccf6);
        assert!(matches!(
            parsed.verify(service.certificate_pem()),
            Err(Error::ReceiptInvalid {
                check: "signature",
                ..
            })
        ));

        let p = protected_value(&kid, |_| {});
        malformed(
            &sign1(
                &p,
                good_vdp.clone(),
                Value::Bytes(root.to_vec()),
                sig.clone(),
            ),
            "detached",
        );
        malformed(
            &sign1(&p, good_vdp.clone(), Value::Null, sig[..63].to_vec()),
            "64 bytes",
        );
        malformed(
            &sign1(&p, Value::Map(vec![]), Value::Null, sig.clone()),
            "vdp (396) is missing",
        );
        let mut extra = good_vdp.clone();
        if let Value::Map(m) = &mut extra {
            m.push((int(4), Value::Bytes(kid.clone().into_bytes())));
        }
        malformed(
            &sign1(&p, extra, Value::Null, sig.clone()),
            "vdp (396) only",
        );
        assert!(matches!(
            CoseReceipt::from_slice(&sign1(
                &p,
                vdp(Value::Array(vec![])),
                Value::Null,
                sig.clone()
            )),
            Err(Error::InvalidInput {
                problem: Problem::Empty,
                ..
            })
        ));
        let both = Value::Map(vec![(
            int(396),
            Value::Map(vec![
                (
                    int(-1),
                    Value::Array(vec![Value::Bytes(proof_bytes.clone())]),
                ),
                (
                    int(-2),
                    Value::Array(vec![Value::Bytes(proof_bytes.clone())]),
                ),
            ]),
        )]);
        malformed(&sign1(&p, both, Value::Null, sig.clone()), "unknown key -2");
        malformed(
            &sign1(
                &p,
                vdp(Value::Array(vec![text("x")])),
                Value::Null,
                sig.clone(),
            ),
            "not a bstr-wrapped proof",
        );

        // Inside the proof: key order, leaf shape, digest sizes, evidence, path shape.
        let proof_case = |proof: Value, needle: &str| {
            let bytes = encode_value(&proof).unwrap();
            malformed(
                &sign1(
                    &p,
                    vdp(Value::Array(vec![Value::Bytes(bytes)])),
                    Value::Null,
                    sig.clone(),
                ),
                needle,
            );
        };
        let lc = leaf(1);
        let leaf_value = |wsd: Value, ce: Value, cd: Value| Value::Array(vec![wsd, ce, cd]);
        let good_leaf = leaf_value(
            Value::Bytes(lc.write_set_digest.to_vec()),
            text(&lc.commit_evidence),
            Value::Bytes(lc.claims_digest.to_vec()),
        );
        let good_path = path_value(r.path());
        proof_case(
            Value::Map(vec![
                (int(2), good_path.clone()),
                (int(1), good_leaf.clone()),
            ]),
            "deterministic order",
        );
        proof_case(
            Value::Map(vec![(int(1), good_leaf.clone())]),
            "key 2 is missing",
        );
        proof_case(
            Value::Map(vec![
                (int(1), good_leaf.clone()),
                (int(2), Value::Array(vec![])),
            ]),
            "path is empty",
        );
        proof_case(
            Value::Map(vec![
                (int(1), good_leaf.clone()),
                (
                    int(2),
                    Value::Array(vec![Value::Array(vec![int(1), Value::Bytes(vec![0; 32])])]),
                ),
            ]),
            "not [bool, bstr]",
        );
        proof_case(
            Value::Map(vec![
                (int(1), good_leaf.clone()),
                (
                    int(2),
                    Value::Array(vec![Value::Array(vec![
                        Value::Bool(true),
                        Value::Bytes(vec![0; 31]),
                    ])]),
                ),
            ]),
            "31 bytes",
        );
        proof_case(
            Value::Map(vec![
                (
                    int(1),
                    leaf_value(
                        Value::Bytes(vec![0; 33]),
                        text(&lc.commit_evidence),
                        Value::Bytes(vec![0; 32]),
                    ),
                ),
                (int(2), good_path.clone()),
            ]),
            "33 bytes",
        );
        proof_case(
            Value::Map(vec![
                (
                    int(1),
                    leaf_value(
                        Value::Bytes(vec![0; 32]),
                        text("ce:1.1:00"),
                        Value::Bytes(vec![0; 32]),
                    ),
                ),
                (int(2), good_path.clone()),
            ]),
            "commit evidence",
        );
        proof_case(
            Value::Map(vec![
                (int(1), Value::Array(vec![Value::Bytes(vec![0; 32])])),
                (int(2), good_path.clone()),
            ]),
            "exactly 3",
        );
        proof_case(
            Value::Map(vec![
                (int(1), good_leaf),
                (int(2), good_path),
                (int(3), Value::Null),
            ]),
            "unknown key 3",
        );
        // Something else entirely.
        assert!(CoseReceipt::from_slice(&signed).is_err());
        assert!(CoseConsistencyReceipt::from_slice(&good).is_err());
        let too_big = vec![0u8; MAX_COSE_RECEIPT_LEN + 1];
        assert!(matches!(
            CoseReceipt::from_slice(&too_big),
            Err(Error::InvalidInput {
                problem: Problem::TooLarge { .. },
                ..
            })
        ));
    }

    /// Leaf `i` of the draft's consistency-proof samples: SHA-256 of 56 zero bytes and `i`
    /// as a big-endian u64.
    fn sample_leaf(i: u64) -> Digest {
        let mut h = Sha256::new();
        h.update([0u8; 56]);
        h.update(i.to_be_bytes());
        h.finalize().into()
    }

    fn d(hex_digest: &str) -> Digest {
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut out).unwrap();
        out
    }

    /// Samples of the CCF profile draft's working group repository
    /// (`samples/consistency-proofs/EDN.md`, made with merklecpp): (m, n, anchor, path).
    #[allow(clippy::type_complexity)]
    fn samples() -> Vec<(u64, u64, &'static str, Vec<(bool, &'static str)>)> {
        vec![
            (
                1,
                2,
                "F5A5FD42D16A20302798EF6ED309979B43003D2320D9F0E8EA9831A92759FB4B",
                vec![(
                    false,
                    "90F4B39548DF55AD6187A1D20D731ECEE78C545B94AFD16F42EF7592D99CD365",
                )],
            ),
            (
                5,
                6,
                "517B7AF2368FE450DB775DB95CC0745D9FFA7CB26CE7D5922BA01EC50A2C7000",
                vec![
                    (
                        false,
                        "C6481E22C5FF4164AF680B8CFAA5E8ED3120EEFF89C4F307C4A6FAAAE059CE10",
                    ),
                    (
                        true,
                        "917D53D54C2EA71ABBB239E95F4A002B7C06045DCDDED26D09D049FC1CAC327E",
                    ),
                ],
            ),
            (
                7,
                8,
                "DEB2A27A00DBC46E3A59096A8D07D2B97F950158886411FF6A9C9AB9623DADA6",
                vec![
                    (
                        false,
                        "2EBE6807995C988B9D292B535A81546078D93D753A42BF8D15DDCAF2D84BE200",
                    ),
                    (
                        true,
                        "1FFFDAB121C558B9E312CFCE60E611B890B80A390F2E0A2E3FF720A263082C0D",
                    ),
                    (
                        true,
                        "917D53D54C2EA71ABBB239E95F4A002B7C06045DCDDED26D09D049FC1CAC327E",
                    ),
                ],
            ),
            (
                12,
                13,
                "FEDC4BDA1017EB56BE36DFECDFF1C7C54589F6959420DDA2021F3569E9DA7E9E",
                vec![
                    (
                        false,
                        "8B9C3E2B82CEAAA3FF02A7927F30178771AD1B95371C6944DEC393820240F0C9",
                    ),
                    (
                        true,
                        "2A4999BDD8B6C1EE156F7033DDFF6F4646AA7EB7A48AE25AF852516F370C9EAD",
                    ),
                ],
            ),
            (
                23,
                68,
                "6031F906ED21E391399B24DF8D479FC5066D43355AE43C496A5E5528FDD74987",
                vec![
                    (
                        false,
                        "899243F3B4EC36F40F551CB10738A6BE81E517FAF9667A9BEA0BDD346BEC93E6",
                    ),
                    (
                        true,
                        "6CE7A2873E658F587077FCC0F4AF7084A11DC048A6E4841E3815F02AA914C9BC",
                    ),
                    (
                        true,
                        "744497FD454EC3602E3DA28E705213B41569BC9BD15FA0E9FFD545A95CAA353D",
                    ),
                    (
                        false,
                        "D4AC0983CFBA81F0975BA12980E42F011B3602AB3F60413625D09DC9F87B1624",
                    ),
                    (
                        true,
                        "83C656CE136AC58D15DFF29F7F83BCD0EE02335F7C609B85A9B85903A679D6FD",
                    ),
                    (
                        false,
                        "AC62440C33E249B0F464044F8792C0283E6090A5EB5C3CD80BD7EB670E356512",
                    ),
                    (
                        false,
                        "B2E93C8F938AD00C321D13785869EAFEDE0C2CEEA64037E784149C271054B7F1",
                    ),
                ],
            ),
            (
                64,
                70,
                "FA0AA8FE10671193F684C03B75A0F472ECDE1DBCBCC335597B4A148A93D97B03",
                vec![(
                    false,
                    "7CDAEF79DBEBB640C1389DF90DCC5F66BBA250B011805AAD4EFB9CE1E4FA492E",
                )],
            ),
            (
                37,
                45,
                "3FC11D6395C9523ED435BE2308CDA768C845AC31D578642CA227E3DAFF43F1F0",
                vec![
                    (
                        false,
                        "DEE35ED77BE4C0721874FF7747012D75C426CBBCB84E38D5DB19B2CC67BEC2FA",
                    ),
                    (
                        false,
                        "3578C695FF7FF56CAED4BBE5AAB8F38CC7995A3B1494EB87F74ADB9408E8FDCE",
                    ),
                    (
                        true,
                        "FE1735DD9314F17F626B19E11757CD431F30742519DDC4C74D75AF97F00EDCE4",
                    ),
                    (
                        false,
                        "298BBE1C3AB5B5ED3B1E03037358542BF7C4D56B873ACF5756595786AAD12D29",
                    ),
                    (
                        true,
                        "602DAFD6BA158727CAD23C516C57CD6341C9248C0FA20E6CEF515FD1732FA209",
                    ),
                ],
            ),
        ]
    }

    #[test]
    fn consistency_proofs_match_the_draft_s_samples() {
        let mut t = MerkleTree::<CcfSha256>::new();
        for i in 0..70 {
            t.push(sample_leaf(i));
        }
        for (m, n, anchor, path) in samples() {
            let (rm, rn) = (t.root_at(m).unwrap(), t.root_at(n).unwrap());
            let rfc = t.consistency_proof(m, n).unwrap();
            let p = CoseConsistencyProof::from_rfc9162(m, n, &rm, &rn, &rfc).unwrap();
            let want = CoseConsistencyProof {
                anchor: d(anchor),
                path: path
                    .iter()
                    .map(|&(left, h)| {
                        if left {
                            ProofStep::Left(d(h))
                        } else {
                            ProofStep::Right(d(h))
                        }
                    })
                    .collect(),
            };
            assert_eq!(p, want, "{m} -> {n}");
            assert_eq!(p.roots(), (rm, rn), "{m} -> {n}");
        }
    }

    #[test]
    fn consistency_receipts_verify_and_refuse_what_they_should() {
        let service = ServiceIdentity::generate("cose test").unwrap();
        let mut t = MerkleTree::<CcfSha256>::new();
        for i in 0..70 {
            t.push(sample_leaf(i));
        }
        for (m, n) in [(1, 2), (5, 6), (8, 12), (23, 68), (64, 70), (69, 70)] {
            let (rm, rn) = (t.root_at(m).unwrap(), t.root_at(n).unwrap());
            let signed = sign_root(&service, &rn, tx(3, n), &claims()).unwrap();
            let proof = t.consistency_proof(m, n).unwrap();
            let r = CoseConsistencyReceipt::new(&signed, m, n, &rm, &rn, &proof).unwrap();
            let v = r.verify(service.certificate_pem(), m, &rm).unwrap();
            assert_eq!(
                (v.old_size, v.old_root, v.new_size, v.new_root),
                (m, rm, n, rn)
            );
            assert_eq!(v.signature_tx, tx(3, n));
            assert_eq!(CoseConsistencyReceipt::from_slice(r.as_bytes()).unwrap(), r);
            // Another older root, another older size, another key.
            let e = r
                .verify(service.certificate_pem(), m, &[1; 32])
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::ReceiptInvalid {
                        check: "consistency proof",
                        ..
                    }
                ),
                "{e}"
            );
            if m > 1 {
                let e = r.verify(service.certificate_pem(), m - 1, &rm).unwrap_err();
                assert!(
                    matches!(
                        e,
                        Error::ReceiptInvalid {
                            check: "consistency proof",
                            ..
                        }
                    ),
                    "{e}"
                );
            }
            let e = r.verify(service.certificate_pem(), n, &rm).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::ReceiptInvalid {
                        check: "tree size",
                        ..
                    }
                ),
                "{e}"
            );
            let other = ServiceIdentity::generate("other").unwrap();
            let e = r.verify(other.certificate_pem(), m, &rm).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::ReceiptInvalid {
                        check: "key id",
                        ..
                    }
                ),
                "{e}"
            );
            // A signature over another root.
            let wrong = sign_root(&service, &rm, tx(3, n), &claims()).unwrap();
            let r = CoseConsistencyReceipt::with_proofs(&wrong, r.proofs().to_vec()).unwrap();
            let e = r.verify(service.certificate_pem(), m, &rm).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::ReceiptInvalid {
                        check: "signature",
                        ..
                    }
                ),
                "{e}"
            );
        }
        // The draft's sample 17: a non-canonical anchor for 8 -> 12 folds to both roots, but
        // is not the proof from size 8.
        let (r8, r12) = (t.root_at(8).unwrap(), t.root_at(12).unwrap());
        let odd = CoseConsistencyProof {
            anchor: d("B18A214C06BB5EB1546C9FE03C50F6923A88DFCBB0097DC1AC2427C69788C776"),
            path: vec![
                ProofStep::Left(d(
                    "917D53D54C2EA71ABBB239E95F4A002B7C06045DCDDED26D09D049FC1CAC327E",
                )),
                ProofStep::Right(d(
                    "FEDC4BDA1017EB56BE36DFECDFF1C7C54589F6959420DDA2021F3569E9DA7E9E",
                )),
            ],
        };
        assert_eq!(odd.roots(), (r8, r12));
        let signed = sign_root(&service, &r12, tx(3, 12), &claims()).unwrap();
        let r = CoseConsistencyReceipt::with_proofs(&signed, vec![odd]).unwrap();
        let e = r.verify(service.certificate_pem(), 8, &r8).unwrap_err();
        assert!(
            matches!(
                e,
                Error::ReceiptInvalid {
                    check: "consistency proof",
                    ..
                }
            ),
            "{e}"
        );
        // Building refuses a proof to another size than the signed one, or a wrong proof.
        let proof = t.consistency_proof(8, 12).unwrap();
        let e = CoseConsistencyReceipt::new(&signed, 8, 13, &r8, &r12, &proof).unwrap_err();
        assert!(e.is_invalid_input(), "{e}");
        assert!(CoseConsistencyReceipt::new(&signed, 8, 12, &r12, &r12, &proof).is_err());
        assert!(CoseConsistencyReceipt::new(&signed, 12, 12, &r12, &r12, &[]).is_err());
    }

    #[test]
    fn cwt_claims_serde_round_trip() {
        let json = serde_json::to_string(&claims()).unwrap();
        assert_eq!(
            json,
            r#"{"issuer":"ledger.example","subject":"audit","issued_at":1700000000}"#
        );
        assert_eq!(serde_json::from_str::<CwtClaims>(&json).unwrap(), claims());
    }

    #[test]
    fn receipts_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CoseReceipt>();
        assert_send_sync::<CoseConsistencyReceipt>();
    }
}
