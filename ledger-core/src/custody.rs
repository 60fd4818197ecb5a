//! Where the engine's keys and its commit secret are held, and how they are read back.
//!
//! A ledger has three secrets: the **commit secret** (from which every commit evidence is
//! derived), the **service key** (the CA receipts are verified against; it certifies node
//! keys) and the **node key** (it signs Merkle roots). Each is held in one of these ways:
//!
//! | secret | in the store, plaintext | in the store, sealed | outside the store |
//! | --- | --- | --- | --- |
//! | commit secret | default | with [`crate::LedgerConfig::key_encryption_key`] | never: the engine needs it for every transaction |
//! | service key | default | with a key-encryption key | [`crate::LedgerConfig::service_signer`] |
//! | node key | default | with a key-encryption key | [`crate::LedgerConfig::node_signer`] |
//!
//! The service certificate is always stored in plaintext (metadata `core.service_cert`, and
//! the genesis transaction), as every node certificate is (table `internal.nodes` and each
//! signature transaction): opening a ledger and auditing it read only those.
//!
//! # Rules at open
//!
//! * The commit secret must be readable: in plaintext, or sealed under the configured
//!   key-encryption key or one of the retired keys
//!   ([`crate::LedgerConfig::retired_key_encryption_key`]); otherwise the open fails with
//!   [`crate::Error::InvalidInput`] naming the key that sealed it, and nothing is written.
//! * With a key-encryption key configured, every secret found in plaintext or sealed under a
//!   retired key is sealed under the current key and the old record deleted, in one group
//!   written and synced before the ledger starts: rotation rewrites three metadata records and
//!   never the history.
//! * A configured service signer must present the ledger's service certificate; a node
//!   signer, a certificate the service certificate endorses by the path rules receipts are
//!   held to. Without a node signer the stored node key is used, and its absence is an
//!   [`crate::Error::InvalidInput`] asking for one.

use std::sync::Arc;

use ledger_store::Store;
use p256::elliptic_curve::zeroize::Zeroizing;

use crate::config::LedgerConfig;
use crate::identity::CertificateValidity;
use crate::identity::{
    verify_cert_signed_by, NodeIdentity, NodeSigner, ParsedCert, ServiceIdentity, ServiceSigner,
};
use crate::leaf::CommitSecret;
use crate::sealing::{self, KeyEncryptionKey};
use crate::state::{
    META_COMMIT_SECRET, META_COMMIT_SECRET_SEALED, META_NODE_IDENTITY, META_NODE_IDENTITY_SEALED,
    META_SERVICE_CERT, META_SERVICE_IDENTITY, META_SERVICE_IDENTITY_SEALED,
};
use crate::{Error, Problem, Result};

/// Metadata writes: `Some` puts, `None` deletes.
pub(crate) type MetaWrites = Vec<(String, Option<Vec<u8>>)>;

/// What the engine runs with once its secrets are read.
pub(crate) struct Custody {
    pub(crate) secret: CommitSecret,
    pub(crate) service_cert: ParsedCert,
    pub(crate) signer: Arc<dyn NodeSigner>,
    /// The service key, when this process can use it: the configured signer, or the key the
    /// store holds (plaintext or sealed under a configured key). It signs COSE roots.
    pub(crate) service: Option<Arc<dyn ServiceSigner>>,
}

/// A secret's two metadata records: plaintext and sealed.
#[derive(Clone, Copy)]
struct Slot {
    plain: &'static str,
    sealed: &'static str,
}

const COMMIT_SECRET: Slot = Slot {
    plain: META_COMMIT_SECRET,
    sealed: META_COMMIT_SECRET_SEALED,
};
const SERVICE_IDENTITY: Slot = Slot {
    plain: META_SERVICE_IDENTITY,
    sealed: META_SERVICE_IDENTITY_SEALED,
};
const NODE_IDENTITY: Slot = Slot {
    plain: META_NODE_IDENTITY,
    sealed: META_NODE_IDENTITY_SEALED,
};

/// The configured key-encryption keys.
struct Keys<'a> {
    current: Option<&'a dyn KeyEncryptionKey>,
    retired: Vec<&'a dyn KeyEncryptionKey>,
}

impl<'a> Keys<'a> {
    fn of(config: &'a LedgerConfig) -> Self {
        Keys {
            current: config.key_encryption_key.as_deref(),
            retired: config
                .retired_key_encryption_keys
                .iter()
                .map(|k| &**k)
                .collect(),
        }
    }

    /// The records that store `bytes` in `slot`: sealed under the current key if there is
    /// one (deleting any plaintext), else in plaintext.
    fn store(&self, slot: Slot, bytes: &[u8]) -> Result<MetaWrites> {
        Ok(match self.current {
            Some(kek) => vec![
                (
                    slot.sealed.into(),
                    Some(sealing::seal(kek, slot.sealed, bytes)?),
                ),
                (slot.plain.into(), None),
            ],
            None => vec![(slot.plain.into(), Some(bytes.to_vec()))],
        })
    }

    /// Reads `slot`, and the records that would leave it sealed under the current key if it
    /// is not already.
    fn read(&self, store: &dyn Store, slot: Slot) -> Result<Option<(Zeroizing<Vec<u8>>, bool)>> {
        if let Some(sealed) = store.meta(slot.sealed)? {
            let (id, _) = sealing::sealed_key_id(slot.sealed, &sealed)?;
            let current = self.current.filter(|k| k.key_id() == id);
            let kek = current
                .or_else(|| self.retired.iter().copied().find(|k| k.key_id() == id))
                .ok_or_else(|| {
                    Error::invalid(
                        "key_encryption_key",
                        Problem::Mismatch {
                            expected: format!("key {id:?}, which sealed {}", slot.sealed),
                            found: match self.current {
                                Some(k) => format!("key {:?}", k.key_id()),
                                None => "no key-encryption key".into(),
                            },
                        },
                    )
                })?;
            let plain = sealing::open(kek, slot.sealed, &sealed)?;
            return Ok(Some((plain, current.is_some() || self.current.is_none())));
        }
        Ok(store
            .meta(slot.plain)?
            .map(|plain| (Zeroizing::new(plain), self.current.is_none())))
    }
}

/// Creates the secrets of a new ledger as `config` asks, returning them with the metadata
/// records to write.
///
/// # Errors
///
/// [`Error::InvalidInput`] if a configured signer's certificate is unusable;
/// [`Error::Crypto`] if generating, issuing or sealing fails.
pub(crate) fn create(config: &LedgerConfig) -> Result<(Custody, MetaWrites)> {
    let keys = Keys::of(config);
    let mut writes = MetaWrites::new();
    let secret = CommitSecret::generate()?;
    writes.extend(keys.store(COMMIT_SECRET, secret.to_bytes().as_slice())?);
    let service: Arc<dyn ServiceSigner> = match (&config.service_signer, &config.service_identity) {
        (Some(signer), _) => Arc::clone(signer),
        (None, identity) => {
            let generated = match identity {
                Some(identity) => identity.clone(),
                None => ServiceIdentity::generate_with_algorithm(
                    &config.service_name,
                    config.key_algorithm,
                    CertificateValidity::starting_now(),
                )?,
            };
            writes.extend(keys.store(SERVICE_IDENTITY, &generated.to_bytes()?)?);
            Arc::new(generated)
        }
    };
    let service_cert = parse_service_certificate(service.certificate_pem())?;
    writes.push((META_SERVICE_CERT.into(), Some(service_cert.der.clone())));
    let signer: Arc<dyn NodeSigner> = match &config.node_signer {
        Some(signer) => Arc::clone(signer),
        None => {
            let node = NodeIdentity::generate_with_algorithm(
                &*service,
                "ledger node",
                config.key_algorithm,
                CertificateValidity::starting_now(),
            )?;
            writes.extend(keys.store(NODE_IDENTITY, &node.to_bytes()?)?);
            Arc::new(node)
        }
    };
    check_node_signer(&*signer, &service_cert)?;
    Ok((
        Custody {
            secret,
            service_cert,
            signer,
            service: Some(service),
        },
        writes,
    ))
}

/// Reads the secrets of an existing ledger, returning them with the metadata records that
/// seal what the configured key-encryption key does not yet seal (see the module's rules).
///
/// # Errors
///
/// [`Error::InvalidInput`] if a secret is sealed under a key not configured, or a configured
/// signer does not belong to the ledger; [`Error::Corruption`] if a record is damaged or
/// missing; [`Error::Crypto`] if a key refuses to open a secret.
pub(crate) fn open(store: &dyn Store, config: &LedgerConfig) -> Result<(Custody, MetaWrites)> {
    let keys = Keys::of(config);
    let mut writes = MetaWrites::new();
    let missing = |slot: Slot| {
        Error::corruption(
            format!("metadata {}", slot.plain),
            "absent, both in plaintext and sealed".to_owned(),
        )
    };
    let (secret_bytes, settled) = keys
        .read(store, COMMIT_SECRET)?
        .ok_or_else(|| missing(COMMIT_SECRET))?;
    let secret = CommitSecret::from_slice(&secret_bytes)
        .map_err(|e| Error::corruption(format!("metadata {}", COMMIT_SECRET.plain), e))?;
    if !settled {
        writes.extend(keys.store(COMMIT_SECRET, &secret_bytes)?);
    }
    let stored_service = keys.read(store, SERVICE_IDENTITY)?;
    if let Some((bytes, false)) = &stored_service {
        writes.extend(keys.store(SERVICE_IDENTITY, bytes)?);
    }
    let stored_service = stored_service
        .map(|(bytes, _)| ServiceIdentity::from_bytes(&bytes))
        .transpose()?;
    let service_cert = match store.meta(META_SERVICE_CERT)? {
        Some(der) => ParsedCert::from_der(&der)
            .map_err(|e| Error::corruption(format!("metadata {META_SERVICE_CERT}"), e))?,
        None => {
            // Ledgers created before the certificate had a public record of its own.
            let identity = stored_service
                .as_ref()
                .ok_or_else(|| missing(SERVICE_IDENTITY))?;
            writes.push((
                META_SERVICE_CERT.into(),
                Some(identity.certificate_der().to_vec()),
            ));
            ParsedCert::from_der(identity.certificate_der())
                .map_err(|e| Error::corruption(format!("metadata {META_SERVICE_IDENTITY}"), e))?
        }
    };
    if let Some(identity) = &stored_service {
        if identity.certificate_der() != service_cert.der.as_slice() {
            return Err(Error::corruption(
                format!("metadata {META_SERVICE_IDENTITY}"),
                "the stored service key is not the key of the service certificate".to_owned(),
            ));
        }
    }
    if let Some(signer) = &config.service_signer {
        let theirs = parse_service_certificate(signer.certificate_pem())?;
        if theirs.der != service_cert.der {
            return Err(Error::invalid(
                "service_signer",
                Problem::Mismatch {
                    expected: format!(
                        "this ledger's service certificate (key {})",
                        service_cert.node_id
                    ),
                    found: format!("a certificate for key {}", theirs.node_id),
                },
            ));
        }
    }
    let stored_node = keys.read(store, NODE_IDENTITY)?;
    if let Some((bytes, false)) = &stored_node {
        writes.extend(keys.store(NODE_IDENTITY, bytes)?);
    }
    let signer: Arc<dyn NodeSigner> = match (&config.node_signer, stored_node) {
        (Some(signer), _) => Arc::clone(signer),
        (None, Some((bytes, _))) => Arc::new(NodeIdentity::from_bytes(&bytes)?),
        (None, None) => {
            return Err(Error::invalid(
                "node_signer",
                Problem::Mismatch {
                    expected: "a node signer: this ledger's node key is not held in its store"
                        .into(),
                    found: "none".into(),
                },
            ))
        }
    };
    check_node_signer(&*signer, &service_cert)?;
    let service = match (&config.service_signer, stored_service) {
        (Some(signer), _) => Some(Arc::clone(signer)),
        (None, Some(identity)) => Some(Arc::new(identity) as Arc<dyn ServiceSigner>),
        (None, None) => None,
    };
    Ok((
        Custody {
            secret,
            service_cert,
            signer,
            service,
        },
        writes,
    ))
}

/// Parses a service certificate and checks it is self-signed. (That it is a CA allowed to
/// sign certificates is checked with the node certificate it endorses.)
fn parse_service_certificate(pem: &str) -> Result<ParsedCert> {
    let cert = ParsedCert::parse(pem.as_bytes())
        .map_err(|e| Error::malformed("service certificate", crate::error::excerpt(pem), e))?;
    cert.check_signed_by(&cert).map_err(|e| {
        Error::invalid(
            "service certificate",
            Problem::Mismatch {
                expected: "a self-signed certificate".into(),
                found: e,
            },
        )
    })?;
    Ok(cert)
}

/// Checks that the service certificate endorses `signer`'s certificate.
fn check_node_signer(signer: &dyn NodeSigner, service: &ParsedCert) -> Result<()> {
    verify_cert_signed_by(signer.certificate_pem(), &service.der).map_err(|e| {
        Error::invalid(
            "node signer",
            Problem::Mismatch {
                expected: "a certificate this ledger's service certificate endorses".into(),
                found: format!("one it does not ({e})"),
            },
        )
    })
}
