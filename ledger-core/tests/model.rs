//! Model-based tests: random operation sequences drive a `Ledger` (in memory, and on RocksDB
//! with close, audit and reopen) next to a plain model of what it should hold, and every read,
//! status and receipt is compared with the model after every step.
//!
//! The model is a list of transactions (their appends, table writes and claims digests, in
//! order), with per-collection and per-key histories derived from it. The ledgers run with
//! signing switched off except when asked (`flush`, `wait_for_commit`, close), so which
//! transactions are committed is known exactly; one suite signs on its own every few
//! transactions, where an unflushed transaction may be either Pending or Committed.
//!
//! At the end of every case the ledger's store passes the offline audit (`audit_ledger` while
//! it runs, and `audit_path` on the closed directory for RocksDB).
//!
//! Runs are deterministic: a fixed proptest seed with the ChaCha generator, no persisted
//! failures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::ops::Bound;
use std::time::Duration;

use ledger_core::{audit_ledger, audit_path, AuditOptions};
use ledger_core::{Append, TableOp, TxBody, TxKind};
use ledger_core::{Cursor, Error, Ledger, LedgerConfig, Transaction, TxId, TxStatus};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use sha2::{Digest as _, Sha256};

const WAIT: Duration = Duration::from_secs(30);

/// Collection names, including multi-byte UTF-8, dots and a name of 255 bytes.
fn collection_name(i: u8) -> String {
    match i % 8 {
        0 => "audit".into(),
        1 => "payments".into(),
        2 => "ünïcödé-名前".into(),
        3 => "a.b.c".into(),
        4 => "x".into(),
        5 => "é".repeat(127) + "z", // 255 bytes
        6 => "with space".into(),
        _ => "gov-not-reserved".into(),
    }
}

fn table_name(i: u8) -> String {
    match i % 3 {
        0 => "t".into(),
        1 => "settings".into(),
        _ => "表".into(),
    }
}

fn key(i: u8) -> Vec<u8> {
    match i % 5 {
        0 => Vec::new(),
        1 => b"k".to_vec(),
        2 => vec![0, 0xff, 0],
        3 => "ключ".as_bytes().to_vec(),
        _ => vec![i; 64],
    }
}

#[derive(Clone, Debug)]
enum Op {
    Append {
        collection: u8,
        contents: Vec<u8>,
    },
    Tx {
        appends: BTreeMap<u8, Vec<u8>>,
        writes: Vec<(u8, u8, Option<Vec<u8>>)>,
        claims: Option<[u8; 32]>,
    },
    Put {
        table: u8,
        key: u8,
        value: Vec<u8>,
    },
    Remove {
        table: u8,
        key: u8,
    },
    Flush,
    WaitLast,
    Reopen,
    Invalid(u8),
    CheckAll,
}

fn contents() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..24),
        1 => proptest::collection::vec(any::<u8>(), 0..600),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u8..8, contents()).prop_map(|(collection, contents)| Op::Append { collection, contents }),
        4 => (
            proptest::collection::btree_map(0u8..8, contents(), 0..4),
            proptest::collection::vec(
                (0u8..3, 0u8..5, proptest::option::of(contents())),
                0..4
            ),
            proptest::option::of(any::<[u8; 32]>()),
        )
            .prop_map(|(appends, writes, claims)| Op::Tx { appends, writes, claims }),
        3 => (0u8..3, 0u8..5, contents()).prop_map(|(table, key, value)| Op::Put { table, key, value }),
        2 => (0u8..3, 0u8..5).prop_map(|(table, key)| Op::Remove { table, key }),
        2 => Just(Op::Flush),
        1 => Just(Op::WaitLast),
        1 => Just(Op::Reopen),
        1 => (0u8..8).prop_map(Op::Invalid),
        1 => Just(Op::CheckAll),
    ]
}

/// One transaction as the model knows it.
#[derive(Clone, Debug)]
struct ModelTx {
    id: TxId,
    appends: BTreeMap<String, Vec<u8>>,
    writes: BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>,
    claims: [u8; 32],
}

impl ModelTx {
    /// The entry the engine must have recorded: the canonical encoding of the model's write
    /// set, with the digest of the commit evidence its receipt disclosed.
    fn entry_bytes(&self, commit_evidence_digest: [u8; 32]) -> Vec<u8> {
        let body = TxBody {
            claims_digest: self.claims,
            appends: self
                .appends
                .iter()
                .map(|(c, v)| Append {
                    collection: c.clone(),
                    contents: v.clone(),
                })
                .collect(),
            writes: self
                .writes
                .iter()
                .map(|((t, k), v)| TableOp {
                    table: t.clone(),
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            signature: None,
        };
        ledger_core::testing::encode_ledger_entry(&ledger_core::LedgerEntry {
            kind: TxKind::User,
            tx_id: self.id,
            commit_evidence_digest: Some(commit_evidence_digest),
            body,
        })
        .unwrap()
    }
}

#[derive(Default, Debug)]
struct Model {
    txs: Vec<ModelTx>,
    /// `txs[..committed]` are known to be committed.
    committed: usize,
    /// `txs[..receipts_checked]` have had their receipts verified since the last reopen.
    receipts_checked: usize,
}

impl Model {
    fn collection(&self, name: &str) -> Vec<(TxId, Vec<u8>)> {
        self.txs
            .iter()
            .filter_map(|t| t.appends.get(name).map(|c| (t.id, c.clone())))
            .collect()
    }

    fn history(&self, table: &str, key: &[u8]) -> Vec<(TxId, Option<Vec<u8>>)> {
        self.txs
            .iter()
            .filter_map(|t| {
                t.writes
                    .get(&(table.to_owned(), key.to_vec()))
                    .map(|v| (t.id, v.clone()))
            })
            .collect()
    }

    fn value_at(&self, table: &str, key: &[u8], seqno: u64) -> Option<Vec<u8>> {
        self.history(table, key)
            .into_iter()
            .rev()
            .find(|(id, _)| id.seqno() <= seqno)
            .and_then(|(_, v)| v)
    }
}

/// How a suite's ledger is made and remade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    /// In memory, signing only when asked.
    MemoryQuiet,
    /// In memory, signing by itself every 3 transactions and every millisecond.
    MemoryBusy,
    /// RocksDB in a temporary directory, signing only when asked; reopen closes, audits and
    /// reopens it.
    Rocks,
}

struct Harness {
    backend: Backend,
    dir: Option<tempfile::TempDir>,
    ledger: Option<Ledger>,
    model: Model,
    rng: u64,
}

fn quiet(config: LedgerConfig) -> LedgerConfig {
    config
        .sig_interval(Duration::from_secs(3600))
        .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap())
}

impl Harness {
    fn new(backend: Backend) -> Self {
        let mut h = Harness {
            backend,
            dir: None,
            ledger: None,
            model: Model::default(),
            rng: 0x9e37_79b9_7f4a_7c15,
        };
        h.ledger = Some(match backend {
            Backend::MemoryQuiet => Ledger::in_memory_with(quiet(LedgerConfig::new(""))).unwrap(),
            Backend::MemoryBusy => Ledger::in_memory_with(
                LedgerConfig::new("")
                    .sig_interval(Duration::from_millis(1))
                    .sig_tx_interval(NonZeroU64::new(3).unwrap()),
            )
            .unwrap(),
            Backend::Rocks => {
                let dir = tempfile::tempdir().unwrap();
                let ledger = Ledger::open(quiet(LedgerConfig::new(dir.path().join("l")))).unwrap();
                h.dir = Some(dir);
                ledger
            }
        });
        h
    }

    fn ledger(&self) -> &Ledger {
        self.ledger.as_ref().unwrap()
    }

    fn path(&self) -> std::path::PathBuf {
        self.dir.as_ref().unwrap().path().join("l")
    }

    /// A small deterministic generator for choices made while checking.
    fn next(&mut self, bound: usize) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % bound.max(1) as u64) as usize
    }

    fn record(&mut self, tx: Transaction, model: ModelTx) -> Result<(), TestCaseError> {
        let id = self.ledger().submit(tx).unwrap();
        if let Some(prev) = self.model.txs.last() {
            prop_assert!(id.seqno() > prev.id.seqno(), "{id} after {}", prev.id);
            prop_assert_eq!(id.view(), prev.id.view());
        }
        self.model.txs.push(ModelTx { id, ..model });
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let placeholder = TxId::new(1, 1).unwrap();
        match op {
            Op::Append {
                collection,
                contents,
            } => {
                let name = collection_name(*collection);
                let mut tx = Transaction::new();
                tx.append(&name, contents);
                let model = ModelTx {
                    id: placeholder,
                    appends: BTreeMap::from([(name.clone(), contents.clone())]),
                    writes: BTreeMap::new(),
                    claims: [0; 32],
                };
                self.record(tx, model)?;
                self.check_collection(&name)?;
            }
            Op::Tx {
                appends,
                writes,
                claims,
            } => {
                let mut tx = Transaction::new();
                let mut model = ModelTx {
                    id: placeholder,
                    appends: BTreeMap::new(),
                    writes: BTreeMap::new(),
                    claims: claims.unwrap_or([0; 32]),
                };
                for (c, contents) in appends {
                    // Names of different indexes can coincide; the builder keeps one append
                    // per collection, so the model appends each name once too.
                    let name = collection_name(*c);
                    if model.appends.contains_key(&name) {
                        continue;
                    }
                    tx.append(&name, contents);
                    model.appends.insert(name, contents.clone());
                }
                for (t, k, v) in writes {
                    match v {
                        Some(v) => tx.put(&table_name(*t), &key(*k), v),
                        None => tx.remove(&table_name(*t), &key(*k)),
                    };
                    model.writes.insert((table_name(*t), key(*k)), v.clone());
                }
                if let Some(c) = claims {
                    tx.claims_digest(*c);
                }
                if model.appends.is_empty() && model.writes.is_empty() {
                    let err = self.ledger().submit(tx).unwrap_err();
                    prop_assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
                    return Ok(());
                }
                let touched: Vec<String> = model.appends.keys().cloned().collect();
                let keys: Vec<(String, Vec<u8>)> = model.writes.keys().cloned().collect();
                self.record(tx, model)?;
                for c in touched {
                    self.check_collection(&c)?;
                }
                for (t, k) in keys {
                    self.check_key(&t, &k)?;
                }
            }
            Op::Put {
                table,
                key: k,
                value,
            } => {
                let (t, k) = (table_name(*table), key(*k));
                let mut tx = Transaction::new();
                tx.put(&t, &k, value);
                let model = ModelTx {
                    id: placeholder,
                    appends: BTreeMap::new(),
                    writes: BTreeMap::from([((t.clone(), k.clone()), Some(value.clone()))]),
                    claims: [0; 32],
                };
                self.record(tx, model)?;
                self.check_key(&t, &k)?;
            }
            Op::Remove { table, key: k } => {
                let (t, k) = (table_name(*table), key(*k));
                let mut tx = Transaction::new();
                tx.remove(&t, &k);
                let model = ModelTx {
                    id: placeholder,
                    appends: BTreeMap::new(),
                    writes: BTreeMap::from([((t.clone(), k.clone()), None)]),
                    claims: [0; 32],
                };
                self.record(tx, model)?;
                self.check_key(&t, &k)?;
            }
            Op::Flush => {
                self.ledger().flush().unwrap();
                self.model.committed = self.model.txs.len();
            }
            Op::WaitLast => {
                if let Some(last) = self.model.txs.last() {
                    let status = self.ledger().wait_for_commit(last.id, WAIT).unwrap();
                    prop_assert_eq!(status, TxStatus::Committed);
                    self.model.committed = self.model.txs.len();
                }
            }
            Op::Reopen => {
                if self.backend == Backend::Rocks {
                    self.ledger.take().unwrap().close().unwrap();
                    // Closing signs everything; the closed directory passes the audit.
                    let report = audit_path(self.path(), &AuditOptions::default()).unwrap();
                    prop_assert!(report.is_clean(), "{:?}", report.finding);
                    prop_assert_eq!(report.unsigned_tail, None);
                    if let Some(last) = self.model.txs.last() {
                        prop_assert!(report.last_seqno > last.id.seqno());
                    }
                    self.ledger =
                        Some(Ledger::open(quiet(LedgerConfig::new(self.path()))).unwrap());
                    self.model.committed = self.model.txs.len();
                    self.model.receipts_checked = 0;
                    self.check_all()?;
                } else {
                    self.ledger().flush().unwrap();
                    self.model.committed = self.model.txs.len();
                }
            }
            Op::Invalid(which) => self.invalid(*which)?,
            Op::CheckAll => self.check_all()?,
        }
        self.check_statuses()?;
        self.check_receipts()?;
        Ok(())
    }

    fn invalid(&mut self, which: u8) -> Result<(), TestCaseError> {
        let ledger = self.ledger();
        let invalid = |r: Result<TxId, Error>| matches!(r, Err(Error::InvalidInput { .. }));
        match which % 8 {
            0 => prop_assert!(invalid(ledger.append("gov.members", b"x"))),
            1 => prop_assert!(invalid(ledger.submit(Transaction::new()))),
            2 => prop_assert!(invalid(ledger.append("", b"x"))),
            3 => prop_assert!(invalid(ledger.append("a\nb", b"x"))),
            4 => {
                let mut tx = Transaction::new();
                tx.put("internal.nodes", b"k", b"v");
                prop_assert!(invalid(ledger.submit(tx)));
            }
            5 => {
                let mut tx = Transaction::new();
                tx.append("dup", b"1").append("dup", b"2");
                prop_assert!(invalid(ledger.submit(tx)));
            }
            6 => prop_assert!(matches!(
                ledger.entries_page("audit", .., None, 0),
                Err(e) if e.is_invalid_input()
            )),
            _ => prop_assert!(matches!(
                ledger.entries_page("audit", .., Some(&Cursor::from_string("bogus")), 5),
                Err(e) if e.is_invalid_input()
            )),
        }
        Ok(())
    }

    fn check_statuses(&mut self) -> Result<(), TestCaseError> {
        let ledger = self.ledger.as_ref().unwrap();
        for (i, tx) in self.model.txs.iter().enumerate() {
            let status = ledger.status(tx.id);
            if i < self.model.committed {
                prop_assert_eq!(status, TxStatus::Committed, "{}", tx.id);
            } else if self.backend == Backend::MemoryBusy {
                prop_assert!(
                    matches!(status, TxStatus::Pending | TxStatus::Committed),
                    "{}: {:?}",
                    tx.id,
                    status
                );
            } else {
                prop_assert_eq!(status, TxStatus::Pending, "{}", tx.id);
                let receipt = ledger.receipt(tx.id);
                prop_assert!(
                    matches!(
                        receipt,
                        Err(Error::NotCommitted {
                            status: TxStatus::Pending,
                            ..
                        })
                    ),
                    "{:?}",
                    receipt
                );
            }
        }
        let last = self.model.txs.last().map_or(1, |t| t.id.seqno());
        let view = self.model.txs.last().map_or(1, |t| t.id.view());
        let beyond = TxId::new(view, last + 1000).unwrap();
        prop_assert_eq!(ledger.status(beyond), TxStatus::Unknown);
        let next_view = TxId::new(view + 1, last).unwrap();
        prop_assert_eq!(ledger.status(next_view), TxStatus::Unknown);
        Ok(())
    }

    fn check_receipt(&self, tx: &ModelTx) -> Result<(), TestCaseError> {
        let ledger = self.ledger();
        let receipt = ledger.receipt(tx.id).unwrap();
        receipt.verify(&ledger.service_certificate_pem()).unwrap();
        prop_assert_eq!(receipt.tx_id().unwrap(), tx.id);
        prop_assert_eq!(receipt.leaf_components.claims_digest, tx.claims);
        let evidence: [u8; 32] = Sha256::digest(&receipt.leaf_components.commit_evidence).into();
        let digest: [u8; 32] = Sha256::digest(tx.entry_bytes(evidence)).into();
        prop_assert_eq!(
            receipt.leaf_components.write_set_digest,
            digest,
            "the entry of {} is not the canonical encoding of its write set",
            tx.id
        );
        Ok(())
    }

    /// Receipts of transactions newly committed, plus two older ones at random.
    fn check_receipts(&mut self) -> Result<(), TestCaseError> {
        let committed = if self.backend == Backend::MemoryBusy {
            // Committed by the engine on its own, beyond what the model asked for.
            self.model
                .txs
                .iter()
                .take_while(|t| self.ledger().status(t.id) == TxStatus::Committed)
                .count()
        } else {
            self.model.committed
        };
        for i in self.model.receipts_checked..committed {
            self.check_receipt(&self.model.txs[i])?;
        }
        self.model.receipts_checked = self.model.receipts_checked.max(committed);
        for _ in 0..2 {
            if committed > 0 {
                let i = self.next(committed);
                self.check_receipt(&self.model.txs[i])?;
            }
        }
        Ok(())
    }

    fn check_collection(&mut self, name: &str) -> Result<(), TestCaseError> {
        let expected = self.model.collection(name);
        let ledger = self.ledger.as_ref().unwrap();
        let latest = ledger.latest(name).unwrap();
        prop_assert_eq!(
            latest.as_ref().map(|e| (e.tx_id, e.contents.as_slice())),
            expected.last().map(|(i, c)| (*i, c.as_slice()))
        );
        // Point reads, a read of a transaction that did not append here, iteration.
        for (id, contents) in &expected {
            let (id, contents) = (*id, contents.as_slice());
            let e = ledger.entry(name, id).unwrap();
            prop_assert_eq!(
                (e.tx_id, e.contents.as_slice(), e.collection.as_str()),
                (id, contents, name)
            );
        }
        if let Some(other) = self
            .model
            .txs
            .iter()
            .find(|t| !t.appends.contains_key(name))
        {
            prop_assert!(matches!(
                ledger.entry(name, other.id),
                Err(e) if e.is_not_found()
            ));
        }
        let all: Vec<(TxId, Vec<u8>)> = ledger
            .entries(name, ..)
            .map(|e| e.map(|e| (e.tx_id, e.contents)))
            .collect::<Result<_, _>>()
            .unwrap();
        let want: Vec<(TxId, Vec<u8>)> = expected.iter().map(|(i, c)| (*i, c.to_vec())).collect();
        prop_assert_eq!(&all, &want);
        // Paging through a random sub-range with a random page size.
        let limit = 1 + self.next(4);
        let (lo, hi) = if expected.is_empty() {
            (TxId::new(1, 1).unwrap(), TxId::new(1, 1).unwrap())
        } else {
            let a = self.next(expected.len());
            let b = a + self.next(expected.len() - a);
            (expected[a].0, expected[b].0)
        };
        let ledger = self.ledger.as_ref().unwrap();
        let range = (Bound::Included(lo), Bound::Included(hi));
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let page = ledger
                .entries_page(name, range, cursor.as_ref(), limit)
                .unwrap();
            prop_assert!(page.entries.len() <= limit);
            got.extend(page.entries.into_iter().map(|e| (e.tx_id, e.contents)));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let want: Vec<(TxId, Vec<u8>)> = expected
            .iter()
            .filter(|(id, _)| *id >= lo && *id <= hi)
            .map(|(i, c)| (*i, c.to_vec()))
            .collect();
        prop_assert_eq!(got, want);
        Ok(())
    }

    fn check_key(&mut self, table: &str, key: &[u8]) -> Result<(), TestCaseError> {
        let history = self.model.history(table, key);
        let ledger = self.ledger.as_ref().unwrap();
        prop_assert_eq!(
            ledger.table_get(table, key).unwrap(),
            history.last().and_then(|(_, v)| v.clone())
        );
        let got: Vec<(TxId, Option<Vec<u8>>)> = ledger
            .table_history(table, key)
            .map(|v| v.map(|v| (v.tx_id, v.value)).unwrap())
            .collect();
        prop_assert_eq!(&got, &history);
        if !self.model.txs.is_empty() {
            let i = self.next(self.model.txs.len());
            let at = self.model.txs[i].id;
            let ledger = self.ledger.as_ref().unwrap();
            prop_assert_eq!(
                ledger.table_get_at(table, key, at).unwrap(),
                self.model.value_at(table, key, at.seqno())
            );
        }
        Ok(())
    }

    fn check_all(&mut self) -> Result<(), TestCaseError> {
        for c in 0..8 {
            self.check_collection(&collection_name(c))?;
        }
        for t in 0..3 {
            for k in 0..5 {
                self.check_key(&table_name(t), &key(k))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), TestCaseError> {
        self.ledger().flush().unwrap();
        self.model.committed = self.model.txs.len();
        self.check_statuses()?;
        self.check_receipts()?;
        self.check_all()?;
        // The running ledger's store passes the audit, in memory as on disk.
        let report = audit_ledger(self.ledger(), &AuditOptions::default()).unwrap();
        prop_assert!(report.is_clean(), "{:?}", report.finding);
        if let Some(last) = self.model.txs.last() {
            prop_assert!(report.last_signature.unwrap().tx_id.seqno() > last.id.seqno());
        }
        let ledger = self.ledger.take().unwrap();
        ledger.close().unwrap();
        if self.backend == Backend::Rocks {
            let report = audit_path(self.path(), &AuditOptions::default()).unwrap();
            prop_assert!(report.is_clean(), "{:?}", report.finding);
        }
        Ok(())
    }
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Config::default()
    }
}

fn run(backend: Backend, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut h = Harness::new(backend);
    for op in ops {
        h.apply(op)?;
    }
    h.finish()
}

proptest! {
    #![proptest_config(config(64, 0x6c65_6467_6572_0001))]
    #[test]
    fn memory_ledger_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(Backend::MemoryQuiet, &ops)?;
    }
}

proptest! {
    #![proptest_config(config(32, 0x6c65_6467_6572_0002))]
    #[test]
    fn self_signing_memory_ledger_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(Backend::MemoryBusy, &ops)?;
    }
}

proptest! {
    #![proptest_config(config(24, 0x6c65_6467_6572_0003))]
    #[test]
    fn rocks_ledger_with_reopen_matches_model(ops in proptest::collection::vec(op(), 1..50)) {
        run(Backend::Rocks, &ops)?;
    }
}

/// A long fixed sequence on RocksDB touching every operation, so that the suite covers
/// reopen with many signatures regardless of what the random cases draw.
#[test]
fn rocks_ledger_long_fixed_sequence() {
    let mut ops = Vec::new();
    for i in 0..300u32 {
        let b = (i % 251) as u8;
        ops.push(match i % 13 {
            0 | 5 => Op::Tx {
                appends: BTreeMap::from([
                    (b % 8, vec![b; (i % 40) as usize]),
                    ((b + 3) % 8, vec![1, 2, 3]),
                ]),
                writes: vec![(b % 3, b % 5, Some(vec![b])), ((b + 1) % 3, b % 5, None)],
                claims: Some([b; 32]),
            },
            3 => Op::Put {
                table: b % 3,
                key: b % 5,
                value: vec![b; 3],
            },
            4 => Op::Remove {
                table: b % 3,
                key: (b + 2) % 5,
            },
            6 => Op::Flush,
            9 if i % 39 == 9 => Op::Reopen,
            11 => Op::Invalid(b),
            _ => Op::Append {
                collection: b % 8,
                contents: vec![b; (i % 17) as usize],
            },
        });
    }
    run(Backend::Rocks, &ops).unwrap();
}
