//! A key-encryption key held in a token.
//!
//! # Format
//!
//! What [`Pkcs11Kek`] seals is, like `ledger_core::AesGcmKek`'s:
//!
//! ```text
//! iv          12 bytes, random (the operating system's generator)
//! ciphertext  as long as the plaintext
//! tag         16 bytes
//! ```
//!
//! computed by the token with `CKM_AES_GCM` (the IV above, the caller's associated data, a
//! 128-bit tag) under the AES-256 key; the key never leaves the token.

use std::fmt;
use std::sync::Arc;

use ledger_core::KeyEncryptionKey;
use p256::elliptic_curve::zeroize::Zeroizing;
use rand_core::{OsRng, RngCore};

use crate::error::HsmError;
use crate::token::{Pkcs11AesKey, Pkcs11Token, GCM_TAG_BITS};

/// AES-GCM IV length.
const IV_LEN: usize = 12;
/// AES-GCM tag length in bytes.
const TAG_LEN: usize = (GCM_TAG_BITS / 8) as usize;
/// Longest key id `ledger-core` records beside a sealed secret.
const MAX_KEY_ID_LEN: usize = 255;

/// A [`KeyEncryptionKey`] whose AES-256 key is held in a token: sealing and opening run
/// inside the token (`CKM_AES_GCM`, see the module's `# Format`). Its key id is the key's
/// label.
///
/// `Debug` shows the token and the key id.
pub struct Pkcs11Kek {
    token: Arc<Pkcs11Token>,
    key: Pkcs11AesKey,
}

impl Pkcs11Kek {
    /// The key-encryption key held in `token` as the AES-256 key `key_label` (made with
    /// [`Pkcs11Token::generate_aes256`]).
    ///
    /// # Errors
    ///
    /// [`HsmError::InvalidInput`] if the label is empty or longer than 255 bytes (the
    /// longest key id `ledger-core` records); otherwise as [`Pkcs11Token::find_aes256`].
    pub fn new(token: Arc<Pkcs11Token>, key_label: &str) -> Result<Self, HsmError> {
        if key_label.len() > MAX_KEY_ID_LEN {
            return Err(HsmError::invalid(
                "key label",
                format_args!(
                    "{} bytes is over the {MAX_KEY_ID_LEN} of a key-encryption key id",
                    key_label.len()
                ),
            ));
        }
        let key = token.find_aes256(key_label)?;
        Ok(Self { token, key })
    }

    /// The token.
    pub fn token(&self) -> &Arc<Pkcs11Token> {
        &self.token
    }
}

impl KeyEncryptionKey for Pkcs11Kek {
    fn key_id(&self) -> &str {
        self.key.label()
    }

    fn seal(&self, plaintext: &[u8], associated_data: &[u8]) -> ledger_core::Result<Vec<u8>> {
        let mut iv = [0u8; IV_LEN];
        OsRng
            .try_fill_bytes(&mut iv)
            .map_err(|e| HsmError::crypto("reading the random source", e))?;
        let ciphertext = self
            .token
            .encrypt_gcm(&self.key, &iv, associated_data, plaintext)?;
        let mut sealed = Vec::with_capacity(IV_LEN + ciphertext.len());
        sealed.extend_from_slice(&iv);
        sealed.extend_from_slice(&ciphertext);
        Ok(sealed)
    }

    fn open(
        &self,
        sealed: &[u8],
        associated_data: &[u8],
    ) -> ledger_core::Result<Zeroizing<Vec<u8>>> {
        let Some((iv, ciphertext)) = sealed
            .split_first_chunk::<IV_LEN>()
            .filter(|(_, rest)| rest.len() >= TAG_LEN)
        else {
            return Err(HsmError::crypto(
                "opening a sealed secret",
                format_args!(
                    "{} bytes, shorter than an IV and a tag ({})",
                    sealed.len(),
                    IV_LEN + TAG_LEN
                ),
            )
            .into());
        };
        Ok(self
            .token
            .decrypt_gcm(&self.key, iv, associated_data, ciphertext)?)
    }
}

impl fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Kek")
            .field("token", &self.token.label())
            .field("key_id", &self.key.label())
            .finish_non_exhaustive()
    }
}
