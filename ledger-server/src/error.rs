//! [`ServerError`]: why the server could not start or stop cleanly. Errors of single
//! requests never end the server; they become HTTP error responses (`api.rs`).

use std::net::SocketAddr;

/// Why [`crate::Server::bind`] or [`crate::Server::run`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening socket could not be opened or configured.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A setting is out of range.
    #[error("invalid server setting {field}: {reason}")]
    InvalidConfig {
        /// The [`crate::ServerConfig`] field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The service key could not issue the TLS server certificate (for instance, the
    /// ledger's service key is held outside the store and no signer was configured).
    #[error("cannot issue the TLS server certificate: {source}")]
    Certificate {
        /// The ledger's error.
        source: ledger_core::Error,
    },
    /// The TLS server key could not be encoded for rustls.
    #[error("encoding the TLS server key: {reason}")]
    TlsKey {
        /// The encoder's error.
        reason: String,
    },
    /// The TLS configuration was refused.
    #[error("TLS configuration: {source}")]
    Tls {
        /// rustls' error.
        source: rustls::Error,
    },
    /// The client that forwards writes to the primary could not be built (a node key or
    /// service certificate that does not decode, a TLS setting refused).
    #[error("setting up forwarding to the primary: {reason}")]
    Forwarding {
        /// What failed.
        reason: String,
    },
    /// The listening socket failed while serving.
    #[error("serving on {addr}: {source}")]
    Listen {
        /// The address served.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The final flush of the ledger at shutdown failed: writes acknowledged before it may
    /// not be durable.
    #[error("flushing the ledger at shutdown: {source}")]
    Flush {
        /// The ledger's error.
        source: ledger_core::Error,
    },
}
