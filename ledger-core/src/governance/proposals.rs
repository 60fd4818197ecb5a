//! Proposals, their actions and ballots.
//!
//! An Active member proposes a list of [`Action`]s; Active members vote with ballots; after
//! each ballot the constitution's rule resolves the proposal (see
//! [`super::constitution`]). When the rule accepts it, its actions are applied in order, all
//! in the transaction that records the deciding ballot; if one of them cannot apply (say, it
//! removes a member that does not exist), none is applied and the proposal ends
//! [`ProposalState::Failed`] with the reason recorded. The proposer may withdraw an open
//! proposal.
//!
//! # Format
//!
//! An action is the JSON object `{"name": "<action>", "args": {...}}`:
//!
//! | name | args | cannot apply when |
//! | --- | --- | --- |
//! | `add_member` | `{"public_key": "<PEM>"}` | the member exists |
//! | `remove_member` | `{"member_id": "<hex>"}` | no such member |
//! | `set_user` | `{"user_id": "<id>", "role": "<role>"}` | no such role |
//! | `remove_user` | `{"user_id": "<id>"}` | no such user |
//! | `set_role` | `{"role": "<custom role>", "definition": {"allow": [..], "deny": [..]}}` | — |
//! | `remove_role` | `{"role": "<custom role>"}` | no such role, or a user has it |
//! | `set_constitution` | `{"constitution": "<text>"}` | — |
//! | `add_code_id` | `{"code_id": "<hex>"}` | already allowed |
//! | `remove_code_id` | `{"code_id": "<hex>"}` | not allowed |
//! | `set_app_value` | `{"table": "gov.app.<name>", "key": "<base64>", "value": "<base64>"}` | — |
//! | `remove_app_value` | `{"table": "gov.app.<name>", "key": "<base64>"}` | no such key |
//!
//! and, for the proposal as a whole: when the actions would leave fewer Active members than
//! the (possibly new) constitution's rule needs to accept anything (`threshold k`: k;
//! `strict-majority`: 1). Malformed actions (a bad id, a built-in role name in `set_role`,
//! a constitution without a rule, an application table outside `gov.app.`) make the proposal
//! itself invalid: it is refused, not recorded.
//!
//! `gov.proposals` holds, under the proposal id, the JSON object
//!
//! ```json
//! {"proposer_id": "<hex>", "actions": [...], "state": "open",
//!  "final_votes": null, "failure": null}
//! ```
//!
//! with `state` one of `open`, `accepted`, `rejected`, `withdrawn`, `failed`;
//! `final_votes` (a map member id -> `"approve"`/`"reject"` of the ballots counted) set
//! when the rule decided, and `failure` the reason a `failed` proposal did not apply.
//! `gov.ballots` holds, under `<proposal id>:<member id>`, `{"vote": "approve"}` or
//! `{"vote": "reject"}`. A member votes at most once per proposal.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codec::{self, b64, shorten};
use super::constitution::Constitution;
use super::keys::MemberPublicKey;
use super::roles::{self, RoleDefinition};
use crate::refusal::ProposalState;
use crate::transaction::{MAX_KEY_LEN, MAX_NAME_LEN};
use crate::{Error, Problem, TxId};

/// Prefix of application governance tables, which proposals write with
/// [`Action::SetAppValue`].
pub const APP_TABLE_PREFIX: &str = "gov.app.";
/// Longest user id.
pub(crate) const MAX_USER_ID_LEN: usize = 256;

/// One change a proposal makes (see the module's `# Format`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "name",
    content = "args",
    rename_all = "snake_case",
    deny_unknown_fields
)]
pub enum Action {
    /// Adds a member, Accepted until it acknowledges.
    AddMember {
        /// The member's public key.
        public_key: MemberPublicKey,
    },
    /// Removes a member.
    RemoveMember {
        /// The member.
        member_id: String,
    },
    /// Creates or updates a user.
    SetUser {
        /// The user.
        user_id: String,
        /// A built-in or defined role.
        role: String,
    },
    /// Deletes a user.
    RemoveUser {
        /// The user.
        user_id: String,
    },
    /// Defines or redefines a custom role.
    SetRole {
        /// The role's name (not a built-in one).
        role: String,
        /// What it allows and denies.
        definition: RoleDefinition,
    },
    /// Deletes a custom role no user has.
    RemoveRole {
        /// The role's name.
        role: String,
    },
    /// Replaces the constitution.
    SetConstitution {
        /// The new constitution (serialized as its text).
        constitution: Constitution,
    },
    /// Allows nodes whose attestation measurement is `code_id`.
    AddCodeId {
        /// Lowercase hex measurement.
        code_id: String,
    },
    /// Stops allowing a code id.
    RemoveCodeId {
        /// Lowercase hex measurement.
        code_id: String,
    },
    /// Sets a key of an application governance table.
    SetAppValue {
        /// `gov.app.<name>`.
        table: String,
        /// The key.
        #[serde(with = "b64")]
        key: Vec<u8>,
        /// The value.
        #[serde(with = "b64")]
        value: Vec<u8>,
    },
    /// Removes a key of an application governance table.
    RemoveAppValue {
        /// `gov.app.<name>`.
        table: String,
        /// The key.
        #[serde(with = "b64")]
        key: Vec<u8>,
    },
}

impl Action {
    /// The action's name, as in its JSON form.
    pub fn name(&self) -> &'static str {
        match self {
            Action::AddMember { .. } => "add_member",
            Action::RemoveMember { .. } => "remove_member",
            Action::SetUser { .. } => "set_user",
            Action::RemoveUser { .. } => "remove_user",
            Action::SetRole { .. } => "set_role",
            Action::RemoveRole { .. } => "remove_role",
            Action::SetConstitution { .. } => "set_constitution",
            Action::AddCodeId { .. } => "add_code_id",
            Action::RemoveCodeId { .. } => "remove_code_id",
            Action::SetAppValue { .. } => "set_app_value",
            Action::RemoveAppValue { .. } => "remove_app_value",
        }
    }

    /// Checks the action on its own, without the ledger's state.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming what is malformed: `what` is, for example,
    /// `"member id"`, `"user id"`, `"role name"`, `"code id"`, `"application governance
    /// table"` or `"table key"`.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Action::AddMember { .. } | Action::SetConstitution { .. } => Ok(()),
            Action::RemoveMember { member_id } => check_member_id(member_id),
            Action::SetUser { user_id, role } => {
                check_user_id(user_id)?;
                roles::check_role_name(role)
            }
            Action::RemoveUser { user_id } => check_user_id(user_id),
            Action::SetRole { role, definition } => {
                roles::check_custom_role_name(role)?;
                definition.validate()
            }
            Action::RemoveRole { role } => roles::check_custom_role_name(role),
            Action::AddCodeId { code_id } | Action::RemoveCodeId { code_id } => {
                check_code_id(code_id)
            }
            Action::SetAppValue { table, key, .. } | Action::RemoveAppValue { table, key } => {
                check_app_table(table)?;
                check_key(key)
            }
        }
    }
}

/// A vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vote {
    /// For the proposal.
    Approve,
    /// Against the proposal.
    Reject,
}

/// A proposal as `gov.proposals` records it (see the module's `# Format`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalRecord {
    /// The member who proposed it.
    pub proposer_id: String,
    /// Its actions.
    pub actions: Vec<Action>,
    /// Where it stands.
    pub state: ProposalState,
    /// The ballots counted when the rule decided.
    pub final_votes: Option<BTreeMap<String, Vote>>,
    /// Why a failed proposal did not apply.
    pub failure: Option<String>,
}

/// A ballot as `gov.ballots` records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BallotRecord {
    /// The vote.
    pub vote: Vote,
}

/// A proposal with its id and ballots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Its id: hex SHA-256 of the signed proposal request.
    pub proposal_id: String,
    /// The transaction that recorded it.
    pub proposed_at: TxId,
    /// The transaction that last changed its state (equal to `proposed_at` while Open).
    pub updated_at: TxId,
    /// The record.
    #[serde(flatten)]
    pub record: ProposalRecord,
    /// Ballots cast so far, by member id (including members no longer Active).
    pub ballots: BTreeMap<String, Ballot>,
}

/// One member's ballot on a proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    /// The vote.
    pub vote: Vote,
    /// The transaction that recorded it.
    pub tx_id: TxId,
}

/// What a proposal, ballot or withdrawal did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalOutcome {
    /// The proposal.
    pub proposal_id: String,
    /// The transaction that recorded the request.
    pub tx_id: TxId,
    /// The proposal's state after it.
    pub state: ProposalState,
    /// Why it failed, if it did.
    pub failure: Option<String>,
}

/// One recorded version of a proposal (see [`super::Governance::proposal_history`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalVersion {
    /// The transaction that wrote this version.
    pub tx_id: TxId,
    /// The record it wrote.
    pub record: ProposalRecord,
}

/// Checks a member id: 64 lowercase hex digits.
pub(crate) fn check_member_id(id: &str) -> Result<(), Error> {
    if codec::is_digest_hex(id) {
        Ok(())
    } else {
        Err(Error::malformed(
            "member id",
            shorten(id),
            "is not 64 lowercase hex digits",
        ))
    }
}

/// Checks a user id: 1 to [`MAX_USER_ID_LEN`] visible ASCII characters (a certificate or key
/// fingerprint, or a directory object id).
pub(crate) fn check_user_id(id: &str) -> Result<(), Error> {
    if id.is_empty() {
        Err(Error::invalid("user id", Problem::Empty))
    } else if id.len() > MAX_USER_ID_LEN {
        Err(Error::too_large("user id", id.len(), MAX_USER_ID_LEN))
    } else if !id.bytes().all(|b| b.is_ascii_graphic()) {
        Err(Error::malformed(
            "user id",
            shorten(id),
            "must be visible ASCII characters",
        ))
    } else {
        Ok(())
    }
}

/// Checks a code id: lowercase hex, 32 to 128 digits, even length.
pub(crate) fn check_code_id(id: &str) -> Result<(), Error> {
    if id.len() < 32 {
        Err(Error::invalid(
            "code id",
            Problem::TooSmall {
                size: id.len() as u64,
                minimum: 32,
            },
        ))
    } else if id.len() > 128 {
        Err(Error::too_large("code id", id.len(), 128))
    } else if id.len() % 2 != 0 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Err(Error::malformed(
            "code id",
            shorten(id),
            "must be an even number of lowercase hex digits",
        ))
    } else {
        Ok(())
    }
}

/// Checks an application governance table name: `gov.app.` and a valid name.
pub(crate) fn check_app_table(table: &str) -> Result<(), Error> {
    let what = "application governance table";
    let suffix_ok = table
        .strip_prefix(APP_TABLE_PREFIX)
        .is_some_and(|s| !s.is_empty());
    if table.len() > MAX_NAME_LEN {
        Err(Error::too_large(what, table.len(), MAX_NAME_LEN))
    } else if !suffix_ok {
        Err(Error::malformed(
            what,
            shorten(table),
            format_args!("must be \"{APP_TABLE_PREFIX}<name>\""),
        ))
    } else if table.chars().any(char::is_control) {
        Err(Error::malformed(
            what,
            shorten(table),
            "contains a control character",
        ))
    } else {
        Ok(())
    }
}

fn check_key(key: &[u8]) -> Result<(), Error> {
    if key.len() <= MAX_KEY_LEN {
        Ok(())
    } else {
        Err(Error::too_large("table key", key.len(), MAX_KEY_LEN))
    }
}
