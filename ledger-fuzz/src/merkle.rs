//! `merkle_operations` and `merkle_proof_verifiers`: `ledger-merkle` against a naive
//! recursive RFC 9162 tree.

use std::cell::RefCell;
use std::collections::HashMap;

use arbitrary::{Arbitrary, Unstructured};
use ledger_core::{fold_proof, proof_steps};
use ledger_merkle::{
    consistency_proof_len, inclusion_path_sides, inclusion_proof_len, root_from_inclusion_proof,
    verify_consistency, verify_inclusion, CcfSha256, Digest, MemoryTileStore, MerkleError,
    MerkleTree, Rfc6962, Tile, TreeHasher, TILE_HEIGHT,
};

use crate::{pick, sha256};

/// Most leaves a run grows its tree to (a few full tiles of row 0, the start of row 1).
const MAX_LEAVES: u64 = 3000;
/// Most operations taken from one input.
const MAX_OPS: usize = 64;

/// The naive tree: RFC 9162's recursive definitions over a leaf list, with the hashes of
/// subranges memoized (leaves are only appended between truncations, which clear the memo).
struct Naive<H> {
    leaves: Vec<Digest>,
    memo: RefCell<HashMap<(usize, usize), Digest>>,
    hasher: std::marker::PhantomData<H>,
}

/// The largest power of two strictly less than `n` (`n >= 2`).
fn split(n: usize) -> usize {
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

impl<H: TreeHasher> Naive<H> {
    fn new() -> Self {
        Self {
            leaves: Vec::new(),
            memo: RefCell::new(HashMap::new()),
            hasher: std::marker::PhantomData,
        }
    }

    fn len(&self) -> u64 {
        self.leaves.len() as u64
    }

    fn truncate(&mut self, size: u64) {
        self.leaves.truncate(size as usize);
        self.memo.borrow_mut().clear();
    }

    /// MTH(D[lo..hi]).
    fn mth(&self, lo: usize, hi: usize) -> Digest {
        match hi - lo {
            0 => H::empty_root(),
            1 => self.leaves[lo],
            n => {
                if let Some(d) = self.memo.borrow().get(&(lo, hi)) {
                    return *d;
                }
                let k = split(n);
                let d = H::hash_children(&self.mth(lo, lo + k), &self.mth(lo + k, hi));
                self.memo.borrow_mut().insert((lo, hi), d);
                d
            }
        }
    }

    fn root(&self, size: u64) -> Digest {
        self.mth(0, size as usize)
    }

    /// PATH(m, D[lo..hi]), leaf to root.
    fn path(&self, m: usize, lo: usize, hi: usize) -> Vec<Digest> {
        let n = hi - lo;
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut p = self.path(m, lo, lo + k);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.path(m - k, lo + k, hi);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    /// SUBPROOF(m, D[lo..hi], b).
    fn subproof(&self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<Digest> {
        let n = hi - lo;
        if m == n {
            return if b {
                Vec::new()
            } else {
                vec![self.mth(lo, hi)]
            };
        }
        let k = split(n);
        if m <= k {
            let mut p = self.subproof(m, lo, lo + k, b);
            p.push(self.mth(lo + k, hi));
            p
        } else {
            let mut p = self.subproof(m - k, lo + k, hi, false);
            p.push(self.mth(lo, lo + k));
            p
        }
    }

    /// The perfect-subtree node `(level, index)`.
    fn node(&self, level: u32, index: u64) -> Digest {
        let lo = (index << level) as usize;
        self.mth(lo, lo + (1usize << level))
    }
}

/// How a pushed leaf is made.
#[derive(Arbitrary, Debug)]
enum LeafSpec {
    /// 32 copies of one byte: repeated leaves give repeated subtrees.
    Byte(u8),
    /// A digest of the seed and the leaf's position: all distinct.
    Hashed(u8),
}

#[derive(Arbitrary, Debug)]
enum MerkleOp {
    Push(LeafSpec),
    PushMany { count: u16, seed: u8 },
    Root,
    RootAt { size: u16 },
    Leaf { index: u16 },
    Inclusion { index: u16, size: u16, flip: u16 },
    Consistency { size1: u16, size2: u16, flip: u16 },
    Truncate { size: u16 },
    TakeDirtyTiles,
    Prune { before: u16 },
    Reopen { size: u16 },
}

/// The leaf hash for leaf data `data`: as is for the CCF profile, RFC 6962's leaf hash
/// otherwise.
fn leaf_for(ccf: bool, data: &[u8; 32]) -> Digest {
    if ccf {
        *data
    } else {
        Rfc6962::hash_leaf(data)
    }
}

struct Run<H: TreeHasher> {
    ccf: bool,
    tree: MerkleTree<H>,
    model: Naive<H>,
    /// Every tile handed out, latest state: what a store would hold.
    tiles: MemoryTileStore,
    /// Reopening from `tiles` is valid at any size up to this one.
    persisted: u64,
    /// Whether nodes may be missing from memory (after a prune or a reopen).
    partial: bool,
}

/// A plain query may fail with `MissingNode` only once nodes were dropped from memory.
fn allow_missing<T>(partial: bool, result: Result<T, MerkleError>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(MerkleError::MissingNode { .. }) if partial => None,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

fn flip_bit(d: &mut Digest, bit: u16) {
    d[usize::from(bit / 8) % 32] ^= 1 << (bit % 8);
}

impl<H: TreeHasher> Run<H> {
    fn new(ccf: bool) -> Self {
        Self {
            ccf,
            tree: MerkleTree::new(),
            model: Naive::new(),
            tiles: MemoryTileStore::new(),
            persisted: 0,
            partial: false,
        }
    }

    fn push(&mut self, data: [u8; 32]) {
        if self.model.len() >= MAX_LEAVES {
            return;
        }
        let leaf = leaf_for(self.ccf, &data);
        self.tree.push(leaf);
        self.model.leaves.push(leaf);
    }

    fn apply(&mut self, op: MerkleOp) {
        let len = self.model.len();
        match op {
            MerkleOp::Push(LeafSpec::Byte(b)) => self.push([b; 32]),
            MerkleOp::Push(LeafSpec::Hashed(seed)) => {
                self.push(sha256(&[&[seed], &len.to_be_bytes()]));
            }
            MerkleOp::PushMany { count, seed } => {
                for i in 0..u64::from(count % 700) {
                    self.push(sha256(&[&[seed], &(len + i).to_be_bytes()]));
                }
            }
            MerkleOp::Root => assert_eq!(self.tree.root(), self.model.root(len)),
            MerkleOp::RootAt { size } => self.root_at(pick(size, len)),
            MerkleOp::Leaf { index } => {
                let index = pick(index, len);
                match self.tree.leaf(index) {
                    Ok(leaf) => assert_eq!(leaf, self.model.leaves[index as usize]),
                    Err(MerkleError::IndexOutOfRange { .. }) => assert!(index >= len),
                    Err(MerkleError::MissingNode { .. }) => assert!(self.partial && index < len),
                    Err(e) => panic!("leaf {index}: {e:?}"),
                }
            }
            MerkleOp::Inclusion { index, size, flip } => {
                let size = pick(size, len);
                self.inclusion(pick(index, size), size, flip);
            }
            MerkleOp::Consistency { size1, size2, flip } => {
                let size2 = pick(size2, len);
                self.consistency(pick(size1, size2), size2, flip);
            }
            MerkleOp::Truncate { size } => self.truncate(pick(size, len)),
            MerkleOp::TakeDirtyTiles => self.take_dirty_tiles(),
            MerkleOp::Prune { before } => {
                // Only nodes already handed out in tiles are dropped.
                self.tree.prune(pick(before, len));
                self.partial |= self.persisted > 0;
            }
            MerkleOp::Reopen { size } => {
                let size = u64::from(size) % (self.persisted + 1);
                self.tree = match MerkleTree::open(&self.tiles, size) {
                    Ok(t) => t,
                    Err(e) => panic!("reopen at {size} (persisted {}): {e:?}", self.persisted),
                };
                self.model.truncate(size);
                self.persisted = size;
                self.partial = size > 0;
            }
        }
        assert_eq!(self.tree.len(), self.model.len());
    }

    fn root_at(&mut self, size: u64) {
        let len = self.model.len();
        if size > len {
            assert!(matches!(
                self.tree.root_at(size),
                Err(MerkleError::SizeOutOfRange { .. })
            ));
            return;
        }
        let expected = self.model.root(size);
        if let Some(r) = allow_missing(self.partial, self.tree.root_at(size)) {
            assert_eq!(r, expected, "root at {size}");
        }
        assert_eq!(
            self.tree.root_at_with(&self.tiles, size).ok(),
            Some(expected),
            "root at {size} with tiles"
        );
    }

    fn inclusion(&mut self, index: u64, size: u64, flip: u16) {
        let len = self.model.len();
        if size > len || index >= size {
            assert!(self.tree.inclusion_proof(index, size).is_err());
            assert!(self
                .tree
                .inclusion_proof_with(&self.tiles, index, size)
                .is_err());
            return;
        }
        let expected = self.model.path(index as usize, 0, size as usize);
        if let Some(p) = allow_missing(self.partial, self.tree.inclusion_proof(index, size)) {
            assert_eq!(p, expected, "inclusion proof {index} in {size}");
        }
        let proof = match self.tree.inclusion_proof_with(&self.tiles, index, size) {
            Ok(p) => p,
            Err(e) => panic!("inclusion proof {index} in {size} with tiles: {e:?}"),
        };
        assert_eq!(
            proof, expected,
            "inclusion proof {index} in {size} with tiles"
        );
        let leaf = self.model.leaves[index as usize];
        let root = self.model.root(size);
        assert_eq!(inclusion_proof_len(index, size).ok(), Some(proof.len()));
        assert!(verify_inclusion::<H>(&leaf, index, size, &proof, &root).is_ok());
        if self.ccf {
            // Receipts label the same path with sides and fold it with SHA-256.
            let steps = match proof_steps(index, size, &proof) {
                Ok(s) => s,
                Err(e) => panic!("proof_steps {index} in {size}: {e:?}"),
            };
            assert_eq!(fold_proof(&leaf, &steps), root);
            let sides = inclusion_path_sides(index, size).map(|s| s.collect::<Vec<_>>());
            let labelled: Vec<_> = steps
                .iter()
                .map(|s| match s {
                    ledger_core::ProofStep::Left(_) => ledger_merkle::Side::Left,
                    ledger_core::ProofStep::Right(_) => ledger_merkle::Side::Right,
                })
                .collect();
            assert_eq!(sides.ok(), Some(labelled));
        }
        // Any single changed bit in the leaf, the proof or the root must be rejected.
        let mut bad_leaf = leaf;
        flip_bit(&mut bad_leaf, flip);
        assert!(matches!(
            verify_inclusion::<H>(&bad_leaf, index, size, &proof, &root),
            Err(MerkleError::RootMismatch)
        ));
        let mut bad_root = root;
        flip_bit(&mut bad_root, flip);
        assert!(verify_inclusion::<H>(&leaf, index, size, &proof, &bad_root).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = usize::from(flip) % bad.len();
            flip_bit(&mut bad[at], flip.rotate_left(5));
            assert!(verify_inclusion::<H>(&leaf, index, size, &bad, &root).is_err());
            bad = proof.clone();
            bad.pop();
            assert!(matches!(
                verify_inclusion::<H>(&leaf, index, size, &bad, &root),
                Err(MerkleError::ProofLength { .. })
            ));
        }
        let mut long = proof;
        long.push(root);
        assert!(matches!(
            verify_inclusion::<H>(&leaf, index, size, &long, &root),
            Err(MerkleError::ProofLength { .. })
        ));
    }

    fn consistency(&mut self, size1: u64, size2: u64, flip: u16) {
        let len = self.model.len();
        if size1 == 0 || size1 > size2 || size2 > len {
            assert!(self.tree.consistency_proof(size1, size2).is_err());
            assert!(self
                .tree
                .consistency_proof_with(&self.tiles, size1, size2)
                .is_err());
            return;
        }
        let expected = self.model.subproof(size1 as usize, 0, size2 as usize, true);
        if let Some(p) = allow_missing(self.partial, self.tree.consistency_proof(size1, size2)) {
            assert_eq!(p, expected, "consistency {size1} -> {size2}");
        }
        let proof = match self.tree.consistency_proof_with(&self.tiles, size1, size2) {
            Ok(p) => p,
            Err(e) => panic!("consistency {size1} -> {size2} with tiles: {e:?}"),
        };
        assert_eq!(proof, expected, "consistency {size1} -> {size2} with tiles");
        assert_eq!(consistency_proof_len(size1, size2).ok(), Some(proof.len()));
        let (r1, r2) = (self.model.root(size1), self.model.root(size2));
        assert!(verify_consistency::<H>(size1, size2, &proof, &r1, &r2).is_ok());
        let mut bad1 = r1;
        flip_bit(&mut bad1, flip);
        assert!(verify_consistency::<H>(size1, size2, &proof, &bad1, &r2).is_err());
        let mut bad2 = r2;
        flip_bit(&mut bad2, flip);
        assert!(verify_consistency::<H>(size1, size2, &proof, &r1, &bad2).is_err());
        if !proof.is_empty() {
            let mut bad = proof.clone();
            let at = usize::from(flip) % bad.len();
            flip_bit(&mut bad[at], flip.rotate_left(3));
            assert!(verify_consistency::<H>(size1, size2, &bad, &r1, &r2).is_err());
            bad = proof;
            bad.pop();
            assert!(matches!(
                verify_consistency::<H>(size1, size2, &bad, &r1, &r2),
                Err(MerkleError::ProofLength { .. })
            ));
        }
    }

    fn truncate(&mut self, size: u64) {
        let len = self.model.len();
        let before = self.tree.root_at_with(&self.tiles, len).ok();
        match self.tree.truncate(size) {
            Ok(()) => {
                assert!(size <= len);
                self.model.truncate(size);
                self.persisted = self.persisted.min(size);
            }
            Err(MerkleError::SizeOutOfRange { .. }) => assert!(size > len),
            Err(MerkleError::MissingNode { .. }) => {
                assert!(
                    self.partial,
                    "truncate to {size} refused with every node in memory"
                );
                assert_eq!(self.tree.len(), len);
                assert_eq!(self.tree.root_at_with(&self.tiles, len).ok(), before);
            }
            Err(e) => panic!("truncate to {size}: {e:?}"),
        }
    }

    fn take_dirty_tiles(&mut self) {
        let len = self.model.len();
        for tile in self.tree.take_dirty_tiles() {
            let id = tile.id();
            let bottom = u32::from(id.bottom_level());
            for (h, nodes) in tile.levels().iter().enumerate() {
                let level = bottom + h as u32;
                let first = id.index << (u32::from(TILE_HEIGHT) - h as u32);
                for (o, node) in nodes.iter().enumerate() {
                    let index = first + o as u64;
                    assert!(
                        (index + 1) << level <= len,
                        "tile {id:?} holds an incomplete node"
                    );
                    assert_eq!(
                        *node,
                        self.model.node(level, index),
                        "tile {id:?} node ({level}, {index})"
                    );
                }
            }
            assert_eq!(
                Tile::decode(id, &tile.encode()).ok().as_ref(),
                Some(&tile),
                "tile {id:?} round trip"
            );
            self.tiles.put(tile);
        }
        self.persisted = len;
    }
}

fn run<H: TreeHasher>(ccf: bool, u: &mut Unstructured<'_>) {
    let mut run = Run::<H>::new(ccf);
    for _ in 0..MAX_OPS {
        let Ok(op) = MerkleOp::arbitrary(u) else {
            break;
        };
        run.apply(op);
    }
    let len = run.model.len();
    assert_eq!(run.tree.root(), run.model.root(len));
}

/// Drives a [`MerkleTree`] (either profile) through pushes, roots and proofs at any size,
/// truncation, tile hand-out, pruning and reopening from the handed-out tiles, and checks
/// every answer against a naive recursive RFC 9162 tree: roots, audit paths and consistency
/// proofs equal the naive ones, verify, and stop verifying when one bit changes; tiles hold
/// exactly the naive nodes; `*_with` queries always answer; plain ones may only report
/// missing nodes after a prune or reopen.
pub fn merkle_operations(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(ccf) = bool::arbitrary(&mut u) else {
        return;
    };
    if ccf {
        run::<CcfSha256>(true, &mut u);
    } else {
        run::<Rfc6962>(false, &mut u);
    }
}

#[derive(Arbitrary, Debug)]
struct VerifierInput {
    leaf: Digest,
    index: u64,
    size: u64,
    size2: u64,
    proof: Vec<Digest>,
    root: Digest,
    root2: Digest,
}

fn verifiers<H: TreeHasher>(v: &VerifierInput, ccf: bool) {
    let expected_len = inclusion_proof_len(v.index, v.size).ok();
    match inclusion_path_sides(v.index, v.size) {
        Ok(sides) => {
            assert!(v.index < v.size);
            assert!(sides.len() <= 64);
            assert_eq!(expected_len, Some(sides.len()));
            assert_eq!(expected_len, Some(sides.count()));
        }
        Err(MerkleError::IndexOutOfRange { .. }) => assert!(v.index >= v.size),
        Err(e) => panic!("sides: {e:?}"),
    }
    let folded = root_from_inclusion_proof::<H>(&v.leaf, v.index, v.size, &v.proof);
    match (&folded, &expected_len) {
        (Ok(_), Some(n)) => assert_eq!(*n, v.proof.len()),
        (Err(MerkleError::ProofLength { expected, actual }), Some(n)) => {
            assert_eq!((*expected, *actual), (*n, v.proof.len()));
        }
        (Err(MerkleError::IndexOutOfRange { .. }), None) => {}
        other => panic!("root_from_inclusion_proof: {other:?}"),
    }
    let verified = verify_inclusion::<H>(&v.leaf, v.index, v.size, &v.proof, &v.root);
    match &folded {
        Ok(r) => assert_eq!(verified.is_ok(), *r == v.root),
        Err(_) => assert!(verified.is_err()),
    }
    if ccf {
        // The receipt labelling accepts exactly the paths the Merkle layer accepts and folds
        // them to the same root.
        match (proof_steps(v.index, v.size, &v.proof), &folded) {
            (Ok(steps), Ok(r)) => assert_eq!(fold_proof(&v.leaf, &steps), *r),
            (Err(_), Err(_)) => {}
            (steps, folded) => panic!("proof_steps {steps:?} but merkle {folded:?}"),
        }
    }
    let clen = consistency_proof_len(v.size, v.size2);
    assert_eq!(clen.is_ok(), v.size > 0 && v.size <= v.size2);
    if let Ok(n) = clen {
        assert!(n <= 130, "consistency proof of {n} elements");
    }
    let checked = verify_consistency::<H>(v.size, v.size2, &v.proof, &v.root, &v.root2);
    if checked.is_ok() {
        assert_eq!(clen.ok(), Some(v.proof.len()));
    }
    if v.size == v.size2 && v.size > 0 && v.proof.is_empty() {
        assert_eq!(checked.is_ok(), v.root == v.root2);
    }
}

/// Calls every proof verifier and proof-shape function of `ledger-merkle` (and the receipt
/// labelling of `ledger-core`) on arbitrary indices, sizes, proofs and roots: nothing may
/// panic, lengths and errors must follow the documented rules, a proof verifies exactly when
/// it folds to the given root, and the receipt's labelled fold agrees with the Merkle one.
pub fn merkle_proof_verifiers(data: &[u8]) {
    let Ok(v) = VerifierInput::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    verifiers::<CcfSha256>(&v, true);
    verifiers::<Rfc6962>(&v, false);
}
