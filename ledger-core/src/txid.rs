//! Transaction identifiers: `view.seqno`.
//!
//! # Format
//!
//! Text form `"{view}.{seqno}"`, both unsigned 64-bit decimal numbers of at least 1. Parsing
//! is strict: exactly two non-empty runs of ASCII digits joined by one `.`, no sign, no
//! whitespace, no other characters, each value in `1..=u64::MAX`. Leading zeros are accepted
//! (`"02.15"` is `2.15`) because the value, not the spelling, identifies the transaction;
//! [`TxId`]'s `Display` never writes them.
//!
//! Ordering is by view, then seqno. Within one ledger seqnos are unique across views, so for
//! ids that exist in a ledger this is also seqno order.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of one transaction: the view it was recorded in and its position in the ledger.
///
/// ```
/// use ledger_core::TxId;
/// let id: TxId = "2.15".parse()?;
/// assert_eq!((id.view(), id.seqno()), (2, 15));
/// assert_eq!(id.to_string(), "2.15");
/// assert!("2.0".parse::<TxId>().is_err());
/// # Ok::<(), ledger_core::TxIdError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId {
    view: u64,
    seqno: u64,
}

impl TxId {
    /// Builds an id from its parts.
    ///
    /// # Errors
    ///
    /// [`TxIdError`] if either part is 0 (0 is never a view or a seqno).
    pub fn new(view: u64, seqno: u64) -> Result<Self, TxIdError> {
        if view == 0 || seqno == 0 {
            return Err(TxIdError {
                text: format!("{view}.{seqno}"),
                reason: "view and seqno must both be at least 1",
            });
        }
        Ok(Self { view, seqno })
    }

    /// The view the transaction was recorded in (>= 1).
    pub fn view(self) -> u64 {
        self.view
    }

    /// The transaction's position in the ledger, which is also its Merkle leaf index (>= 1).
    pub fn seqno(self) -> u64 {
        self.seqno
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.view, self.seqno)
    }
}

impl fmt::Debug for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxId({}.{})", self.view, self.seqno)
    }
}

fn parse_part(s: &str, whole: &str, what: &'static str) -> Result<u64, TxIdError> {
    let reason = match what {
        "view" => "the view must be a non-empty run of ASCII digits (expected \"view.seqno\")",
        _ => "the seqno must be a non-empty run of ASCII digits (expected \"view.seqno\")",
    };
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TxIdError {
            text: whole.to_owned(),
            reason,
        });
    }
    s.parse::<u64>().map_err(|_| TxIdError {
        text: whole.to_owned(),
        reason: match what {
            "view" => "the view does not fit in 64 bits",
            _ => "the seqno does not fit in 64 bits",
        },
    })
}

impl FromStr for TxId {
    type Err = TxIdError;

    fn from_str(s: &str) -> Result<Self, TxIdError> {
        let shown: String = s.chars().take(64).collect();
        let (view, seqno) = s.split_once('.').ok_or_else(|| TxIdError {
            text: shown.clone(),
            reason: "expected \"view.seqno\" with one '.'",
        })?;
        let view = parse_part(view, &shown, "view")?;
        let seqno = parse_part(seqno, &shown, "seqno")?;
        TxId::new(view, seqno).map_err(|e| TxIdError { text: shown, ..e })
    }
}

/// A transaction id that does not parse, or has a zero part. Converts into
/// [`crate::Error::InvalidInput`] with `what = "transaction id"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("transaction id {text:?}: {reason}")]
pub struct TxIdError {
    /// The text given (its first 64 characters).
    pub text: String,
    /// The rule it breaks.
    pub reason: &'static str,
}

impl Serialize for TxId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.view, self.seqno).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for TxId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            s.parse().map_err(serde::de::Error::custom)
        } else {
            let (view, seqno) = <(u64, u64)>::deserialize(deserializer)?;
            TxId::new(view, seqno).map_err(serde::de::Error::custom)
        }
    }
}

/// Commit status of a transaction id, as CCF reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxStatus {
    /// Never seen, or beyond what the ledger has recorded.
    Unknown,
    /// Recorded in the current view, not yet covered by a durable signature.
    Pending,
    /// Covered by a durable signature: it will survive any crash.
    Committed,
    /// That seqno was discarded, or holds a transaction of another view.
    Invalid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays() {
        let id: TxId = "2.15".parse().unwrap();
        assert_eq!(id, TxId::new(2, 15).unwrap());
        assert_eq!(id.to_string(), "2.15");
        let max = format!("{}.{}", u64::MAX, u64::MAX);
        assert_eq!(max.parse::<TxId>().unwrap().to_string(), max);
        assert_eq!("002.015".parse::<TxId>().unwrap(), id);
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            ".",
            "1.",
            ".1",
            "1",
            "1.2.3",
            "0.1",
            "1.0",
            "+1.2",
            "-1.2",
            " 1.2",
            "1.2 ",
            "1,2",
            "a.b",
            "1.2a",
            "١.٢",
            "18446744073709551616.1",
            "1..2",
        ] {
            let err = bad.parse::<TxId>().unwrap_err();
            assert_eq!(
                err.text,
                bad.chars().take(64).collect::<String>(),
                "{bad:?}"
            );
            assert!(matches!(
                crate::Error::from(err),
                crate::Error::InvalidInput {
                    what: "transaction id",
                    problem: crate::Problem::Malformed { .. }
                }
            ));
        }
    }

    #[test]
    fn orders_by_view_then_seqno() {
        let a = TxId::new(1, 9).unwrap();
        let b = TxId::new(2, 3).unwrap();
        let c = TxId::new(2, 4).unwrap();
        assert!(a < b && b < c);
    }

    #[test]
    fn serde_round_trips() {
        let id = TxId::new(3, 42).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"3.42\"");
        assert_eq!(serde_json::from_str::<TxId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<TxId>("\"3.0\"").is_err());
        let bytes = bincode::serde::encode_to_vec(id, bincode::config::standard()).unwrap();
        let (back, _): (TxId, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, id);
    }
}
