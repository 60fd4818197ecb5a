//! From a transaction to its Merkle leaf (SPEC.md section 3, steps 2 to 4).
//!
//! # Format
//!
//! * `write_set_digest` = SHA-256 of the transaction's canonical entry bytes (computed by the
//!   engine; this module takes it as given).
//! * `commit_evidence` = the ASCII string `ce:{view}.{seqno}:{nonce}` where `view` and `seqno`
//!   are decimal without leading zeros and `nonce` is the lowercase hex of
//!   `HMAC-SHA256(commit_secret, "{view}.{seqno}")`, 64 characters. At most
//!   [`MAX_COMMIT_EVIDENCE_LEN`] bytes.
//! * `leaf` = SHA-256(`write_set_digest` ‖ SHA-256(`commit_evidence`) ‖ `claims_digest`), 96
//!   bytes in, 32 out. `claims_digest` defaults to 32 zero bytes.
//!
//! The commit evidence is what makes a leaf unguessable before the ledger reveals it in a
//! receipt: without the secret nobody can recompute the leaf of a transaction from its write
//! set alone. The secret therefore never leaves the store and is never written into an entry.
//!
//! # Performance
//!
//! These functions run once per transaction. [`CommitSecret`] keeps the HMAC state already
//! keyed (the key's inner and outer pads hashed once), so each evidence costs two SHA-256
//! compressions plus the formatting, and [`CommitSecret::evidence`] formats into a fixed-size
//! stack buffer ([`CommitEvidence`]) so the per-transaction path allocates nothing.
//! [`CommitSecret::leaf_hash`] goes straight from `(view, seqno, write_set_digest,
//! claims_digest)` to the leaf.

use std::fmt;

use hmac::{Hmac, Mac};
use p256::elliptic_curve::zeroize::{Zeroize, Zeroizing};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::error::excerpt;
use crate::{Error, Problem, Result, TxId};

/// A SHA-256 digest: the Merkle layer's own type, so leaves and roots cross the crate
/// boundary as they are.
pub use ledger_merkle::Digest;

/// The claims digest used when a transaction carries no application claims: 32 zero bytes.
pub const NO_CLAIMS: Digest = [0u8; 32];

/// Length in bytes of a commit secret.
pub(crate) const COMMIT_SECRET_LEN: usize = 32;

/// Longest possible commit evidence: `"ce:"` + 20 digits + `"."` + 20 digits + `":"` + 64 hex.
pub(crate) const MAX_COMMIT_EVIDENCE_LEN: usize = 3 + 20 + 1 + 20 + 1 + 64;

type HmacSha256 = Hmac<Sha256>;

/// The per-ledger secret from which every transaction's commit evidence is derived.
///
/// 32 random bytes, generated when the ledger is created and kept private in the store. The
/// HMAC state is keyed once at construction; every evidence clones it. `Debug` never prints
/// the secret, and the raw bytes are wiped from memory when the value is dropped.
#[derive(Clone)]
pub(crate) struct CommitSecret {
    bytes: Zeroizing<[u8; COMMIT_SECRET_LEN]>,
    keyed: HmacSha256,
}

impl CommitSecret {
    /// Generates a fresh secret from the operating system's random number generator.
    ///
    /// # Errors
    ///
    /// [`Error::Crypto`] if the operating system's random source fails.
    pub(crate) fn generate() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; COMMIT_SECRET_LEN]);
        OsRng
            .try_fill_bytes(bytes.as_mut())
            .map_err(|e| Error::crypto("reading the random source", e))?;
        Ok(Self::from_bytes(*bytes))
    }

    /// Rebuilds a secret from its 32 bytes (as returned by [`CommitSecret::to_bytes`]).
    pub(crate) fn from_bytes(mut bytes: [u8; COMMIT_SECRET_LEN]) -> Self {
        let keyed = keyed_hmac(&bytes);
        let secret = Self {
            bytes: Zeroizing::new(bytes),
            keyed,
        };
        bytes.zeroize();
        secret
    }

    /// Rebuilds a secret from a byte slice, as read back from a store.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "commit secret"`, [`Problem::TooLarge`] or
    /// [`Problem::TooSmall`]) if `bytes` is not exactly [`COMMIT_SECRET_LEN`] bytes long.
    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self> {
        let array: [u8; COMMIT_SECRET_LEN] = bytes.try_into().map_err(|_| {
            if bytes.len() > COMMIT_SECRET_LEN {
                Error::too_large("commit secret", bytes.len(), COMMIT_SECRET_LEN)
            } else {
                Error::invalid(
                    "commit secret",
                    Problem::TooSmall {
                        size: bytes.len() as u64,
                        minimum: COMMIT_SECRET_LEN as u64,
                    },
                )
            }
        })?;
        Ok(Self::from_bytes(array))
    }

    /// The secret's bytes, for persisting it. Handle with care: anyone holding them can
    /// compute the commit evidence (and so the leaf) of any transaction.
    pub(crate) fn to_bytes(&self) -> Zeroizing<[u8; COMMIT_SECRET_LEN]> {
        self.bytes.clone()
    }

    /// `HMAC-SHA256(secret, "{view}.{seqno}")`, the nonce inside the commit evidence.
    pub(crate) fn nonce(&self, view: u64, seqno: u64) -> Digest {
        let digits = DecimalPair::new(view, seqno);
        let mut mac = self.keyed.clone();
        mac.update(digits.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The commit evidence `ce:{view}.{seqno}:{hex(nonce)}` of transaction `view.seqno`, in a
    /// stack buffer (no allocation).
    pub(crate) fn evidence(&self, view: u64, seqno: u64) -> CommitEvidence {
        CommitEvidence::from_nonce(view, seqno, &self.nonce(view, seqno))
    }

    /// The commit evidence of transaction `view.seqno` as an owned string.
    pub(crate) fn commit_evidence(&self, view: u64, seqno: u64) -> String {
        self.evidence(view, seqno).as_str().to_owned()
    }

    /// The leaf of transaction `view.seqno` (SPEC.md section 3 step 4), computed without
    /// allocating.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn leaf_hash(
        &self,
        view: u64,
        seqno: u64,
        write_set_digest: &Digest,
        claims_digest: &Digest,
    ) -> Digest {
        leaf_hash(
            write_set_digest,
            self.evidence(view, seqno).as_str(),
            claims_digest,
        )
    }
}

impl fmt::Debug for CommitSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CommitSecret(<redacted>)")
    }
}

fn keyed_hmac(key: &[u8; COMMIT_SECRET_LEN]) -> HmacSha256 {
    // HMAC pads a key shorter than the hash's 64-byte block with zeros, so a zero-padded
    // block is the same key; building it by hand keeps this infallible.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..COMMIT_SECRET_LEN].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(block.as_ref().into())
}

/// `"{view}.{seqno}"` formatted right-aligned into a stack buffer.
struct DecimalPair {
    buf: [u8; 41],
    start: usize,
}

impl DecimalPair {
    fn new(view: u64, seqno: u64) -> Self {
        let mut buf = [0u8; 41];
        let mut pos = buf.len();
        pos = write_decimal_backwards(seqno, &mut buf, pos);
        pos -= 1;
        buf[pos] = b'.';
        pos = write_decimal_backwards(view, &mut buf, pos);
        Self { buf, start: pos }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Writes `value` in decimal ending just before `end`; returns the index of its first digit.
fn write_decimal_backwards(mut value: u64, buf: &mut [u8], mut end: usize) -> usize {
    loop {
        end -= 1;
        // `value % 10` is below 10, so the cast cannot truncate.
        buf[end] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return end;
        }
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn write_hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

/// A commit evidence string held in a fixed-size stack buffer.
///
/// Dereferences to `str`; [`CommitEvidence::as_str`] gives the text.
#[derive(Clone, Copy)]
pub(crate) struct CommitEvidence {
    buf: [u8; MAX_COMMIT_EVIDENCE_LEN],
    len: usize,
}

impl CommitEvidence {
    /// The evidence `ce:{view}.{seqno}:{hex(nonce)}` of transaction `view.seqno` whose nonce
    /// ([`CommitSecret::nonce`]) is `nonce`.
    pub(crate) fn from_nonce(view: u64, seqno: u64, nonce: &Digest) -> Self {
        let mut out = CommitEvidence {
            buf: [0u8; MAX_COMMIT_EVIDENCE_LEN],
            len: 0,
        };
        let digits = DecimalPair::new(view, seqno);
        let txid = digits.as_bytes();
        out.buf[..3].copy_from_slice(b"ce:");
        let mut len = 3;
        out.buf[len..len + txid.len()].copy_from_slice(txid);
        len += txid.len();
        out.buf[len] = b':';
        len += 1;
        write_hex(nonce, &mut out.buf[len..len + 64]);
        len += 64;
        out.len = len;
        out
    }
    /// The evidence text, `ce:{view}.{seqno}:{hex}`.
    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits, '.', ':', "ce" and lowercase hex are ever written, so the bytes
        // are valid UTF-8; the fallback is unreachable and kept only to avoid a panic path.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    /// SHA-256 of the evidence text, the middle 32 bytes of the leaf preimage.
    pub(crate) fn digest(&self) -> Digest {
        Sha256::digest(&self.buf[..self.len]).into()
    }
}

impl std::ops::Deref for CommitEvidence {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for CommitEvidence {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for CommitEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CommitEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq for CommitEvidence {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for CommitEvidence {}

/// `SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest)`: the Merkle leaf of
/// a transaction (SPEC.md section 3 step 4).
pub(crate) fn leaf_hash(
    write_set_digest: &Digest,
    commit_evidence: &str,
    claims_digest: &Digest,
) -> Digest {
    let evidence_digest: Digest = Sha256::digest(commit_evidence.as_bytes()).into();
    leaf_hash_of_digests(write_set_digest, &evidence_digest, claims_digest)
}

/// [`leaf_hash`] given the SHA-256 of the commit evidence instead of the evidence itself
/// ([`CommitEvidence::digest`]).
pub(crate) fn leaf_hash_of_digests(
    write_set_digest: &Digest,
    commit_evidence_digest: &Digest,
    claims_digest: &Digest,
) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update(write_set_digest);
    hasher.update(commit_evidence_digest);
    hasher.update(claims_digest);
    hasher.finalize().into()
}

/// The three values a receipt reveals so that a verifier can recompute a transaction's leaf.
///
/// Serialized (JSON) exactly as in a CCF receipt's `leaf_components`: the digests as 64
/// lowercase hex characters, the evidence as its string. Read with the keys in snake_case or
/// camelCase (`writeSetDigest`, `commitEvidence`, `claimsDigest`), as ACL serves them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeafComponents {
    /// SHA-256 of the transaction's canonical entry bytes.
    pub write_set_digest: Digest,
    /// The commit evidence, `ce:{view}.{seqno}:{hex}`.
    pub commit_evidence: String,
    /// The application claims digest ([`NO_CLAIMS`] when there are none).
    pub claims_digest: Digest,
}

impl LeafComponents {
    /// The leaf these components hash to.
    pub fn leaf_hash(&self) -> Digest {
        leaf_hash(
            &self.write_set_digest,
            &self.commit_evidence,
            &self.claims_digest,
        )
    }

    /// The transaction id named by the commit evidence.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "commit evidence"`) if the evidence is not of the
    /// form `ce:{view}.{seqno}:{64 lowercase hex}` with a valid [`TxId`].
    pub fn tx_id(&self) -> Result<TxId> {
        parse_commit_evidence(&self.commit_evidence)
    }
}

/// Checks that `evidence` has the form `ce:{view}.{seqno}:{64 lowercase hex}` and returns the
/// transaction id it names.
///
/// # Errors
///
/// [`Error::InvalidInput`] with `what = "commit evidence"`: [`Problem::TooLarge`] over
/// `MAX_COMMIT_EVIDENCE_LEN` bytes, else [`Problem::Malformed`] naming the rule that was
/// broken.
pub fn parse_commit_evidence(evidence: &str) -> Result<TxId> {
    let invalid = |why: &str| {
        Error::malformed(
            "commit evidence",
            excerpt(evidence),
            format_args!("must be `ce:{{view}}.{{seqno}}:{{64 lowercase hex}}`: {why}"),
        )
    };
    if evidence.len() > MAX_COMMIT_EVIDENCE_LEN {
        return Err(Error::too_large(
            "commit evidence",
            evidence.len(),
            MAX_COMMIT_EVIDENCE_LEN,
        ));
    }
    let rest = evidence
        .strip_prefix("ce:")
        .ok_or_else(|| invalid("missing `ce:` prefix"))?;
    let (txid, nonce) = rest
        .split_once(':')
        .ok_or_else(|| invalid("missing `:` before the nonce"))?;
    if !is_lower_hex(nonce, 64) {
        return Err(invalid("the nonce is not 64 lowercase hex characters"));
    }
    let id: TxId = txid.parse().map_err(|e: crate::TxIdError| {
        invalid(&format!("malformed transaction id: {}", e.reason))
    })?;
    // Reject spellings that the engine never produces (leading zeros), so that one
    // transaction has exactly one evidence string.
    if id.to_string() != txid {
        return Err(invalid("the transaction id is not in canonical form"));
    }
    Ok(id)
}

/// True if `s` is exactly `len` lowercase hex characters.
pub(crate) fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Parses exactly 64 lowercase hex characters into a digest.
pub(crate) fn parse_digest_hex(s: &str) -> Option<Digest> {
    if !is_lower_hex(s, 64) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Lowercase hex of a digest, in a stack buffer.
pub(crate) fn digest_hex(digest: &Digest) -> HexDigest {
    let mut buf = [0u8; 64];
    write_hex(digest, &mut buf);
    HexDigest(buf)
}

/// 64 lowercase hex characters on the stack.
pub(crate) struct HexDigest([u8; 64]);

impl HexDigest {
    pub(crate) fn as_str(&self) -> &str {
        // Only characters of HEX_DIGITS are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LeafComponentsWire<'a> {
    #[serde(alias = "writeSetDigest")]
    write_set_digest: std::borrow::Cow<'a, str>,
    #[serde(alias = "commitEvidence")]
    commit_evidence: std::borrow::Cow<'a, str>,
    #[serde(alias = "claimsDigest")]
    claims_digest: std::borrow::Cow<'a, str>,
}

impl Serialize for LeafComponents {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("LeafComponents", 3)?;
        s.serialize_field(
            "write_set_digest",
            digest_hex(&self.write_set_digest).as_str(),
        )?;
        s.serialize_field("commit_evidence", &self.commit_evidence)?;
        s.serialize_field("claims_digest", digest_hex(&self.claims_digest).as_str())?;
        s.end()
    }
}

impl<'de> Deserialize<'de> for LeafComponents {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let wire = LeafComponentsWire::deserialize(deserializer)?;
        LeafComponents::try_from_wire(wire).map_err(serde::de::Error::custom)
    }
}

impl LeafComponents {
    fn try_from_wire(wire: LeafComponentsWire<'_>) -> Result<Self> {
        let write_set_digest = parse_digest_hex(&wire.write_set_digest).ok_or_else(|| {
            Error::malformed(
                "write set digest",
                excerpt(&wire.write_set_digest),
                "must be 64 lowercase hex characters",
            )
        })?;
        let claims_digest = parse_digest_hex(&wire.claims_digest).ok_or_else(|| {
            Error::malformed(
                "claims digest",
                excerpt(&wire.claims_digest),
                "must be 64 lowercase hex characters",
            )
        })?;
        parse_commit_evidence(&wire.commit_evidence)?;
        Ok(Self {
            write_set_digest,
            commit_evidence: wire.commit_evidence.into_owned(),
            claims_digest,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn reference_evidence(secret: &[u8; 32], view: u64, seqno: u64) -> String {
        let mut mac = <HmacSha256 as hmac::digest::KeyInit>::new_from_slice(secret).unwrap();
        mac.update(format!("{view}.{seqno}").as_bytes());
        format!(
            "ce:{view}.{seqno}:{}",
            hex::encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn evidence_matches_a_straightforward_implementation() {
        let key = [7u8; 32];
        let secret = CommitSecret::from_bytes(key);
        for (view, seqno) in [
            (1, 1),
            (2, 15),
            (9, 10),
            (10, 9),
            (123_456, 7_890_123),
            (u64::MAX, u64::MAX),
            (1, u64::MAX),
        ] {
            let expected = reference_evidence(&key, view, seqno);
            assert_eq!(secret.commit_evidence(view, seqno), expected);
            assert_eq!(secret.evidence(view, seqno).as_str(), expected);
            assert!(expected.len() <= MAX_COMMIT_EVIDENCE_LEN);
        }
        assert_eq!(
            secret.commit_evidence(u64::MAX, u64::MAX).len(),
            MAX_COMMIT_EVIDENCE_LEN
        );
    }

    #[test]
    fn nonce_known_answer() {
        // HMAC-SHA256 with key = 32 bytes 0x00..0x1f over "2.15", computed independently
        // with Python's hmac module.
        let key: [u8; 32] = core::array::from_fn(|i| i as u8);
        let secret = CommitSecret::from_bytes(key);
        assert_eq!(
            hex::encode(secret.nonce(2, 15)),
            "35e0212ece28c9b6a71972763f7d7bdc1fb0045e1119a236d3119c21f07134cf"
        );
    }

    #[test]
    fn leaf_hash_matches_definition() {
        let wsd = [1u8; 32];
        let claims = [2u8; 32];
        let ce = "ce:2.15:00";
        let mut pre = Vec::new();
        pre.extend_from_slice(&wsd);
        pre.extend_from_slice(&Sha256::digest(ce.as_bytes()));
        pre.extend_from_slice(&claims);
        let expected: Digest = Sha256::digest(&pre).into();
        assert_eq!(leaf_hash(&wsd, ce, &claims), expected);
        let lc = LeafComponents {
            write_set_digest: wsd,
            commit_evidence: ce.into(),
            claims_digest: claims,
        };
        assert_eq!(lc.leaf_hash(), expected);

        let secret = CommitSecret::from_bytes([9u8; 32]);
        let ev = secret.commit_evidence(3, 4);
        assert_eq!(
            secret.leaf_hash(3, 4, &wsd, &claims),
            leaf_hash(&wsd, &ev, &claims)
        );
        assert_eq!(
            secret.evidence(3, 4).digest(),
            <[u8; 32]>::from(Sha256::digest(ev.as_bytes()))
        );
    }

    #[test]
    fn debug_does_not_reveal_the_secret() {
        let secret = CommitSecret::from_bytes([0xab; 32]);
        let shown = format!("{secret:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn secrets_round_trip_and_differ() {
        let a = CommitSecret::generate().unwrap();
        let b = CommitSecret::generate().unwrap();
        assert_ne!(*a.to_bytes(), *b.to_bytes());
        let a2 = CommitSecret::from_slice(a.to_bytes().as_ref()).unwrap();
        assert_eq!(a.commit_evidence(1, 2), a2.commit_evidence(1, 2));
        assert_ne!(a.commit_evidence(1, 2), b.commit_evidence(1, 2));
        assert!(matches!(
            CommitSecret::from_slice(&[0u8; 31]),
            Err(Error::InvalidInput {
                what: "commit secret",
                problem: Problem::TooSmall {
                    size: 31,
                    minimum: 32
                }
            })
        ));
        assert!(matches!(
            CommitSecret::from_slice(&[0u8; 33]),
            Err(Error::InvalidInput {
                what: "commit secret",
                problem: Problem::TooLarge {
                    size: 33,
                    limit: 32
                }
            })
        ));
    }

    #[test]
    fn commit_evidence_parsing_is_strict() {
        let secret = CommitSecret::from_bytes([5u8; 32]);
        let ev = secret.commit_evidence(2, 15);
        assert_eq!(
            parse_commit_evidence(&ev).unwrap(),
            TxId::new(2, 15).unwrap()
        );
        let nonce = &ev["ce:2.15:".len()..];
        for bad in [
            String::new(),
            "ce:".into(),
            format!("ce:2.15{nonce}"),
            format!("ce:02.15:{nonce}"),
            format!("ce:0.15:{nonce}"),
            format!("ce:2.15:{}", nonce.to_uppercase()),
            format!("ce:2.15:{}", &nonce[1..]),
            format!("CE:2.15:{nonce}"),
            format!("ce:2.15:{nonce}0"),
            format!("ce:2..15:{nonce}"),
            format!("ce:2.15:{nonce}\n"),
        ] {
            assert!(
                matches!(
                    parse_commit_evidence(&bad),
                    Err(Error::InvalidInput {
                        what: "commit evidence",
                        problem: Problem::Malformed { .. } | Problem::TooLarge { .. }
                    })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn leaf_components_serde_round_trip() {
        let secret = CommitSecret::from_bytes([5u8; 32]);
        let lc = LeafComponents {
            write_set_digest: [0xa5; 32],
            commit_evidence: secret.commit_evidence(7, 8),
            claims_digest: NO_CLAIMS,
        };
        let json = serde_json::to_string(&lc).unwrap();
        assert_eq!(
            json,
            format!(
                "{{\"write_set_digest\":\"{}\",\"commit_evidence\":\"{}\",\"claims_digest\":\"{}\"}}",
                "a5".repeat(32),
                lc.commit_evidence,
                "00".repeat(32)
            )
        );
        let back: LeafComponents = serde_json::from_str(&json).unwrap();
        assert_eq!(back, lc);
        assert_eq!(back.tx_id().unwrap(), TxId::new(7, 8).unwrap());
        let upper = json.replace(&"a5".repeat(32), &"A5".repeat(32));
        assert!(serde_json::from_str::<LeafComponents>(&upper).is_err());
        let extra = json.replace('}', ",\"x\":1}");
        assert!(serde_json::from_str::<LeafComponents>(&extra).is_err());
    }
}
