//! A ledger's keys held in a hardware security module through PKCS#11.
//!
//! `ledger-core` reaches every key it does not hold itself through three seams; this crate
//! implements them over a PKCS#11 token (with the `cryptoki` crate), so that the ledger's
//! private keys and its key-encryption key never exist outside the token:
//!
//! | what | held where | seam | type |
//! | --- | --- | --- | --- |
//! | the service key, which certifies nodes and whose self-signed CA certificate verifiers trust | a P-256 private key in the token (sensitive, not extractable) | [`ledger_core::ServiceSigner`] | [`Pkcs11ServiceSigner`] |
//! | the node key, which signs Merkle roots | a P-256 private key in the token (sensitive, not extractable) | [`ledger_core::NodeSigner`] | [`Pkcs11NodeSigner`] |
//! | the key-encryption key, which seals the secrets the ledger stores (its commit secret) | an AES-256 key in the token (sensitive, not extractable); sealing and opening run in the token (`CKM_AES_GCM`) | [`ledger_core::KeyEncryptionKey`] | [`Pkcs11Kek`] |
//!
//! The certificates are not secret: the service certificate and the node certificate live
//! with the ledger (and in every receipt). The program keeps the service certificate and the
//! node certificate to build the signers again when it restarts
//! ([`Pkcs11ServiceSigner::open`], [`Pkcs11NodeSigner::new`]). The user PIN is needed to
//! open the token and is not kept.
//!
//! A [`Pkcs11Token`] is one logged-in session with one token; the three types share it as
//! `Arc<Pkcs11Token>`, and a process opens each token once (see [`Pkcs11Token::open`]).
//! Operations on a token are serialized by a mutex around its session.
//!
//! Every signature the token makes is `CKM_ECDSA` over a 32-byte digest used as the prehash
//! (the Merkle root for the node key, the SHA-256 of a certificate's to-be-signed part for
//! the service key), converted from PKCS#11's raw `r || s` to DER and checked against the
//! key's public key before it is returned.
//!
//! # Errors
//!
//! The crate's own calls return [`HsmError`]; through the `ledger-core` seams every failure
//! becomes [`ledger_core::Error::Crypto`] (see `impl From<HsmError> for ledger_core::Error`).
//!
//! # Example
//!
//! With SoftHSM2 (`bash .ci/setup.sh` installs it) and a token made by
//! `softhsm2-util --init-token --free --label ledger --so-pin 5678 --pin 1234`; the tests in
//! `tests/softhsm.rs` run these steps against a token of their own.
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use ledger_core::{CertificateValidity, KeyEncryptionKey, NodeSigner, ServiceSigner};
//! use ledger_hsm::{Pkcs11Kek, Pkcs11NodeSigner, Pkcs11ServiceSigner, Pkcs11Token};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let token = Arc::new(Pkcs11Token::open(
//!         "/usr/lib/softhsm/libsofthsm2.so",
//!         "ledger",
//!         "1234",
//!     )?);
//!
//!     // Once, when the ledger is created: the keys are made inside the token.
//!     token.generate_p256("service")?;
//!     let node_key = token.generate_p256("node0")?;
//!     token.generate_aes256("kek")?;
//!     let validity = CertificateValidity::starting_now();
//!     let service = Pkcs11ServiceSigner::create(token.clone(), "service", "my ledger", validity)?;
//!     let node_cert = service.issue_node_certificate(node_key.verifying_key(), "node0", validity)?;
//!     // Keep `service.certificate_pem()` and `node_cert`: with the token they rebuild the
//!     // signers (`Pkcs11ServiceSigner::open`, `Pkcs11NodeSigner::new`) after a restart.
//!
//!     let node = Pkcs11NodeSigner::new(token.clone(), "node0", &node_cert)?;
//!     let kek = Pkcs11Kek::new(token.clone(), "kek")?;
//!
//!     let signature = node.sign_root(&[7u8; 32])?; // DER ECDSA P-256, made in the token
//!     let sealed = kek.seal(b"a secret", b"its slot")?;
//!     assert_eq!(kek.open(&sealed, b"its slot")?.as_slice(), b"a secret");
//!     # let _ = signature;
//!
//!     // `LedgerConfig::service_signer`, `node_signer` and `key_encryption_key` take them
//!     // as `Arc<dyn ...>`.
//!     let _ = (Arc::new(service), Arc::new(node), Arc::new(kek));
//!     Ok(())
//! }
//! ```

mod error;
mod kek;
mod signer;
mod token;

pub use crate::error::{HsmError, KeyKind, LoginFailure};
pub use crate::kek::Pkcs11Kek;
pub use crate::signer::{Pkcs11NodeSigner, Pkcs11ServiceSigner};
pub use crate::token::{Pkcs11AesKey, Pkcs11Key, Pkcs11Token};

#[cfg(test)]
mod tests {
    use super::*;

    fn is_send_sync<T: Send + Sync>() {}

    #[test]
    fn shared_types_are_send_and_sync() {
        is_send_sync::<Pkcs11Token>();
        is_send_sync::<Pkcs11Key>();
        is_send_sync::<Pkcs11AesKey>();
        is_send_sync::<Pkcs11NodeSigner>();
        is_send_sync::<Pkcs11ServiceSigner>();
        is_send_sync::<Pkcs11Kek>();
        is_send_sync::<HsmError>();
    }

    #[test]
    fn errors_become_ledger_crypto_errors() {
        let e = HsmError::Login {
            label: "t".into(),
            reason: LoginFailure::PinIncorrect,
        };
        assert!(e.is_pin_incorrect());
        let message = e.to_string();
        let converted = ledger_core::Error::from(e);
        assert!(matches!(
            &converted,
            ledger_core::Error::Crypto { operation: "logging in to the PKCS#11 token", detail }
                if *detail == message
        ));
    }
}
