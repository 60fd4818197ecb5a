//! Offline audit: verify everything a ledger holds, without the engine and without writing.
//!
//! One audit, split by concern: `run` drives it (metadata, paging, progress, the first
//! finding), `entries` checks each entry's header, view and the engine's own records,
//! `signatures` the signature transactions, `tree` the stored tree, and `governance` replays
//! the governance tables. The entry points below register the governance replay beside the
//! structural checks; `report` holds the report, the finding and the [`EntryCheck`] seam.
//!
//! [`audit_path`] opens a ledger directory with `RocksStore::open_read_only` (nothing is
//! written and no recovery runs), [`audit_store`] audits any [`Store`], and [`audit_ledger`]
//! the store under an open [`crate::Ledger`], in memory or on disk. All stream the ledger
//! once, in seqno order, and stop at the **first** inconsistency, which they report as a
//! [`Finding`] naming the seqno, what was expected and what was found. That the ledger is
//! inconsistent is a finding in an `Ok` report; an `Err` means the audit could not run.
//!
//! # What is checked
//!
//! Before the first entry, from the store's metadata (specified in `state.rs`, whose one
//! validator opening a ledger uses too):
//!
//! * the commit secret is 32 bytes; the service identity decodes and its certificate is
//!   self-signed; the node identity decodes and the service key issued its certificate;
//! * the view history is a non-empty list of `(view, first seqno)` with strictly ascending
//!   views, non-decreasing first seqnos, the first view beginning at seqno 1, and no view
//!   beginning beyond `last_seqno + 1`.
//!
//! For every entry `s` in `1..=last_seqno`:
//!
//! 1. the store serves it (a digest the store rejects is a [`FindingKind::StoreCorruption`]
//!    at `s`) and it decodes ([`crate::entry::decode`]);
//! 2. its header names seqno `s` and the view the history assigns to `s`; views never go
//!    backwards; the first entry of every view after a recovery is a signature transaction;
//! 3. entry 1 is the genesis transaction recording the service certificate in
//!    `internal.service`, equal to the one in the metadata, and no later transaction writes
//!    that record again; every version of the ledger instance record (`internal.service`
//!    key `instance`, see [`crate::LedgerInstance`]) decodes, the first has epoch 1 and each
//!    later one keeps the ledger id with the next epoch, and it is never removed
//!    ([`FindingKind::LedgerInstance`]); `internal.service` holds nothing else; every node
//!    certificate recorded in `internal.nodes` is issued by the service key and recorded
//!    under its own node id;
//! 4. for a signature transaction: its payload names the entry's own view and seqno, its root
//!    is the root recomputed over leaves `0..s`, its node id is the hash of its certificate's
//!    key, the service key issued that certificate, the signature verifies with it, and the
//!    store's signature index holds exactly the encoded payload;
//!    no other seqno has a signature record;
//! 5. its leaf, recomputed from the entry bytes, the commit secret and its claims digest,
//!    equals leaf `s` of the stored tree (with [`AuditOptions::check_tiles`]), and every stored
//!    tree tile equals the tile recomputed from the leaves;
//! 6. the collection and table indexes hold a row for each of its appends and table writes
//!    (with [`AuditOptions::check_indexes`]);
//! 7. the governance replay accepts it: it rebuilds the governance tables from the write sets
//!    alone and re-executes every recorded signed request with the code the ledger runs, so
//!    every change to members, proposals, the constitution, users, roles and nodes must be
//!    explained by a valid signed request (or, before the ledger has members, be well
//!    formed), byte for byte; a request must name the ledger instance in force at its point
//!    in history (a version-1 request only while the ledger records none), as the live
//!    ledger requires; no other transaction may write a reserved table. Its findings
//!    are the governance [`FindingKind`]s and [`AuditReport::governance`] counts what it saw;
//! 8. any [`EntryCheck`] given to [`audit_store_with`] accepts it.
//!
//! A store without entries and without any of the engine's metadata holds no ledger yet
//! (creation was interrupted before its first commit); it passes with an empty report.
//!
//! Finally: the store's committed seqno is a signature transaction (or 0) and no signature
//! lies above it; every trusted root given with [`AuditOptions::require_signed_root`] is
//! signed at its seqno (which detects a ledger truncated to a consistent prefix).
//!
//! # Locating a damaged entry
//!
//! A leaf is secret-keyed (see [`crate::leaf`]), so nothing but the stored tree records what
//! an entry's leaf was. When the leaf recomputed at `s` differs from the stored one, the audit
//! reads on to the next signature: if that signed root does not recompute either, the entry
//! at `s` is not the one that was signed ([`FindingKind::EntryAltered`] at `s`); if it does,
//! the entry is genuine and the stored tree is damaged ([`FindingKind::TileMismatch`] at
//! `s`); with no later signature the audit cannot tell which ([`FindingKind::LeafMismatch`]).
//! Without the tile check an altered entry is reported at the first signature covering it
//! ([`FindingKind::RootMismatch`]). A replaced commit secret changes every leaf, and shows as
//! the first entry altered.
//!
//! # Uncommitted tails
//!
//! A directory left by a crash may hold entries above the store's committed seqno, which the
//! next read-write open discards. The audit checks them like every other entry and reports
//! their range in [`AuditReport::uncommitted_tail`]; they are not a finding.
//!
//! # Resources
//!
//! Memory stays constant in the ledger's length: entries are read in pages of
//! [`AuditOptions::page_entries`], the recomputed tree keeps only its frontier (tiles are
//! handed out and pruned after every page), and at most 1,024 verified certificates are
//! remembered. Time is dominated by verifying ECDSA signatures; an audit
//! resumed from a root verified before ([`AuditOptions::trusted_root`]) skips those below it.
//! Progress goes to the [`AuditOptions::on_progress`] callback and to `tracing` every
//! [`AuditOptions::progress_every`] entries.
//!
//! # Example
//!
//! ```
//! use ledger_core::{audit_path, AuditOptions};
//! use ledger_core::{Ledger, LedgerConfig};
//!
//! let dir = tempfile::tempdir().expect("a temporary directory");
//! let path = dir.path().join("ledger");
//! let ledger = Ledger::open(LedgerConfig::new(&path))?;
//! ledger.append("audit", b"alice approved invoice 17")?;
//! ledger.close()?;
//!
//! let report = audit_path(&path, &AuditOptions::default())?;
//! assert!(report.is_clean(), "{:?}", report.finding);
//! assert!(report.signatures >= 1);
//! # Ok::<(), ledger_core::Error>(())
//! ```

mod entries;
mod governance;
mod options;
mod report;
mod run;
mod signatures;
mod tree;

#[cfg(feature = "rocksdb")]
use std::path::Path;

use ledger_store::Store;
#[cfg(feature = "rocksdb")]
use ledger_store::{RocksStore, StoreError};

pub use self::options::{AuditOptions, AuditProgress};
pub use self::report::{
    AuditReport, EntryCheck, Finding, FindingKind, GovernanceSummary, SignedRoot,
};
use crate::error::Error;
use crate::ledger::Ledger;

/// The checks every entry point registers after the structural ones: the governance replay.
fn registered_checks() -> Vec<Box<dyn EntryCheck>> {
    vec![Box::new(governance::GovernanceCheck::default())]
}

/// Audits the ledger directory at `path` without writing to it.
///
/// # Errors
///
/// [`Error::Store`] if the directory is not a ledger or cannot be read (a store that opens but
/// is damaged is a [`Finding`] in the report instead); errors of the store while reading.
#[cfg(feature = "rocksdb")]
pub fn audit_path(path: impl AsRef<Path>, options: &AuditOptions) -> Result<AuditReport, Error> {
    let path = path.as_ref();
    tracing::info!(path = %path.display(), "auditing ledger");
    let store = match RocksStore::open_read_only(path) {
        Ok(store) => store,
        Err(e @ StoreError::Corruption { .. }) => {
            return Ok(AuditReport::failed_early(Finding::new(
                FindingKind::StoreCorruption,
                None,
                "a store that opens",
                e.to_string(),
            )));
        }
        Err(e) => return Err(e.into()),
    };
    audit_store(&store, options)
}

/// Audits the store of an open `ledger` (on disk or in memory) while it runs: the prefix the
/// store holds when the audit begins. Transactions the engine has not yet handed to the store
/// are not part of it; [`crate::Ledger::flush`] first to include everything recorded.
///
/// ```
/// use ledger_core::{audit_ledger, AuditOptions};
/// let ledger = ledger_core::Ledger::in_memory()?;
/// ledger.append("audit", b"hello")?;
/// ledger.flush()?;
/// let report = audit_ledger(&ledger, &AuditOptions::default())?;
/// assert!(report.is_clean());
/// # Ok::<(), ledger_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`audit_store`].
pub fn audit_ledger(ledger: &Ledger, options: &AuditOptions) -> Result<AuditReport, Error> {
    audit_store(&**ledger.store(), options)
}

/// Audits `store`: the prefix `1..=last_seqno` it holds when the audit begins.
///
/// # Errors
///
/// Failures of the store other than corruption (which is a [`Finding`] in the report).
pub fn audit_store(store: &dyn Store, options: &AuditOptions) -> Result<AuditReport, Error> {
    audit_store_with(store, options, &mut [])
}

/// [`audit_store`] with additional per-entry checks, run in order after the registered ones.
///
/// # Errors
///
/// As [`audit_store`], plus any error a check returns.
pub fn audit_store_with(
    store: &dyn Store,
    options: &AuditOptions,
    checks: &mut [&mut dyn EntryCheck],
) -> Result<AuditReport, Error> {
    run::audit(store, options, &mut registered_checks(), checks)
}
