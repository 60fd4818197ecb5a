//! Building a transaction: the write set one call to [`crate::Ledger::submit`] records
//! atomically under one [`crate::TxId`].
//!
//! A transaction appends to collections (at most once per collection) and puts or removes keys
//! in keyed tables (the last write to a key wins), and may carry a 32-byte application claims
//! digest that is bound into its Merkle leaf. Validation against the ledger's limits happens
//! at submission, where the limits are known; the builder only collects.

use std::collections::BTreeMap;

use crate::config::{MAX_KEY_LEN, MAX_NAME_LEN};
use crate::entry::{Append, TableOp, TxBody};
use crate::Error;

/// Prefixes of names the engine reserves for governance (`gov.`) and itself (`internal.`).
pub const RESERVED_PREFIXES: [&str; 2] = ["gov.", "internal."];

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
    /// submission fail with [`Error::InvalidInput`].
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
    pub(crate) fn into_body(self, limits: &Limits, allow_reserved: bool) -> Result<TxBody, Error> {
        if let Some(name) = self.duplicate_append {
            return Err(Error::InvalidInput(format!(
                "collection {name:?} is appended to twice in one transaction (at most once)"
            )));
        }
        if self.is_empty() {
            return Err(Error::InvalidInput(
                "a transaction must append or write at least once".into(),
            ));
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
                return Err(Error::InvalidInput(format!(
                    "key in table {table:?} is {} bytes, over the {MAX_KEY_LEN}-byte key limit",
                    key.len()
                )));
            }
            let value_len = value.as_ref().map_or(0, Vec::len);
            total = total
                .saturating_add(table.len())
                .saturating_add(key.len())
                .saturating_add(value_len);
        }
        if total > limits.max_tx_size {
            return Err(Error::InvalidInput(format!(
                "transaction is {total} bytes, over max_tx_size {}",
                limits.max_tx_size
            )));
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
        return Err(Error::InvalidInput(format!(
            "transaction is {total} bytes, over max_tx_size {}",
            limits.max_tx_size
        )));
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
        return Err(Error::InvalidInput(format!(
            "entry for collection {collection:?} is {} bytes, over max_entry_size {}",
            contents.len(),
            limits.max_entry_size
        )));
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
        max_entry_size: crate::config::MAX_TX_SIZE_CEILING,
        max_tx_size: crate::config::MAX_TX_SIZE_CEILING,
    };
}

/// Checks a collection or table name: 1 to [`MAX_NAME_LEN`] bytes, no control characters,
/// and (unless `allow_reserved`) no reserved prefix.
pub(crate) fn check_name(what: &str, name: &str, allow_reserved: bool) -> Result<(), Error> {
    if name.is_empty() {
        return Err(Error::InvalidInput(format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::InvalidInput(format!(
            "{what} name is {} bytes, over the {MAX_NAME_LEN}-byte limit",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "{what} name {name:?} contains a control character"
        )));
    }
    if !allow_reserved {
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
            return Err(Error::InvalidInput(format!(
                "{what} {name:?} is reserved: names beginning {prefix:?} belong to the engine"
            )));
        }
    }
    Ok(())
}
