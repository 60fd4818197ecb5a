//! Governance over the wire: the members' signed requests
//! ([`ledger_core::governance::SignedRequest`], whose format and replay protection
//! `ledger-core/src/governance/request.rs` states) posted to the server, and the consortium's
//! state read back. CCF's `/gov` endpoints are the model.
//!
//! # Routes
//!
//! | route | body | answer |
//! | --- | --- | --- |
//! | `GET /gov/members/{memberId}/context` | | what a member needs to sign its next request: `{"service_id", "instance": {"ledger_id", "epoch"}, "next_counter", "state_digest": {"tx_id", "root"}}` (`state_digest` is `null` before the first signature) |
//! | `POST /gov/members/proposals` | a signed `proposal` | the outcome `{"proposal_id", "tx_id", "state", "failure"}` |
//! | `POST /gov/members/proposals/{proposalId}/ballots` | a signed `ballot` on that proposal | the outcome (an accepted proposal's actions are applied in the same transaction) |
//! | `POST /gov/members/proposals/{proposalId}/withdraw` | a signed `withdrawal` of that proposal | the outcome |
//! | `POST /gov/members/state-digests/ack` | a signed `ack` | `{"tx_id"}` |
//! | `GET /gov/members/proposals` | | `{"proposals": [<proposal>, ...]}` |
//! | `GET /gov/members/proposals/{proposalId}` | | the proposal, its ballots and state |
//! | `GET /gov/members` | | `{"members": [{"member_id", "status", "public_key"}, ...]}` |
//!
//! A request is authenticated by its signature, not by the TLS client certificate (which may
//! be absent): the ledger checks the member, the counter, the service and instance, the kind
//! and the target proposal, and records the request in `gov.history`. A refusal is 403 with
//! the refusal in the message; a malformed request 400; an unknown proposal 404. Every write
//! answers with its transaction in `x-ms-ccf-transaction-id`; a backup forwards writes to the
//! primary like the `/app/` ones (`src/forward.rs`). No `api-version` is required.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use ledger_core::governance::{Governance, SignedRequest};
use ledger_core::Ledger;
use serde_json::{json, Value};

use crate::api::{json_response, path_param, ApiError, ApiResult, AppState, JsonBody};

/// The `/gov` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/gov/members", get(members))
        .route("/gov/members/{member_id}/context", get(context))
        .route("/gov/members/proposals", get(proposals).post(propose))
        .route("/gov/members/proposals/{proposal_id}", get(proposal))
        .route("/gov/members/proposals/{proposal_id}/ballots", post(ballot))
        .route(
            "/gov/members/proposals/{proposal_id}/withdraw",
            post(withdraw),
        )
        .route("/gov/members/state-digests/ack", post(ack))
}

/// Runs `f` with the ledger's governance on a blocking thread.
async fn governed<T, F>(state: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Governance<'_>) -> Result<T, ApiError> + Send + 'static,
{
    let ledger: Arc<Ledger> = state.source.ledger()?;
    tokio::task::spawn_blocking(move || f(ledger.governance()))
        .await
        .map_err(|e| ApiError::internal(format!("request task failed: {e}")))?
}

fn signed(body: &Value) -> Result<SignedRequest, ApiError> {
    Ok(SignedRequest::from_json(&body.to_string())?)
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("encoding: {e}")))
}

async fn members(State(state): State<AppState>) -> ApiResult {
    let members = governed(&state, |gov| {
        let members = gov
            .members()?
            .into_iter()
            .map(|m| {
                Ok(json!({
                    "member_id": m.member_id,
                    "status": to_json(&m.status)?,
                    "public_key": m.public_key.to_pem(),
                    "updated_at": m.updated_at,
                }))
            })
            .collect::<Result<Vec<Value>, ApiError>>()?;
        Ok(members)
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "members": members }),
        None,
    ))
}

async fn context(
    State(state): State<AppState>,
    member_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let member_id = path_param(member_id)?;
    let body = governed(&state, move |gov| {
        let digest = match gov.state_digest() {
            Ok(d) => Some(d),
            Err(ledger_core::Error::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(json!({
            "service_id": gov.service_id(),
            "instance": to_json(&gov.instance()?)?,
            "next_counter": gov.next_counter(&member_id)?,
            "state_digest": to_json(&digest)?,
        }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn proposals(State(state): State<AppState>) -> ApiResult {
    let body = governed(&state, |gov| {
        Ok(json!({ "proposals": to_json(&gov.proposals()?)? }))
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn proposal(
    State(state): State<AppState>,
    proposal_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let proposal_id = path_param(proposal_id)?;
    let body = governed(&state, move |gov| match gov.proposal(&proposal_id)? {
        Some(p) => to_json(&p),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ProposalNotFound",
            format!("no proposal {proposal_id:?}"),
        )),
    })
    .await?;
    Ok(json_response(StatusCode::OK, body, None))
}

async fn propose(State(state): State<AppState>, JsonBody(body): JsonBody<Value>) -> ApiResult {
    let request = signed(&body)?;
    let outcome = governed(&state, move |gov| Ok(gov.propose(&request)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&outcome)?,
        Some(outcome.tx_id),
    ))
}

async fn ballot(
    State(state): State<AppState>,
    proposal_id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult {
    let proposal_id = path_param(proposal_id)?;
    let request = signed(&body)?;
    let outcome = governed(&state, move |gov| Ok(gov.ballot(&proposal_id, &request)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&outcome)?,
        Some(outcome.tx_id),
    ))
}

async fn withdraw(
    State(state): State<AppState>,
    proposal_id: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult {
    let proposal_id = path_param(proposal_id)?;
    let request = signed(&body)?;
    let outcome = governed(&state, move |gov| Ok(gov.withdraw(&proposal_id, &request)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        to_json(&outcome)?,
        Some(outcome.tx_id),
    ))
}

async fn ack(State(state): State<AppState>, JsonBody(body): JsonBody<Value>) -> ApiResult {
    let request = signed(&body)?;
    let tx = governed(&state, move |gov| Ok(gov.ack(&request)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "tx_id": tx }),
        Some(tx),
    ))
}
