//! `ledger_operations` and `ledger_crash_recovery`: the [`Ledger`] API driven by an
//! arbitrary operation sequence next to a model of what it has recorded.
//!
//! The ledger signs only when asked (`flush`, `wait_for_commit`, `close`), or, when the input
//! says so, every few transactions; so the model knows which transactions must be Committed
//! and which may only be Pending. Restarts go through [`Ledger::with_store`] over the same
//! store after a recovery: a clean close, or a crash (the store refuses every write from an
//! arbitrary point on, the ledger is dropped, the store is reopened). After every restart
//! the recovered store passes the offline audit, every transaction known to be committed is
//! still there with the same contents, and every other one is either committed too or
//! reported Invalid.
//!
//! Every fuzzed ledger is created with one service identity and one genesis member, so the
//! ledgers of different inputs, and the ones an input makes beside its own, share an
//! identity. Two operations make such other ledgers (issue 11, hole 2): `Twin` creates a
//! ledger with the same identity and member, and `Restore` restores the last `Backup` of
//! the fuzzed ledger (RocksDB only; in memory a backup is refused as unsupported) into a
//! copy that holds exactly the transactions recorded before the backup, in the same ledger
//! instance at the next epoch. Each other ledger and the fuzzed one refuse each other's
//! signed governance requests (`Refusal::WrongInstance`), accept their own, and every one of
//! them passes the audit.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use ledger_core::governance::{Genesis, MemberKey, Refusal, Request};
use ledger_core::{audit_ledger, audit_store, AuditOptions, AuditReport, LedgerInstance};

use ledger_core::ServiceIdentity;
use ledger_core::{Entry, Error, KeyVersion, Ledger, LedgerConfig, Transaction, TxId, TxStatus};
use ledger_store::testing::{Fault, FaultyStore};
use ledger_store::{MemoryStore, Recovery, Store};

/// Most operations taken from one input.
const MAX_OPS: usize = 40;
/// The configured largest append; inputs build bigger ones to test the limit.
const MAX_ENTRY: usize = 256;
/// The configured largest transaction: small, so that inputs reach the limit.
const MAX_TX: usize = 4096;
const WAIT: Duration = Duration::from_secs(60);

/// Collection names: multi-byte UTF-8, dots, spaces, a name of exactly 255 bytes, a name that
/// looks reserved but is not.
fn collection(i: u8) -> String {
    match i % 7 {
        0 => "audit".into(),
        1 => "ünïcödé-名前".into(),
        2 => "a.b.c".into(),
        3 => "x".into(),
        4 => "é".repeat(127) + "z",
        5 => "with space".into(),
        _ => "gov-not-reserved".into(),
    }
}

fn table(i: u8) -> String {
    ["t", "settings", "表"][usize::from(i % 3)].into()
}

fn key(i: u8) -> Vec<u8> {
    match i % 5 {
        0 => Vec::new(),
        1 => b"k".to_vec(),
        2 => vec![0, 0xff, 0],
        3 => "ключ".as_bytes().to_vec(),
        _ => vec![7; 64],
    }
}

fn contents(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().take(48).copied().collect()
}

/// Requests the ledger must refuse with `InvalidInput`, changing nothing.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Invalid {
    ReservedCollection(bool),
    ReservedTable(bool),
    EmptyName,
    LongName,
    ControlCharacter,
    DuplicateAppend,
    EmptyTransaction,
    BigEntry,
    BigKey,
    BigTransaction,
}

#[derive(Arbitrary, Debug, Clone)]
enum LedgerOp {
    Append {
        c: u8,
        contents: Vec<u8>,
    },
    Submit {
        appends: Vec<(u8, Vec<u8>)>,
        writes: Vec<(u8, u8, Option<u8>)>,
        claims: Option<u8>,
    },
    Invalid(Invalid),
    Flush,
    WaitForCommit(u8),
    Entry {
        c: u8,
        tx: u8,
    },
    Latest(u8),
    Iterate(u8),
    Page {
        c: u8,
        from: Option<u8>,
        limit: u8,
    },
    TableGet {
        t: u8,
        k: u8,
    },
    TableGetAt {
        t: u8,
        k: u8,
        tx: u8,
    },
    TableHistory {
        t: u8,
        k: u8,
    },
    Receipt(u8),
    ConsistencyProof {
        from: u8,
        to: u8,
    },
    Reopen,
    Crash,
    FailWrite(u8),
    FailSync(u8),
    /// Creates a ledger with the same service identity and genesis member, and checks that
    /// the two refuse each other's signed requests.
    Twin,
    /// Backs the ledger up (RocksDB; refused as unsupported in memory).
    Backup,
    /// Restores the last backup into a copy beside the ledger and checks the copy: the
    /// transactions before the backup, the next epoch, requests refused both ways.
    Restore,
}

#[derive(Debug, Clone)]
struct ModelTx {
    id: TxId,
    appends: BTreeMap<String, Vec<u8>>,
    writes: BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>,
    claims: [u8; 32],
    /// Known to be committed: it must survive every crash from now on.
    committed: bool,
}

/// The service identity every fuzzed ledger is created with (generating one per input would
/// dominate the run time).
fn service() -> &'static ServiceIdentity {
    static SERVICE: OnceLock<ServiceIdentity> = OnceLock::new();
    SERVICE.get_or_init(|| {
        ServiceIdentity::generate("ledger fuzz").unwrap_or_else(|e| panic!("service identity: {e}"))
    })
}

/// The one genesis member of every fuzzed ledger.
fn member() -> MemberKey {
    MemberKey::ed25519_from_seed([7; 32])
}

fn config(auto_sign: Option<u8>) -> LedgerConfig {
    config_at("", auto_sign)
}

fn config_at(path: impl AsRef<std::path::Path>, auto_sign: Option<u8>) -> LedgerConfig {
    let every = match auto_sign {
        Some(n) => u64::from(n % 5) + 1,
        None => 1 << 40,
    };
    // A quarter of the auto-signing inputs sign in COSE-only mode: no JSON receipts, and
    // roots signed by the service key alone.
    let mode = match auto_sign {
        Some(n) if n >= 0xC0 => ledger_core::SigningMode::CoseOnly,
        _ => ledger_core::SigningMode::Dual,
    };
    LedgerConfig::new(path)
        .signing_mode(mode)
        .durability(ledger_core::Durability::Buffered)
        .genesis(Genesis::new().member(member().public_key().clone()))
        .service_identity(service().clone())
        .sig_interval(Duration::from_secs(3600))
        .sig_tx_interval(NonZeroU64::new(every).unwrap_or(NonZeroU64::MIN))
        .max_entry_size(MAX_ENTRY)
        .max_tx_size(MAX_TX)
}

/// Where the engine's store comes from and how it is reopened after a restart.
trait Backend {
    type S: Store + 'static;
    fn create(&mut self) -> (FaultyStore<Self::S>, Recovery);
    /// Reopens a store whose ledger is gone (recovering it as after a crash).
    fn reopen(&mut self, old: FaultyStore<Self::S>) -> (FaultyStore<Self::S>, Recovery);
    /// A directory for backups and restored copies, if the backend's ledgers can be backed
    /// up.
    fn scratch(&self) -> Option<&std::path::Path> {
        None
    }
}

struct Memory;

impl Backend for Memory {
    type S = MemoryStore;

    fn create(&mut self) -> (FaultyStore<MemoryStore>, Recovery) {
        let store = MemoryStore::new();
        let recovery = store.simulate_crash();
        (FaultyStore::new(store), recovery)
    }

    fn reopen(&mut self, old: FaultyStore<MemoryStore>) -> (FaultyStore<MemoryStore>, Recovery) {
        let store = old.into_inner();
        let recovery = store.simulate_crash();
        (FaultyStore::new(store), recovery)
    }
}

/// The store's directory, and a scratch directory for backups and restored copies.
#[cfg(feature = "rocksdb")]
struct Rocks(tempfile::TempDir, tempfile::TempDir);

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn new() -> Self {
        let dir = || tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        Rocks(dir(), dir())
    }

    fn open(&self) -> (FaultyStore<ledger_store::RocksStore>, Recovery) {
        let config =
            ledger_store::StoreConfig::default().durability(ledger_store::Durability::Buffered);
        let (store, recovery) = ledger_store::RocksStore::open(self.0.path(), config)
            .unwrap_or_else(|e| panic!("open the RocksStore: {e}"));
        (FaultyStore::new(store), recovery)
    }
}

#[cfg(feature = "rocksdb")]
impl Backend for Rocks {
    type S = ledger_store::RocksStore;

    fn create(&mut self) -> (FaultyStore<Self::S>, Recovery) {
        self.open()
    }

    fn reopen(&mut self, old: FaultyStore<Self::S>) -> (FaultyStore<Self::S>, Recovery) {
        drop(old.into_inner());
        self.open()
    }

    fn scratch(&self) -> Option<&std::path::Path> {
        Some(self.1.path())
    }
}

/// A backup of the fuzzed ledger: where, and what the ledger held when it was taken. (Only
/// `RocksStore` backs up, so without RocksDB none is ever made, nor read.)
#[cfg_attr(not(feature = "rocksdb"), allow(dead_code))]
struct Backup {
    dir: std::path::PathBuf,
    txs: BTreeMap<u64, ModelTx>,
    instance: LedgerInstance,
}

struct Run<B: Backend> {
    backend: B,
    store: Option<Arc<FaultyStore<B::S>>>,
    ledger: Option<Ledger>,
    config: LedgerConfig,
    auto_sign: bool,
    /// Whether failures may be injected (the crash target).
    faults: bool,
    /// A fault is armed or has fired: calls may fail with `Poisoned`.
    faulty: bool,
    view: u64,
    /// Model transactions by seqno.
    txs: BTreeMap<u64, ModelTx>,
    /// Highest seqno handed out in the current history.
    high: u64,
    /// Transactions up to this seqno may be committed: a signature was asked for after they
    /// were recorded.
    may_commit: u64,
    /// Every id handed out.
    issued: BTreeSet<TxId>,
    /// The settings the ledger was created with (other ledgers of the input take them too).
    auto_sign_setting: Option<u8>,
    /// The last backup taken, if any.
    backup: Option<Backup>,
    /// How many backups, restored copies and twins the input made.
    others: usize,
}

impl<B: Backend> Run<B> {
    fn ledger(&self) -> &Ledger {
        self.ledger
            .as_ref()
            .unwrap_or_else(|| panic!("the ledger is not open"))
    }

    fn store(&self) -> &Arc<FaultyStore<B::S>> {
        self.store
            .as_ref()
            .unwrap_or_else(|| panic!("the store is not open"))
    }

    /// Checks a result that a fault may have turned into `Poisoned`; returns the value if
    /// there is one.
    fn allow_poison<T: std::fmt::Debug>(&self, what: &str, r: Result<T, Error>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(Error::Poisoned { .. }) if self.faulty => None,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    fn tx_at(&self, i: u8) -> Option<ModelTx> {
        let n = self.txs.len();
        (n > 0).then(|| self.txs.values().nth(usize::from(i) % n).cloned())?
    }

    fn start(&mut self, store: FaultyStore<B::S>, recovery: &Recovery) {
        // The recovered store, before the engine touches it, is a consistent ledger.
        if self.high > 0 {
            self.audit(store.inner());
        }
        let store = Arc::new(store);
        let dyn_store: Arc<dyn Store> = store.clone();
        let ledger = Ledger::with_store(dyn_store, recovery, &self.config)
            .unwrap_or_else(|e| panic!("start over a recovered store ({recovery:?}): {e}"));
        self.store = Some(store);
        self.ledger = Some(ledger);
        self.faulty = false;
    }

    fn audit(&self, store: &dyn Store) {
        let report = audit_store(store, &AuditOptions::default())
            .unwrap_or_else(|e| panic!("audit of the recovered store: {e}"));
        if let Some(f) = &report.finding {
            panic!("the audit of the recovered store finds {f}");
        }
    }

    /// Stops the ledger (`clean`: `close`, else drop after the store started refusing
    /// writes) and starts it again over the recovered store.
    fn restart(&mut self, clean: bool) {
        // A ledger whose store failed cannot close cleanly: that restart is a crash too.
        let clean = clean && !self.faulty;
        let ledger = self
            .ledger
            .take()
            .unwrap_or_else(|| panic!("the ledger is not open"));
        if clean {
            if let Err(e) = ledger.close() {
                panic!("close: {e}");
            }
            for tx in self.txs.values_mut() {
                tx.committed = true;
            }
        } else {
            self.store().fail_write(NonZeroU64::MIN, Fault::Io);
            drop(ledger);
        }
        let store = self.store.take().unwrap_or_else(|| panic!("no store"));
        let store = Arc::try_unwrap(store)
            .unwrap_or_else(|_| panic!("the dropped ledger still holds its store"));
        let (store, recovery) = self.backend.reopen(store);
        if clean {
            assert_eq!(
                recovery.discarded, None,
                "a cleanly closed ledger lost its tail"
            );
        }
        // Seqnos of a discarded tail are handed out again, in a new view.
        self.high = recovery.committed_seqno;
        self.may_commit = recovery.committed_seqno;
        self.start(store, &recovery);
        // Whether a new view began: then transaction 1 (genesis, view 1) is Invalid under the
        // next view's number, else that id is Unknown (a view not yet reached).
        let next_view = TxId::new(self.view + 1, 1).unwrap_or_else(|e| panic!("{e}"));
        let advanced = self.ledger().status(next_view) == TxStatus::Invalid;
        if recovery.discarded.is_some() {
            assert!(advanced, "no new view after discarding {recovery:?}");
        }
        if clean {
            assert!(!advanced, "a new view after a clean close");
        }
        if advanced {
            self.view += 1;
        }
        for tx in std::mem::take(&mut self.txs).into_values() {
            let status = self.ledger().status(tx.id);
            match status {
                TxStatus::Committed => {
                    assert!(tx.id.seqno() <= recovery.committed_seqno);
                    self.txs.insert(
                        tx.id.seqno(),
                        ModelTx {
                            committed: true,
                            ..tx
                        },
                    );
                }
                TxStatus::Invalid if !tx.committed => {}
                other => panic!(
                    "{} after recovery ({recovery:?}) is {other:?}; committed before: {}",
                    tx.id, tx.committed
                ),
            }
        }
        self.check_all();
    }

    fn submit(&mut self, tx: Transaction, model: ModelTx, expect_ok: bool) {
        let r = self.ledger().submit(tx);
        if !expect_ok {
            assert!(
                matches!(r, Err(Error::InvalidInput { .. })),
                "an invalid transaction was not refused: {r:?}"
            );
            return;
        }
        let Some(id) = self.allow_poison("submit", r) else {
            return;
        };
        assert_eq!(id.view(), self.view, "{id} in view {}", self.view);
        // An id names one transaction forever: ids handed out before a crash (committed,
        // discarded, or never stored) are never handed out again.
        assert!(self.issued.insert(id), "{id} is handed out twice");
        assert!(id.seqno() > self.high, "{id} after seqno {}", self.high);
        self.high = id.seqno();
        self.txs.insert(id.seqno(), ModelTx { id, ..model });
    }

    fn invalid(&mut self, kind: Invalid) {
        let mut tx = Transaction::new();
        match kind {
            Invalid::ReservedCollection(gov) => {
                tx.append(if gov { "gov.members" } else { "internal.x" }, b"x");
            }
            Invalid::ReservedTable(gov) => {
                tx.put(if gov { "gov.users" } else { "internal.nodes" }, b"k", b"v");
            }
            Invalid::EmptyName => {
                tx.append("", b"x");
            }
            Invalid::LongName => {
                tx.append(&"n".repeat(256), b"x");
            }
            Invalid::ControlCharacter => {
                tx.put("a\nb", b"k", b"v");
            }
            Invalid::DuplicateAppend => {
                tx.append("audit", b"1").append("audit", b"2");
            }
            Invalid::EmptyTransaction => {}
            Invalid::BigEntry => {
                tx.append("audit", &[1; MAX_ENTRY + 1]);
            }
            Invalid::BigKey => {
                tx.put("t", &[2; 4097], b"v");
            }
            Invalid::BigTransaction => {
                tx.append("audit", &[1; MAX_ENTRY])
                    .put("t", b"k", &[3; MAX_TX]);
            }
        }
        let dummy = ModelTx {
            id: TxId::new(1, 1).unwrap_or_else(|e| panic!("{e}")),
            appends: BTreeMap::new(),
            writes: BTreeMap::new(),
            claims: [0; 32],
            committed: false,
        };
        self.submit(tx, dummy, false);
    }

    /// The other ledger passes the audit (while it runs).
    fn audit_other(name: &str, ledger: &Ledger) -> AuditReport {
        if let Err(e) = ledger.flush() {
            panic!("flush the {name}: {e}");
        }
        let report = audit_ledger(ledger, &AuditOptions::default())
            .unwrap_or_else(|e| panic!("audit of the {name}: {e}"));
        if let Some(f) = &report.finding {
            panic!("the audit of the {name} finds {f}");
        }
        report
    }

    /// The fuzzed ledger and `other` (a twin or a restored copy) refuse each other's signed
    /// requests with `WrongInstance`, and `other` accepts its own. Nothing is recorded in the
    /// fuzzed ledger, and nothing signed (a request for it is built, never submitted to it).
    fn check_instances(&self, name: &str, other: &Ledger) {
        let key = member();
        let Some(ours) = self.allow_poison("instance", self.ledger().governance().instance())
        else {
            return;
        };
        let Some(builder) =
            self.allow_poison("request_for", self.ledger().governance().request_for(&key))
        else {
            return;
        };
        let theirs = other
            .governance()
            .instance()
            .unwrap_or_else(|e| panic!("instance of the {name}: {e}"));
        assert_ne!(ours, theirs, "the {name} has the fuzzed ledger's instance");
        let wrong = |what: &str, r: Result<TxId, Error>| match r {
            Err(Error::Forbidden {
                reason: Refusal::WrongInstance { .. },
                ..
            }) => {}
            Err(Error::Poisoned { .. }) if self.faulty => {}
            other => panic!("{what}: {other:?}, expected a WrongInstance refusal"),
        };
        // The root acknowledged does not matter: the instance is checked first.
        let for_ours = builder
            .sign(Request::Ack {
                seqno: 1,
                root: [0; 32],
            })
            .unwrap_or_else(|e| panic!("sign: {e}"));
        wrong(
            &format!("the {name} given a request for the fuzzed ledger"),
            other.governance().ack(&for_ours),
        );
        let gov = other.governance();
        let own = gov
            .state_digest()
            .and_then(|digest| gov.request_for(&key)?.ack(&digest))
            .unwrap_or_else(|e| panic!("an ack for the {name}: {e}"));
        wrong(
            &format!("the fuzzed ledger given a request for the {name}"),
            self.ledger().governance().ack(&own),
        );
        match gov.ack(&own) {
            Ok(_)
            | Err(Error::Forbidden {
                reason: Refusal::AlreadyActive,
                ..
            }) => {}
            Err(e) => panic!("the {name} refuses its own request: {e}"),
        }
    }

    /// `Twin`: a ledger with the fuzzed ledger's identity and member, in memory.
    fn twin(&mut self) {
        let twin = Ledger::in_memory_with(config(self.auto_sign_setting))
            .unwrap_or_else(|e| panic!("create the twin: {e}"));
        assert_eq!(twin.service_id(), self.ledger().service_id());
        self.check_instances("twin", &twin);
        Self::audit_other("twin", &twin);
        if let Err(e) = twin.close() {
            panic!("close the twin: {e}");
        }
        self.others += 1;
    }

    /// `Backup`: everything recorded so far is committed first, then copied (or, in memory,
    /// refused as unsupported).
    fn backup(&mut self) {
        self.may_commit = self.high;
        let dir = self
            .backend
            .scratch()
            .map(|s| s.join(format!("backup-{}", self.others)));
        let r = match &dir {
            Some(dir) => self.ledger().backup(dir),
            None => {
                let dir = std::env::temp_dir().join("ledger-fuzz-no-backup");
                self.ledger().backup(dir)
            }
        };
        let info = match (dir, r) {
            (Some(dir), Ok(info)) => Some((dir, info)),
            (None, Err(Error::Store(ledger_core::StoreError::Unsupported { .. }))) => None,
            (_, Err(Error::Poisoned { .. })) if self.faulty => return,
            (dir, r) => panic!("backup into {dir:?}: {r:?}"),
        };
        // The backup flushed: everything recorded before it is committed.
        self.mark_committed_through(u64::MAX);
        let Some((dir, info)) = info else { return };
        assert!(info.committed_seqno >= self.txs.keys().last().copied().unwrap_or(0));
        let Some(instance) = self.allow_poison("instance", self.ledger().governance().instance())
        else {
            return;
        };
        self.backup = Some(Backup {
            dir,
            txs: self.txs.clone(),
            instance,
        });
        self.others += 1;
    }

    /// `Restore` without RocksDB: there are no backups to restore.
    #[cfg(not(feature = "rocksdb"))]
    fn restore(&mut self) {}

    /// `Restore`: the last backup, restored and opened beside the fuzzed ledger.
    #[cfg(feature = "rocksdb")]
    fn restore(&mut self) {
        let (Some(backup), Some(scratch)) = (&self.backup, self.backend.scratch()) else {
            return;
        };
        let path = scratch.join(format!("restored-{}", self.others));
        if let Err(e) = Ledger::restore(&backup.dir, &path) {
            panic!("restore {}: {e}", backup.dir.display());
        }
        let copy = Ledger::open(config_at(&path, self.auto_sign_setting))
            .unwrap_or_else(|e| panic!("open the restored copy: {e}"));
        let instance = copy
            .governance()
            .instance()
            .unwrap_or_else(|e| panic!("instance of the restored copy: {e}"));
        assert_eq!(instance.ledger_id, backup.instance.ledger_id);
        assert_eq!(instance.epoch, backup.instance.epoch + 1);
        // Exactly the transactions recorded before the backup, committed, with their contents.
        for tx in backup.txs.values() {
            assert_eq!(
                copy.status(tx.id),
                TxStatus::Committed,
                "{} restored",
                tx.id
            );
        }
        for c in 0..7 {
            let c = collection(c);
            let got: Result<Vec<Entry>, Error> = copy.entries(&c, ..).collect();
            let expected: Vec<Entry> = backup
                .txs
                .values()
                .filter_map(|tx| {
                    Some(Entry {
                        tx_id: tx.id,
                        collection: c.clone(),
                        contents: tx.appends.get(&c)?.clone(),
                    })
                })
                .collect();
            assert_eq!(got.ok(), Some(expected), "restored entries of {c:?}");
        }
        let report = Self::audit_other("restored copy", &copy);
        assert!(
            report.views.len() >= 2,
            "the restored copy began a new view"
        );
        self.check_instances("restored copy", &copy);
        Self::audit_other("restored copy", &copy);
        if let Err(e) = copy.close() {
            panic!("close the restored copy: {e}");
        }
        match ledger_core::audit_path(&path, &AuditOptions::default()) {
            Ok(report) if report.is_clean() => {}
            other => panic!("the audit of the closed restored copy: {other:?}"),
        }
        self.others += 1;
    }

    fn mark_committed_through(&mut self, seqno: u64) {
        for tx in self.txs.range_mut(..=seqno) {
            tx.1.committed = true;
        }
    }

    fn apply(&mut self, op: LedgerOp) {
        match op {
            LedgerOp::Append { c, contents: bytes } => {
                let (c, bytes) = (collection(c), contents(&bytes));
                let mut tx = Transaction::new();
                tx.append(&c, &bytes);
                let model = ModelTx {
                    id: TxId::new(1, 1).unwrap_or_else(|e| panic!("{e}")),
                    appends: BTreeMap::from([(c, bytes)]),
                    writes: BTreeMap::new(),
                    claims: [0; 32],
                    committed: false,
                };
                self.submit(tx, model, true);
            }
            LedgerOp::Submit {
                appends,
                writes,
                claims,
            } => {
                let mut tx = Transaction::new();
                let mut model = ModelTx {
                    id: TxId::new(1, 1).unwrap_or_else(|e| panic!("{e}")),
                    appends: BTreeMap::new(),
                    writes: BTreeMap::new(),
                    claims: claims.map_or([0; 32], |c| [c; 32]),
                    committed: false,
                };
                let mut duplicate = false;
                for (c, bytes) in appends.iter().take(4) {
                    let (c, bytes) = (collection(*c), contents(bytes));
                    tx.append(&c, &bytes);
                    duplicate |= model.appends.insert(c, bytes).is_some();
                }
                for (t, k, v) in writes.iter().take(4) {
                    let (t, k) = (table(*t), key(*k));
                    let v = v.map(|v| vec![v; usize::from(v % 9)]);
                    match &v {
                        Some(v) => tx.put(&t, &k, v),
                        None => tx.remove(&t, &k),
                    };
                    model.writes.insert((t, k), v);
                }
                if let Some(c) = claims {
                    tx.claims_digest([c; 32]);
                }
                let empty = model.appends.is_empty() && model.writes.is_empty();
                let ok = !duplicate && !empty;
                self.submit(tx, model, ok);
            }
            LedgerOp::Invalid(kind) => self.invalid(kind),
            LedgerOp::Flush => {
                self.may_commit = self.high;
                let r = self.ledger().flush();
                if self.allow_poison("flush", r).is_some() {
                    self.mark_committed_through(u64::MAX);
                }
            }
            LedgerOp::WaitForCommit(i) => {
                let Some(tx) = self.tx_at(i) else { return };
                // The signature this asks for covers everything recorded so far.
                self.may_commit = self.high;
                let r = self.ledger().wait_for_commit(tx.id, WAIT);
                match self.allow_poison("wait_for_commit", r) {
                    Some(TxStatus::Committed) => self.mark_committed_through(tx.id.seqno()),
                    Some(TxStatus::Pending) if self.faulty => {}
                    None => {}
                    Some(other) => panic!("wait_for_commit({}) = {other:?}", tx.id),
                }
            }
            LedgerOp::Entry { c, tx } => {
                let Some(tx) = self.tx_at(tx) else { return };
                let c = collection(c);
                let r = self.ledger().entry(&c, tx.id);
                match (tx.appends.get(&c), r) {
                    (Some(bytes), Ok(e)) => assert_eq!(
                        e,
                        Entry {
                            tx_id: tx.id,
                            collection: c,
                            contents: bytes.clone()
                        }
                    ),
                    (None, Err(Error::NotFound { .. })) => {}
                    (_, Err(Error::Poisoned { .. })) if self.faulty => {}
                    (expected, got) => {
                        panic!("entry {c:?} {}: {got:?}, expected {expected:?}", tx.id)
                    }
                }
            }
            LedgerOp::Latest(c) => {
                let c = collection(c);
                let r = self.ledger().latest(&c);
                if let Some(got) = self.allow_poison("latest", r) {
                    assert_eq!(got, self.collection_entries(&c, 0).pop(), "latest {c:?}");
                }
            }
            LedgerOp::Iterate(c) => {
                let c = collection(c);
                let got: Result<Vec<Entry>, Error> = self.ledger().entries(&c, ..).collect();
                if let Some(got) = self.allow_poison("entries", got) {
                    assert_eq!(got, self.collection_entries(&c, 0), "entries {c:?}");
                }
            }
            LedgerOp::Page { c, from, limit } => self.pages(&collection(c), from, limit),
            LedgerOp::TableGet { t, k } => {
                let (t, k) = (table(t), key(k));
                let r = self.ledger().table_get(&t, &k);
                if let Some(got) = self.allow_poison("table_get", r) {
                    let expected = self.history(&t, &k, u64::MAX).pop().and_then(|v| v.value);
                    assert_eq!(got, expected, "table_get {t:?} {k:?}");
                }
            }
            LedgerOp::TableGetAt { t, k, tx } => {
                let Some(tx) = self.tx_at(tx) else { return };
                let (t, k) = (table(t), key(k));
                let r = self.ledger().table_get_at(&t, &k, tx.id);
                if let Some(got) = self.allow_poison("table_get_at", r) {
                    let expected = self
                        .history(&t, &k, tx.id.seqno())
                        .pop()
                        .and_then(|v| v.value);
                    assert_eq!(got, expected, "table_get_at {t:?} {k:?} {}", tx.id);
                }
            }
            LedgerOp::TableHistory { t, k } => {
                // Page sizes 1 to 4, varying with the op's inputs.
                let limit = usize::from(t.wrapping_add(k) % 4) + 1;
                let (t, k) = (table(t), key(k));
                let r = self
                    .ledger()
                    .table_history(&t, &k)
                    .collect::<Result<Vec<_>, _>>();
                if let Some(got) = self.allow_poison("table_history", r) {
                    assert_eq!(
                        got,
                        self.history(&t, &k, u64::MAX),
                        "table_history {t:?} {k:?}"
                    );
                }
                self.history_pages(&t, &k, limit);
            }
            LedgerOp::ConsistencyProof { from, to } => self.consistency(from, to),
            LedgerOp::Receipt(i) => {
                let Some(tx) = self.tx_at(i) else { return };
                self.receipt(&tx);
            }
            LedgerOp::Reopen => self.restart(true),
            LedgerOp::Crash => self.restart(false),
            LedgerOp::FailWrite(n) if self.faults => {
                let n = NonZeroU64::new(u64::from(n % 8) + 1).unwrap_or(NonZeroU64::MIN);
                self.store().fail_write(n, Fault::Io);
                self.faulty = true;
            }
            LedgerOp::FailSync(n) if self.faults => {
                let n = NonZeroU64::new(u64::from(n % 4) + 1).unwrap_or(NonZeroU64::MIN);
                self.store().fail_sync(n, Fault::NoSpace);
                self.faulty = true;
            }
            LedgerOp::FailWrite(_) | LedgerOp::FailSync(_) => {}
            LedgerOp::Twin => self.twin(),
            LedgerOp::Backup => self.backup(),
            LedgerOp::Restore => self.restore(),
        }
        self.check_statuses();
    }

    fn receipt(&mut self, tx: &ModelTx) {
        let r = self.ledger().receipt(tx.id);
        match r {
            Ok(receipt) => {
                assert!(
                    tx.committed
                        || self.auto_sign
                        || self.faulty
                        || tx.id.seqno() <= self.may_commit,
                    "receipt of {} before commit",
                    tx.id
                );
                if let Err(e) = receipt.verify(&self.ledger().service_certificate_pem()) {
                    panic!("the receipt of {} does not verify: {e}", tx.id);
                }
                assert_eq!(receipt.tx_id().ok(), Some(tx.id));
                assert_eq!(receipt.leaf_components.claims_digest, tx.claims);
                let back = ledger_core::Receipt::from_json(&receipt.to_json());
                assert_eq!(back.ok().as_ref(), Some(&receipt));
                self.mark_committed_through(tx.id.seqno());
            }
            Err(Error::NotCommitted { status, .. }) => {
                assert!(!tx.committed, "no receipt for committed {}", tx.id);
                assert_eq!(status, TxStatus::Pending);
            }
            Err(Error::NoJsonReceipt {
                tx: asked,
                signed_at,
            }) => {
                assert_eq!(asked, tx.id);
                let receipt = self
                    .ledger()
                    .cose_receipt(tx.id)
                    .unwrap_or_else(|e| panic!("COSE receipt of {}: {e}", tx.id));
                let verified = receipt
                    .verify(self.ledger().service_certificate_pem())
                    .unwrap_or_else(|e| {
                        panic!("the COSE receipt of {} does not verify: {e}", tx.id)
                    });
                assert_eq!(verified.tx_id, tx.id);
                assert_eq!(verified.claims_digest, tx.claims);
                assert_eq!(verified.signature_tx, signed_at);
                self.mark_committed_through(tx.id.seqno());
            }
            Err(e) => panic!("receipt of {}: {e}", tx.id),
        }
    }

    /// A consistency proof between two durable signature transactions (found through the
    /// store's signature index) verifies and carries the roots they signed; asked the wrong
    /// way round it is refused.
    fn consistency(&self, from: u8, to: u8) {
        let store = self.store();
        let Ok(records) = store.signatures(0..=u64::MAX, usize::MAX) else {
            panic!("the store's signatures cannot be read");
        };
        // Only signatures the ledger reports committed are certainly its own history.
        let signed: Vec<ledger_core::SignaturePayload> = records
            .iter()
            .filter_map(|(_, r)| ledger_core::decode_signature(r).ok())
            .filter_map(|p| {
                let id = TxId::new(p.view, p.seqno).ok()?;
                (self.ledger().status(id) == TxStatus::Committed).then_some(p)
            })
            .collect();
        if signed.is_empty() {
            return;
        }
        let a = &signed[usize::from(from) % signed.len()];
        let b = &signed[usize::from(to) % signed.len()];
        let id = |p: &ledger_core::SignaturePayload| {
            TxId::new(p.view, p.seqno).unwrap_or_else(|e| panic!("{e}"))
        };
        match self.ledger().consistency_proof(id(a), id(b)) {
            Ok(proof) => {
                assert!(a.seqno <= b.seqno, "a consistency proof backwards");
                assert_eq!((proof.from_root, proof.to_root), (a.root, b.root));
                assert_eq!((proof.from_size, proof.to_size), (a.seqno, b.seqno));
                if let Err(e) = proof.verify() {
                    panic!("consistency proof {} -> {}: {e}", id(a), id(b));
                }
            }
            Err(Error::InvalidInput { .. }) if a.seqno > b.seqno => {}
            Err(Error::Poisoned { .. }) if self.faulty => {}
            Err(e) => panic!("consistency proof {} -> {}: {e}", id(a), id(b)),
        }
    }

    fn pages(&self, c: &str, from: Option<u8>, limit: u8) {
        let limit = usize::from(limit % 4) + 1;
        let from_tx = from.and_then(|i| self.tx_at(i));
        let start = from_tx.as_ref().map_or(0, |t| t.id.seqno());
        let mut got = Vec::new();
        let mut cursor = None;
        for _ in 0..1000 {
            let r = match &from_tx {
                Some(t) => self
                    .ledger()
                    .entries_page(c, t.id.., cursor.as_ref(), limit),
                None => self.ledger().entries_page(c, .., cursor.as_ref(), limit),
            };
            let Some(page) = self.allow_poison("entries_page", r) else {
                return;
            };
            assert!(page.entries.len() <= limit);
            got.extend(page.entries);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(
            got,
            self.collection_entries(c, start),
            "pages of {c:?} from {start}"
        );
    }

    /// `table_history_page` with `limit`, followed cursor by cursor, agrees with the model.
    fn history_pages(&self, t: &str, k: &[u8], limit: usize) {
        let mut got = Vec::new();
        let mut cursor = None;
        for _ in 0..1000 {
            let r = self
                .ledger()
                .table_history_page(t, k, cursor.as_ref(), limit);
            let Some(page) = self.allow_poison("table_history_page", r) else {
                return;
            };
            assert!(page.versions.len() <= limit);
            got.extend(page.versions);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(
            got,
            self.history(t, k, u64::MAX),
            "table_history_page {t:?} {k:?} limit {limit}"
        );
    }

    /// The model's entries of `c` with seqnos from `from` on.
    fn collection_entries(&self, c: &str, from: u64) -> Vec<Entry> {
        self.txs
            .range(from..)
            .filter_map(|(_, tx)| {
                Some(Entry {
                    tx_id: tx.id,
                    collection: c.to_owned(),
                    contents: tx.appends.get(c)?.clone(),
                })
            })
            .collect()
    }

    /// The model's versions of `(t, k)` up to seqno `to`.
    fn history(&self, t: &str, k: &[u8], to: u64) -> Vec<KeyVersion> {
        self.txs
            .range(..=to)
            .filter_map(|(_, tx)| {
                Some(KeyVersion {
                    tx_id: tx.id,
                    value: tx.writes.get(&(t.to_owned(), k.to_vec()))?.clone(),
                })
            })
            .collect()
    }

    /// Statuses agree with the model: committed transactions are Committed, others Pending
    /// (or Committed when the ledger signs by itself), and the committed ones form a prefix
    /// (read newest first, since the commit watermark may advance meanwhile).
    fn check_statuses(&mut self) {
        let mut seen_committed = None;
        let ids: Vec<(u64, TxId, bool)> = self
            .txs
            .values()
            .rev()
            .map(|t| (t.id.seqno(), t.id, t.committed))
            .collect();
        for (seqno, id, committed) in ids {
            let status = self.ledger().status(id);
            match status {
                TxStatus::Committed => {
                    assert!(
                        committed || self.auto_sign || self.faulty || seqno <= self.may_commit,
                        "{id} is Committed without a signature being asked for"
                    );
                    seen_committed.get_or_insert(id);
                    self.mark_committed_through(seqno);
                }
                TxStatus::Pending => {
                    assert!(!committed, "committed {id} is Pending");
                    if let Some(c) = seen_committed {
                        panic!("{id} is Pending before Committed {c}");
                    }
                }
                other => panic!("{id} is {other:?}"),
            }
        }
        let ledger = self.ledger();
        let next = self.high + 1000;
        for (id, expected) in [
            (TxId::new(self.view + 1, 1), TxStatus::Unknown),
            (TxId::new(self.view, next), TxStatus::Unknown),
            (
                TxId::new(self.view.max(2) - 1, next),
                if self.view > 1 {
                    TxStatus::Invalid
                } else {
                    TxStatus::Unknown
                },
            ),
        ] {
            let id = id.unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(ledger.status(id), expected, "status of {id}");
        }
    }

    /// Every read of every collection and key agrees with the model.
    fn check_all(&mut self) {
        for c in 0..7 {
            self.apply(LedgerOp::Iterate(c));
            self.apply(LedgerOp::Latest(c));
        }
        for t in 0..3 {
            for k in 0..5 {
                self.apply(LedgerOp::TableHistory { t, k });
                self.apply(LedgerOp::TableGet { t, k });
            }
        }
        self.apply(LedgerOp::ConsistencyProof { from: 0, to: 255 });
        self.apply(LedgerOp::ConsistencyProof { from: 255, to: 0 });
        let committed: Vec<ModelTx> = self.txs.values().filter(|t| t.committed).cloned().collect();
        for tx in committed.iter().rev().take(4) {
            self.receipt(tx);
        }
    }
}

fn run<B: Backend>(mut backend: B, auto_sign: Option<u8>, ops: &[LedgerOp], faults: bool) {
    let (store, recovery) = backend.create();
    let mut run = Run {
        backend,
        store: None,
        ledger: None,
        config: config(auto_sign),
        auto_sign: auto_sign.is_some(),
        faults,
        faulty: false,
        view: 1,
        txs: BTreeMap::new(),
        high: 0,
        may_commit: 0,
        issued: BTreeSet::new(),
        auto_sign_setting: auto_sign,
        backup: None,
        others: 0,
    };
    run.start(store, &recovery);
    for op in ops {
        run.apply(op.clone());
    }
    run.restart(true);
}

fn run_all(data: &[u8], faults: bool) {
    let mut u = Unstructured::new(data);
    let Ok(auto_sign) = Option::<u8>::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        match LedgerOp::arbitrary(&mut u) {
            Ok(LedgerOp::Crash | LedgerOp::FailWrite(_) | LedgerOp::FailSync(_)) if !faults => {}
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    if crate::debug() {
        eprintln!("auto_sign {auto_sign:?}, operations {ops:#?}");
    }
    run(Memory, auto_sign, &ops, faults);
    #[cfg(feature = "rocksdb")]
    run(Rocks::new(), auto_sign, &ops, faults);
}

/// Drives a [`Ledger`] through appends, transactions, refused requests, flushes, waits,
/// reads (entries, latest, iteration, pages, tables as of any transaction, histories),
/// receipts and clean reopens, checking every answer and every status against a model of
/// the recorded transactions; the ledger signs only when asked (or, per input, every few
/// transactions), so the model knows what must be committed.
pub fn ledger_operations(data: &[u8]) {
    run_all(data, false);
}

/// As [`ledger_operations`], with crashes: the store starts failing writes or syncs at an
/// arbitrary point, or the ledger is dropped while its store refuses every write, and the
/// ledger restarts over the recovered store. Every transaction reported committed survives
/// with its contents and a verifying receipt, every other one is Committed or Invalid, the
/// view advances exactly when a tail was discarded, and the recovered store passes the audit.
pub fn ledger_crash_recovery(data: &[u8]) {
    run_all(data, true);
}

/// Writes `op` as the bytes `arbitrary` decodes it from: the variant as a little-endian
/// `u32` (the smallest whose scaled value selects it), then the fields (a `Vec<u8>` is each
/// byte after a `1`, then a `0`). Only the operations the hand-made seeds use.
fn encode_op(op: &LedgerOp, out: &mut Vec<u8>) {
    const VARIANTS: u64 = 21;
    let variant = |i: u64, out: &mut Vec<u8>| {
        let x = (i << 32).div_ceil(VARIANTS);
        out.extend_from_slice(&u32::try_from(x).unwrap_or(u32::MAX).to_le_bytes());
    };
    match op {
        LedgerOp::Append { c, contents } => {
            variant(0, out);
            out.push(*c);
            for b in contents {
                out.extend_from_slice(&[1, *b]);
            }
            out.push(0);
        }
        LedgerOp::Flush => variant(3, out),
        LedgerOp::WaitForCommit(i) => {
            variant(4, out);
            out.push(*i);
        }
        LedgerOp::Receipt(i) => {
            variant(12, out);
            out.push(*i);
        }
        LedgerOp::Reopen => variant(14, out),
        LedgerOp::Crash => variant(15, out),
        LedgerOp::FailWrite(n) => {
            variant(16, out);
            out.push(*n);
        }
        LedgerOp::Twin => variant(18, out),
        LedgerOp::Backup => variant(19, out),
        LedgerOp::Restore => variant(20, out),
        other => panic!("the seed encoder does not write {other:?}"),
    }
}

/// The hand-made seeds of the engine targets, by target and file name: twins sharing the
/// fuzzed ledger's identity, backups, restored copies, across reopens (and, for the crash
/// target, crashes and failed writes). `tests/replay.rs` writes them into `corpus/`.
pub fn ledger_seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    fn append(c: u8, text: &str) -> LedgerOp {
        LedgerOp::Append {
            c,
            contents: text.as_bytes().to_vec(),
        }
    }
    let input = |auto_sign: Option<u8>, ops: &[LedgerOp]| {
        let mut out = match auto_sign {
            Some(n) => vec![1, n],
            None => vec![0],
        };
        for op in ops {
            encode_op(op, &mut out);
        }
        out
    };
    use LedgerOp::{Backup, Crash, FailWrite, Flush, Receipt, Reopen, Restore, Twin};
    let calm = [
        append(0, "first"),
        append(1, "second"),
        Twin,
        Backup,
        append(0, "after the backup"),
        Flush,
        Restore,
        Reopen,
        append(3, "after the reopen"),
        Backup,
        Receipt(0),
        Restore,
        Twin,
        Flush,
    ];
    let stormy = [
        append(0, "first"),
        Backup,
        append(2, "after the backup"),
        Crash,
        append(0, "after the crash"),
        Restore,
        Twin,
        FailWrite(2),
        append(1, "failing"),
        Backup,
        Restore,
        Crash,
        Restore,
        Flush,
    ];
    let cose_only = [
        append(0, "first"),
        append(1, "second"),
        Flush,
        Receipt(0),
        Receipt(1),
        Twin,
        Reopen,
        append(2, "after the reopen"),
        Flush,
        Receipt(2),
        Crash,
        Receipt(0),
    ];
    vec![
        (
            "ledger_operations",
            "cose-only-receipts",
            input(Some(0xC1), &cose_only),
        ),
        (
            "ledger_crash_recovery",
            "cose-only-receipts",
            input(Some(0xC1), &cose_only),
        ),
        (
            "ledger_operations",
            "instances-twin-backup-restore",
            input(None, &calm),
        ),
        (
            "ledger_operations",
            "instances-auto-sign",
            input(Some(1), &calm),
        ),
        (
            "ledger_crash_recovery",
            "instances-twin-backup-restore",
            input(None, &calm),
        ),
        (
            "ledger_crash_recovery",
            "instances-crash-restore",
            input(None, &stormy),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed encoder writes what `arbitrary` reads back.
    #[test]
    fn seeds_decode_to_their_operations() {
        let ops = [
            LedgerOp::Append {
                c: 3,
                contents: b"xyz".to_vec(),
            },
            LedgerOp::Flush,
            LedgerOp::WaitForCommit(9),
            LedgerOp::Receipt(2),
            LedgerOp::Reopen,
            LedgerOp::Crash,
            LedgerOp::FailWrite(5),
            LedgerOp::Twin,
            LedgerOp::Backup,
            LedgerOp::Restore,
        ];
        let mut bytes = Vec::new();
        for op in &ops {
            encode_op(op, &mut bytes);
        }
        let mut u = Unstructured::new(&bytes);
        for op in &ops {
            let decoded = LedgerOp::arbitrary(&mut u).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(format!("{decoded:?}"), format!("{op:?}"));
        }
        assert!(u.is_empty());
        assert_eq!(ledger_seeds().len(), 6);
    }
}
