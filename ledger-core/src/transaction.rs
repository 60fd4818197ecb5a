//! Building a transaction: the write set one call to [`crate::Ledger::submit`] records
//! atomically under one [`crate::TxId`].
//!
//! A transaction appends to collections (at most once per collection) and puts or removes keys
//! in keyed tables (the last write to a key wins), and may carry a 32-byte application claims
//! digest that is bound into its Merkle leaf. Validation against the ledger's limits happens
//! at submission, where the limits are known; the builder only collects.

use std::collections::BTreeMap;

use crate::entry::{Append, TableOp, TxBody};
use crate::error::excerpt;
use crate::state::is_reserved;
use crate::{Error, Problem};

/// Largest collection or table name, in bytes of UTF-8. Fixed: names are index keys.
pub const MAX_NAME_LEN: usize = 255;
/// Largest table key, in bytes.
pub const MAX_KEY_LEN: usize = 4096;
/// Hard ceiling for [`crate::LedgerConfig::max_tx_size`] (the entry decoder's own limit is larger).
pub const MAX_TX_SIZE_CEILING: usize = 32 << 20;

/// A write set under construction.
///
/// ```
/// use ledger_core::{Ledger, Transaction};
/// let ledger = Ledger::in_memory()?;
/// let mut tx = Transaction::new();
/// tx.append("audit", b"user 7 logged in")
///     .put("sessions", b"user-7", b"active")
///     .claims_digest([0x11; 32]);
/// let id = ledger.submit(tx)?;
/// assert_eq!(ledger.entry("audit", id)?.contents, b"user 7 logged in");
/// # Ok::<(), ledger_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transaction {
    pub(crate) appends: BTreeMap<String, Vec<u8>>,
    pub(crate) duplicate_append: Option<String>,
    pub(crate) writes: BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>,
    pub(crate) claims_digest: [u8; 32],
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `contents` to `collection`. A second append to the same collection makes the
    /// submission fail with [`Error::InvalidInput`] (`what = "collection name"`,
    /// [`Problem::Duplicate`]).
    pub fn append(&mut self, collection: &str, contents: &[u8]) -> &mut Self {
        if self
            .appends
            .insert(collection.to_owned(), contents.to_vec())
            .is_some()
        {
            self.duplicate_append
                .get_or_insert_with(|| collection.to_owned());
        }
        self
    }

    /// Sets `key` in `table` to `value`.
    pub fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> &mut Self {
        self.writes
            .insert((table.to_owned(), key.to_vec()), Some(value.to_vec()));
        self
    }

    /// Removes `key` from `table`.
    pub fn remove(&mut self, table: &str, key: &[u8]) -> &mut Self {
        self.writes.insert((table.to_owned(), key.to_vec()), None);
        self
    }

    /// Binds an application claims digest into the transaction's leaf (default: 32 zero
    /// bytes).
    pub fn claims_digest(&mut self, digest: [u8; 32]) -> &mut Self {
        self.claims_digest = digest;
        self
    }

    /// Whether the transaction writes nothing.
    pub fn is_empty(&self) -> bool {
        self.appends.is_empty() && self.writes.is_empty()
    }

    /// Checks limits and reserved names and turns the builder into an entry body.
    ///
    /// Refusals are [`Error::InvalidInput`] with `what` one of `"collection name"` (appended
    /// to twice: [`Problem::Duplicate`]; or see [`check_name`]), `"table name"`,
    /// `"transaction"` ([`Problem::Empty`], or [`Problem::TooLarge`] over `max_tx_size`),
    /// `"entry contents"` (over `max_entry_size`) and `"table key"` (over [`MAX_KEY_LEN`]).
    pub(crate) fn into_body(self, limits: &Limits, allow_reserved: bool) -> Result<TxBody, Error> {
        if let Some(name) = self.duplicate_append {
            // A collection is appended to at most once per transaction.
            return Err(Error::invalid(
                "collection name",
                Problem::Duplicate { value: name },
            ));
        }
        if self.is_empty() {
            // A transaction must append or write at least once.
            return Err(Error::invalid("transaction", Problem::Empty));
        }
        let mut total = 0usize;
        for (name, contents) in &self.appends {
            check_append(name, contents, limits, allow_reserved)?;
            total = total
                .saturating_add(contents.len())
                .saturating_add(name.len());
        }
        for ((table, key), value) in &self.writes {
            check_name("table", table, allow_reserved)?;
            if key.len() > MAX_KEY_LEN {
                return Err(Error::too_large("table key", key.len(), MAX_KEY_LEN));
            }
            let value_len = value.as_ref().map_or(0, Vec::len);
            total = total
                .saturating_add(table.len())
                .saturating_add(key.len())
                .saturating_add(value_len);
        }
        if total > limits.max_tx_size {
            return Err(Error::too_large("transaction", total, limits.max_tx_size));
        }
        Ok(TxBody {
            claims_digest: self.claims_digest,
            appends: self
                .appends
                .into_iter()
                .map(|(collection, contents)| Append {
                    collection,
                    contents,
                })
                .collect(),
            writes: self
                .writes
                .into_iter()
                .map(|((table, key), value)| TableOp { table, key, value })
                .collect(),
            signature: None,
        })
    }
}

/// The checks [`Transaction`] makes of a transaction that appends `contents` to `collection`
/// and nothing else, without building one (the hot path of [`crate::Ledger::append`]).
pub(crate) fn check_single_append(
    collection: &str,
    contents: &[u8],
    limits: &Limits,
) -> Result<(), Error> {
    check_append(collection, contents, limits, false)?;
    let total = contents.len().saturating_add(collection.len());
    if total > limits.max_tx_size {
        return Err(Error::too_large("transaction", total, limits.max_tx_size));
    }
    Ok(())
}

/// Checks one append: its collection name and the size of its contents.
fn check_append(
    collection: &str,
    contents: &[u8],
    limits: &Limits,
    allow_reserved: bool,
) -> Result<(), Error> {
    check_name("collection", collection, allow_reserved)?;
    if contents.len() > limits.max_entry_size {
        return Err(Error::too_large(
            "entry contents",
            contents.len(),
            limits.max_entry_size,
        ));
    }
    Ok(())
}

/// The size limits a submission is checked against (from [`crate::LedgerConfig`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_entry_size: usize,
    pub(crate) max_tx_size: usize,
}

impl Limits {
    /// The limits of the records the engine writes itself at creation and open (the service
    /// and node certificates, the governance genesis): the configured limits are the
    /// application's, and a ledger configured with small ones must still be able to record
    /// its own identities.
    pub(crate) const ENGINE: Limits = Limits {
        max_entry_size: MAX_TX_SIZE_CEILING,
        max_tx_size: MAX_TX_SIZE_CEILING,
    };
}

/// Checks a collection or table name: 1 to [`MAX_NAME_LEN`] bytes, no control characters,
/// and (unless `allow_reserved`) no reserved prefix.
///
/// `kind` is `"table"` (or `"table name"`) for a table; anything else is a collection.
///
/// # Errors
///
/// [`Error::InvalidInput`] with `what` `"collection name"` or `"table name"` and
/// [`Problem::Empty`], [`Problem::TooLarge`] (bytes), [`Problem::Malformed`] (a control
/// character) or [`Problem::Reserved`] (a name beginning with one of
/// `state.rs`'s reserved prefixes).
pub(crate) fn check_name(kind: &str, name: &str, allow_reserved: bool) -> Result<(), Error> {
    let what = match kind {
        "table" | "table name" => "table name",
        _ => "collection name",
    };
    if name.is_empty() {
        return Err(Error::invalid(what, Problem::Empty));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::too_large(what, name.len(), MAX_NAME_LEN));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::malformed(
            what,
            excerpt(name),
            "contains a control character",
        ));
    }
    if !allow_reserved && is_reserved(name) {
        // Names beginning with a reserved prefix belong to the engine.
        return Err(Error::invalid(
            what,
            Problem::Reserved {
                name: name.to_owned(),
            },
        ));
    }
    Ok(())
}
