//! The openraft type configuration of this slice and its application data.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A node's id in the Raft cluster.
pub type NodeId = u64;

/// What a Raft entry carries: opaque bytes. On ledger nodes, a primary's group
/// ([`crate::encode_group`]); the opaque [`crate::StateMachine`] records them under the log
/// index that carried them. Encoded as bytes (a length, then the bytes: in bincode the same
/// encoding as a sequence of `u8`), read and written as one slice. The bytes are shared:
/// cloning an entry (the log's in-memory tail hands out clones to replication and apply)
/// copies no payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload(pub Bytes);

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
    /// [`Payload`] requests, [`Applied`] responses, snapshots as [`crate::SnapshotData`], tokio.
    pub TypeConfig:
        D = Payload,
        R = Applied,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        SnapshotData = crate::SnapshotData,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoding the bytes as one slice changed nothing on disk or on the wire: the stored
    /// Raft logs of earlier versions read back the same.
    #[test]
    fn a_payload_encodes_as_a_sequence_of_bytes_did() {
        #[derive(Serialize, Deserialize)]
        struct AsSequence(Vec<u8>);
        let config = bincode::config::standard();
        for len in [0usize, 1, 127, 128, 300, 70_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let now = bincode::serde::encode_to_vec(Payload(bytes.clone().into()), config).unwrap();
            let before = bincode::serde::encode_to_vec(AsSequence(bytes.clone()), config).unwrap();
            assert_eq!(now, before, "{len} bytes");
            let (back, _): (Payload, usize) =
                bincode::serde::decode_from_slice(&before, config).unwrap();
            assert_eq!(back.0, bytes);
        }
    }

    /// Likewise a ledger group's entries (`ledger_core::ReplicatedEntry::bytes`).
    #[test]
    fn a_group_encodes_as_with_sequences_of_bytes() {
        #[derive(Serialize)]
        struct Entry {
            seqno: u64,
            bytes: Vec<u8>,
        }
        #[derive(Serialize)]
        struct Group {
            entries: Vec<Entry>,
        }
        let config = bincode::config::standard();
        let entries: Vec<(u64, Vec<u8>)> = (1..40u64)
            .map(|seqno| (seqno, vec![seqno as u8; (seqno * 13) as usize]))
            .collect();
        let group = ledger_core::ReplicatedGroup {
            entries: entries
                .iter()
                .map(|(seqno, bytes)| ledger_core::ReplicatedEntry {
                    seqno: *seqno,
                    bytes: bytes.clone(),
                })
                .collect(),
        };
        let before = Group {
            entries: entries
                .into_iter()
                .map(|(seqno, bytes)| Entry { seqno, bytes })
                .collect(),
        };
        assert_eq!(
            bincode::serde::encode_to_vec(&group, config).unwrap(),
            bincode::serde::encode_to_vec(&before, config).unwrap()
        );
    }
}
