//! A workload for profilers: the offline audit of a RocksDB ledger of `N` single appends of
//! `SIZE`-byte entries, generated first (untimed) in `DIR` if `DIR` holds no ledger yet.
//!
//! ```sh
//! cargo build --release -p ledger-benches --example profile_audit
//! target/release/examples/profile_audit /var/tmp/audit-ledger 1000000 64
//! perf record -e cpu-clock -g target/release/examples/profile_audit /var/tmp/audit-ledger
//! ```

use std::time::Instant;

use ledger_core::{audit_path, AuditOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: profile_audit DIR [N] [SIZE]")?);
    let n: u64 = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let size: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let store = dir.join("generated");
    if !store.exists() {
        let start = Instant::now();
        ledger_benches::floors::generate(&dir, n, size, 2);
        println!(
            "generated {n} appends in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    let start = Instant::now();
    let report = audit_path(&store, &AuditOptions::default())?;
    let elapsed = start.elapsed();
    println!(
        "audit: {} entries, {} signatures, finding: {:?}, {:.2} s, {:.0} entries/s",
        report.entries,
        report.signatures,
        report.finding.as_ref().map(ToString::to_string),
        elapsed.as_secs_f64(),
        report.entries as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}
