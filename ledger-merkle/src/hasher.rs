//! The two hashing profiles of SPEC section 4, behind [`TreeHasher`].
//!
//! | profile | leaf | interior node | empty tree |
//! | --- | --- | --- | --- |
//! | [`CcfSha256`] | the caller's 32-byte leaf, as is | SHA-256(left ‖ right) | 32 zero bytes |
//! | [`Rfc6962`] | SHA-256(0x00 ‖ data), see [`Rfc6962::hash_leaf`] | SHA-256(0x01 ‖ left ‖ right) | SHA-256("") |
//!
//! Interior hashes run the SHA-256 compression function directly over two prepared blocks
//! (the message and its padding), so hashing a node allocates nothing and skips the
//! streaming buffer of the [`sha2::Digest`] API. Both profiles hash exactly two blocks per
//! interior node: 64 message bytes for `CcfSha256`, 65 for `Rfc6962`.

use sha2::digest::generic_array::{typenum::U64, GenericArray};
use sha2::{Digest as _, Sha256};

use crate::Digest;

/// A Merkle hashing profile: how two children combine and what the empty tree's root is.
///
/// Leaf hashing is outside this trait: the tree is fed leaf hashes. A profile that defines a
/// leaf hash offers it as an inherent function (see [`Rfc6962::hash_leaf`]).
pub trait TreeHasher: Send + Sync + 'static {
    /// The hash of an interior node from its left and right children.
    fn hash_children(left: &Digest, right: &Digest) -> Digest;

    /// The root of the tree with no leaves.
    fn empty_root() -> Digest;
}

/// The ledger's profile (as CCF does): leaves are given as is, interior nodes are
/// SHA-256(left ‖ right) with no domain-separation prefix, and the empty tree's root is 32
/// zero bytes.
///
/// Without a prefix a leaf and an interior node are not told apart by their hashes; the ledger
/// relies on leaves being SHA-256 outputs over a fixed 96-byte layout (SPEC section 3) and on
/// proofs fixing the tree size, as CCF does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CcfSha256;

/// The RFC 6962 / RFC 9162 profile: leaf SHA-256(0x00 ‖ data), interior SHA-256(0x01 ‖ left ‖
/// right), empty tree SHA-256("").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rfc6962;

/// SHA-256 of the empty string: the root of an empty `Rfc6962` tree.
const SHA256_EMPTY: Digest = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// SHA-256 initial hash value (FIPS 180-4 section 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

type Block = GenericArray<u8, U64>;

/// Runs the compression function over `blocks` from the initial state and serializes the
/// state: the SHA-256 of a message whose padding is already in `blocks`.
#[inline(always)]
fn digest_blocks(blocks: &[Block; 2]) -> Digest {
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, blocks);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl TreeHasher for CcfSha256 {
    #[inline]
    fn hash_children(left: &Digest, right: &Digest) -> Digest {
        // Block 1: left ‖ right. Block 2: padding for a 64-byte message: 0x80, zeros, and
        // the bit length 512 as a big-endian u64.
        let mut blocks = [Block::default(); 2];
        blocks[0][..32].copy_from_slice(left);
        blocks[0][32..].copy_from_slice(right);
        blocks[1][0] = 0x80;
        blocks[1][56..].copy_from_slice(&512u64.to_be_bytes());
        digest_blocks(&blocks)
    }

    fn empty_root() -> Digest {
        [0u8; 32]
    }
}

impl Rfc6962 {
    /// The RFC 6962 leaf hash: SHA-256(0x00 ‖ data).
    pub fn hash_leaf(data: &[u8]) -> Digest {
        Sha256::new()
            .chain_update([0x00])
            .chain_update(data)
            .finalize()
            .into()
    }
}

impl TreeHasher for Rfc6962 {
    #[inline]
    fn hash_children(left: &Digest, right: &Digest) -> Digest {
        // Block 1: 0x01 ‖ left ‖ right[..31]. Block 2: right[31], then the padding for a
        // 65-byte message: 0x80, zeros, and the bit length 520 as a big-endian u64.
        let mut blocks = [Block::default(); 2];
        blocks[0][0] = 0x01;
        blocks[0][1..33].copy_from_slice(left);
        blocks[0][33..].copy_from_slice(&right[..31]);
        blocks[1][0] = right[31];
        blocks[1][1] = 0x80;
        blocks[1][56..].copy_from_slice(&520u64.to_be_bytes());
        digest_blocks(&blocks)
    }

    fn empty_root() -> Digest {
        SHA256_EMPTY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256(parts: &[&[u8]]) -> Digest {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().into()
    }

    #[test]
    fn ccf_interior_is_plain_sha256_of_the_concatenation() {
        let l = [0x11u8; 32];
        let mut r = [0u8; 32];
        for (i, b) in r.iter_mut().enumerate() {
            *b = i as u8;
        }
        assert_eq!(CcfSha256::hash_children(&l, &r), sha256(&[&l, &r]));
        assert_ne!(
            CcfSha256::hash_children(&l, &r),
            CcfSha256::hash_children(&r, &l)
        );
        assert_eq!(CcfSha256::empty_root(), [0u8; 32]);
    }

    #[test]
    fn rfc6962_profile_matches_its_definition() {
        let l = [0xabu8; 32];
        let mut r = [0u8; 32];
        for (i, b) in r.iter_mut().enumerate() {
            *b = 255 - i as u8;
        }
        assert_eq!(Rfc6962::hash_children(&l, &r), sha256(&[&[1], &l, &r]));
        assert_eq!(Rfc6962::hash_leaf(b"abc"), sha256(&[&[0], b"abc"]));
        assert_eq!(Rfc6962::empty_root(), sha256(&[]));
        // The published RFC 6962 leaf hash of the empty leaf.
        assert_eq!(
            hex::encode(Rfc6962::hash_leaf(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
