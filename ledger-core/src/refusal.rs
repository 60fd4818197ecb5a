//! Why the ledger refused a call: the reason carried by [`crate::Error::Forbidden`], and
//! the governance states a reason names ([`MemberStatus`], [`ProposalState`],
//! [`RequestKind`]).
//!
//! It sits at the bottom of the crate, beside [`crate::error`], so that the error type
//! depends on nothing above it; the `governance` namespace re-exports every name here.

use serde::{Deserialize, Serialize};

use std::fmt;

/// The rule that refused a user-session call or a governance request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[non_exhaustive]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum Refusal {
    /// The session's user does not exist (or was removed).
    #[error("no such user")]
    UnknownUser,
    /// The user's role allows no permission matching the operation.
    #[error("role {role:?} does not allow it")]
    NotPermitted {
        /// The user's role.
        role: String,
    },
    /// The user's role allows the operation but also denies it, and deny wins.
    #[error("role {role:?} denies it")]
    DeniedByRole {
        /// The user's role.
        role: String,
    },
    /// A user manager tried to grant, or act on a user holding, a role that is not within
    /// its own.
    #[error("role {role:?} is not within the caller's role {own:?}")]
    RoleAboveOwn {
        /// The role granted or held by the target user.
        role: String,
        /// The caller's role.
        own: String,
    },
    /// The ledger has members: this change goes only through an accepted proposal.
    #[error("the ledger is governed by its members; this change needs an accepted proposal")]
    GovernedByMembers,
    /// The request's member id is not a member of this ledger.
    #[error("not a member of this ledger")]
    NotAMember,
    /// Only Active members propose, vote and withdraw.
    #[error("member is {status:?}, not Active")]
    MemberNotActive {
        /// The member's status.
        status: MemberStatus,
    },
    /// The member has already acknowledged.
    #[error("member is already Active")]
    AlreadyActive,
    /// The request is for another ledger.
    #[error("request is for ledger {found}, not this ledger {expected}")]
    WrongLedger {
        /// This ledger's service id.
        expected: String,
        /// The service id the request names.
        found: String,
    },
    /// The request names another instance of the ledger than the one in force
    /// (`ledger_core::LedgerInstance`): it was signed for another ledger created with the
    /// same service identity, or for this ledger before it was restored from a backup (or
    /// for the original of a restored copy); or it is a version-1 request, which names no
    /// instance, and the ledger records one. Members sign again for the instance in force
    /// (`Governance::instance`).
    #[error("request is for {found}, but this ledger is {expected}")]
    WrongInstance {
        /// The instance in force, as `ledger <id> epoch <n>`; `no ledger instance` for a
        /// ledger, written by older code, that records none.
        expected: String,
        /// The instance the request names, in the same form; `no ledger instance (a
        /// version-1 request)` for a version-1 request.
        found: String,
    },
    /// The request is of another kind than the call it was given to.
    #[error("a {found} request was given where a {expected} is expected")]
    WrongKind {
        /// The kind the call takes.
        expected: RequestKind,
        /// The request's kind.
        found: RequestKind,
    },
    /// The request names another proposal than the one it was given for.
    #[error("request is for proposal {found}, not {expected}")]
    WrongProposal {
        /// The proposal the call targets.
        expected: String,
        /// The proposal the request names.
        found: String,
    },
    /// The signature does not verify with the claimed member's key: the payload was altered
    /// or another key signed it.
    #[error("bad signature: {detail}")]
    BadSignature {
        /// What failed.
        detail: String,
    },
    /// The counter is not above the member's last accepted counter: a replay, or a stale
    /// request.
    #[error("counter {counter} is not above the member's last accepted counter {last}")]
    Replayed {
        /// The request's counter.
        counter: u64,
        /// The last counter accepted from this member.
        last: u64,
    },
    /// Only the proposer withdraws a proposal.
    #[error("only the proposer may withdraw a proposal")]
    NotProposer,
    /// The proposal is no longer open.
    #[error("proposal is {state}, not open")]
    ProposalNotOpen {
        /// Its state.
        state: ProposalState,
    },
    /// The member already voted on this proposal.
    #[error("member already voted on this proposal")]
    AlreadyVoted,
    /// The acknowledged root is not a signed root of this ledger recorded after the member
    /// was added.
    #[error("acknowledgement does not match a current signed root: {detail}")]
    StaleAck {
        /// What did not match.
        detail: String,
    },
    /// The node's measurement is not an allowed code id.
    #[error("measurement {measurement} is not an allowed code id")]
    CodeIdNotAllowed {
        /// The measurement.
        measurement: String,
    },
}

/// A member's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Added, but has not yet acknowledged the ledger's state: cannot propose or vote.
    Accepted,
    /// Acknowledged: proposes and votes.
    Active,
}

/// Where a proposal stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalState {
    /// Waiting for ballots.
    Open,
    /// Accepted by the rule; its actions were applied.
    Accepted,
    /// Rejected by the rule.
    Rejected,
    /// Withdrawn by its proposer.
    Withdrawn,
    /// Accepted by the rule, but an action could not apply; nothing was applied.
    Failed,
}

impl fmt::Display for ProposalState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            ProposalState::Open => "open",
            ProposalState::Accepted => "accepted",
            ProposalState::Rejected => "rejected",
            ProposalState::Withdrawn => "withdrawn",
            ProposalState::Failed => "failed",
        };
        f.write_str(text)
    }
}

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A member acknowledges the ledger's state, becoming Active.
    Ack,
    /// An Active member proposes a list of actions.
    Proposal,
    /// An Active member votes on an open proposal.
    Ballot,
    /// The proposer withdraws an open proposal.
    Withdrawal,
}

impl RequestKind {
    /// The kind's tag, as written in the signed message and the payload.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Ack => "ack",
            RequestKind::Proposal => "proposal",
            RequestKind::Ballot => "ballot",
            RequestKind::Withdrawal => "withdrawal",
        }
    }
}

impl fmt::Display for RequestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
