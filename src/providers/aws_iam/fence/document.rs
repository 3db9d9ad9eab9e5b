//! A fence's names and documents, as pure values: what the planning in
//! [`super`] writes and reads back, and what the IAM kind's plan needs to
//! tell a fence from a grant's policy.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::grant::{Window, fmt_time};
use crate::providers::aws_iam::document::{MAX_DOCUMENT_CHARS, minified};

/// How the name of every fence policy begins.
pub const FENCE_PREFIX: &str = "gitgrant-fence.";

/// Whether `name` is one of gitgrant's fence policies.
pub fn is_fence_name(name: &str) -> bool {
    name.starts_with(FENCE_PREFIX)
}

/// What a fence policy records in place of a grant: `fence:<role ARN>`.
pub fn label(role_arn: &str) -> String {
    format!("fence:{role_arn}")
}

/// The name of shard `n` of the fence of `repository` on the role
/// `role_arn`: `gitgrant-fence.` and 128 bits of SHA-256 of both, then
/// `.n`. Names are unique per account; the hash keeps repositories and
/// roles apart.
pub fn name(repository: &str, role_arn: &str, n: usize) -> String {
    let hex = crate::names::hash_hex(&[repository, role_arn], 32);
    format!("{FENCE_PREFIX}{hex}.{n}")
}

/// The longest a role session can live (a role's largest
/// `MaxSessionDuration`): a fence statement is kept until its grant's end
/// plus this, after which no session it fences can still be alive.
pub const MAX_SESSION: chrono::TimeDelta = chrono::TimeDelta::hours(12);

/// One fenced grant on one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fenced {
    /// The grant id, or the statement's id when read back from a fence
    /// whose grant this run does not know.
    pub grant: String,
    /// The statement's id: [`sid`] of the grant.
    pub sid: String,
    /// The session name the grant pins (the subject's IAM user name).
    pub session_name: String,
    /// When sessions issued under the grant could start.
    pub start: DateTime<Utc>,
    /// Until when such sessions could be issued: the window's end (the
    /// grant's `sts:AssumeRole` carries it).
    pub issued_until: DateTime<Utc>,
    /// When they must stop: the window's end, or an early revoke.
    pub end: DateTime<Utc>,
}

impl Fenced {
    /// The fence of `grant` for `session_name` over `window`.
    pub fn new(grant: &str, session_name: &str, window: Window) -> Fenced {
        let w = window.enforced();
        Fenced {
            grant: grant.to_string(),
            sid: sid(grant),
            session_name: session_name.to_string(),
            start: w.start,
            issued_until: w.end,
            end: w.end,
        }
    }

    /// Whether the statement is still needed at `now`: until the last
    /// moment a session could be issued plus the longest session.
    pub fn needed_at(&self, now: DateTime<Utc>) -> bool {
        self.issued_until
            .checked_add_signed(MAX_SESSION)
            .is_none_or(|until| now < until)
    }
}

/// A statement id for `grant` (Sids are alphanumeric): stable, and unique
/// per grant.
pub(super) fn sid(grant: &str) -> String {
    let digest = Sha256::digest(grant.as_bytes());
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("Fence{hex}")
}

/// The deny of one fenced grant on the role whose unique id is `role_id`.
pub fn statement(role_id: &str, f: &Fenced) -> Value {
    json!({
        "Sid": f.sid,
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringEquals": { "aws:userid": format!("{role_id}:{}", f.session_name) },
            "DateGreaterThanEquals": { "aws:TokenIssueTime": fmt_time(f.start) },
            "DateLessThan": { "aws:TokenIssueTime": fmt_time(f.issued_until) },
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

/// The fenced grants a fence document holds, read back from its
/// statements; statements not of gitgrant's shape are dropped (the fence
/// is rewritten without them).
pub fn read(document: &Value) -> Vec<Fenced> {
    let time = |v: &Value| {
        let t = DateTime::parse_from_rfc3339(v.as_str()?).ok()?;
        Some(t.to_utc())
    };
    let statements = document["Statement"].as_array().into_iter().flatten();
    statements
        .filter_map(|s| {
            let c = &s["Condition"];
            let sid = s["Sid"].as_str().filter(|sid| sid.starts_with("Fence"))?;
            let userid = c["StringEquals"]["aws:userid"].as_str()?;
            let (_, session_name) = userid.split_once(':')?;
            let start = time(&c["DateGreaterThanEquals"]["aws:TokenIssueTime"])?;
            let issued_until = time(&c["DateLessThan"]["aws:TokenIssueTime"])?;
            let end = time(&c["DateGreaterThan"]["aws:CurrentTime"])?;
            Some(Fenced {
                grant: sid.to_string(),
                sid: sid.to_string(),
                session_name: session_name.to_string(),
                start,
                issued_until,
                end,
            })
        })
        .collect()
}
