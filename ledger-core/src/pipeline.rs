//! The commit pipeline: from a submitted write set to a durable, signed transaction.
//!
//! Four kinds of thread take part, and no lock is held across hashing, signing or I/O:
//!
//! 1. **Appenders** (the callers of `submit`) encode the body outside any lock, take the
//!    sequencer lock once, only to reserve the next seqno, then, outside the lock, patch the
//!    header, hash the entry, compute its commit evidence and its leaf, and send the prepared
//!    transaction to the committer over a channel (no lock: appenders never wait for each
//!    other after the reservation). Every hash of a transaction but the tree's interior nodes
//!    is computed here, on as many threads as there are appenders.
//! 2. **The committer** receives prepared transactions in whatever order they were finished,
//!    puts them back in seqno order in its reorder buffer and takes the ready prefix (a
//!    transaction still being prepared holds up only the ones after it), pushes their leaves
//!    into the Merkle tree, gathers the transactions into groups, and decides when to sign.
//!    Caught up with busy appenders, it naps for [`POLL_INTERVAL`] and looks again; idle for
//!    longer, it blocks on the channel, and whatever else must wake it (a commit or a write
//!    asked for, shutdown) sends a wake-up on the same channel. To sign it
//!    reserves the next seqno `s` like any appender, waits until every seqno before `s` is
//!    processed, signs the root over leaves `0..s` with the node signer and records the
//!    signature transaction at `s`.
//! 3. **The writer** appends groups to the store in order. Groups without a signature are
//!    buffered writes; a group ending in a signature is a commit group.
//! 4. **The syncer** waits until each commit group is durable (synced in fsync mode), then
//!    advances the committed watermark and wakes waiters. The writer goes on appending while a
//!    sync is in flight, so one sync covers every group appended before it started.
//!
//! # Invariants
//!
//! * Seqnos are assigned once each, contiguously, under the sequencer lock. Every reserved
//!   seqno from `base` on is either a signature slot (listed in the sequencer, recorded by the
//!   committer itself) or is sent to the committer exactly once; the committer's reorder
//!   buffer holds the ones received, at their offset from `base`.
//! * The tree's length is `processed + 1` (leaf 0 is the zero leaf), and the committer is its
//!   only writer.
//! * `written >= s` implies every entry up to `s` can be read from the store; a transaction
//!   with seqno `< committed_sig` is Committed.
//! * A store failure poisons the ledger: later writes fail with the stored reason.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::channel::{Receiver, Sender};
use ledger_merkle::{CcfSha256, MerkleTree};
use ledger_store::{EntryRecord, Group, Store, TableWrite};
use parking_lot::{Condvar, Mutex, RwLock};

use crate::config::PipelineSettings;
use crate::cose::{self, CwtClaims};
use crate::curves::{canonical_signature, KeyAlgorithm};
use crate::entry::{self, SignaturePayload, TableOp, TxBody, TxKind};
use crate::identity::ParsedCert;
use crate::identity::{NodeSigner, ServiceSigner};
use crate::leaf::CommitSecret;
use crate::replication::{ReplicatedEntry, ReplicatedGroup, Replication, Replicator, Role};
use crate::state::{EntryLeaf, ViewHistory, COSE_SIGNATURES_TABLE, COSE_SIGNATURE_KEY, META_VIEWS};
use crate::{Error, Problem, TxId};

/// Most transactions the committer takes into one group before handing it to the writer.
const MAX_GROUP_TXS: usize = 4096;
/// Messages queued for the committer before senders wait: a preallocated ring, so that
/// sending a transaction allocates nothing.
const COMMITTER_QUEUE: usize = 4096;
/// Entry buffers kept for reuse, and the largest capacity kept: at most 8 MiB held idle.
/// In the steady state an appender then encodes into a buffer the store is done with instead
/// of allocating one that another thread (the writer) would free: with the system allocator
/// such cross-thread pairs cost more than the hashing of a small entry.
const SPARE_BUFFERS: usize = 4096;
const SPARE_BUFFER_MAX: usize = 2048;
/// How long a committer that has caught up naps before looking for work again.
const POLL_INTERVAL: Duration = Duration::from_micros(50);
/// Naps without work after which the committer blocks on its channel until woken.
const IDLE_POLLS: u32 = 40;
/// Groups queued between committer and writer before the committer waits.
const WRITER_QUEUE: usize = 2;

/// A transaction encoded but not yet sequenced: what an appender brings to [`Shared::submit`].
pub(crate) struct Submission {
    kind: TxKind,
    /// The entry, its header's view and seqno still zero.
    bytes: Vec<u8>,
    claims_digest: [u8; 32],
    /// The collections appended to, for the store's collection index.
    collections: Collections,
    table_writes: TableWrites,
}

/// The collections a transaction appends to.
enum Collections {
    /// Exactly one, named in the entry itself, at the given bytes if known
    /// ([`entry::collection_at`], else [`entry::first_collection`]): the hot path of single
    /// appends carries no copy of the name.
    InEntry(Option<std::ops::Range<usize>>),
    /// Any number, named here.
    Listed(Vec<String>),
}

impl Submission {
    /// Encodes `body` and keeps what the store indexes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the body does not encode within the entry format's limit.
    pub(crate) fn new(kind: TxKind, body: TxBody) -> Result<Self, Error> {
        let bytes = entry::encode_unsequenced(kind, &body)?;
        Ok(Submission {
            kind,
            bytes,
            claims_digest: body.claims_digest,
            collections: Collections::Listed(
                body.appends.into_iter().map(|a| a.collection).collect(),
            ),
            table_writes: body
                .writes
                .into_iter()
                .map(|w| (w.table, w.key, w.value))
                .collect(),
        })
    }

    /// A user transaction appending `contents` to `collection` and nothing else, encoded
    /// straight from the borrowed input.
    ///
    /// # Errors
    ///
    /// As [`Submission::new`].
    pub(crate) fn single_append(
        collection: &str,
        contents: &[u8],
        buffer: Vec<u8>,
    ) -> Result<Self, Error> {
        let (bytes, name_at) =
            entry::encode_single_append_unsequenced(TxKind::User, collection, contents, buffer)?;
        Ok(Submission {
            kind: TxKind::User,
            bytes,
            claims_digest: [0; 32],
            collections: Collections::InEntry(name_at),
            table_writes: Vec::new(),
        })
    }
}

/// A sequenced transaction with its entry and leaf hashed, waiting to be processed in seqno
/// order.
pub(crate) struct Prepared {
    kind: TxKind,
    /// The entry with its final header, and its digest (the write set digest of the leaf).
    pub(crate) record: EntryRecord,
    /// The transaction's Merkle leaf (SPEC section 3), hashed by the appender so that the
    /// committer, the one thread every transaction passes through, hashes only the tree's
    /// interior nodes.
    pub(crate) leaf: [u8; 32],
    rest: Rest,
}

impl Prepared {
    /// The transaction's table writes (none for a single append).
    pub(crate) fn table_writes(&self) -> &TableWrites {
        match &self.rest {
            Rest::SingleAppend(_) => &NO_TABLE_WRITES,
            Rest::Other(boxed) => &boxed.1,
        }
    }
}

/// The table writes of a user transaction: `(table, key, value or None for a removal)`.
type TableWrites = Vec<(String, Vec<u8>, Option<Vec<u8>>)>;

static NO_TABLE_WRITES: TableWrites = Vec::new();

/// What a prepared transaction adds to the store besides its entry: kept inline for a single
/// append, boxed otherwise, so that a prepared transaction (moved several times between the
/// appender and the group) stays small on the hot path.
enum Rest {
    /// One append and nothing else; the collection's name is in the entry, at
    /// `(start, len)` if known.
    SingleAppend(Option<(u32, u32)>),
    /// Anything else.
    Other(Box<(Collections, TableWrites)>),
}

impl Rest {
    fn new(collections: Collections, table_writes: TableWrites) -> Self {
        match collections {
            Collections::InEntry(at) if table_writes.is_empty() => {
                let known = at.is_some();
                let packed = at.and_then(|at| {
                    Some((u32::try_from(at.start).ok()?, u32::try_from(at.len()).ok()?))
                });
                if packed.is_some() || !known {
                    Rest::SingleAppend(packed)
                } else {
                    Rest::Other(Box::new((Collections::InEntry(None), table_writes)))
                }
            }
            collections => Rest::Other(Box::new((collections, table_writes))),
        }
    }

    fn into_parts(self) -> (Collections, TableWrites) {
        match self {
            Rest::SingleAppend(at) => (
                Collections::InEntry(at.map(|(start, len)| {
                    let start = start as usize;
                    start..start + len as usize
                })),
                Vec::new(),
            ),
            Rest::Other(boxed) => *boxed,
        }
    }
}

/// What appenders and waiters send the committer.
enum ToCommitter {
    /// A sequenced transaction, hashed.
    Ready(Prepared),
    /// Something in the sequencer changed that the committer must look at (a commit or a
    /// write asked for, shutdown).
    Wake,
}

/// Reorder buffer capacity kept after a burst of pending transactions has drained.
const REORDER_KEEP: usize = 1 << 16;

/// Everything behind the sequencer lock.
struct Sequencer {
    view: u64,
    /// The next transaction the committer will process: everything below it is in the tree.
    /// Written by the committer once per round; appenders only compare against it for room.
    base: u64,
    /// The seqno the next reservation gets.
    next: u64,
    /// Reserved signature slots not yet signed, ascending.
    signature_slots: VecDeque<u64>,
    /// The committer must sign so that every seqno up to this one is covered.
    commit_wanted: u64,
    /// Seqno of the newest transaction that a signature may still have to cover: the newest
    /// that is not a signature, or one below the newest signature when the store ends with
    /// one (0: none). Only up to here does anything need signing.
    last_recorded: u64,
    /// A reader waits until this seqno is in the store.
    write_wanted: u64,
    /// Seqno of the newest signature slot reserved.
    last_signature_slot: u64,
    /// Appenders are waiting for room (`next - base` reached `max_pending`).
    appenders_waiting: bool,
    shutdown: bool,
}

impl Sequencer {
    /// Reserves the next seqno as a signature slot.
    fn reserve_signature(&mut self) -> u64 {
        let s = self.next;
        self.next += 1;
        self.signature_slots.push_back(s);
        self.last_signature_slot = s;
        s
    }
}

/// A group handed from the committer to the writer.
pub(crate) struct WriteJob {
    group: Group,
    last_seqno: u64,
    signature: Option<Arc<RootSignature>>,
}

/// A commit group appended to the store, waiting for its sync.
struct SyncJob {
    ticket: ledger_store::GroupTicket,
    signature: Arc<RootSignature>,
}

/// A durable signature, kept in memory so that receipts for recent transactions need no
/// store lookup or decoding of the signature record.
#[derive(Debug)]
pub(crate) struct RootSignature {
    pub(crate) seqno: u64,
    pub(crate) cert: Arc<str>,
    pub(crate) node_id: Arc<str>,
    pub(crate) signature: Arc<[u8]>,
    /// The COSE signed root the signature transaction records, if it records one and this
    /// signature was made by this process (one read from the store leaves it `None`; the
    /// store's COSE signatures table has it).
    pub(crate) cose: Option<Arc<[u8]>>,
}

impl RootSignature {
    pub(crate) fn from_payload(payload: &SignaturePayload) -> Self {
        RootSignature {
            seqno: payload.seqno,
            cert: Arc::from(payload.node_cert_pem.as_str()),
            node_id: Arc::from(payload.node_id.as_str()),
            signature: Arc::from(payload.signature.as_slice()),
            cose: None,
        }
    }
}

/// Most signatures kept in [`Shared::recent_signatures`].
const RECENT_SIGNATURES: usize = 1 << 16;

/// State shared by the ledger handle and its threads.
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) secret: CommitSecret,
    pub(crate) signer: Arc<dyn NodeSigner>,
    /// Signs each root with COSE too, in [`crate::SigningMode::Dual`].
    cose: Option<CoseSigner>,
    pub(crate) settings: PipelineSettings,
    pub(crate) tree: RwLock<MerkleTree<CcfSha256>>,
    pub(crate) views: RwLock<ViewHistory>,
    seq: Mutex<Sequencer>,
    /// Prepared transactions and wake-ups for the committer.
    to_committer: Sender<ToCommitter>,
    /// Entry buffers the store has handed back, for appenders to encode into (see
    /// [`Shared::entry_buffer`]).
    spare_buffers: crossbeam::queue::ArrayQueue<Vec<u8>>,
    /// Wakes appenders waiting for room (see [`Sequencer::appenders_waiting`]).
    seq_space: Condvar,
    /// Highest seqno whose entry is in the store.
    pub(crate) written: AtomicU64,
    /// Seqno of the newest durable signature transaction (0: none yet).
    pub(crate) committed_sig: AtomicU64,
    /// The newest durable signatures by seqno (at most [`RECENT_SIGNATURES`]).
    pub(crate) recent_signatures: RwLock<std::collections::BTreeMap<u64, Arc<RootSignature>>>,
    progress: Mutex<()>,
    progress_cv: Condvar,
    poison: Mutex<Option<(&'static str, String)>>,
    poisoned: AtomicBool,
    wakers: Mutex<Vec<(u64, Waker)>>,
    /// This ledger's part in replication (fixed when it was opened).
    pub(crate) role: Role,
    /// A primary's consensus layer, which its writer hands each group to.
    replicator: Option<Arc<dyn Replicator>>,
    /// A primary's groups handed to the replicator and not yet applied, in order.
    proposed: Mutex<VecDeque<WriteJob>>,
    /// A backup's checking state. Held by `apply_group` throughout, so that groups are
    /// applied one at a time.
    applying: Mutex<BackupState>,
    /// The service certificate, which endorses every node certificate a backup accepts.
    service_cert: ParsedCert,
    /// See [`PipelineInit::node_cert_pem`].
    node_cert_pem: String,
    node_key: KeyAlgorithm,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("written", &self.written.load(Ordering::Relaxed))
            .field("committed_sig", &self.committed_sig.load(Ordering::Relaxed))
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What signs the COSE root signatures, when the ledger's signing mode asks for them.
pub(crate) struct CoseSigner {
    /// The service key.
    service: Arc<dyn ServiceSigner>,
    /// Its certificate's key and key id, parsed once.
    root_signer: cose::RootSigner,
    /// The `iss` claim: the ledger's service id.
    issuer: String,
    /// The `sub` claim.
    subject: String,
    /// Whether the node signs the root as well ([`crate::SigningMode::Dual`]); if not
    /// ([`crate::SigningMode::CoseOnly`]) the signature payload's node signature is empty.
    node_signs: bool,
}

impl CoseSigner {
    /// A COSE signer for `service`, whose certificate must hold a P-256 key.
    ///
    /// # Errors
    ///
    /// As [`cose::RootSigner::new`].
    pub(crate) fn new(
        service: Arc<dyn ServiceSigner>,
        issuer: String,
        subject: String,
        node_signs: bool,
    ) -> Result<Self, Error> {
        Ok(Self {
            root_signer: cose::RootSigner::new(&*service)?,
            service,
            issuer,
            subject,
            node_signs,
        })
    }
}

/// Settings the pipeline needs when it starts.
pub(crate) struct PipelineInit {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) secret: CommitSecret,
    pub(crate) signer: Arc<dyn NodeSigner>,
    pub(crate) cose: Option<CoseSigner>,
    pub(crate) settings: PipelineSettings,
    pub(crate) tree: MerkleTree<CcfSha256>,
    pub(crate) views: ViewHistory,
    /// Seqno of the last transaction in the store.
    pub(crate) last_seqno: u64,
    /// Seqno of the newest durable signature in the store.
    pub(crate) committed_sig: u64,
    /// Sign at once (a new view must begin with a signature).
    pub(crate) sign_now: bool,
    /// Standalone, primary or backup.
    pub(crate) replication: Replication,
    /// The service certificate.
    pub(crate) service_cert: ParsedCert,
    /// The node certificate as signature transactions record it (canonical PEM), and its
    /// key's algorithm.
    pub(crate) node_cert_pem: String,
    pub(crate) node_key: KeyAlgorithm,
}

/// Join handles of the pipeline's threads.
#[derive(Debug)]
pub(crate) struct Threads {
    committer: Option<std::thread::JoinHandle<()>>,
    writer: Option<std::thread::JoinHandle<()>>,
    syncer: Option<std::thread::JoinHandle<()>>,
}

impl Threads {
    /// Whether the threads have not been stopped yet.
    pub(crate) fn running(&self) -> bool {
        self.committer.is_some() || self.writer.is_some() || self.syncer.is_some()
    }
}

impl Shared {
    pub(crate) fn start(init: PipelineInit) -> Result<(Arc<Shared>, Threads), Error> {
        let view = init.views.current();
        let first = init.last_seqno + 1;
        let (to_committer, from_appenders) = crossbeam::channel::bounded(COMMITTER_QUEUE);
        let mut sequencer = Sequencer {
            view,
            base: first,
            next: first,
            signature_slots: VecDeque::new(),
            commit_wanted: 0,
            // A store that ends with a signature has nothing left to sign.
            last_recorded: if init.committed_sig == init.last_seqno {
                init.last_seqno.saturating_sub(1)
            } else {
                init.last_seqno
            },
            write_wanted: 0,
            last_signature_slot: init.last_seqno,
            appenders_waiting: false,
            shutdown: false,
        };
        // A new view begins with a signature: its slot is reserved before any appender can
        // take a seqno.
        if init.sign_now {
            sequencer.reserve_signature();
            sequencer.commit_wanted = init.last_seqno;
        }
        let shared = Arc::new(Shared {
            store: init.store,
            secret: init.secret,
            signer: init.signer,
            cose: init.cose,
            settings: init.settings,
            tree: RwLock::new(init.tree),
            views: RwLock::new(init.views),
            seq: Mutex::new(sequencer),
            to_committer,
            spare_buffers: crossbeam::queue::ArrayQueue::new(SPARE_BUFFERS),
            seq_space: Condvar::new(),
            written: AtomicU64::new(init.last_seqno),
            committed_sig: AtomicU64::new(init.committed_sig),
            recent_signatures: RwLock::new(std::collections::BTreeMap::new()),
            progress: Mutex::new(()),
            progress_cv: Condvar::new(),
            poison: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
            role: init.replication.role(),
            replicator: match init.replication {
                Replication::Primary { replicator, .. } => Some(replicator),
                Replication::Standalone | Replication::Backup => None,
            },
            proposed: Mutex::new(VecDeque::new()),
            applying: Mutex::new(BackupState::default()),
            service_cert: init.service_cert,
            node_cert_pem: init.node_cert_pem,
            node_key: init.node_key,
        });
        let (tx, rx) = crossbeam::channel::bounded::<WriteJob>(WRITER_QUEUE);
        let (sync_tx, sync_rx) = crossbeam::channel::bounded::<SyncJob>(WRITER_QUEUE);
        let (recycle_tx, recycled) = crossbeam::channel::bounded::<Group>(WRITER_QUEUE + 1);
        let syncer_shared = Arc::clone(&shared);
        let syncer = std::thread::Builder::new()
            .name("ledger-syncer".into())
            .spawn(move || syncer_shared.syncer_loop(&sync_rx))
            .map_err(|source| Error::Io {
                operation: "starting the syncer thread",
                source,
            })?;
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer_shared.writer_loop(&rx, &sync_tx, &recycle_tx))
            .map_err(|source| Error::Io {
                operation: "starting the writer thread",
                source,
            })?;
        let committer_shared = Arc::clone(&shared);
        let last_signed = init.committed_sig;
        let committer = std::thread::Builder::new()
            .name("ledger-committer".into())
            .spawn(move || {
                let shared = Arc::clone(&committer_shared);
                let mut state = CommitterState {
                    from_appenders,
                    reorder: VecDeque::new(),
                    base: first,
                    idle_polls: 0,
                    to_writer: tx,
                    recycled,
                    group: Group::default(),
                    group_last: 0,
                    last_signed,
                    unsigned: 0,
                    oldest_unsigned: None,
                    batch: Vec::new(),
                    rows: GroupRows::default(),
                };
                let run = std::panic::AssertUnwindSafe(|| shared.committer_loop(&mut state));
                if std::panic::catch_unwind(run).is_err() {
                    committer_shared
                        .poison_with("committer", "the committer thread panicked".into());
                }
            })
            .map_err(|source| Error::Io {
                operation: "starting the committer thread",
                source,
            })?;
        Ok((
            shared,
            Threads {
                committer: Some(committer),
                writer: Some(writer),
                syncer: Some(syncer),
            },
        ))
    }

    /// The poison reason, if a store failure has stopped the pipeline.
    pub(crate) fn check_poisoned(&self) -> Result<(), Error> {
        if self.poisoned.load(Ordering::Acquire) {
            let (stage, cause) = self
                .poison
                .lock()
                .clone()
                .unwrap_or(("store", String::new()));
            return Err(Error::Poisoned { stage, cause });
        }
        Ok(())
    }

    /// Syncs the store (see `Ledger::sync`); a failure poisons the ledger. A ledger poisoned
    /// by something other than its store (a primary whose proposals stopped, or abandoned)
    /// still syncs what its store holds.
    pub(crate) fn sync_store(&self) -> Result<(), Error> {
        if let Err(e) = self.store.sync() {
            self.poison_with("sync", e.to_string());
            return Err(e.into());
        }
        Ok(())
    }

    /// Poisons the ledger on request (see `Ledger::abandon`); the first poison's reason stays.
    pub(crate) fn abandon(&self, reason: &str) {
        if self.poisoned.load(Ordering::Acquire) {
            return;
        }
        self.poison_with("abandon", reason.to_owned());
    }

    fn poison_with(&self, stage: &'static str, cause: String) {
        tracing::error!(stage, %cause, "ledger poisoned");
        *self.poison.lock() = Some((stage, cause));
        self.poisoned.store(true, Ordering::Release);
        self.notify_progress();
    }

    fn notify_progress(&self) {
        {
            let _guard = self.progress.lock();
            self.progress_cv.notify_all();
        }
        let committed = self.committed_sig.load(Ordering::Acquire);
        let poisoned = self.poisoned.load(Ordering::Acquire);
        let mut wakers = self.wakers.lock();
        let mut i = 0;
        while i < wakers.len() {
            if poisoned || wakers[i].0 < committed {
                wakers.swap_remove(i).1.wake();
            } else {
                i += 1;
            }
        }
    }

    pub(crate) fn register_waker(&self, seqno: u64, waker: Waker) {
        self.wakers.lock().push((seqno, waker));
        // The commit may have landed between the caller's check and the registration.
        if self.committed_sig.load(Ordering::Acquire) > seqno
            || self.poisoned.load(Ordering::Acquire)
        {
            self.notify_progress();
        }
    }

    /// Current view and the seqno the next transaction will get.
    pub(crate) fn head(&self) -> (u64, u64) {
        let seq = self.seq.lock();
        (seq.view, seq.next)
    }

    /// Records a transaction: see the module documentation for the steps.
    pub(crate) fn submit(&self, submission: Submission) -> Result<TxId, Error> {
        self.check_poisoned()?;
        if self.role == Role::Backup {
            return Err(Error::NotPrimary { primary: None });
        }
        let tx_id = {
            let mut seq = self.seq.lock();
            loop {
                if seq.shutdown {
                    return Err(Error::Closed);
                }
                self.check_poisoned()?;
                // Room for this seqno and a signature slot before it.
                if seq.next - seq.base < self.settings.max_pending as u64 {
                    break;
                }
                seq.appenders_waiting = true;
                self.seq_space.wait_for(&mut seq, Duration::from_millis(50));
            }
            // Signatures by count are placed by the sequencer itself, so that each covers
            // about `sig_tx_interval` transactions however far appenders run ahead.
            if seq.next - seq.last_signature_slot > self.settings.sig_tx_interval.get() {
                seq.reserve_signature();
            }
            let tx_id = TxId::new(seq.view, seq.next)?;
            seq.next += 1;
            seq.last_recorded = tx_id.seqno();
            tx_id
        };
        let prepared = prepare(&self.secret, tx_id, submission);
        if self
            .to_committer
            .send(ToCommitter::Ready(prepared))
            .is_err()
        {
            // The committer has stopped, which poisons the ledger.
            self.check_poisoned()?;
            return Err(Error::Closed);
        }
        Ok(tx_id)
    }

    /// A buffer to encode an entry into: one the store handed back, or a new one.
    pub(crate) fn entry_buffer(&self) -> Vec<u8> {
        self.spare_buffers.pop().unwrap_or_default()
    }

    /// Wakes the committer to look at the sequencer.
    fn wake_committer(&self) {
        // Fails only once the committer has stopped, when there is nothing to wake.
        let _ = self.to_committer.send(ToCommitter::Wake);
    }

    /// Asks the committer to sign so that `seqno` becomes committed.
    ///
    /// Only transactions that a signature may still have to cover count: asking for a
    /// signature transaction, or for anything a signature already covers, asks for nothing,
    /// so no caller can make the ledger sign (and grow) when nothing needs signing.
    pub(crate) fn want_commit(&self, seqno: u64) {
        if self.role == Role::Backup {
            // A backup signs nothing: its transactions commit as the primary's groups apply.
            return;
        }
        let mut seq = self.seq.lock();
        let needed = seqno.min(seq.last_recorded);
        if seq.commit_wanted < needed {
            seq.commit_wanted = needed;
            drop(seq);
            self.wake_committer();
        }
    }

    /// The seqno of the last transaction reserved so far (0 if none).
    pub(crate) fn last_reserved(&self) -> u64 {
        self.seq.lock().next - 1
    }

    /// The seqno of the newest transaction other than a signature (0 if none).
    pub(crate) fn last_recorded(&self) -> u64 {
        self.seq.lock().last_recorded
    }

    /// Blocks until the entry at `seqno` is in the store (it has been reserved).
    pub(crate) fn wait_written(&self, seqno: u64) -> Result<(), Error> {
        if self.written.load(Ordering::Acquire) >= seqno {
            return Ok(());
        }
        {
            let mut seq = self.seq.lock();
            if seq.write_wanted < seqno {
                seq.write_wanted = seqno;
                drop(seq);
                self.wake_committer();
            }
        }
        let mut guard = self.progress.lock();
        loop {
            if self.written.load(Ordering::Acquire) >= seqno {
                return Ok(());
            }
            self.check_poisoned()?;
            self.progress_cv
                .wait_for(&mut guard, Duration::from_millis(20));
        }
    }

    /// Blocks until `seqno` is committed or `deadline` passes; returns whether it committed.
    pub(crate) fn wait_committed(&self, seqno: u64, deadline: Instant) -> Result<bool, Error> {
        self.want_commit(seqno);
        let mut guard = self.progress.lock();
        loop {
            if self.committed_sig.load(Ordering::Acquire) > seqno {
                return Ok(true);
            }
            self.check_poisoned()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            let step = (deadline - now).min(Duration::from_millis(50));
            self.progress_cv.wait_for(&mut guard, step);
        }
    }

    /// Stops the threads after everything sequenced has been signed and written.
    pub(crate) fn shutdown(&self, threads: &mut Threads) {
        {
            let mut seq = self.seq.lock();
            seq.shutdown = true;
            self.seq_space.notify_all();
        }
        self.wake_committer();
        if let Some(handle) = threads.committer.take() {
            if handle.join().is_err() {
                tracing::error!("ledger committer thread panicked");
            }
        }
        if let Some(handle) = threads.writer.take() {
            if handle.join().is_err() {
                tracing::error!("ledger writer thread panicked");
            }
        }
        // The writer's exit closed the syncer's channel; it finishes the syncs in flight.
        if let Some(handle) = threads.syncer.take() {
            if handle.join().is_err() {
                tracing::error!("ledger syncer thread panicked");
            }
        }
    }

    /// Appends groups to the store in order. A commit group is passed on to the syncer, so
    /// that the next groups are appended while its sync is in flight (one sync then covers
    /// all of them).
    ///
    /// Each appended group, left empty by the store, goes back to the committer to be filled
    /// again, and its entries' buffers to the appenders: in the steady state nothing the
    /// pipeline hands from thread to thread is allocated by one thread and freed by another.
    fn writer_loop(
        &self,
        rx: &Receiver<WriteJob>,
        to_syncer: &Sender<SyncJob>,
        recycle: &Sender<Group>,
    ) {
        let mut spare = Vec::new();
        while let Ok(mut job) = rx.recv() {
            if self.poisoned.load(Ordering::Acquire) {
                continue;
            }
            if let Some(replicator) = &self.replicator {
                self.propose(replicator.as_ref(), job);
                continue;
            }
            match self.store.append_group_owned(&mut job.group, &mut spare) {
                Ok(ticket) => {
                    // Full (the committer has groups enough): this one is freed here.
                    let _ = recycle.try_send(std::mem::take(&mut job.group));
                    for buffer in spare.drain(..) {
                        if buffer.capacity() <= SPARE_BUFFER_MAX
                            && self.spare_buffers.push(buffer).is_err()
                        {
                            // Full: the rest are freed here.
                            break;
                        }
                    }
                    self.written.store(job.last_seqno, Ordering::Release);
                    if let Some(signature) = job.signature {
                        if to_syncer.send(SyncJob { ticket, signature }).is_err() {
                            self.poison_with("syncer", "the syncer thread has stopped".into());
                        }
                    }
                    self.notify_progress();
                }
                Err(e) => self.poison_with("write", e.to_string()),
            }
        }
    }

    /// A primary's writer: hands the group to the replicator and keeps it until it is applied.
    fn propose(&self, replicator: &dyn Replicator, job: WriteJob) {
        if job.group.entries.is_empty() {
            return;
        }
        let group = ReplicatedGroup {
            entries: job
                .group
                .entries
                .iter()
                .map(|e| ReplicatedEntry {
                    seqno: e.seqno,
                    bytes: e.bytes().to_vec(),
                })
                .collect(),
        };
        // Queued before the proposal, so that an apply racing the proposal finds it.
        self.proposed.lock().push_back(job);
        if let Err(e) = replicator.propose(group) {
            self.poison_with("replicate", e.to_string());
        }
    }

    /// Stores a group that consensus has committed, and marks it Committed if it is signed.
    /// On a primary the group must be the oldest it proposed and has not applied; on a
    /// backup it is checked first (see `replication.rs`).
    pub(crate) fn apply_group(&self, replicated: &ReplicatedGroup) -> Result<(), Error> {
        self.check_poisoned()?;
        let mut applying = self.applying.lock();
        let (mut groups, signature, new_views) = match self.role {
            Role::Standalone => {
                return Err(Error::invalid(
                    "replicated group",
                    Problem::Mismatch {
                        expected: "a primary or a backup (LedgerConfig::primary or ::backup)"
                            .into(),
                        found: "a standalone ledger".into(),
                    },
                ))
            }
            Role::Primary => {
                let mut proposed = self.proposed.lock();
                let first = replicated.first_seqno().unwrap_or(0);
                let matches = proposed.front().is_some_and(|job| {
                    job.group.entries.len() == replicated.entries.len()
                        && job.group.entries.iter().zip(&replicated.entries).all(
                            |(mine, theirs)| {
                                mine.seqno == theirs.seqno && mine.bytes() == theirs.bytes
                            },
                        )
                });
                let job = match proposed.pop_front() {
                    Some(job) if matches => job,
                    other => {
                        let reason = match &other {
                            Some(job) => format!(
                                "the group this primary proposed next, from seqno {}",
                                job.group.entries.first().map_or(0, |e| e.seqno)
                            ),
                            None => "none: this primary has no group waiting to apply".into(),
                        };
                        if let Some(job) = other {
                            proposed.push_front(job);
                        }
                        return Err(Error::GroupRejected {
                            seqno: first,
                            reason,
                        });
                    }
                };
                (vec![job.group], job.signature, Vec::new())
            }
            Role::Backup => {
                match self.check_backup_group(&mut applying, &self.service_cert, replicated)? {
                    // Held until the signature that covers it checks.
                    None => return Ok(()),
                    Some((run, signature, views)) => (run, Some(signature), views),
                }
            }
        };
        let last = groups
            .last()
            .and_then(|g| g.entries.last())
            .map_or(0, |e| e.seqno);
        if !new_views.is_empty() {
            let mut views = self.views.write();
            for (view, first) in &new_views {
                views.begin_at(*view, *first);
            }
            if let Some(group) = groups.last_mut() {
                group.meta.push((META_VIEWS.into(), Some(views.encode())));
            }
        }
        let mut spare = Vec::new();
        let mut ticket = None;
        for group in &mut groups {
            match self.store.append_group_owned(group, &mut spare) {
                Ok(t) => ticket = Some(t),
                Err(e) => {
                    self.poison_with("write", e.to_string());
                    return Err(e.into());
                }
            }
        }
        if self.role == Role::Backup {
            let mut seq = self.seq.lock();
            seq.view = self.views.read().current();
            seq.base = last + 1;
            seq.next = last + 1;
            seq.last_signature_slot = last;
        }
        self.written.store(last, Ordering::Release);
        if let (Some(signature), Some(ticket)) = (signature, ticket) {
            if let Err(e) = self.store.await_commit(ticket) {
                self.poison_with("sync", e.to_string());
                return Err(e.into());
            }
            let seqno = signature.seqno;
            {
                let mut recent = self.recent_signatures.write();
                recent.insert(seqno, signature);
                while recent.len() > RECENT_SIGNATURES {
                    recent.pop_first();
                }
            }
            self.committed_sig.store(seqno, Ordering::Release);
        }
        drop(applying);
        self.notify_progress();
        Ok(())
    }

    /// Waits for each commit group to be durable, then advances the committed watermark.
    fn syncer_loop(&self, rx: &Receiver<SyncJob>) {
        while let Ok(job) = rx.recv() {
            if self.poisoned.load(Ordering::Acquire) {
                continue;
            }
            match self.store.await_commit(job.ticket) {
                Ok(()) => {
                    let seqno = job.signature.seqno;
                    {
                        let mut recent = self.recent_signatures.write();
                        recent.insert(seqno, job.signature);
                        while recent.len() > RECENT_SIGNATURES {
                            recent.pop_first();
                        }
                    }
                    self.committed_sig.store(seqno, Ordering::Release);
                    self.notify_progress();
                }
                Err(e) => self.poison_with("sync", e.to_string()),
            }
        }
    }

    fn committer_loop(&self, state: &mut CommitterState) {
        loop {
            let round = self.take_ready(state);
            if !state.batch.is_empty() {
                self.process(state);
            }
            if round.sign {
                if let Err(e) = self.sign(state) {
                    self.poison_with("sign", e.to_string());
                }
            } else if round.write && !state.group.entries.is_empty() {
                self.send_group(state, None);
            }
            if round.stop {
                if !state.group.entries.is_empty() {
                    self.send_group(state, None);
                }
                return;
            }
        }
    }

    /// Puts a message from the channel into the reorder buffer.
    fn accept(&self, state: &mut CommitterState, message: ToCommitter) {
        let ToCommitter::Ready(prepared) = message else {
            return;
        };
        let seqno = prepared.record.seqno;
        // The usual case, transactions arriving in order: straight into the batch.
        if seqno == state.base && state.reorder.is_empty() && state.batch.len() < MAX_GROUP_TXS {
            state.batch.push(prepared);
            state.base += 1;
            return;
        }
        // Every seqno sent was reserved at or after `base` and is sent once.
        match seqno
            .checked_sub(state.base)
            .and_then(|offset| usize::try_from(offset).ok())
        {
            Some(offset) => {
                if state.reorder.len() <= offset {
                    state.reorder.resize_with(offset + 1, || None);
                }
                state.reorder[offset] = Some(prepared);
            }
            None => self.poison_with(
                "committer",
                format!("internal error: seqno {seqno} arrived after it was processed"),
            ),
        }
    }

    /// Takes what the appenders have sent, then moves the ready prefix of the reorder buffer
    /// (up to a transaction still being prepared or a signature slot, at most
    /// [`MAX_GROUP_TXS`] in all) into `state.batch`.
    fn receive(&self, state: &mut CommitterState) {
        while let Ok(message) = state.from_appenders.try_recv() {
            self.accept(state, message);
        }
        while state.batch.len() < MAX_GROUP_TXS {
            match state.reorder.front_mut().and_then(Option::take) {
                Some(prepared) => {
                    state.reorder.pop_front();
                    state.batch.push(prepared);
                    state.base += 1;
                }
                None => break,
            }
        }
        if state.reorder.capacity() > 4 * REORDER_KEEP && state.reorder.len() < REORDER_KEEP {
            state.reorder.shrink_to(REORDER_KEEP);
        }
    }

    /// Publishes the committer's progress to the sequencer (room for appenders).
    fn publish_base(&self, seq: &mut Sequencer, base: u64) {
        if seq.base != base {
            seq.base = base;
            if seq.appenders_waiting {
                seq.appenders_waiting = false;
                self.seq_space.notify_all();
            }
        }
    }

    /// Waits for work, then takes the ready prefix of the reorder buffer and decides what to
    /// do with it.
    fn take_ready(&self, state: &mut CommitterState) -> Round {
        loop {
            self.receive(state);
            let mut seq = self.seq.lock();
            self.publish_base(&mut seq, state.base);
            let batch = &state.batch;
            let processed_upto = state.base - 1;
            let unsigned = state.unsigned
                + batch.iter().filter(|p| p.kind != TxKind::Signature).count() as u64;
            let oldest = state.oldest_unsigned.or_else(|| {
                batch
                    .iter()
                    .any(|p| p.kind != TxKind::Signature)
                    .then(Instant::now)
            });
            let due_by_count = unsigned >= self.settings.sig_tx_interval.get()
                || seq.signature_slots.front() == Some(&state.base);
            let due_by_time = oldest.is_some_and(|t| t.elapsed() >= self.settings.sig_interval);
            let wanted = seq.commit_wanted > 0 && seq.commit_wanted >= state.last_signed;
            // A backup's committer has nothing to do but stop: its transactions arrive by
            // `apply_group`, already signed.
            let backup = self.role == Role::Backup;
            let drained = seq.shutdown && (backup || seq.next == state.base);
            let sign = !backup
                && (due_by_count
                    || due_by_time
                    || wanted
                    || (drained && processed_upto > state.last_signed));
            let stop = drained && !sign;
            // A reader waits for the buffered group: hand it to the writer without signing.
            let group_first = state.group.entries.first().map(|e| e.seqno);
            let write = seq.write_wanted > 0
                && (group_first.is_some_and(|first| seq.write_wanted >= first)
                    || batch
                        .first()
                        .is_some_and(|p| seq.write_wanted >= p.record.seqno));
            if !batch.is_empty() || sign || stop || write {
                if !batch.is_empty() {
                    state.idle_polls = 0;
                }
                return Round { sign, write, stop };
            }
            drop(seq);
            let timeout = match oldest {
                Some(t) => self.settings.sig_interval.saturating_sub(t.elapsed()),
                None => Duration::from_millis(100),
            };
            // Caught up with busy appenders: nap briefly and look again. A blocking receive
            // would spin before it sleeps and have each next send wake it, which under load
            // costs more CPU than the transactions it waits for. Only an idle committer blocks
            // on the channel, to be woken by the next message.
            if state.idle_polls < IDLE_POLLS {
                state.idle_polls += 1;
                std::thread::sleep(timeout.clamp(Duration::from_micros(10), POLL_INTERVAL));
            } else if let Ok(message) = state
                .from_appenders
                .recv_timeout(timeout.max(Duration::from_micros(50)))
            {
                self.accept(state, message);
            }
        }
    }

    /// Puts the leaves of `state.batch` into the tree and its transactions into the group.
    fn process(&self, state: &mut CommitterState) {
        let mut batch = std::mem::take(&mut state.batch);
        {
            let mut tree = self.tree.write();
            for p in &batch {
                tree.push(p.leaf);
            }
        }
        for p in batch.drain(..) {
            if p.kind != TxKind::Signature {
                state.unsigned += 1;
                state.oldest_unsigned.get_or_insert_with(Instant::now);
            }
            let seqno = p.record.seqno;
            if let Err(e) = state.rows.add(&mut state.group, p) {
                // Unreachable: `Submission::single_append` encoded this entry. Were it
                // reached, writing on without the index row would lose it.
                self.poison_with("committer", e.to_string());
            }
            state.group_last = seqno;
            if state.group.entries.len() >= MAX_GROUP_TXS {
                self.send_group(state, None);
            }
        }
        state.batch = batch;
    }

    /// Reserves the next seqno for a signature, waits for every earlier slot, then signs.
    /// Signs at the signature slot at the front of the ring, or reserves one after everything
    /// reserved so far; every signature slot reached on the way is signed too.
    fn sign(&self, state: &mut CommitterState) -> Result<(), Error> {
        let target = {
            let mut seq = self.seq.lock();
            if seq.signature_slots.front() == Some(&state.base) {
                state.base
            } else {
                seq.reserve_signature()
            }
        };
        loop {
            let (view, s) = self.drain_to_signature_slot(state);
            self.sign_at(state, view, s)?;
            if s >= target {
                return Ok(());
            }
        }
    }

    /// Processes every transaction before the next signature slot; returns its view and seqno.
    fn drain_to_signature_slot(&self, state: &mut CommitterState) -> (u64, u64) {
        loop {
            self.receive(state);
            let reached = {
                let mut seq = self.seq.lock();
                self.publish_base(&mut seq, state.base);
                (seq.signature_slots.front() == Some(&state.base)).then_some((seq.view, state.base))
            };
            if !state.batch.is_empty() {
                self.process(state);
            }
            if let Some(found) = reached {
                return found;
            }
            if state.reorder.front().is_none_or(Option::is_none) {
                if let Ok(message) = state.from_appenders.recv_timeout(Duration::from_millis(5)) {
                    self.accept(state, message);
                }
            }
        }
    }

    /// Records the signature transaction at `s`, the front slot, over leaves `0..s`.
    fn sign_at(&self, state: &mut CommitterState, view: u64, s: u64) -> Result<(), Error> {
        let root = {
            let mut tree = self.tree.write();
            debug_assert_eq!(tree.len(), s);
            tree.root()
        };
        // In COSE-only mode the COSE signature under the service key is the root's only
        // signature; the payload still names the node and its certificate.
        let signature = match &self.cose {
            Some(cose) if !cose.node_signs => Vec::new(),
            _ => {
                canonical_signature(self.node_key, &self.signer.sign_root(&root)?).map_err(|e| {
                    Error::crypto(
                        "signing a root",
                        format_args!("the node signer's signature: {e}"),
                    )
                })?
            }
        };
        let payload = SignaturePayload {
            view,
            seqno: s,
            root,
            node_id: self.signer.node_id().to_owned(),
            signature,
            node_cert_pem: self.node_cert_pem.clone(),
        };
        let record = entry::encode_signature(&payload);
        let mut signed = RootSignature::from_payload(&payload);
        let tx_id = TxId::new(view, s)?;
        let mut writes = Vec::new();
        if let Some(cose) = &self.cose {
            let claims = CwtClaims {
                issuer: cose.issuer.clone(),
                subject: cose.subject.clone(),
                issued_at: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            };
            let signed_root = cose
                .root_signer
                .sign(&*cose.service, &root, tx_id, &claims)?;
            signed.cose = Some(Arc::from(signed_root.as_slice()));
            writes.push(TableOp {
                table: COSE_SIGNATURES_TABLE.to_owned(),
                key: COSE_SIGNATURE_KEY.to_vec(),
                value: Some(signed_root),
            });
        }
        let signed = Arc::new(signed);
        let body = TxBody {
            signature: Some(payload),
            writes,
            ..TxBody::default()
        };
        let prepared = prepare(
            &self.secret,
            tx_id,
            Submission::new(TxKind::Signature, body)?,
        );
        self.tree.write().push(prepared.leaf);
        for (table, key, value) in prepared.rest.into_parts().1 {
            state.group.table_writes.push(TableWrite {
                table,
                key,
                seqno: s,
                value,
            });
        }
        state.group.entries.push(prepared.record);
        state.group.signatures.push((s, record));
        state.group_last = s;
        {
            let mut seq = self.seq.lock();
            seq.signature_slots.pop_front();
            state.base = s + 1;
            self.publish_base(&mut seq, state.base);
        }
        // The signature's own place in the reorder buffer, if the buffer reaches past it
        // (nothing is ever sent for it).
        if state.reorder.front().is_some() {
            debug_assert!(state.reorder.front().is_some_and(Option::is_none));
            state.reorder.pop_front();
        }
        state.last_signed = s;
        state.unsigned = 0;
        state.oldest_unsigned = None;
        self.send_group(state, Some(signed));
        tracing::debug!(view, seqno = s, "signed Merkle root");
        Ok(())
    }

    /// The tree's tiles changed since the last group (for the store), after which the tree
    /// keeps in memory only its newest `tree_memory_leaves` leaves (and nothing not yet
    /// readable from the store).
    pub(crate) fn take_tiles(&self, tree: &mut MerkleTree<CcfSha256>) -> Vec<ledger_merkle::Tile> {
        let tiles = tree.take_dirty_tiles();
        let keep_from = tree
            .len()
            .saturating_sub(self.settings.tree_memory_leaves)
            .min(self.written.load(Ordering::Acquire));
        if keep_from > 0 {
            tree.prune(keep_from);
        }
        tiles
    }

    fn send_group(&self, state: &mut CommitterState, signature: Option<Arc<RootSignature>>) {
        let mut next = state.recycled.try_recv().unwrap_or_default();
        next.clear();
        let mut group = std::mem::replace(&mut state.group, next);
        // The next group will likely be as large: sized now, it never grows by copying.
        state.group.entries.reserve(group.entries.len());
        state
            .group
            .collection_rows
            .reserve(group.collection_rows.len());
        group.tiles = self.take_tiles(&mut self.tree.write());
        group.commit = signature.is_some();
        let job = WriteJob {
            group,
            last_seqno: state.group_last,
            signature,
        };
        if state.to_writer.send(job).is_err() {
            self.poison_with("writer", "the writer thread has stopped".into());
        }
    }
}

/// Computes the transaction's commit evidence and its digest, patches `tx_id` and the digest
/// into the entry's header, hashes the entry and computes the leaf. The tree's interior nodes
/// are left to the committer.
pub(crate) fn prepare(secret: &CommitSecret, tx_id: TxId, submission: Submission) -> Prepared {
    let Submission {
        kind,
        mut bytes,
        claims_digest,
        collections,
        table_writes,
    } = submission;
    let commit_evidence_digest = secret.evidence(tx_id.view(), tx_id.seqno()).digest();
    entry::write_header(&mut bytes, tx_id, &commit_evidence_digest);
    let record = EntryRecord::new(tx_id.seqno(), bytes);
    let leaf = EntryLeaf {
        write_set_digest: *record.digest(),
        claims_digest,
    }
    .leaf_of_digest(&commit_evidence_digest);
    Prepared {
        kind,
        record,
        leaf,
        rest: Rest::new(collections, table_writes),
    }
}

/// What the committer does in one round.
/// (The ready transactions it took are in [`CommitterState::batch`].)
struct Round {
    /// Record a signature now.
    sign: bool,
    /// Hand the buffered group to the writer now (a reader is waiting for it).
    write: bool,
    /// Everything is drained and signed: stop.
    stop: bool,
}

struct CommitterState {
    from_appenders: Receiver<ToCommitter>,
    /// Transactions received but not yet processed, at their seqno's offset from `base`
    /// (`None`: not received yet, or a signature slot).
    reorder: VecDeque<Option<Prepared>>,
    /// The next seqno to process.
    base: u64,
    /// Rounds in a row that found nothing to do (see [`IDLE_POLLS`]).
    idle_polls: u32,
    to_writer: Sender<WriteJob>,
    /// Groups the writer has appended and emptied, to fill again.
    recycled: Receiver<Group>,
    group: Group,
    group_last: u64,
    /// Seqno of the newest signature the committer has produced.
    last_signed: u64,
    unsigned: u64,
    oldest_unsigned: Option<Instant>,
    /// Ready transactions taken from the ring, in seqno order, not yet processed; kept
    /// between rounds with its capacity.
    batch: Vec<Prepared>,
    rows: GroupRows,
}

/// What a backup keeps between groups (see `backup.rs`).
#[derive(Default)]
pub(crate) struct BackupState {
    /// Node certificates already checked against the service certificate, by PEM (bounded).
    pub(crate) endorsed: std::collections::HashMap<String, Arc<ParsedCert>>,
    pub(crate) rows: GroupRows,
    /// Groups checked but not yet covered by a signature, in order: held here, their leaves
    /// in the tree, until the signature that covers them checks.
    pub(crate) pending: Vec<Group>,
    /// Where the pending run begins (the tree's length before it).
    pub(crate) pending_from: Option<u64>,
    /// Views the pending run begins.
    pub(crate) pending_views: Vec<(u64, u64)>,
    /// Entry bytes held in `pending`.
    pub(crate) pending_bytes: usize,
}

/// Adds prepared transactions to a group: the entry, its collection index rows and its
/// table versions. Used by the committer and by a backup storing a primary's group.
#[derive(Default)]
pub(crate) struct GroupRows {
    names: Names,
}

impl GroupRows {
    /// Adds `p` to `group`.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] if a single append's entry does not name its collection (only
    /// an entry the engine did not encode could); the group is then unchanged.
    pub(crate) fn add(&mut self, group: &mut Group, p: Prepared) -> Result<(), Error> {
        let seqno = p.record.seqno;
        let (collections, table_writes) = p.rest.into_parts();
        match collections {
            Collections::InEntry(at) => match at
                .and_then(|at| entry::collection_at(p.record.bytes(), at))
                .or_else(|| entry::first_collection(p.record.bytes()))
            {
                Some(name) => {
                    let name = self.names.get(name);
                    group.collection_rows.push((name, seqno));
                }
                None => {
                    return Err(Error::corruption(
                        "entry",
                        format!("internal error: entry {seqno} does not name its collection"),
                    ))
                }
            },
            Collections::Listed(collections) => {
                for name in collections {
                    let name = self.names.get(&name);
                    group.collection_rows.push((name, seqno));
                }
            }
        }
        for (table, key, value) in table_writes {
            group.table_writes.push(TableWrite {
                table,
                key,
                seqno,
                value,
            });
        }
        group.entries.push(p.record);
        Ok(())
    }
}

/// Collection names the committer has handed to the store, so that the rows of one
/// collection share one allocation of its name.
#[derive(Default)]
struct Names {
    all: std::collections::HashSet<Arc<str>>,
    /// The names used most recently, compared before hashing: a busy ledger appends to a few
    /// collections at a time.
    recent: [Option<Arc<str>>; Names::RECENT],
    next_recent: usize,
}

impl Names {
    /// Most names remembered; past that the set starts over, bounding its memory.
    const MAX: usize = 4096;
    /// Names compared before the set is consulted.
    const RECENT: usize = 8;

    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(hit) = self.recent.iter().flatten().find(|r| &***r == name) {
            return Arc::clone(hit);
        }
        let shared = match self.all.get(name) {
            Some(shared) => Arc::clone(shared),
            None => {
                if self.all.len() >= Self::MAX {
                    self.all.clear();
                }
                let shared: Arc<str> = Arc::from(name);
                self.all.insert(Arc::clone(&shared));
                shared
            }
        };
        self.recent[self.next_recent] = Some(Arc::clone(&shared));
        self.next_recent = (self.next_recent + 1) % Self::RECENT;
        shared
    }
}
