//! The trail in git: what a run verified before it applied a grant, kept as
//! evidence notes on the landing commit ([`crate::git::notes`]) and
//! repeated in the removal commit's trailers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::approval::Found;
use crate::cas::Step;
use crate::engine::{Applied, Prepared};
use crate::git::CommitId;
use crate::git::notes::{Approved, NOTES_REF, Note, Record, ReviewRecord};
use crate::github::{GitHub, GitHubError};
use crate::signing::Keys;

/// The run, as a record names it: the Actions run's URL when this is one,
/// else `local`.
pub fn run_name() -> String {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        var("GITHUB_SERVER_URL"),
        var("GITHUB_REPOSITORY"),
        var("GITHUB_RUN_ID"),
    ) {
        (Some(server), Some(repo), Some(run)) => format!("{server}/{repo}/actions/runs/{run}"),
        _ => "local".to_string(),
    }
}

/// What approved a grant, as a record keeps it; `None` when nothing did.
pub fn approved(found: &Found) -> Option<(Approved, Option<u64>, Option<String>)> {
    match found {
        Found::Judged(e) if e.met() => Some((
            Approved::Reviews {
                approvals: e
                    .reviews
                    .iter()
                    .filter(|r| r.verdict == crate::approval::Verdict::Counted)
                    .map(|r| ReviewRecord {
                        reviewer: r.reviewer.clone(),
                        review_id: r.review_id,
                        submitted_at: r.submitted_at,
                    })
                    .collect(),
            },
            Some(e.pr),
            Some(e.head.clone()).filter(|h| !h.is_empty()),
        )),
        Found::Judged(e) => e.approved_by_rule().map(|rule| {
            (
                Approved::Rule {
                    rule: rule.to_string(),
                    history: e
                        .rules
                        .as_ref()
                        .and_then(|j| j.rules.iter().find(|r| r.rule == rule))
                        .and_then(|r| r.history.clone()),
                },
                Some(e.pr),
                Some(e.head.clone()).filter(|h| !h.is_empty()),
            )
        }),
        Found::BreakGlass { .. } => Some((Approved::BreakGlass { review: None }, None, None)),
        Found::NoPullRequest { .. } => None,
    }
}

/// The records of this run: every grant it verified and then created or
/// changed without a failure, and every active break-glass grant once its
/// review issue is known. `(landing commit, file, record)`.
pub fn records(
    p: &Prepared,
    applied: &[Applied],
    reviews: &BTreeMap<crate::grant::GrantId, String>,
    run: &str,
) -> Vec<(CommitId, String, Record)> {
    let mut out = Vec::new();
    let done = |grant: &str| {
        let mine: Vec<&Applied> = applied.iter().filter(|a| a.grant == grant).collect();
        mine.iter().any(|a| a.action.gives_access()) && mine.iter().all(|a| a.ok)
    };
    for (path, found) in &p.approvals {
        let Some(id) = crate::grant::GrantId::from_path(path) else {
            continue;
        };
        let (Some((approved, pr, head)), Some(commit)) = (approved(found), p.landed(path)) else {
            continue;
        };
        if !done(&id.to_string()) {
            continue;
        }
        out.push((
            commit,
            path.clone(),
            Record {
                grant: id.to_string(),
                pull_request: pr,
                head,
                approved,
                verified_at: p.now,
                run: run.to_string(),
            },
        ));
    }
    for b in &p.break_glass {
        let path = b.grant.path();
        let (Some(review), Some(commit)) = (reviews.get(&b.grant), p.landed(&path)) else {
            continue;
        };
        out.push((
            commit,
            path,
            Record {
                grant: b.grant.to_string(),
                pull_request: None,
                head: None,
                approved: Approved::BreakGlass {
                    review: Some(review.clone()),
                },
                verified_at: p.now,
                run: run.to_string(),
            },
        ));
    }
    out
}

/// The notes ref's name under `refs/`, as the Git Data API takes it.
const NOTES_API_REF: &str = "notes/gitgrant";

/// Writes `notes` into GitHub's `refs/notes/gitgrant` through the Git
/// Data API: each landing commit's note, read and merged, in one notes
/// commit on the ref's tip, which then moves only as a fast-forward (again
/// from the new tip when it moved meanwhile). Returns the notes commit, or
/// `None` when every record was there already.
pub async fn api_notes(
    gh: &GitHub,
    notes: &BTreeMap<CommitId, Note>,
    time: DateTime<Utc>,
    keys: Keys<'_>,
) -> Result<Option<String>, GitHubError> {
    if notes.is_empty() {
        return Ok(None);
    }
    let done = crate::cas::retry_async("evidence notes through GitHub", |_| async move {
        let tip = gh.ref_sha(NOTES_API_REF).await?;
        let mut changes = Vec::new();
        for (commit, new) in notes {
            let stored = match &tip {
                Some(t) => gh
                    .file_text(&commit.to_string(), t)
                    .await?
                    .and_then(|t| Note::read(&t, *commit, keys.allowed)),
                None => None,
            };
            if let Some(merged) = Note::over(&Note::base(stored, keys.signer), new) {
                let text = merged
                    .text_for(*commit, keys.signer)
                    .map_err(|e| GitHubError::Signing(e.to_string()))?;
                changes.push((commit.to_string(), Some(text)));
            }
        }
        if changes.is_empty() {
            return Ok(Step::Done(None));
        }
        let message = format!(
            "gitgrant: evidence for {} landing commit(s) at {}",
            changes.len(),
            crate::grant::fmt_time(time)
        );
        let commit = gh.commit_on(tip.as_deref(), &changes, &message).await?;
        let moved = match &tip {
            Some(_) => gh.move_ref(NOTES_API_REF, &commit).await?,
            None => gh.create_ref(NOTES_API_REF, &commit).await?,
        };
        if !moved {
            return Ok(Step::Moved(format!("{NOTES_REF} moved on GitHub")));
        }
        tracing::info!("wrote evidence notes to {NOTES_REF} on GitHub: {commit}");
        Ok::<_, GitHubError>(Step::Done(Some(commit)))
    })
    .await?;
    done.ok_or_else(|| GitHubError::Moved(NOTES_REF.to_string()))
}
