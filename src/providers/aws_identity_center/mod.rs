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
pub mod document;
pub mod plan;
pub mod validate;

pub use api::AwsIdentityCenter;
pub use plan::{Change, Desired, Observation, Observed};
