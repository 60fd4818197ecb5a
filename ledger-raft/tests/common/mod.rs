//! What the real-time ledger cluster tests share: their Raft configuration and a deadline for
//! waiting on a cluster that runs on OS threads in real time.

use std::time::{Duration, Instant};

use openraft::{Config, SnapshotPolicy};

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
