//! The governance replay, one check of the audit: it replays the ledger's entries and
//! confirms that every governance change is legitimate, reporting the first one that is not.
//!
//! The audit reads nothing but the entries (it rebuilds the governance tables from the
//! write sets of governance transactions, and the signed roots from signature
//! transactions), so it checks the ledger itself, not the store's indexes. For each
//! governance transaction, in order:
//!
//! * A transaction recording a signed request (it writes `gov.history`) must record exactly
//!   one, and the request must be valid against the state before it (service id, the
//!   ledger instance in force at that point, member, signature, counter, status, the
//!   request's own rules), checked by the same code the ledger runs. The instance in force
//!   is the newest `internal.service` `instance` record before the transaction (none before
//!   the first, when only version-1 requests are valid), so a history written by older code
//!   and continued by this version replays as the ledgers accepted it. Re-executing it gives the exact writes the transaction must make (the
//!   ballot, the proposal's new state with the ballots counted under the constitution in
//!   force, the actions' effects); any difference, byte for byte, is a violation. So an
//!   accepted proposal whose ballots did not meet the rule, or an effect no proposal
//!   decided, is caught.
//! * A transaction without a request may, once the ledger has members, change only users
//!   (`gov.users`, to defined roles), node measurements (`gov.nodes`, to allowed code ids)
//!   and node certificates (`internal.nodes`). Before the ledger has members the program
//!   administers everything, and such changes are accepted as long as they are well formed.
//! * Every value written to a governance table must decode as its table's record, and no
//!   transaction other than a governance one may write a reserved table. (That the service
//!   certificate never changes after genesis is checked once, by `entries`.)

use std::collections::BTreeMap;
use std::fmt;

use ledger_store::Store;

use super::report::{AuditReport, EntryCheck, Finding, FindingKind, GovernanceSummary};
use crate::entry::{self, TxKind};
use crate::error::Error;
use crate::governance::codec::show_key;
use crate::governance::exec::{self, Expect, GovRead, Overlay, Rows, Versioned, Writes};
use crate::governance::members::{CodeIdRecord, MemberRecord, NodeAttestation, UserRecord};
use crate::governance::proposals::{self, BallotRecord, ProposalRecord};
use crate::governance::request::SignedRequest;
use crate::governance::roles::RoleDefinition;
use crate::governance::{
    service_id_of, Constitution, BALLOTS_TABLE, CODE_IDS_TABLE, CONSTITUTION_TABLE, HISTORY_TABLE,
    MEMBERS_TABLE, NODE_ATTESTATIONS_TABLE, PROPOSALS_TABLE, ROLES_TABLE, USERS_TABLE,
};
use crate::refusal::{ProposalState, RequestKind};
use crate::state::{is_reserved, NODES_TABLE, SERVICE_CERT_KEY, SERVICE_TABLE};
use crate::txid::TxId;

/// The first illegitimate governance change found, before it becomes a [`Finding`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Violation {
    /// The transaction that made it.
    tx_id: TxId,
    /// The rule it breaks.
    kind: FindingKind,
    /// The table concerned, if one.
    table: Option<String>,
    /// The key concerned (UTF-8, or `0x`-hex), if one.
    key: Option<String>,
    /// What exactly is wrong.
    detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transaction {}: {:?}", self.tx_id, self.kind)?;
        if let Some(table) = &self.table {
            write!(f, " at {table}")?;
            if let Some(key) = &self.key {
                write!(f, "[{key}]")?;
            }
        }
        write!(f, ": {}", self.detail)
    }
}

type Table = BTreeMap<Vec<u8>, (u64, Vec<u8>)>;

/// The governance tables rebuilt from entries: live values with the seqno that wrote them,
/// and the root signed at each signature transaction.
#[derive(Default)]
struct Model {
    /// Table -> key -> (seqno that wrote it, value).
    tables: BTreeMap<String, Table>,
    roots: BTreeMap<u64, [u8; 32]>,
}

impl GovRead for Model {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Versioned>, Error> {
        Ok(self
            .tables
            .get(table)
            .and_then(|t| t.get(key))
            .map(|(seqno, value)| Versioned {
                value: value.clone(),
                seqno: *seqno,
            }))
    }

    fn scan(&self, table: &str, prefix: &[u8]) -> Result<Rows, Error> {
        Ok(self
            .tables
            .get(table)
            .map(|t| {
                t.range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, (_, v))| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn signature_root(&self, seqno: u64) -> Result<Option<[u8; 32]>, Error> {
        Ok(self.roots.get(&seqno).copied())
    }
}

impl Model {
    fn apply(&mut self, seqno: u64, writes: &Writes) {
        for ((table, key), value) in writes {
            let t = self.tables.entry(table.clone()).or_default();
            match value {
                Some(v) => {
                    t.insert(key.clone(), (seqno, v.clone()));
                }
                None => {
                    t.remove(key);
                }
            }
        }
    }
}

fn violation(
    tx_id: TxId,
    kind: FindingKind,
    at: Option<(&str, &[u8])>,
    detail: impl Into<String>,
) -> Violation {
    Violation {
        tx_id,
        kind,
        table: at.map(|(t, _)| t.to_owned()),
        key: at.map(|(_, k)| show_key(k)),
        detail: detail.into(),
    }
}

fn describe(value: Option<&Option<Vec<u8>>>) -> String {
    match value {
        None => "no write".into(),
        Some(None) => "a removal".into(),
        Some(Some(v)) => match std::str::from_utf8(v) {
            Ok(text) => format!("{:?}", crate::governance::codec::shorten(text)),
            Err(_) => format!("{} bytes", v.len()),
        },
    }
}

/// Checks that `value` decodes as the record `table` holds.
fn check_record(table: &str, value: &[u8]) -> Result<(), String> {
    fn decodes<T: serde::de::DeserializeOwned>(value: &[u8]) -> Result<(), String> {
        serde_json::from_slice::<T>(value)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
    match table {
        MEMBERS_TABLE => decodes::<MemberRecord>(value),
        USERS_TABLE => decodes::<UserRecord>(value),
        ROLES_TABLE => decodes::<RoleDefinition>(value),
        PROPOSALS_TABLE => decodes::<ProposalRecord>(value),
        BALLOTS_TABLE => decodes::<BallotRecord>(value),
        HISTORY_TABLE => SignedRequest::from_json(
            std::str::from_utf8(value).map_err(|_| "not UTF-8".to_owned())?,
        )
        .map(|_| ())
        .map_err(|e| e.to_string()),
        CODE_IDS_TABLE => decodes::<CodeIdRecord>(value),
        NODE_ATTESTATIONS_TABLE => decodes::<NodeAttestation>(value),
        CONSTITUTION_TABLE => std::str::from_utf8(value)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(|t| Constitution::parse(t).map_err(|e| e.to_string()))
            .map(|_| ()),
        SERVICE_TABLE | NODES_TABLE => Ok(()),
        t if proposals::check_app_table(t).is_ok() => Ok(()),
        _ => Err("no governance operation writes this table".into()),
    }
}

/// The replay's state: the rebuilt tables, what it counted, and the first violation.
#[derive(Default)]
struct Auditor {
    model: Model,
    report: GovernanceSummary,
    violation: Option<Violation>,
}

impl Auditor {
    /// Replays one entry; on a violation, records it in the report and returns it.
    fn entry(&mut self, decoded: &entry::LedgerEntry) -> Result<(), Violation> {
        self.transaction(decoded).inspect_err(|v| {
            self.violation = Some(v.clone());
        })
    }

    fn transaction(&mut self, decoded: &entry::LedgerEntry) -> Result<(), Violation> {
        let tx_id = decoded.tx_id;
        let seqno = tx_id.seqno();
        match decoded.kind {
            TxKind::Signature => {
                if let Some(sig) = &decoded.body.signature {
                    self.model.roots.insert(seqno, sig.root);
                }
                Ok(())
            }
            TxKind::Governance => {
                let writes: Writes = decoded
                    .body
                    .writes
                    .iter()
                    .filter(|w| is_reserved(&w.table))
                    .map(|w| ((w.table.clone(), w.key.clone()), w.value.clone()))
                    .collect();
                self.governance(tx_id, &writes)
                    .map_err(|e| e.unwrap_or_else(|err| storage_violation(tx_id, &err)))?;
                self.report.governance_transactions += 1;
                self.model.apply(seqno, &writes);
                Ok(())
            }
            _ => {
                if let Some(w) = decoded.body.writes.iter().find(|w| is_reserved(&w.table)) {
                    return Err(violation(
                        tx_id,
                        FindingKind::ReservedWrite,
                        Some((&w.table, &w.key)),
                        "an application transaction wrote a reserved table",
                    ));
                }
                if let Some(a) = decoded
                    .body
                    .appends
                    .iter()
                    .find(|a| is_reserved(&a.collection))
                {
                    return Err(violation(
                        tx_id,
                        FindingKind::ReservedWrite,
                        None,
                        format!(
                            "an application transaction appended to reserved collection {:?}",
                            a.collection
                        ),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Checks one governance transaction's reserved writes against the model before it.
    /// The error is a violation, or (inner) a failure to read the model.
    fn governance(&mut self, tx_id: TxId, writes: &Writes) -> Result<(), Result<Violation, Error>> {
        for ((table, key), value) in writes {
            if let Some(value) = value {
                if let Err(why) = check_record(table, value) {
                    return Err(Ok(violation(
                        tx_id,
                        FindingKind::MalformedRecord,
                        Some((table, key)),
                        why,
                    )));
                }
            }
            // Requests name the service id of the genesis certificate; that the record never
            // changes afterwards is the structural audit's check. (The instance in force,
            // which requests name too, is read from the rebuilt tables, as the ledger reads
            // it from its own.)
            if let (SERVICE_TABLE, SERVICE_CERT_KEY, Some(cert), None) = (
                table.as_str(),
                key.as_slice(),
                value,
                &self.report.service_id,
            ) {
                self.report.service_id = Some(service_id_of(cert).map_err(Err)?);
            }
        }
        let governed = exec::members_exist(&self.model).map_err(Err)?;
        let requests: Vec<_> = writes
            .iter()
            .filter(|((table, _), _)| table == HISTORY_TABLE)
            .collect();
        match requests.as_slice() {
            [] => self.direct(tx_id, writes, governed),
            [((_, key), value)] => self.request(tx_id, key, value.as_deref(), writes),
            _ => Err(Ok(violation(
                tx_id,
                FindingKind::InvalidRequest,
                Some((HISTORY_TABLE, &[])),
                format!(
                    "the transaction records {} requests; one at most",
                    requests.len()
                ),
            ))),
        }?;
        if !governed
            && exec::members_exist(&Overlay {
                base: &self.model,
                writes: writes.clone(),
            })
            .map_err(Err)?
        {
            self.report.consortium_since = Some(tx_id);
        }
        Ok(())
    }

    fn direct(
        &mut self,
        tx_id: TxId,
        writes: &Writes,
        governed: bool,
    ) -> Result<(), Result<Violation, Error>> {
        self.report.direct_changes += 1;
        let after = Overlay {
            base: &self.model,
            writes: writes.clone(),
        };
        for ((table, key), value) in writes {
            let at = Some((table.as_str(), key.as_slice()));
            match table.as_str() {
                USERS_TABLE => {
                    if let Some(value) = value {
                        let user: UserRecord =
                            exec::decode_json(table, key, value).map_err(Err)?;
                        let id = std::str::from_utf8(key).unwrap_or_default();
                        if let Err(e) = exec::check_user_change(&after, id, &user.role) {
                            return Err(Ok(violation(
                                tx_id,
                                FindingKind::InvalidChange,
                                at,
                                e.to_string(),
                            )));
                        }
                    }
                }
                NODE_ATTESTATIONS_TABLE => {
                    if let Some(value) = value {
                        let node: NodeAttestation =
                            exec::decode_json(table, key, value).map_err(Err)?;
                        if !exec::code_id_allowed(&self.model, &node.measurement).map_err(Err)? {
                            return Err(Ok(violation(
                                tx_id,
                                FindingKind::InvalidChange,
                                at,
                                format!(
                                    "measurement {} is not an allowed code id",
                                    node.measurement
                                ),
                            )));
                        }
                    }
                }
                NODES_TABLE | SERVICE_TABLE => {}
                _ if !governed => {}
                _ => {
                    return Err(Ok(violation(
                        tx_id,
                        FindingKind::UnexplainedChange,
                        at,
                        format!(
                            "written ({}) without a signed request while the ledger is governed by its members{}",
                            describe(Some(value)),
                            self.report
                                .consortium_since
                                .map(|t| format!(" (since {t})"))
                                .unwrap_or_default()
                        ),
                    )))
                }
            }
        }
        Ok(())
    }

    fn request(
        &mut self,
        tx_id: TxId,
        member_key: &[u8],
        value: Option<&[u8]>,
        writes: &Writes,
    ) -> Result<(), Result<Violation, Error>> {
        let at = Some((HISTORY_TABLE, member_key));
        let bad = |kind, detail: String| Err(Ok(violation(tx_id, kind, at, detail)));
        let Some(value) = value else {
            return bad(
                FindingKind::InvalidRequest,
                "a member's request history was removed".into(),
            );
        };
        let signed = match std::str::from_utf8(value)
            .map_err(|e| Error::malformed("signed request", "", e))
            .and_then(SignedRequest::from_json)
        {
            Ok(s) => s,
            Err(e) => return bad(FindingKind::MalformedRecord, e.to_string()),
        };
        let service_id = self.report.service_id.clone().unwrap_or_default();
        let executed = match exec::execute_request(&self.model, &service_id, &signed, &Expect::Any)
        {
            Ok(executed) => executed,
            Err(e @ (Error::Store(_) | Error::Corruption { .. })) => return Err(Err(e)),
            Err(e) => return bad(FindingKind::InvalidRequest, e.to_string()),
        };
        if executed.member_id.as_bytes() != member_key {
            return bad(
                FindingKind::InvalidRequest,
                format!(
                    "the request of member {} is recorded under another member",
                    executed.member_id
                ),
            );
        }
        let keys: std::collections::BTreeSet<&(String, Vec<u8>)> =
            executed.writes.keys().chain(writes.keys()).collect();
        for k in keys {
            let (expected, actual) = (executed.writes.get(k), writes.get(k));
            if expected != actual {
                return Err(Ok(violation(
                    tx_id,
                    FindingKind::EffectMismatch,
                    Some((&k.0, &k.1)),
                    format!(
                        "the transaction made {} where its {} from member {} makes {}",
                        describe(actual),
                        executed.kind,
                        executed.member_id,
                        describe(expected)
                    ),
                )));
            }
        }
        self.report.requests += 1;
        match executed.kind {
            RequestKind::Ack => self.report.acks += 1,
            RequestKind::Proposal => self.report.proposals += 1,
            RequestKind::Ballot => self.report.ballots += 1,
            RequestKind::Withdrawal => {}
        }
        match executed.proposal.map(|p| p.1) {
            Some(ProposalState::Accepted) => self.report.accepted += 1,
            Some(ProposalState::Rejected) => self.report.rejected += 1,
            Some(ProposalState::Withdrawn) => self.report.withdrawn += 1,
            Some(ProposalState::Failed) => self.report.failed += 1,
            Some(ProposalState::Open) | None => {}
        }
        Ok(())
    }
}

/// The governance replay as a check of the audit, registered by every entry point of
/// [`super`]: a violation becomes a [`Finding`] of a governance [`FindingKind`] at the
/// violating seqno, and the counts go to [`AuditReport::governance`].
#[derive(Default)]
pub(super) struct GovernanceCheck {
    auditor: Auditor,
}

impl fmt::Debug for GovernanceCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernanceCheck")
            .field("summary", &self.auditor.report)
            .finish_non_exhaustive()
    }
}

impl EntryCheck for GovernanceCheck {
    fn check_entry(
        &mut self,
        _store: &dyn Store,
        entry: &entry::LedgerEntry,
    ) -> Result<Result<(), Finding>, Error> {
        if self.auditor.violation.is_some() {
            return Ok(Ok(()));
        }
        Ok(self.auditor.entry(entry).map_err(|v| {
            let finding =
                Finding::new(v.kind, Some(v.tx_id.seqno()), expected_of(v.kind), v.detail);
            Finding {
                table: v.table,
                key: v.key,
                ..finding
            }
        }))
    }

    fn summarize(&self, report: &mut AuditReport) {
        report.governance = self.auditor.report.clone();
    }
}

/// What the audit expected where it found a violation of `kind`.
fn expected_of(kind: FindingKind) -> &'static str {
    match kind {
        FindingKind::UnexplainedChange => {
            "member-governed tables changed only by signed requests once the ledger has members"
        }
        FindingKind::InvalidRequest => "one valid signed request per request transaction",
        FindingKind::EffectMismatch => "exactly the writes the recorded request makes",
        FindingKind::InvalidChange => "direct changes to defined roles and allowed code ids only",
        FindingKind::MalformedRecord => "governance records that decode, in known tables",
        FindingKind::ReservedWrite => "reserved tables written only by governance transactions",
        _ => "a legitimate governance change",
    }
}

fn storage_violation(tx_id: TxId, err: &Error) -> Violation {
    violation(
        tx_id,
        FindingKind::MalformedRecord,
        None,
        format!("the governance state before this transaction does not decode: {err}"),
    )
}

#[cfg(test)]
mod tests {
    //! Violations are injected with the engine's crate-private `submit_reserved`, which is
    //! what a compromised or buggy host would have to use; the public API cannot make them.

    use super::*;
    use crate::audit::{audit_ledger, AuditOptions};
    use crate::config::LedgerConfig;
    use crate::governance::{
        Action, Genesis, MemberKey, ProposalState, Vote, CODE_IDS_TABLE, CONSTITUTION_TABLE,
        PROPOSALS_TABLE, ROLES_TABLE, USERS_TABLE,
    };
    use crate::ledger::Ledger;
    use crate::transaction::Transaction;

    fn audit(ledger: &Ledger) -> AuditReport {
        ledger.flush().unwrap();
        audit_ledger(ledger, &AuditOptions::default()).unwrap()
    }

    fn keys() -> Vec<MemberKey> {
        (1..=3u8)
            .map(|i| MemberKey::ed25519_from_seed([i; 32]))
            .collect()
    }

    /// A three-member consortium, all Active, with one open proposal (to add user bob)
    /// approved by one member so far.
    fn scenario() -> (Ledger, Vec<MemberKey>, String) {
        let keys = keys();
        let genesis = keys
            .iter()
            .fold(Genesis::new(), |g, k| g.member(k.public_key().clone()));
        let ledger = Ledger::in_memory_with(LedgerConfig::new("").genesis(genesis)).unwrap();
        let gov = ledger.governance();
        for key in &keys {
            let digest = gov.state_digest().unwrap();
            gov.ack(&gov.request_for(key).unwrap().ack(&digest).unwrap())
                .unwrap();
        }
        let proposal = gov
            .propose(
                &gov.request_for(&keys[0])
                    .unwrap()
                    .propose(vec![Action::SetUser {
                        user_id: "bob".into(),
                        role: "Administrator".into(),
                    }])
                    .unwrap(),
            )
            .unwrap();
        let id = proposal.proposal_id;
        let ballot = gov
            .request_for(&keys[0])
            .unwrap()
            .ballot(&id, Vote::Approve)
            .unwrap();
        assert_eq!(gov.ballot(&id, &ballot).unwrap().state, ProposalState::Open);
        assert!(audit(&ledger).is_clean());
        (ledger, keys, id)
    }

    fn inject(ledger: &Ledger, writes: Writes) -> TxId {
        let mut tx = Transaction::new();
        for ((table, key), value) in writes {
            match value {
                Some(v) => tx.put(&table, &key, &v),
                None => tx.remove(&table, &key),
            };
        }
        ledger.submit_reserved(tx).unwrap()
    }

    fn first_finding(ledger: &Ledger) -> Finding {
        audit(ledger)
            .finding
            .expect("the audit should find the injected change")
    }

    #[test]
    fn honest_ledger_is_clean_with_counts() {
        let (ledger, keys, id) = scenario();
        let gov = ledger.governance();
        let ballot = gov
            .request_for(&keys[1])
            .unwrap()
            .ballot(&id, Vote::Approve)
            .unwrap();
        assert_eq!(
            gov.ballot(&id, &ballot).unwrap().state,
            ProposalState::Accepted
        );
        // Sign everything first, so that no signature lands between the two audits.
        ledger.flush().unwrap();
        let report = audit(&ledger);
        assert!(report.is_clean(), "{:?}", report.finding);
        let summary = &report.governance;
        assert_eq!(summary.acks, 3);
        assert_eq!(summary.proposals, 1);
        assert_eq!(summary.ballots, 2);
        assert_eq!(summary.accepted, 1);
        assert_eq!(summary.requests, 6);
        assert_eq!(summary.service_id.as_deref(), Some(gov.service_id()));
        assert_eq!(summary.consortium_since.map(|t| t.seqno()), Some(1));
        let again = crate::audit::audit_store(&**ledger.store(), &AuditOptions::default()).unwrap();
        assert_eq!(&again.governance, summary);
    }

    #[test]
    fn constitution_changed_without_a_proposal() {
        let (ledger, _, _) = scenario();
        let mut writes = Writes::new();
        writes.insert(
            (CONSTITUTION_TABLE.into(), b"text".to_vec()),
            Some(b"Anything goes.\nrule: threshold 1\n".to_vec()),
        );
        let tx = inject(&ledger, writes);
        let v = first_finding(&ledger);
        assert_eq!(v.seqno, Some(tx.seqno()));
        assert_eq!(v.kind, FindingKind::UnexplainedChange);
        assert_eq!(v.table.as_deref(), Some(CONSTITUTION_TABLE));
        assert_eq!(v.key.as_deref(), Some("text"));
        assert!(v.found.contains("without a signed request"), "{v}");
        // Nothing before it is blamed; the report stops at it.
        assert_eq!(
            audit(&ledger).finding.and_then(|f| f.seqno),
            Some(tx.seqno())
        );
    }

    #[test]
    fn proposal_accepted_without_enough_ballots() {
        let (ledger, keys, id) = scenario();
        let gov = ledger.governance();
        // Member 2's genuine ballot, a rejection, recorded as if it had decided the
        // proposal (one approval where a strict majority of three needs two) with the
        // action applied.
        let ballot = gov
            .request_for(&keys[1])
            .unwrap()
            .ballot(&id, Vote::Reject)
            .unwrap();
        let view = gov.current_view().unwrap();
        let honest = exec::execute_request(
            &view,
            gov.service_id(),
            &ballot,
            &Expect::Target(RequestKind::Ballot, &id),
        )
        .unwrap();
        assert_eq!(
            honest.proposal.as_ref().map(|p| p.1),
            Some(ProposalState::Open)
        );
        let mut forged = honest.writes.clone();
        let (mut record, _) = exec::proposal(&view, &id).unwrap().unwrap();
        record.state = ProposalState::Accepted;
        forged.insert(
            (PROPOSALS_TABLE.into(), id.clone().into_bytes()),
            Some(serde_json::to_vec(&record).unwrap()),
        );
        forged.insert(
            (USERS_TABLE.into(), b"bob".to_vec()),
            Some(br#"{"role":"Administrator"}"#.to_vec()),
        );
        let tx = inject(&ledger, forged);
        let v = first_finding(&ledger);
        assert_eq!(v.seqno, Some(tx.seqno()));
        assert_eq!(v.kind, FindingKind::EffectMismatch);
        assert_eq!(v.table.as_deref(), Some(PROPOSALS_TABLE));
        assert_eq!(v.key.as_deref(), Some(id.as_str()));
        assert!(v.found.contains("ballot"), "{v}");
    }

    #[test]
    fn request_with_a_bad_signature() {
        let (ledger, keys, id) = scenario();
        let gov = ledger.governance();
        let mut ballot = gov
            .request_for(&keys[1])
            .unwrap()
            .ballot(&id, Vote::Approve)
            .unwrap();
        let view = gov.current_view().unwrap();
        let honest = exec::execute_request(&view, gov.service_id(), &ballot, &Expect::Any)
            .unwrap()
            .writes;
        // Same effects, but the recorded evidence does not verify.
        ballot.signature[0] ^= 1;
        let mut forged = honest;
        forged.insert(
            (
                HISTORY_TABLE.into(),
                keys[1].member_id().as_bytes().to_vec(),
            ),
            Some(ballot.to_json().unwrap().into_bytes()),
        );
        let tx = inject(&ledger, forged);
        let v = first_finding(&ledger);
        assert_eq!(
            (v.seqno, v.kind),
            (Some(tx.seqno()), FindingKind::InvalidRequest)
        );
        assert!(v.found.contains("signature"), "{v}");
    }

    #[test]
    fn direct_changes_are_checked() {
        let (ledger, _, _) = scenario();
        // A user given a role nobody defined.
        let mut writes = Writes::new();
        writes.insert(
            (USERS_TABLE.into(), b"eve".to_vec()),
            Some(br#"{"role":"Root"}"#.to_vec()),
        );
        let tx = inject(&ledger, writes);
        let v = first_finding(&ledger);
        assert_eq!(
            (v.seqno, v.kind),
            (Some(tx.seqno()), FindingKind::InvalidChange)
        );
        assert_eq!(v.key.as_deref(), Some("eve"));
    }

    #[test]
    fn malformed_records_and_unknown_tables() {
        let (ledger, _, _) = scenario();
        let mut writes = Writes::new();
        writes.insert(("gov.secret".into(), b"k".to_vec()), Some(b"v".to_vec()));
        let tx = inject(&ledger, writes);
        let v = first_finding(&ledger);
        assert_eq!(
            (v.seqno, v.kind),
            (Some(tx.seqno()), FindingKind::MalformedRecord)
        );
        assert_eq!(v.table.as_deref(), Some("gov.secret"));
    }

    #[test]
    fn an_application_check_runs_after_the_governance_replay() {
        /// Counts the entries it is shown and refuses none.
        #[derive(Default)]
        struct Counter(u64);
        impl EntryCheck for Counter {
            fn check_entry(
                &mut self,
                _store: &dyn Store,
                _entry: &entry::LedgerEntry,
            ) -> Result<Result<(), Finding>, Error> {
                self.0 += 1;
                Ok(Ok(()))
            }
        }
        let (ledger, _, _) = scenario();
        ledger.flush().unwrap();
        let mut counter = Counter::default();
        let report = crate::audit::audit_store_with(
            &**ledger.store(),
            &AuditOptions::default(),
            &mut [&mut counter],
        )
        .unwrap();
        assert!(report.is_clean(), "{:?}", report.finding);
        assert_eq!(counter.0, report.entries);
        assert_eq!(report.governance.acks, 3);

        let mut writes = Writes::new();
        writes.insert(
            (ROLES_TABLE.into(), b"Root".to_vec()),
            Some(br#"{"allow":["users.write"],"deny":[]}"#.to_vec()),
        );
        let tx = inject(&ledger, writes);
        let v = first_finding(&ledger);
        assert_eq!(
            (v.seqno, v.kind),
            (Some(tx.seqno()), FindingKind::UnexplainedChange)
        );
        assert_eq!(
            (v.table.as_deref(), v.key.as_deref()),
            (Some(ROLES_TABLE), Some("Root"))
        );
        assert!(v.to_string().contains("gov.roles[Root]"), "{v}");
    }

    /// The service certificate record is written once, by genesis: rewriting it later, even
    /// with the same certificate, or removing it, is a finding of the one check that owns the
    /// rule (the structural audit's), whichever transaction does it.
    #[test]
    fn the_service_certificate_record_is_never_written_again() {
        for remove in [false, true] {
            let (ledger, _, _) = scenario();
            let cert = ledger.service_certificate_pem();
            let mut writes = Writes::new();
            writes.insert(
                (
                    SERVICE_TABLE.into(),
                    crate::state::SERVICE_CERT_KEY.to_vec(),
                ),
                (!remove).then(|| cert.into_bytes()),
            );
            let tx = inject(&ledger, writes);
            let v = first_finding(&ledger);
            assert_eq!(
                (v.seqno, v.kind),
                (Some(tx.seqno()), FindingKind::ServiceIdentity)
            );
            assert_eq!(v.table.as_deref(), Some(SERVICE_TABLE));
            let what = if remove {
                "its removal"
            } else {
                "the same certificate"
            };
            assert!(v.found.contains(what), "{v}");
        }
    }

    /// Each version of the instance record follows the one before it (the next epoch of the
    /// same ledger id, as a restore writes); anything else, or a removal, is a finding of
    /// the structural audit, as is any other key of `internal.service`.
    #[test]
    fn instance_records_follow_one_another() {
        use crate::state::{LedgerInstance, INSTANCE_KEY};
        type Forge = fn(&LedgerInstance) -> Option<Vec<u8>>;
        let cases: [(&str, &[u8], Forge, FindingKind); 6] = [
            (
                "another ledger id",
                INSTANCE_KEY,
                |own| {
                    let mut other = own.restored();
                    other.ledger_id = "0".repeat(32);
                    Some(other.encode())
                },
                FindingKind::LedgerInstance,
            ),
            (
                "a skipped epoch",
                INSTANCE_KEY,
                |own| Some(own.restored().restored().encode()),
                FindingKind::LedgerInstance,
            ),
            (
                "the same record again",
                INSTANCE_KEY,
                |own| Some(own.encode()),
                FindingKind::LedgerInstance,
            ),
            (
                "not a record",
                INSTANCE_KEY,
                |_| Some(b"{}".to_vec()),
                FindingKind::LedgerInstance,
            ),
            (
                "a removal",
                INSTANCE_KEY,
                |_| None,
                FindingKind::LedgerInstance,
            ),
            (
                "another key",
                b"extra",
                |_| Some(b"x".to_vec()),
                FindingKind::ServiceIdentity,
            ),
        ];
        for (case, key, forge, kind) in cases {
            let (ledger, _, _) = scenario();
            let own = ledger.governance().instance().unwrap();
            let mut writes = Writes::new();
            writes.insert((SERVICE_TABLE.into(), key.to_vec()), forge(&own));
            let tx = inject(&ledger, writes);
            let v = first_finding(&ledger);
            assert_eq!((v.seqno, v.kind), (Some(tx.seqno()), kind), "{case}: {v}");
            assert_eq!(v.table.as_deref(), Some(SERVICE_TABLE), "{case}");
        }
        // The next epoch of the same ledger is what a restore writes: legitimate.
        let (ledger, keys, id) = scenario();
        let gov = ledger.governance();
        let own = gov.instance().unwrap();
        let mut writes = Writes::new();
        writes.insert(
            (SERVICE_TABLE.into(), INSTANCE_KEY.to_vec()),
            Some(own.restored().encode()),
        );
        inject(&ledger, writes);
        let report = audit(&ledger);
        assert!(report.is_clean(), "{:?}", report.finding);
        // From then on requests name the new epoch, and the audit agrees with the ledger.
        assert_eq!(gov.instance().unwrap(), own.restored());
        let ballot = gov
            .request_for(&keys[1])
            .unwrap()
            .ballot(&id, Vote::Approve)
            .unwrap();
        assert_eq!(
            gov.ballot(&id, &ballot).unwrap().state,
            ProposalState::Accepted
        );
        let report = audit(&ledger);
        assert!(report.is_clean(), "{:?}", report.finding);
    }

    /// A recorded request must name the instance in force at its point in history: one
    /// signed for another instance, or a version-1 request once the record exists, is an
    /// invalid request, even with exactly the effects the genuine one would have.
    #[test]
    fn a_request_recorded_for_another_instance_is_invalid() {
        use crate::governance::{Request, RequestPayload};
        use crate::state::LedgerInstance;
        for version_1 in [false, true] {
            let (ledger, keys, id) = scenario();
            let gov = ledger.governance();
            let genuine = gov
                .request_for(&keys[1])
                .unwrap()
                .ballot(&id, Vote::Approve)
                .unwrap();
            let view = gov.current_view().unwrap();
            let honest = exec::execute_request(&view, gov.service_id(), &genuine, &Expect::Any)
                .unwrap()
                .writes;
            let mut payload = genuine.parse().unwrap();
            if version_1 {
                payload.version = 1;
                payload.ledger_id = None;
                payload.epoch = None;
            } else {
                payload = RequestPayload::new(
                    gov.service_id(),
                    &LedgerInstance {
                        ledger_id: "0".repeat(32),
                        epoch: 1,
                    },
                    keys[1].member_id(),
                    payload.counter,
                    Request::Ballot {
                        proposal_id: id.clone(),
                        vote: Vote::Approve,
                    },
                );
            }
            let foreign = SignedRequest::sign(&keys[1], &payload).unwrap();
            let mut forged = honest;
            forged.insert(
                (
                    HISTORY_TABLE.into(),
                    keys[1].member_id().as_bytes().to_vec(),
                ),
                Some(foreign.to_json().unwrap().into_bytes()),
            );
            let tx = inject(&ledger, forged);
            let v = first_finding(&ledger);
            assert_eq!(
                (v.seqno, v.kind),
                (Some(tx.seqno()), FindingKind::InvalidRequest)
            );
            assert!(v.found.contains("but this ledger is ledger"), "{v}");
        }
    }

    #[test]
    fn before_members_the_program_may_change_anything() {
        let ledger = Ledger::in_memory().unwrap();
        let mut writes = Writes::new();
        writes.insert(
            (CODE_IDS_TABLE.into(), vec![b'a'; 64]),
            Some(b"{}".to_vec()),
        );
        inject(&ledger, writes);
        let report = audit(&ledger);
        assert!(report.is_clean(), "{:?}", report.finding);
        assert_eq!(report.governance.consortium_since, None);
        assert_eq!(
            report.governance.direct_changes, 2,
            "genesis and the change"
        );
    }
}
