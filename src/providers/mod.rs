//! Cloud providers, side by side: one folder per kind, each holding its
//! pure parts (names, documents, quotas, the plan's diff) beside the adapter
//! that calls the cloud. `aws_iam` is AWS IAM; `aws` is what every AWS kind
//! shares. The engine reaches every kind through [`Connected`], the one
//! place that matches on the kind.

pub mod aws;
pub mod aws_iam;
pub mod aws_identity_center;
pub mod gcp_iam;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use chrono::{DateTime, Utc};

use crate::plan::Change;
use crate::plan::terms::{Known, Refusal};
use crate::policy::{Policy, Provider as ProviderConfig, ProviderType};

/// The most items one IAM list call may ask for.
pub use aws_iam::MAX_PAGE_SIZE as IAM_MAX_PAGE_SIZE;
/// The trust policy of the role the reconciler assumes from GitHub
/// Actions (OIDC), for `init`.
pub use aws_iam::document::github_trust_policy;
/// An IAM policy document as gitgrant prints it (`iam-policy`, `init`).
pub use aws_iam::document::pretty;

/// One active grant's resource in one provider, in its kind's terms.
#[derive(Debug, Clone, PartialEq)]
pub enum Wanted {
    /// A managed policy in an AWS IAM account.
    AwsIam(aws_iam::Desired),
    /// A permission set in an IAM Identity Center instance.
    AwsIdentityCenter(aws_identity_center::Desired),
}

impl Wanted {
    /// The grant id.
    pub fn grant(&self) -> &str {
        match self {
            Wanted::AwsIam(d) => &d.grant,
            Wanted::AwsIdentityCenter(d) => &d.grant,
        }
    }

    /// The provider.
    pub fn provider(&self) -> &str {
        match self {
            Wanted::AwsIam(d) => &d.provider,
            Wanted::AwsIdentityCenter(d) => &d.provider,
        }
    }
}

/// What a grant of `role` asks of the provider `target` over `window`, in
/// its kind's terms: `None` when it asks nothing there, `Err` with why when
/// it cannot be applied (a quota it would break, no identity there).
pub fn desired(
    policy: &Policy,
    grant: &crate::grant::Grant,
    role: &crate::policy::Role,
    target: &ProviderConfig,
    window: crate::grant::Window,
    commit: &str,
) -> Option<Result<Wanted, String>> {
    match target.kind {
        ProviderType::AwsIam => aws_iam::plan::desired(policy, grant, role, target, window, commit)
            .map(|d| d.map(Wanted::AwsIam)),
        ProviderType::AwsIdentityCenter => {
            aws_identity_center::plan::desired(policy, grant, role, target, window)
                .map(|d| d.map(Wanted::AwsIdentityCenter))
        }
    }
}

/// What git says of the grants no longer active: why their resources
/// should go, and the ended grants whose fence statements it gives.
#[derive(Debug, Clone, Copy)]
pub struct Past<'a> {
    /// Why resources no active grant explains should go.
    pub known: &'a Known,
    /// The ended grants whose fence statements git gives.
    pub ended: &'a [aws_iam::fence::Ended],
}

/// The plan of every kind: each kind's changes for what is `wanted` of it
/// against what was `observed`, given the [`Past`].
pub fn plan(
    policy: &Policy,
    wanted: &[Wanted],
    observed: &Observations,
    Past { known, ended }: Past,
    now: DateTime<Utc>,
    mut refused: Vec<Refusal>,
) -> crate::plan::Plan {
    let mut iam_wanted: Vec<aws_iam::Desired> = Vec::new();
    let mut ic_wanted: Vec<aws_identity_center::Desired> = Vec::new();
    for w in wanted {
        match w {
            Wanted::AwsIam(d) => iam_wanted.push(d.clone()),
            Wanted::AwsIdentityCenter(d) => ic_wanted.push(d.clone()),
        }
    }
    let mut iam_observed: BTreeMap<String, aws_iam::Observation> = BTreeMap::new();
    let mut ic_observed: BTreeMap<String, aws_identity_center::Observation> = BTreeMap::new();
    for (name, o) in observed {
        match o {
            Observation::AwsIam(o) => {
                iam_observed.insert(name.clone(), o.clone());
            }
            Observation::AwsIdentityCenter(o) => {
                ic_observed.insert(name.clone(), o.clone());
            }
        }
    }
    aws_iam::plan::spell_as_iam(&mut iam_wanted, &iam_observed);
    // Session fences: planned as policies of their own beside the grants'.
    let (fences, unfenced, fence_refused, fence_drift) =
        aws_iam::fence::plan(policy, &iam_wanted, &iam_observed, known, ended, now);
    iam_wanted.retain(|d| !fence_refused.iter().any(|r| r.grant == d.grant));
    iam_wanted.extend(fences);
    refused.extend(fence_refused);
    let ids: Vec<String> = (ic_wanted.iter().map(|d| d.grant.clone()))
        .chain(known.keys().cloned())
        .collect();
    aws_identity_center::plan::claim(&mut ic_observed, &policy.repository(), &ids);
    let mut iam_changes = aws_iam::plan::plan(
        &policy.repository(),
        &iam_wanted,
        &iam_observed,
        known,
        &mut refused,
    );
    aws_iam::fence::report_drift(&mut iam_changes, &fence_drift);
    let mut changes: Vec<Change> = iam_changes.into_iter().map(Change::AwsIam).collect();
    changes.extend(
        aws_identity_center::plan::plan(&ic_wanted, &ic_observed, known, now, &mut refused)
            .into_iter()
            .map(Change::AwsIdentityCenter),
    );
    let mut plan = crate::plan::Plan::of(changes, refused, Vec::new());
    plan.unfenced = unfenced;
    plan
}

/// How many calls a provider made, by action (`iam:CreatePolicy`), split
/// into reads and writes. Counted once per call, however many attempts it
/// took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Calls {
    /// Reads (`Get*`, `List*`), by action.
    pub reads: BTreeMap<String, u64>,
    /// Writes (everything else), by action.
    pub writes: BTreeMap<String, u64>,
    /// Attempts beyond the first (retries after throttling, 5xx, timeouts).
    pub retries: u64,
}

impl Calls {
    /// Counts one call of `operation` of `service` (`iam`, `sts`).
    pub fn count(&mut self, service: &str, operation: &str) {
        let map = if is_read(operation) {
            &mut self.reads
        } else {
            &mut self.writes
        };
        *map.entry(format!("{service}:{operation}")).or_default() += 1;
    }

    /// All reads.
    pub fn total_reads(&self) -> u64 {
        self.reads.values().sum()
    }

    /// Reads of `service` alone.
    pub fn reads_of(&self, service: &str) -> u64 {
        let prefix = format!("{service}:");
        self.reads
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
            .sum()
    }

    /// All writes.
    pub fn total_writes(&self) -> u64 {
        self.writes.values().sum()
    }

    /// Adds another count to this one.
    pub fn add(&mut self, other: &Calls) {
        for (k, v) in &other.reads {
            *self.reads.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.writes {
            *self.writes.entry(k.clone()).or_default() += v;
        }
        self.retries += other.retries;
    }
}

/// Whether an API operation only reads.
pub fn is_read(operation: &str) -> bool {
    operation.starts_with("Get")
        || operation.starts_with("List")
        || operation.starts_with("Describe")
}

impl fmt::Display for Calls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} reads, {} writes",
            self.total_reads(),
            self.total_writes()
        )?;
        if self.retries > 0 {
            write!(f, ", {} retries", self.retries)?;
        }
        Ok(())
    }
}

/// A cloud provider the reconciler manages grants in, as each kind's
/// adapter implements it.
#[allow(async_fn_in_trait)] // implemented and called within this crate
pub trait Provider {
    /// What one run reads before planning.
    type Observation;
    /// One change the kind's plan makes.
    type Change;

    /// The provider's name in the policy.
    fn name(&self) -> &str;

    /// Reads the state the plan needs, in pages: never one call per grant.
    async fn observe(&self) -> Result<Self::Observation, ProviderError>;

    /// Applies one change. Safe to repeat: a change that was made already,
    /// in whole or in part, is completed, never duplicated.
    async fn apply(&self, change: &Self::Change) -> Result<(), ProviderError>;

    /// The calls made so far.
    fn calls(&self) -> Calls;
}

/// A failed read or change in a provider, in one line.
pub type ProviderError = aws::AwsError;

/// What is needed to reach providers, shared by every one a run reaches.
#[derive(Debug)]
pub struct Reach {
    aws: aws_config::SdkConfig,
    /// IAM list calls ask for pages of this many items.
    pub iam_page_size: i32,
}

impl Reach {
    /// The environment's AWS configuration (credentials, endpoint), with
    /// IAM pages of `iam_page_size`.
    pub async fn from_env(iam_page_size: i32) -> Reach {
        Reach {
            aws: aws::base_config().await,
            iam_page_size,
        }
    }
}

/// A provider the run has reached, of any kind.
#[derive(Debug)]
pub enum Connected {
    /// An AWS account managed through IAM.
    AwsIam(aws_iam::AwsIam),
    /// An IAM Identity Center instance.
    AwsIdentityCenter(aws_identity_center::AwsIdentityCenter),
}

/// What a provider of any kind holds, as its kind reads it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Observation {
    /// An AWS IAM account's policies under this repository's path.
    AwsIam(aws_iam::Observation),
    /// An Identity Center instance's permission sets of this repository.
    AwsIdentityCenter(aws_identity_center::Observation),
}

impl Observation {
    /// The grant ids the resources read record (what the cloud says: any
    /// text, believed only as far as each kind's naming rules go).
    pub fn recorded_grants(&self, repository: &str) -> Vec<String> {
        match self {
            Observation::AwsIam(o) => o
                .policies
                .iter()
                .filter_map(|p| p.recorded_grant(repository))
                .map(|id| id.to_string())
                .collect(),
            Observation::AwsIdentityCenter(o) => {
                o.permission_sets.iter().map(|p| p.grant.clone()).collect()
            }
        }
    }

    /// The names of resources of gitgrant's naming read unclaimed (their
    /// marker was tampered with): only the name is left to tell whose
    /// they are (see [`name_of`]).
    pub fn unclaimed(&self) -> Vec<&String> {
        match self {
            Observation::AwsIdentityCenter(o) => o
                .permission_sets
                .iter()
                .filter(|p| p.grant.is_empty())
                .map(|p| &p.name)
                .collect(),
            Observation::AwsIam(_) => Vec::new(),
        }
    }
}

/// The name a resource of grant `id` of `repository` gets in kinds that
/// can be read unclaimed ([`Observation::unclaimed`]).
pub fn name_of(repository: &str, id: &crate::grant::GrantId) -> String {
    aws_identity_center::document::permission_set_name(repository, id)
}

impl Connected {
    /// Reaches `provider` for the access repository of `policy`.
    pub async fn connect(
        reach: &Reach,
        policy: &Policy,
        provider: &ProviderConfig,
    ) -> Result<Connected, ProviderError> {
        Ok(match provider.kind {
            ProviderType::AwsIam => Connected::AwsIam(
                aws_iam::AwsIam::connect(
                    &reach.aws,
                    provider,
                    &aws_iam::ownership_path(policy),
                    reach.iam_page_size,
                )
                .await?,
            ),
            ProviderType::AwsIdentityCenter => Connected::AwsIdentityCenter(
                aws_identity_center::AwsIdentityCenter::connect(&reach.aws, policy, provider)
                    .await?,
            ),
        })
    }

    /// Reads the provider's state.
    pub async fn observe(&self) -> Result<Observation, ProviderError> {
        Ok(match self {
            Connected::AwsIam(p) => Observation::AwsIam(p.observe().await?),
            Connected::AwsIdentityCenter(p) => Observation::AwsIdentityCenter(p.observe().await?),
        })
    }

    /// Applies one change of this provider's kind.
    pub async fn apply(&self, change: &Change) -> Result<(), ProviderError> {
        match (self, change) {
            (Connected::AwsIam(p), Change::AwsIam(c)) => p.apply(c).await,
            (Connected::AwsIdentityCenter(p), Change::AwsIdentityCenter(c)) => p.apply(c).await,
            _ => Err(aws::AwsError::NotOurs(format!(
                "a change of another kind was planned for provider {}",
                change.provider()
            ))),
        }
    }

    /// The calls made so far.
    pub fn calls(&self) -> Calls {
        match self {
            Connected::AwsIam(p) => p.calls(),
            Connected::AwsIdentityCenter(p) => p.calls(),
        }
    }
}

/// The least-privilege policy the reconciler needs for `provider`, as its
/// kind says.
pub fn reconciler_policy(policy: &Policy, provider: &ProviderConfig) -> serde_json::Value {
    match (&provider.kind, &provider.identity_center) {
        // Validation gives every Identity Center provider its instance; one
        // without is allowed nothing rather than another kind's policy.
        (ProviderType::AwsIdentityCenter, None) => serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [],
        }),
        (ProviderType::AwsIdentityCenter, Some(ic)) => {
            let mut accounts: Vec<String> = policy
                .roles
                .values()
                .filter(|r| r.providers.contains(&provider.name))
                .flat_map(|r| r.accounts.iter().cloned())
                .collect();
            accounts.sort();
            accounts.dedup();
            aws_identity_center::document::reconciler_policy(
                &ic.instance_arn,
                &ic.identity_store_id,
                &provider.account,
                &accounts,
            )
        }
        (ProviderType::AwsIam, _) => aws_iam::reconciler_policy(policy, &provider.account),
    }
}

/// Observations of every reached provider, by provider name.
pub type Observations = BTreeMap<String, Observation>;
