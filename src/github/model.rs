//! The fields gitgrant reads from GitHub's documented response shapes.
//! Everything else in a response is ignored.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// A user (`user`, `author`, team members).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The login.
    pub login: String,
}

/// `GET /repos/{owner}/{repo}`.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryInfo {
    /// `owner/name`.
    pub full_name: String,
    /// The default branch.
    pub default_branch: String,
}

/// A repository as a pull request's `head` or `base` names it.
#[derive(Debug, Clone, Deserialize)]
pub struct RepoRef {
    /// `owner/name`.
    pub full_name: String,
}

/// A pull request's `head` or `base`.
#[derive(Debug, Clone, Deserialize)]
pub struct Branch {
    /// The branch name.
    #[serde(rename = "ref")]
    pub name: String,
    /// Its commit.
    pub sha: String,
    /// The repository; `null` when a fork was deleted.
    pub repo: Option<RepoRef>,
}

/// A pull request (`/pulls/{n}`, `/commits/{sha}/pulls`, event payloads).
#[derive(Debug, Clone, Deserialize)]
pub struct Pull {
    /// The number.
    pub number: u64,
    /// The GraphQL node id.
    #[serde(default)]
    pub node_id: String,
    /// `open` or `closed`.
    pub state: String,
    /// Its web page.
    pub html_url: String,
    /// The title.
    #[serde(default)]
    pub title: String,
    /// Who opened it.
    pub user: User,
    /// The branch it comes from, at its latest commit.
    pub head: Branch,
    /// The branch it goes into.
    pub base: Branch,
    /// When it was merged, if it was.
    pub merged_at: Option<DateTime<Utc>>,
    /// The commit that merged it (merge, squash or the last rebased one).
    pub merge_commit_sha: Option<String>,
}

/// A review's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// A comment only.
    Commented,
    /// An approval or change request that was dismissed.
    Dismissed,
    /// Not submitted yet.
    Pending,
}

/// A pull-request review.
#[derive(Debug, Clone, Deserialize)]
pub struct Review {
    /// Its id; later reviews have larger ids.
    pub id: u64,
    /// Who wrote it; `null` for a deleted account.
    pub user: Option<User>,
    /// Its state.
    pub state: ReviewState,
    /// The pull request's head when it was submitted.
    pub commit_id: Option<String>,
    /// When it was submitted.
    pub submitted_at: Option<DateTime<Utc>>,
}

/// An issue or pull-request comment.
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    /// Its id.
    pub id: u64,
    /// Its Markdown.
    #[serde(default)]
    pub body: String,
}

/// An issue.
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    /// The number.
    pub number: u64,
    /// The title.
    pub title: String,
    /// Its web page.
    pub html_url: String,
    /// Present when the "issue" is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
    /// Who opened it (GitHub always says; absent only in hand-made JSON).
    #[serde(default)]
    pub user: Option<User>,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
}

/// Something with a sha: a blob, tree or commit just made.
#[derive(Debug, Clone, Deserialize)]
pub struct Sha {
    /// The object id.
    pub sha: String,
}

/// A git reference.
#[derive(Debug, Clone, Deserialize)]
pub struct Ref {
    /// `refs/heads/…`.
    #[serde(rename = "ref")]
    pub name: String,
    /// What it points at.
    pub object: Sha,
}

/// A commit of the Git database.
#[derive(Debug, Clone, Deserialize)]
pub struct GitCommit {
    /// Its id.
    pub sha: String,
    /// Its tree.
    pub tree: Sha,
    /// Its parents.
    #[serde(default)]
    pub parents: Vec<Sha>,
}
