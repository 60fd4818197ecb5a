#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Governance end to end: a three-member consortium from genesis through acks, proposals
//! accepted, rejected, withdrawn and failed, a constitution replacement that changes the
//! threshold, every kind of forged or replayed request, the program's own administration,
//! nodes and code ids, receipts for governance transactions, persistence, and the audit.
//!
//! Keys are derived from fixed seeds, so every run is the same.

use std::num::NonZeroU32;
use std::time::Duration;

use ledger_core::governance::{
    service_id_of, Action, Constitution, Genesis, MemberKey, MemberStatus, Permission,
    ProposalOutcome, ProposalState, Refusal, Request, RequestKind, RequestPayload, RoleDefinition,
    Rule, SignedRequest, Vote, DEFAULT_CONSTITUTION,
};
use ledger_core::{audit_ledger, AuditOptions, AuditReport};
use ledger_core::{Error, Ledger, LedgerConfig, LedgerInstance, Transaction, TxId, TxStatus};

/// The audit of everything recorded so far: governance findings are among its findings and
/// its governance summary counts the requests it replayed.
fn verify_governance(ledger: &Ledger) -> Result<AuditReport, Error> {
    ledger.flush()?;
    audit_ledger(ledger, &AuditOptions::default())
}

const WAIT: Duration = Duration::from_secs(30);
const CODE_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const CODE_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/// Three members: two Ed25519, one P-256, all from fixed seeds.
fn member_keys() -> [MemberKey; 3] {
    [
        MemberKey::ed25519_from_seed([1; 32]),
        MemberKey::ed25519_from_seed([2; 32]),
        MemberKey::p256_from_scalar([3; 32]).unwrap(),
    ]
}

fn genesis(keys: &[MemberKey]) -> Genesis {
    keys.iter()
        .fold(Genesis::new(), |g, k| g.member(k.public_key().clone()))
}

fn consortium() -> (Ledger, [MemberKey; 3]) {
    let keys = member_keys();
    let ledger = Ledger::in_memory_with(LedgerConfig::new("").genesis(genesis(&keys))).unwrap();
    (ledger, keys)
}

fn ack(ledger: &Ledger, key: &MemberKey) -> TxId {
    let gov = ledger.governance();
    let digest = gov.state_digest().unwrap();
    gov.ack(&gov.request_for(key).unwrap().ack(&digest).unwrap())
        .unwrap()
}

fn active_consortium() -> (Ledger, [MemberKey; 3]) {
    let (ledger, keys) = consortium();
    for key in &keys {
        ack(&ledger, key);
    }
    (ledger, keys)
}

fn propose(ledger: &Ledger, key: &MemberKey, actions: Vec<Action>) -> String {
    let gov = ledger.governance();
    let outcome = gov
        .propose(&gov.request_for(key).unwrap().propose(actions).unwrap())
        .unwrap();
    assert_eq!(outcome.state, ProposalState::Open);
    outcome.proposal_id
}

/// Casts `ballots` in order, each followed by the state the proposal must then be in.
fn vote_through(ledger: &Ledger, proposal_id: &str, ballots: &[(&MemberKey, Vote, ProposalState)]) {
    for (i, (key, ballot, state)) in ballots.iter().enumerate() {
        assert_eq!(
            vote(ledger, key, proposal_id, *ballot).state,
            *state,
            "after ballot {i}"
        );
    }
}

fn vote(ledger: &Ledger, key: &MemberKey, proposal_id: &str, vote: Vote) -> ProposalOutcome {
    let gov = ledger.governance();
    gov.ballot(
        proposal_id,
        &gov.request_for(key)
            .unwrap()
            .ballot(proposal_id, vote)
            .unwrap(),
    )
    .unwrap()
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> Refusal {
    match result {
        Err(Error::Forbidden { reason, .. }) => reason,
        other => panic!("expected a Forbidden error, got {other:?}"),
    }
}

fn set_user(user_id: &str, role: &str) -> Action {
    Action::SetUser {
        user_id: user_id.into(),
        role: role.into(),
    }
}

fn threshold(k: u32) -> Constitution {
    Constitution::with_rule(
        "Every change needs the stated number of approvals.",
        Rule::Threshold(NonZeroU32::new(k).unwrap()),
    )
    .unwrap()
}

#[test]
fn genesis_records_consortium_and_constitution() {
    let (ledger, keys) = consortium();
    let gov = ledger.governance();
    assert_eq!(
        gov.service_id(),
        service_id_of(ledger.service_certificate_pem()).unwrap()
    );
    let members = gov.members().unwrap();
    assert_eq!(members.len(), 3);
    for key in &keys {
        let m = gov.member(key.member_id()).unwrap().unwrap();
        assert_eq!(m.status, MemberStatus::Accepted);
        assert_eq!(&m.public_key, key.public_key());
        assert_eq!(m.updated_at.seqno(), 1, "genesis is the first transaction");
    }
    let constitution = gov.constitution().unwrap();
    assert_eq!(constitution.text(), DEFAULT_CONSTITUTION);
    assert_eq!(constitution.rule(), Rule::StrictMajority);
    assert_eq!(constitution.digest_hex().len(), 64);
    assert!(gov.is_member_governed().unwrap());

    // With members, the program no longer changes what they govern.
    let refused = gov.administer(&[Action::AddCodeId {
        code_id: CODE_A.into(),
    }]);
    assert_eq!(refusal(refused), Refusal::GovernedByMembers);
    assert_eq!(
        refusal(gov.install(&genesis(&keys[..1]))),
        Refusal::GovernedByMembers
    );
    // Users stay the program's to manage.
    gov.set_user("alice", "Reader").unwrap();
    assert_eq!(gov.user("alice").unwrap().unwrap().role, "Reader");
    assert!(verify_governance(&ledger).unwrap().is_clean());
}

#[test]
fn invalid_genesis_is_refused_at_open() {
    let keys = member_keys();
    let twice = genesis(&keys).member(keys[0].public_key().clone());
    assert!(matches!(
        Ledger::in_memory_with(LedgerConfig::new("").genesis(twice)),
        Err(Error::InvalidInput { .. })
    ));
    let unreachable = genesis(&keys[..2]).constitution(threshold(3));
    assert!(matches!(
        Ledger::in_memory_with(LedgerConfig::new("").genesis(unreachable)),
        Err(Error::InvalidInput { .. })
    ));
    let undefined_role = Genesis::new().user("bob", "Auditor");
    assert!(matches!(
        Ledger::in_memory_with(LedgerConfig::new("").genesis(undefined_role)),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn acks_make_members_active() {
    let (ledger, keys) = consortium();
    let gov = ledger.governance();

    // Accepted members cannot propose.
    let early = gov
        .request_for(&keys[0])
        .unwrap()
        .propose(vec![set_user("bob", "Reader")])
        .unwrap();
    assert_eq!(
        refusal(gov.propose(&early)),
        Refusal::MemberNotActive {
            status: MemberStatus::Accepted
        }
    );

    // An ack must name a root this ledger signed.
    let digest = gov.state_digest().unwrap();
    let mut wrong_root = digest;
    wrong_root.root[0] ^= 1;
    let bad = gov.request_for(&keys[0]).unwrap().ack(&wrong_root).unwrap();
    assert!(matches!(refusal(gov.ack(&bad)), Refusal::StaleAck { .. }));
    let mut not_a_signature = digest;
    not_a_signature.tx_id = TxId::new(1, 1).unwrap();
    let bad = gov
        .request_for(&keys[0])
        .unwrap()
        .ack(&not_a_signature)
        .unwrap();
    assert!(matches!(refusal(gov.ack(&bad)), Refusal::StaleAck { .. }));

    let tx = ack(&ledger, &keys[0]);
    let m = gov.member(keys[0].member_id()).unwrap().unwrap();
    assert_eq!(m.status, MemberStatus::Active);
    assert_eq!(m.updated_at, tx);
    // A second ack is refused; the others are still Accepted.
    let again = gov
        .request_for(&keys[0])
        .unwrap()
        .ack(&gov.state_digest().unwrap())
        .unwrap();
    assert_eq!(refusal(gov.ack(&again)), Refusal::AlreadyActive);
    assert_eq!(
        gov.member(keys[1].member_id()).unwrap().unwrap().status,
        MemberStatus::Accepted
    );
    // The ack is recorded with its signature.
    let requests = gov.requests(keys[0].member_id()).unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].0, tx);
    assert_eq!(
        requests[0].1.parse().unwrap().request.kind(),
        RequestKind::Ack
    );
}

#[test]
fn proposals_accepted_by_majority_and_rejected() {
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let auditor = RoleDefinition::new(["entries.read:audit".parse::<Permission>().unwrap()], []);
    let id = propose(
        &ledger,
        &keys[0],
        vec![
            Action::SetRole {
                role: "Auditor".into(),
                definition: auditor.clone(),
            },
            set_user("bob", "Auditor"),
        ],
    );
    let first = vote(&ledger, &keys[0], &id, Vote::Approve);
    assert_eq!(first.state, ProposalState::Open);
    assert!(gov.user("bob").unwrap().is_none());
    // A member votes once.
    let twice = gov
        .request_for(&keys[0])
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert_eq!(refusal(gov.ballot(&id, &twice)), Refusal::AlreadyVoted);

    let second = vote(&ledger, &keys[2], &id, Vote::Approve);
    assert_eq!(second.state, ProposalState::Accepted);
    // Applied atomically in the deciding ballot's transaction.
    assert_eq!(gov.role("Auditor").unwrap(), Some(auditor));
    assert_eq!(gov.user("bob").unwrap().unwrap().role, "Auditor");
    let history: Vec<_> = ledger
        .table_history("gov.users", b"bob")
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].tx_id, second.tx_id);

    let proposal = gov.proposal(&id).unwrap().unwrap();
    assert_eq!(proposal.record.state, ProposalState::Accepted);
    assert_eq!(proposal.record.proposer_id, keys[0].member_id());
    assert_eq!(proposal.updated_at, second.tx_id);
    assert_eq!(proposal.ballots.len(), 2);
    assert_eq!(proposal.ballots[keys[2].member_id()].tx_id, second.tx_id);
    let final_votes = proposal.record.final_votes.unwrap();
    assert_eq!(final_votes.len(), 2);
    assert!(final_votes.values().all(|v| *v == Vote::Approve));
    let versions = gov.proposal_history(&id).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.record.state).collect::<Vec<_>>(),
        vec![ProposalState::Open, ProposalState::Accepted]
    );
    assert_eq!(versions[0].tx_id, proposal.proposed_at);
    // Closed proposals take no more ballots.
    let late = gov
        .request_for(&keys[1])
        .unwrap()
        .ballot(&id, Vote::Reject)
        .unwrap();
    assert_eq!(
        refusal(gov.ballot(&id, &late)),
        Refusal::ProposalNotOpen {
            state: ProposalState::Accepted
        }
    );

    // Two rejections out of three: rejected, nothing applied.
    let id = propose(
        &ledger,
        &keys[1],
        vec![set_user("mallory", "Administrator")],
    );
    vote_through(
        &ledger,
        &id,
        &[
            (&keys[1], Vote::Approve, ProposalState::Open),
            (&keys[0], Vote::Reject, ProposalState::Open),
            (&keys[2], Vote::Reject, ProposalState::Rejected),
        ],
    );
    assert!(gov.user("mallory").unwrap().is_none());
    assert_eq!(gov.proposals().unwrap().len(), 2);
    // Unknown proposals are NotFound.
    let unknown = "0".repeat(64);
    let ballot = gov
        .request_for(&keys[0])
        .unwrap()
        .ballot(&unknown, Vote::Approve)
        .unwrap();
    assert!(matches!(
        gov.ballot(&unknown, &ballot),
        Err(Error::NotFound { .. })
    ));

    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(
        (report.governance.accepted, report.governance.rejected),
        (1, 1)
    );
    assert_eq!(report.governance.acks, 3);
}

#[test]
fn proposer_withdraws() {
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let id = propose(&ledger, &keys[0], vec![set_user("bob", "Reader")]);
    vote(&ledger, &keys[0], &id, Vote::Approve);

    let by_other = gov.request_for(&keys[1]).unwrap().withdraw(&id).unwrap();
    assert_eq!(refusal(gov.withdraw(&id, &by_other)), Refusal::NotProposer);

    let withdrawal = gov.request_for(&keys[0]).unwrap().withdraw(&id).unwrap();
    let outcome = gov.withdraw(&id, &withdrawal).unwrap();
    assert_eq!(outcome.state, ProposalState::Withdrawn);
    assert_eq!(
        gov.proposal(&id).unwrap().unwrap().record.state,
        ProposalState::Withdrawn
    );
    // A withdrawn proposal takes no ballot and cannot be withdrawn again.
    let ballot = gov
        .request_for(&keys[1])
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert_eq!(
        refusal(gov.ballot(&id, &ballot)),
        Refusal::ProposalNotOpen {
            state: ProposalState::Withdrawn
        }
    );
    let again = gov.request_for(&keys[0]).unwrap().withdraw(&id).unwrap();
    assert!(matches!(
        refusal(gov.withdraw(&id, &again)),
        Refusal::ProposalNotOpen { .. }
    ));
    assert!(gov.user("bob").unwrap().is_none());
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(report.governance.withdrawn, 1);
}

#[test]
fn an_action_that_cannot_apply_fails_the_proposal() {
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let missing = "ab".repeat(32);
    let id = propose(
        &ledger,
        &keys[0],
        vec![
            Action::AddCodeId {
                code_id: CODE_A.into(),
            },
            Action::RemoveMember {
                member_id: missing.clone(),
            },
        ],
    );
    vote(&ledger, &keys[0], &id, Vote::Approve);
    let outcome = vote(&ledger, &keys[1], &id, Vote::Approve);
    assert_eq!(outcome.state, ProposalState::Failed);
    let reason = outcome.failure.unwrap();
    assert!(reason.contains("action 2 (remove_member)"), "{reason}");
    assert!(reason.contains(&missing), "{reason}");
    // Nothing applied, the reason recorded.
    assert!(gov.code_ids().unwrap().is_empty());
    let record = gov.proposal(&id).unwrap().unwrap().record;
    assert_eq!(record.failure.as_deref(), Some(reason.as_str()));

    // Malformed actions make the proposal itself invalid: refused, not recorded.
    let bad = gov
        .request_for(&keys[0])
        .unwrap()
        .propose(vec![Action::SetRole {
            role: "reader".into(),
            definition: RoleDefinition::default(),
        }])
        .unwrap();
    assert!(matches!(gov.propose(&bad), Err(Error::InvalidInput { .. })));
    let empty = gov.request_for(&keys[0]).unwrap().propose(vec![]).unwrap();
    assert!(matches!(
        gov.propose(&empty),
        Err(Error::InvalidInput { .. })
    ));
    let outside = gov
        .request_for(&keys[0])
        .unwrap()
        .propose(vec![Action::SetAppValue {
            table: "gov.members".into(),
            key: b"x".to_vec(),
            value: b"y".to_vec(),
        }])
        .unwrap();
    assert!(matches!(
        gov.propose(&outside),
        Err(Error::InvalidInput { .. })
    ));
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(report.governance.failed, 1);
}

#[test]
fn constitution_replacement_changes_the_threshold() {
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let before = gov.state_digest().unwrap().tx_id;
    let three_of_three = threshold(3);
    let id = propose(
        &ledger,
        &keys[0],
        vec![Action::SetConstitution {
            constitution: three_of_three.clone(),
        }],
    );
    vote(&ledger, &keys[0], &id, Vote::Approve);
    let replaced = vote(&ledger, &keys[1], &id, Vote::Approve);
    assert_eq!(replaced.state, ProposalState::Accepted);
    assert_eq!(gov.constitution().unwrap(), three_of_three);
    assert_eq!(
        gov.constitution().unwrap().digest_hex(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            three_of_three.text()
        ))
    );
    // Readable at any transaction.
    assert_eq!(
        gov.constitution_at(before).unwrap().text(),
        DEFAULT_CONSTITUTION
    );
    assert_eq!(gov.constitution_at(replaced.tx_id).unwrap(), three_of_three);

    // Two approvals no longer decide; the third does.
    let id = propose(&ledger, &keys[2], vec![set_user("bob", "Contributor")]);
    vote_through(
        &ledger,
        &id,
        &[
            (&keys[0], Vote::Approve, ProposalState::Open),
            (&keys[1], Vote::Approve, ProposalState::Open),
            (&keys[2], Vote::Approve, ProposalState::Accepted),
        ],
    );
    assert_eq!(gov.user("bob").unwrap().unwrap().role, "Contributor");

    // One rejection is enough to reject under 3-of-3.
    let id = propose(&ledger, &keys[0], vec![set_user("carol", "Reader")]);
    assert_eq!(
        vote(&ledger, &keys[1], &id, Vote::Reject).state,
        ProposalState::Rejected
    );

    // Removing a member would leave 2 Active members, fewer than the rule needs: Failed.
    let id = propose(
        &ledger,
        &keys[0],
        vec![Action::RemoveMember {
            member_id: keys[2].member_id().into(),
        }],
    );
    for key in &keys {
        vote(&ledger, key, &id, Vote::Approve);
    }
    let record = gov.proposal(&id).unwrap().unwrap().record;
    assert_eq!(record.state, ProposalState::Failed);
    assert!(
        record
            .failure
            .as_deref()
            .unwrap()
            .contains("fewer than the 3"),
        "{:?}",
        record.failure
    );
    assert_eq!(gov.members().unwrap().len(), 3);

    // Back to a majority, and then a member can go.
    let id = propose(
        &ledger,
        &keys[0],
        vec![
            Action::SetConstitution {
                constitution: Constitution::default(),
            },
            Action::RemoveMember {
                member_id: keys[2].member_id().into(),
            },
        ],
    );
    for key in &keys {
        vote(&ledger, key, &id, Vote::Approve);
    }
    assert_eq!(
        gov.proposal(&id).unwrap().unwrap().record.state,
        ProposalState::Accepted
    );
    assert_eq!(gov.members().unwrap().len(), 2);
    // The removed member can no longer take part.
    let gone = gov
        .request_for(&keys[2])
        .unwrap()
        .propose(vec![set_user("x", "Reader")])
        .unwrap();
    assert_eq!(refusal(gov.propose(&gone)), Refusal::NotAMember);
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn forged_and_replayed_requests_are_refused() {
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let id = propose(&ledger, &keys[0], vec![set_user("bob", "Reader")]);
    let other_id = propose(&ledger, &keys[0], vec![set_user("carol", "Reader")]);

    // Replay: the same signed ballot twice.
    let ballot = gov
        .request_for(&keys[1])
        .unwrap()
        .ballot(&id, Vote::Reject)
        .unwrap();
    gov.ballot(&id, &ballot).unwrap();
    assert!(matches!(
        refusal(gov.ballot(&id, &ballot)),
        Refusal::Replayed { .. }
    ));
    // Replay of a proposal, and of an ack.
    let first_proposal = &gov.requests(keys[0].member_id()).unwrap()[1].1;
    assert!(matches!(
        refusal(gov.propose(first_proposal)),
        Refusal::Replayed { .. }
    ));
    let first_ack = &gov.requests(keys[0].member_id()).unwrap()[0].1;
    assert!(matches!(
        refusal(gov.ack(first_ack)),
        Refusal::Replayed { .. }
    ));
    // A stale counter that was never used is refused too.
    let next = gov.next_counter(keys[2].member_id()).unwrap();
    let stale = keys[2]
        .request(gov.service_id(), &gov.instance().unwrap(), next - 1)
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert_eq!(
        refusal(gov.ballot(&id, &stale)),
        Refusal::Replayed {
            counter: next - 1,
            last: next - 1
        }
    );

    // Re-targeted to another ledger: same members, different service identity.
    let other = Ledger::in_memory_with(LedgerConfig::new("").genesis(genesis(&keys))).unwrap();
    let foreign = keys[2]
        .request(
            other.governance().service_id(),
            &other.governance().instance().unwrap(),
            next,
        )
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert!(matches!(
        refusal(gov.ballot(&id, &foreign)),
        Refusal::WrongLedger { .. }
    ));
    // Re-targeted to another proposal.
    let for_id = gov
        .request_for(&keys[2])
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert!(matches!(
        refusal(gov.ballot(&other_id, &for_id)),
        Refusal::WrongProposal { .. }
    ));
    // Given as another kind of request.
    assert_eq!(
        refusal(gov.propose(&for_id)),
        Refusal::WrongKind {
            expected: RequestKind::Proposal,
            found: RequestKind::Ballot
        }
    );
    // Altered after signing: the vote flipped.
    let mut altered = for_id.clone();
    altered.payload = altered.payload.replace("\"approve\"", "\"reject\"");
    assert_ne!(altered.payload, for_id.payload);
    assert!(matches!(
        refusal(gov.ballot(&id, &altered)),
        Refusal::BadSignature { .. }
    ));
    // The same payload signed under another kind tag does not verify either.
    let retagged =
        SignedRequest::sign_text(&keys[2], RequestKind::Proposal, for_id.payload.clone());
    assert!(matches!(
        refusal(gov.ballot(&id, &retagged)),
        Refusal::BadSignature { .. }
    ));
    // Signed by a key that is not the claimed member's (another member's, for the P-256
    // member, and the other way round).
    let payload = RequestPayload::new(
        gov.service_id(),
        &gov.instance().unwrap(),
        keys[2].member_id(),
        next,
        Request::Ballot {
            proposal_id: id.clone(),
            vote: Vote::Approve,
        },
    );
    let wrong_key = SignedRequest::sign(&keys[0], &payload).unwrap();
    assert!(matches!(
        refusal(gov.ballot(&id, &wrong_key)),
        Refusal::BadSignature { .. }
    ));
    let payload = RequestPayload::new(
        gov.service_id(),
        &gov.instance().unwrap(),
        keys[0].member_id(),
        gov.next_counter(keys[0].member_id()).unwrap(),
        Request::Ballot {
            proposal_id: id.clone(),
            vote: Vote::Approve,
        },
    );
    let wrong_key = SignedRequest::sign(&keys[2], &payload).unwrap();
    assert!(matches!(
        refusal(gov.ballot(&id, &wrong_key)),
        Refusal::BadSignature { .. }
    ));
    // A key that is no member at all.
    let stranger = MemberKey::ed25519_from_seed([9; 32]);
    let from_stranger = gov
        .request_for(&stranger)
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert_eq!(
        refusal(gov.ballot(&id, &from_stranger)),
        Refusal::NotAMember
    );
    // A member that has not acknowledged yet.
    let newcomer = MemberKey::p256_from_scalar([4; 32]).unwrap();
    let add = propose(
        &ledger,
        &keys[0],
        vec![Action::AddMember {
            public_key: newcomer.public_key().clone(),
        }],
    );
    vote(&ledger, &keys[0], &add, Vote::Approve);
    assert_eq!(
        vote(&ledger, &keys[2], &add, Vote::Approve).state,
        ProposalState::Accepted
    );
    let from_newcomer = gov
        .request_for(&newcomer)
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert_eq!(
        refusal(gov.ballot(&id, &from_newcomer)),
        Refusal::MemberNotActive {
            status: MemberStatus::Accepted
        }
    );
    // Garbage is invalid input, never a panic.
    for payload in ["", "{}", "null", "{\"version\":2}", &"[".repeat(10_000)] {
        let junk = SignedRequest {
            payload: payload.to_owned(),
            signature: vec![0; 64],
        };
        assert!(matches!(
            gov.ballot(&id, &junk),
            Err(Error::InvalidInput { .. })
        ));
    }
    let mut extra_field = for_id.payload.clone();
    extra_field.insert_str(1, "\"extra\":1,");
    let junk = SignedRequest::sign_text(&keys[2], RequestKind::Ballot, extra_field);
    assert!(matches!(
        gov.ballot(&id, &junk),
        Err(Error::InvalidInput { .. })
    ));

    // None of the refused requests changed anything; a genuine ballot still counts.
    assert!(gov.user("bob").unwrap().is_none());
    assert_eq!(gov.proposal(&id).unwrap().unwrap().ballots.len(), 1);
    vote(&ledger, &keys[2], &id, Vote::Approve);
    assert_eq!(gov.proposal(&id).unwrap().unwrap().ballots.len(), 2);
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn governance_transactions_have_receipts() {
    let (ledger, keys) = consortium();
    let ack_tx = ack(&ledger, &keys[0]);
    ack(&ledger, &keys[1]);
    let gov = ledger.governance();
    let proposal = gov
        .propose(
            &gov.request_for(&keys[0])
                .unwrap()
                .propose(vec![set_user("bob", "Reader")])
                .unwrap(),
        )
        .unwrap();
    vote(&ledger, &keys[0], &proposal.proposal_id, Vote::Approve);
    let decided = vote(&ledger, &keys[1], &proposal.proposal_id, Vote::Approve);
    assert_eq!(decided.state, ProposalState::Accepted);
    let genesis_tx = TxId::new(1, 1).unwrap();
    for tx in [genesis_tx, ack_tx, proposal.tx_id, decided.tx_id] {
        assert_eq!(
            ledger.wait_for_commit(tx, WAIT).unwrap(),
            TxStatus::Committed
        );
        let receipt = ledger.receipt(tx).unwrap();
        receipt.verify(&ledger.service_certificate_pem()).unwrap();
    }
}

#[test]
fn program_administers_until_it_installs_a_consortium() {
    let ledger = Ledger::in_memory().unwrap();
    let gov = ledger.governance();
    assert!(!gov.is_member_governed().unwrap());
    assert_eq!(gov.constitution().unwrap(), Constitution::default());
    gov.administer(&[
        Action::SetRole {
            role: "Auditor".into(),
            definition: RoleDefinition::new(["entries.read".parse().unwrap()], []),
        },
        set_user("bob", "Auditor"),
        Action::AddCodeId {
            code_id: CODE_A.into(),
        },
        Action::SetAppValue {
            table: "gov.app.config".into(),
            key: b"limit".to_vec(),
            value: b"10".to_vec(),
        },
    ])
    .unwrap();
    assert_eq!(
        ledger.table_get("gov.app.config", b"limit").unwrap(),
        Some(b"10".to_vec())
    );
    // Applications cannot write governance tables themselves.
    let mut tx = Transaction::new();
    tx.put("gov.app.config", b"limit", b"11");
    assert!(matches!(ledger.submit(tx), Err(Error::InvalidInput { .. })));
    // An action that cannot apply applies nothing.
    let failed = gov.administer(&[
        Action::RemoveCodeId {
            code_id: CODE_A.into(),
        },
        Action::RemoveRole {
            role: "Auditor".into(),
        },
    ]);
    assert!(matches!(failed, Err(Error::InvalidInput {
        problem: ledger_core::Problem::Malformed { ref reason, .. },
        ..
    }) if reason.contains("held by user")));
    assert_eq!(gov.code_ids().unwrap(), vec![CODE_A.to_owned()]);
    // Members come in through install, once.
    let keys = member_keys();
    assert!(matches!(
        gov.administer(&[Action::AddMember {
            public_key: keys[0].public_key().clone()
        }]),
        Err(Error::InvalidInput { .. })
    ));
    let installed = gov
        .install(&genesis(&keys[..2]).constitution(threshold(2)))
        .unwrap();
    assert!(gov.is_member_governed().unwrap());
    assert_eq!(gov.constitution().unwrap(), threshold(2));
    assert_eq!(
        refusal(gov.install(&genesis(&keys[2..]))),
        Refusal::GovernedByMembers
    );
    assert_eq!(
        refusal(gov.administer(&[Action::RemoveCodeId {
            code_id: CODE_A.into()
        }])),
        Refusal::GovernedByMembers
    );
    gov.set_user("carol", "Reader").unwrap();
    gov.remove_user("bob").unwrap();
    // From now on the members decide.
    ack(&ledger, &keys[0]);
    ack(&ledger, &keys[1]);
    let id = propose(
        &ledger,
        &keys[1],
        vec![Action::RemoveCodeId {
            code_id: CODE_A.into(),
        }],
    );
    vote(&ledger, &keys[0], &id, Vote::Approve);
    vote(&ledger, &keys[1], &id, Vote::Approve);
    assert!(gov.code_ids().unwrap().is_empty());
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(report.governance.consortium_since, Some(installed));
    assert_eq!(report.governance.accepted, 1);
}

#[test]
fn node_measurement_is_checked_against_code_ids() {
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let node = gov.node_info().unwrap();
    assert_eq!(node.node_id, ledger.node_id());
    assert!(node
        .certificate_pem
        .starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!((node.measurement, node.code_id_allowed), (None, None));
    assert_eq!(gov.nodes().unwrap().len(), 1);

    assert_eq!(
        refusal(gov.set_node_measurement(CODE_A)),
        Refusal::CodeIdNotAllowed {
            measurement: CODE_A.into()
        }
    );
    assert!(matches!(
        gov.set_node_measurement("not hex"),
        Err(Error::InvalidInput { .. })
    ));
    let id = propose(
        &ledger,
        &keys[0],
        vec![
            Action::AddCodeId {
                code_id: CODE_A.into(),
            },
            Action::AddCodeId {
                code_id: CODE_B.into(),
            },
        ],
    );
    vote(&ledger, &keys[0], &id, Vote::Approve);
    vote(&ledger, &keys[1], &id, Vote::Approve);
    gov.set_node_measurement(CODE_A).unwrap();
    let node = gov.node_info().unwrap();
    assert_eq!(node.measurement.as_deref(), Some(CODE_A));
    assert_eq!(node.code_id_allowed, Some(true));
    // Revoking the code id shows on the node.
    let id = propose(
        &ledger,
        &keys[0],
        vec![Action::RemoveCodeId {
            code_id: CODE_A.into(),
        }],
    );
    vote(&ledger, &keys[0], &id, Vote::Approve);
    vote(&ledger, &keys[1], &id, Vote::Approve);
    assert_eq!(gov.node_info().unwrap().code_id_allowed, Some(false));
    assert_eq!(gov.code_ids().unwrap(), vec![CODE_B.to_owned()]);
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn governance_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let keys = member_keys();
    let config = || LedgerConfig::new(dir.path().join("ledger")).genesis(genesis(&keys));
    let (service_id, first_ack) = {
        let ledger = Ledger::open(config()).unwrap();
        let gov = ledger.governance();
        let digest = gov.state_digest().unwrap();
        let request = gov.request_for(&keys[0]).unwrap().ack(&digest).unwrap();
        gov.ack(&request).unwrap();
        let service_id = gov.service_id().to_owned();
        ledger.close().unwrap();
        (service_id, request)
    };
    let ledger = Ledger::open(config()).unwrap();
    let gov = ledger.governance();
    assert_eq!(gov.service_id(), service_id);
    assert_eq!(
        gov.member(keys[0].member_id()).unwrap().unwrap().status,
        MemberStatus::Active
    );
    assert_eq!(gov.members().unwrap().len(), 3, "genesis is not repeated");
    assert!(matches!(
        refusal(gov.ack(&first_ack)),
        Refusal::Replayed { .. }
    ));
    assert_eq!(gov.next_counter(keys[0].member_id()).unwrap(), 2);
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
}

#[test]
fn request_and_action_json_forms() {
    let keys = member_keys();
    let action = set_user("bob", "Reader");
    assert_eq!(
        serde_json::to_string(&action).unwrap(),
        r#"{"name":"set_user","args":{"user_id":"bob","role":"Reader"}}"#
    );
    let with_extra: Result<Action, _> = serde_json::from_str(
        r#"{"name":"set_user","args":{"user_id":"bob","role":"Reader","x":1}}"#,
    );
    assert!(with_extra.is_err());
    let instance = LedgerInstance {
        ledger_id: "22".repeat(16),
        epoch: 3,
    };
    let signed = keys[2]
        .request(&"11".repeat(32), &instance, 5)
        .propose(vec![action])
        .unwrap();
    let json = signed.to_json().unwrap();
    assert_eq!(SignedRequest::from_json(&json).unwrap(), signed);
    let payload = signed.parse().unwrap();
    assert_eq!(payload.counter, 5);
    assert_eq!(payload.version, 2);
    assert_eq!(payload.instance(), Some(instance));
    assert!(signed.payload.starts_with(&format!(
        "{{\"version\":2,\"service_id\":\"{}\",\"ledger_id\":\"{}\",\"epoch\":3,",
        "11".repeat(32),
        "22".repeat(16)
    )));
    assert_eq!(payload.member_id, keys[2].member_id());
    assert!(SignedRequest::from_json("{\"payload\":\"\"}").is_err());
    // The member id is the SHA-256 of the DER public key, like a node id.
    for key in &keys {
        let pem = key.public_key().to_pem();
        let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
        assert_eq!(key.member_id(), ledger_core::node_id_of(&der));
        let reparsed = ledger_core::governance::MemberPublicKey::from_pem(pem).unwrap();
        assert_eq!(&reparsed, key.public_key());
    }
}

#[test]
fn concurrent_ballots_and_writes_stay_consistent() {
    let (ledger, keys) = active_consortium();
    let ids: Vec<String> = (0..6)
        .map(|i| {
            propose(
                &ledger,
                &keys[i % 3],
                vec![set_user(&format!("user-{i}"), "Reader")],
            )
        })
        .collect();
    std::thread::scope(|scope| {
        for key in &keys {
            let (ledger, ids) = (&ledger, &ids);
            scope.spawn(move || {
                let gov = ledger.governance();
                for id in ids {
                    let ballot = gov
                        .request_for(key)
                        .unwrap()
                        .ballot(id, Vote::Approve)
                        .unwrap();
                    match gov.ballot(id, &ballot) {
                        Ok(_) => {}
                        Err(Error::Forbidden {
                            reason:
                                Refusal::ProposalNotOpen {
                                    state: ProposalState::Accepted,
                                },
                            ..
                        }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        let ledger = &ledger;
        scope.spawn(move || {
            for i in 0..50u32 {
                ledger.append("app", &i.to_be_bytes()).unwrap();
            }
        });
    });
    let gov = ledger.governance();
    for (i, id) in ids.iter().enumerate() {
        let proposal = gov.proposal(id).unwrap().unwrap();
        assert_eq!(proposal.record.state, ProposalState::Accepted);
        // Decided by exactly the second approval; the third was cast on a closed proposal
        // or not at all, depending on the interleaving, but never counted twice.
        assert_eq!(proposal.record.final_votes.unwrap().len(), 2);
        assert!(gov.user(&format!("user-{i}")).unwrap().is_some());
    }
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    assert_eq!(report.governance.accepted, 6);
}

#[test]
fn altered_requests_are_never_accepted() {
    use rand::{Rng, SeedableRng};
    let (ledger, keys) = active_consortium();
    let gov = ledger.governance();
    let id = propose(&ledger, &keys[0], vec![set_user("bob", "Reader")]);
    let genuine = gov
        .request_for(&keys[1])
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
    for round in 0..500 {
        let mut forged = genuine.clone();
        let mut payload = forged.payload.into_bytes();
        match round % 4 {
            0 => {
                let at = rng.gen_range(0..payload.len());
                payload[at] ^= 1 << rng.gen_range(0..7);
            }
            1 => {
                let at = rng.gen_range(0..payload.len());
                payload.insert(at, rng.gen_range(b' '..=b'~'));
            }
            2 => {
                let at = rng.gen_range(0..payload.len());
                payload.remove(at);
            }
            _ => {
                let at = rng.gen_range(0..forged.signature.len());
                forged.signature[at] ^= 1 << rng.gen_range(0..8);
            }
        }
        forged.payload = String::from_utf8_lossy(&payload).into_owned();
        if forged == genuine {
            continue;
        }
        match gov.ballot(&id, &forged) {
            Err(Error::Forbidden { .. } | Error::InvalidInput { .. } | Error::NotFound { .. }) => {}
            other => panic!("round {round}: altered request gave {other:?}: {forged:?}"),
        }
    }
    assert!(gov.proposal(&id).unwrap().unwrap().ballots.is_empty());
    gov.ballot(&id, &genuine).unwrap();
    assert!(verify_governance(&ledger).unwrap().is_clean());
}

/// A cluster's founding nodes are recorded by the genesis transaction, before any of them
/// signs: the ledger alone names the certificates its nodes accept from peers. The audit
/// checks each record against the service certificate; a certificate the service did not
/// issue refuses the genesis.
#[test]
fn founding_nodes_are_recorded_at_genesis() {
    use ledger_core::{verify_node_endorsement, NodeIdentity, ServiceIdentity};
    let service = ServiceIdentity::generate("founding").unwrap();
    let nodes: Vec<NodeIdentity> = (1..=3)
        .map(|i| NodeIdentity::generate(&service, &format!("node {i}")).unwrap())
        .collect();
    let genesis = nodes
        .iter()
        .fold(Genesis::new(), |g, n| g.node(n.certificate_pem()));
    let ledger = Ledger::in_memory_with(
        LedgerConfig::new("")
            .service_identity(service.clone())
            .genesis(genesis.clone()),
    )
    .unwrap();
    let recorded: Vec<String> = ledger
        .governance()
        .nodes()
        .unwrap()
        .into_iter()
        .map(|n| n.node_id)
        .collect();
    for node in &nodes {
        assert!(
            recorded.contains(&node.node_id().to_owned()),
            "{recorded:?}"
        );
        let endorsed = verify_node_endorsement(
            node.certificate_der(),
            service.certificate_pem(),
            std::time::SystemTime::now(),
        )
        .unwrap();
        assert_eq!(endorsed.node_id, node.node_id());
    }
    // The three founders and the node that wrote the genesis.
    assert_eq!(recorded.len(), 4);
    let report = verify_governance(&ledger).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);

    let other = ServiceIdentity::generate("another service").unwrap();
    let stranger = NodeIdentity::generate(&other, "stranger").unwrap();
    let refused = Ledger::in_memory_with(
        LedgerConfig::new("")
            .service_identity(service.clone())
            .genesis(genesis.node(stranger.certificate_pem())),
    );
    assert!(matches!(refused, Err(Error::Crypto { .. })), "{refused:?}");
    assert!(verify_node_endorsement(
        stranger.certificate_der(),
        service.certificate_pem(),
        std::time::SystemTime::now()
    )
    .is_err());
}
