//! [`Server`]: the listening socket, TLS, one HTTP connection task per client, the service
//! layers, and graceful shutdown.
//!
//! # Shutdown
//!
//! When the `shutdown` future of [`Server::run`] completes, the server stops accepting,
//! tells every connection to finish (requests in flight run to their end and get their
//! answer; idle keep-alive connections close), waits for them up to
//! [`ServerConfig::shutdown_grace`], then flushes the ledger ([`Ledger::flush`]): every
//! write acknowledged with a 200 was submitted to the ledger before its answer was sent, so
//! after the flush every one of them is committed and durable (in the ledger's durability
//! mode). `run` returns only then.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use ledger_core::Ledger;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::util::BoxCloneService;
use tower::{BoxError, ServiceBuilder, ServiceExt};

use crate::api::{self, AppState, ClientIdentity};
use crate::forward::Forwarding;
use crate::source::LedgerSource;
use crate::tls::{certificate_user_id, server_tls_config};
use crate::{ServerConfig, ServerError};

type Request = axum::http::Request<Body>;
type Response = axum::http::Response<Body>;
type AppService = BoxCloneService<Request, Response, BoxError>;

/// An ACL-compatible HTTPS server over a ledger, bound to its address and ready to
/// [`run`](Server::run).
///
/// ```no_run
/// use std::sync::Arc;
/// use ledger_core::{Ledger, LedgerConfig};
/// use ledger_server::{Server, ServerConfig};
///
/// # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
/// let ledger = Arc::new(Ledger::open(LedgerConfig::new("/var/lib/ledger"))?);
/// let server = Server::bind(ledger, ServerConfig::default())?;
/// println!("serving on https://{}", server.local_addr());
/// server.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// # Ok(())
/// # }
/// ```
pub struct Server {
    source: Arc<dyn LedgerSource>,
    config: ServerConfig,
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    service_certificate_pem: String,
    service: AppService,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds `config.listen` and prepares TLS: a fresh server key certified by the ledger's
    /// service key (see the crate docs). Needs no async runtime.
    ///
    /// # Errors
    ///
    /// [`ServerError::Bind`] if the address cannot be bound; [`ServerError::InvalidConfig`]
    /// for a zero timeout or a `page_size` of [`ledger_core::MAX_PAGE_LIMIT`] or more; [`ServerError::Certificate`] if the service key cannot issue the
    /// server certificate; [`ServerError::Tls`] if rustls refuses the configuration.
    pub fn bind(ledger: Arc<Ledger>, config: ServerConfig) -> Result<Server, ServerError> {
        Self::bind_source(Arc::new(ledger), None, config)
    }

    /// Binds a server that answers from whatever ledger `source` gives at each request (a
    /// node of a replicated ledger, whose ledger is reopened at role changes), forwarding
    /// writes to the primary with `forwarding` when this node is not it (see
    /// `src/forward.rs`). The TLS certificate is issued by the service key of the ledger
    /// `source` gives now.
    ///
    /// # Errors
    ///
    /// As [`Server::bind`]; the source's failure to give a ledger
    /// ([`ServerError::Certificate`]).
    pub fn bind_source(
        source: Arc<dyn LedgerSource>,
        forwarding: Option<Forwarding>,
        config: ServerConfig,
    ) -> Result<Server, ServerError> {
        for (field, value) in [
            ("request_timeout", config.request_timeout),
            ("handshake_timeout", config.handshake_timeout),
        ] {
            if value.is_zero() {
                return Err(ServerError::InvalidConfig {
                    field,
                    reason: "must be greater than zero".into(),
                });
            }
        }
        if config.page_size.get() >= ledger_core::MAX_PAGE_LIMIT {
            return Err(ServerError::InvalidConfig {
                field: "page_size",
                reason: format!(
                    "{} is over the ledger's page limit; at most {}",
                    config.page_size,
                    ledger_core::MAX_PAGE_LIMIT - 1
                ),
            });
        }
        let ledger = source
            .ledger()
            .map_err(|source| ServerError::Certificate { source })?;
        let tls = Arc::new(server_tls_config(&ledger, &config)?);
        let service_certificate_pem = ledger.service_certificate_pem();
        drop(ledger);
        let addr = config.listen;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServerError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Bind { addr, source })?;
        let local_addr = listener
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        let router = api::router(AppState {
            source: Arc::clone(&source),
            forwarding,
            page_size: config.page_size.get(),
            max_body: config.max_body_bytes.get(),
        });
        // The timeout is outermost, so time spent waiting for a concurrency slot counts;
        // the concurrency limit's semaphore is shared by every clone of the service.
        let service = ServiceBuilder::new()
            .timeout(config.request_timeout)
            .concurrency_limit(config.max_concurrent_requests.get())
            .service(router);
        Ok(Server {
            source,
            config,
            listener,
            local_addr,
            tls,
            service_certificate_pem,
            service: BoxCloneService::<Request, Response, BoxError>::new(service),
        })
    }

    /// The address the server listens on (with the port chosen when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The service's TLS trust anchor: the ledger's service certificate (PEM), which
    /// issued the server's certificate.
    pub fn service_certificate_pem(&self) -> String {
        self.service_certificate_pem.clone()
    }

    /// Serves until `shutdown` completes, then shuts down gracefully (see the module docs):
    /// no acknowledged write is lost, and the ledger is flushed before this returns. Must be
    /// called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`ServerError::Listen`] if the listening socket cannot be registered with the runtime;
    /// [`ServerError::Flush`] if the final flush fails.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServerError> {
        let addr = self.local_addr;
        let listener = TcpListener::from_std(self.listener)
            .map_err(|source| ServerError::Listen { addr, source })?;
        let acceptor = TlsAcceptor::from(self.tls);
        let connections = Arc::new(Semaphore::new(self.config.max_connections.get()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let handshake_timeout = self.config.handshake_timeout;
        tracing::info!(%addr, "serving the ACL data-plane API");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            // Out of file descriptors and the like: back off, keep serving.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
                        tracing::warn!(%peer, "connection limit reached; closing");
                        continue;
                    };
                    tcp.set_nodelay(true).ok();
                    let acceptor = acceptor.clone();
                    let service = self.service.clone();
                    let stop = stop_rx.clone();
                    tasks.spawn(async move {
                        serve_connection(tcp, peer, acceptor, service, stop, handshake_timeout)
                            .await;
                        drop(permit);
                    });
                }
            }
        }
        drop(listener);
        tracing::info!(
            connections = tasks.len(),
            "shutting down: finishing requests in flight"
        );
        stop_tx.send_replace(true);
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = tasks.len(),
                "shutdown grace period over; closing the remaining connections"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let source = Arc::clone(&self.source);
        tokio::task::spawn_blocking(move || match source.ledger() {
            Ok(ledger) => ledger.flush(),
            // A node's ledger being reopened is flushed by its closing.
            Err(ledger_core::Error::Closed) => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| ServerError::Flush {
            source: ledger_core::Error::Io {
                operation: "joining the flush task",
                source: std::io::Error::other(e.to_string()),
            },
        })?
        .map_err(|source| ServerError::Flush { source })?;
        tracing::info!("ledger flushed; server stopped");
        Ok(())
    }
}

/// One client connection: the TLS handshake (bounded), then HTTP/1.1 or HTTP/2 until the
/// client leaves or shutdown is signalled.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    service: AppService,
    mut stop: watch::Receiver<bool>,
    handshake_timeout: Duration,
) {
    let handshake = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
        () = stopped(&mut stop) => return,
    };
    let user = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| certificate_user_id(cert.as_ref()));
    let certificate: Option<Arc<[u8]>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| Arc::from(cert.as_ref()));
    let identity = ClientIdentity { user, certificate };
    let hyper_service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(identity.clone());
        let service = service.clone();
        async move {
            Ok::<_, std::convert::Infallible>(match service.oneshot(request).await {
                Ok(response) => response,
                Err(e) => api::layer_error_response(&*e),
            })
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(handshake_timeout);
    let connection = builder.serve_connection(TokioIo::new(tls), hyper_service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error at shutdown");
            }
        }
    }
}

/// Resolves once shutdown has been signalled (or the server is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> ServerConfig {
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let ledger = Arc::new(Ledger::in_memory().unwrap());
        let mut config = local();
        config.request_timeout = Duration::ZERO;
        assert!(matches!(
            Server::bind(Arc::clone(&ledger), config),
            Err(ServerError::InvalidConfig {
                field: "request_timeout",
                ..
            })
        ));
        let mut config = local();
        config.page_size = std::num::NonZeroUsize::new(ledger_core::MAX_PAGE_LIMIT).unwrap();
        assert!(matches!(
            Server::bind(Arc::clone(&ledger), config),
            Err(ServerError::InvalidConfig {
                field: "page_size",
                ..
            })
        ));
        let server = Server::bind(ledger, local()).unwrap();
        assert_ne!(server.local_addr().port(), 0);
    }

    #[test]
    fn an_address_in_use_is_a_bind_error() {
        let ledger = Arc::new(Ledger::in_memory().unwrap());
        let first = Server::bind(Arc::clone(&ledger), local()).unwrap();
        let mut config = local();
        config.listen = first.local_addr();
        match Server::bind(ledger, config) {
            Err(ServerError::Bind { addr, .. }) => assert_eq!(addr, first.local_addr()),
            other => panic!("expected a bind error, got {other:?}"),
        }
    }
}
