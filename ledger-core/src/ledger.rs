//! The [`Ledger`] handle: opening, writing, reading, commit status and receipts.
//!
//! # Durability
//!
//! A transaction is *Committed* once a signature transaction with a higher seqno is durable:
//! synced to disk in [`crate::Durability::Fsync`] mode (the default), written to the OS in
//! `Buffered` mode, held in memory for [`Ledger::in_memory`]. Until then it is *Pending*.
//!
//! # Recovery
//!
//! Opening a ledger whose previous process stopped before its last transactions were signed
//! and synced discards that uncommitted tail (the store reports it), starts a new view at the
//! first discarded seqno, records the new view durably, and signs in the new view before
//! anything else is recorded. Transactions of the discarded tail then report
//! [`TxStatus::Invalid`].
//!
//! The new view, and the marker that tells a later open whether this one ended cleanly, are
//! synced before the ledger hands out an id, in every durability mode: whatever a crash
//! loses, no `view.seqno` is handed out twice. What a mode does not promise is that a
//! Committed transaction survives: in `Buffered` mode a machine crash may lose recent
//! transactions (they then report [`TxStatus::Invalid`] after the reopen, never a
//! different transaction under the same id); in `Fsync` mode Committed survives any crash.
//!
//! # State
//!
//! What the engine persists about itself (metadata keys, view history, internal tables, the
//! genesis record, the ledger instance record) is specified, and validated, in
//! [`crate::state`].
//!
//! # Backup and restore
//!
//! [`Ledger::backup`] copies a running ledger; [`Ledger::restore`] restores a copy, which the
//! store marks as restored. The first open of the copy begins a new view and records the
//! ledger's instance with the next epoch, so governance requests signed for the original
//! are refused by the copy and the other way round (see `state.rs`, `# Recovery`).

use std::any::Any;
use std::future::Future;
use std::ops::{Bound, RangeBounds};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;
use std::time::{Duration, Instant};

use ledger_merkle::{CcfSha256, MerkleTree};
use ledger_store::{BackupInfo, Group, MemoryStore, Recovery, Store, META_RESTORED};
#[cfg(feature = "rocksdb")]
use ledger_store::{RocksStore, StoreConfig};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::{LedgerConfig, SigningMode};
use crate::cose::{CoseConsistencyReceipt, CoseReceipt};
use crate::curves::PublicKey;
use crate::custody::{self, Custody};
use crate::entry::{self, TxKind};
use crate::error::{Error, Problem};
use crate::identity::{verify_node_endorsement, CertificateValidity, ParsedCert, ServiceSigner};
use crate::pipeline::{CoseSigner, PipelineInit, RootSignature, Shared, Submission, Threads};
use crate::receipt::{proof_steps, Receipt};
use crate::replication::{ReplicatedEntry, ReplicatedGroup, Replication, Role};
use crate::state::{
    EntryLeaf, LedgerInstance, ViewHistory, COSE_SIGNATURES_TABLE, COSE_SIGNATURE_KEY, ENGINE_META,
    INSTANCE_KEY, META_RUNNING, META_VIEWS, NODES_TABLE, SERVICE_CERT_KEY, SERVICE_TABLE,
};
use crate::tiles::{StoreTiles, TileCache};
use crate::transaction::{check_name, Limits, Transaction};
use crate::txid::{TxId, TxStatus};

/// One entry of a collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The transaction that appended it.
    pub tx_id: TxId,
    /// The collection it belongs to.
    pub collection: String,
    /// Its contents.
    pub contents: Vec<u8>,
}

/// One version of a table key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    /// The transaction that wrote it.
    pub tx_id: TxId,
    /// The value written, or `None` if the transaction removed the key.
    pub value: Option<Vec<u8>>,
}

/// An opaque position in a paged read; pass it back to get the next page.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor(String);

impl Cursor {
    fn new(seqno: u64) -> Self {
        Cursor(format!("s{seqno}"))
    }

    fn seqno(&self) -> Result<u64, Error> {
        self.0
            .strip_prefix('s')
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::malformed("page cursor", self.0.clone(), "expected \"s<seqno>\""))
    }

    /// The cursor's text form, for handing to a client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from its text form (checked when used).
    pub fn from_string(text: impl Into<String>) -> Self {
        Cursor(text.into())
    }
}

/// A page of entries and the cursor for the next page, if there is more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// Entries in ascending seqno order.
    pub entries: Vec<Entry>,
    /// Where the next page starts; `None` when the range is exhausted.
    pub next: Option<Cursor>,
}

/// The largest `limit` a paged read ([`Ledger::entries_page`], [`Ledger::table_history_page`])
/// accepts: 10,000 entries or key versions. A larger limit is refused with
/// [`Error::InvalidInput`] (`what = "page limit"`, [`Problem::TooLarge`]), so one call never
/// holds more than this many items in memory; page with the returned cursor instead.
pub const MAX_PAGE_LIMIT: usize = 10_000;

/// How many items the lazy iterators ([`EntryIter`], [`KeyHistoryIter`]) read per page.
const ITER_PAGE: usize = 256;

/// Checks a paged read's `limit`: 1 to [`MAX_PAGE_LIMIT`].
fn check_page_limit(limit: usize) -> Result<(), Error> {
    if limit == 0 {
        return Err(Error::invalid(
            "page limit",
            Problem::TooSmall {
                size: 0,
                minimum: 1,
            },
        ));
    }
    if limit > MAX_PAGE_LIMIT {
        return Err(Error::too_large("page limit", limit, MAX_PAGE_LIMIT));
    }
    Ok(())
}

/// A page of a table key's versions and the cursor for the next page, if there is more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHistoryPage {
    /// Versions in ascending seqno order.
    pub versions: Vec<KeyVersion>,
    /// Where the next page starts; `None` when the history is exhausted.
    pub next: Option<Cursor>,
}

/// What a transaction wrote, for the checks of a call that reveals the transaction's leaf
/// (a user session's receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    /// The transaction's kind.
    pub(crate) kind: TxKind,
    /// Collections it appended to, ascending.
    pub(crate) collections: Vec<String>,
    /// Tables it wrote, ascending, each once.
    pub(crate) tables: Vec<String>,
}

/// A consistency proof between two signature transactions: the tree signed at `from` is a
/// prefix of the tree signed at `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsistencyProof {
    /// The older signature transaction.
    pub from: TxId,
    /// The newer signature transaction.
    pub to: TxId,
    /// Tree size signed at `from` (its seqno).
    pub from_size: u64,
    /// Tree size signed at `to` (its seqno).
    pub to_size: u64,
    /// Root signed at `from`.
    pub from_root: [u8; 32],
    /// Root signed at `to`.
    pub to_root: [u8; 32],
    /// RFC 9162 consistency proof from `from_size` to `to_size`.
    pub proof: Vec<[u8; 32]>,
}

impl ConsistencyProof {
    /// Checks the proof against the two roots it carries. An auditor who holds `from_root`
    /// from an earlier receipt compares it with `self.from_root` first.
    ///
    /// # Errors
    ///
    /// [`Error::Merkle`] if the proof does not link the two roots.
    pub fn verify(&self) -> Result<(), Error> {
        ledger_merkle::verify_consistency::<CcfSha256>(
            self.from_size,
            self.to_size,
            &self.proof,
            &self.from_root,
            &self.to_root,
        )?;
        Ok(())
    }
}

/// An embedded, tamper-evident ledger. `Send + Sync`: share it between threads by reference
/// or in an `Arc`.
///
/// ```
/// use std::time::Duration;
/// use ledger_core::{Ledger, TxStatus};
/// let ledger = Ledger::in_memory()?;
/// let id = ledger.append("audit", b"hello")?;
/// assert_eq!(ledger.wait_for_commit(id, Duration::from_secs(5))?, TxStatus::Committed);
/// let receipt = ledger.receipt(id)?;
/// receipt.verify(&ledger.service_certificate_pem())?;
/// # Ok::<(), ledger_core::Error>(())
/// ```
pub struct Ledger {
    shared: Arc<Shared>,
    threads: Mutex<Threads>,
    service_cert_pem: String,
    service_id: String,
    node_id: String,
    /// Per-ledger state of the layers above the engine (governance's decision lock), one
    /// value per type, created on first use; see [`Ledger::extension`].
    extensions: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
    /// Whether signature transactions carry a COSE-signed root ([`SigningMode::Dual`] or
    /// [`SigningMode::CoseOnly`]).
    signs_cose: bool,
    /// The service key, when this process holds it or a signer for it; it issues TLS server
    /// certificates ([`Ledger::issue_server_certificate`]).
    service_signer: Option<Arc<dyn ServiceSigner>>,
    /// Upper tree tiles read back for proofs over pruned leaves.
    tiles: TileCache,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("node_id", &self.node_id)
            .field("state", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens the RocksDB ledger at `config.path()`, creating it if absent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an invalid configuration; [`Error::Store`] if the
    /// directory is not a ledger or was written by an incompatible version;
    /// [`Error::Corruption`] if the store or the engine's own metadata is damaged.
    #[cfg(feature = "rocksdb")]
    pub fn open(config: LedgerConfig) -> Result<Ledger, Error> {
        config.validate()?;
        let store_config = StoreConfig::default().durability(config.durability);
        let (store, recovery) = RocksStore::open(&config.path, store_config)?;
        if let Some(range) = &recovery.discarded {
            tracing::warn!(
                first = range.start(),
                last = range.end(),
                "discarded an uncommitted tail on open"
            );
        }
        Self::start(Arc::new(store), &config, recovery.discarded.is_some())
    }

    /// Creates an ephemeral ledger held in memory, with every default setting.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if identity generation fails.
    pub fn in_memory() -> Result<Ledger, Error> {
        Self::in_memory_with(LedgerConfig::new(""))
    }

    /// Creates an ephemeral in-memory ledger with `config`'s intervals and limits (its path
    /// and durability are ignored).
    ///
    /// # Errors
    ///
    /// As [`Ledger::in_memory`], plus [`Error::InvalidInput`] for an invalid configuration.
    pub fn in_memory_with(config: LedgerConfig) -> Result<Ledger, Error> {
        config.validate()?;
        Self::start(Arc::new(MemoryStore::new()), &config, false)
    }

    /// Runs the engine over any [`Store`]: a backend of your own, or a wrapped one such as
    /// `ledger_store::testing::FaultyStore` (feature `test-util`) for fault-injection tests. `recovery` is what the
    /// store reported when it was opened (it decides whether a new view begins); the
    /// configuration's path and durability are not used.
    ///
    /// # Errors
    ///
    /// As [`Ledger::open`].
    pub fn with_store(
        store: Arc<dyn Store>,
        recovery: &Recovery,
        config: &LedgerConfig,
    ) -> Result<Ledger, Error> {
        config.validate()?;
        Self::start(store, config, recovery.discarded.is_some())
    }

    fn start(
        store: Arc<dyn Store>,
        config: &LedgerConfig,
        discarded_tail: bool,
    ) -> Result<Ledger, Error> {
        let created = ENGINE_META.iter().try_fold(false, |found, key| {
            Ok::<_, Error>(found || store.meta(key)?.is_some())
        })?;
        let state = store.state();
        let role = config.replication.role();
        if role != Role::Standalone && (!created || state.last_seqno == 0) {
            return Err(Error::invalid(
                "replicated ledger store",
                Problem::Mismatch {
                    expected: "a store that holds a ledger (a replicated service is founded \
                               from copies of one genesis store)"
                        .into(),
                    found: "an empty store".into(),
                },
            ));
        }
        let (custody, meta, fresh) = if created {
            let (custody, sealing) = custody::open(&*store, config)?;
            (custody, sealing, false)
        } else {
            let (custody, meta) = custody::create(config)?;
            (custody, meta, true)
        };
        let Custody {
            secret,
            service_cert,
            signer,
            service,
        } = custody;
        let service_id = hex::encode(Sha256::digest(&service_cert.der));
        // Every check that can refuse the open comes before the first write.
        let mode: SigningMode = config.signing_mode;
        let cose = match service.clone() {
            _ if !mode.cose_signs() => None,
            Some(_) if service_cert.key.as_p256().is_none() => {
                return Err(Error::invalid(
                    "signing_mode",
                    Problem::Mismatch {
                        expected: "SigningMode::Json for a service key that is not P-256 \
                                   (COSE roots are signed ES256)"
                            .into(),
                        found: format!(
                            "SigningMode::{mode:?} with a {} service key",
                            service_cert.key.algorithm()
                        ),
                    },
                ))
            }
            Some(service) => Some(CoseSigner::new(
                service,
                service_id.clone(),
                config.cose_subject.clone(),
                mode.node_signs(),
            )?),
            None => {
                return Err(Error::invalid(
                    "service_signer",
                    Problem::Mismatch {
                        expected: format!(
                            "the service key, to sign COSE roots (SigningMode::{mode:?}): \
                             a service signer, or SigningMode::Json"
                        ),
                        found: "none: this ledger's service key is not held in its store".into(),
                    },
                ))
            }
        };
        let signs_cose = cose.is_some();
        let mut views = if fresh {
            let views = ViewHistory::genesis();
            let mut meta = meta;
            meta.push((META_VIEWS.into(), Some(views.encode())));
            meta.push((META_RUNNING.into(), Some(b"1".to_vec())));
            store.write_group(&Group {
                meta,
                commit: true,
                ..Group::default()
            })?;
            views
        } else {
            let views = ViewHistory::decode(&required_meta(&*store, META_VIEWS)?, state.last_seqno)
                .map_err(|e| Error::corruption(format!("metadata {META_VIEWS}"), e))?;
            if !meta.is_empty() {
                // Sealing or re-sealing secrets: written and synced before anything else, so
                // a crash leaves either the old records or the new ones.
                store.write_group(&Group {
                    meta,
                    commit: true,
                    ..Group::default()
                })?;
                store.sync()?;
            }
            views
        };
        // A process that stopped without closing may have handed out ids of transactions that
        // never reached the store, so the store cannot tell they existed. Treating every
        // unclean stop like a discarded tail starts a new view, and those ids become Invalid
        // instead of being handed out again.
        let unclean = !fresh && store.meta(META_RUNNING)?.is_some();
        // A store restored from a backup begins a new view and a new instance epoch (below).
        let restored = !fresh && store.meta(META_RESTORED)?.is_some();
        // A replicated ledger's views are consensus terms: a primary begins the one it was
        // given; a backup begins none (it takes the primary's views as its groups apply).
        let new_view = match &config.replication {
            Replication::Standalone => discarded_tail || unclean || restored,
            Replication::Primary { view, .. } => {
                if *view <= views.current() {
                    return Err(Error::invalid(
                        "primary view",
                        Problem::TooSmall {
                            size: *view,
                            minimum: views.current() + 1,
                        },
                    ));
                }
                views.begin_at(*view, state.last_seqno + 1);
                false
            }
            Replication::Backup => false,
        };
        let sign_now = new_view || matches!(config.replication, Replication::Primary { .. });
        if new_view {
            let view = views.begin(state.last_seqno + 1);
            tracing::info!(
                view,
                discarded_tail,
                restored,
                "starting a new view after an unclean stop or a restore"
            );
        }
        if !fresh {
            store.write_group(&Group {
                meta: vec![
                    (META_VIEWS.into(), Some(views.encode())),
                    (META_RUNNING.into(), Some(b"1".to_vec())),
                ],
                commit: true,
                ..Group::default()
            })?;
        }
        // The view history and the running marker must survive a machine crash in every
        // durability mode: lost, a ledger that crashed would reopen as cleanly closed, in the
        // same view, and hand out again the ids (and commit evidence) it handed out before.
        store.sync()?;
        // A ledger whose creation stopped before its genesis transaction was stored has no
        // tree yet, whether or not this process created it.
        let tree = if state.last_seqno == 0 {
            let mut tree = MerkleTree::<CcfSha256>::new();
            tree.push([0u8; 32]);
            tree
        } else {
            MerkleTree::<CcfSha256>::open(&StoreTiles::uncached(&*store), state.last_seqno + 1)?
        };
        let committed_sig = match store.signature_at_or_before(state.last_seqno)? {
            Some((s, _)) => s,
            None => 0,
        };
        let service_cert_pem = service_cert.pem.clone();
        let node_id = signer.node_id().to_owned();
        // Parsed for its canonical PEM, which signature transactions record (custody has
        // checked it parses and that the service endorses it).
        let node_cert_text = signer.certificate_pem().to_owned();
        let node_cert = ParsedCert::parse(node_cert_text.as_bytes())
            .map_err(|e| Error::crypto("parsing the node certificate", e))?;
        let (shared, threads) = Shared::start(PipelineInit {
            store,
            secret,
            signer,
            cose,
            settings: config.pipeline.clone(),
            tree,
            views,
            last_seqno: state.last_seqno,
            committed_sig,
            sign_now: sign_now && state.last_seqno > 0,
            replication: config.replication.clone(),
            service_cert,
            node_cert_pem: node_cert.pem.clone(),
            node_key: node_cert.key.algorithm(),
        })?;
        let ledger = Ledger {
            shared,
            threads: Mutex::new(threads),
            service_cert_pem: service_cert_pem.clone(),
            service_id,
            node_id: node_id.clone(),
            extensions: Mutex::new(Vec::new()),
            signs_cose,
            service_signer: service,
            tiles: TileCache::new(),
        };
        // Genesis records the service certificate; every node that signs is recorded too,
        // so the ledger alone names the certificates its signatures verify against.
        if role == Role::Backup {
            return Ok(ledger);
        }
        let mut record = Transaction::new();
        if state.last_seqno == 0 {
            record.put(SERVICE_TABLE, SERVICE_CERT_KEY, service_cert_pem.as_bytes());
            if let Some(genesis) = &config.genesis {
                genesis.record(&mut record)?;
                for pem in genesis.founding_nodes() {
                    let founding =
                        verify_node_endorsement(pem, &service_cert_pem, SystemTime::now())?;
                    if founding.node_id == node_id {
                        continue; // recorded below, as every node that signs
                    }
                    record.put(
                        NODES_TABLE,
                        founding.node_id.as_bytes(),
                        founding.certificate_pem.as_bytes(),
                    );
                }
            }
        }
        let known = ledger
            .shared
            .store
            .table_get(NODES_TABLE, node_id.as_bytes(), state.last_seqno)?
            .and_then(|v| v.value);
        if known.as_deref() != Some(node_cert_text.as_bytes()) {
            record.put(NODES_TABLE, node_id.as_bytes(), node_cert_text.as_bytes());
        }
        // The instance record: epoch 1 at genesis (or on the first open of a ledger that has
        // none), the next epoch after a restore (see `state.rs`, `# Invariants`).
        let instance = if config.instance_records {
            instance_to_record(&*ledger.shared.store, state.last_seqno, restored)?
        } else {
            None
        };
        if let Some(instance) = &instance {
            record.put(SERVICE_TABLE, INSTANCE_KEY, &instance.encode());
        }
        if !record.is_empty() {
            let body = record.into_body(&Limits::ENGINE, true)?;
            let id = ledger
                .shared
                .submit(Submission::new(TxKind::Governance, body)?)?;
            if role == Role::Primary {
                // It commits when consensus applies it, which the caller drives.
                return Ok(ledger);
            }
            let status = ledger.wait_for_commit(id, Duration::from_secs(60))?;
            // The restore is acted on once the new epoch is committed. The marker's deletion
            // is not a commit group (which would commit whatever the pipeline appended
            // meanwhile): the next one makes it durable. A crash before then leaves the
            // marker, and the next open raises the epoch once more (harmless).
            if restored && instance.is_some() && status == TxStatus::Committed {
                ledger.shared.store.write_group(&Group {
                    meta: vec![(META_RESTORED.into(), None)],
                    commit: false,
                    ..Group::default()
                })?;
            }
        }
        Ok(ledger)
    }

    /// Appends `contents` to `collection` in a transaction of its own.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty, over-long or reserved collection name or contents
    /// over the configured maximum; [`Error::Poisoned`] after a store failure;
    /// [`Error::Closed`] once the ledger is closing.
    pub fn append(&self, collection: &str, contents: &[u8]) -> Result<TxId, Error> {
        crate::transaction::check_single_append(
            collection,
            contents,
            &self.shared.settings.limits,
        )?;
        self.shared.submit(Submission::single_append(
            collection,
            contents,
            self.shared.entry_buffer(),
        )?)
    }

    /// Records a transaction atomically and returns its id. The transaction is Pending until
    /// a durable signature covers it; see [`Ledger::wait_for_commit`].
    ///
    /// # Errors
    ///
    /// As [`Ledger::append`], plus [`Error::InvalidInput`] for an empty transaction, a
    /// collection appended twice, a write to a reserved table, or a transaction over
    /// `max_tx_size`.
    pub fn submit(&self, tx: Transaction) -> Result<TxId, Error> {
        let body = tx.into_body(&self.shared.settings.limits, false)?;
        self.shared.submit(Submission::new(TxKind::User, body)?)
    }

    /// The commit status of `tx`.
    pub fn status(&self, tx: TxId) -> TxStatus {
        let (view, next) = self.shared.head();
        let seqno = tx.seqno();
        if tx.view() > view {
            return TxStatus::Unknown;
        }
        if seqno >= next {
            return if tx.view() < view {
                TxStatus::Invalid
            } else {
                TxStatus::Unknown
            };
        }
        if self.view_of(seqno) != tx.view() {
            return TxStatus::Invalid;
        }
        if seqno < self.shared.committed_sig.load(Ordering::Acquire) {
            TxStatus::Committed
        } else {
            TxStatus::Pending
        }
    }

    fn view_of(&self, seqno: u64) -> u64 {
        self.shared.views.read().view_of(seqno)
    }

    fn tx_id_of(&self, seqno: u64) -> Result<TxId, Error> {
        Ok(TxId::new(self.view_of(seqno), seqno)?)
    }

    /// Waits until `tx` is no longer Pending or `timeout` passes, and returns its status then
    /// (Pending on timeout). Asks the engine to sign promptly if nothing else would, but only
    /// when something needs signing: a signature transaction is covered only by a later
    /// signature, which waiting on it does not create (it stays Pending until the ledger signs
    /// for other transactions), so no waiter can make the ledger write. A timeout too long
    /// for the clock waits as long as the clock can express.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if a store failure stopped the ledger while waiting.
    pub fn wait_for_commit(&self, tx: TxId, timeout: Duration) -> Result<TxStatus, Error> {
        let status = self.status(tx);
        if status != TxStatus::Pending {
            return Ok(status);
        }
        self.shared
            .wait_committed(tx.seqno(), deadline_after(timeout))?;
        Ok(self.status(tx))
    }

    /// A future that resolves when `tx` is no longer Pending. It works with any executor: the
    /// ledger's writer thread wakes it.
    pub fn commit_future(&self, tx: TxId) -> CommitFuture<'_> {
        CommitFuture {
            ledger: self,
            tx,
            asked: false,
        }
    }

    /// Signs now and waits until everything recorded before this call is committed (except
    /// signature transactions, which only a later signature can cover). On a replicated
    /// primary that means applied by consensus ([`Ledger::apply_group`]); a backup, which
    /// records nothing of its own, returns at once.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] after a store failure.
    pub fn flush(&self) -> Result<(), Error> {
        let last = self.shared.last_recorded();
        // A backup records nothing of its own: its transactions commit as groups apply.
        if last == 0 || self.shared.role == Role::Backup {
            return Ok(());
        }
        while !self
            .shared
            .wait_committed(last, deadline_after(Duration::from_secs(3600)))?
        {}
        Ok(())
    }

    fn checked_seqno(&self, tx: TxId) -> Result<u64, Error> {
        // An entry in the store is Pending or Committed exactly when its view is `tx`'s:
        // answered from the written mark and the view history, without the sequencer's lock
        // that appenders take. (The view of a written seqno never changes, on a backup too,
        // whose views begin only at seqnos it has not written yet; and `written` only grows.)
        let seqno = tx.seqno();
        if seqno <= self.shared.written.load(Ordering::Acquire) {
            return if self.view_of(seqno) == tx.view() {
                Ok(seqno)
            } else {
                Err(Error::not_found("transaction", tx))
            };
        }
        match self.status(tx) {
            TxStatus::Pending | TxStatus::Committed => {
                self.shared.wait_written(tx.seqno())?;
                Ok(tx.seqno())
            }
            _ => Err(Error::not_found("transaction", tx)),
        }
    }

    fn decode_at(&self, seqno: u64) -> Result<entry::LedgerEntry, Error> {
        let bytes = self
            .shared
            .store
            .entry(seqno)?
            .ok_or_else(|| Error::not_found("entry at seqno", seqno))?;
        entry::decode(&bytes)
    }

    /// The entry `tx` appended to `collection`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed collection name; [`Error::NotFound`] if `tx`
    /// is not in the ledger or did not append to `collection`; [`Error::Store`] or
    /// [`Error::Corruption`] if the stored entry cannot be read.
    pub fn entry(&self, collection: &str, tx: TxId) -> Result<Entry, Error> {
        check_name("collection", collection, true)?;
        let seqno = self.checked_seqno(tx)?;
        self.read_append(collection, seqno)
    }

    /// What the written transaction at `seqno` appended to `collection` (a checked name). The
    /// entry is decoded in place, with every check of a full decode, and only the contents
    /// are copied out of it.
    fn read_append(&self, collection: &str, seqno: u64) -> Result<Entry, Error> {
        let bytes = self
            .shared
            .store
            .entry(seqno)?
            .ok_or_else(|| Error::not_found("entry at seqno", seqno))?;
        let decoded = entry::decode_borrowed(&bytes)?;
        let contents = decoded.contents_of(collection).ok_or_else(|| {
            Error::not_found(
                "collection entry",
                format!("{collection}@{}", decoded.tx_id),
            )
        })?;
        Ok(Entry {
            tx_id: decoded.tx_id,
            collection: collection.to_owned(),
            contents: contents.to_vec(),
        })
    }

    /// The newest entry of `collection`, or `None` if it has none.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed name; store or decoding failures.
    pub fn latest(&self, collection: &str) -> Result<Option<Entry>, Error> {
        check_name("collection", collection, true)?;
        let last = self.shared.last_reserved();
        self.shared.wait_written(last)?;
        let found = self
            .shared
            .store
            .collection_seqnos_rev(collection, 1..=last, 1)?;
        match found.first() {
            Some(&seqno) => self.read_append(collection, seqno).map(Some),
            None => Ok(None),
        }
    }

    fn seqno_bounds(&self, range: &impl RangeBounds<TxId>) -> (u64, u64) {
        let from = match range.start_bound() {
            Bound::Included(t) => t.seqno(),
            Bound::Excluded(t) => t.seqno().saturating_add(1),
            Bound::Unbounded => 1,
        };
        let to = match range.end_bound() {
            Bound::Included(t) => t.seqno(),
            Bound::Excluded(t) => t.seqno().saturating_sub(1),
            Bound::Unbounded => u64::MAX,
        };
        (from, to)
    }

    /// One page of `collection`'s entries with seqnos in `range`, at most `limit` of them,
    /// starting at `cursor` (or the start of the range).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed name or cursor, or a `limit` of 0
    /// (`what = "page limit"`, [`Problem::TooSmall`]) or over [`MAX_PAGE_LIMIT`]
    /// ([`Problem::TooLarge`]); store or decoding failures.
    pub fn entries_page(
        &self,
        collection: &str,
        range: impl RangeBounds<TxId>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, Error> {
        check_name("collection", collection, true)?;
        check_page_limit(limit)?;
        let (mut from, to) = self.seqno_bounds(&range);
        if let Some(cursor) = cursor {
            from = from.max(cursor.seqno()?);
        }
        self.page_seqnos(collection, from, to, limit)
    }

    fn page_seqnos(
        &self,
        collection: &str,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Page, Error> {
        let last = self.shared.last_reserved();
        self.shared.wait_written(last)?;
        let to = to.min(last);
        if from > to {
            return Ok(Page {
                entries: Vec::new(),
                next: None,
            });
        }
        let seqnos =
            self.shared
                .store
                .collection_seqnos(collection, from..=to, limit.saturating_add(1))?;
        let more = seqnos.len() > limit;
        let mut entries = Vec::with_capacity(seqnos.len().min(limit));
        // Every indexed seqno up to `last` is written (waited for above) and in the ledger.
        for &seqno in seqnos.iter().take(limit) {
            entries.push(self.read_append(collection, seqno)?);
        }
        let next = if more {
            seqnos.get(limit).map(|s| Cursor::new(*s))
        } else {
            None
        };
        Ok(Page { entries, next })
    }

    /// All of `collection`'s entries with seqnos in `range`, in order, read lazily page by
    /// page.
    pub fn entries(&self, collection: &str, range: impl RangeBounds<TxId>) -> EntryIter<'_> {
        let (from, to) = self.seqno_bounds(&range);
        EntryIter {
            ledger: self,
            collection: collection.to_owned(),
            to,
            pager: Pager::starting_at(from.max(1)),
        }
    }

    /// The current value of `key` in `table`, or `None` if it is absent or removed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed table name; store failures.
    pub fn table_get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        check_name("table", table, true)?;
        let last = self.shared.last_reserved();
        self.shared.wait_written(last)?;
        Ok(self
            .shared
            .store
            .table_get(table, key, last)?
            .and_then(|v| v.value))
    }

    /// The value of `key` in `table` as of transaction `at` (including `at`'s own writes).
    ///
    /// # Errors
    ///
    /// As [`Ledger::table_get`], plus [`Error::NotFound`] if `at` is not in the ledger.
    pub fn table_get_at(
        &self,
        table: &str,
        key: &[u8],
        at: TxId,
    ) -> Result<Option<Vec<u8>>, Error> {
        check_name("table", table, true)?;
        let seqno = self.checked_seqno(at)?;
        Ok(self
            .shared
            .store
            .table_get(table, key, seqno)?
            .and_then(|v| v.value))
    }

    /// One page of the versions of `key` in `table`, oldest first, at most `limit` of them,
    /// starting at `cursor` (or the first version). Cursors have the format of
    /// [`Ledger::entries_page`]'s.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed table name or cursor, or a `limit` of 0 or
    /// over [`MAX_PAGE_LIMIT`] (`what = "page limit"`); store failures.
    pub fn table_history_page(
        &self,
        table: &str,
        key: &[u8],
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<KeyHistoryPage, Error> {
        check_name("table", table, true)?;
        check_page_limit(limit)?;
        let from = match cursor {
            Some(cursor) => cursor.seqno()?,
            None => 1,
        };
        self.history_page(table, key, from, limit)
    }

    fn history_page(
        &self,
        table: &str,
        key: &[u8],
        from: u64,
        limit: usize,
    ) -> Result<KeyHistoryPage, Error> {
        let last = self.shared.last_reserved();
        self.shared.wait_written(last)?;
        if from > last {
            return Ok(KeyHistoryPage {
                versions: Vec::new(),
                next: None,
            });
        }
        let found =
            self.shared
                .store
                .table_history(table, key, from..=last, limit.saturating_add(1))?;
        let next = found.get(limit).map(|v| Cursor::new(v.seqno));
        let mut versions = Vec::with_capacity(found.len().min(limit));
        for v in found.into_iter().take(limit) {
            versions.push(KeyVersion {
                tx_id: self.tx_id_of(v.seqno)?,
                value: v.value,
            });
        }
        Ok(KeyHistoryPage { versions, next })
    }

    /// Every version of `key` in `table`, oldest first, read lazily page by page (see
    /// [`Ledger::table_history_page`]). The table name is checked by the first `next`.
    pub fn table_history(&self, table: &str, key: &[u8]) -> KeyHistoryIter<'_> {
        KeyHistoryIter {
            ledger: self,
            table: table.to_owned(),
            key: key.to_vec(),
            pager: Pager::starting_at(1),
        }
    }

    /// What committed or pending transaction `tx` wrote, decoded from its stored entry.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if `tx` is not in the ledger; store or decoding failures.
    pub(crate) fn written_by(&self, tx: TxId) -> Result<Written, Error> {
        let seqno = self.checked_seqno(tx)?;
        let decoded = self.decode_at(seqno)?;
        if decoded.tx_id != tx {
            return Err(Error::corruption(
                "entry",
                format!("the entry at seqno {seqno} is {}", decoded.tx_id),
            )
            .at_tx(tx));
        }
        let collections = decoded
            .body
            .appends
            .into_iter()
            .map(|a| a.collection)
            .collect();
        // A signature transaction's COSE-signed root is the engine's own record, public like
        // the signature itself: it is not a table a reader needs permission for.
        let mut tables: Vec<String> = decoded
            .body
            .writes
            .into_iter()
            .filter(|w| !(decoded.kind == TxKind::Signature && w.table == COSE_SIGNATURES_TABLE))
            .map(|w| w.table)
            .collect();
        tables.dedup();
        Ok(Written {
            kind: decoded.kind,
            collections,
            tables,
        })
    }

    /// A receipt for committed transaction `tx`: its leaf components, the Merkle path to the
    /// root signed by the first signature after it, and that signature.
    ///
    /// # Errors
    ///
    /// [`Error::NotCommitted`] unless `tx` is Committed; [`Error::NoJsonReceipt`] if the
    /// signature transaction covering it was written in [`SigningMode::CoseOnly`] (ask for
    /// [`Ledger::cose_receipt`] instead); store, Merkle or decoding failures.
    pub fn receipt(&self, tx: TxId) -> Result<Receipt, Error> {
        let status = self.status(tx);
        if status != TxStatus::Committed {
            return Err(Error::NotCommitted { tx, status });
        }
        let seqno = tx.seqno();
        let store = &self.shared.store;
        let signed = self.signature_after(seqno)?;
        if signed.signature.is_empty() {
            return Err(Error::NoJsonReceipt {
                tx,
                signed_at: TxId::new(self.view_of(signed.seqno), signed.seqno)?,
            });
        }
        let leaf = self.committed_leaf(tx)?;
        let path = self.shared.tree.read().inclusion_proof_with(
            &StoreTiles::cached(&**store, &self.tiles),
            seqno,
            signed.seqno,
        )?;
        let components = leaf.components(&self.shared.secret, tx);
        Receipt::build_shared(
            Arc::clone(&signed.cert),
            Arc::clone(&signed.node_id),
            components,
            seqno,
            signed.seqno,
            &path,
            Arc::clone(&signed.signature),
        )
    }

    /// A COSE receipt for committed transaction `tx` (RFC 9942 with CCF's profile; see
    /// [`CoseReceipt`]): the first COSE-signed root after `tx`, with `tx`'s inclusion proof
    /// in its unprotected header. Transactions committed before COSE signing was turned on
    /// get one through the next COSE-signed root.
    ///
    /// # Errors
    ///
    /// [`Error::NotCommitted`] unless `tx` is Committed; [`Error::NotFound`] (`what = "COSE
    /// signed root"`) if no COSE-signed root covers it yet (the ledger signs in
    /// [`SigningMode::Json`], or turned COSE signing on after its last signature);
    /// [`Error::Store`] or [`Error::Corruption`] for storage failures.
    pub fn cose_receipt(&self, tx: TxId) -> Result<CoseReceipt, Error> {
        let status = self.status(tx);
        if status != TxStatus::Committed {
            return Err(Error::NotCommitted { tx, status });
        }
        let seqno = tx.seqno();
        let store = &self.shared.store;
        let committed = self.shared.committed_sig.load(Ordering::Acquire);
        // The first signature after `tx` (from memory when recent): when it signed with COSE
        // too, its signed root is the first COSE-signed root after `tx`.
        let after = self.signature_after(seqno)?;
        let signed: (u64, Arc<[u8]>) = match &after.cose {
            Some(signed_root) => (after.seqno, Arc::clone(signed_root)),
            None => store
                .table_history(
                    COSE_SIGNATURES_TABLE,
                    COSE_SIGNATURE_KEY,
                    seqno + 1..=committed.max(seqno + 1),
                    1,
                )?
                .into_iter()
                .find_map(|version| Some((version.seqno, Arc::from(version.value?))))
                .filter(|(at, _)| *at <= committed)
                .ok_or_else(|| Error::not_found("COSE signed root", tx))?,
        };
        let leaf = self.committed_leaf(tx)?;
        let path = self.shared.tree.read().inclusion_proof_with(
            &StoreTiles::cached(&**store, &self.tiles),
            seqno,
            signed.0,
        )?;
        let steps = proof_steps(seqno, signed.0, &path)?;
        CoseReceipt::new(&signed.1, &leaf.components(&self.shared.secret, tx), &steps)
    }

    /// The leaf inputs of committed transaction `tx`, its entry read and hashed once.
    fn committed_leaf(&self, tx: TxId) -> Result<EntryLeaf, Error> {
        let record = self.shared.store.entry_record(tx.seqno())?.ok_or_else(|| {
            Error::corruption("entry", "a committed transaction has no entry").at_tx(tx)
        })?;
        Ok(EntryLeaf {
            write_set_digest: *record.digest(),
            claims_digest: entry::claims_digest(record.bytes())?,
        })
    }

    /// The first durable signature after `seqno`: from memory for recent ones, else from the
    /// store's signature index.
    fn signature_after(&self, seqno: u64) -> Result<Arc<RootSignature>, Error> {
        {
            // The cache holds every durable signature from its oldest entry on, so it answers
            // exactly when that entry is at or before `seqno`.
            let recent = self.shared.recent_signatures.read();
            let covered = recent
                .first_key_value()
                .is_some_and(|(oldest, _)| *oldest <= seqno);
            if covered {
                if let Some((_, sig)) = recent.range(seqno + 1..).next() {
                    return Ok(Arc::clone(sig));
                }
            }
        }
        let (_, record) = self.shared.store.signature_after(seqno)?.ok_or_else(|| {
            Error::corruption(
                "signature index",
                format!("no signature after committed seqno {seqno}"),
            )
        })?;
        Ok(Arc::new(RootSignature::from_payload(
            &entry::decode_signature(&record)?,
        )))
    }

    /// A proof that the tree signed at signature transaction `to` extends the one signed at
    /// `from`, so an auditor holding an old signed root can check the current ledger.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless both ids are signature transactions of this ledger with
    /// `from <= to`.
    pub fn consistency_proof(&self, from: TxId, to: TxId) -> Result<ConsistencyProof, Error> {
        let load = |t: TxId| -> Result<entry::SignaturePayload, Error> {
            if matches!(self.status(t), TxStatus::Unknown | TxStatus::Invalid) {
                return Err(Error::not_found("transaction", t));
            }
            self.shared.wait_written(t.seqno())?;
            let record = self.shared.store.signature(t.seqno())?.ok_or_else(|| {
                Error::invalid(
                    "consistency proof endpoint",
                    Problem::Mismatch {
                        expected: "a signature transaction".into(),
                        found: format!("transaction {t}"),
                    },
                )
            })?;
            entry::decode_signature(&record)
        };
        let a = load(from)?;
        let b = load(to)?;
        if a.seqno > b.seqno {
            return Err(Error::invalid(
                "consistency proof range",
                Problem::Mismatch {
                    expected: format!("a first signature not newer than {to}"),
                    found: from.to_string(),
                },
            ));
        }
        let proof = self.shared.tree.read().consistency_proof_with(
            &StoreTiles::cached(&*self.shared.store, &self.tiles),
            a.seqno,
            b.seqno,
        )?;
        Ok(ConsistencyProof {
            from,
            to,
            from_size: a.seqno,
            to_size: b.seqno,
            from_root: a.root,
            to_root: b.root,
            proof,
        })
    }

    /// A COSE consistency receipt (CCF profile, label 396 key -2; see
    /// [`CoseConsistencyReceipt`]) that the tree signed at signature transaction `from` is a
    /// prefix of the tree whose root the service key signed at signature transaction `to`: an
    /// auditor holding the COSE-signed root of `from` checks with it that the ledger only
    /// grew, by [`CoseConsistencyReceipt::verify`] with `from`'s tree size (its seqno) and root.
    ///
    /// # Errors
    ///
    /// As [`Ledger::consistency_proof`]; [`Error::InvalidInput`] (`what = "consistency proof
    /// range"`) unless `from` is older than `to`; [`Error::NotCommitted`] unless the signature
    /// transaction `to` is durable; [`Error::NotFound`] (`what = "COSE signed root"`) if the signature
    /// transaction `to` carries no COSE signature (it was written in [`SigningMode::Json`]).
    pub fn cose_consistency_receipt(
        &self,
        from: TxId,
        to: TxId,
    ) -> Result<CoseConsistencyReceipt, Error> {
        let proof = self.consistency_proof(from, to)?;
        if proof.from_size >= proof.to_size {
            return Err(Error::invalid(
                "consistency proof range",
                Problem::Mismatch {
                    expected: format!("a first signature older than {to}"),
                    found: from.to_string(),
                },
            ));
        }
        // The signed root counts once its signature transaction is durable, as for the
        // transactions it commits.
        if to.seqno() > self.shared.committed_sig.load(Ordering::Acquire) {
            return Err(Error::NotCommitted {
                tx: to,
                status: self.status(to),
            });
        }
        let signed = self
            .shared
            .store
            .table_history(
                COSE_SIGNATURES_TABLE,
                COSE_SIGNATURE_KEY,
                to.seqno()..=to.seqno(),
                1,
            )?
            .into_iter()
            .find_map(|version| version.value)
            .ok_or_else(|| Error::not_found("COSE signed root", to))?;
        CoseConsistencyReceipt::new(
            &signed,
            proof.from_size,
            proof.to_size,
            &proof.from_root,
            &proof.to_root,
            &proof.proof,
        )
    }

    /// Records a transaction that may write reserved tables (`gov.`, `internal.`): the entry
    /// point of the governance layer, never exposed to applications.
    pub(crate) fn submit_reserved(&self, tx: Transaction) -> Result<TxId, Error> {
        let body = tx.into_body(&self.shared.settings.limits, true)?;
        self.shared
            .submit(Submission::new(TxKind::Governance, body)?)
    }

    /// The store underneath, for crate-internal readers (governance, audit).
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The value of type `T` that a layer above the engine keeps for this ledger (say,
    /// governance's decision lock), created with `T::default()` on first use. The engine
    /// knows nothing of what it holds.
    pub(crate) fn extension<T: Any + Send + Sync + Default>(&self) -> Arc<T> {
        let mut extensions = self.extensions.lock();
        if let Some(found) = extensions
            .iter()
            .find_map(|e| Arc::clone(e).downcast::<T>().ok())
        {
            return found;
        }
        let created = Arc::new(T::default());
        extensions.push(Arc::clone(&created) as Arc<dyn Any + Send + Sync>);
        created
    }

    /// Whether signature transactions carry a COSE-signed root, so that
    /// [`Ledger::cose_receipt`] can answer.
    pub(crate) fn signs_cose(&self) -> bool {
        self.signs_cose
    }

    /// This ledger's part in replication: [`Role::Standalone`] unless it was opened with
    /// [`LedgerConfig::primary`] or [`LedgerConfig::backup`].
    pub fn role(&self) -> Role {
        self.shared.role
    }

    /// Applies a group that consensus has committed (held by a majority), in log order, on
    /// every node.
    ///
    /// On a primary the group must be the next one it proposed; it is stored, and if it ends
    /// with a signature transaction, synced and its transactions marked Committed.
    ///
    /// On a backup the group is checked: every entry decodes, has the next seqno, a view no
    /// earlier than the one before it (views strictly ascend and may skip numbers), and
    /// re-encodes to the same bytes with the commit evidence this node derives; its leaves
    /// go into this node's own tree. A group without a signature is held (nothing stored,
    /// its transactions Unknown here) until the signed group that ends its run arrives; that
    /// signature must sign this node's own root, by a node certificate the service
    /// certificate endorses (or, with an empty node signature, carry a COSE signature by the
    /// service key). Then the whole run is stored, synced and Committed. A backup never
    /// re-signs or re-executes.
    ///
    /// # Errors
    ///
    /// [`Error::GroupRejected`] for a group that fails a check or does not follow on: the
    /// refusal also drops the run held since the last signature, so the backup is exactly as
    /// its last stored signature left it and the run must be given again from there;
    /// [`Error::InvalidInput`] on a standalone ledger; [`Error::Poisoned`] after a store
    /// failure (this one included).
    pub fn apply_group(&self, group: &ReplicatedGroup) -> Result<(), Error> {
        self.shared.apply_group(group)
    }

    /// The seqno of the newest transaction this ledger has sequenced, signature transactions
    /// included (0 for none). On a replicated primary it may not be applied yet; on a backup
    /// it is the newest stored.
    pub fn last_sequenced(&self) -> u64 {
        self.shared.last_reserved()
    }

    /// The newest committed transaction: the one just before the newest durable signature
    /// transaction (a signature commits what precedes it), or `None` before the first commit.
    /// A status read of it gives [`TxStatus::Committed`].
    pub fn last_committed(&self) -> Option<TxId> {
        let signature = self.shared.committed_sig.load(Ordering::Acquire);
        let seqno = signature.checked_sub(1).filter(|s| *s > 0)?;
        TxId::new(self.view_of(seqno), seqno).ok()
    }

    /// The newest durable signature transaction, which commits every transaction before it
    /// ([`Ledger::last_committed`] is the one just before it), or `None` before the first.
    pub fn committed_signature(&self) -> Option<TxId> {
        let seqno = self.shared.committed_sig.load(Ordering::Acquire);
        if seqno == 0 {
            return None;
        }
        TxId::new(self.view_of(seqno), seqno).ok()
    }

    /// The committed ledger after seqno `after` through the durable signature transaction
    /// `through`, as the [`ReplicatedGroup`]s a backup accepts ([`Ledger::apply_group`]):
    /// each group is the stored entries from the one after the previous group (or after
    /// `after`) through the next signature transaction, so every group ends at a signature
    /// and none holds one anywhere else. A backup whose store ends at seqno `after` (a backup's
    /// store always ends at a signature) checks and stores them in order exactly as it would
    /// the primary's own groups.
    ///
    /// The groups are read in pages: a call returns whole groups, in order, until they hold
    /// `max_bytes` of entry bytes or more, and at least one group (however large) while any is
    /// left; call again with `after` at the last returned group's last seqno for the next page.
    /// An empty result means there is nothing after `after` through `through`. A primary
    /// signs at least every `sig_tx_interval` transactions and every `sig_interval`, which
    /// bounds a group.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "signature transaction"`, [`Problem::Mismatch`]) if
    /// `through` is not a signature transaction of this ledger that is durable (at or before
    /// [`Ledger::committed_signature`]); [`Error::Store`] for storage failures;
    /// [`Error::Corruption`] if the store's entries or signature index have a gap.
    pub fn replicated_groups(
        &self,
        after: u64,
        through: TxId,
        max_bytes: usize,
    ) -> Result<Vec<ReplicatedGroup>, Error> {
        let committed = self.shared.committed_sig.load(Ordering::Acquire);
        let end = through.seqno();
        let refuse = |found: String| {
            Error::invalid(
                "signature transaction",
                Problem::Mismatch {
                    expected: format!(
                        "a durable signature transaction of this ledger (at or before seqno \
                         {committed})"
                    ),
                    found,
                },
            )
        };
        if end > committed {
            return Err(refuse(format!("{through}, not durable here")));
        }
        if self.shared.store.signature(end)?.is_none() {
            return Err(refuse(format!("{through}, not a signature transaction")));
        }
        let view = self.view_of(end);
        if view != through.view() {
            return Err(refuse(format!("{through}, in view {view} here")));
        }
        let store = &self.shared.store;
        let mut groups = Vec::new();
        let mut bytes = 0usize;
        let mut next = after.saturating_add(1);
        while next <= end && (groups.is_empty() || bytes < max_bytes) {
            // The first signature at or after `next`: `through` is one, so there is one.
            let last = match store.signature_after(next - 1)? {
                Some((seqno, _)) if seqno <= end => seqno,
                other => {
                    return Err(Error::corruption(
                        "signature index",
                        format!(
                            "the first signature after seqno {} is {:?}, not one at or before \
                             signature transaction {through}",
                            next - 1,
                            other.map(|(seqno, _)| seqno)
                        ),
                    ))
                }
            };
            let mut group = ReplicatedGroup::default();
            let mut at = next;
            'group: loop {
                let page = store.entries(at..=last, ITER_PAGE)?;
                if page.is_empty() {
                    return Err(missing_entry(at, None));
                }
                for (seqno, entry) in page {
                    if seqno != at {
                        return Err(missing_entry(at, Some(seqno)));
                    }
                    bytes = bytes.saturating_add(entry.len());
                    group.entries.push(ReplicatedEntry {
                        seqno,
                        bytes: entry,
                    });
                    if seqno == last {
                        break 'group;
                    }
                    // Below `last`, so no overflow.
                    at = seqno + 1;
                }
            }
            groups.push(group);
            match last.checked_add(1) {
                Some(after_last) => next = after_last,
                None => break,
            }
        }
        Ok(groups)
    }

    /// The service id: lowercase hex SHA-256 of the service certificate's DER. Signed
    /// governance requests name it, so a request for one ledger is refused by every other.
    pub fn service_id(&self) -> &str {
        &self.service_id
    }

    /// The service certificate (PEM): the one thing a receipt verifier needs.
    pub fn service_certificate_pem(&self) -> String {
        self.service_cert_pem.clone()
    }

    /// This node's id: lowercase hex SHA-256 of its public key's SubjectPublicKeyInfo.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Issues a TLS server certificate for `server_key`, signed by the service key (in
    /// process or through the configured [`ServiceSigner`], so a service key in an HSM works
    /// too): clients that trust the service certificate, as receipt verifiers do, then trust
    /// a server presenting it for any of `dns_names` and `ip_addresses`. See
    /// [`ServiceSigner::issue_server_certificate`] for its contents. Returns it in DER.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "service_signer"`, [`Problem::Mismatch`]) if this
    /// process holds no service key: the ledger's key is kept outside its store and no
    /// [`crate::LedgerConfig::service_signer`] was given; otherwise as
    /// [`ServiceSigner::issue_server_certificate`].
    pub fn issue_server_certificate(
        &self,
        server_key: &PublicKey,
        common_name: &str,
        dns_names: &[String],
        ip_addresses: &[std::net::IpAddr],
        validity: CertificateValidity,
    ) -> Result<Vec<u8>, Error> {
        let Some(service) = &self.service_signer else {
            return Err(Error::invalid(
                "service_signer",
                Problem::Mismatch {
                    expected: "the service key, to issue a server certificate: a service \
                               signer (LedgerConfig::service_signer)"
                        .into(),
                    found: "none: this ledger's service key is not held in its store".into(),
                },
            ));
        };
        service.issue_server_certificate(server_key, common_name, dns_names, ip_addresses, validity)
    }

    /// Names of the collections that hold at least one entry, sorted, at most `limit` of
    /// them, starting after `after` (pass the last name of the previous page to go on).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a `limit` of 0 or over [`MAX_PAGE_LIMIT`]
    /// (`what = "page limit"`); store failures.
    pub fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, Error> {
        check_page_limit(limit)?;
        let last = self.shared.last_reserved();
        self.shared.wait_written(last)?;
        Ok(self.shared.store.collections(after, limit)?)
    }

    /// Writes an online, consistent backup of the ledger into `dir`, which must not exist or
    /// be empty. The ledger first signs and commits everything recorded before the call
    /// ([`Ledger::flush`]), so the backup holds at least that; it keeps serving meanwhile.
    /// Restore it with [`Ledger::restore`].
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] after a store failure; [`Error::Store`] with
    /// `StoreError::TargetNotEmpty`, or `StoreError::Unsupported` for a ledger in memory;
    /// storage and file-system failures.
    pub fn backup(&self, dir: impl AsRef<std::path::Path>) -> Result<BackupInfo, Error> {
        self.flush()?;
        Ok(self.shared.store.backup(dir.as_ref())?)
    }

    /// Restores the backup in `backup_dir` (written by [`Ledger::backup`]) into
    /// `target_dir`, which must not exist or be empty, verifying every file and entry; then
    /// open it with [`Ledger::open`]. The restored ledger holds the backup's committed
    /// transactions. Its first open begins a new view and records the ledger's instance
    /// with the next epoch (see [`crate::LedgerInstance`]): governance requests signed for
    /// the ledger before the restore, for the original or for this copy, are refused, and
    /// members sign again for the restored instance ([`crate::Governance::instance`]).
    ///
    /// # Errors
    ///
    /// [`Error::Store`] with `StoreError::TargetNotEmpty` (nothing is changed),
    /// `StoreError::NotALedger` if `backup_dir` holds no backup,
    /// `StoreError::IncompatibleFormat`, or `StoreError::Corruption` if a file or the
    /// restored store does not verify (what was copied is removed again); file-system
    /// failures.
    #[cfg(feature = "rocksdb")]
    pub fn restore(
        backup_dir: impl AsRef<std::path::Path>,
        target_dir: impl AsRef<std::path::Path>,
    ) -> Result<BackupInfo, Error> {
        Ok(RocksStore::restore(backup_dir, target_dir)?)
    }

    /// Makes everything the store holds durable now: one sync, whatever the configured
    /// [`crate::Durability`]. A ledger opened with [`crate::Durability::Buffered`] never waits for a sync
    /// by itself; a caller that must know some state of it will survive a machine crash (a
    /// replicated node, before it records how far it has applied the consensus log) calls
    /// this first.
    ///
    /// A ledger stopped by something other than its store (a replicated primary whose
    /// proposals failed, or one [`Ledger::abandon`]ed) still syncs what its store holds.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] if the sync fails (a store an earlier failure poisoned fails at once),
    /// which poisons the ledger.
    pub fn sync(&self) -> Result<(), Error> {
        self.shared.sync_store()
    }

    /// Gives this ledger up through any shared handle: it records, writes and signs nothing
    /// more (a write already handed to the store may still land), and every call blocked on it (a read waiting for an entry to be written, a wait
    /// for a commit) and every later one fails with [`Error::Poisoned`] (stage `"abandon"`,
    /// cause `reason`). What was stored stays stored; closing it afterwards reports the same
    /// error, and reopening the store is the way back.
    ///
    /// A replicated node calls it on a primary that is no longer the primary, whose pending
    /// transactions consensus will never apply: readers waiting on them would otherwise wait
    /// for ever, and hold the handle the node needs to reopen the store in its new role.
    pub fn abandon(&self, reason: &str) {
        self.shared.abandon(reason);
    }

    /// Signs and writes everything recorded, stops the ledger's threads, and closes the store.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] if a store failure left the last transactions unwritten.
    pub fn close(self) -> Result<(), Error> {
        self.shutdown();
        self.shared.check_poisoned()
    }

    fn shutdown(&self) {
        let mut threads = self.threads.lock();
        if !threads.running() {
            return;
        }
        self.shared.shutdown(&mut threads);
        // Everything is signed and written: mark the stop as clean, unless a failure means
        // the next open must treat it as a crash.
        if self.shared.check_poisoned().is_ok() {
            let clean = Group {
                meta: vec![(META_RUNNING.into(), None)],
                commit: true,
                ..Group::default()
            };
            if let Err(e) = self.shared.store.write_group(&clean) {
                tracing::warn!(error = %e, "could not record a clean close");
            }
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The instant `timeout` from now, saturating: a timeout too long for the clock (say
/// `Duration::MAX`) waits as long as the clock can express, about a century, instead of
/// overflowing.
fn deadline_after(timeout: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let now = Instant::now();
    now.checked_add(timeout)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

/// The instance record an open must write, if any: a new ledger id at epoch 1 if the ledger
/// has no record (genesis, or a ledger written by older code), the next epoch of the current
/// record after a restore, else none.
fn instance_to_record(
    store: &dyn Store,
    last_seqno: u64,
    restored: bool,
) -> Result<Option<LedgerInstance>, Error> {
    let current = match store.table_get(SERVICE_TABLE, INSTANCE_KEY, last_seqno)? {
        Some(version) => version.value,
        None => None,
    };
    let current =
        match current {
            Some(bytes) => Some(LedgerInstance::decode(&bytes).map_err(|e| {
                Error::corruption("ledger instance record", e).in_table(SERVICE_TABLE)
            })?),
            None => None,
        };
    Ok(match current {
        None => Some(LedgerInstance::generate()?),
        Some(current) if restored => Some(current.restored()),
        Some(_) => None,
    })
}

fn required_meta(store: &dyn Store, key: &str) -> Result<Vec<u8>, Error> {
    store
        .meta(key)?
        .ok_or_else(|| Error::corruption(format!("metadata {key}"), "missing"))
}

/// A gap in a committed ledger's entries: `seqno` missing (`found` instead, if anything).
fn missing_entry(seqno: u64, found: Option<u64>) -> Error {
    let found = found.map(|f| format!(" (found {f})")).unwrap_or_default();
    Error::corruption(
        "entry",
        format!("seqno {seqno} missing from a committed ledger{found}"),
    )
}

/// Iterator over a collection's entries; see [`Ledger::entries`].
#[derive(Debug)]
pub struct EntryIter<'a> {
    ledger: &'a Ledger,
    collection: String,
    to: u64,
    pager: Pager<Entry>,
}

impl Iterator for EntryIter<'_> {
    type Item = Result<Entry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (ledger, collection, to) = (self.ledger, &self.collection, self.to);
        self.pager.next_with(|start| {
            check_name("collection", collection, true)?;
            let page = ledger.page_seqnos(collection, start, to, ITER_PAGE)?;
            Ok((page.entries, page.next))
        })
    }
}

/// Iterator over the versions of a table key, oldest first; see [`Ledger::table_history`].
#[derive(Debug)]
pub struct KeyHistoryIter<'a> {
    ledger: &'a Ledger,
    table: String,
    key: Vec<u8>,
    pager: Pager<KeyVersion>,
}

impl Iterator for KeyHistoryIter<'_> {
    type Item = Result<KeyVersion, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let (ledger, table, key) = (self.ledger, &self.table, &self.key);
        self.pager.next_with(|start| {
            check_name("table", table, true)?;
            let page = ledger.history_page(table, key, start, ITER_PAGE)?;
            Ok((page.versions, page.next))
        })
    }
}

/// What the paged iterators share: the current page, where the next one starts, and whether
/// the range is exhausted (after its end or after an error).
#[derive(Debug)]
struct Pager<T> {
    from: Option<u64>,
    buffer: std::collections::VecDeque<T>,
    done: bool,
}

impl<T> Pager<T> {
    fn starting_at(seqno: u64) -> Self {
        Pager {
            from: Some(seqno),
            buffer: std::collections::VecDeque::new(),
            done: false,
        }
    }

    /// The next item, reading the page that starts at the next seqno with `fetch` when the
    /// current one is used up.
    fn next_with(
        &mut self,
        fetch: impl FnOnce(u64) -> Result<(Vec<T>, Option<Cursor>), Error>,
    ) -> Option<Result<T, Error>> {
        if let Some(item) = self.buffer.pop_front() {
            return Some(Ok(item));
        }
        if self.done {
            return None;
        }
        let Some(start) = self.from.take() else {
            self.done = true;
            return None;
        };
        match fetch(start) {
            Ok((items, next)) => {
                self.from = next.as_ref().map(Cursor::seqno).and_then(Result::ok);
                self.done = self.from.is_none();
                self.buffer.extend(items);
                self.buffer.pop_front().map(Ok)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Resolves when a transaction is no longer Pending; see [`Ledger::commit_future`].
#[derive(Debug)]
pub struct CommitFuture<'a> {
    ledger: &'a Ledger,
    tx: TxId,
    asked: bool,
}

impl Future for CommitFuture<'_> {
    type Output = Result<TxStatus, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Err(e) = self.ledger.shared.check_poisoned() {
            return Poll::Ready(Err(e));
        }
        let status = self.ledger.status(self.tx);
        if status != TxStatus::Pending {
            return Poll::Ready(Ok(status));
        }
        if !self.asked {
            self.asked = true;
            self.ledger.shared.want_commit(self.tx.seqno());
        }
        self.ledger
            .shared
            .register_waker(self.tx.seqno(), cx.waker().clone());
        let status = self.ledger.status(self.tx);
        if status != TxStatus::Pending {
            return Poll::Ready(Ok(status));
        }
        Poll::Pending
    }
}
