//! ECDSA signature verification, the cost under every receipt check: the `p256`/`p384` crates
//! the engine verifies with today, beside `ring` (already in the dependency tree through
//! rustls) on the same keys, messages and signatures, in one run.
//!
//! `cargo bench -p ledger-benches --no-default-features --bench ecdsa`. Each case verifies one
//! signature over a 32-byte message (the hashing included on both sides: SHA-256 for P-256,
//! SHA-384 for P-384).

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

fn p256_cases(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0xec_d5a);
    let key = p256::ecdsa::SigningKey::random(&mut rng);
    let message = [7u8; 32];
    let signature: p256::ecdsa::Signature = key.sign(&message);
    let verifying = *key.verifying_key();
    let public = verifying.to_encoded_point(false);
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        public.as_bytes().to_vec(),
    );
    let fixed = signature.to_bytes();
    assert!(verifying.verify(&message, &signature).is_ok());
    assert!(ring_key.verify(&message, &fixed).is_ok());

    let mut group = c.benchmark_group("ecdsa_verify/p256");
    group.bench_function("p256", |b| {
        b.iter(|| verifying.verify(std::hint::black_box(&message), &signature))
    });
    group.bench_function("ring", |b| {
        b.iter(|| ring_key.verify(std::hint::black_box(&message), &fixed))
    });
    group.finish();
}

fn p384_cases(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0xec_d5b);
    let key = p384::ecdsa::SigningKey::random(&mut rng);
    let message = [7u8; 32];
    let signature: p384::ecdsa::Signature = key.sign(&message);
    let verifying = *key.verifying_key();
    let public = verifying.to_encoded_point(false);
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P384_SHA384_FIXED,
        public.as_bytes().to_vec(),
    );
    let fixed = signature.to_bytes();
    assert!(verifying.verify(&message, &signature).is_ok());
    assert!(ring_key.verify(&message, &fixed).is_ok());

    let mut group = c.benchmark_group("ecdsa_verify/p384");
    group.bench_function("p384", |b| {
        b.iter(|| verifying.verify(std::hint::black_box(&message), &signature))
    });
    group.bench_function("ring", |b| {
        b.iter(|| ring_key.verify(std::hint::black_box(&message), &fixed))
    });
    group.finish();
}

criterion_group!(benches, p256_cases, p384_cases);
criterion_main!(benches);
