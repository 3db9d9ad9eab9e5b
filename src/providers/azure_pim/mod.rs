//! Azure through Privileged Identity Management (the `azure-pim` kind): a
//! grant is one time-bound role assignment per Azure role at the
//! provider's scope, made by a PIM schedule request whose schedule is the
//! window, so Azure itself ends access at the window's end.
//!
//! - `config`: its keys in `gitgrant.yaml` (`tenant_id`, `scope`,
//!   `management_endpoint`, `azure_object_id`, `azure_roles`).
//! - `names`: GUIDs, scopes, role names, the admin roles, the marker in a
//!   request's justification and the deterministic request names, pure.
//! - `plan`: each grant's assignments, and the diff against what PIM lists.
//! - `validate`: the checks of its keys.
//! - `api`: the client of ARM's `Microsoft.Authorization` PIM methods;
//!   [`AzurePim`] the adapter that makes one schedule request per change.

pub mod api;
pub mod config;
pub mod names;
pub mod plan;
pub mod validate;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub use api::AzureError;
pub use plan::{Change, Desired, Observation};

use super::kind::{KindPlan, ProviderKind};
use super::{Calls, Past, ProviderError, Reach};
use crate::grant::{Grant, Window, fmt_time};
use crate::plan::terms::Refusal;
use crate::policy::{Identity, Policy, Provider, RawPolicy, RawRole, Role};
use crate::rule::Rule;
use crate::validate::Sink;

/// An azure-pim provider the run has reached: its scope, and the client.
#[derive(Debug)]
pub struct AzurePim {
    provider: String,
    scope: String,
    repository: String,
    client: api::Client,
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The last segment of an id (`…/RoleAssignmentSchedules/<guid>` → the GUID).
fn last(id: &str) -> String {
    id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase()
}

impl AzurePim {
    /// The scope's definitions, gitgrant's own requests, and every
    /// assignment in force, read in three listings (each paged).
    async fn read(&self) -> Result<Observation, AzureError> {
        let me = self.client.me(&self.scope).await?;
        let definitions = (self.client.definitions(&self.scope).await?.iter())
            .map(|d| {
                let p = &d["properties"];
                let list = |key: &str| -> Vec<&str> {
                    (p["permissions"].as_array().into_iter().flatten())
                        .flat_map(|perm| perm[key].as_array().into_iter().flatten())
                        .filter_map(Value::as_str)
                        .collect()
                };
                let name = text(&p["roleName"]);
                plan::Definition {
                    id: text(&d["id"]),
                    admin: names::is_admin_role(&name)
                        || names::is_admin_role(&text(&d["id"]))
                        || names::writes_role_assignments(&list("actions"), &list("notActions")),
                    name,
                }
            })
            .collect();
        let same_scope = |p: &Value| text(&p["scope"]).eq_ignore_ascii_case(&self.scope);
        let requests: Vec<plan::Request> = (self.client.requests(&self.scope).await?.iter())
            .filter_map(|r| {
                let p = &r["properties"];
                // Ours only when PIM says the reconciler made it (the
                // requestor is the token's own principal) and its
                // justification carries this repository's marker.
                if !same_scope(p) || !text(&p["requestorId"]).eq_ignore_ascii_case(&me) {
                    return None;
                }
                let justification = text(&p["justification"]);
                let grant = names::grant_of(&justification, &self.repository)?;
                let schedule = &p["scheduleInfo"];
                Some(plan::Request {
                    name: text(&r["name"]),
                    grant: grant.to_string(),
                    request_type: text(&p["requestType"]),
                    status: text(&p["status"]),
                    principal: text(&p["principalId"]).to_ascii_lowercase(),
                    role_definition: text(&p["roleDefinitionId"]),
                    start: time(&schedule["startDateTime"]),
                    end: time(&schedule["expiration"]["endDateTime"]),
                    target_schedule: p["targetRoleAssignmentScheduleId"].as_str().map(last),
                    created: time(&p["createdOn"]),
                })
            })
            .collect();
        let instances = (self.client.instances(&self.scope).await?.iter())
            .filter(|i| same_scope(&i["properties"]))
            .map(|i| {
                let p = &i["properties"];
                let principal = text(&p["principalId"]).to_ascii_lowercase();
                let schedule = last(&text(&p["roleAssignmentScheduleId"]));
                let grant = requests
                    .iter()
                    .find(|r| {
                        r.request_type != "AdminRemove"
                            && r.target_schedule.as_deref() == Some(schedule.as_str())
                            && r.principal == principal
                    })
                    .map(|r| r.grant.clone());
                plan::Instance {
                    name: text(&i["name"]),
                    principal,
                    role_definition: text(&p["roleDefinitionId"]),
                    schedule,
                    start: time(&p["startDateTime"]),
                    end: time(&p["endDateTime"]),
                    grant,
                }
            })
            .collect();
        Ok(Observation {
            provider: self.provider.clone(),
            scope: self.scope.clone(),
            definitions,
            requests,
            instances,
        })
    }

    /// The body of the schedule request `change` makes.
    fn body(&self, change: &Change) -> Value {
        let a = change.assignment();
        let mut p = json!({
            "principalId": a.principal,
            "roleDefinitionId": a.role_definition,
            "requestType": change.request_type(),
            "justification": a.justification,
        });
        if !matches!(change, Change::Revoke { .. }) {
            p["scheduleInfo"] = json!({
                "startDateTime": fmt_time(a.window.start),
                "expiration": {"type": "AfterDateTime", "endDateTime": fmt_time(a.window.end)},
            });
        }
        if let Some(t) = &a.ticket {
            p["ticketInfo"] = json!({"ticketNumber": t, "ticketSystem": self.repository});
        }
        json!({ "properties": p })
    }
}

impl super::Provider for AzurePim {
    type Observation = Observation;
    type Change = Change;
    type Error = AzureError;

    fn name(&self) -> &str {
        &self.provider
    }

    /// Three listings (definitions, requests, instances), no write.
    async fn observe(&self) -> Result<Observation, AzureError> {
        self.read().await
    }

    /// One schedule request. PIM's `RoleAssignmentExists` for a request
    /// gitgrant already made is that request succeeding; a removal of an
    /// assignment Azure has already ended is done.
    async fn apply(&self, change: &Change) -> Result<(), AzureError> {
        const METHOD: &str = "PutRoleAssignmentScheduleRequest";
        let a = change.assignment();
        let answer = self
            .client
            .put_request(&self.scope, &a.request, &self.body(change))
            .await?;
        let r = match answer {
            Ok(v) => {
                let status = text(&v["properties"]["status"]);
                if plan::failed(&status) {
                    return Err(AzureError {
                        method: METHOD,
                        scope: self.scope.clone(),
                        detail: format!(
                            "PIM answered {status} for {} {}; see the request {} in PIM's audit history",
                            change.request_type(),
                            plan::assigned(a),
                            a.request
                        ),
                    });
                }
                return Ok(());
            }
            Err(r) => r,
        };
        match (change, r.status, r.code.as_str()) {
            (Change::Revoke { .. }, 400 | 404, "RoleAssignmentDoesNotExist") => Ok(()),
            (_, 409, "RoleAssignmentExists") => {
                let made = self.client.get_request(&self.scope, &a.request).await?;
                let ours = made.as_ref().is_some_and(|v| {
                    names::grant_of(&text(&v["properties"]["justification"]), &self.repository)
                        == Some(a.grant.as_str())
                });
                if ours {
                    Ok(())
                } else {
                    Err(AzureError {
                        method: METHOD,
                        scope: self.scope.clone(),
                        detail: format!(
                            "RoleAssignmentExists: {} is already assigned by an assignment gitgrant did not make; remove that one in PIM, or leave the grant",
                            plan::assigned(a)
                        ),
                    })
                }
            }
            (_, 400, "RoleAssignmentRequestPolicyValidationFailed") => Err(AzureError {
                method: METHOD,
                scope: self.scope.clone(),
                detail: format!(
                    "Azure refused the window of {} ({}): {}; in PIM, Azure resources, {}, Settings, role {}: allow active assignments of at least {} (\"Expire active assignments after\")",
                    plan::assigned(a),
                    change.request_type(),
                    r.message,
                    a.scope,
                    a.role_name,
                    a.window.length().map_or_else(String::new, |d| d.to_string())
                ),
            }),
            _ => Err(api::error(METHOD, &self.scope, &r)),
        }
    }

    fn calls(&self) -> Calls {
        self.client.calls()
    }
}

/// The `azure-pim` kind, as the registry reaches it.
pub struct Kind;

impl ProviderKind for Kind {
    /// Azure RBAC, "Troubleshoot Azure RBAC", role assignment changes not
    /// detected: Azure Resource Manager caches, and "it can take up to 10
    /// minutes for changes to take effect".
    const PROPAGATION_SECONDS: Option<i64> = Some(10 * 60);

    type Desired = Desired;
    type Observation = Observation;
    type Change = Change;
    type Adapter = AzurePim;
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
        now: DateTime<Utc>,
        refused: &mut Vec<Refusal>,
    ) -> KindPlan<Change> {
        KindPlan {
            changes: plan::plan(&policy.repository(), &wanted, &observed, known, now, refused),
            unfenced: Vec::new(),
        }
    }

    fn recorded_grants(o: &Observation, _repository: &str) -> Vec<String> {
        let mut out: Vec<String> = o.instances.iter().filter_map(|i| i.grant.clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// A request is ours only when PIM names the reconciler as its
    /// requestor: none is read unclaimed.
    fn unclaimed(_: &Observation) -> Vec<&String> {
        Vec::new()
    }

    async fn connect(
        _: &Reach,
        policy: &Policy,
        provider: &Provider,
    ) -> Result<AzurePim, ProviderError> {
        let keys = &provider.keys.azure_pim;
        let endpoint = keys
            .management_endpoint
            .as_deref()
            .unwrap_or(names::DEFAULT_ENDPOINT);
        let tenant = keys.tenant_id.as_deref().unwrap_or_default();
        Ok(AzurePim {
            provider: provider.name.clone(),
            scope: keys.scope.clone().unwrap_or_default(),
            repository: policy.repository(),
            client: api::Client::from_env(tenant, endpoint).map_err(ProviderError::of)?,
        })
    }

    fn targets_text(_: &Role, providers: &[&Provider]) -> Vec<String> {
        providers
            .iter()
            .map(|p| {
                format!(
                    "Azure `{}` ({})",
                    p.keys.azure_pim.scope.as_deref().unwrap_or_default(),
                    p.name
                )
            })
            .collect()
    }

    fn access_text(role: &Role, p: &Provider, who: &str) -> String {
        let roles: Vec<String> = (role.permissions.azure_pim.azure_roles.iter())
            .map(|r| format!("`{r}`"))
            .collect();
        format!(
            "role {} at `{}` for {who} ({})",
            roles.join(", "),
            p.keys.azure_pim.scope.as_deref().unwrap_or_default(),
            p.name
        )
    }

    /// Azure ends the assignment itself; what a role lets its holder make
    /// that outlives it (role assignments) needs `allow_admin`.
    fn unfenced(_: &Policy, _: &Role) -> Vec<String> {
        Vec::new()
    }

    fn widened(old: &Role, new: &Role) -> Vec<String> {
        let (o, n) = (&old.permissions.azure_pim, &new.permissions.azure_pim);
        let added: Vec<&str> = (n.azure_roles.iter())
            .filter(|r| !o.azure_roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
            .map(String::as_str)
            .collect();
        if added.is_empty() {
            Vec::new()
        } else {
            vec![format!("azure_roles added: {}", added.join(", "))]
        }
    }

    fn check_identity(raw: &config::RawIdentity, path: &str, s: &mut Sink) {
        validate::check_object_id(&raw.azure_object_id, path, s);
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

    /// A custom role with what a run needs at the scope: to read role
    /// definitions, schedule requests and instances, and to make schedule
    /// requests (which PIM carries out as role assignments).
    fn reconciler_policy(_: &Policy, provider: &Provider) -> Value {
        let scope = provider.keys.azure_pim.scope.as_deref().unwrap_or_default();
        json!({
            "Name": "gitgrant reconciler",
            "IsCustom": true,
            "Description": format!("Makes and reads PIM role assignment schedule requests at {scope}, for gitgrant"),
            "Actions": [
                "Microsoft.Authorization/roleDefinitions/read",
                "Microsoft.Authorization/roleAssignments/read",
                "Microsoft.Authorization/roleAssignments/write",
                "Microsoft.Authorization/roleAssignments/delete",
                "Microsoft.Authorization/roleAssignmentScheduleRequests/read",
                "Microsoft.Authorization/roleAssignmentScheduleRequests/write",
                "Microsoft.Authorization/roleAssignmentScheduleInstances/read",
                "Microsoft.Authorization/roleAssignmentSchedules/read",
            ],
            "NotActions": [],
            "AssignableScopes": [scope],
        })
    }
}
