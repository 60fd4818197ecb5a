//! Member keys: the public keys the ledger records ([`MemberPublicKey`]) and the signing keys
//! members hold ([`MemberKey`]).
//!
//! A member key is Ed25519 or ECDSA P-256. A member's id is the lowercase hex SHA-256 of the
//! public key's DER SubjectPublicKeyInfo (P-256 points uncompressed), exactly as node ids are
//! formed ([`crate::identity::node_id_of`]).
//!
//! # Format
//!
//! A public key is written as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo, LF line
//! endings): RFC 8410 for Ed25519, RFC 5480 for P-256. The ledger re-encodes every key it is
//! given into this canonical PEM before recording it, so the stored text of a key, and its
//! member id, do not depend on how a client wrote it.
//!
//! Signatures over a governance request message (see [`super::request`]):
//!
//! * Ed25519: the 64-byte RFC 8032 signature of the message, verified strictly
//!   (`verify_strict`: canonical `S`, no small-order keys).
//! * P-256: ECDSA with SHA-256 over the message, DER-encoded.

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use p256::pkcs8::LineEnding;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec::shorten;
use crate::identity::node_id_of;
use crate::Error;

/// Longest PEM text [`MemberPublicKey::from_pem`] reads.
const MAX_PUBLIC_KEY_PEM_LEN: usize = 4096;

/// DER header of an RFC 8410 Ed25519 SubjectPublicKeyInfo (SEQUENCE, AlgorithmIdentifier
/// id-Ed25519, BIT STRING of 33 bytes with 0 unused bits).
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Signature algorithm of a member key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256.
    P256,
}

#[derive(Clone, PartialEq, Eq)]
enum PublicInner {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
}

/// A member's public key, Ed25519 or P-256, as the ledger records it.
///
/// Serializes as its canonical PEM text (see the module's `# Format`).
#[derive(Clone, PartialEq, Eq)]
pub struct MemberPublicKey {
    inner: PublicInner,
    pem: String,
    id: String,
}

impl MemberPublicKey {
    fn ed25519_infallible(key: ed25519_dalek::VerifyingKey) -> Self {
        // RFC 8410 SubjectPublicKeyInfo: a fixed 12-byte header, then the 32-byte key.
        let mut der = ED25519_SPKI_PREFIX.to_vec();
        der.extend_from_slice(key.as_bytes());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        Self {
            id: node_id_of(&der),
            inner: PublicInner::Ed25519(key),
            pem,
        }
    }

    fn p256(key: p256::ecdsa::VerifyingKey) -> Result<Self, Error> {
        use p256::pkcs8::EncodePublicKey as _;
        let der = key
            .to_public_key_der()
            .map_err(|e| Error::crypto("encoding a P-256 public key", e))?;
        let pem = key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::crypto("encoding a P-256 public key", e))?;
        Ok(Self {
            id: node_id_of(der.as_bytes()),
            inner: PublicInner::P256(key),
            pem,
        })
    }

    /// Parses a PEM `PUBLIC KEY` block holding an Ed25519 or P-256 key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with `what = "member public key"` if the text is over 4096
    /// bytes ([`crate::Problem::TooLarge`]), not such a key, or a weak (small-order) Ed25519 key
    /// ([`crate::Problem::Malformed`]).
    pub fn from_pem(pem: &str) -> Result<Self, Error> {
        if pem.len() > MAX_PUBLIC_KEY_PEM_LEN {
            return Err(Error::too_large(
                "member public key",
                pem.len(),
                MAX_PUBLIC_KEY_PEM_LEN,
            ));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
            return Self::from_ed25519(k);
        }
        match <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_pem(pem)
        {
            Ok(k) => Self::p256(k),
            Err(e) => Err(Error::malformed(
                "member public key",
                shorten(pem.trim_start()),
                format_args!("not a PEM Ed25519 or P-256 public key: {e}"),
            )),
        }
    }

    /// Parses a DER SubjectPublicKeyInfo holding an Ed25519 or P-256 key.
    ///
    /// # Errors
    ///
    /// As [`MemberPublicKey::from_pem`].
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
            return Self::from_ed25519(k);
        }
        match <p256::ecdsa::VerifyingKey as p256::pkcs8::DecodePublicKey>::from_public_key_der(der)
        {
            Ok(k) => Self::p256(k),
            Err(e) => Err(Error::malformed(
                "member public key",
                format!("0x{}", shorten(&hex::encode(der))),
                format_args!("not a DER Ed25519 or P-256 public key: {e}"),
            )),
        }
    }

    /// Wraps an Ed25519 verifying key.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "member public key"`, [`crate::Problem::Malformed`]) for a
    /// weak (small-order) key.
    pub fn from_ed25519(key: ed25519_dalek::VerifyingKey) -> Result<Self, Error> {
        if key.is_weak() {
            return Err(Error::malformed(
                "member public key",
                format!("0x{}", hex::encode(key.as_bytes())),
                "Ed25519 public key has small order",
            ));
        }
        Ok(Self::ed25519_infallible(key))
    }

    /// Wraps a P-256 verifying key.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the key does not encode (it always does for a valid point).
    pub fn from_p256(key: p256::ecdsa::VerifyingKey) -> Result<Self, Error> {
        Self::p256(key)
    }

    /// The member id this key gives: lowercase hex SHA-256 of its DER SubjectPublicKeyInfo.
    pub fn member_id(&self) -> &str {
        &self.id
    }

    /// The canonical PEM text.
    pub fn to_pem(&self) -> &str {
        &self.pem
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self.inner {
            PublicInner::Ed25519(_) => KeyAlgorithm::Ed25519,
            PublicInner::P256(_) => KeyAlgorithm::P256,
        }
    }

    /// Verifies `signature` over `message` (see the module's `# Format`).
    ///
    /// # Errors
    ///
    /// A description of why it does not verify.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), String> {
        match &self.inner {
            PublicInner::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| "not a 64-byte Ed25519 signature".to_owned())?;
                k.verify_strict(message, &sig)
                    .map_err(|_| "the Ed25519 signature does not verify".to_owned())
            }
            PublicInner::P256(k) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| "not a DER ECDSA P-256 signature".to_owned())?;
                k.verify(message, &sig)
                    .map_err(|_| "the ECDSA P-256 signature does not verify".to_owned())
            }
        }
    }
}

impl fmt::Debug for MemberPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberPublicKey")
            .field("algorithm", &self.algorithm())
            .field("member_id", &self.id)
            .finish()
    }
}

impl Serialize for MemberPublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.pem)
    }
}

impl<'de> Deserialize<'de> for MemberPublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let pem = String::deserialize(deserializer)?;
        MemberPublicKey::from_pem(&pem).map_err(serde::de::Error::custom)
    }
}

enum SigningInner {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A member's signing key, held by the member (never by the ledger): it signs governance
/// requests. Build requests with [`MemberKey::request`] or
/// [`super::Governance::request_for`].
///
/// ```
/// use ledger_core::governance::MemberKey;
/// let key = MemberKey::ed25519_from_seed([7; 32]);
/// assert_eq!(key.member_id().len(), 64);
/// assert_eq!(key.public_key().member_id(), key.member_id());
/// ```
pub struct MemberKey {
    inner: SigningInner,
    public: MemberPublicKey,
}

impl MemberKey {
    fn p256_key(key: p256::ecdsa::SigningKey) -> Result<Self, Error> {
        let public = MemberPublicKey::from_p256(*key.verifying_key())?;
        Ok(Self {
            inner: SigningInner::P256(key),
            public,
        })
    }

    fn ed25519_key(key: ed25519_dalek::SigningKey) -> Self {
        // A public key derived from a clamped secret scalar is never of small order.
        let public = MemberPublicKey::ed25519_infallible(key.verifying_key());
        Self {
            inner: SigningInner::Ed25519(key),
            public,
        }
    }

    /// An Ed25519 key from its 32-byte secret seed (deterministic: tests and key derivation).
    pub fn ed25519_from_seed(seed: [u8; 32]) -> Self {
        Self::ed25519_key(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// A P-256 key whose secret scalar is the big-endian `scalar` (deterministic).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "P-256 secret scalar"`, [`crate::Problem::Malformed`], the
    /// value not shown) if `scalar` is zero or not below the group order.
    pub fn p256_from_scalar(scalar: [u8; 32]) -> Result<Self, Error> {
        let key = p256::ecdsa::SigningKey::from_slice(&scalar).map_err(|_| {
            Error::malformed(
                "P-256 secret scalar",
                "(secret, not shown)",
                "out of range: zero or not below the group order",
            )
        })?;
        Self::p256_key(key)
    }

    /// A fresh random Ed25519 key.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the system random source fails.
    pub fn generate_ed25519() -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, &mut seed)
            .map_err(|e| Error::crypto("reading the random source", e))?;
        Ok(Self::ed25519_from_seed(seed))
    }

    /// A fresh random P-256 key.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if key generation fails.
    pub fn generate_p256() -> Result<Self, Error> {
        Self::p256_key(p256::ecdsa::SigningKey::random(&mut rand_core::OsRng))
    }

    /// Loads a PKCS#8 PEM private key (`PRIVATE KEY`), Ed25519 or P-256.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "member private key"`, [`crate::Problem::Malformed`], the
    /// key itself not shown) if it is neither.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, Error> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self::ed25519_key(k));
        }
        match p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            Ok(k) => Self::p256_key(k),
            Err(e) => Err(Error::malformed(
                "member private key",
                format!("{} bytes of PEM (secret, not shown)", pem.len()),
                format_args!("not a PKCS#8 Ed25519 or P-256 private key: {e}"),
            )),
        }
    }

    /// The public key to register for this member.
    pub fn public_key(&self) -> &MemberPublicKey {
        &self.public
    }

    /// The member id (see the module documentation).
    pub fn member_id(&self) -> &str {
        self.public.member_id()
    }

    /// Signs `message` (see the module's `# Format`).
    pub(crate) fn sign_message(&self, message: &[u8]) -> Vec<u8> {
        match &self.inner {
            SigningInner::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
            SigningInner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }
}

impl fmt::Debug for MemberKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemberKey")
            .field("algorithm", &self.public.algorithm())
            .field("member_id", &self.public.id)
            .finish_non_exhaustive()
    }
}
