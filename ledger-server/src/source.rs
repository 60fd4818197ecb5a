//! [`LedgerSource`]: where a [`crate::Server`] finds the ledger it answers from, and what it
//! knows of the cluster around it.
//!
//! A standalone server answers from one [`Ledger`] for its whole life (`Arc<Ledger>` is a
//! source). A node of a replicated ledger reopens its ledger at every role change (backup,
//! primary, backup again), so the server asks its source for the current one on every
//! request, and a ledger closed under a request answers 503, which clients retry.
//!
//! # Waiting for commits
//!
//! [`LedgerSource::wait_for_commit`] waits until this node has applied a transaction. The
//! server calls it after forwarding a write to the primary (see `src/forward.rs`), so that a
//! client's next reads on the node it wrote through include its write. The default polls the
//! current ledger, following reopenings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Error, Ledger, Role, TxId, TxStatus};
use serde::{Deserialize, Serialize};

/// What a node says of itself at `GET /node/status` ([`LedgerSource::status`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct NodeStatus {
    /// This node's name in its cluster (a replicated node's Raft id in decimal; a standalone
    /// ledger's node id).
    pub node: String,
    /// The role of this node's ledger: `Primary`, `Backup`, `Standalone`, or `Closed` while
    /// it is being reopened.
    pub role: String,
    /// The primary's name, when this node knows it.
    pub primary: Option<String>,
    /// The consensus term this node is in (none for a standalone ledger).
    pub term: Option<u64>,
    /// This node's newest committed transaction.
    pub last_committed: Option<TxId>,
}

impl NodeStatus {
    /// A status from its parts.
    pub fn new(
        node: impl Into<String>,
        role: impl Into<String>,
        primary: Option<String>,
        term: Option<u64>,
        last_committed: Option<TxId>,
    ) -> Self {
        Self {
            node: node.into(),
            role: role.into(),
            primary,
            term,
            last_committed,
        }
    }
}

/// The name of a ledger role as [`NodeStatus::role`] spells it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Standalone => "Standalone",
        Role::Primary => "Primary",
        Role::Backup => "Backup",
        _ => "Unknown",
    }
}

/// Where the server finds its ledger, and what it knows of the cluster around it (see
/// `src/source.rs`).
pub trait LedgerSource: Send + Sync + 'static {
    /// The ledger to answer this request from.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] while the node has no open ledger (the request answers 503).
    fn ledger(&self) -> Result<Arc<Ledger>, Error>;

    /// What this node says of itself.
    fn status(&self) -> NodeStatus {
        match self.ledger() {
            Ok(ledger) => {
                let node = ledger.node_id().to_owned();
                let role = ledger.role();
                let primary = (role != Role::Backup).then(|| node.clone());
                NodeStatus::new(
                    node,
                    role_name(role),
                    primary,
                    None,
                    ledger.last_committed(),
                )
            }
            Err(_) => NodeStatus::new("", "Closed", None, None, None),
        }
    }

    /// Waits (blocking) up to `timeout` for `tx` to be Committed or Invalid on this node, and
    /// returns its status then; an id this node has not applied yet is waited for too.
    ///
    /// # Errors
    ///
    /// As [`Ledger::wait_for_commit`].
    fn wait_for_commit(&self, tx: TxId, timeout: Duration) -> Result<TxStatus, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let status = match self.ledger() {
                Ok(ledger) => ledger.wait_for_commit(tx, remaining.min(SLICE))?,
                Err(Error::Closed) => TxStatus::Unknown,
                Err(e) => return Err(e),
            };
            if matches!(status, TxStatus::Committed | TxStatus::Invalid) || remaining.is_zero() {
                return Ok(status);
            }
            if status == TxStatus::Unknown {
                // Unknown answers at once: poll gently until this node applies that far.
                std::thread::sleep(POLL.min(remaining));
            }
        }
    }
}

/// The longest single wait on one ledger, so a reopened ledger is picked up.
const SLICE: Duration = Duration::from_millis(100);
/// How often an id this node does not know yet is asked about again.
const POLL: Duration = Duration::from_millis(5);

impl LedgerSource for Arc<Ledger> {
    fn ledger(&self) -> Result<Arc<Ledger>, Error> {
        Ok(Arc::clone(self))
    }
}
