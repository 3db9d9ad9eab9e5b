//! Auto-approval rules, judged as pure values (issue 14, head start): a
//! grant is approved by a rule when every condition of the rule holds over
//! the whole window it approves, and that window starts at the landing
//! (within [`START_SLACK`]). Nothing here reads git, GitHub or an
//! on-call schedule: the caller gathers those facts into [`Facts`], so the
//! check and the reconciler judge alike and the reconciler never trusts
//! the check's verdict.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::Serialize;

pub use crate::approval::history::{HistoryCondition, Rate};
use crate::duration::GrantDuration;
use crate::grant::Window;

/// Who may be a grant's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    /// Anyone in `people`.
    Anyone,
    /// One login.
    Login(String),
    /// Members of a GitHub team (`@org/team`), known only to GitHub.
    Team(String),
}

impl std::fmt::Display for Requester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requester::Anyone => f.write_str("*"),
            Requester::Login(l) => f.write_str(l),
            Requester::Team(t) => f.write_str(t),
        }
    }
}

/// How long after its landing a rule-approved window may start: a rule
/// approves access that begins when it lands, not a window booked for
/// later (when the rule's conditions were never asked about).
pub const START_SLACK: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Office hours: the days and the times of day, in a time zone, in which a
/// grant may land. `from` is inside, `to` is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    /// The days of the week, in the time zone.
    pub days: Vec<Weekday>,
    /// The first moment of each day inside.
    pub from: NaiveTime,
    /// The first moment of each day outside again (after `from`).
    pub to: NaiveTime,
    /// The IANA time zone, such as `Europe/Berlin`: daylight saving is the
    /// zone's own.
    pub time_zone: Tz,
}

/// Why a field of [`Hours`] cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    /// A day that is not `mon` … `sun`.
    #[error("`{0}` is not a day: write mon, tue, wed, thu, fri, sat or sun")]
    Day(String),
    /// A time that is not `HH:MM`.
    #[error("`{0}` is not a time of day: write HH:MM, such as 09:00")]
    Time(String),
    /// `to` not after `from`.
    #[error("`to` ({to}) must come after `from` ({from}) on the same day")]
    Order {
        /// The start.
        from: String,
        /// The end.
        to: String,
    },
    /// A zone not in the IANA database.
    #[error("`{0}` is not an IANA time zone, such as Europe/Berlin or America/New_York")]
    Zone(String),
}

impl Hours {
    /// Reads hours as the policy writes them.
    pub fn parse(days: &[String], from: &str, to: &str, zone: &str) -> Result<Hours, HoursError> {
        let days = days
            .iter()
            .map(|d| match d.as_str() {
                "mon" => Ok(Weekday::Mon),
                "tue" => Ok(Weekday::Tue),
                "wed" => Ok(Weekday::Wed),
                "thu" => Ok(Weekday::Thu),
                "fri" => Ok(Weekday::Fri),
                "sat" => Ok(Weekday::Sat),
                "sun" => Ok(Weekday::Sun),
                other => Err(HoursError::Day(other.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let time = |t: &str| {
            NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| HoursError::Time(t.to_string()))
        };
        let (start, end) = (time(from)?, time(to)?);
        if end <= start {
            return Err(HoursError::Order {
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        let time_zone: Tz = zone
            .parse()
            .map_err(|_| HoursError::Zone(zone.to_string()))?;
        Ok(Hours {
            days,
            from: start,
            to: end,
            time_zone,
        })
    }

    /// Whether the instant `at` falls inside: its local day is one of
    /// `days` and its local time is in `[from, to)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&self.time_zone);
        let time = local.time();
        self.days.contains(&local.weekday()) && self.from <= time && time < self.to
    }

    /// Whether every instant of `window` falls inside: its start and its
    /// last instant are inside on the same local day (the hours of one day
    /// are one interval, so nothing between them is outside).
    pub fn covers(&self, window: &Window) -> bool {
        let last = window.end - chrono::TimeDelta::nanoseconds(1);
        let day = |t: DateTime<Utc>| t.with_timezone(&self.time_zone).date_naive();
        window.start < window.end
            && self.contains(window.start)
            && self.contains(last)
            && day(window.start) == day(last)
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<String> = self
            .days
            .iter()
            .map(|d| d.to_string().to_lowercase())
            .collect();
        write!(
            f,
            "{} {}–{} {}",
            days.join(","),
            self.from.format("%H:%M"),
            self.to.format("%H:%M"),
            self.time_zone
        )
    }
}

/// One auto-approval rule of a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name, as the check, the reconciler and the audit name it.
    pub name: String,
    /// The longest window it approves.
    pub max_duration: Option<GrantDuration>,
    /// Who it admits as subjects; empty: whoever the role admits. (Teams
    /// are resolved by the caller into `Facts::requester_admitted`.)
    pub requesters: Vec<Requester>,
    /// Hours that must hold the grant's whole window.
    pub hours: Option<Hours>,
    /// The schedule that must have the subject on call for the whole window.
    pub on_call: Option<Schedule>,
    /// Whether the grant must carry a ticket matching the role's pattern.
    pub require_ticket: bool,
    /// What the subject's own history with the role must show.
    pub history: Option<HistoryCondition>,
}

/// An on-call schedule, in the service that keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Schedule {
    /// A PagerDuty schedule id.
    PagerDuty(String),
    /// An Opsgenie schedule id.
    Opsgenie(String),
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::PagerDuty(id) => write!(f, "PagerDuty schedule {id}"),
            Schedule::Opsgenie(id) => write!(f, "Opsgenie schedule {id}"),
        }
    }
}

impl Rule {
    /// Its conditions in words, for the plan comment and the docs (docs/approval.md):
    /// `on call in PagerDuty schedule PABC123, at most 1h`.
    pub fn conditions(&self) -> String {
        let mut c = Vec::new();
        if let Some(s) = &self.on_call {
            c.push(format!("on call in {s}"));
        }
        if let Some(h) = &self.hours {
            c.push(format!("the whole window within {h}"));
        }
        if let Some(d) = self.max_duration {
            c.push(format!("at most {d}"));
        }
        if self.require_ticket {
            c.push("with a ticket".to_string());
        }
        if let Some(h) = &self.history {
            c.push(h.to_string());
        }
        if !self.requesters.is_empty() {
            let who: Vec<String> = self.requesters.iter().map(ToString::to_string).collect();
            c.push(format!("for {}", who.join(", ")));
        }
        c.join(", ")
    }
}

/// What the caller found out about one grant, at its landing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The grant's subject.
    pub subject: String,
    /// The pull request's author (the one who asked).
    pub author: String,
    /// Whether the rule's `requesters` admit the subject (teams resolved
    /// through GitHub by the caller); `None` when that could not be found.
    pub requester_admitted: Option<bool>,
    /// What counts against `max_duration`: the grant's whole window,
    /// joined with the windows of the subject's other grants of the role
    /// that overlap or adjoin it; `None` when it cannot be computed.
    pub duration: Option<GrantDuration>,
    /// The window the rule approves (from its landing at the earliest);
    /// `None` when it cannot be computed.
    pub window: Option<Window>,
    /// The subject's email in the policy, which schedules name people by.
    pub email: Option<String>,
    /// When it landed.
    pub landed: DateTime<Utc>,
    /// Whether it carries a ticket matching the role's pattern.
    pub ticket_matches: bool,
    /// Whether the schedule has the subject on call for every instant of
    /// `window`; `None` when the schedule could not be read (which approves
    /// nothing).
    pub on_call: Option<bool>,
    /// The subject's history with the role before the landing, for rules
    /// with a `history` condition; `None` when it was not or could not be
    /// read (which approves nothing).
    pub history: Option<crate::approval::history::SubjectHistory>,
}

/// `window` joined with every window of `others` that overlaps or adjoins
/// it, and theirs in turn: the span of continuous access they give.
pub fn joined(window: Window, others: &[Window]) -> Window {
    let mut span = window;
    loop {
        let before = span;
        for o in others {
            if o.start <= span.end && span.start <= o.end {
                span.start = span.start.min(o.start);
                span.end = span.end.max(o.end);
            }
        }
        if span == before {
            return span;
        }
    }
}

/// Why a rule does not approve a grant, each failing condition in words;
/// empty when it does.
pub fn unmet(rule: &Rule, facts: &Facts) -> Vec<String> {
    let mut why = Vec::new();
    if facts.subject != facts.author {
        why.push(format!(
            "{} asked for {}: a rule approves only one's own request",
            facts.author, facts.subject
        ));
    }
    if let Some(max) = rule.max_duration {
        match facts.duration {
            Some(d) if d > max => why.push(format!(
                "the window is {d}, over the rule's {max} (counting the subject's adjoining windows of the role)"
            )),
            Some(_) => {}
            None => why.push("the window cannot be computed".into()),
        }
    }
    match facts.requester_admitted {
        Some(true) => {}
        Some(false) => why.push(format!("{} is not among its requesters", facts.subject)),
        None => why.push("its requesters' teams could not be read".into()),
    }
    let Some(window) = facts.window else {
        why.push("the window cannot be computed".into());
        return why;
    };
    if window.start > facts.landed + START_SLACK {
        why.push(format!(
            "the window starts {}, over {} after it landed ({}): a rule approves only access that starts when it lands",
            crate::grant::fmt_time(window.start),
            GrantDuration::from_delta(START_SLACK).map_or_else(String::new, |d| d.to_string()),
            crate::grant::fmt_time(facts.landed),
        ));
    }
    if let Some(hours) = &rule.hours
        && !hours.covers(&window)
    {
        let local = |t: DateTime<Utc>| t.with_timezone(&hours.time_zone).format("%a %H:%M");
        why.push(format!(
            "the window {}–{} ({}) reaches outside {hours}",
            local(window.start),
            local(window.end),
            hours.time_zone
        ));
    }
    if let Some(schedule) = &rule.on_call {
        match facts.on_call {
            _ if facts.email.is_none() => why.push(format!(
                "{} has no email in gitgrant.yaml's people, which {schedule} could name",
                facts.subject
            )),
            Some(true) => {}
            Some(false) => why.push(format!(
                "{} was not on call in {schedule} for the whole window",
                facts.subject
            )),
            None => why.push(format!("{schedule} could not be read: nothing is approved")),
        }
    }
    if rule.require_ticket && !facts.ticket_matches {
        why.push("it carries no ticket matching the role's pattern".into());
    }
    if let Some(condition) = &rule.history {
        match &facts.history {
            Some(h) => why.extend(h.unmet(condition, facts.landed)),
            None => why.push(
                "the access history before the landing could not be read: nothing is approved"
                    .into(),
            ),
        }
    }
    why
}

/// What a role's rules say of one grant, judged at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Judgement {
    /// The moment judged: the landing (reconciler, audit) or now (check).
    #[serde(serialize_with = "crate::grant::ser_time")]
    #[schemars(with = "String")]
    pub at: DateTime<Utc>,
    /// The first rule that holds, if any.
    pub approved_by: Option<String>,
    /// Each rule and why it does not hold (empty when it does).
    pub rules: Vec<RuleOutcome>,
}

/// One rule's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RuleOutcome {
    /// The rule's name.
    pub rule: String,
    /// Why it does not approve; empty when it does.
    pub unmet: Vec<String>,
    /// The history facts it was judged on, for a rule with a `history`
    /// condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::approval::history::Seen>,
}

impl Judgement {
    /// Judges each rule over the facts gathered for it.
    pub fn of<'r>(
        at: DateTime<Utc>,
        judged: impl IntoIterator<Item = (&'r Rule, Facts)>,
    ) -> Judgement {
        let rules: Vec<RuleOutcome> = judged
            .into_iter()
            .map(|(r, facts)| RuleOutcome {
                rule: r.name.clone(),
                unmet: unmet(r, &facts),
                history: r
                    .history
                    .as_ref()
                    .zip(facts.history.as_ref())
                    .map(|(c, h)| h.seen(c, facts.landed)),
            })
            .collect();
        Judgement {
            at,
            approved_by: rules
                .iter()
                .find(|r| r.unmet.is_empty())
                .map(|r| r.rule.clone()),
            rules,
        }
    }

    /// One line for people: `approved by rule on-call`, or each rule's
    /// reasons.
    pub fn summary(&self) -> String {
        if let Some(r) = &self.approved_by {
            return format!("approved by rule {r}");
        }
        let why: Vec<String> = self
            .rules
            .iter()
            .map(|r| format!("{}: {}", r.rule, r.unmet.join("; ")))
            .collect();
        format!("no rule approves it ({})", why.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn berlin_office() -> Hours {
        let days: Vec<String> = ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| d.to_string())
            .collect();
        Hours::parse(&days, "09:00", "18:00", "Europe/Berlin").unwrap()
    }

    #[test]
    fn hours_follow_the_zones_own_daylight_saving() {
        let h = berlin_office();
        // Winter (CET, UTC+1): 17:59 local is in, 18:01 is out.
        assert!(h.contains(t("2026-11-24T16:59:00Z")));
        assert!(!h.contains(t("2026-11-24T17:01:00Z")));
        // Summer (CEST, UTC+2): the same UTC instant is 19:01 local.
        assert!(!h.contains(t("2026-07-14T17:01:00Z")));
        assert!(h.contains(t("2026-07-14T15:59:00Z")));
        // The week of the change, 29 March 2026: Friday 08:30Z is 09:30
        // CET (in); the Monday after, 07:30Z is already 09:30 CEST (in)
        // and 06:30Z is 08:30 (out).
        assert!(h.contains(t("2026-03-27T08:30:00Z")));
        assert!(h.contains(t("2026-03-30T07:30:00Z")));
        assert!(!h.contains(t("2026-03-30T06:30:00Z")));
        // The Sunday of the change is no office day at any hour.
        assert!(!h.contains(t("2026-03-29T10:00:00Z")));
        // Midnight UTC on a Friday is Friday 01:00 in Berlin: out by time.
        assert!(!h.contains(t("2026-11-27T00:00:00Z")));
    }

    #[test]
    fn hours_fields_are_checked() {
        let days = vec!["mon".to_string(), "funday".to_string()];
        assert_eq!(
            Hours::parse(&days, "09:00", "18:00", "Europe/Berlin"),
            Err(HoursError::Day("funday".into()))
        );
        let days = vec!["mon".to_string()];
        assert!(matches!(
            Hours::parse(&days, "18:00", "09:00", "Europe/Berlin"),
            Err(HoursError::Order { .. })
        ));
        assert_eq!(
            Hours::parse(&days, "9am", "18:00", "Europe/Berlin"),
            Err(HoursError::Time("9am".into()))
        );
        assert_eq!(
            Hours::parse(&days, "09:00", "18:00", "Mars/Olympus"),
            Err(HoursError::Zone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn hours_cover_a_window_only_when_every_instant_is_inside() {
        let h = berlin_office();
        let w = |a: &str, b: &str| Window {
            start: t(a),
            end: t(b),
        };
        // Tuesday 10:00–18:00 Berlin (CET): the end is outside, the last
        // instant inside.
        assert!(h.covers(&w("2026-11-24T09:00:00Z", "2026-11-24T17:00:00Z")));
        assert!(!h.covers(&w("2026-11-24T09:00:00Z", "2026-11-24T17:00:01Z")));
        // Friday 17:00 until Monday 10:00: both ends inside, the weekend not.
        assert!(!h.covers(&w("2026-11-27T16:00:00Z", "2026-11-30T09:00:00Z")));
        // Sunday night, whatever the landing.
        assert!(!h.covers(&w("2026-11-29T21:00:00Z", "2026-11-29T22:00:00Z")));
    }

    #[test]
    fn a_window_that_starts_after_the_slack_is_not_approved() {
        let later = Facts {
            window: Some(Window {
                start: t("2026-11-28T10:00:00Z"),
                end: t("2026-11-28T11:00:00Z"),
            }),
            ..facts()
        };
        let why = unmet(&on_call_rule(), &later);
        assert!(why[0].contains("starts when it lands"), "{why:?}");
        let within = Facts {
            window: Some(Window {
                start: t("2026-11-24T10:05:00Z"),
                end: t("2026-11-24T11:00:00Z"),
            }),
            ..facts()
        };
        assert_eq!(unmet(&on_call_rule(), &within), Vec::<String>::new());
    }

    fn on_call_rule() -> Rule {
        Rule {
            name: "on-call".into(),
            max_duration: Some("1h".parse().unwrap()),
            requesters: vec![],
            hours: None,
            on_call: Some(Schedule::PagerDuty("PABC123".into())),
            require_ticket: false,
            history: None,
        }
    }

    fn facts() -> Facts {
        Facts {
            subject: "alice".into(),
            author: "alice".into(),
            requester_admitted: Some(true),
            duration: Some("1h".parse().unwrap()),
            email: Some("alice@acme.com".into()),
            landed: t("2026-11-24T10:00:00Z"),
            window: Some(Window {
                start: t("2026-11-24T10:00:00Z"),
                end: t("2026-11-24T11:00:00Z"),
            }),
            ticket_matches: false,
            on_call: Some(true),
            history: None,
        }
    }

    #[test]
    fn an_on_call_engineers_own_hour_is_approved() {
        assert_eq!(unmet(&on_call_rule(), &facts()), Vec::<String>::new());
    }

    #[test]
    fn each_condition_that_fails_says_why() {
        let rule = on_call_rule();
        let over = Facts {
            duration: Some("61m".parse().unwrap()),
            ..facts()
        };
        assert!(unmet(&rule, &over)[0].contains("over the rule's 1h"));
        let off = Facts {
            on_call: Some(false),
            ..facts()
        };
        assert!(unmet(&rule, &off)[0].contains("not on call"));
        // A schedule that cannot be read approves nothing.
        let down = Facts {
            on_call: None,
            ..facts()
        };
        assert!(unmet(&rule, &down)[0].contains("could not be read"));
        let for_someone = Facts {
            author: "mallory".into(),
            ..facts()
        };
        assert!(unmet(&rule, &for_someone)[0].contains("own request"));
        let office = Rule {
            hours: Some(berlin_office()),
            require_ticket: true,
            on_call: None,
            ..on_call_rule()
        };
        // 18:01 Berlin on a Tuesday in winter, and no ticket: two reasons.
        let late = Facts {
            landed: t("2026-11-24T17:01:00Z"),
            window: Some(Window {
                start: t("2026-11-24T17:01:00Z"),
                end: t("2026-11-24T18:01:00Z"),
            }),
            ..facts()
        };
        let why = unmet(&office, &late);
        assert_eq!(why.len(), 2, "{why:?}");
        assert!(why[0].contains("Tue 18:01"), "{why:?}");
    }
}
