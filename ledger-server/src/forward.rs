//! Writes sent to a node that is not the primary are forwarded to the primary, as CCF
//! forwards them: the caller talks to any node, and only the primary sequences.
//!
//! # Protocol
//!
//! A node that receives a write (`POST`, `PUT`, `PATCH`, `DELETE` under `/app/` or `/gov/`) while its
//! ledger is not the primary sends the same request (method, path, query, content type,
//! body) to the primary's REST address ([`Forwarding::new`]'s `peers`, keyed by the node
//! names [`crate::NodeStatus`] uses), over TLS that authenticates both ends:
//!
//! * the forwarding node presents **its node certificate** (issued by the service identity
//!   and recorded by the ledger), and trusts the primary's server certificate only if the
//!   service certificate issued it;
//! * the request names the caller in [`FORWARDED_USER`] (the user id the caller's own
//!   client certificate gave; none for `/gov/`, whose requests are signed by members and
//!   authenticated by the signature). The primary honours that header only on a connection whose
//!   client certificate the service endorses now and the ledger records as a node's, byte
//!   for byte; anyone else sending it gets 403. The primary then decides the request as that
//!   user, with its own (newest) users and roles.
//!
//! The primary's answer is relayed (status, body, content type, transaction id), and every
//! answer names the node that produced it in [`NODE_HEADER`]: a forwarded write's answer
//! names the primary that sequenced it.
//!
//! A forwarded request is never forwarded again: a node that is not the primary when one
//! reaches it answers 503, as does a node that knows no primary (an election is under way)
//! or cannot reach it; clients retry 503.
//!
//! # Read-your-writes through a backup
//!
//! After relaying a successful write, the forwarding node waits (up to
//! [`Forwarding::commit_wait`]) until it has applied the transaction itself, so the caller's
//! next reads on that node (status, entry, receipt) see it. Past the wait the answer goes out
//! anyway; the transaction's status on that node is then Unknown until it catches up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ledger_core::{verify_node_endorsement, NodeIdentity, Role, TxId};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::api::{ApiError, AppState, ClientIdentity, TX_HEADER};
use crate::tls::canonical_user_id;
use crate::ServerError;

/// The header naming the user a forwarded request is made for.
pub const FORWARDED_USER: &str = "x-ledger-forwarded-user";
/// The header naming the node that produced an answer.
pub const NODE_HEADER: &str = "x-ledger-node";

/// How a node reaches its cluster's primary: the protocol is in `src/forward.rs` and the
/// crate documentation's route table.
#[derive(Clone)]
pub struct Forwarding {
    client: reqwest::Client,
    peers: Arc<BTreeMap<String, SocketAddr>>,
    commit_wait: Duration,
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarding")
            .field("peers", &self.peers)
            .field("commit_wait", &self.commit_wait)
            .finish_non_exhaustive()
    }
}

impl Forwarding {
    /// Forwarding as node `identity` (its certificate is its credential at the primary), to
    /// the REST addresses `peers` (every node of the cluster by name, this one included),
    /// trusting servers whose certificate `service_certificate_pem` issued. Forwarded
    /// requests time out after `timeout`; [`Forwarding::commit_wait`] defaults to 5 s.
    ///
    /// # Errors
    ///
    /// [`ServerError::Forwarding`] if the node's key or the service certificate cannot be
    /// read, or the TLS client cannot be built.
    pub fn new(
        identity: &NodeIdentity,
        service_certificate_pem: &str,
        peers: BTreeMap<String, SocketAddr>,
        timeout: Duration,
    ) -> Result<Self, ServerError> {
        let failed = |what: &str, e: &dyn std::fmt::Display| ServerError::Forwarding {
            reason: format!("{what}: {e}"),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let service = CertificateDer::from_pem_slice(service_certificate_pem.as_bytes())
            .map_err(|e| failed("the service certificate", &e))?;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(service)
            .map_err(|e| failed("the service certificate as a trust anchor", &e))?;
        let key = identity
            .private_key_pkcs8_der()
            .map_err(|e| failed("the node key", &e))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec()));
        let chain = vec![CertificateDer::from(identity.certificate_der().to_vec())];
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| failed("TLS versions", &e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| failed("the node certificate", &e))?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2).min(timeout))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| failed("the HTTP client", &e))?;
        Ok(Self {
            client,
            peers: Arc::new(peers),
            commit_wait: Duration::from_secs(5),
        })
    }

    /// How long a forwarding node waits to have applied a forwarded write before answering.
    pub fn commit_wait(mut self, wait: Duration) -> Self {
        self.commit_wait = wait;
        self
    }

    /// The cluster's nodes and their REST addresses.
    pub fn peers(&self) -> &BTreeMap<String, SocketAddr> {
        &self.peers
    }
}

fn is_write(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// The middleware in front of every route: resolves the user of a forwarded request, and
/// forwards a write this node cannot make.
pub(crate) async fn route(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(forwarded) = request.headers_mut().remove(FORWARDED_USER) {
        let certificate = request
            .extensions()
            .get::<ClientIdentity>()
            .and_then(|i| i.certificate.clone());
        return match forwarded_identity(&state, certificate, &forwarded).await {
            Ok(identity) => {
                request.extensions_mut().insert(identity);
                next.run(request).await
            }
            Err(e) => e.into_response(),
        };
    }
    let path = request.uri().path();
    let (app, gov) = (path.starts_with("/app/"), path.starts_with("/gov/"));
    let forwarding = match &state.forwarding {
        Some(f) if is_write(request.method()) && (app || gov) => f.clone(),
        _ => return next.run(request).await,
    };
    let user = request
        .extensions()
        .get::<ClientIdentity>()
        .and_then(|i| i.user.clone());
    let local_is_primary = state
        .source
        .ledger()
        .is_ok_and(|l| l.role() != Role::Backup);
    if local_is_primary {
        return next.run(request).await;
    }
    match user {
        // A member's request is authenticated by its signature, not by a user.
        _ if gov => forward(&state, &forwarding, request, None).await,
        Some(user) => forward(&state, &forwarding, request, Some(&user)).await,
        // Refused here: no client certificate.
        None => next.run(request).await,
    }
}

/// The caller a forwarded request names, if its connection is a recorded node's.
async fn forwarded_identity(
    state: &AppState,
    certificate: Option<Arc<[u8]>>,
    forwarded: &HeaderValue,
) -> Result<ClientIdentity, ApiError> {
    let refused = |why: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            format!("a forwarded request is accepted only from a node of this service: {why}"),
        )
    };
    let user = forwarded
        .to_str()
        .map_err(|_| refused("the forwarded user is not text".into()))?;
    let certificate = certificate.ok_or_else(|| refused("no client certificate".into()))?;
    let ledger = state.source.ledger()?;
    let node = tokio::task::spawn_blocking(move || {
        let endorsed = verify_node_endorsement(
            &certificate,
            ledger.service_certificate_pem(),
            SystemTime::now(),
        )
        .map_err(|e| refused(e.to_string()))?;
        let recorded = ledger
            .governance()
            .nodes()?
            .into_iter()
            .find(|n| n.node_id == endorsed.node_id)
            .and_then(|n| {
                verify_node_endorsement(
                    n.certificate_pem.as_bytes(),
                    ledger.service_certificate_pem(),
                    SystemTime::now(),
                )
                .ok()
            });
        match recorded {
            Some(r) if r.certificate_der == endorsed.certificate_der => Ok(endorsed.node_id),
            _ => Err(refused(format!(
                "node {} is not recorded by the ledger",
                endorsed.node_id
            ))),
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("request task failed: {e}")))??;
    tracing::debug!(%node, user, "serving a forwarded request");
    Ok(ClientIdentity {
        user: Some(canonical_user_id(user)),
        certificate: None,
    })
}

fn unavailable(message: String) -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "ServiceUnavailable",
        message,
    )
    .into_response()
}

/// Sends `request` to the primary as `user` (none for a member's signed governance request),
/// relays the answer, and waits to have applied the write.
async fn forward(
    state: &AppState,
    forwarding: &Forwarding,
    request: Request,
    user: Option<&str>,
) -> Response {
    let status = state.source.status();
    let Some(primary) = status.primary.filter(|p| *p != status.node) else {
        return unavailable("no primary is known now (an election may be under way); retry".into());
    };
    let Some(addr) = forwarding.peers.get(&primary).copied() else {
        return unavailable(format!("the primary, node {primary}, has no known address"));
    };
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, state.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                format!("the request body is over {} bytes", state.max_body),
            )
            .into_response()
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
    let mut outgoing = forwarding
        .client
        .request(parts.method, format!("https://{addr}{path}"))
        .body(body);
    if let Some(user) = user {
        outgoing = outgoing.header(FORWARDED_USER, user);
    }
    if let Some(ct) = parts.headers.get(header::CONTENT_TYPE) {
        outgoing = outgoing.header(header::CONTENT_TYPE, ct);
    }
    let answer = match outgoing.send().await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(%primary, %addr, error = %e, "forwarding to the primary failed");
            return unavailable(format!(
                "the primary, node {primary}, did not answer; retry"
            ));
        }
    };
    let code = answer.status();
    let mut headers = Vec::new();
    for name in [
        header::CONTENT_TYPE,
        HeaderName::from_static(TX_HEADER),
        HeaderName::from_static(NODE_HEADER),
    ] {
        if let Some(v) = answer.headers().get(&name) {
            headers.push((name, v.clone()));
        }
    }
    let bytes = match answer.bytes().await {
        Ok(b) => b,
        Err(e) => return unavailable(format!("the primary's answer was cut short: {e}")),
    };
    let tx = headers
        .iter()
        .find(|(n, _)| n.as_str() == TX_HEADER)
        .and_then(|(_, v)| v.to_str().ok())
        .and_then(|v| v.parse::<TxId>().ok());
    if let (true, Some(tx)) = (code.is_success(), tx) {
        let source = Arc::clone(&state.source);
        let wait = forwarding.commit_wait;
        let applied = tokio::task::spawn_blocking(move || source.wait_for_commit(tx, wait)).await;
        if !matches!(applied, Ok(Ok(ledger_core::TxStatus::Committed))) {
            tracing::debug!(%tx, "a forwarded write is not applied here yet");
        }
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = code;
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}
