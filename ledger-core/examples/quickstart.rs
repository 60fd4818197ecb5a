//! The README's demo: a ledger on disk, concurrent appenders, commit, a verified receipt,
//! paging through a collection, and a reopen showing the data survived.
//!
//! Run with `cargo run -p ledger-core --example quickstart [DIR]` (default: a fresh temporary
//! directory).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger_core::{Error, Ledger, LedgerConfig, Transaction, TxId, TxStatus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => temp.path().join("ledger"),
    };
    println!("ledger directory: {}", dir.display());

    let ledger = Arc::new(Ledger::open(LedgerConfig::new(&dir))?);
    println!("node id: {}", ledger.node_id());

    // Four threads append to two collections at once.
    let started = Instant::now();
    let per_thread = 2_500;
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let ledger = Arc::clone(&ledger);
            std::thread::spawn(move || -> Result<Vec<TxId>, Error> {
                let collection = if t % 2 == 0 { "audit" } else { "payments" };
                (0..per_thread)
                    .map(|i| ledger.append(collection, format!("thread {t} record {i}").as_bytes()))
                    .collect()
            })
        })
        .collect();
    let mut ids = Vec::new();
    for h in handles {
        ids.extend(h.join().map_err(|_| "appender thread panicked")??);
    }
    let mut tx = Transaction::new();
    tx.append("audit", b"invoice 17 approved")
        .append("payments", b"invoice 17: 1200 EUR")
        .put("invoices", b"17", b"paid");
    let last = ledger.submit(tx)?;
    ids.push(last);
    let status = ledger.wait_for_commit(last, Duration::from_secs(30))?;
    println!(
        "{} transactions from 4 threads recorded and {:?} in {:.1} ms",
        ids.len(),
        status,
        started.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(status, TxStatus::Committed);

    // A receipt anyone can check offline with the service certificate alone.
    let receipt = ledger.receipt(last)?;
    receipt.verify(&ledger.service_certificate_pem())?;
    println!("receipt for {last} verifies; JSON:\n{}", receipt.to_json());

    // Page through a collection, 2,000 entries at a time.
    let mut cursor = None;
    let mut pages = 0;
    let mut seen = 0;
    loop {
        let page = ledger.entries_page("audit", .., cursor.as_ref(), 2_000)?;
        pages += 1;
        seen += page.entries.len();
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    println!("collection \"audit\": {seen} entries in {pages} pages");

    // Close, reopen, and read the same data back.
    let ledger = Arc::try_unwrap(ledger).map_err(|_| "ledger still shared")?;
    ledger.close()?;
    let reopened = Ledger::open(LedgerConfig::new(&dir))?;
    let latest = reopened
        .latest("payments")?
        .ok_or("payments collection is empty")?;
    println!(
        "after reopen: latest payment {:?} at {}, status {:?}",
        String::from_utf8_lossy(&latest.contents),
        latest.tx_id,
        reopened.status(last)
    );
    assert_eq!(latest.tx_id, last);
    reopened
        .receipt(ids[0])?
        .verify(&reopened.service_certificate_pem())?;
    println!("a receipt for the first transaction still verifies after reopen");
    Ok(())
}
