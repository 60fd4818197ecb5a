//! ECDSA signature verification, the cost under every receipt check: the `p256`/`p384` crates,
//! `ring` (already in the dependency tree through rustls) and `aws-lc-rs` (the backend the
//! engine verifies with) on the same keys, messages and signatures, in one run.
//!
//! `cargo bench -p ledger-benches --bench ecdsa`. Two kinds of case per curve:
//!
//! * `message/..`: one signature over a 32-byte message, the hashing included (SHA-256 for
//!   P-256, SHA-384 for P-384): `p256`/`p384`, `ring` (fixed-size signature, its only
//!   ECDSA form that takes the same bytes) and `aws-lc` (DER signature, key parsed once).
//! * `prehash/..`: one DER signature over a 32-byte prehash used as the digest itself, as
//!   CCF's root signatures are (the `curves` module's curve rule): `p256`/`p384`'s
//!   `verify_prehash` and `aws-lc`'s `verify_digest_sig` (key parsed once; on P-384 the root
//!   left-padded to 48 bytes, the same integer). `ring` has no prehash API.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use aws_lc_rs::signature::{self as lc, ParsedPublicKey};
use criterion::{criterion_group, criterion_main, Criterion};
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::pkcs8::EncodePublicKey as _;
use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

fn p256_cases(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0xec_d5a);
    let key = p256::ecdsa::SigningKey::random(&mut rng);
    let message = [7u8; 32];
    let signature: p256::ecdsa::Signature = key.sign(&message);
    let der = signature.to_der();
    let verifying = *key.verifying_key();
    let public = verifying.to_encoded_point(false);
    let spki = verifying
        .to_public_key_der()
        .unwrap_or_else(|e| panic!("SPKI: {e}"));
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        public.as_bytes().to_vec(),
    );
    let lc_key = ParsedPublicKey::new(&lc::ECDSA_P256_SHA256_ASN1, spki.as_bytes())
        .unwrap_or_else(|e| panic!("aws-lc key: {e}"));
    let fixed = signature.to_bytes();
    assert!(verifying.verify(&message, &signature).is_ok());
    assert!(ring_key.verify(&message, &fixed).is_ok());
    assert!(lc_key.verify_sig(&message, der.as_bytes()).is_ok());

    let root = [0x42u8; 32];
    let root_signature: p256::ecdsa::DerSignature = key
        .sign_prehash(&root)
        .unwrap_or_else(|e| panic!("sign: {e}"));
    let digest = aws_lc_rs::digest::Digest::import_less_safe(&root, &aws_lc_rs::digest::SHA256)
        .unwrap_or_else(|e| panic!("digest: {e}"));
    assert!(verifying.verify_prehash(&root, &root_signature).is_ok());
    assert!(lc_key
        .verify_digest_sig(&digest, root_signature.as_bytes())
        .is_ok());

    let mut group = c.benchmark_group("ecdsa_verify/p256");
    group.bench_function("message/p256", |b| {
        b.iter(|| verifying.verify(std::hint::black_box(&message), &signature))
    });
    group.bench_function("message/ring", |b| {
        b.iter(|| ring_key.verify(std::hint::black_box(&message), &fixed))
    });
    group.bench_function("message/aws-lc", |b| {
        b.iter(|| lc_key.verify_sig(std::hint::black_box(&message), der.as_bytes()))
    });
    group.bench_function("prehash/p256", |b| {
        b.iter(|| verifying.verify_prehash(std::hint::black_box(&root), &root_signature))
    });
    group.bench_function("prehash/aws-lc", |b| {
        b.iter(|| {
            lc_key.verify_digest_sig(std::hint::black_box(&digest), root_signature.as_bytes())
        })
    });
    group.finish();
}

fn p384_cases(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0xec_d5b);
    let key = p384::ecdsa::SigningKey::random(&mut rng);
    let message = [7u8; 32];
    let signature: p384::ecdsa::Signature = key.sign(&message);
    let der = signature.to_der();
    let verifying = *key.verifying_key();
    let public = verifying.to_encoded_point(false);
    let spki = verifying
        .to_public_key_der()
        .unwrap_or_else(|e| panic!("SPKI: {e}"));
    let ring_key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P384_SHA384_FIXED,
        public.as_bytes().to_vec(),
    );
    let lc_key = ParsedPublicKey::new(&lc::ECDSA_P384_SHA384_ASN1, spki.as_bytes())
        .unwrap_or_else(|e| panic!("aws-lc key: {e}"));
    let fixed = signature.to_bytes();
    assert!(verifying.verify(&message, &signature).is_ok());
    assert!(ring_key.verify(&message, &fixed).is_ok());
    assert!(lc_key.verify_sig(&message, der.as_bytes()).is_ok());

    // A 32-byte root on P-384: read as an integer, so left-padded to 48 bytes for aws-lc.
    let root = [0x42u8; 32];
    let root_signature: p384::ecdsa::DerSignature = key
        .sign_prehash(&root)
        .unwrap_or_else(|e| panic!("sign: {e}"));
    let mut padded = [0u8; 48];
    padded[16..].copy_from_slice(&root);
    let digest = aws_lc_rs::digest::Digest::import_less_safe(&padded, &aws_lc_rs::digest::SHA384)
        .unwrap_or_else(|e| panic!("digest: {e}"));
    assert!(verifying.verify_prehash(&root, &root_signature).is_ok());
    assert!(lc_key
        .verify_digest_sig(&digest, root_signature.as_bytes())
        .is_ok());

    let mut group = c.benchmark_group("ecdsa_verify/p384");
    group.bench_function("message/p384", |b| {
        b.iter(|| verifying.verify(std::hint::black_box(&message), &signature))
    });
    group.bench_function("message/ring", |b| {
        b.iter(|| ring_key.verify(std::hint::black_box(&message), &fixed))
    });
    group.bench_function("message/aws-lc", |b| {
        b.iter(|| lc_key.verify_sig(std::hint::black_box(&message), der.as_bytes()))
    });
    group.bench_function("prehash/p384", |b| {
        b.iter(|| verifying.verify_prehash(std::hint::black_box(&root), &root_signature))
    });
    group.bench_function("prehash/aws-lc", |b| {
        b.iter(|| {
            lc_key.verify_digest_sig(std::hint::black_box(&digest), root_signature.as_bytes())
        })
    });
    group.finish();
}

/// Signing a 32-byte prehash (a Merkle root) with P-256: what the engine does for every
/// signature transaction (the node's signature, and the service key's COSE signature).
fn p256_signing(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(0xec_d5c);
    let key = p256::ecdsa::SigningKey::random(&mut rng);
    let prehash = [7u8; 32];
    let public = key.verifying_key().to_encoded_point(false);
    let lc_key = lc::EcdsaKeyPair::from_private_key_and_public_key(
        &lc::ECDSA_P256_SHA256_ASN1_SIGNING,
        &key.to_bytes(),
        public.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("aws-lc key: {e}"));
    let digest = aws_lc_rs::digest::Digest::import_less_safe(&prehash, &aws_lc_rs::digest::SHA256)
        .unwrap_or_else(|e| panic!("digest: {e}"));
    // Both sign so that the other verifies.
    let theirs = lc_key
        .sign_digest(&digest)
        .unwrap_or_else(|e| panic!("sign: {e}"));
    let theirs =
        p256::ecdsa::Signature::from_der(theirs.as_ref()).unwrap_or_else(|e| panic!("der: {e}"));
    assert!(key
        .verifying_key()
        .verify_prehash(&prehash, &theirs)
        .is_ok());

    let mut group = c.benchmark_group("ecdsa_sign/p256");
    group.bench_function("p256", |b| {
        b.iter(|| {
            let signature: p256::ecdsa::DerSignature = key
                .sign_prehash(std::hint::black_box(&prehash))
                .unwrap_or_else(|e| panic!("sign: {e}"));
            signature
        })
    });
    group.bench_function("aws-lc-rs", |b| {
        b.iter(|| {
            lc_key
                .sign_digest(std::hint::black_box(&digest))
                .unwrap_or_else(|e| panic!("sign: {e}"))
        })
    });
    group.finish();
}

criterion_group!(benches, p256_cases, p384_cases, p256_signing);
criterion_main!(benches);
