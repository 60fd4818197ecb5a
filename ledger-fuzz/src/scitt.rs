//! The SCITT registration path: `scitt_register`.

use std::sync::OnceLock;

use arbitrary::Unstructured;
use coset::cbor::value::Value;
use coset::{iana, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable};
use ledger_core::{
    Error, IssuerKey, Ledger, ScittPolicy, ServiceIdentity, ServiceSigner, StatementRefusal,
    TransparentStatement,
};
use p256::ecdsa::signature::Signer as _;

const KID_P256: &[u8] = b"fuzz-p256";
const KID_ED25519: &[u8] = b"fuzz-ed25519";

/// One in-memory ledger per process with a policy knowing two issuers by `kid`, an issuer
/// whose certificate statements carry in `x5chain`, and genuine statements of each kind.
struct ScittFixture {
    ledger: Ledger,
    cert_pem: String,
    p256: p256::ecdsa::SigningKey,
    other_p256: p256::ecdsa::SigningKey,
    ed25519: ed25519_dalek::SigningKey,
    /// The `x5chain` issuer: a P-256 key with a certificate.
    x5: ServiceIdentity,
    genuine: Vec<Vec<u8>>,
    /// The registered forms of the genuine statements (they carry no unprotected header, so
    /// the same bytes).
    registered: Vec<Vec<u8>>,
}

fn fixture() -> &'static ScittFixture {
    static FIXTURE: OnceLock<ScittFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ledger = match Ledger::in_memory() {
            Ok(l) => l,
            Err(e) => panic!("in-memory ledger: {e}"),
        };
        let key = |seed: u8| match p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()) {
            Ok(k) => k,
            Err(e) => panic!("seeded key: {e}"),
        };
        let x5 = match ServiceIdentity::generate("scitt fuzz issuer") {
            Ok(i) => i,
            Err(e) => panic!("issuer identity: {e}"),
        };
        let mut f = ScittFixture {
            cert_pem: ledger.service_certificate_pem(),
            ledger,
            p256: key(1),
            other_p256: key(2),
            ed25519: ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
            x5,
            genuine: Vec::new(),
            registered: Vec::new(),
        };
        f.ledger.set_scitt_policy(
            ScittPolicy::accept_all()
                .issuer_key(KID_P256, IssuerKey::from(*f.p256.verifying_key()))
                .issuer_key(KID_ED25519, IssuerKey::from(f.ed25519.verifying_key())),
        );
        let base = Built {
            tag: Tag::Cose,
            alg: AlgChoice::Es256,
            signer: SignerChoice::P256,
            kid: KidChoice::P256,
            x5chain: X5Choice::None,
            claims: true,
            iss: ClaimChoice::Text(0),
            sub: ClaimChoice::Text(1),
            detached: false,
            payload: b"{\"sbom\":1}".to_vec(),
            unprotected: None,
            crit_unknown: false,
        };
        let eddsa = Built {
            alg: AlgChoice::EdDsa,
            signer: SignerChoice::Ed25519,
            kid: KidChoice::Ed25519,
            ..base.clone()
        };
        let x5chain = Built {
            signer: SignerChoice::X5,
            kid: KidChoice::Absent,
            x5chain: X5Choice::Genuine,
            ..base.clone()
        };
        for b in [base, eddsa, x5chain] {
            let bytes = build(&f, &b);
            f.registered.push(bytes.clone());
            f.genuine.push(bytes);
        }
        f
    })
}

/// The genuine signed statements (made once per process): seeds for the `scitt_register`
/// corpus. The `x5chain` one carries a certificate made for this process.
pub fn scitt_statement_seeds() -> Vec<Vec<u8>> {
    fixture().genuine.clone()
}

#[derive(Clone, Copy, Debug)]
enum Tag {
    Cose,
    Untagged,
    Other(u8),
}

#[derive(Clone, Copy, Debug)]
enum AlgChoice {
    Es256,
    Es384,
    EdDsa,
    /// ES512, PS256, HMAC 256/256, A128GCM: none accepted.
    Unsupported(u8),
    Absent,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SignerChoice {
    P256,
    OtherP256,
    Ed25519,
    X5,
}

#[derive(Clone, Copy, Debug)]
enum KidChoice {
    P256,
    Ed25519,
    Unknown,
    Absent,
}

#[derive(Clone, Copy, Debug)]
enum X5Choice {
    None,
    Genuine,
    /// A byte string that is no certificate.
    Junk,
    EmptyArray,
}

#[derive(Clone, Copy, Debug)]
enum ClaimChoice {
    Text(u8),
    Empty,
    Bytes,
    Missing,
}

/// A statement built from chosen parts, each right or wrong in one way.
#[derive(Clone, Debug)]
struct Built {
    tag: Tag,
    alg: AlgChoice,
    signer: SignerChoice,
    kid: KidChoice,
    x5chain: X5Choice,
    claims: bool,
    iss: ClaimChoice,
    sub: ClaimChoice,
    detached: bool,
    payload: Vec<u8>,
    unprotected: Option<u8>,
    crit_unknown: bool,
}

impl Built {
    /// One byte per choice, in field order (an input that runs out reads zeros, so all
    /// zeros is a genuine ES256 statement under a registered `kid`): tag (0 COSE_Sign1,
    /// 1 untagged, else tag 100 + n % 100), `alg` (0 ES256, 1 ES384, 2 EdDSA, 3 absent, else
    /// unsupported), signer and `kid` and `x5chain` (each the variant `n % 4`), CWT claims
    /// (present when even), `iss` and `sub` (`n % 4`: text, empty, a byte string, missing),
    /// flags (1 detached, 2 unknown `crit`, 4 an unprotected header holding the next byte),
    /// then the payload (at most 64 bytes).
    fn decode(mut u: Unstructured<'_>) -> Option<Self> {
        let mut byte = || u.arbitrary::<u8>().ok();
        let tag = match byte()? {
            0 => Tag::Cose,
            1 => Tag::Untagged,
            n => Tag::Other(n),
        };
        let alg = match byte()? {
            0 => AlgChoice::Es256,
            1 => AlgChoice::Es384,
            2 => AlgChoice::EdDsa,
            3 => AlgChoice::Absent,
            n => AlgChoice::Unsupported(n),
        };
        let signer = [
            SignerChoice::P256,
            SignerChoice::OtherP256,
            SignerChoice::Ed25519,
            SignerChoice::X5,
        ][usize::from(byte()? % 4)];
        let kid = [
            KidChoice::P256,
            KidChoice::Ed25519,
            KidChoice::Unknown,
            KidChoice::Absent,
        ][usize::from(byte()? % 4)];
        let x5chain = [
            X5Choice::None,
            X5Choice::Genuine,
            X5Choice::Junk,
            X5Choice::EmptyArray,
        ][usize::from(byte()? % 4)];
        let claims = byte()? % 2 == 0;
        let claim = |n: u8| match n % 4 {
            0 => ClaimChoice::Text(n),
            1 => ClaimChoice::Empty,
            2 => ClaimChoice::Bytes,
            _ => ClaimChoice::Missing,
        };
        let iss = claim(byte()?);
        let sub = claim(byte()?);
        let flags = byte()?;
        let extra = byte()?;
        Some(Self {
            tag,
            alg,
            signer,
            kid,
            x5chain,
            claims,
            iss,
            sub,
            detached: flags & 1 != 0,
            crit_unknown: flags & 2 != 0,
            unprotected: (flags & 4 != 0).then_some(extra),
            payload: u.take_rest().iter().copied().take(64).collect(),
        })
    }
}

fn build(f: &ScittFixture, b: &Built) -> Vec<u8> {
    let mut h = HeaderBuilder::new();
    h = match b.alg {
        AlgChoice::Es256 => h.algorithm(iana::Algorithm::ES256),
        AlgChoice::Es384 => h.algorithm(iana::Algorithm::ES384),
        AlgChoice::EdDsa => h.algorithm(iana::Algorithm::EdDSA),
        AlgChoice::Unsupported(i) => h.algorithm(
            [
                iana::Algorithm::ES512,
                iana::Algorithm::PS256,
                iana::Algorithm::HMAC_256_256,
                iana::Algorithm::A128GCM,
            ][usize::from(i % 4)],
        ),
        AlgChoice::Absent => h,
    };
    if b.crit_unknown {
        h = h.add_critical(iana::HeaderParameter::CounterSignature);
    }
    h = match b.kid {
        KidChoice::P256 => h.key_id(KID_P256.to_vec()),
        KidChoice::Ed25519 => h.key_id(KID_ED25519.to_vec()),
        KidChoice::Unknown => h.key_id(b"nobody".to_vec()),
        KidChoice::Absent => h,
    };
    if b.claims {
        let mut claims = Vec::new();
        for (label, choice) in [(1, b.iss), (2, b.sub)] {
            let value = match choice {
                ClaimChoice::Text(i) => Value::Text(format!("party-{i}")),
                ClaimChoice::Empty => Value::Text(String::new()),
                ClaimChoice::Bytes => Value::Bytes(vec![1, 2]),
                ClaimChoice::Missing => continue,
            };
            claims.push((Value::Integer(label.into()), value));
        }
        h = h.value(15, Value::Map(claims));
    }
    h = match b.x5chain {
        X5Choice::None => h,
        X5Choice::Genuine => h.value(33, Value::Bytes(f.x5.certificate_der().to_vec())),
        X5Choice::Junk => h.value(33, Value::Bytes(vec![0x30, 0x03, 1, 2, 3])),
        X5Choice::EmptyArray => h.value(33, Value::Array(Vec::new())),
    };
    let payload: Vec<u8> = b.payload.iter().copied().take(64).collect();
    let mut builder = CoseSign1Builder::new().protected(h.build());
    if let Some(v) = b.unprotected {
        builder = builder.unprotected(
            HeaderBuilder::new()
                .value(99, Value::Integer(v.into()))
                .build(),
        );
    }
    let sign = |tbs: &[u8]| -> Vec<u8> {
        match b.signer {
            SignerChoice::P256 => {
                let s: p256::ecdsa::Signature = f.p256.sign(tbs);
                s.to_bytes().to_vec()
            }
            SignerChoice::OtherP256 => {
                let s: p256::ecdsa::Signature = f.other_p256.sign(tbs);
                s.to_bytes().to_vec()
            }
            SignerChoice::Ed25519 => {
                use ed25519_dalek::Signer as _;
                f.ed25519.sign(tbs).to_bytes().to_vec()
            }
            SignerChoice::X5 => {
                use sha2::Digest as _;
                let digest: [u8; 32] = sha2::Sha256::digest(tbs).into();
                f.x5.sign_digest(&digest)
                    .ok()
                    .and_then(|der| p256::ecdsa::Signature::from_der(&der).ok())
                    .map(|s| s.to_bytes().to_vec())
                    .unwrap_or_default()
            }
        }
    };
    // The signature covers the payload whether or not it is then detached.
    let mut sign1 = builder.payload(payload).create_signature(b"", sign).build();
    if b.detached {
        sign1.payload = None;
    }
    let tagged = match sign1.clone().to_tagged_vec() {
        Ok(v) => v,
        Err(e) => panic!("encoding a built statement: {e}"),
    };
    match b.tag {
        Tag::Cose => tagged,
        Tag::Untagged => tagged.get(1..).map(<[u8]>::to_vec).unwrap_or_default(),
        Tag::Other(t) => {
            // Tag 100..=199 (never 18): d8 <t> in place of d2.
            let mut v = vec![0xd8, 100 + t % 100];
            v.extend_from_slice(tagged.get(1..).unwrap_or_default());
            v
        }
    }
}

/// What registering `b` must give: `None` for acceptance, else the refusal (reasons of
/// `BadCertificate` are not predicted, only the variant).
fn expected(b: &Built) -> Option<StatementRefusal> {
    match b.tag {
        Tag::Cose => {}
        Tag::Untagged => return Some(StatementRefusal::WrongTag { found: None }),
        Tag::Other(t) => {
            return Some(StatementRefusal::WrongTag {
                found: Some(100 + u64::from(t % 100)),
            })
        }
    }
    let alg = match b.alg {
        AlgChoice::Es256 => "ES256",
        AlgChoice::Es384 => "ES384",
        AlgChoice::EdDsa => "EdDSA",
        AlgChoice::Unsupported(i) => {
            let code = [-36, -37, 5, 1][usize::from(i % 4)];
            return Some(StatementRefusal::UnsupportedAlgorithm {
                alg: Some(code.to_string()),
            });
        }
        AlgChoice::Absent => return Some(StatementRefusal::UnsupportedAlgorithm { alg: None }),
    };
    if b.crit_unknown {
        return Some(StatementRefusal::UnknownCriticalHeader { label: "7".into() });
    }
    if !b.claims {
        return Some(StatementRefusal::MissingCwtClaims);
    }
    for (claim, choice) in [("iss", b.iss), ("sub", b.sub)] {
        let problem = match choice {
            ClaimChoice::Empty => "empty",
            ClaimChoice::Bytes => "not a text string",
            _ => continue,
        };
        return Some(StatementRefusal::MalformedCwtClaims { claim, problem });
    }
    for (claim, choice) in [("iss", b.iss), ("sub", b.sub)] {
        if let ClaimChoice::Missing = choice {
            return Some(StatementRefusal::MalformedCwtClaims {
                claim,
                problem: "missing",
            });
        }
    }
    let bad_cert = || StatementRefusal::BadCertificate {
        reason: String::new(),
    };
    if let X5Choice::EmptyArray = b.x5chain {
        return Some(bad_cert());
    }
    if b.detached {
        return Some(StatementRefusal::DetachedPayload);
    }
    // Each key found, with its kind and whether `b.signer` holds it.
    let check = |key_kind: &'static str, holder: SignerChoice, which: &'static str| {
        let fits = matches!(
            (key_kind, alg),
            ("P-256", "ES256") | ("P-384", "ES384") | ("Ed25519", "EdDSA")
        );
        if !fits {
            Some(StatementRefusal::KeyAlgorithmMismatch { alg, key: key_kind })
        } else if b.signer != holder {
            Some(StatementRefusal::BadSignature { key: which })
        } else {
            None
        }
    };
    let mut checked = false;
    match b.x5chain {
        X5Choice::Junk => return Some(bad_cert()),
        X5Choice::Genuine => {
            if let Some(r) = check("P-256", SignerChoice::X5, "x5chain") {
                return Some(r);
            }
            checked = true;
        }
        X5Choice::None | X5Choice::EmptyArray => {}
    }
    let registered = match b.kid {
        KidChoice::P256 => Some(("P-256", SignerChoice::P256)),
        KidChoice::Ed25519 => Some(("Ed25519", SignerChoice::Ed25519)),
        KidChoice::Unknown if !checked => {
            return Some(StatementRefusal::UnknownKeyId {
                kid: "6e6f626f6479".into(), // "nobody"
            });
        }
        KidChoice::Unknown | KidChoice::Absent => None,
    };
    if let Some((kind, holder)) = registered {
        if let Some(r) = check(kind, holder, "kid") {
            return Some(r);
        }
        checked = true;
    }
    (!checked).then_some(StatementRefusal::NoIssuerKey)
}

/// Registers `bytes` and checks the answer: never a panic, only [`Error::StatementRefused`]
/// as an error, and an accepted statement's transparent statement verifies, reads back
/// equal, is served equal by [`Ledger::transparent_statement`], and its registered form
/// passes the policy again. With `genuine_only`, what is accepted must be (in its registered
/// form) one of the genuine statements: bit flips and splices cannot forge a signature.
fn register(f: &ScittFixture, bytes: &[u8], genuine_only: bool) -> Result<(), StatementRefusal> {
    match f.ledger.register_statement(bytes) {
        Ok(ts) => {
            let registered = ts.statement().as_bytes();
            if genuine_only {
                assert!(
                    f.registered.iter().any(|g| g == registered),
                    "a mutated statement was accepted: {}",
                    hex(bytes)
                );
            }
            let v = match ts.verify(&f.cert_pem) {
                Ok(v) => v,
                Err(e) => panic!("a transparent statement does not verify: {e}"),
            };
            assert_eq!(v.tx_id, ts.tx_id());
            assert_eq!(v.statement_digest, crate::sha256(&[registered]));
            assert_eq!(
                TransparentStatement::from_slice(ts.as_bytes())
                    .ok()
                    .as_ref(),
                Some(&ts)
            );
            let served = f.ledger.transparent_statement(ts.tx_id());
            assert_eq!(
                served.ok().map(|s| s.to_vec()),
                Some(ts.to_vec()),
                "served differently"
            );
            assert!(f.ledger.scitt_policy().check(registered).is_ok());
            Ok(())
        }
        Err(Error::StatementRefused { refusal }) => Err(refusal),
        Err(e) => panic!("registration failed with a non-refusal error: {e}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Four inputs, chosen by the first byte: `0` flips bits of a genuine statement (up to 16
/// `xor`s), `1` splices bytes into one, `2` builds a statement from structured choices (tag,
/// `alg`, signer, `kid`, `x5chain`, CWT claims, detached payload, unprotected header, `crit`)
/// and compares the outcome with a model of the registration rules; anything else is
/// registered as is. Every answer is checked as `register` says.
pub fn scitt_register(data: &[u8]) {
    let f = fixture();
    let rest = data.get(1..).unwrap_or_default();
    match data.first() {
        Some(0) | Some(1) => {
            let mut u = Unstructured::new(rest);
            let Ok(i) = u.arbitrary::<u8>() else { return };
            let Some(mut bytes) = f.genuine.get(usize::from(i) % f.genuine.len()).cloned() else {
                return;
            };
            if data.first() == Some(&0) {
                for _ in 0..16 {
                    let (Ok(at), Ok(xor)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
                        break;
                    };
                    let at = usize::from(at) % bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(at) {
                        *b ^= xor;
                    }
                }
            } else {
                let (Ok(at), Ok(len)) = (u.arbitrary::<u16>(), u.arbitrary::<u8>()) else {
                    return;
                };
                let at = usize::from(at) % (bytes.len() + 1);
                let end = (at + usize::from(len % 8)).min(bytes.len());
                bytes.splice(at..end, u.take_rest().iter().copied());
            }
            let _ = register(f, &bytes, true);
        }
        Some(2) => {
            let Some(b) = Built::decode(Unstructured::new(rest)) else {
                return;
            };
            let bytes = build(f, &b);
            let got = register(f, &bytes, false).err();
            let want = expected(&b);
            match (&got, &want) {
                (
                    Some(StatementRefusal::BadCertificate { .. }),
                    Some(StatementRefusal::BadCertificate { .. }),
                ) => {}
                _ => assert_eq!(got, want, "{b:?}"),
            }
            // Whatever was accepted has exactly the signed parts of the built statement.
            if got.is_none() {
                let parsed = CoseSign1::from_tagged_slice(&bytes).ok();
                assert!(parsed.is_some_and(|p| p.payload.is_some()), "{b:?}");
            }
        }
        _ => {
            let _ = register(f, data, false);
        }
    }
}
