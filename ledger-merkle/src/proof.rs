//! Proof layouts and verifiers (RFC 9162 sections 2.1.3 and 2.1.4).
//!
//! Everything here is pure index arithmetic plus hashing of caller-supplied digests: no
//! function panics on any combination of indices, sizes and proofs, and every malformed input
//! is reported as a [`MerkleError`].
//!
//! # Inclusion proofs
//!
//! The audit path of leaf `index` in a tree of `size` leaves, ordered leaf to root. Let
//! `inner` be the bit length of `index ^ (size - 1)`: the first `inner` elements are siblings
//! inside the smallest perfect subtree holding both `index` and the last leaf; the sibling at
//! step `i` sits on the right when bit `i` of `index` is 0 and on the left otherwise. The
//! remaining `popcount(index >> inner)` elements are the perfect subtrees to the left of that
//! subtree, each on the left. [`inclusion_path_sides`] yields those sides for receipts.
//!
//! # Consistency proofs
//!
//! From `size1` to `size2` (`0 < size1 <= size2`): empty when the sizes are equal; otherwise
//! the root of the largest perfect subtree ending at `size1` (omitted when `size1` is a power
//! of two, since it is then the old root itself), followed by that subtree's audit path in the
//! tree of `size2`. A consistency proof from the empty tree proves nothing and is rejected.
//! [`consistency_path_sides`] gives the side of each element after that first node: a left
//! element is shared by both trees, a right one belongs to the newer tree only.

use crate::{Digest, MerkleError, TreeHasher};

/// The side on which a proof element (a sibling) sits relative to the running hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The sibling is the left child: the parent is `H(sibling ‖ acc)`.
    Left,
    /// The sibling is the right child: the parent is `H(acc ‖ sibling)`.
    Right,
}

impl Side {
    /// Combines the running hash `acc` with `sibling` sitting on this side.
    pub fn combine<H: TreeHasher>(self, acc: &Digest, sibling: &Digest) -> Digest {
        match self {
            Side::Left => H::hash_children(sibling, acc),
            Side::Right => H::hash_children(acc, sibling),
        }
    }
}

/// The sides of the elements of an inclusion proof, leaf to root; see
/// [`inclusion_path_sides`].
#[derive(Clone, Debug)]
pub struct InclusionPathSides {
    index: u64,
    inner: u32,
    step: u32,
    len: u32,
}

impl Iterator for InclusionPathSides {
    type Item = Side;

    fn next(&mut self) -> Option<Side> {
        if self.step >= self.len {
            return None;
        }
        let step = self.step;
        self.step += 1;
        if step < self.inner && (self.index >> step) & 1 == 0 {
            Some(Side::Right)
        } else {
            Some(Side::Left)
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.len - self.step) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for InclusionPathSides {}

/// Bit length of `x` (0 for 0).
pub(crate) fn bit_len(x: u64) -> u32 {
    u64::BITS - x.leading_zeros()
}

/// `(inner, border)` of the inclusion proof for `index < size` (see the module docs).
fn inclusion_shape(index: u64, size: u64) -> (u32, u32) {
    let inner = bit_len(index ^ (size - 1));
    let border = (index.checked_shr(inner).unwrap_or(0)).count_ones();
    (inner, border)
}

/// The side of each element of the inclusion proof of leaf `index` in a tree of `size`
/// leaves, leaf to root: what a receipt labels `left` / `right`.
///
/// # Errors
///
/// [`MerkleError::IndexOutOfRange`] if `index >= size`.
///
/// ```
/// use ledger_merkle::{inclusion_path_sides, Side};
/// let sides: Vec<Side> = inclusion_path_sides(2, 5)?.collect();
/// assert_eq!(sides, [Side::Right, Side::Left, Side::Right]);
/// # Ok::<(), ledger_merkle::MerkleError>(())
/// ```
pub fn inclusion_path_sides(index: u64, size: u64) -> Result<InclusionPathSides, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let (inner, border) = inclusion_shape(index, size);
    Ok(InclusionPathSides {
        index,
        inner,
        step: 0,
        len: inner + border,
    })
}

/// The number of elements in the inclusion proof of leaf `index` in a tree of `size` leaves.
///
/// # Errors
///
/// [`MerkleError::IndexOutOfRange`] if `index >= size`.
pub fn inclusion_proof_len(index: u64, size: u64) -> Result<usize, MerkleError> {
    Ok(inclusion_path_sides(index, size)?.len())
}

/// The shape of a consistency proof with `0 < size1 < size2`: whether the proof starts with
/// the old subtree root (`seeded`), the number of inner and border elements, and the bit mask
/// that places the inner elements.
struct ConsistencyShape {
    seeded: bool,
    inner: u32,
    border: u32,
    mask: u64,
}

fn consistency_shape(size1: u64, size2: u64) -> ConsistencyShape {
    let (inner, border) = inclusion_shape(size1 - 1, size2);
    let shift = size1.trailing_zeros();
    // `size1 - 1` and `size2 - 1` differ at some bit >= shift, so `inner > shift`.
    ConsistencyShape {
        seeded: !size1.is_power_of_two(),
        inner: inner - shift,
        border,
        mask: (size1 - 1) >> shift,
    }
}

fn check_consistency_sizes(size1: u64, size2: u64) -> Result<(), MerkleError> {
    if size1 == 0 || size1 > size2 {
        return Err(MerkleError::InvalidConsistencySizes { size1, size2 });
    }
    Ok(())
}

/// The number of elements in the consistency proof from `size1` to `size2`.
///
/// # Errors
///
/// [`MerkleError::InvalidConsistencySizes`] if `size1 == 0` or `size1 > size2`.
pub fn consistency_proof_len(size1: u64, size2: u64) -> Result<usize, MerkleError> {
    check_consistency_sizes(size1, size2)?;
    if size1 == size2 {
        return Ok(0);
    }
    let s = consistency_shape(size1, size2);
    Ok(usize::from(s.seeded) + (s.inner + s.border) as usize)
}

/// The sides of the elements of a consistency proof from `size1` to `size2`
/// (`0 < size1 < size2`) that follow its starting node, in proof order: every element when
/// `size1` is a power of two (the proof then starts from the old root itself), all but the
/// first otherwise (the first is the root of the largest perfect subtree ending at `size1`).
///
/// A [`Side::Left`] element is a node both trees share: folding the starting node with the
/// left elements alone gives the old root, with every element the new root. This is the
/// labelling the CCF profile of COSE receipts gives consistency proofs.
///
/// # Errors
///
/// [`MerkleError::InvalidConsistencySizes`] unless `0 < size1 < size2`.
///
/// ```
/// use ledger_merkle::{consistency_path_sides, Side};
/// // From 5 leaves to 6: leaf 4 is the start, then leaf 5 (new), then [0, 4) (shared).
/// let sides: Vec<Side> = consistency_path_sides(5, 6)?.collect();
/// assert_eq!(sides, [Side::Right, Side::Left]);
/// # Ok::<(), ledger_merkle::MerkleError>(())
/// ```
pub fn consistency_path_sides(size1: u64, size2: u64) -> Result<ConsistencyPathSides, MerkleError> {
    check_consistency_sizes(size1, size2)?;
    if size1 == size2 {
        return Err(MerkleError::InvalidConsistencySizes { size1, size2 });
    }
    let shape = consistency_shape(size1, size2);
    Ok(ConsistencyPathSides {
        mask: shape.mask,
        inner: shape.inner,
        step: 0,
        len: shape.inner + shape.border,
    })
}

/// The sides of a consistency proof's elements after its starting node; see
/// [`consistency_path_sides`].
#[derive(Clone, Debug)]
pub struct ConsistencyPathSides {
    mask: u64,
    inner: u32,
    step: u32,
    len: u32,
}

impl Iterator for ConsistencyPathSides {
    type Item = Side;

    fn next(&mut self) -> Option<Side> {
        if self.step >= self.len {
            return None;
        }
        let step = self.step;
        self.step += 1;
        if step < self.inner && (self.mask.checked_shr(step).unwrap_or(0)) & 1 == 0 {
            Some(Side::Right)
        } else {
            Some(Side::Left)
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.len - self.step) as usize;
        (n, Some(n))
    }
}

impl ExactSizeIterator for ConsistencyPathSides {}

/// Folds an inclusion proof into the root it implies for `leaf_hash` at `index` in a tree of
/// `size` leaves.
///
/// # Errors
///
/// [`MerkleError::IndexOutOfRange`] if `index >= size`; [`MerkleError::ProofLength`] if the
/// proof does not have the length `index` and `size` imply.
pub fn root_from_inclusion_proof<H: TreeHasher>(
    leaf_hash: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
) -> Result<Digest, MerkleError> {
    let sides = inclusion_path_sides(index, size)?;
    if sides.len() != proof.len() {
        return Err(MerkleError::ProofLength {
            expected: sides.len(),
            actual: proof.len(),
        });
    }
    Ok(sides.zip(proof).fold(*leaf_hash, |acc, (side, sibling)| {
        side.combine::<H>(&acc, sibling)
    }))
}

/// Checks that `proof` proves `leaf_hash` is leaf `index` of the tree of `size` leaves whose
/// root is `root`.
///
/// # Errors
///
/// [`MerkleError::IndexOutOfRange`] if `index >= size`, [`MerkleError::ProofLength`] for a
/// proof of the wrong length, [`MerkleError::RootMismatch`] if the proof leads elsewhere.
pub fn verify_inclusion<H: TreeHasher>(
    leaf_hash: &Digest,
    index: u64,
    size: u64,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), MerkleError> {
    let computed = root_from_inclusion_proof::<H>(leaf_hash, index, size, proof)?;
    if &computed == root {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

/// Checks that `proof` proves the tree of `size2` leaves with root `root2` extends the tree of
/// `size1` leaves with root `root1`.
///
/// # Errors
///
/// [`MerkleError::InvalidConsistencySizes`] if `size1 == 0` or `size1 > size2`;
/// [`MerkleError::ProofLength`] for a proof of the wrong length (in particular a non-empty
/// proof when `size1 == size2`); [`MerkleError::RootMismatch`] if either root is not the one
/// the proof implies.
pub fn verify_consistency<H: TreeHasher>(
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
    root2: &Digest,
) -> Result<(), MerkleError> {
    let expected = consistency_proof_len(size1, size2)?;
    if proof.len() != expected {
        return Err(MerkleError::ProofLength {
            expected,
            actual: proof.len(),
        });
    }
    if size1 == size2 {
        return if root1 == root2 {
            Ok(())
        } else {
            Err(MerkleError::RootMismatch)
        };
    }
    let shape = consistency_shape(size1, size2);
    let (seed, rest) = match (shape.seeded, proof.split_first()) {
        (true, Some((first, rest))) => (first, rest),
        _ => (root1, proof),
    };
    let (inner, border) = rest.split_at((shape.inner as usize).min(rest.len()));

    // The old root uses only the left siblings; the new root uses every element.
    let mut old = *seed;
    let mut new = *seed;
    for (i, sibling) in inner.iter().enumerate() {
        if (shape.mask >> i) & 1 == 1 {
            old = H::hash_children(sibling, &old);
            new = H::hash_children(sibling, &new);
        } else {
            new = H::hash_children(&new, sibling);
        }
    }
    for sibling in border {
        old = H::hash_children(sibling, &old);
        new = H::hash_children(sibling, &new);
    }
    if &old == root1 && &new == root2 {
        Ok(())
    } else {
        Err(MerkleError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_follow_the_rfc_shape() {
        // Tree of 7: leaf 6 is paired with nothing until the top; its siblings are the
        // subtrees [4, 6) and [0, 4), both on the left.
        let sides: Vec<Side> = inclusion_path_sides(6, 7).into_iter().flatten().collect();
        assert_eq!(sides, [Side::Left, Side::Left]);
        let sides: Vec<Side> = inclusion_path_sides(0, 8).into_iter().flatten().collect();
        assert_eq!(sides, [Side::Right; 3]);
        assert!(inclusion_path_sides(0, 1).is_ok_and(|s| s.len() == 0));
        assert!(inclusion_path_sides(3, 3).is_err());
        assert!(inclusion_path_sides(0, 0).is_err());
    }

    #[test]
    fn consistency_sides_fold_the_verifier_s_way() {
        use crate::CcfSha256;
        // A proof of made-up digests folds, with these sides, to the roots the verifier
        // recomputes: both must agree for every pair of sizes.
        for size2 in 2..70u64 {
            for size1 in 1..size2 {
                let len = consistency_proof_len(size1, size2).unwrap_or(0);
                let proof: Vec<Digest> = (0..len).map(|i| [i as u8 + 1; 32]).collect();
                let seeded = !size1.is_power_of_two();
                let root1 = [0xaa; 32];
                let (start, rest) = if seeded {
                    (proof[0], &proof[1..])
                } else {
                    (root1, &proof[..])
                };
                let sides: Vec<Side> = consistency_path_sides(size1, size2)
                    .into_iter()
                    .flatten()
                    .collect();
                assert_eq!(sides.len(), rest.len(), "{size1} -> {size2}");
                let (mut old, mut new) = (start, start);
                for (side, d) in sides.iter().zip(rest) {
                    if *side == Side::Left {
                        old = CcfSha256::hash_children(d, &old);
                    }
                    new = side.combine::<CcfSha256>(&new, d);
                }
                let root1 = if seeded { old } else { root1 };
                assert!(
                    verify_consistency::<CcfSha256>(size1, size2, &proof, &root1, &new).is_ok(),
                    "{size1} -> {size2}"
                );
            }
        }
        assert!(consistency_path_sides(3, 3).is_err());
        assert!(consistency_path_sides(0, 3).is_err());
        assert!(consistency_path_sides(4, 3).is_err());
        assert!(consistency_path_sides(u64::MAX - 1, u64::MAX).is_ok());
    }

    #[test]
    fn lengths_at_the_extremes_do_not_overflow() {
        assert_eq!(inclusion_proof_len(u64::MAX - 1, u64::MAX).ok(), Some(63));
        assert_eq!(inclusion_proof_len(0, u64::MAX).ok(), Some(64));
        assert!(consistency_proof_len(1, u64::MAX).is_ok());
        assert!(consistency_proof_len(u64::MAX - 1, u64::MAX).is_ok());
        assert_eq!(consistency_proof_len(5, 5).ok(), Some(0));
        assert!(consistency_proof_len(0, 5).is_err());
        assert!(consistency_proof_len(6, 5).is_err());
    }
}
