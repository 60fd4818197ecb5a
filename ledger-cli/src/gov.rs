//! `ledger gov`: a member's signed governance requests to a running server or cluster node,
//! over the `/gov` routes (`ledger-server/src/gov.rs`).
//!
//! Each signing command reads the member's context from the node (`GET
//! /gov/members/{id}/context`: the service id, the ledger instance, the member's next counter
//! and the newest signed root), builds the request with `ledger_core::governance`, signs it
//! with `--member-key` (a PKCS#8 PEM private key, Ed25519 or P-256) and posts it. The key
//! never leaves the machine; the node checks the signature, counter and target, so a replayed
//! or altered request is refused. The server is authenticated by `--cert` (the service
//! certificate); no client certificate is needed. Any node may be asked: a backup forwards
//! writes to the primary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand, ValueEnum};
use ledger_core::governance::{Action, MemberKey, SignedRequest, StateDigest, Vote};
use ledger_core::LedgerInstance;
use serde_json::Value;

use crate::output::{outln, print_json};
use crate::Outcome;

/// Where and as whom: the arguments every `gov` subcommand takes.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// Any node's REST address.
    addr: String,
    /// The service certificate (PEM), to authenticate the node.
    #[arg(long, value_name = "PEM")]
    cert: PathBuf,
}

/// The member signing a request.
#[derive(Debug, Args)]
pub(crate) struct Signer {
    /// The member's private key (PKCS#8 PEM: Ed25519 or ECDSA P-256).
    #[arg(long, value_name = "PEM")]
    member_key: PathBuf,
}

/// A ballot's vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum VoteArg {
    /// For the proposal.
    Approve,
    /// Against it.
    Reject,
}

/// `ledger gov` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum GovCommand {
    /// Acknowledge the newest signed root, making an accepted member active.
    #[command(after_help = "\
Examples:
  ledger gov ack 127.0.0.1:8443 --cert service.pem --member-key member0.key")]
    Ack {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        signer: Signer,
    },
    /// Propose actions (a JSON array of actions, from a file or - for stdin); prints the
    /// proposal id.
    #[command(after_help = r#"Examples:
  echo '[{"name": "set_user", "args": {"user_id": "AB:CD:...", "role": "Reader"}}]' |
    ledger gov propose 127.0.0.1:8443 --cert service.pem --member-key member0.key --actions -
Actions are ledger-core's governance actions (ledger-core/src/governance/proposals.rs)."#)]
    Propose {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        signer: Signer,
        /// The actions: a JSON file, or - for stdin.
        #[arg(long, value_name = "FILE")]
        actions: PathBuf,
    },
    /// Vote on an open proposal.
    #[command(after_help = "\
Examples:
  ledger gov ballot 127.0.0.1:8443 3f2a... --vote approve --cert service.pem --member-key member1.key")]
    Ballot {
        #[command(flatten)]
        target: Target,
        /// The proposal id (64 hex digits).
        proposal_id: String,
        /// The vote.
        #[arg(long, value_enum)]
        vote: VoteArg,
        #[command(flatten)]
        signer: Signer,
    },
    /// Withdraw an open proposal you made.
    #[command(after_help = "\
Examples:
  ledger gov withdraw 127.0.0.1:8443 3f2a... --cert service.pem --member-key member0.key")]
    Withdraw {
        #[command(flatten)]
        target: Target,
        /// The proposal id (64 hex digits).
        proposal_id: String,
        #[command(flatten)]
        signer: Signer,
    },
    /// Show one proposal, or every proposal and member.
    #[command(after_help = "\
Examples:
  ledger gov show 127.0.0.1:8443 --cert service.pem
  ledger gov show 127.0.0.1:8443 3f2a... --cert service.pem --json")]
    Show {
        #[command(flatten)]
        target: Target,
        /// The proposal id; without it, every proposal and member.
        proposal_id: Option<String>,
    },
}

fn client(target: &Target) -> anyhow::Result<reqwest::blocking::Client> {
    let pem = std::fs::read(&target.cert)
        .with_context(|| format!("cannot read {}", target.cert.display()))?;
    let anchor = reqwest::Certificate::from_pem(&pem)
        .with_context(|| format!("{} is not a PEM certificate", target.cert.display()))?;
    reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(anchor)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTPS client")
}

fn read_key(signer: &Signer) -> anyhow::Result<MemberKey> {
    let pem = std::fs::read_to_string(&signer.member_key)
        .with_context(|| format!("cannot read {}", signer.member_key.display()))?;
    MemberKey::from_pkcs8_pem(&pem)
        .with_context(|| format!("{} is not a member key", signer.member_key.display()))
}

/// An answer's JSON, or its error message as the error.
fn answer(response: reqwest::blocking::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response
        .json()
        .with_context(|| format!("{what}: the node's answer ({status}) is not JSON"))?;
    if !status.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        bail!("{what} refused ({status}): {message}");
    }
    Ok(body)
}

fn get(client: &reqwest::blocking::Client, target: &Target, path: &str) -> anyhow::Result<Value> {
    let response = client
        .get(format!("https://{}{path}", target.addr))
        .send()
        .with_context(|| format!("asking {} for {path}", target.addr))?;
    answer(response, path)
}

fn post(
    client: &reqwest::blocking::Client,
    target: &Target,
    path: &str,
    request: &SignedRequest,
) -> anyhow::Result<Value> {
    let body = request.to_json().context("encoding the request")?;
    let response = client
        .post(format!("https://{}{path}", target.addr))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .with_context(|| format!("sending the request to {}", target.addr))?;
    answer(response, path)
}

/// The member's signing context, read from the node.
struct Context {
    service_id: String,
    instance: LedgerInstance,
    counter: u64,
    digest: Option<StateDigest>,
}

fn context(
    client: &reqwest::blocking::Client,
    target: &Target,
    key: &MemberKey,
) -> anyhow::Result<Context> {
    let v = get(
        client,
        target,
        &format!("/gov/members/{}/context", key.member_id()),
    )?;
    let malformed = || anyhow::anyhow!("the node's member context is malformed: {v}");
    Ok(Context {
        service_id: v["service_id"].as_str().ok_or_else(malformed)?.to_owned(),
        instance: serde_json::from_value(v["instance"].clone()).map_err(|_| malformed())?,
        counter: v["next_counter"].as_u64().ok_or_else(malformed)?,
        digest: serde_json::from_value(v["state_digest"].clone()).map_err(|_| malformed())?,
    })
}

/// Runs a `ledger gov` subcommand.
pub(crate) fn run(command: GovCommand, json: bool) -> anyhow::Result<Outcome> {
    let outcome = |v: &Value| -> anyhow::Result<Outcome> {
        if json {
            print_json(v)?;
        } else {
            outln!(
                "proposal {}: {} (transaction {})",
                v["proposal_id"].as_str().unwrap_or("?"),
                v["state"].as_str().unwrap_or("?"),
                v["tx_id"].as_str().unwrap_or("?")
            )?;
        }
        Ok(Outcome::Success)
    };
    match command {
        GovCommand::Ack { target, signer } => {
            let key = read_key(&signer)?;
            let client = client(&target)?;
            let ctx = context(&client, &target, &key)?;
            let digest = ctx
                .digest
                .context("the ledger has not signed a root yet; try again shortly")?;
            let request = key
                .request(&ctx.service_id, &ctx.instance, ctx.counter)
                .ack(&digest)
                .context("signing the acknowledgement")?;
            let v = post(&client, &target, "/gov/members/state-digests/ack", &request)?;
            if json {
                print_json(&v)?;
            } else {
                outln!(
                    "member {} acknowledged {} (transaction {})",
                    key.member_id(),
                    digest.tx_id,
                    v["tx_id"].as_str().unwrap_or("?")
                )?;
            }
            Ok(Outcome::Success)
        }
        GovCommand::Propose {
            target,
            signer,
            actions,
        } => {
            let text = if actions.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading stdin")?
            } else {
                std::fs::read_to_string(&actions)
                    .with_context(|| format!("cannot read {}", actions.display()))?
            };
            let actions: Vec<Action> = serde_json::from_str(&text)
                .context("the actions are not a JSON array of governance actions")?;
            let key = read_key(&signer)?;
            let client = client(&target)?;
            let ctx = context(&client, &target, &key)?;
            let request = key
                .request(&ctx.service_id, &ctx.instance, ctx.counter)
                .propose(actions)
                .context("signing the proposal")?;
            outcome(&post(&client, &target, "/gov/members/proposals", &request)?)
        }
        GovCommand::Ballot {
            target,
            proposal_id,
            vote,
            signer,
        } => {
            let key = read_key(&signer)?;
            let client = client(&target)?;
            let ctx = context(&client, &target, &key)?;
            let vote = match vote {
                VoteArg::Approve => Vote::Approve,
                VoteArg::Reject => Vote::Reject,
            };
            let request = key
                .request(&ctx.service_id, &ctx.instance, ctx.counter)
                .ballot(&proposal_id, vote)
                .context("signing the ballot")?;
            let path = format!("/gov/members/proposals/{proposal_id}/ballots");
            outcome(&post(&client, &target, &path, &request)?)
        }
        GovCommand::Withdraw {
            target,
            proposal_id,
            signer,
        } => {
            let key = read_key(&signer)?;
            let client = client(&target)?;
            let ctx = context(&client, &target, &key)?;
            let request = key
                .request(&ctx.service_id, &ctx.instance, ctx.counter)
                .withdraw(&proposal_id)
                .context("signing the withdrawal")?;
            let path = format!("/gov/members/proposals/{proposal_id}/withdraw");
            outcome(&post(&client, &target, &path, &request)?)
        }
        GovCommand::Show {
            target,
            proposal_id,
        } => {
            let client = client(&target)?;
            let v = match &proposal_id {
                Some(id) => get(&client, &target, &format!("/gov/members/proposals/{id}"))?,
                None => {
                    let mut proposals = get(&client, &target, "/gov/members/proposals")?;
                    let members = get(&client, &target, "/gov/members")?;
                    proposals["members"] = members["members"].clone();
                    proposals
                }
            };
            if json {
                print_json(&v)?;
            } else {
                let show = |p: &Value| -> anyhow::Result<()> {
                    let ballots = p["ballots"].as_object().map_or(0, serde_json::Map::len);
                    outln!(
                        "proposal {}: {} ({ballots} ballots, proposed at {})",
                        p["proposal_id"].as_str().unwrap_or("?"),
                        p["state"].as_str().unwrap_or("?"),
                        p["proposed_at"].as_str().unwrap_or("?")
                    )
                };
                if proposal_id.is_some() {
                    show(&v)?;
                } else {
                    for m in v["members"].as_array().into_iter().flatten() {
                        outln!(
                            "member {}: {}",
                            m["member_id"].as_str().unwrap_or("?"),
                            m["status"].as_str().unwrap_or("?")
                        )?;
                    }
                    for p in v["proposals"].as_array().into_iter().flatten() {
                        show(p)?;
                    }
                }
            }
            Ok(Outcome::Success)
        }
    }
}
