//! The plan: what must change in the cloud so that it matches the access
//! repository. A value — printable like `terraform plan`, serialisable to
//! JSON — computed whole before anything is applied. Each provider kind
//! plans its own changes (`providers::<kind>::plan`); this is where they
//! meet.

use std::fmt;

use serde::Serialize;

pub mod terms;

pub use terms::{Action, Known, Refusal, RevokeReason, Unfenced, Unreadable};

pub use crate::providers::change::Change;

/// Every change, grants first, then updates, then revocations, each sorted by
/// resource name; the grants refused before any call; and the providers that
/// could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// The changes.
    pub changes: Vec<Change>,
    /// Grants that will not be applied, with why.
    pub refused: Vec<Refusal>,
    /// Providers that could not be read: nothing was planned there.
    pub unreadable: Vec<Unreadable>,
    /// Grants whose role sessions no fence ends.
    pub unfenced: Vec<Unfenced>,
}

impl Plan {
    /// A plan of these changes, refusals (sorted) and unreadable providers.
    pub fn of(
        changes: Vec<Change>,
        mut refused: Vec<Refusal>,
        unreadable: Vec<Unreadable>,
    ) -> Plan {
        refused.sort_by(|a, b| (&a.provider, &a.grant).cmp(&(&b.provider, &b.grant)));
        Plan {
            changes,
            refused,
            unreadable,
            unfenced: Vec::new(),
        }
    }

    /// Nothing to change (refusals are not changes).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action() == action).count()
    }
}

impl Plan {
    fn write_unfenced(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.unfenced.is_empty() {
            writeln!(f, "\nThese grants' role sessions are not fenced:\n")?;
            for u in &self.unfenced {
                writeln!(
                    f,
                    "  ? unfenced {} in {}: {}: {}",
                    u.grant, u.provider, u.role, u.why
                )?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for u in &self.unreadable {
            writeln!(
                f,
                "! provider {} could not be read; nothing is planned there: {}",
                u.provider, u.error
            )?;
        }
        if self.is_empty() && self.refused.is_empty() {
            if self.unreadable.is_empty() {
                writeln!(f, "No changes: the cloud matches the access repository.")?;
            } else {
                writeln!(
                    f,
                    "No changes in the providers that were read; the others were not compared."
                )?;
            }
            return self.write_unfenced(f);
        }
        if !self.unreadable.is_empty() {
            writeln!(f)?;
        }
        if !self.is_empty() {
            writeln!(f, "gitgrant will make these changes:\n")?;
        }
        for c in &self.changes {
            writeln!(f, "  {}", c.line())?;
        }
        if !self.refused.is_empty() {
            if !self.is_empty() {
                writeln!(f)?;
            }
            writeln!(f, "gitgrant will not apply these grants:\n")?;
            for r in &self.refused {
                writeln!(f, "  ! refused {} in {}: {}", r.grant, r.provider, r.why)?;
            }
        }
        self.write_unfenced(f)?;
        writeln!(
            f,
            "\nPlan: {} to grant, {} to update, {} to revoke{}{}.",
            self.count(Action::Grant),
            self.count(Action::Update),
            self.count(Action::Revoke),
            match self.count(Action::Fence) {
                0 => String::new(),
                n => format!(", {n} fence change(s)"),
            },
            match self.refused.len() {
                0 => String::new(),
                n => format!("; {n} refused"),
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unread_provider_never_reads_as_the_cloud_matching() {
        let p = Plan::of(
            vec![],
            vec![],
            vec![Unreadable {
                provider: "aws-prod".into(),
                error: "no AWS credentials".into(),
            }],
        );
        let text = p.to_string();
        assert!(!text.contains("the cloud matches"), "{text}");
        assert!(
            text.contains("provider aws-prod could not be read"),
            "{text}"
        );
    }
}
