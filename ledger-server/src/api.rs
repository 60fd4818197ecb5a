//! The routes of the ACL data-plane API (api-version 2022-05-13) as thin handlers over a
//! [`ledger_core::UserSession`]: every request is made as the user its client certificate
//! names, so the ledger's roles decide what it may do.
//!
//! # Responses
//!
//! JSON bodies in the shapes of the OpenAPI document
//! (`Microsoft.ConfidentialLedger/stable/2022-05-13/confidentialledger.json`) and of the
//! service's recorded answers; errors as `{"error": {"code", "message"}}` with:
//!
//! | status | code | when |
//! | --- | --- | --- |
//! | 400 | `MissingApiVersionParameter`, `UnsupportedApiVersion` | no or another `api-version` |
//! | 400 | `InvalidTransactionId` | a transaction id that is not `view.seqno` |
//! | 400 | `InvalidInput` | malformed JSON, a wrong body shape, a bad collection or user id, a bad range |
//! | 401 | `InvalidAuthenticationInfo` | no client certificate |
//! | 403 | `AuthorizationFailed` | an unknown certificate, or a role that does not permit the call |
//! | 404 | `InvalidTransactionId` | a well-formed id of no transaction (Unknown or Invalid status); the SDK's pollers stop on this code |
//! | 404 | `CollectionNotFound` | a collection with no entry (the default `subledger:0` always lists, empty or not) |
//! | 404 | `EntryNotFound`, `UserNotFound`, `ResourceNotFound` | what the name says |
//! | 405 | `MethodNotAllowed` | |
//! | 413 | `RequestBodyTooLarge` | a body over `max_body_bytes`, or contents over the ledger's entry limit |
//! | 415 | `UnsupportedMediaType` | a body that is not `application/json` (or `application/merge-patch+json`) |
//! | 503 | `ServiceUnavailable` | the request timed out, or the ledger is closing |
//! | 500 | `InternalError` | a storage failure |
//!
//! # States
//!
//! A transaction is readable (`GET /app/transactions/{id}`) and has a receipt once it is
//! Committed; while it is Pending both answer 200 with `"state": "Loading"` (and no entry or
//! receipt), which the SDK's `begin_get_ledger_entry` and `begin_get_receipt` pollers wait
//! through, as they do against the service while it loads history.
//!
//! A request that times out (503) is abandoned, but a ledger call it had already started
//! runs to its end: as with any lost answer, the client checks the transaction's status
//! before writing again.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use ledger_core::{Error, Ledger, Problem, TxId, TxStatus, UserSession};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::claims;
use crate::forward::{self, Forwarding, NODE_HEADER};
use crate::gov;
use crate::source::LedgerSource;
use crate::tls::canonical_user_id;

/// The api-version this server speaks.
pub(crate) const API_VERSION: &str = "2022-05-13";
/// ACL's default collection.
pub(crate) const DEFAULT_COLLECTION: &str = "subledger:0";
/// The header carrying the transaction id of a write, or the one an answer was read at.
pub(crate) const TX_HEADER: &str = "x-ms-ccf-transaction-id";

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) source: Arc<dyn LedgerSource>,
    pub(crate) forwarding: Option<Forwarding>,
    pub(crate) page_size: usize,
    pub(crate) max_body: usize,
}

/// Who a request is made for: the client certificate's user id (`None` without a
/// certificate) and the certificate itself (DER). The connection layer inserts it into every
/// request; a forwarded request's is replaced by the user it names (`src/forward.rs`).
#[derive(Clone, Debug)]
pub(crate) struct ClientIdentity {
    pub(crate) user: Option<String>,
    pub(crate) certificate: Option<Arc<[u8]>>,
}

/// An error response: status, code and message.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidInput", message)
    }

    fn no_transaction(tx: TxId) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "InvalidTransactionId",
            format!("transaction {tx} does not exist in this ledger"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match &e {
            Error::InvalidInput {
                problem: Problem::TooLarge { .. },
                what,
            } if *what == "entry contents" || *what == "transaction" => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                message,
            ),
            Error::InvalidInput { .. } => Self::bad_request(message),
            Error::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "ResourceNotFound", message),
            Error::Forbidden { .. } => {
                Self::new(StatusCode::FORBIDDEN, "AuthorizationFailed", message)
            }
            Error::Closed | Error::NotPrimary { .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                message,
            ),
            _ => {
                tracing::error!(error = %e, "ledger failure while serving a request");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
            }
        }
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// The routes, with JSON answers for unknown paths and methods.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/app/transactions",
            get(list_entries)
                .post(create_entry)
                .fallback(method_not_allowed),
        )
        .route(
            "/app/transactions/current",
            get(current_entry).fallback(method_not_allowed),
        )
        .route(
            "/app/transactions/{id}",
            get(get_entry).fallback(method_not_allowed),
        )
        .route(
            "/app/transactions/{id}/receipt",
            get(get_receipt).fallback(method_not_allowed),
        )
        .route(
            "/app/transactions/{id}/status",
            get(get_status).fallback(method_not_allowed),
        )
        .route(
            "/app/collections",
            get(list_collections).fallback(method_not_allowed),
        )
        .route(
            "/app/users/{user_id}",
            get(get_user)
                .patch(patch_user)
                .delete(delete_user)
                .fallback(method_not_allowed),
        )
        .route(
            "/app/governance/constitution",
            get(constitution).fallback(method_not_allowed),
        )
        .route(
            "/app/governance/members",
            get(members).fallback(method_not_allowed),
        )
        .route(
            "/app/enclaveQuotes",
            get(enclave_quotes).fallback(method_not_allowed),
        )
        .route(
            "/node/status",
            get(node_status).fallback(method_not_allowed),
        )
        .route(
            "/node/network",
            get(node_network).fallback(method_not_allowed),
        )
        .merge(gov::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            forward::route,
        ))
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            add_transaction_id,
        ))
        .with_state(state)
}

/// Every answer names a transaction in `x-ms-ccf-transaction-id`, as the service's do: a
/// write's own id (set by its handler), else the newest committed transaction the answer
/// was read at.
async fn add_transaction_id(State(state): State<AppState>, mut response: Response) -> Response {
    if !response.headers().contains_key(TX_HEADER) {
        if let Some(value) = state
            .source
            .ledger()
            .ok()
            .and_then(|ledger| ledger.last_committed())
            .and_then(|tx| HeaderValue::from_str(&tx.to_string()).ok())
        {
            response.headers_mut().insert(TX_HEADER, value);
        }
    }
    if !response.headers().contains_key(NODE_HEADER) {
        if let Ok(value) = HeaderValue::from_str(&state.source.status().node) {
            response.headers_mut().insert(NODE_HEADER, value);
        }
    }
    response
}

/// `GET /node/status`: what this node says of itself (no client certificate needed, as
/// CCF's `/node` routes).
async fn node_status(State(state): State<AppState>) -> ApiResult {
    let source = Arc::clone(&state.source);
    let status = tokio::task::spawn_blocking(move || source.status())
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))?;
    Ok(json_response(StatusCode::OK, json!(status), None))
}

/// `GET /node/network`: the cluster's nodes and their REST addresses (empty for a server
/// that forwards nowhere).
async fn node_network(State(state): State<AppState>) -> ApiResult {
    let nodes: Vec<Value> = state
        .forwarding
        .as_ref()
        .map(|f| {
            f.peers()
                .iter()
                .map(|(node, addr)| json!({"node": node, "address": addr.to_string()}))
                .collect()
        })
        .unwrap_or_default();
    Ok(json_response(StatusCode::OK, json!({"nodes": nodes}), None))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        "no such resource",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "method not allowed on this resource",
    )
}

/// The query string's parameters; a repeated parameter is refused.
fn query_params(raw: Option<String>) -> Result<HashMap<String, String>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    let mut map = HashMap::with_capacity(pairs.len());
    for (k, v) in pairs {
        if map.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_request(format!(
                "query parameter {k} given more than once"
            )));
        }
    }
    match map.get("api-version").map(String::as_str) {
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "the api-version query parameter is required",
        )),
        Some(API_VERSION) => Ok(map),
        Some(other) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "UnsupportedApiVersion",
            format!("api-version {other:?} is not supported; use {API_VERSION}"),
        )),
    }
}

pub(crate) fn path_param(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(p)| p)
        .map_err(|e| ApiError::bad_request(format!("malformed path: {e}")))
}

fn parse_tx(text: &str) -> Result<TxId, ApiError> {
    text.parse::<TxId>().map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidTransactionId",
            format!("{text:?} is not a transaction id (view.seqno): {e}"),
        )
    })
}

fn collection_param(params: &HashMap<String, String>) -> &str {
    params
        .get("collectionId")
        .map_or(DEFAULT_COLLECTION, String::as_str)
}

/// Runs `f` with the caller's session on the blocking pool (ledger calls may wait for the
/// writer).
async fn with_session<T, F>(
    state: &AppState,
    identity: &ClientIdentity,
    f: F,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Ledger, &UserSession<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let Some(user_id) = identity.user.clone() else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationInfo",
            "a client certificate is required",
        ));
    };
    let ledger = state.source.ledger()?;
    tokio::task::spawn_blocking(move || {
        let session = ledger.session(&user_id).map_err(|e| match e {
            Error::Forbidden { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "AuthorizationFailed",
                format!("the client certificate's user {user_id} is not a user of this ledger"),
            ),
            other => ApiError::from(other),
        })?;
        f(&ledger, &session)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("request task failed: {e}"),
        )
    })?
}

pub(crate) fn json_response(status: StatusCode, body: Value, tx: Option<TxId>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(tx) = tx {
        if let Ok(value) = HeaderValue::from_str(&tx.to_string()) {
            response.headers_mut().insert(TX_HEADER, value);
        }
    }
    response
}

/// A JSON request body: `application/json` (or `application/merge-patch+json`, which the
/// SDK sends for users), at most `max_body` bytes, parsed into `T`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T> FromRequest<AppState> for JsonBody<T>
where
    T: for<'de> Deserialize<'de>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let headers: &HeaderMap = req.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && essence != "application/merge-patch+json" {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("expected an application/json body, got {content_type:?}"),
            ));
        }
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                format!("the request body is over {} bytes", state.max_body),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > state.max_body as u64) {
            return Err(too_large());
        }
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), state.max_body)
            .await
            .map_err(|_| too_large())?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// `LedgerEntry` as a request body: `contents` is required; the read-only members are
/// ignored, as the service ignores them.
#[derive(Deserialize)]
struct EntryBody {
    contents: String,
}

/// `LedgerUser` as a request body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserBody {
    assigned_role: String,
}

async fn create_entry(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
    body: Result<JsonBody<EntryBody>, ApiError>,
) -> ApiResult {
    let params = query_params(raw)?;
    let collection = collection_param(&params).to_owned();
    let JsonBody(entry) = body?;
    let (tx, collection) = with_session(&state, &identity, move |_ledger, session| {
        let tx = claims::entry_transaction(&collection, &entry.contents)?;
        Ok((session.submit(tx)?, collection))
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        json!({"collectionId": collection}),
        Some(tx),
    ))
}

fn entry_json(entry: &ledger_core::Entry) -> Value {
    json!({
        "collectionId": entry.collection,
        "contents": String::from_utf8_lossy(&entry.contents),
        "transactionId": entry.tx_id.to_string(),
    })
}

/// The status of `tx` if it is Pending or Committed, else the 404 the SDK's pollers stop on.
fn live_status(session: &UserSession<'_>, tx: TxId) -> Result<TxStatus, ApiError> {
    match session.status(tx)? {
        s @ (TxStatus::Pending | TxStatus::Committed) => Ok(s),
        _ => Err(ApiError::no_transaction(tx)),
    }
}

async fn get_entry(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = query_params(raw)?;
    let tx = parse_tx(&path_param(id)?)?;
    let collection = collection_param(&params).to_owned();
    let body = with_session(&state, &identity, move |_ledger, session| {
        if live_status(session, tx)? == TxStatus::Pending {
            return Ok(json!({"state": "Loading"}));
        }
        let entry = session.entry(&collection, tx).map_err(|e| match e {
            Error::NotFound { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                "EntryNotFound",
                format!("transaction {tx} wrote no entry to collection {collection:?}"),
            ),
            other => other.into(),
        })?;
        Ok(json!({"state": "Ready", "entry": entry_json(&entry)}))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn get_status(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let tx = parse_tx(&path_param(id)?)?;
    let state_name = with_session(&state, &identity, move |_ledger, session| {
        Ok(match live_status(session, tx)? {
            TxStatus::Committed => "Committed",
            _ => "Pending",
        })
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        json!({"state": state_name, "transactionId": tx.to_string()}),
        None,
    ))
}

fn hex32(d: &[u8; 32]) -> String {
    hex::encode(d)
}

async fn get_receipt(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let tx = parse_tx(&path_param(id)?)?;
    let body = with_session(&state, &identity, move |ledger, session| {
        if live_status(session, tx)? == TxStatus::Pending {
            return Ok(json!({"state": "Loading", "transactionId": tx.to_string()}));
        }
        let receipt = session.receipt(tx).map_err(|e| match e {
            Error::NoJsonReceipt { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFound",
                format!("transaction {tx} has a COSE receipt only"),
            ),
            other => other.into(),
        })?;
        let proof: Vec<Value> = receipt
            .proof
            .iter()
            .map(|step| match step {
                ledger_core::ProofStep::Left(d) => json!({"left": hex32(d)}),
                ledger_core::ProofStep::Right(d) => json!({"right": hex32(d)}),
            })
            .collect();
        let components = &receipt.leaf_components;
        let mut contents = json!({
            "cert": &*receipt.cert,
            "leafComponents": {
                "claimsDigest": hex32(&components.claims_digest),
                "commitEvidence": components.commit_evidence,
                "writeSetDigest": hex32(&components.write_set_digest),
            },
            "nodeId": &*receipt.node_id,
            "proof": proof,
            "serviceEndorsements": receipt.service_endorsements,
            "signature": base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                &*receipt.signature,
            ),
        });
        if receipt.node_id.is_empty() {
            if let Some(map) = contents.as_object_mut() {
                map.remove("nodeId");
            }
        }
        let mut body = json!({
            "receipt": contents,
            "state": "Ready",
            "transactionId": tx.to_string(),
        });
        if let Some((claims, json)) = claims::claims_of(ledger, tx)? {
            // The claims are recomputed from the stored entry: a mismatch with the receipt
            // would mean the store was altered, and is reported rather than served.
            receipt.verify_claims(&claims)?;
            if let Some(map) = body.as_object_mut() {
                map.insert("applicationClaims".into(), json);
            }
        }
        Ok(body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn current_entry(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = query_params(raw)?;
    let collection = collection_param(&params).to_owned();
    let body = with_session(&state, &identity, move |_ledger, session| {
        match session.latest(&collection)? {
            Some(entry) => Ok(entry_json(&entry)),
            None => Err(collection_not_found(&collection)),
        }
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

fn collection_not_found(collection: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "CollectionNotFound",
        format!("collection {collection:?} has no entries"),
    )
}

/// A query string for a next link: `api-version` first, then `pairs`, URL-encoded.
fn next_link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut all = vec![("api-version", API_VERSION)];
    all.extend_from_slice(pairs);
    let query = serde_urlencoded::to_string(&all).unwrap_or_default();
    format!("{path}?{query}")
}

async fn list_entries(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = query_params(raw)?;
    let collection = collection_param(&params).to_owned();
    let from = params
        .get("fromTransactionId")
        .map(|t| parse_tx(t))
        .transpose()?;
    let to = params
        .get("toTransactionId")
        .map(|t| parse_tx(t))
        .transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f.seqno() > t.seqno() {
            return Err(ApiError::bad_request(format!(
                "fromTransactionId {f} is after toTransactionId {t}"
            )));
        }
    }
    let limit = state.page_size;
    let body = with_session(&state, &identity, move |_ledger, session| {
        // ACL's default collection always exists; any other must hold an entry.
        if collection != DEFAULT_COLLECTION && session.latest(&collection)?.is_none() {
            return Err(collection_not_found(&collection));
        }
        let range = (
            from.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Included),
            to.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Included),
        );
        let page = session.entries_page(&collection, range, None, limit)?;
        let entries: Vec<Value> = page.entries.iter().map(entry_json).collect();
        let mut body = json!({"state": "Ready", "entries": entries});
        // The next page starts at the seqno the cursor names; ranges are by seqno, so the
        // view written beside it (the last entry's) only makes it a well-formed id.
        let next = page.next.as_ref().and_then(|cursor| {
            let seqno = cursor.as_str().strip_prefix('s')?.parse::<u64>().ok()?;
            let view = page.entries.last()?.tx_id.view();
            TxId::new(view, seqno).ok()
        });
        if let Some(next) = next {
            let next = next.to_string();
            let to_text = to.map(|t| t.to_string());
            let mut pairs = vec![
                ("collectionId", collection.as_str()),
                ("fromTransactionId", next.as_str()),
            ];
            if let Some(t) = &to_text {
                pairs.push(("toTransactionId", t.as_str()));
            }
            if let Some(map) = body.as_object_mut() {
                map.insert(
                    "nextLink".into(),
                    Value::String(next_link("/app/transactions", &pairs)),
                );
            }
        }
        Ok(body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn list_collections(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let params = query_params(raw)?;
    let after = params.get("after").cloned();
    let limit = state.page_size;
    let body = with_session(&state, &identity, move |ledger, _session| {
        let mut names = ledger.collections(after.as_deref(), limit.saturating_add(1))?;
        let more = names.len() > limit;
        names.truncate(limit);
        let collections: Vec<Value> = names
            .iter()
            .map(|name| json!({"collectionId": name}))
            .collect();
        let mut body = json!({"collections": collections});
        if more {
            if let (Some(last), Some(map)) = (names.last(), body.as_object_mut()) {
                map.insert(
                    "nextLink".into(),
                    Value::String(next_link("/app/collections", &[("after", last.as_str())])),
                );
            }
        }
        Ok(body)
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

fn user_json(user_id: &str, role: &str) -> Value {
    json!({"assignedRole": role, "userId": user_id})
}

async fn get_user(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    user_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let user_id = canonical_user_id(&path_param(user_id)?);
    let body = with_session(&state, &identity, move |_ledger, session| {
        match session.user(&user_id)? {
            Some(user) => Ok(user_json(&user.user_id, &user.role)),
            None => Err(user_not_found(&user_id)),
        }
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

fn user_not_found(user_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "UserNotFound",
        format!("no user {user_id:?}"),
    )
}

async fn patch_user(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    user_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    body: Result<JsonBody<UserBody>, ApiError>,
) -> ApiResult {
    query_params(raw)?;
    let user_id = canonical_user_id(&path_param(user_id)?);
    let JsonBody(user) = body?;
    let (tx, body) = with_session(&state, &identity, move |_ledger, session| {
        let tx = session.set_user(&user_id, &user.assigned_role)?;
        Ok((tx, user_json(&user_id, &user.assigned_role)))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, Some(tx)))
}

async fn delete_user(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    user_id: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let user_id = canonical_user_id(&path_param(user_id)?);
    let tx = with_session(&state, &identity, move |_ledger, session| {
        if session.user(&user_id)?.is_none() {
            return Err(user_not_found(&user_id));
        }
        Ok(session.remove_user(&user_id)?)
    })
    .await?;
    // No body, but the media type the document gives every response (as the service does).
    let mut response = (
        StatusCode::NO_CONTENT,
        [(header::CONTENT_TYPE, "application/json")],
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&tx.to_string()) {
        response.headers_mut().insert(TX_HEADER, value);
    }
    Ok(response)
}

async fn constitution(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let body = with_session(&state, &identity, move |_ledger, session| {
        let c = session.constitution()?;
        Ok(json!({"digest": c.digest_hex(), "script": c.text()}))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn members(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let body = with_session(&state, &identity, move |_ledger, session| {
        let members: Vec<Value> = session
            .members()?
            .iter()
            .map(|m| json!({"certificate": m.public_key.to_pem(), "id": m.member_id}))
            .collect();
        Ok(json!({"members": members}))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn enclave_quotes(
    State(state): State<AppState>,
    Extension(identity): Extension<ClientIdentity>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    query_params(raw)?;
    let body = with_session(&state, &identity, move |ledger, _session| {
        // A ledger outside an enclave has no quote to offer: the map is empty.
        let node_id = ledger.node_id().to_owned();
        Ok(json!({"currentNodeId": node_id, "enclaveQuotes": {}}))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

/// The response for a request the service layers refused (timeout, overload) with `error`.
pub(crate) fn layer_error_response(error: &(dyn std::error::Error + 'static)) -> Response<Body> {
    if error.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the request timed out",
        )
        .into_response()
    } else {
        tracing::error!(error = %error, "request failed in the service layers");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            error.to_string(),
        )
        .into_response()
    }
}
