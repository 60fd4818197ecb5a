//! Signed governance requests: acknowledgements, proposals, ballots and withdrawals.
//!
//! Every request a member makes is a JSON *payload* signed with the member's key. The payload
//! binds the ledger (its service id, and its instance: ledger id and epoch), the member, a
//! per-member counter and the request itself, so a request cannot be replayed (the counter),
//! sent to another ledger (the service id, and the ledger id for ledgers that share a service
//! identity), replayed onto a copy restored from a backup (the epoch), applied to another
//! proposal (the proposal id inside a ballot or withdrawal), used as another kind of request
//! (the kind tag in the signed bytes) or altered (the signature). The ledger records every
//! request it accepts, in `gov.history`, so anyone can re-check it.
//!
//! # Format
//!
//! A [`SignedRequest`] is the JSON object
//!
//! ```json
//! {"payload": "<the payload, JSON text>", "signature": "<standard base64>"}
//! ```
//!
//! The payload ([`RequestPayload`]) is JSON text, kept as the exact string that was signed,
//! so no canonicalization is needed to verify it; it must parse strictly (no unknown or
//! duplicate fields) and be at most [`MAX_REQUEST_PAYLOAD`] bytes:
//!
//! ```json
//! {"version": 2,
//!  "service_id": "<hex SHA-256 of the service certificate DER>",
//!  "ledger_id": "<32 hex digits>",
//!  "epoch": 3,
//!  "member_id": "<hex member id>",
//!  "counter": 7,
//!  "request": {"ballot": {"proposal_id": "<hex>", "vote": "approve"}}}
//! ```
//!
//! `ledger_id` and `epoch` name the ledger instance the request is for
//! ([`crate::LedgerInstance`], from [`super::Governance::instance`]): the ledger refuses a
//! request that names another instance than the one in force ([`super::Refusal::WrongInstance`]).
//! Two ledgers created with the same service identity have different ledger ids; a ledger
//! restored from a backup has the same ledger id and a higher epoch, so members sign again
//! after a restore, and requests signed for the original (before or after the backup was
//! taken) are refused by the restored copy, and the other way round.
//!
//! Version 1, written by older code, is the same object without `ledger_id` and `epoch`. A
//! ledger accepts it only while it records no instance (a history written by older code,
//! which therefore still audits clean); once the instance record exists, version-1 requests
//! are refused ([`super::Refusal::WrongInstance`]). In version 1 the two fields must be absent, in
//! version 2 present (never `null`).
//!
//! `request` is exactly one of
//!
//! | kind | body |
//! | --- | --- |
//! | `ack` | `{"seqno": s, "root": "<hex>"}`: the root signed by the signature transaction at seqno `s`, which must come after the member's admission (normally the newest, from [`super::Governance::state_digest`]) |
//! | `proposal` | `{"actions": [<action>, ...]}` (see [`super::Action`]) |
//! | `ballot` | `{"proposal_id": "<hex>", "vote": "approve" \| "reject"}` |
//! | `withdrawal` | `{"proposal_id": "<hex>"}` |
//!
//! The signed *message* is
//!
//! ```text
//! "ledger-governance-request-v1" 0x00 <kind, ASCII> 0x00 <payload bytes>
//! ```
//!
//! for both payload versions (the payload's own `version` is among the signed bytes),
//! signed as [`super::keys`] describes (Ed25519, or ECDSA P-256/SHA-256 DER). The
//! request's *digest* is SHA-256 of the message; a proposal's id is the lowercase hex of its
//! request's digest.
//!
//! The counter must be greater than the counter of every request the ledger accepted before
//! from that member (counters may skip; [`super::Governance::next_counter`] gives the next
//! one). Refused requests are not recorded and consume nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::codec::{self, b64, hex32};
use super::keys::MemberKey;
use super::proposals::{Action, Vote};
use crate::refusal::RequestKind;
use crate::state::LedgerInstance;
use crate::{Error, Problem, TxId};

/// Version written into every payload: it names the ledger instance.
pub(crate) const REQUEST_FORMAT_VERSION: u32 = 2;
/// Version of the payloads of older code, which name no ledger instance.
pub(crate) const LEGACY_REQUEST_FORMAT_VERSION: u32 = 1;
/// Largest payload accepted, in bytes.
pub(crate) const MAX_REQUEST_PAYLOAD: usize = 1 << 20;
/// Domain-separation prefix of every signed message.
pub(crate) const SIGNING_DOMAIN: &[u8] = b"ledger-governance-request-v1";

/// The request inside a payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Acknowledge the root signed at `seqno`.
    Ack {
        /// Seqno of a signature transaction.
        seqno: u64,
        /// The root it signed.
        #[serde(with = "hex32")]
        root: [u8; 32],
    },
    /// Propose `actions`, to be applied together if the proposal is accepted.
    Proposal {
        /// The actions, applied in order.
        actions: Vec<Action>,
    },
    /// Vote on a proposal.
    Ballot {
        /// The proposal voted on.
        proposal_id: String,
        /// The vote.
        vote: Vote,
    },
    /// Withdraw one's own open proposal.
    Withdrawal {
        /// The proposal withdrawn.
        proposal_id: String,
    },
}

impl Request {
    /// The request's kind.
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Ack { .. } => RequestKind::Ack,
            Request::Proposal { .. } => RequestKind::Proposal,
            Request::Ballot { .. } => RequestKind::Ballot,
            Request::Withdrawal { .. } => RequestKind::Withdrawal,
        }
    }

    /// The proposal a ballot or withdrawal targets.
    pub fn proposal_id(&self) -> Option<&str> {
        match self {
            Request::Ballot { proposal_id, .. } | Request::Withdrawal { proposal_id } => {
                Some(proposal_id)
            }
            _ => None,
        }
    }
}

/// What a member signs (see the module's `# Format`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestPayload {
    /// 2 (written by [`RequestPayload::new`]); 1 for a request of older code, which names no
    /// ledger instance.
    pub version: u32,
    /// The ledger this request is for: hex SHA-256 of its service certificate (DER).
    pub service_id: String,
    /// The id of the ledger instance the request is for (version 2; absent in version 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub ledger_id: Option<String>,
    /// The epoch of that instance (version 2; absent in version 1).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub epoch: Option<u64>,
    /// The member making the request.
    pub member_id: String,
    /// Greater than every counter of this member's earlier accepted requests.
    pub counter: u64,
    /// The request.
    pub request: Request,
}

/// An optional field that, when present, holds a value: `null` is refused.
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl RequestPayload {
    /// A version-2 payload for the ledger whose service id is `service_id` and whose
    /// instance in force is `instance`.
    pub fn new(
        service_id: &str,
        instance: &LedgerInstance,
        member_id: &str,
        counter: u64,
        request: Request,
    ) -> Self {
        Self {
            version: REQUEST_FORMAT_VERSION,
            service_id: service_id.to_owned(),
            ledger_id: Some(instance.ledger_id.clone()),
            epoch: Some(instance.epoch),
            member_id: member_id.to_owned(),
            counter,
            request,
        }
    }

    /// The ledger instance the payload names (`None` for version 1).
    pub fn instance(&self) -> Option<LedgerInstance> {
        match (&self.ledger_id, self.epoch) {
            (Some(ledger_id), Some(epoch)) => Some(LedgerInstance {
                ledger_id: ledger_id.clone(),
                epoch,
            }),
            _ => None,
        }
    }

    /// The payload as JSON text (the bytes that get signed).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "request payload"`) if it does not serialize.
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| {
            Error::malformed(
                "request payload",
                format!("{} request", self.request.kind().as_str()),
                format_args!("does not serialize: {e}"),
            )
        })
    }
}

/// The bytes a member signs for a payload of `kind` (see the module's `# Format`).
pub(crate) fn signing_message(kind: RequestKind, payload: &str) -> Vec<u8> {
    let mut message =
        Vec::with_capacity(SIGNING_DOMAIN.len() + payload.len() + kind.as_str().len() + 2);
    message.extend_from_slice(SIGNING_DOMAIN);
    message.push(0);
    message.extend_from_slice(kind.as_str().as_bytes());
    message.push(0);
    message.extend_from_slice(payload.as_bytes());
    message
}

/// A payload and a member's signature over it (see the module's `# Format`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    /// The payload, JSON text, exactly as signed.
    pub payload: String,
    /// The signature over `signing_message` of the payload.
    #[serde(with = "b64")]
    pub signature: Vec<u8>,
}

impl SignedRequest {
    /// Signs `payload` with `key`. The key need not be the payload's member's: that is for
    /// the ledger to check.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the payload does not serialize.
    pub fn sign(key: &MemberKey, payload: &RequestPayload) -> Result<Self, Error> {
        let text = payload.to_json()?;
        Ok(Self::sign_text(key, payload.request.kind(), text))
    }

    /// Signs payload text as given, for a request of `kind`.
    pub fn sign_text(key: &MemberKey, kind: RequestKind, payload: String) -> Self {
        let signature = key.sign_message(&signing_message(kind, &payload));
        Self { payload, signature }
    }

    /// Parses the payload strictly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if it is over `MAX_REQUEST_PAYLOAD` (1 MiB) bytes (`what =
    /// "request payload"`, [`Problem::TooLarge`]), is not a well-formed payload
    /// ([`Problem::Malformed`]: this includes a version-2 payload without `ledger_id` and
    /// `epoch`, or with a ledger id that is not 32 lowercase hex digits or an epoch of 0, and
    /// a version-1 payload with either), or has another version than 1 or 2 (`"request
    /// payload version"`, [`Problem::Mismatch`]).
    pub fn parse(&self) -> Result<RequestPayload, Error> {
        if self.payload.len() > MAX_REQUEST_PAYLOAD {
            return Err(Error::too_large(
                "request payload",
                self.payload.len(),
                MAX_REQUEST_PAYLOAD,
            ));
        }
        let payload: RequestPayload = serde_json::from_str(&self.payload)
            .map_err(|e| Error::malformed("request payload", codec::shorten(&self.payload), e))?;
        let malformed =
            |why: &str| Error::malformed("request payload", codec::shorten(&self.payload), why);
        let named = payload.ledger_id.is_some() || payload.epoch.is_some();
        match payload.version {
            REQUEST_FORMAT_VERSION => match payload.instance() {
                Some(instance) => instance
                    .check()
                    .map_err(|e| malformed(&format!("expected {e}")))?,
                None => return Err(malformed("a version-2 payload names ledger_id and epoch")),
            },
            LEGACY_REQUEST_FORMAT_VERSION if named => {
                return Err(malformed("a version-1 payload names no ledger_id or epoch"))
            }
            LEGACY_REQUEST_FORMAT_VERSION => {}
            other => {
                return Err(Error::invalid(
                    "request payload version",
                    Problem::Mismatch {
                        expected: format!(
                            "{REQUEST_FORMAT_VERSION} (or {LEGACY_REQUEST_FORMAT_VERSION})"
                        ),
                        found: other.to_string(),
                    },
                ))
            }
        }
        Ok(payload)
    }

    /// SHA-256 of the signed message, given the payload's kind.
    pub fn digest(&self, kind: RequestKind) -> [u8; 32] {
        Sha256::digest(signing_message(kind, &self.payload)).into()
    }

    /// The request as JSON text (the form `gov.history` records).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (`what = "signed request"`) if it does not serialize.
    pub fn to_json(&self) -> Result<String, Error> {
        serde_json::to_string(self).map_err(|e| {
            Error::malformed(
                "signed request",
                codec::shorten(&self.payload),
                format_args!("does not serialize: {e}"),
            )
        })
    }

    /// Parses a request from its JSON form, strictly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] with `what = "signed request"` if it is over twice
    /// `MAX_REQUEST_PAYLOAD` bytes ([`Problem::TooLarge`]) or is not exactly a signed
    /// request ([`Problem::Malformed`]).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        if text.len() > 2 * MAX_REQUEST_PAYLOAD {
            return Err(Error::too_large(
                "signed request",
                text.len(),
                2 * MAX_REQUEST_PAYLOAD,
            ));
        }
        serde_json::from_str(text)
            .map_err(|e| Error::malformed("signed request", codec::shorten(text), e))
    }
}

/// The root of the newest signature transaction: what a member acknowledges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDigest {
    /// The signature transaction.
    pub tx_id: TxId,
    /// The Merkle root it signed (leaves `0..seqno`).
    #[serde(with = "hex32")]
    pub root: [u8; 32],
}

/// Builds and signs requests for one member, ledger instance and counter. Get one from
/// [`MemberKey::request`] or [`super::Governance::request_for`].
#[derive(Debug)]
pub struct RequestBuilder<'k> {
    key: &'k MemberKey,
    service_id: String,
    instance: LedgerInstance,
    counter: u64,
}

impl<'k> RequestBuilder<'k> {
    pub(crate) fn new(
        key: &'k MemberKey,
        service_id: &str,
        instance: &LedgerInstance,
        counter: u64,
    ) -> Self {
        Self {
            key,
            service_id: service_id.to_owned(),
            instance: instance.clone(),
            counter,
        }
    }

    /// The payload this builder would sign for `request`.
    pub fn payload(&self, request: Request) -> RequestPayload {
        RequestPayload::new(
            &self.service_id,
            &self.instance,
            self.key.member_id(),
            self.counter,
            request,
        )
    }

    /// Signs `request`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if the payload does not serialize.
    pub fn sign(&self, request: Request) -> Result<SignedRequest, Error> {
        SignedRequest::sign(self.key, &self.payload(request))
    }

    /// An acknowledgement of `digest` (from [`super::Governance::state_digest`]).
    ///
    /// # Errors
    ///
    /// As [`RequestBuilder::sign`].
    pub fn ack(&self, digest: &StateDigest) -> Result<SignedRequest, Error> {
        self.sign(Request::Ack {
            seqno: digest.tx_id.seqno(),
            root: digest.root,
        })
    }

    /// A proposal of `actions`.
    ///
    /// # Errors
    ///
    /// As [`RequestBuilder::sign`].
    pub fn propose(&self, actions: Vec<Action>) -> Result<SignedRequest, Error> {
        self.sign(Request::Proposal { actions })
    }

    /// A ballot on `proposal_id`.
    ///
    /// # Errors
    ///
    /// As [`RequestBuilder::sign`].
    pub fn ballot(&self, proposal_id: &str, vote: Vote) -> Result<SignedRequest, Error> {
        self.sign(Request::Ballot {
            proposal_id: proposal_id.to_owned(),
            vote,
        })
    }

    /// A withdrawal of `proposal_id`.
    ///
    /// # Errors
    ///
    /// As [`RequestBuilder::sign`].
    pub fn withdraw(&self, proposal_id: &str) -> Result<SignedRequest, Error> {
        self.sign(Request::Withdrawal {
            proposal_id: proposal_id.to_owned(),
        })
    }
}

/// Checks that `id` looks like a proposal id (64 lowercase hex digits).
pub(crate) fn check_proposal_id(id: &str) -> Result<(), Error> {
    if codec::is_digest_hex(id) {
        Ok(())
    } else {
        Err(Error::malformed(
            "proposal id",
            codec::shorten(id),
            "is not 64 lowercase hex digits",
        ))
    }
}
impl MemberKey {
    /// A builder for requests from this member to the ledger whose service id is
    /// `service_id` and whose instance in force is `instance` (both from the ledger's
    /// [`super::Governance`]), using `counter` (which must exceed every counter this member
    /// used before on that ledger; see [`super::Governance::next_counter`]). After the
    /// ledger is restored from a backup its instance changes: build requests for the new
    /// one.
    pub fn request<'k>(
        &'k self,
        service_id: &str,
        instance: &LedgerInstance,
        counter: u64,
    ) -> RequestBuilder<'k> {
        RequestBuilder::new(self, service_id, instance, counter)
    }
}
