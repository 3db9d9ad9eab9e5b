//! Validation of what the policy says for the `postgres` kind: each
//! provider's URL variable, a person's login role, and a role's schemas,
//! privileges and roles. Every name that reaches the server is checked
//! here as an identifier; privileges come from a fixed list.

use super::names;
use crate::policy::{ProviderType, RawPolicy, RawRole};
use crate::rule::Rule;
use crate::validate::Sink;

/// A person's `postgres_user`, at `path`.
pub(crate) fn check_user(user: &Option<String>, path: &str, s: &mut Sink) {
    if let Some(u) = user
        && let Err(why) = names::check_role_name(u)
    {
        s.at(
            Rule::PgIdentifier,
            &format!("{path}.postgres_user"),
            format!("postgres_user: {why}"),
        );
    }
}

/// Each postgres provider names the variable its URL comes from; no
/// other kind names it.
pub(crate) fn check_providers(p: &RawPolicy, s: &mut Sink) {
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        let url_env = &provider.postgres.url_env;
        match (provider.kind == ProviderType::Postgres, url_env) {
            (false, Some(_)) => s.at_key(
                Rule::PgProvider,
                &format!("{path}.url_env"),
                format!("`url_env` is for postgres providers; `{name}` is {}", provider.kind),
            ),
            (false, None) => {}
            (true, None) => s.at_key(
                Rule::PgProvider,
                &path,
                format!("provider `{name}` is postgres but has no `url_env`"),
            ),
            (true, Some(v)) => {
                if let Err(why) = names::check_url_env(v) {
                    s.at(Rule::PgProvider, &format!("{path}.url_env"), why);
                }
            }
        }
    }
}

/// A role's PostgreSQL keys: on a role that applies in a postgres
/// provider, its schemas, privileges and roles (identifiers, from the
/// fixed list, each once, `allow_admin` for those that outlive the
/// window); on any other role, none.
pub(crate) fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink) {
    let path = format!("roles.{name}.permissions.postgres");
    let pg = role.provider.names().iter().any(|n| {
        (p.providers.get(*n)).is_some_and(|pr| pr.kind == ProviderType::Postgres)
    });
    let Some(perms) = &role.permissions.postgres.postgres else {
        if pg && !role.permissions.is_empty() {
            s.at_key(
                Rule::EmptyPermissions,
                &format!("roles.{name}.permissions"),
                format!("role `{name}` applies in a postgres provider but hands out nothing there (`postgres:`)"),
            );
        }
        return;
    };
    if !pg {
        s.at_key(
            Rule::KindMismatch,
            &path,
            format!("`postgres` is for postgres roles; `{name}` applies in no postgres provider"),
        );
        return;
    }
    if perms.is_empty() {
        s.at_key(
            Rule::EmptyPermissions,
            &path,
            format!("role `{name}` hands out no schema privilege and no role"),
        );
    }
    for (schema, privileges) in &perms.schemas {
        let at = format!("{path}.schemas.{schema}");
        if let Err(why) = names::check_identifier(schema) {
            s.at_key(Rule::PgIdentifier, &at, format!("schema: {why}"));
        }
        if privileges.is_empty() {
            s.at(Rule::PgPrivilege, &at, format!("schema `{schema}` lists no privilege"));
        }
        for (i, privilege) in privileges.iter().enumerate() {
            let at = format!("{at}.{i}");
            match names::privilege(privilege) {
                None => s.at(
                    Rule::PgPrivilege,
                    &at,
                    format!("`{privilege}` is not a table privilege gitgrant hands out"),
                ),
                Some(k) if privileges[..i].iter().any(|o| o.eq_ignore_ascii_case(k)) => {
                    s.at(Rule::PgPrivilege, &at, format!("`{k}` is named twice"));
                }
                Some(k) if names::ADMIN_PRIVILEGES.contains(&k) && !role.allow_admin => s.at(
                    Rule::PgAdminRole,
                    &at,
                    format!("`{k}` lets its holder attach a trigger to a table, which outlives the window"),
                ),
                Some(_) => {}
            }
        }
    }
    for (i, r) in perms.roles.iter().enumerate() {
        let at = format!("{path}.roles.{i}");
        if let Err(why) = names::check_role_name(r) {
            s.at(Rule::PgIdentifier, &at, format!("role: {why}"));
        } else if perms.roles[..i].contains(r) {
            s.at(Rule::PgIdentifier, &at, format!("`{r}` is named twice"));
        } else if names::ADMIN_ROLES.contains(&r.as_str()) && !role.allow_admin {
            s.at(
                Rule::PgAdminRole,
                &at,
                format!("`{r}` reaches the server's files or programs, enough to make access permanent"),
            );
        }
    }
}
