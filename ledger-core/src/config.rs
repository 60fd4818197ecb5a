//! Ledger configuration: where the ledger lives, how it commits, and its limits.
//!
//! Every setting has a documented default and a builder-style setter. Settings that would be
//! meaningless at zero are `NonZero` types or clamped with a clear error at open time.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use ledger_store::Durability;

use crate::governance::Genesis;
use crate::identity::{NodeSigner, ServiceIdentity};
use crate::Error;

/// Default largest contents of one append: 1 MiB.
pub const DEFAULT_MAX_ENTRY_SIZE: usize = 1 << 20;
/// Default largest transaction (sum of contents, keys and values): 16 MiB.
pub const DEFAULT_MAX_TX_SIZE: usize = 16 << 20;
/// Largest collection or table name, in bytes of UTF-8. Fixed: names are index keys.
pub const MAX_NAME_LEN: usize = 255;
/// Largest table key, in bytes.
pub const MAX_KEY_LEN: usize = 4096;
/// Hard ceiling for [`LedgerConfig::max_tx_size`] (the entry decoder's own limit is larger).
pub const MAX_TX_SIZE_CEILING: usize = 32 << 20;

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
    pub(crate) sig_tx_interval: NonZeroU64,
    pub(crate) sig_interval: Duration,
    pub(crate) max_entry_size: usize,
    pub(crate) max_tx_size: usize,
    pub(crate) max_pending: usize,
    pub(crate) tree_memory_leaves: u64,
    pub(crate) service_name: String,
    pub(crate) service_identity: Option<ServiceIdentity>,
    pub(crate) node_signer: Option<Arc<dyn NodeSigner>>,
    pub(crate) genesis: Option<Genesis>,
}

impl LedgerConfig {
    /// A configuration for a RocksDB ledger at `path` (created if absent) with every default.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            durability: Durability::Fsync,
            sig_tx_interval: NonZeroU64::MIN.saturating_add(4999),
            sig_interval: Duration::from_millis(1),
            max_entry_size: DEFAULT_MAX_ENTRY_SIZE,
            max_tx_size: DEFAULT_MAX_TX_SIZE,
            max_pending: 1 << 20,
            tree_memory_leaves: 1 << 22,
            service_name: "ledger service".to_owned(),
            service_identity: None,
            node_signer: None,
            genesis: None,
        }
    }

    /// The ledger directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// When a signature makes transactions durable. Default = [`Durability::Fsync`]: the
    /// store syncs once per signature, so a transaction reported Committed survives a crash.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sign once this many transactions are unsigned. Default = 5,000.
    pub fn sig_tx_interval(mut self, every: NonZeroU64) -> Self {
        self.sig_tx_interval = every;
        self
    }

    /// Sign once the oldest unsigned transaction has waited this long. Default = 1 ms, so a
    /// lone client's commit latency is about one fsync plus 1 ms, while a busy ledger still
    /// signs at most a thousand times a second.
    pub fn sig_interval(mut self, interval: Duration) -> Self {
        self.sig_interval = interval;
        self
    }

    /// Largest contents of a single append. Default = [`DEFAULT_MAX_ENTRY_SIZE`] (1 MiB);
    /// values above [`MAX_TX_SIZE_CEILING`] are refused at open.
    pub fn max_entry_size(mut self, bytes: usize) -> Self {
        self.max_entry_size = bytes;
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
        self.max_tx_size = bytes;
        self
    }

    /// Most transactions sequenced but not yet handed to the store before appenders wait
    /// (back-pressure). Default = 1,048,576.
    pub fn max_pending(mut self, transactions: usize) -> Self {
        self.max_pending = transactions;
        self
    }

    /// Merkle leaves kept in memory behind the newest one; older tree nodes are read back
    /// from the store when a proof needs them. Default = 4,194,304 (about 256 MiB of nodes).
    pub fn tree_memory_leaves(mut self, leaves: u64) -> Self {
        self.tree_memory_leaves = leaves;
        self
    }

    /// Common name placed in the service certificate when the ledger is created.
    /// Default = `"ledger service"`. Ignored when an existing ledger is opened.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
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

    /// The members, constitution, custom roles and users a new ledger starts with, recorded
    /// by its genesis transaction. Default = none: the program administers the ledger (see
    /// [`crate::governance`]). Ignored when an existing ledger is opened.
    pub fn genesis(mut self, genesis: Genesis) -> Self {
        self.genesis = Some(genesis);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if let Some(genesis) = &self.genesis {
            genesis.validate()?;
        }
        if self.max_entry_size == 0 || self.max_entry_size > MAX_TX_SIZE_CEILING {
            return Err(Error::InvalidInput(format!(
                "max_entry_size {} must be in 1..={MAX_TX_SIZE_CEILING}",
                self.max_entry_size
            )));
        }
        if self.max_tx_size < self.max_entry_size || self.max_tx_size > MAX_TX_SIZE_CEILING {
            return Err(Error::InvalidInput(format!(
                "max_tx_size {} must be at least max_entry_size ({}) and at most {MAX_TX_SIZE_CEILING}",
                self.max_tx_size, self.max_entry_size
            )));
        }
        if self.max_pending == 0 {
            return Err(Error::InvalidInput("max_pending must be at least 1".into()));
        }
        if self.sig_interval.is_zero() {
            return Err(Error::InvalidInput(
                "sig_interval must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}
