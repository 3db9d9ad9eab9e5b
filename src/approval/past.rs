//! Reading the access history for rules with a `history` condition: the
//! audit's own fold of the first-parent history up to each landing's base,
//! as of the landing's moment, with the reconciler's evidence notes,
//! digested into the [`Past`] that [`super::history`] judges. The history
//! is walked once for every moment asked about.

use chrono::{DateTime, Utc};

use super::Landed;
use super::history::{FindingAt, Histories, Past, PastLifecycle};
use crate::audit::{Audit, GitEvidence, Lifecycle};
use crate::git::notes::Approved;
use crate::git::{CommitId, GitError, Repo};

/// What `audit` says of each lifecycle and finding, as a judgement needs
/// it: only what the protected branch shows and what the reconciler signed.
pub fn digest(audit: &Audit) -> Past {
    Past {
        lifecycles: audit.lifecycles.iter().map(lifecycle).collect(),
        findings: audit
            .findings
            .iter()
            .filter_map(|f| {
                Some(FindingAt {
                    rule: f.rule.id().to_string(),
                    grant: f.grant.clone()?,
                    occurrence: f.occurrence,
                    time: f.time,
                })
            })
            .collect(),
    }
}

fn lifecycle(l: &Lifecycle) -> PastLifecycle {
    // What approved it: the reconciler's signed note (from when it was
    // verified), else a signed removal's trailer. A break-glass grant
    // counts once its review is recorded.
    let approved_since = match &l.recorded {
        Some(r) => match &r.approved {
            Approved::Reviews { approvals } if approvals.is_empty() => None,
            Approved::BreakGlass { review: None } => None,
            _ => Some(r.verified_at),
        },
        None => l
            .end
            .as_ref()
            .filter(|e| {
                e.by_reconciler
                    && e.approved_by
                        .as_deref()
                        .is_some_and(|b| !b.is_empty() && !b.starts_with("break-glass"))
            })
            .map(|_| DateTime::<Utc>::MIN_UTC),
    };
    PastLifecycle {
        id: l.id.clone(),
        occurrence: l.occurrence,
        path: l.path.clone(),
        role: l.role.clone(),
        subjects: std::iter::once(l.subject.clone())
            .chain(l.edits.iter().map(|e| e.subject.clone()))
            .collect(),
        known_as: l.known_as.clone(),
        landed: l.landed.time,
        open: l.end.is_none(),
        direct_push: l.landed.evidence == GitEvidence::None,
        valid: l.unreadable.is_none() && l.violations.is_empty(),
        approved_since,
        window_start: l.window.map(|w| w.start),
        revoked_at: l.end.as_ref().map(|e| e.revoked_at),
    }
}

/// Reads the first-parent history of `repo` up to each of `at` (a commit
/// and the moment it is judged as of), walking it once per set of allowed
/// signers (the file as each commit has it: evidence counts when the keys
/// trusted there signed it). Commits must lie on the first-parent line of
/// the newest of them; one that does not is not read (and a rule that
/// needs it approves nothing).
pub fn read(repo: &Repo, at: &[(CommitId, DateTime<Utc>)]) -> Result<Histories, GitError> {
    let mut by_signers: std::collections::BTreeMap<Option<String>, Vec<(CommitId, DateTime<Utc>)>> =
        Default::default();
    for (c, t) in at {
        let signers = repo.text_at(*c, crate::signing::ALLOWED_SIGNERS_PATH)?;
        by_signers.entry(signers).or_default().push((*c, *t));
    }
    let mut out = Histories::default();
    for (signers, at) in by_signers {
        let allowed = signers
            .as_deref()
            .and_then(|t| crate::signing::AllowedSigners::parse(t).ok());
        let options = crate::audit::Options {
            allowed,
            ..crate::audit::Options::default()
        };
        // The newest of them: the one that contains the others.
        let newest = at
            .iter()
            .map(|(c, _)| *c)
            .find(|c| at.iter().all(|(o, _)| repo.contains(*c, *o)))
            .unwrap_or(at[0].0);
        let checkpoints: Vec<(String, DateTime<Utc>)> =
            at.iter().map(|(c, t)| (c.to_string(), *t)).collect();
        let audits = repo.history_streamed(newest, true, &mut |_| {}, |rx| {
            crate::audit::audits_at(rx, &checkpoints, &options)
        })?;
        let notes = repo.notes(options.allowed.as_ref());
        for ((commit, time), mut audit) in audits {
            crate::audit::add_recorded(&mut audit, &notes);
            out.insert(commit, time, digest(&audit));
        }
    }
    Ok(out)
}

/// The first parent of `commit` (the base a pull request merged into),
/// or `commit` itself for a root commit.
pub fn base_of(repo: &Repo, commit: &str) -> Result<CommitId, GitError> {
    match repo.resolve(&format!("{commit}^1")) {
        Ok(c) => Ok(c),
        Err(_) => repo.resolve(commit),
    }
}

/// The history before each of `grants` whose role (in the policy of its
/// base) has a rule with a `history` condition, read in one walk: nothing
/// is read when no such grant is judged.
pub fn for_landings(repo: &Repo, grants: &[Landed]) -> Result<Histories, GitError> {
    let mut at = Vec::new();
    // Grants landed together share a base: its policy is read once.
    let mut policies = std::collections::HashMap::new();
    for g in grants.iter().filter(|g| !g.break_glass) {
        let base = base_of(repo, &g.commit)?;
        let policy = match policies.entry(base) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(
                repo.policy_at(base)?
                    .and_then(|f| crate::validate::read_policy(&f).0),
            ),
        };
        let Some(policy) = policy else {
            continue;
        };
        let ruled = crate::grant::GrantId::from_path(&g.need.path)
            .and_then(|id| policy.roles.get(&id.role))
            .is_some_and(|r| r.auto_approve.iter().any(|r| r.history.is_some()));
        if ruled {
            at.push((base, repo.commit_time(repo.resolve(&g.commit)?)?));
        }
    }
    if at.is_empty() {
        return Ok(Histories::default());
    }
    read(repo, &at)
}
