//! Policy changes that widen access: each a named check comparing a role
//! before and after.

use std::collections::BTreeSet;

use crate::policy::{Policy, Requester, Role};

/// A check comparing a role before and after a policy change; it says what
/// widened, if anything.
type RoleCheck = fn(&Role, &Role) -> Option<String>;

/// The widening checks, by name, in the order their messages are listed.
static ROLE_CHECKS: &[(&str, RoleCheck)] = &[
    ("max_duration", max_duration_raised),
    ("approvers", approvers_changed),
    ("min_approvals", min_approvals_lowered),
    ("break_glass", break_glass_enabled),
    ("requesters", requesters_added),
    ("require_ticket", ticket_requirement_relaxed),
    ("require_mfa", mfa_dropped),
    ("provider", provider_changed),
    ("permissions", permissions_added),
    ("auto_approve", auto_approve_changed),
];

/// Every role the change from `old` to `new` widened, with what widened:
/// roles added, and roles whose checks found something. Sorted by role.
pub(super) fn widenings(old: &Policy, new: &Policy) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for (name, role) in &new.roles {
        let changes = match old.roles.get(name) {
            None => vec![role_added(role)],
            Some(before) => ROLE_CHECKS
                .iter()
                .filter_map(|(_, check)| check(before, role))
                .collect(),
        };
        if !changes.is_empty() {
            out.push((name.clone(), changes));
        }
    }
    out
}

/// A rule added, or one whose conditions changed: what lands without
/// review is decided there.
fn auto_approve_changed(old: &Role, new: &Role) -> Option<String> {
    let changed: Vec<String> = new
        .auto_approve
        .iter()
        .filter_map(
            |r| match old.auto_approve.iter().find(|o| o.name == r.name) {
                None => Some(format!("rule `{}` added ({})", r.name, r.conditions())),
                Some(o) if o != r => Some(format!(
                    "rule `{}` changed from ({}) to ({})",
                    r.name,
                    o.conditions(),
                    r.conditions()
                )),
                Some(_) => None,
            },
        )
        .collect();
    (!changed.is_empty()).then(|| format!("auto_approve: {}", changed.join("; ")))
}

fn role_added(role: &Role) -> String {
    format!(
        "role added (max_duration {}, approvers {}, min_approvals {})",
        role.max_duration,
        list(&role.approvers),
        role.min_approvals
    )
}

fn max_duration_raised(old: &Role, new: &Role) -> Option<String> {
    (new.max_duration > old.max_duration).then(|| {
        format!(
            "max_duration raised from {} to {}",
            old.max_duration, new.max_duration
        )
    })
}

fn approvers_changed(old: &Role, new: &Role) -> Option<String> {
    let set = |r: &Role| r.approvers.iter().cloned().collect::<BTreeSet<_>>();
    (set(old) != set(new)).then(|| {
        format!(
            "approvers changed from {} to {}",
            list(&old.approvers),
            list(&new.approvers)
        )
    })
}

fn min_approvals_lowered(old: &Role, new: &Role) -> Option<String> {
    (new.min_approvals < old.min_approvals).then(|| {
        format!(
            "min_approvals lowered from {} to {}",
            old.min_approvals, new.min_approvals
        )
    })
}

fn break_glass_enabled(old: &Role, new: &Role) -> Option<String> {
    (new.break_glass && !old.break_glass)
        .then(|| "break_glass turned on: grants may land without review".to_string())
}

fn requesters_added(old: &Role, new: &Role) -> Option<String> {
    let before: BTreeSet<String> = old.requesters.iter().map(requester).collect();
    let added: Vec<String> = new
        .requesters
        .iter()
        .map(requester)
        .filter(|r| !before.contains(r))
        .collect();
    (!added.is_empty()).then(|| format!("requesters added: {}", added.join(", ")))
}

fn ticket_requirement_relaxed(old: &Role, new: &Role) -> Option<String> {
    let pattern = |r: &Role| r.require_ticket.as_ref().map(|p| p.as_str().to_string());
    match (pattern(old), pattern(new)) {
        (Some(_), None) => Some("require_ticket removed".to_string()),
        (Some(a), Some(b)) if a != b => Some("require_ticket pattern changed".to_string()),
        _ => None,
    }
}

fn mfa_dropped(old: &Role, new: &Role) -> Option<String> {
    (old.require_mfa && !new.require_mfa).then(|| "require_mfa turned off".to_string())
}

fn provider_changed(old: &Role, new: &Role) -> Option<String> {
    let added: Vec<&str> = new
        .providers
        .iter()
        .filter(|p| !old.providers.contains(p))
        .map(String::as_str)
        .collect();
    (!added.is_empty()).then(|| {
        format!(
            "provider changed from {} to {}",
            old.providers_text(),
            new.providers_text()
        )
    })
}

fn permissions_added(old: &Role, new: &Role) -> Option<String> {
    let parts = crate::providers::widened(old, new);
    (!parts.is_empty()).then(|| format!("permissions: {}", parts.join(", ")))
}

fn requester(r: &Requester) -> String {
    match r {
        Requester::Anyone => "*".to_string(),
        Requester::Login(l) | Requester::Team(l) => l.clone(),
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "(none)".to_string()
    } else {
        items.join(", ")
    }
}
