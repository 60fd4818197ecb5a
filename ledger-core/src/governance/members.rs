//! The records of members, users and nodes, and the [`Genesis`] a ledger starts with.
//!
//! # Format
//!
//! | table | key | value (JSON) |
//! | --- | --- | --- |
//! | `gov.members` | member id | `{"public_key": "<PEM>", "status": "accepted" \| "active"}` |
//! | `gov.users` | user id | `{"role": "<role name>"}` |
//! | `gov.code_ids` | code id (lowercase hex) | `{}` |
//! | `gov.nodes` | node id | `{"measurement": "<code id>"}`: the node's attestation measurement |
//!
//! A removed member's or user's key is removed (a tombstone); its history stays readable.

use serde::{Deserialize, Serialize};

use super::constitution::Constitution;
use super::keys::MemberPublicKey;
use super::proposals::Action;
use super::roles::RoleDefinition;
use crate::refusal::MemberStatus;
use crate::TxId;

/// A member as `gov.members` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRecord {
    /// The member's public key.
    pub public_key: MemberPublicKey,
    /// Its status.
    pub status: MemberStatus,
}

/// A member, with its id and the transaction that last changed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Hex SHA-256 of the public key's SubjectPublicKeyInfo.
    pub member_id: String,
    /// The member's public key.
    pub public_key: MemberPublicKey,
    /// Its status.
    pub status: MemberStatus,
    /// The transaction that last changed the record (the ack, for an Active member).
    pub updated_at: TxId,
}

/// A user as `gov.users` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// The user's role: built-in or defined in `gov.roles`.
    pub role: String,
}

/// A user, with its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The user's id.
    pub user_id: String,
    /// The user's role.
    pub role: String,
}

/// An allowed code id as `gov.code_ids` records it (nothing but its presence).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeIdRecord {}

/// A node's attestation as `gov.nodes` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeAttestation {
    /// The attestation measurement the host reported (a code id).
    pub measurement: String,
}

/// A node of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Hex SHA-256 of the node key's SubjectPublicKeyInfo.
    pub node_id: String,
    /// The node certificate (PEM), issued by the service key.
    pub certificate_pem: String,
    /// The attestation measurement the host supplied, if any.
    pub measurement: Option<String>,
    /// Whether that measurement is an allowed code id now (`None` without a measurement).
    pub code_id_allowed: Option<bool>,
}

/// What a new ledger starts with: its members, constitution, custom roles and users.
///
/// Give it to [`crate::LedgerConfig::genesis`]; the genesis transaction records it. A ledger
/// created without members is administered by its program until it installs some
/// ([`super::Governance::install`]).
///
/// ```
/// use ledger_core::governance::{Genesis, MemberKey};
/// use ledger_core::{Ledger, LedgerConfig};
/// let keys: Vec<MemberKey> = (1..=3u8).map(|i| MemberKey::ed25519_from_seed([i; 32])).collect();
/// let genesis = keys.iter().fold(Genesis::new(), |g, k| g.member(k.public_key().clone()));
/// let ledger = Ledger::in_memory_with(LedgerConfig::new("").genesis(genesis))?;
/// assert_eq!(ledger.governance().members()?.len(), 3);
/// # Ok::<(), ledger_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Genesis {
    members: Vec<MemberPublicKey>,
    constitution: Option<Constitution>,
    roles: Vec<(String, RoleDefinition)>,
    users: Vec<(String, String)>,
    nodes: Vec<String>,
}

impl Genesis {
    /// An empty genesis: no members, the [`super::DEFAULT_CONSTITUTION`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a member (Accepted until it acknowledges).
    pub fn member(mut self, public_key: MemberPublicKey) -> Self {
        self.members.push(public_key);
        self
    }

    /// Sets the constitution. Default = [`super::DEFAULT_CONSTITUTION`] (recorded only when
    /// there are members).
    pub fn constitution(mut self, constitution: Constitution) -> Self {
        self.constitution = Some(constitution);
        self
    }

    /// Defines a custom role.
    pub fn role(mut self, name: impl Into<String>, definition: RoleDefinition) -> Self {
        self.roles.push((name.into(), definition));
        self
    }

    /// Adds a user with a built-in or custom role.
    pub fn user(mut self, user_id: impl Into<String>, role: impl Into<String>) -> Self {
        self.users.push((user_id.into(), role.into()));
        self
    }

    /// Records a founding node: its certificate (PEM), which the service key must have
    /// issued, goes into the genesis transaction's node records, as every node that signs is
    /// recorded. A cluster's nodes are recorded this way before any of them has signed, so
    /// the ledger names every certificate its nodes accept from their peers
    /// (`ledger_raft::transport` trusts only recorded, endorsed node certificates). Opening the
    /// genesis ledger fails if the certificate does not parse or the service did not endorse
    /// it.
    pub fn node(mut self, certificate_pem: impl Into<String>) -> Self {
        self.nodes.push(certificate_pem.into());
        self
    }

    /// The members.
    pub fn members(&self) -> &[MemberPublicKey] {
        &self.members
    }

    /// The founding nodes' certificates (PEM), as given to [`Genesis::node`].
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The genesis as a list of actions, in the order they are recorded.
    pub(crate) fn actions(&self) -> Vec<Action> {
        let mut actions = Vec::new();
        for (role, definition) in &self.roles {
            actions.push(Action::SetRole {
                role: role.clone(),
                definition: definition.clone(),
            });
        }
        for (user_id, role) in &self.users {
            actions.push(Action::SetUser {
                user_id: user_id.clone(),
                role: role.clone(),
            });
        }
        for public_key in &self.members {
            actions.push(Action::AddMember {
                public_key: public_key.clone(),
            });
        }
        let constitution = match &self.constitution {
            Some(c) => Some(c.clone()),
            None if !self.members.is_empty() => Some(Constitution::default()),
            None => None,
        };
        if let Some(constitution) = constitution {
            actions.push(Action::SetConstitution { constitution });
        }
        actions
    }
}
