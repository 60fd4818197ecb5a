//! Shared helpers of the integration tests: a deterministic workload, an oracle model of the
//! store, and a tiny Merkle tree that produces real tiles.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::type_complexity
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ledger_merkle::{Digest, Tile, TileId, TILE_HEIGHT, TILE_WIDTH};
use ledger_store::{EntryRecord, Group, Store, StoreError, StoreState, TableVersion, TableWrite};
use sha2::Digest as _;

pub fn sha(bytes: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(bytes).into()
}

/// The deterministic bytes of the entry at `seqno` (length varies with the seqno).
pub fn entry_bytes(seqno: u64) -> Vec<u8> {
    let len = 8 + (seqno % 37) as usize;
    let mut out = seqno.to_be_bytes().to_vec();
    let d = sha(&seqno.to_be_bytes());
    out.extend((0..len).map(|i| d[i % 32]));
    out
}

/// Leaf `i` of the test tree (leaf 0 is the dummy zero leaf, as in the engine).
pub fn leaf(i: u64) -> Digest {
    if i == 0 {
        [0; 32]
    } else {
        sha(&[b"leaf".as_slice(), &i.to_be_bytes()].concat())
    }
}

/// Computes perfect-subtree nodes of the test tree, memoised.
#[derive(Default)]
pub struct Tree {
    memo: HashMap<(u8, u64), Digest>,
}

impl Tree {
    pub fn node(&mut self, level: u8, index: u64) -> Digest {
        if level == 0 {
            return leaf(index);
        }
        if let Some(d) = self.memo.get(&(level, index)) {
            return *d;
        }
        let l = self.node(level - 1, 2 * index);
        let r = self.node(level - 1, 2 * index + 1);
        let d = sha(&[l, r].concat());
        self.memo.insert((level, index), d);
        d
    }

    /// The tile `id` as of a tree of `size` leaves (None if it has no complete node).
    pub fn tile(&mut self, id: TileId, size: u64) -> Option<Tile> {
        let w = id.width_at(size);
        if w == 0 {
            return None;
        }
        let base = id.bottom_level();
        let levels = (0..TILE_HEIGHT)
            .map(|h| {
                let first = (id.index * TILE_WIDTH) >> h;
                (0..(w >> h))
                    .map(|j| self.node(base + h, first + j))
                    .collect()
            })
            .collect();
        Some(Tile::new(id, levels).unwrap())
    }

    /// Every tile that changes when the tree grows from `old` to `new` leaves, in its state
    /// at `new`.
    pub fn tiles_between(&mut self, old: u64, new: u64) -> Vec<Tile> {
        TileId::changed_between(old, new)
            .filter_map(|id| self.tile(id, new))
            .collect()
    }
}

/// Builds deterministic groups: `n` transactions after `last`, each with an entry, an index
/// row, a table write and (at the end of a commit group) a signature, plus the tiles the tree
/// needs. The table keys include NUL bytes to exercise key escaping.
pub fn make_group(tree: &mut Tree, last: u64, n: u64, commit: bool) -> Group {
    let mut g = Group {
        commit,
        ..Group::default()
    };
    for s in last + 1..=last + n {
        g.entries.push(EntryRecord::new(s, entry_bytes(s)));
        g.collection_rows.push((collection_of(s).into(), s));
        if s % 4 == 0 {
            g.collection_rows.push(("all\0sub".into(), s));
        }
        let key = vec![b'k', 0, (s % 5) as u8];
        let value = if s % 6 == 5 {
            None
        } else {
            Some(s.to_be_bytes().to_vec())
        };
        g.table_writes.push(TableWrite {
            table: format!("t{}", s % 2),
            key,
            seqno: s,
            value,
        });
    }
    if n > 0 {
        g.tiles = tree.tiles_between(last + 1, last + n + 1);
        if commit {
            g.signatures
                .push((last + n, format!("sig@{}", last + n).into_bytes()));
        }
    }
    g.meta.push((
        "last-written".to_string(),
        Some((last + n).to_be_bytes().to_vec()),
    ));
    g
}

pub fn collection_of(seqno: u64) -> &'static str {
    ["alpha", "beta", "gamma"][(seqno % 3) as usize]
}

/// An independent model of a store's contents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Model {
    pub last: u64,
    pub committed: u64,
    pub entries: Vec<Vec<u8>>,
    pub colls: BTreeMap<String, BTreeSet<u64>>,
    pub tables: BTreeMap<String, BTreeMap<Vec<u8>, BTreeMap<u64, Option<Vec<u8>>>>>,
    pub tiles: BTreeMap<TileId, Tile>,
    pub sigs: BTreeMap<u64, Vec<u8>>,
    pub meta: BTreeMap<String, Vec<u8>>,
}

/// Every name a test ever used, so that checks also prove absence.
#[derive(Clone, Debug, Default)]
pub struct Universe {
    pub colls: BTreeSet<String>,
    pub table_keys: BTreeSet<(String, Vec<u8>)>,
    pub tiles: BTreeSet<TileId>,
    pub meta: BTreeSet<String>,
    pub max_seqno: u64,
}

impl Model {
    pub fn apply(&mut self, g: &Group, u: &mut Universe) {
        for e in &g.entries {
            self.entries.push(e.bytes().to_vec());
            self.last = e.seqno;
        }
        for (c, s) in &g.collection_rows {
            self.colls.entry(c.to_string()).or_default().insert(*s);
            u.colls.insert(c.to_string());
        }
        for w in &g.table_writes {
            self.tables
                .entry(w.table.clone())
                .or_default()
                .entry(w.key.clone())
                .or_default()
                .insert(w.seqno, w.value.clone());
            u.table_keys.insert((w.table.clone(), w.key.clone()));
        }
        for t in &g.tiles {
            self.tiles.insert(t.id(), t.clone());
            u.tiles.insert(t.id());
        }
        for (s, v) in &g.signatures {
            self.sigs.insert(*s, v.clone());
        }
        for (k, v) in &g.meta {
            match v {
                Some(v) => self.meta.insert(k.clone(), v.clone()),
                None => self.meta.remove(k),
            };
            u.meta.insert(k.clone());
        }
        if g.commit {
            self.committed = self.last;
        }
        u.max_seqno = u.max_seqno.max(self.last);
    }

    pub fn table_get(&self, t: &str, k: &[u8], as_of: u64) -> Option<TableVersion> {
        self.tables
            .get(t)?
            .get(k)?
            .range(..=as_of)
            .next_back()
            .map(|(s, v)| TableVersion {
                seqno: *s,
                value: v.clone(),
            })
    }
}

/// Asserts that every read of `store` agrees with `model`, for every name in `u`.
pub fn check<S: Store + ?Sized>(store: &S, model: &Model, u: &Universe) {
    assert_eq!(
        store.state(),
        StoreState {
            last_seqno: model.last,
            committed_seqno: model.committed
        }
    );
    let top = u.max_seqno + 2;
    let all = store.entries(0..=u64::MAX, usize::MAX).unwrap();
    assert_eq!(all.len(), model.entries.len());
    for (i, (s, b)) in all.iter().enumerate() {
        assert_eq!(*s, i as u64 + 1);
        assert_eq!(b, &model.entries[i]);
    }
    for s in 0..=top {
        let want = s
            .checked_sub(1)
            .and_then(|i| model.entries.get(i as usize).cloned());
        assert_eq!(store.entry(s).unwrap(), want, "entry {s}");
    }
    for c in &u.colls {
        let want: Vec<u64> = model
            .colls
            .get(c)
            .map(|r| r.iter().copied().collect())
            .unwrap_or_default();
        assert_eq!(
            store
                .collection_seqnos(c, 0..=u64::MAX, usize::MAX)
                .unwrap(),
            want,
            "collection {c:?}"
        );
        let mut rev = want.clone();
        rev.reverse();
        assert_eq!(
            store
                .collection_seqnos_rev(c, 0..=u64::MAX, usize::MAX)
                .unwrap(),
            rev
        );
    }
    let names: Vec<String> = model
        .colls
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(store.collections(None, usize::MAX).unwrap(), names);
    for (t, k) in &u.table_keys {
        let want: Vec<TableVersion> = model
            .tables
            .get(t)
            .and_then(|m| m.get(k))
            .map(|v| {
                v.iter()
                    .map(|(s, v)| TableVersion {
                        seqno: *s,
                        value: v.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            store.table_history(t, k, 0..=u64::MAX, usize::MAX).unwrap(),
            want,
            "history of {t:?} {k:?}"
        );
        for as_of in [0, model.committed, model.last, top, u64::MAX] {
            assert_eq!(
                store.table_get(t, k, as_of).unwrap(),
                model.table_get(t, k, as_of)
            );
        }
    }
    let tables: BTreeSet<&String> = u.table_keys.iter().map(|(t, _)| t).collect();
    for t in tables {
        for as_of in [model.committed, model.last] {
            let want: Vec<(Vec<u8>, TableVersion)> = model
                .tables
                .get(t)
                .map(|m| {
                    m.keys()
                        .filter_map(|k| {
                            let v = model.table_get(t, k, as_of)?;
                            v.value.as_ref()?;
                            Some((k.clone(), v))
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(store.table_scan(t, as_of, None, usize::MAX).unwrap(), want);
        }
    }
    let sigs: Vec<(u64, Vec<u8>)> = model.sigs.iter().map(|(s, v)| (*s, v.clone())).collect();
    assert_eq!(store.signatures(0..=u64::MAX, usize::MAX).unwrap(), sigs);
    for id in &u.tiles {
        assert_eq!(
            store.load_tile(*id).unwrap(),
            model.tiles.get(id).cloned(),
            "tile {id:?}"
        );
    }
    for k in &u.meta {
        assert_eq!(
            store.meta(k).unwrap(),
            model.meta.get(k).cloned(),
            "meta {k}"
        );
    }
}

/// The group that starts after seqno `last`: (size, commit). A function of `last` alone, so
/// every run (and every child resuming at a commit boundary) follows one schedule.
pub fn schedule(last: u64) -> (u64, bool) {
    let h = u64::from_be_bytes(sha(&last.to_be_bytes())[..8].try_into().unwrap());
    (1 + h % 60, h % 3 != 0)
}

/// The commit boundaries of the schedule, up to `max`.
pub fn boundaries(max: u64) -> std::collections::BTreeSet<u64> {
    let mut out = std::collections::BTreeSet::from([0]);
    let mut last = 0;
    while last <= max {
        let (n, commit) = schedule(last);
        last += n;
        if commit {
            out.insert(last);
        }
    }
    out
}

/// Checks that `store` holds exactly the schedule's groups up to `committed`: read failures
/// are returned, wrong data panics.
pub fn verify_prefix<S: Store>(
    store: &S,
    committed: u64,
    tree: &mut Tree,
) -> Result<(), StoreError> {
    assert_eq!(store.entry(committed + 1)?, None);
    let entries = store.entries(1..=u64::MAX, usize::MAX)?;
    assert_eq!(entries.len() as u64, committed);
    for (s, b) in &entries {
        assert_eq!(*b, entry_bytes(*s), "entry {s}");
    }
    for c in ["alpha", "beta", "gamma"] {
        let rows = store.collection_seqnos(c, 0..=u64::MAX, usize::MAX)?;
        let want: Vec<u64> = (1..=committed).filter(|s| collection_of(*s) == c).collect();
        assert_eq!(rows, want, "collection {c}");
    }
    let sub = store.collection_seqnos("all\0sub", 0..=u64::MAX, usize::MAX)?;
    assert_eq!(
        sub,
        (1..=committed).filter(|s| s % 4 == 0).collect::<Vec<_>>()
    );
    // Table versions: every key of both tables, whole history.
    for t in 0..2u64 {
        for k in 0..5u64 {
            let key = vec![b'k', 0, k as u8];
            let history = store.table_history(&format!("t{t}"), &key, 0..=u64::MAX, usize::MAX)?;
            let want: Vec<u64> = (1..=committed)
                .filter(|s| s % 2 == t && s % 5 == k)
                .collect();
            let want: Vec<TableVersion> = want
                .into_iter()
                .map(|s| TableVersion {
                    seqno: s,
                    value: (s % 6 != 5).then(|| s.to_be_bytes().to_vec()),
                })
                .collect();
            assert_eq!(history, want);
        }
    }
    // Signatures sit exactly at the commit groups' ends.
    let sigs = store.signatures(0..=u64::MAX, usize::MAX)?;
    let bounds = boundaries(committed);
    let want: Vec<u64> = bounds
        .into_iter()
        .filter(|b| (1..=committed).contains(b))
        .collect();
    let want: Vec<(u64, Vec<u8>)> = want
        .into_iter()
        .map(|s| (s, format!("sig@{s}").into_bytes()))
        .collect();
    assert_eq!(sigs, want);
    assert_eq!(
        store.meta("last-written")?,
        (committed > 0).then(|| committed.to_be_bytes().to_vec())
    );
    // Tiles are exactly the tree at `committed + 1` leaves.
    let size = committed + 1;
    for row in 0u8..3 {
        let level = u32::from(row) * 8;
        let complete = size >> level;
        let tiles = complete.div_ceil(TILE_WIDTH) + 1;
        for index in 0..tiles {
            let id = TileId { row, index };
            let tile = store.load_tile(id).map_err(tile_error)?;
            // With nothing committed, a rolled-back tile may keep just the dummy leaf 0.
            if committed == 0 && tile.is_none() {
                continue;
            }
            assert_eq!(tile, tree.tile(id, size), "{id:?}");
        }
    }
    Ok(())
}

/// The store error inside a tile-store error.
pub fn tile_error(e: ledger_merkle::TileStoreError) -> StoreError {
    match e.0.downcast::<StoreError>() {
        Ok(e) => *e,
        Err(other) => panic!("a tile store error that is not a StoreError: {other}"),
    }
}

/// Appends groups of the schedule until `last_seqno >= target`; returns the committed seqno.
pub fn append_schedule<S: Store>(store: &S, tree: &mut Tree, target: u64) -> u64 {
    let mut last = store.state().last_seqno;
    while last < target {
        let (n, commit) = schedule(last);
        store
            .write_group(&make_group(tree, last, n, commit))
            .unwrap();
        last += n;
    }
    store.state().committed_seqno
}
