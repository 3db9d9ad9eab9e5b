//! Removal commits: the commit that deletes an ended grant's file, and its
//! message with trailers that plain `git log` can read.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::grant::{Grant, Window, fmt_time};

/// Why gitgrant removed a grant's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemovalReason {
    /// Its window ended.
    Expired,
}

impl RemovalReason {
    /// The verb of the commit's subject line.
    pub fn verb(self) -> &'static str {
        match self {
            RemovalReason::Expired => "expire",
        }
    }

    /// The trailer value.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Expired => "expired",
        }
    }
}

/// One grant file to remove, decided at a commit where it had blob `blob`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Removal {
    /// The grant id.
    pub grant: String,
    /// The file's path.
    pub path: String,
    /// The blob the decision was made on: a file whose content has changed
    /// since (an extension, say) is not removed.
    pub blob: String,
    /// The full commit message.
    pub message: String,
}

/// What a removal commit records about the grant.
#[derive(Debug, Clone)]
pub struct Ended<'a> {
    /// The grant.
    pub grant: &'a Grant,
    /// The provider its role applies to.
    pub provider: &'a str,
    /// Its window.
    pub window: Window,
    /// Short id of the commit it landed in.
    pub landed: &'a str,
    /// When gitgrant removed it.
    pub revoked_at: DateTime<Utc>,
    /// Why.
    pub reason: RemovalReason,
    /// A review issue to link (break-glass grants).
    pub review: Option<&'a str>,
    /// What approved it, as its evidence note says (`Gitgrant-Approved-By`).
    pub approved_by: Option<String>,
    /// The pull request that landed it, as its note says.
    pub pull_request: Option<u64>,
}

/// The removal commit's message (ARCHITECTURE.md, "The data flow of a run"; docs/trail.md).
pub fn message(e: &Ended) -> String {
    let g = e.grant;
    let mut m = String::new();
    let _ = write!(
        m,
        "gitgrant: {} {}\n\nAccess for {} to {} ended at {}.\n\n",
        e.reason.verb(),
        g.id,
        g.subject,
        g.role(),
        fmt_time(e.window.end)
    );
    let trailers = [
        ("Grant", g.id.to_string()),
        ("Subject", g.subject.clone()),
        ("Role", g.role().to_string()),
        ("Provider", e.provider.to_string()),
        ("Window", e.window.to_string()),
        ("Reason", e.reason.as_str().to_string()),
        ("Landed", e.landed.to_string()),
        ("Revoked-At", fmt_time(e.revoked_at)),
    ];
    for (k, v) in trailers {
        let _ = writeln!(m, "Gitgrant-{k}: {v}");
    }
    if let Some(review) = e.review {
        let _ = writeln!(m, "Gitgrant-Review: {review}");
    }
    if let Some(by) = &e.approved_by {
        let _ = writeln!(m, "Gitgrant-Approved-By: {by}");
    }
    if let Some(pr) = e.pull_request {
        let _ = writeln!(m, "Gitgrant-Pull-Request: #{pr}");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::{GrantId, Timing};
    use crate::history::{trailer, trailers};

    #[test]
    fn the_message_matches_the_design_and_its_trailers_parse() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let grant = Grant {
            id: GrantId {
                role: "prod-readonly".into(),
                name: "alice-20261122-7f3a".into(),
            },
            subject: "alice".into(),
            reason: "INC-1".into(),
            ticket: None,
            timing: Timing::Duration("2h".parse().unwrap()),
        };
        let m = message(&Ended {
            grant: &grant,
            provider: "aws-prod",
            window: Window {
                start: t("2026-11-22T10:00:00Z"),
                end: t("2026-11-22T12:00:00Z"),
            },
            landed: "9c1e2f0",
            revoked_at: t("2026-11-22T12:04:31Z"),
            reason: RemovalReason::Expired,
            review: None,
            approved_by: Some("carol".into()),
            pull_request: Some(12),
        });
        assert_eq!(
            m,
            "gitgrant: expire prod-readonly/alice-20261122-7f3a\n\n\
             Access for alice to prod-readonly ended at 2026-11-22T12:00:00Z.\n\n\
             Gitgrant-Grant: prod-readonly/alice-20261122-7f3a\n\
             Gitgrant-Subject: alice\n\
             Gitgrant-Role: prod-readonly\n\
             Gitgrant-Provider: aws-prod\n\
             Gitgrant-Window: 2026-11-22T10:00:00Z/2026-11-22T12:00:00Z\n\
             Gitgrant-Reason: expired\n\
             Gitgrant-Landed: 9c1e2f0\n\
             Gitgrant-Revoked-At: 2026-11-22T12:04:31Z\n\
             Gitgrant-Approved-By: carol\n\
             Gitgrant-Pull-Request: #12\n"
        );
        let t = trailers(&m);
        assert_eq!(
            trailer(&t, "Gitgrant-Grant"),
            Some("prod-readonly/alice-20261122-7f3a")
        );
        assert_eq!(trailer(&t, "Gitgrant-Reason"), Some("expired"));
    }
}
