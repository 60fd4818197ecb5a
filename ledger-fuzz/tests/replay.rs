//! Replays the committed fuzz inputs through the targets' functions on every `cargo test`:
//! each file of `corpus/<target>/` (the seed corpus) and `artifacts/<target>/` (reproducers
//! of crashes found and fixed), then a few hundred seeded random inputs per target for smoke
//! coverage. With the default `rocksdb` feature the store and engine targets run every input
//! against `RocksStore` as well as the memory backend.
//!
//! `LEDGER_FUZZ_RANDOM=<n>` changes the number of random inputs per target.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(read) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = read
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    out.sort();
    out
}

fn target(name: &str) -> fn(&[u8]) {
    ledger_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap()
}

/// Replays `corpus/<name>/` and `artifacts/<name>/`, then `random` seeded inputs of up to
/// `max_len` bytes.
fn replay(name: &str, random: usize, max_len: usize) {
    let f = target(name);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut replayed = 0;
    let dirs = [
        root.join("corpus").join(name),
        root.join("artifacts").join(name),
    ];
    for dir in dirs {
        for file in files(&dir) {
            let data = std::fs::read(&file).unwrap();
            eprintln!("{name}: {}", file.display());
            f(&data);
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no corpus for {name}");
    let random = std::env::var("LEDGER_FUZZ_RANDOM")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(random);
    let mut rng = ChaCha8Rng::seed_from_u64(0x1ed6e5);
    for i in 0..random {
        let len = rng.gen_range(0..=max_len);
        let mut data = vec![0u8; len];
        rng.fill(&mut data[..]);
        if let Err(panic) = std::panic::catch_unwind(|| f(&data)) {
            let saved = std::env::temp_dir().join(format!("ledger-fuzz-{name}-random-{i}"));
            std::fs::write(&saved, &data).unwrap();
            eprintln!(
                "{name}: random input {i} fails; saved as {}",
                saved.display()
            );
            std::panic::resume_unwind(panic);
        }
    }
}

macro_rules! replay_tests {
    ($($name:ident: $random:expr, $max_len:expr;)*) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), $random, $max_len);
            }
        )*
        #[test]
        fn every_target_is_replayed() {
            let tested = [$(stringify!($name)),*];
            for (name, _) in ledger_fuzz::TARGETS {
                assert!(tested.contains(&name), "{name} has no replay test");
            }
        }
    };
}

replay_tests! {
    merkle_operations: 300, 600;
    merkle_proof_verifiers: 500, 400;
    txid_parse: 500, 40;
    receipt_json: 300, 300;
    served_receipt_json: 300, 300;
    cose_receipt_cbor: 300, 600;
    scitt_register: 300, 400;
    governance_request_json: 300, 300;
    entry_decode: 500, 300;
    store_operations: 200, 800;
    store_crash_recovery: 200, 800;
    ledger_operations: 40, 400;
    ledger_crash_recovery: 40, 400;
    replicated_group: 40, 500;
}

/// Writes the hand-made seeds of the parsing targets, and of the engine targets
/// (`ledger_fuzz::ledger_seeds`: twins, backups and restored copies), with `cargo test -p
/// ledger-fuzz --test replay -- --ignored write_parser_seeds`. The other operation targets'
/// seeds are inputs the fuzzer found, minimized with `-merge=1` (see the README's Fuzzing
/// section).
#[test]
#[ignore = "writes seed files into corpus/; run by hand"]
fn write_parser_seeds() {
    use ledger_core::governance::{MemberKey, Vote};
    use ledger_core::TxId;
    use ledger_core::{Append, SignaturePayload, TableOp, TxBody, TxKind};

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };

    for (target, name, data) in ledger_fuzz::ledger_seeds() {
        write(target, name, &data);
    }

    for (i, json) in ledger_fuzz::receipt_seeds().iter().enumerate().take(2) {
        write(
            "receipt_json",
            &format!("genuine-{i}.json"),
            json.as_bytes(),
        );
    }
    write("receipt_json", "tamper-proof-side", &[0, 1, 4, 0]);
    write("receipt_json", "tamper-signature", &[0, 0, 7, 3, 0x80]);
    write("receipt_json", "splice", b"\x01\x00\x20\x00\x01 ");
    for (i, seed) in ledger_fuzz::served_receipt_seeds().iter().enumerate() {
        write("served_receipt_json", &format!("served-{i}.json"), seed);
    }
    // Splices: a camelCase key in a snake_case receipt, and a key spelled both ways.
    write(
        "served_receipt_json",
        "splice-key",
        b"\x00\x00\x10\x00\x00\"nodeId\": \"x\", ",
    );
    write(
        "served_receipt_json",
        "splice-nul",
        b"\x03\x00\xff\xff\x00\x00",
    );

    let cose = ledger_fuzz::cose_receipt_seeds();
    // An inclusion receipt, one with several proofs, and a consistency receipt.
    for (name, i) in [
        ("inclusion", 0),
        ("several-proofs", 3),
        ("consistency", cose.len() - 1),
    ] {
        write("cose_receipt_cbor", &format!("genuine-{name}"), &cose[i]);
    }
    write(
        "cose_receipt_cbor",
        "flip-signature",
        &[0, 0, 0xff, 0xff, 0x01],
    );
    write(
        "cose_receipt_cbor",
        "flip-protected",
        &[0, 1, 0x10, 0x00, 0x80],
    );
    write("cose_receipt_cbor", "splice", b"\x01\x02\x30\x00\x03\xf4");

    // Genuine statements (ES256 by kid, EdDSA by kid, ES256 by x5chain), registered as
    // they are; flips of the protected header and of the signature; a splice; and built
    // statements (selector 2) with a wrong tag, a missing CWT claim and a wrong signer.
    for (name, seed) in ["es256-kid", "eddsa-kid", "es256-x5chain"]
        .iter()
        .zip(ledger_fuzz::scitt_statement_seeds())
    {
        write("scitt_register", &format!("genuine-{name}"), &seed);
    }
    write(
        "scitt_register",
        "flip-protected",
        &[0, 0, 0x08, 0x00, 0x04],
    );
    write(
        "scitt_register",
        "flip-signature",
        &[0, 1, 0xff, 0xff, 0x80],
    );
    write(
        "scitt_register",
        "splice",
        b"\x01\x02\x20\x00\x02\xa1\x01\x26",
    );
    // Built statements (the byte layout is `Built::decode`'s): genuine ES256, EdDSA and
    // x5chain ones, untagged, without `sub`, signed by another key, with a detached payload.
    write(
        "scitt_register",
        "built-es256",
        &[2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'{', b'}'],
    );
    write("scitt_register", "built-eddsa", &[2, 0, 2, 2, 1]);
    write("scitt_register", "built-x5chain", &[2, 0, 0, 3, 3, 1]);
    write("scitt_register", "built-untagged", &[2, 1]);
    write(
        "scitt_register",
        "built-no-sub",
        &[2, 0, 0, 0, 0, 0, 0, 0, 3],
    );
    write("scitt_register", "built-wrong-signer", &[2, 0, 0, 1]);
    write(
        "scitt_register",
        "built-detached",
        &[2, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    );

    let instance = ledger_core::LedgerInstance {
        ledger_id: "5a".repeat(16),
        epoch: 2,
    };
    let key = MemberKey::generate_ed25519().unwrap();
    let builder = key.request(&"ab".repeat(32), &instance, 7);
    let ballot = builder.ballot(&"cd".repeat(32), Vote::Approve).unwrap();
    write(
        "governance_request_json",
        "ballot.json",
        ballot.to_json().unwrap().as_bytes(),
    );
    let withdrawal = builder.withdraw(&"ef".repeat(32)).unwrap();
    write(
        "governance_request_json",
        "withdrawal.json",
        withdrawal.to_json().unwrap().as_bytes(),
    );
    let p256 = MemberKey::generate_p256().unwrap();
    let proposal = p256
        .request(&"01".repeat(32), &instance, 1)
        .propose(Vec::new())
        .unwrap();
    write(
        "governance_request_json",
        "proposal.json",
        proposal.to_json().unwrap().as_bytes(),
    );

    let id = TxId::new(2, 15).unwrap();
    let user = TxBody {
        claims_digest: [0; 32],
        appends: vec![Append {
            collection: "audit".into(),
            contents: b"hello".to_vec(),
        }],
        writes: vec![TableOp {
            table: "t".into(),
            key: b"k".to_vec(),
            value: Some(b"v".to_vec()),
        }],
        signature: None,
    };
    write(
        "entry_decode",
        "user",
        &ledger_core::testing::encode_entry(TxKind::User, id, &user).unwrap(),
    );
    let claims = TxBody {
        claims_digest: [7; 32],
        writes: vec![TableOp {
            table: "t".into(),
            key: Vec::new(),
            value: None,
        }],
        ..user.clone()
    };
    write(
        "entry_decode",
        "claims-and-removal",
        &ledger_core::testing::encode_entry(TxKind::Governance, id, &claims).unwrap(),
    );
    let payload = SignaturePayload {
        view: 2,
        seqno: 16,
        root: [9; 32],
        node_id: "ab".repeat(32),
        signature: vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
        node_cert_pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
    };
    let sig = TxBody {
        signature: Some(payload.clone()),
        ..TxBody::default()
    };
    write(
        "entry_decode",
        "signature",
        &ledger_core::testing::encode_entry(TxKind::Signature, id, &sig).unwrap(),
    );
    write(
        "entry_decode",
        "signature-record",
        &ledger_core::testing::encode_signature(&payload),
    );
    let mut structured = vec![0xA5];
    structured.extend_from_slice(&[1; 64]);
    write("entry_decode", "structured", &structured);
}
