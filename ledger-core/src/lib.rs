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
//! let dir = tempfile::tempdir().expect("a temporary directory");
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
//! # Layout
//!
//! Every name is reachable here, at the root, except the governance vocabulary, which lives
//! in the [`governance`] namespace. Modules are private; the layers, from the bottom:
//!
//! | layer | modules | what |
//! | --- | --- | --- |
//! | formats and state | `error`, `refusal`, `txid`, `entry`, `leaf`, `curves`, `identity`, `claims`, `receipt`, `cose`, `transaction`, `state`, `replication`, `config` | the error type, ids, the entry and leaf formats, keys and certificates, receipts (JSON and COSE), what the engine persists about itself |
//! | engine | `ledger`, `pipeline`, `backup` | the [`Ledger`] handle and its commit pipeline; a replicated primary's and backup's part ([`Role`], [`Ledger::apply_group`]) |
//! | clients of the engine | [`governance`], `audit`, `scitt` | members, proposals, users and roles; the offline audit; the SCITT transparency service ([`Ledger::register_statement`]) |
//!
//! Arrows point down only: the engine knows nothing of governance (a new ledger's genesis
//! records arrive as ordinary writes) and the audit registers the governance replay beside
//! its own checks. A workspace test (`tests/module_graph.rs`) fails on any module cycle.
//!
//! # Features
//!
//! * `rocksdb` (default): ledgers on disk ([`Ledger::open`], [`audit_path`]).
//! * `test-util`: a hidden `testing` module with the internals tests need (entry encoders, the
//!   commit secret). Never enable it outside tests.

mod audit;
mod backup;
mod claims;
mod config;
mod cose;
mod curves;
mod custody;
mod entry;
mod error;
pub mod governance;
mod identity;
mod leaf;
mod ledger;
mod pipeline;
mod receipt;
mod refusal;
mod replication;
mod scitt;
mod sealing;
mod state;
mod tiles;
mod transaction;
mod txid;

#[cfg(feature = "test-util")]
#[doc(hidden)]
pub mod testing;

#[cfg(feature = "rocksdb")]
pub use crate::audit::audit_path;
pub use crate::audit::{
    audit_ledger, audit_store, audit_store_with, AuditOptions, AuditProgress, AuditReport,
    EntryCheck, Finding, FindingKind, GovernanceSummary, SignedRoot,
};
pub use crate::claims::{
    application_claims_digest, application_claims_from_json, application_claims_to_json,
    ApplicationClaim, ClaimDigest, LedgerEntryClaim, LEDGER_ENTRY_V1,
};
pub use crate::config::{
    Durability, LedgerConfig, SigningMode, DEFAULT_MAX_ENTRY_SIZE, DEFAULT_MAX_TX_SIZE,
};
pub use crate::cose::{
    CoseConsistencyProof, CoseConsistencyReceipt, CoseInclusionProof, CoseReceipt, CwtClaims,
    VerifiedCoseConsistency, VerifiedCoseReceipt, MAX_COSE_PROOFS, MAX_COSE_RECEIPT_LEN,
};
pub use crate::curves::{KeyAlgorithm, PublicKey};
pub use crate::entry::{
    decode as decode_entry, decode_signature, Append, LedgerEntry, SignaturePayload, TableOp,
    TxBody, TxKind, ENTRY_FORMAT_VERSION,
};
pub use crate::error::{
    CertificateRole, CertificateRule, Error, Problem, RejectedCertificate, Result,
};
pub use crate::governance::{Genesis, Governance, UserSession};
pub use crate::identity::{
    node_id_of, verify_node_endorsement, CertificateValidity, EndorsedNode, NodeIdentity,
    NodeSigner, ServiceIdentity, ServiceSigner,
};
pub use crate::leaf::{parse_commit_evidence, Digest, LeafComponents, NO_CLAIMS};
pub use crate::ledger::{
    CommitFuture, ConsistencyProof, Cursor, Entry, EntryIter, KeyHistoryIter, KeyHistoryPage,
    KeyVersion, Ledger, Page, MAX_PAGE_LIMIT,
};
pub use crate::receipt::{
    fold_proof, proof_steps, ProofStep, Receipt, ReceiptVerifier, ServedReceipt, MAX_PROOF_LEN,
    RECEIPT_VERIFIER_CACHE_LEN,
};
pub use crate::refusal::StatementRefusal;
pub use crate::replication::{ReplicatedEntry, ReplicatedGroup, Replicator, Role};
pub use crate::scitt::{
    IssuerKey, ScittPolicy, SignedStatement, TransparentStatement, VerifiedStatement,
    DEFAULT_COMMIT_TIMEOUT, MAX_STATEMENT_LEN, MAX_TRANSPARENT_RECEIPTS, SCITT_COLLECTION,
};
pub use crate::sealing::{AesGcmKek, KeyEncryptionKey};
pub use crate::state::LedgerInstance;
pub use crate::transaction::{Transaction, MAX_KEY_LEN, MAX_NAME_LEN, MAX_TX_SIZE_CEILING};
pub use crate::txid::{TxId, TxIdError, TxStatus};
/// The Merkle layer's error, carried by [`Error::Merkle`].
pub use ledger_merkle::MerkleError;
/// The storage seam and its types, as they appear in [`Ledger::with_store`], [`audit_store`],
/// [`Ledger::backup`] and [`Error::Store`].
pub use ledger_store::{BackupInfo, Recovery, Store, StoreError};
