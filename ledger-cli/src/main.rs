//! `ledger`: the command line of the ledger engine.
//!
//! Every subcommand works on a *ledger directory* (`dir.rs` specifies it: `ledger.json` and
//! the RocksDB store in `store/`), except `verify`, which checks a receipt file offline
//! against a service certificate with no ledger at hand.
//!
//! # Conventions
//!
//! * Results go to stdout; `--json` makes them one JSON document (one line; `export` writes
//!   JSON lines) for scripts. Byte fields are JSON strings when they are UTF-8, else a
//!   `<name>Base64` field in standard base64.
//! * Errors are one line on stderr, `ledger: error: ...`, and a non-zero exit code.
//! * Exit codes: 0 success; 1 error (bad input, missing or damaged ledger, I/O); 2 usage
//!   error (clap); 3 a negative verdict (`audit` found an inconsistency, `verify` rejected the
//!   receipt, `wait` ended with the transaction Invalid or Unknown); 4 `wait` timed out while
//!   the transaction was still Pending.

mod audit;
mod backup;
mod cluster;
mod dir;
mod gov;
mod inspect;
mod output;
mod receipts;
mod serve;
mod tx;
mod user_id;
mod users;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What a subcommand concluded, when it ran without error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Exit code 0.
    Success,
    /// Exit code 3: the thing checked is not valid.
    Negative,
    /// Exit code 4: gave up waiting.
    TimedOut,
}

/// Exit code of an error.
const EXIT_ERROR: u8 = 1;
/// Exit code of a negative verdict.
const EXIT_NEGATIVE: u8 = 3;
/// Exit code of a timeout.
const EXIT_TIMED_OUT: u8 = 4;

const ABOUT: &str =
    "Create, write, read, verify, audit, back up and inspect a tamper-evident ledger";

const LONG_ABOUT: &str = "\
Create, write, read, verify, audit, back up and inspect a tamper-evident ledger.

A ledger directory holds ledger.json (settings: format version, service name, listen address)
and store/ (the RocksDB ledger). `ledger init DIR` creates one. Every transaction gets an id
VIEW.SEQNO (e.g. 1.5); once committed it has a receipt that anyone holding the service
certificate can verify offline with `ledger verify`.";

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  error: bad input, missing or damaged ledger, I/O failure (one line on stderr)
  2  usage error
  3  negative verdict: the audit found an inconsistency, the receipt does not verify, the
     awaited transaction is Invalid or Unknown
  4  `wait` timed out while the transaction was Pending";

const EXAMPLES: &str = "\
Examples:
  ledger init ./my-ledger
  ledger append ./my-ledger -c audit 'alice approved invoice 17'      # prints 1.3
  ledger get ./my-ledger 1.3 -c audit
  ledger list ./my-ledger -c audit --from 1.1 --limit 50 --json
  ledger receipt ./my-ledger 1.3 > receipt.json
  ledger service-cert ./my-ledger > service-cert.pem
  ledger verify receipt.json --service-cert service-cert.pem
  ledger audit ./my-ledger --service-cert service-cert.pem
  ledger backup ./my-ledger ./my-backup && ledger restore ./my-backup ./copy
  ledger users set ./my-ledger --cert alice.pem --role Contributor
  ledger serve ./my-ledger --listen 127.0.0.1:8443";

#[derive(Debug, Parser)]
#[command(
    name = "ledger",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = format!("{EXAMPLES}\n\n{EXIT_CODES}"),
    propagate_version = true
)]
struct Cli {
    /// Print results as JSON for scripts (one document per line).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a new ledger directory.
    #[command(after_help = "\
Examples:
  ledger init ./my-ledger
  ledger init ./my-ledger --service-name contoso --listen 0.0.0.0:8443

Creates DIR (which must not exist or be empty) with ledger.json and a new ledger in store/:
a fresh service identity (self-signed CA certificate) and node identity.")]
    Init(tx::InitArgs),
    /// Append an entry to a collection, wait for its commit and print its transaction id.
    #[command(after_help = "\
Examples:
  ledger append ./my-ledger -c audit 'alice approved invoice 17'
  ledger append ./my-ledger -c documents --file contract.pdf
  echo hello | ledger append ./my-ledger -c audit --file -")]
    Append(tx::AppendArgs),
    /// Print an entry of a collection (its raw contents, or JSON with --json).
    #[command(after_help = "\
Examples:
  ledger get ./my-ledger 1.3 -c audit
  ledger get ./my-ledger -c audit            # the collection's latest entry
  ledger get ./my-ledger 1.3 -c audit --json")]
    Get(tx::GetArgs),
    /// List a collection's entries in a range of transaction ids, a page at a time.
    #[command(after_help = "\
Examples:
  ledger list ./my-ledger -c audit
  ledger list ./my-ledger -c audit --from 1.10 --to 1.20
  ledger list ./my-ledger -c audit --limit 100 --json         # prints nextCursor if there is more
  ledger list ./my-ledger -c audit --limit 100 --cursor 101
  ledger list ./my-ledger -c audit --all")]
    List(tx::ListArgs),
    /// Print the commit status of a transaction: Unknown, Pending, Committed or Invalid.
    #[command(after_help = "\
Examples:
  ledger status ./my-ledger 1.3
  ledger status ./my-ledger 1.3 --json     # {\"transactionId\":\"1.3\",\"state\":\"Committed\"}")]
    Status(tx::StatusArgs),
    /// Wait until a transaction is no longer Pending; exit 0 once Committed.
    #[command(after_help = "\
Examples:
  ledger wait ./my-ledger 1.3
  ledger wait ./my-ledger 1.3 --timeout 60

Exit code 0 when Committed, 3 when Invalid or Unknown, 4 when still Pending at the timeout.")]
    Wait(tx::WaitArgs),
    /// Write the receipt of a committed transaction (CCF JSON, or a COSE receipt).
    #[command(after_help = "\
Examples:
  ledger receipt ./my-ledger 1.3 > receipt.json
  ledger receipt ./my-ledger 1.3 --format cose --output receipt.cose")]
    Receipt(receipts::ReceiptArgs),
    /// Verify a receipt file offline against a service certificate (no ledger needed).
    #[command(after_help = "\
Examples:
  ledger verify receipt.json --service-cert service-cert.pem
  ledger verify receipt.cose --service-cert service-cert.pem --json
  ledger verify acl-get-receipt-response.json --service-cert ledger-identity.pem

Reads CCF JSON receipts, the get-receipt responses Azure Confidential Ledger serves (with
their application claims, whose digest is recomputed) and COSE receipts (RFC 9942, CCF
profile); the format is recognised by the content unless --format says. Exit code 0 when the
receipt verifies, 3 when it does not, 1 when it cannot be read.")]
    Verify(receipts::VerifyArgs),
    /// Audit a ledger offline: entries, tree, signatures, certificates, governance.
    #[command(after_help = "\
Examples:
  ledger audit ./my-ledger --service-cert service-cert.pem
  ledger audit ./my-ledger --json > audit.json

Opens the store read-only (works while the ledger is being served). Shows a progress bar on a
terminal, plain progress lines on stderr otherwise. Exit code 0 when clean, 3 when the audit
found an inconsistency (the finding is printed), 1 when it could not run.")]
    Audit(audit::AuditArgs),
    /// Write an online, consistent backup of a ledger directory.
    #[command(after_help = "\
Examples:
  ledger backup ./my-ledger ./backups/2026-11-30

BACKUP_DIR must not exist or be empty; it receives ledger.json and the store's backup
(store/, with its manifest LEDGER-BACKUP). Restore it with `ledger restore`.")]
    Backup(backup::BackupArgs),
    /// Restore a backup into a new ledger directory, verifying every file and entry.
    #[command(after_help = "\
Examples:
  ledger restore ./backups/2026-11-30 ./my-ledger-restored

The restored ledger begins a new view and a new instance epoch on its first open.")]
    Restore(backup::RestoreArgs),
    /// Show a ledger's views, signatures, sizes and collections (read-only).
    #[command(after_help = "\
Examples:
  ledger inspect ./my-ledger
  ledger inspect ./my-ledger --signatures --json")]
    Inspect(inspect::InspectArgs),
    /// Export committed transactions as JSON lines, streaming (read-only).
    #[command(after_help = "\
Examples:
  ledger export ./my-ledger > ledger.jsonl
  ledger export ./my-ledger -c audit --from 1.100 --output audit.jsonl

One line per transaction: {\"transactionId\", \"kind\", \"claimsDigest\", \"appends\":
[{\"collectionId\", \"contents\"}], \"writes\": [{\"table\", \"key\", \"value\"}], \"signature\"}.
Byte fields that are not UTF-8 appear as <name>Base64.")]
    Export(inspect::ExportArgs),
    /// Print the service certificate (PEM): what receipt verifiers and clients trust.
    #[command(after_help = "\
Examples:
  ledger service-cert ./my-ledger > service-cert.pem")]
    ServiceCert(tx::ServiceCertArgs),
    /// Manage the ledger's users (while the ledger is not being served).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Serve the Azure Confidential Ledger data-plane REST API (api-version 2022-05-13) over
    /// HTTPS until SIGTERM or Ctrl-C.
    #[command(after_help = "\
Examples:
  ledger users set ./my-ledger --cert admin.crt --role Administrator
  ledger service-cert ./my-ledger > service_cert.pem
  ledger serve ./my-ledger                          # https://127.0.0.1:8443 (DIR/ledger.json)
  ledger serve ./my-ledger --listen 0.0.0.0:9443 --tls-name ledger.example.org

Clients authenticate with a client certificate (self-signed is fine) whose user id (`ledger
users set` prints it) has a role; the server's TLS certificate is issued by the service key,
so service_cert.pem is the trust anchor (the Python SDK's ledger_certificate_path). While it
runs the server holds the store: manage users through /app/users/{userId}. On a signal it
finishes requests in flight and commits every acknowledged write before exiting.")]
    Serve(serve::ServeArgs),
    /// Found a replicated cluster of node directories, or show a running cluster's state.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// A member's signed governance requests to a running node: ack, propose, ballot,
    /// withdraw, and show proposals.
    #[command(subcommand)]
    Gov(gov::GovCommand),
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let json = cli.json;
    match cli.command {
        Command::Init(args) => tx::init(args, json),
        Command::Append(args) => tx::append(args, json),
        Command::Get(args) => tx::get(args, json),
        Command::List(args) => tx::list(args, json),
        Command::Status(args) => tx::status(args, json),
        Command::Wait(args) => tx::wait(args, json),
        Command::Receipt(args) => receipts::receipt(args),
        Command::Verify(args) => receipts::verify(args, json),
        Command::Audit(args) => audit::audit(args, json),
        Command::Backup(args) => backup::backup(args, json),
        Command::Restore(args) => backup::restore(args, json),
        Command::Inspect(args) => inspect::inspect(args, json),
        Command::Export(args) => inspect::export(args),
        Command::ServiceCert(args) => tx::service_cert(args, json),
        Command::Cluster(command) => cluster::run(command, json),
        Command::Gov(command) => gov::run(command, json),
        Command::Users(command) => users::run(command, json),
        Command::Serve(args) => serve::serve(args, json),
    }
}

/// Whether `err` is a write to a closed pipe (`ledger export DIR | head`): the reader has
/// what it wanted, so the command ends quietly, as Unix tools do.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Logs go to stderr, filtered by `RUST_LOG` (say `RUST_LOG=ledger_raft=info`); without it
/// only `serve` logs, at `warn`, so the other commands' output stays what their docs show.
fn init_logging(cli: &Cli) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => tracing_subscriber::EnvFilter::new(spec),
        Err(_) if matches!(cli.command, Command::Serve(_)) => {
            tracing_subscriber::EnvFilter::new("warn")
        }
        Err(_) => return,
    };
    // Fails only if a subscriber is already set, which nothing else does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli) {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(EXIT_NEGATIVE),
        Ok(Outcome::TimedOut) => ExitCode::from(EXIT_TIMED_OUT),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` joins the error's context chain into one line.
            let line = format!("{err:#}").replace('\n', " ");
            let _ = writeln!(std::io::stderr(), "ledger: error: {line}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
