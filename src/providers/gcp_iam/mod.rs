//! Google Cloud IAM (the `gcp-iam` kind): a grant is one conditional role
//! binding per Google role in a resource's allow policy, whose condition
//! holds the window, so Google ends access by itself at the window's end.
//!
//! The parts here do not depend on how the kind is wired into the policy,
//! the plan and the run (issue 23's registry): `document` (the binding, the
//! policy model, `merge`, the quotas and Google's names), `catalogue` (the
//! predefined roles that can outlive or lift a window) and `api` (the
//! client of Resource Manager's IAM methods).

pub mod api;
pub mod catalogue;
pub mod document;
