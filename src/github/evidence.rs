//! Approval evidence from GitHub: the pull request behind a landed commit,
//! its reviews, and the members of the teams that own a grant's file.

use std::collections::{BTreeMap, BTreeSet};

use crate::approval::{Evidence, Found, Landed, Need, PullFacts, ReviewFact, evaluate, teams};
use crate::codeowners::Codeowners;
use crate::git::{CommitId, GitError, Repo};
use crate::grant::Grant;
use crate::policy::Policy;

use super::{GitHub, GitHubError, Pull};

/// Looks up evidence, remembering team members, the pull request of each
/// commit and the reviews of each pull request across grants: grants landed
/// together cost one lookup.
#[derive(Debug)]
pub struct Approvals<'a> {
    gh: &'a GitHub,
    members: BTreeMap<String, BTreeSet<String>>,
    pulls: BTreeMap<String, Option<Pull>>,
    reviews: BTreeMap<u64, Vec<ReviewFact>>,
}

impl<'a> Approvals<'a> {
    /// Evidence through `gh`.
    pub fn new(gh: &'a GitHub) -> Approvals<'a> {
        Approvals {
            gh,
            members: BTreeMap::new(),
            pulls: BTreeMap::new(),
            reviews: BTreeMap::new(),
        }
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
                    })
                })
                .collect();
            self.reviews.insert(pull.number, reviews);
        }
        for n in needs {
            for (org, team) in teams(codeowners.owners(&n.path)) {
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
                let owners = codeowners.owners(&n.path);
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
pub async fn landed(
    repo: &Repo,
    gh: &GitHub,
    branch: &str,
    grants: &[Landed],
) -> Result<Vec<Found>, EvidenceError> {
    let branch = branch.strip_prefix("origin/").unwrap_or(branch);
    let mut approvals = Approvals::new(gh);
    let mut owners: BTreeMap<String, Codeowners> = BTreeMap::new();
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
            let base = match repo.resolve(&format!("{}^1", g.commit)) {
                Ok(c) => c,
                Err(_) => repo.resolve(&g.commit)?,
            };
            owners.insert(g.commit.clone(), codeowners_at(repo, base));
        }
        let e = approvals
            .judge(&pull, std::slice::from_ref(&g.need), &owners[&g.commit])
            .await?;
        out.extend(e.into_iter().map(Found::Judged));
    }
    Ok(out)
}

/// What [`landed`] needs of each grant, under `policy`.
pub fn landed_items(policy: &Policy, grants: &[(&Grant, CommitId)]) -> Vec<Landed> {
    grants
        .iter()
        .filter_map(|(g, c)| {
            let role = policy.roles.get(g.role())?;
            Some(Landed::new(
                role,
                g.id.path(),
                g.subject.clone(),
                c.to_string(),
            ))
        })
        .collect()
}
