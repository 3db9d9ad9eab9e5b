//! PostgreSQL (the `postgres` kind): a grant is a role of its own in the
//! provider's database (`NOLOGIN`, marked by its comment) that holds the
//! role's privileges and is granted to the person's login for the window.
//! PostgreSQL has no timed grant, so the run ends it: it takes the role
//! back, drops it, and ends the holder's sessions.
//!
//! - `config`: its keys in `gitgrant.yaml` (`url_env`, `postgres_user`,
//!   `permissions.postgres`).
//! - `names`: identifiers, privileges, the grant's role name and comment.
//! - `plan`: each grant's role, the diff against the catalogue, and the
//!   SQL of each change, quoted by the driver's own quoting.
//! - `validate`: the checks of its keys.
//! - `api`: the connection and the one catalogue query; `tls` rustls as
//!   `sslmode` asks; [`Postgres`] the adapter that runs each change in
//!   one transaction.

pub mod api;
pub mod config;
pub mod names;
pub mod plan;
pub mod tls;
pub mod validate;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use api::PgError;
pub use plan::{Change, Desired, Observation};

use super::kind::{KindPlan, ProviderKind};
use super::{Calls, Past, ProviderError, Reach};
use crate::grant::{Grant, Window};
use crate::plan::terms::Refusal;
use crate::policy::{Identity, Policy, Provider, RawPolicy, RawRole, Role};
use crate::rule::Rule;
use crate::validate::Sink;

/// A postgres provider the run has reached.
#[derive(Debug)]
pub struct Postgres {
    provider: String,
    repository: String,
    client: api::Client,
}

impl super::Provider for Postgres {
    type Observation = Observation;
    type Change = Change;
    type Error = PgError;

    fn name(&self) -> &str {
        &self.provider
    }

    /// One catalogue query; no statement that changes anything.
    async fn observe(&self) -> Result<Observation, PgError> {
        let c = self.client.catalogue().await?;
        let ours = (c.roles.iter())
            .filter_map(|r| {
                let grant = names::grant_of(&r.name, r.comment.as_deref()?, &self.repository)?;
                Some(plan::Ours {
                    name: r.name.clone(),
                    grant: grant.to_string(),
                    login: r.login,
                })
            })
            .collect();
        let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (schema, table) in c.tables {
            tables.entry(schema).or_default().insert(table);
        }
        Ok(Observation {
            provider: self.provider.clone(),
            database: c.database,
            me: c.me,
            roles: c.roles,
            memberships: c.memberships,
            schemas: c.schemas.into_iter().collect(),
            tables,
            table_privileges: c.table_privileges,
            schema_privileges: c.schema_privileges,
            ours,
        })
    }

    /// The change's statements in one transaction. A revocation takes the
    /// role from its holders first and commits that, ends their sessions,
    /// then drops the role: what blocks the drop (a privilege its
    /// reconciler cannot revoke) leaves no one holding it. A repair that
    /// took the person's hold hands it back only once the role holds no
    /// more than the grant says.
    async fn apply(&self, change: &Change) -> Result<(), PgError> {
        let (first, then): (Vec<&plan::Statement>, Vec<&plan::Statement>) = (change.statements().iter())
            .partition(|s| !matches!(s, plan::Statement::Drop { .. }));
        let sql = |list: &[&plan::Statement]| list.iter().map(|s| s.sql()).collect::<Vec<String>>();
        match change {
            Change::Grant { .. } => self.client.transaction("CreateGrantRole", &sql(&first)).await,
            Change::Update { role, hold, .. } => {
                self.client.transaction("RepairGrantRole", &sql(&first)).await?;
                let Some(hold) = hold else { return Ok(()) };
                let c = self.client.catalogue().await?;
                let left = plan::extra_privileges(role, &hold.schemas, &c.table_privileges, &c.schema_privileges);
                if !left.is_empty() {
                    return Err(PgError::new(
                        &self.provider,
                        format!(
                            "{role} still holds {}, granted by a role whose grants the reconciler cannot revoke (a table's or schema's owner): {} no longer holds {role} until that owner revokes them",
                            left.join(", "),
                            hold.user
                        ),
                    ));
                }
                let back = plan::Statement::GrantRole {
                    role: role.clone(),
                    member: hold.user.clone(),
                };
                self.client.transaction("RepairGrantRole", &[back.sql()]).await
            }
            Change::Revoke { members, role, .. } => {
                if !first.is_empty() {
                    match self.client.transaction("RevokeGrantRole", &sql(&first)).await {
                        Err(e) if e.code.as_deref() == Some("42704") => {
                            tracing::info!("PostgreSQL {}: role {role} was already dropped", self.provider);
                        }
                        other => other?,
                    }
                }
                let ended = self.client.end_sessions(members).await?;
                tracing::info!(
                    "PostgreSQL {}: {ended} session(s) of {} ended",
                    self.provider,
                    members.join(", ")
                );
                match self.client.transaction("DropGrantRole", &sql(&then)).await {
                    Err(e) if e.code.as_deref() == Some("42704") => Ok(()),
                    Err(e) => Err(PgError::new(
                        &self.provider,
                        format!(
                            "no one holds {role} any more and their sessions are ended, but it could not be dropped: {}",
                            e.what
                        ),
                    )),
                    Ok(()) => Ok(()),
                }
            }
        }
    }

    fn calls(&self) -> Calls {
        self.client.calls()
    }
}

/// The `postgres` kind, as the registry reaches it.
pub struct Kind;

impl ProviderKind for Kind {
    /// PostgreSQL has no timed grant: a run ends every grant.
    const ENDS_BY_ITSELF: bool = false;

    type Desired = Desired;
    type Observation = Observation;
    type Change = Change;
    type Adapter = Postgres;
    type RawIdentity = config::RawIdentity;

    fn desired(
        policy: &Policy,
        grant: &Grant,
        role: &Role,
        target: &Provider,
        window: Window,
        _commit: &str,
    ) -> Option<Result<Desired, String>> {
        plan::desired(policy, grant, role, target, window)
    }

    fn wanted_of(d: &Desired) -> (&str, &str) {
        (&d.grant, &d.provider)
    }

    fn plan(
        _: &Policy,
        wanted: Vec<Desired>,
        observed: BTreeMap<String, Observation>,
        Past { known, .. }: Past,
        _: DateTime<Utc>,
        refused: &mut Vec<Refusal>,
    ) -> KindPlan<Change> {
        KindPlan {
            changes: plan::plan(&wanted, &observed, known, refused),
            unfenced: Vec::new(),
        }
    }

    fn recorded_grants(o: &Observation, _repository: &str) -> Vec<String> {
        let mut out: Vec<String> = o.ours.iter().map(|x| x.grant.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// A role named like gitgrant's whose comment does not claim it is
    /// someone else's, and left alone: none is read unclaimed.
    fn unclaimed(_: &Observation) -> Vec<&String> {
        Vec::new()
    }

    async fn connect(
        _: &Reach,
        policy: &Policy,
        provider: &Provider,
    ) -> Result<Postgres, ProviderError> {
        let url_env = provider.keys.postgres.url_env.as_deref().unwrap_or_default();
        Ok(Postgres {
            provider: provider.name.clone(),
            repository: policy.repository(),
            client: api::Client::connect(&provider.name, url_env)
                .await
                .map_err(ProviderError::of)?,
        })
    }

    fn targets_text(_: &Role, providers: &[&Provider]) -> Vec<String> {
        providers
            .iter()
            .map(|p| format!("PostgreSQL database ({})", p.name))
            .collect()
    }

    fn access_text(role: &Role, p: &Provider, who: &str) -> String {
        let perms = role.permissions.postgres.get();
        let mut parts: Vec<String> = (perms.schemas.iter())
            .map(|(s, ps)| format!("{} on every table of schema `{s}`", ps.join(", ")))
            .collect();
        parts.extend(perms.roles.iter().map(|r| format!("role `{r}`")));
        format!(
            "{} through a role of the grant's own held by {who} ({}; a run ends it)",
            parts.join(", "),
            p.name
        )
    }

    fn unfenced(_: &Policy, _: &Role) -> Vec<String> {
        Vec::new()
    }

    fn widened(old: &Role, new: &Role) -> Vec<String> {
        let (o, n) = (old.permissions.postgres.get(), new.permissions.postgres.get());
        let before = o.privileges();
        let mut out = Vec::new();
        for (schema, ps) in n.privileges() {
            let added: Vec<&str> = match before.get(&schema) {
                Some(b) => ps.difference(b).copied().collect(),
                None => ps.into_iter().collect(),
            };
            if !added.is_empty() {
                out.push(format!("postgres privileges added on schema {schema}: {}", added.join(", ")));
            }
        }
        let roles: Vec<&str> = (n.roles.iter())
            .filter(|r| !o.roles.contains(r))
            .map(String::as_str)
            .collect();
        if !roles.is_empty() {
            out.push(format!("postgres roles added: {}", roles.join(", ")));
        }
        out
    }

    fn check_identity(raw: &config::RawIdentity, path: &str, s: &mut Sink) {
        validate::check_user(&raw.postgres_user, path, s);
    }

    fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink) {
        validate::check_role(p, name, role, s);
    }

    fn check_policy(p: &RawPolicy, s: &mut Sink) {
        validate::check_providers(p, s);
    }

    fn unfit(_: &Role, _: &Identity) -> Option<(Rule, String)> {
        None
    }

    /// The SQL that sets up the reconciler's own role: it creates roles,
    /// ends sessions, and holds what the roles of this provider hand out
    /// with grant option (a string: a script, not a policy document).
    fn reconciler_policy(policy: &Policy, provider: &Provider) -> Value {
        let mut schemas: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
        let mut roles = BTreeSet::new();
        for role in policy.roles.values().filter(|r| policy.targets(r).any(|t| t.name == provider.name)) {
            let perms = role.permissions.postgres.get();
            for (s, ps) in perms.privileges() {
                schemas.entry(s).or_default().extend(ps);
            }
            roles.extend(perms.roles.iter().cloned());
        }
        Value::String(setup_sql(&schemas, &roles))
    }
}

/// The reconciler's setup, for `gitgrant iam-policy`.
fn setup_sql(schemas: &BTreeMap<String, BTreeSet<&'static str>>, roles: &BTreeSet<String>) -> String {
    use postgres_protocol::escape::escape_identifier as ident;
    let mut out = String::from(
        "-- The reconciler's own role: it creates and drops each grant's role.\n\
         -- Give it a password, or on Amazon RDS: GRANT rds_iam TO gitgrant;\n\
         CREATE ROLE gitgrant LOGIN CREATEROLE;\n\
         -- It ends the sessions of a grant's holder when the grant ends.\n\
         GRANT pg_signal_backend TO gitgrant;\n",
    );
    for (schema, ps) in schemas {
        let ps: Vec<&str> = ps.iter().copied().collect();
        let s = ident(schema);
        out.push_str(&format!(
            "-- Schema {schema}: what roles hand out there, with grant option (run as the schema's owner).\n\
             GRANT USAGE ON SCHEMA {s} TO gitgrant WITH GRANT OPTION;\n\
             GRANT {p} ON ALL TABLES IN SCHEMA {s} TO gitgrant WITH GRANT OPTION;\n\
             -- And on tables made later (run as the role that makes them):\n\
             ALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT {p} ON TABLES TO gitgrant WITH GRANT OPTION;\n",
            p = ps.join(", ")
        ));
    }
    if !roles.is_empty() {
        out.push_str("-- Roles handed out (PostgreSQL 16 and later need the admin option).\n");
        for r in roles {
            out.push_str(&format!("GRANT {} TO gitgrant WITH ADMIN OPTION;\n", ident(r)));
        }
    }
    out
}
