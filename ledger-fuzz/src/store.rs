//! `store_operations` and `store_crash_recovery`: the [`Store`] contract against a model made
//! of `Vec`s and `BTreeMap`s.
//!
//! The model keeps the current state and the state as of the last commit group. Recovery
//! (after a crash, or any reopen) must yield exactly the latter, except for tiles written
//! after the last commit group, which are rolled back to `Tile::truncated(committed + 1)` as
//! `ledger-store`'s recovery documents.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;
use std::ops::Bound;

use arbitrary::{Arbitrary, Unstructured};
use ledger_merkle::{Tile, TileId, TileStore, TILE_HEIGHT};
use ledger_store::testing::{Fault, FaultyStore};
use ledger_store::{
    EntryRecord, Group, MemoryStore, Recovery, Store, StoreError, StoreState, TableVersion,
    TableWrite,
};

use crate::pick;

/// Most operations taken from one input.
const MAX_OPS: usize = 48;
/// Collection names, chosen to stress the order-preserving key escaping (`0x00`, `0xFF`, the
/// empty name, a name that is a prefix of another).
const COLLECTIONS: [&str; 6] = ["a", "ab", "a\u{0}", "a\u{0}b", "", "z\u{ff}"];
const TABLES: [&str; 3] = ["t", "t\u{0}", "u"];
const KEYS: [&[u8]; 7] = [b"", b"k", &[0], &[0, 1], &[0, 0xff], &[0xff], &[0, 0, 1]];
const META: [&str; 3] = ["m", "core.views", "x\u{0}y"];

fn collection(i: u8) -> &'static str {
    COLLECTIONS[usize::from(i) % COLLECTIONS.len()]
}

fn table(i: u8) -> &'static str {
    TABLES[usize::from(i) % TABLES.len()]
}

fn key(i: u8) -> &'static [u8] {
    KEYS[usize::from(i) % KEYS.len()]
}

fn meta_key(i: u8) -> &'static str {
    META[usize::from(i) % META.len()]
}

fn value(seed: u8) -> Vec<u8> {
    vec![seed; usize::from(seed % 7)]
}

/// A seqno given by a read: near the store's extent, or `u64::MAX`.
fn seq(raw: u16, last: u64) -> u64 {
    if raw == u16::MAX {
        u64::MAX
    } else {
        pick(raw, last + 1)
    }
}

/// A read limit: small (0 included), or unlimited.
fn limit(raw: u8) -> usize {
    if raw == u8::MAX {
        usize::MAX
    } else {
        usize::from(raw % 10)
    }
}

/// A seqno named by a group's rows.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum At {
    /// One of the group's own entries (for a group without entries: an existing seqno).
    Group(u8),
    /// An existing seqno (valid only in a group without entries).
    Old(u8),
    /// Anything.
    Raw(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Defect {
    Repeat(u8),
    Gap(u8),
    FirstSeqno(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct TileSpec {
    row: u8,
    index: u8,
    width: u16,
    seed: u8,
}

#[derive(Arbitrary, Debug)]
struct GroupSpec {
    entries: Vec<Vec<u8>>,
    rows: Vec<(u8, At)>,
    writes: Vec<(u8, u8, At, Option<u8>)>,
    tiles: Vec<TileSpec>,
    signatures: Vec<(At, u8)>,
    meta: Vec<(u8, Option<u8>)>,
    commit: bool,
    defect: Option<Defect>,
    /// `append_group` (or `append_group_owned`) alone instead of `write_group` (no wait for the
    /// commit's sync).
    append_only: bool,
}

#[derive(Arbitrary, Debug)]
enum StoreOp {
    Write(GroupSpec),
    Entry(u16),
    Entries {
        from: u16,
        to: u16,
        limit: u8,
    },
    Collection {
        c: u8,
        from: u16,
        to: u16,
        limit: u8,
        rev: bool,
    },
    Collections {
        after: Option<u8>,
        limit: u8,
    },
    TableGet {
        t: u8,
        k: u8,
        as_of: u16,
    },
    TableHistory {
        t: u8,
        k: u8,
        from: u16,
        to: u16,
        limit: u8,
    },
    TableScan {
        t: u8,
        as_of: u16,
        after: Option<u8>,
        limit: u8,
    },
    Signature(u16),
    SignatureAfter(u16),
    SignatureAtOrBefore(u16),
    Signatures {
        from: u16,
        to: u16,
        limit: u8,
    },
    Meta(u8),
    LoadTile {
        row: u8,
        index: u8,
    },
    Sync,
    Reopen,
    FailWrite {
        nth: u8,
        no_space: bool,
    },
    FailSync {
        nth: u8,
        no_space: bool,
    },
}

type Versions = BTreeMap<u64, Option<Vec<u8>>>;

/// Everything but tiles, which follow their own recovery rule.
#[derive(Clone, Debug, Default)]
struct State {
    entries: Vec<Vec<u8>>,
    collections: BTreeMap<String, BTreeSet<u64>>,
    tables: BTreeMap<String, BTreeMap<Vec<u8>, Versions>>,
    signatures: BTreeMap<u64, Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Default)]
struct Model {
    now: State,
    committed: State,
    committed_seqno: u64,
    tiles: BTreeMap<TileId, Tile>,
    pending_tiles: BTreeSet<TileId>,
}

fn bounds(from: u64, to: u64) -> (Bound<u64>, Bound<u64>) {
    (Bound::Included(from), Bound::Included(to))
}

impl Model {
    fn last(&self) -> u64 {
        self.now.entries.len() as u64
    }

    fn state(&self) -> StoreState {
        StoreState {
            last_seqno: self.last(),
            committed_seqno: self.committed_seqno,
        }
    }

    fn apply(&mut self, g: &Group) {
        let s = &mut self.now;
        s.entries
            .extend(g.entries.iter().map(|e| e.bytes().to_vec()));
        for (c, seqno) in &g.collection_rows {
            s.collections
                .entry(c.to_string())
                .or_default()
                .insert(*seqno);
        }
        for w in &g.table_writes {
            s.tables
                .entry(w.table.clone())
                .or_default()
                .entry(w.key.clone())
                .or_default()
                .insert(w.seqno, w.value.clone());
        }
        for t in &g.tiles {
            self.tiles.insert(t.id(), t.clone());
            if !g.commit {
                self.pending_tiles.insert(t.id());
            }
        }
        for (seqno, sig) in &g.signatures {
            s.signatures.insert(*seqno, sig.clone());
        }
        for (k, v) in &g.meta {
            match v {
                Some(v) => s.meta.insert(k.clone(), v.clone()),
                None => s.meta.remove(k),
            };
        }
        if g.commit {
            self.committed = self.now.clone();
            self.committed_seqno = self.last();
            self.pending_tiles.clear();
        }
    }

    /// What reopening yields: the state of the last commit group, tiles written since then
    /// cut back to the committed tree size.
    fn recover(&mut self) -> Recovery {
        let last = self.last();
        let committed = self.committed_seqno;
        for id in std::mem::take(&mut self.pending_tiles) {
            match self.tiles.get(&id).and_then(|t| t.truncated(committed + 1)) {
                Some(t) => self.tiles.insert(id, t),
                None => self.tiles.remove(&id),
            };
        }
        self.now = self.committed.clone();
        Recovery {
            committed_seqno: committed,
            discarded: (last > committed).then_some(committed + 1..=last),
        }
    }

    fn entry(&self, seqno: u64) -> Option<Vec<u8>> {
        let i = usize::try_from(seqno.checked_sub(1)?).ok()?;
        self.now.entries.get(i).cloned()
    }

    fn entries(&self, from: u64, to: u64, limit: usize) -> Vec<(u64, Vec<u8>)> {
        let (from, to) = (from.max(1), to.min(self.last()));
        if from > to {
            return Vec::new();
        }
        (from..=to)
            .take(limit)
            .filter_map(|s| self.entry(s).map(|e| (s, e)))
            .collect()
    }

    fn collection(&self, c: &str, from: u64, to: u64, limit: usize, rev: bool) -> Vec<u64> {
        let Some(rows) = self.now.collections.get(c).filter(|_| from <= to) else {
            return Vec::new();
        };
        let range = rows.range(bounds(from, to)).copied();
        if rev {
            range.rev().take(limit).collect()
        } else {
            range.take(limit).collect()
        }
    }

    fn collections(&self, after: Option<&str>, limit: usize) -> Vec<String> {
        self.now
            .collections
            .iter()
            .filter(|(name, rows)| !rows.is_empty() && after.is_none_or(|a| name.as_str() > a))
            .take(limit)
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn versions(&self, t: &str, k: &[u8]) -> Option<&Versions> {
        self.now.tables.get(t)?.get(k)
    }

    fn table_get(&self, t: &str, k: &[u8], as_of: u64) -> Option<TableVersion> {
        let (s, v) = self.versions(t, k)?.range(..=as_of).next_back()?;
        Some(TableVersion {
            seqno: *s,
            value: v.clone(),
        })
    }

    fn table_history(&self, t: &str, k: &[u8], from: u64, to: u64, n: usize) -> Vec<TableVersion> {
        let Some(versions) = self.versions(t, k).filter(|_| from <= to) else {
            return Vec::new();
        };
        versions
            .range(bounds(from, to))
            .take(n)
            .map(|(s, v)| TableVersion {
                seqno: *s,
                value: v.clone(),
            })
            .collect()
    }

    fn table_scan(
        &self,
        t: &str,
        as_of: u64,
        after: Option<&[u8]>,
        n: usize,
    ) -> Vec<(Vec<u8>, TableVersion)> {
        let Some(keys) = self.now.tables.get(t) else {
            return Vec::new();
        };
        keys.iter()
            .filter(|(k, _)| after.is_none_or(|a| k.as_slice() > a))
            .filter_map(|(k, versions)| {
                let (s, v) = versions.range(..=as_of).next_back()?;
                let value = v.clone()?;
                Some((
                    k.clone(),
                    TableVersion {
                        seqno: *s,
                        value: Some(value),
                    },
                ))
            })
            .take(n)
            .collect()
    }

    fn signature_after(&self, seqno: u64) -> Option<(u64, Vec<u8>)> {
        let (s, v) = self
            .now
            .signatures
            .range((Bound::Excluded(seqno), Bound::Unbounded))
            .next()?;
        Some((*s, v.clone()))
    }

    fn signature_at_or_before(&self, seqno: u64) -> Option<(u64, Vec<u8>)> {
        let (s, v) = self.now.signatures.range(..=seqno).next_back()?;
        Some((*s, v.clone()))
    }

    fn signatures(&self, from: u64, to: u64, limit: usize) -> Vec<(u64, Vec<u8>)> {
        if from > to {
            return Vec::new();
        }
        self.now
            .signatures
            .range(bounds(from, to))
            .take(limit)
            .map(|(s, v)| (*s, v.clone()))
            .collect()
    }
}

/// A store under test, always behind a [`FaultyStore`] (transparent until a fault is armed).
trait Backend {
    type S: Store;
    fn store(&self) -> &FaultyStore<Self::S>;
    /// Drops the handle without writing anything more (a crash, as far as the committed
    /// prefix is concerned) and opens the store again.
    fn reopen(&mut self) -> Recovery;
}

fn live<T>(slot: &Option<T>) -> &T {
    slot.as_ref()
        .unwrap_or_else(|| panic!("the store is not open"))
}

fn taken<T>(slot: &mut Option<T>) -> T {
    slot.take()
        .unwrap_or_else(|| panic!("the store is not open"))
}

struct Memory(Option<FaultyStore<MemoryStore>>);

impl Backend for Memory {
    type S = MemoryStore;

    fn store(&self) -> &FaultyStore<MemoryStore> {
        live(&self.0)
    }

    fn reopen(&mut self) -> Recovery {
        let store = taken(&mut self.0).into_inner();
        let recovery = store.simulate_crash();
        self.0 = Some(FaultyStore::new(store));
        recovery
    }
}

#[cfg(feature = "rocksdb")]
struct Rocks {
    dir: tempfile::TempDir,
    config: ledger_store::StoreConfig,
    store: Option<FaultyStore<ledger_store::RocksStore>>,
}

#[cfg(feature = "rocksdb")]
impl Rocks {
    fn new(flush_on_close: bool) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
        let config = ledger_store::StoreConfig::default()
            .durability(ledger_store::Durability::Buffered)
            .flush_on_close(flush_on_close);
        let (store, recovery) = ledger_store::RocksStore::open(dir.path(), config.clone())
            .unwrap_or_else(|e| panic!("open a new RocksStore: {e}"));
        assert_eq!(recovery.committed_seqno, 0);
        Self {
            dir,
            config,
            store: Some(FaultyStore::new(store)),
        }
    }
}

#[cfg(feature = "rocksdb")]
impl Backend for Rocks {
    type S = ledger_store::RocksStore;

    fn store(&self) -> &FaultyStore<ledger_store::RocksStore> {
        live(&self.store)
    }

    fn reopen(&mut self) -> Recovery {
        drop(taken(&mut self.store).into_inner());
        let (store, recovery) =
            ledger_store::RocksStore::open(self.dir.path(), self.config.clone())
                .unwrap_or_else(|e| panic!("reopen the RocksStore: {e}"));
        self.store = Some(FaultyStore::new(store));
        recovery
    }
}

fn read<T>(what: &str, r: Result<T, StoreError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn make_tile(spec: TileSpec) -> Tile {
    let id = TileId {
        row: spec.row % 3,
        index: u64::from(spec.index % 4),
    };
    let width = usize::from(spec.width % 256) + 1;
    let levels = (0..TILE_HEIGHT)
        .map(|h| {
            (0..width >> h)
                .map(|o| crate::sha256(&[&[spec.seed, h], &(o as u64).to_be_bytes()]))
                .collect()
        })
        .collect();
    Tile::new(id, levels).unwrap_or_else(|e| panic!("a well-formed tile is refused: {e}"))
}

struct Runner<B: Backend> {
    backend: B,
    model: Model,
    faults: bool,
    poisoned: bool,
    /// Counted writes / syncs left until the armed fault fires.
    write_fault: Option<u64>,
    sync_fault: Option<u64>,
    /// Appends alternate between `append_group` and `append_group_owned`.
    appends: u64,
}

fn injected(r: &Result<(), StoreError>) -> bool {
    matches!(r, Err(StoreError::Io { .. } | StoreError::NoSpace { .. }))
}

fn poisoned_err(r: &Result<(), StoreError>) -> bool {
    matches!(r, Err(StoreError::Poisoned { .. }))
}

/// Counts one event against an armed fault; true if it fires now.
fn fires(countdown: &mut Option<u64>) -> bool {
    match countdown {
        Some(1) => {
            *countdown = None;
            true
        }
        Some(n) => {
            *n -= 1;
            false
        }
        None => false,
    }
}

impl<B: Backend> Runner<B> {
    fn build_group(&self, spec: &GroupSpec) -> (Group, bool) {
        let last = self.model.last();
        let mut records: Vec<EntryRecord> = spec
            .entries
            .iter()
            .take(4)
            .enumerate()
            .map(|(i, b)| {
                EntryRecord::new(last + 1 + i as u64, b.iter().take(24).copied().collect())
            })
            .collect();
        let n = records.len() as u64;
        match spec.defect {
            Some(Defect::Repeat(i)) if n > 1 => {
                let at = 1 + usize::from(i) % (records.len() - 1);
                records[at].seqno = records[at - 1].seqno;
            }
            Some(Defect::Gap(i)) if n > 1 => {
                let from = 1 + usize::from(i) % (records.len() - 1);
                for r in &mut records[from..] {
                    r.seqno += 1;
                }
            }
            Some(Defect::FirstSeqno(d)) if n > 0 => {
                let shift = [u64::MAX, 1, 2][usize::from(d) % 3];
                for r in &mut records {
                    r.seqno = r.seqno.wrapping_add(shift);
                }
            }
            _ => {}
        }
        let resolve = |at: At| -> u64 {
            match at {
                At::Group(i) if n > 0 => last + 1 + u64::from(i) % n,
                At::Group(i) | At::Old(i) => {
                    if last > 0 {
                        1 + u64::from(i) % last
                    } else {
                        u64::from(i % 2)
                    }
                }
                At::Raw(x) => x,
            }
        };
        let group = Group {
            entries: records,
            collection_rows: spec
                .rows
                .iter()
                .take(6)
                .map(|(c, at)| (collection(*c).into(), resolve(*at)))
                .collect(),
            table_writes: spec
                .writes
                .iter()
                .take(6)
                .map(|(t, k, at, v)| TableWrite {
                    table: table(*t).to_owned(),
                    key: key(*k).to_vec(),
                    seqno: resolve(*at),
                    value: v.map(value),
                })
                .collect(),
            tiles: spec.tiles.iter().take(3).map(|t| make_tile(*t)).collect(),
            signatures: spec
                .signatures
                .iter()
                .take(3)
                .map(|(at, seed)| (resolve(*at), value(*seed)))
                .collect(),
            meta: spec
                .meta
                .iter()
                .take(3)
                .map(|(k, v)| (meta_key(*k).to_owned(), v.map(value)))
                .collect(),
            commit: spec.commit,
        };
        let valid = self.valid(&group);
        (group, valid)
    }

    /// The write contract of `Group`, restated.
    fn valid(&self, g: &Group) -> bool {
        let last = self.model.last();
        let entries_ok = g
            .entries
            .windows(2)
            .all(|w| w[1].seqno == w[0].seqno.wrapping_add(1))
            && g.entries.first().is_none_or(|e| e.seqno == last + 1);
        let (lo, hi) = match (g.entries.first(), g.entries.last()) {
            (Some(a), Some(b)) => (a.seqno, b.seqno),
            _ => (1, last),
        };
        let inside = |s: u64| lo <= s && s <= hi;
        entries_ok
            && g.collection_rows.iter().all(|(_, s)| inside(*s))
            && g.table_writes.iter().all(|w| inside(w.seqno))
            && g.signatures.iter().all(|(s, _)| inside(*s))
    }

    fn write(&mut self, spec: &GroupSpec) {
        let (group, valid) = self.build_group(spec);
        let store = self.backend.store();
        let result = if spec.append_only {
            self.appends += 1;
            if self.appends % 2 == 0 {
                let mut spare = Vec::new();
                let mut owned = group.clone();
                let result = store.append_group_owned(&mut owned, &mut spare);
                // Once the group is in it is left empty and every entry's buffer comes back;
                // a refused group is left as it was.
                if result.is_ok() {
                    assert!(owned.is_empty(), "group left empty");
                    assert_eq!(spare.len(), group.entries.len(), "buffers handed back");
                } else {
                    assert_eq!(owned, group, "refused group left as it was");
                    assert!(spare.is_empty());
                }
                result.map(|_| ())
            } else {
                store.append_group(&group).map(|_| ())
            }
        } else {
            store.write_group(&group)
        };
        if self.poisoned {
            assert!(
                poisoned_err(&result),
                "write to a poisoned store: {result:?}"
            );
            return;
        }
        if fires(&mut self.write_fault) {
            assert!(injected(&result), "armed write fault: {result:?}");
            self.poisoned = true;
            return;
        }
        if !valid {
            assert!(
                matches!(result, Err(StoreError::InvalidGroup { .. })),
                "an invalid group was not refused: {result:?} {group:?}"
            );
            return;
        }
        self.model.apply(&group);
        if group.commit && !spec.append_only && fires(&mut self.sync_fault) {
            assert!(injected(&result), "armed sync fault: {result:?}");
            self.poisoned = true;
            return;
        }
        if let Err(e) = result {
            panic!("a valid group was refused: {e} {group:?}");
        }
    }

    fn apply(&mut self, op: &StoreOp) {
        match op {
            StoreOp::Write(spec) => self.write(spec),
            StoreOp::Sync => {
                let result = self.backend.store().sync();
                if self.poisoned {
                    assert!(
                        poisoned_err(&result),
                        "sync of a poisoned store: {result:?}"
                    );
                } else if fires(&mut self.sync_fault) {
                    assert!(injected(&result), "armed sync fault: {result:?}");
                    self.poisoned = true;
                } else if let Err(e) = result {
                    panic!("sync: {e}");
                }
            }
            StoreOp::Reopen => self.reopen(),
            StoreOp::FailWrite { nth, no_space } if self.faults && !self.poisoned => {
                let nth = u64::from(nth % 6) + 1;
                let n = NonZeroU64::new(nth).unwrap_or(NonZeroU64::MIN);
                self.backend.store().fail_write(n, fault(*no_space));
                self.write_fault = Some(nth);
            }
            StoreOp::FailSync { nth, no_space } if self.faults && !self.poisoned => {
                let nth = u64::from(nth % 4) + 1;
                let n = NonZeroU64::new(nth).unwrap_or(NonZeroU64::MIN);
                self.backend.store().fail_sync(n, fault(*no_space));
                self.sync_fault = Some(nth);
            }
            StoreOp::FailWrite { .. } | StoreOp::FailSync { .. } => {}
            query => self.query(query),
        }
        assert_eq!(
            self.backend.store().state(),
            self.model.state(),
            "after {op:?}"
        );
    }

    fn query(&self, op: &StoreOp) {
        let last = self.model.last();
        let store = self.backend.store();
        let m = &self.model;
        match op {
            StoreOp::Entry(s) => {
                let s = seq(*s, last);
                assert_eq!(read("entry", store.entry(s)), m.entry(s), "entry {s}");
            }
            StoreOp::Entries { from, to, limit: l } => {
                let (from, to, l) = (seq(*from, last), seq(*to, last), limit(*l));
                assert_eq!(
                    read("entries", store.entries(from..=to, l)),
                    m.entries(from, to, l),
                    "entries {from}..={to} limit {l}"
                );
            }
            StoreOp::Collection {
                c,
                from,
                to,
                limit: l,
                rev,
            } => {
                let (c, from, to, l) =
                    (collection(*c), seq(*from, last), seq(*to, last), limit(*l));
                let got = if *rev {
                    store.collection_seqnos_rev(c, from..=to, l)
                } else {
                    store.collection_seqnos(c, from..=to, l)
                };
                assert_eq!(
                    read("collection", got),
                    m.collection(c, from, to, l, *rev),
                    "collection {c:?} {from}..={to} limit {l} rev {rev}"
                );
            }
            StoreOp::Collections { after, limit: l } => {
                let after = after.map(collection);
                assert_eq!(
                    read("collections", store.collections(after, limit(*l))),
                    m.collections(after, limit(*l)),
                    "collections after {after:?}"
                );
            }
            StoreOp::TableGet { t, k, as_of } => {
                let (t, k, as_of) = (table(*t), key(*k), seq(*as_of, last));
                assert_eq!(
                    read("table_get", store.table_get(t, k, as_of)),
                    m.table_get(t, k, as_of),
                    "table_get {t:?} {k:?} as of {as_of}"
                );
            }
            StoreOp::TableHistory {
                t,
                k,
                from,
                to,
                limit: l,
            } => {
                let (t, k) = (table(*t), key(*k));
                let (from, to, l) = (seq(*from, last), seq(*to, last), limit(*l));
                assert_eq!(
                    read("table_history", store.table_history(t, k, from..=to, l)),
                    m.table_history(t, k, from, to, l),
                    "table_history {t:?} {k:?} {from}..={to} limit {l}"
                );
            }
            StoreOp::TableScan {
                t,
                as_of,
                after,
                limit: l,
            } => {
                let (t, as_of, l) = (table(*t), seq(*as_of, last), limit(*l));
                let after = after.map(key);
                assert_eq!(
                    read("table_scan", store.table_scan(t, as_of, after, l)),
                    m.table_scan(t, as_of, after, l),
                    "table_scan {t:?} as of {as_of} after {after:?} limit {l}"
                );
            }
            StoreOp::Signature(s) => {
                let s = seq(*s, last);
                assert_eq!(
                    read("signature", store.signature(s)),
                    m.now.signatures.get(&s).cloned(),
                    "signature {s}"
                );
            }
            StoreOp::SignatureAfter(s) => {
                let s = seq(*s, last);
                assert_eq!(
                    read("signature_after", store.signature_after(s)),
                    m.signature_after(s),
                    "signature_after {s}"
                );
            }
            StoreOp::SignatureAtOrBefore(s) => {
                let s = seq(*s, last);
                assert_eq!(
                    read("signature_at_or_before", store.signature_at_or_before(s)),
                    m.signature_at_or_before(s),
                    "signature_at_or_before {s}"
                );
            }
            StoreOp::Signatures { from, to, limit: l } => {
                let (from, to, l) = (seq(*from, last), seq(*to, last), limit(*l));
                assert_eq!(
                    read("signatures", store.signatures(from..=to, l)),
                    m.signatures(from, to, l),
                    "signatures {from}..={to} limit {l}"
                );
            }
            StoreOp::Meta(k) => {
                let k = meta_key(*k);
                assert_eq!(
                    read("meta", store.meta(k)),
                    m.now.meta.get(k).cloned(),
                    "meta {k:?}"
                );
            }
            StoreOp::LoadTile { row, index } => {
                let id = TileId {
                    row: row % 4,
                    index: u64::from(index % 5),
                };
                let got = store
                    .load_tile(id)
                    .unwrap_or_else(|e| panic!("load_tile {id:?}: {e}"));
                assert_eq!(got.as_ref(), m.tiles.get(&id), "tile {id:?}");
            }
            StoreOp::Write(_)
            | StoreOp::Sync
            | StoreOp::Reopen
            | StoreOp::FailWrite { .. }
            | StoreOp::FailSync { .. } => {}
        }
    }

    fn reopen(&mut self) {
        let got = self.backend.reopen();
        let expected = self.model.recover();
        assert_eq!(got, expected, "recovery");
        self.poisoned = false;
        self.write_fault = None;
        self.sync_fault = None;
        self.check_all();
    }

    /// Compares everything the store holds with the model.
    fn check_all(&self) {
        let store = self.backend.store();
        let m = &self.model;
        assert_eq!(store.state(), m.state());
        let last = m.last();
        assert_eq!(
            read("entries", store.entries(0..=u64::MAX, usize::MAX)),
            m.entries(0, u64::MAX, usize::MAX)
        );
        assert_eq!(read("entry", store.entry(last + 1)), None);
        let names = m.collections(None, usize::MAX);
        assert_eq!(
            read("collections", store.collections(None, usize::MAX)),
            names
        );
        for c in COLLECTIONS {
            for rev in [false, true] {
                let got = if rev {
                    store.collection_seqnos_rev(c, 0..=u64::MAX, usize::MAX)
                } else {
                    store.collection_seqnos(c, 0..=u64::MAX, usize::MAX)
                };
                assert_eq!(
                    read("collection", got),
                    m.collection(c, 0, u64::MAX, usize::MAX, rev),
                    "collection {c:?}"
                );
            }
        }
        for t in TABLES {
            for k in KEYS {
                assert_eq!(
                    read(
                        "history",
                        store.table_history(t, k, 0..=u64::MAX, usize::MAX)
                    ),
                    m.table_history(t, k, 0, u64::MAX, usize::MAX),
                    "history {t:?} {k:?}"
                );
            }
            for as_of in [0, m.committed_seqno, last, u64::MAX] {
                assert_eq!(
                    read("scan", store.table_scan(t, as_of, None, usize::MAX)),
                    m.table_scan(t, as_of, None, usize::MAX),
                    "scan {t:?} as of {as_of}"
                );
            }
        }
        assert_eq!(
            read("signatures", store.signatures(0..=u64::MAX, usize::MAX)),
            m.signatures(0, u64::MAX, usize::MAX)
        );
        for k in META {
            assert_eq!(
                read("meta", store.meta(k)),
                m.now.meta.get(k).cloned(),
                "meta {k:?}"
            );
        }
        for row in 0..4u8 {
            for index in 0..5u64 {
                let id = TileId { row, index };
                let got = store
                    .load_tile(id)
                    .unwrap_or_else(|e| panic!("load_tile {id:?}: {e}"));
                assert_eq!(got.as_ref(), m.tiles.get(&id), "tile {id:?}");
            }
        }
    }
}

fn fault(no_space: bool) -> Fault {
    if no_space {
        Fault::NoSpace
    } else {
        Fault::Io
    }
}

/// The input of both store targets: a flag for the RocksDB run and the operations.
fn parse(data: &[u8]) -> (bool, Vec<StoreOp>) {
    let mut u = Unstructured::new(data);
    let flush_on_close = u.arbitrary::<bool>().unwrap_or(true);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS {
        match StoreOp::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    (flush_on_close, ops)
}

fn run<B: Backend>(backend: B, ops: &[StoreOp], faults: bool) {
    let mut runner = Runner {
        backend,
        model: Model::default(),
        faults,
        poisoned: false,
        write_fault: None,
        sync_fault: None,
        appends: 0,
    };
    for op in ops {
        runner.apply(op);
    }
    runner.check_all();
    runner.reopen();
}

fn run_all(data: &[u8], faults: bool) {
    let (flush_on_close, ops) = parse(data);
    run(
        Memory(Some(FaultyStore::new(MemoryStore::new()))),
        &ops,
        faults,
    );
    #[cfg(feature = "rocksdb")]
    run(Rocks::new(flush_on_close), &ops, faults);
    let _ = flush_on_close;
}

/// Drives a store through valid and invalid groups (entries, index rows, table versions,
/// tiles, signatures, metadata; commit groups or not) and every read, comparing each answer
/// with a `BTreeMap`/`Vec` model, and reopens it at arbitrary points: recovery must report
/// and keep exactly the committed prefix.
pub fn store_operations(data: &[u8]) {
    run_all(data, false);
}

/// As [`store_operations`], with a write or a sync failing at an arbitrary point (the crash
/// point): the failed write must change nothing, the handle must refuse every later write and
/// sync while reads go on agreeing with the model, and reopening must recover exactly the
/// committed prefix, a commit group whose sync failed included (it was appended).
pub fn store_crash_recovery(data: &[u8]) {
    run_all(data, true);
}
