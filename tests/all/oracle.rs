//! A test oracle: IAM's policy evaluation for exactly the operators and keys
//! gitgrant's documents use, so tests can replay requests against the
//! documents gitgrant really wrote into moto (which evaluates nothing).
//!
//! It follows AWS's documentation:
//! - "Policy evaluation logic" (IAM User Guide, reference_policies_evaluation-logic):
//!   an explicit `Deny` in any applicable policy wins; otherwise an `Allow`
//!   allows; otherwise the request is implicitly denied.
//! - "IAM JSON policy elements: Condition operators"
//!   (reference_policies_elements_condition_operators): `Date*`, `String*`,
//!   `Bool`, `Arn*`; several operators in one `Condition` block, and several
//!   keys in one operator, must all hold (AND); several values for one key
//!   are alternatives (OR); a key missing from the request makes a positive
//!   operator false and a negated one (`StringNotEquals`…) true.
//! - "IAM JSON policy elements: Action" and "Resource": `*` and `?`
//!   wildcards, actions case-insensitive, resources case-sensitive.
//! - "IAM policy elements: Variables and tags": `${aws:username}` in a
//!   resource or condition value is replaced by the request's value.
//! - "AWS global condition context keys": `aws:CurrentTime`,
//!   `aws:TokenIssueTime`, `aws:userid`, `aws:MultiFactorAuthPresent`,
//!   `aws:username`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One request as IAM sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `service:Action`.
    pub action: String,
    /// The resource's ARN.
    pub resource: String,
    /// Context keys and their values (times in RFC 3339).
    pub context: BTreeMap<String, String>,
}

impl Request {
    /// `action` on `resource` at `now`.
    pub fn new(action: &str, resource: &str, now: &str) -> Request {
        let mut context = BTreeMap::new();
        context.insert("aws:CurrentTime".into(), now.into());
        Request {
            action: action.into(),
            resource: resource.into(),
            context,
        }
    }

    /// With one more context key.
    pub fn with(mut self, key: &str, value: &str) -> Request {
        self.context.insert(key.into(), value.into());
        self
    }
}

/// IAM's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow applied and no Deny.
    Allow,
    /// An explicit Deny applied.
    Deny,
    /// Nothing applied.
    ImplicitDeny,
}

/// The decision over every policy document that applies to the caller.
pub fn evaluate(documents: &[&Value], request: &Request) -> Decision {
    let mut allowed = false;
    for doc in documents {
        for s in statements(doc) {
            if !applies(s, request) {
                continue;
            }
            match s["Effect"].as_str() {
                Some("Deny") => return Decision::Deny,
                Some("Allow") => allowed = true,
                _ => {}
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn statements(doc: &Value) -> Vec<&Value> {
    match &doc["Statement"] {
        Value::Array(a) => a.iter().collect(),
        v @ Value::Object(_) => vec![v],
        _ => vec![],
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
            .collect(),
        Value::Bool(b) => vec![b.to_string()],
        _ => vec![],
    }
}

/// `${key}` replaced by the request's value (an unknown variable matches
/// nothing, as IAM treats it).
fn substitute(pattern: &str, r: &Request) -> Option<String> {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('}')? + i;
        out.push_str(r.context.get(&rest[i + 2..end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// IAM's `*`/`?` match.
fn like(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn applies(s: &Value, r: &Request) -> bool {
    let action = strings(&s["Action"])
        .iter()
        .any(|a| like(&a.to_lowercase(), &r.action.to_lowercase()));
    let resource = strings(&s["Resource"])
        .iter()
        .any(|p| substitute(p, r).is_some_and(|p| like(&p, &r.resource)));
    action && resource && conditions(&s["Condition"], r)
}

fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc())
}

fn conditions(block: &Value, r: &Request) -> bool {
    let Some(ops) = block.as_object() else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        keys.as_object().is_some_and(|keys| {
            keys.iter().all(|(key, values)| {
                let values = strings(values);
                let negated = op.contains("Not");
                let Some(actual) = r.context.get(key) else {
                    return negated;
                };
                let one = |v: &String| -> bool {
                    let Some(v) = substitute(v, r) else {
                        return false;
                    };
                    match op.as_str() {
                        "DateGreaterThan" => time(actual) > time(&v) && time(&v).is_some(),
                        "DateGreaterThanEquals" => time(actual) >= time(&v) && time(&v).is_some(),
                        "DateLessThan" => time(actual) < time(&v) && time(actual).is_some(),
                        "DateLessThanEquals" => time(actual) <= time(&v) && time(actual).is_some(),
                        "StringEquals" | "StringNotEquals" | "ArnEquals" => *actual == v,
                        "StringLike" | "StringNotLike" | "ArnLike" => like(&v, actual),
                        "StringEqualsIgnoreCase" => actual.eq_ignore_ascii_case(&v),
                        "Bool" => actual.eq_ignore_ascii_case(&v),
                        other => panic!("the oracle does not know the operator {other}"),
                    }
                };
                let any = values.iter().any(one);
                if negated { !any } else { any }
            })
        })
    })
}

#[cfg(test)]
mod own {
    use super::*;
    use serde_json::json;

    #[test]
    fn explicit_deny_wins_and_nothing_is_an_implicit_deny() {
        let allow = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        let deny =
            json!({"Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]});
        let r = Request::new("s3:DeleteBucket", "arn:aws:s3:::b", "2026-11-23T10:00:00Z");
        assert_eq!(evaluate(&[&allow], &r), Decision::Allow);
        assert_eq!(evaluate(&[&allow, &deny], &r), Decision::Deny);
        assert_eq!(evaluate(&[], &r), Decision::ImplicitDeny);
    }

    #[test]
    fn conditions_and_across_keys_or_across_values_and_missing_keys() {
        let doc = json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:userid": ["A:alice", "A:bob"]},
            "DateLessThan": {"aws:CurrentTime": "2026-11-23T12:00:00Z"}
        }}]});
        let r = |who: &str, now: &str| {
            Request::new("s3:GetObject", "arn:aws:s3:::b/k", now).with("aws:userid", who)
        };
        assert_eq!(
            evaluate(&[&doc], &r("A:bob", "2026-11-23T11:59:59Z")),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&[&doc], &r("A:carol", "2026-11-23T11:59:59Z")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&[&doc], &r("A:bob", "2026-11-23T12:00:00Z")),
            Decision::ImplicitDeny
        );
        let missing = Request::new("s3:GetObject", "arn:aws:s3:::b/k", "2026-11-23T11:00:00Z");
        assert_eq!(evaluate(&[&doc], &missing), Decision::ImplicitDeny);
    }
}

/// Timelines replayed against fence documents: what issue 13's fence must
/// make IAM decide. The fence is not yet applied by the reconciler; these
/// pin its document.
mod fences {
    use super::*;
    use gitgrant::grant::Window;
    use gitgrant::providers::aws_iam::fence::{Fenced, documents};
    use serde_json::json;

    const ROLE_ID: &str = "AROAEXAMPLEROLEID";

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    /// The target role's own permissions: what a session of it holds.
    fn role_permissions() -> Value {
        json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    }

    /// A call by `session` of the role, issued at `issued`, made at `now`.
    fn call(session: &str, issued: &str, now: &str) -> Request {
        Request::new("s3:GetObject", "arn:aws:s3:::prod/k", now)
            .with("aws:userid", &format!("{ROLE_ID}:{session}"))
            .with("aws:TokenIssueTime", issued)
    }

    fn fence(end: &str) -> Value {
        let f = Fenced::new(
            "ro/alice-1",
            "alice",
            Window {
                start: t("2026-11-23T10:00:00Z"),
                end: t(end),
            },
        );
        documents(ROLE_ID, &[f]).unwrap().remove(0)
    }

    #[test]
    fn a_session_started_a_minute_before_the_end_dies_at_the_end() {
        let (role, fence) = (role_permissions(), fence("2026-11-23T12:00:00Z"));
        let docs = [&role, &fence];
        let issued = "2026-11-23T11:59:00Z";
        assert_eq!(
            evaluate(&docs, &call("alice", issued, "2026-11-23T11:59:59Z")),
            Decision::Allow
        );
        assert_eq!(
            evaluate(&docs, &call("alice", issued, "2026-11-23T12:00:01Z")),
            Decision::Deny
        );
        // Without the fence, that session would have lived on.
        assert_eq!(
            evaluate(&[&role], &call("alice", issued, "2026-11-23T12:00:01Z")),
            Decision::Allow
        );
    }

    #[test]
    fn another_subjects_session_of_the_same_role_is_not_fenced() {
        let (role, fence) = (role_permissions(), fence("2026-11-23T12:00:00Z"));
        assert_eq!(
            evaluate(
                &[&role, &fence],
                &call("bob", "2026-11-23T11:59:00Z", "2026-11-23T12:30:00Z")
            ),
            Decision::Allow
        );
    }

    #[test]
    fn a_session_issued_after_the_window_from_a_standing_right_is_not_fenced() {
        let (role, fence) = (role_permissions(), fence("2026-11-23T12:00:00Z"));
        assert_eq!(
            evaluate(
                &[&role, &fence],
                &call("alice", "2026-11-23T13:00:00Z", "2026-11-23T13:05:00Z")
            ),
            Decision::Allow
        );
    }

    #[test]
    fn an_early_revoke_moves_the_end_and_the_live_session_dies_then() {
        // Revoked at 10:45: the fence's end is rewritten to it.
        let (role, fence) = (role_permissions(), fence("2026-11-23T10:45:00Z"));
        let issued = "2026-11-23T10:30:00Z";
        assert_eq!(
            evaluate(
                &[&role, &fence],
                &call("alice", issued, "2026-11-23T10:46:00Z")
            ),
            Decision::Deny
        );
    }
}
