//! ledger-core: an embedded, tamper-evident ledger engine in the style of Microsoft's
//! Confidential Consortium Framework (CCF).
//!
//! A program opens a [`Ledger`] (RocksDB on disk, or in memory), appends entries to named
//! collections or submits [`Transaction`]s that also write keyed tables, and gets back a
//! [`TxId`] (`view.seqno`). Every transaction becomes a leaf of a Merkle tree; the engine signs
//! the root periodically with the node key, and a transaction is committed once a durable
//! signature covers it. For any committed transaction [`Ledger::receipt`] hands out a
//! CCF-format [`Receipt`] that anyone holding the service certificate can verify offline.
//!
//! ```
//! use std::time::Duration;
//! use ledger_core::{Ledger, LedgerConfig, TxStatus};
//!
//! let dir = tempfile::tempdir().map_err(|e| ledger_core::Error::InvalidInput(e.to_string()))?;
//! let ledger = Ledger::open(LedgerConfig::new(dir.path().join("ledger")))?;
//! let id = ledger.append("audit", b"alice approved invoice 17")?;
//! assert_eq!(ledger.wait_for_commit(id, Duration::from_secs(10))?, TxStatus::Committed);
//!
//! let receipt = ledger.receipt(id)?;
//! receipt.verify(&ledger.service_certificate_pem())?;
//! println!("{}", receipt.to_json());
//! # Ok::<(), ledger_core::Error>(())
//! ```
//!
//! Modules: [`entry`] is the entry format, [`leaf`] the leaf and commit evidence, [`receipt`]
//! receipts and their verification, [`identity`] keys and certificates, [`ledger`] the handle
//! with its commit, durability and recovery rules, [`governance`] members, proposals, the
//! constitution, users and roles, and [`audit`] the offline check of a whole ledger.

pub mod audit;
pub mod config;
pub mod entry;
pub mod error;
pub mod governance;
pub mod identity;
pub mod leaf;
pub mod ledger;
mod pipeline;
pub mod receipt;
pub mod transaction;
pub mod txid;

#[cfg(feature = "rocksdb")]
pub use audit::audit_path;
pub use audit::{audit_store, AuditOptions, AuditReport, Finding, FindingKind};
pub use config::{Durability, LedgerConfig};
pub use error::{Error, Result};
pub use governance::{Genesis, Governance, UserSession};
pub use ledger::{
    CommitFuture, ConsistencyProof, Cursor, Entry, EntryIter, KeyVersion, Ledger, Page, TxStatus,
};
pub use receipt::Receipt;
pub use transaction::Transaction;
pub use txid::TxId;
