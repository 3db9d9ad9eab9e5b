//! Pushing removal commits to a remote that other runs (or merges) may move
//! at the same time.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use git2::{Cred, FetchOptions, PushOptions, RemoteCallbacks};

use super::{CommitId, Context as _, GitError, Repo};
use crate::cas::Step;
use crate::removal::Removal;

/// What a push of removals did.
#[derive(Debug, Clone)]
pub struct PushOutcome {
    /// The remote branch's tip afterwards.
    pub tip: CommitId,
    /// The removals committed and pushed, with their commits.
    pub made: Vec<(Removal, CommitId)>,
    /// How many attempts it took.
    pub attempts: u32,
}

/// libgit2 pushes references, not bare ids: the tip is named here for a moment.
const TEMP_REF: &str = "refs/gitgrant/push";

/// The directory of a remote on this machine (a path or a `file://` URL).
fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(url);
    (!url.contains("://") && p.exists()).then(|| p.to_path_buf())
}

/// A token for https remotes: `GITGRANT_GIT_TOKEN`, else `GITHUB_TOKEN`.
fn token() -> Option<String> {
    ["GITGRANT_GIT_TOKEN", "GITHUB_TOKEN"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|t| !t.is_empty()))
}

fn callbacks<'a>() -> RemoteCallbacks<'a> {
    let mut cbs = RemoteCallbacks::new();
    cbs.credentials(|_url, _user, _allowed| match token() {
        Some(t) => Cred::userpass_plaintext("x-access-token", &t),
        None => Err(git2::Error::from_str(
            "the remote asks for credentials: set GITGRANT_GIT_TOKEN (or GITHUB_TOKEN)",
        )),
    });
    cbs
}

/// Why one push attempt did not land.
enum Attempt {
    /// The remote moved (or another run overwrote ours): rebuild and retry.
    Moved(String),
    /// Anything else.
    Failed(GitError),
}

impl Repo {
    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>`
    /// and returns its tip.
    pub fn fetch(&self, remote: &str, branch: &str) -> Result<CommitId, GitError> {
        let mut r = self
            .repo
            .find_remote(remote)
            .context(|| format!("finding remote `{remote}`"))?;
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let spec = format!("+refs/heads/{branch}:{tracking}");
        // A remote on this machine is listed ref by ref; a ref another run
        // deletes meanwhile (its private incoming ref) fails the listing.
        // That ref was never ours to fetch: ask again.
        let mut attempts = 0;
        loop {
            let mut opts = FetchOptions::new();
            opts.remote_callbacks(callbacks());
            match r.fetch(&[spec.as_str()], Some(&mut opts), None) {
                Err(e)
                    if attempts < 4
                        && e.class() == git2::ErrorClass::Reference
                        && e.code() == git2::ErrorCode::NotFound =>
                {
                    attempts += 1;
                }
                r => {
                    r.context(|| format!("fetching {branch} from {remote}"))?;
                    return self.resolve(&tracking);
                }
            }
        }
    }

    /// Commits `removals` on the remote branch's newest tip and pushes them.
    /// When the push is refused because the branch moved, or a later check
    /// finds it was overwritten, fetches again and rebuilds the commits on the
    /// new tip: a removal already made there, or of a file changed there, is
    /// dropped, so nothing is removed twice or against a newer version.
    pub fn push_removals(
        &self,
        remote: &str,
        branch: &str,
        removals: &[Removal],
        time: DateTime<Utc>,
        signer: Option<&crate::signing::Signer>,
    ) -> Result<PushOutcome, GitError> {
        let pushed = crate::cas::retry("push of the removal commits", |attempts| {
            let base = self.fetch(remote, branch)?;
            let (tip, made) = self.commit_removals(base, removals, time, signer)?;
            if made.is_empty() {
                self.follow(branch, base);
                return Ok(Step::Done(PushOutcome {
                    tip: base,
                    made,
                    attempts,
                }));
            }
            match self.try_push(remote, &format!("refs/heads/{branch}"), Some(base), tip) {
                Ok(()) => {
                    self.follow(branch, tip);
                    Ok(Step::Done(PushOutcome {
                        tip,
                        made,
                        attempts,
                    }))
                }
                Err(Attempt::Moved(why)) => Ok(Step::Moved(format!("{why}; rebuilding"))),
                Err(Attempt::Failed(e)) => Err(e),
            }
        })?;
        pushed.ok_or(GitError::PushRetriesExhausted {
            attempts: crate::cas::ATTEMPTS,
        })
    }

    /// Pushes `tip` to the remote's `dest` ref, provided it is still at
    /// `base` (absent, for `None`).
    fn try_push(
        &self,
        remote: &str,
        dest: &str,
        base: Option<CommitId>,
        tip: CommitId,
    ) -> Result<(), Attempt> {
        let url = self
            .repo
            .find_remote(remote)
            .map(|r| r.url().unwrap_or_default().to_string())
            .context(|| format!("finding remote `{remote}`"))
            .map_err(Attempt::Failed)?;
        let temp = TEMP_REF;
        self.repo
            .reference(temp, tip.0, true, "gitgrant: push removals")
            .context(|| format!("naming {tip} for the push"))
            .map_err(Attempt::Failed)?;
        let result = match local_path(&url) {
            Some(path) => self.push_local(remote, &path, dest, base, tip),
            None => self.push_refspec(remote, &format!("{temp}:{dest}")),
        };
        if let Ok(mut r) = self.repo.find_reference(temp) {
            let _ = r.delete();
        }
        result
    }

    /// One refspec push; a refusal because the branch moved is `Moved`.
    fn push_refspec(&self, remote: &str, refspec: &str) -> Result<(), Attempt> {
        let refused: RefCell<Option<String>> = RefCell::new(None);
        let result = {
            let mut cbs = callbacks();
            cbs.push_update_reference(|_name, status| {
                if let Some(msg) = status {
                    *refused.borrow_mut() = Some(msg.to_string());
                }
                Ok(())
            });
            let mut opts = PushOptions::new();
            opts.remote_callbacks(cbs);
            self.repo
                .find_remote(remote)
                .and_then(|mut r| r.push(&[refspec], Some(&mut opts)))
        };
        match result {
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
                Err(Attempt::Moved(e.message().to_string()))
            }
            Err(e) => Err(Attempt::Failed(GitError::Git {
                context: format!("pushing to {remote}"),
                source: e,
            })),
            Ok(()) => match refused.into_inner() {
                // A server (GitHub) compares the branch with the value the
                // push started from and refuses when it moved.
                Some(msg) => Err(Attempt::Moved(msg)),
                None => Ok(()),
            },
        }
    }

    /// A remote on this machine: libgit2's local transport overwrites the
    /// branch without comparing it with the value the push started from, so
    /// the objects are pushed to a private ref and the branch is then moved
    /// with a compare-and-swap in the remote repository itself.
    fn push_local(
        &self,
        remote: &str,
        path: &Path,
        dest: &str,
        base: Option<CommitId>,
        tip: CommitId,
    ) -> Result<(), Attempt> {
        let temp = TEMP_REF;
        // Unique per run: two runs deciding alike build identical commits,
        // and must not share (and delete) each other's ref.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let incoming = format!(
            "refs/gitgrant/incoming/{}-{nanos}-{tip}",
            std::process::id()
        );
        self.push_refspec(remote, &format!("+{temp}:{incoming}"))?;
        let theirs = git2::Repository::open(path)
            .context(|| format!("opening {}", path.display()))
            .map_err(Attempt::Failed)?;
        let moved = match base {
            Some(base) => theirs.reference_matching(dest, tip.0, true, base.0, "gitgrant: push"),
            // A ref that must not exist yet: creating it fails if it does.
            None => theirs.reference(dest, tip.0, false, "gitgrant: push"),
        };
        if let Ok(mut r) = theirs.find_reference(&incoming) {
            let _ = r.delete();
        }
        match moved {
            Ok(_) => Ok(()),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::Modified | git2::ErrorCode::Locked | git2::ErrorCode::Exists
                ) =>
            {
                Err(Attempt::Moved(e.message().to_string()))
            }
            Err(e) => Err(Attempt::Failed(GitError::Git {
                context: format!("updating {dest} in {}", path.display()),
                source: e,
            })),
        }
    }

    /// Pushes the evidence notes to `remote`: fetches the remote's notes,
    /// folds ours onto them, and moves the remote's notes ref only if no
    /// one moved it meanwhile (else again, up to [`crate::cas::ATTEMPTS`] times).
    pub fn push_notes(
        &self,
        remote: &str,
        time: DateTime<Utc>,
        keys: crate::signing::Keys,
    ) -> Result<(), GitError> {
        let notes = super::notes::NOTES_REF;
        let pushed = crate::cas::retry("push of the evidence notes", |_| {
            let theirs = self.fetch_notes(remote, time, keys)?;
            let Some(ours) = self.notes_tip() else {
                return Ok(Step::Done(()));
            };
            if Some(ours) == theirs {
                return Ok(Step::Done(()));
            }
            match self.try_push(remote, notes, theirs, ours) {
                Ok(()) => Ok(Step::Done(())),
                Err(Attempt::Moved(why)) => Ok(Step::Moved(why)),
                Err(Attempt::Failed(e)) => Err(e),
            }
        })?;
        pushed.ok_or(GitError::PushRetriesExhausted {
            attempts: crate::cas::ATTEMPTS,
        })
    }

    /// Fetches `remote`'s evidence notes and folds them into ours (see
    /// [`Repo::absorb_notes`]); returns the remote's notes commit, `None`
    /// when it has none.
    pub fn fetch_notes(
        &self,
        remote: &str,
        time: DateTime<Utc>,
        keys: crate::signing::Keys,
    ) -> Result<Option<CommitId>, GitError> {
        const THEIRS: &str = "refs/gitgrant/remote-notes";
        let notes = super::notes::NOTES_REF;
        if let Ok(mut r) = self.repo.find_reference(THEIRS) {
            let _ = r.delete();
        }
        let mut r = self
            .repo
            .find_remote(remote)
            .context(|| format!("finding remote `{remote}`"))?;
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks());
        r.fetch(
            &[format!("+{notes}:{THEIRS}").as_str()],
            Some(&mut opts),
            None,
        )
        .context(|| format!("fetching {notes} from {remote}"))?;
        // A remote without notes yet leaves THEIRS unset.
        let theirs = self.repo.refname_to_id(THEIRS).ok().map(CommitId);
        if let Some(t) = theirs {
            self.absorb_notes(t, time, keys)?;
        }
        Ok(theirs)
    }

    /// Whether the repository has a remote named `name`.
    pub fn has_remote(&self, name: &str) -> bool {
        self.repo.find_remote(name).is_ok()
    }

    /// The URL of remote `name`, if it has one.
    pub fn remote_url(&self, name: &str) -> Option<String> {
        self.repo
            .find_remote(name)
            .ok()
            .and_then(|r| r.url().ok().map(String::from))
    }

    /// Fast-forwards the local branch to the remote's tip when it can.
    fn follow(&self, branch: &str, to: CommitId) {
        let Ok(local) = self.branch_tip(branch) else {
            return;
        };
        let ff = local == to
            || self
                .repo
                .graph_descendant_of(to.0, local.0)
                .unwrap_or(false);
        if !ff {
            tracing::warn!("local {branch} has diverged from the remote; left as it is");
            return;
        }
        if let Err(e) = self.advance_branch(branch, local, to) {
            tracing::warn!("could not fast-forward local {branch}: {e}");
        }
    }
}
