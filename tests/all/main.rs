//! gitgrant's integration tests: one binary, a module per area.

mod cli;
mod generated;
mod request;
mod support;
mod validate;
