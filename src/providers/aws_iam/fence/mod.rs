//! Session fences, as pure values: the deny that ends, at a grant's end,
//! the role sessions its `assume_roles` let the subject start.
//!
//! A grant's `sts:AssumeRole` statement carries the window, but the session
//! it returns holds the target role's own permissions until the session
//! expires. A fence is a managed policy of gitgrant's on the target role
//! with, per grant, a deny of every action to the sessions of that role
//! that were issued to the subject during the grant's window, from the
//! window's end on:
//!
//! - `aws:userid` of a role session is `<role unique id>:<session name>`,
//!   and gitgrant pins the session name to the subject's IAM user name, so
//!   the subject's sessions are told apart from everyone else's;
//! - `aws:TokenIssueTime` inside the window picks the sessions this grant
//!   let them start (a session issued outside every gitgrant window, from a
//!   standing right, is never fenced);
//! - `aws:CurrentTime` after the end makes the deny bite from the end on,
//!   so no run is needed.
//!
//! The fences are ordinary gitgrant policies to the rest of the IAM plan:
//! [`plan`] turns them into [`Desired`] policies (one per shard of 6,144
//! characters) under this repository's path, attached to the target role,
//! so creating, rewriting, the attach quota and deleting are the grant
//! policies' own code. Their names start `gitgrant-fence.` and their
//! description records `fence:<role ARN>` instead of a grant.
//!
//! A statement outlives its grant's file: the deny must stand until no
//! session it fences can be alive, 12 hours past the last moment one could
//! be issued (the window's end). Those statements come from git, not from
//! the fence a role session that can write IAM could have rewritten: every
//! grant in the tree whose window has ended, and every grant file a commit
//! of the last 12 hours removed ([`EndedGrant`]); a file removed before its
//! window's end denies from the removing commit's time on (sessions issued
//! until the window's end, so one started between the removal and the run
//! is caught too). A fence found missing such a statement, or with it
//! loosened, is drift ([`FenceDrift`]), reported on the fence's update and
//! repaired by it. Statements read back that git does not explain are kept
//! while needed (a deny only takes away); one whose grant is known to have
//! gone early is cut to the run's time.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

pub mod document;

use super::config::Identity;
use super::document::ownership_path;
use super::plan::{Desired, Observation};
use crate::grant::{Window, fmt_time};
use crate::plan::terms::{EndedGrant, Known, Refusal, RevokeReason, Unfenced};
use crate::policy::Policy;
pub use document::{
    FENCE_PREFIX, Fenced, MAX_SESSION, documents, is_fence_name, label, name, read, statement,
};

/// The role `arn` names in the account `o` read, with its unique id: IAM
/// role names compare case-insensitively.
fn find_role<'a>(o: &'a Observation, arn: &str) -> Option<(&'a String, &'a String)> {
    let name = crate::names::iam_name_key(role_name(arn)?);
    o.roles
        .iter()
        .find(|(k, _)| crate::names::iam_name_key(k) == name)
}

/// The role name of an IAM role ARN (the last part of its path).
fn role_name(arn: &str) -> Option<&str> {
    let (_, path) = arn.split_once(":role/")?;
    path.rsplit('/').next().filter(|n| !n.is_empty())
}

/// A fence found weaker than an earlier run left it: a statement that run
/// wrote missing (the whole fence deleted, or the statement taken out) or
/// loosened, or the fence detached from its role. Reported as drift on the
/// change that repairs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceDrift {
    /// The fencing provider.
    pub provider: String,
    /// The fence's label ([`label`] of the role ARN).
    pub fence: String,
    /// The one policy (shard) it concerns, when it is not the fence as a
    /// whole.
    pub policy: Option<String>,
    /// What was found, in words.
    pub why: String,
}

/// Adds each drift found to the first change that makes or rewrites its
/// fence (or its shard): a fence deleted outright is made again by a
/// grant, one changed by an update. Drift of a fence no longer wanted
/// (it is deleted) is not reported.
pub fn report_drift(changes: &mut [super::plan::Change], drift: &[FenceDrift]) {
    for f in drift {
        let repairs = changes.iter_mut().find_map(|c| match c {
            super::plan::Change::Grant { desired, drift }
            | super::plan::Change::Update { desired, drift, .. }
                if desired.provider == f.provider
                    && desired.grant == f.fence
                    && f.policy.as_ref().is_none_or(|p| *p == desired.name) =>
            {
                Some(drift)
            }
            _ => None,
        });
        if let Some(found) = repairs {
            found.push(f.why.clone());
        }
    }
}

/// The grants an earlier run applied, as the accounts read show them: each
/// one whose own policy (under the name gitgrant gives it) is there. A run
/// makes a grant's fences before its policy, so their statements were
/// written then. Whatever the policy's document now says: a session that
/// can write IAM could have rewritten that too.
fn applied(repository: &str, observed: &BTreeMap<String, Observation>) -> BTreeSet<String> {
    observed
        .values()
        .flat_map(|o| &o.policies)
        .filter(|p| !is_fence_name(&p.name))
        .filter_map(|p| p.recorded_grant(repository))
        .map(|id| id.to_string())
        .collect()
}

/// Whether the fence policy `p` is attached to the role named `role`.
fn attached_to(p: &super::plan::Observed, role: &str) -> bool {
    let key = crate::names::iam_name_key(role);
    p.attached
        .iter()
        .any(|i| matches!(i, Identity::Role(r) if crate::names::iam_name_key(r) == key))
}

/// Statements git gives, by (fencing provider, role ARN): each with the
/// end its window alone gives.
type FromGit = BTreeMap<(String, String), Vec<(Fenced, DateTime<Utc>)>>;

/// The statements `ended` grants need on each (fencing provider, role ARN)
/// at `now`: their subjects' sessions of every role the role's
/// `assume_roles` name, while a session could still be alive.
fn ended_fences(
    policy: &Policy,
    ended: &[EndedGrant],
    observed: &BTreeMap<String, Observation>,
    now: DateTime<Utc>,
) -> FromGit {
    let mut out = FromGit::new();
    for e in ended {
        let Some(role) = e.grant.split('/').next().and_then(|r| policy.roles.get(r)) else {
            continue;
        };
        let Some(person) = policy.people.get(&e.subject) else {
            continue;
        };
        for (provider, arn) in super::assume::assumable(role, policy) {
            let Some(crate::policy::Identity::AwsIam(identity)) = person.identity_on(provider)
            else {
                continue;
            };
            let Identity::User(user) =
                super::plan::as_iam_spells(observed.get(&provider.name), identity)
            else {
                continue;
            };
            let Some(fp) = super::assume::iam_provider_of(policy, &arn) else {
                continue;
            };
            let mut f = Fenced::new(&e.grant, &user, e.window);
            let original = f.end;
            f.end = f.end.min(e.end.max(f.start));
            if f.needed_at(now) {
                out.entry((fp.name.clone(), arn.clone()))
                    .or_default()
                    .push((f, original));
            }
        }
    }
    out
}

/// What the fences should be, as the IAM plan's own [`Desired`] policies,
/// from the grants `desired` (grant policies) and the fences `observed`:
/// every active grant's sessions of each role it may assume, and every
/// statement read back that is still needed at `now` — moved to end at
/// `now` when its grant was deleted early. Also the grants that go
/// unfenced, and refusals of those whose role says `require_fence`.
///
/// The statements of `ended` grants come from git: written whether or not
/// the fence still holds them, and a fence found without one, or with one
/// loosened, is drift ([`FenceDrift`]). Statements read back whose grant
/// git does not name are kept while needed (they only deny).
pub fn plan(
    policy: &Policy,
    desired: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &Known,
    ended: &[EndedGrant],
    now: DateTime<Utc>,
) -> (Vec<Desired>, Vec<Unfenced>, Vec<Refusal>, Vec<FenceDrift>) {
    let repository = policy.repository();
    let (mut unfenced, mut refused) = (Vec::new(), Vec::new());
    // (fencing provider, role ARN) → the grants fenced there.
    let mut fences: BTreeMap<(String, String), Vec<Fenced>> = BTreeMap::new();
    for d in desired.iter().filter(|d| !is_fence_name(&d.name)) {
        let Some(role) = d.grant.split('/').next().and_then(|r| policy.roles.get(r)) else {
            continue;
        };
        let Some(provider) = policy.providers.get(&d.provider) else {
            continue;
        };
        for arn in super::assume::assume_roles_in(role, crate::providers::aws::account(provider)) {
            let fenceable = match (&d.attach_to, super::assume::iam_provider_of(policy, &arn)) {
                (_, None) => Err(format!(
                    "its account is not one gitgrant reconciles, so its sessions live until they expire (up to 12 h past {})",
                    fmt_time(d.window.end)
                )),
                (Identity::User(user), Some(fp)) => match observed.get(&fp.name) {
                    // Not read this run: nothing is planned there.
                    None => continue,
                    Some(o) if find_role(o, &arn).is_none() => {
                        Err(format!("the role does not exist in {}", fp.name))
                    }
                    // A session of a role that can write IAM can rewrite
                    // the fence on it, and chain into roles no fence
                    // reaches: admin-like, so the role must say so.
                    Some(o)
                        if !role.allow_admin
                            && find_role(o, &arn)
                                .is_some_and(|(name, _)| o.iam_writers.contains(name)) =>
                    {
                        refused.push(Refusal {
                            grant: d.grant.clone(),
                            provider: d.provider.clone(),
                            why: format!(
                                "{arn} can write IAM, so a session of it could strip its own fence and outlive the window: set `allow_admin: true` on role `{}` to accept that, or assume a role that cannot write IAM",
                                role.name
                            ),
                        });
                        continue;
                    }
                    Some(_) => Ok((fp, user)),
                },
                _ => {
                    Err("the subject is an IAM role, whose sessions' names cannot be pinned".into())
                }
            };
            match fenceable {
                Ok((fp, user)) => fences
                    .entry((fp.name.clone(), arn.clone()))
                    .or_default()
                    .push(Fenced::new(&d.grant, user, d.window)),
                Err(why) if role.keys.aws_iam.require_fence => refused.push(Refusal {
                    grant: d.grant.clone(),
                    provider: d.provider.clone(),
                    why: format!(
                        "role `{}` requires a fence, and {arn} cannot be fenced: {why}",
                        role.name
                    ),
                }),
                Err(why) => unfenced.push(Unfenced {
                    grant: d.grant.clone(),
                    provider: d.provider.clone(),
                    role: arn.clone(),
                    why,
                }),
            }
        }
    }
    // Statements of ended grants, from git.
    let from_git = ended_fences(policy, ended, observed, now);
    // Only a statement an earlier run wrote can have been taken away: a
    // grant that ended (or was deleted) between two runs without ever
    // being applied gets its first statement now, and that is no drift.
    let applied = applied(&repository, observed);
    let made = |grant: &str| {
        applied.contains(grant) || ended.iter().any(|e| e.fenced_before && e.grant == grant)
    };
    let shards = |key: &(String, String)| -> Vec<&super::plan::Observed> {
        observed
            .get(&key.0)
            .into_iter()
            .flat_map(|o| &o.policies)
            .filter(|p| {
                is_fence_name(&p.name) && p.grant.as_deref() == Some(label(&key.1).as_str())
            })
            .collect()
    };
    let lost = |key: &(String, String), f: &Fenced, what: &str| FenceDrift {
        provider: key.0.clone(),
        fence: label(&key.1),
        policy: None,
        why: format!(
            "the statement fencing {}'s sessions of grant {} {what}: restored from git",
            f.session_name, f.grant
        ),
    };
    let missing = |key: &(String, String), f: &Fenced| {
        let what = if shards(key).is_empty() {
            "was missing (the fence was deleted)"
        } else {
            "was missing"
        };
        lost(key, f, what)
    };
    let mut drift = Vec::new();
    // Active grants' statements, and fences detached from their role.
    for (key, active) in &fences {
        let found: Vec<Fenced> = shards(key).iter().flat_map(|p| read(&p.document)).collect();
        for f in active.iter().filter(|f| made(&f.grant)) {
            if !found.iter().any(|o| o.sid == f.sid) {
                drift.push(missing(key, f));
            }
        }
    }
    for (provider, o) in observed {
        for p in o.policies.iter().filter(|p| is_fence_name(&p.name)) {
            let Some(arn) = p.grant.as_deref().and_then(|g| g.strip_prefix("fence:")) else {
                continue;
            };
            if let Some((role, _)) = find_role(o, arn)
                && !attached_to(p, role)
            {
                drift.push(FenceDrift {
                    provider: provider.clone(),
                    fence: label(arn),
                    policy: Some(p.name.clone()),
                    why: format!("the fence was detached from role {role}: attached again"),
                });
            }
        }
    }
    for (key, wanted) in &from_git {
        let found: Vec<Fenced> = shards(key).iter().flat_map(|p| read(&p.document)).collect();
        let active: BTreeSet<String> = fences
            .get(key)
            .map(|f| f.iter().map(|f| f.sid.clone()).collect())
            .unwrap_or_default();
        for (f, original) in wanted.iter().filter(|(f, _)| !active.contains(&f.sid)) {
            match found.iter().find(|o| o.sid == f.sid) {
                None if made(&f.grant) => drift.push(missing(key, f)),
                // A run that has not yet cut an early revoke finds the
                // window's own end: that is no tampering.
                Some(o)
                    if o.session_name != f.session_name
                        || o.start != f.start
                        || o.issued_until < f.issued_until
                        || (o.end > f.end && o.end != *original) =>
                {
                    drift.push(lost(key, f, "was loosened"));
                }
                _ => {}
            }
            fences.entry(key.clone()).or_default().push(f.clone());
        }
    }
    // Statements read back: kept while needed, ended now if deleted early,
    // unless git says what they are.
    let by_sid: BTreeMap<String, (&String, RevokeReason)> = known
        .iter()
        .map(|(id, reason)| (document::sid(id), (id, *reason)))
        .collect();
    for (provider, o) in observed {
        for p in o.policies.iter().filter(|p| is_fence_name(&p.name)) {
            let Some(arn) = p.grant.as_deref().and_then(|g| g.strip_prefix("fence:")) else {
                continue;
            };
            let key = (provider.clone(), arn.to_string());
            let active: BTreeSet<String> = fences
                .get(&key)
                .map(|f| f.iter().map(|f| f.sid.clone()).collect())
                .unwrap_or_default();
            let derived: BTreeSet<&String> = from_git
                .get(&key)
                .into_iter()
                .flatten()
                .map(|(f, _)| &f.sid)
                .collect();
            for mut f in read(&p.document) {
                if derived.contains(&f.sid) {
                    continue;
                }
                if active.contains(&f.sid) {
                    continue;
                }
                if let Some((id, reason)) = by_sid.get(&f.sid) {
                    f.grant = id.to_string();
                    if *reason != RevokeReason::Expired && f.end > now {
                        f.end = now;
                    }
                }
                if f.needed_at(now) {
                    fences.entry(key.clone()).or_default().push(f);
                }
            }
        }
    }
    let mut out = Vec::new();
    for ((provider, arn), mut fenced) in fences {
        // A role gone since its statements were written: nothing to fence.
        let Some((role, role_id)) = observed.get(&provider).and_then(|o| find_role(o, &arn)) else {
            continue;
        };
        fenced.sort_by(|a, b| a.sid.cmp(&b.sid));
        fenced.dedup_by(|a, b| a.sid == b.sid);
        let Some(docs) = documents(role_id, &fenced) else {
            unfenced.extend(fenced.iter().map(|f| Unfenced {
                grant: f.grant.clone(),
                provider: provider.clone(),
                role: arn.clone(),
                why: "its fence statement alone is over IAM's 6,144 characters".into(),
            }));
            continue;
        };
        let start = fenced.iter().map(|f| f.start).min().unwrap_or(now);
        let end = fenced
            .iter()
            .map(|f| f.issued_until.max(f.end))
            .max()
            .unwrap_or(now);
        for (n, document) in docs.into_iter().enumerate() {
            out.push(Desired {
                grant: label(&arn),
                subject: String::new(),
                provider: provider.clone(),
                name: name(&repository, &arn, n),
                path: ownership_path(policy),
                document,
                attach_to: Identity::Role(role.clone()),
                window: Window { start, end },
                tags: vec![("gitgrant:fence".into(), arn.clone())],
            });
        }
    }
    (out, unfenced, refused, drift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::aws_iam::document::{MAX_DOCUMENT_CHARS, minified};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn fenced(grant: &str, who: &str) -> Fenced {
        Fenced::new(
            grant,
            who,
            Window {
                start: t("2026-11-23T10:00:00Z"),
                end: t("2026-11-23T12:00:00Z"),
            },
        )
    }

    #[test]
    fn a_statement_names_the_subjects_sessions_of_the_role_in_the_window() {
        let s = statement("AROAEXAMPLE", &fenced("ro/alice-1", "alice"));
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:userid"],
            "AROAEXAMPLE:alice"
        );
        assert_eq!(
            s["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
            "2026-11-23T12:00:00Z"
        );
        assert_eq!(
            s["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-23T12:00:00Z"
        );
        assert_ne!(
            statement("R", &fenced("ro/alice-1", "alice"))["Sid"],
            statement("R", &fenced("ro/alice-2", "alice"))["Sid"]
        );
    }

    #[test]
    fn many_grants_on_one_role_are_split_into_documents_that_fit() {
        let many: Vec<Fenced> = (0..60)
            .map(|i| fenced(&format!("ro/someone-{i}"), &format!("user{i}")))
            .collect();
        let docs = documents("AROAEXAMPLE", &many).unwrap();
        assert!(docs.len() > 1, "{} documents", docs.len());
        for d in &docs {
            assert!(minified(d).len() <= MAX_DOCUMENT_CHARS);
        }
        let n: usize = docs
            .iter()
            .map(|d| d["Statement"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, 60, "every grant fenced once");
    }

    #[test]
    fn a_statement_is_kept_twelve_hours_past_its_end() {
        let f = fenced("ro/alice-1", "alice");
        assert!(f.needed_at(t("2026-11-23T23:59:59Z")));
        assert!(!f.needed_at(t("2026-11-24T00:00:00Z")));
    }
}
