//! A stateful fake of the GitHub endpoints gitgrant calls, on wiremock.
//!
//! GitHub cannot be reached from here, so this serves what gitgrant uses:
//! the repository, refs, the Git Data API (blobs, trees, commits) and
//! contents over a real bare git repository, pull requests, reviews,
//! comments, issues, team members, merges and the GraphQL auto-merge
//! mutation. Bodies start from the documented shapes in
//! `tests/fixtures/github/` with numbers, shas, logins and URLs filled in.
//! Lists are paged (`per_page`, `page`, `Link`) at most `page_size` items a
//! page, so every caller's pagination is exercised. Faults can be queued.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use git2::{Oid, Repository, Signature};
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{fixtures, git};

/// The repository the fake serves.
pub const REPO: &str = "acme/access";

/// A pull request the fake knows.
#[derive(Debug, Clone)]
pub struct PullRec {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub author: String,
    pub head_ref: String,
    /// `owner/name` the head branch lives in (another one for a fork).
    pub head_repo: String,
    pub base_ref: String,
    /// The head when merged; while open, the branch's tip is read live.
    pub merged_head: Option<String>,
    pub merged_at: Option<String>,
    pub merge_commit_sha: Option<String>,
    pub auto_merge: bool,
}

/// An issue the fake holds (numbered from 1001, apart from pull requests).
#[derive(Debug, Clone)]
pub struct IssueRec {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub author: String,
    /// `open` or `closed`.
    pub state: String,
    /// Why it closed: `completed` or `not_planned`.
    pub state_reason: Option<String>,
}

/// A review the fake holds.
#[derive(Debug, Clone)]
pub struct ReviewRec {
    pub id: u64,
    pub user: String,
    pub state: String,
    pub commit_id: String,
}

/// A queued fault: the next `times` requests matching method and path
/// (a substring) get `status` with this fixture body and headers.
pub struct Fault {
    pub method: &'static str,
    pub path: &'static str,
    pub times: usize,
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(&'static str, String)>,
}

/// Everything the fake remembers.
pub struct State {
    pub bare: PathBuf,
    /// Token → login.
    pub tokens: BTreeMap<String, String>,
    /// Tokens that may only read (a fork's pull_request token).
    pub read_only: Vec<String>,
    pub pulls: Vec<PullRec>,
    pub reviews: BTreeMap<u64, Vec<ReviewRec>>,
    /// (issue number, id, author, body).
    pub comments: Vec<(u64, u64, String, String)>,
    pub issues: Vec<IssueRec>,
    /// `org/team` → logins.
    pub teams: BTreeMap<String, Vec<String>>,
    pub page_size: usize,
    pub faults: Vec<Fault>,
    /// Before the next ref update, this commit lands on the branch first
    /// (someone merged meanwhile): paths to delete.
    pub move_before_update: Option<Vec<String>>,
    /// Whether GraphQL answers that a pull request is already clean.
    pub clean_status: bool,
    /// Every request: "METHOD /path?query".
    pub log: Vec<String>,
    next: u64,
    base_url: String,
}

impl State {
    fn next_id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Opens an issue as `author`; returns its number.
    pub fn push_issue(
        &mut self,
        author: &str,
        title: &str,
        body: &str,
        labels: Vec<String>,
    ) -> u64 {
        let number = 1000 + self.issues.len() as u64 + 1;
        self.issues.push(IssueRec {
            number,
            title: title.into(),
            body: body.into(),
            labels,
            author: author.into(),
            state: "open".into(),
            state_reason: None,
        });
        number
    }
}

/// The fake and its state.
pub struct FakeGitHub {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

fn fixture(name: &str) -> Value {
    let path = fixtures().join("github").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `base` with `patch`'s fields written over it, recursively.
fn merge_json(mut base: Value, patch: Value) -> Value {
    if let (Some(b), Value::Object(p)) = (base.as_object_mut(), &patch) {
        for (k, v) in p {
            let cur = b.remove(k).unwrap_or(Value::Null);
            b.insert(
                k.clone(),
                if v.is_object() && cur.is_object() {
                    merge_json(cur, v.clone())
                } else {
                    v.clone()
                },
            );
        }
        return base;
    }
    patch
}

fn user(login: &str) -> Value {
    merge_json(
        fixture("simple-user"),
        json!({ "login": login, "html_url": format!("https://github.com/{login}") }),
    )
}

fn error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.to_string()
    }))
}

impl FakeGitHub {
    /// A fake serving the bare repository `bare`, with tokens `tok-<login>`
    /// for each login.
    pub async fn start(bare: &Path, logins: &[&str]) -> FakeGitHub {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            bare: bare.to_path_buf(),
            tokens: logins
                .iter()
                .map(|l| (format!("tok-{l}"), l.to_string()))
                .collect(),
            read_only: Vec::new(),
            pulls: Vec::new(),
            reviews: BTreeMap::new(),
            comments: Vec::new(),
            issues: Vec::new(),
            teams: BTreeMap::new(),
            page_size: 2,
            faults: Vec::new(),
            move_before_update: None,
            clean_status: false,
            log: Vec::new(),
            next: 100,
            base_url: server.uri(),
        }));
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        FakeGitHub { server, state }
    }

    /// The environment that points gitgrant at the fake as `login`.
    pub fn env(&self, login: &str) -> Vec<(String, String)> {
        vec![
            ("GITHUB_API_URL".into(), self.server.uri()),
            ("GITHUB_TOKEN".into(), format!("tok-{login}")),
            ("GITHUB_REPOSITORY".into(), REPO.into()),
            ("GITGRANT_GITHUB_LOGIN".into(), login.into()),
        ]
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Registers a pull request from `head_ref` (already pushed).
    pub fn add_pull(&self, author: &str, head_ref: &str, head_repo: &str) -> u64 {
        let mut s = self.lock();
        let number = s.pulls.len() as u64 + 1;
        s.pulls.push(PullRec {
            number,
            title: format!("Pull request {number}"),
            body: String::new(),
            author: author.into(),
            head_ref: head_ref.into(),
            head_repo: head_repo.into(),
            base_ref: "main".into(),
            merged_head: None,
            merged_at: None,
            merge_commit_sha: None,
            auto_merge: false,
        });
        number
    }

    /// A review by `login` at the pull request's current head.
    pub fn review(&self, number: u64, login: &str, state: &str) {
        let head = self.head_sha(number);
        self.review_at(number, login, state, &head);
    }

    /// A review by `login` at commit `commit`.
    pub fn review_at(&self, number: u64, login: &str, state: &str, commit: &str) {
        let mut s = self.lock();
        let id = s.next_id();
        s.reviews.entry(number).or_default().push(ReviewRec {
            id,
            user: login.into(),
            state: state.into(),
            commit_id: commit.into(),
        });
    }

    /// The pull request's head commit.
    pub fn head_sha(&self, number: u64) -> String {
        let s = self.lock();
        head_of(&s, &s.pulls[number as usize - 1])
    }

    /// Records that `number` merged as commit `sha` at `at`.
    pub fn mark_merged(&self, number: u64, sha: &str, at: &str) {
        let head = self.head_sha(number);
        let mut s = self.lock();
        let p = &mut s.pulls[number as usize - 1];
        p.merged_head = Some(head);
        p.merged_at = Some(at.into());
        p.merge_commit_sha = Some(sha.into());
    }

    /// Bodies of the comments on `number`.
    pub fn comments(&self, number: u64) -> Vec<String> {
        self.lock()
            .comments
            .iter()
            .filter(|c| c.0 == number)
            .map(|c| c.3.clone())
            .collect()
    }

    /// Requests seen whose "METHOD /path" starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

fn head_of(s: &State, p: &PullRec) -> String {
    if let Some(h) = &p.merged_head {
        return h.clone();
    }
    let repo = Repository::open_bare(&s.bare).unwrap();
    repo.refname_to_id(&format!("refs/heads/{}", p.head_ref))
        .map(|o| o.to_string())
        .unwrap_or_default()
}

fn pull_json(s: &State, p: &PullRec) -> Value {
    let repo = Repository::open_bare(&s.bare).unwrap();
    let base_sha = repo
        .refname_to_id(&format!("refs/heads/{}", p.base_ref))
        .map(|o| o.to_string())
        .unwrap_or_default();
    let url = &s.base_url;
    let n = p.number;
    let repo_json = |full: &str| json!({ "full_name": full, "name": full.split('/').nth(1) });
    merge_json(
        fixture("pull-request"),
        json!({
            "url": format!("{url}/repos/{REPO}/pulls/{n}"),
            "id": n,
            "node_id": format!("PR_node{n}"),
            "html_url": format!("https://github.com/{REPO}/pull/{n}"),
            "number": n,
            "state": if p.merged_at.is_some() { "closed" } else { "open" },
            "title": p.title,
            "body": p.body,
            "user": user(&p.author),
            "merged_at": p.merged_at,
            "merged": p.merged_at.is_some(),
            "merge_commit_sha": p.merge_commit_sha,
            "auto_merge": if p.auto_merge { json!({ "merge_method": "merge" }) } else { Value::Null },
            "head": {
                "label": format!("{}:{}", p.head_repo.split('/').next().unwrap(), p.head_ref),
                "ref": p.head_ref,
                "sha": head_of(s, p),
                "user": user(p.head_repo.split('/').next().unwrap()),
                "repo": repo_json(&p.head_repo),
            },
            "base": {
                "label": format!("acme:{}", p.base_ref),
                "ref": p.base_ref,
                "sha": base_sha,
                "user": user("acme"),
                "repo": repo_json(REPO),
            },
        }),
    )
}

/// The event payload Actions writes for a pull_request event on `number`.
pub fn pull_event(fake: &FakeGitHub, number: u64, action: &str) -> Value {
    let s = fake.lock();
    json!({
        "action": action,
        "number": number,
        "pull_request": pull_json(&s, &s.pulls[number as usize - 1]),
        "repository": merge_json(fixture("repository"), json!({ "full_name": REPO, "name": "access" })),
        "sender": user(&s.pulls[number as usize - 1].author),
    })
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        // GitHub Enterprise Server serves REST under /api/v3 and GraphQL at
        // /api/graphql; the fake answers both ways.
        let path = req.url.path();
        let path = match path.strip_prefix("/api/v3") {
            Some(rest) => rest.to_string(),
            None if path == "/api/graphql" => "/graphql".to_string(),
            None => path.to_string(),
        };
        let method = req.method.as_str().to_string();
        let query: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        s.log.push(format!(
            "{method} {}{}",
            req.url.path(),
            req.url.query().map(|q| format!("?{q}")).unwrap_or_default()
        ));
        if let Some(i) = s
            .faults
            .iter()
            .position(|f| f.method == method && path.contains(f.path) && f.times > 0)
        {
            let f = &mut s.faults[i];
            f.times -= 1;
            let mut t = ResponseTemplate::new(f.status).set_body_json(f.body.clone());
            for (k, v) in &f.headers {
                t = t.insert_header(*k, v.as_str());
            }
            return t;
        }
        let token = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().nth(1))
            .unwrap_or_default()
            .to_string();
        let Some(login) = s.tokens.get(&token).cloned() else {
            return error(401, "Bad credentials");
        };
        if method != "GET" && s.read_only.contains(&token) {
            return error(403, "Resource not accessible by integration");
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        route(&mut s, &method, &path, &query, &body, &login)
    }
}

fn paged(
    s: &State,
    path: &str,
    query: &BTreeMap<String, String>,
    items: Vec<Value>,
) -> ResponseTemplate {
    let per_page: usize = query
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .min(s.page_size);
    let page: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let pages = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut t = ResponseTemplate::new(200).set_body_json(Value::Array(chunk));
    let mut rest: Vec<String> = query
        .iter()
        .filter(|(k, _)| *k != "page" && *k != "per_page")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    rest.push(format!("per_page={per_page}"));
    let link = |p: usize, rel: &str| {
        format!(
            "<{}{path}?{}&page={p}>; rel=\"{rel}\"",
            s.base_url,
            rest.join("&")
        )
    };
    let mut links = Vec::new();
    if page < pages {
        links.push(link(page + 1, "next"));
        links.push(link(pages, "last"));
    }
    if page > 1 {
        links.push(link(1, "first"));
        links.push(link(page - 1, "prev"));
    }
    if !links.is_empty() {
        t = t.insert_header("link", links.join(", ").as_str());
    }
    t
}

fn route(
    s: &mut State,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &Value,
    login: &str,
) -> ResponseTemplate {
    if method == "POST" && path == "/graphql" {
        return graphql(s, body);
    }
    if let Some(rest) = path.strip_prefix("/orgs/") {
        let parts: Vec<&str> = rest.split('/').collect();
        if let [org, "teams", team, "members"] = parts.as_slice() {
            let Some(members) = s.teams.get(&format!("{org}/{team}")) else {
                return error(404, "Not Found");
            };
            let items = members.iter().map(|m| user(m)).collect();
            return paged(s, path, query, items);
        }
        return error(404, "Not Found");
    }
    let Some(rest) = path.strip_prefix(&format!("/repos/{REPO}")) else {
        return error(404, "Not Found");
    };
    let repo = Repository::open_bare(&s.bare).unwrap();
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", [""]) => ResponseTemplate::new(200).set_body_json(merge_json(
            fixture("repository"),
            json!({ "full_name": REPO, "name": "access", "default_branch": "main" }),
        )),
        ("GET", ["git", "ref", name @ ..]) => {
            let name = format!("refs/{}", name.join("/"));
            match repo.refname_to_id(&name) {
                Ok(oid) => ResponseTemplate::new(200).set_body_json(ref_json(&name, oid)),
                Err(_) => error(404, "Not Found"),
            }
        }
        ("POST", ["git", "refs"]) => {
            let name = body["ref"].as_str().unwrap_or_default();
            let Ok(oid) = Oid::from_str(body["sha"].as_str().unwrap_or_default()) else {
                return error(422, "Invalid sha");
            };
            if repo.find_reference(name).is_ok() {
                return error(422, "Reference already exists");
            }
            repo.reference(name, oid, false, "api").unwrap();
            ResponseTemplate::new(201).set_body_json(ref_json(name, oid))
        }
        ("PATCH", ["git", "refs", name @ ..]) => {
            let name = format!("refs/{}", name.join("/"));
            if let Some(paths) = s.move_before_update.take() {
                let tip = repo.refname_to_id(&name).unwrap();
                let c = commit_change(&repo, tip, &paths, "Someone else's merge");
                repo.reference(&name, c, true, "moved").unwrap();
            }
            let Ok(new) = Oid::from_str(body["sha"].as_str().unwrap_or_default()) else {
                return error(422, "Invalid sha");
            };
            let Ok(old) = repo.refname_to_id(&name) else {
                return error(422, "Reference does not exist");
            };
            let force = body["force"].as_bool().unwrap_or(false);
            if !force && new != old && !repo.graph_descendant_of(new, old).unwrap_or(false) {
                return ResponseTemplate::new(422).set_body_json(fixture("error-not-fast-forward"));
            }
            repo.reference(&name, new, true, "api").unwrap();
            ResponseTemplate::new(200).set_body_json(ref_json(&name, new))
        }
        ("GET", ["git", "commits", sha]) => {
            let Ok(c) = Oid::from_str(sha).and_then(|o| repo.find_commit(o)) else {
                return error(404, "Not Found");
            };
            ResponseTemplate::new(200).set_body_json(commit_json(s, &c))
        }
        ("POST", ["git", "blobs"]) => {
            let content = body["content"].as_str().unwrap_or_default();
            let oid = repo.blob(content.as_bytes()).unwrap();
            ResponseTemplate::new(201).set_body_json(merge_json(
                fixture("git-blob-created"),
                json!({ "sha": oid.to_string(), "url": format!("{}/repos/{REPO}/git/blobs/{oid}", s.base_url) }),
            ))
        }
        ("POST", ["git", "trees"]) => {
            // Without base_tree, the tree holds the entries alone.
            let empty = repo.treebuilder(None).unwrap().write().unwrap();
            let base = match body["base_tree"].as_str() {
                Some(t) => Oid::from_str(t).ok().and_then(|o| repo.find_tree(o).ok()),
                None => repo.find_tree(empty).ok(),
            };
            let Some(base) = base else {
                return error(422, "base_tree is not a tree");
            };
            let mut b = git2::build::TreeUpdateBuilder::new();
            for e in body["tree"].as_array().cloned().unwrap_or_default() {
                let p = e["path"].as_str().unwrap_or_default().to_string();
                match e["sha"].as_str() {
                    Some(sha) => {
                        b.upsert(p, Oid::from_str(sha).unwrap(), git2::FileMode::Blob);
                    }
                    None => {
                        if base.get_path(Path::new(&p)).is_err() {
                            return error(
                                422,
                                "GitHub cannot delete a path the tree does not have",
                            );
                        }
                        b.remove(p);
                    }
                }
            }
            let oid = b.create_updated(&repo, &base).unwrap();
            ResponseTemplate::new(201).set_body_json(merge_json(
                fixture("git-tree"),
                json!({ "sha": oid.to_string() }),
            ))
        }
        ("POST", ["git", "commits"]) => {
            let tree = repo
                .find_tree(Oid::from_str(body["tree"].as_str().unwrap_or_default()).unwrap())
                .unwrap();
            let parents: Vec<git2::Commit> = body["parents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    repo.find_commit(Oid::from_str(p.as_str().unwrap()).unwrap())
                        .unwrap()
                })
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            // GitHub takes author and committer (name, email, ISO 8601
            // date) from the body, else the token's user now; a
            // `signature` goes into the commit's gpgsig header as given.
            let person = |p: &Value| {
                let date = p["date"].as_str()?;
                let at = chrono::DateTime::parse_from_rfc3339(date).ok()?;
                Signature::new(
                    p["name"].as_str()?,
                    p["email"].as_str()?,
                    &git2::Time::new(at.timestamp(), 0),
                )
                .ok()
            };
            let own = Signature::now(login, &format!("{login}@users.noreply.github.com")).unwrap();
            let author = person(&body["author"]).unwrap_or_else(|| own.clone());
            let committer = person(&body["committer"]).unwrap_or_else(|| author.clone());
            let message = body["message"].as_str().unwrap_or_default();
            let oid = match body["signature"].as_str() {
                Some(armour) => {
                    let buffer = repo
                        .commit_create_buffer(&author, &committer, message, &tree, &refs)
                        .unwrap();
                    repo.commit_signed(std::str::from_utf8(&buffer).unwrap(), armour, None)
                        .unwrap()
                }
                None => repo
                    .commit(None, &author, &committer, message, &tree, &refs)
                    .unwrap(),
            };
            let c = repo.find_commit(oid).unwrap();
            ResponseTemplate::new(201).set_body_json(commit_json(s, &c))
        }
        ("GET", ["contents", file @ ..]) => {
            let r = query
                .get("ref")
                .cloned()
                .unwrap_or_else(|| "refs/heads/main".into());
            let commit = repo
                .revparse_single(&r)
                .ok()
                .and_then(|o| o.peel_to_commit().ok());
            let Some(commit) = commit else {
                return error(404, "No commit found for the ref");
            };
            let p = file.join("/");
            match commit.tree().unwrap().get_path(Path::new(&p)) {
                Ok(e) => {
                    use base64::Engine as _;
                    let blob = repo.find_blob(e.id()).unwrap();
                    // GitHub wraps the base64 at 60 characters.
                    let b64 = base64::engine::general_purpose::STANDARD.encode(blob.content());
                    let wrapped: Vec<String> = b64
                        .as_bytes()
                        .chunks(60)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    ResponseTemplate::new(200).set_body_json(merge_json(
                        fixture("content-file"),
                        json!({
                            "path": p, "name": file.last(), "sha": e.id().to_string(),
                            "size": blob.content().len(), "content": wrapped.join("\n") + "\n",
                        }),
                    ))
                }
                Err(_) => error(404, "Not Found"),
            }
        }
        ("GET", ["pulls"]) => {
            let head = query.get("head").cloned();
            let open = query.get("state").map(String::as_str) == Some("open");
            let pulls = s.pulls.clone();
            let items = pulls
                .iter()
                .filter(|p| !open || p.merged_at.is_none())
                .filter(|p| {
                    head.as_ref().is_none_or(|h| {
                        *h == format!("{}:{}", p.head_repo.split('/').next().unwrap(), p.head_ref)
                    })
                })
                .map(|p| pull_json(s, p))
                .collect();
            paged(s, path, query, items)
        }
        ("POST", ["pulls"]) => {
            let head = body["head"].as_str().unwrap_or_default().to_string();
            if repo.refname_to_id(&format!("refs/heads/{head}")).is_err() {
                return error(422, "Validation Failed: head does not exist");
            }
            if s.pulls
                .iter()
                .any(|p| p.head_ref == head && p.merged_at.is_none())
            {
                return error(422, "Validation Failed: A pull request already exists");
            }
            let number = s.pulls.len() as u64 + 1;
            s.pulls.push(PullRec {
                number,
                title: body["title"].as_str().unwrap_or_default().into(),
                body: body["body"].as_str().unwrap_or_default().into(),
                author: login.into(),
                head_ref: head,
                head_repo: REPO.into(),
                base_ref: body["base"].as_str().unwrap_or("main").into(),
                merged_head: None,
                merged_at: None,
                merge_commit_sha: None,
                auto_merge: false,
            });
            let p = s.pulls.last().unwrap().clone();
            ResponseTemplate::new(201).set_body_json(pull_json(s, &p))
        }
        ("GET", ["pulls", n]) => match pull_by(s, n) {
            Some(p) => ResponseTemplate::new(200).set_body_json(pull_json(s, &p)),
            None => error(404, "Not Found"),
        },
        ("GET", ["pulls", n, "reviews"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let items = s
                .reviews
                .get(&n)
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|r| {
                    merge_json(
                        fixture("review"),
                        json!({
                            "id": r.id,
                            "user": user(&r.user),
                            "state": r.state,
                            "commit_id": r.commit_id,
                            "pull_request_url": format!("{}/repos/{REPO}/pulls/{n}", s.base_url),
                        }),
                    )
                })
                .collect();
            paged(s, path, query, items)
        }
        ("PUT", ["pulls", n, "merge"]) => {
            let Some(p) = pull_by(s, n) else {
                return error(404, "Not Found");
            };
            let head = Oid::from_str(&head_of(s, &p)).unwrap();
            let name = format!("refs/heads/{}", p.base_ref);
            let base = repo.refname_to_id(&name).unwrap();
            let merged = merge_commit(
                &repo,
                base,
                head,
                &format!(
                    "Merge pull request #{} from {REPO}/{}",
                    p.number, p.head_ref
                ),
            );
            repo.reference(&name, merged, true, "merge").unwrap();
            let rec = &mut s.pulls[p.number as usize - 1];
            rec.merged_head = Some(head.to_string());
            rec.merged_at = Some(chrono::Utc::now().to_rfc3339());
            rec.merge_commit_sha = Some(merged.to_string());
            ResponseTemplate::new(200).set_body_json(merge_json(
                fixture("merge-result"),
                json!({ "sha": merged.to_string() }),
            ))
        }
        ("GET", ["commits", sha, "pulls"]) => {
            let pulls = s.pulls.clone();
            let items = pulls
                .iter()
                .filter(|p| p.merge_commit_sha.as_deref() == Some(*sha) || head_of(s, p) == *sha)
                .map(|p| pull_json(s, p))
                .collect();
            paged(s, path, query, items)
        }
        ("GET", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let items = s
                .comments
                .iter()
                .filter(|c| c.0 == n)
                .map(|c| comment_json(s, c))
                .collect();
            paged(s, path, query, items)
        }
        ("POST", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let id = s.next_id();
            let c = (
                n,
                id,
                login.to_string(),
                body["body"].as_str().unwrap_or_default().to_string(),
            );
            s.comments.push(c.clone());
            ResponseTemplate::new(201).set_body_json(comment_json(s, &c))
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let text = body["body"].as_str().unwrap_or_default().to_string();
            let Some(c) = s.comments.iter_mut().find(|c| c.1 == id) else {
                return error(404, "Not Found");
            };
            c.3 = text;
            let c = c.clone();
            ResponseTemplate::new(200).set_body_json(comment_json(s, &c))
        }
        ("POST", ["issues"]) => {
            let labels: Vec<String> = body["labels"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let number = s.push_issue(
                login,
                body["title"].as_str().unwrap_or_default(),
                body["body"].as_str().unwrap_or_default(),
                labels,
            );
            let i = s
                .issues
                .iter()
                .find(|i| i.number == number)
                .unwrap()
                .clone();
            ResponseTemplate::new(201).set_body_json(issue_json(s, &i))
        }
        ("GET", ["issues"]) => {
            let label = query.get("labels").cloned();
            let items = s
                .issues
                .iter()
                .filter(|i| label.as_ref().is_none_or(|l| i.labels.contains(l)))
                .map(|i| issue_json(s, i))
                .collect();
            paged(s, path, query, items)
        }
        ("GET", ["issues", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            match s.issues.iter().find(|i| i.number == n).cloned() {
                Some(i) => ResponseTemplate::new(200).set_body_json(issue_json(s, &i)),
                None => error(404, "Not Found"),
            }
        }
        ("PATCH", ["issues", n]) => {
            let n: u64 = n.parse().unwrap_or(0);
            let Some(i) = s.issues.iter_mut().find(|i| i.number == n) else {
                return error(404, "Not Found");
            };
            if let Some(state) = body["state"].as_str() {
                if state != "open" && state != "closed" {
                    return error(422, "Validation Failed: state");
                }
                i.state = state.into();
                i.state_reason = body["state_reason"].as_str().map(String::from);
            }
            if let Some(t) = body["title"].as_str() {
                i.title = t.into();
            }
            if let Some(b) = body["body"].as_str() {
                i.body = b.into();
            }
            let i = i.clone();
            ResponseTemplate::new(200).set_body_json(issue_json(s, &i))
        }
        ("PATCH", ["pulls", n]) => {
            let n: usize = n.parse().unwrap_or(0);
            let Some(p) = n.checked_sub(1).and_then(|k| s.pulls.get_mut(k)) else {
                return error(404, "Not Found");
            };
            if let Some(t) = body["title"].as_str() {
                p.title = t.into();
            }
            if let Some(b) = body["body"].as_str() {
                p.body = b.into();
            }
            let p = p.clone();
            ResponseTemplate::new(200).set_body_json(pull_json(s, &p))
        }
        _ => error(404, "Not Found"),
    }
}

fn graphql(s: &mut State, body: &Value) -> ResponseTemplate {
    let query = body["query"].as_str().unwrap_or_default();
    if !query.contains("enablePullRequestAutoMerge") {
        return ResponseTemplate::new(200)
            .set_body_json(json!({ "errors": [{ "message": "unsupported by this fake" }] }));
    }
    let id = body["variables"]["id"].as_str().unwrap_or_default();
    let Some(n) = id
        .strip_prefix("PR_node")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        return ResponseTemplate::new(200).set_body_json(
            json!({ "errors": [{ "message": format!("Could not resolve to a node with the global id of '{id}'") }] }),
        );
    };
    if s.clean_status {
        return ResponseTemplate::new(200).set_body_json(fixture("graphql-clean-status"));
    }
    s.pulls[n - 1].auto_merge = true;
    ResponseTemplate::new(200).set_body_json(merge_json(
        fixture("graphql-auto-merge"),
        json!({ "data": { "enablePullRequestAutoMerge": { "pullRequest": { "number": n } } } }),
    ))
}

fn pull_by(s: &State, n: &str) -> Option<PullRec> {
    let n: usize = n.parse().ok()?;
    s.pulls.get(n.checked_sub(1)?).cloned()
}

fn ref_json(name: &str, oid: Oid) -> Value {
    merge_json(
        fixture("git-ref"),
        json!({ "ref": name, "object": { "type": "commit", "sha": oid.to_string() } }),
    )
}

fn commit_json(s: &State, c: &git2::Commit) -> Value {
    merge_json(
        fixture("git-commit"),
        json!({
            "sha": c.id().to_string(),
            "url": format!("{}/repos/{REPO}/git/commits/{}", s.base_url, c.id()),
            "message": c.message().unwrap_or_default(),
            "tree": { "sha": c.tree_id().to_string() },
            "parents": c.parent_ids().map(|p| json!({ "sha": p.to_string() })).collect::<Vec<_>>(),
        }),
    )
}

fn comment_json(s: &State, c: &(u64, u64, String, String)) -> Value {
    merge_json(
        fixture("issue-comment"),
        json!({
            "id": c.1,
            "url": format!("{}/repos/{REPO}/issues/comments/{}", s.base_url, c.1),
            "body": c.3,
            "user": user(&c.2),
        }),
    )
}

fn issue_json(s: &State, i: &IssueRec) -> Value {
    merge_json(
        fixture("issue"),
        json!({
            "number": i.number,
            "url": format!("{}/repos/{REPO}/issues/{}", s.base_url, i.number),
            "html_url": format!("https://github.com/{REPO}/issues/{}", i.number),
            "title": i.title,
            "body": i.body,
            "state": i.state,
            "state_reason": i.state_reason,
            "labels": i.labels.iter().map(|l| json!({ "name": l })).collect::<Vec<_>>(),
            "user": user(&i.author),
        }),
    )
}

/// A commit on `parent` that deletes `paths`.
fn commit_change(repo: &Repository, parent: Oid, paths: &[String], message: &str) -> Oid {
    let parent = repo.find_commit(parent).unwrap();
    let mut b = git2::build::TreeUpdateBuilder::new();
    for p in paths {
        b.remove(p);
    }
    let tree = b.create_updated(repo, &parent.tree().unwrap()).unwrap();
    let tree = repo.find_tree(tree).unwrap();
    let sig = Signature::now("someone", "someone@example.com").unwrap();
    repo.commit(None, &sig, &sig, message, &tree, &[&parent])
        .unwrap()
}

/// A merge commit of `head` into `base`, as the merge button makes it.
fn merge_commit(repo: &Repository, base: Oid, head: Oid, message: &str) -> Oid {
    let (b, h) = (
        repo.find_commit(base).unwrap(),
        repo.find_commit(head).unwrap(),
    );
    let mut index = repo.merge_commits(&b, &h, None).unwrap();
    assert!(
        !index.has_conflicts(),
        "the fake merges without conflicts only"
    );
    let tree = repo.find_tree(index.write_tree_to(repo).unwrap()).unwrap();
    let sig = Signature::now("GitHub", "noreply@github.com").unwrap();
    repo.commit(None, &sig, &sig, message, &tree, &[&b, &h])
        .unwrap()
}

/// Fetches every branch of the fake's repository into a working clone.
pub fn fetch(work: &Path) {
    git(
        work,
        &[
            "fetch",
            "-q",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
        None,
    );
}

/// Brings local main to the fake's main (Actions' checkout on push).
pub fn sync_main(work: &Path) {
    fetch(work);
    git(work, &["checkout", "-q", "main"], None);
    git(work, &["reset", "-q", "--hard", "origin/main"], None);
}
