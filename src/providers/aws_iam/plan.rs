//! AWS IAM's half of the plan: what each grant's managed policy should be
//! (`Desired`), what the account holds under this repository's path
//! (`Observation`), and the changes between the two (`Change`), each with
//! the line the plan prints for it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::config::Identity;
use super::document;
use crate::grant::{Grant, GrantId, Window, fmt_time};
use crate::plan::terms::{Action, KindChange, Known, Refusal, RevokeReason};
use crate::policy::{Policy, Provider, Role};

/// A grant's policy as the access repository wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The grant id.
    pub grant: String,
    /// The grant's subject.
    pub subject: String,
    /// The provider (account) it applies to.
    pub provider: String,
    /// The managed policy's name.
    pub name: String,
    /// The managed policy's path (this repository's ownership path).
    pub path: String,
    /// The policy document.
    pub document: Value,
    /// Who the policy is attached to.
    pub attach_to: Identity,
    /// The grant's window.
    pub window: Window,
    /// Tags, for the console.
    pub tags: Vec<(String, String)>,
}

/// The desired policy of `grant` of `role` in `provider` for `window`, or
/// why it cannot be applied (its document would break IAM's size quota).
/// `None` when the subject has no identity there (validation reports it).
pub fn desired(
    policy: &Policy,
    grant: &Grant,
    role: &Role,
    provider: &Provider,
    window: Window,
    commit: &str,
) -> Option<Result<Desired, String>> {
    let crate::policy::Identity::AwsIam(identity) =
        policy.people.get(&grant.subject)?.identity_on(provider)?
    else {
        return None;
    };
    let document = document::document(role, crate::providers::aws::account(provider), window);
    if let Some(why) = document::document_quota(&document) {
        return Some(Err(why));
    }
    Some(Ok(Desired {
        grant: grant.id.to_string(),
        subject: grant.subject.clone(),
        provider: provider.name.clone(),
        name: document::policy_name(&policy.repository(), &grant.id),
        path: document::ownership_path(policy),
        document,
        attach_to: identity.clone(),
        window,
        tags: document::tags(policy, grant, window, commit),
    }))
}

/// A managed policy under this repository's path, as the account holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// The provider (account) it is in.
    pub provider: String,
    /// The policy's name.
    pub name: String,
    /// The policy's path.
    pub path: String,
    /// The policy's ARN.
    pub arn: String,
    /// The grant its description names, when it names one.
    pub grant: Option<String>,
    /// The default version's document.
    pub document: Value,
    /// The default version's id.
    pub default_version: String,
    /// Who it is attached to.
    pub attached: Vec<Identity>,
    /// IAM groups it is attached to. gitgrant never attaches a policy to a
    /// group: every one found is drift.
    pub groups: Vec<String>,
    /// Its versions other than the default one, oldest first. gitgrant
    /// keeps none: each found was written by someone else (or left by a run
    /// stopped midway) and could be made the default again.
    pub old_versions: Vec<String>,
}

impl Observed {
    /// The grant this policy carries, as its description records it —
    /// believed only when the name is the one gitgrant gives that grant (or
    /// gave it before names were made injective).
    pub fn recorded_grant(&self, repository: &str) -> Option<GrantId> {
        let id = self.grant.as_deref()?.parse::<GrantId>().ok()?;
        (document::policy_name(repository, &id) == self.name
            || document::legacy_policy_name(&id) == self.name)
            .then_some(id)
    }

    /// Whether this is a grant's policy under the name gitgrant used before
    /// names were made injective.
    fn is_legacy(&self, repository: &str) -> bool {
        self.recorded_grant(repository)
            .is_some_and(|id| document::legacy_policy_name(&id) == self.name)
    }
}

/// What one run reads from an account before planning.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation {
    /// The managed policies under this repository's ownership path. Nothing
    /// outside it is ever listed here, so nothing outside it is ever changed.
    pub policies: Vec<Observed>,
    /// Every identity that exists in the account, with how many managed
    /// policies are attached to it now (ours and everyone else's).
    pub identities: BTreeMap<Identity, usize>,
    /// The most managed policies one identity may have attached.
    pub quota: AttachQuota,
    /// Every role in the account by name, with its unique id (`AROA…`):
    /// what a fence's `aws:userid` names.
    pub roles: BTreeMap<String, String>,
    /// The roles (by name) whose own policies can write IAM: an inline or
    /// customer-managed policy that allows an IAM write
    /// ([`super::statements::document_writes_iam`]), or AWS's
    /// `AdministratorAccess` or `IAMFullAccess`. A session of such a role
    /// could rewrite the fence on it.
    pub iam_writers: BTreeSet<String>,
}

/// IAM's quota of managed policies attached to one user or role, read once
/// per run (`GetAccountSummary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AttachQuota {
    /// Per IAM user.
    pub per_user: usize,
    /// Per IAM role.
    pub per_role: usize,
}

impl Default for AttachQuota {
    /// IAM's defaults, for an account that reports none.
    fn default() -> Self {
        AttachQuota {
            per_user: 10,
            per_role: 10,
        }
    }
}

impl AttachQuota {
    /// The quota for `identity`.
    pub fn of(&self, identity: &Identity) -> usize {
        match identity {
            Identity::User(_) => self.per_user,
            Identity::Role(_) => self.per_role,
        }
    }
}

/// IAM names are case-insensitive: `Alice` and `alice` are one user. The
/// key an identity is compared by.
fn key(identity: &Identity) -> (u8, String) {
    match identity {
        Identity::User(u) => (0, crate::names::iam_name_key(u)),
        Identity::Role(r) => (1, crate::names::iam_name_key(r)),
    }
}

fn same(a: &Identity, b: &Identity) -> bool {
    key(a) == key(b)
}

/// Names each grant's identity as IAM spells it in the account read:
/// `people` may write `Alice` for IAM's `alice`. IAM finds either, but a
/// session's `aws:userid` carries IAM's spelling (the grant pins the session
/// name to `${aws:username}`), and a fence compares it case-sensitively.
/// An identity not found is left as written (the plan refuses its grant).
pub fn spell_as_iam(desired: &mut [Desired], observed: &BTreeMap<String, Observation>) {
    for d in desired {
        d.attach_to = as_iam_spells(observed.get(&d.provider), &d.attach_to);
    }
}

/// `identity` as the account `o` read spells it, or as given when not found.
pub fn as_iam_spells(o: Option<&Observation>, identity: &Identity) -> Identity {
    o.and_then(|o| o.identities.keys().find(|i| same(i, identity)))
        .unwrap_or(identity)
        .clone()
}

/// One change to make in an account.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Create the policy and attach it.
    Grant {
        /// What to create.
        desired: Desired,
        /// Tampering found, in words: a session fence that an earlier run
        /// made and someone deleted is made again, and reported as drift.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        drift: Vec<String>,
    },
    /// Bring an existing policy in line: a new default document version,
    /// versions and attachments that gitgrant did not make removed.
    Update {
        /// What it should be.
        desired: Desired,
        /// What it is.
        observed: Box<Observed>,
        /// Whether the document differs.
        document: bool,
        /// Tampering found, in words: reported as drift, a security event.
        drift: Vec<String>,
        /// Versions other than the default, deleted first: gitgrant keeps
        /// only the one it wrote.
        prune: Vec<String>,
        /// Identities to attach it to.
        attach: Vec<Identity>,
        /// Identities to detach it from.
        detach: Vec<Identity>,
        /// Groups to detach it from.
        detach_groups: Vec<String>,
    },
    /// Detach and delete the policy.
    Revoke {
        /// What to delete.
        observed: Observed,
        /// Why.
        reason: RevokeReason,
        /// The grant it carried, when known.
        grant: Option<String>,
    },
}

impl KindChange for Change {
    /// The provider the change is made in.
    fn provider(&self) -> &str {
        match self {
            Change::Grant { desired, .. } | Change::Update { desired, .. } => &desired.provider,
            Change::Revoke { observed, .. } => &observed.provider,
        }
    }

    fn action(&self) -> Action {
        match self {
            _ if self.is_fence() => Action::Fence,
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

    /// The grant it is for, or the policy's name when no grant is known.
    fn grant(&self) -> &str {
        match self {
            Change::Grant { desired, .. } | Change::Update { desired, .. } => &desired.grant,
            Change::Revoke {
                grant, observed, ..
            } => grant.as_deref().unwrap_or(&observed.name),
        }
    }

    /// Revocations first, so the attachments they free count for the
    /// grants that follow; then updates and fences (a fence stands before
    /// the grant it fences is attached); then grants; last, policies under
    /// an old name whose grant has just been given its new one, so access
    /// never lapses.
    fn apply_order(&self) -> u8 {
        match self {
            Change::Grant { desired, .. } if desired.is_fence() => 1,
            Change::Revoke {
                reason: RevokeReason::Renamed,
                ..
            } => 3,
            Change::Revoke { .. } => 0,
            Change::Update { .. } => 1,
            Change::Grant { .. } => 2,
        }
    }

    /// Whether the change repairs tampering.
    fn is_drift(&self) -> bool {
        match self {
            Change::Grant { drift, .. } | Change::Update { drift, .. } => !drift.is_empty(),
            Change::Revoke { reason, .. } => *reason == RevokeReason::Drift,
        }
    }

    /// `+` for a grant, `~` for an update, `-` for a revocation (fences
    /// alike).
    fn sign(&self) -> char {
        match self {
            Change::Grant { .. } => '+',
            Change::Update { .. } => '~',
            Change::Revoke { .. } => '-',
        }
    }

    /// The change in words, without its sign.
    fn text(&self) -> String {
        if self.is_fence() {
            return self.fence_line();
        }
        match self {
            Change::Grant { desired: d, .. } => format!(
                "grant   {} to {} in {} from {} until {}",
                d.grant,
                &d.attach_to.describe(),
                d.provider,
                fmt_time(d.window.start),
                fmt_time(d.window.end)
            ),
            Change::Update {
                desired: d,
                document,
                drift,
                attach,
                detach,
                detach_groups,
                ..
            } => {
                let mut what = Vec::new();
                for found in drift {
                    what.push(format!("drift: {found}"));
                }
                if *document && drift.is_empty() {
                    what.push(format!(
                        "new window or permissions, until {}",
                        fmt_time(d.window.end)
                    ));
                } else if *document {
                    what.push(format!(
                        "restore the grant's document, until {}",
                        fmt_time(d.window.end)
                    ));
                }
                for i in attach {
                    what.push(format!("attach to {}", i.describe()));
                }
                for i in detach {
                    what.push(format!("detach from {}", i.describe()));
                }
                for g in detach_groups {
                    what.push(format!("detach from IAM group {g}"));
                }
                format!("update  {} in {}: {}", d.grant, d.provider, what.join("; "))
            }
            Change::Revoke {
                observed: o,
                reason,
                ..
            } => {
                let mut who: Vec<String> = o.attached.iter().map(Identity::describe).collect();
                who.extend(o.groups.iter().map(|g| format!("IAM group {g}")));
                format!(
                    "revoke  {} in {} ({reason}){}",
                    self.grant(),
                    o.provider,
                    if who.is_empty() {
                        String::new()
                    } else {
                        format!(", detaching from {}", who.join(", "))
                    }
                )
            }
        }
    }
}

impl Change {
    /// The policy's name.
    pub fn policy_name(&self) -> &str {
        match self {
            Change::Grant { desired, .. } | Change::Update { desired, .. } => &desired.name,
            Change::Revoke { observed, .. } => &observed.name,
        }
    }

    /// Whether it makes, rewrites or deletes a session fence.
    pub fn is_fence(&self) -> bool {
        super::fence::document::is_fence_name(self.policy_name())
    }

    /// A fence change in one line: the role, and the grants whose sessions
    /// it ends, with when.
    fn fence_line(&self) -> String {
        let label = match self {
            Change::Revoke { observed, .. } => observed.grant.as_deref().unwrap_or(&observed.name),
            _ => self.grant(),
        };
        let role = label.strip_prefix("fence:").unwrap_or(label);
        let fenced = |doc: &Value| {
            let all: Vec<String> = super::fence::document::read(doc)
                .iter()
                .map(|f| format!("{} from {}", f.session_name, fmt_time(f.end)))
                .collect();
            all.join(", ")
        };
        // Tampering first, as an update of a grant's policy says it.
        let found = |drift: &[String]| -> String {
            drift.iter().map(|d| format!("drift: {d}; ")).collect()
        };
        match self {
            Change::Grant { desired: d, drift } => format!(
                "fence   {role} in {} ({}): {}ends the sessions of {}",
                d.provider,
                d.name,
                found(drift),
                fenced(&d.document)
            ),
            Change::Update {
                desired: d, drift, ..
            } => format!(
                "fence   {role} in {} ({}): {}now ends the sessions of {}",
                d.provider,
                d.name,
                found(drift),
                fenced(&d.document)
            ),
            Change::Revoke { observed: o, .. } => format!(
                "unfence {role} in {} ({}): no session it fenced can still be alive",
                o.provider, o.name
            ),
        }
    }
}

impl Desired {
    /// Whether this is a session fence rather than a grant's policy.
    pub fn is_fence(&self) -> bool {
        super::fence::document::is_fence_name(&self.name)
    }
}

/// What is wrong with an observed document that gitgrant did not write, in
/// words; `None` when every statement is one gitgrant writes: the guards,
/// and statements that all carry one window.
fn tampering(document: &Value) -> Option<String> {
    let Some(statements) = document.get("Statement").and_then(Value::as_array) else {
        return Some("the default version is not a policy document gitgrant writes".into());
    };
    let mut windows = BTreeSet::new();
    let mut guards = 0;
    for s in statements {
        if document::is_guard(s) {
            guards += 1;
            continue;
        }
        let c = &s["Condition"];
        let window = (
            c["DateGreaterThan"]["aws:CurrentTime"].as_str(),
            c["DateLessThan"]["aws:CurrentTime"].as_str(),
        );
        let sid = s["Sid"].as_str().unwrap_or("without a Sid");
        match window {
            (Some(a), Some(b)) => {
                windows.insert((a.to_string(), b.to_string()));
            }
            _ => {
                return Some(format!(
                    "statement {sid} of the default version has no window: it would never end"
                ));
            }
        }
    }
    if guards < 2 {
        return Some(
            "the default version lacks the denies of writes to gitgrant's own policies".into(),
        );
    }
    (windows.len() > 1).then(|| "the default version's statements carry different windows".into())
}

/// Policies under this repository's path that should go, with why, and the
/// changes that bring the rest in line with `desired`.
///
/// `known` says why the grants of policies no active grant explains should
/// go (expired, deleted, invalid); any other such policy is drift.
/// `refused` are grants refused already (a document over IAM's size); the
/// plan adds those whose subject has no identity in the account and those
/// that would attach more managed policies to one identity than the
/// account's quota allows.
pub fn plan(
    repository: &str,
    desired: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &Known,
    refused: &mut Vec<Refusal>,
) -> Vec<Change> {
    let at = |provider: &str, name: &str| (provider.to_string(), name.to_string());
    let seen: BTreeMap<_, &Observed> = observed
        .values()
        .flat_map(|o| &o.policies)
        .map(|o| (at(&o.provider, &o.name), o))
        .collect();
    // Never adopt a policy that records another grant: names are
    // injective, so one that does was made or edited by someone else. Its
    // grant is refused, and the policy, which no grant explains, goes.
    let foreign = |d: &Desired| {
        seen.get(&at(&d.provider, &d.name))
            .is_some_and(|o| o.grant.as_deref() != Some(d.grant.as_str()))
    };
    let wanted: BTreeSet<_> = desired
        .iter()
        .filter(|d| !foreign(d))
        .map(|d| at(&d.provider, &d.name))
        .collect();
    // Grants applied (or to be) under their new name, by provider.
    let renamed: BTreeSet<(String, String)> = desired
        .iter()
        .map(|d| (d.provider.clone(), d.grant.clone()))
        .collect();

    let mut revokes: Vec<Change> = observed
        .values()
        .flat_map(|o| &o.policies)
        .filter(|o| !wanted.contains(&at(&o.provider, &o.name)))
        .map(|o| {
            let grant = o.recorded_grant(repository).map(|id| id.to_string());
            let reason = match &grant {
                Some(g)
                    if o.is_legacy(repository)
                        && renamed.contains(&(o.provider.clone(), g.clone())) =>
                {
                    RevokeReason::Renamed
                }
                Some(g) => known.get(g).copied().unwrap_or(RevokeReason::Drift),
                None if super::fence::document::is_fence_name(&o.name)
                    && o.grant.as_deref().is_some_and(|g| g.starts_with("fence:")) =>
                {
                    RevokeReason::Unneeded
                }
                None => RevokeReason::Drift,
            };
            Change::Revoke {
                observed: o.clone(),
                reason,
                grant,
            }
        })
        .collect();

    // Managed policies attached to each identity once the plan is applied,
    // counted as attachments are decided, revocations first (but not those
    // of renamed policies, which go only after their successor is made).
    let mut attached: BTreeMap<(String, (u8, String)), usize> = BTreeMap::new();
    for (provider, o) in observed {
        for (identity, n) in &o.identities {
            *attached
                .entry((provider.clone(), key(identity)))
                .or_default() += *n;
        }
    }
    let mut free = |provider: &str, identity: &Identity| {
        if let Some(n) = attached.get_mut(&(provider.to_string(), key(identity))) {
            *n = n.saturating_sub(1);
        }
    };
    for r in &revokes {
        if let Change::Revoke {
            observed: o,
            reason,
            ..
        } = r
            && *reason != RevokeReason::Renamed
        {
            for i in &o.attached {
                free(&o.provider, i);
            }
        }
    }
    for d in desired {
        if let Some(o) = seen.get(&at(&d.provider, &d.name)) {
            for i in o.attached.iter().filter(|i| !same(i, &d.attach_to)) {
                free(&d.provider, i);
            }
        }
    }

    let mut grants = Vec::new();
    let mut updates = Vec::new();
    let mut sorted: Vec<&Desired> = desired.iter().collect();
    sorted.sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
    for d in sorted {
        let current = seen.get(&at(&d.provider, &d.name));
        if let Some(o) = current.filter(|_| foreign(d)) {
            refused.push(Refusal {
                grant: d.grant.clone(),
                provider: d.provider.clone(),
                why: format!(
                    "a policy named {} exists and records {}, not this grant; gitgrant does not adopt it (delete it, and the next run grants anew)",
                    d.name,
                    o.grant.as_deref().map_or("no grant".to_string(), |g| format!("grant {g}"))
                ),
            });
            continue;
        }
        let needs_attach =
            current.is_none_or(|o| !o.attached.iter().any(|i| same(i, &d.attach_to)));
        let mut may_attach = true;
        if needs_attach {
            let quota = observed
                .get(&d.provider)
                .map(|o| o.quota.of(&d.attach_to))
                .unwrap_or_default();
            match attached.get_mut(&(d.provider.clone(), key(&d.attach_to))) {
                None => {
                    may_attach = false;
                    refused.push(Refusal {
                        grant: d.grant.clone(),
                        provider: d.provider.clone(),
                        why: format!(
                            "{} does not exist in {}: create it, or correct `people` in gitgrant.yaml",
                            &d.attach_to.describe(),
                            d.provider
                        ),
                    });
                }
                Some(n) if *n >= quota => {
                    may_attach = false;
                    refused.push(Refusal {
                        grant: d.grant.clone(),
                        provider: d.provider.clone(),
                        why: format!(
                            "it would be managed policy number {} attached to {}, over the account's quota of {quota} (GetAccountSummary); end another grant of theirs first, or raise the quota",
                            *n + 1,
                            &d.attach_to.describe(),
                        ),
                    });
                }
                Some(n) => *n += 1,
            }
        }
        match current {
            None if may_attach => grants.push(Change::Grant {
                desired: d.clone(),
                drift: Vec::new(),
            }),
            None => {}
            Some(o) => {
                let document = o.document != d.document;
                let mut drift = Vec::new();
                // A fence's statements change as grants come and go.
                if document
                    && !d.is_fence()
                    && let Some(why) = tampering(&o.document)
                {
                    drift.push(why);
                }
                if !o.old_versions.is_empty() {
                    drift.push(format!(
                        "{} policy version(s) gitgrant did not keep ({}): deleted",
                        o.old_versions.len(),
                        o.old_versions.join(", ")
                    ));
                }
                if !o.groups.is_empty() {
                    drift.push(format!(
                        "attached to IAM group(s) {}: every member held the grant",
                        o.groups.join(", ")
                    ));
                }
                let attach: Vec<Identity> = (needs_attach && may_attach)
                    .then(|| d.attach_to.clone())
                    .into_iter()
                    .collect();
                let detach: Vec<Identity> = o
                    .attached
                    .iter()
                    .filter(|i| !same(i, &d.attach_to))
                    .cloned()
                    .collect();
                if !detach.is_empty() {
                    let who: Vec<String> = detach.iter().map(Identity::describe).collect();
                    drift.push(format!("attached to {}, not the subject", who.join(", ")));
                }
                if document || !drift.is_empty() || !attach.is_empty() {
                    updates.push(Change::Update {
                        desired: d.clone(),
                        observed: Box::new((*o).clone()),
                        document,
                        drift,
                        prune: o.old_versions.clone(),
                        attach,
                        detach,
                        detach_groups: o.groups.clone(),
                    });
                }
            }
        }
    }
    // A policy under its old name goes only once its grant's new one is
    // made: when that was refused (a quota), the old one carries on.
    let made: BTreeSet<(String, String)> = grants
        .iter()
        .chain(&updates)
        .map(|c| (c.provider().to_string(), c.grant().to_string()))
        .collect();
    revokes.retain(|c| match c {
        Change::Revoke {
            reason: RevokeReason::Renamed,
            ..
        } => made.contains(&(c.provider().to_string(), c.grant().to_string())),
        _ => true,
    });
    let name = |c: &Change| (c.provider().to_string(), c.policy_name().to_string());
    revokes.sort_by_key(name);
    grants.into_iter().chain(updates).chain(revokes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Plan;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    const REPO: &str = "acme/access";

    fn id(name: &str) -> GrantId {
        GrantId {
            role: "prod-readonly".into(),
            name: name.into(),
        }
    }

    fn desired(name: &str, user: &str, end: &str) -> Desired {
        let window = Window {
            start: t("2026-11-22T10:00:00Z"),
            end: t(end),
        };
        Desired {
            grant: format!("prod-readonly/{name}"),
            subject: user.into(),
            provider: "aws-prod".into(),
            name: document::policy_name(REPO, &id(name)),
            path: "/gitgrant/acme/access/".into(),
            document: json!({ "Version": "2012-10-17", "Statement": [
                {
                    "Sid": "Statement0",
                    "Effect": "Allow",
                    "Action": ["logs:GetLogEvents"],
                    "Resource": ["*"],
                    "Condition": {
                        "DateGreaterThan": { "aws:CurrentTime": "2026-11-22T10:00:00Z" },
                        "DateLessThan": { "aws:CurrentTime": end },
                    },
                },
                document::guard_statements()[0],
                document::guard_statements()[1],
            ]}),
            attach_to: Identity::User(user.into()),
            window,
            tags: vec![],
        }
    }

    fn observed_of(d: &Desired) -> Observed {
        Observed {
            provider: d.provider.clone(),
            name: d.name.clone(),
            path: d.path.clone(),
            arn: format!("arn:aws:iam::111111111111:policy{}{}", d.path, d.name),
            grant: Some(d.grant.clone()),
            document: d.document.clone(),
            default_version: "v1".into(),
            attached: vec![d.attach_to.clone()],
            groups: vec![],
            old_versions: vec![],
        }
    }

    /// aws-prod holding `policies`, where `users` exist with the managed
    /// policies those attach plus `extra` of other tools' each.
    fn account(
        policies: Vec<Observed>,
        users: &[&str],
        extra: usize,
    ) -> BTreeMap<String, Observation> {
        let mut identities: BTreeMap<Identity, usize> = users
            .iter()
            .map(|u| (Identity::User(u.to_string()), extra))
            .collect();
        for p in &policies {
            for i in &p.attached {
                *identities.entry(i.clone()).or_default() += 1;
            }
        }
        BTreeMap::from([(
            "aws-prod".to_string(),
            Observation {
                policies,
                identities,
                quota: AttachQuota::default(),
                roles: BTreeMap::new(),
                iam_writers: BTreeSet::new(),
            },
        )])
    }

    const USERS: &[&str] = &["alice", "bob", "carol", "dave", "zed"];

    fn run(d: &[Desired], o: &BTreeMap<String, Observation>, known: &Known) -> Plan {
        let mut refused = Vec::new();
        let changes = plan(REPO, d, o, known, &mut refused);
        Plan::of(
            changes
                .into_iter()
                .map(crate::plan::Change::AwsIam)
                .collect(),
            refused,
            vec![],
        )
    }

    #[test]
    fn a_converged_account_plans_nothing() {
        let d = vec![desired("alice-1", "alice", "2026-11-22T12:00:00Z")];
        let o = account(d.iter().map(observed_of).collect(), USERS, 0);
        let p = run(&d, &o, &Known::new());
        assert!(p.is_empty());
        assert_eq!(
            p.to_string(),
            "No changes: the cloud matches the access repository.\n"
        );
    }

    #[test]
    fn grants_updates_and_revocations_with_their_reasons() {
        let alice = desired("alice-1", "alice", "2026-11-22T12:00:00Z");
        let bob_now = desired("bob-2", "bob", "2026-11-22T16:00:00Z");
        let bob_before = observed_of(&desired("bob-2", "bob", "2026-11-22T12:00:00Z"));
        let mut carol = observed_of(&desired("carol-3", "carol", "2026-11-22T11:00:00Z"));
        carol.attached.push(Identity::Role("Ops".into()));
        let mut stray = observed_of(&desired("zed-9", "zed", "2026-11-22T11:00:00Z"));
        stray.grant = None;
        let mut dave = observed_of(&desired("dave-4", "dave", "2026-11-22T11:00:00Z"));
        dave.attached.clear();
        let dave_wanted = desired("dave-4", "dave", "2026-11-22T11:00:00Z");
        let known = Known::from([("prod-readonly/carol-3".to_string(), RevokeReason::Expired)]);
        let p = run(
            &[alice, bob_now, dave_wanted],
            &account(vec![bob_before, carol, stray, dave], USERS, 0),
            &known,
        );
        insta::assert_snapshot!(p.to_string());
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["changes"][0]["action"], "grant");
        assert_eq!(json["changes"][3]["reason"], "expired");
        assert_eq!(json["changes"][4]["reason"], "drift");
        let order: Vec<u8> = p
            .changes
            .iter()
            .map(crate::plan::Change::apply_order)
            .collect();
        assert_eq!(order, [2, 1, 1, 0, 0]);
    }

    #[test]
    fn an_eleventh_managed_policy_for_one_user_is_refused_in_the_plan() {
        // alice has 8 policies of other tools and one grant applied already.
        let applied = desired("alice-0", "alice", "2026-11-22T12:00:00Z");
        let wanted = vec![
            applied.clone(),
            desired("alice-1", "alice", "2026-11-22T12:00:00Z"),
            desired("alice-2", "alice", "2026-11-22T12:00:00Z"),
            desired("bob-1", "bob", "2026-11-22T12:00:00Z"),
        ];
        let o = account(vec![observed_of(&applied)], USERS, 8);
        let p = run(&wanted, &o, &Known::new());
        let granted: Vec<&str> = p.changes.iter().map(crate::plan::Change::grant).collect();
        assert_eq!(granted.len(), 2, "{p}");
        assert!(granted.contains(&"prod-readonly/bob-1"), "{p}");
        assert_eq!(p.refused.len(), 1);
        insta::assert_snapshot!(p.to_string());

        // A revocation in the same plan frees a place.
        let mut ended = observed_of(&desired("alice-old", "alice", "2026-11-22T11:00:00Z"));
        ended.grant = None;
        let o = account(vec![observed_of(&applied), ended], USERS, 7);
        let p = run(&wanted, &o, &Known::new());
        assert!(p.refused.is_empty(), "{p}");
    }

    #[test]
    fn a_subject_without_an_identity_in_the_account_is_refused() {
        let p = run(
            &[desired("nobody-1", "nobody", "2026-11-22T12:00:00Z")],
            &account(vec![], USERS, 0),
            &Known::new(),
        );
        assert!(p.is_empty());
        assert!(
            p.refused[0]
                .why
                .starts_with("IAM user nobody does not exist in aws-prod"),
            "{}",
            p.refused[0].why
        );
    }

    #[test]
    fn a_user_named_in_another_case_is_the_same_iam_user() {
        // gitgrant.yaml says Alice; IAM holds alice. One user: no refusal,
        // and no detach and re-attach on every run.
        let d = desired("alice-1", "Alice", "2026-11-22T12:00:00Z");
        let mut o = observed_of(&d);
        o.attached = vec![Identity::User("alice".into())];
        let p = run(
            std::slice::from_ref(&d),
            &account(vec![o], USERS, 0),
            &Known::new(),
        );
        assert!(p.is_empty() && p.refused.is_empty(), "{p}");
        let p = run(&[d], &account(vec![], USERS, 0), &Known::new());
        assert!(p.refused.is_empty(), "{p}");
        assert_eq!(p.changes.len(), 1, "{p}");
    }

    #[test]
    fn a_policy_whose_description_records_another_grant_is_never_adopted() {
        let d = desired("alice-1", "alice", "2026-11-22T12:00:00Z");
        let mut o = observed_of(&d);
        o.grant = Some("prod-admin/alice-1".into());
        let p = run(
            std::slice::from_ref(&d),
            &account(vec![o], USERS, 0),
            &Known::new(),
        );
        assert_eq!(p.refused.len(), 1, "{p}");
        assert!(p.refused[0].why.contains("does not adopt"), "{p}");
        assert_eq!(p.changes.len(), 1, "{p}");
        assert!(p.changes[0].line().contains("(drift)"), "{p}");
    }

    #[test]
    fn a_policy_under_its_old_name_is_replaced_new_one_first() {
        let d = desired("alice-1", "alice", "2026-11-22T12:00:00Z");
        let mut old = observed_of(&d);
        old.name = document::legacy_policy_name(&id("alice-1"));
        let p = run(&[d], &account(vec![old], USERS, 0), &Known::new());
        let order: Vec<(u8, String)> = p
            .changes
            .iter()
            .map(|c| (c.apply_order(), c.line()))
            .collect();
        assert_eq!(order.len(), 2, "{p}");
        assert!(
            order[0].1.starts_with("+ grant   prod-readonly/alice-1"),
            "{p}"
        );
        assert!(order[1].1.contains("(renamed)"), "{p}");
        assert!(
            order[0].0 < order[1].0,
            "the new policy is made before the old one goes"
        );
    }

    #[test]
    fn a_policy_under_its_old_name_stays_while_its_new_one_is_refused() {
        // alice is at her quota: the old policy is one of her ten.
        let d = desired("alice-1", "alice", "2026-11-22T12:00:00Z");
        let mut old = observed_of(&d);
        old.name = document::legacy_policy_name(&id("alice-1"));
        let p = run(&[d], &account(vec![old], USERS, 9), &Known::new());
        assert_eq!(p.refused.len(), 1, "{p}");
        assert!(p.changes.is_empty(), "the old policy keeps her access: {p}");
    }

    #[test]
    fn a_tampered_default_version_and_the_versions_beside_it_are_drift() {
        let d = desired("alice-1", "alice", "2026-11-22T12:00:00Z");
        let mut o = observed_of(&d);
        o.document = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Statement0", "Effect": "Allow", "Action": "*", "Resource": "*"}
        ]});
        o.default_version = "v3".into();
        o.old_versions = vec!["v1".into(), "v2".into()];
        let p = run(&[d], &account(vec![o], USERS, 0), &Known::new());
        let crate::plan::Change::AwsIam(Change::Update {
            drift,
            prune,
            document,
            ..
        }) = &p.changes[0]
        else {
            panic!("{p}")
        };
        assert!(document);
        // Every version gitgrant did not keep goes, its own oldest one included.
        assert_eq!(prune, &["v1", "v2"]);
        assert!(drift[0].contains("statement Statement0"), "{drift:?}");
        assert!(drift[1].contains("2 policy version(s)"), "{drift:?}");
        assert!(p.to_string().contains("drift: "), "{p}");
        assert!(!p.to_string().contains("new window or permissions"), "{p}");
    }

    #[test]
    fn a_policy_attached_to_a_group_is_detached_from_it_as_drift() {
        let d = desired("alice-1", "alice", "2026-11-22T12:00:00Z");
        let mut o = observed_of(&d);
        o.groups = vec!["Everyone".into()];
        let p = run(&[d], &account(vec![o], USERS, 0), &Known::new());
        let line = p.changes[0].line();
        assert!(
            line.contains("drift: attached to IAM group(s) Everyone"),
            "{line}"
        );
        assert!(line.contains("detach from IAM group Everyone"), "{line}");
    }
}
