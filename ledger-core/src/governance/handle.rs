//! The [`Governance`] handle of a ledger, the per-ledger decision lock, and the genesis
//! records governance contributes to a new ledger.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::{ArcMutexGuard, Mutex, RawMutex};

use super::codec;
use super::constitution::Constitution;
use super::exec::{self, Expect, GovRead, StoreView, Writes, MAX_ACTIONS};
use super::keys::MemberKey;
use super::members::{self, Genesis, MemberInfo, MemberRecord, NodeInfo, UserInfo};
use super::proposals::{
    Action, Ballot, Proposal, ProposalOutcome, ProposalRecord, ProposalVersion,
};
use super::request::{RequestBuilder, SignedRequest, StateDigest};
use super::roles::{BuiltinRole, RoleDefinition};
use super::session::UserSession;
use super::tables::{
    BALLOTS_TABLE, CODE_IDS_TABLE, CONSTITUTION_KEY, CONSTITUTION_TABLE, HISTORY_TABLE,
    MEMBERS_TABLE, NODE_ATTESTATIONS_TABLE, PROPOSALS_TABLE, ROLES_TABLE,
};
use crate::config::{GenesisRecords, LedgerConfig};
use crate::entry;
use crate::error::{Error, Problem};
use crate::ledger::Ledger;
use crate::refusal::{Refusal, RequestKind};
use crate::state::{LedgerInstance, NODES_TABLE as ENGINE_NODES_TABLE};
use crate::transaction::Transaction;
use crate::txid::TxId;

/// Governance's per-ledger state, kept in the ledger's extension slot: the lock that
/// serializes governance decisions, so each one reads the state every earlier decision left.
#[derive(Debug, Default)]
pub(crate) struct DecisionLock(Arc<Mutex<()>>);

impl GenesisRecords for Genesis {
    fn validate(&self) -> Result<(), Error> {
        Genesis::validate(self)
    }

    fn record(&self, tx: &mut Transaction) -> Result<(), Error> {
        apply_writes(tx, exec::genesis_writes(&exec::EmptyView, self)?);
        Ok(())
    }

    fn founding_nodes(&self) -> &[String] {
        self.nodes()
    }
}

impl LedgerConfig {
    /// The members, constitution, custom roles and users a new ledger starts with, recorded
    /// by its genesis transaction. Default = none: the program administers the ledger (see
    /// [`crate::governance`]). Ignored when an existing ledger is opened.
    pub fn genesis(mut self, genesis: Genesis) -> Self {
        self.genesis = Some(Arc::new(genesis));
        self
    }
}

fn apply_writes(tx: &mut Transaction, writes: Writes) {
    for ((table, key), value) in writes {
        match value {
            Some(value) => tx.put(&table, &key, &value),
            None => tx.remove(&table, &key),
        };
    }
}

impl Ledger {
    /// The ledger's governance: members, proposals, constitution, users, roles, nodes.
    pub fn governance(&self) -> Governance<'_> {
        Governance { ledger: self }
    }

    /// A session acting as user `user_id`: every call is checked against the user's role
    /// at the time of the call.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] with [`Refusal::UnknownUser`] if there is no such user.
    pub fn session(&self, user_id: &str) -> Result<UserSession<'_>, Error> {
        UserSession::new(self, user_id)
    }
}

/// The governance of one ledger; get it from [`Ledger::governance`].
///
/// ```
/// use ledger_core::governance::{Action, Genesis, MemberKey, ProposalState, Vote};
/// use ledger_core::{Ledger, LedgerConfig};
///
/// let alice = MemberKey::ed25519_from_seed([1; 32]);
/// let ledger = Ledger::in_memory_with(
///     LedgerConfig::new("").genesis(Genesis::new().member(alice.public_key().clone())),
/// )?;
/// let gov = ledger.governance();
///
/// // Alice acknowledges the ledger's signed state and becomes Active.
/// gov.ack(&gov.request_for(&alice)?.ack(&gov.state_digest()?)?)?;
///
/// // She proposes a user, and her ballot (one of one members) accepts it.
/// let proposal = gov.propose(&gov.request_for(&alice)?.propose(vec![Action::SetUser {
///     user_id: "bob".into(),
///     role: "Reader".into(),
/// }])?)?;
/// let id = &proposal.proposal_id;
/// let decided = gov.ballot(id, &gov.request_for(&alice)?.ballot(id, Vote::Approve)?)?;
/// assert_eq!(decided.state, ProposalState::Accepted);
/// assert_eq!(gov.user("bob")?.map(|u| u.role), Some("Reader".into()));
/// # Ok::<(), ledger_core::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Governance<'a> {
    ledger: &'a Ledger,
}

impl<'a> Governance<'a> {
    /// This ledger's service id: hex SHA-256 of its service certificate (DER). Every signed
    /// request names it.
    pub fn service_id(&self) -> &'a str {
        self.ledger.service_id()
    }

    /// The ledger instance in force: the ledger id and epoch every signed request names (see
    /// [`crate::governance`]). It changes only when the ledger is restored from a backup
    /// (the epoch rises): members then sign their requests again, for the new instance.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] for a ledger that records no instance (written by older code and
    /// not yet opened by this version); store or decoding failures.
    pub fn instance(&self) -> Result<LedgerInstance, Error> {
        exec::instance(&self.view()?)?.ok_or_else(|| {
            Error::not_found(
                "ledger instance",
                "(the ledger records none: it was written by older code)",
            )
        })
    }

    /// Waits until everything recorded so far is readable and returns the seqno to read at.
    fn settle(&self) -> Result<u64, Error> {
        self.ledger.table_get(MEMBERS_TABLE, b"\0")?;
        Ok(self.ledger.store().state().last_seqno)
    }

    fn view(&self) -> Result<StoreView<'a>, Error> {
        let as_of = self.settle()?;
        Ok(StoreView {
            store: &**self.ledger.store(),
            as_of,
        })
    }

    /// Records `writes` as one governance transaction and waits until it is readable.
    fn record(&self, writes: Writes) -> Result<TxId, Error> {
        let mut tx = Transaction::new();
        apply_writes(&mut tx, writes);
        let id = self.ledger.submit_reserved(tx)?;
        self.settle()?;
        Ok(id)
    }

    fn tx_of(&self, table: &str, key: &[u8], last: bool) -> Result<TxId, Error> {
        let mut history = self.ledger.table_history(table, key);
        // The iterator ends after an error, so `last` returns the error if there is one.
        let version = if last { history.last() } else { history.next() }.transpose()?;
        version.map(|v| v.tx_id).ok_or_else(|| {
            Error::corruption(
                format!("table key {}", codec::show_key(key)),
                "it has no recorded version",
            )
            .in_table(table)
        })
    }

    // ----- reading --------------------------------------------------------------------

    /// The root of the newest signature transaction: what an acknowledgement signs. The
    /// ledger signs first ([`Ledger::flush`]), so the root covers everything recorded
    /// before the call, a member's own admission included.
    ///
    /// # Errors
    ///
    /// [`Error::Poisoned`] after a store failure; store or decoding failures.
    pub fn state_digest(&self) -> Result<StateDigest, Error> {
        self.ledger.flush()?;
        let as_of = self.settle()?;
        let (seqno, record) = self
            .ledger
            .store()
            .signature_at_or_before(as_of)?
            .ok_or_else(|| Error::not_found("signed root", "(the ledger has not signed yet)"))?;
        let payload = entry::decode_signature(&record)?;
        Ok(StateDigest {
            tx_id: TxId::new(payload.view, seqno)?,
            root: payload.root,
        })
    }

    /// Whether the ledger has members (and so is governed by proposals).
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn is_member_governed(&self) -> Result<bool, Error> {
        exec::members_exist(&self.view()?)
    }

    /// The consortium: every member with its key and status, by id.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn members(&self) -> Result<Vec<MemberInfo>, Error> {
        let view = self.view()?;
        exec::members(&view)?
            .into_iter()
            .map(|(id, record)| self.member_info(id, record))
            .collect()
    }

    fn member_info(&self, member_id: String, record: MemberRecord) -> Result<MemberInfo, Error> {
        let updated_at = self.tx_of(MEMBERS_TABLE, member_id.as_bytes(), true)?;
        Ok(MemberInfo {
            member_id,
            public_key: record.public_key,
            status: record.status,
            updated_at,
        })
    }

    /// One member.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn member(&self, member_id: &str) -> Result<Option<MemberInfo>, Error> {
        match exec::member(&self.view()?, member_id)? {
            Some((record, _)) => self.member_info(member_id.to_owned(), record).map(Some),
            None => Ok(None),
        }
    }

    /// The constitution in force ([`super::DEFAULT_CONSTITUTION`] if none was recorded).
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn constitution(&self) -> Result<Constitution, Error> {
        exec::constitution(&self.view()?)
    }

    /// The constitution in force as of transaction `tx` (including `tx`'s own writes).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if `tx` is not in the ledger; store or decoding failures.
    pub fn constitution_at(&self, tx: TxId) -> Result<Constitution, Error> {
        match self
            .ledger
            .table_get_at(CONSTITUTION_TABLE, CONSTITUTION_KEY, tx)?
        {
            Some(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| {
                    Error::corruption("constitution text", "not UTF-8").in_table(CONSTITUTION_TABLE)
                })?;
                Constitution::parse(text).map_err(|e| {
                    Error::corruption("constitution text", e).in_table(CONSTITUTION_TABLE)
                })
            }
            None => Ok(Constitution::default()),
        }
    }

    /// A proposal, with its ballots.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn proposal(&self, proposal_id: &str) -> Result<Option<Proposal>, Error> {
        let view = self.view()?;
        match exec::proposal(&view, proposal_id)? {
            Some((record, _)) => self
                .proposal_from(&view, proposal_id.to_owned(), record)
                .map(Some),
            None => Ok(None),
        }
    }

    fn proposal_from(
        &self,
        view: &dyn GovRead,
        proposal_id: String,
        record: ProposalRecord,
    ) -> Result<Proposal, Error> {
        let key = proposal_id.as_bytes();
        let proposed_at = self.tx_of(PROPOSALS_TABLE, key, false)?;
        let updated_at = self.tx_of(PROPOSALS_TABLE, key, true)?;
        let mut ballots = BTreeMap::new();
        for (member_id, vote) in exec::ballots(view, &proposal_id)? {
            let tx_id = self.tx_of(
                BALLOTS_TABLE,
                &exec::ballot_key(&proposal_id, &member_id),
                true,
            )?;
            ballots.insert(member_id, Ballot { vote, tx_id });
        }
        Ok(Proposal {
            proposal_id,
            proposed_at,
            updated_at,
            record,
            ballots,
        })
    }

    /// Every proposal ever made, by id.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn proposals(&self) -> Result<Vec<Proposal>, Error> {
        let view = self.view()?;
        view.scan(PROPOSALS_TABLE, b"")?
            .into_iter()
            .map(|(key, value)| {
                let record: ProposalRecord = exec::decode_json(PROPOSALS_TABLE, &key, &value)?;
                let id = String::from_utf8(key).map_err(|_| {
                    Error::corruption("table key", "not UTF-8").in_table(PROPOSALS_TABLE)
                })?;
                self.proposal_from(&view, id, record)
            })
            .collect()
    }

    /// Every recorded version of a proposal, oldest first: its submission, and its
    /// resolution or withdrawal.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn proposal_history(&self, proposal_id: &str) -> Result<Vec<ProposalVersion>, Error> {
        let key = proposal_id.as_bytes();
        let mut out = Vec::new();
        for version in self.ledger.table_history(PROPOSALS_TABLE, key) {
            let version = version?;
            if let Some(value) = version.value {
                out.push(ProposalVersion {
                    tx_id: version.tx_id,
                    record: exec::decode_json(PROPOSALS_TABLE, key, &value)?,
                });
            }
        }
        Ok(out)
    }

    /// Every signed request the ledger accepted from `member_id`, oldest first, with the
    /// transaction that recorded it.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn requests(&self, member_id: &str) -> Result<Vec<(TxId, SignedRequest)>, Error> {
        let key = member_id.as_bytes();
        let mut out = Vec::new();
        for version in self.ledger.table_history(HISTORY_TABLE, key) {
            let version = version?;
            if let Some(value) = version.value {
                out.push((
                    version.tx_id,
                    exec::decode_json(HISTORY_TABLE, key, &value)?,
                ));
            }
        }
        Ok(out)
    }

    /// Every user and its role, by id.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn users(&self) -> Result<Vec<UserInfo>, Error> {
        Ok(exec::users(&self.view()?)?
            .into_iter()
            .map(|(user_id, record)| UserInfo {
                user_id,
                role: record.role,
            })
            .collect())
    }

    /// One user.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn user(&self, user_id: &str) -> Result<Option<UserInfo>, Error> {
        Ok(exec::user(&self.view()?, user_id)?.map(|record| UserInfo {
            user_id: user_id.to_owned(),
            role: record.role,
        }))
    }

    /// The definition of a built-in or custom role.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn role(&self, name: &str) -> Result<Option<RoleDefinition>, Error> {
        exec::role(&self.view()?, name)
    }

    /// Every role, built-in and custom, by name.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn roles(&self) -> Result<BTreeMap<String, RoleDefinition>, Error> {
        let mut out: BTreeMap<String, RoleDefinition> = BuiltinRole::ALL
            .into_iter()
            .map(|r| (r.name().to_owned(), r.definition()))
            .collect();
        for (key, value) in self.view()?.scan(ROLES_TABLE, b"")? {
            let definition = exec::decode_json(ROLES_TABLE, &key, &value)?;
            let name = String::from_utf8(key)
                .map_err(|_| Error::corruption("table key", "not UTF-8").in_table(ROLES_TABLE))?;
            out.insert(name, definition);
        }
        Ok(out)
    }

    /// The allowed node code ids.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn code_ids(&self) -> Result<Vec<String>, Error> {
        self.view()?
            .scan(CODE_IDS_TABLE, b"")?
            .into_iter()
            .map(|(key, _)| {
                String::from_utf8(key).map_err(|_| {
                    Error::corruption("table key", "not UTF-8").in_table(CODE_IDS_TABLE)
                })
            })
            .collect()
    }

    /// This node: id, certificate, measurement and whether it is an allowed code id.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn node_info(&self) -> Result<NodeInfo, Error> {
        let view = self.view()?;
        self.node(&view, self.ledger.node_id())?.ok_or_else(|| {
            Error::corruption(
                format!("node record {}", self.ledger.node_id()),
                "this node is not recorded",
            )
            .in_table(ENGINE_NODES_TABLE)
        })
    }

    /// Every node that has signed for this ledger.
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        let view = self.view()?;
        let mut out = Vec::new();
        for (key, _) in view.scan(ENGINE_NODES_TABLE, b"")? {
            let id = String::from_utf8(key).map_err(|_| {
                Error::corruption("table key", "not UTF-8").in_table(ENGINE_NODES_TABLE)
            })?;
            if let Some(info) = self.node(&view, &id)? {
                out.push(info);
            }
        }
        Ok(out)
    }

    fn node(&self, view: &dyn GovRead, node_id: &str) -> Result<Option<NodeInfo>, Error> {
        let Some(cert) = view.get(ENGINE_NODES_TABLE, node_id.as_bytes())? else {
            return Ok(None);
        };
        let certificate_pem = String::from_utf8(cert.value).map_err(|_| {
            Error::corruption(format!("node certificate {node_id}"), "not UTF-8")
                .in_table(ENGINE_NODES_TABLE)
        })?;
        let measurement = match view.get(NODE_ATTESTATIONS_TABLE, node_id.as_bytes())? {
            Some(v) => Some(
                exec::decode_json::<members::NodeAttestation>(
                    NODE_ATTESTATIONS_TABLE,
                    node_id.as_bytes(),
                    &v.value,
                )?
                .measurement,
            ),
            None => None,
        };
        let code_id_allowed = match &measurement {
            Some(m) => Some(exec::code_id_allowed(view, m)?),
            None => None,
        };
        Ok(Some(NodeInfo {
            node_id: node_id.to_owned(),
            certificate_pem,
            measurement,
            code_id_allowed,
        }))
    }

    /// The counter `member_id`'s next request must use (one above its last accepted one).
    ///
    /// # Errors
    ///
    /// Store or decoding failures.
    pub fn next_counter(&self, member_id: &str) -> Result<u64, Error> {
        Ok(exec::last_counter(&self.view()?, member_id)?.saturating_add(1))
    }

    /// A request builder for `key` on this ledger: its service id, its instance in force
    /// ([`Governance::instance`]) and the member's next counter.
    ///
    /// # Errors
    ///
    /// As [`Governance::next_counter`] and [`Governance::instance`].
    pub fn request_for<'k>(&self, key: &'k MemberKey) -> Result<RequestBuilder<'k>, Error> {
        let counter = self.next_counter(key.member_id())?;
        let instance = self.instance()?;
        Ok(key.request(self.service_id(), &instance, counter))
    }

    // ----- member requests ------------------------------------------------------------

    fn execute(
        &self,
        signed: &SignedRequest,
        expect: &Expect<'_>,
    ) -> Result<(exec::Executed, TxId), Error> {
        let _decision = self.lock();
        let view = self.view()?;
        let executed = exec::execute_request(&view, self.service_id(), signed, expect)?;
        let tx_id = self.record(executed.writes.clone())?;
        tracing::info!(
            member = %executed.member_id,
            kind = %executed.kind,
            tx = %tx_id,
            "recorded a governance request"
        );
        Ok((executed, tx_id))
    }

    fn outcome(executed: exec::Executed, tx_id: TxId) -> Result<ProposalOutcome, Error> {
        let (proposal_id, state, failure) = executed.proposal.ok_or_else(|| {
            Error::invalid(
                "signed request",
                Problem::Mismatch {
                    expected: "a request concerning a proposal".into(),
                    found: "one concerning none".into(),
                },
            )
        })?;
        Ok(ProposalOutcome {
            proposal_id,
            tx_id,
            state,
            failure,
        })
    }

    /// Records a member's acknowledgement, making it Active.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed request; [`Error::Forbidden`] if the request
    /// is not an ack ([`Refusal::WrongKind`]), is for another ledger
    /// ([`Refusal::WrongLedger`]) or another instance of it ([`Refusal::WrongInstance`]:
    /// another ledger with the same service identity, the ledger before or after a restore,
    /// or a version-1 request), is not from a member,
    /// does not verify, reuses a counter, comes from an Active member, or names a root that
    /// is not signed by this ledger after the member was added ([`Refusal::StaleAck`]);
    /// store failures.
    pub fn ack(&self, request: &SignedRequest) -> Result<TxId, Error> {
        self.execute(request, &Expect::Kind(RequestKind::Ack))
            .map(|(_, tx)| tx)
    }

    /// Records a proposal. Its id is in the outcome.
    ///
    /// # Errors
    ///
    /// As [`Governance::ack`] for the request itself, plus [`Refusal::MemberNotActive`], and
    /// [`Error::InvalidInput`] for an empty, over-long ([`MAX_ACTIONS`]) or malformed action
    /// list.
    pub fn propose(&self, request: &SignedRequest) -> Result<ProposalOutcome, Error> {
        let (executed, tx) = self.execute(request, &Expect::Kind(RequestKind::Proposal))?;
        Self::outcome(executed, tx)
    }

    /// Records a ballot on `proposal_id` and resolves the proposal; if the rule accepts it,
    /// its actions are applied in the same transaction (or it fails, with the reason
    /// recorded).
    ///
    /// # Errors
    ///
    /// As [`Governance::propose`] for the request, plus [`Refusal::WrongProposal`] if the
    /// ballot names another proposal, [`Error::NotFound`] for an unknown proposal,
    /// [`Refusal::ProposalNotOpen`] and [`Refusal::AlreadyVoted`].
    pub fn ballot(
        &self,
        proposal_id: &str,
        request: &SignedRequest,
    ) -> Result<ProposalOutcome, Error> {
        let (executed, tx) =
            self.execute(request, &Expect::Target(RequestKind::Ballot, proposal_id))?;
        Self::outcome(executed, tx)
    }

    /// Withdraws the open proposal `proposal_id`, at its proposer's request.
    ///
    /// # Errors
    ///
    /// As [`Governance::ballot`], with [`Refusal::NotProposer`] instead of
    /// [`Refusal::AlreadyVoted`].
    pub fn withdraw(
        &self,
        proposal_id: &str,
        request: &SignedRequest,
    ) -> Result<ProposalOutcome, Error> {
        let (executed, tx) = self.execute(
            request,
            &Expect::Target(RequestKind::Withdrawal, proposal_id),
        )?;
        Self::outcome(executed, tx)
    }

    // ----- the program's administration -----------------------------------------------

    fn program_refusal(operation: &str) -> Error {
        Error::Forbidden {
            principal: "program".into(),
            operation: operation.into(),
            reason: Refusal::GovernedByMembers,
        }
    }

    /// Installs the consortium of a ledger created without members: records `genesis`'s
    /// members (Accepted), constitution, roles and users in one transaction. From then on
    /// the ledger is governed by its members.
    ///
    /// # Errors
    ///
    /// [`Refusal::GovernedByMembers`] if the ledger already has members;
    /// [`Error::InvalidInput`] if `genesis` has no members or is invalid (see
    /// [`Genesis::validate`]); store failures.
    pub fn install(&self, genesis: &Genesis) -> Result<TxId, Error> {
        if genesis.members().is_empty() {
            return Err(Error::invalid("consortium members", Problem::Empty));
        }
        let _decision = self.lock();
        let view = self.view()?;
        if exec::members_exist(&view)? {
            return Err(Self::program_refusal("install members"));
        }
        let writes = exec::genesis_writes(&view, genesis)?;
        self.record(writes)
    }

    /// Applies `actions` directly, as the program, in one transaction: any action while
    /// the ledger has no members; once it has, only user changes ([`Action::SetUser`],
    /// [`Action::RemoveUser`]).
    ///
    /// # Errors
    ///
    /// [`Refusal::GovernedByMembers`] for a member-governed action once members exist
    /// (adding members goes through [`Governance::install`]); [`Error::InvalidInput`] for
    /// an empty list, a malformed action or one that cannot apply (the message says which
    /// and why; nothing is applied); store failures.
    pub fn administer(&self, actions: &[Action]) -> Result<TxId, Error> {
        if actions.is_empty() || actions.len() > MAX_ACTIONS {
            return Err(if actions.is_empty() {
                Error::invalid("actions", Problem::Empty)
            } else {
                Error::too_large("actions", actions.len(), MAX_ACTIONS)
            });
        }
        let _decision = self.lock();
        let view = self.view()?;
        let governed = exec::members_exist(&view)?;
        if let Some(action) = actions.iter().find(|a| {
            matches!(a, Action::AddMember { .. })
                || (governed && !matches!(a, Action::SetUser { .. } | Action::RemoveUser { .. }))
        }) {
            if !governed {
                return Err(Error::invalid(
                    "actions",
                    Problem::Mismatch {
                        expected:
                            "no member changes (members are added with Governance::install, once)"
                                .into(),
                        found: action.name().into(),
                    },
                ));
            }
            return Err(Self::program_refusal(action.name()));
        }
        let writes = exec::apply_actions(&view, actions, false)?
            .map_err(|f| f.into_error("governance actions"))?;
        self.record(writes)
    }

    /// Creates or updates user `user_id` with role `role`, as the program.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed id or an undefined role; store failures.
    pub fn set_user(&self, user_id: &str, role: &str) -> Result<TxId, Error> {
        self.administer(&[Action::SetUser {
            user_id: user_id.to_owned(),
            role: role.to_owned(),
        }])
    }

    /// Deletes user `user_id`, as the program.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if there is no such user; store failures.
    pub fn remove_user(&self, user_id: &str) -> Result<TxId, Error> {
        self.administer(&[Action::RemoveUser {
            user_id: user_id.to_owned(),
        }])
    }

    /// Records the attestation measurement the host reports for this node. It must be an
    /// allowed code id now; [`Governance::node_info`] re-checks it against the code ids in
    /// force when read.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a malformed measurement; [`Error::Forbidden`] with
    /// [`Refusal::CodeIdNotAllowed`] if it is not an allowed code id; store failures.
    pub fn set_node_measurement(&self, measurement: &str) -> Result<TxId, Error> {
        let _decision = self.lock();
        let view = self.view()?;
        let writes = exec::attest_node(&view, self.ledger.node_id(), measurement)?;
        self.record(writes)
    }

    /// The lock serializing governance decisions (user sessions take it to manage users).
    pub(crate) fn lock(&self) -> ArcMutexGuard<RawMutex, ()> {
        self.ledger.extension::<DecisionLock>().0.lock_arc()
    }

    pub(crate) fn current_view(&self) -> Result<StoreView<'a>, Error> {
        self.view()
    }

    pub(crate) fn record_writes(&self, writes: Writes) -> Result<TxId, Error> {
        self.record(writes)
    }
}
