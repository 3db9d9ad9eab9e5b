//! Pushing removal commits to a remote that other runs (or merges) may move
//! at the same time.

use std::cell::RefCell;
use std::time::Duration;

use chrono::{DateTime, Utc};
use git2::{Cred, FetchOptions, PushOptions, RemoteCallbacks};

use super::{CommitId, Context as _, GitError, Repo};
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
        let mut opts = FetchOptions::new();
        opts.remote_callbacks(callbacks());
        r.fetch(&[spec.as_str()], Some(&mut opts), None)
            .context(|| format!("fetching {branch} from {remote}"))?;
        self.resolve(&tracking)
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
        max_attempts: u32,
    ) -> Result<PushOutcome, GitError> {
        for attempt in 1..=max_attempts {
            let base = self.fetch(remote, branch)?;
            let (tip, made) = self.commit_removals(base, removals, time)?;
            if made.is_empty() {
                self.follow(branch, base);
                return Ok(PushOutcome {
                    tip: base,
                    made,
                    attempts: attempt,
                });
            }
            match self.try_push(remote, branch, tip) {
                Ok(()) => {
                    self.follow(branch, tip);
                    return Ok(PushOutcome {
                        tip,
                        made,
                        attempts: attempt,
                    });
                }
                Err(Attempt::Moved(why)) => {
                    tracing::info!("push attempt {attempt} did not land ({why}); rebuilding");
                    std::thread::sleep(Duration::from_millis(25 * u64::from(attempt)));
                }
                Err(Attempt::Failed(e)) => return Err(e),
            }
        }
        Err(GitError::PushRetriesExhausted {
            attempts: max_attempts,
        })
    }

    fn try_push(&self, remote: &str, branch: &str, tip: CommitId) -> Result<(), Attempt> {
        // libgit2 pushes references, not bare ids: name the tip for a moment.
        let temp = "refs/gitgrant/push";
        self.repo
            .reference(temp, tip.0, true, "gitgrant: push removals")
            .context(|| format!("naming {tip} for the push"))
            .map_err(Attempt::Failed)?;
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
                .and_then(|mut r| r.push(&[format!("{temp}:refs/heads/{branch}")], Some(&mut opts)))
        };
        if let Ok(mut r) = self.repo.find_reference(temp) {
            let _ = r.delete();
        }
        match result {
            Err(e) if e.code() == git2::ErrorCode::NotFastForward => {
                return Err(Attempt::Moved(e.message().to_string()));
            }
            // A ref lock held by a concurrent push on a local remote.
            Err(e) if e.code() == git2::ErrorCode::Locked => {
                return Err(Attempt::Moved(e.message().to_string()));
            }
            Err(e) => {
                return Err(Attempt::Failed(GitError::Git {
                    context: format!("pushing to {remote}"),
                    source: e,
                }));
            }
            Ok(()) => {}
        }
        if let Some(msg) = refused.into_inner() {
            return Err(Attempt::Moved(msg));
        }
        // A local remote updates its ref without comparing it with the value
        // the push started from: confirm ours is still there (or built upon).
        let now_tip = self.fetch(remote, branch).map_err(Attempt::Failed)?;
        let kept = now_tip == tip
            || self
                .repo
                .graph_descendant_of(now_tip.0, tip.0)
                .unwrap_or(false);
        if kept {
            Ok(())
        } else {
            Err(Attempt::Moved(format!(
                "{branch} was overwritten by {now_tip}"
            )))
        }
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
