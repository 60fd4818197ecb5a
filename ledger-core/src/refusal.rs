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

/// Why [`crate::Ledger::register_statement`] (or [`crate::ScittPolicy::check`]) refused a
/// signed statement: the reason carried by [`crate::Error::StatementRefused`]. The `scitt`
/// module documentation (`# Accepted statements`) states the rules these name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatementRefusal {
    /// The statement is longer than [`crate::MAX_STATEMENT_LEN`].
    #[error("{size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Its length in bytes.
        size: u64,
        /// The longest accepted.
        limit: u64,
    },
    /// The bytes are not one well-formed CBOR item (or have bytes after it).
    #[error("not a CBOR item: {reason}")]
    NotCbor {
        /// What the CBOR decoder found.
        reason: String,
    },
    /// The CBOR item is not tagged 18 (COSE_Sign1): untagged (`found: None`) or another tag.
    #[error("expected CBOR tag 18 (COSE_Sign1), found {}", found.map_or_else(|| "no tag".to_owned(), |t| format!("tag {t}")))]
    WrongTag {
        /// The tag found, if any.
        found: Option<u64>,
    },
    /// Tagged 18 but not a COSE_Sign1 structure (RFC 9052 section 4.2).
    #[error("not a COSE_Sign1: {reason}")]
    NotCoseSign1 {
        /// What the COSE decoder found.
        reason: String,
    },
    /// The protected header's `alg` (label 1) is absent (`alg: None`) or is not ES256 (-7),
    /// ES384 (-35) or EdDSA (-8).
    #[error("unsupported algorithm {}", alg.as_deref().unwrap_or("(none in the protected header)"))]
    UnsupportedAlgorithm {
        /// The `alg` found, as text (`"-37"`, or a text label as is).
        alg: Option<String>,
    },
    /// The protected header lists as critical (`crit`, label 2) a header this service does
    /// not process.
    #[error("critical header {label} is not understood")]
    UnknownCriticalHeader {
        /// The label, as text.
        label: String,
    },
    /// The protected header has no CWT claims (label 15).
    #[error("the protected header has no CWT claims (label 15)")]
    MissingCwtClaims,
    /// The CWT claims are not a map with `iss` (1) and `sub` (2) as text strings.
    #[error("CWT claim {claim}: {problem}")]
    MalformedCwtClaims {
        /// `"claims"` (the map itself), `"iss"` or `"sub"`.
        claim: &'static str,
        /// `"missing"`, `"not a text string"`, `"empty"`, `"not a map"` or `"repeated"`.
        problem: &'static str,
    },
    /// The payload is detached (nil): the issuer's signature cannot be checked without it.
    #[error("the payload is detached; registration needs it to verify the issuer's signature")]
    DetachedPayload,
    /// The protected header names no issuer key: neither `x5chain` (33) nor `kid` (4).
    #[error("the protected header names no issuer key (x5chain, label 33, or kid, label 4)")]
    NoIssuerKey,
    /// The `kid` names no issuer key registered with the [`crate::ScittPolicy`] (and there is
    /// no `x5chain`).
    #[error("no issuer key is registered under kid {kid}")]
    UnknownKeyId {
        /// The `kid`, as lowercase hex of its bytes.
        kid: String,
    },
    /// The `x5chain` (label 33) is not a certificate or a non-empty array of them, or its
    /// leaf certificate does not decode or holds a key of an unsupported kind.
    #[error("x5chain: {reason}")]
    BadCertificate {
        /// What is wrong with it.
        reason: String,
    },
    /// The issuer key cannot make signatures of the statement's `alg`.
    #[error("algorithm {alg} does not match the issuer's {key} key")]
    KeyAlgorithmMismatch {
        /// The statement's `alg`, e.g. `"ES256"`.
        alg: &'static str,
        /// The key's kind: `"P-256"`, `"P-384"` or `"Ed25519"`.
        key: &'static str,
    },
    /// The issuer's signature does not verify.
    #[error("the issuer's signature does not verify with the {key} key")]
    BadSignature {
        /// Which key: `"x5chain"` (the leaf certificate's) or `"kid"` (the registered one).
        key: &'static str,
    },
    /// The registration policy's rule refused the statement.
    #[error("registration policy refused a statement of issuer {issuer:?}, subject {subject:?}: {reason}")]
    Policy {
        /// The statement's `iss`.
        issuer: String,
        /// The statement's `sub`.
        subject: String,
        /// The rule's reason, as the embedding program gave it.
        reason: String,
    },
}
