//! ECDSA keys on the curves receipts use: P-256 and P-384 (SPEC.md section 5).
//!
//! CCF signs with either curve (P-384 was its default for years; Azure Confidential Ledger
//! issued P-384 service and node keys in 2023), and the official verifiers accept both. This
//! module holds the two behind one [`PublicKey`] and one private signing key.
//!
//! # The curve rule
//!
//! A signature is made on the curve of the signer's certificate key, and verified with that
//! key:
//!
//! * **Root signatures** (a node signing a Merkle root): ECDSA over the 32-byte root used
//!   directly as the prehash, on either curve, as `ccf.receipt.verify` and the
//!   `azure-confidentialledger` verifier check it (`Prehashed(SHA256)`). On P-384 the 256-bit
//!   root is shorter than the group order and is read as an integer as it is (left-padded
//!   with zeros), as OpenSSL and RustCrypto both do.
//! * **Certificate signatures** are accepted as ecdsa-with-SHA256, -SHA384 or -SHA512 from
//!   a key on either curve (the digest is truncated to the order's length when longer, as
//!   ECDSA specifies). Certificates this crate issues are signed ecdsa-with-SHA256 by a P-256
//!   key and ecdsa-with-SHA384 by a P-384 key, as CCF signs them.
//!
//! Signatures are DER-encoded ECDSA-Sig-Value structures.
//!
//! # Verification backend
//!
//! Keys are read, encoded and used for signing with the `p256`/`p384` crates. Verification
//! ([`VerifyKey`], which every receipt, certificate, audit and COSE check goes through) uses
//! AWS-LC (`aws-lc-rs`), about five times faster here (`benches/benches/ecdsa.rs`), on the
//! key parsed once from its canonical SubjectPublicKeyInfo. It keeps the verdicts of
//! `p256`/`p384`'s `verify_prehash` exactly:
//!
//! * the signature is first decoded as DER by the `p256`/`p384` crate of the key's curve, so
//!   what was refused as "not a DER ECDSA signature on this curve" still is, with that reason;
//! * a prehash shorter than half the curve's field size is refused, as `p256`/`p384` refuse
//!   it; otherwise it becomes the field-size integer ECDSA reads (a longer one truncated to
//!   its leftmost field-size bytes, a shorter one left-padded with zeros: the same integer),
//!   handed to AWS-LC as a SHA-256 (P-256) or SHA-384 (P-384) sized digest, which AWS-LC
//!   reads as that integer without further change;
//! * high-S signatures (s above half the group order) are accepted, as `p256`/`p384`,
//!   OpenSSL and so CCF accept them: ECDSA verification does not require low S, and a
//!   receipt's signature is not used as an identifier anywhere, so malleability gains an
//!   attacker nothing; r or s of zero or not below the order are refused by both.

use std::fmt;
use std::sync::Arc;

use der::oid::db::rfc5912;
use der::oid::ObjectIdentifier;
use der::Decode;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::zeroize::Zeroizing;
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rand_core::OsRng;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use spki::SubjectPublicKeyInfoRef;

/// The signature scheme of a service or node key: ECDSA on one of the curves CCF supports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA on NIST P-256 (secp256r1). The default.
    #[default]
    EcdsaP256,
    /// ECDSA on NIST P-384 (secp384r1), CCF's long-time default.
    EcdsaP384,
}

impl KeyAlgorithm {
    /// The curve's name: `"P-256"` or `"P-384"`.
    pub fn curve_name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "P-256",
            KeyAlgorithm::EcdsaP384 => "P-384",
        }
    }

    /// The certificate signature algorithm a key of this curve signs certificates with:
    /// ecdsa-with-SHA256 for P-256, ecdsa-with-SHA384 for P-384 (as CCF does).
    pub(crate) fn certificate_signature_oid(self) -> ObjectIdentifier {
        match self {
            KeyAlgorithm::EcdsaP256 => rfc5912::ECDSA_WITH_SHA_256,
            KeyAlgorithm::EcdsaP384 => rfc5912::ECDSA_WITH_SHA_384,
        }
    }

    /// The digest of `message` with the hash of [`KeyAlgorithm::certificate_signature_oid`].
    pub(crate) fn certificate_digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            KeyAlgorithm::EcdsaP256 => Sha256::digest(message).to_vec(),
            KeyAlgorithm::EcdsaP384 => Sha384::digest(message).to_vec(),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ECDSA {}", self.curve_name())
    }
}

/// An ECDSA public key on P-256 or P-384: a service, endorsement or node key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// A P-256 key.
    P256(p256::ecdsa::VerifyingKey),
    /// A P-384 key.
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// The key's algorithm (its curve).
    pub fn algorithm(&self) -> KeyAlgorithm {
        match self {
            PublicKey::P256(_) => KeyAlgorithm::EcdsaP256,
            PublicKey::P384(_) => KeyAlgorithm::EcdsaP384,
        }
    }

    /// The P-256 key, if it is one.
    pub fn as_p256(&self) -> Option<&p256::ecdsa::VerifyingKey> {
        match self {
            PublicKey::P256(key) => Some(key),
            PublicKey::P384(_) => None,
        }
    }

    /// The P-384 key, if it is one.
    pub fn as_p384(&self) -> Option<&p384::ecdsa::VerifyingKey> {
        match self {
            PublicKey::P384(key) => Some(key),
            PublicKey::P256(_) => None,
        }
    }

    /// Reads a DER SubjectPublicKeyInfo holding an ECDSA key on P-256 or P-384.
    ///
    /// # Errors
    ///
    /// A message naming what was found instead: the curve (by name and OID) of an EC key on
    /// another curve, the algorithm of a key that is not an EC key, or why the bytes do not
    /// decode.
    pub(crate) fn from_spki_der(spki_der: &[u8]) -> Result<Self, String> {
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der)
            .map_err(|e| format!("public key does not decode: {e}"))?;
        let algorithm = spki.algorithm.oid;
        if algorithm != rfc5912::ID_EC_PUBLIC_KEY {
            return Err(format!(
                "public key is {}, not an ECDSA key on P-256 or P-384",
                oid_name(&algorithm)
            ));
        }
        let curve = spki
            .algorithm
            .parameters
            .ok_or("EC public key names no curve")?
            .decode_as::<ObjectIdentifier>()
            .map_err(|e| format!("EC public key parameters are not a named curve: {e}"))?;
        let key = if curve == rfc5912::SECP_256_R_1 {
            p256::ecdsa::VerifyingKey::from_public_key_der(spki_der).map(PublicKey::P256)
        } else if curve == rfc5912::SECP_384_R_1 {
            p384::ecdsa::VerifyingKey::from_public_key_der(spki_der).map(PublicKey::P384)
        } else {
            return Err(format!(
                "public key is on curve {}, not P-256 or P-384",
                oid_name(&curve)
            ));
        };
        key.map_err(|e| {
            let name = if curve == rfc5912::SECP_256_R_1 {
                "P-256"
            } else {
                "P-384"
            };
            format!("{name} public key is not a valid point: {e}")
        })
    }

    /// The canonical DER SubjectPublicKeyInfo (uncompressed point).
    pub(crate) fn spki_der(&self) -> Result<Vec<u8>, String> {
        self.to_public_key_der()
            .map(|d| d.into_vec())
            .map_err(|e| format!("public key does not encode: {e}"))
    }

    /// Verifies a DER ECDSA signature over `prehash` (used as is, see the module's curve
    /// rule).
    pub(crate) fn verify_prehash(&self, prehash: &[u8], der_signature: &[u8]) -> Result<(), Bad> {
        match self {
            PublicKey::P256(key) => {
                let signature = p256::ecdsa::DerSignature::from_bytes(der_signature)
                    .map_err(|_| Bad::Encoding(KeyAlgorithm::EcdsaP256))?;
                key.verify_prehash(prehash, &signature)
                    .map_err(|_| Bad::Mismatch)
            }
            PublicKey::P384(key) => {
                let signature = p384::ecdsa::DerSignature::from_bytes(der_signature)
                    .map_err(|_| Bad::Encoding(KeyAlgorithm::EcdsaP384))?;
                key.verify_prehash(prehash, &signature)
                    .map_err(|_| Bad::Mismatch)
            }
        }
    }
}

/// A public key parsed once for verification with the fast backend (see the module's
/// `# Verification backend`): what certificates and verifiers keep beside their
/// [`PublicKey`].
#[derive(Clone)]
pub(crate) struct VerifyKey {
    key: PublicKey,
    parsed: aws_lc_rs::signature::ParsedPublicKey,
}

impl VerifyKey {
    /// Parses `key` for the fast backend, from its canonical DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    ///
    /// A message if the key does not encode or AWS-LC refuses it (a key `p256`/`p384`
    /// accepted is a valid point, which AWS-LC accepts too).
    pub(crate) fn new(key: PublicKey) -> Result<Self, String> {
        let spki = key.spki_der()?;
        let algorithm = match key {
            PublicKey::P256(_) => &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            PublicKey::P384(_) => &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1,
        };
        let parsed = aws_lc_rs::signature::ParsedPublicKey::new(algorithm, &spki).map_err(|e| {
            format!(
                "{} public key is refused by the verification backend: {e}",
                key.algorithm().curve_name()
            )
        })?;
        Ok(Self { key, parsed })
    }

    /// Verifies a DER ECDSA signature over `prehash` (used as is, see the module's curve
    /// rule), with the verdicts of [`PublicKey::verify_prehash`].
    pub(crate) fn verify_prehash(&self, prehash: &[u8], der_signature: &[u8]) -> Result<(), Bad> {
        // Decoded only to refuse, with the same reason, what the curve's crate refuses as DER.
        let algorithm = self.key.algorithm();
        match self.key {
            PublicKey::P256(_) => {
                p256::ecdsa::DerSignature::from_bytes(der_signature)
                    .map_err(|_| Bad::Encoding(algorithm))?;
            }
            PublicKey::P384(_) => {
                p384::ecdsa::DerSignature::from_bytes(der_signature)
                    .map_err(|_| Bad::Encoding(algorithm))?;
            }
        }
        let digest = field_digest(algorithm, prehash).ok_or(Bad::Mismatch)?;
        self.parsed
            .verify_digest_sig(&digest, der_signature)
            .map_err(|_| Bad::Mismatch)
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("VerifyKey").field(&self.key).finish()
    }
}

/// Why a signature was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bad {
    /// It is not a DER ECDSA signature on the key's curve.
    Encoding(KeyAlgorithm),
    /// It does not verify.
    Mismatch,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::Encoding(algorithm) => write!(
                f,
                "it is not a DER-encoded ECDSA {} signature",
                algorithm.curve_name()
            ),
            Bad::Mismatch => f.write_str("it does not verify"),
        }
    }
}

impl From<p256::ecdsa::VerifyingKey> for PublicKey {
    fn from(key: p256::ecdsa::VerifyingKey) -> Self {
        PublicKey::P256(key)
    }
}

impl From<p384::ecdsa::VerifyingKey> for PublicKey {
    fn from(key: p384::ecdsa::VerifyingKey) -> Self {
        PublicKey::P384(key)
    }
}

impl EncodePublicKey for PublicKey {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        match self {
            PublicKey::P256(key) => key.to_public_key_der(),
            PublicKey::P384(key) => key.to_public_key_der(),
        }
    }
}

/// `der_signature` (an ECDSA signature on `algorithm`'s curve) in its one canonical form:
/// minimal DER with the low `s` of the two values that verify (`s` and `n - s`). A signature
/// transaction's bytes are not covered by the root it signs, so a backup accepts its node
/// signature only in this form, and the engine signs in it: otherwise `n - s` would give the
/// same transaction other bytes that still verify.
///
/// # Errors
///
/// [`Bad::Encoding`] if `der_signature` is not a DER ECDSA signature on that curve.
pub(crate) fn canonical_signature(
    algorithm: KeyAlgorithm,
    der_signature: &[u8],
) -> Result<Vec<u8>, Bad> {
    match algorithm {
        KeyAlgorithm::EcdsaP256 => {
            let sig = p256::ecdsa::Signature::from_der(der_signature)
                .map_err(|_| Bad::Encoding(algorithm))?;
            Ok(sig
                .normalize_s()
                .unwrap_or(sig)
                .to_der()
                .as_bytes()
                .to_vec())
        }
        KeyAlgorithm::EcdsaP384 => {
            let sig = p384::ecdsa::Signature::from_der(der_signature)
                .map_err(|_| Bad::Encoding(algorithm))?;
            Ok(sig
                .normalize_s()
                .unwrap_or(sig)
                .to_der()
                .as_bytes()
                .to_vec())
        }
    }
}

/// The digest a certificate signature algorithm computes, for those this crate verifies:
/// ecdsa-with-SHA256, -SHA384 and -SHA512.
pub(crate) fn certificate_digest(algorithm: &ObjectIdentifier, tbs: &[u8]) -> Option<Vec<u8>> {
    if *algorithm == rfc5912::ECDSA_WITH_SHA_256 {
        Some(Sha256::digest(tbs).to_vec())
    } else if *algorithm == rfc5912::ECDSA_WITH_SHA_384 {
        Some(Sha384::digest(tbs).to_vec())
    } else if *algorithm == rfc5912::ECDSA_WITH_SHA_512 {
        Some(Sha512::digest(tbs).to_vec())
    } else {
        None
    }
}

/// An OID's name from the standard database, with the dotted form: `secp521r1
/// (1.3.132.0.35)`, or the dotted form alone.
pub(crate) fn oid_name(oid: &ObjectIdentifier) -> String {
    match der::oid::db::DB.by_oid(oid) {
        Some(name) => format!("{name} ({oid})"),
        None => oid.to_string(),
    }
}

/// A private ECDSA key on P-256 or P-384: the curve crate's key (for its encodings and public
/// key) beside the same key loaded once into the fast backend, which signs (AWS-LC signs a
/// P-256 prehash in about a tenth of the time `p256` takes: `ecdsa_sign` in
/// `benches/benches/ecdsa.rs`). AWS-LC's nonces are random, where `p256`/`p384` derive them
/// from the key and the message (RFC 6979): nothing relies on two signatures of the same
/// root being equal.
#[derive(Clone)]
pub(crate) struct SigningKey {
    key: CurveSigningKey,
    fast: Arc<aws_lc_rs::signature::EcdsaKeyPair>,
}

/// The curve crate's key.
#[derive(Clone)]
pub(crate) enum CurveSigningKey {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl SigningKey {
    /// A fresh random key.
    ///
    /// # Errors
    ///
    /// A message if the fast backend refuses the key (it accepts every valid key).
    pub(crate) fn random(algorithm: KeyAlgorithm) -> Result<Self, String> {
        let key = match algorithm {
            KeyAlgorithm::EcdsaP256 => {
                CurveSigningKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng))
            }
            KeyAlgorithm::EcdsaP384 => {
                CurveSigningKey::P384(p384::ecdsa::SigningKey::random(&mut OsRng))
            }
        };
        Self::new(key)
    }

    /// `key`, loaded into the fast backend too.
    fn new(key: CurveSigningKey) -> Result<Self, String> {
        let (algorithm, scalar, point) = match &key {
            CurveSigningKey::P256(k) => (
                &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                Zeroizing::new(k.to_bytes().to_vec()),
                k.verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            ),
            CurveSigningKey::P384(k) => (
                &aws_lc_rs::signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                Zeroizing::new(k.to_bytes().to_vec()),
                k.verifying_key()
                    .to_encoded_point(false)
                    .as_bytes()
                    .to_vec(),
            ),
        };
        let fast = aws_lc_rs::signature::EcdsaKeyPair::from_private_key_and_public_key(
            algorithm, &scalar, &point,
        )
        .map_err(|e| format!("the signing backend refuses the key: {e}"))?;
        Ok(Self {
            key,
            fast: Arc::new(fast),
        })
    }

    /// The curve crate's key.
    #[cfg(test)]
    pub(crate) fn curve_key(&self) -> &CurveSigningKey {
        &self.key
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        match &self.key {
            CurveSigningKey::P256(key) => PublicKey::P256(*key.verifying_key()),
            CurveSigningKey::P384(key) => PublicKey::P384(*key.verifying_key()),
        }
    }

    /// A DER ECDSA signature over `prehash` (used as is, see the module's curve rule: a
    /// prehash shorter than half the field is refused, a longer one truncated, as `p256` and
    /// `p384` do).
    pub(crate) fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, p256::ecdsa::Error> {
        let digest = field_digest(self.public_key().algorithm(), prehash)
            .ok_or_else(p256::ecdsa::Error::new)?;
        let signature = self
            .fast
            .sign_digest(&digest)
            .map_err(|_| p256::ecdsa::Error::new())?;
        Ok(signature.as_ref().to_vec())
    }

    /// The key as PKCS#8 DER (which names its curve).
    pub(crate) fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, String> {
        let document = match &self.key {
            CurveSigningKey::P256(key) => key.to_pkcs8_der(),
            CurveSigningKey::P384(key) => key.to_pkcs8_der(),
        }
        .map_err(|e| e.to_string())?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// Reads PKCS#8 DER of a P-256 or P-384 key.
    pub(crate) fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        let key = match p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            Ok(key) => CurveSigningKey::P256(key),
            Err(p256_error) => p384::ecdsa::SigningKey::from_pkcs8_der(der)
                .map(CurveSigningKey::P384)
                .map_err(|p384_error| {
                    format!("neither a P-256 key ({p256_error}) nor a P-384 key ({p384_error})")
                })?,
        };
        Self::new(key)
    }

    /// The raw scalar, for tests that check it never appears in output.
    #[cfg(test)]
    pub(crate) fn scalar_bytes(&self) -> Vec<u8> {
        match &self.key {
            CurveSigningKey::P256(key) => key.to_bytes().to_vec(),
            CurveSigningKey::P384(key) => key.to_bytes().to_vec(),
        }
    }
}

/// `prehash` as the backend's digest of the curve's field size, by the curve rule: `None`
/// when shorter than half the field; truncated to the field when longer; left-padded with
/// zeros (the same integer) when shorter.
fn field_digest(algorithm: KeyAlgorithm, prehash: &[u8]) -> Option<aws_lc_rs::digest::Digest> {
    let (field_len, digest_algorithm) = match algorithm {
        KeyAlgorithm::EcdsaP256 => (32, &aws_lc_rs::digest::SHA256),
        KeyAlgorithm::EcdsaP384 => (48, &aws_lc_rs::digest::SHA384),
    };
    if prehash.len() < field_len / 2 {
        return None;
    }
    let mut field = [0u8; 48];
    let field = &mut field[..field_len];
    let taken = prehash.len().min(field_len);
    field[field_len - taken..].copy_from_slice(&prehash[..taken]);
    aws_lc_rs::digest::Digest::import_less_safe(field, digest_algorithm).ok()
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SigningKey")
            .field(&self.public_key().algorithm())
            .finish_non_exhaustive()
    }
}

/// A certificate's signature on the wire: DER ECDSA bytes, as the X.509 builder wants them.
pub(crate) struct CertificateSignature(pub(crate) Vec<u8>);

impl spki::SignatureBitStringEncoding for CertificateSignature {
    fn to_bitstring(&self) -> der::Result<der::asn1::BitString> {
        der::asn1::BitString::from_bytes(&self.0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use der::Encode;

    fn to_der<T: Encode>(value: &T) -> Vec<u8> {
        value.to_der().unwrap()
    }

    #[test]
    fn root_signatures_verify_on_both_curves_and_bind_root_and_key() {
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let key = SigningKey::random(algorithm).unwrap();
            let public = key.public_key();
            assert_eq!(public.algorithm(), algorithm);
            let root = [0x42u8; 32];
            let signature = key.sign_prehash(&root).unwrap();
            public.verify_prehash(&root, &signature).unwrap();
            let mut other = root;
            other[0] ^= 1;
            assert_eq!(
                public.verify_prehash(&other, &signature),
                Err(Bad::Mismatch)
            );
            let spki = public.spki_der().unwrap();
            assert_eq!(PublicKey::from_spki_der(&spki).unwrap(), public);
            let pkcs8 = key.to_pkcs8_der().unwrap();
            assert_eq!(
                SigningKey::from_pkcs8_der(&pkcs8).unwrap().public_key(),
                public
            );
        }
        // A P-384 signature is not a P-256 one, and the reverse.
        let p256 = SigningKey::random(KeyAlgorithm::EcdsaP256).unwrap();
        let p384 = SigningKey::random(KeyAlgorithm::EcdsaP384).unwrap();
        let root = [7u8; 32];
        assert_eq!(
            p256.public_key()
                .verify_prehash(&root, &p384.sign_prehash(&root).unwrap()),
            Err(Bad::Encoding(KeyAlgorithm::EcdsaP256))
        );
        assert!(p384
            .public_key()
            .verify_prehash(&root, &p256.sign_prehash(&root).unwrap())
            .is_err());
    }

    /// Byte-level variants of a DER ECDSA signature: every single-bit flip, every
    /// truncation, a trailing byte, a long-form length, and non-minimal and negative
    /// integers.
    fn der_variants(der: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for i in 0..der.len() {
            for bit in 0..8 {
                let mut v = der.to_vec();
                v[i] ^= 1 << bit;
                out.push(v);
            }
        }
        out.extend((0..der.len()).map(|n| der[..n].to_vec()));
        let mut longer = der.to_vec();
        longer.push(0);
        out.push(longer);
        // SEQUENCE length in long form (BER, not DER), when it fits one byte.
        if der[1] < 0x80 {
            let mut v = vec![0x30, 0x81];
            v.extend_from_slice(&der[1..]);
            out.push(v);
        }
        // r with a superfluous leading zero byte, lengths adjusted.
        if der[1] < 0x7f && der[2] == 0x02 {
            let r_len = usize::from(der[3]);
            let mut v = vec![0x30, der[1] + 1, 0x02, der[3] + 1, 0x00];
            v.extend_from_slice(&der[4..]);
            out.push(v);
            // r without its sign byte (a negative integer) when it has one.
            if der[4] == 0 {
                let mut v = vec![0x30, der[1] - 1, 0x02, der[3] - 1];
                v.extend_from_slice(&der[5..4 + r_len]);
                v.extend_from_slice(&der[4 + r_len..]);
                out.push(v);
            }
        }
        out
    }

    /// A DER ECDSA-Sig-Value of the big-endian unsigned integers `r` and `s`.
    fn der_of(r: &[u8], s: &[u8]) -> Vec<u8> {
        let int = |x: &[u8]| {
            let x = match x.iter().position(|&b| b != 0) {
                Some(at) => &x[at..],
                None => &[0u8][..],
            };
            let mut out = vec![0x02];
            if x[0] & 0x80 != 0 {
                out.push(x.len() as u8 + 1);
                out.push(0);
            } else {
                out.push(x.len() as u8);
            }
            out.extend_from_slice(x);
            out
        };
        let body = [int(r), int(s)].concat();
        let mut out = vec![0x30, body.len() as u8];
        out.extend(body);
        out
    }

    /// The fast backend gives every verdict the `p256`/`p384` crates give, on both curves:
    /// for prehashes of every length (shorter than half the field refused, longer truncated
    /// to the field, shorter read as the same integer), high-S signatures (accepted by both),
    /// r or s out of range, and thousands of malformed DER encodings.
    #[test]
    fn the_fast_backend_gives_the_verdicts_of_p256_and_p384() {
        use p256::elliptic_curve::PrimeField;
        use rand::{RngCore as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x005e_edec);
        let p256_order =
            hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
                .unwrap();
        let p384_order = hex::decode(
            "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf\
             581a0db248b0a77aecec196accc52973",
        )
        .unwrap();
        let keys = [
            SigningKey::new(CurveSigningKey::P256(p256::ecdsa::SigningKey::random(
                &mut rng,
            )))
            .unwrap(),
            SigningKey::new(CurveSigningKey::P384(p384::ecdsa::SigningKey::random(
                &mut rng,
            )))
            .unwrap(),
        ];
        let mut compared = 0usize;
        let mut accepted = 0usize;
        for key in &keys {
            let public = key.public_key();
            let fast = VerifyKey::new(public).unwrap();
            let mut check = |prehash: &[u8], signature: &[u8]| {
                let reference = public.verify_prehash(prehash, signature);
                assert_eq!(
                    fast.verify_prehash(prehash, signature),
                    reference,
                    "{} prehash {} signature {}",
                    public.algorithm(),
                    hex::encode(prehash),
                    hex::encode(signature)
                );
                compared += 1;
                accepted += usize::from(reference.is_ok());
                reference
            };
            let (field, order) = match public.algorithm() {
                KeyAlgorithm::EcdsaP256 => (32, &p256_order),
                KeyAlgorithm::EcdsaP384 => (48, &p384_order),
            };
            for len in [
                0usize, 1, 15, 16, 23, 24, 31, 32, 33, 47, 48, 49, 64, 65, 100,
            ] {
                let mut prehash = vec![0u8; len];
                rng.fill_bytes(&mut prehash);
                let Ok(signature) = key.sign_prehash(&prehash) else {
                    // Too short to sign: refused by both.
                    assert!(len < field / 2, "{len}");
                    let other = key.sign_prehash(&[1u8; 32]).unwrap();
                    assert_eq!(check(&prehash, &other), Err(Bad::Mismatch));
                    continue;
                };
                assert_eq!(check(&prehash, &signature), Ok(()));
                let mut changed = prehash.clone();
                changed[0] ^= 0x80;
                assert_eq!(check(&changed, &signature), Err(Bad::Mismatch));
                // Bytes beyond the field's length are not part of what is signed.
                let mut tail = prehash.clone();
                tail[len - 1] ^= 1;
                assert_eq!(check(&tail, &signature).is_ok(), len > field);
                // A shorter prehash is the integer it reads as: zeros in front change nothing.
                if len < field {
                    let padded = [vec![0u8; field - len], prehash.clone()].concat();
                    assert_eq!(check(&padded, &signature), Ok(()));
                }
            }
            let root = [0x42u8; 32];
            let signature = key.sign_prehash(&root).unwrap();
            for variant in der_variants(&signature) {
                let _verdict = check(&root, &variant);
            }
            // The same signature with s replaced by n - s (high-S if it was low, and the
            // reverse): accepted, as by OpenSSL and CCF.
            let (r, s) = match key.curve_key() {
                CurveSigningKey::P256(_) => {
                    let sig = p256::ecdsa::DerSignature::from_bytes(&signature).unwrap();
                    let sig = p256::ecdsa::Signature::try_from(sig).unwrap();
                    let (r, s) = sig.split_scalars();
                    (r.to_repr().to_vec(), (-*s).to_repr().to_vec())
                }
                CurveSigningKey::P384(_) => {
                    let sig = p384::ecdsa::DerSignature::from_bytes(&signature).unwrap();
                    let sig = p384::ecdsa::Signature::try_from(sig).unwrap();
                    let (r, s) = sig.split_scalars();
                    (r.to_repr().to_vec(), (-*s).to_repr().to_vec())
                }
            };
            let flipped = der_of(&r, &s);
            assert_ne!(flipped, signature);
            assert_eq!(check(&root, &flipped), Ok(()));
            for variant in der_variants(&flipped) {
                let _verdict = check(&root, &variant);
            }
            // r or s zero, equal to the order, or above it.
            let zero = vec![0u8; field];
            let mut above = order.clone();
            above[field - 1] += 1;
            for (r, s) in [
                (&zero, &s),
                (&r, &zero),
                (order, &s),
                (&r, order),
                (&above, &s),
                (&r, &above),
            ] {
                assert!(check(&root, &der_of(r, s)).is_err());
            }
        }
        // A P-384 signature on a P-256 key and the reverse.
        let [p256, p384] = &keys;
        for (signer, verifier) in [(p256, p384), (p384, p256)] {
            let signature = signer.sign_prehash(&[9u8; 32]).unwrap();
            let public = verifier.public_key();
            assert_eq!(
                VerifyKey::new(public)
                    .unwrap()
                    .verify_prehash(&[9u8; 32], &signature),
                public.verify_prehash(&[9u8; 32], &signature)
            );
        }
        assert!(compared > 2_000, "{compared}");
        assert!(accepted >= 20, "{accepted}");
    }

    #[test]
    fn keys_on_other_curves_are_named() {
        // An Ed25519 SubjectPublicKeyInfo (RFC 8410 example).
        let ed25519 = hex::decode(
            "302a300506032b6570032100\
             19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1",
        )
        .unwrap();
        let err = PublicKey::from_spki_der(&ed25519).unwrap_err();
        assert!(err.contains("id-Ed25519 (1.3.101.112)"), "{err}");
        // A P-256 SPKI whose curve parameter is replaced by secp521r1's OID (same length).
        let p256 = SigningKey::random(KeyAlgorithm::EcdsaP256)
            .unwrap()
            .public_key()
            .spki_der()
            .unwrap();
        let secp256r1 = to_der(&rfc5912::SECP_256_R_1);
        let secp521r1 = to_der(&rfc5912::SECP_521_R_1);
        let at = p256
            .windows(secp256r1.len())
            .position(|w| w == secp256r1)
            .unwrap();
        let mut spki = p256[..at].to_vec();
        spki.extend_from_slice(&secp521r1);
        spki.extend_from_slice(&p256[at + secp256r1.len()..]);
        // The outer lengths shrink by the OID's difference in length.
        let delta = secp256r1.len() - secp521r1.len();
        spki[1] -= delta as u8;
        spki[3] -= delta as u8;
        let err = PublicKey::from_spki_der(&spki).unwrap_err();
        assert!(err.contains("secp521r1 (1.3.132.0.35)"), "{err}");
        assert!(!err.contains("1.2.840.10045.3.1.7"), "{err}");
    }
}
