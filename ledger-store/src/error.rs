//! The one error type of `ledger-store`.
//!
//! RocksDB reports every failure as a string; [`StoreError::from_rocks`] sorts it by its
//! [`rocksdb::ErrorKind`] into the typed variants below so that callers can match on what went
//! wrong (corruption, a full disk, a held lock) without parsing messages.

use std::path::PathBuf;

/// The kind of a RocksDB failure that has no more specific [`StoreError`] variant.
///
/// Mirrors `rocksdb::ErrorKind` so that callers do not depend on the `rocksdb` crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RocksErrorKind {
    /// A file or key RocksDB needed was not found.
    NotFound,
    /// An operation is not supported by this build or configuration.
    NotSupported,
    /// An argument or option was rejected.
    InvalidArgument,
    /// An I/O failure other than a full disk.
    Io,
    /// The database is shutting down.
    ShutdownInProgress,
    /// An operation timed out, was aborted, or the resource was busy; it may succeed later.
    Busy,
    /// A failure RocksDB did not classify.
    Other,
}

/// Why a storage operation failed.
///
/// Every public fallible function of this crate returns this type. Write failures poison the
/// handle (see [`StoreError::Poisoned`]); read failures do not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An earlier write or sync on this handle failed, so the store no longer accepts writes.
    /// Reads may continue. Reopening the store recovers to its last durable state.
    #[error(
        "store is poisoned by an earlier failed write or sync ({cause}); reopen it to recover"
    )]
    Poisoned {
        /// The failure that poisoned the handle.
        cause: String,
    },
    /// Stored bytes are damaged or inconsistent: a RocksDB checksum failed, an entry's digest
    /// no longer matches its bytes, a record cannot be decoded, or a column family is missing.
    #[error("corruption in {what}: {detail}")]
    Corruption {
        /// What is damaged, e.g. `"entry 17"`, `"column family tiles"`, `"rocksdb"`.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The directory exists and is not empty but is not a ledger store.
    #[error("{} is not a ledger store: {reason}", path.display())]
    NotALedger {
        /// The directory that was opened.
        path: PathBuf,
        /// Why it was not recognised.
        reason: String,
    },
    /// The store was written by a format version this build does not read.
    #[error("ledger store format version {found} is not supported (this build reads version {supported})")]
    IncompatibleFormat {
        /// The version recorded in the store.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// No store exists at the path and [`crate::StoreConfig::create_if_missing`] is off.
    #[error("no ledger store at {}", path.display())]
    Missing {
        /// The path that was opened.
        path: PathBuf,
    },
    /// A restore target (or backup directory) exists and is not empty.
    #[error("{} is not empty", path.display())]
    TargetNotEmpty {
        /// The directory that was refused.
        path: PathBuf,
    },
    /// Another handle (in this or another process) holds the store's lock.
    #[error("ledger store {} is locked by another handle: {detail}", path.display())]
    Locked {
        /// The store's directory.
        path: PathBuf,
        /// The message of the underlying failure.
        detail: String,
    },
    /// A group violates the write contract (seqno contiguity, row seqnos outside the group,
    /// an entry digest that does not match its bytes). Nothing was written.
    #[error("invalid group: {reason}")]
    InvalidGroup {
        /// What is wrong with the group.
        reason: String,
    },
    /// The device is full (ENOSPC).
    #[error("no space left on device: {detail}")]
    NoSpace {
        /// The message of the underlying failure.
        detail: String,
    },
    /// A file-system operation of this crate failed.
    #[error("{op} failed: {source}")]
    Io {
        /// What was being done.
        op: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// RocksDB failed for a reason with no more specific variant.
    #[error("rocksdb error ({kind:?}): {message}")]
    Rocks {
        /// The classified kind.
        kind: RocksErrorKind,
        /// RocksDB's message.
        message: String,
    },
    /// The handle was opened read-only and cannot write.
    #[error("the store was opened read-only")]
    ReadOnly,
    /// The backend does not support the operation (e.g. backup of a memory store).
    #[error("{what} is not supported by this store")]
    Unsupported {
        /// The operation.
        what: String,
    },
}

impl StoreError {
    /// Classifies a RocksDB failure by its kind (and, for I/O failures, by whether the disk is
    /// full or a lock is held).
    #[cfg(feature = "rocksdb")]
    pub fn from_rocks(err: rocksdb::Error) -> Self {
        let message = err.to_string();
        let kind = match err.kind() {
            rocksdb::ErrorKind::Corruption => {
                return StoreError::Corruption {
                    what: "rocksdb".into(),
                    detail: message,
                }
            }
            rocksdb::ErrorKind::IOError => {
                let lower = message.to_ascii_lowercase();
                if lower.contains("no space left") || lower.contains("enospc") {
                    return StoreError::NoSpace { detail: message };
                }
                RocksErrorKind::Io
            }
            rocksdb::ErrorKind::NotFound => RocksErrorKind::NotFound,
            rocksdb::ErrorKind::NotSupported => RocksErrorKind::NotSupported,
            rocksdb::ErrorKind::InvalidArgument => RocksErrorKind::InvalidArgument,
            rocksdb::ErrorKind::ShutdownInProgress => RocksErrorKind::ShutdownInProgress,
            rocksdb::ErrorKind::TimedOut
            | rocksdb::ErrorKind::Aborted
            | rocksdb::ErrorKind::Busy
            | rocksdb::ErrorKind::TryAgain
            | rocksdb::ErrorKind::Expired => RocksErrorKind::Busy,
            _ => RocksErrorKind::Other,
        };
        StoreError::Rocks { kind, message }
    }

    /// Like [`StoreError::from_rocks`], but reports a failure to take the database lock as
    /// [`StoreError::Locked`] for `path`.
    #[cfg(feature = "rocksdb")]
    pub(crate) fn from_rocks_at(err: rocksdb::Error, path: &std::path::Path) -> Self {
        let message = err.to_string();
        if err.kind() == rocksdb::ErrorKind::IOError && message.contains("lock") {
            return StoreError::Locked {
                path: path.to_path_buf(),
                detail: message,
            };
        }
        Self::from_rocks(err)
    }

    /// A [`StoreError::Io`] for `op`.
    #[cfg(feature = "rocksdb")]
    pub(crate) fn io(op: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::StorageFull {
            return StoreError::NoSpace {
                detail: format!("{}: {source}", op.into()),
            };
        }
        StoreError::Io {
            op: op.into(),
            source,
        }
    }

    /// A [`StoreError::Corruption`].
    #[cfg(feature = "rocksdb")]
    pub(crate) fn corruption(what: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Corruption {
            what: what.into(),
            detail: detail.into(),
        }
    }

    /// A [`StoreError::InvalidGroup`].
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        StoreError::InvalidGroup {
            reason: reason.into(),
        }
    }

    /// Whether this is a [`StoreError::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, StoreError::Corruption { .. })
    }
}

#[cfg(feature = "rocksdb")]
impl From<rocksdb::Error> for StoreError {
    fn from(err: rocksdb::Error) -> Self {
        Self::from_rocks(err)
    }
}

impl From<StoreError> for ledger_merkle::TileStoreError {
    fn from(err: StoreError) -> Self {
        ledger_merkle::TileStoreError(Box::new(err))
    }
}
