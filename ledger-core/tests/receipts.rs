//! Receipts, Rust side: the fixture's receipts verify; every tampering the Python interop
//! script applies (and a few more) fails with a typed error; JSON round-trips exactly and
//! parsing is strict and never panics (proptest with a fixed seed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "interop/fixture.rs"]
mod fixture;

use std::cell::Cell;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use der::oid::AssociatedOid;
use fixture::{Fixture, LEAVES, SIGNED_SIZES};
use ledger_core::LeafComponents;
use ledger_core::{node_id_of, CertificateValidity, NodeIdentity, NodeSigner, ServiceIdentity};
use ledger_core::{CertificateRole, CertificateRule, Error, RejectedCertificate, TxId};
use ledger_core::{ProofStep, Receipt, ReceiptVerifier, MAX_PROOF_LEN};
use p256::pkcs8::EncodePublicKey;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::str::FromStr;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(Fixture::new)
}

fn foreign() -> &'static Fixture {
    static FOREIGN: OnceLock<Fixture> = OnceLock::new();
    FOREIGN.get_or_init(Fixture::foreign)
}

fn service_pem() -> &'static str {
    fixture().service.certificate_pem()
}

fn runner(cases: u32) -> TestRunner {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[42; 32]))
}

fn flip_hex_digest(d: &[u8; 32]) -> [u8; 32] {
    let mut d = *d;
    d[31] ^= 0x01;
    d
}

fn flip_last_hex_char(s: &str) -> String {
    let mut s = s.to_owned();
    let last = s.pop().unwrap();
    s.push(if last == '0' { '1' } else { '0' });
    s
}

fn expect_invalid(result: ledger_core::Result<()>, what: &str) -> String {
    match result {
        Err(e @ Error::ReceiptInvalid { .. }) => e.to_string(),
        other => panic!("{what}: expected ReceiptInvalid, got {other:?}"),
    }
}

#[test]
fn fixture_receipts_verify_and_name_their_transaction() {
    let f = fixture();
    let verifier = ReceiptVerifier::new(service_pem()).unwrap();
    assert_eq!(f.receipts.len(), 75);
    for (name, receipt) in &f.receipts {
        receipt.verify(service_pem()).unwrap();
        verifier.verify(receipt).unwrap();
        let tx = receipt.tx_id().unwrap();
        let (view_seqno, size) = name.split_once("_at").unwrap();
        assert_eq!(view_seqno, format!("{}_{}", tx.view(), tx.seqno()));
        let size: u64 = size.parse().unwrap();
        assert!(SIGNED_SIZES.contains(&size));
        assert_eq!(receipt.root().unwrap(), f.tree.root_at(size).unwrap());
        assert_eq!(receipt.leaf(), f.tree.leaf(tx.seqno()).unwrap());
        assert_eq!(&*receipt.node_id, f.node.node_id());
        assert!(receipt.service_endorsements.is_empty());
    }
    // Both sides of the tree appear in proofs.
    let steps: Vec<&ProofStep> = f.receipts.iter().flat_map(|(_, r)| &r.proof).collect();
    assert!(steps.iter().any(|s| matches!(s, ProofStep::Left(_))));
    assert!(steps.iter().any(|s| matches!(s, ProofStep::Right(_))));
}

#[test]
fn build_rejects_paths_that_do_not_fit() {
    let f = fixture();
    let node = &f.node;
    let components = f.components[5].clone().unwrap();
    let path = f.tree.inclusion_proof(5, 17).unwrap();
    let build = |index, size, path: &[[u8; 32]]| {
        Receipt::build(
            node.certificate_pem(),
            node.node_id(),
            components.clone(),
            index,
            size,
            path,
            &[0x30, 0x00],
        )
    };
    build(5, 17, &path).unwrap();
    assert!(matches!(
        build(5, 16, &path),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        build(17, 17, &path),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        build(5, 17, &path[1..]),
        Err(Error::InvalidInput { .. })
    ));
    let shared = Receipt::build_shared(
        Arc::from(node.certificate_pem()),
        Arc::from(node.node_id()),
        components.clone(),
        5,
        17,
        &path,
        Arc::from(&[0x30u8, 0x00][..]),
    )
    .unwrap();
    assert_eq!(shared, build(5, 17, &path).unwrap());
}

/// Every way of tampering with a receipt, as (name, tampered receipt).
fn tamperings(receipt: &Receipt) -> Vec<(&'static str, Receipt)> {
    let f = fixture();
    let edit = |change: &dyn Fn(&mut Receipt)| {
        let mut r = receipt.clone();
        change(&mut r);
        r
    };
    let other_signature = f
        .receipts
        .iter()
        .map(|(_, r)| r.signature.clone())
        .find(|s| *s != receipt.signature)
        .unwrap();
    let second_node = NodeIdentity::generate(&f.service, "node1.ledger.test").unwrap();
    let service_key_spki = f.service.verifying_key().to_public_key_der().unwrap();
    let (_, foreign_receipt) = &foreign().receipts[0];
    let tx = receipt.tx_id().unwrap();
    let nonce = receipt
        .leaf_components
        .commit_evidence
        .rsplit(':')
        .next()
        .unwrap();
    vec![
        (
            "write_set_digest",
            edit(&|r| {
                r.leaf_components.write_set_digest =
                    flip_hex_digest(&r.leaf_components.write_set_digest)
            }),
        ),
        (
            "claims_digest",
            edit(&|r| {
                r.leaf_components.claims_digest = flip_hex_digest(&r.leaf_components.claims_digest)
            }),
        ),
        (
            "commit_evidence nonce",
            edit(&|r| {
                r.leaf_components.commit_evidence =
                    flip_last_hex_char(&r.leaf_components.commit_evidence)
            }),
        ),
        (
            "commit_evidence seqno",
            edit(&|r| {
                r.leaf_components.commit_evidence =
                    format!("ce:{}.{}:{nonce}", tx.view(), tx.seqno() + 1)
            }),
        ),
        (
            "proof digest",
            edit(&|r| {
                r.proof[0] = match r.proof[0] {
                    ProofStep::Left(d) => ProofStep::Left(flip_hex_digest(&d)),
                    ProofStep::Right(d) => ProofStep::Right(flip_hex_digest(&d)),
                }
            }),
        ),
        (
            "proof side",
            edit(&|r| {
                r.proof[0] = match r.proof[0] {
                    ProofStep::Left(d) => ProofStep::Right(d),
                    ProofStep::Right(d) => ProofStep::Left(d),
                }
            }),
        ),
        (
            "proof truncated",
            edit(&|r| {
                r.proof.pop();
            }),
        ),
        (
            "proof extended",
            edit(&|r| {
                let last = *r.proof.last().unwrap();
                r.proof.push(last);
            }),
        ),
        (
            "signature byte",
            edit(&|r| {
                let mut sig = r.signature.to_vec();
                let mid = sig.len() / 2;
                sig[mid] ^= 0x01;
                r.signature = Arc::from(sig);
            }),
        ),
        (
            "signature truncated",
            edit(&|r| {
                r.signature = Arc::from(&r.signature[..r.signature.len() - 1]);
            }),
        ),
        (
            "signature of another root",
            edit(&|r| r.signature = other_signature.clone()),
        ),
        (
            "cert byte",
            edit(&|r| {
                let mut lines: Vec<String> = r.cert.lines().map(str::to_owned).collect();
                let i = lines.len() / 2;
                let j = lines[i].len() / 2;
                let c = if &lines[i][j..=j] == "A" { "B" } else { "A" };
                lines[i].replace_range(j..=j, c);
                r.cert = Arc::from(lines.join("\n") + "\n");
            }),
        ),
        (
            "cert is the service cert",
            edit(&|r| {
                r.cert = Arc::from(f.service.certificate_pem());
                r.node_id = Arc::from(node_id_of(service_key_spki.as_bytes()));
            }),
        ),
        (
            "cert of another node of the service",
            edit(&|r| {
                r.cert = Arc::from(second_node.certificate_pem());
                r.node_id = Arc::from(second_node.node_id());
            }),
        ),
        (
            "cert and node_id of another service's node",
            edit(&|r| {
                r.cert = foreign_receipt.cert.clone();
                r.node_id = foreign_receipt.node_id.clone();
            }),
        ),
        (
            "node_id",
            edit(&|r| r.node_id = Arc::from(flip_last_hex_char(&r.node_id))),
        ),
        (
            "endorsement added",
            edit(&|r| r.service_endorsements.push(r.cert.to_string())),
        ),
        (
            "cert not PEM",
            edit(&|r| r.cert = Arc::from("not a certificate")),
        ),
    ]
}

#[test]
fn every_tampering_fails_with_receipt_invalid() {
    let f = fixture();
    let verifier = ReceiptVerifier::new(service_pem()).unwrap();
    let mut checked = 0;
    for (name, receipt) in f.receipts.iter().step_by(4) {
        for (what, tampered) in tamperings(receipt) {
            let label = format!("{name} [{what}]");
            expect_invalid(tampered.verify(service_pem()), &label);
            expect_invalid(verifier.verify(&tampered), &label);
            // Through JSON as well: the tampered receipt still serializes and parses, and
            // still fails.
            match Receipt::from_json(&tampered.to_json()) {
                Ok(parsed) => {
                    expect_invalid(parsed.verify(service_pem()), &label);
                }
                Err(e) => panic!("{label}: tampered receipt did not round-trip: {e}"),
            }
            checked += 1;
        }
        // The verifier's node-certificate cache does not let a tampered receipt poison later
        // checks of the genuine one.
        verifier.verify(receipt).unwrap();
    }
    assert_eq!(checked, 19 * 18);
}

#[test]
fn specific_failures_name_the_check() {
    let f = fixture();
    let (_, receipt) = &f.receipts[10];
    let by_name = |name: &str| {
        tamperings(receipt)
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap()
            .1
    };
    let msg = expect_invalid(by_name("node_id").verify(service_pem()), "node_id");
    assert!(msg.contains("node_id"), "{msg}");
    let msg = expect_invalid(by_name("write_set_digest").verify(service_pem()), "wsd");
    assert!(
        msg.contains("signature over the root does not verify"),
        "{msg}"
    );
    let msg = expect_invalid(
        by_name("cert and node_id of another service's node").verify(service_pem()),
        "foreign",
    );
    assert!(msg.contains("not endorsed by the service"), "{msg}");
    let msg = expect_invalid(by_name("cert not PEM").verify(service_pem()), "cert");
    assert!(msg.contains("node certificate"), "{msg}");
    let mut long = receipt.clone();
    long.proof = vec![ProofStep::Left([0; 32]); MAX_PROOF_LEN + 1];
    assert!(matches!(long.root(), Err(Error::ReceiptInvalid { .. })));
    expect_invalid(long.verify(service_pem()), "long proof");
}

#[test]
fn foreign_receipts_verify_only_against_their_own_service() {
    let foreign = foreign();
    for (name, receipt) in foreign.receipts.iter().take(10) {
        receipt
            .verify(foreign.service.certificate_pem())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let msg = expect_invalid(receipt.verify(service_pem()), name);
        assert!(msg.contains("not endorsed by the service"), "{msg}");
    }
}

#[test]
fn expired_node_certificates_are_rejected() {
    for (name, receipt) in fixture().expired_node_receipts() {
        let msg = expect_invalid(receipt.verify(service_pem()), &name);
        assert!(msg.contains("expired"), "{msg}");
    }
}

#[test]
fn validity_is_judged_at_the_verification_time() {
    let f = fixture();
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    let service = ServiceIdentity::generate_with_validity(
        "svc",
        CertificateValidity::new(now - 30 * day, now + 30 * day).unwrap(),
    )
    .unwrap();
    let node = NodeIdentity::generate_with_validity(
        &service,
        "node",
        CertificateValidity::new(now - 10 * day, now - day).unwrap(),
    )
    .unwrap();
    let receipt = f.receipt_signed_by(&node, 42, LEAVES);
    let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
    verifier.verify_at(&receipt, now - 2 * day).unwrap();
    let msg = expect_invalid(verifier.verify(&receipt), "expired");
    assert!(
        msg.contains("node certificate") && msg.contains("expired"),
        "{msg}"
    );
    let msg = expect_invalid(verifier.verify_at(&receipt, now - 20 * day), "early");
    assert!(msg.contains("not valid yet"), "{msg}");
    let msg = expect_invalid(verifier.verify_at(&receipt, now + 40 * day), "late");
    assert!(msg.contains("expired"), "{msg}");
}

#[test]
fn verifier_rejects_a_service_certificate_that_is_not_one() {
    assert!(matches!(
        ReceiptVerifier::new("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        ReceiptVerifier::new(b""),
        Err(Error::InvalidInput { .. })
    ));
    let (_, receipt) = &fixture().receipts[0];
    assert!(matches!(
        receipt.verify("garbage"),
        Err(Error::InvalidInput { .. })
    ));
    // A service certificate that is really the node certificate: not self-endorsing.
    let msg = expect_invalid(receipt.verify(&receipt.cert), "node as service");
    assert!(msg.contains("not endorsed"), "{msg}");
}

#[test]
fn json_has_the_spec_shape_and_round_trips() {
    for (name, receipt) in &fixture().receipts {
        let json = receipt.to_json();
        assert_eq!(serde_json::to_string(receipt).unwrap(), json, "{name}");
        let back = Receipt::from_json(&json).unwrap();
        assert_eq!(&back, receipt);
        assert_eq!(back.to_json(), json);
        assert_eq!(serde_json::from_str::<Receipt>(&json).unwrap(), *receipt);

        let v: Value = serde_json::from_str(&json).unwrap();
        let obj = v.as_object().unwrap();
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let mut expected = vec![
            "cert",
            "node_id",
            "leaf_components",
            "proof",
            "signature",
            "service_endorsements",
        ];
        expected.sort_unstable();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, expected);
        assert!(json.starts_with("{\"cert\":\"-----BEGIN CERTIFICATE-----\\n"));
        assert_eq!(obj["cert"].as_str().unwrap(), &*receipt.cert);
        let node_id = obj["node_id"].as_str().unwrap();
        assert!(
            node_id.len() == 64
                && node_id
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let lc = obj["leaf_components"].as_object().unwrap();
        assert_eq!(lc.len(), 3);
        for key in ["write_set_digest", "claims_digest"] {
            let h = lc[key].as_str().unwrap();
            assert_eq!(h, h.to_lowercase());
            assert_eq!(h.len(), 64);
        }
        assert!(lc["commit_evidence"].as_str().unwrap().starts_with("ce:"));
        for (step, element) in receipt.proof.iter().zip(obj["proof"].as_array().unwrap()) {
            let element = element.as_object().unwrap();
            assert_eq!(element.len(), 1);
            let (key, value) = element.iter().next().unwrap();
            let expected_key = match step {
                ProofStep::Left(_) => "left",
                ProofStep::Right(_) => "right",
            };
            assert_eq!(key, expected_key);
            assert_eq!(value.as_str().unwrap(), hex::encode(step.digest()));
        }
        let sig = obj["signature"].as_str().unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(sig)
                .unwrap(),
            &*receipt.signature
        );
        assert_eq!(obj["service_endorsements"], Value::Array(vec![]));
    }
}

fn valid_json() -> String {
    fixture().receipts[7].1.to_json()
}

/// Applies `edit` to the receipt's JSON value and parses the result.
fn parse_edited(edit: impl FnOnce(&mut Value)) -> ledger_core::Result<Receipt> {
    let mut v: Value = serde_json::from_str(&valid_json()).unwrap();
    edit(&mut v);
    Receipt::from_json(&v.to_string())
}

/// An edit of a receipt's JSON value.
type JsonEdit = Box<dyn FnOnce(&mut Value)>;

#[test]
fn from_json_is_strict() {
    let cases: Vec<(&str, JsonEdit)> = vec![
        (
            "unknown key",
            Box::new(|v| {
                v["extra"] = Value::from(1);
            }),
        ),
        (
            "missing cert",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("cert");
            }),
        ),
        (
            "missing proof",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("proof");
            }),
        ),
        (
            "missing leaf component",
            Box::new(|v| {
                v["leaf_components"]
                    .as_object_mut()
                    .unwrap()
                    .remove("claims_digest");
            }),
        ),
        (
            "unknown leaf component",
            Box::new(|v| {
                v["leaf_components"]["x"] = Value::from("y");
            }),
        ),
        (
            "proof element with two keys",
            Box::new(|v| {
                v["proof"][0] =
                    serde_json::json!({"left": "00".repeat(32), "right": "00".repeat(32)});
            }),
        ),
        (
            "proof element with no key",
            Box::new(|v| v["proof"][0] = serde_json::json!({})),
        ),
        (
            "proof element with another key",
            Box::new(|v| {
                v["proof"][0] = serde_json::json!({"up": "00".repeat(32)});
            }),
        ),
        (
            "proof element not an object",
            Box::new(|v| {
                v["proof"][0] = Value::from("00".repeat(32));
            }),
        ),
        (
            "proof digest uppercase",
            Box::new(|v| {
                v["proof"][0] = serde_json::json!({"left": "AB".repeat(32)});
            }),
        ),
        (
            "proof digest short",
            Box::new(|v| {
                v["proof"][0] = serde_json::json!({"left": "0".repeat(63)});
            }),
        ),
        (
            "proof too long",
            Box::new(|v| {
                v["proof"] = Value::Array(vec![serde_json::json!({"left": "00".repeat(32)}); 65]);
            }),
        ),
        (
            "write_set_digest uppercase",
            Box::new(|v| {
                let h = v["leaf_components"]["write_set_digest"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                v["leaf_components"]["write_set_digest"] = Value::from(h);
            }),
        ),
        (
            "claims_digest not hex",
            Box::new(|v| {
                v["leaf_components"]["claims_digest"] = Value::from("zz".repeat(32));
            }),
        ),
        (
            "commit evidence malformed",
            Box::new(|v| {
                v["leaf_components"]["commit_evidence"] = Value::from("ce:1.x:00");
            }),
        ),
        (
            "node_id uppercase",
            Box::new(|v| {
                let h = v["node_id"].as_str().unwrap().to_uppercase();
                v["node_id"] = Value::from(h);
            }),
        ),
        (
            "node_id wrong length",
            Box::new(|v| v["node_id"] = Value::from("ab")),
        ),
        (
            "signature not base64",
            Box::new(|v| v["signature"] = Value::from("!!!!")),
        ),
        (
            "signature unpadded",
            Box::new(|v| v["signature"] = Value::from("AAE")),
        ),
        (
            "signature url-safe alphabet",
            Box::new(|v| v["signature"] = Value::from("-_-_")),
        ),
        (
            "signature empty",
            Box::new(|v| v["signature"] = Value::from("")),
        ),
        ("cert empty", Box::new(|v| v["cert"] = Value::from(""))),
        (
            "cert not a string",
            Box::new(|v| v["cert"] = Value::from(5)),
        ),
        (
            "endorsements not strings",
            Box::new(|v| {
                v["service_endorsements"] = serde_json::json!([1]);
            }),
        ),
        ("not an object", Box::new(|v| *v = Value::Array(vec![]))),
        ("null", Box::new(|v| *v = Value::Null)),
    ];
    for (what, edit) in cases {
        match parse_edited(edit) {
            Err(Error::InvalidInput { .. }) => {}
            other => panic!("{what}: expected InvalidInput, got {other:?}"),
        }
    }
    // Absent endorsements read as none (CCF omits the key when there are none).
    let r = parse_edited(|v| {
        v.as_object_mut().unwrap().remove("service_endorsements");
    })
    .unwrap();
    assert!(r.service_endorsements.is_empty());
    r.verify(service_pem()).unwrap();
    // Duplicate keys are rejected.
    let json = valid_json();
    let dup = json.replacen("{\"cert\":", "{\"node_id\":\"00\",\"cert\":", 1);
    assert!(matches!(
        Receipt::from_json(&dup),
        Err(Error::InvalidInput { .. })
    ));
    // Deep nesting hits serde_json's recursion limit, not the stack.
    let deep = "[".repeat(100_000);
    assert!(matches!(
        Receipt::from_json(&deep),
        Err(Error::InvalidInput { .. })
    ));
    // Whitespace and key order are free; the result is the same receipt.
    let v: Value = serde_json::from_str(&json).unwrap();
    let pretty = serde_json::to_string_pretty(&v).unwrap();
    assert_eq!(
        Receipt::from_json(&pretty).unwrap(),
        fixture().receipts[7].1
    );
}

#[test]
fn from_json_never_panics_on_arbitrary_strings() {
    runner(2_000)
        .run(&any::<String>(), |s| {
            let _ = Receipt::from_json(&s);
            Ok(())
        })
        .unwrap();
    // Strings built from JSON-ish tokens reach deeper into the parser.
    let token = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ":",
        ",",
        "\"",
        "\"cert\"",
        "\"proof\"",
        "\"left\"",
        "\"right\"",
        "\"node_id\"",
        "\"signature\"",
        "\"leaf_components\"",
        "\"service_endorsements\"",
        "null",
        "1",
        "\"00\"",
        "\"ce:1.1:\"",
        "\\u0000",
        " ",
    ]);
    runner(2_000)
        .run(&prop::collection::vec(token, 0..60), |tokens| {
            let _ = Receipt::from_json(&tokens.concat());
            Ok(())
        })
        .unwrap();
}

#[derive(Debug, Clone)]
enum Garble {
    Replace(usize, char),
    Delete(usize),
    Insert(usize, char),
    Truncate(usize),
}

fn garble_strategy() -> impl Strategy<Value = Vec<Garble>> {
    let interesting = prop::sample::select(vec![
        '"', '\\', '{', '}', '[', ']', ',', ':', '0', 'f', 'F', 'A', '=', ' ', '\n', 'é',
    ]);
    let c = prop_oneof![any::<char>(), interesting];
    let one = prop_oneof![
        (any::<usize>(), c.clone()).prop_map(|(i, c)| Garble::Replace(i, c)),
        any::<usize>().prop_map(Garble::Delete),
        (any::<usize>(), c).prop_map(|(i, c)| Garble::Insert(i, c)),
        any::<usize>().prop_map(Garble::Truncate),
    ];
    prop::collection::vec(one, 1..4)
}

fn apply(json: &str, garbles: &[Garble]) -> String {
    let mut chars: Vec<char> = json.chars().collect();
    for g in garbles {
        let n = chars.len().max(1);
        match *g {
            Garble::Replace(i, c) if !chars.is_empty() => chars[i % n] = c,
            Garble::Delete(i) if !chars.is_empty() => {
                chars.remove(i % n);
            }
            Garble::Insert(i, c) => chars.insert(i % (chars.len() + 1), c),
            Garble::Truncate(i) => chars.truncate(i % n),
            _ => {}
        }
    }
    chars.into_iter().collect()
}

#[test]
fn garbled_receipts_never_panic_and_never_verify_something_else() {
    let f = fixture();
    let verifier = ReceiptVerifier::new(service_pem()).unwrap();
    let originals: Vec<&Receipt> = f.receipts.iter().step_by(15).map(|(_, r)| r).collect();
    let parsed = Cell::new(0u32);
    let verified = Cell::new(0u32);
    for original in originals {
        let json = original.to_json();
        let root = original.root().unwrap();
        runner(300)
            .run(&garble_strategy(), |garbles| {
                let garbled = apply(&json, &garbles);
                if let Ok(r) = Receipt::from_json(&garbled) {
                    parsed.set(parsed.get() + 1);
                    match verifier.verify(&r) {
                        Ok(()) => {
                            // Only harmless edits survive (whitespace between tokens, PEM
                            // text that decodes to the same certificate): the receipt still
                            // proves the same leaf under the same root, signed by the same
                            // node.
                            verified.set(verified.get() + 1);
                            prop_assert_eq!(r.leaf(), original.leaf());
                            prop_assert_eq!(r.root().unwrap(), root);
                            prop_assert_eq!(&r.node_id, &original.node_id);
                            prop_assert_eq!(&r.signature, &original.signature);
                        }
                        Err(Error::ReceiptInvalid { .. }) => {}
                        Err(e) => prop_assert!(false, "untyped failure {e:?}"),
                    }
                }
                Ok(())
            })
            .unwrap();
    }
    // The garbling reaches both outcomes, so the assertions above are exercised.
    let (parsed, verified) = (parsed.get(), verified.get());
    assert!(
        parsed > 0 && verified > 0,
        "parsed {parsed}, verified {verified}"
    );
}

fn receipt_strategy() -> impl Strategy<Value = Receipt> {
    let digest = any::<[u8; 32]>();
    let step = prop_oneof![
        digest.prop_map(ProofStep::Left),
        digest.prop_map(ProofStep::Right)
    ];
    (
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        digest,
        digest,
        (1u64..=u64::MAX, 1u64..=u64::MAX, digest),
        digest,
        prop::collection::vec(step, 0..=MAX_PROOF_LEN),
        prop::collection::vec(any::<u8>(), 1..100),
        prop::collection::vec(any::<String>(), 0..3),
    )
        .prop_map(
            |(cert, node, wsd, (view, seqno, nonce), claims, proof, sig, endorsements)| Receipt {
                cert: Arc::from(cert),
                node_id: Arc::from(hex::encode(node)),
                leaf_components: LeafComponents {
                    write_set_digest: wsd,
                    commit_evidence: format!("ce:{view}.{seqno}:{}", hex::encode(nonce)),
                    claims_digest: claims,
                },
                proof,
                signature: Arc::from(sig),
                service_endorsements: endorsements,
            },
        )
}

#[test]
fn arbitrary_receipts_round_trip_through_json() {
    runner(1_000)
        .run(&receipt_strategy(), |r| {
            let json = r.to_json();
            prop_assert_eq!(&serde_json::to_string(&r).unwrap(), &json);
            let back = Receipt::from_json(&json).unwrap();
            prop_assert_eq!(&back, &r);
            prop_assert_eq!(back.tx_id().unwrap(), r.tx_id().unwrap());
            // serde_json agrees with the hand-written writer about the string escapes.
            let v: Value = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(v["cert"].as_str().unwrap(), &*r.cert);
            Ok(())
        })
        .unwrap();
}

#[test]
fn receipts_for_every_leaf_of_the_largest_root_verify() {
    let f = fixture();
    let node: &dyn NodeSigner = &f.node;
    let root = f.tree.root_at(LEAVES).unwrap();
    let signature: Arc<[u8]> = Arc::from(node.sign_root(&root).unwrap());
    let cert: Arc<str> = Arc::from(node.certificate_pem());
    let node_id: Arc<str> = Arc::from(node.node_id());
    let verifier = ReceiptVerifier::new(service_pem()).unwrap();
    for seqno in 1..LEAVES {
        let path = f.tree.inclusion_proof(seqno, LEAVES).unwrap();
        let r = Receipt::build_shared(
            cert.clone(),
            node_id.clone(),
            f.components[seqno as usize].clone().unwrap(),
            seqno,
            LEAVES,
            &path,
            signature.clone(),
        )
        .unwrap();
        verifier.verify(&r).unwrap();
        assert_eq!(r.tx_id().unwrap().seqno(), seqno);
        assert!(Arc::ptr_eq(&r.cert, &cert));
    }
    assert_eq!(
        TxId::new(2, LEAVES - 1).unwrap(),
        f.receipts.last().unwrap().1.tx_id().unwrap()
    );
}

#[test]
fn a_service_restored_from_bytes_verifies_old_receipts() {
    let f = fixture();
    let restored = ServiceIdentity::from_bytes(&f.service.to_bytes().unwrap()).unwrap();
    for (_, r) in f.receipts.iter().take(5) {
        r.verify(restored.certificate_pem()).unwrap();
    }
}

/// Certificates for path-validation tests, built with x509-cert's builder and types (no
/// hand-written DER): an issuer signs a certificate for `subject_key`, and `edit` may change
/// the extensions and validity before the to-be-signed part is signed again.
mod certs {
    use std::str::FromStr;
    use std::time::{Duration, SystemTime};

    use der::asn1::BitString;
    use der::{Decode, Encode, EncodePem};
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
    use rand_core::{OsRng, RngCore};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::{Time, Validity};
    use x509_cert::{Certificate, TbsCertificate};

    pub(crate) fn name_of(cert_pem_or_der: &[u8]) -> Name {
        parse(cert_pem_or_der).tbs_certificate.subject
    }

    pub(crate) fn parse(cert: &[u8]) -> Certificate {
        if cert.starts_with(b"-----") {
            use der::DecodePem;
            Certificate::from_pem(cert).unwrap()
        } else {
            Certificate::from_der(cert).unwrap()
        }
    }

    /// Validity from one hour ago for `days` days.
    pub(crate) fn validity(days: u64) -> Validity {
        let start = SystemTime::now() - Duration::from_secs(3600);
        validity_between(start, start + Duration::from_secs(days * 86_400 + 3600))
    }

    pub(crate) fn validity_between(not_before: SystemTime, not_after: SystemTime) -> Validity {
        Validity {
            not_before: Time::try_from(not_before).unwrap(),
            not_after: Time::try_from(not_after).unwrap(),
        }
    }

    /// `issuer_key` (holder of the certificate named `issuer`) certifies `subject_key` under
    /// `profile` (`None`: self-signed root), then `edit` changes the to-be-signed part, which
    /// is signed again. Returns PEM.
    pub(crate) fn issue(
        issuer: Option<&Name>,
        issuer_key: &SigningKey,
        subject_cn: &str,
        subject_key: &VerifyingKey,
        ca: Option<Option<u8>>,
        edit: impl FnOnce(&mut TbsCertificate),
    ) -> String {
        let subject = Name::from_str(&format!("CN={subject_cn}")).unwrap();
        let profile = match (issuer, ca) {
            (None, _) => Profile::Root,
            (Some(issuer), Some(path_len_constraint)) => Profile::SubCA {
                issuer: issuer.clone(),
                path_len_constraint,
            },
            (Some(issuer), None) => Profile::Leaf {
                issuer: issuer.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
        };
        let mut serial = [0u8; 16];
        OsRng.fill_bytes(&mut serial);
        serial[0] = (serial[0] & 0x3f) | 0x40;
        let builder = CertificateBuilder::new(
            profile,
            SerialNumber::new(&serial).unwrap(),
            validity(30),
            subject,
            SubjectPublicKeyInfoOwned::from_key(*subject_key).unwrap(),
            issuer_key,
        )
        .unwrap();
        let cert = builder.build::<DerSignature>().unwrap();
        let mut tbs = cert.tbs_certificate;
        edit(&mut tbs);
        let signature: DerSignature = issuer_key.sign(&tbs.to_der().unwrap());
        let cert = Certificate {
            signature_algorithm: tbs.signature.clone(),
            tbs_certificate: tbs,
            signature: BitString::from_bytes(signature.as_bytes()).unwrap(),
        };
        cert.to_pem(der::pem::LineEnding::LF).unwrap()
    }
}

/// A receipt for a two-leaf tree whose root `key` signs, carrying `cert_pem` and
/// `endorsements` (nearest the node first).
fn receipt_signed_with(
    key: &p256::ecdsa::SigningKey,
    cert_pem: &str,
    endorsements: &[String],
) -> Receipt {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let tx = LeafComponents {
        write_set_digest: [7; 32],
        commit_evidence: format!("ce:1.1:{}", "5c".repeat(32)),
        claims_digest: ledger_core::NO_CLAIMS,
    };
    let leaf0 = [0u8; 32];
    let root = ledger_core::fold_proof(&tx.leaf_hash(), &[ProofStep::Left(leaf0)]);
    let signature: p256::ecdsa::DerSignature = key.sign_prehash(&root).unwrap();
    let spki = key.verifying_key().to_public_key_der().unwrap();
    let mut receipt = Receipt::build(
        cert_pem,
        &node_id_of(spki.as_bytes()),
        tx,
        1,
        2,
        &[leaf0],
        signature.as_bytes(),
    )
    .unwrap();
    receipt.service_endorsements = endorsements.to_vec();
    receipt
}

/// Issue 11, item 1: a service-issued *node* certificate (CA:FALSE, no keyCertSign) placed in
/// `service_endorsements` must not make a certificate it signed for a fresh key acceptable.
#[test]
fn a_node_certificate_cannot_endorse_another_key() {
    use p256::ecdsa::SigningKey;
    let service = ServiceIdentity::generate("svc").unwrap();
    // A genuine node key (held outside the process, as an HSM node key is) and its
    // service-issued certificate.
    let node_key = SigningKey::random(&mut rand_core::OsRng);
    let node_der = service
        .issue_node_certificate(
            node_key.verifying_key(),
            "node0",
            CertificateValidity::starting_now(),
        )
        .unwrap();
    let node = certs::parse(&node_der);
    let node_pem = {
        use der::EncodePem;
        node.to_pem(der::pem::LineEnding::LF).unwrap()
    };
    // The genuine receipt path still works.
    receipt_signed_with(&node_key, &node_pem, &[])
        .verify(service.certificate_pem())
        .unwrap();
    // The node key acts as an issuer for a fresh key the ledger never recorded.
    let fresh = SigningKey::random(&mut rand_core::OsRng);
    let forged = certs::issue(
        Some(&node.tbs_certificate.subject),
        &node_key,
        "forged",
        fresh.verifying_key(),
        None,
        |_| {},
    );
    let receipt = receipt_signed_with(&fresh, &forged, &[node_pem]);
    expect_rejected(
        receipt.verify(service.certificate_pem()),
        CertificateRole::Endorsement(0),
        CertificateRule::NotACa,
    );
    // Through JSON and the verifier's cache as well.
    let verifier = ReceiptVerifier::new(service.certificate_pem()).unwrap();
    let parsed = Receipt::from_json(&receipt.to_json()).unwrap();
    expect_rejected(
        verifier.verify(&parsed),
        CertificateRole::Endorsement(0),
        CertificateRule::NotACa,
    );
}

/// Asserts that `result` is a certificate-chain failure of `certificate` under `rule`.
fn expect_rejected(
    result: ledger_core::Result<()>,
    certificate: CertificateRole,
    rule: CertificateRule,
) -> String {
    match result {
        Err(
            e @ Error::ReceiptInvalid {
                check: "certificate chain",
                ..
            },
        ) => {
            assert_eq!(
                e.rejected_certificate(),
                Some(&RejectedCertificate {
                    certificate,
                    rule: rule.clone()
                }),
                "{e}"
            );
            let msg = e.to_string();
            assert!(msg.contains(&certificate.to_string()), "{msg}");
            assert!(msg.contains(&rule.to_string()), "{msg}");
            msg
        }
        other => panic!("expected {certificate} to break {rule:?}, got {other:?}"),
    }
}

/// A certificate and its key, for building paths.
struct Issued {
    key: p256::ecdsa::SigningKey,
    pem: String,
    name: x509_cert::name::Name,
}

fn fresh_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::random(&mut rand_core::OsRng)
}

/// A self-signed root CA (as this crate's service certificates are), edited by `edit`.
fn root_ca(cn: &str, edit: impl FnOnce(&mut x509_cert::TbsCertificate)) -> Issued {
    let key = fresh_key();
    let pem = certs::issue(None, &key, cn, key.verifying_key(), None, edit);
    let name = certs::name_of(pem.as_bytes());
    Issued { key, pem, name }
}

/// A CA certificate issued by `parent` with `path_len`, edited by `edit`.
fn sub_ca(
    parent: &Issued,
    cn: &str,
    path_len: Option<u8>,
    edit: impl FnOnce(&mut x509_cert::TbsCertificate),
) -> Issued {
    let key = fresh_key();
    let pem = certs::issue(
        Some(&parent.name),
        &parent.key,
        cn,
        key.verifying_key(),
        Some(path_len),
        edit,
    );
    let name = certs::name_of(pem.as_bytes());
    Issued { key, pem, name }
}

/// An end-entity (node) certificate issued by `parent`, edited by `edit`.
fn node_of(parent: &Issued, edit: impl FnOnce(&mut x509_cert::TbsCertificate)) -> Issued {
    let key = fresh_key();
    let pem = certs::issue(
        Some(&parent.name),
        &parent.key,
        "node.ledger.test",
        key.verifying_key(),
        None,
        edit,
    );
    let name = certs::name_of(pem.as_bytes());
    Issued { key, pem, name }
}

/// A receipt signed by `node`, through `endorsements` (nearest the node first).
fn receipt_through(node: &Issued, endorsements: &[&Issued]) -> Receipt {
    let pems: Vec<String> = endorsements.iter().map(|e| e.pem.clone()).collect();
    receipt_signed_with(&node.key, &node.pem, &pems)
}

/// Replaces the extension with `value`'s OID (or adds it) in `tbs`.
fn set_extension<E: der::Encode + der::oid::AssociatedOid>(
    tbs: &mut x509_cert::TbsCertificate,
    value: &E,
    critical: bool,
) {
    let ext = x509_cert::ext::Extension {
        extn_id: E::OID,
        critical,
        extn_value: der::asn1::OctetString::new(der::Encode::to_der(value).unwrap()).unwrap(),
    };
    let exts = tbs.extensions.get_or_insert_with(Vec::new);
    exts.retain(|e| e.extn_id != E::OID);
    exts.push(ext);
}

fn remove_extension(tbs: &mut x509_cert::TbsCertificate, oid: der::oid::ObjectIdentifier) {
    if let Some(exts) = tbs.extensions.as_mut() {
        exts.retain(|e| e.extn_id != oid);
    }
}

fn key_usage(flags: impl Into<der::flagset::FlagSet<KeyUsages>>) -> KeyUsage {
    KeyUsage(flags.into())
}

/// A private-arc OID no verifier knows.
const UNKNOWN_OID: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1.2.3");

fn add_unknown_extension(tbs: &mut x509_cert::TbsCertificate, critical: bool) {
    tbs.extensions
        .get_or_insert_with(Vec::new)
        .push(x509_cert::ext::Extension {
            extn_id: UNKNOWN_OID,
            critical,
            extn_value: der::asn1::OctetString::new(vec![0x05, 0x00]).unwrap(),
        });
}

#[test]
fn well_formed_paths_of_every_length_verify() {
    let service = root_ca("svc", |_| {});
    let direct = node_of(&service, |_| {});
    receipt_through(&direct, &[]).verify(&service.pem).unwrap();
    let int1 = sub_ca(&service, "int1", None, |_| {});
    let int2 = sub_ca(&int1, "int2", Some(0), |_| {});
    let node = node_of(&int2, |_| {});
    receipt_through(&node, &[&int2, &int1])
        .verify(&service.pem)
        .unwrap();
    // A non-critical extension nobody knows is ignored.
    let node = node_of(&int2, |tbs| add_unknown_extension(tbs, false));
    receipt_through(&node, &[&int2, &int1])
        .verify(&service.pem)
        .unwrap();
}

/// CCF's own certificates (src/crypto/openssl/key_pair.cpp): the service certificate has a
/// non-critical basicConstraints `CA:TRUE` and no keyUsage; a previous service identity
/// endorsed by the current one is the same, with the same subject (self-issued); node
/// certificates have `CA:FALSE` and no keyUsage. All of them pass.
#[test]
fn ccf_shaped_certificates_verify() {
    let ccf_ca = |tbs: &mut x509_cert::TbsCertificate| {
        remove_extension(tbs, KeyUsage::OID);
        set_extension(
            tbs,
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
            false,
        );
    };
    let service = root_ca("CCF Service", ccf_ca);
    let previous_key = fresh_key();
    let previous_pem = certs::issue(
        Some(&service.name),
        &service.key,
        "CCF Service",
        previous_key.verifying_key(),
        Some(None),
        ccf_ca,
    );
    let previous = Issued {
        name: certs::name_of(previous_pem.as_bytes()),
        key: previous_key,
        pem: previous_pem,
    };
    let ccf_node = |tbs: &mut x509_cert::TbsCertificate| {
        remove_extension(tbs, KeyUsage::OID);
        set_extension(
            tbs,
            &BasicConstraints {
                ca: false,
                path_len_constraint: None,
            },
            false,
        );
    };
    let node = node_of(&service, ccf_node);
    receipt_through(&node, &[]).verify(&service.pem).unwrap();
    let old_node = node_of(&previous, ccf_node);
    receipt_through(&old_node, &[&previous])
        .verify(&service.pem)
        .unwrap();
}

#[test]
fn an_issuer_that_is_not_a_ca_is_rejected() {
    let service = root_ca("svc", |_| {});
    // An endorsement with basicConstraints CA:FALSE, and one with none at all.
    for (what, edit) in [
        (
            "CA:FALSE",
            Box::new(|tbs: &mut x509_cert::TbsCertificate| {
                set_extension(
                    tbs,
                    &BasicConstraints {
                        ca: false,
                        path_len_constraint: None,
                    },
                    true,
                )
            }) as Box<dyn FnOnce(&mut x509_cert::TbsCertificate)>,
        ),
        (
            "no basicConstraints",
            Box::new(|tbs: &mut x509_cert::TbsCertificate| {
                remove_extension(tbs, BasicConstraints::OID)
            }),
        ),
    ] {
        let int = sub_ca(&service, "int", None, edit);
        let node = node_of(&int, |_| {});
        let msg = expect_rejected(
            receipt_through(&node, &[&int]).verify(&service.pem),
            CertificateRole::Endorsement(0),
            CertificateRule::NotACa,
        );
        assert!(
            msg.contains(if what == "CA:FALSE" {
                "CA:FALSE"
            } else {
                "no basicConstraints"
            }),
            "{msg}"
        );
    }
    // A trusted "service" certificate that is a self-signed end entity.
    let key = fresh_key();
    let name = x509_cert::name::Name::from_str("CN=not a ca").unwrap();
    let pem = certs::issue(
        Some(&name),
        &key,
        "not a ca",
        key.verifying_key(),
        None,
        |_| {},
    );
    let not_ca = Issued { key, pem, name };
    let node = node_of(&not_ca, |_| {});
    expect_rejected(
        receipt_through(&node, &[]).verify(&not_ca.pem),
        CertificateRole::Service,
        CertificateRule::NotACa,
    );
}

#[test]
fn an_issuer_without_key_cert_sign_is_rejected() {
    let service = root_ca("svc", |_| {});
    let int = sub_ca(&service, "int", None, |tbs| {
        set_extension(tbs, &key_usage(KeyUsages::DigitalSignature), true)
    });
    let node = node_of(&int, |_| {});
    expect_rejected(
        receipt_through(&node, &[&int]).verify(&service.pem),
        CertificateRole::Endorsement(0),
        CertificateRule::NoKeyCertSign,
    );
    // The service certificate is held to the same rule.
    let service = root_ca("svc", |tbs| {
        set_extension(tbs, &key_usage(KeyUsages::CRLSign), true)
    });
    let node = node_of(&service, |_| {});
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Service,
        CertificateRule::NoKeyCertSign,
    );
}

#[test]
fn path_length_constraints_are_honoured() {
    let service = root_ca("svc", |_| {});
    let int1 = sub_ca(&service, "int1", Some(0), |_| {});
    let int2 = sub_ca(&int1, "int2", None, |_| {});
    let node = node_of(&int2, |_| {});
    expect_rejected(
        receipt_through(&node, &[&int2, &int1]).verify(&service.pem),
        CertificateRole::Endorsement(1),
        CertificateRule::PathLengthExceeded {
            limit: 0,
            intermediates: 1,
        },
    );
    // The service certificate's constraint counts every endorsement below it.
    let service0 = root_ca("svc0", |tbs| {
        set_extension(
            tbs,
            &BasicConstraints {
                ca: true,
                path_len_constraint: Some(0),
            },
            true,
        )
    });
    let int = sub_ca(&service0, "int", None, |_| {});
    let node = node_of(&int, |_| {});
    expect_rejected(
        receipt_through(&node, &[&int]).verify(&service0.pem),
        CertificateRole::Service,
        CertificateRule::PathLengthExceeded {
            limit: 0,
            intermediates: 1,
        },
    );
    // Within the limit it verifies; a self-issued intermediate (same subject as its issuer,
    // a key rollover) does not count (RFC 5280 section 6.1.4 (l)).
    let int1 = sub_ca(&service, "int1", Some(1), |_| {});
    let int2 = sub_ca(&int1, "int2", None, |_| {});
    let node = node_of(&int2, |_| {});
    receipt_through(&node, &[&int2, &int1])
        .verify(&service.pem)
        .unwrap();
    let int1 = sub_ca(&service, "int1", Some(0), |_| {});
    let rollover = sub_ca(&int1, "int1", None, |_| {});
    let node = node_of(&rollover, |_| {});
    receipt_through(&node, &[&rollover, &int1])
        .verify(&service.pem)
        .unwrap();
}

#[test]
fn unknown_critical_extensions_are_rejected_anywhere_in_the_path() {
    let service = root_ca("svc", |_| {});
    let int = sub_ca(&service, "int", None, |tbs| {
        add_unknown_extension(tbs, true)
    });
    let node = node_of(&int, |_| {});
    let unknown = CertificateRule::UnknownCriticalExtension {
        oid: UNKNOWN_OID.to_string(),
    };
    expect_rejected(
        receipt_through(&node, &[&int]).verify(&service.pem),
        CertificateRole::Endorsement(0),
        unknown.clone(),
    );
    let node = node_of(&service, |tbs| add_unknown_extension(tbs, true));
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        unknown.clone(),
    );
    let service = root_ca("svc", |tbs| add_unknown_extension(tbs, true));
    let node = node_of(&service, |_| {});
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Service,
        unknown,
    );
}

#[test]
fn repeated_or_malformed_extensions_are_rejected() {
    let service = root_ca("svc", |_| {});
    let node = node_of(&service, |tbs| {
        let exts = tbs.extensions.as_mut().unwrap();
        let first = exts[0].clone();
        exts.push(first);
    });
    let oid = certs::parse(node.pem.as_bytes())
        .tbs_certificate
        .extensions
        .unwrap()[0]
        .extn_id
        .to_string();
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::DuplicateExtension { oid },
    );
    let node = node_of(&service, |tbs| {
        let exts = tbs.extensions.as_mut().unwrap();
        let ku = exts
            .iter_mut()
            .find(|e| e.extn_id == KeyUsage::OID)
            .unwrap();
        ku.extn_value = der::asn1::OctetString::new(vec![0x05, 0x00]).unwrap();
    });
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::MalformedExtension {
            oid: KeyUsage::OID.to_string(),
        },
    );
}

#[test]
fn a_node_key_usage_without_digital_signature_is_rejected() {
    let service = root_ca("svc", |_| {});
    let node = node_of(&service, |tbs| {
        set_extension(tbs, &key_usage(KeyUsages::KeyAgreement), true)
    });
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::NoDigitalSignature,
    );
    // A node certificate without keyUsage (as CCF issues them) is fine.
    let node = node_of(&service, |tbs| remove_extension(tbs, KeyUsage::OID));
    receipt_through(&node, &[]).verify(&service.pem).unwrap();
}

#[test]
fn every_certificate_of_the_path_is_checked_for_validity_at_the_chosen_time() {
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    let service = root_ca("svc", |_| {});
    let expired = sub_ca(&service, "int", None, |tbs| {
        tbs.validity = certs::validity_between(now - 10 * day, now - day)
    });
    let node = node_of(&expired, |_| {});
    let receipt = receipt_through(&node, &[&expired]);
    let verifier = ReceiptVerifier::new(&service.pem).unwrap();
    expect_rejected(
        verifier.verify(&receipt),
        CertificateRole::Endorsement(0),
        CertificateRule::Expired,
    );
    // Two days ago the endorsement was valid, but the node certificate (from an hour ago)
    // was not yet: the chosen time applies to every certificate.
    expect_rejected(
        verifier.verify_at(&receipt, now - 2 * day),
        CertificateRole::Node,
        CertificateRule::NotYetValid,
    );
    let future = sub_ca(&service, "int", None, |tbs| {
        tbs.validity = certs::validity_between(now + day, now + 10 * day)
    });
    let node = node_of(&future, |_| {});
    let receipt = receipt_through(&node, &[&future]);
    expect_rejected(
        verifier.verify(&receipt),
        CertificateRole::Endorsement(0),
        CertificateRule::NotYetValid,
    );
    verifier.verify_at(&receipt, now + 2 * day).unwrap();
    // The service certificate too, on the cached path as well.
    let node = node_of(&service, |_| {});
    let receipt = receipt_through(&node, &[]);
    verifier.verify(&receipt).unwrap();
    expect_rejected(
        verifier.verify_at(&receipt, now + 40 * day),
        CertificateRole::Node,
        CertificateRule::Expired,
    );
    expect_rejected(
        verifier.verify_at(&receipt, now - 2 * day),
        CertificateRole::Node,
        CertificateRule::NotYetValid,
    );
}

#[test]
fn a_link_with_the_wrong_issuer_algorithm_or_signature_is_rejected() {
    let service = root_ca("svc", |_| {});
    let int = sub_ca(&service, "int", None, |_| {});
    let node = node_of(&int, |_| {});
    // The endorsement left out: the node's issuer is not the service.
    let msg = expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::IssuerMismatch,
    );
    assert!(
        msg.contains("not endorsed by the service certificate"),
        "{msg}"
    );
    // Another key under the service's name.
    let impostor = Issued {
        key: fresh_key(),
        pem: service.pem.clone(),
        name: service.name.clone(),
    };
    let node = node_of(&impostor, |_| {});
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::BadSignature,
    );
    let forged_int = sub_ca(&impostor, "int", None, |_| {});
    let node = node_of(&forged_int, |_| {});
    expect_rejected(
        receipt_through(&node, &[&forged_int]).verify(&service.pem),
        CertificateRole::Endorsement(0),
        CertificateRule::BadSignature,
    );
    // A signature algorithm receipts do not use (the signature itself is over SHA-256).
    let node = node_of(&service, |tbs| {
        tbs.signature.oid = der::oid::db::rfc5912::ECDSA_WITH_SHA_224
    });
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::UnsupportedAlgorithm,
    );
    // An algorithm receipts use (ecdsa-with-SHA384, as CCF's P-384 services sign) that is
    // not the one the signature was made with.
    let node = node_of(&service, |tbs| {
        tbs.signature.oid = der::oid::db::rfc5912::ECDSA_WITH_SHA_384
    });
    expect_rejected(
        receipt_through(&node, &[]).verify(&service.pem),
        CertificateRole::Node,
        CertificateRule::BadSignature,
    );
}

/// A verifier that has validated a path gives, for every receipt and time, the verdict a
/// fresh verifier gives: a cached path is used only for a receipt carrying that very path
/// (node certificate and every endorsement), and validity periods are checked at the time
/// of each call.
#[test]
fn the_path_cache_never_changes_a_verdict() {
    let day = Duration::from_secs(86_400);
    let now = SystemTime::now();
    let service = root_ca("svc", |_| {});
    let int = sub_ca(&service, "int", None, |tbs| {
        tbs.validity = certs::validity_between(now - day, now + 5 * day)
    });
    let node = node_of(&int, |tbs| {
        tbs.validity = certs::validity_between(now - 2 * day, now + 10 * day)
    });
    // Another intermediate under the same name, by a key the service never certified.
    let impostor_root = Issued {
        key: fresh_key(),
        pem: service.pem.clone(),
        name: service.name.clone(),
    };
    let forged_int = sub_ca(&impostor_root, "int", None, |_| {});
    // A second genuine intermediate: the node's issuer name but another key.
    let other_int = sub_ca(&service, "int", None, |_| {});
    let good = receipt_through(&node, &[&int]);
    let variants: Vec<(&str, Receipt)> = vec![
        ("the validated path", good.clone()),
        ("no endorsement", receipt_through(&node, &[])),
        (
            "a forged endorsement",
            receipt_through(&node, &[&forged_int]),
        ),
        (
            "another key's endorsement",
            receipt_through(&node, &[&other_int]),
        ),
        (
            "the endorsement twice",
            receipt_through(&node, &[&int, &int]),
        ),
        (
            "the node as its own endorsement",
            receipt_through(&node, &[&node]),
        ),
    ];
    let times = [
        now,
        now - 3 * day,   // before the node certificate
        now + 3 * day,   // inside both
        now + 7 * day,   // after the endorsement, inside the node's
        now + 11 * day,  // after both
        now + 400 * day, // after the service certificate, too
    ];
    let cached = ReceiptVerifier::new(&service.pem).unwrap();
    cached.verify(&good).unwrap();
    let mut failures = 0;
    for round in 0..2 {
        for (what, receipt) in &variants {
            for at in times {
                let fresh = ReceiptVerifier::new(&service.pem).unwrap();
                let want = fresh.verify_at(receipt, at);
                let got = cached.verify_at(receipt, at);
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "{what} at {at:?} (round {round})"
                );
                // The cached path's own verdict, again after the others were tried.
                assert_eq!(
                    format!("{:?}", cached.verify_at(&good, at)),
                    format!("{:?}", fresh.verify_at(&good, at)),
                );
                failures += usize::from(want.is_err());
            }
        }
    }
    // The variants are not all alike: most fail, the validated path at some times passes.
    assert!(failures > 40, "{failures}");
    cached.verify_at(&good, now + 3 * day).unwrap();
    expect_rejected(
        cached.verify_at(&good, now + 7 * day),
        CertificateRole::Endorsement(0),
        CertificateRule::Expired,
    );
    expect_rejected(
        cached.verify_at(&receipt_through(&node, &[]), now),
        CertificateRole::Node,
        CertificateRule::IssuerMismatch,
    );
    expect_rejected(
        cached.verify_at(&receipt_through(&node, &[&forged_int]), now),
        CertificateRole::Node,
        CertificateRule::BadSignature,
    );
}
