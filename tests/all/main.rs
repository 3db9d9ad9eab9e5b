//! gitgrant's integration tests: one binary, a module per area.

mod support;
mod validate;
