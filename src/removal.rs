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

/// The `Gitgrant-*` trailers of a removal commit: what the reconciler
/// writes, and what the audit and the engine read back. Read from a commit,
/// each is as written, by whoever wrote it: believe them only from a commit
/// the reconciler's key signed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    /// `Gitgrant-Grant`: the grant id.
    pub grant: Option<String>,
    /// `Gitgrant-Subject`.
    pub subject: Option<String>,
    /// `Gitgrant-Role`.
    pub role: Option<String>,
    /// `Gitgrant-Provider`: the provider its role applies to.
    pub provider: Option<String>,
    /// `Gitgrant-Window`: `start/end`.
    pub window: Option<String>,
    /// `Gitgrant-Reason`: why (see [`RemovalReason`]).
    pub reason: Option<String>,
    /// `Gitgrant-Landed`: the short id of the landing commit.
    pub landed: Option<String>,
    /// `Gitgrant-Revoked-At`: when the cloud access was revoked.
    pub revoked_at: Option<String>,
    /// `Gitgrant-Review`: a break-glass review issue.
    pub review: Option<String>,
    /// `Gitgrant-Approved-By`: what approved the grant.
    pub approved_by: Option<String>,
    /// `Gitgrant-Pull-Request`: `#N`, the pull request that landed it.
    pub pull_request: Option<String>,
}

impl Trailers {
    /// Each trailer's key (after `Gitgrant-`) and value, in the order a
    /// removal commit writes them: the one list writing and reading share.
    fn fields(&mut self) -> [(&'static str, &mut Option<String>); 11] {
        [
            ("Grant", &mut self.grant),
            ("Subject", &mut self.subject),
            ("Role", &mut self.role),
            ("Provider", &mut self.provider),
            ("Window", &mut self.window),
            ("Reason", &mut self.reason),
            ("Landed", &mut self.landed),
            ("Revoked-At", &mut self.revoked_at),
            ("Review", &mut self.review),
            ("Approved-By", &mut self.approved_by),
            ("Pull-Request", &mut self.pull_request),
        ]
    }

    /// What a removal of `e` records.
    pub fn of(e: &Ended) -> Trailers {
        let g = e.grant;
        Trailers {
            grant: Some(g.id.to_string()),
            subject: Some(g.subject.clone()),
            role: Some(g.role().to_string()),
            provider: Some(e.provider.to_string()),
            window: Some(e.window.to_string()),
            reason: Some(e.reason.as_str().to_string()),
            landed: Some(e.landed.to_string()),
            revoked_at: Some(fmt_time(e.revoked_at)),
            review: e.review.map(str::to_string),
            approved_by: e.approved_by.clone(),
            pull_request: e.pull_request.map(|n| format!("#{n}")),
        }
    }

    /// The trailers of a commit message (the last of a key, as git reads
    /// them; keys in any case).
    pub fn read(message: &str) -> Trailers {
        Trailers::from_pairs(&crate::history::trailers(message))
    }

    /// The gitgrant trailers among a message's `Key: value` trailers.
    pub fn from_pairs(found: &[(String, String)]) -> Trailers {
        let mut t = Trailers::default();
        for (key, value) in t.fields() {
            *value = crate::history::trailer(found, &format!("Gitgrant-{key}")).map(str::to_string);
        }
        t
    }

    /// The trailer lines, one per value present.
    pub fn lines(&self) -> String {
        let mut copy = self.clone();
        let mut m = String::new();
        for (key, value) in copy.fields() {
            if let Some(v) = value {
                let _ = writeln!(m, "Gitgrant-{key}: {v}");
            }
        }
        m
    }

    /// Whether the reason says the window ran out.
    pub fn says_expired(&self) -> bool {
        self.reason.as_deref() == Some(RemovalReason::Expired.as_str())
    }

    /// `Gitgrant-Revoked-At` as a time: `None` when absent, `Err` with the
    /// text when it is no time.
    pub fn revoked_at(&self) -> Option<Result<DateTime<Utc>, &str>> {
        self.revoked_at.as_deref().map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| t)
        })
    }

    /// `Gitgrant-Pull-Request` as a number.
    pub fn pull_request(&self) -> Option<u64> {
        self.pull_request
            .as_deref()
            .and_then(|p| p.trim_start_matches('#').parse().ok())
    }
}

/// The removal commit's message: a subject line, one sentence, and the
/// [`Trailers`] that plain `git log` can read.
pub fn message(e: &Ended) -> String {
    let g = e.grant;
    format!(
        "gitgrant: {} {}\n\nAccess for {} to {} ended at {}.\n\n{}",
        e.reason.verb(),
        g.id,
        g.subject,
        g.role(),
        fmt_time(e.window.end),
        Trailers::of(e).lines()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grant::{GrantId, Timing};
    use crate::history::{trailer, trailers};

    fn t_revoked() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:04:31Z")
            .unwrap()
            .with_timezone(&Utc)
    }

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
        // What the audit reads back is what was written.
        let read = Trailers::read(&m);
        assert!(read.says_expired());
        assert_eq!(read.pull_request(), Some(12));
        assert_eq!(read.revoked_at(), Some(Ok(t_revoked())));
        assert_eq!(read.review, None);
    }
}
