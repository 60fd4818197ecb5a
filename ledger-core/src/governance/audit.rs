//! The governance audit: replays the ledger's entries and confirms that every governance
//! change is legitimate, reporting the first one that is not.
//!
//! The audit reads nothing but the entries (it rebuilds the governance tables from the
//! write sets of governance transactions, and the signed roots from signature
//! transactions), so it checks the ledger itself, not the store's indexes. For each
//! governance transaction, in order:
//!
//! * A transaction recording a signed request (it writes `gov.history`) must record exactly
//!   one, and the request must be valid against the state before it (service id, member,
//!   signature, counter, status, the request's own rules), checked by the same code the
//!   ledger runs. Re-executing it gives the exact writes the transaction must make (the
//!   ballot, the proposal's new state with the ballots counted under the constitution in
//!   force, the actions' effects); any difference, byte for byte, is a violation. So an
//!   accepted proposal whose ballots did not meet the rule, or an effect no proposal
//!   decided, is caught.
//! * A transaction without a request may, once the ledger has members, change only users
//!   (`gov.users`, to defined roles), node measurements (`gov.nodes`, to allowed code ids)
//!   and node certificates (`internal.nodes`). Before the ledger has members the program
//!   administers everything, and such changes are accepted as long as they are well formed.
//! * Every value written to a governance table must decode as its table's record, no
//!   transaction other than a governance one may write a reserved table, and the service
//!   certificate never changes after genesis.
//!
//! The whole-ledger offline audit ([`crate::audit`]) runs the same replay entry by entry
//! through [`GovernanceCheck`], its [`crate::audit::EntryCheck`]; [`verify_store`] runs it
//! alone over a store.

use std::collections::BTreeMap;
use std::fmt;

use ledger_store::Store;
use serde::{Deserialize, Serialize};

use super::codec::show_key;
use super::exec::{self, Expect, GovRead, Overlay, Rows, Versioned, Writes};
use super::members::{CodeIdRecord, MemberRecord, NodeAttestation, UserRecord};
use super::proposals::{self, BallotRecord, ProposalRecord, ProposalState};
use super::request::{RequestKind, SignedRequest};
use super::roles::RoleDefinition;
use super::{
    service_id_of, BALLOTS_TABLE, CODE_IDS_TABLE, CONSTITUTION_TABLE, HISTORY_TABLE, MEMBERS_TABLE,
    NODE_ATTESTATIONS_TABLE, PROPOSALS_TABLE, ROLES_TABLE, USERS_TABLE,
};
use crate::audit::{EntryCheck, Finding, FindingKind};
use crate::entry::{self, TxKind};
use crate::ledger::{NODES_TABLE, SERVICE_TABLE};
use crate::transaction::RESERVED_PREFIXES;
use crate::{Error, Ledger, TxId};

/// What kind of rule a violation breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ViolationKind {
    /// A member-governed table changed without a signed request while the ledger had
    /// members.
    UnexplainedChange,
    /// A recorded request is not valid against the state before it (bad signature, replay,
    /// wrong ledger, inactive member, ...), or a transaction records more than one.
    InvalidRequest,
    /// A transaction's writes differ from what its request does (for example a proposal
    /// marked accepted without the ballots the rule needs).
    EffectMismatch,
    /// A direct change breaks a rule (a user given an undefined role, a measurement that is
    /// not an allowed code id).
    InvalidChange,
    /// A governance value does not decode as its table's record, or names a table no
    /// governance operation writes.
    MalformedRecord,
    /// A non-governance transaction wrote a reserved table.
    ReservedWriteOutsideGovernance,
    /// The service certificate changed after genesis.
    ServiceIdentityChanged,
}

/// The first illegitimate governance change found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The transaction that made it.
    pub tx_id: TxId,
    /// The rule it breaks.
    pub kind: ViolationKind,
    /// The table concerned, if one.
    pub table: Option<String>,
    /// The key concerned (UTF-8, or `0x`-hex), if one.
    pub key: Option<String>,
    /// What exactly is wrong.
    pub detail: String,
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

/// What the audit found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GovernanceAuditReport {
    /// The last seqno audited.
    pub last_seqno: u64,
    /// The ledger's service id, from its genesis.
    pub service_id: Option<String>,
    /// The transaction that gave the ledger its members, if it has any.
    pub consortium_since: Option<TxId>,
    /// Governance transactions replayed.
    pub governance_transactions: u64,
    /// Signed requests verified (acks, proposals, ballots, withdrawals).
    pub requests: u64,
    /// Acknowledgements among them.
    pub acks: u64,
    /// Proposals among them.
    pub proposals: u64,
    /// Ballots among them.
    pub ballots: u64,
    /// Proposals that ended accepted, with their actions applied.
    pub accepted: u64,
    /// Proposals that ended rejected.
    pub rejected: u64,
    /// Proposals withdrawn.
    pub withdrawn: u64,
    /// Proposals accepted whose actions could not apply.
    pub failed: u64,
    /// Governance transactions without a request (genesis, the program's administration,
    /// user managers, node records).
    pub direct_changes: u64,
    /// The first violation, if any; the audit stops there.
    pub violation: Option<Violation>,
}

impl GovernanceAuditReport {
    /// Whether no violation was found.
    pub fn is_clean(&self) -> bool {
        self.violation.is_none()
    }
}

/// Audits the governance of `ledger` up to everything recorded when it is called.
///
/// # Errors
///
/// [`Error::Corruption`] if an entry does not decode; store failures. Violations are not
/// errors: they are in the report.
pub fn verify_governance(ledger: &Ledger) -> Result<GovernanceAuditReport, Error> {
    ledger.table_get(MEMBERS_TABLE, b"\0")?;
    let store = &**ledger.store();
    verify_store_until(store, store.state().last_seqno)
}

/// Audits the governance recorded in `store` (for example a copy opened read-only).
///
/// # Errors
///
/// As [`verify_governance`].
pub fn verify_store(store: &dyn Store) -> Result<GovernanceAuditReport, Error> {
    verify_store_until(store, store.state().last_seqno)
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

fn is_reserved(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn violation(
    tx_id: TxId,
    kind: ViolationKind,
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
            Ok(text) => format!("{:?}", super::codec::shorten(text)),
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
            .and_then(|t| super::Constitution::parse(t).map_err(|e| e.to_string()))
            .map(|_| ()),
        SERVICE_TABLE | NODES_TABLE => Ok(()),
        t if proposals::check_app_table(t).is_ok() => Ok(()),
        _ => Err("no governance operation writes this table".into()),
    }
}

struct Auditor {
    model: Model,
    report: GovernanceAuditReport,
}

fn verify_store_until(store: &dyn Store, last: u64) -> Result<GovernanceAuditReport, Error> {
    const PAGE: usize = 256;
    let mut auditor = Auditor::new();
    let mut from = 1u64;
    while from <= last {
        let page = store.entries(from..=last, PAGE)?;
        let Some(&(page_last, _)) = page.last() else {
            break;
        };
        for (seqno, bytes) in page {
            let decoded = entry::decode(&bytes)?;
            if decoded.tx_id.seqno() != seqno {
                return Err(Error::Corruption(format!(
                    "entry at seqno {seqno} says it is transaction {}",
                    decoded.tx_id
                )));
            }
            if auditor.entry(&decoded).is_err() {
                return Ok(auditor.report);
            }
        }
        from = page_last + 1;
    }
    Ok(auditor.report)
}

impl Auditor {
    fn new() -> Self {
        Auditor {
            model: Model::default(),
            report: GovernanceAuditReport::default(),
        }
    }

    /// Replays one entry; on a violation, records it in the report and returns it.
    fn entry(&mut self, decoded: &entry::LedgerEntry) -> Result<(), Violation> {
        self.report.last_seqno = decoded.tx_id.seqno();
        self.transaction(decoded).inspect_err(|v| {
            self.report.violation = Some(v.clone());
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
                        ViolationKind::ReservedWriteOutsideGovernance,
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
                        ViolationKind::ReservedWriteOutsideGovernance,
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
                        ViolationKind::MalformedRecord,
                        Some((table, key)),
                        why,
                    )));
                }
            }
            if table == SERVICE_TABLE {
                let Some(cert) = value else {
                    return Err(Ok(violation(
                        tx_id,
                        ViolationKind::ServiceIdentityChanged,
                        Some((table, key)),
                        "the service certificate was removed",
                    )));
                };
                match &self.report.service_id {
                    None => self.report.service_id = Some(service_id_of(cert).map_err(Err)?),
                    Some(_) => {
                        return Err(Ok(violation(
                            tx_id,
                            ViolationKind::ServiceIdentityChanged,
                            Some((table, key)),
                            "the service certificate was rewritten after genesis",
                        )))
                    }
                }
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
                ViolationKind::InvalidRequest,
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
                                ViolationKind::InvalidChange,
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
                                ViolationKind::InvalidChange,
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
                        ViolationKind::UnexplainedChange,
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
                ViolationKind::InvalidRequest,
                "a member's request history was removed".into(),
            );
        };
        let signed = match std::str::from_utf8(value)
            .map_err(|_| Error::InvalidInput("not UTF-8".into()))
            .and_then(SignedRequest::from_json)
        {
            Ok(s) => s,
            Err(e) => return bad(ViolationKind::MalformedRecord, e.to_string()),
        };
        let service_id = self.report.service_id.clone().unwrap_or_default();
        let executed = match exec::execute_request(&self.model, &service_id, &signed, &Expect::Any)
        {
            Ok(executed) => executed,
            Err(e @ (Error::Store(_) | Error::Corruption(_))) => return Err(Err(e)),
            Err(e) => return bad(ViolationKind::InvalidRequest, e.to_string()),
        };
        if executed.member_id.as_bytes() != member_key {
            return bad(
                ViolationKind::InvalidRequest,
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
                    ViolationKind::EffectMismatch,
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

/// The governance audit as a check of the whole-ledger audit ([`crate::audit`]): pass it to
/// [`crate::audit::audit_store_with`] and a governance violation becomes a
/// [`crate::audit::FindingKind::Governance`] finding at the violating seqno.
///
/// ```
/// use ledger_core::audit::{audit_store_with, AuditOptions, EntryCheck};
/// use ledger_core::governance::audit::GovernanceCheck;
/// # fn run(store: &dyn ledger_store::Store) -> Result<(), ledger_core::Error> {
/// let mut governance = GovernanceCheck::new();
/// let report = audit_store_with(store, &AuditOptions::default(), &mut [&mut governance])?;
/// assert!(report.is_clean() && governance.report().is_clean());
/// # Ok(())
/// # }
/// ```
pub struct GovernanceCheck {
    auditor: Auditor,
}

impl GovernanceCheck {
    /// A check that has seen no entry yet.
    pub fn new() -> Self {
        Self {
            auditor: Auditor::new(),
        }
    }

    /// What the check found so far.
    pub fn report(&self) -> &GovernanceAuditReport {
        &self.auditor.report
    }
}

impl Default for GovernanceCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for GovernanceCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GovernanceCheck")
            .field("report", &self.auditor.report)
            .finish_non_exhaustive()
    }
}

impl EntryCheck for GovernanceCheck {
    fn check_entry(
        &mut self,
        _store: &dyn Store,
        entry: &entry::LedgerEntry,
    ) -> Result<Result<(), Finding>, Error> {
        if self.auditor.report.violation.is_some() {
            return Ok(Ok(()));
        }
        Ok(self.auditor.entry(entry).map_err(|v| {
            Finding::new(
                FindingKind::Governance,
                Some(v.tx_id.seqno()),
                expected_of(v.kind),
                v.to_string(),
            )
        }))
    }
}

/// What the audit expected where it found a violation of `kind`.
fn expected_of(kind: ViolationKind) -> &'static str {
    match kind {
        ViolationKind::UnexplainedChange => {
            "member-governed tables changed only by signed requests once the ledger has members"
        }
        ViolationKind::InvalidRequest => "one valid signed request per request transaction",
        ViolationKind::EffectMismatch => "exactly the writes the recorded request makes",
        ViolationKind::InvalidChange => "direct changes to defined roles and allowed code ids only",
        ViolationKind::MalformedRecord => "governance records that decode, in known tables",
        ViolationKind::ReservedWriteOutsideGovernance => {
            "reserved tables written only by governance transactions"
        }
        ViolationKind::ServiceIdentityChanged => "the genesis service certificate, unchanged",
    }
}

fn storage_violation(tx_id: TxId, err: &Error) -> Violation {
    violation(
        tx_id,
        ViolationKind::MalformedRecord,
        None,
        format!("the governance state before this transaction does not decode: {err}"),
    )
}

#[cfg(test)]
mod tests {
    //! Violations are injected with the engine's crate-private `submit_reserved`, which is
    //! what a compromised or buggy host would have to use; the public API cannot make them.

    use super::*;
    use crate::governance::{Action, Genesis, MemberKey, ProposalState, Vote};
    use crate::{LedgerConfig, Transaction};

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
        assert!(verify_governance(&ledger).unwrap().is_clean());
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

    fn first_violation(ledger: &Ledger) -> Violation {
        verify_governance(ledger)
            .unwrap()
            .violation
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
        let report = verify_governance(&ledger).unwrap();
        assert!(report.is_clean(), "{:?}", report.violation);
        assert_eq!(report.acks, 3);
        assert_eq!(report.proposals, 1);
        assert_eq!(report.ballots, 2);
        assert_eq!(report.accepted, 1);
        assert_eq!(report.requests, 6);
        assert_eq!(report.service_id.as_deref(), Some(gov.service_id()));
        assert_eq!(report.consortium_since.map(|t| t.seqno()), Some(1));
        assert_eq!(verify_store(&**ledger.store()).unwrap(), report);
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
        let v = first_violation(&ledger);
        assert_eq!(v.tx_id, tx);
        assert_eq!(v.kind, ViolationKind::UnexplainedChange);
        assert_eq!(v.table.as_deref(), Some(CONSTITUTION_TABLE));
        assert_eq!(v.key.as_deref(), Some("text"));
        assert!(v.detail.contains("without a signed request"), "{v}");
        // Nothing before it is blamed; the report stops at it.
        assert_eq!(verify_governance(&ledger).unwrap().last_seqno, tx.seqno());
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
        let v = first_violation(&ledger);
        assert_eq!(v.tx_id, tx);
        assert_eq!(v.kind, ViolationKind::EffectMismatch);
        assert_eq!(v.table.as_deref(), Some(PROPOSALS_TABLE));
        assert_eq!(v.key.as_deref(), Some(id.as_str()));
        assert!(v.detail.contains("ballot"), "{v}");
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
        let v = first_violation(&ledger);
        assert_eq!((v.tx_id, v.kind), (tx, ViolationKind::InvalidRequest));
        assert!(v.detail.contains("signature"), "{v}");
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
        let v = first_violation(&ledger);
        assert_eq!((v.tx_id, v.kind), (tx, ViolationKind::InvalidChange));
        assert_eq!(v.key.as_deref(), Some("eve"));
    }

    #[test]
    fn malformed_records_and_unknown_tables() {
        let (ledger, _, _) = scenario();
        let mut writes = Writes::new();
        writes.insert(("gov.secret".into(), b"k".to_vec()), Some(b"v".to_vec()));
        let tx = inject(&ledger, writes);
        let v = first_violation(&ledger);
        assert_eq!((v.tx_id, v.kind), (tx, ViolationKind::MalformedRecord));
        assert_eq!(v.table.as_deref(), Some("gov.secret"));
    }

    #[test]
    fn whole_ledger_audit_reports_governance_findings() {
        use crate::audit::{audit_store_with, AuditOptions};
        let (ledger, _, _) = scenario();
        ledger.flush().unwrap();
        let mut check = GovernanceCheck::new();
        let report = audit_store_with(
            &**ledger.store(),
            &AuditOptions::default(),
            &mut [&mut check],
        )
        .unwrap();
        assert!(report.is_clean(), "{:?}", report.finding);
        assert!(check.report().is_clean());
        assert_eq!(check.report().acks, 3);

        let mut writes = Writes::new();
        writes.insert(
            (ROLES_TABLE.into(), b"Root".to_vec()),
            Some(br#"{"allow":["users.write"],"deny":[]}"#.to_vec()),
        );
        let tx = inject(&ledger, writes);
        ledger.flush().unwrap();
        let mut check = GovernanceCheck::new();
        let report = audit_store_with(
            &**ledger.store(),
            &AuditOptions::default(),
            &mut [&mut check],
        )
        .unwrap();
        let finding = report.finding.expect("a governance finding");
        assert_eq!(finding.kind, FindingKind::Governance);
        assert_eq!(finding.seqno, Some(tx.seqno()));
        assert!(finding.found.contains("gov.roles[Root]"), "{finding:?}");
        // The whole-ledger audit runs its own governance check, which reports the change first;
        // the governance audit on its own classifies it.
        let v = first_violation(&ledger);
        assert_eq!((v.tx_id, v.kind), (tx, ViolationKind::UnexplainedChange));
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
        let report = verify_governance(&ledger).unwrap();
        assert!(report.is_clean(), "{:?}", report.violation);
        assert_eq!(report.consortium_since, None);
        assert_eq!(report.direct_changes, 2, "genesis and the change");
    }
}
