//! Azure's half of the plan: the role assignments each grant should have
//! at its provider's scope, and the diff against what PIM says is in
//! force. Pure: the adapter turns each change into one schedule request.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::names;
use crate::grant::{Grant, Window, fmt_time};
use crate::plan::terms::{Action, KindChange, Known, Refusal, RevokeReason};
use crate::policy::{Policy, Provider, Role};

/// One grant's role assignments at one scope: one per Azure role.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The grant id.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// The scope the roles are assigned at.
    pub scope: String,
    /// The Entra user's object id.
    pub principal: String,
    /// The grant's window: each assignment's start and end.
    pub window: Window,
    /// The Azure roles, as the role names them.
    pub roles: Vec<String>,
    /// Whether the role allows roles that write role assignments.
    pub allow_admin: bool,
    /// The request's justification: the marker and the grant's reason.
    pub justification: String,
    /// The grant's ticket, carried in the request's `ticketInfo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// What a grant of `role` asks of the azure-pim provider `provider` over
/// `window`: `None` when the subject has no object id (validation reports
/// it) or the provider no scope.
pub fn desired(
    policy: &Policy,
    grant: &Grant,
    role: &Role,
    provider: &Provider,
    window: Window,
) -> Option<Result<Desired, String>> {
    let crate::policy::Identity::AzurePim(super::config::Identity::ObjectId(principal)) =
        policy.people.get(&grant.subject)?.identity_on(provider)?
    else {
        return None;
    };
    let scope = provider.keys.azure_pim.scope.clone()?;
    let repository = policy.repository();
    Some(Ok(Desired {
        grant: grant.id.to_string(),
        provider: provider.name.clone(),
        scope,
        principal: principal.to_ascii_lowercase(),
        window,
        roles: role.permissions.azure_pim.azure_roles.clone(),
        allow_admin: role.allow_admin,
        justification: names::justification(&repository, &grant.id.to_string(), &grant.reason),
        ticket: grant.ticket.clone(),
    }))
}

/// A role definition at the scope, as ARM lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Definition {
    /// Its full id: `/subscriptions/…/providers/Microsoft.Authorization/roleDefinitions/<GUID>`.
    pub id: String,
    /// Its name: `Contributor`.
    pub name: String,
    /// Whether its holder can write role assignments (its actions say so,
    /// or it is a built-in admin role).
    pub admin: bool,
}

/// A schedule request gitgrant made at the scope (its requestor is the
/// reconciler's own principal and its justification carries this
/// repository's marker).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    /// Its name, a GUID.
    pub name: String,
    /// The grant its marker names.
    pub grant: String,
    /// `AdminAssign`, `AdminUpdate`, `AdminRemove`…
    pub request_type: String,
    /// PIM's status: `Provisioned`, `Failed`, `Revoked`…
    pub status: String,
    /// The principal.
    pub principal: String,
    /// The role definition id.
    pub role_definition: String,
    /// The schedule's start.
    pub start: Option<DateTime<Utc>>,
    /// The schedule's end (`None`: no end).
    pub end: Option<DateTime<Utc>>,
    /// The role assignment schedule the request made or changed.
    pub target_schedule: Option<String>,
    /// When PIM recorded it.
    pub created: Option<DateTime<Utc>>,
}

impl Request {
    /// Whether PIM did not or will not carry it out.
    pub fn failed(&self) -> bool {
        failed(&self.status)
    }
}

/// Whether PIM's request status `status` says it did not or will not
/// carry the request out.
pub fn failed(status: &str) -> bool {
    matches!(
        status,
        "Failed"
            | "Denied"
            | "Canceled"
            | "Invalid"
            | "TimedOut"
            | "AdminDenied"
            | "FailedAsResourceIsLocked"
    )
}

/// A role assignment in force at the scope, as PIM lists its instances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// The instance's name.
    pub name: String,
    /// The principal.
    pub principal: String,
    /// The role definition id.
    pub role_definition: String,
    /// The schedule it is an instance of.
    pub schedule: String,
    /// Its start.
    pub start: Option<DateTime<Utc>>,
    /// Its end (`None`: permanent).
    pub end: Option<DateTime<Utc>>,
    /// The grant whose request made its schedule, when gitgrant made it
    /// for this repository; `None` for every other assignment.
    pub grant: Option<String>,
}

/// A scope's role assignments as one run read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    /// The provider.
    pub provider: String,
    /// The scope.
    pub scope: String,
    /// The role definitions assignable there.
    pub definitions: Vec<Definition>,
    /// gitgrant's own requests there.
    pub requests: Vec<Request>,
    /// The assignments in force there: gitgrant's and everyone else's.
    pub instances: Vec<Instance>,
}

impl Observation {
    /// The definition `role` (a name or id, as written) names.
    pub fn definition(&self, role: &str) -> Option<&Definition> {
        let guid = names::definition_guid(role);
        self.definitions.iter().find(|d| {
            d.name.eq_ignore_ascii_case(role)
                || names::definition_guid(&d.id).eq_ignore_ascii_case(guid)
        })
    }

    fn name_of(&self, id: &str) -> String {
        self.definition(id).map_or_else(
            || names::definition_guid(id).to_string(),
            |d| d.name.clone(),
        )
    }

    /// gitgrant's assignments in force, by grant and role definition GUID.
    fn ours(&self) -> BTreeMap<(String, String), &Instance> {
        self.instances
            .iter()
            .filter_map(|i| {
                let g = i.grant.clone()?;
                Some(((g, guid_key(&i.role_definition)), i))
            })
            .collect()
    }
}

fn guid_key(id: &str) -> String {
    names::definition_guid(id).to_ascii_lowercase()
}

/// One role assignment to make, change or end: one schedule request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assignment {
    /// The grant.
    pub grant: String,
    /// The provider.
    pub provider: String,
    /// The scope.
    pub scope: String,
    /// The principal.
    pub principal: String,
    /// The role definition id.
    pub role_definition: String,
    /// The role's name.
    pub role_name: String,
    /// The window the request asks for (for a removal, the one ended).
    pub window: Window,
    /// The request's name, deterministic (see [`names::request_name`]).
    pub request: String,
    /// The justification.
    pub justification: String,
    /// The ticket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
}

/// One change at a scope: one schedule request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// `AdminAssign`: a role assignment for the window.
    Grant {
        /// What to assign.
        assignment: Assignment,
        /// Why it is made again, when an earlier run made it and someone
        /// removed it before its end: reported as drift.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        drift: Vec<String>,
    },
    /// `AdminUpdate`: the assignment's window moved, or was tampered with.
    Update {
        /// What it should be.
        assignment: Assignment,
        /// Tampering found, in words: reported as drift.
        drift: Vec<String>,
    },
    /// `AdminRemove`: the assignment ends now.
    Revoke {
        /// What ends.
        assignment: Assignment,
        /// Why.
        reason: RevokeReason,
    },
}

impl Change {
    /// The assignment it makes, changes or ends.
    pub fn assignment(&self) -> &Assignment {
        match self {
            Change::Grant { assignment, .. }
            | Change::Update { assignment, .. }
            | Change::Revoke { assignment, .. } => assignment,
        }
    }

    /// PIM's request type for it.
    pub fn request_type(&self) -> &'static str {
        match self {
            Change::Grant { .. } => "AdminAssign",
            Change::Update { .. } => "AdminUpdate",
            Change::Revoke { .. } => "AdminRemove",
        }
    }
}

/// `role Contributor at /subscriptions/… for Entra user 1111…`.
pub fn assigned(a: &Assignment) -> String {
    format!(
        "role {} at {} for Entra user {}",
        a.role_name, a.scope, a.principal
    )
}

impl KindChange for Change {
    fn provider(&self) -> &str {
        &self.assignment().provider
    }

    fn grant(&self) -> &str {
        &self.assignment().grant
    }

    fn action(&self) -> Action {
        match self {
            Change::Grant { .. } => Action::Grant,
            Change::Update { .. } => Action::Update,
            Change::Revoke { .. } => Action::Revoke,
        }
    }

    fn revoke_reason(&self) -> Option<RevokeReason> {
        match self {
            Change::Revoke { reason, .. } => Some(*reason),
            Change::Grant { .. } | Change::Update { .. } => None,
        }
    }

    fn is_drift(&self) -> bool {
        match self {
            Change::Grant { drift, .. } | Change::Update { drift, .. } => !drift.is_empty(),
            Change::Revoke { reason, .. } => *reason == RevokeReason::Drift,
        }
    }

    fn text(&self) -> String {
        let a = self.assignment();
        match self {
            Change::Grant { drift, .. } => format!(
                "grant   {} in {}: {}{} from {} until {} (PIM AdminAssign, request {})",
                a.grant,
                a.provider,
                drift.iter().map(|x| format!("drift: {x}; ")).collect::<String>(),
                assigned(a),
                fmt_time(a.window.start),
                fmt_time(a.window.end),
                a.request
            ),
            Change::Update { drift, .. } => {
                let found: String = drift.iter().map(|x| format!("drift: {x}; ")).collect();
                format!(
                    "update  {} in {}: {found}{} from {} until {} (PIM AdminUpdate, request {})",
                    a.grant,
                    a.provider,
                    assigned(a),
                    fmt_time(a.window.start),
                    fmt_time(a.window.end),
                    a.request
                )
            }
            Change::Revoke { reason, .. } => format!(
                "revoke  {} in {} ({reason}): {} (PIM AdminRemove, request {})",
                a.grant,
                a.provider,
                assigned(a),
                a.request
            ),
        }
    }
}

/// The changes that make each observed scope's assignments of this
/// repository what `wanted` says at `now`. A grant is refused (with why)
/// when a role it names is not defined at the scope, when a custom role
/// can write role assignments and the role does not allow admin, or when
/// the principal already holds the role through an assignment gitgrant
/// did not make (ending the grant would not end that access).
pub fn plan(
    repository: &str,
    wanted: &[Desired],
    observed: &BTreeMap<String, Observation>,
    known: &Known,
    now: DateTime<Utc>,
    refused: &mut Vec<Refusal>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (name, o) in observed {
        let ours = o.ours();
        let mut kept: BTreeSet<(String, String)> = BTreeSet::new();
        for d in wanted.iter().filter(|d| &d.provider == name) {
            let mut mine = Vec::new();
            let mut why = None;
            for r in &d.roles {
                match o.definition(r) {
                    None => why = Some(format!("Azure has no role `{r}` at {}", o.scope)),
                    Some(def) if def.admin && !d.allow_admin => {
                        why = Some(format!(
                            "`{}` can write role assignments, so its holder could make their access permanent; the role needs `allow_admin: true`",
                            def.name
                        ));
                    }
                    Some(def) => {
                        let foreign = o.instances.iter().find(|i| {
                            i.grant.is_none()
                                && i.principal.eq_ignore_ascii_case(&d.principal)
                                && guid_key(&i.role_definition) == guid_key(&def.id)
                        });
                        if let Some(f) = foreign {
                            why = Some(format!(
                                "Entra user {} already holds {} at {} through an assignment gitgrant did not make ({}); the end of the grant would not end it",
                                d.principal,
                                def.name,
                                o.scope,
                                f.end.map_or("permanent".to_string(), |e| format!("ends {}", fmt_time(e)))
                            ));
                        }
                        mine.push(def);
                    }
                }
            }
            if let Some(why) = why {
                refused.push(Refusal {
                    grant: d.grant.clone(),
                    provider: name.clone(),
                    why,
                });
                continue;
            }
            for def in mine {
                let key = (d.grant.clone(), guid_key(&def.id));
                let assignment = |action: &str| Assignment {
                    grant: d.grant.clone(),
                    provider: name.clone(),
                    scope: o.scope.clone(),
                    principal: d.principal.clone(),
                    role_definition: def.id.clone(),
                    role_name: def.name.clone(),
                    window: d.window,
                    request: names::request_name(
                        action,
                        repository,
                        &d.grant,
                        &def.id,
                        &o.scope,
                        d.window,
                    ),
                    justification: d.justification.clone(),
                    ticket: d.ticket.clone(),
                };
                // An assignment of gitgrant's to another principal (the
                // person's object id changed) is not this one: it ends below.
                let held = ours
                    .get(&key)
                    .filter(|i| i.principal.eq_ignore_ascii_case(&d.principal));
                if let Some(i) = held {
                    kept.insert(key);
                    if i.end == Some(d.window.end) {
                        continue;
                    }
                    // The end gitgrant last asked for: when the assignment
                    // ends otherwise, someone changed it.
                    let asked = newest(o, &d.grant, &def.id).and_then(|r| r.end);
                    let drift = if asked == i.end {
                        Vec::new()
                    } else {
                        vec![format!(
                            "the assignment {} instead of {}",
                            i.end.map_or("has no end".to_string(), |e| format!("ends {}", fmt_time(e))),
                            asked.map_or("the window's end".to_string(), fmt_time)
                        )]
                    };
                    changes.push(Change::Update {
                        assignment: assignment("update"),
                        drift,
                    });
                    continue;
                }
                if d.window.end <= now {
                    continue;
                }
                // gitgrant's earlier assignments of it (requests PIM
                // carried out). One still being carried out, or whose window
                // has not started, is in place; one PIM carried out that no
                // instance shows any more was removed before its end by
                // someone else: made again under a new name.
                let earlier: Vec<&Request> = (o.requests.iter())
                    .filter(|r| {
                        r.grant == d.grant
                            && guid_key(&r.role_definition) == guid_key(&def.id)
                            && r.request_type == "AdminAssign"
                            && !r.failed()
                    })
                    .collect();
                if !earlier.is_empty()
                    && (earlier.iter().any(|r| r.status != "Provisioned") || d.window.start > now)
                {
                    continue;
                }
                let (action, drift) = match earlier.len() {
                    0 => ("assign".to_string(), Vec::new()),
                    n => (
                        format!("assign again {n}"),
                        vec![format!(
                            "the assignment {} made is no longer in force before its end",
                            earlier.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
                        )],
                    ),
                };
                changes.push(Change::Grant {
                    assignment: assignment(&action),
                    drift,
                });
            }
        }
        for ((grant, def), i) in &ours {
            if kept.contains(&(grant.clone(), def.clone())) {
                continue;
            }
            let reason = known.get(grant).copied().unwrap_or(RevokeReason::Drift);
            let window = Window {
                start: i.start.unwrap_or(now),
                end: i.end.unwrap_or(now),
            };
            let text = format!("access ends: {reason}");
            changes.push(Change::Revoke {
                assignment: Assignment {
                    grant: grant.clone(),
                    provider: name.clone(),
                    scope: o.scope.clone(),
                    principal: i.principal.clone(),
                    role_definition: i.role_definition.clone(),
                    role_name: o.name_of(&i.role_definition),
                    window,
                    request: names::request_name(
                        "remove",
                        repository,
                        grant,
                        &i.role_definition,
                        &o.scope,
                        window,
                    ),
                    justification: names::justification(repository, grant, &text),
                    ticket: None,
                },
                reason,
            });
        }
    }
    changes
}

/// gitgrant's newest request of `grant` for `definition` that PIM carried out.
fn newest<'a>(o: &'a Observation, grant: &str, definition: &str) -> Option<&'a Request> {
    o.requests
        .iter()
        .filter(|r| {
            r.grant == grant
                && guid_key(&r.role_definition) == guid_key(definition)
                && !r.failed()
                && r.request_type != "AdminRemove"
        })
        .max_by_key(|r| r.created)
}
