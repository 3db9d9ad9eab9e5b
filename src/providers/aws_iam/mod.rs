//! AWS IAM: grants as customer-managed policies that carry their own window.

pub mod catalogue;
