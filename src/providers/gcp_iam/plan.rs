//! Google Cloud's half of the plan: the bindings each grant should have in
//! its resource's allow policy, and the diff against the policy read.
//! Pure: the adapter writes every change of one resource in one
//! read-modify-write.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::document::{self, Binding, Policy};
use crate::grant::{Grant, Window, fmt_time};
use crate::plan::terms::{Action, KindChange, Known, Refusal, RevokeReason};
use crate::policy::{Policy as GitgrantPolicy, Provider, Role};

/// One grant's bindings in one resource: one per Google role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The grant id.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// The resource whose allow policy holds the bindings.
    pub resource: String,
    /// The principal bound: `user:alice@acme.com`.
    pub member: String,
    /// The grant's window, which each binding's condition holds.
    pub window: Window,
    /// The bindings, one per role, as gitgrant writes them.
    pub bindings: Vec<Binding>,
}

impl Desired {
    /// The roles bound, in the order written.
    pub fn roles(&self) -> Vec<&str> {
        self.bindings
            .iter()
            .map(|b| b.fields().role.as_str())
            .collect()
    }
}

/// What a grant of `role` asks of the gcp-iam provider `provider` over
/// `window`: `None` when the subject has no principal there (validation
/// reports it), `Err` when a binding cannot carry its marker.
pub fn desired(
    policy: &GitgrantPolicy,
    grant: &Grant,
    role: &Role,
    provider: &Provider,
    window: Window,
) -> Option<Result<Desired, String>> {
    let crate::policy::Identity::GcpIam(super::config::Identity::Member(member)) =
        policy.people.get(&grant.subject)?.identity_on(provider)?
    else {
        return None;
    };
    let resource = provider.keys.gcp_iam.resource.clone()?;
    let perms = &role.permissions.gcp_iam;
    let repository = policy.repository();
    let mut bindings = Vec::new();
    for r in &perms.gcp_roles {
        match document::binding(
            &repository,
            &grant.id,
            r,
            member,
            window,
            perms.gcp_condition.as_deref(),
        ) {
            Some(b) => bindings.push(b),
            None => {
                return Some(Err(format!(
                    "the repository and grant id are too long for a binding's description ({} characters at most)",
                    document::MAX_DESCRIPTION_CHARS
                )));
            }
        }
    }
    Some(Ok(Desired {
        grant: grant.id.to_string(),
        provider: provider.name.clone(),
        resource,
        member: member.clone(),
        window,
        bindings,
    }))
}

/// A resource's allow policy as one run read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The provider.
    pub provider: String,
    /// The resource.
    pub resource: String,
    /// Its allow policy, at version 3.
    pub policy: Policy,
}

/// One change to a resource's allow policy: a grant's bindings added,
/// replaced or removed. The adapter writes every change of one resource
/// in one `setIamPolicy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Add the grant's bindings.
    Grant {
        /// What to add.
        desired: Desired,
    },
    /// Replace the grant's bindings: a new window, or ones tampered with.
    Update {
        /// What they should be.
        desired: Desired,
        /// This repository's bindings of the grant that go.
        remove: Vec<Binding>,
        /// Tampering found, in words: reported as drift.
        drift: Vec<String>,
    },
    /// Remove the grant's bindings.
    Revoke {
        /// The provider.
        provider: String,
        /// The resource.
        resource: String,
        /// The grant the bindings carry.
        grant: String,
        /// Its bindings.
        remove: Vec<Binding>,
        /// Why.
        reason: RevokeReason,
    },
}

impl Change {
    /// The bindings it adds.
    pub fn adds(&self) -> &[Binding] {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.bindings,
            Change::Revoke { .. } => &[],
        }
    }

    /// The bindings it removes.
    pub fn removes(&self) -> &[Binding] {
        match self {
            Change::Grant { .. } => &[],
            Change::Update { remove, .. } | Change::Revoke { remove, .. } => remove,
        }
    }

    /// The resource it changes.
    pub fn resource(&self) -> &str {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.resource,
            Change::Revoke { resource, .. } => resource,
        }
    }
}

/// `role roles/a, roles/b on projects/p for user:alice@acme.com`.
fn bound(d: &Desired) -> String {
    format!(
        "role {} on {} for {}",
        d.roles().join(", "),
        d.resource,
        d.member
    )
}

impl KindChange for Change {
    fn provider(&self) -> &str {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.provider,
            Change::Revoke { provider, .. } => provider,
        }
    }

    fn grant(&self) -> &str {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.grant,
            Change::Revoke { grant, .. } => grant,
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
            Change::Update { drift, .. } => !drift.is_empty(),
            Change::Revoke { reason, .. } => *reason == RevokeReason::Drift,
            Change::Grant { .. } => false,
        }
    }


    fn text(&self) -> String {
        match self {
            Change::Grant { desired: d } => format!(
                "grant   {} in {}: {} from {} until {}",
                d.grant,
                d.provider,
                bound(d),
                fmt_time(d.window.start),
                fmt_time(d.window.end)
            ),
            Change::Update {
                desired: d, drift, ..
            } => {
                let found: String = drift.iter().map(|x| format!("drift: {x}; ")).collect();
                format!(
                    "update  {} in {}: {found}{} from {} until {}",
                    d.grant,
                    d.provider,
                    bound(d),
                    fmt_time(d.window.start),
                    fmt_time(d.window.end)
                )
            }
            Change::Revoke {
                provider,
                resource,
                grant,
                remove,
                reason,
            } => {
                let roles: Vec<&str> = remove.iter().map(|b| b.fields().role.as_str()).collect();
                format!(
                    "revoke  {grant} in {provider} ({reason}): role {} on {resource}",
                    roles.join(", ")
                )
            }
        }
    }
}

/// The changes that make each observed resource's bindings of this
/// repository what `wanted` says: a grant whose bindings are missing is
/// granted, one whose bindings differ is updated, and bindings of a grant
/// no longer wanted are revoked, with the reason `known` gives (drift
/// otherwise). A grant whose bindings would break one of Google's quotas
/// on the policy is refused instead, with the quota named.
pub fn plan(
    repository: &str,
    wanted: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &Known,
    refused: &mut Vec<Refusal>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, o) in observed {
        let mut ours: BTreeMap<String, Vec<Binding>> = BTreeMap::new();
        for (id, b) in o.policy.ours(repository) {
            ours.entry(id.to_string()).or_default().push(b.clone());
        }
        let mut after = o.policy.clone();
        let before = document::quotas(&after);
        let here: Vec<&Desired> = wanted.iter().filter(|d| &d.provider == name).collect();
        let wanted_ids: BTreeSet<&str> = here.iter().map(|d| d.grant.as_str()).collect();
        // Revocations first: what they free counts for the grants after.
        for (id, bindings) in &ours {
            if wanted_ids.contains(id.as_str()) {
                continue;
            }
            let reason = known.get(id).copied().unwrap_or(RevokeReason::Drift);
            after = document::merge(&after, repository, &[], bindings);
            changes.push(Change::Revoke {
                provider: name.clone(),
                resource: o.resource.clone(),
                grant: id.clone(),
                remove: bindings.clone(),
                reason,
            });
        }
        for d in here {
            let have = ours.get(&d.grant).map(Vec::as_slice).unwrap_or_default();
            let same = have.len() == d.bindings.len()
                && d.bindings.iter().all(|w| have.iter().any(|h| h.same(w)));
            if same {
                continue;
            }
            let remove: Vec<Binding> = have
                .iter()
                .filter(|h| !d.bindings.iter().any(|w| w.same(h)))
                .cloned()
                .collect();
            let next = document::merge(&after, repository, &d.bindings, &remove);
            let broken: Vec<String> = document::quotas(&next)
                .into_iter()
                .filter(|q| !before.contains(q))
                .map(|q| q.to_string())
                .collect();
            if !broken.is_empty() {
                refused.push(Refusal {
                    grant: d.grant.clone(),
                    provider: name.clone(),
                    why: format!(
                        "its bindings would break a quota of {}'s allow policy: {}",
                        o.resource,
                        broken.join("; ")
                    ),
                });
                continue;
            }
            after = next;
            changes.push(if have.is_empty() {
                Change::Grant { desired: d.clone() }
            } else {
                Change::Update {
                    desired: d.clone(),
                    drift: drift(have, d),
                    remove,
                }
            });
        }
    }
    changes
}

/// What differs between the bindings a grant has and the ones it should
/// have, when the grant's window is the same: tampering.
fn drift(have: &[Binding], d: &Desired) -> Vec<String> {
    let mut out = Vec::new();
    for h in have {
        let f = h.fields();
        let Some(w) = d.bindings.iter().find(|w| w.fields().role == f.role) else {
            out.push(format!("binding of {} that the grant does not have", f.role));
            continue;
        };
        let wf = w.fields();
        if f.members != wf.members {
            out.push(format!("members of {} changed", f.role));
        }
        let expr = |c: &Option<document::Condition>| c.as_ref().map(|c| c.expression.clone());
        let (now, then) = (expr(&f.condition), expr(&wf.condition));
        let window_moved = f.condition.as_ref().and_then(|c| c.title.as_ref())
            != wf.condition.as_ref().and_then(|c| c.title.as_ref());
        if now != then && !window_moved {
            out.push(format!("condition of {} changed", f.role));
        }
    }
    out
}
