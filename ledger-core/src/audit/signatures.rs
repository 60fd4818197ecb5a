//! The signature checks (step 4 of the audit): every signature transaction names its own
//! view and seqno, signs the recomputed root, with a node certificate the service key issued
//! under the node id of its key, and the store's signature index holds exactly its payload.
//! A signature transaction written in COSE-only mode has an empty node signature and must
//! carry a COSE signature under the service key instead (verified with the entry's writes).

use std::sync::Arc;

use super::report::{AuditReport, Finding, FindingKind, SignedRoot};
use super::run::{Auditor, Step};
use crate::entry::{self, SignaturePayload};
use crate::identity::{validate_path, ParsedCert};
use crate::txid::TxId;

/// Most verified certificates the audit remembers; beyond this it starts over, so memory
/// stays bounded however many distinct certificates a ledger holds.
pub(crate) const MAX_CACHED_CERTIFICATES: usize = 1024;

impl Auditor<'_> {
    /// Parses `pem` and checks the service certificate endorses it by the path rules receipts
    /// are held to (and its validity, if asked).
    pub(super) fn verify_node_cert(&mut self, seqno: u64, pem: &str) -> Step<Arc<ParsedCert>> {
        if let Some(cert) = self.verified.get(pem) {
            return Ok(Arc::clone(cert));
        }
        let cert = ParsedCert::parse(pem.as_bytes()).map_err(|e| {
            Finding::at(
                FindingKind::CertificateChain,
                seqno,
                "a node certificate",
                e,
            )
        })?;
        validate_path(
            &cert,
            &[],
            &self.service,
            self.options.certificates_valid_at,
        )
        .map_err(|(role, violation)| {
            Finding::at(
                FindingKind::CertificateChain,
                seqno,
                format!(
                    "a node certificate issued by the service key {}",
                    self.service.node_id
                ),
                format!("{role}: {} ({:?})", violation.detail, violation.rule),
            )
        })?;
        if self.verified.len() >= MAX_CACHED_CERTIFICATES {
            self.verified.clear();
        }
        let cert = Arc::new(cert);
        self.verified.insert(pem.to_owned(), Arc::clone(&cert));
        Ok(cert)
    }

    pub(super) fn check_signature(
        &mut self,
        tx_id: TxId,
        payload: &SignaturePayload,
        cose_signed: bool,
        record: Option<&[u8]>,
        report: &mut AuditReport,
    ) -> Step {
        let seqno = tx_id.seqno();
        if payload.seqno != seqno || payload.view != tx_id.view() {
            return Err(Finding::at(
                FindingKind::SignatureMismatch,
                seqno,
                format!("a signature payload for {tx_id}"),
                format!("one for view {} seqno {}", payload.view, payload.seqno),
            )
            .into());
        }
        let recomputed = self.tree.root();
        let suspect = self.suspect.take();
        if recomputed != payload.root {
            if let Some(s) = suspect {
                return Err(Finding::at(
                    FindingKind::EntryAltered,
                    s.seqno,
                    format!(
                        "the entry whose leaf {} is in the tree, and which the root signed at {seqno} covers",
                        hex::encode(s.stored)
                    ),
                    format!(
                        "an entry with leaf {}; the root signed at {seqno} does not recompute",
                        hex::encode(s.recomputed)
                    ),
                )
                .into());
            }
            return Err(Finding::at(
                FindingKind::RootMismatch,
                seqno,
                format!(
                    "the signed root {} over leaves 0..{seqno}",
                    hex::encode(payload.root)
                ),
                format!(
                    "root {} recomputed from the entries",
                    hex::encode(recomputed)
                ),
            )
            .into());
        }
        if let Some(s) = suspect {
            return Err(Finding::at(
                FindingKind::TileMismatch,
                s.seqno,
                format!(
                    "leaf {} in the stored tree (recomputed from the entry, which the root signed at {seqno} confirms)",
                    hex::encode(s.recomputed)
                ),
                format!("leaf {}", hex::encode(s.stored)),
            )
            .into());
        }
        let cert = self.verify_node_cert(seqno, &payload.node_cert_pem)?;
        let node_id = &cert.node_id;
        if *node_id != payload.node_id {
            return Err(Finding::at(
                FindingKind::NodeIdMismatch,
                seqno,
                format!("node id {node_id} of the signing certificate"),
                format!("node id {:?}", payload.node_id),
            )
            .into());
        }
        // Below a trusted root the signature was verified by an earlier audit, and the root
        // recomputed at the trusted seqno vouches that this entry has not changed since.
        let trusted = seqno < self.options.trusted_below;
        if payload.signature.is_empty() {
            // Written in COSE-only mode: the service key's COSE signature, which the entry
            // checks verify next, is the root's one signature.
            if !cose_signed {
                return Err(Finding::at(
                    FindingKind::BadSignature,
                    seqno,
                    format!(
                        "a node signature or a COSE signature over root {}",
                        hex::encode(payload.root)
                    ),
                    "neither: an empty node signature and no COSE signature",
                )
                .into());
            }
        } else if !trusted {
            cert.verify_root_signature(&payload.root, &payload.signature)
                .map_err(|e| {
                    Finding::at(
                        FindingKind::BadSignature,
                        seqno,
                        format!(
                            "a signature over root {} by node {node_id}",
                            hex::encode(payload.root)
                        ),
                        e,
                    )
                })?;
        }
        let expected = entry::encode_signature(payload);
        match record {
            Some(r) if r == expected.as_slice() => {}
            Some(r) => {
                let what = match entry::decode_signature(r) {
                    Ok(p) => describe_payload_difference(payload, &p),
                    Err(e) => format!("a record that does not decode ({e})"),
                };
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    seqno,
                    "the signature record equal to the signature transaction's payload",
                    what,
                )
                .into());
            }
            None => {
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    seqno,
                    "a signature record for this signature transaction",
                    "none",
                )
                .into());
            }
        }
        report.signatures += 1;
        report.last_signature = Some(SignedRoot {
            tx_id,
            root: payload.root,
        });
        Ok(())
    }
}

fn describe_payload_difference(entry: &SignaturePayload, record: &SignaturePayload) -> String {
    let mut fields = Vec::new();
    if entry.view != record.view || entry.seqno != record.seqno {
        fields.push(format!("view {} seqno {}", record.view, record.seqno));
    }
    if entry.root != record.root {
        fields.push(format!("root {}", hex::encode(record.root)));
    }
    if entry.node_id != record.node_id {
        fields.push(format!("node id {:?}", record.node_id));
    }
    if entry.signature != record.signature {
        fields.push("another signature".to_owned());
    }
    if entry.node_cert_pem != record.node_cert_pem {
        fields.push("another certificate".to_owned());
    }
    if fields.is_empty() {
        "a record that encodes the same payload differently".to_owned()
    } else {
        format!("a record with {}", fields.join(", "))
    }
}
