//! User sessions: the ledger's API as seen by one user, every call checked against the
//! user's role (see [`super::roles`] for what each call requires).

use std::ops::RangeBounds;
use std::time::Duration;

use super::codec::shorten;
use super::exec::{self, StoreView};
use super::members::{MemberInfo, NodeInfo, UserInfo};
use super::proposals::Action;
use super::roles::{Decision, Operation, RoleDefinition};
use super::Constitution;
use crate::entry::TxKind;
use crate::ledger::{
    ConsistencyProof, Cursor, Entry, EntryIter, KeyHistoryIter, KeyHistoryPage, Page,
};
use crate::refusal::Refusal;
use crate::txid::TxStatus;
use crate::{CoseReceipt, Error, Ledger, Receipt, Transaction, TxId};

/// The ledger as one user sees it; get one from [`Ledger::session`].
///
/// Every call first reads the user's current role (so a role change or removal takes effect
/// on the next call) and fails with [`Error::Forbidden`] unless the role permits it.
///
/// ```
/// use ledger_core::governance::Refusal;
/// use ledger_core::{Error, Ledger};
/// let ledger = Ledger::in_memory()?;
/// ledger.governance().set_user("carol", "Reader")?;
/// let carol = ledger.session("carol")?;
/// assert!(matches!(
///     carol.append("audit", b"x"),
///     Err(Error::Forbidden { reason: Refusal::NotPermitted { .. }, .. })
/// ));
/// # Ok::<(), ledger_core::Error>(())
/// ```
#[derive(Debug)]
pub struct UserSession<'a> {
    ledger: &'a Ledger,
    user_id: String,
}

impl<'a> UserSession<'a> {
    pub(crate) fn new(ledger: &'a Ledger, user_id: &str) -> Result<Self, Error> {
        let session = Self {
            ledger,
            user_id: user_id.to_owned(),
        };
        session.current_role()?;
        Ok(session)
    }

    fn forbidden(&self, operation: String, reason: Refusal) -> Error {
        Error::Forbidden {
            principal: format!("user {}", shorten(&self.user_id)),
            operation,
            reason,
        }
    }

    /// The user's role name and definition now, without waiting for writes in flight: user
    /// changes wait until they are readable before returning, so they are seen here.
    fn current_role(&self) -> Result<(String, RoleDefinition), Error> {
        let store = &**self.ledger.store();
        let view = StoreView {
            store,
            as_of: store.state().last_seqno,
        };
        let Some(user) = exec::user(&view, &self.user_id)? else {
            return Err(self.forbidden("act".into(), Refusal::UnknownUser));
        };
        let definition = exec::role(&view, &user.role)?.unwrap_or_default();
        Ok((user.role, definition))
    }

    fn check(&self, operation: Operation, name: Option<&str>) -> Result<(), Error> {
        let (role, definition) = self.current_role()?;
        self.decide(&role, &definition, operation, name, "")
    }

    /// `definition`'s decision on `operation` (on `name`), as an error naming the operation
    /// after `context` when refused.
    fn decide(
        &self,
        role: &str,
        definition: &RoleDefinition,
        operation: Operation,
        name: Option<&str>,
        context: &str,
    ) -> Result<(), Error> {
        let what = || match name {
            Some(name) => format!("{context}{operation} on {:?}", shorten(name)),
            None => format!("{context}{operation}"),
        };
        let role = || role.to_owned();
        match definition.decide(operation, name) {
            Decision::Allowed => Ok(()),
            Decision::NotAllowed => {
                Err(self.forbidden(what(), Refusal::NotPermitted { role: role() }))
            }
            Decision::Denied => Err(self.forbidden(what(), Refusal::DeniedByRole { role: role() })),
        }
    }

    /// What reading `table` requires: `governance.read` for a reserved table, else
    /// `tables.read` on it.
    fn table_read(table: &str) -> (Operation, Option<&str>) {
        if crate::state::is_reserved(table) {
            (Operation::ReadGovernance, None)
        } else {
            (Operation::ReadTables, Some(table))
        }
    }

    fn check_table_read(&self, table: &str) -> Result<(), Error> {
        let (operation, name) = Self::table_read(table);
        self.check(operation, name)
    }

    /// The session's user id.
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The user's current role.
    ///
    /// # Errors
    ///
    /// [`Refusal::UnknownUser`] if the user was removed; store or decoding failures.
    pub fn role(&self) -> Result<String, Error> {
        self.current_role().map(|(role, _)| role)
    }

    /// [`Ledger::append`], requiring `entries.append` on `collection`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::append`].
    pub fn append(&self, collection: &str, contents: &[u8]) -> Result<TxId, Error> {
        self.check(Operation::AppendEntries, Some(collection))?;
        self.ledger.append(collection, contents)
    }

    /// [`Ledger::submit`], requiring `entries.append` on every collection it appends to and
    /// `tables.write` on every table it writes.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::submit`].
    pub fn submit(&self, tx: Transaction) -> Result<TxId, Error> {
        for collection in tx.appends.keys() {
            self.check(Operation::AppendEntries, Some(collection))?;
        }
        let mut last_table: Option<&str> = None;
        for (table, _) in tx.writes.keys() {
            if last_table != Some(table.as_str()) {
                self.check(Operation::WriteTables, Some(table))?;
                last_table = Some(table);
            }
        }
        self.ledger.submit(tx)
    }

    /// [`Ledger::entry`], requiring `entries.read` on `collection`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::entry`].
    pub fn entry(&self, collection: &str, tx: TxId) -> Result<Entry, Error> {
        self.check(Operation::ReadEntries, Some(collection))?;
        self.ledger.entry(collection, tx)
    }

    /// [`Ledger::latest`], requiring `entries.read` on `collection`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::latest`].
    pub fn latest(&self, collection: &str) -> Result<Option<Entry>, Error> {
        self.check(Operation::ReadEntries, Some(collection))?;
        self.ledger.latest(collection)
    }

    /// [`Ledger::entries_page`], requiring `entries.read` on `collection`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::entries_page`].
    pub fn entries_page(
        &self,
        collection: &str,
        range: impl RangeBounds<TxId>,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, Error> {
        self.check(Operation::ReadEntries, Some(collection))?;
        self.ledger.entries_page(collection, range, cursor, limit)
    }

    /// [`Ledger::entries`], requiring `entries.read` on `collection` (checked once, when
    /// the iterator is created).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    pub fn entries(
        &self,
        collection: &str,
        range: impl RangeBounds<TxId>,
    ) -> Result<EntryIter<'a>, Error> {
        self.check(Operation::ReadEntries, Some(collection))?;
        Ok(self.ledger.entries(collection, range))
    }

    /// [`Ledger::table_get`], requiring `tables.read` on `table` (`governance.read` for a
    /// reserved `gov.`/`internal.` table).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::table_get`].
    pub fn table_get(&self, table: &str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        self.check_table_read(table)?;
        self.ledger.table_get(table, key)
    }

    /// [`Ledger::table_get_at`], with [`UserSession::table_get`]'s permission.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::table_get_at`].
    pub fn table_get_at(
        &self,
        table: &str,
        key: &[u8],
        at: TxId,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.check_table_read(table)?;
        self.ledger.table_get_at(table, key, at)
    }

    /// [`Ledger::table_history_page`], with [`UserSession::table_get`]'s permission.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::table_history_page`].
    pub fn table_history_page(
        &self,
        table: &str,
        key: &[u8],
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<KeyHistoryPage, Error> {
        self.check_table_read(table)?;
        self.ledger.table_history_page(table, key, cursor, limit)
    }

    /// [`Ledger::table_history`], with [`UserSession::table_get`]'s permission (checked
    /// once, when the iterator is created).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    pub fn table_history(&self, table: &str, key: &[u8]) -> Result<KeyHistoryIter<'a>, Error> {
        self.check_table_read(table)?;
        Ok(self.ledger.table_history(table, key))
    }

    /// [`Ledger::status`], requiring `status.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    pub fn status(&self, tx: TxId) -> Result<TxStatus, Error> {
        self.check(Operation::ReadStatus, None)?;
        Ok(self.ledger.status(tx))
    }

    /// [`Ledger::wait_for_commit`], requiring `status.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::wait_for_commit`].
    pub fn wait_for_commit(&self, tx: TxId, timeout: Duration) -> Result<TxStatus, Error> {
        self.check(Operation::ReadStatus, None)?;
        self.ledger.wait_for_commit(tx, timeout)
    }

    /// [`Ledger::receipt`], requiring `receipts.read` and read permission on everything `tx`
    /// wrote, since a receipt reveals the transaction's claims digest and commit evidence:
    /// `entries.read` on every collection it appended to, [`UserSession::table_get`]'s
    /// permission on every table it wrote, and `governance.read` for a governance
    /// transaction. A signature transaction writes nothing readable, so its receipt needs
    /// `receipts.read` alone.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] naming the first permission missing; [`Error::NotCommitted`]
    /// unless `tx` is Committed (before the write checks, as [`Ledger::receipt`] reports it);
    /// otherwise as [`Ledger::receipt`].
    pub fn receipt(&self, tx: TxId) -> Result<Receipt, Error> {
        self.may_read_receipt(tx)?;
        self.ledger.receipt(tx)
    }

    /// [`Ledger::cose_receipt`], with the permissions of [`UserSession::receipt`] (a COSE
    /// receipt reveals what a JSON one does).
    ///
    /// # Errors
    ///
    /// As [`UserSession::receipt`], otherwise as [`Ledger::cose_receipt`].
    pub fn cose_receipt(&self, tx: TxId) -> Result<CoseReceipt, Error> {
        self.may_read_receipt(tx)?;
        self.ledger.cose_receipt(tx)
    }

    /// The checks of [`UserSession::receipt`].
    fn may_read_receipt(&self, tx: TxId) -> Result<(), Error> {
        let (role, definition) = self.current_role()?;
        self.decide(&role, &definition, Operation::ReadReceipts, None, "")?;
        // Committed is final while the ledger is open, so the transaction checked below is
        // the one the receipt is built for.
        let status = self.ledger.status(tx);
        if status != TxStatus::Committed {
            return Err(Error::NotCommitted { tx, status });
        }
        let written = self.ledger.written_by(tx)?;
        let context = format!("read the receipt of {tx}, which needs ");
        if written.kind == TxKind::Governance {
            self.decide(
                &role,
                &definition,
                Operation::ReadGovernance,
                None,
                &context,
            )?;
        }
        for collection in &written.collections {
            self.decide(
                &role,
                &definition,
                Operation::ReadEntries,
                Some(collection),
                &context,
            )?;
        }
        for table in &written.tables {
            let (operation, name) = Self::table_read(table);
            self.decide(&role, &definition, operation, name, &context)?;
        }
        Ok(())
    }

    /// [`Ledger::consistency_proof`], requiring `receipts.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`Ledger::consistency_proof`].
    pub fn consistency_proof(&self, from: TxId, to: TxId) -> Result<ConsistencyProof, Error> {
        self.check(Operation::ReadReceipts, None)?;
        self.ledger.consistency_proof(from, to)
    }

    /// [`Ledger::service_certificate_pem`], requiring `receipts.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`].
    pub fn service_certificate_pem(&self) -> Result<String, Error> {
        self.check(Operation::ReadReceipts, None)?;
        Ok(self.ledger.service_certificate_pem())
    }

    /// The constitution in force, requiring `governance.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`super::Governance::constitution`].
    pub fn constitution(&self) -> Result<Constitution, Error> {
        self.check(Operation::ReadGovernance, None)?;
        self.ledger.governance().constitution()
    }

    /// The consortium, requiring `governance.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`super::Governance::members`].
    pub fn members(&self) -> Result<Vec<MemberInfo>, Error> {
        self.check(Operation::ReadGovernance, None)?;
        self.ledger.governance().members()
    }

    /// This node's information, requiring `governance.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`super::Governance::node_info`].
    pub fn node_info(&self) -> Result<NodeInfo, Error> {
        self.check(Operation::ReadGovernance, None)?;
        self.ledger.governance().node_info()
    }

    /// One user, requiring `users.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`super::Governance::user`].
    pub fn user(&self, user_id: &str) -> Result<Option<UserInfo>, Error> {
        self.check(Operation::ReadUsers, None)?;
        self.ledger.governance().user(user_id)
    }

    /// Every user, requiring `users.read`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`], or as [`super::Governance::users`].
    pub fn users(&self) -> Result<Vec<UserInfo>, Error> {
        self.check(Operation::ReadUsers, None)?;
        self.ledger.governance().users()
    }

    /// Creates or updates user `user_id` with `role`, requiring `users.write`, `role` within
    /// the caller's own role, and, for an existing user, its current role within the
    /// caller's too (see `roles.rs`, `# Ranking`).
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] ([`Refusal::RoleAboveOwn`] for the ranking);
    /// [`Error::InvalidInput`] for a malformed id or an undefined role; store failures.
    pub fn set_user(&self, user_id: &str, role: &str) -> Result<TxId, Error> {
        self.manage(
            user_id,
            Some(role),
            Action::SetUser {
                user_id: user_id.to_owned(),
                role: role.to_owned(),
            },
        )
    }

    /// Deletes user `user_id`, requiring `users.write` and its role within the caller's.
    ///
    /// # Errors
    ///
    /// As [`UserSession::set_user`], plus [`Error::InvalidInput`] (`what = "user change"`,
    /// [`crate::Problem::Malformed`]) if there is no such user.
    pub fn remove_user(&self, user_id: &str) -> Result<TxId, Error> {
        self.manage(
            user_id,
            None,
            Action::RemoveUser {
                user_id: user_id.to_owned(),
            },
        )
    }

    fn manage(&self, user_id: &str, granted: Option<&str>, action: Action) -> Result<TxId, Error> {
        let gov = self.ledger.governance();
        let _decision = gov.lock();
        self.check(Operation::ManageUsers, None)?;
        let view = gov.current_view()?;
        let (own_name, own) = self.current_role()?;
        let what = || format!("{} {:?}", action.name(), shorten(user_id));
        if let Some(granted) = granted {
            let definition = exec::check_user_change(&view, user_id, granted)?;
            if !definition.is_within(&own) {
                return Err(self.forbidden(
                    what(),
                    Refusal::RoleAboveOwn {
                        role: granted.to_owned(),
                        own: own_name,
                    },
                ));
            }
        }
        if let Some(target) = exec::user(&view, user_id)? {
            let held = exec::role(&view, &target.role)?.unwrap_or_default();
            if !held.is_within(&own) {
                return Err(self.forbidden(
                    what(),
                    Refusal::RoleAboveOwn {
                        role: target.role,
                        own: own_name,
                    },
                ));
            }
        }
        let writes = exec::apply_actions(&view, &[action], false)?
            .map_err(|f| f.into_error("user change"))?;
        gov.record_writes(writes)
    }
}
