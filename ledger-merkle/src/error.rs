//! The one error type of `ledger-merkle`.

use crate::tile::TileId;

/// Why a Merkle operation or a proof verification failed.
///
/// Every malformed input to a verifier maps to one of these; nothing in this crate panics on
/// caller-supplied sizes, indices or proofs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// A leaf index is not below the tree size it was asked about.
    #[error("leaf index {index} is out of range for a tree of size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size the index was checked against.
        size: u64,
    },
    /// A tree size is larger than the tree (or than the other size of a consistency pair).
    #[error("tree size {size} is out of range (the tree has {len} leaves)")]
    SizeOutOfRange {
        /// The requested size.
        size: u64,
        /// The number of leaves available.
        len: u64,
    },
    /// A consistency proof was asked for or checked with `size1 == 0` or `size1 > size2`.
    #[error("invalid consistency sizes {size1} -> {size2}")]
    InvalidConsistencySizes {
        /// The older size.
        size1: u64,
        /// The newer size.
        size2: u64,
    },
    /// A proof has the wrong number of elements for its index and sizes.
    #[error("proof has {actual} elements, expected {expected}")]
    ProofLength {
        /// The length the sizes imply.
        expected: usize,
        /// The length supplied.
        actual: usize,
    },
    /// A proof folded to a root other than the one given.
    #[error("proof does not lead to the expected root")]
    RootMismatch,
    /// A node needed for the request is no longer held in memory and no tile store was given
    /// (or the store does not have it).
    #[error("node at level {level}, index {index} is not available")]
    MissingNode {
        /// Tree level of the node (0 = leaves).
        level: u8,
        /// Index of the node within its level.
        index: u64,
    },
    /// A stored tile does not have the shape its id and the tree size require.
    #[error("malformed tile {id:?}: {reason}")]
    MalformedTile {
        /// The tile's position.
        id: TileId,
        /// What is wrong with it.
        reason: String,
    },
    /// The tile store failed to load a tile.
    #[error("tile store failed: {0}")]
    Store(#[from] TileStoreError),
}

/// An error reported by a [`crate::TileStore`] implementation, boxed so that any backend's
/// error type can travel through the Merkle layer unchanged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TileStoreError(pub Box<dyn std::error::Error + Send + Sync + 'static>);
