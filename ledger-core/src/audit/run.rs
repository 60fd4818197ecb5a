//! The audit's driver: reads the metadata, streams the entries page by page through the
//! per-entry checks (structural ones in [`super::entries`], [`super::signatures`] and
//! [`super::tree`], then the registered [`EntryCheck`]s), and reports the first finding.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use ledger_merkle::{CcfSha256, MerkleTree, Tile};
use ledger_store::{EntryRecord, Store, StoreError};

use super::options::{AuditOptions, AuditProgress};
use super::report::{AuditReport, EntryCheck, Finding, FindingKind};
use crate::entry::LedgerEntry;
use crate::error::Error;
use crate::identity::ParsedCert;
use crate::leaf::{CommitSecret, Digest};
use crate::sealing;
use crate::state::{
    LedgerInstance, ViewHistory, ENGINE_META, META_COMMIT_SECRET, META_COMMIT_SECRET_SEALED,
    META_SERVICE_CERT, META_VIEWS, SERVICE_CERT_KEY, SERVICE_TABLE,
};
use crate::txid::TxId;
use p256::elliptic_curve::zeroize::Zeroizing;

/// Audits `store` with the given checks after the structural ones: the body of every entry
/// point of [`super`].
pub(super) fn audit(
    store: &dyn Store,
    options: &AuditOptions,
    builtin: &mut [Box<dyn EntryCheck>],
    extra: &mut [&mut dyn EntryCheck],
) -> Result<AuditReport, Error> {
    let started = Instant::now();
    let state = store.state();
    let mut report = AuditReport::new(state.last_seqno, state.committed_seqno);
    if state.last_seqno == 0 && uninitialized(store)? {
        // A store the engine has not yet written its metadata to (say, a crash while the
        // ledger was being created): opening it creates the ledger afresh.
        report.elapsed = started.elapsed();
        tracing::info!("audit passed: the store holds no ledger yet");
        return Ok(report);
    }
    let outcome = match Auditor::new(store, options, state.last_seqno, &mut report) {
        Ok(mut auditor) => {
            let mut checks = Checks { builtin, extra };
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
    for check in builtin.iter() {
        check.summarize(&mut report);
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
    for key in ENGINE_META {
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

/// The built-in checks and the caller's, run in that order.
pub(super) struct Checks<'b, 'c, 'd> {
    builtin: &'b mut [Box<dyn EntryCheck>],
    extra: &'c mut [&'d mut dyn EntryCheck],
}

impl Checks<'_, '_, '_> {
    pub(super) fn entry(&mut self, store: &dyn Store, entry: &LedgerEntry) -> Step {
        for check in self.builtin.iter_mut() {
            check.check_entry(store, entry)??;
        }
        for check in self.extra.iter_mut() {
            check.check_entry(store, entry)??;
        }
        Ok(())
    }

    pub(super) fn finish(&mut self, store: &dyn Store, last_seqno: u64) -> Step {
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
pub(super) enum AuditStop {
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

pub(super) type Step<T = ()> = Result<T, AuditStop>;

/// Turns a store error into a finding at `seqno` (corruption) or an abort (anything else).
pub(super) fn store_stop(e: StoreError, seqno: Option<u64>, what: &str) -> AuditStop {
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

/// Pages read ahead of the checks.
const PAGES_AHEAD: usize = 2;

/// Reads the entries `1..=last_seqno`, `page_size` at a time, and sends each page with the
/// seqno it starts at, until the last one, a failed read, or a closed channel (the checks
/// stopped).
fn read_pages(
    store: &dyn Store,
    last_seqno: u64,
    page_size: usize,
    to_checks: &crossbeam::channel::Sender<(u64, Result<Vec<EntryRecord>, StoreError>)>,
) {
    let mut next = 1u64;
    while next <= last_seqno {
        let page = store.entry_records(next..=last_seqno, page_size);
        let following = match &page {
            Ok(page) => page.last().map(|record| record.seqno.saturating_add(1)),
            Err(_) => None,
        };
        if to_checks.send((next, page)).is_err() {
            return;
        }
        match following {
            Some(following) if following > next => next = following,
            _ => return,
        }
    }
}

/// The collection index rows of one page of entries: the rows of each collection from the
/// first entry of the page that appends to it up to the page's last seqno, read with one range
/// read per collection instead of one lookup per entry.
#[derive(Default)]
pub(super) struct IndexRows {
    /// The page's last seqno.
    page_last: u64,
    /// Per collection, its rows not yet reached, ascending.
    rows: HashMap<String, std::collections::VecDeque<u64>>,
}

impl IndexRows {
    /// Forgets the previous page's rows.
    pub(super) fn start_page(&mut self, page_last: u64) {
        self.page_last = page_last;
        self.rows.clear();
    }

    /// Whether `collection` has an index row at `seqno`. Entries are asked about in ascending
    /// seqno order within a page, so rows below `seqno` are passed for good.
    pub(super) fn has_row(
        &mut self,
        store: &dyn Store,
        collection: &str,
        seqno: u64,
    ) -> Step<bool> {
        let rows = match self.rows.get_mut(collection) {
            Some(rows) => rows,
            None => {
                let last = self.page_last.max(seqno);
                let span = usize::try_from(last - seqno + 1).unwrap_or(usize::MAX);
                let read = store
                    .collection_seqnos(collection, seqno..=last, span)
                    .map_err(|e| store_stop(e, Some(seqno), "collection index"))?;
                self.rows
                    .entry(collection.to_owned())
                    .or_insert_with(|| read.into())
            }
        };
        while rows.front().is_some_and(|&row| row < seqno) {
            rows.pop_front();
        }
        Ok(rows.front() == Some(&seqno))
    }
}

/// A leaf that differs from the stored tree, waiting for the next signature to tell whether
/// the entry or the tree is damaged.
pub(super) struct Suspect {
    pub(super) seqno: u64,
    pub(super) stored: [u8; 32],
    pub(super) recomputed: [u8; 32],
}

/// The state of one audit run: what the structural checks (this module, [`super::entries`],
/// [`super::signatures`], [`super::tree`]) share while they stream the ledger.
pub(super) struct Auditor<'a> {
    pub(super) store: &'a dyn Store,
    pub(super) options: &'a AuditOptions,
    pub(super) last_seqno: u64,
    /// The commit secret, read only when it is stored in plaintext or the caller supplied the
    /// key that sealed it: only version-1 entries need it.
    pub(super) secret: Option<CommitSecret>,
    /// Whether an entry in the current format (with a commit-evidence digest) was seen.
    pub(super) seen_current_format: bool,
    /// The first entry recording a commit-evidence digest, and that digest.
    pub(super) first_digest: Option<(TxId, Digest)>,
    pub(super) service: ParsedCert,
    pub(super) views: ViewHistory,
    pub(super) tree: MerkleTree<CcfSha256>,
    /// The row-0 tile holding the current leaves, as stored.
    pub(super) leaf_tile: Option<Tile>,
    pub(super) suspect: Option<Suspect>,
    /// Certificates (PEM) already verified against the service key, parsed.
    pub(super) verified: HashMap<String, Arc<ParsedCert>>,
    pub(super) last_view: u64,
    /// The newest ledger instance record seen so far.
    pub(super) instance: Option<LedgerInstance>,
    /// The collection index rows of the page being audited, read once per collection.
    pub(super) index_rows: IndexRows,
    pub(super) started: Instant,
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
        let service = Self::service_certificate(store, options)?;
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
        report.service_certificate_pinned = options.service_certificate.is_some();
        let secret = Self::legacy_secret(store, options)?;
        let views = ViewHistory::decode(&meta(META_VIEWS)?, last_seqno)
            .map_err(|e| Finding::new(FindingKind::ViewHistory, None, e.expected, e.found))?;
        report.views = views.as_slice().to_vec();
        let mut tree = MerkleTree::<CcfSha256>::new();
        tree.push([0u8; 32]);
        Ok(Auditor {
            store,
            options,
            last_seqno,
            secret,
            seen_current_format: false,
            first_digest: None,
            service,
            views,
            tree,
            leaf_tile: None,
            suspect: None,
            verified: HashMap::new(),
            last_view: 1,
            instance: None,
            index_rows: IndexRows::default(),
            started: Instant::now(),
        })
    }

    /// The service certificate the audit trusts: the caller's pinned one, which the store's
    /// public record must equal, or else the store's own.
    fn service_certificate(store: &dyn Store, options: &AuditOptions) -> Step<ParsedCert> {
        let stored = match store.meta(META_SERVICE_CERT) {
            Ok(Some(der)) => Some(ParsedCert::from_der(&der).map_err(|e| {
                Finding::new(
                    FindingKind::ServiceIdentity,
                    None,
                    "a service certificate in metadata core.service_cert",
                    e,
                )
            })?),
            Ok(None) => None,
            Err(e) => return Err(store_stop(e, None, "metadata core.service_cert")),
        };
        // Ledgers written before the certificate had a metadata record of its own hold it in
        // their genesis transaction, which is public.
        let stored = match stored {
            Some(cert) => cert,
            None => {
                let genesis = store
                    .table_get(SERVICE_TABLE, SERVICE_CERT_KEY, 1)
                    .map_err(|e| store_stop(e, Some(1), "the genesis service certificate"))?
                    .and_then(|version| version.value)
                    .ok_or_else(|| {
                        Finding::new(
                            FindingKind::ServiceIdentity,
                            None,
                            "a service certificate in the metadata or the genesis transaction",
                            "nothing",
                        )
                    })?;
                ParsedCert::parse(&genesis).map_err(|e| {
                    Finding::new(
                        FindingKind::ServiceIdentity,
                        Some(1),
                        "a service certificate in the genesis transaction",
                        e,
                    )
                })?
            }
        };
        stored.check_signed_by(&stored).map_err(|e| {
            Finding::new(
                FindingKind::ServiceIdentity,
                None,
                "a self-signed service certificate",
                e,
            )
        })?;
        match &options.service_certificate {
            Some(pinned) if pinned.der != stored.der => Err(Finding::new(
                FindingKind::ServiceIdentity,
                None,
                format!("the pinned service certificate (key {})", pinned.node_id),
                format!("the store's, for key {}", stored.node_id),
            )
            .into()),
            _ => Ok(stored),
        }
    }

    /// The commit secret, if it can be read: in plaintext, or sealed under the key the caller
    /// gave. Its absence matters only if a version-1 entry turns up.
    fn legacy_secret(store: &dyn Store, options: &AuditOptions) -> Step<Option<CommitSecret>> {
        let read = |key: &str| store.meta(key).map_err(|e| store_stop(e, None, key));
        let bytes = match (read(META_COMMIT_SECRET)?, &options.key_encryption_key) {
            (Some(plain), _) => Zeroizing::new(plain),
            (None, Some(kek)) => match read(META_COMMIT_SECRET_SEALED)? {
                Some(sealed) => sealing::open(&**kek, META_COMMIT_SECRET_SEALED, &sealed)
                    .map_err(AuditStop::Error)?,
                None => return Ok(None),
            },
            (None, None) => return Ok(None),
        };
        CommitSecret::from_slice(&bytes).map(Some).map_err(|_| {
            Finding::new(
                FindingKind::Metadata,
                None,
                "a 32-byte commit secret",
                format!("{} bytes", bytes.len()),
            )
            .into()
        })
    }

    /// When the commit secret is readable, checks it is the one the entries were written
    /// under, on the first entry that records a commit-evidence digest: a replaced secret
    /// leaves the history intact but would make every new receipt's evidence disagree with
    /// its entry.
    fn check_secret(&self) -> Step {
        let (Some(secret), Some((tx_id, recorded))) = (&self.secret, &self.first_digest) else {
            return Ok(());
        };
        let derived = secret.evidence(tx_id.view(), tx_id.seqno()).digest();
        if derived != *recorded {
            return Err(Finding::at(
                FindingKind::Metadata,
                tx_id.seqno(),
                format!(
                    "the commit-evidence digest {} recorded in the entry",
                    hex::encode(recorded)
                ),
                format!(
                    "{} derived from the stored commit secret",
                    hex::encode(derived)
                ),
            )
            .into());
        }
        Ok(())
    }

    pub(super) fn view_of(&self, seqno: u64) -> u64 {
        self.views.view_of(seqno)
    }

    pub(super) fn run(
        &mut self,
        report: &mut AuditReport,
        committed: u64,
        checks: &mut Checks<'_, '_, '_>,
    ) -> Step {
        let page_size = self.options.page_entries.get();
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
        // A reader thread reads (and the store hashes) the pages ahead of the checks.
        let store = self.store;
        let last_seqno = self.last_seqno;
        std::thread::scope(|scope| {
            let (to_checks, pages) = crossbeam::channel::bounded(PAGES_AHEAD);
            std::thread::Builder::new()
                .name("ledger-audit-reader".into())
                .spawn_scoped(scope, move || {
                    read_pages(store, last_seqno, page_size, &to_checks);
                })
                .map_err(|source| Error::Io {
                    operation: "starting the audit's reader thread",
                    source,
                })?;
            self.check_pages(report, committed, checks, &mut anchors, &pages)
        })
    }

    /// The body of [`Auditor::run`]: checks the pages `pages` delivers, then what is checked
    /// once the last entry has been seen.
    fn check_pages(
        &mut self,
        report: &mut AuditReport,
        committed: u64,
        checks: &mut Checks<'_, '_, '_>,
        anchors: &mut std::collections::VecDeque<(u64, Digest)>,
        pages: &crossbeam::channel::Receiver<(u64, Result<Vec<EntryRecord>, StoreError>)>,
    ) -> Step {
        let page_size = self.options.page_entries.get();
        let every = self.options.progress_every.get();
        let mut next_progress = every;
        let mut next_seqno = 1u64;
        while next_seqno <= self.last_seqno {
            // The reader reads from where the previous page ended, which is where the checks
            // go on; were it ever elsewhere, the page is read here instead.
            let read = match pages.recv() {
                Ok((from, read)) if from == next_seqno => read,
                _ => self
                    .store
                    .entry_records(next_seqno..=self.last_seqno, page_size),
            };
            let page = match read {
                Ok(page) => page,
                Err(e) if e.is_corruption() => return Err(self.pinpoint(next_seqno, page_size, e)),
                Err(e) => return Err(AuditStop::Error(e.into())),
            };
            let Some(page_last) = page.last().map(|record| record.seqno) else {
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
            self.index_rows.start_page(page_last);
            let mut sig_records: BTreeMap<u64, Vec<u8>> = self
                .store
                .signatures(
                    next_seqno..=page_last.max(next_seqno),
                    page.len().saturating_add(1),
                )
                .map_err(|e| store_stop(e, Some(next_seqno), "signature index"))?
                .into_iter()
                .collect();
            for record in page {
                let seqno = record.seqno;
                if seqno != next_seqno {
                    return Err(Finding::at(
                        FindingKind::StoreCorruption,
                        next_seqno,
                        format!("entry {next_seqno}"),
                        format!("the store served entry {seqno} in its place"),
                    )
                    .into());
                }
                let sig = sig_records.remove(&seqno);
                let entry = self
                    .check_entry(
                        seqno,
                        record.bytes(),
                        record.digest(),
                        sig,
                        committed,
                        report,
                    )
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
        self.check_secret()?;
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
    pub(super) fn earlier_suspect(&mut self, stop: AuditStop) -> AuditStop {
        match (stop, &self.suspect) {
            (AuditStop::Finding(f), Some(s)) if f.seqno.is_some_and(|at| at > s.seqno) => {
                suspect_finding(s, &format!("(and then: {f})"))
            }
            (stop, _) => stop,
        }
    }

    pub(super) fn progress(&self, report: &AuditReport) {
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
    pub(super) fn pinpoint(
        &self,
        from: u64,
        page_size: usize,
        page_error: StoreError,
    ) -> AuditStop {
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
}

pub(super) fn suspect_finding(suspect: &Suspect, note: &str) -> AuditStop {
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

fn meta_kind(key: &str) -> FindingKind {
    match key {
        META_VIEWS => FindingKind::ViewHistory,
        _ => FindingKind::Metadata,
    }
}
