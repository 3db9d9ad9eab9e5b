//! Narrowing an audit: by subject, role, time range, or "who could use which
//! role at TIME".

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::{Audit, Finding, Lifecycle, RevocationSummary};

/// What to keep of an audit. Every criterion set must hold; an empty filter
/// keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Lifecycles whose subject (as landed or after an edit) is this login.
    pub subject: Option<String>,
    /// Lifecycles of this role.
    pub role: Option<String>,
    /// Lifecycles whose window, or whose time on the branch (landing to
    /// removal), reaches this instant or later.
    pub since: Option<DateTime<Utc>>,
    /// Lifecycles whose window, or whose time on the branch, starts before
    /// this instant.
    pub until: Option<DateTime<Utc>>,
    /// Lifecycles whose subject could use the role at this instant: landed by
    /// then, not yet removed, and with the window then in force containing it.
    pub at: Option<DateTime<Utc>>,
}

impl Filter {
    /// Whether the filter keeps a lifecycle.
    pub fn keeps(&self, l: &Lifecycle) -> bool {
        self.subject.as_deref().is_none_or(|s| l.names_subject(s))
            && self
                .role
                .as_deref()
                .is_none_or(|r| l.role.as_deref() == Some(r))
            && self.in_range(l)
            && self.at.is_none_or(|t| l.usable_at(t))
    }

    /// Whether the lifecycle's windows or its time on the branch overlap
    /// `[since, until)`.
    fn in_range(&self, l: &Lifecycle) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let on_branch = self.until.is_none_or(|u| l.landed.time < u)
            && self
                .since
                .is_none_or(|s| l.end.as_ref().is_none_or(|e| e.time > s));
        on_branch || l.windows().any(|w| w.overlaps(self.since, self.until))
    }

    /// Whether the filter keeps a finding about no grant: only without a
    /// subject filter, only for the role filtered on (if any), and only
    /// inside the time range (at or before `at`).
    pub(super) fn keeps_general(&self, f: &Finding) -> bool {
        self.subject.is_none()
            && self
                .role
                .as_deref()
                .is_none_or(|r| f.role.as_deref() == Some(r))
            && self.since.is_none_or(|s| f.time >= s)
            && self.until.is_none_or(|u| f.time < u)
            && self.at.is_none_or(|t| f.time <= t)
    }
}

/// The part of an audit a filter keeps: its lifecycles, the findings about
/// them, and the findings about no grant that the filter keeps.
pub fn filter(audit: Audit, filter: &Filter) -> Audit {
    let Audit {
        version,
        tip,
        now,
        lifecycles,
        findings,
        revocation: _,
    } = audit;
    // Taken, not copied: a long history's lifecycles are most of the audit.
    let lifecycles: Vec<Lifecycle> = lifecycles.into_iter().filter(|l| filter.keeps(l)).collect();
    let kept: HashSet<(&str, u32)> = lifecycles
        .iter()
        .map(|l| (l.id.as_str(), l.occurrence))
        .collect();
    let findings = findings
        .into_iter()
        .filter(|f| match (&f.grant, f.occurrence) {
            (Some(g), Some(n)) => kept.contains(&(g.as_str(), n)),
            _ => filter.keeps_general(f),
        })
        .collect();
    Audit {
        version,
        tip,
        now,
        revocation: RevocationSummary::of(&lifecycles),
        lifecycles,
        findings,
    }
}
