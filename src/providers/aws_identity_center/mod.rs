//! AWS IAM Identity Center: a grant is a permission set of its own, its
//! inline policy windowed on `aws:CurrentTime` and denying every action
//! outside the window, assigned to the subject's Identity Store user in
//! each of the role's accounts.
//!
//! - `document`: names, descriptions, the inline policy and quotas, pure.
//! - `plan`: what each grant's permission set should be, and the diff.
//! - `api`: the adapter that reads and writes with aws-sdk-ssoadmin and
//!   aws-sdk-identitystore.

pub mod api;
pub mod config;
pub mod document;
pub mod plan;
pub mod validate;

pub use api::AwsIdentityCenter;
pub use plan::{Change, Desired, Observation, Observed};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::kind::{KindPlan, ProviderKind};
use super::{Past, ProviderError, Reach};
use crate::grant::{Grant, Window};
use crate::plan::terms::Refusal;
use crate::policy::{Identity, Policy, Provider, RawPolicy, RawRole, Role};
use crate::rule::Rule;
use crate::validate::Sink;

/// The `aws-identity-center` kind, as the registry reaches it.
pub struct Kind;

impl ProviderKind for Kind {
    type Desired = Desired;
    type Observation = Observation;
    type Change = Change;
    type Adapter = AwsIdentityCenter;

    fn desired(
        policy: &Policy,
        grant: &Grant,
        role: &Role,
        target: &Provider,
        window: Window,
        _commit: &str,
    ) -> Option<Result<Desired, String>> {
        plan::desired(policy, grant, role, target, window)
    }

    fn wanted_of(d: &Desired) -> (&str, &str) {
        (&d.grant, &d.provider)
    }

    /// Permission sets are claimed first: one whose marker was tampered
    /// with is matched by its name to the grants git knows.
    fn plan(
        policy: &Policy,
        wanted: Vec<Desired>,
        mut observed: BTreeMap<String, Observation>,
        Past { known, .. }: Past,
        now: DateTime<Utc>,
        refused: &mut Vec<Refusal>,
    ) -> KindPlan<Change> {
        let ids: Vec<String> = (wanted.iter().map(|d| d.grant.clone()))
            .chain(known.keys().cloned())
            .collect();
        plan::claim(&mut observed, &policy.repository(), &ids);
        KindPlan {
            changes: plan::plan(&wanted, &observed, known, now, refused),
            unfenced: Vec::new(),
        }
    }

    fn recorded_grants(o: &Observation, _repository: &str) -> Vec<String> {
        o.permission_sets.iter().map(|p| p.grant.clone()).collect()
    }

    fn unclaimed(o: &Observation) -> Vec<&String> {
        o.permission_sets
            .iter()
            .filter(|p| p.grant.is_empty())
            .map(|p| &p.name)
            .collect()
    }

    async fn connect(
        reach: &Reach,
        policy: &Policy,
        provider: &Provider,
    ) -> Result<AwsIdentityCenter, ProviderError> {
        Ok(AwsIdentityCenter::connect(reach.aws(), policy, provider).await?)
    }

    fn targets_text(role: &Role, providers: &[&Provider]) -> Vec<String> {
        providers
            .iter()
            .map(|p| {
                format!(
                    "a permission set in {} ({})",
                    accounts_text(&role.keys.aws_identity_center.accounts),
                    p.name
                )
            })
            .collect()
    }

    fn access_text(role: &Role, p: &Provider, who: &str) -> String {
        format!(
            "permission set in {} for {who} ({})",
            accounts_text(&role.keys.aws_identity_center.accounts).trim_start_matches("AWS "),
            p.name
        )
    }

    /// A permission set's sessions end with its denies: nothing it grants
    /// outlives the window (what its statements let the subject assume is
    /// the `aws-iam` kind's to say, as statements are its keys).
    fn unfenced(_: &Policy, _: &Role) -> Vec<String> {
        Vec::new()
    }

    /// Policies a permission set references and accounts it is assigned
    /// in, added (its statements are the `aws-iam` kind's to compare).
    fn widened(old: &Role, new: &Role) -> Vec<String> {
        let (o, n) = (
            &old.permissions.aws_identity_center,
            &new.permissions.aws_identity_center,
        );
        let mut parts = Vec::new();
        let managed: Vec<&str> = (n.managed_policies.iter())
            .filter(|m| !o.managed_policies.contains(m))
            .map(String::as_str)
            .collect();
        if !managed.is_empty() {
            parts.push(format!("managed_policies added: {}", managed.join(", ")));
        }
        let customer: Vec<String> = (n.customer_managed_policies.iter())
            .filter(|c| !o.customer_managed_policies.contains(c))
            .map(|c| format!("{}{}", c.path, c.name))
            .collect();
        if !customer.is_empty() {
            parts.push(format!(
                "customer_managed_policies added: {}",
                customer.join(", ")
            ));
        }
        let accounts: Vec<&str> = (new.keys.aws_identity_center.accounts.iter())
            .filter(|a| !old.keys.aws_identity_center.accounts.contains(a))
            .map(String::as_str)
            .collect();
        if !accounts.is_empty() {
            parts.push(format!("accounts added: {}", accounts.join(", ")));
        }
        parts
    }

    type RawIdentity = config::RawIdentity;

    fn check_identity(raw: &config::RawIdentity, path: &str, s: &mut Sink) {
        validate::check_sso_user(&raw.aws_sso_user, path, s);
    }

    /// Its roles are checked with the policy, against their providers.
    fn check_role(_: &RawPolicy, _: &str, _: &RawRole, _: &mut Sink) {}

    fn check_policy(p: &RawPolicy, s: &mut Sink) {
        validate::check_identity_center(p, s);
    }

    fn unfit(_: &Role, _: &Identity) -> Option<(Rule, String)> {
        None
    }

    /// Validation gives every Identity Center provider its instance; one
    /// without is allowed nothing rather than another kind's policy.
    fn reconciler_policy(policy: &Policy, provider: &Provider) -> serde_json::Value {
        let Some(ic) = provider.keys.aws_identity_center.instance() else {
            return serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [],
            });
        };
        let mut accounts: Vec<String> = policy
            .roles
            .values()
            .filter(|r| r.providers.contains(&provider.name))
            .flat_map(|r| r.keys.aws_identity_center.accounts.iter().cloned())
            .collect();
        accounts.sort();
        accounts.dedup();
        document::reconciler_policy(
            &ic.instance_arn,
            &ic.identity_store_id,
            crate::providers::aws::account(provider),
            &accounts,
        )
    }
}

/// ``AWS account `1…` `` or ``AWS accounts `1…`, `2…` ``.
fn accounts_text(accounts: &[String]) -> String {
    let all: Vec<String> = accounts.iter().map(|a| format!("`{a}`")).collect();
    match all.len() {
        1 => format!("AWS account {}", all[0]),
        _ => format!("AWS accounts {}", all.join(", ")),
    }
}
