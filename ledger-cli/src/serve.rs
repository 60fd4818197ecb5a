//! `ledger serve`: the Azure Confidential Ledger data-plane REST API (`ledger_server`) over a
//! ledger directory, until SIGTERM or Ctrl-C.
//!
//! The server holds the store's lock while it runs, so the directory's users are managed
//! through the REST API (`/app/users/{userId}`) meanwhile; `ledger users set` works again once
//! it stopped. On a signal the server stops accepting, lets requests in flight finish, flushes
//! the ledger (every acknowledged write is committed) and the ledger is closed cleanly.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use ledger_server::{Server, ServerConfig};

use crate::cluster::ClusterSettings;
use crate::dir::LedgerDir;
use crate::output;
use crate::tx::close;
use crate::Outcome;

/// Arguments of `ledger serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The ledger directory.
    dir: PathBuf,
    /// The address to listen on, instead of the one recorded in DIR/ledger.json (port 0 picks
    /// a free port; the line printed at start names it).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// An extra DNS name for the server's TLS certificate (besides localhost, 127.0.0.1, ::1
    /// and the listen address); repeat for several.
    #[arg(long = "tls-name", value_name = "NAME")]
    tls_names: Vec<String>,
}

/// Runs `ledger serve`.
pub(crate) fn serve(args: ServeArgs, json: bool) -> anyhow::Result<Outcome> {
    let dir = LedgerDir::open(&args.dir)?;
    if let Some(cluster) = ClusterSettings::of(dir.settings())? {
        let listen = args.listen.unwrap_or(dir.settings().listen);
        return crate::cluster::serve_node(&dir, cluster, listen, args.tls_names, json);
    }
    let ledger = Arc::new(dir.open_ledger()?);
    let mut config = ServerConfig::default();
    config.listen = args.listen.unwrap_or(dir.settings().listen);
    config.tls_dns_names = args.tls_names;
    let listen = config.listen;
    let server = Server::bind(Arc::clone(&ledger), config)
        .with_context(|| format!("cannot serve on {listen}"))?;
    let addr = server.local_addr();
    let url = format!("https://{addr}");
    if json {
        output::print_json(&serde_json::json!({
            "listen": addr.to_string(),
            "url": url,
            "serviceId": ledger.service_id(),
        }))?;
    } else {
        // Flushed at once: a script that started the server reads this line for the port.
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "serving {} on {url} (service id {}); stop with Ctrl-C or SIGTERM",
            dir.root().display(),
            ledger.service_id()
        )
        .and_then(|()| out.flush())
        .context("writing to stdout")?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the server's runtime")?;
    runtime
        .block_on(server.run(stop_signal()))
        .context("the server stopped with an error")?;
    drop(runtime);
    let ledger = Arc::try_unwrap(ledger)
        .map_err(|_| anyhow::anyhow!("the server still holds the ledger after stopping"))?;
    close(ledger, &dir)?;
    Ok(Outcome::Success)
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM.
pub(crate) async fn stop_signal() {
    let interrupt = async {
        // An error means no handler could be installed: then only SIGTERM stops the server.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => interrupt.await,
        }
    }
    #[cfg(not(unix))]
    interrupt.await;
}
