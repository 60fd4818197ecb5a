//! An embedded SCITT transparency service (RFC 9943): signed statements go in, transparent
//! statements come out.
//!
//! [`Ledger::register_statement`] takes a *signed statement* (an issuer's COSE_Sign1),
//! checks it ([`ScittPolicy::check`]), records it in the [`SCITT_COLLECTION`] collection with
//! its digest as the transaction's claims digest, waits until that transaction is committed,
//! and returns the *transparent statement*: the statement with the ledger's COSE receipt
//! (RFC 9942, CCF profile; see [`CoseReceipt`]) in its unprotected header.
//! [`Ledger::transparent_statement`] rebuilds it later for any registered entry, after a
//! reopen too. Anyone holding the service certificate verifies one offline
//! ([`TransparentStatement::verify`]); so does the `pyscitt` package
//! (`pyscitt.verify.verify_transparent_statement`). Nothing here is hand-encoded: the COSE
//! structures are [`coset`]'s.
//!
//! # Accepted statements
//!
//! In CBOR diagnostic notation, with RFC 9943 section 6 (Figure 3) as the reference:
//!
//! ```text
//! 18([                                  / COSE_Sign1, tag 18 required                  /
//!   << {                                / protected header                             /
//!     1: -7 / -35 / -8,                 / alg: ES256 (P-256), ES384 (P-384), EdDSA      /
//!                                       /   (Ed25519); required, protected              /
//!     ? 2: [+ label],                   / crit: only labels 1, 3, 4, 15 and 33          /
//!     ? 4: h'<kid>',                    / kid: names a key registered with the policy   /
//!     ? 33: h'<cert>' / [+ h'<cert>'],  / x5chain (RFC 9360): leaf certificate first    /
//!     15: { 1: "<iss>", 2: "<sub>",     / CWT claims (RFC 9597): iss and sub required,  /
//!           * label => any },           /   non-empty text                              /
//!     * label => any                    / anything else, passed to the policy          /
//!   } >>,
//!   { * label => any },                 / unprotected header: emptied at registration  /
//!   h'<payload>',                       / payload: attached (nil is refused)           /
//!   h'<signature>'                      / r ‖ s for ECDSA, RFC 8032 for EdDSA           /
//! ])
//! ```
//!
//! at most [`MAX_STATEMENT_LEN`] bytes, one CBOR item with nothing after it. The checks, in
//! order, each refusal an [`Error::StatementRefused`] carrying a [`StatementRefusal`]:
//! length, CBOR, tag 18, COSE_Sign1 structure (coset's decoder: no repeated header label),
//! `alg`, `crit`, CWT claims, attached payload, issuer key, signature, policy rule.
//!
//! # Issuer keys
//!
//! The issuer key is found from the protected header only (the signature covers it):
//!
//! * `x5chain` (label 33): the leaf certificate's public key (P-256, P-384 or Ed25519). The
//!   chain is not validated against trust anchors here: a program that requires that (RFC
//!   9943 section 5.1.1.1 asks a service to build a path to a registered root) does it in its
//!   policy rule, which sees the certificates ([`SignedStatement::x5chain`]).
//! * `kid` (label 4): the key registered under exactly those bytes with
//!   [`ScittPolicy::issuer_key`].
//!
//! When both are present, every key found is checked: the leaf certificate's, and the
//! registered one if the `kid` is registered (an unregistered `kid` beside an `x5chain` is
//! ignored). With neither, or with only an unregistered `kid`, the statement is refused. The
//! key must suit `alg` (ES256: P-256, ES384: P-384, EdDSA: Ed25519), and the signature is
//! checked over the RFC 9052 `Sig_structure` `["Signature1", protected, h'', payload]`.
//!
//! # What is recorded
//!
//! RFC 9943 section 6.3 requires the unprotected header to be emptied before a statement
//! enters the log. The *registered statement* is therefore the submitted one re-encoded by
//! coset with an empty unprotected header: the protected header's bytes, the payload and the
//! signature exactly as submitted, in a shortest-form `d2 84 <protected> a0 <payload>
//! <signature>` envelope. It equals the submitted bytes whenever those had an empty
//! unprotected header and shortest-form lengths (as every COSE library writes them).
//!
//! Registration records one transaction that appends the registered statement to the
//! [`SCITT_COLLECTION`] collection (`"scitt"`) and whose claims digest is SHA-256 of the
//! registered statement. The collection is an ordinary one; [`Ledger::transparent_statement`]
//! answers only for entries that parse as registered statements and whose transaction's
//! claims digest is their SHA-256.
//!
//! # Transparent statements
//!
//! The registered statement with the unprotected header `{394: [+ bstr .cbor Receipt]}`
//! (RFC 9943 section 7, RFC 9942 section 2): the receipts as byte strings holding each
//! receipt's tagged COSE_Sign1. The ledger writes exactly one receipt, the
//! [`CoseReceipt`] of the registering transaction, whose leaf's claims digest is SHA-256 of
//! the registered statement. So a verifier strips the unprotected header (as `pyscitt`'s
//! `validate` does), hashes, and checks the receipt against that digest.
//! [`TransparentStatement::from_slice`] reads exactly this form (1 to
//! [`MAX_TRANSPARENT_RECEIPTS`] receipts, each a [`CoseReceipt`], and no other label).
//!
//! # Policy
//!
//! The [`ScittPolicy`] of a ledger is set by the embedding program
//! ([`Ledger::set_scitt_policy`]) and held in memory, per ledger handle (set it again after a
//! reopen). The default accepts every statement that passes the checks above and knows no
//! `kid`. Its rule, a closure over the parsed statement (the protected header, the CWT
//! claims, the certificates), returns `Err(reason)` to refuse, surfaced as
//! [`StatementRefusal::Policy`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use ciborium::value::Value;
use coset::{
    iana, AsCborValue, CoseSign1, Header, HeaderBuilder, Label, RegisteredLabelWithPrivate,
    TaggedCborSerializable,
};
use der::{Decode as _, Encode as _};
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use p256::ecdsa::signature::Verifier as _;
use parking_lot::RwLock;
use sha2::{Digest as _, Sha256};

use crate::cose::CoseReceipt;
use crate::curves::PublicKey;
use crate::leaf::{parse_commit_evidence, Digest};
use crate::ledger::Ledger;
use crate::refusal::StatementRefusal;
use crate::transaction::Transaction;
use crate::txid::{TxId, TxStatus};
use crate::{Error, Problem, Result};

/// The collection registered statements are appended to.
pub const SCITT_COLLECTION: &str = "scitt";

/// Longest signed statement accepted: 1 MiB (the default largest entry, too).
pub const MAX_STATEMENT_LEN: usize = 1 << 20;

/// Most receipts [`TransparentStatement::from_slice`] reads from one transparent statement.
pub const MAX_TRANSPARENT_RECEIPTS: usize = 16;

/// How long [`Ledger::register_statement`] waits for the commit by default: 30 s.
pub const DEFAULT_COMMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The receipts header of a transparent statement (RFC 9943).
const LABEL_RECEIPTS: i64 = 394;
/// `x5chain` (RFC 9360).
const LABEL_X5CHAIN: i64 = 33;
/// CWT claims in a header (RFC 9597).
const LABEL_CWT_CLAIMS: i64 = 15;
const CWT_ISS: i64 = 1;
const CWT_SUB: i64 = 2;
/// Header labels whose meaning registration checks, so `crit` may name them.
const UNDERSTOOD: [i64; 5] = [1, 3, 4, LABEL_CWT_CLAIMS, LABEL_X5CHAIN];
/// The OID of Ed25519 keys (RFC 8410).
const ID_ED25519: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.101.112");

fn refused(refusal: StatementRefusal) -> Error {
    Error::StatementRefused { refusal }
}

/// The signature algorithms a statement may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }
}

/// An issuer's public key: P-256, P-384 or Ed25519. Registered under a `kid` with
/// [`ScittPolicy::issuer_key`], or read from a statement's `x5chain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerKey {
    /// An ECDSA P-256 key (ES256 signatures).
    P256(p256::ecdsa::VerifyingKey),
    /// An ECDSA P-384 key (ES384 signatures).
    P384(p384::ecdsa::VerifyingKey),
    /// An Ed25519 key (EdDSA signatures).
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl IssuerKey {
    /// Reads a DER SubjectPublicKeyInfo holding a P-256, P-384 or Ed25519 key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "issuer public key"`) if it does not decode or holds
    /// another kind of key.
    pub fn from_public_key_der(spki_der: &[u8]) -> Result<Self> {
        Self::from_spki(spki_der).map_err(|e| Error::malformed("issuer public key", "DER", e))
    }

    /// Reads a PEM `PUBLIC KEY` block holding a P-256, P-384 or Ed25519 key.
    ///
    /// # Errors
    ///
    /// As [`IssuerKey::from_public_key_der`].
    pub fn from_public_key_pem(pem: &str) -> Result<Self> {
        let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
            .map_err(|e| Error::malformed("issuer public key", "PEM", e))?;
        if label != "PUBLIC KEY" {
            return Err(Error::malformed(
                "issuer public key",
                label,
                "expected a PUBLIC KEY PEM block",
            ));
        }
        Self::from_public_key_der(&der)
    }

    /// The public key of an X.509 certificate (DER).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "issuer certificate"`) if the certificate does not
    /// decode or holds another kind of key.
    pub fn from_certificate_der(der: &[u8]) -> Result<Self> {
        Self::from_cert(der).map_err(|e| Error::malformed("issuer certificate", "DER", e))
    }

    fn from_cert(der: &[u8]) -> std::result::Result<Self, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("certificate does not decode: {e}"))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("certificate key does not encode: {e}"))?;
        Self::from_spki(&spki)
    }

    fn from_spki(spki_der: &[u8]) -> std::result::Result<Self, String> {
        let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| format!("public key does not decode: {e}"))?;
        if spki.algorithm.oid == ID_ED25519 {
            return ed25519_dalek::VerifyingKey::from_public_key_der(spki_der)
                .map(IssuerKey::Ed25519)
                .map_err(|e| format!("Ed25519 public key does not decode: {e}"));
        }
        Ok(match PublicKey::from_spki_der(spki_der)? {
            PublicKey::P256(k) => IssuerKey::P256(k),
            PublicKey::P384(k) => IssuerKey::P384(k),
        })
    }

    /// The key's kind: `"P-256"`, `"P-384"` or `"Ed25519"`.
    pub fn kind(&self) -> &'static str {
        match self {
            IssuerKey::P256(_) => "P-256",
            IssuerKey::P384(_) => "P-384",
            IssuerKey::Ed25519(_) => "Ed25519",
        }
    }

    /// Verifies `signature` over `tbs` for `alg`; `which` names the key in the refusal.
    fn verify(&self, alg: Alg, tbs: &[u8], signature: &[u8], which: &'static str) -> Result<()> {
        let bad = || refused(StatementRefusal::BadSignature { key: which });
        match (self, alg) {
            (IssuerKey::P256(key), Alg::Es256) => {
                let sig = p256::ecdsa::Signature::from_slice(signature).map_err(|_| bad())?;
                key.verify(tbs, &sig).map_err(|_| bad())
            }
            (IssuerKey::P384(key), Alg::Es384) => {
                let sig = p384::ecdsa::Signature::from_slice(signature).map_err(|_| bad())?;
                key.verify(tbs, &sig).map_err(|_| bad())
            }
            (IssuerKey::Ed25519(key), Alg::EdDsa) => {
                let sig = ed25519_dalek::Signature::from_slice(signature).map_err(|_| bad())?;
                key.verify_strict(tbs, &sig).map_err(|_| bad())
            }
            _ => Err(refused(StatementRefusal::KeyAlgorithmMismatch {
                alg: alg.name(),
                key: self.kind(),
            })),
        }
    }
}

impl From<p256::ecdsa::VerifyingKey> for IssuerKey {
    fn from(key: p256::ecdsa::VerifyingKey) -> Self {
        IssuerKey::P256(key)
    }
}

impl From<p384::ecdsa::VerifyingKey> for IssuerKey {
    fn from(key: p384::ecdsa::VerifyingKey) -> Self {
        IssuerKey::P384(key)
    }
}

impl From<ed25519_dalek::VerifyingKey> for IssuerKey {
    fn from(key: ed25519_dalek::VerifyingKey) -> Self {
        IssuerKey::Ed25519(key)
    }
}

/// A registration rule: `Err(reason)` refuses the statement.
type Rule = dyn Fn(&SignedStatement) -> std::result::Result<(), String> + Send + Sync;

/// What a ledger accepts for registration, set by the embedding program with
/// [`Ledger::set_scitt_policy`]: the issuer keys registered by `kid`, an optional rule over
/// the parsed statement, and how long registration waits for the commit.
///
/// Default = accept every statement that passes the format and signature checks (see the
/// module's `# Accepted statements`), no registered `kid`, [`DEFAULT_COMMIT_TIMEOUT`].
#[derive(Clone)]
pub struct ScittPolicy {
    keys: Arc<BTreeMap<Vec<u8>, IssuerKey>>,
    rule: Option<Arc<Rule>>,
    commit_timeout: Duration,
}

impl Default for ScittPolicy {
    fn default() -> Self {
        Self {
            keys: Arc::default(),
            rule: None,
            commit_timeout: DEFAULT_COMMIT_TIMEOUT,
        }
    }
}

impl fmt::Debug for ScittPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScittPolicy")
            .field(
                "kids",
                &self.keys.keys().map(hex::encode).collect::<Vec<_>>(),
            )
            .field("rule", &self.rule.as_ref().map(|_| "closure"))
            .field("commit_timeout", &self.commit_timeout)
            .finish()
    }
}

impl ScittPolicy {
    /// The default policy: every well-formed, correctly signed statement is accepted.
    pub fn accept_all() -> Self {
        Self::default()
    }

    /// Registers `key` under `kid` (the exact bytes of a statement's `kid` header), replacing
    /// any key registered under it before.
    #[must_use]
    pub fn issuer_key(mut self, kid: impl AsRef<[u8]>, key: IssuerKey) -> Self {
        Arc::make_mut(&mut self.keys).insert(kid.as_ref().to_vec(), key);
        self
    }

    /// Sets the rule applied after the signature check: `Err(reason)` refuses the statement
    /// with [`StatementRefusal::Policy`]. It replaces any earlier rule.
    #[must_use]
    pub fn rule(
        mut self,
        rule: impl Fn(&SignedStatement) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.rule = Some(Arc::new(rule));
        self
    }

    /// Sets how long [`Ledger::register_statement`] waits for its transaction to commit.
    /// Default = [`DEFAULT_COMMIT_TIMEOUT`].
    #[must_use]
    pub fn commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }

    /// Runs every registration check on `statement` without recording anything: parses it
    /// ([`SignedStatement::from_slice`]), finds the issuer key, verifies the signature and
    /// applies the rule.
    ///
    /// # Errors
    ///
    /// [`Error::StatementRefused`] with the [`StatementRefusal`] of the first check that
    /// fails (see the module's `# Accepted statements`).
    pub fn check(&self, statement: &[u8]) -> Result<SignedStatement> {
        let parsed = SignedStatement::from_slice(statement)?;
        let tbs = parsed.sign1.tbs_data(b"");
        let signature = &parsed.sign1.signature;
        let mut checked = false;
        if let Some(leaf) = parsed.x5chain.first() {
            let key = IssuerKey::from_cert(leaf)
                .map_err(|reason| refused(StatementRefusal::BadCertificate { reason }))?;
            key.verify(parsed.alg, &tbs, signature, "x5chain")?;
            checked = true;
        }
        let kid = &parsed.sign1.protected.header.key_id;
        if !kid.is_empty() {
            match self.keys.get(kid) {
                Some(key) => {
                    key.verify(parsed.alg, &tbs, signature, "kid")?;
                    checked = true;
                }
                None if !checked => {
                    return Err(refused(StatementRefusal::UnknownKeyId {
                        kid: hex::encode(kid),
                    }))
                }
                None => {}
            }
        }
        if !checked {
            return Err(refused(StatementRefusal::NoIssuerKey));
        }
        if let Some(rule) = &self.rule {
            rule(&parsed).map_err(|reason| {
                refused(StatementRefusal::Policy {
                    issuer: parsed.issuer.clone(),
                    subject: parsed.subject.clone(),
                    reason,
                })
            })?;
        }
        Ok(parsed)
    }
}

/// A signed statement in its registered form (unprotected header emptied; see the module's
/// `# What is recorded`), parsed and checked for form. Its signature is checked by
/// [`ScittPolicy::check`], not by [`SignedStatement::from_slice`].
#[derive(Clone, Debug, PartialEq)]
pub struct SignedStatement {
    /// The registered form's bytes.
    bytes: Vec<u8>,
    /// The registered form, parsed.
    sign1: CoseSign1,
    alg: Alg,
    issuer: String,
    subject: String,
    x5chain: Vec<Vec<u8>>,
}

impl SignedStatement {
    /// Parses a signed statement and checks its form: everything of the module's
    /// `# Accepted statements` except the issuer key, the signature and the policy rule.
    /// Never panics.
    ///
    /// # Errors
    ///
    /// [`Error::StatementRefused`] with the [`StatementRefusal`] of the first rule broken.
    pub fn from_slice(statement: &[u8]) -> Result<Self> {
        if statement.len() > MAX_STATEMENT_LEN {
            return Err(refused(StatementRefusal::TooLarge {
                size: statement.len() as u64,
                limit: MAX_STATEMENT_LEN as u64,
            }));
        }
        let mut rest = statement;
        let value: Value = ciborium::de::from_reader(&mut rest).map_err(|e| {
            refused(StatementRefusal::NotCbor {
                reason: e.to_string(),
            })
        })?;
        if !rest.is_empty() {
            return Err(refused(StatementRefusal::NotCbor {
                reason: format!("{} bytes after the CBOR item", rest.len()),
            }));
        }
        let inner = match value {
            Value::Tag(18, inner) => *inner,
            Value::Tag(tag, _) => {
                return Err(refused(StatementRefusal::WrongTag { found: Some(tag) }))
            }
            Value::Array(_) => return Err(refused(StatementRefusal::WrongTag { found: None })),
            _ => {
                return Err(refused(StatementRefusal::NotCoseSign1 {
                    reason: "not a tagged array".into(),
                }))
            }
        };
        let mut sign1 = CoseSign1::from_cbor_value(inner).map_err(|e| {
            refused(StatementRefusal::NotCoseSign1 {
                reason: e.to_string(),
            })
        })?;
        sign1.unprotected = Header::default();
        let header = &sign1.protected.header;
        let alg = match &header.alg {
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256)) => Alg::Es256,
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES384)) => Alg::Es384,
            Some(RegisteredLabelWithPrivate::Assigned(iana::Algorithm::EdDSA)) => Alg::EdDsa,
            other => {
                return Err(refused(StatementRefusal::UnsupportedAlgorithm {
                    alg: other.as_ref().map(label_text),
                }))
            }
        };
        for label in &header.crit {
            let understood = match label {
                RegisteredLabelWithPrivate::Assigned(p) => UNDERSTOOD.contains(&(*p as i64)),
                RegisteredLabelWithPrivate::PrivateUse(i) => UNDERSTOOD.contains(i),
                RegisteredLabelWithPrivate::Text(_) => false,
            };
            if !understood {
                return Err(refused(StatementRefusal::UnknownCriticalHeader {
                    label: label_text(label),
                }));
            }
        }
        let (issuer, subject) = cwt_claims(header)?;
        let x5chain = x5chain(header)?;
        if sign1.payload.is_none() {
            return Err(refused(StatementRefusal::DetachedPayload));
        }
        let bytes = sign1.clone().to_tagged_vec().map_err(|e| {
            refused(StatementRefusal::NotCoseSign1 {
                reason: e.to_string(),
            })
        })?;
        Ok(Self {
            bytes,
            sign1,
            alg,
            issuer,
            subject,
            x5chain,
        })
    }

    /// The registered form's bytes: a tagged COSE_Sign1 with an empty unprotected header.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The registered form's bytes, owned.
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// SHA-256 of the registered form: the claims digest of the registering transaction.
    pub fn digest(&self) -> Digest {
        Sha256::digest(&self.bytes).into()
    }

    /// The protected header, parsed (every label: `rest` holds those coset has no field for).
    pub fn protected_header(&self) -> &Header {
        &self.sign1.protected.header
    }

    /// The protected header's bytes, as signed.
    pub fn protected_header_bytes(&self) -> &[u8] {
        self.sign1
            .protected
            .original_data
            .as_deref()
            .unwrap_or_default()
    }

    /// The signature algorithm: `"ES256"`, `"ES384"` or `"EdDSA"`.
    pub fn algorithm(&self) -> &'static str {
        self.alg.name()
    }

    /// The `kid` (label 4), empty if absent.
    pub fn key_id(&self) -> &[u8] {
        &self.sign1.protected.header.key_id
    }

    /// The CWT claims' `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The CWT claims' `sub`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The `x5chain` certificates (DER), leaf first; empty if absent.
    pub fn x5chain(&self) -> &[Vec<u8>] {
        &self.x5chain
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.sign1.payload.as_deref().unwrap_or_default()
    }
}

/// A label of `alg` or `crit`, as text.
fn label_text<T: iana::EnumI64 + iana::WithPrivateRange>(
    label: &RegisteredLabelWithPrivate<T>,
) -> String {
    match label {
        RegisteredLabelWithPrivate::Assigned(v) => v.to_i64().to_string(),
        RegisteredLabelWithPrivate::PrivateUse(i) => i.to_string(),
        RegisteredLabelWithPrivate::Text(t) => format!("{:?}", crate::error::excerpt(t)),
    }
}

/// The protected header's value under integer label `label`.
fn protected_value(header: &Header, label: i64) -> Option<&Value> {
    header
        .rest
        .iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

/// `iss` and `sub` of the CWT claims (label 15).
fn cwt_claims(header: &Header) -> Result<(String, String)> {
    let malformed =
        |claim, problem| refused(StatementRefusal::MalformedCwtClaims { claim, problem });
    let Some(claims) = protected_value(header, LABEL_CWT_CLAIMS) else {
        return Err(refused(StatementRefusal::MissingCwtClaims));
    };
    let Value::Map(entries) = claims else {
        return Err(malformed("claims", "not a map"));
    };
    let mut seen: Vec<&Value> = Vec::with_capacity(entries.len());
    let (mut iss, mut sub) = (None, None);
    for (key, value) in entries {
        if seen.contains(&key) {
            return Err(malformed("claims", "repeated"));
        }
        seen.push(key);
        let Value::Integer(i) = key else { continue };
        let (slot, name) = match i128::from(*i) {
            x if x == i128::from(CWT_ISS) => (&mut iss, "iss"),
            x if x == i128::from(CWT_SUB) => (&mut sub, "sub"),
            _ => continue,
        };
        match value {
            Value::Text(t) if t.is_empty() => return Err(malformed(name, "empty")),
            Value::Text(t) => *slot = Some(t.clone()),
            _ => return Err(malformed(name, "not a text string")),
        }
    }
    let iss = iss.ok_or_else(|| malformed("iss", "missing"))?;
    let sub = sub.ok_or_else(|| malformed("sub", "missing"))?;
    Ok((iss, sub))
}

/// The certificates of `x5chain` (label 33): one byte string, or an array of them.
fn x5chain(header: &Header) -> Result<Vec<Vec<u8>>> {
    let bad = |reason: &str| {
        refused(StatementRefusal::BadCertificate {
            reason: reason.to_owned(),
        })
    };
    match protected_value(header, LABEL_X5CHAIN) {
        None => Ok(Vec::new()),
        Some(Value::Bytes(cert)) => Ok(vec![cert.clone()]),
        Some(Value::Array(certs)) if certs.is_empty() => Err(bad("an empty array")),
        Some(Value::Array(certs)) => certs
            .iter()
            .map(|c| match c {
                Value::Bytes(cert) => Ok(cert.clone()),
                _ => Err(bad("an array element is not a byte string")),
            })
            .collect(),
        Some(_) => Err(bad("neither a byte string nor an array of them")),
    }
}

/// A registered statement with the ledger's receipt in its unprotected header (RFC 9943
/// section 7; see the module's `# Transparent statements`).
#[derive(Clone, Debug, PartialEq)]
pub struct TransparentStatement {
    bytes: Vec<u8>,
    statement: SignedStatement,
    receipts: Vec<CoseReceipt>,
    tx_id: TxId,
}

/// What a verified [`TransparentStatement`] proves: the statement of digest
/// `statement_digest` was registered by transaction `tx_id` of the ledger whose service
/// certificate the verifier trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedStatement {
    /// The registering transaction, from the receipt's commit evidence.
    pub tx_id: TxId,
    /// SHA-256 of the registered statement, equal to the receipt's claims digest.
    pub statement_digest: Digest,
    /// The signature transaction whose COSE-signed root the receipt carries.
    pub signature_tx: TxId,
    /// The statement's `iss`.
    pub issuer: String,
    /// The statement's `sub`.
    pub subject: String,
}

impl TransparentStatement {
    /// Adds `receipts` to a registered statement's unprotected header under label 394.
    fn assemble(statement: SignedStatement, receipts: Vec<CoseReceipt>) -> Result<Self> {
        let Some(first) = receipts.first() else {
            return Err(Error::invalid("transparent statement", Problem::Empty));
        };
        let tx_id = parse_commit_evidence(&first.leaf_components().commit_evidence)?;
        let mut sign1 = statement.sign1.clone();
        sign1.unprotected = HeaderBuilder::new()
            .value(
                LABEL_RECEIPTS,
                Value::Array(receipts.iter().map(|r| Value::Bytes(r.to_vec())).collect()),
            )
            .build();
        let bytes = sign1
            .to_tagged_vec()
            .map_err(|e| Error::malformed("transparent statement", "encoding", e))?;
        Ok(Self {
            bytes,
            statement,
            receipts,
            tx_id,
        })
    }

    /// Reads a transparent statement: a signed statement in its registered form but for its
    /// unprotected header, which must be exactly `{394: [+ bstr]}` with 1 to
    /// [`MAX_TRANSPARENT_RECEIPTS`] receipts, each a [`CoseReceipt`]; the bytes must be the
    /// ones [`TransparentStatement::to_vec`] would write. Nothing is verified. Never panics.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "transparent statement"`) naming what is wrong: the
    /// signed statement (the [`StatementRefusal`] as the reason), the unprotected header, a
    /// receipt (the [`CoseReceipt::from_slice`] error as the reason), or a non-canonical
    /// encoding.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "transparent statement";
        let statement = SignedStatement::from_slice(bytes)
            .map_err(|e| Error::malformed(WHAT, "signed statement", e))?;
        // The statement parsed, so the envelope is a tagged COSE_Sign1 with nothing after it.
        let mut rest = bytes;
        let value: Value =
            ciborium::de::from_reader(&mut rest).map_err(|e| Error::malformed(WHAT, "CBOR", e))?;
        let Value::Tag(_, inner) = value else {
            return Err(Error::malformed(WHAT, "envelope", "not tagged"));
        };
        let sign1 = CoseSign1::from_cbor_value(*inner)
            .map_err(|e| Error::malformed(WHAT, "envelope", e))?;
        let unprotected = &sign1.unprotected;
        let plain = Header {
            rest: Vec::new(),
            ..unprotected.clone()
        };
        let receipts = match unprotected.rest.as_slice() {
            [(Label::Int(LABEL_RECEIPTS), Value::Array(list))] if plain.is_empty() => list,
            _ => {
                return Err(Error::malformed(
                    WHAT,
                    "unprotected header",
                    "must hold label 394 (receipts) and nothing else",
                ))
            }
        };
        if receipts.is_empty() || receipts.len() > MAX_TRANSPARENT_RECEIPTS {
            return Err(Error::malformed(
                WHAT,
                "receipts",
                format_args!(
                    "{} receipts; 1 to {MAX_TRANSPARENT_RECEIPTS} are read",
                    receipts.len()
                ),
            ));
        }
        let receipts = receipts
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                Value::Bytes(b) => CoseReceipt::from_slice(b)
                    .map_err(|e| Error::malformed(WHAT, format!("receipt {i}"), e)),
                _ => Err(Error::malformed(
                    WHAT,
                    format!("receipt {i}"),
                    "not a byte string",
                )),
            })
            .collect::<Result<Vec<_>>>()?;
        let parsed = Self::assemble(statement, receipts)?;
        if parsed.bytes != bytes {
            return Err(Error::malformed(
                WHAT,
                "encoding",
                "not the canonical encoding of its contents",
            ));
        }
        Ok(parsed)
    }

    /// The registering transaction (from the first receipt's commit evidence).
    pub fn tx_id(&self) -> TxId {
        self.tx_id
    }

    /// The transparent statement's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The transparent statement's bytes, owned.
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// The registered statement (without the receipts).
    pub fn statement(&self) -> &SignedStatement {
        &self.statement
    }

    /// The receipts, in order (one when the ledger made it).
    pub fn receipts(&self) -> &[CoseReceipt] {
        &self.receipts
    }

    /// Verifies the transparent statement against the service certificate (PEM or DER): a
    /// receipt must verify ([`CoseReceipt::verify`]) and its claims digest must be SHA-256 of
    /// the registered statement. With several receipts the first that passes answers. The
    /// issuer's signature is not checked here ([`ScittPolicy::check`] does that).
    ///
    /// # Errors
    ///
    /// The first receipt's error when none passes: [`Error::ReceiptInvalid`] (check
    /// `"claims digest"` when the receipt is genuine but for another statement, else as
    /// [`CoseReceipt::verify`]) or [`Error::InvalidInput`] for an unusable certificate.
    pub fn verify(&self, service_certificate: impl AsRef<[u8]>) -> Result<VerifiedStatement> {
        let digest = self.statement.digest();
        let mut first_error = None;
        for receipt in &self.receipts {
            let outcome = receipt.verify(service_certificate.as_ref()).and_then(|v| {
                if v.claims_digest == digest {
                    Ok(v)
                } else {
                    Err(Error::receipt(
                        "claims digest",
                        format_args!(
                            "the receipt proves claims digest {}, the statement's SHA-256 \
                                 is {}",
                            hex::encode(v.claims_digest),
                            hex::encode(digest)
                        ),
                    ))
                }
            });
            match outcome {
                Ok(v) => {
                    return Ok(VerifiedStatement {
                        tx_id: v.tx_id,
                        statement_digest: digest,
                        signature_tx: v.signature_tx,
                        issuer: self.statement.issuer.clone(),
                        subject: self.statement.subject.clone(),
                    })
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error
            .unwrap_or_else(|| Error::receipt("proof", "the statement carries no receipt")))
    }
}

/// The ledger's SCITT state, in its extension slot.
#[derive(Default)]
struct ScittState {
    policy: RwLock<ScittPolicy>,
}

impl Ledger {
    /// Sets the registration policy of this ledger handle (see [`ScittPolicy`]); it applies
    /// to every later [`Ledger::register_statement`]. Held in memory only.
    pub fn set_scitt_policy(&self, policy: ScittPolicy) {
        *self.extension::<ScittState>().policy.write() = policy;
    }

    /// The registration policy in force (the default until one is set).
    pub fn scitt_policy(&self) -> ScittPolicy {
        self.extension::<ScittState>().policy.read().clone()
    }

    /// Registers a signed statement (see the `scitt` module documentation): checks it with
    /// the ledger's [`ScittPolicy`], records its registered form in the
    /// [`SCITT_COLLECTION`] collection with its SHA-256 as the claims digest, waits until that
    /// transaction is committed (at most the policy's commit timeout), and returns the
    /// transparent statement.
    ///
    /// # Errors
    ///
    /// * [`Error::StatementRefused`] with the [`StatementRefusal`] of the check that refused
    ///   the statement; nothing is recorded then;
    /// * [`Error::InvalidInput`] (`what = "signing_mode"`) if the ledger signs in
    ///   [`crate::SigningMode::Json`] (transparent statements carry COSE receipts), or as
    ///   [`Ledger::append`] for a statement over the ledger's largest entry;
    /// * [`Error::NotCommitted`] if the commit did not happen within the timeout (the
    ///   statement is recorded: fetch it later with [`Ledger::transparent_statement`]) or the
    ///   transaction was lost;
    /// * [`Error::Poisoned`], [`Error::Closed`], store failures, as [`Ledger::submit`].
    pub fn register_statement(&self, statement: &[u8]) -> Result<TransparentStatement> {
        if !self.signs_cose() {
            return Err(Error::invalid(
                "signing_mode",
                Problem::Mismatch {
                    expected: "SigningMode::Dual: transparent statements carry COSE receipts"
                        .into(),
                    found: "SigningMode::Json".into(),
                },
            ));
        }
        let policy = self.scitt_policy();
        let checked = policy.check(statement)?;
        let mut tx = Transaction::new();
        tx.append(SCITT_COLLECTION, checked.as_bytes())
            .claims_digest(checked.digest());
        let id = self.submit(tx)?;
        let status = self.wait_for_commit(id, policy.commit_timeout)?;
        if status != TxStatus::Committed {
            return Err(Error::NotCommitted { tx: id, status });
        }
        let receipt = self.cose_receipt(id)?;
        TransparentStatement::assemble(checked, vec![receipt])
    }

    /// The transparent statement of a statement registered by transaction `tx` (after a
    /// reopen too): its registered form, from the [`SCITT_COLLECTION`] entry, with a fresh
    /// COSE receipt.
    ///
    /// # Errors
    ///
    /// [`Error::NotCommitted`] unless `tx` is Committed; [`Error::NotFound`] if `tx` did not
    /// append to the collection, or appended something that is not a registered statement
    /// with its SHA-256 as the transaction's claims digest (`what = "registered
    /// statement"`); as [`Ledger::cose_receipt`] otherwise.
    pub fn transparent_statement(&self, tx: TxId) -> Result<TransparentStatement> {
        let status = self.status(tx);
        if status != TxStatus::Committed {
            return Err(Error::NotCommitted { tx, status });
        }
        let entry = self.entry(SCITT_COLLECTION, tx)?;
        let not_registered = || Error::not_found("registered statement", tx);
        let statement =
            SignedStatement::from_slice(&entry.contents).map_err(|_| not_registered())?;
        if statement.as_bytes() != entry.contents.as_slice() {
            return Err(not_registered());
        }
        let receipt = self.cose_receipt(tx)?;
        if receipt.leaf_components().claims_digest != statement.digest() {
            return Err(not_registered());
        }
        TransparentStatement::assemble(statement, vec![receipt])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_and_statements_are_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<ScittPolicy>();
        assert_send_sync::<SignedStatement>();
        assert_send_sync::<TransparentStatement>();
    }

    #[test]
    fn refusals_read_as_sentences() {
        let e = refused(StatementRefusal::WrongTag { found: None });
        assert_eq!(
            e.to_string(),
            "statement refused: expected CBOR tag 18 (COSE_Sign1), found no tag"
        );
        assert_eq!(
            e.statement_refusal(),
            Some(&StatementRefusal::WrongTag { found: None })
        );
    }

    #[test]
    fn unknown_labels_of_alg_read_as_text() {
        let l: RegisteredLabelWithPrivate<iana::Algorithm> =
            RegisteredLabelWithPrivate::Text("x".into());
        assert_eq!(label_text(&l), "\"x\"");
    }
}
