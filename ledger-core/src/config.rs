//! Ledger configuration: where the ledger lives, how it commits, and its limits.
//!
//! Every setting has a documented default and a builder-style setter. Settings that would be
//! meaningless at zero are `NonZero` types or clamped with a clear error at open time.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use ledger_store::Durability;

use crate::curves::KeyAlgorithm;
use crate::error::{Error, Problem};
use crate::identity::{NodeSigner, ServiceIdentity, ServiceSigner};
use crate::replication::{Replication, Replicator};
use crate::sealing::KeyEncryptionKey;
use crate::transaction::{Limits, Transaction, MAX_TX_SIZE_CEILING};

/// Default largest contents of one append: 1 MiB.
pub const DEFAULT_MAX_ENTRY_SIZE: usize = 1 << 20;
/// Default largest transaction (sum of contents, keys and values): 16 MiB.
pub const DEFAULT_MAX_TX_SIZE: usize = 16 << 20;
/// Which signatures each signature transaction carries, as CCF's signing modes.
///
/// * [`SigningMode::Json`]: the node's ECDSA signature over the root, from which the JSON
///   receipts of [`crate::Ledger::receipt`] are built. Signature transactions are exactly as
///   before COSE signing existed.
/// * [`SigningMode::Dual`] (default): that, and a COSE_Sign1 over the root under the service
///   key, recorded in table `internal.cose_signatures`, from which
///   [`crate::Ledger::cose_receipt`] builds COSE receipts (RFC 9942, CCF profile).
/// * [`SigningMode::CoseOnly`]: the COSE_Sign1 under the service key only. The signature
///   transaction still names the root, the node and its certificate, but its node signature
///   is empty (zero bytes), so it costs one ECDSA signature instead of two. Transactions it
///   covers have COSE receipts only: [`crate::Ledger::receipt`] answers
///   [`crate::Error::NoJsonReceipt`] for them. The offline audit checks such a signature
///   transaction by its COSE signature, which it then requires.
///
/// The mode may change from one open to the next: each signature transaction carries what the
/// mode in force when it was written asked for, and each receipt is built from the first
/// signature transaction after its transaction.
///
/// COSE signing needs the service key while the ledger runs: held in the store (plaintext or
/// sealed) or given as [`LedgerConfig::service_signer`]. COSE roots are signed ES256, so a
/// ledger whose service key is P-384 ([`crate::KeyAlgorithm::EcdsaP384`]) must sign in
/// [`SigningMode::Json`]; opening it in `Dual` or `CoseOnly` is refused with a typed error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum SigningMode {
    /// Node signatures only.
    Json,
    /// Node signatures and COSE signatures under the service key.
    #[default]
    Dual,
    /// COSE signatures under the service key only.
    CoseOnly,
}

impl SigningMode {
    /// Whether signature transactions carry the node's signature (JSON receipts).
    pub(crate) fn node_signs(self) -> bool {
        matches!(self, SigningMode::Json | SigningMode::Dual)
    }

    /// Whether signature transactions carry a COSE signature under the service key.
    pub(crate) fn cose_signs(self) -> bool {
        matches!(self, SigningMode::Dual | SigningMode::CoseOnly)
    }
}

/// How a ledger is opened. Build one with [`LedgerConfig::new`] and the setters.
///
/// ```
/// use std::time::Duration;
/// use ledger_core::{Durability, LedgerConfig};
/// let config = LedgerConfig::new("/tmp/my-ledger")
///     .durability(Durability::Fsync)
///     .sig_interval(Duration::from_millis(2))
///     .max_entry_size(64 * 1024);
/// assert_eq!(config.path().to_str(), Some("/tmp/my-ledger"));
/// ```
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    pub(crate) path: PathBuf,
    pub(crate) durability: Durability,
    pub(crate) pipeline: PipelineSettings,
    pub(crate) service_name: String,
    pub(crate) key_algorithm: KeyAlgorithm,
    pub(crate) service_identity: Option<ServiceIdentity>,
    pub(crate) node_signer: Option<Arc<dyn NodeSigner>>,
    pub(crate) service_signer: Option<Arc<dyn ServiceSigner>>,
    pub(crate) key_encryption_key: Option<Arc<dyn KeyEncryptionKey>>,
    pub(crate) retired_key_encryption_keys: Vec<Arc<dyn KeyEncryptionKey>>,
    pub(crate) genesis: Option<Arc<dyn GenesisRecords>>,
    /// Whether opens write the ledger instance record (`state.rs`). Always, except for the
    /// ledgers tests build as older code wrote them (`testing::as_older_code`).
    pub(crate) instance_records: bool,
    pub(crate) signing_mode: SigningMode,
    pub(crate) cose_subject: String,
    pub(crate) replication: Replication,
}

/// Records a new ledger's genesis transaction holds beyond the engine's own (the service
/// and node certificates), contributed by a layer above the engine: governance's
/// `LedgerConfig::genesis` installs its members, constitution, roles and users through it,
/// so the engine records them as an ordinary transaction without knowing what they mean.
pub(crate) trait GenesisRecords: Send + Sync + std::fmt::Debug {
    /// Checks the records before the ledger is opened or created.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] naming what is wrong.
    fn validate(&self) -> Result<(), Error>;

    /// Adds the records to the genesis transaction.
    ///
    /// # Errors
    ///
    /// As [`GenesisRecords::validate`].
    fn record(&self, tx: &mut Transaction) -> Result<(), Error>;

    /// The founding nodes' certificates (PEM), recorded by the engine beside its own node.
    fn founding_nodes(&self) -> &[String];
}

/// The settings the commit pipeline runs with: declared here once, set through
/// [`LedgerConfig`]'s setters, and handed to the pipeline whole.
#[derive(Clone, Debug)]
pub(crate) struct PipelineSettings {
    /// Size limits of entries and transactions.
    pub(crate) limits: Limits,
    /// Sign once this many transactions are unsigned.
    pub(crate) sig_tx_interval: NonZeroU64,
    /// Sign once the oldest unsigned transaction has waited this long.
    pub(crate) sig_interval: Duration,
    /// Most transactions sequenced but not yet handed to the store.
    pub(crate) max_pending: usize,
    /// Merkle leaves kept in memory behind the newest one.
    pub(crate) tree_memory_leaves: u64,
}

impl LedgerConfig {
    /// A configuration for a RocksDB ledger at `path` (created if absent) with every default.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            durability: Durability::Fsync,
            pipeline: PipelineSettings {
                limits: Limits {
                    max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
                    max_tx_size: DEFAULT_MAX_TX_SIZE,
                },
                sig_tx_interval: NonZeroU64::MIN.saturating_add(4999),
                sig_interval: Duration::from_millis(1),
                max_pending: 1 << 20,
                tree_memory_leaves: 1 << 22,
            },
            service_name: "ledger service".to_owned(),
            key_algorithm: KeyAlgorithm::EcdsaP256,
            service_identity: None,
            node_signer: None,
            service_signer: None,
            key_encryption_key: None,
            retired_key_encryption_keys: Vec::new(),
            genesis: None,
            instance_records: true,
            signing_mode: SigningMode::default(),
            cose_subject: "ledger.signature".to_owned(),
            replication: Replication::Standalone,
        }
    }

    /// The ledger directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The durability set with [`LedgerConfig::durability`] (for whoever opens the store
    /// itself, as `Ledger::with_store`'s callers do).
    pub fn durability_mode(&self) -> Durability {
        self.durability
    }

    /// When a signature makes transactions durable. Default = [`Durability::Fsync`]: the
    /// store syncs once per signature, so a transaction reported Committed survives a process
    /// or machine crash. [`Durability::Buffered`] never waits for a sync: a transaction
    /// reported Committed survives a process crash, but a machine crash may lose it (it then
    /// reports Invalid). In both modes the open syncs its view change, so no id is ever handed
    /// out twice, whatever a crash loses.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sign once this many transactions are unsigned. Default = 5,000.
    pub fn sig_tx_interval(mut self, every: NonZeroU64) -> Self {
        self.pipeline.sig_tx_interval = every;
        self
    }

    /// Sign once the oldest unsigned transaction has waited this long. Default = 1 ms, so a
    /// lone client's commit latency is about one fsync plus 1 ms, while a busy ledger still
    /// signs at most a thousand times a second.
    pub fn sig_interval(mut self, interval: Duration) -> Self {
        self.pipeline.sig_interval = interval;
        self
    }

    /// Largest contents of a single append. Default = [`DEFAULT_MAX_ENTRY_SIZE`] (1 MiB);
    /// values above [`MAX_TX_SIZE_CEILING`] are refused at open.
    pub fn max_entry_size(mut self, bytes: usize) -> Self {
        self.pipeline.limits.max_entry_size = bytes;
        self
    }

    /// Largest transaction: contents plus table keys and values. Default =
    /// [`DEFAULT_MAX_TX_SIZE`] (16 MiB); at most [`MAX_TX_SIZE_CEILING`].
    ///
    /// Both limits apply to every transaction submitted through the API, governance
    /// requests included. The records the engine writes itself (the service and node
    /// certificates and the governance genesis, about 1.4 KiB and more) are exempt, so any
    /// valid limits can create a ledger.
    pub fn max_tx_size(mut self, bytes: usize) -> Self {
        self.pipeline.limits.max_tx_size = bytes;
        self
    }

    /// Most transactions sequenced but not yet handed to the store before appenders wait
    /// (back-pressure). Default = 1,048,576.
    pub fn max_pending(mut self, transactions: usize) -> Self {
        self.pipeline.max_pending = transactions;
        self
    }

    /// Merkle leaves kept in memory behind the newest one; older tree nodes are read back
    /// from the store when a proof needs them. Default = 4,194,304 (about 256 MiB of nodes).
    pub fn tree_memory_leaves(mut self, leaves: u64) -> Self {
        self.pipeline.tree_memory_leaves = leaves;
        self
    }

    /// Common name placed in the service certificate when the ledger is created.
    /// Default = `"ledger service"`. Ignored when an existing ledger is opened.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// The algorithm of the keys a new ledger generates: its service key (unless
    /// [`LedgerConfig::service_identity`] or [`LedgerConfig::service_signer`] provides one)
    /// and its node key (unless [`LedgerConfig::node_signer`] provides one). Default =
    /// [`KeyAlgorithm::EcdsaP256`]; [`KeyAlgorithm::EcdsaP384`] is CCF's long-time default,
    /// and its receipts pass the official verifiers alike. Ignored when an existing ledger is
    /// opened (its keys are read back as they were made).
    pub fn key_algorithm(mut self, algorithm: KeyAlgorithm) -> Self {
        self.key_algorithm = algorithm;
        self
    }

    /// The service identity a new ledger is created with, instead of a freshly generated one
    /// (for example one whose key was provisioned elsewhere). Default = generate one. Ignored
    /// when an existing ledger is opened.
    pub fn service_identity(mut self, identity: ServiceIdentity) -> Self {
        self.service_identity = Some(identity);
        self
    }

    /// Signs roots with `signer` (say, a key held in an HSM) instead of the ledger's own node
    /// key. Its certificate must be issued by the ledger's service key (see
    /// [`ServiceIdentity::issue_node_certificate`]); opening fails otherwise. Default = the
    /// node key created with the ledger.
    pub fn node_signer(mut self, signer: Arc<dyn NodeSigner>) -> Self {
        self.node_signer = Some(signer);
        self
    }

    /// Holds the service key outside the store: a new ledger is created with `signer`'s
    /// certificate as its service certificate, and its node certificate is issued through
    /// `signer`; no service private key is written to the store. Opening an existing ledger
    /// with a signer checks that its certificate is the ledger's. Default = a service key
    /// generated with the ledger (or [`LedgerConfig::service_identity`]) and kept in the
    /// store, sealed when a [`LedgerConfig::key_encryption_key`] is set.
    pub fn service_signer(mut self, signer: Arc<dyn ServiceSigner>) -> Self {
        self.service_signer = Some(signer);
        self
    }

    /// Seals every secret the engine keeps in the store (the commit secret, and the node and
    /// service keys it holds itself) under `kek`; see [`crate::KeyEncryptionKey`]. Opening
    /// a ledger whose secrets are sealed requires the same key (by id). Opening a ledger
    /// whose secrets are in plaintext with a key seals them and deletes the plaintext
    /// records; RocksDB drops the deleted bytes from its files only as it compacts them, so a
    /// ledger that must never have held plaintext is created with the key. Default = none:
    /// secrets are stored in plaintext (the quickstart).
    pub fn key_encryption_key(mut self, kek: Arc<dyn KeyEncryptionKey>) -> Self {
        self.key_encryption_key = Some(kek);
        self
    }

    /// A key-encryption key being rotated out: secrets sealed under it are opened with it and
    /// sealed again under [`LedgerConfig::key_encryption_key`] when the ledger opens (in one
    /// synced write of the metadata, before the ledger starts; the history is not touched).
    /// May be given several times. Ignored without a current key. Default = none.
    pub fn retired_key_encryption_key(mut self, kek: Arc<dyn KeyEncryptionKey>) -> Self {
        self.retired_key_encryption_keys.push(kek);
        self
    }

    /// Which signatures each signature transaction carries. Default = [`SigningMode::Dual`].
    /// A mode may change between opens: COSE receipts exist for transactions covered by a
    /// COSE-signed root.
    pub fn signing_mode(mut self, mode: SigningMode) -> Self {
        self.signing_mode = mode;
        self
    }

    /// The `sub` claim of the COSE-signed roots. Default = `"ledger.signature"`, as CCF
    /// names its signatures. (The `iss` claim is the ledger's service id.)
    pub fn cose_subject(mut self, subject: impl Into<String>) -> Self {
        self.cose_subject = subject.into();
        self
    }

    /// Opens the ledger as a replicated **primary** in view `view` (the consensus term): it
    /// sequences and signs, hands each group to `replicator`, and stores and commits a group
    /// only when [`crate::Ledger::apply_group`] applies it (see [`crate::Role`] and the
    /// replication documentation on [`crate::ReplicatedGroup`]). The store must already hold
    /// a ledger (a replicated service is founded from one genesis store), `view` must be
    /// later than every view in it, and the new view begins with a signature.
    pub fn primary(mut self, view: u64, replicator: Arc<dyn Replicator>) -> Self {
        self.replication = Replication::Primary { view, replicator };
        self
    }

    /// Opens the ledger as a replicated **backup**: writes are refused with
    /// [`Error::NotPrimary`], and [`crate::Ledger::apply_group`] checks and stores the
    /// primary's groups. The store must already hold a ledger.
    pub fn backup(mut self) -> Self {
        self.replication = Replication::Backup;
        self
    }

    /// Checks the settings before anything is opened or created.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Replication::Primary { view: 0, .. } = self.replication {
            return Err(Error::invalid(
                "primary view",
                Problem::TooSmall {
                    size: 0,
                    minimum: 2,
                },
            ));
        }
        if let Some(genesis) = &self.genesis {
            genesis.validate()?;
        }
        let limits = &self.pipeline.limits;
        if limits.max_entry_size == 0 {
            return Err(Error::invalid(
                "max_entry_size",
                Problem::TooSmall {
                    size: 0,
                    minimum: 1,
                },
            ));
        }
        if limits.max_entry_size > MAX_TX_SIZE_CEILING {
            return Err(Error::too_large(
                "max_entry_size",
                limits.max_entry_size,
                MAX_TX_SIZE_CEILING,
            ));
        }
        if limits.max_tx_size < limits.max_entry_size {
            return Err(Error::invalid(
                "max_tx_size",
                Problem::TooSmall {
                    size: limits.max_tx_size as u64,
                    minimum: limits.max_entry_size as u64,
                },
            ));
        }
        if limits.max_tx_size > MAX_TX_SIZE_CEILING {
            return Err(Error::too_large(
                "max_tx_size",
                limits.max_tx_size,
                MAX_TX_SIZE_CEILING,
            ));
        }
        if self.pipeline.max_pending == 0 {
            return Err(Error::invalid(
                "max_pending",
                Problem::TooSmall {
                    size: 0,
                    minimum: 1,
                },
            ));
        }
        if self.pipeline.sig_interval.is_zero() {
            return Err(Error::invalid(
                "sig_interval (nanoseconds)",
                Problem::TooSmall {
                    size: 0,
                    minimum: 1,
                },
            ));
        }
        Ok(())
    }
}
