//! Interoperability: receipts from this crate must be accepted, unmodified, by the official
//! Python verifiers (`ccf` and `azure-confidentialledger`), and every tampered copy rejected.
//!
//! The JSON test writes receipts over a 300-leaf CCF-profile tree (plus receipts of a foreign
//! service and of a node whose certificate expired) into a temporary directory and runs
//! `tests/interop/verify_receipts.py` on it; likewise with P-384 keys, and for receipts of
//! ledgers created with either curve. It needs `python3` with the packages of
//! `tests/interop/requirements.txt`:
//!
//! ```text
//! python3 -m pip install -r ledger-core/tests/interop/requirements.txt
//! ```
//!
//! The COSE test signs the same tree's roots with the service key, writes COSE receipts, and
//! runs `tests/interop/verify_cose_receipts.py` under both official `ccf` releases: 6.x (the
//! `python3` above) and 7.x, which needs Python 3.12 and lives in its own virtual
//! environment, `$LEDGER_CCF7_VENV` (default `/var/tmp/ledger-ccf7-venv`), made by
//! `.ci/setup.sh` from `tests/interop/requirements-ccf7.txt`. The consistency receipts are
//! checked by `tests/interop/verify_cose_consistency.py`, a checker written from the CCF
//! profile draft.
//!
//! Without these the tests print that they skipped, unless the environment variable `CI` is
//! set, in which case they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "interop/fixture.rs"]
mod fixture;

use std::path::{Path, PathBuf};
use std::process::Command;

use fixture::{write_cose_receipts, write_receipts, Fixture};

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_receipts.py")
}

/// Whether `python` runs and can import `imports`; the reason if not.
fn python_ready(python: &Path, imports: &str) -> Result<(), String> {
    let out = Command::new(python)
        .args(["-c", imports])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Whether `python` can import `imports`. If not the test is skipped with a notice telling
/// how to `install`, except under CI (the environment variable `CI` set), where it fails.
fn available(python: &Path, imports: &str, install: &str) -> bool {
    match python_ready(python, imports) {
        Ok(()) => true,
        Err(reason) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but the Python verifiers are unavailable ({reason}); run `{install}`"
            );
            eprintln!(
                "SKIPPED interop test: Python verifiers unavailable ({reason}); run `{install}`"
            );
            false
        }
    }
}

/// Whether the JSON receipt verifiers (`ccf` 6.x and `azure-confidentialledger`) can run.
fn verifiers_available() -> bool {
    available(
        Path::new("python3"),
        "import ccf.receipt, azure.confidentialledger.receipt, cryptography.x509.verification",
        "python3 -m pip install -r ledger-core/tests/interop/requirements.txt",
    )
}

/// The Python of the `ccf` 7.x virtual environment `.ci/setup.sh` makes.
fn ccf7_python() -> PathBuf {
    let venv = std::env::var_os("LEDGER_CCF7_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/ledger-ccf7-venv"));
    venv.join("bin").join("python3")
}

#[test]
fn official_python_verifiers_accept_receipts_and_reject_tampering() {
    if !verifiers_available() {
        return;
    }

    let fixture = Fixture::new();
    let foreign = Fixture::foreign();
    let dir = tempfile::tempdir().unwrap();
    write_receipts(dir.path(), &fixture.service, &fixture.receipts);
    write_receipts(
        &dir.path().join("foreign"),
        &foreign.service,
        &foreign.receipts[..8],
    );
    write_receipts(
        &dir.path().join("expired"),
        &fixture.service,
        &fixture.expired_node_receipts(),
    );

    let out = Command::new("python3")
        .arg(script())
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "verify_receipts.py failed ({})\n{stdout}\n{stderr}",
        out.status
    );
    let n = fixture.receipts.len();
    assert!(stdout.contains(&format!("receipts in {}: {n} ", dir.path().display())));
    for verifier in ["ccf", "azure"] {
        assert!(
            stdout.contains(&format!("{verifier}: valid receipts accepted: {n}/{n}\n")),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("{verifier}: tampered receipts rejected: ")));
        assert!(stdout.contains(&format!(
            "{verifier}: foreign receipts rejected by this service: 8/8\n"
        )));
    }
    assert!(stdout.contains("ccf: expired node certificate rejected: 3/3\n"));
    assert!(stdout.contains("OK: every expectation met"));
}

/// Receipts signed with P-384 keys (service and node, certificates signed
/// ecdsa-with-SHA384, as CCF's P-384 services sign them) are accepted by both official
/// verifiers, and every tampered copy is rejected.
/// Runs `script` on `dir` with `python`, printing its output; fails unless it succeeds.
fn run_script(python: &Path, script: &str, dir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = Command::new(python).arg(&script).arg(dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "{} {} failed ({})\n{stdout}\n{stderr}",
        python.display(),
        script.display(),
        out.status
    );
    assert!(stdout.contains("OK: every expectation met"), "{stdout}");
    stdout
}

/// COSE receipts (inclusion receipts, some with several proofs) are accepted by the official
/// `ccf` verifiers of releases 6.x and 7.x and every tampered copy is rejected; consistency
/// receipts are accepted by a checker written from the draft.
#[test]
fn official_ccf_verifiers_accept_cose_receipts_and_reject_tampering() {
    let python3 = Path::new("python3");
    let ccf7 = ccf7_python();
    let ready = available(
        python3,
        "import ccf.cose, pycose, cbor2, cryptography",
        "python3 -m pip install -r ledger-core/tests/interop/requirements.txt",
    ) && available(
        &ccf7,
        "import ccf.cose, ccf.receipt; ccf.receipt.verify_cose",
        "bash .ci/setup.sh (a Python 3.12 virtual environment with \
         ledger-core/tests/interop/requirements-ccf7.txt)",
    );
    if !ready {
        return;
    }
    let fixture = Fixture::new();
    let cose = fixture.cose();
    let dir = tempfile::tempdir().unwrap();
    write_cose_receipts(dir.path(), &fixture.service, &cose);
    let n = cose.receipts.len() + cose.multi.len();
    let mut labels = 0;
    for python in [python3, ccf7.as_path()] {
        let stdout = run_script(python, "verify_cose_receipts.py", dir.path());
        for line in stdout
            .lines()
            .filter(|l| l.contains(": valid receipts accepted: "))
        {
            assert!(line.ends_with(&format!(": {n}/{n}")), "{line}");
            let label = line.split(": valid").next().unwrap();
            for check in ["another key rejected", "another claims digest rejected"] {
                assert!(
                    stdout.contains(&format!("{label}: {check}: {n}/{n}\n")),
                    "{label}: {check}\n{stdout}"
                );
            }
            labels += 1;
        }
        assert!(stdout.contains("tampered receipts rejected: "), "{stdout}");
    }
    // ccf 6.x: ccf.cose.verify_receipt; ccf 7.x: ccf.receipt.verify_cose and the deprecated
    // ccf.cose.verify_receipt.
    assert_eq!(labels, 3);
    let stdout = run_script(python3, "verify_cose_consistency.py", dir.path());
    let m = cose.consistency.len();
    assert!(
        stdout.contains("draft samples: roots recomputed: 3/3\n"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("consistency receipts accepted: {m}/{m}\n")));
    assert!(stdout.contains(&format!("another older root rejected: {m}/{m}\n")));
    assert!(stdout.contains(&format!("another key rejected: {m}/{m}\n")));
}

/// Receipts produced by the engine itself (user, genesis and signature transactions, before
/// and after a reopen) are accepted by both official verifiers, and tampering is rejected.
#[cfg(feature = "rocksdb")]
#[test]
fn official_python_verifiers_accept_p384_receipts_and_reject_tampering() {
    use ledger_core::{CertificateValidity, KeyAlgorithm, NodeIdentity, ServiceIdentity};
    if !verifiers_available() {
        return;
    }
    let identities = || {
        let service = ServiceIdentity::generate_with_algorithm(
            "Interop Test Service",
            KeyAlgorithm::EcdsaP384,
            CertificateValidity::starting_now(),
        )
        .unwrap();
        let node = NodeIdentity::generate_with_algorithm(
            &service,
            "node0.ledger.test",
            KeyAlgorithm::EcdsaP384,
            CertificateValidity::starting_now(),
        )
        .unwrap();
        (service, node)
    };
    let (service, node) = identities();
    let fixture = Fixture::with_identities(service, node);
    let (service, node) = identities();
    let foreign = Fixture::with_identities(service, node);
    let dir = tempfile::tempdir().unwrap();
    let n = 24;
    write_receipts(dir.path(), &fixture.service, &fixture.receipts[..n]);
    assert!(
        fixture.service.certificate_pem().len() > 600,
        "a P-384 certificate"
    );
    write_receipts(
        &dir.path().join("foreign"),
        &foreign.service,
        &foreign.receipts[..4],
    );
    let out = Command::new("python3")
        .arg(script())
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "verify_receipts.py failed ({})\n{stdout}\n{stderr}",
        out.status
    );
    for verifier in ["ccf", "azure"] {
        assert!(
            stdout.contains(&format!("{verifier}: valid receipts accepted: {n}/{n}\n")),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("{verifier}: tampered receipts rejected: ")));
        assert!(stdout.contains(&format!(
            "{verifier}: foreign receipts rejected by this service: 4/4\n"
        )));
    }
    assert!(stdout.contains("OK: every expectation met"), "{stdout}");
}

/// Receipts produced by the engine itself (user, genesis and signature transactions, before
/// and after a reopen), with P-256 and with P-384 keys, are accepted by both official
/// verifiers, and tampering is rejected.
#[test]
fn official_python_verifiers_accept_engine_receipts() {
    use ledger_core::KeyAlgorithm;
    if !verifiers_available() {
        return;
    }
    for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::EcdsaP384] {
        engine_receipts_pass(algorithm);
    }
}

fn engine_receipts_pass(algorithm: ledger_core::KeyAlgorithm) {
    use ledger_core::{KeyAlgorithm, Ledger, LedgerConfig, Transaction, TxId, TxStatus};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let out = dir.path().join("receipts");
    std::fs::create_dir_all(&out).unwrap();
    let mut ids = Vec::new();
    // COSE roots are ES256: a P-384 ledger signs in JSON mode.
    let mode = match algorithm {
        KeyAlgorithm::EcdsaP384 => ledger_core::SigningMode::Json,
        _ => ledger_core::SigningMode::Dual,
    };
    {
        let ledger = Ledger::open(
            LedgerConfig::new(&path)
                .key_algorithm(algorithm)
                .signing_mode(mode),
        )
        .unwrap();
        for i in 0..40u32 {
            ids.push(
                ledger
                    .append(["audit", "payments"][i as usize % 2], &i.to_be_bytes())
                    .unwrap(),
            );
        }
        let mut tx = Transaction::new();
        tx.append("audit", b"with claims")
            .put("t", b"k", b"v")
            .claims_digest([0x5a; 32]);
        ids.push(ledger.submit(tx).unwrap());
        ledger.flush().unwrap();
        ledger.close().unwrap();
    }
    let ledger = Ledger::open(LedgerConfig::new(&path).signing_mode(mode)).unwrap();
    ids.push(ledger.append("audit", b"after reopen").unwrap());
    ledger.flush().unwrap();
    let last = ids.last().unwrap().seqno();
    let mut written = 0;
    for seqno in 1..last {
        let id = TxId::new(1, seqno).unwrap();
        assert_eq!(ledger.status(id), TxStatus::Committed);
        std::fs::write(
            out.join(format!("1_{seqno}.json")),
            ledger.receipt(id).unwrap().to_json(),
        )
        .unwrap();
        written += 1;
    }
    std::fs::write(
        out.join("service_cert.pem"),
        ledger.service_certificate_pem(),
    )
    .unwrap();
    // The ledger's service and node keys are on the curve asked for.
    let curve = match algorithm {
        KeyAlgorithm::EcdsaP384 => der::oid::db::rfc5912::SECP_384_R_1,
        _ => der::oid::db::rfc5912::SECP_256_R_1,
    };
    let node_cert = ledger.receipt(TxId::new(1, 1).unwrap()).unwrap().cert;
    for pem in [ledger.service_certificate_pem(), node_cert.to_string()] {
        use x509_cert::der::DecodePem;
        let cert = x509_cert::Certificate::from_pem(pem.as_bytes()).unwrap();
        let spki = &cert.tbs_certificate.subject_public_key_info;
        let parameters = spki.algorithm.parameters.as_ref().unwrap();
        let found: der::oid::ObjectIdentifier = parameters.decode_as().unwrap();
        assert_eq!(found, curve, "{algorithm}");
    }
    let result = Command::new("python3")
        .arg(script())
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "verify_receipts.py failed ({algorithm})\n{stdout}\n{stderr}"
    );
    for verifier in ["ccf", "azure"] {
        assert!(
            stdout.contains(&format!(
                "{verifier}: valid receipts accepted: {written}/{written}\n"
            )),
            "{stdout}"
        );
    }
    assert!(stdout.contains("OK: every expectation met"), "{stdout}");
}
