//! One conformance suite, run against every backend: RocksStore, MemoryStore and FaultyStore
//! (with no fault armed) around each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::ops::RangeInclusive;

use common::{check, make_group, Model, Tree, Universe};
use ledger_merkle::TileStore;
use ledger_store::testing::FaultyStore;
use ledger_store::{
    Durability, EntryRecord, Group, MemoryStore, Recovery, RocksStore, Store, StoreConfig,
    StoreError, TableVersion, TableWrite,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A backend under test, and how to crash-and-reopen it.
trait Harness: Sized {
    type S: Store;
    fn new() -> Self;
    fn store(&self) -> &Self::S;
    /// Closes (or crashes) and reopens the store; what is not committed is discarded.
    fn reopen(&mut self) -> Recovery;
}

struct Rocks {
    dir: tempfile::TempDir,
    store: Option<RocksStore>,
}

fn config() -> StoreConfig {
    // Buffered keeps the suite fast; fsync paths are covered by the crash tests.
    StoreConfig::default().durability(Durability::Buffered)
}

impl Harness for Rocks {
    type S = RocksStore;
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, rec) = RocksStore::open(dir.path(), config()).unwrap();
        assert_eq!(rec.committed_seqno, 0);
        Rocks {
            dir,
            store: Some(store),
        }
    }
    fn store(&self) -> &RocksStore {
        self.store.as_ref().unwrap()
    }
    fn reopen(&mut self) -> Recovery {
        drop(self.store.take());
        let (store, rec) = RocksStore::open(self.dir.path(), config()).unwrap();
        self.store = Some(store);
        rec
    }
}

struct Memory(MemoryStore);

impl Harness for Memory {
    type S = MemoryStore;
    fn new() -> Self {
        Memory(MemoryStore::new())
    }
    fn store(&self) -> &MemoryStore {
        &self.0
    }
    fn reopen(&mut self) -> Recovery {
        self.0.simulate_crash()
    }
}

struct FaultyMemory(FaultyStore<MemoryStore>);

impl Harness for FaultyMemory {
    type S = FaultyStore<MemoryStore>;
    fn new() -> Self {
        FaultyMemory(FaultyStore::new(MemoryStore::new()))
    }
    fn store(&self) -> &Self::S {
        &self.0
    }
    fn reopen(&mut self) -> Recovery {
        self.0.inner().simulate_crash()
    }
}

struct FaultyRocks {
    dir: tempfile::TempDir,
    store: Option<FaultyStore<RocksStore>>,
}

impl Harness for FaultyRocks {
    type S = FaultyStore<RocksStore>;
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = RocksStore::open(dir.path(), config()).unwrap();
        FaultyRocks {
            dir,
            store: Some(FaultyStore::new(store)),
        }
    }
    fn store(&self) -> &Self::S {
        self.store.as_ref().unwrap()
    }
    fn reopen(&mut self) -> Recovery {
        drop(self.store.take().map(FaultyStore::into_inner));
        let (store, rec) = RocksStore::open(self.dir.path(), config()).unwrap();
        self.store = Some(FaultyStore::new(store));
        rec
    }
}

/// Writes `groups` (size, commit) through the harness and the model.
fn write_all<H: Harness>(
    h: &H,
    tree: &mut Tree,
    model: &mut Model,
    u: &mut Universe,
    groups: &[(u64, bool)],
) {
    for &(n, commit) in groups {
        let g = make_group(tree, model.last, n, commit);
        h.store().write_group(&g).unwrap();
        model.apply(&g, u);
    }
}

fn read_your_writes<H: Harness>() {
    let h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    check(h.store(), &model, &u);
    let plan = [
        (1, false),
        (5, true),
        (0, false),
        (17, false),
        (3, true),
        (300, true),
    ];
    for &(n, commit) in &plan {
        write_all(&h, &mut tree, &mut model, &mut u, &[(n, commit)]);
        check(h.store(), &model, &u);
    }
    // Metadata deletes and overwrites.
    let g = Group {
        meta: vec![
            ("last-written".into(), None),
            ("other".into(), Some(vec![1, 2])),
        ],
        commit: true,
        ..Group::default()
    };
    h.store().write_group(&g).unwrap();
    model.apply(&g, &mut u);
    check(h.store(), &model, &u);
}

fn range_reads_and_paging<H: Harness>() {
    let h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    while model.last < 600 {
        let n = rng.gen_range(1..40);
        write_all(&h, &mut tree, &mut model, &mut u, &[(n, rng.gen_bool(0.5))]);
    }
    let s = h.store();
    for _ in 0..300 {
        let from = rng.gen_range(0..650);
        let to = rng.gen_range(0..650);
        let limit = rng.gen_range(0..50);
        let want: Vec<(u64, Vec<u8>)> = (from.max(1)..=to.min(model.last))
            .take(limit)
            .map(|s| (s, model.entries[s as usize - 1].clone()))
            .collect();
        assert_eq!(
            s.entries(from..=to, limit).unwrap(),
            want,
            "{from}..={to} limit {limit}"
        );
        for c in ["alpha", "beta", "gamma", "all\0sub", "missing"] {
            let rows: Vec<u64> = model
                .colls
                .get(c)
                .map(|r| {
                    r.range(from..=to.max(from))
                        .copied()
                        .filter(|x| *x <= to)
                        .collect()
                })
                .unwrap_or_default();
            let asc: Vec<u64> = rows.iter().copied().take(limit).collect();
            let desc: Vec<u64> = rows.iter().rev().copied().take(limit).collect();
            assert_eq!(s.collection_seqnos(c, from..=to, limit).unwrap(), asc);
            assert_eq!(s.collection_seqnos_rev(c, from..=to, limit).unwrap(), desc);
        }
        let sigs: Vec<(u64, Vec<u8>)> = model
            .sigs
            .iter()
            .filter(|(k, _)| (from..=to).contains(*k))
            .take(limit)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        assert_eq!(s.signatures(from..=to, limit).unwrap(), sigs);
        let after = model
            .sigs
            .range(from + 1..)
            .next()
            .map(|(k, v)| (*k, v.clone()));
        assert_eq!(s.signature_after(from).unwrap(), after);
        let before = model
            .sigs
            .range(..=from)
            .next_back()
            .map(|(k, v)| (*k, v.clone()));
        assert_eq!(s.signature_at_or_before(from).unwrap(), before);
        assert_eq!(s.signature(from).unwrap(), model.sigs.get(&from).cloned());
    }
    // Paging through everything reassembles the whole.
    for limit in [1, 7, 64] {
        let mut got = Vec::new();
        let mut from = 1;
        loop {
            let page = s.entries(from..=u64::MAX, limit).unwrap();
            let Some((last, _)) = page.last() else { break };
            from = last + 1;
            got.extend(page.into_iter().map(|(s, _)| s));
        }
        assert_eq!(got, (1..=model.last).collect::<Vec<_>>());
        let mut rev = Vec::new();
        let mut to = u64::MAX;
        loop {
            let page = s.collection_seqnos_rev("beta", 0..=to, limit).unwrap();
            let Some(&last) = page.last() else { break };
            rev.extend(page);
            if last == 0 {
                break;
            }
            to = last - 1;
        }
        let want: Vec<u64> = model.colls["beta"].iter().rev().copied().collect();
        assert_eq!(rev, want);
    }
    let mut names = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.collections(after.as_deref(), 1).unwrap();
        let Some(n) = page.last().cloned() else { break };
        names.push(n.clone());
        after = Some(n);
    }
    assert_eq!(names, ["all\0sub", "alpha", "beta", "gamma"]);
    assert_eq!(s.collections(Some("alpha"), 10).unwrap(), ["beta", "gamma"]);
    assert_eq!(s.collections(Some("b"), 10).unwrap(), ["beta", "gamma"]);
    assert!(s.collections(None, 0).unwrap().is_empty());
    assert!(s.entries(RangeInclusive::new(5, 4), 10).unwrap().is_empty());
    assert_eq!(s.signature_after(u64::MAX).unwrap(), None);
}

/// The key of table `t1` that [`make_group`] writes at seqnos 1, 11, 21, 31, ...
const HISTORY_KEY: &[u8] = &[b'k', 0, 1];

/// Every range read of the store over `seqnos` with `limit`, each reduced to the seqnos it
/// returned and named.
fn range_reads<S: Store>(
    s: &S,
    seqnos: RangeInclusive<u64>,
    limit: usize,
) -> [(&'static str, Vec<u64>); 5] {
    let ctx = format!("{seqnos:?} limit {limit}");
    let ok = |what: &str, r: Result<Vec<u64>, StoreError>| {
        r.unwrap_or_else(|e| panic!("{what} {ctx}: {e}"))
    };
    let firsts = |v: Vec<(u64, Vec<u8>)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    [
        (
            "entries",
            ok("entries", s.entries(seqnos.clone(), limit).map(firsts)),
        ),
        (
            "collection_seqnos",
            ok(
                "collection_seqnos",
                s.collection_seqnos("beta", seqnos.clone(), limit),
            ),
        ),
        (
            "collection_seqnos_rev",
            ok(
                "collection_seqnos_rev",
                s.collection_seqnos_rev("beta", seqnos.clone(), limit),
            ),
        ),
        (
            "table_history",
            ok(
                "table_history",
                s.table_history("t1", HISTORY_KEY, seqnos.clone(), limit)
                    .map(|v| v.into_iter().map(|v| v.seqno).collect()),
            ),
        ),
        (
            "signatures",
            ok("signatures", s.signatures(seqnos, limit).map(firsts)),
        ),
    ]
}

/// The one rule of the range reads, for every range read: start > end or limit 0 reads
/// nothing, seqno 0 is never read (a range from 0 reads as one from 1), and a range past the
/// end reads what there is.
fn empty_range_rule<H: Harness>() {
    let h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    // Seqnos 1..=40; signatures at 1, 10 and 40; every read has something at seqno 1.
    write_all(
        &h,
        &mut tree,
        &mut model,
        &mut u,
        &[(1, true), (9, true), (15, false), (15, true)],
    );
    let s = h.store();
    let last = model.last;
    assert_eq!(last, 40);

    // Everything, so that the reads below are not trivially empty.
    let beta: Vec<u64> = model.colls["beta"].iter().copied().collect();
    let history: Vec<u64> = model.tables["t1"][HISTORY_KEY].keys().copied().collect();
    let everything = [
        (1..=last).collect::<Vec<u64>>(),
        beta.clone(),
        beta.iter().rev().copied().collect(),
        history.clone(),
        model.sigs.keys().copied().collect(),
    ];
    assert_eq!(beta.first(), Some(&1));
    assert_eq!(history.first(), Some(&1));
    assert_eq!(model.sigs.keys().next(), Some(&1));
    for (range, limit) in [(0..=u64::MAX, usize::MAX), (1..=last, last as usize)] {
        for ((what, got), want) in range_reads(s, range.clone(), limit)
            .into_iter()
            .zip(&everything)
        {
            assert_eq!(&got, want, "{what} {range:?} limit {limit}");
        }
    }
    let nothing = |range: RangeInclusive<u64>, limit: usize| {
        for (what, got) in range_reads(s, range.clone(), limit) {
            assert!(got.is_empty(), "{what} {range:?} limit {limit}: {got:?}");
        }
    };

    // start > end reads nothing, whatever the limit.
    for (start, end) in [
        (2, 1),
        (5, 4),
        (40, 1),
        (41, 40),
        (u64::MAX, 0),
        (u64::MAX, last),
    ] {
        for limit in [0, 1, 3, usize::MAX] {
            nothing(start..=end, limit);
        }
    }
    // So does a range already iterated to its end.
    let mut spent = 1..=1;
    assert_eq!(spent.next(), Some(1));
    nothing(spent, usize::MAX);

    // limit 0 reads nothing, whatever the range.
    for range in [0..=u64::MAX, 1..=last, 1..=1, 10..=10, 0..=0] {
        nothing(range, 0);
    }

    // Seqno 0 is never read: 0..=0 is empty, and 0..=x reads as 1..=x.
    for limit in [1, 3, usize::MAX] {
        nothing(0..=0, limit);
        for end in [1, 10, last, last + 1, u64::MAX] {
            let from_0 = range_reads(s, 0..=end, limit);
            let from_1 = range_reads(s, 1..=end, limit);
            assert_eq!(from_0, from_1, "0..={end} against 1..={end} limit {limit}");
            for (what, got) in from_0 {
                assert!(!got.is_empty(), "{what} 0..={end} limit {limit}");
                assert!(!got.contains(&0), "{what} 0..={end} limit {limit}");
            }
        }
    }

    // A range past the end reads what there is; one wholly past it reads nothing.
    for limit in [1, 3, usize::MAX] {
        for end in [last + 1, 1000, u64::MAX] {
            assert_eq!(
                range_reads(s, 30..=end, limit),
                range_reads(s, 30..=last, limit),
                "30..={end} limit {limit}"
            );
        }
        for range in [
            last + 1..=last + 1,
            last + 1..=u64::MAX,
            u64::MAX..=u64::MAX,
        ] {
            nothing(range, limit);
        }
    }
}

fn versioned_tables<H: Harness>() {
    let h = H::new();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut versions: std::collections::BTreeMap<(String, Vec<u8>), Vec<TableVersion>> =
        Default::default();
    let keys: Vec<Vec<u8>> = vec![
        vec![],
        vec![0],
        vec![0, 0],
        vec![0, 1],
        b"a".to_vec(),
        b"a\0".to_vec(),
        b"a\x01".to_vec(),
        b"b".to_vec(),
        vec![0xFF; 3],
    ];
    let tables = ["t", "t\0", "u"];
    let mut last = 0;
    for _ in 0..60 {
        let n = rng.gen_range(1..10);
        let mut g = Group {
            commit: true,
            ..Group::default()
        };
        for s in last + 1..=last + n {
            g.entries.push(EntryRecord::new(s, vec![s as u8]));
            for _ in 0..rng.gen_range(0..4) {
                let t = tables[rng.gen_range(0..tables.len())].to_string();
                let k = keys[rng.gen_range(0..keys.len())].clone();
                let value = rng
                    .gen_bool(0.7)
                    .then(|| vec![rng.gen(); rng.gen_range(0..5)]);
                let list = versions.entry((t.clone(), k.clone())).or_default();
                if list.last().map(|v| v.seqno) == Some(s) {
                    continue;
                }
                list.push(TableVersion {
                    seqno: s,
                    value: value.clone(),
                });
                g.table_writes.push(TableWrite {
                    table: t,
                    key: k,
                    seqno: s,
                    value,
                });
            }
        }
        h.store().write_group(&g).unwrap();
        last += n;
    }
    let s = h.store();
    for ((t, k), list) in &versions {
        for as_of in 0..=last + 1 {
            let want = list.iter().rev().find(|v| v.seqno <= as_of).cloned();
            assert_eq!(
                s.table_get(t, k, as_of).unwrap(),
                want,
                "{t:?} {k:?} @{as_of}"
            );
        }
        for _ in 0..20 {
            let from = rng.gen_range(0..last + 2);
            let to = rng.gen_range(0..last + 2);
            let limit = rng.gen_range(0..5);
            let want: Vec<TableVersion> = list
                .iter()
                .filter(|v| v.seqno >= from && v.seqno <= to)
                .take(limit)
                .cloned()
                .collect();
            assert_eq!(s.table_history(t, k, from..=to, limit).unwrap(), want);
        }
    }
    for t in tables {
        for as_of in [0, last / 3, last / 2, last] {
            let want: Vec<(Vec<u8>, TableVersion)> = versions
                .iter()
                .filter(|((tt, _), _)| tt == t)
                .filter_map(|((_, k), list)| {
                    let v = list.iter().rev().find(|v| v.seqno <= as_of)?;
                    v.value.as_ref()?;
                    Some((k.clone(), v.clone()))
                })
                .collect();
            assert_eq!(s.table_scan(t, as_of, None, usize::MAX).unwrap(), want);
            // Paged with limit 2 via after_key.
            let mut paged = Vec::new();
            let mut after: Option<Vec<u8>> = None;
            loop {
                let page = s.table_scan(t, as_of, after.as_deref(), 2).unwrap();
                let Some((k, _)) = page.last().cloned() else {
                    break;
                };
                paged.extend(page);
                after = Some(k);
            }
            assert_eq!(paged, want);
        }
    }
}

fn assert_invalid<S: Store>(s: &S, g: &Group) {
    let before = s.state();
    match s.write_group(g) {
        Err(StoreError::InvalidGroup { reason }) => assert!(!reason.is_empty()),
        other => panic!("expected InvalidGroup, got {other:?}"),
    }
    assert_eq!(s.state(), before);
}

fn validation_and_atomicity<H: Harness>() {
    let h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    write_all(&h, &mut tree, &mut model, &mut u, &[(10, true)]);
    let s = h.store();
    let entry = |seqno| EntryRecord::new(seqno, vec![1, 2, 3]);
    // Gap, repeat, non-contiguous inside the group.
    for entries in [
        vec![entry(12)],
        vec![entry(10)],
        vec![entry(11), entry(13)],
        vec![entry(0)],
    ] {
        assert_invalid(
            s,
            &Group {
                entries,
                commit: true,
                ..Group::default()
            },
        );
    }
    // Rows outside the group's entries: the valid entry must not appear either.
    let rows_outside = [
        Group {
            entries: vec![entry(11)],
            collection_rows: vec![("c".into(), 12)],
            ..Group::default()
        },
        Group {
            entries: vec![entry(11)],
            table_writes: vec![TableWrite {
                table: "t".into(),
                key: vec![],
                seqno: 10,
                value: None,
            }],
            ..Group::default()
        },
        Group {
            entries: vec![entry(11)],
            signatures: vec![(9, vec![])],
            ..Group::default()
        },
        // Meta-only groups may only name existing seqnos.
        Group {
            collection_rows: vec![("c".into(), 11)],
            ..Group::default()
        },
        Group {
            signatures: vec![(0, vec![])],
            ..Group::default()
        },
    ];
    for g in &rows_outside {
        assert_invalid(s, g);
    }
    check(s, &model, &u);
    // A meta-only group naming existing seqnos is fine.
    let g = Group {
        collection_rows: vec![("late".into(), 3)],
        meta: vec![("m".into(), Some(vec![7]))],
        commit: true,
        ..Group::default()
    };
    s.write_group(&g).unwrap();
    model.apply(&g, &mut u);
    check(s, &model, &u);
}

fn reopen_equality<H: Harness>() {
    let mut h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    write_all(
        &h,
        &mut tree,
        &mut model,
        &mut u,
        &[(1, true), (255, true), (2, true), (700, true)],
    );
    let rec = h.reopen();
    assert_eq!(
        rec,
        Recovery {
            committed_seqno: model.last,
            discarded: None
        }
    );
    check(h.store(), &model, &u);
    write_all(&h, &mut tree, &mut model, &mut u, &[(40, true)]);
    h.reopen();
    check(h.store(), &model, &u);
}

fn recovery_discards_tail<H: Harness>() {
    let mut h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    write_all(
        &h,
        &mut tree,
        &mut model,
        &mut u,
        &[(300, false), (20, true)],
    );
    let committed = model.clone();
    // A tail of buffered groups: entries, rows, versions, tiles, signatures, metadata, and a
    // meta-only group that rewrites rows at and below the committed seqno.
    let mut tail_tree = Tree::default();
    write_all(
        &h,
        &mut tail_tree,
        &mut model,
        &mut u,
        &[(10, false), (250, false)],
    );
    let g = Group {
        collection_rows: vec![
            ("alpha".into(), 3),
            ("fresh".into(), 320),
            ("fresh".into(), 500),
        ],
        table_writes: vec![
            TableWrite {
                table: "t0".into(),
                key: vec![b'k', 0, 4],
                seqno: 4,
                value: Some(b"rewritten".to_vec()),
            },
            TableWrite {
                table: "new".into(),
                key: vec![1],
                seqno: 2,
                value: Some(vec![2]),
            },
        ],
        signatures: vec![(5, b"late".to_vec()), (320, b"ok".to_vec())],
        meta: vec![
            ("last-written".into(), None),
            ("tail-only".into(), Some(vec![1])),
        ],
        ..Group::default()
    };
    h.store().write_group(&g).unwrap();
    model.apply(&g, &mut u);
    write_all(&h, &mut tail_tree, &mut model, &mut u, &[(3, false)]);
    check(h.store(), &model, &u);
    let rec = h.reopen();
    assert_eq!(
        rec,
        Recovery {
            committed_seqno: 320,
            discarded: Some(321..=583)
        }
    );
    check(h.store(), &committed, &u);
    // The store continues from the committed prefix.
    let mut model = committed;
    write_all(&h, &mut tree, &mut model, &mut u, &[(5, false), (5, true)]);
    check(h.store(), &model, &u);
    // A tail of meta-only groups is undone too.
    let g = Group {
        meta: vec![("other".into(), Some(vec![3]))],
        ..Group::default()
    };
    h.store().write_group(&g).unwrap();
    u.meta.insert("other".into());
    let rec = h.reopen();
    assert_eq!(rec.discarded, None);
    check(h.store(), &model, &u);
}

fn tiles_round_trip<H: Harness>() {
    let mut h = H::new();
    let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
    // Grow past one full bottom tile and a second-row tile in uneven groups.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    while model.last < 70_000 {
        let n = rng.gen_range(1..5_000);
        write_all(&h, &mut tree, &mut model, &mut u, &[(n, true)]);
    }
    let size = model.last + 1;
    for id in &u.tiles {
        let want = tree.tile(*id, size);
        assert_eq!(h.store().load_tile(*id).unwrap(), want);
    }
    let row1 = ledger_merkle::TileId { row: 1, index: 0 };
    assert!(h.store().load_tile(row1).unwrap().is_some());
    let rec = h.reopen();
    assert_eq!(rec.discarded, None);
    for id in &u.tiles {
        assert_eq!(h.store().load_tile(*id).unwrap(), tree.tile(*id, size));
    }
    // Buffered tile growth is rolled back to the committed tree size.
    write_all(&h, &mut tree, &mut model, &mut u, &[(300, false)]);
    h.reopen();
    for id in &u.tiles {
        assert_eq!(
            h.store().load_tile(*id).unwrap(),
            tree.tile(*id, size),
            "{id:?}"
        );
    }
}

fn concurrent_readers_see_whole_groups<H: Harness>() {
    let h = H::new();
    let s = h.store();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut checks = 0u64;
            while !done.load(std::sync::atomic::Ordering::Acquire) || checks == 0 {
                let st = s.state();
                assert!(st.committed_seqno <= st.last_seqno);
                // Every group whose append returned is wholly visible: its entries, the
                // index rows of its last transaction, and its tiles.
                let entries = s.entries(1..=st.last_seqno, usize::MAX).unwrap();
                assert_eq!(entries.len() as u64, st.last_seqno);
                if st.last_seqno > 0 {
                    let c = common::collection_of(st.last_seqno);
                    let rows = s.collection_seqnos_rev(c, 0..=st.last_seqno, 1).unwrap();
                    assert_eq!(rows, vec![st.last_seqno]);
                    let id = ledger_merkle::TileId {
                        row: 0,
                        index: st.last_seqno / 256,
                    };
                    let tile = s.load_tile(id).unwrap().unwrap();
                    assert!(tile.width() > st.last_seqno % 256);
                }
                checks += 1;
            }
            checks
        });
        let (mut tree, mut model, mut u) = (Tree::default(), Model::default(), Universe::default());
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..150 {
            let n = rng.gen_range(1..30);
            write_all(&h, &mut tree, &mut model, &mut u, &[(n, rng.gen_bool(0.5))]);
        }
        done.store(true, std::sync::atomic::Ordering::Release);
        assert!(reader.join().unwrap() > 0);
    });
}

macro_rules! suite {
    ($name:ident, $harness:ty) => {
        mod $name {
            use super::*;
            #[test]
            fn read_your_writes() {
                super::read_your_writes::<$harness>();
            }
            #[test]
            fn range_reads_and_paging() {
                super::range_reads_and_paging::<$harness>();
            }
            #[test]
            fn empty_range_rule() {
                super::empty_range_rule::<$harness>();
            }
            #[test]
            fn versioned_tables() {
                super::versioned_tables::<$harness>();
            }
            #[test]
            fn validation_and_atomicity() {
                super::validation_and_atomicity::<$harness>();
            }
            #[test]
            fn reopen_equality() {
                super::reopen_equality::<$harness>();
            }
            #[test]
            fn recovery_discards_tail() {
                super::recovery_discards_tail::<$harness>();
            }
            #[test]
            fn concurrent_readers_see_whole_groups() {
                super::concurrent_readers_see_whole_groups::<$harness>();
            }
            #[test]
            fn tiles_round_trip() {
                super::tiles_round_trip::<$harness>();
            }
        }
    };
}

suite!(rocks, Rocks);
suite!(memory, Memory);
suite!(faulty_memory, FaultyMemory);
suite!(faulty_rocks, FaultyRocks);
