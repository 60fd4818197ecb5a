//! End-to-end tests of the `ledger` binary: every subcommand run as a process, its stdout,
//! stderr and exit code checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use tempfile::TempDir;

/// The user certificate fixture and its SHA-256 fingerprint as
/// `openssl x509 -in alice.pem -noout -fingerprint -sha256` printed it when it was made.
const ALICE_PEM: &str = "tests/data/alice.pem";
const ALICE_DER: &str = "tests/data/alice.der";
const ALICE_ID: &str =
    "2A:55:32:CD:43:1A:1E:B0:38:7B:5F:DF:45:DF:F2:6D:EF:9C:57:19:D6:F9:5C:9F:5C:FE:79:46:E8:7F:76:E0";

fn ledger() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ledger"))
}

fn manifest_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs `ledger args...`, expects exit code 0, returns stdout.
fn ok(args: &[&str]) -> String {
    let out = ledger().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ledger {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `ledger args...` and parses its stdout as one JSON document.
fn ok_json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(&all)).unwrap()
}

/// Runs `ledger args...`, expects exit code `code`, and checks the error convention: no
/// panic, no backtrace, and for errors (code 1) exactly one line on stderr. Returns stderr.
fn fails(args: &[&str], code: i32) -> String {
    let out = ledger().args(args).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "ledger {args:?}: stderr {stderr}"
    );
    assert!(
        !stderr.contains("panicked"),
        "ledger {args:?} panicked: {stderr}"
    );
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    if code == 1 {
        assert_eq!(stderr.lines().count(), 1, "not one line: {stderr}");
        assert!(stderr.starts_with("ledger: error: "), "{stderr}");
    }
    stderr
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A new ledger in a temporary directory.
fn new_ledger() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    ok(&["init", path_str(&dir)]);
    (tmp, dir)
}

fn append(dir: &Path, collection: &str, contents: &str) -> String {
    ok(&["append", path_str(dir), "-c", collection, contents])
        .trim()
        .to_owned()
}

fn seqno(tx_id: &str) -> u64 {
    tx_id.split_once('.').unwrap().1.parse().unwrap()
}

/// Flips bytes in the first half of every table file of the store in `dir`.
fn damage_table_files(dir: &Path) {
    let mut damaged = 0;
    for item in fs::read_dir(dir.join("store")).unwrap() {
        let path = item.unwrap().path();
        if path.extension().is_some_and(|e| e == "sst") {
            let mut bytes = fs::read(&path).unwrap();
            let half = bytes.len() / 2;
            for b in bytes.iter_mut().take(half).step_by(7) {
                *b ^= 0xFF;
            }
            fs::write(&path, bytes).unwrap();
            damaged += 1;
        }
    }
    assert!(damaged > 0, "the store has no table files to damage");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for item in fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            fs::copy(item.path(), target).unwrap();
        }
    }
}

#[test]
fn help_shows_examples_for_the_command_and_every_subcommand() {
    let top = ok(&["--help"]);
    assert!(top.contains("Examples:"), "{top}");
    assert!(top.contains("Exit codes:"), "{top}");
    let subcommands = [
        "init",
        "append",
        "get",
        "list",
        "status",
        "wait",
        "receipt",
        "verify",
        "audit",
        "backup",
        "restore",
        "inspect",
        "export",
        "service-cert",
        "serve",
    ];
    for sub in subcommands {
        assert!(top.contains(sub), "--help does not list {sub}");
        let help = ok(&[sub, "--help"]);
        assert!(
            help.contains("Examples:"),
            "{sub} --help has no examples: {help}"
        );
        assert!(
            help.contains(&format!("ledger {sub} ")),
            "{sub} --help: {help}"
        );
    }
    let users = ok(&["users", "set", "--help"]);
    assert!(
        users.contains("Examples:") && users.contains("--role"),
        "{users}"
    );
    assert!(users.contains("fingerprint"), "{users}");
}

#[test]
fn init_writes_the_directory_format_and_refuses_a_non_empty_target() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("l");
    let out = ok_json(&[
        "init",
        path_str(&dir),
        "--service-name",
        "contoso",
        "--listen",
        "127.0.0.1:9443",
    ]);
    assert_eq!(out["serviceId"].as_str().unwrap().len(), 64);
    assert_eq!(out["listen"], "127.0.0.1:9443");
    let settings: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("ledger.json")).unwrap()).unwrap();
    assert_eq!(settings["format"], "ledger-directory");
    assert_eq!(settings["version"], 1);
    assert_eq!(settings["service_name"], "contoso");
    assert_eq!(settings["listen"], "127.0.0.1:9443");
    assert!(fs::read_dir(dir.join("store")).unwrap().next().is_some());

    // The default listen address.
    let other = tmp.path().join("m");
    ok(&["init", path_str(&other)]);
    let settings: Value =
        serde_json::from_str(&fs::read_to_string(other.join("ledger.json")).unwrap()).unwrap();
    assert_eq!(settings["listen"], "127.0.0.1:8443");

    let err = fails(&["init", path_str(&dir)], 1);
    assert!(err.contains("not empty"), "{err}");
    let err = fails(
        &[
            "init",
            path_str(&tmp.path().join("x")),
            "--listen",
            "nowhere",
        ],
        2,
    );
    assert!(err.contains("--listen"), "{err}");
}

#[test]
fn append_get_list_status_and_wait() {
    let (_tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let first = append(&dir, "audit", "alice approved invoice 17");
    let second = append(&dir, "audit", "bob paid invoice 17");
    let other = append(&dir, "payments", "17: 1200 EUR");
    assert!(seqno(&first) < seqno(&second) && seqno(&second) < seqno(&other));

    // get: raw contents, JSON, the latest entry.
    assert_eq!(
        ok(&["get", d, &first, "-c", "audit"]),
        "alice approved invoice 17"
    );
    let got = ok_json(&["get", d, &second, "-c", "audit"]);
    assert_eq!(got["transactionId"], second.as_str());
    assert_eq!(got["collectionId"], "audit");
    assert_eq!(got["contents"], "bob paid invoice 17");
    assert_eq!(ok(&["get", d, "-c", "audit"]), "bob paid invoice 17");
    let err = fails(&["get", d, &other, "-c", "audit"], 1);
    assert!(err.contains("not found"), "{err}");
    let err = fails(&["get", d, "-c", "nothing-here"], 1);
    assert!(err.contains("no entries"), "{err}");

    // list: everything, a range, pages.
    let all = ok_json(&["list", d, "-c", "audit"]);
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["contents"], "alice approved invoice 17");
    assert_eq!(entries[1]["transactionId"], second.as_str());
    assert!(all["nextCursor"].is_null());
    let ranged = ok_json(&["list", d, "-c", "audit", "--from", &second]);
    assert_eq!(ranged["entries"].as_array().unwrap().len(), 1);
    let ranged = ok_json(&["list", d, "-c", "audit", "--to", &first]);
    assert_eq!(ranged["entries"][0]["transactionId"], first.as_str());
    assert_eq!(ranged["entries"].as_array().unwrap().len(), 1);
    let page1 = ok_json(&["list", d, "-c", "audit", "--limit", "1"]);
    assert_eq!(page1["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page1["entries"][0]["transactionId"], first.as_str());
    let cursor = page1["nextCursor"].as_str().unwrap().to_owned();
    let page2 = ok_json(&[
        "list", d, "-c", "audit", "--limit", "1", "--cursor", &cursor,
    ]);
    assert_eq!(page2["entries"][0]["transactionId"], second.as_str());
    assert!(page2["nextCursor"].is_null());
    let streamed = ok_json(&["list", d, "-c", "audit", "--limit", "1", "--all"]);
    assert_eq!(streamed["entries"], all["entries"]);
    let text = ok(&["list", d, "-c", "audit"]);
    assert_eq!(
        text,
        format!("{first}\talice approved invoice 17\n{second}\tbob paid invoice 17\n")
    );
    ledger()
        .args(["list", d, "-c", "audit", "--limit", "1"])
        .assert()
        .success()
        .stdout(format!("{first}\talice approved invoice 17\n"))
        .stderr(predicate::str::contains(format!("--cursor {cursor}")));
    fails(&["list", d, "-c", "audit", "--limit", "0"], 2);
    let err = fails(&["list", d, "-c", "audit", "--cursor", "bogus"], 1);
    assert!(err.contains("cursor"), "{err}");

    // status and wait.
    let status = ok_json(&["status", d, &first]);
    assert_eq!(status["transactionId"], first.as_str());
    assert_eq!(status["state"], "Committed");
    assert_eq!(ok(&["status", d, "1.999"]), "Unknown\n");
    assert_eq!(ok(&["status", d, "7.2"]), "Unknown\n");
    assert_eq!(ok(&["wait", d, &first]), "Committed\n");
    let err = fails(&["wait", d, "1.999", "--timeout", "1"], 3);
    assert!(err.is_empty(), "{err}");
}

#[test]
fn append_takes_files_and_stdin_and_binary_contents_round_trip() {
    let (tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let binary: Vec<u8> = vec![0, 159, 146, 150, 255, 10, 13];
    let file = tmp.path().join("blob.bin");
    fs::write(&file, &binary).unwrap();
    let id = ok(&["append", d, "-c", "blobs", "--file", path_str(&file)]);
    let id = id.trim();
    let raw = ledger()
        .args(["get", d, id, "-c", "blobs"])
        .output()
        .unwrap();
    assert!(raw.status.success());
    assert_eq!(raw.stdout, binary);
    let got = ok_json(&["get", d, id, "-c", "blobs"]);
    assert!(got.get("contents").is_none());
    assert_eq!(got["contentsBase64"], "AJ+Slv8KDQ==");

    let from_stdin = ledger()
        .args(["append", d, "-c", "notes", "--file", "-", "--json"])
        .write_stdin("from stdin")
        .output()
        .unwrap();
    assert!(from_stdin.status.success());
    let appended: Value = serde_json::from_slice(&from_stdin.stdout).unwrap();
    assert_eq!(appended["state"], "Committed");
    assert_eq!(appended["collectionId"], "notes");
    let id = appended["transactionId"].as_str().unwrap();
    assert_eq!(ok(&["get", d, id, "-c", "notes"]), "from stdin");

    fails(&["append", d, "-c", "notes"], 2);
    fails(
        &[
            "append",
            d,
            "-c",
            "notes",
            "text",
            "--file",
            path_str(&file),
        ],
        2,
    );
    let err = fails(&["append", d, "-c", "gov.users", "x"], 1);
    assert!(err.contains("collection"), "{err}");
    let err = fails(
        &["append", d, "-c", "notes", "--file", "/nonexistent/file"],
        1,
    );
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn bad_transaction_ids_are_refused_with_usage_errors() {
    let (_tmp, dir) = new_ledger();
    let d = path_str(&dir);
    for bad in [
        "1", "1.x", "0.5", "1.0", "1.2.3", "1..2", "a.b", " 1.2", "+1.2",
    ] {
        for sub in ["get", "status", "wait", "receipt"] {
            let mut args = vec![sub, d, bad];
            if sub == "get" {
                args.extend(["-c", "audit"]);
            }
            let err = fails(&args, 2);
            assert!(err.contains("VIEW.SEQNO"), "{sub} {bad}: {err}");
        }
    }
    // Taken for an option by the parser: still a usage error.
    fails(&["status", d, "-1.2"], 2);
    fails(&["list", d, "-c", "audit", "--from", "1.x"], 2);
    fails(&["export", d, "--to", "0.0"], 2);
}

#[test]
fn missing_and_foreign_directories_are_refused_without_creating_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let foreign = tmp.path().join("foreign");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("notes.txt"), "not a ledger").unwrap();
    let no_store = tmp.path().join("no-store");
    fs::create_dir(&no_store).unwrap();
    fs::write(
        no_store.join("ledger.json"),
        r#"{"format":"ledger-directory","version":1}"#,
    )
    .unwrap();
    let bad_json = tmp.path().join("bad-json");
    fs::create_dir(&bad_json).unwrap();
    fs::write(bad_json.join("ledger.json"), "{not json").unwrap();
    let newer = tmp.path().join("newer");
    fs::create_dir(&newer).unwrap();
    fs::write(
        newer.join("ledger.json"),
        r#"{"format":"ledger-directory","version":2}"#,
    )
    .unwrap();

    let cases: [(&Path, &str); 6] = [
        (&missing, "no such ledger directory"),
        (&empty, "is not a ledger directory"),
        (&foreign, "is not a ledger directory"),
        (&no_store, "has no store"),
        (&bad_json, "not a valid ledger settings file"),
        (&newer, "settings version 2"),
    ];
    let alice = manifest_path(ALICE_PEM);
    let backup_target = tmp.path().join("backup-target");
    for (dir, expected) in cases {
        let d = path_str(dir);
        let commands: Vec<Vec<&str>> = vec![
            vec!["append", d, "-c", "a", "x"],
            vec!["get", d, "1.1", "-c", "a"],
            vec!["list", d, "-c", "a"],
            vec!["status", d, "1.1"],
            vec!["wait", d, "1.1"],
            vec!["receipt", d, "1.1"],
            vec!["audit", d],
            vec!["backup", d, path_str(&backup_target)],
            vec!["inspect", d],
            vec!["export", d],
            vec!["service-cert", d],
            vec!["serve", d, "--listen", "127.0.0.1:0"],
            vec![
                "users",
                "set",
                d,
                "--cert",
                path_str(&alice),
                "--role",
                "Reader",
            ],
            vec!["users", "list", d],
        ];
        for args in commands {
            let err = fails(&args, 1);
            assert!(err.contains(expected), "{args:?}: {err}");
        }
    }
    // Nothing was created on the way.
    assert!(!missing.exists());
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
    assert!(!foreign.join("store").exists());
    assert!(!no_store.join("store").exists());
    assert!(!tmp.path().join("backup-target").exists());
}

#[test]
fn a_damaged_store_is_a_clear_error_and_an_audit_finding() {
    let (tmp, dir) = new_ledger();
    let id = append(&dir, "audit", "hello");
    let cert = tmp.path().join("service.pem");
    ok(&["service-cert", path_str(&dir), "--output", path_str(&cert)]);

    // The clean ledger: exit 0, a pinned certificate, progress as plain lines (not a terminal).
    let out = ledger()
        .args(["audit", path_str(&dir), "--service-cert", path_str(&cert)])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("clean: "), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("audit: checked "), "{stderr}");
    let report = ok_json(&[
        "audit",
        path_str(&dir),
        "--service-cert",
        path_str(&cert),
        "--quiet",
    ]);
    assert_eq!(report["clean"], true);
    assert!(report["finding"].is_null());
    assert_eq!(report["serviceCertificatePinned"], true);
    assert!(report["entries"].as_u64().unwrap() >= seqno(&id));
    let last = &report["lastSignature"];
    let anchor = format!(
        "{}:{}",
        seqno(last["transactionId"].as_str().unwrap()),
        last["root"].as_str().unwrap()
    );
    ok(&[
        "audit",
        path_str(&dir),
        "--require-root",
        &anchor,
        "--quiet",
    ]);
    let wrong_anchor = format!(
        "{}:{}",
        seqno(last["transactionId"].as_str().unwrap()),
        "00".repeat(32)
    );
    let finding = fails(
        &[
            "audit",
            path_str(&dir),
            "--require-root",
            &wrong_anchor,
            "--quiet",
        ],
        3,
    );
    assert!(finding.is_empty(), "{finding}");
    fails(&["audit", path_str(&dir), "--require-root", "12:zz"], 2);

    // A damaged copy.
    let damaged = tmp.path().join("damaged");
    copy_dir(&dir, &damaged);
    damage_table_files(&damaged);
    let d = path_str(&damaged);
    let report = ledger()
        .args(["audit", d, "--json", "--quiet"])
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["clean"], false);
    assert_eq!(report["finding"]["kind"], "StoreCorruption");
    let text = ledger().args(["audit", d, "--quiet"]).output().unwrap();
    assert_eq!(text.status.code(), Some(3));
    assert!(String::from_utf8(text.stdout)
        .unwrap()
        .starts_with("FINDING: StoreCorruption"));
    for args in [
        vec!["get", d, id.as_str(), "-c", "audit"],
        vec!["receipt", d, id.as_str()],
        vec!["inspect", d],
        vec!["export", d],
    ] {
        let err = fails(&args, 1);
        assert!(err.contains("is damaged"), "{args:?}: {err}");
    }
    // The original is untouched by all of this.
    ok(&["audit", path_str(&dir), "--quiet"]);
}

#[test]
fn the_audit_refuses_a_ledger_of_another_service() {
    let (tmp, dir) = new_ledger();
    let (_other_tmp, other) = new_ledger();
    let other_cert = tmp.path().join("other.pem");
    ok(&[
        "service-cert",
        path_str(&other),
        "-o",
        path_str(&other_cert),
    ]);
    let out = ledger()
        .args([
            "audit",
            path_str(&dir),
            "--service-cert",
            path_str(&other_cert),
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["finding"]["kind"], "ServiceIdentity");
    let not_a_cert = tmp.path().join("junk.pem");
    fs::write(&not_a_cert, "junk").unwrap();
    let err = fails(
        &[
            "audit",
            path_str(&dir),
            "--service-cert",
            path_str(&not_a_cert),
        ],
        1,
    );
    assert!(err.contains("is not a service certificate"), "{err}");
}

#[test]
fn receipts_verify_offline_and_tampered_ones_are_refused() {
    let (tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let id = append(&dir, "audit", "alice approved invoice 17");
    let cert = tmp.path().join("service.pem");
    fs::write(&cert, ok(&["service-cert", d])).unwrap();
    assert!(fs::read_to_string(&cert)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
    let as_json = ok_json(&["service-cert", d]);
    assert_eq!(
        as_json["certificate"].as_str().unwrap(),
        fs::read_to_string(&cert).unwrap()
    );
    assert_eq!(as_json["serviceId"].as_str().unwrap().len(), 64);
    let (_other_tmp, other) = new_ledger();
    let other_cert = tmp.path().join("other.pem");
    fs::write(&other_cert, ok(&["service-cert", path_str(&other)])).unwrap();

    // JSON: to stdout, verified offline (the ledger directory is not needed).
    let json_receipt = tmp.path().join("receipt.json");
    fs::write(&json_receipt, ok(&["receipt", d, &id])).unwrap();
    let parsed: Value = serde_json::from_str(&fs::read_to_string(&json_receipt).unwrap()).unwrap();
    assert!(parsed["leaf_components"]["commit_evidence"]
        .as_str()
        .unwrap()
        .starts_with(&format!("ce:{id}:")));
    // COSE: to a file.
    let cose_receipt = tmp.path().join("receipt.cose");
    ok(&[
        "receipt",
        d,
        &id,
        "--format",
        "cose",
        "-o",
        path_str(&cose_receipt),
    ]);
    assert_eq!(fs::read(&cose_receipt).unwrap().first(), Some(&0xD2)); // COSE_Sign1 tag 18

    let moved = tmp.path().join("moved-away");
    fs::rename(&dir, &moved).unwrap();
    for (receipt, format) in [(&json_receipt, "json"), (&cose_receipt, "cose")] {
        let out = ok_json(&[
            "verify",
            path_str(receipt),
            "--service-cert",
            path_str(&cert),
        ]);
        assert_eq!(out["valid"], true);
        assert_eq!(out["format"], format);
        assert_eq!(out["transactionId"], id.as_str());
        let text = ok(&[
            "verify",
            path_str(receipt),
            "--service-cert",
            path_str(&cert),
        ]);
        assert!(text.starts_with("OK: "), "{text}");
        // Another service's certificate.
        let err = fails(
            &[
                "verify",
                path_str(receipt),
                "--service-cert",
                path_str(&other_cert),
            ],
            3,
        );
        assert!(err.contains("does NOT verify"), "{err}");
        let out = ledger()
            .args([
                "verify",
                path_str(receipt),
                "--service-cert",
                path_str(&other_cert),
                "--json",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let out: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out["valid"], false);
    }

    // Tampered JSON receipts: the signature, a proof element, the commit evidence.
    let text = fs::read_to_string(&json_receipt).unwrap();
    let mut receipt: Value = serde_json::from_str(&text).unwrap();
    let flip_hex = |s: &str| -> String {
        let mut chars: Vec<char> = s.chars().collect();
        chars[0] = if chars[0] == '0' { '1' } else { '0' };
        chars.into_iter().collect()
    };
    let mut tampered = Vec::new();
    let mut signature = receipt.clone();
    let sig = signature["signature"].as_str().unwrap().to_owned();
    let mut sig_bytes: Vec<char> = sig.chars().collect();
    let i = sig_bytes.len() / 2;
    sig_bytes[i] = if sig_bytes[i] == 'A' { 'B' } else { 'A' };
    signature["signature"] = Value::String(sig_bytes.into_iter().collect());
    tampered.push(signature);
    let proof = receipt["proof"].as_array().unwrap().clone();
    if let Some(first) = proof.first() {
        let (side, hash) = first.as_object().unwrap().iter().next().unwrap();
        let mut changed = receipt.clone();
        changed["proof"][0][side] = Value::String(flip_hex(hash.as_str().unwrap()));
        tampered.push(changed);
    }
    let evidence = receipt["leaf_components"]["commit_evidence"]
        .as_str()
        .unwrap()
        .to_owned();
    let (head, nonce) = evidence.rsplit_once(':').unwrap();
    receipt["leaf_components"]["commit_evidence"] =
        Value::String(format!("{head}:{}", flip_hex(nonce)));
    tampered.push(receipt);
    assert!(tampered.len() >= 2);
    for (i, bad) in tampered.iter().enumerate() {
        let file = tmp.path().join(format!("tampered-{i}.json"));
        fs::write(&file, bad.to_string()).unwrap();
        let err = fails(
            &["verify", path_str(&file), "--service-cert", path_str(&cert)],
            3,
        );
        assert!(err.contains("does NOT verify"), "case {i}: {err}");
    }

    // A tampered COSE receipt: its last byte is in the signature.
    let mut cose = fs::read(&cose_receipt).unwrap();
    *cose.last_mut().unwrap() ^= 0x01;
    let bad_cose = tmp.path().join("tampered.cose");
    fs::write(&bad_cose, &cose).unwrap();
    fails(
        &[
            "verify",
            path_str(&bad_cose),
            "--service-cert",
            path_str(&cert),
        ],
        3,
    );

    // Malformed receipts and certificates are errors, not verdicts.
    let junk = tmp.path().join("junk");
    for (content, expected) in [
        (&b"{\"cert\": 1"[..], "is not a valid receipt"),
        (&b"{}"[..], "is not a valid receipt"),
        (&b"\x00\x01\x02 not cbor"[..], "is not a valid COSE receipt"),
        (&b""[..], "is not a valid COSE receipt"),
    ] {
        fs::write(&junk, content).unwrap();
        let err = fails(
            &["verify", path_str(&junk), "--service-cert", path_str(&cert)],
            1,
        );
        assert!(err.contains(expected), "{err}");
    }
    let not_pem = tmp.path().join("not.pem");
    fs::write(
        &not_pem,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = fails(
        &[
            "verify",
            path_str(&json_receipt),
            "--service-cert",
            path_str(&not_pem),
        ],
        1,
    );
    assert!(err.contains("not a usable service certificate"), "{err}");
    let err = fails(
        &[
            "verify",
            path_str(&tmp.path().join("none.json")),
            "--service-cert",
            path_str(&cert),
        ],
        1,
    );
    assert!(err.contains("cannot read"), "{err}");
}

#[test]
fn receipts_of_uncommitted_or_unknown_transactions_are_refused() {
    let (_tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let id = append(&dir, "audit", "x");
    // The signature transaction right after it is covered by no later signature yet.
    let signature = format!("1.{}", seqno(&id) + 1);
    let err = fails(&["receipt", d, &signature], 1);
    assert!(err.contains("not committed"), "{err}");
    let err = fails(
        &[
            "receipt",
            d,
            "1.9999",
            "--format",
            "cose",
            "-o",
            "/dev/null",
        ],
        1,
    );
    assert!(err.contains("not committed"), "{err}");
}

#[test]
fn verify_reads_receipts_as_azure_confidential_ledger_served_them() {
    // Receipts the real service issued (ledger-core's corpus; see its README): a get-receipt
    // response with application claims, P-384, and a 2022-05-13 snake_case response. Their
    // certificates have expired since, so they are checked at a time within their validity.
    let corpus = manifest_path("../ledger-core/tests/receipts-corpus");
    let served = corpus.join("receipts/served-envelope-p384-claims.json");
    let p384 = corpus.join("certs/service-3-p384.pem");
    let out = ok_json(&[
        "verify",
        path_str(&served),
        "--service-cert",
        path_str(&p384),
        "--at",
        "1682532859",
    ]);
    assert_eq!(out["valid"], true);
    assert_eq!(out["applicationClaimsChecked"], true);
    assert_eq!(out["transactionId"], "2.13");
    let snake = corpus.join("receipts/served-envelope-2022-snake.json");
    let p256 = corpus.join("certs/service-1-p256.pem");
    ok(&[
        "verify",
        path_str(&snake),
        "--service-cert",
        path_str(&p256),
        "--at",
        "1667415276",
    ]);

    // Now, the node certificate has expired.
    let err = fails(
        &[
            "verify",
            path_str(&served),
            "--service-cert",
            path_str(&p384),
        ],
        3,
    );
    assert!(err.contains("expired"), "{err}");
    // The entry's contents in the claims altered: the claims digest no longer matches.
    let tmp = tempfile::tempdir().unwrap();
    let altered = tmp.path().join("altered.json");
    let text = fs::read_to_string(&served).unwrap();
    assert!(text.contains("Hello world"));
    fs::write(&altered, text.replace("Hello world", "Hello World")).unwrap();
    fails(
        &[
            "verify",
            path_str(&altered),
            "--service-cert",
            path_str(&p384),
            "--at",
            "1682532859",
        ],
        3,
    );
    // Another service's certificate.
    fails(
        &[
            "verify",
            path_str(&served),
            "--service-cert",
            path_str(&p256),
            "--at",
            "1682532859",
        ],
        3,
    );
}

#[test]
fn backup_then_restore_reads_the_same_entries() {
    let (tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let ids: Vec<String> = (0..5)
        .map(|i| append(&dir, "audit", &format!("entry {i}")))
        .collect();
    // Settings a later version adds survive backup and restore.
    let settings_file = dir.join("ledger.json");
    let mut settings: Value =
        serde_json::from_str(&fs::read_to_string(&settings_file).unwrap()).unwrap();
    settings["cluster"] = serde_json::json!({"nodes": ["n1"]});
    fs::write(&settings_file, settings.to_string()).unwrap();

    let backup = tmp.path().join("backup");
    let info = ok_json(&["backup", d, path_str(&backup)]);
    assert!(info["committedSeqno"].as_u64().unwrap() >= seqno(ids.last().unwrap()));
    assert!(backup.join("ledger.json").exists());
    assert!(backup.join("store/LEDGER-BACKUP").exists());
    // Writes after the backup are not in it.
    append(&dir, "audit", "after the backup");

    let restored = tmp.path().join("restored");
    let r = path_str(&restored);
    ok(&["restore", path_str(&backup), r]);
    let original = ok_json(&["list", d, "-c", "audit"]);
    let copy = ok_json(&["list", r, "-c", "audit"]);
    let copy_entries = copy["entries"].as_array().unwrap();
    assert_eq!(copy_entries.len(), 5);
    assert_eq!(
        copy_entries[..],
        original["entries"].as_array().unwrap()[..5]
    );
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(ok(&["get", r, id, "-c", "audit"]), format!("entry {i}"));
    }
    let restored_settings: Value =
        serde_json::from_str(&fs::read_to_string(restored.join("ledger.json")).unwrap()).unwrap();
    assert_eq!(restored_settings["cluster"]["nodes"][0], "n1");
    // The restored ledger is a valid ledger of the same service, in a new view.
    assert_eq!(ok(&["service-cert", r]), ok(&["service-cert", d]));
    ok(&["audit", r, "--quiet"]);
    let inspected = ok_json(&["inspect", r]);
    assert_eq!(inspected["views"].as_array().unwrap().len(), 2);
    let new_id = append(&restored, "audit", "after the restore");
    assert!(new_id.starts_with("2."), "{new_id}");

    // Refusals: a non-empty target, a directory that is no backup, a backup into itself.
    let err = fails(&["backup", d, path_str(&backup)], 1);
    assert!(err.contains("not empty"), "{err}");
    let err = fails(&["restore", path_str(&backup), r], 1);
    assert!(err.contains("not empty"), "{err}");
    let err = fails(&["restore", d, path_str(&tmp.path().join("x"))], 1);
    assert!(err.contains("restore failed"), "{err}");
    let err = fails(
        &[
            "restore",
            path_str(&tmp.path().join("nothing")),
            path_str(&tmp.path().join("y")),
        ],
        1,
    );
    assert!(err.contains("is not a ledger backup"), "{err}");
}

#[test]
fn export_writes_one_json_line_per_committed_transaction() {
    let (tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let a = append(&dir, "audit", "one");
    let b = append(&dir, "payments", "two");
    let c = append(&dir, "audit", "three");
    let inspected = ok_json(&["inspect", d]);
    let committed = inspected["store"]["committedSeqno"].as_u64().unwrap();

    let out = ok(&["export", d]);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, committed);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(seqno(line["transactionId"].as_str().unwrap()), i as u64 + 1);
    }
    let user: Vec<&Value> = lines.iter().filter(|l| l["kind"] == "user").collect();
    assert_eq!(user.len(), 3);
    assert_eq!(user[1]["transactionId"], b.as_str());
    assert_eq!(user[1]["appends"][0]["collectionId"], "payments");
    assert_eq!(user[1]["appends"][0]["contents"], "two");
    let signatures = lines.iter().filter(|l| l["kind"] == "signature").count() as u64;
    assert_eq!(
        signatures,
        inspected["signatures"]["count"].as_u64().unwrap()
    );
    assert!(lines
        .iter()
        .filter(|l| l["kind"] == "signature")
        .all(|l| l["signature"]["root"].as_str().unwrap().len() == 64));

    // One collection, a range, to a file.
    let audit = ok(&["export", d, "-c", "audit"]);
    let ids: Vec<String> = audit
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["transactionId"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(ids, vec![a.clone(), c.clone()]);
    let file = tmp.path().join("export.jsonl");
    ok(&["export", d, "--from", &b, "--to", &c, "-o", path_str(&file)]);
    let ranged = fs::read_to_string(&file).unwrap();
    assert_eq!(ranged.lines().count() as u64, seqno(&c) - seqno(&b) + 1);
    assert!(ranged
        .lines()
        .next()
        .unwrap()
        .contains(&format!("\"transactionId\":\"{b}\"")));
    assert_eq!(ok(&["export", d, "-c", "nothing"]), "");
}

#[test]
fn inspect_shows_views_signatures_sizes_and_collections() {
    let (_tmp, dir) = new_ledger();
    let d = path_str(&dir);
    append(&dir, "audit", "12345");
    append(&dir, "audit", "678");
    append(&dir, "payments", "9");
    let report = ok_json(&["inspect", d, "--signatures"]);
    assert_eq!(report["settings"]["listen"], "127.0.0.1:8443");
    assert_eq!(report["views"][0]["view"], 1);
    assert_eq!(report["views"][0]["firstSeqno"], 1);
    let collections = report["collections"].as_array().unwrap();
    assert_eq!(collections.len(), 2);
    assert_eq!(collections[0]["collectionId"], "audit");
    assert_eq!(collections[0]["entries"], 2);
    assert_eq!(collections[0]["bytes"], 8);
    assert_eq!(collections[1]["collectionId"], "payments");
    assert_eq!(collections[1]["entries"], 1);
    let count = report["signatures"]["count"].as_u64().unwrap();
    assert!(count >= 3);
    assert_eq!(
        report["signatures"]["all"].as_array().unwrap().len() as u64,
        count
    );
    assert_eq!(report["transactions"]["user"]["count"], 3);
    assert!(report["store"]["bytesOnDisk"].as_u64().unwrap() > 0);
    assert!(report["store"]["uncommittedTail"].is_null());
    let last = report["store"]["lastSeqno"].as_u64().unwrap();
    assert_eq!(
        report["signatures"]["last"]["transactionId"],
        format!("1.{last}").as_str()
    );
    let text = ok(&["inspect", d]);
    assert!(text.contains("views       1 from seqno 1"), "{text}");
    assert!(text.contains("  audit\t2 entries\t8 bytes"), "{text}");
}

#[test]
fn users_set_prints_the_acl_certificate_fingerprint_and_records_the_role() {
    let (tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let pem = manifest_path(ALICE_PEM);
    let der = manifest_path(ALICE_DER);
    assert_eq!(
        ok(&[
            "users",
            "set",
            d,
            "--cert",
            path_str(&pem),
            "--role",
            "Contributor"
        ]),
        format!("{ALICE_ID}\n")
    );
    let listed = ok_json(&["users", "list", d]);
    assert_eq!(listed["ledgerUsers"][0]["userId"], ALICE_ID);
    assert_eq!(listed["ledgerUsers"][0]["assignedRole"], "Contributor");

    // The same certificate as DER, and as PEM followed by a key block: the same id.
    let out = ok_json(&[
        "users",
        "set",
        d,
        "--cert",
        path_str(&der),
        "--role",
        "Reader",
    ]);
    assert_eq!(out["userId"], ALICE_ID);
    assert_eq!(out["assignedRole"], "Reader");
    let combined = tmp.path().join("alice-and-key.pem");
    let mut text = fs::read_to_string(&pem).unwrap();
    text.push_str("-----BEGIN PRIVATE KEY-----\nTm90IGEga2V5\n-----END PRIVATE KEY-----\n");
    fs::write(&combined, text).unwrap();
    assert_eq!(
        ok(&[
            "users",
            "set",
            d,
            "--cert",
            path_str(&combined),
            "--role",
            "Administrator"
        ]),
        format!("{ALICE_ID}\n")
    );
    let listed = ok_json(&["users", "list", d]);
    assert_eq!(listed["ledgerUsers"].as_array().unwrap().len(), 1);
    assert_eq!(listed["ledgerUsers"][0]["assignedRole"], "Administrator");

    // Refusals: an undefined role, a file that is no certificate.
    let err = fails(
        &[
            "users",
            "set",
            d,
            "--cert",
            path_str(&pem),
            "--role",
            "Owner",
        ],
        1,
    );
    assert!(err.contains("\"Owner\" is not defined"), "{err}");
    let junk = tmp.path().join("junk.pem");
    fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = fails(
        &[
            "users",
            "set",
            d,
            "--cert",
            path_str(&junk),
            "--role",
            "Reader",
        ],
        1,
    );
    assert!(err.contains("is not a certificate"), "{err}");
    let err = fails(
        &[
            "users",
            "set",
            d,
            "--cert",
            path_str(&tmp.path().join("none.pem")),
            "--role",
            "Reader",
        ],
        1,
    );
    assert!(err.contains("cannot read"), "{err}");
    fails(&["users", "set", d, "--cert", path_str(&pem)], 2);
    let listed = ok_json(&["users", "list", d]);
    assert_eq!(listed["ledgerUsers"][0]["assignedRole"], "Administrator");
}

#[test]
fn a_ledger_held_by_another_process_is_refused_clearly_and_read_only_views_still_work() {
    let (_tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let id = append(&dir, "audit", "x");
    // Hold the store as a running server would.
    let held =
        ledger_core::Ledger::open(ledger_core::LedgerConfig::new(dir.join("store"))).unwrap();
    let pem = manifest_path(ALICE_PEM);
    for args in [
        vec![
            "users",
            "set",
            d,
            "--cert",
            path_str(&pem),
            "--role",
            "Reader",
        ],
        vec!["append", d, "-c", "audit", "y"],
        vec!["get", d, id.as_str(), "-c", "audit"],
    ] {
        let err = fails(&args, 1);
        assert!(err.contains("in use by another process"), "{args:?}: {err}");
    }
    ok(&["audit", d, "--quiet"]);
    ok(&["inspect", d]);
    assert_eq!(ok(&["export", d, "-c", "audit"]).lines().count(), 1);
    held.close().unwrap();
    ok(&[
        "users",
        "set",
        d,
        "--cert",
        path_str(&pem),
        "--role",
        "Reader",
    ]);
}

#[test]
fn stdout_closed_early_ends_quietly() {
    let (_tmp, dir) = new_ledger();
    for i in 0..3 {
        append(&dir, "audit", &format!("{i}"));
    }
    // A reader that takes nothing: the writes fail with a broken pipe, which is no error.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["export", path_str(&dir)])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
    ledger()
        .args(["list", path_str(&dir), "-c", "audit"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\t2\n"));
}

/// A client trusting only the service certificate `service_pem`, presenting `identity_pem`
/// (certificate then key).
fn https_client(service_pem: &str, identity_pem: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(service_pem.as_bytes()).unwrap())
        .identity(reqwest::Identity::from_pem(identity_pem.as_bytes()).unwrap())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn serve_answers_the_rest_api_until_sigterm_and_keeps_what_it_acknowledged() {
    use std::io::BufRead as _;

    let (tmp, dir) = new_ledger();
    let d = path_str(&dir);
    let admin = rcgen::generate_simple_self_signed(vec!["admin".to_owned()]).unwrap();
    let admin_crt = tmp.path().join("admin.crt");
    fs::write(&admin_crt, admin.cert.pem()).unwrap();
    let user_id = ok(&[
        "users",
        "set",
        d,
        "--cert",
        path_str(&admin_crt),
        "--role",
        "Administrator",
    ]);
    let service_pem = ok(&["service-cert", d]);

    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_ledger"))
        .args(["serve", d, "--listen", "127.0.0.1:0", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{e}: {first:?}"));
    let url = started["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    let client = https_client(
        &service_pem,
        &format!("{}{}", admin.cert.pem(), admin.key_pair.serialize_pem()),
    );
    let created = client
        .post(format!(
            "{url}/app/transactions?api-version=2022-05-13&collectionId=audit"
        ))
        .json(&serde_json::json!({"contents": "served"}))
        .send()
        .unwrap();
    assert_eq!(created.status(), 200);
    let tx_id = created
        .headers()
        .get("x-ms-ccf-transaction-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let me = client
        .get(format!(
            "{url}/app/users/{}?api-version=2022-05-13",
            user_id.trim()
        ))
        .send()
        .unwrap();
    assert_eq!(me.status(), 200);
    let me: Value = me.json().unwrap();
    assert_eq!(me["assignedRole"], "Administrator");

    // The running server holds the store.
    let held = fails(
        &[
            "users",
            "set",
            d,
            "--cert",
            path_str(&admin_crt),
            "--role",
            "Reader",
        ],
        1,
    );
    assert!(held.contains("in use by another process"), "{held}");

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "serve exited with {status}: {stderr}");

    // What the server acknowledged is committed, and the directory is usable again.
    assert_eq!(ok(&["status", d, &tx_id]).trim(), "Committed");
    assert_eq!(ok(&["get", d, &tx_id, "-c", "audit"]), "served");
    ok(&[
        "users",
        "set",
        d,
        "--cert",
        path_str(&admin_crt),
        "--role",
        "Reader",
    ]);
}
