#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Signed governance requests name the ledger instance (issue 11, hole 2): two ledgers
//! created with one service identity and the same members refuse each other's requests, a
//! copy restored from a backup refuses the requests signed for the original (and the other
//! way round) until members sign again, histories of version-1 requests written by older
//! code still audit clean, and version 1 is refused once the instance is recorded.
//!
//! The last test is a seeded random walk over twins and a restored copy: every request is
//! submitted to the ledger it was signed for and to every other one, and the audit of every
//! ledger stays clean. Keys and seeds are fixed, so every run is the same.

use std::num::NonZeroU64;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger_core::governance::{
    Action, Genesis, MemberKey, ProposalState, Refusal, Request, RequestKind, RequestPayload,
    SignedRequest, Vote,
};
use ledger_core::{audit_ledger, audit_path, AuditOptions, AuditReport};
use ledger_core::{
    Durability, Error, Ledger, LedgerConfig, LedgerInstance, ServiceIdentity, Store,
};
use ledger_store::{Group, MemoryStore, Recovery, META_RESTORED};
use rand::{Rng, SeedableRng};

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

fn clean(ledger: &Ledger) -> AuditReport {
    ledger.flush().unwrap();
    let report = audit_ledger(ledger, &AuditOptions::default()).unwrap();
    assert!(report.is_clean(), "{:?}", report.finding);
    report
}

fn clean_path(path: &Path) -> AuditReport {
    let report = audit_path(path, &AuditOptions::default()).unwrap();
    assert!(
        report.is_clean(),
        "{}: {:?}",
        path.display(),
        report.finding
    );
    report
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> Refusal {
    match result {
        Err(Error::Forbidden { reason, .. }) => reason,
        other => panic!("expected a Forbidden error, got {other:?}"),
    }
}

fn wrong_instance<T: std::fmt::Debug>(result: Result<T, Error>) -> (String, String) {
    match refusal(result) {
        Refusal::WrongInstance { expected, found } => (expected, found),
        other => panic!("expected WrongInstance, got {other:?}"),
    }
}

fn ack(ledger: &Ledger, key: &MemberKey) {
    let gov = ledger.governance();
    let digest = gov.state_digest().unwrap();
    gov.ack(&gov.request_for(key).unwrap().ack(&digest).unwrap())
        .unwrap();
}

fn make_administrator(user: &str) -> Vec<Action> {
    vec![Action::SetUser {
        user_id: user.into(),
        role: "Administrator".into(),
    }]
}

/// Submits `request` through the call its kind takes (ballots and withdrawals for the
/// proposal they name).
fn submit(ledger: &Ledger, request: &SignedRequest) -> Result<(), Error> {
    let gov = ledger.governance();
    let payload = request.parse()?;
    match &payload.request {
        Request::Ack { .. } => gov.ack(request).map(drop),
        Request::Proposal { .. } => gov.propose(request).map(drop),
        Request::Ballot { proposal_id, .. } => gov.ballot(proposal_id, request).map(drop),
        Request::Withdrawal { proposal_id } => gov.withdraw(proposal_id, request).map(drop),
    }
}

/// The regression test of the hole: before requests named the instance, ledger B accepted
/// the proposal signed for ledger A byte for byte.
#[test]
fn a_proposal_signed_for_one_ledger_is_refused_by_its_twin() {
    let keys = member_keys();
    let service = ServiceIdentity::generate("shared").unwrap();
    let config = || {
        LedgerConfig::new("")
            .service_identity(service.clone())
            .genesis(genesis(&keys))
    };
    let a = Ledger::in_memory_with(config()).unwrap();
    let b = Ledger::in_memory_with(config()).unwrap();
    let (gov_a, gov_b) = (a.governance(), b.governance());
    assert_eq!(gov_a.service_id(), gov_b.service_id());
    let (instance_a, instance_b) = (gov_a.instance().unwrap(), gov_b.instance().unwrap());
    assert_ne!(instance_a.ledger_id, instance_b.ledger_id);
    assert_eq!((instance_a.epoch, instance_b.epoch), (1, 1));
    for key in &keys {
        ack(&a, key);
        ack(&b, key);
    }

    // Member 1 proposes, on ledger A, to make mallory an Administrator.
    let proposal = gov_a
        .request_for(&keys[0])
        .unwrap()
        .propose(make_administrator("mallory"))
        .unwrap();
    let (expected, found) = wrong_instance(gov_b.propose(&proposal));
    assert_eq!(expected, instance_b.to_string());
    assert_eq!(found, instance_a.to_string());
    let on_a = gov_a.propose(&proposal).unwrap();
    // Its ballots, signed for A, do not count on B either, whatever proposal they are given.
    let ballot = gov_a
        .request_for(&keys[1])
        .unwrap()
        .ballot(&on_a.proposal_id, Vote::Approve)
        .unwrap();
    wrong_instance(gov_b.ballot(&on_a.proposal_id, &ballot));
    assert_eq!(
        gov_a.ballot(&on_a.proposal_id, &ballot).unwrap().state,
        ProposalState::Open
    );
    assert!(gov_b.proposals().unwrap().is_empty());
    assert!(gov_b.user("mallory").unwrap().is_none());

    // B's own requests are accepted as usual.
    let own = gov_b
        .request_for(&keys[0])
        .unwrap()
        .propose(make_administrator("mallory"))
        .unwrap();
    assert_eq!(gov_b.propose(&own).unwrap().state, ProposalState::Open);
    clean(&a);
    clean(&b);
}

/// The restore half of the hole: before, the restored copy accepted a proposal signed for
/// the original after the backup point (its counters are older).
#[test]
fn a_restored_backup_refuses_requests_signed_for_the_original() {
    let keys = member_keys();
    let dir = tempfile::tempdir().unwrap();
    let (original_dir, backup_dir, restored_dir) = (
        dir.path().join("original"),
        dir.path().join("backup"),
        dir.path().join("restored"),
    );
    let config = |path: &Path| {
        LedgerConfig::new(path)
            .durability(Durability::Buffered)
            .genesis(genesis(&keys))
    };
    let original = Ledger::open(config(&original_dir)).unwrap();
    for key in &keys {
        ack(&original, key);
    }
    let gov = original.governance();
    let before_backup = gov
        .request_for(&keys[0])
        .unwrap()
        .propose(make_administrator("alice"))
        .unwrap();
    let before_id = gov.propose(&before_backup).unwrap().proposal_id;
    let info = original.backup(&backup_dir).unwrap();
    assert!(info.committed_seqno > 0 && info.files > 0);

    // After the backup point, member 1 signs and submits a proposal to the original, and
    // member 2 approves it.
    let after_backup = gov
        .request_for(&keys[0])
        .unwrap()
        .propose(make_administrator("mallory"))
        .unwrap();
    let after_id = gov.propose(&after_backup).unwrap().proposal_id;
    let approval = gov
        .request_for(&keys[1])
        .unwrap()
        .ballot(&after_id, Vote::Approve)
        .unwrap();
    gov.ballot(&after_id, &approval).unwrap();

    let restored_info = Ledger::restore(&backup_dir, &restored_dir).unwrap();
    assert_eq!(restored_info.committed_seqno, info.committed_seqno);
    let views_before = clean_path(&restored_dir).views.len();
    let restored = Ledger::open(config(&restored_dir)).unwrap();
    let rgov = restored.governance();
    let (old, new) = (gov.instance().unwrap(), rgov.instance().unwrap());
    assert_eq!(new.ledger_id, old.ledger_id);
    assert_eq!(new.epoch, old.epoch + 1);
    assert_eq!(clean(&restored).views.len(), views_before + 1, "a new view");

    // Everything signed for the original is refused by the copy, with the typed refusal.
    let (expected, found) = wrong_instance(rgov.propose(&after_backup));
    assert_eq!((expected, found), (new.to_string(), old.to_string()));
    wrong_instance(rgov.ballot(&after_id, &approval));
    let stale_ballot = gov
        .request_for(&keys[2])
        .unwrap()
        .ballot(&before_id, Vote::Approve)
        .unwrap();
    wrong_instance(rgov.ballot(&before_id, &stale_ballot));
    assert!(rgov.proposal(&after_id).unwrap().is_none());

    // Re-signed for the restored instance, the same intent is accepted; the original
    // refuses the copy's request in turn.
    let resigned = rgov
        .request_for(&keys[0])
        .unwrap()
        .propose(make_administrator("mallory"))
        .unwrap();
    assert_eq!(resigned.parse().unwrap().instance(), Some(new.clone()));
    assert_eq!(rgov.propose(&resigned).unwrap().state, ProposalState::Open);
    wrong_instance(gov.propose(&resigned));
    let ballot = rgov
        .request_for(&keys[2])
        .unwrap()
        .ballot(&before_id, Vote::Approve)
        .unwrap();
    rgov.ballot(&before_id, &ballot).unwrap();

    clean(&original);
    clean(&restored);
    original.close().unwrap();
    restored.close().unwrap();
    clean_path(&original_dir);
    clean_path(&restored_dir);

    // The restore was acted on once: reopening keeps the epoch, and a backup of the
    // restored copy, restored again, takes the next one.
    let restored = Ledger::open(config(&restored_dir)).unwrap();
    assert_eq!(restored.governance().instance().unwrap(), new);
    restored.backup(dir.path().join("backup-2")).unwrap();
    restored.close().unwrap();
    Ledger::restore(dir.path().join("backup-2"), dir.path().join("restored-2")).unwrap();
    let again = Ledger::open(config(&dir.path().join("restored-2"))).unwrap();
    assert_eq!(
        again.governance().instance().unwrap(),
        LedgerInstance {
            ledger_id: old.ledger_id.clone(),
            epoch: old.epoch + 2,
        }
    );
    again.close().unwrap();
    clean_path(&dir.path().join("restored-2"));
}

/// The engine deletes the restore marker only once the new epoch is committed; a marker
/// left by a crash in between raises the epoch once more, and the history still audits.
#[test]
fn a_restore_marker_left_by_a_crash_raises_the_epoch_again() {
    let keys = member_keys();
    let store = Arc::new(MemoryStore::new());
    let config = LedgerConfig::new("").genesis(genesis(&keys));
    let recovery = Recovery {
        committed_seqno: 0,
        discarded: None,
    };
    let start = |recovery: &Recovery| {
        let dyn_store: Arc<dyn Store> = store.clone();
        Ledger::with_store(dyn_store, recovery, &config).unwrap()
    };
    let ledger = start(&recovery);
    let first = ledger.governance().instance().unwrap();
    ledger.close().unwrap();
    let mut epochs = vec![first.epoch];
    for key in &keys[..2] {
        // As `RocksStore::restore` leaves it, and as a crash before the deletion would.
        store
            .write_group(&Group {
                meta: vec![(META_RESTORED.into(), Some(b"1".to_vec()))],
                commit: true,
                ..Group::default()
            })
            .unwrap();
        let recovery = store.simulate_crash();
        let ledger = start(&recovery);
        let instance = ledger.governance().instance().unwrap();
        assert_eq!(instance.ledger_id, first.ledger_id);
        epochs.push(instance.epoch);
        assert_eq!(store.meta(META_RESTORED).unwrap(), None);
        ack(&ledger, key);
        clean(&ledger);
        ledger.close().unwrap();
    }
    assert_eq!(epochs, [1, 2, 3]);
    let recovery = store.simulate_crash();
    let ledger = start(&recovery);
    assert_eq!(ledger.governance().instance().unwrap().epoch, 3);
    clean(&ledger);
}

/// A version-1 request for a ledger of `service_id`: what older code signed.
fn v1(key: &MemberKey, service_id: &str, counter: u64, request: Request) -> SignedRequest {
    let payload = RequestPayload {
        version: 1,
        service_id: service_id.to_owned(),
        ledger_id: None,
        epoch: None,
        member_id: key.member_id().to_owned(),
        counter,
        request,
    };
    let signed = SignedRequest::sign(key, &payload).unwrap();
    assert!(signed.payload.starts_with("{\"version\":1,\"service_id\":"));
    assert!(!signed.payload.contains("ledger_id"));
    signed
}

/// A ledger written by older code has no instance record and took version-1 requests; it
/// audits clean before and after this version opens it (which records the instance), and
/// from then on version 1 is refused.
#[test]
fn version_1_histories_audit_clean_and_version_1_is_refused_once_the_instance_is_recorded() {
    let keys = member_keys();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let config = || {
        LedgerConfig::new(&path)
            .durability(Durability::Buffered)
            .genesis(genesis(&keys))
    };
    let older = ledger_core::testing::as_older_code;

    // Older code: no instance, version-1 requests.
    let ledger = Ledger::open(older(config())).unwrap();
    let gov = ledger.governance();
    let service_id = gov.service_id().to_owned();
    assert!(matches!(gov.instance(), Err(Error::NotFound { .. })));
    assert!(matches!(
        gov.request_for(&keys[0]),
        Err(Error::NotFound { .. })
    ));
    for key in &keys[..2] {
        let digest = gov.state_digest().unwrap();
        let request = Request::Ack {
            seqno: digest.tx_id.seqno(),
            root: digest.root,
        };
        gov.ack(&v1(key, &service_id, 1, request)).unwrap();
    }
    let proposal = v1(
        &keys[0],
        &service_id,
        2,
        Request::Proposal {
            actions: make_administrator("alice"),
        },
    );
    let id = gov.propose(&proposal).unwrap().proposal_id;
    // A version-2 request names an instance the ledger does not record: refused.
    let invented = LedgerInstance {
        ledger_id: "ab".repeat(16),
        epoch: 1,
    };
    let named = keys[1]
        .request(&service_id, &invented, 2)
        .ballot(&id, Vote::Approve)
        .unwrap();
    let (expected, found) = wrong_instance(gov.ballot(&id, &named));
    assert_eq!(expected, "no ledger instance");
    assert_eq!(found, invented.to_string());
    let ballot = |key: &MemberKey, counter| {
        v1(
            key,
            &service_id,
            counter,
            Request::Ballot {
                proposal_id: id.clone(),
                vote: Vote::Approve,
            },
        )
    };
    gov.ballot(&id, &ballot(&keys[0], 3)).unwrap();
    let report = clean(&ledger);
    assert_eq!(report.governance.requests, 4);
    ledger.close().unwrap();
    clean_path(&path);

    // This version opens it: the instance is recorded (epoch 1) and the history, version-1
    // requests included, still audits clean.
    let ledger = Ledger::open(config()).unwrap();
    let gov = ledger.governance();
    let instance = gov.instance().unwrap();
    assert_eq!(instance.epoch, 1);
    let (expected, found) = wrong_instance(gov.ballot(&id, &ballot(&keys[1], 2)));
    assert_eq!(expected, instance.to_string());
    assert_eq!(found, "no ledger instance (a version-1 request)");
    // The member signs again, for the instance: accepted, and the proposal is decided.
    let resigned = gov
        .request_for(&keys[1])
        .unwrap()
        .ballot(&id, Vote::Approve)
        .unwrap();
    assert_eq!(
        gov.ballot(&id, &resigned).unwrap().state,
        ProposalState::Accepted
    );
    let report = clean(&ledger);
    assert_eq!(report.governance.requests, 5);
    assert_eq!(report.governance.accepted, 1);
    ledger.close().unwrap();
    clean_path(&path);
    // Opening it again as older code would changes nothing about the rule: the record
    // exists, so version 1 stays refused.
    let ledger = Ledger::open(older(config())).unwrap();
    assert_eq!(ledger.governance().instance().unwrap(), instance);
    wrong_instance(ledger.governance().ack(&v1(
        &keys[2],
        &service_id,
        1,
        Request::Ack {
            seqno: 1,
            root: [0; 32],
        },
    )));
    ledger.close().unwrap();
}

#[test]
fn payload_versions_are_parsed_strictly() {
    let key = &member_keys()[0];
    let instance = LedgerInstance {
        ledger_id: "0f".repeat(16),
        epoch: 4,
    };
    let good = key
        .request(&"11".repeat(32), &instance, 9)
        .withdraw(&"22".repeat(32))
        .unwrap();
    let payload = good.parse().unwrap();
    assert_eq!(payload.version, 2);
    assert_eq!(payload.instance(), Some(instance));
    let text = good.payload.clone();
    let ledger_field = format!("\"ledger_id\":\"{}\",", "0f".repeat(16));
    for (bad, why) in [
        (text.replace(&ledger_field, ""), "no ledger id"),
        (text.replace("\"epoch\":4,", ""), "no epoch"),
        (text.replace("\"epoch\":4,", "\"epoch\":0,"), "epoch 0"),
        (
            text.replace("\"epoch\":4,", "\"epoch\":null,"),
            "a null epoch",
        ),
        (text.replace("0f0f", "0F0F"), "upper-case hex"),
        (
            text.replace(&ledger_field, "\"ledger_id\":\"0f\","),
            "a short id",
        ),
        (
            text.replace("\"version\":2", "\"version\":1"),
            "version 1 naming an instance",
        ),
        (
            text.replace("\"version\":2", "\"version\":1")
                .replace(&ledger_field, "\"ledger_id\":null,")
                .replace("\"epoch\":4,", ""),
            "version 1 with a null id",
        ),
        (text.replace("\"version\":2", "\"version\":3"), "version 3"),
    ] {
        assert_ne!(bad, text, "{why}");
        let signed = SignedRequest::sign_text(key, RequestKind::Withdrawal, bad);
        assert!(
            matches!(signed.parse(), Err(Error::InvalidInput { .. })),
            "{why}: {:?}",
            signed.parse()
        );
    }
}

/// Which way a governance call went, comparable across ledgers whose proposal ids differ.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Recorded(Option<ProposalState>),
    Refused(String),
    Invalid,
    NotFound,
}

fn outcome<T>(result: Result<T, Error>, state: impl Fn(&T) -> Option<ProposalState>) -> Outcome {
    match result {
        Ok(v) => Outcome::Recorded(state(&v)),
        Err(Error::Forbidden { reason, .. }) => Outcome::Refused(
            format!("{reason:?}")
                .split([' ', '{'])
                .next()
                .unwrap()
                .into(),
        ),
        Err(Error::InvalidInput { .. }) => Outcome::Invalid,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(e) => panic!("{e}"),
    }
}

/// What a member means to do, independently of the ledger it does it on.
#[derive(Clone, Copy, Debug)]
enum Intent {
    Ack(usize),
    Propose(usize, u8),
    Ballot(usize, usize, Vote),
    Withdraw(usize, usize),
}

/// One ledger of the walk: the ledger, its directory and its proposals in order.
struct Node {
    name: &'static str,
    ledger: Ledger,
    path: std::path::PathBuf,
    proposals: Vec<String>,
}

impl Node {
    /// The request `intent` makes on this ledger, signed for it; `None` if it names a
    /// proposal this ledger does not have.
    fn sign(&self, keys: &[MemberKey], intent: Intent) -> Option<SignedRequest> {
        let gov = self.ledger.governance();
        let for_key = |m: usize| gov.request_for(&keys[m]).unwrap();
        Some(match intent {
            Intent::Ack(m) => for_key(m).ack(&gov.state_digest().unwrap()).unwrap(),
            Intent::Propose(m, user) => for_key(m)
                .propose(vec![Action::SetUser {
                    user_id: format!("user-{user}"),
                    role: ["Reader", "Administrator"][usize::from(user % 2)].into(),
                }])
                .unwrap(),
            Intent::Ballot(m, p, vote) => for_key(m).ballot(self.proposals.get(p)?, vote).unwrap(),
            Intent::Withdraw(m, p) => for_key(m).withdraw(self.proposals.get(p)?).unwrap(),
        })
    }

    /// Submits a request signed for this ledger to it.
    fn apply(&mut self, request: &SignedRequest) -> Outcome {
        let gov = self.ledger.governance();
        let payload = request.parse().unwrap();
        match &payload.request {
            Request::Ack { .. } => outcome(gov.ack(request), |_| None),
            Request::Proposal { .. } => {
                let result = gov.propose(request);
                if let Ok(o) = &result {
                    self.proposals.push(o.proposal_id.clone());
                }
                outcome(result, |o| Some(o.state))
            }
            Request::Ballot { proposal_id, .. } => {
                outcome(gov.ballot(proposal_id, request), |o| Some(o.state))
            }
            Request::Withdrawal { proposal_id } => {
                outcome(gov.withdraw(proposal_id, request), |o| Some(o.state))
            }
        }
    }
}

fn random_intent(rng: &mut impl Rng, proposals: usize) -> Intent {
    let member = rng.gen_range(0..3);
    let target = |rng: &mut dyn rand::RngCore| {
        if proposals == 0 {
            0
        } else {
            rng.gen_range(0..proposals)
        }
    };
    match rng.gen_range(0..10) {
        0 | 1 => Intent::Ack(member),
        2 | 3 => Intent::Propose(member, rng.gen()),
        4..=8 => {
            let vote = if rng.gen_bool(0.8) {
                Vote::Approve
            } else {
                Vote::Reject
            };
            Intent::Ballot(member, target(rng), vote)
        }
        _ => Intent::Withdraw(member, target(rng)),
    }
}

/// Seeded walks: twins A and B (one service identity, the same genesis members) take the
/// same intents and must answer alike, each refusing every request signed for the other;
/// at a random step A is backed up, and later restored as R, which refuses every request
/// A ever accepted and every request signed for A or B from then on (and they refuse R's).
/// The audit of every ledger is clean throughout and on disk at the end.
#[test]
fn seeded_walks_over_twins_and_a_restored_copy() {
    let keys = member_keys();
    let service = ServiceIdentity::generate("twins").unwrap();
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for seed in 0..4u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x1257a4ce + seed);
        let dir = tempfile::tempdir().unwrap();
        let config = |path: &Path| {
            LedgerConfig::new(path)
                .durability(Durability::Buffered)
                .sig_tx_interval(NonZeroU64::new(7).unwrap())
                .sig_interval(Duration::from_secs(3600))
                .service_identity(service.clone())
                .genesis(genesis(&keys))
        };
        let node = |name: &'static str| {
            let path = dir.path().join(name);
            Node {
                name,
                ledger: Ledger::open(config(&path)).unwrap(),
                path,
                proposals: Vec::new(),
            }
        };
        let mut nodes = vec![node("a"), node("b")];
        let steps = 30;
        let backup_at = rng.gen_range(0..steps / 2);
        let restore_at = rng.gen_range(backup_at + 1..steps);
        let backup_dir = dir.path().join("backup");
        let mut backup_proposals = 0;
        for step in 0..steps {
            if step == backup_at {
                nodes[0].ledger.backup(&backup_dir).unwrap();
                backup_proposals = nodes[0].proposals.len();
            }
            if step == restore_at {
                let path = dir.path().join("r");
                Ledger::restore(&backup_dir, &path).unwrap();
                let restored = Node {
                    name: "r",
                    ledger: Ledger::open(config(&path)).unwrap(),
                    path,
                    proposals: nodes[0].proposals[..backup_proposals].to_vec(),
                };
                let (a, r) = (nodes[0].ledger.governance(), restored.ledger.governance());
                let (ia, ir) = (a.instance().unwrap(), r.instance().unwrap());
                assert_eq!(
                    (ir.ledger_id.as_str(), ir.epoch),
                    (ia.ledger_id.as_str(), 2)
                );
                // Every request A ever accepted, before and after the backup point.
                for key in &keys {
                    for (_, request) in a.requests(key.member_id()).unwrap() {
                        wrong_instance(submit(&restored.ledger, &request));
                    }
                }
                nodes.push(restored);
            }
            let intent = random_intent(&mut rng, nodes[0].proposals.len());
            let mut outcomes = Vec::new();
            for i in 0..nodes.len() {
                let Some(request) = nodes[i].sign(&keys, intent) else {
                    outcomes.push(None);
                    continue;
                };
                for (j, other) in nodes.iter().enumerate() {
                    if j != i {
                        let result = submit(&other.ledger, &request);
                        let (_, found) = wrong_instance(result);
                        assert_eq!(
                            found,
                            nodes[i].ledger.governance().instance().unwrap().to_string(),
                            "seed {seed} step {step}: {} -> {}",
                            nodes[i].name,
                            other.name
                        );
                    }
                }
                outcomes.push(Some(nodes[i].apply(&request)));
            }
            assert_eq!(
                outcomes[0], outcomes[1],
                "seed {seed} step {step}: the twins answer {intent:?} differently"
            );
            for o in outcomes.into_iter().flatten() {
                *seen.entry(format!("{o:?}")).or_default() += 1;
            }
        }
        assert_eq!(nodes.len(), 3, "seed {seed}: the restored copy joined");
        for node in nodes {
            clean(&node.ledger);
            node.ledger.close().unwrap();
            clean_path(&node.path);
        }
    }
    // The walks reach decisions, not only refusals.
    let accepted = format!("{:?}", Outcome::Recorded(Some(ProposalState::Accepted)));
    assert!(seen.get(&accepted).is_some_and(|n| *n > 0), "{seen:?}");
    assert!(seen.keys().any(|k| k.starts_with("Refused")), "{seen:?}");
}
