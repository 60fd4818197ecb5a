//! Internals that tests need and applications must not use: the entry encoders (to build
//! damaged or hand-made entries), the commit-secret arithmetic (to build receipts by hand),
//! the COSE signing and receipt builders (to make COSE receipts without the engine),
//! ledgers as older code wrote them (without an instance record), and a replicated service
//! founded in memory with consensus played by a channel.
//! Compiled only with the `test-util` feature, hidden from the documentation, and never part
//! of a default build.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};

use ledger_store::{MemoryStore, Recovery, Store};
use p256::ecdsa::VerifyingKey;

use crate::config::LedgerConfig;
use crate::cose::{
    self, CoseConsistencyProof, CoseConsistencyReceipt, CoseInclusionProof, CoseReceipt, CwtClaims,
};
use crate::entry::{self, LedgerEntry, SignaturePayload, TxBody, TxKind};
use crate::error::{Error, Problem};
use crate::identity::{NodeIdentity, ServiceIdentity, ServiceSigner};
use crate::leaf::{CommitSecret, Digest, LeafComponents};
use crate::ledger::Ledger;
use crate::receipt::ProofStep;
use crate::replication::{ReplicatedGroup, Replicator};
use crate::txid::TxId;

/// Encodes a complete entry (header and body) in the current format, with 32 zero bytes in
/// place of the commit-evidence digest (which only the commit secret gives).
///
/// # Errors
///
/// [`Error::InvalidInput`] if the body does not fit the entry format.
pub fn encode_entry(kind: TxKind, tx_id: TxId, body: &TxBody) -> Result<Vec<u8>, Error> {
    entry::encode(kind, tx_id, Some(&[0u8; 32]), body)
}

/// Encodes a decoded entry back into its bytes: the same format version, and the same
/// commit-evidence digest if it has one.
///
/// # Errors
///
/// As [`encode_entry`].
pub fn encode_ledger_entry(entry: &LedgerEntry) -> Result<Vec<u8>, Error> {
    entry::encode(
        entry.kind,
        entry.tx_id,
        entry.commit_evidence_digest.as_ref(),
        &entry.body,
    )
}

/// Encodes a signature record, as the store's signature index holds it.
pub fn encode_signature(payload: &SignaturePayload) -> Vec<u8> {
    entry::encode_signature(payload)
}

/// Decodes only an entry's header.
///
/// # Errors
///
/// [`Error::Corruption`] for a short header, an unknown version or kind, or a zero id.
pub fn decode_header(bytes: &[u8]) -> Result<(TxKind, TxId), Error> {
    entry::decode_header(bytes).map(|header| (header.kind, header.tx_id))
}

/// The commit evidence `ce:{view}.{seqno}:{hex(nonce)}` under commit secret `secret`.
pub fn commit_evidence(secret: [u8; 32], view: u64, seqno: u64) -> String {
    CommitSecret::from_bytes(secret).commit_evidence(view, seqno)
}

/// The leaf of transaction `view.seqno` under commit secret `secret`.
pub fn leaf_hash(
    secret: [u8; 32],
    view: u64,
    seqno: u64,
    write_set_digest: &Digest,
    claims_digest: &Digest,
) -> Digest {
    CommitSecret::from_bytes(secret).leaf_hash(view, seqno, write_set_digest, claims_digest)
}

/// Metadata key of the commit secret (the store's `meta` column; see `state.rs`).
pub const META_COMMIT_SECRET: &str = crate::state::META_COMMIT_SECRET;
/// Metadata key of the service identity.
pub const META_SERVICE_IDENTITY: &str = crate::state::META_SERVICE_IDENTITY;
/// Metadata key of the node identity.
pub const META_NODE_IDENTITY: &str = crate::state::META_NODE_IDENTITY;
/// Metadata key of the public service certificate (DER).
pub const META_SERVICE_CERT: &str = crate::state::META_SERVICE_CERT;
/// Metadata key of the sealed commit secret.
pub const META_COMMIT_SECRET_SEALED: &str = crate::state::META_COMMIT_SECRET_SEALED;
/// Metadata key of the view history.
pub const META_VIEWS: &str = crate::state::META_VIEWS;

/// Length of an entry's fixed header, in bytes (see `entry.rs`, `# Format`).
pub const ENTRY_HEADER_LEN: usize = crate::entry::HEADER_LEN;
/// Length of a version-1 entry's fixed header, in bytes.
pub const LEGACY_ENTRY_HEADER_LEN: usize = crate::entry::LEGACY_HEADER_LEN;

/// `config` for a ledger as code older than the ledger instance record wrote it: opening
/// with it never writes an instance record (not at genesis, not after a restore), so its
/// governance accepts only version-1 requests. Opening the same ledger later with an
/// ordinary configuration records its instance then.
pub fn as_older_code(mut config: LedgerConfig) -> LedgerConfig {
    config.instance_records = false;
    config
}

/// The service key's COSE_Sign1 over `root`, the root signature transaction `tx_id` signs
/// (see the `cose` module's `# Format`).
///
/// # Errors
///
/// As the engine's `cose::sign_root`: a signer failure or a signature that does not verify.
pub fn cose_sign_root(
    signer: &dyn ServiceSigner,
    root: &Digest,
    tx_id: TxId,
    claims: &CwtClaims,
) -> Result<Vec<u8>, Error> {
    cose::sign_root(signer, root, tx_id, claims)
}

/// Verifies a signed root of [`cose_sign_root`] against the service key and the root it
/// should sign; returns the signature transaction it names and its claims.
///
/// # Errors
///
/// A signed root that does not parse, another key's id, or a signature that does not verify.
pub fn cose_verify_signed_root(
    signed_root: &[u8],
    key: &VerifyingKey,
    root: &Digest,
) -> Result<(TxId, CwtClaims), Error> {
    cose::verify_signed_root(signed_root, &cose::CoseKey::of_p256(key)?, root)
}

/// A COSE receipt for one transaction: a signed root of [`cose_sign_root`] and the
/// transaction's inclusion proof.
///
/// # Errors
///
/// A signed root that does not parse, an empty or over-long path, or a malformed commit
/// evidence.
pub fn cose_receipt(
    signed_root: &[u8],
    leaf: &LeafComponents,
    path: &[ProofStep],
) -> Result<CoseReceipt, Error> {
    CoseReceipt::new(signed_root, leaf, path)
}

/// A COSE receipt carrying several inclusion proofs under one signed root.
///
/// # Errors
///
/// As [`cose_receipt`], and no proof or too many.
pub fn cose_receipt_with_proofs(
    signed_root: &[u8],
    proofs: Vec<CoseInclusionProof>,
) -> Result<CoseReceipt, Error> {
    CoseReceipt::with_proofs(signed_root, proofs)
}

/// A COSE consistency receipt from a signed root (of the signature transaction at seqno
/// `to_size`) and the RFC 9162 consistency proof from `from_size` to `to_size`.
///
/// # Errors
///
/// A signed root that does not parse, `to_size` other than its seqno, or a proof that does
/// not link the roots.
pub fn cose_consistency_receipt(
    signed_root: &[u8],
    from_size: u64,
    to_size: u64,
    from_root: &Digest,
    to_root: &Digest,
    proof: &[Digest],
) -> Result<CoseConsistencyReceipt, Error> {
    CoseConsistencyReceipt::new(signed_root, from_size, to_size, from_root, to_root, proof)
}

/// A COSE consistency receipt carrying proofs already tagged.
///
/// # Errors
///
/// A signed root that does not parse, no proof or too many, or an empty or over-long path.
pub fn cose_consistency_receipt_with_proofs(
    signed_root: &[u8],
    proofs: Vec<CoseConsistencyProof>,
) -> Result<CoseConsistencyReceipt, Error> {
    CoseConsistencyReceipt::with_proofs(signed_root, proofs)
}

/// A [`Replicator`] that sends each proposed group on a channel: consensus played by a
/// test, which applies what it receives with [`Ledger::apply_group`].
#[derive(Debug)]
pub struct ChannelReplicator(Mutex<Sender<ReplicatedGroup>>);

impl ChannelReplicator {
    /// A replicator and the receiving end of its proposals.
    pub fn new() -> (Arc<Self>, Receiver<ReplicatedGroup>) {
        let (tx, rx) = channel();
        (Arc::new(Self(Mutex::new(tx))), rx)
    }
}

impl Replicator for ChannelReplicator {
    fn propose(&self, group: ReplicatedGroup) -> Result<(), Error> {
        self.0
            .lock()
            .map_err(|_| Error::Closed)?
            .send(group)
            .map_err(|_| Error::Closed)
    }
}

/// A replicated service founded in memory: a service identity, `nodes` node identities it
/// endorses, and a closed genesis store to copy for each node ([`MemoryStore::copy`]).
#[derive(Debug)]
pub struct MemoryService {
    /// The service identity.
    pub identity: ServiceIdentity,
    /// One node identity per node.
    pub nodes: Vec<Arc<NodeIdentity>>,
    /// The genesis store.
    pub genesis: MemoryStore,
}

/// What opening a copy of a closed store reports.
pub fn clean_recovery() -> Recovery {
    Recovery {
        committed_seqno: 0,
        discarded: None,
    }
}

impl MemoryService {
    /// Creates the service identity, the genesis ledger (closed) and the node identities.
    ///
    /// # Errors
    ///
    /// Key generation or the genesis ledger failing.
    pub fn found(nodes: usize) -> Result<Self, Error> {
        let identity = ServiceIdentity::generate("replicated service")?;
        let genesis = Arc::new(MemoryStore::new());
        let store: Arc<dyn Store> = genesis.clone();
        Ledger::with_store(
            store,
            &clean_recovery(),
            &LedgerConfig::new("").service_identity(identity.clone()),
        )?
        .close()?;
        let nodes = (1..=nodes)
            .map(|i| NodeIdentity::generate(&identity, &format!("node {i}")).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            genesis: genesis.copy(),
            identity,
            nodes,
        })
    }

    /// Opens node `i` over a fresh copy of the genesis store with `config` (its node signer
    /// set to node `i`'s identity); returns the ledger and its store.
    ///
    /// # Errors
    ///
    /// As [`Ledger::with_store`]; [`Error::InvalidInput`] for a node that does not exist.
    pub fn open(
        &self,
        i: usize,
        config: LedgerConfig,
    ) -> Result<(Ledger, Arc<MemoryStore>), Error> {
        let node = self.nodes.get(i).ok_or_else(|| {
            Error::invalid(
                "node",
                Problem::TooLarge {
                    size: i as u64,
                    limit: self.nodes.len().saturating_sub(1) as u64,
                },
            )
        })?;
        let store = Arc::new(self.genesis.copy());
        let ledger = Ledger::with_store(
            store.clone(),
            &clean_recovery(),
            &config.node_signer(node.clone()),
        )?;
        Ok((ledger, store))
    }
}
