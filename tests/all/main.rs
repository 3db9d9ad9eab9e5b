//! gitgrant's integration tests: one binary, a module per area.

mod audit;
mod auto_approve;
mod cli;
mod codeowners_corpus;
mod faults;
mod fence;
mod generated;
mod git;
mod github;
mod github_fake;
mod hardening;
mod identity_center;
mod identity_center_faults;
mod init;
mod moto;
mod no_panics;
mod notify;
mod oncall_fake;
mod oracle;
mod proxy;
mod reconcile;
mod request;
mod scale;
mod support;
mod trail;
mod validate;
