//! Desired state: which grants should be in force at `now`, in which
//! providers, from the validated access repository and the grants' landing
//! times. Each provider kind turns an active grant into its own resource.
//!
//! It is the *union* of every valid grant whose window contains `now`, so
//! overlapping or extended grants can never revoke each other early.

use chrono::{DateTime, Utc};

use crate::grant::Grant;
use crate::plan::{Known, Refusal, RevokeReason};
use crate::policy::Policy;
pub use crate::providers::Wanted;
use crate::validate::Landings;

/// What the access repository asks of the cloud at one instant.
#[derive(Debug, Clone, Default)]
pub struct DesiredState {
    /// Resources that should exist: one per active grant and provider.
    pub wanted: Vec<Wanted>,
    /// Grants still in the repository whose window has ended or not begun,
    /// by grant id: their resources should not exist.
    pub ended: Known,
    /// Grants that cannot be applied, with why (a quota they would break).
    pub refused: Vec<Refusal>,
}

/// The desired state at `now` of `grants` (already validated against
/// `policy`), landed at `landings`, read at commit `commit`. `provider`
/// restricts it to one provider.
pub fn desired_state(
    policy: &Policy,
    grants: &[Grant],
    landings: &Landings,
    now: DateTime<Utc>,
    commit: &str,
    provider: Option<&str>,
) -> DesiredState {
    let mut out = DesiredState::default();
    for grant in grants {
        let Some(role) = policy.roles.get(grant.role()) else {
            continue;
        };
        let path = grant.id.path();
        let Some(window) = grant.window(landings.get(&path).copied()) else {
            // Not landed: nothing to apply yet.
            continue;
        };
        if now >= window.end {
            out.ended
                .insert(grant.id.to_string(), RevokeReason::Expired);
            continue;
        }
        if now < window.start {
            out.ended
                .insert(grant.id.to_string(), RevokeReason::NotStarted);
            continue;
        }
        for target in policy.targets(role) {
            if provider.is_some_and(|p| p != target.name) {
                continue;
            }
            let made = crate::providers::desired(policy, grant, role, target, window, commit);
            match made {
                None => {}
                Some(Ok(w)) => out.wanted.push(w),
                Some(Err(why)) => out.refused.push(Refusal {
                    grant: grant.id.to_string(),
                    provider: target.name.clone(),
                    why,
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Content, Snapshot, SourceFile};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    const POLICY: &str = r#"
version: 1
repository: acme/access
security_team: "@acme/security"
providers:
  aws-prod: { type: aws-iam, account: "111111111111" }
  aws-dev: { type: aws-iam, account: "222222222222" }
people:
  alice: { aws_iam_user: alice }
  bob: { aws_iam_role: BobRole }
roles:
  ro:
    description: d
    provider: aws-prod
    max_duration: 8h
    approvers: ["@acme/x"]
    permissions: { statements: [{ effect: Allow, actions: ["logs:GetLogEvents"], resources: ["*"] }] }
  dev:
    description: d
    provider: aws-dev
    max_duration: 8h
    approvers: ["@acme/x"]
    permissions: { statements: [{ effect: Allow, actions: ["ec2:DescribeInstances"], resources: ["*"] }] }
"#;

    fn file(path: &str, text: &str) -> SourceFile {
        SourceFile {
            path: path.into(),
            content: Content::Bytes(text.as_bytes().to_vec()),
        }
    }

    fn state(now: &str, provider: Option<&str>) -> DesiredState {
        let snapshot = Snapshot {
            policy: Some(file("gitgrant.yaml", POLICY)),
            grants: vec![
                file(
                    "grants/ro/alice-1.yaml",
                    "subject: alice\nrole: ro\nreason: r\nduration: 2h\n",
                ),
                // An extension by a second grant overlapping the first.
                file(
                    "grants/ro/alice-2.yaml",
                    "subject: alice\nrole: ro\nreason: r\nduration: 4h\n",
                ),
                file(
                    "grants/ro/bob-1.yaml",
                    "subject: bob\nrole: ro\nreason: r\nstarts: 2026-11-22T13:00:00Z\nexpires: 2026-11-22T14:00:00Z\n",
                ),
                file(
                    "grants/dev/bob-2.yaml",
                    "subject: bob\nrole: dev\nreason: r\nduration: 1h\n",
                ),
            ],
        };
        let landings: Landings = [
            ("grants/ro/alice-1.yaml", "2026-11-22T10:00:00Z"),
            ("grants/ro/alice-2.yaml", "2026-11-22T11:00:00Z"),
            ("grants/ro/bob-1.yaml", "2026-11-22T10:00:00Z"),
            ("grants/dev/bob-2.yaml", "2026-11-22T10:00:00Z"),
        ]
        .into_iter()
        .map(|(p, w)| (p.to_string(), t(w)))
        .collect();
        let v = crate::validate::validate(&snapshot, t(now), &landings);
        assert!(v.is_valid(), "{:?}", v.violations);
        desired_state(
            v.policy.as_ref().unwrap(),
            &v.grants,
            &landings,
            t(now),
            "abc1234",
            provider,
        )
    }

    fn names(s: &DesiredState) -> Vec<&str> {
        s.wanted.iter().map(Wanted::grant).collect()
    }

    /// The desired resource of `grant`, as its kind writes it in JSON.
    fn wanted(s: &DesiredState, grant: &str) -> serde_json::Value {
        let w = s.wanted.iter().find(|w| w.grant() == grant).unwrap();
        serde_json::to_value(w).unwrap()
    }

    #[test]
    fn the_union_of_active_windows_so_overlapping_grants_never_cut_each_other() {
        let s = state("2026-11-22T11:30:00Z", None);
        assert_eq!(names(&s), ["ro/alice-1", "ro/alice-2"]);
        // bob's 1h dev grant landed at 10:00 and has ended.
        assert!(s.ended.contains_key("dev/bob-2"));
        // alice-1 has ended; alice-2 still carries alice's access.
        let s = state("2026-11-22T12:30:00Z", None);
        assert_eq!(names(&s), ["ro/alice-2"]);
        assert_eq!(s.ended.get("ro/alice-1"), Some(&RevokeReason::Expired));
        // bob's scheduled window, attached to his role.
        let s = state("2026-11-22T13:30:00Z", None);
        let bob = wanted(&s, "ro/bob-1");
        assert_eq!(
            bob["attach_to"],
            serde_json::json!({"aws_iam_role": "BobRole"})
        );
        assert_eq!(bob["path"], "/gitgrant/acme/access/");
        assert!(
            bob["tags"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!(["gitgrant:commit", "abc1234"]))
        );
    }

    #[test]
    fn a_run_can_be_restricted_to_one_provider() {
        let s = state("2026-11-22T10:30:00Z", Some("aws-dev"));
        assert_eq!(names(&s), ["dev/bob-2"]);
    }
}
