//! What the server's integration tests share: a ledger in a temporary directory, user
//! certificates, a running server, and HTTPS clients that present a certificate.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::{Ledger, LedgerConfig};
use ledger_server::{certificate_user_id, Server, ServerConfig};

/// A self-signed user certificate and its key.
pub struct UserCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl UserCert {
    pub fn generate(name: &str) -> UserCert {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()])
            .expect("a self-signed certificate");
        UserCert {
            cert_pem: certified.cert.pem(),
            key_pem: certified.key_pair.serialize_pem(),
            cert_der: certified.cert.der().to_vec(),
        }
    }

    pub fn user_id(&self) -> String {
        certificate_user_id(&self.cert_der)
    }

    /// Certificate then key, one PEM file as `requests` and reqwest take it.
    pub fn bundle_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

/// A RocksDB ledger in `dir` that signs promptly.
pub fn open_ledger(dir: &std::path::Path) -> Arc<Ledger> {
    Arc::new(
        Ledger::open(LedgerConfig::new(dir.join("ledger")).sig_interval(Duration::from_millis(5)))
            .expect("a ledger"),
    )
}

/// A server running on its own runtime thread until [`Running::stop`].
pub struct Running {
    pub addr: SocketAddr,
    pub service_pem: String,
    pub ledger: Arc<Ledger>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ledger_server::ServerError>>>,
}

impl Running {
    pub fn start(ledger: Arc<Ledger>, config: ServerConfig) -> Running {
        let server = Server::bind(Arc::clone(&ledger), config).expect("the server binds");
        let addr = server.local_addr();
        let service_pem = server.service_certificate_pem();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(server.run(async {
                stopped.await.ok();
            }))
        });
        Running {
            addr,
            service_pem,
            ledger,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base_url(), path_and_query)
    }

    /// Shuts down gracefully and waits for `run` to return.
    pub fn stop(mut self) -> Result<(), ledger_server::ServerError> {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Result<(), ledger_server::ServerError> {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
        match self.thread.take() {
            Some(thread) => thread.join().expect("the server thread"),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop_inner();
    }
}

/// A blocking HTTPS client trusting only `service_pem`, presenting `user` if given.
pub fn client(service_pem: &str, user: Option<&UserCert>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(service_pem.as_bytes()).expect("the service cert"),
        )
        .timeout(Duration::from_secs(30));
    if let Some(user) = user {
        builder = builder.identity(
            reqwest::Identity::from_pem(user.bundle_pem().as_bytes()).expect("an identity"),
        );
    }
    builder.build().expect("a client")
}

/// An async HTTPS client like [`client`].
pub fn async_client(service_pem: &str, user: &UserCert) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(service_pem.as_bytes()).expect("the service cert"),
        )
        .identity(reqwest::Identity::from_pem(user.bundle_pem().as_bytes()).expect("an identity"))
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// Whether the tests run in CI (`CI=true`), where a missing tool fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
