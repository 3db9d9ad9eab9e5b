//! The plan: what must change in the cloud so that it matches the access
//! repository. A value — printable like `terraform plan`, serialisable to
//! JSON — computed whole before anything is applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::grant::{Window, fmt_time};
use crate::policy::Identity;
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
    /// The default version's document.
    pub document: Value,
    /// Who it is attached to.
    pub attached: Vec<Identity>,
    /// How many versions it has (the default one included).
    pub versions: usize,
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
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RevokeReason::Expired => "expired",
            RevokeReason::Deleted => "deleted",
            RevokeReason::Drift => "drift",
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

/// Every change, grants first, then updates, then revocations, each sorted by
/// policy name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The changes.
    pub changes: Vec<Change>,
}

impl Plan {
    /// Nothing to do.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn count(&self, pick: fn(&Change) -> bool) -> usize {
        self.changes.iter().filter(|c| pick(c)).count()
    }
}

/// The plan that makes `observed` match `desired`. `known` names, by policy
/// name, the grants whose policies should go and why (expired, deleted); any
/// other observed policy that no desired one explains is drift.
pub fn plan(
    desired: &[Desired],
    observed: &[Observed],
    known: &BTreeMap<String, (String, RevokeReason)>,
) -> Plan {
    let key = |provider: &str, name: &str| (provider.to_string(), name.to_string());
    let seen: BTreeMap<_, &Observed> = observed
        .iter()
        .map(|o| (key(&o.provider, &o.name), o))
        .collect();
    let wanted: BTreeSet<_> = desired.iter().map(|d| key(&d.provider, &d.name)).collect();
    let mut grants = Vec::new();
    let mut updates = Vec::new();
    for d in desired {
        match seen.get(&key(&d.provider, &d.name)) {
            None => grants.push(Change::Grant { desired: d.clone() }),
            Some(o) => {
                let document = o.document != d.document;
                let attach: Vec<Identity> = (!o.attached.contains(&d.attach_to))
                    .then(|| d.attach_to.clone())
                    .into_iter()
                    .collect();
                let detach: Vec<Identity> = o
                    .attached
                    .iter()
                    .filter(|i| **i != d.attach_to)
                    .cloned()
                    .collect();
                if document || !attach.is_empty() || !detach.is_empty() {
                    updates.push(Change::Update {
                        desired: d.clone(),
                        observed: Box::new((*o).clone()),
                        document,
                        attach,
                        detach,
                    });
                }
            }
        }
    }
    let mut revokes: Vec<Change> = observed
        .iter()
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
    let name = |c: &Change| match c {
        Change::Grant { desired } | Change::Update { desired, .. } => {
            (desired.provider.clone(), desired.name.clone())
        }
        Change::Revoke { observed, .. } => (observed.provider.clone(), observed.name.clone()),
    };
    grants.sort_by_key(name);
    updates.sort_by_key(name);
    revokes.sort_by_key(name);
    Plan {
        changes: grants.into_iter().chain(updates).chain(revokes).collect(),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return writeln!(f, "No changes: the cloud matches the access repository.");
        }
        writeln!(f, "gitgrant will make these changes:\n")?;
        for c in &self.changes {
            match c {
                Change::Grant { desired: d } => writeln!(
                    f,
                    "  + grant   {} to {} in {} from {} until {}",
                    d.grant,
                    describe_identity(&d.attach_to),
                    d.provider,
                    fmt_time(d.window.start),
                    fmt_time(d.window.end)
                )?,
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
                    writeln!(
                        f,
                        "  ~ update  {} in {}: {}",
                        d.grant,
                        d.provider,
                        what.join("; ")
                    )?
                }
                Change::Revoke {
                    observed: o,
                    reason,
                    grant,
                } => writeln!(
                    f,
                    "  - revoke  {} in {} ({reason}){}",
                    grant.as_deref().unwrap_or(&o.name),
                    o.provider,
                    if o.attached.is_empty() {
                        String::new()
                    } else {
                        let who: Vec<String> = o.attached.iter().map(describe_identity).collect();
                        format!(", detaching from {}", who.join(", "))
                    }
                )?,
            }
        }
        writeln!(
            f,
            "\nPlan: {} to grant, {} to update, {} to revoke.",
            self.count(|c| matches!(c, Change::Grant { .. })),
            self.count(|c| matches!(c, Change::Update { .. })),
            self.count(|c| matches!(c, Change::Revoke { .. })),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            document: d.document.clone(),
            attached: vec![d.attach_to.clone()],
            versions: 1,
        }
    }

    #[test]
    fn a_converged_account_plans_nothing() {
        let d = vec![desired("alice-1", "alice", "2026-11-22T12:00:00Z")];
        let o: Vec<_> = d.iter().map(observed_of).collect();
        let p = plan(&d, &o, &BTreeMap::new());
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
            &[bob_before, carol, stray, dave],
            &known,
        );
        insta::assert_snapshot!(p.to_string());
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["changes"][0]["action"], "grant");
        assert_eq!(json["changes"][3]["reason"], "expired");
        assert_eq!(json["changes"][4]["reason"], "drift");
    }
}
