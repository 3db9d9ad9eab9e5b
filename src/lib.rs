//! gitgrant: just-in-time cloud access run as GitOps.
//!
//! A grant is a small YAML file in an access repository, added by a pull
//! request that code owners approve. A reconciler applies it to the cloud with
//! an expiry the cloud enforces itself, and removes it in a commit of its own
//! when it ends; the repository's history is the audit trail.
//!
//! This library is the pure core — file formats, validation, CODEOWNERS,
//! planning and audit, taking the current time as an argument — with the
//! adapters at its edge (`git`, `github`, `providers`) and the reconcile
//! loop as a library `engine`; the `gitgrant` binary is its command line.

pub mod approval;
pub mod audit;
pub mod cas;
pub mod codeowners;
pub mod desired;
pub mod duration;
pub mod engine;
pub mod git;
pub mod github;
pub mod grant;
pub mod history;
pub mod http;
pub mod names;
pub mod notify;
pub mod plan;
pub mod policy;
pub mod portal;
pub mod providers;
pub mod removal;
pub mod report;
pub mod request;
pub mod rule;
pub mod run;
pub mod scaffold;
pub mod schema;
pub mod signing;
pub mod snapshot;
pub mod trail;
pub mod validate;
pub mod yaml;

/// Process exit codes, the same for every command.
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// An error: I/O, a failed cloud call, a check that found drift.
    pub const ERROR: u8 = 1;
    /// Invalid input: validation failed.
    pub const INVALID: u8 = 2;
    /// `plan --detailed-exitcode`: changes are pending.
    pub const CHANGES: u8 = 3;
}
