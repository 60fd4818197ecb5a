//! The embedded SCITT transparency service: registering signed statements, the transparent
//! statements that come back, refusals, reopening, and (in `pyscitt_*`) the official
//! `pyscitt` verifier.
//!
//! The interop test needs the `pyscitt` virtual environment `.ci/setup.sh` makes,
//! `$LEDGER_SCITT_VENV` (default `/var/tmp/ledger-scitt-venv`, from
//! `tests/interop/requirements-scitt.txt`). Without it the test prints that it skipped,
//! unless the environment variable `CI` is set, in which case it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use coset::cbor::value::Value;
use coset::{
    iana, CborSerializable, CoseSign1, CoseSign1Builder, Header, HeaderBuilder,
    TaggedCborSerializable,
};
use ledger_core::{
    Error, IssuerKey, Ledger, LedgerConfig, ScittPolicy, SigningMode, StatementRefusal,
    TransparentStatement, TxStatus, SCITT_COLLECTION,
};
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest as _, Sha256};

const KID_P256: &[u8] = b"issuer-p256";
const KID_P384: &[u8] = b"issuer-p384";
const KID_ED25519: &[u8] = b"issuer-ed25519";

fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap()
}

fn p384_key(seed: u8) -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_bytes(&[seed; 48].into()).unwrap()
}

fn ed25519_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// A signing issuer: its algorithm and a function making the raw COSE signature.
enum Issuer {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

impl Issuer {
    fn alg(&self) -> iana::Algorithm {
        match self {
            Issuer::P256(_) => iana::Algorithm::ES256,
            Issuer::P384(_) => iana::Algorithm::ES384,
            Issuer::Ed25519(_) => iana::Algorithm::EdDSA,
        }
    }

    fn sign(&self, tbs: &[u8]) -> Vec<u8> {
        match self {
            Issuer::P256(k) => {
                let s: p256::ecdsa::Signature = k.sign(tbs);
                s.to_bytes().to_vec()
            }
            Issuer::P384(k) => {
                let s: p384::ecdsa::Signature = k.sign(tbs);
                s.to_bytes().to_vec()
            }
            Issuer::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(tbs).to_bytes().to_vec()
            }
        }
    }
}

/// CWT claims with `iss` and `sub`.
fn cwt(iss: &str, sub: &str) -> Value {
    Value::Map(vec![
        (Value::Integer(1.into()), Value::Text(iss.into())),
        (Value::Integer(2.into()), Value::Text(sub.into())),
    ])
}

/// The protected header of a statement: `alg` of `issuer`, the `kid`, and the CWT claims.
fn protected(issuer: &Issuer, kid: &[u8], claims: Option<Value>) -> HeaderBuilder {
    let mut h = HeaderBuilder::new()
        .algorithm(issuer.alg())
        .content_format(iana::CoapContentFormat::Json);
    if !kid.is_empty() {
        h = h.key_id(kid.to_vec());
    }
    if let Some(c) = claims {
        h = h.value(15, c);
    }
    h
}

/// A signed statement with `header` as its protected header.
fn statement_with(issuer: &Issuer, header: Header, payload: &[u8]) -> Vec<u8> {
    CoseSign1Builder::new()
        .protected(header)
        .payload(payload.to_vec())
        .create_signature(b"", |tbs| issuer.sign(tbs))
        .build()
        .to_tagged_vec()
        .unwrap()
}

/// A signed statement by `issuer` under `kid`, about `sub`.
fn statement(issuer: &Issuer, kid: &[u8], sub: &str, payload: &[u8]) -> Vec<u8> {
    let header = protected(issuer, kid, Some(cwt("issuer.example", sub))).build();
    statement_with(issuer, header, payload)
}

/// A self-signed certificate for the P-256 key of `seed`, fixed validity (DER).
fn certificate(seed: u8) -> Vec<u8> {
    use der::Encode as _;
    use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::time::{Time, Validity};
    let key = p256_key(seed);
    let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap();
    let at = |secs| {
        Time::GeneralTime(
            der::asn1::GeneralizedTime::from_unix_duration(Duration::from_secs(secs)).unwrap(),
        )
    };
    let validity = Validity {
        not_before: at(1_700_000_000),
        not_after: at(4_000_000_000),
    };
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(u32::from(seed)),
        validity,
        Name::from_str("CN=issuer.example").unwrap(),
        spki,
        &key,
    )
    .unwrap();
    builder
        .build::<p256::ecdsa::DerSignature>()
        .unwrap()
        .to_der()
        .unwrap()
}

/// A P-256 statement that carries its issuer's certificate in `x5chain` and no `kid`.
fn x5chain_statement(seed: u8, payload: &[u8]) -> Vec<u8> {
    let issuer = Issuer::P256(p256_key(seed));
    let header = protected(&issuer, b"", Some(cwt("did:x509:example", "sbom")))
        .value(33, Value::Bytes(certificate(seed)))
        .build();
    statement_with(&issuer, header, payload)
}

/// The policy knowing the three seeded issuers' keys by `kid`.
fn policy() -> ScittPolicy {
    ScittPolicy::accept_all()
        .issuer_key(KID_P256, IssuerKey::from(*p256_key(1).verifying_key()))
        .issuer_key(KID_P384, IssuerKey::from(*p384_key(2).verifying_key()))
        .issuer_key(KID_ED25519, IssuerKey::from(ed25519_key(3).verifying_key()))
}

fn ledger() -> Ledger {
    let ledger = Ledger::in_memory().unwrap();
    ledger.set_scitt_policy(policy());
    ledger
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Registers `statement` and checks everything a transparent statement must satisfy.
fn register_and_check(ledger: &Ledger, statement: &[u8]) -> TransparentStatement {
    let ts = ledger.register_statement(statement).unwrap();
    let cert = ledger.service_certificate_pem();
    assert_eq!(ledger.status(ts.tx_id()), TxStatus::Committed);
    // Our COSE receipt verifier: the receipt proves SHA-256 of the submitted statement.
    assert_eq!(ts.receipts().len(), 1);
    let receipt = ts.receipts()[0].verify(&cert).unwrap();
    assert_eq!(receipt.claims_digest, sha256(statement));
    assert_eq!(receipt.tx_id, ts.tx_id());
    let verified = ts.verify(&cert).unwrap();
    assert_eq!(verified.statement_digest, sha256(statement));
    assert_eq!(verified.tx_id, ts.tx_id());
    // The registered form is the submitted statement; the ledger recorded it.
    assert_eq!(ts.statement().as_bytes(), statement);
    assert_eq!(
        ledger.entry(SCITT_COLLECTION, ts.tx_id()).unwrap().contents,
        statement
    );
    // The transparent statement is the statement with {394: [receipt]} as its unprotected
    // header, read independently with coset.
    let parsed = CoseSign1::from_tagged_slice(ts.as_bytes()).unwrap();
    let original = CoseSign1::from_tagged_slice(statement).unwrap();
    assert_eq!(
        parsed.protected.original_data,
        original.protected.original_data
    );
    assert_eq!(parsed.payload, original.payload);
    assert_eq!(parsed.signature, original.signature);
    assert_eq!(
        parsed.unprotected.rest,
        vec![(
            coset::Label::Int(394),
            Value::Array(vec![Value::Bytes(ts.receipts()[0].to_vec())])
        )]
    );
    // It reads back equal.
    assert_eq!(TransparentStatement::from_slice(ts.as_bytes()).unwrap(), ts);
    ts
}

#[test]
fn accepted_statements_round_trip_for_every_algorithm_and_key_source() {
    let ledger = ledger();
    let es256 = statement(&Issuer::P256(p256_key(1)), KID_P256, "sbom", b"{\"a\":1}");
    let ts = register_and_check(&ledger, &es256);
    assert_eq!(ts.statement().issuer(), "issuer.example");
    assert_eq!(ts.statement().subject(), "sbom");
    assert_eq!(ts.statement().algorithm(), "ES256");
    assert_eq!(ts.statement().key_id(), KID_P256);
    assert_eq!(ts.statement().payload(), b"{\"a\":1}");

    let es384 = statement(&Issuer::P384(p384_key(2)), KID_P384, "vex", b"es384");
    assert_eq!(
        register_and_check(&ledger, &es384).statement().algorithm(),
        "ES384"
    );
    let eddsa = statement(&Issuer::Ed25519(ed25519_key(3)), KID_ED25519, "x", b"ed");
    assert_eq!(
        register_and_check(&ledger, &eddsa).statement().algorithm(),
        "EdDSA"
    );
    let x5 = x5chain_statement(9, b"by certificate");
    let ts = register_and_check(&ledger, &x5);
    assert_eq!(ts.statement().x5chain(), &[certificate(9)]);
    // The same statement twice is two registrations.
    let again = register_and_check(&ledger, &es256);
    assert!(again.tx_id() > ts.tx_id());
    // Keys registered from PEM and from a certificate work as well.
    let pem = {
        use p256::pkcs8::EncodePublicKey as _;
        p256_key(1)
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
    };
    let from_pem = ScittPolicy::accept_all()
        .issuer_key(KID_P256, IssuerKey::from_public_key_pem(&pem).unwrap());
    from_pem.check(&es256).unwrap();
    let from_cert = ScittPolicy::accept_all().issuer_key(
        KID_P256,
        IssuerKey::from_certificate_der(&certificate(1)).unwrap(),
    );
    from_cert.check(&es256).unwrap();
}

#[test]
fn the_unprotected_header_is_emptied_before_registration() {
    let ledger = ledger();
    let clean = statement(&Issuer::P256(p256_key(1)), KID_P256, "sbom", b"payload");
    let mut sign1 = CoseSign1::from_tagged_slice(&clean).unwrap();
    sign1.unprotected = HeaderBuilder::new()
        .value(99, Value::Text("not signed".into()))
        .build();
    let with_uhdr = sign1.to_tagged_vec().unwrap();
    assert_ne!(with_uhdr, clean);
    let ts = ledger.register_statement(&with_uhdr).unwrap();
    assert_eq!(ts.statement().as_bytes(), clean.as_slice());
    let v = ts.verify(ledger.service_certificate_pem()).unwrap();
    assert_eq!(v.statement_digest, sha256(&clean));
}

/// The refusal of registering `bytes`; nothing may be recorded.
fn refusal(ledger: &Ledger, bytes: &[u8]) -> StatementRefusal {
    let before = ledger.latest(SCITT_COLLECTION).unwrap();
    let e = ledger.register_statement(bytes).unwrap_err();
    assert_eq!(ledger.latest(SCITT_COLLECTION).unwrap(), before, "{e}");
    match e {
        Error::StatementRefused { refusal } => refusal,
        other => panic!("expected a statement refusal, got {other}"),
    }
}

#[test]
fn malformed_and_unverifiable_statements_are_refused_with_typed_reasons() {
    let ledger = ledger();
    let p256 = Issuer::P256(p256_key(1));
    let good = statement(&p256, KID_P256, "sbom", b"payload");
    ledger.register_statement(&good).unwrap();

    // Not CBOR; CBOR with trailing bytes.
    assert!(matches!(
        refusal(&ledger, b"\xff\xff"),
        StatementRefusal::NotCbor { .. }
    ));
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        refusal(&ledger, &trailing),
        StatementRefusal::NotCbor { .. }
    ));
    assert!(matches!(
        refusal(&ledger, b""),
        StatementRefusal::NotCbor { .. }
    ));
    // Not a COSE_Sign1: tagged 18 but a map; a plain integer.
    let tagged_map = {
        let mut out = Vec::new();
        ciborium::ser::into_writer(&Value::Tag(18, Box::new(Value::Map(vec![]))), &mut out)
            .unwrap();
        out
    };
    assert!(matches!(
        refusal(&ledger, &tagged_map),
        StatementRefusal::NotCoseSign1 { .. }
    ));
    assert!(matches!(
        refusal(&ledger, b"\x01"),
        StatementRefusal::NotCoseSign1 { .. }
    ));
    // Untagged, and tagged 98 (COSE_Sign) or 17 (COSE_Mac0).
    let untagged = CoseSign1::from_tagged_slice(&good)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(
        refusal(&ledger, &untagged),
        StatementRefusal::WrongTag { found: None }
    );
    // Tagged 17 (COSE_Mac0: d1) and 98 (COSE_Sign: d8 62) instead of 18 (d2).
    for (tag, prefix) in [(17u64, vec![0xd1]), (98, vec![0xd8, 0x62])] {
        let mut other = prefix;
        other.extend_from_slice(&good[1..]);
        assert_eq!(
            refusal(&ledger, &other),
            StatementRefusal::WrongTag { found: Some(tag) }
        );
    }
    // A bad signature: the last byte of the signature flipped.
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        refusal(&ledger, &bad),
        StatementRefusal::BadSignature { key: "kid" }
    );
    // Signed by another key under a registered kid.
    let forged = statement(&Issuer::P256(p256_key(7)), KID_P256, "sbom", b"payload");
    assert_eq!(
        refusal(&ledger, &forged),
        StatementRefusal::BadSignature { key: "kid" }
    );
    // An unknown kid, and no key at all.
    let unknown = statement(&p256, b"who", "sbom", b"payload");
    assert_eq!(
        refusal(&ledger, &unknown),
        StatementRefusal::UnknownKeyId {
            kid: hex::encode(b"who")
        }
    );
    let keyless = statement(&p256, b"", "sbom", b"payload");
    assert_eq!(refusal(&ledger, &keyless), StatementRefusal::NoIssuerKey);
    // Missing CWT claims, a missing sub, an iss that is not text.
    let no_claims = statement_with(&p256, protected(&p256, KID_P256, None).build(), b"p");
    assert_eq!(
        refusal(&ledger, &no_claims),
        StatementRefusal::MissingCwtClaims
    );
    let no_sub = statement_with(
        &p256,
        protected(
            &p256,
            KID_P256,
            Some(Value::Map(vec![(
                Value::Integer(1.into()),
                Value::Text("iss".into()),
            )])),
        )
        .build(),
        b"p",
    );
    assert_eq!(
        refusal(&ledger, &no_sub),
        StatementRefusal::MalformedCwtClaims {
            claim: "sub",
            problem: "missing"
        }
    );
    let iss_bytes = statement_with(
        &p256,
        protected(
            &p256,
            KID_P256,
            Some(Value::Map(vec![
                (Value::Integer(1.into()), Value::Bytes(vec![1])),
                (Value::Integer(2.into()), Value::Text("sub".into())),
            ])),
        )
        .build(),
        b"p",
    );
    assert_eq!(
        refusal(&ledger, &iss_bytes),
        StatementRefusal::MalformedCwtClaims {
            claim: "iss",
            problem: "not a text string"
        }
    );
    // A detached payload.
    let mut detached = CoseSign1::from_tagged_slice(&good).unwrap();
    detached.payload = None;
    assert_eq!(
        refusal(&ledger, &detached.to_tagged_vec().unwrap()),
        StatementRefusal::DetachedPayload
    );
    // An unsupported algorithm (ES512), and no algorithm.
    let es512 = statement_with(
        &p256,
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES512)
            .key_id(KID_P256.to_vec())
            .value(15, cwt("i", "s"))
            .build(),
        b"p",
    );
    assert_eq!(
        refusal(&ledger, &es512),
        StatementRefusal::UnsupportedAlgorithm {
            alg: Some("-36".into())
        }
    );
    let no_alg = statement_with(
        &p256,
        HeaderBuilder::new()
            .key_id(KID_P256.to_vec())
            .value(15, cwt("i", "s"))
            .build(),
        b"p",
    );
    assert_eq!(
        refusal(&ledger, &no_alg),
        StatementRefusal::UnsupportedAlgorithm { alg: None }
    );
    // ES384 claimed under the P-256 issuer's kid.
    let p384 = Issuer::P384(p384_key(2));
    let mismatch = statement(&p384, KID_P256, "sbom", b"payload");
    assert_eq!(
        refusal(&ledger, &mismatch),
        StatementRefusal::KeyAlgorithmMismatch {
            alg: "ES384",
            key: "P-256"
        }
    );
    // A critical header that is not understood.
    let crit = statement_with(
        &p256,
        protected(&p256, KID_P256, Some(cwt("i", "s")))
            .add_critical(iana::HeaderParameter::CounterSignature)
            .build(),
        b"p",
    );
    assert_eq!(
        refusal(&ledger, &crit),
        StatementRefusal::UnknownCriticalHeader { label: "7".into() }
    );
    // An x5chain that is not a certificate, and a statement too long.
    let junk_chain = statement_with(
        &p256,
        protected(&p256, b"", Some(cwt("i", "s")))
            .value(33, Value::Bytes(vec![0x30, 0x00]))
            .build(),
        b"p",
    );
    assert!(matches!(
        refusal(&ledger, &junk_chain),
        StatementRefusal::BadCertificate { .. }
    ));
    let huge = statement(
        &p256,
        KID_P256,
        "sbom",
        &vec![0; ledger_core::MAX_STATEMENT_LEN],
    );
    assert!(matches!(
        refusal(&ledger, &huge),
        StatementRefusal::TooLarge { .. }
    ));
    // The x5chain's key checks the signature too: another key's signature is refused.
    let x5 = x5chain_statement(9, b"p");
    let mut sign1 = CoseSign1::from_tagged_slice(&x5).unwrap();
    sign1.signature = Issuer::P256(p256_key(8)).sign(&sign1.tbs_data(b""));
    assert_eq!(
        refusal(&ledger, &sign1.to_tagged_vec().unwrap()),
        StatementRefusal::BadSignature { key: "x5chain" }
    );
}

#[test]
fn the_policy_rule_sees_the_protected_header_and_refuses_with_its_reason() {
    let ledger = ledger();
    ledger.set_scitt_policy(policy().rule(|s| {
        if s.subject() == "sbom" && s.protected_header().content_type.is_some() {
            Ok(())
        } else {
            Err(format!("subject {} is not accepted", s.subject()))
        }
    }));
    let p256 = Issuer::P256(p256_key(1));
    register_and_check(&ledger, &statement(&p256, KID_P256, "sbom", b"ok"));
    let vex = statement(&p256, KID_P256, "vex", b"no");
    assert_eq!(
        refusal(&ledger, &vex),
        StatementRefusal::Policy {
            issuer: "issuer.example".into(),
            subject: "vex".into(),
            reason: "subject vex is not accepted".into()
        }
    );
    // The default policy is back once set again; a new handle starts with it.
    ledger.set_scitt_policy(policy());
    register_and_check(&ledger, &vex);
    assert_eq!(
        Ledger::in_memory()
            .unwrap()
            .register_statement(&vex)
            .unwrap_err()
            .statement_refusal(),
        Some(&StatementRefusal::UnknownKeyId {
            kid: hex::encode(KID_P256)
        })
    );
}

#[test]
fn tampered_transparent_statements_fail_verification() {
    let ledger = ledger();
    let stmt = statement(&Issuer::P256(p256_key(1)), KID_P256, "sbom", b"payload");
    let ts = ledger.register_statement(&stmt).unwrap();
    let cert = ledger.service_certificate_pem();
    let bytes = ts.to_vec();
    // Every single-bit flip: it no longer reads, or no longer verifies.
    for at in 0..bytes.len() {
        let mut t = bytes.clone();
        t[at] ^= 0x01;
        if let Ok(parsed) = TransparentStatement::from_slice(&t) {
            assert!(
                parsed.verify(&cert).is_err(),
                "a transparent statement with byte {at} flipped verifies"
            );
        }
    }
    // Another statement with this one's receipt: a genuine receipt, the wrong digest.
    let other = statement(&Issuer::P256(p256_key(1)), KID_P256, "sbom", b"other");
    let mut sign1 = CoseSign1::from_tagged_slice(&other).unwrap();
    sign1.unprotected = CoseSign1::from_tagged_slice(&bytes).unwrap().unprotected;
    let swapped = TransparentStatement::from_slice(&sign1.to_tagged_vec().unwrap()).unwrap();
    assert!(matches!(
        swapped.verify(&cert),
        Err(Error::ReceiptInvalid {
            check: "claims digest",
            ..
        })
    ));
    // Another service's certificate.
    let foreign = Ledger::in_memory().unwrap().service_certificate_pem();
    assert!(ts.verify(foreign).is_err());
    // A signed statement without receipts is not a transparent statement.
    assert!(TransparentStatement::from_slice(&stmt).is_err());
}

#[test]
fn transparent_statements_are_fetched_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let p256 = Issuer::P256(p256_key(1));
    let (first, second, plain) = {
        let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
        ledger.set_scitt_policy(policy());
        let a = register_and_check(&ledger, &statement(&p256, KID_P256, "a", b"1"));
        let plain = ledger.append("audit", b"not a statement").unwrap();
        let b = register_and_check(&ledger, &x5chain_statement(9, b"2"));
        ledger.flush().unwrap();
        ledger.close().unwrap();
        (a, b, plain)
    };
    let ledger = Ledger::open(LedgerConfig::new(&path)).unwrap();
    let cert = ledger.service_certificate_pem();
    for ts in [&first, &second] {
        let again = ledger.transparent_statement(ts.tx_id()).unwrap();
        assert_eq!(again.as_bytes(), ts.as_bytes());
        assert_eq!(again.verify(&cert).unwrap().tx_id, ts.tx_id());
    }
    // Only registered statements have one.
    assert!(ledger
        .transparent_statement(plain)
        .unwrap_err()
        .is_not_found());
    // A raw append to the collection, without the claims digest, is not a registration.
    let raw = ledger
        .append(SCITT_COLLECTION, first.statement().as_bytes())
        .unwrap();
    ledger
        .wait_for_commit(raw, Duration::from_secs(10))
        .unwrap();
    assert!(matches!(
        ledger.transparent_statement(raw),
        Err(Error::NotFound {
            what: "registered statement",
            ..
        })
    ));
    // Registration works on the reopened ledger once the policy is set again.
    ledger.set_scitt_policy(policy());
    register_and_check(&ledger, &statement(&p256, KID_P256, "c", b"3"));
}

#[test]
fn a_ledger_signing_in_json_mode_refuses_registration() {
    let dir = tempfile::tempdir().unwrap();
    let ledger =
        Ledger::open(LedgerConfig::new(dir.path().join("l")).signing_mode(SigningMode::Json))
            .unwrap();
    ledger.set_scitt_policy(policy());
    let e = ledger
        .register_statement(&statement(&Issuer::P256(p256_key(1)), KID_P256, "s", b"p"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidInput {
                what: "signing_mode",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(ledger.latest(SCITT_COLLECTION).unwrap(), None);
}

/// The Python of the `pyscitt` virtual environment `.ci/setup.sh` makes.
fn scitt_python() -> PathBuf {
    std::env::var_os("LEDGER_SCITT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ledger-scitt-venv"))
        .join("bin")
        .join("python3")
}

/// Whether the `pyscitt` verifier can run; skips with a notice, or fails under CI.
fn pyscitt_available(python: &Path) -> bool {
    let install = "bash .ci/setup.sh (or python3.12 -m venv /var/tmp/ledger-scitt-venv && \
                   /var/tmp/ledger-scitt-venv/bin/python3 -m pip install -r \
                   ledger-core/tests/interop/requirements-scitt.txt)";
    let reason = match Command::new(python)
        .args(["-c", "import pyscitt.verify"])
        .output()
    {
        Ok(out) if out.status.success() => return true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => format!("cannot run {}: {e}", python.display()),
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but the pyscitt verifier is unavailable ({reason}); run `{install}`"
    );
    eprintln!("SKIPPED pyscitt interop test: pyscitt unavailable ({reason}); run `{install}`");
    false
}

#[test]
fn pyscitt_accepts_transparent_statements_and_rejects_tampered_ones() {
    let python = scitt_python();
    if !pyscitt_available(&python) {
        return;
    }
    let ledger = ledger();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let statements = [
        (
            "es256",
            statement(&Issuer::P256(p256_key(1)), KID_P256, "sbom", b"{}"),
        ),
        (
            "es384",
            statement(&Issuer::P384(p384_key(2)), KID_P384, "vex", b"384"),
        ),
        (
            "eddsa",
            statement(&Issuer::Ed25519(ed25519_key(3)), KID_ED25519, "x", b"ed"),
        ),
        ("x5chain", x5chain_statement(9, b"certificate")),
    ];
    std::fs::write(
        out.join("service_cert.pem"),
        ledger.service_certificate_pem(),
    )
    .unwrap();
    for (name, stmt) in &statements {
        let ts = ledger.register_statement(stmt).unwrap();
        std::fs::write(out.join(format!("{name}.statement")), stmt).unwrap();
        std::fs::write(out.join(format!("{name}.transparent")), ts.as_bytes()).unwrap();
        std::fs::write(out.join(format!("{name}.txid")), ts.tx_id().to_string()).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_scitt.py");
    let run = Command::new(&python).arg(script).arg(out).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        run.status.success(),
        "verify_scitt.py failed ({})\n{stdout}\n{stderr}",
        run.status
    );
    assert!(
        stdout.contains(&format!(
            "accepted {} transparent statements",
            statements.len()
        )),
        "{stdout}"
    );
}
