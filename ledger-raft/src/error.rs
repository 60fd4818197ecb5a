//! The one error type of `ledger-raft`'s storage.

/// Why a Raft storage operation failed.
///
/// openraft receives these wrapped in its `StorageError` (as the source of a
/// `StorageIOError`), which it treats as fatal: the Raft node stops, and reopening the
/// storage recovers to its last durable state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RaftStoreError {
    /// The backend failed. RocksDB failures are classified by
    /// [`ledger_store::StoreError::from_rocks`] (corruption, a full disk, a held lock, ...).
    #[error("raft storage backend: {0}")]
    Backend(#[from] ledger_store::StoreError),
    /// A stored record cannot be decoded or is inconsistent with where it is stored.
    #[error("corruption in {what}: {detail}")]
    Corruption {
        /// What is damaged, e.g. `"log entry 17"`, `"vote"`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A value could not be encoded for storage.
    #[error("cannot encode {what}: {detail}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        detail: String,
    },
    /// The ledger refused or failed to apply a committed group (see
    /// [`LedgerStateMachine`](crate::LedgerStateMachine)): a group that does not check against
    /// this node's ledger ([`ledger_core::Error::GroupRejected`]), or a ledger store failure.
    /// openraft stops the node: its ledger cannot follow the log any further.
    #[error("ledger state machine, applying the group of log index {index}: {source}")]
    Ledger {
        /// The Raft log index of the entry carrying the group.
        index: u64,
        /// The ledger's error.
        source: ledger_core::Error,
    },
    /// A primary made stale by a later leader's group could not be reopened as a backup (see
    /// [`LedgerStateMachine`](crate::LedgerStateMachine)).
    #[error("reopening the node's stale primary as a backup, at log index {index}: {source}")]
    Demote {
        /// The Raft log index of the later leader's group.
        index: u64,
        /// Why the slot was not swapped.
        source: Box<crate::ledger_machine::SlotError>,
    },
    /// The ledger slot is empty: the node's ledger was closed (the node is shutting down, or
    /// a role change failed to reopen it).
    #[error("the node's ledger is closed")]
    LedgerClosed,
    /// A ledger snapshot's data is not one this build installs: not of its format, not the
    /// state its metadata names, or groups that do not follow on from seqno 1, each ending at
    /// a signature transaction, through the signature its header names (see
    /// [`LedgerStateMachine`](crate::LedgerStateMachine), Snapshots). Nothing was changed.
    #[error("ledger snapshot {snapshot_id} refused: {detail}")]
    InvalidSnapshot {
        /// The snapshot's id (openraft's `SnapshotMeta::snapshot_id`).
        snapshot_id: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The node's ledger refused or failed while a ledger snapshot was built (reading its
    /// groups) or installed (checking and storing them): a group of the snapshot that does not
    /// check against this node's ledger ([`ledger_core::Error::GroupRejected`]: forged or
    /// damaged, or of another service), a ledger that no longer holds the signature a
    /// snapshot ends at, or a ledger store failure.
    #[error("ledger snapshot {snapshot_id}, at seqno {seqno}: {source}")]
    SnapshotLedger {
        /// The snapshot's id.
        snapshot_id: String,
        /// The first seqno of the group being read or installed.
        seqno: u64,
        /// The ledger's error.
        source: Box<ledger_core::Error>,
    },
    /// A blocking task of the ledger state machine (building or installing a snapshot off the
    /// async runtime's workers) panicked or was cancelled.
    #[error("state machine task: {detail}")]
    Task {
        /// The join error's message.
        detail: String,
    },
    /// The directory holds a Raft store of a format version this build does not read.
    #[error(
        "raft store format version {found} is not supported (this build reads version {supported})"
    )]
    IncompatibleFormat {
        /// The version recorded in the store.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
}

impl RaftStoreError {
    pub(crate) fn corruption(what: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Corruption {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// Whether the failure is damaged or inconsistent stored bytes.
    pub fn is_corruption(&self) -> bool {
        match self {
            Self::Corruption { .. } => true,
            Self::Backend(err) => err.is_corruption(),
            _ => false,
        }
    }
}

impl From<rocksdb::Error> for RaftStoreError {
    fn from(err: rocksdb::Error) -> Self {
        Self::Backend(ledger_store::StoreError::from_rocks(err))
    }
}
