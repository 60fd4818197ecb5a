//! Byte layouts of keys and values in the RocksDB store (documented in [`crate::rocks`]).
//!
//! Integers are big-endian so that byte order is numeric order. Names and table keys are
//! *escaped*: each `0x00` byte becomes `0x00 0xFF` and the string ends with `0x00 0x01`. The
//! escaping keeps lexicographic order (`a < a\0 < a\x01`) and makes every escaped string
//! prefix-free, so a name followed by a seqno can be split unambiguously and the keys of one
//! name form one contiguous range `[esc(name), esc(name) with its last byte + 1)`.

use ledger_merkle::TileId;

/// Big-endian bytes of a seqno.
pub(crate) fn seqno_key(seqno: u64) -> [u8; 8] {
    seqno.to_be_bytes()
}

/// Decodes an 8-byte big-endian seqno.
pub(crate) fn decode_seqno(bytes: &[u8]) -> Option<u64> {
    let arr: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

/// Appends `esc(bytes)` to `out`.
pub(crate) fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() + 2);
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

/// Splits an escaped string off the front of `bytes`: the unescaped string and the rest.
pub(crate) fn unescape(bytes: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != 0 {
            out.push(b);
            i += 1;
            continue;
        }
        match bytes.get(i + 1)? {
            0xFF => {
                out.push(0);
                i += 2;
            }
            0x01 => return Some((out, &bytes[i + 2..])),
            _ => return None,
        }
    }
    None
}

/// `esc(name)`: the prefix of every key of one collection or table.
pub(crate) fn name_prefix(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    escape_into(&mut out, name.as_bytes());
    out
}

/// The smallest key greater than every key that starts with the escaped `prefix` (which ends
/// with the terminator `0x00 0x01`).
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last = 0x02;
    }
    end
}

/// Collection index key: `esc(collection) || seqno`.
pub(crate) fn collection_key(collection: &str, seqno: u64) -> Vec<u8> {
    let mut key = name_prefix(collection);
    key.extend_from_slice(&seqno_key(seqno));
    key
}

/// Table-key prefix: `esc(table) || esc(key)`.
pub(crate) fn table_key_prefix(table: &str, key: &[u8]) -> Vec<u8> {
    let mut out = name_prefix(table);
    escape_into(&mut out, key);
    out
}

/// Table version key: `esc(table) || esc(key) || seqno`.
pub(crate) fn table_row_key(table: &str, key: &[u8], seqno: u64) -> Vec<u8> {
    let mut out = table_key_prefix(table, key);
    out.extend_from_slice(&seqno_key(seqno));
    out
}

/// Splits the part of a table version key after `esc(table)` into the key and the seqno.
pub(crate) fn split_table_suffix(suffix: &[u8]) -> Option<(Vec<u8>, u64)> {
    let (key, rest) = unescape(suffix)?;
    Some((key, decode_seqno(rest)?))
}

/// Splits an escaped-name-then-seqno key.
pub(crate) fn split_name_seqno(bytes: &[u8]) -> Option<(Vec<u8>, u64)> {
    let (name, rest) = unescape(bytes)?;
    Some((name, decode_seqno(rest)?))
}

/// Tile key: `row (1 byte) || index (8 bytes)`.
pub(crate) fn tile_key(id: TileId) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = id.row;
    key[1..].copy_from_slice(&id.index.to_be_bytes());
    key
}

/// Value tag of a table version holding a value.
pub(crate) const TABLE_VALUE: u8 = 1;
/// Value tag of a tombstone.
pub(crate) const TABLE_TOMBSTONE: u8 = 0;

/// Decodes a table version's value; `None` (outer) if the tag is unknown.
pub(crate) fn decode_table_value(bytes: &[u8]) -> Option<Option<Vec<u8>>> {
    match bytes.split_first() {
        Some((&TABLE_VALUE, rest)) => Some(Some(rest.to_vec())),
        Some((&TABLE_TOMBSTONE, [])) => Some(None),
        _ => None,
    }
}

/// Which column family a [`Restore`] applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cf {
    Collections = 2,
    Tables = 3,
    Signatures = 4,
    Meta = 5,
}

impl Cf {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            2 => Cf::Collections,
            3 => Cf::Tables,
            4 => Cf::Signatures,
            5 => Cf::Meta,
            _ => return None,
        })
    }
}

/// Undo information for one key that a not-yet-committed group overwrote at or below the
/// committed seqno (metadata, or rows of a meta-only group): its value before the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Restore {
    pub(crate) cf: Cf,
    pub(crate) key: Vec<u8>,
    pub(crate) prior: Option<Vec<u8>>,
}

/// What one not-yet-committed group touched, so that recovery can undo it without scanning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PendingRecord {
    /// Collections that got rows above the committed seqno.
    pub(crate) collections: Vec<String>,
    /// Table keys that got versions above the committed seqno.
    pub(crate) table_keys: Vec<(String, Vec<u8>)>,
    /// Tiles written.
    pub(crate) tiles: Vec<TileId>,
    /// Keys to restore to their prior values.
    pub(crate) restores: Vec<Restore>,
}

const PENDING_VERSION: u8 = 1;
const TAG_COLLECTION: u8 = 1;
const TAG_TABLE_KEY: u8 = 2;
const TAG_TILE: u8 = 3;
const TAG_RESTORE: u8 = 4;

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl PendingRecord {
    pub(crate) fn is_empty(&self) -> bool {
        self.collections.is_empty()
            && self.table_keys.is_empty()
            && self.tiles.is_empty()
            && self.restores.is_empty()
    }

    /// Encodes the record: a version byte, then tagged items (see [`crate::rocks`]).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![PENDING_VERSION];
        for c in &self.collections {
            out.push(TAG_COLLECTION);
            put_bytes(&mut out, c.as_bytes());
        }
        for (t, k) in &self.table_keys {
            out.push(TAG_TABLE_KEY);
            put_bytes(&mut out, t.as_bytes());
            put_bytes(&mut out, k);
        }
        for id in &self.tiles {
            out.push(TAG_TILE);
            out.extend_from_slice(&tile_key(*id));
        }
        for r in &self.restores {
            out.push(TAG_RESTORE);
            out.push(r.cf as u8);
            put_bytes(&mut out, &r.key);
            match &r.prior {
                Some(v) => {
                    out.push(1);
                    put_bytes(&mut out, v);
                }
                None => out.push(0),
            }
        }
        out
    }

    /// Decodes bytes written by [`PendingRecord::encode`].
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.u8()? != PENDING_VERSION {
            return None;
        }
        let mut rec = PendingRecord::default();
        while !r.0.is_empty() {
            match r.u8()? {
                TAG_COLLECTION => rec.collections.push(String::from_utf8(r.bytes()?).ok()?),
                TAG_TABLE_KEY => {
                    let table = String::from_utf8(r.bytes()?).ok()?;
                    rec.table_keys.push((table, r.bytes()?));
                }
                TAG_TILE => {
                    let row = r.u8()?;
                    let index = decode_seqno(r.take(8)?)?;
                    rec.tiles.push(TileId { row, index });
                }
                TAG_RESTORE => {
                    let cf = Cf::from_code(r.u8()?)?;
                    let key = r.bytes()?;
                    let prior = match r.u8()? {
                        0 => None,
                        1 => Some(r.bytes()?),
                        _ => return None,
                    };
                    rec.restores.push(Restore { cf, key, prior });
                }
                _ => return None,
            }
        }
        Some(rec)
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn bytes(&mut self) -> Option<Vec<u8>> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        Some(self.take(usize::try_from(len).ok()?)?.to_vec())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn escaping_preserves_order_and_round_trips() {
        let names: Vec<&[u8]> = vec![b"", b"\0", b"\0\0", b"\0\x01", b"a", b"a\0", b"a\x01", b"b"];
        let mut prev: Option<Vec<u8>> = None;
        for n in names {
            let mut e = Vec::new();
            escape_into(&mut e, n);
            let mut with_seq = e.clone();
            with_seq.extend_from_slice(&seqno_key(u64::MAX));
            if let Some(p) = &prev {
                assert!(p < &e, "{n:?}");
            }
            let (back, rest) = unescape(&with_seq).unwrap();
            assert_eq!(back, n);
            assert_eq!(decode_seqno(rest), Some(u64::MAX));
            // every key of this name is below the prefix end, and the next name is above it
            assert!(with_seq < prefix_end(&e));
            prev = Some(prefix_end(&e));
        }
    }

    #[test]
    fn pending_record_round_trips() {
        let rec = PendingRecord {
            collections: vec!["a".into(), "\0b".into()],
            table_keys: vec![("t".into(), vec![0, 1, 2])],
            tiles: vec![TileId { row: 1, index: 7 }],
            restores: vec![
                Restore {
                    cf: Cf::Meta,
                    key: b"k".to_vec(),
                    prior: None,
                },
                Restore {
                    cf: Cf::Tables,
                    key: b"x".to_vec(),
                    prior: Some(vec![9; 3]),
                },
            ],
        };
        assert_eq!(PendingRecord::decode(&rec.encode()), Some(rec));
        assert_eq!(PendingRecord::decode(&[2]), None);
        assert_eq!(PendingRecord::decode(&[1, 9]), None);
    }
}
