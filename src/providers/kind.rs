//! What a provider kind's folder gives the run: the contract each kind
//! implements once, and the registry's dispatch calls.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Past, ProviderError, Reach};
use crate::grant::{Grant, Window};
use crate::plan::terms::{KindChange, Refusal, Unfenced};
use crate::policy::{Identity, Policy, Provider, RawPolicy, RawRole, Role};
use crate::rule::Rule;
use crate::validate::Sink;

/// One kind's plan: its changes, and the grants whose sessions outlive
/// their window (each kind says which, if any).
#[derive(Debug)]
pub struct KindPlan<C> {
    /// The changes, in any order (the plan sorts them).
    pub changes: Vec<C>,
    /// Grants whose sessions no end of the window ends.
    pub unfenced: Vec<Unfenced>,
}

/// A provider kind, as the run reaches it: implemented once per kind's
/// folder (by a unit type `Kind` there) and called through the registry.
#[allow(async_fn_in_trait)] // implemented and called within this crate
pub trait ProviderKind {
    /// How long the cloud documents a removal of access taking to hold
    /// everywhere, in seconds, when it documents one: a run that ends
    /// access early is that much later in effect.
    const PROPAGATION_SECONDS: Option<i64> = None;

    /// Whether the cloud itself ends a grant's access at its window's end
    /// (a condition or schedule it enforces); `false` when only a run
    /// can, as in PostgreSQL, which has no timed grant.
    const ENDS_BY_ITSELF: bool = true;

    /// One active grant's resource in one provider.
    type Desired: Clone + serde::Serialize;
    /// What a run reads of one provider before planning.
    type Observation: Clone;
    /// One change the kind's plan makes.
    type Change: KindChange;
    /// A provider the run has reached.
    type Adapter: super::Provider<Observation = Self::Observation, Change = Self::Change>;

    /// What a grant of `role` asks of the provider `target` over `window`:
    /// `None` when it asks nothing there, `Err` with why when it cannot be
    /// applied (a quota it would break, no identity there).
    fn desired(
        policy: &Policy,
        grant: &Grant,
        role: &Role,
        target: &Provider,
        window: Window,
        commit: &str,
    ) -> Option<Result<Self::Desired, String>>;

    /// The grant a desired resource carries, and its provider.
    fn wanted_of(d: &Self::Desired) -> (&str, &str);

    /// The kind's changes for what is `wanted` of it against what was
    /// `observed` (by provider name), given the [`Past`]. Grants it cannot
    /// apply are added to `refused`.
    fn plan(
        policy: &Policy,
        wanted: Vec<Self::Desired>,
        observed: BTreeMap<String, Self::Observation>,
        past: Past,
        now: DateTime<Utc>,
        refused: &mut Vec<Refusal>,
    ) -> KindPlan<Self::Change>;

    /// The grant ids the resources read record (what the cloud says: any
    /// text, believed only as far as the kind's naming rules go).
    fn recorded_grants(o: &Self::Observation, repository: &str) -> Vec<String>;

    /// The names of resources of gitgrant's naming read unclaimed (their
    /// marker was tampered with); empty for kinds whose resources cannot be.
    fn unclaimed(o: &Self::Observation) -> Vec<&String>;

    /// Reaches `provider` for the access repository of `policy`.
    async fn connect(
        reach: &Reach,
        policy: &Policy,
        provider: &Provider,
    ) -> Result<Self::Adapter, ProviderError>;

    /// Where grants of `role` apply in `providers` (the role's providers of
    /// this kind), for people: ``AWS account `111111111111` (aws-prod)``.
    fn targets_text(role: &Role, providers: &[&Provider]) -> Vec<String>;

    /// How `provider` carries a grant of `role` to `who` (an identity, or
    /// a person without one there, in Markdown), in words.
    fn access_text(role: &Role, provider: &Provider, who: &str) -> String;

    /// What a grant of `role` lets its subject start that the end of its
    /// window does not end (role sessions no fence ends), whichever kinds
    /// the role applies in.
    fn unfenced(policy: &Policy, role: &Role) -> Vec<String>;

    /// What the change of a role from `old` to `new` added in this kind's
    /// keys, in words; empty when nothing was.
    fn widened(old: &Role, new: &Role) -> Vec<String>;

    /// A person's keys for this kind, as written.
    type RawIdentity;

    /// Checks a person's keys for this kind, written at `path`.
    fn check_identity(raw: &Self::RawIdentity, path: &str, s: &mut Sink);

    /// Checks what one role as written says in this kind's keys (every
    /// role, whichever kinds it applies in: a key of another kind's is
    /// this kind's to refuse).
    fn check_role(p: &RawPolicy, name: &str, role: &RawRole, s: &mut Sink);

    /// Checks the policy as a whole for this kind (its providers, and its
    /// roles against them).
    fn check_policy(p: &RawPolicy, s: &mut Sink);

    /// Why `identity` cannot hold a grant of `role`, if it cannot: the
    /// rule, and the reason in words (`grants assume_roles, which …`).
    fn unfit(role: &Role, identity: &Identity) -> Option<(Rule, String)>;

    /// The least-privilege policy the reconciler needs for `provider`.
    fn reconciler_policy(policy: &Policy, provider: &Provider) -> serde_json::Value;
}
