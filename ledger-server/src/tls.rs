//! TLS: the server certificate the service key issues, and client certificates as user
//! identities.
//!
//! * **Server certificate.** At [`crate::Server::bind`] the server makes a fresh P-256 key
//!   (never stored) and has the ledger's service key certify it
//!   ([`ledger_core::Ledger::issue_server_certificate`], which goes through the configured
//!   `ServiceSigner` when the key is outside the process), with subject alternative names
//!   `localhost`, `127.0.0.1`, `::1`, the listen address and the configured names. A client
//!   that trusts the service certificate, as the Azure SDK does with
//!   `ledger_certificate_path`, therefore trusts the server.
//! * **Client certificates.** Any client certificate is accepted at the TLS layer: the
//!   verifier checks only that the client holds the certificate's key (the handshake
//!   signature), never a chain, because users present self-signed certificates. Who may do
//!   what is decided per request from the certificate's user id
//!   ([`certificate_user_id`]) against the ledger's users and roles. A client without a
//!   certificate connects too and gets 401 on every request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use ledger_core::{CertificateValidity, Ledger, PublicKey};
use p256::pkcs8::EncodePrivateKey;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::{ServerConfig, ServerError};

/// The user id of a certificate user: the SHA-256 fingerprint of the DER certificate as
/// Azure Confidential Ledger writes it, 32 bytes in uppercase hexadecimal separated by
/// colons (`"5F:23:3D:…:5A:B5"`, 95 characters).
///
/// This is the form the service uses in `/app/users/{userId}` for certificate users: the
/// Azure SDK for Python's recorded sessions against the service
/// (`sdk/confidentialledger/azure-confidentialledger/tests/recordings/`, for example
/// `test_confidential_ledger_client.pyTestConfidentialLedgerClienttest_append_entry_flow_cert_user.json`)
/// register the test certificate as `PATCH /app/users/5F:23:3D:26:E2:28:88:9C:06:E0:88:21:FA:C7:B2:9A:F8:81:30:6B:F9:15:41:F2:34:05:05:44:4C:AD:5A:B5`
/// and get that `userId` back; Microsoft's "Manage certificate-based users" page says a
/// certificate user's id is the fingerprint of its certificate.
///
/// ```
/// let id = ledger_server::certificate_user_id(b"not really a certificate");
/// assert_eq!(id.len(), 95);
/// assert!(id.split(':').all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))));
/// ```
pub fn certificate_user_id(cert_der: &[u8]) -> String {
    ledger_core::governance::user_id_of_certificate_der(cert_der)
}

/// `user_id` in the canonical form of [`certificate_user_id`] when it is a SHA-256
/// fingerprint written with colons in either case (so `5f:23:…` names the same user as
/// `5F:23:…`); any other id (an Entra object id, a name) unchanged.
pub(crate) fn canonical_user_id(user_id: &str) -> String {
    let parts: Vec<&str> = user_id.split(':').collect();
    let is_fingerprint = parts.len() == 32
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if is_fingerprint {
        user_id.to_ascii_uppercase()
    } else {
        user_id.to_owned()
    }
}

/// The rustls configuration: a server certificate from the service key, any client
/// certificate accepted (see the module docs), HTTP/1.1 and HTTP/2 by ALPN.
pub(crate) fn server_tls_config(
    ledger: &Ledger,
    config: &ServerConfig,
) -> Result<rustls::ServerConfig, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let public = PublicKey::P256(*key.verifying_key());

    let mut dns_names = vec!["localhost".to_owned()];
    for name in &config.tls_dns_names {
        if !dns_names.contains(name) {
            dns_names.push(name.clone());
        }
    }
    let mut ips = vec![
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ];
    let listen_ip = config.listen.ip();
    let extra = config
        .tls_ip_addresses
        .iter()
        .copied()
        .chain((!listen_ip.is_unspecified()).then_some(listen_ip));
    for ip in extra {
        if !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    let cert_der = ledger
        .issue_server_certificate(
            &public,
            "ledger server",
            &dns_names,
            &ips,
            CertificateValidity::starting_now(),
        )
        .map_err(|source| ServerError::Certificate { source })?;
    let key_der = key.to_pkcs8_der().map_err(|e| ServerError::TlsKey {
        reason: e.to_string(),
    })?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.as_bytes().to_vec()));

    let verifier = Arc::new(AnyClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| ServerError::Tls { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(cert_der)], key_der)
        .map_err(|source| ServerError::Tls { source })?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tls)
}

/// Accepts any client certificate, or none, checking only the handshake signature (that the
/// client holds the certificate's private key). Authorisation is per request, by
/// fingerprint.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_uppercase_colon_separated_sha256() {
        // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.
        assert_eq!(
            certificate_user_id(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn fingerprints_are_canonicalised_other_ids_kept() {
        let upper = certificate_user_id(b"abc");
        assert_eq!(canonical_user_id(&upper.to_ascii_lowercase()), upper);
        assert_eq!(canonical_user_id(&upper), upper);
        assert_eq!(
            canonical_user_id("2f1e2ab0-aaaa-bbbb-cccc-ddddeeeeffff"),
            "2f1e2ab0-aaaa-bbbb-cccc-ddddeeeeffff"
        );
        assert_eq!(canonical_user_id("ab:cd"), "ab:cd");
    }
}
