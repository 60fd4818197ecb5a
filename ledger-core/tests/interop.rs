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
//! The export test runs the `export_receipts` example (`examples/export_receipts.rs`), which
//! must have been built first, into the same target directory:
//!
//! ```text
//! cargo build -p ledger-core --example export_receipts
//! ```
//!
//! and checks every COSE receipt it writes with both `ccf` releases
//! (`verify_cose_receipts.py --export`) and with `CoseReceipt::verify`.
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

/// Runs `script` on `dir` with `python`, printing its output; fails unless it succeeds.
fn run_script(python: &Path, script: &str, dir: &Path) -> String {
    run_script_with(python, script, &[dir.as_os_str()])
}

/// Runs `script` with `python` and arguments `args`, printing its output; fails unless it
/// succeeds and prints that every expectation was met.
fn run_script_with(python: &Path, script: &str, args: &[&std::ffi::OsStr]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/interop")
        .join(script);
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .unwrap();
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

/// Whether the COSE receipt verifiers of ccf 6.x (`python3`) and ccf 7.x (`ccf7`) can run.
fn cose_verifiers_available(ccf7: &Path) -> bool {
    available(
        Path::new("python3"),
        "import ccf.cose, pycose, cbor2, cryptography",
        "python3 -m pip install -r ledger-core/tests/interop/requirements.txt",
    ) && available(
        ccf7,
        "import ccf.cose, ccf.receipt; ccf.receipt.verify_cose",
        "bash .ci/setup.sh (a Python 3.12 virtual environment with \
         ledger-core/tests/interop/requirements-ccf7.txt)",
    )
}

/// COSE receipts (inclusion receipts, some with several proofs) are accepted by the official
/// `ccf` verifiers of releases 6.x and 7.x and every tampered copy is rejected; consistency
/// receipts are accepted by a checker written from the draft.
#[test]
fn official_ccf_verifiers_accept_cose_receipts_and_reject_tampering() {
    let python3 = Path::new("python3");
    let ccf7 = ccf7_python();
    if !cose_verifiers_available(&ccf7) {
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

/// Receipts signed with P-384 keys (service and node, certificates signed
/// ecdsa-with-SHA384, as CCF's P-384 services sign them) are accepted by both official
/// verifiers, and every tampered copy is rejected.
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

/// The example binary `name` of this crate, as `cargo build -p ledger-core --example NAME`
/// (or a plain `cargo test`, which builds examples as programs) leaves it in
/// `target/<profile>/examples/`; this test runs from `target/<profile>/deps/`. Note that
/// `cargo test --all-targets` builds examples only as test harnesses and leaves that file
/// alone. Cargo is not run from here: it would wait for the lock the running `cargo test`
/// holds. `Err` says why the binary cannot be used: missing, or older than a source it is
/// built from (the example, or a file of `ledger-core`, `ledger-store` or `ledger-merkle`).
fn example_binary(name: &str) -> Result<PathBuf, String> {
    fn newest(path: &Path) -> std::io::Result<std::time::SystemTime> {
        let meta = std::fs::metadata(path)?;
        let mut time = meta.modified()?;
        if meta.is_dir() {
            for entry in std::fs::read_dir(path)? {
                time = time.max(newest(&entry?.path())?);
            }
        }
        Ok(time)
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("{} has no grandparent directory", exe.display()))?;
    let binary = profile
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let build = format!("build it with `cargo build -p ledger-core --example {name}`");
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .map_err(|e| format!("example binary {}: {e}; {build}", binary.display()))?;
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = crate_dir.parent().unwrap();
    let sources = [
        crate_dir.join("examples").join(format!("{name}.rs")),
        crate_dir.join("Cargo.toml"),
        crate_dir.join("src"),
        workspace.join("ledger-store/src"),
        workspace.join("ledger-merkle/src"),
    ];
    for source in &sources {
        let written = newest(source).map_err(|e| format!("{}: {e}", source.display()))?;
        if written > built {
            return Err(format!(
                "example binary {} is older than {}; {build}",
                binary.display(),
                source.display()
            ));
        }
    }
    Ok(binary)
}

/// The bytes of `receipt` that a verifier must check, as `(region, start, length)`: the
/// protected header, the signature and, for each inclusion proof (label 396, key -1), its
/// leaf, its path and the rest of its map (header and keys). Found by decoding the receipt
/// with ciborium and locating each re-encoded part in the bytes.
fn cose_regions(receipt: &[u8]) -> Vec<(&'static str, usize, usize)> {
    use ciborium::Value;
    fn find(haystack: &[u8], needle: &[u8], from: usize) -> usize {
        from + haystack[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap()
    }
    fn get(map: &[(Value, Value)], key: i64) -> &Value {
        &map.iter()
            .find(|(k, _)| k.as_integer() == Some(key.into()))
            .unwrap()
            .1
    }
    let encode = |v: &Value| {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    };
    let value: Value = ciborium::from_reader(receipt).unwrap();
    let Value::Tag(18, inner) = value else {
        panic!("not a tagged COSE_Sign1")
    };
    let parts = inner.as_array().unwrap();
    let protected = parts[0].as_bytes().unwrap();
    let signature = parts[3].as_bytes().unwrap();
    let mut out = vec![
        (
            "protected header",
            find(receipt, protected, 1),
            protected.len(),
        ),
        (
            "signature",
            receipt.len() - signature.len(),
            signature.len(),
        ),
    ];
    let vdp = get(parts[1].as_map().unwrap(), 396).as_map().unwrap();
    let mut from = out[0].1 + protected.len();
    for proof in get(vdp, -1).as_array().unwrap() {
        let proof = proof.as_bytes().unwrap();
        let start = find(receipt, proof, from);
        let decoded: Value = ciborium::from_reader(proof.as_slice()).unwrap();
        let map = decoded.as_map().unwrap();
        let (leaf, path) = (encode(get(map, 1)), encode(get(map, 2)));
        let leaf_at = find(proof, &leaf, 0);
        let path_at = find(proof, &path, leaf_at + leaf.len());
        assert_eq!(path_at + path.len(), proof.len());
        out.push(("leaf", start + leaf_at, leaf.len()));
        out.push(("path", start + path_at, path.len()));
        out.push(("proof map", start, leaf_at));
        out.push((
            "proof map",
            start + leaf_at + leaf.len(),
            path_at - leaf_at - leaf.len(),
        ));
        from = start + proof.len();
    }
    assert_eq!(&receipt[out[1].1..], signature.as_slice());
    out
}

/// What `export_receipts OUT_DIR N` writes for the outside world checks out with every
/// verifier: it writes a COSE receipt and a claims digest beside each JSON receipt (every
/// committed transaction: genesis, user and signature transactions; every third user entry
/// with a non-zero claims digest). Each COSE receipt is accepted by ccf 6.x
/// (`ccf.cose.verify_receipt`), ccf 7.x (`ccf.receipt.verify_cose` and the deprecated
/// `ccf.cose.verify_receipt`) and `CoseReceipt::verify`, which proves the transaction the
/// file is named after, with the claims digest of its `.claims_digest` file and the leaf of
/// its JSON receipt. Every one-byte change (XOR 0x01) of the protected header, the
/// signature, the leaf and the proof is rejected: by `CoseReceipt::verify` at every byte of
/// every receipt; by the Python verifiers at every byte of a few receipts and at a seeded
/// sample of bytes of each region of the others (see `verify_cose_receipts.py --export`).
#[test]
fn exported_cose_receipts_pass_official_ccf_verifiers_and_ours() {
    use ledger_core::{CoseReceipt, Receipt, TxId, NO_CLAIMS};
    use std::collections::BTreeMap;

    let ccf7 = ccf7_python();
    if !cose_verifiers_available(&ccf7) {
        return;
    }
    let binary = match example_binary("export_receipts") {
        Ok(binary) => binary,
        Err(reason) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but the example cannot run: {reason}"
            );
            eprintln!("SKIPPED exported COSE receipts test: {reason}");
            return;
        }
    };
    // 48 entries: 16 of them (the `contracts` ones) with a claims digest.
    let entries = 48;
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&binary)
        .arg(dir.path())
        .arg(entries.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed ({})\n{stdout}\n{}",
        binary.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");

    // The files, by transaction: every committed one from 1.1 on, with all three files.
    let mut files: BTreeMap<TxId, Vec<String>> = BTreeMap::new();
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let name = file.unwrap().file_name().into_string().unwrap();
        if name == "service_cert.pem" {
            continue;
        }
        let (stem, ext) = name.split_once('.').unwrap();
        let (view, seqno) = stem.split_once('_').unwrap();
        let id = TxId::new(view.parse().unwrap(), seqno.parse().unwrap()).unwrap();
        files.entry(id).or_default().push(ext.to_owned());
    }
    let n = files.len();
    // Genesis, the entries and at least the signature that committed the genesis.
    assert!(n > entries + 1, "{n} transactions exported");
    for (i, (id, exts)) in files.iter_mut().enumerate() {
        assert_eq!(*id, TxId::new(1, i as u64 + 1).unwrap());
        exts.sort();
        assert_eq!(exts, &["claims_digest", "cose", "json"], "{id}");
    }
    assert!(stdout.contains(&format!("wrote {n} receipts and service_cert.pem to ")));
    assert!(stdout.contains(&format!(
        "wrote {n} COSE receipts and claims digests (16 non-zero)"
    )));

    // Our verifier: every genuine receipt, then every byte of every region changed.
    let cert = std::fs::read_to_string(dir.path().join("service_cert.pem")).unwrap();
    let mut with_claims = 0;
    let mut receipts = Vec::new();
    for id in files.keys() {
        let path = |ext: &str| {
            dir.path()
                .join(format!("{}_{}.{ext}", id.view(), id.seqno()))
        };
        let bytes = std::fs::read(path("cose")).unwrap();
        let claims = std::fs::read_to_string(path("claims_digest")).unwrap();
        let claims: [u8; 32] = hex::decode(&claims).unwrap().try_into().unwrap();
        let receipt = CoseReceipt::from_slice(&bytes).unwrap();
        assert_eq!(receipt.to_vec(), bytes, "{id} re-encodes to its bytes");
        let verified = receipt.verify(&cert).unwrap();
        assert_eq!(verified.tx_id, *id);
        assert_eq!(verified.claims_digest, claims, "{id}");
        assert!(verified.signature_tx > *id);
        assert_eq!(verified.transactions, vec![(*id, claims)]);
        let json = Receipt::from_json(&std::fs::read_to_string(path("json")).unwrap()).unwrap();
        json.verify(&cert).unwrap();
        assert_eq!(&json.leaf_components, receipt.leaf_components(), "{id}");
        with_claims += usize::from(claims != NO_CLAIMS);
        receipts.push((*id, bytes));
    }
    assert_eq!(with_claims, 16);
    let mut by_region: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (id, bytes) in &receipts {
        let regions = cose_regions(bytes);
        assert_eq!(regions.len(), 6, "{id}: one inclusion proof");
        for (region, start, len) in regions {
            assert!(len > 0, "{id}: empty {region}");
            for pos in start..start + len {
                let mut copy = bytes.clone();
                copy[pos] ^= 0x01;
                let counts = by_region.entry(region).or_default();
                counts.0 += 1;
                let verdict = CoseReceipt::from_slice(&copy).and_then(|r| r.verify(&cert));
                assert!(
                    verdict.is_err(),
                    "{id}: byte {pos} ({region}) changed is accepted: {verdict:?}"
                );
                counts.1 += 1;
            }
        }
    }
    let tampered: usize = by_region.values().map(|c| c.0).sum();
    println!(
        "CoseReceipt::verify: valid receipts accepted: {n}/{n}; tampered receipts rejected: \
         {tampered}/{tampered} ({by_region:?} as (changed, rejected))"
    );

    // The official verifiers.
    let mut labels = 0;
    for python in [Path::new("python3"), ccf7.as_path()] {
        let stdout = run_script_with(
            python,
            "verify_cose_receipts.py",
            &["--export".as_ref(), dir.path().as_os_str()],
        );
        assert!(
            stdout.contains(&format!(
                "transaction ids in the commit evidence match the file names: {n}/{n}\n"
            )),
            "{stdout}"
        );
        assert!(stdout.contains(&format!("receipts with a non-zero claims digest: 16/{n}\n")));
        let every = stdout
            .lines()
            .find_map(|l| l.strip_prefix("every byte changed in: "))
            .unwrap();
        assert!(every.split(", ").count() >= 3, "{every}");
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
            let prefix = format!("{label}: tampered receipts rejected: ");
            let counts = stdout
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("{prefix}\n{stdout}"));
            let (rejected, rest) = counts.split_once('/').unwrap();
            let changed = rest.split(' ').next().unwrap();
            assert_eq!(rejected, changed, "{label}");
            // At least every byte of the receipts changed in full (three to six of about
            // 600 region bytes each: the first and last, the first and last with claims, the
            // shortest and longest proof).
            assert!(
                changed.parse::<usize>().unwrap() > 3 * 500,
                "{label}: {counts}"
            );
            for region in ["leaf", "path", "proof map", "protected header", "signature"] {
                assert!(counts.contains(&format!("{region} ")), "{label}: {counts}");
            }
            labels += 1;
        }
    }
    // ccf 6.x: ccf.cose.verify_receipt; ccf 7.x: ccf.receipt.verify_cose and the deprecated
    // ccf.cose.verify_receipt.
    assert_eq!(labels, 3);
}
