//! Application claims (Azure Confidential Ledger): what a transaction's claims digest
//! commits to, and how to recompute it.
//!
//! A receipt's leaf commits to a 32-byte `claims_digest` (SPEC.md section 3). Azure
//! Confidential Ledger sets it from *application claims* it returns beside the receipt
//! (`applicationClaims` in the get-receipt response), and a verifier holding them recomputes
//! the digest and compares it with the receipt's, as the `azure-confidentialledger` SDK's
//! `compute_claims_digest` does.
//!
//! # Format
//!
//! The JSON the service returns, camelCase as served:
//!
//! ```json
//! [
//!   {"kind": "LedgerEntry",
//!    "ledgerEntry": {"protocol": "LedgerEntryV1", "collectionId": "subledger:0",
//!                    "contents": "Hello world", "secretKey": "<standard base64>"}},
//!   {"kind": "ClaimDigest",
//!    "digest": {"protocol": "LedgerEntryV1", "value": "<hex>"}}
//! ]
//! ```
//!
//! Parsing is strict: each claim has `kind` and exactly the member its kind names, with
//! exactly the keys shown; a `LedgerEntry` claim's protocol is `LedgerEntryV1` (the only
//! one defined), its `secretKey` canonical standard base64; a `ClaimDigest`'s `value` is hex
//! (either case, an even number of digits) and its protocol any string. Duplicate keys,
//! unknown keys, `null` members and an empty list are refused.
//!
//! # Digest
//!
//! ```text
//! claims_digest  = SHA-256( u32 little-endian count ‖ claim_digest_1 ‖ … ‖ claim_digest_n )
//! LedgerEntryV1  : claim_digest = SHA-256( "LedgerEntryV1" ‖
//!                    SHA-256( HMAC-SHA256(secret_key, collection_id) ‖
//!                             HMAC-SHA256(secret_key, contents) ) )
//! ClaimDigest    : claim_digest = SHA-256( protocol ‖ value )
//! ```
//!
//! with strings as their UTF-8 bytes, claims in the order given.

use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::excerpt;
use crate::leaf::Digest;
use crate::{Error, Problem, Result};

/// The protocol of ledger-entry claims: the only one the service defines.
pub const LEDGER_ENTRY_V1: &str = "LedgerEntryV1";

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// One application claim (see the module documentation).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplicationClaim {
    /// `kind: "LedgerEntry"`: the claim is derived from a ledger entry and a secret key.
    LedgerEntry(LedgerEntryClaim),
    /// `kind: "ClaimDigest"`: the claim in digested form.
    ClaimDigest(ClaimDigest),
}

/// A claim derived from a ledger entry: its collection id and contents, keyed with a secret
/// the service returns with the receipt.
#[derive(Clone, PartialEq, Eq)]
pub struct LedgerEntryClaim {
    /// The protocol: [`LEDGER_ENTRY_V1`].
    pub protocol: String,
    /// The entry's collection id (sub-ledger).
    pub collection_id: String,
    /// The entry's contents.
    pub contents: String,
    /// The key both are HMACed with (decoded from the served base64).
    pub secret_key: Vec<u8>,
}

/// A claim in digested form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimDigest {
    /// The protocol the digest was computed by; any string.
    pub protocol: String,
    /// The digest (decoded from the served hex).
    pub value: Vec<u8>,
}

impl LedgerEntryClaim {
    /// A `LedgerEntryV1` claim.
    pub fn new(
        collection_id: impl Into<String>,
        contents: impl Into<String>,
        secret_key: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            protocol: LEDGER_ENTRY_V1.to_owned(),
            collection_id: collection_id.into(),
            contents: contents.into(),
            secret_key: secret_key.into(),
        }
    }
}

impl fmt::Debug for LedgerEntryClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerEntryClaim")
            .field("protocol", &self.protocol)
            .field("collection_id", &self.collection_id)
            .field("contents", &excerpt(&self.contents))
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ApplicationClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplicationClaim::LedgerEntry(c) => c.fmt(f),
            ApplicationClaim::ClaimDigest(c) => c.fmt(f),
        }
    }
}

impl ApplicationClaim {
    /// This claim's own digest (see the module's `# Digest`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "application claim protocol"`,
    /// [`Problem::Mismatch`]) for a ledger-entry claim whose protocol is not
    /// [`LEDGER_ENTRY_V1`].
    pub fn digest(&self) -> Result<Digest> {
        let mut outer = Sha256::new();
        match self {
            ApplicationClaim::LedgerEntry(claim) => {
                if claim.protocol != LEDGER_ENTRY_V1 {
                    return Err(unsupported_protocol(&claim.protocol));
                }
                let hmac = |data: &str| -> Result<[u8; 32]> {
                    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&claim.secret_key)
                        .map_err(|e| Error::crypto("keying the claim HMAC", e))?;
                    mac.update(data.as_bytes());
                    Ok(mac.finalize().into_bytes().into())
                };
                let mut inner = Sha256::new();
                inner.update(hmac(&claim.collection_id)?);
                inner.update(hmac(&claim.contents)?);
                outer.update(claim.protocol.as_bytes());
                outer.update(inner.finalize());
            }
            ApplicationClaim::ClaimDigest(claim) => {
                outer.update(claim.protocol.as_bytes());
                outer.update(&claim.value);
            }
        }
        Ok(outer.finalize().into())
    }
}

fn unsupported_protocol(protocol: &str) -> Error {
    Error::invalid(
        "application claim protocol",
        Problem::Mismatch {
            expected: format!("{LEDGER_ENTRY_V1:?}, the only ledger-entry claim protocol"),
            found: format!("{:?}", excerpt(protocol)),
        },
    )
}

/// The claims digest of `claims`, in order (see the module's `# Digest`): what a receipt's
/// `claims_digest` must be for a transaction with these application claims.
///
/// # Errors
///
/// [`Error::InvalidInput`]: `what = "application claims"` with [`Problem::Empty`] for an
/// empty list (or [`Problem::TooLarge`] past 2^32 - 1 claims), or as
/// [`ApplicationClaim::digest`].
pub fn application_claims_digest(claims: &[ApplicationClaim]) -> Result<Digest> {
    if claims.is_empty() {
        return Err(Error::invalid("application claims", Problem::Empty));
    }
    let count = u32::try_from(claims.len())
        .map_err(|_| Error::too_large("application claims", claims.len(), u32::MAX))?;
    let mut hasher = Sha256::new();
    hasher.update(count.to_le_bytes());
    for claim in claims {
        hasher.update(claim.digest()?);
    }
    Ok(hasher.finalize().into())
}

/// Parses a JSON list of application claims strictly (see the module's `# Format`). Never
/// panics.
///
/// # Errors
///
/// [`Error::InvalidInput`] with `what = "application claims JSON"` and a
/// [`Problem::Malformed`] whose reason is the first problem found.
pub fn application_claims_from_json(json: &str) -> Result<Vec<ApplicationClaim>> {
    let claims: ClaimList = serde_json::from_str(json)
        .map_err(|e| Error::malformed("application claims JSON", excerpt(json), e))?;
    Ok(claims.0)
}

/// The claims as the service serves them (camelCase, see the module's `# Format`), compact.
pub fn application_claims_to_json(claims: &[ApplicationClaim]) -> String {
    // Serializing strings, byte vectors as text and maps cannot fail.
    serde_json::to_string(claims).unwrap_or_default()
}

/// A non-empty list of claims.
pub(crate) struct ClaimList(pub(crate) Vec<ApplicationClaim>);

impl<'de> Deserialize<'de> for ClaimList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let claims = Vec::<ApplicationClaim>::deserialize(deserializer)?;
        if claims.is_empty() {
            return Err(de::Error::custom("the application claims list is empty"));
        }
        Ok(ClaimList(claims))
    }
}

/// Deserializes a member that may be absent (see `#[serde(default)]`) but not `null`.
pub(crate) fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimWire {
    kind: String,
    #[serde(default, rename = "ledgerEntry", deserialize_with = "present")]
    ledger_entry: Option<LedgerEntryWire>,
    #[serde(default, deserialize_with = "present")]
    digest: Option<DigestWire>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerEntryWire {
    protocol: String,
    #[serde(rename = "collectionId")]
    collection_id: String,
    contents: String,
    #[serde(rename = "secretKey")]
    secret_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestWire {
    protocol: String,
    value: String,
}

impl<'de> Deserialize<'de> for ApplicationClaim {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let wire = ClaimWire::deserialize(deserializer)?;
        match (wire.kind.as_str(), wire.ledger_entry, wire.digest) {
            ("LedgerEntry", Some(entry), None) => {
                if entry.protocol != LEDGER_ENTRY_V1 {
                    return Err(de::Error::custom(unsupported_protocol(&entry.protocol)));
                }
                let secret_key = BASE64.decode(entry.secret_key.as_bytes()).map_err(|e| {
                    de::Error::custom(format!("secretKey is not standard base64: {e}"))
                })?;
                Ok(ApplicationClaim::LedgerEntry(LedgerEntryClaim {
                    protocol: entry.protocol,
                    collection_id: entry.collection_id,
                    contents: entry.contents,
                    secret_key,
                }))
            }
            ("ClaimDigest", None, Some(digest)) => {
                let value = hex::decode(&digest.value).map_err(|e| {
                    de::Error::custom(format!("a claim digest value must be hex: {e}"))
                })?;
                Ok(ApplicationClaim::ClaimDigest(ClaimDigest {
                    protocol: digest.protocol,
                    value,
                }))
            }
            ("LedgerEntry", ..) => Err(de::Error::custom(
                "a LedgerEntry claim has a ledgerEntry member and no other",
            )),
            ("ClaimDigest", ..) => Err(de::Error::custom(
                "a ClaimDigest claim has a digest member and no other",
            )),
            (other, ..) => Err(de::Error::custom(format!(
                "unknown claim kind {:?} (known: \"LedgerEntry\", \"ClaimDigest\")",
                excerpt(other)
            ))),
        }
    }
}

impl Serialize for ApplicationClaim {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        match self {
            ApplicationClaim::LedgerEntry(claim) => {
                map.serialize_entry("kind", "LedgerEntry")?;
                map.serialize_entry(
                    "ledgerEntry",
                    &serde_json::json!({
                        "collectionId": claim.collection_id,
                        "contents": claim.contents,
                        "protocol": claim.protocol,
                        "secretKey": BASE64.encode(&claim.secret_key),
                    }),
                )?;
            }
            ApplicationClaim::ClaimDigest(claim) => {
                map.serialize_entry("kind", "ClaimDigest")?;
                map.serialize_entry(
                    "digest",
                    &serde_json::json!({
                        "protocol": claim.protocol,
                        "value": hex::encode(&claim.value),
                    }),
                )?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// The SDK's published claims (tests/receipt/_shared/claims_constants.py of
    /// azure-confidentialledger 1.1.1) and the claims digest of the 2023 P-384 receipt they
    /// belong to.
    const LEDGER_ENTRY: &str = r#"[{"kind": "LedgerEntry", "ledgerEntry": {
        "collectionId": "subledger:0", "contents": "Hello world", "protocol": "LedgerEntryV1",
        "secretKey": "Jde/VvaIfyrjQ/B19P+UJCBwmcrgN7sERStoyHnYO0M="}}]"#;
    const CLAIM_DIGEST: &str = r#"[{"kind": "ClaimDigest", "digest": {"protocol":
        "LedgerEntryV1", "value": "feb516ef1f903c64f1e388d9ee9fde11f64d1e2bc170248828c9eab9894f9ab9"}}]"#;
    const RECEIPT_CLAIMS_DIGEST: &str =
        "d08d8764437d09b2d4d07d52293cddaf40f44a3ea2176a0528819a80002df9f6";

    #[test]
    fn both_published_forms_give_the_receipts_claims_digest() {
        for json in [LEDGER_ENTRY, CLAIM_DIGEST] {
            let claims = application_claims_from_json(json).unwrap();
            let digest = application_claims_digest(&claims).unwrap();
            assert_eq!(hex::encode(digest), RECEIPT_CLAIMS_DIGEST);
            let again = application_claims_from_json(&application_claims_to_json(&claims));
            assert_eq!(again.unwrap(), claims);
        }
        // The ledger entry's own digest is the ClaimDigest's value.
        let claims = application_claims_from_json(LEDGER_ENTRY).unwrap();
        let ApplicationClaim::LedgerEntry(entry) = &claims[0] else {
            panic!("not a ledger entry")
        };
        assert_eq!(
            ApplicationClaim::LedgerEntry(LedgerEntryClaim::new(
                "subledger:0",
                "Hello world",
                entry.secret_key.clone()
            )),
            claims[0]
        );
    }

    #[test]
    fn malformed_claims_are_refused() {
        for bad in [
            "null",
            "{}",
            "[]",
            r#"[{"unknown_key": "unknown_value"}]"#,
            r#"[{"digest": {}}]"#,
            r#"[{"kind": null, "digest": {"protocol": "p", "value": "00"}}]"#,
            r#"[{"kind": "Other", "digest": {"protocol": "p", "value": "00"}}]"#,
            r#"[{"kind": "ClaimDigest", "digest": {"protocol": "p", "value": "0"}}]"#,
            r#"[{"kind": "ClaimDigest", "digest": {"protocol": "p", "value": "00", "x": 1}}]"#,
            r#"[{"kind": "ClaimDigest", "digest": {"protocol": "p", "protocol": "p", "value": "00"}}]"#,
            r#"[{"kind": "ClaimDigest", "digest": null}]"#,
            r#"[{"kind": "LedgerEntry", "ledgerEntry": {"protocol": "LedgerEntryV2",
                "collectionId": "c", "contents": "x", "secretKey": ""}}]"#,
            r#"[{"kind": "LedgerEntry", "ledgerEntry": {"protocol": "LedgerEntryV1",
                "collectionId": "c", "contents": "x", "secretKey": "invalid_key"}}]"#,
            r#"[{"kind": "LedgerEntry", "digest": {"protocol": "p", "value": "00"}}]"#,
        ] {
            let err = application_claims_from_json(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidInput {
                        what: "application claims JSON",
                        problem: Problem::Malformed { .. }
                    }
                ),
                "{bad}: {err}"
            );
        }
        assert!(matches!(
            application_claims_digest(&[]),
            Err(Error::InvalidInput {
                what: "application claims",
                problem: Problem::Empty
            })
        ));
        let mut entry = LedgerEntryClaim::new("c", "x", vec![1]);
        entry.protocol = "v2".into();
        assert!(matches!(
            ApplicationClaim::LedgerEntry(entry).digest(),
            Err(Error::InvalidInput {
                what: "application claim protocol",
                problem: Problem::Mismatch { .. }
            })
        ));
    }

    #[test]
    fn debug_does_not_print_the_secret_key() {
        let claim = LedgerEntryClaim::new("c", "x", b"very secret".to_vec());
        assert!(!format!("{claim:?}").contains("very"));
    }
}
