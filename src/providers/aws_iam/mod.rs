//! AWS IAM: a grant is a customer-managed policy under this repository's
//! path, its every statement carrying the window as `aws:CurrentTime`
//! conditions, attached to the subject's IAM user or role.
//!
//! - `document`: names, paths, tags, documents and quotas, pure.
//! - `plan`: what each grant's policy should be, and the diff against what
//!   the account holds.
//! - `fence`: the denies that end role sessions at a grant's end (pure; not
//!   yet applied by the reconciler).
//! - `catalogue`: AWS's own list of IAM actions and their access levels.
//! - `api`: the adapter that reads and writes IAM with aws-sdk-iam.

pub mod api;
pub mod assume;
pub mod catalogue;
pub mod config;
pub mod document;
pub mod fence;
pub mod plan;
pub mod statements;
pub mod validate;

pub use api::{AwsIam, MAX_PAGE_SIZE};
pub use document::{ownership_path, policy_name, reconciler_policy};
pub use plan::{AttachQuota, Change, Desired, Observation, Observed};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::kind::{KindPlan, ProviderKind};
use super::{Past, ProviderError, Reach};
use crate::grant::{Grant, Window};
use crate::plan::terms::Refusal;
use crate::policy::{Identity, Policy, Provider, RawPolicy, RawRole, Role};
use crate::rule::Rule;
use crate::validate::Sink;

/// The `aws-iam` kind, as the registry reaches it.
pub struct Kind;

impl ProviderKind for Kind {
    type Desired = Desired;
    type Observation = Observation;
    type Change = Change;
    type Adapter = AwsIam;

    fn desired(
        policy: &Policy,
        grant: &Grant,
        role: &Role,
        target: &Provider,
        window: Window,
        commit: &str,
    ) -> Option<Result<Desired, String>> {
        plan::desired(policy, grant, role, target, window, commit)
    }

    fn wanted_of(d: &Desired) -> (&str, &str) {
        (&d.grant, &d.provider)
    }

    /// Each grant's policy, then the session fences planned beside them:
    /// policies of their own, which end the sessions of roles a grant let
    /// its subject assume.
    fn plan(
        policy: &Policy,
        mut wanted: Vec<Desired>,
        observed: BTreeMap<String, Observation>,
        Past { known, ended }: Past,
        now: DateTime<Utc>,
        refused: &mut Vec<Refusal>,
    ) -> KindPlan<Change> {
        plan::spell_as_iam(&mut wanted, &observed);
        let (fences, unfenced, fence_refused, fence_drift) =
            fence::plan(policy, &wanted, &observed, known, ended, now);
        wanted.retain(|d| !fence_refused.iter().any(|r| r.grant == d.grant));
        wanted.extend(fences);
        refused.extend(fence_refused);
        let mut changes = plan::plan(&policy.repository(), &wanted, &observed, known, refused);
        fence::report_drift(&mut changes, &fence_drift);
        KindPlan { changes, unfenced }
    }

    fn recorded_grants(o: &Observation, repository: &str) -> Vec<String> {
        o.policies
            .iter()
            .filter_map(|p| p.recorded_grant(repository))
            .map(|id| id.to_string())
            .collect()
    }

    /// A policy's name is not its marker: none is read unclaimed.
    fn unclaimed(_: &Observation) -> Vec<&String> {
        Vec::new()
    }

    async fn connect(
        reach: &Reach,
        policy: &Policy,
        provider: &Provider,
    ) -> Result<AwsIam, ProviderError> {
        Ok(AwsIam::connect(
            reach.aws(),
            provider,
            &ownership_path(policy),
            reach.iam_page_size,
        )
        .await?)
    }

    fn targets_text(_: &Role, providers: &[&Provider]) -> Vec<String> {
        let all: Vec<String> = providers
            .iter()
            .map(|p| format!("`{}` ({})", crate::providers::aws::account(p), p.name))
            .collect();
        vec![match all.len() {
            1 => format!("AWS account {}", all[0]),
            _ => format!("AWS accounts {}", all.join(", ")),
        }]
    }

    fn access_text(_: &Role, p: &Provider, who: &str) -> String {
        format!(
            "policy attached to {who} in account `{}` ({})",
            crate::providers::aws::account(p), p.name
        )
    }

    fn unfenced(policy: &Policy, role: &Role) -> Vec<String> {
        assume::unfenced(role, policy)
    }

    fn widened(old: &Role, new: &Role) -> Vec<String> {
        let (o, n) = (&old.permissions.aws_iam, &new.permissions.aws_iam);
        let roles: Vec<&str> = n
            .assume_roles
            .iter()
            .filter(|r| !o.assume_roles.contains(r))
            .map(String::as_str)
            .collect();
        let statements = n
            .statements
            .iter()
            .filter(|s| !o.statements.contains(s))
            .count();
        let mut parts = Vec::new();
        if !roles.is_empty() {
            parts.push(format!("assume_roles added: {}", roles.join(", ")));
        }
        if statements > 0 {
            parts.push(format!("{statements} statement(s) added or changed"));
        }
        parts
    }

    type RawIdentity = config::RawIdentity;

    fn check_identity(raw: &config::RawIdentity, path: &str, s: &mut Sink) {
        validate::check_identity(&raw.aws_iam_user, &raw.aws_iam_role, path, s);
    }

    fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink) {
        validate::check_permissions(name, role, s);
        validate::check_fence(p, name, role, s);
    }

    fn check_policy(p: &RawPolicy, s: &mut Sink) {
        validate::check_providers(p, s);
    }

    /// A grant's sts:AssumeRole statement pins the session name to
    /// `${aws:username}`, a key only IAM users have.
    fn unfit(role: &Role, identity: &Identity) -> Option<(Rule, String)> {
        let assumes = !role.permissions.aws_iam.assume_roles.is_empty();
        match identity {
            Identity::AwsIam(config::Identity::Role(_)) if assumes => Some((
                Rule::AssumeRolesNeedUser,
                "grants assume_roles, which only an IAM user can use".to_string(),
            )),
            _ => None,
        }
    }

    fn reconciler_policy(policy: &Policy, provider: &Provider) -> serde_json::Value {
        reconciler_policy(policy, crate::providers::aws::account(provider))
    }
}
