//! The plan: what must change in the cloud so that it matches the access
//! repository. A value — printable like `terraform plan`, serialisable to
//! JSON — computed whole before anything is applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::grant::{Window, fmt_time};
use crate::policy::Identity;
use crate::provider::Observation;
use crate::validate::describe_identity;

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

/// A managed policy under this repository's path, as the provider reports it.
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
    /// Who it is attached to.
    pub attached: Vec<Identity>,
    /// Its versions other than the default one, oldest first.
    pub old_versions: Vec<String>,
}

/// Why a policy is revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevokeReason {
    /// Its grant's window has ended.
    Expired,
    /// Its grant's file was deleted (an early revoke).
    Deleted,
    /// No grant explains it: it is removed from the cloud.
    Drift,
    /// Its grant file no longer passes validation: it is not applied.
    Invalid,
    /// Its grant's window has not started yet (a later `starts`).
    NotStarted,
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevokeReason::Expired => "expired",
            RevokeReason::Deleted => "deleted",
            RevokeReason::Drift => "drift",
            RevokeReason::Invalid => "invalid",
            RevokeReason::NotStarted => "not-started",
        })
    }
}

/// One change to make.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Create the policy and attach it.
    Grant {
        /// What to create.
        desired: Desired,
    },
    /// Bring an existing policy in line: a new default document version,
    /// attachments added or removed.
    Update {
        /// What it should be.
        desired: Desired,
        /// What it is.
        observed: Box<Observed>,
        /// Whether the document differs.
        document: bool,
        /// Old versions to delete first, so the new one fits IAM's five.
        prune: Vec<String>,
        /// Identities to attach it to.
        attach: Vec<Identity>,
        /// Identities to detach it from.
        detach: Vec<Identity>,
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

impl Change {
    /// The provider the change is made in.
    pub fn provider(&self) -> &str {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.provider,
            Change::Revoke { observed, .. } => &observed.provider,
        }
    }

    /// The policy's name.
    pub fn policy_name(&self) -> &str {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.name,
            Change::Revoke { observed, .. } => &observed.name,
        }
    }

    /// The grant it is for, or the policy's name when no grant is known.
    pub fn grant(&self) -> &str {
        match self {
            Change::Grant { desired } | Change::Update { desired, .. } => &desired.grant,
            Change::Revoke {
                grant, observed, ..
            } => grant.as_deref().unwrap_or(&observed.name),
        }
    }

    /// Revocations first, so the attachments they free count for the
    /// grants that follow; then updates; then grants.
    pub fn apply_order(&self) -> u8 {
        match self {
            Change::Revoke { .. } => 0,
            Change::Update { .. } => 1,
            Change::Grant { .. } => 2,
        }
    }
}

/// A grant that cannot be applied, decided before any call: it would break a
/// quota, or its subject has no identity in the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The grant id.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// Why, in words.
    pub why: String,
}

/// Every change, grants first, then updates, then revocations, each sorted by
/// policy name; and the grants refused before any call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The changes.
    pub changes: Vec<Change>,
    /// Grants that will not be applied, with why.
    pub refused: Vec<Refusal>,
}

impl Plan {
    /// Nothing to change (refusals are not changes).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn count(&self, pick: fn(&Change) -> bool) -> usize {
        self.changes.iter().filter(|c| pick(c)).count()
    }
}

/// The plan that makes the `observed` providers match `desired`.
///
/// `known` names, by policy name, the grants whose policies should go and why
/// (expired, deleted); any other observed policy that no desired one explains
/// is drift. `refused` are grants refused already (a document over IAM's
/// size); the plan adds those whose subject has no identity in the account
/// and those that would attach more managed policies to one identity than
/// the account's quota allows.
pub fn plan(
    desired: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &BTreeMap<String, (String, RevokeReason)>,
    refused: Vec<Refusal>,
) -> Plan {
    let key = |provider: &str, name: &str| (provider.to_string(), name.to_string());
    let seen: BTreeMap<_, &Observed> = observed
        .values()
        .flat_map(|o| &o.policies)
        .map(|o| (key(&o.provider, &o.name), o))
        .collect();
    let wanted: BTreeSet<_> = desired.iter().map(|d| key(&d.provider, &d.name)).collect();

    let mut revokes: Vec<Change> = observed
        .values()
        .flat_map(|o| &o.policies)
        .filter(|o| !wanted.contains(&key(&o.provider, &o.name)))
        .map(|o| {
            let (grant, reason) = match known.get(&o.name) {
                Some((g, r)) => (Some(g.clone()), *r),
                None => (None, RevokeReason::Drift),
            };
            Change::Revoke {
                observed: o.clone(),
                reason,
                grant,
            }
        })
        .collect();

    // Managed policies attached to each identity once the plan is applied,
    // counted as attachments are decided, revocations first.
    let mut attached: BTreeMap<(String, Identity), usize> = BTreeMap::new();
    for (provider, o) in observed {
        for (identity, n) in &o.identities {
            attached.insert((provider.clone(), identity.clone()), *n);
        }
    }
    let mut free = |provider: &str, identity: &Identity| {
        if let Some(n) = attached.get_mut(&(provider.to_string(), identity.clone())) {
            *n = n.saturating_sub(1);
        }
    };
    for r in &revokes {
        if let Change::Revoke { observed: o, .. } = r {
            for i in &o.attached {
                free(&o.provider, i);
            }
        }
    }
    for d in desired {
        if let Some(o) = seen.get(&key(&d.provider, &d.name)) {
            for i in o.attached.iter().filter(|i| **i != d.attach_to) {
                free(&d.provider, i);
            }
        }
    }

    let mut refused = refused;
    let mut grants = Vec::new();
    let mut updates = Vec::new();
    let mut sorted: Vec<&Desired> = desired.iter().collect();
    sorted.sort_by(|a, b| (&a.provider, &a.name).cmp(&(&b.provider, &b.name)));
    for d in sorted {
        let current = seen.get(&key(&d.provider, &d.name));
        let needs_attach = current.is_none_or(|o| !o.attached.contains(&d.attach_to));
        let mut may_attach = true;
        if needs_attach {
            let quota = observed
                .get(&d.provider)
                .map(|o| o.quota.of(&d.attach_to))
                .unwrap_or_default();
            match attached.get_mut(&(d.provider.clone(), d.attach_to.clone())) {
                None => {
                    may_attach = false;
                    refused.push(Refusal {
                        grant: d.grant.clone(),
                        provider: d.provider.clone(),
                        why: format!(
                            "{} does not exist in {}: create it, or correct `people` in gitgrant.yaml",
                            describe_identity(&d.attach_to),
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
                            describe_identity(&d.attach_to),
                        ),
                    });
                }
                Some(n) => *n += 1,
            }
        }
        match current {
            None if may_attach => grants.push(Change::Grant { desired: d.clone() }),
            None => {}
            Some(o) => {
                let document = o.document != d.document;
                let attach: Vec<Identity> = (needs_attach && may_attach)
                    .then(|| d.attach_to.clone())
                    .into_iter()
                    .collect();
                let detach: Vec<Identity> = o
                    .attached
                    .iter()
                    .filter(|i| **i != d.attach_to)
                    .cloned()
                    .collect();
                // The new version plus the default one must fit in IAM's five.
                let keep = crate::iam::MAX_VERSIONS - 2;
                let prune = if document && o.old_versions.len() > keep {
                    o.old_versions[..o.old_versions.len() - keep].to_vec()
                } else {
                    Vec::new()
                };
                if document || !attach.is_empty() || !detach.is_empty() {
                    updates.push(Change::Update {
                        desired: d.clone(),
                        observed: Box::new((*o).clone()),
                        document,
                        prune,
                        attach,
                        detach,
                    });
                }
            }
        }
    }
    let name = |c: &Change| (c.provider().to_string(), c.policy_name().to_string());
    revokes.sort_by_key(name);
    refused.sort_by(|a, b| (&a.provider, &a.grant).cmp(&(&b.provider, &b.grant)));
    Plan {
        changes: grants.into_iter().chain(updates).chain(revokes).collect(),
        refused,
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() && self.refused.is_empty() {
            return writeln!(f, "No changes: the cloud matches the access repository.");
        }
        if !self.is_empty() {
            writeln!(f, "gitgrant will make these changes:\n")?;
        }
        for c in &self.changes {
            writeln!(f, "  {}", line(c))?;
        }
        if !self.refused.is_empty() {
            if !self.is_empty() {
                writeln!(f)?;
            }
            writeln!(f, "gitgrant will not apply these grants:\n")?;
            for r in &self.refused {
                writeln!(f, "  ! refused {} in {}: {}", r.grant, r.provider, r.why)?;
            }
        }
        writeln!(
            f,
            "\nPlan: {} to grant, {} to update, {} to revoke{}.",
            self.count(|c| matches!(c, Change::Grant { .. })),
            self.count(|c| matches!(c, Change::Update { .. })),
            self.count(|c| matches!(c, Change::Revoke { .. })),
            match self.refused.len() {
                0 => String::new(),
                n => format!("; {n} refused"),
            }
        )
    }
}

/// One change in one line, as the plan and the run's summary show it.
pub fn line(c: &Change) -> String {
    match c {
        Change::Grant { desired: d } => format!(
            "+ grant   {} to {} in {} from {} until {}",
            d.grant,
            describe_identity(&d.attach_to),
            d.provider,
            fmt_time(d.window.start),
            fmt_time(d.window.end)
        ),
        Change::Update {
            desired: d,
            document,
            attach,
            detach,
            ..
        } => {
            let mut what = Vec::new();
            if *document {
                what.push(format!(
                    "new window or permissions, until {}",
                    fmt_time(d.window.end)
                ));
            }
            for i in attach {
                what.push(format!("attach to {}", describe_identity(i)));
            }
            for i in detach {
                what.push(format!("detach from {}", describe_identity(i)));
            }
            format!(
                "~ update  {} in {}: {}",
                d.grant,
                d.provider,
                what.join("; ")
            )
        }
        Change::Revoke {
            observed: o,
            reason,
            ..
        } => format!(
            "- revoke  {} in {} ({reason}){}",
            c.grant(),
            o.provider,
            if o.attached.is_empty() {
                String::new()
            } else {
                let who: Vec<String> = o.attached.iter().map(describe_identity).collect();
                format!(", detaching from {}", who.join(", "))
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::AttachQuota;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
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
            name: format!("gitgrant-prod-readonly-{name}"),
            path: "/gitgrant/acme/access/".into(),
            document: json!({ "end": end }),
            attach_to: Identity::AwsIamUser(user.into()),
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
            attached: vec![d.attach_to.clone()],
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
            .map(|u| (Identity::AwsIamUser(u.to_string()), extra))
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
            },
        )])
    }

    const USERS: &[&str] = &["alice", "bob", "carol", "dave", "zed"];

    #[test]
    fn a_converged_account_plans_nothing() {
        let d = vec![desired("alice-1", "alice", "2026-11-22T12:00:00Z")];
        let o = account(d.iter().map(observed_of).collect(), USERS, 0);
        let p = plan(&d, &o, &BTreeMap::new(), vec![]);
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
        carol.attached.push(Identity::AwsIamRole("Ops".into()));
        let stray = observed_of(&desired("zed-9", "zed", "2026-11-22T11:00:00Z"));
        let mut dave = observed_of(&desired("dave-4", "dave", "2026-11-22T11:00:00Z"));
        dave.attached.clear();
        let dave_wanted = desired("dave-4", "dave", "2026-11-22T11:00:00Z");
        let known = BTreeMap::from([(
            carol.name.clone(),
            ("prod-readonly/carol-3".to_string(), RevokeReason::Expired),
        )]);
        let p = plan(
            &[alice, bob_now, dave_wanted],
            &account(vec![bob_before, carol, stray, dave], USERS, 0),
            &known,
            vec![],
        );
        insta::assert_snapshot!(p.to_string());
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["changes"][0]["action"], "grant");
        assert_eq!(json["changes"][3]["reason"], "expired");
        assert_eq!(json["changes"][4]["reason"], "drift");
        let order: Vec<u8> = p.changes.iter().map(Change::apply_order).collect();
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
        let p = plan(&wanted, &o, &BTreeMap::new(), vec![]);
        let granted: Vec<&str> = p.changes.iter().map(Change::grant).collect();
        assert_eq!(granted, ["prod-readonly/alice-1", "prod-readonly/bob-1"]);
        assert_eq!(p.refused.len(), 1);
        assert_eq!(p.refused[0].grant, "prod-readonly/alice-2");
        insta::assert_snapshot!(p.to_string());

        // A revocation in the same plan frees a place.
        let mut ended = observed_of(&desired("alice-old", "alice", "2026-11-22T11:00:00Z"));
        ended.grant = None;
        let o = account(vec![observed_of(&applied), ended], USERS, 7);
        let p = plan(&wanted, &o, &BTreeMap::new(), vec![]);
        assert!(p.refused.is_empty(), "{p}");
    }

    #[test]
    fn a_subject_without_an_identity_in_the_account_is_refused() {
        let p = plan(
            &[desired("nobody-1", "nobody", "2026-11-22T12:00:00Z")],
            &account(vec![], USERS, 0),
            &BTreeMap::new(),
            vec![],
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
    fn an_update_prunes_old_versions_to_stay_within_five() {
        let wanted = desired("alice-1", "alice", "2026-11-22T18:00:00Z");
        let mut o = observed_of(&desired("alice-1", "alice", "2026-11-22T12:00:00Z"));
        o.old_versions = vec!["v1".into(), "v2".into(), "v3".into(), "v4".into()];
        let p = plan(
            std::slice::from_ref(&wanted),
            &account(vec![o.clone()], USERS, 0),
            &BTreeMap::new(),
            vec![],
        );
        let Change::Update {
            prune, document, ..
        } = &p.changes[0]
        else {
            panic!("{p}")
        };
        assert!(document);
        // v2, v3, v4, the default and the new one: IAM's five.
        assert_eq!(prune, &["v1"]);
        o.old_versions.truncate(3);
        let p = plan(
            &[wanted],
            &account(vec![o], USERS, 0),
            &BTreeMap::new(),
            vec![],
        );
        let Change::Update { prune, .. } = &p.changes[0] else {
            panic!("{p}")
        };
        assert!(prune.is_empty());
    }
}
