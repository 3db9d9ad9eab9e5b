//! Validation of what the policy says for the `azure-pim` kind: each
//! provider's tenant, scope and endpoint, a person's object id, and a
//! role's Azure roles — including those that can write role assignments,
//! which need `allow_admin` as IAM writes do on AWS.

use super::names;
use crate::policy::{ProviderType, RawPolicy, RawRole};
use crate::rule::Rule;
use crate::validate::Sink;

/// A person's `azure_object_id`, at `path`.
pub(crate) fn check_object_id(id: &Option<String>, path: &str, s: &mut Sink) {
    if let Some(id) = id
        && let Err(why) = names::check_guid(id)
    {
        s.at(
            Rule::InvalidIdentity,
            &format!("{path}.azure_object_id"),
            format!("azure_object_id: {why}"),
        );
    }
}

/// Each azure-pim provider names its tenant and scope; no other kind
/// names any of the three keys.
pub(crate) fn check_providers(p: &RawPolicy, s: &mut Sink) {
    for (name, provider) in &p.providers {
        let path = format!("providers.{name}");
        let keys = &provider.azure_pim;
        if provider.kind != ProviderType::AzurePim {
            for (key, used) in [
                ("tenant_id", keys.tenant_id.is_some()),
                ("scope", keys.scope.is_some()),
                ("management_endpoint", keys.management_endpoint.is_some()),
            ] {
                if used {
                    s.at_key(
                        Rule::AzureProvider,
                        &format!("{path}.{key}"),
                        format!("`{key}` is for azure-pim providers; `{name}` is {}", provider.kind),
                    );
                }
            }
            continue;
        }
        for (key, value, check) in [
            ("tenant_id", &keys.tenant_id, names::check_guid as fn(&str) -> Result<(), String>),
            ("scope", &keys.scope, names::check_scope),
        ] {
            match value {
                None => s.at_key(
                    Rule::AzureProvider,
                    &path,
                    format!("provider `{name}` is azure-pim but has no `{key}`"),
                ),
                Some(v) => {
                    if let Err(why) = check(v) {
                        s.at(Rule::AzureProvider, &format!("{path}.{key}"), why);
                    }
                }
            }
        }
        if let Some(e) = &keys.management_endpoint
            && let Err(why) = names::check_endpoint(e)
        {
            s.at(Rule::AzureProvider, &format!("{path}.management_endpoint"), why);
        }
    }
}

/// A role's Azure keys: on a role that applies in an azure-pim provider,
/// its roles (well formed, each once, and `allow_admin` for those that
/// write role assignments); on any other role, none.
pub(crate) fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink) {
    let path = format!("roles.{name}");
    let roles = &role.permissions.azure_pim.azure_roles;
    let azure = role
        .provider
        .names()
        .iter()
        .any(|n| p.providers.get(*n).is_some_and(|pr| pr.kind == ProviderType::AzurePim));
    if !azure {
        if !roles.is_empty() {
            s.at_key(
                Rule::KindMismatch,
                &format!("{path}.permissions.azure_roles"),
                format!("`azure_roles` is for azure-pim roles; `{name}` applies in no azure-pim provider"),
            );
        }
        return;
    }
    if roles.is_empty() && !role.permissions.is_empty() {
        s.at_key(
            Rule::EmptyPermissions,
            &format!("{path}.permissions"),
            format!("role `{name}` applies in an azure-pim provider but assigns no `azure_roles` there"),
        );
    }
    for (i, r) in roles.iter().enumerate() {
        let at = format!("{path}.permissions.azure_roles.{i}");
        if let Err(why) = names::check_role(r) {
            s.at(Rule::AzureRole, &at, why);
        } else if roles[..i].iter().any(|o| o.eq_ignore_ascii_case(r)) {
            s.at(Rule::AzureRole, &at, format!("`{r}` is named twice"));
        } else if names::is_admin_role(r) && !role.allow_admin {
            s.at(
                Rule::AzureAdminRole,
                &at,
                format!("`{r}` can write role assignments, so its holder could make their access permanent"),
            );
        }
    }
}
