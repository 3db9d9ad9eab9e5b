//! The GitHub adapter: every call gitgrant makes to GitHub's REST and
//! GraphQL APIs, over octocrab.
//!
//! octocrab carries authentication, the API base (`GITHUB_API_URL`, so GitHub
//! Enterprise works the same way), timeouts and the retries GitHub's rate
//! limits ask for (`retry-after`, `x-ratelimit-reset`). On top of that this
//! module pages every list (`Link: rel="next"`), waits for the reset when
//! `x-ratelimit-remaining` reaches 0 before the next call, and reads only the
//! fields it needs, so a field GitHub adds never breaks a run.

pub mod model;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http_body_util::BodyExt as _;
use octocrab::Octocrab;
use octocrab::service::middleware::retry::{RateLimitMetrics, RetryConfig};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use model::*;

/// The public API, when `GITHUB_API_URL` is not set.
pub const DEFAULT_API: &str = "https://api.github.com";

/// A call to GitHub that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    /// No token in `GITHUB_TOKEN` or `GH_TOKEN`.
    #[error(
        "no GitHub token: set GITHUB_TOKEN (Actions sets it for a job) or GH_TOKEN (`gh auth token`)"
    )]
    NoToken,
    /// No repository from `GITHUB_REPOSITORY`, the policy or `--github-repository`.
    #[error("`{0}` is not a GitHub repository: write it as OWNER/NAME")]
    BadRepository(String),
    /// The API base is not a URL.
    #[error("GITHUB_API_URL `{url}` is not usable: {source}")]
    BadBase {
        /// What was given.
        url: String,
        /// Why octocrab refused it.
        source: Box<octocrab::Error>,
    },
    /// GitHub answered with an error status.
    #[error("GitHub answered {status} to {method} {path}: {message}")]
    Status {
        /// The request's method.
        method: &'static str,
        /// The request's path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// GitHub's `message`, or the body.
        message: String,
    },
    /// GitHub could not be reached, or the body could not be read.
    #[error("GitHub could not be reached for {method} {path}: {source}")]
    Transport {
        /// The request's method.
        method: &'static str,
        /// The request's path.
        path: String,
        /// What went wrong.
        source: Box<octocrab::Error>,
    },
    /// A body that does not have the documented shape.
    #[error("GitHub's answer to {path} is not what its documentation describes: {source}")]
    Shape {
        /// The request's path.
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A GraphQL call that answered with errors.
    #[error("GitHub GraphQL: {0}")]
    GraphQl(String),
    /// A commit or note could not be signed.
    #[error("signing: {0}")]
    Signing(String),
    /// A ref kept moving while gitgrant tried to move it.
    #[error("{0} kept moving on GitHub; the next run writes it again")]
    Moved(String),
}

impl GitHubError {
    /// The HTTP status, when GitHub answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Counts of what octocrab's retry layer did, for the run's report.
#[derive(Debug, Default)]
struct Waits {
    rate_limited: AtomicU64,
    retried: AtomicU64,
}

impl RateLimitMetrics for Waits {
    fn retry_after_error(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        left: usize,
    ) {
        self.retried.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "GitHub answered {status} to {}; retrying ({left} left)",
            req.uri()
        );
    }

    fn rate_limited(
        &self,
        req: &http::Request<octocrab::OctoBody>,
        status: http::StatusCode,
        left: usize,
        secs: u64,
    ) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            "GitHub rate limit ({status}) on {}: waiting {secs}s ({left} retries left)",
            req.uri()
        );
    }
}

/// One repository on one GitHub (or GitHub Enterprise) instance.
#[derive(Clone)]
pub struct GitHub {
    client: Octocrab,
    api: String,
    /// `owner/name`.
    pub repository: String,
    waits: Arc<Waits>,
    calls: Arc<AtomicU64>,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api", &self.api)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

/// A method, for error messages.
#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
    Put,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
        }
    }
}

/// What a read that 404s means here: nothing there.
pub(crate) fn found<T>(r: Result<T, GitHubError>) -> Result<Option<T>, GitHubError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

impl GitHub {
    /// From the environment Actions sets: `GITHUB_API_URL`, `GITHUB_TOKEN`
    /// (or `GH_TOKEN`) and `GITHUB_REPOSITORY`, falling back to `repository`
    /// (the policy's) when that is unset.
    pub fn from_env(repository: Option<&str>) -> Result<GitHub, GitHubError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let api = var("GITHUB_API_URL").unwrap_or_else(|| DEFAULT_API.to_string());
        let token = var("GITHUB_TOKEN")
            .or_else(|| var("GH_TOKEN"))
            .ok_or(GitHubError::NoToken)?;
        let repo = var("GITHUB_REPOSITORY")
            .or_else(|| repository.map(str::to_string))
            .unwrap_or_default();
        GitHub::new(&api, &token, &repo)
    }

    /// [`GitHub::from_env`], or `None` when no token is given: for commands
    /// that can do part of their work without GitHub. Other problems (a bad
    /// repository or API base) are still errors.
    pub fn from_env_if_token(repository: Option<&str>) -> Result<Option<GitHub>, GitHubError> {
        match GitHub::from_env(repository) {
            Ok(gh) => Ok(Some(gh)),
            Err(GitHubError::NoToken) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A client for `repository` (`owner/name`) at `api`.
    pub fn new(api: &str, token: &str, repository: &str) -> Result<GitHub, GitHubError> {
        if !crate::names::is_repository(repository) {
            return Err(GitHubError::BadRepository(repository.to_string()));
        }
        let api = api.trim_end_matches('/').to_string();
        let waits = Arc::new(Waits::default());
        let client = Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(|source| GitHubError::BadBase {
                url: api.clone(),
                source: Box::new(source),
            })?
            .personal_token(token.to_string())
            .add_retry_config(RetryConfig::HandleRateLimits {
                metrics: waits.clone(),
                max_retries: 5,
                min_wait_seconds: 60,
                // A 403 without rate-limit headers is a permission problem.
                retry_on_forbidden: false,
            })
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .build()
            .map_err(|source| GitHubError::BadBase {
                url: api.clone(),
                source: Box::new(source),
            })?;
        Ok(GitHub {
            client,
            api,
            repository: repository.to_string(),
            waits,
            calls: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests made, and how many waited on a rate limit or were retried.
    pub fn calls(&self) -> (u64, u64, u64) {
        (
            self.calls.load(Ordering::Relaxed),
            self.waits.rate_limited.load(Ordering::Relaxed),
            self.waits.retried.load(Ordering::Relaxed),
        )
    }

    fn repo_path(&self, rest: &str) -> String {
        format!("/repos/{}{rest}", self.repository)
    }

    /// One request; the parsed body and the `Link` header's next page.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(Value, Option<String>), GitHubError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let transport = |source| GitHubError::Transport {
            method: method.as_str(),
            path: path.to_string(),
            source: Box::new(source),
        };
        let resp = match method {
            Method::Get => self.client._get(path).await,
            Method::Post => self.client._post(path, body).await,
            Method::Patch => self.client._patch(path, body).await,
            Method::Put => self.client._put(path, body).await,
        }
        .map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(transport)?
            .to_bytes();
        pace(&headers).await;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if !status.is_success() {
            let message = value
                .get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            return Err(GitHubError::Status {
                method: method.as_str(),
                path: path.to_string(),
                status: status.as_u16(),
                message,
            });
        }
        let next = headers
            .get(http::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        Ok((value, next))
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, GitHubError> {
        let (v, _) = self.send(method, path, body).await?;
        serde_json::from_value(v).map_err(|source| GitHubError::Shape {
            path: path.to_string(),
            source,
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, GitHubError> {
        self.call(Method::Get, path, None).await
    }

    async fn post<T: DeserializeOwned>(&self, path: &str, body: Value) -> Result<T, GitHubError> {
        self.call(Method::Post, path, Some(&body)).await
    }

    /// Every page of a list endpoint, 100 items a page.
    async fn list<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>, GitHubError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}per_page=100");
        let mut out = Vec::new();
        loop {
            let (v, next) = self.send(Method::Get, &url, None).await?;
            let page: Vec<T> = serde_json::from_value(v).map_err(|source| GitHubError::Shape {
                path: url.clone(),
                source,
            })?;
            out.extend(page);
            match next {
                Some(n) => url = n,
                None => return Ok(out),
            }
        }
    }

    /// The repository, with its default branch.
    pub async fn repository_info(&self) -> Result<RepositoryInfo, GitHubError> {
        self.get(&self.repo_path("")).await
    }

    /// A pull request.
    pub async fn pull(&self, number: u64) -> Result<Pull, GitHubError> {
        self.get(&self.repo_path(&format!("/pulls/{number}"))).await
    }

    /// The pull requests a commit belongs to.
    pub async fn pulls_for_commit(&self, sha: &str) -> Result<Vec<Pull>, GitHubError> {
        self.list(&self.repo_path(&format!("/commits/{sha}/pulls")))
            .await
    }

    /// Every review of a pull request, oldest first.
    pub async fn reviews(&self, number: u64) -> Result<Vec<Review>, GitHubError> {
        self.list(&self.repo_path(&format!("/pulls/{number}/reviews")))
            .await
    }

    /// The logins of a team's members (`@org/team`).
    pub async fn team_members(&self, org: &str, team: &str) -> Result<Vec<String>, GitHubError> {
        let users: Vec<User> = self
            .list(&format!("/orgs/{org}/teams/{team}/members"))
            .await?;
        Ok(users.into_iter().map(|u| u.login.to_lowercase()).collect())
    }

    /// Creates or updates the one comment of a pull request that holds
    /// `marker`. Returns the comment's id.
    pub async fn upsert_comment(
        &self,
        number: u64,
        marker: &str,
        body: &str,
    ) -> Result<u64, GitHubError> {
        let comments: Vec<Comment> = self
            .list(&self.repo_path(&format!("/issues/{number}/comments")))
            .await?;
        let body = json!({ "body": body });
        match comments.iter().find(|c| c.body.contains(marker)) {
            Some(c) => {
                let path = self.repo_path(&format!("/issues/comments/{}", c.id));
                let c: Comment = self.call(Method::Patch, &path, Some(&body)).await?;
                Ok(c.id)
            }
            None => {
                let c: Comment = self
                    .post(&self.repo_path(&format!("/issues/{number}/comments")), body)
                    .await?;
                Ok(c.id)
            }
        }
    }

    /// Opens an issue.
    pub async fn open_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[&str],
    ) -> Result<Issue, GitHubError> {
        self.post(
            &self.repo_path("/issues"),
            json!({ "title": title, "body": body, "labels": labels }),
        )
        .await
    }

    /// One issue, as GitHub has it now.
    pub async fn issue(&self, number: u64) -> Result<Issue, GitHubError> {
        self.get(&self.repo_path(&format!("/issues/{number}")))
            .await
    }

    /// Closes an issue, `completed` or `not_planned`.
    pub async fn close_issue(&self, number: u64, reason: &str) -> Result<(), GitHubError> {
        let path = self.repo_path(&format!("/issues/{number}"));
        let body = json!({ "state": "closed", "state_reason": reason });
        self.call::<Issue>(Method::Patch, &path, Some(&body))
            .await?;
        Ok(())
    }

    /// Every issue (open or closed) with `label`, pull requests left out.
    pub async fn issues_with_label(&self, label: &str) -> Result<Vec<Issue>, GitHubError> {
        let all: Vec<Issue> = self
            .list(&self.repo_path(&format!("/issues?state=all&labels={label}")))
            .await?;
        Ok(all
            .into_iter()
            .filter(|i| i.pull_request.is_none())
            .collect())
    }

    /// The commit a branch points at; `None` when there is no such branch.
    pub async fn branch_sha(&self, branch: &str) -> Result<Option<String>, GitHubError> {
        self.ref_sha(&format!("heads/{branch}")).await
    }

    /// The blob id of `path` at `rev` (a commit or branch); `None` when it
    /// is not there.
    pub async fn blob_sha(&self, path: &str, rev: &str) -> Result<Option<String>, GitHubError> {
        let url = self.repo_path(&format!("/contents/{path}?ref={rev}"));
        Ok(found(self.get::<Sha>(&url).await)?.map(|s| s.sha))
    }

    /// A commit of the Git database.
    pub async fn git_commit(&self, sha: &str) -> Result<GitCommit, GitHubError> {
        self.get(&self.repo_path(&format!("/git/commits/{sha}")))
            .await
    }

    /// Makes a commit on `parent` that writes (`Some`) or deletes (`None`)
    /// each path, through the Git Data API: blobs, a tree on the parent's,
    /// then the commit. GitHub signs commits made this way. Returns its sha.
    pub async fn make_commit(
        &self,
        parent: &str,
        changes: &[(String, Option<String>)],
        message: &str,
    ) -> Result<String, GitHubError> {
        self.commit_on(Some(parent), changes, message).await
    }

    /// [`GitHub::make_commit`] signed by `signer`: the commit's author and
    /// committer are gitgrant at `time`, and its SSH signature, over the
    /// commit as git writes it, goes in the `signature` field, which
    /// GitHub puts in the commit's `gpgsig` header (then GitHub does not
    /// sign it itself).
    pub async fn make_signed_commit(
        &self,
        parent: &str,
        changes: &[(String, Option<String>)],
        message: &str,
        signer: &crate::signing::Signer,
        time: DateTime<Utc>,
    ) -> Result<String, GitHubError> {
        let tree = self.tree_on(Some(parent), changes).await?;
        let (name, email) = crate::signing::COMMITTER;
        let stamp = time.timestamp();
        let payload = format!(
            "tree {tree}\nparent {parent}\nauthor {name} <{email}> {stamp} +0000\n\
             committer {name} <{email}> {stamp} +0000\n\n{message}"
        );
        let signature = signer
            .sign(crate::signing::COMMIT_NAMESPACE, payload.as_bytes())
            .map_err(|e| GitHubError::Signing(e.to_string()))?;
        let person = json!({
            "name": name,
            "email": email,
            "date": time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        let commit: Sha = self
            .post(
                &self.repo_path("/git/commits"),
                json!({
                    "message": message,
                    "tree": tree,
                    "parents": [parent],
                    "author": person,
                    "committer": person,
                    "signature": signature.trim_end(),
                }),
            )
            .await?;
        Ok(commit.sha)
    }

    /// [`GitHub::make_commit`] on `parent`, or as a first commit of its own
    /// (`None`: a tree of `changes` alone, no parent).
    pub async fn commit_on(
        &self,
        parent: Option<&str>,
        changes: &[(String, Option<String>)],
        message: &str,
    ) -> Result<String, GitHubError> {
        let tree = self.tree_on(parent, changes).await?;
        let parents: Vec<&str> = parent.into_iter().collect();
        let commit: Sha = self
            .post(
                &self.repo_path("/git/commits"),
                json!({ "message": message, "tree": tree, "parents": parents }),
            )
            .await?;
        Ok(commit.sha)
    }

    /// The tree of `parent` with `changes` made (or of `changes` alone),
    /// written through the Git Data API; returns its sha.
    async fn tree_on(
        &self,
        parent: Option<&str>,
        changes: &[(String, Option<String>)],
    ) -> Result<String, GitHubError> {
        let base = match parent {
            Some(p) => Some(self.git_commit(p).await?.tree.sha),
            None => None,
        };
        let mut entries = Vec::new();
        for (path, content) in changes {
            let sha = match content {
                Some(text) => {
                    let blob: Sha = self
                        .post(
                            &self.repo_path("/git/blobs"),
                            json!({ "content": text, "encoding": "utf-8" }),
                        )
                        .await?;
                    Value::String(blob.sha)
                }
                None => Value::Null,
            };
            entries.push(json!({ "path": path, "mode": "100644", "type": "blob", "sha": sha }));
        }
        let tree = match base {
            Some(base) => json!({ "base_tree": base, "tree": entries }),
            None => json!({ "tree": entries }),
        };
        let tree: Sha = self.post(&self.repo_path("/git/trees"), tree).await?;
        Ok(tree.sha)
    }

    /// The commit a ref (`notes/gitgrant`, `heads/main`) points at; `None`
    /// when there is no such ref.
    pub async fn ref_sha(&self, name: &str) -> Result<Option<String>, GitHubError> {
        let r = self
            .get::<Ref>(&self.repo_path(&format!("/git/ref/{name}")))
            .await;
        Ok(found(r)?.map(|r| r.object.sha))
    }

    /// Creates the ref `refs/<name>` at `sha`; `Ok(false)` when it exists
    /// already (someone made it meanwhile).
    pub async fn create_ref(&self, name: &str, sha: &str) -> Result<bool, GitHubError> {
        let body = json!({ "ref": format!("refs/{name}"), "sha": sha });
        match self.post::<Ref>(&self.repo_path("/git/refs"), body).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(422) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Moves `refs/<name>` to `sha` as a fast-forward; `Ok(false)` when it
    /// moved meanwhile.
    pub async fn move_ref(&self, name: &str, sha: &str) -> Result<bool, GitHubError> {
        let path = self.repo_path(&format!("/git/refs/{name}"));
        let body = json!({ "sha": sha, "force": false });
        match self.call::<Ref>(Method::Patch, &path, Some(&body)).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(422) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The text of `path` at commit `rev` (contents API, base64), if it
    /// is there and is UTF-8.
    pub async fn file_text(&self, path: &str, rev: &str) -> Result<Option<String>, GitHubError> {
        use base64::Engine as _;
        #[derive(serde::Deserialize)]
        struct Content {
            #[serde(default)]
            content: String,
        }
        let url = self.repo_path(&format!("/contents/{path}?ref={rev}"));
        Ok(found(self.get::<Content>(&url).await)?.and_then(|c| {
            let packed: String = c.content.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(packed)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
        }))
    }

    /// Creates a branch at `sha`.
    pub async fn create_branch(&self, branch: &str, sha: &str) -> Result<(), GitHubError> {
        let _: Ref = self
            .post(
                &self.repo_path("/git/refs"),
                json!({ "ref": format!("refs/heads/{branch}"), "sha": sha }),
            )
            .await?;
        Ok(())
    }

    /// Moves a branch to `sha`, only as a fast-forward. `Ok(false)` when
    /// GitHub refuses because the branch moved meanwhile.
    pub async fn fast_forward(&self, branch: &str, sha: &str) -> Result<bool, GitHubError> {
        self.move_ref(&format!("heads/{branch}"), sha).await
    }

    /// Moves a branch to `sha` whatever it pointed at (gitgrant's own
    /// removal branch only).
    pub async fn set_branch(&self, branch: &str, sha: &str) -> Result<(), GitHubError> {
        let path = self.repo_path(&format!("/git/refs/heads/{branch}"));
        let body = json!({ "sha": sha, "force": true });
        self.call::<Ref>(Method::Patch, &path, Some(&body)).await?;
        Ok(())
    }

    /// The open pull request from branch `head` of this repository, if any.
    pub async fn open_pull_from(&self, head: &str) -> Result<Option<Pull>, GitHubError> {
        let owner = self.repository.split('/').next().unwrap_or_default();
        let pulls: Vec<Pull> = self
            .list(&self.repo_path(&format!("/pulls?state=open&head={owner}:{head}")))
            .await?;
        Ok(pulls.into_iter().next())
    }

    /// Sets a pull request's title and body.
    pub async fn edit_pull(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> Result<Pull, GitHubError> {
        let path = self.repo_path(&format!("/pulls/{number}"));
        let body = json!({ "title": title, "body": body });
        self.call(Method::Patch, &path, Some(&body)).await
    }

    /// Opens a pull request from `head` into `base`.
    pub async fn open_pull(
        &self,
        head: &str,
        base: &str,
        title: &str,
        body: &str,
    ) -> Result<Pull, GitHubError> {
        self.post(
            &self.repo_path("/pulls"),
            json!({ "title": title, "head": head, "base": base, "body": body }),
        )
        .await
    }

    /// Turns on auto-merge (GraphQL `enablePullRequestAutoMerge`); when
    /// GitHub says the pull request is already mergeable ("clean status"),
    /// merges it at once. Returns whether it was merged now.
    pub async fn auto_merge(&self, pull: &Pull) -> Result<bool, GitHubError> {
        let query = "mutation($id: ID!) { enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: MERGE}) { pullRequest { number } } }";
        let body = json!({ "query": query, "variables": { "id": pull.node_id } });
        let (v, _) = self
            .send(Method::Post, &graphql_path(&self.api), Some(&body))
            .await?;
        let errors: Vec<String> = v
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|e| {
                        e.get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("?")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        if errors.is_empty() {
            return Ok(false);
        }
        if errors.iter().any(|m| m.contains("clean status")) {
            let path = self.repo_path(&format!("/pulls/{}/merge", pull.number));
            let _: Value = self
                .call(
                    Method::Put,
                    &path,
                    Some(&json!({ "merge_method": "merge" })),
                )
                .await?;
            return Ok(true);
        }
        Err(GitHubError::GraphQl(errors.join("; ")))
    }
}

/// GraphQL lives at `/graphql` on github.com and at `/api/graphql` on GitHub
/// Enterprise Server, whose REST base is `/api/v3`.
fn graphql_path(api: &str) -> String {
    match api.strip_suffix("/api/v3") {
        Some(host) => format!("{host}/api/graphql"),
        None => "/graphql".to_string(),
    }
}

/// When the primary limit is spent, wait for its reset before the next call
/// rather than fail on it.
async fn pace(headers: &http::HeaderMap) {
    let num = |k: &str| headers.get(k)?.to_str().ok()?.parse::<i64>().ok();
    if num("x-ratelimit-remaining") == Some(0)
        && let Some(reset) = num("x-ratelimit-reset")
    {
        // A hostile or broken header must not overflow: saturate, then cap.
        let secs = reset
            .saturating_sub(chrono::Utc::now().timestamp())
            .clamp(0, 3600) as u64;
        if secs > 0 {
            tracing::warn!("GitHub rate limit spent: waiting {secs}s for its reset");
            tokio::time::sleep(Duration::from_secs(secs)).await;
        }
    }
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == r#"rel="next""#)
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let h = r#"<https://api.github.com/repositories/1/pulls/2/reviews?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/pulls/2/reviews?per_page=100&page=3>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/repositories/1/pulls/2/reviews?per_page=100&page=2")
        );
        let last = r#"<https://x/?page=1>; rel="prev", <https://x/?page=1>; rel="first""#;
        assert_eq!(next_link(last), None);
    }

    #[test]
    fn graphql_follows_the_rest_base() {
        assert_eq!(graphql_path("https://api.github.com"), "/graphql");
        assert_eq!(
            graphql_path("https://ghe.example.com/api/v3"),
            "https://ghe.example.com/api/graphql"
        );
    }

    #[test]
    fn a_repository_must_be_owner_slash_name() {
        for bad in [
            "",
            "acme",
            "acme/",
            "/access",
            "acme/access/x",
            "ac me/access",
        ] {
            assert!(
                matches!(
                    GitHub::new(DEFAULT_API, "t", bad),
                    Err(GitHubError::BadRepository(_))
                ),
                "{bad}"
            );
        }
    }
}
