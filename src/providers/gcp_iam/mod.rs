//! Google Cloud IAM (the `gcp-iam` kind): a grant is one conditional role
//! binding per Google role in a resource's allow policy, whose condition
//! holds the window, so Google ends access by itself at the window's end.
//!
//! - `config`: its keys in `gitgrant.yaml` (`resource`, `gcp_member`,
//!   `gcp_roles`, `gcp_condition`).
//! - `document`: the binding, the allow policy model, `merge`, the quotas
//!   and Google's names, pure.
//! - `catalogue`: Google's predefined roles, and which reach past a window.
//! - `plan`: each grant's bindings, and the diff against the policy read.
//! - `validate`: the checks of its keys.
//! - `api`: the client of Resource Manager's IAM methods; [`GcpIam`] the
//!   adapter that writes a resource's changes in one read-modify-write.

pub mod api;
pub mod catalogue;
pub mod config;
pub mod document;
pub mod plan;
pub mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use api::GcpError;
use document::Binding;
pub use plan::{Change, Desired, Observation};

use super::kind::{KindPlan, ProviderKind};
use super::{Calls, Past, ProviderError, Reach};
use crate::grant::{Grant, Window};
use crate::plan::terms::Refusal;
use crate::policy::{Identity, Policy, Provider, RawPolicy, RawRole, Role};
use crate::rule::Rule;
use crate::validate::Sink;

/// A gcp-iam provider the run has reached: its resource, and the client.
#[derive(Debug)]
pub struct GcpIam {
    provider: String,
    resource: String,
    repository: String,
    client: api::Client,
}

impl super::Provider for GcpIam {
    type Observation = Observation;
    type Change = Change;
    type Error = GcpError;

    /// One `setIamPolicy` per resource per run holds all its changes.
    const BATCHES: bool = true;

    fn name(&self) -> &str {
        &self.provider
    }

    /// One `getIamPolicy`, at version 3.
    async fn observe(&self) -> Result<Observation, GcpError> {
        Ok(Observation {
            provider: self.provider.clone(),
            resource: self.resource.clone(),
            policy: self.client.get_policy(&self.resource).await?,
        })
    }

    async fn apply(&self, change: &Change) -> Result<(), GcpError> {
        self.apply_all(&[change])
            .await
            .pop()
            .unwrap_or(Ok(()))
    }

    /// One read-modify-write of the resource's allow policy: read at
    /// version 3, this run's bindings added and removed by
    /// [`document::merge`] (every binding not this repository's kept byte
    /// for byte), written with the etag read; on 409 or 412 read, merge
    /// and write again. The changes succeed or fail together.
    async fn apply_all(&self, changes: &[&Change]) -> Vec<Result<(), GcpError>> {
        let add: Vec<Binding> = changes.iter().flat_map(|c| c.adds().to_vec()).collect();
        let remove: Vec<Binding> = changes.iter().flat_map(|c| c.removes().to_vec()).collect();
        let written = self
            .client
            .read_modify_write(&self.resource, |read| {
                let next = document::merge(read, &self.repository, &add, &remove);
                (next.bindings != read.bindings || next.version != read.version).then_some(next)
            })
            .await;
        match written {
            Ok(_) => changes.iter().map(|_| Ok(())).collect(),
            Err(e) => {
                let line = e.to_string();
                let mut out = vec![Err(e)];
                out.extend(changes.iter().skip(1).map(|_| {
                    Err(GcpError::Call {
                        method: "setIamPolicy",
                        resource: self.resource.clone(),
                        detail: format!("written with the resource's other changes, which failed: {line}"),
                    })
                }));
                out
            }
        }
    }

    fn calls(&self) -> Calls {
        self.client.calls()
    }
}

/// The `gcp-iam` kind, as the registry reaches it.
pub struct Kind;

impl ProviderKind for Kind {
    /// IAM, "Access change propagation": a policy change "typically
    /// propagates in 2 minutes, but could potentially take 7 minutes or
    /// longer".
    const PROPAGATION_SECONDS: Option<i64> = Some(7 * 60);

    type Desired = Desired;
    type Observation = Observation;
    type Change = Change;
    type Adapter = GcpIam;
    type RawIdentity = config::RawIdentity;

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

    fn plan(
        policy: &Policy,
        wanted: Vec<Desired>,
        observed: BTreeMap<String, Observation>,
        Past { known, .. }: Past,
        _now: DateTime<Utc>,
        refused: &mut Vec<Refusal>,
    ) -> KindPlan<Change> {
        KindPlan {
            changes: plan::plan(&policy.repository(), &wanted, &observed, known, refused),
            unfenced: Vec::new(),
        }
    }

    fn recorded_grants(o: &Observation, repository: &str) -> Vec<String> {
        o.policy
            .ours(repository)
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// A binding without this repository's marker is not ours, whatever
    /// its title says: none is read unclaimed.
    fn unclaimed(_: &Observation) -> Vec<&String> {
        Vec::new()
    }

    async fn connect(
        _: &Reach,
        policy: &Policy,
        provider: &Provider,
    ) -> Result<GcpIam, ProviderError> {
        let resource = provider.keys.gcp_iam.resource.clone().unwrap_or_default();
        Ok(GcpIam {
            provider: provider.name.clone(),
            resource,
            repository: policy.repository(),
            client: api::Client::from_env().await.map_err(ProviderError::of)?,
        })
    }

    fn targets_text(_: &Role, providers: &[&Provider]) -> Vec<String> {
        providers
            .iter()
            .map(|p| {
                format!(
                    "Google Cloud `{}` ({})",
                    p.keys.gcp_iam.resource.as_deref().unwrap_or_default(),
                    p.name
                )
            })
            .collect()
    }

    fn access_text(role: &Role, p: &Provider, who: &str) -> String {
        let roles: Vec<String> = (role.permissions.gcp_iam.gcp_roles.iter())
            .map(|r| format!("`{r}`"))
            .collect();
        format!(
            "role {} on `{}` for {who} ({})",
            roles.join(", "),
            p.keys.gcp_iam.resource.as_deref().unwrap_or_default(),
            p.name
        )
    }

    /// Direct access ends with the binding's condition. What a role lets
    /// its holder mint (tokens, keys) can outlive it: such roles need
    /// `allow_admin`, which validation asks for, and are not listed here.
    fn unfenced(_: &Policy, _: &Role) -> Vec<String> {
        Vec::new()
    }

    fn widened(old: &Role, new: &Role) -> Vec<String> {
        let (o, n) = (&old.permissions.gcp_iam, &new.permissions.gcp_iam);
        let mut parts = Vec::new();
        let added: Vec<&str> = (n.gcp_roles.iter())
            .filter(|r| !o.gcp_roles.contains(r))
            .map(String::as_str)
            .collect();
        if !added.is_empty() {
            parts.push(format!("gcp_roles added: {}", added.join(", ")));
        }
        if o.gcp_condition.is_some() && o.gcp_condition != n.gcp_condition {
            parts.push("gcp_condition changed or removed".to_string());
        }
        parts
    }

    fn check_identity(raw: &config::RawIdentity, path: &str, s: &mut Sink) {
        validate::check_member(&raw.gcp_member, path, s);
    }

    fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink) {
        validate::check_role(p, name, role, s);
    }

    fn check_policy(p: &RawPolicy, s: &mut Sink) {
        validate::check_providers(p, s);
    }

    fn unfit(_: &Role, _: &Identity) -> Option<(Rule, String)> {
        None
    }

    /// A custom role with the two permissions a run needs on the resource:
    /// to read its allow policy and to write it.
    fn reconciler_policy(_: &Policy, provider: &Provider) -> serde_json::Value {
        let resource = provider.keys.gcp_iam.resource.as_deref().unwrap_or_default();
        serde_json::json!({
            "title": "gitgrant reconciler",
            "description": format!("Reads and writes the allow policy of {resource}, for gitgrant"),
            "stage": "GA",
            "includedPermissions": [
                api::permission("getIamPolicy", resource),
                api::permission("setIamPolicy", resource),
            ],
        })
    }
}
