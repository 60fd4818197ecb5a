//! The structural checks of one entry (steps 1 to 3 and 6 of the audit): it decodes at its
//! seqno in the view the history assigns, entry 1 is the genesis record of the service
//! certificate, writes to the engine's own tables are legitimate, and the collection and
//! table indexes hold its rows.

use ledger_store::TableVersion;

use super::report::{AuditReport, Finding, FindingKind};
use super::run::{store_stop, Auditor, Step, Suspect};
use crate::cose;
use crate::entry::{self, LedgerEntry, TableOp, TxKind};
use crate::state::{
    check_service_record, EntryLeaf, LedgerInstance, COSE_SIGNATURES_TABLE, COSE_SIGNATURE_KEY,
    INSTANCE_KEY, NODES_TABLE, SERVICE_CERT_KEY, SERVICE_TABLE,
};

impl Auditor<'_> {
    /// Every check of one entry (steps 1 to 6 of the module docs).
    pub(super) fn check_entry(
        &mut self,
        seqno: u64,
        bytes: &[u8],
        write_set_digest: &[u8; 32],
        sig_record: Option<Vec<u8>>,
        committed: u64,
        report: &mut AuditReport,
    ) -> Step<LedgerEntry> {
        let header = entry::decode_header(bytes).map_err(|e| {
            Finding::at(
                FindingKind::Undecodable,
                seqno,
                "a valid entry header",
                e.to_string(),
            )
        })?;
        let (kind, tx_id) = (header.kind, header.tx_id);
        // Entries record the commit-evidence digest from format version 2 on; a legacy entry
        // after a current one is not something the engine writes.
        let current = header.commit_evidence_digest.is_some();
        if self.seen_current_format && !current {
            return Err(Finding::at(
                FindingKind::Undecodable,
                seqno,
                "an entry in the current format, as every entry after the first one is",
                "a version-1 entry, which records no commit-evidence digest",
            )
            .into());
        }
        if let (false, Some(digest)) = (self.seen_current_format, header.commit_evidence_digest) {
            self.first_digest = Some((header.tx_id, digest));
        }
        self.seen_current_format |= current;
        if tx_id.seqno() != seqno {
            return Err(Finding::at(
                FindingKind::SeqnoMismatch,
                seqno,
                format!("header seqno {seqno}"),
                format!(
                    "header seqno {} (transaction {tx_id}, {kind:?})",
                    tx_id.seqno()
                ),
            )
            .into());
        }
        let view = self.view_of(seqno);
        if tx_id.view() != view {
            return Err(Finding::at(
                FindingKind::ViewMismatch,
                seqno,
                format!("view {view} (from the view history)"),
                format!("view {}", tx_id.view()),
            )
            .into());
        }
        if tx_id.view() < self.last_view {
            return Err(Finding::at(
                FindingKind::ViewMismatch,
                seqno,
                format!("a view of at least {}", self.last_view),
                format!("view {}", tx_id.view()),
            )
            .into());
        }
        let entry = entry::decode(bytes).map_err(|e| {
            Finding::at(
                FindingKind::Undecodable,
                seqno,
                "an entry that decodes",
                e.to_string(),
            )
        })?;
        if seqno > 1
            && entry.kind != TxKind::Signature
            && self
                .views
                .as_slice()
                .iter()
                .any(|(_, first)| *first == seqno)
        {
            return Err(Finding::at(
                FindingKind::ViewStart,
                seqno,
                format!(
                    "a signature transaction opening view {} after a recovery",
                    tx_id.view()
                ),
                format!("a {:?} transaction", entry.kind),
            )
            .into());
        }
        self.last_view = tx_id.view();
        if seqno == 1 {
            self.check_genesis(&entry)?;
        }
        self.check_reserved_writes(&entry)?;
        // The store computed the digest from the bytes it read (`Store::entry_records`).
        let inputs = EntryLeaf {
            write_set_digest: *write_set_digest,
            claims_digest: entry.body.claims_digest,
        };
        let leaf = match (&entry.commit_evidence_digest, &self.secret) {
            (Some(digest), _) => inputs.leaf_of_digest(digest),
            (None, Some(secret)) => inputs.leaf_under(secret, tx_id),
            (None, None) => {
                return Err(Finding::at(
                    FindingKind::Metadata,
                    seqno,
                    "the commit secret, which only the leaf of a version-1 entry needs",
                    "no readable commit secret (sealed, and no key-encryption key given)",
                )
                .into())
            }
        };
        match (&entry.body.signature, sig_record) {
            (Some(payload), record) => {
                let cose_signed = entry
                    .body
                    .writes
                    .iter()
                    .any(|w| w.table == COSE_SIGNATURES_TABLE && w.value.is_some());
                self.check_signature(tx_id, payload, cose_signed, record.as_deref(), report)?;
            }
            (None, Some(_)) => {
                return Err(Finding::at(
                    FindingKind::SignatureIndex,
                    seqno,
                    format!("no signature record (a {kind:?} transaction)"),
                    "a signature record",
                )
                .into());
            }
            (None, None) => {}
        }
        for write in entry
            .body
            .writes
            .iter()
            .filter(|w| w.table == COSE_SIGNATURES_TABLE)
        {
            self.check_cose_signature(&entry, write)?;
        }
        if kind == TxKind::Signature && seqno > committed {
            return Err(Finding::at(
                FindingKind::CommitState,
                seqno,
                format!("no signature above the store's committed seqno {committed}"),
                "a signature transaction",
            )
            .into());
        }
        if self.options.check_tiles && self.suspect.is_none() {
            let stored = self.stored_leaf(seqno)?;
            if stored != leaf {
                self.suspect = Some(Suspect {
                    seqno,
                    stored,
                    recomputed: leaf,
                });
            }
        }
        self.tree.push(leaf);
        // With the leaf in doubt, the next signature says whether the entry is genuine; an
        // index check now would blame the index for an altered entry.
        if self.options.check_indexes && self.suspect.is_none() {
            self.check_indexes(&entry)?;
        }
        Ok(entry)
    }

    /// Entry 1: the genesis transaction recording the service certificate.
    pub(super) fn check_genesis(&self, entry: &LedgerEntry) -> Step {
        let recorded = entry
            .body
            .writes
            .iter()
            .find(|w| w.table == SERVICE_TABLE && w.key == SERVICE_CERT_KEY);
        let Some(value) = recorded.and_then(|w| w.value.as_ref()) else {
            return Err(Finding::at(
                FindingKind::ServiceIdentity,
                1,
                format!("a genesis transaction recording {SERVICE_TABLE:?} \"cert\""),
                format!("a {:?} transaction without it", entry.kind),
            )
            .into());
        };
        check_service_record(&self.service.der, value).map_err(|found| {
            Finding::at(
                FindingKind::ServiceIdentity,
                1,
                format!(
                    "the service certificate of the metadata (key {})",
                    self.service.node_id
                ),
                format!("{found} recorded in {SERVICE_TABLE:?}"),
            )
            .in_table(SERVICE_TABLE, SERVICE_CERT_KEY)
            .into()
        })
    }

    /// Writes to the engine's own tables: the service certificate is written once, by
    /// genesis, and never again (not even with the same value, nor removed); each version of
    /// the instance record is valid and follows the one before it, and it is never removed;
    /// `internal.service` holds nothing else; node certificates are issued by the service
    /// key and recorded under their node id.
    pub(super) fn check_reserved_writes(&mut self, entry: &LedgerEntry) -> Step {
        let seqno = entry.tx_id.seqno();
        for w in &entry.body.writes {
            // Verified after the node's signature (see `check_entry`), so that a forged root
            // is reported as such rather than as a COSE signature that does not match it.
            if w.table == COSE_SIGNATURES_TABLE {
                continue;
            }
            if w.table == SERVICE_TABLE && w.key == INSTANCE_KEY {
                self.check_instance_record(seqno, w.value.as_deref())?;
                continue;
            }
            if w.table == SERVICE_TABLE && w.key != SERVICE_CERT_KEY {
                return Err(Finding::at(
                    FindingKind::ServiceIdentity,
                    seqno,
                    "only the engine's records (\"cert\", \"instance\") in internal.service",
                    "another key written",
                )
                .in_table(&w.table, &w.key)
                .into());
            }
            if w.table == SERVICE_TABLE && seqno != 1 {
                return Err(Finding::at(
                    FindingKind::ServiceIdentity,
                    seqno,
                    "the genesis service certificate, never written again",
                    match &w.value {
                        Some(value) => format!(
                            "{} written after genesis",
                            check_service_record(&self.service.der, value)
                                .map_or_else(|other| other, |()| "the same certificate".into())
                        ),
                        None => "its removal".into(),
                    },
                )
                .in_table(&w.table, &w.key)
                .into());
            }
            let Some(value) = &w.value else { continue };
            if w.table == NODES_TABLE {
                let pem = String::from_utf8_lossy(value);
                let node_id = self.verify_node_cert(seqno, &pem)?.node_id.clone();
                if node_id.as_bytes() != w.key.as_slice() {
                    return Err(Finding::at(
                        FindingKind::NodeIdMismatch,
                        seqno,
                        format!("node record under its certificate's node id {node_id}"),
                        format!("a record under {:?}", String::from_utf8_lossy(&w.key)),
                    )
                    .in_table(&w.table, &w.key)
                    .into());
                }
            }
        }
        Ok(())
    }

    /// A COSE-signed root: written only by a signature transaction, under its one key, and
    /// verifying with the service key over that transaction's root and id.
    fn check_cose_signature(&self, entry: &LedgerEntry, write: &TableOp) -> Step {
        let seqno = entry.tx_id.seqno();
        let finding = |expected: &str, found: String| {
            Finding::at(FindingKind::CoseSignature, seqno, expected, found)
                .in_table(&write.table, &write.key)
                .into()
        };
        let (Some(payload), Some(value)) = (&entry.body.signature, &write.value) else {
            return Err(finding(
                "a COSE signature written by a signature transaction",
                format!(
                    "{} by a {:?} transaction",
                    if write.value.is_some() {
                        "one written"
                    } else {
                        "its removal"
                    },
                    entry.kind
                ),
            ));
        };
        if write.key != COSE_SIGNATURE_KEY {
            return Err(finding(
                "the COSE signature under its one key",
                format!("key {:?}", String::from_utf8_lossy(&write.key)),
            ));
        }
        let Ok(key) = cose::CoseKey::of_certificate(&self.service) else {
            return Err(finding(
                "a P-256 service key, the only one COSE roots are signed with",
                "another curve".into(),
            ));
        };
        let (named, _) = cose::verify_signed_root(value, &key, &payload.root).map_err(|e| {
            finding(
                "a COSE signature by the service key over this root",
                e.to_string(),
            )
        })?;
        if named != entry.tx_id {
            return Err(finding(
                &format!("a COSE signature naming transaction {}", entry.tx_id),
                format!("one naming {named}"),
            ));
        }
        Ok(())
    }

    /// One version of the instance record (see `state.rs`): it decodes, and follows the
    /// version before it (a first one has epoch 1; a later one keeps the ledger id and has
    /// the next epoch).
    fn check_instance_record(&mut self, seqno: u64, value: Option<&[u8]>) -> Step {
        let finding = |expected: String, found: String| {
            Finding::at(FindingKind::LedgerInstance, seqno, expected, found)
                .in_table(SERVICE_TABLE, INSTANCE_KEY)
                .into()
        };
        let Some(value) = value else {
            return Err(finding(
                "an instance record that is never removed".into(),
                "its removal".into(),
            ));
        };
        let instance = LedgerInstance::decode(value)
            .map_err(|e| finding("a valid instance record".into(), e))?;
        instance
            .check_successor(self.instance.as_ref())
            .map_err(|e| finding("an instance record that follows the one before".into(), e))?;
        self.instance = Some(instance);
        Ok(())
    }

    pub(super) fn check_indexes(&mut self, entry: &LedgerEntry) -> Step {
        let seqno = entry.tx_id.seqno();
        for append in &entry.body.appends {
            if !self
                .index_rows
                .has_row(self.store, &append.collection, seqno)?
            {
                return Err(Finding::at(
                    FindingKind::IndexMismatch,
                    seqno,
                    format!("an index row of collection {:?}", append.collection),
                    "none",
                )
                .into());
            }
        }
        for w in &entry.body.writes {
            let versions = self
                .store
                .table_history(&w.table, &w.key, seqno..=seqno, 1)
                .map_err(|e| store_stop(e, Some(seqno), "table index"))?;
            let expected = TableVersion {
                seqno,
                value: w.value.clone(),
            };
            if versions.first() != Some(&expected) || versions.len() != 1 {
                return Err(Finding::at(
                    FindingKind::IndexMismatch,
                    seqno,
                    format!(
                        "a version of table {:?} key {} as written",
                        w.table,
                        hex::encode(&w.key)
                    ),
                    match versions.first() {
                        Some(v) => format!(
                            "a version with {}",
                            v.value.as_ref().map_or_else(
                                || "a removal".to_owned(),
                                |v| format!("{} bytes", v.len())
                            )
                        ),
                        None => "none".to_owned(),
                    },
                )
                .into());
            }
        }
        Ok(())
    }
}
