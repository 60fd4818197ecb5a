//! Raft between processes: RPCs as HTTP/1.1 requests over mutual TLS, each node
//! authenticated by its node certificate.
//!
//! * [`TlsNetwork`] is a node's `RaftNetworkFactory`: it sends to the address in the target's
//!   [`BasicNode`] (`host:port` of the target's [`RaftServer`]).
//! * [`RaftServer`] listens for peers and hands their RPCs to the node's [`Raft`].
//! * [`PeerTrust`] decides who is a peer, on both ends of every connection.
//!
//! # Trust
//!
//! Both sides present their node certificate ([`NodeIdentity`]) and accept the other's only
//! if it is **recorded by the ledger** (byte for byte among the node records, which the
//! genesis writes for founding nodes: `ledger_core::governance::Genesis::node`) **and
//! endorsed by the service identity now** (issued by the service certificate and within its
//! validity period: [`ledger_core::verify_node_endorsement`]). A connection from anyone else
//! fails in the TLS handshake, before any request is read; a certificate the service issued
//! but the ledger does not record is refused too. Host names are not checked: a peer is
//! identified by its certificate, not by where it listens.
//!
//! # Wire format
//!
//! `POST https://{addr}/raft/append`, `/raft/vote` and `/raft/snapshot`: the body is openraft's
//! request (`AppendEntriesRequest`, `VoteRequest`, `InstallSnapshotRequest`), and a `200`
//! answer's body is `Result<response, RaftError>`, both as a version byte (1) followed by the
//! value's serde encoding in bincode's standard configuration (the encoding the Raft log's
//! records use). Other answers: `400` for a body that does not decode, `404` for another
//! path, `405` for another method, `413` for a body over
//! [`TransportConfig::max_message_bytes`], `503` once the node's Raft has stopped. A reply over
//! that size is refused by the sender as well.
//!
//! # Failures, timeouts, reconnection
//!
//! Every RPC is bounded by openraft's hard TTL for it (`RPCOption::hard_ttl`), connecting by
//! [`TransportConfig::connect_timeout`] and a server's TLS handshake by
//! [`TransportConfig::handshake_timeout`]. A peer that cannot be connected to is
//! `Unreachable` to openraft, which then waits by [`TlsNetwork`]'s backoff (doubling from
//! [`TransportConfig::backoff_min`] to [`TransportConfig::backoff_max`]) before it tries again;
//! other failures are network errors, retried at once. Connections are pooled per peer and
//! made again when they break, so a restarted peer is reached again on its own.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use ledger_core::{verify_node_endorsement, Ledger, NodeIdentity};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{Backoff, RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use parking_lot::RwLock;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::codec;
use crate::types::{NodeId, TypeConfig};

/// Limits and timeouts of the transport.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportConfig {
    /// The largest request or reply body, in bytes. Default 64 MiB: well above a replication
    /// batch ([`crate::REPLICATION_BATCH_BYTES`] plus one entry) and a snapshot chunk
    /// (openraft's `snapshot_max_chunk_size`, 3 MiB by default).
    pub max_message_bytes: usize,
    /// How long connecting to a peer may take. Default 2 s.
    pub connect_timeout: Duration,
    /// How long a peer's TLS handshake and request head may take. Default 5 s.
    pub handshake_timeout: Duration,
    /// The most connections a [`RaftServer`] serves at once. Default 256.
    pub max_connections: usize,
    /// The first wait after a peer was unreachable. Default 50 ms.
    pub backoff_min: Duration,
    /// The longest wait after a peer was unreachable. Default 2 s.
    pub backoff_max: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(2),
            handshake_timeout: Duration::from_secs(5),
            max_connections: 256,
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_secs(2),
        }
    }
}

/// Why the transport could not be set up, or a peer was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// A certificate is not one the service endorses now.
    #[error("node certificate not endorsed by the service: {source}")]
    NotEndorsed {
        /// What the endorsement check found.
        #[source]
        source: ledger_core::Error,
    },
    /// A certificate the service endorses, but the ledger does not record.
    #[error("node {node_id} is not recorded by the ledger")]
    NotRecorded {
        /// The certificate's node id.
        node_id: String,
    },
    /// The ledger's node records could not be read.
    #[error("reading the ledger's node records: {source}")]
    Ledger {
        /// The ledger's error.
        #[source]
        source: ledger_core::Error,
    },
    /// The node key could not be exported for TLS.
    #[error("the node key: {source}")]
    Key {
        /// The ledger's error.
        #[source]
        source: ledger_core::Error,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {source}")]
    Tls {
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {source}")]
    Client {
        /// reqwest's error.
        #[source]
        source: reqwest::Error,
    },
    /// The listening address could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Who may talk Raft with this node: node certificates the ledger records and the service
/// endorses (see the [module documentation](self)). Shared by a node's [`TlsNetwork`] and
/// [`RaftServer`]; [`PeerTrust::record`] adds a node while they run.
#[derive(Debug)]
pub struct PeerTrust {
    service_certificate_pem: String,
    /// Recorded node certificates (DER) by node id.
    recorded: RwLock<BTreeMap<String, Vec<u8>>>,
}

impl PeerTrust {
    /// Trust for a service whose certificate is `service_certificate_pem`, with the node
    /// certificates (PEM or DER) the ledger records.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotEndorsed`] if one of them is not endorsed by the service now.
    pub fn new<C: AsRef<[u8]>>(
        service_certificate_pem: &str,
        node_certificates: impl IntoIterator<Item = C>,
    ) -> Result<Self, TransportError> {
        let trust = Self {
            service_certificate_pem: service_certificate_pem.to_owned(),
            recorded: RwLock::new(BTreeMap::new()),
        };
        for certificate in node_certificates {
            trust.record(certificate.as_ref())?;
        }
        Ok(trust)
    }

    /// Trust read from `ledger`: its service certificate and every node it records (see
    /// [`PeerTrust::record_ledger_nodes`]).
    ///
    /// # Errors
    ///
    /// [`TransportError::Ledger`] if the node records cannot be read.
    pub fn from_ledger(ledger: &Ledger) -> Result<Self, TransportError> {
        let trust = Self::new(
            &ledger.service_certificate_pem(),
            std::iter::empty::<&[u8]>(),
        )?;
        trust.record_ledger_nodes(ledger)?;
        Ok(trust)
    }

    /// Trusts every node `ledger` records (`Governance::nodes`); returns how many are trusted
    /// now. A record whose certificate the service no longer endorses (expired) is left out
    /// (logged).
    ///
    /// # Errors
    ///
    /// [`TransportError::Ledger`] if the node records cannot be read.
    pub fn record_ledger_nodes(&self, ledger: &Ledger) -> Result<usize, TransportError> {
        let nodes = ledger
            .governance()
            .nodes()
            .map_err(|source| TransportError::Ledger { source })?;
        for node in nodes {
            if let Err(e) = self.record(node.certificate_pem.as_bytes()) {
                tracing::warn!(node = %node.node_id, error = %e, "a recorded node is not trusted");
            }
        }
        Ok(self.recorded.read().len())
    }

    /// Trusts `certificate` (PEM or DER) as a recorded node's; returns its node id.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotEndorsed`] if the service does not endorse it now.
    pub fn record(&self, certificate: &[u8]) -> Result<String, TransportError> {
        let endorsed = verify_node_endorsement(
            certificate,
            &self.service_certificate_pem,
            SystemTime::now(),
        )
        .map_err(|source| TransportError::NotEndorsed { source })?;
        self.recorded
            .write()
            .insert(endorsed.node_id.clone(), endorsed.certificate_der);
        Ok(endorsed.node_id)
    }

    /// The node ids trusted.
    pub fn node_ids(&self) -> Vec<String> {
        self.recorded.read().keys().cloned().collect()
    }

    /// Checks a peer's certificate (DER): endorsed by the service now and recorded, byte for
    /// byte. Returns its node id.
    ///
    /// # Errors
    ///
    /// [`TransportError::NotEndorsed`] or [`TransportError::NotRecorded`].
    pub fn check(&self, certificate_der: &[u8]) -> Result<String, TransportError> {
        let endorsed = verify_node_endorsement(
            certificate_der,
            &self.service_certificate_pem,
            SystemTime::now(),
        )
        .map_err(|source| TransportError::NotEndorsed { source })?;
        let recorded = self.recorded.read();
        match recorded.get(&endorsed.node_id) {
            Some(der) if *der == endorsed.certificate_der => Ok(endorsed.node_id),
            _ => Err(TransportError::NotRecorded {
                node_id: endorsed.node_id,
            }),
        }
    }

    fn verify(&self, end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        self.check(end_entity.as_ref()).map(drop).map_err(|e| {
            tracing::warn!(error = %e, "refused a peer's certificate");
            rustls::Error::InvalidCertificate(match e {
                TransportError::NotRecorded { .. } => {
                    CertificateError::ApplicationVerificationFailure
                }
                _ => CertificateError::BadSignature,
            })
        })
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn node_credentials(
    identity: &NodeIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TransportError> {
    let key = identity
        .private_key_pkcs8_der()
        .map_err(|source| TransportError::Key { source })?;
    Ok((
        vec![CertificateDer::from(identity.certificate_der().to_vec())],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
    ))
}

/// The server side of [`PeerTrust`]: a client certificate is required and must be a peer's.
#[derive(Debug)]
struct PeerClientVerifier {
    trust: Arc<PeerTrust>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PeerClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.trust.verify(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The client side of [`PeerTrust`]: the server's certificate must be a peer's, whatever
/// name it was reached by.
#[derive(Debug)]
struct PeerServerVerifier {
    trust: Arc<PeerTrust>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PeerServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.trust.verify(end_entity)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The rustls client configuration a node connects to its peers with (its certificate, the
/// peers' checked by `trust`). [`TlsNetwork`] uses it; a test or a tool that speaks to a
/// [`RaftServer`] as a node may too.
///
/// # Errors
///
/// [`TransportError::Key`], [`TransportError::Tls`].
pub fn client_tls_config(
    identity: &NodeIdentity,
    trust: Arc<PeerTrust>,
) -> Result<rustls::ClientConfig, TransportError> {
    let provider = provider();
    let (chain, key) = node_credentials(identity)?;
    let verifier = Arc::new(PeerServerVerifier {
        trust,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TransportError::Tls { source })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|source| TransportError::Tls { source })?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

fn server_tls_config(
    identity: &NodeIdentity,
    trust: Arc<PeerTrust>,
) -> Result<rustls::ServerConfig, TransportError> {
    let provider = provider();
    let (chain, key) = node_credentials(identity)?;
    let verifier = Arc::new(PeerClientVerifier {
        trust,
        algorithms: provider.signature_verification_algorithms,
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TransportError::Tls { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| TransportError::Tls { source })?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tls)
}

/// A node's `RaftNetworkFactory` over mutual TLS (see the [module documentation](self)).
/// Cheap to clone: connections are pooled in one shared client.
#[derive(Clone, Debug)]
pub struct TlsNetwork {
    client: reqwest::Client,
    config: TransportConfig,
}

impl TlsNetwork {
    /// The network of the node `identity`, trusting the peers `trust` names.
    ///
    /// # Errors
    ///
    /// [`TransportError::Key`], [`TransportError::Tls`], [`TransportError::Client`].
    pub fn new(
        identity: &NodeIdentity,
        trust: Arc<PeerTrust>,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        let tls = client_tls_config(identity, trust)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| TransportError::Client { source })?;
        Ok(Self { client, config })
    }
}

impl RaftNetworkFactory<TypeConfig> for TlsNetwork {
    type Network = TlsConnection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> TlsConnection {
        TlsConnection {
            client: self.client.clone(),
            target,
            base: format!("https://{}/raft", node.addr),
            config: self.config.clone(),
        }
    }
}

/// One node's connection to a peer (its `RaftNetwork`).
///
/// # Errors
///
/// Each RPC fails with `RPCError::Unreachable` when the peer cannot be connected to (down,
/// refused, or its certificate not trusted), `RPCError::Network` for any other transport
/// failure (a timeout, a reset, a reply that does not decode or is too large, a refusal by
/// status code), and `RPCError::RemoteError` when the peer's Raft answers with an error.
#[derive(Clone, Debug)]
pub struct TlsConnection {
    client: reqwest::Client,
    target: NodeId,
    base: String,
    config: TransportConfig,
}

/// A transport failure, as the source of openraft's network errors.
#[derive(Debug, thiserror::Error)]
#[error("raft rpc {rpc} to node {target}: {detail}")]
struct WireError {
    rpc: &'static str,
    target: NodeId,
    detail: String,
}

impl TlsConnection {
    async fn call<Q, A, E>(
        &self,
        rpc: &'static str,
        request: &Q,
        option: &RPCOption,
    ) -> Result<A, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Q: Serialize,
        A: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let fail = |detail: String| WireError {
            rpc,
            target: self.target,
            detail,
        };
        let body = codec::encode("raft request", request)
            .map_err(|e| RPCError::Network(NetworkError::new(&fail(e.to_string()))))?;
        let sent = self
            .client
            .post(format!("{}/{rpc}", self.base))
            .timeout(option.hard_ttl())
            .body(body)
            .send()
            .await;
        let mut response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => {
                return Err(RPCError::Unreachable(Unreachable::new(&fail(error_chain(
                    &e,
                )))))
            }
            Err(e) => return Err(RPCError::Network(NetworkError::new(&fail(error_chain(&e))))),
        };
        let status = response.status();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() + chunk.len() > self.config.max_message_bytes {
                        return Err(RPCError::Network(NetworkError::new(&fail(format!(
                            "reply over {} bytes",
                            self.config.max_message_bytes
                        )))));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(RPCError::Network(NetworkError::new(&fail(error_chain(&e))))),
            }
        }
        if status != reqwest::StatusCode::OK {
            return Err(RPCError::Network(NetworkError::new(&fail(format!(
                "answered {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )))));
        }
        let answer: Result<A, RaftError<NodeId, E>> =
            codec::decode(|| format!("raft {rpc} reply"), &bytes)
                .map_err(|e| RPCError::Network(NetworkError::new(&fail(e.to_string()))))?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

/// An error with its sources, for logs (reqwest's top-level message hides the cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl RaftNetwork<TypeConfig> for TlsConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("vote", &rpc, &option).await
    }

    fn backoff(&self) -> Backoff {
        let (min, max) = (self.config.backoff_min, self.config.backoff_max);
        Backoff::new(std::iter::successors(Some(min), move |d| {
            Some((*d * 2).min(max))
        }))
    }
}

/// A node's listener for its peers' Raft RPCs (see the [module documentation](self)): bound
/// by [`RaftServer::bind`], serving a [`Raft`] with [`RaftServer::run`].
pub struct RaftServer {
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    config: TransportConfig,
}

impl std::fmt::Debug for RaftServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftServer")
            .field("local_addr", &self.local_addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RaftServer {
    /// Binds `addr` for node `identity`, accepting the peers `trust` names. Binding comes
    /// before the node's Raft exists, so the address (port 0 picks one) can go into the
    /// cluster's membership first. Needs no async runtime.
    ///
    /// # Errors
    ///
    /// [`TransportError::Bind`], [`TransportError::Key`], [`TransportError::Tls`].
    pub fn bind(
        addr: SocketAddr,
        identity: &NodeIdentity,
        trust: Arc<PeerTrust>,
        config: TransportConfig,
    ) -> Result<Self, TransportError> {
        let tls = Arc::new(server_tls_config(identity, trust)?);
        let bind = |source| TransportError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let local_addr = listener.local_addr().map_err(bind)?;
        Ok(Self {
            listener,
            local_addr,
            tls,
            config,
        })
    }

    /// The address bound (with the port chosen when it was 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves `raft`'s peers until `shutdown` completes; connections still open are then
    /// dropped. Must be called within a Tokio runtime.
    ///
    /// # Errors
    ///
    /// [`TransportError::Bind`] if the socket cannot be registered with the runtime.
    pub async fn run(
        self,
        raft: Raft<TypeConfig>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), TransportError> {
        let addr = self.local_addr;
        let listener = TcpListener::from_std(self.listener)
            .map_err(|source| TransportError::Bind { addr, source })?;
        let acceptor = TlsAcceptor::from(self.tls);
        let mut tasks = JoinSet::new();
        let config = Arc::new(self.config);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!(error = %e, "raft accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    if tasks.len() >= config.max_connections {
                        tracing::warn!(%peer, "raft connection limit reached; closing");
                        continue;
                    }
                    tcp.set_nodelay(true).ok();
                    tasks.spawn(serve_peer(tcp, peer, acceptor.clone(), raft.clone(), config.clone()));
                }
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        Ok(())
    }
}

/// One peer connection: the handshake (bounded; an untrusted certificate ends it), then
/// HTTP/1.1 requests until the peer leaves.
async fn serve_peer(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    raft: Raft<TypeConfig>,
    config: Arc<TransportConfig>,
) {
    let tls = match tokio::time::timeout(config.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "raft peer refused in the TLS handshake");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "raft peer's TLS handshake timed out");
            return;
        }
    };
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let raft = raft.clone();
        let config = config.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(raft, &config, request).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new());
    if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
        tracing::debug!(%peer, error = %e, "raft connection ended with an error");
    }
}

fn plain(status: StatusCode, text: impl Into<String>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.into())));
    *response.status_mut() = status;
    response
}

async fn answer(
    raft: Raft<TypeConfig>,
    config: &TransportConfig,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let rpc = match request.uri().path() {
        "/raft/append" => "append",
        "/raft/vote" => "vote",
        "/raft/snapshot" => "snapshot",
        other => return plain(StatusCode::NOT_FOUND, format!("no route {other}")),
    };
    if request.method() != Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only");
    }
    let body = match Limited::new(request.into_body(), config.max_message_bytes)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return plain(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("over {} bytes", config.max_message_bytes),
            )
        }
        Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let encoded = match rpc {
        "append" => match codec::decode(|| "raft append request".into(), &body) {
            Ok(request) => reply(raft.append_entries(request).await),
            Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
        },
        "vote" => match codec::decode(|| "raft vote request".into(), &body) {
            Ok(request) => reply(raft.vote(request).await),
            Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
        },
        _ => match codec::decode(|| "raft snapshot request".into(), &body) {
            Ok(request) => reply(raft.install_snapshot(request).await),
            Err(e) => return plain(StatusCode::BAD_REQUEST, e.to_string()),
        },
    };
    match encoded {
        Some(bytes) => {
            let mut response = Response::new(Full::new(Bytes::from(bytes)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/octet-stream"),
            );
            response
        }
        None => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "this node's Raft has stopped",
        ),
    }
}

/// The encoded answer, or `None` when the node's Raft has stopped (its fatal error is not the
/// peer's to handle).
fn reply<A: Serialize, E: std::error::Error + Serialize>(
    result: Result<A, RaftError<NodeId, E>>,
) -> Option<Vec<u8>> {
    if matches!(result, Err(RaftError::Fatal(_))) {
        return None;
    }
    codec::encode("raft reply", &result).ok()
}
