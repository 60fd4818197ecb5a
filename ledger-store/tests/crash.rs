//! Crash tests: a child process (this test binary, re-executed with an environment variable
//! selecting the child role) appends groups in fsync mode and reports each commit that
//! returned; the parent kills it with SIGKILL at a random moment, reopens the store and checks
//! that every reported commit survived, that the store ends exactly at a commit group, and
//! that everything up to there is intact and nothing beyond it is visible.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{boundaries, make_group, schedule, verify_prefix, Tree};
use ledger_store::{Durability, RocksStore, Store, StoreConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CHILD_ENV: &str = "LEDGER_STORE_CRASH_CHILD";

fn config() -> StoreConfig {
    StoreConfig::default().durability(Durability::Fsync)
}

/// Selects how many committer threads the child runs.
const THREADS_ENV: &str = "LEDGER_STORE_CRASH_THREADS";

/// The child role: append forever, logging each returned commit. With several threads, they
/// take turns appending (in schedule order) and wait for their commits concurrently, so WAL
/// syncs are shared.
#[test]
fn child_role_entry_point() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let threads: usize = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let root = PathBuf::from(root);
    let (store, _) = RocksStore::open(root.join("store"), config()).unwrap();
    let turn = Mutex::new((Tree::default(), store.state().last_seqno));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut log = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(root.join("commits.log"))
                    .unwrap();
                loop {
                    let (ticket, end, commit) = {
                        let mut guard = turn.lock().unwrap();
                        let (tree, last) = &mut *guard;
                        let (n, commit) = schedule(*last);
                        let g = make_group(tree, *last, n, commit);
                        let ticket = store.append_group(&g).unwrap();
                        *last += n;
                        (ticket, *last, commit)
                    };
                    if !commit {
                        // The engine does work between groups; give kills a chance to land
                        // while an uncommitted tail exists.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    if commit {
                        store.await_commit(ticket).unwrap();
                        log.write_all(format!("{end}\n").as_bytes()).unwrap();
                    }
                }
            });
        }
    });
}

fn last_reported(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

fn kill_and_reopen(cycles: usize, threads: usize, seed: u64) {
    let root = tempfile::tempdir().unwrap();
    let store_dir = root.path().join("store");
    let log = root.path().join("commits.log");
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tree = Tree::default();
    let started = Instant::now();
    let mut previous = 0;
    let mut discards = 0;
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_role_entry_point",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, root.path())
            .env(THREADS_ENV, threads.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if rng.gen_bool(0.2) {
            // Sometimes kill it early: while it opens, recovers, or writes its first groups.
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..40)));
        } else {
            // Otherwise wait until it is appending (it has reported a commit), then a while.
            let seen = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let deadline = Instant::now() + Duration::from_secs(5);
            while std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) == seen
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(0..60)));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "cycle {cycle}: the child exited by itself: {status}"
        );
        let reported = last_reported(&log);
        if !store_dir.exists() {
            continue; // Killed before it created anything.
        }
        let (store, recovery) = RocksStore::open(&store_dir, config()).unwrap();
        let committed = recovery.committed_seqno;
        let state = store.state();
        assert_eq!(
            (state.last_seqno, state.committed_seqno),
            (committed, committed)
        );
        assert!(
            committed >= reported,
            "cycle {cycle}: commit {reported} returned but the store recovered to {committed}"
        );
        assert!(
            committed >= previous,
            "cycle {cycle}: went back from {previous} to {committed}"
        );
        assert!(
            boundaries(committed).contains(&committed),
            "cycle {cycle}: recovered to {committed}, which is not the end of a commit group"
        );
        if let Some(d) = &recovery.discarded {
            assert_eq!(*d.start(), committed + 1);
            discards += 1;
        }
        verify_prefix(&store, committed, &mut tree).unwrap();
        previous = committed;
        drop(store);
    }
    eprintln!(
        "{cycles} kill/reopen cycles with {threads} committer(s) in {:?}: {previous} transactions committed, {discards} tails discarded",
        started.elapsed()
    );
    assert!(previous > 0, "the children never committed anything");
}

#[test]
fn sigkill_while_appending_loses_no_returned_commit() {
    kill_and_reopen(60, 1, 0x5eed);
}

#[test]
fn sigkill_with_concurrent_committers_loses_no_returned_commit() {
    kill_and_reopen(20, 3, 0xc0ffee);
}
