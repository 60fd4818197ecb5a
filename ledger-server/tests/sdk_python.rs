//! The official `azure-confidentialledger` Python SDK (1.1.1, pinned in
//! `ledger-core/tests/interop/requirements.txt`, installed by `.ci/setup.sh`), unmodified,
//! with `ConfidentialLedgerCertificateCredential` against the server on loopback:
//! `tests/sdk_flows.py` runs the SDK README's flows. Under `CI=true` a missing SDK fails the
//! test; elsewhere the test is skipped with a notice. `LEDGER_PYTHON` names another
//! interpreter (default `python3`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroUsize;
use std::process::Command;

use common::{in_ci, open_ledger, Running, UserCert};
use ledger_server::ServerConfig;

fn python() -> String {
    std::env::var("LEDGER_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// Whether the SDK imports; under CI its absence is a failure.
fn sdk_available() -> bool {
    let probe = Command::new(python())
        .args([
            "-c",
            "import azure.confidentialledger, azure.confidentialledger.receipt; \
             from importlib.metadata import version; \
             assert version('azure-confidentialledger') == '1.1.1', version('azure-confidentialledger')",
        ])
        .output();
    let ok = matches!(&probe, Ok(out) if out.status.success());
    if !ok {
        let why = match probe {
            Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            !in_ci(),
            "azure-confidentialledger 1.1.1 is not installed for {} (run .ci/setup.sh): {why}",
            python()
        );
        eprintln!(
            "SKIPPED: azure-confidentialledger 1.1.1 is not installed for {} \
             (bash .ci/setup.sh installs it): {why}",
            python()
        );
    }
    ok
}

#[test]
fn the_official_python_sdk_runs_its_readme_flows() {
    if !sdk_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_ledger(dir.path());
    let admin = UserCert::generate("sdk admin");
    ledger
        .governance()
        .set_user(&admin.user_id(), "Administrator")
        .unwrap();
    let other = UserCert::generate("sdk other");
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.page_size = NonZeroUsize::new(2).unwrap();
    let server = Running::start(ledger, config);

    let service = dir.path().join("service_cert.pem");
    std::fs::write(&service, &server.service_pem).unwrap();
    let admin_pem = dir.path().join("admin.pem");
    std::fs::write(&admin_pem, admin.bundle_pem()).unwrap();
    let other_pem = dir.path().join("other.pem");
    std::fs::write(&other_pem, other.bundle_pem()).unwrap();

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk_flows.py");
    let output = Command::new(python())
        .arg(script)
        .env("LEDGER_ENDPOINT", server.base_url())
        .env("LEDGER_SERVICE_CERT", &service)
        .env("LEDGER_ADMIN_PEM", &admin_pem)
        .env("LEDGER_OTHER_PEM", &other_pem)
        .env("LEDGER_OTHER_ID", other.user_id())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the SDK flows failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("sdk: all flows passed"), "{stdout}");
    server.stop().unwrap();
}
