//! `ledger users`: certificate users and their roles, on a ledger that is not being served.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use crate::dir::{self, LedgerDir};
use crate::output::outln;
use crate::output::print_json;
use crate::tx::close;
use crate::user_id::{certificate_der, certificate_user_id};
use crate::Outcome;

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// Add or update a certificate user; prints its user id.
    #[command(after_help = "\
Examples:
  ledger users set ./my-ledger --cert alice.pem --role Administrator
  ledger users set ./my-ledger --cert bob.pem --role Reader --json

The user id is the certificate's fingerprint as Azure Confidential Ledger writes it for
certificate users: SHA-256 of the DER certificate, uppercase hex bytes joined by colons
(what `openssl x509 -noout -fingerprint -sha256 -in CERT` prints), e.g.
7F:75:58:60:70:A8:B6:15:A2:CD:24:55:25:B9:64:49:F8:BF:F0:E3:4D:92:EA:B2:8C:30:E6:2D:F4:77:30:1F
Roles: Administrator, Contributor, Reader, or a custom role the ledger defines.
The ledger must not be in use: while it is served, manage users through the REST API.")]
    Set {
        /// The ledger directory.
        dir: PathBuf,
        /// The user's certificate: PEM (the first CERTIFICATE block; a key may follow) or DER.
        #[arg(long, value_name = "PEM")]
        cert: PathBuf,
        /// The role to give the user.
        #[arg(long)]
        role: String,
    },
    /// List the ledger's users and their roles.
    #[command(after_help = "\
Examples:
  ledger users list ./my-ledger --json")]
    List {
        /// The ledger directory.
        dir: PathBuf,
    },
}

pub(crate) fn run(command: UsersCommand, json: bool) -> anyhow::Result<Outcome> {
    match command {
        UsersCommand::Set { dir, cert, role } => set(&dir, &cert, &role, json),
        UsersCommand::List { dir } => list(&dir, json),
    }
}

fn set(
    root: &std::path::Path,
    cert: &std::path::Path,
    role: &str,
    json: bool,
) -> anyhow::Result<Outcome> {
    let bytes = std::fs::read(cert).with_context(|| format!("cannot read {}", cert.display()))?;
    let der = certificate_der(&bytes)
        .with_context(|| format!("{} is not a certificate", cert.display()))?;
    let user_id = certificate_user_id(&der);
    let dir = LedgerDir::open(root)?;
    let ledger = dir.open_ledger()?;
    let recorded = ledger
        .governance()
        .set_user(&user_id, role)
        .map_err(|e| dir::describe(e, dir.root()));
    close(ledger, &dir)?;
    let tx_id = recorded.with_context(|| format!("cannot give the user the role {role:?}"))?;
    if json {
        print_json(&json!({
            "userId": user_id,
            "assignedRole": role,
            "transactionId": tx_id.to_string(),
        }))?;
    } else {
        outln!("{user_id}")?;
    }
    Ok(Outcome::Success)
}

fn list(root: &std::path::Path, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(root)?;
    let ledger = dir.open_ledger()?;
    let users = ledger
        .governance()
        .users()
        .map_err(|e| dir::describe(e, dir.root()));
    close(ledger, &dir)?;
    let users = users?;
    if json {
        let list: Vec<_> = users
            .iter()
            .map(|u| json!({ "userId": u.user_id, "assignedRole": u.role }))
            .collect();
        print_json(&json!({ "ledgerUsers": list }))?;
    } else {
        for user in &users {
            outln!("{}\t{}", user.user_id, user.role)?;
        }
    }
    Ok(Outcome::Success)
}
