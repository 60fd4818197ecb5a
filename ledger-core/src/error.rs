//! The one error type of `ledger-core`.
//!
//! It sits at the bottom of the crate: it names [`TxId`], [`TxStatus`] and [`Refusal`],
//! which live beside it, and the error types of `ledger-store` and `ledger-merkle` below it,
//! and nothing else of this crate.
//!
//! Every variant carries structured fields, so a caller matches on what went wrong instead of
//! parsing a message:
//!
//! * [`Error::InvalidInput`] names *what* input was refused and the [`Problem`] with it (the
//!   limit and the offending size, the reserved name, the malformed value);
//! * [`Error::Corruption`] is the one path for stored bytes that do not check out, whether
//!   the engine or the store found them: a store's own corruption report converts into it
//!   (see the `From<StoreError>` impl), so [`Error::is_corruption`] is one match;
//! * [`Error::Poisoned`] likewise covers a poisoned store and a stopped pipeline.

use std::fmt;

use ledger_merkle::MerkleError;
use ledger_store::StoreError;

use crate::refusal::{Refusal, StatementRefusal};
use crate::txid::{TxId, TxIdError, TxStatus};

/// Everything that can go wrong in a ledger call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller supplied something the ledger refuses: a malformed id, a name or size over
    /// a limit, a write to a reserved table, an invalid setting.
    #[error("invalid {what}: {problem}")]
    InvalidInput {
        /// What was refused, e.g. `"collection name"`, `"transaction id"`, `"max_tx_size"`.
        what: &'static str,
        /// What is wrong with it.
        problem: Problem,
    },
    /// A collection entry, table key, proposal or transaction the caller asked for does not
    /// exist.
    #[error("not found: {what} {key}")]
    NotFound {
        /// The kind of thing looked up, e.g. `"transaction"`, `"proposal"`.
        what: &'static str,
        /// The id or key asked for, as text.
        key: String,
    },
    /// A cryptographic operation failed (key generation, signing, certificate building or
    /// parsing, signature verification).
    #[error("cryptography: {operation}: {detail}")]
    Crypto {
        /// The operation, e.g. `"signing a root"`, `"parsing the node certificate"`.
        operation: &'static str,
        /// The underlying library's report.
        detail: String,
    },
    /// A receipt failed verification.
    #[error("receipt verification failed: {check}: {detail}")]
    ReceiptInvalid {
        /// The check that failed, e.g. `"signature"`, `"certificate chain"`, `"proof"`.
        check: &'static str,
        /// What exactly did not hold.
        detail: String,
        /// For a certificate path that broke a rule (check `"certificate chain"`): which
        /// certificate, and which rule. `None` for every other check.
        rejected: Option<RejectedCertificate>,
    },
    /// Stored bytes did not decode, did not match their recorded digest, or contradict the
    /// engine's invariants. Reported alike whether the engine or the store noticed.
    #[error("corruption in {what}{}{}: {detail}", tx.map(|t| format!(" at {t}")).unwrap_or_default(), table.as_ref().map(|t| format!(" (table {t})")).unwrap_or_default())]
    Corruption {
        /// The damaged thing, e.g. `"entry"`, `"metadata core.views"`, `"rocksdb"`.
        what: String,
        /// The transaction it belongs to, where known.
        tx: Option<TxId>,
        /// The table it belongs to, where known.
        table: Option<String>,
        /// What did not check out.
        detail: String,
    },
    /// The transaction is not (yet) committed, so it has no receipt.
    #[error("transaction {tx} is not committed (status {status:?})")]
    NotCommitted {
        /// The transaction asked about.
        tx: TxId,
        /// Its status at the time of the call.
        status: TxStatus,
    },
    /// The transaction is committed, but the signature transaction covering it was written in
    /// [`crate::SigningMode::CoseOnly`] and carries no node signature, so it has a COSE
    /// receipt ([`crate::Ledger::cose_receipt`]) and no JSON one.
    #[error(
        "transaction {tx} has no JSON receipt: signature transaction {signed_at} that covers it \
         was signed in COSE-only mode; ask for its COSE receipt"
    )]
    NoJsonReceipt {
        /// The transaction asked about.
        tx: TxId,
        /// The signature transaction that covers it.
        signed_at: TxId,
    },
    /// An earlier failure stopped the ledger (or its store); reopen it to recover to the last
    /// durable state.
    #[error("ledger is poisoned by an earlier failure in {stage}: {cause}")]
    Poisoned {
        /// Where the failure happened: `"write"`, `"sync"`, `"sign"`, `"committer"`,
        /// `"writer"`, `"syncer"` or `"store"`.
        stage: &'static str,
        /// The original failure.
        cause: String,
    },
    /// The operating system refused a resource the engine needs (a thread, a file).
    #[error("{operation} failed: {source}")]
    Io {
        /// What the engine was doing, e.g. `"starting the writer thread"`.
        operation: &'static str,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The ledger is closing or closed.
    #[error("ledger is closed")]
    Closed,
    /// The caller may not do this: a user session whose role does not permit the operation,
    /// or a governance request the ledger refuses (bad signature, replay, wrong ledger,
    /// inactive member, ...). `reason` says exactly which rule refused it.
    #[error("forbidden: {principal} may not {operation}: {reason}")]
    Forbidden {
        /// Who asked: `user <id>`, `member <id>` or `program`.
        principal: String,
        /// What was asked, e.g. `append to "audit"` or `ballot`.
        operation: String,
        /// The rule that refused it.
        reason: Refusal,
    },
    /// A signed statement submitted for registration (SCITT) was refused: `refusal` says by
    /// which rule.
    #[error("statement refused: {refusal}")]
    StatementRefused {
        /// The rule that refused it.
        refusal: StatementRefusal,
    },
    /// A write was sent to a replicated ledger that is not the primary (see
    /// [`crate::Role::Backup`]).
    #[error("not the primary{}", primary.as_ref().map(|p| format!(": the primary is {p}")).unwrap_or_default())]
    NotPrimary {
        /// The primary, where the layer that knows it (consensus) names it.
        primary: Option<String>,
    },
    /// A backup refused a replicated group (or a primary one that is not the group it
    /// proposed next): nothing of it was applied.
    #[error("replicated group refused at seqno {seqno}: expected {reason}")]
    GroupRejected {
        /// The seqno of the entry that failed a check (the group's first for a group-wide
        /// check; 0 for an empty group).
        seqno: u64,
        /// What was expected there instead.
        reason: String,
    },
    /// The storage layer failed (other than by corruption or poisoning, which convert to
    /// [`Error::Corruption`] and [`Error::Poisoned`]).
    #[error(transparent)]
    Store(StoreError),
    /// The Merkle layer refused a proof or a tree operation.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
}

/// A certificate of a receipt's path that broke a rule: carried by [`Error::ReceiptInvalid`]
/// (see [`Error::rejected_certificate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedCertificate {
    /// Which certificate of the path.
    pub certificate: CertificateRole,
    /// The rule it broke.
    pub rule: CertificateRule,
}

/// The place of a certificate in a receipt's path: the node certificate, then the service
/// endorsements (nearest the node first), then the trusted service certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateRole {
    /// The receipt's node certificate (the end entity whose key signed the root).
    Node,
    /// The service endorsement at this index of `service_endorsements`.
    Endorsement(usize),
    /// The service certificate the verifier trusts.
    Service,
}

impl fmt::Display for CertificateRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateRole::Node => f.write_str("node certificate"),
            CertificateRole::Endorsement(i) => write!(f, "service endorsement {i}"),
            CertificateRole::Service => f.write_str("service certificate"),
        }
    }
}

/// The certificate-path rule (RFC 5280, for what receipts use) that a certificate broke.
/// See the `receipt` module documentation (`# Certificate paths`) for where each applies.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateRule {
    /// It signs another certificate of the path but is not a CA: basicConstraints is
    /// absent or says `CA:FALSE`.
    NotACa,
    /// It signs another certificate of the path but its keyUsage lacks `keyCertSign`.
    NoKeyCertSign,
    /// Its basicConstraints `pathLenConstraint` allows fewer intermediate CA certificates
    /// below it than the path has.
    PathLengthExceeded {
        /// Its `pathLenConstraint`.
        limit: u8,
        /// Intermediate CA certificates below it that count (not self-issued).
        intermediates: usize,
    },
    /// It carries a critical extension this verifier does not process.
    UnknownCriticalExtension {
        /// The extension's OID, dotted.
        oid: String,
    },
    /// It carries the same extension more than once (RFC 5280 section 4.2).
    DuplicateExtension {
        /// The extension's OID, dotted.
        oid: String,
    },
    /// An extension this verifier processes does not decode.
    MalformedExtension {
        /// The extension's OID, dotted.
        oid: String,
    },
    /// The node certificate's keyUsage lacks `digitalSignature`, so its key may not sign
    /// roots.
    NoDigitalSignature,
    /// The verification time is after its `notAfter`.
    Expired,
    /// The verification time is before its `notBefore`.
    NotYetValid,
    /// Its issuer name is not the subject of the next certificate of the path.
    IssuerMismatch,
    /// Its signature algorithm is not one receipts use: ecdsa-with-SHA256, -SHA384 or
    /// -SHA512 (on a P-256 or P-384 issuer key).
    UnsupportedAlgorithm,
    /// Its signature does not verify with the next certificate's key.
    BadSignature,
}

impl fmt::Display for CertificateRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateRule::NotACa => f.write_str("not a CA"),
            CertificateRule::NoKeyCertSign => f.write_str("key usage lacks keyCertSign"),
            CertificateRule::PathLengthExceeded {
                limit,
                intermediates,
            } => write!(
                f,
                "path length constraint {limit} exceeded by {intermediates} intermediate CA \
                 certificates"
            ),
            CertificateRule::UnknownCriticalExtension { oid } => {
                write!(f, "unknown critical extension {oid}")
            }
            CertificateRule::DuplicateExtension { oid } => {
                write!(f, "extension {oid} appears more than once")
            }
            CertificateRule::MalformedExtension { oid } => {
                write!(f, "extension {oid} does not decode")
            }
            CertificateRule::NoDigitalSignature => f.write_str("key usage lacks digitalSignature"),
            CertificateRule::Expired => f.write_str("expired"),
            CertificateRule::NotYetValid => f.write_str("not valid yet"),
            CertificateRule::IssuerMismatch => f.write_str("issuer name mismatch"),
            CertificateRule::UnsupportedAlgorithm => f.write_str("unsupported signature algorithm"),
            CertificateRule::BadSignature => f.write_str("bad signature"),
        }
    }
}

/// What is wrong with an input refused by [`Error::InvalidInput`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// It is empty and must not be.
    Empty,
    /// It is longer or larger than allowed (bytes, elements or a number, as `what` says).
    TooLarge {
        /// Its size or value.
        size: u64,
        /// The largest allowed.
        limit: u64,
    },
    /// It is smaller than allowed.
    TooSmall {
        /// Its size or value.
        size: u64,
        /// The smallest allowed.
        minimum: u64,
    },
    /// It names something reserved for the engine or for governance.
    Reserved {
        /// The reserved name.
        name: String,
    },
    /// It repeats something that may appear once.
    Duplicate {
        /// The repeated value.
        value: String,
    },
    /// It does not parse or does not have the required form.
    Malformed {
        /// The offending value (shortened when long).
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// It is well formed but is not the one required.
    Mismatch {
        /// What was required.
        expected: String,
        /// What was given.
        found: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("must not be empty"),
            Problem::TooLarge { size, limit } => write!(f, "{size} is over the limit of {limit}"),
            Problem::TooSmall { size, minimum } => {
                write!(f, "{size} is under the minimum of {minimum}")
            }
            Problem::Reserved { name } => write!(f, "{name:?} is reserved"),
            Problem::Duplicate { value } => write!(f, "{value:?} appears more than once"),
            Problem::Malformed { value, reason } => write!(f, "{value:?}: {reason}"),
            Problem::Mismatch { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
        }
    }
}

impl Error {
    /// An [`Error::InvalidInput`].
    pub(crate) fn invalid(what: &'static str, problem: Problem) -> Self {
        Error::InvalidInput { what, problem }
    }

    /// An [`Error::InvalidInput`] for a malformed `value`.
    pub(crate) fn malformed(
        what: &'static str,
        value: impl Into<String>,
        reason: impl fmt::Display,
    ) -> Self {
        Error::invalid(
            what,
            Problem::Malformed {
                value: value.into(),
                reason: reason.to_string(),
            },
        )
    }

    /// An [`Error::InvalidInput`] for a value over `limit`.
    pub(crate) fn too_large(
        what: &'static str,
        size: impl TryInto<u64>,
        limit: impl TryInto<u64>,
    ) -> Self {
        Error::invalid(
            what,
            Problem::TooLarge {
                size: size.try_into().unwrap_or(u64::MAX),
                limit: limit.try_into().unwrap_or(u64::MAX),
            },
        )
    }

    /// An [`Error::NotFound`].
    pub(crate) fn not_found(what: &'static str, key: impl fmt::Display) -> Self {
        Error::NotFound {
            what,
            key: key.to_string(),
        }
    }

    /// An [`Error::Crypto`].
    pub(crate) fn crypto(operation: &'static str, detail: impl fmt::Display) -> Self {
        Error::Crypto {
            operation,
            detail: detail.to_string(),
        }
    }

    /// An [`Error::ReceiptInvalid`].
    pub(crate) fn receipt(check: &'static str, detail: impl fmt::Display) -> Self {
        Error::ReceiptInvalid {
            check,
            detail: detail.to_string(),
            rejected: None,
        }
    }

    /// An [`Error::ReceiptInvalid`] (check `"certificate chain"`) for `certificate`, which
    /// broke `rule`; the detail starts with the certificate's role.
    pub(crate) fn certificate_rejected(
        certificate: CertificateRole,
        rule: CertificateRule,
        detail: impl fmt::Display,
    ) -> Self {
        Error::ReceiptInvalid {
            check: "certificate chain",
            detail: format!("{certificate}: {rule}: {detail}"),
            rejected: Some(RejectedCertificate { certificate, rule }),
        }
    }

    /// An [`Error::Corruption`] of `what`, at no known transaction or table (add them with
    /// [`Error::at_tx`] and [`Error::in_table`]).
    pub(crate) fn corruption(what: impl Into<String>, detail: impl fmt::Display) -> Self {
        Error::Corruption {
            what: what.into(),
            tx: None,
            table: None,
            detail: detail.to_string(),
        }
    }

    /// Names the transaction of an [`Error::Corruption`] that has none yet; other errors are
    /// returned unchanged.
    pub(crate) fn at_tx(mut self, at: TxId) -> Self {
        if let Error::Corruption { tx, .. } = &mut self {
            tx.get_or_insert(at);
        }
        self
    }

    /// Names the table of an [`Error::Corruption`] that has none yet; other errors are
    /// returned unchanged.
    pub(crate) fn in_table(mut self, name: &str) -> Self {
        if let Error::Corruption { table, .. } = &mut self {
            table.get_or_insert_with(|| name.to_owned());
        }
        self
    }

    /// Whether stored bytes were found damaged ([`Error::Corruption`]), by the engine or by
    /// the store.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// Whether the call was refused for its input ([`Error::InvalidInput`]).
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Error::InvalidInput { .. })
    }

    /// Whether the thing asked for does not exist ([`Error::NotFound`]).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether an earlier failure stopped the ledger ([`Error::Poisoned`]); reopen it.
    pub fn is_poisoned(&self) -> bool {
        matches!(self, Error::Poisoned { .. })
    }

    /// The certificate of a receipt's path that broke a rule, and the rule, for an
    /// [`Error::ReceiptInvalid`] from the certificate chain check.
    pub fn rejected_certificate(&self) -> Option<&RejectedCertificate> {
        match self {
            Error::ReceiptInvalid { rejected, .. } => rejected.as_ref(),
            _ => None,
        }
    }

    /// The rule that refused a signed statement, for an [`Error::StatementRefused`].
    pub fn statement_refusal(&self) -> Option<&StatementRefusal> {
        match self {
            Error::StatementRefused { refusal } => Some(refusal),
            _ => None,
        }
    }

    /// The rule that refused the call, for an [`Error::Forbidden`].
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Forbidden { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl From<StoreError> for Error {
    /// Corruption and poisoning reported by the store become [`Error::Corruption`] and
    /// [`Error::Poisoned`], so each has one path; everything else is [`Error::Store`].
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Corruption { what, detail } => Error::Corruption {
                what,
                tx: None,
                table: None,
                detail,
            },
            StoreError::Poisoned { cause } => Error::Poisoned {
                stage: "store",
                cause,
            },
            other => Error::Store(other),
        }
    }
}

impl From<TxIdError> for Error {
    fn from(e: TxIdError) -> Self {
        Error::malformed("transaction id", e.text, e.reason)
    }
}

/// At most the first 64 characters of `text`, with `…` appended when cut: the offending
/// value of a [`Problem::Malformed`] or [`Problem::Reserved`] taken from untrusted input.
pub(crate) fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(64).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_corruption_and_poison_take_the_engines_paths() {
        let corrupt = Error::from(StoreError::Corruption {
            what: "entry 7".into(),
            detail: "digest mismatch".into(),
        });
        assert!(corrupt.is_corruption());
        assert!(
            matches!(&corrupt, Error::Corruption { what, detail, tx: None, table: None }
            if what == "entry 7" && detail == "digest mismatch")
        );
        let poisoned = Error::from(StoreError::Poisoned {
            cause: "sync failed".into(),
        });
        assert!(poisoned.is_poisoned());
        assert!(!Error::from(StoreError::ReadOnly).is_corruption());
    }

    #[test]
    fn corruption_names_its_transaction_and_table_once() {
        let tx = TxId::new(2, 9).expect("valid id");
        let other = TxId::new(3, 1).expect("valid id");
        let e = Error::corruption("table value", "does not decode")
            .at_tx(tx)
            .at_tx(other)
            .in_table("gov.members");
        assert!(
            matches!(&e, Error::Corruption { tx: Some(t), table: Some(name), .. }
            if *t == tx && name == "gov.members")
        );
        assert_eq!(
            e.to_string(),
            "corruption in table value at 2.9 (table gov.members): does not decode"
        );
        // Only corruption takes a location.
        assert!(matches!(Error::Closed.at_tx(tx), Error::Closed));
    }

    #[test]
    fn invalid_input_reads_as_a_sentence() {
        let e = Error::too_large("entry contents", 2048usize, 1024usize);
        assert_eq!(
            e.to_string(),
            "invalid entry contents: 2048 is over the limit of 1024"
        );
        assert!(e.is_invalid_input());
        let e = Error::invalid(
            "collection name",
            Problem::Reserved {
                name: "gov.x".into(),
            },
        );
        assert_eq!(
            e.to_string(),
            "invalid collection name: \"gov.x\" is reserved"
        );
    }
}
