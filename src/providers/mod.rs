//! The clouds gitgrant grants access in, one folder per provider.

pub mod aws_iam;
