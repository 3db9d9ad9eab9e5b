//! gitgrant's integration tests: one binary, a module per area.

mod generated;
mod request;
mod support;
mod validate;
