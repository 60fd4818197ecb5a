//! Service and node identities (SPEC.md section 5): ECDSA keys on P-256 or P-384 and their
//! X.509 certificates.
//!
//! * The **service identity** is a key with a self-signed CA certificate (basicConstraints
//!   `CA:TRUE` critical, keyUsage `keyCertSign | cRLSign` critical, a subject key
//!   identifier). Its certificate is what receipt verifiers trust.
//! * The **node identity** is a key whose certificate the service key signs: an end-entity
//!   certificate (basicConstraints `CA:FALSE`, keyUsage `digitalSignature | nonRepudiation`)
//!   carrying subject and authority key identifiers and a subject alternative name, as the
//!   official `ccf` verifier's certificate-chain check requires. The node key signs Merkle
//!   roots through the [`NodeSigner`] trait, so a key held outside the process (an HSM) can
//!   take its place; [`ServiceIdentity::issue_node_certificate`] certifies such a key.
//! * `node_id` = lowercase hex SHA-256 of the node public key's DER SubjectPublicKeyInfo
//!   (uncompressed point), see [`node_id_of`].
//!
//! Keys are on P-256 by default, or on P-384 ([`KeyAlgorithm`], CCF's long-time default);
//! every signature is on the curve of the signer's certificate key (the curve rule of
//! [`PublicKey`]'s module: roots are signed as 32-byte prehashes on either curve,
//! certificates ecdsa-with-SHA256 by a P-256 key and ecdsa-with-SHA384 by a P-384 key, as CCF
//! signs them). Certificates carry a random positive 16-byte serial number, and by default
//! are valid from one hour before their creation (tolerating clock skew between the ledger
//! and its verifiers) to `99991231235959Z`, RFC 5280's value for "no well-defined
//! expiration": a ledger's receipts must stay verifiable for as long as anyone keeps them.
//! [`CertificateValidity`] chooses other bounds.
//!
//! # Format
//!
//! [`ServiceIdentity::to_bytes`] and [`NodeIdentity::to_bytes`] produce, all integers
//! big-endian:
//!
//! ```text
//! version   u8     = 1
//! kind      u8     = 1 (service) | 2 (node)
//! key_len   u32    followed by key_len bytes: the private key, PKCS#8 DER (which names
//!                  its curve, P-256 or P-384)
//! cert_len  u32    followed by cert_len bytes: the certificate, DER
//! ```
//!
//! with no trailing bytes. Decoding checks every length, that the certificate parses and is
//! canonical DER, and that its public key is the private key's.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use der::asn1::{Any, Ia5String, SetOfVec};
use der::oid::db::{rfc4519, rfc5280};
use der::{Decode, Encode, Tag};
use p256::ecdsa::signature;
use p256::elliptic_curve::zeroize::Zeroizing;
use rand_core::{OsRng, RngCore};
use sha2::{Digest as _, Sha256};
use spki::EncodePublicKey;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;

use crate::curves::{
    certificate_digest, oid_name, CertificateSignature, KeyAlgorithm, PublicKey, SigningKey,
    VerifyKey,
};
use crate::error::{excerpt, CertificateRole, CertificateRule};
use crate::{Error, Problem, Result};

/// Longest common name accepted (X.520 `ub-common-name`).
pub(crate) const MAX_COMMON_NAME_LEN: usize = 64;

/// How far before its creation a certificate's validity starts by default: one hour, so that
/// a verifier whose clock is slightly behind still accepts a fresh certificate.
pub(crate) const DEFAULT_BACKDATE: Duration = Duration::from_secs(3600);

const FORMAT_VERSION: u8 = 1;
const KIND_SERVICE: u8 = 1;
const KIND_NODE: u8 = 2;

/// Signs Merkle roots on behalf of a node.
///
/// The engine holds its node key through this trait so that the key may live outside the
/// process (an HSM, a remote signer). Implementations must produce an ECDSA signature on the
/// curve of [`NodeSigner::certificate_pem`]'s key (P-256 or P-384) over the 32-byte root used
/// directly as the prehash (it is not hashed again), DER-encoded, verifiable with that key.
pub trait NodeSigner: Send + Sync + fmt::Debug {
    /// Signs `root`, returning the DER-encoded ECDSA signature (on the curve of the
    /// certificate's key).
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the signer fails (for an HSM: unreachable, refused).
    fn sign_root(&self, root: &[u8; 32]) -> Result<Vec<u8>, Error>;

    /// The node certificate, PEM, signed by the service key.
    fn certificate_pem(&self) -> &str;

    /// The node id: lowercase hex SHA-256 of the node public key's DER SubjectPublicKeyInfo.
    fn node_id(&self) -> &str;
}

/// Signs on behalf of the service: the key whose self-signed CA certificate receipt verifiers
/// trust.
///
/// The service key certifies node keys (and, in CCF's COSE profile, signs roots). Held
/// through this trait it may live outside the process (an HSM, a cloud key vault), so a
/// ledger can be created with no service private key in its store. [`ServiceIdentity`] is the
/// in-process implementation.
///
/// Implementations must produce ECDSA signatures on the curve of
/// [`ServiceSigner::certificate_pem`]'s key (P-256 or P-384) over the digest they are given,
/// used directly as the prehash (it is not hashed again), DER-encoded and verifiable with
/// that key; this is what PKCS#11's `CKM_ECDSA` and most key vaults' "sign digest" operations
/// compute. A P-256 service signs certificates over SHA-256 digests
/// ([`ServiceSigner::sign_digest`]); a P-384 one over SHA-384 digests, so it implements
/// [`ServiceSigner::sign_prehash`] too.
pub trait ServiceSigner: Send + Sync + fmt::Debug {
    /// Signs `digest` (a SHA-256 digest), returning the DER-encoded ECDSA signature on the
    /// curve of the certificate's key.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the signer fails (for an HSM: unreachable, refused).
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error>;

    /// Signs `prehash`, a digest of any length the curve accepts (32 bytes of SHA-256, 48 of
    /// SHA-384), like [`ServiceSigner::sign_digest`]. A P-384 service signs the SHA-384
    /// digests of the certificates it issues through this method.
    ///
    /// The default signs 32-byte digests with [`ServiceSigner::sign_digest`] and refuses
    /// others, which is all a P-256 service needs.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the signer fails or does not sign digests of this length.
    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, Error> {
        let digest: &[u8; 32] = prehash.try_into().map_err(|_| {
            Error::crypto(
                "signing with the service key",
                format_args!(
                    "this signer signs 32-byte digests only, not {} bytes (a P-384 service \
                     signer implements ServiceSigner::sign_prehash)",
                    prehash.len()
                ),
            )
        })?;
        self.sign_digest(digest)
    }

    /// The service certificate, PEM: a self-signed CA certificate for the signing key.
    fn certificate_pem(&self) -> &str;

    /// Issues an end-entity certificate for the P-256 key `node_key`, signed through
    /// [`ServiceSigner::sign_digest`] (or [`ServiceSigner::sign_prehash`] by a P-384
    /// service); the certificate is the one [`ServiceIdentity::issue_node_certificate`]
    /// describes. Returns it in DER. [`ServiceSigner::issue_node_certificate_for`] takes a
    /// key on either curve.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long common name or a certificate that
    /// does not parse; [`Error::Crypto`] if the signer fails or its signature does not verify
    /// with the certificate's key.
    fn issue_node_certificate(
        &self,
        node_key: &p256::ecdsa::VerifyingKey,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        self.issue_node_certificate_for(&PublicKey::P256(*node_key), common_name, validity)
    }

    /// Like [`ServiceSigner::issue_node_certificate`], for a node key on P-256 or P-384.
    ///
    /// # Errors
    ///
    /// As [`ServiceSigner::issue_node_certificate`].
    fn issue_node_certificate_for(
        &self,
        node_key: &PublicKey,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        as_ca(self, |signer, issuer| {
            issue_node_certificate_with(signer, issuer, node_key, common_name, validity)
        })
    }
    /// Issues a TLS server certificate for `server_key` (P-256 or P-384), signed through
    /// [`ServiceSigner::sign_prehash`], so an external signer (an HSM) issues it too. The
    /// certificate is an end-entity certificate like a node's (subject `CN=common_name`,
    /// subject and authority key identifiers, keyUsage `digitalSignature`), with
    /// extendedKeyUsage `serverAuth` and a subject alternative name listing `dns_names` and
    /// `ip_addresses`; a TLS client that trusts the service certificate accepts it for any
    /// of those names. Returns it in DER.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long common name, no names at all
    /// (`what = "subject alternative names"`, [`Problem::Empty`]) or a DNS name that is not
    /// a valid host name (`what = "subject alternative name"`, [`Problem::Malformed`]);
    /// [`Error::Crypto`] if the signer fails or its signature does not verify with the
    /// certificate's key.
    fn issue_server_certificate(
        &self,
        server_key: &PublicKey,
        common_name: &str,
        dns_names: &[String],
        ip_addresses: &[std::net::IpAddr],
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        as_ca(self, |signer, issuer| {
            issue_server_certificate_with(
                signer,
                issuer,
                server_key,
                common_name,
                dns_names,
                ip_addresses,
                validity,
            )
        })
    }
}

/// Runs `issue` with `service` as the certificate authority: its certificate's key, its
/// subject as the issuer name, and its [`ServiceSigner::sign_prehash`] as the signer.
fn as_ca<S: ServiceSigner + ?Sized>(
    service: &S,
    issue: impl FnOnce(&CaSigner<'_>, &Name) -> Result<Vec<u8>>,
) -> Result<Vec<u8>> {
    let ca = ParsedCert::parse(service.certificate_pem().as_bytes()).map_err(|e| {
        Error::malformed("service certificate", excerpt(service.certificate_pem()), e)
    })?;
    let sign = |prehash: &[u8]| service.sign_prehash(prehash);
    let signer = CaSigner {
        key: ca.key,
        sign: &sign,
    };
    issue(&signer, &ca.cert.tbs_certificate.subject)
}

/// A certificate-signing key, in process or behind a [`ServiceSigner`], adapted to the x509
/// builder's signer traits, so every certificate is built by the same code. It signs with
/// the algorithm of its curve ([`KeyAlgorithm::certificate_signature_oid`]) and checks each
/// signature with its public key before handing it out.
struct CaSigner<'a> {
    key: PublicKey,
    /// Signs a prehash (the certificate's digest), returning DER ECDSA.
    sign: &'a dyn Fn(&[u8]) -> Result<Vec<u8>>,
}

impl signature::Keypair for CaSigner<'_> {
    type VerifyingKey = PublicKey;

    fn verifying_key(&self) -> PublicKey {
        self.key
    }
}

impl spki::DynSignatureAlgorithmIdentifier for CaSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        Ok(spki::AlgorithmIdentifierOwned {
            oid: self.key.algorithm().certificate_signature_oid(),
            parameters: None,
        })
    }
}

impl signature::Signer<CertificateSignature> for CaSigner<'_> {
    fn try_sign(
        &self,
        message: &[u8],
    ) -> std::result::Result<CertificateSignature, signature::Error> {
        let digest = self.key.algorithm().certificate_digest(message);
        let der = (self.sign)(&digest).map_err(signature::Error::from_source)?;
        // A signer that answers with another key's signature would yield a certificate no
        // verifier accepts; refuse it here, where the cause is still known.
        self.key
            .verify_prehash(&digest, &der)
            .map_err(|e| signature::Error::from_source(e.to_string()))?;
        Ok(CertificateSignature(der))
    }
}

impl ServiceSigner for ServiceIdentity {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        self.sign_prehash(digest)
    }

    fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, Error> {
        self.key
            .sign_prehash(prehash)
            .map_err(|e| Error::crypto("signing with the service key", e))
    }

    fn certificate_pem(&self) -> &str {
        &self.cert.pem
    }

    fn issue_node_certificate(
        &self,
        node_key: &p256::ecdsa::VerifyingKey,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        ServiceIdentity::issue_node_certificate(self, node_key, common_name, validity)
    }

    fn issue_node_certificate_for(
        &self,
        node_key: &PublicKey,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        ServiceIdentity::issue_node_certificate_for(self, node_key, common_name, validity)
    }
}

/// The validity period written into a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateValidity {
    not_before: SystemTime,
    not_after: SystemTime,
}

impl CertificateValidity {
    /// The default: from `DEFAULT_BACKDATE` (one hour) before now to `99991231235959Z` (no
    /// well-defined expiration, RFC 5280 section 4.1.2.5).
    pub fn starting_now() -> Self {
        let now = SystemTime::now();
        Self {
            not_before: now.checked_sub(DEFAULT_BACKDATE).unwrap_or(now),
            not_after: SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799),
        }
    }

    /// A validity period from `not_before` to `not_after`, both inclusive.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `not_before` is after `not_after`, or either lies before
    /// 1970 or after 9999.
    pub fn new(not_before: SystemTime, not_after: SystemTime) -> Result<Self> {
        if not_before > not_after {
            return Err(Error::malformed(
                "certificate validity",
                format!(
                    "{} to {} (Unix time)",
                    unix_seconds(not_before),
                    unix_seconds(not_after)
                ),
                "it ends before it starts",
            ));
        }
        let v = Self {
            not_before,
            not_after,
        };
        v.to_x509()?;
        Ok(v)
    }

    /// Start of the period.
    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    /// End of the period (inclusive).
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    fn to_x509(self) -> Result<Validity> {
        let time = |t: SystemTime| {
            Time::try_from(t).map_err(|e| {
                Error::malformed(
                    "certificate validity",
                    format!("{} (Unix time)", unix_seconds(t)),
                    format_args!("it must lie between 1970 and 9999: {e}"),
                )
            })
        };
        // The certificate builder re-encodes dates before 2050 as UTCTime, as RFC 5280 and
        // the webpki-style policy of the Python `cryptography` verifier require.
        Ok(Validity {
            not_before: time(self.not_before)?,
            not_after: time(self.not_after)?,
        })
    }
}

impl Default for CertificateValidity {
    fn default() -> Self {
        Self::starting_now()
    }
}

/// The service identity: a P-256 or P-384 key and its self-signed CA certificate.
#[derive(Clone)]
pub struct ServiceIdentity {
    key: SigningKey,
    cert: Arc<ParsedCert>,
}

impl ServiceIdentity {
    /// Creates a new service key and self-signed CA certificate with subject `CN=common_name`
    /// and the default [`CertificateValidity`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long common name; [`Error::Crypto`] if
    /// key generation or certificate building fails.
    pub fn generate(common_name: &str) -> Result<Self> {
        Self::generate_with_validity(common_name, CertificateValidity::starting_now())
    }

    /// Like [`ServiceIdentity::generate`] with an explicit validity period.
    ///
    /// # Errors
    ///
    /// As [`ServiceIdentity::generate`].
    pub fn generate_with_validity(
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Self> {
        Self::generate_with_algorithm(common_name, KeyAlgorithm::EcdsaP256, validity)
    }

    /// Like [`ServiceIdentity::generate_with_validity`] with a key of `algorithm` (P-256 or
    /// P-384). The certificate is signed ecdsa-with-SHA256 by a P-256 key and
    /// ecdsa-with-SHA384 by a P-384 key.
    ///
    /// # Errors
    ///
    /// As [`ServiceIdentity::generate`].
    pub fn generate_with_algorithm(
        common_name: &str,
        algorithm: KeyAlgorithm,
        validity: CertificateValidity,
    ) -> Result<Self> {
        let subject = common_name_to_name(common_name)?;
        let key = SigningKey::random(algorithm)
            .map_err(|e| Error::crypto("generating the service key", e))?;
        let spki = spki_of(&key.public_key())?;
        let sign = |prehash: &[u8]| {
            key.sign_prehash(prehash)
                .map_err(|e| Error::crypto("signing with the service key", e))
        };
        let signer = CaSigner {
            key: key.public_key(),
            sign: &sign,
        };
        let builder = CertificateBuilder::new(
            Profile::Root,
            random_serial()?,
            validity.to_x509()?,
            subject,
            spki,
            &signer,
        )
        .map_err(|e| Error::crypto("building the service certificate", e))?;
        let cert = builder
            .build::<CertificateSignature>()
            .map_err(|e| Error::crypto("signing the service certificate", e))?;
        let der = cert
            .to_der()
            .map_err(|e| Error::crypto("encoding the service certificate", e))?;
        let cert = ParsedCert::from_der(&der)
            .map_err(|e| Error::crypto("parsing the service certificate", e))?;
        Ok(Self {
            key,
            cert: Arc::new(cert),
        })
    }

    /// Issues an end-entity certificate for a node public key (a key this process may not
    /// hold, such as one in an HSM), signed by the service key. The certificate carries
    /// subject and authority key identifiers and a subject alternative name: `common_name`
    /// as a DNS name when it is a valid host name, otherwise `{first 32 hex digits of the
    /// node id}.node.invalid` (RFC 2606's reserved top-level domain).
    ///
    /// Returns the certificate in DER.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long common name; [`Error::Crypto`] if
    /// building or signing the certificate fails.
    pub fn issue_node_certificate(
        &self,
        node_key: &p256::ecdsa::VerifyingKey,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        self.issue_node_certificate_for(&PublicKey::P256(*node_key), common_name, validity)
    }

    /// Like [`ServiceIdentity::issue_node_certificate`], for a node key on P-256 or P-384
    /// (whatever the service key's curve).
    ///
    /// # Errors
    ///
    /// As [`ServiceIdentity::issue_node_certificate`].
    pub fn issue_node_certificate_for(
        &self,
        node_key: &PublicKey,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Vec<u8>> {
        let sign = |prehash: &[u8]| {
            self.key
                .sign_prehash(prehash)
                .map_err(|e| Error::crypto("signing with the service key", e))
        };
        let signer = CaSigner {
            key: self.cert.key,
            sign: &sign,
        };
        issue_node_certificate_with(
            &signer,
            &self.cert.cert.tbs_certificate.subject,
            node_key,
            common_name,
            validity,
        )
    }

    /// The CA certificate, PEM (`-----BEGIN CERTIFICATE-----`, LF line endings).
    pub fn certificate_pem(&self) -> &str {
        &self.cert.pem
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert.der
    }

    /// The service public key.
    pub fn verifying_key(&self) -> &PublicKey {
        &self.cert.key
    }

    /// The service key's algorithm (its curve).
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.cert.key.algorithm()
    }

    /// Serializes key and certificate (see the module's `# Format`). The bytes contain the
    /// private key: store them where the ledger's secrets live.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the key cannot be encoded.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        encode_identity(KIND_SERVICE, &self.key, &self.cert.der)
    }

    /// Decodes what [`ServiceIdentity::to_bytes`] produced.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] if the bytes do not decode, the certificate is malformed or not
    /// validly self-signed, or its public key is not the private key's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (key, cert) = decode_identity(KIND_SERVICE, bytes)?;
        cert.check_signed_by(&cert).map_err(|e| {
            Error::corruption(
                "service identity",
                format_args!("the certificate is not validly self-signed: {e}"),
            )
        })?;
        Ok(Self {
            key,
            cert: Arc::new(cert),
        })
    }
}

impl fmt::Debug for ServiceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceIdentity")
            .field(
                "subject",
                &self.cert.cert.tbs_certificate.subject.to_string(),
            )
            .field("public_key_sha256", &self.cert.node_id)
            .finish_non_exhaustive()
    }
}

/// Builds and signs a node certificate with `ca`, whose certificate's subject is `issuer`.
fn issue_node_certificate_with(
    ca: &CaSigner<'_>,
    issuer: &Name,
    node_key: &PublicKey,
    common_name: &str,
    validity: CertificateValidity,
) -> Result<Vec<u8>> {
    let subject = common_name_to_name(common_name)?;
    let spki = spki_of(node_key)?;
    let spki_der = node_key
        .to_public_key_der()
        .map_err(|e| Error::crypto("encoding the node public key", e))?;
    let node_id = node_id_of(spki_der.as_bytes());
    let san_dns = if is_dns_name(common_name) {
        common_name.to_owned()
    } else {
        format!("{}.node.invalid", &node_id[..32])
    };
    let san_dns = Ia5String::new(&san_dns)
        .map_err(|e| Error::crypto("encoding the subject alternative name", e))?;
    let profile = Profile::Leaf {
        issuer: issuer.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let mut builder = CertificateBuilder::new(
        profile,
        random_serial()?,
        validity.to_x509()?,
        subject,
        spki,
        ca,
    )
    .map_err(|e| Error::crypto("building the node certificate", e))?;
    builder
        .add_extension(&SubjectAltName(vec![GeneralName::DnsName(san_dns)]))
        .map_err(|e| Error::crypto("adding the subject alternative name", e))?;
    let cert = builder
        .build::<CertificateSignature>()
        .map_err(|e| Error::crypto("signing the node certificate", e))?;
    cert.to_der()
        .map_err(|e| Error::crypto("encoding the node certificate", e))
}

/// Builds the TLS server certificate [`ServiceSigner::issue_server_certificate`] describes.
fn issue_server_certificate_with(
    ca: &CaSigner<'_>,
    issuer: &Name,
    server_key: &PublicKey,
    common_name: &str,
    dns_names: &[String],
    ip_addresses: &[std::net::IpAddr],
    validity: CertificateValidity,
) -> Result<Vec<u8>> {
    if dns_names.is_empty() && ip_addresses.is_empty() {
        return Err(Error::invalid("subject alternative names", Problem::Empty));
    }
    let subject = common_name_to_name(common_name)?;
    let spki = spki_of(server_key)?;
    let mut names = Vec::with_capacity(dns_names.len() + ip_addresses.len());
    for name in dns_names {
        if !is_dns_name(name) {
            return Err(Error::malformed(
                "subject alternative name",
                excerpt(name),
                "not a valid DNS host name",
            ));
        }
        let name = Ia5String::new(name)
            .map_err(|e| Error::crypto("encoding the subject alternative name", e))?;
        names.push(GeneralName::DnsName(name));
    }
    for ip in ip_addresses {
        let octets = match ip {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        let octets = der::asn1::OctetString::new(octets)
            .map_err(|e| Error::crypto("encoding the subject alternative name", e))?;
        names.push(GeneralName::IpAddress(octets));
    }
    let profile = Profile::Leaf {
        issuer: issuer.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let mut builder = CertificateBuilder::new(
        profile,
        random_serial()?,
        validity.to_x509()?,
        subject,
        spki,
        ca,
    )
    .map_err(|e| Error::crypto("building the server certificate", e))?;
    builder
        .add_extension(&SubjectAltName(names))
        .map_err(|e| Error::crypto("adding the subject alternative name", e))?;
    builder
        .add_extension(&ExtendedKeyUsage(vec![rfc5280::ID_KP_SERVER_AUTH]))
        .map_err(|e| Error::crypto("adding the extended key usage", e))?;
    let cert = builder
        .build::<CertificateSignature>()
        .map_err(|e| Error::crypto("signing the server certificate", e))?;
    cert.to_der()
        .map_err(|e| Error::crypto("encoding the server certificate", e))
}

/// A node identity: a P-256 or P-384 key and its certificate signed by the service key.
#[derive(Clone)]
pub struct NodeIdentity {
    key: SigningKey,
    cert: Arc<ParsedCert>,
}

impl NodeIdentity {
    /// Creates a node key and has `service` certify it, with subject `CN=common_name` and the
    /// default [`CertificateValidity`].
    ///
    /// # Errors
    ///
    /// As [`ServiceIdentity::issue_node_certificate`].
    pub fn generate(service: &dyn ServiceSigner, common_name: &str) -> Result<Self> {
        Self::generate_with_validity(service, common_name, CertificateValidity::starting_now())
    }

    /// Like [`NodeIdentity::generate`] with an explicit validity period.
    ///
    /// # Errors
    ///
    /// As [`ServiceIdentity::issue_node_certificate`].
    pub fn generate_with_validity(
        service: &dyn ServiceSigner,
        common_name: &str,
        validity: CertificateValidity,
    ) -> Result<Self> {
        Self::generate_with_algorithm(service, common_name, KeyAlgorithm::EcdsaP256, validity)
    }

    /// Like [`NodeIdentity::generate_with_validity`] with a key of `algorithm` (P-256 or
    /// P-384), whatever the curve of the service key. A P-256 key is certified through
    /// [`ServiceSigner::issue_node_certificate`], a P-384 one through
    /// [`ServiceSigner::issue_node_certificate_for`].
    ///
    /// # Errors
    ///
    /// As [`ServiceIdentity::issue_node_certificate`].
    pub fn generate_with_algorithm(
        service: &dyn ServiceSigner,
        common_name: &str,
        algorithm: KeyAlgorithm,
        validity: CertificateValidity,
    ) -> Result<Self> {
        let key =
            SigningKey::random(algorithm).map_err(|e| Error::crypto("generating a node key", e))?;
        let der = match key.public_key() {
            PublicKey::P256(p256) => {
                service.issue_node_certificate(&p256, common_name, validity)?
            }
            other => service.issue_node_certificate_for(&other, common_name, validity)?,
        };
        let cert = ParsedCert::from_der(&der)
            .map_err(|e| Error::crypto("parsing the node certificate", e))?;
        Ok(Self {
            key,
            cert: Arc::new(cert),
        })
    }

    /// The node id: lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo.
    pub fn node_id(&self) -> &str {
        &self.cert.node_id
    }

    /// The node certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert.pem
    }

    /// The node certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert.der
    }

    /// The node public key.
    pub fn verifying_key(&self) -> &PublicKey {
        &self.cert.key
    }

    /// The node key's algorithm (its curve).
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.cert.key.algorithm()
    }

    /// Serializes key and certificate (see the module's `# Format`). The bytes contain the
    /// private key.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the key cannot be encoded.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        encode_identity(KIND_NODE, &self.key, &self.cert.der)
    }

    /// The node's private key as PKCS#8 DER, for the TLS stack that authenticates the node to
    /// its peers with its certificate (`ledger_raft::transport`).
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the key cannot be encoded.
    pub fn private_key_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| Error::crypto("encoding the private key", e))?;
        Ok(Zeroizing::new(der.as_slice().to_vec()))
    }

    /// Decodes what [`NodeIdentity::to_bytes`] produced. Whether the certificate is signed by
    /// a given service is checked separately, with `verify_cert_signed_by`.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] if the bytes do not decode, the certificate is malformed, or its
    /// public key is not the private key's.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (key, cert) = decode_identity(KIND_NODE, bytes)?;
        Ok(Self {
            key,
            cert: Arc::new(cert),
        })
    }
}

impl NodeSigner for NodeIdentity {
    fn sign_root(&self, root: &[u8; 32]) -> Result<Vec<u8>, Error> {
        self.key
            .sign_prehash(root)
            .map_err(|e| Error::crypto("signing a root", e))
    }

    fn certificate_pem(&self) -> &str {
        &self.cert.pem
    }

    fn node_id(&self) -> &str {
        &self.cert.node_id
    }
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("node_id", &self.cert.node_id)
            .field(
                "subject",
                &self.cert.cert.tbs_certificate.subject.to_string(),
            )
            .finish_non_exhaustive()
    }
}

/// Lowercase hex SHA-256 of a DER SubjectPublicKeyInfo: a node id.
pub fn node_id_of(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(spki_der))
}

/// Verifies that `der_signature` is an ECDSA P-256 signature over `root` (used directly as
/// the prehash) by the key of `certificate` (PEM or DER).
///
/// # Errors
///
/// [`Error::Crypto`] if the certificate does not parse or hold a P-256 key, the signature is
/// not DER, or it does not verify.
#[cfg(test)]
pub(crate) fn verify_root_signature(
    certificate: impl AsRef<[u8]>,
    root: &[u8; 32],
    der_signature: &[u8],
) -> Result<()> {
    let cert = ParsedCert::parse(certificate.as_ref())
        .map_err(|e| Error::crypto("parsing the node certificate", e))?;
    cert.verify_root_signature(root, der_signature)
        .map_err(|e| Error::crypto("verifying a root signature", e))
}

/// Verifies that `service_certificate` signed `node_certificate` (both PEM or DER) and that
/// both are within their validity period now. See [`verify_cert_signed_by_at`].
///
/// # Errors
///
/// As [`verify_cert_signed_by_at`].
pub(crate) fn verify_cert_signed_by(
    node_certificate: impl AsRef<[u8]>,
    service_certificate: impl AsRef<[u8]>,
) -> Result<()> {
    verify_cert_signed_by_at(node_certificate, service_certificate, SystemTime::now())
}

/// Verifies that `service_certificate` endorses `node_certificate` (both PEM or DER) directly,
/// by the path rules receipts are held to ([`validate_path`] with no intermediate): both are
/// valid at time `at`, the node certificate may sign (digitalSignature) and names the service
/// certificate as its issuer, the service certificate is a CA allowed to sign certificates,
/// and the service key's ECDSA/SHA-256 signature over the node certificate verifies.
///
/// # Errors
///
/// [`Error::Crypto`] naming the check that failed.
pub(crate) fn verify_cert_signed_by_at(
    node_certificate: impl AsRef<[u8]>,
    service_certificate: impl AsRef<[u8]>,
    at: SystemTime,
) -> Result<()> {
    let node = ParsedCert::parse(node_certificate.as_ref())
        .map_err(|e| Error::crypto("parsing the node certificate", e))?;
    let service = ParsedCert::parse(service_certificate.as_ref())
        .map_err(|e| Error::crypto("parsing the service certificate", e))?;
    validate_path(&node, &[], &service, Some(at)).map_err(|(role, v)| {
        Error::crypto(
            "verifying the node certificate's endorsement",
            format_args!("{role}: {}", v.detail),
        )
    })
}

/// A node certificate the service endorsed, as [`verify_node_endorsement`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndorsedNode {
    /// The node id: lowercase hex SHA-256 of the certificate's SubjectPublicKeyInfo.
    pub node_id: String,
    /// The certificate in canonical PEM (LF line endings), as the ledger records it.
    pub certificate_pem: String,
    /// The certificate in DER.
    pub certificate_der: Vec<u8>,
}

/// Checks that `service_certificate` endorses `node_certificate` (both PEM or DER) at time
/// `at`, by the rules receipts are held to: both valid then, the node certificate allowed to
/// sign and issued by the service certificate (a CA allowed to sign certificates), and the
/// service key's signature over it verifying. This is what a node checks of a peer's
/// certificate before it talks Raft with it, and what the audit checks of every node record.
///
/// # Errors
///
/// [`Error::Crypto`] naming the check that failed (a certificate that does not parse
/// included).
pub fn verify_node_endorsement(
    node_certificate: impl AsRef<[u8]>,
    service_certificate: impl AsRef<[u8]>,
    at: SystemTime,
) -> Result<EndorsedNode> {
    let node = ParsedCert::parse(node_certificate.as_ref())
        .map_err(|e| Error::crypto("parsing the node certificate", e))?;
    verify_cert_signed_by_at(&node.der, service_certificate, at)?;
    Ok(EndorsedNode {
        node_id: node.node_id.clone(),
        certificate_pem: node.pem.clone(),
        certificate_der: node.der.clone(),
    })
}

/// Extensions a critical flag on which path validation accepts: basicConstraints and keyUsage,
/// which it processes, and subjectAltName and the subject and authority key identifiers,
/// which restrict nothing a receipt verifier does (it matches no names and builds no paths
/// from key identifiers). Any other critical extension rejects the certificate; an unknown
/// non-critical one is ignored, as RFC 5280 section 4.2 allows.
const UNDERSTOOD_EXTENSIONS: [der::oid::ObjectIdentifier; 5] = [
    rfc5280::ID_CE_BASIC_CONSTRAINTS,
    rfc5280::ID_CE_KEY_USAGE,
    rfc5280::ID_CE_SUBJECT_ALT_NAME,
    rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
    rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
];

/// A rule a certificate broke, and what exactly did not hold.
#[derive(Debug)]
pub(crate) struct Violation {
    pub(crate) rule: CertificateRule,
    pub(crate) detail: String,
}

impl Violation {
    fn new(rule: CertificateRule, detail: String) -> Self {
        Self { rule, detail }
    }
}

/// What path validation reads from a certificate's extensions.
#[derive(Debug, Default)]
pub(crate) struct PathExtensions {
    basic_constraints: Option<BasicConstraints>,
    key_usage: Option<KeyUsage>,
}

/// Validates a receipt's certificate path as RFC 5280 section 6.1 asks, for what receipts use:
/// `node` (the end entity), then `endorsements` (nearest the node first), then the trusted
/// `service` certificate. In order:
///
/// 1. every certificate, the service's included: no extension twice, basicConstraints and
///    keyUsage decode, no critical extension outside [`UNDERSTOOD_EXTENSIONS`], and valid at
///    `at` (when a time is given: an audit of history may check signatures alone);
/// 2. the node certificate's keyUsage, if present, includes digitalSignature;
/// 3. each link, from the node up: the certificate names the next as its issuer and carries
///    its ecdsa-with-SHA256 signature; the next is a CA (basicConstraints present, `CA:TRUE`),
///    its keyUsage, if present, includes keyCertSign, and its pathLenConstraint, if any, is
///    at least the number of intermediate certificates below it that are not self-issued.
///
/// # Errors
///
/// The first violation found and the certificate that broke it. A signature or issuer-name
/// failure is the signed certificate's; a CA rule is the issuer's.
pub(crate) fn validate_path(
    node: &ParsedCert,
    endorsements: &[ParsedCert],
    service: &ParsedCert,
    at: Option<SystemTime>,
) -> std::result::Result<(), (CertificateRole, Violation)> {
    let path: Vec<(CertificateRole, &ParsedCert)> = std::iter::once((CertificateRole::Node, node))
        .chain(
            endorsements
                .iter()
                .enumerate()
                .map(|(i, c)| (CertificateRole::Endorsement(i), c)),
        )
        .chain(std::iter::once((CertificateRole::Service, service)))
        .collect();
    let mut extensions = Vec::with_capacity(path.len());
    for &(role, cert) in &path {
        extensions.push(cert.path_extensions().map_err(|v| (role, v))?);
        if let Some(at) = at {
            cert.validity_at(at).map_err(|v| (role, v))?;
        }
    }
    if let Some(ku) = extensions[0].key_usage {
        if !ku.digital_signature() {
            return Err((
                CertificateRole::Node,
                Violation::new(
                    CertificateRule::NoDigitalSignature,
                    format!(
                        "certificate {} may not sign roots: its keyUsage lacks digitalSignature",
                        node.cert.tbs_certificate.subject
                    ),
                ),
            ));
        }
    }
    // Intermediate certificates (not self-issued) between the current issuer and the node.
    let mut intermediates = 0usize;
    for (i, pair) in path.windows(2).enumerate() {
        let [(child_role, child), (issuer_role, issuer)] = [pair[0], pair[1]];
        child.signed_by(issuer).map_err(|v| {
            (
                child_role,
                Violation::new(
                    v.rule,
                    format!("not endorsed by the {issuer_role}: {}", v.detail),
                ),
            )
        })?;
        if i > 0 && !child.is_self_issued() {
            intermediates += 1;
        }
        let subject = &issuer.cert.tbs_certificate.subject;
        let reject = |rule, why: String| {
            Err((
                issuer_role,
                Violation::new(
                    rule,
                    format!("certificate {subject} signed the {child_role} but {why}"),
                ),
            ))
        };
        let issuer_ext = &extensions[i + 1];
        let Some(bc) = issuer_ext.basic_constraints.as_ref().filter(|bc| bc.ca) else {
            let why = if issuer_ext.basic_constraints.is_some() {
                "its basicConstraints says CA:FALSE"
            } else {
                "it has no basicConstraints"
            };
            return reject(CertificateRule::NotACa, why.into());
        };
        if let Some(ku) = issuer_ext.key_usage {
            if !ku.key_cert_sign() {
                return reject(
                    CertificateRule::NoKeyCertSign,
                    "its keyUsage lacks keyCertSign".into(),
                );
            }
        }
        if let Some(limit) = bc.path_len_constraint {
            if intermediates > usize::from(limit) {
                return reject(
                    CertificateRule::PathLengthExceeded {
                        limit,
                        intermediates,
                    },
                    format!(
                        "its pathLenConstraint {limit} allows fewer than the {intermediates} \
                         intermediate certificates below it"
                    ),
                );
            }
        }
    }
    Ok(())
}

/// A certificate parsed once, with what verification needs at hand.
pub(crate) struct ParsedCert {
    pub(crate) cert: Certificate,
    pub(crate) der: Vec<u8>,
    pub(crate) pem: String,
    pub(crate) key: PublicKey,
    /// `key` parsed once for the verification backend: every signature this certificate's
    /// key is checked against (roots, certificates it issued) goes through it.
    pub(crate) verify_key: VerifyKey,
    /// Hex SHA-256 of the canonical DER SubjectPublicKeyInfo of `key`.
    pub(crate) node_id: String,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
}

impl ParsedCert {
    /// Parses PEM (recognized by its `-----BEGIN` line) or DER.
    ///
    /// PEM may be preceded by whitespace and followed by what services have been seen to
    /// serve after the `-----END CERTIFICATE-----` line: ASCII whitespace and at most one NUL
    /// byte (a certificate served as a C string). Anything else around the one PEM block, a
    /// second block included, is refused.
    pub(crate) fn parse(input: &[u8]) -> std::result::Result<Self, String> {
        let trimmed = input.trim_ascii_start();
        if trimmed.starts_with(b"-----BEGIN") {
            let pem = trim_served_pem_end(trimmed);
            let (label, der) =
                der::pem::decode_vec(pem).map_err(|e| format!("malformed PEM: {e}"))?;
            if label != "CERTIFICATE" {
                return Err(format!("expected a CERTIFICATE PEM block, found {label:?}"));
            }
            Self::from_der(&der)
        } else {
            Self::from_der(input)
        }
    }

    pub(crate) fn from_der(der: &[u8]) -> std::result::Result<Self, String> {
        let cert = Certificate::from_der(der).map_err(|e| format!("malformed certificate: {e}"))?;
        // Signatures cover the TBS bytes as encoded; re-encoding must reproduce the input
        // exactly, or the bytes this code would check differ from those other verifiers check.
        let reencoded = cert
            .to_der()
            .map_err(|e| format!("certificate does not re-encode: {e}"))?;
        if reencoded != der {
            return Err("certificate is not canonical DER".into());
        }
        let spki_der = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("certificate public key does not encode: {e}"))?;
        let key = PublicKey::from_spki_der(&spki_der).map_err(|e| format!("certificate {e}"))?;
        let canonical_spki = key.spki_der().map_err(|e| format!("certificate {e}"))?;
        let node_id = node_id_of(&canonical_spki);
        let verify_key = VerifyKey::new(key).map_err(|e| format!("certificate {e}"))?;
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
            .map_err(|e| format!("certificate does not encode as PEM: {e}"))?;
        let validity = &cert.tbs_certificate.validity;
        let not_before = validity.not_before.to_system_time();
        let not_after = validity.not_after.to_system_time();
        Ok(Self {
            cert,
            der: der.to_vec(),
            pem,
            key,
            verify_key,
            node_id,
            not_before,
            not_after,
        })
    }

    pub(crate) fn check_valid_at(&self, at: SystemTime) -> std::result::Result<(), String> {
        self.validity_at(at).map_err(|v| v.detail)
    }

    /// [`ParsedCert::check_valid_at`] with the rule broken: [`CertificateRule::NotYetValid`]
    /// or [`CertificateRule::Expired`].
    pub(crate) fn validity_at(&self, at: SystemTime) -> std::result::Result<(), Violation> {
        if at < self.not_before {
            return Err(Violation::new(
                CertificateRule::NotYetValid,
                format!(
                    "certificate {} is not valid yet (not before {})",
                    self.cert.tbs_certificate.subject,
                    self.cert.tbs_certificate.validity.not_before
                ),
            ));
        }
        if at > self.not_after {
            return Err(Violation::new(
                CertificateRule::Expired,
                format!(
                    "certificate {} has expired (not after {})",
                    self.cert.tbs_certificate.subject, self.cert.tbs_certificate.validity.not_after
                ),
            ));
        }
        Ok(())
    }

    /// Checks that this certificate names `issuer` as its issuer and carries its ECDSA
    /// signature (ecdsa-with-SHA256, -SHA384 or -SHA512); validity periods are not looked at.
    pub(crate) fn check_signed_by(&self, issuer: &ParsedCert) -> std::result::Result<(), String> {
        self.signed_by(issuer).map_err(|v| v.detail)
    }

    /// [`ParsedCert::check_signed_by`] with the rule broken: [`CertificateRule::IssuerMismatch`],
    /// [`CertificateRule::UnsupportedAlgorithm`] or [`CertificateRule::BadSignature`].
    pub(crate) fn signed_by(&self, issuer: &ParsedCert) -> std::result::Result<(), Violation> {
        let tbs = &self.cert.tbs_certificate;
        if tbs.issuer != issuer.cert.tbs_certificate.subject {
            return Err(Violation::new(
                CertificateRule::IssuerMismatch,
                format!(
                    "certificate issuer {} is not the signer's subject {}",
                    tbs.issuer, issuer.cert.tbs_certificate.subject
                ),
            ));
        }
        let alg = &self.cert.signature_algorithm;
        let bad = |detail: String| Violation::new(CertificateRule::BadSignature, detail);
        let tbs_der = tbs
            .to_der()
            .map_err(|e| bad(format!("certificate does not re-encode: {e}")))?;
        let digest = certificate_digest(&alg.oid, &tbs_der)
            .filter(|_| alg.parameters.is_none() && tbs.signature == *alg)
            .ok_or_else(|| {
                Violation::new(
                    CertificateRule::UnsupportedAlgorithm,
                    format!(
                        "certificate signature algorithm {} is not ecdsa-with-SHA256, \
                         -SHA384 or -SHA512 (or differs from the one its body names)",
                        oid_name(&alg.oid)
                    ),
                )
            })?;
        let signature =
            self.cert.signature.as_bytes().ok_or_else(|| {
                bad("certificate signature is not a whole number of bytes".into())
            })?;
        issuer
            .verify_key
            .verify_prehash(&digest, signature)
            .map_err(|e| {
                bad(format!(
                    "certificate signature by the issuer's {} key: {e}",
                    issuer.key.algorithm().curve_name()
                ))
            })
    }

    /// Whether the certificate names itself as its issuer (RFC 5280 "self-issued").
    fn is_self_issued(&self) -> bool {
        self.cert.tbs_certificate.issuer == self.cert.tbs_certificate.subject
    }

    /// Reads the extensions path validation processes, rejecting a certificate that repeats
    /// an extension, whose basicConstraints or keyUsage does not decode, or that carries a
    /// critical extension outside [`UNDERSTOOD_EXTENSIONS`].
    pub(crate) fn path_extensions(&self) -> std::result::Result<PathExtensions, Violation> {
        let subject = &self.cert.tbs_certificate.subject;
        let mut seen = Vec::new();
        let mut out = PathExtensions::default();
        for ext in self.cert.tbs_certificate.extensions.iter().flatten() {
            let oid = ext.extn_id;
            if seen.contains(&oid) {
                return Err(Violation::new(
                    CertificateRule::DuplicateExtension {
                        oid: oid.to_string(),
                    },
                    format!("certificate {subject} carries extension {oid} more than once"),
                ));
            }
            seen.push(oid);
            let malformed = |e: der::Error| {
                Violation::new(
                    CertificateRule::MalformedExtension {
                        oid: oid.to_string(),
                    },
                    format!("certificate {subject}: extension {oid}: {e}"),
                )
            };
            if oid == rfc5280::ID_CE_BASIC_CONSTRAINTS {
                out.basic_constraints =
                    Some(BasicConstraints::from_der(ext.extn_value.as_bytes()).map_err(malformed)?);
            } else if oid == rfc5280::ID_CE_KEY_USAGE {
                out.key_usage =
                    Some(KeyUsage::from_der(ext.extn_value.as_bytes()).map_err(malformed)?);
            } else if ext.critical && !UNDERSTOOD_EXTENSIONS.contains(&oid) {
                return Err(Violation::new(
                    CertificateRule::UnknownCriticalExtension {
                        oid: oid.to_string(),
                    },
                    format!("certificate {subject} carries critical extension {oid}, which this verifier does not process"),
                ));
            }
        }
        Ok(out)
    }

    pub(crate) fn verify_root_signature(
        &self,
        root: &[u8; 32],
        der_signature: &[u8],
    ) -> std::result::Result<(), String> {
        self.verify_key
            .verify_prehash(root, der_signature)
            .map_err(|e| match e {
                crate::curves::Bad::Mismatch => {
                    "signature over the root does not verify with the node key".to_owned()
                }
                other => format!("signature over the root: {other} (the node key's curve)"),
            })
    }
}

/// The PEM text of a served certificate without what may follow its last line: ASCII
/// whitespace and at most one NUL byte (see [`ParsedCert::parse`]).
fn trim_served_pem_end(pem: &[u8]) -> &[u8] {
    let pem = pem.trim_ascii_end();
    let pem = pem.strip_suffix(b"\0").unwrap_or(pem);
    pem.trim_ascii_end()
}

fn common_name_to_name(common_name: &str) -> Result<Name> {
    if common_name.is_empty() {
        return Err(Error::invalid("common name", Problem::Empty));
    }
    let chars = common_name.chars().count();
    if chars > MAX_COMMON_NAME_LEN {
        // Counted in characters, not bytes.
        return Err(Error::too_large("common name", chars, MAX_COMMON_NAME_LEN));
    }
    if common_name.chars().any(char::is_control) {
        return Err(Error::malformed(
            "common name",
            excerpt(common_name),
            "it must not contain control characters",
        ));
    }
    let value = Any::new(Tag::Utf8String, common_name.as_bytes())
        .map_err(|e| Error::malformed("common name", excerpt(common_name), e))?;
    let atv = AttributeTypeAndValue {
        oid: rfc4519::COMMON_NAME,
        value,
    };
    let rdn =
        SetOfVec::try_from(vec![atv]).map_err(|e| Error::crypto("encoding the subject name", e))?;
    Ok(RdnSequence(vec![RelativeDistinguishedName(rdn)]))
}

/// `t` as whole seconds since the Unix epoch (negative before it), for error values.
fn unix_seconds(t: SystemTime) -> String {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_secs().to_string(),
        Err(before) => format!("-{}", before.duration().as_secs()),
    }
}

/// True for a host name in the preferred syntax of RFC 1034 / RFC 1123: dot-separated labels
/// of 1 to 63 ASCII letters, digits and inner hyphens, 253 characters at most.
fn is_dns_name(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn spki_of(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned> {
    SubjectPublicKeyInfoOwned::from_key(*key).map_err(|e| Error::crypto("encoding a public key", e))
}

/// A random positive serial number of 16 bytes whose DER encoding is exactly 16 bytes
/// (first byte in 0x40..=0x7f: positive and minimal).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error::crypto("reading the random source", e))?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    SerialNumber::new(&bytes).map_err(|e| Error::crypto("building a serial number", e))
}

fn encode_identity(kind: u8, key: &SigningKey, cert_der: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let key_der = key
        .to_pkcs8_der()
        .map_err(|e| Error::crypto("encoding the private key", e))?;
    let key_bytes = key_der.as_slice();
    let key_len = u32::try_from(key_bytes.len()).map_err(|_| {
        Error::crypto(
            "encoding the private key",
            format_args!("{} bytes is too long for a 32-bit length", key_bytes.len()),
        )
    })?;
    let cert_len = u32::try_from(cert_der.len()).map_err(|_| {
        Error::crypto(
            "encoding the certificate",
            format_args!("{} bytes is too long for a 32-bit length", cert_der.len()),
        )
    })?;
    let mut out = Zeroizing::new(Vec::with_capacity(10 + key_bytes.len() + cert_der.len()));
    out.push(FORMAT_VERSION);
    out.push(kind);
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(key_bytes);
    out.extend_from_slice(&cert_len.to_be_bytes());
    out.extend_from_slice(cert_der);
    Ok(out)
}

fn decode_identity(kind: u8, bytes: &[u8]) -> Result<(SigningKey, ParsedCert)> {
    let what = if kind == KIND_SERVICE {
        "service identity"
    } else {
        "node identity"
    };
    let corrupt = |why: String| Error::corruption(what, why);
    let (&version, rest) = bytes.split_first().ok_or_else(|| corrupt("empty".into()))?;
    if version != FORMAT_VERSION {
        return Err(corrupt(format!("unknown format version {version}")));
    }
    let (&found_kind, rest) = rest
        .split_first()
        .ok_or_else(|| corrupt("truncated".into()))?;
    if found_kind != kind {
        return Err(corrupt(format!("wrong identity kind {found_kind}")));
    }
    let (key_der, rest) = take_len_prefixed(rest).ok_or_else(|| corrupt("truncated key".into()))?;
    let (cert_der, rest) =
        take_len_prefixed(rest).ok_or_else(|| corrupt("truncated certificate".into()))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    let key = SigningKey::from_pkcs8_der(key_der)
        .map_err(|e| corrupt(format!("malformed private key: {e}")))?;
    let cert = ParsedCert::from_der(cert_der).map_err(corrupt)?;
    if cert.key != key.public_key() {
        return Err(corrupt(
            "the certificate's public key is not the private key's".into(),
        ));
    }
    Ok((key, cert))
}

fn take_len_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    if rest.len() < len {
        return None;
    }
    Some(rest.split_at(len))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};

    fn ext<T: for<'a> Decode<'a>>(
        cert: &Certificate,
        oid: der::oid::ObjectIdentifier,
    ) -> (bool, T) {
        let ext = cert
            .tbs_certificate
            .extensions
            .as_ref()
            .unwrap()
            .iter()
            .find(|e| e.extn_id == oid)
            .unwrap_or_else(|| panic!("missing extension {oid}"));
        (
            ext.critical,
            T::from_der(ext.extn_value.as_bytes()).unwrap(),
        )
    }

    #[test]
    fn service_certificate_is_a_ca() {
        let service = ServiceIdentity::generate("Test Service").unwrap();
        let cert = &service.cert.cert;
        assert_eq!(cert.tbs_certificate.issuer, cert.tbs_certificate.subject);
        assert_eq!(cert.tbs_certificate.subject.to_string(), "CN=Test Service");
        let (critical, bc) = ext::<BasicConstraints>(cert, rfc5280::ID_CE_BASIC_CONSTRAINTS);
        assert!(critical && bc.ca);
        let (_, ku) = ext::<KeyUsage>(cert, rfc5280::ID_CE_KEY_USAGE);
        assert!(ku.key_cert_sign() && ku.crl_sign());
        let _: (bool, SubjectKeyIdentifier) = ext(cert, rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER);
        assert!(service
            .certificate_pem()
            .starts_with("-----BEGIN CERTIFICATE-----\n"));
        // Self-signed: verifies against itself. It may not sign roots itself
        // (no digitalSignature), so it is not a node certificate of its own.
        service.cert.check_signed_by(&service.cert).unwrap();
        assert!(
            verify_cert_signed_by(service.certificate_pem(), service.certificate_der()).is_err()
        );
    }

    #[test]
    fn node_certificate_is_endorsed_and_carries_required_extensions() {
        let service = ServiceIdentity::generate("Test Service").unwrap();
        let node = NodeIdentity::generate(&service, "node0").unwrap();
        let cert = &node.cert.cert;
        assert_eq!(
            cert.tbs_certificate.issuer,
            service.cert.cert.tbs_certificate.subject
        );
        let (_, bc) = ext::<BasicConstraints>(cert, rfc5280::ID_CE_BASIC_CONSTRAINTS);
        assert!(!bc.ca);
        let (_, aki) = ext::<AuthorityKeyIdentifier>(cert, rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER);
        let (_, ski) =
            ext::<SubjectKeyIdentifier>(&service.cert.cert, rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER);
        assert_eq!(aki.key_identifier.unwrap(), ski.0);
        let (critical, san) = ext::<SubjectAltName>(cert, rfc5280::ID_CE_SUBJECT_ALT_NAME);
        assert!(!critical);
        assert_eq!(
            san.0,
            vec![GeneralName::DnsName(Ia5String::new("node0").unwrap())]
        );
        let spki = node.verifying_key().to_public_key_der().unwrap();
        assert_eq!(node.node_id(), node_id_of(spki.as_bytes()));
        assert_eq!(node.node_id().len(), 64);
        assert!(node
            .node_id()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        verify_cert_signed_by(node.certificate_pem(), service.certificate_pem()).unwrap();
        let other = ServiceIdentity::generate("Test Service").unwrap();
        assert!(matches!(
            verify_cert_signed_by(node.certificate_pem(), other.certificate_pem()),
            Err(Error::Crypto {
                operation: "verifying the node certificate's endorsement",
                ..
            })
        ));
    }

    #[test]
    fn san_falls_back_for_names_that_are_not_host_names() {
        let service = ServiceIdentity::generate("svc").unwrap();
        let node = NodeIdentity::generate(&service, "My Node, #1").unwrap();
        let (_, san) = ext::<SubjectAltName>(&node.cert.cert, rfc5280::ID_CE_SUBJECT_ALT_NAME);
        let expected = format!("{}.node.invalid", &node.node_id()[..32]);
        assert_eq!(
            san.0,
            vec![GeneralName::DnsName(Ia5String::new(&expected).unwrap())]
        );
        assert_eq!(
            node.cert.cert.tbs_certificate.subject.to_string(),
            "CN=My Node\\, #1"
        );
    }

    #[test]
    fn root_signatures_verify_and_bind_root_and_key() {
        let service = ServiceIdentity::generate("svc").unwrap();
        let node = NodeIdentity::generate(&service, "n").unwrap();
        let root = [0x42u8; 32];
        let sig = node.sign_root(&root).unwrap();
        verify_root_signature(node.certificate_pem(), &root, &sig).unwrap();
        verify_root_signature(node.certificate_der(), &root, &sig).unwrap();
        // The root is the prehash: the signature verifies as ECDSA over the digest `root`.
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        let sig_parsed = p256::ecdsa::DerSignature::from_bytes(&sig).unwrap();
        node.verifying_key()
            .as_p256()
            .unwrap()
            .verify_prehash(&root, &sig_parsed)
            .unwrap();
        let mut other_root = root;
        other_root[31] ^= 1;
        assert!(matches!(
            verify_root_signature(node.certificate_pem(), &other_root, &sig),
            Err(Error::Crypto {
                operation: "verifying a root signature",
                ..
            })
        ));
        let other = NodeIdentity::generate(&service, "n").unwrap();
        assert!(verify_root_signature(other.certificate_pem(), &root, &sig).is_err());
        assert!(verify_root_signature(node.certificate_pem(), &root, &sig[1..]).is_err());
        assert!(verify_root_signature(b"garbage", &root, &sig).is_err());
    }

    #[test]
    fn persistence_round_trips_and_rejects_damage() {
        let service = ServiceIdentity::generate("svc").unwrap();
        let node = NodeIdentity::generate(&service, "n").unwrap();
        let sbytes = service.to_bytes().unwrap();
        let nbytes = node.to_bytes().unwrap();
        let service2 = ServiceIdentity::from_bytes(&sbytes).unwrap();
        let node2 = NodeIdentity::from_bytes(&nbytes).unwrap();
        assert_eq!(service2.certificate_der(), service.certificate_der());
        assert_eq!(node2.certificate_pem(), node.certificate_pem());
        assert_eq!(node2.node_id(), node.node_id());
        // The restored keys still sign: a node certificate issued by the restored service
        // verifies against the original certificate.
        let node3 = NodeIdentity::generate(&service2, "n3").unwrap();
        verify_cert_signed_by(node3.certificate_der(), service.certificate_der()).unwrap();
        let root = [7u8; 32];
        verify_root_signature(
            node.certificate_der(),
            &root,
            &node2.sign_root(&root).unwrap(),
        )
        .unwrap();

        // Wrong kind, version, truncation, trailing bytes.
        assert!(matches!(
            ServiceIdentity::from_bytes(&nbytes),
            Err(Error::Corruption { ref what, .. }) if what == "service identity"
        ));
        assert!(matches!(
            NodeIdentity::from_bytes(&sbytes),
            Err(Error::Corruption { ref what, .. }) if what == "node identity"
        ));
        let mut v = sbytes.to_vec();
        v[0] = 2;
        assert!(matches!(
            ServiceIdentity::from_bytes(&v),
            Err(Error::Corruption { ref what, .. }) if what == "service identity"
        ));
        for cut in [0, 1, 2, 5, 40, sbytes.len() - 1] {
            assert!(
                ServiceIdentity::from_bytes(&sbytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut v = sbytes.to_vec();
        v.push(0);
        assert!(ServiceIdentity::from_bytes(&v).is_err());
        // A key that does not match the certificate.
        let other = ServiceIdentity::generate("svc").unwrap();
        let key_len = u32::from_be_bytes(sbytes[2..6].try_into().unwrap()) as usize;
        let mut mixed = sbytes[..6 + key_len].to_vec();
        let other_bytes = other.to_bytes().unwrap();
        let other_key_len = u32::from_be_bytes(other_bytes[2..6].try_into().unwrap()) as usize;
        mixed.extend_from_slice(&other_bytes[6 + other_key_len..]);
        let err = ServiceIdentity::from_bytes(&mixed).unwrap_err();
        assert!(
            matches!(err, Error::Corruption { ref what, ref detail, .. }
                if what == "service identity" && detail.contains("not the private key")),
            "{err}"
        );
        // Every single-bit flip is detected (and never panics): the key is checked against
        // the certificate, and the certificate's self-signature is verified.
        for i in 0..sbytes.len() {
            let mut v = sbytes.to_vec();
            v[i] ^= 0x01;
            assert!(ServiceIdentity::from_bytes(&v).is_err(), "flip at byte {i}");
        }
    }

    #[test]
    fn validity_is_enforced() {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let wide = CertificateValidity::new(now - 30 * day, now + 30 * day).unwrap();
        let service = ServiceIdentity::generate_with_validity("svc", wide).unwrap();
        let past = CertificateValidity::new(now - 10 * day, now - day).unwrap();
        let expired = NodeIdentity::generate_with_validity(&service, "old", past).unwrap();
        let err = verify_cert_signed_by(expired.certificate_pem(), service.certificate_pem())
            .unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        verify_cert_signed_by_at(
            expired.certificate_pem(),
            service.certificate_pem(),
            now - 2 * day,
        )
        .unwrap();
        let future = CertificateValidity::new(now + day, now + 2 * day).unwrap();
        let early = NodeIdentity::generate_with_validity(&service, "new", future).unwrap();
        let err =
            verify_cert_signed_by(early.certificate_pem(), service.certificate_pem()).unwrap_err();
        assert!(err.to_string().contains("not valid yet"), "{err}");
        assert!(CertificateValidity::new(now, now - day).is_err());
        // Default validity: starts before now, ends in year 9999.
        let v = CertificateValidity::starting_now();
        assert!(v.not_before() < now);
        let default_service = ServiceIdentity::generate("svc").unwrap();
        assert_eq!(
            default_service
                .cert
                .cert
                .tbs_certificate
                .validity
                .not_after
                .to_string(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn common_names_are_checked() {
        assert!(matches!(
            ServiceIdentity::generate(""),
            Err(Error::InvalidInput {
                what: "common name",
                problem: Problem::Empty
            })
        ));
        assert!(matches!(
            ServiceIdentity::generate(&"x".repeat(65)),
            Err(Error::InvalidInput {
                what: "common name",
                problem: Problem::TooLarge {
                    size: 65,
                    limit: 64
                }
            })
        ));
        assert!(matches!(
            ServiceIdentity::generate("a\nb"),
            Err(Error::InvalidInput {
                what: "common name",
                problem: Problem::Malformed { .. }
            })
        ));
        ServiceIdentity::generate(&"é".repeat(64)).unwrap();
    }

    /// A service signer held outside the process: only the trait's required methods, and
    /// `sign_prehash` only when `full`.
    #[derive(Debug)]
    struct External {
        inner: ServiceIdentity,
        full: bool,
    }

    impl ServiceSigner for External {
        fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
            self.inner.sign_digest(digest)
        }

        fn sign_prehash(&self, prehash: &[u8]) -> Result<Vec<u8>, Error> {
            if self.full {
                self.inner.sign_prehash(prehash)
            } else {
                let digest: &[u8; 32] = prehash
                    .try_into()
                    .map_err(|_| Error::crypto("signing with the service key", "32 bytes only"))?;
                self.sign_digest(digest)
            }
        }

        fn certificate_pem(&self) -> &str {
            self.inner.certificate_pem()
        }
    }

    #[test]
    fn p384_identities_sign_certify_and_persist_on_every_curve_pairing() {
        let now = CertificateValidity::starting_now();
        for service_alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
            let service =
                ServiceIdentity::generate_with_algorithm("svc", service_alg, now).unwrap();
            assert_eq!(service.key_algorithm(), service_alg);
            // Self-signed with the hash CCF pairs with the curve.
            assert_eq!(
                service.cert.cert.signature_algorithm.oid,
                service_alg.certificate_signature_oid()
            );
            for node_alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
                let node =
                    NodeIdentity::generate_with_algorithm(&service, "n", node_alg, now).unwrap();
                assert_eq!(node.key_algorithm(), node_alg);
                assert_eq!(
                    node.cert.cert.signature_algorithm.oid,
                    service_alg.certificate_signature_oid()
                );
                verify_cert_signed_by(node.certificate_pem(), service.certificate_pem()).unwrap();
                let root = [9u8; 32];
                let signature = node.sign_root(&root).unwrap();
                verify_root_signature(node.certificate_pem(), &root, &signature).unwrap();
                let back = NodeIdentity::from_bytes(&node.to_bytes().unwrap()).unwrap();
                assert_eq!(back.node_id(), node.node_id());
                verify_root_signature(
                    node.certificate_pem(),
                    &root,
                    &back.sign_root(&root).unwrap(),
                )
                .unwrap();
                // Through an external signer that implements sign_prehash.
                let external = External {
                    inner: service.clone(),
                    full: true,
                };
                let node =
                    NodeIdentity::generate_with_algorithm(&external, "n", node_alg, now).unwrap();
                verify_cert_signed_by(node.certificate_pem(), service.certificate_pem()).unwrap();
            }
            let back = ServiceIdentity::from_bytes(&service.to_bytes().unwrap()).unwrap();
            assert_eq!(back.certificate_der(), service.certificate_der());
            assert_eq!(back.key_algorithm(), service_alg);
        }
        // A P-384 service signer that signs 32-byte digests only cannot sign the SHA-384
        // digest of a certificate; the error says what to implement.
        let service =
            ServiceIdentity::generate_with_algorithm("svc", KeyAlgorithm::EcdsaP384, now).unwrap();
        let partial = External {
            inner: service,
            full: false,
        };
        let err = NodeIdentity::generate(&partial, "n").unwrap_err();
        assert!(matches!(err, Error::Crypto { .. }), "{err}");
        let default_only = DigestOnly(partial.inner.clone());
        let err = NodeIdentity::generate(&default_only, "n").unwrap_err();
        assert!(err.to_string().contains("sign_prehash"), "{err}");
    }

    /// A service signer implementing only the required methods.
    #[derive(Debug)]
    struct DigestOnly(ServiceIdentity);

    impl ServiceSigner for DigestOnly {
        fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
            self.0.sign_digest(digest)
        }

        fn certificate_pem(&self) -> &str {
            self.0.certificate_pem()
        }
    }

    #[test]
    fn debug_does_not_print_keys() {
        let service = ServiceIdentity::generate("svc").unwrap();
        let node = NodeIdentity::generate(&service, "n").unwrap();
        let shown = format!("{service:?} {node:?}");
        assert!(shown.contains(node.node_id()));
        let key = node.key.scalar_bytes();
        assert!(!shown.contains(&hex::encode(key)));
    }
}
