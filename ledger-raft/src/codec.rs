//! Encoding of the records the Raft storage keeps.
//!
//! # Format
//!
//! Every stored value (log entry, vote, log id, membership, snapshot record) is one version
//! byte, currently [`RECORD_VERSION`] (`1`), followed by the value's serde form encoded with
//! bincode 2's standard configuration (variable-length integers, little-endian where fixed).
//! The openraft types are encoded through their own serde derives (feature `serde`), so a
//! change of openraft's types is a change of this format and needs a new version byte.
//!
//! Keys that are numbers (log indexes, table rows) are `u64` big-endian, so that keys sort by
//! number.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::RaftStoreError;

/// The version byte in front of every stored record.
pub(crate) const RECORD_VERSION: u8 = 1;

/// `value` as a stored record.
pub(crate) fn encode<T: Serialize>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, RaftStoreError> {
    let mut out = vec![RECORD_VERSION];
    bincode::serde::encode_into_std_write(value, &mut out, bincode::config::standard()).map_err(
        |err| RaftStoreError::Encode {
            what,
            detail: err.to_string(),
        },
    )?;
    Ok(out)
}

/// The value of a stored record; `what` names it in a corruption error.
pub(crate) fn decode<T: DeserializeOwned>(
    what: impl FnOnce() -> String,
    bytes: &[u8],
) -> Result<T, RaftStoreError> {
    let Some((&version, body)) = bytes.split_first() else {
        return Err(RaftStoreError::corruption(what(), "empty record"));
    };
    if version != RECORD_VERSION {
        return Err(RaftStoreError::corruption(
            what(),
            format!("record version {version}, expected {RECORD_VERSION}"),
        ));
    }
    let (value, read) = match bincode::serde::decode_from_slice(body, bincode::config::standard()) {
        Ok(decoded) => decoded,
        Err(err) => return Err(RaftStoreError::corruption(what(), err.to_string())),
    };
    if read != body.len() {
        return Err(RaftStoreError::corruption(
            what(),
            format!("{} trailing bytes", body.len() - read),
        ));
    }
    Ok(value)
}

/// A number as a key: big-endian, so keys sort by number.
pub(crate) fn u64_key(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// The number of a key written by [`u64_key`].
pub(crate) fn key_u64(what: &str, key: &[u8]) -> Result<u64, RaftStoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        RaftStoreError::corruption(what, format!("key of {} bytes, expected 8", key.len()))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let bytes = encode("pair", &(7u64, "x".to_string())).unwrap();
        assert_eq!(bytes[0], RECORD_VERSION);
        let back: (u64, String) = decode(|| "pair".into(), &bytes).unwrap();
        assert_eq!(back, (7, "x".to_string()));

        let err = decode::<(u64, String)>(|| "pair".into(), &[]).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 2;
        let err = decode::<(u64, String)>(|| "pair".into(), &wrong_version).unwrap_err();
        assert!(err.to_string().contains("record version 2"), "{err}");
        let mut trailing = bytes.clone();
        trailing.push(0);
        let err = decode::<(u64, String)>(|| "pair".into(), &trailing).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{err}");

        assert_eq!(key_u64("k", &u64_key(u64::MAX - 1)).unwrap(), u64::MAX - 1);
        assert!(key_u64("k", &[1, 2, 3]).unwrap_err().is_corruption());
        assert!(u64_key(255) < u64_key(256), "keys sort by number");
    }
}
