#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Users and roles: every public user-session operation run under the three built-in roles
//! and two custom ones (a deny overriding an allow; a collection-restricted role), checked
//! allowed or forbidden with the right reason; user managers held to their own rank;
//! role changes and removals taking effect on the next call.

use std::time::Duration;

use ledger_core::governance::{Action, Refusal, RoleDefinition, UserSession};
use ledger_core::{Error, Ledger, Transaction, TxId};

const WAIT: Duration = Duration::from_secs(30);

/// What a role must get for an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Runs and succeeds.
    Ok,
    /// Forbidden: no permission matches.
    No,
    /// Forbidden: allowed, but a deny matches.
    Deny,
}
use ledger_core::{audit_ledger, AuditOptions, AuditReport};
use Expect::{Deny, No, Ok};

/// The audit of everything recorded so far: governance findings are among its findings and
/// its governance summary counts the requests it replayed.
fn verify_governance(ledger: &Ledger) -> Result<AuditReport, Error> {
    ledger.flush()?;
    audit_ledger(ledger, &AuditOptions::default())
}

const ROLES: [&str; 5] = [
    "Reader",
    "Contributor",
    "Administrator",
    "NoAuditAppend",
    "AuditOnly",
];

struct Fixture {
    ledger: Ledger,
    audit_tx: TxId,
    other_tx: TxId,
    kv_tx: TxId,
    sig_from: TxId,
    sig_to: TxId,
}

fn role(allow: &[&str], deny: &[&str]) -> RoleDefinition {
    RoleDefinition::new(
        allow.iter().map(|p| p.parse().unwrap()),
        deny.iter().map(|p| p.parse().unwrap()),
    )
}

fn fixture() -> Fixture {
    let ledger = Ledger::in_memory().unwrap();
    let gov = ledger.governance();
    let mut actions = vec![
        Action::SetRole {
            role: "NoAuditAppend".into(),
            definition: role(
                &[
                    "entries.read",
                    "entries.append",
                    "tables.read",
                    "status.read",
                    "receipts.read",
                ],
                &["entries.append:audit"],
            ),
        },
        Action::SetRole {
            role: "AuditOnly".into(),
            definition: role(
                &["entries.read:audit", "entries.append:audit", "status.read"],
                &[],
            ),
        },
    ];
    for r in ROLES {
        actions.push(Action::SetUser {
            user_id: format!("user-{r}"),
            role: r.into(),
        });
        actions.push(Action::SetUser {
            user_id: format!("victim-{r}"),
            role: "Reader".into(),
        });
    }
    gov.administer(&actions).unwrap();

    let audit_tx = ledger.append("audit", b"a").unwrap();
    let other_tx = ledger.append("other", b"o").unwrap();
    let mut tx = Transaction::new();
    tx.put("kv", b"k", b"v");
    let kv_tx = ledger.submit(tx).unwrap();
    ledger.flush().unwrap();
    let sig_from = gov.state_digest().unwrap().tx_id;
    ledger.append("other", b"more").unwrap();
    ledger.flush().unwrap();
    let sig_to = gov.state_digest().unwrap().tx_id;
    assert!(sig_from < sig_to);
    Fixture {
        ledger,
        audit_tx,
        other_tx,
        kv_tx,
        sig_from,
        sig_to,
    }
}

type Op = fn(&Fixture, &UserSession<'_>, &str) -> Result<(), Error>;

fn operations() -> Vec<(&'static str, Op, [Expect; 5])> {
    //                                                   Reader Contr Admin NoAud AudOnly
    vec![
        (
            "append audit",
            |_, s, _| s.append("audit", b"x").map(drop),
            [No, Ok, Ok, Deny, Ok],
        ),
        (
            "append other",
            |_, s, _| s.append("other", b"x").map(drop),
            [No, Ok, Ok, Ok, No],
        ),
        (
            "submit audit+kv",
            |_, s, _| {
                let mut tx = Transaction::new();
                tx.append("audit", b"x").put("kv", b"k2", b"v2");
                s.submit(tx).map(drop)
            },
            [No, Ok, Ok, Deny, No],
        ),
        (
            "entry audit",
            |f, s, _| s.entry("audit", f.audit_tx).map(drop),
            [Ok, Ok, Ok, Ok, Ok],
        ),
        (
            "entry other",
            |f, s, _| s.entry("other", f.other_tx).map(drop),
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "latest audit",
            |_, s, _| s.latest("audit").map(|e| assert!(e.is_some())),
            [Ok, Ok, Ok, Ok, Ok],
        ),
        (
            "entries_page audit",
            |_, s, _| {
                s.entries_page("audit", .., None, 10)
                    .map(|p| assert!(!p.entries.is_empty()))
            },
            [Ok, Ok, Ok, Ok, Ok],
        ),
        (
            "entries audit",
            |_, s, _| {
                s.entries("audit", ..)?
                    .collect::<Result<Vec<_>, _>>()
                    .map(drop)
            },
            [Ok, Ok, Ok, Ok, Ok],
        ),
        (
            "entries other",
            |_, s, _| {
                s.entries("other", ..)?
                    .collect::<Result<Vec<_>, _>>()
                    .map(drop)
            },
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "table_get kv",
            |_, s, _| {
                s.table_get("kv", b"k")
                    .map(|v| assert_eq!(v.as_deref(), Some(&b"v"[..])))
            },
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "table_get_at kv",
            |f, s, _| s.table_get_at("kv", b"k", f.kv_tx).map(drop),
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "table_history kv",
            |_, s, _| {
                s.table_history("kv", b"k")?
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| assert_eq!(v.len(), 1))
            },
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "table_history_page kv",
            |_, s, _| {
                s.table_history_page("kv", b"k", None, 10)
                    .map(|p| assert_eq!(p.versions.len(), 1))
            },
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "table_get gov.users",
            |_, s, _| s.table_get("gov.users", b"user-Reader").map(drop),
            [Ok, Ok, Ok, No, No],
        ),
        (
            "status",
            |f, s, _| s.status(f.audit_tx).map(drop),
            [Ok, Ok, Ok, Ok, Ok],
        ),
        (
            "wait_for_commit",
            |f, s, _| s.wait_for_commit(f.audit_tx, WAIT).map(drop),
            [Ok, Ok, Ok, Ok, Ok],
        ),
        (
            "receipt",
            |f, s, _| {
                let receipt = s.receipt(f.audit_tx)?;
                receipt.verify(&f.ledger.service_certificate_pem())
            },
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "consistency_proof",
            |f, s, _| s.consistency_proof(f.sig_from, f.sig_to)?.verify(),
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "service_certificate_pem",
            |_, s, _| s.service_certificate_pem().map(drop),
            [Ok, Ok, Ok, Ok, No],
        ),
        (
            "constitution",
            |_, s, _| s.constitution().map(drop),
            [Ok, Ok, Ok, No, No],
        ),
        (
            "members",
            |_, s, _| s.members().map(|m| assert!(m.is_empty())),
            [Ok, Ok, Ok, No, No],
        ),
        (
            "node_info",
            |_, s, _| s.node_info().map(drop),
            [Ok, Ok, Ok, No, No],
        ),
        (
            "user",
            |_, s, _| s.user("user-Reader").map(|u| assert!(u.is_some())),
            [No, No, Ok, No, No],
        ),
        (
            "users",
            |_, s, _| s.users().map(|u| assert!(u.len() >= 10)),
            [No, No, Ok, No, No],
        ),
        (
            "set_user",
            |_, s, r| s.set_user(&format!("made-by-{r}"), "Reader").map(drop),
            [No, No, Ok, No, No],
        ),
        (
            "remove_user",
            |_, s, r| s.remove_user(&format!("victim-{r}")).map(drop),
            [No, No, Ok, No, No],
        ),
    ]
}

#[test]
fn role_matrix() {
    let f = fixture();
    let mut checked = 0;
    for (column, role_name) in ROLES.into_iter().enumerate() {
        let session = f.ledger.session(&format!("user-{role_name}")).unwrap();
        assert_eq!(session.role().unwrap(), role_name);
        for (name, op, expect) in operations() {
            let result = op(&f, &session, role_name);
            match (expect[column], result) {
                (Ok, Result::Ok(())) => {}
                (
                    No,
                    Err(Error::Forbidden {
                        reason: Refusal::NotPermitted { role },
                        principal,
                        ..
                    }),
                )
                | (
                    Deny,
                    Err(Error::Forbidden {
                        reason: Refusal::DeniedByRole { role },
                        principal,
                        ..
                    }),
                ) => {
                    assert_eq!(role, role_name);
                    assert_eq!(principal, format!("user user-{role_name}"));
                }
                (want, got) => panic!("{role_name} / {name}: expected {want:?}, got {got:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * operations().len());
    // What the Administrator did is on the ledger; the audit accepts direct user changes.
    let gov = f.ledger.governance();
    assert!(gov.user("made-by-Administrator").unwrap().is_some());
    assert!(gov.user("victim-Administrator").unwrap().is_none());
    assert!(gov.user("victim-Reader").unwrap().is_some());
    assert!(verify_governance(&f.ledger).unwrap().is_clean());
}

#[test]
fn unknown_users_get_no_session() {
    let ledger = Ledger::in_memory().unwrap();
    assert!(matches!(
        ledger.session("nobody"),
        Err(Error::Forbidden {
            reason: Refusal::UnknownUser,
            ..
        })
    ));
}

#[test]
fn user_managers_stay_within_their_own_role() {
    let ledger = Ledger::in_memory().unwrap();
    let gov = ledger.governance();
    gov.administer(&[
        Action::SetRole {
            role: "UserManager".into(),
            definition: role(
                &[
                    "entries.read",
                    "tables.read",
                    "receipts.read",
                    "status.read",
                    "governance.read",
                    "users.read",
                    "users.write",
                ],
                &[],
            ),
        },
        Action::SetUser {
            user_id: "admin".into(),
            role: "Administrator".into(),
        },
        Action::SetUser {
            user_id: "admin2".into(),
            role: "Administrator".into(),
        },
        Action::SetUser {
            user_id: "manager".into(),
            role: "UserManager".into(),
        },
    ])
    .unwrap();
    let admin = ledger.session("admin").unwrap();
    let manager = ledger.session("manager").unwrap();

    // Administrators manage any user, other administrators included.
    admin.set_user("carol", "Contributor").unwrap();
    admin.set_user("admin2", "Contributor").unwrap();
    admin.set_user("admin2", "Administrator").unwrap();
    // An undefined role is invalid input, not a privilege question.
    assert!(matches!(
        admin.set_user("dave", "NoSuchRole"),
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        admin.remove_user("nobody"),
        Err(Error::InvalidInput { .. })
    ));

    // A user manager grants only roles within its own...
    manager.set_user("erin", "Reader").unwrap();
    manager.set_user("erin2", "UserManager").unwrap();
    for above in ["Contributor", "Administrator"] {
        assert_eq!(
            match manager.set_user("frank", above) {
                Err(Error::Forbidden { reason, .. }) => reason,
                other => panic!("{other:?}"),
            },
            Refusal::RoleAboveOwn {
                role: above.into(),
                own: "UserManager".into()
            }
        );
    }
    // ...and cannot touch users above it, even to demote or remove them.
    for result in [
        manager.set_user("carol", "Reader"),
        manager.remove_user("admin"),
    ] {
        assert!(matches!(
            result,
            Err(Error::Forbidden {
                reason: Refusal::RoleAboveOwn { .. },
                ..
            })
        ));
    }
    manager.remove_user("erin").unwrap();
    assert!(gov.user("frank").unwrap().is_none());
    assert_eq!(gov.user("carol").unwrap().unwrap().role, "Contributor");

    // Role changes and removals take effect on the very next call of an open session.
    let carol = ledger.session("carol").unwrap();
    carol.append("audit", b"1").unwrap();
    admin.set_user("carol", "Reader").unwrap();
    assert!(matches!(
        carol.append("audit", b"2"),
        Err(Error::Forbidden {
            reason: Refusal::NotPermitted { .. },
            ..
        })
    ));
    admin.remove_user("carol").unwrap();
    assert!(matches!(
        carol.status(TxId::new(1, 1).unwrap()),
        Err(Error::Forbidden {
            reason: Refusal::UnknownUser,
            ..
        })
    ));
    // Removing a role still held is refused.
    assert!(matches!(
        gov.administer(&[Action::RemoveRole {
            role: "UserManager".into()
        }]),
        Err(Error::InvalidInput { .. })
    ));
    assert!(verify_governance(&ledger).unwrap().is_clean());
}

/// The refusal of a forbidden call, or a panic naming what happened instead.
fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> (Refusal, String) {
    match result {
        Err(Error::Forbidden {
            reason, operation, ..
        }) => (reason, operation),
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

/// Issue 11, item 5: a receipt reveals its transaction's claims digest and commit evidence,
/// so it needs read permission on every collection and table the transaction wrote
/// (`governance.read` for a governance transaction), as reading the entries does.
#[test]
fn receipts_respect_collection_and_table_scopes() {
    let ledger = Ledger::in_memory().unwrap();
    let gov = ledger.governance();
    gov.administer(&[
        Action::SetRole {
            role: "PublicReceipts".into(),
            definition: role(&["entries.read:public", "receipts.read"], &[]),
        },
        Action::SetRole {
            role: "PublicKvReceipts".into(),
            definition: role(
                &["entries.read:public", "tables.read:kv", "receipts.read"],
                &[],
            ),
        },
        Action::SetRole {
            role: "AllButSecret".into(),
            definition: role(
                &[
                    "entries.read",
                    "tables.read",
                    "receipts.read",
                    "governance.read",
                ],
                &["entries.read:secret"],
            ),
        },
        Action::SetUser {
            user_id: "pub".into(),
            role: "PublicReceipts".into(),
        },
        Action::SetUser {
            user_id: "kv".into(),
            role: "PublicKvReceipts".into(),
        },
        Action::SetUser {
            user_id: "most".into(),
            role: "AllButSecret".into(),
        },
        Action::SetUser {
            user_id: "reader".into(),
            role: "Reader".into(),
        },
    ])
    .unwrap();
    let public_tx = ledger.append("public", b"p").unwrap();
    let secret_tx = ledger.append("secret", b"s").unwrap();
    let mut tx = Transaction::new();
    tx.append("public", b"p2").append("secret", b"s2");
    let both_tx = ledger.submit(tx).unwrap();
    let mut tx = Transaction::new();
    tx.put("kv", b"k", b"v");
    let kv_tx = ledger.submit(tx).unwrap();
    let mut tx = Transaction::new();
    tx.append("public", b"p3").put("kv", b"k", b"v2");
    let public_kv_tx = ledger.submit(tx).unwrap();
    let gov_tx = gov.set_user("someone", "Reader").unwrap();
    // A signature transaction, and a later one that commits it.
    let sig_tx = gov.state_digest().unwrap().tx_id;
    ledger.append("public", b"after").unwrap();
    ledger.flush().unwrap();
    let cert = ledger.service_certificate_pem();

    let public = ledger.session("pub").unwrap();
    public.receipt(public_tx).unwrap().verify(&cert).unwrap();
    // A signature transaction writes nothing readable: receipts.read alone suffices.
    public.receipt(sig_tx).unwrap().verify(&cert).unwrap();
    let role_name = || "PublicReceipts".to_owned();
    let (reason, operation) = refused(public.receipt(secret_tx));
    assert_eq!(reason, Refusal::NotPermitted { role: role_name() });
    assert!(
        operation.contains("entries.read") && operation.contains("secret"),
        "{operation}"
    );
    // Every collection counts, not only the first readable one.
    assert_eq!(
        refused(public.receipt(both_tx)).0,
        Refusal::NotPermitted { role: role_name() }
    );
    // A table write needs tables.read on the table.
    let (reason, operation) = refused(public.receipt(kv_tx));
    assert_eq!(reason, Refusal::NotPermitted { role: role_name() });
    assert!(
        operation.contains("tables.read") && operation.contains("kv"),
        "{operation}"
    );
    // A governance transaction needs governance.read.
    let (reason, operation) = refused(public.receipt(gov_tx));
    assert_eq!(reason, Refusal::NotPermitted { role: role_name() });
    assert!(operation.contains("governance.read"), "{operation}");
    // Entries are refused alike, so the receipt reveals nothing the entry read does not.
    assert_eq!(
        refused(public.entry("secret", secret_tx)).0,
        Refusal::NotPermitted { role: role_name() }
    );

    let kv = ledger.session("kv").unwrap();
    kv.receipt(kv_tx).unwrap().verify(&cert).unwrap();
    kv.receipt(public_kv_tx).unwrap().verify(&cert).unwrap();
    assert!(matches!(
        refused(kv.receipt(secret_tx)).0,
        Refusal::NotPermitted { .. }
    ));
    assert!(matches!(
        refused(kv.receipt(gov_tx)).0,
        Refusal::NotPermitted { .. }
    ));

    // A deny on one collection refuses receipts of its transactions, and only those.
    let most = ledger.session("most").unwrap();
    assert_eq!(
        refused(most.receipt(secret_tx)).0,
        Refusal::DeniedByRole {
            role: "AllButSecret".into()
        }
    );
    assert_eq!(
        refused(most.receipt(both_tx)).0,
        Refusal::DeniedByRole {
            role: "AllButSecret".into()
        }
    );
    for id in [public_tx, kv_tx, public_kv_tx, gov_tx, sig_tx] {
        most.receipt(id).unwrap().verify(&cert).unwrap();
    }

    // Readers read everything, so they get every receipt.
    let reader = ledger.session("reader").unwrap();
    for id in [
        public_tx,
        secret_tx,
        both_tx,
        kv_tx,
        public_kv_tx,
        gov_tx,
        sig_tx,
    ] {
        reader.receipt(id).unwrap().verify(&cert).unwrap();
    }
}
