//! Approval evidence from GitHub: the pull request behind a landed commit,
//! its reviews, and the members of the teams that own a grant's file.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::{Evidence, Found, Landed, Need, PullFacts, ReviewFact, evaluate, teams};
use crate::approval::history::{Histories, SubjectHistory};
use crate::approval::oncall::OnCall;
use crate::approval::rules::{Facts, Judgement};
use crate::codeowners::Codeowners;
use crate::duration::GrantDuration;
use crate::git::{CommitId, GitError, Landing, Repo};
use crate::grant::{Grant, Window};
use crate::policy::{Policy, Requester, Role};
use crate::snapshot::{Content, SourceFile};

use crate::github::{GitHub, GitHubError, Pull};

/// Looks up evidence, remembering team members, the pull request of each
/// commit and the reviews of each pull request across grants: grants landed
/// together cost one lookup.
#[derive(Debug)]
pub struct Approvals<'a> {
    gh: &'a GitHub,
    members: BTreeMap<String, BTreeSet<String>>,
    pulls: BTreeMap<String, Option<Pull>>,
    reviews: BTreeMap<u64, Vec<ReviewFact>>,
    /// [`Approvals::requester`] by pull request number.
    requesters: BTreeMap<u64, Option<String>>,
}

impl<'a> Approvals<'a> {
    /// Evidence through `gh`.
    pub fn new(gh: &'a GitHub) -> Approvals<'a> {
        Approvals {
            gh,
            members: BTreeMap::new(),
            pulls: BTreeMap::new(),
            reviews: BTreeMap::new(),
            requesters: BTreeMap::new(),
        }
    }

    /// Who asked for what `pull` adds: its author, except for a pull
    /// request that the policy's portal identity opened from its own
    /// branch `gitgrant/issue-<n>` of this repository, which asks for the
    /// author of issue `n` as GitHub has it now (never as the pull
    /// request's text says). `None` when the portal opened it and the
    /// issue cannot be read: then nobody is taken to have asked.
    pub async fn requester(
        &mut self,
        policy: &Policy,
        pull: &Pull,
    ) -> Result<Option<String>, GitHubError> {
        if let Some(r) = self.requesters.get(&pull.number) {
            return Ok(r.clone());
        }
        let r = portal_requester(Some(self.gh), policy, pull).await?;
        self.requesters.insert(pull.number, r.clone());
        Ok(r)
    }

    /// The merged pull request that brought commit `sha` into `branch`:
    /// the one whose merge commit it is, else any merged into `branch`.
    /// `None` for a commit pushed directly.
    pub async fn landed_by(
        &mut self,
        sha: &str,
        branch: &str,
    ) -> Result<Option<Pull>, GitHubError> {
        if let Some(p) = self.pulls.get(sha) {
            return Ok(p.clone());
        }
        let pulls = self.gh.pulls_for_commit(sha).await?;
        let merged = || pulls.iter().filter(|p| p.merged_at.is_some());
        let found = merged()
            .find(|p| p.merge_commit_sha.as_deref() == Some(sha))
            .or_else(|| merged().find(|p| p.base.name == branch))
            .cloned();
        self.pulls.insert(sha.to_string(), found.clone());
        Ok(found)
    }

    /// Judges `pull`'s reviews for each of `needs` under `codeowners`.
    pub async fn judge(
        &mut self,
        pull: &Pull,
        needs: &[Need],
        codeowners: &Codeowners,
    ) -> Result<Vec<Evidence>, GitHubError> {
        if !self.reviews.contains_key(&pull.number) {
            let reviews = self
                .gh
                .reviews(pull.number)
                .await?
                .into_iter()
                .filter_map(|r| {
                    Some(ReviewFact {
                        reviewer: r.user?.login,
                        state: r.state,
                        commit: r.commit_id,
                        id: Some(r.id),
                        submitted_at: r.submitted_at,
                    })
                })
                .collect();
            self.reviews.insert(pull.number, reviews);
        }
        for n in needs {
            for (org, team) in teams(n.owners(codeowners)) {
                self.members(&org, &team).await?;
            }
        }
        let facts = PullFacts {
            pr: pull.number,
            author: &pull.user.login,
            head: &pull.head.sha,
            reviews: &self.reviews[&pull.number],
        };
        Ok(needs
            .iter()
            .map(|n| {
                let owners = n.owners(codeowners);
                evaluate(
                    &facts,
                    &n.path,
                    &n.subject,
                    owners,
                    &self.members,
                    n.required,
                )
            })
            .collect())
    }

    /// Whether `login` belongs to team `@org/team`.
    pub async fn is_member(&mut self, team: &str, login: &str) -> Result<bool, GitHubError> {
        let Some((org, name)) = team.trim_start_matches('@').split_once('/') else {
            return Ok(false);
        };
        Ok(self
            .members(org, name)
            .await?
            .contains(&login.to_lowercase()))
    }

    /// The members of `org/team`, asked of GitHub once; kept under the
    /// lower-case `org/team` that [`evaluate`] looks them up by.
    async fn members(&mut self, org: &str, team: &str) -> Result<&BTreeSet<String>, GitHubError> {
        let key = format!("{}/{}", org.to_lowercase(), team.to_lowercase());
        if !self.members.contains_key(&key) {
            let m = self.gh.team_members(org, team).await?;
            self.members.insert(key.clone(), m.into_iter().collect());
        }
        Ok(&self.members[&key])
    }
}

/// What one grant asks of a role's auto-approval rules.
#[derive(Debug, Clone, Copy)]
pub struct Ask<'a> {
    /// The policy the rules are judged under (the base branch's).
    pub policy: &'a Policy,
    /// The role, in that policy.
    pub role: &'a Role,
    /// The grant.
    pub grant: &'a Grant,
    /// Who opened the pull request.
    pub author: &'a str,
    /// When it landed (the check: now).
    pub at: DateTime<Utc>,
    /// What counts against a rule's `max_duration`: its whole window, with
    /// the adjoining windows of the subject's grants of the role.
    pub duration: Option<GrantDuration>,
    /// The window a rule must hold over.
    pub window: Option<Window>,
    /// The windows of the subject's other grants of the role: those that
    /// overlap or adjoin `window` count with it against `max_duration`.
    pub neighbours: &'a [Window],
    /// The subject's history with the role before the landing, for rules
    /// with a `history` condition (`None`: not read, which they approve
    /// nothing without).
    pub history: Option<&'a SubjectHistory>,
}

/// [`Approvals::requester`] where there is GitHub to ask (asked once per
/// pull request); without it, a portal pull request asks for nobody.
pub async fn requester(
    approvals: Option<&mut Approvals<'_>>,
    policy: &Policy,
    pull: &Pull,
) -> Result<Option<String>, GitHubError> {
    match approvals {
        Some(a) => a.requester(policy, pull).await,
        None => portal_requester(None, policy, pull).await,
    }
}

async fn portal_requester(
    gh: Option<&GitHub>,
    policy: &Policy,
    pull: &Pull,
) -> Result<Option<String>, GitHubError> {
    let author = pull.user.login.to_lowercase();
    if policy.portal_identity.as_deref() != Some(author.as_str()) {
        return Ok(Some(author));
    }
    let own_branch = pull
        .head
        .repo
        .as_ref()
        .is_some_and(|r| r.full_name.eq_ignore_ascii_case(&policy.repository()));
    let issue = pull
        .head
        .name
        .strip_prefix(crate::portal::BRANCH_PREFIX)
        .and_then(|n| n.parse::<u64>().ok());
    let (Some(gh), true, Some(issue)) = (gh, own_branch, issue) else {
        return Ok(None);
    };
    Ok(crate::github::found(gh.issue(issue).await)?
        .filter(|i| i.pull_request.is_none())
        .and_then(|i| i.user)
        .map(|u| u.login.to_lowercase()))
}

impl<'a> Ask<'a> {
    /// `grant` asked for by `author`, as if it landed at `at`: its window
    /// then is what the rules judge.
    pub fn landing_at(
        policy: &'a Policy,
        role: &'a Role,
        grant: &'a Grant,
        author: &'a str,
        at: DateTime<Utc>,
    ) -> Ask<'a> {
        let window = grant.window(Some(at));
        Ask {
            policy,
            role,
            grant,
            author,
            at,
            duration: window.and_then(|w| w.length()),
            window,
            neighbours: &[],
            history: None,
        }
    }
}

/// Whether `requesters` admit `login`: `*`, the login itself, or a member
/// of one of the teams, asked of GitHub through `approvals`. `None` when
/// only a team could admit them and there is no GitHub to ask.
pub async fn admitted(
    mut approvals: Option<&mut Approvals<'_>>,
    requesters: &[Requester],
    login: &str,
) -> Result<Option<bool>, GitHubError> {
    let mut unknown = false;
    for r in requesters {
        match r {
            Requester::Anyone => return Ok(Some(true)),
            Requester::Login(l) if l.eq_ignore_ascii_case(login) => return Ok(Some(true)),
            Requester::Login(_) => {}
            Requester::Team(t) => match approvals.as_deref_mut() {
                Some(a) => {
                    if a.is_member(t, login).await? {
                        return Ok(Some(true));
                    }
                }
                None => unknown = true,
            },
        }
    }
    Ok(if unknown { None } else { Some(false) })
}

/// Judges `ask` under its role's rules: teams through `approvals` (`None`:
/// no GitHub, so a team admits nobody), on-call schedules through `oncall`
/// over the window from `ask.at` (access before the landing is none). Rules
/// that cannot be judged approve nothing.
pub async fn judge_rules(
    mut approvals: Option<&mut Approvals<'_>>,
    oncall: &mut OnCall,
    ask: Ask<'_>,
) -> Result<Judgement, GitHubError> {
    let subject = ask.grant.subject.to_lowercase();
    let email = ask
        .policy
        .people
        .get(&subject)
        .and_then(|p| p.email.clone());
    let ticket_matches = match (&ask.role.require_ticket, &ask.grant.ticket) {
        (Some(re), Some(t)) => re.is_match(t),
        _ => false,
    };
    let window = ask
        .window
        .map(|w| Window {
            start: w.start.max(ask.at),
            end: w.end,
        })
        .filter(|w| w.start < w.end);
    let duration = ask
        .window
        .and_then(|w| crate::approval::rules::joined(w, ask.neighbours).length())
        .zip(ask.duration)
        .map(|(joined, own)| joined.max(own));
    let mut facts = Vec::new();
    for rule in &ask.role.auto_approve {
        let admitted = if rule.requesters.is_empty() {
            Some(true)
        } else {
            admitted(approvals.as_deref_mut(), &rule.requesters, &subject).await?
        };
        let on_call = match (&rule.on_call, &email, window) {
            (Some(schedule), Some(email), Some(window)) => oncall
                .on_call_throughout(schedule, email, window)
                .await
                .ok(),
            _ => None,
        };
        facts.push(Facts {
            subject: subject.clone(),
            author: ask.author.to_lowercase(),
            requester_admitted: admitted,
            duration,
            window,
            email: email.clone(),
            landed: ask.at,
            ticket_matches,
            on_call,
            history: ask.history.cloned(),
        });
    }
    Ok(Judgement::of(
        ask.at,
        ask.role.auto_approve.iter().zip(facts),
    ))
}

/// Why approval evidence could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Reading the landing commits failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// Asking GitHub failed.
    #[error(transparent)]
    GitHub(#[from] GitHubError),
}

/// The CODEOWNERS of the tree at `commit`.
pub fn codeowners_at(repo: &Repo, commit: CommitId) -> Codeowners {
    Codeowners::first_of(|p| repo.text_at(commit, p).ok().flatten())
}

/// The evidence for grants landed on `branch`, each at its landing commit,
/// in the order given. Each is judged under the CODEOWNERS GitHub applied:
/// that of the landing commit's first parent (the base branch before the
/// merge), read once per commit.
///
/// A grant short of its quorum whose role has auto-approval rules (in the
/// policy of that same first parent) is judged by them at the landing
/// commit's time, on the file as it landed: never on anyone's earlier
/// verdict.
pub async fn landed(
    repo: &Repo,
    gh: &GitHub,
    branch: &str,
    grants: &[Landed],
    oncall: &mut OnCall,
) -> Result<Vec<Found>, EvidenceError> {
    let branch = branch.strip_prefix("origin/").unwrap_or(branch);
    let mut approvals = Approvals::new(gh);
    let mut owners: BTreeMap<String, Codeowners> = BTreeMap::new();
    // The base's policy, parsed once per version of the file and only for a
    // grant short of its quorum.
    let mut bases: BTreeMap<String, CommitId> = BTreeMap::new();
    let mut policies: std::collections::HashMap<Option<SourceFile>, Option<Policy>> =
        std::collections::HashMap::new();
    let histories = crate::approval::past::for_landings(repo, grants)?;
    let mut out = Vec::new();
    for g in grants {
        let path = g.need.path.clone();
        if g.break_glass {
            out.push(Found::BreakGlass { path });
            continue;
        }
        let Some(pull) = approvals.landed_by(&g.commit, branch).await? else {
            out.push(Found::NoPullRequest {
                path,
                commit: g.commit.clone(),
            });
            continue;
        };
        if !owners.contains_key(&g.commit) {
            let base = crate::approval::past::base_of(repo, &g.commit)?;
            owners.insert(g.commit.clone(), codeowners_at(repo, base));
            bases.insert(g.commit.clone(), base);
        }
        let mut e = approvals
            .judge(&pull, std::slice::from_ref(&g.need), &owners[&g.commit])
            .await?;
        for ev in e.iter_mut().filter(|ev| !ev.met()) {
            let file = repo.policy_at(bases[&g.commit])?;
            let policy = policies.entry(file).or_insert_with_key(|f| {
                let (p, errors) = crate::validate::read_policy(f.as_ref()?);
                p.filter(|_| errors.is_empty())
            });
            if let Some(policy) = policy {
                let at = Before {
                    policy,
                    histories: &histories,
                    base: bases[&g.commit],
                    grants,
                };
                ev.rules = rules_at_landing(repo, &mut approvals, oncall, g, &pull, at).await?;
            }
        }
        out.extend(e.into_iter().map(Found::Judged));
    }
    Ok(out)
}

/// One later commit that changed a landed grant's file.
#[derive(Debug, Clone)]
pub struct EditOf {
    /// The commit.
    pub commit: CommitId,
    /// The subject the file named after it, when it could be read.
    pub subject: Option<String>,
}

/// The evidence of one edit of a grant's file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct EditFound {
    /// The commit that edited the file.
    pub commit: String,
    /// What GitHub says of it: the pull request that landed that commit and
    /// its reviews, or the role's rules judged on the file as the commit
    /// left it.
    #[serde(flatten)]
    pub found: Found,
}

/// A landed grant's evidence and that of every later edit of its file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WithEdits {
    /// The evidence of the landing.
    #[serde(flatten)]
    pub landing: Found,
    /// Each edit's evidence, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edits: Vec<EditFound>,
}

impl WithEdits {
    /// Whether the landing and every edit have their evidence.
    pub fn ok(&self) -> bool {
        self.landing.ok() && self.edits.iter().all(|e| e.found.ok())
    }

    /// One line for the landing, then one per edit.
    pub fn lines(&self) -> Vec<String> {
        std::iter::once(self.landing.line())
            .chain(self.edits.iter().map(|e| {
                let verdict = if e.found.ok() { "ok  " } else { "FAIL" };
                format!(
                    "{verdict} {} (edited in {}): {}",
                    e.found.path(),
                    &e.commit[..12.min(e.commit.len())],
                    e.found.why()
                )
            }))
            .collect()
    }
}

/// The grant in `path` as `commit` left it, read under `policy` with its
/// clock started at `landed`; `None` when the file is gone there or does
/// not validate.
pub fn grant_at(
    repo: &Repo,
    policy: &Policy,
    commit: CommitId,
    path: &str,
    landed: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Grant>, GitError> {
    let Some(text) = repo.text_at(commit, path)? else {
        return Ok(None);
    };
    let file = SourceFile {
        path: path.to_string(),
        content: Content::Bytes(text.into_bytes()),
    };
    let (grant, violations) = crate::validate::read_grant(Some(policy), &file, now, Some(landed));
    Ok(grant.filter(|_| violations.is_empty()))
}

/// Every commit on `tip`'s first-parent line that changed `path` since it
/// landed at `landing`, oldest first, with the subject each left.
pub fn edits_since(
    repo: &Repo,
    policy: &Policy,
    tip: CommitId,
    path: &str,
    landing: &Landing,
    now: DateTime<Utc>,
) -> Result<Vec<EditOf>, GitError> {
    repo.edits_since(tip, landing.commit, path)?
        .into_iter()
        .map(|commit| {
            let subject =
                grant_at(repo, policy, commit, path, landing.time, now)?.map(|g| g.subject);
            Ok(EditOf { commit, subject })
        })
        .collect()
}

/// [`landed`] for `grants` and every edit of each since it landed
/// (`edits[i]` for `grants[i]`): the landing and each edit are judged on
/// their own, each under the CODEOWNERS and policy of its commit's first
/// parent and on the file as that commit left it, with the window still
/// counted from the landing. Every edit needs its own evidence: the
/// landing's says nothing of what a later commit changed.
pub async fn landed_with_edits(
    repo: &Repo,
    gh: &GitHub,
    branch: &str,
    grants: &[Landed],
    edits: &[Vec<EditOf>],
    oncall: &mut OnCall,
) -> Result<Vec<WithEdits>, EvidenceError> {
    let mut items: Vec<Landed> = grants
        .iter()
        .map(|g| Landed {
            window: None,
            ..g.clone()
        })
        .collect();
    let mut owner = Vec::new();
    for (i, g) in grants.iter().enumerate() {
        let Some(edits) = edits.get(i).filter(|e| !e.is_empty()) else {
            continue;
        };
        let landed_at = repo.commit_time(repo.resolve(&g.commit)?)?;
        for e in edits {
            let mut item = items[i].clone();
            if let Some(s) = &e.subject {
                item.need.subject = s.clone();
            }
            item.commit = e.commit.to_string();
            item.landed_at = Some(landed_at);
            items.push(item);
            owner.push(i);
        }
    }
    let mut found = landed(repo, gh, branch, &items, oncall).await?;
    let edit_found = found.split_off(grants.len().min(found.len()));
    let mut out: Vec<WithEdits> = found
        .into_iter()
        .map(|landing| WithEdits {
            landing,
            edits: Vec::new(),
        })
        .collect();
    for ((i, f), item) in owner
        .into_iter()
        .zip(edit_found)
        .zip(&items[grants.len()..])
    {
        out[i].edits.push(EditFound {
            commit: item.commit.clone(),
            found: f,
        });
    }
    Ok(out)
}

/// What a landing is judged under: the policy of its base, the
/// histories read, its base, and every grant judged with it.
#[derive(Clone, Copy)]
struct Before<'h> {
    policy: &'h Policy,
    histories: &'h Histories,
    base: CommitId,
    grants: &'h [Landed],
}

impl Before<'_> {
    /// The files of `g`'s subject's other grants of its role that landed
    /// in its commit (an edit has none).
    fn alongside(&self, g: &Landed) -> Vec<String> {
        if g.landed_at.is_some() {
            return Vec::new();
        }
        let role = |path: &str| crate::grant::GrantId::from_path(path).map(|id| id.role);
        self.grants
            .iter()
            .filter(|o| {
                o.commit == g.commit
                    && o.landed_at.is_none()
                    && o.need.path != g.need.path
                    && o.need.subject.eq_ignore_ascii_case(&g.need.subject)
                    && role(&o.need.path) == role(&g.need.path)
            })
            .map(|o| o.need.path.clone())
            .collect()
    }
}

/// The rules of `g`'s role in `policy` (the base before its merge),
/// judged at its landing commit's time on the file as it landed (and a
/// rule's history condition on the history up to the base). `None` when
/// the role there has no rules.
async fn rules_at_landing(
    repo: &Repo,
    approvals: &mut Approvals<'_>,
    oncall: &mut OnCall,
    g: &Landed,
    pull: &Pull,
    landing: Before<'_>,
) -> Result<Option<Judgement>, EvidenceError> {
    let policy = landing.policy;
    let Some(role) = crate::grant::GrantId::from_path(&g.need.path)
        .and_then(|id| policy.roles.get(&id.role))
        .filter(|r| !r.auto_approve.is_empty())
    else {
        return Ok(None);
    };
    let commit = repo.resolve(&g.commit)?;
    let at = repo.commit_time(commit)?;
    // An edit is judged at its own commit on the file as it left it; the
    // window still counts from the grant's landing.
    let landed = g.landed_at.unwrap_or(at);
    let Some(text) = repo.text_at(commit, &g.need.path)? else {
        return Ok(None);
    };
    let file = SourceFile {
        path: g.need.path.clone(),
        content: Content::Bytes(text.into_bytes()),
    };
    let Some(grant) = crate::validate::read_grant(Some(policy), &file, at, Some(landed)).0 else {
        return Ok(None);
    };
    // The window as it landed, or as it is now if an edit made it longer.
    let window = grant.window(Some(landed)).map(|w| Window {
        start: w.start,
        end: g.window.map_or(w.end, |n| n.end.max(w.end)),
    });
    let now = g.window.and_then(|w| w.length());
    let duration = grant
        .window(Some(landed))
        .and_then(|w| w.length())
        .map(|d| now.map_or(d, |n| n.max(d)));
    // A pull request the portal opened asks for its issue's author; one
    // whose issue cannot be read asks for nobody, and no rule holds.
    let author = approvals.requester(policy, pull).await?.unwrap_or_default();
    let history = landing
        .histories
        .of(
            &landing.base.to_string(),
            at,
            &grant.subject,
            &policy.known_as(&grant.subject),
            &g.need.path,
        )
        .map(|mut h| {
            h.alongside = landing.alongside(g);
            h
        });
    let ask = Ask {
        policy,
        role,
        grant: &grant,
        author: &author,
        at,
        duration,
        window,
        neighbours: &g.neighbours,
        history: history.as_ref(),
    };
    Ok(Some(judge_rules(Some(approvals), oncall, ask).await?))
}

/// What [`landed`] needs of each of `grants`, under `policy`, with its
/// window as it is now and the windows of the same subject's other grants
/// of the role among `all` (every grant on the branch).
pub fn landed_items(
    policy: &Policy,
    grants: &[(&Grant, Landing)],
    all: &[(&Grant, Landing)],
) -> Vec<Landed> {
    grants
        .iter()
        .filter_map(|(g, l)| {
            let role = policy.roles.get(g.role())?;
            let mut item = Landed::new(role, g.id.path(), g.subject.clone(), l.commit.to_string());
            item.window = g.window(Some(l.time));
            item.neighbours = neighbours(g, all.iter().map(|(o, l)| (*o, Some(l.time))));
            Some(item)
        })
        .collect()
}

/// The windows of `grant`'s subject's other grants of its role among
/// `others` (each with its landing; `None`: as if it landed at the start
/// of its window, or not at all for a duration).
pub fn neighbours<'g>(
    grant: &Grant,
    others: impl IntoIterator<Item = (&'g Grant, Option<DateTime<Utc>>)>,
) -> Vec<Window> {
    others
        .into_iter()
        .filter(|(o, _)| {
            o.id != grant.id
                && o.role() == grant.role()
                && o.subject.eq_ignore_ascii_case(&grant.subject)
        })
        .filter_map(|(o, landed)| o.window(landed))
        .collect()
}
