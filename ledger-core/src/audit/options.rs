//! How an audit runs: [`AuditOptions`] and the [`AuditProgress`] it reports.

use std::fmt;
use std::num::{NonZeroU64, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::error::Error;
use crate::identity::ParsedCert;
use crate::sealing::KeyEncryptionKey;

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

pub(super) type ProgressFn = dyn Fn(&AuditProgress) + Send + Sync;

/// How an audit runs. Build with [`AuditOptions::default`] and the setters.
#[derive(Clone)]
pub struct AuditOptions {
    pub(super) page_entries: NonZeroUsize,
    pub(super) check_tiles: bool,
    pub(super) check_indexes: bool,
    pub(super) progress_every: NonZeroU64,
    pub(super) certificates_valid_at: Option<SystemTime>,
    pub(super) anchors: Vec<(u64, [u8; 32])>,
    pub(super) trusted_below: u64,
    pub(super) progress: Option<Arc<ProgressFn>>,
    pub(super) service_certificate: Option<Arc<ParsedCert>>,
    pub(super) key_encryption_key: Option<Arc<dyn KeyEncryptionKey>>,
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
            service_certificate: None,
            key_encryption_key: None,
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
            .field(
                "service_certificate",
                &self.service_certificate.as_ref().map(|c| &c.node_id),
            )
            .field("key_encryption_key", &self.key_encryption_key)
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
    /// ([`crate::AuditReport::last_signature`]). A ledger truncated before `seqno`, or rewritten, then
    /// fails with [`crate::FindingKind::Anchor`]. May be given several times. Default = none.
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

    /// Pins the service certificate (PEM or DER) the audit trusts: the audit fails with
    /// [`crate::FindingKind::ServiceIdentity`] if the store's differs. Without a pin the
    /// audit trusts the store's own certificate, which proves the ledger consistent with
    /// itself but not that it is the ledger the caller meant (someone able to rewrite the
    /// directory can replace the certificate along with every signature);
    /// [`crate::AuditReport::service_certificate_pinned`] says which was done. Default =
    /// none.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the certificate does not parse.
    pub fn service_certificate(mut self, certificate: impl AsRef<[u8]>) -> Result<Self, Error> {
        let bytes = certificate.as_ref();
        let cert = ParsedCert::parse(bytes).map_err(|e| {
            Error::malformed(
                "service certificate",
                crate::error::excerpt(&String::from_utf8_lossy(bytes)),
                e,
            )
        })?;
        self.service_certificate = Some(Arc::new(cert));
        Ok(self)
    }

    /// The key that sealed the ledger's commit secret, for auditing entries written before
    /// entries recorded their commit-evidence digest (format version 1): only their leaves
    /// need the secret. Entries in the current format are audited from public material
    /// alone. Default = none (a plaintext secret in the store is still used for old entries).
    pub fn key_encryption_key(mut self, kek: Arc<dyn KeyEncryptionKey>) -> Self {
        self.key_encryption_key = Some(kek);
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
