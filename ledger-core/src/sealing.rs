//! Secrets sealed under a key-encryption key the program supplies.
//!
//! A ledger's store holds the history; whoever can read its directory (or a backup of it)
//! should not thereby hold what lets them forge or pre-compute that history. With a
//! [`KeyEncryptionKey`] in [`crate::LedgerConfig::key_encryption_key`], every secret the
//! engine keeps in the store (the commit secret, and the node and service private keys when
//! the ledger holds them itself rather than through [`crate::NodeSigner`] and
//! [`crate::ServiceSigner`]) is written only sealed; backups copy the store, so they carry
//! the sealed form only. Without one, secrets are stored in plaintext: the quickstart default.
//!
//! The key-encryption key never enters the store. [`AesGcmKek`] holds one in process;
//! an HSM or key vault implements the trait by wrapping and unwrapping inside the device.
//! [`crate::Ledger::rotate_key_encryption_key`] re-seals every secret under a new key without
//! touching the history (entries never depend on the key-encryption key).
//!
//! # Format
//!
//! A sealed secret, as stored in the metadata slot named `slot`, is (integers big-endian):
//!
//! ```text
//! version  u8    = 1
//! id_len   u8    followed by id_len bytes: the key-encryption key's id, UTF-8, 1 to 255 bytes
//! sealed         the rest: what KeyEncryptionKey::seal returned
//! ```
//!
//! The associated data given to `seal` and `open` is `"ledger-sealed-secret-v1" 0x00 slot`,
//! so a sealed value copied into another slot (the commit secret into the node key's) fails
//! to open. [`AesGcmKek`]'s sealed form is a 12-byte random nonce followed by the AES-256-GCM
//! ciphertext and its 16-byte tag.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::elliptic_curve::zeroize::Zeroizing;
use rand_core::{OsRng, RngCore};

use crate::{Error, Problem, Result};

/// Version byte of a sealed secret.
const SEALED_FORMAT_VERSION: u8 = 1;
/// Domain separation of the associated data.
const SEALING_DOMAIN: &[u8] = b"ledger-sealed-secret-v1";
/// AES-GCM nonce length.
const NONCE_LEN: usize = 12;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// A key that seals (encrypts and authenticates) the ledger's secrets before they are stored.
///
/// Implementations must be authenticated encryption: [`KeyEncryptionKey::open`] fails on any
/// change to the sealed bytes or to `associated_data`.
pub trait KeyEncryptionKey: Send + Sync + fmt::Debug {
    /// Names this key (1 to 255 bytes of UTF-8): recorded beside each sealed secret, so
    /// opening a ledger with the wrong key fails with a clear error rather than a failed
    /// decryption, and a rotation can tell old from new.
    fn key_id(&self) -> &str;

    /// Encrypts and authenticates `plaintext` bound to `associated_data`.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the key or its device fails.
    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>>;

    /// Reverses [`KeyEncryptionKey::seal`].
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if `sealed` or `associated_data` was altered, or was sealed under
    /// another key.
    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// An AES-256-GCM key-encryption key held in process (RustCrypto `aes-gcm`).
///
/// `Debug` shows only the key id; the key is wiped from memory when dropped.
#[derive(Clone)]
pub struct AesGcmKek {
    id: String,
    cipher: Aes256Gcm,
}

impl AesGcmKek {
    /// A key-encryption key from its 32 bytes, named `key_id`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if `key_id` is empty or longer than 255 bytes.
    pub fn new(key_id: impl Into<String>, key: &[u8; 32]) -> Result<Self> {
        let id = key_id.into();
        check_key_id(&id)?;
        Ok(Self {
            id,
            cipher: Aes256Gcm::new(key.into()),
        })
    }

    /// A fresh random key named `key_id`, and its bytes (keep them: without them the ledger's
    /// secrets cannot be opened).
    ///
    /// # Errors
    ///
    /// As [`AesGcmKek::new`], plus [`Error::Crypto`] if the random source fails.
    pub fn generate(key_id: impl Into<String>) -> Result<(Self, Zeroizing<[u8; 32]>)> {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng
            .try_fill_bytes(key.as_mut())
            .map_err(|e| Error::crypto("reading the random source", e))?;
        Ok((Self::new(key_id, &key)?, key))
    }
}

impl fmt::Debug for AesGcmKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesGcmKek")
            .field("key_id", &self.id)
            .finish_non_exhaustive()
    }
}

impl KeyEncryptionKey for AesGcmKek {
    fn key_id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| Error::crypto("reading the random source", e))?;
        let ciphertext = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated_data,
                },
            )
            .map_err(|e| Error::crypto("sealing a secret with AES-256-GCM", e))?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn open(&self, sealed: &[u8], associated_data: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::crypto(
                "opening a sealed secret",
                format_args!(
                    "{} bytes, shorter than a nonce and a tag ({})",
                    sealed.len(),
                    NONCE_LEN + TAG_LEN
                ),
            ));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::crypto(
                    "opening a sealed secret",
                    "AES-256-GCM authentication failed: altered, or sealed under another key",
                )
            })
    }
}

fn check_key_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("key-encryption key id", Problem::Empty));
    }
    if id.len() > usize::from(u8::MAX) {
        return Err(Error::too_large(
            "key-encryption key id",
            id.len(),
            usize::from(u8::MAX),
        ));
    }
    Ok(())
}

fn associated_data(slot: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(SEALING_DOMAIN.len() + 1 + slot.len());
    aad.extend_from_slice(SEALING_DOMAIN);
    aad.push(0);
    aad.extend_from_slice(slot.as_bytes());
    aad
}

/// Seals `plaintext` for metadata slot `slot` (see the module's `# Format`).
pub(crate) fn seal(kek: &dyn KeyEncryptionKey, slot: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
    let id = kek.key_id();
    check_key_id(id)?;
    let sealed = kek.seal(plaintext, &associated_data(slot))?;
    let mut out = Vec::with_capacity(2 + id.len() + sealed.len());
    out.push(SEALED_FORMAT_VERSION);
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// The id of the key a stored sealed secret was sealed under.
///
/// # Errors
///
/// [`Error::Corruption`] if the header does not decode.
pub(crate) fn sealed_key_id<'a>(slot: &str, stored: &'a [u8]) -> Result<(&'a str, &'a [u8])> {
    let corrupt = |detail: &str| Error::corruption(format!("metadata {slot}"), detail.to_owned());
    let [version, id_len, rest @ ..] = stored else {
        return Err(corrupt("a sealed secret shorter than its header"));
    };
    if *version != SEALED_FORMAT_VERSION {
        return Err(corrupt("a sealed secret of an unknown format version"));
    }
    let id_len = usize::from(*id_len);
    if id_len == 0 || rest.len() < id_len {
        return Err(corrupt(
            "a sealed secret whose key id is empty or truncated",
        ));
    }
    let (id, sealed) = rest.split_at(id_len);
    let id = std::str::from_utf8(id).map_err(|_| corrupt("a key id that is not UTF-8"))?;
    Ok((id, sealed))
}

/// Opens the sealed secret stored in `slot` with `kek`.
///
/// # Errors
///
/// [`Error::Corruption`] if the stored header does not decode; [`Error::InvalidInput`]
/// (`what = "key_encryption_key"`, [`Problem::Mismatch`]) if it names another key;
/// [`Error::Crypto`] if the key refuses it.
pub(crate) fn open(
    kek: &dyn KeyEncryptionKey,
    slot: &str,
    stored: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let (id, sealed) = sealed_key_id(slot, stored)?;
    if id != kek.key_id() {
        return Err(Error::invalid(
            "key_encryption_key",
            Problem::Mismatch {
                expected: format!("key {id:?}, which sealed {slot}"),
                found: format!("key {:?}", kek.key_id()),
            },
        ));
    }
    kek.open(sealed, &associated_data(slot))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_in_their_slot_under_their_key() {
        let kek = AesGcmKek::new("kek-1", &[7u8; 32]).unwrap();
        let sealed = seal(&kek, "core.commit_secret", b"the secret").unwrap();
        assert!(!sealed.windows(10).any(|w| w == b"the secret"));
        assert_eq!(
            open(&kek, "core.commit_secret", &sealed)
                .unwrap()
                .as_slice(),
            b"the secret"
        );
        // Another slot: the associated data differs.
        assert!(matches!(
            open(&kek, "core.node_identity", &sealed),
            Err(Error::Crypto { .. })
        ));
        // Another key with the same id: authentication fails.
        let impostor = AesGcmKek::new("kek-1", &[8u8; 32]).unwrap();
        assert!(matches!(
            open(&impostor, "core.commit_secret", &sealed),
            Err(Error::Crypto { .. })
        ));
        // Another key id: named in the error before any decryption.
        let other = AesGcmKek::new("kek-2", &[7u8; 32]).unwrap();
        assert!(matches!(
            open(&other, "core.commit_secret", &sealed),
            Err(Error::InvalidInput {
                problem: Problem::Mismatch { .. },
                ..
            })
        ));
        // Every truncation and bit flip is refused with a typed error.
        for cut in 0..sealed.len() {
            assert!(open(&kek, "core.commit_secret", &sealed[..cut]).is_err());
        }
        for i in 0..sealed.len() {
            let mut flipped = sealed.clone();
            flipped[i] ^= 1;
            assert!(
                open(&kek, "core.commit_secret", &flipped).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn key_ids_are_bounded() {
        assert!(AesGcmKek::new("", &[0u8; 32]).is_err());
        assert!(AesGcmKek::new("k".repeat(256), &[0u8; 32]).is_err());
        let (kek, key) = AesGcmKek::generate("k".repeat(255)).unwrap();
        assert_ne!(*key, [0u8; 32]);
        assert!(!format!("{kek:?}").contains(&hex::encode(*key)));
    }
}
