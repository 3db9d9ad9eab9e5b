//! Session fences, as pure values: the deny that ends, at a grant's end,
//! the role sessions its `assume_roles` let the subject start.
//!
//! A grant's `sts:AssumeRole` statement carries the window, but the session
//! it returns holds the target role's own permissions until the session
//! expires. A fence is a managed policy of gitgrant's on the target role
//! with, per grant, a deny of every action to the sessions of that role
//! that were issued to the subject during the grant's window, from the
//! window's end on:
//!
//! - `aws:userid` of a role session is `<role unique id>:<session name>`,
//!   and gitgrant pins the session name to the subject's IAM user name, so
//!   the subject's sessions are told apart from everyone else's;
//! - `aws:TokenIssueTime` inside the window picks the sessions this grant
//!   let them start (a session issued outside every gitgrant window, from a
//!   standing right, is never fenced);
//! - `aws:CurrentTime` after the end makes the deny bite from the end on,
//!   so no run is needed.
//!
//! Not yet wired into the reconciler: the plan does not yet make, attach or
//! update fences (see NOTES.md).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::document::{MAX_DOCUMENT_CHARS, minified};
use crate::grant::{Window, fmt_time};

/// The longest a role session can live (a role's largest
/// `MaxSessionDuration`): a fence statement is kept until its grant's end
/// plus this, after which no session it fences can still be alive.
pub const MAX_SESSION: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// One fenced grant on one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced {
    /// The grant id.
    pub grant: String,
    /// The session name the grant pins (the subject's IAM user name).
    pub session_name: String,
    /// When sessions issued under the grant could start.
    pub start: DateTime<Utc>,
    /// When they must stop: the window's end, or an early revoke.
    pub end: DateTime<Utc>,
}

impl Fenced {
    /// The fence of `grant` for `session_name` over `window`.
    pub fn new(grant: &str, session_name: &str, window: Window) -> Fenced {
        let w = window.enforced();
        Fenced {
            grant: grant.to_string(),
            session_name: session_name.to_string(),
            start: w.start,
            end: w.end,
        }
    }

    /// Whether the statement is still needed at `now`: until the end plus
    /// the longest session.
    pub fn needed_at(&self, now: DateTime<Utc>) -> bool {
        self.end
            .checked_add_signed(MAX_SESSION)
            .is_none_or(|until| now < until)
    }
}

/// A statement id for `grant` (Sids are alphanumeric): stable, and unique
/// per grant.
fn sid(grant: &str) -> String {
    let digest = Sha256::digest(grant.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("Fence{hex}")
}

/// The deny of one fenced grant on the role whose unique id is `role_id`.
pub fn statement(role_id: &str, f: &Fenced) -> Value {
    json!({
        "Sid": sid(&f.grant),
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": { "aws:userid": format!("{role_id}:{}", f.session_name) },
            "DateGreaterThanEquals": { "aws:TokenIssueTime": fmt_time(f.start) },
            "DateLessThan": { "aws:TokenIssueTime": fmt_time(f.end) },
            "DateGreaterThan": { "aws:CurrentTime": fmt_time(f.end) },
        },
    })
}

/// The fence documents of one role: every fenced grant's deny, in as few
/// documents as IAM's 6,144 characters allow (each document takes one
/// managed-policy slot on the role). `None` when one statement alone would
/// not fit, which cannot happen for names IAM accepts.
pub fn documents(role_id: &str, fenced: &[Fenced]) -> Option<Vec<Value>> {
    let mut docs: Vec<Vec<Value>> = Vec::new();
    for f in fenced {
        let s = statement(role_id, f);
        let fits = |statements: &Vec<Value>| {
            let mut with = statements.clone();
            with.push(s.clone());
            minified(&json!({ "Version": "2012-10-17", "Statement": with })).len()
                <= MAX_DOCUMENT_CHARS
        };
        match docs.last_mut() {
            Some(last) if fits(last) => last.push(s),
            _ if fits(&Vec::new()) => docs.push(vec![s]),
            _ => return None,
        }
    }
    Some(
        docs.into_iter()
            .map(|statements| json!({ "Version": "2012-10-17", "Statement": statements }))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn fenced(grant: &str, who: &str) -> Fenced {
        Fenced::new(
            grant,
            who,
            Window {
                start: t("2026-11-23T10:00:00Z"),
                end: t("2026-11-23T12:00:00Z"),
            },
        )
    }

    #[test]
    fn a_statement_names_the_subjects_sessions_of_the_role_in_the_window() {
        let s = statement("AROAEXAMPLE", &fenced("ro/alice-1", "alice"));
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:userid"],
            "AROAEXAMPLE:alice"
        );
        assert_eq!(
            s["Condition"]["DateGreaterThan"]["aws:CurrentTime"],
            "2026-11-23T12:00:00Z"
        );
        assert_eq!(
            s["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-11-23T12:00:00Z"
        );
        assert_ne!(
            statement("R", &fenced("ro/alice-1", "alice"))["Sid"],
            statement("R", &fenced("ro/alice-2", "alice"))["Sid"]
        );
    }

    #[test]
    fn many_grants_on_one_role_are_split_into_documents_that_fit() {
        let many: Vec<Fenced> = (0..60)
            .map(|i| fenced(&format!("ro/someone-{i}"), &format!("user{i}")))
            .collect();
        let docs = documents("AROAEXAMPLE", &many).unwrap();
        assert!(docs.len() > 1, "{} documents", docs.len());
        for d in &docs {
            assert!(minified(d).len() <= MAX_DOCUMENT_CHARS);
        }
        let n: usize = docs
            .iter()
            .map(|d| d["Statement"].as_array().unwrap().len())
            .sum();
        assert_eq!(n, 60, "every grant fenced once");
    }

    #[test]
    fn a_statement_is_kept_twelve_hours_past_its_end() {
        let f = fenced("ro/alice-1", "alice");
        assert!(f.needed_at(t("2026-11-23T23:59:59Z")));
        assert!(!f.needed_at(t("2026-11-24T00:00:00Z")));
    }
}
