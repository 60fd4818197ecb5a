//! The governance state machine: given the governance tables before a transaction and a
//! request (or a direct change by the program or a user manager), the exact table writes the
//! transaction makes.
//!
//! The live ledger and the audit run the same functions: the ledger over its store, the
//! audit over a model it rebuilds from the entries alone, and the audit compares what the
//! functions say with what each transaction wrote. Everything here is deterministic: values
//! are serde_json encodings of the record structs (fields in declaration order, maps sorted).

use std::collections::BTreeMap;

use ledger_store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec::{shorten, show_key};
use super::constitution::{Constitution, Tally};
use super::members::{CodeIdRecord, Genesis, MemberRecord, NodeAttestation, UserRecord};
use super::proposals::{check_code_id, check_user_id, Action, BallotRecord, ProposalRecord, Vote};
use super::request::{check_proposal_id, Request, SignedRequest};
use super::roles::{BuiltinRole, RoleDefinition};
use super::{
    BALLOTS_TABLE, CODE_IDS_TABLE, CONSTITUTION_KEY, CONSTITUTION_TABLE, HISTORY_TABLE,
    MEMBERS_TABLE, NODE_ATTESTATIONS_TABLE, PROPOSALS_TABLE, ROLES_TABLE, USERS_TABLE,
};
use crate::entry;
use crate::refusal::{MemberStatus, ProposalState, Refusal, RequestKind};
use crate::state::{LedgerInstance, INSTANCE_KEY, SERVICE_TABLE};
use crate::{Error, Problem};

/// Most actions in one proposal.
pub const MAX_ACTIONS: usize = 1024;

/// Table writes of one transaction: `None` removes the key.
pub(crate) type Writes = BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>;

/// Live `(key, value)` pairs of a table, in key order.
pub(crate) type Rows = Vec<(Vec<u8>, Vec<u8>)>;

/// A live value and the seqno of the transaction that wrote it (`u64::MAX` for a write not
/// yet recorded).
pub(crate) struct Versioned {
    pub(crate) value: Vec<u8>,
    pub(crate) seqno: u64,
}

/// Read access to the governance tables as of one point.
pub(crate) trait GovRead {
    /// The live value of `key` in `table`.
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Versioned>, Error>;
    /// Live keys of `table` beginning with `prefix`, in key order, with their values.
    fn scan(&self, table: &str, prefix: &[u8]) -> Result<Rows, Error>;
    /// The root signed by the signature transaction at `seqno`, if there is one.
    fn signature_root(&self, seqno: u64) -> Result<Option<[u8; 32]>, Error>;
}

/// The governance tables of a store as of seqno `as_of`.
pub(crate) struct StoreView<'a> {
    pub(crate) store: &'a dyn Store,
    pub(crate) as_of: u64,
}

impl GovRead for StoreView<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Versioned>, Error> {
        Ok(self.store.table_get(table, key, self.as_of)?.and_then(|v| {
            v.value.map(|value| Versioned {
                value,
                seqno: v.seqno,
            })
        }))
    }

    fn scan(&self, table: &str, prefix: &[u8]) -> Result<Rows, Error> {
        const PAGE: usize = 1024;
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        if !prefix.is_empty() {
            if let Some(v) = self.get(table, prefix)? {
                out.push((prefix.to_vec(), v.value));
            }
            after = Some(prefix.to_vec());
        }
        loop {
            let page = self
                .store
                .table_scan(table, self.as_of, after.as_deref(), PAGE)?;
            let full = page.len() == PAGE;
            let mut done = !full;
            for (key, version) in page {
                if !key.starts_with(prefix) {
                    done = true;
                    break;
                }
                after = Some(key.clone());
                if let Some(value) = version.value {
                    out.push((key, value));
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    fn signature_root(&self, seqno: u64) -> Result<Option<[u8; 32]>, Error> {
        if seqno == 0 || seqno > self.as_of {
            return Ok(None);
        }
        match self.store.signature(seqno)? {
            Some(record) => Ok(Some(entry::decode_signature(&record)?.root)),
            None => Ok(None),
        }
    }
}

/// Nothing at all: the state before genesis.
pub(crate) struct EmptyView;

impl GovRead for EmptyView {
    fn get(&self, _: &str, _: &[u8]) -> Result<Option<Versioned>, Error> {
        Ok(None)
    }

    fn scan(&self, _: &str, _: &[u8]) -> Result<Rows, Error> {
        Ok(Vec::new())
    }

    fn signature_root(&self, _: u64) -> Result<Option<[u8; 32]>, Error> {
        Ok(None)
    }
}

/// `base` with `writes` applied on top.
pub(crate) struct Overlay<'a> {
    pub(crate) base: &'a dyn GovRead,
    pub(crate) writes: Writes,
}

impl<'a> Overlay<'a> {
    pub(crate) fn new(base: &'a dyn GovRead) -> Self {
        Self {
            base,
            writes: Writes::new(),
        }
    }

    fn put_json<T: Serialize>(&mut self, table: &str, key: &[u8], value: &T) -> Result<(), Error> {
        let bytes = to_json(value)?;
        self.writes
            .insert((table.to_owned(), key.to_vec()), Some(bytes));
        Ok(())
    }

    fn put(&mut self, table: &str, key: &[u8], value: Vec<u8>) {
        self.writes
            .insert((table.to_owned(), key.to_vec()), Some(value));
    }

    fn remove(&mut self, table: &str, key: &[u8]) {
        self.writes.insert((table.to_owned(), key.to_vec()), None);
    }
}

impl GovRead for Overlay<'_> {
    fn get(&self, table: &str, key: &[u8]) -> Result<Option<Versioned>, Error> {
        match self.writes.get(&(table.to_owned(), key.to_vec())) {
            Some(Some(value)) => Ok(Some(Versioned {
                value: value.clone(),
                seqno: u64::MAX,
            })),
            Some(None) => Ok(None),
            None => self.base.get(table, key),
        }
    }

    fn scan(&self, table: &str, prefix: &[u8]) -> Result<Rows, Error> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> =
            self.base.scan(table, prefix)?.into_iter().collect();
        for ((t, key), value) in &self.writes {
            if t == table && key.starts_with(prefix) {
                match value {
                    Some(v) => merged.insert(key.clone(), v.clone()),
                    None => merged.remove(key),
                };
            }
        }
        Ok(merged.into_iter().collect())
    }

    fn signature_root(&self, seqno: u64) -> Result<Option<[u8; 32]>, Error> {
        self.base.signature_root(seqno)
    }
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(value).map_err(|e| {
        let type_name = std::any::type_name::<T>();
        let type_name = type_name.rsplit("::").next().unwrap_or(type_name);
        Error::malformed(
            "governance record",
            type_name,
            format_args!("does not serialize: {e}"),
        )
    })
}

/// Decodes the JSON value stored under `key` in `table`.
///
/// # Errors
///
/// [`Error::Corruption`] of `"table value"` in `table` if it does not decode.
pub(crate) fn decode_json<T: DeserializeOwned>(
    table: &str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| {
        Error::corruption(
            "table value",
            format_args!("key {} does not decode: {e}", show_key(key)),
        )
        .in_table(table)
    })
}

/// A corrupt table key: not UTF-8, or not of the table's form.
fn corrupt_key(table: &str, key: &[u8], why: &str) -> Error {
    Error::corruption("table key", format_args!("{} {why}", show_key(key))).in_table(table)
}

fn read_json<T: DeserializeOwned>(
    view: &dyn GovRead,
    table: &str,
    key: &[u8],
) -> Result<Option<(T, u64)>, Error> {
    match view.get(table, key)? {
        Some(v) => Ok(Some((decode_json(table, key, &v.value)?, v.seqno))),
        None => Ok(None),
    }
}

pub(crate) fn member(
    view: &dyn GovRead,
    member_id: &str,
) -> Result<Option<(MemberRecord, u64)>, Error> {
    read_json(view, MEMBERS_TABLE, member_id.as_bytes())
}

pub(crate) fn members(view: &dyn GovRead) -> Result<Vec<(String, MemberRecord)>, Error> {
    view.scan(MEMBERS_TABLE, b"")?
        .into_iter()
        .map(|(key, value)| {
            let record = decode_json(MEMBERS_TABLE, &key, &value)?;
            let id = String::from_utf8(key)
                .map_err(|e| corrupt_key(MEMBERS_TABLE, e.as_bytes(), "is not UTF-8"))?;
            Ok((id, record))
        })
        .collect()
}

pub(crate) fn members_exist(view: &dyn GovRead) -> Result<bool, Error> {
    Ok(!view.scan(MEMBERS_TABLE, b"")?.is_empty())
}

fn active_ids(view: &dyn GovRead) -> Result<Vec<String>, Error> {
    Ok(members(view)?
        .into_iter()
        .filter(|(_, m)| m.status == MemberStatus::Active)
        .map(|(id, _)| id)
        .collect())
}

pub(crate) fn constitution(view: &dyn GovRead) -> Result<Constitution, Error> {
    match view.get(CONSTITUTION_TABLE, CONSTITUTION_KEY)? {
        Some(v) => {
            let corrupt = |detail: &dyn std::fmt::Display| {
                Error::corruption("constitution", detail).in_table(CONSTITUTION_TABLE)
            };
            let text = String::from_utf8(v.value).map_err(|_| corrupt(&"the text is not UTF-8"))?;
            Constitution::parse(text).map_err(|e| corrupt(&e))
        }
        None => Ok(Constitution::default()),
    }
}

/// The definition of role `name`: built-in, or custom from `gov.roles`.
pub(crate) fn role(view: &dyn GovRead, name: &str) -> Result<Option<RoleDefinition>, Error> {
    if let Some(builtin) = BuiltinRole::from_name(name) {
        return Ok(Some(builtin.definition()));
    }
    Ok(read_json(view, ROLES_TABLE, name.as_bytes())?.map(|(d, _)| d))
}

pub(crate) fn user(view: &dyn GovRead, user_id: &str) -> Result<Option<UserRecord>, Error> {
    Ok(read_json(view, USERS_TABLE, user_id.as_bytes())?.map(|(u, _)| u))
}

pub(crate) fn users(view: &dyn GovRead) -> Result<Vec<(String, UserRecord)>, Error> {
    view.scan(USERS_TABLE, b"")?
        .into_iter()
        .map(|(key, value)| {
            let record = decode_json(USERS_TABLE, &key, &value)?;
            let id = String::from_utf8(key)
                .map_err(|e| corrupt_key(USERS_TABLE, e.as_bytes(), "is not UTF-8"))?;
            Ok((id, record))
        })
        .collect()
}

pub(crate) fn proposal(
    view: &dyn GovRead,
    proposal_id: &str,
) -> Result<Option<(ProposalRecord, u64)>, Error> {
    read_json(view, PROPOSALS_TABLE, proposal_id.as_bytes())
}

pub(crate) fn ballot_key(proposal_id: &str, member_id: &str) -> Vec<u8> {
    format!("{proposal_id}:{member_id}").into_bytes()
}

pub(crate) fn ballots(view: &dyn GovRead, proposal_id: &str) -> Result<Vec<(String, Vote)>, Error> {
    let prefix = format!("{proposal_id}:");
    view.scan(BALLOTS_TABLE, prefix.as_bytes())?
        .into_iter()
        .map(|(key, value)| {
            let record: BallotRecord = decode_json(BALLOTS_TABLE, &key, &value)?;
            let member = key
                .get(prefix.len()..)
                .and_then(|m| std::str::from_utf8(m).ok())
                .ok_or_else(|| {
                    corrupt_key(
                        BALLOTS_TABLE,
                        &key,
                        "is not \"{proposal id}:{UTF-8 member id}\"",
                    )
                })?;
            Ok((member.to_owned(), record.vote))
        })
        .collect()
}

/// The counter of the member's last accepted request (0 if none).
pub(crate) fn last_counter(view: &dyn GovRead, member_id: &str) -> Result<u64, Error> {
    match view.get(HISTORY_TABLE, member_id.as_bytes())? {
        None => Ok(0),
        Some(v) => {
            let signed: SignedRequest = decode_json(HISTORY_TABLE, member_id.as_bytes(), &v.value)?;
            let payload = signed.parse().map_err(|e| {
                Error::corruption(
                    "table value",
                    format_args!("key {}: {e}", show_key(member_id.as_bytes())),
                )
                .in_table(HISTORY_TABLE)
            })?;
            Ok(payload.counter)
        }
    }
}

/// The ledger instance in force: the engine's instance record (`state.rs`), `None` for a
/// ledger written by older code that records none.
///
/// # Errors
///
/// [`Error::Corruption`] in `internal.service` if the record does not decode.
pub(crate) fn instance(view: &dyn GovRead) -> Result<Option<LedgerInstance>, Error> {
    match view.get(SERVICE_TABLE, INSTANCE_KEY)? {
        Some(v) => LedgerInstance::decode(&v.value)
            .map(Some)
            .map_err(|e| Error::corruption("ledger instance record", e).in_table(SERVICE_TABLE)),
        None => Ok(None),
    }
}

/// How a refusal names an instance, or its absence.
fn show_instance(instance: Option<&LedgerInstance>, none: &str) -> String {
    instance.map_or_else(|| none.to_owned(), ToString::to_string)
}

pub(crate) fn code_id_allowed(view: &dyn GovRead, code_id: &str) -> Result<bool, Error> {
    Ok(view.get(CODE_IDS_TABLE, code_id.as_bytes())?.is_some())
}

/// What the call the request was given to expects.
pub(crate) enum Expect<'a> {
    /// Anything (the audit re-executing a recorded request).
    Any,
    /// A request of this kind.
    Kind(RequestKind),
    /// A ballot or withdrawal for this proposal.
    Target(RequestKind, &'a str),
}

/// What executing a request did.
pub(crate) struct Executed {
    pub(crate) writes: Writes,
    pub(crate) member_id: String,
    pub(crate) kind: RequestKind,
    /// The proposal concerned, its state after the request and its failure reason.
    pub(crate) proposal: Option<(String, ProposalState, Option<String>)>,
}

fn forbidden(member_id: &str, kind: RequestKind, reason: Refusal) -> Error {
    Error::Forbidden {
        principal: format!("member {}", shorten(member_id)),
        operation: kind.as_str().to_owned(),
        reason,
    }
}

/// Checks `signed` against the state in `view` and returns the writes that record it.
///
/// Checks, in order: the payload parses; the kind (and proposal) are what the call expects;
/// the service id is this ledger's; the instance the payload names is the one in force in
/// `view` (none, for a version-1 payload, only while the ledger records none); the member
/// exists; the signature verifies with the member's key; the counter is fresh; the member's
/// status allows the request; then the request's own rules.
pub(crate) fn execute_request(
    view: &dyn GovRead,
    service_id: &str,
    signed: &SignedRequest,
    expect: &Expect<'_>,
) -> Result<Executed, Error> {
    let payload = signed.parse()?;
    let kind = payload.request.kind();
    let member_id = payload.member_id.as_str();
    let refuse = |reason| forbidden(member_id, kind, reason);
    match expect {
        Expect::Any => {}
        Expect::Kind(expected) | Expect::Target(expected, _) if *expected != kind => {
            return Err(refuse(Refusal::WrongKind {
                expected: *expected,
                found: kind,
            }))
        }
        Expect::Kind(_) => {}
        Expect::Target(_, target) => {
            let found = payload.request.proposal_id().unwrap_or_default();
            if found != *target {
                return Err(refuse(Refusal::WrongProposal {
                    expected: (*target).to_owned(),
                    found: shorten(found),
                }));
            }
        }
    }
    if payload.service_id != service_id {
        return Err(refuse(Refusal::WrongLedger {
            expected: service_id.to_owned(),
            found: shorten(&payload.service_id),
        }));
    }
    let in_force = instance(view)?;
    let named = payload.instance();
    if named != in_force {
        return Err(refuse(Refusal::WrongInstance {
            expected: show_instance(in_force.as_ref(), "no ledger instance"),
            found: show_instance(named.as_ref(), "no ledger instance (a version-1 request)"),
        }));
    }
    let Some((record, added_at)) = member(view, member_id)? else {
        return Err(refuse(Refusal::NotAMember));
    };
    record
        .public_key
        .verify(
            &super::request::signing_message(kind, &signed.payload),
            &signed.signature,
        )
        .map_err(|detail| refuse(Refusal::BadSignature { detail }))?;
    let last = last_counter(view, member_id)?;
    if payload.counter <= last {
        return Err(refuse(Refusal::Replayed {
            counter: payload.counter,
            last,
        }));
    }
    let require_active = || {
        if record.status == MemberStatus::Active {
            Ok(())
        } else {
            Err(refuse(Refusal::MemberNotActive {
                status: record.status,
            }))
        }
    };
    let mut overlay = Overlay::new(view);
    let mut proposal_out = None;
    match &payload.request {
        Request::Ack { seqno, root } => {
            if record.status == MemberStatus::Active {
                return Err(refuse(Refusal::AlreadyActive));
            }
            match view.signature_root(*seqno)? {
                None => {
                    return Err(refuse(Refusal::StaleAck {
                        detail: format!("no signature transaction at seqno {seqno}"),
                    }))
                }
                Some(signed_root) if signed_root != *root => {
                    return Err(refuse(Refusal::StaleAck {
                        detail: format!(
                            "the root signed at seqno {seqno} is {}, not {}",
                            hex::encode(signed_root),
                            hex::encode(root)
                        ),
                    }))
                }
                Some(_) => {}
            }
            if *seqno <= added_at {
                return Err(refuse(Refusal::StaleAck {
                    detail: format!(
                        "the root signed at seqno {seqno} predates the member's admission at seqno {added_at}"
                    ),
                }));
            }
            overlay.put_json(
                MEMBERS_TABLE,
                member_id.as_bytes(),
                &MemberRecord {
                    public_key: record.public_key.clone(),
                    status: MemberStatus::Active,
                },
            )?;
        }
        Request::Proposal { actions } => {
            require_active()?;
            proposal_out = Some(propose(&mut overlay, signed, member_id, actions, kind)?);
        }
        Request::Ballot { proposal_id, vote } => {
            require_active()?;
            proposal_out = Some(ballot(&mut overlay, member_id, proposal_id, *vote, kind)?);
        }
        Request::Withdrawal { proposal_id } => {
            require_active()?;
            proposal_out = Some(withdraw(&mut overlay, member_id, proposal_id, kind)?);
        }
    }
    overlay.put(
        HISTORY_TABLE,
        member_id.as_bytes(),
        signed.to_json()?.into_bytes(),
    );
    Ok(Executed {
        writes: overlay.writes,
        member_id: member_id.to_owned(),
        kind,
        proposal: proposal_out,
    })
}

fn propose(
    overlay: &mut Overlay<'_>,
    signed: &SignedRequest,
    member_id: &str,
    actions: &[Action],
    kind: RequestKind,
) -> Result<(String, ProposalState, Option<String>), Error> {
    // A proposal has 1 to MAX_ACTIONS actions.
    if actions.is_empty() {
        return Err(Error::invalid("proposal actions", Problem::Empty));
    }
    if actions.len() > MAX_ACTIONS {
        return Err(Error::too_large(
            "proposal actions",
            actions.len(),
            MAX_ACTIONS,
        ));
    }
    for (i, action) in actions.iter().enumerate() {
        action.validate().map_err(|e| {
            Error::malformed(
                "proposal action",
                format!("action {} ({})", i + 1, action.name()),
                e,
            )
        })?;
    }
    let proposal_id = hex::encode(signed.digest(kind));
    if proposal(overlay, &proposal_id)?.is_some() {
        return Err(Error::invalid(
            "proposal id",
            Problem::Duplicate { value: proposal_id },
        ));
    }
    overlay.put_json(
        PROPOSALS_TABLE,
        proposal_id.as_bytes(),
        &ProposalRecord {
            proposer_id: member_id.to_owned(),
            actions: actions.to_vec(),
            state: ProposalState::Open,
            final_votes: None,
            failure: None,
        },
    )?;
    Ok((proposal_id, ProposalState::Open, None))
}

fn open_proposal(
    view: &dyn GovRead,
    member_id: &str,
    proposal_id: &str,
    kind: RequestKind,
) -> Result<ProposalRecord, Error> {
    check_proposal_id(proposal_id)?;
    let Some((record, _)) = proposal(view, proposal_id)? else {
        return Err(Error::not_found("proposal", proposal_id));
    };
    if record.state != ProposalState::Open {
        return Err(forbidden(
            member_id,
            kind,
            Refusal::ProposalNotOpen {
                state: record.state,
            },
        ));
    }
    Ok(record)
}

fn ballot(
    overlay: &mut Overlay<'_>,
    member_id: &str,
    proposal_id: &str,
    vote: Vote,
    kind: RequestKind,
) -> Result<(String, ProposalState, Option<String>), Error> {
    let mut record = open_proposal(overlay, member_id, proposal_id, kind)?;
    let key = ballot_key(proposal_id, member_id);
    if overlay.get(BALLOTS_TABLE, &key)?.is_some() {
        return Err(forbidden(member_id, kind, Refusal::AlreadyVoted));
    }
    overlay.put_json(BALLOTS_TABLE, &key, &BallotRecord { vote })?;

    let rule = constitution(overlay)?.rule();
    let active = active_ids(overlay)?;
    let counted: BTreeMap<String, Vote> = ballots(overlay, proposal_id)?
        .into_iter()
        .filter(|(m, _)| active.contains(m))
        .collect();
    let approvals = counted.values().filter(|v| **v == Vote::Approve).count();
    let rejections = counted.len() - approvals;
    match rule.tally(active.len(), approvals, rejections) {
        Tally::Open => return Ok((proposal_id.to_owned(), ProposalState::Open, None)),
        Tally::Rejected => record.state = ProposalState::Rejected,
        Tally::Accepted => match apply_actions(overlay, &record.actions, true)? {
            Ok(effects) => {
                overlay.writes.extend(effects);
                record.state = ProposalState::Accepted;
            }
            Err(failure) => {
                record.state = ProposalState::Failed;
                record.failure = Some(failure.to_string());
            }
        },
    }
    record.final_votes = Some(counted);
    let outcome = (proposal_id.to_owned(), record.state, record.failure.clone());
    overlay.put_json(PROPOSALS_TABLE, proposal_id.as_bytes(), &record)?;
    Ok(outcome)
}

fn withdraw(
    overlay: &mut Overlay<'_>,
    member_id: &str,
    proposal_id: &str,
    kind: RequestKind,
) -> Result<(String, ProposalState, Option<String>), Error> {
    let mut record = open_proposal(overlay, member_id, proposal_id, kind)?;
    if record.proposer_id != member_id {
        return Err(forbidden(member_id, kind, Refusal::NotProposer));
    }
    record.state = ProposalState::Withdrawn;
    overlay.put_json(PROPOSALS_TABLE, proposal_id.as_bytes(), &record)?;
    Ok((proposal_id.to_owned(), ProposalState::Withdrawn, None))
}

/// Why actions cannot apply: the inner error of [`apply_actions`]. Its `Display` is the
/// failure reason a proposal records (`action {n} ({name}): {reason}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ActionFailure {
    /// The action that cannot apply: its 1-based position and its name; `None` when the
    /// actions apply but the result fails the quorum check.
    pub(crate) action: Option<(usize, &'static str)>,
    /// Why.
    pub(crate) reason: String,
}

impl std::fmt::Display for ActionFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.action {
            Some((n, name)) => write!(f, "action {n} ({name}): {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl ActionFailure {
    /// The [`Error::InvalidInput`] refusing the actions of `what` (e.g. `"genesis"`,
    /// `"user change"`, `"governance actions"`): a [`Problem::Malformed`] whose value names
    /// the failing action.
    pub(crate) fn into_error(self, what: &'static str) -> Error {
        let value = match self.action {
            Some((n, name)) => format!("action {n} ({name})"),
            None => "the resulting members".to_owned(),
        };
        Error::malformed(what, value, self.reason)
    }
}

/// Applies `actions` in order over `base`. The outer error is a failure to read or encode;
/// the inner one the reason an action cannot apply. With `check_quorum`, the result must
/// leave as many Active members as the resulting constitution's rule needs.
pub(crate) fn apply_actions(
    base: &dyn GovRead,
    actions: &[Action],
    check_quorum: bool,
) -> Result<Result<Writes, ActionFailure>, Error> {
    let mut o = Overlay::new(base);
    for (i, action) in actions.iter().enumerate() {
        let fail = |reason: String| {
            Ok(Err(ActionFailure {
                action: Some((i + 1, action.name())),
                reason,
            }))
        };
        if let Err(e) = action.validate() {
            return fail(e.to_string());
        }
        match action {
            Action::AddMember { public_key } => {
                let id = public_key.member_id();
                if member(&o, id)?.is_some() {
                    return fail(format!("member {id} already exists"));
                }
                o.put_json(
                    MEMBERS_TABLE,
                    id.as_bytes(),
                    &MemberRecord {
                        public_key: public_key.clone(),
                        status: MemberStatus::Accepted,
                    },
                )?;
            }
            Action::RemoveMember { member_id } => {
                if member(&o, member_id)?.is_none() {
                    return fail(format!("no member {member_id}"));
                }
                o.remove(MEMBERS_TABLE, member_id.as_bytes());
            }
            Action::SetUser {
                user_id,
                role: name,
            } => {
                if role(&o, name)?.is_none() {
                    return fail(format!("role {name:?} is not defined"));
                }
                o.put_json(
                    USERS_TABLE,
                    user_id.as_bytes(),
                    &UserRecord { role: name.clone() },
                )?;
            }
            Action::RemoveUser { user_id } => {
                if user(&o, user_id)?.is_none() {
                    return fail(format!("no user {:?}", shorten(user_id)));
                }
                o.remove(USERS_TABLE, user_id.as_bytes());
            }
            Action::SetRole { role, definition } => {
                o.put_json(ROLES_TABLE, role.as_bytes(), definition)?;
            }
            Action::RemoveRole { role } => {
                if o.get(ROLES_TABLE, role.as_bytes())?.is_none() {
                    return fail(format!("role {role:?} is not defined"));
                }
                if let Some((holder, _)) = users(&o)?.into_iter().find(|(_, u)| &u.role == role) {
                    return fail(format!(
                        "role {role:?} is held by user {:?}",
                        shorten(&holder)
                    ));
                }
                o.remove(ROLES_TABLE, role.as_bytes());
            }
            Action::SetConstitution { constitution } => {
                o.put(
                    CONSTITUTION_TABLE,
                    CONSTITUTION_KEY,
                    constitution.text().as_bytes().to_vec(),
                );
            }
            Action::AddCodeId { code_id } => {
                if code_id_allowed(&o, code_id)? {
                    return fail(format!("code id {code_id} is already allowed"));
                }
                o.put_json(CODE_IDS_TABLE, code_id.as_bytes(), &CodeIdRecord {})?;
            }
            Action::RemoveCodeId { code_id } => {
                if !code_id_allowed(&o, code_id)? {
                    return fail(format!("code id {code_id} is not allowed"));
                }
                o.remove(CODE_IDS_TABLE, code_id.as_bytes());
            }
            Action::SetAppValue { table, key, value } => {
                o.put(table, key, value.clone());
            }
            Action::RemoveAppValue { table, key } => {
                if o.get(table, key)?.is_none() {
                    return fail(format!("{table} has no key {}", show_key(key)));
                }
                o.remove(table, key);
            }
        }
    }
    if check_quorum {
        let rule = constitution(&o)?.rule();
        let active = active_ids(&o)?.len();
        if active < rule.min_active() {
            return Ok(Err(ActionFailure {
                action: None,
                reason: format!(
                    "the proposal would leave {active} active member(s), fewer than the {} the \
                     rule \"{rule}\" needs",
                    rule.min_active()
                ),
            }));
        }
    }
    Ok(Ok(o.writes))
}

/// The governance writes of a genesis (or of a consortium installed later) over `view`.
pub(crate) fn genesis_writes(view: &dyn GovRead, genesis: &Genesis) -> Result<Writes, Error> {
    let mut seen = std::collections::BTreeSet::new();
    for key in genesis.members() {
        if !seen.insert(key.member_id()) {
            return Err(Error::invalid(
                "genesis member",
                Problem::Duplicate {
                    value: key.member_id().to_owned(),
                },
            ));
        }
    }
    let actions = genesis.actions();
    let writes = apply_actions(view, &actions, false)?.map_err(|f| f.into_error("genesis"))?;
    if !genesis.members().is_empty() {
        let rule = constitution(&Overlay {
            base: view,
            writes: writes.clone(),
        })?
        .rule();
        if genesis.members().len() < rule.min_active() {
            // Fewer members than the constitution's rule needs.
            return Err(Error::invalid(
                "genesis members",
                Problem::TooSmall {
                    size: genesis.members().len() as u64,
                    minimum: rule.min_active() as u64,
                },
            ));
        }
    }
    Ok(writes)
}

/// The writes recording a host-supplied attestation `measurement` for `node_id`.
pub(crate) fn attest_node(
    view: &dyn GovRead,
    node_id: &str,
    measurement: &str,
) -> Result<Writes, Error> {
    check_code_id(measurement)?;
    if !code_id_allowed(view, measurement)? {
        return Err(Error::Forbidden {
            principal: "program".into(),
            operation: "record a node measurement".into(),
            reason: Refusal::CodeIdNotAllowed {
                measurement: measurement.to_owned(),
            },
        });
    }
    let mut o = Overlay::new(view);
    o.put_json(
        NODE_ATTESTATIONS_TABLE,
        node_id.as_bytes(),
        &NodeAttestation {
            measurement: measurement.to_owned(),
        },
    )?;
    Ok(o.writes)
}

/// Checks a user id and role for a direct user change.
pub(crate) fn check_user_change(
    view: &dyn GovRead,
    user_id: &str,
    role_name: &str,
) -> Result<RoleDefinition, Error> {
    check_user_id(user_id)?;
    super::roles::check_role_name(role_name)?;
    role(view, role_name)?.ok_or_else(|| {
        Error::invalid(
            "role name",
            Problem::Mismatch {
                expected: "a defined role".to_owned(),
                found: format!("{:?}", shorten(role_name)),
            },
        )
    })
}
impl Genesis {
    /// Checks the genesis on its own: valid and distinct entries, roles of users defined,
    /// and a rule the members can meet once all of them are Active.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming the problem.
    pub fn validate(&self) -> Result<(), Error> {
        genesis_writes(&EmptyView, self).map(|_| ())
    }
}
