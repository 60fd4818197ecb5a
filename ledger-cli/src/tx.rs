//! Subcommands over the engine: `init`, `append`, `get`, `list`, `status`, `wait`,
//! `service-cert`.

use std::io::{self, Read as _, Write as _};
use std::net::SocketAddr;
use std::ops::Bound;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Args;
use ledger_core::{Cursor, Entry, Ledger, TxId, TxStatus, MAX_PAGE_LIMIT};
use serde_json::{json, Map, Value};

use crate::dir::{self, LedgerDir, Settings};
use crate::output::{errln, outln};
use crate::output::{print_json, put_bytes, show_bytes, write_output};
use crate::Outcome;

/// Parses a transaction id, `VIEW.SEQNO`.
pub(crate) fn parse_tx_id(text: &str) -> Result<TxId, String> {
    text.parse::<TxId>()
        .map_err(|e| format!("{e} (expected VIEW.SEQNO, e.g. 1.5)"))
}

/// A transaction status in the words of CCF and Azure Confidential Ledger.
pub(crate) fn status_name(status: TxStatus) -> &'static str {
    match status {
        TxStatus::Unknown => "Unknown",
        TxStatus::Pending => "Pending",
        TxStatus::Committed => "Committed",
        TxStatus::Invalid => "Invalid",
    }
}

/// Closes the ledger, reporting a failure to write what it recorded.
pub(crate) fn close(ledger: Ledger, dir: &LedgerDir) -> anyhow::Result<()> {
    ledger
        .close()
        .map_err(|e| dir::describe(e, dir.root()))
        .context("closing the ledger")
}

/// The JSON of one entry: `{"transactionId", "collectionId", "contents"}`.
pub(crate) fn entry_json(entry: &Entry) -> Value {
    let mut object = Map::new();
    object.insert("transactionId".into(), json!(entry.tx_id.to_string()));
    object.insert("collectionId".into(), json!(entry.collection));
    put_bytes(&mut object, "contents", &entry.contents);
    Value::Object(object)
}

/// `ledger init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The ledger directory to create (must not exist, or be empty).
    dir: PathBuf,
    /// The service's name, recorded in ledger.json.
    #[arg(long, default_value = dir::DEFAULT_SERVICE_NAME)]
    service_name: String,
    /// The address a server of this ledger listens on, recorded in ledger.json.
    #[arg(long, value_name = "ADDR:PORT", default_value = dir::DEFAULT_LISTEN)]
    listen: SocketAddr,
}

pub(crate) fn init(args: InitArgs, json: bool) -> anyhow::Result<Outcome> {
    let (dir, ledger) =
        LedgerDir::create(&args.dir, Settings::new(args.service_name, args.listen))?;
    let service_id = ledger.service_id().to_owned();
    let node_id = ledger.node_id().to_owned();
    close(ledger, &dir)?;
    if json {
        print_json(&json!({
            "path": dir.root().display().to_string(),
            "serviceId": service_id,
            "nodeId": node_id,
            "serviceName": dir.settings().service_name,
            "listen": dir.settings().listen.to_string(),
        }))?;
    } else {
        outln!(
            "created ledger {} (service id {service_id})",
            dir.root().display()
        )?;
    }
    Ok(Outcome::Success)
}

/// `ledger append`.
#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The collection (sub-ledger) to append to.
    #[arg(short, long)]
    collection: String,
    /// The entry's contents, as text.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    contents: Option<String>,
    /// Read the entry's contents from FILE (`-` for stdin) instead.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// How long to wait for the commit, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

fn read_contents(args: &AppendArgs) -> anyhow::Result<Vec<u8>> {
    match (&args.contents, &args.file) {
        (Some(text), _) => Ok(text.as_bytes().to_vec()),
        (None, Some(path)) if path.as_os_str() == "-" => {
            let mut bytes = Vec::new();
            io::stdin()
                .read_to_end(&mut bytes)
                .context("reading stdin")?;
            Ok(bytes)
        }
        (None, Some(path)) => {
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
        }
        (None, None) => bail!("give the contents, or --file"),
    }
}

pub(crate) fn append(args: AppendArgs, json: bool) -> anyhow::Result<Outcome> {
    let contents = read_contents(&args)?;
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let id = ledger
        .append(&args.collection, &contents)
        .map_err(|e| dir::describe(e, dir.root()))?;
    let status = ledger
        .wait_for_commit(id, Duration::from_secs(args.timeout))
        .map_err(|e| dir::describe(e, dir.root()))?;
    close(ledger, &dir)?;
    if json {
        print_json(&json!({
            "transactionId": id.to_string(),
            "collectionId": args.collection,
            "state": status_name(status),
        }))?;
    } else {
        outln!("{id}")?;
    }
    Ok(Outcome::Success)
}

/// `ledger get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The transaction (VIEW.SEQNO); without it, the collection's latest entry.
    #[arg(value_parser = parse_tx_id)]
    tx_id: Option<TxId>,
    /// The collection the entry belongs to.
    #[arg(short, long)]
    collection: String,
}

pub(crate) fn get(args: GetArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let found = match args.tx_id {
        Some(id) => Some(
            ledger
                .entry(&args.collection, id)
                .map_err(|e| dir::describe(e, dir.root()))?,
        ),
        None => ledger
            .latest(&args.collection)
            .map_err(|e| dir::describe(e, dir.root()))?,
    };
    close(ledger, &dir)?;
    let Some(entry) = found else {
        bail!("the collection {:?} has no entries", args.collection);
    };
    if json {
        print_json(&entry_json(&entry))?;
    } else {
        write_output(None, &entry.contents, false)?;
    }
    Ok(Outcome::Success)
}

/// `ledger list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The collection to list.
    #[arg(short, long)]
    collection: String,
    /// The first transaction of the range (inclusive; only its seqno counts).
    #[arg(long, value_name = "TXID", value_parser = parse_tx_id)]
    from: Option<TxId>,
    /// The last transaction of the range (inclusive; only its seqno counts).
    #[arg(long, value_name = "TXID", value_parser = parse_tx_id)]
    to: Option<TxId>,
    /// Entries per page.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=MAX_PAGE_LIMIT as u64))]
    limit: u64,
    /// Continue where a previous page ended (its nextCursor).
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Every page, one after the other.
    #[arg(long)]
    all: bool,
}

pub(crate) fn list(args: ListArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let result = list_pages(&ledger, &dir, &args, json);
    close(ledger, &dir)?;
    result.map(|()| Outcome::Success)
}

fn list_pages(ledger: &Ledger, dir: &LedgerDir, args: &ListArgs, json: bool) -> anyhow::Result<()> {
    let range = (
        args.from.map_or(Bound::Unbounded, Bound::Included),
        args.to.map_or(Bound::Unbounded, Bound::Included),
    );
    // `limit` is at most MAX_PAGE_LIMIT, which fits any usize.
    let limit = usize::try_from(args.limit).unwrap_or(MAX_PAGE_LIMIT);
    let mut cursor = args.cursor.clone().map(Cursor::from_string);
    let page_at = |cursor: Option<&Cursor>| {
        ledger
            .entries_page(&args.collection, range, cursor, limit)
            .map_err(|e| dir::describe(e, dir.root()))
    };
    if json && !args.all {
        let page = page_at(cursor.as_ref())?;
        let entries: Vec<Value> = page.entries.iter().map(entry_json).collect();
        let next = page.next.as_ref().map(|c| c.as_str().to_owned());
        return print_json(&json!({ "entries": entries, "nextCursor": next }));
    }
    // Pages are written as they are read: memory stays at one page whatever the range.
    let mut out = io::stdout().lock();
    if json {
        out.write_all(b"{\"entries\":[")?;
    }
    let mut first = true;
    loop {
        let page = page_at(cursor.as_ref())?;
        for entry in &page.entries {
            if json {
                if !first {
                    out.write_all(b",")?;
                }
                serde_json::to_writer(&mut out, &entry_json(entry))?;
            } else {
                writeln!(out, "{}\t{}", entry.tx_id, show_bytes(&entry.contents))?;
            }
            first = false;
        }
        match page.next {
            Some(next) if args.all => cursor = Some(next),
            Some(next) => {
                out.flush()?;
                errln!("more entries: continue with --cursor {}", next.as_str());
                return Ok(());
            }
            None => break,
        }
    }
    if json {
        out.write_all(b"],\"nextCursor\":null}\n")?;
    }
    out.flush()?;
    Ok(())
}

/// `ledger status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The transaction (VIEW.SEQNO).
    #[arg(value_parser = parse_tx_id)]
    tx_id: TxId,
}

pub(crate) fn status(args: StatusArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let status = ledger.status(args.tx_id);
    close(ledger, &dir)?;
    print_status(args.tx_id, status, json)?;
    Ok(Outcome::Success)
}

fn print_status(id: TxId, status: TxStatus, json: bool) -> anyhow::Result<()> {
    if json {
        print_json(&json!({ "transactionId": id.to_string(), "state": status_name(status) }))
    } else {
        outln!("{}", status_name(status))?;
        Ok(())
    }
}

/// `ledger wait`.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The transaction (VIEW.SEQNO).
    #[arg(value_parser = parse_tx_id)]
    tx_id: TxId,
    /// How long to wait, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    timeout: u64,
}

pub(crate) fn wait(args: WaitArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let status = ledger
        .wait_for_commit(args.tx_id, Duration::from_secs(args.timeout))
        .map_err(|e| dir::describe(e, dir.root()))?;
    close(ledger, &dir)?;
    print_status(args.tx_id, status, json)?;
    Ok(match status {
        TxStatus::Committed => Outcome::Success,
        TxStatus::Pending => Outcome::TimedOut,
        TxStatus::Invalid | TxStatus::Unknown => Outcome::Negative,
    })
}

/// `ledger service-cert`.
#[derive(Debug, Args)]
pub(crate) struct ServiceCertArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// Write the certificate to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub(crate) fn service_cert(args: ServiceCertArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let ledger = dir.open_ledger()?;
    let pem = ledger.service_certificate_pem();
    let service_id = ledger.service_id().to_owned();
    close(ledger, &dir)?;
    if json {
        print_json(&json!({ "serviceId": service_id, "certificate": pem }))?;
    } else {
        write_output(args.output.as_deref(), pem.as_bytes(), false)?;
    }
    Ok(Outcome::Success)
}
