//! [`ServerConfig`]: where the server listens, the names its TLS certificate carries, and
//! the limits it holds every request to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

/// How a [`crate::Server`] listens and what it bounds. Every field has a documented default
/// ([`ServerConfig::default`]); change fields on a default value:
///
/// ```
/// let mut config = ledger_server::ServerConfig::default();
/// config.listen = "0.0.0.0:9443".parse().unwrap();
/// config.tls_dns_names.push("ledger.example.com".into());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The address to listen on. Default = `127.0.0.1:8443`. Port 0 picks a free port
    /// ([`crate::Server::local_addr`] tells which).
    pub listen: SocketAddr,
    /// DNS names the TLS server certificate carries beside `localhost`. Default = none.
    pub tls_dns_names: Vec<String>,
    /// IP addresses the TLS server certificate carries beside `127.0.0.1` and `::1` (and the
    /// listen address when it is a specific one). Default = none.
    pub tls_ip_addresses: Vec<IpAddr>,
    /// The largest request body accepted; a larger one gets 413. Default = 1 MiB (1,048,576
    /// bytes), ACL's limit for a ledger entry.
    pub max_body_bytes: NonZeroUsize,
    /// How long one request may take, waiting for a concurrency slot included; past it the
    /// client gets 503. Default = 30 s.
    pub request_timeout: Duration,
    /// How many requests run at once; more wait (within `request_timeout`). Default = 256.
    pub max_concurrent_requests: NonZeroUsize,
    /// How many TLS connections are open at once; further connections are closed as soon as
    /// they are accepted. Default = 1,024.
    pub max_connections: NonZeroUsize,
    /// How long a client may take to complete the TLS handshake, and to send a request's
    /// headers. Default = 10 s.
    pub handshake_timeout: Duration,
    /// Entries per page of `GET /app/transactions` and collections per page of
    /// `GET /app/collections`; the rest is reached through `nextLink`. Default = 100.
    pub page_size: NonZeroUsize,
    /// How long a graceful shutdown waits for requests in flight before closing their
    /// connections. The ledger is flushed after that in every case. Default = 30 s.
    pub shutdown_grace: Duration,
}

/// 1 MiB.
const DEFAULT_MAX_BODY: NonZeroUsize = match NonZeroUsize::new(1 << 20) {
    Some(n) => n,
    None => unreachable!(),
};
const DEFAULT_CONCURRENCY: NonZeroUsize = match NonZeroUsize::new(256) {
    Some(n) => n,
    None => unreachable!(),
};
const DEFAULT_CONNECTIONS: NonZeroUsize = match NonZeroUsize::new(1024) {
    Some(n) => n,
    None => unreachable!(),
};
const DEFAULT_PAGE: NonZeroUsize = match NonZeroUsize::new(100) {
    Some(n) => n,
    None => unreachable!(),
};

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443),
            tls_dns_names: Vec::new(),
            tls_ip_addresses: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(30),
            max_concurrent_requests: DEFAULT_CONCURRENCY,
            max_connections: DEFAULT_CONNECTIONS,
            handshake_timeout: Duration::from_secs(10),
            page_size: DEFAULT_PAGE,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}
