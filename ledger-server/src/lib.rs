//! ledger-server: an HTTPS server speaking the **Azure Confidential Ledger data-plane REST
//! API** (api-version 2022-05-13, the one `azure-confidentialledger` 1.1.1 uses) over an
//! embedded [`ledger_core::Ledger`], so code written for ACL runs against a local ledger.
//!
//! ```no_run
//! use std::sync::Arc;
//! use ledger_core::{Ledger, LedgerConfig};
//! use ledger_server::{certificate_user_id, Server, ServerConfig};
//!
//! # async fn serve(admin_cert_der: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let ledger = Arc::new(Ledger::open(LedgerConfig::new("/var/lib/ledger"))?);
//! // A certificate user, as ACL names them: the SHA-256 fingerprint of the DER certificate.
//! ledger.governance().set_user(&certificate_user_id(admin_cert_der), "Administrator")?;
//! let server = Server::bind(ledger, ServerConfig::default())?; // https://127.0.0.1:8443
//! server.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Routes
//!
//! | route | what |
//! | --- | --- |
//! | `POST /app/transactions?collectionId=` | append `{"contents": "..."}`; answers `{"collectionId"}` and the id in `x-ms-ccf-transaction-id` |
//! | `GET /app/transactions/{id}?collectionId=` | the entry (`Loading` while Pending, then `Ready`) |
//! | `GET /app/transactions/{id}/receipt` | the receipt (camelCase, as the OpenAPI document has it) with `applicationClaims` |
//! | `GET /app/transactions/{id}/status` | `Pending` or `Committed` |
//! | `GET /app/transactions/current?collectionId=` | the newest entry of a collection |
//! | `GET /app/transactions?collectionId=&fromTransactionId=&toTransactionId=` | entries, paged with `nextLink` |
//! | `GET /app/collections` | collection ids, paged with `nextLink` |
//! | `GET`, `PATCH`, `DELETE /app/users/{userId}` | a user's role: `Administrator`, `Contributor`, `Reader` (or a custom role of the ledger) |
//! | `GET /app/governance/constitution`, `GET /app/governance/members` | governance state |
//! | `GET /app/enclaveQuotes` | the node id, and no quotes (no enclave) |
//! | `/gov/members/...` | governance: members' signed acks, proposals, ballots and withdrawals, and reading proposals and members (`src/gov.rs`) |
//! | `GET /node/status` | this node's [`NodeStatus`] (no client certificate needed, nor `api-version`) |
//! | `GET /node/network` | the cluster's nodes and their REST addresses (`{"nodes": [{"node", "address"}]}`; empty for a standalone server) |
//!
//! Every answer carries `x-ms-ccf-transaction-id`: a write's own id, else the newest committed
//! transaction when it was read ([`ledger_core::Ledger::last_committed`]), and
//! [`NODE_HEADER`] (`x-ledger-node`): the node whose ledger answered.
//!
//! # Clusters
//!
//! [`Server::bind_source`] serves a node of a replicated ledger: a [`LedgerSource`] gives the
//! ledger of the moment (a node reopens its ledger when its role changes), the node's
//! [`NodeStatus`] and its `wait_for_commit`. With a [`Forwarding`], a write (`POST`, `PUT`,
//! `PATCH`, `DELETE` under `/app/`) reaching a backup is forwarded to the primary over mutual
//! TLS with the node's certificate, naming the caller in [`FORWARDED_USER`]; the primary
//! honours that header only from a certificate the service endorses and the ledger records
//! as a node's (anyone else: 403). The backup relays the primary's answer (its
//! `x-ledger-node` names the primary) once it has applied the write itself, so the caller's
//! next reads on the backup see it. No primary known, or the primary unreachable: 503. The
//! protocol is in `src/forward.rs`.
//!
//! Every route requires `api-version=2022-05-13`. Status codes, error codes and states are
//! listed in `src/api.rs`; how entries get their application claims in `src/claims.rs`.
//!
//! # Authentication
//!
//! Mutual TLS, as ACL's certificate users: the client's certificate (self-signed is fine)
//! names the user by [`certificate_user_id`], and the ledger's users and roles decide what
//! the request may do (unknown certificates get 403, no certificate 401). The server's
//! certificate is issued by the ledger's service key with subject alternative names
//! `localhost`, `127.0.0.1`, `::1` and [`ServerConfig::tls_dns_names`] /
//! [`ServerConfig::tls_ip_addresses`], so the service certificate is the client's trust
//! anchor (the SDK's `ledger_certificate_path`). See `src/tls.rs`.
//!
//! # Limits
//!
//! Request bodies, request time, concurrent requests, connections and handshake time are
//! bounded ([`ServerConfig`]); shutdown is graceful and flushes the ledger
//! ([`Server::run`]).

mod api;
mod claims;
mod config;
mod error;
mod forward;
mod gov;
mod server;
mod source;
mod tls;

pub use crate::config::ServerConfig;
pub use crate::error::ServerError;
pub use crate::forward::{Forwarding, FORWARDED_USER, NODE_HEADER};
pub use crate::server::Server;
pub use crate::source::{role_name, LedgerSource, NodeStatus};
pub use crate::tls::certificate_user_id;
