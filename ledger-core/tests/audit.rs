//! The offline audit against untouched and tampered ledgers: entries flipped byte by byte
//! through the store's own API (with the stored digest kept, and recomputed), signatures,
//! signature index records, tree tiles, table indexes, view metadata, identities, truncated
//! ledgers and crashed writers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::{NonZeroU64, NonZeroUsize};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ledger_core::testing::{
    META_NODE_IDENTITY, META_SERVICE_CERT, META_SERVICE_IDENTITY, META_VIEWS,
};
use ledger_core::{
    audit_path, audit_store, audit_store_with, AuditOptions, AuditReport, EntryCheck, Finding,
    FindingKind,
};
use ledger_core::{Error, Ledger, LedgerConfig, Transaction, TxId, TxStatus};
use ledger_core::{LedgerEntry, TxKind};
use ledger_core::{NodeIdentity, NodeSigner, ServiceIdentity};
use ledger_merkle::{TileId, TileStore};
use ledger_store::testing::{overwrite_entry, EntryDigest};
use ledger_store::{Group, RocksStore, Store, StoreConfig, TableWrite};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const WAIT: Duration = Duration::from_secs(30);

/// A configuration that signs only when asked (flush, close), so that a ledger built by one
/// thread has the same layout every run.
fn quiet(path: &Path) -> LedgerConfig {
    LedgerConfig::new(path)
        .sig_interval(Duration::from_secs(3600))
        .sig_tx_interval(NonZeroU64::new(1_000_000).unwrap())
}

/// Writes `txs` transactions of every shape (single and multi-collection appends, table puts
/// and removes, claims digests), flushing every 7, then closes the ledger.
/// A closed ledger of `txs` seeded transactions at `ledger` in a fresh temporary directory
/// (removed when the returned guard drops).
fn built(txs: u32, seed: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    build(&path, txs, seed);
    (dir, path)
}

fn build(path: &Path, txs: u32, seed: u64) {
    let ledger = Ledger::open(quiet(path)).unwrap();
    write_some(&ledger, txs, seed);
    ledger.close().unwrap();
}

fn write_some(ledger: &Ledger, txs: u32, seed: u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in 0..txs {
        let mut tx = Transaction::new();
        let len = rng.gen_range(0..200);
        let contents: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        tx.append(&format!("c{}", rng.gen_range(0..6)), &contents);
        match i % 5 {
            0 => {
                tx.append("extra", b"second collection");
            }
            1 => {
                tx.put(
                    "t",
                    format!("k{}", rng.gen_range(0..10)).as_bytes(),
                    &contents,
                );
            }
            2 => {
                tx.remove("t", format!("k{}", rng.gen_range(0..10)).as_bytes());
            }
            3 => {
                tx.claims_digest(rng.gen());
            }
            _ => {}
        }
        ledger.submit(tx).unwrap();
        if i % 7 == 6 {
            ledger.flush().unwrap();
        }
    }
}

fn audit(path: &Path) -> AuditReport {
    audit_path(path, &AuditOptions::default()).unwrap()
}

fn assert_clean(report: &AuditReport) {
    assert!(
        report.is_clean(),
        "unexpected finding: {:?}",
        report.finding
    );
}

fn finding(report: AuditReport) -> Finding {
    report.finding.expect("the audit must report a finding")
}

fn open_store(path: &Path) -> RocksStore {
    RocksStore::open(path, StoreConfig::default()).unwrap().0
}

/// Kinds, seqnos and entry sizes of every entry of a store.
fn layout(store: &dyn Store) -> Vec<(u64, TxKind, usize)> {
    let last = store.state().last_seqno;
    store
        .entries(1..=last, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|(s, b)| (s, ledger_core::decode_entry(&b).unwrap().kind, b.len()))
        .collect()
}

fn write_meta(store: &RocksStore, key: &str, value: Option<Vec<u8>>) {
    store
        .write_group(&Group {
            meta: vec![(key.to_owned(), value)],
            commit: true,
            ..Group::default()
        })
        .unwrap();
}

fn write_signature_record(store: &RocksStore, seqno: u64, record: Vec<u8>) {
    store
        .write_group(&Group {
            signatures: vec![(seqno, record)],
            commit: true,
            ..Group::default()
        })
        .unwrap();
}

#[test]
fn untouched_ledgers_pass() {
    let (_dir, path) = built(120, 1);
    // Reopened twice more, with default (timed) signing this time.
    for round in 0..2 {
        let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
        write_some(&ledger, 40, 10 + round);
        ledger.close().unwrap();
    }
    let report = audit(&path);
    assert_clean(&report);
    assert!(report.last_seqno > 200, "{report:?}");
    assert_eq!(report.entries, report.last_seqno);
    assert_eq!(report.committed_seqno, report.last_seqno);
    assert!(report.signatures >= 18, "{report:?}");
    assert!(report.tiles >= 1);
    assert_eq!(report.views, vec![(1, 1)]);
    assert_eq!(report.unsigned_tail, None);
    assert_eq!(report.uncommitted_tail, None);
    let last = report.last_signature.unwrap();
    assert_eq!(last.tx_id.seqno(), report.last_seqno);

    // The same through `audit_store`, with every page size and the optional checks off.
    let store = RocksStore::open_read_only(&path).unwrap();
    for page in [1, 2, 7, 256, 100_000] {
        for (tiles, indexes) in [(true, true), (false, false)] {
            let options = AuditOptions::default()
                .page_entries(NonZeroUsize::new(page).unwrap())
                .check_tiles(tiles)
                .check_indexes(indexes)
                .certificates_valid_at(Some(std::time::SystemTime::now()));
            let again = audit_store(&store, &options).unwrap();
            assert_clean(&again);
            assert_eq!(again.signatures, report.signatures);
            assert_eq!(again.last_signature, report.last_signature);
        }
    }
    // The root the audit reports is what receipts are signed with.
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    let receipt = ledger.receipt(TxId::new(1, 3).unwrap()).unwrap();
    receipt.verify(&ledger.service_certificate_pem()).unwrap();
    ledger.close().unwrap();
}

#[test]
fn progress_is_reported() {
    let (_dir, path) = built(300, 2);
    let calls = Arc::new(AtomicU64::new(0));
    let last_seen = Arc::new(AtomicU64::new(0));
    let options = {
        let calls = Arc::clone(&calls);
        let last_seen = Arc::clone(&last_seen);
        AuditOptions::default()
            .progress_every(NonZeroU64::new(50).unwrap())
            .page_entries(NonZeroUsize::new(32).unwrap())
            .on_progress(move |p| {
                assert!(p.checked_through <= p.last_seqno);
                let before = last_seen.swap(p.checked_through, Ordering::SeqCst);
                assert!(p.checked_through >= before, "progress went backwards");
                calls.fetch_add(1, Ordering::SeqCst);
            })
    };
    let report = audit_path(&path, &options).unwrap();
    assert_clean(&report);
    // One call per 50 entries, and one at the end.
    assert_eq!(calls.load(Ordering::SeqCst), report.last_seqno / 50 + 1);
    assert_eq!(last_seen.load(Ordering::SeqCst), report.last_seqno);
}

/// Flips one byte of entry after entry (keeping the stored digest, so the store itself
/// reports the damage) and requires the audit to name exactly that seqno every time.
#[test]
fn flipped_entries_with_stale_digest_are_found_at_their_seqno() {
    let (_dir, path) = built(150, 3);
    let store = open_store(&path);
    let entries = layout(&store);
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0001);
    for _ in 0..150 {
        let &(seqno, _, len) = &entries[rng.gen_range(0..entries.len())];
        let original = store.entry(seqno).unwrap().unwrap();
        let mut bytes = original.clone();
        bytes[rng.gen_range(0..len)] ^= rng.gen_range(1..=255u8);
        overwrite_entry(&store, seqno, &bytes, EntryDigest::Keep).unwrap();
        let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
        assert_eq!(found.kind, FindingKind::StoreCorruption, "{found}");
        assert_eq!(found.seqno, Some(seqno), "{found}");
        overwrite_entry(&store, seqno, &original, EntryDigest::Recompute).unwrap();
    }
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    // Once more on disk, through `audit_path`.
    let &(seqno, _, _) = &entries[entries.len() / 2];
    let mut bytes = store.entry(seqno).unwrap().unwrap();
    bytes[0] ^= 0x80;
    overwrite_entry(&store, seqno, &bytes, EntryDigest::Keep).unwrap();
    store.close().unwrap();
    let found = finding(audit(&path));
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::StoreCorruption, Some(seqno))
    );
}

/// Flips one byte of entry after entry and recomputes the stored digest, so that the store
/// serves the forged bytes as genuine: only the leaf and root checks can notice, and the
/// audit must still name exactly the forged seqno.
#[test]
fn forged_entries_are_found_at_their_seqno() {
    let (_dir, path) = built(150, 4);
    let store = open_store(&path);
    let entries = layout(&store);
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0002);
    let mut kinds = std::collections::BTreeMap::<String, u32>::new();
    let runs = 400;
    for i in 0..runs {
        // Every entry kind gets its share: genesis, signatures, user transactions.
        let &(seqno, _, len) = match i % 4 {
            0 => entries
                .iter()
                .filter(|e| e.1 == TxKind::Signature)
                .nth(rng.gen_range(0..entries.iter().filter(|e| e.1 == TxKind::Signature).count()))
                .unwrap(),
            1 if i % 40 == 1 => &entries[0],
            _ => &entries[rng.gen_range(0..entries.len())],
        };
        let original = store.entry(seqno).unwrap().unwrap();
        let mut bytes = original.clone();
        bytes[rng.gen_range(0..len)] ^= rng.gen_range(1..=255u8);
        overwrite_entry(&store, seqno, &bytes, EntryDigest::Recompute).unwrap();
        let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
        assert_eq!(found.seqno, Some(seqno), "{found}");
        *kinds.entry(format!("{:?}", found.kind)).or_default() += 1;
        // Without the tile check the forgery is still found, at the latest by the first
        // signature covering it. The last signature transaction has none: a byte of what only
        // its leaf binds (the commit-evidence digest in its header, which the audit cannot
        // recompute without the commit secret) is then bound by the stored tree alone, so
        // there the audit without tiles may find nothing.
        if i % 10 == 0 {
            let options = AuditOptions::default().check_tiles(false);
            let report = audit_store(&store, &options).unwrap();
            let covering = entries
                .iter()
                .find(|e| e.0 > seqno && e.1 == TxKind::Signature)
                .map(|e| e.0);
            match (report.finding, covering) {
                (Some(found), covering) => {
                    let at = found.seqno.unwrap();
                    assert!(
                        at == seqno || Some(at) == covering,
                        "{found} (forged {seqno})"
                    );
                }
                (None, None) => {}
                (None, Some(covering)) => {
                    panic!("forged {seqno} not found without tiles, though {covering} covers it")
                }
            }
        }
        overwrite_entry(&store, seqno, &original, EntryDigest::Recompute).unwrap();
    }
    eprintln!("findings by kind over {runs} forgeries: {kinds:?}");
    assert!(kinds.contains_key("EntryAltered"), "{kinds:?}");
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    store.close().unwrap();
    assert_clean(&audit(&path));
}

/// Re-encodes signature transaction `seqno` with `change` applied to its payload, and (if
/// `index_too`) the signature index record with it.
fn forge_signature(
    store: &RocksStore,
    seqno: u64,
    index_too: bool,
    change: impl FnOnce(&mut ledger_core::SignaturePayload),
) -> (Vec<u8>, Vec<u8>) {
    let original = store.entry(seqno).unwrap().unwrap();
    let original_record = store.signature(seqno).unwrap().unwrap();
    let mut decoded = ledger_core::decode_entry(&original).unwrap();
    let payload = decoded.body.signature.as_mut().unwrap();
    change(payload);
    let record = ledger_core::testing::encode_signature(payload);
    let bytes = ledger_core::testing::encode_ledger_entry(&decoded).unwrap();
    overwrite_entry(store, seqno, &bytes, EntryDigest::Recompute).unwrap();
    if index_too {
        write_signature_record(store, seqno, record);
    }
    (original, original_record)
}

fn restore_signature(store: &RocksStore, seqno: u64, saved: (Vec<u8>, Vec<u8>)) {
    overwrite_entry(store, seqno, &saved.0, EntryDigest::Recompute).unwrap();
    write_signature_record(store, seqno, saved.1);
}

fn signature_seqnos(store: &dyn Store, kind: TxKind) -> Vec<u64> {
    layout(store)
        .iter()
        .filter(|e| e.1 == kind)
        .map(|e| e.0)
        .collect()
}

fn expect_finding(store: &dyn Store, kind: FindingKind, at: u64) {
    let found = finding(audit_store(store, &AuditOptions::default()).unwrap());
    assert_eq!((found.kind, found.seqno), (kind, Some(at)), "{found}");
}

#[test]
fn damaged_signature_records_are_found() {
    let (_dir, path) = built(60, 5);
    let store = open_store(&path);
    let sigs = signature_seqnos(&store, TxKind::Signature);
    let users = signature_seqnos(&store, TxKind::User);
    let s = sigs[sigs.len() / 2];
    // A different record, one that does not decode, a stray one at a user transaction.
    let record = store.signature(s).unwrap().unwrap();
    let mut other = ledger_core::decode_signature(&record).unwrap();
    other.root[0] ^= 1;
    write_signature_record(&store, s, ledger_core::testing::encode_signature(&other));
    expect_finding(&store, FindingKind::SignatureIndex, s);
    write_signature_record(&store, s, b"not a record".to_vec());
    expect_finding(&store, FindingKind::SignatureIndex, s);
    write_signature_record(&store, s, record.clone());
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    let stray = users[users.len() / 3];
    write_signature_record(&store, stray, record);
    expect_finding(&store, FindingKind::SignatureIndex, stray);
    // A stray record cannot be deleted through the store's API, nor can one be written
    // beyond the last entry (the store checks row seqnos).
}

#[test]
fn audits_resume_from_a_trusted_root() {
    let (_dir, path) = built(60, 11);
    let store = open_store(&path);
    let first = audit_store(&store, &AuditOptions::default()).unwrap();
    assert_clean(&first);
    let sigs = signature_seqnos(&store, TxKind::Signature);
    let (early, late) = (sigs[2], sigs[sigs.len() - 2]);
    let early_root = ledger_core::decode_entry(&store.entry(early).unwrap().unwrap())
        .unwrap()
        .body
        .signature
        .unwrap()
        .root;
    let trusted = AuditOptions::default().trusted_root(early, early_root);
    let resumed = audit_store(&store, &trusted).unwrap();
    assert_clean(&resumed);
    assert_eq!(resumed.signatures, first.signatures);
    // A wrong trusted root is a finding.
    let wrong = AuditOptions::default().trusted_root(early, [0; 32]);
    let found = finding(audit_store(&store, &wrong).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::Anchor, Some(early))
    );
    // A signature forged below the trusted root is not verified again, but the entry is not
    // the one the trusted root covers: still found, at its seqno.
    let below = sigs[1];
    let saved = forge_signature(&store, below, true, |p| p.signature[10] ^= 1);
    let found = finding(audit_store(&store, &trusted).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::EntryAltered, Some(below)),
        "{found}"
    );
    restore_signature(&store, below, saved);
    // Above it, signatures are verified as usual.
    let saved = forge_signature(&store, late, true, |p| p.signature[10] ^= 1);
    let found = finding(audit_store(&store, &trusted).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::BadSignature, Some(late))
    );
    restore_signature(&store, late, saved);
    assert_clean(&audit_store(&store, &trusted).unwrap());
}

#[test]
fn a_root_needs_a_node_signature_or_a_cose_signature() {
    let (_dir, path) = built(60, 5);
    let store = open_store(&path);
    // The last signature: no later root covers its leaf, so only the signature checks speak.
    let s = *signature_seqnos(&store, TxKind::Signature).last().unwrap();
    // The node signature emptied, as COSE-only mode writes it: the service key's COSE
    // signature still signs the root, and only the changed leaf is reported.
    let saved = forge_signature(&store, s, true, |p| p.signature.clear());
    expect_finding(&store, FindingKind::LeafMismatch, s);
    restore_signature(&store, s, saved);
    // And the COSE signature removed too: nothing signs the root.
    let original = store.entry(s).unwrap().unwrap();
    let mut decoded = ledger_core::decode_entry(&original).unwrap();
    let cose_writes = decoded.body.writes.len();
    decoded
        .body
        .writes
        .retain(|w| w.table != "internal.cose_signatures");
    assert_eq!(decoded.body.writes.len(), cose_writes - 1);
    decoded.body.signature.as_mut().unwrap().signature.clear();
    let record = ledger_core::testing::encode_signature(decoded.body.signature.as_ref().unwrap());
    let bytes = ledger_core::testing::encode_ledger_entry(&decoded).unwrap();
    overwrite_entry(&store, s, &bytes, EntryDigest::Recompute).unwrap();
    write_signature_record(&store, s, record);
    expect_finding(&store, FindingKind::BadSignature, s);
}

#[test]
fn forged_signatures_are_found() {
    let (_dir, path) = built(60, 5);
    let store = open_store(&path);
    let sigs = signature_seqnos(&store, TxKind::Signature);
    let s = sigs[sigs.len() / 2];
    let node = NodeIdentity::from_bytes(&store.meta(META_NODE_IDENTITY).unwrap().unwrap()).unwrap();
    let expect = |kind: FindingKind, at: u64| expect_finding(&store, kind, at);

    // The entry's payload forged, the index kept: the entry's own checks come first.
    let saved = forge_signature(&store, s, false, |p| p.signature[10] ^= 1);
    expect(FindingKind::BadSignature, s);
    restore_signature(&store, s, saved);
    // Re-signed validly by another node the service key certified (an insider holding the
    // service key), index kept: only the index tells.
    let service =
        ServiceIdentity::from_bytes(&store.meta(META_SERVICE_IDENTITY).unwrap().unwrap()).unwrap();
    let second = NodeIdentity::generate(&service, "second node").unwrap();
    let saved = forge_signature(&store, s, false, |p| {
        p.signature = second.sign_root(&p.root).unwrap();
        p.node_cert_pem = second.certificate_pem().to_owned();
        p.node_id = second.node_id().to_owned();
    });
    expect(FindingKind::SignatureIndex, s);
    restore_signature(&store, s, saved);
    // Forged consistently in entry and index: each check on its own.
    let saved = forge_signature(&store, s, true, |p| p.signature[10] ^= 1);
    expect(FindingKind::BadSignature, s);
    restore_signature(&store, s, saved);
    let saved = forge_signature(&store, s, true, |p| p.seqno += 1);
    expect(FindingKind::SignatureMismatch, s);
    restore_signature(&store, s, saved);
    let saved = forge_signature(&store, s, true, |p| p.view += 1);
    expect(FindingKind::SignatureMismatch, s);
    restore_signature(&store, s, saved);
    let saved = forge_signature(&store, s, true, |p| p.node_id = "00".repeat(32));
    expect(FindingKind::NodeIdMismatch, s);
    restore_signature(&store, s, saved);
    // A forged root, validly signed with the real node key (which an insider may hold): the
    // root does not recompute.
    let saved = forge_signature(&store, s, true, |p| {
        p.root[31] ^= 1;
        p.signature = node.sign_root(&p.root).unwrap();
    });
    expect(FindingKind::RootMismatch, s);
    restore_signature(&store, s, saved);
    // Signed by a node of another service: the certificate does not chain.
    let rogue_service = ServiceIdentity::generate("rogue").unwrap();
    let rogue = NodeIdentity::generate(&rogue_service, "rogue node").unwrap();
    let saved = forge_signature(&store, s, true, |p| {
        p.signature = rogue.sign_root(&p.root).unwrap();
        p.node_cert_pem = rogue.certificate_pem().to_owned();
        p.node_id = rogue.node_id().to_owned();
    });
    expect(FindingKind::CertificateChain, s);
    restore_signature(&store, s, saved);
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    // A record beyond the last entry cannot be written through the store's API (it checks
    // row seqnos), so that case is left to the store.
}

#[test]
fn damaged_tiles_and_indexes_are_found() {
    let (_dir, path) = built(700, 6);
    let store = open_store(&path);
    let last = store.state().last_seqno;
    assert!(last > 600);
    let rewrite_tile = |id: TileId, level: usize, offset: usize| {
        let tile = store.load_tile(id).unwrap().unwrap();
        let original = tile.clone();
        let mut levels = tile.into_levels();
        levels[level][offset][0] ^= 1;
        let forged = ledger_merkle::Tile::new(id, levels).unwrap();
        store
            .write_group(&Group {
                tiles: vec![forged],
                commit: true,
                ..Group::default()
            })
            .unwrap();
        original
    };
    let put_tile = |tile| {
        store
            .write_group(&Group {
                tiles: vec![tile],
                commit: true,
                ..Group::default()
            })
            .unwrap();
    };
    let expect = |kind: FindingKind, at: u64| expect_finding(&store, kind, at);
    // A leaf of the stored tree: the signed root confirms the entry, so the tile is wrong.
    let original = rewrite_tile(TileId { row: 0, index: 1 }, 0, 17);
    expect(FindingKind::TileMismatch, 256 + 17);
    put_tile(original);
    // An interior node (level 3, the 5th of its tile): found at the first leaf it covers.
    let original = rewrite_tile(TileId { row: 0, index: 0 }, 3, 5);
    expect(FindingKind::TileMismatch, 5 << 3);
    put_tile(original);
    // A node of the second row (leaves 0..65536 at level 8 and above).
    let original = rewrite_tile(TileId { row: 1, index: 0 }, 0, 1);
    expect(FindingKind::TileMismatch, 256);
    put_tile(original);
    // The zero leaf.
    let original = rewrite_tile(TileId { row: 0, index: 0 }, 0, 0);
    let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
    assert_eq!(found.kind, FindingKind::TileMismatch, "{found}");
    assert_eq!(found.seqno, Some(0), "{found}");
    put_tile(original);
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());

    // A table version rewritten in the index: the entry says otherwise.
    let (seqno, table_op) = layout(&store)
        .iter()
        .find_map(|&(s, _, _)| {
            let e = ledger_core::decode_entry(&store.entry(s).unwrap().unwrap()).unwrap();
            (e.kind == TxKind::User)
                .then(|| e.body.writes.into_iter().find(|w| w.table == "t"))
                .flatten()
                .map(|w| (s, w))
        })
        .unwrap();
    let write = |value: Option<Vec<u8>>| {
        store
            .write_group(&Group {
                table_writes: vec![TableWrite {
                    table: table_op.table.clone(),
                    key: table_op.key.clone(),
                    seqno,
                    value,
                }],
                commit: true,
                ..Group::default()
            })
            .unwrap();
    };
    write(Some(b"rewritten history".to_vec()));
    expect(FindingKind::IndexMismatch, seqno);
    let options = AuditOptions::default().check_indexes(false);
    assert_clean(&audit_store(&store, &options).unwrap());
    write(table_op.value.clone());
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
}

/// Opening a ledger and the audit validate the stored view history with one validator: every
/// history the audit reports as [`FindingKind::ViewHistory`] is corruption to `Ledger::open`
/// too, and the one consistent alternative opens.
#[test]
fn open_and_the_audit_refuse_the_same_view_histories() {
    let (_dir, path) = built(20, 11);
    let last = open_store(&path).state().last_seqno;
    let beyond = format!("[[1,1],[2,{}]]", last + 2);
    for bad in [
        &b"[[1,1],"[..],
        b"[]",
        b"[[2,1]]",
        b"[[1,2]]",
        b"[[1,1],[3,5],[2,9]]",
        b"[[1,1],[2,9],[3,5]]",
        beyond.as_bytes(),
    ] {
        {
            let store = open_store(&path);
            write_meta(&store, META_VIEWS, Some(bad.to_vec()));
            let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
            assert_eq!(found.kind, FindingKind::ViewHistory, "{found}");
        }
        match Ledger::open(LedgerConfig::new(&path)) {
            Err(e) => assert!(
                matches!(&e, Error::Corruption { what, .. } if what == "metadata core.views"),
                "{:?}: {e}",
                String::from_utf8_lossy(bad)
            ),
            Ok(_) => panic!(
                "a ledger with view history {:?} opened",
                String::from_utf8_lossy(bad)
            ),
        }
    }
    {
        let store = open_store(&path);
        write_meta(&store, META_VIEWS, Some(b"[[1,1]]".to_vec()));
    }
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    ledger.close().unwrap();
    assert_clean(&audit_path(&path, &AuditOptions::default()).unwrap());
}

#[test]
fn damaged_metadata_is_found() {
    let (_dir, path) = built(40, 7);
    let store = open_store(&path);
    let last = store.state().last_seqno;
    let meta_finding = |kind: FindingKind, seqno: Option<u64>| {
        let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
        assert_eq!((found.kind, found.seqno), (kind, seqno), "{found}");
    };
    let views = store.meta(META_VIEWS).unwrap().unwrap();
    assert_eq!(views, b"[[1,1]]");
    for (bad, kind, at) in [
        (&b"[[1,1],"[..], FindingKind::ViewHistory, None),
        (b"[]", FindingKind::ViewHistory, None),
        (b"[[2,1]]", FindingKind::ViewHistory, None),
        (b"[[1,1],[3,5],[2,9]]", FindingKind::ViewHistory, None),
        (b"[[1,1],[2,9],[3,5]]", FindingKind::ViewHistory, None),
        // A view that would begin after the ledger's end.
        (
            format!("[[1,1],[2,{}]]", last + 2).as_bytes(),
            FindingKind::ViewHistory,
            None,
        ),
        // A second view the entries do not bear out.
        (b"[[1,1],[2,9]]", FindingKind::ViewMismatch, Some(9)),
    ] {
        write_meta(&store, META_VIEWS, Some(bad.to_vec()));
        meta_finding(kind, at);
    }
    // A view beginning right after the last entry is what a reopened ledger records before
    // its first signature: consistent.
    write_meta(
        &store,
        META_VIEWS,
        Some(format!("[[1,1],[2,{}]]", last + 1).into_bytes()),
    );
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    write_meta(&store, META_VIEWS, Some(views));
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());

    // The commit secret: entries record their commit-evidence digests, so the audit needs no
    // secret; one that is readable must be the one the entries were written under.
    let secret = store.meta("core.commit_secret").unwrap().unwrap();
    write_meta(&store, "core.commit_secret", Some(vec![7; 32]));
    meta_finding(FindingKind::Metadata, Some(1));
    write_meta(&store, "core.commit_secret", Some(vec![7; 31]));
    meta_finding(FindingKind::Metadata, None);
    write_meta(&store, "core.commit_secret", None);
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    write_meta(&store, "core.commit_secret", Some(secret));

    // The private identities are not read at all: garbage in their records changes nothing.
    let service = store.meta(META_SERVICE_IDENTITY).unwrap().unwrap();
    let node = store.meta(META_NODE_IDENTITY).unwrap().unwrap();
    write_meta(&store, META_SERVICE_IDENTITY, Some(b"garbage".to_vec()));
    write_meta(&store, META_NODE_IDENTITY, None);
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
    write_meta(&store, META_SERVICE_IDENTITY, Some(service));
    write_meta(&store, META_NODE_IDENTITY, Some(node));

    // The public service certificate: another service's (whose key issued no node
    // certificate here, and which genesis did not record), then garbage.
    let cert = store.meta(META_SERVICE_CERT).unwrap().unwrap();
    let other = ServiceIdentity::generate("impostor").unwrap();
    write_meta(
        &store,
        META_SERVICE_CERT,
        Some(other.certificate_der().to_vec()),
    );
    meta_finding(FindingKind::ServiceIdentity, Some(1));
    write_meta(&store, META_SERVICE_CERT, Some(b"garbage".to_vec()));
    meta_finding(FindingKind::ServiceIdentity, None);
    write_meta(&store, META_SERVICE_CERT, Some(cert.clone()));

    // A pinned certificate: the store's passes, another is a finding before anything else.
    let pinned = AuditOptions::default().service_certificate(&cert).unwrap();
    let report = audit_store(&store, &pinned).unwrap();
    assert_clean(&report);
    assert!(report.service_certificate_pinned);
    assert!(
        !audit_store(&store, &AuditOptions::default())
            .unwrap()
            .service_certificate_pinned
    );
    let wrong = AuditOptions::default()
        .service_certificate(other.certificate_pem())
        .unwrap();
    let found = finding(audit_store(&store, &wrong).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::ServiceIdentity, None)
    );
    assert!(AuditOptions::default()
        .service_certificate(b"not a certificate")
        .is_err());
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
}

/// The child role of the crash tests: appends with signing disabled, flushes once, appends
/// a tail that never gets signed, and dies without closing.
fn crash_child(dir: &str) {
    let ledger = Ledger::open(quiet(Path::new(dir))).unwrap();
    write_some(&ledger, 20, 8);
    ledger.flush().unwrap();
    let mut last = None;
    for i in 0..15u32 {
        last = Some(ledger.append("tail", &i.to_be_bytes()).unwrap());
    }
    // `latest` waits until everything recorded is in the store (written, not signed).
    assert_eq!(ledger.latest("tail").unwrap().unwrap().tx_id, last.unwrap());
    std::process::abort();
}

fn crash_once(path: &Path) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_role",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LEDGER_AUDIT_CRASH_CHILD", path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the child must die: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Not a test of its own: the entry point of the crash child (does nothing unless the
/// environment selects the role).
#[test]
fn crash_child_role() {
    if let Ok(dir) = std::env::var("LEDGER_AUDIT_CRASH_CHILD") {
        crash_child(&dir);
    }
}

/// SPEC section 2: "A reopened ledger whose view changed records a signature transaction in
/// the new view before accepting writes." `Ledger::open` returns before the committer thread
/// has reserved that signature's seqno, so a write made right after opening can take the
/// first seqno of the new view. The audit reports it as `ViewStart`.
#[test]
fn no_write_precedes_the_new_view_signature() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    for _ in 0..3 {
        crash_once(&path);
        let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
        let id = ledger
            .append("after", b"first write of the new view")
            .unwrap();
        ledger.close().unwrap();
        let store = RocksStore::open_read_only(&path).unwrap();
        let views: Vec<(u64, u64)> =
            serde_json::from_slice(&store.meta(META_VIEWS).unwrap().unwrap()).unwrap();
        let &(view, first) = views.last().unwrap();
        assert_eq!(id.view(), view);
        let opening = ledger_core::decode_entry(&store.entry(first).unwrap().unwrap()).unwrap();
        assert_eq!(
            opening.kind,
            TxKind::Signature,
            "view {view} begins at seqno {first} with a {:?} transaction ({id} was written right after opening)",
            opening.kind
        );
        drop(store);
        assert_clean(&audit(&path));
    }
}

#[test]
fn crashed_and_recovered_ledgers_pass() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    crash_once(&path);
    // Before any recovery: the tail is there, unsigned and uncommitted, and consistent.
    let report = audit(&path);
    assert_clean(&report);
    let tail = report.uncommitted_tail.clone().unwrap();
    assert_eq!(tail.end() - tail.start() + 1, 15, "{report:?}");
    assert_eq!(report.unsigned_tail, Some(tail.clone()));
    assert_eq!(report.committed_seqno + 1, *tail.start());

    // Recovery discards the tail and begins view 2 with a signature.
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    ledger.flush().unwrap();
    let id = ledger.append("after", b"view two").unwrap();
    assert_eq!(id.view(), 2);
    assert_eq!(
        ledger.wait_for_commit(id, WAIT).unwrap(),
        TxStatus::Committed
    );
    ledger.close().unwrap();
    let report = audit(&path);
    assert_clean(&report);
    assert_eq!(report.views, vec![(1, 1), (2, *tail.start())]);
    assert_eq!(report.uncommitted_tail, None);
    assert_eq!(report.last_signature.unwrap().tx_id.view(), 2);

    // Crash again in view 2, recover into view 3.
    crash_once(&path);
    assert_clean(&audit(&path));
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    ledger.flush().unwrap();
    ledger.append("after", b"view three").unwrap();
    ledger.close().unwrap();
    let report = audit(&path);
    assert_clean(&report);
    assert_eq!(report.views.len(), 3, "{report:?}");

    // The view history must agree with the entries: claim view 2 began one seqno later.
    let store = open_store(&path);
    let (v2, first2) = report.views[1];
    let bad = serde_json::to_vec(&[report.views[0], (v2, first2 + 1), report.views[2]]).unwrap();
    write_meta(&store, META_VIEWS, Some(bad));
    let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::ViewMismatch, Some(first2)),
        "{found}"
    );
}

/// A store that has lost its entries after `keep` but still claims its full extent, as a
/// truncated copy with a stale state record would, and (with `hidden`) has lost one row of a
/// collection index.
#[derive(Debug)]
struct Truncated {
    inner: RocksStore,
    keep: u64,
    hidden: Option<(String, u64)>,
}

impl TileStore for Truncated {
    fn load_tile(
        &self,
        id: TileId,
    ) -> Result<Option<ledger_merkle::Tile>, ledger_merkle::TileStoreError> {
        self.inner.load_tile(id)
    }
}

impl Store for Truncated {
    fn append_group(
        &self,
        _group: &Group,
    ) -> Result<ledger_store::GroupTicket, ledger_store::StoreError> {
        Err(ledger_store::StoreError::ReadOnly)
    }
    fn await_commit(&self, t: ledger_store::GroupTicket) -> Result<(), ledger_store::StoreError> {
        self.inner.await_commit(t)
    }
    fn state(&self) -> ledger_store::StoreState {
        self.inner.state()
    }
    fn entry(&self, seqno: u64) -> Result<Option<Vec<u8>>, ledger_store::StoreError> {
        if seqno > self.keep {
            return Ok(None);
        }
        self.inner.entry(seqno)
    }
    fn entries(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, ledger_store::StoreError> {
        let (from, to) = seqnos.into_inner();
        self.inner.entries(from..=to.min(self.keep), limit)
    }
    fn collection_seqnos(
        &self,
        c: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, ledger_store::StoreError> {
        let mut rows = self.inner.collection_seqnos(c, seqnos, limit)?;
        if let Some((collection, seqno)) = &self.hidden {
            if collection == c {
                rows.retain(|row| row != seqno);
            }
        }
        Ok(rows)
    }
    fn collection_seqnos_rev(
        &self,
        c: &str,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<u64>, ledger_store::StoreError> {
        self.inner.collection_seqnos_rev(c, seqnos, limit)
    }
    fn collections(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, ledger_store::StoreError> {
        self.inner.collections(after, limit)
    }
    fn table_get(
        &self,
        t: &str,
        k: &[u8],
        as_of: u64,
    ) -> Result<Option<ledger_store::TableVersion>, ledger_store::StoreError> {
        self.inner.table_get(t, k, as_of)
    }
    fn table_history(
        &self,
        t: &str,
        k: &[u8],
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<ledger_store::TableVersion>, ledger_store::StoreError> {
        self.inner.table_history(t, k, seqnos, limit)
    }
    fn table_scan(
        &self,
        t: &str,
        as_of: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, ledger_store::TableVersion)>, ledger_store::StoreError> {
        self.inner.table_scan(t, as_of, after, limit)
    }
    fn signature(&self, s: u64) -> Result<Option<Vec<u8>>, ledger_store::StoreError> {
        self.inner.signature(s)
    }
    fn signature_after(&self, s: u64) -> Result<Option<(u64, Vec<u8>)>, ledger_store::StoreError> {
        self.inner.signature_after(s)
    }
    fn signature_at_or_before(
        &self,
        s: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, ledger_store::StoreError> {
        self.inner.signature_at_or_before(s)
    }
    fn signatures(
        &self,
        seqnos: RangeInclusive<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, Vec<u8>)>, ledger_store::StoreError> {
        self.inner.signatures(seqnos, limit)
    }
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, ledger_store::StoreError> {
        self.inner.meta(key)
    }
    fn sync(&self) -> Result<(), ledger_store::StoreError> {
        Ok(())
    }
    fn backup(&self, dir: &Path) -> Result<ledger_store::BackupInfo, ledger_store::StoreError> {
        self.inner.backup(dir)
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "LOCK" {
            continue;
        }
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn truncated_ledgers_are_found() {
    let (dir, path) = built(50, 9);
    let old: PathBuf = dir.path().join("old");
    copy_dir(&path, &old);
    let old_report = audit(&old);
    assert_clean(&old_report);
    let anchor = old_report.last_signature.unwrap();
    // The ledger grows on.
    let ledger = Ledger::open(quiet(&path)).unwrap();
    write_some(&ledger, 50, 10);
    ledger.close().unwrap();
    let new_report = audit(&path);
    assert_clean(&new_report);
    let new_anchor = new_report.last_signature.unwrap();

    // The grown ledger extends the root an auditor trusted before: consistent.
    let anchored = AuditOptions::default().require_signed_root(anchor.tx_id.seqno(), anchor.root);
    assert_clean(&audit_path(&path, &anchored).unwrap());
    // The old copy, presented as the current ledger, is consistent on its own, but not with a
    // root the auditor has seen signed since: the ledger was truncated.
    let found = finding(
        audit_path(
            &old,
            &AuditOptions::default().require_signed_root(new_anchor.tx_id.seqno(), new_anchor.root),
        )
        .unwrap(),
    );
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::Anchor, Some(new_anchor.tx_id.seqno())),
        "{found}"
    );
    // A trusted root at a seqno that holds no signature, or a different root there.
    let user = 3;
    let found = finding(
        audit_path(
            &path,
            &AuditOptions::default().require_signed_root(user, [1; 32]),
        )
        .unwrap(),
    );
    assert_eq!((found.kind, found.seqno), (FindingKind::Anchor, Some(user)));
    let found = finding(
        audit_path(
            &path,
            &AuditOptions::default().require_signed_root(anchor.tx_id.seqno(), [1; 32]),
        )
        .unwrap(),
    );
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::Anchor, Some(anchor.tx_id.seqno()))
    );

    // A store that lost entries after some seqno but still claims them.
    let store = RocksStore::open_read_only(&path).unwrap();
    let keep = store.state().last_seqno - 20;
    let truncated = Truncated {
        inner: store,
        keep,
        hidden: None,
    };
    let found = finding(audit_store(&truncated, &AuditOptions::default()).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::StoreCorruption, Some(keep + 1)),
        "{found}"
    );
}

#[test]
fn entry_checks_extend_the_audit() {
    struct NoSecrets {
        seen: u64,
    }
    impl EntryCheck for NoSecrets {
        fn check_entry(
            &mut self,
            _store: &dyn Store,
            entry: &LedgerEntry,
        ) -> Result<Result<(), Finding>, Error> {
            self.seen += 1;
            match entry
                .body
                .appends
                .iter()
                .find(|a| a.contents.windows(6).any(|w| w == b"secret"))
            {
                Some(a) => Ok(Err(Finding::new(
                    FindingKind::Application,
                    Some(entry.tx_id.seqno()),
                    "no secrets in the ledger",
                    format!("one in collection {:?}", a.collection),
                ))),
                None => Ok(Ok(())),
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    ledger.append("notes", b"harmless").unwrap();
    let leak = ledger.append("notes", b"the secret is 42").unwrap();
    ledger.append("notes", b"harmless again").unwrap();
    ledger.close().unwrap();
    let store = RocksStore::open_read_only(&path).unwrap();
    let mut check = NoSecrets { seen: 0 };
    let report = audit_store_with(&store, &AuditOptions::default(), &mut [&mut check]).unwrap();
    let found = report.finding.unwrap();
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::Application, Some(leak.seqno()))
    );
    assert_eq!(check.seen, leak.seqno());
}

#[test]
fn stores_that_are_not_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    // No ledger at all: an error, not a finding.
    assert!(audit_path(dir.path().join("absent"), &AuditOptions::default()).is_err());
    // A store the engine never wrote to holds no ledger yet: nothing to find.
    let (store, _) = RocksStore::open(dir.path().join("bare"), StoreConfig::default()).unwrap();
    let report = audit_store(&store, &AuditOptions::default()).unwrap();
    assert_clean(&report);
    assert_eq!((report.last_seqno, report.signatures), (0, 0));
    assert_clean(
        &audit_store(&ledger_store::MemoryStore::new(), &AuditOptions::default()).unwrap(),
    );
    // Entries without the engine's metadata, or part of it only: findings.
    store
        .write_group(&Group {
            entries: vec![ledger_store::EntryRecord::new(1, b"stray".to_vec())],
            commit: true,
            ..Group::default()
        })
        .unwrap();
    // The first thing missing is the service certificate.
    let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::ServiceIdentity, None)
    );
    let memory = ledger_store::MemoryStore::new();
    memory
        .write_group(&Group {
            meta: vec![(META_VIEWS.to_owned(), Some(b"[[1,1]]".to_vec()))],
            commit: true,
            ..Group::default()
        })
        .unwrap();
    let found = finding(audit_store(&memory, &AuditOptions::default()).unwrap());
    assert_eq!(
        (found.kind, found.seqno),
        (FindingKind::ServiceIdentity, None)
    );
}

/// Streams with constant memory: auditing a ledger ten times longer holds no more of the
/// recomputed tree (the audit's only structure that grows with the ledger if not pruned).
#[test]
fn audit_memory_is_constant_in_ledger_length() {
    let dir = tempfile::tempdir().unwrap();
    let mut peaks = Vec::new();
    for (name, txs) in [("short", 2_000u32), ("long", 20_000)] {
        let path = dir.path().join(name);
        let ledger = Ledger::open(quiet(&path)).unwrap();
        for i in 0..txs {
            let mut tx = Transaction::new();
            tx.append(&format!("c{}", i % 50), &[i as u8; 100]).put(
                "t",
                format!("k{}", i % 1000).as_bytes(),
                &[1; 20],
            );
            ledger.submit(tx).unwrap();
            if i % 100 == 99 {
                ledger.flush().unwrap();
            }
        }
        ledger.close().unwrap();
        let report = audit(&path);
        assert_clean(&report);
        eprintln!(
            "{name}: {} entries, {} signatures, {} tiles, at most {} tree nodes in memory",
            report.last_seqno, report.signatures, report.tiles, report.peak_tree_nodes
        );
        peaks.push(report.peak_tree_nodes);
    }
    // A page of 256 leaves and their parents plus the frontier tile of each row of 8 levels
    // (at most 511 nodes a row): well under 2,048 nodes for any ledger below 2^24 entries,
    // and ten times the entries adds a fraction, not a factor.
    assert!(peaks.iter().all(|p| *p < 2_048), "{peaks:?}");
    assert!(peaks[1] < peaks[0] * 3 / 2, "{peaks:?}");
}

#[test]
fn the_last_signatures_commit_evidence_digest_is_bound_by_the_tree_alone() {
    let (_dir, path) = built(20, 6);
    let store = open_store(&path);
    let last = *signature_seqnos(&store, TxKind::Signature).last().unwrap();
    assert_eq!(
        last,
        store.state().last_seqno,
        "the ledger ends with a signature"
    );
    let original = store.entry(last).unwrap().unwrap();
    let mut forged = original.clone();
    // Header bytes 18..50: the commit-evidence digest, bound only into the entry's leaf.
    forged[30] ^= 0x40;
    overwrite_entry(&store, last, &forged, EntryDigest::Recompute).unwrap();
    // The stored tree catches it...
    let found = finding(audit_store(&store, &AuditOptions::default()).unwrap());
    assert_eq!(found.seqno, Some(last), "{found}");
    // ...and nothing else can: no later root covers the leaf, and the digest cannot be
    // recomputed without the commit secret.
    let without_tiles = AuditOptions::default().check_tiles(false);
    assert_clean(&audit_store(&store, &without_tiles).unwrap());
    overwrite_entry(&store, last, &original, EntryDigest::Recompute).unwrap();
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
}

#[test]
fn a_missing_collection_index_row_is_found_at_its_entry() {
    let (_dir, path) = built(60, 11);
    let store = open_store(&path);
    // Every (collection, seqno) appended to, in seqno order.
    let appends: Vec<(String, u64)> = layout(&store)
        .iter()
        .filter(|&&(_, kind, _)| kind == TxKind::User)
        .flat_map(|&(s, _, _)| {
            let e = ledger_core::decode_entry(&store.entry(s).unwrap().unwrap()).unwrap();
            e.body.appends.into_iter().map(move |a| (a.collection, s))
        })
        .collect();
    let of = |c: &str| -> Vec<u64> {
        appends
            .iter()
            .filter(|(name, _)| name == c)
            .map(|&(_, s)| s)
            .collect()
    };
    let rows = of("c3");
    assert!(
        rows.len() >= 4,
        "the seed gives c3 several appends: {rows:?}"
    );
    let mut store = Truncated {
        inner: store,
        keep: u64::MAX,
        hidden: None,
    };
    // The first row of a collection, one in the middle, the last; and the same with pages of
    // 7 entries, so that a missing row is also found at a page's edges.
    for page in [usize::MAX, 7] {
        let options = AuditOptions::default().page_entries(page.try_into().unwrap());
        for &seqno in [rows[0], rows[rows.len() / 2], rows[rows.len() - 1]].iter() {
            store.hidden = Some(("c3".to_owned(), seqno));
            let found = finding(audit_store(&store, &options).unwrap());
            assert_eq!(
                (found.kind, found.seqno),
                (FindingKind::IndexMismatch, Some(seqno)),
                "{found}"
            );
        }
    }
    store.hidden = None;
    assert_clean(&audit_store(&store, &AuditOptions::default()).unwrap());
}
