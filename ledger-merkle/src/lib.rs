//! Pure Merkle tree math for the ledger (being written: see the tile module for the
//! persistence seam).

pub mod error;
pub mod tile;

pub use error::{MerkleError, TileStoreError};
pub use tile::{MemoryTileStore, Tile, TileId, TileStore, TILE_HEIGHT, TILE_WIDTH};

/// A 32-byte SHA-256 digest: a leaf hash, an interior node or a root.
pub type Digest = [u8; 32];
