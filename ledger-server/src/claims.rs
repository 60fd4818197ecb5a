//! Application claims of the entries the server writes, so that every receipt it serves
//! carries `applicationClaims` in ACL's `LedgerEntryV1` form and the SDK's `verify_receipt`
//! recomputes the claims digest from the entry itself.
//!
//! # Format
//!
//! `POST /app/transactions` records one transaction that
//!
//! 1. appends the entry's contents (UTF-8) to its collection,
//! 2. puts into table [`CLAIMS_TABLE`] (`acl.claims`), key [`CLAIMS_KEY`] (`entry`), the
//!    JSON `{"collectionId": "<collection>", "secretKey": "<standard base64 of 32 random
//!    bytes>"}`: the per-entry secret, chosen afresh for each entry,
//! 3. binds the claims digest `application_claims_digest([LedgerEntry{LedgerEntryV1,
//!    collection, contents, secret}])` (`ledger_core`'s `claims` module) as the
//!    transaction's `claims_digest`.
//!
//! The secret lives in the same transaction as the entry, so it cannot be changed later
//! without breaking the transaction's receipt, and survives backups, restores and audits
//! with the ledger. It is what ACL discloses with every receipt anyway: it keeps the claims
//! digest in a receipt from revealing a guessable entry, not the entry from its readers.
//! Every transaction writes the same key, so the version of `acl.claims`/`entry` written *at*
//! transaction `t` (not before it) is `t`'s; a transaction without one (written through the
//! library rather than the server) has no application claims and its receipt is served
//! without them.

use base64::Engine as _;
use ledger_core::{
    application_claims_digest, application_claims_to_json, ApplicationClaim, Cursor, Ledger,
    LedgerEntryClaim, Transaction, TxId,
};
use rand_core::RngCore;
use serde::{Deserialize, Serialize};

/// The table holding each entry's claims record.
pub(crate) const CLAIMS_TABLE: &str = "acl.claims";
/// The one key of [`CLAIMS_TABLE`], rewritten by every entry the server records.
pub(crate) const CLAIMS_KEY: &[u8] = b"entry";

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The stored record (see the module's `# Format`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClaimsRecord {
    collection_id: String,
    secret_key: String,
}

/// The transaction that records `contents` in `collection` with a fresh secret and its
/// claims digest.
///
/// # Errors
///
/// [`ledger_core::Error`] if the digest cannot be computed (it always can for the
/// `LedgerEntryV1` protocol).
pub(crate) fn entry_transaction(
    collection: &str,
    contents: &str,
) -> Result<Transaction, ledger_core::Error> {
    let mut secret = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut secret);
    let claim = ApplicationClaim::LedgerEntry(LedgerEntryClaim::new(collection, contents, secret));
    let digest = application_claims_digest(&[claim])?;
    let record = ClaimsRecord {
        collection_id: collection.to_owned(),
        secret_key: BASE64.encode(secret),
    };
    let record = serde_json::to_vec(&record).unwrap_or_default();
    let mut tx = Transaction::new();
    tx.append(collection, contents.as_bytes())
        .put(CLAIMS_TABLE, CLAIMS_KEY, &record)
        .claims_digest(digest);
    Ok(tx)
}

/// The application claims of transaction `tx` as the get-receipt response serves them, or
/// `None` if the server did not write `tx`.
///
/// # Errors
///
/// Store failures; [`ledger_core::Error::Corruption`]-like inconsistencies are reported as
/// the engine's errors.
pub(crate) fn claims_of(
    ledger: &Ledger,
    tx: TxId,
) -> Result<Option<(Vec<ApplicationClaim>, serde_json::Value)>, ledger_core::Error> {
    let cursor = Cursor::from_string(format!("s{}", tx.seqno()));
    let page = ledger.table_history_page(CLAIMS_TABLE, CLAIMS_KEY, Some(&cursor), 1)?;
    let Some(version) = page.versions.into_iter().next() else {
        return Ok(None);
    };
    if version.tx_id != tx {
        return Ok(None);
    }
    let Some(value) = version.value else {
        return Ok(None);
    };
    let Ok(record) = serde_json::from_slice::<ClaimsRecord>(&value) else {
        return Ok(None);
    };
    let Ok(secret) = BASE64.decode(&record.secret_key) else {
        return Ok(None);
    };
    let entry = ledger.entry(&record.collection_id, tx)?;
    let contents = String::from_utf8_lossy(&entry.contents).into_owned();
    let claims = vec![ApplicationClaim::LedgerEntry(LedgerEntryClaim::new(
        record.collection_id,
        contents,
        secret,
    ))];
    let json = serde_json::from_str(&application_claims_to_json(&claims))
        .unwrap_or(serde_json::Value::Null);
    Ok(Some((claims, json)))
}
