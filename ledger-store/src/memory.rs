//! The in-memory backend: [`MemoryStore`].
//!
//! It keeps the same contract as [`crate::RocksStore`] in ordinary maps, for tests, examples
//! and ephemeral ledgers. Nothing is durable; [`MemoryStore::simulate_crash`] models a crash
//! and reopen, discarding everything written after the last commit group exactly as recovery
//! of the RocksDB store does.
//!
//! Entry bytes are copied into large blocks (`EntryLog`) rather than kept one allocation per
//! entry: a ledger held in memory only grows, and per-entry allocations made by the appending
//! threads would each take fresh pages from their thread's heap (a page fault and a heap
//! extension every few dozen entries, on the appenders' critical path), while the blocks are
//! filled by the one writer and the appenders' buffers go back to the allocator to be reused.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, RangeInclusive};
use std::path::Path;

use ledger_merkle::{Tile, TileId, TileStore, TileStoreError};
use parking_lot::RwLock;

use crate::range::ReadRange;
use crate::{
    validate, BackupInfo, Group, GroupTicket, Recovery, Store, StoreError, StoreState, TableVersion,
};

/// A prior value to put back if the group that overwrote it is discarded.
#[derive(Clone, Debug)]
enum Undo {
    Meta(String, Option<Vec<u8>>),
    Collection(String, u64, bool),
    Table(String, Vec<u8>, u64, Option<Option<Vec<u8>>>),
    Signature(u64, Option<Vec<u8>>),
}

/// The versions of one table key by seqno (`None` = tombstone).
type Versions = BTreeMap<u64, Option<Vec<u8>>>;

#[derive(Clone, Debug, Default)]
struct Inner {
    state: StoreState,
    /// Entry `i` is seqno `i + 1`.
    entries: EntryLog,
    collections: BTreeMap<String, Seqnos>,
    tables: BTreeMap<String, BTreeMap<Vec<u8>, Versions>>,
    tiles: BTreeMap<TileId, Tile>,
    signatures: BTreeMap<u64, Vec<u8>>,
    meta: BTreeMap<String, Vec<u8>>,
    /// What groups after the last commit group touched (see the RocksDB recovery rules).
    pending_tiles: BTreeSet<TileId>,
    pending_undo: Vec<Undo>,
    ticket: u64,
}

/// Entry bytes packed end to end into blocks of [`EntryLog::BLOCK`] bytes (an entry larger
/// than a block gets a block of its own), with one span per entry.
///
/// Invariant: spans are in seqno order and lie in order within the blocks; the last block
/// ends where the last span ends (after [`EntryLog::truncate`] too), so appending continues
/// right after it.
#[derive(Clone, Debug, Default)]
struct EntryLog {
    blocks: Vec<Vec<u8>>,
    spans: Vec<Span>,
}

/// Where one entry's bytes are: `blocks[block][start..start + len]`.
#[derive(Clone, Copy, Debug)]
struct Span {
    block: usize,
    start: usize,
    len: usize,
}

impl EntryLog {
    /// Capacity of an ordinary block.
    const BLOCK: usize = 4 << 20;

    fn reserve(&mut self, entries: usize) {
        self.spans.reserve(entries);
    }

    fn push(&mut self, bytes: &[u8]) {
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= bytes.len());
        if !fits {
            self.blocks
                .push(Vec::with_capacity(Self::BLOCK.max(bytes.len())));
        }
        let block = self.blocks.len() - 1;
        if let Some(b) = self.blocks.last_mut() {
            self.spans.push(Span {
                block,
                start: b.len(),
                len: bytes.len(),
            });
            b.extend_from_slice(bytes);
        }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        let span = self.spans.get(i)?;
        self.blocks
            .get(span.block)?
            .get(span.start..span.start + span.len)
    }

    /// Keeps the first `n` entries.
    fn truncate(&mut self, n: usize) {
        if n >= self.spans.len() {
            return;
        }
        self.spans.truncate(n);
        match self.spans.last().copied() {
            Some(last) => {
                self.blocks.truncate(last.block + 1);
                if let Some(b) = self.blocks.last_mut() {
                    b.truncate(last.start + last.len);
                }
            }
            None => self.blocks.clear(),
        }
    }
}

/// The seqnos of one collection, ascending: a sorted vector, since rows nearly always
/// arrive in seqno order (a push) and range reads are two binary searches.
#[derive(Clone, Debug, Default)]
struct Seqnos(Vec<u64>);

impl Seqnos {
    /// Adds `s`; returns whether it is new.
    fn insert(&mut self, s: u64) -> bool {
        match self.0.last() {
            Some(&last) if last >= s => match self.0.binary_search(&s) {
                Ok(_) => false,
                Err(at) => {
                    self.0.insert(at, s);
                    true
                }
            },
            _ => {
                self.0.push(s);
                true
            }
        }
    }

    fn remove(&mut self, s: u64) {
        if let Ok(at) = self.0.binary_search(&s) {
            self.0.remove(at);
        }
    }

    /// Keeps the seqnos up to `last`.
    fn truncate_after(&mut self, last: u64) {
        let keep = self.0.partition_point(|&x| x <= last);
        self.0.truncate(keep);
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The seqnos `r` reads (before its limit).
    fn range(&self, r: ReadRange) -> &[u64] {
        let lo = self.0.partition_point(|&x| x < r.first);
        let hi = self.0.partition_point(|&x| x <= r.last);
        self.0.get(lo..hi).unwrap_or_default()
    }
}

/// A [`Store`] held in memory. Cheap to create; dropped with the process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An independent copy of everything the store holds now, uncommitted groups included:
    /// what copying a closed RocksDB store's directory gives. Replicated nodes are founded
    /// from copies of one genesis store; this is how in-memory nodes get theirs.
    pub fn copy(&self) -> MemoryStore {
        MemoryStore {
            inner: RwLock::new(self.inner.read().clone()),
        }
    }

    /// `pick` applied to the seqnos of `collection`'s rows in `seqnos` (with the limit).
    fn rows_in(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
        pick: impl FnOnce(&[u64], usize) -> Vec<u64>,
    ) -> Vec<u64> {
        let Some(r) = ReadRange::new(seqnos, limit) else {
            return Vec::new();
        };
        let g = self.inner.read();
        g.collections
            .get(collection)
            .map(|rows| pick(rows.range(r), r.limit))
            .unwrap_or_default()
    }

    /// Models a crash followed by a reopen: everything written after the last commit group is
    /// discarded (entries, index rows, table versions and signatures above the committed
    /// seqno, metadata changes undone, tiles rolled back with
    /// [`Tile::truncated`]`(committed + 1)`), as [`crate::RocksStore::open`] does.
    pub fn simulate_crash(&self) -> Recovery {
        let mut g = self.inner.write();
        let inner = &mut *g;
        let committed = inner.state.committed_seqno;
        let last = inner.state.last_seqno;
        let above = committed.saturating_add(1);
        inner
            .entries
            .truncate(usize::try_from(committed).unwrap_or(usize::MAX));
        inner.signatures.retain(|s, _| *s <= committed);
        for rows in inner.collections.values_mut() {
            rows.truncate_after(committed);
        }
        inner.collections.retain(|_, rows| !rows.is_empty());
        for keys in inner.tables.values_mut() {
            for versions in keys.values_mut() {
                versions.retain(|s, _| *s <= committed);
            }
            keys.retain(|_, v| !v.is_empty());
        }
        inner.tables.retain(|_, k| !k.is_empty());
        for id in std::mem::take(&mut inner.pending_tiles) {
            match inner.tiles.get(&id).and_then(|t| t.truncated(above)) {
                Some(t) => inner.tiles.insert(id, t),
                None => inner.tiles.remove(&id),
            };
        }
        for undo in std::mem::take(&mut inner.pending_undo).into_iter().rev() {
            match undo {
                Undo::Meta(k, prior) => match prior {
                    Some(v) => inner.meta.insert(k, v),
                    None => inner.meta.remove(&k),
                },
                Undo::Collection(c, s, present) => {
                    let rows = match inner.collections.get_mut(c.as_str()) {
                        Some(rows) => rows,
                        None => inner.collections.entry(c.clone()).or_default(),
                    };
                    if present {
                        rows.insert(s);
                    } else {
                        rows.remove(s);
                        if rows.is_empty() {
                            inner.collections.remove(&c);
                        }
                    }
                    None
                }
                Undo::Table(t, k, s, prior) => {
                    let versions = inner
                        .tables
                        .entry(t.clone())
                        .or_default()
                        .entry(k.clone())
                        .or_default();
                    match prior {
                        Some(v) => {
                            versions.insert(s, v);
                        }
                        None => {
                            versions.remove(&s);
                        }
                    }
                    if versions.is_empty() {
                        if let Some(keys) = inner.tables.get_mut(&t) {
                            keys.remove(&k);
                            if keys.is_empty() {
                                inner.tables.remove(&t);
                            }
                        }
                    }
                    None
                }
                Undo::Signature(s, prior) => match prior {
                    Some(v) => inner.signatures.insert(s, v),
                    None => inner.signatures.remove(&s),
                },
            };
        }
        inner.state.last_seqno = committed;
        Recovery {
            committed_seqno: committed,
            discarded: (last > committed).then_some(above..=last),
        }
    }
}

impl TileStore for MemoryStore {
    fn load_tile(&self, id: TileId) -> Result<Option<Tile>, TileStoreError> {
        Ok(self.inner.read().tiles.get(&id).cloned())
    }
}

impl Store for MemoryStore {
    fn append_group(&self, group: &Group) -> Result<GroupTicket, StoreError> {
        self.append_group_owned(&mut group.clone(), &mut Vec::new())
    }

    fn append_group_owned(
        &self,
        group: &mut Group,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<GroupTicket, StoreError> {
        validate::check_self(group)?;
        let mut g = self.inner.write();
        let inner = &mut *g;
        let (_, _, new_last) = validate::check_against(group, inner.state.last_seqno)?;
        let committed = inner.state.committed_seqno;
        let record = !group.commit;
        let commit = group.commit;
        inner.entries.reserve(group.entries.len());
        for record in &group.entries {
            inner.entries.push(record.bytes());
        }
        for (c, s) in group.collection_rows.drain(..) {
            let rows = match inner.collections.get_mut(&*c) {
                Some(rows) => rows,
                None => inner.collections.entry(c.to_string()).or_default(),
            };
            let was = !rows.insert(s);
            if record && s <= committed {
                inner
                    .pending_undo
                    .push(Undo::Collection(c.to_string(), s, was));
            }
        }
        for w in group.table_writes.drain(..) {
            let undo = (record && w.seqno <= committed).then(|| (w.table.clone(), w.key.clone()));
            let prior = inner
                .tables
                .entry(w.table)
                .or_default()
                .entry(w.key)
                .or_default()
                .insert(w.seqno, w.value);
            if let Some((table, key)) = undo {
                inner
                    .pending_undo
                    .push(Undo::Table(table, key, w.seqno, prior));
            }
        }
        for t in group.tiles.drain(..) {
            if record {
                inner.pending_tiles.insert(t.id());
            }
            inner.tiles.insert(t.id(), t);
        }
        for (s, sig) in group.signatures.drain(..) {
            let prior = inner.signatures.insert(s, sig);
            if record && s <= committed {
                inner.pending_undo.push(Undo::Signature(s, prior));
            }
        }
        for (k, v) in group.meta.drain(..) {
            let prior = match v {
                Some(v) => inner.meta.insert(k.clone(), v),
                None => inner.meta.remove(&k),
            };
            if record {
                inner.pending_undo.push(Undo::Meta(k, prior));
            }
        }
        inner.state.last_seqno = new_last;
        if commit {
            inner.state.committed_seqno = new_last;
            inner.pending_tiles.clear();
            inner.pending_undo.clear();
        }
        inner.ticket += 1;
        let ticket = GroupTicket(inner.ticket);
        drop(g);
        spare.extend(group.entries.drain(..).map(|e| e.into_parts().1));
        group.commit = false;
        Ok(ticket)
    }

    fn await_commit(&self, _ticket: GroupTicket) -> Result<(), StoreError> {
        Ok(())
    }

    fn state(&self) -> StoreState {
        self.inner.read().state
    }

    fn entry(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let g = self.inner.read();
        let Some(i) = seqno.checked_sub(1).and_then(|i| usize::try_from(i).ok()) else {
            return Ok(None);
        };
        Ok(g.entries.get(i).map(<[u8]>::to_vec))
    }

    fn entries(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let g = self.inner.read();
        let Some(r) = ReadRange::within(seqnos, limit, g.state.last_seqno) else {
            return Ok(Vec::new());
        };
        Ok(r.seqnos()
            .take(r.limit)
            .filter_map(|s| {
                let i = usize::try_from(s - 1).ok()?;
                g.entries.get(i).map(|b| (s, b.to_vec()))
            })
            .collect())
    }

    fn collection_seqnos(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self.rows_in(collection, seqnos, limit, |rows, limit| {
            rows.iter().take(limit).copied().collect()
        }))
    }

    fn collection_seqnos_rev(
        &self,
        collection: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        Ok(self.rows_in(collection, seqnos, limit, |rows, limit| {
            rows.iter().rev().take(limit).copied().collect()
        }))
    }

    fn collections(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>, StoreError> {
        let g = self.inner.read();
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_string()),
            None => Bound::Unbounded,
        };
        Ok(g.collections
            .range((lower, Bound::Unbounded))
            .take(limit)
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn table_get(
        &self,
        table: &str,
        key: &[u8],
        as_of: u64,
    ) -> Result<Option<TableVersion>, StoreError> {
        let g = self.inner.read();
        Ok(g.tables
            .get(table)
            .and_then(|t| t.get(key))
            .and_then(|v| v.range(..=as_of).next_back())
            .map(|(s, v)| TableVersion {
                seqno: *s,
                value: v.clone(),
            }))
    }

    fn table_history(
        &self,
        table: &str,
        key: &[u8],
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<TableVersion>, StoreError> {
        let Some(r) = ReadRange::new(seqnos, limit) else {
            return Ok(Vec::new());
        };
        let g = self.inner.read();
        Ok(g.tables
            .get(table)
            .and_then(|t| t.get(key))
            .map(|v| {
                v.range(r.seqnos())
                    .take(r.limit)
                    .map(|(s, v)| TableVersion {
                        seqno: *s,
                        value: v.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn table_scan(
        &self,
        table: &str,
        as_of: u64,
        after_key: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, TableVersion)>, StoreError> {
        let g = self.inner.read();
        let Some(t) = g.tables.get(table) else {
            return Ok(Vec::new());
        };
        let lower = match after_key {
            Some(k) => Bound::Excluded(k.to_vec()),
            None => Bound::Unbounded,
        };
        Ok(t.range((lower, Bound::Unbounded))
            .filter_map(|(k, versions)| {
                let (s, v) = versions.range(..=as_of).next_back()?;
                v.as_ref().map(|v| {
                    (
                        k.clone(),
                        TableVersion {
                            seqno: *s,
                            value: Some(v.clone()),
                        },
                    )
                })
            })
            .take(limit)
            .collect())
    }

    fn signature(&self, seqno: u64) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.read().signatures.get(&seqno).cloned())
    }

    fn signature_after(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .inner
            .read()
            .signatures
            .range((Bound::Excluded(seqno), Bound::Unbounded))
            .next()
            .map(|(s, v)| (*s, v.clone())))
    }

    fn signature_at_or_before(&self, seqno: u64) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        Ok(self
            .inner
            .read()
            .signatures
            .range(..=seqno)
            .next_back()
            .map(|(s, v)| (*s, v.clone())))
    }

    fn signatures(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let Some(r) = ReadRange::new(seqnos, limit) else {
            return Ok(Vec::new());
        };
        Ok(self
            .inner
            .read()
            .signatures
            .range(r.seqnos())
            .take(r.limit)
            .map(|(s, v)| (*s, v.clone()))
            .collect())
    }

    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.inner.read().meta.get(key).cloned())
    }

    fn sync(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn backup(&self, _dir: &Path) -> Result<BackupInfo, StoreError> {
        Err(StoreError::Unsupported {
            what: "backup of a memory store".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{EntryLog, MemoryStore};
    use crate::{EntryRecord, Group, Store};

    /// A copy holds what the store held, committed or not, and the two change apart.
    #[test]
    fn a_copy_is_equal_then_independent() {
        let store = MemoryStore::new();
        let group = |first: u64, commit: bool| Group {
            entries: (first..first + 3)
                .map(|s| EntryRecord::new(s, format!("entry {s}").into_bytes()))
                .collect(),
            meta: vec![(format!("m{first}"), Some(vec![1]))],
            commit,
            ..Group::default()
        };
        store.write_group(&group(1, true)).unwrap();
        store.write_group(&group(4, false)).unwrap();
        let copy = store.copy();
        assert_eq!(copy.state(), store.state());
        for s in 1..=6 {
            assert_eq!(copy.entry(s).unwrap(), store.entry(s).unwrap());
        }
        assert_eq!(copy.meta("m4").unwrap(), Some(vec![1]));
        // Apart: each goes on from the same point, and a crash of the copy discards its
        // own uncommitted tail only.
        store.write_group(&group(7, true)).unwrap();
        copy.write_group(&Group {
            entries: vec![EntryRecord::new(7, b"other".to_vec())],
            ..Group::default()
        })
        .unwrap();
        assert_eq!(store.entry(7).unwrap(), Some(b"entry 7".to_vec()));
        assert_eq!(copy.entry(7).unwrap(), Some(b"other".to_vec()));
        copy.simulate_crash();
        assert_eq!(copy.state().last_seqno, 3);
        assert_eq!(store.state().last_seqno, 9);
        assert_eq!(store.entry(5).unwrap(), Some(b"entry 5".to_vec()));
    }

    /// Entries of seeded sizes, some larger than a block, read back, truncated at every kind
    /// of boundary, and appended again, against a vector of vectors.
    #[test]
    fn the_entry_log_matches_a_vector_of_entries() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut log = EntryLog::default();
        let mut model: Vec<Vec<u8>> = Vec::new();
        for round in 0..6 {
            for _ in 0..300 {
                let len = match next() % 10 {
                    0 => EntryLog::BLOCK + (next() % 1000) as usize,
                    1 => 0,
                    _ => (next() % 40_000) as usize,
                };
                let fill = (next() & 0xff) as u8;
                log.push(&vec![fill; len]);
                model.push(vec![fill; len]);
            }
            for (i, entry) in model.iter().enumerate() {
                assert_eq!(
                    log.get(i),
                    Some(entry.as_slice()),
                    "round {round} entry {i}"
                );
            }
            assert_eq!(log.get(model.len()), None);
            let keep = (next() % (model.len() as u64 + 1)) as usize;
            log.truncate(keep);
            model.truncate(keep);
            assert_eq!(log.get(keep), None);
            for (i, entry) in model.iter().enumerate() {
                assert_eq!(
                    log.get(i),
                    Some(entry.as_slice()),
                    "round {round} entry {i}"
                );
            }
        }
        log.truncate(0);
        assert_eq!(log.get(0), None);
        log.push(b"again");
        assert_eq!(log.get(0), Some(&b"again"[..]));
    }
}
