//! Writes receipts for outside verifiers.
//!
//! `cargo run --release -p ledger-core --example export_receipts -- OUT_DIR N` creates a fresh
//! ledger in a temporary directory (default [`SigningMode::Dual`]: every signature
//! transaction carries the node's signature and a COSE_Sign1 of the root under the service
//! key), appends N entries across three collections (`audit`, `payments`, `contracts`; each
//! `contracts` entry with a non-zero application claims digest, the SHA-256 of its contents),
//! flushes so that a final signature covers the last of them, and writes to `OUT_DIR`:
//!
//! * `service_cert.pem`: the service certificate, which verifies both kinds of receipt;
//! * for every committed transaction (user, governance and signature transactions alike; all
//!   of them are covered by a COSE-signed root in this mode), named by its id
//!   `<view>_<seqno>`:
//!   * `<view>_<seqno>.json`: its receipt in CCF's JSON form ([`ledger_core::Receipt`]);
//!   * `<view>_<seqno>.cose`: its COSE receipt (RFC 9942, CCF profile;
//!     [`ledger_core::CoseReceipt`]), the bytes `ccf.cose.verify_receipt` (ccf 6.x) and
//!     `ccf.receipt.verify_cose` (ccf 7.x) take;
//!   * `<view>_<seqno>.claims_digest`: the transaction's claims digest, 64 lowercase hex
//!     digits and no newline (64 zeros for a transaction without claims), the third argument
//!     those verifiers take.
//!
//! The last signature transaction is not committed (only a later signature could cover it),
//! so it gets no files. Every receipt is verified with this crate's verifiers before it is
//! written. Prints how many receipts of each kind were written, and where (two lines).

use std::collections::HashMap;
use std::time::Duration;

use ledger_core::{Ledger, LedgerConfig, SigningMode, Transaction, TxId, TxStatus, NO_CLAIMS};
use sha2::{Digest as _, Sha256};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: export_receipts OUT_DIR N";
    let out = std::path::PathBuf::from(args.next().ok_or(usage)?);
    let n: u64 = args.next().ok_or(usage)?.parse()?;
    std::fs::create_dir_all(&out)?;

    let temp = tempfile::tempdir()?;
    let ledger = Ledger::open(
        LedgerConfig::new(temp.path().join("ledger")).signing_mode(SigningMode::Dual),
    )?;
    let collections = ["audit", "payments", "contracts"];
    let mut last = None;
    // The claims digest each transaction was submitted with, where not NO_CLAIMS.
    let mut claims = HashMap::new();
    for i in 0..n {
        let collection = collections[(i % 3) as usize];
        let contents = format!("entry {i}");
        let mut tx = Transaction::new();
        tx.append(collection, contents.as_bytes());
        let digest: Option<[u8; 32]> =
            (collection == "contracts").then(|| Sha256::digest(contents.as_bytes()).into());
        if let Some(digest) = digest {
            tx.claims_digest(digest);
        }
        let id = ledger.submit(tx)?;
        if let Some(digest) = digest {
            claims.insert(id, digest);
        }
        last = Some(id);
    }
    // Signs the tail: the last entries are committed under a final (COSE-signed) root.
    ledger.flush()?;
    if let Some(last) = last {
        let status = ledger.wait_for_commit(last, Duration::from_secs(60))?;
        if status != TxStatus::Committed {
            return Err(format!("last entry {last} is {status:?}").into());
        }
    }
    let service_cert = ledger.service_certificate_pem();
    std::fs::write(out.join("service_cert.pem"), &service_cert)?;
    let mut written = 0u64;
    let mut cose_written = 0u64;
    let mut with_claims = 0u64;
    let mut seqno = 1;
    loop {
        let id = TxId::new(1, seqno)?;
        match ledger.status(id) {
            TxStatus::Committed => {
                let name = format!("{}_{}", id.view(), id.seqno());
                let receipt = ledger.receipt(id)?;
                receipt.verify(&service_cert)?;
                std::fs::write(out.join(format!("{name}.json")), receipt.to_json())?;
                written += 1;

                let digest = claims.get(&id).copied().unwrap_or(NO_CLAIMS);
                let cose = ledger.cose_receipt(id)?;
                let verified = cose.verify(&service_cert)?;
                if (verified.tx_id, verified.claims_digest) != (id, digest) {
                    return Err(format!("the COSE receipt of {id} proves {verified:?}").into());
                }
                std::fs::write(out.join(format!("{name}.cose")), cose.as_bytes())?;
                std::fs::write(
                    out.join(format!("{name}.claims_digest")),
                    hex::encode(digest),
                )?;
                cose_written += 1;
                if digest != NO_CLAIMS {
                    with_claims += 1;
                }
            }
            _ => break,
        }
        seqno += 1;
    }
    println!(
        "wrote {written} receipts and service_cert.pem to {}",
        out.display()
    );
    println!(
        "wrote {cose_written} COSE receipts and claims digests ({with_claims} non-zero) to {}",
        out.display()
    );
    Ok(())
}
