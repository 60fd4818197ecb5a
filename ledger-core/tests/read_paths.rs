//! Reads through [`Ledger`] return exactly what each transaction wrote, across a view change:
//! `entry` for every (collection, transaction) pair, present or not, `latest`, paged and
//! iterated collection reads, and table reads, checked against a model of what was written.
//! An id whose seqno is in the ledger but whose view is not that seqno's is not found, on
//! either side of the view change, as is an id past the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use ledger_core::{Error, Ledger, LedgerConfig, Store, Transaction, TxId};
use ledger_store::{Group, MemoryStore, Recovery, META_RESTORED};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const COLLECTIONS: [&str; 4] = ["a", "b", "c", "d"];
const KEYS: [&[u8]; 3] = [b"k0", b"k1", b"k\0"];

/// What one transaction wrote: its appends by collection and its table writes.
#[derive(Debug)]
struct Written {
    id: TxId,
    appends: BTreeMap<&'static str, Vec<u8>>,
    puts: BTreeMap<&'static [u8], Vec<u8>>,
}

/// Submits `n` transactions, each appending to one to four collections and sometimes putting
/// table keys, and records them in `model`.
fn write(ledger: &Ledger, rng: &mut ChaCha8Rng, model: &mut Vec<Written>, n: usize) {
    for _ in 0..n {
        let mut tx = Transaction::new();
        let mut appends = BTreeMap::new();
        let mut puts = BTreeMap::new();
        // Submit the appends in a shuffled order: the entry keeps them sorted.
        let mut names = COLLECTIONS.to_vec();
        for i in (1..names.len()).rev() {
            names.swap(i, rng.gen_range(0..=i));
        }
        for name in names.into_iter().take(rng.gen_range(1..=COLLECTIONS.len())) {
            let contents: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
            tx.append(name, &contents);
            appends.insert(name, contents);
        }
        for key in KEYS {
            if rng.gen_bool(0.3) {
                let value: Vec<u8> = (0..rng.gen_range(0..8)).map(|_| rng.gen()).collect();
                tx.put("t", key, &value);
                puts.insert(key, value);
            }
        }
        let id = ledger.submit(tx).unwrap();
        model.push(Written { id, appends, puts });
    }
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, Error>, what: &str) {
    assert!(
        matches!(result, Err(Error::NotFound { .. })),
        "{what}: {result:?}"
    );
}

/// Every read of `ledger` agrees with `model`.
fn check(ledger: &Ledger, model: &[Written]) {
    for w in model {
        for name in COLLECTIONS {
            match w.appends.get(name) {
                Some(contents) => {
                    let entry = ledger.entry(name, w.id).unwrap();
                    assert_eq!(entry.tx_id, w.id);
                    assert_eq!(entry.collection, name);
                    assert_eq!(&entry.contents, contents, "{name}@{}", w.id);
                }
                None => assert_not_found(ledger.entry(name, w.id), "absent append"),
            }
        }
        let name = *w.appends.keys().next().unwrap();
        for view in [w.id.view() - 1, w.id.view() + 1] {
            if let Ok(other) = TxId::new(view, w.id.seqno()) {
                assert_not_found(ledger.entry(name, other), "another view's id");
                assert_not_found(ledger.table_get_at("t", b"k0", other), "another view's id");
            }
        }
    }
    let last = model.last().unwrap().id;
    let beyond = TxId::new(last.view(), last.seqno() + 1_000).unwrap();
    assert_not_found(ledger.entry("a", beyond), "an id past the end");
    for name in COLLECTIONS {
        let expected: Vec<(TxId, &Vec<u8>)> = model
            .iter()
            .filter_map(|w| w.appends.get(name).map(|c| (w.id, c)))
            .collect();
        let latest = ledger.latest(name).unwrap().unwrap();
        assert_eq!(
            (latest.tx_id, &latest.contents),
            *expected.last().unwrap(),
            "latest {name}"
        );
        let iterated: Vec<(TxId, Vec<u8>)> = ledger
            .entries(name, ..)
            .map(|e| e.map(|e| (e.tx_id, e.contents)).unwrap())
            .collect();
        assert_eq!(iterated.len(), expected.len());
        assert!(iterated
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.0 == b.0 && &a.1 == b.1));
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let page = ledger.entries_page(name, .., cursor.as_ref(), 7).unwrap();
            paged.extend(page.entries.into_iter().map(|e| (e.tx_id, e.contents)));
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(paged, iterated, "paged {name}");
        // A range starting in the middle, by id.
        let (from, _) = expected[expected.len() / 2];
        let tail: Vec<TxId> = ledger
            .entries(name, from..)
            .map(|e| e.unwrap().tx_id)
            .collect();
        assert_eq!(tail.first(), Some(&from));
        assert_eq!(tail.len(), expected.len() - expected.len() / 2);
    }
    for key in KEYS {
        let mut current = None;
        let mut versions = Vec::new();
        for w in model {
            if let Some(v) = w.puts.get(key) {
                current = Some(v.clone());
                versions.push((w.id, v.clone()));
            }
            assert_eq!(ledger.table_get_at("t", key, w.id).unwrap(), current);
        }
        assert_eq!(ledger.table_get("t", key).unwrap(), current);
        let history: Vec<(TxId, Vec<u8>)> = ledger
            .table_history("t", key)
            .map(|v| {
                let v = v.unwrap();
                (v.tx_id, v.value.unwrap())
            })
            .collect();
        assert_eq!(history, versions);
    }
}

#[test]
fn reads_return_what_was_written_across_a_view_change() {
    let store = Arc::new(MemoryStore::new());
    // Signatures every seventh transaction interleave with the writes.
    let config = LedgerConfig::new("").sig_tx_interval(NonZeroU64::new(7).unwrap());
    let start = |recovery: &Recovery| {
        let dyn_store: Arc<dyn Store> = store.clone();
        Ledger::with_store(dyn_store, recovery, &config).unwrap()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut model = Vec::new();
    let ledger = start(&Recovery {
        committed_seqno: 0,
        discarded: None,
    });
    write(&ledger, &mut rng, &mut model, 60);
    // Reads of transactions not yet committed see them too.
    check(&ledger, &model);
    ledger.flush().unwrap();
    ledger.close().unwrap();
    // Reopening a restored store begins a new view.
    store
        .write_group(&Group {
            meta: vec![(META_RESTORED.into(), Some(b"1".to_vec()))],
            commit: true,
            ..Group::default()
        })
        .unwrap();
    let recovery = store.simulate_crash();
    let ledger = start(&recovery);
    write(&ledger, &mut rng, &mut model, 60);
    ledger.flush().unwrap();
    let views: Vec<u64> = model.iter().map(|w| w.id.view()).collect();
    assert_eq!(views.first(), Some(&1));
    assert!(views.last().is_some_and(|v| *v > 1), "{views:?}");
    check(&ledger, &model);
}
