//! The canonical serialization of a transaction: the bytes that become a ledger entry.
//!
//! # Format
//!
//! Every entry starts with a fixed header, followed by a body. The current format, version 2,
//! has a 50-byte header:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 1 | format version, [`ENTRY_FORMAT_VERSION`] (2) |
//! | 1 | 1 | [`TxKind`] code |
//! | 2 | 8 | view, big-endian |
//! | 10 | 8 | seqno, big-endian |
//! | 18 | 32 | commit-evidence digest: SHA-256 of the transaction's commit evidence |
//! | 50 | .. | body: bincode 2 (standard configuration: big-endian, variable-length integers) |
//!
//! Version 1, written by earlier releases and still read, has the 18-byte header without the
//! commit-evidence digest. The digest is what lets anyone holding the entries recompute each
//! leaf without the commit secret (as CCF records it for the same reason): the leaf is
//! SHA-256(write set digest ‖ commit-evidence digest ‖ claims digest), and the digest reveals
//! nothing of the evidence itself, which stays secret until a receipt discloses it. A
//! version-1 entry's leaf can only be recomputed with the commit secret.
//!
//! The body is, in order: the claims digest as an option (`0` when it is 32 zero bytes, else
//! `1` and the 32 bytes), the appends (count, then each collection name and contents), the
//! table writes (count, then each table, key and optional value), and the optional signature
//! payload. A claims digest of 32 zero bytes written as present is rejected as
//! non-canonical. Small entries stay within two SHA-256 blocks, which matters because every
//! entry is hashed once per transaction.
//!
//! Within the body, appends are sorted by collection name and table writes by (table, key),
//! so the same logical write set always gives the same bytes. A transaction appends to a
//! collection at most once and writes a table key at most once. Integers are written in their
//! shortest varint form. Decoding needs nothing but the bytes: it rejects an unknown version
//! or kind, a header whose view or seqno is 0, trailing bytes, a longer-than-shortest varint,
//! unsorted or duplicated writes, and bodies over [`MAX_ENCODED_BODY`] bytes. So every entry
//! has exactly one encoding: decoding and re-encoding gives back the same bytes.
//!
//! The header comes first and is fixed-size so that the sequencer can assign the seqno after
//! the body has been encoded: the engine encodes outside any lock and patches the header in.

use bincode::{BorrowDecode, Decode, Encode};
use serde::{Deserialize, Serialize};

use crate::leaf::Digest;
use crate::{Error, TxId};

/// Version byte written at the start of every new entry.
pub const ENTRY_FORMAT_VERSION: u8 = 2;
/// The version written before entries recorded their commit-evidence digest; still read.
pub(crate) const LEGACY_ENTRY_FORMAT_VERSION: u8 = 1;
/// Size of the fixed header before the body, in the current format.
pub(crate) const HEADER_LEN: usize = 50;
/// Size of the fixed header of a version-1 entry.
pub(crate) const LEGACY_HEADER_LEN: usize = 18;

/// The header length of format `version`, if this build reads that version.
fn header_len(version: u8) -> Option<usize> {
    match version {
        ENTRY_FORMAT_VERSION => Some(HEADER_LEN),
        LEGACY_ENTRY_FORMAT_VERSION => Some(LEGACY_HEADER_LEN),
        _ => None,
    }
}

/// An entry's decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    pub(crate) kind: TxKind,
    pub(crate) tx_id: TxId,
    /// Present from format version 2 on.
    pub(crate) commit_evidence_digest: Option<Digest>,
    /// Where the body starts.
    pub(crate) len: usize,
}
/// Largest body the decoder accepts (64 MiB), well above any configurable transaction limit.
pub(crate) const MAX_ENCODED_BODY: usize = 64 << 20;

type BodyConfig = bincode::config::Configuration<
    bincode::config::BigEndian,
    bincode::config::Varint,
    bincode::config::Limit<MAX_ENCODED_BODY>,
>;

fn body_config() -> BodyConfig {
    bincode::config::standard()
        .with_big_endian()
        .with_variable_int_encoding()
        .with_limit::<MAX_ENCODED_BODY>()
}

/// The body as written: the claims digest is optional on the wire.
#[derive(Encode)]
struct WireBodyRef<'a> {
    claims_digest: Option<&'a [u8; 32]>,
    appends: &'a [Append],
    writes: &'a [TableOp],
    signature: Option<&'a SignaturePayload>,
}

/// The body as read back, its names, contents, keys and values borrowed from the entry's
/// bytes. It encodes exactly as the bytes it was decoded from when they are canonical (see
/// [`check_shortest`]).
#[derive(Encode, BorrowDecode)]
struct WireBody<'a> {
    claims_digest: Option<[u8; 32]>,
    appends: Vec<AppendRef<'a>>,
    writes: Vec<TableOpRef<'a>>,
    signature: Option<SignaturePayload>,
}

/// The body of a transaction with one append and nothing else, borrowed: encodes exactly as
/// [`WireBodyRef`] of the equivalent [`TxBody`] (bincode writes a `&str` as a `String`, a
/// `&[u8]` as a `Vec<u8>` and a slice with its length, as a `Vec`).
#[derive(Encode)]
struct SingleAppendRef<'a> {
    claims_digest: Option<&'a [u8; 32]>,
    appends: &'a [AppendRef<'a>],
    writes: &'a [TableOp],
    signature: Option<&'a SignaturePayload>,
}

/// An [`Append`], borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct AppendRef<'a> {
    /// Collection (sub-ledger) name.
    pub(crate) collection: &'a str,
    /// The entry's contents.
    pub(crate) contents: &'a [u8],
}

/// A [`TableOp`], borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, BorrowDecode)]
pub(crate) struct TableOpRef<'a> {
    /// Table name.
    pub(crate) table: &'a str,
    /// Key within the table.
    pub(crate) key: &'a [u8],
    /// New value, or `None` for a removal.
    pub(crate) value: Option<&'a [u8]>,
}

/// Upper bound of a varint length prefix in this configuration (marker byte and a `u64`).
const MAX_VARINT_LEN: usize = 9;

/// Rejects a decoded value whose `used` bytes are not its canonical encoding.
///
/// bincode's varint decoder accepts a longer form than necessary (`251, 0, 5` for `5`). Every
/// other part of the format is fixed by the decoded value (tags, fixed arrays, string and byte
/// contents), so re-encoding replaces each varint by its shortest form and changes nothing
/// else: the canonical encoding is as long as the input exactly when the input is canonical.
/// Comparing lengths, with bincode's size-counting writer, avoids a second copy of the bytes.
fn check_shortest<T: Encode>(value: &T, used: usize, what: &'static str) -> Result<(), Error> {
    let mut size = bincode::enc::write::SizeWriter::default();
    bincode::encode_into_writer(value, &mut size, body_config())
        .map_err(|e| Error::corruption(what, format_args!("does not re-encode: {e}")))?;
    if size.bytes_written != used {
        return Err(Error::corruption(
            what,
            format_args!(
                "not canonically encoded: {used} bytes where the shortest integer encodings \
                 take {}",
                size.bytes_written
            ),
        ));
    }
    Ok(())
}

impl<'a> From<&'a TxBody> for WireBodyRef<'a> {
    fn from(body: &'a TxBody) -> Self {
        WireBodyRef {
            claims_digest: (body.claims_digest != [0u8; 32]).then_some(&body.claims_digest),
            appends: &body.appends,
            writes: &body.writes,
            signature: body.signature.as_ref(),
        }
    }
}

/// What a transaction is, recorded in the entry header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TxKind {
    /// Application writes: appends to collections and keyed-table writes.
    User,
    /// A signature over the Merkle root of every earlier transaction.
    Signature,
    /// A change to the governance or engine tables (`gov.`, `internal.`).
    Governance,
}

impl TxKind {
    fn code(self) -> u8 {
        match self {
            TxKind::User => 1,
            TxKind::Signature => 2,
            TxKind::Governance => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(TxKind::User),
            2 => Some(TxKind::Signature),
            3 => Some(TxKind::Governance),
            _ => None,
        }
    }
}

/// One append of a transaction: `contents` added to `collection`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct Append {
    /// Collection (sub-ledger) name.
    pub collection: String,
    /// The entry's contents.
    pub contents: Vec<u8>,
}

/// One keyed-table write of a transaction; `value: None` removes the key.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct TableOp {
    /// Table name.
    pub table: String,
    /// Key within the table.
    pub key: Vec<u8>,
    /// New value, or `None` for a removal.
    pub value: Option<Vec<u8>>,
}

/// The payload of a signature transaction at seqno `seqno`: the node's ECDSA P-256 signature
/// over `root`, the Merkle root of leaves `0..seqno`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
pub struct SignaturePayload {
    /// View of the signature transaction.
    pub view: u64,
    /// Seqno of the signature transaction; the root covers leaves `0..seqno`.
    pub seqno: u64,
    /// Merkle root over leaves `0..seqno` (CcfSha256 profile).
    pub root: [u8; 32],
    /// Lowercase hex SHA-256 of the signing node's SubjectPublicKeyInfo.
    pub node_id: String,
    /// DER-encoded ECDSA P-256 signature over `root` used as the prehash.
    pub signature: Vec<u8>,
    /// The signing node's certificate, PEM.
    pub node_cert_pem: String,
}

/// The body of an entry: everything after the header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxBody {
    /// Application claims digest bound into the leaf (32 zero bytes when unused).
    pub claims_digest: [u8; 32],
    /// Appends, sorted by collection, at most one per collection.
    pub appends: Vec<Append>,
    /// Table writes, sorted by (table, key), at most one per key.
    pub writes: Vec<TableOp>,
    /// Present exactly in signature transactions.
    pub signature: Option<SignaturePayload>,
}

impl TxBody {
    /// Checks the ordering and uniqueness rules of the module documentation.
    ///
    /// # Errors
    ///
    /// [`Error::Corruption`] of `"entry"` naming the first rule broken (the caller names the
    /// transaction).
    pub fn check_canonical(&self) -> Result<(), Error> {
        if self
            .appends
            .windows(2)
            .any(|w| w[0].collection >= w[1].collection)
        {
            return Err(Error::corruption(
                "entry",
                "appends are not strictly sorted by collection",
            ));
        }
        if self
            .writes
            .windows(2)
            .any(|w| (&w[0].table, &w[0].key) >= (&w[1].table, &w[1].key))
        {
            return Err(Error::corruption(
                "entry",
                "table writes are not strictly sorted by (table, key)",
            ));
        }
        Ok(())
    }
}

/// A fully decoded ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// What kind of transaction this is.
    pub kind: TxKind,
    /// The transaction's id.
    pub tx_id: TxId,
    /// SHA-256 of the transaction's commit evidence, recorded from entry format version 2
    /// on; `None` in a version-1 entry.
    pub commit_evidence_digest: Option<Digest>,
    /// The write set.
    pub body: TxBody,
}

/// Encodes a body, leaving a zeroed header to be filled by [`write_header`] once the seqno is
/// known.
///
/// # Errors
///
/// [`Error::InvalidInput`] (`what = "encoded transaction body"`, [`crate::Problem::TooLarge`])
/// if the body exceeds [`MAX_ENCODED_BODY`].
pub(crate) fn encode_unsequenced(kind: TxKind, body: &TxBody) -> Result<Vec<u8>, Error> {
    // Sized up front so that encoding never reallocates: every field within its length
    // prefix, plus the option tags.
    let appends: usize = body
        .appends
        .iter()
        .map(|a| 2 * MAX_VARINT_LEN + a.collection.len() + a.contents.len())
        .sum();
    let writes: usize = body
        .writes
        .iter()
        .map(|w| {
            1 + 3 * MAX_VARINT_LEN
                + w.table.len()
                + w.key.len()
                + w.value.as_ref().map_or(0, Vec::len)
        })
        .sum();
    let signature = body.signature.as_ref().map_or(0, |s| {
        6 * MAX_VARINT_LEN + 32 + s.node_id.len() + s.signature.len() + s.node_cert_pem.len()
    });
    let capacity = HEADER_LEN + 3 + 33 + 2 * MAX_VARINT_LEN + appends + writes + signature;
    encode_body(kind, &WireBodyRef::from(body), capacity)
}

/// [`encode_unsequenced`] of a body with one append and nothing else, without building the
/// [`TxBody`] (the engine's hot path: the contents are copied once, into the entry). Returns
/// the entry, written into `buffer` (whatever it held is dropped; its allocation is reused),
/// and where in it the collection's name is ([`collection_at`]).
///
/// # Errors
///
/// As [`encode_unsequenced`].
pub(crate) fn encode_single_append_unsequenced(
    kind: TxKind,
    collection: &str,
    contents: &[u8],
    buffer: Vec<u8>,
) -> Result<(Vec<u8>, Option<std::ops::Range<usize>>), Error> {
    let body = SingleAppendRef {
        claims_digest: None,
        appends: &[AppendRef {
            collection,
            contents,
        }],
        writes: &[],
        signature: None,
    };
    let capacity = HEADER_LEN + 4 + 3 * MAX_VARINT_LEN + collection.len() + contents.len();
    let entry = encode_body_into(buffer, kind, &body, capacity)?;
    // The body starts with the absent claims digest (one tag byte), the append count (one
    // byte) and the name's length prefix; the name follows. Checked against the bytes, so
    // that a different layout only costs the caller a decode ([`first_collection`]).
    let start = HEADER_LEN + 2 + varint_len(collection.len() as u64);
    let name = start..start + collection.len();
    let found = entry.get(name.clone()) == Some(collection.as_bytes());
    Ok((entry, found.then_some(name)))
}

/// The length of `n` in bincode's variable-length integer encoding.
fn varint_len(n: u64) -> usize {
    match n {
        0..=250 => 1,
        251..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// The collection name at `at` in `entry` (as [`encode_single_append_unsequenced`] found it),
/// or `None` if those bytes are not a name.
pub(crate) fn collection_at(entry: &[u8], at: std::ops::Range<usize>) -> Option<&str> {
    std::str::from_utf8(entry.get(at)?).ok()
}

/// The collection of the first append of a well-formed entry with at least one append (the
/// only one, for an entry from [`encode_single_append_unsequenced`]), read without decoding
/// the rest; `None` if the bytes do not start that way.
pub(crate) fn first_collection(entry: &[u8]) -> Option<&str> {
    let body = entry.get(header_len(*entry.first()?)?..)?;
    let ((_claims, count, name), _): ((Option<[u8; 32]>, u64, &str), usize) =
        bincode::borrow_decode_from_slice(body, body_config()).ok()?;
    (count > 0).then_some(name)
}

/// A zeroed header of `kind` followed by `body`, in a buffer of `capacity` bytes.
fn encode_body(kind: TxKind, body: &impl Encode, capacity: usize) -> Result<Vec<u8>, Error> {
    encode_body_into(Vec::new(), kind, body, capacity)
}

/// [`encode_body`] into `out`'s allocation.
fn encode_body_into(
    mut out: Vec<u8>,
    kind: TxKind,
    body: &impl Encode,
    capacity: usize,
) -> Result<Vec<u8>, Error> {
    out.clear();
    out.reserve(capacity);
    out.resize(HEADER_LEN, 0);
    out[0] = ENTRY_FORMAT_VERSION;
    out[1] = kind.code();
    bincode::encode_into_std_write(body, &mut out, body_config()).map_err(|e| {
        Error::malformed(
            "transaction body",
            format!("{kind:?} transaction"),
            format_args!("does not encode: {e}"),
        )
    })?;
    // bincode enforces the configured limit when decoding only: refuse here what the decoder
    // would refuse.
    let size = out.len() - HEADER_LEN;
    if size > MAX_ENCODED_BODY {
        return Err(Error::too_large(
            "encoded transaction body",
            size,
            MAX_ENCODED_BODY,
        ));
    }
    Ok(out)
}

/// Fills the view, seqno and commit-evidence digest of an entry produced by
/// [`encode_unsequenced`].
pub(crate) fn write_header(entry: &mut [u8], tx_id: TxId, commit_evidence_digest: &Digest) {
    if entry.len() >= HEADER_LEN {
        entry[2..10].copy_from_slice(&tx_id.view().to_be_bytes());
        entry[10..18].copy_from_slice(&tx_id.seqno().to_be_bytes());
        entry[18..50].copy_from_slice(commit_evidence_digest);
    }
}

/// Encodes a complete entry: in the current format when `commit_evidence_digest` is given,
/// in format version 1 (which has none) otherwise.
///
/// # Errors
///
/// As [`encode_unsequenced`].
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn encode(
    kind: TxKind,
    tx_id: TxId,
    commit_evidence_digest: Option<&Digest>,
    body: &TxBody,
) -> Result<Vec<u8>, Error> {
    let mut out = encode_unsequenced(kind, body)?;
    match commit_evidence_digest {
        Some(digest) => write_header(&mut out, tx_id, digest),
        None => {
            out.drain(LEGACY_HEADER_LEN..HEADER_LEN);
            out[0] = LEGACY_ENTRY_FORMAT_VERSION;
            out[2..10].copy_from_slice(&tx_id.view().to_be_bytes());
            out[10..18].copy_from_slice(&tx_id.seqno().to_be_bytes());
        }
    }
    Ok(out)
}

/// Reads only the header of an entry.
///
/// # Errors
///
/// [`Error::Corruption`] of `"entry header"` for a short entry, an unknown version or kind,
/// or a zero view or seqno.
pub(crate) fn decode_header(bytes: &[u8]) -> Result<EntryHeader, Error> {
    let version = *bytes.first().ok_or_else(|| {
        Error::corruption("entry header", "an empty entry has no header".to_owned())
    })?;
    let len = header_len(version).ok_or_else(|| {
        Error::corruption(
            "entry header",
            format_args!(
                "entry format version {version} is not supported (this build reads \
                 {LEGACY_ENTRY_FORMAT_VERSION} and {ENTRY_FORMAT_VERSION})"
            ),
        )
    })?;
    let header = bytes.get(..len).ok_or_else(|| {
        Error::corruption(
            "entry header",
            format_args!(
                "entry of {} bytes is shorter than its {len}-byte header",
                bytes.len()
            ),
        )
    })?;
    let kind = TxKind::from_code(header[1]).ok_or_else(|| {
        Error::corruption(
            "entry header",
            format_args!("unknown transaction kind {}", header[1]),
        )
    })?;
    let mut view = [0u8; 8];
    view.copy_from_slice(&header[2..10]);
    let mut seqno = [0u8; 8];
    seqno.copy_from_slice(&header[10..18]);
    let tx_id = TxId::new(u64::from_be_bytes(view), u64::from_be_bytes(seqno))
        .map_err(|e| Error::corruption("entry header", e))?;
    let commit_evidence_digest = (len == HEADER_LEN).then(|| {
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&header[18..50]);
        digest
    });
    Ok(EntryHeader {
        kind,
        tx_id,
        commit_evidence_digest,
        len,
    })
}

/// The claims digest of an entry (32 zero bytes when it records none), read from the header
/// and the first field of the body without decoding the rest: what a receipt needs besides
/// the entry's digest.
///
/// # Errors
///
/// [`Error::Corruption`] as [`decode`] reports it for a bad header or claims field.
pub(crate) fn claims_digest(bytes: &[u8]) -> Result<[u8; 32], Error> {
    let header = decode_header(bytes)?;
    let corrupt =
        |detail: std::fmt::Arguments<'_>| Error::corruption("entry", detail).at_tx(header.tx_id);
    let (claims, _): (Option<[u8; 32]>, usize) =
        bincode::decode_from_slice(&bytes[header.len..], body_config())
            .map_err(|e| corrupt(format_args!("body: {e}")))?;
    if claims == Some([0u8; 32]) {
        return Err(corrupt(format_args!(
            "an all-zero claims digest must be written as absent"
        )));
    }
    Ok(claims.unwrap_or_default())
}

/// An entry decoded in place: names, contents, keys and values borrow the entry's bytes,
/// so a read that needs one append copies that append's contents and nothing else.
/// [`decode_borrowed`] checks everything [`decode`] checks (`decode` is `decode_borrowed`
/// followed by [`BorrowedEntry::into_owned`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BorrowedEntry<'a> {
    /// What kind of transaction this is.
    pub(crate) kind: TxKind,
    /// The transaction's id.
    pub(crate) tx_id: TxId,
    /// SHA-256 of the commit evidence (format version 2 on).
    pub(crate) commit_evidence_digest: Option<Digest>,
    /// Application claims digest (32 zero bytes when unused).
    pub(crate) claims_digest: [u8; 32],
    /// Appends, strictly sorted by collection.
    pub(crate) appends: Vec<AppendRef<'a>>,
    /// Table writes, strictly sorted by (table, key).
    pub(crate) writes: Vec<TableOpRef<'a>>,
    /// Present exactly in signature transactions.
    pub(crate) signature: Option<SignaturePayload>,
}

impl<'a> BorrowedEntry<'a> {
    /// The contents the transaction appended to `collection`, if it appended to it.
    pub(crate) fn contents_of(&self, collection: &str) -> Option<&'a [u8]> {
        // Appends are strictly sorted by collection (checked by decoding).
        self.appends
            .binary_search_by(|a| a.collection.cmp(collection))
            .ok()
            .and_then(|i| self.appends.get(i))
            .map(|a| a.contents)
    }

    /// The entry with its parts copied out of the bytes.
    pub(crate) fn into_owned(self) -> LedgerEntry {
        LedgerEntry {
            kind: self.kind,
            tx_id: self.tx_id,
            commit_evidence_digest: self.commit_evidence_digest,
            body: TxBody {
                claims_digest: self.claims_digest,
                appends: self
                    .appends
                    .iter()
                    .map(|a| Append {
                        collection: a.collection.to_owned(),
                        contents: a.contents.to_vec(),
                    })
                    .collect(),
                writes: self
                    .writes
                    .iter()
                    .map(|w| TableOp {
                        table: w.table.to_owned(),
                        key: w.key.to_vec(),
                        value: w.value.map(<[u8]>::to_vec),
                    })
                    .collect(),
                signature: self.signature,
            },
        }
    }
}

/// Decodes an entry from its bytes alone.
///
/// # Errors
///
/// [`Error::Corruption`] for any violation of the format in the module documentation: of
/// `"entry header"` (see `decode_header`), or of `"entry"` at the header's transaction.
pub fn decode(bytes: &[u8]) -> Result<LedgerEntry, Error> {
    decode_borrowed(bytes).map(BorrowedEntry::into_owned)
}

/// Decodes an entry in place, with every check of [`decode`].
///
/// # Errors
///
/// As [`decode`].
pub(crate) fn decode_borrowed(bytes: &[u8]) -> Result<BorrowedEntry<'_>, Error> {
    let EntryHeader {
        kind,
        tx_id,
        commit_evidence_digest,
        len: header_len,
    } = decode_header(bytes)?;
    let corrupt = |detail: std::fmt::Arguments<'_>| Error::corruption("entry", detail).at_tx(tx_id);
    let body = bytes.get(header_len..).unwrap_or_default();
    let (wire, used): (WireBody<'_>, usize) =
        bincode::borrow_decode_from_slice(body, body_config())
            .map_err(|e| corrupt(format_args!("body: {e}")))?;
    if wire.claims_digest == Some([0u8; 32]) {
        return Err(corrupt(format_args!(
            "an all-zero claims digest must be written as absent"
        )));
    }
    if used != body.len() {
        return Err(corrupt(format_args!(
            "{} trailing bytes",
            body.len() - used
        )));
    }
    check_shortest(&wire, used, "entry").map_err(|e| e.at_tx(tx_id))?;
    if wire
        .appends
        .windows(2)
        .any(|w| w[0].collection >= w[1].collection)
    {
        return Err(corrupt(format_args!(
            "appends are not strictly sorted by collection"
        )));
    }
    if wire
        .writes
        .windows(2)
        .any(|w| (w[0].table, w[0].key) >= (w[1].table, w[1].key))
    {
        return Err(corrupt(format_args!(
            "table writes are not strictly sorted by (table, key)"
        )));
    }
    if (kind == TxKind::Signature) != wire.signature.is_some() {
        return Err(corrupt(format_args!(
            "a signature payload belongs exactly to signature transactions"
        )));
    }
    Ok(BorrowedEntry {
        kind,
        tx_id,
        commit_evidence_digest,
        claims_digest: wire.claims_digest.unwrap_or_default(),
        appends: wire.appends,
        writes: wire.writes,
        signature: wire.signature,
    })
}

/// Encodes a [`SignaturePayload`] on its own (the signature index of the store keeps these).
pub(crate) fn encode_signature(payload: &SignaturePayload) -> Vec<u8> {
    // Encoding into a Vec cannot fail for this type; an empty record would be rejected on read.
    bincode::encode_to_vec(payload, body_config()).unwrap_or_default()
}

/// Decodes a [`SignaturePayload`] written by `encode_signature`.
///
/// # Errors
///
/// [`Error::Corruption`] of `"signature record"` if the bytes are not exactly one payload.
pub fn decode_signature(bytes: &[u8]) -> Result<SignaturePayload, Error> {
    let (payload, used): (SignaturePayload, usize) =
        bincode::decode_from_slice(bytes, body_config())
            .map_err(|e| Error::corruption("signature record", e))?;
    if used != bytes.len() {
        return Err(Error::corruption(
            "signature record",
            format_args!("{} trailing bytes", bytes.len() - used),
        ));
    }
    check_shortest(&payload, used, "signature record")?;
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TxBody {
        TxBody {
            claims_digest: [7; 32],
            appends: vec![
                Append {
                    collection: "a".into(),
                    contents: b"one".to_vec(),
                },
                Append {
                    collection: "b".into(),
                    contents: vec![],
                },
            ],
            writes: vec![TableOp {
                table: "t".into(),
                key: b"k".to_vec(),
                value: None,
            }],
            signature: None,
        }
    }

    const CED: Digest = [5u8; 32];

    fn sample_payload() -> SignaturePayload {
        SignaturePayload {
            view: 2,
            seqno: 10,
            root: [1; 32],
            node_id: "ab".into(),
            signature: vec![1, 2, 3],
            node_cert_pem: "PEM".into(),
        }
    }

    #[test]
    fn round_trips_with_patched_header() {
        let body = sample();
        let mut bytes = encode_unsequenced(TxKind::User, &body).unwrap();
        let id = TxId::new(3, 99).unwrap();
        write_header(&mut bytes, id, &CED);
        assert_eq!(bytes, encode(TxKind::User, id, Some(&CED), &body).unwrap());
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.tx_id, id);
        assert_eq!(decoded.kind, TxKind::User);
        assert_eq!(decoded.body, body);
    }

    #[test]
    fn rejects_damage() {
        let id = TxId::new(1, 5).unwrap();
        let good = encode(TxKind::User, id, Some(&CED), &sample()).unwrap();
        assert!(decode(&good[..good.len() - 1]).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        let mut version = good.clone();
        version[0] = 9;
        assert!(decode(&version).is_err());
        let mut zero_seqno = good.clone();
        zero_seqno[10..18].fill(0);
        assert!(decode(&zero_seqno).is_err());
        let mut unsorted = sample();
        unsorted.appends.reverse();
        assert!(decode(&encode(TxKind::User, id, Some(&CED), &unsorted).unwrap()).is_err());
        let stray_sig = decode(&encode(TxKind::Signature, id, Some(&CED), &sample()).unwrap());
        assert!(stray_sig.is_err());
        for len in 0..good.len() {
            assert!(decode(&good[..len]).is_err(), "prefix {len} decoded");
        }
    }

    #[test]
    fn version_1_entries_still_decode_and_re_encode_exactly() {
        let id = TxId::new(2, 7).unwrap();
        let legacy = encode(TxKind::User, id, None, &sample()).unwrap();
        assert_eq!(legacy[0], LEGACY_ENTRY_FORMAT_VERSION);
        let current = encode(TxKind::User, id, Some(&CED), &sample()).unwrap();
        assert_eq!(current.len(), legacy.len() + HEADER_LEN - LEGACY_HEADER_LEN);
        assert_eq!(&current[LEGACY_HEADER_LEN..HEADER_LEN], &CED);
        for (bytes, digest) in [(&legacy, None), (&current, Some(CED))] {
            let decoded = decode(bytes).unwrap();
            assert_eq!(decoded.tx_id, id);
            assert_eq!(decoded.commit_evidence_digest, digest);
            assert_eq!(decoded.body, sample());
            let again = encode(
                decoded.kind,
                decoded.tx_id,
                decoded.commit_evidence_digest.as_ref(),
                &decoded.body,
            )
            .unwrap();
            assert_eq!(&again, bytes);
            assert_eq!(first_collection(bytes), Some("a"));
        }
        // A version-2 header cut to version-1 length is refused, as is any other version.
        let mut cut = current.clone();
        cut.truncate(LEGACY_HEADER_LEN + 3);
        assert!(decode(&cut).is_err());
        let mut version = legacy.clone();
        version[0] = 3;
        assert!(decode(&version).is_err());
    }

    #[test]
    fn small_entries_fit_three_sha256_blocks() {
        let body = TxBody {
            appends: vec![Append {
                collection: "audit".into(),
                contents: vec![7; 64],
            }],
            ..TxBody::default()
        };
        let bytes = encode(
            TxKind::User,
            TxId::new(1, 1_000_000).unwrap(),
            Some(&CED),
            &body,
        )
        .unwrap();
        // SHA-256 pads with at least 9 bytes: 183 bytes or fewer hash in three blocks (the
        // commit-evidence digest in the header costs the third for a 64-byte append).
        assert!(bytes.len() <= 183, "{} bytes", bytes.len());
        assert_eq!(decode(&bytes).unwrap().body, body);
    }

    #[test]
    fn zero_claims_written_as_present_is_rejected() {
        let id = TxId::new(1, 1).unwrap();
        let with_claims = TxBody {
            claims_digest: [1; 32],
            ..sample()
        };
        let mut bytes = encode(TxKind::User, id, Some(&CED), &with_claims).unwrap();
        // The option tag is the first body byte; the digest follows it.
        assert_eq!(bytes[HEADER_LEN], 1);
        bytes[HEADER_LEN + 1..HEADER_LEN + 33].fill(0);
        assert!(matches!(
            decode(&bytes),
            Err(Error::Corruption { ref what, tx: Some(tx), ref detail, .. })
                if what == "entry" && tx == id && detail.contains("all-zero claims digest")
        ));
    }

    #[test]
    fn the_claims_digest_alone_reads_as_the_full_decode_does() {
        let id = TxId::new(2, 9).unwrap();
        for claims in [[0u8; 32], [1; 32]] {
            let body = TxBody {
                claims_digest: claims,
                ..sample()
            };
            let bytes = encode(TxKind::User, id, Some(&CED), &body).unwrap();
            assert_eq!(claims_digest(&bytes).unwrap(), claims);
            assert_eq!(decode(&bytes).unwrap().body.claims_digest, claims);
        }
        // The refusals of the full decode: a zero digest written as present, a short body.
        let mut bytes = encode(
            TxKind::User,
            id,
            Some(&CED),
            &TxBody {
                claims_digest: [1; 32],
                ..sample()
            },
        )
        .unwrap();
        bytes[HEADER_LEN + 1..HEADER_LEN + 33].fill(0);
        assert!(claims_digest(&bytes).is_err());
        assert!(claims_digest(&bytes[..HEADER_LEN + 5]).is_err());
        assert!(claims_digest(&[]).is_err());
    }

    #[test]
    fn borrowed_decoding_finds_each_append_in_place() {
        let id = TxId::new(4, 12).unwrap();
        let mut body = sample();
        body.appends.push(Append {
            collection: "c\0d".into(),
            contents: vec![1; 300],
        });
        let bytes = encode(TxKind::User, id, Some(&CED), &body).unwrap();
        let borrowed = decode_borrowed(&bytes).unwrap();
        assert_eq!(borrowed.tx_id, id);
        assert_eq!(borrowed.contents_of("a"), Some(&b"one"[..]));
        assert_eq!(borrowed.contents_of("b"), Some(&[][..]));
        let long = borrowed.contents_of("c\0d").unwrap();
        assert_eq!(long, &[1u8; 300][..]);
        // The contents are read where they lie in the entry, not copied.
        assert!(bytes.as_ptr_range().contains(&long.as_ptr()));
        for absent in ["", "ab", "c", "c\0", "z"] {
            assert_eq!(borrowed.contents_of(absent), None, "{absent:?}");
        }
        let owned = borrowed.into_owned();
        assert_eq!((owned.kind, owned.tx_id), (TxKind::User, id));
        assert_eq!(owned.commit_evidence_digest, Some(CED));
        assert_eq!(owned.body, body);

        let signature = TxBody {
            signature: Some(sample_payload()),
            ..TxBody::default()
        };
        let bytes = encode(TxKind::Signature, id, None, &signature).unwrap();
        let borrowed = decode_borrowed(&bytes).unwrap();
        assert_eq!(borrowed.contents_of("a"), None);
        assert_eq!(borrowed.commit_evidence_digest, None);
        assert_eq!(borrowed.into_owned().body, signature);
    }

    #[test]
    fn signature_payload_round_trips() {
        let p = sample_payload();
        assert_eq!(decode_signature(&encode_signature(&p)).unwrap(), p);
        assert!(decode_signature(&[1, 2]).is_err());
    }

    #[test]
    fn longer_than_shortest_varints_are_rejected() {
        let id = TxId::new(1, 1).unwrap();
        let body = TxBody {
            appends: vec![Append {
                collection: "c".into(),
                contents: vec![9; 5],
            }],
            ..TxBody::default()
        };
        let good = encode(TxKind::User, id, Some(&CED), &body).unwrap();
        // Body: claims tag 0, append count 1, name length 1, "c", contents length 5, ...
        assert_eq!(&good[HEADER_LEN..HEADER_LEN + 5], &[0, 1, 1, b'c', 5]);
        // The same count, 1, as a 16-bit varint (marker 251, then big-endian 0x0001).
        let mut long = good[..HEADER_LEN + 1].to_vec();
        long.extend_from_slice(&[251, 0, 1]);
        long.extend_from_slice(&good[HEADER_LEN + 2..]);
        let err = decode(&long).unwrap_err();
        assert!(
            matches!(&err, Error::Corruption { what, tx: Some(tx), detail, .. }
                if what == "entry" && *tx == id && detail.contains("not canonically encoded")),
            "{err}"
        );
        assert_eq!(decode(&good).unwrap().body, body);

        let p = sample_payload();
        let good = encode_signature(&p);
        assert_eq!(good[0], 2);
        let mut long = vec![251, 0, 2];
        long.extend_from_slice(&good[1..]);
        assert!(matches!(
            decode_signature(&long),
            Err(Error::Corruption { ref what, ref detail, .. })
                if what == "signature record" && detail.contains("not canonically encoded")
        ));
    }

    #[test]
    fn single_append_encodes_as_the_equivalent_body() {
        let id = TxId::new(7, 300).unwrap();
        for (collection, len) in [
            ("c", 0usize),
            ("audit", 64),
            ("x".repeat(255).as_str(), 70_000),
            ("é".repeat(40_000).as_str(), 3),
        ] {
            let contents: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let body = TxBody {
                appends: vec![Append {
                    collection: collection.to_owned(),
                    contents: contents.clone(),
                }],
                ..TxBody::default()
            };
            let general = encode_unsequenced(TxKind::User, &body).unwrap();
            let (mut single, at) =
                encode_single_append_unsequenced(TxKind::User, collection, &contents, vec![9; 300])
                    .unwrap();
            assert_eq!(single, general);
            assert!(single.capacity() >= single.len());
            assert_eq!(first_collection(&single), Some(collection));
            let at = at.expect("the name is where the layout puts it");
            assert_eq!(collection_at(&single, at), Some(collection));
            write_header(&mut single, id, &CED);
            assert_eq!(decode(&single).unwrap().body, body);
        }
    }
}
