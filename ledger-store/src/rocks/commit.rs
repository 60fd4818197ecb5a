//! Group commit: one WAL sync shared by every committer waiting when it starts.
//!
//! Appends happen under the writer lock, in seqno order, without syncing; each append gets a
//! ticket (1, 2, 3, ...) published in `appended` once its write has returned. A committer that
//! needs ticket `t` durable either finds `synced >= t` and returns, or waits for the sync in
//! progress, or becomes the *leader*: it reads `appended` (every group with a ticket up to that
//! value is already in the WAL), syncs the WAL without holding any lock, and publishes the new
//! `synced`. Because the WAL is sequential, that one sync makes every earlier group durable, so
//! concurrent committers pay for one sync between them.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Condvar, Mutex};

use crate::StoreError;

#[derive(Debug, Default)]
struct SyncState {
    /// Every ticket `<= synced` is durable.
    synced: u64,
    /// Whether a leader is syncing right now.
    leader: bool,
    /// The failure of a sync, after which nothing is known to be durable.
    failure: Option<String>,
}

/// Leader/follower coordination of WAL syncs.
#[derive(Debug, Default)]
pub(crate) struct SyncCoordinator {
    state: Mutex<SyncState>,
    done: Condvar,
    /// The ticket of the last group whose append has returned.
    appended: AtomicU64,
}

impl SyncCoordinator {
    /// Records that the append with `ticket` has returned.
    pub(crate) fn appended(&self, ticket: u64) {
        self.appended.store(ticket, Ordering::Release);
    }

    /// The ticket of the last append that returned.
    pub(crate) fn last_appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// Returns once a sync covering `ticket` has finished, running `sync` as leader if no sync
    /// in progress will cover it.
    pub(crate) fn sync_through(
        &self,
        ticket: u64,
        sync: impl Fn() -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut st = self.state.lock();
        loop {
            if let Some(cause) = &st.failure {
                return Err(StoreError::Poisoned {
                    cause: cause.clone(),
                });
            }
            if st.synced >= ticket {
                return Ok(());
            }
            if st.leader {
                self.done.wait(&mut st);
                continue;
            }
            st.leader = true;
            let target = self.last_appended();
            let result = parking_lot::MutexGuard::unlocked(&mut st, &sync);
            st.leader = false;
            match result {
                Ok(()) => st.synced = st.synced.max(target),
                Err(e) => {
                    st.failure = Some(e.to_string());
                    self.done.notify_all();
                    return Err(e);
                }
            }
            self.done.notify_all();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn concurrent_committers_share_syncs() {
        let coord = Arc::new(SyncCoordinator::default());
        let syncs = Arc::new(AtomicU64::new(0));
        let next = Arc::new(Mutex::new(0u64));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (coord, syncs, next) = (coord.clone(), syncs.clone(), next.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let ticket = {
                            let mut n = next.lock();
                            *n += 1;
                            coord.appended(*n);
                            *n
                        };
                        coord
                            .sync_through(ticket, || {
                                syncs.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(std::time::Duration::from_millis(1));
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let syncs = syncs.load(Ordering::Relaxed);
        assert!(syncs < 400, "{syncs} syncs for 400 commits");
    }

    #[test]
    fn a_failed_sync_fails_followers() {
        let coord = SyncCoordinator::default();
        coord.appended(1);
        let err = coord
            .sync_through(1, || Err(StoreError::invalid("boom")))
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidGroup { .. }));
        coord.appended(2);
        let err = coord.sync_through(2, || Ok(())).unwrap_err();
        assert!(matches!(err, StoreError::Poisoned { .. }));
    }
}
