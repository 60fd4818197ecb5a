//! `ledger audit`: the offline audit (`ledger_core::audit_path`) with progress and a verdict.

use std::io::{IsTerminal as _, Write as _};
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use ledger_core::{audit_path, AuditOptions, AuditProgress, AuditReport, Finding};
use serde_json::{json, Value};

use crate::dir::{self, LedgerDir};
use crate::output::outln;
use crate::output::print_json;
use crate::Outcome;

/// `ledger audit`.
#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The service certificate (PEM) the ledger must have; without it the audit trusts the
    /// store's own and proves only that the ledger is consistent with itself.
    #[arg(long, value_name = "PEM")]
    service_cert: Option<PathBuf>,
    /// Require the ledger to hold a signature transaction at SEQNO signing ROOT (hex), e.g. the
    /// last signature of an earlier audit: a truncated or rewritten ledger fails.
    #[arg(long, value_name = "SEQNO:ROOT", value_parser = parse_anchor)]
    require_root: Vec<(u64, [u8; 32])>,
    /// Report progress every this many entries.
    #[arg(long, value_name = "ENTRIES", default_value_t = NonZeroU64::new(10_000).unwrap_or(NonZeroU64::MIN))]
    progress_every: NonZeroU64,
    /// No progress output.
    #[arg(long, short)]
    quiet: bool,
}

fn parse_anchor(text: &str) -> Result<(u64, [u8; 32]), String> {
    let (seqno, root) = text
        .split_once(':')
        .ok_or("expected SEQNO:ROOT, e.g. 42:<64 hex digits>")?;
    let seqno: u64 = seqno
        .parse()
        .map_err(|_| format!("{seqno:?} is not a seqno"))?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(root, &mut bytes)
        .map_err(|e| format!("the root is not 64 hex digits: {e}"))?;
    Ok((seqno, bytes))
}

/// Where progress goes: a bar on a terminal, plain lines on stderr otherwise.
enum Progress {
    Bar(ProgressBar),
    /// Plain lines; the last position printed, so the final report is not printed twice.
    Lines(AtomicU64),
    Quiet,
}

impl Progress {
    fn report(&self, p: &AuditProgress) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(p.last_seqno);
                bar.set_position(p.checked_through);
                bar.set_message(format!("{} signatures", p.signatures));
            }
            Progress::Lines(printed) => {
                if printed.swap(p.checked_through, Ordering::Relaxed) == p.checked_through
                    && p.checked_through > 0
                {
                    return;
                }
                let _ = writeln!(
                    std::io::stderr(),
                    "audit: checked {} of {} entries, {} signatures, {:.1}s",
                    p.checked_through,
                    p.last_seqno,
                    p.signatures,
                    p.elapsed.as_secs_f64()
                );
            }
            Progress::Quiet => {}
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

pub(crate) fn audit(args: AuditArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let mut options = AuditOptions::default().progress_every(args.progress_every);
    if let Some(path) = &args.service_cert {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        options = options
            .service_certificate(pem)
            .with_context(|| format!("{} is not a service certificate", path.display()))?;
    }
    for (seqno, root) in &args.require_root {
        options = options.require_signed_root(*seqno, *root);
    }
    let progress = Arc::new(Mutex::new(if args.quiet {
        Progress::Quiet
    } else if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "auditing {bar:40} {pos}/{len} entries, {msg} [{elapsed_precise}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress::Bar(bar)
    } else {
        Progress::Lines(AtomicU64::new(0))
    }));
    let reporter = Arc::clone(&progress);
    options = options.on_progress(move |p| {
        if let Ok(progress) = reporter.lock() {
            progress.report(p);
        }
    });
    let result = audit_path(dir.store_path(), &options);
    if let Ok(progress) = progress.lock() {
        progress.finish();
    }
    let report = result.map_err(|e| dir::describe(e, dir.root()))?;
    if json {
        print_json(&report_json(&report))?;
    } else {
        print_report(&report)?;
    }
    Ok(if report.is_clean() {
        Outcome::Success
    } else {
        Outcome::Negative
    })
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "kind": format!("{:?}", f.kind),
        "seqno": f.seqno,
        "table": f.table,
        "key": f.key,
        "expected": f.expected,
        "found": f.found,
        "message": f.to_string(),
    })
}

fn range_json(range: Option<&std::ops::RangeInclusive<u64>>) -> Value {
    range.map_or(
        Value::Null,
        |r| json!({ "first": r.start(), "last": r.end() }),
    )
}

/// The report as JSON: `{"clean", "finding", "lastSeqno", ...}`.
pub(crate) fn report_json(r: &AuditReport) -> Value {
    let g = &r.governance;
    json!({
        "clean": r.is_clean(),
        "finding": r.finding.as_ref().map(finding_json),
        "lastSeqno": r.last_seqno,
        "committedSeqno": r.committed_seqno,
        "entries": r.entries,
        "signatures": r.signatures,
        "tiles": r.tiles,
        "peakTreeNodes": r.peak_tree_nodes,
        "views": r.views.iter().map(|(view, from)| json!({ "view": view, "firstSeqno": from })).collect::<Vec<_>>(),
        "lastSignature": r.last_signature.map(|s| json!({
            "transactionId": s.tx_id.to_string(),
            "root": hex::encode(s.root),
        })),
        "unsignedTail": range_json(r.unsigned_tail.as_ref()),
        "uncommittedTail": range_json(r.uncommitted_tail.as_ref()),
        "serviceCertificatePinned": r.service_certificate_pinned,
        "elapsedSeconds": r.elapsed.as_secs_f64(),
        "governance": {
            "serviceId": g.service_id,
            "consortiumSince": g.consortium_since.map(|t| t.to_string()),
            "governanceTransactions": g.governance_transactions,
            "requests": g.requests,
            "acks": g.acks,
            "proposals": g.proposals,
            "ballots": g.ballots,
            "accepted": g.accepted,
            "rejected": g.rejected,
            "withdrawn": g.withdrawn,
            "failed": g.failed,
            "directChanges": g.direct_changes,
        },
    })
}

fn print_report(r: &AuditReport) -> anyhow::Result<()> {
    match &r.finding {
        None => outln!(
            "clean: {} entries and {} signatures checked (last seqno {}, {:.2}s)",
            r.entries,
            r.signatures,
            r.last_seqno,
            r.elapsed.as_secs_f64()
        )?,
        Some(f) => outln!("FINDING: {f}")?,
    }
    if let Some(s) = &r.last_signature {
        outln!(
            "last signature: {} root {} (pass --require-root {}:{} to a later audit)",
            s.tx_id,
            hex::encode(s.root),
            s.tx_id.seqno(),
            hex::encode(s.root)
        )?;
    }
    if let Some(tail) = &r.uncommitted_tail {
        outln!(
            "uncommitted tail: seqnos {}..={} (discarded by the next open)",
            tail.start(),
            tail.end()
        )?;
    }
    if !r.service_certificate_pinned {
        outln!("note: the service certificate was not pinned (--service-cert): the audit proves the ledger consistent with its own certificate only")?;
    }
    Ok(())
}
