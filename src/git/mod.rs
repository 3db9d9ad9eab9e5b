//! The git adapter: gitgrant's own view of an access repository's git
//! database. git2 stays inside this module; the rest of gitgrant sees
//! [`Snapshot`]s, landing times, [`HistoryCommit`]s and commit ids as text.
//!
//! Everything is read from the object database at a commit, never from the
//! working tree, so an uncommitted or unmerged file can never be applied.

mod history;
pub mod notes;
mod push;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use chrono::{DateTime, Utc};
use git2::{ObjectType, Oid, Repository, Tree};

use crate::policy::POLICY_PATH;
use crate::removal::Removal;
use crate::snapshot::{Content, MAX_FILE_BYTES, Snapshot, SourceFile, is_placeholder};
use crate::validate::Landings;

pub use push::PushOutcome;

/// A failure of the git layer.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A git operation failed.
    #[error("{context}")]
    Git {
        /// What gitgrant was doing.
        context: String,
        /// What libgit2 said.
        #[source]
        source: git2::Error,
    },
    /// A revision or branch that does not exist.
    #[error("no commit `{0}` in the access repository")]
    UnknownRevision(String),
    /// A thread reading the history stopped.
    #[error("reading the history: {0}")]
    Walk(String),
    /// Signing a commit or note failed.
    #[error(transparent)]
    Signing(#[from] crate::signing::SigningError),
    /// The remote kept moving while gitgrant pushed.
    #[error("the remote branch kept moving; gave up after {attempts} attempts")]
    PushRetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
    },
}

trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, GitError>;
}

impl<T> Context<T> for Result<T, git2::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, GitError> {
        self.map_err(|source| GitError::Git {
            context: what(),
            source,
        })
    }
}

/// A commit id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(Oid);

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl CommitId {
    /// The 7-character short form people quote.
    pub fn short(&self) -> String {
        self.0.to_string()[..7].to_string()
    }
}

/// A grant file removed from the branch (see [`Repo::removed_since`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RemovedGrant {
    /// The file as it was before its removal.
    pub file: SourceFile,
    /// When it had landed, if known.
    pub landed: Option<DateTime<Utc>>,
    /// The removing commit's committer time.
    pub removed_at: DateTime<Utc>,
    /// The removing commit.
    pub commit: CommitId,
    /// Its message (trailers are anyone's words until its signature says
    /// whose they are: [`Repo::signed_by`]).
    pub message: String,
}

/// Where and when a grant file landed on the branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landing {
    /// The commit that brought it.
    pub commit: CommitId,
    /// That commit's committer time.
    pub time: DateTime<Utc>,
}

impl Landing {
    fn of(c: &git2::Commit) -> Landing {
        Landing {
            commit: CommitId(c.id()),
            time: git_time(c.committer().when()).0,
        }
    }
}

/// The landing times alone, as validation takes them.
pub fn landing_times(landings: &HashMap<String, Landing>) -> Landings {
    landings.iter().map(|(p, l)| (p.clone(), l.time)).collect()
}

/// An access repository's git database.
pub struct Repo {
    repo: Repository,
}

/// The time of a git signature, in UTC, and its recorded offset in minutes.
///
/// git takes committer dates far beyond what chrono can hold; such a time
/// is clamped to chrono's first or last instant, which lies outside the
/// years validation accepts (`landing-time-out-of-range`), so that it is
/// reported rather than read as some plausible date.
fn git_time(t: git2::Time) -> (DateTime<Utc>, i32) {
    let utc = DateTime::from_timestamp(t.seconds(), 0).unwrap_or(if t.seconds() < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    });
    (utc, t.offset_minutes())
}

impl Repo {
    /// Opens the repository at `path` (a working tree or a bare repository).
    pub fn open(path: &Path) -> Result<Repo, GitError> {
        // libgit2 re-hashes every object it reads by default; git itself does
        // not, and on long histories that doubles the cost of a walk.
        git2::opts::strict_hash_verification(false);
        git2::opts::enable_caching(false);
        let repo = Repository::open(path)
            .context(|| format!("opening the git repository at {}", path.display()))?;
        Ok(Repo { repo })
    }

    /// A handle on the object database at `objects` alone, for reader
    /// `worker` of a walk.
    ///
    /// libgit2 shares one in-memory pack (its index, its delta-base cache
    /// and the lock around them) among every handle that names the pack by
    /// the same path, so two threads reading one history would take turns
    /// on that lock; each reader names the directory by a path of its own
    /// (`objects`, `objects/.`, `objects/./.`, …) and gets a pack of its
    /// own; the first shares the pack of the handle that walked the chain,
    /// idle by then.
    fn objects_apart(objects: &Path, worker: usize) -> Result<Repo, GitError> {
        let dir = format!("{}{}", objects.display(), "/.".repeat(worker));
        let odb = git2::Odb::new()
            .and_then(|odb| odb.add_disk_alternate(&dir).map(|()| odb))
            .context(|| format!("opening the objects at {}", objects.display()))?;
        let repo = Repository::from_odb(odb)
            .context(|| format!("opening the objects at {}", objects.display()))?;
        Ok(Repo { repo })
    }

    /// Resolves a revision (`main`, `origin/main`, a commit id) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, GitError> {
        let obj = self
            .repo
            .revparse_single(rev)
            .map_err(|_| GitError::UnknownRevision(rev.to_string()))?;
        let commit = obj
            .peel_to_commit()
            .map_err(|_| GitError::UnknownRevision(rev.to_string()))?;
        Ok(CommitId(commit.id()))
    }

    /// The tip of the local branch `branch`.
    pub fn branch_tip(&self, branch: &str) -> Result<CommitId, GitError> {
        self.resolve(&format!("refs/heads/{branch}"))
    }

    /// When a commit was committed.
    pub fn commit_time(&self, id: CommitId) -> Result<DateTime<Utc>, GitError> {
        let c = self
            .repo
            .find_commit(id.0)
            .context(|| format!("reading commit {id}"))?;
        Ok(git_time(c.committer().when()).0)
    }

    /// The files gitgrant reads (`gitgrant.yaml` and everything under
    /// `grants/`) as they are at `commit`.
    pub fn snapshot(&self, commit: CommitId) -> Result<Snapshot, GitError> {
        let tree = self.tree_of(commit.0)?;
        let policy = self.policy_in(&tree)?;
        let mut grants = Vec::new();
        if let Some(entry) = tree.get_name("grants") {
            if entry.kind() == Some(ObjectType::Tree) {
                self.collect("grants", entry.id(), &mut grants)?;
            } else {
                grants.push(self.source_file("grants", entry.id(), entry.filemode())?);
            }
        }
        grants.retain(|f| !is_placeholder(&f.path));
        grants.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Snapshot { policy, grants })
    }

    /// `gitgrant.yaml` as it is at `commit`, without reading the grants.
    pub fn policy_at(&self, commit: CommitId) -> Result<Option<SourceFile>, GitError> {
        self.policy_in(&self.tree_of(commit.0)?)
    }

    fn policy_in(&self, tree: &Tree) -> Result<Option<SourceFile>, GitError> {
        match tree.get_name(POLICY_PATH) {
            Some(entry) => Ok(Some(self.source_file(
                POLICY_PATH,
                entry.id(),
                entry.filemode(),
            )?)),
            None => Ok(None),
        }
    }

    /// The blob id of `path` at `commit`, if present.
    pub fn blob_at(&self, commit: CommitId, path: &str) -> Result<Option<String>, GitError> {
        let tree = self.tree_of(commit.0)?;
        Ok(tree
            .get_path(Path::new(path))
            .ok()
            .map(|e| e.id().to_string()))
    }

    /// The text of `path` at `commit`, if it is there and is UTF-8.
    pub fn text_at(&self, commit: CommitId, path: &str) -> Result<Option<String>, GitError> {
        let tree = self.tree_of(commit.0)?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        let Ok(blob) = self.repo.find_blob(entry.id()) else {
            return Ok(None);
        };
        Ok(std::str::from_utf8(blob.content()).ok().map(str::to_string))
    }

    /// The best common ancestor of two commits.
    pub fn merge_base(&self, a: CommitId, b: CommitId) -> Result<CommitId, GitError> {
        self.repo
            .merge_base(a.0, b.0)
            .map(CommitId)
            .context(|| format!("finding the merge base of {a} and {b}"))
    }

    /// The paths that differ between two commits' trees, and whether each
    /// exists in `to` (deleted paths are `false`).
    pub fn changed_paths(
        &self,
        from: CommitId,
        to: CommitId,
    ) -> Result<Vec<(String, bool)>, GitError> {
        let (a, b) = (self.tree_of(from.0)?, self.tree_of(to.0)?);
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&a), Some(&b), None)
            .context(|| format!("comparing {from} with {to}"))?;
        let mut out = Vec::new();
        for d in diff.deltas() {
            let exists = d.status() != git2::Delta::Deleted;
            let file = if exists { d.new_file() } else { d.old_file() };
            if let Some(p) = file.path().and_then(Path::to_str) {
                out.push((p.to_string(), exists));
            }
        }
        Ok(out)
    }

    /// The `grants/` folder's tree of a commit, if it has one.
    fn grants_tree(&self, commit: &git2::Commit) -> Result<Option<Tree<'_>>, GitError> {
        let tree = commit
            .tree()
            .context(|| format!("reading the tree of {}", commit.id()))?;
        match tree.get_name("grants") {
            Some(e) if e.kind() == Some(ObjectType::Tree) => self
                .repo
                .find_tree(e.id())
                .map(Some)
                .context(|| format!("reading grants/ of {}", commit.id())),
            _ => Ok(None),
        }
    }

    fn tree_of(&self, commit: Oid) -> Result<Tree<'_>, GitError> {
        self.repo
            .find_commit(commit)
            .and_then(|c| c.tree())
            .context(|| format!("reading the tree of commit {commit}"))
    }

    fn collect(&self, prefix: &str, tree: Oid, out: &mut Vec<SourceFile>) -> Result<(), GitError> {
        let tree = self
            .repo
            .find_tree(tree)
            .context(|| format!("reading {prefix}/"))?;
        for entry in tree.iter() {
            let name = String::from_utf8_lossy(entry.name_bytes());
            let path = format!("{prefix}/{name}");
            match entry.kind() {
                Some(ObjectType::Tree) => self.collect(&path, entry.id(), out)?,
                Some(ObjectType::Blob) => {
                    out.push(self.source_file(&path, entry.id(), entry.filemode())?)
                }
                // Submodules (commits) are not grant files; validation says so.
                _ => out.push(SourceFile {
                    path,
                    content: Content::Symlink,
                }),
            }
        }
        Ok(())
    }

    /// A file's content from its blob: symlinks by mode, large blobs unread.
    /// A file's content: a symlink is not followed, a file over
    /// [`MAX_FILE_BYTES`] is not returned. With `size_first`, the size is
    /// asked before the blob is inflated, so a huge blob (a pull request's,
    /// say) is never held in memory. Without, the blob is inflated at once
    /// and judged by its size after: asking first resolves a deltified
    /// blob's chain a second time, which cost more than the read itself over
    /// a long history of small grant files.
    fn content(
        &self,
        path: &str,
        blob: Oid,
        mode: i32,
        size_first: bool,
    ) -> Result<Content, GitError> {
        if mode == 0o120000 {
            return Ok(Content::Symlink);
        }
        if size_first {
            let odb = self
                .repo
                .odb()
                .context(|| "opening the object database".into())?;
            let (size, _) = odb
                .read_header(blob)
                .context(|| format!("reading {path}"))?;
            if size as u64 > MAX_FILE_BYTES {
                return Ok(Content::TooLarge(size as u64));
            }
        }
        let blob = self
            .repo
            .find_blob(blob)
            .context(|| format!("reading {path}"))?;
        let size = blob.size() as u64;
        if size > MAX_FILE_BYTES {
            return Ok(Content::TooLarge(size));
        }
        Ok(Content::Bytes(blob.content().to_vec()))
    }

    fn source_file(&self, path: &str, blob: Oid, mode: i32) -> Result<SourceFile, GitError> {
        Ok(SourceFile {
            path: path.to_string(),
            content: self.content(path, blob, mode, true)?,
        })
    }

    /// When each of `paths` (all present at `tip`) landed: the committer time
    /// of the oldest commit of the unbroken run, back along the first-parent
    /// chain from `tip`, whose tree contains the path. The walk stops as soon
    /// as every path is placed, and skips commits whose `grants/` tree did not
    /// change.
    pub fn landings(
        &self,
        tip: CommitId,
        paths: &[String],
    ) -> Result<HashMap<String, Landing>, GitError> {
        let mut out = HashMap::new();
        if paths.is_empty() {
            return Ok(out);
        }
        let mut open: Vec<&str> = paths.iter().map(String::as_str).collect();
        let mut commit = self
            .repo
            .find_commit(tip.0)
            .context(|| format!("reading {tip}"))?;
        let mut grants = self.grants_tree(&commit)?;
        loop {
            let parent = match commit.parent(0) {
                Ok(p) => p,
                // The root commit, or a parent missing from a shallow or
                // rewritten history: the paths landed here, as far as can be told.
                Err(_) => break,
            };
            let parent_grants = self.grants_tree(&parent)?;
            if parent_grants.as_ref().map(Tree::id) != grants.as_ref().map(Tree::id) {
                let here = Landing::of(&commit);
                // Each role folder that changed is read once per commit.
                let mut roles: HashMap<&str, Option<Tree>> = HashMap::new();
                let mut kept = Vec::with_capacity(open.len());
                for path in open {
                    let present = match path.split('/').collect::<Vec<_>>()[..] {
                        ["grants", role, file] => {
                            let id = |t: &Option<Tree>| {
                                t.as_ref().and_then(|t| t.get_name(role)).map(|e| e.id())
                            };
                            if id(&grants) == id(&parent_grants) {
                                true
                            } else {
                                roles
                                    .entry(role)
                                    .or_insert_with(|| {
                                        id(&parent_grants)
                                            .and_then(|oid| self.repo.find_tree(oid).ok())
                                    })
                                    .as_ref()
                                    .is_some_and(|t| t.get_name(file).is_some())
                            }
                        }
                        _ => parent
                            .tree()
                            .is_ok_and(|t| t.get_path(Path::new(path)).is_ok()),
                    };
                    if present {
                        kept.push(path);
                    } else {
                        out.insert(path.to_string(), here.clone());
                    }
                }
                open = kept;
                if open.is_empty() {
                    return Ok(out);
                }
            }
            commit = parent;
            grants = parent_grants;
        }
        let here = Landing::of(&commit);
        for path in open {
            out.insert(path.to_string(), here.clone());
        }
        Ok(out)
    }

    /// The commits on `tip`'s first-parent line after `landing` that
    /// changed `path`, oldest first: each edit of a grant file since it
    /// landed, which needs evidence of its own.
    pub fn edits_since(
        &self,
        tip: CommitId,
        landing: CommitId,
        path: &str,
    ) -> Result<Vec<CommitId>, GitError> {
        let mut out = Vec::new();
        let mut commit = tip;
        while commit != landing {
            let Ok(parent) = self.resolve(&format!("{commit}^1")) else {
                break;
            };
            if self.blob_at(commit, path)? != self.blob_at(parent, path)? {
                out.push(commit);
            }
            commit = parent;
        }
        out.reverse();
        Ok(out)
    }

    /// Makes one commit per removal on top of `base`, skipping a removal whose
    /// file is gone or whose content changed since it was decided. Returns the
    /// new tip and the removals made (with their commits); nothing is made
    /// when every removal is skipped.
    pub fn commit_removals(
        &self,
        base: CommitId,
        removals: &[Removal],
        time: DateTime<Utc>,
        signer: Option<&crate::signing::Signer>,
    ) -> Result<(CommitId, Vec<(Removal, CommitId)>), GitError> {
        let sig = self.signature(time)?;
        let mut tip = self
            .repo
            .find_commit(base.0)
            .context(|| format!("reading {base}"))?;
        let mut made = Vec::new();
        for r in removals {
            let tree = tip
                .tree()
                .context(|| format!("reading the tree of {}", tip.id()))?;
            match tree.get_path(Path::new(&r.path)) {
                Ok(e) if e.id().to_string() == r.blob => {}
                Ok(_) => {
                    tracing::warn!(
                        "{} changed since it was found expired; left for the next run",
                        r.path
                    );
                    continue;
                }
                Err(_) => {
                    tracing::info!("{} is already removed", r.path);
                    continue;
                }
            }
            let new_tree = self.without(&tree, &r.path)?;
            let id = self
                .commit_signed(&sig, &r.message, &new_tree, &[&tip], signer)
                .context(|| format!("committing the removal of {}", r.path))?;
            tip = self
                .repo
                .find_commit(id)
                .context(|| format!("reading {id}"))?;
            made.push((r.clone(), CommitId(id)));
        }
        Ok((CommitId(tip.id()), made))
    }

    /// `tree` without the file at `path` (and without folders it leaves empty).
    fn without(&self, tree: &Tree, path: &str) -> Result<Tree<'_>, GitError> {
        let oid = match self.remove_path(tree, &path.split('/').collect::<Vec<_>>())? {
            Some(oid) => oid,
            None => self.empty_tree()?,
        };
        self.repo
            .find_tree(oid)
            .context(|| "reading a new tree".into())
    }

    fn empty_tree(&self) -> Result<Oid, GitError> {
        self.repo
            .treebuilder(None)
            .and_then(|b| b.write())
            .context(|| "writing the empty tree".into())
    }

    /// Writes `tree` without `parts`; `None` when the result is empty.
    fn remove_path(&self, tree: &Tree, parts: &[&str]) -> Result<Option<Oid>, GitError> {
        let ctx = || format!("removing {}", parts.join("/"));
        let mut builder = self.repo.treebuilder(Some(tree)).context(ctx)?;
        match parts {
            [name] => {
                builder.remove(name).context(ctx)?;
            }
            [dir, rest @ ..] => {
                // Nothing there: nothing to remove.
                let Some(entry) = tree.get_name(dir) else {
                    return Ok(Some(tree.id()));
                };
                let sub = self.repo.find_tree(entry.id()).context(ctx)?;
                match self.remove_path(&sub, rest)? {
                    Some(oid) => {
                        builder.insert(dir, oid, entry.filemode()).context(ctx)?;
                    }
                    None => {
                        builder.remove(dir).context(ctx)?;
                    }
                }
            }
            [] => {}
        }
        if builder.is_empty() {
            return Ok(None);
        }
        builder.write().map(Some).context(ctx)
    }

    /// Who makes gitgrant's commits: the repository's configured user, or
    /// `gitgrant`; at `time`, so `--now` pins commits in tests.
    /// Writes a commit (no ref moves), with `signer`'s SSH signature in
    /// its `gpgsig` header when there is one, as `git commit -S` with
    /// `gpg.format ssh` writes it.
    fn commit_signed(
        &self,
        sig: &git2::Signature,
        message: &str,
        tree: &Tree,
        parents: &[&git2::Commit],
        signer: Option<&crate::signing::Signer>,
    ) -> Result<Oid, git2::Error> {
        let Some(signer) = signer else {
            return self.repo.commit(None, sig, sig, message, tree, parents);
        };
        let buffer = self
            .repo
            .commit_create_buffer(sig, sig, message, tree, parents)?;
        let content = std::str::from_utf8(&buffer)
            .map_err(|e| git2::Error::from_str(&format!("commit is not UTF-8: {e}")))?;
        let armour = signer
            .sign(crate::signing::COMMIT_NAMESPACE, content.as_bytes())
            .map_err(|e| git2::Error::from_str(&e.to_string()))?;
        self.repo.commit_signed(content, armour.trim_end(), None)
    }

    fn signature(&self, time: DateTime<Utc>) -> Result<git2::Signature<'static>, GitError> {
        let config = self.repo.config().context(|| "reading git config".into())?;
        let (default_name, default_email) = crate::signing::COMMITTER;
        let name = config
            .get_string("user.name")
            .unwrap_or_else(|_| default_name.to_string());
        let email = config
            .get_string("user.email")
            .unwrap_or_else(|_| default_email.to_string());
        git2::Signature::new(&name, &email, &git2::Time::new(time.timestamp(), 0))
            .context(|| "making the commit signature".into())
    }

    /// Moves local branch `branch` from `from` to `to` (refusing if it moved
    /// meanwhile), and updates the working tree when it has that branch
    /// checked out.
    pub fn advance_branch(
        &self,
        branch: &str,
        from: CommitId,
        to: CommitId,
    ) -> Result<(), GitError> {
        if from == to {
            return Ok(());
        }
        let name = format!("refs/heads/{branch}");
        let on_branch = self
            .repo
            .head()
            .ok()
            .and_then(|h| h.name().ok().map(|n| n == name))
            .unwrap_or(false);
        if on_branch && !self.repo.is_bare() {
            // Update the working tree and index from the old tip's tree (HEAD,
            // until the ref moves below) to the new one, leaving anything else
            // the user changed alone.
            let new = self.tree_of(to.0)?;
            let mut opts = git2::build::CheckoutBuilder::new();
            opts.safe();
            if let Err(e) = self.repo.checkout_tree(new.as_object(), Some(&mut opts)) {
                tracing::warn!("could not update the working tree to {to}: {e}");
            }
        }
        self.repo
            .reference_matching(&name, to.0, true, from.0, "gitgrant: remove ended grants")
            .context(|| format!("moving {name} from {from} to {to}"))?;
        Ok(())
    }

    /// Whether a key of `allowed` made `commit`'s SSH signature, in git's
    /// namespace and valid at the commit's time.
    pub fn signed_by(&self, commit: CommitId, allowed: &crate::signing::AllowedSigners) -> bool {
        let Ok(c) = self.repo.find_commit(commit.0) else {
            return false;
        };
        let Ok((armour, payload)) = self.repo.extract_signature(&commit.0, None) else {
            return false;
        };
        allowed
            .verify(
                crate::signing::COMMIT_NAMESPACE,
                &payload,
                &String::from_utf8_lossy(&armour),
                Landing::of(&c).time,
            )
            .is_some()
    }

    /// Hands `each` every grant file removed on the first-parent chain
    /// from `tip`, newest removal first, with the removing commit's
    /// message, until `each` returns false. A commit that leaves `grants/`
    /// as it was costs no more than reading it.
    pub fn each_removed_grant(
        &self,
        tip: CommitId,
        mut each: impl FnMut(&str, &str) -> bool,
    ) -> Result<(), GitError> {
        self.each_grants_change(tip, |commit, _, before, after| {
            let diff = self
                .repo
                .diff_tree_to_tree(before, after, None)
                .context(|| format!("comparing grants/ of {} to its parent", commit.id()))?;
            let message = String::from_utf8_lossy(commit.message_bytes());
            for delta in diff.deltas() {
                let path = delta.old_file().path().and_then(Path::to_str);
                if let (git2::Delta::Deleted, Some(path)) = (delta.status(), path)
                    && !each(&format!("grants/{path}"), &message)
                {
                    return Ok(false);
                }
            }
            Ok(true)
        })
    }

    /// Hands `each` every commit on the first-parent chain from `tip` that
    /// changed `grants/`, newest first, with its parent and `grants/`
    /// before and after, until `each` returns false or the chain ends.
    fn each_grants_change(
        &self,
        tip: CommitId,
        mut each: impl FnMut(
            &git2::Commit<'_>,
            &git2::Commit<'_>,
            Option<&Tree<'_>>,
            Option<&Tree<'_>>,
        ) -> Result<bool, GitError>,
    ) -> Result<(), GitError> {
        let mut commit = self
            .repo
            .find_commit(tip.0)
            .context(|| format!("reading {tip}"))?;
        let mut grants = self.grants_tree(&commit)?;
        loop {
            let Ok(parent) = commit.parent(0) else {
                return Ok(());
            };
            let parent_grants = self.grants_tree(&parent)?;
            if parent_grants.as_ref().map(Tree::id) != grants.as_ref().map(Tree::id)
                && !each(&commit, &parent, parent_grants.as_ref(), grants.as_ref())?
            {
                return Ok(());
            }
            commit = parent;
            grants = parent_grants;
        }
    }

    /// For each of `paths` (absent at `tip`), the newest commit on the
    /// first-parent chain from `tip` that removed it, with its message. A
    /// path never seen is missing from the answer. The walk stops as soon as
    /// every path is placed, so a recent removal costs a few commits.
    pub fn removals(
        &self,
        tip: CommitId,
        paths: &[String],
    ) -> Result<HashMap<String, (CommitId, String)>, GitError> {
        let mut out = HashMap::new();
        let mut open: Vec<&str> = paths.iter().map(String::as_str).collect();
        if open.is_empty() {
            return Ok(out);
        }
        self.each_grants_change(tip, |commit, parent, _, _| {
            let tree = parent
                .tree()
                .context(|| format!("reading the tree of {}", parent.id()))?;
            open.retain(|path| {
                if tree.get_path(Path::new(path)).is_err() {
                    return true;
                }
                let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
                out.insert(path.to_string(), (CommitId(commit.id()), message));
                false
            });
            Ok(!open.is_empty())
        })?;
        Ok(out)
    }

    /// The grant files removed on the first-parent chain from `tip` by
    /// commits whose committer time is at or after `since`, newest removal
    /// first: each with its content before the removal, when it had landed
    /// (as [`Repo::landings`] tells at the removing commit's parent) and the
    /// removing commit's time. A path present at `tip` is left out. The walk
    /// stops at the first commit older than `since`.
    pub fn removed_since(
        &self,
        tip: CommitId,
        since: DateTime<Utc>,
    ) -> Result<Vec<RemovedGrant>, GitError> {
        let mut out: Vec<RemovedGrant> = Vec::new();
        let mut commit = self
            .repo
            .find_commit(tip.0)
            .context(|| format!("reading {tip}"))?;
        let present = self.snapshot(tip)?;
        let mut grants = self.grants_tree(&commit)?;
        loop {
            let here = Landing::of(&commit);
            if here.time < since {
                break;
            }
            let Ok(parent) = commit.parent(0) else { break };
            let parent_grants = self.grants_tree(&parent)?;
            if parent_grants.as_ref().map(Tree::id) != grants.as_ref().map(Tree::id) {
                let before = self.snapshot(CommitId(parent.id()))?;
                let after = self.snapshot(CommitId(commit.id()))?;
                for file in before.grants {
                    let gone = |s: &crate::snapshot::Snapshot| {
                        !s.grants.iter().any(|f| f.path == file.path)
                    };
                    if gone(&after)
                        && gone(&present)
                        && !out.iter().any(|r| r.file.path == file.path)
                    {
                        let landed = self
                            .landings(CommitId(parent.id()), std::slice::from_ref(&file.path))?
                            .remove(&file.path)
                            .map(|l| l.time);
                        out.push(RemovedGrant {
                            file,
                            landed,
                            removed_at: here.time,
                            commit: CommitId(commit.id()),
                            message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
                        });
                    }
                }
            }
            commit = parent;
            grants = parent_grants;
        }
        Ok(out)
    }

    /// Walks the first-parent chain from `tip` and returns it oldest first,
    /// each commit with what it changed in `gitgrant.yaml` and `grants/`.
    /// `progress` is called with the number of commits read so far.
    pub fn history(
        &self,
        tip: CommitId,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<crate::history::HistoryCommit>, GitError> {
        history::walk(self, tip, progress)
    }

    /// [`Repo::history`], one commit at a time into `emit` (false stops
    /// the walk), leaving out commits that change nothing gitgrant reads
    /// (but not the tip, nor where the history is cut).
    pub fn history_each(
        &self,
        tip: CommitId,
        progress: &mut dyn FnMut(usize),
        emit: &mut dyn FnMut(crate::history::HistoryCommit) -> bool,
    ) -> Result<(), GitError> {
        history::walk_each(self, tip, true, progress, emit)
    }

    /// The first-parent history up to `tip`, oldest first, handed to `fold`
    /// as it is read: another thread walks it (into a bounded channel) while
    /// `fold` consumes it in this one. `all`: every commit, else only those
    /// [`Repo::history_each`] emits. `fold` may stop early by dropping the
    /// receiver.
    pub fn history_streamed<T>(
        &self,
        tip: CommitId,
        all: bool,
        progress: &mut (dyn FnMut(usize) + Send),
        fold: impl FnOnce(std::sync::mpsc::Receiver<crate::history::HistoryCommit>) -> T,
    ) -> Result<T, GitError> {
        let git_dir = self.git_dir().to_path_buf();
        let (tx, rx) = std::sync::mpsc::sync_channel(4096);
        let (out, walked) = std::thread::scope(|scope| {
            let walker = scope.spawn(move || -> Result<(), GitError> {
                let repo = Repo::open(&git_dir)?;
                history::walk_each(&repo, tip, !all, progress, &mut |c| tx.send(c).is_ok())
            });
            let out = fold(rx);
            (out, walker.join())
        });
        walked.map_err(|_| GitError::Walk("the history walk stopped unexpectedly".into()))??;
        Ok(out)
    }

    /// Whether commit `a` is `b` or descends from it.
    pub fn contains(&self, a: CommitId, b: CommitId) -> bool {
        a == b || self.repo.graph_descendant_of(a.0, b.0).unwrap_or(false)
    }

    /// The directory of the repository (its `.git`, or itself when bare).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }
}
