//! A workload for profilers: appends `N` entries of `SIZE` bytes from `THREADS` threads to an
//! in-memory (or, with `rocksdb` as the fourth argument, an fsync-mode RocksDB) ledger, then
//! flushes, and prints the rate. A fifth argument sets the signature interval in
//! milliseconds (default 1, the engine's default).
//!
//! ```sh
//! cargo build --release -p ledger-benches --example profile_append
//! perf record -e cpu-clock -g target/release/examples/profile_append 2000000 64 1
//! valgrind --tool=callgrind target/release/examples/profile_append 100000 64 1
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Durability, Ledger, LedgerConfig};

fn arg(i: usize, default: u64) -> u64 {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = arg(1, 1_000_000);
    let size = arg(2, 64) as usize;
    let threads = arg(3, 1).max(1);
    let rocks = std::env::args().nth(4).as_deref() == Some("rocksdb");
    let sig_ms = arg(5, 1);
    let dir = tempfile::tempdir()?;
    let ledger = Arc::new(if rocks {
        Ledger::open(
            LedgerConfig::new(dir.path().join("ledger"))
                .durability(Durability::Fsync)
                .sig_interval(Duration::from_millis(sig_ms)),
        )?
    } else {
        Ledger::in_memory_with(LedgerConfig::new("").sig_interval(Duration::from_millis(sig_ms)))?
    });
    let payload = vec![0xabu8; size];
    let start = Instant::now();
    ledger_benches::floors::append_from_threads(&ledger, threads as usize, n, &payload);
    ledger.flush()?;
    let elapsed = start.elapsed();
    println!(
        "{n} appends of {size} bytes from {threads} threads ({}): {:.0}/s",
        if rocks { "rocksdb fsync" } else { "memory" },
        n as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
