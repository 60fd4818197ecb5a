//! `ledger receipt` and `ledger verify`.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use clap::{Args, ValueEnum};
use ledger_core::{CoseReceipt, Error, ServedReceipt, TxId};
use serde_json::json;

use crate::dir::{self, LedgerDir};
use crate::output::{errln, outln};
use crate::output::{print_json, write_output};
use crate::tx::{close, parse_tx_id};
use crate::Outcome;

/// A receipt's encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ReceiptFormat {
    /// CCF's JSON receipt (what Azure Confidential Ledger's receipts hold).
    Json,
    /// A COSE receipt: RFC 9942, CCF profile (CBOR, binary).
    Cose,
}

/// `ledger receipt`.
#[derive(Debug, Args)]
pub(crate) struct ReceiptArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The committed transaction (VIEW.SEQNO).
    #[arg(value_parser = parse_tx_id)]
    tx_id: TxId,
    /// The receipt's format.
    #[arg(long, value_enum, default_value_t = ReceiptFormat::Json)]
    format: ReceiptFormat,
    /// Write the receipt to FILE instead of stdout (a COSE receipt is binary: stdout must not
    /// be a terminal).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn receipt(args: ReceiptArgs) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let made = match args.format {
        ReceiptFormat::Json => ledger.receipt(args.tx_id).map(|r| {
            let mut text = r.to_json();
            text.push('\n');
            text.into_bytes()
        }),
        ReceiptFormat::Cose => ledger.cose_receipt(args.tx_id).map(|r| r.to_vec()),
    };
    close(ledger, &dir)?;
    let bytes = made.map_err(|e| dir::describe(e, dir.root()))?;
    write_output(
        args.output.as_deref(),
        &bytes,
        args.format == ReceiptFormat::Cose,
    )?;
    Ok(Outcome::Success)
}

/// `ledger verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The receipt file.
    receipt: PathBuf,
    /// The service certificate (PEM) the receipt must chain to.
    #[arg(long, value_name = "PEM")]
    service_cert: PathBuf,
    /// The receipt's format; by default recognised from its content (JSON begins with `{`).
    #[arg(long, value_enum)]
    format: Option<ReceiptFormat>,
    /// Check certificate validity periods at this time (Unix seconds) instead of now: for a
    /// JSON receipt whose certificates have expired since it was issued. COSE receipts are
    /// checked against the service key alone, with no validity period.
    #[arg(long, value_name = "UNIX_SECONDS")]
    at: Option<u64>,
}

/// What a verified receipt proves, for the report.
struct Verified {
    format: ReceiptFormat,
    tx_id: TxId,
    signed_at: Option<TxId>,
    root: String,
    claims_checked: bool,
}

pub(crate) fn verify(args: VerifyArgs, json: bool) -> anyhow::Result<Outcome> {
    let bytes = std::fs::read(&args.receipt)
        .with_context(|| format!("cannot read {}", args.receipt.display()))?;
    let cert = std::fs::read(&args.service_cert)
        .with_context(|| format!("cannot read {}", args.service_cert.display()))?;
    let cert = String::from_utf8(cert).with_context(|| {
        format!(
            "{} is not a PEM service certificate (not text)",
            args.service_cert.display()
        )
    })?;
    let format = args.format.unwrap_or_else(|| {
        if bytes.trim_ascii_start().starts_with(b"{") {
            ReceiptFormat::Json
        } else {
            ReceiptFormat::Cose
        }
    });
    let shown = args.receipt.display();
    let checked = match format {
        ReceiptFormat::Json => {
            let text = std::str::from_utf8(&bytes)
                .with_context(|| format!("{shown} is not a JSON receipt (not UTF-8 text)"))?;
            let served = ServedReceipt::from_json(text)
                .with_context(|| format!("{shown} is not a valid receipt"))?;
            let tx_id = served
                .receipt
                .tx_id()
                .with_context(|| format!("{shown} is not a valid receipt"))?;
            let at = args
                .at
                .map_or_else(SystemTime::now, |s| UNIX_EPOCH + Duration::from_secs(s));
            served.verify_at(&cert, at).map(|()| Verified {
                format,
                tx_id,
                signed_at: None,
                root: served
                    .receipt
                    .root()
                    .map(|r| hex::encode(r.as_ref()))
                    .unwrap_or_default(),
                claims_checked: !served.application_claims.is_empty(),
            })
        }
        ReceiptFormat::Cose => {
            let receipt = CoseReceipt::from_slice(&bytes)
                .with_context(|| format!("{shown} is not a valid COSE receipt"))?;
            receipt.verify(cert.as_bytes()).map(|v| Verified {
                format,
                tx_id: v.tx_id,
                signed_at: Some(v.signature_tx),
                root: hex::encode(v.root.as_ref()),
                claims_checked: false,
            })
        }
    };
    match checked {
        Ok(v) => {
            if json {
                print_json(&json!({
                    "valid": true,
                    "format": format_name(v.format),
                    "transactionId": v.tx_id.to_string(),
                    "signedAt": v.signed_at.map(|t| t.to_string()),
                    "root": v.root,
                    "applicationClaimsChecked": v.claims_checked,
                }))?;
            } else {
                outln!(
                    "OK: the {} receipt for transaction {} verifies against the service certificate",
                    format_name(v.format),
                    v.tx_id
                )?;
            }
            Ok(Outcome::Success)
        }
        Err(e @ Error::ReceiptInvalid { .. }) => {
            if json {
                print_json(&json!({
                    "valid": false,
                    "format": format_name(format),
                    "reason": e.to_string(),
                }))?;
            }
            errln!("ledger: {shown} does NOT verify: {e}");
            Ok(Outcome::Negative)
        }
        Err(
            e @ Error::InvalidInput {
                what: "service certificate",
                ..
            },
        ) => {
            bail!(
                "{} is not a usable service certificate: {e}",
                args.service_cert.display()
            )
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot verify {shown}"))),
    }
}

fn format_name(format: ReceiptFormat) -> &'static str {
    match format {
        ReceiptFormat::Json => "json",
        ReceiptFormat::Cose => "cose",
    }
}
