//! Users' roles: what each [`super::UserSession`] operation requires, the built-in roles, and
//! custom role definitions.
//!
//! A role is a list of allowed permissions and a list of denied ones. An operation is
//! permitted when some allowed permission matches it and no denied permission does: deny
//! wins. A permission names an [`Operation`] and, for operations on a collection or table,
//! optionally restricts it to one name or to names with a given prefix.
//!
//! # Format
//!
//! A permission is written `<operation>`, `<operation>:<name>` (that collection or table
//! only) or `<operation>:<prefix>*` (names beginning with `<prefix>`). Operations:
//!
//! | operation | session calls | scoped by |
//! | --- | --- | --- |
//! | `entries.read` | `entry`, `latest`, `entries`, `entries_page` | collection |
//! | `entries.append` | `append`, `submit` (each collection appended) | collection |
//! | `tables.read` | `table_get`, `table_get_at`, `table_history`, `table_history_page` | table |
//! | `tables.write` | `submit` (each table written) | table |
//! | `receipts.read` | `receipt`, `consistency_proof`, `service_certificate_pem` | — |
//! | `status.read` | `status`, `wait_for_commit` | — |
//! | `users.read` | `user`, `users` | — |
//! | `users.write` | `set_user`, `remove_user` | — |
//! | `governance.read` | `constitution`, `members`, `node_info`, reading `gov.`/`internal.` tables | — |
//!
//! A receipt reveals its transaction's claims digest and commit evidence, so `receipt` also
//! needs what reading the transaction's writes needs: `entries.read` on every collection it
//! appended to, `tables.read` on every table it wrote (`governance.read` for a `gov.` or
//! `internal.` table), and `governance.read` for a governance transaction. A signature
//! transaction writes nothing readable; its receipt needs `receipts.read` alone. A
//! consistency proof reveals only signed roots and needs `receipts.read` alone.
//!
//! A role definition is stored in `gov.roles` under its name as the JSON object
//! `{"allow": ["<permission>", ...], "deny": ["<permission>", ...]}`. Built-in roles are not
//! stored; their definitions are fixed:
//!
//! | role | allow |
//! | --- | --- |
//! | `Reader` | `entries.read`, `tables.read`, `receipts.read`, `status.read`, `governance.read` |
//! | `Contributor` | Reader's, `entries.append`, `tables.write` |
//! | `Administrator` | Contributor's, `users.read`, `users.write` |
//!
//! Role names are 1 to [`MAX_ROLE_NAME_LEN`] characters from `A-Z a-z 0-9 _ - .`; a custom
//! role may not take a built-in name (compared case-insensitively).
//!
//! # Ranking
//!
//! A user with `users.write` manages users whose role is *within* its own, and grants only
//! such roles: role A is within role B when everything A allows, B allows too (A's denies
//! are ignored, B's count). This is how an Administrator cannot create a user above itself,
//! and a custom user-managing role cannot hand out more than it has.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::codec::shorten;
use crate::transaction::MAX_NAME_LEN;
use crate::{Error, Problem};

/// Longest role name.
pub(crate) const MAX_ROLE_NAME_LEN: usize = 64;
/// Most permissions in one allow or deny list.
pub(crate) const MAX_PERMISSIONS: usize = 256;

/// Something a user session can do (see the module's `# Format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Read entries of a collection.
    ReadEntries,
    /// Append entries to a collection.
    AppendEntries,
    /// Read keyed tables.
    ReadTables,
    /// Write keyed tables.
    WriteTables,
    /// Get receipts and consistency proofs.
    ReadReceipts,
    /// Read transaction status.
    ReadStatus,
    /// Read users.
    ReadUsers,
    /// Create, update and delete users.
    ManageUsers,
    /// Read governance state: constitution, members, nodes, reserved tables.
    ReadGovernance,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 9] = [
        Operation::ReadEntries,
        Operation::AppendEntries,
        Operation::ReadTables,
        Operation::WriteTables,
        Operation::ReadReceipts,
        Operation::ReadStatus,
        Operation::ReadUsers,
        Operation::ManageUsers,
        Operation::ReadGovernance,
    ];

    /// The operation's name in permissions.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReadEntries => "entries.read",
            Operation::AppendEntries => "entries.append",
            Operation::ReadTables => "tables.read",
            Operation::WriteTables => "tables.write",
            Operation::ReadReceipts => "receipts.read",
            Operation::ReadStatus => "status.read",
            Operation::ReadUsers => "users.read",
            Operation::ManageUsers => "users.write",
            Operation::ReadGovernance => "governance.read",
        }
    }

    /// Whether permissions for this operation may name a collection or table.
    pub fn is_scoped(self) -> bool {
        matches!(
            self,
            Operation::ReadEntries
                | Operation::AppendEntries
                | Operation::ReadTables
                | Operation::WriteTables
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == text)
            .ok_or_else(|| Error::malformed("operation", shorten(text), "unknown operation"))
    }
}

/// Which collections or tables a permission covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// All of them.
    Any,
    /// Exactly this one.
    Name(String),
    /// Those whose names begin with this prefix.
    Prefix(String),
}

impl Scope {
    fn matches(&self, name: &str) -> bool {
        match self {
            Scope::Any => true,
            Scope::Name(n) => n == name,
            Scope::Prefix(p) => name.starts_with(p.as_str()),
        }
    }

    /// Whether every name `other` matches, `self` matches.
    fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Any, _) => true,
            (_, Scope::Any) => false,
            (Scope::Name(a), Scope::Name(b)) => a == b,
            (Scope::Name(_), Scope::Prefix(_)) => false,
            (Scope::Prefix(p), Scope::Name(b)) => b.starts_with(p.as_str()),
            (Scope::Prefix(p), Scope::Prefix(q)) => q.starts_with(p.as_str()),
        }
    }

    /// Whether some name matches both.
    fn intersects(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::Any, _) | (_, Scope::Any) => true,
            (Scope::Name(a), Scope::Name(b)) => a == b,
            (Scope::Name(a), Scope::Prefix(p)) | (Scope::Prefix(p), Scope::Name(a)) => {
                a.starts_with(p.as_str())
            }
            (Scope::Prefix(p), Scope::Prefix(q)) => {
                p.starts_with(q.as_str()) || q.starts_with(p.as_str())
            }
        }
    }
}

/// An operation, optionally restricted to some collections or tables.
///
/// ```
/// use ledger_core::governance::{Operation, Permission};
/// let p: Permission = "entries.append:audit-*".parse()?;
/// assert_eq!(p.operation(), Operation::AppendEntries);
/// assert!(p.matches(Operation::AppendEntries, Some("audit-2024")));
/// assert!(!p.matches(Operation::AppendEntries, Some("payments")));
/// assert_eq!(p.to_string(), "entries.append:audit-*");
/// # Ok::<(), ledger_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Permission {
    operation: Operation,
    scope: Scope,
}

impl Permission {
    /// `operation` on everything.
    pub fn any(operation: Operation) -> Self {
        Self {
            operation,
            scope: Scope::Any,
        }
    }

    /// `operation` restricted to `scope`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a restricted unscoped operation (`what = "permission"`,
    /// [`Problem::Malformed`]), or an empty, over-long or control-character name or prefix
    /// (`"permission scope name"`: [`Problem::Empty`], [`Problem::TooLarge`],
    /// [`Problem::Malformed`]).
    pub fn new(operation: Operation, scope: Scope) -> Result<Self, Error> {
        let name = match &scope {
            Scope::Any => None,
            Scope::Name(n) => Some(n),
            Scope::Prefix(p) => Some(p),
        };
        if let Some(name) = name {
            let shown = || {
                shorten(
                    &Permission {
                        operation,
                        scope: scope.clone(),
                    }
                    .to_string(),
                )
            };
            if !operation.is_scoped() {
                return Err(Error::malformed(
                    "permission",
                    shown(),
                    format_args!(
                        "operation {operation} cannot be restricted to a collection or table"
                    ),
                ));
            }
            if name.is_empty() && matches!(scope, Scope::Name(_)) {
                // An empty collection or table name.
                return Err(Error::invalid("permission scope name", Problem::Empty));
            }
            if name.len() > MAX_NAME_LEN {
                return Err(Error::too_large(
                    "permission scope name",
                    name.len(),
                    MAX_NAME_LEN,
                ));
            }
            if name.chars().any(char::is_control) {
                return Err(Error::malformed(
                    "permission scope name",
                    shown(),
                    "the collection or table name contains a control character",
                ));
            }
        }
        Ok(Self { operation, scope })
    }

    /// The operation.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The collections or tables covered.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// Whether this permission covers `operation` on `name` (`None` for unscoped operations).
    pub fn matches(&self, operation: Operation, name: Option<&str>) -> bool {
        self.operation == operation
            && match name {
                Some(name) => self.scope.matches(name),
                None => self.scope == Scope::Any,
            }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.scope {
            Scope::Any => write!(f, "{}", self.operation),
            Scope::Name(n) => write!(f, "{}:{n}", self.operation),
            Scope::Prefix(p) => write!(f, "{}:{p}*", self.operation),
        }
    }
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        match text.split_once(':') {
            None => Ok(Self::any(text.parse()?)),
            Some((op, name)) => {
                let operation: Operation = op.parse()?;
                let scope = match name.strip_suffix('*') {
                    Some(prefix) => Scope::Prefix(prefix.to_owned()),
                    None => Scope::Name(name.to_owned()),
                };
                Self::new(operation, scope)
            }
        }
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What a role allows and denies (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinition {
    /// Permissions granted.
    pub allow: Vec<Permission>,
    /// Permissions refused even if allowed.
    #[serde(default)]
    pub deny: Vec<Permission>,
}

/// Why a role does or does not permit an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed and not denied.
    Allowed,
    /// No allowed permission matches.
    NotAllowed,
    /// An allowed permission matches but so does a denied one.
    Denied,
}

impl RoleDefinition {
    /// A definition allowing `allow` and denying `deny`.
    pub fn new(
        allow: impl IntoIterator<Item = Permission>,
        deny: impl IntoIterator<Item = Permission>,
    ) -> Self {
        Self {
            allow: allow.into_iter().collect(),
            deny: deny.into_iter().collect(),
        }
    }

    /// Decides `operation` on `name` (`None` for unscoped operations).
    pub fn decide(&self, operation: Operation, name: Option<&str>) -> Decision {
        if !self.allow.iter().any(|p| p.matches(operation, name)) {
            Decision::NotAllowed
        } else if self.deny.iter().any(|p| p.matches(operation, name)) {
            Decision::Denied
        } else {
            Decision::Allowed
        }
    }

    /// Whether everything this role allows, `other` allows too (see `# Ranking`).
    pub fn is_within(&self, other: &RoleDefinition) -> bool {
        self.allow.iter().all(|p| {
            other
                .allow
                .iter()
                .any(|q| q.operation == p.operation && q.scope.covers(&p.scope))
                && !other
                    .deny
                    .iter()
                    .any(|d| d.operation == p.operation && d.scope.intersects(&p.scope))
        })
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        // A role lists at most MAX_PERMISSIONS allowed and MAX_PERMISSIONS denied permissions.
        if self.allow.len() > MAX_PERMISSIONS {
            return Err(Error::too_large(
                "allowed permissions of a role",
                self.allow.len(),
                MAX_PERMISSIONS,
            ));
        }
        if self.deny.len() > MAX_PERMISSIONS {
            return Err(Error::too_large(
                "denied permissions of a role",
                self.deny.len(),
                MAX_PERMISSIONS,
            ));
        }
        Ok(())
    }
}

/// The built-in roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BuiltinRole {
    /// Reads entries, tables, receipts, status and governance state.
    Reader,
    /// Reader, plus appends entries and writes tables.
    Contributor,
    /// Contributor, plus manages users.
    Administrator,
}

impl BuiltinRole {
    /// Every built-in role, lowest first.
    pub const ALL: [BuiltinRole; 3] = [
        BuiltinRole::Reader,
        BuiltinRole::Contributor,
        BuiltinRole::Administrator,
    ];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinRole::Reader => "Reader",
            BuiltinRole::Contributor => "Contributor",
            BuiltinRole::Administrator => "Administrator",
        }
    }

    /// The built-in role named `name` (exactly), if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The role's fixed definition.
    pub fn definition(self) -> RoleDefinition {
        let mut allow = vec![
            Operation::ReadEntries,
            Operation::ReadTables,
            Operation::ReadReceipts,
            Operation::ReadStatus,
            Operation::ReadGovernance,
        ];
        if self >= BuiltinRole::Contributor {
            allow.extend([Operation::AppendEntries, Operation::WriteTables]);
        }
        if self >= BuiltinRole::Administrator {
            allow.extend([Operation::ReadUsers, Operation::ManageUsers]);
        }
        RoleDefinition::new(allow.into_iter().map(Permission::any), [])
    }
}

impl fmt::Display for BuiltinRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Checks a role name's syntax (any role, built-in or custom).
pub(crate) fn check_role_name(name: &str) -> Result<(), Error> {
    if name.is_empty() {
        Err(Error::invalid("role name", Problem::Empty))
    } else if name.len() > MAX_ROLE_NAME_LEN {
        Err(Error::too_large("role name", name.len(), MAX_ROLE_NAME_LEN))
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        Err(Error::malformed(
            "role name",
            shorten(name),
            "must be characters from A-Z a-z 0-9 _ - .",
        ))
    } else {
        Ok(())
    }
}

/// Checks a name for a custom role: valid, and not a built-in name in any case.
pub(crate) fn check_custom_role_name(name: &str) -> Result<(), Error> {
    check_role_name(name)?;
    if BuiltinRole::ALL
        .iter()
        .any(|r| r.name().eq_ignore_ascii_case(name))
    {
        // Built-in role names are reserved, in any case.
        return Err(Error::invalid(
            "role name",
            Problem::Reserved {
                name: name.to_owned(),
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Permission {
        text.parse().unwrap()
    }

    #[test]
    fn permissions_round_trip_and_validate() {
        for text in [
            "entries.read",
            "entries.append:audit",
            "tables.write:kv-*",
            "entries.read:*",
        ] {
            assert_eq!(p(text).to_string(), text);
        }
        assert!("users.write:x".parse::<Permission>().is_err());
        assert!("entries.delete".parse::<Permission>().is_err());
        assert!("entries.read:".parse::<Permission>().is_err());
        assert!("entries.read:a\nb".parse::<Permission>().is_err());
    }

    #[test]
    fn deny_wins() {
        let role = RoleDefinition::new([p("entries.append")], [p("entries.append:audit")]);
        assert_eq!(
            role.decide(Operation::AppendEntries, Some("x")),
            Decision::Allowed
        );
        assert_eq!(
            role.decide(Operation::AppendEntries, Some("audit")),
            Decision::Denied
        );
        assert_eq!(
            role.decide(Operation::ReadEntries, Some("x")),
            Decision::NotAllowed
        );
    }

    #[test]
    fn ranking() {
        let reader = BuiltinRole::Reader.definition();
        let contributor = BuiltinRole::Contributor.definition();
        let admin = BuiltinRole::Administrator.definition();
        assert!(reader.is_within(&contributor) && contributor.is_within(&admin));
        assert!(!admin.is_within(&contributor) && !contributor.is_within(&reader));
        let narrow = RoleDefinition::new([p("entries.append:audit-1")], []);
        let prefix = RoleDefinition::new([p("entries.append:audit-*")], []);
        assert!(narrow.is_within(&prefix) && !prefix.is_within(&narrow));
        let holed = RoleDefinition::new([p("entries.append")], [p("entries.append:audit-1")]);
        assert!(!narrow.is_within(&holed));
        assert!(holed.is_within(&contributor));
    }
}
