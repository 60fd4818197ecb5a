//! Offline audit: verify everything a ledger holds, without the engine and without writing.
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
//! Before the first entry, from the store's metadata (see [`crate::ledger`]):
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
//!    [`crate::ledger::SERVICE_TABLE`], equal to the one in the metadata; every node
//!    certificate recorded in [`crate::ledger::NODES_TABLE`] is issued by the service key and
//!    recorded under its own node id;
//! 4. for a signature transaction: its payload names the entry's own view and seqno, its root
//!    is the root recomputed over leaves `0..s`, its node id is the hash of its certificate's
//!    key, the service key issued that certificate, the signature verifies with it, and the
//!    store's signature index holds exactly [`crate::entry::encode_signature`] of the payload;
//!    no other seqno has a signature record;
//! 5. its leaf, recomputed from the entry bytes, the commit secret and its claims digest,
//!    equals leaf `s` of the stored tree (with [`AuditOptions::check_tiles`]), and every stored
//!    tree tile equals the tile recomputed from the leaves;
//! 6. the collection and table indexes hold a row for each of its appends and table writes
//!    (with [`AuditOptions::check_indexes`]);
//! 7. the governance audit ([`crate::governance::audit`]) accepts it: every change to the
//!    governance tables is explained by a valid signed request (or, before the ledger has
//!    members, is well formed);
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
//! handed out and pruned after every page), and at most [`MAX_CACHED_CERTIFICATES`] verified
//! certificates are remembered. Time is dominated by verifying ECDSA signatures; an audit
//! resumed from a root verified before ([`AuditOptions::trusted_root`]) skips those below it.
//! Progress goes to the [`AuditOptions::on_progress`] callback and to `tracing` every
//! [`AuditOptions::progress_every`] entries.
//!
//! # Example
//!
//! ```
//! use ledger_core::audit::{audit_path, AuditOptions};
//! use ledger_core::{Ledger, LedgerConfig};
//!
//! let dir = tempfile::tempdir().map_err(|e| ledger_core::Error::InvalidInput(e.to_string()))?;
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

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::ops::RangeInclusive;
#[cfg(feature = "rocksdb")]
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ledger_merkle::{CcfSha256, MerkleTree, Tile, TileId, TILE_HEIGHT, TILE_WIDTH};
#[cfg(feature = "rocksdb")]
use ledger_store::RocksStore;
use ledger_store::{Store, StoreError, TableVersion};
use sha2::{Digest as _, Sha256};

use crate::entry::{self, LedgerEntry, SignaturePayload, TxKind};
use crate::identity::{NodeIdentity, ParsedCert, ServiceIdentity};
use crate::leaf::CommitSecret;
use crate::ledger::{NODES_TABLE, SERVICE_TABLE};
use crate::{Error, TxId};

/// Metadata key of the commit secret (see [`crate::ledger`]).
pub const META_COMMIT_SECRET: &str = "core.commit_secret";
/// Metadata key of the service identity.
pub const META_SERVICE_IDENTITY: &str = "core.service_identity";
/// Metadata key of the node identity.
pub const META_NODE_IDENTITY: &str = "core.node_identity";
/// Metadata key of the view history: JSON `[[view, first_seqno], ...]`.
pub const META_VIEWS: &str = "core.views";

/// Most verified certificates the audit remembers; beyond this it starts over, so memory
/// stays bounded however many distinct certificates a ledger holds.
pub const MAX_CACHED_CERTIFICATES: usize = 1024;

/// What kind of inconsistency a [`Finding`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The store refused to serve a record: an entry whose bytes no longer match the digest
    /// stored beside it, a failed RocksDB checksum, a missing entry, a record that does not
    /// decode at the storage level.
    StoreCorruption,
    /// The entry bytes do not decode (see [`crate::entry`]).
    Undecodable,
    /// The entry's header names another seqno than its position.
    SeqnoMismatch,
    /// The entry's view is not the one the view history assigns to its seqno, or views go
    /// backwards.
    ViewMismatch,
    /// The view history in the metadata is missing, malformed or impossible.
    ViewHistory,
    /// A view that began after a recovery does not begin with a signature transaction.
    ViewStart,
    /// The leaf recomputed from the entry differs from the stored tree and the next signed
    /// root does not recompute either: the entry is not the one that was signed.
    EntryAltered,
    /// The leaf recomputed from the entry differs from the stored tree and no later signature
    /// can tell whether the entry or the tree is damaged.
    LeafMismatch,
    /// A stored tree tile differs from the tile recomputed from the entries (which the signed
    /// roots confirm, when a signature covers them).
    TileMismatch,
    /// A signed root differs from the root recomputed from the entries.
    RootMismatch,
    /// A signature payload names another view or seqno than its own entry.
    SignatureMismatch,
    /// A signature does not verify with its node certificate's key.
    BadSignature,
    /// A node id is not the hash of its certificate's public key.
    NodeIdMismatch,
    /// A node certificate does not parse, is not issued by the service key, or is outside its
    /// validity period (when [`AuditOptions::certificates_valid_at`] asks).
    CertificateChain,
    /// The service identity is missing or malformed, or the genesis record of the service
    /// certificate disagrees with the metadata.
    ServiceIdentity,
    /// The signature index disagrees with the signature transactions: a record missing,
    /// different, or at a seqno that holds no signature transaction.
    SignatureIndex,
    /// The collection or table index lacks a row for an append or table write.
    IndexMismatch,
    /// Engine metadata other than the identities and views is missing or malformed.
    Metadata,
    /// The store's committed seqno is not a signature transaction, or a signature lies above
    /// it.
    CommitState,
    /// A root the auditor trusts ([`AuditOptions::require_signed_root`]) is not signed at its
    /// seqno, or the ledger ends before it: the ledger was truncated or rewritten.
    Anchor,
    /// The governance audit ([`crate::governance::audit`]) found a governance change that
    /// no valid signed request explains, or a malformed governance record.
    Governance,
    /// Reported by an application's [`EntryCheck`].
    Application,
}

/// The first inconsistency an audit found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What is inconsistent.
    pub kind: FindingKind,
    /// The seqno at which it was found; `None` for metadata that belongs to no entry. Seqno 0
    /// is the tree's zero leaf.
    pub seqno: Option<u64>,
    /// What the audit expected there.
    pub expected: String,
    /// What it found instead.
    pub found: String,
}

impl Finding {
    /// A finding of `kind` at `seqno`.
    pub fn new(
        kind: FindingKind,
        seqno: Option<u64>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Finding {
            kind,
            seqno,
            expected: expected.into(),
            found: found.into(),
        }
    }

    fn at(
        kind: FindingKind,
        seqno: u64,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Self::new(kind, Some(seqno), expected, found)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.seqno {
            Some(s) => write!(f, "{:?} at seqno {s}", self.kind)?,
            None => write!(f, "{:?} in the metadata", self.kind)?,
        }
        write!(f, ": expected {}; found {}", self.expected, self.found)
    }
}

impl std::error::Error for Finding {}

/// How far an audit has got; handed to the [`AuditOptions::on_progress`] callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditProgress {
    /// Every entry up to this seqno has been checked.
    pub checked_through: u64,
    /// The last seqno the audit will check.
    pub last_seqno: u64,
    /// Signature transactions verified so far.
    pub signatures: u64,
    /// Time since the audit began.
    pub elapsed: Duration,
}

type ProgressFn = dyn Fn(&AuditProgress) + Send + Sync;

/// How an audit runs. Build with [`AuditOptions::default`] and the setters.
#[derive(Clone)]
pub struct AuditOptions {
    page_entries: NonZeroUsize,
    check_tiles: bool,
    check_indexes: bool,
    progress_every: NonZeroU64,
    certificates_valid_at: Option<SystemTime>,
    anchors: Vec<(u64, [u8; 32])>,
    trusted_below: u64,
    progress: Option<Arc<ProgressFn>>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            page_entries: NonZeroUsize::new(256).unwrap_or(NonZeroUsize::MIN),
            check_tiles: true,
            check_indexes: true,
            progress_every: NonZeroU64::new(100_000).unwrap_or(NonZeroU64::MIN),
            certificates_valid_at: None,
            anchors: Vec::new(),
            trusted_below: 0,
            progress: None,
        }
    }
}

impl fmt::Debug for AuditOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditOptions")
            .field("page_entries", &self.page_entries)
            .field("check_tiles", &self.check_tiles)
            .field("check_indexes", &self.check_indexes)
            .field("progress_every", &self.progress_every)
            .field("certificates_valid_at", &self.certificates_valid_at)
            .field("anchors", &self.anchors.len())
            .field("trusted_below", &self.trusted_below)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl AuditOptions {
    /// Entries read from the store at a time. Default = 256. Memory use is about this many
    /// entries (each at most the ledger's `max_tx_size`).
    pub fn page_entries(mut self, entries: NonZeroUsize) -> Self {
        self.page_entries = entries;
        self
    }

    /// Whether to compare every stored tree tile, leaves included, with the one recomputed
    /// from the entries. Default = `true`: it locates an altered entry at its own seqno (see
    /// the module docs) and checks the nodes receipts are built from.
    pub fn check_tiles(mut self, on: bool) -> Self {
        self.check_tiles = on;
        self
    }

    /// Whether to check that the collection and table indexes hold a row for every append and
    /// table write. Default = `true` (a point read per write).
    pub fn check_indexes(mut self, on: bool) -> Self {
        self.check_indexes = on;
        self
    }

    /// Report progress every this many entries. Default = 100,000.
    pub fn progress_every(mut self, entries: NonZeroU64) -> Self {
        self.progress_every = entries;
        self
    }

    /// Also require every certificate (service and nodes) to be within its validity period at
    /// `at`. Default = `None`: only signatures are checked, since a certificate expiring after
    /// it signed does not make the ledger inconsistent.
    pub fn certificates_valid_at(mut self, at: Option<SystemTime>) -> Self {
        self.certificates_valid_at = at;
        self
    }

    /// Requires the ledger to hold a signature transaction at `seqno` signing `root`: a root
    /// the auditor already trusts, say from an earlier receipt or audit
    /// ([`AuditReport::last_signature`]). A ledger truncated before `seqno`, or rewritten, then
    /// fails with [`FindingKind::Anchor`]. May be given several times. Default = none.
    pub fn require_signed_root(mut self, seqno: u64, root: [u8; 32]) -> Self {
        self.anchors.push((seqno, root));
        self
    }

    /// Resumes from a root an earlier audit verified: like
    /// [`AuditOptions::require_signed_root`], and the ECDSA signatures of signature
    /// transactions before `seqno` are not verified again. Everything else still is: every
    /// entry is read and its leaf recomputed, and since the recomputed tree must give `root`
    /// at `seqno`, every earlier entry (signatures included) is byte for byte what the earlier
    /// audit verified. Signatures dominate an audit's cost, so this makes repeated audits of
    /// a growing ledger cheap. Default = none.
    pub fn trusted_root(mut self, seqno: u64, root: [u8; 32]) -> Self {
        self.anchors.push((seqno, root));
        self.trusted_below = self.trusted_below.max(seqno);
        self
    }

    /// Calls `callback` every [`AuditOptions::progress_every`] entries and once at the end.
    /// Default = none (progress still goes to `tracing` at `info` level).
    pub fn on_progress(
        mut self,
        callback: impl Fn(&AuditProgress) + Send + Sync + 'static,
    ) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }
}

/// A signature transaction the audit verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedRoot {
    /// The signature transaction.
    pub tx_id: TxId,
    /// The root it signs: the tree over leaves `0..tx_id.seqno()`.
    pub root: [u8; 32],
}

/// What an audit looked at, and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditReport {
    /// The store's last seqno when the audit began: every entry up to it was checked (unless
    /// there is a finding).
    pub last_seqno: u64,
    /// The store's committed seqno when the audit began.
    pub committed_seqno: u64,
    /// Entries checked.
    pub entries: u64,
    /// Signature transactions verified.
    pub signatures: u64,
    /// Tree tiles compared with the store's.
    pub tiles: u64,
    /// The most tree nodes the recomputed tree held in memory at once (leaves included):
    /// bounded by a page of leaves plus the tree's frontier, whatever the ledger's length.
    pub peak_tree_nodes: u64,
    /// The view history, `(view, first seqno)`.
    pub views: Vec<(u64, u64)>,
    /// The newest signature verified.
    pub last_signature: Option<SignedRoot>,
    /// Entries after the newest signature, not (yet) covered by any.
    pub unsigned_tail: Option<RangeInclusive<u64>>,
    /// Entries above the store's committed seqno: a crashed writer's tail, which the next
    /// read-write open discards.
    pub uncommitted_tail: Option<RangeInclusive<u64>>,
    /// How long the audit took.
    pub elapsed: Duration,
    /// The first inconsistency, if any.
    pub finding: Option<Finding>,
}

impl AuditReport {
    /// Whether the audit found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.finding.is_none()
    }

    /// The report if the audit found nothing wrong, else the finding.
    ///
    /// # Errors
    ///
    /// The [`Finding`].
    pub fn into_result(self) -> Result<AuditReport, Finding> {
        match self.finding {
            Some(f) => Err(f),
            None => Ok(self),
        }
    }
}

/// A check of entry semantics layered on the structural audit, called for every entry in
/// seqno order after the structural checks of that entry passed.
///
/// This is the extension point for the governance audit (member, proposal and constitution
/// rules) and for applications with invariants of their own.
pub trait EntryCheck {
    /// Checks entry `entry` (whose bytes the structural audit accepted).
    ///
    /// # Errors
    ///
    /// `Ok(Err(finding))` reports an inconsistency; `Err(error)` means the check could not
    /// run (e.g. a store read failed) and aborts the audit.
    fn check_entry(
        &mut self,
        store: &dyn Store,
        entry: &LedgerEntry,
    ) -> Result<Result<(), Finding>, Error>;

    /// Called once after the last entry. Default: accepts.
    ///
    /// # Errors
    ///
    /// As [`EntryCheck::check_entry`].
    fn finish(&mut self, store: &dyn Store, last_seqno: u64) -> Result<Result<(), Finding>, Error> {
        let _ = (store, last_seqno);
        Ok(Ok(()))
    }
}

/// The checks every audit runs after the structural ones: the governance audit
/// ([`crate::governance::audit::GovernanceCheck`]: every change to members, proposals, the
/// constitution, users, roles and nodes is legitimate), reported as
/// [`FindingKind::Governance`].
fn builtin_checks() -> Vec<Box<dyn EntryCheck>> {
    vec![Box::new(crate::governance::audit::GovernanceCheck::new())]
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
/// use ledger_core::audit::{audit_ledger, AuditOptions};
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
pub fn audit_ledger(ledger: &crate::Ledger, options: &AuditOptions) -> Result<AuditReport, Error> {
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

/// [`audit_store`] with additional per-entry checks, run in order after the built-in ones.
///
/// # Errors
///
/// As [`audit_store`], plus any error a check returns.
pub fn audit_store_with(
    store: &dyn Store,
    options: &AuditOptions,
    checks: &mut [&mut dyn EntryCheck],
) -> Result<AuditReport, Error> {
    let started = Instant::now();
    let state = store.state();
    let mut report = AuditReport {
        last_seqno: state.last_seqno,
        committed_seqno: state.committed_seqno,
        entries: 0,
        signatures: 0,
        tiles: 0,
        peak_tree_nodes: 0,
        views: Vec::new(),
        last_signature: None,
        unsigned_tail: None,
        uncommitted_tail: (state.last_seqno > state.committed_seqno)
            .then(|| state.committed_seqno + 1..=state.last_seqno),
        elapsed: Duration::ZERO,
        finding: None,
    };
    if state.last_seqno == 0 && uninitialized(store)? {
        // A store the engine has not yet written its metadata to (say, a crash while the
        // ledger was being created): opening it creates the ledger afresh.
        report.elapsed = started.elapsed();
        tracing::info!("audit passed: the store holds no ledger yet");
        return Ok(report);
    }
    let mut builtin = builtin_checks();
    let outcome = match Auditor::new(store, options, state.last_seqno, &mut report) {
        Ok(mut auditor) => {
            let mut checks = Checks {
                builtin: &mut builtin,
                extra: checks,
            };
            auditor.run(&mut report, state.committed_seqno, &mut checks)
        }
        Err(stop) => Err(stop),
    };
    report.elapsed = started.elapsed();
    match outcome {
        Ok(()) => {
            tracing::info!(
                entries = report.entries,
                signatures = report.signatures,
                elapsed_ms = u64::try_from(report.elapsed.as_millis()).unwrap_or(u64::MAX),
                "audit passed"
            );
        }
        Err(AuditStop::Finding(finding)) => {
            tracing::warn!(%finding, "audit found an inconsistency");
            report.finding = Some(finding);
        }
        Err(AuditStop::Error(e)) => return Err(e),
    }
    if let Some(progress) = &options.progress {
        progress(&AuditProgress {
            checked_through: report.entries,
            last_seqno: report.last_seqno,
            signatures: report.signatures,
            elapsed: report.elapsed,
        });
    }
    Ok(report)
}

/// Whether none of the engine's metadata is there.
fn uninitialized(store: &dyn Store) -> Result<bool, Error> {
    for key in [
        META_COMMIT_SECRET,
        META_SERVICE_IDENTITY,
        META_NODE_IDENTITY,
        META_VIEWS,
    ] {
        match store.meta(key) {
            Ok(None) => {}
            Ok(Some(_)) => return Ok(false),
            // Reported as a finding by the full audit.
            Err(e) if e.is_corruption() => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

impl AuditReport {
    #[cfg(feature = "rocksdb")]
    fn failed_early(finding: Finding) -> Self {
        AuditReport {
            last_seqno: 0,
            committed_seqno: 0,
            entries: 0,
            signatures: 0,
            tiles: 0,
            peak_tree_nodes: 0,
            views: Vec::new(),
            last_signature: None,
            unsigned_tail: None,
            uncommitted_tail: None,
            elapsed: Duration::ZERO,
            finding: Some(finding),
        }
    }
}

/// The built-in checks and the caller's, run in that order.
struct Checks<'b, 'c, 'd> {
    builtin: &'b mut [Box<dyn EntryCheck>],
    extra: &'c mut [&'d mut dyn EntryCheck],
}

impl Checks<'_, '_, '_> {
    fn entry(&mut self, store: &dyn Store, entry: &LedgerEntry) -> Step {
        for check in self.builtin.iter_mut() {
            check.check_entry(store, entry)??;
        }
        for check in self.extra.iter_mut() {
            check.check_entry(store, entry)??;
        }
        Ok(())
    }

    fn finish(&mut self, store: &dyn Store, last_seqno: u64) -> Step {
        for check in self.builtin.iter_mut() {
            check.finish(store, last_seqno)??;
        }
        for check in self.extra.iter_mut() {
            check.finish(store, last_seqno)??;
        }
        Ok(())
    }
}

/// Why the audit stopped early.
enum AuditStop {
    Finding(Finding),
    Error(Error),
}

impl From<Error> for AuditStop {
    fn from(e: Error) -> Self {
        AuditStop::Error(e)
    }
}

impl From<Finding> for AuditStop {
    fn from(f: Finding) -> Self {
        AuditStop::Finding(f)
    }
}

type Step<T = ()> = Result<T, AuditStop>;

/// Turns a store error into a finding at `seqno` (corruption) or an abort (anything else).
fn store_stop(e: StoreError, seqno: Option<u64>, what: &str) -> AuditStop {
    if e.is_corruption() {
        AuditStop::Finding(Finding::new(
            FindingKind::StoreCorruption,
            seqno,
            format!("a readable {what}"),
            e.to_string(),
        ))
    } else {
        AuditStop::Error(e.into())
    }
}

/// A leaf that differs from the stored tree, waiting for the next signature to tell whether
/// the entry or the tree is damaged.
struct Suspect {
    seqno: u64,
    stored: [u8; 32],
    recomputed: [u8; 32],
}

struct Auditor<'a> {
    store: &'a dyn Store,
    options: &'a AuditOptions,
    last_seqno: u64,
    secret: CommitSecret,
    service: ParsedCert,
    views: Vec<(u64, u64)>,
    tree: MerkleTree<CcfSha256>,
    /// The row-0 tile holding the current leaves, as stored.
    leaf_tile: Option<Tile>,
    suspect: Option<Suspect>,
    /// Certificates (PEM) already verified against the service key, parsed.
    verified: HashMap<String, Arc<ParsedCert>>,
    last_view: u64,
    started: Instant,
}

impl<'a> Auditor<'a> {
    /// Reads and checks the metadata.
    fn new(
        store: &'a dyn Store,
        options: &'a AuditOptions,
        last_seqno: u64,
        report: &mut AuditReport,
    ) -> Step<Self> {
        let meta = |key: &str| -> Step<Vec<u8>> {
            match store.meta(key) {
                Ok(Some(v)) => Ok(v),
                Ok(None) => {
                    Err(
                        Finding::new(meta_kind(key), None, format!("metadata {key:?}"), "nothing")
                            .into(),
                    )
                }
                Err(e) => Err(store_stop(e, None, &format!("metadata {key:?}"))),
            }
        };
        let secret_bytes = meta(META_COMMIT_SECRET)?;
        let secret = CommitSecret::from_slice(&secret_bytes).map_err(|_| {
            Finding::new(
                FindingKind::Metadata,
                None,
                "a 32-byte commit secret",
                format!("{} bytes", secret_bytes.len()),
            )
        })?;
        let service = ServiceIdentity::from_bytes(&meta(META_SERVICE_IDENTITY)?)
            .and_then(|s| ParsedCert::from_der(s.certificate_der()).map_err(Error::Corruption))
            .map_err(|e| {
                Finding::new(
                    FindingKind::ServiceIdentity,
                    None,
                    "a service identity with a self-signed certificate",
                    e.to_string(),
                )
            })?;
        if let Some(at) = options.certificates_valid_at {
            service.check_valid_at(at).map_err(|e| {
                Finding::new(
                    FindingKind::CertificateChain,
                    None,
                    "a service certificate valid at the requested time",
                    e,
                )
            })?;
        }
        NodeIdentity::from_bytes(&meta(META_NODE_IDENTITY)?)
            .and_then(|n| {
                ParsedCert::from_der(n.certificate_der())
                    .and_then(|c| c.check_signed_by(&service))
                    .map_err(Error::Crypto)
            })
            .map_err(|e| {
                Finding::new(
                    FindingKind::CertificateChain,
                    None,
                    "a node identity whose certificate the service key issued",
                    e.to_string(),
                )
            })?;
        let views = check_views(&meta(META_VIEWS)?, last_seqno)?;
        report.views.clone_from(&views);
        let mut tree = MerkleTree::<CcfSha256>::new();
        tree.push([0u8; 32]);
        Ok(Auditor {
            store,
            options,
            last_seqno,
            secret,
            service,
            views,
            tree,
            leaf_tile: None,
            suspect: None,
            verified: HashMap::new(),
            last_view: 1,
            started: Instant::now(),
        })
    }

    fn view_of(&self, seqno: u64) -> u64 {
        let idx = self.views.partition_point(|(_, first)| *first <= seqno);
        self.views.get(idx.wrapping_sub(1)).map_or(1, |v| v.0)
    }

    fn run(
        &mut self,
        report: &mut AuditReport,
        committed: u64,
        checks: &mut Checks<'_, '_, '_>,
    ) -> Step {
        let page_size = self.options.page_entries.get();
        let every = self.options.progress_every.get();
        let mut next_progress = every;
        let mut anchors = self.options.anchors.clone();
        anchors.sort_unstable();
        anchors.dedup();
        let mut anchors = std::collections::VecDeque::from(anchors);
        if let Some(&(0, _)) = anchors.front() {
            return Err(Finding::new(
                FindingKind::Anchor,
                Some(0),
                "a signature transaction at the trusted seqno",
                "seqno 0, which holds no transaction",
            )
            .into());
        }
        let mut next_seqno = 1u64;
        while next_seqno <= self.last_seqno {
            let page = match self.store.entries(next_seqno..=self.last_seqno, page_size) {
                Ok(page) => page,
                Err(e) if e.is_corruption() => return Err(self.pinpoint(next_seqno, page_size, e)),
                Err(e) => return Err(AuditStop::Error(e.into())),
            };
            let Some(&(page_last, _)) = page.last() else {
                return Err(Finding::at(
                    FindingKind::StoreCorruption,
                    next_seqno,
                    format!(
                        "entry {next_seqno} (the store's last seqno is {})",
                        self.last_seqno
                    ),
                    "no entry",
                )
                .into());
            };
            let mut sig_records: BTreeMap<u64, Vec<u8>> = self
                .store
                .signatures(
                    next_seqno..=page_last.max(next_seqno),
                    page.len().saturating_add(1),
                )
                .map_err(|e| store_stop(e, Some(next_seqno), "signature index"))?
                .into_iter()
                .collect();
            for (seqno, bytes) in page {
                if seqno != next_seqno {
                    return Err(Finding::at(
                        FindingKind::StoreCorruption,
                        next_seqno,
                        format!("entry {next_seqno}"),
                        format!("the store served entry {seqno} in its place"),
                    )
                    .into());
                }
                let record = sig_records.remove(&seqno);
                let entry = self
                    .check_entry(seqno, &bytes, record, committed, report)
                    .and_then(|entry| checks.entry(self.store, &entry).map(|()| entry))
                    .map_err(|stop| self.earlier_suspect(stop))?;
                while let Some(&(anchor_seqno, anchor_root)) = anchors.front() {
                    if anchor_seqno != seqno {
                        break;
                    }
                    anchors.pop_front();
                    let signed = entry.body.signature.as_ref().map(|p| p.root);
                    if signed != Some(anchor_root) {
                        return Err(Finding::at(
                            FindingKind::Anchor,
                            seqno,
                            format!(
                                "a signature transaction signing the trusted root {}",
                                hex::encode(anchor_root)
                            ),
                            match signed {
                                Some(root) => format!("one signing {}", hex::encode(root)),
                                None => format!("a {:?} transaction", entry.kind),
                            },
                        )
                        .into());
                    }
                }
                report.entries = seqno;
                next_seqno = seqno + 1;
                if seqno >= next_progress {
                    next_progress = seqno.saturating_add(every);
                    self.progress(report);
                }
            }
            if let Some(&stray) = sig_records.keys().next() {
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    stray,
                    "no signature record (no signature transaction there)",
                    "a signature record",
                )
                .into());
            }
            self.compare_tiles(report)?;
        }
        // Signature records beyond the last entry (unless the store has grown meanwhile:
        // a live store is audited up to the extent it had when the audit began).
        if self.store.state().last_seqno == self.last_seqno {
            if let Some((stray, _)) = self
                .store
                .signature_after(self.last_seqno)
                .map_err(|e| store_stop(e, None, "signature index"))?
            {
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    stray,
                    format!(
                        "no signature record beyond the last entry {}",
                        self.last_seqno
                    ),
                    "a signature record",
                )
                .into());
            }
        }
        if let Some(suspect) = self.suspect.take() {
            return Err(suspect_finding(
                &suspect,
                "; no later signature tells whether the entry or the tree is damaged",
            ));
        }
        let last_sig = report.last_signature.map_or(0, |s| s.tx_id.seqno());
        if committed > 0 && last_sig != committed.min(self.last_seqno) {
            return Err(Finding::at(
                FindingKind::CommitState,
                committed,
                "a signature transaction at the store's committed seqno",
                format!("the last signature at or below it at {last_sig}"),
            )
            .into());
        }
        report.unsigned_tail = (self.last_seqno > last_sig).then(|| last_sig + 1..=self.last_seqno);
        if let Some(&(anchor_seqno, _)) = anchors.front() {
            return Err(Finding::new(
                FindingKind::Anchor,
                Some(anchor_seqno),
                format!("a signature transaction at trusted seqno {anchor_seqno}"),
                format!("a ledger ending at seqno {}", self.last_seqno),
            )
            .into());
        }
        checks.finish(self.store, self.last_seqno)
    }

    /// A leaf in doubt at an earlier seqno is the first inconsistency, whatever stopped the
    /// audit later.
    fn earlier_suspect(&mut self, stop: AuditStop) -> AuditStop {
        match (stop, &self.suspect) {
            (AuditStop::Finding(f), Some(s)) if f.seqno.is_some_and(|at| at > s.seqno) => {
                suspect_finding(s, &format!("(and then: {f})"))
            }
            (stop, _) => stop,
        }
    }

    fn progress(&self, report: &AuditReport) {
        let progress = AuditProgress {
            checked_through: report.entries,
            last_seqno: self.last_seqno,
            signatures: report.signatures,
            elapsed: self.started.elapsed(),
        };
        tracing::info!(
            checked_through = progress.checked_through,
            last_seqno = progress.last_seqno,
            signatures = progress.signatures,
            "audit progress"
        );
        if let Some(callback) = &self.options.progress {
            callback(&progress);
        }
    }

    /// A page read failed with corruption: read its entries one by one to name the seqno.
    fn pinpoint(&self, from: u64, page_size: usize, page_error: StoreError) -> AuditStop {
        let to = from
            .saturating_add(page_size as u64 - 1)
            .min(self.last_seqno);
        for seqno in from..=to {
            match self.store.entry(seqno) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Finding::at(
                        FindingKind::StoreCorruption,
                        seqno,
                        format!("entry {seqno}"),
                        "no entry",
                    )
                    .into()
                }
                Err(e) => return store_stop(e, Some(seqno), "entry"),
            }
        }
        store_stop(page_error, Some(from), "page of entries")
    }

    /// Every check of one entry (steps 1 to 6 of the module docs).
    fn check_entry(
        &mut self,
        seqno: u64,
        bytes: &[u8],
        sig_record: Option<Vec<u8>>,
        committed: u64,
        report: &mut AuditReport,
    ) -> Step<LedgerEntry> {
        let (kind, tx_id) = entry::decode_header(bytes).map_err(|e| {
            Finding::at(
                FindingKind::Undecodable,
                seqno,
                "a valid entry header",
                e.to_string(),
            )
        })?;
        if tx_id.seqno() != seqno {
            return Err(Finding::at(
                FindingKind::SeqnoMismatch,
                seqno,
                format!("header seqno {seqno}"),
                format!(
                    "header seqno {} (transaction {tx_id}, {kind:?})",
                    tx_id.seqno()
                ),
            )
            .into());
        }
        let view = self.view_of(seqno);
        if tx_id.view() != view {
            return Err(Finding::at(
                FindingKind::ViewMismatch,
                seqno,
                format!("view {view} (from the view history)"),
                format!("view {}", tx_id.view()),
            )
            .into());
        }
        if tx_id.view() < self.last_view {
            return Err(Finding::at(
                FindingKind::ViewMismatch,
                seqno,
                format!("a view of at least {}", self.last_view),
                format!("view {}", tx_id.view()),
            )
            .into());
        }
        let entry = entry::decode(bytes).map_err(|e| {
            Finding::at(
                FindingKind::Undecodable,
                seqno,
                "an entry that decodes",
                e.to_string(),
            )
        })?;
        if seqno > 1
            && entry.kind != TxKind::Signature
            && self.views.iter().any(|(_, first)| *first == seqno)
        {
            return Err(Finding::at(
                FindingKind::ViewStart,
                seqno,
                format!(
                    "a signature transaction opening view {} after a recovery",
                    tx_id.view()
                ),
                format!("a {:?} transaction", entry.kind),
            )
            .into());
        }
        self.last_view = tx_id.view();
        if seqno == 1 {
            self.check_genesis(&entry)?;
        }
        self.check_reserved_writes(&entry)?;
        let write_set_digest: [u8; 32] = Sha256::digest(bytes).into();
        let leaf = self.secret.leaf_hash(
            tx_id.view(),
            seqno,
            &write_set_digest,
            &entry.body.claims_digest,
        );
        match (&entry.body.signature, sig_record) {
            (Some(payload), record) => {
                self.check_signature(tx_id, payload, record.as_deref(), report)?;
            }
            (None, Some(_)) => {
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    seqno,
                    format!("no signature record (a {kind:?} transaction)"),
                    "a signature record",
                )
                .into());
            }
            (None, None) => {}
        }
        if kind == TxKind::Signature && seqno > committed {
            return Err(Finding::at(
                FindingKind::CommitState,
                seqno,
                format!("no signature above the store's committed seqno {committed}"),
                "a signature transaction",
            )
            .into());
        }
        if self.options.check_tiles && self.suspect.is_none() {
            let stored = self.stored_leaf(seqno)?;
            if stored != leaf {
                self.suspect = Some(Suspect {
                    seqno,
                    stored,
                    recomputed: leaf,
                });
            }
        }
        self.tree.push(leaf);
        // With the leaf in doubt, the next signature says whether the entry is genuine; an
        // index check now would blame the index for an altered entry.
        if self.options.check_indexes && self.suspect.is_none() {
            self.check_indexes(&entry)?;
        }
        Ok(entry)
    }

    /// Entry 1: the genesis transaction recording the service certificate.
    fn check_genesis(&self, entry: &LedgerEntry) -> Step {
        let recorded = entry
            .body
            .writes
            .iter()
            .find(|w| w.table == SERVICE_TABLE && w.key == b"cert");
        let Some(value) = recorded.and_then(|w| w.value.as_ref()) else {
            return Err(Finding::at(
                FindingKind::ServiceIdentity,
                1,
                format!("a genesis transaction recording {SERVICE_TABLE:?} \"cert\""),
                format!("a {:?} transaction without it", entry.kind),
            )
            .into());
        };
        self.check_service_record(1, value)
    }

    fn check_service_record(&self, seqno: u64, value: &[u8]) -> Step {
        let same = ParsedCert::parse(value).is_ok_and(|c| c.der == self.service.der);
        if !same {
            return Err(Finding::at(
                FindingKind::ServiceIdentity,
                seqno,
                format!(
                    "the service certificate of the metadata (key {})",
                    self.service.node_id
                ),
                format!(
                    "{} recorded in {SERVICE_TABLE:?}",
                    ParsedCert::parse(value)
                        .map(|c| format!("a certificate of key {}", c.node_id))
                        .unwrap_or_else(|e| format!("a value that is no certificate ({e})"))
                ),
            )
            .into());
        }
        Ok(())
    }

    /// Writes to the engine's own tables: the service certificate never changes; node
    /// certificates are issued by the service key and recorded under their node id.
    fn check_reserved_writes(&mut self, entry: &LedgerEntry) -> Step {
        let seqno = entry.tx_id.seqno();
        for w in &entry.body.writes {
            let Some(value) = &w.value else { continue };
            if w.table == SERVICE_TABLE && w.key == b"cert" && seqno != 1 {
                self.check_service_record(seqno, value)?;
            } else if w.table == NODES_TABLE {
                let pem = String::from_utf8_lossy(value);
                let node_id = self.verify_node_cert(seqno, &pem)?.node_id.clone();
                if node_id.as_bytes() != w.key.as_slice() {
                    return Err(Finding::at(
                        FindingKind::NodeIdMismatch,
                        seqno,
                        format!("node record under its certificate's node id {node_id}"),
                        format!("a record under {:?}", String::from_utf8_lossy(&w.key)),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// Parses `pem` and checks the service key issued it (and its validity, if asked).
    fn verify_node_cert(&mut self, seqno: u64, pem: &str) -> Step<Arc<ParsedCert>> {
        if let Some(cert) = self.verified.get(pem) {
            return Ok(Arc::clone(cert));
        }
        let cert = ParsedCert::parse(pem.as_bytes()).map_err(|e| {
            Finding::at(
                FindingKind::CertificateChain,
                seqno,
                "a node certificate",
                e,
            )
        })?;
        let issued = match self.options.certificates_valid_at {
            Some(at) => cert.check_issued_by(&self.service, at),
            None => cert.check_signed_by(&self.service),
        };
        issued.map_err(|e| {
            Finding::at(
                FindingKind::CertificateChain,
                seqno,
                format!(
                    "a node certificate issued by the service key {}",
                    self.service.node_id
                ),
                e,
            )
        })?;
        if self.verified.len() >= MAX_CACHED_CERTIFICATES {
            self.verified.clear();
        }
        let cert = Arc::new(cert);
        self.verified.insert(pem.to_owned(), Arc::clone(&cert));
        Ok(cert)
    }

    fn check_signature(
        &mut self,
        tx_id: TxId,
        payload: &SignaturePayload,
        record: Option<&[u8]>,
        report: &mut AuditReport,
    ) -> Step {
        let seqno = tx_id.seqno();
        if payload.seqno != seqno || payload.view != tx_id.view() {
            return Err(Finding::at(
                FindingKind::SignatureMismatch,
                seqno,
                format!("a signature payload for {tx_id}"),
                format!("one for view {} seqno {}", payload.view, payload.seqno),
            )
            .into());
        }
        let recomputed = self.tree.root();
        let suspect = self.suspect.take();
        if recomputed != payload.root {
            if let Some(s) = suspect {
                return Err(Finding::at(
                    FindingKind::EntryAltered,
                    s.seqno,
                    format!(
                        "the entry whose leaf {} is in the tree, and which the root signed at {seqno} covers",
                        hex::encode(s.stored)
                    ),
                    format!(
                        "an entry with leaf {}; the root signed at {seqno} does not recompute",
                        hex::encode(s.recomputed)
                    ),
                )
                .into());
            }
            return Err(Finding::at(
                FindingKind::RootMismatch,
                seqno,
                format!(
                    "the signed root {} over leaves 0..{seqno}",
                    hex::encode(payload.root)
                ),
                format!(
                    "root {} recomputed from the entries",
                    hex::encode(recomputed)
                ),
            )
            .into());
        }
        if let Some(s) = suspect {
            return Err(Finding::at(
                FindingKind::TileMismatch,
                s.seqno,
                format!(
                    "leaf {} in the stored tree (recomputed from the entry, which the root signed at {seqno} confirms)",
                    hex::encode(s.recomputed)
                ),
                format!("leaf {}", hex::encode(s.stored)),
            )
            .into());
        }
        let cert = self.verify_node_cert(seqno, &payload.node_cert_pem)?;
        let node_id = &cert.node_id;
        if *node_id != payload.node_id {
            return Err(Finding::at(
                FindingKind::NodeIdMismatch,
                seqno,
                format!("node id {node_id} of the signing certificate"),
                format!("node id {:?}", payload.node_id),
            )
            .into());
        }
        // Below a trusted root the signature was verified by an earlier audit, and the root
        // recomputed at the trusted seqno vouches that this entry has not changed since.
        let trusted = seqno < self.options.trusted_below;
        if !trusted {
            cert.verify_root_signature(&payload.root, &payload.signature)
                .map_err(|e| {
                    Finding::at(
                        FindingKind::BadSignature,
                        seqno,
                        format!(
                            "a signature over root {} by node {node_id}",
                            hex::encode(payload.root)
                        ),
                        e,
                    )
                })?;
        }
        let expected = entry::encode_signature(payload);
        match record {
            Some(r) if r == expected.as_slice() => {}
            Some(r) => {
                let what = match entry::decode_signature(r) {
                    Ok(p) => describe_payload_difference(payload, &p),
                    Err(e) => format!("a record that does not decode ({e})"),
                };
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    seqno,
                    "the signature record equal to the signature transaction's payload",
                    what,
                )
                .into());
            }
            None => {
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    seqno,
                    "a signature record for this signature transaction",
                    "none",
                )
                .into());
            }
        }
        report.signatures += 1;
        report.last_signature = Some(SignedRoot {
            tx_id,
            root: payload.root,
        });
        Ok(())
    }

    /// Leaf `seqno` as the stored tree holds it.
    fn stored_leaf(&mut self, seqno: u64) -> Step<[u8; 32]> {
        let id = TileId {
            row: 0,
            index: seqno / TILE_WIDTH,
        };
        if self.leaf_tile.as_ref().map(Tile::id) != Some(id)
            || self
                .leaf_tile
                .as_ref()
                .is_some_and(|t| t.width() <= seqno % TILE_WIDTH)
        {
            self.leaf_tile = self.load_tile(id, seqno)?;
        }
        let offset = seqno % TILE_WIDTH;
        match self.leaf_tile.as_ref().and_then(|t| t.node(0, offset)) {
            Some(leaf) => Ok(*leaf),
            None => Err(Finding::at(
                FindingKind::TileMismatch,
                seqno,
                format!("leaf {seqno} in stored tile row 0 index {}", id.index),
                match &self.leaf_tile {
                    Some(t) => format!("a tile of {} leaves", t.width()),
                    None => "no tile".to_owned(),
                },
            )
            .into()),
        }
    }

    fn load_tile(&self, id: TileId, seqno: u64) -> Step<Option<Tile>> {
        self.store.load_tile(id).map_err(|e| {
            AuditStop::Finding(Finding::at(
                FindingKind::StoreCorruption,
                seqno,
                format!("a readable tree tile row {} index {}", id.row, id.index),
                e.to_string(),
            ))
        })
    }

    /// Hands out the recomputed tiles, compares them with the stored ones, and prunes the
    /// recomputed tree down to its frontier.
    fn compare_tiles(&mut self, report: &mut AuditReport) -> Step {
        report.peak_tree_nodes = report.peak_tree_nodes.max(self.tree.nodes_in_memory());
        let tiles = self.tree.take_dirty_tiles();
        let size = self.tree.len();
        self.tree.prune(size);
        if !self.options.check_tiles || self.suspect.is_some() {
            return Ok(());
        }
        for tile in tiles {
            let id = tile.id();
            let first_leaf = first_leaf_of(id, 0, 0);
            let stored = self
                .load_tile(id, first_leaf)?
                .and_then(|t| t.truncated(size));
            report.tiles += 1;
            let Some(stored) = stored else {
                return Err(Finding::at(
                    FindingKind::TileMismatch,
                    first_leaf,
                    format!("stored tree tile row {} index {}", id.row, id.index),
                    "no tile",
                )
                .into());
            };
            for (h, (ours, theirs)) in tile.levels().iter().zip(stored.levels()).enumerate() {
                if let Some(offset) = ours
                    .iter()
                    .zip(theirs.iter())
                    .position(|(a, b)| a != b)
                    .or_else(|| {
                        (ours.len() != theirs.len()).then_some(ours.len().min(theirs.len()))
                    })
                {
                    let leaf = first_leaf_of(id, h as u8, offset as u64);
                    return Err(Finding::at(
                        FindingKind::TileMismatch,
                        leaf,
                        format!(
                            "tree node at level {} covering leaves from {leaf}: {}",
                            u32::from(id.row) * u32::from(TILE_HEIGHT) + h as u32,
                            ours.get(offset)
                                .map_or_else(|| "present".to_owned(), hex::encode)
                        ),
                        theirs
                            .get(offset)
                            .map_or_else(|| "absent".to_owned(), hex::encode),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    fn check_indexes(&self, entry: &LedgerEntry) -> Step {
        let seqno = entry.tx_id.seqno();
        for append in &entry.body.appends {
            let rows = self
                .store
                .collection_seqnos(&append.collection, seqno..=seqno, 1)
                .map_err(|e| store_stop(e, Some(seqno), "collection index"))?;
            if rows != [seqno] {
                return Err(Finding::at(
                    FindingKind::IndexMismatch,
                    seqno,
                    format!("an index row of collection {:?}", append.collection),
                    "none",
                )
                .into());
            }
        }
        for w in &entry.body.writes {
            let versions = self
                .store
                .table_history(&w.table, &w.key, seqno..=seqno, 1)
                .map_err(|e| store_stop(e, Some(seqno), "table index"))?;
            let expected = TableVersion {
                seqno,
                value: w.value.clone(),
            };
            if versions.first() != Some(&expected) || versions.len() != 1 {
                return Err(Finding::at(
                    FindingKind::IndexMismatch,
                    seqno,
                    format!(
                        "a version of table {:?} key {} as written",
                        w.table,
                        hex::encode(&w.key)
                    ),
                    match versions.first() {
                        Some(v) => format!(
                            "a version with {}",
                            v.value.as_ref().map_or_else(
                                || "a removal".to_owned(),
                                |v| format!("{} bytes", v.len())
                            )
                        ),
                        None => "none".to_owned(),
                    },
                )
                .into());
            }
        }
        Ok(())
    }
}

fn suspect_finding(suspect: &Suspect, note: &str) -> AuditStop {
    Finding::at(
        FindingKind::LeafMismatch,
        suspect.seqno,
        format!("leaf {} as stored in the tree", hex::encode(suspect.stored)),
        format!(
            "leaf {} recomputed from the entry{note}",
            hex::encode(suspect.recomputed)
        ),
    )
    .into()
}

/// The first leaf under the node at `height` levels above the bottom of tile `id`, `offset`
/// nodes from its left edge.
fn first_leaf_of(id: TileId, height: u8, offset: u64) -> u64 {
    let level = u32::from(id.row) * u32::from(TILE_HEIGHT) + u32::from(height);
    let bottom_index = id
        .index
        .saturating_mul(TILE_WIDTH >> height)
        .saturating_add(offset);
    bottom_index.checked_shl(level).unwrap_or(u64::MAX)
}

fn meta_kind(key: &str) -> FindingKind {
    match key {
        META_SERVICE_IDENTITY => FindingKind::ServiceIdentity,
        META_NODE_IDENTITY => FindingKind::CertificateChain,
        META_VIEWS => FindingKind::ViewHistory,
        _ => FindingKind::Metadata,
    }
}

/// Decodes and checks the view history against a ledger ending at `last_seqno`.
fn check_views(bytes: &[u8], last_seqno: u64) -> Result<Vec<(u64, u64)>, Finding> {
    let finding = |expected: &str, found: String| {
        Finding::new(FindingKind::ViewHistory, None, expected, found)
    };
    let views: Vec<(u64, u64)> = serde_json::from_slice(bytes).map_err(|e| {
        finding(
            "a JSON list of [view, first seqno] pairs",
            format!("{:?} ({e})", String::from_utf8_lossy(bytes)),
        )
    })?;
    match views.first() {
        Some(&(1, 1)) => {}
        Some(&first) => return Err(finding("a first view (1, 1)", format!("{first:?}"))),
        None => return Err(finding("at least one view", "an empty list".into())),
    }
    if let Some(w) = views
        .windows(2)
        .find(|w| w[1].0 <= w[0].0 || w[1].1 < w[0].1)
    {
        return Err(finding(
            "strictly ascending views with non-decreasing first seqnos",
            format!("{:?} followed by {:?}", w[0], w[1]),
        ));
    }
    if let Some(v) = views.iter().find(|v| v.1 > last_seqno.saturating_add(1)) {
        return Err(finding(
            &format!(
                "views beginning at most at seqno {}",
                last_seqno.saturating_add(1)
            ),
            format!("view {} beginning at {}", v.0, v.1),
        ));
    }
    Ok(views)
}

fn describe_payload_difference(entry: &SignaturePayload, record: &SignaturePayload) -> String {
    let mut fields = Vec::new();
    if entry.view != record.view || entry.seqno != record.seqno {
        fields.push(format!("view {} seqno {}", record.view, record.seqno));
    }
    if entry.root != record.root {
        fields.push(format!("root {}", hex::encode(record.root)));
    }
    if entry.node_id != record.node_id {
        fields.push(format!("node id {:?}", record.node_id));
    }
    if entry.signature != record.signature {
        fields.push("another signature".to_owned());
    }
    if entry.node_cert_pem != record.node_cert_pem {
        fields.push("another certificate".to_owned());
    }
    if fields.is_empty() {
        "a record that encodes the same payload differently".to_owned()
    } else {
        format!("a record with {}", fields.join(", "))
    }
}
