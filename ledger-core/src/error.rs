//! The one error type of `ledger-core`.

/// Everything that can go wrong in a ledger call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller supplied something the ledger refuses: a malformed id, a name or size over
    /// a limit, a write to a reserved table. The message names the rule that was broken.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A collection, table key or transaction the caller asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A cryptographic operation failed (key generation, signing, certificate building or
    /// parsing, signature verification).
    #[error("cryptography: {0}")]
    Crypto(String),
    /// A receipt failed verification; the message says which check failed.
    #[error("receipt verification failed: {0}")]
    ReceiptInvalid(String),
    /// Stored bytes did not decode or did not match their recorded digest.
    #[error("corruption: {0}")]
    Corruption(String),
    /// The transaction is not (yet) committed, so it has no receipt.
    #[error("transaction {tx} is not committed (status {status:?})")]
    NotCommitted {
        /// The transaction asked about.
        tx: crate::TxId,
        /// Its status at the time of the call.
        status: crate::TxStatus,
    },
    /// An earlier store failure stopped the ledger; reopen it to recover to the last durable
    /// state. The message is the original failure.
    #[error("ledger is poisoned by an earlier failure: {0}")]
    Poisoned(String),
    /// The ledger is closing or closed.
    #[error("ledger is closed")]
    Closed,
    /// The caller may not do this: a user session whose role does not permit the operation,
    /// or a governance request the ledger refuses (bad signature, replay, wrong ledger,
    /// inactive member, ...). `reason` says exactly which rule refused it.
    #[error("forbidden: {principal} may not {operation}: {reason}")]
    Forbidden {
        /// Who asked: `user <id>`, `member <id>` or `program`.
        principal: String,
        /// What was asked, e.g. `append to "audit"` or `ballot`.
        operation: String,
        /// The rule that refused it.
        reason: crate::governance::Refusal,
    },
    /// The storage layer failed.
    #[error(transparent)]
    Store(#[from] ledger_store::StoreError),
    /// The Merkle layer failed.
    #[error(transparent)]
    Merkle(#[from] ledger_merkle::MerkleError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
