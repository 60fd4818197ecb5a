//! `ledger inspect` and `ledger export`: read-only views of the store, decoded with the
//! engine's public entry decoders. Both read the store page by page (memory bounded by one
//! page of entries, plus one counter per collection and table for `inspect`) and take no
//! lock, so they work while another process serves the ledger.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use clap::Args;
use ledger_core::{decode_entry, LedgerEntry, SignaturePayload, TxId, TxKind};
use ledger_store::{RocksStore, Store};
use serde_json::{json, Map, Value};

use crate::dir::{self, LedgerDir};
use crate::output::{print_json, put_bytes};
use crate::tx::parse_tx_id;
use crate::Outcome;

/// Entries read from the store at a time.
const PAGE: usize = 256;

fn kind_name(kind: TxKind) -> &'static str {
    match kind {
        TxKind::User => "user",
        TxKind::Signature => "signature",
        TxKind::Governance => "governance",
        _ => "other",
    }
}

/// Reads and decodes the entries `from..=to`, a page at a time, calling `each` in order.
fn scan(
    store: &RocksStore,
    dir: &LedgerDir,
    from: u64,
    to: u64,
    mut each: impl FnMut(u64, usize, LedgerEntry) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut next = from.max(1);
    while next <= to {
        let page = store
            .entries(next..=to, PAGE)
            .map_err(|e| dir::describe(e.into(), dir.root()))?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        for (seqno, bytes) in page {
            let entry = decode_entry(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "the entry at seqno {seqno} of {} does not decode ({e}); `ledger audit` checks the whole ledger",
                    dir.root().display()
                )
            })?;
            each(seqno, bytes.len(), entry)?;
        }
        next = last + 1;
    }
    Ok(())
}

fn signature_json(sig: &SignaturePayload, tx_id: TxId) -> Value {
    json!({
        "transactionId": tx_id.to_string(),
        "root": hex::encode(sig.root),
        "nodeId": sig.node_id,
        "signature": base64::engine::general_purpose::STANDARD.encode(&sig.signature),
    })
}

/// Total size of the files directly in `path`.
fn files_size(path: &Path) -> anyhow::Result<(u64, u64)> {
    let mut files = 0;
    let mut bytes = 0;
    for item in fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))? {
        let meta = item
            .and_then(|i| i.metadata())
            .with_context(|| format!("cannot list {}", path.display()))?;
        if meta.is_file() {
            files += 1;
            bytes += meta.len();
        }
    }
    Ok((files, bytes))
}

/// `ledger inspect`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// List every signature transaction.
    #[arg(long)]
    signatures: bool,
}

#[derive(Default)]
struct Counts {
    count: u64,
    bytes: u64,
}

pub(crate) fn inspect(args: InspectArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let store = dir.open_store_read_only()?;
    let state = store.state();
    let (files, disk_bytes) = files_size(&dir.store_path())?;

    let mut kinds: BTreeMap<&'static str, Counts> = BTreeMap::new();
    let mut collections: BTreeMap<String, Counts> = BTreeMap::new();
    let mut tables: BTreeMap<String, u64> = BTreeMap::new();
    let mut views: Vec<(u64, u64)> = Vec::new();
    let mut signatures: Vec<Value> = Vec::new();
    let mut signature_count = 0u64;
    let mut last_signature = Value::Null;
    let mut entry_bytes = 0u64;
    scan(&store, &dir, 1, state.last_seqno, |seqno, size, entry| {
        let size = size as u64;
        entry_bytes += size;
        let k = kinds.entry(kind_name(entry.kind)).or_default();
        k.count += 1;
        k.bytes += size;
        if views
            .last()
            .is_none_or(|(view, _)| *view != entry.tx_id.view())
        {
            views.push((entry.tx_id.view(), seqno));
        }
        for append in &entry.body.appends {
            let c = collections.entry(append.collection.clone()).or_default();
            c.count += 1;
            c.bytes += append.contents.len() as u64;
        }
        for write in &entry.body.writes {
            *tables.entry(write.table.clone()).or_default() += 1;
        }
        if let Some(sig) = &entry.body.signature {
            signature_count += 1;
            last_signature = signature_json(sig, entry.tx_id);
            if args.signatures {
                signatures.push(last_signature.clone());
            }
        }
        Ok(())
    })?;

    let uncommitted = (state.last_seqno > state.committed_seqno)
        .then(|| json!({ "first": state.committed_seqno + 1, "last": state.last_seqno }));
    let settings = dir.settings();
    let report = json!({
        "path": dir.root().display().to_string(),
        "settings": {
            "version": settings.version,
            "serviceName": settings.service_name,
            "listen": settings.listen.to_string(),
        },
        "store": {
            "lastSeqno": state.last_seqno,
            "committedSeqno": state.committed_seqno,
            "uncommittedTail": uncommitted,
            "files": files,
            "bytesOnDisk": disk_bytes,
            "entryBytes": entry_bytes,
        },
        "transactions": kinds.iter().map(|(k, c)| (k.to_string(), json!({ "count": c.count, "bytes": c.bytes }))).collect::<Map<_, _>>(),
        "views": views.iter().map(|(view, from)| json!({ "view": view, "firstSeqno": from })).collect::<Vec<_>>(),
        "signatures": {
            "count": signature_count,
            "last": last_signature,
            "all": if args.signatures { Value::Array(signatures.clone()) } else { Value::Null },
        },
        "collections": collections.iter().map(|(name, c)| json!({ "collectionId": name, "entries": c.count, "bytes": c.bytes })).collect::<Vec<_>>(),
        "tables": tables.iter().map(|(name, n)| json!({ "table": name, "writes": n })).collect::<Vec<_>>(),
    });
    if json {
        print_json(&report)?;
        return Ok(Outcome::Success);
    }

    let mut out = io::stdout().lock();
    writeln!(
        out,
        "ledger      {} (settings version {}, service {:?}, listen {})",
        dir.root().display(),
        settings.version,
        settings.service_name,
        settings.listen
    )?;
    writeln!(
        out,
        "store       last seqno {}, committed seqno {}; {} files, {} bytes on disk; entries {} bytes",
        state.last_seqno, state.committed_seqno, files, disk_bytes, entry_bytes
    )?;
    if state.last_seqno > state.committed_seqno {
        writeln!(
            out,
            "            uncommitted tail {}..={} (discarded by the next open)",
            state.committed_seqno + 1,
            state.last_seqno
        )?;
    }
    let kinds_line: Vec<String> = kinds
        .iter()
        .map(|(k, c)| format!("{} {k} ({} bytes)", c.count, c.bytes))
        .collect();
    writeln!(out, "transactions {}", kinds_line.join(", "))?;
    let views_line: Vec<String> = views
        .iter()
        .map(|(view, from)| format!("{view} from seqno {from}"))
        .collect();
    writeln!(out, "views       {}", views_line.join("; "))?;
    match last_signature.get("transactionId") {
        Some(id) => writeln!(
            out,
            "signatures  {signature_count}, last at {} root {} node {}",
            id.as_str().unwrap_or_default(),
            last_signature["root"].as_str().unwrap_or_default(),
            last_signature["nodeId"].as_str().unwrap_or_default()
        )?,
        None => writeln!(out, "signatures  none")?,
    }
    for sig in &signatures {
        writeln!(
            out,
            "  {}\t{}",
            sig["transactionId"].as_str().unwrap_or_default(),
            sig["root"].as_str().unwrap_or_default()
        )?;
    }
    writeln!(out, "collections {}", collections.len())?;
    for (name, c) in &collections {
        writeln!(out, "  {name}\t{} entries\t{} bytes", c.count, c.bytes)?;
    }
    writeln!(out, "tables      {}", tables.len())?;
    for (name, n) in &tables {
        writeln!(out, "  {name}\t{n} writes")?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// `ledger export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// Only transactions that append to this collection.
    #[arg(short, long)]
    collection: Option<String>,
    /// The first transaction (inclusive; only its seqno counts).
    #[arg(long, value_name = "TXID", value_parser = parse_tx_id)]
    from: Option<TxId>,
    /// The last transaction (inclusive; only its seqno counts).
    #[arg(long, value_name = "TXID", value_parser = parse_tx_id)]
    to: Option<TxId>,
    /// Write to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// One transaction as a JSON object (a line of `export`).
fn transaction_json(entry: &LedgerEntry) -> Value {
    let mut object = Map::new();
    object.insert("transactionId".into(), json!(entry.tx_id.to_string()));
    object.insert("kind".into(), json!(kind_name(entry.kind)));
    object.insert(
        "claimsDigest".into(),
        json!(hex::encode(entry.body.claims_digest)),
    );
    let appends: Vec<Value> = entry
        .body
        .appends
        .iter()
        .map(|a| {
            let mut o = Map::new();
            o.insert("collectionId".into(), json!(a.collection));
            put_bytes(&mut o, "contents", &a.contents);
            Value::Object(o)
        })
        .collect();
    object.insert("appends".into(), Value::Array(appends));
    let writes: Vec<Value> = entry
        .body
        .writes
        .iter()
        .map(|w| {
            let mut o = Map::new();
            o.insert("table".into(), json!(w.table));
            put_bytes(&mut o, "key", &w.key);
            match &w.value {
                Some(value) => put_bytes(&mut o, "value", value),
                None => {
                    o.insert("value".into(), Value::Null);
                }
            }
            Value::Object(o)
        })
        .collect();
    object.insert("writes".into(), Value::Array(writes));
    if let Some(sig) = &entry.body.signature {
        object.insert("signature".into(), signature_json(sig, entry.tx_id));
    }
    Value::Object(object)
}

pub(crate) fn export(args: ExportArgs) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    let store = dir.open_store_read_only()?;
    // Only the committed prefix: a tail above it is what a crashed writer left, which the
    // next read-write open discards.
    let last = store.state().committed_seqno;
    let from = args.from.map_or(1, TxId::seqno);
    let to = args.to.map_or(last, |t| t.seqno().min(last));
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    let mut write_line = |entry: &LedgerEntry| -> anyhow::Result<()> {
        serde_json::to_writer(&mut out, &transaction_json(entry)).context("writing the export")?;
        out.write_all(b"\n").context("writing the export")?;
        Ok(())
    };
    match &args.collection {
        None => scan(&store, &dir, from, to, |_, _, entry| write_line(&entry))?,
        Some(collection) => {
            let mut next = from.max(1);
            while next <= to {
                let seqnos = store
                    .collection_seqnos(collection, next..=to, PAGE)
                    .map_err(|e| dir::describe(e.into(), dir.root()))?;
                let Some(&last_read) = seqnos.last() else {
                    break;
                };
                for seqno in seqnos {
                    scan(&store, &dir, seqno, seqno, |_, _, entry| write_line(&entry))?;
                }
                next = last_read + 1;
            }
        }
    }
    out.flush().context("writing the export")?;
    Ok(Outcome::Success)
}
