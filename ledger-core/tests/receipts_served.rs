//! Receipts as the real services serve them: the corpus of receipts Azure Confidential Ledger
//! issued (`tests/receipts-corpus/`, extracted from the `azure-confidentialledger` source
//! distribution), and one regression test per form the reader once refused.
//!
//! Every corpus case gets the verdict its source publishes, from this crate's verifier; and,
//! where `python3` with the SDK is available, the SDK's own `verify_receipt` is run on the
//! same files (`tests/interop/verify_corpus.py`) and must give the same verdicts (and the
//! same claims digests). Without the SDK that comparison is skipped with a notice, unless the
//! environment variable `CI` is set, in which case it fails (as in `tests/interop.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use ledger_core::{
    application_claims_digest, application_claims_from_json, ApplicationClaim, CertificateRole,
    CertificateRule, Error, KeyAlgorithm, Problem, Receipt, ReceiptVerifier, ServedReceipt,
};
use serde_json::Value;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/receipts-corpus")
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(corpus().join(relative)).unwrap()
}

fn manifest() -> Value {
    serde_json::from_str(&read("cases.json")).unwrap()
}

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A time within the validity of the 2022 receipts' certificates (service certificate 1:
/// 2022-11-01 to 2023-01-30), as `cases.json` gives it.
const IN_2022: u64 = 1_667_415_276;
/// Likewise for the 2023 P-384 receipt (2023-04-25 to 2023-07-24).
const IN_2023: u64 = 1_682_532_859;

/// This crate's verdict on one receipt case: `Ok(())` or the error, as the SDK's driver is
/// run: the file's `receipt` and `applicationClaims` when it is a get-receipt response, else
/// the file as the receipt with the case's claims.
fn our_verdict(case: &Value) -> Result<(), Error> {
    let document = read(case["receipt"].as_str().unwrap());
    let service = case["service_cert"].as_str().map(read).unwrap_or_default();
    let mut served = ServedReceipt::from_json(&document)?;
    if let Some(claims) = case["application_claims"].as_str() {
        if served.application_claims.is_empty() {
            served.application_claims = application_claims_from_json(&read(claims))?;
        }
    }
    let verifier = ReceiptVerifier::new(service.as_bytes())?;
    served.verify_with(&verifier, at(case["at"].as_u64().unwrap()))
}

fn verdict_word(accepted: bool) -> &'static str {
    if accepted {
        "accept"
    } else {
        "reject"
    }
}

#[test]
fn every_corpus_receipt_gets_its_published_verdict() {
    let manifest = manifest();
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 39, "{} cases", cases.len());
    let mut accepted = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expected = case["expected"].as_str().unwrap();
        let ours = our_verdict(case);
        println!("{name}: {expected}: {ours:?}");
        assert_eq!(
            verdict_word(ours.is_ok()),
            expected,
            "{name} ({}): {ours:?}",
            case["origin"]
        );
        if ours.is_ok() {
            accepted += 1;
            // Verified now, every one of these receipts fails: its node certificate has
            // expired since (item 4 of the issue; see `Receipt::verify_at`).
            let document = read(case["receipt"].as_str().unwrap());
            let service = read(case["service_cert"].as_str().unwrap());
            let served = ServedReceipt::from_json(&document).unwrap();
            let err = served.receipt.verify(&service).unwrap_err();
            assert_eq!(
                err.rejected_certificate().map(|r| r.rule.clone()),
                Some(CertificateRule::Expired),
                "{name}: {err}"
            );
        }
    }
    assert_eq!(accepted, 9);
}

#[test]
fn every_corpus_claims_list_gets_its_published_verdict() {
    let manifest = manifest();
    for case in manifest["claims_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let ours = application_claims_from_json(&read(case["claims"].as_str().unwrap()))
            .and_then(|claims| application_claims_digest(&claims));
        let word = if ours.is_ok() { "digest" } else { "error" };
        assert_eq!(word, case["expected"].as_str().unwrap(), "{name}: {ours:?}");
    }
}

/// Whether python3 and the SDK are importable; the reason if not.
fn sdk_ready() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import azure.confidentialledger.receipt"])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

#[test]
fn the_sdk_and_this_verifier_agree_on_every_corpus_case() {
    if let Err(reason) = sdk_ready() {
        let install = "python3 -m pip install -r ledger-core/tests/interop/requirements.txt";
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but the SDK is unavailable ({reason}); run `{install}`"
        );
        eprintln!("SKIPPED corpus comparison: SDK unavailable ({reason}); run `{install}`");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_corpus.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(corpus())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify_corpus.py failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut sdk: BTreeMap<String, String> = BTreeMap::new();
    for line in stdout.lines() {
        let (name, verdict) = line.split_once(": ").unwrap();
        sdk.insert(name.to_owned(), verdict.to_owned());
    }
    let manifest = manifest();
    let cases = manifest["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let theirs = &sdk[&format!("case {name}")];
        let ours = our_verdict(case);
        assert_eq!(
            theirs.starts_with("accepted"),
            ours.is_ok(),
            "{name}: the SDK {theirs}, this verifier: {ours:?}"
        );
        assert_eq!(
            verdict_word(ours.is_ok()),
            case["expected"].as_str().unwrap()
        );
    }
    let claims_cases = manifest["claims_cases"].as_array().unwrap();
    for case in claims_cases {
        let name = case["name"].as_str().unwrap();
        let theirs = &sdk[&format!("claims {name}")];
        let ours = application_claims_from_json(&read(case["claims"].as_str().unwrap()))
            .and_then(|claims| application_claims_digest(&claims));
        match ours {
            Ok(digest) => assert_eq!(*theirs, format!("digest {}", hex::encode(digest)), "{name}"),
            Err(e) => assert!(
                theirs.starts_with("error"),
                "{name}: SDK {theirs}, ours {e}"
            ),
        }
    }
    assert_eq!(sdk.len(), cases.len() + claims_cases.len());
    println!(
        "the SDK and this verifier agree on {} receipts and {} claims lists",
        cases.len(),
        claims_cases.len()
    );
}

// Regression tests, one per numbered item of the issue. Each names the error the reader gave
// before the change.

/// Item 1. Before: `invalid receipt JSON: "...": unknown field `is_signature_transaction`,
/// expected one of `cert`, `node_id`, `leaf_components`, `proof`, `signature`,
/// `service_endorsements` at line 2 column 28`.
#[test]
fn item_1_is_signature_transaction_false_is_read() {
    let json = read("receipts/valid-1-p256-snake.json");
    assert!(json.contains("\"is_signature_transaction\": false"));
    let receipt = Receipt::from_json(&json).unwrap();
    receipt
        .verify_at(&read("certs/service-1-p256.pem"), at(IN_2022))
        .unwrap();
    // Re-serialised in this crate's form, without the key, it verifies alike.
    let again = Receipt::from_json(&receipt.to_json()).unwrap();
    assert_eq!(again, receipt);
    assert!(!receipt.to_json().contains("is_signature_transaction"));
    // `true` names a signature transaction's receipt, which has no leaf components.
    let flipped = json.replace(
        "\"is_signature_transaction\": false",
        "\"is_signature_transaction\": true",
    );
    let err = Receipt::from_json(&flipped).unwrap_err();
    assert!(err.to_string().contains("signature transaction"), "{err}");
}

/// Item 2. Before: `invalid receipt JSON: "...": unknown field `leafComponents`, expected one
/// of `cert`, `node_id`, `leaf_components`, `proof`, `signature`, `service_endorsements` at
/// line 3 column 18`.
#[test]
fn item_2_camel_case_keys_are_read() {
    let json = read("receipts/valid-2-p256-camel.json");
    for key in [
        "leafComponents",
        "nodeId",
        "serviceEndorsements",
        "writeSetDigest",
    ] {
        assert!(json.contains(key), "{key}");
    }
    let receipt = Receipt::from_json(&json).unwrap();
    receipt
        .verify_at(&read("certs/service-2-p256.pem"), at(1_666_787_456))
        .unwrap();
    // Both spellings of one key are a duplicate, as a key given twice is.
    let mut value: Value = serde_json::from_str(&json).unwrap();
    value["node_id"] = value["nodeId"].clone();
    let err = Receipt::from_json(&value.to_string()).unwrap_err();
    assert!(err.to_string().contains("duplicate field"), "{err}");
}

/// Item 3. Before: `invalid service certificate: "...": certificate public key is not a
/// P-256 key: unknown/unsupported algorithm OID: 1.2.840.10045.3.1.7` (P-256's own OID).
#[test]
fn item_3_p384_service_and_node_keys_verify() {
    let service = read("certs/service-3-p384.pem");
    let verifier = ReceiptVerifier::new(service.as_bytes()).unwrap();
    let served =
        ServedReceipt::from_json(&read("receipts/served-envelope-p384-claims.json")).unwrap();
    verifier.verify_at(&served.receipt, at(IN_2023)).unwrap();
    // A tampered root signature is refused, naming the check.
    let mut tampered = served.receipt.clone();
    let mut signature = tampered.signature.to_vec();
    let last = signature.len() - 1;
    signature[last] ^= 1;
    tampered.signature = signature.into();
    let err = verifier.verify_at(&tampered, at(IN_2023)).unwrap_err();
    assert!(
        matches!(
            err,
            Error::ReceiptInvalid {
                check: "signature",
                ..
            }
        ),
        "{err}"
    );
    // A certificate on a curve receipts do not use is named by its own curve.
    let p521 = p521_self_signed_certificate();
    let err = ReceiptVerifier::new(p521.as_bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("secp521r1 (1.3.132.0.35)"), "{msg}");
    assert!(!msg.contains("1.2.840.10045.3.1.7"), "{msg}");
    assert_eq!(KeyAlgorithm::EcdsaP384.to_string(), "ECDSA P-384");
}

/// The corpus's P-384 service certificate with its key's curve parameter rewritten to
/// secp521r1's OID (same length, so every length stays right): it no longer parses as a
/// P-384 key and must be named as what it claims to be.
fn p521_self_signed_certificate() -> String {
    use base64::Engine as _;
    let pem = read("certs/service-3-p384.pem");
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .collect();
    let mut der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    let secp384r1 = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let at = der.windows(7).position(|w| w == secp384r1).unwrap();
    der[at + 6] = 0x23; // 1.3.132.0.35, secp521r1
    der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap()
}

/// Item 4. Before: `Receipt` had no `verify_at` (only `ReceiptVerifier::verify_at`), and
/// `Receipt::verify` failed with `receipt verification failed: certificate chain: node
/// certificate: expired: certificate CN=CCF Node has expired (not after
/// 2023-01-30T18:54:35Z)`.
#[test]
fn item_4_old_receipts_verify_at_a_time_the_caller_chooses() {
    let receipt = Receipt::from_json(&read("receipts/valid-1-p256-snake.json")).unwrap();
    let service = read("certs/service-1-p256.pem");
    let err = receipt.verify(&service).unwrap_err();
    assert_eq!(
        err.rejected_certificate()
            .map(|r| (r.certificate, r.rule.clone())),
        Some((CertificateRole::Node, CertificateRule::Expired)),
        "{err}"
    );
    receipt.verify_at(&service, at(IN_2022)).unwrap();
    // Before the certificates existed, and after they expired, it fails.
    let early = receipt.verify_at(&service, at(1_600_000_000)).unwrap_err();
    assert_eq!(
        early.rejected_certificate().map(|r| r.rule.clone()),
        Some(CertificateRule::NotYetValid)
    );
    let late = receipt.verify_at(&service, at(1_700_000_000)).unwrap_err();
    assert_eq!(
        late.rejected_certificate().map(|r| r.rule.clone()),
        Some(CertificateRule::Expired)
    );
}

/// Item 5. Before: without `node_id`, `invalid receipt JSON: "...": missing field `node_id`
/// at line 1 column 1372`; with the served service certificate, `invalid service
/// certificate: "...": malformed PEM: PEM error in pre-encapsulation boundary`.
#[test]
fn item_5_missing_node_id_and_a_trailing_nul_are_accepted() {
    let receipt = Receipt::from_json(&read("receipts/missing-node-id.json")).unwrap();
    assert!(receipt.node_id.is_empty());
    let service = read("certs/service-1-p256-trailing-nul.pem");
    assert!(service.ends_with("-----END CERTIFICATE-----\n\0"));
    receipt.verify_at(&service, at(IN_2022)).unwrap();
    // Re-serialised without the key; read back the same.
    assert!(!receipt.to_json().contains("node_id"));
    assert_eq!(Receipt::from_json(&receipt.to_json()).unwrap(), receipt);
    // `null` is not absent, and an empty string is not a node id.
    let json = read("receipts/valid-1-p256-snake.json");
    for bad in ["null", "\"\""] {
        let edited = json.replace(
            "\"node_id\": \"708c2e71b2533e5eb38e05cc344390d133c8fb336cb80481ab4e5e902e6131a5\"",
            &format!("\"node_id\": {bad}"),
        );
        assert_ne!(edited, json);
        assert!(Receipt::from_json(&edited).is_err(), "{bad}");
    }
    // The PEM reader takes whitespace and one NUL after the block, and nothing more.
    let clean = read("certs/service-1-p256.pem");
    for ok in ["\n", "\0", "\n\0", "\n\0\n", " \r\n"] {
        ReceiptVerifier::new(format!("{clean}{ok}")).unwrap();
    }
    for bad in ["\0\0", "x", "\n-----BEGIN CERTIFICATE-----\n", "\0x"] {
        let err = ReceiptVerifier::new(format!("{clean}{bad}")).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    what: "service certificate",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
    }
}

/// Item 6. Before: the get-receipt response was refused (`invalid receipt JSON: "...":
/// unknown field `applicationClaims`, expected one of `cert`, `node_id`, ...`), and there was
/// no way to recompute a claims digest.
#[test]
fn item_6_application_claims_are_verified_against_the_leaf() {
    let served =
        ServedReceipt::from_json(&read("receipts/served-envelope-p384-claims.json")).unwrap();
    assert_eq!(
        served.transaction_id.map(|t| t.to_string()).as_deref(),
        Some("2.13")
    );
    assert_eq!(served.state.as_deref(), Some("Ready"));
    assert!(matches!(
        served.application_claims.as_slice(),
        [ApplicationClaim::LedgerEntry(_)]
    ));
    let service = read("certs/service-3-p384.pem");
    served.verify_at(&service, at(IN_2023)).unwrap();
    // The claims in digested form give the same digest.
    let digested =
        application_claims_from_json(&read("claims/claims-accepted-1-p384.json")).unwrap();
    served.receipt.verify_claims(&digested).unwrap();
    // Another entry's claims: a typed mismatch.
    let other = application_claims_from_json(&read("claims/claims-accepted-0-p384.json")).unwrap();
    let ApplicationClaim::LedgerEntry(mut entry) = other[0].clone() else {
        panic!("not a ledger entry")
    };
    entry.contents = "Hello world!".into();
    let err = served
        .receipt
        .verify_claims(&[ApplicationClaim::LedgerEntry(entry)])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ReceiptInvalid {
                check: "claims digest",
                ..
            }
        ),
        "{err}"
    );
    // The response round-trips through this crate's form.
    let again = ServedReceipt::from_json(&served.to_json()).unwrap();
    assert_eq!(again, served);
    // A transactionId that is not the receipt's transaction is refused.
    let wrong = read("receipts/served-envelope-p384-claims.json")
        .replace("\"transactionId\": \"2.13\"", "\"transactionId\": \"2.14\"");
    assert!(matches!(
        ServedReceipt::from_json(&wrong),
        Err(Error::InvalidInput {
            what: "transaction id",
            problem: Problem::Mismatch { .. }
        })
    ));
}

type JsonEdit = Box<dyn Fn(&mut Value)>;

/// The reader stays strict outside the documented set of keys and forms.
#[test]
fn the_lenient_reader_refuses_what_no_service_serves() {
    let json = read("receipts/valid-2-p256-camel.json");
    let value: Value = serde_json::from_str(&json).unwrap();
    let edits: Vec<(&str, JsonEdit)> = vec![
        ("unknown key", Box::new(|v| v["nodeID"] = Value::from("x"))),
        (
            "unknown leaf key",
            Box::new(|v| v["leafComponents"]["claims"] = Value::from("x")),
        ),
        (
            "uppercase hex",
            Box::new(|v| {
                let d = v["leafComponents"]["writeSetDigest"]
                    .as_str()
                    .unwrap()
                    .to_uppercase();
                v["leafComponents"]["writeSetDigest"] = Value::from(d);
            }),
        ),
        (
            "short node id",
            Box::new(|v| v["nodeId"] = Value::from("a16d")),
        ),
        (
            "url-safe base64",
            Box::new(|v| {
                let s = v["signature"].as_str().unwrap().replace('/', "_");
                v["signature"] = Value::from(s);
            }),
        ),
        (
            "null endorsements",
            Box::new(|v| v["serviceEndorsements"] = Value::Null),
        ),
        (
            "endorsements not a list",
            Box::new(|v| v["serviceEndorsements"] = Value::from(1)),
        ),
        (
            "is_signature_transaction not a boolean",
            Box::new(|v| v["isSignatureTransaction"] = Value::from("false")),
        ),
    ];
    for (name, edit) in edits {
        let mut v = value.clone();
        edit(&mut v);
        let err = Receipt::from_json(&v.to_string()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidInput {
                    what: "receipt JSON",
                    problem: Problem::Malformed { .. }
                }
            ),
            "{name}: {err}"
        );
    }
    // A key given twice in the same spelling.
    let twice = json.replacen("\"cert\":", "\"cert\": \"x\", \"cert\":", 1);
    assert!(Receipt::from_json(&twice).is_err());
    // An envelope with another member, or without its receipt.
    let envelope = read("receipts/served-envelope-2022-snake.json");
    let extra = envelope.replacen('{', "{\"etag\": \"x\",", 1);
    assert!(ServedReceipt::from_json(&extra).is_err());
    assert!(ServedReceipt::from_json("{\"state\": \"Ready\"}").is_err());
    assert!(ServedReceipt::from_json("[]").is_err());
}

/// A ledger created with P-384 keys reopens with them, its receipts verify (and round-trip
/// through the lenient reader), and the offline audit finds nothing wrong.
#[test]
fn a_p384_ledger_reopens_verifies_and_audits_clean() {
    use ledger_core::{audit_path, AuditOptions, Ledger, LedgerConfig};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let first = {
        let ledger = Ledger::open(
            LedgerConfig::new(&path)
                .key_algorithm(KeyAlgorithm::EcdsaP384)
                .signing_mode(ledger_core::SigningMode::Json),
        )
        .unwrap();
        let id = ledger.append("audit", b"on P-384").unwrap();
        ledger.flush().unwrap();
        ledger.close().unwrap();
        id
    };
    // Reopened without the setting: the stored keys decide.
    let ledger =
        Ledger::open(LedgerConfig::new(&path).signing_mode(ledger_core::SigningMode::Json))
            .unwrap();
    let second = ledger.append("audit", b"after reopen").unwrap();
    ledger.flush().unwrap();
    let service = ledger.service_certificate_pem();
    for id in [first, second] {
        let receipt = ledger.receipt(id).unwrap();
        receipt.verify(&service).unwrap();
        let served = ServedReceipt::from_json(&receipt.to_json()).unwrap();
        assert_eq!(served.receipt, receipt);
    }
    ledger.close().unwrap();
    let report = audit_path(&path, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{report:?}");
}
