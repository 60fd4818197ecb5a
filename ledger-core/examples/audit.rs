//! Offline audit of a ledger directory: verifies every entry, leaf, signed root, signature,
//! certificate chain and index without opening the ledger for writing (see
//! `ledger_core::audit_path`).
//!
//! ```text
//! cargo run --release -p ledger-core --example audit -- PATH [options]
//!
//!   --progress N        report progress every N entries (default 100000)
//!   --page N            read N entries at a time (default 256)
//!   --no-tiles          skip comparing the stored Merkle tree with the recomputed one
//!   --no-indexes        skip checking the collection and table indexes
//!   --valid-now         also require every certificate to be valid now
//!   --anchor SEQNO:HEX  require the root HEX to be signed at SEQNO (repeatable)
//! ```
//!
//! Exit status: 0 if the audit passed, 1 if it found an inconsistency, 2 if it could not run.

use std::num::{NonZeroU64, NonZeroUsize};
use std::process::ExitCode;
use std::time::SystemTime;

use ledger_core::{audit_path, AuditOptions};

const USAGE: &str = "usage: audit PATH [--progress N] [--page N] [--no-tiles] [--no-indexes] \
                     [--valid-now] [--anchor SEQNO:HEX]...";

fn parse_args() -> Result<(String, AuditOptions), String> {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut options = AuditOptions::default().on_progress(|p| {
        let rate = p.checked_through as f64 / p.elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "  checked {:>12} / {} entries, {} signatures, {:.1} s, {:.0} entries/s",
            p.checked_through,
            p.last_seqno,
            p.signatures,
            p.elapsed.as_secs_f64(),
            rate
        );
    });
    let number = |flag: &str, value: Option<String>| -> Result<u64, String> {
        value
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} needs a positive number\n{USAGE}"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--progress" => {
                let n = number("--progress", args.next())?;
                options = options.progress_every(NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN));
            }
            "--page" => {
                let n = number("--page", args.next())?;
                let n = usize::try_from(n).map_err(|_| "--page is too large".to_owned())?;
                options = options.page_entries(NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN));
            }
            "--no-tiles" => options = options.check_tiles(false),
            "--no-indexes" => options = options.check_indexes(false),
            "--valid-now" => options = options.certificates_valid_at(Some(SystemTime::now())),
            "--anchor" => {
                let value = args.next().unwrap_or_default();
                let (seqno, root) = value
                    .split_once(':')
                    .and_then(|(s, r)| {
                        let seqno = s.parse::<u64>().ok()?;
                        let root: [u8; 32] = hex::decode(r).ok()?.try_into().ok()?;
                        Some((seqno, root))
                    })
                    .ok_or_else(|| format!("--anchor needs SEQNO:HEX (64 hex digits)\n{USAGE}"))?;
                options = options.require_signed_root(seqno, root);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            _ if path.is_none() => path = Some(arg),
            _ => return Err(format!("one PATH only\n{USAGE}")),
        }
    }
    let path = path.ok_or_else(|| USAGE.to_owned())?;
    Ok((path, options))
}

fn main() -> ExitCode {
    let (path, options) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    println!("auditing {path}");
    let report = match audit_path(&path, &options) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("audit could not run: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "entries: {} (last seqno {}, committed {}), signatures: {}, tiles compared: {}, \
         at most {} tree nodes in memory, {:.2} s",
        report.entries,
        report.last_seqno,
        report.committed_seqno,
        report.signatures,
        report.tiles,
        report.peak_tree_nodes,
        report.elapsed.as_secs_f64()
    );
    let views: Vec<String> = report
        .views
        .iter()
        .map(|(v, first)| format!("{v} from {first}"))
        .collect();
    println!("views: {}", views.join(", "));
    let g = &report.governance;
    println!(
        "governance: {} transactions, {} signed requests ({} acks, {} proposals, {} ballots), \
         {} accepted, {} rejected, {} withdrawn, {} failed, {} direct changes",
        g.governance_transactions,
        g.requests,
        g.acks,
        g.proposals,
        g.ballots,
        g.accepted,
        g.rejected,
        g.withdrawn,
        g.failed,
        g.direct_changes
    );
    if let Some(last) = report.last_signature {
        println!(
            "last signature: {} root {} (pass --anchor {}:{} to a later audit)",
            last.tx_id,
            hex::encode(last.root),
            last.tx_id.seqno(),
            hex::encode(last.root)
        );
    }
    if let Some(tail) = &report.unsigned_tail {
        println!(
            "unsigned tail: seqnos {}..={} (no signature covers them yet)",
            tail.start(),
            tail.end()
        );
    }
    if let Some(tail) = &report.uncommitted_tail {
        println!(
            "uncommitted tail: seqnos {}..={} (left by a crash; the next open discards them)",
            tail.start(),
            tail.end()
        );
    }
    match &report.finding {
        None => {
            println!("AUDIT PASSED");
            ExitCode::SUCCESS
        }
        Some(finding) => {
            println!("AUDIT FAILED: {finding}");
            ExitCode::from(1)
        }
    }
}
