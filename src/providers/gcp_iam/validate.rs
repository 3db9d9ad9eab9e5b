//! Validation of what the policy says for the `gcp-iam` kind: each
//! provider's resource, a person's principal, and a role's Google roles
//! and condition — including the roles whose holder can reach past the
//! window, which need `allow_admin` as IAM writes do on AWS.

use super::catalogue::{Class, catalogue};
use super::document;
use crate::policy::{ProviderType, RawPolicy, RawRole};
use crate::rule::Rule;
use crate::validate::Sink;

/// A person's `gcp_member`, at `path`.
pub(crate) fn check_member(member: &Option<String>, path: &str, s: &mut Sink) {
    if let Some(m) = member
        && let Err(why) = document::check_member(m)
    {
        s.at(Rule::InvalidIdentity, &format!("{path}.gcp_member"), why);
    }
}

/// Each gcp-iam provider names its resource; no other kind names one.
pub(crate) fn check_providers(p: &RawPolicy, s: &mut Sink) {
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        let resource = &provider.gcp_iam.resource;
        match (provider.kind == ProviderType::GcpIam, resource) {
            (true, None) => s.at_key(
                Rule::GcpProvider,
                &path,
                format!("provider `{name}` is gcp-iam but has no `resource`"),
            ),
            (true, Some(r)) => {
                if let Err(why) = document::check_resource(r) {
                    s.at(Rule::GcpProvider, &format!("{path}.resource"), why);
                }
            }
            (false, Some(_)) => s.at_key(
                Rule::GcpProvider,
                &format!("{path}.resource"),
                format!(
                    "`resource` is for gcp-iam providers; `{name}` is {}",
                    provider.kind
                ),
            ),
            (false, None) => {}
        }
    }
}

/// A role's Google keys: on a role that applies in a gcp-iam provider,
/// its roles (named as Google names them, known when predefined, and
/// `allow_admin` for those that reach past the window) and its condition;
/// on any other role, none of them.
pub(crate) fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink) {
    let path = format!("roles.{name}");
    let perms = &role.permissions.gcp_iam;
    let google = role
        .provider
        .names()
        .iter()
        .any(|n| p.providers.get(*n).is_some_and(|pr| pr.kind == ProviderType::GcpIam));
    if !google {
        for (key, used) in [
            ("gcp_roles", !perms.gcp_roles.is_empty()),
            ("gcp_condition", perms.gcp_condition.is_some()),
        ] {
            if used {
                s.at_key(
                    Rule::KindMismatch,
                    &format!("{path}.permissions.{key}"),
                    format!("`{key}` is for gcp-iam roles; `{name}` applies in no gcp-iam provider"),
                );
            }
        }
        return;
    }
    if perms.gcp_roles.is_empty() && !role.permissions.is_empty() {
        s.at_key(
            Rule::EmptyPermissions,
            &format!("{path}.permissions"),
            format!("role `{name}` applies in a gcp-iam provider but binds no `gcp_roles` there"),
        );
    }
    for (i, r) in perms.gcp_roles.iter().enumerate() {
        let at = format!("{path}.permissions.gcp_roles.{i}");
        if let Err(why) = document::check_role(r) {
            s.at(Rule::GcpRole, &at, why);
            continue;
        }
        if perms.gcp_roles[..i].contains(r) {
            s.at(Rule::GcpRole, &at, format!("`{r}` is named twice"));
            continue;
        }
        match catalogue().classify(r) {
            Class::Plain(_) | Class::Custom => {}
            Class::Unknown { did_you_mean } => s.at(
                Rule::GcpRole,
                &at,
                match did_you_mean {
                    Some(d) => format!("`{r}` is not a predefined role (did you mean `{d}`?)"),
                    None => format!("`{r}` is not a predefined role"),
                },
            ),
            Class::Admin(known) if !role.allow_admin => {
                let why: Vec<String> = known.reasons.iter().map(ToString::to_string).collect();
                s.at(
                    Rule::GcpAdminRole,
                    &at,
                    format!("`{r}` reaches past the window: {}", why.join("; ")),
                )
            }
            Class::Admin(_) => {}
        }
    }
    if let Some(c) = &perms.gcp_condition {
        let at = format!("{path}.permissions.gcp_condition");
        if let Err(why) = document::check_condition(c) {
            s.at(Rule::GcpRole, &at, why);
        }
    }
}
