//! Governance over the wire (`src/gov.rs`): members acknowledge, propose, vote and withdraw
//! with signed requests posted over HTTPS (no client certificate), and read proposals back;
//! replayed, misdirected and malformed requests are refused with typed errors and record
//! nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{client, Running, UserCert};
use ledger_core::governance::{Action, MemberKey, SignedRequest, StateDigest, Vote};
use ledger_core::{Genesis, Ledger, LedgerConfig, LedgerInstance};
use ledger_server::ServerConfig;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::Value;

fn keys() -> [MemberKey; 2] {
    [
        MemberKey::ed25519_from_seed([7; 32]),
        MemberKey::p256_from_scalar([9; 32]).unwrap(),
    ]
}

fn start(dir: &std::path::Path, keys: &[MemberKey]) -> Running {
    let genesis = keys
        .iter()
        .fold(Genesis::new(), |g, k| g.member(k.public_key().clone()));
    let ledger = Ledger::open(
        LedgerConfig::new(dir.join("ledger"))
            .sig_interval(Duration::from_millis(5))
            .genesis(genesis),
    )
    .unwrap();
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    Running::start(Arc::new(ledger), config)
}

/// What a member needs to sign its next request, read from the server.
struct Context {
    service_id: String,
    instance: LedgerInstance,
    counter: u64,
    digest: Option<StateDigest>,
}

fn context(c: &Client, server: &Running, key: &MemberKey) -> Context {
    let r = c
        .get(server.url(&format!("/gov/members/{}/context", key.member_id())))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().unwrap();
    Context {
        service_id: v["service_id"].as_str().unwrap().to_owned(),
        instance: serde_json::from_value(v["instance"].clone()).unwrap(),
        counter: v["next_counter"].as_u64().unwrap(),
        digest: serde_json::from_value(v["state_digest"].clone()).unwrap(),
    }
}

fn post(c: &Client, server: &Running, path: &str, request: &SignedRequest) -> (StatusCode, Value) {
    let r = c
        .post(server.url(path))
        .header("content-type", "application/json")
        .body(request.to_json().unwrap())
        .send()
        .unwrap();
    let status = r.status();
    if status == StatusCode::OK {
        assert!(r.headers().contains_key("x-ms-ccf-transaction-id"));
    }
    (status, r.json().unwrap())
}

#[test]
fn members_govern_over_https_with_signed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys();
    let server = start(dir.path(), &keys);
    let c = client(&server.service_pem, None);

    let members: Value = c
        .get(server.url("/gov/members"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let members = members["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert!(
        members.iter().all(|m| m["status"] == "accepted"),
        "{members:?}"
    );

    // Each member acknowledges the state digest it read; a replay is refused.
    for key in &keys {
        let ctx = context(&c, &server, key);
        assert_eq!(ctx.service_id, server.ledger.governance().service_id());
        let ack = key
            .request(&ctx.service_id, &ctx.instance, ctx.counter)
            .ack(&ctx.digest.expect("the ledger has signed"))
            .unwrap();
        let (status, body) = post(&c, &server, "/gov/members/state-digests/ack", &ack);
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = post(&c, &server, "/gov/members/state-digests/ack", &ack);
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    }
    let members: Value = c
        .get(server.url("/gov/members"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(members["members"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "active"));

    // A proposal, read back Open, accepted by both ballots: its action applies.
    let alice = UserCert::generate("alice");
    let ctx = context(&c, &server, &keys[0]);
    let proposal = keys[0]
        .request(&ctx.service_id, &ctx.instance, ctx.counter)
        .propose(vec![Action::SetUser {
            user_id: alice.user_id(),
            role: "Reader".into(),
        }])
        .unwrap();
    let (status, outcome) = post(&c, &server, "/gov/members/proposals", &proposal);
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["state"], "open");
    let id = outcome["proposal_id"].as_str().unwrap().to_owned();
    let read: Value = c
        .get(server.url(&format!("/gov/members/proposals/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read["proposal_id"], id.as_str());
    assert_eq!(read["state"], "open");

    // A ballot for this proposal posted to another proposal's route is refused.
    let ctx = context(&c, &server, &keys[1]);
    let ballot = keys[1]
        .request(&ctx.service_id, &ctx.instance, ctx.counter)
        .ballot(&id, Vote::Approve)
        .unwrap();
    let other = "0".repeat(64);
    let (status, body) = post(
        &c,
        &server,
        &format!("/gov/members/proposals/{other}/ballots"),
        &ballot,
    );
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for key in &keys {
        let ctx = context(&c, &server, key);
        let ballot = key
            .request(&ctx.service_id, &ctx.instance, ctx.counter)
            .ballot(&id, Vote::Approve)
            .unwrap();
        let (status, body) = post(
            &c,
            &server,
            &format!("/gov/members/proposals/{id}/ballots"),
            &ballot,
        );
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let read: Value = c
        .get(server.url(&format!("/gov/members/proposals/{id}")))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(read["state"], "accepted", "{read}");
    let user = server.ledger.governance().user(&alice.user_id()).unwrap();
    assert_eq!(user.unwrap().role, "Reader");

    // A second proposal, withdrawn by its proposer; the other member may not withdraw it.
    let ctx = context(&c, &server, &keys[1]);
    let proposal = keys[1]
        .request(&ctx.service_id, &ctx.instance, ctx.counter)
        .propose(vec![Action::RemoveUser {
            user_id: alice.user_id(),
        }])
        .unwrap();
    let (_, outcome) = post(&c, &server, "/gov/members/proposals", &proposal);
    let second = outcome["proposal_id"].as_str().unwrap().to_owned();
    let withdraw_path = format!("/gov/members/proposals/{second}/withdraw");
    let ctx = context(&c, &server, &keys[0]);
    let not_mine = keys[0]
        .request(&ctx.service_id, &ctx.instance, ctx.counter)
        .withdraw(&second)
        .unwrap();
    let (status, body) = post(&c, &server, &withdraw_path, &not_mine);
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let ctx = context(&c, &server, &keys[1]);
    let withdrawal = keys[1]
        .request(&ctx.service_id, &ctx.instance, ctx.counter)
        .withdraw(&second)
        .unwrap();
    let (status, outcome) = post(&c, &server, &withdraw_path, &withdrawal);
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["state"], "withdrawn");
    let listed: Value = c
        .get(server.url("/gov/members/proposals"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["proposals"].as_array().unwrap().len(), 2);

    // Bad input: a malformed request, a non-JSON body, an unknown proposal.
    let history = server.ledger.governance().proposals().unwrap();
    let r = c
        .post(server.url("/gov/members/proposals"))
        .header("content-type", "application/json")
        .body(r#"{"payload": "{}", "signature": "AAAA"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = c
        .post(server.url("/gov/members/proposals"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = c
        .get(server.url(&format!("/gov/members/proposals/{other}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.ledger.governance().proposals().unwrap(), history);
}
