//! The REST API over HTTPS with reqwest: the happy path (writes, reads, receipts that verify
//! with their application claims, paging), bad input (a clear 4xx, nothing written), and
//! graceful shutdown (no acknowledged write lost).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, open_ledger, Running, UserCert};
use ledger_core::{Ledger, LedgerConfig, ServedReceipt, TxId, TxStatus};
use ledger_server::ServerConfig;
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

const V: &str = "api-version=2022-05-13";

fn config(page_size: usize, max_body: usize) -> ServerConfig {
    let mut config = ServerConfig::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.page_size = NonZeroUsize::new(page_size).unwrap();
    config.max_body_bytes = NonZeroUsize::new(max_body).unwrap();
    config
}

/// A server over a fresh ledger with an Administrator user.
fn start(page_size: usize, max_body: usize) -> (tempfile::TempDir, Running, UserCert) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_ledger(dir.path());
    let admin = UserCert::generate("admin");
    ledger
        .governance()
        .set_user(&admin.user_id(), "Administrator")
        .unwrap();
    let running = Running::start(ledger, config(page_size, max_body));
    (dir, running, admin)
}

fn post_entry(c: &Client, server: &Running, collection: &str, contents: &str) -> TxId {
    let response = c
        .post(server.url(&format!("/app/transactions?{V}&collectionId={collection}")))
        .json(&json!({"contents": contents}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tx: TxId = response
        .headers()
        .get("x-ms-ccf-transaction-id")
        .expect("the transaction id header")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = response.json().unwrap();
    assert_eq!(body, json!({"collectionId": collection}));
    tx
}

fn get_json(c: &Client, url: &str) -> (StatusCode, Value) {
    let response = c.get(url).send().unwrap();
    let status = response.status();
    (status, response.json().unwrap())
}

fn wait_committed(c: &Client, server: &Running, tx: TxId) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = get_json(
            c,
            &server.url(&format!("/app/transactions/{tx}/status?{V}")),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["transactionId"], tx.to_string());
        if body["state"] == "Committed" {
            return;
        }
        assert_eq!(body["state"], "Pending");
        assert!(Instant::now() < deadline, "{tx} not committed in time");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn writes_reads_receipts_and_pages_over_https() {
    let (_dir, server, admin) = start(3, 1 << 20);
    let c = client(&server.service_pem, Some(&admin));

    // The default collection exists before anything is written to it.
    let (status, body) = get_json(&c, &server.url(&format!("/app/transactions?{V}")));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"state": "Ready", "entries": []}));

    let first = post_entry(&c, &server, "subledger:0", "hello from reqwest");
    wait_committed(&c, &server, first);
    let (status, body) = get_json(&c, &server.url(&format!("/app/transactions/{first}?{V}")));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"state": "Ready", "entry": {
            "collectionId": "subledger:0",
            "contents": "hello from reqwest",
            "transactionId": first.to_string(),
        }})
    );

    // A read names the transaction it was read at: committed, at or after the entry.
    let read = c
        .get(server.url(&format!("/app/transactions/{first}?{V}")))
        .send()
        .unwrap();
    let read_at: TxId = read
        .headers()
        .get("x-ms-ccf-transaction-id")
        .expect("a read names a transaction")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(read_at >= first, "{read_at} < {first}");
    assert_eq!(server.ledger.status(read_at), TxStatus::Committed);

    // The receipt verifies against the service certificate, and its application claims
    // recompute the receipt's claims digest from the entry.
    let text = c
        .get(server.url(&format!("/app/transactions/{first}/receipt?{V}")))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["state"], "Ready");
    assert_eq!(body["transactionId"], first.to_string());
    assert_eq!(
        body["applicationClaims"][0]["ledgerEntry"]["contents"],
        "hello from reqwest"
    );
    assert_ne!(
        body["receipt"]["leafComponents"]["claimsDigest"],
        "0".repeat(64),
        "the entry's claims are bound"
    );
    let served = ServedReceipt::from_json(&text).unwrap();
    assert_eq!(served.application_claims.len(), 1);
    served.verify(&server.service_pem).unwrap();
    // Other contents in the claims no longer match the receipt.
    let forged = text.replace("hello from reqwest", "hello from someone else");
    assert!(ServedReceipt::from_json(&forged)
        .unwrap()
        .verify(&server.service_pem)
        .is_err());

    // Seven entries in one collection come back in pages of three through nextLink.
    let mut written = Vec::new();
    for i in 0..7 {
        written.push(post_entry(&c, &server, "paged", &format!("entry {i}")));
    }
    let mut url = server.url(&format!("/app/transactions?{V}&collectionId=paged"));
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = get_json(&c, &url);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "Ready");
        pages += 1;
        for entry in body["entries"].as_array().unwrap() {
            assert_eq!(entry["collectionId"], "paged");
            seen.push((
                entry["transactionId"]
                    .as_str()
                    .unwrap()
                    .parse::<TxId>()
                    .unwrap(),
                entry["contents"].as_str().unwrap().to_owned(),
            ));
        }
        match body.get("nextLink").and_then(Value::as_str) {
            Some(next) => url = server.url(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let expected: Vec<(TxId, String)> = written
        .iter()
        .enumerate()
        .map(|(i, tx)| (*tx, format!("entry {i}")))
        .collect();
    assert_eq!(seen, expected);
    // A range: the middle three.
    let (status, body) = get_json(
        &c,
        &server.url(&format!(
            "/app/transactions?{V}&collectionId=paged&fromTransactionId={}&toTransactionId={}",
            written[2], written[4]
        )),
    );
    assert_eq!(status, StatusCode::OK);
    let txs: Vec<&str> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["transactionId"].as_str().unwrap())
        .collect();
    let want: Vec<String> = written[2..=4].iter().map(ToString::to_string).collect();
    assert_eq!(txs, want);
    assert!(body.get("nextLink").is_none());

    let (status, body) = get_json(
        &c,
        &server.url(&format!("/app/transactions/current?{V}&collectionId=paged")),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["contents"], "entry 6");
    assert_eq!(body["transactionId"], written[6].to_string());

    let (status, body) = get_json(&c, &server.url(&format!("/app/collections?{V}")));
    assert_eq!(status, StatusCode::OK);
    let mut names: Vec<&str> = body["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["collectionId"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["paged", "subledger:0"]);

    let (status, body) = get_json(
        &c,
        &server.url(&format!("/app/governance/constitution?{V}")),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["digest"].as_str().unwrap().len(), 64);
    assert!(body["script"].is_string());
    let (status, body) = get_json(&c, &server.url(&format!("/app/governance/members?{V}")));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"members": []}));

    // Users: read, change, delete; the user id in either case names the same user.
    let reader = UserCert::generate("reader");
    let id = reader.user_id();
    let response = c
        .patch(server.url(&format!("/app/users/{}?{V}", id.to_lowercase())))
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"assignedRole":"Reader"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-ms-ccf-transaction-id"));
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"assignedRole": "Reader", "userId": id})
    );
    let rc = client(&server.service_pem, Some(&reader));
    let response = rc
        .post(server.url(&format!("/app/transactions?{V}")))
        .json(&json!({"contents": "not allowed"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (status, _) = get_json(&rc, &server.url(&format!("/app/transactions/{first}?{V}")));
    assert_eq!(status, StatusCode::OK, "a Reader reads");
    let response = c
        .delete(server.url(&format!("/app/users/{id}?{V}")))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, body) = get_json(&c, &server.url(&format!("/app/users/{id}?{V}")));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "UserNotFound");
    let (status, _) = get_json(&rc, &server.url(&format!("/app/transactions/{first}?{V}")));
    assert_eq!(status, StatusCode::FORBIDDEN, "a removed user is refused");
    server.stop().unwrap();
}

/// Asserts a 4xx with the ACL error body and the given code.
fn assert_error(response: reqwest::blocking::Response, status: StatusCode, code: &str) {
    let got = response.status();
    let url = response.url().clone();
    let text = response.text().unwrap();
    assert_eq!(got, status, "{url}: {text}");
    let body: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{url}: not JSON: {text}"));
    assert_eq!(body["error"]["code"], code, "{url}: {text}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{url}: no message"
    );
}

#[test]
fn bad_input_gets_a_clear_4xx_and_writes_nothing() {
    let (_dir, server, admin) = start(100, 4096);
    let ledger = Arc::clone(&server.ledger);
    let c = client(&server.service_pem, Some(&admin));
    let known = post_entry(&c, &server, "subledger:0", "known");
    ledger.flush().unwrap();
    // Everything recorded so far is signed: the next transaction would be `last + 1`.
    let last = ledger.append("probe", b"before").unwrap();
    ledger.flush().unwrap();

    let get = |path: &str| c.get(server.url(path)).send().unwrap();
    let post = |query: &str, body: &str, content_type: &str| {
        c.post(server.url(&format!("/app/transactions?{query}")))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .unwrap()
    };

    // Transaction ids that are not `view.seqno`.
    for bad in [
        "abc",
        "1.0",
        "0.1",
        "1.2.3",
        "-1.5",
        "1.",
        ".5",
        "1.99999999999999999999",
        "%20",
    ] {
        assert_error(
            get(&format!("/app/transactions/{bad}?{V}")),
            StatusCode::BAD_REQUEST,
            "InvalidTransactionId",
        );
        assert_error(
            get(&format!("/app/transactions/{bad}/status?{V}")),
            StatusCode::BAD_REQUEST,
            "InvalidTransactionId",
        );
        assert_error(
            get(&format!("/app/transactions/{bad}/receipt?{V}")),
            StatusCode::BAD_REQUEST,
            "InvalidTransactionId",
        );
        assert_error(
            get(&format!("/app/transactions?{V}&fromTransactionId={bad}")),
            StatusCode::BAD_REQUEST,
            "InvalidTransactionId",
        );
    }
    // Well-formed ids of no transaction.
    for missing in ["1.999999", "7.2"] {
        assert_error(
            get(&format!("/app/transactions/{missing}?{V}")),
            StatusCode::NOT_FOUND,
            "InvalidTransactionId",
        );
        assert_error(
            get(&format!("/app/transactions/{missing}/status?{V}")),
            StatusCode::NOT_FOUND,
            "InvalidTransactionId",
        );
        assert_error(
            get(&format!("/app/transactions/{missing}/receipt?{V}")),
            StatusCode::NOT_FOUND,
            "InvalidTransactionId",
        );
    }
    let (view, seqno) = (known.view(), known.seqno());
    assert_error(
        get(&format!(
            "/app/transactions?{V}&fromTransactionId={view}.{}&toTransactionId={view}.{seqno}",
            seqno + 1
        )),
        StatusCode::BAD_REQUEST,
        "InvalidInput",
    );

    // Unknown and invalid collections.
    assert_error(
        get(&format!("/app/transactions?{V}&collectionId=nope")),
        StatusCode::NOT_FOUND,
        "CollectionNotFound",
    );
    assert_error(
        get(&format!("/app/transactions/current?{V}&collectionId=nope")),
        StatusCode::NOT_FOUND,
        "CollectionNotFound",
    );
    assert_error(
        get(&format!("/app/transactions/{known}?{V}&collectionId=nope")),
        StatusCode::NOT_FOUND,
        "EntryNotFound",
    );
    for collection in ["", "gov.users", "internal.x", "%01ctl", &"x".repeat(300)] {
        assert_error(
            post(
                &format!("{V}&collectionId={collection}"),
                r#"{"contents":"x"}"#,
                "application/json",
            ),
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        );
    }

    // Bodies over the limit, declared or streamed.
    let big = format!(r#"{{"contents":"{}"}}"#, "a".repeat(8192));
    assert_error(
        post(V, &big, "application/json"),
        StatusCode::PAYLOAD_TOO_LARGE,
        "RequestBodyTooLarge",
    );
    // Streamed (chunked, no length declared): refused once the limit is passed.
    let chunked = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let answer = raw_request(
        &server,
        &admin,
        &format!(
            "POST /app/transactions?{V} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        ),
        chunked.as_bytes(),
        Duration::from_secs(10),
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("RequestBodyTooLarge"), "{answer}");

    // Malformed JSON and wrong shapes.
    for body in [
        "{not json",
        "",
        "[]",
        "{}",
        r#"{"contents":5}"#,
        r#"{"contents":null}"#,
        r#"{"contents":"x""#,
        "\"contents\"",
    ] {
        assert_error(
            post(V, body, "application/json"),
            StatusCode::BAD_REQUEST,
            "InvalidInput",
        );
    }
    assert_error(
        post(V, r#"{"contents":"x"}"#, "text/plain"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UnsupportedMediaType",
    );
    let user = UserCert::generate("someone").user_id();
    for body in [
        "{",
        r#"{"assignedRole":"Emperor"}"#,
        r#"{"assignedRole":7}"#,
        "{}",
    ] {
        let response = c
            .patch(server.url(&format!("/app/users/{user}?{V}")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "InvalidInput");
    }

    // The api-version parameter.
    assert_error(
        post("", r#"{"contents":"x"}"#, "application/json"),
        StatusCode::BAD_REQUEST,
        "MissingApiVersionParameter",
    );
    assert_error(
        post(
            "api-version=2019-01-01",
            r#"{"contents":"x"}"#,
            "application/json",
        ),
        StatusCode::BAD_REQUEST,
        "UnsupportedApiVersion",
    );
    assert_error(
        post(
            &format!("{V}&{V}"),
            r#"{"contents":"x"}"#,
            "application/json",
        ),
        StatusCode::BAD_REQUEST,
        "InvalidInput",
    );

    // Unknown routes and methods.
    assert_error(
        get(&format!("/app/nothing?{V}")),
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
    );
    let put = c
        .put(server.url(&format!("/app/transactions?{V}")))
        .send()
        .unwrap();
    assert_error(put, StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");

    // A certificate that is no user's, and no certificate at all.
    let stranger = client(&server.service_pem, Some(&UserCert::generate("stranger")));
    let response = stranger
        .post(server.url(&format!("/app/transactions?{V}")))
        .json(&json!({"contents": "let me in"}))
        .send()
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "AuthorizationFailed");
    assert_error(
        stranger
            .get(server.url(&format!("/app/transactions/{known}?{V}")))
            .send()
            .unwrap(),
        StatusCode::FORBIDDEN,
        "AuthorizationFailed",
    );
    let anonymous = client(&server.service_pem, None);
    assert_error(
        anonymous
            .post(server.url(&format!("/app/transactions?{V}")))
            .json(&json!({"contents": "x"}))
            .send()
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationInfo",
    );

    // Nothing above was recorded: the next transaction follows the probe's signature.
    ledger.flush().unwrap();
    let next = ledger.append("probe", b"after").unwrap();
    assert_eq!(
        next.seqno(),
        last.seqno() + 2,
        "a refused request wrote to the ledger"
    );
    server.stop().unwrap();
}

#[test]
fn graceful_shutdown_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    // Signatures only every 10 s: without the flush at shutdown, acknowledged writes would
    // still be Pending when the server returns.
    let ledger = Arc::new(
        Ledger::open(LedgerConfig::new(&path).sig_interval(Duration::from_secs(10))).unwrap(),
    );
    let admin = UserCert::generate("admin");
    ledger
        .governance()
        .set_user(&admin.user_id(), "Administrator")
        .unwrap();
    ledger.flush().unwrap();
    let server = Running::start(Arc::clone(&ledger), config(100, 1 << 20));
    let url = server.url(&format!("/app/transactions?{V}&collectionId=shutdown"));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let acknowledged: Vec<(TxId, String)> = runtime.block_on(async {
        let mut writers = Vec::new();
        for w in 0..4 {
            let client = common::async_client(&server.service_pem, &admin);
            let url = url.clone();
            writers.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0.. {
                    let contents = format!("writer {w} entry {i}");
                    let Ok(response) = client
                        .post(&url)
                        .json(&json!({"contents": contents}))
                        .send()
                        .await
                    else {
                        break;
                    };
                    if response.status() != StatusCode::OK {
                        break;
                    }
                    let Some(tx) = response.headers().get("x-ms-ccf-transaction-id").cloned()
                    else {
                        break;
                    };
                    acked.push((tx.to_str().unwrap().parse::<TxId>().unwrap(), contents));
                }
                acked
            }));
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        let stopper = tokio::task::spawn_blocking(move || server.stop());
        let mut all = Vec::new();
        for writer in writers {
            all.extend(writer.await.unwrap());
        }
        stopper.await.unwrap().unwrap();
        all
    });
    assert!(
        acknowledged.len() > 10,
        "only {} writes acknowledged",
        acknowledged.len()
    );
    for (tx, _) in &acknowledged {
        assert_eq!(
            ledger.status(*tx),
            TxStatus::Committed,
            "{tx} acknowledged but not committed"
        );
    }
    // And durable: they survive closing and reopening.
    Arc::try_unwrap(ledger)
        .expect("the server released the ledger")
        .close()
        .unwrap();
    let reopened = Ledger::open(LedgerConfig::new(&path)).unwrap();
    for (tx, contents) in &acknowledged {
        assert_eq!(reopened.status(*tx), TxStatus::Committed);
        assert_eq!(
            reopened.entry("shutdown", *tx).unwrap().contents,
            contents.as_bytes()
        );
    }
    reopened.close().unwrap();
}

/// Sends `head` and `body` over a TLS connection presenting `user`'s certificate and returns
/// what the server answers until it closes the connection or `wait` passes.
fn raw_request(
    server: &Running,
    user: &UserCert,
    head: &str,
    body: &[u8],
    wait: Duration,
) -> String {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(server.service_pem.as_bytes()).unwrap())
        .unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![CertificateDer::from(user.cert_der.clone())],
        PrivateKeyDer::from_pem_slice(user.key_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let mut stream = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        stream.flush().await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(wait, stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    })
}

#[test]
fn a_request_over_its_time_gets_503_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open_ledger(dir.path());
    let admin = UserCert::generate("admin");
    ledger
        .governance()
        .set_user(&admin.user_id(), "Administrator")
        .unwrap();
    let mut config = config(100, 1 << 20);
    config.request_timeout = Duration::from_millis(300);
    let server = Running::start(Arc::clone(&ledger), config);
    let c = client(&server.service_pem, Some(&admin));
    // Headers that promise a body which never comes.
    let started = Instant::now();
    let answer = raw_request(
        &server,
        &admin,
        &format!(
            "POST /app/transactions?{V}&collectionId=late HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\
             content-type: application/json\r\ncontent-length: 20\r\n\r\n"
        ),
        b"",
        Duration::from_secs(5),
    );
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("ServiceUnavailable"), "{answer}");
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        ledger.latest("late").unwrap().is_none(),
        "the late entry was written"
    );
    // A prompt request is served.
    post_entry(&c, &server, "prompt", "on time");
    server.stop().unwrap();
}

#[test]
fn connections_over_the_limit_are_closed() {
    let (_dir, server, admin) = {
        let dir = tempfile::tempdir().unwrap();
        let ledger = open_ledger(dir.path());
        let admin = UserCert::generate("admin");
        ledger
            .governance()
            .set_user(&admin.user_id(), "Administrator")
            .unwrap();
        let mut config = config(100, 1 << 20);
        config.max_connections = NonZeroUsize::new(1).unwrap();
        (dir, Running::start(ledger, config), admin)
    };
    let first = client(&server.service_pem, Some(&admin));
    let url = server.url(&format!("/app/transactions/current?{V}"));
    // The first client's keep-alive connection holds the only slot.
    assert_eq!(
        first.get(&url).send().unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let second = client(&server.service_pem, Some(&admin));
    assert!(
        second.get(&url).send().is_err(),
        "a second connection was served"
    );
    // Once the first client leaves, the slot is free again.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let third = client(&server.service_pem, Some(&admin));
        match third.get(&url).send() {
            Ok(response) => {
                assert_eq!(response.status(), StatusCode::NOT_FOUND);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop().unwrap();
}
