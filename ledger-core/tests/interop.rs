//! Interoperability: receipts from this crate must be accepted, unmodified, by the official
//! Python verifiers (`ccf` and `azure-confidentialledger`), and every tampered copy rejected.
//!
//! The test writes receipts over a 300-leaf CCF-profile tree (plus receipts of a foreign
//! service and of a node whose certificate expired) into a temporary directory and runs
//! `tests/interop/verify_receipts.py` on it. It needs `python3` with the packages of
//! `tests/interop/requirements.txt`:
//!
//! ```text
//! python3 -m pip install -r ledger-core/tests/interop/requirements.txt
//! ```
//!
//! Without them the test prints that it skipped, unless the environment variable `CI` is set,
//! in which case it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "interop/fixture.rs"]
mod fixture;

use std::path::Path;
use std::process::Command;

use fixture::{write_receipts, Fixture};

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_receipts.py")
}

/// Whether python3 and both verifier packages are importable; the reason if not.
fn python_ready() -> Result<(), String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import ccf.receipt, azure.confidentialledger.receipt, cryptography.x509.verification",
        ])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

#[test]
fn official_python_verifiers_accept_receipts_and_reject_tampering() {
    if let Err(reason) = python_ready() {
        let install = "python3 -m pip install -r ledger-core/tests/interop/requirements.txt";
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but the Python verifiers are unavailable ({reason}); run `{install}`"
            );
        }
        eprintln!("SKIPPED interop test: Python verifiers unavailable ({reason}); run `{install}`");
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
