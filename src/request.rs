//! Composing a new grant file: its name and its text.

use std::hash::{BuildHasher, Hasher};

use chrono::{DateTime, Utc};

use crate::grant::RawGrant;

/// A new grant's file stem: `<subject>-<yyyymmdd>-<4 hex>`. The hex part is
/// random, so two requests on one day get different names.
pub fn grant_name(subject: &str, now: DateTime<Utc>) -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(subject.as_bytes());
    h.write_i64(now.timestamp_nanos_opt().unwrap_or_default());
    format!(
        "{subject}-{}-{:04x}",
        now.format("%Y%m%d"),
        h.finish() & 0xffff
    )
}

/// The text of a grant file, with the schema comment editors pick up.
pub fn render(grant: &RawGrant) -> String {
    format!(
        "# yaml-language-server: $schema=../../schema/grant.schema.json\n{}",
        crate::yaml::to_string(grant)
    )
}
