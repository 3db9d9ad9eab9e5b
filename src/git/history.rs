//! The first-parent history walk behind `gitgrant audit`.
//!
//! Like `git log --first-parent -- grants/`, it compares each commit's tree
//! with its first parent's, descends only into subtrees whose ids differ, and
//! reads blobs only for the paths that changed.

use git2::{ObjectType, Oid, Tree, TreeEntry};

use super::{Context as _, GitError, Repo, git_time};
use crate::history::{FileChange, FileVersion, HistoryCommit, Signature, SshSigned};
use crate::policy::POLICY_PATH;
use crate::snapshot::is_placeholder;

pub(super) fn walk(
    repo: &Repo,
    tip: super::CommitId,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<HistoryCommit>, GitError> {
    let mut out = Vec::new();
    walk_each(repo, tip, false, progress, &mut |c| {
        out.push(c);
        true
    })?;
    Ok(out)
}

/// The first-parent history oldest first, one commit at a time into
/// `emit` (which returns false to stop). With `only_changes`, a commit that
/// changes nothing gitgrant reads is skipped, unless it is the tip or where
/// the history is cut: the audit learns nothing from it.
#[allow(clippy::modulo_one)] // WORKERS is one today; the chunking serves any number
pub(super) fn walk_each(
    repo: &Repo,
    tip: super::CommitId,
    only_changes: bool,
    progress: &mut dyn FnMut(usize),
    emit: &mut dyn FnMut(HistoryCommit) -> bool,
) -> Result<(), GitError> {
    let r = &repo.repo;
    // The chain, newest first: only ids, times and trees are kept of it
    // here (a long history's commits are not held twice); the readers below
    // compare trees and read a commit when they hand it out. Git's
    // commit-graph, when it lists a commit, gives all three without
    // inflating the commit; libgit2 reads the others.
    let graph = commit_graph(r);
    let mut links: Vec<(Link, Oid)> = Vec::new();
    let mut id = tip.0;
    let truncated = loop {
        // The commit's time and tree, and where the chain goes on: to its
        // first parent, or it ends here (`Err(cut)`: whether cut short).
        let (time, tree, next) = match graph.as_ref().and_then(|g| g.first_parent(id)) {
            Some((time, tree, parent)) => (time, tree, parent.ok_or(false)),
            None => {
                let c = match r.find_commit(id) {
                    Ok(c) => c,
                    // A parent named but missing: history rewritten or cut.
                    Err(_) if !links.is_empty() => break true,
                    Err(e) => return Err(e).context(|| format!("reading {tip}")),
                };
                // A shallow clone shows its boundary commits without
                // parents; the commit object itself still names them.
                let next = c.parent_id(0).map_err(|_| names_a_parent(&c));
                (git_time(c.committer().when()).0, c.tree_id(), next)
            }
        };
        links.push((
            Link {
                commit: id,
                time,
                later: None,
            },
            tree,
        ));
        if links.len().is_multiple_of(4096) {
            progress(links.len());
        }
        match next {
            Ok(p) => id = p,
            Err(cut) => break cut,
        }
    };
    let total = links.len();
    links.reverse();
    // Each commit learns the earliest time after it, from the newest back.
    let mut earliest: Option<chrono::DateTime<chrono::Utc>> = None;
    for (c, _) in links.iter_mut().rev() {
        c.later = earliest;
        earliest = Some(earliest.map_or(c.time, |e| e.min(c.time)));
    }
    let trees: Vec<Oid> = links.iter().map(|(_, t)| *t).collect();
    if total < 2 * CHUNK {
        let mut w = Walker::new(repo);
        for (i, (skeleton, _)) in links.into_iter().enumerate() {
            if let Some(c) = w.read(&trees, i, skeleton, truncated, only_changes)?
                && !emit(c)
            {
                return Ok(());
            }
            if i.is_multiple_of(4096) {
                progress(total + i);
            }
        }
        return Ok(());
    }
    // Readers (WORKERS) diff alternate chunks of the chain, each with its own
    // handle on the objects (see `Repo::objects_apart`); chunks are emitted
    // in order, a few at a time, so memory holds a few chunks of changes.
    let chunks = total.div_ceil(CHUNK);
    let mut work: Vec<Vec<(usize, Vec<Link>)>> = (0..WORKERS).map(|_| Vec::new()).collect();
    let mut links = links.into_iter().map(|(c, _)| c);
    for k in 0..chunks {
        work[k % WORKERS].push((k, links.by_ref().take(CHUNK).collect()));
    }
    let dir = repo.repo.commondir().join("objects");
    std::thread::scope(|scope| -> Result<(), GitError> {
        let mut inboxes = Vec::new();
        for (worker, mine) in work.into_iter().enumerate() {
            let (tx, rx) = std::sync::mpsc::sync_channel(2);
            inboxes.push(rx);
            let (trees, dir) = (&trees, &dir);
            scope.spawn(move || {
                let repo = match Repo::objects_apart(dir, worker) {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let mut w = Walker::new(&repo);
                for (k, skeletons) in mine {
                    w.prev = None;
                    let mut out = Vec::new();
                    let mut failed = None;
                    for (i, skeleton) in (k * CHUNK..).zip(skeletons) {
                        match w.read(trees, i, skeleton, truncated, only_changes) {
                            Ok(Some(c)) => out.push(c),
                            Ok(None) => {}
                            Err(e) => {
                                failed = Some(e);
                                break;
                            }
                        }
                    }
                    let sent = match failed {
                        Some(e) => tx.send(Err(e)),
                        None => tx.send(Ok(out)),
                    };
                    if sent.is_err() {
                        return;
                    }
                }
            });
        }
        for k in 0..chunks {
            let got = inboxes[k % WORKERS]
                .recv()
                .map_err(|_| GitError::Walk("a history reader stopped".into()))?;
            for c in got? {
                if !emit(c) {
                    return Ok(());
                }
            }
            progress(total + (k + 1) * CHUNK);
        }
        Ok(())
    })
}

/// Git's commit-graph file(s) of the repository's own objects, when git
/// wrote them and nothing makes them unsafe to follow (a shallow clone,
/// whose boundary git's graph does not know).
struct Graph(gix_commitgraph::Graph);

fn commit_graph(r: &git2::Repository) -> Option<Graph> {
    if r.is_shallow() {
        return None;
    }
    let info = r.commondir().join("objects").join("info");
    gix_commitgraph::Graph::from_info_dir(&info, gix_hash::Kind::Sha1)
        .ok()
        .map(Graph)
}

impl Graph {
    /// The committer time, tree and first parent of commit `id`, when the
    /// graph lists it with a time it can hold (after 1970, before 2514:
    /// anything else is read from the commit itself).
    fn first_parent(&self, id: Oid) -> Option<(chrono::DateTime<chrono::Utc>, Oid, Option<Oid>)> {
        let c = self
            .0
            .commit_by_id(gix_hash::oid::try_from_bytes(id.as_bytes()).ok()?)?;
        let seconds = i64::try_from(c.committer_timestamp())
            .ok()
            .filter(|s| *s > 0)?;
        let time = chrono::DateTime::from_timestamp(seconds, 0)?;
        let tree = Oid::from_bytes(c.root_tree_id().as_bytes()).ok()?;
        let parent = match c.parent1().ok()? {
            Some(pos) => Some(Oid::from_bytes(self.0.id_at(pos).as_bytes()).ok()?),
            None => None,
        };
        Some((time, tree, parent))
    }
}

/// What the audit keeps of a commit, before its changes are known.
fn skeleton(r: &git2::Repository, c: &git2::Commit) -> HistoryCommit {
    let (time, offset_minutes) = git_time(c.committer().when());
    let person = |s: git2::Signature| {
        format!(
            "{} <{}>",
            String::from_utf8_lossy(s.name_bytes()),
            String::from_utf8_lossy(s.email_bytes())
        )
    };
    HistoryCommit {
        id: c.id().to_string(),
        time,
        offset_minutes,
        author: person(c.author()),
        committer: person(c.committer()),
        signature: signature(c),
        ssh_signed: ssh_signed(r, c),
        message: String::from_utf8_lossy(c.message_bytes()).into_owned(),
        parents: c.parent_count(),
        merged_head: (c.parent_count() > 1)
            .then(|| c.parent_id(1).ok())
            .flatten()
            .map(|p| p.to_string()),
        changes: Vec::new(),
        later: None,
        truncated: false,
    }
}

/// Commits per chunk a reader diffs in one go.
const CHUNK: usize = 1024;

/// Readers diffing chunks at once. One: each reader maps the pack again
/// (`Repo::objects_apart`), and a second one cost a 100,000-commit
/// history ~60 MiB of peak RSS (merge shape 246 MiB against git log's 181)
/// for no time saved on two cores, where the fold is the other busy thread
/// (bench/audit.sh, 2026-12-05: one reader 1.15x git log and 178 MiB).
const WORKERS: usize = 1;

/// A commit of the chain, before it is read.
struct Link {
    commit: Oid,
    time: chrono::DateTime<chrono::Utc>,
    /// The earliest time of the commits after it.
    later: Option<chrono::DateTime<chrono::Utc>>,
}

/// Reads commits of a first-parent chain (oldest first) one after another.
struct Walker<'r> {
    repo: &'r Repo,
    /// The tree of the commit read last, when it was the one before.
    prev: Option<(usize, Tree<'r>)>,
    cache: Cache<'r>,
}

impl<'r> Walker<'r> {
    fn new(repo: &'r Repo) -> Walker<'r> {
        Walker {
            repo,
            prev: None,
            cache: Cache::new(),
        }
    }

    /// Commit `i` of the chain (whose trees are `trees`, oldest first)
    /// compared with commit `i - 1`, filling in `commit`'s changes; `None`
    /// when `only_changes` and it changes nothing (and is neither the tip
    /// nor the cut).
    fn read(
        &mut self,
        trees: &[Oid],
        i: usize,
        link: Link,
        truncated: bool,
        only_changes: bool,
    ) -> Result<Option<HistoryCommit>, GitError> {
        let r = &self.repo.repo;
        let find = |id: Oid| {
            r.find_tree(id)
                .context(|| format!("reading the tree of {}", link.commit))
        };
        let mut changes = Vec::new();
        let prev = match self.prev.take() {
            Some((at, t)) if at + 1 == i => Some(t),
            _ if i > 0 => Some(find(trees[i - 1])?),
            _ => None,
        };
        let tree = if prev.as_ref().map(Tree::id) != Some(trees[i]) {
            let tree = find(trees[i])?;
            diff_top(
                self.repo,
                &mut self.cache,
                prev.as_ref(),
                &tree,
                &mut changes,
            )?;
            self.cache.next_commit();
            tree
        } else {
            prev.expect("equal to the commit's tree")
        };
        self.prev = Some((i, tree));
        let cut = truncated && i == 0;
        if only_changes && changes.is_empty() && !cut && i + 1 != trees.len() {
            return Ok(None);
        }
        let c = r
            .find_commit(link.commit)
            .context(|| format!("reading {}", link.commit))?;
        let mut commit = skeleton(r, &c);
        commit.changes = changes;
        commit.truncated = cut;
        commit.later = link.later;
        Ok(Some(commit))
    }
}

fn entry_id(tree: Option<&Tree>, name: &str) -> Option<(Oid, i32)> {
    tree.and_then(|t| t.get_name(name))
        .map(|e| (e.id(), e.filemode()))
}

/// Changes to `gitgrant.yaml` and under `grants/` between two root trees.
fn diff_top<'r>(
    repo: &'r Repo,
    cache: &mut Cache<'r>,
    old: Option<&Tree>,
    new: &Tree,
    out: &mut Vec<FileChange>,
) -> Result<(), GitError> {
    let (o, n) = (entry_id(old, POLICY_PATH), entry_id(Some(new), POLICY_PATH));
    if o != n {
        out.push(FileChange {
            path: POLICY_PATH.to_string(),
            old: o
                .map(|(id, mode)| version(repo, cache, POLICY_PATH, id, mode, Side::Old))
                .transpose()?,
            new: n
                .map(|(id, mode)| version(repo, cache, POLICY_PATH, id, mode, Side::New))
                .transpose()?,
        });
    }
    let old_grants = old.and_then(|t| t.get_name("grants"));
    let new_grants = new.get_name("grants");
    if old_grants.as_ref().map(TreeEntry::id) != new_grants.as_ref().map(TreeEntry::id) {
        diff_entry(
            repo,
            cache,
            "grants",
            old_grants.as_ref(),
            new_grants.as_ref(),
            out,
        )?;
    }
    Ok(())
}

fn is_tree(e: Option<&TreeEntry>) -> bool {
    e.is_some_and(|e| e.kind() == Some(ObjectType::Tree))
}

fn subtree<'r>(repo: &'r Repo, e: Option<&TreeEntry>) -> Result<Option<Tree<'r>>, GitError> {
    match e {
        Some(e) if e.kind() == Some(ObjectType::Tree) => repo
            .repo
            .find_tree(e.id())
            .map(Some)
            .context(|| format!("reading tree {}", e.id())),
        _ => Ok(None),
    }
}

/// Compares what one path holds before and after: trees are descended into,
/// files become changes.
fn diff_entry<'r>(
    repo: &'r Repo,
    cache: &mut Cache<'r>,
    path: &str,
    old: Option<&TreeEntry>,
    new: Option<&TreeEntry>,
    out: &mut Vec<FileChange>,
) -> Result<(), GitError> {
    let mut file = |e: Option<&TreeEntry>, side| -> Result<Option<FileVersion>, GitError> {
        match e {
            Some(e) if !is_tree(Some(e)) => {
                version(repo, cache, path, e.id(), e.filemode(), side).map(Some)
            }
            _ => Ok(None),
        }
    };
    let (old_file, new_file) = (file(old, Side::Old)?, file(new, Side::New)?);
    if (old_file.is_some() || new_file.is_some()) && !is_placeholder(path) {
        out.push(FileChange {
            path: path.to_string(),
            old: old_file,
            new: new_file,
        });
    }
    if is_tree(old) || is_tree(new) {
        let ot = match old.filter(|e| is_tree(Some(e))) {
            Some(e) => match cache.trees.remove(&e.id()) {
                Some(t) => Some(t),
                None => subtree(repo, old)?,
            },
            None => None,
        };
        let nt = subtree(repo, new)?;
        diff_trees(repo, cache, path, ot.as_ref(), nt.as_ref(), out)?;
        if let Some(t) = nt {
            cache.fresh.insert(t.id(), t);
        }
    }
    Ok(())
}

/// Merge-joins two sorted trees' entries, skipping those with equal ids.
fn diff_trees<'r>(
    repo: &'r Repo,
    cache: &mut Cache<'r>,
    prefix: &str,
    old: Option<&Tree>,
    new: Option<&Tree>,
    out: &mut Vec<FileChange>,
) -> Result<(), GitError> {
    let len = |t: Option<&Tree>| t.map_or(0, Tree::len);
    let (a_len, b_len) = (len(old), len(new));
    let (mut i, mut j) = (0, 0);
    while i < a_len || j < b_len {
        // Entries borrowed in place: a role folder may hold many files.
        let a = old.and_then(|t| t.get(i)).filter(|_| i < a_len);
        let b = new.and_then(|t| t.get(j)).filter(|_| j < b_len);
        let order = match (&a, &b) {
            (Some(x), Some(y)) => x.name_bytes().cmp(y.name_bytes()),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        let (o, n) = match order {
            std::cmp::Ordering::Less => {
                i += 1;
                (a, None)
            }
            std::cmp::Ordering::Greater => {
                j += 1;
                (None, b)
            }
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
                (a, b)
            }
        };
        if let (Some(o), Some(n)) = (&o, &n)
            && o.id() == n.id()
            && o.filemode() == n.filemode()
        {
            continue;
        }
        let name = o
            .as_ref()
            .or(n.as_ref())
            .expect("one side is present")
            .name_bytes();
        let path = format!("{prefix}/{}", String::from_utf8_lossy(name));
        diff_entry(repo, cache, &path, o.as_ref(), n.as_ref(), out)?;
    }
    Ok(())
}

/// The content of every file version present at the commit last walked,
/// by blob id and mode: a change's old side is what an earlier commit's new
/// side read, so each blob is inflated once. Entries leave when their file
/// changes or goes, so it holds the files of one tree, not the history.
///
/// Subtrees are kept the same way: the trees under `grants/` a commit's
/// new side read are the next commit's old side, inflated once.
#[derive(Default)]
struct Cache<'r> {
    blobs: std::collections::HashMap<(Oid, i32), crate::snapshot::Content>,
    /// Subtrees the commit before read, by id.
    trees: std::collections::HashMap<Oid, Tree<'r>>,
    /// Subtrees this commit read, by id.
    fresh: std::collections::HashMap<Oid, Tree<'r>>,
}

impl<'r> Cache<'r> {
    fn new() -> Cache<'r> {
        Cache::default()
    }

    /// A commit is done: what it read is what the next one starts from.
    fn next_commit(&mut self) {
        self.trees = std::mem::take(&mut self.fresh);
    }
}

/// Which side of a change a version is.
#[derive(Clone, Copy)]
enum Side {
    Old,
    New,
}

fn version(
    repo: &Repo,
    cache: &mut Cache<'_>,
    path: &str,
    id: Oid,
    mode: i32,
    side: Side,
) -> Result<FileVersion, GitError> {
    let content = match side {
        // The audit tells old sides apart by blob id alone: one not read
        // before is not read now.
        Side::Old => cache
            .blobs
            .remove(&(id, mode))
            .unwrap_or_else(|| crate::snapshot::Content::Bytes(Vec::new())),
        Side::New => {
            let c = match cache.blobs.get(&(id, mode)) {
                Some(c) => c.clone(),
                None => repo.content(path, id, mode, false)?,
            };
            cache.blobs.insert((id, mode), c.clone());
            c
        }
    };
    Ok(FileVersion {
        blob: id.to_string(),
        content,
    })
}

/// The kind of signature in the commit object's header (`gpgsig`, or
/// `gpgsig-sha256` in a SHA-256 repository), if any.
fn signature(commit: &git2::Commit) -> Option<Signature> {
    ["gpgsig", "gpgsig-sha256"]
        .into_iter()
        .find_map(|field| commit.header_field_bytes(field).ok())
        .map(|armour| Signature::of(armour.trim_ascii_start()))
}

/// The SSH signature of a commit that says it is a reconciler's removal,
/// and what it signs. Other commits are not read further: checking is for
/// the commits whose trailers would otherwise be believed.
fn ssh_signed(r: &git2::Repository, c: &git2::Commit) -> Option<Box<SshSigned>> {
    if signature(c) != Some(Signature::Ssh)
        || !c
            .message_bytes()
            .windows(TRAILER.len())
            .any(|w| w == TRAILER)
    {
        return None;
    }
    let (armour, payload) = r.extract_signature(&c.id(), None).ok()?;
    Some(Box::new(SshSigned {
        armour: String::from_utf8_lossy(&armour).into_owned(),
        payload: payload.to_vec(),
    }))
}

/// The trailer a removal commit names its grant with.
const TRAILER: &[u8] = b"\nGitgrant-Grant: ";

/// Whether the commit object names a parent (whatever grafts or a shallow
/// boundary say).
fn names_a_parent(commit: &git2::Commit) -> bool {
    commit
        .raw_header_bytes()
        .split(|b| *b == b'\n')
        .any(|line| line.starts_with(b"parent "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &std::path::Path, args: &[&str], date: &str) {
        let out = std::process::Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn the_commit_graph_gives_what_the_commit_says_and_defers_to_it_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        git(d, &["init", "-q", "-b", "main"], "2026-11-20T09:00:00Z");
        git(
            d,
            &["commit", "-q", "--allow-empty", "-m", "a"],
            "2026-11-20T09:00:00Z",
        );
        git(
            d,
            &["commit", "-q", "--allow-empty", "-m", "b"],
            "2026-11-21T09:00:00Z",
        );
        git(
            d,
            &["commit-graph", "write", "--reachable"],
            "2026-11-21T09:00:00Z",
        );
        // Made after the graph: read from the commit.
        git(
            d,
            &["commit", "-q", "--allow-empty", "-m", "c"],
            "2026-11-22T09:00:00Z",
        );
        let r = git2::Repository::open(d).unwrap();
        let graph = commit_graph(&r).expect("the graph git wrote");
        let tip = r.head().unwrap().peel_to_commit().unwrap();
        assert!(graph.first_parent(tip.id()).is_none());
        let b = tip.parent(0).unwrap();
        let (time, tree, parent) = graph.first_parent(b.id()).expect("listed");
        assert_eq!(time, git_time(b.committer().when()).0);
        assert_eq!(tree, b.tree_id());
        assert_eq!(parent, Some(b.parent_id(0).unwrap()));
        let a = b.parent(0).unwrap();
        assert_eq!(graph.first_parent(a.id()).map(|g| g.2), Some(None));
    }
}
