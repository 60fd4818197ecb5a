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
use fixture::{Fixture, LEAVES, SIGNED_SIZES};
use ledger_core::LeafComponents;
use ledger_core::{node_id_of, CertificateValidity, NodeIdentity, NodeSigner, ServiceIdentity};
use ledger_core::{Error, TxId};
use ledger_core::{ProofStep, Receipt, ReceiptVerifier, MAX_PROOF_LEN};
use p256::pkcs8::EncodePublicKey;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;

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
