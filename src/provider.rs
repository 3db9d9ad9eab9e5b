//! A cloud provider as the reconciler sees it: a state it reads in pages and a
//! change it applies one at a time. AWS IAM implements it now (`aws`); IAM
//! Identity Center is next.
//!
//! Nothing here does I/O: the trait is implemented at the edge.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::plan::{Change, Observed};
use crate::policy::Identity;

/// What one run reads from a provider before planning.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Observation {
    /// The managed policies under this repository's ownership path. Nothing
    /// outside it is ever listed here, so nothing outside it is ever changed.
    pub policies: Vec<Observed>,
    /// Every identity that exists in the account, with how many managed
    /// policies are attached to it now (ours and everyone else's).
    pub identities: BTreeMap<Identity, usize>,
    /// The most managed policies one identity may have attached.
    pub quota: AttachQuota,
}

/// IAM's quota of managed policies attached to one user or role, read once
/// per run (`GetAccountSummary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AttachQuota {
    /// Per IAM user.
    pub per_user: usize,
    /// Per IAM role.
    pub per_role: usize,
}

impl Default for AttachQuota {
    /// IAM's defaults, for an account that reports none.
    fn default() -> Self {
        AttachQuota {
            per_user: 10,
            per_role: 10,
        }
    }
}

impl AttachQuota {
    /// The quota for `identity`.
    pub fn of(&self, identity: &Identity) -> usize {
        match identity {
            Identity::AwsIamUser(_) => self.per_user,
            Identity::AwsIamRole(_) => self.per_role,
        }
    }
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
    operation.starts_with("Get") || operation.starts_with("List")
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

/// A cloud provider the reconciler manages grants in.
#[allow(async_fn_in_trait)] // implemented and called within this crate
pub trait Provider {
    /// The error of a read or a change.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The provider's name in the policy.
    fn name(&self) -> &str;

    /// Reads the state the plan needs, in pages: never one call per grant.
    async fn observe(&self) -> Result<Observation, Self::Error>;

    /// Applies one change. Safe to repeat: a change that was made already,
    /// in whole or in part, is completed, never duplicated.
    async fn apply(&self, change: &Change) -> Result<(), Self::Error>;

    /// The calls made so far.
    fn calls(&self) -> Calls;
}
