//! Node and service signers whose keys stay in a token, and the service certificate made
//! with one.
//!
//! # Certificates
//!
//! [`Pkcs11ServiceSigner::create`] builds the same self-signed CA certificate
//! `ledger_core::ServiceIdentity::generate_with_validity` does, through the same builder
//! (`x509_cert::builder`, profile `Root`): subject and issuer `CN=<common name>` (a
//! UTF8String, 1 to 64 characters, no control characters), a random positive 16-byte serial
//! number, the given validity, basicConstraints `CA:TRUE` (critical), keyUsage
//! `keyCertSign | cRLSign` (critical), a subject key identifier, signed ecdsa-with-SHA256 by
//! the token key. Node certificates are issued through `ServiceSigner::issue_node_certificate`,
//! which `ledger-core` provides on top of [`ServiceSigner::sign_digest`].
//!
//! Every signature the token makes is checked with the key's public key before it is used
//! (see [`Pkcs11Token`]), and the constructors that take an existing certificate have the
//! token sign a fixed check digest first, so a certificate, a public key object and a
//! private key that do not belong together are refused when the signer is built, not when
//! the ledger first signs.

use std::fmt;
use std::sync::Arc;

use der::asn1::{Any, SetOfVec};
use der::oid::db::{rfc4519, rfc5912};
use der::{Decode, Encode, Tag};
use ledger_core::{CertificateValidity, NodeSigner, ServiceSigner};
use p256::ecdsa::signature::{self, Verifier};
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use rand_core::{OsRng, RngCore};
use sha2::{Digest as _, Sha256};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::error::HsmError;
use crate::token::{Pkcs11Key, Pkcs11Token};

/// Longest common name accepted (X.520 `ub-common-name`), as in `ledger-core`.
const MAX_COMMON_NAME_LEN: usize = 64;

/// Signs Merkle roots with a P-256 key held in a token ([`NodeSigner`]).
///
/// `Debug` shows the token, the key label and the node id.
pub struct Pkcs11NodeSigner {
    token: Arc<Pkcs11Token>,
    key: Pkcs11Key,
    certificate_pem: String,
}

impl Pkcs11NodeSigner {
    /// A node signer for the P-256 key `key_label` of `token`, whose node certificate is
    /// `certificate`, PEM or DER (issued by the service key, e.g. with
    /// `ledger_core::ServiceIdentity::issue_node_certificate` or
    /// [`ServiceSigner::issue_node_certificate`], which return DER). The certificate is kept
    /// as canonical PEM with LF line endings.
    ///
    /// # Errors
    ///
    /// As [`Pkcs11Token::find_p256`]; [`HsmError::InvalidInput`] if the certificate does not
    /// parse as one certificate (PEM `CERTIFICATE` or DER) of canonical DER with a P-256 key;
    /// [`HsmError::CertificateKeyMismatch`] if it certifies another key; [`HsmError::Pkcs11`]
    /// or [`HsmError::Crypto`] if the token key's check signature fails or does not verify.
    pub fn new(
        token: Arc<Pkcs11Token>,
        key_label: &str,
        certificate: impl AsRef<[u8]>,
    ) -> Result<Self, HsmError> {
        let key = token.find_p256(key_label)?;
        let cert = ParsedCertificate::parse(certificate.as_ref())?;
        cert.check_key(&key)?;
        check_key_pair(&token, &key)?;
        Ok(Self {
            token,
            key,
            certificate_pem: cert.pem,
        })
    }

    /// The token key.
    pub fn key(&self) -> &Pkcs11Key {
        &self.key
    }

    /// The token.
    pub fn token(&self) -> &Arc<Pkcs11Token> {
        &self.token
    }
}

impl NodeSigner for Pkcs11NodeSigner {
    fn sign_root(&self, root: &[u8; 32]) -> Result<Vec<u8>, ledger_core::Error> {
        let signature = self.token.sign_prehash(&self.key, root)?;
        Ok(signature.as_bytes().to_vec())
    }

    fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    fn node_id(&self) -> &str {
        self.key.node_id()
    }
}

impl fmt::Debug for Pkcs11NodeSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11NodeSigner")
            .field("token", &self.token.label())
            .field("key", &self.key.label())
            .field("node_id", &self.key.node_id())
            .finish_non_exhaustive()
    }
}

/// Signs for the service with a P-256 key held in a token ([`ServiceSigner`]): the key whose
/// self-signed CA certificate receipt verifiers trust.
///
/// `Debug` shows the token, the key label and the certificate's subject.
pub struct Pkcs11ServiceSigner {
    token: Arc<Pkcs11Token>,
    key: Pkcs11Key,
    certificate_pem: String,
    certificate_der: Vec<u8>,
    subject: String,
}

impl Pkcs11ServiceSigner {
    /// Makes the self-signed CA certificate (see the module documentation,
    /// `# Certificates`) for the P-256 key `key_label` of `token`, with subject
    /// `CN=common_name` and `validity`, signed by the token key.
    ///
    /// # Errors
    ///
    /// As [`Pkcs11Token::find_p256`]; [`HsmError::InvalidInput`] for an empty or over-long
    /// common name or one with control characters; [`HsmError::Pkcs11`] or
    /// [`HsmError::Crypto`] if signing or building the certificate fails.
    pub fn create(
        token: Arc<Pkcs11Token>,
        key_label: &str,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Self, HsmError> {
        let key = token.find_p256(key_label)?;
        let subject = common_name_to_name(common_name)?;
        let spki = SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())
            .map_err(|e| HsmError::crypto("encoding the service public key", e))?;
        let time = |t| {
            Time::try_from(t).map_err(|e| {
                HsmError::invalid(
                    "certificate validity",
                    format_args!("it must lie between 1970 and 9999: {e}"),
                )
            })
        };
        let validity = Validity {
            not_before: time(validity.not_before())?,
            not_after: time(validity.not_after())?,
        };
        let signer = TokenCa {
            token: &token,
            key: &key,
        };
        let builder = CertificateBuilder::new(
            Profile::Root,
            random_serial()?,
            validity,
            subject,
            spki,
            &signer,
        )
        .map_err(|e| HsmError::crypto("building the service certificate", e))?;
        let cert = builder
            .build::<DerSignature>()
            .map_err(|e| HsmError::crypto("signing the service certificate", e))?;
        let der = cert
            .to_der()
            .map_err(|e| HsmError::crypto("encoding the service certificate", e))?;
        let parsed = ParsedCertificate::from_der(&der)?;
        Ok(Self {
            token,
            key,
            certificate_pem: parsed.pem,
            certificate_der: der,
            subject: parsed.cert.tbs_certificate.subject.to_string(),
        })
    }

    /// A service signer for the P-256 key `key_label` of `token` and its existing
    /// self-signed certificate `certificate`, PEM or DER (as [`Pkcs11ServiceSigner::create`]
    /// made it). The certificate is kept as canonical PEM with LF line endings.
    ///
    /// # Errors
    ///
    /// As [`Pkcs11Token::find_p256`]; [`HsmError::InvalidInput`] if the certificate does not
    /// parse as one certificate (PEM `CERTIFICATE` or DER) of canonical DER with a P-256 key, or is not
    /// self-signed (issuer and subject differ, or its ecdsa-with-SHA256 signature does not
    /// verify with its own key); [`HsmError::CertificateKeyMismatch`] if it certifies
    /// another key; [`HsmError::Pkcs11`] or [`HsmError::Crypto`] if the token key's check
    /// signature fails or does not verify.
    pub fn open(
        token: Arc<Pkcs11Token>,
        key_label: &str,
        certificate: impl AsRef<[u8]>,
    ) -> Result<Self, HsmError> {
        let key = token.find_p256(key_label)?;
        let cert = ParsedCertificate::parse(certificate.as_ref())?;
        cert.check_key(&key)?;
        cert.check_self_signed()?;
        check_key_pair(&token, &key)?;
        let subject = cert.cert.tbs_certificate.subject.to_string();
        Ok(Self {
            token,
            key,
            certificate_pem: cert.pem,
            certificate_der: cert.der,
            subject,
        })
    }

    /// The service certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The token key.
    pub fn key(&self) -> &Pkcs11Key {
        &self.key
    }

    /// The token.
    pub fn token(&self) -> &Arc<Pkcs11Token> {
        &self.token
    }
}

impl ServiceSigner for Pkcs11ServiceSigner {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, ledger_core::Error> {
        let signature = self.token.sign_prehash(&self.key, digest)?;
        Ok(signature.as_bytes().to_vec())
    }

    fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }
}

impl fmt::Debug for Pkcs11ServiceSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11ServiceSigner")
            .field("token", &self.token.label())
            .field("key", &self.key.label())
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// A token key adapted to the x509 builder's signer traits: SHA-256 of the to-be-signed
/// bytes, signed in the token (which checks the signature with the public key).
struct TokenCa<'a> {
    token: &'a Pkcs11Token,
    key: &'a Pkcs11Key,
}

impl signature::Keypair for TokenCa<'_> {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        *self.key.verifying_key()
    }
}

impl spki::DynSignatureAlgorithmIdentifier for TokenCa<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        Ok(spki::AlgorithmIdentifierOwned {
            oid: rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        })
    }
}

impl signature::Signer<DerSignature> for TokenCa<'_> {
    fn try_sign(&self, message: &[u8]) -> Result<DerSignature, signature::Error> {
        let digest: [u8; 32] = Sha256::digest(message).into();
        self.token
            .sign_prehash(self.key, &digest)
            .map_err(signature::Error::from_source)
    }
}

/// Has the token sign a fixed digest with `key`; [`Pkcs11Token::sign_prehash`] checks the
/// signature with the key's public key, so a private key that is not the public key's fails
/// here.
fn check_key_pair(token: &Pkcs11Token, key: &Pkcs11Key) -> Result<(), HsmError> {
    let digest: [u8; 32] = Sha256::digest(b"ledger-hsm: key pair check").into();
    token.sign_prehash(key, &digest).map(drop)
}

/// A certificate given to a constructor, parsed and checked once.
struct ParsedCertificate {
    cert: Certificate,
    der: Vec<u8>,
    pem: String,
    key: VerifyingKey,
}

impl ParsedCertificate {
    /// Parses PEM (recognized by its `-----BEGIN` line) or DER.
    fn parse(input: &[u8]) -> Result<Self, HsmError> {
        let trimmed = input.trim_ascii_start();
        if !trimmed.starts_with(b"-----BEGIN") {
            return Self::from_der(input);
        }
        let (label, der) = der::pem::decode_vec(trimmed)
            .map_err(|e| HsmError::invalid("certificate", format_args!("malformed PEM: {e}")))?;
        if label != "CERTIFICATE" {
            return Err(HsmError::invalid(
                "certificate",
                format_args!("expected a CERTIFICATE PEM block, found {label:?}"),
            ));
        }
        Self::from_der(&der)
    }

    fn from_der(der: &[u8]) -> Result<Self, HsmError> {
        let invalid = |detail: String| HsmError::invalid("certificate", detail);
        let cert = Certificate::from_der(der)
            .map_err(|e| invalid(format!("malformed certificate: {e}")))?;
        // Signatures cover the bytes as encoded: `ledger-core` refuses a certificate that
        // does not re-encode to itself, so it is refused here first.
        let reencoded = cert
            .to_der()
            .map_err(|e| invalid(format!("certificate does not re-encode: {e}")))?;
        if reencoded != der {
            return Err(invalid("certificate is not canonical DER".into()));
        }
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| invalid(format!("certificate public key does not encode: {e}")))?;
        let key = VerifyingKey::from_public_key_der(&spki)
            .map_err(|e| invalid(format!("certificate public key is not a P-256 key: {e}")))?;
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
            .map_err(|e| invalid(format!("certificate does not encode as PEM: {e}")))?;
        Ok(Self {
            cert,
            der: der.to_vec(),
            pem,
            key,
        })
    }

    fn check_key(&self, key: &Pkcs11Key) -> Result<(), HsmError> {
        if self.key == *key.verifying_key() {
            Ok(())
        } else {
            Err(HsmError::CertificateKeyMismatch {
                label: key.label().to_owned(),
            })
        }
    }

    fn check_self_signed(&self) -> Result<(), HsmError> {
        let invalid = |detail: &str| HsmError::invalid("service certificate", detail);
        let tbs = &self.cert.tbs_certificate;
        if tbs.issuer != tbs.subject {
            return Err(invalid("it is not self-issued: issuer and subject differ"));
        }
        let alg = &self.cert.signature_algorithm;
        if alg.oid != rfc5912::ECDSA_WITH_SHA_256
            || alg.parameters.is_some()
            || tbs.signature != *alg
        {
            return Err(invalid("its signature algorithm is not ecdsa-with-SHA256"));
        }
        let signature = self
            .cert
            .signature
            .as_bytes()
            .and_then(|bytes| DerSignature::from_bytes(bytes).ok())
            .ok_or_else(|| invalid("its signature is not a DER ECDSA P-256 signature"))?;
        let tbs_der = tbs
            .to_der()
            .map_err(|_| invalid("its to-be-signed part does not encode"))?;
        self.key
            .verify(&tbs_der, &signature)
            .map_err(|_| invalid("its signature does not verify with its own key"))
    }
}

/// `CN=common_name` as a UTF8String, with `ledger-core`'s limits on common names.
fn common_name_to_name(common_name: &str) -> Result<Name, HsmError> {
    if common_name.is_empty() {
        return Err(HsmError::invalid("common name", "it is empty"));
    }
    let chars = common_name.chars().count();
    if chars > MAX_COMMON_NAME_LEN {
        return Err(HsmError::invalid(
            "common name",
            format_args!("{chars} characters is over the limit of {MAX_COMMON_NAME_LEN}"),
        ));
    }
    if common_name.chars().any(char::is_control) {
        return Err(HsmError::invalid(
            "common name",
            "it must not contain control characters",
        ));
    }
    let value = Any::new(Tag::Utf8String, common_name.as_bytes())
        .map_err(|e| HsmError::invalid("common name", e))?;
    let atv = AttributeTypeAndValue {
        oid: rfc4519::COMMON_NAME,
        value,
    };
    let rdn = SetOfVec::try_from(vec![atv])
        .map_err(|e| HsmError::crypto("encoding the subject name", e))?;
    Ok(RdnSequence(vec![RelativeDistinguishedName(rdn)]))
}

/// A random positive serial number of 16 bytes whose DER encoding is exactly 16 bytes (first
/// byte in 0x40..=0x7f: positive and minimal), as `ledger-core` makes them.
fn random_serial() -> Result<SerialNumber, HsmError> {
    let mut bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| HsmError::crypto("reading the random source", e))?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    SerialNumber::new(&bytes).map_err(|e| HsmError::crypto("building a serial number", e))
}
