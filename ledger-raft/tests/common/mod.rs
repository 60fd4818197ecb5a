//! What the ledger cluster tests share: a Raft configuration and a deadline for clusters that
//! run in real time, nodes' ledger disks that can fail, and the audit of every node.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ledger_core::{audit_path, AuditOptions, Ledger, LedgerConfig};
use ledger_raft::{FoundedService, LedgerOpener};
use ledger_store::testing::FaultyStore;
use ledger_store::{RocksStore, StoreConfig};
use openraft::{Config, SnapshotPolicy};
use parking_lot::Mutex;

/// How long a test waits for a cluster to reach a state before failing.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

/// A Raft configuration for a cluster named `name` in real time: heartbeats every 50 ms,
/// elections after 300 to 600 ms without one, and no snapshots.
pub(crate) fn raft_config(name: &str) -> Config {
    Config {
        cluster_name: name.to_string(),
        heartbeat_interval: 50,
        election_timeout_min: 300,
        election_timeout_max: 600,
        snapshot_policy: SnapshotPolicy::Never,
        ..Config::default()
    }
    .validate()
    .expect("a valid Raft configuration")
}

/// The snapshot settings of a cluster of `size`: from 5 nodes on, a snapshot every 10 applied
/// entries with 5 entries of log kept behind it, so that a node that was down or cut off
/// catches up from a snapshot; smaller clusters take none.
pub(crate) fn snapshots_for(size: usize) -> (SnapshotPolicy, u64) {
    if size >= 5 {
        (SnapshotPolicy::LogsSinceLast(10), 5)
    } else {
        (
            SnapshotPolicy::Never,
            Config::default().max_in_snapshot_log_to_keep,
        )
    }
}

/// Polls `check` every 10 ms until it gives `Some`, or fails naming `what` after
/// [`DEADLINE`].
pub(crate) fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A node's ledger disk: the fault-injecting store its ledger is open over now. Weak, so that
/// closing the ledger closes the RocksDB database and a role change can reopen it.
pub(crate) type Disk = Arc<Mutex<Weak<FaultyStore<RocksStore>>>>;

/// Opens ledgers over a [`FaultyStore`] of the RocksDB store in the config's directory (with
/// the config's durability), and remembers the newest one in `disk`.
pub(crate) fn faulty_opener(disk: Disk) -> LedgerOpener {
    Arc::new(move |config: LedgerConfig| {
        let store_config = StoreConfig::default().durability(config.durability_mode());
        let (store, recovery) = RocksStore::open(config.path(), store_config)?;
        let store = Arc::new(FaultyStore::new(store));
        *disk.lock() = Arc::downgrade(&store);
        Ledger::with_store(store, &recovery, &config)
    })
}

/// Asserts that every node's ledger directory (closed) passes the offline audit against the
/// service certificate.
pub(crate) fn audit_every_node(service: &FoundedService) {
    let cert = service.identity.certificate_pem().to_string();
    let options = AuditOptions::default()
        .service_certificate(&cert)
        .expect("the service certificate");
    for founded in &service.nodes {
        let report = audit_path(&founded.ledger_dir, &options).expect("an audit");
        assert!(
            report.is_clean(),
            "audit of {}: {report:?}",
            founded.ledger_dir.display()
        );
    }
}
