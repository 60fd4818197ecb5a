//! `ledger-hsm` against a real PKCS#11 module: SoftHSM2.
//!
//! SoftHSM2 reads its configuration (`SOFTHSM2_CONF`) when the module is initialized, once
//! per process, so this test binary makes one token directory in a temporary directory,
//! points `SOFTHSM2_CONF` at it before anything loads the module, and gives every test a
//! token of its own (distinct labels), initialized through `cryptoki` (`C_InitToken`,
//! `C_InitPIN`). Without SoftHSM2 the tests fail and say how to install it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use der::{Decode, Encode};
use ledger_core::{
    node_id_of, CertificateValidity, KeyEncryptionKey, Ledger, LedgerConfig, NodeSigner,
    ServiceIdentity, ServiceSigner, TxStatus,
};
use ledger_hsm::{
    HsmError, KeyKind, LoginFailure, Pkcs11Kek, Pkcs11NodeSigner, Pkcs11ServiceSigner, Pkcs11Token,
};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use parking_lot::Mutex;
use x509_cert::Certificate;

const SO_PIN: &str = "so-pin-5678";
const USER_PIN: &str = "user-pin-1234";

/// Where distributions put the SoftHSM2 module.
const MODULE_CANDIDATES: [&str; 4] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 instance of this test binary.
struct SoftHsm {
    module: PathBuf,
    /// The module as the tests load it themselves, to make tokens and to inspect objects
    /// independently of the crate under test.
    context: Pkcs11,
    /// Serializes token initialization: each takes the one free slot.
    init: Mutex<()>,
    _dir: tempfile::TempDir,
}

static SOFTHSM: LazyLock<SoftHsm> = LazyLock::new(|| {
    let module = MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "SoftHSM2 is not installed (no libsofthsm2.so in {MODULE_CANDIDATES:?}): \
                 run `bash .ci/setup.sh`, which installs the softhsm2 package"
            )
        });
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    // Before the module is first initialized in this process, which is when SoftHSM2 reads it.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let context = Pkcs11::new(&module).unwrap();
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    SoftHsm {
        module,
        context,
        init: Mutex::new(()),
        _dir: dir,
    }
});

impl SoftHsm {
    /// Initializes a new token labelled `label` with the SO PIN and `user_pin`.
    fn make_token(&self, label: &str, user_pin: &str) {
        let _one_at_a_time = self.init.lock();
        let free = self
            .context
            .get_all_slots()
            .unwrap()
            .into_iter()
            .find(|slot| {
                !self
                    .context
                    .get_token_info(*slot)
                    .unwrap()
                    .token_initialized()
            })
            .expect("SoftHSM2 always offers a free slot");
        let so_pin = AuthPin::from(SO_PIN);
        self.context.init_token(free, &so_pin, label).unwrap();
        let session = self.context.open_rw_session(self.slot_of(label)).unwrap();
        session.login(UserType::So, Some(&so_pin)).unwrap();
        session.init_pin(&AuthPin::from(user_pin)).unwrap();
        session.logout().unwrap();
    }

    fn slot_of(&self, label: &str) -> cryptoki::slot::Slot {
        self.context
            .get_slots_with_initialized_token()
            .unwrap()
            .into_iter()
            .find(|slot| self.context.get_token_info(*slot).unwrap().label() == label)
            .unwrap()
    }

    /// A session of the tests' own on the token, not logged in: it sees private objects
    /// while the crate's session is logged in, since PKCS#11 login is per process.
    fn inspect(&self, label: &str) -> Session {
        self.context.open_ro_session(self.slot_of(label)).unwrap()
    }
}

fn module() -> &'static Path {
    &SOFTHSM.module
}

/// A fresh token labelled `label`, opened through the crate.
fn token(label: &str) -> Arc<Pkcs11Token> {
    SOFTHSM.make_token(label, USER_PIN);
    Arc::new(Pkcs11Token::open(module(), label, USER_PIN).unwrap())
}

fn public_key_of(certificate: impl AsRef<[u8]>) -> VerifyingKey {
    let bytes = certificate.as_ref();
    let der = if bytes.starts_with(b"-----BEGIN") {
        der::pem::decode_vec(bytes).unwrap().1
    } else {
        bytes.to_vec()
    };
    let cert = Certificate::from_der(&der).unwrap();
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    VerifyingKey::from_public_key_der(&spki).unwrap()
}

fn verify(key: &VerifyingKey, digest: &[u8; 32], der_signature: &[u8]) -> bool {
    let signature = DerSignature::from_bytes(der_signature).unwrap();
    key.verify_prehash(digest, &signature).is_ok()
}

#[test]
fn node_signatures_verify_with_the_certificate_key() {
    let token = token("node-sign");
    let key = token.generate_p256("node").unwrap();
    let service = ServiceIdentity::generate("svc").unwrap();
    let cert = service
        .issue_node_certificate(key.verifying_key(), "node0", CertificateValidity::default())
        .unwrap();
    let signer = Pkcs11NodeSigner::new(token.clone(), "node", &cert).unwrap();

    let cert_key = public_key_of(signer.certificate_pem());
    assert_eq!(cert_key, *key.verifying_key());
    let spki = cert_key.to_public_key_der().unwrap();
    assert_eq!(signer.node_id(), node_id_of(spki.as_bytes()));
    assert_eq!(signer.node_id(), key.node_id());
    assert!(signer
        .certificate_pem()
        .starts_with("-----BEGIN CERTIFICATE-----\n"));

    for i in 0..16u8 {
        let root = [i.wrapping_mul(37); 32];
        let signature = signer.sign_root(&root).unwrap();
        assert!(verify(&cert_key, &root, &signature), "root {i}");
        let mut other = root;
        other[0] ^= 1;
        assert!(!verify(&cert_key, &other, &signature), "root {i}");
    }
}

#[test]
fn a_ledger_signing_with_a_token_node_key_gives_receipts_that_verify() {
    let token = token("ledger-node");
    let key = token.generate_p256("node").unwrap();
    let service = ServiceIdentity::generate("svc").unwrap();
    let cert = service
        .issue_node_certificate(key.verifying_key(), "node0", CertificateValidity::default())
        .unwrap();
    let signer = Pkcs11NodeSigner::new(token.clone(), "node", &cert).unwrap();
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .service_identity(service.clone())
            .node_signer(Arc::new(signer)),
    )
    .unwrap();
    assert_eq!(ledger.node_id(), key.node_id());

    let tx = ledger.append("audit", b"signed in the token").unwrap();
    ledger.flush().unwrap();
    assert_eq!(
        ledger.wait_for_commit(tx, Duration::from_secs(10)).unwrap(),
        TxStatus::Committed
    );
    let receipt = ledger.receipt(tx).unwrap();
    assert_eq!(&*receipt.node_id, key.node_id());
    receipt.verify(service.certificate_pem()).unwrap();
    receipt.verify(&ledger.service_certificate_pem()).unwrap();
    let stranger = ServiceIdentity::generate("svc").unwrap();
    assert!(receipt.verify(stranger.certificate_pem()).is_err());
}

#[test]
fn token_service_certificate_matches_the_in_process_profile_and_verifies_receipts() {
    let token = token("service");
    token.generate_p256("service").unwrap();
    let node_key = token.generate_p256("node").unwrap();
    let now = std::time::SystemTime::now();
    let day = Duration::from_secs(86_400);
    let validity = CertificateValidity::new(now - day, now + 365 * day).unwrap();
    let service =
        Pkcs11ServiceSigner::create(token.clone(), "service", "hsm svc", validity).unwrap();

    // The same certificate profile as ledger-core's own service identity.
    let ours = Certificate::from_der(service.certificate_der()).unwrap();
    let reference = ServiceIdentity::generate_with_validity("hsm svc", validity).unwrap();
    let theirs = Certificate::from_der(reference.certificate_der()).unwrap();
    let (t, r) = (&ours.tbs_certificate, &theirs.tbs_certificate);
    assert_eq!(t.version, r.version);
    assert_eq!(t.subject, r.subject);
    assert_eq!(t.issuer, t.subject);
    assert_eq!(t.validity, r.validity);
    assert_eq!(t.signature, r.signature);
    assert_eq!(ours.signature_algorithm, theirs.signature_algorithm);
    assert_eq!(t.serial_number.as_bytes().len(), 16);
    let shape = |c: &Certificate| {
        c.tbs_certificate
            .extensions
            .iter()
            .flatten()
            .map(|e| (e.extn_id, e.critical))
            .collect::<Vec<_>>()
    };
    assert_eq!(shape(&ours), shape(&theirs));
    let value = |c: &Certificate, oid| {
        c.tbs_certificate
            .extensions
            .iter()
            .flatten()
            .find(|e| e.extn_id == oid)
            .unwrap()
            .extn_value
            .clone()
    };
    for oid in [
        der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
        der::oid::db::rfc5280::ID_CE_KEY_USAGE,
    ] {
        assert_eq!(value(&ours, oid), value(&theirs, oid), "{oid}");
    }
    assert_eq!(
        public_key_of(service.certificate_pem()),
        *service.key().verifying_key()
    );

    // sign_digest: DER ECDSA over the digest as prehash, by the certificate's key.
    let digest = [0x5a; 32];
    let signature = service.sign_digest(&digest).unwrap();
    assert!(verify(
        &public_key_of(service.certificate_pem()),
        &digest,
        &signature
    ));

    // A node certificate the token service key issues for the token node key passes every
    // receipt check of ledger-core: take a receipt whose root that node key signed and give
    // it this certificate.
    let node_cert = service
        .issue_node_certificate(node_key.verifying_key(), "node0", validity)
        .unwrap();
    let in_process = ServiceIdentity::generate("svc").unwrap();
    let ledger_cert = in_process
        .issue_node_certificate(node_key.verifying_key(), "node0", validity)
        .unwrap();
    let node = Pkcs11NodeSigner::new(token.clone(), "node", &ledger_cert).unwrap();
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .service_identity(in_process.clone())
            .node_signer(Arc::new(node)),
    )
    .unwrap();
    let tx = ledger.append("audit", b"x").unwrap();
    ledger.flush().unwrap();
    assert_eq!(
        ledger.wait_for_commit(tx, Duration::from_secs(10)).unwrap(),
        TxStatus::Committed
    );
    let mut receipt = ledger.receipt(tx).unwrap();
    receipt.verify(in_process.certificate_pem()).unwrap();
    let hsm_node = Pkcs11NodeSigner::new(token.clone(), "node", &node_cert).unwrap();
    receipt.cert = hsm_node.certificate_pem().into();
    receipt.verify(service.certificate_pem()).unwrap();
    assert!(receipt.verify(in_process.certificate_pem()).is_err());

    // Reopening with the certificate: the same certificate; another key's refused; a
    // certificate that is not self-signed refused.
    let reopened =
        Pkcs11ServiceSigner::open(token.clone(), "service", service.certificate_pem()).unwrap();
    assert_eq!(reopened.certificate_pem(), service.certificate_pem());
    assert!(matches!(
        Pkcs11ServiceSigner::open(token.clone(), "node", service.certificate_pem()),
        Err(HsmError::CertificateKeyMismatch { label }) if label == "node"
    ));
    assert!(matches!(
        Pkcs11ServiceSigner::open(token.clone(), "node", &node_cert),
        Err(HsmError::InvalidInput {
            what: "service certificate",
            ..
        })
    ));
    assert!(matches!(
        Pkcs11ServiceSigner::create(token.clone(), "service", "", validity),
        Err(HsmError::InvalidInput {
            what: "common name",
            ..
        })
    ));
}

#[test]
fn kek_round_trips_and_refuses_tampering_other_data_and_other_keys() {
    let token = token("kek");
    token.generate_aes256("kek-1").unwrap();
    token.generate_aes256("kek-2").unwrap();
    let kek = Pkcs11Kek::new(token.clone(), "kek-1").unwrap();
    let other = Pkcs11Kek::new(token.clone(), "kek-2").unwrap();
    assert_eq!(kek.key_id(), "kek-1");

    let secret = b"the commit secret, 32 bytes long";
    let aad = b"ledger-sealed-secret-v1\0core.commit_secret";
    let sealed = kek.seal(secret, aad).unwrap();
    assert_eq!(sealed.len(), 12 + secret.len() + 16);
    assert!(!sealed.windows(secret.len()).any(|w| w == secret));
    assert_eq!(kek.open(&sealed, aad).unwrap().as_slice(), secret);
    // A fresh IV every time.
    assert_ne!(kek.seal(secret, aad).unwrap(), sealed);
    // The empty plaintext and the empty associated data round trip too.
    let empty = kek.seal(b"", b"").unwrap();
    assert!(kek.open(&empty, b"").unwrap().is_empty());

    for i in 0..sealed.len() {
        let mut tampered = sealed.clone();
        tampered[i] ^= 0x01;
        assert!(
            matches!(
                kek.open(&tampered, aad),
                Err(ledger_core::Error::Crypto { .. })
            ),
            "byte {i}"
        );
    }
    for cut in 0..sealed.len() {
        assert!(
            matches!(
                kek.open(&sealed[..cut], aad),
                Err(ledger_core::Error::Crypto { .. })
            ),
            "cut {cut}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(kek.open(&longer, aad).is_err());
    assert!(matches!(
        kek.open(&sealed, b"ledger-sealed-secret-v1\0core.node_identity"),
        Err(ledger_core::Error::Crypto { .. })
    ));
    assert!(matches!(
        other.open(&sealed, aad),
        Err(ledger_core::Error::Crypto { .. })
    ));
    // The token still works after the refusals.
    assert_eq!(kek.open(&sealed, aad).unwrap().as_slice(), secret);

    assert!(matches!(
        Pkcs11Kek::new(token.clone(), &"k".repeat(256)),
        Err(HsmError::InvalidInput { .. })
    ));
}

#[test]
fn private_keys_are_sensitive_and_not_extractable() {
    let label = "sensitive";
    let token = token(label);
    token.generate_p256("generated").unwrap();
    let secret = p256::SecretKey::from_slice(&[0x11; 32]).unwrap();
    token.import_p256("imported", &secret).unwrap();
    token.generate_aes256("aes").unwrap();

    let session = SOFTHSM.inspect(label);
    for (key_label, class, key_type) in [
        ("generated", ObjectClass::PRIVATE_KEY, KeyType::EC),
        ("imported", ObjectClass::PRIVATE_KEY, KeyType::EC),
        ("aes", ObjectClass::SECRET_KEY, KeyType::AES),
    ] {
        let found = session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::KeyType(key_type),
                Attribute::Label(key_label.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(found.len(), 1, "{key_label}");
        let key = found[0];
        let info = session
            .get_attribute_info(key, &[AttributeType::Value])
            .unwrap();
        assert!(
            matches!(info.as_slice(), [AttributeInfo::Sensitive]),
            "{key_label}: CKA_VALUE is {info:?}"
        );
        let attributes = session
            .get_attributes(
                key,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Value,
                ],
            )
            .unwrap();
        for expected in [
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Token(true),
            Attribute::Private(true),
        ] {
            assert!(
                attributes.contains(&expected),
                "{key_label}: {expected:?} missing from {attributes:?}"
            );
        }
        assert!(
            !attributes.iter().any(|a| matches!(a, Attribute::Value(_))),
            "{key_label}: the token gave out CKA_VALUE"
        );
    }
}

#[test]
fn imported_keys_sign_for_their_public_key() {
    let token = token("import");
    let secret = p256::SecretKey::from_slice(&[0x42; 32]).unwrap();
    let public = VerifyingKey::from(secret.public_key());
    let imported = token.import_p256("node", &secret).unwrap();
    assert_eq!(*imported.verifying_key(), public);
    let found = token.find_p256("node").unwrap();
    assert_eq!(*found.verifying_key(), public);
    assert_eq!(found.node_id(), imported.node_id());

    let service = ServiceIdentity::generate("svc").unwrap();
    let cert = service
        .issue_node_certificate(&public, "node0", CertificateValidity::default())
        .unwrap();
    let signer = Pkcs11NodeSigner::new(token.clone(), "node", &cert).unwrap();
    let root = [9u8; 32];
    assert!(verify(&public, &root, &signer.sign_root(&root).unwrap()));
    assert!(matches!(
        token.import_p256("node", &secret),
        Err(HsmError::KeyExists {
            kind: KeyKind::P256PrivateKey,
            ..
        })
    ));
}

#[test]
fn node_signer_refuses_a_certificate_for_another_key_or_no_certificate() {
    let token = token("mismatch");
    let a = token.generate_p256("a").unwrap();
    token.generate_p256("b").unwrap();
    let service = ServiceIdentity::generate("svc").unwrap();
    let cert_a = service
        .issue_node_certificate(a.verifying_key(), "a", CertificateValidity::default())
        .unwrap();
    assert!(matches!(
        Pkcs11NodeSigner::new(token.clone(), "b", &cert_a),
        Err(HsmError::CertificateKeyMismatch { label }) if label == "b"
    ));
    assert!(matches!(
        Pkcs11NodeSigner::new(token.clone(), "a", b"not a certificate"),
        Err(HsmError::InvalidInput {
            what: "certificate",
            ..
        })
    ));
    assert!(matches!(
        Pkcs11NodeSigner::new(
            token.clone(),
            "a",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        ),
        Err(HsmError::InvalidInput {
            what: "certificate",
            ..
        })
    ));
    // PEM and DER are both accepted and kept as the same PEM.
    let from_der = Pkcs11NodeSigner::new(token.clone(), "a", &cert_a).unwrap();
    let from_pem = Pkcs11NodeSigner::new(token.clone(), "a", from_der.certificate_pem()).unwrap();
    assert_eq!(from_der.certificate_pem(), from_pem.certificate_pem());
}

#[test]
fn wrong_pin_missing_token_and_missing_keys_are_typed_errors() {
    SOFTHSM.make_token("pin", USER_PIN);
    let wrong = Pkcs11Token::open(module(), "pin", "not-the-pin").unwrap_err();
    assert!(
        matches!(&wrong, HsmError::Login { label, reason: LoginFailure::PinIncorrect } if label == "pin"),
        "{wrong:?}"
    );
    assert!(wrong.is_pin_incorrect());
    assert!(matches!(
        ledger_core::Error::from(wrong),
        ledger_core::Error::Crypto {
            operation: "logging in to the PKCS#11 token",
            ..
        }
    ));

    assert!(matches!(
        Pkcs11Token::open(module(), "no-such-token", USER_PIN),
        Err(HsmError::TokenNotFound { label, .. }) if label == "no-such-token"
    ));
    assert!(matches!(
        Pkcs11Token::open("/nonexistent/libpkcs11.so", "pin", USER_PIN),
        Err(HsmError::Module { .. })
    ));
    assert!(matches!(
        Pkcs11Token::open(module(), "", USER_PIN),
        Err(HsmError::InvalidInput {
            what: "token label",
            ..
        })
    ));

    // The right PIN opens it; a second open in this process is refused until the first is
    // dropped.
    let token = Pkcs11Token::open(module(), "pin", USER_PIN).unwrap();
    assert!(matches!(
        Pkcs11Token::open(module(), "pin", USER_PIN),
        Err(HsmError::TokenAlreadyOpen { label }) if label == "pin"
    ));
    assert!(matches!(
        token.find_p256("missing"),
        Err(HsmError::KeyNotFound { kind: KeyKind::P256PrivateKey, label, .. }) if label == "missing"
    ));
    assert!(matches!(
        token.find_aes256("missing"),
        Err(HsmError::KeyNotFound {
            kind: KeyKind::Aes256Key,
            ..
        })
    ));
    token.generate_p256("k").unwrap();
    assert!(matches!(
        token.generate_p256("k"),
        Err(HsmError::KeyExists {
            kind: KeyKind::P256PrivateKey,
            ..
        })
    ));
    assert!(matches!(
        token.generate_p256(""),
        Err(HsmError::InvalidInput {
            what: "key label",
            ..
        })
    ));
    drop(token);
    let token = Arc::new(Pkcs11Token::open(module(), "pin", USER_PIN).unwrap());
    // Keys persist in the token across sessions.
    token.find_p256("k").unwrap();
    assert!(matches!(
        Pkcs11Kek::new(token.clone(), "k"),
        Err(HsmError::KeyNotFound {
            kind: KeyKind::Aes256Key,
            ..
        })
    ));
}

#[test]
fn debug_never_shows_the_pin() {
    let pin = "distinctive-pin-8c1e";
    SOFTHSM.make_token("debug", pin);
    let token = Arc::new(Pkcs11Token::open(module(), "debug", pin).unwrap());
    let key = token.generate_p256("node").unwrap();
    token.generate_aes256("kek").unwrap();
    let kek = Pkcs11Kek::new(token.clone(), "kek").unwrap();
    let service =
        Pkcs11ServiceSigner::create(token.clone(), "node", "svc", CertificateValidity::default())
            .unwrap();
    let shown = format!("{token:?} {key:?} {kek:?} {service:?}");
    assert!(
        shown.contains("debug") && shown.contains(key.node_id()),
        "{shown}"
    );
    assert!(!shown.contains(pin), "{shown}");
}

#[test]
fn one_token_serves_many_threads() {
    let token = token("threads");
    let key = token.generate_p256("node").unwrap();
    token.generate_aes256("kek").unwrap();
    let service = ServiceIdentity::generate("svc").unwrap();
    let cert = service
        .issue_node_certificate(key.verifying_key(), "node0", CertificateValidity::default())
        .unwrap();
    let signer = Arc::new(Pkcs11NodeSigner::new(token.clone(), "node", &cert).unwrap());
    let kek = Arc::new(Pkcs11Kek::new(token.clone(), "kek").unwrap());
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let (signer, kek, public) = (signer.clone(), kek.clone(), *key.verifying_key());
            std::thread::spawn(move || {
                for i in 0..25u8 {
                    let root = [t.wrapping_mul(64).wrapping_add(i); 32];
                    assert!(verify(&public, &root, &signer.sign_root(&root).unwrap()));
                    let sealed = kek.seal(&root, &[t]).unwrap();
                    assert_eq!(kek.open(&sealed, &[t]).unwrap().as_slice(), root);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

/// The steps of the crate-level example (a `no_run` doc test, since it needs a token).
#[test]
fn crate_example_runs() {
    SOFTHSM.make_token("example", "1234");
    let token = Arc::new(Pkcs11Token::open(module(), "example", "1234").unwrap());
    token.generate_p256("service").unwrap();
    let node_key = token.generate_p256("node0").unwrap();
    token.generate_aes256("kek").unwrap();
    let validity = CertificateValidity::starting_now();
    let service =
        Pkcs11ServiceSigner::create(token.clone(), "service", "my ledger", validity).unwrap();
    let node_cert = service
        .issue_node_certificate(node_key.verifying_key(), "node0", validity)
        .unwrap();
    let node = Pkcs11NodeSigner::new(token.clone(), "node0", &node_cert).unwrap();
    let kek = Pkcs11Kek::new(token.clone(), "kek").unwrap();
    let root = [7u8; 32];
    let signature = node.sign_root(&root).unwrap();
    assert!(verify(node_key.verifying_key(), &root, &signature));
    let sealed = kek.seal(b"a secret", b"its slot").unwrap();
    assert_eq!(
        kek.open(&sealed, b"its slot").unwrap().as_slice(),
        b"a secret"
    );
    // After a restart: the same signers from the token and the kept certificates.
    let service_pem = service.certificate_pem().to_owned();
    drop((service, node, kek));
    let service = Pkcs11ServiceSigner::open(token.clone(), "service", &service_pem).unwrap();
    let node = Pkcs11NodeSigner::new(token.clone(), "node0", &node_cert).unwrap();
    assert_eq!(service.certificate_pem(), service_pem);
    assert!(verify(
        node_key.verifying_key(),
        &root,
        &node.sign_root(&root).unwrap()
    ));
}

/// The login state of a process is shared: the tests' own `C_Login` on a token the crate has
/// open fails, which is what [`HsmError::TokenAlreadyOpen`] guards against inside the crate.
#[test]
fn login_state_is_per_process() {
    let token = token("per-process");
    let session = SOFTHSM.inspect(token.label());
    let again = session.login(UserType::User, Some(&AuthPin::from(USER_PIN)));
    assert!(
        matches!(again, Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _))),
        "{again:?}"
    );
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

/// Every file under `dirs`, searched for every needle: none may hold any.
fn assert_nowhere(dirs: &[&Path], needles: &[(&[u8], &str)]) {
    for dir in dirs {
        for file in files_under(dir) {
            let bytes = std::fs::read(&file).unwrap();
            for (needle, what) in needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == *needle),
                    "{what} found in {}",
                    file.display()
                );
            }
        }
    }
}

/// Issue 11's proof of keys held apart from the history: a RocksDB ledger whose service key,
/// node key and key-encryption key live in a SoftHSM2 token is created, used, reopened,
/// backed up, restored and audited, and no file of the store or the backup holds either
/// private key or the commit secret. The private keys are imported (the test must know their
/// bytes to search for them); the commit secret is read back by unsealing its record with the
/// token's key-encryption key.
#[test]
fn a_ledger_whose_keys_live_in_the_token_keeps_no_secret_on_disk() {
    use ledger_core::{audit_path, AuditOptions, Durability};
    use ledger_store::{RocksStore, Store, StoreConfig};

    let token = token("end-to-end");
    let service_secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let node_secret = p256::SecretKey::random(&mut rand_core::OsRng);
    token.import_p256("service", &service_secret).unwrap();
    let node_key = token.import_p256("node", &node_secret).unwrap();
    token.generate_aes256("kek").unwrap();
    let validity = CertificateValidity::starting_now();
    let service = Arc::new(
        Pkcs11ServiceSigner::create(token.clone(), "service", "hsm ledger", validity).unwrap(),
    );
    let node_cert = service
        .issue_node_certificate(node_key.verifying_key(), "node0", validity)
        .unwrap();
    let node = Arc::new(Pkcs11NodeSigner::new(token.clone(), "node", &node_cert).unwrap());
    let kek = Arc::new(Pkcs11Kek::new(token.clone(), "kek").unwrap());
    let service_pem = service.certificate_pem().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let config = || {
        LedgerConfig::new(&path)
            .durability(Durability::Fsync)
            .sig_interval(Duration::from_millis(1))
            .service_signer(service.clone())
            .node_signer(node.clone())
            .key_encryption_key(kek.clone())
    };
    let ledger = Ledger::open(config()).unwrap();
    assert_eq!(ledger.service_certificate_pem(), service_pem);
    let first: Vec<_> = (0..40u32)
        .map(|i| ledger.append("audit", &i.to_be_bytes()).unwrap())
        .collect();
    ledger.flush().unwrap();
    ledger
        .receipt(first[39])
        .unwrap()
        .verify(&service_pem)
        .unwrap();
    ledger.close().unwrap();

    let ledger = Ledger::open(config()).unwrap();
    assert_eq!(ledger.status(first[0]), TxStatus::Committed);
    let later = ledger.append("audit", b"after reopening").unwrap();
    ledger.flush().unwrap();
    for id in [first[0], first[20], later] {
        ledger.receipt(id).unwrap().verify(&service_pem).unwrap();
    }
    ledger.close().unwrap();

    let backup = dir.path().join("backup");
    let restored = dir.path().join("restored");
    let sealed_secret = {
        let (store, _) = RocksStore::open(&path, StoreConfig::default()).unwrap();
        store.backup(&backup).unwrap();
        for plain in [
            "core.commit_secret",
            "core.service_identity",
            "core.node_identity",
        ] {
            assert_eq!(store.meta(plain).unwrap(), None, "{plain}");
        }
        for sealed in ["core.service_identity.sealed", "core.node_identity.sealed"] {
            assert_eq!(store.meta(sealed).unwrap(), None, "{sealed}");
        }
        store.meta("core.commit_secret.sealed").unwrap().unwrap()
    };
    RocksStore::restore(&backup, &restored).unwrap();
    let pinned = AuditOptions::default()
        .service_certificate(&service_pem)
        .unwrap();
    for audited in [&path, &restored] {
        let report = audit_path(audited, &pinned).unwrap();
        assert!(report.is_clean(), "{:?}", report.finding);
        assert!(report.service_certificate_pinned);
        assert!(report.signatures >= 2);
    }

    // The sealed record: version 1, the key id, then what the token sealed (see
    // `ledger_core`'s sealing format); the associated data names the record.
    assert_eq!(sealed_secret[0], 1);
    let id_len = usize::from(sealed_secret[1]);
    assert_eq!(&sealed_secret[2..2 + id_len], b"kek");
    let secret = kek
        .open(
            &sealed_secret[2 + id_len..],
            b"ledger-sealed-secret-v1\0core.commit_secret.sealed",
        )
        .unwrap();
    assert_eq!(secret.len(), 32);
    let service_bytes = service_secret.to_bytes();
    let node_bytes = node_secret.to_bytes();
    assert_nowhere(
        &[&path, &backup, &restored],
        &[
            (service_bytes.as_slice(), "the service private key"),
            (node_bytes.as_slice(), "the node private key"),
            (secret.as_slice(), "the commit secret"),
        ],
    );

    // The restored copy runs from the token too.
    let ledger = Ledger::open(
        LedgerConfig::new(&restored)
            .service_signer(service.clone())
            .node_signer(node.clone())
            .key_encryption_key(kek.clone()),
    )
    .unwrap();
    ledger.receipt(later).unwrap().verify(&service_pem).unwrap();
    ledger.close().unwrap();
}
