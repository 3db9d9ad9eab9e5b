//! Cloud providers, side by side: one folder per kind, each holding its
//! keys in the policy (`config.rs`), its pure parts (names, documents,
//! quotas, the plan's diff), its checks and the adapter that calls the
//! cloud; `aws` is what every AWS kind shares. The kinds are listed once,
//! in `registry.rs`; this module expands that list into the dispatch every
//! other part of gitgrant speaks to kinds through ([`Wanted`],
//! [`Observation`], [`Connected`], [`plan`], the words and the checks),
//! each kind answering through [`kind::ProviderKind`].

pub mod aws;
pub mod change;
pub mod kind;
pub(crate) mod registry;

macro_rules! modules {
    ($($(#[$doc:meta])* $kind:ident: $folder:ident = $name:literal,)*) => {
        $(pub mod $folder;)*
    };
}

// Each kind's folder, from the registry's list.
registry::kinds!(modules);
pub mod types;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use chrono::{DateTime, Utc};

use crate::plan::terms::{EndedGrant, Known, Refusal};
use crate::policy::{Policy, Provider as ProviderConfig, ProviderType};
pub use change::Change;
use kind::ProviderKind;

/// The most items one IAM list call may ask for.
pub use aws_iam::MAX_PAGE_SIZE as IAM_MAX_PAGE_SIZE;
/// The placeholder for a provider's account in `assume_roles` ARNs.
pub use aws_iam::assume::ACCOUNT_PLACEHOLDER;
/// The trust policy of the role the reconciler assumes from GitHub
/// Actions (OIDC), for `init`.
pub use aws_iam::document::github_trust_policy;
/// An IAM policy document as gitgrant prints it (`iam-policy`, `init`).
pub use aws_iam::document::pretty;
/// Why a Google Cloud resource is not one a `gcp-iam` provider can name
/// (`projects/…`, `folders/…`, `organizations/…`), for `init`.
pub use gcp_iam::document::check_resource as check_gcp_resource;

/// How far back git is asked for grants that ended: a session fence may
/// still have to end the role sessions of a grant that ended this long ago.
pub const ENDED_LOOKBACK: chrono::TimeDelta = aws_iam::fence::MAX_SESSION;

/// What git says of the grants no longer active: why their resources
/// should go, and the ended grants whose fence statements it gives.
#[derive(Debug, Clone, Copy)]
pub struct Past<'a> {
    /// Why resources no active grant explains should go.
    pub known: &'a Known,
    /// The ended grants whose fence statements git gives.
    pub ended: &'a [EndedGrant],
}

macro_rules! dispatch {
    ($($(#[$doc:meta])* $kind:ident: $folder:ident = $name:literal,)*) => {
        /// One active grant's resource in one provider, in its kind's terms
        /// (its JSON is the kind's own).
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Wanted {
            $($(#[$doc])* $kind(<$folder::Kind as ProviderKind>::Desired),)*
        }

        impl Wanted {
            /// The grant id.
            pub fn grant(&self) -> &str {
                match self {
                    $(Wanted::$kind(d) => <$folder::Kind as ProviderKind>::wanted_of(d).0,)*
                }
            }

            /// The provider.
            pub fn provider(&self) -> &str {
                match self {
                    $(Wanted::$kind(d) => <$folder::Kind as ProviderKind>::wanted_of(d).1,)*
                }
            }
        }

        /// What a grant of `role` asks of the provider `target` over
        /// `window`, in its kind's terms: `None` when it asks nothing there,
        /// `Err` with why when it cannot be applied (a quota it would break,
        /// no identity there).
        pub fn desired(
            policy: &Policy,
            grant: &crate::grant::Grant,
            role: &crate::policy::Role,
            target: &ProviderConfig,
            window: crate::grant::Window,
            commit: &str,
        ) -> Option<Result<Wanted, String>> {
            match target.kind {
                $(ProviderType::$kind => {
                    <$folder::Kind as ProviderKind>::desired(policy, grant, role, target, window, commit)
                        .map(|d| d.map(Wanted::$kind))
                })*
            }
        }

        /// The plan of every kind: each kind's changes for what is `wanted`
        /// of it against what was `observed`, given the [`Past`].
        pub fn plan(
            policy: &Policy,
            wanted: &[Wanted],
            observed: &Observations,
            past: Past,
            now: DateTime<Utc>,
            mut refused: Vec<Refusal>,
        ) -> crate::plan::Plan {
            #[allow(non_snake_case)] // one field per kind, named as its variant
            #[derive(Default)]
            struct ByKind {
                $($kind: (
                    Vec<<$folder::Kind as ProviderKind>::Desired>,
                    BTreeMap<String, <$folder::Kind as ProviderKind>::Observation>,
                ),)*
            }
            let mut by = ByKind::default();
            for w in wanted {
                match w {
                    $(Wanted::$kind(d) => by.$kind.0.push(d.clone()),)*
                }
            }
            for (name, o) in observed {
                match o {
                    $(Observation::$kind(o) => {
                        by.$kind.1.insert(name.clone(), o.clone());
                    })*
                }
            }
            let (mut changes, mut unfenced) = (Vec::new(), Vec::new());
            $({
                let (w, o) = std::mem::take(&mut by.$kind);
                let p = <$folder::Kind as ProviderKind>::plan(policy, w, o, past, now, &mut refused);
                changes.extend(p.changes.into_iter().map(Change::$kind));
                unfenced.extend(p.unfenced);
            })*
            let mut plan = crate::plan::Plan::of(changes, refused, Vec::new());
            plan.unfenced = unfenced;
            plan
        }

        /// A provider the run has reached, of any kind.
        #[derive(Debug)]
        pub enum Connected {
            $($(#[$doc])* $kind(<$folder::Kind as ProviderKind>::Adapter),)*
        }

        /// What a provider of any kind holds, as its kind reads it.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        pub enum Observation {
            $($(#[$doc])* $kind(<$folder::Kind as ProviderKind>::Observation),)*
        }

        impl Observation {
            /// The grant ids the resources read record (what the cloud
            /// says: any text, believed only as far as each kind's naming
            /// rules go).
            pub fn recorded_grants(&self, repository: &str) -> Vec<String> {
                match self {
                    $(Observation::$kind(o) => <$folder::Kind as ProviderKind>::recorded_grants(o, repository),)*
                }
            }

            /// The names of resources of gitgrant's naming read unclaimed
            /// (their marker was tampered with): only the name is left to
            /// tell whose they are (see [`name_of`]).
            pub fn unclaimed(&self) -> Vec<&String> {
                match self {
                    $(Observation::$kind(o) => <$folder::Kind as ProviderKind>::unclaimed(o),)*
                }
            }
        }

        impl Connected {
            /// Reaches `provider` for the access repository of `policy`.
            pub async fn connect(
                reach: &Reach,
                policy: &Policy,
                provider: &ProviderConfig,
            ) -> Result<Connected, ProviderError> {
                Ok(match provider.kind {
                    $(ProviderType::$kind => Connected::$kind(
                        <$folder::Kind as ProviderKind>::connect(reach, policy, provider).await?,
                    ),)*
                })
            }

            /// Reads the provider's state.
            pub async fn observe(&self) -> Result<Observation, ProviderError> {
                Ok(match self {
                    $(Connected::$kind(p) => Observation::$kind(
                        p.observe().await.map_err(ProviderError::of)?,
                    ),)*
                })
            }

            /// Applies one change of this provider's kind.
            #[allow(unreachable_patterns)] // with one kind, every change is its
            pub async fn apply(&self, change: &Change) -> Result<(), ProviderError> {
                match (self, change) {
                    $((Connected::$kind(p), Change::$kind(c)) => {
                        p.apply(c).await.map_err(ProviderError::of)
                    })*
                    _ => Err(other_kind(change)),
                }
            }

            /// Whether this provider's changes are applied together
            /// ([`Connected::apply_all`]).
            pub fn batches(&self) -> bool {
                match self {
                    $(Connected::$kind(_) => {
                        <<$folder::Kind as ProviderKind>::Adapter as Provider>::BATCHES
                    })*
                }
            }

            /// Applies `changes`, all of this provider, together, each with
            /// its own outcome.
            pub async fn apply_all(&self, changes: &[&Change]) -> Vec<Result<(), ProviderError>> {
                match self {
                    $(Connected::$kind(p) => {
                        let mut mine = Vec::new();
                        for c in changes {
                            #[allow(irrefutable_let_patterns)] // with one kind
                            if let Change::$kind(c) = c {
                                mine.push(c);
                            }
                        }
                        if mine.len() != changes.len() {
                            return changes.iter().map(|c| Err(other_kind(c))).collect();
                        }
                        p.apply_all(&mine)
                            .await
                            .into_iter()
                            .map(|r| r.map_err(ProviderError::of))
                            .collect()
                    })*
                }
            }

            /// The calls made so far.
            pub fn calls(&self) -> Calls {
                match self {
                    $(Connected::$kind(p) => p.calls(),)*
                }
            }
        }

        /// Where a grant of `role` applies, for people, each kind's
        /// providers together: ``AWS accounts `111111111111` (aws-prod),
        /// `222222222222` (aws-dev)``; ``a permission set in AWS account
        /// `333333333333` (sso)``.
        pub fn targets_text(policy: &Policy, role: &crate::policy::Role) -> String {
            let mut parts: Vec<String> = Vec::new();
            $({
                let of_kind: Vec<&ProviderConfig> = policy
                    .targets(role)
                    .filter(|p| p.kind == ProviderType::$kind)
                    .collect();
                if !of_kind.is_empty() {
                    parts.extend(<$folder::Kind as ProviderKind>::targets_text(role, &of_kind));
                }
            })*
            if parts.is_empty() {
                return "no account".to_string();
            }
            parts.join("; ")
        }

        /// How the cloud carries a grant of `role` to `subject`, in words:
        /// ``policy attached to IAM user `alice` in account `111111111111`
        /// (aws-prod)``, one phrase per provider.
        pub fn access_text(policy: &Policy, role: &crate::policy::Role, subject: &str) -> String {
            let person = policy.people.get(subject);
            let all: Vec<String> = policy
                .targets(role)
                .map(|p| {
                    let who = match person.and_then(|person| person.identity_on(p)) {
                        Some(i) => i.describe_md(),
                        None => format!("`{subject}`, who has no identity there"),
                    };
                    match p.kind {
                        $(ProviderType::$kind => {
                            <$folder::Kind as ProviderKind>::access_text(role, p, &who)
                        })*
                    }
                })
                .collect();
            all.join("; ")
        }

        /// What a grant of `role` lets its subject start that the end of
        /// its window does not end, as every kind says.
        pub fn unfenced(policy: &Policy, role: &crate::policy::Role) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            $(out.extend(<$folder::Kind as ProviderKind>::unfenced(policy, role));)*
            out.sort();
            out.dedup();
            out
        }

        /// How long a removal of access by a run takes to hold everywhere
        /// in the kinds `role` applies in, as their clouds document it: the
        /// longest, or `None` when none documents one.
        pub fn propagation_seconds(policy: &Policy, role: &crate::policy::Role) -> Option<i64> {
            policy
                .targets(role)
                .filter_map(|p| match p.kind {
                    $(ProviderType::$kind => <$folder::Kind as ProviderKind>::PROPAGATION_SECONDS,)*
                })
                .max()
        }

        /// Whether the clouds of every provider `role` applies in end a
        /// grant's access at its window's end by themselves; when one does
        /// not (PostgreSQL), a run ends it.
        pub fn ends_by_itself(policy: &Policy, role: &crate::policy::Role) -> bool {
            policy.targets(role).all(|p| match p.kind {
                $(ProviderType::$kind => <$folder::Kind as ProviderKind>::ENDS_BY_ITSELF,)*
            })
        }

        /// What the change of a role from `old` to `new` added, in words,
        /// every kind's keys in turn.
        pub fn widened(old: &crate::policy::Role, new: &crate::policy::Role) -> Vec<String> {
            let mut out: Vec<String> = Vec::new();
            $(out.extend(<$folder::Kind as ProviderKind>::widened(old, new));)*
            out
        }

        /// Checks a person's keys of every kind, written at `path`; on one
        /// provider (`on`), keys of another kind than its own are a
        /// mismatch, as are keys of two kinds anywhere.
        pub fn check_identities(
            parts: crate::policy::IdentityParts,
            path: &str,
            on: Option<(&str, Option<ProviderType>)>,
            s: &mut crate::validate::Sink,
        ) {
            $(<$folder::Kind as ProviderKind>::check_identity(parts.$folder, path, s);)*
            let kinds = parts.kinds();
            let Some((provider, kind)) = on else { return };
            if kinds.len() > 1 || kind.is_some_and(|k| kinds.iter().any(|w| *w != k)) {
                s.at_key(
                    crate::rule::Rule::KindMismatch,
                    path,
                    format!(
                        "the identity on provider `{provider}` is not one a {} provider uses",
                        kind.map_or("known".to_string(), |k| k.to_string())
                    ),
                );
            }
        }

        /// Every kind's checks of one role as written.
        pub fn check_role(
            p: &crate::policy::RawPolicy,
            name: &str,
            role: &crate::policy::RawRole,
            s: &mut crate::validate::Sink,
        ) {
            $(<$folder::Kind as ProviderKind>::check_role(p, name, role, s);)*
        }

        /// Every kind's checks of the policy as a whole.
        pub fn check_policy(p: &crate::policy::RawPolicy, s: &mut crate::validate::Sink) {
            $(<$folder::Kind as ProviderKind>::check_policy(p, s);)*
        }

        /// Why `identity` cannot hold a grant of `role`, as its kind says.
        pub fn unfit(
            role: &crate::policy::Role,
            identity: &crate::policy::Identity,
        ) -> Option<(crate::rule::Rule, String)> {
            match identity.kind() {
                $(ProviderType::$kind => <$folder::Kind as ProviderKind>::unfit(role, identity),)*
            }
        }

        /// The least-privilege policy the reconciler needs for `provider`,
        /// as its kind says.
        pub fn reconciler_policy(policy: &Policy, provider: &ProviderConfig) -> serde_json::Value {
            match provider.kind {
                $(ProviderType::$kind => <$folder::Kind as ProviderKind>::reconciler_policy(policy, provider),)*
            }
        }
    };
}

registry::kinds!(dispatch);
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
    /// What a failed read or change says (one line; more in its source).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The provider's name in the policy.
    fn name(&self) -> &str;

    /// Reads the state the plan needs, in pages: never one call per grant.
    async fn observe(&self) -> Result<Self::Observation, Self::Error>;

    /// Applies one change. Safe to repeat: a change that was made already,
    /// in whole or in part, is completed, never duplicated.
    async fn apply(&self, change: &Self::Change) -> Result<(), Self::Error>;

    /// Whether the kind applies a run's changes of one provider together
    /// ([`Provider::apply_all`]), as a cloud whose whole policy is written
    /// in one call does.
    const BATCHES: bool = false;

    /// Applies `changes`, this provider's in apply order, each with its
    /// own outcome; one at a time unless the kind [`BATCHES`](Provider::BATCHES).
    async fn apply_all(&self, changes: &[&Self::Change]) -> Vec<Result<(), Self::Error>> {
        let mut out = Vec::new();
        for c in changes {
            out.push(self.apply(c).await);
        }
        out
    }

    /// The calls made so far.
    fn calls(&self) -> Calls;
}

/// A cloud's message in one line for the run's summary: its first line,
/// cut at 300 characters (`-v` shows all).
pub(crate) fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    match line.char_indices().nth(300) {
        Some((i, _)) => format!("{}… (-v shows all)", &line[..i]),
        None => line.to_string(),
    }
}

/// The error of a change planned for a provider of another kind.
fn other_kind(change: &Change) -> ProviderError {
    ProviderError::of(std::io::Error::other(format!(
        "a change of another kind was planned for provider {}",
        change.provider()
    )))
}

/// A failed read or change in a provider, in one line: its kind's own
/// error, whose `source` chain says more under `-v`.
#[derive(Debug)]
pub struct ProviderError(Box<dyn std::error::Error + Send + Sync>);

impl ProviderError {
    /// A kind's error.
    pub fn of(e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
        ProviderError(Box::new(e))
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ProviderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<aws::AwsError> for ProviderError {
    fn from(e: aws::AwsError) -> ProviderError {
        ProviderError::of(e)
    }
}

/// What is needed to reach providers, shared by every one a run reaches.
#[derive(Debug)]
pub struct Reach {
    aws: aws_config::SdkConfig,
    /// IAM list calls ask for pages of this many items.
    pub iam_page_size: i32,
}

impl Reach {
    /// The AWS configuration every AWS kind starts from.
    pub fn aws(&self) -> &aws_config::SdkConfig {
        &self.aws
    }

    /// The environment's AWS configuration (credentials, endpoint), with
    /// IAM pages of `iam_page_size`.
    pub async fn from_env(iam_page_size: i32) -> Reach {
        Reach {
            aws: aws::base_config().await,
            iam_page_size,
        }
    }
}

/// The name a resource of grant `id` of `repository` gets in kinds that
/// can be read unclaimed ([`Observation::unclaimed`]).
pub fn name_of(repository: &str, id: &crate::grant::GrantId) -> String {
    aws_identity_center::document::permission_set_name(repository, id)
}

/// Observations of every reached provider, by provider name.
pub type Observations = BTreeMap<String, Observation>;
