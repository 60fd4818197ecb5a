//! The openraft type configuration of this slice and its application data.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A node's id in the Raft cluster.
pub type NodeId = u64;

/// What a client proposes through Raft in this slice: opaque bytes, recorded by the state
/// machine under the log index that carried them.
///
/// The next slice replaces it with the primary's ledger groups (see the crate documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload(pub Vec<u8>);

/// The state machine's answer to one applied entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    /// A payload was recorded at this log index.
    Payload {
        /// The Raft log index that carried it.
        index: u64,
    },
    /// A blank entry (a new leader's first entry) was applied.
    Blank,
    /// A membership change was applied.
    Membership,
}

openraft::declare_raft_types!(
    /// The openraft type configuration: `u64` node ids, [`openraft::BasicNode`] addresses,
    /// [`Payload`] requests, [`Applied`] responses, snapshots as bytes in memory, tokio.
    pub TypeConfig:
        D = Payload,
        R = Applied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// An entry of the Raft log.
pub type Entry = openraft::Entry<TypeConfig>;
/// A Raft log id (term and index).
pub type LogId = openraft::LogId<NodeId>;
/// A Raft vote.
pub type Vote = openraft::Vote<NodeId>;
/// A membership as of the log id that set it.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
/// What a snapshot covers.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
/// openraft's storage error.
pub type StorageError = openraft::StorageError<NodeId>;
