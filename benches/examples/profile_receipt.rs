//! A workload for profilers: receipts for old transactions of a large RocksDB ledger.
//!
//! `profile_receipt DIR N [RECEIPTS]` opens (or creates) the fsync-mode ledger in `DIR`, grows
//! it to `N` transactions with 64-byte entries from four threads if it is shorter, then asks
//! for `RECEIPTS` (default 2,000) receipts of transactions drawn uniformly (seeded) from the
//! whole ledger and prints their median cost per chunk of 100. The ledger is kept, so a profiler can be attached to the receipt phase alone by running the
//! command twice:
//!
//! ```sh
//! cargo build --release -p ledger-benches --example profile_receipt
//! target/release/examples/profile_receipt /var/tmp/big 100000000
//! perf record -e cpu-clock -g target/release/examples/profile_receipt /var/tmp/big 100000000
//! ```

use std::sync::Arc;
use std::time::Instant;

use ledger_core::{Durability, Ledger, LedgerConfig, TxId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: profile_receipt DIR N [RECEIPTS]")?;
    let n: u64 = args
        .next()
        .ok_or("usage: profile_receipt DIR N [RECEIPTS]")?
        .parse()?;
    let receipts: usize = args.next().map_or(Ok(2_000), |a| a.parse())?;
    let ledger = Arc::new(Ledger::open(
        LedgerConfig::new(&dir).durability(Durability::Fsync),
    )?);
    let have = ledger.last_committed().map_or(0, |t| t.seqno());
    if have < n {
        let start = Instant::now();
        ledger_benches::floors::append_from_threads(&ledger, 4, n - have, &[0xab; 64]);
        ledger.flush()?;
        println!("grew by {} in {:.1?}", n - have, start.elapsed());
    }
    let last = ledger.last_committed().ok_or("empty ledger")?;
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut ids = Vec::with_capacity(receipts);
    while ids.len() < receipts {
        let seqno = rng.gen_range(1..last.seqno());
        // The view of a seqno is the one its entry was written in; the status names it.
        if let Some(id) = (1..=last.view())
            .rev()
            .filter_map(|v| TxId::new(v, seqno).ok())
            .find(|id| ledger.status(*id) == ledger_core::TxStatus::Committed)
        {
            ids.push(id);
        }
    }
    let mut receipt_us = Vec::new();
    for chunk in ids.chunks(100) {
        let start = Instant::now();
        for id in chunk {
            ledger.receipt(*id)?;
        }
        receipt_us.push(start.elapsed().as_secs_f64() * 1e6 / chunk.len() as f64);
    }
    receipt_us.sort_by(f64::total_cmp);
    println!(
        "{} receipts at {} transactions: {:.1} µs per receipt (median of chunks of 100)",
        ids.len(),
        last.seqno(),
        receipt_us[receipt_us.len() / 2],
    );
    Ok(())
}
