//! The one error type of `ledger-hsm`, and its conversion into `ledger_core::Error`.
//!
//! The crate's own calls (opening a token, finding and generating keys, building signers)
//! return [`HsmError`], whose variants say what went wrong in terms a caller can act on: a
//! token that is not there, a PIN the token refused, a key label that is taken or missing.
//! The `ledger-core` seams ([`ledger_core::NodeSigner`], [`ledger_core::ServiceSigner`],
//! [`ledger_core::KeyEncryptionKey`]) must return [`ledger_core::Error`]; there every
//! [`HsmError`] becomes [`ledger_core::Error::Crypto`], with [`HsmError::operation`] as its
//! operation and the error's message as its detail. `ledger-core` offers no public
//! constructor for that variant, but its fields are public and the enum's
//! `#[non_exhaustive]` does not forbid building a variant, so the conversion builds it
//! directly.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in a `ledger-hsm` call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HsmError {
    /// The PKCS#11 module could not be found, loaded or initialized.
    #[error("loading the PKCS#11 module {}: {detail}", path.display())]
    Module {
        /// The module path as given.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// No initialized token of the module carries this label.
    #[error("no initialized token labelled {label:?} in the PKCS#11 module {}", module.display())]
    TokenNotFound {
        /// The module searched.
        module: PathBuf,
        /// The label asked for.
        label: String,
    },
    /// More than one token carries this label, so the label does not choose one.
    #[error("{count} tokens are labelled {label:?}: a token is chosen by a unique label")]
    AmbiguousToken {
        /// The label asked for.
        label: String,
        /// How many tokens carry it.
        count: usize,
    },
    /// This process already has the token open through another [`crate::Pkcs11Token`].
    /// PKCS#11 login state belongs to the whole process, so a second login could not check
    /// its PIN; share the open token (`Arc<Pkcs11Token>`) instead.
    #[error("token {label:?} is already open in this process: share its Arc<Pkcs11Token>")]
    TokenAlreadyOpen {
        /// The token's label.
        label: String,
    },
    /// The token refused the login.
    #[error("logging in to token {label:?}: {reason}")]
    Login {
        /// The token's label.
        label: String,
        /// Why it refused.
        reason: LoginFailure,
    },
    /// The token holds no key of this kind with this label.
    #[error("token {token:?} holds no {kind} labelled {label:?}")]
    KeyNotFound {
        /// The token's label.
        token: String,
        /// The key label asked for.
        label: String,
        /// The kind of key looked for.
        kind: KeyKind,
    },
    /// The token holds several keys of this kind with this label, so the label does not
    /// choose one.
    #[error("token {token:?} holds {count} {kind}s labelled {label:?}: keys are found by a unique label")]
    AmbiguousKey {
        /// The token's label.
        token: String,
        /// The key label asked for.
        label: String,
        /// The kind of key looked for.
        kind: KeyKind,
        /// How many it holds.
        count: usize,
    },
    /// A key of this kind with this label exists already; generating or importing another
    /// would make the label ambiguous.
    #[error("token {token:?} already holds a {kind} labelled {label:?}")]
    KeyExists {
        /// The token's label.
        token: String,
        /// The label asked for.
        label: String,
        /// The kind of key.
        kind: KeyKind,
    },
    /// A certificate given for a token key certifies another key.
    #[error("the certificate's public key is not the public key of token key {label:?}")]
    CertificateKeyMismatch {
        /// The token key's label.
        label: String,
    },
    /// The caller supplied something refused before the token was asked: an empty label, a
    /// certificate that does not parse, a common name over its limit.
    #[error("invalid {what}: {detail}")]
    InvalidInput {
        /// What was refused, e.g. `"key label"`, `"certificate"`.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A PKCS#11 call failed.
    #[error("{operation}: {source}")]
    Pkcs11 {
        /// What this crate was doing, e.g. `"signing with a token key"`.
        operation: &'static str,
        /// The `cryptoki` error, carrying the PKCS#11 return value.
        #[source]
        source: cryptoki::error::Error,
    },
    /// A cryptographic step outside the token failed: decoding what the token returned,
    /// building a certificate, or a token signature that does not verify with the key's
    /// public key.
    #[error("{operation}: {detail}")]
    Crypto {
        /// What this crate was doing.
        operation: &'static str,
        /// What failed.
        detail: String,
    },
}

/// Why a token refused a login ([`HsmError::Login`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginFailure {
    /// The PIN is wrong (`CKR_PIN_INCORRECT`).
    PinIncorrect,
    /// The PIN is locked after too many failed attempts (`CKR_PIN_LOCKED`).
    PinLocked,
    /// The PIN has expired and must be changed first (`CKR_PIN_EXPIRED`).
    PinExpired,
    /// The user PIN of the token was never set (`CKR_USER_PIN_NOT_INITIALIZED`).
    PinNotInitialized,
    /// Something else in this process is logged in to the token already
    /// (`CKR_USER_ALREADY_LOGGED_IN`), so the PIN could not be checked.
    AlreadyLoggedIn,
}

impl fmt::Display for LoginFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LoginFailure::PinIncorrect => "the PIN is incorrect",
            LoginFailure::PinLocked => "the PIN is locked",
            LoginFailure::PinExpired => "the PIN has expired",
            LoginFailure::PinNotInitialized => "the token's user PIN is not initialized",
            LoginFailure::AlreadyLoggedIn => {
                "this process is logged in to the token already, outside this crate"
            }
        })
    }
}

/// The kinds of key this crate keeps in a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyKind {
    /// A P-256 (secp256r1) private key (`CKO_PRIVATE_KEY`, `CKK_EC`).
    P256PrivateKey,
    /// A P-256 (secp256r1) public key (`CKO_PUBLIC_KEY`, `CKK_EC`).
    P256PublicKey,
    /// An AES-256 secret key (`CKO_SECRET_KEY`, `CKK_AES`).
    Aes256Key,
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyKind::P256PrivateKey => "P-256 private key",
            KeyKind::P256PublicKey => "P-256 public key",
            KeyKind::Aes256Key => "AES-256 key",
        })
    }
}

impl HsmError {
    /// What was being done when the error arose, as a short phrase: the `operation` of the
    /// [`ledger_core::Error::Crypto`] it converts into.
    pub fn operation(&self) -> &'static str {
        match self {
            HsmError::Module { .. } => "loading the PKCS#11 module",
            HsmError::TokenNotFound { .. } | HsmError::AmbiguousToken { .. } => {
                "finding the PKCS#11 token"
            }
            HsmError::TokenAlreadyOpen { .. } => "opening the PKCS#11 token",
            HsmError::Login { .. } => "logging in to the PKCS#11 token",
            HsmError::KeyNotFound { .. } | HsmError::AmbiguousKey { .. } => {
                "finding a key in the token"
            }
            HsmError::KeyExists { .. } => "creating a key in the token",
            HsmError::CertificateKeyMismatch { .. } => "matching a certificate to a token key",
            HsmError::InvalidInput { what, .. } => what,
            HsmError::Pkcs11 { operation, .. } | HsmError::Crypto { operation, .. } => operation,
        }
    }

    /// Whether the token refused the PIN as wrong ([`LoginFailure::PinIncorrect`]).
    pub fn is_pin_incorrect(&self) -> bool {
        matches!(
            self,
            HsmError::Login {
                reason: LoginFailure::PinIncorrect,
                ..
            }
        )
    }

    pub(crate) fn pkcs11(operation: &'static str, source: cryptoki::error::Error) -> Self {
        HsmError::Pkcs11 { operation, source }
    }

    pub(crate) fn crypto(operation: &'static str, detail: impl fmt::Display) -> Self {
        HsmError::Crypto {
            operation,
            detail: detail.to_string(),
        }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl fmt::Display) -> Self {
        HsmError::InvalidInput {
            what,
            detail: detail.to_string(),
        }
    }
}

impl From<HsmError> for ledger_core::Error {
    /// Every [`HsmError`] is a [`ledger_core::Error::Crypto`]: the operation is
    /// [`HsmError::operation`], the detail the error's message.
    fn from(e: HsmError) -> Self {
        ledger_core::Error::Crypto {
            operation: e.operation(),
            detail: e.to_string(),
        }
    }
}
