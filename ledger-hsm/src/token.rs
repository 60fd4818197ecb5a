//! A logged-in PKCS#11 token and the keys this crate keeps in it.
//!
//! # Modules
//!
//! A PKCS#11 module is initialized once per process (`C_Initialize`); a second
//! initialization fails, and `C_Finalize` ends every use of the module in the process. So
//! each module this crate loads is loaded once, by canonical path, initialized with
//! `CKF_OS_LOCKING_OK`, and kept loaded for the life of the process; an initialization done
//! earlier by someone else in the process (`CKR_CRYPTOKI_ALREADY_INITIALIZED`) is accepted.
//!
//! # Sessions and login
//!
//! A [`Pkcs11Token`] holds one read-write session, logged in as the user, behind a
//! [`parking_lot::Mutex`]: every operation takes the lock, so operations on one token are
//! serialized (a ledger signs once per signature transaction and seals a handful of secrets,
//! so this costs nothing that matters). PKCS#11 login state belongs to the process, not the
//! session, so a second `Pkcs11Token` for a token this process has open could not have its PIN
//! checked; opening one is refused ([`HsmError::TokenAlreadyOpen`]) until the first is
//! dropped. Share one token as `Arc<Pkcs11Token>`. Dropping it closes the session, which logs
//! the process out of the token. The PIN is used for the login and not kept; a session the
//! token drops (device removed, token reset) makes every later operation fail with
//! [`HsmError::Pkcs11`] until the token is opened again.
//!
//! # Key objects
//!
//! Keys are token objects (`CKA_TOKEN = true`) found by their label (`CKA_LABEL`), which is
//! also written as their `CKA_ID`. A label names at most one key of a kind: generating or
//! importing a key under a taken label is refused ([`HsmError::KeyExists`]), and finding a
//! label several keys carry is an error ([`HsmError::AmbiguousKey`]).
//!
//! * P-256 keys: a private key object (`CKK_EC` on secp256r1; `CKA_PRIVATE`,
//!   `CKA_SENSITIVE`, `CKA_SIGN` true, `CKA_EXTRACTABLE` false) and a public key object of
//!   the same label (`CKA_VERIFY`), from which [`Pkcs11Key`] reads the public point. They sign
//!   with `CKM_ECDSA`, which takes the digest as given.
//! * AES-256 keys: a secret key object (`CKK_AES`, `CKA_VALUE_LEN` 32, `CKA_PRIVATE`,
//!   `CKA_SENSITIVE`, `CKA_ENCRYPT`, `CKA_DECRYPT` true, `CKA_EXTRACTABLE` false), used with
//!   `CKM_AES_GCM`.

use std::fmt;
use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{AuthPin, Ulong};
use der::asn1::OctetStringRef;
use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::ecdsa::{DerSignature, Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::zeroize::{Zeroize, Zeroizing};
use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
use parking_lot::Mutex;

use crate::error::{HsmError, KeyKind, LoginFailure};

/// Modules this process has loaded, by canonical path; kept for the life of the process
/// (see the module documentation, `# Modules`).
static MODULES: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

/// Tokens this process has open through a [`Pkcs11Token`]: canonical module path and slot id.
/// Held locked while a token logs in and while a dropped token closes its session, so a
/// login never meets the state of a token that is still closing.
static OPEN_TOKENS: Mutex<Vec<(PathBuf, u64)>> = Mutex::new(Vec::new());

/// AES-GCM tag length in bits.
pub(crate) const GCM_TAG_BITS: u64 = 128;

/// An initialized PKCS#11 token this process is logged in to as the user.
///
/// `Send + Sync`: one session behind a mutex (see the module documentation). `Debug` shows the
/// module path, the token label and the slot; the PIN is not kept.
pub struct Pkcs11Token {
    module: PathBuf,
    label: String,
    slot: Slot,
    /// `None` only while the token is being dropped.
    session: Mutex<Option<Session>>,
}

impl Pkcs11Token {
    /// Loads the PKCS#11 module at `module` (once per process), finds the initialized token
    /// labelled `token_label`, opens a read-write session and logs in with `user_pin`.
    ///
    /// # Errors
    ///
    /// [`HsmError::Module`] if the module cannot be loaded or initialized;
    /// [`HsmError::InvalidInput`] for an empty label; [`HsmError::TokenNotFound`] or
    /// [`HsmError::AmbiguousToken`] if not exactly one token carries the label;
    /// [`HsmError::TokenAlreadyOpen`] if this process has it open already;
    /// [`HsmError::Login`] if the token refuses the PIN ([`LoginFailure::PinIncorrect`] for a
    /// wrong one, or one of a length or form the token never accepts);
    /// [`HsmError::Pkcs11`] for any other failure of the module.
    pub fn open(
        module: impl AsRef<Path>,
        token_label: &str,
        user_pin: &str,
    ) -> Result<Self, HsmError> {
        if token_label.is_empty() {
            return Err(HsmError::invalid("token label", "it is empty"));
        }
        let (canonical, context) = load_module(module.as_ref())?;
        let slots = context
            .get_slots_with_initialized_token()
            .map_err(|e| HsmError::pkcs11("listing the module's tokens", e))?;
        let mut matching = Vec::new();
        for slot in slots {
            let info = context
                .get_token_info(slot)
                .map_err(|e| HsmError::pkcs11("reading a token's information", e))?;
            if info.label() == token_label {
                matching.push(slot);
            }
        }
        let slot = match matching.as_slice() {
            [] => {
                return Err(HsmError::TokenNotFound {
                    module: module.as_ref().to_path_buf(),
                    label: token_label.to_owned(),
                })
            }
            [slot] => *slot,
            more => {
                return Err(HsmError::AmbiguousToken {
                    label: token_label.to_owned(),
                    count: more.len(),
                })
            }
        };
        let entry = (canonical.clone(), slot.id());
        let mut open = OPEN_TOKENS.lock();
        if open.contains(&entry) {
            return Err(HsmError::TokenAlreadyOpen {
                label: token_label.to_owned(),
            });
        }
        let session = context
            .open_rw_session(slot)
            .map_err(|e| HsmError::pkcs11("opening a session with the token", e))?;
        let pin = AuthPin::from(user_pin);
        session
            .login(UserType::User, Some(&pin))
            .map_err(|e| login_error(token_label, e))?;
        open.push(entry);
        Ok(Self {
            module: canonical,
            label: token_label.to_owned(),
            slot,
            session: Mutex::new(Some(session)),
        })
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The canonical path of the PKCS#11 module the token belongs to.
    pub fn module_path(&self) -> &Path {
        &self.module
    }

    /// Generates a P-256 key pair in the token under `label`: a sensitive, non-extractable
    /// private key and its public key, both token objects.
    ///
    /// # Errors
    ///
    /// [`HsmError::InvalidInput`] for an empty label; [`HsmError::KeyExists`] if a P-256 key
    /// of that label exists; [`HsmError::Pkcs11`] if the token fails; [`HsmError::Crypto`]
    /// if the public key it returns is not a P-256 point.
    pub fn generate_p256(&self, label: &str) -> Result<Pkcs11Key, HsmError> {
        check_label(label)?;
        self.with_session(|session| {
            self.ensure_absent(session, KeyKind::P256PrivateKey, label)?;
            self.ensure_absent(session, KeyKind::P256PublicKey, label)?;
            let public_template = [
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(p256_params()?),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(label.as_bytes().to_vec()),
            ];
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Derive(false),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(label.as_bytes().to_vec()),
            ];
            let (public, private) = session
                .generate_key_pair(
                    &Mechanism::EccKeyPairGen,
                    &public_template,
                    &private_template,
                )
                .map_err(|e| HsmError::pkcs11("generating a P-256 key pair", e))?;
            match read_public_key(session, public) {
                Ok(key) => Pkcs11Key::new(label, private, key),
                Err(e) => {
                    destroy_quietly(session, &[public, private]);
                    Err(e)
                }
            }
        })
    }

    /// Imports `secret` as a P-256 key pair under `label` (for tests, and for moving a key
    /// kept elsewhere into the token): the private key a sensitive, non-extractable token
    /// object, with its public key beside it.
    ///
    /// # Errors
    ///
    /// As [`Pkcs11Token::generate_p256`].
    pub fn import_p256(
        &self,
        label: &str,
        secret: &p256::SecretKey,
    ) -> Result<Pkcs11Key, HsmError> {
        check_label(label)?;
        let public = secret.public_key();
        let point = public.to_encoded_point(false);
        let ec_point = OctetStringRef::new(point.as_bytes())
            .and_then(|o| o.to_der())
            .map_err(|e| HsmError::crypto("encoding the public point", e))?;
        self.with_session(|session| {
            self.ensure_absent(session, KeyKind::P256PrivateKey, label)?;
            self.ensure_absent(session, KeyKind::P256PublicKey, label)?;
            let mut private_template = [
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Derive(false),
                Attribute::EcParams(p256_params()?),
                Attribute::Value(secret.to_bytes().to_vec()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(label.as_bytes().to_vec()),
            ];
            let created = session.create_object(&private_template);
            for attribute in &mut private_template {
                if let Attribute::Value(value) = attribute {
                    value.zeroize();
                }
            }
            let private =
                created.map_err(|e| HsmError::pkcs11("importing a P-256 private key", e))?;
            let public_template = [
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(p256_params()?),
                Attribute::EcPoint(ec_point.clone()),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(label.as_bytes().to_vec()),
            ];
            match session.create_object(&public_template) {
                Ok(_) => Pkcs11Key::new(label, private, VerifyingKey::from(public)),
                Err(e) => {
                    destroy_quietly(session, &[private]);
                    Err(HsmError::pkcs11("importing a P-256 public key", e))
                }
            }
        })
    }

    /// Finds the P-256 key pair labelled `label`: its private key, and its public key from
    /// the public key object of the same label (or, if there is none, from the private key's
    /// `CKA_PUBLIC_KEY_INFO` where the token provides it).
    ///
    /// # Errors
    ///
    /// [`HsmError::KeyNotFound`] or [`HsmError::AmbiguousKey`] if not exactly one private key
    /// (or, without `CKA_PUBLIC_KEY_INFO`, public key) carries the label;
    /// [`HsmError::Crypto`] if the key is not on P-256; [`HsmError::Pkcs11`] if the token
    /// fails.
    pub fn find_p256(&self, label: &str) -> Result<Pkcs11Key, HsmError> {
        check_label(label)?;
        self.with_session(|session| {
            let private = self.find_one(session, KeyKind::P256PrivateKey, label)?;
            check_p256_params(session, private)?;
            let public = match self.find_one(session, KeyKind::P256PublicKey, label) {
                Ok(public) => read_public_key(session, public)?,
                Err(not_found @ HsmError::KeyNotFound { .. }) => {
                    read_public_key_info(session, private)?.ok_or(not_found)?
                }
                Err(e) => return Err(e),
            };
            Pkcs11Key::new(label, private, public)
        })
    }

    /// Generates an AES-256 key in the token under `label`: a sensitive, non-extractable
    /// token object that encrypts and decrypts.
    ///
    /// # Errors
    ///
    /// [`HsmError::InvalidInput`] for an empty label; [`HsmError::KeyExists`] if an AES key
    /// of that label exists; [`HsmError::Pkcs11`] if the token fails.
    pub fn generate_aes256(&self, label: &str) -> Result<Pkcs11AesKey, HsmError> {
        check_label(label)?;
        self.with_session(|session| {
            self.ensure_absent(session, KeyKind::Aes256Key, label)?;
            let template = [
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(Ulong::new(32)),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(label.as_bytes().to_vec()),
            ];
            let handle = session
                .generate_key(&Mechanism::AesKeyGen, &template)
                .map_err(|e| HsmError::pkcs11("generating an AES-256 key", e))?;
            Ok(Pkcs11AesKey {
                label: label.to_owned(),
                handle,
            })
        })
    }

    /// Finds the AES key labelled `label` and checks it is 256 bits long.
    ///
    /// # Errors
    ///
    /// [`HsmError::KeyNotFound`] or [`HsmError::AmbiguousKey`] if not exactly one AES key
    /// carries the label; [`HsmError::Crypto`] if it is not 256 bits; [`HsmError::Pkcs11`] if
    /// the token fails.
    pub fn find_aes256(&self, label: &str) -> Result<Pkcs11AesKey, HsmError> {
        check_label(label)?;
        self.with_session(|session| {
            let handle = self.find_one(session, KeyKind::Aes256Key, label)?;
            let attributes = session
                .get_attributes(handle, &[AttributeType::ValueLen])
                .map_err(|e| HsmError::pkcs11("reading an AES key's length", e))?;
            let len = attributes.iter().find_map(|a| match a {
                Attribute::ValueLen(len) => Some(u64::from(*len)),
                _ => None,
            });
            if len != Some(32) {
                return Err(HsmError::crypto(
                    "finding an AES-256 key",
                    format_args!(
                        "the AES key labelled {label:?} is {} bytes long, not 32",
                        len.map_or_else(|| "of unknown length".to_owned(), |l| l.to_string())
                    ),
                ));
            }
            Ok(Pkcs11AesKey {
                label: label.to_owned(),
                handle,
            })
        })
    }

    /// Signs `digest` with `key` (`CKM_ECDSA`: the digest is the prehash) and checks the
    /// signature with the key's public key; returns it DER-encoded.
    pub(crate) fn sign_prehash(
        &self,
        key: &Pkcs11Key,
        digest: &[u8; 32],
    ) -> Result<DerSignature, HsmError> {
        let raw = self.with_session(|session| {
            session
                .sign(&Mechanism::Ecdsa, key.handle, digest)
                .map_err(|e| HsmError::pkcs11("signing with a token key", e))
        })?;
        // CKM_ECDSA returns r || s, each as long as the group order (32 bytes for P-256).
        let signature = Signature::from_slice(&raw).map_err(|_| {
            HsmError::crypto(
                "decoding a token signature",
                format_args!(
                    "{} bytes, not the 64 of an r || s P-256 signature",
                    raw.len()
                ),
            )
        })?;
        key.public.verify_prehash(digest, &signature).map_err(|_| {
            HsmError::crypto(
                "verifying a token signature",
                format_args!(
                    "the signature of token key {:?} does not verify with its public key",
                    key.label
                ),
            )
        })?;
        Ok(signature.to_der())
    }

    /// AES-256-GCM encryption of `plaintext` under `key` with the 12-byte `iv` and a 128-bit
    /// tag; returns the ciphertext followed by the tag.
    pub(crate) fn encrypt_gcm(
        &self,
        key: &Pkcs11AesKey,
        iv: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, HsmError> {
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, Ulong::new(GCM_TAG_BITS))
            .map_err(|e| HsmError::pkcs11("preparing AES-GCM parameters", e))?;
        self.with_session(|session| {
            session
                .encrypt(&Mechanism::AesGcm(params), key.handle, plaintext)
                .map_err(|e| HsmError::pkcs11("sealing with the token's AES-256-GCM key", e))
        })
    }

    /// Reverses [`Pkcs11Token::encrypt_gcm`]; fails if `ciphertext_and_tag` or `aad` was
    /// altered or the key is another.
    pub(crate) fn decrypt_gcm(
        &self,
        key: &Pkcs11AesKey,
        iv: &[u8; 12],
        aad: &[u8],
        ciphertext_and_tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HsmError> {
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, Ulong::new(GCM_TAG_BITS))
            .map_err(|e| HsmError::pkcs11("preparing AES-GCM parameters", e))?;
        self.with_session(|session| {
            session
                .decrypt(&Mechanism::AesGcm(params), key.handle, ciphertext_and_tag)
                .map(Zeroizing::new)
                .map_err(|e| HsmError::pkcs11("opening with the token's AES-256-GCM key", e))
        })
    }

    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> Result<T, HsmError>,
    ) -> Result<T, HsmError> {
        let guard = self.session.lock();
        match guard.as_ref() {
            Some(session) => f(session),
            // Only a token being dropped has no session, and nothing can call it then.
            None => Err(HsmError::crypto("using the token", "its session is closed")),
        }
    }

    fn find_all(
        &self,
        session: &Session,
        kind: KeyKind,
        label: &str,
    ) -> Result<Vec<ObjectHandle>, HsmError> {
        let (class, key_type) = match kind {
            KeyKind::P256PrivateKey => (ObjectClass::PRIVATE_KEY, KeyType::EC),
            KeyKind::P256PublicKey => (ObjectClass::PUBLIC_KEY, KeyType::EC),
            KeyKind::Aes256Key => (ObjectClass::SECRET_KEY, KeyType::AES),
        };
        session
            .find_objects(&[
                Attribute::Class(class),
                Attribute::KeyType(key_type),
                Attribute::Token(true),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(|e| HsmError::pkcs11("searching the token's keys", e))
    }

    fn find_one(
        &self,
        session: &Session,
        kind: KeyKind,
        label: &str,
    ) -> Result<ObjectHandle, HsmError> {
        match self.find_all(session, kind, label)?.as_slice() {
            [] => Err(HsmError::KeyNotFound {
                token: self.label.clone(),
                label: label.to_owned(),
                kind,
            }),
            [one] => Ok(*one),
            more => Err(HsmError::AmbiguousKey {
                token: self.label.clone(),
                label: label.to_owned(),
                kind,
                count: more.len(),
            }),
        }
    }

    fn ensure_absent(&self, session: &Session, kind: KeyKind, label: &str) -> Result<(), HsmError> {
        if self.find_all(session, kind, label)?.is_empty() {
            Ok(())
        } else {
            Err(HsmError::KeyExists {
                token: self.label.clone(),
                label: label.to_owned(),
                kind,
            })
        }
    }
}

impl fmt::Debug for Pkcs11Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Token")
            .field("module", &self.module)
            .field("label", &self.label)
            .field("slot", &self.slot.id())
            .finish_non_exhaustive()
    }
}

impl Drop for Pkcs11Token {
    fn drop(&mut self) {
        let mut open = OPEN_TOKENS.lock();
        // Closing the last session logs the process out of the token.
        drop(self.session.get_mut().take());
        let entry = (self.module.clone(), self.slot.id());
        open.retain(|e| *e != entry);
    }
}

/// A P-256 key pair held in a token: the handle of its private key and a copy of its public
/// key. It is used with the [`Pkcs11Token`] that found or generated it.
///
/// `Debug` shows the label and the node id of the public key.
#[derive(Clone)]
pub struct Pkcs11Key {
    label: String,
    handle: ObjectHandle,
    public: VerifyingKey,
    node_id: String,
}

impl Pkcs11Key {
    fn new(label: &str, handle: ObjectHandle, public: VerifyingKey) -> Result<Self, HsmError> {
        let spki = public
            .to_public_key_der()
            .map_err(|e| HsmError::crypto("encoding a token public key", e))?;
        Ok(Self {
            label: label.to_owned(),
            handle,
            public,
            node_id: ledger_core::node_id_of(spki.as_bytes()),
        })
    }

    /// The key's label in the token.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// Lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo: the node id of a
    /// node holding this key ([`ledger_core::node_id_of`]).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Key")
            .field("label", &self.label)
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// An AES-256 key held in a token. It is used with the [`Pkcs11Token`] that found or
/// generated it.
#[derive(Clone)]
pub struct Pkcs11AesKey {
    label: String,
    handle: ObjectHandle,
}

impl Pkcs11AesKey {
    /// The key's label in the token.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl fmt::Debug for Pkcs11AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11AesKey")
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

/// Loads and initializes the module at `path` once per process.
fn load_module(path: &Path) -> Result<(PathBuf, Pkcs11), HsmError> {
    let module_error = |detail: String| HsmError::Module {
        path: path.to_path_buf(),
        detail,
    };
    let canonical = std::fs::canonicalize(path).map_err(|e| module_error(e.to_string()))?;
    let mut modules = MODULES.lock();
    if let Some((_, context)) = modules.iter().find(|(p, _)| *p == canonical) {
        return Ok((canonical, context.clone()));
    }
    let context = Pkcs11::new(&canonical).map_err(|e| module_error(e.to_string()))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(module_error(format!("C_Initialize failed: {e}"))),
    }
    modules.push((canonical.clone(), context.clone()));
    Ok((canonical, context))
}

fn login_error(label: &str, e: CkError) -> HsmError {
    let reason = match e {
        CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid, _) => {
            LoginFailure::PinIncorrect
        }
        CkError::Pkcs11(RvError::PinLocked, _) => LoginFailure::PinLocked,
        CkError::Pkcs11(RvError::PinExpired, _) => LoginFailure::PinExpired,
        CkError::Pkcs11(RvError::UserPinNotInitialized, _) => LoginFailure::PinNotInitialized,
        CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _) => LoginFailure::AlreadyLoggedIn,
        other => return HsmError::pkcs11("logging in to the token", other),
    };
    HsmError::Login {
        label: label.to_owned(),
        reason,
    }
}

fn check_label(label: &str) -> Result<(), HsmError> {
    if label.is_empty() {
        Err(HsmError::invalid("key label", "it is empty"))
    } else {
        Ok(())
    }
}

/// `CKA_EC_PARAMS` of P-256: the DER of the named curve's OID (secp256r1).
fn p256_params() -> Result<Vec<u8>, HsmError> {
    der::oid::db::rfc5912::SECP_256_R_1
        .to_der()
        .map_err(|e| HsmError::crypto("encoding the P-256 curve identifier", e))
}

fn check_p256_params(session: &Session, key: ObjectHandle) -> Result<(), HsmError> {
    let attributes = session
        .get_attributes(key, &[AttributeType::EcParams])
        .map_err(|e| HsmError::pkcs11("reading a key's curve", e))?;
    let params = attributes.into_iter().find_map(|a| match a {
        Attribute::EcParams(p) => Some(p),
        _ => None,
    });
    if params.as_deref() == Some(p256_params()?.as_slice()) {
        Ok(())
    } else {
        Err(HsmError::crypto(
            "reading a key's curve",
            "the key is not on P-256 (secp256r1)",
        ))
    }
}

/// Reads a public key object's point, after checking its curve.
fn read_public_key(session: &Session, public: ObjectHandle) -> Result<VerifyingKey, HsmError> {
    check_p256_params(session, public)?;
    let attributes = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(|e| HsmError::pkcs11("reading a public key", e))?;
    let point = attributes
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(p),
            _ => None,
        })
        .ok_or_else(|| {
            HsmError::crypto("reading a public key", "the token gave no CKA_EC_POINT")
        })?;
    // PKCS#11 wants the point DER-wrapped in an OCTET STRING; some tokens give it bare. A bare
    // uncompressed point (65 bytes) never parses as an OCTET STRING of its own length.
    let sec1 = match OctetStringRef::from_der(&point) {
        Ok(octets) => octets.as_bytes().to_vec(),
        Err(_) => point,
    };
    VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|e| HsmError::crypto("decoding a token public key", e))
}

/// The public key of a private key object from its `CKA_PUBLIC_KEY_INFO` (PKCS#11 3.0), if
/// the token provides one.
fn read_public_key_info(
    session: &Session,
    private: ObjectHandle,
) -> Result<Option<VerifyingKey>, HsmError> {
    let attributes = match session.get_attributes(private, &[AttributeType::PublicKeyInfo]) {
        Ok(attributes) => attributes,
        Err(CkError::Pkcs11(RvError::AttributeTypeInvalid, _)) => return Ok(None),
        Err(e) => return Err(HsmError::pkcs11("reading a private key's public key", e)),
    };
    let spki = attributes.into_iter().find_map(|a| match a {
        Attribute::PublicKeyInfo(info) if !info.is_empty() => Some(info),
        _ => None,
    });
    spki.map(|spki| {
        VerifyingKey::from_public_key_der(&spki)
            .map_err(|e| HsmError::crypto("decoding a token public key", e))
    })
    .transpose()
}

/// Destroys objects left by a failed generation or import; a failure to destroy is not
/// reported over the error that caused it.
fn destroy_quietly(session: &Session, objects: &[ObjectHandle]) {
    for object in objects {
        let _ = session.destroy_object(*object);
    }
}
