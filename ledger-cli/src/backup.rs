//! `ledger backup` and `ledger restore`.
//!
//! # Format
//!
//! A backup directory holds `ledger.json` (the settings of the ledger directory it was taken
//! from, as they were) and `store/`, the store's online backup (`Ledger::backup`: a RocksDB
//! checkpoint and its manifest `LEDGER-BACKUP`). `ledger restore` writes a new ledger
//! directory from it: the same settings, and the store restored and verified by
//! `Ledger::restore`.

use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use ledger_core::BackupInfo;
use serde_json::json;

use crate::dir::{self, LedgerDir, Settings, SETTINGS_FILE, STORE_DIR};
use crate::output::outln;
use crate::output::print_json;
use crate::tx::close;
use crate::Outcome;

/// `ledger backup`.
#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// Where to write the backup (must not exist, or be empty).
    backup_dir: PathBuf,
}

/// `ledger restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// The backup directory (written by `ledger backup`).
    backup_dir: PathBuf,
    /// The ledger directory to create (must not exist, or be empty).
    dir: PathBuf,
}

fn info_json(info: &BackupInfo, path: &std::path::Path) -> serde_json::Value {
    json!({
        "path": path.display().to_string(),
        "lastSeqno": info.last_seqno,
        "committedSeqno": info.committed_seqno,
        "files": info.files,
        "bytes": info.bytes,
    })
}

pub(crate) fn backup(args: BackupArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    dir::require_empty(&args.backup_dir)?;
    let ledger = dir.open_ledger()?;
    fs::create_dir_all(&args.backup_dir)
        .with_context(|| format!("cannot create {}", args.backup_dir.display()))?;
    let made = ledger
        .backup(args.backup_dir.join(STORE_DIR))
        .map_err(|e| dir::describe(e, dir.root()));
    close(ledger, &dir)?;
    let info = made.context("backup failed")?;
    dir::write_settings_file(&args.backup_dir, dir.settings())?;
    if json {
        print_json(&info_json(&info, &args.backup_dir))?;
    } else {
        outln!(
            "backed up {} to {}: {} committed transactions, {} files, {} bytes",
            dir.root().display(),
            args.backup_dir.display(),
            info.committed_seqno,
            info.files,
            info.bytes
        )?;
    }
    Ok(Outcome::Success)
}

pub(crate) fn restore(args: RestoreArgs, json: bool) -> anyhow::Result<Outcome> {
    let settings_file = args.backup_dir.join(SETTINGS_FILE);
    let text = match fs::read_to_string(&settings_file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "{} is not a ledger backup: it has no {SETTINGS_FILE} (write one with `ledger backup`)",
            args.backup_dir.display()
        ),
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot read {}", settings_file.display()))
            )
        }
    };
    let settings = Settings::parse(&text, &settings_file)?;
    let (dir, info) = LedgerDir::restore(&args.backup_dir.join(STORE_DIR), &args.dir, settings)?;
    // The first open records the restore (a new view and instance epoch): do it now, so that
    // a restored directory that does not open is reported here.
    let ledger = dir.open_ledger()?;
    close(ledger, &dir)?;
    if json {
        print_json(&info_json(&info, dir.root()))?;
    } else {
        outln!(
            "restored {} into {}: {} committed transactions",
            args.backup_dir.display(),
            dir.root().display(),
            info.committed_seqno
        )?;
    }
    Ok(Outcome::Success)
}
