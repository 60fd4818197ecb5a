//! The user id of a certificate user, in the text form Azure Confidential Ledger uses.
//!
//! ACL identifies a certificate-based user by "the fingerprint of their PEM certificate"
//! (Microsoft Learn, *Manage certificate-based users in Azure confidential ledger*): the
//! SHA-256 digest of the certificate's DER encoding, written as uppercase hexadecimal byte
//! pairs joined by colons, 95 characters, e.g.
//! `7F:75:58:60:70:A8:B6:15:A2:CD:24:55:25:B9:64:49:F8:BF:F0:E3:4D:92:EA:B2:8C:30:E6:2D:F4:77:30:1F`.
//! That exact form is the certificate user id of the official Python SDK's own tests
//! (`azure-sdk-for-python`, `sdk/confidentialledger/azure-confidentialledger/tests/
//! test_confidential_ledger_client.py`, `user_management_actions`), and it is what
//! `openssl x509 -noout -fingerprint -sha256` prints after `SHA256 Fingerprint=`.
//!
//! The rule itself lives in `ledger_core::governance::user_id_of_certificate`, so that
//! `ledger users set` records exactly the id the server later matches client certificates
//! against.

use anyhow::{anyhow, bail, Context as _};
use der::Decode as _;
use x509_cert::Certificate;

/// The ACL user id of the certificate whose DER encoding is `der`: uppercase hex SHA-256 of
/// the DER, bytes joined by `:` ([`ledger_core::governance::user_id_of_certificate`], the one
/// home of the rule, which the server matches client certificates with too).
pub(crate) fn certificate_user_id(der: &[u8]) -> String {
    ledger_core::governance::user_id_of_certificate_der(der)
}

/// The DER of the one certificate in `bytes`: a PEM `CERTIFICATE` block (the first, if the
/// file holds several blocks, e.g. a certificate followed by its key) or DER. The certificate
/// must parse as X.509.
pub(crate) fn certificate_der(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let trimmed = bytes.trim_ascii_start();
    let der = if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed).context("the PEM file is not UTF-8 text")?;
        let block =
            first_certificate_block(text).context("the PEM file holds no CERTIFICATE block")?;
        let (label, der) = der::pem::decode_vec(block.as_bytes())
            .map_err(|e| anyhow!("the PEM block does not decode: {e}"))?;
        if label != "CERTIFICATE" {
            bail!("the PEM block is a {label:?}, not a CERTIFICATE");
        }
        der
    } else {
        bytes.to_vec()
    };
    Certificate::from_der(&der).context("the certificate is not valid X.509")?;
    Ok(der)
}

/// The text of the first `CERTIFICATE` PEM block in `text`, boundaries included.
fn first_certificate_block(text: &str) -> Option<&str> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let start = text.find(BEGIN)?;
    let rest = text.get(start..)?;
    let end = rest.find(END)? + END.len();
    rest.get(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_is_uppercase_colon_separated_sha256() {
        let id = certificate_user_id(b"abc");
        // SHA-256("abc") = ba7816bf 8f01cfea ... (FIPS 180-2 test vector).
        assert!(id.starts_with("BA:78:16:BF:8F:01:CF:EA:"));
        assert!(id.ends_with(":F2:00:15:AD"));
        assert_eq!(id.len(), 95);
        assert_eq!(id.split(':').count(), 32);
    }

    #[test]
    fn rejects_what_is_not_a_certificate() {
        assert!(certificate_der(b"not a certificate").is_err());
        assert!(
            certificate_der(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }
}
