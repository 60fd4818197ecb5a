//! `ledger-merkle` against `rs_merkle` and `ct-merkle`, in one run, on the same leaves.
//!
//! Run: `cargo bench -p ledger-benches --no-default-features --bench merkle`
//! (about five minutes on a 2-core machine; `-- <filter>` runs one group).
//!
//! Groups, all with `Throughput::Elements` so criterion reports per-element rates:
//!
//! * `sha256/64_bytes`: one SHA-256 over 64 bytes with the `sha2` API, the cost of one
//!   `CcfSha256` interior node and the floor for appending a leaf (a tree of n leaves has
//!   n - 1 interior nodes). `sha256/ledger_merkle_hash_children` is our interior-node hash.
//! * `append_root/<impl>/n=..`: append n leaf hashes and take the root after every 1000, from
//!   an empty tree; elements = leaves. `ct-merkle` hashes each leaf itself (RFC 6962 leaf hash)
//!   and rehashes the leaf's whole path on every push; `ledger_merkle_rfc6962_leafhash` does
//!   the same leaf hashing for a like-for-like comparison. `rs_merkle`'s commit rebuilds its
//!   layers, so its cost per leaf grows with n and it runs at small n only (see below).
//! * `inclusion_proof/<impl>/n=..`: one inclusion proof for a random leaf of a tree of n
//!   leaves built once, outside the timing; elements = proofs.
//!
//! Leaf hashes come from a seeded ChaCha20 stream, identical for every implementation.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ledger_merkle::{verify_inclusion, CcfSha256, MerkleTree, Rfc6962, TreeHasher};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest as _, Sha256};

type Leaf = [u8; 32];
type CtTree = MemoryBackedTree<sha2_011::Sha256, Leaf>;
type RsTree = rs_merkle::MerkleTree<rs_merkle::algorithms::Sha256>;

const SEED: u64 = 0x1ed9_e5b3_4c11;
/// Leaves appended between two roots in `append_root`.
const ROOT_EVERY: usize = 1000;
/// Random leaf indices cycled through by `inclusion_proof`.
const PROBES: usize = 1 << 16;

fn leaf_hashes(n: usize) -> Vec<Leaf> {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    (0..n)
        .map(|_| {
            let mut l = [0u8; 32];
            rng.fill_bytes(&mut l);
            l
        })
        .collect()
}

fn probe_indices(n: usize) -> Vec<usize> {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED ^ n as u64);
    (0..PROBES).map(|_| rng.gen_range(0..n)).collect()
}

/// Times `iters` runs of `build`, excluding the drop of what each run returns.
fn time_builds<T>(iters: u64, mut build: impl FnMut() -> T) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let built = black_box(build());
        total += start.elapsed();
        drop(built);
    }
    total
}

fn ours_append_root<H: TreeHasher>(leaves: &[Leaf]) -> MerkleTree<H> {
    let mut tree = MerkleTree::<H>::new();
    for chunk in leaves.chunks(ROOT_EVERY) {
        for l in chunk {
            tree.push(*l);
        }
        black_box(tree.root());
    }
    tree
}

fn ours_append_root_leafhash(leaves: &[Leaf]) -> MerkleTree<Rfc6962> {
    let mut tree = MerkleTree::<Rfc6962>::new();
    for chunk in leaves.chunks(ROOT_EVERY) {
        for l in chunk {
            tree.push(Rfc6962::hash_leaf(l));
        }
        black_box(tree.root());
    }
    tree
}

fn ct_append_root(leaves: &[Leaf]) -> CtTree {
    let mut tree = CtTree::new();
    for chunk in leaves.chunks(ROOT_EVERY) {
        for l in chunk {
            tree.push(*l);
        }
        black_box(tree.root());
    }
    tree
}

fn rs_append_root(leaves: &[Leaf]) -> RsTree {
    let mut tree = RsTree::new();
    for chunk in leaves.chunks(ROOT_EVERY) {
        for l in chunk {
            tree.insert(*l);
        }
        tree.commit();
        black_box(tree.root());
    }
    tree
}

/// The three implementations agree where their trees coincide: ct-merkle's tree over values
/// is our RFC 6962 tree over their leaf hashes. Checked once, outside any timing.
fn check_like_for_like(leaves: &[Leaf]) {
    let mut ours = ours_append_root_leafhash(leaves);
    let ct = ct_append_root(leaves);
    assert_eq!(
        ours.root().as_slice(),
        ct.root().as_bytes().as_slice(),
        "ct-merkle and ledger-merkle disagree"
    );
    let mut ccf = ours_append_root::<CcfSha256>(&leaves[..1024]);
    let rs = rs_append_root(&leaves[..1024]);
    // On a power of two both are the plain SHA-256(left || right) tree.
    assert_eq!(
        Some(ccf.root()),
        rs.root(),
        "rs_merkle and ledger-merkle disagree"
    );
}

fn sha256_floor(c: &mut Criterion) {
    let mut group = c.benchmark_group("sha256");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    let block: [u8; 64] = core::array::from_fn(|i| i as u8);
    group.bench_function("64_bytes", |b| b.iter(|| Sha256::digest(black_box(&block))));
    let (l, r) = (leaf_hashes(2)[0], leaf_hashes(2)[1]);
    group.bench_function("ledger_merkle_hash_children", |b| {
        b.iter(|| CcfSha256::hash_children(black_box(&l), black_box(&r)))
    });
    group.finish();
}

fn append_root(c: &mut Criterion) {
    let all = leaf_hashes(1 << 22);
    check_like_for_like(&all[..10_000]);
    let mut group = c.benchmark_group("append_root");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(5));
    for log_n in [16u32, 20, 22] {
        let n = 1usize << log_n;
        let leaves = &all[..n];
        group.throughput(Throughput::Elements(n as u64));
        let id = |name: &str| BenchmarkId::new(name, format!("n={n}"));
        group.bench_function(id("ledger_merkle"), |b| {
            b.iter_custom(|iters| time_builds(iters, || ours_append_root::<CcfSha256>(leaves)))
        });
        group.bench_function(id("ledger_merkle_rfc6962_leafhash"), |b| {
            b.iter_custom(|iters| time_builds(iters, || ours_append_root_leafhash(leaves)))
        });
        group.bench_function(id("ct_merkle"), |b| {
            b.iter_custom(|iters| time_builds(iters, || ct_append_root(leaves)))
        });
    }
    // rs_merkle's commit merges the new layer into every stored layer with a linear search
    // per node, so n leaves with a root every 1000 cost O(n^2) and 2^22 would take hours.
    for n in [1usize << 12, 1 << 14, 1 << 16] {
        let leaves = &all[..n];
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("rs_merkle", format!("n={n}")), |b| {
            b.iter_custom(|iters| time_builds(iters, || rs_append_root(leaves)))
        });
    }
    group.finish();
}

/// Runs `prove` over the probe indices, cycling, `iters` times.
fn time_proofs<P>(iters: u64, probes: &[usize], mut prove: impl FnMut(usize) -> P) -> Duration {
    let start = Instant::now();
    for i in 0..iters as usize {
        black_box(prove(probes[i % probes.len()]));
    }
    start.elapsed()
}

fn inclusion_proof(c: &mut Criterion) {
    let all = leaf_hashes(1 << 22);
    let mut group = c.benchmark_group("inclusion_proof");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(3));
    for log_n in [20u32, 22] {
        let n = 1usize << log_n;
        let leaves = &all[..n];
        let probes = probe_indices(n);
        let id = |name: &str| BenchmarkId::new(name, format!("n={n}"));
        {
            let mut tree = ours_append_root::<CcfSha256>(leaves);
            let root = tree.root();
            let size = n as u64;
            for &i in &probes[..100] {
                let proof = tree.inclusion_proof(i as u64, size).unwrap_or_default();
                let ok = verify_inclusion::<CcfSha256>(&leaves[i], i as u64, size, &proof, &root);
                assert!(ok.is_ok(), "proof {i} of {n} does not verify");
            }
            group.bench_function(id("ledger_merkle"), |b| {
                b.iter_custom(|iters| {
                    time_proofs(iters, &probes, |i| tree.inclusion_proof(i as u64, size))
                })
            });
        }
        {
            let tree = RsTree::from_leaves(leaves);
            group.bench_function(id("rs_merkle"), |b| {
                b.iter_custom(|iters| time_proofs(iters, &probes, |i| tree.proof(&[i])))
            });
        }
        {
            let mut tree = CtTree::new();
            for l in leaves {
                tree.push(*l);
            }
            group.bench_function(id("ct_merkle"), |b| {
                b.iter_custom(|iters| time_proofs(iters, &probes, |i| tree.prove_inclusion(i)))
            });
        }
    }
    group.finish();
}

// The macro defines a public fn that cannot carry a doc comment.
#[allow(missing_docs)]
mod suite {
    criterion::criterion_group!(
        benches,
        super::sha256_floor,
        super::append_root,
        super::inclusion_proof
    );
}

criterion_main!(suite::benches);
