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
use std::time::{Duration, Instant};

use common::{boundaries, make_group, schedule, verify_prefix, Tree};
use ledger_store::{Durability, RocksStore, Store, StoreConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const CHILD_ENV: &str = "LEDGER_STORE_CRASH_CHILD";

fn config() -> StoreConfig {
    StoreConfig::default().durability(Durability::Fsync)
}

/// The child role: append forever, logging each returned commit.
#[test]
fn child_role_entry_point() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return; // Not a child: nothing to do.
    };
    let root = PathBuf::from(root);
    let (store, _) = RocksStore::open(root.join("store"), config()).unwrap();
    let mut log = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(root.join("commits.log"))
        .unwrap();
    let mut tree = Tree::default();
    let mut last = store.state().last_seqno;
    loop {
        let (n, commit) = schedule(last);
        let g = make_group(&mut tree, last, n, commit);
        store.write_group(&g).unwrap();
        last += n;
        if commit {
            log.write_all(format!("{last}\n").as_bytes()).unwrap();
        }
    }
}

fn last_reported(log: &Path) -> u64 {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .filter_map(|l| l.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn sigkill_while_appending_loses_no_returned_commit() {
    const CYCLES: usize = 60;
    let root = tempfile::tempdir().unwrap();
    let store_dir = root.path().join("store");
    let log = root.path().join("commits.log");
    let exe = std::env::current_exe().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut tree = Tree::default();
    let started = Instant::now();
    let mut previous = 0;
    let mut discards = 0;
    for cycle in 0..CYCLES {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_role_entry_point",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(10..160)));
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
        "{CYCLES} kill/reopen cycles in {:?}: {previous} transactions committed, {discards} tails discarded",
        started.elapsed()
    );
    assert!(previous > 0, "the children never committed anything");
}
