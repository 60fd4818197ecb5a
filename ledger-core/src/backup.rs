//! A backup's checks of the primary's groups (`Shared::check_backup_group`), as the
//! replication documentation (`replication.rs`, "What a backup checks") states them: every
//! entry decodes, follows the last one and re-encodes to its own bytes with the evidence
//! derived here; every signature signs this node's own root, by a node the service endorses.
//! Groups without a signature are held, their leaves in the tree, until the signature that
//! covers them checks; a refused group discards that pending run and leaves the tree where
//! the last signature left it.

use std::sync::Arc;

use ledger_store::Group;

use crate::cose;
use crate::curves::canonical_signature;
use crate::entry::{self, TxKind};
use crate::identity::{validate_path, ParsedCert};
use crate::leaf::CommitSecret;
use crate::pipeline::{prepare, BackupState, Prepared, RootSignature, Shared, Submission};
use crate::replication::{ReplicatedEntry, ReplicatedGroup};
use crate::state::{COSE_SIGNATURES_TABLE, COSE_SIGNATURE_KEY};
use crate::{Error, TxId};

/// What a checked group leaves to store: every group of the run its signature covers, the
/// signature, and the views the run begins.
pub(crate) type SignedRun = (Vec<Group>, Arc<RootSignature>, Vec<(u64, u64)>);

/// Most node certificates a backup remembers as endorsed.
const MAX_ENDORSED: usize = 256;
/// Most entry bytes a backup holds waiting for a signature; a primary signs far more often
/// (every `sig_tx_interval` transactions or `sig_interval`).
const MAX_PENDING_BYTES: usize = 1 << 28;

fn rejected(seqno: u64, reason: impl Into<String>) -> Error {
    Error::GroupRejected {
        seqno,
        reason: reason.into(),
    }
}

impl Shared {
    /// Checks a group on a backup (see the module documentation). A group without a
    /// signature is held (`None`); a signed one returns the run it completes, to store. Any
    /// refusal discards the held run too, leaving the backup (its tree included) where its
    /// last stored signature left it: the run must be given again from there.
    pub(crate) fn check_backup_group(
        &self,
        state: &mut BackupState,
        service: &ParsedCert,
        replicated: &ReplicatedGroup,
    ) -> Result<Option<SignedRun>, Error> {
        let mut tree = self.tree.write();
        let expected_first = tree.len();
        let follows = match replicated.first_seqno() {
            None => Err(rejected(0, "an empty group")),
            Some(first) if first != expected_first => Err(rejected(
                first,
                format!("a group beginning at seqno {expected_first}, the next one here"),
            )),
            Some(first) => Ok(first),
        };
        let first = match follows {
            Ok(first) => first,
            Err(e) => {
                discard_run(state, &mut tree, expected_first)?;
                return Err(e);
            }
        };
        let mut current_view = state
            .pending_views
            .last()
            .map_or_else(|| self.views.read().current(), |v| v.0);
        let mut new_views = Vec::new();
        let mut rows = std::mem::take(&mut state.rows);
        let mut group = Group::default();
        let mut signed = None;
        // Leaves go into the tree as the entries check, so that a signature's root is the
        // tree's; a refused group truncates the tree back to where it began.
        // Each entry is decoded, re-encoded and hashed on its own (in parallel for a large
        // group); the sequence, views, roots and signatures are then checked in order.
        let entries = self.check_entries(expected_first, &replicated.entries);
        let checked = (|| {
            for (i, entry) in entries.into_iter().enumerate() {
                let seqno = expected_first + i as u64;
                let CheckedEntry {
                    tx_id,
                    kind,
                    payload,
                    prepared,
                } = entry?;
                if signed.is_some() {
                    return Err(rejected(
                        seqno,
                        "a group that ends at its signature transaction",
                    ));
                }
                if tx_id.view() < current_view {
                    return Err(rejected(
                        seqno,
                        format!("view {current_view} or later, not {}", tx_id.view()),
                    ));
                }
                if tx_id.view() > current_view {
                    current_view = tx_id.view();
                    new_views.push((current_view, seqno));
                }
                if kind == TxKind::Signature {
                    let payload = payload
                        .ok_or_else(|| rejected(seqno, "a signature transaction with a payload"))?;
                    if payload.seqno != seqno || payload.view != tx_id.view() {
                        return Err(rejected(
                            seqno,
                            format!(
                                "a signature payload for {tx_id}, not view {} seqno {}",
                                payload.view, payload.seqno
                            ),
                        ));
                    }
                    let root = tree.root();
                    if root != payload.root {
                        return Err(rejected(
                            seqno,
                            format!(
                                "a signature over root {} of the leaves here, not {}",
                                hex::encode(root),
                                hex::encode(payload.root)
                            ),
                        ));
                    }
                    self.check_root_signature(state, service, seqno, &payload, &prepared)?;
                    signed = Some(Arc::new(RootSignature::from_payload(&payload)));
                    group
                        .signatures
                        .push((seqno, entry::encode_signature(&payload)));
                }
                tree.push(prepared.leaf);
                rows.add(&mut group, prepared)?;
            }
            Ok(())
        })();
        state.rows = rows;
        if let Err(e) = checked {
            discard_run(state, &mut tree, expected_first)?;
            return Err(e);
        }
        let Some(signed) = signed else {
            state.pending_bytes += replicated.bytes();
            state.pending_from.get_or_insert(expected_first);
            state.pending_views.extend(new_views);
            state.pending.push(group);
            if state.pending_bytes > MAX_PENDING_BYTES {
                discard_run(state, &mut tree, expected_first)?;
                return Err(rejected(
                    first,
                    format!("a signature within {MAX_PENDING_BYTES} bytes of entries"),
                ));
            }
            return Ok(None);
        };
        group.tiles = self.take_tiles(&mut tree);
        group.commit = true;
        let mut run = std::mem::take(&mut state.pending);
        run.push(group);
        let mut views = std::mem::take(&mut state.pending_views);
        views.extend(new_views);
        state.pending_from = None;
        state.pending_bytes = 0;
        Ok(Some((run, signed, views)))
    }

    /// The checks of each entry that need no other entry (see [`check_entry`]), over several
    /// threads when the group is large enough to pay for them.
    fn check_entries(
        &self,
        first: u64,
        entries: &[ReplicatedEntry],
    ) -> Vec<Result<CheckedEntry, Error>> {
        let threads = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .min(MAX_CHECK_THREADS);
        if threads < 2 || entries.len() < PARALLEL_CHECK_MIN {
            return entries
                .iter()
                .enumerate()
                .map(|(i, e)| check_entry(&self.secret, first + i as u64, e))
                .collect();
        }
        let chunk = entries.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = entries
                .chunks(chunk)
                .enumerate()
                .map(|(c, part)| {
                    let secret = &self.secret;
                    let base = first + (c * chunk) as u64;
                    scope.spawn(move || {
                        part.iter()
                            .enumerate()
                            .map(|(i, e)| check_entry(secret, base + i as u64, e))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .enumerate()
                .flat_map(|(c, handle)| {
                    handle.join().unwrap_or_else(|_| {
                        vec![Err(Error::corruption(
                            "replicated group",
                            format!(
                                "checking entries from {} stopped",
                                first + (c * chunk) as u64
                            ),
                        ))]
                    })
                })
                .collect()
        })
    }

    /// The node signature over the root, or the COSE signature where the node signature is
    /// empty.
    fn check_root_signature(
        &self,
        state: &mut BackupState,
        service: &ParsedCert,
        seqno: u64,
        payload: &entry::SignaturePayload,
        prepared: &crate::pipeline::Prepared,
    ) -> Result<(), Error> {
        let cert = match state.endorsed.get(&payload.node_cert_pem) {
            Some(cert) => Arc::clone(cert),
            None => {
                let cert = ParsedCert::parse(payload.node_cert_pem.as_bytes())
                    .map_err(|e| rejected(seqno, format!("a node certificate that parses: {e}")))?;
                validate_path(&cert, &[], service, None).map_err(|(role, violation)| {
                    rejected(
                        seqno,
                        format!(
                            "a node certificate the service certificate endorses: {role}: {} \
                             ({:?})",
                            violation.detail, violation.rule
                        ),
                    )
                })?;
                if state.endorsed.len() >= MAX_ENDORSED {
                    state.endorsed.clear();
                }
                let cert = Arc::new(cert);
                state
                    .endorsed
                    .insert(payload.node_cert_pem.clone(), Arc::clone(&cert));
                cert
            }
        };
        // Every byte of a signature transaction must be the one form an honest primary
        // writes: its own root does not cover it (the next one does), so any other form that
        // still verified would give this backup's copy of the transaction other bytes.
        if cert.pem != payload.node_cert_pem {
            return Err(rejected(
                seqno,
                "the node certificate in canonical PEM (LF line endings, nothing around it)",
            ));
        }
        if cert.node_id != payload.node_id {
            return Err(rejected(
                seqno,
                format!(
                    "node id {} of the signing certificate, not {:?}",
                    cert.node_id, payload.node_id
                ),
            ));
        }
        if !payload.signature.is_empty() {
            let canonical = canonical_signature(cert.key.algorithm(), &payload.signature)
                .map_err(|e| rejected(seqno, format!("a node signature: {e}")))?;
            if canonical != payload.signature {
                return Err(rejected(
                    seqno,
                    "a node signature in canonical form (minimal DER, low s)",
                ));
            }
            cert.verify_root_signature(&payload.root, &payload.signature)
                .map_err(|e| rejected(seqno, format!("a node signature over the root: {e}")))?;
        }
        // A signature transaction writes its COSE signed root and nothing else, and appends
        // nothing (what `sign_at` records).
        let writes = prepared.table_writes();
        let cose_signed = match writes.as_slice() {
            [] => None,
            [(table, key, Some(value))]
                if table == COSE_SIGNATURES_TABLE && key == COSE_SIGNATURE_KEY =>
            {
                Some(value)
            }
            _ => {
                return Err(rejected(
                    seqno,
                    "a signature transaction that writes its COSE signed root and nothing else",
                ))
            }
        };
        let Some(cose_signed) = cose_signed else {
            if payload.signature.is_empty() {
                return Err(rejected(
                    seqno,
                    "a node signature, or a COSE signature where the node signature is empty",
                ));
            }
            return Ok(());
        };
        let key = cose::CoseKey::of_certificate(service).map_err(|e| {
            rejected(
                seqno,
                format!("a P-256 service key to check a COSE root: {e}"),
            )
        })?;
        let (named, _) = cose::verify_signed_root(cose_signed, &key, &payload.root)
            .map_err(|e| rejected(seqno, format!("a COSE signature over the root: {e}")))?;
        if named != TxId::new(payload.view, seqno)? {
            return Err(rejected(
                seqno,
                format!("a COSE signature naming this transaction, not {named}"),
            ));
        }
        if !cose::signed_root_is_low_s(cose_signed)? {
            return Err(rejected(seqno, "a COSE signature in low-s form"));
        }
        Ok(())
    }
}

/// Drops the held run and truncates the tree back to where it began (or to `current`, the
/// tree's length, when nothing is held).
fn discard_run(
    state: &mut BackupState,
    tree: &mut ledger_merkle::MerkleTree<ledger_merkle::CcfSha256>,
    current: u64,
) -> Result<(), Error> {
    let back_to = state.pending_from.take().unwrap_or(current);
    state.pending.clear();
    state.pending_views.clear();
    state.pending_bytes = 0;
    tree.truncate(back_to)
        .map_err(|m| Error::corruption("Merkle tree", format!("undoing a refused group: {m}")))
}

/// Most threads a backup checks one group's entries on.
const MAX_CHECK_THREADS: usize = 4;
/// Smallest group whose entries are checked on several threads.
const PARALLEL_CHECK_MIN: usize = 256;

/// An entry that passed the checks [`check_entry`] makes.
struct CheckedEntry {
    tx_id: TxId,
    kind: TxKind,
    payload: Option<entry::SignaturePayload>,
    prepared: Prepared,
}

/// The checks of one entry that need no other entry: it is at `seqno`, decodes, names that
/// seqno, re-encodes to the same bytes with the commit evidence derived from `secret` (so its
/// header and encoding are right), and, for a signature transaction, appends and claims
/// nothing. Hashes its leaf.
fn check_entry(
    secret: &CommitSecret,
    seqno: u64,
    e: &ReplicatedEntry,
) -> Result<CheckedEntry, Error> {
    if e.seqno != seqno {
        return Err(rejected(e.seqno, format!("seqno {seqno} next")));
    }
    let decoded = entry::decode(&e.bytes)
        .map_err(|err| rejected(seqno, format!("an entry that decodes: {err}")))?;
    let tx_id = decoded.tx_id;
    if tx_id.seqno() != seqno {
        return Err(rejected(
            seqno,
            format!("an entry for seqno {seqno}, not {tx_id}"),
        ));
    }
    let payload = decoded.body.signature.clone();
    let kind = decoded.kind;
    if kind == TxKind::Signature
        && (!decoded.body.appends.is_empty() || decoded.body.claims_digest != [0; 32])
    {
        return Err(rejected(
            seqno,
            "a signature transaction that appends nothing and claims nothing",
        ));
    }
    let prepared = prepare(secret, tx_id, Submission::new(kind, decoded.body)?);
    if prepared.record.bytes() != e.bytes.as_slice() {
        return Err(rejected(
            seqno,
            "an entry that re-encodes to the same bytes with the commit evidence derived here \
             (its header's digest, its evidence or its encoding differ)",
        ));
    }
    Ok(CheckedEntry {
        tx_id,
        kind,
        payload,
        prepared,
    })
}
