//! Judging an open pull request as if it merged now: each grant file it
//! adds or changes by its quorum of reviews at the head or, short of it,
//! its role's auto-approval rules under the base branch's policy; each
//! deletion by who made it (the check, `approvals --pr`).

use std::collections::BTreeMap;

use super::github::{Approvals, Ask, EvidenceError, codeowners_at, judge_rules};
use super::{Evidence, Found, Need};
use crate::git::{CommitId, Repo};
use crate::github::{GitHubError, Pull};
use crate::grant::{Grant, GrantId};
use crate::policy::{Policy, Requester};
use crate::snapshot::{Content, Snapshot, SourceFile};

/// What a pull request changes under `grants/`.
pub struct Changes {
    /// The base branch's commit.
    pub base: CommitId,
    /// The policy of the base branch.
    pub policy: Policy,
    /// Grant files added or changed, as the pull request has them.
    pub grants: Snapshot,
    /// Grant files deleted.
    pub deleted: Vec<String>,
    /// Whether gitgrant.yaml or a CODEOWNERS file (who approves) changed.
    pub policy_changed: bool,
}

/// Judges an open pull request's grant files as if it merged at `now`:
/// each grant's quorum of approvals at the head (with `gh`; without, no
/// review counts), and, short of it, its role's auto-approval rules under
/// the base branch's policy. `grants` are the pull request's validated
/// grants (on `pull_request`, only those of roles with rules: CODEOWNERS
/// guards the others).
pub async fn judge_pull(
    repo: &Repo,
    mut approvals: Option<&mut Approvals<'_>>,
    ch: &Changes,
    grants: &[&Grant],
    pull: &Pull,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Found>, EvidenceError> {
    let owners = codeowners_at(repo, ch.base);
    let mut oncall = crate::approval::oncall::OnCall::from_env();
    // Who asked (the author for the request form's pull requests);
    // nobody when that cannot be told, and then no rule holds.
    let author = crate::approval::github::requester(approvals.as_deref_mut(), &ch.policy, pull)
        .await?
        .unwrap_or_default();
    // The base's grants, each with its landing, and the pull request's
    // (landing now): a rule counts adjoining windows of one subject and
    // role together.
    let base = repo.snapshot(ch.base)?;
    let base_paths: Vec<String> = base.grants.iter().map(|f| f.path.clone()).collect();
    let base_landings = repo.landings(ch.base, &base_paths)?;
    let base_grants: Vec<(Grant, Option<chrono::DateTime<chrono::Utc>>)> = base
        .grants
        .iter()
        .filter(|f| !ch.deleted.contains(&f.path) && !grants.iter().any(|g| g.id.path() == f.path))
        .filter_map(|f| {
            let landed = base_landings.get(&f.path).map(|l| l.time);
            let g = crate::validate::read_grant(Some(&ch.policy), f, now, landed).0?;
            Some((g, landed))
        })
        .collect();
    // The history before the merge, read once, when a rule asks about it.
    let histories = if grants.iter().any(|g| {
        ch.policy
            .roles
            .get(g.role())
            .is_some_and(|r| r.auto_approve.iter().any(|r| r.history.is_some()))
    }) {
        // The reconciler's evidence notes say what approved earlier
        // grants: a checkout has none until they are fetched. Without
        // them no earlier grant counts as held, which approves less.
        if repo.has_remote("origin") {
            let _ = repo.fetch_notes("origin", now, crate::signing::Keys::default());
        }
        super::past::read(repo, &[(ch.base, now)])?
    } else {
        super::history::Histories::default()
    };
    let mut found = Vec::new();
    for g in grants {
        let Some(role) = ch.policy.roles.get(g.role()) else {
            continue;
        };
        if role.break_glass {
            found.push(Found::BreakGlass { path: g.id.path() });
            continue;
        }
        let need = Need::new(role, g.id.path(), g.subject.clone());
        let mut e = judge_need(approvals.as_deref_mut(), pull, &need, &owners).await?;
        if !e.met() && !role.auto_approve.is_empty() {
            let neighbours = crate::approval::github::neighbours(
                g,
                base_grants
                    .iter()
                    .map(|(o, l)| (o, *l))
                    .chain(grants.iter().map(|o| (*o, Some(now)))),
            );
            // The subject's other new grants of the role in this pull
            // request land with it and count against the rate with it.
            let history = histories
                .of(
                    &ch.base.to_string(),
                    now,
                    &g.subject,
                    &ch.policy.known_as(&g.subject),
                    &g.id.path(),
                )
                .map(|mut h| {
                    h.alongside = grants
                        .iter()
                        .filter(|o| {
                            o.id != g.id
                                && o.role() == g.role()
                                && o.subject.eq_ignore_ascii_case(&g.subject)
                                && !base_paths.contains(&o.id.path())
                        })
                        .map(|o| o.id.path())
                        .collect();
                    h
                });
            let ask = Ask {
                neighbours: &neighbours,
                history: history.as_ref(),
                ..Ask::landing_at(&ch.policy, role, g, &author, now)
            };
            e.rules = Some(judge_rules(approvals.as_deref_mut(), &mut oncall, ask).await?);
        }
        found.push(Found::Judged(e));
    }
    // A deletion revokes someone's access: CODEOWNERS guards it where it
    // owns the file; where it leaves the file unowned (roles with rules,
    // break-glass roles) the grant's subject, or a requester for others,
    // may delete it, and anyone else needs the role's quorum.
    for path in &ch.deleted {
        let Some(role) = GrantId::from_path(path).and_then(|id| ch.policy.roles.get(&id.role))
        else {
            continue;
        };
        if !owners.owners(path).is_empty() {
            continue;
        }
        let subject = match repo.text_at(ch.base, path)? {
            Some(text) => {
                let file = SourceFile {
                    path: path.clone(),
                    content: Content::Bytes(text.into_bytes()),
                };
                crate::validate::read_grant(Some(&ch.policy), &file, now, None)
                    .0
                    .map(|g| g.subject.to_lowercase())
            }
            None => None,
        };
        if subject.as_deref() == Some(author.as_str())
            || may_ask_for_others(approvals.as_deref_mut(), &role.requesters, &author).await?
        {
            continue;
        }
        let mut need = Need::new(role, path.clone(), subject.unwrap_or_default());
        need.required = need.required.max(1);
        if need.approvers.is_empty() {
            need.approvers = vec![ch.policy.security_team.to_lowercase()];
        }
        let e = judge_need(approvals.as_deref_mut(), pull, &need, &owners).await?;
        found.push(Found::Judged(e));
    }
    Ok(found)
}

/// `need` judged on `pull`'s reviews (with GitHub; without, no review
/// counts).
pub async fn judge_need(
    approvals: Option<&mut Approvals<'_>>,
    pull: &Pull,
    need: &Need,
    owners: &crate::codeowners::Codeowners,
) -> Result<Evidence, GitHubError> {
    Ok(match approvals {
        Some(a) => a
            .judge(pull, std::slice::from_ref(need), owners)
            .await?
            .remove(0),
        None => crate::approval::evaluate(
            &crate::approval::PullFacts {
                pr: pull.number,
                author: &pull.user.login,
                head: &pull.head.sha,
                reviews: &[],
            },
            &need.path,
            &need.subject,
            need.owners(owners),
            &BTreeMap::new(),
            need.required,
        ),
    })
}

/// Whether `author` is named in `requesters` (by login or team): those may
/// ask for access on behalf of others. `*` admits any subject but lets
/// nobody ask for someone else.
pub async fn may_ask_for_others(
    approvals: Option<&mut Approvals<'_>>,
    requesters: &[Requester],
    author: &str,
) -> Result<bool, GitHubError> {
    let named: Vec<Requester> = requesters
        .iter()
        .filter(|r| **r != Requester::Anyone)
        .cloned()
        .collect();
    // A team no GitHub can be asked about names nobody.
    Ok(super::github::admitted(approvals, &named, author).await? == Some(true))
}

/// What `role`'s rules would say of `grant` if its subject opened the pull
/// request and it merged at `now` into `base` (`request` tells the asker
/// at once; a rule's history condition is judged on the history up to
/// `base`, when there is one). Teams are asked of GitHub through `gh`;
/// without it, a team admits nobody.
pub async fn foresee(
    gh: Option<&crate::github::GitHub>,
    base: Option<(&Repo, CommitId)>,
    policy: &Policy,
    role: &crate::policy::Role,
    grant: &Grant,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<super::rules::Judgement, EvidenceError> {
    let mut approvals = gh.map(Approvals::new);
    let mut oncall = super::oncall::OnCall::from_env();
    let history = match base {
        Some((repo, base)) if role.auto_approve.iter().any(|r| r.history.is_some()) => {
            super::past::read(repo, &[(base, now)])?.of(
                &base.to_string(),
                now,
                &grant.subject,
                &policy.known_as(&grant.subject),
                &grant.id.path(),
            )
        }
        _ => None,
    };
    let ask = Ask {
        history: history.as_ref(),
        ..Ask::landing_at(policy, role, grant, &grant.subject, now)
    };
    Ok(judge_rules(approvals.as_mut(), &mut oncall, ask).await?)
}
