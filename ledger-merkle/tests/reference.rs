//! The tree against a naive recursive RFC 9162 reference, for both profiles: every root and
//! every proof up to 64 leaves exhaustively, random operation sequences, and mutated or random
//! proofs that the verifiers must reject without panicking.

mod common;

use common::{consistency, leaves, mth, path};
use ledger_merkle::{
    consistency_proof_len, inclusion_path_sides, inclusion_proof_len, root_from_inclusion_proof,
    verify_consistency, verify_inclusion, CcfSha256, Digest, MerkleError, MerkleTree, Rfc6962,
    Side, TreeHasher,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};

const EXHAUSTIVE: u64 = 70;

fn build<H: TreeHasher>(d: &[Digest]) -> MerkleTree<H> {
    let mut t = MerkleTree::new();
    for l in d {
        t.push(*l);
    }
    t
}

fn exhaustive<H: TreeHasher>(seed: u64) {
    let d = leaves(seed, EXHAUSTIVE);
    let tree = build::<H>(&d);
    for n in 0..=d.len() {
        let root = mth::<H>(&d[..n]);
        assert_eq!(tree.root_at(n as u64).ok(), Some(root), "root at {n}");
        for m in 0..n {
            let want = path::<H>(m, &d[..n]);
            let got = tree.inclusion_proof(m as u64, n as u64);
            assert_eq!(got.as_ref().ok(), Some(&want), "inclusion {m} of {n}");
            assert_eq!(
                inclusion_proof_len(m as u64, n as u64).ok(),
                Some(want.len())
            );
            assert!(verify_inclusion::<H>(&d[m], m as u64, n as u64, &want, &root).is_ok());
            // The sides fold the path exactly as the verifier does.
            let folded = inclusion_path_sides(m as u64, n as u64)
                .into_iter()
                .flatten()
                .zip(&want)
                .fold(d[m], |acc, (side, sib)| side.combine::<H>(&acc, sib));
            assert_eq!(folded, root);
        }
        for m in 1..=n {
            let want = consistency::<H>(m, &d[..n]);
            let got = tree.consistency_proof(m as u64, n as u64);
            assert_eq!(got.as_ref().ok(), Some(&want), "consistency {m} -> {n}");
            assert_eq!(
                consistency_proof_len(m as u64, n as u64).ok(),
                Some(want.len())
            );
            let old = mth::<H>(&d[..m]);
            assert!(verify_consistency::<H>(m as u64, n as u64, &want, &old, &root).is_ok());
        }
    }
}

#[test]
fn every_root_and_proof_up_to_70_leaves_ccf() {
    exhaustive::<CcfSha256>(1);
}

#[test]
fn every_root_and_proof_up_to_70_leaves_rfc6962() {
    exhaustive::<Rfc6962>(2);
}

#[test]
fn bounds_are_errors() {
    let d = leaves(3, 10);
    let mut t = build::<CcfSha256>(&d);
    assert!(matches!(
        t.root_at(11),
        Err(MerkleError::SizeOutOfRange { size: 11, len: 10 })
    ));
    assert!(matches!(
        t.inclusion_proof(10, 10),
        Err(MerkleError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        t.inclusion_proof(0, 11),
        Err(MerkleError::SizeOutOfRange { .. })
    ));
    assert!(matches!(
        t.inclusion_proof(0, 0),
        Err(MerkleError::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        t.consistency_proof(0, 5),
        Err(MerkleError::InvalidConsistencySizes { .. })
    ));
    assert!(matches!(
        t.consistency_proof(6, 5),
        Err(MerkleError::InvalidConsistencySizes { .. })
    ));
    assert!(matches!(
        t.consistency_proof(5, 11),
        Err(MerkleError::SizeOutOfRange { .. })
    ));
    assert_eq!(t.consistency_proof(7, 7).ok(), Some(vec![]));
    assert!(matches!(
        t.leaf(10),
        Err(MerkleError::IndexOutOfRange { .. })
    ));
    assert_eq!(t.leaf(4).ok(), Some(d[4]));
    assert!(matches!(
        t.truncate(11),
        Err(MerkleError::SizeOutOfRange { .. })
    ));

    let r = t.root();
    assert!(matches!(
        verify_consistency::<CcfSha256>(0, 10, &[], &CcfSha256::empty_root(), &r),
        Err(MerkleError::InvalidConsistencySizes { .. })
    ));
    assert!(matches!(
        verify_consistency::<CcfSha256>(10, 10, &[r], &r, &r),
        Err(MerkleError::ProofLength { .. })
    ));
    assert!(verify_consistency::<CcfSha256>(10, 10, &[], &r, &r).is_ok());
    assert!(matches!(
        verify_consistency::<CcfSha256>(10, 10, &[], &r, &d[0]),
        Err(MerkleError::RootMismatch)
    ));
}

#[test]
fn empty_trees_have_the_profile_roots() {
    let mut ccf = MerkleTree::<CcfSha256>::new();
    assert_eq!(ccf.root(), [0u8; 32]);
    assert!(ccf.is_empty());
    let mut rfc = MerkleTree::<Rfc6962>::default();
    assert_eq!(
        hex::encode(rfc.root()),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(rfc.root_at(0).ok(), Some(Rfc6962::empty_root()));
}

#[test]
fn tree_is_send_sync_clone_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug + Default>() {}
    check::<MerkleTree<CcfSha256>>();
    check::<MerkleTree<Rfc6962>>();
    let mut t = build::<CcfSha256>(&leaves(4, 5));
    let c = t.clone();
    t.push([1; 32]);
    assert_eq!(c.len(), 5);
    assert!(format!("{c:?}").contains("len: 5"));
}

#[test]
fn queries_through_shared_references_seal_once_across_threads() {
    let d = leaves(5, 1000);
    let tree = build::<CcfSha256>(&d);
    let root = mth::<CcfSha256>(&d);
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (tree, d, root) = (&tree, &d, &root);
            s.spawn(move || {
                for i in (t..1000).step_by(7) {
                    let p = tree.inclusion_proof(i, 1000);
                    assert!(p.is_ok_and(|p| verify_inclusion::<CcfSha256>(
                        &d[i as usize],
                        i,
                        1000,
                        &p,
                        root
                    )
                    .is_ok()));
                }
            });
        }
    });
}

/// Operations of the model-based test.
#[derive(Clone, Debug)]
enum Op {
    Push(u8),
    Root,
    Truncate(u16),
    Inclusion(u16, u16),
    Consistency(u16, u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u8..=40).prop_map(Op::Push),
        1 => Just(Op::Root),
        1 => any::<u16>().prop_map(Op::Truncate),
        2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Op::Inclusion(a, b)),
        2 => (any::<u16>(), any::<u16>()).prop_map(|(a, b)| Op::Consistency(a, b)),
    ]
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x1ed9e5),
        ..Config::default()
    }
}

fn run_model<H: TreeHasher>(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut tree = MerkleTree::<H>::new();
    let mut model: Vec<Digest> = Vec::new();
    let mut next = 0u64;
    for op in ops {
        match *op {
            Op::Push(k) => {
                for _ in 0..k {
                    let l = common::leaf(99, next);
                    next += 1;
                    tree.push(l);
                    model.push(l);
                }
            }
            Op::Root => prop_assert_eq!(tree.root(), mth::<H>(&model)),
            Op::Truncate(s) => {
                let s = u64::from(s) % (model.len() as u64 + 1);
                prop_assert!(tree.truncate(s).is_ok());
                model.truncate(s as usize);
            }
            Op::Inclusion(a, b) => {
                let n = u64::from(b) % (model.len() as u64 + 1);
                if n > 0 {
                    let m = u64::from(a) % n;
                    let want = path::<H>(m as usize, &model[..n as usize]);
                    prop_assert_eq!(tree.inclusion_proof(m, n).ok(), Some(want));
                }
            }
            Op::Consistency(a, b) => {
                let n = u64::from(b) % (model.len() as u64 + 1);
                if n > 0 {
                    let m = 1 + u64::from(a) % n;
                    let want = consistency::<H>(m as usize, &model[..n as usize]);
                    prop_assert_eq!(tree.consistency_proof(m, n).ok(), Some(want));
                    prop_assert_eq!(tree.root_at(m).ok(), Some(mth::<H>(&model[..m as usize])));
                }
            }
        }
        prop_assert_eq!(tree.len(), model.len() as u64);
    }
    prop_assert_eq!(tree.root(), mth::<H>(&model));
    Ok(())
}

/// A valid proof mutated in one way.
#[derive(Clone, Debug)]
enum Mutation {
    FlipBit { element: usize, bit: usize },
    Drop(usize),
    Insert(usize, [u8; 32]),
    Swap(usize, usize),
    Index(u64),
    Size(u64),
    Root { bit: usize },
    Leaf { bit: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..256).prop_map(|(element, bit)| Mutation::FlipBit { element, bit }),
        any::<usize>().prop_map(Mutation::Drop),
        (any::<usize>(), any::<[u8; 32]>()).prop_map(|(i, d)| Mutation::Insert(i, d)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        any::<u64>().prop_map(Mutation::Index),
        any::<u64>().prop_map(Mutation::Size),
        (0usize..256).prop_map(|bit| Mutation::Root { bit }),
        (0usize..256).prop_map(|bit| Mutation::Leaf { bit }),
    ]
}

fn flip(d: &mut Digest, bit: usize) {
    d[bit / 8] ^= 1 << (bit % 8);
}

fn sides(index: u64, size: u64) -> Option<Vec<Side>> {
    inclusion_path_sides(index, size)
        .ok()
        .map(Iterator::collect)
}

/// Applies `mutation` to a valid inclusion proof; returns whether the verifier may still
/// accept (only when the mutation changed nothing the verifier sees, or changed the size to
/// one with the very same proof shape: the size is bound by the signed root, not the path).
fn inclusion_mutant<H: TreeHasher>(
    d: &[Digest],
    index: u64,
    size: u64,
    mutation: &Mutation,
) -> Result<(), TestCaseError> {
    let tree = build::<H>(d);
    let root = tree
        .root_at(size)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut proof = tree
        .inclusion_proof(index, size)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (mut leaf, mut idx, mut sz, mut rt) = (d[index as usize], index, size, root);
    let may_pass = match *mutation {
        Mutation::FlipBit { element, bit } => {
            if proof.is_empty() {
                return Ok(());
            }
            let n = proof.len();
            flip(&mut proof[element % n], bit);
            false
        }
        Mutation::Drop(i) => {
            if proof.is_empty() {
                return Ok(());
            }
            let n = proof.len();
            proof.remove(i % n);
            false
        }
        Mutation::Insert(i, extra) => {
            let n = proof.len();
            proof.insert(i % (n + 1), extra);
            false
        }
        Mutation::Swap(a, b) => {
            if proof.is_empty() {
                return Ok(());
            }
            let n = proof.len();
            proof.swap(a % n, b % n);
            proof[a % n] == proof[b % n]
        }
        Mutation::Index(i) => {
            idx = i % (size + 2);
            idx == index
        }
        Mutation::Size(s) => {
            sz = if s % 2 == 0 { s } else { s % (2 * size + 2) };
            sides(idx, sz) == sides(index, size)
        }
        Mutation::Root { bit } => {
            flip(&mut rt, bit);
            false
        }
        Mutation::Leaf { bit } => {
            flip(&mut leaf, bit);
            false
        }
    };
    let result = verify_inclusion::<H>(&leaf, idx, sz, &proof, &rt);
    if may_pass {
        prop_assert!(result.is_ok(), "{mutation:?}: {result:?}");
    } else {
        prop_assert!(result.is_err(), "{mutation:?} was accepted");
    }
    Ok(())
}

fn consistency_mutant<H: TreeHasher>(
    d: &[Digest],
    size1: u64,
    size2: u64,
    mutation: &Mutation,
) -> Result<(), TestCaseError> {
    let tree = build::<H>(d);
    let fail = |e: MerkleError| TestCaseError::fail(e.to_string());
    let mut root1 = tree.root_at(size1).map_err(fail)?;
    let mut root2 = tree.root_at(size2).map_err(fail)?;
    let mut proof = tree.consistency_proof(size1, size2).map_err(fail)?;
    let (mut s1, mut s2) = (size1, size2);
    let may_pass = match *mutation {
        Mutation::FlipBit { element, bit } => {
            if proof.is_empty() {
                return Ok(());
            }
            let n = proof.len();
            flip(&mut proof[element % n], bit);
            false
        }
        Mutation::Drop(i) => {
            if proof.is_empty() {
                return Ok(());
            }
            let n = proof.len();
            proof.remove(i % n);
            false
        }
        Mutation::Insert(i, extra) => {
            let n = proof.len();
            proof.insert(i % (n + 1), extra);
            false
        }
        Mutation::Swap(a, b) => {
            if proof.is_empty() {
                return Ok(());
            }
            let n = proof.len();
            proof.swap(a % n, b % n);
            proof[a % n] == proof[b % n]
        }
        Mutation::Index(s) => {
            s1 = s % (size2 + 2);
            s1 == size1
        }
        Mutation::Size(s) => {
            s2 = if s % 2 == 0 { s } else { s % (2 * size2 + 2) };
            // A larger tree with the same proof shape is accepted, as RFC 9162 verifiers do:
            // the signed root binds the size, not the proof. A different shape must fail.
            if s2 != size2 && consistency_proof_len(s1, s2).ok() == Some(proof.len()) {
                let _ = verify_consistency::<H>(s1, s2, &proof, &root1, &root2);
                return Ok(());
            }
            s2 == size2
        }
        Mutation::Root { bit } => {
            flip(&mut root1, bit);
            false
        }
        Mutation::Leaf { bit } => {
            flip(&mut root2, bit);
            false
        }
    };
    let result = verify_consistency::<H>(s1, s2, &proof, &root1, &root2);
    if may_pass {
        prop_assert!(result.is_ok(), "{mutation:?}: {result:?}");
    } else {
        prop_assert!(result.is_err(), "{mutation:?} was accepted");
    }
    Ok(())
}

fn sizes() -> impl Strategy<Value = (u64, u64)> {
    (1u64..=300).prop_flat_map(|n| (0..n, Just(n)))
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn model_ccf(ops in proptest::collection::vec(op(), 1..60)) {
        run_model::<CcfSha256>(&ops)?;
    }

    #[test]
    fn model_rfc6962(ops in proptest::collection::vec(op(), 1..60)) {
        run_model::<Rfc6962>(&ops)?;
    }

    #[test]
    fn mutated_inclusion_proofs_fail_ccf((index, size) in sizes(), m in mutation(), seed in any::<u64>()) {
        inclusion_mutant::<CcfSha256>(&leaves(seed, size), index, size, &m)?;
    }

    #[test]
    fn mutated_inclusion_proofs_fail_rfc6962((index, size) in sizes(), m in mutation(), seed in any::<u64>()) {
        inclusion_mutant::<Rfc6962>(&leaves(seed, size), index, size, &m)?;
    }

    #[test]
    fn mutated_consistency_proofs_fail_ccf((a, size2) in sizes(), m in mutation(), seed in any::<u64>()) {
        consistency_mutant::<CcfSha256>(&leaves(seed, size2), a + 1, size2, &m)?;
    }

    #[test]
    fn mutated_consistency_proofs_fail_rfc6962((a, size2) in sizes(), m in mutation(), seed in any::<u64>()) {
        consistency_mutant::<Rfc6962>(&leaves(seed, size2), a + 1, size2, &m)?;
    }

    #[test]
    fn random_inputs_never_panic_the_verifiers(
        index in prop_oneof![any::<u64>(), 0u64..100, (u64::MAX - 100)..=u64::MAX],
        size in prop_oneof![any::<u64>(), 0u64..100, (u64::MAX - 100)..=u64::MAX],
        proof in proptest::collection::vec(any::<[u8; 32]>(), 0..70),
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
    ) {
        // Random bytes are never a valid proof; all that matters is an error, not a panic.
        prop_assert!(verify_inclusion::<CcfSha256>(&a, index, size, &proof, &b).is_err());
        prop_assert!(verify_inclusion::<Rfc6962>(&a, index, size, &proof, &b).is_err());
        let _ = root_from_inclusion_proof::<CcfSha256>(&a, index, size, &proof);
        let consistent = verify_consistency::<CcfSha256>(index, size, &proof, &a, &b);
        prop_assert!(consistent.is_err() || (index == size && a == b && proof.is_empty()));
        let consistent = verify_consistency::<Rfc6962>(index, size, &proof, &a, &b);
        prop_assert!(consistent.is_err() || (index == size && a == b && proof.is_empty()));
        let _ = inclusion_path_sides(index, size).map(|s| s.count());
        let _ = consistency_proof_len(index, size);
    }
}
