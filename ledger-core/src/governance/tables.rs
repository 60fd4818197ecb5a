//! The governance tables' names and the ids governance works with (SPEC.md section 7; the
//! value formats are in the namespace docs, [`crate::governance`]).

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Problem};

/// Members by id.
pub const MEMBERS_TABLE: &str = "gov.members";
/// Users by id.
pub const USERS_TABLE: &str = "gov.users";
/// Custom role definitions by name.
pub const ROLES_TABLE: &str = "gov.roles";
/// The constitution text, under [`CONSTITUTION_KEY`].
pub const CONSTITUTION_TABLE: &str = "gov.constitution";
/// The key of the constitution text in [`CONSTITUTION_TABLE`].
pub const CONSTITUTION_KEY: &[u8] = b"text";
/// Proposals by id.
pub const PROPOSALS_TABLE: &str = "gov.proposals";
/// Ballots by `<proposal id>:<member id>`.
pub const BALLOTS_TABLE: &str = "gov.ballots";
/// Each member's last accepted signed request.
pub const HISTORY_TABLE: &str = "gov.history";
/// Allowed node code ids.
pub const CODE_IDS_TABLE: &str = "gov.code_ids";
/// Node attestation measurements by node id.
pub const NODE_ATTESTATIONS_TABLE: &str = "gov.nodes";

/// The service id of a service certificate (PEM or DER): lowercase hex SHA-256 of its DER.
///
/// # Errors
///
/// [`Error::InvalidInput`] if PEM is given and does not decode as a `CERTIFICATE` block.
pub fn service_id_of(certificate: impl AsRef<[u8]>) -> Result<String, Error> {
    let der = certificate_der(certificate.as_ref())?;
    Ok(hex::encode(Sha256::digest(der)))
}

/// The user id of a certificate user (PEM or DER), in the form Azure Confidential Ledger
/// uses for certificate users: the SHA-256 fingerprint of the DER certificate as uppercase
/// hex byte pairs joined by colons (95 characters, what `openssl x509 -noout -fingerprint
/// -sha256` prints), e.g. `7F:75:58:…:30:1F` in the official Python SDK's own tests
/// (`test_confidential_ledger_client.py`, `user_management_actions`).
///
/// # Errors
///
/// As [`service_id_of`].
pub fn user_id_of_certificate(certificate: impl AsRef<[u8]>) -> Result<String, Error> {
    Ok(user_id_of_certificate_der(&certificate_der(
        certificate.as_ref(),
    )?))
}

/// [`user_id_of_certificate`] of a DER certificate: the uppercase, colon-separated SHA-256
/// fingerprint of `der`.
pub fn user_id_of_certificate_der(der: &[u8]) -> String {
    let hex = hex::encode_upper(Sha256::digest(der));
    let pairs: Vec<&str> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| hex.get(i..i + 2))
        .collect();
    pairs.join(":")
}

/// The user id of a public-key user: lowercase hex SHA-256 of the key's DER
/// SubjectPublicKeyInfo (the same fingerprint as member and node ids).
pub fn user_id_of_public_key(spki_der: &[u8]) -> String {
    crate::identity::node_id_of(spki_der)
}

fn certificate_der(input: &[u8]) -> Result<Vec<u8>, Error> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let (label, der) = der::pem::decode_vec(trimmed)
            .map_err(|e| Error::malformed("certificate PEM", "", e))?;
        if label != "CERTIFICATE" {
            return Err(Error::invalid(
                "certificate PEM",
                Problem::Mismatch {
                    expected: "a CERTIFICATE block".into(),
                    found: format!("a {label:?} block"),
                },
            ));
        }
        Ok(der)
    } else {
        Ok(input.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user certificate made with openssl, and the fingerprint
    /// `openssl x509 -noout -fingerprint -sha256` printed for it.
    const ALICE_PEM: &[u8] = include_bytes!("../../tests/fixtures/user-alice.pem");
    const ALICE_ID: &str = "2A:55:32:CD:43:1A:1E:B0:38:7B:5F:DF:45:DF:F2:6D:EF:9C:57:19:D6:F9:\
                            5C:9F:5C:FE:79:46:E8:7F:76:E0";

    #[test]
    fn a_certificate_user_id_is_the_openssl_fingerprint_form() {
        assert_eq!(user_id_of_certificate(ALICE_PEM).unwrap(), ALICE_ID);
        let der = certificate_der(ALICE_PEM).unwrap();
        assert_eq!(user_id_of_certificate(&der).unwrap(), ALICE_ID);
    }
}
