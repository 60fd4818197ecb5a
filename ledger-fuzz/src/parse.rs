//! Parsers of untrusted input: `txid_parse`, `receipt_json`, `served_receipt_json`,
//! `cose_receipt_cbor`, `governance_request_json`, `entry_decode`.

use std::borrow::Cow;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use ledger_core::governance::SignedRequest;
use ledger_core::parse_commit_evidence;
use ledger_core::ServedReceipt;
use ledger_core::{proof_steps, testing, ServiceIdentity};
use ledger_core::{Append, SignaturePayload, TableOp, TxBody, TxKind};
use ledger_core::{CoseConsistencyReceipt, CoseInclusionProof, CoseReceipt, CwtClaims};
use ledger_core::{LeafComponents, ProofStep, Receipt};
use ledger_core::{Ledger, TxId};
use ledger_merkle::{CcfSha256, Digest, MerkleTree};

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// The strict `view.seqno` grammar of SPEC section 2, written out naively.
fn naive_txid(s: &str) -> Option<(u64, u64)> {
    let mut parts = s.split('.');
    let (view, seqno) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |p: &str| -> Option<u64> {
        if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let mut n: u64 = 0;
        for c in p.bytes() {
            n = n.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
        }
        (n >= 1).then_some(n)
    };
    Some((number(view)?, number(seqno)?))
}

/// Parses arbitrary text as a [`TxId`] and checks the result against a naive strict parser;
/// a parsed id displays canonically and round-trips through `Display`, `FromStr`, serde JSON
/// and commit evidence (which accepts exactly the canonical spellings).
pub fn txid_parse(data: &[u8]) {
    let s = text(data);
    let parsed = s.parse::<TxId>();
    let naive = naive_txid(&s);
    assert_eq!(
        parsed.as_ref().ok().map(|t| (t.view(), t.seqno())),
        naive,
        "TxId {s:?}: {parsed:?}"
    );
    let evidence = format!("ce:{s}:{}", "ab".repeat(32));
    let from_evidence = parse_commit_evidence(&evidence).ok();
    match parsed {
        Ok(id) => {
            assert_eq!(TxId::new(id.view(), id.seqno()).ok(), Some(id));
            let shown = id.to_string();
            assert_eq!(shown.parse::<TxId>().ok(), Some(id));
            assert_eq!(shown == *s, !has_leading_zero(&s));
            assert_eq!(from_evidence, (shown == *s).then_some(id));
            let json = serde_json::to_string(&id).unwrap_or_default();
            assert_eq!(json, format!("\"{shown}\""));
            assert_eq!(serde_json::from_str::<TxId>(&json).ok(), Some(id));
        }
        Err(_) => {
            assert_eq!(from_evidence, None);
            let json = serde_json::to_string(&*s).unwrap_or_default();
            assert!(serde_json::from_str::<TxId>(&json).is_err());
        }
    }
}

fn has_leading_zero(s: &str) -> bool {
    s.split('.').any(|p| p.len() > 1 && p.starts_with('0'))
}

/// Genuine receipts of a small in-memory ledger, made once per process.
struct ReceiptFixture {
    service_pem: String,
    receipts: Vec<Receipt>,
}

fn receipt_fixture() -> &'static ReceiptFixture {
    static FIXTURE: OnceLock<ReceiptFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ledger = match Ledger::in_memory() {
            Ok(l) => l,
            Err(e) => panic!("in-memory ledger: {e}"),
        };
        let mut ids = Vec::new();
        for (c, contents) in [("audit", &b"one"[..]), ("audit", b"two"), ("pay", b"3")] {
            ids.extend(ledger.append(c, contents).ok());
        }
        let mut tx = ledger_core::Transaction::new();
        tx.append("audit", b"four")
            .put("t", b"k", b"v")
            .claims_digest([7; 32]);
        ids.extend(ledger.submit(tx).ok());
        assert!(ledger.flush().is_ok());
        let receipts = ids
            .iter()
            .filter_map(|id| ledger.receipt(*id).ok())
            .collect();
        ReceiptFixture {
            service_pem: ledger.service_certificate_pem(),
            receipts,
        }
    })
}

/// The JSON of genuine receipts of a small in-memory ledger (made once per process), which
/// `receipt_json` tampers with: seeds for its corpus.
pub fn receipt_seeds() -> Vec<String> {
    receipt_fixture()
        .receipts
        .iter()
        .map(Receipt::to_json)
        .collect()
}

/// One change to a genuine receipt; every one must make verification fail.
#[derive(Arbitrary, Debug)]
enum ReceiptEdit {
    WriteSetDigest(u16),
    ClaimsDigest(u16),
    Evidence { at: u8, byte: u8 },
    ProofDigest { at: u8, bit: u16 },
    ProofSide(u8),
    ProofDrop(u8),
    ProofPush { digest: [u8; 32], left: bool },
    Signature { at: u8, xor: u8 },
    SignatureTruncate(u8),
    NodeId { at: u8, hex: u8 },
}

fn flip(d: &mut [u8; 32], bit: u16) {
    d[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
}

fn edit_receipt(r: &mut Receipt, edit: &ReceiptEdit) {
    match *edit {
        ReceiptEdit::WriteSetDigest(bit) => flip(&mut r.leaf_components.write_set_digest, bit),
        ReceiptEdit::ClaimsDigest(bit) => flip(&mut r.leaf_components.claims_digest, bit),
        ReceiptEdit::Evidence { at, byte } => {
            let mut bytes = r.leaf_components.commit_evidence.clone().into_bytes();
            if !bytes.is_empty() {
                let at = usize::from(at) % bytes.len();
                bytes[at] = byte & 0x7f;
            }
            r.leaf_components.commit_evidence = String::from_utf8_lossy(&bytes).into_owned();
        }
        ReceiptEdit::ProofDigest { at, bit } => {
            if !r.proof.is_empty() {
                let at = usize::from(at) % r.proof.len();
                let (ProofStep::Left(d) | ProofStep::Right(d)) = &mut r.proof[at];
                flip(d, bit);
            }
        }
        ReceiptEdit::ProofSide(at) => {
            if !r.proof.is_empty() {
                let at = usize::from(at) % r.proof.len();
                r.proof[at] = match r.proof[at] {
                    ProofStep::Left(d) => ProofStep::Right(d),
                    ProofStep::Right(d) => ProofStep::Left(d),
                };
            }
        }
        ReceiptEdit::ProofDrop(at) => {
            if !r.proof.is_empty() {
                let at = usize::from(at) % r.proof.len();
                r.proof.remove(at);
            }
        }
        ReceiptEdit::ProofPush { digest, left } => r.proof.push(if left {
            ProofStep::Left(digest)
        } else {
            ProofStep::Right(digest)
        }),
        ReceiptEdit::Signature { at, xor } => {
            let mut sig = r.signature.to_vec();
            let at = usize::from(at) % sig.len().max(1);
            if let Some(b) = sig.get_mut(at) {
                *b ^= xor;
            }
            r.signature = sig.into();
        }
        ReceiptEdit::SignatureTruncate(n) => {
            let keep = usize::from(n) % r.signature.len().max(1);
            r.signature = r.signature[..keep].to_vec().into();
        }
        ReceiptEdit::NodeId { at, hex } => {
            let mut id = r.node_id.to_string().into_bytes();
            if !id.is_empty() {
                let at = usize::from(at) % id.len();
                id[at] = b"0123456789abcdef"[usize::from(hex % 16)];
            }
            r.node_id = String::from_utf8_lossy(&id).into_owned().into();
        }
    }
}

/// Whether `r` carries the same leaf, root and signature as a genuine receipt: the only way a
/// receipt may verify against the fixture's service certificate.
fn is_genuine(fixture: &ReceiptFixture, r: &Receipt) -> bool {
    fixture.receipts.iter().any(|g| {
        g.leaf() == r.leaf() && g.root().ok() == r.root().ok() && g.signature == r.signature
    })
}

/// Checks the JSON round trips of a parsed receipt.
fn round_trips(r: &Receipt) {
    let json = r.to_json();
    match Receipt::from_json(&json) {
        Ok(back) => assert_eq!(&back, r, "to_json/from_json round trip"),
        Err(e) => panic!("the JSON of a parsed receipt does not parse: {e}\n{json}"),
    }
    let via_serde = serde_json::to_string(r).unwrap_or_default();
    assert_eq!(Receipt::from_json(&via_serde).ok().as_ref(), Some(r));
}

/// Three inputs, chosen by the first byte: `0` tampers with a genuine receipt (a bit of a
/// digest, a proof step, the evidence, the signature, the node id) and requires verification
/// to fail; `1` splices bytes into a genuine receipt's JSON and requires it to verify only if
/// it still parses to the genuine receipt; anything else is parsed as JSON text. Every parsed
/// receipt must round-trip through `to_json` and serde, and may verify only if it is genuine.
pub fn receipt_json(data: &[u8]) {
    let fixture = receipt_fixture();
    let pick_genuine = |u: &mut Unstructured<'_>| -> Option<Receipt> {
        let n = fixture.receipts.len();
        let i = usize::from(u.arbitrary::<u8>().ok()?) % n.max(1);
        fixture.receipts.get(i).cloned()
    };
    match data.first() {
        Some(0) => {
            let mut u = Unstructured::new(&data[1..]);
            let Some(mut r) = pick_genuine(&mut u) else {
                return;
            };
            let Ok(edit) = ReceiptEdit::arbitrary(&mut u) else {
                return;
            };
            let original = r.clone();
            edit_receipt(&mut r, &edit);
            if r == original {
                return;
            }
            assert!(
                r.verify(&fixture.service_pem).is_err(),
                "a receipt tampered with by {edit:?} verifies"
            );
            if let Ok(back) = Receipt::from_json(&r.to_json()) {
                round_trips(&back);
            }
        }
        Some(1) => {
            let mut u = Unstructured::new(&data[1..]);
            let Some(genuine) = pick_genuine(&mut u) else {
                return;
            };
            let (Ok(at), Ok(replace)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
                return;
            };
            let mut json = genuine.to_json().into_bytes();
            let at = usize::from(at) % (json.len() + 1);
            let end = (at + usize::from(replace % 4)).min(json.len());
            json.splice(at..end, u.take_rest().iter().copied());
            check_receipt_text(fixture, &text(&json));
        }
        _ => check_receipt_text(fixture, &text(data)),
    }
}

fn check_receipt_text(fixture: &ReceiptFixture, json: &str) {
    let Ok(r) = Receipt::from_json(json) else {
        return;
    };
    round_trips(&r);
    let _ = r.tx_id();
    if r.verify(&fixture.service_pem).is_ok() {
        assert!(
            is_genuine(fixture, &r),
            "a receipt that is not genuine verifies: {json}"
        );
    }
}

/// Genuine COSE receipts over a small CCF-profile tree, signed by a service key made once per
/// process: inclusion receipts (one with several proofs) and consistency receipts.
struct CoseFixture {
    service_pem: String,
    /// Every genuine receipt's bytes.
    genuine: Vec<Vec<u8>>,
    /// The leaf components of seqno `s` at index `s` (index 0, the zero leaf, has none).
    leaves: Vec<Option<LeafComponents>>,
    /// The root of the tree of `n` leaves at index `n`.
    roots: Vec<Digest>,
}

/// Tree sizes whose roots the fuzz fixture signs.
const COSE_SIZES: [u64; 3] = [5, 13, 20];

fn cose_fixture() -> &'static CoseFixture {
    static FIXTURE: OnceLock<CoseFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let service = match ServiceIdentity::generate("fuzz service") {
            Ok(s) => s,
            Err(e) => panic!("service identity: {e}"),
        };
        let claims = CwtClaims {
            issuer: "fuzz".into(),
            subject: "ledger".into(),
            issued_at: 1_800_000_000,
        };
        let leaf = |seqno: u64| LeafComponents {
            write_set_digest: crate::sha256(&[&seqno.to_be_bytes()]),
            commit_evidence: testing::commit_evidence([3; 32], 1, seqno),
            claims_digest: [u8::from(seqno % 3 == 0); 32],
        };
        let mut tree = MerkleTree::<CcfSha256>::new();
        tree.push([0; 32]);
        for seqno in 1..20 {
            tree.push(leaf(seqno).leaf_hash());
        }
        let mut fixture = CoseFixture {
            service_pem: service.certificate_pem().to_owned(),
            genuine: Vec::new(),
            leaves: (0..20).map(|s| (s > 0).then(|| leaf(s))).collect(),
            roots: (0..=20)
                .map(|n| tree.root_at(n).unwrap_or_default())
                .collect(),
        };
        let must = |what: &str, r: Result<CoseReceipt, ledger_core::Error>| match r {
            Ok(r) => r,
            Err(e) => panic!("{what}: {e}"),
        };
        let mut signed_roots = Vec::new();
        for size in COSE_SIZES {
            let Ok(root) = tree.root_at(size) else {
                panic!("root at {size}")
            };
            let Ok(tx) = TxId::new(1, size) else {
                panic!("signature transaction {size}")
            };
            let signed = match testing::cose_sign_root(&service, &root, tx, &claims) {
                Ok(s) => s,
                Err(e) => panic!("signing: {e}"),
            };
            let proofs: Vec<CoseInclusionProof> = [1, size / 2, size - 1]
                .into_iter()
                .map(|seqno| CoseInclusionProof {
                    leaf_components: leaf(seqno),
                    path: tree
                        .inclusion_proof(seqno, size)
                        .ok()
                        .and_then(|p| proof_steps(seqno, size, &p).ok())
                        .unwrap_or_default(),
                })
                .collect();
            for p in &proofs {
                let r = must(
                    "receipt",
                    testing::cose_receipt(&signed, &p.leaf_components, &p.path),
                );
                fixture.genuine.push(r.to_vec());
            }
            let several = must(
                "receipt",
                testing::cose_receipt_with_proofs(&signed, proofs),
            );
            fixture.genuine.push(several.to_vec());
            signed_roots.push((size, root, signed));
        }
        for (i, (new_size, new_root, signed)) in signed_roots.iter().enumerate() {
            for (old_size, old_root, _) in &signed_roots[..i] {
                let Ok(proof) = tree.consistency_proof(*old_size, *new_size) else {
                    panic!("consistency proof")
                };
                match testing::cose_consistency_receipt(
                    signed, *old_size, *new_size, old_root, new_root, &proof,
                ) {
                    Ok(r) => fixture.genuine.push(r.to_vec()),
                    Err(e) => panic!("consistency receipt: {e}"),
                }
            }
        }
        fixture
    })
}

/// The bytes of genuine COSE receipts (made once per process): seeds for the
/// `cose_receipt_cbor` corpus.
pub fn cose_receipt_seeds() -> Vec<Vec<u8>> {
    cose_fixture().genuine.clone()
}

/// Three inputs, chosen by the first byte: `0` flips bits of a genuine receipt (up to 16
/// `xor`s at chosen positions), `1` splices bytes into one; anything else is parsed as is. Every input
/// is parsed as a [`CoseReceipt`] and as a [`CoseConsistencyReceipt`]: parsing never panics,
/// whatever parses re-encodes to the very same bytes and parses back equal, and verification
/// never panics. A receipt may verify only if what it proves is true of the fixture's tree:
/// the genuine root of the signed size, the genuine leaf of each proven transaction, and for a
/// consistency receipt the genuine root of the older size.
pub fn cose_receipt_cbor(data: &[u8]) {
    let fixture = cose_fixture();
    let pick = |u: &mut Unstructured<'_>| -> Option<Vec<u8>> {
        let n = fixture.genuine.len();
        let i = usize::from(u.arbitrary::<u8>().ok()?) % n.max(1);
        fixture.genuine.get(i).cloned()
    };
    match data.first() {
        Some(0) => {
            let mut u = Unstructured::new(&data[1..]);
            let Some(mut bytes) = pick(&mut u) else {
                return;
            };
            // At most 16 flips: `arbitrary` keeps answering zeros once the input runs out.
            for _ in 0..16 {
                if u.is_empty() {
                    break;
                }
                let (Ok(at), Ok(xor)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
                    break;
                };
                let at = usize::from(at) % bytes.len().max(1);
                if let Some(b) = bytes.get_mut(at) {
                    *b ^= xor;
                }
            }
            check_cose_bytes(fixture, &bytes);
        }
        Some(1) => {
            let mut u = Unstructured::new(&data[1..]);
            let Some(mut bytes) = pick(&mut u) else {
                return;
            };
            let (Ok(at), Ok(replace)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
                return;
            };
            let at = usize::from(at) % (bytes.len() + 1);
            let end = (at + usize::from(replace % 8)).min(bytes.len());
            bytes.splice(at..end, u.take_rest().iter().copied());
            check_cose_bytes(fixture, &bytes);
        }
        _ => check_cose_bytes(fixture, data),
    }
}

fn check_cose_bytes(fixture: &CoseFixture, bytes: &[u8]) {
    if let Ok(r) = CoseReceipt::from_slice(bytes) {
        assert!(
            r.to_vec() == bytes,
            "a COSE receipt parses from a non-canonical encoding"
        );
        assert_eq!(CoseReceipt::from_slice(&r.to_vec()).ok().as_ref(), Some(&r));
        let _ = (r.leaf_components(), r.path(), r.claims(), r.key_id());
        if let Ok(v) = r.verify(&fixture.service_pem) {
            let root_of = |n: u64| fixture.roots.get(n as usize);
            assert_eq!(Some(&v.root), root_of(v.signature_tx.seqno()), "{r:?}");
            for (p, (tx, _)) in r.inclusion_proofs().iter().zip(&v.transactions) {
                let genuine = fixture.leaves.get(tx.seqno() as usize);
                assert_eq!(genuine, Some(&Some(p.leaf_components.clone())), "{r:?}");
            }
        }
    }
    if let Ok(r) = CoseConsistencyReceipt::from_slice(bytes) {
        assert!(
            r.to_vec() == bytes,
            "a consistency receipt parses from a non-canonical encoding"
        );
        assert_eq!(
            CoseConsistencyReceipt::from_slice(&r.to_vec())
                .ok()
                .as_ref(),
            Some(&r)
        );
        // The genuine older roots, and whatever older roots the receipt's proofs claim.
        let mut older: Vec<(u64, Digest)> = COSE_SIZES
            .iter()
            .map(|&n| (n, fixture.roots[n as usize]))
            .collect();
        for p in r.proofs() {
            older.extend(COSE_SIZES.iter().map(|&n| (n, p.roots().0)));
        }
        for (size, root) in older {
            if let Ok(v) = r.verify(&fixture.service_pem, size, &root) {
                assert_eq!(fixture.roots.get(size as usize), Some(&root), "{r:?}");
                assert_eq!(
                    fixture.roots.get(v.new_size as usize),
                    Some(&v.new_root),
                    "{r:?}"
                );
            }
        }
    }
}

/// Parses arbitrary text as a governance [`SignedRequest`]; a parsed request must round-trip
/// through its JSON, and a payload that parses must round-trip through its own JSON.
pub fn governance_request_json(data: &[u8]) {
    let s = text(data);
    let Ok(req) = SignedRequest::from_json(&s) else {
        return;
    };
    let json = match req.to_json() {
        Ok(j) => j,
        Err(e) => panic!("a parsed request does not serialize: {e}"),
    };
    assert_eq!(SignedRequest::from_json(&json).ok().as_ref(), Some(&req));
    if let Ok(payload) = req.parse() {
        let text = match payload.to_json() {
            Ok(t) => t,
            Err(e) => panic!("a parsed payload does not serialize: {e}"),
        };
        let again = SignedRequest {
            payload: text,
            signature: req.signature.clone(),
        };
        assert_eq!(again.parse().ok().as_ref(), Some(&payload));
        let _ = req.digest(payload.request.kind());
    }
}

/// A write set built from fuzz input, deliberately allowed to break the canonical order.
#[derive(Arbitrary, Debug)]
struct BodySpec {
    kind: u8,
    view: u64,
    seqno: u64,
    claims: [u8; 32],
    appends: Vec<(String, Vec<u8>)>,
    writes: Vec<(String, Vec<u8>, Option<Vec<u8>>)>,
    signature: Option<SignatureSpec>,
    sort: bool,
}

/// A [`SignaturePayload`]'s fields, in order.
type SignatureSpec = (u64, u64, [u8; 32], String, Vec<u8>, String);

/// Two inputs: bytes starting `0xA5` build a [`TxBody`] (sorted or not, with or without a
/// signature payload) that is encoded and decoded: decoding must succeed exactly for the
/// canonical, consistent bodies and give back what was encoded. Any other bytes are decoded as
/// an entry and as a signature record: no panic, and whatever decodes must re-encode to the
/// very same bytes (the encoding is canonical).
pub fn entry_decode(data: &[u8]) {
    if let Some((0xA5, rest)) = data.split_first() {
        structured_entry(rest);
        return;
    }
    let header = ledger_core::testing::decode_header(data);
    match ledger_core::decode_entry(data) {
        Ok(e) => {
            assert_eq!(header.ok(), Some((e.kind, e.tx_id)));
            assert!(e.body.check_canonical().is_ok());
            let again = ledger_core::testing::encode_ledger_entry(&e).unwrap_or_default();
            assert!(
                again == data,
                "entry {} decodes from a non-canonical encoding ({} bytes, canonical {})",
                e.tx_id,
                data.len(),
                again.len()
            );
        }
        Err(_) => {
            if let Ok((kind, tx_id)) = header {
                let header_len = match data.first() {
                    Some(1) => ledger_core::testing::LEGACY_ENTRY_HEADER_LEN,
                    _ => ledger_core::testing::ENTRY_HEADER_LEN,
                };
                assert!(data.len() >= header_len, "{kind:?} {tx_id}");
            }
        }
    }
    if let Ok(payload) = ledger_core::decode_signature(data) {
        let again = ledger_core::testing::encode_signature(&payload);
        assert!(
            again == data,
            "a signature record decodes from a non-canonical encoding ({} bytes, canonical {})",
            data.len(),
            again.len()
        );
    }
}

fn structured_entry(data: &[u8]) {
    let Ok(spec) = BodySpec::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let kind = match spec.kind % 3 {
        0 => TxKind::User,
        1 => TxKind::Signature,
        _ => TxKind::Governance,
    };
    let Ok(tx_id) = TxId::new(spec.view.max(1), spec.seqno.max(1)) else {
        return;
    };
    let mut body =
        TxBody {
            claims_digest: spec.claims,
            appends: spec
                .appends
                .into_iter()
                .map(|(collection, contents)| Append {
                    collection,
                    contents,
                })
                .collect(),
            writes: spec
                .writes
                .into_iter()
                .map(|(table, key, value)| TableOp { table, key, value })
                .collect(),
            signature: spec.signature.map(
                |(view, seqno, root, node_id, signature, node_cert_pem)| SignaturePayload {
                    view,
                    seqno,
                    root,
                    node_id,
                    signature,
                    node_cert_pem,
                },
            ),
        };
    if spec.sort {
        body.appends.sort_by(|a, b| a.collection.cmp(&b.collection));
        body.appends.dedup_by(|a, b| a.collection == b.collection);
        body.writes
            .sort_by(|a, b| (&a.table, &a.key).cmp(&(&b.table, &b.key)));
        body.writes
            .dedup_by(|a, b| (&a.table, &a.key) == (&b.table, &b.key));
    }
    let valid =
        body.check_canonical().is_ok() && (kind == TxKind::Signature) == body.signature.is_some();
    let bytes = match ledger_core::testing::encode_entry(kind, tx_id, &body) {
        Ok(b) => b,
        Err(e) => panic!("a small body does not encode: {e}"),
    };
    match ledger_core::decode_entry(&bytes) {
        Ok(e) => {
            assert!(
                valid,
                "a non-canonical or inconsistent body decodes: {body:?}"
            );
            assert_eq!((e.kind, e.tx_id, &e.body), (kind, tx_id, &body));
        }
        Err(e) => assert!(!valid, "a canonical body does not decode: {e}"),
    }
    if let Some(payload) = &body.signature {
        let record = ledger_core::testing::encode_signature(payload);
        assert_eq!(
            ledger_core::decode_signature(&record).ok().as_ref(),
            Some(payload)
        );
    }
}

/// A document a real service served, with its service certificate and a time inside its
/// certificates' validity (from `ledger-core/tests/receipts-corpus`, whose README names each
/// file's origin).
struct ServedDocument {
    json: &'static str,
    service_pem: &'static str,
    at: u64,
}

macro_rules! corpus_file {
    ($path:literal) => {
        include_str!(concat!("../../ledger-core/tests/receipts-corpus/", $path))
    };
}

const SERVED: [ServedDocument; 5] = [
    ServedDocument {
        json: corpus_file!("receipts/valid-1-p256-snake.json"),
        service_pem: corpus_file!("certs/service-1-p256.pem"),
        at: 1_667_415_276,
    },
    ServedDocument {
        json: corpus_file!("receipts/valid-2-p256-camel.json"),
        service_pem: corpus_file!("certs/service-2-p256.pem"),
        at: 1_666_787_456,
    },
    ServedDocument {
        json: corpus_file!("receipts/served-envelope-p384-claims.json"),
        service_pem: corpus_file!("certs/service-3-p384.pem"),
        at: 1_682_532_859,
    },
    ServedDocument {
        json: corpus_file!("receipts/served-envelope-2022-snake.json"),
        service_pem: corpus_file!("certs/service-1-p256-trailing-nul.pem"),
        at: 1_667_415_276,
    },
    ServedDocument {
        json: corpus_file!("receipts/missing-node-id.json"),
        service_pem: corpus_file!("certs/service-1-p256.pem"),
        at: 1_667_415_276,
    },
];

/// The parsed genuine documents, once per process.
fn served_fixture() -> &'static [ServedReceipt] {
    static FIXTURE: OnceLock<Vec<ServedReceipt>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        SERVED
            .iter()
            .map(|d| match ServedReceipt::from_json(d.json) {
                Ok(s) => s,
                Err(e) => panic!("a corpus receipt does not parse: {e}"),
            })
            .collect()
    })
}

/// The seeds of `served_receipt_json`: each genuine document as input `[index, 1, text]`.
pub fn served_receipt_seeds() -> Vec<Vec<u8>> {
    SERVED
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mut seed = vec![u8::try_from(i).unwrap_or_default(), 1];
            seed.extend_from_slice(d.json.as_bytes());
            seed
        })
        .collect()
}

/// The lenient receipt reader ([`ServedReceipt::from_json`], which reads every form CCF and
/// Azure Confidential Ledger serve) against its own output. The first byte picks one of five
/// documents the services served (snake_case and camelCase receipts, P-256 and P-384, the
/// get-receipt envelope with application claims, a receipt without `node_id`); the second
/// chooses the input: `0` splices the remaining bytes into that document's text, anything
/// else takes them as the text. Whatever the reader accepts must re-serialise
/// ([`ServedReceipt::to_json`], and [`Receipt::to_json`] for the receipt alone) to a document
/// that reads back equal and verifies the same way at the document's time; and it may verify
/// only with the genuine document's leaf, root, signature and claims digest.
pub fn served_receipt_json(data: &[u8]) {
    let (Some(&pick), Some(&mode)) = (data.first(), data.get(1)) else {
        return;
    };
    let index = usize::from(pick) % SERVED.len();
    let (Some(document), Some(genuine)) = (SERVED.get(index), served_fixture().get(index)) else {
        return;
    };
    let rest = data.get(2..).unwrap_or_default();
    let input = if mode == 0 {
        let mut u = Unstructured::new(rest);
        let (Ok(at), Ok(replace)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
            return;
        };
        let mut json = document.json.as_bytes().to_vec();
        let at = usize::from(at) % (json.len() + 1);
        let end = (at + usize::from(replace % 8)).min(json.len());
        json.splice(at..end, u.take_rest().iter().copied());
        text(&json).into_owned()
    } else {
        text(rest).into_owned()
    };
    let Ok(served) = ServedReceipt::from_json(&input) else {
        return;
    };
    let when = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(document.at);
    let verdict = served.verify_at(document.service_pem, when);
    let json = served.to_json();
    let again = match ServedReceipt::from_json(&json) {
        Ok(again) => again,
        Err(e) => panic!("the JSON of an accepted document does not parse: {e}\n{json}"),
    };
    assert_eq!(again, served, "re-serialised document reads back different");
    let again_verdict = again.verify_at(document.service_pem, when);
    assert_eq!(
        verdict.is_ok(),
        again_verdict.is_ok(),
        "re-serialised document verifies differently: {verdict:?} / {again_verdict:?}\n{input}"
    );
    let receipt = match Receipt::from_json(&served.receipt.to_json()) {
        Ok(r) => r,
        Err(e) => panic!("the JSON of an accepted receipt does not parse: {e}"),
    };
    assert_eq!(receipt, served.receipt);
    let alone = receipt.verify_at(document.service_pem, when).is_ok();
    let claims_hold = served.application_claims.is_empty()
        || receipt.verify_claims(&served.application_claims).is_ok();
    assert_eq!(verdict.is_ok(), alone && claims_hold);
    if verdict.is_ok() {
        let g = &genuine.receipt;
        assert!(
            g.leaf() == receipt.leaf()
                && g.root().ok() == receipt.root().ok()
                && g.signature == receipt.signature
                && g.leaf_components.claims_digest == receipt.leaf_components.claims_digest,
            "a document that is not genuine verifies: {input}"
        );
    }
}
