//! Governance and access control (SPEC.md section 7): members, proposals and ballots, the
//! constitution, users and roles, nodes. A client of the engine: it records its decisions as
//! ordinary transactions of reserved tables, and the offline audit
//! ([`crate::audit_ledger`]) replays them.
//!
//! Governance state lives in reserved tables whose names begin `gov.`; every change to it is
//! a [`crate::TxKind::Governance`] transaction of the ledger, so it is covered by
//! receipts like any other transaction, and can be re-checked from the ledger alone
//! ([`crate::audit_ledger`], whose governance replay re-executes every signed request).
//!
//! * **Members** ([`MemberKey`], [`MemberInfo`]) govern. A member is added Accepted and
//!   becomes Active by signing an acknowledgement of a signed root of the ledger
//!   ([`Governance::ack`]). Only Active members propose and vote.
//! * **Proposals** ([`Action`], [`Governance::propose`], [`Governance::ballot`],
//!   [`Governance::withdraw`]): signed lists of actions, decided by the constitution's rule
//!   after each ballot and applied atomically in the deciding ballot's transaction.
//! * **Constitution** ([`Constitution`]): text with a SHA-256 digest and the rule, readable
//!   at any transaction ([`Governance::constitution_at`]).
//! * **Users and roles** ([`UserSession`], [`RoleDefinition`], [`BuiltinRole`]): a session
//!   for a user id checks every call against the user's role. Calls on the
//!   [`crate::Ledger`] itself are the embedding program's and are not restricted.
//! * **Nodes** ([`NodeInfo`]): the node certificate and an optional attestation measurement,
//!   checked against the allowed code ids.
//!
//! # Who changes what
//!
//! | change | before the ledger has members | once it has members |
//! | --- | --- | --- |
//! | members, constitution, custom roles, code ids, `gov.app.*` | the program ([`Governance::administer`], [`Governance::install`] once) | accepted proposals only |
//! | users | the program, user managers ([`UserSession::set_user`]), proposals | the same |
//! | node measurement | the program ([`Governance::set_node_measurement`]), if an allowed code id | the same |
//!
//! A ledger has members from its genesis ([`crate::LedgerConfig::genesis`]) or from the
//! program installing them once ([`Governance::install`]); the last member cannot be
//! removed (every rule needs at least one Active member), so it keeps them.
//!
//! # Format
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `gov.members` | member id | `{"public_key": "<PEM>", "status": "accepted" \| "active"}` (`members.rs`) |
//! | `gov.users` | user id | `{"role": "<role>"}` (`members.rs`) |
//! | `gov.roles` | custom role name | `{"allow": [..], "deny": [..]}` (`roles.rs`) |
//! | `gov.constitution` | `text` | the constitution text, raw UTF-8 (`constitution.rs`) |
//! | `gov.proposals` | proposal id | [`ProposalRecord`] JSON (`proposals.rs`) |
//! | `gov.ballots` | `<proposal id>:<member id>` | `{"vote": "approve" \| "reject"}` (`proposals.rs`) |
//! | `gov.history` | member id | the member's last accepted [`SignedRequest`], JSON (`request.rs`); the key's history is every request |
//! | `gov.code_ids` | code id | `{}` (`members.rs`) |
//! | `gov.nodes` | node id | `{"measurement": "<code id>"}` (`members.rs`) |
//! | `gov.app.<name>` | application key | application value, written by proposals |
//!
//! JSON values are written by serde_json with fields in the order documented and no
//! whitespace; the audit re-derives them byte for byte. Every table key is UTF-8 except
//! those of `gov.app.*` tables. The engine's own `internal.service` (service certificate,
//! and the ledger instance record every request names) and `internal.nodes` (node
//! certificates) complete the picture.
//!
//! Ids: a member id is the hex SHA-256 of the member public key's SubjectPublicKeyInfo; the
//! service id, which every signed request names, is the hex SHA-256 of the service
//! certificate's DER ([`service_id_of`]); a user id is whatever fingerprint the program uses
//! (for certificate users, [`user_id_of_certificate`], as Azure Confidential Ledger does; for
//! key users, [`user_id_of_public_key`]).
//!
//! # Ledger instances
//!
//! A signed request names the ledger it is for twice: by the service id, and by the ledger
//! *instance* in force ([`crate::LedgerInstance`], [`Governance::instance`]): a random
//! ledger id drawn when the ledger is created, and an epoch that rises by one each time the
//! ledger is restored from a backup ([`crate::Ledger::restore`]). The ledger refuses a
//! request naming another instance ([`Refusal::WrongInstance`]), so
//!
//! * two ledgers created with the same service identity
//!   ([`crate::LedgerConfig::service_identity`]), even with the same members, do not accept
//!   each other's requests; and
//! * a copy restored from a backup (same ledger id, higher epoch) does not accept requests
//!   signed for the original, in particular those signed after the backup was taken, which
//!   its older counters would otherwise let through, nor does the original accept the
//!   copy's. **Members sign again after a restore**: requests signed before it, including
//!   open proposals' ballots not yet cast, must be rebuilt for the restored instance
//!   ([`Governance::request_for`] does so).
//!
//! Requests of version 1 (written by older code, see [`SignedRequest`]) name no instance:
//! they are accepted only while the ledger records none, which is the case only for a
//! history written by older code; the first open by this version records the instance, and
//! from then on version 1 is refused. The audit checks every recorded request against the
//! instance in force at its point in history, as the ledger did.
//!
//! Two copies restored from the same backup have the same instance: the epoch tells a
//! restored copy from its original, not two copies of one backup from one another.
//!
//! # Concurrency
//!
//! Governance decisions are serialized by a lock that governance keeps for each ledger (in
//! the ledger's extension slot): each one reads the state every earlier decision left,
//! decides, and records its transaction before the next one reads. Calls return once the
//! transaction is recorded (readable), not committed; wait for the returned [`crate::TxId`]
//! with [`crate::Ledger::wait_for_commit`] before relying on a receipt.

pub(crate) mod codec;
pub(crate) mod constitution;
pub(crate) mod exec;
mod handle;
mod keys;
pub(crate) mod members;
pub(crate) mod proposals;
pub(crate) mod request;
pub(crate) mod roles;
mod session;
mod tables;

pub use self::constitution::{Constitution, Rule, DEFAULT_CONSTITUTION};
pub use self::exec::MAX_ACTIONS;
pub use self::handle::Governance;
pub use self::keys::{KeyAlgorithm, MemberKey, MemberPublicKey};
pub use self::members::{Genesis, MemberInfo, MemberRecord, NodeInfo, UserInfo, UserRecord};
pub use self::proposals::{
    Action, Ballot, Proposal, ProposalOutcome, ProposalRecord, ProposalVersion, Vote,
    APP_TABLE_PREFIX,
};
pub use self::request::{Request, RequestBuilder, RequestPayload, SignedRequest, StateDigest};
pub use self::roles::{BuiltinRole, Decision, Operation, Permission, RoleDefinition, Scope};
pub use self::session::UserSession;
pub use self::tables::{
    service_id_of, user_id_of_certificate, user_id_of_certificate_der, user_id_of_public_key,
    BALLOTS_TABLE, CODE_IDS_TABLE, CONSTITUTION_KEY, CONSTITUTION_TABLE, HISTORY_TABLE,
    MEMBERS_TABLE, NODE_ATTESTATIONS_TABLE, PROPOSALS_TABLE, ROLES_TABLE, USERS_TABLE,
};
pub use crate::refusal::{MemberStatus, ProposalState, Refusal, RequestKind};
