//! Bounded reads (issue 11, item 8): paged reads refuse a page limit over the documented
//! [`MAX_PAGE_LIMIT`]; a table key's history is paged like a collection's entries
//! (`table_history_page`) and `table_history` reads it lazily, page by page; and no read
//! panics on extreme limits, cursors, names or ids: each answers or fails with a typed
//! error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::Bound;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

use ledger_core::{
    Cursor, Error, KeyHistoryPage, Ledger, LedgerConfig, Page, Problem, Transaction, TxId,
    TxStatus, MAX_NAME_LEN, MAX_PAGE_LIMIT,
};

/// `result` is the refusal of a page limit of `limit`.
fn assert_limit_refused<T: std::fmt::Debug>(result: Result<T, Error>, limit: usize) {
    match result {
        Err(Error::InvalidInput {
            what: "page limit",
            problem: Problem::TooLarge { size, limit: max },
        }) => {
            assert_eq!(size, u64::try_from(limit).unwrap_or(u64::MAX));
            assert_eq!(max, MAX_PAGE_LIMIT as u64);
        }
        Err(Error::InvalidInput {
            what: "page limit",
            problem:
                Problem::TooSmall {
                    size: 0,
                    minimum: 1,
                },
        }) if limit == 0 => {}
        other => panic!("limit {limit}: expected a refused page limit, got {other:?}"),
    }
}

#[test]
fn page_limits_over_the_maximum_are_refused() {
    // The documented maximum.
    assert_eq!(MAX_PAGE_LIMIT, 10_000);
    let ledger = Ledger::in_memory().unwrap();
    ledger.append("c", b"x").unwrap();
    let mut tx = Transaction::new();
    tx.put("t", b"k", b"v");
    ledger.submit(tx).unwrap();
    assert_eq!(
        ledger
            .entries_page("c", .., None, MAX_PAGE_LIMIT)
            .unwrap()
            .entries
            .len(),
        1
    );
    assert_eq!(
        ledger
            .table_history_page("t", b"k", None, MAX_PAGE_LIMIT)
            .unwrap()
            .versions
            .len(),
        1
    );
    for limit in [0, MAX_PAGE_LIMIT + 1, usize::MAX] {
        assert_limit_refused(ledger.entries_page("c", .., None, limit), limit);
        assert_limit_refused(ledger.table_history_page("t", b"k", None, limit), limit);
    }
    // Through a session too.
    ledger.governance().set_user("r", "Reader").unwrap();
    let reader = ledger.session("r").unwrap();
    assert_limit_refused(
        reader.entries_page("c", .., None, MAX_PAGE_LIMIT + 1),
        MAX_PAGE_LIMIT + 1,
    );
    assert_limit_refused(
        reader.table_history_page("t", b"k", None, MAX_PAGE_LIMIT + 1),
        MAX_PAGE_LIMIT + 1,
    );
}

#[test]
fn collections_are_listed_in_order_page_by_page() {
    let ledger = Ledger::in_memory().unwrap();
    assert!(ledger.collections(None, 10).unwrap().is_empty());
    for name in ["b", "a", "c", "a", "subledger:0"] {
        ledger.append(name, b"x").unwrap();
    }
    // A table write names no collection.
    let mut tx = Transaction::new();
    tx.put("t", b"k", b"v");
    ledger.submit(tx).unwrap();
    assert_eq!(
        ledger.collections(None, 10).unwrap(),
        ["a", "b", "c", "subledger:0"]
    );
    assert_eq!(ledger.collections(None, 2).unwrap(), ["a", "b"]);
    assert_eq!(
        ledger.collections(Some("b"), 2).unwrap(),
        ["c", "subledger:0"]
    );
    assert!(ledger
        .collections(Some("subledger:0"), 2)
        .unwrap()
        .is_empty());
    for limit in [0, MAX_PAGE_LIMIT + 1] {
        assert_limit_refused(ledger.collections(None, limit), limit);
    }
}

#[test]
fn table_history_is_paged_like_entries() {
    let ledger = Ledger::in_memory().unwrap();
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for i in 0..2_500u32 {
        let mut tx = Transaction::new();
        if i % 7 == 3 {
            tx.remove("t", b"k");
            values.push(None);
        } else {
            tx.put("t", b"k", &i.to_be_bytes());
            values.push(Some(i.to_be_bytes().to_vec()));
        }
        // Noise: another key of the same table, and a key of the same name in another table.
        if i % 5 == 0 {
            tx.put("t", b"k2", b"other").put("u", b"k", b"other");
        }
        ids.push(ledger.submit(tx).unwrap());
        if i % 11 == 0 {
            ledger.append("c", b"between").unwrap();
        }
    }
    let expected: Vec<(TxId, Option<Vec<u8>>)> = ids.into_iter().zip(values).collect();

    // Three pages of at most 1000.
    let mut pages = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = ledger
            .table_history_page("t", b"k", cursor.as_ref(), 1000)
            .unwrap();
        pages.push(page.versions.len());
        let last_seen = page.versions.last().map(|v| v.tx_id);
        let from_this_page: Vec<_> = page
            .versions
            .into_iter()
            .map(|v| (v.tx_id, v.value))
            .collect();
        let start = pages.iter().sum::<usize>() - from_this_page.len();
        assert_eq!(
            from_this_page,
            expected[start..start + from_this_page.len()].to_vec()
        );
        match page.next {
            Some(next) => {
                // The cursor points after the page, at the next version.
                assert!(next.as_str().starts_with('s'));
                let next_seqno: u64 = next.as_str()[1..].parse().unwrap();
                assert!(next_seqno > last_seen.unwrap().seqno());
                cursor = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, vec![1000, 1000, 500]);

    // The lazy iterator yields every version, in order.
    let all: Vec<(TxId, Option<Vec<u8>>)> = ledger
        .table_history("t", b"k")
        .map(|v| v.map(|v| (v.tx_id, v.value)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(all, expected);
    // It is lazy: taking a few reads only the first page, and it can stop early.
    let first: Vec<_> = ledger
        .table_history("t", b"k")
        .take(3)
        .map(|v| v.unwrap().tx_id)
        .collect();
    assert_eq!(first, expected[..3].iter().map(|v| v.0).collect::<Vec<_>>());
    // A key without versions, and a malformed table name (reported by the first `next`).
    assert!(ledger.table_history("t", b"none").next().is_none());
    let mut bad = ledger.table_history("", b"k");
    assert!(matches!(
        bad.next(),
        Some(Err(Error::InvalidInput {
            what: "table name",
            problem: Problem::Empty
        }))
    ));
    assert!(bad.next().is_none());

    // Through a session: the same versions, with the table read permission.
    ledger.governance().set_user("r", "Reader").unwrap();
    let reader = ledger.session("r").unwrap();
    let via_session: Vec<_> = reader
        .table_history("t", b"k")
        .unwrap()
        .map(|v| v.map(|v| (v.tx_id, v.value)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(via_session, expected);
    let page = reader.table_history_page("t", b"k", None, 10).unwrap();
    assert_eq!(page.versions.len(), 10);
}

// ---------------------------------------------------------------------------------------
// No read panics on extreme input; every refusal is typed.

const LIMITS: [usize; 6] = [0, 1, 2, MAX_PAGE_LIMIT, MAX_PAGE_LIMIT + 1, usize::MAX];

fn limit() -> impl Strategy<Value = usize> {
    prop_oneof![
        3 => proptest::sample::select(LIMITS.to_vec()),
        1 => any::<usize>(),
        1 => 0..8usize,
    ]
}

fn cursor_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        3 => proptest::sample::select(vec![
            "s0".to_owned(),
            "s1".to_owned(),
            "s2".to_owned(),
            "s18446744073709551615".to_owned(),
            "s18446744073709551616".to_owned(),
            "s-1".to_owned(),
            "s+3".to_owned(),
            "S3".to_owned(),
            " s3".to_owned(),
            "s3 ".to_owned(),
            "s".to_owned(),
            "x".to_owned(),
            String::new(),
            "s\u{0}".to_owned(),
            "s٣".to_owned(),
        ]),
        1 => "s[0-9]{1,25}",
        1 => ".{0,12}",
    ])
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec!["c".to_owned(), "t".to_owned(), "none".to_owned()]),
        1 => proptest::sample::select(vec![
            String::new(),
            "gov.users".to_owned(),
            "internal.nodes".to_owned(),
            "bad\nname".to_owned(),
            "x".repeat(MAX_NAME_LEN),
            "x".repeat(MAX_NAME_LEN + 1),
        ]),
        1 => ".{0,8}",
    ]
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => Just(b"k".to_vec()),
        1 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>(), 0..16),
        1 => Just(vec![0xff; 5000]),
    ]
}

fn seqno() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => 1..40u64,
        1 => proptest::sample::select(vec![1, u64::MAX - 1, u64::MAX]),
        1 => any::<u64>(),
    ]
}

fn tx_id() -> impl Strategy<Value = TxId> {
    (
        prop_oneof![3 => Just(1u64), 1 => 1..4u64, 1 => Just(u64::MAX)],
        seqno(),
    )
        .prop_map(|(view, seqno)| TxId::new(view, seqno).unwrap())
}

fn bound() -> impl Strategy<Value = Bound<TxId>> {
    prop_oneof![
        Just(Bound::Unbounded),
        tx_id().prop_map(Bound::Included),
        tx_id().prop_map(Bound::Excluded),
    ]
}

#[derive(Clone, Debug)]
enum Read {
    EntriesPage {
        name: String,
        range: (Bound<TxId>, Bound<TxId>),
        cursor: Option<String>,
        limit: usize,
    },
    HistoryPage {
        name: String,
        key: Vec<u8>,
        cursor: Option<String>,
        limit: usize,
    },
    Entries {
        name: String,
        range: (Bound<TxId>, Bound<TxId>),
    },
    History {
        name: String,
        key: Vec<u8>,
    },
    Entry {
        name: String,
        tx: TxId,
    },
    Latest {
        name: String,
    },
    TableGet {
        name: String,
        key: Vec<u8>,
    },
    TableGetAt {
        name: String,
        key: Vec<u8>,
        tx: TxId,
    },
    Receipt {
        tx: TxId,
    },
    Consistency {
        from: TxId,
        to: TxId,
    },
}

fn read() -> impl Strategy<Value = Read> {
    prop_oneof![
        4 => (name(), (bound(), bound()), cursor_text(), limit()).prop_map(
            |(name, range, cursor, limit)| Read::EntriesPage { name, range, cursor, limit }
        ),
        4 => (name(), key(), cursor_text(), limit()).prop_map(
            |(name, key, cursor, limit)| Read::HistoryPage { name, key, cursor, limit }
        ),
        1 => (name(), (bound(), bound())).prop_map(|(name, range)| Read::Entries { name, range }),
        1 => (name(), key()).prop_map(|(name, key)| Read::History { name, key }),
        1 => (name(), tx_id()).prop_map(|(name, tx)| Read::Entry { name, tx }),
        1 => name().prop_map(|name| Read::Latest { name }),
        1 => (name(), key()).prop_map(|(name, key)| Read::TableGet { name, key }),
        1 => (name(), key(), tx_id()).prop_map(|(name, key, tx)| Read::TableGetAt { name, key, tx }),
        1 => tx_id().prop_map(|tx| Read::Receipt { tx }),
        1 => (tx_id(), tx_id()).prop_map(|(from, to)| Read::Consistency { from, to }),
    ]
}

/// Whether `name` passes the read-side name check.
fn name_ok(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && !name.chars().any(char::is_control)
}

/// What a cursor's text parses to, if it is well formed.
fn cursor_seqno(text: &str) -> Option<u64> {
    text.strip_prefix('s')
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n > 0)
}

/// The refusal a paged read must give, checked in the engine's order: name, limit, cursor.
fn expected_refusal(
    name: &str,
    name_what: &'static str,
    cursor: Option<&str>,
    limit: usize,
) -> Option<&'static str> {
    if !name_ok(name) {
        Some(name_what)
    } else if limit == 0 || limit > MAX_PAGE_LIMIT {
        Some("page limit")
    } else if cursor.is_some_and(|c| cursor_seqno(c).is_none()) {
        Some("page cursor")
    } else {
        None
    }
}

fn check_refusal<T: std::fmt::Debug>(
    result: &Result<T, Error>,
    want: Option<&'static str>,
) -> Result<(), TestCaseError> {
    match (want, result) {
        (None, Ok(_)) => Ok(()),
        (Some(want), Err(Error::InvalidInput { what, .. })) => {
            prop_assert_eq!(*what, want);
            Ok(())
        }
        (want, got) => Err(TestCaseError::fail(format!(
            "expected refusal {want:?}, got {got:?}"
        ))),
    }
}

/// Allowed outcomes of a read by id: an answer, or invalid input / not found / not committed.
fn typed<T: std::fmt::Debug>(result: &Result<T, Error>) -> Result<(), TestCaseError> {
    match result {
        Ok(_)
        | Err(Error::InvalidInput { .. } | Error::NotFound { .. } | Error::NotCommitted { .. }) => {
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!(
            "untyped or unexpected error: {e:?}"
        ))),
    }
}

fn check_page(page: &Page, limit: usize) -> Result<(), TestCaseError> {
    prop_assert!(page.entries.len() <= limit);
    if let Some(next) = &page.next {
        prop_assert!(cursor_seqno(next.as_str()).is_some());
    }
    Ok(())
}

fn check_history_page(page: &KeyHistoryPage, limit: usize) -> Result<(), TestCaseError> {
    prop_assert!(page.versions.len() <= limit);
    prop_assert!(page.versions.windows(2).all(|w| w[0].tx_id < w[1].tx_id));
    if let Some(next) = &page.next {
        let next = cursor_seqno(next.as_str());
        prop_assert!(next.is_some());
        prop_assert!(page
            .versions
            .last()
            .is_some_and(|v| v.tx_id.seqno() < next.unwrap()));
    }
    Ok(())
}

fn run(ledger: &Ledger, read: &Read) -> Result<(), TestCaseError> {
    match read {
        Read::EntriesPage {
            name,
            range,
            cursor,
            limit,
        } => {
            let c = cursor.as_ref().map(|c| Cursor::from_string(c.clone()));
            let result = ledger.entries_page(name, *range, c.as_ref(), *limit);
            check_refusal(
                &result,
                expected_refusal(name, "collection name", cursor.as_deref(), *limit),
            )?;
            if let Ok(page) = &result {
                check_page(page, *limit)?;
            }
            // A session answers alike once the role permits it.
            let session = ledger.session("reader").unwrap();
            let via = session.entries_page(name, *range, c.as_ref(), *limit);
            prop_assert_eq!(format!("{result:?}"), format!("{via:?}"));
        }
        Read::HistoryPage {
            name,
            key,
            cursor,
            limit,
        } => {
            let c = cursor.as_ref().map(|c| Cursor::from_string(c.clone()));
            let result = ledger.table_history_page(name, key, c.as_ref(), *limit);
            check_refusal(
                &result,
                expected_refusal(name, "table name", cursor.as_deref(), *limit),
            )?;
            if let Ok(page) = &result {
                check_history_page(page, *limit)?;
            }
            let session = ledger.session("reader").unwrap();
            let via = session.table_history_page(name, key, c.as_ref(), *limit);
            prop_assert_eq!(format!("{result:?}"), format!("{via:?}"));
        }
        Read::Entries { name, range } => {
            let all: Result<Vec<_>, _> = ledger.entries(name, *range).collect();
            check_refusal(&all, (!name_ok(name)).then_some("collection name"))?;
        }
        Read::History { name, key } => {
            let all: Result<Vec<_>, _> = ledger.table_history(name, key).collect();
            check_refusal(&all, (!name_ok(name)).then_some("table name"))?;
            if let Ok(all) = all {
                prop_assert!(all.windows(2).all(|w| w[0].tx_id < w[1].tx_id));
            }
        }
        Read::Entry { name, tx } => typed(&ledger.entry(name, *tx))?,
        Read::Latest { name } => {
            check_refusal(
                &ledger.latest(name),
                (!name_ok(name)).then_some("collection name"),
            )?;
        }
        Read::TableGet { name, key } => {
            check_refusal(
                &ledger.table_get(name, key),
                (!name_ok(name)).then_some("table name"),
            )?;
        }
        Read::TableGetAt { name, key, tx } => typed(&ledger.table_get_at(name, key, *tx))?,
        Read::Receipt { tx } => {
            typed(&ledger.receipt(*tx))?;
            let session = ledger.session("reader").unwrap();
            typed(&session.receipt(*tx))?;
        }
        Read::Consistency { from, to } => typed(&ledger.consistency_proof(*from, *to))?,
    }
    Ok(())
}

/// A small ledger with entries, table versions, governance and signature transactions.
fn small_ledger() -> Ledger {
    let ledger = Ledger::in_memory().unwrap();
    ledger.governance().set_user("reader", "Reader").unwrap();
    for i in 0..12u8 {
        let mut tx = Transaction::new();
        tx.append("c", &[i]).put("t", b"k", &[i]);
        if i % 3 == 0 {
            tx.remove("t", b"k").append("none-like", b"x");
        }
        ledger.submit(tx).unwrap();
        if i % 4 == 0 {
            ledger.flush().unwrap();
        }
    }
    ledger.flush().unwrap();
    ledger
}

#[test]
fn extreme_read_inputs_never_panic() {
    let ledger = small_ledger();
    // Every fixed extreme limit and cursor, on both paged reads.
    let cursors = [
        None,
        Some("s0"),
        Some("s1"),
        Some("s18446744073709551615"),
        Some("s18446744073709551616"),
        Some("x"),
        Some(""),
    ];
    for limit in LIMITS {
        for cursor in cursors {
            for (name, key) in [("c", b"k".as_slice()), ("t", b"k")] {
                let cursor = cursor.map(str::to_owned);
                run(
                    &ledger,
                    &Read::EntriesPage {
                        name: name.into(),
                        range: (Bound::Unbounded, Bound::Unbounded),
                        cursor: cursor.clone(),
                        limit,
                    },
                )
                .unwrap();
                run(
                    &ledger,
                    &Read::HistoryPage {
                        name: name.into(),
                        key: key.to_vec(),
                        cursor,
                        limit,
                    },
                )
                .unwrap();
            }
        }
    }
    // The largest seqno is a well-formed cursor past the end: an empty last page.
    let far = Cursor::from_string("s18446744073709551615");
    let page = ledger.entries_page("c", .., Some(&far), 5).unwrap();
    assert!(page.entries.is_empty() && page.next.is_none());
    let page = ledger.table_history_page("t", b"k", Some(&far), 5).unwrap();
    assert!(page.versions.is_empty() && page.next.is_none());
    for bad in ["s0", "x", "", "s18446744073709551616"] {
        assert!(matches!(
            ledger.table_history_page("t", b"k", Some(&Cursor::from_string(bad)), 5),
            Err(Error::InvalidInput {
                what: "page cursor",
                problem: Problem::Malformed { .. }
            })
        ));
    }
}

proptest! {
    #![proptest_config(Config {
        cases: 256,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x1111_0008),
        ..Config::default()
    })]

    #[test]
    fn random_extreme_reads_answer_or_refuse_typed(reads in proptest::collection::vec(read(), 1..8)) {
        thread_local! {
            static LEDGER: Ledger = small_ledger();
        }
        LEDGER.with(|ledger| {
            for r in &reads {
                run(ledger, r)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
    }
}

#[test]
fn the_last_committed_transaction_is_the_one_before_the_newest_durable_signature() {
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .sig_interval(std::time::Duration::from_secs(3600))
            .sig_tx_interval(std::num::NonZeroU64::new(1 << 40).unwrap()),
    )
    .unwrap();
    // Genesis is committed by the first signature.
    let genesis = ledger.last_committed().unwrap();
    assert_eq!(ledger.status(genesis), TxStatus::Committed);
    let first = ledger.append("audit", b"one").unwrap();
    let second = ledger.append("audit", b"two").unwrap();
    // Not signed yet: still the genesis.
    assert_eq!(ledger.last_committed(), Some(genesis));
    assert_ne!(ledger.status(second), TxStatus::Committed);
    ledger.flush().unwrap();
    assert_eq!(ledger.last_committed(), Some(second));
    assert_eq!(ledger.status(second), TxStatus::Committed);
    assert!(first < second);
}
