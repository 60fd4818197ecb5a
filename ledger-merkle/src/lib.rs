//! Pure Merkle tree math for the ledger: the RFC 9162 tree shape, two hashing profiles,
//! inclusion and consistency proofs with their verifiers, and a tile seam through which a
//! store persists nodes. No I/O and no knowledge of ledgers.
//!
//! # Tree shape and profiles
//!
//! The tree over `n` leaves is RFC 9162's (section 2.1.1): the left subtree holds the largest
//! power of two strictly less than `n` leaves. Two [`TreeHasher`] profiles (SPEC section 4):
//!
//! * [`CcfSha256`], the ledger's: leaves are given as is, interior nodes are
//!   SHA-256(left ‖ right), the empty tree's root is 32 zero bytes. There is no domain
//!   separation between leaves and interior nodes, exactly as CCF does; the ledger's leaves are
//!   themselves SHA-256 outputs over a fixed layout, and every proof fixes the tree size.
//! * [`Rfc6962`]: leaves SHA-256(0x00 ‖ data) ([`Rfc6962::hash_leaf`]), interior nodes
//!   SHA-256(0x01 ‖ left ‖ right), empty tree SHA-256(""). The prefixes separate leaves from
//!   interior nodes, so no interior node can be passed off as a leaf.
//!
//! # Bounds
//!
//! Sizes and leaf indices are `u64`. Roots and proofs exist for every size `0..=len()` (no
//! inclusion proof in the empty tree; no consistency proof from the empty tree, which proves
//! nothing). Verifiers accept any input: every malformed index, size pair or proof is an
//! [`MerkleError`], never a panic.
//!
//! # Persistence
//!
//! [`MerkleTree`] keeps its nodes in memory until [`MerkleTree::prune`] drops the ones already
//! handed out in [`Tile`]s by [`MerkleTree::take_dirty_tiles`]; [`MerkleTree::open`] reopens
//! a tree from the last tile of each row of a [`TileStore`]. The [`tree`] module documents the
//! invariants, the [`tile`] module the tile layout and byte format.
//!
//! # Example
//!
//! ```
//! use ledger_merkle::{verify_consistency, verify_inclusion, CcfSha256, MerkleTree, Rfc6962};
//!
//! let mut tree = MerkleTree::<Rfc6962>::new();
//! for data in [&b"a"[..], b"b", b"c", b"d", b"e"] {
//!     tree.push(Rfc6962::hash_leaf(data));
//! }
//! let root = tree.root();
//!
//! let leaf = Rfc6962::hash_leaf(b"c");
//! let proof = tree.inclusion_proof(2, 5)?;
//! verify_inclusion::<Rfc6962>(&leaf, 2, 5, &proof, &root)?;
//!
//! let old_root = tree.root_at(3)?;
//! let proof = tree.consistency_proof(3, 5)?;
//! verify_consistency::<Rfc6962>(3, 5, &proof, &old_root, &root)?;
//!
//! // The ledger's profile: leaves are 32-byte hashes computed by the caller.
//! let mut ledger = MerkleTree::<CcfSha256>::new();
//! ledger.push([0u8; 32]);
//! assert_eq!(ledger.root(), [0u8; 32]);
//! # Ok::<(), ledger_merkle::MerkleError>(())
//! ```

pub mod error;
pub mod hasher;
pub mod proof;
pub mod tile;
pub mod tree;

pub use error::{MerkleError, TileStoreError};
pub use hasher::{CcfSha256, Rfc6962, TreeHasher};
pub use proof::{
    consistency_path_sides, consistency_proof_len, inclusion_path_sides, inclusion_proof_len,
    root_from_inclusion_proof, verify_consistency, verify_inclusion, ConsistencyPathSides,
    InclusionPathSides, Side,
};
pub use tile::{MemoryTileStore, Tile, TileId, TileStore, TILE_HEIGHT, TILE_WIDTH};
pub use tree::MerkleTree;

/// A 32-byte SHA-256 digest: a leaf hash, an interior node or a root.
pub type Digest = [u8; 32];
