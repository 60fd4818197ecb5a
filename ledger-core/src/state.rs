//! What the engine persists about itself, in one place: its metadata keys, the view history
//! and its one validator, the engine's internal tables and reserved names, the genesis
//! record, and the derivation of a stored entry's leaf.
//!
//! Opening a ledger ([`crate::Ledger`]) and the offline audit ([`crate::audit`]) both read
//! this state through the functions here, so they cannot disagree on what is valid.
//!
//! # Format
//!
//! Metadata (the store's `meta` column, never written into an entry):
//!
//! | key | value |
//! | --- | --- |
//! | `core.commit_secret` | the 32-byte commit secret ([`crate::leaf`]) |
//! | `core.service_identity` | the service key and certificate ([`crate::identity`]) |
//! | `core.node_identity` | the node key and certificate |
//! | `core.views` | the view history: JSON `[[view, first seqno], ...]` |
//! | `core.running` | present while a process has the ledger open; removed by a clean close |
//!
//! Internal tables, written only by the engine's own transactions:
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `internal.service` | `cert` | the service certificate, PEM (genesis) |
//! | `internal.service` | `instance` | the ledger instance record ([`LedgerInstance`]): `{"ledger_id":"<32 hex>","epoch":<n>}` |
//! | `internal.nodes` | node id | the node certificate, PEM (every node that signs) |
//!
//! Table and collection names beginning with a [`RESERVED_PREFIXES`] entry (`gov.`,
//! `internal.`) belong to the engine and to governance; applications cannot write them.
//!
//! # Invariants
//!
//! The view history is non-empty, begins with view 1 at seqno 1, has strictly ascending
//! views with non-decreasing first seqnos, and no view begins beyond `last_seqno + 1`
//! ([`ViewHistory::decode`]). A standalone ledger's next view is the current one plus 1
//! ([`ViewHistory::begin`]); a replicated ledger's views come from consensus (a primary's
//! view is given when it opens, a backup takes the views of the groups it applies:
//! [`ViewHistory::begin_at`]), so they may skip numbers. Entry 1 is the genesis transaction, which records the service
//! certificate; that record never changes afterwards ([`check_service_record`]).
//!
//! The instance record names this copy of the ledger: a random ledger id, and an epoch that
//! counts the restores from a backup. Genesis writes it with epoch 1 (a ledger written by
//! older code, which has none, gets one with epoch 1 the first time it is opened); each
//! later version keeps the ledger id and has the epoch one above the version before it, and
//! it is never removed ([`LedgerInstance::decode`], [`LedgerInstance::check_successor`]).
//! Signed governance requests name the instance in force, so a request signed for one
//! ledger is refused by another created with the same service identity, and a request
//! signed for a ledger after a backup was taken is refused by the copy restored from it.
//!
//! Two copies restored from the same backup get the same instance (same id, same epoch):
//! the epoch separates a restored copy from the original, not two copies from one another.
//! Restore a backup once, or treat its copies as one ledger.
//!
//! # Recovery
//!
//! A ledger found with `core.running` set, or whose store discarded an uncommitted tail,
//! stopped uncleanly: the next open appends a view beginning at the first seqno not stored
//! ([`ViewHistory::begin`]), so no id handed out before the stop is ever handed out again.
//!
//! A store restored from a backup carries the store's marker
//! [`ledger_store::META_RESTORED`]. The first open after the restore begins a new view,
//! records the instance with the epoch one higher, and deletes the marker once that record
//! is committed (the deletion becomes durable with the next commit group: the next
//! signature, or the clean close). A crash in between leaves the marker, so the next open
//! raises the epoch once more: the ledger id stays, and every epoch follows the one before,
//! as the audit requires; requests signed for the skipped epoch are refused like any other
//! stale instance's.

use std::fmt;

use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::identity::ParsedCert;
use crate::leaf::{leaf_hash_of_digests, CommitEvidence, CommitSecret, Digest, LeafComponents};
use crate::txid::TxId;

/// Metadata key of the commit secret, in plaintext.
pub(crate) const META_COMMIT_SECRET: &str = "core.commit_secret";
/// Metadata key of the commit secret, sealed (see [`crate::sealing`]).
pub(crate) const META_COMMIT_SECRET_SEALED: &str = "core.commit_secret.sealed";
/// Metadata key of the service identity (key and certificate), in plaintext.
pub(crate) const META_SERVICE_IDENTITY: &str = "core.service_identity";
/// Metadata key of the service identity, sealed.
pub(crate) const META_SERVICE_IDENTITY_SEALED: &str = "core.service_identity.sealed";
/// Metadata key of the node identity (key and certificate), in plaintext.
pub(crate) const META_NODE_IDENTITY: &str = "core.node_identity";
/// Metadata key of the node identity, sealed.
pub(crate) const META_NODE_IDENTITY_SEALED: &str = "core.node_identity.sealed";
/// Metadata key of the service certificate, DER: public, so that the engine and the audit
/// read it without any secret. Written by every ledger created or opened by this release.
pub(crate) const META_SERVICE_CERT: &str = "core.service_cert";
/// Metadata key of the view history.
pub(crate) const META_VIEWS: &str = "core.views";
/// Metadata key present while a process has the ledger open; removed by a clean close.
pub(crate) const META_RUNNING: &str = "core.running";
/// The metadata a created ledger holds some of (`core.running` comes and goes).
pub(crate) const ENGINE_META: [&str; 8] = [
    META_COMMIT_SECRET,
    META_COMMIT_SECRET_SEALED,
    META_SERVICE_IDENTITY,
    META_SERVICE_IDENTITY_SEALED,
    META_NODE_IDENTITY,
    META_NODE_IDENTITY_SEALED,
    META_SERVICE_CERT,
    META_VIEWS,
];

/// Table holding the service certificate (key [`SERVICE_CERT_KEY`]), written by genesis.
pub(crate) const SERVICE_TABLE: &str = "internal.service";
/// Key of the service certificate in [`SERVICE_TABLE`].
pub(crate) const SERVICE_CERT_KEY: &[u8] = b"cert";
/// Key of the ledger instance record ([`LedgerInstance`]) in [`SERVICE_TABLE`].
pub(crate) const INSTANCE_KEY: &[u8] = b"instance";
/// Table holding the COSE_Sign1 of each COSE-signed root (key [`COSE_SIGNATURE_KEY`]),
/// written by signature transactions in [`crate::SigningMode::Dual`]: its versions, by
/// seqno, are the COSE-signed signature transactions.
pub(crate) const COSE_SIGNATURES_TABLE: &str = "internal.cose_signatures";
/// Key of the COSE signature in [`COSE_SIGNATURES_TABLE`].
pub(crate) const COSE_SIGNATURE_KEY: &[u8] = b"root";
/// Table holding node certificates by node id.
pub(crate) const NODES_TABLE: &str = "internal.nodes";

/// Name prefixes reserved for the engine (`internal.`) and governance (`gov.`).
pub(crate) const RESERVED_PREFIXES: [&str; 2] = ["gov.", "internal."];

/// The reserved prefix `name` begins with, if any.
pub(crate) fn reserved_prefix(name: &str) -> Option<&'static str> {
    RESERVED_PREFIXES
        .iter()
        .copied()
        .find(|p| name.starts_with(p))
}

/// Whether `name` is a reserved table or collection name.
pub(crate) fn is_reserved(name: &str) -> bool {
    reserved_prefix(name).is_some()
}

/// The views of a ledger: `(view, first seqno)` pairs in ascending order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ViewHistory(Vec<(u64, u64)>);

/// Why a stored view history is invalid: what was expected and what was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ViewHistoryError {
    pub(crate) expected: String,
    pub(crate) found: String,
}

impl fmt::Display for ViewHistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}; found {}", self.expected, self.found)
    }
}

impl ViewHistory {
    /// The history of a new ledger: view 1 from seqno 1.
    pub(crate) fn genesis() -> Self {
        ViewHistory(vec![(1, 1)])
    }

    /// Decodes a stored history and checks it against a ledger whose last stored seqno is
    /// `last_seqno`: the one validator that opening a ledger and the audit both use.
    pub(crate) fn decode(bytes: &[u8], last_seqno: u64) -> Result<Self, ViewHistoryError> {
        let problem = |expected: &str, found: String| ViewHistoryError {
            expected: expected.to_owned(),
            found,
        };
        let views: Vec<(u64, u64)> = serde_json::from_slice(bytes).map_err(|e| {
            problem(
                "a JSON list of [view, first seqno] pairs",
                format!("{:?} ({e})", String::from_utf8_lossy(bytes)),
            )
        })?;
        match views.first() {
            Some(&(1, 1)) => {}
            Some(&first) => return Err(problem("a first view (1, 1)", format!("{first:?}"))),
            None => return Err(problem("at least one view", "an empty list".into())),
        }
        if let Some(w) = views
            .windows(2)
            .find(|w| w[1].0 <= w[0].0 || w[1].1 < w[0].1)
        {
            return Err(problem(
                "strictly ascending views with non-decreasing first seqnos",
                format!("{:?} followed by {:?}", w[0], w[1]),
            ));
        }
        let end = last_seqno.saturating_add(1);
        if let Some(v) = views.iter().find(|v| v.1 > end) {
            return Err(problem(
                &format!("views beginning at most at seqno {end}"),
                format!("view {} beginning at {}", v.0, v.1),
            ));
        }
        Ok(ViewHistory(views))
    }

    /// The stored form: JSON `[[view, first seqno], ...]`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = String::from("[");
        for (i, (view, first)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&format!("[{view},{first}]"));
        }
        out.push(']');
        out.into_bytes()
    }

    /// The view that `seqno` belongs to (view 1 for seqno 0).
    pub(crate) fn view_of(&self, seqno: u64) -> u64 {
        let idx = self.0.partition_point(|(_, first)| *first <= seqno);
        self.0.get(idx.wrapping_sub(1)).map_or(1, |v| v.0)
    }

    /// The newest view.
    pub(crate) fn current(&self) -> u64 {
        self.0.last().map_or(1, |v| v.0)
    }

    /// Begins a new view at `first_seqno` and returns it.
    pub(crate) fn begin(&mut self, first_seqno: u64) -> u64 {
        let view = self.current() + 1;
        self.0.push((view, first_seqno));
        view
    }

    /// Begins view `view` at `first_seqno`, for a view number chosen outside the engine (a
    /// consensus term). Views strictly ascend and may skip numbers; a `view` not above the
    /// current one is ignored (the caller checked it).
    pub(crate) fn begin_at(&mut self, view: u64, first_seqno: u64) {
        if view > self.current() {
            self.0.push((view, first_seqno));
        }
    }

    /// The `(view, first seqno)` pairs.
    pub(crate) fn as_slice(&self) -> &[(u64, u64)] {
        &self.0
    }
}

/// Checks a value recorded under the service certificate's key against the service
/// certificate (DER) of the ledger's metadata: it must be that certificate, in PEM, and it
/// never changes after genesis.
///
/// # Errors
///
/// A description of what was recorded instead.
pub(crate) fn check_service_record(service_der: &[u8], value: &[u8]) -> Result<(), String> {
    match ParsedCert::parse(value) {
        Ok(cert) if cert.der == service_der => Ok(()),
        Ok(cert) => Err(format!("a certificate of key {}", cert.node_id)),
        Err(e) => Err(format!("a value that is no certificate ({e})")),
    }
}

/// Which ledger this is, and which life of it: the instance record the engine keeps in
/// `internal.service` under `instance` (see the module's `# Format` and `# Invariants`), and
/// that every signed governance request names (`ledger_core::governance`).
///
/// Its stored form is the JSON object `{"ledger_id":"<32 hex>","epoch":<n>}`, exactly, with
/// the fields in that order and no whitespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerInstance {
    /// 16 random bytes in lowercase hex (32 digits), drawn when the ledger's first instance
    /// record is written; the same for every copy restored from the ledger's backups.
    pub ledger_id: String,
    /// 1 for the ledger as created; one more after each restore from a backup.
    pub epoch: u64,
}

impl fmt::Display for LedgerInstance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ledger {} epoch {}", self.ledger_id, self.epoch)
    }
}

/// Length of a ledger id in hex digits (16 random bytes).
const LEDGER_ID_HEX_LEN: usize = 32;

impl LedgerInstance {
    /// A new ledger id, from the operating system's random source, at epoch 1.
    pub(crate) fn generate() -> Result<Self, Error> {
        let mut id = [0u8; LEDGER_ID_HEX_LEN / 2];
        OsRng
            .try_fill_bytes(&mut id)
            .map_err(|e| Error::crypto("reading the random source", e))?;
        Ok(LedgerInstance {
            ledger_id: hex::encode(id),
            epoch: 1,
        })
    }

    /// The instance of a copy restored from a backup of this one: the same ledger id, the
    /// next epoch.
    pub(crate) fn restored(&self) -> Self {
        LedgerInstance {
            ledger_id: self.ledger_id.clone(),
            epoch: self.epoch.saturating_add(1),
        }
    }

    /// The stored form: `{"ledger_id":"<32 hex>","epoch":<n>}`.
    pub(crate) fn encode(&self) -> Vec<u8> {
        format!(
            "{{\"ledger_id\":\"{}\",\"epoch\":{}}}",
            self.ledger_id, self.epoch
        )
        .into_bytes()
    }

    /// Checks the fields: a ledger id of 32 lowercase hex digits and an epoch of at least 1.
    ///
    /// # Errors
    ///
    /// A description of the field that is wrong.
    pub(crate) fn check(&self) -> Result<(), String> {
        let hex_digits = self
            .ledger_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if self.ledger_id.len() != LEDGER_ID_HEX_LEN || !hex_digits {
            return Err(format!(
                "a ledger id of {LEDGER_ID_HEX_LEN} lowercase hex digits, not {:?}",
                self.ledger_id
            ));
        }
        if self.epoch == 0 {
            return Err("an epoch of at least 1, not 0".into());
        }
        Ok(())
    }

    /// Decodes a stored instance record: the one validator that opening a ledger, signed
    /// requests and the audit all use. The bytes must be exactly the stored form of a valid
    /// instance ([`LedgerInstance::check`]).
    ///
    /// # Errors
    ///
    /// A description of what was found instead.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let shown = || format!("{:?}", String::from_utf8_lossy(bytes));
        let instance: LedgerInstance = serde_json::from_slice(bytes)
            .map_err(|e| format!("{} is not an instance record ({e})", shown()))?;
        instance
            .check()
            .map_err(|e| format!("{}: expected {e}", shown()))?;
        if instance.encode() != bytes {
            return Err(format!(
                "{} is not in the stored form {:?}",
                shown(),
                String::from_utf8_lossy(&instance.encode())
            ));
        }
        Ok(instance)
    }

    /// Checks that this record may follow `previous`, the version it replaces (`None` for a
    /// ledger's first record): a first record has epoch 1; a later one keeps the ledger id
    /// and has the next epoch.
    ///
    /// # Errors
    ///
    /// What was expected instead.
    pub(crate) fn check_successor(&self, previous: Option<&LedgerInstance>) -> Result<(), String> {
        let expected = match previous {
            None if self.epoch == 1 => return Ok(()),
            None => "a first instance record with epoch 1".to_owned(),
            Some(p) if *self == p.restored() => return Ok(()),
            Some(p) => format!("the record after {p}: {}", p.restored()),
        };
        Err(format!("expected {expected}, found {self}"))
    }
}

/// The digests a stored entry contributes to its leaf (SPEC section 3): SHA-256 of its bytes
/// and its claims digest. Every leaf the engine computes, at commit, for a receipt and in
/// the audit, comes from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EntryLeaf {
    /// SHA-256 of the entry bytes.
    pub(crate) write_set_digest: Digest,
    /// The application's claims digest from the entry.
    pub(crate) claims_digest: Digest,
}

impl EntryLeaf {
    /// The leaf of this entry, given its commit evidence.
    pub(crate) fn leaf(&self, evidence: &CommitEvidence) -> Digest {
        self.leaf_of_digest(&evidence.digest())
    }

    /// The leaf of this entry, given the digest of its commit evidence (as a version-2
    /// entry records it).
    pub(crate) fn leaf_of_digest(&self, commit_evidence_digest: &Digest) -> Digest {
        leaf_hash_of_digests(
            &self.write_set_digest,
            commit_evidence_digest,
            &self.claims_digest,
        )
    }

    /// The leaf of this entry at `tx_id` under the ledger's commit secret.
    pub(crate) fn leaf_under(&self, secret: &CommitSecret, tx_id: TxId) -> Digest {
        self.leaf(&secret.evidence(tx_id.view(), tx_id.seqno()))
    }

    /// The leaf components a receipt for this entry at `tx_id` carries.
    pub(crate) fn components(&self, secret: &CommitSecret, tx_id: TxId) -> LeafComponents {
        LeafComponents {
            write_set_digest: self.write_set_digest,
            commit_evidence: secret.commit_evidence(tx_id.view(), tx_id.seqno()),
            claims_digest: self.claims_digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn view_history_round_trips_and_answers_views() {
        let mut views = ViewHistory::genesis();
        assert_eq!(views.begin(10), 2);
        assert_eq!(views.begin(10), 3);
        assert_eq!(views.begin(25), 4);
        let decoded = ViewHistory::decode(&views.encode(), 24).expect("valid");
        assert_eq!(decoded, views);
        assert_eq!(
            String::from_utf8(views.encode()).expect("utf-8"),
            "[[1,1],[2,10],[3,10],[4,25]]"
        );
        assert_eq!(
            [0, 1, 9, 10, 24, 25, 99].map(|s| views.view_of(s)),
            [1, 1, 1, 3, 3, 4, 4]
        );
        assert_eq!(views.current(), 4);
    }

    #[test]
    fn view_history_validator_refuses_every_impossible_history() {
        for (bad, last) in [
            (&b"not json"[..], 10),
            (b"[]", 10),
            (b"[[2,1]]", 10),
            (b"[[1,2]]", 10),
            (b"[[1,1],[1,5]]", 10),
            (b"[[1,1],[3,5],[2,6]]", 10),
            (b"[[1,1],[2,5],[3,4]]", 10),
            (b"[[1,1],[2,12]]", 10),
        ] {
            assert!(
                ViewHistory::decode(bad, last).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(ViewHistory::decode(b"[[1,1],[2,11]]", 10).is_ok());
    }

    #[test]
    fn instance_records_decode_strictly_and_follow_one_another() {
        let first = LedgerInstance::generate().expect("random");
        assert_eq!(first.epoch, 1);
        assert_eq!(first.ledger_id.len(), 32);
        assert_eq!(LedgerInstance::decode(&first.encode()), Ok(first.clone()));
        let text = String::from_utf8(first.encode()).expect("utf-8");
        assert_eq!(
            text,
            format!("{{\"ledger_id\":\"{}\",\"epoch\":1}}", first.ledger_id)
        );
        let id = "0123456789abcdef0123456789abcdef";
        for bad in [
            String::new(),
            "{}".into(),
            format!("{{\"ledger_id\":\"{id}\"}}"),
            format!("{{\"ledger_id\":\"{id}\",\"epoch\":0}}"),
            format!("{{\"ledger_id\":\"{}\",\"epoch\":1}}", id.to_uppercase()),
            format!("{{\"ledger_id\":\"{}\",\"epoch\":1}}", &id[1..]),
            format!("{{\"ledger_id\":\"{id}\",\"epoch\":1,\"x\":1}}"),
            format!("{{\"epoch\":1,\"ledger_id\":\"{id}\"}}"),
            format!("{{\"ledger_id\": \"{id}\",\"epoch\":1}}"),
            format!("{{\"ledger_id\":\"{id}\",\"ledger_id\":\"{id}\",\"epoch\":1}}"),
        ] {
            assert!(
                LedgerInstance::decode(bad.as_bytes()).is_err(),
                "{bad:?} accepted"
            );
        }
        let second = first.restored();
        assert_eq!(second.epoch, 2);
        assert!(first.check_successor(None).is_ok());
        assert!(second.check_successor(None).is_err());
        assert!(second.check_successor(Some(&first)).is_ok());
        assert!(first.check_successor(Some(&second)).is_err());
        assert!(second.restored().check_successor(Some(&first)).is_err());
        let other = LedgerInstance::generate().expect("random");
        assert!(other.restored().check_successor(Some(&first)).is_err());
    }

    #[test]
    fn reserved_names() {
        assert_eq!(reserved_prefix("gov.members"), Some("gov."));
        assert_eq!(reserved_prefix("internal.nodes"), Some("internal."));
        assert!(!is_reserved("governance"));
        assert!(!is_reserved("audit"));
    }

    #[test]
    fn entry_leaf_matches_the_leaf_definition() {
        let secret = CommitSecret::from_slice(&[7u8; 32]).expect("32 bytes");
        let tx = TxId::new(3, 4).expect("valid");
        let leaf = EntryLeaf {
            write_set_digest: sha2::Sha256::digest(b"entry bytes").into(),
            claims_digest: [9u8; 32],
        };
        let components = leaf.components(&secret, tx);
        assert_eq!(leaf.leaf_under(&secret, tx), components.leaf_hash());
        assert_eq!(
            leaf.leaf_under(&secret, tx),
            secret.leaf_hash(3, 4, &leaf.write_set_digest, &[9u8; 32])
        );
    }
}
