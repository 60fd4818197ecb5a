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

/// The user id of a certificate user (PEM or DER): lowercase hex SHA-256 of its DER, the
/// certificate fingerprint Azure Confidential Ledger uses.
///
/// # Errors
///
/// As [`service_id_of`].
pub fn user_id_of_certificate(certificate: impl AsRef<[u8]>) -> Result<String, Error> {
    service_id_of(certificate)
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
