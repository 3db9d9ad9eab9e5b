//! PostgreSQL's half of the plan: the role each grant should have in its
//! provider's database (what it holds, who holds it), and the diff against
//! what one catalogue query read. Pure: each change is a list of
//! [`Statement`]s, which render themselves as SQL with the driver's own
//! quoting, and the adapter runs in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use postgres_protocol::escape::{escape_identifier as ident, escape_literal as literal};
use serde::{Deserialize, Serialize};

use super::names;
use crate::grant::{Grant, Window, fmt_time};
use crate::plan::terms::{Action, KindChange, Known, Refusal, RevokeReason};
use crate::policy::{Policy, Provider, Role};

/// One grant's role in one database.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The grant id.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// The grant's role: `gitgrant_<hash>`.
    pub role: String,
    /// The comment that makes the role gitgrant's.
    pub comment: String,
    /// The person's login role, which holds the grant's role.
    pub user: String,
    /// The grant's window (the run ends it: PostgreSQL has no timed grant).
    pub window: Window,
    /// Table privileges by schema, as PostgreSQL spells them.
    pub schemas: BTreeMap<String, BTreeSet<&'static str>>,
    /// Existing roles the grant's role is made a member of.
    pub roles: Vec<String>,
    /// Whether the role allows roles that reach past the window.
    pub allow_admin: bool,
}

/// What a grant of `role` asks of the postgres provider `provider`: `None`
/// when the subject has no login there (validation reports it).
pub fn desired(
    policy: &Policy,
    grant: &Grant,
    role: &Role,
    provider: &Provider,
    window: Window,
) -> Option<Result<Desired, String>> {
    let crate::policy::Identity::Postgres(super::config::Identity::User(user)) =
        policy.people.get(&grant.subject)?.identity_on(provider)?
    else {
        return None;
    };
    let repository = policy.repository();
    let id = grant.id.to_string();
    let perms = role.permissions.postgres.get();
    Some(Ok(Desired {
        role: names::role_name(&repository, &id),
        comment: names::comment(&repository, &id),
        grant: id,
        provider: provider.name.clone(),
        user: user.clone(),
        window,
        schemas: perms.privileges(),
        roles: perms.roles.clone(),
        allow_admin: role.allow_admin,
    }))
}

/// A role of the database, as the catalogue lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DbRole {
    /// Its name.
    pub name: String,
    /// Whether it can log in.
    pub login: bool,
    /// Whether it is a superuser, can create roles, bypasses row security
    /// or replicates: enough to make access permanent.
    pub admin: bool,
    /// Its comment.
    pub comment: Option<String>,
}

/// One membership: `member` holds `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    /// The role held.
    pub role: String,
    /// Who holds it.
    pub member: String,
    /// Whether the member may grant it on (`WITH ADMIN OPTION`).
    pub admin: bool,
}

/// A privilege one of gitgrant's roles holds on a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TablePrivilege {
    /// The role holding it.
    pub grantee: String,
    /// The table's schema.
    pub schema: String,
    /// The table.
    pub table: String,
    /// The privilege, as the server names it.
    pub privilege: String,
    /// Whether it may be granted on.
    pub grantable: bool,
}

/// A privilege one of gitgrant's roles holds on a schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchemaPrivilege {
    /// The role holding it.
    pub grantee: String,
    /// The schema.
    pub schema: String,
    /// `USAGE` or `CREATE`.
    pub privilege: String,
    /// Whether it may be granted on.
    pub grantable: bool,
}

/// One of gitgrant's roles for this repository: its comment names a grant
/// and its name is that grant's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ours {
    /// Its name.
    pub name: String,
    /// The grant its comment names.
    pub grant: String,
    /// Whether someone let it log in.
    pub login: bool,
}

/// A database as one run read it: one catalogue query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The provider.
    pub provider: String,
    /// The database's name.
    pub database: String,
    /// The reconciler's own role.
    pub me: String,
    /// Every role of the server.
    pub roles: Vec<DbRole>,
    /// Every membership of the server.
    pub memberships: Vec<Membership>,
    /// The database's schemas (not the system's).
    pub schemas: BTreeSet<String>,
    /// Its tables, views and the like, by schema.
    pub tables: BTreeMap<String, BTreeSet<String>>,
    /// Table privileges of roles named like gitgrant's.
    pub table_privileges: Vec<TablePrivilege>,
    /// Schema privileges of roles named like gitgrant's.
    pub schema_privileges: Vec<SchemaPrivilege>,
    /// gitgrant's roles for this repository.
    pub ours: Vec<Ours>,
}

impl Observation {
    fn role(&self, name: &str) -> Option<&DbRole> {
        self.roles.iter().find(|r| r.name == name)
    }

    fn members_of<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a Membership> {
        self.memberships.iter().filter(move |m| m.role == role)
    }
}

/// One statement a change runs, rendered by [`Statement::sql`]: every name
/// quoted by the driver's own quoting, every privilege from a fixed list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "statement", rename_all = "snake_case")]
pub enum Statement {
    /// `CREATE ROLE r NOLOGIN`.
    CreateRole {
        /// The role.
        role: String,
    },
    /// `COMMENT ON ROLE r IS '…'`.
    Comment {
        /// The role.
        role: String,
        /// The comment.
        text: String,
    },
    /// `ALTER ROLE r NOLOGIN`.
    NoLogin {
        /// The role.
        role: String,
    },
    /// `GRANT USAGE ON SCHEMA s TO r`.
    GrantUsage {
        /// The schema.
        schema: String,
        /// The role.
        role: String,
    },
    /// `GRANT <privileges> ON ALL TABLES IN SCHEMA s TO r`.
    GrantAllTables {
        /// The privileges.
        privileges: Vec<&'static str>,
        /// The schema.
        schema: String,
        /// The role.
        role: String,
    },
    /// `GRANT role TO member`.
    GrantRole {
        /// The role held.
        role: String,
        /// Who holds it.
        member: String,
    },
    /// `REVOKE role FROM member`.
    RevokeRole {
        /// The role held.
        role: String,
        /// Who held it.
        member: String,
    },
    /// `DROP OWNED BY r`: every privilege the role holds, whoever
    /// granted it, taken (and what it owns dropped), the reconciler
    /// first taking the role, as dropping what it owns needs.
    Reset {
        /// The role.
        role: String,
    },
    /// `DROP OWNED BY r` and `DROP ROLE r`, the reconciler first taking
    /// the role (which dropping it ends).
    Drop {
        /// The role.
        role: String,
    },
}

impl Statement {
    /// The SQL, one or more `;`-separated statements.
    pub fn sql(&self) -> String {
        match self {
            Statement::CreateRole { role } => format!("CREATE ROLE {} NOLOGIN", ident(role)),
            Statement::Comment { role, text } => {
                format!("COMMENT ON ROLE {} IS {}", ident(role), literal(text))
            }
            Statement::NoLogin { role } => format!("ALTER ROLE {} NOLOGIN", ident(role)),
            Statement::GrantUsage { schema, role } => {
                format!("GRANT USAGE ON SCHEMA {} TO {}", ident(schema), ident(role))
            }
            Statement::GrantAllTables {
                privileges,
                schema,
                role,
            } => format!(
                "GRANT {} ON ALL TABLES IN SCHEMA {} TO {}",
                privileges.join(", "),
                ident(schema),
                ident(role)
            ),
            Statement::GrantRole { role, member } => {
                format!("GRANT {} TO {}", ident(role), ident(member))
            }
            Statement::RevokeRole { role, member } => {
                format!("REVOKE {} FROM {} CASCADE", ident(role), ident(member))
            }
            Statement::Reset { role } => {
                format!("GRANT {r} TO CURRENT_USER; DROP OWNED BY {r}", r = ident(role))
            }
            Statement::Drop { role } => format!(
                "GRANT {r} TO CURRENT_USER; DROP OWNED BY {r}; DROP ROLE {r}",
                r = ident(role)
            ),
        }
    }
}

/// A person's hold of a grant's role, handed back after a repair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hold {
    /// The person's login.
    pub user: String,
    /// What the role should hold: table privileges by schema.
    pub schemas: BTreeMap<String, BTreeSet<&'static str>>,
}

/// One change in one database: statements run in one transaction (a
/// revocation's drop, and a repair's hand-back, in a second).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// The grant's role made, given its privileges, and granted to the
    /// person's login.
    Grant {
        /// The grant.
        grant: String,
        /// The provider.
        provider: String,
        /// The grant's role.
        role: String,
        /// The person's login.
        user: String,
        /// What it holds, in words.
        holds: String,
        /// Until when (the run ends it).
        until: chrono::DateTime<chrono::Utc>,
        /// The statements.
        statements: Vec<Statement>,
    },
    /// The role made what the grant says again: privileges of new tables,
    /// or drift repaired.
    Update {
        /// The grant.
        grant: String,
        /// The provider.
        provider: String,
        /// The grant's role.
        role: String,
        /// Tampering found, in words: reported as drift.
        drift: Vec<String>,
        /// What else changes, in words.
        changes: Vec<String>,
        /// The statements.
        statements: Vec<Statement>,
        /// When the role held more than the grant says: the person's hold
        /// of it, taken first and handed back only once the role holds
        /// no more.
        #[serde(skip_serializing_if = "Option::is_none")]
        hold: Option<Hold>,
    },
    /// The role taken from everyone who holds it and dropped; the
    /// holders' sessions are then ended.
    Revoke {
        /// The grant.
        grant: String,
        /// The provider.
        provider: String,
        /// The grant's role.
        role: String,
        /// The logins that held it, whose sessions are ended.
        members: Vec<String>,
        /// Why.
        reason: RevokeReason,
        /// The statements.
        statements: Vec<Statement>,
    },
}

impl Change {
    /// The statements, in order.
    pub fn statements(&self) -> &[Statement] {
        match self {
            Change::Grant { statements, .. }
            | Change::Update { statements, .. }
            | Change::Revoke { statements, .. } => statements,
        }
    }

    /// The grant's role.
    pub fn role(&self) -> &str {
        match self {
            Change::Grant { role, .. } | Change::Update { role, .. } | Change::Revoke { role, .. } => {
                role
            }
        }
    }
}

impl KindChange for Change {
    fn provider(&self) -> &str {
        match self {
            Change::Grant { provider, .. }
            | Change::Update { provider, .. }
            | Change::Revoke { provider, .. } => provider,
        }
    }

    fn grant(&self) -> &str {
        match self {
            Change::Grant { grant, .. } | Change::Update { grant, .. } | Change::Revoke { grant, .. } => {
                grant
            }
        }
    }

    fn action(&self) -> Action {
        match self {
            Change::Grant { .. } => Action::Grant,
            Change::Update { .. } => Action::Update,
            Change::Revoke { .. } => Action::Revoke,
        }
    }

    fn revoke_reason(&self) -> Option<RevokeReason> {
        match self {
            Change::Revoke { reason, .. } => Some(*reason),
            Change::Grant { .. } | Change::Update { .. } => None,
        }
    }

    fn is_drift(&self) -> bool {
        match self {
            Change::Grant { .. } => false,
            Change::Update { drift, .. } => !drift.is_empty(),
            Change::Revoke { reason, .. } => *reason == RevokeReason::Drift,
        }
    }

    fn text(&self) -> String {
        match self {
            Change::Grant {
                grant,
                provider,
                role,
                user,
                holds,
                until,
                ..
            } => format!(
                "grant   {grant} in {provider}: role {role} ({holds}) to PostgreSQL login {user}, until a run ends it at {}",
                fmt_time(*until)
            ),
            Change::Update {
                grant,
                provider,
                role,
                drift,
                changes,
                ..
            } => {
                let found: String = drift.iter().map(|x| format!("drift: {x}; ")).collect();
                format!("update  {grant} in {provider}: {found}role {role}: {}", changes.join("; "))
            }
            Change::Revoke {
                grant,
                provider,
                role,
                members,
                reason,
                ..
            } => format!(
                "revoke  {grant} in {provider} ({reason}): role {role} taken from {} and dropped; their sessions ended",
                if members.is_empty() { "no one".to_string() } else { members.join(", ") }
            ),
        }
    }
}

fn grant_option(grantable: bool) -> &'static str {
    if grantable { " with grant option" } else { "" }
}

/// `SELECT on schema sales; role reporting`.
fn holds(d: &Desired) -> String {
    let mut parts: Vec<String> = (d.schemas.iter())
        .map(|(s, ps)| format!("{} on schema {s}", ps.iter().copied().collect::<Vec<_>>().join(", ")))
        .collect();
    parts.extend(d.roles.iter().map(|r| format!("role {r}")));
    parts.join("; ")
}

/// Why `d` cannot be applied in `o`, if it cannot: a name the database
/// lacks, a role that reaches past the window, a name taken.
fn refusal(d: &Desired, o: &Observation) -> Option<String> {
    let at = format!("database {}", o.database);
    match o.role(&d.user) {
        None => return Some(format!("{at} has no login role `{}`", d.user)),
        Some(u) if !u.login => {
            return Some(format!("`{}` cannot log in to {at}: it is not a login role", d.user));
        }
        Some(_) if d.user == o.me => {
            return Some(format!("`{}` is the reconciler's own role", d.user));
        }
        Some(_) => {}
    }
    if let Some(s) = d.schemas.keys().find(|s| !o.schemas.contains(*s)) {
        return Some(format!("{at} has no schema `{s}`"));
    }
    for r in &d.roles {
        match o.role(r) {
            None => return Some(format!("{at} has no role `{r}`")),
            Some(x) if x.admin && !d.allow_admin => {
                return Some(format!(
                    "role `{r}` is a superuser, can create roles, bypasses row security or replicates: its holder could make their access permanent; the role needs `allow_admin: true`"
                ));
            }
            Some(_) => {}
        }
    }
    // Its comment is not repeated: anyone who can comment on roles wrote it.
    if o.role(&d.role).is_some() && !o.ours.iter().any(|x| x.name == d.role) {
        return Some(format!(
            "{at} has a role `{}` whose comment does not name this grant of this repository: gitgrant did not make it, and leaves it alone",
            d.role
        ));
    }
    None
}

/// The changes that make each observed database's gitgrant roles what
/// `wanted` says. A grant is refused (with why) when its login, a schema
/// or a role is missing, a role it hands out reaches past the window
/// without `allow_admin`, or its role's name is taken.
pub fn plan(
    wanted: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &Known,
    refused: &mut Vec<Refusal>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, o) in observed {
        let mut kept = BTreeSet::new();
        for d in wanted.iter().filter(|d| &d.provider == name) {
            if let Some(why) = refusal(d, o) {
                refused.push(Refusal {
                    grant: d.grant.clone(),
                    provider: name.clone(),
                    why,
                });
                continue;
            }
            kept.insert(d.role.clone());
            match o.ours.iter().find(|x| x.name == d.role) {
                None => changes.push(grant(d)),
                Some(ours) => {
                    if let Some(c) = repair(d, ours, o) {
                        changes.push(c);
                    }
                }
            }
        }
        for ours in o.ours.iter().filter(|x| !kept.contains(&x.name)) {
            // The reconciler's own membership (PostgreSQL 16 gives a
            // role's creator one) goes with the role.
            let members: Vec<String> = (o.members_of(&ours.name))
                .filter(|m| m.member != o.me)
                .map(|m| m.member.clone())
                .collect();
            let mut statements: Vec<Statement> = (members.iter())
                .map(|m| Statement::RevokeRole {
                    role: ours.name.clone(),
                    member: m.clone(),
                })
                .collect();
            statements.push(Statement::Drop {
                role: ours.name.clone(),
            });
            changes.push(Change::Revoke {
                grant: ours.grant.clone(),
                provider: name.clone(),
                role: ours.name.clone(),
                members,
                reason: known.get(&ours.grant).copied().unwrap_or(RevokeReason::Drift),
                statements,
            });
        }
    }
    changes
}

/// The grant's role made: created, marked, given its privileges and
/// roles, and granted to the person's login last.
fn grant(d: &Desired) -> Change {
    let role = d.role.clone();
    let mut statements = vec![
        Statement::CreateRole { role: role.clone() },
        Statement::Comment {
            role: role.clone(),
            text: d.comment.clone(),
        },
    ];
    for (schema, privileges) in &d.schemas {
        statements.push(Statement::GrantUsage {
            schema: schema.clone(),
            role: role.clone(),
        });
        statements.push(Statement::GrantAllTables {
            privileges: privileges.iter().copied().collect(),
            schema: schema.clone(),
            role: role.clone(),
        });
    }
    for r in &d.roles {
        statements.push(Statement::GrantRole {
            role: r.clone(),
            member: role.clone(),
        });
    }
    statements.push(Statement::GrantRole {
        role: role.clone(),
        member: d.user.clone(),
    });
    Change::Grant {
        grant: d.grant.clone(),
        provider: d.provider.clone(),
        role,
        user: d.user.clone(),
        holds: holds(d),
        until: d.window.end,
        statements,
    }
}

/// What makes an existing role of the grant's what it says again: `None`
/// when it already is.
fn repair(d: &Desired, ours: &Ours, o: &Observation) -> Option<Change> {
    let role = d.role.clone();
    let (mut drift, mut changed, mut statements) = (Vec::new(), Vec::new(), Vec::new());
    if ours.login {
        drift.push(format!("{role} can log in"));
        statements.push(Statement::NoLogin { role: role.clone() });
    }
    // Who holds it: the person's login alone, without admin option.
    let mut user_holds = false;
    for m in o.members_of(&role).filter(|m| m.member != o.me) {
        if m.member == d.user && !m.admin {
            user_holds = true;
            continue;
        }
        drift.push(if m.member == d.user {
            format!("{} may grant {role} on (admin option)", m.member)
        } else {
            format!("{} holds {role}", m.member)
        });
        statements.push(Statement::RevokeRole {
            role: role.clone(),
            member: m.member.clone(),
        });
    }
    // What it holds: the roles the grant names, no other.
    let held: Vec<&Membership> = o.memberships.iter().filter(|m| m.member == role).collect();
    for m in &held {
        if !d.roles.contains(&m.role) || m.admin {
            drift.push(format!("{role} holds {}{}", m.role, if m.admin { " with admin option" } else { "" }));
            statements.push(Statement::RevokeRole {
                role: m.role.clone(),
                member: role.clone(),
            });
        }
    }
    for r in &d.roles {
        if !held.iter().any(|m| &m.role == r && !m.admin) {
            changed.push(format!("role {r} granted"));
            statements.push(Statement::GrantRole {
                role: r.clone(),
                member: role.clone(),
            });
        }
    }
    // Privileges: USAGE on the grant's schemas and its privileges on
    // every table there, none with grant option, nothing else. Any other
    // is taken by dropping all the role holds (a REVOKE takes only what
    // its issuer granted), and what it should hold granted again.
    let extra = extra_privileges(&role, &d.schemas, &o.table_privileges, &o.schema_privileges);
    let mut missing = Vec::new();
    for (schema, want) in &d.schemas {
        let usage = (o.schema_privileges.iter())
            .any(|p| p.grantee == role && &p.schema == schema && p.privilege == "USAGE");
        if !usage {
            missing.push(format!("USAGE on schema {schema}"));
        }
        for table in o.tables.get(schema).into_iter().flatten() {
            for privilege in want {
                let held = o.table_privileges.iter().any(|p| {
                    p.grantee == role && &p.schema == schema && &p.table == table && p.privilege == *privilege
                });
                if !held {
                    missing.push(format!("{privilege} on {schema}.{table}"));
                }
            }
        }
    }
    let mut hold = None;
    if !extra.is_empty() {
        drift.push(format!("{role} holds {}", extra.join(", ")));
        // The person lets go of it first, in its own transaction: what the
        // reconciler cannot revoke (granted by a table's owner) must not
        // stay the person's. The adapter hands it back once the role
        // holds only what the grant says.
        if user_holds {
            statements.insert(0, Statement::RevokeRole {
                role: role.clone(),
                member: d.user.clone(),
            });
        }
        statements.push(Statement::Reset { role: role.clone() });
        hold = Some(Hold {
            user: d.user.clone(),
            schemas: d.schemas.clone(),
        });
    } else if !missing.is_empty() {
        changed.push(format!("{} granted", missing.join(", ")));
    }
    if !extra.is_empty() || !missing.is_empty() {
        for (schema, privileges) in &d.schemas {
            statements.push(Statement::GrantUsage {
                schema: schema.clone(),
                role: role.clone(),
            });
            statements.push(Statement::GrantAllTables {
                privileges: privileges.iter().copied().collect(),
                schema: schema.clone(),
                role: role.clone(),
            });
        }
    }
    if !user_holds {
        drift.push(format!("{} no longer holds {role}", d.user));
    }
    if !user_holds && hold.is_none() {
        statements.push(Statement::GrantRole {
            role: role.clone(),
            member: d.user.clone(),
        });
    }
    if statements.is_empty() {
        return None;
    }
    Some(Change::Update {
        grant: d.grant.clone(),
        provider: d.provider.clone(),
        role,
        drift,
        changes: changed,
        statements,
        hold,
    })
}

/// The privileges `role` holds beyond `schemas` (USAGE on each, its
/// privileges on their tables, none with grant option), in words.
pub fn extra_privileges(
    role: &str,
    schemas: &BTreeMap<String, BTreeSet<&'static str>>,
    tables: &[TablePrivilege],
    schema_privileges: &[SchemaPrivilege],
) -> Vec<String> {
    let mut extra = Vec::new();
    for p in schema_privileges.iter().filter(|p| p.grantee == role) {
        if p.privilege != "USAGE" || p.grantable || !schemas.contains_key(&p.schema) {
            extra.push(format!("{} on schema {}{}", p.privilege, p.schema, grant_option(p.grantable)));
        }
    }
    let none = BTreeSet::new();
    for p in tables.iter().filter(|p| p.grantee == role) {
        let want = schemas.get(&p.schema).unwrap_or(&none);
        if p.grantable || !want.contains(p.privilege.as_str()) {
            extra.push(format!("{} on {}.{}{}", p.privilege, p.schema, p.table, grant_option(p.grantable)));
        }
    }
    extra
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> Window {
        let t = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        Window {
            start: t("2026-11-23T12:00:00Z"),
            end: t("2026-11-23T20:00:00Z"),
        }
    }

    fn desired() -> Desired {
        Desired {
            grant: "sales-read/globex-1".into(),
            provider: "pg".into(),
            role: names::role_name("acme/access", "sales-read/globex-1"),
            comment: names::comment("acme/access", "sales-read/globex-1"),
            user: "vendor_globex".into(),
            window: window(),
            schemas: BTreeMap::from([("sales".to_string(), BTreeSet::from(["SELECT"]))]),
            roles: vec!["reporting".into()],
            allow_admin: false,
        }
    }

    fn role(name: &str, login: bool, admin: bool) -> DbRole {
        DbRole {
            name: name.into(),
            login,
            admin,
            comment: None,
        }
    }

    fn observed(d: &Desired, applied: bool) -> Observation {
        let mut roles = vec![
            role("gitgrant", true, true),
            role("vendor_globex", true, false),
            role("reporting", false, false),
        ];
        let (mut ours, mut memberships, mut table_privileges, mut schema_privileges) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if applied {
            roles.push(role(&d.role, false, false));
            ours.push(Ours {
                name: d.role.clone(),
                grant: d.grant.clone(),
                login: false,
            });
            let m = |role: &str, member: &str| Membership {
                role: role.into(),
                member: member.into(),
                admin: false,
            };
            // PostgreSQL 16 makes the creator a member with admin option.
            memberships.push(Membership {
                admin: true,
                ..m(&d.role, "gitgrant")
            });
            memberships.push(m(&d.role, "vendor_globex"));
            memberships.push(m("reporting", &d.role));
            table_privileges.push(TablePrivilege {
                grantee: d.role.clone(),
                schema: "sales".into(),
                table: "orders".into(),
                privilege: "SELECT".into(),
                grantable: false,
            });
            schema_privileges.push(SchemaPrivilege {
                grantee: d.role.clone(),
                schema: "sales".into(),
                privilege: "USAGE".into(),
                grantable: false,
            });
        }
        Observation {
            provider: "pg".into(),
            database: "analytics".into(),
            me: "gitgrant".into(),
            roles,
            memberships,
            schemas: BTreeSet::from(["sales".to_string(), "hr".to_string()]),
            tables: BTreeMap::from([("sales".to_string(), BTreeSet::from(["orders".to_string()]))]),
            table_privileges,
            schema_privileges,
            ours,
        }
    }

    fn run(wanted: &[Desired], o: Observation) -> (Vec<Change>, Vec<Refusal>) {
        let mut refused = Vec::new();
        let changes = plan(wanted, &BTreeMap::from([("pg".to_string(), o)]), &Known::new(), &mut refused);
        (changes, refused)
    }

    #[test]
    fn a_new_grant_is_one_transaction_granting_the_login_last() {
        let d = desired();
        let (changes, refused) = run(std::slice::from_ref(&d), observed(&d, false));
        assert!(refused.is_empty(), "{refused:?}");
        let sql: Vec<String> = changes[0].statements().iter().map(Statement::sql).collect();
        let r = format!("\"{}\"", d.role);
        assert_eq!(
            sql,
            [
                format!("CREATE ROLE {r} NOLOGIN"),
                format!("COMMENT ON ROLE {r} IS 'gitgrant acme/access sales-read/globex-1'"),
                format!("GRANT USAGE ON SCHEMA \"sales\" TO {r}"),
                format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"sales\" TO {r}"),
                format!("GRANT \"reporting\" TO {r}"),
                format!("GRANT {r} TO \"vendor_globex\""),
            ]
        );
    }

    #[test]
    fn an_applied_grant_plans_nothing_and_the_reconcilers_own_membership_is_no_drift() {
        let d = desired();
        let (changes, refused) = run(std::slice::from_ref(&d), observed(&d, true));
        assert!(changes.is_empty() && refused.is_empty(), "{changes:?} {refused:?}");
    }

    #[test]
    fn a_role_no_grant_wants_is_taken_from_its_holders_and_dropped() {
        let d = desired();
        let (changes, _) = run(&[], observed(&d, true));
        let [Change::Revoke { members, reason, statements, .. }] = changes.as_slice() else {
            panic!("{changes:?}");
        };
        assert_eq!(members, &["vendor_globex"]);
        assert_eq!(*reason, RevokeReason::Drift);
        assert!(matches!(statements.last(), Some(Statement::Drop { .. })));
    }

    #[test]
    fn names_from_the_catalogue_are_quoted_whatever_they_hold() {
        let s = Statement::GrantAllTables {
            privileges: vec!["SELECT"],
            schema: "a\"; DROP TABLE x; --".into(),
            role: "r".into(),
        };
        assert_eq!(
            s.sql(),
            "GRANT SELECT ON ALL TABLES IN SCHEMA \"a\"\"; DROP TABLE x; --\" TO \"r\""
        );
        let c = Statement::Comment {
            role: "r".into(),
            text: "it's".into(),
        };
        assert_eq!(c.sql(), "COMMENT ON ROLE \"r\" IS 'it''s'");
    }

    #[test]
    fn extra_privileges_take_the_persons_hold_until_the_role_is_clean_again() {
        let d = desired();
        let mut o = observed(&d, true);
        o.table_privileges.push(TablePrivilege {
            grantee: d.role.clone(),
            schema: "sales".into(),
            table: "orders".into(),
            privilege: "INSERT".into(),
            grantable: false,
        });
        let (changes, _) = run(std::slice::from_ref(&d), o);
        let [Change::Update { statements, hold, drift, .. }] = changes.as_slice() else {
            panic!("{changes:?}");
        };
        assert!(drift[0].contains("INSERT on sales.orders"), "{drift:?}");
        assert_eq!(
            statements.first(),
            Some(&Statement::RevokeRole {
                role: d.role.clone(),
                member: "vendor_globex".into()
            })
        );
        assert!(statements.contains(&Statement::Reset { role: d.role.clone() }));
        assert!(!statements.iter().any(|s| matches!(s, Statement::GrantRole { member, .. } if member == "vendor_globex")));
        assert_eq!(hold.as_ref().map(|h| h.user.as_str()), Some("vendor_globex"));
    }

    #[test]
    fn a_grant_is_refused_with_why_when_the_database_cannot_carry_it() {
        let d = desired();
        let mut o = observed(&d, false);
        o.roles.retain(|r| r.name != "vendor_globex");
        assert!(run(std::slice::from_ref(&d), o).1[0].why.contains("no login role `vendor_globex`"));
        let mut o = observed(&d, false);
        o.roles.iter_mut().find(|r| r.name == "reporting").unwrap().admin = true;
        assert!(run(std::slice::from_ref(&d), o).1[0].why.contains("allow_admin"));
        let mut admin = d.clone();
        admin.allow_admin = true;
        let mut o = observed(&d, false);
        o.roles.iter_mut().find(|r| r.name == "reporting").unwrap().admin = true;
        assert!(run(&[admin], o).1.is_empty());
        let mut o = observed(&d, false);
        o.roles.push(role(&d.role, false, false));
        assert!(run(std::slice::from_ref(&d), o).1[0].why.contains("gitgrant did not make it"));
    }
}
