//! Behaviour at the limits (see `ledger_core::config`):
//!
//! | limit | default | at the limit | one over |
//! | --- | --- | --- | --- |
//! | entry contents, `max_entry_size` | 1 MiB | recorded, read back, committed, receipt verifies | `InvalidInput` naming `max_entry_size`; nothing recorded |
//! | transaction, `max_tx_size` (contents + collection names + table names, keys, values) | 16 MiB | recorded | `InvalidInput` naming `max_tx_size` |
//! | configurable ceiling of both, `MAX_TX_SIZE_CEILING` | 32 MiB | a 32 MiB entry is recorded | the ledger refuses to open |
//! | collection and table names, `MAX_NAME_LEN` | 255 bytes of UTF-8 | accepted, whatever the characters' widths | `InvalidInput` (writes and reads alike) |
//! | table keys, `MAX_KEY_LEN` | 4096 bytes | accepted | `InvalidInput` |
//! | collections | none | 10,000+ collections, each readable and pageable, listed by the store | — |
//! | pending tail (`sig_interval`, `sig_tx_interval` huge) | — | thousands of transactions stay Pending, readable, without receipts, until a flush (or close) commits them all | — |
//!
//! Rejected submissions consume no seqno: the next accepted transaction follows the previous
//! one directly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU64;
use std::time::Duration;

use ledger_core::{audit_path, AuditOptions};
use ledger_core::{Error, Ledger, LedgerConfig, Transaction, TxId, TxStatus};
use ledger_core::{
    DEFAULT_MAX_ENTRY_SIZE, DEFAULT_MAX_TX_SIZE, MAX_KEY_LEN, MAX_NAME_LEN, MAX_TX_SIZE_CEILING,
};

const WAIT: Duration = Duration::from_secs(60);

fn quiet(config: LedgerConfig) -> LedgerConfig {
    config
        .sig_interval(Duration::from_secs(3600))
        .sig_tx_interval(NonZeroU64::new(u64::MAX).unwrap())
}

fn invalid_naming(result: Result<TxId, Error>, rule: &str) {
    match result {
        Err(Error::InvalidInput {
            what,
            problem: ledger_core::Problem::TooLarge { .. },
        }) => {
            let expected: &[&str] = match rule {
                "max_entry_size" => &["entry contents"],
                "max_tx_size" => &["transaction"],
                "key limit" => &["table key"],
                _ => &["collection name", "table name"],
            };
            assert!(
                expected.contains(&what),
                "{what:?} is not the input of {rule}"
            )
        }
        other => panic!("expected InvalidInput naming {rule}, got {other:?}"),
    }
}

/// Commits `id`, reads `contents` back from `collection` and verifies the receipt.
fn commits_and_reads_back(ledger: &Ledger, collection: &str, id: TxId, contents: &[u8]) {
    assert_eq!(
        ledger.wait_for_commit(id, WAIT).unwrap(),
        TxStatus::Committed
    );
    let entry = ledger.entry(collection, id).unwrap();
    assert_eq!(entry.contents.len(), contents.len());
    assert!(entry.contents == contents);
    ledger
        .receipt(id)
        .unwrap()
        .verify(&ledger.service_certificate_pem())
        .unwrap();
}

#[test]
fn entry_size_default_limit_on_disk() {
    assert_eq!(DEFAULT_MAX_ENTRY_SIZE, 1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    // Signing only when asked, so that no signature falls between the appends below.
    let ledger = Ledger::open(quiet(LedgerConfig::new(&path))).unwrap();
    let at_limit: Vec<u8> = (0..DEFAULT_MAX_ENTRY_SIZE)
        .map(|i| (i % 251) as u8)
        .collect();
    let id = ledger.append("big", &at_limit).unwrap();
    let mut over = at_limit.clone();
    over.push(0);
    invalid_naming(ledger.append("big", &over), "max_entry_size");
    // The rejection consumed no seqno.
    let next = ledger.append("big", b"small").unwrap();
    assert_eq!(next.seqno(), id.seqno() + 1);
    commits_and_reads_back(&ledger, "big", id, &at_limit);
    ledger.close().unwrap();
    // Reopened: still there, and the ledger audits clean.
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    commits_and_reads_back(&ledger, "big", id, &at_limit);
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn entry_size_configured_limits() {
    let ledger = Ledger::in_memory_with(LedgerConfig::new("").max_entry_size(1000)).unwrap();
    let id = ledger.append("c", &[7; 1000]).unwrap();
    invalid_naming(ledger.append("c", &[7; 1001]), "max_entry_size");
    // An empty entry is fine.
    let empty = ledger.append("c", b"").unwrap();
    commits_and_reads_back(&ledger, "c", id, &[7; 1000]);
    commits_and_reads_back(&ledger, "c", empty, b"");

    // The configuration itself is checked when the ledger opens.
    for bad in [
        LedgerConfig::new("").max_entry_size(0),
        LedgerConfig::new("").max_entry_size(MAX_TX_SIZE_CEILING + 1),
        LedgerConfig::new("").max_entry_size(2000).max_tx_size(1999),
        LedgerConfig::new("").max_tx_size(MAX_TX_SIZE_CEILING + 1),
    ] {
        assert!(matches!(
            Ledger::in_memory_with(bad),
            Err(Error::InvalidInput { .. })
        ));
    }
}

/// The smallest valid limits still create a ledger: the engine's own records (two
/// certificates at genesis, a consortium's members) are not the application's transactions.
#[test]
fn smallest_limits_create_and_reopen_a_ledger() {
    use ledger_core::governance::{Genesis, MemberKey};
    let tiny = |c: LedgerConfig| c.max_entry_size(1).max_tx_size(2);
    let ledger = Ledger::in_memory_with(tiny(LedgerConfig::new(""))).unwrap();
    let id = ledger.append("c", b"").unwrap();
    commits_and_reads_back(&ledger, "c", id, b"");
    invalid_naming(ledger.append("cc", b"x"), "max_tx_size");

    let member = MemberKey::ed25519_from_seed([4; 32]);
    let genesis = Genesis::new().member(member.public_key().clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(tiny(LedgerConfig::new(&path)).genesis(genesis)).unwrap();
    let id = ledger.append("c", b"x").unwrap();
    commits_and_reads_back(&ledger, "c", id, b"x");
    ledger.close().unwrap();
    let ledger = Ledger::open(tiny(LedgerConfig::new(&path))).unwrap();
    commits_and_reads_back(&ledger, "c", id, b"x");
    ledger.close().unwrap();
}

#[test]
fn entry_at_the_ceiling() {
    assert_eq!(MAX_TX_SIZE_CEILING, 32 << 20);
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .max_entry_size(MAX_TX_SIZE_CEILING)
            .max_tx_size(MAX_TX_SIZE_CEILING),
    )
    .unwrap();
    // The transaction's size counts the collection name too.
    let contents = vec![0x5a; MAX_TX_SIZE_CEILING - "c".len()];
    let id = ledger.append("c", &contents).unwrap();
    invalid_naming(ledger.append("cc", &contents), "max_tx_size");
    commits_and_reads_back(&ledger, "c", id, &contents);
}

#[test]
fn transaction_size_limits() {
    // Small limits: exactly at the transaction limit with appends and table writes.
    let ledger =
        Ledger::in_memory_with(LedgerConfig::new("").max_entry_size(1000).max_tx_size(4000))
            .unwrap();
    let mut tx = Transaction::new();
    // 3 x (1 + 999) for appends, plus "t" + key "k" + value of 998 for a put = 4000.
    tx.append("a", &[1; 999])
        .append("b", &[2; 999])
        .append("c", &[3; 999])
        .put("t", b"k", &[4; 998]);
    let id = ledger.submit(tx.clone()).unwrap();
    tx.put("t", b"k", &[4; 999]);
    invalid_naming(ledger.submit(tx.clone()), "max_tx_size");
    // A removal counts its table and key.
    let mut removal = Transaction::new();
    removal
        .append("a", &[1; 999])
        .append("b", &[2; 999])
        .append("c", &[3; 999])
        .remove("t", &[9; 998]);
    assert!(ledger.submit(removal.clone()).is_ok());
    removal.remove("t", &[8; 1]);
    invalid_naming(ledger.submit(removal), "max_tx_size");
    commits_and_reads_back(&ledger, "b", id, &[2; 999]);
    assert_eq!(
        ledger.table_get_at("t", b"k", id).unwrap(),
        Some(vec![4; 998])
    );

    // Keys: at most MAX_KEY_LEN bytes.
    let ledger = Ledger::in_memory().unwrap();
    let mut tx = Transaction::new();
    tx.put("t", &vec![1; MAX_KEY_LEN], b"v");
    let id = ledger.submit(tx).unwrap();
    let mut tx = Transaction::new();
    tx.put("t", &vec![1; MAX_KEY_LEN + 1], b"v");
    invalid_naming(ledger.submit(tx), "key limit");
    assert_eq!(
        ledger.wait_for_commit(id, WAIT).unwrap(),
        TxStatus::Committed
    );
    assert_eq!(
        ledger.table_get("t", &vec![1; MAX_KEY_LEN]).unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn transaction_size_default_limit_on_disk() {
    assert_eq!(DEFAULT_MAX_TX_SIZE, 16 << 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    // Sixteen appends of (3-byte name + 1 MiB - 3 bytes) = exactly 16 MiB.
    let part = vec![0xa5; DEFAULT_MAX_ENTRY_SIZE - 3];
    let mut tx = Transaction::new();
    for i in 0..16 {
        tx.append(&format!("c{i:02}"), &part);
    }
    let id = ledger.submit(tx.clone()).unwrap();
    tx.put("t", b"", b"");
    invalid_naming(ledger.submit(tx), "max_tx_size");
    commits_and_reads_back(&ledger, "c15", id, &part);
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

/// Names of exactly `bytes` bytes made of one repeated character (plus ASCII padding).
fn name_of(ch: char, bytes: usize) -> String {
    let width = ch.len_utf8();
    let mut name: String = std::iter::repeat_n(ch, bytes / width).collect();
    name.extend(std::iter::repeat_n('a', bytes % width));
    assert_eq!(name.len(), bytes);
    name
}

#[test]
fn name_length_limits_count_bytes_not_characters() {
    assert_eq!(MAX_NAME_LEN, 255);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    let mut accepted = Vec::new();
    for ch in ['a', 'é', '名', '🦀'] {
        let ok = name_of(ch, MAX_NAME_LEN);
        let over = name_of(ch, MAX_NAME_LEN + 1);
        // 128 two-byte characters are 256 bytes: over, though only 128 characters.
        let id = ledger.append(&ok, ch.to_string().as_bytes()).unwrap();
        invalid_naming(ledger.append(&over, b"x"), "255-byte limit");
        // Table names obey the same limit.
        let mut tx = Transaction::new();
        tx.put(&ok, b"key", b"value");
        ledger.submit(tx).unwrap();
        let mut tx = Transaction::new();
        tx.put(&over, b"key", b"value");
        invalid_naming(ledger.submit(tx), "255-byte limit");
        // Reads refuse over-long names too.
        assert!(matches!(
            ledger.latest(&over),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            ledger.table_get(&over, b"key"),
            Err(Error::InvalidInput { .. })
        ));
        accepted.push((ok, id, ch));
    }
    ledger.flush().unwrap();
    ledger.close().unwrap();
    // Names are index keys: after a reopen every one still finds its entry and value.
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    for (name, id, ch) in &accepted {
        let latest = ledger.latest(name).unwrap().unwrap();
        assert_eq!(
            (latest.tx_id, latest.contents),
            (*id, ch.to_string().into_bytes())
        );
        let page = ledger.entries_page(name, .., None, 10).unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(
            ledger.table_get(name, b"key").unwrap(),
            Some(b"value".to_vec())
        );
        ledger
            .receipt(*id)
            .unwrap()
            .verify(&ledger.service_certificate_pem())
            .unwrap();
    }
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn ten_thousand_collections() {
    const N: usize = 10_240;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let name = |i: usize| match i % 4 {
        0 => format!("coll-{i:05}"),
        1 => format!("sammlung-ü-{i:05}"),
        2 => format!("集合-{i:05}"),
        _ => format!("{}-{i:05}", "x".repeat(240)),
    };
    let ledger = Ledger::open(quiet(LedgerConfig::new(&path))).unwrap();
    // One append each, submitted without waiting, committed by one flush.
    let mut ids = Vec::with_capacity(N);
    for i in 0..N {
        ids.push(
            ledger
                .append(&name(i), format!("entry {i}").as_bytes())
                .unwrap(),
        );
    }
    // And one transaction appending to a thousand of them at once.
    let mut tx = Transaction::new();
    for i in (0..N).step_by(N / 1000) {
        tx.append(&name(i), format!("second entry {i}").as_bytes());
    }
    let multi = ledger.submit(tx).unwrap();
    ledger.flush().unwrap();
    let check = |ledger: &Ledger| {
        for (i, id) in ids.iter().enumerate() {
            let n = name(i);
            let page = ledger.entries_page(&n, .., None, 1).unwrap();
            assert_eq!(page.entries.len(), 1);
            assert_eq!(page.entries[0].tx_id, *id);
            assert_eq!(page.entries[0].contents, format!("entry {i}").into_bytes());
            let second = i % (N / 1000) == 0;
            assert_eq!(page.next.is_some(), second, "{n}");
            if second {
                let next = ledger.entries_page(&n, .., page.next.as_ref(), 1).unwrap();
                assert_eq!(next.entries[0].tx_id, multi);
                assert!(next.next.is_none());
            }
            if i % 97 == 0 {
                assert_eq!(ledger.status(*id), TxStatus::Committed);
                ledger
                    .receipt(*id)
                    .unwrap()
                    .verify(&ledger.service_certificate_pem())
                    .unwrap();
            }
        }
    };
    check(&ledger);
    ledger.close().unwrap();
    let ledger = Ledger::open(quiet(LedgerConfig::new(&path))).unwrap();
    check(&ledger);
    ledger.close().unwrap();
    // The store lists every collection, page by page, in name order.
    let store = ledger_store::RocksStore::open_read_only(&path).unwrap();
    let mut listed = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ledger_store::Store::collections(&store, after.as_deref(), 1000).unwrap();
        let Some(last) = page.last().cloned() else {
            break;
        };
        listed.extend(page);
        after = Some(last);
    }
    let mut expected: Vec<String> = (0..N).map(name).collect();
    expected.sort();
    assert_eq!(listed, expected);
    drop(store);
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn long_pending_tails() {
    const N: usize = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    // Signing only when asked, and a small sequencing window so that back-pressure is
    // exercised too.
    let ledger = Ledger::open(quiet(LedgerConfig::new(&path)).max_pending(64)).unwrap();
    let started = std::time::Instant::now();
    let ids: Vec<TxId> = (0..N)
        .map(|i| {
            let mut tx = Transaction::new();
            tx.append(&format!("tail{}", i % 7), format!("pending {i}").as_bytes())
                .put("progress", b"last", format!("{i}").as_bytes());
            ledger.submit(tx).unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Everything is readable while pending; nothing has a receipt.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(ledger.status(*id), TxStatus::Pending, "{id}");
        if i % 50 == 0 {
            assert_eq!(
                ledger
                    .entry(&format!("tail{}", i % 7), *id)
                    .unwrap()
                    .contents,
                format!("pending {i}").into_bytes()
            );
            assert!(matches!(
                ledger.receipt(*id),
                Err(Error::NotCommitted {
                    status: TxStatus::Pending,
                    ..
                })
            ));
        }
    }
    assert_eq!(
        ledger.table_get("progress", b"last").unwrap(),
        Some(format!("{}", N - 1).into_bytes())
    );
    // A short wait asks for a signature, so the whole tail commits at once.
    ledger.flush().unwrap();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(ledger.status(*id), TxStatus::Committed, "{id}");
        if i % 500 == 0 {
            ledger
                .receipt(*id)
                .unwrap()
                .verify(&ledger.service_certificate_pem())
                .unwrap();
        }
    }
    eprintln!(
        "{N} pending transactions recorded and committed in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // A second pending tail, left to `close`: closing signs it.
    let more: Vec<TxId> = (0..N)
        .map(|i| ledger.append("after", format!("{i}").as_bytes()).unwrap())
        .collect();
    assert_eq!(ledger.status(*more.last().unwrap()), TxStatus::Pending);
    ledger.close().unwrap();
    let ledger = Ledger::open(quiet(LedgerConfig::new(&path))).unwrap();
    for id in more.iter().step_by(250) {
        assert_eq!(ledger.status(*id), TxStatus::Committed);
    }
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(report.unsigned_tail, None);
}
