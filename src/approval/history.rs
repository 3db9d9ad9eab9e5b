//! Auto-approval from the access history itself: what a rule's `history`
//! condition asks (has this person held the role before, how often lately,
//! did it go cleanly?), and how it is judged on the history before a
//! grant's landing.
//!
//! A grant is judged at its landing commit on the history before it (its
//! first parent), folded by the audit's own fold as of the landing's time
//! and digested into a [`Past`] by [`super::past`]: the check (as if it
//! merged now, at the base), the reconciler (at the landing, never trusting
//! the check) and `audit --github` read the same commits and reach the same
//! verdict. Only what the protected branch holds and what the reconciler
//! signed counts: a grant was *held* only when a signed evidence note (or a
//! signed removal's trailer) says what approved it, it did not land by a
//! direct push, and its window began before the landing judged.
//!
//! Everything here is pure: it reads neither git nor the audit.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::duration::GrantDuration;

/// What a rule asks of the access history before the grant landed
/// (docs/approval.md, "History"): every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCondition {
    /// The subject has held the role before, through an approved grant
    /// that was in force.
    pub held_before: bool,
    /// At most this many grants of the role to the subject landed in the
    /// period up to this one, this one included.
    pub max_grants: Option<Rate>,
    /// No audit finding on any of the subject's grants in this long before
    /// the landing.
    pub clean_for: Option<GrantDuration>,
}

/// `count` grants per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// How many grants, this one included.
    pub count: u32,
    /// Over how long, up to the landing.
    pub per: GrantDuration,
}

impl fmt::Display for HistoryCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut c = Vec::new();
        if self.held_before {
            c.push("held the role before".to_string());
        }
        if let Some(r) = self.max_grants {
            c.push(format!("at most {} grant(s) of it per {}", r.count, r.per));
        }
        if let Some(d) = self.clean_for {
            c.push(format!("no audit finding on their grants for {d}"));
        }
        f.write_str(&c.join(", "))
    }
}

/// One lifecycle of the history read, as far as a judgement needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastLifecycle {
    /// `<role>/<name>`.
    pub id: String,
    /// Which lifecycle of that id.
    pub occurrence: u32,
    /// The grant file.
    pub path: String,
    /// Its role.
    pub role: Option<String>,
    /// Its subject as it landed, then after each edit.
    pub subjects: Vec<Option<String>>,
    /// Who the subject was beyond their login when it landed
    /// ([`crate::policy::Policy::known_as`]).
    pub known_as: Vec<String>,
    /// When it landed.
    pub landed: DateTime<Utc>,
    /// Whether its file is still present at the commit read.
    pub open: bool,
    /// Whether it landed by a direct push (no pull request).
    pub direct_push: bool,
    /// Whether every version of it validated.
    pub valid: bool,
    /// What approved it, by what the reconciler signed, and from when that
    /// is known: its evidence note's `verified_at`, or (from a signed
    /// removal's trailer) the start of time; `None` when nothing signed
    /// says it was approved.
    pub approved_since: Option<DateTime<Utc>>,
    /// When its window began.
    pub window_start: Option<DateTime<Utc>>,
    /// When it was revoked, if it ended.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An audit finding on a grant, as far as a judgement needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingAt {
    /// Its rule id, such as `direct-push`.
    pub rule: String,
    /// The grant it is about.
    pub grant: String,
    /// Which lifecycle of it.
    pub occurrence: Option<u32>,
    /// When.
    pub time: DateTime<Utc>,
}

/// The history up to one commit, as of one moment: its lifecycles and the
/// findings on grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Past {
    /// Every lifecycle.
    pub lifecycles: Vec<PastLifecycle>,
    /// Every finding about a grant.
    pub findings: Vec<FindingAt>,
}

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
    pub rule: String,
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
    /// What `past` (the history up to `base`, as of the landing `at`) says
    /// of `subject` and the role of the grant's file. The subject's earlier grants are those
    /// whose subject, as they landed or were edited, is theirs, or who was
    /// known there by one of the identities or the email `known_as` lists:
    /// a person renamed in `people` keeps their grants and findings against
    /// the rate and `clean_for`, but only grants to their own login count
    /// as held.
    pub fn of(past: &Past, base: &str, judged: Judged<'_>) -> SubjectHistory {
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
        let by_login = |l: &PastLifecycle| l.subjects.iter().any(same);
        let theirs =
            |l: &PastLifecycle| by_login(l) || l.known_as.iter().any(|k| known_as.contains(k));
        // The grant's own lifecycle, when an edit of it is judged, is not
        // an earlier grant.
        let own = |l: &PastLifecycle| l.path == path && l.open;
        let mine: Vec<&PastLifecycle> = past
            .lifecycles
            .iter()
            .filter(|l| theirs(l) && !own(l) && l.landed <= at)
            .collect();
        let grants = mine
            .iter()
            .filter(|l| l.role.as_deref() == Some(role))
            .map(|l| PastGrant {
                id: l.id.clone(),
                occurrence: l.occurrence,
                landed: l.landed,
                // History that speaks for a person is their own login's;
                // what speaks against them follows them under any name.
                not_held: if by_login(l) {
                    not_held(l, subject, at)
                } else {
                    Some(format!(
                        "it was granted to {}, another login",
                        l.subjects
                            .first()
                            .cloned()
                            .flatten()
                            .unwrap_or_else(|| "someone".into())
                    ))
                },
            })
            .collect();
        let findings = past
            .findings
            .iter()
            .filter(|f| f.time <= at)
            .filter(|f| {
                mine.iter()
                    .any(|l| l.id == f.grant && Some(l.occurrence) == f.occurrence)
            })
            .map(|f| PastFinding {
                rule: f.rule.clone(),
                grant: f.grant.clone(),
                time: f.time,
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
                finding_words(&f.rule),
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
/// `None` when it does: approved by what the reconciler signed (known
/// before `at`), not landed by a direct push, valid, for `subject`
/// throughout, and in force before `at`.
fn not_held(l: &PastLifecycle, subject: &str, at: DateTime<Utc>) -> Option<String> {
    if l.direct_push {
        return Some("it landed by a direct push".into());
    }
    if !l.valid {
        return Some("it did not validate".into());
    }
    let theirs = |s: &Option<String>| {
        s.as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case(subject))
    };
    if !l.subjects.iter().all(theirs) {
        return Some("it named someone else for a time".into());
    }
    if l.approved_since.is_none_or(|t| t > at) {
        return Some("no approval of it that the reconciler signed".into());
    }
    let in_force = l
        .window_start
        .is_some_and(|start| start < at && l.revoked_at.is_none_or(|r| r > start));
    if !in_force {
        return Some("it was never in force before this one landed".into());
    }
    None
}

/// A finding's rule id, as a phrase after "grant X".
fn finding_words(rule: &str) -> String {
    match rule {
        "direct-push" => "landed by a direct push".into(),
        "late-removal" => "was removed late".into(),
        "extended" => "was extended by an edit".into(),
        "window-over-max" => "gave more than its role's max_duration".into(),
        "invalid-grant" => "did not validate".into(),
        "re-added" => "was re-added under a used name".into(),
        "unverified-evidence" => "carries evidence nobody signed".into(),
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

/// The history up to each of several commits, each as of its own moment.
#[derive(Debug, Default)]
pub struct Histories {
    pasts: BTreeMap<(String, DateTime<Utc>), Past>,
}

impl Histories {
    /// Keeps `past`: the history up to `base` as of `at`.
    pub fn insert(&mut self, base: String, at: DateTime<Utc>, past: Past) {
        self.pasts.insert((base, at), past);
    }

    /// The history before `subject`'s grant in file `path` landing (or
    /// edited) at `at`, read up to `base`; `None` when it was not read.
    pub fn of(
        &self,
        base: &str,
        at: DateTime<Utc>,
        subject: &str,
        known_as: &[String],
        path: &str,
    ) -> Option<SubjectHistory> {
        let past = self.pasts.get(&(base.to_string(), at))?;
        Some(SubjectHistory::of(
            past,
            base,
            Judged {
                subject,
                known_as,
                path,
                at,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                rule: "direct-push".into(),
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
