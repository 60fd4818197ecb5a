//! Serde helpers shared by the governance records: standard base64 for byte strings and
//! lowercase hex for 32-byte digests, both strict on input.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serializer};

/// `Vec<u8>` as standard base64 with padding.
pub(crate) mod b64 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// `[u8; 32]` as 64 lowercase hex digits.
pub(crate) mod hex32 {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// Parses exactly 64 lowercase hex digits.
    pub(crate) fn parse(text: &str) -> Result<[u8; 32], String> {
        if !is_digest_hex(text) {
            return Err(format!(
                "expected 64 lowercase hex digits, found {:?}",
                super::shorten(text)
            ));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// Whether `text` is 64 lowercase hex digits (a SHA-256 digest as the ledger writes one).
pub(crate) fn is_digest_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// At most 80 characters of `text`, for error messages about untrusted input.
pub(crate) fn shorten(text: &str) -> String {
    let mut out: String = text.chars().take(80).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A table key as text for messages: UTF-8 if it is, else hex.
pub(crate) fn show_key(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(text) if !text.chars().any(char::is_control) => shorten(text),
        _ => format!("0x{}", shorten(&hex::encode(key))),
    }
}
