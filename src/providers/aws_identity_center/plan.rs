//! IAM Identity Center's half of the plan: what each grant's permission set
//! should be (`Desired`), what the instance holds of ours (`Observation`),
//! and the changes between the two (`Change`), each with the line the plan
//! prints for it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::config::CustomerManagedPolicy;
use super::document;
use crate::grant::{Grant, Window, fmt_time};
use crate::plan::terms::{Action, KindChange, Known, Refusal, RevokeReason};
use crate::policy::{Identity, Policy, Provider, Role};

/// A grant's permission set as the access repository wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The grant id.
    pub grant: String,
    /// The grant's subject (GitHub login).
    pub subject: String,
    /// The subject's Identity Store UserName.
    pub user_name: String,
    /// The provider (instance) it applies to.
    pub provider: String,
    /// The permission set's name.
    pub name: String,
    /// The permission set's description (the ownership marker).
    pub description: String,
    /// The session duration, ISO 8601 (`PT1H`).
    pub session_duration: String,
    /// The inline policy.
    pub inline_policy: Value,
    /// AWS-managed policy ARNs to attach.
    pub managed_policies: Vec<String>,
    /// Customer-managed policies to reference.
    pub customer_managed_policies: Vec<CustomerManagedPolicy>,
    /// The accounts it is assigned in.
    pub accounts: Vec<String>,
    /// The grant's window.
    pub window: Window,
}

/// The desired permission set of `grant` of `role` in `provider`, or why it
/// cannot be applied (a quota). `None` when the subject has no Identity
/// Store user name there (validation reports it).
pub fn desired(
    policy: &Policy,
    grant: &Grant,
    role: &Role,
    provider: &Provider,
    window: Window,
) -> Option<Result<Desired, String>> {
    let Identity::AwsIdentityCenter(super::config::Identity::User(user_name)) =
        policy.people.get(&grant.subject)?.identity_on(provider)?
    else {
        return None;
    };
    let inline_policy = document::inline_policy(&role.permissions.aws_iam.statements, window);
    let mut managed_policies = role
        .permissions
        .aws_identity_center
        .managed_policies
        .clone();
    managed_policies.sort();
    managed_policies.dedup();
    let mut customer_managed_policies = role
        .permissions
        .aws_identity_center
        .customer_managed_policies
        .clone();
    customer_managed_policies.sort();
    customer_managed_policies.dedup();
    if let Some(why) = document::quota(
        &inline_policy,
        managed_policies.len() + customer_managed_policies.len(),
    ) {
        return Some(Err(why));
    }
    let repository = policy.repository();
    let mut accounts = role.keys.aws_identity_center.accounts.clone();
    accounts.sort();
    accounts.dedup();
    Some(Ok(Desired {
        grant: grant.id.to_string(),
        subject: grant.subject.clone(),
        user_name: user_name.clone(),
        provider: provider.name.clone(),
        name: document::permission_set_name(&repository, &grant.id),
        description: document::description(&repository, &grant.id),
        session_duration: role.keys.aws_identity_center.session().iso8601(),
        inline_policy,
        managed_policies,
        customer_managed_policies,
        accounts,
        window,
    }))
}

/// Whom an account assignment is for, as Identity Center names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Principal {
    /// An Identity Store user: the only kind gitgrant assigns.
    #[serde(rename = "USER")]
    User,
    /// An Identity Store group.
    #[serde(rename = "GROUP")]
    Group,
    /// A kind this version of gitgrant does not know, as AWS spelt it.
    #[serde(untagged)]
    Other(String),
}

impl Principal {
    /// From AWS's spelling (`USER`, `GROUP`).
    pub fn from_aws(name: &str) -> Principal {
        match name {
            "USER" => Principal::User,
            "GROUP" => Principal::Group,
            other => Principal::Other(other.to_string()),
        }
    }

    /// AWS's spelling.
    pub fn as_aws(&self) -> &str {
        match self {
            Principal::User => "USER",
            Principal::Group => "GROUP",
            Principal::Other(s) => s,
        }
    }
}

/// One account assignment of a permission set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Assignment {
    /// The account.
    pub account: String,
    /// Whom it is for.
    pub principal_type: Principal,
    /// The Identity Store id of the user or group.
    pub principal_id: String,
}

/// A permission set of ours (name and description both say so), as the
/// instance holds it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// The provider (instance).
    pub provider: String,
    /// The permission set's ARN.
    pub arn: String,
    /// Its name.
    pub name: String,
    /// The grant its name and description record (or, when its
    /// description was tampered with, the one [`claim`] finds by its name).
    pub grant: String,
    /// Its description as found: gitgrant's marker, unless tampered with.
    pub description: String,
    /// Its session duration.
    pub session_duration: Option<String>,
    /// Its inline policy, when it has one.
    pub inline_policy: Option<Value>,
    /// AWS-managed policies attached.
    pub managed_policies: Vec<String>,
    /// Customer-managed policies referenced.
    pub customer_managed_policies: Vec<CustomerManagedPolicy>,
    /// Its account assignments.
    pub assignments: Vec<Assignment>,
}

/// What one run reads from an instance before planning.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation {
    /// Permission sets of this repository. Nothing else is ever listed
    /// here, so nothing else is ever changed.
    pub permission_sets: Vec<Observed>,
    /// Identity Store user ids by UserName, for every user name the policy
    /// maps a person to on this provider that exists.
    pub users: BTreeMap<String, String>,
    /// How many permission sets the instance holds, ours and others'.
    pub instance_permission_sets: usize,
}

/// One change to make in an instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Create the permission set and assign it in every account.
    Grant {
        /// What to create.
        desired: Desired,
        /// The subject's Identity Store user id.
        user_id: String,
    },
    /// Bring an existing permission set in line.
    Update {
        /// What it should be.
        desired: Desired,
        /// What it is.
        observed: Box<Observed>,
        /// The subject's Identity Store user id.
        user_id: String,
        /// Whether the inline policy (or session duration) is rewritten.
        rewrite: bool,
        /// Managed policies to attach.
        attach: Vec<String>,
        /// Managed policies to detach.
        detach: Vec<String>,
        /// Customer-managed policies to reference.
        attach_customer: Vec<CustomerManagedPolicy>,
        /// Customer-managed policies to drop.
        detach_customer: Vec<CustomerManagedPolicy>,
        /// Accounts to assign it in.
        assign: Vec<String>,
        /// Assignments to remove: drift.
        unassign: Vec<Assignment>,
        /// Tampering found, in words.
        drift: Vec<String>,
    },
    /// Remove every assignment, then delete the permission set.
    Revoke {
        /// What to delete.
        observed: Observed,
        /// Why.
        reason: RevokeReason,
        /// For a grant that ends before its window did (deleted early): its
        /// inline policy ending now, written and provisioned first so that
        /// sessions already open are refused before the assignments go.
        #[serde(skip_serializing_if = "Option::is_none")]
        cut: Option<Value>,
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

    /// The grant it is for.
    fn grant(&self) -> &str {
        match self {
            Change::Grant { desired, .. } | Change::Update { desired, .. } => &desired.grant,
            Change::Revoke { observed, .. } => &observed.grant,
        }
    }


    /// Whether the change repairs tampering.
    fn is_drift(&self) -> bool {
        match self {
            Change::Update { drift, .. } => !drift.is_empty(),
            Change::Revoke { reason, .. } => *reason == RevokeReason::Drift,
            Change::Grant { .. } => false,
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

    /// The change in words, without its sign.
    fn text(&self) -> String {
        match self {
            Change::Grant { desired: d, .. } => format!(
                "grant   {} to Identity Center user {} in {}: permission set {} in accounts {} from {} until {}",
                d.grant,
                d.user_name,
                d.provider,
                d.name,
                d.accounts.join(", "),
                fmt_time(d.window.start),
                fmt_time(d.window.end)
            ),
            Change::Update {
                desired: d,
                rewrite,
                attach,
                detach,
                attach_customer,
                detach_customer,
                assign,
                unassign,
                drift,
                ..
            } => {
                let mut what: Vec<String> = drift.iter().map(|f| format!("drift: {f}")).collect();
                if *rewrite {
                    what.push(format!(
                        "new window or permissions, until {}",
                        fmt_time(d.window.end)
                    ));
                }
                what.extend(attach.iter().map(|a| format!("attach {a}")));
                what.extend(detach.iter().map(|a| format!("detach {a}")));
                what.extend(
                    attach_customer
                        .iter()
                        .map(|c| format!("reference {}{}", c.path, c.name)),
                );
                what.extend(
                    detach_customer
                        .iter()
                        .map(|c| format!("drop {}{}", c.path, c.name)),
                );
                if !assign.is_empty() {
                    what.push(format!("assign in accounts {}", assign.join(", ")));
                }
                what.extend(unassign.iter().map(|a| {
                    format!(
                        "remove assignment to {} {} in account {}",
                        a.principal_type.as_aws().to_lowercase(),
                        a.principal_id,
                        a.account
                    )
                }));
                format!(
                    "update  {} in {}: permission set {} in accounts {}: {}",
                    d.grant,
                    d.provider,
                    d.name,
                    d.accounts.join(", "),
                    what.join("; ")
                )
            }
            Change::Revoke {
                observed: o,
                reason,
                cut,
            } => {
                let mut accounts: Vec<&str> =
                    o.assignments.iter().map(|a| a.account.as_str()).collect();
                accounts.dedup();
                format!(
                    "revoke  {} in {} ({reason}): permission set {}{}{}",
                    o.grant,
                    o.provider,
                    o.name,
                    if accounts.is_empty() {
                        String::new()
                    } else {
                        format!(" in accounts {}", accounts.join(", "))
                    },
                    if cut.is_some() {
                        "; its window is ended first, so open sessions stop now"
                    } else {
                        ""
                    }
                )
            }
        }
    }
}

/// Claims the permission sets read without gitgrant's marker (grant
/// `""`: a name of gitgrant's, a description that is not this
/// repository's) by what gitgrant recorded: the name `ids` (the grants
/// active or known to have gone) get. One whose name no such grant gets is
/// not ours, and is dropped from the observation.
pub fn claim(observed: &mut BTreeMap<String, Observation>, repository: &str, ids: &[String]) {
    let names: BTreeMap<String, &String> = ids
        .iter()
        .filter_map(|id| {
            let g = id.parse::<crate::grant::GrantId>().ok()?;
            Some((document::permission_set_name(repository, &g), id))
        })
        .collect();
    for o in observed.values_mut() {
        o.permission_sets.retain_mut(|p| {
            if !p.grant.is_empty() {
                return true;
            }
            match names.get(&p.name) {
                Some(id) => {
                    p.grant = (*id).clone();
                    true
                }
                None => false,
            }
        });
    }
}

/// The differences of a permission set from its desired state.
fn update(d: &Desired, o: &Observed, user_id: &str) -> Option<Change> {
    let mut drift = Vec::new();
    if o.description != d.description {
        drift.push("its description, gitgrant's marker, was changed: written again".to_string());
    }
    let rewrite = o.inline_policy.as_ref() != Some(&d.inline_policy)
        || o.session_duration.as_deref() != Some(d.session_duration.as_str())
        || o.description != d.description;
    if let Some(found) = &o.inline_policy
        && rewrite
        && !is_gitgrant_shaped(found)
    {
        drift.push("the inline policy is not one gitgrant writes".to_string());
    }
    let have: BTreeSet<&String> = o.managed_policies.iter().collect();
    let want: BTreeSet<&String> = d.managed_policies.iter().collect();
    let attach: Vec<String> = want.difference(&have).map(|s| (*s).clone()).collect();
    let detach: Vec<String> = have.difference(&want).map(|s| (*s).clone()).collect();
    let have_c: BTreeSet<&CustomerManagedPolicy> = o.customer_managed_policies.iter().collect();
    let want_c: BTreeSet<&CustomerManagedPolicy> = d.customer_managed_policies.iter().collect();
    let attach_customer: Vec<_> = want_c.difference(&have_c).map(|c| (*c).clone()).collect();
    let detach_customer: Vec<_> = have_c.difference(&want_c).map(|c| (*c).clone()).collect();
    if !detach.is_empty() || !detach_customer.is_empty() {
        drift.push("policies attached that the role does not name".to_string());
    }
    let mine = |a: &Assignment| {
        a.principal_type == Principal::User
            && a.principal_id == user_id
            && d.accounts.contains(&a.account)
    };
    let unassign: Vec<Assignment> = o.assignments.iter().filter(|a| !mine(a)).cloned().collect();
    if !unassign.is_empty() {
        drift.push(format!(
            "{} assignment(s) to someone else or in an account the role does not name",
            unassign.len()
        ));
    }
    let assign: Vec<String> = d
        .accounts
        .iter()
        .filter(|acc| !o.assignments.iter().any(|a| mine(a) && &a.account == *acc))
        .cloned()
        .collect();
    let nothing = !rewrite
        && attach.is_empty()
        && detach.is_empty()
        && attach_customer.is_empty()
        && detach_customer.is_empty()
        && assign.is_empty()
        && unassign.is_empty();
    (!nothing).then(|| Change::Update {
        desired: d.clone(),
        observed: Box::new(o.clone()),
        user_id: user_id.to_string(),
        rewrite,
        attach,
        detach,
        attach_customer,
        detach_customer,
        assign,
        unassign,
        drift,
    })
}

/// Whether an inline policy is one gitgrant writes: the two window denies,
/// and every other statement with a window.
fn is_gitgrant_shaped(policy: &Value) -> bool {
    let Some(statements) = policy.get("Statement").and_then(Value::as_array) else {
        return false;
    };
    let denies = statements
        .iter()
        .filter(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with("GitgrantDeny"))
                && s["Action"] == "*"
                && s["Effect"] == "Deny"
        })
        .count();
    denies == 2
        && statements.iter().all(|s| {
            s["Sid"]
                .as_str()
                .is_some_and(|sid| sid.starts_with("GitgrantDeny"))
                || (s["Condition"]["DateGreaterThan"]["aws:CurrentTime"].is_string()
                    && s["Condition"]["DateLessThan"]["aws:CurrentTime"].is_string())
        })
}

/// The changes that bring every instance's permission sets of ours in line
/// with `desired`. A permission set no active grant explains is revoked,
/// with the reason `known` gives its grant, or as drift. A grant whose
/// subject has no Identity Store user is refused.
pub fn plan(
    desired: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &Known,
    now: DateTime<Utc>,
    refused: &mut Vec<Refusal>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    let cut = |p: &Observed, reason: RevokeReason| {
        let early = !matches!(reason, RevokeReason::Expired);
        let doc = p.inline_policy.as_ref()?;
        let cut = document::ending_at(doc, now);
        (early && !p.assignments.is_empty() && &cut != doc).then_some(cut)
    };
    let wanted: BTreeSet<(&str, &str)> = desired
        .iter()
        .map(|d| (d.provider.as_str(), d.name.as_str()))
        .collect();
    // One permission set per name is the grant's: the one assigned most,
    // then the first by ARN. AWS refuses a second of a name, but moto and
    // a lost answer retried can make one; any other is drift.
    let mut keep: BTreeMap<(&str, &str), &Observed> = BTreeMap::new();
    for (provider, o) in observed {
        for p in &o.permission_sets {
            let rank = |p: &Observed| (std::cmp::Reverse(p.assignments.len()), p.arn.clone());
            let kept = keep
                .entry((provider.as_str(), p.name.as_str()))
                .or_insert(p);
            if rank(p) < rank(kept) {
                *kept = p;
            }
        }
    }
    for (provider, o) in observed {
        for p in &o.permission_sets {
            let key = (provider.as_str(), p.name.as_str());
            let kept = keep.get(&key).is_some_and(|k| std::ptr::eq(*k, p));
            if !kept || !wanted.contains(&key) {
                let reason = known.get(&p.grant).copied();
                let reason = reason.filter(|_| kept).unwrap_or(RevokeReason::Drift);
                changes.push(Change::Revoke {
                    observed: p.clone(),
                    reason,
                    cut: cut(p, reason),
                });
            }
        }
    }
    // Room for new permission sets under the instance's quota, once this
    // run's revocations (applied first) have made theirs.
    let mut room: BTreeMap<&str, usize> = observed
        .iter()
        .map(|(provider, o)| {
            let freed = changes.iter().filter(|c| c.provider() == provider).count();
            let held = o.instance_permission_sets.saturating_sub(freed);
            (
                provider.as_str(),
                document::MAX_PERMISSION_SETS.saturating_sub(held),
            )
        })
        .collect();
    for d in desired {
        let Some(o) = observed.get(&d.provider) else {
            continue;
        };
        let Some(user_id) = o.users.get(&d.user_name) else {
            refused.push(Refusal {
                grant: d.grant.clone(),
                provider: d.provider.clone(),
                why: format!(
                    "there is no Identity Store user `{}` (subject {})",
                    d.user_name, d.subject
                ),
            });
            // A permission set already made for it is left until its
            // user exists again or the grant ends.
            continue;
        };
        match keep.get(&(d.provider.as_str(), d.name.as_str())) {
            None => match room.get_mut(d.provider.as_str()) {
                Some(0) | None => refused.push(Refusal {
                    grant: d.grant.clone(),
                    provider: d.provider.clone(),
                    why: format!(
                        "the instance holds {} permission sets, IAM Identity Center's quota of {}; ask AWS to raise it or end other grants",
                        o.instance_permission_sets,
                        document::MAX_PERMISSION_SETS
                    ),
                }),
                Some(left) => {
                    *left -= 1;
                    changes.push(Change::Grant {
                        desired: d.clone(),
                        user_id: user_id.clone(),
                    });
                }
            },
            Some(p) => changes.extend(update(d, p, user_id)),
        }
    }
    changes.sort_by(|a, b| {
        (a.apply_order(), a.provider(), a.grant()).cmp(&(b.apply_order(), b.provider(), b.grant()))
    });
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// The plan at 11:00, inside `desired()`'s window.
    fn plan(
        desired: &[Desired],
        observed: &BTreeMap<String, Observation>,
        known: &Known,
        refused: &mut Vec<Refusal>,
    ) -> Vec<Change> {
        super::plan(desired, observed, known, t("2026-11-22T11:00:00Z"), refused)
    }

    #[test]
    fn an_early_revoke_ends_the_window_now_before_the_assignments_go() {
        let o = applied(&desired());
        let known: Known = [(o.grant.clone(), RevokeReason::Deleted)].into();
        let c = plan(&[], &observation(vec![o.clone()]), &known, &mut vec![]);
        let [Change::Revoke { cut: Some(cut), .. }] = &c[..] else {
            panic!("{c:?}");
        };
        let st = cut["Statement"].as_array().unwrap();
        assert_eq!(
            st.iter()
                .filter_map(|s| s["Condition"]["DateGreaterThanEquals"]["aws:CurrentTime"].as_str())
                .collect::<Vec<_>>(),
            ["2026-11-22T11:00:00Z"],
            "{cut:#}"
        );
        assert!(
            c[0].line().contains("open sessions stop now"),
            "{}",
            c[0].line()
        );
        // An expiry needs no cut: the window has ended by itself.
        let known: Known = [(o.grant.clone(), RevokeReason::Expired)].into();
        let c = plan(&[], &observation(vec![o]), &known, &mut vec![]);
        assert!(matches!(&c[0], Change::Revoke { cut: None, .. }), "{c:?}");
    }

    fn desired() -> Desired {
        let w = Window {
            start: t("2026-11-22T10:00:00Z"),
            end: t("2026-11-22T12:00:00Z"),
        };
        Desired {
            grant: "prod-admin/alice-1".into(),
            subject: "alice".into(),
            user_name: "alice@acme.com".into(),
            provider: "sso".into(),
            name: "gitgrant-abc".into(),
            description: "gitgrant grant prod-admin/alice-1 of acme/access".into(),
            session_duration: "PT1H".into(),
            inline_policy: json!({"Version": "2012-10-17", "Statement": document::window_denies(w)}),
            managed_policies: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            customer_managed_policies: vec![],
            accounts: vec!["111111111111".into(), "222222222222".into()],
            window: w,
        }
    }

    fn applied(d: &Desired) -> Observed {
        Observed {
            provider: d.provider.clone(),
            arn: "arn:aws:sso:::permissionSet/ssoins-1/ps-1".into(),
            name: d.name.clone(),
            grant: d.grant.clone(),
            description: d.description.clone(),
            session_duration: Some(d.session_duration.clone()),
            inline_policy: Some(d.inline_policy.clone()),
            managed_policies: d.managed_policies.clone(),
            customer_managed_policies: vec![],
            assignments: d
                .accounts
                .iter()
                .map(|a| Assignment {
                    account: a.clone(),
                    principal_type: Principal::User,
                    principal_id: "u-1".into(),
                })
                .collect(),
        }
    }

    fn observation(sets: Vec<Observed>) -> BTreeMap<String, Observation> {
        let n = sets.len();
        observation_of(sets, n)
    }

    /// An instance holding `sets` of ours among `n` in all.
    fn observation_of(sets: Vec<Observed>, n: usize) -> BTreeMap<String, Observation> {
        [(
            "sso".to_string(),
            Observation {
                permission_sets: sets,
                users: [("alice@acme.com".to_string(), "u-1".to_string())].into(),
                instance_permission_sets: n,
            },
        )]
        .into()
    }

    #[test]
    fn a_new_grant_is_a_permission_set_in_every_account() {
        let mut refused = vec![];
        let c = plan(
            &[desired()],
            &observation(vec![]),
            &Known::new(),
            &mut refused,
        );
        assert_eq!(c.len(), 1);
        let line = c[0].line();
        assert!(
            line.contains("in accounts 111111111111, 222222222222"),
            "{line}"
        );
        assert!(refused.is_empty());
    }

    #[test]
    fn the_steady_state_plans_nothing() {
        let d = desired();
        let mut refused = vec![];
        let c = plan(
            std::slice::from_ref(&d),
            &observation(vec![applied(&d)]),
            &Known::new(),
            &mut refused,
        );
        assert_eq!(c, vec![]);
    }

    #[test]
    fn a_grant_past_the_instances_quota_is_refused_before_any_call() {
        let full = document::MAX_PERMISSION_SETS;
        let mut refused = vec![];
        let c = plan(
            &[desired()],
            &observation_of(vec![], full),
            &Known::new(),
            &mut refused,
        );
        assert!(c.is_empty(), "{c:?}");
        assert!(
            refused[0].why.contains("holds 3500 permission sets"),
            "{refused:?}"
        );
        // A revocation in the same run makes room: it is applied first.
        let mut gone = applied(&desired());
        gone.name = "gitgrant-gone".into();
        gone.grant = "prod-admin/old-1".into();
        let mut refused = vec![];
        let c = plan(
            &[desired()],
            &observation_of(vec![gone], full),
            &Known::new(),
            &mut refused,
        );
        assert!(refused.is_empty(), "{refused:?}");
        let actions: Vec<bool> = c
            .iter()
            .map(|c| matches!(c, Change::Grant { .. }))
            .collect();
        assert_eq!(actions, [false, true], "{c:?}");
    }

    #[test]
    fn a_second_permission_set_of_a_grant_is_revoked_as_drift() {
        let d = desired();
        let kept = applied(&d);
        let mut twin = applied(&d);
        twin.arn = format!("{}-twin", kept.arn);
        twin.assignments.truncate(1);
        // Whatever order the instance lists them in, the one assigned in
        // every account stays and the other goes.
        for sets in [vec![kept.clone(), twin.clone()], vec![twin.clone(), kept]] {
            let c = plan(
                std::slice::from_ref(&d),
                &observation(sets),
                &Known::new(),
                &mut vec![],
            );
            let [
                Change::Revoke {
                    observed, reason, ..
                },
            ] = &c[..]
            else {
                panic!("{c:?}");
            };
            assert_eq!((&observed.arn, *reason), (&twin.arn, RevokeReason::Drift));
        }
    }

    #[test]
    fn an_assignment_to_someone_else_is_drift_and_removed() {
        let d = desired();
        let mut o = applied(&d);
        o.assignments.push(Assignment {
            account: "111111111111".into(),
            principal_type: Principal::User,
            principal_id: "u-mallory".into(),
        });
        let c = plan(&[d], &observation(vec![o]), &Known::new(), &mut vec![]);
        assert_eq!(c.len(), 1);
        assert!(c[0].is_drift());
        match &c[0] {
            Change::Update {
                unassign, assign, ..
            } => {
                assert_eq!(unassign.len(), 1);
                assert_eq!(unassign[0].principal_id, "u-mallory");
                assert!(assign.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_assignment_to_a_group_holding_the_users_id_is_drift_and_removed_as_a_group() {
        // A group's id may collide with the user's: only a USER assignment
        // is the grant's own.
        let d = desired();
        let mut o = applied(&d);
        o.assignments.push(Assignment {
            account: "111111111111".into(),
            principal_type: Principal::from_aws("GROUP"),
            principal_id: "u-1".into(),
        });
        let c = plan(&[d], &observation(vec![o]), &Known::new(), &mut vec![]);
        assert_eq!(c.len(), 1);
        assert!(c[0].is_drift());
        assert!(
            c[0].line().contains("remove assignment to group u-1"),
            "{}",
            c[0].line()
        );
        let json = serde_json::to_value(&c[0]).unwrap();
        assert_eq!(json["unassign"][0]["principal_type"], "GROUP", "{json:#}");
        assert_eq!(
            serde_json::to_value(Principal::from_aws("ROBOT")).unwrap(),
            "ROBOT"
        );
    }

    #[test]
    fn an_extension_rewrites_the_inline_policy() {
        let d = desired();
        let o = applied(&d);
        let mut later = d.clone();
        later.window.end = t("2026-11-22T14:00:00Z");
        later.inline_policy =
            json!({"Version": "2012-10-17", "Statement": document::window_denies(later.window)});
        let c = plan(&[later], &observation(vec![o]), &Known::new(), &mut vec![]);
        assert!(matches!(&c[0], Change::Update { rewrite: true, drift, .. } if drift.is_empty()));
        assert!(!c[0].is_drift());
    }

    #[test]
    fn an_owned_permission_set_no_grant_explains_is_revoked() {
        let d = desired();
        let o = applied(&d);
        let c = plan(
            &[],
            &observation(vec![o.clone()]),
            &Known::new(),
            &mut vec![],
        );
        assert!(matches!(
            &c[0],
            Change::Revoke {
                reason: RevokeReason::Drift,
                ..
            }
        ));
        let known: Known = [(d.grant.clone(), RevokeReason::Expired)].into();
        let c = plan(&[], &observation(vec![o]), &known, &mut vec![]);
        assert!(matches!(
            &c[0],
            Change::Revoke {
                reason: RevokeReason::Expired,
                ..
            }
        ));
        assert!(
            c[0].line()
                .contains("in accounts 111111111111, 222222222222")
        );
    }

    #[test]
    fn a_subject_without_an_identity_store_user_is_refused() {
        let mut d = desired();
        d.user_name = "ghost@acme.com".into();
        let mut refused = vec![];
        let c = plan(&[d], &observation(vec![]), &Known::new(), &mut refused);
        assert!(c.is_empty());
        assert_eq!(refused.len(), 1);
        assert!(refused[0].why.contains("ghost@acme.com"));
    }
}
