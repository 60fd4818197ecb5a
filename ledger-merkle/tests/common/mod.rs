//! Shared test helpers: a naive recursive RFC 9162 reference and deterministic leaves.

#![allow(dead_code, unreachable_pub)]

use ledger_merkle::{Digest, TreeHasher};
use sha2::{Digest as _, Sha256};

/// Deterministic pseudo-random leaf hash number `i` of stream `seed`.
pub fn leaf(seed: u64, i: u64) -> Digest {
    Sha256::new()
        .chain_update(seed.to_be_bytes())
        .chain_update(i.to_be_bytes())
        .finalize()
        .into()
}

pub fn leaves(seed: u64, n: u64) -> Vec<Digest> {
    (0..n).map(|i| leaf(seed, i)).collect()
}

/// Largest power of two strictly less than `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 2.1.1 MTH, with leaves given as leaf hashes.
pub fn mth<H: TreeHasher>(d: &[Digest]) -> Digest {
    match d.len() {
        0 => H::empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            H::hash_children(&mth::<H>(&d[..k]), &mth::<H>(&d[k..]))
        }
    }
}

/// RFC 9162 2.1.3.1 PATH(m, D[n]).
pub fn path<H: TreeHasher>(m: usize, d: &[Digest]) -> Vec<Digest> {
    let n = d.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path::<H>(m, &d[..k]);
        p.push(mth::<H>(&d[k..]));
        p
    } else {
        let mut p = path::<H>(m - k, &d[k..]);
        p.push(mth::<H>(&d[..k]));
        p
    }
}

/// RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
pub fn consistency<H: TreeHasher>(m: usize, d: &[Digest]) -> Vec<Digest> {
    subproof::<H>(m, d, true)
}

fn subproof<H: TreeHasher>(m: usize, d: &[Digest], b: bool) -> Vec<Digest> {
    let n = d.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth::<H>(d)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof::<H>(m, &d[..k], b);
        p.push(mth::<H>(&d[k..]));
        p
    } else {
        let mut p = subproof::<H>(m - k, &d[k..], false);
        p.push(mth::<H>(&d[..k]));
        p
    }
}
