//! Fuzz targets over the public APIs of `ledger-merkle`, `ledger-store` and `ledger-core`.
//!
//! Every public function of this crate is the body of one libFuzzer target (see `fuzz/`): it
//! takes arbitrary bytes, turns them into a structured input with the [`arbitrary`] crate
//! (bounded sizes, an operation enum), drives the API under test, and compares every result
//! with a naive model. Any disagreement, and any panic of the code under test, panics: that is
//! the fuzz failure. Inputs the structure cannot be built from are ignored.
//!
//! | target | what it drives | the model it is checked against |
//! | --- | --- | --- |
//! | [`merkle_operations`] | `MerkleTree` push, roots, proofs, truncate, tiles, prune, reopen | a naive recursive RFC 9162 tree |
//! | [`merkle_proof_verifiers`] | the proof verifiers and receipt proof labelling on arbitrary bytes | length rules; genuine proofs with one bit flipped must fail |
//! | [`txid_parse`] | `TxId` parsing, display, serde and commit evidence | a naive strict parser |
//! | [`receipt_json`] | `Receipt::from_json` / `to_json` / `verify` | JSON round trip; tampered genuine receipts must not verify |
//! | [`served_receipt_json`] | `ServedReceipt::from_json` (the lenient reader) on receipts the services served, spliced | re-serialised, it reads back equal and verifies the same way; only the genuine leaf, root and signature verify |
//! | [`cose_receipt_cbor`] | `CoseReceipt` and `CoseConsistencyReceipt` `from_slice` / `to_vec` / `verify` | whatever parses re-encodes to the same bytes; only genuine receipts verify |
//! | [`scitt_register`] | `Ledger::register_statement` on bit-flipped or spliced genuine signed statements, statements built from structured choices, and arbitrary bytes | a model of the registration rules (the exact refusal); only genuine statements are accepted, and their transparent statements verify, read back equal and are served equal |
//! | [`governance_request_json`] | `SignedRequest::from_json` and payload parsing | JSON round trip |
//! | [`entry_decode`] | `ledger_core::decode_entry` of arbitrary and of well-formed bytes | canonical re-encoding |
//! | [`store_operations`] | every `Store` method, reopen | `BTreeMap`/`Vec` model with the documented recovery rules |
//! | [`store_crash_recovery`] | the same with injected write and sync failures | the same; exactly the committed prefix survives |
//! | [`ledger_operations`] | the `Ledger` API, clean reopen, twin ledgers sharing its identity, backups and restored copies | a model of the transactions, their reads and statuses; governance requests refused across ledger instances |
//! | [`ledger_crash_recovery`] | the same with injected store failures and crashes | committed transactions survive, nothing else is reported committed |
//! | [`replicated_group`] | a backup's `Ledger::apply_group` given a primary's groups with altered, garbage, repeated and out-of-order groups among them | every altered group refused and nothing changed; the genuine groups apply; the backup ends with the primary's committed transactions, verifying receipts and a clean audit |
//!
//! The store and engine targets run over the memory backend and, with the `rocksdb` feature
//! (default; off in the libFuzzer build), over `RocksStore` in a temporary directory too.
//! `tests/replay.rs` replays the committed corpus and crash reproducers through these
//! functions on every `cargo test`.

mod ledger;
mod merkle;
mod parse;
mod replication;
mod scitt;
mod store;

pub use ledger::{ledger_crash_recovery, ledger_operations, ledger_seeds};
pub use merkle::{merkle_operations, merkle_proof_verifiers};
pub use parse::{
    cose_receipt_cbor, cose_receipt_seeds, entry_decode, governance_request_json, receipt_json,
    receipt_seeds, served_receipt_json, served_receipt_seeds, txid_parse,
};
pub use replication::replicated_group;
pub use scitt::{scitt_register, scitt_statement_seeds};
pub use store::{store_crash_recovery, store_operations};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by name, as `fuzz/fuzz_targets/<name>.rs`, `corpus/<name>/` and
/// `artifacts/<name>/` name them.
pub const TARGETS: [(&str, Target); 14] = [
    ("merkle_operations", merkle_operations),
    ("merkle_proof_verifiers", merkle_proof_verifiers),
    ("txid_parse", txid_parse),
    ("receipt_json", receipt_json),
    ("served_receipt_json", served_receipt_json),
    ("cose_receipt_cbor", cose_receipt_cbor),
    ("scitt_register", scitt_register),
    ("governance_request_json", governance_request_json),
    ("entry_decode", entry_decode),
    ("store_operations", store_operations),
    ("store_crash_recovery", store_crash_recovery),
    ("ledger_operations", ledger_operations),
    ("ledger_crash_recovery", ledger_crash_recovery),
    ("replicated_group", replicated_group),
];

/// Maps a fuzzed `raw` value onto `0..=len` most of the time, and a little past `len` when
/// `raw` is near its maximum, so that out-of-range requests are tried too.
fn pick(raw: u16, len: u64) -> u64 {
    const EDGE: u16 = u16::MAX - 7;
    if raw > EDGE {
        len + u64::from(raw - EDGE)
    } else {
        u64::from(raw) % (len + 1)
    }
}

/// SHA-256 of the concatenated parts.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Whether `LEDGER_FUZZ_DEBUG` is set: the operation targets then print their decoded input.
fn debug() -> bool {
    static DEBUG: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("LEDGER_FUZZ_DEBUG").is_some())
}
