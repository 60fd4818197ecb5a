//! Writes receipts for outside verifiers.
//!
//! `cargo run --release -p ledger-core --example export_receipts -- OUT_DIR N` creates a fresh
//! ledger in a temporary directory, appends N entries across a few collections, commits, and
//! writes `OUT_DIR/service_cert.pem` plus one receipt per committed transaction as
//! `OUT_DIR/<view>_<seqno>.json` (user, governance and signature transactions alike).

use std::time::Duration;

use ledger_core::{Ledger, LedgerConfig, TxId, TxStatus};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: export_receipts OUT_DIR N";
    let out = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let n: u64 = args.next().ok_or(usage)?.parse()?;
    std::fs::create_dir_all(&out)?;

    let temp = tempfile::tempdir()?;
    let ledger = Ledger::open(LedgerConfig::new(temp.path().join("ledger")))?;
    let collections = ["audit", "payments", "contracts"];
    let mut last = None;
    for i in 0..n {
        let collection = collections[(i % 3) as usize];
        last = Some(ledger.append(collection, format!("entry {i}").as_bytes())?);
    }
    ledger.flush()?;
    if let Some(last) = last {
        let status = ledger.wait_for_commit(last, Duration::from_secs(60))?;
        if status != TxStatus::Committed {
            return Err(format!("last entry {last} is {status:?}").into());
        }
    }
    std::fs::write(
        out.join("service_cert.pem"),
        ledger.service_certificate_pem(),
    )?;
    let mut written = 0u64;
    let mut seqno = 1;
    loop {
        let id = TxId::new(1, seqno)?;
        match ledger.status(id) {
            TxStatus::Committed => {
                let receipt = ledger.receipt(id)?;
                std::fs::write(
                    out.join(format!("{}_{}.json", id.view(), id.seqno())),
                    receipt.to_json(),
                )?;
                written += 1;
            }
            _ => break,
        }
        seqno += 1;
    }
    println!(
        "wrote {written} receipts and service_cert.pem to {}",
        out.display()
    );
    Ok(())
}
