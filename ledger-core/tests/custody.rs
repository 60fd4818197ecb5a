//! Keys apart from the history (issue 11, hole 7): secrets sealed under a key-encryption key,
//! service and node keys held outside the store, rotation without rewriting history, and an
//! audit that needs no secret. Also: a ledger written by the release before entries recorded
//! their commit-evidence digest (a fixture directory) still opens, audits and verifies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ledger_core::testing::{META_COMMIT_SECRET, META_SERVICE_CERT};
use ledger_core::{
    audit_path, AesGcmKek, AuditOptions, Durability, Error, KeyEncryptionKey, Ledger, LedgerConfig,
    NodeIdentity, NodeSigner, Problem, ServiceIdentity, ServiceSigner, TxId, TxStatus,
};
use ledger_store::{RocksStore, Store, StoreConfig};
use p256::pkcs8::DecodePrivateKey;

const SEALED: [&str; 3] = [
    "core.commit_secret.sealed",
    "core.service_identity.sealed",
    "core.node_identity.sealed",
];
const PLAIN: [&str; 3] = [
    "core.commit_secret",
    "core.service_identity",
    "core.node_identity",
];

fn kek(id: &str, byte: u8) -> Arc<AesGcmKek> {
    Arc::new(AesGcmKek::new(id, &[byte; 32]).unwrap())
}

fn config(path: &Path) -> LedgerConfig {
    LedgerConfig::new(path)
        .durability(Durability::Fsync)
        .sig_interval(Duration::from_millis(1))
}

fn meta(path: &Path, key: &str) -> Option<Vec<u8>> {
    let (store, _) = RocksStore::open(path, StoreConfig::default()).unwrap();
    store.meta(key).unwrap()
}

/// Opens a sealed record as the module docs of `sealing` define it: version 1, the key id's
/// length and bytes, then what the key sealed, bound to `"ledger-sealed-secret-v1" 0 slot`.
fn unseal(kek: &dyn KeyEncryptionKey, slot: &str, stored: &[u8]) -> Vec<u8> {
    assert_eq!(stored[0], 1, "sealed format version");
    let id_len = usize::from(stored[1]);
    assert_eq!(&stored[2..2 + id_len], kek.key_id().as_bytes());
    let mut aad = b"ledger-sealed-secret-v1\0".to_vec();
    aad.extend_from_slice(slot.as_bytes());
    kek.open(&stored[2 + id_len..], &aad).unwrap().to_vec()
}

/// The private scalar inside a stored identity record (version, kind, u32 length, PKCS#8).
fn private_scalar(identity: &[u8]) -> Vec<u8> {
    let len = u32::from_be_bytes(identity[2..6].try_into().unwrap()) as usize;
    let key = p256::SecretKey::from_pkcs8_der(&identity[6..6 + len]).unwrap();
    key.to_bytes().to_vec()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Fails if any file under `dir` contains `needle`.
fn assert_absent(dir: &Path, needle: &[u8], what: &str) {
    assert!(needle.len() >= 16);
    for file in files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{what} found in plaintext in {}",
            file.display()
        );
    }
}

fn write_some(ledger: &Ledger, n: u32) -> Vec<TxId> {
    let ids: Vec<TxId> = (0..n)
        .map(|i| ledger.append("audit", &i.to_be_bytes()).unwrap())
        .collect();
    ledger.flush().unwrap();
    ids
}

fn assert_clean(path: &Path, options: &AuditOptions) {
    let report = audit_path(path, options).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn sealed_secrets_never_reach_the_store_or_its_backups_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let key = kek("kek-1", 1);
    let ledger = Ledger::open(config(&path).key_encryption_key(key.clone())).unwrap();
    let ids = write_some(&ledger, 50);
    let service_pem = ledger.service_certificate_pem();
    let receipt = ledger.receipt(ids[7]).unwrap();
    ledger.close().unwrap();

    for slot in PLAIN {
        assert_eq!(meta(&path, slot), None, "{slot} stored in plaintext");
    }
    let secret = unseal(&*key, SEALED[0], &meta(&path, SEALED[0]).unwrap());
    let service = unseal(&*key, SEALED[1], &meta(&path, SEALED[1]).unwrap());
    let node = unseal(&*key, SEALED[2], &meta(&path, SEALED[2]).unwrap());
    assert_eq!(secret.len(), 32);
    let needles = [
        (secret.clone(), "the commit secret"),
        (private_scalar(&service), "the service private key"),
        (private_scalar(&node), "the node private key"),
    ];
    let backup = dir.path().join("backup");
    {
        let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
        store.backup(&backup).unwrap();
    }
    for (needle, what) in &needles {
        assert_absent(&path, needle, what);
        assert_absent(&backup, needle, what);
    }
    // What is sealed is what the ledger runs with: its receipts carry commit evidence
    // derived from that secret.
    let evidence = ledger_core::testing::commit_evidence(
        secret.try_into().unwrap(),
        ids[7].view(),
        ids[7].seqno(),
    );
    assert_eq!(receipt.leaf_components.commit_evidence, evidence);
    receipt.verify(&service_pem).unwrap();

    // The audit needs no key, and holds the store to the caller's certificate.
    assert_clean(&path, &AuditOptions::default());
    assert_clean(
        &path,
        &AuditOptions::default()
            .service_certificate(&service_pem)
            .unwrap(),
    );
    let restored = dir.path().join("restored");
    RocksStore::restore(&backup, &restored).unwrap();
    assert_clean(
        &restored,
        &AuditOptions::default()
            .service_certificate(&service_pem)
            .unwrap(),
    );
    let reopened = Ledger::open(config(&restored).key_encryption_key(key)).unwrap();
    reopened
        .receipt(ids[7])
        .unwrap()
        .verify(&service_pem)
        .unwrap();
    reopened.close().unwrap();
}

/// The quickstart default keeps secrets in plaintext, as documented; this is also the
/// positive control of the search the sealed test relies on.
#[test]
fn without_a_key_the_secrets_are_in_the_store_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(config(&path)).unwrap();
    write_some(&ledger, 5);
    ledger.close().unwrap();
    let secret = meta(&path, META_COMMIT_SECRET).unwrap();
    let found = files_under(&path).iter().any(|file| {
        let bytes = std::fs::read(file).unwrap();
        bytes.windows(32).any(|w| w == secret.as_slice())
    });
    assert!(
        found,
        "the plaintext commit secret is not found in the store's files"
    );
}

#[test]
fn opening_needs_the_key_that_sealed_the_secrets_and_writes_nothing_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let key = kek("kek-1", 1);
    let ledger = Ledger::open(config(&path).key_encryption_key(key.clone())).unwrap();
    write_some(&ledger, 5);
    ledger.close().unwrap();
    let before: Vec<_> = SEALED.iter().map(|s| meta(&path, s)).collect();

    // No key: a typed error naming the key that sealed them.
    match Ledger::open(config(&path)) {
        Err(Error::InvalidInput {
            what,
            problem: Problem::Mismatch { expected, found },
        }) => {
            assert_eq!(what, "key_encryption_key");
            assert!(expected.contains("kek-1"), "{expected}");
            assert_eq!(found, "no key-encryption key");
        }
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    // Another key id: refused before any decryption.
    assert!(matches!(
        Ledger::open(config(&path).key_encryption_key(kek("kek-2", 1))),
        Err(Error::InvalidInput {
            problem: Problem::Mismatch { .. },
            ..
        })
    ));
    // The same id with other key bytes: the authenticated decryption fails.
    assert!(matches!(
        Ledger::open(config(&path).key_encryption_key(kek("kek-1", 9))),
        Err(Error::Crypto { .. })
    ));
    let after: Vec<_> = SEALED.iter().map(|s| meta(&path, s)).collect();
    assert_eq!(before, after, "a refused open changed the sealed records");
    assert_eq!(meta(&path, "core.running"), None);
    Ledger::open(config(&path).key_encryption_key(key))
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn rotation_reseals_without_touching_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let old = kek("kek-2025", 1);
    let new = kek("kek-2026", 2);
    let ledger = Ledger::open(config(&path).key_encryption_key(old.clone())).unwrap();
    let ids = write_some(&ledger, 20);
    let service_pem = ledger.service_certificate_pem();
    let before = ledger.receipt(ids[3]).unwrap();
    ledger.close().unwrap();
    let audit_before = audit_path(&path, &AuditOptions::default()).unwrap();
    let entries_before = {
        let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
        store.entries(1..=audit_before.last_seqno, 10_000).unwrap()
    };

    let ledger = Ledger::open(
        config(&path)
            .key_encryption_key(new.clone())
            .retired_key_encryption_key(old.clone()),
    )
    .unwrap();
    assert_eq!(ledger.receipt(ids[3]).unwrap(), before);
    ledger.close().unwrap();
    for slot in SEALED {
        let stored = meta(&path, slot).unwrap();
        assert_eq!(&stored[2..2 + stored[1] as usize], b"kek-2026", "{slot}");
    }
    // The old key alone no longer opens the ledger; the new one does, with no retired key.
    assert!(Ledger::open(config(&path).key_encryption_key(old)).is_err());
    let ledger = Ledger::open(config(&path).key_encryption_key(new)).unwrap();
    ledger
        .receipt(ids[3])
        .unwrap()
        .verify(&service_pem)
        .unwrap();
    ledger.close().unwrap();
    let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
    assert_eq!(
        store.entries(1..=audit_before.last_seqno, 10_000).unwrap(),
        entries_before,
        "rotation rewrote the history"
    );
}

#[test]
fn a_plaintext_ledger_opened_with_a_key_is_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let ledger = Ledger::open(config(&path)).unwrap();
    let ids = write_some(&ledger, 5);
    ledger.close().unwrap();
    let secret = meta(&path, META_COMMIT_SECRET).unwrap();
    let key = kek("kek-1", 1);
    let ledger = Ledger::open(config(&path).key_encryption_key(key.clone())).unwrap();
    assert_eq!(ledger.status(ids[4]), TxStatus::Committed);
    ledger.close().unwrap();
    for slot in PLAIN {
        assert_eq!(meta(&path, slot), None, "{slot} left in plaintext");
    }
    assert_eq!(
        unseal(&*key, SEALED[0], &meta(&path, SEALED[0]).unwrap()),
        secret
    );
    assert_clean(&path, &AuditOptions::default());
}

/// A service key held by the program (standing in for an HSM or key vault).
#[derive(Debug)]
struct HeldService(ServiceIdentity);

impl ServiceSigner for HeldService {
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, Error> {
        self.0.sign_digest(digest)
    }
    fn certificate_pem(&self) -> &str {
        self.0.certificate_pem()
    }
}

#[test]
fn keys_held_outside_leave_no_private_key_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let service = Arc::new(HeldService(
        ServiceIdentity::generate("held service").unwrap(),
    ));
    let node = Arc::new(NodeIdentity::generate(&*service, "held node").unwrap());
    let key = kek("kek-1", 1);
    let full = || {
        config(&path)
            .service_signer(service.clone())
            .node_signer(node.clone())
            .key_encryption_key(key.clone())
    };
    let ledger = Ledger::open(full()).unwrap();
    assert_eq!(ledger.service_certificate_pem(), service.certificate_pem());
    assert_eq!(ledger.node_id(), node.node_id());
    let ids = write_some(&ledger, 10);
    ledger.close().unwrap();
    for slot in [&PLAIN[1..], &SEALED[1..]].concat() {
        assert_eq!(
            meta(&path, slot),
            None,
            "{slot} in a store whose keys are held outside"
        );
    }
    assert!(meta(&path, META_SERVICE_CERT).is_some());

    // Without the node signer the ledger cannot sign, and says so.
    match Ledger::open(config(&path).key_encryption_key(key.clone())) {
        Err(Error::InvalidInput { what, .. }) => assert_eq!(what, "node_signer"),
        other => panic!("expected a missing node signer, got {other:?}"),
    }
    // Another service's signer is not this ledger's.
    let other = Arc::new(HeldService(ServiceIdentity::generate("other").unwrap()));
    match Ledger::open(full().service_signer(other)) {
        Err(Error::InvalidInput { what, .. }) => assert_eq!(what, "service_signer"),
        other => panic!("expected a service signer mismatch, got {other:?}"),
    }
    let ledger = Ledger::open(full()).unwrap();
    ledger
        .receipt(ids[9])
        .unwrap()
        .verify(service.certificate_pem())
        .unwrap();
    ledger.close().unwrap();
    assert_clean(
        &path,
        &AuditOptions::default()
            .service_certificate(service.certificate_pem())
            .unwrap(),
    );
}

#[test]
fn a_service_signer_certifies_the_node_key_the_ledger_creates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let service = Arc::new(HeldService(
        ServiceIdentity::generate("held service").unwrap(),
    ));
    let ledger = Ledger::open(config(&path).service_signer(service.clone())).unwrap();
    let ids = write_some(&ledger, 3);
    ledger
        .receipt(ids[2])
        .unwrap()
        .verify(service.certificate_pem())
        .unwrap();
    ledger.close().unwrap();
    assert_eq!(meta(&path, PLAIN[1]), None);
    assert!(
        meta(&path, PLAIN[2]).is_some(),
        "the node key is the store's"
    );
    // Without the service key the ledger cannot sign COSE roots; in JSON mode it needs none.
    assert!(Ledger::open(config(&path)).is_err());
    Ledger::open(config(&path).signing_mode(ledger_core::SigningMode::Json))
        .unwrap()
        .close()
        .unwrap();
}

#[test]
fn a_node_signer_the_service_did_not_endorse_is_refused() {
    let service = ServiceIdentity::generate("service").unwrap();
    let stranger = ServiceIdentity::generate("stranger").unwrap();
    let node: Arc<dyn NodeSigner> = Arc::new(NodeIdentity::generate(&stranger, "node").unwrap());
    match Ledger::in_memory_with(
        LedgerConfig::new("")
            .service_identity(service)
            .node_signer(node),
    ) {
        Err(Error::InvalidInput { what, .. }) => assert_eq!(what, "node signer"),
        other => panic!("expected the node signer refused, got {other:?}"),
    }
}

fn fixture_copy(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ledger-v1");
    std::fs::create_dir_all(to).unwrap();
    for file in files_under(&from) {
        std::fs::copy(&file, to.join(file.file_name().unwrap())).unwrap();
    }
}

/// The fixture is a ledger written by the release before this format (24 transactions in
/// collections `audit` and `orders`, some with claims, secrets in plaintext, entry format 1).
#[test]
fn a_ledger_written_in_entry_format_1_opens_audits_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    fixture_copy(&path);
    assert_clean(&path, &AuditOptions::default());
    let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
    let first = store.entry(1).unwrap().unwrap();
    assert_eq!(first[0], 1, "the fixture holds version-1 entries");
    assert_eq!(store.meta(META_SERVICE_CERT).unwrap(), None);
    let old_last = store.state().last_seqno;
    drop(store);

    let ledger = Ledger::open(config(&path)).unwrap();
    let service_pem = ledger.service_certificate_pem();
    let old: Vec<_> = ledger
        .entries("orders", ..)
        .map(|e| e.unwrap().tx_id)
        .collect();
    assert_eq!(old.len(), 12);
    for id in &old {
        ledger.receipt(*id).unwrap().verify(&service_pem).unwrap();
    }
    let new = write_some(&ledger, 4);
    ledger
        .receipt(new[3])
        .unwrap()
        .verify(&service_pem)
        .unwrap();
    ledger.close().unwrap();
    let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
    let newest = store.entry(store.state().last_seqno).unwrap().unwrap();
    assert_eq!(newest[0], ledger_core::ENTRY_FORMAT_VERSION);
    assert!(store.meta(META_SERVICE_CERT).unwrap().is_some());
    assert!(store.state().last_seqno > old_last);
    drop(store);
    let pinned = AuditOptions::default()
        .service_certificate(&service_pem)
        .unwrap();
    assert_clean(&path, &pinned);

    // Sealed, its old entries need the key to audit: they record no commit-evidence digest.
    let key = kek("kek-1", 1);
    Ledger::open(config(&path).key_encryption_key(key.clone()))
        .unwrap()
        .close()
        .unwrap();
    let report = audit_path(&path, &pinned).unwrap();
    let finding = report.finding.expect("a version-1 entry needs the secret");
    assert_eq!(finding.seqno, Some(1));
    assert_clean(&path, &pinned.key_encryption_key(key));
}

/// The names, extended key usages and issuer signature of a server certificate, checked
/// against the service certificate's key.
fn check_server_certificate(der: &[u8], service_pem: &str, dns: &[&str], ips: &[IpAddr]) {
    use der::{Decode, DecodePem, Encode};
    use p256::ecdsa::signature::Verifier;
    use x509_cert::ext::pkix::name::GeneralName;
    use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};

    let cert = x509_cert::Certificate::from_der(der).unwrap();
    let service = x509_cert::Certificate::from_pem(service_pem).unwrap();
    assert_eq!(cert.tbs_certificate.issuer, service.tbs_certificate.subject);
    let service_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        service
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
    .unwrap();
    let signature =
        p256::ecdsa::Signature::from_der(cert.signature.raw_bytes()).expect("a DER signature");
    service_key
        .verify(&cert.tbs_certificate.to_der().unwrap(), &signature)
        .expect("the service key signed the server certificate");
    let extensions = cert.tbs_certificate.extensions.as_deref().unwrap_or(&[]);
    let find = |oid| {
        extensions
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
            .unwrap()
    };
    let san =
        SubjectAltName::from_der(&find(der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME)).unwrap();
    let mut seen_dns = Vec::new();
    let mut seen_ips = Vec::new();
    for name in san.0 {
        match name {
            GeneralName::DnsName(n) => seen_dns.push(n.to_string()),
            GeneralName::IpAddress(o) => seen_ips.push(match o.as_bytes().len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(o.as_bytes()).unwrap()),
                _ => IpAddr::from(<[u8; 16]>::try_from(o.as_bytes()).unwrap()),
            }),
            other => panic!("unexpected name {other:?}"),
        }
    }
    assert_eq!(seen_dns, dns);
    assert_eq!(seen_ips, ips);
    let eku =
        ExtendedKeyUsage::from_der(&find(der::oid::db::rfc5280::ID_CE_EXT_KEY_USAGE)).unwrap();
    assert_eq!(eku.0, vec![der::oid::db::rfc5280::ID_KP_SERVER_AUTH]);
}

#[test]
fn the_service_key_issues_server_certificates_in_process_and_through_a_signer() {
    let dns = ["localhost", "ledger.example"];
    let ips: [IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    let dns_owned: Vec<String> = dns.iter().map(|s| s.to_string()).collect();
    let server_key = ledger_core::PublicKey::P256(
        *p256::ecdsa::SigningKey::random(&mut rand::thread_rng()).verifying_key(),
    );
    let validity = ledger_core::CertificateValidity::starting_now();

    // The service key in the store.
    let ledger = Ledger::in_memory().unwrap();
    let der = ledger
        .issue_server_certificate(&server_key, "ledger server", &dns_owned, &ips, validity)
        .unwrap();
    check_server_certificate(&der, &ledger.service_certificate_pem(), &dns, &ips);

    // A service key held outside, reached only through `sign_digest`.
    let service = Arc::new(HeldService(
        ServiceIdentity::generate("held service").unwrap(),
    ));
    let ledger =
        Ledger::in_memory_with(LedgerConfig::new("").service_signer(service.clone())).unwrap();
    let der = ledger
        .issue_server_certificate(&server_key, "ledger server", &dns_owned, &ips, validity)
        .unwrap();
    check_server_certificate(&der, service.certificate_pem(), &dns, &ips);

    // Refusals: no names, a name that is not a host name.
    assert!(matches!(
        ledger.issue_server_certificate(&server_key, "s", &[], &[], validity),
        Err(Error::InvalidInput { what, problem: Problem::Empty, .. })
            if what == "subject alternative names"
    ));
    assert!(matches!(
        ledger.issue_server_certificate(&server_key, "s", &["not a host".into()], &[], validity),
        Err(Error::InvalidInput { what, .. }) if what == "subject alternative name"
    ));
}

#[test]
fn a_ledger_without_its_service_key_issues_no_server_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let service = Arc::new(HeldService(
        ServiceIdentity::generate("held service").unwrap(),
    ));
    Ledger::open(config(&path).service_signer(service.clone()))
        .unwrap()
        .close()
        .unwrap();
    let ledger = Ledger::open(config(&path).signing_mode(ledger_core::SigningMode::Json)).unwrap();
    let key = ledger_core::PublicKey::P256(
        *p256::ecdsa::SigningKey::random(&mut rand::thread_rng()).verifying_key(),
    );
    assert!(matches!(
        ledger.issue_server_certificate(
            &key,
            "s",
            &["localhost".into()],
            &[],
            ledger_core::CertificateValidity::starting_now()
        ),
        Err(Error::InvalidInput { what, .. }) if what == "service_signer"
    ));
    ledger.close().unwrap();
}
