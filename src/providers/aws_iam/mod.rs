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
pub mod catalogue;
pub mod document;
pub mod fence;
pub mod plan;
pub mod statements;
pub mod validate;

pub use api::{AwsIam, MAX_PAGE_SIZE};
pub use document::{ownership_path, policy_name, reconciler_policy};
pub use plan::{AttachQuota, Change, Desired, Observation, Observed};
