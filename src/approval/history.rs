//! Auto-approval from the access history itself: what a rule's `history`
//! condition asks (has this person held the role before, how often lately,
//! did it go cleanly?), answered from the audit of the history before a
//! grant's landing.
//!
//! A grant is judged at its landing commit on the history before it (its
//! first parent), folded by the audit's own fold as of the landing's time:
//! the check (as if it merged now, at the base), the reconciler (at the
//! landing, never trusting the check) and `audit --github` read the same
//! commits and reach the same verdict. Only what the protected branch holds
//! and what the reconciler signed counts: a grant was *held* only when a
//! signed evidence note (or a signed removal's trailer) says what approved
//! it, it did not land by a direct push, and its window began before the
//! landing judged.
//!
//! [`read`] walks the history once for every moment asked about; the
//! rest here is pure.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::rules::HistoryCondition;
use crate::audit::{Audit, FindingRule, GitEvidence, Lifecycle};
use crate::duration::GrantDuration;
use crate::git::notes::Approved;
use crate::git::{CommitId, GitError, Repo};

/// One of the subject's earlier grants of the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PastGrant {
    /// `<role>/<name>`.
    pub id: String,
    /// Which lifecycle of that id.
    pub occurrence: u32,
    /// When it landed.
    #[serde(serialize_with = "crate::grant::ser_time")]
    #[schemars(with = "String")]
    pub landed: DateTime<Utc>,
    /// Why it does not count as held; `None` when it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_held: Option<String>,
}

/// An audit finding on one of the subject's grants (of any role).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct PastFinding {
    /// Its rule id.
    pub rule: FindingRule,
    /// The grant it is about.
    pub grant: String,
    /// When.
    #[serde(serialize_with = "crate::grant::ser_time")]
    #[schemars(with = "String")]
    pub time: DateTime<Utc>,
}

/// The grant whose history is asked about.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    /// Its subject.
    pub subject: &'a str,
    /// Who the subject is beyond their login
    /// ([`crate::policy::Policy::known_as`]).
    pub known_as: &'a [String],
    /// Its file, `grants/<role>/<name>.yaml`.
    pub path: &'a str,
    /// When it lands (or the edit judged does).
    pub at: DateTime<Utc>,
}

/// What the history before one landing says of a subject and a role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SubjectHistory {
    /// The commit the history was read up to: the landing's first parent
    /// (the check: the base branch).
    pub base: String,
    /// The subject, as the grant names them.
    pub subject: String,
    /// The role.
    pub role: String,
    /// The subject's earlier grants of the role, oldest first.
    pub grants: Vec<PastGrant>,
    /// Findings on any of the subject's grants, oldest first.
    pub findings: Vec<PastFinding>,
    /// The subject's other grants of the role landing together with this
    /// one (in one commit, or one pull request): they count against the
    /// rate with it, so that one request split into several files is
    /// still several grants.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alongside: Vec<String>,
}

/// What a rule's history condition was judged on, for the audit and the
/// evidence: the grant that counts as held, the grants counted against the
/// rate, and the findings within `clean_for`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, JsonSchema)]
pub struct Seen {
    /// The commit the history was read up to.
    pub base: String,
    /// The latest earlier grant that counts as held (`held_before`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<String>,
    /// Grants of the role to the subject in the rule's period, this one
    /// included (`max_grants`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants_in_period: Option<u32>,
    /// Findings within `clean_for`, as `rule grant`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

impl Seen {
    /// In words, for the check's comment: `held prod-readonly/alice-1
    /// before; 2 grant(s) of the role in the rule's period, this one
    /// included; no audit finding within clean_for`.
    pub fn words(&self, condition: &HistoryCondition) -> String {
        let mut w = Vec::new();
        if let Some(h) = &self.held {
            w.push(format!("held {h} before"));
        }
        if let Some(n) = self.grants_in_period {
            w.push(format!(
                "{n} grant(s) of the role in the rule's period, this one included"
            ));
        }
        if condition.clean_for.is_some() {
            w.push(match self.findings.as_slice() {
                [] => "no audit finding within clean_for".to_string(),
                f => format!("findings within clean_for: {}", f.join(", ")),
            });
        }
        w.join("; ")
    }
}

impl SubjectHistory {
    /// What `audit` (the history up to `base`, as of the landing `at`) says
    /// of `subject` and `role`. The subject's earlier grants are those
    /// whose subject, as they landed or were edited, is theirs, or who was
    /// known there by one of the identities or the email `known_as` lists:
    /// a person renamed in `people` keeps their grants and findings against
    /// the rate and `clean_for`, but only grants to their own login count
    /// as held.
    pub fn of(audit: &Audit, base: &str, judged: Judged<'_>) -> SubjectHistory {
        let Judged {
            subject,
            known_as,
            path,
            at,
        } = judged;
        let role = crate::grant::GrantId::from_path(path)
            .map(|id| id.role)
            .unwrap_or_default();
        let role = role.as_str();
        let same = |s: &Option<String>| {
            s.as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(subject))
        };
        let by_login = |l: &Lifecycle| same(&l.subject) || l.edits.iter().any(|e| same(&e.subject));
        let theirs = |l: &Lifecycle| by_login(l) || l.known_as.iter().any(|k| known_as.contains(k));
        // The grant's own lifecycle, when an edit of it is judged, is not
        // an earlier grant.
        let own = |l: &Lifecycle| l.path == path && l.end.is_none();
        let mine: Vec<&Lifecycle> = audit
            .lifecycles
            .iter()
            .filter(|l| theirs(l) && !own(l) && l.landed.time <= at)
            .collect();
        let grants = mine
            .iter()
            .filter(|l| l.role.as_deref() == Some(role))
            .map(|l| PastGrant {
                id: l.id.clone(),
                occurrence: l.occurrence,
                landed: l.landed.time,
                // History that speaks for a person is their own login's;
                // what speaks against them follows them under any name.
                not_held: if by_login(l) {
                    not_held(l, subject, at)
                } else {
                    Some(format!(
                        "it was granted to {}, another login",
                        l.subject.as_deref().unwrap_or("someone")
                    ))
                },
            })
            .collect();
        let findings = audit
            .findings
            .iter()
            .filter(|f| f.time <= at)
            .filter_map(|f| {
                let grant = f.grant.as_ref()?;
                mine.iter()
                    .any(|l| &l.id == grant && Some(l.occurrence) == f.occurrence)
                    .then(|| PastFinding {
                        rule: f.rule,
                        grant: grant.clone(),
                        time: f.time,
                    })
            })
            .collect();
        SubjectHistory {
            base: base.to_string(),
            subject: subject.to_string(),
            role: role.to_string(),
            grants,
            findings,
            alongside: Vec::new(),
        }
    }

    /// The latest earlier grant that counts as held.
    fn held(&self) -> Option<&PastGrant> {
        self.grants.iter().rev().find(|g| g.not_held.is_none())
    }

    /// Grants of the role landed in the `per` up to `at`, this one included.
    fn in_period(&self, per: GrantDuration, at: DateTime<Utc>) -> u32 {
        let from = at - per.to_delta();
        let earlier = self.grants.iter().filter(|g| g.landed > from).count();
        u32::try_from(earlier + self.alongside.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// Findings within `d` before `at`.
    fn findings_within(&self, d: GrantDuration, at: DateTime<Utc>) -> Vec<&PastFinding> {
        let from = at - d.to_delta();
        self.findings.iter().filter(|f| f.time >= from).collect()
    }

    /// Why `condition` does not hold for a grant landing at `at`, each in
    /// plain words; empty when it does.
    pub fn unmet(&self, condition: &HistoryCondition, at: DateTime<Utc>) -> Vec<String> {
        let (who, role) = (&self.subject, &self.role);
        let mut why = Vec::new();
        if condition.held_before && self.held().is_none() {
            let mut line = format!("{who} has never held {role}");
            if let Some(g) = self.grants.last() {
                line.push_str(&format!(
                    " (their grant {} does not count: {})",
                    g.id,
                    g.not_held.as_deref().unwrap_or_default()
                ));
            }
            why.push(line);
        }
        if let Some(rate) = condition.max_grants {
            let n = self.in_period(rate.per, at);
            if n > rate.count {
                why.push(format!(
                    "{who}'s {} grant of {role} in {}, over the rule's {}",
                    ordinal(n),
                    rate.per,
                    rate.count
                ));
            }
        }
        if let Some(d) = condition.clean_for
            && let Some(f) = self.findings_within(d, at).last()
        {
            why.push(format!(
                "{who}'s grant {} {} {} ago (within the rule's clean_for {d})",
                f.grant,
                finding_words(f.rule),
                ago(at - f.time)
            ));
        }
        why
    }

    /// The facts `condition` was judged on at `at`.
    pub fn seen(&self, condition: &HistoryCondition, at: DateTime<Utc>) -> Seen {
        Seen {
            base: self.base.clone(),
            held: condition
                .held_before
                .then(|| self.held().map(|g| g.id.clone()))
                .flatten(),
            grants_in_period: condition.max_grants.map(|r| self.in_period(r.per, at)),
            findings: condition
                .clean_for
                .map(|d| {
                    self.findings_within(d, at)
                        .iter()
                        .map(|f| format!("{} {}", f.rule, f.grant))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// Why lifecycle `l` does not count as a grant `subject` held before `at`;
/// `None` when it does: approved by what the reconciler signed, not
/// landed by a direct push, readable, and in force before `at`.
fn not_held(l: &Lifecycle, subject: &str, at: DateTime<Utc>) -> Option<String> {
    if l.landed.evidence == GitEvidence::None {
        return Some("it landed by a direct push".into());
    }
    if l.unreadable.is_some() || !l.violations.is_empty() {
        return Some("it did not validate".into());
    }
    let for_someone_else = |s: &Option<String>| {
        !s.as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(subject))
    };
    if for_someone_else(&l.subject) || l.edits.iter().any(|e| for_someone_else(&e.subject)) {
        return Some("it named someone else for a time".into());
    }
    // What approved it: the reconciler's signed note, verified before the
    // landing judged; else a signed removal's trailer (the removal is in
    // the history before it). A break-glass grant counts once its review
    // is recorded.
    let approved = match l.recorded.as_ref().filter(|r| r.verified_at <= at) {
        Some(r) => match &r.approved {
            Approved::Reviews { approvals } => !approvals.is_empty(),
            Approved::Rule { .. } => true,
            Approved::BreakGlass { review } => review.is_some(),
        },
        None => l.end.as_ref().is_some_and(|e| {
            e.by_reconciler
                && e.approved_by
                    .as_deref()
                    .is_some_and(|b| !b.is_empty() && !b.starts_with("break-glass"))
        }),
    };
    if !approved {
        return Some("no approval of it that the reconciler signed".into());
    }
    let in_force = l
        .window
        .is_some_and(|w| w.start < at && l.end.as_ref().is_none_or(|e| e.revoked_at > w.start));
    if !in_force {
        return Some("it was never in force before this one landed".into());
    }
    None
}

/// A finding's rule, as a phrase after "grant X".
fn finding_words(rule: FindingRule) -> String {
    match rule {
        FindingRule::DirectPush => "landed by a direct push".into(),
        FindingRule::LateRemoval => "was removed late".into(),
        FindingRule::Extended => "was extended by an edit".into(),
        FindingRule::WindowOverMax => "gave more than its role's max_duration".into(),
        FindingRule::InvalidGrant => "did not validate".into(),
        FindingRule::ReAdded => "was re-added under a used name".into(),
        FindingRule::UnverifiedEvidence => "carries evidence nobody signed".into(),
        other => format!("has a {other} finding"),
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, … `11th`, `21st`.
fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// How long ago, in the largest whole unit: `6 days`, `3 hours`, `5 minutes`.
fn ago(d: TimeDelta) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match (d.num_days(), d.num_hours(), d.num_minutes()) {
        (days, _, _) if days >= 1 => plural(days, "day"),
        (_, hours, _) if hours >= 1 => plural(hours, "hour"),
        (_, _, minutes) => plural(minutes.max(0), "minute"),
    }
}

/// The audit of the history up to each of several commits, each as of its
/// own moment, from one walk.
#[derive(Debug, Default)]
pub struct Histories {
    audits: BTreeMap<(String, DateTime<Utc>), Audit>,
}

impl Histories {
    /// The history before `subject`'s grant in file `path` landing (or
    /// edited) at `at`, read up to `base`; `None` when it was not read.
    pub fn of(
        &self,
        base: CommitId,
        at: DateTime<Utc>,
        subject: &str,
        known_as: &[String],
        path: &str,
    ) -> Option<SubjectHistory> {
        let audit = self.audits.get(&(base.to_string(), at))?;
        Some(SubjectHistory::of(
            audit,
            &base.to_string(),
            Judged {
                subject,
                known_as,
                path,
                at,
            },
        ))
    }
}

/// Reads the first-parent history of `repo` up to each of `at` (a commit
/// and the moment it is judged as of) into an audit with the reconciler's
/// evidence notes added, walking the history once per set of allowed
/// signers (the file as each commit has it: evidence counts when the keys
/// trusted there signed it). Every commit must lie on the first-parent
/// line of the newest.
pub fn read(repo: &Repo, at: &[(CommitId, DateTime<Utc>)]) -> Result<Histories, GitError> {
    let mut by_signers: BTreeMap<Option<String>, Vec<(CommitId, DateTime<Utc>)>> = BTreeMap::new();
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
        // The newest of them: the one that contains the others. One that
        // is not on its line is not reached, and its history is not read
        // (which approves nothing).
        let newest = at
            .iter()
            .map(|(c, _)| *c)
            .find(|c| at.iter().all(|(o, _)| repo.contains(*c, *o)))
            .unwrap_or(at[0].0);
        let checkpoints: Vec<(String, DateTime<Utc>)> =
            at.iter().map(|(c, t)| (c.to_string(), *t)).collect();
        let mut commits = Vec::new();
        repo.history_each_all(newest, &mut |_| {}, &mut |c| {
            commits.push(c);
            true
        })?;
        let notes = repo.notes(options.allowed.as_ref());
        for ((commit, time), mut audit) in crate::audit::audits_at(commits, &checkpoints, &options)
        {
            crate::audit::add_recorded(&mut audit, &notes);
            out.audits.insert((commit, time), audit);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::rules::Rate;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn grant(id: &str, landed: &str, not_held: Option<&str>) -> PastGrant {
        PastGrant {
            id: id.into(),
            occurrence: 1,
            landed: t(landed),
            not_held: not_held.map(Into::into),
        }
    }

    fn history() -> SubjectHistory {
        SubjectHistory {
            base: "b".into(),
            subject: "alice".into(),
            role: "prod-readonly".into(),
            grants: vec![
                grant("prod-readonly/alice-1", "2026-11-01T09:00:00Z", None),
                grant("prod-readonly/alice-2", "2026-11-20T09:00:00Z", None),
                grant(
                    "prod-readonly/alice-3",
                    "2026-11-24T09:00:00Z",
                    Some("it landed by a direct push"),
                ),
            ],
            findings: vec![PastFinding {
                rule: FindingRule::DirectPush,
                grant: "prod-readonly/alice-3".into(),
                time: t("2026-11-24T09:00:00Z"),
            }],
            alongside: vec![],
        }
    }

    fn condition() -> HistoryCondition {
        HistoryCondition {
            held_before: true,
            max_grants: Some(Rate {
                count: 2,
                per: "7d".parse().unwrap(),
            }),
            clean_for: Some("30d".parse().unwrap()),
        }
    }

    #[test]
    fn each_condition_says_what_it_found_in_plain_words() {
        let at = t("2026-11-25T09:00:00Z");
        let why = history().unmet(&condition(), at);
        // Held: alice-2 counts, though the latest does not.
        assert_eq!(
            why,
            [
                "alice's 3rd grant of prod-readonly in 7d, over the rule's 2",
                "alice's grant prod-readonly/alice-3 landed by a direct push 1 day ago (within the rule's clean_for 30d)",
            ]
        );
        let seen = history().seen(&condition(), at);
        assert_eq!(seen.held.as_deref(), Some("prod-readonly/alice-2"));
        assert_eq!(seen.grants_in_period, Some(3));
        assert_eq!(seen.findings, ["direct-push prod-readonly/alice-3"]);
    }

    #[test]
    fn the_period_and_clean_for_end_at_the_landing_judged() {
        // A month and a minute after alice-3: no grant in the week before,
        // and its finding is past clean_for; alice-2 still counts as held.
        let later = t("2026-12-25T09:01:00Z");
        assert_eq!(history().unmet(&condition(), later), Vec::<String>::new());
        // Grants landing alongside count as grants.
        let mut h = history();
        h.alongside = vec!["grants/prod-readonly/alice-5.yaml".into()];
        h.findings.clear();
        let why = h.unmet(&condition(), t("2026-11-25T09:00:00Z"));
        assert_eq!(
            why,
            ["alice's 4th grant of prod-readonly in 7d, over the rule's 2"]
        );
    }

    #[test]
    fn nobody_held_says_why_the_latest_grant_does_not_count() {
        let h = SubjectHistory {
            grants: vec![grant(
                "prod-readonly/alice-1",
                "2026-11-01T09:00:00Z",
                Some("no approval of it that the reconciler signed"),
            )],
            findings: vec![],
            ..history()
        };
        let c = HistoryCondition {
            held_before: true,
            max_grants: None,
            clean_for: None,
        };
        assert_eq!(
            h.unmet(&c, t("2026-11-25T09:00:00Z")),
            [
                "alice has never held prod-readonly (their grant prod-readonly/alice-1 does not count: no approval of it that the reconciler signed)"
            ]
        );
    }

    #[test]
    fn ordinals_and_ages_read_as_english() {
        let o: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            o,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st",
                "111th"
            ]
        );
        assert_eq!(ago(TimeDelta::minutes(1)), "1 minute");
        assert_eq!(ago(TimeDelta::minutes(119)), "1 hour");
        assert_eq!(ago(TimeDelta::days(6)), "6 days");
        assert_eq!(ago(TimeDelta::seconds(-5)), "0 minutes");
    }
}
