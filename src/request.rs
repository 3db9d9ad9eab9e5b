//! Composing a new grant file: its name and its text.

use std::hash::{BuildHasher, Hasher};

use chrono::{DateTime, Utc};

use crate::grant::{RawGrant, Timing, fmt_time};

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

/// The title and body of the pull request that asks for `grant`.
pub fn describe(
    policy: &crate::policy::Policy,
    role: &crate::policy::Role,
    grant: &crate::grant::Grant,
    raw: &RawGrant,
) -> (String, String) {
    let subject = &raw.subject;
    let mut body = format!(
        "**{subject}** asks for the role **{}** ({}) in {}, {}.\n\n**Reason:**\n\n{}\n",
        role.name,
        role.description,
        crate::providers::targets_text(policy, role),
        grant.timing.in_words(),
        crate::report::md_block(&raw.reason)
    );
    if let Some(t) = &raw.ticket {
        body.push_str(&format!("**Ticket:** {}\n", crate::report::md_code(t)));
    }
    if role.break_glass {
        body.push_str(&format!(
            "\nBreak-glass role: this may merge without review. The grant applies at once, \
             and a review issue opens for {} after the fact.\n",
            role.reviewers(&policy.security_team).join(", ")
        ));
    } else {
        body.push_str(&format!(
            "\n**Approvers:** {} ({} approval(s) needed on the latest commit; \
             {subject} cannot approve their own access).\n",
            role.approvers.join(", "),
            role.min_approvals
        ));
    }
    let title = match grant.timing {
        Timing::Duration(d) => format!("Access request: {subject} → {} for {d}", role.name),
        Timing::Window { expires, .. } => format!(
            "Access request: {subject} → {} until {}",
            role.name,
            fmt_time(expires)
        ),
    };
    (title, body)
}
